"""One rule object per module (issue 26, point 7): each rule id has its module in resilient_stack/core/rules/, named
after it, holding its whole Rule; the registry holds them all once, in report order, and every consumer reads it."""

from __future__ import annotations

import importlib
import pkgutil

import resilient_stack.core.rules as rules_pkg
from resilient_stack.core.rules import RULE_BY_ID, RULE_DESCRIPTIONS, RULE_IDS, RULES, default_level

INFRASTRUCTURE = {"engine", "model", "reader", "registry", "rule", "sets", "text"}


def test_each_rule_is_one_object_in_the_module_named_after_it():
    modules = {m.name for m in pkgutil.iter_modules(rules_pkg.__path__)} - INFRASTRUCTURE
    assert modules == {rid.replace("-", "_") for rid in RULE_IDS}
    for name in modules:
        rule = importlib.import_module(f"resilient_stack.core.rules.{name}").RULE
        assert rule is RULE_BY_ID[name.replace("_", "-")]
        assert rule.title and rule.description and rule.fix and rule.severity in ("high", "medium")
        assert rule.default in ("mandatory", "advisory") and default_level(rule.id, "strict") == "mandatory"
        if rule.scope == "security":
            assert rule.checked_by == "resilient_stack.core.security"  # which runs it as the resources stream by
        if rule.check is None:  # judged across a security group's rules, in core.security
            assert rule.id in (
                "ssh-open-to-world",
                "database-open-to-world",
                "unknown-security-rule",
                "unknown-preview-security-rule",
            )
        else:
            assert callable(rule.check) and rule.check.__module__ == f"resilient_stack.core.rules.{name}"


def test_the_registry_lists_every_rule_once_and_the_tables_are_derived_from_it():
    assert len(RULES) == len(set(RULE_IDS)) == len(RULE_IDS)
    assert RULE_DESCRIPTIONS == {r.id: r.description for r in RULES}
    assert [r.id for r in RULES if r.family == "security"] == list(RULE_IDS[-6:])


def test_the_pack_has_one_policy_per_rule_with_the_rules_metadata():
    import resilient_policies

    policies = {p.name: p for p in resilient_policies.POLICIES}
    for rule in RULES:
        policy = policies[rule.id]
        assert policy.description == rule.description
        assert str(policy.severity).lower().endswith(rule.severity) or rule.family == "security"
