"""The regional web stack's arguments and pure helpers: the security group rules it opens (as data), its settings
(:class:`RegionalWebStackArgs`, validated before any resource), the user's application as the web hosts get it
(:class:`WebApp`) and a port's IPv4 address. No resource is made here: :mod:`resilient_stack.components.regional`
makes them.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import pulumi
import pulumi_openstack as openstack

from resilient_stack.core.vocabulary import (
    HTTP_PORT,
    HTTPS_PORT,
    PLACEMENT_NAME_RE,
    POSTGRES_PORT,
    SSH_PORT,
    UUID_RE,
)
from resilient_stack.hosts import cloudinit

# --------------------------------------------------------------------------------------------------
# Pure helpers: security rules
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IngressRule:
    """One TCP ingress rule: ``port`` from ``cidr`` (the ethertype follows the CIDR's IP version)."""

    suffix: str
    port: int
    cidr: str
    description: str

    @property
    def ethertype(self) -> str:
        return "IPv6" if ipaddress.ip_network(self.cidr).version == 6 else "IPv4"


def _slug(cidr: str) -> str:
    return re.sub(r"[^0-9a-f]+", "-", cidr.lower()).strip("-")


def web_rules() -> list[IngressRule]:
    """HTTP and HTTPS open to the world, IPv4 and IPv6."""
    return [
        IngressRule(f"{name}-{fam}", port, cidr, f"{name.upper()} from anywhere ({fam})")
        for name, port in (("http", HTTP_PORT), ("https", HTTPS_PORT))
        for fam, cidr in (("v4", "0.0.0.0/0"), ("v6", "::/0"))
    ]


def admin_rules(admin_cidrs: Sequence[str]) -> list[IngressRule]:
    """SSH only from the admin networks (none: SSH closed)."""
    return [IngressRule(f"ssh-{_slug(c)}", SSH_PORT, c, f"SSH from admin network {c}") for c in admin_cidrs]


def database_rules(cidrs: Sequence[str]) -> list[IngressRule]:
    """PostgreSQL from the given networks only (``appCidrs``); a world-open network is refused."""
    out = []
    for c in cidrs:
        if ipaddress.ip_network(c).prefixlen == 0:
            raise ValueError(f"PostgreSQL must never be open to {c}")
        out.append(IngressRule(f"pg-{_slug(c)}", POSTGRES_PORT, c, f"PostgreSQL from {c}"))
    return out


def _check_cidrs(values: Sequence[str], what: str, *, allow_world: bool = False) -> None:
    if isinstance(values, str):
        raise ValueError(f"{what} must be a list of CIDR networks, not a string")
    for c in values:
        try:
            net = ipaddress.ip_network(c, strict=True)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{what}: {c!r} is not a CIDR network ({exc})") from None
        if net.prefixlen == 0 and not allow_world:
            raise ValueError(f"{what}: {c!r} opens the port to the whole Internet")


# --------------------------------------------------------------------------------------------------
# Args
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadBalancerSettings:
    """An Octavia load balancer in front of the placement's web hosts.

    ``floating_network`` is the floating IP pool (by name); ``floating_network_id`` its ID, which the
    router gateway needs (Neutron takes no name there, and the components make no lookups).
    """

    floating_network: str
    floating_network_id: str


@dataclass(frozen=True)
class RegionalWebStackArgs:
    """What one placement needs. Plain values (validated by :meth:`validate`) plus the provider.

    Attributes:
        placement: the placement's name (lower case, digits, dashes): used in names and labels.
        provider: the explicit ``openstack.Provider`` of this placement; every child uses it.
        prefix: prefix of the cloud-side names (``<prefix>-<placement>-web-1`` ...).
        placement_label: where this is, shown on the web hosts' index page (e.g. ``ovhcloud/GRA11/gra``).
        web_count: number of web hosts (0: a database-only placement).
        flavor, image: flavor and image NAMES of the web hosts.
        external_network: NAME of the public network the instances attach to (``Ext-Net``, ``ext-net1``).
        private_cidr: the placement's private IPv4 network.
        admin_cidrs: networks allowed to SSH (empty: SSH closed).
        external_network_id: ID of ``external_network`` (the public ports need it), or None: looked up by name.
        hosts_database: create the ``db`` security group and the public port of this placement's database member.
        database_cidrs: further networks allowed to reach PostgreSQL (``appCidrs``; the database tier adds the
            members' and the web hosts' /32s).
        availability_zone: pin the instances to an AZ (multi-AZ regions).
        ssh_public_keys: public keys of the image's default user (runtime configuration: changed in place).
        app_title, https, server_name: what the web hosts serve (see :func:`cloudinit.render_web`; runtime
            configuration, changed in place).
        load_balancer: an Octavia load balancer, or None.
        exempt: exemption reason put on every replica's labels, or None.
    """

    placement: str
    provider: openstack.Provider
    prefix: str
    placement_label: str
    web_count: int
    flavor: str
    image: str
    external_network: str
    private_cidr: str
    admin_cidrs: Sequence[str] = ()
    external_network_id: str | None = None
    hosts_database: bool = False
    database_cidrs: Sequence[str] = ()
    availability_zone: str | None = None
    ssh_public_keys: Sequence[str] = ()
    app_title: str = "Resilient Stack"
    https: bool = False
    server_name: str = "_"
    load_balancer: LoadBalancerSettings | None = None
    exempt: str | None = None

    def validate(self) -> None:
        """Raise ValueError (naming the field) on anything that cannot be deployed."""
        if not isinstance(self.provider, openstack.Provider):
            raise ValueError("provider must be an explicit pulumi_openstack.Provider")
        for field_name in ("placement", "prefix"):
            if not PLACEMENT_NAME_RE.match(getattr(self, field_name) or ""):
                raise ValueError(f"{field_name} must be lower-case letters, digits and dashes")
        if len(f"{self.prefix}-{self.placement}-web-{max(self.web_count, 1)}") > 63:
            raise ValueError("prefix and placement are too long for a host name (63 characters)")
        if not isinstance(self.web_count, int) or isinstance(self.web_count, bool) or not 0 <= self.web_count <= 50:
            raise ValueError("web_count must be an int in 0..50")
        for field_name in ("flavor", "image", "external_network", "placement_label"):
            if not isinstance(getattr(self, field_name), str) or not getattr(self, field_name).strip():
                raise ValueError(f"{field_name} must be a non-empty name")
        _check_cidrs([self.private_cidr], "private_cidr")
        if ipaddress.ip_network(self.private_cidr).version != 4:
            raise ValueError("private_cidr must be an IPv4 network")
        _check_cidrs(self.admin_cidrs, "admin_cidrs")
        _check_cidrs(self.database_cidrs, "database_cidrs")
        if self.database_cidrs and not self.hosts_database:
            raise ValueError("database_cidrs without hosts_database: no database member here to admit them to")
        if self.external_network_id is not None and not UUID_RE.match(self.external_network_id):
            raise ValueError("external_network_id must be the external network's ID (a UUID)")
        if self.load_balancer is not None:
            if self.web_count < 1:
                raise ValueError("a load balancer needs at least one web host")
            if not UUID_RE.match(self.load_balancer.floating_network_id or ""):
                raise ValueError("load_balancer.floating_network_id must be the floating network's ID (a UUID)")
        if self.web_count:
            # fail now, not half-way through the deployment: the hosts layer's rule for the web role
            cloudinit.validate_web(
                placement_label=self.placement_label,
                app_title=self.app_title,
                https=self.https,
                server_name=self.server_name,
                ssh_authorized_keys=list(self.ssh_public_keys),
            )


@dataclass(frozen=True)
class WebApp:
    """The user's application on the web hosts (:mod:`resilient_stack.hosts.app`): its spec, and what it gets: the
    database (every member's public address in the order clients try them, and each one's placement), the
    application's role with every generation of its password so far (secrets, oldest first), the release phase's
    password, the write token, the user's secrets, the registry's password (secrets) and the cluster CA's
    certificate (what the application verifies the members with). ``placements``: the stack's placements that have
    web hosts, in the stack's order (a release goes through them)."""

    spec: cloudinit.AppSpec
    database_hosts: pulumi.Input[Sequence[str]]
    members: pulumi.Input[Mapping[str, str]]
    dbname: str
    user: str
    passwords: Sequence[pulumi.Input[str]]
    migrate_password: pulumi.Input[str]
    write_token: pulumi.Input[str]
    ca_certificate: pulumi.Input[str]
    placements: Sequence[str]
    member_placements: Sequence[str]  # the database members' placements (the metadata's size is known from them)
    app_secrets: pulumi.Input[Mapping[str, str]]
    registry_password: pulumi.Input[str] | None = None
    # the room each secret takes in the metadata (cloudinit.reserved_length: known from the configuration, the
    # metadata's items must be known at preview)
    secret_lengths: Mapping[str, int] = field(default_factory=dict)
    registry_password_length: int = 0


def first_ipv4(addresses: Sequence[str] | None) -> str:
    """The IPv4 address among a port's fixed IPs (OVHcloud's Ext-Net gives an IPv6 one too, sometimes first)."""
    for a in addresses or []:
        try:
            if ipaddress.ip_address(a).version == 4:
                return a
        except ValueError:
            continue
    return ""
