"""SARIF a code-scanning UI can show (issue 26, point 8): each result points at the line of the input that declares
its first resource where the input has one (a YAML design file), and names its resources as logical locations;
every rule has a whole one-line title and its fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

from resilient_stack.core.rules import RULES
from tests import builders as b
from tests.conftest import ROOT, need_tool

SBG = ROOT / "examples/sbg2021.design.yaml"


def sarif(cli, path) -> dict:
    r = cli("audit", str(path), "--format", "sarif")
    assert r.returncode == 1, r.stderr
    return json.loads(r.stdout)


def test_a_design_files_results_point_at_the_entry_that_declares_their_first_resource(cli, tmp_path):
    lines = SBG.read_text().splitlines()
    results = sarif(cli, SBG)["runs"][0]["results"]
    for res in results:
        loc = res["locations"][0]
        line = loc["physicalLocation"]["region"]["startLine"]
        first = sorted(loc["logicalLocations"], key=lambda x: x["fullyQualifiedName"])
        name = first[0]["fullyQualifiedName"].split("/", 1)[0]
        assert name in lines[line - 1], (res["ruleId"], line, lines[line - 1])
    colocated = next(r for r in results if r["ruleId"] == "backup-colocated")
    assert "db-backups-sbg" in lines[colocated["locations"][0]["physicalLocation"]["region"]["startLine"] - 1]


def test_a_design_file_moved_down_moves_the_lines(cli, tmp_path):
    moved = tmp_path / "moved.yaml"
    moved.write_text("# a comment\n# and another\n" + SBG.read_text())
    before = [
        r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in sarif(cli, SBG)["runs"][0]["results"]
    ]
    after = [
        r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in sarif(cli, moved)["runs"][0]["results"]
    ]
    assert after == [n + 2 for n in before]


def test_an_export_has_no_line_and_its_urns_as_logical_locations(cli, tmp_path):
    results = sarif(cli, b.strasbourg_export().write(tmp_path / "state.json"))["runs"][0]["results"]
    for res in results:
        loc = res["locations"][0]
        assert "region" not in loc["physicalLocation"]
        assert all(x["fullyQualifiedName"].startswith("urn:pulumi:") for x in loc["logicalLocations"])


def test_rule_titles_are_whole_and_carry_a_fix(cli):
    rules = sarif(cli, SBG)["runs"][0]["tool"]["driver"]["rules"]
    by_id = {r.id: r for r in RULES}
    for rule in rules:
        assert rule["shortDescription"]["text"] == by_id[rule["id"]].title
        assert by_id[rule["id"]].fix in rule["help"]["text"] and by_id[rule["id"]].fix in rule["help"]["markdown"]
    titles = [r.title for r in RULES]
    assert len(set(titles)) == len(titles) and all(t[0].isupper() and not t.endswith((".", ":")) for t in titles)


def test_a_design_files_sarif_validates_against_the_schema(cli):
    import jsonschema

    schema_path = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "resilient-stack/sarif/sarif-schema-2.1.0.json"
    )
    need_tool(schema_path.exists(), f"SARIF schema missing: run scripts/fetch-sarif-schema.sh ({schema_path})")
    jsonschema.validate(sarif(cli, SBG), json.loads(schema_path.read_text()))
