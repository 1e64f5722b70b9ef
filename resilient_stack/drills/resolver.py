"""The visitor's way in through the stack's own DNS (``monitoring.zone``): a real resolver following the delegation.

A stack that serves its zone (:mod:`resilient_stack.hosts.dns`) is visited twice in every scenario: as before,
through the record set in the visitor's ``/etc/hosts`` (every web host, burned or not: the way in without the
stack's DNS), and through Debian's unbound, which resolves the name as any ISP's resolver does:

* the **registrar**: the zone's parent (``example.com.`` for ``shop.example.com.``) served by PowerDNS on the
  visitor's loopback (port :data:`PARENT_PORT`), holding what the user entered once: the stack output
  ``delegation`` (NS and glue records);
* **unbound** on the visitor's ``127.0.0.1:53`` (its own unit: no trust anchor to fetch, no DNSSEC validation: the
  drill's parent zone is unsigned), whose only way to the parent is the registrar (a stub zone): it follows the
  referral to the stack's name servers, picks among them, caches their answers for their TTL, as resolvers do;
* streams of the visitor script (:mod:`.load`): :class:`DnsVisits` (GETs of ``www.<zone>`` through unbound) and
  :class:`Answers` (what unbound answers for ``www.<zone>`` every second, and what each name server answers,
  asked directly).

:func:`stats` reports, per scenario: the requests that failed through the stack's DNS after the fire and for how
long, the time from the fire until no name server's answer names a burned web host (PowerDNS's health checks) and
until no answer of the resolver does: at most the slowest name server's time plus the TTL, when the product does
its job.
"""

from __future__ import annotations

import statistics
from typing import Any, Sequence

from resilient_stack.drills.load import LoadStream
from resilient_stack.drills.report import recovery_seconds
from resilient_stack.hosts.dns import CHECK_INTERVAL_S, CHECK_TIMEOUT_S

__all__ = ["PARENT_PORT", "RESOLVER", "DnsVisits", "Answers", "window_s", "parent_of", "visitor_config", "stats"]

PARENT_PORT = 5300  # the registrar's PowerDNS, on the visitor's loopback
RESOLVER = "127.0.0.1"  # unbound, on the visitor
UNBOUND_CONF = "/etc/firedrill/unbound.conf"
REGISTRAR_CONF = "/etc/powerdns/pdns.d/firedrill-registrar.conf"
REGISTRAR_NAMED = "/etc/firedrill/registrar.named.conf"
REGISTRAR_ZONE = "/etc/firedrill/registrar.zone"
SERVICE = "firedrill-resolver"
SAMPLE_S = 1.0  # how often the answers are read: a figure's resolution


class DnsVisits(LoadStream):
    """GETs of the page, the name resolved by the visitor's unbound."""

    mode = "get"


class Answers(LoadStream):
    """What the visitor's unbound answers for the name (each attempt's detail: the addresses, sorted)."""

    mode = "resolve"


def window_s(ttl: int) -> float:
    """How long after a fault the answers are read: the name servers' next check and its timeout, the resolver's
    cached answer's TTL, two samples (what the promise needs to be seen kept, or broken)."""
    return CHECK_INTERVAL_S + CHECK_TIMEOUT_S + ttl + 2 * SAMPLE_S


def parent_of(zone: str) -> str:
    """The zone's parent (``example.com.`` for ``shop.example.com.``; ``.`` for a top-level name)."""
    return zone.split(".", 1)[1] or "."


