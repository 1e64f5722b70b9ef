"""pgBackRest to S3-compatible object storage: where the database hosts archive WAL and keep their backups.

:class:`BackupRepository` is the repository without credentials (what the stack configuration and the
components know before anything exists); :class:`BackupTarget` adds the S3 keys (and an optional cipher
passphrase) the hosts need. Both are checked by :func:`validate_backup_repository`, the one rule.

The hosts get ``/etc/pgbackrest/pgbackrest.conf`` (no secret) and, from root's sync of the sealed secrets, the
repository's keys, passphrase and path in ``/etc/pgbackrest/conf.d/`` (0640 postgres),
the backup script (run only on the current primary, so a promoted replica takes the schedule over), a templated
systemd service and weekly full / daily differential timers, and the catch-up (``resilient-stack-backup-init``,
a systemd timer soon after boot and then every minute, never in cloud-init): on the primary it creates the
stanza when the repository has none (a new one, or one that lost it), starts a full backup when there is none,
and a differential one when archiving failed since the last backup (WAL may have been dropped). WAL is archived
asynchronously with a bounded queue (``archive-push-queue-max``): a repository that cannot be reached never stops
nor fills the primary, it costs the archive's continuity instead (the catch-up's next backup restores it).
Pure: standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from resilient_stack.core.vocabulary import BUCKET_RE, POSTGRES_PORT, S3_REGION_RE
from resilient_stack.hosts import fields as check
from resilient_stack.hosts import payload
from resilient_stack.hosts.document import write_file
from resilient_stack.hosts.exporters import TEXTFILE_DIR
from resilient_stack.hosts.paths import (
    BACKUP_INIT_SCRIPT,
    BACKUP_INIT_SERVICE,
    BACKUP_INIT_TIMER,
    BACKUP_KINDS,
    BACKUP_SCRIPT,
    BACKUP_SERVICE,
    BACKUP_STATE_DIR,
    BACKUP_TIMER,
    PATRONI_SERVICE,
    PG_DATA,
    PG_SOCKET_DIR,
    PGBACKREST_SECRETS,
    PGBACKREST_SPOOL,
    RESTORE_SCRIPT,
    SYSTEMD_DIR,
)

__all__ = [
    "BackupRepository",
    "BackupTarget",
    "BackupSchedule",
    "FULL_CALENDAR",
    "DIFF_CALENDAR",
    "validate_backup_repository",
    "secret_document",
    "pgbackrest_conf",
]


_NOT_KNOWN_YET = object()
# what the primary's catch-up read of the repository, for the node exporter (the monitoring hosts' backup alerts)
BACKUP_METRICS = f"{TEXTFILE_DIR}/resilient_stack_backup.prom"
FULL_CALENDAR = "Sun *-*-* 02:00:00"  # the default schedule: a weekly full backup, a differential one the other days
DIFF_CALENDAR = "Mon..Sat *-*-* 02:00:00"
SCHEDULE_DROP_IN = "schedule.conf"  # root's sync writes the schedule as BACKUP_TIMER.d/this (a systemd drop-in)
JITTER_MAX_MINUTES = 720


@dataclass(frozen=True)
class BackupSchedule:
    """When the primary takes its backups: the ``OnCalendar`` of the full and the differential timers, and a random
    delay up to ``jitter_minutes`` after each time (``RandomizedDelaySec``: many stacks' backups do not all hit one
    object store at 02:00). Part of a member's runtime document: root's sync writes it as a drop-in of the timers,
    so a new schedule reaches running members, none replaced."""

    full: str = FULL_CALENDAR
    diff: str = DIFF_CALENDAR
    jitter_minutes: int = 15

    def __post_init__(self) -> None:
        check.calendar(self.full, "BackupSchedule.full")
        check.calendar(self.diff, "BackupSchedule.diff")
        check.integer(self.jitter_minutes, "BackupSchedule.jitter_minutes", 0, JITTER_MAX_MINUTES)

    def document(self) -> dict[str, Any]:
        """The runtime document's ``backup_schedule``."""
        return {"full": self.full, "diff": self.diff, "jitter_s": self.jitter_minutes * 60}


