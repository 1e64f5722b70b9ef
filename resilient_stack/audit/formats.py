"""Audit and drill reports: text (a readable table), json, sarif (2.1.0), junit, markdown."""

from __future__ import annotations

import io
import json
from collections import defaultdict

from resilient_stack import __version__
from resilient_stack.core.placement import BACKUP_ROLE
from resilient_stack.core.rules import RULE_DESCRIPTIONS, RULE_IDS, Report
from resilient_stack.core.survival import Scenario

AUDIT_FORMATS = ("text", "json", "sarif", "junit", "markdown")
DRILL_FORMATS = ("text", "json", "markdown")
INFO_URI = "https://github.com/resilient-stack/resilient-stack"


def _role_summary(report: Report) -> list[tuple[str, int, str, str, str]]:
    groups: dict[str, list] = defaultdict(list)
    for p in report.placements:
        key = f"backup of {p.protects}" if p.role == BACKUP_ROLE else p.role
        groups[key].append(p)
    rows = []
    for role in sorted(groups):
        ps = groups[role]
        def names(attr):
            vals = sorted({getattr(p, attr) or "?" for p in ps if p.resolved})
            missing = sum(1 for p in ps if not p.resolved)
            return ", ".join(vals) + (f" (+{missing} unplaced)" if missing else "")
        rows.append((role, len(ps), names("provider"), names("site_name"), names("building")))
    return rows


def _claim_detail(claim: dict) -> str:
    if claim["status"] == "not allowed":
        return " (not in the organisation's exemptions: not honoured)"
    rules = f", rules {', '.join(claim['rules'])}" if claim.get("rules") else ""
    return f" (owner {claim['owner']}, {'expired on' if claim['status'] == 'expired' else 'until'} {claim['expires']}{rules})"


def audit_text(report: Report, source: str) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=120, color_system=None, highlight=False, soft_wrap=False)
    con.print(f"resilient-stack audit: {source} (profile {report.config.profile})")
    t = Table(title="Placements by role", show_lines=False)
    for col in ("role", "replicas", "providers", "sites", "buildings"):
        t.add_column(col, overflow="fold")
    for row in _role_summary(report):
        t.add_row(row[0], str(row[1]), row[2], row[3], row[4])
    con.print(t)
    if report.findings:
        ft = Table(title="Findings", show_lines=True)
        for col in ("level", "rule", "role", "message"):
            ft.add_column(col, overflow="fold")
        for f in report.findings:
            level = f"{f.level} (exempt)" if f.exempted else f.level
            msg = f.message + (f"\nexemption: {f.exempted}" if f.exempted else "")
            ft.add_row(level, f.rule, f.role or "", msg)
        con.print(ft)
    else:
        con.print("No findings.")
    for claim in report.exemptions:
        con.print(f"exemption {claim['status']}: {claim['resource']}: {claim['reason']}{_claim_detail(claim)}", markup=False)
    cov = report.coverage
    counts = ""
    if cov:
        evaluated = sum(cov["evaluated"].values())
        missed = {**cov["not_evaluated"]["holds_no_replica"], **cov["not_evaluated"]["unknown_type"]}
        if missed:
            con.print("Not evaluated (by type):", markup=False)
            for typ, n in sorted(missed.items(), key=lambda kv: (-kv[1], kv[0])):
                unknown = " (type unknown to the auditor)" if typ in cov["not_evaluated"]["unknown_type"] else ""
                con.print(f"  {n} {typ}{unknown}", markup=False)
        counts = f"; {cov['resources']} resources: {evaluated} evaluated, {sum(missed.values())} not evaluated"
    blocking = sum(1 for f in report.findings if f.blocking)
    con.print(
        f"verdict: {report.verdict.upper()} ({blocking} mandatory violation{'s' if blocking != 1 else ''}, "
        f"{len(report.findings) - blocking} other finding{'s' if len(report.findings) - blocking != 1 else ''}"
        f"{counts})", markup=False,
    )
    return buf.getvalue()


PRETTY_LIMIT = 2000  # above this many placements, JSON is compact (the C encoder; 10x faster)


def _dumps(doc: dict, items: int) -> str:
    return json.dumps(doc, indent=2 if items <= PRETTY_LIMIT else None) + "\n"


def audit_json(report: Report, source: str) -> str:
    doc = report.as_dict()
    doc["source"] = source
    return _dumps(doc, len(report.placements))


def _sarif_level(level: str) -> str:
    return {"mandatory": "error", "advisory": "warning"}.get(level, "note")