def visitor_config(zone: str, delegation: Sequence[str]) -> tuple[list[dict[str, Any]], list[Any]]:
    """The visitor's registrar and resolver: its ``write_files`` entries and its ``runcmd`` steps."""
    parent = parent_of(zone)
    records = [" ".join([name, "IN", *rest]) for name, *rest in (line.split() for line in delegation)]
    zone_text = "\n".join(
        [
            "$TTL 3600",
            f"$ORIGIN {parent}",
            "@ IN SOA registrar.invalid. hostmaster.invalid. 1 3600 600 604800 60",
            "@ IN NS registrar.invalid.",
            *records,
            "",
        ]
    )
    registrar = "\n".join(
        [
            "launch=bind",
            f"bind-config={REGISTRAR_NAMED}",
            "local-address=127.0.0.1",
            f"local-port={PARENT_PORT}",
            "",
        ]
    )
    unbound = "\n".join(
        [
            "server:",
            "    interface: 127.0.0.1",
            "    port: 53",
            "    access-control: 127.0.0.0/8 allow",
            "    do-not-query-localhost: no",
            '    module-config: "iterator"',
            "    num-threads: 1",
            "    outgoing-range: 256",
            "    username: unbound",
            '    chroot: ""',
            '    pidfile: ""',
            "    use-syslog: no",
            "    verbosity: 1",
            "stub-zone:",
            f'    name: "{parent}"',
            f"    stub-addr: 127.0.0.1@{PARENT_PORT}",
            "",
        ]
    )
    unit = (
        "[Unit]\nDescription=the fire drill visitor's resolver\n"
        f"[Service]\nExecStart=/usr/sbin/unbound -d -c {UNBOUND_CONF}\n"
    )
    files = [
        {"path": REGISTRAR_ZONE, "content": zone_text},
        {"path": REGISTRAR_NAMED, "content": f'zone "{parent}" {{ type master; file "{REGISTRAR_ZONE}"; }};\n'},
        {"path": REGISTRAR_CONF, "content": registrar},
        {"path": UNBOUND_CONF, "content": unbound},
        {"path": f"/etc/systemd/system/{SERVICE}.service", "content": unit},
    ]
    runcmd = [["systemctl", "enable", "--now", "pdns"], ["systemctl", "start", f"{SERVICE}.service"]]
    return files, runcmd


def clean_after(answers: LoadStream, fire: float, burned: Sequence[str], until: float | None = None) -> float | None:
    """Seconds from the fire to the last answer that named a burned web host (0: none did; None: the last one
    still did, or nothing answered after the fire); ``until``: the fault undone (its hosts answer again after)."""
    heard = [a for a in answers.attempts if a.end >= fire and (until is None or a.end < until)]
    named = [a for a in heard if a.ok and set(a.detail.split(",")) & set(burned)]
    if not heard or (named and named[-1] is heard[-1]):
        return None
    return round(named[-1].end - fire, 1) if named else 0.0


def stats(
    visits: LoadStream,
    answers: LoadStream,
    servers: dict[str, LoadStream],
    fire: float,
    burned: Sequence[str],
    ttl: int,
    *,
    until: float | None = None,
) -> dict[str, Any]:
    """Through the stack's DNS, after the fire: the failed requests and their span, when the name servers' own
    answers (``servers``: by address, asked directly) and then the resolver's stopped naming a burned web host
    (``burned``: their addresses), and the bound the resolver's must hold: the slowest name server's, plus the TTL
    its answer was cached for, plus one sampling interval. ``until``: when a pause or a partition was undone (the
    answers after it name its hosts again, as they should)."""
    after = [a for a in visits.attempts if a.end >= fire]
    failed = [a for a in after if not a.ok]
    heard = [a for a in answers.attempts if a.end >= fire]
    clean_s = clean_after(answers, fire, burned, until)
    by_server = {address: clean_after(stream, fire, burned, until) for address, stream in servers.items()}
    alive = [v for v in by_server.values() if v is not None]
    slowest = max(alive) if alive and len(alive) == len(by_server) else None
    waits = sorted(a.end - a.start for a in after if a.ok and a.start >= fire)
    out: dict[str, Any] = {
        "requests_after_fire": len(after),
        "failed_after_fire": len(failed),
        "page_s_after_fire": {"median": round(statistics.median(waits), 3), "max": round(waits[-1], 3)}
        if waits
        else None,
        "failing_s": round(failed[-1].end - failed[0].start, 1) if failed else 0.0,
        "rto_s": recovery_seconds(visits.attempts, fire),
        "answers_clean_s": clean_s,
        "answers_after_fire": len(heard),
        "no_answer_after_fire": sum(not a.ok for a in heard),
        "servers_clean_s": by_server,
        "ttl_s": ttl,
        "bound_s": round(slowest + ttl + SAMPLE_S, 1) if slowest is not None else None,
    }
    return out
