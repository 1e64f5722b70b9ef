"""Audit and drill reports: text (a readable table), json, sarif (2.1.0), junit, markdown."""

from __future__ import annotations

import io
import json
from collections import defaultdict
from typing import Any

from resilient_stack import __version__
from resilient_stack.audit.provenance import provenance_line
from resilient_stack.core.placement import BACKUP_ROLE
from resilient_stack.core.rules import RULE_BY_ID, RULE_DESCRIPTIONS, RULE_IDS, Finding, Report
from resilient_stack.core.scope import scope_line
from resilient_stack.core.survival import DrillReport, Scenario

AUDIT_FORMATS = ("text", "json", "sarif", "junit", "markdown", "gitlab-sast", "gitlab-codequality")
DRILL_FORMATS = ("text", "json", "markdown")
INFO_URI = "https://github.com/resilient-stack/resilient-stack"


RULES_DOC = f"{INFO_URI}/blob/main/docs/rules.md"
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}
_CONTROL.update({c: f"\\u{c:04x}" for c in (*range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F),
                                             *range(0x2066, 0x206A), *range(0xD800, 0xE000), 0xFEFF, 0xFFFE, 0xFFFF)})


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with control, bidirectional-override and non-characters written as escapes (``\\x1f``): a label
    or a resource name cannot rewrite a terminal line, hide text or make XML invalid. Tabs and (``newlines``)
    line breaks are kept."""
    out = text.translate(_CONTROL)
    return out if newlines else out.replace("\r", "\\r").replace("\n", "\\n")


def help_uri(rule: str) -> str:
    """The rule's section of docs/rules.md (its heading is the rule id)."""
    return f"{RULES_DOC}#{rule}"


def _set_of(f: Finding) -> str:
    """The replica set a finding is about (its role when it is about no set: a security finding)."""
    return f.replica_set or f.role or ""


def _role_summary(report: Report) -> list[tuple[str, int, str, str, str]]:
    """One row per replica set (a role across the input, or a managed cluster's own), and per set's backups."""
    groups: dict[str, list] = defaultdict(list)
    for p in report.placements:
        key = f"backup of {p.unit}" if p.role == BACKUP_ROLE else p.unit
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


UNKNOWN_TYPE_NOTE = "type unknown to the auditor"
NOT_RUNNING_NOTE = "not running: going away, failed or not created, never counted as a replica"


def coverage(report: Report) -> tuple[int, int, list[tuple[str, int, str]]]:
    """(resources read, evaluated, [(type, count, note)] of what was NOT evaluated; the note says why when it is not
    simply a type that holds no replica)."""
    cov = report.coverage
    if not cov:
        n = len(report.placements)
        return n, n, []
    ne = cov["not_evaluated"]
    rows = [(t, n, UNKNOWN_TYPE_NOTE if t in ne["unknown_type"] else "")
            for t, n in {**ne["holds_no_replica"], **ne["unknown_type"]}.items()]
    rows += [(t, n, NOT_RUNNING_NOTE) for t, n in ne.get("not_running", {}).items()]
    rows.sort(key=lambda r: (-r[1], r[0], r[2]))
    return cov["resources"], sum(cov["evaluated"].values()), rows


def not_running_lines(report: Report) -> list[str]:
    """One line per replica resource that the state holds but that does not run, and why."""
    listed = (report.coverage or {}).get("not_running") or []
    total = sum((report.coverage or {}).get("not_evaluated", {}).get("not_running", {}).values())
    lines = [f"not counted: {r['resource']} ({r['why']})" for r in listed]
    return lines + ([f"not counted: {total - len(listed)} more"] if total > len(listed) else [])


def verdict_line(report: Report) -> str:
    """``verdict: FAIL (2 mandatory violations, 1 other finding; 40 resources: 12 evaluated, 28 not evaluated)``."""
    blocking = sum(1 for f in report.findings if f.blocking)
    known = sum(1 for f in report.findings if f.known and f.level == "mandatory" and f.exempted is None)
    others = len(report.findings) - blocking - known
    total, evaluated, missed = coverage(report)
    baseline = f"{known} in the baseline, " if known else ""
    return (f"verdict: {report.verdict.upper()} ({blocking} {'new ' if known else ''}mandatory violation"
            f"{'s' if blocking != 1 else ''}, {baseline}{others} other finding{'s' if others != 1 else ''}; "
            f"{total} resources: {evaluated} evaluated, {sum(n for _, n, _ in missed)} not evaluated)")


