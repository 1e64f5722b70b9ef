"""The local clouds' security groups on the fabric (scripts/local-openstack/fabric_guard.py), offline: Neutron's rules
rendered as nftables, and the ruleset the kernel accepts (``nft --check`` in a network namespace of its own). The
live proof (a visitor reaches the port a group opens and not another; the production cluster forms through the
stack's own groups) is in tests/integration/openstack/."""

from __future__ import annotations

import importlib
import subprocess

import pytest

from tests.conftest import ROOT

DIR = ROOT / "scripts" / "local-openstack"
WEB, DEFAULT = "sg-web", "sg-default"


@pytest.fixture
def guard(monkeypatch):
    monkeypatch.syspath_prepend(str(DIR))
    return importlib.import_module("fabric_guard")


def rule(direction="ingress", **kw) -> dict:
    return {"direction": direction, "ethertype": "IPv4", "protocol": None, "port_range_min": None,
            "port_range_max": None, "remote_ip_prefix": None, "remote_group_id": None, **kw}  # fmt: skip


@pytest.mark.parametrize(
    "given, direction, match",
    [
        (rule(protocol="tcp", port_range_min=80, port_range_max=80, remote_ip_prefix="0.0.0.0/0"), "ingress",
         "meta l4proto tcp tcp dport 80"),
        (rule(protocol="tcp", port_range_min=2379, port_range_max=2380, remote_ip_prefix="198.18.12.7/32"), "ingress",
         "ip saddr 198.18.12.7/32 meta l4proto tcp tcp dport 2379-2380"),
        (rule(protocol="udp", port_range_min=53, port_range_max=53), "ingress", "meta l4proto udp udp dport 53"),
        (rule(protocol="icmp", port_range_min=8, port_range_max=0), "ingress", "meta l4proto icmp icmp type 8 icmp code 0"),
        (rule(protocol="112"), "ingress", "meta l4proto 112"),
        (rule("egress"), "egress", ""),  # Neutron's default egress rule: anything
        (rule("egress", remote_ip_prefix="10.0.0.0/8"), "egress", "ip daddr 10.0.0.0/8"),
        (rule(remote_group_id=DEFAULT), "ingress", "ip saddr { 10.99.0.5, 198.18.13.4 }"),
        (rule(remote_group_id=WEB), "ingress", None),  # a group with no port admits nobody
        (rule(ethertype="IPv6", remote_ip_prefix="::/0"), "ingress", None),  # no IPv6 on the fabric
    ],
)  # fmt: skip
def test_neutron_rules_become_nftables_matches(guard, given, direction, match):
    members = {DEFAULT: ["198.18.13.4", "10.99.0.5"]}
    assert guard.rule_match(given, members, direction) == match


def ports(guard):
    return [
        guard.GuardedPort("port-a", "bnet1", "pporta", "fa:16:3e:00:00:01", ("198.18.13.4",), True, (WEB,)),
        guard.GuardedPort(
            "port-b", "bnet2", "pportb", "fa:16:3e:00:00:02", ("10.99.0.5",), True, (DEFAULT,), ("10.99.0.100/32",)
        ),  # fmt: skip
        guard.GuardedPort("port-c", "bnet1", "pportc", "fa:16:3e:00:00:03", ("198.18.13.9",), False, ()),
    ]


GROUPS = {
    WEB: [rule(protocol="tcp", port_range_min=80, port_range_max=80, remote_ip_prefix="0.0.0.0/0"), rule("egress")],
    DEFAULT: [rule(remote_group_id=DEFAULT), rule("egress")],
}


def test_each_port_is_filtered_both_ways_and_a_port_without_port_security_not_at_all(guard):
    text = guard.render(ports(guard), GROUPS, {DEFAULT: ["10.99.0.5"]})
    assert 'oifname "bnet1" ip daddr 198.18.13.4 jump in_porta' in text  # to the port: its ingress rules
    assert 'iifname "bnet1" ip saddr 198.18.13.4 jump out_porta' in text  # from it: its egress rules
    assert "chain in_porta {\n    meta l4proto tcp tcp dport 80 accept\n    drop\n  }" in text
    assert "chain out_porta {\n    return\n    drop\n  }" in text
    assert "chain in_portb {\n    ip saddr 10.99.0.5 accept\n    drop\n  }" in text
    assert 'iifname "pporta" ether saddr != fa:16:3e:00:00:01 drop' in text  # its own MAC only
    assert 'iifname "pportb" ip saddr != { 0.0.0.0, 10.99.0.100/32, 10.99.0.5 } drop' in text  # + the pair
    assert "198.18.13.9" not in text and "pportc" not in text  # port security off: not filtered
    assert text.count("ct state established,related accept") == 3


def test_a_port_with_port_security_and_no_group_admits_nothing(guard):
    lonely = guard.GuardedPort("port-d", "bnet1", "pportd", "fa:16:3e:00:00:04", ("198.18.13.5",), True, ())
    text = guard.render([lonely], {}, {})
    assert "chain in_portd {\n    drop\n  }" in text and "chain out_portd {\n    drop\n  }" in text


def test_the_kernel_accepts_the_ruleset(guard, tmp_path):
    script = tmp_path / "guard.nft"
    script.write_text(guard.render(ports(guard), GROUPS, {DEFAULT: ["10.99.0.5"]}))
    r = subprocess.run(["unshare", "--net", "nft", "--check", "-f", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_members_are_every_port_of_a_group(guard):
    listed = [
        {"fixed_ips": [{"ip_address": "10.99.0.5"}, {"ip_address": "fd00::5"}], "security_groups": [DEFAULT, WEB]},
        {"fixed_ips": [{"ip_address": "10.99.0.6"}], "security_groups": [DEFAULT]},
        {"fixed_ips": [{"ip_address": "10.99.0.7"}], "security_groups": []},
    ]
    assert guard.members_of(listed) == {DEFAULT: ["10.99.0.5", "10.99.0.6"], WEB: ["10.99.0.5"]}
