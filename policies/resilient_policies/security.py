"""The security defaults as resource validation policies, one per rule id.

The checks are :func:`resilient_stack.core.security.check_view` -- the code ``resilient-stack audit`` runs on
stack exports and previews -- applied to the resource's INPUTS (what the program asked for; an
instance's ``userData`` output is only a hash). Values unknown at preview are never read through the
SDK's proxy (see :mod:`.resources`), so these policies are never downgraded to advisory.

The policy SDK unwraps Pulumi secrets before a validation sees them (pulumi/pulumi-policy#241): a
KNOWN secret ``userData`` (a re-preview of a deployed stack, ``pulumi policy analyze`` of a state it can
decrypt) would look like a plain string. The remediation-level helper :mod:`.secrecy` records which
inputs are secrets before the analysis, and the validation puts the secret marker back on them, so the
pack decides like the auditor (which reads the state's markers). Without that record it still reports,
and says it could not tell.
"""

from __future__ import annotations

from typing import Callable

from pulumi_policy import (
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
)

from resilient_stack.core.rules import RULE_DESCRIPTIONS, SECURITY_RULE_IDS
from resilient_stack.core.security import (
    INSTANCE_TYPE,
    SECGROUP_RULE_TYPE,
    check_view,
    exemption,
)

from .config import CONFIG_SCHEMA, default_enforcement, settings_from
from .resources import SECRET_MARKER, resource_view
from .secrecy import PROBE_NAME, secret_keys

UNPROBED = (
    " (the policy SDK hides whether a value is a Pulumi secret, and the helper policy `{probe}` did not run "
    "for this resource: if this value is already a secret, set `{probe}` back to `remediate`)"
).format(probe=PROBE_NAME)

RULE_TYPES = {
    "ssh-open-to-world": frozenset({SECGROUP_RULE_TYPE}),
    "database-open-to-world": frozenset({SECGROUP_RULE_TYPE}),
    "plaintext-secret-in-user-data": frozenset({INSTANCE_TYPE}),
}


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
        if secrets:
            view = view._replace(inputs={k: dict(SECRET_MARKER) if k in secrets else v for k, v in view.inputs.items()})
        issues = [i for i in check_view(view) if i.rule == rule]
        if issues and exemption(view) is None:
            note = UNPROBED if secrets is None and rule == "plaintext-secret-in-user-data" else ""
            for issue in issues:
                report_violation(issue.message + note, None)

    validate.__name__ = f"validate_{rule.replace('-', '_')}"
    return validate


def _policy(rule: str) -> ResourceValidationPolicy:
    return ResourceValidationPolicy(
        name=rule,
        description=RULE_DESCRIPTIONS[rule],
        validate=_validator(rule),
        enforcement_level=default_enforcement(rule),
        config_schema=CONFIG_SCHEMA,
        severity=Severity.HIGH,
        tags=["resilient-stack", "security"],
    )


SECURITY_POLICIES: list[ResourceValidationPolicy] = [_policy(rule) for rule in SECURITY_RULE_IDS]
ssh_open_to_world, database_open_to_world, plaintext_secret_in_user_data = SECURITY_POLICIES
