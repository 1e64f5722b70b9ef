"""Placement rules: placements in, findings out. Pure Python, no Pulumi import.

This is the ONE implementation of every rule: the auditor CLI, the CrossGuard policy pack and the
Pulumi components all call :func:`evaluate`.

Rule ids (stable):
  single-building   all replicas of a role in one building (fewer than ``min_buildings``)
  single-site       all replicas of a role in one site/campus (fewer than ``min_sites``)
  single-provider   all replicas of a role at one provider (fewer than ``min_providers``)
  backup-colocated  a role with backups has none in a site that holds none of its replicas
  backup-shares-project  a role with backups has none in a cloud project that holds none of its replicas
  site-majority     losing one site loses the quorum of a role's voting members
  unknown-placement a replica whose site cannot be resolved (fails closed)

Security defaults (checked by :mod:`resilient_stack.core.security`, listed here so that this module stays the
ONE registry of rule ids, descriptions and default levels):
  ssh-open-to-world              a security group's ingress rules, together, open TCP 22 to more than a /8
  database-open-to-world         ... TCP 5432 or 3306
  unknown-security-rule          a rule that may open one of those ports cannot be read (secret, redacted, invalid)
  unknown-preview-security-rule  ... is unknown at preview (taken from a resource not created yet): advisory
  port-security-disabled         a port or network with portSecurityEnabled: false
  plaintext-secret-in-user-data  an instance's user data carries a password/key as a plain string
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Iterable, Mapping, NamedTuple

from resilient_stack.core.catalog import Catalog
from resilient_stack.core.placement import BACKUP_ROLE, Placement, project_label, replica_set_name, same_project
from resilient_stack.core.vocabulary import near_miss
from resilient_stack.io.errors import ResilientStackError


class Rule(NamedTuple):
    """One rule's metadata: every output, the pack's policies, ``explain`` and the docs' table read it from here."""

    id: str
    family: str  # "placement" (evaluate), "reader" (the readers' per-resource checks), "security" (core.security)
    default: str  # its level in the default profile (every rule is mandatory in strict)
    severity: str  # "high" or "medium": the pack's Severity, SARIF's and GitLab's severities
    title: str  # one line, whole: SARIF's shortDescription, GitLab's vulnerability name
    description: str  # what fires it and why it matters
    fix: str  # what to change


