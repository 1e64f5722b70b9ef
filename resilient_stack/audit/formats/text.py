"""``--format text``: readable tables (rich), the verdict, scope and provenance lines last."""

from __future__ import annotations

import io

from resilient_stack.audit.formats.common import (
    claim_line,
    coverage,
    drill_rows,
    not_running_lines,
    printable,
    role_summary,
    scope_lines,
    set_of,
    verdict_line,
)
from resilient_stack.core.rules import Report
from resilient_stack.core.survival import DrillReport


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
    for row in role_summary(report):
        t.add_row(*(cell(c) for c in row))
    con.print(t)
    if report.findings:
        ft = Table(title="Findings", show_lines=True)
        for col in ("level", "rule", "replica set", "message"):
            ft.add_column(col, overflow="fold")
        for f in report.findings:
            level = f"{f.level} (exempt)" if f.exempted else f"{f.level} (baseline)" if f.known else f.level
            msg = printable(f.message, newlines=False) + (f"\nexemption: {printable(f.exempted)}" if f.exempted else "")
            ft.add_row(level, f.rule, cell(set_of(f)), escape(msg))
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


def drill_text(report: DrillReport, source: str, level: str) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=140, color_system=None, highlight=False)
    from rich.markup import escape

    scenarios = report.scenarios
    head, rows = drill_rows(scenarios)
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


def audit(items: list[tuple[Report, str]]) -> str:
    """One report after the other."""
    return "\n".join(audit_text(r, s) for r, s in items)


def drill(items: list[tuple[DrillReport, str]], level: str) -> str:
    return "\n".join(drill_text(r, s, level) for r, s in items)
