"""What a server's host is made of on the local clouds' fabric (pure: Nova's and Neutron's answers in, names and
arguments out; standard library only). The compute agent (compute_agent.py) does the wiring with them."""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path

from local_openstack import LABEL
from local_openstack import Failed as AgentError  # one line for the log (the script's own error)

HOST_IMAGE = os.environ.get("RESILIENT_STACK_HOST_IMAGE", "localhost/resilient-stack-host:bookworm-8")
SERVER_LABEL = "resilient-stack.local-openstack.server"

# cloud-init's configuration of a cloud host: the OpenStack datasource only (mounted over the image's NoCloud
# choice), its network configuration left to the fabric, a short wait for the metadata service.
CLOUD_CFG = """\
# local clouds (scripts/local-openstack/compute_agent.py): Nova's metadata service, as on an OpenStack cloud
datasource_list: [ OpenStack, None ]
datasource:
  OpenStack:
    max_wait: 120
    timeout: 10
    retries: 5
network: {config: disabled}
"""


def cloud_cfg(ca_pem: str) -> str:
    """:data:`CLOUD_CFG` and the local CA trusted (cloud-init's ca_certs, before any user data runs): the local
    clouds' TLS endpoints (the backups' S3 endpoint) are served with certificates of that CA."""
    pem = ca_pem.strip()
    if not pem.startswith("-----BEGIN CERTIFICATE-----"):
        raise AgentError("the local CA is not a PEM certificate")
    indented = "".join(f"      {line}\n" for line in pem.splitlines())
    return CLOUD_CFG + "ca_certs:\n  trusted:\n    - |\n" + indented


# the datasource's first (init-local) attempt asks DHCP for an address; the fabric has no DHCP server: answer fast
DHCLIENT_CONF = "# local clouds: no DHCP server on the fabric (the agent sets the addresses)\ntimeout 2;\nretry 1;\n"


def hexid(uuid: str, n: int) -> str:
    return uuid.replace("-", "")[:n]


def bridge_name(network_id: str) -> str:
    """The hub's bridge of a Neutron network (15 characters at most, as Linux allows)."""
    return "b" + hexid(network_id, 13)


def veth_name(port_id: str) -> str:
    """The hub's end of a port's cable."""
    return "p" + hexid(port_id, 13)


def netns_name(name: str, server_id: str) -> str:
    return f"rsos-{name}-i{hexid(server_id, 12)}"


def volume_file(run_dir: Path, name: str, volume_id: str) -> Path:
    """A Cinder volume's bytes: a sparse file named after the clouds (``down`` detaches its loop device by it)."""
    return run_dir / "volumes" / f"rsos-{name}-{volume_id}.img"


def volume_files(run_dir: Path, name: str) -> dict[str, Path]:
    """{volume id: its file} of every volume file the clouds ``name`` keep."""
    prefix, suffix = f"rsos-{name}-", ".img"
    return {p.name[len(prefix) : -len(suffix)]: p for p in (run_dir / "volumes").glob(f"{prefix}*{suffix}")}


def disk_link(volume_id: str) -> str:
    """Where a host finds an attached volume: the serial a virtio disk carries is the volume id's first 20
    characters (``/dev/disk/by-id/virtio-<serial>``, what the database hosts' data-volume script looks for)."""
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


def attached_volumes(server: dict) -> list[str]:
    """The ids of the volumes Nova attached to ``server`` (its detail, any microversion)."""
    return [v["id"] for v in server.get("os-extended-volumes:volumes_attached") or []]


def container_name(name: str, server: dict) -> str:
    slug = re.sub(r"[^a-zA-Z0-9_.-]+", "-", server["name"]).strip("-")[:40] or "server"
    return f"rsos-{name}-{slug}-{hexid(server['id'], 8)}"


