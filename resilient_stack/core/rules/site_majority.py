"""site-majority: one site holds half or more of a replica set's voting members (``resilient-stack:quorum``, or its
role in ``quorum_roles``): losing it loses the quorum."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.sets import ReplicaSet
from resilient_stack.core.rules.text import plural, suggest

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(s: ReplicaSet, config: RuleConfig, catalog: Catalog | None) -> Iterator[tuple[str, list[Placement]]]:
    voting = [p for p in s.members if p.quorum or s.role in config.quorum_roles]
    if not voting:
        return
    nv = len(voting)
    per_site: dict[str, int] = defaultdict(int)
    for p in voting:
        per_site[p.site or f"unplaced:{p.resource}"] += 1
    site_names = {p.site: p.site_name for p in voting if p.site}
    for site_id, count in sorted(per_site.items(), key=lambda kv: -kv[1]):
        remaining = nv - count
        if remaining * 2 <= nv:
            label = site_names.get(site_id, "an unplaced location")
            yield (
                f"{count} of {plural(nv, f'`{s.role}` voting member', s.of)} are in site {label}; losing it "
                f"leaves {remaining}, not a majority of {nv}: spread the members so that no site holds half or more"
                + suggest(catalog, {site_id}, s.providers),
                voting,
            )
            return


RULE = Rule(
    id="site-majority",
    family="placement",
    default="mandatory",
    severity="high",
    title="One site holds half or more of a quorum's voting members",
    description=("One site holds so many voting members of a quorum role that losing it loses the quorum."),
    fix="Spread the voting members so that no site holds half or more of them.",
    scope="set",
    check=check,
)
