"""What the drill reads of the database cluster on the booted hosts. It changes nothing: the failover is the stack's.

- :func:`probe` asks one member (``data/probe.sh`` through ``podman exec``, read only) for its role, what it
  streams from, its timeline and WAL position, and whether its etcd member answers with the majority.
- :func:`check` is the verdict on the survivors: exactly one primary, every other surviving member streaming
  from it (``rebuilt_replicas``), and a majority of the etcd members healthy. Pure.
- :func:`patroni_events` takes the lines of Patroni's journal that tell the story (promotion, pg_rewind,
  following a new leader) for the timeline. Pure.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping, Sequence

from resilient_stack.testing import podman

__all__ = ["MemberState", "ClusterCheck", "probe", "parse_probe", "check", "patroni_events", "patroni_journal"]


@dataclass(frozen=True)
class MemberState:
    """One database member as the probe saw it (``alive=False``: its container was not asked: burned)."""

    placement: str
    alive: bool
    role: str | None = None  # primary | replica | None (PostgreSQL did not answer)
    streaming_from: str | None = None  # a replica's upstream address, when its WAL receiver streams
    timeline: int | None = None
    lsn: str | None = None
    etcd_healthy: bool = False


@dataclass(frozen=True)
class ClusterCheck:
    """The survivors' cluster: exactly one primary, the others streaming from it, etcd with a majority."""

    members: int
    primaries: tuple[str, ...]
    rebuilt_replicas: tuple[str, ...]  # surviving members streaming from the one primary
    stale_replicas: tuple[str, ...]  # surviving members not (yet) streaming from it
    etcd_healthy: tuple[str, ...]
    states: tuple[MemberState, ...] = field(default=(), compare=False)

    @property
    def primary(self) -> str | None:
        return self.primaries[0] if len(self.primaries) == 1 else None

    @property
    def etcd_majority(self) -> bool:
        return 2 * len(self.etcd_healthy) > self.members

    @property
    def ok(self) -> bool:
        return self.primary is not None and not self.stale_replicas and self.etcd_majority

    def as_dict(self) -> dict[str, Any]:
        return {
            "primaries": list(self.primaries),
            "rebuilt_replicas": list(self.rebuilt_replicas),
            "stale_replicas": list(self.stale_replicas),
            "etcd": {"members": self.members, "healthy": list(self.etcd_healthy), "majority": self.etcd_majority},
            "ok": self.ok,
        }

    def describe(self) -> str:
        primary = self.primary or (
            f"{len(self.primaries)} primaries ({', '.join(self.primaries)})" if self.primaries else "no primary"
        )
        parts = [f"primary {primary}" if self.primary else primary]
        if self.rebuilt_replicas:
            parts.append(f"streaming from it: {', '.join(self.rebuilt_replicas)}")
        if self.stale_replicas:
            parts.append(f"NOT streaming from it: {', '.join(self.stale_replicas)}")
        parts.append(
            f"etcd {len(self.etcd_healthy)}/{self.members} healthy" + ("" if self.etcd_majority else ": NO MAJORITY")
        )
        return "; ".join(parts)


def _script() -> str:
    return resources.files(__package__).joinpath("data", "probe.sh").read_text(encoding="utf-8")


def parse_probe(placement: str, text: str) -> MemberState:
    """The probe's ``KEY=VALUE`` lines as a :class:`MemberState`."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    role = values.get("role") or None
    status, _, sender = (values.get("receiver") or "").partition(" ")
    timeline = values.get("timeline", "")
    return MemberState(
        placement=placement,
        alive=True,
        role=role if role in ("primary", "replica") else None,
        streaming_from=sender if status == "streaming" and sender not in ("", "-") else None,
        timeline=int(timeline) if timeline.isdigit() else None,
        lsn=values.get("lsn") or None,
        etcd_healthy=values.get("etcd") == "healthy",
    )


def probe(placement: str, container: str) -> MemberState:
    """Ask one member (read only)."""
    proc = podman.exec_in(container, ["bash", "-c", _script()], check=False, timeout=30)
    return parse_probe(placement, proc.stdout)


def check(states: Sequence[MemberState], addresses: Mapping[str, str]) -> ClusterCheck:
    """The verdict on the surviving members (``addresses``: placement -> public address)."""
    alive = [s for s in states if s.alive]
    primaries = tuple(s.placement for s in alive if s.role == "primary")
    primary = addresses.get(primaries[0]) if len(primaries) == 1 else None
    rebuilt = tuple(
        s.placement for s in alive if s.role == "replica" and primary is not None and s.streaming_from == primary
    )
    stale = tuple(s.placement for s in alive if s.placement not in primaries and s.placement not in rebuilt)
    return ClusterCheck(
        members=len(states),
        primaries=primaries,
        rebuilt_replicas=rebuilt,
        stale_replicas=stale,
        etcd_healthy=tuple(s.placement for s in alive if s.etcd_healthy),
        states=tuple(states),
    )


# What Patroni's journal says when the cluster changes (the first line of each kind, per host).
_EVENTS = re.compile(
    r"(promoted self to leader[^\n]*|acquired session lock as a leader|demoted self[^\n]*|"
    r"doing crash recovery[^\n]*|running pg_rewind from \S+|pg_rewind exit code=\d+|"
    r"a secondary, and following a leader \(\S+\)|Lock owner: \S+; I am \S+)"
)


def patroni_events(journal: str, host: str) -> list[tuple[float, str]]:
    """``(epoch, "host: what happened")`` from ``journalctl -o short-unix`` lines of Patroni: the first line of
    each kind (a promotion, a rewind, following a new leader...)."""
    out: list[tuple[float, str]] = []
    seen: set[str] = set()
    for line in journal.splitlines():
        m = re.match(r"^(\d+\.\d+)\s", line)
        e = _EVENTS.search(line)
        if not m or not e:
            continue
        text = e.group(1)
        kind = re.sub(r"\S*\d\S*|\([^)]*\)", "", text).strip()
        if kind in seen:
            continue
        seen.add(kind)
        out.append((float(m.group(1)), f"{host}: {text}"))
    return out


def patroni_journal(container: str, since: float) -> str:
    """Patroni's journal on one host since ``since`` (epoch seconds)."""
    return podman.exec_in(
        container,
        ["journalctl", "-u", "patroni", "-o", "short-unix", "--no-pager", "-q", "--since", f"@{int(since) - 1}"],
        check=False,
        timeout=30,
    ).stdout
