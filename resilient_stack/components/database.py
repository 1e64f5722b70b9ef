"""``DatabaseTier``: PostgreSQL members over several placements that fail over by themselves, backups elsewhere.

- Every member is a PostgreSQL host under Patroni with one etcd voting member
  (:func:`cloudinit.render_db_member`): the etcd members elect the primary, Patroni promotes the most advanced
  replica when the primary is lost, the other replicas follow it, and a former primary rejoins as a replica
  with ``pg_rewind``. The ``databaseRole: primary`` member initialises the cluster; after that the roles are
  Patroni's. Every member is a voting member (``resilient-stack:quorum=true``): the placement rules'
  ``site-majority`` on ``database`` is the check that the etcd majority survives the loss of any one site.
- Each member's public address is a port the placement's component made before any instance
  (``DatabaseMember.public_address``), so every member's user data names every other member (etcd's static
  cluster, ``pg_hba``) and the web hosts (``pg_hba`` of the application), with no cycle.
- Passwords (replication, ``pg_rewind``, Patroni's REST API, the application) are ``random.RandomPassword``
  resources: Pulumi secrets, never in the stack files. All user data is a Pulumi secret.
- WAL and backups go with pgBackRest to an S3-compatible object-storage container in the backup placement
  (labels ``resilient-stack:role=backup``, ``resilient-stack:protects=database``; object versioning on when
  ``BackupStore.versioning``), with the keys of a dedicated object-store user created outside the stack
  (:class:`BackupKeys`, Pulumi secrets; never a credential of the deploying user), encrypted by pgBackRest
  (``aes-256-cbc``) with a generated passphrase (``random.RandomPassword``, a secret). Only the primary archives
  and backs up.
- Each member's ``db`` security group admits, as /32s and nothing wider: PostgreSQL, etcd's peer port and
  Patroni's REST API from every OTHER member; PostgreSQL from every web host (``app_clients``). Never
  0.0.0.0/0 or ::/0; etcd's client port stays on each host's loopback.

Production safety: every member's data (PostgreSQL's data directory and etcd's member data) lives on a
block-storage volume of its own (``openstack.blockstorage.Volume``, protected and kept on delete), attached by an
``openstack.compute.VolumeAttach``; the instances ignore changes to their image name and user data (boot
configuration), so a routine ``pulumi up`` never replaces a database host. Replacing one is explicit
(``pulumi up --replace URN``, one site at a time: the new host boots from the current image and user data), and the
new host re-attaches the volume and rejoins as the same member. What changes routinely (the web hosts'
addresses and the networks ``pg_hba`` admits) reaches the running hosts through the instances' ``metadata``, updated
in place (:mod:`resilient_stack.hosts.runtime`).

Before creating anything the tier checks its own placements with the rules
(:func:`resilient_stack.components.stack_config.check_design`): fewer than two sites, a member majority on one site,
or backups on a site that holds a member refuse the tier (:class:`~resilient_stack.core.rules.DesignRejected`).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence, cast

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from resilient_stack.components.hostopts import host_options, label_tags, metadata
from resilient_stack.components.stack_config import check_design
from resilient_stack.core.catalog import Catalog
from resilient_stack.core.design import Design
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.vocabulary import (
    BACKUP,
    CLUSTER_PORTS,
    DATABASE,
    ETCD_PEER_PORT,
    EXEMPT_KEY,
    PATRONI_API_PORT,
    PLACEMENT_NAME_RE,
    POSTGRES_PORT,
    SQL_IDENT_RE,
    STORAGE_OF_KEY,
    header_safe,
    labels,
)
from resilient_stack.hosts import cloudinit, runtime

TYPE_TOKEN = "resilient-stack:database:DatabaseTier"
PASSWORDS = ("replication", "rewind", "api", "app")  # Patroni's replication and pg_rewind roles, its REST API, the app
CIPHER_PASS_LENGTH = 64  # pgBackRest's repository passphrase (letters and digits)
RULE_KINDS = {POSTGRES_PORT: "pg", ETCD_PEER_PORT: "etcd", PATRONI_API_PORT: "patroni"}  # rule names, per port


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
        replication_cidrs: further networks admitted for replication (the members always are).
        app_cidrs: further networks the application connects from (``pg_hba`` of every member; the ``db``
            security groups get them from the placements' components).
        app_database, app_user, replication_user: SQL identifiers.
        bootstrap_from: ``empty`` (initdb) or ``backup``: a new cluster is restored from the backup repository.
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
    rule_config: RuleConfig | None = None
    catalog: Catalog | None = field(default=None, compare=False)

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
            return {"cloud": w.cloud, "auth_url": w.auth_url, "region": w.region, "availability_zone": w.availability_zone}

        return Design.model_validate({
            "name": self.prefix,
            "placements": [
                {"name": m.placement, **where(m.where), "replicas": {DATABASE: 1}, "quorum": [DATABASE],
                 "exempt": m.exempt}
                for m in self.members
            ],
            "backups": [{"name": self.backup.name, "protects": DATABASE, **where(self.backup.where),
                         "exempt": self.backup.exempt}],
            "quorum_roles": [DATABASE],
        })

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
            raise ValueError("backup_keys: the keys of the backup repository's dedicated object-store user are "
                             "required (BackupKeys); the tier never uses a credential of the deploying user")
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
        for what, cidrs in (("replication_cidrs", self.replication_cidrs), ("app_cidrs", self.app_cidrs)):
            for c in cidrs:
                net = ipaddress.ip_network(c, strict=True)
                if net.prefixlen == 0:
                    raise ValueError(f"{what}: {c} would open PostgreSQL to the whole Internet")
        clients = [c.name for c in self.app_clients]
        if len(set(clients)) != len(clients):
            raise ValueError("app_clients: a host appears twice")
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
            endpoint=self.backup.s3_endpoint, bucket=self.backup.container, region=self.backup.s3_region,
            uri_style=self.backup.uri_style, retention_full=self.backup.retention_full,
            archive_queue_max_mb=self.backup.archive_queue_max_mb,
        )

    def backup_target(self, key_id: str, key_secret: str, cipher_pass: str) -> cloudinit.BackupTarget:
        """The pgBackRest repository with these S3 credentials and its passphrase, as the database hosts get it."""
        return self.backup_repository().with_credentials(key_id, key_secret, cipher_pass)


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(ipaddress.ip_network(v, strict=True)) for v in values))


# --------------------------------------------------------------------------------------------------
# Pure helpers: names and user data
# --------------------------------------------------------------------------------------------------


def host_name(args: DatabaseTierArgs, placement: str) -> str:
    """The database host of ``placement``: ``<prefix>-<placement>-db``."""
    return f"{args.prefix}-{placement}-db"


def _member_settings(
    args: DatabaseTierArgs, member: DatabaseMember, members: list[cloudinit.ClusterMember], client_ips: Sequence[str],
) -> dict:
    """What a member's user data is rendered from, secrets and backup aside (renderer and validator)."""
    return dict(
        name=host_name(args, member.placement), members=members, bootstrap=member.role == "primary",
        scope=args.prefix, app_cidrs=_unique([*[f"{ip}/32" for ip in client_ips], *args.app_cidrs]),
        replication_cidrs=_unique(args.replication_cidrs), admin_cidrs=_unique(args.admin_cidrs),
        replication_user=args.replication_user,
        app_user=args.app_user, app_db=args.app_database, ssh_authorized_keys=list(args.ssh_public_keys),
        bootstrap_from=args.bootstrap_from,
    )


