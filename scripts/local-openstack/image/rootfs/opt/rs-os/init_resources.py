"""Once per region: what the stacks name (flavors, images, external networks), the compute host mapped
into its cell. Admin-made and public, as a provider's own flavors, images and external networks are."""

import ipaddress
import pathlib
import subprocess

from common import BACKEND, admin, until, volume_services

c = admin()
for f in BACKEND["flavors"]:
    if c.compute.find_flavor(f["name"], ignore_missing=True) is None:
        c.compute.create_flavor(name=f["name"], vcpus=f["vcpus"], ram=f["ram"], disk=f["disk"], is_public=True)
for name in BACKEND["images"]:
    if c.image.find_image(name, ignore_missing=True) is None:
        # 1 MiB of zeros: Nova's fake driver never reads it; the name is what the stacks ask for
        c.image.create_image(
            name=name,
            data=b"\0" * 1048576,
            disk_format="raw",
            container_format="bare",
            visibility="public",
            allow_duplicates=True,
        )
for i, net in enumerate(BACKEND["external_networks"]):
    n = c.network.find_network(net["name"], ignore_missing=True)
    if n is None:
        # shared AND external: the stacks attach instances to it directly (OVHcloud's Ext-Net,
        # Infomaniak's ext-net1); router:external alone makes Nova refuse a member's instance
        # (ExternalNetworkAttachForbidden)
        n = c.network.create_network(
            name=net["name"],
            is_router_external=True,
            is_shared=True,
            provider_network_type="flat",
            provider_physical_network=f"ext{i}",
        )
    if not list(c.network.subnets(network_id=n.id)):
        cidr = ipaddress.ip_network(net["cidr"])
        hosts = list(cidr.hosts())
        c.network.create_subnet(
            name=f"{net['name']}-subnet",
            network_id=n.id,
            ip_version=4,
            cidr=str(cidr),
            enable_dhcp=False,
            gateway_ip=str(hosts[0]),
            allocation_pools=[{"start": str(hosts[9]), "end": str(hosts[-1])}],
        )
until(
    "nova-compute registered",
    lambda: [s for s in c.compute.services() if s.binary == "nova-compute" and s.state == "up"],
)
subprocess.run(["nova-manage", "cell_v2", "discover_hosts", "--verbose"], check=True)
until("cinder-volume up", lambda: volume_services(c, "cinder-volume"))
pathlib.Path("/var/lib/rs-os/resources-initialized").touch()
print("resources init done")
