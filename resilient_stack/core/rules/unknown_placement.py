"""unknown-placement: a replica whose site cannot be resolved from the catalog (fails closed)."""

from __future__ import annotations

from resilient_stack.core.placement import BACKUP_ROLE, Placement
from resilient_stack.core.rules.rule import Rule


def check(p: Placement) -> str:
    what = f"`{p.role}` backup of `{p.protects}`" if p.role == BACKUP_ROLE else f"`{p.role}` replica"
    return (
        f"cannot place {what} {p.resource}: {p.problem or 'site unknown'}; "
        "set an explicit region (and auth URL or cloud) that the catalog knows, or extend it (the auditor's "
        "--catalog; a stack's policy.catalog, e.g. for your clouds.yaml entry names)"
    )


RULE = Rule(
    id="unknown-placement",
    family="placement",
    default="mandatory",
    severity="high",
    title="A replica cannot be placed",
    description=(
        "A replica's site cannot be resolved from the catalog, so its survival cannot be proven (fails closed)."
    ),
    fix="Give the replica an explicit region (and auth URL or cloud) that the catalog knows, or extend the catalog.",
    scope="placement",
    check=check,
)
