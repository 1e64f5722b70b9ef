"""The rules: placements in, findings out. Pure Python, no Pulumi import.

This is the ONE implementation of every rule: the auditor CLI, the CrossGuard policy pack and the Pulumi
components all call :func:`evaluate` (and the readers and the security collector raise the findings of the rules
they check as they read). Each rule is one object in its own module (``single_site.py``, ``backup_colocated.py``,
... one per rule id: :class:`~.rule.Rule` with its id, levels, severity, title, description, fix and check),
collected by :mod:`.registry`; :mod:`.engine` groups the replicas in replica sets and runs them; :mod:`.model`
holds what they produce (findings, reports) and are configured with (organisation settings, exemptions).

| rule | scope | checked by |
|---|---|---|
| single-building, single-site, single-provider, site-majority | a replica set | the engine |
| backup-colocated, backup-shares-project | a replica set and its backups | the engine |
| unknown-placement | a placement that cannot be resolved | the engine |
| unmatched-declaration | labels (readers), backups and quorum roles (the engine) | both |
| unclassified-resource, role-label-mismatch | one resource | core.resources |
| ssh-open-to-world, database-open-to-world, unknown-security-rule, unknown-preview-security-rule, port-security-disabled, plaintext-secret-in-user-data | security groups, ports, user data | core.security |
"""

from __future__ import annotations

from resilient_stack.core.rules.engine import evaluate
from resilient_stack.core.rules.model import (
    DesignRejected,
    Exemption,
    Finding,
    Report,
    RuleConfig,
    exempted,
    fingerprint,
    reader_findings,
    with_findings,
)
from resilient_stack.core.rules.registry import (
    LEVELS,
    PLACEMENT_RULE_IDS,
    PROFILES,
    RULE_BY_ID,
    RULE_DESCRIPTIONS,
    RULE_IDS,
    RULES,
    SECURITY_RULE_IDS,
    default_level,
)
from resilient_stack.core.rules.rule import Rule

__all__ = [
    "DesignRejected",
    "Exemption",
    "Finding",
    "LEVELS",
    "PLACEMENT_RULE_IDS",
    "PROFILES",
    "RULES",
    "RULE_BY_ID",
    "RULE_DESCRIPTIONS",
    "RULE_IDS",
    "Report",
    "Rule",
    "RuleConfig",
    "SECURITY_RULE_IDS",
    "default_level",
    "evaluate",
    "exempted",
    "fingerprint",
    "reader_findings",
    "with_findings",
]
