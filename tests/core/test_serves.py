"""``resilient-stack:serves``: a replica that plays other roles too is counted in each (issue 23, point 3: the stack's
monitoring hosts are also its name servers). The way in is judged like any role: name servers on one site are a
``single-site`` finding of the ``dns`` role."""

from __future__ import annotations

from collections import Counter

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import RuleConfig, evaluate
from tests import builders as b

CAT = load_catalog()
INSTANCE = "openstack:compute/instance:Instance"


def loaded(e: b.Export, tmp_path):
    return load_input(str(e.write(tmp_path / "export.json")), CAT)


def with_monitoring(*where: str, serves: str = "dns") -> b.Export:
    e = b.spread_export()
    providers = {
        r["urn"].rsplit("::", 1)[-1]: f"{r['urn']}::{r['id']}" for r in e.resources if "providers" in r["type"]
    }
    for name in where:
        u = e.resource(INSTANCE, f"mon-{name}", providers[name], role="monitoring")
        res = next(r for r in e.resources if r["urn"] == u)
        res["inputs"]["metadata"]["resilient-stack:serves"] = serves
        res["outputs"] = dict(res["inputs"])
    return e


def test_a_monitoring_host_that_serves_dns_is_one_replica_of_each_role(tmp_path):
    got = loaded(with_monitoring("waw", "ik"), tmp_path)
    roles = Counter(p.role for p in got.placements)
    assert roles["monitoring"] == 2 and roles["dns"] == 2
    dns = {p.resource: p.site for p in got.placements if p.role == "dns"}
    mon = {p.resource: p.site for p in got.placements if p.role == "monitoring"}
    assert dns == mon  # the same hosts, the same sites: they burn together
    assert evaluate(got.placements, RuleConfig(), CAT).verdict == "pass"


def test_name_servers_on_one_site_are_a_single_site_finding_of_the_dns_role(tmp_path):
    got = loaded(with_monitoring("waw"), tmp_path)
    findings = [f for f in evaluate(got.placements, RuleConfig(), CAT).findings if f.rule == "single-site"]
    assert {f.role for f in findings} == {"dns", "monitoring"}
    assert all(f.blocking for f in findings)


def test_a_serves_label_names_each_role_once_and_a_misspelled_one_is_said_never_dropped(tmp_path):
    got = loaded(with_monitoring("waw", "ik", serves="dns,dns,monitoring,Not A Role,"), tmp_path)
    roles = Counter(p.role for p in got.placements)
    assert roles["dns"] == 2 and roles["monitoring"] == 2 and "Not A Role" not in roles
    said = [i for i in got.issues if i[0] == "unmatched-declaration"]
    assert len(said) == 2 and all("resilient-stack:serves='Not A Role'" in i[3] for i in said), said
    assert not [i for i in loaded(with_monitoring("waw", "ik"), tmp_path).issues if i[0] == "unmatched-declaration"]