RULES: tuple[Rule, ...] = (
    Rule('single-building', 'placement', 'mandatory', 'high', 'A replica set sits in one building',
         'All replicas of a replica set (a role, or one managed cluster) sit in one building (datacenter or availability zone): one fire takes them all.',
         'Spread the replicas over another availability zone or region.'),
    Rule('single-site', 'placement', 'mandatory', 'high', 'A replica set sits on one site',
         'All replicas of a replica set sit on one site or campus (e.g. Strasbourg SBG1-SBG4): one site disaster takes them all.',
         'Add a placement on another site (a region of another campus).'),
    Rule('single-provider', 'placement', 'advisory', 'medium', 'A replica set sits at one cloud provider',
         'All replicas of a replica set sit at one cloud provider: one provider outage takes them all.',
         'Add placements at a second provider.'),
    Rule('backup-colocated', 'placement', 'mandatory', 'high', "A replica set's backups share its site",
         "A role's backups all sit on a site that also holds its replicas: the disaster that takes the data takes the backups.",
         'Keep at least one backup on a site that holds no replica of the set.'),
    Rule('backup-shares-project', 'placement', 'advisory', 'medium', "A replica set's backups share its cloud project",
         "A role's backups all sit in a cloud project (a clouds.yaml entry, a project id) that also holds its replicas: whoever holds that project's credentials can delete the data and its backups together.",
         'Keep at least one backup in a project of its own (its own clouds.yaml entry or project id).'),
    Rule('site-majority', 'placement', 'mandatory', 'high', "One site holds half or more of a quorum's voting members",
         'One site holds so many voting members of a quorum role that losing it loses the quorum.',
         'Spread the voting members so that no site holds half or more of them.'),
    Rule('unknown-placement', 'placement', 'mandatory', 'high', 'A replica cannot be placed',
         "A replica's site cannot be resolved from the catalog, so its survival cannot be proven (fails closed).",
         'Give the replica an explicit region (and auth URL or cloud) that the catalog knows, or extend the catalog.'),
    Rule('unclassified-resource', 'reader', 'advisory', 'medium', 'A resource of an unknown type carries a region or a role',
         'A custom resource of a type the auditor does not know carries a region or a role label: it may hold a replica that no rule evaluates.',
         "Extend the auditor's types (docs/extending.md), or remove the label."),
    Rule('role-label-mismatch', 'reader', 'advisory', 'medium', 'A role label names a role the resource cannot hold',
         "A resilient-stack:role label names a role that the resource's type cannot hold (a container is never a database replica): the label is not honoured.",
         'Label the resource with a role its type can hold.'),
    Rule('unmatched-declaration', 'reader', 'mandatory', 'high', 'A declaration matches nothing',
         'A declaration matches nothing: a resilient-stack label (role, quorum, protects, storage-of) spelled outside its vocabulary (wrong case, a plural, `yes`) or hidden in a secret, a backup protecting a role no replica has, or a quorum role named like an existing role but not it: the rule it would feed is never applied.',
         'Spell the label from its vocabulary, in plain text, and name a role some replica has.'),
    Rule('ssh-open-to-world', 'security', 'mandatory', 'high', 'SSH is open to the world',
         'The ingress rules of a security group, together, open SSH (TCP 22) to the world: more public addresses than a /8 (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1).',
         "Admit SSH from the operators' address ranges only."),
    Rule('database-open-to-world', 'security', 'mandatory', 'high', 'A database port is open to the world',
         'The ingress rules of a security group, together, open a database port (TCP 5432 or 3306) to the world: more public addresses than a /8.',
         "Admit the database port from the application's and the peers' addresses only."),
    Rule('unknown-security-rule', 'security', 'mandatory', 'high', 'A security rule that may open SSH or a database port cannot be read',
         'A security group rule that may open SSH or a database port has a secret or unreadable remote prefix, port, protocol or direction: whether the port is open to the world cannot be told (fails closed).',
         "Make the rule's prefix, port, protocol and direction plain values, not secrets."),
    Rule('unknown-preview-security-rule', 'security', 'advisory', 'high', 'A security rule is unknown until the resources it uses exist',
         'At preview, a security group rule that may open SSH or a database port takes its remote prefix, port, protocol or direction from a resource not created yet: it is judged once known (the pack during `pulumi up`, the auditor on the state).',
         'Judge it once created: the pack during pulumi up, the auditor on the state.'),
    Rule('port-security-disabled', 'security', 'mandatory', 'high', 'Port security is disabled',
         'A port (or a network, for the ports created on it) has portSecurityEnabled: false: no security group and no anti-spoofing filter its traffic.',
         'Keep portSecurityEnabled on (the default) and filter with security groups.'),
    Rule('plaintext-secret-in-user-data', 'security', 'mandatory', 'high', 'A password or key sits in clear in user data',
         "An instance's user data carries a password or private key as a plain string: it lands in clear in the Pulumi state, previews and logs.",
         'Pass the secret as a Pulumi secret (pulumi.Output.secret) or through the metadata the stack seals.'),
)
RULE_BY_ID: dict[str, Rule] = {r.id: r for r in RULES}
PLACEMENT_RULE_IDS = tuple(r.id for r in RULES if r.family != "security")
SECURITY_RULE_IDS = tuple(r.id for r in RULES if r.family == "security")
RULE_IDS = PLACEMENT_RULE_IDS + SECURITY_RULE_IDS
LEVELS = ("mandatory", "advisory", "disabled")
PROFILES = ("default", "strict")
RULE_DESCRIPTIONS = {r.id: r.description for r in RULES}

_PROFILE_LEVELS = {
    "default": {r.id: r.default for r in RULES},
    "strict": {r.id: "mandatory" for r in RULES},
}
# Findings are listed blocking first, then in this order: root causes first (an unplaced replica
# explains the diversity findings that follow), security findings last.
_RULE_ORDER = {r: i for i, r in enumerate(("unknown-placement",) + tuple(r for r in PLACEMENT_RULE_IDS if r != "unknown-placement") + SECURITY_RULE_IDS)}


def default_level(rule: str, profile: str = "default") -> str:
    """The level of ``rule`` in ``profile`` before any per-rule override."""
    return _PROFILE_LEVELS[profile][rule]


