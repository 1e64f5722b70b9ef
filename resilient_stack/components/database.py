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

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any, Mapping, Sequence, cast

import pulumi
import pulumi_openstack as openstack
import pulumi_random as random

from resilient_stack.components import credentials
from resilient_stack.components.database_args import (  # noqa: F401 - re-exported
    CIPHER_PASS_LENGTH,
    CLUSTER_ID_LENGTH,
    CLUSTER_PASSWORDS,
    REPOSITORY_PATH,
    ROTATABLE,
    RULE_KINDS,
    WRITE_TOKEN_LENGTH,
    AppClient,
    BackupKeys,
    BackupStore,
    DatabaseMember,
    DatabaseTierArgs,
    Where,
    _member_settings,
    _unique,
    host_name,
)
from resilient_stack.components.hostopts import host_options, label_tags, metadata
from resilient_stack.components.pki import ClusterPki, issue
from resilient_stack.core.vocabulary import (
    BACKUP,
    CLUSTER_PORTS,
    DATABASE,
    EXEMPT_KEY,
    EXPORTER_PORTS,
    POSTGRES_PORT,
    STORAGE_OF_KEY,
    header_safe,
    labels,
)
from resilient_stack.hosts import cloudinit, runtime
from resilient_stack.hosts import secrets as host_secrets

TYPE_TOKEN = "resilient-stack:database:DatabaseTier"


# --------------------------------------------------------------------------------------------------
# Pure helpers: names and user data
# --------------------------------------------------------------------------------------------------


def repository_path(generation: int) -> str:
    """The repository's path for the passphrase of ``generation`` (a rotated passphrase starts a new repository)."""
    return REPOSITORY_PATH if generation == 0 else f"{REPOSITORY_PATH}-g{generation}"


@dataclass(frozen=True)
class TierSecrets:
    """Every secret value of the tier once known (plain strings, inside an ``apply``)."""

    passwords: Mapping[str, str]  # CLUSTER_PASSWORDS -> the current generation's value
    app_passwords: tuple[str, ...]  # every generation, oldest first
    cipher_pass: str  # the current generation's passphrase
    key_id: str
    key_secret: str
    pki: Mapping[str, Any]  # ClusterPki's outputs
    cluster_id: str
    migrate_pass: str  # the release phase's role (it rotates with the application's)


def member_secrets(args: DatabaseTierArgs, member: DatabaseMember, s: TierSecrets) -> dict[str, Any]:
    """A member's secret document (:func:`cloudinit.db_secret_document`)."""
    host = host_name(args, member.placement)
    target = args.backup_repository().with_credentials(s.key_id, s.key_secret, s.cipher_pass)
    target = cloudinit.BackupTarget(
        **{
            **{f: getattr(target, f) for f in target.__dataclass_fields__},
            "path": repository_path(args.generation("backup")),
        }
    )
    return cloudinit.db_secret_document(
        cloudinit.DbSecrets(
            tls=cloudinit.MemberTls(
                ca=s.pki["caCert"],
                cert=s.pki["certs"][host],
                key=s.pki["keys"][host],
                admin_cert=s.pki["adminCerts"][host],
                admin_key=s.pki["adminKeys"][host],
            ),
            replication_password=s.passwords["replication"],
            rewind_password=s.passwords["rewind"],
            api_password=s.passwords["api"],
            etcd_password=s.passwords["etcd"],
            app_passwords=s.app_passwords,
            backup=target,
            migrate_password=s.migrate_pass,
        ),
        app_user=args.app_user,
    )


def member_user_data(
    args: DatabaseTierArgs,
    member: DatabaseMember,
    *,
    addresses: Sequence[str],
    client_ips: Sequence[str],
    secrets: TierSecrets,
    host_key: str,
    data_volume_id: str,
    monitoring_ips: Sequence[str] = (),
) -> str:
    """A member's ``#cloud-config`` (see :func:`cloudinit.render_db_member`); ``addresses``: every member's public
    address in ``args.members`` order, ``client_ips``: the application hosts' addresses."""
    members = [cloudinit.ClusterMember(host_name(args, m.placement), a) for m, a in zip(args.members, addresses)]
    return cloudinit.render_db_member(
        cluster_id=secrets.cluster_id,
        host_key=host_key,
        secrets_doc=member_secrets(args, member, secrets),
        backup=args.backup_repository(),
        data_volume_id=data_volume_id,
        **_member_settings(args, member, members, client_ips, monitoring_ips),
    )


