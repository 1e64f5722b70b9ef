"""The database role: PostgreSQL 15 from Debian (bookworm), one member of a Patroni cluster over etcd.

Every database host gets the same kind of user data (:func:`render_db_member`): PostgreSQL, Patroni and one
etcd voting member from Debian's packages, configured from the public addresses of every member (the
components allocate them before any instance exists, :mod:`resilient_stack.hosts.cluster`). One member, the
stack's ``databaseRole: primary``, initialises the cluster (``bootstrap=True``); the others wait for it and
clone it. From then on the roles are Patroni's. ``/usr/local/sbin/resilient-stack-cluster`` shows the cluster
(``list``) and this host's role (``role``); ``resilient-stack-etcdctl`` is etcdctl as etcd's root.

Secrets never appear in clear in the user data: the host gets its own key (:data:`.secrets.KEY_FILE`) and the
sealed secret document (:class:`DbSecrets`: the member's certificate and key from the cluster's CA, the passwords,
the backup repository's keys and passphrase, the application's login roles as SCRAM verifiers), which root's sync
applies before etcd and Patroni first start, and again whenever the metadata brings a new one (rotation, renewal).

The first boot: the firewall; the data volume (refused when it is another cluster's or another member's); the
secrets and the runtime configuration; every timer (sync, backups, etcd's defragmentation) BEFORE the cluster, so a
member whose join fails is still kept in sync; then ``resilient-stack-db-start.service``, a unit retried until the
member serves (a replacement on a blank volume joins etcd as a new member by itself).

With a backup target, pgBackRest archives WAL (asynchronously, with a bounded queue) and takes the scheduled
backups on whichever member is the primary; a catch-up timer (never cloud-init, so a host whose repository cannot
be reached still finishes its boot) creates the stanza and the first full backup when the repository is there, and
a new backup after an archiving gap or a failover.

:func:`validate_db_member` is the one check of the role's inputs, without the secrets or the addresses (the
components call it before either exists; the renderer calls it too). Pure: standard library, PyYAML, cryptography.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from typing import Any, NamedTuple, Sequence

from resilient_stack.core.vocabulary import HOST_DB_PRIMARY, HOST_DB_REPLICA, HOST_ROLE_FILE
from resilient_stack.hosts import backup as backups
from resilient_stack.hosts import cluster, document, firewall, hardening, payload, postgres, runtime, secrets
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.backup import BackupRepository, BackupSchedule, BackupTarget
from resilient_stack.hosts.cluster import ETCD, REWIND_USER, ClusterMember, app_credentials, app_roles, migrate_role
from resilient_stack.hosts.paths import (
    CLUSTER_HELPER,
    DATA_MOUNT,
    DATA_VOLUME_LABEL,
    DATA_VOLUME_SCRIPT,
    DB_INIT_SCRIPT,
    DB_INIT_SQL,
    DB_START_SCRIPT,
    DB_START_SERVICE,
    ETCD_AUTH_SCRIPT,
    ETCD_DATA,
    ETCD_DEFRAG_SERVICE,
    ETCD_ENV,
    ETCD_JOIN_ENV,
    ETCD_SERVICE,
    ETCDCTL_HELPER,
    PATRONI_CONF,
    PATRONI_SERVICE,
    PATRONI_START,
    PG_SERVICE,
    PG_START_CONF,
    PG_VERSION,
    PGBACKREST_CONF,
    PGBACKREST_SECRETS,
    SYNC_SCRIPT,
    SYSTEMD_DROPIN,
    TLS_DIR,
    VOLUME_MARKER,
    WATCHDOG_MODULES,
    WATCHDOG_UDEV,
)

__all__ = [
    "ClusterMember",
    "MemberTls",
    "DbSecrets",
    "render_db_member",
    "validate_db_member",
    "db_runtime",
    "db_secret_document",
    "storage_budget",
]

WAIT_VOLUME_S = 600  # the volume is attached once the instance exists: the first boot waits for it (bounded)
VOLUME_ID = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{19,63}")  # an OpenStack volume id (a UUID)
CLUSTER_ID = re.compile(r"[a-z0-9]{8,64}")  # the cluster's id (etcd's token, the data volumes' marker)
# How the member that initialises a NEW cluster makes it: initdb (an empty database), or a restore of the backup
# repository's newest backup plus its archived WAL (the restore path after every member was lost)
BOOTSTRAP_FROM = ("empty", "backup")
PACKAGES = [
    f"postgresql-{PG_VERSION}",
    "ssl-cert",
    "patroni",
    "etcd-server",
    "etcd-client",
    "python3-psycopg2",
    "python3-cryptography",
]


@dataclass(frozen=True)
class MemberTls:
    """A member's TLS material (PEM): the CA's certificate, the member's certificate and key, and its administrator
    (etcd ``root``) certificate and key (:mod:`.pki`)."""

    ca: str
    cert: str
    key: str = ""
    admin_cert: str = ""
    admin_key: str = ""

    def __repr__(self) -> str:  # the keys are secrets
        return "MemberTls(...)"


@dataclass(frozen=True)
class DbSecrets:
    """What a member gets sealed: TLS, the cluster's passwords, every generation of the application's password so
    far (the last is current; the one before stays valid a while after a rotation), the backup repository's keys."""

    tls: MemberTls
    replication_password: str
    rewind_password: str
    api_password: str
    etcd_password: str
    app_passwords: tuple[str, ...]
    backup: BackupTarget | None = None
    migrate_password: str | None = None  # the release phase's role (with the application's container)

    def __repr__(self) -> str:
        return "DbSecrets(...)"


