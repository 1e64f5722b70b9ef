"""backup-shares-project: no backup of a replica set is PROVEN to sit in a cloud project that holds none of its
replicas (whoever holds that project's credentials can delete the data and its backups together)."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement, project_label, same_project
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.sets import BackupSet
from resilient_stack.core.rules.text import listed, where

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(b: BackupSet, config: RuleConfig, catalog: Catalog | None) -> Iterator[tuple[str, list[Placement]]]:
    message = shared_project(b.unit, b.backups, b.replicas)
    if message:
        yield message, b.backups


def shared_project(role: str, bks: list[Placement], members: list[Placement]) -> str | None:
    """backup-shares-project: the finding's message when no backup of ``role`` is PROVEN to sit in a project that
    holds none of its replicas (a project that cannot be compared counts as shared: fails closed), else None.

    Whether two placements share a project depends only on their (provider, project): replicas are compared by
    those groups, and backups of one group get one answer, so big estates cost groups, not pairs."""
    if not members:
        return None
    groups: dict[tuple, list[Placement]] = defaultdict(list)
    for m in members:
        groups[(m.provider, m.project, m.project_problem)].append(m)
    answers: dict[tuple, tuple[list[Placement], list[Placement], dict[str, list[Placement]]]] = {}
    parts: list[str] = []
    any_unknown = False
    for b in bks:
        key = (b.provider, b.project, b.project_problem)
        if key not in answers:
            shared: list[Placement] = []
            unknown: list[Placement] = []
            why: dict[str, list[Placement]] = defaultdict(list)  # reason -> the replicas whose project it hides
            for group in groups.values():
                same = same_project(b, group[0])
                if same:
                    shared += group
                elif same is None:
                    unknown += group
                    m = group[0]
                    if b.project is None:
                        why[b.project_problem or "project unknown"] = []
                    elif m.project is None:
                        why[m.project_problem or "project unknown"] += group
                    else:
                        why[f"{project_label(b.project)} and {project_label(m.project)} cannot be compared"] = []
            answers[key] = (shared, unknown, why)
        shared, unknown, why = answers[key]
        if not shared and not unknown:
            return None  # a backup in a project of its own
        any_unknown = any_unknown or bool(unknown)
        if len(parts) == 6:
            continue  # the message names six backups; the finding names them all
        text = []
        if shared:
            text.append(f"{where(b)} is in {project_label(b.project or '')}, which also holds {listed(shared)}")
        if unknown:
            reasons = []
            for reason, hidden in sorted(why.items()):
                if hidden:  # the replicas whose project is unknown
                    reasons.append(f"{listed(hidden)}: {reason}")
                else:  # the backup's own project unknown, or two identities that cannot be compared
                    reasons.append(f"{where(b)}: {reason}" if b.project is None else reason)
            text.append(
                f"whether {where(b)} shares a project with {listed(unknown)} cannot be told ({'; '.join(reasons)})"
            )
        parts.append("; ".join(text))
    if len(bks) > len(parts):
        parts.append(f"and {len(bks) - len(parts)} more backups")
    if any_unknown:
        head = f"no backup of `{role}` is known to be in a project that holds no `{role}` replica"
    else:
        lead = "the only backup" if len(bks) == 1 else f"each of the {len(bks)} backups"
        head = f"{lead} of `{role}` is in a project that also holds `{role}` replicas"
    return (
        f"{head}: " + "; ".join(parts) + "; whoever holds that project's credentials can delete the data and "
        "its backups together: keep at least one backup in a project of its own (a clouds.yaml entry of a project "
        "that holds only the backups, e.g. a second OVHcloud Public Cloud project)"
        + (
            "; to compare two projects, identify both the same way (`cloud`, or the provider's `tenantId`)"
            if any_unknown
            else ""
        )
    )


RULE = Rule(
    id="backup-shares-project",
    family="placement",
    default="advisory",
    severity="medium",
    title="A replica set's backups share its cloud project",
    description=(
        "A role's backups all sit in a cloud project (a clouds.yaml entry, a project id) that also holds its replicas: whoever holds that project's credentials can delete the data and its backups together."
    ),
    fix="Keep at least one backup in a project of its own (its own clouds.yaml entry or project id).",
    scope="backups",
    check=check,
)