def validate_backup_repository(
    *,
    endpoint: Any,
    region: Any,
    bucket: Any = _NOT_KNOWN_YET,
    path: Any = "/pgbackrest",
    uri_style: Any = "host",
    verify_tls: Any = True,
    retention_full: Any = 2,
    stanza: Any = "main",
    archive_queue_max_mb: Any = 1024,
    owner: str = "BackupRepository",
) -> None:
    """Refuse (``ValueError`` naming ``<owner>.<field>``) a repository pgBackRest could not use.

    Without ``bucket``: not known yet (the stack configuration names it later); everything else is checked.
    """
    if not isinstance(endpoint, str) or not endpoint:
        raise ValueError(f"{owner}.endpoint must be a non-empty host name")
    if "://" in endpoint or "/" in endpoint:
        raise ValueError(f"{owner}.endpoint must be a bare host[:port] without scheme or path, got {endpoint!r}")
    host, _, port = endpoint.partition(":")
    check.host(host, f"{owner}.endpoint")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise ValueError(f"{owner}.endpoint has an invalid port: {endpoint!r}")
    if bucket is not _NOT_KNOWN_YET and (not isinstance(bucket, str) or not BUCKET_RE.fullmatch(bucket)):
        raise ValueError(f"{owner}.bucket is not a valid S3 bucket name: {bucket!r}")
    if not isinstance(region, str) or not S3_REGION_RE.fullmatch(region):
        raise ValueError(f"{owner}.region must be a non-empty region name, got {region!r}")
    if not isinstance(path, str) or not check.REPO_PATH_RE.fullmatch(path):
        raise ValueError(f"{owner}.path must be an absolute path like '/pgbackrest', got {path!r}")
    if uri_style not in ("host", "path"):
        raise ValueError(f"{owner}.uri_style must be 'host' or 'path', got {uri_style!r}")
    if not isinstance(verify_tls, bool):
        raise ValueError(f"{owner}.verify_tls must be a bool")
    if not isinstance(retention_full, int) or isinstance(retention_full, bool) or not 1 <= retention_full <= 100:
        raise ValueError(f"{owner}.retention_full must be an int in 1..100, got {retention_full!r}")
    if not isinstance(stanza, str) or not check.STANZA_RE.fullmatch(stanza):
        raise ValueError(f"{owner}.stanza must be a simple name, got {stanza!r}")
    check.integer(archive_queue_max_mb, f"{owner}.archive_queue_max_mb", 16, 1_000_000)


@dataclass(frozen=True)
class BackupRepository:
    """An S3-compatible repository for pgBackRest, without credentials (see :class:`BackupTarget`)."""

    endpoint: str
    bucket: str
    region: str
    path: str = "/pgbackrest"
    uri_style: str = "host"
    verify_tls: bool = True
    retention_full: int = 2
    stanza: str = "main"
    archive_queue_max_mb: int = 1024

    def __post_init__(self) -> None:
        validate_backup_repository(**{f.name: getattr(self, f.name) for f in fields(self)}, owner="BackupRepository")

    def with_credentials(self, key_id: str, key_secret: str, cipher_pass: str | None = None) -> "BackupTarget":
        """The :class:`BackupTarget` the hosts get: this repository and its S3 credentials."""
        return BackupTarget(
            key_id=key_id,
            key_secret=key_secret,
            cipher_pass=cipher_pass,
            **{f.name: getattr(self, f.name) for f in fields(self)},
        )


@dataclass(frozen=True)
class BackupTarget:
    """An S3-compatible object-storage repository for pgBackRest (e.g. OVHcloud Object Storage).

    Put it in another region (better: another provider) than the database: a backup kept on the same
    site burns with it (Strasbourg, 10 March 2021).

    Attributes:
        endpoint: host name of the S3 endpoint, optionally ``:port``, without scheme
            (e.g. ``s3.gra.io.cloud.ovh.net``).
        bucket: bucket name (must already exist).
        region: S3 region name (e.g. ``gra``).
        key_id: access key id.
        key_secret: secret access key (never shown by ``repr``).
        path: repository path inside the bucket.
        uri_style: ``"host"`` (virtual-hosted) or ``"path"``.
        verify_tls: verify the endpoint's TLS certificate.
        retention_full: how many full backups pgBackRest keeps.
        cipher_pass: optional client-side encryption passphrase (aes-256-cbc); never shown by ``repr``.
        stanza: pgBackRest stanza name.
        archive_queue_max_mb: WAL waiting to be archived beyond this (MiB) is dropped from the archive rather than
            kept on the primary's disk (``archive-push-queue-max``).
    """

    endpoint: str
    bucket: str
    region: str
    key_id: str
    key_secret: str = field(repr=False)
    path: str = "/pgbackrest"
    uri_style: str = "host"
    verify_tls: bool = True
    retention_full: int = 2
    cipher_pass: str | None = field(default=None, repr=False)
    stanza: str = "main"
    archive_queue_max_mb: int = 1024

    def __post_init__(self) -> None:
        validate_backup_repository(
            endpoint=self.endpoint,
            bucket=self.bucket,
            region=self.region,
            path=self.path,
            uri_style=self.uri_style,
            verify_tls=self.verify_tls,
            retention_full=self.retention_full,
            stanza=self.stanza,
            archive_queue_max_mb=self.archive_queue_max_mb,
            owner="BackupTarget",
        )
        check.single_line(self.key_id, "BackupTarget.key_id", min_len=1)
        check.single_line(self.key_secret, "BackupTarget.key_secret", min_len=1)
        if self.cipher_pass is not None:
            check.single_line(self.cipher_pass, "BackupTarget.cipher_pass", min_len=check.MIN_PASSWORD_LEN)

    @property
    def repository(self) -> BackupRepository:
        """The repository without its credentials."""
        return BackupRepository(**{f.name: getattr(self, f.name) for f in fields(BackupRepository)})


