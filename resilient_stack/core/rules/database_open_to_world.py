"""database-open-to-world: a database port is open to the world.

Checked by the security collector, as the resources stream by (resilient_stack.core.security)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="database-open-to-world",
    family="security",
    default="mandatory",
    severity="high",
    title="A database port is open to the world",
    description=(
        "The ingress rules of a security group, together, open a database port (TCP 5432 or 3306) to the world: more public addresses than a /8."
    ),
    fix="Admit the database port from the application's and the peers' addresses only.",
    scope="security",
    check=None,
    checked_by="resilient_stack.core.security",
)
