"""backup-colocated: no backup of a replica set sits on a site that holds none of its replicas."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.sets import BackupSet
from resilient_stack.core.rules.text import names, suggest

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(b: BackupSet, config: RuleConfig, catalog: Catalog | None) -> Iterator[tuple[str, list[Placement]]]:
    bks = b.backups
    replica_sites = {p.site for p in b.replicas if p.resolved}
    placed_bks = [x for x in bks if x.resolved]
    if not any(x.site not in replica_sites for x in placed_bks):
        where = names(x.site_name or "" for x in placed_bks) or "an unknown place"
        yield (
            ("the only backup" if len(bks) == 1 else f"all {len(bks)} backups")
            + f" of `{b.unit}` {'is' if len(bks) == 1 else 'are'} in {where}, which also holds its replicas; "
            f"keep at least one backup in a site with no `{b.unit}` replica"
            + suggest(
                catalog,
                replica_sites | {x.site for x in placed_bks if x.site},
                {x.provider for x in placed_bks if x.provider},
            ),
            bks,
        )


RULE = Rule(
    id="backup-colocated",
    family="placement",
    default="mandatory",
    severity="high",
    title="A replica set's backups share its site",
    description=(
        "A role's backups all sit on a site that also holds its replicas: the disaster that takes the data takes the backups."
    ),
    fix="Keep at least one backup on a site that holds no replica of the set.",
    scope="backups",
    check=check,
)
