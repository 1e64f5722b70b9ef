"""The registry: every rule, in report order, from its own module (one module per rule id in this package).

Adding a rule is one module with its ``RULE`` (see :class:`.rule.Rule`) and one line here; the pack's policies,
``explain``, SARIF's rules and the docs' table read it from :data:`RULES`.
"""

from __future__ import annotations

from resilient_stack.core.rules import (  # noqa: I001 - the rule modules, one per rule id
    backup_colocated,
    backup_shares_project,
    database_open_to_world,
    plaintext_secret_in_user_data,
    port_security_disabled,
    role_label_mismatch,
    single_building,
    single_provider,
    single_site,
    site_majority,
    ssh_open_to_world,
    unclassified_resource,
    unknown_placement,
    unknown_preview_security_rule,
    unknown_security_rule,
    unmatched_declaration,
)
from resilient_stack.core.rules.rule import Rule

RULES: tuple[Rule, ...] = tuple(
    m.RULE
    for m in (
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
        ssh_open_to_world,
        database_open_to_world,
        unknown_security_rule,
        unknown_preview_security_rule,
        port_security_disabled,
        plaintext_secret_in_user_data,
    )
)
RULE_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
PLACEMENT_RULE_IDS = tuple(r.id for r in RULES if r.family != "security")
SECURITY_RULE_IDS = tuple(r.id for r in RULES if r.family == "security")
RULE_IDS = PLACEMENT_RULE_IDS + SECURITY_RULE_IDS
LEVELS = ("mandatory", "advisory", "disabled")
PROFILES = ("default", "strict")
RULE_DESCRIPTIONS = {r.id: r.description for r in RULES}
PROFILE_LEVELS = {
    "default": {r.id: r.default for r in RULES},
    "strict": {r.id: "mandatory" for r in RULES},
}
# Findings are listed blocking first, then in this order: root causes first (an unplaced replica
# explains the diversity findings that follow), security findings last.
RULE_ORDER = {
    r: i
    for i, r in enumerate(
        ("unknown-placement",) + tuple(r for r in PLACEMENT_RULE_IDS if r != "unknown-placement") + SECURITY_RULE_IDS
    )
}
SET_RULES = tuple(r for r in RULES if r.scope == "set")
BACKUP_RULES = tuple(r for r in RULES if r.scope == "backups")

assert len(RULE_BY_ID) == len(RULES), "two rules with one id"
# a security rule judged across a security group's rules (core.security) has no check of its own
assert all(r.check is not None or r.scope == "security" for r in RULES), "a rule without its check"


def default_level(rule: str, profile: str = "default") -> str:
    """The level of ``rule`` in ``profile`` before any per-rule override."""
    return PROFILE_LEVELS[profile][rule]
