"""``ResilientWebStack``: the whole web stack over several placements, refused when the rules say no.

Order of work:

1. The validated configuration (:class:`~resilient_stack.components.stack_config.StackConfig`) becomes the design
   the auditor reads, and the placement rules run on it (:func:`~resilient_stack.components.stack_config.validate_stack`).
   A blocking finding raises :class:`~resilient_stack.core.rules.DesignRejected` BEFORE any resource, the
   component itself included, is registered.
2. One explicit ``openstack.Provider`` per placement (region + cloud / auth URL) and one for the backups.
3. One :class:`~resilient_stack.components.regional.RegionalWebStack` per placement: networks, security groups and
   the public address of every host (a port), before any instance.
4. The :class:`~resilient_stack.components.database.DatabaseTier` (members under Patroni and etcd, backup container
   and its passphrase), from every member's and web host's address and the backup repository's keys
   (:func:`backup_keys`: the dedicated user's Pulumi secrets; a ``pulumi up`` without them refuses, in
   :func:`deploy_checks`, before anything is registered).
5. The web hosts of every placement, whose application lists every database member.
6. With ``monitoring``: the monitoring hosts (:class:`~resilient_stack.components.monitoring.MonitoringHosts`); their
   public ports come with the placements' (step 3: every exporter admits them), their instances once every host's
   address exists.
7. The entry point: the ``A`` record set of every placement's entry points (the web hosts, or the load balancers),
   output for the user's DNS provider, and created in OpenStack Designate when ``dns`` is set.

:func:`program` is the Pulumi program itself (root ``__main__.py`` calls it; so does
:func:`resilient_stack.testing.mockrun.run_program`).
"""

from __future__ import annotations

import pulumi
import pulumi_openstack as openstack

from resilient_stack.components.backup_config import PREVIEW_KEYS
from resilient_stack.components.database import (
    AppClient,
    BackupKeys,
    BackupStore,
    DatabaseMember,
    DatabaseTier,
    DatabaseTierArgs,
    Where,
)
from resilient_stack.components.monitoring import MonitoringArgs, MonitoringHosts, MonitoringSite
from resilient_stack.components.readiness import advisories, deploy_problems
from resilient_stack.components.regional import (
    LoadBalancerSettings,
    RegionalWebStack,
    RegionalWebStackArgs,
    WebApp,
)
from resilient_stack.components.stack_config import (
    NAMESPACE,
    DnsConfig,
    PlacementConfig,
    StackConfig,
    StackConfigError,
    from_pulumi_config,
    program_namespace,
    validate_stack,
)
from resilient_stack.core.catalog import Catalog
from resilient_stack.core.rules import DesignRejected, Report
from resilient_stack.core.vocabulary import DATABASE, MONITORING, WEB
from resilient_stack.hosts import cloudinit, runtime
from resilient_stack.hosts import monitoring as host_monitoring
from resilient_stack.io.errors import InputError

TYPE_TOKEN = "resilient-stack:stack:ResilientWebStack"


def placement_label(catalog: Catalog, p: PlacementConfig) -> str:
    """``<provider>/<region>/<placement>`` as the catalog knows it (shown on the web hosts' page)."""
    res = catalog.resolve(region=p.region, auth_url=p.auth_url, cloud=p.cloud, availability_zone=p.availability_zone)
    provider = res.region.provider if res.region is not None else (p.cloud or "openstack")
    region = res.region.name if res.region is not None else p.region
    return f"{provider}/{region}/{p.name}"


def site_names(config: StackConfig, catalog: Catalog) -> dict[str, str]:
    """Each placement's site as the catalog names it (what the alerts group by); its own name where unresolved."""
    out: dict[str, str] = {}
    for p in config.to_design().placements_for(catalog):
        name = p.resource.split("/", 1)[0]
        out.setdefault(name, str(p.site_name) if p.resolved and p.site_name else name)
    return out


