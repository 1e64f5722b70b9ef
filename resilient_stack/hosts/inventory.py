"""Testinfra inventory from ``pulumi stack output --json``: which deployed host plays which role.

    pulumi stack output --json | resilient-stack inventory - [--user debian] [--format text|json|shell]

The stack exports ``placements.<name>.publicAddresses`` (web hosts), ``databaseAddresses``
(placement -> database host), ``monitoringAddresses`` (placement -> monitoring host, with monitoring) and
``databasePrimaryAddress`` (the member that initialised the cluster: after a
failover Patroni's leader is another one; ``resilient-stack-cluster list`` on any member says which). The result groups the hosts by the
roles of the shipped host checks (:mod:`resilient_stack.hosts.checks`) (``web``, ``db-primary``, ``db-replica``,
``monitoring``) as
``ssh://USER@ADDRESS`` targets, and (``--format shell``) the pytest commands that check them.
Pure: no Pulumi import, no network.
"""

from __future__ import annotations

import ipaddress
import json
import shlex
from typing import Any

from resilient_stack.core.vocabulary import (
    HOST_DB_PRIMARY,
    HOST_DB_REPLICA,
    HOST_MONITORING,
    HOST_ROLES,
    HOST_WEB,
)
from resilient_stack.io.errors import InputError

ROLES = HOST_ROLES


def _address(value: Any, source: str, where: str) -> str:
    if not isinstance(value, str):
        raise InputError(
            source, f"{where} is {type(value).__name__}, expected an address (a secret or unknown output?)"
        )
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise InputError(source, f"{where} is not an IP address: {value!r}") from None


def web_placements(placements: dict, source: str) -> list[tuple[str, str]]:
    """(placement, address) of every web host, from the ``placements`` output: placements by name, each one's
    addresses in its own order (what the operator's commands need to name a host by its placement)."""
    web: list[tuple[str, str]] = []
    for name, p in sorted(placements.items()):
        addrs = p.get("publicAddresses") if isinstance(p, dict) else None
        if not isinstance(addrs, list):
            raise InputError(source, f"placements.{name}.publicAddresses must be a list")
        web += [(name, _address(a, source, f"placements.{name}.publicAddresses[{i}]")) for i, a in enumerate(addrs)]
    return web


def inventory(outputs: Any, source: str) -> dict[str, list[str]]:
    """Role -> addresses, from the stack's outputs. Raises InputError naming what is missing."""
    if not isinstance(outputs, dict):
        raise InputError(source, "expected the JSON object printed by `pulumi stack output --json`")
    placements = outputs.get("placements")
    dbs = outputs.get("databaseAddresses")
    primary = outputs.get("databasePrimaryAddress")
    if not isinstance(placements, dict) or not isinstance(dbs, dict) or primary is None:
        raise InputError(
            source,
            "missing outputs: need placements, databaseAddresses and databasePrimaryAddress "
            "(is this a resilient-stack stack, after `pulumi up`?)",
        )
    web = [address for _, address in web_placements(placements, source)]
    prim = _address(primary, source, "databasePrimaryAddress")
    db = {n: _address(a, source, f"databaseAddresses.{n}") for n, a in sorted(dbs.items())}
    if prim not in db.values():
        raise InputError(source, f"databasePrimaryAddress {prim} is not among databaseAddresses")
    mon = outputs.get("monitoringAddresses", {})
    if not isinstance(mon, dict):
        raise InputError(source, "monitoringAddresses must map placements to addresses")
    return {
        HOST_WEB: web,
        HOST_DB_PRIMARY: [prim],
        HOST_DB_REPLICA: [a for a in db.values() if a != prim],
        HOST_MONITORING: [_address(a, source, f"monitoringAddresses.{n}") for n, a in sorted(mon.items())],
    }


def targets(addresses: list[str], user: str) -> str:
    return ",".join(f"ssh://{user}@{a if ':' not in a else '[' + a + ']'}" for a in addresses)


def render(inv: dict[str, list[str]], fmt: str, user: str) -> str:
    if fmt == "json":
        return json.dumps({r: [f"ssh://{user}@{a}" for a in inv[r]] for r in ROLES}, indent=2) + "\n"
    if fmt == "shell":
        lines = ["# checks every deployed host with the shipped host checks (pip install 'resilient-stack[checks]')"]
        replicas = len(inv[HOST_DB_REPLICA])
        extra = {
            HOST_DB_PRIMARY: f" --expect-replicas {replicas} --expect-backup",
            HOST_DB_REPLICA: " --expect-backup",
            HOST_WEB: " --expect-app",
            HOST_MONITORING: "",
        }
        for role in ROLES:
            if inv[role]:
                lines.append(
                    f"python -m resilient_stack.hosts.checks --hosts={shlex.quote(targets(inv[role], user))} --role {role}{extra[role]}"
                )
        return "\n".join(lines) + "\n"
    return "".join(f"{role}: {targets(inv[role], user) or '(none)'}\n" for role in ROLES)
