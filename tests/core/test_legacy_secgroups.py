"""Security rules are read where they live (issue 26, point 3): pulumi-openstack before v5 wrote a security group
with its ingress rules inline (`openstack:compute/secGroup:SecGroup`, `rules[]`); they are judged as rules."""

import pytest

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.security import LEGACY_SECGROUP_TYPE, SecurityCollector
from tests import builders as b

CAT = load_catalog()
SECRET = {b.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:eA=="}


def export(rules) -> b.Export:
    e = b.Export()
    gra = e.provider("gra", region="GRA11")
    e.resource(b.INSTANCE, "web-gra", gra, role="web")
    e.resource(b.INSTANCE, "web-waw", e.provider("waw", region="WAW1"), role="web")
    e.resources.append(
        {
            "urn": b.urn(LEGACY_SECGROUP_TYPE, "web"),
            "type": LEGACY_SECGROUP_TYPE,
            "custom": True,
            "id": "sg-1",
            "provider": gra,
            "inputs": {"name": "web", "description": "web", "rules": rules},
        }
    )
    return e


def found(e: b.Export, tmp_path) -> dict:
    sec = SecurityCollector()
    loaded = load_input(str(e.write(tmp_path / "e.json")), CAT, inspect=sec.inspectors())
    assert LEGACY_SECGROUP_TYPE in loaded.coverage["evaluated"]  # evaluated, not "a type unknown to the auditor"
    return {f.rule: f for f in sec.findings(RuleConfig())}


def rule(proto="tcp", low=22, high=22, cidr="0.0.0.0/0", **kw):
    return {"ipProtocol": proto, "fromPort": low, "toPort": high, "cidr": cidr, **kw}


def test_an_inline_rule_open_to_the_world_is_ssh_open_to_world(tmp_path):
    f = found(export([rule(proto="tcp", low=80, high=80), rule()]), tmp_path)
    assert f["ssh-open-to-world"].level == "mandatory" and "web#rules[1]" in f["ssh-open-to-world"].message


def test_two_inline_halves_of_the_internet_together_are_world_open(tmp_path):
    f = found(
        export([rule(low=5432, high=5432, cidr="0.0.0.0/1"), rule(low=5432, high=5432, cidr="128.0.0.0/1")]), tmp_path
    )
    assert "database-open-to-world" in f


@pytest.mark.parametrize(
    "rules",
    [
        [rule(cidr="203.0.113.0/24")],  # an office
        [rule(cidr="", fromGroupId="sg-bastion")],  # another group
        [rule(cidr="", self=True)],  # the group itself
        [rule(proto="icmp", low=-1, high=-1)],  # ping
        [rule(low=80, high=443)],  # the web
        [],
    ],
)
def test_inline_rules_that_do_not_open_a_sensitive_port_to_the_world_are_quiet(tmp_path, rules):
    assert found(export(rules), tmp_path) == {}


@pytest.mark.parametrize(
    "rules, said",
    [
        (SECRET, "its inline rules are a secret"),
        ([rule(cidr=SECRET)], "remoteIpPrefix is a secret"),
        (["tcp 22"], "rules[0] is not an object"),
    ],
)
def test_unreadable_inline_rules_fail_closed(tmp_path, rules, said):
    f = found(export(rules), tmp_path)
    assert f["unknown-security-rule"].level == "mandatory" and said in f["unknown-security-rule"].message
