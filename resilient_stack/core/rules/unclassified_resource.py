"""unclassified-resource: a resource of an unknown type carries a region or a role.

Checked while each resource is read (resilient_stack.core.resources.resource_issues)."""

from __future__ import annotations

from resilient_stack.core.rules.rule import Rule

RULE = Rule(
    id="unclassified-resource",
    family="reader",
    default="advisory",
    severity="medium",
    title="A resource of an unknown type carries a region or a role",
    description=(
        "A custom resource of a type the auditor does not know carries a region or a role label: it may hold a replica that no rule evaluates."
    ),
    fix="Extend the auditor's types (docs/extending.md), or remove the label.",
    scope="reader",
    check=None,
    checked_by="resilient_stack.core.resources.resource_issues",
)
