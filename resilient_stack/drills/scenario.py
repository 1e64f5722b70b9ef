"""The live drill's scenarios: the stack booted once, then each selected site burned in turn and brought back.

:func:`run_drill` boots the topology once (:mod:`resilient_stack.drills.topology`), then for each site:

- **Ready**: the cluster healthy (exactly one primary, every other member streaming from it, etcd healthy), the
  visitor gets the page and commits a row through the application.
- **Load** (:mod:`resilient_stack.drills.load`): GETs of the page and numbered writes through the application,
  ``before_s`` seconds of steady load.
- **Fire**: one ``podman kill --signal KILL`` of every container of the site at once (through the harness).
- **Observe**, and nothing else: the drill takes no failover action. It reads the survivors
  (:mod:`resilient_stack.drills.cluster`, read only) until the cluster has healed and both loads answer again,
  or the time is up: who became the primary and when, whether the others follow it, etcd's majority.
- **Measure**: RTO web, RTO writes and RPO (:mod:`resilient_stack.drills.report`) beside the paper drill's
  prediction, with a timeline (Patroni's own events included) and notes.
- **Return**: the burned containers start again from their disks (the site comes back); the drill waits until
  the site's database host is a replica of the current primary (a former primary rewinds with ``pg_rewind``)
  and its web hosts answer. Not when no database member survived: the disks burned with the data.

Every container and network lives in one :class:`resilient_stack.testing.sessions.Session`: removed afterwards,
also on errors, Ctrl-C and SIGTERM. Every wait is bounded.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from resilient_stack.core.vocabulary import HOST_MONITORING, HOST_WEB, HTTP_PORT
from resilient_stack.drills import alerts, cluster, resolver
from resilient_stack.drills import topology as topo
from resilient_stack.drills.load import CONNECT_TIMEOUT_S, TABLE, LoadStream, Visits, Writes
from resilient_stack.drills.load import stop as stop_load
from resilient_stack.drills.plan import DrillError, Plan
from resilient_stack.drills.report import (
    Attempt,
    Event,
    ScenarioResult,
    compute_rpo,
    most_advanced,
    plural,
    recovery_seconds,
)
from resilient_stack.drills.strikes import Strikes, psql_local  # noqa: F401 - psql_local: re-exported
from resilient_stack.testing import podman, sessions

__all__ = ["Options", "run_drill", "psql_local", "ROWS_PER_SCENARIO"]

ROWS_PER_SCENARIO = 1_000_000  # each scenario numbers its writes from its own block


@dataclass(frozen=True)
class Options:
    """Timings and bounds of a drill (seconds unless said otherwise)."""

    before_s: float = 6.0  # steady load before the fire
    min_after_s: float = 8.0  # observe at least this long after the fire
    max_after_s: float = 90.0  # ... and at most this long
    dead_after_s: float = 12.0  # how long to watch a role of which no host survived
    boot_timeout_s: float = 480.0  # every host booted (cloud-init done) within this
    ready_timeout_s: float = 300.0  # the cluster healthy, the application answering on every web host
    return_timeout_s: float = 150.0  # the burned site back: its database host streaming again
    hold_s: float = 15.0  # a paused or cut-off primary stays so this long after the stack healed without it
    http_interval_s: float = 0.1
    write_interval_s: float = 0.05
    max_requests: int = 4000
    max_writes: int = 4000
    image: str = podman.DEFAULT_IMAGE
    # --restore
    backup_timeout_s: float = 300.0  # the repository holds a full backup within this after the boot
    restore_load_s: float = 75.0  # writes before the fire: longer than archive_timeout, so some WAL is archived
    restore_timeout_s: float = 600.0  # from the fire: fresh hosts booted, the restored primary accepting writes


def cleaned_up(
    result: ScenarioResult, session: sessions.Session, since: float, progress: Callable[[str], None]
) -> None:
    """The session's removal (or keeping) as the last event of ``result``'s timeline, and said."""
    kept = "kept (RESILIENT_STACK_KEEP_HOSTS=1)" if session.keep else "removed"
    result.timeline.append(
        Event(
            time.time(),
            "cleanup",
            f"containers and networks of session rs-{session.id}-* {kept} ({time.time() - since:.1f} s)",
        )
    )
    progress(f"[cleanup] {result.timeline[-1].text}")


def latency_ms(attempts: list[Attempt]) -> dict[str, float] | None:
    """How long an acknowledged write took, from the visitor's request to its answer (median and 95th percentile,
    milliseconds): with synchronous replication, a commit waits for the standby in another site."""
    durations = sorted((a.end - a.start) * 1000 for a in attempts)
    if not durations:
        return None
    return {
        "median": round(statistics.median(durations), 1),
        "p95": round(durations[min(len(durations) - 1, int(0.95 * len(durations)))], 1),
        "n": len(durations),
    }


def release_workdir(workdir: Path, progress: Callable[[str], None]) -> None:
    """The drill's working directory (the database hosts' data volumes among it) removed, or kept with the hosts
    (RESILIENT_STACK_KEEP_HOSTS=1: a kept host keeps its disks until it is removed; said on stderr)."""
    if podman.keeping():
        progress(f"[cleanup] the kept hosts' data volumes and TLS files stay in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def _settled(attempts: list[Attempt], since: float) -> bool:
    """The last two attempts that ended after ``since`` both succeeded."""
    recent = [a for a in attempts if a.end >= since][-2:]
    return len(recent) == 2 and all(a.ok for a in recent)


class _Drill(Strikes):
    """The booted stack across scenarios: which hosts are up, who leads."""

    def __init__(self, plan: Plan, options: Options, progress: Callable[[str], None]) -> None:
        self.plan, self.o, self.progress = plan, options, progress
        self.names: dict[str, str] = {}  # host name -> container
        self.internet = ""  # the internet network's name
        self.struck = "burned"  # what the scenario's fault did to its victims (for the timeline)
        self.visitor: podman.Host | None = None
        self.down: set[str] = set()  # host names whose containers are killed
        self.events: list[Event] = []
        self.boot_s = 0.0
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="firedrill-probe")

    def event(self, phase: str, text: str, at: float | None = None) -> None:
        self.events.append(Event(at if at is not None else time.time(), phase, text))
        self.progress(f"[{phase}] {text}")

    # -- the cluster, read only ----------------------------------------------------------------------
    def states(self) -> list[cluster.MemberState]:
        """Every member: the living ones probed (in parallel), the burned ones as dead."""
        placements = self.plan.db_placements
        alive = [p for p in placements if self.member(p) not in self.down]
        probed = dict(zip(alive, self.pool.map(lambda p: cluster.probe(p, self.names[self.member(p)]), alive)))
        return [probed.get(p) or cluster.MemberState(p, alive=False) for p in placements]

    def check(self) -> cluster.ClusterCheck:
        return cluster.check(self.states(), self.plan.database_addresses)

    def visit_once(self, mode: str) -> Attempt | None:
        assert self.visitor is not None
        stream = (Visits if mode == "get" else Writes)(
            self.visitor.name, self.plan.url, interval=0, first=1, count=1, seconds=60, token=self.plan.write_token
        )
        stream.wait(90)
        return stream.attempts[-1] if stream.attempts else None

    def ready(self) -> str:
        """Wait until the cluster is whole and healthy and the application answers; the primary's placement."""
        deadline = time.monotonic() + self.o.ready_timeout_s
        while True:
            chk = self.check()
            if chk.ok and len(chk.rebuilt_replicas) == chk.members - 1:
                break
            if time.monotonic() > deadline:
                raise DrillError(
                    f"the database cluster is not healthy after {self.o.ready_timeout_s:.0f} s: {chk.describe()}"
                )
            podman.sleep(1)
        self.event("ready", f"cluster: {chk.describe()}")
        # every web host serves the application (its /healthz is the application's), not just the first one the
        # visitor reaches: the first release starts on each host once the database answers
        for h in [h for h in self.plan.hosts if h.role == HOST_WEB]:
            while podman.exec_in(
                self.names[h.name],
                ["curl", "-fsS", "-o", "/dev/null", "-m", "3", "http://127.0.0.1/healthz"],
                check=False,
            ).returncode:
                if time.monotonic() > deadline:
                    raise DrillError(f"{h.name} does not serve the application after {self.o.ready_timeout_s:.0f} s")
                podman.sleep(1)
        for mode, what in (("get", "the page"), ("write", "a write through the application")):
            while True:
                a = self.visit_once(mode)
                if a is not None and a.ok:
                    break
                if time.monotonic() > deadline:
                    raise DrillError(
                        f"the visitor cannot get {what} from {self.plan.url}: {a.detail if a else 'no answer'}"
                    )
                podman.sleep(1)
        self.event(
            "ready",
            f"the visitor reaches {self.plan.url} ({len(self.plan.entry_points)} A records): "
            f"page and application answer",
        )
        assert chk.primary is not None
        return chk.primary

    # -- one site -------------------------------------------------------------------------------------
    def burn(self, site: str | None, index: int, fault: str = "fire") -> ScenarioResult:
        """One scenario: ``fault`` (``fire``, or :mod:`.faults`' ``pause``/``partition``) on ``site`` (None: the site
        of the primary at that moment), observed until the stack healed, then the site back."""
        plan, o = self.plan, self.o
        self.events = [e for e in self.events if e.phase == "boot"] if index == 0 else []
        notes: list[str] = []
        old_primary = self.ready()
        if site is None:
            site = plan.db_host(old_primary).site
        info = plan.sites[site]
        first = (index + 1) * ROWS_PER_SCENARIO
        span = int(o.before_s + o.max_after_s + 60)
        assert self.visitor is not None
        visits = Visits(
            self.visitor.name, plan.url, interval=o.http_interval_s, first=1, count=o.max_requests, seconds=span
        )
        writes = Writes(
            self.visitor.name,
            plan.url,
            interval=o.write_interval_s,
            first=first,
            count=o.max_writes,
            seconds=span,
            token=plan.write_token,
        )
        dns = self.dns_streams(span)
        self.event(
            "load",
            f"GETs of {plan.url}/ every {o.http_interval_s:.1f} s and numbered writes through the "
            f"application (rows from {first}); the primary is {self.member(old_primary)}",
        )
        # the replication lag, read while the load runs (off the fire's critical path)
        lag_query = self.pool.submit(
            psql_local,
            self.names[self.member(old_primary)],
            "SELECT string_agg(application_name || ' ' || coalesce(replay_lag::text, '0'), ', ') FROM pg_stat_replication",
        )
        podman.sleep(o.before_s)
        lag = lag_query.result(timeout=60)
        self.event(
            "load",
            f"{len(writes.acks)} rows acknowledged, {sum(a.ok for a in visits.attempts)} GETs ok; "
            f"replay lag: {lag.stdout.strip() or 'n/a'}",
        )

        sync = self.sync_standby(old_primary)
        fence = self.fence_probes(old_primary, span) if fault != "fire" else {}
        victims = self.victims(site, fault, old_primary)
        self.struck = {"fire": "burned", "pause": "frozen", "partition": "cut off"}[fault]
        fire = self.strike(fault, info.name, victims)
        self.down |= set(victims)

        failover, check, holder = self.observe(fire, old_primary, visits, writes)
        if failover is not None:
            failover["synchronous_standby"] = sync
            failover["promoted_synchronous"] = sync is not None and failover.get("promoted") == sync
        undone: float | None = None  # a pause or a partition undone: its hosts answer again from then on
        if fault != "fire":
            podman.sleep(o.hold_s)  # the frozen or cut-off primary stays so a while after the handover
            undone = time.time()
            self.restore(fault, info.name, victims)
        zone = plan.config.monitoring.zone if plan.config.monitoring else None
        if dns and zone:  # long enough to see the resolver's answers follow the name servers' checks
            podman.sleep(max(0.0, fire + resolver.window_s(zone.ttl) - time.time()))
        stop_load(self.visitor.name, visits, writes, *(dns[:2] + tuple(dns[2].values()) if dns else ()))
        self.event("load", f"stopped: {len(visits.attempts)} GETs, {len(writes.attempts)} writes attempted")
        burned = [h.public_ip for h in plan.hosts if h.name in victims and h.role == HOST_WEB]
        gone = {h.public_ip for h in plan.hosts if h.name in victims and h.role == HOST_MONITORING}  # name servers
        through_dns = (
            resolver.stats(
                dns[0],
                dns[1],
                {ip: a for ip, a in dns[2].items() if ip not in gone},
                fire,
                burned,
                zone.ttl,
                until=undone,
            )
            if dns and zone
            else None
        )
        self.patroni_events([p for p in plan.db_placements if self.member(p) not in self.down], fire)

        present = self.rows_present(holder, first, notes) if holder is not None else None
        rpo = compute_rpo(writes.acks, present, fire)
        rto_web = recovery_seconds(visits.attempts, fire)
        rto_writes = recovery_seconds(writes.attempts, fire)
        self.recovered(fire, visits, writes, rto_web, rto_writes)
        where = f"on {self.member(holder)}" if holder else "(no database copy survives)"
        self.event(
            "rpo",
            f"{rpo.rows} of {rpo.acknowledged} acknowledged rows missing {where}"
            + (f" (rows {', '.join(map(str, rpo.lost[:10]))}{'...' if rpo.rows > 10 else ''})" if rpo.lost else ""),
        )
        web = self.visit_stats(visits, fire, notes)
        wafter = [a for a in writes.attempts if a.end >= fire]
        if writes.errors:
            notes.append(
                "write errors: "
                + "; ".join(
                    f"{count}x {kind}" for kind, count in sorted(writes.errors.items(), key=lambda kv: -kv[1])[:3]
                )
            )
        if plan.backup_site == site:
            notes.append(
                f"the backup store {plan.backup_placement} burned: WAL archiving and backups fail until it "
                "is back" + ("; the backups burned with the data" if holder is None else "")
            )
        if holder is None:
            notes.append("no database member survives: every acknowledged row is lost")
        if plan.rejected:
            notes.append(
                "design rejected by the placement rules ("
                + ", ".join(plan.rejected_rules)
                + "); built with enforce_rules=False for this drill only"
            )

        if fault == "fire" and plan.hosts_on(site):  # a site with hosts of the stack (not the backups' alone)
            self.await_alert(
                f"{alerts.SITE_DOWN} alert for {info.name}",
                fire,
                lambda h: alerts.site_down(h, info.name),
                alerts.WAIT_S,
            )
        elif fault == "fire" and plan.backup_site == site and plan.config.monitoring is not None:
            max_age = plan.config.monitoring.thresholds.backup_max_age_hours
            wait = alerts.backup_wait_s(max_age)
            if wait is None:
                notes.append(
                    f"{alerts.BACKUP_LATE} comes {max_age:g} h after the newest backup (monitoring.thresholds."
                    "backupMaxAgeHours): not awaited"
                )
            else:
                self.await_alert(f"{alerts.BACKUP_LATE} alert", fire, alerts.backup_late, wait)
        rejoin = None
        if holder is not None:
            rejoin = self.come_back(site, victims, notes, start=fault == "fire")
        else:
            notes.append("nothing comes back: the site's disks burned with the only copies of the data")
        verdict = self.fence_verdict(fence, fire) if fence else None
        result = ScenarioResult(
            site=info.name,
            site_id=site,
            placements=info.placements,
            killed=tuple(victims),
            prediction=plan.predictions[site],
            fire_at=fire,
            rto_web=rto_web,
            rto_writes=rto_writes,
            rpo=rpo,
            failover=failover,
            cluster=check,
            rejoin=rejoin,
            web=web,
            writes={
                "total": len(writes.attempts),
                "acknowledged": len(writes.acks),
                "after_fire": len(wafter),
                "failed_after_fire": sum(not a.ok for a in wafter),
                "ms_before_fire": latency_ms([a for a in writes.attempts if a.ok and a.end < fire]),
            },
            notes=notes,
            boot_s=self.boot_s,
            fault=fault,
            fence=verdict,
            dns=through_dns,
        )
        result.timeline = sorted(self.events, key=lambda e: e.at)
        return result

    def dns_streams(self, span: int) -> tuple[LoadStream, LoadStream, dict[str, LoadStream]] | None:
        """With the stack's own zone: GETs and answers through the visitor's resolver, and each name server's own
        answers (:mod:`.resolver`)."""
        plan, o, v = self.plan, self.o, self.visitor
        if plan.dns_url is None or v is None:
            return None
        kw: dict[str, Any] = {"first": 1, "count": o.max_requests, "seconds": span}
        servers = [h.public_ip for h in plan.hosts if h.role == HOST_MONITORING]
        self.event("load", f"and GETs of {plan.dns_url}/ through the visitor's resolver (the stack's own DNS)")
        return (
            resolver.DnsVisits(v.name, plan.dns_url, interval=o.http_interval_s, resolver=resolver.RESOLVER, **kw),
            resolver.Answers(v.name, plan.dns_url, interval=resolver.SAMPLE_S, resolver=resolver.RESOLVER, **kw),
            {
                ip: resolver.Answers(v.name, plan.dns_url, interval=resolver.SAMPLE_S, resolver=ip, **kw)
                for ip in servers
            },
        )

    def await_alert(
        self, what: str, fire: float, find: Callable[[list[alerts.Heard]], alerts.Heard | None], wait_s: float
    ) -> None:
        """With monitoring hosts alive: wait, at most ``wait_s`` after the fire, for the alert ``find`` picks among
        what the drill's webhook heard since (the site down, the backups late), before the site returns."""
        plan = self.plan
        watching = [h for h in plan.hosts if h.role == HOST_MONITORING and h.name not in self.down]
        if plan.alert_receiver is None or self.visitor is None:
            return
        if not watching:
            self.event("alert", "no monitoring host survives: nobody is told")
            return
        while True:
            heard = find(alerts.heard(alerts.read(self.visitor.name), fire))
            if heard is not None:
                self.event(
                    "alert",
                    f"{what} received by the drill's webhook {heard.first_s:.0f} s after the fire",
                    fire + (heard.first_s or 0.0),
                )
                return
            if time.time() > fire + wait_s:
                self.event("alert", f"no {what} within {wait_s:.0f} s")
                return
            podman.sleep(3)

    def heard(self, results: list[ScenarioResult]) -> None:
        """Each scenario's alerts: what fired from its fire to the next one's, and its resolution if it came before
        the drill ended (a site's comes a minute or two after its return: during the next scenario; the last
        scenario's is not awaited, the drill does not wait for its own report)."""
        if self.plan.alert_receiver is None or self.visitor is None or not results:
            return
        said = alerts.read(self.visitor.name)
        for i, r in enumerate(results):
            end = results[i + 1].fire_at if i + 1 < len(results) else None
            r.alerts = [h.as_dict() for h in alerts.heard(said, r.fire_at, end)]

    def observe(
        self,
        fire: float,
        old_primary: str,
        visits: LoadStream,
        writes: LoadStream,
    ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, str | None]:
        """Watch, and only watch, until the stack healed and the loads answer (or the time is up).
        Returns (the failover as seen, the cluster check, the placement holding the data)."""
        plan, o = self.plan, self.o
        survivors = [p for p in plan.db_placements if self.member(p) not in self.down]
        web_alive = any(h.role == HOST_WEB and h.name not in self.down for h in plan.hosts)
        lost_primary = self.member(old_primary) in self.down
        failover: dict[str, Any] | None = None
        if lost_primary:
            states = {s.placement: s for s in self.states() if s.alive}
            received = {p: states[p].lsn for p in survivors if p in states}
            failover = {
                "old_primary": old_primary,
                "order": [p for p in plan.failover_order if p in survivors],
                "received_lsn": received,
                "most_advanced": most_advanced(received) if received else [],
                "promoted": None,
                "promote_s": None,
            }
            self.event(
                "observe",
                f"primary {self.member(old_primary)} {self.struck}; WAL received by the others: "
                + (", ".join(f"{p}={v}" for p, v in received.items()) or "none survives"),
            )
        limit = o.max_after_s if (web_alive and survivors) else min(o.max_after_s, max(o.min_after_s, o.dead_after_s))
        end = fire + limit
        chk: cluster.ClusterCheck | None = None
        healed_at: float | None = None
        while True:
            now = time.time()
            if survivors:
                chk = self.check()
                if failover is not None and failover["promoted"] is None and chk.primary is not None:
                    failover["promoted"] = chk.primary
                    failover["promote_s"] = round(now - fire, 2)
                    failover["promoted_most_advanced"] = chk.primary in failover["most_advanced"]
                    self.event(
                        "failover",
                        f"{self.member(chk.primary)} answers as the primary (promoted by "
                        "Patroni; the drill did nothing)",
                        now,
                    )
                if chk.ok and healed_at is None:
                    healed_at = now
                    self.event("healed", chk.describe(), now)
            healed = not survivors or healed_at is not None
            if (
                now >= fire + o.min_after_s
                and healed
                and _settled(visits.attempts, fire)
                and _settled(writes.attempts, fire)
            ):
                break
            if now >= end:
                break
            podman.sleep(0.5)
        if chk is None:
            return failover, None, None
        if healed_at is None:
            self.event("healed", f"NOT healed after {limit:.0f} s: {chk.describe()}")
        check = {**chk.as_dict(), "healed_s": round(healed_at - fire, 2) if healed_at else None}
        return failover, check, chk.primary

    def recovered(
        self, fire: float, visits: LoadStream, writes: LoadStream, rto_web: float | None, rto_writes: float | None
    ) -> None:
        for what, rto, attempts in (("web", rto_web, visits.attempts), ("writes", rto_writes, writes.attempts)):
            failed = sum(1 for a in attempts if a.end >= fire and not a.ok)
            if rto is None:
                self.event(
                    "recovery",
                    f"{what}: never came back ({failed} failed after the fire)",
                    max((a.end for a in attempts), default=fire),
                )
            elif rto == 0:
                self.event("recovery", f"{what}: no failure after the fire", fire)
            else:
                self.event("recovery", f"{what}: back after {rto:.1f} s ({failed} failed)", fire + rto)

    def visit_stats(self, visits: LoadStream, fire: float, notes: list[str]) -> dict[str, Any]:
        """What a visitor saw after the fire: how long a page took, who served it."""
        after = [(a, r) for a, r in zip(visits.attempts, visits.remotes) if a.end >= fire]
        ok = [a for a, _ in after if a.ok and a.start >= fire]
        durations = sorted(a.end - a.start for a in ok)
        stats: dict[str, Any] = {
            "total": len(visits.attempts),
            "ok": sum(a.ok for a in visits.attempts),
            "after_fire": len(after),
            "failed_after_fire": sum(not a.ok for a, _ in after),
            "page_s_after_fire": (
                {"median": round(statistics.median(durations), 3), "max": round(durations[-1], 3)}
                if durations
                else None
            ),
        }
        served = sorted({a.detail for a in ok})
        if served:
            notes.append("after the fire the page was served by: " + ", ".join(served))
        if durations:
            before = sorted(a.end - a.start for a in visits.attempts if a.ok and a.end < fire)
            was = f" (before it: {statistics.median(before):.2f} s)" if before else ""
            notes.append(
                f"a visitor waited {statistics.median(durations):.2f} s for a page after the fire (median"
                f"{was}), {durations[-1]:.2f} s at most: it tries the record set's addresses in the resolver's "
                f"order, {CONNECT_TIMEOUT_S} s each"
            )
        return stats

    # -- the return ----------------------------------------------------------------------------------
    def come_back(self, site: str, victims: list[str], notes: list[str], *, start: bool = True) -> dict[str, Any]:
        """The burned containers start again from their disks (``start``; after a pause or a partition they run
        already); wait until the site's database host is a replica of the current primary and its web hosts answer."""
        plan = self.plan
        t0 = time.time()
        if start:
            podman.start(*[self.names[v] for v in victims], timeout=120)
            self.event("return", f"{plan.sites[site].name} comes back: {', '.join(victims)} start from their disks", t0)
        self.down -= set(victims)
        s3 = f"{plan.backup_placement}-s3"
        if s3 in victims:
            # drill scaffolding: the stand-in keeps its objects in memory, so it comes back empty (its bucket made
            # again here); the repository's stanza is gone, and WAL archiving fails until it is created again
            proc = podman.exec_in(
                self.names[s3], ["sh", "-c", topo.s3_bucket_script(plan.s3_port, plan.bucket)], check=False, timeout=120
            )
            notes.append(
                "the S3 stand-in came back empty (it keeps its objects in memory)"
                + ("" if proc.returncode == 0 else f"; its bucket could not be made: {proc.stderr[-200:]}")
            )
        members = [h.placement for h in plan.hosts_on(site) if h.role.startswith("db-")]
        webs = [h for h in plan.hosts_on(site) if h.role == HOST_WEB]
        deadline = time.monotonic() + self.o.return_timeout_s
        said = time.monotonic()
        webs_ok = not webs
        while True:
            chk = self.check()
            members_ok = all(p in chk.rebuilt_replicas for p in members) and chk.ok
            webs_ok = webs_ok or all(self.pool.map(lambda h: self.healthz(h.public_ip), webs))
            if (members_ok and webs_ok) or time.monotonic() > deadline:
                break
            if time.monotonic() - said >= 10:
                said = time.monotonic()
                self.progress(f"[return] waiting: {chk.describe()}; web hosts {'up' if webs_ok else 'not all up'}")
            podman.sleep(0.5)
        back = time.time()
        rewound = self.patroni_events(members, t0)
        ok = members_ok and webs_ok
        what = (
            f"{', '.join(self.member(p) for p in members)} streams from {self.member(chk.primary)}"
            if members and chk.primary
            else "no database member there"
        )
        self.event(
            "return",
            (f"back in {back - t0:.1f} s: " if ok else f"NOT back after {self.o.return_timeout_s:.0f} s: ")
            + what
            + (" (after pg_rewind)" if rewound else "")
            + f"; {plural(len(webs), 'web host')} answer"
            + ("" if webs_ok else " NOT all"),
            back,
        )
        return {
            "hosts": list(victims),
            "database": members[0] if members else None,
            "rejoined_as": (
                "replica"
                if members and all(p in chk.rebuilt_replicas for p in members)
                else ("primary" if members and members[0] in chk.primaries else None)
            ),
            "pg_rewind": rewound,
            "rejoin_s": round(back - t0, 2),
            "cluster": chk.as_dict(),
            "ok": ok,
        }

    def rows_present(self, holder: str, first: int, notes: list[str]) -> list[int] | None:
        """The load's rows ``first`` .. ``first + ROWS_PER_SCENARIO - 1`` that the member of ``holder`` has; None
        (and a note) when it cannot be read."""
        proc = psql_local(
            self.names[self.member(holder)],
            f"SELECT n FROM {TABLE} WHERE n >= {first} AND n < {first + ROWS_PER_SCENARIO}",
            db=self.plan.config.database.app_database,
            timeout=60,
        )
        if proc.returncode != 0:
            notes.append(f"could not read the rows on {holder}: {proc.stderr.strip()[-200:]}")
            return None
        return [int(x) for x in proc.stdout.split()]

    def patroni_events(self, placements: list[str], since: float) -> bool:
        """Patroni's journal lines of these members since ``since``, as timeline events (read in parallel);
        whether one of them ran pg_rewind."""
        hosts = [self.member(p) for p in placements]
        journals = list(self.pool.map(lambda h: cluster.patroni_journal(self.names[h], since), hosts))
        for host, journal in zip(hosts, journals):
            for at, text in cluster.patroni_events(journal, host):
                self.event("patroni", text, at)
        return any("running pg_rewind" in j for j in journals)

    def healthz(self, ip: str) -> bool:
        assert self.visitor is not None
        proc = self.visitor.exec(
            "curl",
            "-fsS",
            "-o",
            "/dev/null",
            "--max-time",
            "3",
            f"http://{ip}:{HTTP_PORT}/healthz",
            check=False,
            timeout=30,
        )
        return proc.returncode == 0


