"""unknown-security-rule: a security rule that may open SSH or a database port cannot be read.

Checked by the security collector, as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="unknown-security-rule",
    family="security",
    default="mandatory",
    severity="high",
    title="A security rule that may open SSH or a database port cannot be read",
    description=(
        "A security group rule that may open SSH or a database port has a secret or unreadable remote prefix, port, protocol or direction: whether the port is open to the world cannot be told (fails closed)."
    ),
    fix="Make the rule's prefix, port, protocol and direction plain values, not secrets.",
    scope="security",
    check=None,
    checked_by="resilient_stack.core.security",
)
