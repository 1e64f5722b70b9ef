"""The `resilient-stack` command as users run it: exit codes, formats, messages."""

import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests import builders as b
from tests.conftest import ROOT, need_tool

GOOD = str(ROOT / "examples/production.design.yaml")
SBG = str(ROOT / "examples/sbg2021.design.yaml")


def test_good_design_passes(cli):
    r = cli("audit", GOOD)
    assert r.returncode == 0, r.stderr
    assert b"verdict: PASS" in r.stdout


def test_strasbourg_replay_is_rejected_with_rule_ids(cli):
    r = cli("audit", SBG, "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "fail"
    assert {"single-site", "backup-colocated"} <= {f["rule"] for f in doc["findings"] if f["level"] == "mandatory"}
    assert all(p["site"].startswith("Strasbourg") for p in doc["placements"])


def test_export_and_stdin(cli, tmp_path):
    path = b.strasbourg_export().write(tmp_path / "export.json")
    r1 = cli("audit", str(path), "--format", "json")
    r2 = cli("audit", "-", "--format", "json", stdin=path.read_bytes())
    assert r1.returncode == r2.returncode == 1
    assert json.loads(r1.stdout)["findings"] == json.loads(r2.stdout)["findings"]


def test_preview_json_input(cli, tmp_path):
    f = tmp_path / "preview.json"
    f.write_text(json.dumps(b.preview_of(b.spread_export())))
    r = cli("audit", str(f), "--format", "json")
    assert r.returncode == 0, r.stdout
    assert len(json.loads(r.stdout)["placements"]) == 7


def test_strict_profile_makes_single_provider_mandatory(cli, tmp_path):
    e = b.Export()
    g, w = e.provider("g", region="GRA11"), e.provider("w", region="WAW1")
    e.resource(b.INSTANCE, "a", g, role="web")
    e.resource(b.INSTANCE, "b", w, role="web")
    f = e.write(tmp_path / "e.json")
    assert cli("audit", str(f)).returncode == 0
    r = cli("audit", str(f), "--profile", "strict", "--format", "json")
    assert r.returncode == 1 and json.loads(r.stdout)["findings"][0]["rule"] == "single-provider"


def test_config_file_thresholds(cli, tmp_path):
    cfg = tmp_path / "org.yaml"
    cfg.write_text("min_sites: 4\n")
    r = cli("audit", GOOD, "--config", str(cfg), "--format", "json")
    assert r.returncode == 1
    assert any(f["rule"] == "single-site" for f in json.loads(r.stdout)["findings"])


@pytest.mark.parametrize(
    "content, problem",
    [
        ("placements: [\n", "invalid YAML"),
        ('{"deployment": {"resources": [', "invalid JSON"),
        ("name: x\nplacements:\n  - {name: a, region: GRA11, replicas: {web: two}}\n", "replicas"),
        ("name: x\nplacements:\n  - {name: a, region: GRA11, replicas: {web: 1}, colour: red}\n", "colour"),
        ("just a string", "unrecognised format"),
    ],
)
def test_bad_input_exit_2_one_line_no_traceback(cli, tmp_path, content, problem):
    f = tmp_path / "bad.yaml"
    f.write_text(content)
    r = cli("audit", str(f))
    err = r.stderr.decode()
    assert r.returncode == 2
    assert err.count("\n") == 1 and str(f) in err and problem in err
    assert "Traceback" not in err and r.stdout == b""


def test_truncated_export_exit_2(cli, tmp_path):
    full = json.dumps(b.spread_export().doc())
    f = tmp_path / "cut.json"
    f.write_text(full[: len(full) // 2])
    r = cli("audit", str(f))
    assert r.returncode == 2 and b"invalid JSON" in r.stderr


def test_unknown_region_in_design_is_a_finding_not_a_crash(cli, tmp_path):
    f = tmp_path / "d.yaml"
    f.write_text("name: x\nplacements:\n  - {name: a, cloud: ovh, region: MOON1, replicas: {web: 2}}\n")
    r = cli("audit", str(f), "--format", "json")
    assert r.returncode == 1
    f0 = json.loads(r.stdout)["findings"][0]
    assert f0["rule"] == "unknown-placement" and "MOON1" in f0["message"]


def test_missing_file_and_bad_catalog(cli, tmp_path):
    r = cli("audit", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and b"no such file" in r.stderr
    cat = tmp_path / "cat.yaml"
    cat.write_text("providers: [{id: Bad Id}]")
    r = cli("audit", GOOD, "--catalog", str(cat))
    assert r.returncode == 2 and str(cat).encode() in r.stderr


def test_sarif_validates_against_the_2_1_0_schema(cli):
    import jsonschema

    schema_path = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "resilient-stack/sarif/sarif-schema-2.1.0.json"
    )
    need_tool(schema_path.exists(), f"SARIF schema missing: run scripts/fetch-sarif-schema.sh ({schema_path})")
    schema = json.loads(schema_path.read_text())
    for path in (GOOD, SBG):
        r = cli("audit", path, "--format", "sarif")
        doc = json.loads(r.stdout)
        jsonschema.validate(doc, schema)
        assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    assert {"single-site", "backup-colocated"} <= {x["ruleId"] for x in results if x["level"] == "error"}


def test_junit_is_xml_with_failures(cli):
    r = cli("audit", SBG, "--format", "junit")
    root = ET.fromstring(r.stdout)
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["single-site"].find("failure") is not None
    assert cases["single-provider"].find("failure") is None  # advisory is not a failure


def test_markdown_output(cli):
    r = cli("audit", SBG, "--format", "markdown")
    assert b"**verdict: FAIL (" in r.stdout and b"`single-site`" in r.stdout


def test_drill_contract(cli):
    r = cli("drill", GOOD, "--format", "json")
    assert r.returncode == 0
    doc = json.loads(r.stdout)
    for s in doc["scenarios"]:
        assert set(s) >= {"lost", "roles", "service_survives", "data_survives"}
        assert s["lost"]["level"] == "site"
        assert s["service_survives"] and s["data_survives"]
    names = {s["lost"]["name"] for s in doc["scenarios"]}
    assert any("Gravelines" in n for n in names) and any("Limburg" in n for n in names)


def test_drill_strasbourg_site_loss_loses_everything(cli):
    doc = json.loads(cli("drill", SBG, "--format", "json").stdout)
    (s,) = doc["scenarios"]
    assert not s["service_survives"] and not s["data_survives"]
    assert s["roles"]["database"] == {"surviving": 0, "total": 2}
    assert s["roles"]["backup"] == {"surviving": 0, "total": 1}


@pytest.mark.parametrize("level", ["building", "region", "provider"])
def test_drill_levels(cli, level):
    doc = json.loads(cli("drill", GOOD, "--level", level, "--format", "json").stdout)
    assert doc["scenarios"] and all(s["lost"]["level"] == level for s in doc["scenarios"])
    if level == "provider":
        assert {s["lost"]["name"] for s in doc["scenarios"]} == {"ovhcloud", "infomaniak"}


def test_catalog_command(cli):
    r = cli("catalog", "--format", "json")
    regions = {(x["provider"], x["region"]) for x in json.loads(r.stdout)}
    assert ("ovhcloud", "SBG5") in regions and ("infomaniak", "dc4-a") in regions
    t = cli("catalog")
    assert t.returncode == 0 and b"Strasbourg" in t.stdout


def test_drill_exits_1_when_a_loss_takes_the_service_down(cli):
    bad = cli("drill", SBG)
    assert bad.returncode == 1 and b"exit 1" in bad.stdout
    good = cli("drill", GOOD)
    assert good.returncode == 0, good.stdout


def test_catalog_text_names_its_sources_and_shared_sites(cli):
    r = cli("catalog")
    assert r.returncode == 0
    out = r.stdout.decode()
    assert "OVH-S3LOC: OVHcloud docs, object storage locations guide" in out
    assert "physical site" in out and "stockholm: Stockholm (SE) [low]" in out


# ---- several paths, explain, every validation problem (issue 18, point 12) --------------------------------


def test_several_paths_one_verdict_each_worst_exit(cli, tmp_path):
    r = cli("audit", GOOD, SBG, "--format", "json")
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "fail" and [x["verdict"] for x in doc["reports"]] == ["pass", "fail"]
    assert [x["source"] for x in doc["reports"]] == [GOOD, SBG]
    text = cli("audit", GOOD, SBG).stdout.decode()
    assert [ln.split(" (")[0] for ln in text.splitlines() if ln.startswith("verdict:")] == [
        "verdict: PASS",
        "verdict: FAIL",
    ]
    sarif = json.loads(cli("audit", GOOD, SBG, "--format", "sarif").stdout)
    assert [run["properties"]["verdict"] for run in sarif["runs"]] == ["pass", "fail"]
    junit = ET.fromstring(cli("audit", GOOD, SBG, "--format", "junit").stdout)
    suites = junit.findall("testsuite")
    assert len(suites) == 2
    for key in ("tests", "failures", "skipped"):
        assert int(junit.get(key)) == sum(int(s.get(key)) for s in suites)
    bad = tmp_path / "bad.yaml"
    bad.write_text("placements: 7\n")
    r = cli("audit", GOOD, str(bad), "--format", "json")
    assert r.returncode == 2 and json.loads(r.stdout)["verdict"] == "pass"  # the good one is still reported
    assert r.stderr.decode().count("\n") == 1 and "bad.yaml" in r.stderr.decode()
    assert cli("audit", GOOD, GOOD).returncode == 0
    d = cli("drill", GOOD, SBG, "--format", "json")
    assert d.returncode == 1 and len(json.loads(d.stdout)["reports"]) == 2


def test_explain_prints_the_registry_entry(cli):
    r = cli("explain", "single-site")
    out = r.stdout.decode()
    assert r.returncode == 0 and "mandatory (profile default)" in out and "docs/rules.md#single-site" in out
    doc = json.loads(cli("explain", "single-provider", "--format", "json").stdout)
    assert (
        doc["default"] == "advisory"
        and doc["strict"] == "mandatory"
        and doc["help"].endswith("rules.md#single-provider")
    )
    r = cli("explain", "single-sit")
    assert r.returncode == 2 and b"did you mean single-site" in r.stderr and len(r.stderr.splitlines()) == 1


def test_validation_errors_list_every_problem(cli, tmp_path):
    design = tmp_path / "d.yaml"
    design.write_text(
        "name: x\nplacements:\n  - {name: a, region: GRA11, replicas: {web: 9999}}\n"
        "  - {name: b, replicas: {web: 1}}\n  - {name: 'c d', region: WAW1, replicas: {web: 1}}\n"
    )
    err = cli("audit", str(design)).stderr.decode()
    assert (
        "3 problems" in err
        and "placements.0.replicas" in err
        and "placements.1.region" in err
        and "placements.2.name" in err
        and "more)" not in err
        and len(err.splitlines()) == 1
    )
    cfg = tmp_path / "org.yaml"
    cfg.write_text("min_sites: 0\nprofile: lax\nlevels: {nope: mandatory}\n")
    err = cli("audit", GOOD, "--config", str(cfg)).stderr.decode()
    assert "3 problems" in err and "min_sites" in err and "profile" in err and "levels.nope" in err
    cat = tmp_path / "cat.yaml"
    cat.write_text("providers:\n  - {id: 'Bad Id'}\n  - {id: ok, sites: [{id: s}]}\n")
    err = cli("audit", GOOD, "--catalog", str(cat)).stderr.decode()
    assert "problems" in err and "providers.0.id" in err and "providers.1.sites.0" in err, err


def test_backup_shares_project_in_explain_and_every_format(cli):
    """The rule from the registry on every output: explain, SARIF (with its docs link), JUnit, markdown."""
    doc = json.loads(cli("explain", "backup-shares-project", "--format", "json").stdout)
    assert doc["default"] == "advisory" and doc["strict"] == "mandatory"
    assert doc["help"].endswith("rules.md#backup-shares-project") and "project" in doc["description"]
    sarif = json.loads(cli("audit", SBG, "--format", "sarif").stdout)["runs"][0]
    (rule,) = [r for r in sarif["tool"]["driver"]["rules"] if r["id"] == "backup-shares-project"]
    assert rule["helpUri"].endswith("docs/rules.md#backup-shares-project")
    (result,) = [x for x in sarif["results"] if x["ruleId"] == "backup-shares-project"]
    assert result["level"] == "warning" and "clouds.yaml entry `ovh`" in result["message"]["text"]
    cases = {c.get("name"): c for c in ET.fromstring(cli("audit", SBG, "--format", "junit").stdout).iter("testcase")}
    assert "backup-shares-project" in cases and cases["backup-shares-project"].find("failure") is None
    strict = ET.fromstring(cli("audit", SBG, "--format", "junit", "--profile", "strict").stdout)
    assert {c.get("name") for c in strict.iter("testcase") if c.find("failure") is not None} >= {
        "backup-shares-project"
    }
    md = cli("audit", SBG, "--format", "markdown").stdout.decode()
    assert "[`backup-shares-project`](" in md and "rules.md#backup-shares-project" in md
    assert b"backup-shares-project" not in cli("audit", GOOD, "--format", "json").stdout.split(b'"placements"')[0]