def scope_lines(report: Report | DrillReport) -> list[str]:
    """What the verdict rests on and what made the report (an audit's or a drill's): ``scope: ...`` and
    ``resilient-stack 0.1.0 at ...``."""
    out = [scope_line(report.scope, report.verdict)] if report.scope else []
    return out + ([provenance_line(report.provenance)] if report.provenance else [])


def _claim_detail(claim: dict) -> str:
    if claim["status"] == "not allowed":
        return " (not in the organisation's exemptions: not honoured)"
    rules = f", rules {', '.join(claim['rules'])}" if claim.get("rules") else ""
    return f" (owner {claim['owner']}, {'expired on' if claim['status'] == 'expired' else 'until'} {claim['expires']}{rules})"


def claim_line(claim: dict) -> str:
    return f"exemption {claim['status']}: {claim['resource']}: {claim['reason']}{_claim_detail(claim)}"


def audit_text(report: Report, source: str) -> str:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    def cell(value: object) -> str:
        return escape(printable(str(value)))

    buf = io.StringIO()
    con = Console(file=buf, width=120, color_system=None, highlight=False, soft_wrap=False)
    con.print(printable(f"resilient-stack audit: {source} (profile {report.config.profile})"), markup=False)
    t = Table(title="Placements by replica set", show_lines=False)
    for col in ("replica set", "replicas", "providers", "sites", "buildings"):
        t.add_column(col, overflow="fold")
    for row in _role_summary(report):
        t.add_row(*(cell(c) for c in row))
    con.print(t)
    if report.findings:
        ft = Table(title="Findings", show_lines=True)
        for col in ("level", "rule", "replica set", "message"):
            ft.add_column(col, overflow="fold")
        for f in report.findings:
            level = f"{f.level} (exempt)" if f.exempted else f"{f.level} (baseline)" if f.known else f.level
            msg = printable(f.message, newlines=False) + (f"\nexemption: {printable(f.exempted)}" if f.exempted else "")
            ft.add_row(level, f.rule, cell(_set_of(f)), escape(msg))
        con.print(ft)
    else:
        con.print("No findings.")
    for claim in report.exemptions:
        con.print(printable(claim_line(claim)), markup=False)
    total, evaluated, missed = coverage(report)
    if missed:
        con.print("Not evaluated (by type):", markup=False)
        for typ, n, note in missed:
            con.print(printable(f"  {n} {typ}{f' ({note})' if note else ''}"), markup=False)
    for line in not_running_lines(report):
        con.print(printable(line), markup=False)
    con.print(verdict_line(report), markup=False, soft_wrap=True)
    for line in scope_lines(report):
        con.print(printable(line), markup=False, soft_wrap=True)  # one line each: grep finds the digest whole
    return buf.getvalue()


PRETTY_LIMIT = 2000  # above this many placements, JSON is compact (the C encoder; 10x faster)


def _dumps(doc: dict, items: int) -> str:
    return json.dumps(doc, indent=2 if items <= PRETTY_LIMIT else None) + "\n"


def audit_json(report: Report, source: str) -> str:
    doc = report.as_dict()
    doc["source"] = source
    doc["summary"] = verdict_line(report)
    return _dumps(doc, len(report.placements))


def _sarif_level(level: str) -> str:
    return {"mandatory": "error", "advisory": "warning"}.get(level, "note")


