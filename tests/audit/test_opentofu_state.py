"""OpenTofu states and the OVH provider's types (issue 24): `tofu show -json` of a state and the raw state file,
judged like the plan and the Pulumi files. The state fixtures are real: examples/opentofu/production applied by
OpenTofu 1.10.10 and terraform-provider-openstack 3.4.0 on the local clouds (scripts/opentofu-fixtures.sh --apply),
then destroyed; production.applied.plan.json is the plan made right after that apply (no changes, the local
clouds' auth URL: judged with the catalog those clouds write, local-clouds.catalog.yaml). The variations below are
made from them, each saying what it changes."""

from __future__ import annotations

import copy
import json

import pytest
import yaml

from tests.audit.test_opentofu import DATA, audit, by_role, findings, plan, write
from tests.conftest import ROOT

PRODUCTION = {"web": {"GRA11", "WAW1", "dc4-a"}, "database": {"GRA11", "WAW1", "dc4-a"}, "backup": {"DE1"}}


def shown() -> dict:
    return json.loads((DATA / "production.state.json").read_text())


def raw() -> dict:
    return json.loads((DATA / "production.tfstate").read_text())


def shown_resources(doc: dict) -> list[dict]:
    root = doc["values"]["root_module"]
    return root["resources"] + [r for m in root["child_modules"] for r in m["resources"]]


def raw_instance(doc: dict, module: str, typ: str, name: str) -> dict:
    [res] = [r for r in doc["resources"] if r.get("module") == module and r["type"] == typ and r["name"] == name]
    return res


@pytest.mark.parametrize("name", ["production.state.json", "production.tfstate"])
def test_the_applied_production_state_passes_like_the_plan_and_the_design(cli, name):
    code, report = audit(cli, DATA / name)
    assert code == 0 and report["verdict"] == "pass", report["findings"]
    _, the_plan = audit(cli, DATA / "production.plan.json")
    assert by_role(report) == by_role(the_plan) == PRODUCTION
    assert report["coverage"] == the_plan["coverage"]
    # the only finding: a state cannot prove the backups' project apart (advisory; the plan proves it)
    [note] = report["findings"]
    assert note["rule"] == "backup-shares-project" and note["level"] == "advisory"
    assert "does not record which project" in note["message"]


def test_the_shown_state_and_the_raw_state_file_are_judged_the_same(cli):
    _, a = audit(cli, DATA / "production.state.json")
    _, b = audit(cli, DATA / "production.tfstate")
    strip = ("source", "provenance")
    assert {k: v for k, v in a.items() if k not in strip} == {k: v for k, v in b.items() if k not in strip}


def test_the_plan_made_after_the_apply_passes_with_the_local_clouds_catalog(cli):
    """The local clouds' keystone is not OVHcloud's auth host: the built-in catalog cannot place it (fails closed),
    the catalog the local clouds write maps it to the provider it stands for."""
    code, report = audit(cli, DATA / "production.applied.plan.json")
    assert code == 1 and {f["rule"] for f in report["findings"]} >= {"unknown-placement"}
    code, report = audit(
        cli, DATA / "production.applied.plan.json", "--catalog", str(DATA / "local-clouds.catalog.yaml")
    )
    assert code == 0 and report["findings"] == [] and by_role(report) == PRODUCTION


def test_a_state_places_by_the_region_the_cloud_recorded(cli, tmp_path):
    """The Warsaw and Infomaniak database members recorded in GRA11 (moved by hand, say): two of three members on
    one site."""
    doc = shown()
    for r in shown_resources(doc):
        if r["address"] in (
            "module.waw.openstack_compute_instance_v2.db",
            "module.ik.openstack_compute_instance_v2.db",
        ):
            r["values"]["region"] = "GRA11"
    code, report = audit(cli, write(tmp_path, doc, "state.json"))
    assert code == 1 and ("site-majority", "database") in findings(report, "mandatory")


