"""The local clouds offer every name the shipped stacks ask for (no cloud needed: topology.json against the stack files).

A stack file that starts naming another flavor, image, external network, region or auth host fails here
first, before the lifecycle tests fail on it against the clouds.
"""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.openstack.conftest import TOPOLOGY, cloud_of

DEPLOYED = ("production", "staging")  # sbg2021 is refused before anything is created


def stack_config(stack: str) -> tuple[list[dict], dict]:
    config = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{stack}.yaml").read_text())["config"]
    return config["resilient-stack:placements"], config["resilient-stack:backups"]


def template_config() -> tuple[list[dict], dict]:
    template = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["template"]["config"]
    return json.loads(template["placements"]["default"]), json.loads(template["backups"]["default"])


CASES = {**{s: stack_config(s) for s in DEPLOYED}, "pulumi new (template defaults)": template_config()}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_local_clouds_offer_every_name_the_stack_uses(case):
    placements, backups = CASES[case]
    for where in [*placements, backups]:
        cloud = TOPOLOGY["clouds"].get(cloud_of(where.get("cloud")))
        assert cloud is not None, (case, where)
        assert where["region"] in cloud["regions"], (case, where)
        if "authUrl" in where:
            tls = cloud["keystone"]["tls"]
            url = urlsplit(where["authUrl"])
            assert (url.hostname, url.path) == (tls["host"], cloud["keystone"]["path"] + "/v3"), (case, where)
    for p in placements:
        cloud = TOPOLOGY["clouds"][p["cloud"]]
        flavors = {f["name"] for f in cloud["flavors"]}
        assert {p["flavor"], p.get("databaseFlavor", p["flavor"])} <= flavors, (case, p)
        assert p["image"] in cloud["images"], (case, p)
        assert p.get("externalNetwork", "Ext-Net") in cloud["external_networks"], (case, p)


def test_production_backups_are_another_project_of_the_members_keystone():
    """The shipped production stack keeps its backups in a project of their own (backup-shares-project): the local
    `ovh` keystone offers it as the clouds.yaml entry `ovh-backups`, with its own user and project."""
    placements, backups = CASES["production"]
    assert backups["cloud"] == "ovh-backups" and cloud_of("ovh-backups") == "ovh"
    assert backups["cloud"] not in {p["cloud"] for p in placements}
    ovh = TOPOLOGY["clouds"]["ovh"]
    other = ovh["projects"]["ovh-backups"]
    assert other["project"] != ovh["user"]["project"] and other["name"] != ovh["user"]["name"]