def monitoring_args(
    config: StackConfig, catalog: Catalog, sites: dict[str, RegionalWebStack], providers: dict, keys: list[str]
) -> MonitoringArgs:
    """The monitoring hosts' settings, from ``monitoring`` and the receivers' secrets."""
    m = config.monitoring
    assert m is not None
    where = site_names(config, catalog)
    email = (
        host_monitoring.EmailReceiver(m.email.to, m.email.sender, m.email.smarthost, m.email.username)
        if m.email is not None
        else None
    )
    secret = lambda v: pulumi.Output.secret(v.get_secret_value()) if v is not None else None  # noqa: E731
    return MonitoringArgs(
        prefix=config.name,
        sites=[
            MonitoringSite(
                placement=p.name,
                site=where[p.name],
                provider=providers[p.name],
                flavor=m.flavor or p.flavor,
                image=p.image,
                external_network_id=sites[p.name].external_network_id,
                network_id=sites[p.name].network.id,
                admin_security_group=sites[p.name].admin_security_group,
                server_group_id=sites[p.name].server_group.id,
                depends_on=[sites[p.name].subnet],
                availability_zone=p.availability_zone,
                exempt=p.exempt,
            )
            for p in (config.placement(n) for n in m.placements)
        ],
        thresholds=m.thresholds.thresholds(),
        webhook=secret(config.alert_webhook),
        email=email,
        smtp_password=secret(config.alert_smtp_password),
        admin_cidrs=config.admin_cidrs,
        ssh_public_keys=keys,
        https=config.web.https,
        zone=m.zone.name if m.zone is not None else None,
        zone_ttl=m.zone.ttl if m.zone is not None else MonitoringArgs.zone_ttl,
    )


def deploy_checks(config: StackConfig, namespace: str = NAMESPACE) -> None:
    """What a first deployment must not go without (:mod:`resilient_stack.components.readiness`): a ``pulumi up``
    refuses the first problem (:class:`StackConfigError`, one line, the count of the others), a preview warns about
    each; then the advisories, as warnings. Runs before any resource is registered."""
    problems = deploy_problems(config, namespace)
    if problems and not pulumi.runtime.is_dry_run():
        first, more = problems[0], len(problems) - 1
        extra = f" (and {more} more problem{'s' if more > 1 else ''}: `pulumi preview` lists them)" if more else ""
        raise StackConfigError(first.key, first.problem + extra, f"stack {pulumi.get_stack()}")
    for problem in problems:
        pulumi.log.warn(problem.warning())
    for advice in advisories(config, namespace):
        pulumi.log.warn(advice)


def backup_keys(config: StackConfig) -> BackupKeys:
    """The backup repository's keys: the dedicated user's ``backupS3AccessKey`` / ``backupS3SecretKey`` (secrets).

    Unset: :data:`PREVIEW_KEYS`, which only a preview renders (:func:`deploy_checks` refused a ``pulumi up`` without
    the keys before anything was registered). Nothing ever falls back to a credential of the deploying user.
    """
    if config.backup_s3_access_key is None or config.backup_s3_secret_key is None:
        access, secret = PREVIEW_KEYS
    else:
        access = config.backup_s3_access_key.get_secret_value()
        secret = config.backup_s3_secret_key.get_secret_value()
    return BackupKeys(access_key=pulumi.Output.secret(access), secret_key=pulumi.Output.secret(secret))


