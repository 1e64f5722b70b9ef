"""``RegionalWebStack``: everything one placement (one region of one cloud) runs, through ONE provider.

Children, all created through ``args.provider`` and parented to the component:

- a private network + IPv4 subnet (``privateCidr``): web and database hosts of the placement talk over it;
- security groups: ``web`` when there are web hosts (HTTP/HTTPS from anywhere, IPv4 and IPv6), ``admin`` (SSH only from the
  admin CIDRs; none = SSH closed) and, when the placement hosts a database member, ``db`` (nothing but the
  ``database_cidrs`` extras here: the database tier admits the members' and the web hosts' public addresses,
  each as a /32, on exactly the ports they use);
- a soft-anti-affinity server group, so the web hosts land on different hypervisors when possible;
- one port on the external network per host (each web host, and the database host): the host's public
  address, allocated BEFORE any instance exists, with the host's security groups. So every address is known
  to every other host's user data (the web application lists the database members, the members list each
  other and the web hosts), with no cycle; the instances attach to these ports;
- ``webCount`` web instances (:meth:`RegionalWebStack.add_web_hosts`, once the database's addresses exist):
  first NIC the public port (``access_ip_v4``), second the private network, user data from
  :func:`cloudinit.render_web`;
- optionally an Octavia load balancer: router to the floating network, HTTP listener/pool/health
  monitor/members (+ a TCP 443 pass-through when HTTPS is on) and a floating IP on its VIP.

Every replica carries the labels the auditor reads (:mod:`resilient_stack.core.resources`): instance
``metadata`` dicts, networking / load-balancer ``tags`` as ``key=value``.

Image, flavor and networks are given BY NAME. Neutron takes a network ID where a port is created: the
external network's ID is ``external_network_id`` when given, else the program looks it up by name
(``openstack.networking.get_network``), made to wait for the placement's own network so that a
``pulumi preview`` of a new stack asks nothing of the cloud. The router gateway of a load balancer takes the
floating network's ID: ``LoadBalancerSettings.floating_network_id``.
"""

from __future__ import annotations

from typing import Sequence

import pulumi
import pulumi_openstack as openstack

from resilient_stack.components import credentials
from resilient_stack.components.hostopts import host_options, label_tags, metadata
from resilient_stack.components.regional_args import (  # noqa: F401 - re-exported
    IngressRule,
    LoadBalancerSettings,
    RegionalWebStackArgs,
    WebApp,
    admin_rules,
    database_rules,
    first_ipv4,
    web_rules,
)
from resilient_stack.core.vocabulary import (
    DATABASE,
    LOAD_BALANCER,
    POSTGRES_PORT,
    WEB,
    labels,
    tags,
)
from resilient_stack.hosts import cloudinit, runtime
from resilient_stack.hosts import secrets as host_secrets

TYPE_TOKEN = "resilient-stack:regional:RegionalWebStack"
# a certificate of the greatest size the cluster's CA can have (sizes the web hosts' sealed secrets before it exists)
WIDEST_CA = "-----BEGIN CERTIFICATE-----\n" + ("A" * 64 + "\n") * 12 + "-----END CERTIFICATE-----\n"


# --------------------------------------------------------------------------------------------------
# The component
# --------------------------------------------------------------------------------------------------


