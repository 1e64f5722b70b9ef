"""policies/resilient_policies/resources.py: SDK resources -> the auditor's ResourceView, never through the
unknown-checking proxy (reading an unknown there would downgrade the policy to advisory)."""

import pytest
from pulumi import FileAsset
from pulumi_policy import proxy
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy
from pulumi_policy.secret import Secret, secrets_preserving_proxy

from resilient_policies.resources import (
    SECRET_MARKER,
    fingerprint,
    plain,
    provider_props,
    resource_view,
    stack_view,
)
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from tests import builders as b
from tests.policies import support as s

ALL_UNKNOWNS = [
    proxy.UNKNOWN_BOOLEAN_VALUE,
    proxy.UNKNOWN_NUMBER_VALUE,
    proxy.UNKNOWN_STRING_VALUE,
    proxy.UNKNOWN_ARRAY_VALUE,
    proxy.UNKNOWN_ASSET_VALUE,
    proxy.UNKNOWN_ARCHIVE_VALUE,
    proxy.UNKNOWN_OBJECT_VALUE,
]


def test_the_trap_exists_reading_an_unknown_through_the_proxy_raises():
    props = s.sdk_props({"region": UNKNOWN})
    with pytest.raises(UnknownValueError):
        props["region"]  # this is what the servicer turns into an ADVISORY "can't run policy" diagnostic


@pytest.mark.parametrize("sentinel", ALL_UNKNOWNS)
def test_plain_copies_unknowns_without_raising(sentinel):
    props = s.sdk_props({"a": sentinel, "nested": {"b": [1, sentinel, {"c": sentinel}]}, "list": [sentinel]})
    out = plain(props)
    assert out == {"a": UNKNOWN, "nested": {"b": [1, UNKNOWN, {"c": UNKNOWN}]}, "list": [UNKNOWN]}
    assert type(out) is dict and type(out["nested"]) is dict and type(out["list"]) is list


def test_plain_never_keeps_a_secret_value():
    raw = deserialize_properties({"userData": {SECRET_SIG: s.SECRET_VALUE_SIG, "value": "PGPASSWORD=x"}}, True)
    out = plain(unknown_checking_proxy(raw))  # the remediation path: secrets marked
    assert out == {"userData": SECRET_MARKER}
    assert plain(secrets_preserving_proxy({"k": [Secret("x")]})) == {"k": [SECRET_MARKER]}


def test_plain_of_odd_values_and_plain_containers():
    out = plain({"asset": FileAsset("/x"), "raw": b"\x00", "n": 2.0, "b": True, "none": None, 3: "int key"})
    assert out["asset"] == {"__kind__": "FileAsset"} and out["raw"] == {"__kind__": "bytes"}
    assert out["n"] == 2.0 and out["b"] is True and out["none"] is None and out["3"] == "int key"
    deep = current = {}
    for _ in range(200):
        current["x"] = {}
        current = current["x"]
    plain(deep)  # bounded, no RecursionError


def test_provider_props_openstack_other_and_missing():
    assert provider_props(None) == (None, "the resource records no provider")
    props, why = provider_props(s.provider("rnd", typ="pulumi:providers:random"))
    assert props is None and "pulumi:providers:random provider" in why
    props, why = provider_props(s.provider("gra", region="GRA11", authUrl=UNKNOWN))
    assert why is None and props == {"region": "GRA11", "authUrl": UNKNOWN}


def test_stack_view_unknown_region_computed_by_the_provider_is_unset():
    prov = s.provider("gra", region="GRA11")
    computed = stack_view(s.replica("w", prov, region=UNKNOWN))
    assert "region" not in computed.inputs and computed.custom
    derived = stack_view(s.replica("w", prov, region=UNKNOWN, deps={"region": []}))
    assert derived.inputs["region"] == UNKNOWN
    component = stack_view(s.resource("resilient-stack:index:Web", "c", {"x": 1}))
    assert not component.custom and component.provider_ref is None


def test_resource_view_reads_inputs_and_odd_shapes():
    args = s.resource_args(b.INSTANCE, "w", {"userData": UNKNOWN, "metadata": "not-a-dict"}, s.provider())
    v = resource_view(args)
    assert v.urn == b.urn(b.INSTANCE, "w") and v.inputs == {"userData": UNKNOWN, "metadata": "not-a-dict"}
    assert resource_view(s.resource_args("x:y:Z", "z", None)).inputs == {}


def _stack(region="GRA11", user_data="#!/bin/sh", deps=None, metadata_role="web"):
    gra = s.provider("gra", region=region, authUrl=b.OVH_AUTH)
    return [
        s.replica("w1", gra, role=metadata_role, userData=user_data, deps=deps),
        s.replica("w2", s.provider("waw", region="WAW1", authUrl=b.OVH_AUTH)),
    ]


def test_fingerprint_is_the_same_for_fresh_objects_of_the_same_stack():
    """The six stack policies get fresh resource objects: the fingerprint lets them share one evaluation."""
    assert fingerprint("k", _stack()) == fingerprint("k", _stack()) is not None
    assert fingerprint("k", _stack()) != fingerprint("other settings", _stack())


@pytest.mark.parametrize(
    "change",
    [
        {"region": "SBG5"},  # the provider's region
        {"user_data": "#!/bin/sh\necho hi"},  # any property
        {"deps": {"region": ["urn:pulumi:dev::shop::x::y"]}},  # a region derived from another resource
        {"metadata_role": "database"},  # the role label
    ],
)
def test_fingerprint_changes_with_anything_placement_reads(change):
    assert fingerprint("k", _stack(**change)) != fingerprint("k", _stack())


def test_fingerprint_tells_a_secret_from_any_string_that_looks_like_one():
    secret = [s.resource(b.INSTANCE, "w", None)]
    secret[0].props["__target"]["metadata"] = {"resilient-stack:role": Secret("web")}
    for imitation in ("web", "[secret]", {"secret": True}, str(Secret("web"))):
        fake = [s.resource(b.INSTANCE, "w", {"metadata": {"resilient-stack:role": imitation}})]
        assert fingerprint("k", fake) != fingerprint("k", secret)
    other_secret = [s.resource(b.INSTANCE, "w", None)]
    other_secret[0].props["__target"]["metadata"] = {"resilient-stack:role": Secret("db")}
    assert fingerprint("k", other_secret) == fingerprint("k", secret)  # a secret's value is never read
