"""Render the ``#cloud-config`` user-data that resilient_stack puts on its instances: the hosts' public API.

Pure (standard library plus PyYAML's ``safe_dump``, no Pulumi import), so the Pulumi components, the podman
test harness and any drill render *exactly* the same text. Three roles, each with one validation entry point
(no secret needed) that the stack configuration and the components call before anything exists:

* web: :func:`render_web` / :func:`validate_web` (:mod:`.web`) -- nginx from Debian's packages serving an
  index page that names the placement and a ``/healthz`` endpoint answering ``200 ok``.
* db-primary: :func:`render_db_primary` / :func:`validate_db_primary` (:mod:`.database`) -- PostgreSQL 15 as a
  streaming-replication primary, optionally archiving WAL and taking backups with pgBackRest
  (:class:`BackupTarget`, :mod:`.backup`) to S3-compatible object storage.
* db-replica: :func:`render_db_replica` / :func:`validate_db_replica` -- clones the primary and streams from
  it; ships the failover helper :data:`PROMOTE_HELPER`.

Every role also hardens sshd (no password authentication, no root login). The files the hosts receive
(scripts, SQL, nginx, PostgreSQL, pgBackRest, systemd units) are package data under ``hosts/payloads/``,
filled by :mod:`.payload`'s strict template; the paths they land at are in :mod:`.paths`.

Secrets (database passwords, object-storage keys) only ever appear in ``write_files`` entries with mode
0600/0640 and a proper owner; the commands in ``runcmd`` and the helper scripts only reference those files.
Note that the user-data itself necessarily carries them: the cloud's metadata service and
``/var/lib/cloud/instance/user-data.txt`` (root-only) hold it, as for any cloud-init secret.

Output is deterministic: the same inputs give the same text. A change of that text replaces the instances
that receive it: ``tests/hosts/test_snapshots.py`` keeps the user data of every host of the shipped stacks.
"""

from __future__ import annotations

from resilient_stack.hosts.backup import BackupRepository, BackupTarget, validate_backup_repository
from resilient_stack.hosts.database import (
    render_db_primary,
    render_db_replica,
    validate_db_primary,
    validate_db_replica,
)
from resilient_stack.hosts.paths import (
    APP_PASSWORD_FILE,
    BACKUP_INIT_SCRIPT,
    BACKUP_SCRIPT,
    DB_INIT_SCRIPT,
    DB_INIT_SQL,
    NGINX_SITE,
    PG_CLUSTER,
    PG_DATA,
    PG_ETC,
    PG_SERVICE,
    PG_VERSION,
    PGBACKREST_CONF,
    PGPASS_FILE,
    PROMOTE_HELPER,
    REPLICA_INIT_SCRIPT,
    REPLICATION_PASSWORD_FILE,
    SECRETS_DIR,
    SSHD_DROPIN,
    WEB_ROOT,
)
from resilient_stack.hosts.web import render_web, validate_web

__all__ = [
    "BackupRepository",
    "BackupTarget",
    "PG_VERSION",
    "PG_CLUSTER",
    "PROMOTE_HELPER",
    "SECRETS_DIR",
    "render_web",
    "render_db_primary",
    "render_db_replica",
    "validate_web",
    "validate_db_primary",
    "validate_db_replica",
    "validate_backup_repository",
    # where the payloads land (resilient_stack.hosts.paths)
    "APP_PASSWORD_FILE",
    "BACKUP_INIT_SCRIPT",
    "BACKUP_SCRIPT",
    "DB_INIT_SCRIPT",
    "DB_INIT_SQL",
    "NGINX_SITE",
    "PG_DATA",
    "PG_ETC",
    "PG_SERVICE",
    "PGBACKREST_CONF",
    "PGPASS_FILE",
    "REPLICA_INIT_SCRIPT",
    "REPLICATION_PASSWORD_FILE",
    "SSHD_DROPIN",
    "WEB_ROOT",
]
