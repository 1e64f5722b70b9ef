"""One placement of the stack configuration (the models' base, cloud-style names and CIDRs: config_base).

Split from :mod:`resilient_stack.components.stack_config` (which re-exports them) to keep each module short.
"""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from resilient_stack.components.config_base import CloudName
from resilient_stack.components.config_base import ConfigModel as _Model
from resilient_stack.components.config_base import as_the_cloud_compares as _as_the_cloud_compares
from resilient_stack.components.config_base import cidr as _cidr
from resilient_stack.core.vocabulary import AUTH_URL, PLACEMENT_NAME, UUID

__all__ = ["CloudName", "PlacementConfig"]


class PlacementConfig(_Model):
    """One entry of ``resilient-stack:placements``: one region running part of the stack, through its own
    explicit OpenStack provider (private network and subnet, security groups, a soft-anti-affinity server
    group, the web hosts, optionally a load balancer and a database member)."""

    name: str = Field(
        min_length=1,
        max_length=20,
        pattern=PLACEMENT_NAME,
        description="Short name of the placement (`gra`), unique in the stack; part of the host names.",
    )
    cloud: CloudName | None = Field(
        default=None,
        min_length=1,
        description="The `clouds.yaml` entry holding this placement's credentials, and so its project "
        "(`backup-shares-project` compares it with the backups'). The catalog maps it to a provider "
        "(`ovh`, `ovhcloud`, `ovh-us`, `infomaniak`, ...: see `resilient-stack catalog`).",
    )
    auth_url: str | None = Field(
        default=None,
        min_length=1,
        pattern=AUTH_URL,
        description="The Keystone URL. Overrides the clouds.yaml one and identifies the provider precisely "
        "(Infomaniak: pub1 serves dc3-a, pub2 serves dc4-a).",
    )
    region: CloudName = Field(
        min_length=1,
        max_length=128,
        description="OpenStack region (`GRA11`, `WAW1`, `dc4-a`). The region with the cloud or auth URL must be in "
        "the catalog, else `unknown-placement` refuses the stack.",
    )
    availability_zone: CloudName | None = Field(
        default=None,
        min_length=1,
        description="Pin the hosts to this availability zone; needed in multi-AZ regions (EU-WEST-PAR) for "
        "placements there to count as distinct buildings.",
    )
    web_count: int = Field(
        default=2,
        ge=0,
        le=50,
        description="Web hosts in this placement. `0` only for a placement that holds a database member.",
    )
    flavor: str = Field(
        min_length=1,
        max_length=255,
        description="Flavor NAME of the web hosts (`openstack flavor list`), given to Nova as it is (no lookup).",
    )
    database_flavor: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Flavor NAME of the database host; unset: `flavor`.",
    )
    image: str = Field(
        min_length=1,
        max_length=255,
        description="Image NAME (`openstack image list`) of a Debian 12 image: cloud-init installs nginx and "
        "PostgreSQL 15 from Debian's packages.",
    )
    external_network: str = Field(
        default="Ext-Net",
        min_length=1,
        max_length=255,
        description="NAME of the public network the hosts attach to: each host's public address is a port on it, made "
        "before the hosts (the database members and the web hosts know each other's addresses). OVHcloud: `Ext-Net`; "
        "Infomaniak: `ext-net1`.",
    )
    external_network_id: str | None = Field(
        default=None,
        pattern=UUID,
        description="ID of `externalNetwork` (`openstack network show Ext-Net -f value -c id`). Unset: the program "
        "looks it up by name once the placement's network exists (a preview of a new stack needs no cloud). Set it "
        "to preview a deployed stack without reaching the cloud.",
    )
    private_cidr: str = Field(
        description="The placement's private IPv4 network: RFC 1918, prefix length /16 to /28, overlapping no other "
        "placement's.",
    )
    database_role: Literal["primary", "replica", "none"] = Field(
        default="none",
        description="`primary` (exactly one placement), `replica` (streams from the primary; the replicas in config "
        "order are the failover order) or `none`.",
    )
    load_balancer: bool = Field(
        default=False,
        description="An Octavia load balancer (HTTP :80, and TCP :443 with `web.https`) health-checking the web "
        "hosts on `/healthz`, with a floating IP; needs `floatingNetworkId`. Enable it in at least two sites: a lone "
        "load balancer is a single-site role and is refused.",
    )
    floating_network: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="NAME of the floating IP pool (Infomaniak: `ext-floating1`); unset: `externalNetwork`.",
    )
    floating_network_id: str | None = Field(
        default=None,
        pattern=UUID,
        description="ID of the floating network, for the load balancer's router gateway (Neutron takes no name there "
        "and the program makes no lookups): `openstack network show Ext-Net -f value -c id`. Required when "
        "`loadBalancer` is true.",
    )
    exempt: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="An exemption reason: findings that name only this placement's replicas are waived and listed "
        "with it (the resources carry the label `resilient-stack:exempt`).",
    )

    _names = field_validator("cloud", "region", "availability_zone")(_as_the_cloud_compares)

    @field_validator("private_cidr")
    @classmethod
    def _private_cidr(cls, v: str) -> str:
        c = _cidr(v, version=4)
        net = ipaddress.ip_network(c)
        if not net.is_private:
            raise ValueError(f"{c!r} is not a private (RFC 1918) network")
        if not 16 <= net.prefixlen <= 28:
            raise ValueError(f"{c!r}: use a prefix length between /16 and /28")
        return c

    @property
    def hosts_database(self) -> bool:
        return self.database_role != "none"

    @property
    def effective_database_flavor(self) -> str:
        return self.database_flavor or self.flavor

    @property
    def effective_floating_network(self) -> str:
        return self.floating_network or self.external_network
