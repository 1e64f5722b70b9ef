"""The live fire drill's pure parts: measurements (RTO, RPO), the failover choice, verdicts and reports.

No podman, no Pulumi, no clock: every function takes recorded facts (timestamps in seconds since the
epoch, row numbers, LSNs) and returns plain values, so all of it is unit-tested without containers.
:mod:`resilient_stack.drills.scenario` records the facts and calls these.

Definitions (also in ``docs/firedrill.md``, "Reading the report"):

- **RTO web**: seconds from the fire until the entry point answered 200 again, i.e. the end of the first
  successful request that started after the last failed one. ``0`` when no request failed after the
  fire; ``None`` (never) when the last request after the fire failed.
- **RTO writes**: the same over the numbered writes (a write succeeds when its COMMIT is acknowledged).
- **RPO**: acknowledged rows missing from the database that survives (the promoted replica, or the
  untouched primary). Without any surviving database copy every acknowledged row is lost.
- **Asynchronous replication's promise**: a promoted standby holds a *prefix* of the primary's commit
  history. Lost rows must therefore be the *last* rows acknowledged before the fire (a tail); anything
  else is a broken promise and counts as data lost.
- **A restore** (``--restore``: every site holding a database member burns; fresh hosts restore the backups):
  the rows lost must be only the *unarchived tail*, rows acknowledged after the WAL segment the primary had
  archived last before the fire; anything older missing is data lost.
- **The cluster after the fire** (when a database member survives): exactly one primary among the survivors,
  every other survivor streaming from it, etcd healthy with a majority; and once the burned site is back,
  its database host a replica of that primary again. A scenario that misses any of these fails.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

__all__ = [
    "Attempt",
    "Event",
    "RpoResult",
    "Prediction",
    "ScenarioResult",
    "FiredrillReport",
    "REPLICATION_MODE",
    "REPLICATION_PROMISE",
    "recovery_seconds",
    "compute_rpo",
    "parse_lsn",
    "most_advanced",
    "classify",
    "FORMATS",
    "RENDERERS",
    "render_text",
    "render_json",
    "render_markdown",
    "plural",
]

SCHEMA = "resilient-stack/firedrill/v1"
REPLICATION_MODE = (
    "asynchronous streaming replication (PostgreSQL 15, no synchronous_standby_names), "
    "automatic failover by Patroni over etcd"
)
REPLICATION_PROMISE = (
    "a COMMIT is acknowledged once it is durable on the primary, before any replica has it; Patroni promotes "
    "the most advanced surviving replica, which holds a prefix of the primary's history, so a failover can lose "
    "the last transactions acknowledged before the loss (the replication lag: milliseconds on a healthy "
    "network), never older ones"
)

DATA_INTACT = "intact"
DATA_ASYNC_TAIL = "async-tail"
DATA_UNARCHIVED_TAIL = "unarchived-tail"  # a restore: only rows acknowledged after the last archived WAL
DATA_LOST = "lost"


# --------------------------------------------------------------------------------------------------
# Facts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP GET or one numbered write: when it started and ended (epoch seconds), and whether it worked."""

    start: float
    end: float
    ok: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the timeline: epoch seconds, a short phase name, what happened."""

    at: float
    phase: str
    text: str


# --------------------------------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------------------------------


def recovery_seconds(attempts: Iterable[Attempt], fire: float) -> float | None:
    """Seconds from ``fire`` until the service answered again (see the module doc).

    Attempts that ended before the fire are ignored; one in flight at the fire counts. ``0.0`` when no
    attempt after the fire failed (or none was made), ``None`` when the service had not come back by the
    last attempt.
    """
    after = sorted((a for a in attempts if a.end >= fire), key=lambda a: (a.start, a.end))
    failures = [a for a in after if not a.ok]
    if not failures:
        return 0.0
    last_failure_start = max(a.start for a in failures)
    back = [a.end for a in after if a.ok and a.start > last_failure_start]
    if not back:
        return None
    return round(max(0.0, min(back) - fire), 3)


@dataclass(frozen=True, slots=True)
class RpoResult:
    """Acknowledged rows against what the surviving database holds.

    Attributes:
        acknowledged: rows whose COMMIT was acknowledged, in all.
        acknowledged_before_fire: of those, acknowledged before the fire.
        lost: acknowledged rows missing from the survivor (all of them when no copy survived).
        survivor_read: a surviving database copy was read.
        tail_only: the lost rows are exactly the last ones acknowledged before the fire (the promise
            of asynchronous replication), and no row acknowledged after the fire is missing.
        lost_window_s: seconds between the acknowledgement of the first lost row and the fire.
    """

    acknowledged: int
    acknowledged_before_fire: int
    lost: tuple[int, ...]
    survivor_read: bool
    tail_only: bool
    lost_window_s: float | None

    @property
    def rows(self) -> int:
        """The RPO in rows."""
        return len(self.lost)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows_lost": self.rows,
            "lost": list(self.lost),
            "acknowledged": self.acknowledged,
            "acknowledged_before_fire": self.acknowledged_before_fire,
            "survivor_read": self.survivor_read,
            "lost_rows_are_async_tail": self.tail_only,
            "lost_window_s": self.lost_window_s,
        }


def compute_rpo(acks: Mapping[int, float], present: Iterable[int] | None, fire: float) -> RpoResult:
    """Compare acknowledged rows (row number -> acknowledgement time) with the rows a survivor holds.

    ``present`` is None when no database copy survived (every acknowledged row is lost). Row numbers
    grow in commit order (one writer, one row at a time), so "a tail" means: every lost row was
    acknowledged before the fire, and all rows acknowledged before the fire after the first lost one are
    lost too.
    """
    before = sorted(n for n, t in acks.items() if t <= fire)
    if present is None:
        lost = tuple(sorted(acks))
        window = round(fire - min(acks[n] for n in before), 3) if before else None
        return RpoResult(len(acks), len(before), lost, False, False, window)
    have = set(present)
    lost = tuple(sorted(n for n in acks if n not in have))
    if not lost:
        return RpoResult(len(acks), len(before), (), True, True, None)
    first = lost[0]
    tail = tuple(n for n in before if n >= first)
    tail_only = lost == tail
    window = round(fire - acks[first], 3)
    return RpoResult(len(acks), len(before), lost, True, tail_only, window)


def parse_lsn(text: str | None) -> int | None:
    """``'0/3000148'`` -> integer position; ``None``/empty (a replica that received nothing) -> None."""
    if not text or "/" not in text.strip():
        return None
    hi, lo = text.strip().split("/", 1)
    try:
        return (int(hi, 16) << 32) | int(lo, 16)
    except ValueError:
        return None


def most_advanced(received: Mapping[str, str | None]) -> list[str]:
    """The members that received the most WAL (``received``: member -> ``pg_last_wal_receive_lsn()``); a member
    whose position is unknown is never among them unless none is known. Sorted; empty when ``received`` is."""
    known = {name: parse_lsn(lsn) for name, lsn in received.items()}
    best = max((v for v in known.values() if v is not None), default=None)
    if best is None:
        return sorted(received)
    return sorted(name for name, v in known.items() if v == best)


def classify(rto_web: float | None, rto_writes: float | None, rpo: RpoResult) -> tuple[bool, str]:
    """(service survived, data outcome): the service is up when both the entry point and the writes came
    back; the data is ``intact``, ``async-tail`` (only what asynchronous replication may lose) or ``lost``."""
    service = rto_web is not None and rto_writes is not None
    if not rpo.survivor_read:
        return service, DATA_LOST
    if not rpo.lost:
        return service, DATA_INTACT
    return service, DATA_ASYNC_TAIL if rpo.tail_only else DATA_LOST


# --------------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Prediction:
    """What the paper drill (resilient_stack.core.survival) says about losing the same site."""

    service_survives: bool
    data_survives: bool
    down_roles: tuple[str, ...] = ()
    data_lost: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "service_survives": self.service_survives,
            "data_survives": self.data_survives,
            "down_roles": list(self.down_roles),
            "data_lost": list(self.data_lost),
        }


@dataclass
class ScenarioResult:
    """One burned site: what was killed, what was measured, what the paper drill predicted."""

    site: str
    site_id: str
    placements: tuple[str, ...]
    killed: tuple[str, ...]
    prediction: Prediction
    fire_at: float
    rto_web: float | None
    rto_writes: float | None
    rpo: RpoResult
    failover: dict[str, Any] | None = None
    cluster: dict[str, Any] | None = None  # the survivors' cluster after the fire (drills.cluster.ClusterCheck)
    rejoin: dict[str, Any] | None = None  # the burned site back: its database host a replica again
    restore: dict[str, Any] | None = None  # --restore: the stack rebuilt from its backups (drills.restore)
    web: dict[str, Any] = field(default_factory=dict)
    writes: dict[str, Any] = field(default_factory=dict)
    timeline: list[Event] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    boot_s: float = 0.0
    runtime_s: float = 0.0
    fault: str = "fire"  # fire | pause | partition (resilient_stack.drills.faults)
    fence: dict[str, Any] | None = None  # pause, partition: whether two members ever accepted writes at once
    alerts: list[dict[str, Any]] | None = None  # with monitoring: what the drill's receiver heard (drills.alerts)
    dns: dict[str, Any] | None = None  # with the stack's own zone: the visits through a resolver (drills.resolver)

    @property
    def measured_service(self) -> bool:
        """The service came back (for a restore: from the restored database)."""
        return classify(self.rto_web, self.rto_writes, self.rpo)[0]

    @property
    def data_outcome(self) -> str:
        if self.restore is not None:
            if not self.rpo.survivor_read or not self.restore.get("ok"):
                return DATA_LOST
            if not self.rpo.lost:
                return DATA_INTACT
            return DATA_UNARCHIVED_TAIL if self.restore.get("lost_only_unarchived_tail") else DATA_LOST
        return classify(self.rto_web, self.rto_writes, self.rpo)[1]

    @property
    def measured_data(self) -> bool:
        return self.data_outcome != DATA_LOST

    @property
    def matches_prediction(self) -> bool:
        if self.restore is not None:
            # the paper drill says the service is DOWN with every member lost (the restore brings it back) and
            # whether the data survives in the backups: the data is what a restore can compare
            return self.measured_data == self.prediction.data_survives
        return (
            self.measured_service == self.prediction.service_survives
            and self.measured_data == self.prediction.data_survives
        )

    @property
    def cluster_ok(self) -> bool:
        """The stack healed: one primary, the survivors following it, etcd with a majority, and the returned
        member a replica again (each when it applies: nothing to check when no member survived)."""
        return (self.cluster is None or bool(self.cluster.get("ok"))) and (
            self.rejoin is None or bool(self.rejoin.get("ok"))
        )

    @property
    def survived(self) -> bool:
        """Service and data kept (a restore: the restored stack accepts writes, only the unarchived tail lost)."""
        restored = self.restore is None or bool(self.restore.get("ok"))
        fenced = self.fence is None or bool(self.fence.get("ok"))
        return self.measured_service and self.measured_data and self.cluster_ok and restored and fenced

    def as_dict(self) -> dict[str, Any]:
        return {
            "site": self.site,
            "site_id": self.site_id,
            "fault": self.fault,
            "placements": list(self.placements),
            "killed": list(self.killed),
            "rto_web_s": self.rto_web,
            "rto_writes_s": self.rto_writes,
            "rpo": self.rpo.as_dict(),
            "measured": {
                "service_survives": self.measured_service,
                "data_survives": self.measured_data,
                "data": self.data_outcome,
            },
            "predicted": self.prediction.as_dict(),
            "matches_prediction": self.matches_prediction,
            "failover": self.failover,
            "cluster": self.cluster,
            "rejoin": self.rejoin,
            "restore": self.restore,
            "fence": self.fence,
            "alerts": self.alerts,
            "dns": self.dns,
            "healed": self.cluster_ok,
            "web_requests": dict(self.web),
            "writes": dict(self.writes),
            "timeline": [
                {"t_fire_s": round(e.at - self.fire_at, 3), "phase": e.phase, "event": e.text} for e in self.timeline
            ],
            "notes": list(self.notes),
            "boot_s": round(self.boot_s, 1),
            "runtime_s": round(self.runtime_s, 1),
        }


@dataclass
class FiredrillReport:
    """Every scenario of one run, plus whether the components accepted the design."""

    stack: str
    source: str
    scenarios: list[ScenarioResult]
    rejected_rules: tuple[str, ...] = ()
    runtime_s: float = 0.0
    config_overrides: dict[str, Any] = field(default_factory=dict)  # what the drill changed in the stack: nothing
    boot_s: float = 0.0

    @property
    def exit_code(self) -> int:
        """0: every scenario kept service and data, healed (when a member survived) AND matched the paper drill;
        1 otherwise."""
        return 0 if self.scenarios and all(s.survived and s.matches_prediction for s in self.scenarios) else 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "stack": self.stack,
            "source": self.source,
            "design": {
                "accepted": not self.rejected_rules,
                "rejected_by": list(self.rejected_rules),
                "config_overrides": dict(self.config_overrides),
            },
            "replication": {"mode": REPLICATION_MODE, "promise": REPLICATION_PROMISE},
            "scenarios": [s.as_dict() for s in self.scenarios],
            "verdict": "pass" if self.exit_code == 0 else "fail",
            "exit_code": self.exit_code,
            "boot_s": round(self.boot_s, 1),
            "runtime_s": round(self.runtime_s, 1),
        }


# --------------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------------


def plural(count: int, word: str) -> str:
    """``1 host``, ``3 hosts``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def _secs(v: float | None) -> str:
    return "never" if v is None else f"{v:.1f} s"