class ResilientWebStack(pulumi.ComponentResource):
    """Web hosts, PostgreSQL and backups over several regions, sites and providers."""

    report: Report
    providers: dict[str, openstack.Provider]
    backup_provider: openstack.Provider
    sites: dict[str, RegionalWebStack]
    database: DatabaseTier
    dns_record: openstack.dns.RecordSet | None
    placement_outputs: pulumi.Output[dict]
    entry_points: pulumi.Output[list[str]]
    database_primary_address: pulumi.Output[str]
    database_addresses: pulumi.Output[dict[str, str]]
    backup_container: pulumi.Output[str]
    database_url: pulumi.Output[str]
    dns_record_set: pulumi.Output[dict]
    dns_name: str | None

    def __init__(
        self,
        name: str,
        args: StackConfig,
        opts: pulumi.ResourceOptions | None = None,
        *,
        enforce_rules: bool = True,
        namespace: str = NAMESPACE,
    ) -> None:
        if not isinstance(args, StackConfig):
            raise TypeError("args must be a validated StackConfig (resilient_stack.components.stack_config)")
        # The rules first: nothing is registered for a design they reject. ``enforce_rules=False`` is the
        # fire drill's escape hatch (resilient_stack.drills.firedrill builds the rejected sbg2021 replay under mocks
        # to burn it and show the loss): a keyword argument only, never read from the stack config.
        self.rejected: DesignRejected | None = None
        try:
            self.report = validate_stack(args)
        except DesignRejected as exc:
            if enforce_rules:
                raise
            self.rejected = exc
        # then what a first `pulumi up` needs (the backup credential, a DNS name for HTTPS): refused before anything
        # is registered, warned about by a preview; ``namespace`` is the one the messages name
        deploy_checks(args, namespace)
        catalog = args.catalog()
        super().__init__(TYPE_TOKEN, name, None, opts)
        mine = pulumi.ResourceOptions(parent=self)

        self.providers = {
            p.name: openstack.Provider(
                f"{name}-{p.name}",
                region=p.region,
                cloud=p.cloud,
                auth_url=p.auth_url,
                opts=mine,
            )
            for p in args.placements
        }
        b = args.backups
        self.backup_provider = openstack.Provider(
            f"{name}-{b.name}",
            region=b.region,
            cloud=b.cloud,
            auth_url=b.auth_url,
            opts=mine,
        )

        keys = [args.ssh_public_key] if args.ssh_public_key else []
        self.sites = {}
        for p in args.placements:
            lb = (
                LoadBalancerSettings(
                    floating_network=p.effective_floating_network, floating_network_id=p.floating_network_id
                )
                if p.load_balancer and p.floating_network_id
                else None
            )
            self.sites[p.name] = RegionalWebStack(
                f"{name}-{p.name}",
                RegionalWebStackArgs(
                    placement=p.name,
                    provider=self.providers[p.name],
                    prefix=args.name,
                    placement_label=placement_label(catalog, p),
                    web_count=p.web_count,
                    flavor=p.flavor,
                    image=p.image,
                    external_network=p.external_network,
                    external_network_id=p.external_network_id,
                    private_cidr=p.private_cidr,
                    admin_cidrs=args.admin_cidrs,
                    hosts_database=p.hosts_database,
                    database_cidrs=(
                        list(dict.fromkeys([*args.database.app_cidrs, *args.database.replication_cidrs]))
                        if p.hosts_database
                        else ()
                    ),
                    availability_zone=p.availability_zone,
                    ssh_public_keys=keys,
                    app_title=args.web.title,
                    https=args.web.https,
                    server_name=args.web.server_name,
                    load_balancer=lb,
                    exempt=p.exempt,
                ),
                opts=mine,
            )

        # the monitoring hosts' addresses first: every exporter admits them
        self.monitoring: MonitoringHosts | None = None
        monitoring_clients: list[AppClient] = []
        if args.monitoring is not None:
            self.monitoring = MonitoringHosts(
                f"{name}-mon", monitoring_args(args, catalog, self.sites, self.providers, keys), opts=mine
            )
            for p in args.placements:
                group = self.sites[p.name].web_security_group
                if group is not None:
                    self.monitoring.admit_to(p.name, group, self.providers[p.name])
            monitoring_clients = [AppClient(f"{n}-mon", a) for n, a in self.monitoring.addresses.items()]

        members = []
        for p in args.database_placements:
            site = self.sites[p.name]
            assert site.database_security_group is not None and site.database_port is not None
            assert site.database_address is not None
            members.append(
                DatabaseMember(
                    placement=p.name,
                    role=p.database_role,  # type: ignore[arg-type]
                    provider=self.providers[p.name],
                    where=Where(
                        region=p.region, cloud=p.cloud, auth_url=p.auth_url, availability_zone=p.availability_zone
                    ),
                    flavor=p.effective_database_flavor,
                    image=p.image,
                    public_port_id=site.database_port.id,
                    public_address=site.database_address,
                    network_id=site.network.id,
                    security_group_names=[site.database_security_group.name, site.admin_security_group.name],
                    database_security_group_id=site.database_security_group.id,
                    server_group_id=site.server_group.id,
                    depends_on=[site.subnet],
                    exempt=p.exempt,
                )
            )
        d = args.database
        self.database = DatabaseTier(
            f"{name}-db",
            DatabaseTierArgs(
                members=members,
                backup=BackupStore(
                    name=b.name,
                    provider=self.backup_provider,
                    where=Where(
                        region=b.region, cloud=b.cloud, auth_url=b.auth_url, availability_zone=b.availability_zone
                    ),
                    container=args.backup_container,
                    s3_endpoint=b.s3_endpoint,
                    s3_region=b.s3_region,
                    uri_style=b.uri_style,
                    retention_full=b.retention_full,
                    retain_on_delete=b.retain_on_delete,
                    versioning=b.versioning,
                    archive_queue_max_mb=b.archive_queue_max_mb,
                    exempt=b.exempt,
                    schedule=b.schedule.schedule(),
                ),
                backup_keys=backup_keys(args),
                prefix=args.name,
                replication_cidrs=d.replication_cidrs,
                app_cidrs=d.app_cidrs,
                app_clients=[
                    AppClient(f"{p.name}-web-{i}", address)
                    for p in args.placements
                    for i, address in enumerate(self.sites[p.name].web_addresses, start=1)
                ],
                monitoring_clients=monitoring_clients,
                app_database=d.app_database,
                app_user=d.app_user,
                replication_user=d.replication_user,
                bootstrap_from=d.bootstrap_from,
                password_length=d.password_length,
                ssh_public_keys=keys,
                rule_config=args.rule_config(),
                catalog=catalog,
                volume_size=d.volume_size,
                volume_type=d.volume_type,
                admin_cidrs=args.admin_cidrs,
                synchronous=d.synchronous,
                rotation=d.rotation.generations(),
            ),
            opts=mine,
            enforce_rules=enforce_rules,
        )
        app = None
        if args.web.app is not None:
            app_secrets = {k: v.get_secret_value() for k, v in (args.app_secrets or {}).items()}
            registry = args.app_registry_password
            app = WebApp(
                spec=args.web.app.spec(tuple(app_secrets)),
                database_hosts=self.database.hosts,
                members=self.database.addresses.apply(lambda a: {ip: placement for placement, ip in a.items()}),
                dbname=d.app_database,
                user=d.app_user,
                passwords=self.database.app_passwords,
                migrate_password=self.database.migrate_password,
                write_token=self.database.write_token,
                ca_certificate=self.database.ca_certificate,
                placements=[p.name for p in args.placements if p.web_count > 0],
                member_placements=[p.name for p in args.database_placements],
                app_secrets=pulumi.Output.secret(app_secrets),
                registry_password=pulumi.Output.secret(registry.get_secret_value()) if registry else None,
                secret_lengths={k: cloudinit.reserved_length(v) for k, v in app_secrets.items()},
                registry_password_length=cloudinit.reserved_length(registry.get_secret_value()) if registry else 0,
            )
        web_hosts = pulumi.Output.all(*[a for p in args.placements for a in self.sites[p.name].web_addresses]).apply(
            list
        )
        for p in args.placements:
            self.sites[p.name].add_web_hosts(
                app, web_hosts, sum(q.web_count for q in args.placements), [c.address for c in monitoring_clients]
            )
        if self.monitoring is not None:
            self._watch(args, catalog)

        names = [p.name for p in args.placements]
        self.placement_outputs = pulumi.Output.all(
            *[self.sites[n].public_addresses for n in names],
            *[self.sites[n].entry_points for n in names],
        ).apply(
            lambda v: {
                n: {"region": args.placement(n).region, "publicAddresses": v[i], "entryPoints": v[len(names) + i]}
                for i, n in enumerate(names)
            }
        )
        self.entry_points = pulumi.Output.all(*[self.sites[n].entry_points for n in names]).apply(
            lambda lists: [a for addrs in lists for a in addrs]
        )
        self.database_primary_address = self.database.primary_address
        self.database_addresses = self.database.addresses
        self.database_url = self.database.connection_url
        self.backup_container = self.database.backup_container.name

        # The way in: one A record per entry point, every placement. Without Designate (OVHcloud), the
        # output is what to enter at the DNS provider.
        self.dns_record = None
        self.dns_name = None
        ttl = args.dns.ttl if args.dns is not None else DnsConfig.model_fields["ttl"].default
        self.dns_record_set = self.entry_points.apply(
            lambda records: {
                "name": args.dns.name if args.dns is not None else None,
                "type": "A",
                "ttl": ttl,
                "records": records,
            }
        )
        if args.dns is not None:
            zone_placement = args.dns.placement or names[0]
            self.dns_name = args.dns.name
            self.dns_record = openstack.dns.RecordSet(
                f"{name}-dns",
                zone_id=args.dns.zone_id,
                name=args.dns.name,
                type="A",
                ttl=args.dns.ttl,
                records=self.entry_points,
                description="resilient-stack entry points, every placement",
                opts=pulumi.ResourceOptions(parent=self, provider=self.providers[zone_placement]),
            )

        self.register_outputs(self.stack_outputs())

    def _watch(self, args: StackConfig, catalog: Catalog) -> None:
        """The monitoring hosts' instances: every host of the stack is a target."""
        assert self.monitoring is not None
        where = site_names(args, catalog)
        named: list[tuple[str, str, str, pulumi.Input[str]]] = []  # name, role, placement, address
        for p in args.placements:
            for i, address in enumerate(self.sites[p.name].web_addresses, start=1):
                named.append((f"{args.name}-{p.name}-web-{i}", WEB, p.name, address))
            db_address = self.sites[p.name].database_address
            if db_address is not None:
                named.append((f"{args.name}-{p.name}-db", DATABASE, p.name, db_address))
        for placement, address in self.monitoring.addresses.items():
            named.append((f"{args.name}-{placement}-mon", MONITORING, placement, address))

        def targets(addresses: list) -> list[host_monitoring.Target]:
            return [host_monitoring.Target(n, a, r, p, where[p]) for (n, r, p, _), a in zip(named, addresses)]

        widest = targets([runtime.widest_address(i) for i in range(len(named))])
        self.monitoring.add_hosts(pulumi.Output.all(*[a for *_, a in named]).apply(targets), widest)

    def stack_outputs(self) -> dict[str, object]:
        """What the program exports (``pulumi stack output``)."""
        out: dict[str, object] = {
            "placements": self.placement_outputs,
            "entryPoints": self.entry_points,
            "databasePrimaryAddress": self.database_primary_address,
            "databaseAddresses": self.database_addresses,
            "databaseUrl": self.database_url,
            "dnsRecordSet": self.dns_record_set,
            "backupContainer": self.backup_container,
            # verify-full: what a client of the database verifies the members with (sslrootcert)
            "databaseCaCertificate": self.database.ca_certificate,
            # secrets: the application's write API token; every passphrase of the backup repository with its path
            "appWriteToken": self.database.write_token,
            "backupRepositories": self.database.backup_repositories,
        }
        if self.dns_name:
            out["dnsName"] = self.dns_name
        if self.monitoring is not None:
            out["monitoringAddresses"] = pulumi.Output.all(*self.monitoring.addresses.values()).apply(
                lambda v: dict(zip(self.monitoring.addresses, v)) if self.monitoring else {}
            )
            if self.monitoring.name_servers is not None:  # the stack's own zone: what to enter once
                out["nameServers"] = self.monitoring.name_servers
                out["delegation"] = self.monitoring.delegation
        return out


def program(*, enforce_rules: bool = True) -> ResilientWebStack:
    """The Pulumi program: read ``resilient-stack:*`` config, build the stack, export its outputs.

    A configuration error or a design the rules reject stops the program with one clear message
    (``pulumi.RunError``, no traceback); the original exception is its ``__cause__``.
    ``enforce_rules=False``: the fire drill's escape hatch (see :class:`ResilientWebStack`); ``__main__.py``
    never passes it.
    """
    try:
        namespace = program_namespace(pulumi.get_project(), pulumi.get_stack())
        config = from_pulumi_config()
        stack = ResilientWebStack(config.name, config, enforce_rules=enforce_rules, namespace=namespace)
    except (InputError, DesignRejected) as exc:
        raise pulumi.RunError(str(exc)) from exc
    for key, value in stack.stack_outputs().items():
        pulumi.export(key, value)
    return stack
