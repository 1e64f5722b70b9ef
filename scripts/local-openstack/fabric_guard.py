"""Neutron's security groups and port security, enforced on the local clouds' fabric (pure: text in, text out).

The compute agent (compute_agent.py) plugs each host's interfaces into a bridge per Neutron network in the hub
namespace; this module renders, from what Neutron lists, the nftables ruleset the hub applies around them, as
Neutron's own firewall drivers do on a compute node:

* **port security** (``table bridge rsos_spoof``, stateless, on the host's own cable): a frame from a port must come
  from its MAC, its IPv4 packets and ARP from its fixed addresses (or an allowed address pair); IPv6 is not on the
  fabric (no subnet has it) and is dropped from such ports, so no link-local path goes around the groups;
* **security groups** (``table inet rsos_sg``, stateful: the bridge hands IPv4 to the hub's IP hooks, so replies of
  an admitted connection pass): traffic TO a port passes only through its groups' ingress rules, traffic FROM it only
  through their egress rules, whether it is bridged (same network), routed by the hub (another region's public
  address) or from/to the hub itself (a visitor, the metadata proxy). A port with port security and no group admits
  nothing; a port without port security is not filtered at all.

Rules are matched as Neutron matches them: ethertype (IPv4 only here), protocol (name or number; none: any), the
port range (ICMP: type and code), and the remote side (a prefix, or a group: the fixed addresses of every port in
that group, in that region). Keyed on (bridge, address): private networks of several projects may overlap.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1}


@dataclass(frozen=True)
class GuardedPort:
    """A host's interface as the guard sees it (from Neutron's port and the agent's wiring)."""

    port_id: str
    bridge: str  # the hub's bridge of its network
    veth: str  # the hub's end of its cable
    mac: str
    addresses: tuple[str, ...]  # fixed IPv4 addresses
    security: bool  # port_security_enabled
    groups: tuple[str, ...]  # security group ids
    pairs: tuple[str, ...] = ()  # allowed address pairs (IPv4 addresses or prefixes)


def _v4(values) -> list[str]:
    out = []
    for v in values:
        try:
            if ipaddress.ip_network(v, strict=False).version == 4:
                out.append(v)
        except ValueError:
            continue
    return out


def _set(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


def rule_match(rule: dict, members: dict[str, list[str]], direction: str) -> str | None:
    """The nftables match of one Neutron rule, seen from the port (``ingress``: the remote is the source), or
    None when it can match nothing here (IPv6; a remote group without addresses)."""
    if rule.get("ethertype", "IPv4") != "IPv4":
        return None
    side = "saddr" if direction == "ingress" else "daddr"
    parts = []
    if rule.get("remote_group_id"):
        ips = sorted(set(members.get(rule["remote_group_id"], [])))
        if not ips:
            return None
        parts.append(f"ip {side} {_set(ips)}")
    elif rule.get("remote_ip_prefix"):
        net = ipaddress.ip_network(rule["remote_ip_prefix"], strict=False)
        if net.version != 4:
            return None
        if net.prefixlen:
            parts.append(f"ip {side} {net}")
    proto = rule.get("protocol")
    if proto not in (None, "", "any"):
        number = PROTOCOLS.get(str(proto).lower())
        if number is None:
            number = int(proto)
        lo, hi = rule.get("port_range_min"), rule.get("port_range_max")
        if number in (6, 17):
            name = "tcp" if number == 6 else "udp"
            parts.append(f"meta l4proto {name}")
            if lo is not None:
                parts.append(f"{name} dport {lo}" if hi in (None, lo) else f"{name} dport {lo}-{hi}")
        elif number == 1:
            parts.append("meta l4proto icmp")
            if lo is not None:
                parts.append(f"icmp type {lo}")
                if hi is not None:
                    parts.append(f"icmp code {hi}")
        else:
            parts.append(f"meta l4proto {number}")
    return " ".join(parts)


def render(ports: list[GuardedPort], groups: dict[str, list[dict]], members: dict[str, list[str]]) -> str:
    """The whole ruleset (an ``nft -f`` script that replaces the previous one atomically). ``groups``: {group id:
    its rules}; ``members``: {group id: the fixed addresses of its ports}."""
    chains: list[str] = []
    to_port: list[str] = []
    from_port: list[str] = []
    spoof: list[str] = []
    for p in sorted(ports, key=lambda p: p.port_id):
        if not p.security:
            continue
        own = _v4(p.addresses)
        sources = sorted(set(own + _v4(p.pairs)))
        spoof.append(f'    iifname "{p.veth}" ether saddr != {p.mac} drop')
        spoof.append(f'    iifname "{p.veth}" ether type ip6 drop')
        spoof.append(f'    iifname "{p.veth}" ip saddr != {_set(sorted(set(sources + ["0.0.0.0"])))} drop')
        spoof.append(f'    iifname "{p.veth}" arp saddr ip != {_set(sorted(set(sources + ["0.0.0.0"])))} drop')
        key = p.port_id.replace("-", "")[:16]
        rules = [r for g in p.groups for r in groups.get(g, [])]
        for direction, chain, verdict in (("ingress", f"in_{key}", "accept"), ("egress", f"out_{key}", "return")):
            body = []
            for r in rules:
                if r.get("direction") != direction:
                    continue
                m = rule_match(r, members, direction)
                if m is not None:
                    body.append(f"    {m} {verdict}" if m else f"    {verdict}")
            chains.append(f"  chain {chain} {{\n" + "".join(line + "\n" for line in body) + "    drop\n  }")
        for ip in own:
            to_port.append(f'    oifname "{p.bridge}" ip daddr {ip} jump in_{key}')
            from_port.append(f'    iifname "{p.bridge}" ip saddr {ip} jump out_{key}')

    def base(hook: str, lines: list[str]) -> str:
        body = "".join(line + "\n" for line in lines)
        return (
            f"  chain {hook} {{\n    type filter hook {hook} priority 0; policy accept;\n"
            f"    ct state established,related accept\n{body}  }}"
        )

    sg = [*chains, base("forward", from_port + to_port), base("input", from_port), base("output", to_port)]
    spoof_chain = "  chain prerouting {\n    type filter hook prerouting priority 0; policy accept;\n"
    spoof_chain += "".join(line + "\n" for line in spoof) + "  }"
    return (
        "table inet rsos_sg {}\ndelete table inet rsos_sg\ntable bridge rsos_spoof {}\ndelete table bridge rsos_spoof\n"
        "table inet rsos_sg {\n" + "\n".join(sg) + "\n}\n"
        "table bridge rsos_spoof {\n" + spoof_chain + "\n}\n"
    )


def members_of(ports: list[dict]) -> dict[str, list[str]]:
    """{group id: the fixed IPv4 addresses of every port in it} (Neutron's ports of one region)."""
    out: dict[str, list[str]] = {}
    for p in ports:
        ips = _v4(f["ip_address"] for f in p.get("fixed_ips") or [])
        for g in p.get("security_groups") or []:
            out.setdefault(g, []).extend(ips)
    return out
