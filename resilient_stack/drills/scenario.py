"""One scenario of the live drill: boot the stack, load it, burn one site, observe, measure.

:func:`run_scenario` boots the topology (:mod:`resilient_stack.drills.topology`), waits for the steady state
(every replica streaming, the entry point answering 200), starts the load (:mod:`resilient_stack.drills.load`),
then:

- **Fire**: one ``podman kill --signal KILL`` of every container of the site at once (through the harness).
- **Failover**: the shipped runbook (the header of ``/usr/local/sbin/resilient-stack-promote``): the monitor
  finds the primary unreachable (2 failed ``pg_isready`` probes from the internet), the surviving replica
  that received the most WAL is promoted (ties: the stack's failover order, the ``databaseRole: replica``
  placements in config order), and the writer is pointed at its public address.
- **Measure**: RTO web, RTO writes and RPO (:mod:`resilient_stack.drills.report`) beside the paper drill's
  prediction, with a timeline of events and notes.

Every container and network lives in a :class:`resilient_stack.testing.podman.Session`: removed afterwards, also
on errors, Ctrl-C and SIGTERM. Every wait is bounded.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from resilient_stack.core.vocabulary import HOST_DB_REPLICA, HOST_WEB, HTTP_PORT, HTTPS_PORT, POSTGRES_PORT
from resilient_stack.drills import topology as topo
from resilient_stack.drills.load import RUN_DIR, TABLE, HttpLoad, Writer
from resilient_stack.drills.plan import DrillError, Plan, build_plan
from resilient_stack.drills.report import (
    Attempt,
    Event,
    ScenarioResult,
    choose_promotion,
    compute_rpo,
    plural,
    recovery_seconds,
)
from resilient_stack.hosts import cloudinit
from resilient_stack.testing import podman

__all__ = ["Options", "run_scenario", "psql_local", "haproxy_down_events"]


@dataclass(frozen=True)
class Options:
    """Timings and bounds of one scenario (seconds unless said otherwise)."""

    before_s: float = 6.0  # steady load before the fire
    min_after_s: float = 8.0  # observe at least this long after the fire
    max_after_s: float = 90.0  # ... and at most this long
    dead_after_s: float = 12.0  # how long to watch a role of which no host survived
    boot_timeout_s: float = 480.0  # every host booted (cloud-init done) within this
    ready_timeout_s: float = 90.0  # replicas streaming, entry point healthy
    http_interval_s: float = 0.1
    max_requests: int = 4000
    max_writes: int = 4000
    image: str = podman.DEFAULT_IMAGE


def psql_local(container: str, sql: str, *, db: str = "postgres", timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return podman.exec_in(container, ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", db, "-c", sql],
                          check=False, timeout=timeout)


class _Scenario:
    """State of one burned site, from boot to teardown."""

    def __init__(self, plan: Plan, site: str, options: Options, progress: Callable[[str], None]) -> None:
        self.plan = plan
        self.site = site
        self.o = options
        self.progress = progress
        self.events: list[Event] = []
        self.notes: list[str] = []
        self.names: dict[str, str] = {}  # host name -> container name (set by the boot)
        self.fire_at = 0.0
        self.boot_s = 0.0

    def event(self, phase: str, text: str, at: float | None = None) -> None:
        self.events.append(Event(at if at is not None else time.time(), phase, text))
        self.progress(f"[{phase}] {text}")

    # -- steady state ------------------------------------------------------------------------------
    def ready(self, entry: podman.Host) -> str:
        plan, o = self.plan, self.o
        primary = self.names[plan.db_host(plan.primary).name]
        replicas = [h for h in plan.hosts if h.role == HOST_DB_REPLICA]
        deadline = time.monotonic() + o.ready_timeout_s
        while True:
            proc = psql_local(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            streaming = int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0
            if streaming >= len(replicas):
                break
            if time.monotonic() > deadline:
                raise DrillError(f"only {streaming} of {len(replicas)} replicas stream from the primary after "
                                 f"{o.ready_timeout_s:.0f} s ({proc.stderr.strip()[-200:]})")
            time.sleep(1)
        self.event("ready", f"{plural(streaming, 'replica')} streaming from {plan.db_host(plan.primary).name}")
        d = plan.config.database
        create = (f"CREATE TABLE IF NOT EXISTS {TABLE} "
                  "(n integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
        proc = entry.exec("psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                          f"host={plan.database_addresses[plan.primary]} dbname={d.app_database} user={d.app_user} "
                          "sslmode=require connect_timeout=5", "-c", create,
                          env={"PGPASSWORD": plan.app_password}, check=False, timeout=60)
        if proc.returncode != 0:
            raise DrillError(f"the application cannot reach the primary's public address: {proc.stderr.strip()}")
        entry.sh(f"printf '%s\\n' {plan.database_addresses[plan.primary]} > {RUN_DIR}/target")
        scheme, port = ("https", entry.port(HTTPS_PORT)[1]) if plan.config.web.https else ("http", entry.port(HTTP_PORT)[1])
        url = f"{scheme}://127.0.0.1:{port}/"
        probe = HttpLoad(url, interval=0, max_requests=1, max_seconds=5)
        while True:
            probe.attempts.clear()
            probe.run()
            if probe.attempts and probe.attempts[-1].ok:
                break
            if time.monotonic() > deadline:
                raise DrillError(f"the entry point {url} did not answer 200 ({probe.attempts[-1].detail})")
            time.sleep(0.5)
        self.event("ready", f"entry point {url} answers 200 (served by {probe.attempts[-1].detail})")
        return url

    # -- the fire and the runbook ------------------------------------------------------------------
    def fire(self) -> list[str]:
        victims = [h.name for h in self.plan.hosts_on(self.site)]
        if self.plan.backup_site == self.site:
            victims.append(f"{self.plan.backup_placement}-s3")
        containers = [self.names[v] for v in victims]
        called = time.time()
        try:
            podman.kill(*containers, signal_name="KILL", timeout=60)
        except podman.PodmanError as exc:
            raise DrillError(f"podman kill failed: {exc}") from None
        # The fire is over when podman kill returns: every victim is dead. Measuring from there keeps a row
        # acknowledged while the signal was on its way among the rows acknowledged before the fire.
        self.fire_at = time.time()
        self.event("fire", f"{self.plan.sites[self.site].name} burns: SIGKILL to {', '.join(victims)} "
                           f"(podman kill took {self.fire_at - called:.2f} s)", self.fire_at)
        return victims

    def failover(self, entry: podman.Host, victims: list[str]) -> tuple[dict[str, Any] | None, str | None]:
        """The runbook of resilient-stack-promote. Returns (failover facts or None, placement now holding
        the data: the primary, the promoted replica, or None when no database member survives)."""
        plan = self.plan
        old = plan.db_host(plan.primary)
        old_ip = plan.database_addresses[plan.primary]
        # The monitor: the primary is lost after 2 consecutive failed probes from the internet (1.2 s each).
        failures = 0
        for _ in range(2):
            proc = entry.exec("timeout", "1.2", "pg_isready", "-q", "-h", old_ip, "-p", str(POSTGRES_PORT), "-t", "1",
                              check=False, timeout=15)
            if proc.returncode == 0:
                break
            failures += 1
            time.sleep(0.3)
        if failures < 2:
            self.event("monitor", f"primary {old.name} ({old_ip}) answers: no failover")
            return None, plan.primary
        self.event("monitor", f"primary {old.name} ({old_ip}) unreachable (2 failed pg_isready probes)")
        facts: dict[str, Any] = {"old_primary": plan.primary, "order": list(plan.failover_order)}
        survivors = [p for p in plan.failover_order if plan.db_host(p).name not in victims]
        if old.name not in victims:  # never two primaries: the drill does not fence a live host itself
            self.notes.append(f"{old.name} unreachable but not burned: not promoting anything (fence it first)")
            facts["promoted"] = None
            return facts, plan.primary
        self.event("failover", f"1. fenced: {old.name} burned with its site")
        received: dict[str, str | None] = {}
        for p in survivors:
            proc = psql_local(self.names[plan.db_host(p).name], "SELECT pg_last_wal_receive_lsn()")
            received[p] = proc.stdout.strip() or None if proc.returncode == 0 else None
        facts["received_lsn"] = dict(received)
        chosen = choose_promotion(plan.failover_order, received)
        if chosen is None:
            self.event("failover", "2. no database member survives: nothing to promote")
            facts["promoted"] = None
            return facts, None
        self.event("failover", "2. most WAL received: " + ", ".join(f"{p}={received[p]}" for p in survivors)
                   + f" -> promote {chosen}")
        t0 = time.monotonic()
        host = self.names[plan.db_host(chosen).name]
        proc = podman.exec_in(host, [cloudinit.PROMOTE_HELPER], check=False, timeout=120)
        facts["promote_s"] = round(time.monotonic() - t0, 2)
        if proc.returncode != 0:
            self.event("failover", f"3. promotion of {chosen} FAILED: {(proc.stderr or proc.stdout).strip()[-200:]}")
            facts["promoted"] = None
            return facts, chosen
        facts["promoted"] = chosen
        self.event("failover", f"3. {cloudinit.PROMOTE_HELPER} on {plan.db_host(chosen).name}: "
                               f"{proc.stdout.strip().splitlines()[-1]} ({facts['promote_s']} s)")
        new_ip = plan.database_addresses[chosen]
        entry.sh(f"printf '%s\\n' {new_ip} > {RUN_DIR}/target.new && mv {RUN_DIR}/target.new {RUN_DIR}/target")
        facts["writer_target"] = new_ip
        self.event("failover", f"4. writer pointed at {plan.db_host(chosen).name} ({new_ip})")
        stale = [p for p in survivors if p != chosen]
        if stale:
            facts["stale_replicas"] = stale
            self.notes.append(f"replica(s) {', '.join(stale)} still follow the burned primary: rebuild them as "
                              f"replicas of {chosen} (runbook step 4, not drilled)")
        return facts, chosen

    # -- observation -------------------------------------------------------------------------------
    def observe(self, http: HttpLoad, writer: Writer, web_alive: bool, data_alive: bool) -> None:
        o = self.o
        limit = o.max_after_s if (web_alive and data_alive) else min(o.max_after_s, max(o.min_after_s, o.dead_after_s))
        end = self.fire_at + limit

        def settled(attempts: list[Attempt]) -> bool:
            recent = [a for a in attempts if a.end >= self.fire_at][-3:]
            return len(recent) == 3 and all(a.ok for a in recent)

        while time.time() < end:
            if time.time() >= self.fire_at + o.min_after_s and settled(http.attempts) and settled(writer.attempts):
                break
            time.sleep(0.25)

    def recovered_events(self, http: HttpLoad, writer: Writer, rto_web: float | None, rto_writes: float | None) -> None:
        for what, rto, attempts in (("web", rto_web, http.attempts), ("writes", rto_writes, writer.attempts)):
            failed = sum(1 for a in attempts if a.end >= self.fire_at and not a.ok)
            if rto is None:
                self.event("recovery", f"{what}: never came back ({failed} failed after the fire)",
                           max((a.end for a in attempts), default=self.fire_at))
            elif rto == 0:
                self.event("recovery", f"{what}: no failure after the fire", self.fire_at)
            else:
                self.event("recovery", f"{what}: back after {rto:.1f} s ({failed} failed)", self.fire_at + rto)


def haproxy_down_events(journal: str) -> list[tuple[float, str]]:
    """The first "Server X is DOWN" of each server in HAProxy's journal (``journalctl -o short-unix``), as
    (epoch, text)."""
    out: list[tuple[float, str]] = []
    for line in journal.splitlines():
        m = re.match(r"^(\d+\.\d+)\s+\S+\s+\S+:\s+(Server \S+ is DOWN)", line)
        if m and m.group(2) not in {t for _, t in out}:
            out.append((float(m.group(1)), m.group(2)))
    return out


def _haproxy_journal(entry: podman.Host, since: float) -> str:
    """HAProxy's journal on the entry point since ``since`` (epoch seconds)."""
    return entry.exec("journalctl", "-u", "haproxy", "-o", "short-unix", "--no-pager", "-q",
                      "--since", f"@{int(since) - 1}", check=False, timeout=30).stdout


