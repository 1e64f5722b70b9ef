"""The paper fire drill: for every failure domain at one level, what is lost and what survives.

A placement that could not be resolved never counts as surviving (fails closed). A role with voting members
(``resilient-stack:quorum``, a design's or config's ``quorum_roles``) whose surviving members are not a
strict majority of its members accepts no writes: it counts as DOWN ("writes: quorum lost").
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

from resilient_stack.core.placement import BACKUP_ROLE, Placement
from resilient_stack.core.vocabulary import DATA_ROLES

DRILL_LEVELS = ("building", "site", "region", "provider")


def domain_of(p: Placement, level: str) -> tuple[str, str] | None:
    """(key, display name) of the placement's domain at ``level``; None when unresolved."""
    if not p.resolved:
        return None
    if level == "building":
        return f"{p.site}|{p.building}", str(p.building)
    if level == "site":
        return str(p.site), str(p.site_name)
    if level == "region":
        return f"{p.provider}|{p.region}", f"{p.region} ({p.provider})"
    if level == "provider":
        return str(p.provider), str(p.provider)
    raise ValueError(f"unknown drill level {level!r}; expected one of {', '.join(DRILL_LEVELS)}")


@dataclass(frozen=True, slots=True)
class Scenario:
    level: str
    name: str
    roles: dict[str, tuple[int, int]]  # role -> (surviving, total)
    service_survives: bool
    data_survives: bool
    down_roles: tuple[str, ...]
    data_lost: tuple[str, ...]
    quorum_lost: tuple[str, ...] = ()  # roles up, but without a majority of their voting members: no writes

    def as_dict(self) -> dict:
        return {
            "lost": {"level": self.level, "name": self.name},
            "roles": {r: {"surviving": s, "total": t} for r, (s, t) in sorted(self.roles.items())},
            "service_survives": self.service_survives,
            "data_survives": self.data_survives,
            "down_roles": list(self.down_roles),
            "data_lost": list(self.data_lost),
            "quorum_lost": list(self.quorum_lost),
        }



@dataclass(frozen=True, slots=True)
class DrillReport:
    """A paper drill of one input: its scenarios, and what it rests on and what made it (as an audit report)."""

    scenarios: list[Scenario]
    scope: dict | None = None  # core.scope.scope
    provenance: dict | None = None  # the tool's version, the time, the input's SHA-256

    @property
    def verdict(self) -> str:
        return "pass" if all(s.service_survives and s.data_survives for s in self.scenarios) else "fail"


def drill(placements: Iterable[Placement], level: str = "site", quorum_roles: Iterable[str] = ()) -> list[Scenario]:
    if level not in DRILL_LEVELS:
        raise ValueError(f"unknown drill level {level!r}; expected one of {', '.join(DRILL_LEVELS)}")
    placements = list(placements)
    keyed = [(p, domain_of(p, level)) for p in placements]
    domains: dict[str, str] = {}
    for _, d in keyed:
        if d is not None:
            domains.setdefault(d[0], d[1])
    roles = sorted({p.role for p in placements})
    quorum_roles = set(quorum_roles)
    voters: dict[str, int] = defaultdict(int)
    for p in placements:
        if p.role != BACKUP_ROLE and (p.quorum or p.role in quorum_roles):
            voters[p.role] += 1
    data_roles = {p.role for p in placements if p.role in DATA_ROLES}
    data_roles |= {p.protects for p in placements if p.role == BACKUP_ROLE and p.protects}
    scenarios: list[Scenario] = []
    for key, name in sorted(domains.items(), key=lambda kv: kv[1]):
        surviving: dict[str, int] = defaultdict(int)
        total: dict[str, int] = defaultdict(int)
        backup_alive: dict[str, int] = defaultdict(int)
        voting_alive: dict[str, int] = defaultdict(int)
        for p, d in keyed:
            total[p.role] += 1
            alive = d is not None and d[0] != key
            if alive:
                surviving[p.role] += 1
                if p.role != BACKUP_ROLE and (p.quorum or p.role in quorum_roles):
                    voting_alive[p.role] += 1
                if p.role == BACKUP_ROLE and p.protects:
                    backup_alive[p.protects] += 1
        no_quorum = tuple(r for r in roles if voters.get(r) and surviving[r] and voting_alive[r] * 2 <= voters[r])
        down = tuple(r for r in roles if r != BACKUP_ROLE and (surviving[r] == 0 or r in no_quorum))
        lost_data = tuple(
            sorted(r for r in data_roles if surviving.get(r, 0) == 0 and backup_alive.get(r, 0) == 0)
        )
        scenarios.append(
            Scenario(
                level=level,
                name=name,
                roles={r: (surviving[r], total[r]) for r in roles},
                service_survives=not down,
                data_survives=not lost_data,
                down_roles=down,
                data_lost=lost_data,
                quorum_lost=no_quorum,
            )
        )
    return scenarios
