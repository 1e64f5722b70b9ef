"""At home in GitLab CI (issue 26, point 8): `--format gitlab-sast` and `--format gitlab-codequality`.

GitLab's published JSON schemas are not served by any registry this project may install from (PyPI, npm, Debian,
the Go module proxy): the reports are checked here against the fields GitLab documents (module docstring of
resilient_stack.audit.gitlab), and the same checks run on every shape: a design file (lines), an export (URNs),
exemptions, a baseline, several inputs."""

from __future__ import annotations

import json
import re

import pytest

from tests import builders as b
from tests.conftest import ROOT

SBG = ROOT / "examples/sbg2021.design.yaml"
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")
SAST_SEVERITIES = {"Info", "Unknown", "Low", "Medium", "High", "Critical"}
CQ_SEVERITIES = {"info", "minor", "major", "critical", "blocker"}


def audit(cli, fmt: str, *args: str, code: int = 1):
    r = cli("audit", *map(str, args), "--format", fmt)
    assert r.returncode == code, r.stderr
    return json.loads(r.stdout)


def check_sast(doc: dict) -> list[dict]:
    assert doc["version"] == "15.0.4"
    scan = doc["scan"]
    assert scan["type"] == "sast" and scan["status"] == "success"
    assert TIME.match(scan["start_time"]) and TIME.match(scan["end_time"])
    for part in ("analyzer", "scanner"):
        assert {"id", "name", "version", "vendor"} <= set(scan[part]) and scan[part]["vendor"]["name"]
    vulns = doc["vulnerabilities"]
    for v in vulns:
        assert {"id", "name", "description", "severity", "solution", "location", "identifiers"} <= set(v)
        assert v["severity"] in SAST_SEVERITIES and v["name"] and v["description"]
        assert v["location"]["file"] and v["location"]["start_line"] >= 1
        assert v["identifiers"] and all({"type", "name", "value", "url"} <= set(i) for i in v["identifiers"])
    assert len({v["id"] for v in vulns}) == len(vulns)
    return vulns


def check_codequality(doc: list) -> list[dict]:
    for issue in doc:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(issue)
        assert issue["severity"] in CQ_SEVERITIES
        assert issue["location"]["path"] and issue["location"]["lines"]["begin"] >= 1
    assert len({i["fingerprint"] for i in doc}) == len(doc)
    return doc


def line_of(path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_sast_of_a_design_points_at_the_placement_that_fails(cli):
    vulns = check_sast(audit(cli, "gitlab-sast", SBG))
    by_rule = {v["identifiers"][0]["value"]: v for v in vulns}
    assert {"single-site", "backup-colocated", "site-majority"} <= set(by_rule)
    assert by_rule["backup-colocated"]["location"] == {"file": str(SBG), "start_line": line_of(SBG, "db-backups-sbg")}
    assert by_rule["single-site"]["location"]["start_line"] == line_of(SBG, "- name: sbg5")
    assert by_rule["single-site"]["severity"] == "High" and by_rule["single-provider"]["severity"] == "Low"
    assert by_rule["site-majority"]["solution"] and by_rule["site-majority"]["identifiers"][0]["url"].endswith(
        "docs/rules.md#site-majority"
    )


def test_codequality_of_a_design_points_at_the_same_lines(cli):
    issues = check_codequality(audit(cli, "gitlab-codequality", SBG))
    sast = {
        v["identifiers"][0]["value"]: v["location"]["start_line"]
        for v in audit(cli, "gitlab-sast", SBG)["vulnerabilities"]
    }
    for issue in issues:
        assert issue["location"]["lines"]["begin"] == sast[issue["check_name"]]
    assert {i["severity"] for i in issues} == {"critical", "minor"}


@pytest.mark.parametrize("fmt", ["gitlab-sast", "gitlab-codequality"])
def test_an_export_is_reported_at_line_one_with_its_resources_named(cli, tmp_path, fmt):
    path = b.strasbourg_export().write(tmp_path / "state.json")
    doc = audit(cli, fmt, path)
    items = check_sast(doc) if fmt == "gitlab-sast" else check_codequality(doc)
    texts = [i["description"] for i in items]
    assert items and all(
        ("file" in i["location"] and i["location"]["start_line"] == 1)
        or i["location"].get("lines", {}).get("begin") == 1
        for i in items
    )
    assert any("[database]" in t for t in texts) and any("[web]" in t for t in texts)


@pytest.mark.parametrize("fmt", ["gitlab-sast", "gitlab-codequality"])
def test_exempted_and_baselined_findings_are_kept_at_the_lowest_severity_with_their_reason(cli, tmp_path, fmt):
    e = b.Export()
    sbg = e.provider("sbg", region="SBG5")
    for i in (1, 2):
        e.resource(b.INSTANCE, f"lab-{i}", sbg, role="lab", exempt="lab, RISK-12")
    path = e.write(tmp_path / "export.json")
    cfg = tmp_path / "org.yaml"
    cfg.write_text("exemptions: [{reason: 'lab, RISK-12', owner: platform-team, expires: 2999-12-31}]\n")
    doc = audit(cli, fmt, path, "--config", cfg, code=0)
    items = check_sast(doc) if fmt == "gitlab-sast" else check_codequality(doc)
    low = "Info" if fmt == "gitlab-sast" else "info"
    assert items and all(i["severity"] == low and "exempted: lab, RISK-12" in i["description"] for i in items)
    base = tmp_path / "base.json"
    assert cli("audit", str(SBG), "--format", "json", "-o", str(base)).returncode == 1
    items = audit(cli, fmt, SBG, "--baseline", base, code=0)
    items = items["vulnerabilities"] if fmt == "gitlab-sast" else items
    assert items and all(i["severity"] == low and "(in the baseline)" in i["description"] for i in items)


@pytest.mark.parametrize("fmt", ["gitlab-sast", "gitlab-codequality"])
def test_several_inputs_make_one_report_each_finding_at_its_own_file(cli, tmp_path, fmt):
    export = b.strasbourg_export().write(tmp_path / "state.json")
    doc = audit(cli, fmt, SBG, export)
    items = check_sast(doc) if fmt == "gitlab-sast" else check_codequality(doc)
    files = {i["location"].get("file") or i["location"].get("path") for i in items}
    assert files == {str(SBG), str(export)}
