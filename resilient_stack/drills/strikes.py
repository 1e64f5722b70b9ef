"""The faults a scenario strikes with, as the drill strikes them on its podman hosts: a fire (every host of a site
killed at once), a pause (the primary frozen) and a partition (a site unplugged), each undone, and the fence probes
that watch the members through a pause or a partition (:mod:`.faults`: what they prove). A base of the drill
(:class:`resilient_stack.drills.scenario._Drill`): it reads the drill's hosts, plan and timeline.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from resilient_stack.drills import topology as topo
from resilient_stack.drills.faults import FENCE_START_TIMEOUT_S, FENCE_TABLE, FenceProbe, fence_started, fence_verdict
from resilient_stack.drills.faults import INTERVAL as FENCE_INTERVAL
from resilient_stack.drills.plan import DrillError, Plan
from resilient_stack.testing import podman


def psql_local(container: str, sql: str, *, db: str = "postgres", timeout: float = 30):
    return podman.exec_in(
        container,
        ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", db, "-c", sql],
        check=False,
        timeout=timeout,
    )


class Strikes:
    """The drill's faults and fence probes (what :class:`resilient_stack.drills.scenario._Drill` provides: below)."""

    plan: Plan
    names: dict[str, str]  # host name -> container
    internet: str  # the internet network's name
    down: set[str]  # host names whose containers are killed
    event: Callable[..., None]

    def member(self, placement: str) -> str:
        """The database host of ``placement``."""
        return self.plan.db_host(placement).name

    def sync_standby(self, primary: str) -> str | None:
        """The placement of the primary's synchronous standby at this moment (None: none, asynchronous)."""
        proc = psql_local(
            self.names[self.member(primary)],
            "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'",
        )
        name = proc.stdout.strip() if proc.returncode == 0 else ""
        return next((p for p in self.plan.db_placements if self.member(p) == name), None)

    def victims(self, site: str, fault: str, primary: str) -> list[str]:
        if fault == "pause":
            return [self.member(primary)]
        victims = [h.name for h in self.plan.hosts_on(site) if h.name not in self.down]
        if fault == "fire" and self.plan.backup_site == site:
            victims.append(f"{self.plan.backup_placement}-s3")
        return victims

    def strike(self, fault: str, site_name: str, victims: list[str]) -> float:
        """The fault, at once on every victim; when it struck (rows acknowledged until then count as before it)."""
        containers = [self.names[v] for v in victims]
        called = time.time()
        try:
            if fault == "fire":
                podman.kill(*containers, signal_name="KILL", timeout=60)
            elif fault == "pause":
                podman.pause(*containers)
            else:
                for c in containers:
                    podman.connect(self.internet, c, disconnect=True)
        except podman.PodmanError as exc:
            raise DrillError(f"the {fault} failed: {exc}") from None
        at = time.time()
        what = {
            "fire": f"{site_name} burns: SIGKILL to {', '.join(victims)}",
            "pause": f"{victims[0]} freezes: every process paused, as a hung hypervisor leaves a VM",
            "partition": f"{site_name} is cut off the internet: {', '.join(victims)} unplugged, running on",
        }[fault]
        self.event(fault, f"{what} (took {at - called:.2f} s)", at)
        return at

    def restore(self, fault: str, site_name: str, victims: list[str]) -> None:
        t0 = time.time()
        if fault == "pause":
            podman.pause(*[self.names[v] for v in victims], unpause=True)
            what = f"{victims[0]} thaws: its processes go on where they stopped"
        else:
            for v in victims:
                ip = next(h.public_ip for h in self.plan.hosts if h.name == v)
                podman.connect(self.internet, self.names[v], ip=ip, mac=topo.mac_of(ip))
            what = f"{site_name} is plugged back in at the same addresses"
        self.event("return", what, t0)

    def fence_probes(self, primary: str, seconds: int) -> dict[str, FenceProbe]:
        """A fence probe on every living member (the table made on the primary first)."""
        proc = psql_local(
            self.names[self.member(primary)],
            f"CREATE TABLE IF NOT EXISTS {FENCE_TABLE} (member text NOT NULL, at timestamptz NOT NULL)",
        )
        if proc.returncode != 0:
            raise DrillError(f"the fence table could not be made on the primary: {proc.stderr.strip()[-300:]}")
        probes = {
            p: FenceProbe(p, self.names[self.member(p)], seconds + 120)
            for p in self.plan.db_placements
            if self.member(p) not in self.down
        }
        # the fault only strikes once the primary's probe committed and every other probe answered: a verdict needs
        # an acknowledgement before the fault (whose was it?) and a probe on every member already running
        deadline = time.time() + FENCE_START_TIMEOUT_S
        while not fence_started({p: probe.attempts for p, probe in probes.items()}, primary):
            if time.time() > deadline:
                for probe in probes.values():
                    probe.stop()
                raise DrillError(
                    f"the fence probes did not start within {FENCE_START_TIMEOUT_S:g} s (no commit "
                    f"acknowledged by the primary {primary}, or a member's probe never answered)"
                )
            podman.sleep(FENCE_INTERVAL)
        self.event("fence", f"every {FENCE_INTERVAL:g} s each member ({', '.join(probes)}) is asked to commit a row")
        return probes

    def fence_verdict(self, probes: dict[str, FenceProbe], at: float) -> dict[str, Any]:
        for probe in probes.values():
            probe.stop()
        verdict = fence_verdict({p: probe.attempts for p, probe in probes.items()}, fault_at=at)
        h = verdict["handover"] or {}
        self.event(
            "fence",
            (
                "never two members accepting writes"
                if verdict["ok"]
                else f"TWO MEMBERS ACCEPTED WRITES at once {verdict['two_writable']} time(s)"
            )
            + (
                f"; the last write {h['old']} acknowledged came {h['last_ack_old']} s after the fault, the first"
                f" one {h['new']} acknowledged {h['first_ack_new']} s after it"
                if h.get("new")
                else ""
            ),
        )
        return verdict
