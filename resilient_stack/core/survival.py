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
    roles: dict[str, tuple[int, int]]  # replica set (a role, or a role of a managed cluster) -> (surviving, total)
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
    """One scenario per failure domain at ``level``. Counted per replica set (:attr:`Placement.unit`: a role across
    the input, or a managed cluster's own nodes): a replica of one set never keeps another set up. A backup of a
    role (no set of its own) keeps the data of every set of that role."""
    if level not in DRILL_LEVELS:
        raise ValueError(f"unknown drill level {level!r}; expected one of {', '.join(DRILL_LEVELS)}")
    placements = list(placements)
    keyed = [(p, domain_of(p, level), p.unit if p.role != BACKUP_ROLE else BACKUP_ROLE) for p in placements]
    domains: dict[str, str] = {}
    for _, d, _ in keyed:
        if d is not None:
            domains.setdefault(d[0], d[1])
    units = sorted({u for _, _, u in keyed})
    role_units: dict[str, list[str]] = defaultdict(list)  # role -> the units (replica sets) of that role
    for p, _, u in keyed:
        if p.role != BACKUP_ROLE and u not in role_units[p.role]:
            role_units[p.role].append(u)
    quorum_roles = set(quorum_roles)

    def protected(p: Placement) -> list[str]:
        """The units whose data a backup keeps: its set's, else every set of the role it protects (or the role's
        name when no replica has it: the data is still the role's)."""
        if p.replica_set:
            return [p.unit]
        return role_units.get(p.protects or "", []) or [p.protects] if p.protects else []

    def votes(p: Placement) -> bool:
        return p.role != BACKUP_ROLE and (p.quorum or p.role in quorum_roles)

    voters: dict[str, int] = defaultdict(int)
    for p, _, u in keyed:
        if votes(p):
            voters[u] += 1
    data_units = {u for p, _, u in keyed if p.role in DATA_ROLES}
    for p, _, _ in keyed:
        if p.role == BACKUP_ROLE:
            data_units.update(protected(p))
    scenarios: list[Scenario] = []
    for key, name in sorted(domains.items(), key=lambda kv: kv[1]):
        surviving: dict[str, int] = defaultdict(int)
        total: dict[str, int] = defaultdict(int)
        backup_alive: dict[str, int] = defaultdict(int)
        voting_alive: dict[str, int] = defaultdict(int)
        for p, d, u in keyed:
            total[u] += 1
            alive = d is not None and d[0] != key
            if alive:
                surviving[u] += 1
                if votes(p):
                    voting_alive[u] += 1
                if p.role == BACKUP_ROLE:
                    for unit in protected(p):
                        backup_alive[unit] += 1
        no_quorum = tuple(u for u in units if voters.get(u) and surviving[u] and voting_alive[u] * 2 <= voters[u])
        down = tuple(u for u in units if u != BACKUP_ROLE and (surviving[u] == 0 or u in no_quorum))
        lost_data = tuple(sorted(u for u in data_units if surviving.get(u, 0) == 0 and backup_alive.get(u, 0) == 0))
        scenarios.append(
            Scenario(
                level=level,
                name=name,
                roles={u: (surviving[u], total[u]) for u in units},
                service_survives=not down,
                data_survives=not lost_data,
                down_roles=down,
                data_lost=lost_data,
                quorum_lost=no_quorum,
            )
        )
    return scenarios
