"""What the stack's Alertmanagers told the drill: a receiver in the visitor's container, and what it heard per scenario.

A stack with ``monitoring`` posts its alerts to ``alertWebhook``. The drill gives that secret its own receiver
(``data/alert-receiver.py``, on the visitor, on the internet network like any webhook endpoint): the one setting a
user would give, the stack file untouched. Each notification is logged with the time it arrived; a scenario's alerts
are the notifications between its fire and the next scenario's, each alert (its name and labels) with how many
notifications said it was firing, when the first arrived, and when it was resolved. Pure, but for :func:`read`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from resilient_stack.testing import podman

__all__ = [
    "PORT",
    "LOG",
    "SERVICE",
    "WAIT_S",
    "receiver_url",
    "read",
    "parse",
    "Heard",
    "heard",
    "site_down",
    "backup_late",
    "backup_wait_s",
]

PORT = 9095
LOG = "/run/firedrill/alerts.jsonl"
SERVICE = "firedrill-alerts"
KEY_LABELS = ("site", "instance")
WAIT_S = 150.0  # a burned site's alert is awaited this long after the fire (the promise: 2 minutes)
SITE_DOWN = "SiteDown"  # resilient_stack.hosts.monitoring.alert_rules
BACKUP_LATE = "BackupLate"
BACKUP_LATE_WAIT_S = 60.0  # the rule's `for`, then an evaluation (10 s) and Alertmanager's group wait (10 s), a margin
BACKUP_WAIT_MAX_S = 600.0  # a backup store's burn waits for BackupLate only when it comes within this


def receiver_url(visitor_ip: str) -> str:
    return f"http://{visitor_ip}:{PORT}/alerts"


def read(container: str) -> list[dict[str, Any]]:
    """The receiver's log (empty when nothing came, or it cannot be read)."""
    proc = podman.exec_in(container, ["sh", "-c", f"cat {LOG} 2>/dev/null || true"], check=False, timeout=30)
    return parse(proc.stdout.splitlines()) if proc.returncode == 0 else []


def parse(lines: Iterable[str]) -> list[dict[str, Any]]:
    """The log's notifications in arrival order; a line that is not one (cut short) is skipped."""
    out = []
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if isinstance(doc, dict) and isinstance(doc.get("body"), dict) and isinstance(doc.get("t"), (int, float)):
            out.append(doc)
    return sorted(out, key=lambda d: d["t"])


@dataclass
class Heard:
    """One alert as the receiver heard it in a window."""

    name: str
    labels: dict[str, str]
    firing: int = 0  # notifications that said it was firing
    first_s: float | None = None  # the first of them, seconds after the window's start
    resolved_s: float | None = None  # the first that said it was resolved

    def as_dict(self) -> dict[str, Any]:
        return {
            "alert": self.name,
            **self.labels,
            "notifications": self.firing,
            "first_s": self.first_s,
            "resolved_s": self.resolved_s,
        }


def heard(notifications: list[dict[str, Any]], start: float, end: float | None = None) -> list[Heard]:
    """Each alert that fired in ``[start, end)`` (its name and :data:`KEY_LABELS`), in the order it first fired, with
    its resolution whenever it came (a site's may come during the next scenario); an alert only resolved in the window
    is listed too, unless it was still firing at ``start`` (it belongs to an earlier scenario; one that resolved before
    and fires again is this window's)."""
    found: dict[tuple, Heard] = {}
    earlier: set[tuple] = set()
    for n in notifications:
        inside = n["t"] >= start and (end is None or n["t"] < end)
        for a in n["body"].get("alerts") or []:
            labels = a.get("labels") or {}
            name = str(labels.get("alertname", "?"))
            keep = {k: str(labels[k]) for k in KEY_LABELS if k in labels}
            key = (name, tuple(sorted(keep.items())))
            if n["t"] < start:  # firing at the start when the last word before it said so (not once resolved)
                (earlier.add if a.get("status") == "firing" else earlier.discard)(key)
                continue
            if key not in found and not (inside and key not in earlier):
                continue  # after the window: only the resolutions of what fired in it
            h = found.setdefault(key, Heard(name, keep))
            at = round(n["t"] - start, 1)
            if a.get("status") == "firing" and inside:
                h.firing += 1
                h.first_s = at if h.first_s is None else h.first_s
            elif a.get("status") == "resolved" and h.resolved_s is None:
                h.resolved_s = at
    return sorted(found.values(), key=lambda h: (h.first_s is None, h.first_s or 0.0, h.name))


def site_down(alerts: list[Heard], site: str) -> Heard | None:
    """The alert that ``site`` is down, once it fired."""
    return next((h for h in alerts if h.name == SITE_DOWN and h.labels.get("site") == site and h.firing), None)


def backup_late(alerts: list[Heard]) -> Heard | None:
    """The alert that the repository's newest backup is older than the stack's threshold, once it fired."""
    return next((h for h in alerts if h.name == BACKUP_LATE and h.firing), None)


def backup_wait_s(max_age_hours: float) -> float | None:
    """How long after the backup store burned the drill waits for :data:`BACKUP_LATE`: the stack's threshold (the
    newest backup ended before the fire, so it comes sooner), the rule's minute and a margin; None when that is over
    :data:`BACKUP_WAIT_MAX_S` (the shipped daily schedule's alert comes a day later: not a drill's to wait for)."""
    wait = max_age_hours * 3600 + 60 + BACKUP_LATE_WAIT_S
    return wait if wait <= BACKUP_WAIT_MAX_S else None
