"""The database tier's arguments, validated before any resource (:meth:`DatabaseTierArgs.validate`: the members, the
backup store, the design the rules judge), and the constants its secrets are made with. No resource is made here:
:mod:`resilient_stack.components.database` makes them.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Literal, Mapping, Sequence

import pulumi
import pulumi_openstack as openstack

from resilient_stack.components.stack_config import check_design
from resilient_stack.core.catalog import Catalog, load_catalog
from resilient_stack.core.design import Design
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.vocabulary import (
    DATABASE,
    ETCD_CLIENT_PORT,
    ETCD_PEER_PORT,
    PATRONI_API_PORT,
    PLACEMENT_NAME_RE,
    POSTGRES_PORT,
    SQL_IDENT_RE,
)
from resilient_stack.hosts import cloudinit

# The cluster's passwords: Patroni's replication and pg_rewind roles, its REST API, its etcd user
CLUSTER_PASSWORDS = ("replication", "rewind", "api", "etcd")
# What a rotation (a new generation) applies to; etcd's password is not rotated (docs/operations.md#rotating-secrets-and-renewing-certificates)
ROTATABLE = ("replication", "rewind", "api", "app", "backup", "certificates")
CIPHER_PASS_LENGTH = 64  # pgBackRest's repository passphrase (letters and digits)
WRITE_TOKEN_LENGTH = 40
CLUSTER_ID_LENGTH = 16
REPOSITORY_PATH = "/pgbackrest"  # the first passphrase's repository; generation n: /pgbackrest-g<n>
RULE_KINDS = {
    POSTGRES_PORT: "pg",
    ETCD_PEER_PORT: "etcd",
    ETCD_CLIENT_PORT: "etcd-client",
    PATRONI_API_PORT: "patroni",
}  # rule names, per port


@dataclass(frozen=True)
class Where:
    """Where a member or the backup store runs, as the catalog identifies it."""

    region: str
    cloud: str | None = None
    auth_url: str | None = None
    availability_zone: str | None = None


@dataclass(frozen=True)
class DatabaseMember:
    """One PostgreSQL host in one placement: ``primary`` (it initialises the cluster) or ``replica``.

    Attributes:
        placement: the placement's name.
        role: ``primary`` or ``replica``: the role at the cluster's creation (then Patroni's).
        provider: the placement's explicit provider.
        where: its region (and cloud / auth URL / AZ) for the placement rules.
        flavor, image: NAMES of the host's flavor and image.
        public_port_id: the port on the external network made for this host (its first NIC).
        public_address: that port's IPv4 address (known before the instance).
        network_id: the placement's private network (second NIC).
        security_group_names: groups of the host's private NIC (the public port wears the same).
        database_security_group_id: the ``db`` group, which gets the other members' and the web hosts' /32 rules.
        server_group_id: the placement's server group, or None.
        depends_on: resources the host must wait for (the private subnet).
        exempt: exemption reason for the labels, or None.
    """

    placement: str
    role: Literal["primary", "replica"]
    provider: openstack.Provider
    where: Where
    flavor: str
    image: str
    public_port_id: pulumi.Input[str]
    public_address: pulumi.Input[str]
    network_id: pulumi.Input[str]
    security_group_names: Sequence[pulumi.Input[str]]
    database_security_group_id: pulumi.Input[str]
    server_group_id: pulumi.Input[str] | None = None
    depends_on: Sequence[pulumi.Resource] = ()
    exempt: str | None = None


@dataclass(frozen=True)
class AppClient:
    """A host the application runs on (a web host): its name and public address, admitted as a /32."""

    name: str
    address: pulumi.Input[str]


@dataclass(frozen=True)
class BackupStore:
    """The object-storage placement that holds the pgBackRest repository (WAL + backups).

    ``s3_endpoint``/``s3_region``: the S3 API of that object storage (given, never looked up).
    """

    name: str
    provider: openstack.Provider
    where: Where
    container: str
    s3_endpoint: str
    s3_region: str
    uri_style: Literal["host", "path"] = "path"
    retention_full: int = 2
    retain_on_delete: bool = True
    versioning: bool = True
    archive_queue_max_mb: int = 1024
    exempt: str | None = None
    schedule: cloudinit.BackupSchedule = cloudinit.BackupSchedule()  # when the primary's backups run


@dataclass(frozen=True)
class BackupKeys:
    """The S3 keys of the backup repository's dedicated object-store user (created outside the stack): Pulumi
    secrets. The tier never creates a credential of the deploying user."""

    access_key: pulumi.Input[str]
    secret_key: pulumi.Input[str]


@dataclass(frozen=True)
class DatabaseTierArgs:
    """The tier: members (exactly one primary), the backup store and PostgreSQL settings.

    Attributes:
        members: the PostgreSQL hosts, one per placement.
        backup: where WAL and backups go.
        backup_keys: the repository's keys (required: the dedicated user's, see :class:`BackupKeys`).
        prefix: prefix of cloud-side names and host names; also the cluster's name (Patroni's scope).
        app_clients: the hosts the application runs on (the web hosts), admitted as /32s.
        monitoring_clients: the monitoring hosts, admitted to the exporters as /32s.
        replication_cidrs: further networks admitted for replication (the members always are).
        app_cidrs: further networks the application connects from (``pg_hba`` of every member; the ``db``
            security groups get them from the placements' components).
        app_database, app_user, replication_user: SQL identifiers.
        bootstrap_from: ``empty`` (initdb) or ``backup``: a new cluster is restored from the backup repository.
        synchronous: Patroni's synchronous mode (a commit is acknowledged once a standby in another site holds it).
        rotation: the current generation of each rotatable secret (:data:`ROTATABLE`; absent: 0).
        wal_keep_size_mb, max_wal_senders: replication tuning.
        password_length: length of the generated passwords.
        ssh_public_keys: public keys for the image's default user.
        volume_size: size of each member's data volume (GB); volume_type: its Cinder volume type (None: the
            cloud's default).
        admin_cidrs: networks the hosts' firewall admits to SSH (the ``admin`` security groups' too).
        rule_config, catalog: the rules' settings and catalog (defaults: built-in).
    """

    members: Sequence[DatabaseMember]
    backup: BackupStore
    prefix: str
    backup_keys: BackupKeys | None = None
    app_clients: Sequence[AppClient] = ()
    monitoring_clients: Sequence[AppClient] = ()
    replication_cidrs: Sequence[str] = ()
    app_cidrs: Sequence[str] = ()
    app_database: str = "app"
    app_user: str = "app"
    replication_user: str = "replicator"
    bootstrap_from: Literal["empty", "backup"] = "empty"
    password_length: int = 32
    ssh_public_keys: Sequence[str] = ()
    volume_size: int = 20
    volume_type: str | None = None
    admin_cidrs: Sequence[str] = ()
    synchronous: bool = False
    rotation: Mapping[str, int] = field(default_factory=dict)
    wal_keep_size_mb: int = 1024
    max_wal_senders: int = 10
    rule_config: RuleConfig | None = None
    catalog: Catalog | None = field(default=None, compare=False)

    def generation(self, kind: str) -> int:
        """The current generation of the secret ``kind`` (0 until it is first rotated)."""
        return int(self.rotation.get(kind, 0))

    @property
    def max_slot_wal_keep_size_mb(self) -> int:
        return cloudinit.storage_budget(
            volume_size_gb=self.volume_size,
            wal_keep_size_mb=self.wal_keep_size_mb,
            archive_queue_max_mb=self.backup.archive_queue_max_mb,
        )

    @property
    def primary(self) -> DatabaseMember:
        return next(m for m in self.members if m.role == "primary")

    @property
    def replicas(self) -> list[DatabaseMember]:
        return [m for m in self.members if m.role == "replica"]

    @property
    def ordered(self) -> list[DatabaseMember]:
        """The primary, then the replicas in their order: the order clients try the members in."""
        return [self.primary, *self.replicas]

    def design(self) -> Design:
        """The tier as a design: one voting ``database`` replica per member, and its backups."""

        def where(w: Where) -> dict:
            return {
                "cloud": w.cloud,
                "auth_url": w.auth_url,
                "region": w.region,
                "availability_zone": w.availability_zone,
            }

        return Design.model_validate(
            {
                "name": self.prefix,
                "placements": [
                    {
                        "name": m.placement,
                        **where(m.where),
                        "replicas": {DATABASE: 1},
                        "quorum": [DATABASE],
                        "exempt": m.exempt,
                    }
                    for m in self.members
                ],
                "backups": [
                    {
                        "name": self.backup.name,
                        "protects": DATABASE,
                        **where(self.backup.where),
                        "exempt": self.backup.exempt,
                    }
                ],
                "quorum_roles": [DATABASE],
            }
        )

    def validate(self, *, enforce_rules: bool = True) -> None:
        """Structural checks (ValueError naming the field), then the placement rules (DesignRejected;
        skipped with ``enforce_rules=False``, the fire drill's escape hatch: see ResilientWebStack)."""
        if not self.members:
            raise ValueError("members: at least one database member is needed")
        roles = [m.role for m in self.members]
        if roles.count("primary") != 1 or any(r not in ("primary", "replica") for r in roles):
            raise ValueError("members: exactly one primary, the others replicas")
        names = [m.placement for m in self.members]
        if len(set(names)) != len(names):
            raise ValueError("members: one member per placement")
        for m in self.members:
            if not PLACEMENT_NAME_RE.match(m.placement):
                raise ValueError(f"members: placement {m.placement!r} must be lower-case letters, digits and dashes")
            if not isinstance(m.provider, openstack.Provider):
                raise ValueError(f"members[{m.placement}].provider must be an explicit pulumi_openstack.Provider")
        if not isinstance(self.backup.provider, openstack.Provider):
            raise ValueError("backup.provider must be an explicit pulumi_openstack.Provider")
        if not isinstance(self.backup_keys, BackupKeys):
            raise ValueError(
                "backup_keys: the keys of the backup repository's dedicated object-store user are "
                "required (BackupKeys); the tier never uses a credential of the deploying user"
            )
        if not PLACEMENT_NAME_RE.match(self.prefix) or len(f"{self.prefix}-{max(names, key=len)}-db") > 63:
            raise ValueError("prefix must be lower-case letters, digits and dashes, short enough for host names")
        for ident in ("app_database", "app_user", "replication_user"):
            if not SQL_IDENT_RE.match(getattr(self, ident)):
                raise ValueError(f"{ident} must be a lower-case SQL identifier")
        if self.app_user == self.replication_user:
            raise ValueError("app_user and replication_user must differ")
        if not 16 <= self.password_length <= 128:
            raise ValueError("password_length must be in 16..128")
        if not 1 <= self.volume_size <= 16384:
            raise ValueError("volume_size must be in 1..16384 (GB)")
        self.max_slot_wal_keep_size_mb  # noqa: B018 - the volume's budget (ValueError when it is too small)
        for kind, value in self.rotation.items():
            if kind not in ROTATABLE:
                raise ValueError(f"rotation: {kind!r} is not rotated; rotatable: {', '.join(ROTATABLE)}")
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 1000:
                raise ValueError(f"rotation.{kind} must be an int in 0..1000")
        for what, cidrs in (("replication_cidrs", self.replication_cidrs), ("app_cidrs", self.app_cidrs)):
            for c in cidrs:
                net = ipaddress.ip_network(c, strict=True)
                if net.prefixlen == 0:
                    raise ValueError(f"{what}: {c} would open PostgreSQL to the whole Internet")
        clients = [c.name for c in self.app_clients]
        if len(set(clients)) != len(clients):
            raise ValueError("app_clients: a host appears twice")
        if self.synchronous:
            catalog = self.catalog or load_catalog()
            sites: dict[str, str] = {}
            for m in self.members:
                res = catalog.resolve(
                    region=m.where.region,
                    cloud=m.where.cloud,
                    auth_url=m.where.auth_url,
                    availability_zone=m.where.availability_zone,
                )
                site = res.region.site.physical_id if res.region is not None else f"unknown:{m.placement}"
                if site in sites:
                    raise ValueError(
                        f"synchronous: the database members in {sites[site]} and {m.placement} share a site "
                        f"({site}): Patroni may pick either as the other's synchronous standby, and one fire would "
                        "take both; give each member its own site, or turn synchronous off"
                    )
                sites[site] = m.placement
        # The hosts layer's rule refuses what the hosts could not use (identifiers, networks, the S3
        # repository...) now, not at apply time when the secrets and the addresses exist.
        repository = self.backup_repository()
        nameless = [cloudinit.ClusterMember(host_name(self, m.placement), None) for m in self.members]  # type: ignore[arg-type]
        for member in self.members:
            cloudinit.validate_db_member(backup=repository, **_member_settings(self, member, nameless, []))
        if enforce_rules:
            check_design(self.design(), self.rule_config, self.catalog)

    def backup_repository(self) -> cloudinit.BackupRepository:
        """The pgBackRest repository for :mod:`resilient_stack.hosts.cloudinit`, without credentials."""
        return cloudinit.BackupRepository(
            endpoint=self.backup.s3_endpoint,
            bucket=self.backup.container,
            region=self.backup.s3_region,
            uri_style=self.backup.uri_style,
            retention_full=self.backup.retention_full,
            archive_queue_max_mb=self.backup.archive_queue_max_mb,
        )

    def backup_target(self, key_id: str, key_secret: str, cipher_pass: str) -> cloudinit.BackupTarget:
        """The pgBackRest repository with these S3 credentials and its passphrase, as the database hosts get it."""
        return self.backup_repository().with_credentials(key_id, key_secret, cipher_pass)


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(ipaddress.ip_network(v, strict=True)) for v in values))


