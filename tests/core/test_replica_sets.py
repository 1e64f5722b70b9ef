"""Replica sets have an identity (issue 26, point 2): replicas vouch for each other only within one replica set.

A managed database cluster's nodes (pulumi-ovh, Trove), one Kubernetes cluster's node pools, the instances of one
role in one stack: each is a set. Two unrelated managed databases never make each other "spread", whichever path
reads them (export, preview, the policy pack, the paper drill), and every output says which set a finding is about.
"""

from __future__ import annotations

import json

import pytest

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.placement import Placement, replica_set_name
from resilient_stack.core.rules import RuleConfig, evaluate
from resilient_stack.core.survival import drill
from tests import builders as b
from tests.policies.support import assert_agree, run_in_process
from tests.policies.support import audit as audit_cli

CAT = load_catalog()
DB = "ovh:CloudProject/database:Database"
KUBE = "ovh:CloudProject/kube:Kube"
POOL = "ovh:CloudProject/kubeNodePool:KubeNodePool"
TROVE = "openstack:database/instance:Instance"
OVH_PROVIDER = b.urn("pulumi:providers:ovh", "default_2_0_0") + "::p"


def ovh(e: b.Export, typ: str, name: str, deps: dict | None = None, **inputs) -> str:
    u = b.urn(typ, name)
    res = {
        "urn": u,
        "type": typ,
        "custom": True,
        "id": f"id-{name}",
        "inputs": inputs,
        "outputs": dict(inputs),
        "provider": OVH_PROVIDER,
        "parent": e.resources[0]["urn"],
    }
    if deps:
        res["propertyDependencies"] = deps
    e.resources.append(res)
    return u


def web_spread(e: b.Export) -> None:
    gra, waw = e.provider("gra", region="GRA11"), e.provider("waw", region="WAW1")
    e.resource(b.INSTANCE, "web-gra", gra, role="web")
    e.resource(b.INSTANCE, "web-waw", waw, role="web")


def managed(e: b.Export, name: str, region: str, backups: list[str] | None = None) -> str:
    return ovh(
        e,
        DB,
        name,
        engine="postgresql",
        plan="business",
        flavor="db1-7",
        version="15",
        nodes=[{"region": region}] * 3,
        **({"backupRegions": backups} if backups is not None else {}),
    )


def two_databases() -> b.Export:
    """Two unrelated managed databases, each whole in one region, on two sites: neither is spread."""
    e = b.Export()
    web_spread(e)
    managed(e, "orders", "GRA", backups=["WAW"])
    managed(e, "billing", "WAW", backups=["GRA"])
    return e


def report_of(e: b.Export, tmp_path, config: RuleConfig | None = None):
    loaded = load_input(str(e.write(tmp_path / "export.json")), CAT)
    return evaluate(loaded.placements, config or RuleConfig(), CAT), loaded


def blocking_sets(rep) -> set[tuple[str, str | None]]:
    return {(f.rule, f.replica_set) for f in rep.findings if f.blocking}


def test_two_unrelated_managed_databases_do_not_make_each_other_spread(tmp_path):
    rep, loaded = report_of(two_databases(), tmp_path)
    orders, billing = "database of managed database orders", "database of managed database billing"
    assert {p.unit for p in loaded.placements if p.role == "database"} == {orders, billing}
    got = blocking_sets(rep)
    for unit in (orders, billing):
        assert ("single-site", unit) in got and ("single-building", unit) in got
    # each has its backups on the other site: its own backup regions vouch for it, not the other database's
    assert not {r for r, _ in got} & {"backup-colocated"}
    msg = next(f.message for f in rep.findings if f.rule == "single-site" and f.replica_set == orders)
    assert msg.startswith("all 3 `database` replicas of managed database orders are in site ")


def test_one_managed_database_spread_over_two_regions_is_one_set_and_passes_the_site_rule(tmp_path):
    e = b.Export()
    web_spread(e)
    ovh(
        e,
        DB,
        "orders",
        engine="postgresql",
        plan="business",
        flavor="db1-7",
        version="15",
        nodes=[{"region": "GRA"}, {"region": "WAW"}, {"region": "DE"}],
        backupRegions=["UK"],
    )
    rep, _ = report_of(e, tmp_path)
    assert not [f for f in rep.findings if f.blocking], [f.message for f in rep.findings]


def test_a_managed_database_does_not_spread_the_stacks_own_database_hosts_nor_the_reverse(tmp_path):
    """Patroni hosts labelled `database` in GRA and a managed database in WAW: two sets, each on one site."""
    e = b.Export()
    web_spread(e)
    gra = e.provider("gra-db", region="GRA11")
    e.resource(b.INSTANCE, "db-1", gra, role="database")
    e.resource(b.INSTANCE, "db-2", gra, role="database")
    managed(e, "billing", "WAW")
    rep, _ = report_of(e, tmp_path)
    got = blocking_sets(rep)
    assert ("single-site", "database") in got
    assert ("single-site", "database of managed database billing") in got


def test_a_role_wide_backup_protects_every_set_of_its_role_and_a_sets_own_backups_only_that_set(tmp_path):
    e = b.Export()
    web_spread(e)
    managed(e, "orders", "GRA", backups=["GRA"])  # its own backups beside it
    managed(e, "billing", "WAW", backups=["WAW"])
    rep, _ = report_of(e, tmp_path)
    colocated = {f.replica_set for f in rep.findings if f.rule == "backup-colocated" and f.blocking}
    assert colocated == {"database of managed database orders", "database of managed database billing"}
    # a container labelled protects: database in Limburg keeps a copy of every database's data
    e.resource(b.CONTAINER, "dumps", e.provider("lim", region="DE1"), role="backup", protects="database")
    rep, _ = report_of(e, tmp_path)
    assert not [f for f in rep.findings if f.rule == "backup-colocated" and f.blocking]