def audit_sarif(report: Report, source: str) -> str:
    rules = [
        {
            "id": rid,
            "name": "".join(w.capitalize() for w in rid.split("-")),
            "shortDescription": {"text": RULE_DESCRIPTIONS[rid].split(":")[0].split(".")[0]},
            "fullDescription": {"text": RULE_DESCRIPTIONS[rid]},
            "defaultConfiguration": {
                "level": _sarif_level(report.config.level(rid)),
                "enabled": report.config.level(rid) != "disabled",
            },
        }
        for rid in RULE_IDS
    ]
    index = {rid: i for i, rid in enumerate(RULE_IDS)}
    results = []
    for f in report.findings:
        res = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": "note" if f.exempted else _sarif_level(f.level),
            "message": {"text": f.message},
            "locations": [
                {
                    "physicalLocation": {"artifactLocation": {"uri": source}},
                    "logicalLocations": [{"fullyQualifiedName": r, "kind": "resource"} for r in f.resources[:50]],
                }
            ],
            "properties": {"role": f.role, "enforcementLevel": f.level},
        }
        if f.exempted:
            res["suppressions"] = [{"kind": "inSource", "justification": f.exempted}]
        results.append(res)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": "resilient-stack", "version": __version__, "informationUri": INFO_URI, "rules": rules}},
                "artifacts": [{"location": {"uri": source}}],
                "results": results,
                "properties": {"verdict": report.verdict, "profile": report.config.profile},
            }
        ],
    }
    return _dumps(doc, len(report.findings))


def audit_junit(report: Report, source: str) -> str:
    import xml.etree.ElementTree as ET  # JUnit output only

    by_rule = defaultdict(list)
    for f in report.findings:
        by_rule[f.rule].append(f)
    failures = sum(1 for f in report.findings if f.blocking)
    suite = ET.Element(
        "testsuite",
        name=f"resilient-stack audit {source}",
        tests=str(len(RULE_IDS)),
        failures=str(len({f.rule for f in report.findings if f.blocking})),
        errors="0",
        skipped=str(sum(1 for r in RULE_IDS if report.config.level(r) == "disabled")),
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
            el = ET.SubElement(case, "failure", message=blocking[0].message, type=level)
            el.text = "\n".join(f"[{f.role}] {f.message}" for f in blocking)
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = "\n".join(
                f"[{f.level}{' exempt: ' + f.exempted if f.exempted else ''}] [{f.role}] {f.message}" for f in others
            )
    suites = ET.Element("testsuites", name="resilient-stack", tests=str(len(RULE_IDS)), failures=str(failures))
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def audit_markdown(report: Report, source: str) -> str:
    lines = [f"## resilient-stack audit: `{source}`", "", f"**Verdict: {report.verdict.upper()}** (profile {report.config.profile})", ""]
    lines += ["| role | replicas | providers | sites | buildings |", "|---|---|---|---|---|"]
    for row in _role_summary(report):
        lines.append("| " + " | ".join(_md_escape(str(c)) for c in row) + " |")
    lines.append("")
    if report.findings:
        lines += ["| level | rule | role | message |", "|---|---|---|---|"]
        for f in report.findings:
            level = f"{f.level} (exempt: {f.exempted})" if f.exempted else f.level
            lines.append(f"| {_md_escape(level)} | `{f.rule}` | {f.role or ''} | {_md_escape(f.message)} |")
    else:
        lines.append("No findings.")
    return "\n".join(lines) + "\n"


AUDIT_RENDERERS = {
    "text": audit_text, "json": audit_json, "sarif": audit_sarif, "junit": audit_junit, "markdown": audit_markdown,
}


def _drill_rows(scenarios: list[Scenario]) -> tuple[list[str], list[list[str]]]:
    roles = sorted({r for s in scenarios for r in s.roles})
    head = ["lost", *roles, "service", "data"]
    rows = []
    for s in scenarios:
        cells = [s.name]
        for r in roles:
            sv, tot = s.roles.get(r, (0, 0))
            cells.append(f"{sv}/{tot}")
        down = [f"{r} (writes: quorum lost)" if r in s.quorum_lost else r for r in s.down_roles]
        cells.append("UP" if s.service_survives else "DOWN (" + ", ".join(down) + ")")
        cells.append("SAFE" if s.data_survives else "LOST (" + ", ".join(s.data_lost) + ")")
        rows.append(cells)
    return head, rows


def drill_text(scenarios: list[Scenario], source: str, level: str) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=140, color_system=None, highlight=False)
    head, rows = _drill_rows(scenarios)
    t = Table(title=f"Fire drill: loss of one {level} ({source}); surviving/total per role")
    for h in head:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*r)
    con.print(t)
    bad = [s for s in scenarios if not (s.service_survives and s.data_survives)]
    con.print(
        f"{len(scenarios) - len(bad)} of {len(scenarios)} {level} losses leave the service up and the data safe; "
        f"exit {1 if bad else 0}."
    )
    return buf.getvalue()


def drill_json(scenarios: list[Scenario], source: str, level: str) -> str:
    return _dumps({"source": source, "level": level, "scenarios": [s.as_dict() for s in scenarios]}, len(scenarios))


def drill_markdown(scenarios: list[Scenario], source: str, level: str) -> str:
    head, rows = _drill_rows(scenarios)
    lines = [f"## Fire drill: loss of one {level} (`{source}`)", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


DRILL_RENDERERS = {"text": drill_text, "json": drill_json, "markdown": drill_markdown}