def member_user_data(
    args: DatabaseTierArgs, member: DatabaseMember, *, addresses: Sequence[str], client_ips: Sequence[str],
    passwords: dict[str, str], key_id: str, key_secret: str, cipher_pass: str, data_volume_id: str,
) -> str:
    """A member's ``#cloud-config`` (see :func:`cloudinit.render_db_member`); ``addresses``: every member's public
    address in ``args.members`` order, ``client_ips``: the application hosts' addresses."""
    members = [cloudinit.ClusterMember(host_name(args, m.placement), a) for m, a in zip(args.members, addresses)]
    return cloudinit.render_db_member(
        replication_password=passwords["replication"], rewind_password=passwords["rewind"],
        api_password=passwords["api"], app_password=passwords["app"] if member.role == "primary" else None,
        backup=args.backup_target(key_id, key_secret, cipher_pass), data_volume_id=data_volume_id,
        **_member_settings(args, member, members, client_ips),
    )


def member_runtime(
    args: DatabaseTierArgs, member: DatabaseMember, *, addresses: Sequence[str], client_ips: Sequence[str],
) -> dict:
    """A member's runtime configuration (``pg_hba`` and the firewall's sets from the current members, web hosts and
    networks), for its instance's metadata, which the cloud updates in place."""
    members = [cloudinit.ClusterMember(host_name(args, m.placement), a) for m, a in zip(args.members, addresses)]
    settings = _member_settings(args, member, members, client_ips)
    doc = cloudinit.db_runtime(
        members=members, app_cidrs=settings["app_cidrs"], replication_cidrs=settings["replication_cidrs"],
        admin_cidrs=settings["admin_cidrs"], replication_user=args.replication_user, app_user=args.app_user, app_db=args.app_database)
    return doc


