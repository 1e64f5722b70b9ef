"""Reports CI can trust (issue 18, point 11): every format says the verdict with its counts, what was not
evaluated and the exemptions; JUnit counts agree and its XML stays valid whatever labels hold; SARIF carries full
rule descriptions, help links into docs/rules.md, stable fingerprints and automation details; text and markdown
escape control characters."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pytest

from resilient_stack.core.rules import RULE_IDS
from tests import builders as b
from tests.conftest import ROOT

FORMATS = ("text", "json", "sarif", "junit", "markdown")
NASTY = "web\x01\x1b[2J\u202eevil\x7f"  # a control character, a terminal escape, a bidi override, DEL


def estate(tmp_path, role: str = "web", *, unknown_types: int = 2):
    """A one-site estate (fails), with resources of a type the auditor does not know and one that holds no replica."""
    e = b.Export()
    sbg = e.provider("sbg", region="SBG5")
    e.resource(b.INSTANCE, "web-1", sbg, role=role)
    e.resource(b.INSTANCE, "web-2", sbg, role=role)
    for i in range(unknown_types):
        e.resource("acme:index/thing:Thing", f"thing-{i}", sbg)
    e.resource("openstack:networking/subnet:Subnet", "subnet", sbg)
    return e.write(tmp_path / "export.json")


def run(cli, path, fmt, *extra):
    r = cli("audit", str(path), "--format", fmt, *extra)
    assert r.returncode == 1, r.stderr
    return r.stdout.decode()


def test_every_format_gives_the_verdict_counts_and_what_was_not_evaluated(cli, tmp_path):
    path = estate(tmp_path)
    counts = "8 resources: 3 evaluated, 5 not evaluated"  # stack, 2 things, subnet, provider... (see below)
    text = run(cli, path, "text")
    line = next(ln for ln in text.splitlines() if ln.startswith("verdict: FAIL"))
    m = re.search(r"(\d+) resources: (\d+) evaluated, (\d+) not evaluated", line)
    assert m and int(m[1]) == int(m[2]) + int(m[3]), line
    counts = m[0]
    assert "2 acme:index/thing:Thing (type unknown to the auditor)" in text
    doc = json.loads(run(cli, path, "json"))
    assert counts in doc["summary"] and doc["coverage"]["not_evaluated"]["unknown_type"] == {
        "acme:index/thing:Thing": 2
    }
    sarif = json.loads(run(cli, path, "sarif"))["runs"][0]["properties"]
    assert counts in sarif["summary"]
    assert {"type": "acme:index/thing:Thing", "count": 2, "unknownType": True, "notRunning": False} in sarif[
        "coverage"
    ]["notEvaluated"]
    junit = ET.fromstring(run(cli, path, "junit"))
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert counts in props["summary"] and props["not-evaluated:acme:index/thing:Thing"].startswith("2 ")
    md = run(cli, path, "markdown")
    assert (
        counts in md
        and "### Not evaluated (" in md
        and "`acme:index/thing:Thing` (type unknown to the auditor) | 2 |" in md
    )


def test_junit_totals_agree_and_match_the_cases(cli, tmp_path):
    path = estate(tmp_path)
    cfg = tmp_path / "org.yaml"
    cfg.write_text("levels: {single-provider: disabled, site-majority: disabled}\n")
    root = ET.fromstring(run(cli, path, "junit", "--config", str(cfg)))
    (suite,) = root.findall("testsuite")
    for key in ("tests", "failures", "errors", "skipped"):
        assert root.get(key) == suite.get(key), key
    cases = suite.findall("testcase")
    assert int(suite.get("tests")) == len(cases) == len(RULE_IDS)
    assert int(suite.get("failures")) == sum(1 for c in cases if c.find("failure") is not None) >= 2
    assert int(suite.get("skipped")) == sum(1 for c in cases if c.find("skipped") is not None) == 2


def test_junit_is_valid_xml_whatever_the_labels_hold(cli, tmp_path):
    path = estate(tmp_path, role=NASTY)
    out = run(cli, path, "junit")
    root = ET.fromstring(out)  # raises on a character XML 1.0 forbids
    failure = next(c for c in root.iter("testcase") if c.get("name") == "single-site").find("failure")
    assert "\\x01" in failure.text and "\x01" not in out and "\x1b" not in out


@pytest.mark.parametrize("fmt", ("text", "markdown"))
def test_text_and_markdown_escape_control_characters(cli, tmp_path, fmt):
    out = run(cli, estate(tmp_path, role=NASTY), fmt)
    for raw in ("\x01", "\x1b", "\u202e", "\x7f"):
        assert raw not in out, repr(raw)
    assert "\\x1b[2J" in out and "\\u202e" in out


def test_sarif_rules_are_complete_and_link_to_their_documentation(cli, tmp_path):
    doc = json.loads(run(cli, estate(tmp_path), "sarif"))
    run_ = doc["runs"][0]
    rules = run_["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULE_IDS)
    headings = {m for m in re.findall(r"^#+ `?([a-z-]+)`?\s*$", (ROOT / "docs" / "rules.md").read_text(), re.M)}
    for r in rules:
        assert r["fullDescription"]["text"] and len(r["fullDescription"]["text"]) > len(r["shortDescription"]["text"])
        assert r["helpUri"].endswith(f"/docs/rules.md#{r['id']}") and r["id"] in headings, r["id"]
        assert r["help"]["text"].startswith(r["fullDescription"]["text"])
    assert run_["automationDetails"]["id"].startswith("resilient-stack/audit/")
    prints = [x["partialFingerprints"]["resilientStackFinding/v1"] for x in run_["results"]]
    assert len(set(prints)) == len(prints)
    again = json.loads(run(cli, estate(tmp_path), "sarif"))["runs"][0]["results"]
    assert [x["partialFingerprints"] for x in again] == [x["partialFingerprints"] for x in run_["results"]]


def test_every_format_lists_exemptions_with_their_reason_and_status(cli, tmp_path):
    e = b.Export()
    sbg = e.provider("sbg", region="SBG5")
    for i in (1, 2):
        e.resource(b.INSTANCE, f"lab-{i}", sbg, role="lab", exempt="lab, RISK-12")
    e.resource(b.INSTANCE, "web-1", sbg, role="web", exempt="not listed anywhere")
    path = e.write(tmp_path / "export.json")
    cfg = tmp_path / "org.yaml"
    cfg.write_text("exemptions: [{reason: 'lab, RISK-12', owner: platform-team, expires: 2999-12-31}]\n")
    outs = {fmt: run(cli, path, fmt, "--config", str(cfg)) for fmt in FORMATS}
    for fmt, out in outs.items():
        assert "lab, RISK-12" in out and "platform-team" in out and "not listed anywhere" in out, fmt
        assert "not allowed" in out, fmt
    doc = json.loads(outs["json"])
    assert {c["status"] for c in doc["exemptions"]} == {"honoured", "not allowed"}
    assert all(not f.get("exempted") for f in doc["findings"] if f["role"] == "web")


def test_sarif_with_coverage_exemptions_and_odd_labels_validates_against_the_schema(cli, tmp_path):
    import os
    from pathlib import Path

    import jsonschema

    from tests.conftest import need_tool

    schema_path = (
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "resilient-stack/sarif/sarif-schema-2.1.0.json"
    )
    need_tool(schema_path.exists(), f"SARIF schema missing: run scripts/fetch-sarif-schema.sh ({schema_path})")
    e = b.Export()
    sbg = e.provider("sbg", region="SBG5")
    for i in (1, 2):
        e.resource(b.INSTANCE, f"lab-{i}", sbg, role=NASTY, exempt="lab")
    e.resource("acme:index/thing:Thing", "thing", sbg)
    cfg = tmp_path / "org.yaml"
    cfg.write_text("exemptions: [{reason: lab, owner: me, expires: 2999-01-01, rules: [single-site]}]\n")
    doc = json.loads(run(cli, e.write(tmp_path / "export.json"), "sarif", "--config", str(cfg)))
    jsonschema.validate(doc, json.loads(schema_path.read_text()))
    assert any(r.get("suppressions") for r in doc["runs"][0]["results"])


@pytest.mark.parametrize("fmt", ("text", "markdown"))
def test_the_drill_escapes_control_characters_too(cli, tmp_path, fmt):
    r = cli("drill", str(estate(tmp_path, role=NASTY)), "--format", fmt)
    out = r.stdout.decode()
    assert r.returncode == 1 and "\\x1b[2J" in out and "\x1b" not in out and "\u202e" not in out
