"""Placements: where one replica lives. Plain typed objects, built once per input."""

from __future__ import annotations

from typing import NamedTuple

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.vocabulary import BACKUP as BACKUP_ROLE

__all__ = ["BACKUP_ROLE", "Placement", "place"]


class Placement(NamedTuple):
    """One replica of a role (or one backup), resolved against the catalog.

    ``site``/``building`` are None when the placement could not be resolved; ``problem`` says why.
    Immutable; a named tuple rather than a frozen dataclass because readers build one per replica
    of estates with hundreds of thousands of resources, and a frozen dataclass costs 5x more to build.
    """

    resource: str
    role: str
    provider: str | None = None
    region: str | None = None
    site: str | None = None
    site_name: str | None = None
    building: str | None = None
    confidence: str | None = None
    protects: str | None = None
    quorum: bool = False
    exempt: str | None = None
    problem: str | None = None
    identified_by: str = ""

    @property
    def resolved(self) -> bool:
        return self.site is not None and self.building is not None

    def as_dict(self) -> dict:
        out = {
            "resource": self.resource,
            "role": self.role,
            "provider": self.provider,
            "region": self.region,
            "site": self.site_name,
            "building": self.building,
        }
        if self.protects:
            out["protects"] = self.protects
        if self.quorum:
            out["quorum"] = True
        if self.exempt:
            out["exempt"] = self.exempt
        if self.problem:
            out["problem"] = self.problem
        return out


def place(
    catalog: Catalog,
    *,
    resource: str,
    role: str,
    region: str | None,
    auth_url: str | None = None,
    cloud: str | None = None,
    availability_zone: str | None = None,
    protects: str | None = None,
    quorum: bool = False,
    exempt: str | None = None,
    problem: str | None = None,
    provider: str | None = None,
) -> Placement:
    """Resolve one replica's placement: the single place where cloud + region (+AZ) meet the catalog."""
    if problem is None:
        res = catalog.resolve(
            region=region, auth_url=auth_url, cloud=cloud, availability_zone=availability_zone, provider=provider
        )
        problem = res.problem
    else:
        res = None
    if res is None or res.region is None:
        return Placement(
            resource=resource, role=role, region=(region or None), protects=protects,
            quorum=quorum, exempt=exempt, problem=problem,
        )
    reg = res.region
    return Placement(
        resource=resource,
        role=role,
        provider=reg.provider,
        region=reg.name,
        site=reg.site.physical_id,
        site_name=reg.site.physical_name,
        building=res.building,
        confidence=reg.confidence,
        protects=protects,
        quorum=quorum,
        exempt=exempt,
        identified_by=res.identified_by,
    )