def _renderer(args: DatabaseTierArgs, member: DatabaseMember) -> Callable[[list], str]:
    n, c = len(args.members), len(args.app_clients)

    def render(values: list) -> str:
        data_volume_id, values = values[0], values[1:]
        addresses, clients = values[:n], values[n:n + c]
        secrets = values[n + c:]
        passwords = dict(zip(PASSWORDS, secrets[:len(PASSWORDS)]))
        cipher_pass, key_id, key_secret = secrets[len(PASSWORDS):]
        return member_user_data(args, member, addresses=addresses, client_ips=clients, passwords=passwords,
                                key_id=key_id, key_secret=key_secret, cipher_pass=cipher_pass,
                                data_volume_id=data_volume_id)

    return render


class DatabaseTier(pulumi.ComponentResource):
    """PostgreSQL members under Patroni over etcd, over several placements; pgBackRest to object storage."""

    passwords: dict[str, pulumi.Output[str]]
    app_password: pulumi.Output[str]
    backup_container: openstack.objectstorage.Container
    backup_cipher_pass: pulumi.Output[str]
    instances: dict[str, openstack.compute.Instance]
    volumes: dict[str, openstack.blockstorage.Volume]
    primary: openstack.compute.Instance
    primary_address: pulumi.Output[str]
    addresses: pulumi.Output[dict[str, str]]
    hosts: pulumi.Output[list[str]]
    connection_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: DatabaseTierArgs, opts: pulumi.ResourceOptions | None = None, *,
        enforce_rules: bool = True,
    ) -> None:
        if not isinstance(args, DatabaseTierArgs):
            raise TypeError("args must be a DatabaseTierArgs")
        args.validate(enforce_rules=enforce_rules)
        super().__init__(TYPE_TOKEN, name, None, opts)
        mine = pulumi.ResourceOptions(parent=self)
        backup_opts = pulumi.ResourceOptions(parent=self, provider=args.backup.provider)

        generated = {
            kind: random.RandomPassword(f"{name}-{kind}-password", length=args.password_length, special=False,
                                        opts=mine)
            for kind in PASSWORDS
        }
        self.passwords = {kind: pulumi.Output.secret(p.result) for kind, p in generated.items()}
        self.app_password = self.passwords["app"]

        self.backup_container = openstack.objectstorage.Container(
            f"{name}-backups", name=args.backup.container,
            metadata=header_safe(labels(BACKUP, protects=DATABASE, exempt=args.backup.exempt)),
            versioning=args.backup.versioning,
            opts=pulumi.ResourceOptions.merge(
                backup_opts, pulumi.ResourceOptions(retain_on_delete=args.backup.retain_on_delete),
            ),
        )
        # pgBackRest encrypts the repository with it; kept in the state (a secret): a restore on new hosts needs it
        cipher = random.RandomPassword(f"{name}-backup-cipher-password", length=CIPHER_PASS_LENGTH, special=False,
                                       opts=mine)
        self.backup_cipher_pass = pulumi.Output.secret(cipher.result)
        assert args.backup_keys is not None  # validate() said so

        inputs = [
            *[m.public_address for m in args.members], *[c.address for c in args.app_clients],
            *[generated[kind].result for kind in PASSWORDS], cipher.result,
            args.backup_keys.access_key, args.backup_keys.secret_key,
        ]
        self.volumes = {m.placement: self._volume(name, args, m) for m in args.members}
        n, c = len(args.members), len(args.app_clients)
        self.instances = {
            m.placement: self._host(
                name, args, m,
                pulumi.Output.all(self.volumes[m.placement].id, *inputs).apply(_renderer(args, m)),
                metadata(
                    labels(DATABASE, quorum=True, exempt=m.exempt),
                    pulumi.Output.all(*inputs[:n + c]).apply(
                        lambda v, m=m: member_runtime(args, m, addresses=v[:n], client_ips=v[n:n + c])),
                    member_runtime(args, m, addresses=[runtime.widest_address(i) for i in range(n)],
                                   client_ips=[runtime.widest_address(n + i) for i in range(c)])),
            )
            for m in args.members
        }
        self.primary = self.instances[args.primary.placement]
        self.primary_address = pulumi.Output.from_input(args.primary.public_address)
        self._rules(name, args)

        placements = [m.placement for m in args.members]
        self.addresses = pulumi.Output.all(*[m.public_address for m in args.members]).apply(
            lambda ips: dict(zip(placements, ips))
        )
        self.hosts = pulumi.Output.all(*[m.public_address for m in args.ordered]).apply(list)
        self.connection_url = self.hosts.apply(lambda hosts: cloudinit.connection_url(
            cloudinit.AppDatabase(hosts=tuple(hosts), dbname=args.app_database, user=args.app_user)))
        self.register_outputs({
            "primaryAddress": self.primary_address,
            "addresses": self.addresses,
            "connectionUrl": self.connection_url,
            "backupContainer": self.backup_container.name,
        })

    def _rules(self, name: str, args: DatabaseTierArgs) -> None:
        """Each member's ``db`` group: PostgreSQL, etcd's peers and Patroni's API from every OTHER member,
        PostgreSQL from every application host; each source a /32."""

        def rule(member: DatabaseMember, suffix: str, port: int, source: pulumi.Input[str], what: str) -> None:
            openstack.networking.SecGroupRule(
                f"{name}-{member.placement}-{suffix}",
                security_group_id=member.database_security_group_id, direction="ingress", ethertype="IPv4",
                protocol="tcp", port_range_min=port, port_range_max=port,
                remote_ip_prefix=pulumi.Output.from_input(source).apply(lambda ip: f"{ip}/32"),
                description=f"{CLUSTER_PORTS[port]} from {what}",
                opts=pulumi.ResourceOptions(parent=self, provider=member.provider),
            )

        for member in args.members:
            for other in args.members:
                if other.placement == member.placement:
                    continue
                for port, kind in RULE_KINDS.items():
                    rule(member, f"{kind}-from-{other.placement}", port, other.public_address,
                         f"the database member in {other.placement}")
            for client in args.app_clients:
                rule(member, f"pg-from-{client.name}", POSTGRES_PORT, client.address, f"the web host {client.name}")

    def _volume(self, name: str, args: DatabaseTierArgs, member: DatabaseMember) -> openstack.blockstorage.Volume:
        """The member's data volume: protected (a preview that would replace or delete it fails) and kept in the
        cloud when Pulumi forgets it."""
        return openstack.blockstorage.Volume(
            f"{name}-{member.placement}-data",
            name=f"{host_name(args, member.placement)}-data", size=args.volume_size, volume_type=args.volume_type,
            availability_zone=member.where.availability_zone,
            description=f"data of {host_name(args, member.placement)}: PostgreSQL and etcd (resilient-stack)",
            # part of the member's replica (the rules count the instance, which burns with it)
            metadata={STORAGE_OF_KEY: DATABASE, **({EXEMPT_KEY: member.exempt} if member.exempt else {})},
            opts=pulumi.ResourceOptions(parent=self, provider=member.provider, protect=True, retain_on_delete=True),
        )

    def _host(
        self, name: str, args: DatabaseTierArgs, member: DatabaseMember, user_data: pulumi.Output[str],
        metadata: dict[str, pulumi.Input[str]],
    ) -> openstack.compute.Instance:
        instance = openstack.compute.Instance(
            f"{name}-{member.placement}",
            name=host_name(args, member.placement),
            flavor_name=member.flavor,
            image_name=member.image,
            availability_zone=member.where.availability_zone,
            networks=[
                openstack.compute.InstanceNetworkArgs(port=member.public_port_id, access_network=True),
                openstack.compute.InstanceNetworkArgs(uuid=member.network_id),
            ],
            security_groups=list(member.security_group_names),
            scheduler_hints=(
                [openstack.compute.InstanceSchedulerHintArgs(group=member.server_group_id)]
                if member.server_group_id is not None else None
            ),
            metadata=metadata,  # labels + runtime configuration: updated in place
            tags=label_tags(labels(DATABASE, quorum=True, exempt=member.exempt)),
            user_data=pulumi.Output.secret(cast(pulumi.Input[str], user_data)),  # holds the passwords
            opts=host_options(pulumi.ResourceOptions(parent=self, provider=member.provider),
                              depends_on=member.depends_on, protect=True),  # replaced only when unprotected
        )
        # attached once the instance exists (its first boot waits for the device); a replacement host gets a
        # new attachment of the same volume, after the old host and its attachment are gone
        openstack.compute.VolumeAttach(
            f"{name}-{member.placement}-data-attach", instance_id=instance.id,
            volume_id=self.volumes[member.placement].id,
            opts=pulumi.ResourceOptions(parent=self, provider=member.provider, delete_before_replace=True),
        )
        return instance
