"""``--format json``: the report as data; several inputs ``{"verdict": worst, "reports": [...]}``."""

from __future__ import annotations

from resilient_stack.audit.formats.common import dumps, verdict_line, worst
from resilient_stack.core.rules import Report
from resilient_stack.core.survival import DrillReport


def audit_json(report: Report, source: str) -> str:
    doc = report.as_dict()
    doc["source"] = source
    doc["summary"] = verdict_line(report)
    return dumps(doc, len(report.placements))


def drill_doc(report: DrillReport, source: str, level: str) -> dict:
    return {
        "source": source,
        "level": level,
        "scenarios": [s.as_dict() for s in report.scenarios],
        "scope": report.scope,
        "provenance": report.provenance,
    }


def drill_json(report: DrillReport, source: str, level: str) -> str:
    return dumps(drill_doc(report, source, level), len(report.scenarios))


def audit(items: list[tuple[Report, str]]) -> str:
    if len(items) == 1:
        return audit_json(*items[0])
    docs = [{**r.as_dict(), "source": s, "summary": verdict_line(r)} for r, s in items]
    return dumps({"verdict": worst([r for r, _ in items]), "reports": docs}, sum(len(r.placements) for r, _ in items))


def drill(items: list[tuple[DrillReport, str]], level: str) -> str:
    if len(items) == 1:
        return drill_json(items[0][0], items[0][1], level)
    return dumps({"reports": [drill_doc(r, s, level) for r, s in items]}, sum(len(r.scenarios) for r, _ in items))
