"""``--baseline FILE``: the findings of an earlier report are known; only new ones fail.

The baseline is a report of this auditor, as JSON (one input's, or ``{"reports": [...]}`` of several) or SARIF (its
results' ``resilientStackFinding/v1`` partial fingerprints). A finding is known when its fingerprint (the rule, the
role and the resources named: :func:`resilient_stack.core.rules.fingerprint`) is in the baseline: a new replica in
the same wrong site makes it a new finding, a reworded message does not.
"""

from __future__ import annotations

import dataclasses
import json

from resilient_stack.core.rules import Report, fingerprint
from resilient_stack.io.errors import InputError
from resilient_stack.io.readfile import decode_text, read_bytes

SARIF_KEY = "resilientStackFinding/v1"
FAIL_ON = ("mandatory", "advisory", "never")


def read_baseline(path: str) -> frozenset[str]:
    """The fingerprints of the findings of a report file; :class:`InputError` naming the file otherwise."""
    try:
        doc = json.loads(decode_text(read_bytes(path), path))
    except ValueError as exc:
        raise InputError(
            path, f"baseline is not JSON ({str(exc)[:80]}): give a --format json or sarif report"
        ) from None
    if isinstance(doc, dict) and isinstance(doc.get("runs"), list):
        return _sarif(doc, path)
    reports = doc.get("reports") if isinstance(doc, dict) and "reports" in doc else [doc]
    if not isinstance(reports, list) or not all(
        isinstance(r, dict) and isinstance(r.get("findings"), list) for r in reports
    ):
        raise InputError(path, "baseline is not a resilient-stack report (no 'findings' list, no SARIF 'runs')")
    out = set()
    for report in reports:
        for i, f in enumerate(report["findings"]):
            if not (
                isinstance(f, dict)
                and isinstance(f.get("rule"), str)
                and isinstance(f.get("resources"), list)
                and all(isinstance(r, str) for r in f["resources"])
                and isinstance(f.get("role"), (str, type(None)))
            ):
                raise InputError(path, f"baseline finding {i} has no 'rule', 'role' and 'resources'")
            out.add(fingerprint(f["rule"], f["role"], f["resources"]))
    return frozenset(out)


def _sarif(doc: dict, path: str) -> frozenset[str]:
    out = set()
    for run in doc["runs"]:
        for res in (run.get("results") or []) if isinstance(run, dict) else []:
            fp = (res.get("partialFingerprints") or {}).get(SARIF_KEY) if isinstance(res, dict) else None
            if not isinstance(fp, str):
                raise InputError(path, f"a SARIF result has no {SARIF_KEY} fingerprint: not a resilient-stack report")
            out.add(fp)
    return frozenset(out)


def with_baseline(report: Report, known: frozenset[str]) -> Report:
    """``report`` with the findings the baseline holds marked known (reported, never failing)."""
    findings = tuple(dataclasses.replace(f, known=True) if f.fingerprint in known else f for f in report.findings)
    return dataclasses.replace(report, findings=findings)


def exit_code(report: Report, fail_on: str) -> int:
    """1 when a finding fails the audit at ``fail_on``: ``mandatory`` (a blocking finding: the verdict), ``advisory``
    (any finding neither exempted nor in the baseline), ``never`` (0: report only)."""
    if fail_on == "never":
        return 0
    if fail_on == "advisory":
        return 1 if any(f.exempted is None and not f.known for f in report.findings) else 0
    return 1 if report.verdict == "fail" else 0
