"""The OpenTofu reader against the OpenStack provider's own schema (issue 24): `tofu providers schema -json` of
terraform-provider-openstack 3.4.0, built here (scripts/opentofu-fixtures.sh writes each resource type's attribute
and block names to tests/audit/data/opentofu/openstack-provider-schema.json). The types the auditor places and
inspects exist in it, with the attributes their rules read under the names the reader converts."""

from __future__ import annotations

import json
import re

import pytest

from resilient_stack.audit.opentofu import _types, pulumi_type
from resilient_stack.core.kinds import KINDS, OS
from tests.audit.test_opentofu import DATA

SCHEMA = json.loads((DATA / "openstack-provider-schema.json").read_text())["resources"]


def snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


def attributes(tf_type: str) -> set[str]:
    return set(SCHEMA[tf_type]["attributes"]) | set(SCHEMA[tf_type]["blocks"])


def test_every_resource_type_of_the_provider_has_a_pulumi_openstack_token():
    tokens = {t: pulumi_type(t) for t in SCHEMA}
    assert all(tok.startswith("openstack:") and tok.count(":") == 2 for tok in tokens.values()), tokens
    assert len(SCHEMA) > 100


def test_the_mapping_names_no_type_the_provider_lacks():
    """The explicit table (from pulumi-openstack) holds no type this provider version does not have (renamed or
    removed types would never match a plan, and hide a type the provider does have)."""
    stale = sorted(set(_types()["resources"]) - set(SCHEMA))
    assert stale == []


OPENSTACK_KINDS = sorted(t for t, k in KINDS.items() if k.vendor == OS)
PULUMI_ONLY = {"openstack:objectstorage/containerV1:ContainerV1"}  # a token Pulumi programs may hold; no plan does


def test_every_openstack_replica_type_but_pulumi_only_tokens_is_a_type_of_the_provider():
    reached = {pulumi_type(t) for t in SCHEMA}
    assert set(OPENSTACK_KINDS) - reached == PULUMI_ONLY


@pytest.mark.parametrize("token", sorted(set(OPENSTACK_KINDS) - PULUMI_ONLY))
def test_each_openstack_replica_type_exists_with_the_attributes_placement_reads(token):
    kind = KINDS[token]
    types = [t for t in SCHEMA if pulumi_type(t) == token]
    assert types, f"no resource type of the provider is read as {token}"
    for tf_type in types:
        have = attributes(tf_type)
        assert {snake(k) for k in kind.region_keys} <= have, tf_type
        zones = {a for a in have if a.startswith("availability_zone") and a != "availability_zone_hints"}
        if zones:  # a type with a zone is read through the kind's zone key
            assert kind.az_key and snake(kind.az_key) in zones, (tf_type, zones)


@pytest.mark.parametrize(
    "tf_type, needed",
    [
        (
            "openstack_networking_secgroup_rule_v2",
            {"direction", "ethertype", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix",
             "remote_group_id", "security_group_id"},
        ),
        ("openstack_networking_port_v2", {"port_security_enabled", "security_group_ids", "network_id"}),
        ("openstack_compute_instance_v2", {"user_data", "metadata", "security_groups", "network"}),
        ("openstack_objectstorage_container_v1", {"metadata", "region"}),
    ],
)  # fmt: skip
def test_the_security_and_label_checks_read_attributes_the_provider_has(tf_type, needed):
    assert needed <= attributes(tf_type)
