"""The security defaults as policies, one per rule id.

The checks are :mod:`resilient_stack.core.security` -- the code ``resilient-stack audit`` runs on stack exports
and previews. Values unknown at preview are never read through the SDK's proxy (see :mod:`.resources`), so these
policies are never downgraded to advisory.

- ``ssh-open-to-world``, ``database-open-to-world``, ``unknown-security-rule``, ``unknown-preview-security-rule``:
  STACK policies. A port is
  world-open when the union of the prefixes of a security group's rules covers more than a /8, and the policy
  SDK gives a resource policy one resource at a time: the union needs every rule of the group together. A stack
  policy sees OUTPUTS: a value unknown at preview whose key is not one of the program's inputs (no property
  dependency entry) is a default the provider computes, so it is read as unset, as in the inputs.
- ``port-security-disabled``, ``plaintext-secret-in-user-data``: RESOURCE policies, on the resource's INPUTS (what
  the program asked for; an instance's ``userData`` output is only a hash).

The policy SDK unwraps Pulumi secrets before a validation sees them (pulumi/pulumi-policy#241): a KNOWN secret
(a re-preview of a deployed stack, ``pulumi policy analyze`` of a state it can decrypt) would look like a plain
string. The remediation-level helper :mod:`.secrecy` records which inputs are secrets before the analysis, and
the validations put the secret marker back on them, so the pack decides like the auditor (which reads the
state's markers): a secret ``remoteIpPrefix`` is ``unknown-security-rule`` in both. Without that record the
resource policies still report, and say they could not tell.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Callable

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from resilient_stack.core.rules import RULE_DESCRIPTIONS, SECURITY_RULE_IDS, Finding
from resilient_stack.core.security import (
    ADDRESS_GROUP_TYPE,
    INSTANCE_TYPE,
    LEGACY_SECGROUP_TYPE,
    NETWORK_TYPE,
    PORT_TYPE,
    SECGROUP_RULE_TYPE,
    SecurityCollector,
    check_view,
    exemption,
    resource_label,
)
from resilient_stack.core.vocabulary import UNKNOWN

from . import exemptions as exempted
from .config import CONFIG_SCHEMA, Settings, default_enforcement, settings_from
from .resources import SECRET_MARKER, resource_view, stack_view
from .secrecy import PROBE_NAME, secret_keys

UNPROBED = (
    " (the policy SDK hides whether a value is a Pulumi secret, and the helper policy `{probe}` did not run "
    "for this resource: if this value is already a secret, set `{probe}` back to `remediate`)"
).format(probe=PROBE_NAME)

GROUP_RULES = ("ssh-open-to-world", "database-open-to-world", "unknown-security-rule", "unknown-preview-security-rule")
RULE_TYPES = {
    "port-security-disabled": frozenset({PORT_TYPE, NETWORK_TYPE}),
    "plaintext-secret-in-user-data": frozenset({INSTANCE_TYPE}),
}


def _remarked(view: Any, secrets: frozenset[str] | None) -> Any:
    if not secrets:
        return view
    return view._replace(inputs={k: dict(SECRET_MARKER) if k in secrets else v for k, v in view.inputs.items()})


# ---- stack policies: the rules of each security group together ---------------------------------------------

_lock = threading.Lock()
_by_args: "weakref.WeakKeyDictionary[Any, dict[str, tuple[Finding, ...]]]" = weakref.WeakKeyDictionary()


def rule_view(resource: Any) -> Any:
    """A stack resource (outputs) of a security group rule as the auditor reads a rule (inputs)."""
    view = stack_view(resource)
    deps = view.deps or {}
    props = {k: v for k, v in (view.inputs or {}).items() if not (v == UNKNOWN and k not in deps)}
    return _remarked(view._replace(inputs=props), secret_keys(view.urn))


def group_findings(args: StackValidationArgs, settings: Settings) -> tuple[Finding, ...]:
    """The security group findings of the stack (every rule id), evaluated once per args and settings."""
    with _lock:
        try:
            hit = _by_args.get(args, {}).get(settings.key)
        except TypeError:
            hit = None
    if hit is not None:
        return hit
    collector = SecurityCollector()
    for r in list(getattr(args, "resources", None) or []):
        typ = str(getattr(r, "resource_type", "") or "")
        if typ == SECGROUP_RULE_TYPE:
            collector.add(rule_view(r))
        elif typ in (ADDRESS_GROUP_TYPE, LEGACY_SECGROUP_TYPE):
            collector.add(stack_view(r))  # a rule's address group; a legacy group's inline rules
    found = collector.findings(settings.rules)
    with _lock:
        try:
            _by_args.setdefault(args, {})[settings.key] = found
        except TypeError:
            pass
    return found


def _stack_validator(rule: str) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings = settings_from(args.get_config(), rule)
        if settings.rules.level(rule) == "disabled":
            return
        for finding in group_findings(args, settings):
            if finding.rule == rule and finding.exempted is None:
                report_violation(finding.message, finding.resources[0] if len(finding.resources) == 1 else None)

    validate.__name__ = f"validate_{rule.replace('-', '_')}"
    return validate


# ---- resource policies ------------------------------------------------------------------------------------


def _validator(rule: str) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    types = RULE_TYPES[rule]

    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        if args.resource_type not in types:
            return
        settings = settings_from(args.get_config(), rule)
        if settings.rules.level(rule) == "disabled":
            return
        view = resource_view(args)
        secrets = secret_keys(view.urn)
        view = _remarked(view, secrets)
        issues = [i for i in check_view(view) if i.rule == rule]
        if not issues:
            return
        note = UNPROBED if secrets is None and rule == "plaintext-secret-in-user-data" else ""
        reason = exemption(view)
        for issue in issues:
            if reason and settings.rules.honours(reason, rule):
                exempted.record(view.urn, rule, f"{resource_label(view.urn)}: {issue.message}{note}", reason)
            else:
                report_violation(issue.message + note, None)

    validate.__name__ = f"validate_{rule.replace('-', '_')}"
    return validate


def _policy(rule: str) -> ResourceValidationPolicy | StackValidationPolicy:
    common: dict[str, Any] = dict(
        name=rule,
        description=RULE_DESCRIPTIONS[rule],
        enforcement_level=default_enforcement(rule),
        config_schema=CONFIG_SCHEMA,
        severity=Severity.HIGH,
        tags=["resilient-stack", "security"],
    )
    if rule in GROUP_RULES:
        return StackValidationPolicy(validate=_stack_validator(rule), **common)
    return ResourceValidationPolicy(validate=_validator(rule), **common)


SECURITY_POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [_policy(r) for r in SECURITY_RULE_IDS]
(
    ssh_open_to_world,
    database_open_to_world,
    unknown_security_rule,
    unknown_preview_security_rule,
    port_security_disabled,
    plaintext_secret_in_user_data,
) = SECURITY_POLICIES