def db_secret_document(s: DbSecrets, *, app_user: str) -> dict[str, Any]:
    """The member's secret document (:mod:`.secrets`): what root's sync applies."""
    passwords = {
        "replication": s.replication_password,
        "rewind": s.rewind_password,
        "api": s.api_password,
        "etcd": s.etcd_password,
    }
    for what, value in passwords.items():
        check.password(value, f"{what} password")
    if len(set(passwords.values())) != len(passwords):
        raise ValueError("the cluster's passwords must all differ")
    for what, value in (
        ("ca", s.tls.ca),
        ("cert", s.tls.cert),
        ("key", s.tls.key),
        ("admin_cert", s.tls.admin_cert),
        ("admin_key", s.tls.admin_key),
    ):
        if not (isinstance(value, str) and value.startswith("-----BEGIN ") and value.endswith("-----\n")):
            raise ValueError(f"tls.{what} must be a PEM text")
    credentials = app_credentials(app_user, s.app_passwords)
    doc: dict[str, Any] = {
        "v": secrets.VERSION,
        "tls": {
            "ca": s.tls.ca,
            "cert": s.tls.cert,
            "key": s.tls.key,
            "admin_cert": s.tls.admin_cert,
            "admin_key": s.tls.admin_key,
        },
        "passwords": passwords,
        "roles": {
            user: {"verifier": secrets.scram_verifier(password, role=user), "current": i == 0}
            for i, (user, password) in enumerate(credentials)
        },
    }
    if s.migrate_password is not None:
        role = migrate_role(app_user)
        doc["roles"][role] = {
            "verifier": secrets.scram_verifier(check.password(s.migrate_password, "migrate password"), role=role),
            "current": True,
        }
    if s.backup is not None:
        doc["backup"] = backups.secret_document(s.backup)
    return doc


def storage_budget(
    *, volume_size_gb: int, wal_keep_size_mb: int, archive_queue_max_mb: int | None, etcd_quota_mb: int = ETCD.quota_mb
) -> int:
    """``max_slot_wal_keep_size`` (MB) for a data volume of ``volume_size_gb``: a quarter of it, so that etcd's quota,
    the WAL kept for replicas and slots and the archive's queue together hold at most half the volume, the rest for
    the data. ValueError (naming the keys) when the volume is too small for that."""
    volume_mb = volume_size_gb * 1024
    slots_mb = volume_mb // 4
    reserved = etcd_quota_mb + wal_keep_size_mb + slots_mb + (archive_queue_max_mb or 0)
    if reserved > volume_mb // 2:
        raise ValueError(
            f"database.volumeSize: {volume_size_gb} GB is too small: etcd's quota ({etcd_quota_mb} MiB), the WAL kept "
            f"for replicas ({wal_keep_size_mb} MB) and for slots ({slots_mb} MB) and the archive queue "
            f"({archive_queue_max_mb or 0} MiB) would take {reserved} MB, more than half the volume"
        )
    return slots_mb