def sarif_run(report: Report, source: str) -> dict:
    """One SARIF run: the rules, the results and the properties of one audited input."""
    rules = []
    for rid in RULE_IDS:
        level = report.config.level(rid)
        rules.append({
            "id": rid,
            "name": "".join(w.capitalize() for w in rid.split("-")),
            "shortDescription": {"text": RULE_BY_ID[rid].title},
            "fullDescription": {"text": RULE_DESCRIPTIONS[rid]},
            "help": {"text": f"{RULE_DESCRIPTIONS[rid]} Fix: {RULE_BY_ID[rid].fix} What fires it and the judgement "
                             f"calls: {help_uri(rid)}",
                     "markdown": f"{RULE_DESCRIPTIONS[rid]}\n\n**Fix:** {RULE_BY_ID[rid].fix}\n\nWhat fires it and "
                                 f"the judgement calls: [docs/rules.md]({help_uri(rid)})"},
            "helpUri": help_uri(rid),
            "defaultConfiguration": {"level": _sarif_level(level), "enabled": level != "disabled"},
            "properties": {"enforcementLevel": level, "severity": RULE_BY_ID[rid].severity,
                           "tags": ["resilient-stack", RULE_BY_ID[rid].family]},
        })
    index = {rid: i for i, rid in enumerate(RULE_IDS)}
    baselined = bool(report.provenance and report.provenance.get("baseline"))
    results = []
    for f in report.findings:
        res = {
            "ruleId": f.rule,
            "ruleIndex": index[f.rule],
            "level": "note" if f.exempted else _sarif_level(f.level),
            "message": {"text": f.message},
            "locations": [_sarif_location(report, source, f)],
            "partialFingerprints": {"resilientStackFinding/v1": f.fingerprint},
            "properties": {"role": f.role, "replicaSet": f.replica_set, "enforcementLevel": f.level,
                           "resources": len(f.resources)},
        }
        if f.exempted:
            res["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.exempted}]
        if baselined:
            res["baselineState"] = "unchanged" if f.known else "new"
        results.append(res)
    total, evaluated, missed = coverage(report)
    return {
        "tool": {"driver": {"name": "resilient-stack", "version": __version__, "informationUri": INFO_URI,
                            "rules": rules}},
        "automationDetails": {"id": f"resilient-stack/audit/{source}/",
                              "description": {"text": f"resilient-stack audit of {source}"}},
        "artifacts": [_artifact(report, source)],
        "invocations": [_invocation(report)],
        "results": results,
        "properties": {
            "verdict": report.verdict, "profile": report.config.profile, "summary": verdict_line(report),
            "coverage": {"resources": total, "evaluated": evaluated,
                         "notEvaluated": [{"type": t, "count": n, "unknownType": note == UNKNOWN_TYPE_NOTE,
                                           "notRunning": note == NOT_RUNNING_NOTE} for t, n, note in missed],
                         "notRunning": (report.coverage or {}).get("not_running") or []},
            "exemptions": report.exemptions,
            "scope": report.scope,
        },
    }


def declared_at(report: Report, f: Finding) -> list[tuple[str, int]]:
    """(resource, line) of the finding's resources whose declaration the input locates (a design file's entries),
    by line."""
    lines = report.lines or {}
    return sorted(((r, lines[r]) for r in f.resources if r in lines), key=lambda rl: (rl[1], rl[0]))


def _sarif_location(report: Report, source: str, f: Finding) -> dict:
    """The input file, at the line that declares the finding's first resource when the input has one; the resources
    (URNs, design names) as logical locations."""
    physical: dict = {"artifactLocation": {"uri": source}}
    at = declared_at(report, f)
    if at:
        physical["region"] = {"startLine": at[0][1]}
    return {"physicalLocation": physical,
            "logicalLocations": [{"fullyQualifiedName": r, "kind": "resource"} for r in f.resources[:50]]}


def _artifact(report: Report, source: str) -> dict:
    art: dict = {"location": {"uri": source}}
    if report.provenance and report.provenance.get("input_sha256"):
        art["hashes"] = {"sha-256": report.provenance["input_sha256"]}
    return art


def _invocation(report: Report) -> dict:
    inv: dict = {"executionSuccessful": True}
    if report.provenance:
        inv["endTimeUtc"] = report.provenance["time"]
    return inv


def audit_sarif(report: Report, source: str) -> str:
    return sarif_many([(report, source)])


def sarif_many(items: list[tuple[Report, str]]) -> str:
    """One SARIF log, one run per audited input."""
    doc = {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0",
           "runs": [sarif_run(r, s) for r, s in items]}
    return _dumps(doc, sum(len(r.findings) for r, _ in items))


def _xml(text: str) -> str:
    """Text XML 1.0 can carry: every character it forbids (control characters...) written as an escape."""
    return "".join(c if c in "\t\n\r" or " " <= c <= "\ud7ff" or "\ue000" <= c <= "\ufffd" or c > "\uffff"
                   else (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}") for c in text)


def junit_suite(report: Report, source: str) -> Any:
    """One <testsuite>: one test case per rule id, of one audited input."""
    import xml.etree.ElementTree as ET  # JUnit output only

    by_rule = defaultdict(list)
    for f in report.findings:
        by_rule[f.rule].append(f)
    disabled = [r for r in RULE_IDS if report.config.level(r) == "disabled"]
    failed = [r for r in RULE_IDS if any(f.blocking for f in by_rule[r])]
    counts = {"tests": str(len(RULE_IDS)), "failures": str(len(failed)), "errors": "0", "skipped": str(len(disabled))}
    suite = ET.Element("testsuite", name=_xml(f"resilient-stack audit {source}"), **counts)
    props = ET.SubElement(suite, "properties")
    total, evaluated, missed = coverage(report)
    for name, value in (("verdict", report.verdict), ("profile", report.config.profile),
                        ("summary", verdict_line(report)), ("resources", total), ("evaluated", evaluated),
                        ("not-evaluated", sum(n for _, n, _ in missed))):
        ET.SubElement(props, "property", name=name, value=_xml(str(value)))
    if report.scope:
        ET.SubElement(props, "property", name="scope", value=_xml(scope_line(report.scope, report.verdict)))
    if report.provenance:
        for key in ("version", "time", "input_sha256"):
            ET.SubElement(props, "property", name=key.replace("_", "-"), value=_xml(str(report.provenance[key])))
    for typ, n, note in missed:
        ET.SubElement(props, "property", name=_xml(f"{'not-running' if note == NOT_RUNNING_NOTE else 'not-evaluated'}:{typ}"),
                      value=_xml(f"{n}{f' ({note})' if note else ''}"))
    for i, line in enumerate(not_running_lines(report)):
        ET.SubElement(props, "property", name=f"not-counted:{i}", value=_xml(line))
    for claim in report.exemptions:
        ET.SubElement(props, "property", name=_xml(f"exemption:{claim['resource']}"), value=_xml(claim_line(claim)))
    for rid in RULE_IDS:
        case = ET.SubElement(suite, "testcase", classname="resilient-stack", name=rid)
        level = report.config.level(rid)
        if level == "disabled":
            ET.SubElement(case, "skipped", message="rule disabled")
            continue
        blocking = [f for f in by_rule[rid] if f.blocking]
        others = [f for f in by_rule[rid] if not f.blocking]
        if blocking:
            el = ET.SubElement(case, "failure", message=_xml(blocking[0].message), type=level)
            el.text = _xml("\n".join(f"[{_set_of(f)}] {f.message}" for f in blocking))
        if others:
            out = ET.SubElement(case, "system-out")
            out.text = _xml("\n".join(
                f"[{f.level}{' exempt: ' + f.exempted if f.exempted else ' baseline' if f.known else ''}] [{_set_of(f)}] "
                f"{f.message}" for f in others
            ))
    return suite


def audit_junit(report: Report, source: str) -> str:
    return junit_many([(report, source)])


def junit_many(items: list[tuple[Report, str]]) -> str:
    """<testsuites> holding one <testsuite> per audited input; its totals are the sums of theirs."""
    import xml.etree.ElementTree as ET

    suites = ET.Element("testsuites", name="resilient-stack")
    for report, source in items:
        suites.append(junit_suite(report, source))
    for key in ("tests", "failures", "errors", "skipped"):
        suites.set(key, str(sum(int(x.get(key, "0")) for x in suites)))
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _md_escape(s: str) -> str:
    return printable(s, newlines=False).replace("|", "\\|").replace("<", "&lt;")


def audit_markdown(report: Report, source: str) -> str:
    lines = [f"## resilient-stack audit: `{_md_escape(source).replace('`', '')}`", "",
             f"**{verdict_line(report)}** (profile {report.config.profile})", ""]
    lines += [*(f"{_md_escape(line)}  " for line in scope_lines(report)), ""] if scope_lines(report) else []
    lines += ["| replica set | replicas | providers | sites | buildings |", "|---|---|---|---|---|"]
    for row in _role_summary(report):
        lines.append("| " + " | ".join(_md_escape(str(c)) for c in row) + " |")
    lines.append("")
    if report.findings:
        lines += ["| level | rule | replica set | message |", "|---|---|---|---|"]
        for f in report.findings:
            level = (f"{f.level} (exempt: {f.exempted})" if f.exempted else f"{f.level} (baseline)" if f.known
                     else f.level)
            lines.append(f"| {_md_escape(level)} | [`{f.rule}`]({help_uri(f.rule)}) | {_md_escape(_set_of(f))} | "
                         f"{_md_escape(f.message)} |")
    else:
        lines.append("No findings.")
    if report.exemptions:
        lines += ["", "### Exemptions", "", "| resource | reason | status |", "|---|---|---|"]
        for c in report.exemptions:
            lines.append(f"| {_md_escape(c['resource'])} | {_md_escape(c['reason'])} | "
                         f"{_md_escape(c['status'] + _claim_detail(c))} |")
    total, evaluated, missed = coverage(report)
    if missed:
        lines += ["", f"### Not evaluated ({sum(n for _, n, _ in missed)} of {total} resources)", "",
                  "| type | resources |", "|---|---|"]
        for typ, n, note in missed:
            lines.append(f"| `{_md_escape(typ)}`{f' ({note})' if note else ''} | {n} |")
        lines += ["", *(f"- {_md_escape(line)}" for line in not_running_lines(report))] if not_running_lines(report) else []
    return "\n".join(lines) + "\n"


def _worst(reports: list[Report]) -> str:
    return "fail" if any(r.verdict == "fail" for r in reports) else "pass"


def render_audit(fmt: str, items: list[tuple[Report, str]]) -> str:
    """The report of one input, or of several (one verdict each): text and markdown one after the other, JSON
    ``{"verdict": worst, "reports": [...]}``, SARIF one run each, JUnit one test suite each, GitLab's one report of
    every input's findings (resilient_stack.audit.gitlab)."""
    if fmt.startswith("gitlab-"):
        from resilient_stack.audit import gitlab  # it imports this module

        return gitlab.RENDERERS[fmt](items)
    if len(items) == 1:
        return AUDIT_RENDERERS[fmt](*items[0])
    if fmt == "sarif":
        return sarif_many(items)
    if fmt == "junit":
        return junit_many(items)
    if fmt == "json":
        docs = [{**r.as_dict(), "source": s, "summary": verdict_line(r)} for r, s in items]
        return _dumps({"verdict": _worst([r for r, _ in items]), "reports": docs},
                      sum(len(r.placements) for r, _ in items))
    return "\n".join(AUDIT_RENDERERS[fmt](r, s) for r, s in items)


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


def drill_text(report: DrillReport, source: str, level: str) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=140, color_system=None, highlight=False)
    from rich.markup import escape

    scenarios = report.scenarios
    head, rows = _drill_rows(scenarios)
    t = Table(title=escape(printable(f"Fire drill: loss of one {level} ({source}); surviving/total per replica set")))
    for h in head:
        t.add_column(escape(printable(h)), overflow="fold")
    for r in rows:
        t.add_row(*(escape(printable(c)) for c in r))
    con.print(t)
    bad = [s for s in scenarios if not (s.service_survives and s.data_survives)]
    con.print(
        f"{len(scenarios) - len(bad)} of {len(scenarios)} {level} losses leave the service up and the data safe; "
        f"exit {1 if bad else 0}."
    )
    for line in scope_lines(report):
        con.print(printable(line), markup=False, soft_wrap=True)
    return buf.getvalue()


def _drill_doc(report: DrillReport, source: str, level: str) -> dict:
    return {"source": source, "level": level, "scenarios": [s.as_dict() for s in report.scenarios],
            "scope": report.scope, "provenance": report.provenance}


def drill_json(report: DrillReport, source: str, level: str) -> str:
    return _dumps(_drill_doc(report, source, level), len(report.scenarios))


def drill_markdown(report: DrillReport, source: str, level: str) -> str:
    head, rows = _drill_rows(report.scenarios)
    lines = [f"## Fire drill: loss of one {level} (`{_md_escape(source)}`)", "",
             "| " + " | ".join(_md_escape(h) for h in head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md_escape(c) for c in r) + " |" for r in rows]
    lines += ["", *(f"{_md_escape(line)}  " for line in scope_lines(report))] if report.scope else []
    return "\n".join(lines) + "\n"


DRILL_RENDERERS = {"text": drill_text, "json": drill_json, "markdown": drill_markdown}


def render_drill(fmt: str, items: list[tuple[DrillReport, str]], level: str) -> str:
    """The drill of one input, or of several: text and markdown one after the other, JSON ``{"reports": [...]}``."""
    if len(items) == 1:
        return DRILL_RENDERERS[fmt](items[0][0], items[0][1], level)
    if fmt == "json":
        docs = [_drill_doc(r, s, level) for r, s in items]
        return _dumps({"reports": docs}, sum(len(r.scenarios) for r, _ in items))
    return "\n".join(DRILL_RENDERERS[fmt](r, s, level) for r, s in items)
