"""single-building: a replica set's replicas sit in fewer than ``min_buildings`` buildings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.sets import ReplicaSet
from resilient_stack.core.rules.text import names, plural, suggest

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(s: ReplicaSet, config: RuleConfig, catalog: Catalog | None) -> Iterator[tuple[str, list[Placement]]]:
    if len(s.buildings) + s.optimistic < config.min_buildings:
        where = (
            f"building {names(s.buildings)}"
            if len(s.buildings) == 1
            else f"{plural(len(s.buildings), 'building')} ({names(s.buildings)})"
        )
        yield (
            f"{s.counted} in {where}{s.tail}; "
            f"spread them over at least {config.min_buildings} buildings: another availability zone or region"
            + suggest(catalog, s.sites, s.providers),
            s.members,
        )


RULE = Rule(
    id="single-building",
    family="placement",
    default="mandatory",
    severity="high",
    title="A replica set sits in one building",
    description=(
        "All replicas of a replica set (a role, or one managed cluster) sit in one building (datacenter or availability zone): one fire takes them all."
    ),
    fix="Spread the replicas over another availability zone or region.",
    scope="set",
    check=check,
)