def test_a_region_whose_provider_the_state_cannot_tell_fails_closed(cli, tmp_path):
    """A state records no auth URL: a region name two providers use cannot be placed."""
    doc = shown()
    catalog = yaml.safe_load((DATA / "local-clouds.catalog.yaml").read_text())
    twin = copy.deepcopy(next(p for p in catalog["providers"] if p["id"] == "infomaniak"))
    twin["regions"][0] = {**twin["regions"][0], "name": "GRA11"}
    for r in shown_resources(doc):
        if r["address"] == "module.ik.openstack_compute_instance_v2.db":
            r["values"]["region"] = "GRA11"
    cat = write(tmp_path, {"schema": catalog["schema"], "providers": [twin]}, "catalog.json")
    code, report = audit(cli, write(tmp_path, doc, "state.json"), "--catalog", str(cat))
    unknown = [f["message"] for f in report["findings"] if f["rule"] == "unknown-placement"]
    assert code == 1 and unknown and all("'GRA11' exists at" in m for m in unknown), unknown


def test_tainted_replicas_vouch_for_nothing(cli, tmp_path):
    """The Warsaw and Infomaniak database members tainted (a failed provisioner, `tofu taint`): the next apply
    destroys them; only Gravelines' member counts."""
    doc = raw()
    for module in ("module.waw", "module.ik"):
        raw_instance(doc, module, "openstack_compute_instance_v2", "db")["instances"][0]["status"] = "tainted"
    code, report = audit(cli, write(tmp_path, doc, "terraform.tfstate"))
    assert code == 1 and ("single-site", "database") in findings(report, "mandatory")
    gone = report["coverage"]["not_running"]
    assert {g["resource"] for g in gone} == {
        "module.waw.openstack_compute_instance_v2.db",
        "module.ik.openstack_compute_instance_v2.db",
    } and all("tainted" in g["why"] for g in gone)


def test_a_deposed_copy_is_not_running_and_the_current_one_counts(cli, tmp_path):
    """create_before_destroy: the old copy of the Warsaw member waits for deletion beside the new one."""
    doc = shown()
    waw = next(m for m in doc["values"]["root_module"]["child_modules"] if m["address"] == "module.waw")
    db = next(r for r in waw["resources"] if r["name"] == "db")
    old = copy.deepcopy(db)
    old["deposed_key"] = "9f3c1a2b"
    old["values"]["region"] = "SBG5"
    waw["resources"].append(old)
    code, report = audit(cli, write(tmp_path, doc, "state.json"))
    assert code == 0 and by_role(report) == PRODUCTION
    [gone] = report["coverage"]["not_running"]
    assert gone["resource"] == f"{db['address']} (deposed 9f3c1a2b)" and "deposed" in gone["why"]


def test_a_world_open_ssh_rule_in_a_state_is_found(cli, tmp_path):
    doc = raw()
    rule = raw_instance(doc, "module.gra", "openstack_networking_secgroup_rule_v2", "ssh_db")
    rule["instances"][0]["attributes"]["remote_ip_prefix"] = "0.0.0.0/0"
    code, report = audit(cli, write(tmp_path, doc, "terraform.tfstate"))
    [f] = [f for f in report["findings"] if f["rule"] == "ssh-open-to-world"]
    assert code == 1 and f["resources"] == ["module.gra.openstack_networking_secgroup_rule_v2.ssh_db"]


def test_a_sensitive_attribute_of_a_raw_state_is_never_read_or_printed(cli, tmp_path):
    """`sensitive_attributes` hides the Infomaniak member's metadata: its role label is unreadable (said), its
    value appears in no output format."""
    doc = raw()
    inst = raw_instance(doc, "module.ik", "openstack_compute_instance_v2", "db")["instances"][0]
    inst["attributes"]["metadata"]["resilient-stack:role"] = "database-s3cr3t-marker"
    inst["sensitive_attributes"] = [[{"type": "get_attr", "value": "metadata"}]]
    path = write(tmp_path, doc, "terraform.tfstate")
    for fmt in ("json", "text", "sarif", "junit", "markdown", "gitlab-sast", "gitlab-codequality"):
        r = cli("audit", str(path), "--format", fmt)
        assert r.returncode in (0, 1) and b"s3cr3t" not in r.stdout + r.stderr, fmt


