"""How findings word their counts, places and suggestions (shared by the rules' messages)."""

from __future__ import annotations

from typing import AbstractSet, Any, Iterable

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import Placement


def plural(n: int, word: str, of: str = "") -> str:
    return f"{n} {word}{of}" if n == 1 else f"{n} {word}s{of}"


def all_of(n: int, what: str, of: str = "") -> str:
    """'the only `web` replica is' / 'all 3 `web` replicas are' (``of``: ' of managed database orders' after the
    noun)."""
    return f"the only {what}{of} is" if n == 1 else f"all {n} {what}s{of} are"


def names(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values)))


def suggest(
    catalog: Catalog | None,
    avoid_sites: set,
    prefer_provider: set,
    n: int = 2,
    avoid_providers: AbstractSet[Any] = frozenset(),
) -> str:
    """Name regions on other sites (same provider first, sourced ones only)."""
    if catalog is None:
        return ""
    picks: list[str] = []
    seen_sites = set(avoid_sites)
    regions = sorted(
        catalog.regions(),
        # same provider first, then catalog order; regions known only from inferences last
        key=lambda r: (r.provider not in prefer_provider, r.confidence in ("low", "unknown")),
    )
    for r in regions:
        if r.site.physical_id in seen_sites or r.provider in avoid_providers:
            continue
        seen_sites.add(r.site.physical_id)
        picks.append(r.name)
        if len(picks) == n:
            break
    return f", e.g. {' or '.join(picks)}" if picks else ""


def where(p: Placement) -> str:
    name = p.resource.rsplit("::", 1)[-1]
    return f"{name} ({p.region})" if p.region else name


def listed(members: list[Placement], n: int = 6) -> str:
    names = [where(m) for m in members]
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")
