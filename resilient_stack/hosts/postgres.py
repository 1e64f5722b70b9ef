"""The PostgreSQL payloads of the database hosts, filled from already validated values.

Settings and ``pg_hba`` are the same on the primary and the replicas (a promoted replica is a complete
primary); the primary gets the role/database SQL and its runner, a replica the clone script, ``.pgpass`` and
the failover helper. Validation happens before, in :mod:`resilient_stack.hosts.database`. Pure: standard
library only.
"""

from __future__ import annotations

import shlex
from typing import Sequence

from resilient_stack.core.vocabulary import POSTGRES_PORT
from resilient_stack.hosts import payload
from resilient_stack.hosts.backup import BackupRepository
from resilient_stack.hosts.paths import (
    APP_PASSWORD_FILE,
    DB_INIT_SQL,
    PG_CLUSTER,
    PG_DATA,
    PG_SERVICE,
    PG_SOCKET_DIR,
    PG_VERSION,
    PGPASS_FILE,
    REPLICATION_PASSWORD_FILE,
    SNAKEOIL_CERT,
    SNAKEOIL_KEY,
)


def settings(*, backup: BackupRepository | None, max_wal_senders: int, wal_keep_size_mb: int) -> str:
    """``conf.d/50-resilient-stack.conf``: TLS, streaming replication, and WAL archiving with pgBackRest."""
    archive = (payload.lines("postgresql/archive-pgbackrest.conf", stanza=backup.stanza) if backup is not None
               else payload.lines("postgresql/archive-off.conf"))
    return payload.render(
        "postgresql/50-resilient-stack.conf", port=POSTGRES_PORT, ssl_cert=SNAKEOIL_CERT, ssl_key=SNAKEOIL_KEY,
        max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb, archive=archive,
    )


def hba(*, replication_user: str, app_user: str, app_db: str, allowed_cidrs: Sequence[str],
        app_cidrs: Sequence[str]) -> str:
    """The lines appended to ``pg_hba.conf``: replication from ``allowed_cidrs``, the app from ``app_cidrs``."""
    rules = [("replication", replication_user, cidr) for cidr in allowed_cidrs]
    rules += [(app_db, app_user, cidr) for cidr in app_cidrs]
    return payload.render("postgresql/pg_hba.conf", rules=payload.Lines(
        line for database, user, cidr in rules
        for line in payload.lines("postgresql/pg_hba-rule.conf", database=database, user=user, cidr=cidr)
    ))


def wait_local_pg() -> payload.Lines:
    """The shell function ``wait_local_pg`` (bounded wait for the local server), for the scripts."""
    return payload.lines("shell/wait-local-pg.sh", socket_dir=PG_SOCKET_DIR, port=POSTGRES_PORT)


def db_init_sql(*, replication_user: str, app_user: str, app_db: str) -> str:
    """Idempotent roles + database, run by psql as postgres on the primary."""
    # Passwords are read from root-provisioned 0600 files by psql's backquote expansion and interpolated
    # as properly quoted literals (:'var'); they never reach a command line.
    return payload.render(
        "postgresql/db-init.sql", replication_password_file=REPLICATION_PASSWORD_FILE,
        app_password_file=APP_PASSWORD_FILE, replication_user=replication_user, app_user=app_user, app_db=app_db,
    )


def db_init_script() -> str:
    return payload.render("shell/db-init.sh", wait_local_pg=wait_local_pg(), db_init_sql=DB_INIT_SQL)


def pgpass(*, replication_user: str, password: str) -> str:
    """``~postgres/.pgpass`` for replication (``:`` and ``\\`` escaped as libpq wants)."""
    return payload.render("postgresql/pgpass", user=replication_user,
                          password=password.replace("\\", "\\\\").replace(":", "\\:"))


def replica_init_script(*, primary_host: str, primary_port: int, replication_user: str, attempts: int,
                        interval: int) -> str:
    """Clone the primary (bounded wait) with ``pg_basebackup -R`` and start streaming."""
    q = shlex.quote
    conninfo = (
        f"host={primary_host} port={primary_port} user={replication_user} "
        f"sslmode=require passfile={PGPASS_FILE} connect_timeout=5"
    )
    return payload.render(
        "shell/replica-init.sh", primary_host=q(primary_host), attempts=attempts, interval=interval,
        data=q(PG_DATA), conninfo=q(conninfo), wait_local_pg=wait_local_pg(), pg_service=PG_SERVICE,
    )


def promote_script() -> str:
    """The failover helper (``resilient-stack-promote``): its header is the runbook."""
    return payload.render("shell/promote.sh", pg_version=PG_VERSION, pg_cluster=PG_CLUSTER)