def member_runtime(
    args: DatabaseTierArgs,
    member: DatabaseMember,
    *,
    addresses: Sequence[str],
    client_ips: Sequence[str],
    monitoring_ips: Sequence[str] = (),
) -> dict:
    """A member's runtime configuration (``pg_hba`` and the firewall's sets from the current members, web hosts and
    networks; Patroni's dynamic configuration; the SSH keys; the backup schedule), for its instance's metadata, which the cloud updates in
    place."""
    members = [cloudinit.ClusterMember(host_name(args, m.placement), a) for m, a in zip(args.members, addresses)]
    settings = _member_settings(args, member, members, client_ips, monitoring_ips)
    return cloudinit.db_runtime(
        members=members,
        app_cidrs=settings["app_cidrs"],
        replication_cidrs=settings["replication_cidrs"],
        admin_cidrs=settings["admin_cidrs"],
        monitoring=settings["monitoring"],
        replication_user=args.replication_user,
        app_user=args.app_user,
        app_db=args.app_database,
        backup=args.backup_repository(),
        backup_schedule=args.backup.schedule,
        synchronous=args.synchronous,
        max_wal_senders=args.max_wal_senders,
        wal_keep_size_mb=args.wal_keep_size_mb,
        max_slot_wal_keep_size_mb=args.max_slot_wal_keep_size_mb,
        ssh_keys=settings["ssh_authorized_keys"],
    )


def _tier_secrets(values: list, app_generations: int) -> TierSecrets:
    passwords = dict(zip(CLUSTER_PASSWORDS, values[: len(CLUSTER_PASSWORDS)]))
    rest = values[len(CLUSTER_PASSWORDS) :]
    apps, rest = tuple(rest[:app_generations]), rest[app_generations:]
    cipher, key_id, key_secret, cluster_id, migrate, ca_cert, ca_key, certs, keys, admin_certs, admin_keys = rest
    return TierSecrets(
        passwords=passwords,
        app_passwords=apps,
        cipher_pass=cipher,
        key_id=key_id,
        key_secret=key_secret,
        cluster_id=cluster_id,
        migrate_pass=migrate,
        pki={
            "caCert": ca_cert,
            "caKey": ca_key,
            "certs": certs,
            "keys": keys,
            "adminCerts": admin_certs,
            "adminKeys": admin_keys,
        },
    )


def widest_secrets(args: DatabaseTierArgs) -> TierSecrets:
    """Secrets of the greatest size the real ones can have (random-looking, incompressible, deterministic), for what
    must be sized before they exist: the metadata items' keys, the user data's budget."""

    def filler(label: str, length: int) -> str:
        return hashlib.sha512(label.encode()).hexdigest()[:length].ljust(length, "x")

    hosts = {host_name(args, m.placement): runtime.widest_address(i) for i, m in enumerate(args.members)}
    issued = pki_widest(args.prefix, hosts)
    return TierSecrets(
        passwords={k: filler(k, args.password_length) for k in CLUSTER_PASSWORDS},
        app_passwords=(filler("app0", args.password_length), filler("app1", args.password_length)),
        cipher_pass=filler("cipher", CIPHER_PASS_LENGTH),
        key_id=filler("key", 64),
        key_secret=filler("secret", 64),
        pki=issued,
        cluster_id=filler("cluster", CLUSTER_ID_LENGTH),
        migrate_pass=filler("migrate", args.password_length),
    )


METADATA_ITEMS = 128  # Nova's default quota of metadata items per instance


