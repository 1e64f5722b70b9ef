"""The reader rules' per-resource checks, run by the estate (:mod:`resilient_stack.core.estate`) as each resource
is read, whatever the input (a stack export, a preview, the pack's stack): each rule's check is in its own module.

- ``unmatched-declaration`` (:func:`.unmatched_declaration.check_labels`): a label outside its vocabulary, or
  labels hidden in a secret;
- ``role-label-mismatch`` (:func:`.role_label_mismatch.check`): a role label the resource's type cannot hold (it
  keeps its own role); not said when its labels are already unreadable or misspelled;
- ``unclassified-resource`` (:func:`.unclassified_resource.check`): a custom resource of a type the auditor does
  not know that carries a region or a role label.
"""

from __future__ import annotations

from resilient_stack.core.kinds import KINDS, UNCLASSIFIED, classify
from resilient_stack.core.resources import ResourceView, labels_of
from resilient_stack.core.rules import role_label_mismatch, unclassified_resource, unmatched_declaration


def resource_issues(view: ResourceView) -> list[tuple[str, str, str | None, str]]:
    """Findings about one resource that are not placements: ``(rule, urn, role, message)``."""
    kind = KINDS.get(view.type)
    if kind is not None:
        if not kind.labels:
            return []
        labels = labels_of(view)
        found = unmatched_declaration.check_labels(view, labels, kind.role)
        if not found:
            mismatch = role_label_mismatch.check(view, kind, labels)
            if mismatch:
                found.append((role_label_mismatch.RULE.id, view.urn, kind.role, mismatch))
        return found
    if classify(view.type, view.custom) != UNCLASSIFIED:
        return []
    unclassified = unclassified_resource.check(view)
    if unclassified is None:
        return []
    role, message = unclassified
    return [(unclassified_resource.RULE.id, view.urn, role, message)]
