"""OpenTofu plans (issue 24, first part): `tofu show -json` of a saved plan, judged by the same pipeline, rules and
catalog as Pulumi's files. The fixtures in tests/audit/data/opentofu/ are real output of OpenTofu 1.10.10 and
terraform-provider-openstack 3.4.0, built from the Go module proxy and run offline on examples/opentofu/
(scripts/opentofu-fixtures.sh); the variations below are made from them, each saying what it changes."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from resilient_stack.audit.opentofu import pulumi_type
from tests.conftest import ROOT

DATA = ROOT / "tests" / "audit" / "data" / "opentofu"


def plan(name: str) -> dict:
    return json.loads((DATA / f"{name}.plan.json").read_text())


def audit(cli, path: Path | str, *args: str) -> tuple[int, dict]:
    r = cli("audit", str(path), "--format", "json", *args)
    assert r.returncode in (0, 1), r.stderr.decode()
    return r.returncode, json.loads(r.stdout)


def write(tmp_path: Path, doc: dict, name: str = "plan.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return path


def findings(report: dict, level: str | None = None) -> set[tuple[str, str | None]]:
    return {(f["rule"], f["role"]) for f in report["findings"] if level is None or f["level"] == level}


def by_role(report: dict) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for p in report["placements"]:
        out.setdefault(p["role"], set()).add(p["region"])
    return out


def test_the_production_plan_passes_like_the_production_design(cli):
    code, report = audit(cli, DATA / "production.plan.json")
    assert code == 0 and report["verdict"] == "pass" and report["findings"] == []
    _, design = audit(cli, ROOT / "examples" / "production.design.yaml")
    assert (
        by_role(report)
        == by_role(design)
        == {
            "web": {"GRA11", "WAW1", "dc4-a"},
            "database": {"GRA11", "WAW1", "dc4-a"},
            "backup": {"DE1"},
        }
    )
    assert report["coverage"]["evaluated"]["openstack:networking/secGroupRule:SecGroupRule"] == 15  # 5 per site


def test_the_sbg2021_plan_fails_like_the_2021_design(cli):
    code, report = audit(cli, DATA / "sbg2021.plan.json")
    assert code == 1 and report["verdict"] == "fail"
    _, design = audit(cli, ROOT / "examples" / "sbg2021.design.yaml")
    roles = {"web", "database"}  # the design also places object storage, which the plan does not create
    assert {f for f in findings(report) if f[1] in roles} == {f for f in findings(design) if f[1] in roles}
    assert {("single-site", "database"), ("backup-colocated", "database")} <= findings(report, "mandatory")


def test_a_modules_resources_are_placed_through_the_provider_passed_to_the_module(cli):
    _, report = audit(cli, DATA / "production.plan.json")
    placed = {p["resource"]: p["region"] for p in report["placements"]}
    assert placed["module.gra.openstack_compute_instance_v2.db"] == "GRA11"
    assert placed["module.ik.openstack_compute_instance_v2.web[0]"] == "dc4-a"
    assert placed["openstack_objectstorage_container_v1.db_backups"] == "DE1"


def test_a_provider_region_from_a_root_variable_is_resolved_and_from_anything_else_fails_closed(cli, tmp_path):
    doc = plan("sbg2021")
    doc["configuration"]["provider_config"]["openstack.sbg7"]["expressions"]["region"] = {"references": ["var.r"]}
    doc["variables"] = {"r": {"value": "GRA11"}}
    _, report = audit(cli, write(tmp_path, doc))
    assert "GRA11" in by_role(report)["database"]
    del doc["variables"]
    code, report = audit(cli, write(tmp_path, doc))
    unknown = [f for f in report["findings"] if f["rule"] == "unknown-placement"]
    assert code == 1 and unknown and all("openstack.sbg7 takes region" in f["message"] for f in unknown)


def test_a_provider_configured_from_the_environment_cannot_place_anything(cli, tmp_path):
    doc = plan("sbg2021")
    doc["configuration"]["provider_config"]["openstack.sbg5"]["expressions"] = {}  # OS_REGION_NAME, OS_AUTH_URL
    code, report = audit(cli, write(tmp_path, doc))
    unknown = {f["resources"][0] for f in report["findings"] if f["rule"] == "unknown-placement"}
    assert code == 1 and "openstack_compute_instance_v2.db_sbg5" in unknown


def rules_of(doc: dict) -> list[dict]:
    return [
        r
        for m in doc["planned_values"]["root_module"]["child_modules"]
        for r in m["resources"]
        if r["type"] == "openstack_networking_secgroup_rule_v2"
    ]


def test_the_rules_of_one_security_group_are_judged_together_through_their_references(cli, tmp_path):
    """Two halves of the world on port 22 in one group (its id unknown until apply, traced to the group)."""
    doc = plan("production")
    gra = [
        r for r in rules_of(doc) if r["address"].startswith("module.gra.openstack_networking_secgroup_rule_v2.ssh_db")
    ]
    gra.append(
        next(r for r in rules_of(doc) if r["address"] == "module.gra.openstack_networking_secgroup_rule_v2.postgres")
    )
    halves = iter(["0.0.0.0/1", "128.0.0.0/1"])
    for r in gra:
        r["values"].update(port_range_min=22, port_range_max=22, remote_ip_prefix=next(halves))
    code, report = audit(cli, write(tmp_path, doc))
    [finding] = [f for f in report["findings"] if f["rule"] == "ssh-open-to-world"]
    assert code == 1 and set(finding["resources"]) == {r["address"] for r in gra}


def test_a_remote_prefix_known_only_at_apply_is_an_unknown_security_rule(cli, tmp_path):
    doc = plan("production")
    rule = next(r for r in rules_of(doc) if r["address"] == "module.waw.openstack_networking_secgroup_rule_v2.ssh_db")
    del rule["values"]["remote_ip_prefix"]
    change = next(c for c in doc["resource_changes"] if c["address"] == rule["address"])
    change["change"]["after_unknown"]["remote_ip_prefix"] = True
    code, report = audit(cli, write(tmp_path, doc), "--profile", "strict")
    assert code == 1 and ("unknown-preview-security-rule", None) in findings(report)


def test_sensitive_labels_are_never_read_and_said(cli, tmp_path):
    doc = plan("sbg2021")
    db = next(r for r in doc["planned_values"]["root_module"]["resources"] if r["name"] == "db_sbg7")
    db["sensitive_values"]["metadata"] = {"resilient-stack:role": True}
    code, report = audit(cli, write(tmp_path, doc))
    hidden = [f for f in report["findings"] if f["rule"] == "unmatched-declaration"]
    assert (
        code == 1 and hidden and "secret" in hidden[0]["message"] and "database" not in json.dumps(hidden[0]["message"])
    )


def test_a_replica_the_plan_deletes_vouches_for_nothing(cli, tmp_path):
    """The Warsaw database member planned for deletion: counted as not running, and its site no longer counts."""
    doc = plan("production")
    waw = next(m for m in doc["planned_values"]["root_module"]["child_modules"] if m["address"] == "module.waw")
    waw["resources"] = [r for r in waw["resources"] if r["name"] != "db"]
    ik = next(m for m in doc["planned_values"]["root_module"]["child_modules"] if m["address"] == "module.ik")
    ik["resources"] = [r for r in ik["resources"] if r["name"] != "db"]
    for c in doc["resource_changes"]:
        if c["address"] in (
            "module.waw.openstack_compute_instance_v2.db",
            "module.ik.openstack_compute_instance_v2.db",
        ):
            c["change"]["actions"] = ["delete"]
    code, report = audit(cli, write(tmp_path, doc))
    assert report["coverage"]["not_evaluated"]["not_running"] == {"openstack:compute/instance:Instance": 2}
    assert code == 1 and ("single-site", "database") in findings(report, "mandatory")


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update(errored=True), "the plan errored"),
        (lambda d: d.pop("configuration"), "has no 'configuration' object"),
        (lambda d: d.update(planned_values=[]), "'planned_values' is not an object"),
    ],
)
def test_an_unusable_plan_is_one_line_and_exit_2(cli, tmp_path, change, message):
    doc = plan("sbg2021")
    change(doc)
    r = cli("audit", str(write(tmp_path, doc)))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and message in err and "plan.json" in err


def test_the_paper_drill_reads_plans_too(cli):
    r = cli("drill", str(DATA / "sbg2021.plan.json"), "--format", "json")
    assert r.returncode == 1, r.stderr.decode()
    r = cli("drill", str(DATA / "production.plan.json"), "--format", "json")
    assert r.returncode == 0, r.stderr.decode()


def test_sarif_names_each_finding_by_its_plan_address(cli):
    r = cli("audit", str(DATA / "sbg2021.plan.json"), "--format", "sarif")
    sarif = json.loads(r.stdout)
    names = {
        loc["fullyQualifiedName"]
        for res in sarif["runs"][0]["results"]
        for loc in res["locations"][0].get("logicalLocations", [])
    }
    assert r.returncode == 1 and "openstack_compute_instance_v2.db_sbg5" in names


@pytest.mark.parametrize(
    "tf, token",
    [
        ("openstack_compute_instance_v2", "openstack:compute/instance:Instance"),  # explicit in pulumi-openstack
        ("openstack_lb_loadbalancer_v2", "openstack:loadbalancer/loadBalancer:LoadBalancer"),
        ("openstack_objectstorage_container_v1", "openstack:objectstorage/container:Container"),
        ("openstack_networking_address_group_v2", "openstack:networking/addressGroupV2:AddressGroupV2"),  # inferred
        ("openstack_networking_subnet_v2", "openstack:networking/subnet:Subnet"),
        ("ovh_cloud_project_database", "ovh:CloudProject/database:Database"),  # pulumi-ovh's
        ("ovh_cloud_project_kube_nodepool", "ovh:CloudProject/kubeNodePool:KubeNodePool"),
        ("ovh_cloud_project_region_network", "terraform:ovh_cloud_project_region_network"),  # not placed
    ],
)
def test_terraform_types_are_read_as_the_pulumi_provider_names_them(tf, token):
    assert pulumi_type(tf) == token


def test_a_type_of_another_provider_with_a_region_is_said_not_evaluated(cli, tmp_path):
    doc = plan("sbg2021")
    extra = copy.deepcopy(doc["planned_values"]["root_module"]["resources"][0])
    extra.update(address="aws_db_instance.pg", type="aws_db_instance", name="pg")
    extra["values"] = {"engine": "postgres", "availability_zone": "eu-west-3a"}
    doc["planned_values"]["root_module"]["resources"].append(extra)
    _, report = audit(cli, write(tmp_path, doc))
    assert report["coverage"]["not_evaluated"]["unknown_type"] == {"terraform:aws_db_instance": 1}
    assert ("unclassified-resource", None) in findings(report)


def test_a_plan_with_a_duplicate_key_is_refused_in_one_line(cli, tmp_path):
    """`"type": "openstack_compute_instance_v2", "type": "x"` would hide an instance from a reader keeping the last."""
    text = (DATA / "sbg2021.plan.json").read_text()
    first = '"type":"openstack_compute_instance_v2"'
    assert first in text
    path = tmp_path / "dup.json"
    path.write_text(text.replace(first, first + ',"type":"openstack_networking_network_v2"', 1))
    r = cli("audit", str(path))
    err = r.stderr.decode()
    assert r.returncode == 2 and err.count("\n") == 1 and "duplicate" in err and "dup.json" in err


def test_an_exemption_label_is_honoured_only_through_the_organisation_settings(cli, tmp_path):
    """`resilient-stack:exempt` in the instances' metadata, as in a Pulumi program: listed, honoured when allowed."""
    doc = plan("sbg2021")
    for r in doc["planned_values"]["root_module"]["resources"]:
        if r["type"] == "openstack_compute_instance_v2" and r["name"].startswith("web"):
            r["values"]["metadata"]["resilient-stack:exempt"] = "lab"
    path = write(tmp_path, doc)
    _, claimed = audit(cli, path)
    web = next(f for f in claimed["findings"] if f["rule"] == "single-site" and f["role"] == "web")
    assert web["level"] == "mandatory" and not web.get("exempted")  # claimed, not allowed: still blocks
    cfg = tmp_path / "org.yaml"
    cfg.write_text("exemptions: [{reason: lab, owner: platform, expires: 2999-01-01, rules: [single-site]}]\n")
    _, allowed = audit(cli, path, "--config", str(cfg))
    web = next(f for f in allowed["findings"] if f["rule"] == "single-site" and f["role"] == "web")
    assert web["exempted"]
    database = next(f for f in allowed["findings"] if f["rule"] == "single-site" and f["role"] == "database")
    assert not database.get("exempted")
