"""policies/resilient_policies/placement.py: each stack policy called with hand-built StackValidationArgs."""

import pytest
from pulumi_policy import PolicyResource
from pulumi_policy.secret import Secret, secrets_preserving_proxy

from resilient_policies import placement
from resilient_policies.placement import PLACEMENT_POLICIES
from resilient_stack.audit.inputs import read_stack_export
from resilient_stack.core.catalog import load_catalog
from resilient_stack.core.rules import evaluate
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from tests import builders as b
from tests.policies import support as s

POLICY = {p.name: p for p in PLACEMENT_POLICIES}
OVH = b.OVH_AUTH


def run(resources, config=None, only=None):
    """{policy name: Violations} for every placement policy (or ``only`` one) on one stack."""
    args = s.stack_args(resources, config)
    out = {}
    for p in PLACEMENT_POLICIES:
        if only and p.name != only:
            continue
        v = s.Violations()
        p.validate(args, v)
        out[p.name] = v
    return out


def fired(result):
    return {name for name, v in result.items() if v.seen}


def spread():
    gra = s.provider("gra", region="GRA11", authUrl=OVH, tenantId=b.SHOP_PROJECT)
    waw = s.provider("waw", region="WAW1", authUrl=OVH, tenantId=b.SHOP_PROJECT)
    ik = s.provider("ik", region="dc4-a", authUrl=b.INFOMANIAK_AUTH)
    lim = s.provider("lim", region="DE1", authUrl=OVH, tenantId=b.BACKUP_PROJECT)  # a project of its own
    res = [s.resource("pulumi:pulumi:Stack", "shop-dev")]
    for prov, n in ((gra, "gra"), (waw, "waw"), (ik, "ik")):
        res.append(s.replica(f"web-{n}", prov, "web"))
        res.append(s.replica(f"db-{n}", prov, "database", labels={"resilient-stack:quorum": "true"}))
    res.append(s.replica("backups", lim, "backup", typ=b.CONTAINER, labels={"resilient-stack:protects": "database"}))
    return res


def strasbourg():
    s5, s7 = s.provider("sbg5", region="SBG5", cloud="ovh"), s.provider("sbg7", region="SBG7", cloud="ovh")
    return [
        s.replica("web-1", s5),
        s.replica("web-2", s7),
        s.replica("db-1", s5, "database", labels={"resilient-stack:quorum": "true"}),
        s.replica("db-2", s7, "database", labels={"resilient-stack:quorum": "true"}),
        s.replica("backups", s5, "backup", typ=b.CONTAINER, labels={"resilient-stack:protects": "database"}),
    ]


def test_spread_stack_passes_every_placement_policy():
    assert fired(run(spread())) == set()


def test_strasbourg_fails_with_the_rules_messages():
    result = run(strasbourg())
    assert fired(result) == {
        "single-site",
        "single-provider",
        "backup-colocated",
        "backup-shares-project",
        "site-majority",
    }
    (shared,) = result["backup-shares-project"].seen  # one backup named: on its resource
    assert shared[1].endswith("::backups") and shared[0].startswith(
        "the only backup of `database` is in a project that also holds `database` replicas: backups (SBG5) is in "
        "clouds.yaml entry `ovh`, which also holds db-1 (SBG5), db-2 (SBG7)"
    )
    site = result["single-site"].seen
    assert len(site) == 2 and all(urn is None for _, urn in site)  # a finding about a role: on the stack
    web = next(m for m, _ in site if "`web`" in m)
    assert web.startswith("all 2 `web` replicas are in site Strasbourg campus")
    assert "(SBG5, SBG7); add a placement in another site, e.g. GRA11 or WAW1" in web
    assert web.endswith("[resources: web-1, web-2]")
    # the same text as the rules module writes for the auditor
    export = b.strasbourg_export().doc()
    report = evaluate(read_stack_export(export, "x", load_catalog()).placements, catalog=load_catalog())
    assert {f.message for f in report.findings if f.rule == "single-site"} == {
        m.split(" [resources:")[0] for m in s.Violations(site).messages
    }


def test_single_building_when_two_replicas_share_a_region():
    gra = s.provider("gra", region="GRA11", authUrl=OVH)
    result = run([s.replica("w1", gra), s.replica("w2", gra)], {"min_sites": 1, "min_providers": 1})
    assert fired(result) == {"single-building"}
    assert "building GRA11" in result["single-building"].messages[0]


