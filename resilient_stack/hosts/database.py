"""The database roles: PostgreSQL 15 from Debian (bookworm), a streaming-replication primary and its replicas.

* :func:`render_db_primary` -- ``wal_level=replica``, a replication role and an application database + role
  (SCRAM passwords), ``pg_hba`` entries (``hostssl``, Debian's snakeoil certificate) only for the given CIDRs,
  and optionally pgBackRest WAL archiving + scheduled backups to S3-compatible object storage.
* :func:`render_db_replica` -- the same packages, waits (bounded retries) for the primary, clones it with
  ``pg_basebackup -R`` and streams from it; ships ``/usr/local/sbin/resilient-stack-promote``, the failover
  helper a runbook or a drill calls to promote the replica.

:func:`validate_db_primary` and :func:`validate_db_replica` are the one check of each role's inputs, without
the secrets (the components call them before any password exists; the renderers call them too).

Secrets (database passwords, object-storage keys) only ever appear in ``write_files`` entries with mode
0600/0640 and a proper owner; the commands in ``runcmd`` and the helper scripts only reference those files.
Pure: standard library plus PyYAML.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from resilient_stack.core.vocabulary import HOST_DB_PRIMARY, HOST_DB_REPLICA, HOST_ROLE_FILE, POSTGRES_PORT
from resilient_stack.hosts import backup as backups
from resilient_stack.hosts import document, postgres
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.backup import BackupRepository, BackupTarget
from resilient_stack.hosts.paths import (
    APP_PASSWORD_FILE,
    BACKUP_INIT_SCRIPT,
    DB_INIT_SCRIPT,
    DB_INIT_SQL,
    PG_CONF,
    PG_HBA,
    PG_SERVICE,
    PG_VERSION,
    PGBACKREST_CONF,
    PGPASS_FILE,
    PROMOTE_HELPER,
    REPLICA_INIT_SCRIPT,
    REPLICATION_PASSWORD_FILE,
)

__all__ = ["render_db_primary", "render_db_replica", "validate_db_primary", "validate_db_replica"]

FULL_CALENDAR = "Sun *-*-* 02:00:00"
DIFF_CALENDAR = "Mon..Sat *-*-* 02:00:00"


class _Checked(NamedTuple):
    allowed_cidrs: list[str]
    app_cidrs: list[str]
    ssh_authorized_keys: list[str]


def _check_common(
    *,
    replication_user: Any,
    app_user: Any,
    app_db: Any,
    allowed_cidrs: Any,
    app_cidrs: Any,
    backup: Any,
    hostname: Any,
    ssh_authorized_keys: Any,
    max_wal_senders: Any,
    wal_keep_size_mb: Any,
    backup_full_calendar: Any,
    backup_diff_calendar: Any,
    credentials: bool,
) -> _Checked:
    """What primary and replicas share. ``credentials``: the backup must carry its S3 keys (rendering)."""
    check.sql_ident(replication_user, "replication_user")
    check.sql_ident(app_user, "app_user")
    check.sql_ident(app_db, "app_db")
    if replication_user == app_user:
        raise ValueError("replication_user and app_user must differ")
    cidrs = check.cidrs(allowed_cidrs, "allowed_cidrs")
    app_nets = cidrs if app_cidrs is None else check.cidrs(app_cidrs, "app_cidrs", allow_empty=True)
    if credentials and backup is not None and not isinstance(backup, BackupTarget):
        raise ValueError(f"backup must be a BackupTarget or None, got {type(backup).__name__}")
    if backup is not None and not isinstance(backup, (BackupTarget, BackupRepository)):
        raise ValueError(f"backup must be a BackupRepository, a BackupTarget or None, got {type(backup).__name__}")
    check.hostname(hostname)
    keys = check.ssh_keys(ssh_authorized_keys)
    check.integer(max_wal_senders, "max_wal_senders", 2, 100)
    check.integer(wal_keep_size_mb, "wal_keep_size_mb", 0, 1_000_000)
    check.calendar(backup_full_calendar, "backup_full_calendar")
    check.calendar(backup_diff_calendar, "backup_diff_calendar")
    return _Checked(cidrs, app_nets, keys)


def _check_replica(*, primary_host: Any, primary_port: Any, wait_attempts: Any, wait_interval_s: Any) -> None:
    if primary_host is not None:
        if not isinstance(primary_host, str) or not primary_host.strip():
            raise ValueError("primary_host must be a non-empty host name or IP address of the primary")
        check.host(primary_host, "primary_host")
    check.integer(primary_port, "primary_port", 1, 65535)
    check.integer(wait_attempts, "wait_attempts", 1, 10_000)
    check.integer(wait_interval_s, "wait_interval_s", 1, 600)


def validate_db_primary(
    *,
    allowed_cidrs: Sequence[str],
    backup: BackupRepository | BackupTarget | None,
    app_cidrs: Sequence[str] | None = None,
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = FULL_CALENDAR,
    backup_diff_calendar: str = DIFF_CALENDAR,
) -> None:
    """Refuse (``ValueError`` naming the value) what the primary could not be given; no secret needed.

    The arguments are those of :func:`render_db_primary` without the passwords; ``backup`` may be the
    :class:`~resilient_stack.hosts.backup.BackupRepository` (no credentials yet).
    """
    _check_common(
        replication_user=replication_user, app_user=app_user, app_db=app_db, allowed_cidrs=allowed_cidrs,
        app_cidrs=app_cidrs, backup=backup, hostname=hostname, ssh_authorized_keys=ssh_authorized_keys,
        max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar, credentials=False,
    )


def validate_db_replica(
    *,
    allowed_cidrs: Sequence[str],
    backup: BackupRepository | BackupTarget | None,
    primary_host: str | None = None,
    primary_port: int = POSTGRES_PORT,
    app_cidrs: Sequence[str] | None = None,
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    wait_attempts: int = 60,
    wait_interval_s: int = 5,
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = FULL_CALENDAR,
    backup_diff_calendar: str = DIFF_CALENDAR,
) -> None:
    """Refuse what a replica could not be given; no secret needed.

    The arguments are those of :func:`render_db_replica` without the password; ``primary_host=None``: not
    known yet (the components learn the primary's address when it exists); :func:`render_db_replica`
    requires it.
    """
    _check_replica(primary_host=primary_host, primary_port=primary_port, wait_attempts=wait_attempts,
                   wait_interval_s=wait_interval_s)
    _check_common(
        replication_user=replication_user, app_user=app_user, app_db=app_db, allowed_cidrs=allowed_cidrs,
        app_cidrs=app_cidrs, backup=backup, hostname=hostname, ssh_authorized_keys=ssh_authorized_keys,
        max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar, credentials=False,
    )


def _db_document(
    *,
    role: str,
    checked: _Checked,
    replication_user: str,
    app_user: str,
    app_db: str,
    backup: BackupTarget | None,
    hostname: str | None,
    package_update: bool,
    package_upgrade: bool,
    max_wal_senders: int,
    wal_keep_size_mb: int,
    backup_full_calendar: str,
    backup_diff_calendar: str,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    """The document, files and commands primary and replicas share (a promoted replica is a full primary)."""
    packages = [f"postgresql-{PG_VERSION}", "ssl-cert"] + (["pgbackrest"] if backup is not None else [])
    doc = document.base(
        packages=packages,
        hostname=hostname,
        ssh_authorized_keys=checked.ssh_authorized_keys,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    repository = backup.repository if backup is not None else None
    files = [
        document.ssh_hardening(),
        document.write_file(
            PG_CONF,
            postgres.settings(backup=repository, max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb),
            owner="postgres:postgres", defer=True),
        document.write_file(
            PG_HBA,
            postgres.hba(replication_user=replication_user, app_user=app_user, app_db=app_db,
                         allowed_cidrs=checked.allowed_cidrs, app_cidrs=checked.app_cidrs),
            owner="postgres:postgres", permissions="0640", append=True, defer=True),
        document.write_file(HOST_ROLE_FILE, role + "\n"),
    ]
    runcmd: list[Any] = document.ssh_runcmd()
    if backup is not None:
        files.append(document.write_file(PGBACKREST_CONF, backups.pgbackrest_conf(backup, process_max=2),
                                         owner="postgres:postgres", permissions="0640", defer=True))
        files += backups.schedule_files(backup, full_calendar=backup_full_calendar, diff_calendar=backup_diff_calendar)
    return doc, files, runcmd


def _enable_timers() -> list[Any]:
    return [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", *backups.timers()]]


def render_db_primary(
    *,
    replication_password: str,
    app_password: str,
    allowed_cidrs: Sequence[str],
    backup: BackupTarget | None,
    app_cidrs: Sequence[str] | None = None,
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = FULL_CALENDAR,
    backup_diff_calendar: str = DIFF_CALENDAR,
) -> str:
    """Render the user-data of the PostgreSQL 15 primary.

    Installs ``postgresql-15`` (and ``pgbackrest`` when ``backup`` is given) from Debian, sets
    ``wal_level=replica``, listens on all addresses with TLS (Debian's snakeoil certificate), appends
    ``hostssl`` + ``scram-sha-256`` entries to ``pg_hba.conf`` -- replication only from ``allowed_cidrs``,
    the application database only from ``app_cidrs`` (default: ``allowed_cidrs``) -- and creates the
    replication role, the application role and its database (idempotent SQL, passwords read from 0600
    files owned by postgres). With a backup target: ``archive_mode=on``, ``archive_command`` pushing WAL with
    pgBackRest, the stanza created and checked at first boot, a first full backup started, and systemd
    timers for weekly full / daily differential backups (they run only on the current primary).

    Args:
        replication_password: password of ``replication_user`` (>= 12 characters, single line).
        app_password: password of ``app_user`` (>= 12 characters, single line).
        allowed_cidrs: networks the replicas connect from, e.g. ``["10.1.0.0/24"]``; ``/0`` is refused.
        backup: object-storage repository for pgBackRest, or ``None`` for no backups.
        app_cidrs: networks the application connects from (default ``allowed_cidrs``; ``[]`` = none).
        replication_user, app_user, app_db: lower-case SQL identifiers.
        hostname: optional host name to set.
        ssh_authorized_keys: public keys for the image's default user.
        package_update, package_upgrade: apt behaviour at first boot.
        max_wal_senders, wal_keep_size_mb: replication tuning.
        backup_full_calendar, backup_diff_calendar: systemd ``OnCalendar`` of the backup timers.

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on a short or multi-line password, an invalid or world-open CIDR, a bad identifier, ...
    """
    check.password(app_password, "app_password")
    if app_password == replication_password:
        raise ValueError("app_password and replication_password must differ")
    check.password(replication_password, "replication_password")
    checked = _check_common(
        replication_user=replication_user, app_user=app_user, app_db=app_db, allowed_cidrs=allowed_cidrs,
        app_cidrs=app_cidrs, backup=backup, hostname=hostname, ssh_authorized_keys=ssh_authorized_keys,
        max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar, credentials=True,
    )
    doc, files, runcmd = _db_document(
        role=HOST_DB_PRIMARY, checked=checked, replication_user=replication_user, app_user=app_user,
        app_db=app_db, backup=backup, hostname=hostname, package_update=package_update,
        package_upgrade=package_upgrade, max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar,
    )
    files += [
        document.write_file(REPLICATION_PASSWORD_FILE, replication_password, owner="postgres:postgres",
                            permissions="0600", defer=True),
        document.write_file(APP_PASSWORD_FILE, app_password, owner="postgres:postgres", permissions="0600", defer=True),
        document.write_file(DB_INIT_SQL, postgres.db_init_sql(replication_user=replication_user, app_user=app_user,
                                                              app_db=app_db)),
        document.write_file(DB_INIT_SCRIPT, postgres.db_init_script(), permissions="0755"),
    ]
    if backup is not None:
        files.append(backups.init_file(backup, postgres.wait_local_pg()))
    runcmd += [
        ["systemctl", "enable", "postgresql"],
        ["systemctl", "restart", PG_SERVICE],
        [DB_INIT_SCRIPT],
    ]
    if backup is not None:
        runcmd += [*_enable_timers(), [BACKUP_INIT_SCRIPT]]
    doc["write_files"] = files
    doc["runcmd"] = runcmd
    return document.dump(doc)


def render_db_replica(
    *,
    primary_host: str,
    replication_password: str,
    allowed_cidrs: Sequence[str],
    backup: BackupTarget | None,
    primary_port: int = POSTGRES_PORT,
    app_cidrs: Sequence[str] | None = None,
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    wait_attempts: int = 60,
    wait_interval_s: int = 5,
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = FULL_CALENDAR,
    backup_diff_calendar: str = DIFF_CALENDAR,
) -> str:
    """Render the user-data of a PostgreSQL 15 streaming replica.

    Installs the same packages and configuration as the primary (so that a promoted replica is a
    complete primary: same ``pg_hba`` entries, archiving and backup timers), then waits for the primary
    -- at most ``wait_attempts`` x ``wait_interval_s`` seconds -- clones it with
    ``pg_basebackup -R -X stream`` over TLS and starts streaming (``application_name`` = short host name).
    The replication password is written only to ``~postgres/.pgpass`` (0600, postgres). Ships the failover
    helper ``/usr/local/sbin/resilient-stack-promote`` (see its header for the runbook).

    Args:
        primary_host: the primary's address or DNS name: the only way the primary's address reaches
            the replica (components pass the real address, a test harness a container name).
        replication_password: password of ``replication_user`` on the primary.
        allowed_cidrs: networks allowed to replicate from this node once promoted (``/0`` is refused).
        backup: the same object-storage repository as the primary's, or ``None``.
        primary_port: the primary's PostgreSQL port.
        app_cidrs: networks the application connects from once promoted (default ``allowed_cidrs``).
        replication_user, app_user, app_db: lower-case SQL identifiers, as on the primary.
        wait_attempts, wait_interval_s: bounded wait for the primary.
        hostname, ssh_authorized_keys, package_update, package_upgrade, max_wal_senders, wal_keep_size_mb,
        backup_full_calendar, backup_diff_calendar: as for :func:`render_db_primary`.

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on an empty or malformed ``primary_host``, a bad port, password, CIDR, identifier, ...
    """
    if primary_host is None:
        raise ValueError("primary_host must be a non-empty host name or IP address of the primary")
    _check_replica(primary_host=primary_host, primary_port=primary_port, wait_attempts=wait_attempts,
                   wait_interval_s=wait_interval_s)
    check.password(replication_password, "replication_password")
    checked = _check_common(
        replication_user=replication_user, app_user=app_user, app_db=app_db, allowed_cidrs=allowed_cidrs,
        app_cidrs=app_cidrs, backup=backup, hostname=hostname, ssh_authorized_keys=ssh_authorized_keys,
        max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar, credentials=True,
    )
    doc, files, runcmd = _db_document(
        role=HOST_DB_REPLICA, checked=checked, replication_user=replication_user, app_user=app_user,
        app_db=app_db, backup=backup, hostname=hostname, package_update=package_update,
        package_upgrade=package_upgrade, max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar,
    )
    files += [
        document.write_file(PGPASS_FILE, postgres.pgpass(replication_user=replication_user, password=replication_password),
                            owner="postgres:postgres", permissions="0600", defer=True),
        document.write_file(REPLICA_INIT_SCRIPT, postgres.replica_init_script(
            primary_host=primary_host, primary_port=primary_port, replication_user=replication_user,
            attempts=wait_attempts, interval=wait_interval_s), permissions="0755"),
        document.write_file(PROMOTE_HELPER, postgres.promote_script(), permissions="0755"),
    ]
    runcmd += [
        ["systemctl", "enable", "postgresql"],
        [REPLICA_INIT_SCRIPT],
    ]
    if backup is not None:
        runcmd += _enable_timers()
    doc["write_files"] = files
    doc["runcmd"] = runcmd
    return document.dump(doc)
