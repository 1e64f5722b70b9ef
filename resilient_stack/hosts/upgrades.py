"""Debian's security updates on every host, by ``unattended-upgrades``.

Every host installs ``unattended-upgrades`` and turns it on (``20auto-upgrades``): every day, ``apt-daily-upgrade``
installs the updates of Debian's security archive, and nothing else (``52resilient-stack-upgrades``). No automatic
reboot. On a database member the cluster's own packages are held back (``Package-Blacklist``): upgrading them
restarts PostgreSQL, Patroni or etcd, which is a cluster operation (a restart of the primary is a failover), done one
member at a time by an operator (docs/operations.md, "Security updates"). Pure.
"""

from __future__ import annotations

from typing import Any

from resilient_stack.hosts import payload
from resilient_stack.hosts.document import write_file

__all__ = ["PACKAGES", "HELD_ON_DATABASE", "AUTO", "POLICY", "files"]

PACKAGES = ["unattended-upgrades"]
AUTO = "/etc/apt/apt.conf.d/20auto-upgrades"
POLICY = "/etc/apt/apt.conf.d/52resilient-stack-upgrades"
# regular expressions of package names (unattended-upgrades matches them from the start of the name)
HELD_ON_DATABASE = ("postgresql-", "libpq5", "patroni", "etcd-", "pgbackrest")


def files(*, database: bool) -> list[dict[str, Any]]:
    """The two apt configuration files (``write_files`` entries)."""
    blacklist = payload.Lines(
        ["Unattended-Upgrade::Package-Blacklist {", *[f'        "{p}";' for p in HELD_ON_DATABASE], "};"]
        if database
        else []
    )
    return [
        write_file(AUTO, payload.render("apt/20auto-upgrades")),
        write_file(POLICY, payload.render("apt/52resilient-stack-upgrades", blacklist=blacklist)),
    ]