class _Checked(NamedTuple):
    members: list[ClusterMember]
    me: ClusterMember
    app_cidrs: list[str]
    replication_cidrs: list[str]
    ssh_authorized_keys: list[str]
    admin_cidrs: list[str]
    index: int  # type: ignore[assignment]  # the member's number; tuple.index is not used


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
    *,
    name: Any,
    members: Any,
    scope: Any,
    replication_user: Any,
    app_user: Any,
    app_db: Any,
    app_cidrs: Any,
    replication_cidrs: Any,
    backup: Any,
    ssh_authorized_keys: Any,
    max_wal_senders: Any,
    wal_keep_size_mb: Any,
    max_slot_wal_keep_size_mb: Any,
    backup_schedule: Any,
    bootstrap: Any,
    data_volume_id: Any,
    admin_cidrs: Any,
    synchronous: Any,
    cluster_id: Any,
    rendering: bool,
    bootstrap_from: Any = "empty",
) -> _Checked:
    if not isinstance(name, str) or check.hostname(name) is None:
        raise ValueError("name must be this host's name (a DNS label)")
    if not isinstance(scope, str) or check.hostname(scope) is None or scope != scope.lower():
        raise ValueError(f"scope must be a lower-case DNS label (the cluster's name), got {scope!r}")
    if not isinstance(bootstrap, bool):
        raise ValueError("bootstrap must be a bool")
    if not isinstance(synchronous, bool):
        raise ValueError("synchronous must be a bool")
    if (rendering or cluster_id is not None) and not (isinstance(cluster_id, str) and CLUSTER_ID.fullmatch(cluster_id)):
        raise ValueError(f"cluster_id must be 8 to 64 lower-case letters and digits, got {cluster_id!r}")
    if (rendering or data_volume_id is not None) and not (
        isinstance(data_volume_id, str) and VOLUME_ID.fullmatch(data_volume_id)
    ):
        raise ValueError(f"data_volume_id must be the id of the host's data volume, got {data_volume_id!r}")
    if bootstrap_from not in BOOTSTRAP_FROM:
        raise ValueError(f"bootstrap_from must be one of {', '.join(BOOTSTRAP_FROM)}, got {bootstrap_from!r}")
    if bootstrap_from == "backup" and backup is None:
        raise ValueError("bootstrap_from='backup' restores from the backup repository: it needs a backup")
    all_members, me = _members(members, name, addresses=rendering)
    check.sql_ident(replication_user, "replication_user")
    check.sql_ident(app_user, "app_user")
    check.sql_ident(app_db, "app_db")
    if len(app_user) > 55:
        raise ValueError(f"app_user must be at most 55 characters (its roles add _migrate), got {app_user!r}")
    reserved = {REWIND_USER, *app_roles(app_user), migrate_role(app_user)}
    if replication_user in reserved:
        raise ValueError(f"replication_user must differ from {', '.join(sorted(reserved))}")
    apps = check.cidrs(app_cidrs, "app_cidrs", allow_empty=True)
    admins = check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True)
    replication = check.cidrs(replication_cidrs, "replication_cidrs", allow_empty=True)
    if backup is not None and not isinstance(backup, (BackupTarget, BackupRepository)):
        raise ValueError(f"backup must be a BackupRepository or None, got {type(backup).__name__}")
    keys = check.ssh_keys(ssh_authorized_keys)
    check.integer(max_wal_senders, "max_wal_senders", 2, 100)
    check.integer(wal_keep_size_mb, "wal_keep_size_mb", 0, 1_000_000)
    check.integer(max_slot_wal_keep_size_mb, "max_slot_wal_keep_size_mb", 64, 100_000_000)
    if backup_schedule is not None and not isinstance(backup_schedule, BackupSchedule):
        raise ValueError(f"backup_schedule must be a BackupSchedule or None, got {type(backup_schedule).__name__}")
    return _Checked(all_members, me, apps, replication, keys, admins, all_members.index(me))


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
    max_slot_wal_keep_size_mb: int = 5120,
    backup_schedule: BackupSchedule | None = None,
    data_volume_id: str | None = None,
    admin_cidrs: Sequence[str] = (),
    bootstrap_from: str = "empty",
    synchronous: bool = False,
    cluster_id: str | None = None,
    monitoring: Sequence[str] = (),
) -> None:
    """Refuse (``ValueError`` naming the value) what a member could not be given; no secret needed.

    The arguments are those of :func:`render_db_member` without the secrets; a member's ``address`` may be None
    (not allocated yet), ``data_volume_id`` and ``cluster_id`` None (not generated yet).
    """
    _check(
        name=name,
        members=members,
        scope=scope,
        replication_user=replication_user,
        app_user=app_user,
        app_db=app_db,
        app_cidrs=app_cidrs,
        replication_cidrs=replication_cidrs,
        backup=backup,
        ssh_authorized_keys=ssh_authorized_keys,
        max_wal_senders=max_wal_senders,
        wal_keep_size_mb=wal_keep_size_mb,
        max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
        backup_schedule=backup_schedule,
        bootstrap=bootstrap,
        data_volume_id=data_volume_id,
        admin_cidrs=admin_cidrs,
        synchronous=synchronous,
        cluster_id=cluster_id,
        rendering=False,
        bootstrap_from=bootstrap_from,
    )
    firewall.addresses(monitoring, "monitoring")


