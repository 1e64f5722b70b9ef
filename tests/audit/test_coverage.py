"""Coverage, pulumi-ovh estates and labels: nothing is skipped without a word (hand-built exports)."""

import json

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import RuleConfig, evaluate, reader_findings
from tests import builders as b

CAT = load_catalog()


def ovh(e: b.Export, typ: str, name: str, **inputs) -> str:
    u = b.urn(typ, name)
    e.resources.append(
        {
            "urn": u,
            "type": typ,
            "custom": True,
            "id": f"id-{name}",
            "inputs": inputs,
            "outputs": dict(inputs),
            "provider": b.urn("pulumi:providers:ovh", "default_2_0_0") + "::p",
        }
    )
    return u


def audit(e: b.Export, tmp_path, config=None):
    loaded = load_input(str(e.write(tmp_path / "export.json")), CAT)
    config = config or RuleConfig()
    rep = evaluate(loaded.placements, config, CAT)
    return loaded, rep, {f.rule for f in rep.findings + reader_findings(loaded.issues, config) if f.blocking}


def web_spread(e: b.Export) -> None:
    gra, waw = e.provider("gra", region="GRA11"), e.provider("waw", region="WAW1")
    e.resource(b.INSTANCE, "web-1", gra, role="web")
    e.resource(b.INSTANCE, "web-2", waw, role="web")


def test_a_managed_database_whose_nodes_all_sit_in_strasbourg_fails(tmp_path):
    e = b.Export()
    web_spread(e)
    ovh(
        e,
        "ovh:CloudProject/database:Database",
        "pg",
        engine="postgresql",
        plan="business",
        flavor="db1-7",
        version="15",
        nodes=[{"region": "SBG"}, {"region": "SBG"}, {"region": "SBG"}],
        backupRegions=["SBG"],
    )
    loaded, rep, blocking = audit(e, tmp_path)
    db = [p for p in loaded.placements if p.role == "database"]
    assert len(db) == 3 and {p.site for p in db} == {"ovh-strasbourg"}
    assert {"single-site", "single-building", "backup-colocated"} <= blocking


def test_a_kubernetes_cluster_and_its_node_pool_are_placed(tmp_path):
    e = b.Export()
    web_spread(e)
    ovh(e, "ovh:CloudProject/kube:Kube", "k8s", region="SBG5")
    ovh(e, "ovh:CloudProject/kubeNodePool:KubeNodePool", "pool", kubeId="id-k8s", flavorName="b2-7")
    loaded, rep, blocking = audit(e, tmp_path)
    kube = [p for p in loaded.placements if p.role == "kubernetes"]
    assert len(kube) == 2 and all(p.region == "SBG5" for p in kube) and "single-site" in blocking


def test_storage_registry_and_instances_use_their_own_region_fields(tmp_path):
    e = b.Export()
    ovh(e, "ovh:CloudProject/storage:Storage", "bucket", regionName="GRA")
    ovh(e, "ovh:CloudProject/containerRegistry:ContainerRegistry", "reg", region="WAW")
    ovh(e, "ovh:CloudProject/instance:Instance", "vm", region="EU-WEST-PAR", availabilityZone="eu-west-par-b")
    loaded, _, _ = audit(e, tmp_path)
    got = {p.role: (p.provider, p.region, p.building) for p in loaded.placements}
    assert got == {
        "object-storage": ("ovhcloud", "GRA", "GRA"),
        "registry": ("ovhcloud", "WAW", "WAW"),
        "compute": ("ovhcloud", "EU-WEST-PAR", "eu-west-par-b"),
    }


def test_a_container_labelled_database_does_not_hide_a_single_site_database(tmp_path):
    e = b.Export()
    s5, s7, gra = e.provider("s5", region="SBG5"), e.provider("s7", region="SBG7"), e.provider("gra", region="GRA11")
    e.resource(b.INSTANCE, "db-1", s5, role="database")
    e.resource(b.INSTANCE, "db-2", s7, role="database")
    e.resource(b.CONTAINER, "assets", gra, role="database")
    loaded, rep, blocking = audit(e, tmp_path)
    assert "single-site" in blocking
    assert [i[0] for i in loaded.issues] == ["role-label-mismatch"]
    assert {p.role for p in loaded.placements if p.resource.endswith("::assets")} == {"object-storage"}


def test_unknown_types_are_listed_and_flagged_when_they_carry_a_region(tmp_path):
    e = b.Export()
    web_spread(e)
    ovh(e, "aws:rds/instance:Instance", "db", region="eu-west-1")
    e.resource(b.NETWORK, "net", None)
    loaded, _, blocking = audit(e, tmp_path)
    cov = loaded.coverage
    assert cov["not_evaluated"]["unknown_type"] == {"aws:rds/instance:Instance": 1}
    assert cov["not_evaluated"]["holds_no_replica"][b.NETWORK] == 1
    assert cov["resources"] == len(e.resources)
    assert "unclassified-resource" not in blocking  # advisory by default...
    _, _, strict = audit(e, tmp_path, RuleConfig(profile="strict"))
    assert "unclassified-resource" in strict  # ...mandatory in strict


def test_the_json_report_carries_the_coverage(cli, tmp_path):
    e = b.Export()
    web_spread(e)
    ovh(e, "aws:rds/instance:Instance", "db", region="eu-west-1")
    r = cli("audit", str(e.write(tmp_path / "x.json")), "--format", "json")
    doc = json.loads(r.stdout)
    assert doc["coverage"]["not_evaluated"]["unknown_type"] == {"aws:rds/instance:Instance": 1}
    assert any(f["rule"] == "unclassified-resource" for f in doc["findings"])


def test_component_resources_are_not_types_unknown_to_the_auditor(tmp_path):
    e = b.Export()
    web_spread(e)
    e.resources.append({"urn": b.urn("acme:web:Site", "site"), "type": "acme:web:Site", "custom": False})
    e.resources.append(
        {
            "urn": b.urn("acme:index/thing:Thing", "t"),
            "type": "acme:index/thing:Thing",
            "custom": True,
            "id": "t",
            "inputs": {},
            "outputs": {},
        }
    )
    loaded, _, _ = audit(e, tmp_path)
    cov = loaded.coverage["not_evaluated"]
    assert cov["holds_no_replica"].get("acme:web:Site") == 1 and "acme:web:Site" not in cov["unknown_type"]
    assert cov["unknown_type"] == {"acme:index/thing:Thing": 1}