# --------------------------------------------------------------------------------------------------
# What the database hosts get
# --------------------------------------------------------------------------------------------------


def timers() -> list[str]:
    """The systemd timers of the backups: the weekly full and daily differential schedule, and the catch-up."""
    return [*[BACKUP_TIMER.format(kind=kind) for kind in BACKUP_KINDS], BACKUP_INIT_TIMER]


def _service_instance(kind: str) -> str:
    return BACKUP_SERVICE.replace("@.", f"@{kind}.")


def pgbackrest_conf(backup: BackupRepository, *, process_max: int) -> str:
    """``pgbackrest.conf``: the S3 repository (no secret: see :func:`secret_document`) and the local stanza."""
    host, _, port = backup.endpoint.partition(":")
    return payload.render(
        "pgbackrest/pgbackrest.conf",
        secrets_conf=PGBACKREST_SECRETS,
        endpoint=host,
        storage_port=payload.lines("pgbackrest/storage-port.conf", port=port) if port else payload.Lines(),
        bucket=backup.bucket,
        region=backup.region,
        uri_style=backup.uri_style,
        verify_tls="y" if backup.verify_tls else "n",
        retention_full=backup.retention_full,
        process_max=process_max,
        spool=PGBACKREST_SPOOL,
        queue_max=backup.archive_queue_max_mb,
        stanza=backup.stanza,
        pg_data=PG_DATA,
        port=POSTGRES_PORT,
        socket_dir=PG_SOCKET_DIR,
    )


def secret_document(backup: BackupTarget) -> dict[str, str]:
    """The repository's part of a member's sealed secrets: root's sync writes it to :data:`PGBACKREST_SECRETS`.

    The path moves with the passphrase: a rotated passphrase starts a new repository beside the old one (pgBackRest
    cannot re-encrypt one), whose backups stay readable with the old passphrase, kept in the stack's state."""
    if backup.cipher_pass is None:
        raise ValueError("the components always encrypt the repository: a BackupTarget needs its cipher_pass")
    return {
        "key_id": backup.key_id,
        "key_secret": backup.key_secret,
        "cipher_pass": backup.cipher_pass,
        "path": backup.path,
    }


def schedule_files(backup: BackupRepository | BackupTarget, schedule: BackupSchedule) -> list[dict[str, Any]]:
    """The backup script, its systemd service and the two timers (every database host), on ``schedule`` (which root's
    sync may change later with the timers' drop-ins)."""
    timer = schedule.document()  # the same values root's sync writes as the timers' drop-ins
    return [
        write_file(BACKUP_SCRIPT, payload.render("shell/backup.sh", stanza=backup.stanza), permissions="0755"),
        write_file(
            f"{SYSTEMD_DIR}/{BACKUP_SERVICE}",
            payload.render(f"systemd/{BACKUP_SERVICE}", db_service=PATRONI_SERVICE, backup_script=BACKUP_SCRIPT),
        ),
        *[
            write_file(
                f"{SYSTEMD_DIR}/{BACKUP_TIMER.format(kind=kind)}",
                payload.render(
                    "systemd/resilient-stack-backup.timer",
                    kind=kind,
                    calendar=timer[kind],
                    jitter_s=timer["jitter_s"],
                    unit=_service_instance(kind),
                ),
            )
            for kind in BACKUP_KINDS
        ],
    ]


def restore_file(backup: BackupRepository | BackupTarget) -> dict[str, Any]:
    """Patroni's custom bootstrap of a cluster restored from the repository (``bootstrap_from="backup"``)."""
    return write_file(
        RESTORE_SCRIPT, payload.render("shell/restore.sh", stanza=backup.stanza, data=PG_DATA), permissions="0755"
    )


def catch_up_files(backup: BackupRepository | BackupTarget) -> list[dict[str, Any]]:
    """The catch-up (every member; it acts on the primary only): its script, service and timer."""
    return [
        write_file(
            BACKUP_INIT_SCRIPT,
            payload.render(
                "shell/backup-init.sh",
                stanza=backup.stanza,
                state_dir=BACKUP_STATE_DIR,
                pg_data=PG_DATA,
                queue_max_mb=backup.archive_queue_max_mb,
                full_unit=_service_instance("full"),
                diff_unit=_service_instance("diff"),
                metrics=BACKUP_METRICS,
            ),
            permissions="0755",
        ),
        write_file(
            f"{SYSTEMD_DIR}/{BACKUP_INIT_SERVICE}",
            payload.render(f"systemd/{BACKUP_INIT_SERVICE}", db_service=PATRONI_SERVICE, script=BACKUP_INIT_SCRIPT),
        ),
        write_file(
            f"{SYSTEMD_DIR}/{BACKUP_INIT_TIMER}",
            payload.render(f"systemd/{BACKUP_INIT_TIMER}", unit=BACKUP_INIT_SERVICE),
        ),
    ]
