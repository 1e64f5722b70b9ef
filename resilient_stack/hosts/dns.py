"""The stack's own name servers: Debian's PowerDNS on the monitoring hosts, answering only web hosts that answer.

With ``monitoring.zone``, every monitoring host (two sites and two providers at least: ``single-site`` judges the
``dns`` role like any other) is also an authoritative name server of that zone (PowerDNS, its BIND zone-file
backend, never recursive). The zone delegated to them by the registrar (or the parent zone's DNS provider) holds:

* ``@`` and ``www``: LUA records (:func:`lua_answer`): PowerDNS itself asks each web host's ``/healthz`` over HTTP
  every :data:`CHECK_INTERVAL_S` seconds and answers only the addresses whose check passed (all of them while none
  does: a name that answers nothing is worse than one that answers hosts that may come back);
* ``ns-<placement>``: each name server's address (the glue the registrar also holds).

The zone's text travels in the monitoring hosts' runtime document (:mod:`.runtime`): a web host added, replaced or
gone changes the answers on running name servers (root's sync rewrites the file and reloads PowerDNS), no host
replaced. Pure.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Sequence

from resilient_stack.core.vocabulary import DNS_PORT, FQDN_RE, HTTP_PORT

__all__ = [
    "PACKAGES",
    "SERVICE",
    "CONF",
    "ZONE_FILE",
    "NAMED_CONF",
    "CHECK_INTERVAL_S",
    "CHECK_TIMEOUT_S",
    "ANSWERED",
    "Zone",
    "name_server",
    "lua_answer",
    "zone_file",
    "pdns_config",
    "named_conf",
    "delegation",
]

PACKAGES = ("pdns-server", "pdns-backend-bind")
SERVICE = "pdns.service"
CONF = "/etc/powerdns/pdns.d/resilient-stack.conf"
NAMED_CONF = "/etc/powerdns/resilient-stack.named.conf"
ZONE_FILE = "/etc/powerdns/resilient-stack.zone"
CHECK_INTERVAL_S = 5  # PowerDNS's lua-health-checks-interval: how often each web host's /healthz is asked
CHECK_TIMEOUT_S = 5  # a web host that does not answer /healthz within this is down (a loaded host answers in 2)
ANSWERED = ("@", "www")  # the names that answer the web hosts


@dataclass(frozen=True)
class Zone:
    """The zone the stack serves: ``name`` (absolute, final dot), the TTL of its answers, its name servers
    (``(placement, address)``) and the web hosts' public addresses."""

    name: str
    ttl: int
    servers: tuple[tuple[str, str], ...]
    web: tuple[str, ...]

    def __post_init__(self) -> None:
        if not FQDN_RE.match(self.name) or len(self.name) > 254:
            raise ValueError(f"zone must be an absolute DNS name with its final dot, got {self.name!r}")
        if not 1 <= self.ttl <= 86400:
            raise ValueError(f"ttl must be 1 to 86400 seconds, got {self.ttl}")
        if not self.servers:
            raise ValueError("a zone needs at least one name server")
        for placement, address in self.servers:
            ipaddress.ip_address(address)  # ValueError: not an address
            if not placement.replace("-", "").isalnum():
                raise ValueError(f"a name server's placement must be a DNS label, got {placement!r}")
        for address in self.web:
            ipaddress.ip_address(address)


def name_server(zone: str, placement: str) -> str:
    """The name of the name server in ``placement`` (absolute)."""
    return f"ns-{placement}.{zone}"


def _type(address: str) -> str:
    return "A" if ipaddress.ip_address(address).version == 4 else "AAAA"


def lua_answer(zone: str, web: Sequence[str]) -> str:
    """The LUA record's answer: every web host of ``web`` (one address family) whose ``/healthz`` answered
    (``selector='all'``), else all of them."""
    addresses = ", ".join(f"'{ipaddress.ip_address(a)}'" for a in web)
    url = f"http://{zone.rstrip('.')}:{HTTP_PORT}/healthz"
    return f"ifurlup('{url}', {{{{{addresses}}}}}, {{selector='all', backupSelector='all', timeout={CHECK_TIMEOUT_S}}})"


def zone_file(zone: Zone) -> str:
    """The zone in BIND's format, as PowerDNS's bind backend reads it (its serial: a hash of the rest)."""
    ns = [name_server(zone.name, p) for p, _ in zone.servers]
    body = [f"$TTL {zone.ttl}", f"$ORIGIN {zone.name}"]
    records = [f"@ IN NS {n}" for n in ns]
    records += [f"{n} IN {_type(a)} {a}" for n, (_, a) in zip(ns, zone.servers)]
    for family in ("A", "AAAA"):
        web = [a for a in zone.web if _type(a) == family]
        if web:
            records += [f'{name} IN LUA {family} "{lua_answer(zone.name, web)}"' for name in ANSWERED]
    serial = int(hashlib.sha256("\n".join(records).encode()).hexdigest()[:7], 16) + 1
    soa = f"@ IN SOA {ns[0]} hostmaster.{zone.name} {serial} 3600 600 604800 {zone.ttl}"
    return "; Managed by resilient_stack (root's sync): the stack's own zone.\n" + "\n".join([*body, soa, *records, ""])


def pdns_config() -> str:
    """PowerDNS's settings: the bind backend with the stack's zone only, LUA records, authoritative only."""
    return "\n".join(
        [
            "# Managed by resilient_stack (cloud-init): authoritative for the stack's zone only, never recursive.",
            "launch=bind",
            f"bind-config={NAMED_CONF}",
            "local-address=0.0.0.0, ::",
            f"local-port={DNS_PORT}",
            "enable-lua-records=yes",
            f"lua-health-checks-interval={CHECK_INTERVAL_S}",
            "disable-axfr=yes",
            "version-string=anonymous",
            "",
        ]
    )


def named_conf(zone: str) -> str:
    """The bind backend's list of zones: the stack's."""
    return f'zone "{zone}" {{ type master; file "{ZONE_FILE}"; }};\n'


def delegation(zone: Zone) -> list[str]:
    """What the registrar (or the parent zone) must hold, once: the NS records and their glue."""
    ns = [name_server(zone.name, p) for p, _ in zone.servers]
    return [f"{zone.name} NS {n}" for n in ns] + [f"{n} {_type(a)} {a}" for n, (_, a) in zip(ns, zone.servers)]
