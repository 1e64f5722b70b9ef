"""unclassified-resource: a resource of an unknown type carries a region or a role.

Checked while each resource is read (resilient_stack.core.rules.reader), for a custom resource of a type the
auditor does not know (core.kinds)."""

from __future__ import annotations

from resilient_stack.core.kinds import REGION_HINT_KEYS
from resilient_stack.core.resources import ResourceView, _short, labels_of
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.vocabulary import ROLE_KEY


def check(view: ResourceView) -> tuple[str | None, str] | None:
    """``(its role label, message)`` when the resource carries a region or a role label: it may hold a replica that
    no rule can see; None otherwise."""
    hints = []
    for props in (view.inputs, view.outputs):
        if type(props) is dict:
            hints += [k for k in REGION_HINT_KEYS if props.get(k) not in (None, "", [], {})]
    labels = labels_of(view)
    if labels.get(ROLE_KEY):
        hints.append(f"{ROLE_KEY}={labels[ROLE_KEY]}")
    if not hints:
        return None
    what = ", ".join(dict.fromkeys(hints))
    return labels.get(ROLE_KEY), (
        f"`{_short(view.urn)}` is of type {view.type}, which the auditor does not know, and it carries {what}: "
        "it may hold a replica that no rule evaluates; replace it with a type the auditor places, extend the "
        "auditor, or exempt it"
    )


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
    check=check,
    checked_by="resilient_stack.core.rules.reader",
)