def host_name(args: DatabaseTierArgs, placement: str) -> str:
    """The database host of ``placement``: ``<prefix>-<placement>-db``."""
    return f"{args.prefix}-{placement}-db"


def _member_settings(
    args: DatabaseTierArgs,
    member: DatabaseMember,
    members: list[cloudinit.ClusterMember],
    client_ips: Sequence[str],
    monitoring_ips: Sequence[str] = (),
) -> dict:
    """What a member's user data is rendered from, secrets and backup aside (renderer and validator)."""
    return dict(
        name=host_name(args, member.placement),
        members=members,
        bootstrap=member.role == "primary",
        scope=args.prefix,
        app_cidrs=_unique([*[f"{ip}/32" for ip in client_ips], *args.app_cidrs]),
        replication_cidrs=_unique(args.replication_cidrs),
        admin_cidrs=_unique(args.admin_cidrs),
        monitoring=list(monitoring_ips),
        replication_user=args.replication_user,
        app_user=args.app_user,
        app_db=args.app_database,
        ssh_authorized_keys=list(args.ssh_public_keys),
        bootstrap_from=args.bootstrap_from,
        synchronous=args.synchronous,
        max_wal_senders=args.max_wal_senders,
        wal_keep_size_mb=args.wal_keep_size_mb,
        max_slot_wal_keep_size_mb=args.max_slot_wal_keep_size_mb,
        backup_schedule=args.backup.schedule,
    )
