"""Every report says what it rests on and what made it (issue 26, point 6): what was evaluated, the catalog's day,
the lowest confidence among the facts under the verdict, the tool's version, the time and the input's SHA-256."""

import hashlib
import json
import os
import xml.etree.ElementTree as ET

import pytest

from resilient_stack import __version__
from resilient_stack.core.catalog import builtin_data
from tests import builders as b
from tests.conftest import ROOT

GOOD = ROOT / "examples/production.design.yaml"
DAY = builtin_data()["gathered"]


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_pass_states_its_scope_and_the_weakest_fact_it_rests_on(cli):
    r = cli("audit", str(GOOD))
    assert r.returncode == 0
    lines = r.stdout.decode().splitlines()
    assert lines[-3].startswith("verdict: PASS")
    assert lines[-2] == (
        f"scope: 9 of 9 resources evaluated; catalog: built-in catalog (gathered {DAY}); passes, "
        "resting on a low-confidence fact: dc4-a's site and building (infomaniak)"
    )
    assert lines[-1].startswith(f"resilient-stack {__version__} at ") and lines[-1].endswith(
        f"input sha256 {sha(GOOD)}"
    )


def test_json_carries_scope_and_provenance(cli, tmp_path):
    path = b.strasbourg_export().write(tmp_path / "export.json")
    doc = json.loads(cli("audit", str(path), "--format", "json").stdout)
    assert doc["verdict"] == "fail"
    assert doc["scope"]["evaluated"] == sum(doc["coverage"]["evaluated"].values()) > 0
    assert doc["scope"]["catalogs"] == [{"name": "built-in catalog", "gathered": DAY}]
    assert doc["scope"]["weakest_fact"]["confidence"] in ("unknown", "low", "medium", "high")
    assert doc["provenance"]["input_sha256"] == sha(path) and doc["provenance"]["version"] == __version__


def test_stdin_is_hashed_as_it_was_read(cli, tmp_path):
    path = b.spread_export().write(tmp_path / "export.json")
    doc = json.loads(cli("audit", "-", "--format", "json", stdin=path.read_bytes()).stdout)
    assert doc["provenance"]["input_sha256"] == sha(path)


def test_sarif_names_the_artifacts_digest_and_the_time(cli, tmp_path):
    path = b.spread_export().write(tmp_path / "export.json")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    run = json.loads(cli("audit", str(path), "--format", "sarif", env=env).stdout)["runs"][0]
    assert run["artifacts"][0]["hashes"] == {"sha-256": sha(path)}
    assert run["invocations"] == [{"executionSuccessful": True, "endTimeUtc": "2026-01-01T00:00:00Z"}]
    assert run["properties"]["scope"]["catalogs"][0]["gathered"] == DAY


def test_junit_and_markdown_carry_the_same_lines(cli, tmp_path):
    path = b.spread_export().write(tmp_path / "export.json")
    suite = ET.fromstring(cli("audit", str(path), "--format", "junit").stdout).find("testsuite")
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["input-sha256"] == sha(path) and props["scope"].startswith("scope: ")
    md = cli("audit", str(path), "--format", "markdown").stdout.decode()
    assert "scope: " in md and sha(path) in md


def test_source_date_epoch_makes_two_runs_identical(cli, tmp_path):
    path = b.spread_export().write(tmp_path / "export.json")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    first, second = (cli("audit", str(path), "--format", "json", env=env).stdout for _ in range(2))
    assert first == second and json.loads(first)["provenance"]["time"] == "2026-01-01T00:00:00Z"


@pytest.mark.parametrize("value", ["yesterday", "-1", "1e9"])
def test_a_bad_source_date_epoch_is_one_line_and_exit_2(cli, value):
    r = cli("audit", str(GOOD), env={**os.environ, "SOURCE_DATE_EPOCH": value})
    assert r.returncode == 2 and r.stdout == b""
    assert r.stderr.decode().startswith("resilient-stack: error: SOURCE_DATE_EPOCH: expected seconds since 1970")


def test_a_dated_catalog_file_is_named_with_its_day(cli, tmp_path):
    cat = tmp_path / "acme.yaml"
    cat.write_text("gathered: 2026-02-01\nproviders:\n  - {id: acme, sites: [{id: acme-1, name: A, city: Aville}]}\n")
    doc = json.loads(cli("audit", str(GOOD), "--catalog", str(cat), "--format", "json").stdout)
    assert doc["scope"]["catalogs"] == [
        {"name": "built-in catalog", "gathered": DAY},
        {"name": str(cat), "gathered": "2026-02-01"},
    ]


def test_the_paper_drill_carries_them_too(cli, tmp_path):
    path = b.strasbourg_export().write(tmp_path / "export.json")
    text = cli("drill", str(GOOD)).stdout.decode().splitlines()
    assert text[-2].startswith("scope: 9 of 9 resources evaluated") and "passes, resting on" in text[-2]
    assert text[-1].endswith(f"input sha256 {sha(GOOD)}")
    r = cli("drill", str(GOOD), str(path), "--format", "json")
    assert r.returncode == 1  # the Strasbourg replay loses the service
    good, sbg = json.loads(r.stdout)["reports"]
    assert good["provenance"]["input_sha256"] == sha(GOOD) and sbg["provenance"]["input_sha256"] == sha(path)
    assert good["scope"]["weakest_fact"]["confidence"] == "low" and sbg["scope"]["evaluated"] > 0
    assert "the weakest fact used:" in cli("drill", str(path), "--format", "markdown").stdout.decode()
