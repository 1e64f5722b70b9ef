"""At home in auditors' CI (issue 26, point 8): `--baseline FILE` (only new findings fail) and `--fail-on LEVEL`."""

import copy
import json

import pytest

from tests import builders as b
from tests.conftest import ROOT

SBG = str(ROOT / "examples/sbg2021.design.yaml")


def ovh_only() -> b.Export:
    """Web on two OVHcloud sites: spread, one provider (single-provider is advisory by default)."""
    e = b.Export()
    e.resource(b.INSTANCE, "web-gra", e.provider("gra", region="GRA11"), role="web")
    e.resource(b.INSTANCE, "web-waw", e.provider("waw", region="WAW1"), role="web")
    return e


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_a_baseline_of_the_same_input_passes_and_marks_every_finding_known(cli, tmp_path, fmt):
    base = tmp_path / f"base.{fmt}"
    assert cli("audit", SBG, "--format", fmt, "-o", str(base)).returncode == 1
    r = cli("audit", SBG, "--baseline", str(base), "--format", "json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["verdict"] == "pass" and doc["findings"] and all(f.get("baseline") for f in doc["findings"])
    assert "in the baseline" in doc["summary"] and doc["provenance"]["baseline"] == str(base)
    text = cli("audit", SBG, "--baseline", str(base)).stdout.decode()
    assert "mandatory (baseline)" in text and "verdict: PASS (0 new mandatory violations, " in text


def test_a_new_replica_in_the_wrong_site_is_a_new_finding(cli, tmp_path):
    before = b.strasbourg_export()
    base = tmp_path / "base.json"
    cli("audit", str(before.write(tmp_path / "before.json")), "--format", "json", "-o", str(base))
    after = copy.deepcopy(before)
    sbg5 = next(r["urn"] + "::" + r["id"] for r in after.resources if r["urn"].endswith("::sbg5"))
    after.resource(b.INSTANCE, "db-3", sbg5, role="database", quorum=True)
    r = cli("audit", str(after.write(tmp_path / "after.json")), "--baseline", str(base), "--format", "json")
    assert r.returncode == 1
    doc = json.loads(r.stdout)
    new = [f for f in doc["findings"] if f["level"] == "mandatory" and not f.get("baseline")]
    assert new and all(f["role"] == "database" for f in new)  # the web findings are unchanged: known
    assert any(f.get("baseline") and f["role"] == "web" for f in doc["findings"])


def test_sarif_says_which_results_are_new(cli, tmp_path):
    base = tmp_path / "base.sarif"
    cli("audit", SBG, "--format", "sarif", "-o", str(base))
    results = json.loads(cli("audit", SBG, "--baseline", str(base), "--format", "sarif").stdout)["runs"][0]["results"]
    assert results and {r["baselineState"] for r in results} == {"unchanged"}


@pytest.mark.parametrize(
    "content, said",
    [
        ("not json", "baseline is not JSON"),
        ('{"verdict": "pass"}', "not a resilient-stack report"),
        ('{"findings": [{"rule": 1}]}', "baseline finding 0 has no"),
        ('{"runs": [{"results": [{"ruleId": "x"}]}]}', "no resilientStackFinding/v1"),
    ],
)
def test_a_bad_baseline_is_one_line_naming_it_and_exit_2(cli, tmp_path, content, said):
    base = tmp_path / "base.json"
    base.write_text(content)
    r = cli("audit", SBG, "--baseline", str(base))
    err = r.stderr.decode()
    assert r.returncode == 2 and r.stdout == b"" and err.count("\n") == 1
    assert err.startswith(f"resilient-stack: error: {base}: ") and said in err


def test_fail_on_advisory_fails_on_any_finding_and_never_reports_only(cli, tmp_path):
    path = str(ovh_only().write(tmp_path / "ovh.json"))
    assert cli("audit", path).returncode == 0  # single-provider is advisory
    assert cli("audit", path, "--fail-on", "advisory").returncode == 1
    assert cli("audit", SBG, "--fail-on", "never").returncode == 0
    assert b"verdict: FAIL" in cli("audit", SBG, "--fail-on", "never").stdout  # the verdict is still said


def test_fail_on_never_does_not_hide_unusable_input(cli, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert cli("audit", str(bad), "--fail-on", "never").returncode == 2


def test_a_baselined_advisory_does_not_fail_on_advisory(cli, tmp_path):
    path = str(ovh_only().write(tmp_path / "ovh.json"))
    base = tmp_path / "base.json"
    cli("audit", path, "--format", "json", "-o", str(base))
    assert cli("audit", path, "--fail-on", "advisory", "--baseline", str(base)).returncode == 0