@dataclass(frozen=True, slots=True)
class Exemption:
    """An exemption the organisation allows: a ``resilient-stack:exempt`` label (or a design's ``exempt:``) whose
    reason is exactly ``reason`` waives findings until ``expires`` (included), of ``rules`` (empty: every rule)."""

    reason: str
    owner: str
    expires: date
    rules: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Organisation settings: profile, thresholds, per-rule levels, quorum roles and the exemptions allowed."""

    profile: str = "default"
    min_buildings: int = 2
    min_sites: int = 2
    min_providers: int = 2
    levels: dict[str, str] = field(default_factory=dict)
    quorum_roles: frozenset[str] = frozenset()
    exemptions: tuple[Exemption, ...] = ()
    today: date | None = None  # the day expiries are compared with (None: today, UTC)

    def level(self, rule: str) -> str:
        return self.levels.get(rule) or _PROFILE_LEVELS[self.profile][rule]

    def exemption_status(self, reason: str) -> tuple[str, Exemption | None]:
        """(``honoured`` | ``expired`` | ``not allowed``, the organisation's entry) of a claimed exemption."""
        entry = next((e for e in self.exemptions if e.reason == reason.strip()), None)
        if entry is None:
            return "not allowed", None
        today = self.today or datetime.now(timezone.utc).date()
        return ("expired" if entry.expires < today else "honoured"), entry

    def honours(self, reason: str | None, rule: str) -> bool:
        """Does the claimed exemption ``reason`` waive findings of ``rule``?"""
        if not reason:
            return False
        status, entry = self.exemption_status(reason)
        return status == "honoured" and entry is not None and (not entry.rules or rule in entry.rules)

    def claim(self, resource: str, reason: str) -> dict:
        """One line of a report's exemption list: the claim, and whether and until when it is honoured."""
        status, entry = self.exemption_status(reason)
        out = {"resource": resource, "reason": reason, "status": status}
        if entry is not None:
            out.update(owner=entry.owner, expires=entry.expires.isoformat())
            if entry.rules:
                out["rules"] = sorted(entry.rules)
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    rule: str
    level: str
    role: str | None
    message: str
    resources: tuple[str, ...]
    exempted: str | None = None  # the exemption reason(s) when every resource named is exempt
    known: bool = False  # in the baseline the audit was given (``--baseline``): reported, never failing
    replica_set: str | None = None  # the replica set the finding is about (core.placement.replica_set_name)

    @property
    def blocking(self) -> bool:
        return self.level == "mandatory" and self.exempted is None and not self.known

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.role, self.resources)

    def as_dict(self) -> dict:
        out = {
            "rule": self.rule,
            "level": self.level,
            "role": self.role,
            "message": self.message,
            "resources": list(self.resources),
        }
        if self.replica_set is not None:
            out["replica_set"] = self.replica_set
        if self.exempted:
            out["exempted"] = self.exempted
        if self.known:
            out["baseline"] = True
        return out


def fingerprint(rule: str, role: str | None, resources: Iterable[str]) -> str:
    """A finding's identity, stable across runs and report orders: the rule, the role and the resources named (not
    the message, whose wording may improve). SARIF's partial fingerprint and ``--baseline`` use it."""
    key = json.dumps([rule, role, sorted(resources)], separators=(",", ":"))
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Report:
    findings: tuple[Finding, ...]
    placements: tuple[Placement, ...]
    config: RuleConfig
    coverage: dict | None = None  # what the input held and what was evaluated, by type (readers)
    claims: tuple[tuple[str, str], ...] = ()  # (resource, reason) of exemptions claimed outside placements
    scope: dict | None = None  # what the verdict rests on (core.scope.scope): evaluated, catalogs, weakest fact
    provenance: dict | None = None  # the tool's version, the time, the input's SHA-256 (audit.provenance)
    lines: Mapping[str, int] | None = None  # resource -> the line of the input that declares it, where it has one

    @property
    def verdict(self) -> str:
        return "fail" if any(f.blocking for f in self.findings) else "pass"

    @property
    def exemptions(self) -> list[dict]:
        """Every exemption claimed (placements, then other resources), with its status: ``honoured``,
        ``expired`` or ``not allowed`` (the organisation settings list no such exemption)."""
        seen = [(p.resource, p.exempt) for p in self.placements if p.exempt] + list(self.claims)
        return [self.config.claim(res, why) for res, why in dict.fromkeys(seen)]

    def as_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "profile": self.config.profile,
            "findings": [f.as_dict() for f in self.findings],
            "placements": [p.as_dict() for p in self.placements],
            "exemptions": self.exemptions,
            "coverage": self.coverage,
            "scope": self.scope,
            "provenance": self.provenance,
        }


def _plural(n: int, word: str, of: str = "") -> str:
    return f"{n} {word}{of}" if n == 1 else f"{n} {word}s{of}"