def _outcome(service: bool, data: bool | str) -> str:
    d = data if isinstance(data, str) else ("safe" if data else "lost")
    if d in (DATA_INTACT, DATA_ASYNC_TAIL, DATA_UNARCHIVED_TAIL):
        d = {
            DATA_INTACT: "safe",
            DATA_ASYNC_TAIL: "safe (async tail)",
            DATA_UNARCHIVED_TAIL: "restored (unarchived tail lost)",
        }[d]
    return f"{'UP' if service else 'DOWN'} / {d.upper() if d == 'lost' else d}"


def _rows(report: FiredrillReport) -> tuple[list[str], list[list[str]]]:
    head = ["site burned", "hosts killed", "RTO web", "RTO writes", "RPO rows", "predicted", "measured", "match"]
    rows = []
    for s in report.scenarios:
        rows.append(
            [
                s.site,
                str(len(s.killed)),
                _secs(s.rto_web),
                _secs(s.rto_writes),
                f"{s.rpo.rows} of {s.rpo.acknowledged}",
                _outcome(s.prediction.service_survives, s.prediction.data_survives),
                _outcome(s.measured_service, s.data_outcome),
                "yes" if s.matches_prediction else "NO",
            ]
        )
    return head, rows


def _timeline_lines(s: ScenarioResult) -> list[str]:
    return [f"T{e.at - s.fire_at:+8.1f}s  {e.phase:<9} {e.text}" for e in s.timeline]


