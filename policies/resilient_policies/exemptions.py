"""``exempted-findings``: the findings that an allowed exemption waives, reported as ADVISORY instead of dropped.

The pack has one policy per rule id, and the policy SDK gives a policy no say over the level of each violation:
a rule's policy reports at its own level (mandatory by default) or not at all. So a rule's policy reports only
the findings that stand, and this helper policy -- not a rule, at level ``advisory`` -- reports every waived
finding, each message naming its rule and the exemption: ``exempted (REASON; owner O, until D): [RULE] message``.
Nothing is dropped in silence, and nothing exempted blocks.

Exemptions are honoured only when the organisation settings list them (``exemptions:``, the same settings as
``resilient-stack audit --config``: :meth:`resilient_stack.core.rules.RuleConfig.honours`); this policy reads its
own settings, which ``policies/make_pack_config.py`` makes the same as every rule's.

Waived findings of the stack policies (placement, security groups) are evaluated here from the stack; those of
the resource policies (``port-security-disabled``, ``plaintext-secret-in-user-data``) are recorded by them during
the resource analysis, which the engine runs before the stack analysis, and reported (then forgotten) here.
"""

from __future__ import annotations

import threading

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from resilient_stack.core.rules import Finding, RuleConfig

from .config import CONFIG_SCHEMA, EXEMPTED_POLICY, settings_from
from .placement import stack_report, violation

NAME = EXEMPTED_POLICY

_lock = threading.Lock()
_recorded: "dict[tuple[str, str], tuple[str, str]]" = {}  # (urn, rule) -> (message, reason)
_MAX = 100_000


def record(urn: str, rule: str, message: str, reason: str) -> None:
    """A resource policy's waived finding, reported by the stack analysis that closes the run."""
    with _lock:
        if len(_recorded) < _MAX:
            _recorded[(urn, rule)] = (message, reason)


def _take() -> list[tuple[str, str, str, str]]:
    with _lock:
        out = [(urn, rule, msg, why) for (urn, rule), (msg, why) in _recorded.items()]
        _recorded.clear()
    return out


def label(reason: str, rules: RuleConfig) -> str:
    """``REASON; owner O, until D``: the exemption as the organisation settings list it."""
    claim = rules.claim("", reason.split("; ")[0])
    if claim["status"] != "honoured":
        return reason
    return f"{reason}; owner {claim['owner']}, until {claim['expires']}"


def message(finding: Finding, text: str, rules: RuleConfig) -> str:
    return f"exempted ({label(finding.exempted or '', rules)}): [{finding.rule}] {text}"


def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    from .security import group_findings  # .security records into this module: imported here, not at the top

    settings = settings_from(args.get_config(), NAME)
    rules = settings.rules
    waived: list[Finding] = [f for f in stack_report(args, settings).findings if f.exempted]
    waived += [f for f in group_findings(args, settings) if f.exempted]
    for finding in waived:
        text, urn = violation(finding)
        report_violation(message(finding, text, rules), urn)
    for urn, rule, text, reason in _take():
        report_violation(f"exempted ({label(reason, rules)}): [{rule}] {text}", urn)


exempted_findings = StackValidationPolicy(
    name=NAME,
    description=(
        "Not a rule: every finding that an exemption allowed by the organisation settings waives, reported as "
        "advisory with its rule and reason (a rule's own policy reports only the findings that stand)."
    ),
    validate=validate,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=CONFIG_SCHEMA,
    severity=Severity.LOW,
    tags=["resilient-stack", "helper"],
)