@dataclass(frozen=True)
class Nic:
    """One interface of a host: a Neutron port, as the instance sees it."""

    device: str  # eth0, eth1... in Nova's order
    mac: str
    port_id: str
    network_id: str
    addresses: tuple[str, ...]  # address/prefix
    gateway: str | None  # the default route's, on the first interface that has one
    external: bool  # on a router:external network (the hub holds its gateway)
    gateway_cidr: str | None  # the subnet's gateway/prefix, for the hub's side of an external network


def plan_nics(network_data: dict, ports: list[dict], subnets: dict[str, dict], external: set[str]) -> list[Nic]:
    """The host's interfaces: one per link of Nova's ``network_data.json`` (its order: eth0 first), matched to the
    Neutron port of the same MAC, with the port's fixed addresses on their subnets' prefixes. The first interface
    whose subnet has a gateway carries the default route. A link without a port, or a port without a link, is an
    error (Nova and Neutron disagree: the host is not booted)."""
    by_mac = {p["mac_address"].lower(): p for p in ports}
    links = network_data.get("links") or []
    if len(links) != len(by_mac):
        raise AgentError(f"network_data.json lists {len(links)} links, Neutron {len(by_mac)} ports")
    nics: list[Nic] = []
    default_taken = False
    for i, link in enumerate(links):
        mac = str(link.get("ethernet_mac_address", "")).lower()
        port = by_mac.get(mac)
        if port is None:
            raise AgentError(f"network_data.json link {link.get('id')} ({mac}): no Neutron port has this MAC")
        addresses, gateway, gateway_cidr = [], None, None
        for fixed in port.get("fixed_ips") or []:
            subnet = subnets[fixed["subnet_id"]]
            net = ipaddress.ip_network(subnet["cidr"])
            if net.version != 4:
                continue
            addresses.append(f"{fixed['ip_address']}/{net.prefixlen}")
            if subnet.get("gateway_ip") and gateway_cidr is None:
                gateway_cidr = f"{subnet['gateway_ip']}/{net.prefixlen}"
                if not default_taken:
                    gateway, default_taken = subnet["gateway_ip"], True
        nics.append(
            Nic(
                device=f"eth{i}",
                mac=mac,
                port_id=port["id"],
                network_id=port["network_id"],
                addresses=tuple(addresses),
                gateway=gateway,
                external=port["network_id"] in external,
                gateway_cidr=gateway_cidr,
            )
        )
    return nics


def public_addresses(nics: list[Nic]) -> list[str]:
    """The addresses the metadata proxy knows the host by: those on external networks (unique across regions:
    each region's external subnet is its own; private subnets may overlap)."""
    return [a.split("/")[0] for n in nics if n.external for a in n.addresses]


def run_args(
    name: str,
    server: dict,
    region: str,
    ns: str,
    cfg: Path,
    dhclient: Path,
    disk: Path,
    image: str,
    hosts: dict[str, str] | None = None,
) -> list:
    """``podman run`` of a server's host; ``hosts``: {name: address} in its /etc/hosts (the clouds' TLS endpoints,
    which no resolver on the fabric answers for)."""
    return [
        "podman", "run", "-d", "--name", container_name(name, server), "--hostname", server["name"],
        "--label", f"{LABEL}={name}", "--label", f"{SERVER_LABEL}={server['id']}",
        "--label", f"resilient-stack.local-openstack.region={region}",
        "--systemd=always",
        # a VM: its own kernel, devices and container storage (web hosts run their application in podman)
        "--privileged", "-v", f"{disk}:/var/lib/containers",
        "--network", f"ns:/run/netns/{ns}",
        "-e", "product_name=OpenStack Nova",
        # no resolver on the fabric yet: lookups fail at once instead of timing out (cloud-init resolves its URLs)
        "--dns", "127.0.0.1",
        *(f"--add-host={h}:{a}" for h, a in sorted((hosts or {}).items())),
        "-v", f"{cfg}:/etc/cloud/cloud.cfg.d/90-nocloud.cfg:ro",
        "-v", f"{dhclient}:/etc/dhcp/dhclient.conf:ro",
        image,
    ]  # fmt: skip
