"""``--format junit``: one test case per rule id, one test suite per input; totals agree, XML valid whatever the
labels hold."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from resilient_stack.audit.formats.common import (
    NOT_RUNNING_NOTE,
    claim_line,
    coverage,
    not_running_lines,
    set_of,
    verdict_line,
)
from resilient_stack.core.rules import RULE_IDS, Report
from resilient_stack.core.scope import scope_line


def xml_text(text: str) -> str:
    """Text XML 1.0 can carry: every character it forbids (control characters...) written as an escape."""
    return "".join(
        c
        if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c > "\uffff"
        else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")
        for c in text
    )


def junit_suite(report: Report, source: str) -> Any:
    """One <testsuite>: one test case per rule id, of one audited input."""
    import xml.etree.ElementTree as ET  # JUnit output only

    by_rule = defaultdict(list)
    for f in report.findings:
        by_rule[f.rule].append(f)
    disabled = [r for r in RULE_IDS if report.config.level(r) == "disabled"]
    failed = [r for r in RULE_IDS if any(f.blocking for f in by_rule[r])]
    counts = {"tests": str(len(RULE_IDS)), "failures": str(len(failed)), "errors": "0", "skipped": str(len(disabled))}
    suite = ET.Element("testsuite", {"name": xml_text(f"resilient-stack audit {source}"), **counts})
    props = ET.SubElement(suite, "properties")
    total, evaluated, missed = coverage(report)
    for name, value in (
        ("verdict", report.verdict),
        ("profile", report.config.profile),
        ("summary", verdict_line(report)),
        ("resources", total),
        ("evaluated", evaluated),
        ("not-evaluated", sum(n for _, n, _ in missed)),
    ):
        ET.SubElement(props, "property", name=name, value=xml_text(str(value)))
    if report.scope:
        ET.SubElement(props, "property", name="scope", value=xml_text(scope_line(report.scope, report.verdict)))
    if report.provenance:
        for key in ("version", "time", "input_sha256"):
            ET.SubElement(props, "property", name=key.replace("_", "-"), value=xml_text(str(report.provenance[key])))
    for typ, n, note in missed:
        ET.SubElement(
            props,
            "property",
            name=xml_text(f"{'not-running' if note == NOT_RUNNING_NOTE else 'not-evaluated'}:{typ}"),
            value=xml_text(f"{n}{f' ({note})' if note else ''}"),
        )
    for i, line in enumerate(not_running_lines(report)):
        ET.SubElement(props, "property", name=f"not-counted:{i}", value=xml_text(line))
    for claim in report.exemptions:
        ET.SubElement(
            props, "property", name=xml_text(f"exemption:{claim['resource']}"), value=xml_text(claim_line(claim))
        )
    for rid in RULE_IDS:
        case = ET.SubElement(suite, "testcase", classname="resilient-stack", name=rid)
        level = report.config.level(rid)
        if level == "disabled":
            ET.SubElement(case, "skipped", message="rule disabled")
            continue
        blocking = [f for f in by_rule[rid] if f.blocking]
        others = [f for f in by_rule[rid] if not f.blocking]
        if blocking:
            el = ET.SubElement(case, "failure", message=xml_text(blocking[0].message), type=level)
            el.text = xml_text("\n".join(f"[{set_of(f)}] {f.message}" for f in blocking))
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = xml_text(
                "\n".join(
                    f"[{f.level}{' exempt: ' + f.exempted if f.exempted else ' baseline' if f.known else ''}] [{set_of(f)}] "
                    f"{f.message}"
                    for f in others
                )
            )
    return suite


def junit_many(items: list[tuple[Report, str]]) -> str:
    """<testsuites> holding one <testsuite> per audited input; its totals are the sums of theirs."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="resilient-stack")
    for report, source in items:
        suites.append(junit_suite(report, source))
    for key in ("tests", "failures", "errors", "skipped"):
        suites.set(key, str(sum(int(x.get(key, "0")) for x in suites)))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def audit(items: list[tuple[Report, str]]) -> str:
    return junit_many(items)
