"""``DatabaseTier``: a PostgreSQL primary in one placement, streaming replicas in the others, backups elsewhere.

- Passwords (replication, application) are ``random.RandomPassword`` resources: Pulumi secrets, never in
  the stack files.
- The primary's user data comes from :func:`cloudinit.render_db_primary`; each replica's from
  :func:`cloudinit.render_db_replica` with the primary's address (its instance's ``access_ip_v4``, the
  public address on the external network) passed as an Output. All user data is a Pulumi secret.
- WAL and backups go with pgBackRest to an S3-compatible object-storage container in the backup
  placement (labels ``resilient-stack:role=backup``, ``resilient-stack:protects=database``), with S3
  credentials from ``identity.Ec2CredentialV3`` on the backup placement's provider (secret outputs).
- Every member is a voting member (``resilient-stack:quorum=true``).
- PostgreSQL 5432 in each member's ``db`` security group: the placement's component already admits the
  stack's private networks; this tier adds every OTHER member's public address as a /32 (replication
  crosses regions and providers over the public addresses). Never 0.0.0.0/0 or ::/0.

Before creating anything the tier checks its own placements with the rules
(:func:`resilient_stack.components.stack_config.check_design`): fewer than two sites, a member majority on one site,
or backups on a site that holds a member refuse the tier (:class:`~resilient_stack.core.rules.DesignRejected`).

Replication and ``pg_hba``: the replicas are created after the primary (they need its address), so the
primary's ``pg_hba`` cannot name the replicas' addresses; it admits replication from the private
networks plus ``replication_cidrs``. The exact per-host filter is the security groups' /32 rules.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Callable, Literal, Sequence, cast

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from resilient_stack.components.stack_config import check_design
from resilient_stack.core.catalog import Catalog
from resilient_stack.core.design import Design
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.vocabulary import (
    BACKUP,
    DATABASE,
    PLACEMENT_NAME_RE,
    POSTGRES_PORT,
    SQL_IDENT_RE,
    header_safe,
    labels,
)
from resilient_stack.hosts import cloudinit

TYPE_TOKEN = "resilient-stack:database:DatabaseTier"


@dataclass(frozen=True)
class Where:
    """Where a member or the backup store runs, as the catalog identifies it."""

    region: str
    cloud: str | None = None
    auth_url: str | None = None
    availability_zone: str | None = None


@dataclass(frozen=True)
class DatabaseMember:
    """One PostgreSQL host: the primary or a replica, in one placement.

    Attributes:
        placement: the placement's name.
        role: ``primary`` or ``replica``.
        provider: the placement's explicit provider.
        where: its region (and cloud / auth URL / AZ) for the placement rules.
        flavor, image: NAMES of the host's flavor and image.
        external_network: NAME of the public network (first NIC: the address replication uses).
        network_id: the placement's private network.
        security_group_names: groups of the host (the placement's ``db`` and ``admin`` groups).
        database_security_group_id: the ``db`` group, which gets the other members' /32 rules.
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
    external_network: str
    network_id: pulumi.Input[str]
    security_group_names: Sequence[pulumi.Input[str]]
    database_security_group_id: pulumi.Input[str]
    server_group_id: pulumi.Input[str] | None = None
    depends_on: Sequence[pulumi.Resource] = ()
    exempt: str | None = None


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
    exempt: str | None = None


@dataclass(frozen=True)
class DatabaseTierArgs:
    """The tier: members (exactly one primary), the backup store and PostgreSQL settings.

    Attributes:
        members: the PostgreSQL hosts, one per placement.
        backup: where WAL and backups go.
        prefix: prefix of cloud-side names and host names.
        private_cidrs: the stack's private networks (replication and application access).
        replication_cidrs: further networks the primary admits for replication (see the module doc).
        app_cidrs: further networks the application connects from (``pg_hba`` of every member and the
            ``db`` security groups), e.g. the public networks of web hosts in other regions.
        app_database, app_user, replication_user: SQL identifiers.
        password_length: length of the generated passwords.
        ssh_public_keys: public keys for the image's default user.
        rule_config, catalog: the rules' settings and catalog (defaults: built-in).
    """

    members: Sequence[DatabaseMember]
    backup: BackupStore
    prefix: str
    private_cidrs: Sequence[str]
    replication_cidrs: Sequence[str] = ()
    app_cidrs: Sequence[str] = ()
    app_database: str = "app"
    app_user: str = "app"
    replication_user: str = "replicator"
    password_length: int = 32
    ssh_public_keys: Sequence[str] = ()
    rule_config: RuleConfig | None = None
    catalog: Catalog | None = field(default=None, compare=False)

    @property
    def primary(self) -> DatabaseMember:
        return next(m for m in self.members if m.role == "primary")

    @property
    def replicas(self) -> list[DatabaseMember]:
        return [m for m in self.members if m.role == "replica"]

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
        if not PLACEMENT_NAME_RE.match(self.prefix) or len(f"{self.prefix}-{max(names, key=len)}-db") > 63:
            raise ValueError("prefix must be lower-case letters, digits and dashes, short enough for host names")
        for ident in ("app_database", "app_user", "replication_user"):
            if not SQL_IDENT_RE.match(getattr(self, ident)):
                raise ValueError(f"{ident} must be a lower-case SQL identifier")
        if self.app_user == self.replication_user:
            raise ValueError("app_user and replication_user must differ")
        if not 16 <= self.password_length <= 128:
            raise ValueError("password_length must be in 16..128")
        for what, cidrs in (("private_cidrs", self.private_cidrs), ("replication_cidrs", self.replication_cidrs),
                            ("app_cidrs", self.app_cidrs)):
            for c in cidrs:
                net = ipaddress.ip_network(c, strict=True)
                if net.prefixlen == 0:
                    raise ValueError(f"{what}: {c} would open PostgreSQL to the whole Internet")
        if not self.private_cidrs:
            raise ValueError("private_cidrs: name the stack's private networks")
        # The hosts layer's rule for each role refuses what the hosts could not use (identifiers, networks,
        # the S3 repository...) now, not at apply time when the secrets and the primary's address exist.
        repository = self.backup_repository()
        cloudinit.validate_db_primary(backup=repository, **_primary_settings(self))
        for member in self.replicas:
            cloudinit.validate_db_replica(backup=repository, **_replica_settings(self, member, primary_address=None))
        if enforce_rules:
            check_design(self.design(), self.rule_config, self.catalog)

    def backup_repository(self) -> cloudinit.BackupRepository:
        """The pgBackRest repository for :mod:`resilient_stack.hosts.cloudinit`, without credentials."""
        return cloudinit.BackupRepository(
            endpoint=self.backup.s3_endpoint, bucket=self.backup.container, region=self.backup.s3_region,
            uri_style=self.backup.uri_style, retention_full=self.backup.retention_full,
        )

    def backup_target(self, key_id: str, key_secret: str) -> cloudinit.BackupTarget:
        """The pgBackRest repository with these S3 credentials, as the database hosts get it."""
        return self.backup_repository().with_credentials(key_id, key_secret)


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(str(ipaddress.ip_network(v, strict=True)) for v in values))


