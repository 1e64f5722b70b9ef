"""GitLab's report formats: ``gitlab-sast`` (a Security report of type SAST, ``artifacts:reports:sast``) and
``gitlab-codequality`` (a Code Quality report, ``artifacts:reports:codequality``).

Both are ONE report for every input given (a CI job uploads one file per report type): each finding points at its
input file, at the line that declares its first resource where the input has one (a YAML design file), else line 1;
the resources and the replica set are in the text. Exempted findings and findings of the ``--baseline`` are kept,
at the lowest severity, with the reason in the text: nothing the auditor found is dropped.

Fields as GitLab documents them (docs.gitlab.com, "Security scanner integration" and "Code Quality"): a SAST
report's ``version``, ``scan`` (analyzer, scanner, type, start and end time as ``YYYY-MM-DDTHH:MM:SS``, status)
and ``vulnerabilities`` (id, name, description, severity ``Info|Unknown|Low|Medium|High|Critical``, solution,
location ``file``/``start_line``, at least one identifier); a Code Quality issue's ``description``,
``check_name``, ``fingerprint`` (unique per issue), ``severity`` (``info|minor|major|critical|blocker``) and
``location.path``/``location.lines.begin``.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from resilient_stack import __version__
from resilient_stack.audit.formats.common import INFO_URI, declared_at, help_uri
from resilient_stack.core.rules import RULE_BY_ID, Finding, Report

SAST_SCHEMA_VERSION = "15.0.4"  # the Security report schemas' version these reports follow
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, INFO_URI)  # vulnerability ids: stable per finding and input
_TOOL = {
    "id": "resilient-stack",
    "name": "resilient-stack",
    "version": __version__,
    "vendor": {"name": "resilient-stack"},
}


def _waived(f: Finding) -> str:
    """Why a finding does not fail the audit ('' when it does or would): exempted, or in the baseline."""
    if f.exempted:
        return f"exempted: {f.exempted}"
    if f.known:
        return "in the baseline"
    return ""


def _text(f: Finding) -> str:
    """The finding's message with its replica set and why it is waived, on one line."""
    head = f"[{f.replica_set}] " if f.replica_set else ""
    tail = f" ({_waived(f)})" if _waived(f) else ""
    return f"{head}{f.message}{tail}"


def _line(report: Report, f: Finding) -> int:
    at = declared_at(report, f)
    return at[0][1] if at else 1


def _sast_severity(f: Finding) -> str:
    if _waived(f) or f.level == "disabled":
        return "Info"
    if f.level == "advisory":
        return "Low"
    return "High" if RULE_BY_ID[f.rule].severity == "high" else "Medium"


def _codequality_severity(f: Finding) -> str:
    if _waived(f) or f.level == "disabled":
        return "info"
    if f.level == "advisory":
        return "minor"
    return "critical" if RULE_BY_ID[f.rule].severity == "high" else "major"


def _gitlab_time(iso: str | None) -> str:
    """``2026-12-06T15:04:05Z`` as GitLab's scan times want it: ``2026-12-06T15:04:05``."""
    return (iso or "1970-01-01T00:00:00Z").rstrip("Z")


def sast(items: list[tuple[Report, str]]) -> str:
    """One Security report (SAST) of every input's findings."""
    vulns = []
    for report, source in items:
        for f in report.findings:
            rule = RULE_BY_ID[f.rule]
            vulns.append(
                {
                    "id": str(uuid.uuid5(_NAMESPACE, f"{source}\0{f.fingerprint}")),
                    "name": rule.title,
                    "description": _text(f),
                    "severity": _sast_severity(f),
                    "solution": rule.fix,
                    "location": {"file": source, "start_line": _line(report, f)},
                    "identifiers": [
                        {
                            "type": "resilient_stack_rule",
                            "name": f"resilient-stack {f.rule}",
                            "value": f.rule,
                            "url": help_uri(f.rule),
                        }
                    ],
                }
            )
    times = sorted(r.provenance["time"] for r, _ in items if r.provenance)
    doc = {
        "version": SAST_SCHEMA_VERSION,
        "scan": {
            "analyzer": _TOOL,
            "scanner": {**_TOOL, "url": INFO_URI},
            "type": "sast",
            "start_time": _gitlab_time(times[0] if times else None),
            "end_time": _gitlab_time(times[-1] if times else None),
            "status": "success",
        },
        "vulnerabilities": vulns,
    }
    return json.dumps(doc, indent=2) + "\n"


def codequality(items: list[tuple[Report, str]]) -> str:
    """One Code Quality report (a list of issues) of every input's findings."""
    issues: list[dict[str, Any]] = []
    for report, source in items:
        for f in report.findings:
            issues.append(
                {
                    "description": _text(f),
                    "check_name": f.rule,
                    "fingerprint": f"{source}\0{f.fingerprint}" if len(items) > 1 else f.fingerprint,
                    "severity": _codequality_severity(f),
                    "location": {"path": source, "lines": {"begin": _line(report, f)}},
                }
            )
    for issue in issues:  # one fingerprint per issue, whatever the path's characters
        if "\0" in issue["fingerprint"]:
            issue["fingerprint"] = str(uuid.uuid5(_NAMESPACE, issue["fingerprint"])).replace("-", "")
    return json.dumps(issues, indent=2) + "\n"