def check_budgets(args: DatabaseTierArgs, widest: TierSecrets) -> None:
    """Refuse (ValueError naming the host) what Nova would refuse at ``pulumi up``, already at preview: a member's
    user data over 65,535 bytes once packed, or more metadata items than Nova's default quota, measured on secrets
    and addresses of the greatest size."""
    n, c, mc = len(args.members), len(args.app_clients), len(args.monitoring_clients)
    widest_ips = [runtime.widest_address(i) for i in range(n + c + mc)]
    for m in args.members:
        host = host_name(args, m.placement)
        text = member_user_data(
            args,
            m,
            addresses=widest_ips[:n],
            client_ips=widest_ips[n : n + c],
            secrets=widest,
            host_key="k" * host_secrets.KEY_LENGTH,
            data_volume_id="0" * 36,
            monitoring_ips=widest_ips[n + c :],
        )
        credentials.packed_user_data(host, text)
        doc = member_runtime(
            args, m, addresses=widest_ips[:n], client_ips=widest_ips[n : n + c], monitoring_ips=widest_ips[n + c :]
        )
        try:
            runtime_items = len(runtime.encode(doc))
        except ValueError as exc:  # runtime.encode's own limit: name the host, as the other budgets do
            raise ValueError(f"the metadata of {host}: {exc}: fewer web hosts or networks") from None
        items = (
            runtime_items
            + credentials.slots_for(
                len(host_secrets.seal(member_secrets(args, m, widest), "k" * host_secrets.KEY_LENGTH))
            )
            + 4
        )
        if items > METADATA_ITEMS:
            raise ValueError(
                f"the metadata of {host} needs {items} items, over Nova's default quota of "
                f"{METADATA_ITEMS}: fewer web hosts or networks"
            )


def pki_widest(scope: str, hosts: Mapping[str, str]) -> dict[str, Any]:
    """The PKI's outputs for these hosts, issued deterministically (sizes as the real ones)."""
    return issue(
        {"scope": scope, "members": dict(hosts), "generation": 0},
        now=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc),
        seed=f"widest/{scope}",
    )


