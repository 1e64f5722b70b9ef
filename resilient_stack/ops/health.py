"""The stack's health from what its hosts answered (``resilient-stack status``): pure, no process, no network.

:func:`judge` takes the hosts of the stack's outputs and each one's answer (the JSON of the status probe,
``ops/data/status-probe.py.in``, or why it did not answer) and says, per placement and for the whole stack, what
an operator must act on, each with the action named:

- a placement none of whose hosts answers (its site lost, or the way to it);
- the database cluster: no leader, more than one, a replica not streaming or lagging, a member not answering;
- etcd: members down, quorum lost;
- backups: the newest backup, the newest full backup older than their schedules allow; WAL archiving failing;
- certificates about to expire; data volumes and root disks filling;
- a web host whose application does not answer its health check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

CRITICAL = "critical"
WARNING = "warning"


@dataclass(frozen=True)
class Target:
    """One host of the stack: its address, its role (web, database) and its placement (and that one's region)."""

    address: str
    role: str
    placement: str
    region: str | None = None


@dataclass(frozen=True)
class Answer:
    """What one host said: the probe's report, or why there is none (ssh failed, the probe failed)."""

    report: Mapping[str, Any] | None
    error: str | None = None


@dataclass(frozen=True)
class Limits:
    """When something is worth acting on (defaults: the shipped schedules, a daily differential and a weekly full
    backup, with a margin)."""

    lag_mb: float = 16.0
    backup_hours: float = 48.0
    full_backup_hours: float = 8 * 24.0
    cert_warn_days: float = 14.0
    cert_critical_days: float = 3.0
    disk_warn_pct: float = 85.0
    disk_critical_pct: float = 95.0


@dataclass(frozen=True)
class Finding:
    level: str
    subject: str
    problem: str
    action: str

    def as_dict(self) -> dict[str, str]:
        return {"level": self.level, "subject": self.subject, "problem": self.problem, "action": self.action}


@dataclass
class Status:
    hosts: list[dict[str, Any]] = field(default_factory=list)  # one row per host
    cluster: dict[str, Any] = field(default_factory=dict)  # leader, replicas, etcd, backups
    findings: list[Finding] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0: nothing to act on; 1: act (a finding)."""
        return 1 if self.findings else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": not self.findings,
            "hosts": self.hosts,
            "cluster": self.cluster,
            "findings": [f.as_dict() for f in self.findings],
        }


def _where(t: Target) -> str:
    return f"{t.placement} ({t.region})" if t.region else t.placement


def judge(targets: Sequence[Target], answers: Mapping[str, Answer], now: float, limits: Limits = Limits()) -> Status:
    """The stack's status from its hosts' answers (``answers``: address -> :class:`Answer`; a host missing from it
    did not answer)."""
    st = Status()
    add = st.findings.append
    placements: dict[str, list[Target]] = {}
    for t in targets:
        placements.setdefault(t.placement, []).append(t)
    answered = {t.address for t in targets if (a := answers.get(t.address)) is not None and a.report is not None}
    for _, hosts in sorted(placements.items()):
        if not any(h.address in answered for h in hosts):
            add(Finding(CRITICAL, f"placement {_where(hosts[0])}", f"none of its {len(hosts)} hosts answers "
                        f"({', '.join(h.address for h in hosts)})",
                        "if its site is lost, the stack serves from the others (the database fails over by itself: see "
                        "the leader below); nothing to do until it returns, then its hosts rejoin by themselves; check "
                        "the provider's status page, and your own way to it (ssh, VPN, security groups)"))  # fmt: skip
    for t in targets:
        a = answers.get(t.address)
        row: dict[str, Any] = {"address": t.address, "role": t.role, "placement": t.placement, "region": t.region}
        st.hosts.append(row)
        if a is None or a.report is None:
            row["state"] = "no answer"
            row["error"] = a.error if a else "not asked"
            if any(h.address in answered for h in placements[t.placement]):  # its placement answers: this host only
                add(Finding(CRITICAL if t.role == "database" else WARNING, f"{t.address} ({_where(t)})",
                            f"does not answer ({row['error']})",
                            "its console at the provider; a host that cannot come back: replace it (docs/operations.md: "
                            "replacing a host; a database host keeps its data volume)"))  # fmt: skip
            continue
        rep = a.report
        row["state"] = "up"
        row["host"] = rep.get("host")
        _disk(t, rep, row, limits, add)
        _certs(t, rep, row, limits, add)
        if t.role == "web":
            _web(t, rep, row, add)
        if t.role == "monitoring":
            _monitoring(t, rep, row, add, sum(1 for h in targets if h.role == "monitoring"))
    _database(targets, answers, now, limits, st)
    return st


def _disk(t: Target, rep: Mapping[str, Any], row: dict, limits: Limits, add: Any) -> None:
    disks = rep.get("disk")
    if not isinstance(disks, dict):
        return
    row["disk_used_pct"] = {m: d.get("used_pct") for m, d in disks.items() if isinstance(d, dict)}
    for mount, used in row["disk_used_pct"].items():
        if not isinstance(used, (int, float)):
            continue
        if used >= limits.disk_warn_pct:
            level = CRITICAL if used >= limits.disk_critical_pct else WARNING
            what = "the data volume" if mount != "/" else "the root disk"
            add(Finding(level, f"{t.address} ({_where(t)})", f"{what} ({mount}) is {used:.0f}% full",
                        "grow the volume (Cinder extend, then resize2fs) or free space; on a database host check the "
                        "WAL archive (pgBackRest) and replication slots first"))  # fmt: skip


def _certs(t: Target, rep: Mapping[str, Any], row: dict, limits: Limits, add: Any) -> None:
    certs = rep.get("certificates")
    if not isinstance(certs, dict):
        return
    row["certificate_days"] = {}
    for name, c in certs.items():
        days = c.get("days_left") if isinstance(c, dict) else None
        if not isinstance(days, (int, float)):
            continue
        row["certificate_days"][name] = days
        if days <= limits.cert_warn_days:
            level = CRITICAL if days <= limits.cert_critical_days else WARNING
            action = (
                "check the certificate timer (systemctl status resilient-stack-certificate.timer) and the ACME "
                "challenge's reachability on port 80"
                if name == "web"
                else "renew the cluster's certificates (docs/operations.md: rotating the cluster's certificates), "
                "then `pulumi up`"
            )
            add(
                Finding(
                    level, f"{t.address} ({_where(t)})", f"its {name} certificate expires in {days:.0f} days", action
                )
            )


def _web(t: Target, rep: Mapping[str, Any], row: dict, add: Any) -> None:
    app = rep.get("app")
    if not isinstance(app, dict):
        return
    code = app.get("healthz")
    row["healthz"] = code
    release = app.get("release")
    if isinstance(release, dict):
        row["release"] = release.get("version") or release.get("image") or release.get("slot")
    if not (isinstance(code, int) and 200 <= code < 400):
        add(Finding(CRITICAL, f"{t.address} ({_where(t)})", f"its site does not answer /healthz (HTTP {code})",
                    "`resilient-stack app logs STACK --host ADDRESS`; `resilient-stack release status STACK`; a failed "
                    "release stops at its first host and `resilient-stack release rollback STACK` undoes it"))  # fmt: skip


def _monitoring(t: Target, rep: Mapping[str, Any], row: dict, add: Any, hosts: int) -> None:
    mon = rep.get("monitoring")
    if not isinstance(mon, dict) or "error" in mon:
        err = mon.get("error") if isinstance(mon, dict) else "no answer"
        add(Finding(WARNING, f"{t.address} ({_where(t)})", f"its Prometheus or Alertmanager does not answer ({err})",
                    "journalctl -u prometheus -u prometheus-alertmanager on the host; the other monitoring hosts "
                    "still send the alerts"))  # fmt: skip
        return
    row["firing"] = mon.get("firing") or []
    row["targets_down"] = mon.get("down") or []
    stopped = sorted(u for u, state in (mon.get("services") or {}).items() if state != "active")
    peers = (mon.get("cluster") or {}).get("peers")
    if stopped:
        add(Finding(WARNING, f"{t.address} ({_where(t)})", f"{', '.join(stopped)} not running",
                    f"systemctl restart {' '.join(stopped)} on the host; the other monitoring hosts still send the "
                    "alerts (and, for pdns, answer the zone)"))  # fmt: skip
    elif isinstance(peers, int) and peers < hosts:
        add(Finding(WARNING, f"{t.address} ({_where(t)})", f"its Alertmanager sees {peers} of the {hosts} in its "
                    "cluster: an alert may reach you twice", "check the Alertmanagers' cluster port (9094, TCP and UDP) "
                    "between the monitoring hosts"))  # fmt: skip


def _database(targets: Sequence[Target], answers: Mapping[str, Answer], now: float, limits: Limits, st: Status) -> None:
    add = st.findings.append
    dbs = [t for t in targets if t.role == "database"]
    if not dbs:
        return
    reports = {t.address: answers[t.address].report for t in dbs if t.address in answers and answers[t.address].report}
    # Patroni's view: every member's own list (they agree when the cluster is whole); the leader's, first
    members: dict[str, dict] = {}
    for rep in reports.values():
        pat = rep.get("patroni") if isinstance(rep, dict) else None
        for m in (pat or {}).get("members", []) if isinstance(pat, dict) else []:
            if isinstance(m, dict) and isinstance(m.get("Member"), str):
                members.setdefault(m["Member"], m)
    leaders = sorted(n for n, m in members.items() if str(m.get("Role", "")).lower() in ("leader", "standby leader"))
    replicas = {n: m for n, m in members.items() if n not in leaders}
    st.cluster["leader"] = leaders[0] if len(leaders) == 1 else None
    st.cluster["members"] = [
        {"name": n, "host": m.get("Host"), "role": m.get("Role"), "state": m.get("State"), "lag_mb": m.get("Lag in MB")}
        for n, m in sorted(members.items())
    ]
    if not reports:
        add(Finding(CRITICAL, "database", "no database host answers", _NO_DB))
        return
    if not members:
        errors = {a: (r.get("patroni") or {}).get("error") for a, r in reports.items() if isinstance(r, dict)}
        add(Finding(CRITICAL, "database", f"Patroni answers on no member ({errors})", _NO_DB))
    elif not leaders:
        add(Finding(CRITICAL, "database", "the cluster has no leader: nothing accepts writes",
                    "`sudo resilient-stack-cluster list` on a member; Patroni elects one within its TTL (30 s) when a "
                    "majority of etcd answers: check etcd below"))  # fmt: skip
    elif len(leaders) > 1:
        add(
            Finding(
                CRITICAL,
                "database",
                f"more than one leader: {', '.join(leaders)}",
                "`sudo resilient-stack-cluster list` on each; stop the stale one's Patroni (it lost its lease)",
            )
        )
    for name, m in sorted(replicas.items()):
        state = str(m.get("State", ""))
        lag = m.get("Lag in MB")
        if state.lower() not in ("streaming", "running"):
            add(Finding(CRITICAL, f"database member {name}", f"not replicating (state: {state or 'unknown'})",
                        "`sudo resilient-stack-cluster list`; `journalctl -u patroni` on it; a member that cannot "
                        f"catch up: `sudo resilient-stack-cluster reinit <cluster> {name}`"))  # fmt: skip
        elif isinstance(lag, (int, float)) and lag > limits.lag_mb:
            add(
                Finding(
                    WARNING,
                    f"database member {name}",
                    f"{lag} MB behind the leader",
                    "check its network to the leader's site and its disk; it stays out of failover while behind",
                )
            )
    _etcd(reports, st)
    _backups(reports, now, limits, st)


_NO_DB = (
    "if their sites are lost, follow docs/operations.md (restore from the backups: `bootstrapFrom: backup`); "
    "else check your way to them (ssh, VPN, security groups)"
)


def _etcd(reports: Mapping[str, Any], st: Status) -> None:
    add = st.findings.append
    health: dict[str, bool] = {}
    for rep in reports.values():
        e = rep.get("etcd") if isinstance(rep, dict) else None
        for ep in (e or {}).get("endpoints", []) if isinstance(e, dict) else []:
            if isinstance(ep, dict) and isinstance(ep.get("endpoint"), str):
                health[ep["endpoint"]] = health.get(ep["endpoint"], False) or ep.get("health") is True
    if not health:
        add(
            Finding(
                CRITICAL, "etcd", "no member's etcd answered", "`sudo resilient-stack-etcdctl --all endpoint health`"
            )
        )
        return
    up = sorted(e for e, ok in health.items() if ok)
    down = sorted(e for e, ok in health.items() if not ok)
    quorum = math.floor(len(health) / 2) + 1
    st.cluster["etcd"] = {"members": len(health), "healthy": len(up), "quorum": quorum, "down": down}
    if len(up) < quorum:
        add(Finding(CRITICAL, "etcd", f"quorum lost: {len(up)} of {len(health)} members healthy (need {quorum})",
                    "no failover can happen; bring members back (their sites), never remove members to force a "
                    "quorum"))  # fmt: skip
    elif down:
        add(Finding(WARNING, "etcd", f"{len(down)} of {len(health)} members down: {', '.join(down)}",
                    "one more loss and the cluster cannot fail over; the member rejoins when its host returns "
                    "(a replaced host with its retained volume rejoins as the same member)"))  # fmt: skip


def _backups(reports: Mapping[str, Any], now: float, limits: Limits, st: Status) -> None:
    add = st.findings.append
    newest: dict[str, float] = {}
    stanza_problems: list[str] = []
    archiver_failing: list[str] = []
    for rep in reports.values():
        if not isinstance(rep, dict):
            continue
        b = rep.get("backups")
        for s in (b or {}).get("stanzas", []) if isinstance(b, dict) else []:
            if not isinstance(s, dict):
                continue
            for kind, stop in (s.get("newest") or {}).items():
                if isinstance(stop, (int, float)):
                    newest[kind] = max(newest.get(kind, 0.0), float(stop))
            if s.get("code") not in (0, None):
                stanza_problems.append(f"stanza {s.get('name')}: {s.get('status')} (code {s.get('code')})")
        arch = rep.get("archiver")
        if isinstance(arch, dict) and arch.get("in_recovery") is False:
            failed, last = arch.get("last_failed") or 0, arch.get("last_archived") or 0
            if failed and failed > last:
                archiver_failing.append(f"{rep.get('host')}: last failure {_ago(now - failed)}, last success "
                                        f"{_ago(now - last) if last else 'never'}")  # fmt: skip
    any_newest = max(newest.values()) if newest else None
    st.cluster["backups"] = {
        "newest": {k: _ago(now - v) for k, v in sorted(newest.items())},
        "newest_full_hours": round((now - newest["full"]) / 3600, 1) if "full" in newest else None,
    }
    where = "check the backup timer on the primary (`systemctl list-timers 'resilient-stack-backup*'`) and its log "
    if any_newest is None and stanza_problems:
        add(
            Finding(
                CRITICAL,
                "backups",
                f"pgBackRest cannot read the repository ({'; '.join(sorted(set(stanza_problems)))})",
                "the object storage's site and the backup credential (docs/operations.md: the backup credential); "
                "`sudo -u postgres pgbackrest info` on the primary; WAL waits on the data volume until it answers",
            )
        )
        stanza_problems = []
    elif any_newest is None:
        add(
            Finding(
                CRITICAL,
                "backups",
                "the repository holds no backup",
                where + "(`journalctl -u resilient-stack-backup-init`): the first one runs soon after boot",
            )
        )
    else:
        if now - any_newest > limits.backup_hours * 3600:
            add(Finding(CRITICAL, "backups", f"the newest backup is {_ago(now - any_newest)} old "
                        f"(limit {limits.backup_hours:g} h: --backup-hours)", where + "(`journalctl -u 'resilient-stack-backup@*'`)"))  # fmt: skip
        full = newest.get("full")
        if full is None or now - full > limits.full_backup_hours * 3600:
            said = f"{_ago(now - full)} old" if full else "missing"
            add(
                Finding(
                    WARNING,
                    "backups",
                    f"the newest full backup is {said} (schedule: weekly)",
                    where + "(`journalctl -u resilient-stack-backup@full`)",
                )
            )
    for problem in sorted(set(stanza_problems)):
        add(
            Finding(
                WARNING, "backups", f"pgBackRest reports {problem}", "`sudo -u postgres pgbackrest info` on the primary"
            )
        )
    for failing in archiver_failing:
        add(Finding(CRITICAL, "WAL archive", f"archiving fails on the primary ({failing})",
                    "`sudo -u postgres pgbackrest check` on the primary; the object storage's reachability and "
                    "credentials; WAL piles up on the data volume until it works"))  # fmt: skip


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render_text(st: Status) -> str:
    lines = ["host            role       placement          state      disk%        healthz  certs(days)"]
    for h in st.hosts:
        disk = ",".join(f"{v:.0f}" for v in (h.get("disk_used_pct") or {}).values() if isinstance(v, (int, float)))
        certs = ",".join(f"{k}:{v:.0f}" for k, v in (h.get("certificate_days") or {}).items())
        place = f"{h['placement']} ({h['region']})" if h.get("region") else h["placement"]
        lines.append(
            f"{h['address']:<15} {h['role']:<10} {place:<18} {h['state']:<10} {disk or '-':<12} "
            f"{str(h.get('healthz', '-')):<8} {certs or '-'}"
        )
    c = st.cluster
    if "members" in c:
        lines.append("")
        lines.append(f"database leader: {c.get('leader') or 'NONE'}")
        for m in c["members"]:
            lag = "" if m["lag_mb"] is None else f"lag {m['lag_mb']} MB"
            lines.append(f"  {m['name']:<20} {str(m['role']):<14} {str(m['state']):<12} {lag}".rstrip())
    if "etcd" in c:
        e = c["etcd"]
        lines.append(f"etcd: {e['healthy']}/{e['members']} healthy (quorum {e['quorum']})"
                     + (f", down: {', '.join(e['down'])}" if e["down"] else ""))  # fmt: skip
    if "backups" in c:
        b = c["backups"]
        lines.append("backups: " + (", ".join(f"{k} {v} ago" for k, v in b["newest"].items()) or "none"))
    for h in st.hosts:
        if "firing" in h:  # what the stack's own monitoring says, from each monitoring host
            lines.append(f"alerts firing on {h['address']}: {', '.join(h['firing']) or 'none'}")
    lines.append("")
    if not st.findings:
        lines.append("OK: nothing to act on")
    for f in st.findings:
        lines.append(f"{f.level.upper()}: {f.subject}: {f.problem}")
        lines.append(f"  action: {f.action}")
    return "\n".join(lines) + "\n"