@pytest.mark.parametrize(
    "doc, message",
    [
        ({"version": 3, "terraform_version": "0.11.14", "serial": 1, "lineage": "x", "modules": []}, "version 3"),
        (
            {"serial": 1, "lineage": "x", "meta": {"key_provider.pbkdf2.k": "e30="}, "encrypted_data": "AAAA"},
            "encrypted",
        ),
        ({"version": 4, "terraform_version": "1.10.10", "lineage": "x", "resources": {}}, "not a list"),
        (
            {
                "version": 4,
                "terraform_version": "1.10.10",
                "lineage": "x",
                "resources": [
                    {"mode": "managed", "type": "openstack_compute_instance_v2", "name": "a", "instances": 1}
                ],
            },
            "'instances' is not a list",
        ),
        (
            {"format_version": "1.0", "terraform_version": "1.10.10", "values": {"root_module": {"resources": {}}}},
            "is not a list",
        ),
        ({"format_version": "1.0"}, "no replica"),  # `tofu show -json` when there is no state
    ],
)
def test_a_state_that_cannot_be_read_is_refused_in_one_line(cli, tmp_path, doc, message):
    r = cli("audit", str(write(tmp_path, doc, "state.json")))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and message in err and "state.json" in err, err


def test_a_state_naming_one_instance_twice_is_refused(cli, tmp_path):
    doc = raw()
    doc["resources"].append(copy.deepcopy(doc["resources"][-1]))
    r = cli("audit", str(write(tmp_path, doc, "terraform.tfstate")))
    assert r.returncode == 2 and b"twice" in r.stderr and r.stderr.count(b"\n") == 1


def test_the_paper_drill_reads_states(cli):
    r = cli("drill", str(DATA / "production.tfstate"), "--format", "json")
    assert r.returncode == 0, r.stderr.decode()
    scenarios = json.loads(r.stdout)["scenarios"]
    assert len(scenarios) >= 3 and all(s["service_survives"] and s["data_survives"] for s in scenarios)


# ---- the OVH provider's types -------------------------------------------------------------------------------


def ovh_plan(nodes: list[str], pool_zone: str | None = None) -> dict:
    """The sbg2021 plan plus a managed PostgreSQL (one node per region given) and a Kubernetes cluster with a node
    pool in a plan's shapes: the OVH provider's attributes as its schema names them (terraform-provider-ovh v2.13.0,
    read with the search tool: it cannot be built here), not captured output."""
    doc = plan("sbg2021")
    resources = doc["planned_values"]["root_module"]["resources"]
    provider = "registry.opentofu.org/ovh/ovh"
    service = "0123456789abcdef0123456789abcdef"
    resources += [
        {
            "address": "ovh_cloud_project_database.pg",
            "mode": "managed",
            "type": "ovh_cloud_project_database",
            "name": "pg",
            "provider_name": provider,
            "schema_version": 0,
            "values": {
                "service_name": service,
                "engine": "postgresql",
                "version": "16",
                "plan": "business",
                "flavor": "db1-7",
                "nodes": [{"region": n, "network_id": None, "subnet_id": None} for n in nodes],
            },
            "sensitive_values": {"nodes": [{} for _ in nodes]},
        },
        {
            "address": "ovh_cloud_project_kube.k",
            "mode": "managed",
            "type": "ovh_cloud_project_kube",
            "name": "k",
            "provider_name": provider,
            "schema_version": 0,
            "values": {"service_name": service, "name": "prod", "region": "GRA11"},
            "sensitive_values": {},
        },
        {
            "address": "ovh_cloud_project_kube_nodepool.pool",
            "mode": "managed",
            "type": "ovh_cloud_project_kube_nodepool",
            "name": "pool",
            "provider_name": provider,
            "schema_version": 0,
            "values": {
                "service_name": service,
                "flavor_name": "b3-8",
                "availability_zones": [pool_zone] if pool_zone else None,
            },
            "sensitive_values": {},
        },
    ]
    conf = doc["configuration"]["root_module"]["resources"]
    conf += [
        {"address": "ovh_cloud_project_database.pg", "mode": "managed", "type": "ovh_cloud_project_database",
         "name": "pg", "provider_config_key": "ovh", "expressions": {}},
        {"address": "ovh_cloud_project_kube.k", "mode": "managed", "type": "ovh_cloud_project_kube", "name": "k",
         "provider_config_key": "ovh", "expressions": {}},
        {"address": "ovh_cloud_project_kube_nodepool.pool", "mode": "managed",
         "type": "ovh_cloud_project_kube_nodepool", "name": "pool", "provider_config_key": "ovh",
         "expressions": {"kube_id": {"references": ["ovh_cloud_project_kube.k.id", "ovh_cloud_project_kube.k"]}}},
    ]  # fmt: skip
    doc["configuration"]["provider_config"]["ovh"] = {
        "name": "ovh",
        "full_name": "registry.opentofu.org/ovh/ovh",
        "expressions": {"endpoint": {"constant_value": "ovh-eu"}},
    }
    doc["resource_changes"] += [
        {"address": "ovh_cloud_project_kube_nodepool.pool", "mode": "managed",
         "type": "ovh_cloud_project_kube_nodepool", "name": "pool",
         "change": {"actions": ["create"], "after_unknown": {"kube_id": True, "id": True}, "after_sensitive": {}}},
    ]  # fmt: skip
    return doc


