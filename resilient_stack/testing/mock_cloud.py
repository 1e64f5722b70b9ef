"""The mock cloud behind :class:`resilient_stack.testing.mockrun.RecordingMocks`: realistic, deterministic outputs
for each resource type resilient-stack creates (ids and addresses derived from the resource's URN, addresses taken
from the subnets the program created, public addresses for ports on an external network, generated passwords,
the cluster's certificates), and the values' helpers (secrets unwrapped, protobuf numbers given back their type).
A type it does not know is the caller's failure to raise (:class:`MockRunError`: loudly, never a guess).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import threading
import uuid
from typing import Any, Callable, Mapping, NoReturn

from resilient_stack.components import pki
from resilient_stack.testing import pulumi_internals as pulumi_mocks
from resilient_stack.testing.pulumi_internals import SECRET_SIG, SECRET_VALUE

# When the mock PKI issues its certificates, and for how long: fixed, so that the same program gives the same user data
# and metadata; long, so that a state made from a mocked run is never within the renewal window of a real preview
PKI_NOW = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
PKI_DAYS = 3000
PUBLIC_POOL = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: never routed
PUBLIC_POOL_V6 = ipaddress.ip_network("2001:db8::/32")  # RFC 3849 documentation range
_NS = uuid.UUID("6f1d8a52-3c1e-4f57-9a31-9d7a0c1f2b44")


class MockRunError(RuntimeError):
    """The program did something the mocks refuse to fake (loudly, so tests cannot pass by accident)."""


class UnexpectedInvoke(MockRunError):
    """An invoke (data-source lookup): the program must create a new stack without any."""


class UnmockedResource(MockRunError):
    """A resource type (or a read of an existing resource) the mocks do not know."""


# --------------------------------------------------------------------------------------------------
# Values: secrets and numbers
# --------------------------------------------------------------------------------------------------


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG) == SECRET_VALUE


def _plain(value: Any) -> Any:
    """Unwrap secrets anywhere, and give integral floats (protobuf numbers) back their int type."""
    if _is_secret(value):
        return _plain(value.get("value"))
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _contains_secret(value: Any) -> bool:
    if _is_secret(value):
        return True
    if isinstance(value, dict):
        return any(_contains_secret(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(_contains_secret(v) for v in value)
    return False


def _split(props: Mapping[str, Any]) -> tuple[dict[str, Any], frozenset[str]]:
    return {k: _plain(v) for k, v in props.items()}, frozenset(k for k, v in props.items() if _contains_secret(v))


def _digest(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256("\0".join(parts).encode()).digest()[:8], "big")


class MockCloud:
    """What the cloud answers, per resource type (:attr:`handlers`), and the addresses it hands out."""

    def __init__(self, public_address: Callable[[str, int], str] | None = None) -> None:
        self.public_address = public_address
        self._lock = threading.RLock()
        self._providers: dict[str, dict[str, Any]] = {}  # provider id -> inputs
        self._network_cidrs: dict[str, str] = {}  # network id -> IPv4 subnet CIDR
        self._subnet_cidrs: dict[str, str] = {}  # subnet id -> CIDR
        self._external: dict[str, str] = {}  # external network id -> name (looked up by the program)
        self._ports: dict[str, dict[str, Any]] = {}  # port id -> {"name", "v4", "v6", "network"}
        self._taken: set[str] = set()
        self._handlers: dict[str, Callable[[pulumi_mocks.MockResourceArgs, str, dict], dict]] = {
            "openstack:networking/network:Network": self._network,
            "openstack:networking/subnet:Subnet": self._subnet,
            "openstack:networking/secGroup:SecGroup": self._tagged,
            "openstack:networking/secGroupRule:SecGroupRule": self._plain_resource,
            "openstack:networking/router:Router": self._tagged,
            "openstack:networking/routerInterface:RouterInterface": self._router_interface,
            "openstack:networking/floatingIp:FloatingIp": self._floating_ip,
            "openstack:networking/floatingIpAssociate:FloatingIpAssociate": self._plain_resource,
            "openstack:networking/port:Port": self._port,
            "openstack:compute/serverGroup:ServerGroup": self._server_group,
            "openstack:compute/instance:Instance": self._instance,
            "openstack:blockstorage/volume:Volume": self._volume,
            "openstack:compute/volumeAttach:VolumeAttach": self._volume_attach,
            "openstack:objectstorage/container:Container": self._container,
            "openstack:loadbalancer/loadBalancer:LoadBalancer": self._load_balancer,
            "openstack:loadbalancer/listener:Listener": self._tagged,
            "openstack:loadbalancer/pool:Pool": self._tagged,
            "openstack:loadbalancer/monitor:Monitor": self._plain_resource,
            "openstack:loadbalancer/member:Member": self._plain_resource,
            "openstack:dns/recordSet:RecordSet": self._plain_resource,
            "random:index/randomPassword:RandomPassword": self._random_password,
            pki.TYPE_TOKEN: self._pki,
        }

    def _fail(self, exc: MockRunError) -> NoReturn:
        raise exc

    # -- helpers ---------------------------------------------------------------------------------
    def _provider_region(self, ref: str | None) -> str | None:
        if not ref or "::" not in ref:
            return None
        with self._lock:
            inputs = self._providers.get(ref.rsplit("::", 1)[1], {})
        region = inputs.get("region")
        return region if isinstance(region, str) else None

    def _allocate(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, key: str, first: int = 10) -> str:
        """A free address of ``network`` chosen by the key's hash (collisions probe onwards)."""
        span = network.num_addresses - first - 1
        if span <= 0:
            raise MockRunError(f"mockrun: network {network} is too small to allocate from")
        start = _digest(str(network), key) % span
        with self._lock:
            for step in range(span):
                addr = str(network.network_address + first + (start + step) % span)
                if addr not in self._taken:
                    self._taken.add(addr)
                    return addr
        raise MockRunError(f"mockrun: network {network} is full")

    @staticmethod
    def _echo(args: pulumi_mocks.MockResourceArgs, extra: dict) -> dict:
        return {**args.inputs, **extra}

    # -- per type --------------------------------------------------------------------------------
    def _plain_resource(self, args, key, base):
        return self._echo(args, base)

    def _tagged(self, args, key, base):
        return self._echo(args, {**base, "allTags": _plain(args.inputs.get("tags", []))})

    def _network(self, args, key, base):
        return self._echo(
            args,
            {
                **base,
                "allTags": _plain(args.inputs.get("tags", [])),
                "mtu": 1500,
                "adminStateUp": True,
                "external": False,
                "shared": False,
            },
        )

    def _subnet(self, args, key, base):
        cidr = _plain(args.inputs.get("cidr"))
        net = ipaddress.ip_network(cidr)
        with self._lock:
            self._network_cidrs[_plain(args.inputs.get("networkId"))] = cidr
            self._subnet_cidrs[base["id"]] = cidr
        gateway = str(net.network_address + 1)
        pool = {"start": str(net.network_address + 2), "end": str(net.broadcast_address - 1)}
        return self._echo(
            args,
            {
                **base,
                "gatewayIp": gateway,
                "allocationPools": [pool],
                "enableDhcp": True,
                "ipVersion": net.version,
                "allTags": _plain(args.inputs.get("tags", [])),
            },
        )

    def _router_interface(self, args, key, base):
        return self._echo(args, {**base, "portId": str(uuid.uuid5(_NS, key + "/port"))})

    def _floating_ip(self, args, key, base):
        return self._echo(
            args, {**base, "address": self._allocate(PUBLIC_POOL, key), "allTags": _plain(args.inputs.get("tags", []))}
        )

    def _public(self, name: str, nic: int, key: str) -> tuple[str, str]:
        if self.public_address is not None:
            v4 = self.public_address(name, nic)
            with self._lock:
                self._taken.add(v4)
        else:
            v4 = self._allocate(PUBLIC_POOL, key)
        return v4, self._allocate(PUBLIC_POOL_V6, key)

    def _port(self, args, key, base):
        network = _plain(args.inputs.get("networkId"))
        with self._lock:
            cidr = self._network_cidrs.get(network)
            external = self._external.get(network)
        name = str(_plain(args.inputs.get("name")) or args.name)
        if cidr is not None:
            v4, v6 = self._allocate(ipaddress.ip_network(cidr), key), ""
        else:  # a network the program did not create: external (looked up, or given by ID)
            v4, v6 = self._public(name, 0, key)
        with self._lock:
            self._ports[base["id"]] = {
                "name": name,
                "v4": v4,
                "v6": v6,
                "network": network,
                "network_name": external or ("external" if cidr is None else name),
            }
        # OVHcloud's Ext-Net answers the IPv6 address first: the components must pick the IPv4 one
        fixed = [a for a in (v6, v4) if a]
        return self._echo(
            args,
            {
                **base,
                "allFixedIps": fixed,
                "allSecurityGroupIds": _plain(args.inputs.get("securityGroupIds", [])) or [],
                "allTags": _plain(args.inputs.get("tags", [])) or [],
                "adminStateUp": True,
                "macAddress": "fa:16:3e:%02x:%02x:%02x" % tuple(_digest(key).to_bytes(8, "big")[:3]),
                "portSecurityEnabled": True,
                "deviceOwner": "",
                "deviceId": "",
            },
        )

    def _server_group(self, args, key, base):
        return self._echo(args, {**base, "members": []})

    def _instance(self, args, key, base):
        networks = []
        for i, net in enumerate(_plain(args.inputs.get("networks", [])) or []):
            uuid_ = net.get("uuid")
            port_id = net.get("port")
            if port_id:
                with self._lock:
                    port = self._ports.get(port_id)
                if port is None:
                    self._fail(MockRunError(f"mockrun: {args.name} attaches to port {port_id}, which does not exist"))
                v4, v6, uuid_, name = port["v4"], port["v6"], port["network"], port["network_name"]
            elif uuid_:
                with self._lock:
                    cidr = self._network_cidrs.get(uuid_)
                if cidr is None:
                    self._fail(
                        MockRunError(
                            f"mockrun: {args.name} attaches to network {uuid_}, which has no subnet: "
                            "create the subnet first (depends_on) or the port creation fails"
                        )
                    )
                v4, v6 = self._allocate(ipaddress.ip_network(cidr), f"{key}/{i}"), ""
                name = net.get("name") or f"net-{uuid_[:8]}"
            else:
                v4, v6 = self._public(str(_plain(args.inputs.get("name")) or args.name), i, f"{key}/{i}")
                uuid_ = str(uuid.uuid5(_NS, f"external/{net.get('name')}"))
                name = net.get("name")
            entry = {
                "name": name,
                "uuid": uuid_,
                "fixedIpV4": v4,
                "fixedIpV6": v6,
                "port": port_id or "",
                "mac": "fa:16:3e:%02x:%02x:%02x" % tuple(_digest(key, str(i)).to_bytes(8, "big")[:3]),
                "accessNetwork": bool(net.get("accessNetwork")),
            }
            networks.append(entry)
        # the provider reports the access network's addresses (else the first network's)
        access = next((n for n in networks if n["accessNetwork"]), networks[0] if networks else {})
        metadata = _plain(args.inputs.get("metadata", {})) or {}
        return self._echo(
            args,
            {
                **base,
                "networks": networks,
                "accessIpV4": access.get("fixedIpV4", ""),
                "accessIpV6": access.get("fixedIpV6", ""),
                "allMetadata": metadata,
                "allTags": _plain(args.inputs.get("tags", [])) or [],
                "availabilityZone": _plain(args.inputs.get("availabilityZone")) or "nova",
                "powerState": "active",
                "flavorId": str(uuid.uuid5(_NS, f"flavor/{_plain(args.inputs.get('flavorName'))}")),
                "imageId": str(uuid.uuid5(_NS, f"image/{_plain(args.inputs.get('imageName'))}")),
            },
        )

    def _volume(self, args, key, base):
        return self._echo(
            args,
            {
                **base,
                "attachments": [],
                "metadata": _plain(args.inputs.get("metadata", {})),
                "volumeType": _plain(args.inputs.get("volumeType")) or "classic",
                "availabilityZone": _plain(args.inputs.get("availabilityZone")) or "nova",
            },
        )

    def _volume_attach(self, args, key, base):
        return self._echo(args, {**base, "device": "/dev/vdb"})

    def _container(self, args, key, base):
        return self._echo(args, {**base, "name": _plain(args.inputs.get("name")) or args.name})

    def _load_balancer(self, args, key, base):
        subnet = _plain(args.inputs.get("vipSubnetId"))
        with self._lock:
            cidr = self._subnet_cidrs.get(subnet)
        if cidr is None:
            self._fail(MockRunError(f"mockrun: load balancer {args.name} uses unknown subnet {subnet}"))
        return self._echo(
            args,
            {
                **base,
                "vipAddress": self._allocate(ipaddress.ip_network(cidr), key),
                "vipPortId": str(uuid.uuid5(_NS, key + "/vip")),
                "vipNetworkId": str(uuid.uuid5(_NS, key + "/vipnet")),
                "loadbalancerProvider": "amphora",
                "adminStateUp": True,
            },
        )

    def _pki(self, args, key, base):
        """The cluster's CA and certificates, issued deterministically (seeded by the resource) at a fixed time."""
        base.pop("region", None)
        inputs = {k: _plain(v) for k, v in args.inputs.items() if not k.startswith("__")}
        if not isinstance(inputs.get("members"), dict):
            self._fail(MockRunError(f"mockrun: {args.name}: members must be known (host name -> address)"))
        outs = pki.issue(inputs, now=PKI_NOW, seed=f"mockrun/{key}", days=PKI_DAYS)
        return {**base, **outs}

    def _random_password(self, args, key, base):
        base.pop("region", None)
        length = int(_plain(args.inputs.get("length", 16)))
        alphabet = "".join(
            chars
            for flag, chars in (
                ("upper", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
                ("lower", "abcdefghijklmnopqrstuvwxyz"),
                ("numeric", "0123456789"),
            )
            if _plain(args.inputs.get(flag, True)) is not False
        )
        seed = hashlib.sha256(f"password/{key}".encode()).digest()
        while len(seed) < length:
            seed += hashlib.sha256(seed).digest()
        result = "".join(alphabet[b % len(alphabet)] for b in seed[:length])
        return self._echo(
            args, {**base, "result": result, "bcryptHash": "$2a$10$" + hashlib.sha256(result.encode()).hexdigest()[:53]}
        )
