"""What every host gets besides its role: the host firewall and the metadata guard (:mod:`.firewall`), Debian's
security updates (:mod:`.upgrades`), root's sync of the runtime configuration (:mod:`.runtime`), and the exporters
the monitoring hosts scrape (:mod:`.exporters`).

:func:`harden` adds them to a role's document: ``bootcmd`` (the metadata guard, at every boot before anything else
cloud-init runs), the packages, the files (written before the packages are installed: nftables' unit and apt find
them), the firewall loaded first in ``runcmd``, the sync timer and the exporters last. ``role``: ``web``, ``db`` or
``monitoring`` (:data:`.firewall.ROLES`). Pure.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from resilient_stack.hosts import exporters, firewall, runtime, upgrades
from resilient_stack.hosts.paths import SYNC_SERVICE

__all__ = ["PACKAGES", "harden", "first_runcmd", "last_runcmd"]

PACKAGES = ["nftables", *upgrades.PACKAGES]


def harden(
    doc: dict[str, Any],
    *,
    role: str,
    sets: Mapping[str, Sequence[str]],
    patroni_conf: str = "",
    acme_peers_conf: str = "",
    pgbackrest_secrets: str = "",
    app_credentials: str = "",
    site: bool = False,
) -> list[dict[str, Any]]:
    """Add the guard and the packages to ``doc``; return the files to write (the caller orders ``write_files``)."""
    if role not in firewall.ROLES:
        raise ValueError(f"a host's role is one of {', '.join(firewall.ROLES)}, got {role!r}")
    database = role == "db"
    doc["bootcmd"] = firewall.bootcmd_guard()
    wanted = [*PACKAGES, *exporters.packages(database=database)]
    doc["packages"] = [*doc["packages"], *[p for p in wanted if p not in doc["packages"]]]
    return [
        *firewall.files(role, sets),
        *upgrades.files(database=database),
        *exporters.files(database=database),
        *runtime.sync_files(
            role=role,
            patroni_conf=patroni_conf,
            firewall_table=firewall.TABLE,
            firewall_sets_file=firewall.SETS_FILE,
            acme_peers_conf=acme_peers_conf,
            pgbackrest_secrets=pgbackrest_secrets,
            app_credentials=app_credentials,
            site=site,
        ),
    ]


def first_runcmd() -> list[Any]:
    """The firewall, before any service of the role starts listening (nftables.service loads it at every boot)."""
    return [["systemctl", "enable", "nftables"], ["systemctl", "restart", "nftables"]]


def last_runcmd(*, database: bool = False) -> list[Any]:
    """root's sync timer, then the exporters (``database``: a database member's too)."""
    return [["systemctl", "enable", "--now", f"{SYNC_SERVICE}.timer"], *exporters.runcmd(database=database)]
