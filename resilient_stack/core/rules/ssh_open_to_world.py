"""ssh-open-to-world: SSH is open to the world.

Checked by the security collector, as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="ssh-open-to-world",
    family="security",
    default="mandatory",
    severity="high",
    title="SSH is open to the world",
    description=(
        "The ingress rules of a security group, together, open SSH (TCP 22) to the world: more public addresses than a /8 (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1)."
    ),
    fix="Admit SSH from the operators' address ranges only.",
    scope="security",
    check=None,
    checked_by="resilient_stack.core.security",
)
