"""``--format sarif``: SARIF 2.1.0, one run per input; results point at the line that declares their first resource
where the input has one, and name the resources as logical locations."""

from __future__ import annotations

from resilient_stack import __version__
from resilient_stack.audit.formats.common import (
    INFO_URI,
    NOT_RUNNING_NOTE,
    UNKNOWN_TYPE_NOTE,
    coverage,
    declared_at,
    dumps,
    help_uri,
    verdict_line,
)
from resilient_stack.core.rules import RULE_BY_ID, RULE_DESCRIPTIONS, RULE_IDS, Finding, Report


def _sarif_level(level: str) -> str:
    return {"mandatory": "error", "advisory": "warning"}.get(level, "note")


def sarif_run(report: Report, source: str) -> dict:
    """One SARIF run: the rules, the results and the properties of one audited input."""
    rules = []
    for rid in RULE_IDS:
        level = report.config.level(rid)
        rules.append(
            {
                "id": rid,
                "name": "".join(w.capitalize() for w in rid.split("-")),
                "shortDescription": {"text": RULE_BY_ID[rid].title},
                "fullDescription": {"text": RULE_DESCRIPTIONS[rid]},
                "help": {
                    "text": f"{RULE_DESCRIPTIONS[rid]} Fix: {RULE_BY_ID[rid].fix} What fires it and the judgement "
                    f"calls: {help_uri(rid)}",
                    "markdown": f"{RULE_DESCRIPTIONS[rid]}\n\n**Fix:** {RULE_BY_ID[rid].fix}\n\nWhat fires it and "
                    f"the judgement calls: [docs/rules.md]({help_uri(rid)})",
                },
                "helpUri": help_uri(rid),
                "defaultConfiguration": {"level": _sarif_level(level), "enabled": level != "disabled"},
                "properties": {
                    "enforcementLevel": level,
                    "severity": RULE_BY_ID[rid].severity,
                    "tags": ["resilient-stack", RULE_BY_ID[rid].family],
                },
            }
        )
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
            "properties": {
                "role": f.role,
                "replicaSet": f.replica_set,
                "enforcementLevel": f.level,
                "resources": len(f.resources),
            },
        }
        if f.exempted:
            res["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.exempted}]
        if baselined:
            res["baselineState"] = "unchanged" if f.known else "new"
        results.append(res)
    total, evaluated, missed = coverage(report)
    return {
        "tool": {
            "driver": {"name": "resilient-stack", "version": __version__, "informationUri": INFO_URI, "rules": rules}
        },
        "automationDetails": {
            "id": f"resilient-stack/audit/{source}/",
            "description": {"text": f"resilient-stack audit of {source}"},
        },
        "artifacts": [_artifact(report, source)],
        "invocations": [_invocation(report)],
        "results": results,
        "properties": {
            "verdict": report.verdict,
            "profile": report.config.profile,
            "summary": verdict_line(report),
            "coverage": {
                "resources": total,
                "evaluated": evaluated,
                "notEvaluated": [
                    {
                        "type": t,
                        "count": n,
                        "unknownType": note == UNKNOWN_TYPE_NOTE,
                        "notRunning": note == NOT_RUNNING_NOTE,
                    }
                    for t, n, note in missed
                ],
                "notRunning": (report.coverage or {}).get("not_running") or [],
            },
            "exemptions": report.exemptions,
            "scope": report.scope,
        },
    }


def _sarif_location(report: Report, source: str, f: Finding) -> dict:
    """The input file, at the line that declares the finding's first resource when the input has one; the resources
    (URNs, design names) as logical locations."""
    physical: dict = {"artifactLocation": {"uri": source}}
    at = declared_at(report, f)
    if at:
        physical["region"] = {"startLine": at[0][1]}
    return {
        "physicalLocation": physical,
        "logicalLocations": [{"fullyQualifiedName": r, "kind": "resource"} for r in f.resources[:50]],
    }


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


def sarif_many(items: list[tuple[Report, str]]) -> str:
    """One SARIF log, one run per audited input."""
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [sarif_run(r, s) for r, s in items],
    }
    return dumps(doc, sum(len(r.findings) for r, _ in items))


def audit(items: list[tuple[Report, str]]) -> str:
    return sarif_many(items)