@pytest.mark.parametrize(
    "case, problem",
    [
        ("derived-region", "region is unknown until the resource is created"),
        ("secret-region", "region is a secret"),
        ("redacted-region", "region is a redacted secret"),
        ("provider-region-unknown", "provider region is unknown"),
        ("no-provider", "records no provider"),
        ("random-provider", "pulumi:providers:random provider"),
        ("default-provider-without-region", "OS_REGION_NAME"),
        ("unknown-region-name", "GRA99"),
    ],
)
def test_unknown_placement_fails_closed_on_that_resource(case, problem):
    gra = s.provider("gra", region="GRA11", authUrl=OVH)
    w = {
        "derived-region": lambda: s.replica("w", gra, region=UNKNOWN, deps={"region": []}),
        # a secret the SDK kept marked (its remediation form): never read
        "secret-region": lambda: PolicyResource(
            b.INSTANCE,
            secrets_preserving_proxy({"region": Secret("GRA11"), "metadata": {"resilient-stack:role": "web"}}),
            b.urn(b.INSTANCE, "w"),
            "w",
            s.options(),
            gra,
            None,
            [],
            {},
        ),
        "redacted-region": lambda: s.replica("w", gra, region="[secret]"),
        "provider-region-unknown": lambda: s.replica("w", s.provider("p", region=UNKNOWN, authUrl=OVH)),
        "no-provider": lambda: s.replica("w", None, typ="acme:index:Server"),
        "random-provider": lambda: s.replica("w", s.provider("r", typ="pulumi:providers:random")),
        "default-provider-without-region": lambda: s.replica("w", s.provider("default_5_4_1", authUrl=OVH)),
        "unknown-region-name": lambda: s.replica("w", gra, region="GRA99"),
    }[case]()
    if case == "no-provider":
        # a labelled resource of another provider without a provider: a component, never placed
        assert fired(run([w])) == set()
        return
    result = run([w, s.replica("w2", gra)])
    assert result["unknown-placement"].seen, result
    message, urn = result["unknown-placement"].seen[0]
    assert urn == w.urn and problem in message


def test_secret_unwrapped_by_the_sdk_is_read_like_any_value():
    """The SDK hands validations secrets in clear: a secret provider region is simply known here."""
    prov = s.provider("gra", region={SECRET_SIG: s.SECRET_VALUE_SIG, "value": "GRA11"}, authUrl=OVH)
    waw = s.provider("waw", region="WAW1", authUrl=OVH)
    assert fired(run([s.replica("a", prov), s.replica("b", waw)], {"min_providers": 1})) == set()


def test_default_provider_with_region_from_stack_config_and_computed_outputs():
    """At preview the engine gives the default provider its config, and instance outputs are unknown."""
    default = s.provider("default_5_4_1", region="GRA11", authUrl=OVH, version="5.4.1")
    waw = s.provider("waw", region="WAW1", authUrl=OVH)
    res = [
        s.replica("w1", default, region=UNKNOWN, availabilityZone=UNKNOWN, allMetadata=UNKNOWN, id=UNKNOWN),
        s.replica("w2", waw, region=UNKNOWN, accessIpV4=UNKNOWN),
    ]
    assert fired(run(res, {"min_providers": 1})) == set()


def test_unknown_types_and_shapes_never_crash_and_never_raise_unknown():
    gra = s.provider("gra", region="GRA11", authUrl=OVH)
    weird = [
        s.resource("pulumi:pulumi:Stack", "st", {"outputs": UNKNOWN}),
        s.resource(
            "random:index/randomPassword:RandomPassword",
            "pw",
            {"result": UNKNOWN},
            s.provider("r", typ="pulumi:providers:random"),
        ),
        s.resource(b.INSTANCE, "odd", {"metadata": UNKNOWN, "region": 42, "tags": [UNKNOWN, 3, None]}, gra),
        s.resource(b.CONTAINER, "odd2", {"metadata": [{"x": UNKNOWN}], "region": ["GRA11"]}, gra),
        s.resource("openstack:blockstorage/volume:Volume", "v", None, gra),
        s.resource("x", "no-colons", {"a": {"b": {"c": [UNKNOWN]}}}),
        s.resource(s.OPENSTACK, "gra", {"region": "GRA11"}),
    ]
    result = run(weird)
    assert "unknown-placement" in fired(result)
    problems = " ".join(result["unknown-placement"].messages)
    assert "region is a int" in problems and "region is a list" in problems


ALLOW_LAB = {"exemptions": [{"reason": "lab, RISK-12", "owner": "platform", "expires": "2999-12-31"}]}


