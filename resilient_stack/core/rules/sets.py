"""What a set rule and a backup rule are given: one replica set, counted once by the engine."""

from __future__ import annotations

from dataclasses import dataclass

from resilient_stack.core.placement import Placement


@dataclass(frozen=True, slots=True)
class ReplicaSet:
    """One replica set (core.placement: a role across the input, or a managed cluster's own), counted.

    ``optimistic``: how many unplaced replicas the diversity rules count as a building, site and provider of their
    own (while unknown-placement blocks: no cascade of knock-on findings from one typo; else 0, fails closed).
    """

    role: str
    key: str  # "" the role across the input, else the URN of the cluster that makes the set
    unit: str  # its name in reports (core.placement.replica_set_name)
    members: list[Placement]
    placed: list[Placement]
    unresolved: int
    optimistic: int
    sites: set
    providers: set
    buildings: set
    site_names: str
    regions: str
    of: str  # " of managed database orders" after the noun, or ""
    counted: str  # "all 3 `web` replicas are" / "2 of 3 `web` replicas are"
    tail: str  # "; 1 could not be placed (see unknown-placement)" or ""


@dataclass(frozen=True, slots=True)
class BackupSet:
    """One replica set and the backups that protect it: its own (a managed database's backup regions) and its
    role's (labelled protects: ROLE)."""

    role: str
    key: str
    unit: str
    backups: list[Placement]
    replicas: list[Placement]
