"""What a verdict rests on: how much of the input was evaluated, which catalog, and its weakest fact.

A PASS is only as good as the facts under it: "GRA11 and WAW1 are on two sites" is worth the confidence the
catalog gives those two regions' placement and those sites' extent. :func:`weakest_fact` finds the lowest
confidence among the facts the placements of a report use (each resolved replica's region -> site and building,
and the site itself), so that every report can say "passes, resting on a low-confidence fact: WAW1's site".
Pure: plain data in, plain data out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement

CONFIDENCE_ORDER = ("unknown", "low", "medium", "high")  # weakest first


@dataclass(frozen=True, slots=True)
class Fact:
    confidence: str
    what: str  # "WAW1's site and building", "site ovh-warsaw (Warsaw)"

    def as_dict(self) -> dict:
        return {"confidence": self.confidence, "fact": self.what}


def _rank(confidence: str | None) -> int:
    return CONFIDENCE_ORDER.index(confidence) if confidence in CONFIDENCE_ORDER else 0  # unstated: unknown


def weakest_fact(placements: Iterable[Placement], catalog: Catalog) -> Fact | None:
    """The lowest-confidence catalog fact that a resolved placement uses (ties: the first in name order);
    ``None`` when no placement is resolved (then no verdict rests on the catalog)."""
    facts: dict[str, Fact] = {}
    for p in placements:
        if not p.resolved or not p.provider or not p.region:
            continue
        key = f"{p.provider}/{p.region}"
        if key in facts:
            continue
        region = catalog.region(p.provider, p.region)
        if region is None:  # resolved through a catalog the report no longer holds: say it, never assume
            facts[key] = Fact("unknown", f"{p.region}'s site and building (not in the catalog)")
            continue
        facts[key] = Fact(region.confidence, f"{region.name}'s site and building ({region.provider})")
        site = region.site
        facts.setdefault(f"site {site.id}", Fact(site.confidence, f"site {site.id} ({site.name}) as one campus"))
    if not facts:
        return None
    return min(sorted(facts.values(), key=lambda f: f.what), key=lambda f: _rank(f.confidence))


def scope(placements: Iterable[Placement], catalog: Catalog, coverage: dict | None) -> dict:
    """The scope of a report: resources read and evaluated, the catalogs (with the day each was gathered, when it
    says), and the weakest fact the placements rest on."""
    cov = coverage or {}
    weakest = weakest_fact(placements, catalog)
    return {
        "resources": cov.get("resources", 0),
        "evaluated": sum((cov.get("evaluated") or {}).values()),
        "catalogs": [{"name": name, "gathered": day} for name, day in catalog.gathered],
        "weakest_fact": weakest.as_dict() if weakest else None,
    }


def scope_line(s: dict, verdict: str) -> str:
    """``scope: 40 of 73 resources evaluated; catalog: built-in catalog (gathered 2026-11-25); passes, resting on a
    low-confidence fact: WAW1's site and building (ovhcloud)``."""
    catalogs = ", ".join(
        f"{c['name']} ({'gathered ' + c['gathered'] if c['gathered'] else 'undated'})" for c in s["catalogs"]
    )
    text = f"scope: {s['evaluated']} of {s['resources']} resources evaluated; catalog: {catalogs}"
    weakest = s["weakest_fact"]
    if weakest and verdict == "pass":
        text += f"; passes, resting on a {weakest['confidence']}-confidence fact: {weakest['fact']}"
    elif weakest:
        text += f"; the weakest fact used: {weakest['fact']}, {weakest['confidence']} confidence"
    return text
