"""The engine: placements in, a report out. Groups the replicas in replica sets (core.placement), counts each set
once, and runs every rule of the registry on what its scope needs (:class:`.rule.Rule`)."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import BACKUP_ROLE, Placement, replica_set_name
from resilient_stack.core.rules import unknown_placement, unmatched_declaration
from resilient_stack.core.rules.model import Finding, Report, RuleConfig, exempted, finding_order
from resilient_stack.core.rules.registry import BACKUP_RULES, SET_RULES
from resilient_stack.core.rules.sets import BackupSet, ReplicaSet
from resilient_stack.core.rules.text import all_of, names, plural


def evaluate(
    placements: Iterable[Placement],
    config: RuleConfig | None = None,
    catalog: Catalog | None = None,
) -> Report:
    """Apply every enabled rule to the placements; ``catalog`` only feeds fix suggestions."""
    config = config or RuleConfig()
    placements = tuple(placements)
    findings: list[Finding] = []

    def add(rule: str, role: str | None, message: str, members: list[Placement], unit: str | None = None) -> None:
        level = config.level(rule)
        if level == "disabled":
            return
        findings.append(
            Finding(
                rule,
                level,
                role,
                message,
                tuple(p.resource for p in members),
                exempted((p.exempt for p in members), rule, config),
                replica_set=unit,
            )
        )

    # Replicas vouch for each other only within their replica set (core.placement): (role, set) -> members.
    by_set: dict[tuple[str, str], list[Placement]] = defaultdict(list)
    backups: dict[tuple[str, str], list[Placement]] = defaultdict(list)
    for p in placements:
        if not p.resolved:
            add(unknown_placement.RULE.id, p.role, unknown_placement.check(p), [p], p.unit)
        if p.role == BACKUP_ROLE:
            backups[(p.protects or "?", p.replica_set)].append(p)
        else:
            by_set[(p.role, p.replica_set)].append(p)

    # A replica that cannot be placed is reported once, as unknown-placement. While that finding blocks, the
    # diversity rules count each unplaced replica as if it sat in a building, site and provider of its own:
    # they fire only when no placement of the unplaced replicas could satisfy them (no cascade of knock-on
    # findings from one typo). When unknown-placement does not block (disabled, advisory, exempted), unplaced
    # replicas count for nothing: fails closed.
    unknown_blocks = config.level("unknown-placement") == "mandatory"
    for role, rset in sorted(by_set):
        members = by_set[(role, rset)]
        unit = replica_set_name(role, rset)
        placed = [p for p in members if p.resolved]
        n = len(members)
        unresolved = n - len(placed)
        optimistic = (
            unresolved
            if unknown_blocks
            and any(not config.honours(p.exempt, "unknown-placement") for p in members if not p.resolved)
            else 0
        )
        what, of = f"`{role}` replica", (f" of {unit.split(' of ', 1)[1]}" if rset else "")
        counted = (
            all_of(n, what, of)
            if not unresolved
            else f"{len(placed)} of {plural(n, what, of)} {'is' if len(placed) == 1 else 'are'}"
        )
        s = ReplicaSet(
            role=role,
            key=rset,
            unit=unit,
            members=members,
            placed=placed,
            unresolved=unresolved,
            optimistic=optimistic,
            sites={p.site for p in placed},
            providers={p.provider for p in placed},
            buildings={p.building for p in placed},
            site_names=names(p.site_name or "" for p in placed),
            regions=names(p.region or "" for p in placed),
            of=of,
            counted=counted,
            tail=f"; {unresolved} could not be placed (see unknown-placement)" if unresolved else "",
        )
        for rule in SET_RULES:
            assert rule.check is not None  # the registry refuses a rule without its check
            for message, named in rule.check(s, config, catalog):
                add(rule.id, role, message, named, unit)

    roles = sorted({role for role, _ in by_set})
    for who, message, named, named_set in unmatched_declaration.check(roles, backups, config):
        add(unmatched_declaration.RULE.id, who, message, named, named_set)

    # Each replica set is judged with its own backups (a managed database's backup regions) and its role's (a
    # container labelled protects: ROLE protects every set of ROLE); a set's own backups with no replica in the
    # input are judged alone.
    judged: list[BackupSet] = []
    for role, rset in sorted(set(by_set) | {k for k in backups if k[1] or k[0] in roles}):
        bks = backups.get((role, rset), []) + (backups.get((role, ""), []) if rset else [])
        if bks:
            judged.append(BackupSet(role, rset, replica_set_name(role, rset), bks, by_set.get((role, rset), [])))
    for rule in BACKUP_RULES:
        assert rule.check is not None
        for b in judged:
            for message, named in rule.check(b, config, catalog):
                add(rule.id, b.role, message, named, b.unit)

    findings.sort(key=finding_order)
    return Report(tuple(findings), placements, config)
