"""``MonitoringHosts``: one monitoring host (Prometheus + Alertmanager) in each placement ``monitoring`` names.

Built in two steps, like the web hosts (:meth:`RegionalWebStack.add_web_hosts`), so that no address is a cycle:

1. ``MonitoringHosts(...)``: per placement, through that placement's provider, a ``mon`` security group (the
   Alertmanagers' API and cluster gossip, TCP and UDP, and every port a Prometheus scrapes on a monitoring host,
   from the OTHER monitoring hosts' /32s only; Prometheus's and Alertmanager's web interfaces from ``adminCidrs``)
   and the host's public port: :attr:`addresses` exist before any instance, so the web hosts and the database
   members admit them to their exporters (their runtime configuration, and the rules this component adds to each
   placement's ``web`` group; the database tier adds the members' own);
2. :meth:`MonitoringHosts.add_hosts`, once every host's address exists: the instances, with the user data of
   :func:`resilient_stack.hosts.monitoring.render_monitoring` and, in their metadata (updated in place), what they
   scrape, the alert rules and the sealed receivers.

With ``zone`` (``monitoring.zone``), the monitoring hosts are also the zone's authoritative name servers
(:mod:`resilient_stack.hosts.dns`: PowerDNS answering only the web hosts whose ``/healthz`` answers): DNS from
anyone in their security groups, and the outputs ``nameServers`` and ``delegation`` (the NS and glue records to
enter once at the registrar).

Every instance carries ``resilient-stack:role=monitoring`` (and ``resilient-stack:serves=dns`` with a zone): the
rules count the monitoring hosts' sites like any other role's (``single-site``), and the name servers' too. Like every host of the stack, a monitoring host ignores changes of its boot
configuration (a routine change never replaces it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence, cast

import pulumi
import pulumi_openstack as openstack

from resilient_stack.components import credentials
from resilient_stack.components.hostopts import host_options, label_tags, metadata
from resilient_stack.components.regional import first_ipv4
from resilient_stack.core.vocabulary import (
    ALERTMANAGER_CLUSTER_PORT,
    ALERTMANAGER_PORT,
    DNS,
    DNS_PORT,
    MONITORING,
    NODE_EXPORTER_PORT,
    PROMETHEUS_PORT,
    WEB,
    labels,
    tags,
)
from resilient_stack.hosts import dns as host_dns
from resilient_stack.hosts import monitoring as host_monitoring
from resilient_stack.hosts import runtime
from resilient_stack.hosts import secrets as host_secrets

TYPE_TOKEN = "resilient-stack:monitoring:MonitoringHosts"
# what one monitoring host opens to the others: Alertmanager's API (alerts from their Prometheus), its cluster
# (TCP and UDP), and what their Prometheus scrapes here
PEER_PORTS = (
    ("tcp", ALERTMANAGER_PORT),
    ("tcp", ALERTMANAGER_CLUSTER_PORT),
    ("udp", ALERTMANAGER_CLUSTER_PORT),
    ("tcp", PROMETHEUS_PORT),
    ("tcp", NODE_EXPORTER_PORT),
)


@dataclass(frozen=True)
class MonitoringSite:
    """Where one monitoring host runs: a placement, its provider and the resources its component made."""

    placement: str
    site: str  # the catalog's site (what the alerts group by)
    provider: openstack.Provider
    flavor: str
    image: str
    external_network_id: pulumi.Input[str]
    network_id: pulumi.Input[str]
    admin_security_group: openstack.networking.SecGroup
    server_group_id: pulumi.Input[str]
    depends_on: Sequence[pulumi.Resource] = ()
    availability_zone: str | None = None
    exempt: str | None = None


@dataclass(frozen=True)
class MonitoringArgs:
    """The monitoring hosts' settings (``resilient-stack:monitoring`` and the receivers' secrets)."""

    prefix: str
    sites: Sequence[MonitoringSite]
    thresholds: host_monitoring.Thresholds = host_monitoring.Thresholds()
    webhook: pulumi.Input[str] | None = None  # a secret
    email: host_monitoring.EmailReceiver | None = None  # its password: ``smtp_password``
    smtp_password: pulumi.Input[str] | None = None  # a secret
    admin_cidrs: Sequence[str] = ()
    ssh_public_keys: Sequence[str] = ()
    https: bool = False
    zone: str | None = None  # the DNS zone the monitoring hosts serve (absolute), or None
    zone_ttl: int = 20

    def validate(self) -> None:
        placements = [s.placement for s in self.sites]
        if not placements or len(set(placements)) != len(placements):
            raise ValueError("monitoring: one host per placement, at least one placement")
        if self.zone is not None:
            host_dns.Zone(self.zone, self.zone_ttl, tuple((p, "192.0.2.1") for p in placements), ())

    def labels(self, exempt: str | None) -> dict[str, str]:
        """A monitoring host's labels: also a name server (``dns``) when the hosts serve a zone."""
        return labels(MONITORING, exempt=exempt, serves=(DNS,) if self.zone is not None else ())

    def zone_of(self, hosts: Sequence[host_monitoring.Target], servers: Sequence[str]) -> host_dns.Zone | None:
        """The zone the hosts serve: its name servers at ``servers`` (the placements' order), the web hosts'."""
        if self.zone is None:
            return None
        names = tuple(s.placement for s in self.sites)
        web = tuple(t.address for t in hosts if t.role == WEB)
        return host_dns.Zone(self.zone, self.zone_ttl, tuple(zip(names, servers)), web)