@pytest.mark.parametrize("by", ["kubeId", "propertyDependencies"])
def test_two_kubernetes_clusters_are_two_sets_each_with_its_own_node_pools(tmp_path, by):
    e = b.Export()
    web_spread(e)
    for name, region in (("k-gra", "GRA7"), ("k-waw", "WAW1")):
        kube = ovh(e, KUBE, name, region=region)
        if by == "kubeId":
            ovh(e, POOL, f"{name}-pool", kubeId=f"id-{name}", flavorName="b2-7")
        else:  # a preview's pool: the id is not known yet, the dependency says which cluster
            ovh(e, POOL, f"{name}-pool", deps={"kubeId": [kube]}, flavorName="b2-7")
    rep, loaded = report_of(e, tmp_path)
    units = {}
    for p in loaded.placements:
        if p.role == "kubernetes":
            units.setdefault(p.unit, []).append(p.resource.rsplit("::", 1)[-1])
    assert units == {
        "kubernetes of Kubernetes cluster k-gra": ["k-gra", "k-gra-pool"],
        "kubernetes of Kubernetes cluster k-waw": ["k-waw", "k-waw-pool"],
    }
    assert {("single-site", u) for u in units} <= blocking_sets(rep)


def test_a_node_pool_whose_cluster_is_missing_is_unplaced_and_in_a_set_named_by_its_cluster(tmp_path):
    e = b.Export()
    web_spread(e)
    ovh(e, POOL, "orphan", kubeId="id-elsewhere", flavorName="b2-7")
    rep, loaded = report_of(e, tmp_path)
    (p,) = [p for p in loaded.placements if p.role == "kubernetes"]
    assert not p.resolved and p.unit == "kubernetes of Kubernetes cluster id-elsewhere"
    assert ("unknown-placement", p.unit) in blocking_sets(rep)


def test_unlabelled_trove_instances_are_a_set_each_and_a_role_label_makes_them_one(tmp_path):
    e = b.Export()
    web_spread(e)
    e.resource(TROVE, "pg-a", e.provider("t-gra", region="GRA11"))
    e.resource(TROVE, "pg-b", e.provider("t-waw", region="WAW1"))
    rep, _ = report_of(e, tmp_path)
    assert {
        ("single-site", "database of Trove instance pg-a"),
        ("single-site", "database of Trove instance pg-b"),
    } <= blocking_sets(rep)
    # the operator declares them one replicated database: one role, one set, on two sites
    for r in e.resources:
        if r["type"] == TROVE:
            r["inputs"]["metadata"] = r["outputs"]["metadata"] = {"resilient-stack:role": "database"}
    rep, _ = report_of(e, tmp_path)
    assert not [f for f in rep.findings if f.blocking and f.role == "database"], [f.message for f in rep.findings]


def test_the_paper_drill_counts_each_set_on_its_own(tmp_path):
    _, loaded = report_of(two_databases(), tmp_path)
    scenarios = {s.name: s for s in drill(loaded.placements, "site")}
    gra = next(s for n, s in scenarios.items() if "Gravelines" in n)
    assert gra.roles["database of managed database orders"] == (0, 3)
    assert gra.roles["database of managed database billing"] == (3, 3)
    assert gra.down_roles == ("database of managed database orders",) and not gra.service_survives
    assert gra.data_survives  # orders' backups are in Warsaw


def test_drill_role_wide_sets_are_unchanged():
    """Design files and labelled instances: one set per role, named by the role alone (as before sets existed)."""
    ps = [
        Placement("a", "web", "ovhcloud", "GRA11", "gra", "Gravelines", "GRA11"),
        Placement("b", "web", "ovhcloud", "WAW1", "waw", "Warsaw", "WAW1"),
    ]
    assert [s.roles for s in drill(ps, "site")] == [{"web": (1, 2)}, {"web": (1, 2)}]
    assert replica_set_name("web", "") == "web"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "junit", "markdown"])
def test_every_output_says_which_replica_set_a_finding_is_about(cli, tmp_path, fmt):
    path = two_databases().write(tmp_path / "export.json")
    r = cli("audit", str(path), "--format", fmt)
    assert r.returncode == 1, r.stderr
    out = r.stdout.decode()
    for unit in ("database of managed database orders", "database of managed database billing"):
        assert unit in out, out[:3000]
    if fmt == "json":
        sets = {(f["rule"], f.get("replica_set")) for f in json.loads(out)["findings"]}
        assert ("single-site", "database of managed database orders") in sets
    if fmt == "sarif":
        props = [res["properties"] for res in json.loads(out)["runs"][0]["results"]]
        assert {"replicaSet": "database of managed database billing"}.items() <= next(
            p for p in props if p["replicaSet"] == "database of managed database billing"
        ).items()


def test_the_pack_and_the_auditor_agree_on_two_unrelated_databases(tmp_path):
    doc = two_databases().doc()
    diags = run_in_process(doc)
    assert_agree(diags, audit_cli(doc, tmp_path))
    single = [d for d in diags if d.policy == "single-site"]
    assert {d.message.split(" are in ")[0] for d in single} >= {
        "all 3 `database` replicas of managed database orders",
        "all 3 `database` replicas of managed database billing",
    }


def test_a_preview_of_two_databases_is_judged_the_same(tmp_path):
    preview = b.preview_of(two_databases())
    path = tmp_path / "preview.json"
    path.write_text(json.dumps(preview))
    loaded = load_input(str(path), CAT)
    rep = evaluate(loaded.placements, RuleConfig(), CAT)
    assert {
        ("single-site", "database of managed database orders"),
        ("single-site", "database of managed database billing"),
    } <= blocking_sets(rep)