def render_db_member(
    *,
    name: str,
    members: Sequence[ClusterMember],
    bootstrap: bool,
    scope: str,
    cluster_id: str,
    host_key: str,
    secrets_doc: dict[str, Any],
    backup: BackupRepository | None,
    data_volume_id: str,
    app_cidrs: Sequence[str] = (),
    replication_cidrs: Sequence[str] = (),
    admin_cidrs: Sequence[str] = (),
    monitoring: Sequence[str] = (),
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    max_slot_wal_keep_size_mb: int = 5120,
    backup_schedule: BackupSchedule | None = None,
    bootstrap_from: str = "empty",
    synchronous: bool = False,
) -> str:
    """Render the user-data of one database member (PostgreSQL 15 under Patroni, one etcd member).

    Installs ``postgresql-15``, ``patroni``, ``etcd-server`` and ``etcd-client`` (and ``pgbackrest`` with a
    backup repository) from Debian; writes etcd's environment (a static cluster of every member's public address,
    mutual TLS), Patroni's configuration (mutual TLS on its API, ``verify-full`` replication, ``pg_hba`` admitting
    replication and ``pg_rewind`` from the members' /32s and the application from ``app_cidrs``, the watchdog, the
    dynamic configuration: timings, ``failsafe_mode``, ``synchronous``), the host key and the sealed secrets
    (:func:`db_secret_document` sealed with ``host_key``), and runs db-start as a unit retried until the member serves.

    Args:
        name: this host's name (its Patroni and etcd member name), one of ``members``.
        members: every member (host name and public address), this one included.
        bootstrap: this member initialises the cluster (exactly one member of a stack).
        scope: the cluster's name (Patroni's scope).
        cluster_id: the cluster's generated id: etcd's cluster token, and the data volumes' marker.
        host_key: this host's key (:mod:`.secrets`), which seals ``secrets_doc`` here and in the metadata.
        secrets_doc: the member's secret document (:func:`db_secret_document`).
        backup: the object-storage repository (its keys and passphrase are in ``secrets_doc``), or ``None``.
        data_volume_id: the id of the host's data volume (block storage, attached to the instance): mounted
            at PostgreSQL's home before etcd and Patroni start (formatted only when blank).
        app_cidrs: networks the application connects from (the web hosts' /32s...); ``/0`` is refused.
        replication_cidrs: further networks admitted for replication (besides the members).
        admin_cidrs: networks admitted to SSH by the host firewall (:mod:`.firewall`).
        monitoring: the monitoring hosts' addresses, admitted to the exporters (runtime configuration).
        replication_user, app_user, app_db: lower-case SQL identifiers.
        ssh_authorized_keys: the public keys of the image's default user (runtime configuration: :func:`db_runtime`).
        package_update, package_upgrade: as for every role.
        max_wal_senders, wal_keep_size_mb, max_slot_wal_keep_size_mb: replication tuning (:func:`storage_budget`).
        backup_schedule: when the backups run (None: :class:`BackupSchedule`'s weekly full and daily differential);
            the runtime document carries it too, so a running member takes a new one (:func:`db_runtime`).
        bootstrap_from: ``"empty"`` (``initdb``) or ``"backup"``: the member that initialises a NEW cluster restores
            the repository's newest backup and replays its archived WAL (Patroni's custom bootstrap,
            ``resilient-stack-restore``); a running cluster is never touched by it.
        synchronous: Patroni's synchronous mode (a commit is acknowledged once a standby holds it).

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: a bad member list, key, CIDR, identifier, secret document...
    """
    checked = _check(
        name=name,
        members=members,
        scope=scope,
        replication_user=replication_user,
        app_user=app_user,
        app_db=app_db,
        app_cidrs=app_cidrs,
        replication_cidrs=replication_cidrs,
        backup=backup,
        ssh_authorized_keys=ssh_authorized_keys,
        max_wal_senders=max_wal_senders,
        wal_keep_size_mb=wal_keep_size_mb,
        max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
        backup_schedule=backup_schedule,
        bootstrap=bootstrap,
        data_volume_id=data_volume_id,
        admin_cidrs=admin_cidrs,
        synchronous=synchronous,
        cluster_id=cluster_id,
        rendering=True,
        bootstrap_from=bootstrap_from,
    )
    if isinstance(backup, BackupTarget):
        backup = backup.repository
    if (backup is None) != ("backup" not in secrets_doc):
        raise ValueError("the secret document has the backup repository's keys exactly when there is a backup")
    sealed = secrets.seal(secrets_doc, host_key)
    doc = document.base(
        packages=PACKAGES + (["pgbackrest"] if backup is not None else []),
        hostname=name,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    first = db_runtime(
        members=checked.members,
        app_cidrs=checked.app_cidrs,
        replication_cidrs=checked.replication_cidrs,
        admin_cidrs=checked.admin_cidrs,
        monitoring=monitoring,
        replication_user=replication_user,
        app_user=app_user,
        app_db=app_db,
        backup=backup,
        backup_schedule=backup_schedule,
        synchronous=synchronous,
        max_wal_senders=max_wal_senders,
        wal_keep_size_mb=wal_keep_size_mb,
        max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
        ssh_keys=checked.ssh_authorized_keys,
    )
    files = [
        document.ssh_hardening(),
        document.write_file(secrets.KEY_FILE, host_key, permissions="0600"),
        document.write_file(secrets.SEALED_FILE, sealed + "\n", permissions="0600"),
        runtime.first_boot_file(first),
        # before the packages: the etcd and Patroni units installed (and started) by them find their settings
        document.write_file(
            ETCD_ENV, cluster.etcd_environment(me=checked.me, members=checked.members, token=f"{scope}-{cluster_id}")
        ),
        document.write_file(
            SYSTEMD_DROPIN.format(unit=ETCD_SERVICE),
            payload.render("systemd/etcd.conf", mount=DATA_MOUNT, join_env=ETCD_JOIN_ENV),
        ),
        document.write_file(
            SYSTEMD_DROPIN.format(unit=PATRONI_SERVICE),
            payload.render("systemd/patroni.conf", mount=DATA_MOUNT, start=PATRONI_START),
        ),
        document.write_file(PATRONI_START, payload.render("patroni/start.py"), permissions="0755"),
        document.write_file(WATCHDOG_MODULES, "softdog\n"),
        document.write_file(WATCHDOG_UDEV, payload.render("udev/watchdog.rules")),
        document.write_file(
            DATA_VOLUME_SCRIPT,
            payload.render(
                "shell/data-volume.sh",
                mount=shlex.quote(DATA_MOUNT),
                volume_id=shlex.quote(data_volume_id),
                wait=WAIT_VOLUME_S,
                label=DATA_VOLUME_LABEL,
                etcd_data=shlex.quote(ETCD_DATA),
                marker=shlex.quote(VOLUME_MARKER),
                cluster_id=shlex.quote(cluster_id),
                member=shlex.quote(name),
                pg_service=PG_SERVICE,
                start_conf=PG_START_CONF,
            ),
            permissions="0755",
        ),
        document.write_file(
            PATRONI_CONF,
            cluster.patroni_config(
                scope=scope,
                me=checked.me,
                members=checked.members,
                replication_user=replication_user,
                app_db=app_db,
                app_user=app_user,
                app_cidrs=checked.app_cidrs,
                replication_cidrs=checked.replication_cidrs,
                backup=backup,
                max_wal_senders=max_wal_senders,
                wal_keep_size_mb=wal_keep_size_mb,
                max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
                synchronous=synchronous,
                restore=bootstrap_from == "backup",
            ),
            owner="postgres:postgres",
            permissions="0600",
            defer=True,
        ),
        document.write_file(
            DB_START_SCRIPT,
            postgres.db_start_script(bootstrap=bootstrap, scope=scope, me=checked.me),
            permissions="0755",
        ),
        postgres.db_start_unit(),
        document.write_file(
            ETCDCTL_HELPER, postgres.etcdctl_helper(me=checked.me, members=checked.members), permissions="0755"
        ),
        document.write_file(ETCD_AUTH_SCRIPT, postgres.etcd_auth_script(scope=scope), permissions="0755"),
        *postgres.etcd_defrag_files(index=checked.index, quota_mb=ETCD.quota_mb),
        document.write_file(CLUSTER_HELPER, postgres.cluster_helper(), permissions="0755"),
        document.write_file(HOST_ROLE_FILE, (HOST_DB_PRIMARY if bootstrap else HOST_DB_REPLICA) + "\n"),
    ]
    if bootstrap:
        files += [
            document.write_file(DB_INIT_SQL, postgres.db_init_sql(app_user=app_user, app_db=app_db)),
            document.write_file(DB_INIT_SCRIPT, postgres.db_init_script(), permissions="0755"),
        ]
    files += hardening.harden(
        doc,
        role="db",
        patroni_conf=PATRONI_CONF,
        pgbackrest_secrets=PGBACKREST_SECRETS if backup is not None else "",
        sets=first["firewall"],
    )
    timers = [f"{ETCD_DEFRAG_SERVICE}.timer"]
    if backup is not None:
        files.append(
            document.write_file(
                PGBACKREST_CONF,
                backups.pgbackrest_conf(backup, process_max=2),
                owner="postgres:postgres",
                permissions="0640",
                defer=True,
            )
        )
        files += backups.schedule_files(backup, backup_schedule or BackupSchedule())
        files += backups.catch_up_files(backup)
        if bootstrap_from == "backup":
            files.append(backups.restore_file(backup))
        timers += backups.timers()
    # the firewall first; the data volume before anything uses it; the secrets and the runtime configuration (the
    # metadata may be newer than this user data); every timer; then the cluster, last: a member whose join fails (its
    # unit retries) is still kept in sync, backed up when it becomes the primary, defragmented
    runcmd: list[Any] = (
        document.ssh_runcmd()
        + hardening.first_runcmd()
        + [
            # the watchdog for Patroni: softdog, /dev/watchdog given to postgres (the udev rule); a host without it (a
            # container) runs without, and Patroni says so
            [
                "sh",
                "-c",
                "if modprobe softdog 2>/dev/null && command -v udevadm >/dev/null; then "
                "udevadm trigger --subsystem-match=watchdog --action=add; "
                "else echo 'resilient-stack: no softdog watchdog on this host'; fi",
            ],
            ["systemctl", "daemon-reload"],
            [DATA_VOLUME_SCRIPT],
            ["install", "-d", "-m", "0755", TLS_DIR],
            ["usermod", "-a", "-G", "ssl-cert", "etcd"],
            [SYNC_SCRIPT, "--boot"],
        ]
        + hardening.last_runcmd(database=True)
        + [
            ["systemctl", "enable", *timers],
            ["systemctl", "start", *timers],
            ["systemctl", "enable", f"{DB_START_SERVICE}.service"],
            ["systemctl", "start", f"{DB_START_SERVICE}.service"],
        ]
    )
    doc["write_files"] = files
    doc["runcmd"] = runcmd
    return document.dump(doc)


def db_runtime(
    *,
    members: Sequence[ClusterMember],
    app_cidrs: Sequence[str] = (),
    replication_cidrs: Sequence[str] = (),
    admin_cidrs: Sequence[str] = (),
    monitoring: Sequence[str] = (),
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    backup: BackupRepository | None = None,
    backup_schedule: BackupSchedule | None = None,
    synchronous: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    max_slot_wal_keep_size_mb: int = 5120,
    ssh_keys: Sequence[str] = (),
) -> dict[str, Any]:
    """The runtime document of every member (:mod:`.runtime`): the same ``pg_hba`` and firewall sets as the user
    data's, from the current web hosts and networks, Patroni's dynamic configuration, the SSH keys and, with a
    repository, when the backups run (``backup_schedule``; unset: :class:`BackupSchedule`'s defaults), for the
    metadata."""
    apps = check.cidrs(app_cidrs, "app_cidrs", allow_empty=True)
    replication = check.cidrs(replication_cidrs, "replication_cidrs", allow_empty=True)
    if isinstance(backup, BackupTarget):
        backup = backup.repository
    return runtime.document(
        pg_hba=cluster.hba_rules(
            members=members,
            replication_user=replication_user,
            replication_cidrs=replication,
            app_db=app_db,
            app_user=app_user,
            app_cidrs=apps,
        ),
        firewall=firewall.db_sets(
            admin_cidrs=check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True),
            members=[m.address for m in members],
            app_cidrs=apps,
            replication_cidrs=replication,
            monitoring=firewall.addresses(monitoring, "monitoring"),
        ),
        dcs=cluster.dynamic_config(
            backup=backup,
            synchronous=synchronous,
            max_wal_senders=max_wal_senders,
            wal_keep_size_mb=wal_keep_size_mb,
            max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
        ),
        ssh_keys=check.ssh_keys(ssh_keys),
        backup_schedule=(backup_schedule or BackupSchedule()).document() if backup is not None else None,
    )
