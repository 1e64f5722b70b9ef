"""What the rules produce and are configured with: findings, reports, organisation settings, exemptions."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Any, Iterable, Mapping

from resilient_stack.core.placement import Placement
from resilient_stack.core.rules.registry import PROFILE_LEVELS, RULE_ORDER
from resilient_stack.io.errors import ResilientStackError


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
        return self.levels.get(rule) or PROFILE_LEVELS[self.profile][rule]

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
        out: dict[str, Any] = {"resource": resource, "reason": reason, "status": status}
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
        out: dict[str, Any] = {
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


def exempted(reasons: Iterable[str | None], rule: str, config: RuleConfig) -> str | None:
    """The reason(s) that waive a finding of ``rule`` naming resources with these claimed exemptions: every one
    must be honoured by the organisation settings (:meth:`RuleConfig.honours`), else None (the finding stands)."""
    reasons = list(reasons)
    if reasons and all(config.honours(r, rule) for r in reasons):
        return "; ".join(sorted({r for r in reasons if r}))
    return None


def finding_order(f: Finding) -> tuple:
    return (not f.blocking, RULE_ORDER[f.rule], f.role or "", f.replica_set or "")


def with_findings(report: Report, extra: Iterable[Finding], claims: Iterable[tuple[str, str]] = ()) -> Report:
    """``report`` plus findings of other checks (e.g. :mod:`resilient_stack.core.security`), in report order, and
    the exemptions their resources claim."""
    extra, claims = tuple(extra), tuple(claims)
    if not extra and not claims:
        return report
    return replace(
        report, findings=tuple(sorted(report.findings + extra, key=finding_order)), claims=report.claims + claims
    )


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
        super().__init__("design rejected by the placement rules:\n  " + "\n  ".join(lines))

    def one_line(self) -> str:
        return "design rejected by the placement rules: " + "; ".join(
            f"[{f.level}] {f.rule}: {f.message}" for f in self.findings
        )

    @property
    def rule_ids(self) -> list[str]:
        return sorted({f.rule for f in self.findings})
