"""The database role: PostgreSQL 15 from Debian (bookworm), one member of a Patroni cluster over etcd.

Every database host gets the same kind of user data (:func:`render_db_member`): PostgreSQL, Patroni and one
etcd voting member from Debian's packages, configured from the public addresses of every member (the
components allocate them before any instance exists, :mod:`resilient_stack.hosts.cluster`). One member, the
stack's ``databaseRole: primary``, initialises the cluster (``bootstrap=True``); the others wait for it and
clone it. From then on the roles are Patroni's: it promotes the most advanced replica when the primary is
lost, and a former primary rejoins as a replica with ``pg_rewind``. ``/usr/local/sbin/resilient-stack-cluster``
shows the cluster (``list``) and this host's role (``role``).

With a backup target, pgBackRest archives WAL (asynchronously, with a bounded queue) and takes the scheduled
backups on whichever member is the primary; a catch-up timer (never cloud-init, so a host whose repository cannot
be reached still finishes its boot) creates the stanza and the first full backup when the repository is there.

:func:`validate_db_member` is the one check of the role's inputs, without the secrets or the addresses (the
components call it before either exists; the renderer calls it too).

Secrets (database passwords, Patroni's REST password, object-storage keys) only ever appear in ``write_files``
entries with mode 0600/0640 and a proper owner; the commands in ``runcmd`` and the scripts only reference
those files. Pure: standard library plus PyYAML.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from typing import Any, NamedTuple, Sequence

from resilient_stack.core.vocabulary import HOST_DB_PRIMARY, HOST_DB_REPLICA, HOST_ROLE_FILE
from resilient_stack.hosts import backup as backups
from resilient_stack.hosts import cluster, document, firewall, hardening, payload, postgres, runtime
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.backup import BackupRepository, BackupTarget
from resilient_stack.hosts.cluster import REWIND_USER, ClusterMember
from resilient_stack.hosts.paths import (
    APP_PASSWORD_FILE,
    CLUSTER_HELPER,
    DATA_MOUNT,
    DATA_VOLUME_LABEL,
    DATA_VOLUME_SCRIPT,
    DB_INIT_SCRIPT,
    DB_INIT_SQL,
    DB_START_SCRIPT,
    ETCD_DATA,
    ETCD_ENV,
    ETCD_SERVICE,
    PATRONI_CONF,
    PATRONI_SERVICE,
    PG_VERSION,
    PGBACKREST_CONF,
    SYNC_SCRIPT,
    SYSTEMD_DROPIN,
)

__all__ = ["ClusterMember", "render_db_member", "validate_db_member", "db_runtime"]

FULL_CALENDAR = "Sun *-*-* 02:00:00"
DIFF_CALENDAR = "Mon..Sat *-*-* 02:00:00"
WAIT_VOLUME_S = 600  # the volume is attached once the instance exists: the first boot waits for it (bounded)
VOLUME_ID = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{19,63}")  # an OpenStack volume id (a UUID)
# How the member that initialises a NEW cluster makes it: initdb (an empty database), or a restore of the backup
# repository's newest backup plus its archived WAL (the restore path after every member was lost)
BOOTSTRAP_FROM = ("empty", "backup")
PACKAGES = [f"postgresql-{PG_VERSION}", "ssl-cert", "patroni", "etcd-server", "etcd-client", "python3-psycopg2"]


class _Checked(NamedTuple):
    members: list[ClusterMember]
    me: ClusterMember
    app_cidrs: list[str]
    replication_cidrs: list[str]
    ssh_authorized_keys: list[str]
    admin_cidrs: list[str]


def _members(members: Any, name: str, *, addresses: bool) -> tuple[list[ClusterMember], ClusterMember]:
    """Every member once, this host among them; ``addresses``: each has its public address (rendering)."""
    if isinstance(members, (str, bytes)) or not isinstance(members, (list, tuple)) or not members:
        raise ValueError("members must list every database host of the cluster (ClusterMember), this one included")
    out: list[ClusterMember] = []
    for m in members:
        if not isinstance(m, ClusterMember):
            raise ValueError(f"members: {m!r} is not a ClusterMember")
        check.hostname(m.name)
        if m.address is None:
            if addresses:
                raise ValueError(f"members: {m.name} has no address")
        else:
            try:
                address = ipaddress.ip_address(m.address)
            except (TypeError, ValueError):
                raise ValueError(f"members: the address of {m.name} is not an IP address: {m.address!r}") from None
            if address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local:
                raise ValueError(f"members: {m.name} has an address other hosts cannot reach: {m.address}")
        out.append(m)
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ValueError(f"members: a host name appears twice: {names}")
    known = [m.address for m in out if m.address is not None]
    if len(set(known)) != len(known):
        raise ValueError(f"members: an address appears twice: {known}")
    me = next((m for m in out if m.name == name), None)
    if me is None:
        raise ValueError(f"members: this host {name!r} is not among them ({', '.join(names)})")
    return out, me


def _check(
    *, name: Any, members: Any, scope: Any, replication_user: Any, app_user: Any, app_db: Any, app_cidrs: Any,
    replication_cidrs: Any, backup: Any, ssh_authorized_keys: Any, max_wal_senders: Any, wal_keep_size_mb: Any,
    backup_full_calendar: Any, backup_diff_calendar: Any, bootstrap: Any, data_volume_id: Any, admin_cidrs: Any,
    rendering: bool, bootstrap_from: Any = "empty",
) -> _Checked:
    if not isinstance(name, str) or check.hostname(name) is None:
        raise ValueError("name must be this host's name (a DNS label)")
    if not isinstance(scope, str) or check.hostname(scope) is None or scope != scope.lower():
        raise ValueError(f"scope must be a lower-case DNS label (the cluster's name), got {scope!r}")
    if not isinstance(bootstrap, bool):
        raise ValueError("bootstrap must be a bool")
    if (rendering or data_volume_id is not None) and not (
            isinstance(data_volume_id, str) and VOLUME_ID.fullmatch(data_volume_id)):
        raise ValueError(f"data_volume_id must be the id of the host's data volume, got {data_volume_id!r}")
    if bootstrap_from not in BOOTSTRAP_FROM:
        raise ValueError(f"bootstrap_from must be one of {', '.join(BOOTSTRAP_FROM)}, got {bootstrap_from!r}")
    if bootstrap_from == "backup" and backup is None:
        raise ValueError("bootstrap_from='backup' restores from the backup repository: it needs a backup")
    all_members, me = _members(members, name, addresses=rendering)
    check.sql_ident(replication_user, "replication_user")
    check.sql_ident(app_user, "app_user")
    check.sql_ident(app_db, "app_db")
    if len({replication_user, app_user, REWIND_USER}) != 3:
        raise ValueError(f"replication_user and app_user must differ from each other and from {REWIND_USER}")
    apps = check.cidrs(app_cidrs, "app_cidrs", allow_empty=True)
    admins = check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True)
    replication = check.cidrs(replication_cidrs, "replication_cidrs", allow_empty=True)
    if rendering and backup is not None and not isinstance(backup, BackupTarget):
        raise ValueError(f"backup must be a BackupTarget or None, got {type(backup).__name__}")
    if backup is not None and not isinstance(backup, (BackupTarget, BackupRepository)):
        raise ValueError(f"backup must be a BackupRepository, a BackupTarget or None, got {type(backup).__name__}")
    keys = check.ssh_keys(ssh_authorized_keys)
    check.integer(max_wal_senders, "max_wal_senders", 2, 100)
    check.integer(wal_keep_size_mb, "wal_keep_size_mb", 0, 1_000_000)
    check.calendar(backup_full_calendar, "backup_full_calendar")
    check.calendar(backup_diff_calendar, "backup_diff_calendar")
    return _Checked(all_members, me, apps, replication, keys, admins)


def validate_db_member(
    *,
    name: str,
    members: Sequence[ClusterMember],
    bootstrap: bool,
    scope: str,
    backup: BackupRepository | BackupTarget | None,
    app_cidrs: Sequence[str] = (),
    replication_cidrs: Sequence[str] = (),
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    ssh_authorized_keys: Sequence[str] = (),
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = FULL_CALENDAR,
    backup_diff_calendar: str = DIFF_CALENDAR,
    data_volume_id: str | None = None,
    admin_cidrs: Sequence[str] = (),
    bootstrap_from: str = "empty",
) -> None:
    """Refuse (``ValueError`` naming the value) what a member could not be given; no secret needed.

    The arguments are those of :func:`render_db_member` without the passwords; a member's ``address`` may be
    None (not allocated yet), ``backup`` the :class:`~resilient_stack.hosts.backup.BackupRepository`
    (no credentials yet), and ``data_volume_id`` None (the volume does not exist yet).
    """
    _check(name=name, members=members, scope=scope, replication_user=replication_user, app_user=app_user,
           app_db=app_db, app_cidrs=app_cidrs, replication_cidrs=replication_cidrs, backup=backup,
           ssh_authorized_keys=ssh_authorized_keys, max_wal_senders=max_wal_senders,
           wal_keep_size_mb=wal_keep_size_mb, backup_full_calendar=backup_full_calendar,
           backup_diff_calendar=backup_diff_calendar, bootstrap=bootstrap, data_volume_id=data_volume_id,
           admin_cidrs=admin_cidrs, rendering=False, bootstrap_from=bootstrap_from)


def render_db_member(
    *,
    name: str,
    members: Sequence[ClusterMember],
    bootstrap: bool,
    scope: str,
    replication_password: str,
    rewind_password: str,
    api_password: str,
    app_password: str | None,
    backup: BackupTarget | None,
    data_volume_id: str,
    app_cidrs: Sequence[str] = (),
    replication_cidrs: Sequence[str] = (),
    admin_cidrs: Sequence[str] = (),
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = FULL_CALENDAR,
    backup_diff_calendar: str = DIFF_CALENDAR,
    bootstrap_from: str = "empty",
) -> str:
    """Render the user-data of one database member (PostgreSQL 15 under Patroni, one etcd member).

    Installs ``postgresql-15``, ``patroni``, ``etcd-server`` and ``etcd-client`` (and ``pgbackrest`` with a
    backup target) from Debian; writes etcd's environment (a static cluster of every member's public
    address), Patroni's configuration (TLS, SCRAM, ``pg_hba`` admitting replication and ``pg_rewind`` from the
    members' /32s and the application from ``app_cidrs``, ``channel_binding=require`` on the replication
    connections, ``pg_rewind`` on), and runs ``resilient-stack-db-start``: the package's own cluster is
    handed to Patroni, etcd starts, then Patroni, and the boot waits (bounded) until the member serves. With
    ``bootstrap`` the member initialises the cluster and Patroni's ``post_bootstrap`` creates the application's
    role, database and table (``app_password``); the others clone it. With a backup target: WAL archiving,
    the stanza and a first full backup (the catch-up timer, on whichever member is the primary), and weekly full /
    daily differential timers on every member (they back up only on the current primary).

    Args:
        name: this host's name (its Patroni and etcd member name), one of ``members``.
        members: every member (host name and public address), this one included.
        bootstrap: this member initialises the cluster (exactly one member of a stack).
        scope: the cluster's name (Patroni's scope, etcd's cluster token).
        replication_password, rewind_password: the replication and ``pg_rewind`` roles' passwords.
        api_password: the password of Patroni's REST API (its changing endpoints).
        app_password: the application role's password (the bootstrap member only; else None).
        backup: the object-storage repository for pgBackRest, or ``None``.
        data_volume_id: the id of the host's data volume (block storage, attached to the instance): mounted
            at PostgreSQL's home before etcd and Patroni start (formatted only when blank).
        app_cidrs: networks the application connects from (the web hosts' /32s...); ``/0`` is refused.
        replication_cidrs: further networks admitted for replication (besides the members).
        admin_cidrs: networks admitted to SSH by the host firewall (:mod:`.firewall`).
        replication_user, app_user, app_db: lower-case SQL identifiers.
        ssh_authorized_keys, package_update, package_upgrade: as for every role.
        max_wal_senders, wal_keep_size_mb: replication tuning.
        backup_full_calendar, backup_diff_calendar: systemd ``OnCalendar`` of the backup timers.
        bootstrap_from: ``"empty"`` (``initdb``) or ``"backup"``: the member that initialises a NEW cluster restores
            the repository's newest backup and replays its archived WAL (Patroni's custom bootstrap,
            ``resilient-stack-restore``); a running cluster is never touched by it.

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: a bad member list, password, CIDR, identifier, ...
    """
    checked = _check(
        name=name, members=members, scope=scope, replication_user=replication_user, app_user=app_user,
        app_db=app_db, app_cidrs=app_cidrs, replication_cidrs=replication_cidrs, backup=backup,
        ssh_authorized_keys=ssh_authorized_keys, max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar, backup_diff_calendar=backup_diff_calendar, bootstrap=bootstrap,
        data_volume_id=data_volume_id, admin_cidrs=admin_cidrs, rendering=True, bootstrap_from=bootstrap_from,
    )
    secrets = {"replication_password": replication_password, "rewind_password": rewind_password,
               "api_password": api_password}
    if bootstrap:
        secrets["app_password"] = app_password  # type: ignore[assignment]
    elif app_password is not None:
        raise ValueError("app_password goes to the bootstrap member only")
    for what, value in secrets.items():
        check.password(value, what)
    if len(set(secrets.values())) != len(secrets):
        raise ValueError("the passwords must all differ")

    repository = backup.repository if backup is not None else None
    doc = document.base(
        packages=PACKAGES + (["pgbackrest"] if backup is not None else []),
        hostname=name, ssh_authorized_keys=checked.ssh_authorized_keys,
        package_update=package_update, package_upgrade=package_upgrade,
    )
    files = [
        document.ssh_hardening(),
        # before the packages: the etcd and Patroni units installed (and started) by them find their settings
        document.write_file(ETCD_ENV, cluster.etcd_environment(me=checked.me, members=checked.members,
                                                               token=f"{scope}-etcd")),
        document.write_file(SYSTEMD_DROPIN.format(unit=ETCD_SERVICE),
                            payload.render("systemd/etcd.conf", mount=DATA_MOUNT)),
        document.write_file(SYSTEMD_DROPIN.format(unit=PATRONI_SERVICE),
                            payload.render("systemd/patroni.conf", mount=DATA_MOUNT)),
        document.write_file(DATA_VOLUME_SCRIPT, payload.render(
            "shell/data-volume.sh", mount=shlex.quote(DATA_MOUNT), volume_id=shlex.quote(data_volume_id),
            wait=WAIT_VOLUME_S, label=DATA_VOLUME_LABEL, etcd_data=shlex.quote(ETCD_DATA)), permissions="0755"),
        document.write_file(PATRONI_CONF, cluster.patroni_config(
            scope=scope, me=checked.me, members=checked.members, replication_user=replication_user,
            replication_password=replication_password, rewind_password=rewind_password,
            api_password=api_password, app_db=app_db, app_user=app_user, app_cidrs=checked.app_cidrs,
            replication_cidrs=checked.replication_cidrs, backup=repository, max_wal_senders=max_wal_senders,
            wal_keep_size_mb=wal_keep_size_mb, restore=bootstrap_from == "backup",
        ), owner="postgres:postgres", permissions="0600", defer=True),
        document.write_file(DB_START_SCRIPT, postgres.db_start_script(bootstrap=bootstrap, scope=scope),
                            permissions="0755"),
        document.write_file(CLUSTER_HELPER, postgres.cluster_helper(), permissions="0755"),
        document.write_file(HOST_ROLE_FILE, (HOST_DB_PRIMARY if bootstrap else HOST_DB_REPLICA) + "\n"),
    ]
    if bootstrap:
        assert app_password is not None
        files += [
            document.write_file(APP_PASSWORD_FILE, app_password, owner="postgres:postgres", permissions="0600",
                                defer=True),
            document.write_file(DB_INIT_SQL, postgres.db_init_sql(app_user=app_user, app_db=app_db)),
            document.write_file(DB_INIT_SCRIPT, postgres.db_init_script(), permissions="0755"),
        ]
    files += hardening.harden(doc, role="db", patroni_conf=PATRONI_CONF, sets=firewall.db_sets(
        admin_cidrs=checked.admin_cidrs, members=[m.address for m in checked.members], app_cidrs=checked.app_cidrs,
        replication_cidrs=checked.replication_cidrs))
    # the firewall first; the data volume before anything uses it; the runtime configuration (the metadata may be
    # newer than this user data); then the cluster
    runcmd: list[Any] = document.ssh_runcmd() + hardening.first_runcmd() + [
        ["systemctl", "daemon-reload"], [DATA_VOLUME_SCRIPT], [SYNC_SCRIPT, "--boot"], [DB_START_SCRIPT],
    ] + hardening.last_runcmd()
    if backup is not None:
        files.append(document.write_file(PGBACKREST_CONF, backups.pgbackrest_conf(backup, process_max=2),
                                         owner="postgres:postgres", permissions="0640", defer=True))
        files += backups.schedule_files(backup, full_calendar=backup_full_calendar, diff_calendar=backup_diff_calendar)
        files += backups.catch_up_files(backup)
        if bootstrap_from == "backup":
            files.append(backups.restore_file(backup))
        runcmd += [["systemctl", "daemon-reload"], ["systemctl", "enable", "--now", *backups.timers()]]
    doc["write_files"] = files
    doc["runcmd"] = runcmd
    return document.dump(doc)



def db_runtime(
    *, members: Sequence[ClusterMember], app_cidrs: Sequence[str] = (), replication_cidrs: Sequence[str] = (),
    admin_cidrs: Sequence[str] = (), replication_user: str = "replicator", app_user: str = "app", app_db: str = "app",
) -> dict[str, Any]:
    """The runtime document of every member (:mod:`.runtime`): the same ``pg_hba`` and firewall sets as the user
    data's, from the current web hosts and networks, for the instances' metadata."""
    apps = check.cidrs(app_cidrs, "app_cidrs", allow_empty=True)
    replication = check.cidrs(replication_cidrs, "replication_cidrs", allow_empty=True)
    return runtime.document(
        pg_hba=cluster.hba_rules(members=members, replication_user=replication_user, replication_cidrs=replication,
                                 app_db=app_db, app_user=app_user, app_cidrs=apps),
        firewall=firewall.db_sets(admin_cidrs=check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True),
                                  members=[m.address for m in members], app_cidrs=apps,
                                  replication_cidrs=replication))