class RegionalWebStack(pulumi.ComponentResource):
    """One placement of the web stack: network, security groups, public ports, web hosts, optional LB.
    The web hosts come with :meth:`add_web_hosts`, once the database's addresses exist."""

    provider: openstack.Provider
    network: openstack.networking.Network
    subnet: openstack.networking.Subnet
    web_security_group: openstack.networking.SecGroup | None
    admin_security_group: openstack.networking.SecGroup
    database_security_group: openstack.networking.SecGroup | None
    server_group: openstack.compute.ServerGroup
    external_network_id: pulumi.Output[str]
    web_ports: list[openstack.networking.Port]
    database_port: openstack.networking.Port | None
    database_address: pulumi.Output[str] | None
    web_addresses: list[pulumi.Output[str]]
    web_instances: list[openstack.compute.Instance]
    load_balancer: openstack.loadbalancer.LoadBalancer | None
    load_balancer_address: pulumi.Output[str] | None
    public_addresses: pulumi.Output[list[str]]
    private_addresses: pulumi.Output[list[str]]
    entry_points: pulumi.Output[list[str]]

    def __init__(self, name: str, args: RegionalWebStackArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not isinstance(args, RegionalWebStackArgs):
            raise TypeError("args must be a RegionalWebStackArgs")
        args.validate()
        super().__init__(TYPE_TOKEN, name, None, opts)

        self.provider = args.provider
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self._child = child
        base = self._base = f"{args.prefix}-{args.placement}"

        self.network = openstack.networking.Network(
            f"{name}-net",
            name=base,
            admin_state_up=True,
            tags=tags(WEB),
            opts=child,
        )
        self.subnet = openstack.networking.Subnet(
            f"{name}-subnet",
            name=base,
            network_id=self.network.id,
            cidr=args.private_cidr,
            ip_version=4,
            enable_dhcp=True,
            tags=tags(WEB),
            opts=child,
        )

        self.web_security_group = (
            self._security_group(name, base, "web", "HTTP/HTTPS from anywhere", web_rules(), child)
            if args.web_count
            else None
        )
        self.admin_security_group = self._security_group(
            name,
            base,
            "admin",
            "SSH from the admin networks only",
            admin_rules(args.admin_cidrs),
            child,
        )
        self.database_security_group = (
            self._security_group(
                name,
                base,
                "db",
                "PostgreSQL and the database cluster from the stack's own hosts only",
                database_rules(args.database_cidrs),
                child,
            )
            if args.hosts_database
            else None
        )

        self.server_group = openstack.compute.ServerGroup(
            f"{name}-servers",
            name=base,
            policies="soft-anti-affinity",
            opts=child,
        )

        # The public addresses, before any instance: one port on the external network per host.
        self.external_network_id = (
            pulumi.Output.from_input(args.external_network_id)
            if args.external_network_id is not None
            else openstack.networking.get_network_output(
                name=args.external_network,
                # waits for the placement's own network: a preview of a new stack asks the cloud nothing
                opts=pulumi.InvokeOutputOptions(provider=args.provider, depends_on=[self.network]),
            ).id
        )
        self.web_ports = [
            self._public_port(
                f"{name}-web-{i}-public",
                f"{base}-web-{i}",
                WEB,
                [self.web_security_group, self.admin_security_group],  # type: ignore[list-item]
                args,
                child,
            )
            for i in range(1, args.web_count + 1)
        ]
        self.web_addresses = [port.all_fixed_ips.apply(first_ipv4) for port in self.web_ports]
        self.database_port = (
            self._public_port(
                f"{name}-db-public",
                f"{base}-db",
                DATABASE,
                [self.database_security_group, self.admin_security_group],  # type: ignore[list-item]
                args,
                child,
            )
            if args.hosts_database
            else None
        )
        self.database_address = self.database_port.all_fixed_ips.apply(first_ipv4) if self.database_port else None
        self.public_addresses = pulumi.Output.all(*self.web_addresses).apply(list)

        self.web_instances = []
        self.load_balancer = None
        self.load_balancer_address = None

    def add_web_hosts(
        self,
        app: WebApp | None,
        web_hosts: pulumi.Input[Sequence[str]] = (),
        web_total: int | None = None,
        monitoring: Sequence[pulumi.Input[str]] = (),
    ) -> None:
        """The web hosts (on their public ports), the optional load balancer, and the component's outputs.

        ``app``: the database the web application uses, or None: the hosts serve the static page only.
        ``web_hosts``: every web host's public address in the stack (a host asks the others for an ACME challenge
        token it does not hold, when the site has a DNS name), ``web_total`` how many there are (default: this
        placement's); ``monitoring``: the monitoring hosts' addresses (admitted to the node exporter).
        Called once, after every placement's ports exist (the database's addresses are in the user data).
        """
        if self.web_instances:
            raise RuntimeError("add_web_hosts was already called")
        name, args, child, base = self._name, self._args, self._child, self._base
        self._all_web = pulumi.Output.from_input(web_hosts)
        self._web_total = web_total if web_total is not None else args.web_count
        self._monitoring, self._monitoring_total = pulumi.Output.all(*monitoring).apply(list), len(monitoring)
        self.web_instances = [self._web_host(name, base, args, i, app, child) for i in range(1, args.web_count + 1)]
        self.private_addresses = pulumi.Output.all(*[_private_ip(i) for i in self.web_instances]).apply(list)
        if args.load_balancer is not None:
            self.load_balancer_address = self._load_balancer(name, base, args, child)
            self.entry_points = self.load_balancer_address.apply(lambda a: [a])
        else:
            self.entry_points = self.public_addresses

        self.register_outputs(
            {
                "networkId": self.network.id,
                "subnetId": self.subnet.id,
                "publicAddresses": self.public_addresses,
                "privateAddresses": self.private_addresses,
                "databaseAddress": self.database_address,
                "entryPoints": self.entry_points,
                "loadBalancerAddress": self.load_balancer_address,
            }
        )

    # -- children --------------------------------------------------------------------------------
    def _security_group(
        self,
        name: str,
        base: str,
        kind: str,
        description: str,
        rules: list[IngressRule],
        child: pulumi.ResourceOptions,
    ) -> openstack.networking.SecGroup:
        group = openstack.networking.SecGroup(
            f"{name}-{kind}-sg",
            name=f"{base}-{kind}",
            description=description,
            tags=tags(WEB if kind != "db" else DATABASE),
            opts=child,
        )
        for rule in rules:
            openstack.networking.SecGroupRule(
                f"{name}-{kind}-{rule.suffix}",
                security_group_id=group.id,
                direction="ingress",
                ethertype=rule.ethertype,
                protocol="tcp",
                port_range_min=rule.port,
                port_range_max=rule.port,
                remote_ip_prefix=rule.cidr,
                description=rule.description,
                opts=child,
            )
        return group

    def _public_port(
        self,
        resource_name: str,
        host: str,
        role: str,
        groups: list[openstack.networking.SecGroup],
        args: RegionalWebStackArgs,
        child: pulumi.ResourceOptions,
    ) -> openstack.networking.Port:
        """A host's public address: a port on the external network, wearing the host's security groups."""
        return openstack.networking.Port(
            resource_name,
            name=host,
            network_id=self.external_network_id,
            admin_state_up=True,
            security_group_ids=[g.id for g in groups],
            description=f"public address of {host}",
            tags=tags(role, exempt=args.exempt),
            opts=child,
        )

    def _web_host(
        self,
        name: str,
        base: str,
        args: RegionalWebStackArgs,
        index: int,
        app: WebApp | None,
        child: pulumi.ResourceOptions,
    ) -> openstack.compute.Instance:
        host = f"{base}-web-{index}"
        peers = pulumi.Output.all(self._all_web, self.web_addresses[index - 1]).apply(
            lambda v: [a for a in v[0] if a != v[1]]
        )  # the OTHER web hosts
        key = credentials.host_key(f"{name}-web-{index}-host-key", parent=self)
        generations = len(app.passwords) if app is not None else 0

        def secret_doc(values: list) -> dict:
            assert app is not None  # applied only with the application (below)
            ca, token, migrate, registry, app_secrets, passwords = (
                values[0],
                values[1],
                values[2],
                values[3],
                values[4],
                values[5:],
            )
            return cloudinit.web_secret_document(
                ca=ca,
                app_user=app.user,
                app_passwords=passwords,
                write_token=token,
                migrate_password=migrate,
                app_secrets=app_secrets,
                registry_password=registry,
            )

        if app is not None:
            secrets_doc = pulumi.Output.all(
                app.ca_certificate,
                app.write_token,
                app.migrate_password,
                app.registry_password,
                app.app_secrets,
                *app.passwords,
            ).apply(secret_doc)
        else:
            secrets_doc = pulumi.Output.from_input({"v": host_secrets.VERSION})

        def app_runtime(values: list) -> dict | None:
            if app is None:
                return None
            hosts, members, token, app_secrets = values
            spec = app.spec
            return cloudinit.app_runtime_section(
                spec=spec,
                version=cloudinit.secrets_version(dict(app_secrets or {}), token),
                host=host,
                placement=args.placement,
                label=args.placement_label,
                placements=list(app.placements),
                members=dict(members),
                db_hosts=list(hosts),
                db_port=POSTGRES_PORT,
                dbname=app.dbname,
            )

        app_part = (
            pulumi.Output.all(app.database_hosts, app.members, app.write_token, app.app_secrets).apply(app_runtime)
            if app is not None
            else pulumi.Output.from_input(None)
        )

        def render(values: list) -> str:
            hosts, others, host_key, doc, part, monitoring = values
            database = (
                cloudinit.AppDatabase(hosts=tuple(hosts), dbname=app.dbname, user=app.user) if app is not None else None
            )
            return credentials.packed_user_data(
                host,
                cloudinit.render_web(
                    placement_label=args.placement_label,
                    app_title=args.app_title,
                    https=args.https,
                    server_name=args.server_name,
                    hostname=host,
                    ssh_authorized_keys=list(args.ssh_public_keys),
                    database=database,
                    application=app.spec if app is not None else None,
                    app_runtime=part,
                    host_key=host_key,
                    secrets_doc=doc,
                    admin_cidrs=list(args.admin_cidrs),
                    acme_peers=others,
                    monitoring=monitoring,
                ),
            )

        user_data = pulumi.Output.all(
            app.database_hosts if app is not None else None, peers, key.result, secrets_doc, app_part, self._monitoring
        ).apply(render)
        sealed = pulumi.Output.all(key.result, secrets_doc).apply(lambda v: host_secrets.seal(v[1], v[0]))
        widest_doc = (
            cloudinit.web_secret_document(
                ca=WIDEST_CA,
                app_user=app.user,
                write_token="t" * 64,
                migrate_password="m" * 128,
                app_passwords=["p" * 128] * min(generations, 2),
                app_secrets={n: "s" * app.secret_lengths[n] for n in app.spec.secret_names},
                registry_password="r" * app.registry_password_length if app.spec.registry_user else None,
            )
            if app is not None
            else {"v": host_secrets.VERSION}
        )

        def web_runtime(values: list) -> dict:
            others, part, monitoring = values
            return cloudinit.web_runtime(
                admin_cidrs=list(args.admin_cidrs),
                acme_peers=others,
                monitoring=monitoring,
                ssh_keys=list(args.ssh_public_keys),
                server_name=args.server_name,
                https=args.https,
                app_title=args.app_title,
                app=part,
            )

        widest = [runtime.widest_address(i) for i in range(self._web_total - 1)]
        widest_part = (
            None
            if app is None
            else app_runtime(
                [
                    [runtime.widest_address(i) for i in range(len(app.member_placements))],
                    {runtime.widest_address(i): p for i, p in enumerate(app.member_placements)},
                    "t",
                    {},
                ]
            )
        )
        widest_monitoring = [runtime.widest_address(100 + i) for i in range(self._monitoring_total)]
        meta = {
            **metadata(
                labels(WEB, exempt=args.exempt),
                pulumi.Output.all(peers, app_part, self._monitoring).apply(web_runtime),
                web_runtime([widest, widest_part, widest_monitoring]),
            ),
            **credentials.sealed_items(sealed, credentials.slots_for(len(host_secrets.seal(widest_doc, "k" * 64)))),
        }
        return openstack.compute.Instance(
            f"{name}-web-{index}",
            name=host,
            flavor_name=args.flavor,
            image_name=args.image,
            availability_zone=args.availability_zone,
            networks=[
                # first NIC: the public port made beforehand (its address is access_ip_v4)
                openstack.compute.InstanceNetworkArgs(port=self.web_ports[index - 1].id, access_network=True),
                openstack.compute.InstanceNetworkArgs(uuid=self.network.id),
            ],
            # applied to the private NIC; the public port wears the same groups
            security_groups=[self.web_security_group.name, self.admin_security_group.name],  # type: ignore[union-attr]
            scheduler_hints=[openstack.compute.InstanceSchedulerHintArgs(group=self.server_group.id)],
            # labels + the runtime configuration (the firewall's admin networks, the ACME peers, the SSH keys, the
            # site: server name, https, title) + the sealed secrets: updated in place
            metadata=meta,
            tags=label_tags(labels(WEB, exempt=args.exempt)),
            user_data=pulumi.Output.secret(user_data),  # type: ignore[arg-type]  # holds the host's key
            opts=host_options(child, depends_on=[self.subnet]),
        )

    def _load_balancer(
        self,
        name: str,
        base: str,
        args: RegionalWebStackArgs,
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        settings = args.load_balancer
        assert settings is not None
        lb_tags = tags(LOAD_BALANCER, exempt=args.exempt)
        router = openstack.networking.Router(
            f"{name}-router",
            name=base,
            admin_state_up=True,
            external_network_id=settings.floating_network_id,
            tags=tags(WEB),
            opts=child,
        )
        router_if = openstack.networking.RouterInterface(
            f"{name}-router-if",
            router_id=router.id,
            subnet_id=self.subnet.id,
            opts=child,
        )
        lb = openstack.loadbalancer.LoadBalancer(
            f"{name}-lb",
            name=base,
            vip_subnet_id=self.subnet.id,
            tags=lb_tags,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[router_if])),
        )
        self.load_balancer = lb
        frontends = [("http", "HTTP", 80)] + ([("https", "TCP", 443)] if args.https else [])
        for kind, protocol, port in frontends:
            listener = openstack.loadbalancer.Listener(
                f"{name}-lb-{kind}",
                name=f"{base}-{kind}",
                loadbalancer_id=lb.id,
                protocol=protocol,
                protocol_port=port,
                tags=lb_tags,
                opts=child,
            )
            pool = openstack.loadbalancer.Pool(
                f"{name}-lb-{kind}-pool",
                name=f"{base}-{kind}",
                listener_id=listener.id,
                protocol=protocol,
                lb_method="ROUND_ROBIN",
                tags=lb_tags,
                opts=child,
            )
            http = protocol == "HTTP"
            openstack.loadbalancer.Monitor(
                f"{name}-lb-{kind}-health",
                name=f"{base}-{kind}",
                pool_id=pool.id,
                delay=5,
                timeout=3,
                max_retries=3,
                type="HTTP" if http else "TCP",
                http_method="GET" if http else None,
                url_path="/healthz" if http else None,
                expected_codes="200" if http else None,
                opts=child,
            )
            for i, host in enumerate(self.web_instances, start=1):
                openstack.loadbalancer.Member(
                    f"{name}-lb-{kind}-web-{i}",
                    name=f"{base}-web-{i}",
                    pool_id=pool.id,
                    address=_private_ip(host),
                    protocol_port=port,
                    subnet_id=self.subnet.id,
                    opts=child,
                )
        address = openstack.networking.FloatingIp(
            f"{name}-lb-ip",
            pool=settings.floating_network,
            description=f"{base} load balancer",
            tags=lb_tags,
            opts=child,
        )
        openstack.networking.FloatingIpAssociate(
            f"{name}-lb-ip-assoc",
            floating_ip=address.address,
            port_id=lb.vip_port_id,
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[router_if])),
        )
        return address.address


def _private_ip(instance: openstack.compute.Instance) -> pulumi.Output[str]:
    """The instance's address on the private network (its second NIC)."""
    return instance.networks.apply(lambda nets: str(nets[1].fixed_ip_v4 or ""))
