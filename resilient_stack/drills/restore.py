"""``resilient-stack firedrill STACK --restore``: every site that holds a database member burns at once, only the
backup site is left, and the stack is rebuilt from its backups by the product's own restore path.

- **Boot** the stack as shipped (no override), wait until the cluster is healthy and the repository holds a full
  backup (the hosts' catch-up timer takes it; the drill only reads ``pgbackrest info``).
- **Load**: numbered writes through the application for ``restore_load_s``, while the drill samples (read only,
  every second) which WAL segment the primary writes and which it archived last.
- **Fire**: every container of every site holding a database member (their web hosts too) is killed; the backup
  site's S3 stand-in and the visitor are left.
- **Restore, as the runbook says** (docs/operations.md#restore): the operator sets
  ``resilient-stack:database.bootstrapFrom: backup`` and runs ``pulumi up``, which replaces the lost hosts at their
  addresses. The drill builds the stack again under mocks with that one setting (reported in
  ``design.config_overrides``) and boots fresh hosts (empty disks) from that user data, at the burned hosts'
  addresses. Patroni's custom bootstrap restores the newest backup, PostgreSQL replays the archived WAL and is
  promoted at its end; the other members clone it; the web hosts find it. The drill does nothing else.
- **Measure**: RTO (from the fire until the visitor's writes are acknowledged again, the rebuild included), RPO
  (acknowledged rows missing from the restored primary), which must be only the *unarchived tail*: rows
  acknowledged after the last WAL segment the primary had archived before the fire (sampled every second). Rows
  acknowledged after the backup and present again prove the archived WAL was replayed.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from resilient_stack.components.stack_config import StackConfig
from resilient_stack.core.vocabulary import DATABASE
from resilient_stack.drills import topology as topo
from resilient_stack.drills.load import Visits, Writes
from resilient_stack.drills.load import stop as stop_load
from resilient_stack.drills.plan import DrillError, Plan
from resilient_stack.drills.report import Prediction, ScenarioResult, compute_rpo, recovery_seconds
from resilient_stack.drills.scenario import (
    ROWS_PER_SCENARIO,
    Options,
    _Drill,
    _settled,
    cleaned_up,
    psql_local,
    release_workdir,
)
from resilient_stack.testing import podman, sessions

__all__ = [
    "RESTORE_SETTING",
    "restore_overrides",
    "database_sites",
    "archived_boundary",
    "unarchived_tail_only",
    "run_restore",
]

RESTORE_SETTING = {"resilient-stack:database.bootstrapFrom": "backup"}  # what the runbook has the operator set


def restore_overrides(config: StackConfig) -> dict[str, object]:
    """The stack's ``database`` settings with ``bootstrapFrom: backup`` (the engine's whole-key form of
    :data:`RESTORE_SETTING`)."""
    database = {**config.database.model_dump(by_alias=True, exclude_none=True, mode="json"), "bootstrapFrom": "backup"}
    return {"resilient-stack:database": database}


def database_sites(plan: Plan) -> list[str]:
    """The sites that hold a database member (sorted by name)."""
    return sorted({plan.db_host(p).site for p in plan.db_placements}, key=lambda s: plan.sites[s].name)


def prediction(plan: Plan, burned: Sequence[str]) -> Prediction:
    """The paper drill's rules on this loss: a role with no host left is down; a data role survives when a
    backup protecting it survives (the backups live on a site that holds no member: ``backup-colocated``)."""
    roles = {h.role for h in plan.hosts}
    down = tuple(
        sorted(
            {
                "database" if r.startswith("db-") else r
                for r in roles
                if not any(h.role == r and h.site not in burned for h in plan.hosts)
            }
        )
    )
    backups_survive = plan.backup_site not in burned
    return Prediction(
        service_survives=False,
        data_survives=backups_survive,
        down_roles=down,
        data_lost=() if backups_survive else (DATABASE,),
    )


def archived_boundary(samples: Sequence[tuple[float, str, str]]) -> float | None:
    """The last moment the primary was still writing a WAL segment it had archived by the fire.

    ``samples``: ``(epoch, segment being written, last archived segment)`` in time order, the last one just
    before the fire. A row acknowledged up to that moment is in the archive; after it, maybe not (the unarchived
    tail). ``None`` when nothing was archived.
    """
    if not samples:
        return None
    archived = samples[-1][2]
    if not archived:
        return None
    within = [t for t, writing, _ in samples if writing and writing <= archived]
    return max(within) if within else samples[0][0]


def unarchived_tail_only(acks: Mapping[int, float], lost: Sequence[int], boundary: float | None) -> bool:
    """Every lost row was acknowledged after ``boundary`` (nothing archived: every row is in the tail)."""
    return boundary is None or all(acks[n] > boundary for n in lost)


def _newest_full_backup(container: str) -> dict[str, Any] | None:
    proc = podman.exec_in(
        container,
        ["runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=main", "--output=json", "info"],
        check=False,
        timeout=150,
    )
    try:
        stanza = json.loads(proc.stdout)[0]
    except (ValueError, IndexError):
        return None
    full = [b for b in stanza.get("backup", []) if b.get("type") == "full"]
    if stanza.get("status", {}).get("code") != 0 or not full:
        return None
    return {"label": full[-1]["label"], "stop": float(full[-1]["timestamp"]["stop"])}


class _Sampler:
    """Every second, read only: the segment the primary writes and the one it archived last."""

    QUERY = (
        "SELECT extract(epoch FROM clock_timestamp()), pg_walfile_name(pg_current_wal_lsn()), "
        "coalesce(last_archived_wal, '') FROM pg_stat_archiver"
    )

    def __init__(self, container: str) -> None:
        self.container = container
        self.samples: list[tuple[float, str, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="firedrill-archive-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            proc = psql_local(self.container, self.QUERY, timeout=10)
            parts = proc.stdout.strip().split("|") if proc.returncode == 0 else []
            if len(parts) == 3:
                self.samples.append((float(parts[0]), parts[1], parts[2]))
            self._stop.wait(1.0)

    def stop(self) -> list[tuple[float, str, str]]:
        self._stop.set()
        self._thread.join(timeout=15)
        return list(self.samples)


def _restore(drill: _Drill, topology: topo.Topology, restored: Plan) -> ScenarioResult:
    plan, o = drill.plan, drill.o
    burned = database_sites(plan)
    notes: list[str] = []
    old_primary = drill.ready()
    primary_c = drill.names[drill.member(old_primary)]
    deadline = time.monotonic() + o.backup_timeout_s
    while (backup := _newest_full_backup(primary_c)) is None:
        if time.monotonic() > deadline:
            raise DrillError(
                f"no full backup in the repository {o.backup_timeout_s:.0f} s after the boot: nothing to restore"
            )
        podman.sleep(3)
    drill.event(
        "backup", f"the repository holds full backup {backup['label']} ({time.time() - backup['stop']:.0f} s old)"
    )
    assert drill.visitor is not None
    span = int(o.restore_load_s + o.restore_timeout_s + 60)
    visits = Visits(
        drill.visitor.name, plan.url, interval=o.http_interval_s, first=1, count=o.max_requests, seconds=span
    )
    writes = Writes(
        drill.visitor.name,
        plan.url,
        interval=o.write_interval_s,
        first=ROWS_PER_SCENARIO,
        count=o.max_writes,
        seconds=span,
        token=plan.write_token,
    )
    sampler = _Sampler(primary_c)
    drill.event(
        "load",
        f"numbered writes through the application for {o.restore_load_s:.0f} s; the primary is "
        f"{drill.member(old_primary)}; its WAL segments and archiving sampled every second",
    )
    podman.sleep(o.restore_load_s)
    victims = [h.name for h in plan.hosts if h.site in burned]
    samples = sampler.stop()
    drill.event(
        "load",
        f"{len(writes.acks)} rows acknowledged; writing WAL segment "
        f"{samples[-1][1] if samples else '?'}, archived up to {samples[-1][2] if samples else '?'}",
    )
    called = time.time()
    try:
        podman.kill(*[drill.names[v] for v in victims], signal_name="KILL", timeout=60)
    except podman.PodmanError as exc:
        raise DrillError(f"podman kill failed: {exc}") from None
    fire = time.time()
    drill.down |= set(victims)
    drill.event(
        "fire",
        f"every site holding a database member burns ({', '.join(plan.sites[s].name for s in burned)}): "
        f"SIGKILL to {len(victims)} hosts (podman kill took {fire - called:.2f} s); "
        f"left: the backup site {plan.sites[plan.backup_site].name} and the visitor",
        fire,
    )

    # The operator's part (docs/operations.md#restore): database.bootstrapFrom: backup, then `pulumi up`, which
    # replaces the lost hosts at their addresses (their ports are kept): fresh hosts, empty disks.
    podman.remove(*[drill.names[v] for v in victims])
    rebuild = time.time()
    drill.event(
        "restore",
        f"rebuilt as `pulumi up` with {', '.join(f'{k}={v}' for k, v in RESTORE_SETTING.items())} "
        f"would: {len(victims)} fresh hosts at the burned hosts' addresses",
        rebuild,
    )
    assert topology.start is not None
    start = topology.start
    fresh = {h.name: h for h in restored.hosts if h.name in victims}
    started = list(drill.pool.map(lambda h: start(h, f"{h.name}-restored"), fresh.values()))
    for name, host in zip(fresh, started):
        drill.names[name] = host.name
    drill.down -= set(victims)
    boot_error = None
    for host in started:
        try:
            host.wait_boot_finished(timeout=max(5.0, fire + o.restore_timeout_s - time.time()))
        except podman.BootError as exc:
            boot_error = str(exc).splitlines()[0]
            notes.append(f"a fresh host did not finish its boot: {str(exc)[-400:]}")
            break
    booted = time.time()
    if boot_error is None:
        drill.event("restore", f"cloud-init done on the {len(started)} fresh hosts in {booted - rebuild:.0f} s", booted)
    chk = None
    end = fire + o.restore_timeout_s
    healed_at = None
    while time.time() < end:
        chk = drill.check()
        if chk.ok and healed_at is None:
            healed_at = time.time()
            drill.event("healed", chk.describe(), healed_at)
        if healed_at is not None and _settled(writes.attempts, rebuild):
            break
        podman.sleep(1)
    stop_load(drill.visitor.name, visits, writes)
    drill.patroni_events(plan.db_placements, rebuild)

    holder = chk.primary if chk is not None else None
    present = drill.rows_present(holder, ROWS_PER_SCENARIO, notes) if holder is not None else None
    rpo = compute_rpo(writes.acks, present, fire)
    rto_web = recovery_seconds(visits.attempts, fire)
    rto_writes = recovery_seconds(writes.attempts, fire)
    drill.recovered(fire, visits, writes, rto_web, rto_writes)
    boundary = archived_boundary(samples)
    tail_only = present is not None and rpo.tail_only and unarchived_tail_only(writes.acks, rpo.lost, boundary)
    # acknowledged after the backup and before the fire, and there again: only the archived WAL brings those
    replayed = sum(1 for n in (present or []) if n in writes.acks and backup["stop"] < writes.acks[n] <= fire)
    ok = boot_error is None and holder is not None and rto_writes is not None and present is not None
    drill.event(
        "rpo",
        f"{rpo.rows} of {rpo.acknowledged} acknowledged rows missing on the restored primary"
        + (f" {drill.member(holder)}" if holder else "")
        + (
            f"; the archive held WAL written until {fire - boundary:.1f} s before the fire"
            if boundary is not None
            else "; nothing was archived"
        )
        + f"; {replayed} rows acknowledged after the backup came back from the archived WAL",
    )
    if rpo.lost and not tail_only:
        notes.append("rows acknowledged BEFORE the last archived WAL are missing: more than the unarchived tail lost")
    notes.append(
        "the restore: newest full backup + archived WAL (Patroni's custom bootstrap, "
        "/usr/local/sbin/resilient-stack-restore), the one setting database.bootstrapFrom: backup "
        "(design.config_overrides)"
    )
    restore = {
        "ok": ok,
        "setting": dict(RESTORE_SETTING),
        "backup": backup,
        "archived_before_fire_s": round(fire - boundary, 2) if boundary is not None else None,
        "lost_only_unarchived_tail": tail_only,
        "rows_replayed_from_archive": replayed,
        "primary": holder,
        "fresh_hosts": len(started),
        "fresh_boot_s": round(booted - rebuild, 1),
        "healed_s": round(healed_at - fire, 1) if healed_at else None,
        "error": boot_error,
    }
    placements = tuple(p for s in burned for p in plan.sites[s].placements)
    wafter = [a for a in writes.attempts if a.end >= fire]
    result = ScenarioResult(
        site="every site holding a database member (restore from the backups)",
        site_id="restore",
        placements=placements,
        killed=tuple(victims),
        prediction=prediction(plan, burned),
        fire_at=fire,
        rto_web=rto_web,
        rto_writes=rto_writes,
        rpo=rpo,
        cluster=chk.as_dict() if chk is not None else None,
        restore=restore,
        writes={
            "total": len(writes.attempts),
            "acknowledged": len(writes.acks),
            "after_fire": len(wafter),
            "failed_after_fire": sum(not a.ok for a in wafter),
        },
        notes=notes,
        boot_s=drill.boot_s,
    )
    result.timeline = sorted(drill.events, key=lambda e: e.at)
    return result


def run_restore(
    plan: Plan,
    restored: Plan,
    *,
    options: Options = Options(),
    progress: Callable[[str], None] = lambda _: None,
) -> ScenarioResult:
    """Boot ``plan`` (the stack as shipped), burn every site holding a database member, rebuild the burned hosts
    from ``restored`` (the same stack with :data:`RESTORE_SETTING`) and measure. Always removes what it created."""
    drill = _Drill(plan, options, progress)
    workdir = Path(tempfile.mkdtemp(prefix="rs-firedrill-"))
    start = time.monotonic()
    try:
        with sessions.Session(image=options.image) as s:
            topology = topo.boot(
                s, plan, workdir, image=options.image, timeout=options.boot_timeout_s, event=drill.event
            )
            drill.names, drill.boot_s, drill.visitor = topology.names, topology.boot_s, topology.visitor
            result = _restore(drill, topology, restored)
            result.runtime_s = time.monotonic() - start
            cleanup_from = time.time()
        cleaned_up(result, s, cleanup_from, progress)
    finally:
        drill.pool.shutdown(wait=False, cancel_futures=True)
        release_workdir(workdir, progress)
    return result
