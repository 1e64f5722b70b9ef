"""single-site: a replica set's replicas sit on fewer than ``min_sites`` sites (SBG5 and SBG7 are one)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.rule import Rule
from resilient_stack.core.rules.sets import ReplicaSet
from resilient_stack.core.rules.text import plural, suggest

if TYPE_CHECKING:
    from resilient_stack.core.rules.model import RuleConfig


def check(s: ReplicaSet, config: RuleConfig, catalog: Catalog | None) -> Iterator[tuple[str, list[Placement]]]:
    if len(s.sites) + s.optimistic < config.min_sites:
        where = (
            f"site {s.site_names} ({s.regions})"
            if len(s.sites) == 1
            else f"{plural(len(s.sites), 'site')}: {s.site_names}"
        )
        yield (
            f"{s.counted} in {where}{s.tail}; add a placement in another site" + suggest(catalog, s.sites, s.providers),
            s.members,
        )


RULE = Rule(
    id="single-site",
    family="placement",
    default="mandatory",
    severity="high",
    title="A replica set sits on one site",
    description=(
        "All replicas of a replica set sit on one site or campus (e.g. Strasbourg SBG1-SBG4): one site disaster takes them all."
    ),
    fix="Add a placement on another site (a region of another campus).",
    scope="set",
    check=check,
)
