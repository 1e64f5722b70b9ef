"""Faults a two-minute fire does not show: a frozen primary and a primary cut off the network, and the fence probe.

- **pause**: every process of the primary's database host frozen (``podman pause``: the cgroup freezer, as a hung
  hypervisor or a live migration freezes a VM), then thawed. Nothing is killed: when it thaws, its PostgreSQL still
  believes it is the primary until its Patroni notices it lost the leader key.
- **partition**: every host of the primary's site unplugged from the internet (``podman network disconnect``): the
  site runs on, cut off the other sites, then plugged back at the same addresses.

During the fault and until the stack healed, the **fence probe** (``data/fence.py``, one per database member, run
inside it: a frozen or cut-off member is probed too) commits a row every :data:`INTERVAL` seconds, as an
application would, and says when each commit was acknowledged. :func:`fence_verdict` is the check that matters:
at no moment do two members acknowledge writes (no two acknowledgements from different members within one
interval of each other), and a commit only the cut-off member holds is never counted as acknowledged (with
synchronous replication it waits for a standby that no longer follows it).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

from resilient_stack.testing import podman

__all__ = [
    "FAULTS",
    "INTERVAL",
    "FENCE_TABLE",
    "FENCE_START_TIMEOUT_S",
    "FenceProbe",
    "fence_started",
    "fence_verdict",
    "parse_fence_line",
]

FAULTS = ("fire", "pause", "partition")
INTERVAL = 0.2  # seconds between two commits of a fence probe
FENCE_TABLE = "resilient_stack_fence"
FENCE_SCRIPT = "/usr/local/lib/firedrill/fence.py"
STOP = "/run/firedrill/stop-fence"
FENCE_START_TIMEOUT_S = 60.0  # a probe's Python, its connection and its first commit, on a busy machine


def fence_script() -> str:
    return resources.files(__package__).joinpath("data", "fence.py").read_text(encoding="utf-8")


@dataclass(frozen=True)
class FenceAttempt:
    start: float
    end: float
    status: str  # ok | unconfirmed | ro | err | busy
    detail: str = ""


def parse_fence_line(line: str) -> FenceAttempt | None:
    parts = line.split(maxsplit=3)
    if len(parts) < 3 or parts[0] == "end":
        return None
    try:
        return FenceAttempt(float(parts[0]), float(parts[1]), parts[2], parts[3].strip() if len(parts) > 3 else "")
    except ValueError:
        return None


@dataclass
class FenceProbe:
    """The probe of one member (a process inside its container); ``attempts`` fill as answers come."""

    placement: str
    container: str
    seconds: int
    attempts: list[FenceAttempt] = field(default_factory=list)

    def __post_init__(self) -> None:
        podman.exec_in(
            self.container,
            ["sh", "-c", f"rm -f {STOP}; install -d -m 0755 /run/firedrill $(dirname {FENCE_SCRIPT})"],
            timeout=30,
        )
        podman.exec_in(self.container, ["tee", FENCE_SCRIPT], input=fence_script(), timeout=30)
        self.proc = podman.popen_exec(
            self.container,
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                "python3",
                FENCE_SCRIPT,
                f"{INTERVAL:g}",
                str(self.seconds),
                FENCE_TABLE,
            ],
        )
        self._reader = threading.Thread(target=self._read, name=f"fence-{self.placement}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            attempt = parse_fence_line(line)
            if attempt is not None:
                self.attempts.append(attempt)

    def stop(self, timeout: float = 20.0) -> None:
        podman.exec_in(self.container, ["touch", STOP], check=False, timeout=30)
        try:
            self.proc.wait(timeout=timeout)
        except Exception:  # noqa: BLE001 - a probe that does not end is killed
            self.proc.kill()
        self._reader.join(timeout=5)


def fence_started(attempts: Mapping[str, list[FenceAttempt]], primary: str) -> bool:
    """Whether the fault may strike (pure): the primary's probe had a commit acknowledged and every member's probe
    answered at least once. Striking earlier leaves the verdict without a handover to judge."""
    return any(a.status == "ok" for a in attempts.get(primary, ())) and all(len(xs) > 0 for xs in attempts.values())


def fence_verdict(
    attempts: Mapping[str, list[FenceAttempt]], *, fault_at: float, interval: float = INTERVAL
) -> dict[str, Any]:
    """Whether two members ever acknowledged writes at once (pure).

    Two acknowledgements from different members ``overlap`` when each was acknowledged before the other's attempt
    started plus one interval: in that window both members were accepting writes. Also: who acknowledged what
    before and after ``fault_at``, the last acknowledgement before the handover and the first after it."""
    acks = sorted((a.end, a.start, p) for p, xs in attempts.items() for a in xs if a.status == "ok")
    overlaps = []
    for i, (end_a, start_a, pa) in enumerate(acks):
        for end_b, start_b, pb in acks[i + 1 :]:
            if start_b > end_a + interval:
                break
            if pb != pa and start_b <= end_a + interval and start_a <= end_b + interval:
                overlaps.append({"members": sorted((pa, pb)), "at": round(min(end_a, end_b), 3)})
    by_member = {
        p: {
            "acknowledged": sum(a.status == "ok" for a in xs),
            "acknowledged_after_fault": sum(a.status == "ok" and a.end >= fault_at for a in xs),
            "unconfirmed": sum(a.status == "unconfirmed" for a in xs),
            "refused": sum(a.status in ("ro", "err") for a in xs),
            "busy": sum(a.status == "busy" for a in xs),
            "attempts": len(xs),
        }
        for p, xs in sorted(attempts.items())
    }
    handover = None
    before = [(e, p) for e, _, p in acks if e < fault_at]
    if before:
        old = before[-1][1]
        after_other = [(e, p) for e, _, p in acks if e >= fault_at and p != old]
        last_old = max((e for e, _, p in acks if p == old), default=None)
        handover = {
            "old": old,
            "last_ack_old": round(last_old - fault_at, 3) if last_old else None,
            "new": after_other[0][1] if after_other else None,
            "first_ack_new": round(after_other[0][0] - fault_at, 3) if after_other else None,
        }
    return {
        "interval_s": interval,
        "two_writable": len(overlaps),
        "overlaps": overlaps[:10],
        "members": by_member,
        "handover": handover,
        "ok": not overlaps,
    }