def _summary(report: FiredrillReport) -> list[str]:
    ok = sum(1 for s in report.scenarios if s.survived)
    out = [
        f"{ok} of {len(report.scenarios)} site losses kept the service up and the data safe"
        + ("" if all(s.cluster_ok for s in report.scenarios) else " (a cluster did NOT heal)")
        + "; "
        f"measured vs predicted: {'all match' if all(s.matches_prediction for s in report.scenarios) else 'MISMATCH'}; "
        f"exit {report.exit_code}; {report.runtime_s:.0f} s in all."
    ]
    return out


def _header(report: FiredrillReport) -> list[str]:
    lines = [f"Live fire drill of stack {report.stack} ({report.source})"]
    if report.rejected_rules:
        lines.append(
            "DESIGN REJECTED by the placement rules (" + ", ".join(report.rejected_rules) + "): the components "
            "refuse to deploy it; built here anyway (enforce_rules=False) to show what the loss does."
        )
    lines.append(f"Replication: {REPLICATION_MODE}. Promise: {REPLICATION_PROMISE}.")
    return lines


def alert_line(alerts: list[dict[str, Any]]) -> str:
    """What the stack's Alertmanagers sent during a scenario, in one line (times from its fire)."""
    if not alerts:
        return "none received"
    parts = []
    for a in alerts:
        where = a.get("site") or a.get("instance")
        said = f"{a['alert']}{f' ({where})' if where else ''}"
        if a.get("first_s") is not None:
            said += f" x{a['notifications']} at {a['first_s']:.0f} s"
        if a.get("resolved_s") is not None:
            said += f", resolved at {a['resolved_s']:.0f} s"
        parts.append(said)
    return "; ".join(parts)


