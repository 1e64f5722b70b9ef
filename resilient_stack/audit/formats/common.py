"""What every report format says the same way: escapes, links into the rules' documentation, the verdict line,
coverage, scope and provenance lines, exemption lines, where a finding's resources are declared."""

from __future__ import annotations

import json
from collections import defaultdict

from resilient_stack.audit.provenance import provenance_line
from resilient_stack.core.placement import BACKUP_ROLE
from resilient_stack.core.rules import Finding, Report
from resilient_stack.core.scope import scope_line
from resilient_stack.core.survival import DrillReport, Scenario

INFO_URI = "https://github.com/resilient-stack/resilient-stack"

RULES_DOC = f"{INFO_URI}/blob/main/docs/rules.md"


_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F)}
_CONTROL.update(
    {
        c: f"\\u{c:04x}"
        for c in (
            *range(0x80, 0xA0),
            0x2028,
            0x2029,
            *range(0x202A, 0x202F),
            *range(0x2066, 0x206A),
            *range(0xD800, 0xE000),
            0xFEFF,
            0xFFFE,
            0xFFFF,
        )
    }
)


def printable(text: str, *, newlines: bool = True) -> str:
    """``text`` with control, bidirectional-override and non-characters written as escapes (``\\x1f``): a label
    or a resource name cannot rewrite a terminal line, hide text or make XML invalid. Tabs and (``newlines``)
    line breaks are kept."""
    out = text.translate(_CONTROL)
    return out if newlines else out.replace("\r", "\\r").replace("\n", "\\n")


def help_uri(rule: str) -> str:
    """The rule's section of docs/rules.md (its heading is the rule id)."""
    return f"{RULES_DOC}#{rule}"


def set_of(f: Finding) -> str:
    """The replica set a finding is about (its role when it is about no set: a security finding)."""
    return f.replica_set or f.role or ""


def role_summary(report: Report) -> list[tuple[str, int, str, str, str]]:
    """One row per replica set (a role across the input, or a managed cluster's own), and per set's backups."""
    groups: dict[str, list] = defaultdict(list)
    for p in report.placements:
        key = f"backup of {p.unit}" if p.role == BACKUP_ROLE else p.unit
        groups[key].append(p)

    def names(ps: list, attr: str) -> str:
        vals = sorted({getattr(p, attr) or "?" for p in ps if p.resolved})
        missing = sum(1 for p in ps if not p.resolved)
        return ", ".join(vals) + (f" (+{missing} unplaced)" if missing else "")

    return [
        (role, len(ps), names(ps, "provider"), names(ps, "site_name"), names(ps, "building"))
        for role, ps in sorted(groups.items())
    ]


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
    rows = [
        (t, n, UNKNOWN_TYPE_NOTE if t in ne["unknown_type"] else "")
        for t, n in {**ne["holds_no_replica"], **ne["unknown_type"]}.items()
    ]
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
    return (
        f"verdict: {report.verdict.upper()} ({blocking} {'new ' if known else ''}mandatory violation"
        f"{'s' if blocking != 1 else ''}, {baseline}{others} other finding{'s' if others != 1 else ''}; "
        f"{total} resources: {evaluated} evaluated, {sum(n for _, n, _ in missed)} not evaluated)"
    )


def scope_lines(report: Report | DrillReport) -> list[str]:
    """What the verdict rests on and what made the report (an audit's or a drill's): ``scope: ...`` and
    ``resilient-stack 0.1.0 at ...``."""
    out = [scope_line(report.scope, report.verdict)] if report.scope else []
    return out + ([provenance_line(report.provenance)] if report.provenance else [])


def claim_detail(claim: dict) -> str:
    if claim["status"] == "not allowed":
        return " (not in the organisation's exemptions: not honoured)"
    rules = f", rules {', '.join(claim['rules'])}" if claim.get("rules") else ""
    return f" (owner {claim['owner']}, {'expired on' if claim['status'] == 'expired' else 'until'} {claim['expires']}{rules})"


def claim_line(claim: dict) -> str:
    return f"exemption {claim['status']}: {claim['resource']}: {claim['reason']}{claim_detail(claim)}"


PRETTY_LIMIT = 2000  # above this many placements, JSON is compact (the C encoder; 10x faster)


def dumps(doc: dict, items: int) -> str:
    return json.dumps(doc, indent=2 if items <= PRETTY_LIMIT else None) + "\n"


def declared_at(report: Report, f: Finding) -> list[tuple[str, int]]:
    """(resource, line) of the finding's resources whose declaration the input locates (a design file's entries),
    by line."""
    lines = report.lines or {}
    return sorted(((r, lines[r]) for r in f.resources if r in lines), key=lambda rl: (rl[1], rl[0]))


def worst(reports: list[Report]) -> str:
    return "fail" if any(r.verdict == "fail" for r in reports) else "pass"


def drill_rows(scenarios: list[Scenario]) -> tuple[list[str], list[list[str]]]:
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
