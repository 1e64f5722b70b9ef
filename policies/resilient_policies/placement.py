"""The placement rules as stack validation policies: one policy per rule id of :mod:`resilient_stack.core.rules`.

Each policy maps the stack's resources to :class:`resilient_stack.core.resources.ResourceView`, hands them with
their provider's props (``region``, ``authUrl``, ``cloud``, and for the project ``tenantId``/``tenantName``) to
an :class:`resilient_stack.core.estate.Estate` and judges it with :func:`resilient_stack.core.estate.audit` -- the
pipeline of ``resilient-stack audit`` and of the components -- then reports its own rule's findings with the rules
module's messages.

Evaluated ONCE per stack: the SDK's servicer builds a fresh ``StackValidationArgs`` (and fresh resource
objects) for every policy, so the result is cached by the args object (a second call with the same args)
AND by a fingerprint of the resources and settings (the stack policies of one ``AnalyzeStack`` call).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable

from pulumi_policy import (
    ReportViolation,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)

from resilient_stack.core.estate import Estate, audit
from resilient_stack.core.estate import Settings as PipelineSettings
from resilient_stack.core.kinds import KINDS, UNCLASSIFIED, classify
from resilient_stack.core.rules import (
    PLACEMENT_RULE_IDS,
    RULE_BY_ID,
    RULE_DESCRIPTIONS,
    Finding,
    Report,
)

from .config import CONFIG_SCHEMA, Settings, default_enforcement, settings_from
from .resources import fingerprint, provider_props, stack_view

_lock = threading.Lock()
_by_args: "weakref.WeakKeyDictionary[Any, dict[str, Report]]" = weakref.WeakKeyDictionary()
_by_content: "OrderedDict[str, Report]" = OrderedDict()
_CONTENT_MAX = 8
evaluations = 0  # how many times the rules really ran (tests check the cache with it)


def _evaluate(args: StackValidationArgs, settings: Settings) -> Report:
    global evaluations
    candidates = [
        r
        for r in list(getattr(args, "resources", None) or [])
        # providers, networks, rules, components: never placed, so never read; unknown types are read for
        # unclassified-resource
        if _candidate(str(getattr(r, "resource_type", "") or ""), getattr(r, "provider", None) is not None)
    ]
    key = fingerprint(settings.key, candidates)
    if key is not None:
        with _lock:
            hit = _by_content.get(key)
            if hit is not None:
                _by_content.move_to_end(key)
                return hit
    # the auditor's pipeline (core.estate): each resource viewed, with its provider's properties read once per
    # provider; the security defaults are the security policies' (resilient_policies.security)
    estate = Estate(settings.catalog)
    providers: dict[str, tuple[dict[str, Any] | None, str | None]] = {}
    for r in candidates:
        view = stack_view(r)
        provider = getattr(r, "provider", None)
        purn = getattr(provider, "urn", None)
        found = providers.get(purn) if isinstance(purn, str) else None
        if found is None:
            found = provider_props(provider)  # one copy per provider, not one per resource
            if isinstance(purn, str):
                providers[purn] = found
        estate.add_view(view, *found)
    report = audit(estate, PipelineSettings(settings.rules, settings.catalog))
    with _lock:
        evaluations += 1
        if key is not None:
            _by_content[key] = report
            while len(_by_content) > _CONTENT_MAX:
                _by_content.popitem(last=False)
    return report


def _candidate(typ: str, custom: bool) -> bool:
    return typ in KINDS or classify(typ, custom) == UNCLASSIFIED


def stack_report(args: StackValidationArgs, settings: Settings) -> Report:
    """The rules' report for this stack and these settings, evaluated once."""
    with _lock:
        try:
            hit = _by_args.get(args, {}).get(settings.key)
        except TypeError:  # an args object that cannot be weakly referenced
            hit = None
    if hit is not None:
        return hit
    report = _evaluate(args, settings)
    with _lock:
        try:
            _by_args.setdefault(args, {})[settings.key] = report
        except TypeError:
            pass
    return report


def _short(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def violation(finding: Finding) -> tuple[str, str | None]:
    """(message, urn) of a finding: on its resource when it names one, else on the stack with the names."""
    if len(finding.resources) == 1:
        return finding.message, finding.resources[0]
    names = [_short(u) for u in finding.resources]
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    return f"{finding.message} [resources: {shown}]", None


def _validator(rule: str) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings = settings_from(args.get_config(), rule)
        if settings.rules.level(rule) == "disabled":
            return
        for finding in stack_report(args, settings).findings:
            if finding.rule == rule and finding.exempted is None:
                message, urn = violation(finding)
                report_violation(message, urn)

    validate.__name__ = f"validate_{rule.replace('-', '_')}"
    return validate


def _policy(rule: str) -> StackValidationPolicy:
    return StackValidationPolicy(
        name=rule,
        description=RULE_DESCRIPTIONS[rule],
        validate=_validator(rule),
        enforcement_level=default_enforcement(rule),
        config_schema=CONFIG_SCHEMA,
        severity=Severity.MEDIUM if RULE_BY_ID[rule].severity == "medium" else Severity.HIGH,
        tags=["resilient-stack", "placement"],
    )


PLACEMENT_POLICIES: list[StackValidationPolicy] = [_policy(rule) for rule in PLACEMENT_RULE_IDS]
(
    single_building,
    single_site,
    single_provider,
    backup_colocated,
    backup_shares_project,
    site_majority,
    unknown_placement,
    unclassified_resource,
    role_label_mismatch,
    unmatched_declaration,
) = PLACEMENT_POLICIES