def dns_line(dns: dict[str, Any], web: dict[str, Any]) -> str:
    """The way in with the stack's own DNS (a resolver following the delegation) and without it (the record set of
    every web host), in one line."""
    clean, servers, bound = dns["answers_clean_s"], dns["servers_clean_s"], dns["bound_s"]
    said = f"{clean:.0f} s after the fire" if clean is not None else "NEVER: a burned web host was still answered"
    slowest = f"{max(servers.values()):.0f} s" if bound is not None else "NEVER (a name server still answered one)"

    def waits(stats: dict[str, Any]) -> str:
        page = stats.get("page_s_after_fire")
        return f", pages in {page['median']:.2f} s (median), {page['max']:.2f} s at most" if page else ""

    return (
        f"with the stack's DNS {dns['failed_after_fire']} of {dns['requests_after_fire']} requests failed after the "
        f"fire{waits(dns)}; the name servers stopped answering the burned hosts after {slowest}, the resolver "
        f"from {said} (TTL {dns['ttl_s']} s){'' if bound is None else f', bound {bound:.0f} s'}; "
        f"without it (the record set) {web.get('failed_after_fire', 0)} of {web.get('after_fire', 0)} failed"
        f"{waits(web)}"
    )


def render_text(report: FiredrillReport) -> str:
    from rich.console import Console
    from rich.table import Table

    buf = io.StringIO()
    con = Console(file=buf, width=150, color_system=None, highlight=False, soft_wrap=True)
    for line in _header(report):
        con.print(line)
    head, rows = _rows(report)
    t = Table(title="Measured (podman) vs predicted (paper drill): service / data")
    for h in head:
        t.add_column(h, overflow="fold")
    for r in rows:
        t.add_row(*r)
    con.print(t)
    for s in report.scenarios:
        hosts = plural(len(s.killed), "host")
        con.print(f"\n== {s.site}: burned {', '.join(s.placements)} ({hosts}: {', '.join(s.killed)})")
        for line in _timeline_lines(s):
            con.print("  " + line)
        if s.alerts is not None:
            con.print(f"  alerts: {alert_line(s.alerts)}")
        if s.dns is not None:
            con.print(f"  dns: {dns_line(s.dns, s.web)}")
        for note in s.notes:
            con.print(f"  note: {note}")
    for line in _summary(report):
        con.print("\n" + line)
    return buf.getvalue()


def render_json(report: FiredrillReport) -> str:
    return json.dumps(report.as_dict(), indent=2) + "\n"


def _md(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: FiredrillReport) -> str:
    lines = [f"## Live fire drill: `{report.stack}`", ""]
    for line in _header(report)[1:]:
        lines += [f"> {_md(line)}", ""]
    head, rows = _rows(report)
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(_md(c) for c in r) + " |" for r in rows]
    for s in report.scenarios:
        lines += [
            "",
            f"### {_md(s.site)}",
            "",
            f"Burned: {', '.join(s.placements)} — killed {', '.join(f'`{k}`' for k in s.killed)}",
            "",
            "```",
        ]
        lines += _timeline_lines(s)
        lines.append("```")
        if s.alerts is not None:
            lines.append(f"- alerts: {_md(alert_line(s.alerts))}")
        if s.dns is not None:
            lines.append(f"- dns: {_md(dns_line(s.dns, s.web))}")
        lines += [f"- {_md(n)}" for n in s.notes]
    lines += ["", _summary(report)[0]]
    return "\n".join(lines) + "\n"


FORMATS = ("text", "json", "markdown")
RENDERERS = {"text": render_text, "json": render_json, "markdown": render_markdown}