# --------------------------------------------------------------------------------------------------
# Pure helpers: names and user data
# --------------------------------------------------------------------------------------------------


def host_name(args: DatabaseTierArgs, placement: str) -> str:
    """The database host of ``placement``: ``<prefix>-<placement>-db``."""
    return f"{args.prefix}-{placement}-db"


def replication_sources(args: DatabaseTierArgs) -> list[str]:
    """What the primary's ``pg_hba`` admits for replication: the private networks + ``replication_cidrs``."""
    return _unique([*args.private_cidrs, *args.replication_cidrs])


def _primary_settings(args: DatabaseTierArgs) -> dict:
    """What the primary's user data is rendered from, secrets and backup aside (renderer and validator)."""
    return dict(
        allowed_cidrs=replication_sources(args), app_cidrs=_unique([*args.private_cidrs, *args.app_cidrs]),
        replication_user=args.replication_user, app_user=args.app_user, app_db=args.app_database,
        hostname=host_name(args, args.primary.placement), ssh_authorized_keys=list(args.ssh_public_keys),
    )


def _replica_settings(args: DatabaseTierArgs, member: DatabaseMember, *, primary_address: str | None) -> dict:
    """A replica's, likewise; ``primary_address=None`` before the primary exists (validation)."""
    old_primary = [f"{primary_address}/32"] if primary_address is not None else []
    return dict(
        allowed_cidrs=_unique([*replication_sources(args), *old_primary]),
        app_cidrs=_unique([*args.private_cidrs, *args.app_cidrs]), primary_host=primary_address,
        replication_user=args.replication_user, app_user=args.app_user, app_db=args.app_database,
        hostname=host_name(args, member.placement), ssh_authorized_keys=list(args.ssh_public_keys),
    )


def primary_user_data(
    args: DatabaseTierArgs, *, replication_password: str, app_password: str, key_id: str, key_secret: str,
) -> str:
    """The primary's ``#cloud-config`` (see :func:`cloudinit.render_db_primary`)."""
    return cloudinit.render_db_primary(
        replication_password=replication_password, app_password=app_password,
        backup=args.backup_target(key_id, key_secret), **_primary_settings(args),
    )


def replica_user_data(
    args: DatabaseTierArgs, member: DatabaseMember, *, primary_address: str, replication_password: str,
    key_id: str, key_secret: str,
) -> str:
    """A replica's ``#cloud-config``: streams from ``primary_address`` (see :func:`cloudinit.render_db_replica`).

    Once promoted it admits replication from the same networks as the primary, plus the old primary.
    """
    return cloudinit.render_db_replica(
        replication_password=replication_password, backup=args.backup_target(key_id, key_secret),
        **_replica_settings(args, member, primary_address=primary_address),
    )