def run_scenario(
    stack_file: str | Path,
    site: str,
    *,
    options: Options = Options(),
    progress: Callable[[str], None] = lambda _: None,
    plan: Plan | None = None,
) -> ScenarioResult:
    """Boot the stack, burn ``site`` (a site id), measure. Always removes what it created."""
    start = time.monotonic()
    plan = plan or build_plan(stack_file)
    sc = _Scenario(plan, site, options, progress)
    site_info = plan.sites[site]
    workdir = Path(tempfile.mkdtemp(prefix="rs-firedrill-"))
    http: HttpLoad | None = None
    writer: Writer | None = None
    try:
        with podman.Session(image=options.image) as s:
            topology = topo.boot(s, plan, workdir, image=options.image, timeout=options.boot_timeout_s,
                                 event=sc.event)
            sc.names, sc.boot_s, entry = topology.names, topology.boot_s, topology.entry
            url = sc.ready(entry)
            span = options.before_s + options.max_after_s + 60
            http = HttpLoad(url, interval=options.http_interval_s, max_requests=options.max_requests, max_seconds=span)
            d = plan.config.database
            writer = Writer(entry.name, db=d.app_database, user=d.app_user, password=plan.app_password,
                            max_rows=options.max_writes, max_seconds=int(span))
            http.start()
            sc.event("load", f"HTTP GETs to {url} every {options.http_interval_s:.1f} s; numbered INSERTs to "
                             f"{plan.db_host(plan.primary).name} ({plan.database_addresses[plan.primary]})")
            time.sleep(options.before_s)
            lag = psql_local(sc.names[plan.db_host(plan.primary).name],
                             "SELECT string_agg(application_name || ' ' || coalesce(replay_lag::text, '0'), ', ') "
                             "FROM pg_stat_replication")
            sc.event("load", f"{len(writer.acks)} rows acknowledged, {sum(a.ok for a in http.attempts)} GETs ok; "
                             f"replay lag: {lag.stdout.strip() or 'n/a'}")
            victims = sc.fire()
            web_alive = any(h.role == HOST_WEB and h.site != site for h in plan.hosts)
            failover, holder = sc.failover(entry, victims)
            sc.observe(http, writer, web_alive, holder is not None)
            http.stop.set()
            writer.stop()
            http.join(timeout=5)
            sc.event("load", f"stopped: {len(http.attempts)} GETs, {len(writer.attempts)} writes attempted")
            for at, text in haproxy_down_events(_haproxy_journal(entry, sc.fire_at)):
                sc.event("entry", f"health check: {text}", at)
            present: list[int] | None = None
            if holder is not None:
                proc = psql_local(sc.names[plan.db_host(holder).name], f"SELECT n FROM {TABLE} ORDER BY n",
                                  db=d.app_database, timeout=60)
                if proc.returncode == 0:
                    present = [int(x) for x in proc.stdout.split()]
                else:
                    sc.notes.append(f"could not read the rows on {holder}: {proc.stderr.strip()[-200:]}")
            rpo = compute_rpo(writer.acks, present, sc.fire_at)
            rto_web = recovery_seconds(http.attempts, sc.fire_at)
            rto_writes = recovery_seconds(writer.attempts, sc.fire_at)
            sc.recovered_events(http, writer, rto_web, rto_writes)
            where = f"on {plan.db_host(holder).name}" if holder else "(no database copy survives)"
            sc.event("rpo", f"{rpo.rows} of {rpo.acknowledged} acknowledged rows missing {where}"
                            + (f" (rows {', '.join(map(str, rpo.lost[:10]))}{'...' if rpo.rows > 10 else ''})"
                               if rpo.lost else ""))
            if plan.backup_site == site:
                sc.notes.append(f"the backup store {plan.backup_placement} burned: WAL archiving and backups fail "
                                "until it is replaced" + ("; the backups burned with the data" if holder is None else ""))
            if holder is None:
                sc.notes.append("no database member survives: every acknowledged row is lost"
                                + ("" if plan.backup_site == site else
                                   f"; a restore from the backups in {plan.backup_placement} was not drilled"))
            if plan.rejected:
                sc.notes.append("design rejected by the placement rules (" + ", ".join(plan.rejected_rules)
                                + "); built with enforce_rules=False for this drill only")
            after = [a for a in http.attempts if a.end >= sc.fire_at]
            wafter = [a for a in writer.attempts if a.end >= sc.fire_at]
            if writer.errors:
                sc.notes.append("write errors: " + "; ".join(
                    f"{count}x {kind}" for kind, count in sorted(writer.errors.items(), key=lambda kv: -kv[1])[:3]))
            served = sorted({a.detail for a in after if a.ok and a.start >= sc.fire_at})
            if served:
                sc.notes.append("after the fire the entry point was served by: " + ", ".join(served))
            result = ScenarioResult(
                site=site_info.name, site_id=site, placements=site_info.placements, killed=tuple(victims),
                prediction=plan.predictions[site], fire_at=sc.fire_at, rto_web=rto_web, rto_writes=rto_writes,
                rpo=rpo, failover=failover,
                web={"total": len(http.attempts), "ok": sum(a.ok for a in http.attempts),
                     "after_fire": len(after), "failed_after_fire": sum(not a.ok for a in after)},
                writes={"total": len(writer.attempts), "acknowledged": len(writer.acks),
                        "after_fire": len(wafter), "failed_after_fire": sum(not a.ok for a in wafter)},
                notes=sc.notes, boot_s=sc.boot_s,
            )
            cleanup_from = time.time()
        sc.event("cleanup", f"containers and networks of session rs-{s.id}-* removed "
                            f"({time.time() - cleanup_from:.1f} s)")
    finally:
        if http is not None:
            http.stop.set()
        if writer is not None:
            writer.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    result.timeline = sorted(sc.events, key=lambda e: e.at)
    result.runtime_s = time.monotonic() - start
    return result
