"""role-label-mismatch: a role label names a role the resource cannot hold.

Checked while each resource is read (resilient_stack.core.resources.resource_issues)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="role-label-mismatch",
    family="reader",
    default="advisory",
    severity="medium",
    title="A role label names a role the resource cannot hold",
    description=(
        "A resilient-stack:role label names a role that the resource's type cannot hold (a container is never a database replica): the label is not honoured."
    ),
    fix="Label the resource with a role its type can hold.",
    scope="reader",
    check=None,
    checked_by="resilient_stack.core.resources.resource_issues",
)
