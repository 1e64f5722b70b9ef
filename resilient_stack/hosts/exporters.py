"""What every host exposes to the stack's monitoring hosts (:mod:`.monitoring`): Debian's Prometheus exporters.

* every host: ``prometheus-node-exporter`` (CPU, memory, disks, the clock, and the text files other parts of the
  stack write in :data:`TEXTFILE_DIR`), on :data:`NODE_EXPORTER_PORT`;
* a database member also: ``prometheus-postgres-exporter`` as ``postgres`` over the local socket (no password), with
  the stack's queries (``rs_member_*``: primary or replica, streaming, replay lag; ``rs_standby_*``: each standby's
  lag as the primary sees it; ``rs_archiver_*``: the WAL archive's age), on :data:`POSTGRES_EXPORTER_PORT`; and
  etcd's own metrics (:data:`ETCD_METRICS_PORT`, see ``etcd/etcd.env``).

The host firewall admits these ports from the monitoring hosts' addresses only (the ``monitoring`` sets of
:mod:`.firewall`, runtime configuration: a monitoring host added or replaced changes no user data), and so do the
security groups. Pure.
"""

from __future__ import annotations

from typing import Any

from resilient_stack.core.vocabulary import NODE_EXPORTER_PORT, POSTGRES_EXPORTER_PORT
from resilient_stack.hosts import payload
from resilient_stack.hosts.document import write_file
from resilient_stack.hosts.paths import PG_SOCKET_DIR, SYSTEMD_DIR

__all__ = [
    "NODE_PACKAGES",
    "DB_PACKAGES",
    "TEXTFILE_DIR",
    "NODE_SERVICE",
    "POSTGRES_SERVICE",
    "POSTGRES_QUERIES",
    "packages",
    "files",
    "runcmd",
]

NODE_PACKAGES = ["prometheus-node-exporter"]
DB_PACKAGES = ["prometheus-postgres-exporter"]
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"  # Debian's node exporter reads *.prom files there
NODE_SERVICE = "prometheus-node-exporter"
NODE_DEFAULTS = "/etc/default/prometheus-node-exporter"
POSTGRES_SERVICE = "prometheus-postgres-exporter"
POSTGRES_DEFAULTS = "/etc/default/prometheus-postgres-exporter"
POSTGRES_QUERIES = "/etc/prometheus/resilient-stack-postgres-queries.yaml"
POSTGRES_DROPIN = f"{SYSTEMD_DIR}/{POSTGRES_SERVICE}.service.d/resilient-stack.conf"


def packages(*, database: bool) -> list[str]:
    return NODE_PACKAGES + (DB_PACKAGES if database else [])


def files(*, database: bool) -> list[dict[str, Any]]:
    """The exporters' settings (``write_files`` entries, before the packages: apt keeps them, as they are ours)."""
    out = [
        write_file(
            NODE_DEFAULTS,
            "# Managed by resilient_stack (cloud-init): Debian's node exporter; the host firewall admits the"
            " monitoring hosts only.\n"
            f'ARGS="--web.listen-address=:{NODE_EXPORTER_PORT} --collector.textfile.directory={TEXTFILE_DIR}"\n',
        )
    ]
    if database:
        out += [
            write_file(
                POSTGRES_DEFAULTS,
                payload.render(
                    "monitoring/postgres-exporter.env",
                    socket_dir=PG_SOCKET_DIR,
                    port=POSTGRES_EXPORTER_PORT,
                    queries=POSTGRES_QUERIES,
                ),
            ),
            write_file(POSTGRES_QUERIES, payload.render("monitoring/queries.yaml")),
            write_file(POSTGRES_DROPIN, payload.render("monitoring/postgres-exporter.conf")),
        ]
    return out


def runcmd(*, database: bool) -> list[Any]:
    """Started with the settings above (a package's first start used its defaults; the image may have them off)."""
    services = [NODE_SERVICE] + ([POSTGRES_SERVICE] if database else [])
    return [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", *services],
        ["systemctl", "restart", *services],
    ]