def _all(n: int, what: str, of: str = "") -> str:
    """'the only `web` replica is' / 'all 3 `web` replicas are' (``of``: ' of managed database orders' after the
    noun)."""
    return f"the only {what}{of} is" if n == 1 else f"all {n} {what}s{of} are"


def _names(values: Iterable[str]) -> str:
    return ", ".join(sorted(set(values)))


def _suggest(
    catalog: Catalog | None,
    avoid_sites: set,
    prefer_provider: set,
    n: int = 2,
    avoid_providers: set = frozenset(),
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


def exempted(reasons: Iterable[str | None], rule: str, config: RuleConfig) -> str | None:
    """The reason(s) that waive a finding of ``rule`` naming resources with these claimed exemptions: every one
    must be honoured by the organisation settings (:meth:`RuleConfig.honours`), else None (the finding stands)."""
    reasons = list(reasons)
    if reasons and all(config.honours(r, rule) for r in reasons):
        return "; ".join(sorted({r for r in reasons if r}))
    return None


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
            Finding(rule, level, role, message, tuple(p.resource for p in members),
                    exempted((p.exempt for p in members), rule, config), replica_set=unit)
        )

    # Replicas vouch for each other only within their replica set (core.placement): (role, set) -> members.
    by_set: dict[tuple[str, str], list[Placement]] = defaultdict(list)
    backups: dict[tuple[str, str], list[Placement]] = defaultdict(list)
    for p in placements:
        if not p.resolved:
            what = f"`{p.role}` backup of `{p.protects}`" if p.role == BACKUP_ROLE else f"`{p.role}` replica"
            add(
                "unknown-placement", p.role,
                f"cannot place {what} {p.resource}: {p.problem or 'site unknown'}; "
                "set an explicit region (and auth URL or cloud) that the catalog knows, or extend it (the auditor's "
                "--catalog; a stack's policy.catalog, e.g. for your clouds.yaml entry names)",
                [p], p.unit,
            )
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
        optimistic = unresolved if unknown_blocks and any(
            not config.honours(p.exempt, "unknown-placement") for p in members if not p.resolved) else 0
        sites = {p.site for p in placed}
        providers = {p.provider for p in placed}
        site_names = _names(p.site_name or "" for p in placed)
        regions = _names(p.region or "" for p in placed)
        what, of = f"`{role}` replica", (f" of {unit.split(' of ', 1)[1]}" if rset else "")
        counted = _all(n, what, of) if not unresolved else f"{len(placed)} of {_plural(n, what, of)} {'is' if len(placed) == 1 else 'are'}"
        tail = f"; {unresolved} could not be placed (see unknown-placement)" if unresolved else ""

        buildings = {p.building for p in placed}
        if len(buildings) + optimistic < config.min_buildings:
            where = f"building {_names(buildings)}" if len(buildings) == 1 else f"{_plural(len(buildings), 'building')} ({_names(buildings)})"
            add(
                "single-building", role,
                f"{counted} in {where}{tail}; "
                f"spread them over at least {config.min_buildings} buildings: another availability zone or region"
                + _suggest(catalog, sites, providers),
                members, unit,
            )
        if len(sites) + optimistic < config.min_sites:
            where = f"site {site_names} ({regions})" if len(sites) == 1 else f"{_plural(len(sites), 'site')}: {site_names}"
            add(
                "single-site", role,
                f"{counted} in {where}{tail}; "
                f"add a placement in another site" + _suggest(catalog, sites, providers),
                members, unit,
            )
        if len(providers) + optimistic < config.min_providers:
            add(
                "single-provider", role,
                f"{counted} at provider {_names(p for p in providers if p) or 'none'}{tail}; "
                f"add placements so that at least {config.min_providers} providers hold one"
                + _suggest(catalog, sites, set(), avoid_providers=providers),
                members, unit,
            )

        voting = [p for p in members if p.quorum or role in config.quorum_roles]
        if voting:
            nv = len(voting)
            per_site: dict[str, int] = defaultdict(int)
            for p in voting:
                per_site[p.site or f"unplaced:{p.resource}"] += 1
            names = {p.site: p.site_name for p in voting if p.site}
            for site_id, count in sorted(per_site.items(), key=lambda kv: -kv[1]):
                remaining = nv - count
                if remaining * 2 <= nv:
                    label = names.get(site_id, "an unplaced location")
                    add(
                        "site-majority", role,
                        f"{count} of {_plural(nv, f'`{role}` voting member', of)} are in site {label}; losing it "
                        f"leaves {remaining}, not a majority of {nv}: spread the members so that no site holds half or more"
                        + _suggest(catalog, {site_id}, providers),
                        voting, unit,
                    )
                    break

    roles = sorted({role for role, _ in by_set})
    for (role, rset) in sorted(backups):
        if role in roles or rset:
            continue  # a role's backups (every set of the role), or a set's own (a managed database's regions)
        bks = backups[(role, rset)]
        hint = near_miss(role, roles)
        if role == "?":
            add("unmatched-declaration", None,
                _plural(len(bks), "backup") + " protect no role (no resilient-stack:protects label): backup-colocated "
                f"cannot judge {'it' if len(bks) == 1 else 'them'}; label each with the role whose data it holds "
                f"({', '.join(roles) or 'none here'})", bks)
            continue
        add("unmatched-declaration", role,
            ("the only backup" if len(bks) == 1 else f"all {len(bks)} backups") + f" protecting `{role}` "
            f"{'protects' if len(bks) == 1 else 'protect'} a role that no replica has"
            + (f" (did you mean `{hint}`?)" if hint else f" (the roles: {', '.join(roles) or 'none'})")
            + f": backup-colocated and backup-shares-project cannot judge {'it' if len(bks) == 1 else 'them'}; "
            "set resilient-stack:protects to the role of the replicas whose data it holds", bks, role)
    for role in sorted(config.quorum_roles - set(roles)):
        hint = near_miss(role, roles)
        if hint:  # an organisation's quorum roles may name roles this stack does not run; a near miss is a typo
            add("unmatched-declaration", role,
                f"the quorum role `{role}` matches no replica (did you mean `{hint}`?): site-majority never counts "
                f"`{hint}`'s voting members; correct quorum_roles", [])

    # Each replica set is judged with its own backups (a managed database's backup regions) and its role's (a
    # container labelled protects: ROLE protects every set of ROLE); a set's own backups with no replica in the
    # input are judged alone.
    judged: list[tuple[str, str, list[Placement]]] = []
    for role, rset in sorted(set(by_set) | {k for k in backups if k[1] or k[0] in roles}):
        bks = backups.get((role, rset), []) + (backups.get((role, ""), []) if rset else [])
        if bks:
            judged.append((role, rset, bks))
    for role, rset, bks in judged:
        unit = replica_set_name(role, rset)
        replica_sites = {p.site for p in by_set.get((role, rset), []) if p.resolved}
        placed_bks = [b for b in bks if b.resolved]
        if not any(b.site not in replica_sites for b in placed_bks):
            where = _names(b.site_name or "" for b in placed_bks) or "an unknown place"
            add(
                "backup-colocated", role,
                ("the only backup" if len(bks) == 1 else f"all {len(bks)} backups")
                + f" of `{unit}` {'is' if len(bks) == 1 else 'are'} in {where}, which also holds its replicas; "
                f"keep at least one backup in a site with no `{unit}` replica"
                + _suggest(catalog, replica_sites | {b.site for b in placed_bks if b.site}, {b.provider for b in placed_bks if b.provider}),
                bks, unit,
            )

    for role, rset, bks in judged:
        message = _shared_project(replica_set_name(role, rset), bks, by_set.get((role, rset), []))
        if message:
            add("backup-shares-project", role, message, bks, replica_set_name(role, rset))

    findings.sort(key=_finding_order)
    return Report(tuple(findings), placements, config)