def _replica_renderer(args: DatabaseTierArgs, member: DatabaseMember) -> Callable[[list[str]], str]:
    def render(values: list[str]) -> str:
        primary_address, replication_password, key_id, key_secret = values
        return replica_user_data(
            args, member, primary_address=primary_address, replication_password=replication_password,
            key_id=key_id, key_secret=key_secret,
        )

    return render


class DatabaseTier(pulumi.ComponentResource):
    """PostgreSQL primary + streaming replicas over several placements, pgBackRest to object storage."""

    replication_password: pulumi.Output[str]
    app_password: pulumi.Output[str]
    backup_container: openstack.objectstorage.Container
    backup_credentials: openstack.identity.Ec2CredentialV3
    instances: dict[str, openstack.compute.Instance]
    primary: openstack.compute.Instance
    primary_address: pulumi.Output[str]
    addresses: pulumi.Output[dict[str, str]]

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

        replication = random.RandomPassword(
            f"{name}-replication-password", length=args.password_length, special=False, opts=mine,
        )
        app = random.RandomPassword(f"{name}-app-password", length=args.password_length, special=False, opts=mine)
        self.replication_password = pulumi.Output.secret(replication.result)
        self.app_password = pulumi.Output.secret(app.result)

        self.backup_container = openstack.objectstorage.Container(
            f"{name}-backups", name=args.backup.container,
            metadata=header_safe(labels(BACKUP, protects=DATABASE, exempt=args.backup.exempt)),
            opts=pulumi.ResourceOptions.merge(
                backup_opts, pulumi.ResourceOptions(retain_on_delete=args.backup.retain_on_delete),
            ),
        )
        self.backup_credentials = openstack.identity.Ec2CredentialV3(
            f"{name}-backup-credentials",
            opts=pulumi.ResourceOptions.merge(
                backup_opts, pulumi.ResourceOptions(additional_secret_outputs=["access", "secret"]),
            ),
        )

        access, secret = self.backup_credentials.access, self.backup_credentials.secret
        primary = args.primary
        self.primary = self._host(
            name, args, primary,
            pulumi.Output.all(replication.result, app.result, access, secret).apply(
                lambda v: primary_user_data(
                    args, replication_password=v[0], app_password=v[1], key_id=v[2], key_secret=v[3],
                )
            ),
        )
        self.primary_address = self.primary.access_ip_v4
        self.instances = {primary.placement: self.primary}
        for member in args.replicas:
            self.instances[member.placement] = self._host(
                name, args, member,
                pulumi.Output.all(self.primary.access_ip_v4, replication.result, access, secret).apply(
                    _replica_renderer(args, member)
                ),
            )

        # PostgreSQL from every OTHER member's public address, in each member's db security group.
        for member in args.members:
            for other in args.members:
                if other.placement == member.placement:
                    continue
                openstack.networking.SecGroupRule(
                    f"{name}-{member.placement}-pg-from-{other.placement}",
                    security_group_id=member.database_security_group_id, direction="ingress", ethertype="IPv4",
                    protocol="tcp", port_range_min=POSTGRES_PORT, port_range_max=POSTGRES_PORT,
                    remote_ip_prefix=self.instances[other.placement].access_ip_v4.apply(lambda ip: f"{ip}/32"),
                    description=f"PostgreSQL from the {other.role} in {other.placement}",
                    opts=pulumi.ResourceOptions(parent=self, provider=member.provider),
                )

        placements = list(self.instances)
        self.addresses = pulumi.Output.all(*[self.instances[p].access_ip_v4 for p in placements]).apply(
            lambda ips: dict(zip(placements, ips))
        )
        self.register_outputs({
            "primaryAddress": self.primary_address,
            "addresses": self.addresses,
            "backupContainer": self.backup_container.name,
        })

    def _host(
        self, name: str, args: DatabaseTierArgs, member: DatabaseMember, user_data: pulumi.Output[str],
    ) -> openstack.compute.Instance:
        return openstack.compute.Instance(
            f"{name}-{member.placement}",
            name=host_name(args, member.placement),
            flavor_name=member.flavor,
            image_name=member.image,
            availability_zone=member.where.availability_zone,
            networks=[
                openstack.compute.InstanceNetworkArgs(name=member.external_network, access_network=True),
                openstack.compute.InstanceNetworkArgs(uuid=member.network_id),
            ],
            security_groups=list(member.security_group_names),
            scheduler_hints=(
                [openstack.compute.InstanceSchedulerHintArgs(group=member.server_group_id)]
                if member.server_group_id is not None else None
            ),
            metadata=labels(DATABASE, quorum=True, exempt=member.exempt),
            user_data=pulumi.Output.secret(cast(pulumi.Input[str], user_data)),  # holds the passwords
            opts=pulumi.ResourceOptions(parent=self, provider=member.provider, depends_on=list(member.depends_on)),
        )