def host_name(prefix: str, placement: str) -> str:
    return f"{prefix}-{placement}-mon"


def receivers(webhook: str | None, email: host_monitoring.EmailReceiver | None, password: str | None):
    """The receivers once the secrets are known (inside an ``apply``)."""
    if email is not None and password is not None:
        email = host_monitoring.EmailReceiver(email.to, email.sender, email.smarthost, email.username, password)
    return host_monitoring.Receivers(webhooks=(webhook,) if webhook else (), email=email)


class MonitoringHosts(pulumi.ComponentResource):
    """Prometheus and Alertmanager on hosts of their own, one per placement, several sites."""

    addresses: dict[str, pulumi.Output[str]]
    instances: dict[str, openstack.compute.Instance]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, MonitoringArgs):
            raise TypeError("args must be a MonitoringArgs")
        args.validate()
        super().__init__(TYPE_TOKEN, name, None, opts)
        self._name, self._args = name, args
        self.groups: dict[str, openstack.networking.SecGroup] = {}
        self.ports: dict[str, openstack.networking.Port] = {}
        self.addresses = {}
        self.instances = {}
        for s in args.sites:
            child = pulumi.ResourceOptions(parent=self, provider=s.provider)
            host = host_name(args.prefix, s.placement)
            group = openstack.networking.SecGroup(
                f"{name}-{s.placement}-sg",
                name=f"{args.prefix}-{s.placement}-mon",
                description="Prometheus and Alertmanager: the other monitoring hosts, and the admin networks",
                tags=tags(MONITORING, exempt=s.exempt),
                opts=child,
            )
            for i, cidr in enumerate(args.admin_cidrs):
                for port in (PROMETHEUS_PORT, ALERTMANAGER_PORT):
                    openstack.networking.SecGroupRule(
                        f"{name}-{s.placement}-admin-{i}-{port}",
                        security_group_id=group.id,
                        direction="ingress",
                        ethertype="IPv6" if ":" in cidr else "IPv4",
                        protocol="tcp",
                        port_range_min=port,
                        port_range_max=port,
                        remote_ip_prefix=cidr,
                        description=f"web interface from admin network {cidr}",
                        opts=child,
                    )
            if args.zone is not None:
                for protocol in ("udp", "tcp"):
                    openstack.networking.SecGroupRule(
                        f"{name}-{s.placement}-dns-{protocol}",
                        security_group_id=group.id,
                        direction="ingress",
                        ethertype="IPv4",
                        protocol=protocol,
                        port_range_min=DNS_PORT,
                        port_range_max=DNS_PORT,
                        remote_ip_prefix="0.0.0.0/0",
                        description=f"DNS ({protocol}) from anyone: the zone {args.zone}",
                        opts=child,
                    )
            self.groups[s.placement] = group
            self.ports[s.placement] = openstack.networking.Port(
                f"{name}-{s.placement}-public",
                name=host,
                network_id=s.external_network_id,
                admin_state_up=True,
                security_group_ids=[group.id, s.admin_security_group.id],
                description=f"public address of {host}",
                tags=tags(MONITORING, exempt=s.exempt),
                opts=child,
            )
            self.addresses[s.placement] = self.ports[s.placement].all_fixed_ips.apply(first_ipv4)
        for s in args.sites:
            for other in args.sites:
                if other.placement != s.placement:
                    for protocol, port in PEER_PORTS:
                        self._rule(
                            self.groups[s.placement],
                            s,
                            f"{protocol}-{port}-from-{other.placement}",
                            protocol,
                            port,
                            self.addresses[other.placement],
                            f"the monitoring host in {other.placement}",
                        )

    def _rule(
        self,
        group: openstack.networking.SecGroup,
        s: MonitoringSite,
        suffix: str,
        protocol: str,
        port: int,
        source: pulumi.Input[str],
        what: str,
        provider: openstack.Provider | None = None,
    ) -> None:
        openstack.networking.SecGroupRule(
            f"{self._name}-{s.placement}-{suffix}",
            security_group_id=group.id,
            direction="ingress",
            ethertype="IPv4",
            protocol=protocol,
            port_range_min=port,
            port_range_max=port,
            remote_ip_prefix=pulumi.Output.from_input(source).apply(lambda ip: f"{ip}/32"),
            description=f"port {port}/{protocol} from {what}",
            opts=pulumi.ResourceOptions(parent=self, provider=provider or s.provider),
        )

    def admit_to(self, placement: str, group: openstack.networking.SecGroup, provider: openstack.Provider) -> None:
        """Rules on ``placement``'s web group: its hosts' node exporter from each monitoring host."""
        for s in self._args.sites:
            self._rule(
                group,
                s,
                f"node-metrics-to-{placement}-web",
                "tcp",
                NODE_EXPORTER_PORT,
                self.addresses[s.placement],
                f"the monitoring host in {s.placement}",
                provider,
            )

    def add_hosts(self, targets: pulumi.Output[list[host_monitoring.Target]], widest_targets: list) -> None:
        """The instances, once every host's address exists (``targets``: every host of the stack, monitoring hosts
        included; ``widest_targets``: the same hosts at the widest addresses, to size the metadata at preview)."""
        if self.instances:
            raise RuntimeError("add_hosts was already called")
        args = self._args
        secrets_values = pulumi.Output.all(args.webhook, args.smtp_password).apply(
            lambda v: host_monitoring.monitoring_secret_document(receivers(v[0], args.email, v[1]))
        )
        widest_secrets = host_monitoring.monitoring_secret_document(
            receivers(
                "https://" + "w" * 2040 if args.webhook is not None else None,
                args.email,
                "p" * 1024 if args.smtp_password is not None else None,
            )
        )
        placements = [s.placement for s in args.sites]
        everyone = pulumi.Output.all(*[self.addresses[p] for p in placements])
        for s in args.sites:
            child = pulumi.ResourceOptions(parent=self, provider=s.provider)
            host = host_name(args.prefix, s.placement)
            key = credentials.host_key(f"{self._name}-{s.placement}-host-key", parent=self)
            me = placements.index(s.placement)

            def doc(values: list, me: int = me) -> dict[str, Any]:
                hosts, addresses = values
                return host_monitoring.monitoring_runtime(
                    hosts=hosts,
                    https=args.https,
                    thresholds=args.thresholds,
                    admin_cidrs=list(args.admin_cidrs),
                    peers=[a for i, a in enumerate(addresses) if i != me],
                    ssh_keys=list(args.ssh_public_keys),
                    zone=args.zone_of(hosts, addresses),
                )

            first = pulumi.Output.all(targets, everyone).apply(doc)
            widest = doc([widest_targets, [runtime.widest_address(i) for i in range(len(placements))]])

            def render(values: list, me: int = me, host: str = host) -> str:
                first_doc, addresses, host_key, secrets_doc = values
                return credentials.packed_user_data(
                    host,
                    host_monitoring.render_monitoring(
                        name=host,
                        address=addresses[me],
                        peers=[a for i, a in enumerate(addresses) if i != me],
                        first=first_doc,
                        host_key=host_key,
                        secrets_doc=secrets_doc,
                    ),
                )

            user_data = pulumi.Output.all(first, everyone, key.result, secrets_values).apply(render)
            sealed = pulumi.Output.all(key.result, secrets_values).apply(lambda v: host_secrets.seal(v[1], v[0]))
            slots = credentials.slots_for(len(host_secrets.seal(widest_secrets, "k" * 64)))
            self.instances[s.placement] = openstack.compute.Instance(
                f"{self._name}-{s.placement}",
                name=host,
                flavor_name=s.flavor,
                image_name=s.image,
                availability_zone=s.availability_zone,
                networks=[
                    openstack.compute.InstanceNetworkArgs(port=self.ports[s.placement].id, access_network=True),
                    openstack.compute.InstanceNetworkArgs(uuid=s.network_id),
                ],
                security_groups=[self.groups[s.placement].name, s.admin_security_group.name],
                scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=s.server_group_id)],
                metadata={
                    **metadata(args.labels(s.exempt), first, widest),
                    **credentials.sealed_items(sealed, slots),
                },
                tags=label_tags(args.labels(s.exempt)),
                user_data=pulumi.Output.secret(user_data),  # type: ignore[arg-type]  # the host's key, the receivers
                opts=host_options(child, depends_on=list(s.depends_on)),
            )
        self.name_servers: pulumi.Output[dict[str, str]] | None = None
        self.delegation: pulumi.Output[list[str]] | None = None
        if args.zone is not None:
            zone = everyone.apply(lambda v: cast(host_dns.Zone, args.zone_of([], v)))
            self.name_servers = zone.apply(lambda z: {host_dns.name_server(z.name, p): a for p, a in z.servers})
            self.delegation = zone.apply(host_dns.delegation)
        self.register_outputs(
            {
                "addresses": everyone.apply(lambda v: dict(zip(placements, v))),
                "nameServers": self.name_servers,
                "delegation": self.delegation,
            }
        )
