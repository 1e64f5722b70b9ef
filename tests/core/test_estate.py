"""The one audit pipeline (issue 26, point 7): an Estate fed resource by resource, judged by `audit`. The auditor's
JSON readers, the pack's views and the components' designs go through it; these tests hold its behaviour, each
path's own tests (tests/audit, tests/policies, tests/components) and tests/agreement the paths to one answer."""

from __future__ import annotations

import pytest

from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.design import parse_design
from resilient_stack.core.estate import Estate, Settings, audit
from resilient_stack.core.resources import ResourceView
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.security import SECGROUP_RULE_TYPE
from tests import builders as b

CAT = load_catalog()
SETTINGS = Settings(RuleConfig(), CAT)


def by_json(resources: list[dict], **kw) -> Estate:
    """As the auditor's readers feed it: each resource of the state in the order of the file."""
    estate = Estate(CAT, **kw)
    for r in resources:
        estate.read(r["urn"], r["type"], r, r.get("provider"))
    return estate


def by_views(resources: list[dict]) -> Estate:
    """As the pack feeds it: each resource viewed from its properties, with its provider's properties."""
    providers = {f"{r['urn']}::{r['id']}": r["inputs"] for r in resources if r["type"].startswith("pulumi:providers:")}
    estate = Estate(CAT)
    for r in resources:
        if r["type"].startswith("pulumi:providers:"):
            continue
        ref = r.get("provider")
        view = ResourceView(r["urn"], r["type"], r.get("inputs"), None, ref, r.get("custom", True) is not False)
        props = providers.get(ref) if ref else None
        estate.add_view(view, props, None if props is not None else "the resource records no provider")
    return estate


def summary(estate: Estate) -> tuple:
    report = audit(estate, SETTINGS)
    return report.verdict, sorted((f.rule, f.level, f.role, f.resources, f.replica_set) for f in report.findings)


@pytest.mark.parametrize("build", [b.spread_export, b.strasbourg_export])
def test_a_state_read_as_json_and_as_the_packs_views_is_judged_the_same(build):
    resources = build().resources
    verdict, findings = summary(by_json(resources))
    assert (verdict, findings) == summary(by_views(resources))
    assert verdict == ("pass" if build is b.spread_export else "fail")


def test_a_resource_listed_before_its_provider_is_placed_once_the_provider_is_read():
    resources = b.spread_export().resources
    providers = [r for r in resources if r["type"].startswith("pulumi:providers:")]
    others = [r for r in resources if r not in providers]
    early, late = by_json(resources), by_json(others + providers)
    assert summary(early) == summary(late)
    assert all(p.resolved for p in late.finish()) and len(late.finish()) == len(early.finish()) == 7


def test_a_failed_replica_is_counted_not_running_and_vouches_for_nothing():
    e = b.spread_export()
    db_waw = next(r for r in e.resources if r["urn"].endswith("::db-waw"))
    db_waw["outputs"]["status"] = "ERROR"
    db_ik = next(r for r in e.resources if r["urn"].endswith("::db-ik"))
    db_ik["initErrors"] = ["instance db-ik failed to boot"]
    estate = by_json(e.resources)
    report = audit(estate, SETTINGS)
    assert {p.resource.rsplit("::", 1)[1] for p in estate.finish() if p.role == "database"} == {"db-gra"}
    gone = {row["resource"].rsplit("::", 1)[1]: row["why"] for row in report.coverage["not_running"]}
    assert gone == {
        "db-waw": "status ERROR",
        "db-ik": "created with initialization errors (instance db-ik failed to boot)",
    }
    assert report.verdict == "fail" and {"single-site", "single-building"} <= {f.rule for f in report.findings}


def test_what_an_interrupted_update_was_deleting_leaves_the_spread():
    e = b.spread_export()
    estate = by_json(e.resources)
    assert audit(by_json(e.resources), SETTINGS).verdict == "pass"
    estate.deleting({b.urn(b.INSTANCE, "web-waw"): b.INSTANCE, b.urn(b.INSTANCE, "web-ik"): b.INSTANCE}, "deleting")
    report = audit(estate, SETTINGS)
    assert report.coverage["not_evaluated"]["not_running"] == {b.INSTANCE: 2}
    assert any(f.rule == "single-site" and f.role == "web" for f in report.findings)


def world_open_ssh() -> list[dict]:
    e = b.spread_export()
    e.resources.append(
        {
            "urn": b.urn(SECGROUP_RULE_TYPE, "ssh"),
            "type": SECGROUP_RULE_TYPE,
            "custom": True,
            "inputs": {
                "direction": "ingress",
                "protocol": "tcp",
                "portRangeMin": 22,
                "portRangeMax": 22,
                "remoteIpPrefix": "0.0.0.0/0",
                "securityGroupId": "sg-1",
            },
        }
    )
    return e.resources


def test_the_security_defaults_are_judged_when_the_estate_checks_them():
    checked = audit(by_json(world_open_ssh(), security=True), SETTINGS)
    assert "ssh-open-to-world" in {f.rule for f in checked.findings} and checked.verdict == "fail"
    assert SECGROUP_RULE_TYPE in checked.coverage["evaluated"]
    # the pack's placement policies do not check them (its security policies do, with the same core checks)
    unchecked = audit(by_json(world_open_ssh()), SETTINGS)
    assert "ssh-open-to-world" not in {f.rule for f in unchecked.findings}


def test_a_design_is_judged_by_the_same_pipeline_and_says_what_it_evaluated():
    design = parse_design(
        {
            "name": "shop",
            "placements": [
                {"name": "sbg5", "cloud": "ovh", "region": "SBG5", "replicas": {"database": 1}},
                {"name": "sbg7", "cloud": "ovh", "region": "SBG7", "replicas": {"database": 1}},
            ],
        },
        "d.yaml",
    )
    report = audit(Estate.of_design(CAT, design.placements_for(CAT)), SETTINGS)
    assert report.coverage["evaluated"] == {"design replica": 2}
    assert report.verdict == "fail" and {"single-site"} <= {f.rule for f in report.findings}
    assert report.scope is not None


def test_finishing_twice_places_each_resource_once():
    estate = by_json(b.spread_export().resources)
    assert len(estate.finish()) == len(estate.finish()) == 7
