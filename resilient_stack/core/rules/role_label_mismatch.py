"""role-label-mismatch: a role label names a role the resource cannot hold.

Checked while each resource is read (resilient_stack.core.rules.reader)."""

from __future__ import annotations

from typing import Mapping

from resilient_stack.core.kinds import Kind, family_label, label_allowed
from resilient_stack.core.resources import ResourceView, _short
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.vocabulary import ROLE_KEY


def check(view: ResourceView, kind: Kind, labels: Mapping[str, str]) -> str | None:
    """Why the resource's role label is not honoured (its type cannot hold that role), or None."""
    label = labels.get(ROLE_KEY)
    if not label or label_allowed(label, kind.family):
        return None
    return (
        f"`{_short(view.urn)}` ({view.type}) is labelled {ROLE_KEY}={label!r}, a role that "
        f"{family_label(kind.family)} cannot hold: it counts as `{kind.role}`; label it with a role it "
        "can hold, or move the role to a resource that holds it"
    )


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
    check=check,
    checked_by="resilient_stack.core.rules.reader",
)