def run_drill(
    plan: Plan,
    scenarios: Sequence[str | None | tuple[str | None, str]],
    *,
    options: Options = Options(),
    progress: Callable[[str], None] = lambda _: None,
) -> list[ScenarioResult]:
    """Boot the stack once and strike each of ``scenarios`` in turn (a site id, None: the site of the primary at
    that moment, or ``(site, fault)``: :data:`resilient_stack.drills.faults.FAULTS`, ``fire`` by default), bringing
    each back before the next. Always removes what it created."""
    drill = _Drill(plan, options, progress)
    workdir = Path(tempfile.mkdtemp(prefix="rs-firedrill-"))
    results: list[ScenarioResult] = []
    try:
        with sessions.Session(image=options.image) as s:
            topology = topo.boot(
                s, plan, workdir, image=options.image, timeout=options.boot_timeout_s, event=drill.event
            )
            drill.names, drill.boot_s, drill.visitor = topology.names, topology.boot_s, topology.visitor
            drill.internet = topology.internet
            for i, scenario in enumerate(scenarios):
                s.check()  # a Ctrl-C whose exception was lost ends the drill here, not after every scenario
                site, fault = scenario if isinstance(scenario, tuple) else (scenario, "fire")
                start = time.monotonic()
                where = (
                    f"{plan.sites[site].name} ({', '.join(plan.sites[site].placements)})"
                    if site
                    else "the primary's site"
                )
                progress(f"[scenario] {i + 1}/{len(scenarios)}: {'burn' if fault == 'fire' else fault} {where}")
                result = drill.burn(site, i, fault)
                result.runtime_s = time.monotonic() - start + (topology.boot_s if i == 0 else 0.0)
                results.append(result)
            drill.heard(results)
            cleanup_from = time.time()
        if results:
            cleaned_up(results[-1], s, cleanup_from, progress)
    finally:
        drill.pool.shutdown(wait=False, cancel_futures=True)
        release_workdir(workdir, progress)
    return results