def test_ovh_managed_databases_and_node_pools_are_placed_like_pulumi_ovh_ones(cli, tmp_path):
    """A three-node managed PostgreSQL in GRA: one campus (finding); the node pool follows its cluster's region
    through the plan's reference (its kube_id is unknown until apply)."""
    code, report = audit(cli, write(tmp_path, ovh_plan(["GRA", "GRA", "GRA"])))
    assert code == 1
    placed = {p["resource"].split("#")[0]: p for p in report["placements"]}
    assert placed["ovh_cloud_project_kube_nodepool.pool"]["region"] == "GRA11"
    assert any(r.startswith("ovh_cloud_project_database.pg") for r in placed)
    assert not [f for f in report["findings"] if f["rule"] == "unknown-placement"]
    assert report["coverage"]["evaluated"]["ovh:CloudProject/database:Database"] == 1
    ovh_db = [f for f in report["findings"] if "ovh_cloud_project_database.pg" in json.dumps(f["resources"])]
    assert ovh_db and ovh_db[0]["rule"] in ("single-site", "single-building")


def test_an_ovh_state_ties_a_node_pool_to_its_cluster_by_id(cli, tmp_path):
    """In a state the pool's kube_id is the cluster's id: placed in the cluster's region."""
    doc = json.loads((DATA / "production.state.json").read_text())
    root = doc["values"]["root_module"]["resources"]
    root += [
        {"address": "ovh_cloud_project_kube.k", "mode": "managed", "type": "ovh_cloud_project_kube", "name": "k",
         "provider_name": "registry.opentofu.org/ovh/ovh",
         "values": {"id": "kube-1", "service_name": "p", "region": "WAW1"}, "sensitive_values": {}},
        {"address": "ovh_cloud_project_kube_nodepool.pool", "mode": "managed",
         "type": "ovh_cloud_project_kube_nodepool", "name": "pool", "provider_name": "registry.opentofu.org/ovh/ovh",
         "values": {"id": "pool-1", "kube_id": "kube-1", "service_name": "p"}, "sensitive_values": {}},
    ]  # fmt: skip
    _, report = audit(cli, write(tmp_path, doc, "state.json"))
    placed = {p["resource"]: p["region"] for p in report["placements"]}
    assert placed["ovh_cloud_project_kube_nodepool.pool"] == "WAW1"


def test_the_local_clouds_catalog_fixture_is_what_the_local_clouds_write():
    """local-clouds.catalog.yaml is a copy of the catalog `local_openstack.py up` writes: its regions are the
    shipped catalog's entries with the local auth hosts added (checked here against the topology)."""
    cat = yaml.safe_load((DATA / "local-clouds.catalog.yaml").read_text())
    topo = json.loads((ROOT / "scripts" / "local-openstack" / "topology.json").read_text())
    assert {p["id"]: sorted(r["name"] for r in p["regions"]) for p in cat["providers"]} == {
        c["stands_for"]: sorted(c["regions"]) for c in topo["clouds"].values()
    }
