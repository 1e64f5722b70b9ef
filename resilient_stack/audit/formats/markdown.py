"""``--format markdown``: a pull-request comment (placements, findings, exemptions, what was not evaluated)."""

from __future__ import annotations

from resilient_stack.audit.formats.common import (
    claim_detail,
    coverage,
    drill_rows,
    help_uri,
    not_running_lines,
    printable,
    role_summary,
    scope_lines,
    set_of,
    verdict_line,
)
from resilient_stack.core.rules import Report
from resilient_stack.core.survival import DrillReport


def md_escape(s: str) -> str:
    return printable(s, newlines=False).replace("|", "\\|").replace("<", "&lt;")


def audit_markdown(report: Report, source: str) -> str:
    lines = [
        f"## resilient-stack audit: `{md_escape(source).replace('`', '')}`",
        "",
        f"**{verdict_line(report)}** (profile {report.config.profile})",
        "",
    ]
    lines += [*(f"{md_escape(line)}  " for line in scope_lines(report)), ""] if scope_lines(report) else []
    lines += ["| replica set | replicas | providers | sites | buildings |", "|---|---|---|---|---|"]
    for row in role_summary(report):
        lines.append("| " + " | ".join(md_escape(str(c)) for c in row) + " |")
    lines.append("")
    if report.findings:
        lines += ["| level | rule | replica set | message |", "|---|---|---|---|"]
        for f in report.findings:
            level = (
                f"{f.level} (exempt: {f.exempted})" if f.exempted else f"{f.level} (baseline)" if f.known else f.level
            )
            lines.append(
                f"| {md_escape(level)} | [`{f.rule}`]({help_uri(f.rule)}) | {md_escape(set_of(f))} | "
                f"{md_escape(f.message)} |"
            )
    else:
        lines.append("No findings.")
    if report.exemptions:
        lines += ["", "### Exemptions", "", "| resource | reason | status |", "|---|---|---|"]
        for c in report.exemptions:
            lines.append(
                f"| {md_escape(c['resource'])} | {md_escape(c['reason'])} | "
                f"{md_escape(c['status'] + claim_detail(c))} |"
            )
    total, evaluated, missed = coverage(report)
    if missed:
        lines += [
            "",
            f"### Not evaluated ({sum(n for _, n, _ in missed)} of {total} resources)",
            "",
            "| type | resources |",
            "|---|---|",
        ]
        for typ, n, note in missed:
            lines.append(f"| `{md_escape(typ)}`{f' ({note})' if note else ''} | {n} |")
        lines += (
            ["", *(f"- {md_escape(line)}" for line in not_running_lines(report))] if not_running_lines(report) else []
        )
    return "\n".join(lines) + "\n"


def drill_markdown(report: DrillReport, source: str, level: str) -> str:
    head, rows = drill_rows(report.scenarios)
    lines = [
        f"## Fire drill: loss of one {level} (`{md_escape(source)}`)",
        "",
        "| " + " | ".join(md_escape(h) for h in head) + " |",
        "|" + "---|" * len(head),
    ]
    lines += ["| " + " | ".join(md_escape(c) for c in r) + " |" for r in rows]
    lines += ["", *(f"{md_escape(line)}  " for line in scope_lines(report))] if report.scope else []
    return "\n".join(lines) + "\n"


def audit(items: list[tuple[Report, str]]) -> str:
    return "\n".join(audit_markdown(r, s) for r, s in items)


def drill(items: list[tuple[DrillReport, str]], level: str) -> str:
    return "\n".join(drill_markdown(r, s, level) for r, s in items)