def _where(p: Placement) -> str:
    name = p.resource.rsplit("::", 1)[-1]
    return f"{name} ({p.region})" if p.region else name


def _listed(members: list[Placement], n: int = 6) -> str:
    names = [_where(m) for m in members]
    return ", ".join(names[:n]) + (f" and {len(names) - n} more" if len(names) > n else "")


def _shared_project(role: str, bks: list[Placement], members: list[Placement]) -> str | None:
    """backup-shares-project: the finding's message when no backup of ``role`` is PROVEN to sit in a project that
    holds none of its replicas (a project that cannot be compared counts as shared: fails closed), else None.

    Whether two placements share a project depends only on their (provider, project): replicas are compared by
    those groups, and backups of one group get one answer, so big estates cost groups, not pairs."""
    if not members:
        return None
    groups: dict[tuple, list[Placement]] = defaultdict(list)
    for m in members:
        groups[(m.provider, m.project, m.project_problem)].append(m)
    answers: dict[tuple, tuple[list[Placement], list[Placement], dict[str, list[Placement]]]] = {}
    parts = []
    any_unknown = False
    for b in bks:
        key = (b.provider, b.project, b.project_problem)
        if key not in answers:
            shared: list[Placement] = []
            unknown: list[Placement] = []
            why: dict[str, list[Placement]] = defaultdict(list)  # reason -> the replicas whose project it hides
            for group in groups.values():
                same = same_project(b, group[0])
                if same:
                    shared += group
                elif same is None:
                    unknown += group
                    m = group[0]
                    if b.project is None:
                        why[b.project_problem or "project unknown"] = []
                    elif m.project is None:
                        why[m.project_problem or "project unknown"] += group
                    else:
                        why[f"{project_label(b.project)} and {project_label(m.project)} cannot be compared"] = []
            answers[key] = (shared, unknown, why)
        shared, unknown, why = answers[key]
        if not shared and not unknown:
            return None  # a backup in a project of its own
        any_unknown = any_unknown or bool(unknown)
        if len(parts) == 6:
            continue  # the message names six backups; the finding names them all
        text = []
        if shared:
            text.append(f"{_where(b)} is in {project_label(b.project or '')}, which also holds {_listed(shared)}")
        if unknown:
            reasons = []
            for reason, hidden in sorted(why.items()):
                if hidden:  # the replicas whose project is unknown
                    reasons.append(f"{_listed(hidden)}: {reason}")
                else:  # the backup's own project unknown, or two identities that cannot be compared
                    reasons.append(f"{_where(b)}: {reason}" if b.project is None else reason)
            text.append(f"whether {_where(b)} shares a project with {_listed(unknown)} cannot be told "
                        f"({'; '.join(reasons)})")
        parts.append("; ".join(text))
    if len(bks) > len(parts):
        parts.append(f"and {len(bks) - len(parts)} more backups")
    if any_unknown:
        head = f"no backup of `{role}` is known to be in a project that holds no `{role}` replica"
    else:
        lead = "the only backup" if len(bks) == 1 else f"each of the {len(bks)} backups"
        head = f"{lead} of `{role}` is in a project that also holds `{role}` replicas"
    return (f"{head}: " + "; ".join(parts) + "; whoever holds that project's credentials can delete the data and "
            "its backups together: keep at least one backup in a project of its own (a clouds.yaml entry of a project "
            "that holds only the backups, e.g. a second OVHcloud Public Cloud project)"
            + ("; to compare two projects, identify both the same way (`cloud`, or the provider's `tenantId`)"
               if any_unknown else ""))


