"""Untrusted input fails closed (issue 26, point 5): a provider whose endpoint overrides send its calls elsewhere
places nothing by its `region`; the replicas it made are unknown-placement, on every path."""

import json

import pytest

from resilient_stack.audit.inputs import load_input
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.resources import ResourceView, place_all
from resilient_stack.core.rules import RuleConfig, evaluate
from tests import builders as b

CAT = load_catalog()
SBG = {"compute": "https://compute.sbg5.cloud.ovh.net/v2.1", "network": "https://network.compute.sbg5.cloud.ovh.net/"}


def export(overrides) -> b.Export:
    """Web replicas 'in' GRA11 and WAW1, the GRA11 provider's compute calls overridden."""
    e = b.Export()
    gra = e.provider("gra", region="GRA11", endpointOverrides=overrides)
    waw = e.provider("waw", region="WAW1")
    e.resource(b.INSTANCE, "web-gra", gra, role="web")
    e.resource(b.INSTANCE, "web-waw", waw, role="web")
    return e


@pytest.mark.parametrize("overrides", [SBG, json.dumps(SBG)], ids=["map", "json text (a provider's state)"])
def test_an_overridden_endpoint_makes_the_replica_unknown_placement(tmp_path, overrides):
    loaded = load_input(str(export(overrides).write(tmp_path / "e.json")), CAT)
    rep = evaluate(loaded.placements, RuleConfig(), CAT)
    unknown = [f for f in rep.findings if f.rule == "unknown-placement"]
    assert len(unknown) == 1 and unknown[0].level == "mandatory" and rep.verdict == "fail"
    assert "overrides the endpoints of compute, network (endpointOverrides)" in unknown[0].message


@pytest.mark.parametrize("overrides", [{}, "{}", ""])
def test_no_override_places_by_region(tmp_path, overrides):
    loaded = load_input(str(export(overrides).write(tmp_path / "e.json")), CAT)
    assert all(p.resolved for p in loaded.placements)


def test_a_secret_or_unreadable_override_fails_closed_too(tmp_path):
    secret = {b.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:eA=="}
    for value, said in ((secret, "services hidden in a secret"), ("not json", "services it does not name")):
        loaded = load_input(str(export(value).write(tmp_path / "e.json")), CAT)
        problems = [p.problem for p in loaded.placements if not p.resolved]
        assert len(problems) == 1 and said in problems[0]


def test_the_pack_places_through_the_same_code():
    view = ResourceView(b.urn(b.INSTANCE, "web"), b.INSTANCE, {"metadata": {"resilient-stack:role": "web"}})
    [placed] = place_all(view, CAT, {"region": "GRA11", "authUrl": b.OVH_AUTH, "endpointOverrides": SBG}, None)
    assert not placed.resolved and "endpointOverrides" in placed.problem
