"""``resilient-stack:backups`` and the backup repository's keys: where pgBackRest keeps WAL and backups, and with
which credential.

The keys are never the deploying user's: they belong to a dedicated object-store user created outside the stack
(per provider: ``docs/operations.md#the-backup-credential``), given to the stack as Pulumi secrets::

    pulumi config set --secret backupS3AccessKey AKIA...      # bare keys: the project's namespace
    pulumi config set --secret backupS3SecretKey ...

Without them a preview (and the mock runner, which previews) renders the hosts with :data:`PREVIEW_KEYS`, and a
``pulumi up`` refuses (:mod:`resilient_stack.components.readiness`): nothing falls back to a project-wide key.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from resilient_stack.components.config_base import CloudName, ConfigModel, as_the_cloud_compares
from resilient_stack.core.vocabulary import AUTH_URL, BUCKET, PLACEMENT_NAME, S3_ENDPOINT, S3_REGION
from resilient_stack.hosts import backup, cloudinit

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SECRET_CONFIG_KEYS", "PREVIEW_KEYS", "BackupConfig", "ScheduleSettings"]

ACCESS_KEY = "backupS3AccessKey"  # bare config keys (in the stack's namespace)
SECRET_KEY = "backupS3SecretKey"
SECRET_CONFIG_KEYS = (ACCESS_KEY, SECRET_KEY)  # given with `pulumi config set --secret`; unreadable by the mock runner
# What a preview renders into the hosts when the keys are not set (the hosts of a preview never boot, but the
# mock runner's and the fire drill's do: their S3 stand-in accepts any key). Never deployed: `pulumi up` refuses.
PREVIEW_KEYS = ("preview-no-backup-key", "preview-no-backup-secret")


class ScheduleSettings(ConfigModel):
    """``backups.schedule``: when the primary takes its backups (systemd ``OnCalendar`` expressions, the hosts' UTC
    time). It reaches running members through their metadata: a new schedule replaces no host. Pair a shorter one
    with `monitoring.thresholds.backupMaxAgeHours`."""

    full: str = Field(
        default=backup.FULL_CALENDAR,
        min_length=1,
        max_length=64,
        description="When a full backup starts (every Sunday at 02:00 by default).",
    )
    differential: str = Field(
        default=backup.DIFF_CALENDAR,
        min_length=1,
        max_length=64,
        description="When a differential backup (what changed since the last full one) starts. `*:0/5`: every five "
        "minutes, e.g. to try the backup alerts.",
    )
    jitter_minutes: int = Field(
        default=15,
        ge=0,
        le=backup.JITTER_MAX_MINUTES,
        description="Each start is delayed by a random time up to this (systemd `RandomizedDelaySec`), so that "
        "stacks sharing an object store do not all start at once; 0 with a schedule of minutes.",
    )

    @model_validator(mode="after")
    def _systemd_calendars(self) -> "ScheduleSettings":
        self.schedule()
        return self

    def schedule(self) -> backup.BackupSchedule:
        return backup.BackupSchedule(full=self.full, diff=self.differential, jitter_minutes=self.jitter_minutes)


class BackupConfig(ConfigModel):
    """``resilient-stack:backups``: the object-storage placement holding the pgBackRest repository (WAL archive,
    weekly full and daily differential backups, encrypted by pgBackRest with a generated passphrase). It must be on
    a site that holds no database member (``backup-colocated``), and should be in a cloud project that holds none
    (``backup-shares-project``, advisory by default). Its keys are the Pulumi secrets `backupS3AccessKey` /
    `backupS3SecretKey` of a dedicated object-store user."""

    name: str = Field(
        default="backups",
        min_length=1,
        max_length=20,
        pattern=PLACEMENT_NAME,
        description="Placement name of the backup store; not one of the `placements[]` names.",
    )
    cloud: CloudName | None = Field(
        default=None,
        min_length=1,
        description="The `clouds.yaml` entry of the backup store's project. An entry of a project that holds no "
        "database member (production: `ovh-backups`, a second OVHcloud Public Cloud project) keeps the backups out "
        "of reach of the members' project credentials; the same entry as a database placement's is the advisory "
        "`backup-shares-project`.",
    )
    auth_url: str | None = Field(
        default=None,
        min_length=1,
        pattern=AUTH_URL,
        description="The Keystone URL of the backup store's provider.",
    )
    region: CloudName = Field(
        min_length=1,
        max_length=128,
        description="Region of the backup container (`DE1`): a site that holds no database member.",
    )
    availability_zone: CloudName | None = Field(
        default=None,
        min_length=1,
        description="Availability zone, in multi-AZ regions.",
    )
    s3_endpoint: str = Field(
        min_length=1,
        max_length=253,
        pattern=S3_ENDPOINT,
        description="S3 API host of that object storage, `host[:port]` without scheme (given, never looked up). "
        "OVHcloud: `s3.<region>.cloud.ovh.net` for Swift containers, e.g. `s3.de.cloud.ovh.net`; check your "
        "project's Object Storage page.",
    )
    s3_region: str = Field(min_length=1, max_length=63, pattern=S3_REGION, description="S3 region name (`de`).")
    container: str | None = Field(
        default=None,
        pattern=BUCKET,
        description="Container (bucket) name, by S3 rules (lower case); unset: `<name>-pgbackrest`, with the stack's "
        "`name`.",
    )
    uri_style: Literal["host", "path"] = Field(
        default="path",
        description="S3 addressing of pgBackRest: `path`, or `host` (virtual-hosted).",
    )
    retention_full: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Full backups pgBackRest keeps (one a week by the default `schedule`).",
    )
    retain_on_delete: bool = Field(
        default=True,
        description="Keep the container, and the backups in it, on `pulumi destroy` (delete it by hand).",
    )
    versioning: bool = Field(
        default=True,
        description="Object versioning on the container (Swift `X-Versions-Enabled`, which Swift's S3 API shows as "
        "S3 versioning): an object pgBackRest (or anyone with its key) overwrites or deletes is kept as an older "
        "version. What it protects against depends on the key's rights: see docs/operations.md#the-backup-credential.",
    )
    archive_queue_max_mb: int = Field(
        default=1024,
        ge=16,
        le=1_000_000,
        description="WAL is archived asynchronously; when this much (MiB) waits for a repository that cannot be "
        "reached, pgBackRest drops it from the archive (`archive-push-queue-max`) rather than fill the primary's "
        "disk: the archive then has a gap until the next backup, which the hosts start by themselves once the "
        "repository answers again. Keep it well below the data disk's free space.",
    )
    schedule: ScheduleSettings = Field(
        default_factory=ScheduleSettings,
        description="When the backups run (`full`, `differential`, `jitterMinutes`); by default a full backup on "
        "Sundays and a differential one the other days, at 02:00 UTC and up to 15 minutes later.",
    )
    exempt: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Exemption reason for the backup store.",
    )

    _names = field_validator("cloud", "region", "availability_zone")(as_the_cloud_compares)

    @model_validator(mode="after")
    def _usable_by_pgbackrest(self) -> "BackupConfig":
        # the database hosts' pgBackRest repository (the container is named later when not given here)
        bucket = {"bucket": self.container} if self.container is not None else {}
        cloudinit.validate_backup_repository(
            endpoint=self.s3_endpoint,
            region=self.s3_region,
            uri_style=self.uri_style,
            retention_full=self.retention_full,
            archive_queue_max_mb=self.archive_queue_max_mb,
            **bucket,
        )
        return self