def _finding_order(f: Finding) -> tuple:
    return (not f.blocking, _RULE_ORDER[f.rule], f.role or "", f.replica_set or "")


def with_findings(report: Report, extra: Iterable[Finding], claims: Iterable[tuple[str, str]] = ()) -> Report:
    """``report`` plus findings of other checks (e.g. :mod:`resilient_stack.core.security`), in report order, and
    the exemptions their resources claim."""
    extra, claims = tuple(extra), tuple(claims)
    if not extra and not claims:
        return report
    return replace(report, findings=tuple(sorted(report.findings + extra, key=_finding_order)),
                   claims=report.claims + claims)


def reader_findings(issues: Iterable[tuple], config: RuleConfig | None = None) -> tuple[Finding, ...]:
    """Findings that a reader raises about single resources ``(rule, urn, role, message)``, with their levels."""
    config = config or RuleConfig()
    out = []
    for rule, urn, role, message in issues:
        level = config.level(rule)
        if level != "disabled":
            out.append(Finding(rule, level, role, message, (urn,)))
    return tuple(out)


class DesignRejected(ResilientStackError):
    """A design that the mandatory placement rules reject (components refuse to build it): exit 1, as a failed
    audit."""

    exit_code = 1

    def __init__(self, findings: list[Finding], report: "Report | None" = None) -> None:
        self.findings = findings
        self.report = report  # every finding, the advisory and exempted ones too
        lines = [f"[{f.level}] {f.rule}: {f.message}" for f in findings]
        super().__init__(
            "design rejected by the placement rules:\n  " + "\n  ".join(lines)
        )

    def one_line(self) -> str:
        return "design rejected by the placement rules: " + "; ".join(
            f"[{f.level}] {f.rule}: {f.message}" for f in self.findings)

    @property
    def rule_ids(self) -> list[str]:
        return sorted({f.rule for f in self.findings})