class DatabaseTier(pulumi.ComponentResource):
    """PostgreSQL members under Patroni over etcd, over several placements; pgBackRest to object storage."""

    passwords: dict[str, pulumi.Output[str]]
    app_passwords: list[pulumi.Output[str]]
    app_password: pulumi.Output[str]
    migrate_password: pulumi.Output[str]
    write_token: pulumi.Output[str]
    pki: ClusterPki
    ca_certificate: pulumi.Output[str]
    backup_container: openstack.objectstorage.Container
    backup_cipher_pass: pulumi.Output[str]
    backup_repositories: pulumi.Output[list]
    instances: dict[str, openstack.compute.Instance]
    volumes: dict[str, openstack.blockstorage.Volume]
    primary: openstack.compute.Instance
    primary_address: pulumi.Output[str]
    addresses: pulumi.Output[dict[str, str]]
    hosts: pulumi.Output[list[str]]
    connection_url: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        args: DatabaseTierArgs,
        opts: pulumi.ResourceOptions | None = None,
        *,
        enforce_rules: bool = True,
    ) -> None:
        if not isinstance(args, DatabaseTierArgs):
            raise TypeError("args must be a DatabaseTierArgs")
        args.validate(enforce_rules=enforce_rules)
        super().__init__(TYPE_TOKEN, name, None, opts)
        backup_opts = pulumi.ResourceOptions(parent=self, provider=args.backup.provider)

        # every generated secret: protected, in generations (credentials.generations)
        current = {
            kind: credentials.generations(
                name, kind, args.generation(kind) if kind in ROTATABLE else 0, length=args.password_length, parent=self
            )[-1]
            for kind in CLUSTER_PASSWORDS
        }
        self.passwords = {kind: pulumi.Output.secret(p.result) for kind, p in current.items()}
        app = credentials.generations(name, "app", args.generation("app"), length=args.password_length, parent=self)
        self.app_passwords = [pulumi.Output.secret(p.result) for p in app]
        self.app_password = self.app_passwords[-1]
        migrate = credentials.generations(
            name, "migrate", args.generation("app"), length=args.password_length, parent=self
        )[-1]
        self.migrate_password = pulumi.Output.secret(migrate.result)
        ciphers = credentials.generations(
            name, "backup", args.generation("backup"), length=CIPHER_PASS_LENGTH, parent=self
        )
        self.backup_cipher_pass = pulumi.Output.secret(ciphers[-1].result)
        self.backup_repositories = pulumi.Output.secret(
            pulumi.Output.all(*[c.result for c in ciphers]).apply(
                lambda passes: [
                    {"generation": g, "path": repository_path(g), "passphrase": p} for g, p in enumerate(passes)
                ]
            )
        )
        token = random.RandomPassword(
            f"{name}-app-write-token",
            length=WRITE_TOKEN_LENGTH,
            special=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.write_token = pulumi.Output.secret(token.result)
        cluster_id = random.RandomPassword(
            f"{name}-cluster-id",
            length=CLUSTER_ID_LENGTH,
            special=False,
            upper=False,
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.pki = ClusterPki(
            f"{name}-pki",
            scope=args.prefix,
            members=pulumi.Output.all(*[m.public_address for m in args.members]).apply(
                lambda ips: {host_name(args, m.placement): ip for m, ip in zip(args.members, ips)}
            ),
            generation=args.generation("certificates"),
            opts=pulumi.ResourceOptions(parent=self, protect=True),
        )
        self.ca_certificate = self.pki.caCert

        self.backup_container = openstack.objectstorage.Container(
            f"{name}-backups",
            name=args.backup.container,
            metadata=header_safe(labels(BACKUP, protects=DATABASE, exempt=args.backup.exempt)),
            versioning=args.backup.versioning,
            opts=pulumi.ResourceOptions.merge(
                backup_opts,
                pulumi.ResourceOptions(retain_on_delete=args.backup.retain_on_delete),
            ),
        )
        assert args.backup_keys is not None  # validate() said so

        n, c = len(args.members), len(args.app_clients)
        addresses = [
            *[m.public_address for m in args.members],
            *[cl.address for cl in args.app_clients],
            *[cl.address for cl in args.monitoring_clients],
        ]
        secret_values = pulumi.Output.all(
            *[p.result for p in current.values()],
            *[p.result for p in app],
            ciphers[-1].result,
            args.backup_keys.access_key,
            args.backup_keys.secret_key,
            cluster_id.result,
            migrate.result,
            self.pki.caCert,
            self.pki.caKey,
            self.pki.certs,
            self.pki.keys,
            self.pki.adminCerts,
            self.pki.adminKeys,
        ).apply(lambda v: _tier_secrets(v, len(app)))
        widest_secrets_ = widest_secrets(args)
        check_budgets(args, widest_secrets_)
        self.volumes = {m.placement: self._volume(name, args, m) for m in args.members}
        self.instances = {}
        for m in args.members:
            key = credentials.host_key(f"{name}-{m.placement}-host-key", parent=self)
            everything = pulumi.Output.all(self.volumes[m.placement].id, key.result, secret_values, *addresses)
            # (mypy cannot type a lambda that binds the loop's member as a default: the ignores below)
            user_data = everything.apply(
                lambda v, m=m: credentials.packed_user_data(  # type: ignore[misc]
                    host_name(args, m.placement),
                    member_user_data(
                        args,
                        m,
                        addresses=v[3 : 3 + n],
                        client_ips=v[3 + n : 3 + n + c],
                        secrets=v[2],
                        host_key=v[1],
                        data_volume_id=v[0],
                        monitoring_ips=v[3 + n + c :],
                    ),
                )
            )
            sealed = pulumi.Output.all(key.result, secret_values).apply(
                lambda v, m=m: host_secrets.seal(member_secrets(args, m, v[1]), v[0])  # type: ignore[misc]
            )
            slots = credentials.slots_for(len(host_secrets.seal(member_secrets(args, m, widest_secrets_), "x" * 64)))
            widest = [runtime.widest_address(i) for i in range(len(addresses))]
            self.instances[m.placement] = self._host(
                name,
                args,
                m,
                user_data,
                {
                    **metadata(
                        labels(DATABASE, quorum=True, exempt=m.exempt),
                        pulumi.Output.all(*addresses).apply(
                            lambda v, m=m: member_runtime(
                                args,
                                m,
                                addresses=v[:n],
                                client_ips=v[n : n + c],  # type: ignore[misc]
                                monitoring_ips=v[n + c :],
                            )
                        ),
                        member_runtime(
                            args, m, addresses=widest[:n], client_ips=widest[n : n + c], monitoring_ips=widest[n + c :]
                        ),
                    ),
                    **credentials.sealed_items(sealed, slots),
                },
            )
        self.primary = self.instances[args.primary.placement]
        self.primary_address = pulumi.Output.from_input(args.primary.public_address)
        self._rules(name, args)

        placements = [m.placement for m in args.members]
        self.addresses = pulumi.Output.all(*[m.public_address for m in args.members]).apply(
            lambda ips: dict(zip(placements, ips))
        )
        self.hosts = pulumi.Output.all(*[m.public_address for m in args.ordered]).apply(list)
        login = cloudinit.app_credentials(args.app_user, ["x"] * (args.generation("app") + 1))[0][0]
        self.connection_url = self.hosts.apply(
            lambda hosts: cloudinit.connection_url(
                cloudinit.AppDatabase(hosts=tuple(hosts), dbname=args.app_database, user=login)
            )
        )
        self.register_outputs(
            {
                "primaryAddress": self.primary_address,
                "addresses": self.addresses,
                "connectionUrl": self.connection_url,
                "backupContainer": self.backup_container.name,
                "caCertificate": self.ca_certificate,
            }
        )

    def _rules(self, name: str, args: DatabaseTierArgs) -> None:
        """Each member's ``db`` group: PostgreSQL, etcd's peers and Patroni's API from every OTHER member,
        PostgreSQL from every application host; each source a /32."""

        def rule(member: DatabaseMember, suffix: str, port: int, source: pulumi.Input[str], what: str) -> None:
            openstack.networking.SecGroupRule(
                f"{name}-{member.placement}-{suffix}",
                security_group_id=member.database_security_group_id,
                direction="ingress",
                ethertype="IPv4",
                protocol="tcp",
                port_range_min=port,
                port_range_max=port,
                remote_ip_prefix=pulumi.Output.from_input(source).apply(lambda ip: f"{ip}/32"),
                description=f"{CLUSTER_PORTS.get(port) or EXPORTER_PORTS[port]} from {what}",
                opts=pulumi.ResourceOptions(parent=self, provider=member.provider),
            )

        for member in args.members:
            for other in args.members:
                if other.placement == member.placement:
                    continue
                for port, kind in RULE_KINDS.items():
                    rule(
                        member,
                        f"{kind}-from-{other.placement}",
                        port,
                        other.public_address,
                        f"the database member in {other.placement}",
                    )
            for client in args.app_clients:
                rule(member, f"pg-from-{client.name}", POSTGRES_PORT, client.address, f"the web host {client.name}")
            for client in args.monitoring_clients:  # what a monitoring host scrapes here
                for port in EXPORTER_PORTS:
                    rule(
                        member,
                        f"metrics-{port}-from-{client.name}",
                        port,
                        client.address,
                        f"the monitoring host {client.name}",
                    )

    def _volume(self, name: str, args: DatabaseTierArgs, member: DatabaseMember) -> openstack.blockstorage.Volume:
        """The member's data volume: protected (a preview that would replace or delete it fails) and kept in the
        cloud when Pulumi forgets it."""
        return openstack.blockstorage.Volume(
            f"{name}-{member.placement}-data",
            name=f"{host_name(args, member.placement)}-data",
            size=args.volume_size,
            volume_type=args.volume_type,
            availability_zone=member.where.availability_zone,
            description=f"data of {host_name(args, member.placement)}: PostgreSQL and etcd (resilient-stack)",
            # part of the member's replica (the rules count the instance, which burns with it)
            metadata={STORAGE_OF_KEY: DATABASE, **({EXEMPT_KEY: member.exempt} if member.exempt else {})},
            opts=pulumi.ResourceOptions(parent=self, provider=member.provider, protect=True, retain_on_delete=True),
        )

    def _host(
        self,
        name: str,
        args: DatabaseTierArgs,
        member: DatabaseMember,
        user_data: pulumi.Output[str],
        metadata: Mapping[str, pulumi.Input[str]],
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
                if member.server_group_id is not None
                else None
            ),
            metadata=dict(metadata),  # labels + runtime configuration + sealed secrets: updated in place
            tags=label_tags(labels(DATABASE, quorum=True, exempt=member.exempt)),
            user_data=pulumi.Output.secret(cast(pulumi.Input[str], user_data)),  # holds the host's key
            opts=host_options(
                pulumi.ResourceOptions(parent=self, provider=member.provider),
                depends_on=member.depends_on,
                protect=True,
            ),  # replaced only when unprotected
        )
        # attached once the instance exists (its first boot waits for the device); a replacement host gets a
        # new attachment of the same volume, after the old host and its attachment are gone
        openstack.compute.VolumeAttach(
            f"{name}-{member.placement}-data-attach",
            instance_id=instance.id,
            volume_id=self.volumes[member.placement].id,
            opts=pulumi.ResourceOptions(parent=self, provider=member.provider, delete_before_replace=True),
        )
        return instance
