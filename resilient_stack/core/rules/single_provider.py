"""single-provider: a replica set's replicas sit at fewer than ``min_providers`` providers."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.sets import ReplicaSet
from resilient_stack.core.rules.text import names, suggest

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(s: ReplicaSet, config: RuleConfig, catalog: Catalog | None) -> Iterator[tuple[str, list[Placement]]]:
    if len(s.providers) + s.optimistic < config.min_providers:
        yield (
            f"{s.counted} at provider {names(p for p in s.providers if p) or 'none'}{s.tail}; "
            f"add placements so that at least {config.min_providers} providers hold one"
            + suggest(catalog, s.sites, set(), avoid_providers=s.providers),
            s.members,
        )


RULE = Rule(
    id="single-provider",
    family="placement",
    default="advisory",
    severity="medium",
    title="A replica set sits at one cloud provider",
    description=("All replicas of a replica set sit at one cloud provider: one provider outage takes them all."),
    fix="Add placements at a second provider.",
    scope="set",
    check=check,
)
