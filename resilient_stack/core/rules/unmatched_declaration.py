"""unmatched-declaration: a declaration that matches nothing. The labels outside their vocabulary or hidden in a
secret are found by the readers (core.resources: resource_issues); here, what only the whole input shows: backups
that protect a role no replica has (or no role), and a quorum role named like an existing role but not it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.text import plural
from resilient_stack.core.vocabulary import near_miss

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(
    roles: list[str], backups: dict[tuple[str, str], list[Placement]], config: RuleConfig
) -> Iterator[tuple[str | None, str, list[Placement], str | None]]:
    """``(role, message, resources, set name)`` of each declaration that matches nothing."""
    for role, rset in sorted(backups):
        if role in roles or rset:
            continue  # a role's backups (every set of the role), or a set's own (a managed database's regions)
        bks = backups[(role, rset)]
        hint = near_miss(role, roles)
        if role == "?":
            yield (
                None,
                plural(len(bks), "backup") + " protect no role (no resilient-stack:protects label): "
                f"backup-colocated cannot judge {'it' if len(bks) == 1 else 'them'}; label each with the role whose "
                f"data it holds ({', '.join(roles) or 'none here'})",
                bks,
                None,
            )
            continue
        yield (
            role,
            ("the only backup" if len(bks) == 1 else f"all {len(bks)} backups") + f" protecting `{role}` "
            f"{'protects' if len(bks) == 1 else 'protect'} a role that no replica has"
            + (f" (did you mean `{hint}`?)" if hint else f" (the roles: {', '.join(roles) or 'none'})")
            + f": backup-colocated and backup-shares-project cannot judge {'it' if len(bks) == 1 else 'them'}; "
            "set resilient-stack:protects to the role of the replicas whose data it holds",
            bks,
            role,
        )
    for role in sorted(config.quorum_roles - set(roles)):
        hint = near_miss(role, roles)
        if hint:  # an organisation's quorum roles may name roles this stack does not run; a near miss is a typo
            yield (
                role,
                f"the quorum role `{role}` matches no replica (did you mean `{hint}`?): site-majority never "
                f"counts `{hint}`'s voting members; correct quorum_roles",
                [],
                None,
            )


RULE = Rule(
    id="unmatched-declaration",
    family="reader",
    default="mandatory",
    severity="high",
    title="A declaration matches nothing",
    description=(
        "A declaration matches nothing: a resilient-stack label (role, quorum, protects, storage-of) spelled outside its vocabulary (wrong case, a plural, `yes`) or hidden in a secret, a backup protecting a role no replica has, or a quorum role named like an existing role but not it: the rule it would feed is never applied."
    ),
    fix="Spell the label from its vocabulary, in plain text, and name a role some replica has.",
    scope="declarations",
    check=check,
)
