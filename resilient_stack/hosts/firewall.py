"""The host firewall (nftables) of every host, and the guard of the metadata service.

Security groups filter in the cloud; the hosts filter too (defence in depth, and the same rules where a provider's
security groups are weaker): one ``inet`` table, ``resilient_stack``, with

* ``input`` (policy drop): replies, the loopback, ICMP, DHCP, then per port only the sets: SSH from ``admin4``/
  ``admin6`` (``adminCidrs``); the node exporter from ``monitoring4``/``monitoring6`` (the monitoring hosts); on a web
  host HTTP/HTTPS from anywhere; on a database member PostgreSQL, etcd's peer and client ports and Patroni's REST API
  from ``members4``/``members6`` (the other members), PostgreSQL from ``app4``/``app6`` (the web hosts,
  ``database.appCidrs``) and ``replication4``/``replication6`` (``replicationCidrs``), the PostgreSQL exporter and
  etcd's metrics from the monitoring hosts; on a monitoring host Alertmanager's API and its cluster's gossip (TCP and
  UDP) from the other monitoring hosts, Prometheus's and Alertmanager's web interfaces from the admin networks, and
  DNS (TCP and UDP) from anyone (PowerDNS runs only while the host serves the stack's zone);
* ``output`` (policy accept): the metadata service (169.254.169.254, fe80::a9fe:a9fe) to root only (``meta
  skuid``): a local user or a service account (postgres, www-data...) cannot read the user data, which holds the
  secrets.

The sets' elements are the runtime configuration (:mod:`.runtime`, ``firewall``): the user data carries them for the
first boot (``/etc/resilient-stack/firewall-sets.nft``), and root's sync replaces them in place when the metadata
changes. Debian's ``nftables.service`` loads ``/etc/nftables.conf`` at every boot before the network is up; on the
first boot ``bootcmd`` installs the metadata guard before anything else cloud-init runs (when the image has nft). Pure.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Iterable, Mapping, Sequence

from resilient_stack.core.vocabulary import (
    ALERTMANAGER_CLUSTER_PORT,
    ALERTMANAGER_PORT,
    DNS_PORT,
    ETCD_CLIENT_PORT,
    ETCD_METRICS_PORT,
    ETCD_PEER_PORT,
    HTTP_PORT,
    HTTPS_PORT,
    NODE_EXPORTER_PORT,
    PATRONI_API_PORT,
    POSTGRES_EXPORTER_PORT,
    POSTGRES_PORT,
    PROMETHEUS_PORT,
    SSH_PORT,
)
from resilient_stack.hosts import payload
from resilient_stack.hosts.document import write_file

__all__ = [
    "TABLE",
    "CONF",
    "SETS_FILE",
    "METADATA_V4",
    "METADATA_V6",
    "web_sets",
    "db_sets",
    "monitoring_sets",
    "addresses",
    "ROLES",
    "sets_text",
    "files",
    "bootcmd_guard",
]

TABLE = "resilient_stack"
CONF = "/etc/nftables.conf"
SETS_FILE = "/etc/resilient-stack/firewall-sets.nft"
METADATA_V4 = "169.254.169.254"
METADATA_V6 = "fe80::a9fe:a9fe"
SETS = {
    "web": ("admin", "monitoring"),
    "db": ("admin", "members", "app", "replication", "monitoring"),
    "monitoring": ("admin", "monitoring"),
}
ROLES = tuple(SETS)  # the firewall's roles: a web host, a database member, a monitoring host


def addresses(values: Sequence[str], name: str) -> list[str]:
    """``values`` as addresses (the monitoring hosts'...); ValueError naming ``name`` on anything else."""
    if isinstance(values, (str, bytes)):
        raise ValueError(f"{name} must be a list of addresses, got {values!r}")
    out = []
    for v in values:
        try:
            out.append(str(ipaddress.ip_address(v)))
        except ValueError:
            raise ValueError(f"{name} must be a list of addresses, got {v!r}") from None
    return out


def _split(networks: Iterable[str]) -> tuple[list[str], list[str]]:
    nets = list(dict.fromkeys(str(ipaddress.ip_network(n, strict=False)) for n in networks))
    return (
        [n for n in nets if ipaddress.ip_network(n).version == 4],
        [n for n in nets if ipaddress.ip_network(n).version == 6],
    )


def _family_sets(named: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, networks in named.items():
        out[f"{name}4"], out[f"{name}6"] = _split(networks)
    return out


def web_sets(*, admin_cidrs: Sequence[str], monitoring: Sequence[str] = ()) -> dict[str, list[str]]:
    """The elements of a web host's sets (``monitoring``: the monitoring hosts' addresses)."""
    return _family_sets({"admin": admin_cidrs, **_monitoring(monitoring)})


def _monitoring(addresses: Sequence[str]) -> dict[str, Sequence[str]]:
    # a stack without monitoring hosts sends no such set: the runtime configuration of its hosts stays what it was
    # (a host made before the set existed would refuse it; docs/operations.md, "Monitoring")
    return {"monitoring": addresses} if addresses else {}


def db_sets(
    *,
    admin_cidrs: Sequence[str],
    members: Sequence[str],
    app_cidrs: Sequence[str],
    replication_cidrs: Sequence[str],
    monitoring: Sequence[str] = (),
) -> dict[str, list[str]]:
    """The elements of a database member's sets (``members``: the OTHER members' addresses)."""
    return _family_sets(
        {
            "admin": admin_cidrs,
            "members": members,
            "app": app_cidrs,
            "replication": replication_cidrs,
            **_monitoring(monitoring),
        }
    )


def monitoring_sets(*, admin_cidrs: Sequence[str], peers: Sequence[str]) -> dict[str, list[str]]:
    """The elements of a monitoring host's sets (``peers``: the OTHER monitoring hosts' addresses)."""
    return _family_sets({"admin": admin_cidrs, "monitoring": peers})


def sets_text(sets: Mapping[str, Sequence[str]]) -> str:
    """The nft commands that give the sets exactly these elements (the sync writes the same text)."""
    out = []
    for name, elements in sorted(sets.items()):
        out.append(f"flush set inet {TABLE} {name}")
        if elements:
            out.append("add element inet %s %s { %s }" % (TABLE, name, ", ".join(elements)))
    return "".join(line + "\n" for line in out)


def _ports(ports: Sequence[int]) -> str:
    return str(ports[0]) if len(ports) == 1 else "{ %s }" % ", ".join(str(p) for p in sorted(ports))


def _rules(role: str) -> list[str]:
    rules = [
        f'        tcp dport {SSH_PORT} ip saddr @admin4 accept comment "SSH from adminCidrs"',
        f'        tcp dport {SSH_PORT} ip6 saddr @admin6 accept comment "SSH from adminCidrs"',
    ]
    scraped = [NODE_EXPORTER_PORT] + ([POSTGRES_EXPORTER_PORT, ETCD_METRICS_PORT] if role == "db" else [])
    if role == "web":
        rules.append(f'        tcp dport {{ {HTTP_PORT}, {HTTPS_PORT} }} accept comment "HTTP(S) from anywhere"')
    elif role == "db":
        cluster = _ports((POSTGRES_PORT, ETCD_CLIENT_PORT, ETCD_PEER_PORT, PATRONI_API_PORT))
        for v, ip in (("4", "ip"), ("6", "ip6")):
            rules += [
                f'        tcp dport {cluster} {ip} saddr @members{v} accept comment "the other members"',
                f'        tcp dport {POSTGRES_PORT} {ip} saddr @app{v} accept comment "the web hosts, appCidrs"',
                f'        tcp dport {POSTGRES_PORT} {ip} saddr @replication{v} accept comment "replicationCidrs"',
            ]
    else:
        scraped += [PROMETHEUS_PORT, ALERTMANAGER_PORT]  # each Prometheus sends to every Alertmanager
        interfaces = _ports((PROMETHEUS_PORT, ALERTMANAGER_PORT))
        for v, ip in (("4", "ip"), ("6", "ip6")):
            rules += [
                f'        tcp dport {interfaces} {ip} saddr @admin{v} accept comment "web interfaces, adminCidrs"',
                f"        meta l4proto {{ tcp, udp }} th dport {ALERTMANAGER_CLUSTER_PORT} {ip} saddr @monitoring{v}"
                ' accept comment "the Alertmanagers cluster"',
            ]
        # the stack's zone, to anyone (PowerDNS listens only while the host serves a zone; the security group
        # opens the port only then)
        rules.append(f'        meta l4proto {{ tcp, udp }} th dport {DNS_PORT} accept comment "DNS: the stack zone"')
    for v, ip in (("4", "ip"), ("6", "ip6")):
        rules.append(
            f'        tcp dport {_ports(scraped)} {ip} saddr @monitoring{v} accept comment "the monitoring hosts"'
        )
    return rules


def _set_definitions(names: Sequence[str]) -> list[str]:
    out = []
    for name in names:
        for v, kind in (("4", "ipv4_addr"), ("6", "ipv6_addr")):
            out.append(f"    set {name}{v} {{ type {kind}; flags interval; }}")
    return out


def guard_rules() -> list[str]:
    """The output rules: the metadata service to root only."""
    return [f"ip daddr {METADATA_V4} meta skuid != 0 reject", f"ip6 daddr {METADATA_V6} meta skuid != 0 reject"]


def forward_guard_rules() -> list[str]:
    """The forward rules: the metadata service to no container (the user data holds the host's key)."""
    return [f"ip daddr {METADATA_V4} reject", f"ip6 daddr {METADATA_V6} reject"]


def files(role: str, sets: Mapping[str, Sequence[str]]) -> list[dict[str, Any]]:
    """``/etc/nftables.conf`` and the first boot's sets (``write_files`` entries, before the packages)."""
    names = SETS[role]
    conf = payload.render(
        "nftables/nftables.conf",
        table=TABLE,
        sets_file=SETS_FILE,
        sets=payload.Lines(_set_definitions(names)),
        rules=payload.Lines(_rules(role)),
        metadata_guard=payload.Lines("        " + r for r in guard_rules()),
        forward_guard=payload.Lines("        " + r for r in forward_guard_rules()),
    )
    return [write_file(CONF, conf, permissions="0644"), write_file(SETS_FILE, sets_text(sets), permissions="0600")]


def bootcmd_guard() -> list[Any]:
    """``bootcmd``: at every boot, before anything else cloud-init runs, the metadata service to root only
    (a table of its own; the full ruleset follows from nftables.service). Nothing when the image has no nft yet
    (the first boot of an image without nftables: the guard comes with the package, before any user logs in)."""
    rules = "".join(f"        {r}\n" for r in guard_rules())
    forward = "".join(f"        {r}\n" for r in forward_guard_rules())
    script = (
        "command -v nft >/dev/null 2>&1 || exit 0\nnft -f - <<'EOF'\n"
        "table inet rs_metadata_guard\ndelete table inet rs_metadata_guard\n"
        "table inet rs_metadata_guard {\n    chain output {\n"
        "        type filter hook output priority filter; policy accept;\n"
        f"{rules}    }}\n    chain forward {{\n"
        "        type filter hook forward priority filter; policy accept;\n"
        f"{forward}    }}\n}}\nEOF\n"
    )
    return [["sh", "-c", script]]
