"""Security rules are read where they live (issue 26, point 3): a rule whose remote is an address group admits the
group's addresses, never nothing; an address group the input does not hold, or cannot read, fails closed."""

import json

import pytest

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.security import ADDRESS_GROUP_TYPE, SECGROUP_RULE_TYPE, SecurityCollector
from tests import builders as b

CAT = load_catalog()
SECRET = {b.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:eA=="}


def export(addresses, *, group_in_file=True, port=22) -> b.Export:
    e = b.Export()
    gra = e.provider("gra", region="GRA11")
    e.resource(b.INSTANCE, "web-gra", gra, role="web")
    e.resource(b.INSTANCE, "web-waw", e.provider("waw", region="WAW1"), role="web")
    if group_in_file:
        u = b.urn(ADDRESS_GROUP_TYPE, "admins")
        e.resources.append(
            {
                "urn": u,
                "type": ADDRESS_GROUP_TYPE,
                "custom": True,
                "id": "ag-1",
                "inputs": {"addresses": addresses},
                "outputs": {"addresses": addresses, "id": "ag-1"},
                "provider": gra,
            }
        )
    e.resources.append(
        {
            "urn": b.urn(SECGROUP_RULE_TYPE, "ssh"),
            "type": SECGROUP_RULE_TYPE,
            "custom": True,
            "id": "r-1",
            "provider": gra,
            "inputs": {
                "direction": "ingress",
                "ethertype": "IPv4",
                "protocol": "tcp",
                "portRangeMin": port,
                "portRangeMax": port,
                "remoteAddressGroupId": "ag-1",
                "securityGroupId": "sg-1",
            },
        }
    )
    return e


def rules(e: b.Export, tmp_path) -> dict:
    sec = SecurityCollector()
    load_input(str(e.write(tmp_path / "e.json")), CAT, inspect=sec.inspectors())
    return {f.rule: f for f in sec.findings(RuleConfig())}


def test_an_address_group_of_the_whole_internet_opens_ssh_to_the_world(tmp_path):
    found = rules(export(["0.0.0.0/1", "128.0.0.0/1"]), tmp_path)
    assert found["ssh-open-to-world"].level == "mandatory"


def test_a_database_port_through_an_address_group_is_judged_too(tmp_path):
    assert "database-open-to-world" in rules(export(["0.0.0.0/0"], port=5432), tmp_path)


def test_an_address_group_of_an_office_is_not_world_open(tmp_path):
    assert rules(export(["203.0.113.0/24", "198.51.100.7/32"]), tmp_path) == {}


@pytest.mark.parametrize(
    "addresses, said", [(SECRET, "its addresses are a secret"), (["203.0.113.0/24", "everyone"], "is not a network")]
)
def test_unreadable_addresses_fail_closed(tmp_path, addresses, said):
    found = rules(export(addresses), tmp_path)
    assert found["unknown-security-rule"].level == "mandatory" and said in found["unknown-security-rule"].message


def test_an_address_group_not_in_the_input_fails_closed(tmp_path):
    found = rules(export(None, group_in_file=False), tmp_path)
    assert (
        "remoteAddressGroupId names an address group that is not in the input" in found["unknown-security-rule"].message
    )


def test_in_a_preview_the_group_is_found_by_the_urn_the_rule_took_its_id_from(tmp_path):
    e = export(["0.0.0.0/0"])
    doc = b.preview_of(e)
    for step in doc["steps"]:
        state = step["newState"]
        if state["type"] == SECGROUP_RULE_TYPE:
            state["inputs"]["remoteAddressGroupId"] = b.UNKNOWN
            state["propertyDependencies"] = {"remoteAddressGroupId": [b.urn(ADDRESS_GROUP_TYPE, "admins")]}
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(doc))
    sec = SecurityCollector()
    load_input(str(path), CAT, inspect=sec.inspectors())
    assert "ssh-open-to-world" in {f.rule for f in sec.findings(RuleConfig())}
