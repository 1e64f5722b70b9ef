"""port-security-disabled: port security is disabled.

Checked by the security collector, as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="port-security-disabled",
    family="security",
    default="mandatory",
    severity="high",
    title="Port security is disabled",
    description=(
        "A port (or a network, for the ports created on it) has portSecurityEnabled: false: no security group and no anti-spoofing filter its traffic."
    ),
    fix="Keep portSecurityEnabled on (the default) and filter with security groups.",
    scope="security",
    check=None,
    checked_by="resilient_stack.core.security",
)
