"""``monitoring.zone`` (issue 23, point 3): the stack's own name servers, on the monitoring hosts. The ``dns`` role is
judged by the same rules (a way in whose answers all depend on one site is a finding), `pulumi up` refuses the
template's placeholder zone, and the program opens DNS on the monitoring hosts only and outputs the delegation."""

from __future__ import annotations

from collections import Counter

import pytest

from resilient_stack.components.readiness import deploy_problems
from resilient_stack.components.stack_config import StackConfigError, load_stack_file, validate_stack
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import DesignRejected, RuleConfig, evaluate
from resilient_stack.core.vocabulary import ROLE_KEY, SERVES_KEY
from resilient_stack.hosts import dns
from resilient_stack.testing.mockrun import run_program
from resilient_stack.testing.stack_export import to_stack_export

from .conftest import stack_file
from .test_monitoring_config import parse

INSTANCE = "openstack:compute/instance:Instance"
RULE = "openstack:networking/secGroupRule:SecGroupRule"
ZONE = {"name": "shop.example.net."}


@pytest.fixture(scope="module")
def production():
    return run_program(stack_file("production"))


def test_production_serves_its_zone_from_two_sites_and_two_providers():
    cfg = load_stack_file(stack_file("production"))
    assert cfg.monitoring is not None and cfg.monitoring.zone is not None
    assert cfg.monitoring.zone.ttl == 20
    design = cfg.to_design()
    names = [p.name for p in design.placements if p.replicas.get("dns")]
    assert names == ["waw", "ik"]
    assert {cfg.placement(n).cloud for n in names} == {"ovh", "infomaniak"}


def test_name_servers_on_one_site_are_a_finding_naming_the_dns_role():
    with pytest.raises(DesignRejected) as exc:
        validate_stack(parse(monitoring={"placements": ["gra"], "zone": ZONE}))
    assert "single-site" in exc.value.rule_ids
    assert "single-site: the only `dns` replica is in site Gravelines campus (FR)" in str(exc.value)


@pytest.mark.parametrize(
    ("zone", "key", "problem"),
    [
        ({"name": "shop.example.net"}, "monitoring.zone.name", "fully qualified"),
        ({"name": "shop.example.net.", "ttl": 1}, "monitoring.zone.ttl", "greater than or equal to 5"),
        ({"name": "shop.example.net.", "records": []}, "monitoring.zone.records", "unknown key"),
    ],
)
def test_a_bad_zone_is_one_line_naming_the_key(zone, key, problem):
    with pytest.raises(StackConfigError) as exc:
        parse(monitoring={"placements": ["waw", "ik"], "zone": zone})
    message = str(exc.value)
    assert f"resilient-stack:{key}" in message and problem in message and "\n" not in message, message


def test_pulumi_up_refuses_the_templates_placeholder_zone_and_takes_a_real_one():
    shipped = load_stack_file(stack_file("production"))
    keys = {p.key for p in deploy_problems(shipped)}
    assert "resilient-stack:monitoring.zone.name" in keys
    mine = parse(monitoring={"placements": ["waw", "ik"], "zone": {"name": "shop.my-company.fr."}})
    assert "resilient-stack:monitoring.zone.name" not in {p.key for p in deploy_problems(mine)}


def test_the_monitoring_hosts_are_the_name_servers_and_the_auditor_counts_them_in_both_roles(production):
    hosts = [r for r in production if r.type == INSTANCE and r.inputs["name"].endswith("-mon")]
    assert {h.inputs["metadata"][ROLE_KEY] for h in hosts} == {"monitoring"}
    assert {h.inputs["metadata"][SERVES_KEY] for h in hosts} == {"dns"}
    loaded_roles = Counter()
    from resilient_stack.audit.inputs import read_stack_export

    catalog = load_catalog()
    loaded = read_stack_export(to_stack_export(production), "production.json", catalog)
    loaded_roles.update(p.role for p in loaded.placements)
    assert loaded_roles["dns"] == 2 and loaded_roles["monitoring"] == 2
    sites = {p.site for p in loaded.placements if p.role == "dns"}
    assert sites == {p.site for p in loaded.placements if p.role == "monitoring"} and len(sites) == 2
    assert evaluate(loaded.placements, RuleConfig(), catalog).verdict == "pass"


def test_dns_is_open_to_anyone_on_the_monitoring_hosts_groups_only(production):
    groups = {r.outputs.get("id", r.name): r.inputs["name"] for r in production if r.type.endswith("secGroup:SecGroup")}
    dns_rules = [r for r in production if r.type == RULE and r.inputs.get("portRangeMin") == 53]
    assert sorted(r.inputs["protocol"] for r in dns_rules) == ["tcp", "tcp", "udp", "udp"]
    for r in dns_rules:
        assert r.inputs["remoteIpPrefix"] == "0.0.0.0/0" and r.inputs["portRangeMax"] == 53
        assert groups.get(r.inputs["securityGroupId"], "").endswith("-mon"), groups.get(r.inputs["securityGroupId"])


def test_the_stack_outputs_the_name_servers_and_the_records_to_enter_once(production):
    outputs = next(r for r in production if r.type == "pulumi:pulumi:Stack").outputs
    mon = outputs["monitoringAddresses"]
    assert outputs["nameServers"] == {
        "ns-waw.shop.example.com.": mon["waw"],
        "ns-ik.shop.example.com.": mon["ik"],
    }
    assert outputs["delegation"] == [
        "shop.example.com. NS ns-waw.shop.example.com.",
        "shop.example.com. NS ns-ik.shop.example.com.",
        f"ns-waw.shop.example.com. A {mon['waw']}",
        f"ns-ik.shop.example.com. A {mon['ik']}",
    ]


def test_the_name_servers_answer_every_web_host_of_the_stack(production):

    from resilient_stack.hosts import runtime

    web = sorted(
        h.outputs["accessIpV4"] for h in production if h.type == INSTANCE and h.inputs["metadata"][ROLE_KEY] == "web"
    )
    for h in (r for r in production if r.type == INSTANCE and r.inputs["name"].endswith("-mon")):
        doc = runtime.decode(h.inputs["metadata"])
        text = doc["monitoring"]["zone"]["text"]
        lua = [line for line in text.splitlines() if " IN LUA A " in line]
        assert len(lua) == len(dns.ANSWERED)
        assert sorted(a.strip("'{} ") for a in lua[0].split("{{")[1].split("}}")[0].split(",")) == web