def test_exempt_replicas_are_waived_only_when_the_settings_allow_it_and_reported_as_advisory():
    from resilient_policies.exemptions import exempted_findings

    gra = s.provider("gra", region="GRA11", authUrl=OVH)
    res = [s.replica(f"w{i}", gra, labels={"resilient-stack:exempt": "lab, RISK-12"}) for i in range(2)]
    assert fired(run(res)) == {"single-building", "single-site", "single-provider"}  # a label alone waives nothing
    assert fired(run(res, ALLOW_LAB)) == set()
    v = s.Violations()
    exempted_findings.validate(s.stack_args(res, ALLOW_LAB), v)
    assert sorted(m.split("] ")[0] for m in v.messages) == [
        "exempted (lab, RISK-12; owner platform, until 2999-12-31): [single-building",
        "exempted (lab, RISK-12; owner platform, until 2999-12-31): [single-provider",
        "exempted (lab, RISK-12; owner platform, until 2999-12-31): [single-site",
    ]
    expired = {"exemptions": [{**ALLOW_LAB["exemptions"][0], "expires": "2020-01-01"}]}
    assert fired(run(res, expired)) == {"single-building", "single-site", "single-provider"}
    scoped = {"exemptions": [{**ALLOW_LAB["exemptions"][0], "rules": ["single-provider"]}]}
    assert fired(run(res, scoped)) == {"single-building", "single-site"}


def test_settings_thresholds_quorum_catalog_and_disabling():
    res = spread()
    assert fired(run(res, {"min_sites": 3})) == set()
    assert fired(run(res, {"min_sites": 4}, only="single-site")) == {"single-site"}
    assert fired(run(res, {"levels": {"single-site": "disabled"}, "min_sites": 4}, only="single-site")) == set()
    assert fired(run(res, {"profile": "strict", "min_providers": 3}, only="single-provider")) == {"single-provider"}
    # quorum_roles: two web replicas on one site of three are a majority there
    gra = s.provider("gra", region="GRA11", authUrl=OVH)
    waw = s.provider("waw", region="WAW1", authUrl=OVH)
    q = [s.replica("a", gra), s.replica("b", gra), s.replica("c", waw)]
    assert fired(run(q, only="site-majority")) == set()
    assert fired(run(q, {"quorum_roles": ["web"]}, only="site-majority")) == {"site-majority"}
    # an extra catalog entry makes a private cloud placeable
    acme = s.provider("acme", region="LYO1", cloud="acme")
    cat = {
        "providers": [
            {
                "id": "acme",
                "clouds": ["acme"],
                "sites": [{"id": "acme-lyon", "name": "Lyon"}],
                "regions": [{"name": "LYO1", "site": "acme-lyon"}],
            }
        ]
    }
    two = [s.replica("x", acme), s.replica("y", waw)]
    assert "unknown-placement" in fired(run(two))
    assert fired(run(two, {"catalog": cat})) == set()


def test_rules_are_evaluated_once_per_stack():
    before = placement.evaluations
    # the servicer builds new args (and new resource objects) for each policy
    for p in PLACEMENT_POLICIES:
        p.validate(s.stack_args(strasbourg()), s.Violations())
    assert placement.evaluations == before + 1
    args = s.stack_args(spread())
    for p in PLACEMENT_POLICIES:
        p.validate(args, s.Violations())
        p.validate(args, s.Violations())
    assert placement.evaluations == before + 2
    # other settings are another evaluation
    POLICY["single-site"].validate(s.stack_args(spread(), {"min_sites": 3}), s.Violations())
    assert placement.evaluations == before + 3


def test_bad_config_stops_the_analysis_with_one_clear_error():
    from resilient_policies.config import PolicyConfigError

    with pytest.raises(PolicyConfigError, match="config of policy 'single-site'"):
        POLICY["single-site"].validate(s.stack_args(spread(), {"min_sites": "many"}), s.Violations())


def test_in_process_pack_agrees_with_the_auditor(tmp_path):
    for doc in (b.spread_export().doc(), b.strasbourg_export().doc()):
        s.assert_agree(s.run_in_process(doc), s.audit(doc, tmp_path))
    strict = {"all": "mandatory"}
    doc = b.strasbourg_export().doc()
    diags = s.run_in_process(doc, strict)
    assert "single-provider" in s.mandatory_rules(diags)
    s.assert_agree(diags, s.audit(doc, tmp_path, "--profile", "strict"))
