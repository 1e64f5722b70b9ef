"""The pack as a real plugin process over the analyzer gRPC protocol (see grpc_pack.py for how it is started),
compared with `resilient-stack audit` on the same resources: same verdict, same mandatory rule ids."""

import copy

import grpc
import pytest

from resilient_policies.config import SCHEMA_PROPERTIES, pack_config
from resilient_policies.secrecy import PROBE_NAME
from resilient_policies.security import GROUP_RULES
from resilient_stack.core.policy import PolicyConfig
from resilient_stack.core.rules import (
    PLACEMENT_RULE_IDS,
    RULE_IDS,
    SECURITY_RULE_IDS,
    default_level,
)
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from tests import builders as b
from tests.conftest import ROOT, need_tool
from tests.policies import support as s
from tests.policies.grpc_pack import PackError, PackProcess, pack_interpreter

SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22}
PLAIN_UD = "#!/bin/sh\nexport PGPASSWORD=hunter2hunter2\n"


@pytest.fixture(scope="module")
def pack():
    need_tool(pack_interpreter().exists(), f"the pack's virtualenv {pack_interpreter()} (make venv)")
    proc = PackProcess()
    try:
        yield proc
    finally:
        proc.close()  # always: the plugin never exits by itself
        assert proc.proc.poll() is not None


def check(pack, doc, tmp_path, config=None, audit_args=(), secrets="redact"):
    diags = pack.run(s.engine_resources(doc, secrets), config)
    report = s.audit(doc, tmp_path, *audit_args)
    s.assert_agree(diags, report)
    return diags, report


def test_plugin_protocol_handshake_info_and_levels(pack):
    assert pack.handshake() == grpc.StatusCode.UNIMPLEMENTED  # the engine falls back, as for every Python pack
    pack.configure_stack()
    info, policies = pack.info()
    assert info.name == "resilient-stack" and info.supportsConfig
    assert list(policies) == [*RULE_IDS, "exempted-findings", PROBE_NAME]
    for rule in RULE_IDS:
        assert policies[rule].level == default_level(rule)
        assert set(policies[rule].schema) == set(SCHEMA_PROPERTIES)
        assert policies[rule].kind == ("stack" if rule in PLACEMENT_RULE_IDS or rule in GROUP_RULES else "resource")
    assert policies["single-provider"].level == "advisory"
    assert policies[PROBE_NAME].level == "remediate" and policies[PROBE_NAME].kind == "resource"


def test_spread_passes_and_strasbourg_fails_like_the_auditor(pack, tmp_path):
    diags, report = check(pack, b.spread_export().doc(), tmp_path)
    assert report["verdict"] == "pass" and diags == []
    diags, report = check(pack, b.strasbourg_export().doc(), tmp_path)
    assert report["verdict"] == "fail"
    assert s.mandatory_rules(diags) == {"single-site", "backup-colocated", "site-majority"}
    site = [d for d in diags if d.policy == "single-site"]
    assert all(d.urn.endswith("pulumi:pulumi:Stack::shop-dev") for d in site)
    assert any(
        "all 2 `web` replicas are in site Strasbourg campus" in d.message
        and "add a placement in another site, e.g. GRA11 or WAW1" in d.message
        for d in site
    )
    backup = next(d for d in diags if d.policy == "backup-colocated")
    assert backup.urn == b.urn(b.CONTAINER, "backups")
    assert {d.level for d in diags if d.policy == "single-provider"} == {"advisory"}


def test_strict_profile_through_pack_config_and_pulumi_all(pack, tmp_path):
    doc = b.strasbourg_export().doc()
    diags, _ = check(pack, doc, tmp_path, pack_config(PolicyConfig(profile="strict")), ("--profile", "strict"))
    assert "single-provider" in s.mandatory_rules(diags)
    diags, _ = check(pack, doc, tmp_path, {"all": "mandatory"}, ("--profile", "strict"))
    assert "single-provider" in s.mandatory_rules(diags)


def test_settings_thresholds_and_disabling_agree_with_audit_config(pack, tmp_path):
    cfg = PolicyConfig(min_sites=4, levels={"site-majority": "disabled"})
    cfg_file = tmp_path / "org.yaml"
    cfg_file.write_text("min_sites: 4\nlevels: {site-majority: disabled}\n")
    diags, report = check(pack, b.spread_export().doc(), tmp_path, pack_config(cfg), ("--config", str(cfg_file)))
    assert s.mandatory_rules(diags) == {"single-site"}
    diags, _ = check(pack, b.strasbourg_export().doc(), tmp_path, pack_config(cfg), ("--config", str(cfg_file)))
    assert "site-majority" not in {d.policy for d in diags}


def test_invalid_config_stops_the_analysis(pack):
    with pytest.raises(PackError, match="min_sites"):
        pack.configure({"single-site": {"min_sites": "many"}})  # the CLI's own schema check
    pack.configure({"single-site": {"catalog": {"providers": [{"id": "Not An Id"}]}}})
    with pytest.raises(grpc.RpcError) as exc:
        pack.analyze_stack(s.engine_resources(b.spread_export().doc()))
    assert "config of policy 'single-site'" in exc.value.details() and "catalog.providers.0.id" in exc.value.details()
    pack.configure({})


def test_security_rules_agree_with_the_auditor_and_see_secrets(pack, tmp_path):
    e = b.spread_export()
    gra = e.resources[1]["urn"] + "::" + e.resources[1]["id"]
    e.resource(s.SECGROUP_RULE, "ssh-world", gra, **{**SSH, "remoteIpPrefix": "0.0.0.0/0"})
    e.resource(s.SECGROUP_RULE, "pg-world", gra, **{**SSH, "portRangeMin": 5432, "portRangeMax": 5432})
    e.resource(s.SECGROUP_RULE, "ssh-admin", gra, **{**SSH, "remoteIpPrefix": "198.51.100.0/24"})
    e.resource(b.INSTANCE, "db-x", gra, role="database", userData=PLAIN_UD)
    e.resource(
        b.INSTANCE,
        "db-y",
        gra,
        role="database",
        userData={SECRET_SIG: s.SECRET_VALUE_SIG, "plaintext": '"export PGPASSWORD=hunter2hunter2"'},
    )
    doc = e.doc()
    for secrets in ("redact", "envelope"):  # `policy analyze` without and with the secrets' key
        diags, report = check(pack, doc, tmp_path, secrets=secrets)
        assert s.mandatory_rules(diags) == {
            "ssh-open-to-world",
            "database-open-to-world",
            "plaintext-secret-in-user-data",
        }
        assert {d.urn.rsplit("::", 1)[1] for d in diags if d.policy in SECURITY_RULE_IDS} == {
            "ssh-world",
            "pg-world",
            "db-x",
        }
    # without its remediation pass the pack cannot see that db-y's user data is a secret, and says so (a pack
    # process serves one command, whose config is fixed: a fresh one, without the records of the runs above)
    fresh = PackProcess()
    try:
        diags = fresh.run(s.engine_resources(doc, "envelope"), {"all": "mandatory"})
    finally:
        fresh.close()
    flagged = {d.urn.rsplit("::", 1)[1]: d.message for d in diags if d.policy == "plaintext-secret-in-user-data"}
    assert set(flagged) == {"db-x", "db-y"} and PROBE_NAME in flagged["db-y"]
    diags = pack.run(s.engine_resources(doc, "envelope"), {"all": "mandatory", PROBE_NAME: "remediate"})
    assert {d.urn.rsplit("::", 1)[1] for d in diags if d.policy == "plaintext-secret-in-user-data"} == {"db-x"}


def _preview_resources():
    """What the engine sends during `pulumi preview` of a new stack: unknown outputs, the default provider."""
    default = {
        "urn": b.urn(s.OPENSTACK, "default_5_4_1"),
        "type": s.OPENSTACK,
        "name": "default_5_4_1",
        "props": {"region": "GRA11", "authUrl": b.OVH_AUTH, "version": "5.4.1"},
    }
    waw = {
        "urn": b.urn(s.OPENSTACK, "waw"),
        "type": s.OPENSTACK,
        "name": "waw",
        "props": {"region": "WAW1", "authUrl": b.OVH_AUTH},
    }
    stack = {
        "urn": b.urn("pulumi:pulumi:Stack", "shop-dev"),
        "type": "pulumi:pulumi:Stack",
        "name": "shop-dev",
        "inputs": {},
        "outputs": {},
        "provider": None,
    }

    def instance(name, prov, role="web", **extra):
        inputs = {"flavorName": "b3-8", "metadata": {"resilient-stack:role": role}, **extra}
        outputs = {
            **inputs,
            "id": UNKNOWN,
            "region": UNKNOWN,
            "availabilityZone": UNKNOWN,
            "accessIpV4": UNKNOWN,
            "allMetadata": UNKNOWN,
            "userData": UNKNOWN if "userData" in extra else None,
        }
        return {
            "urn": b.urn(b.INSTANCE, name),
            "type": b.INSTANCE,
            "name": name,
            "inputs": inputs,
            "outputs": outputs,
            "provider": prov,
            "parent": stack["urn"],
            "propertyDependencies": {},
        }

    secret_ud = {SECRET_SIG: s.SECRET_VALUE_SIG, "value": "#cloud-config\npassword: hunter2hunter2\n"}
    rule = {
        "urn": b.urn(s.SECGROUP_RULE, "ssh-bastion"),
        "type": s.SECGROUP_RULE,
        "name": "ssh-bastion",
        "inputs": {**SSH, "remoteGroupId": UNKNOWN, "securityGroupId": UNKNOWN},
        "outputs": {**SSH, "remoteGroupId": UNKNOWN, "securityGroupId": UNKNOWN, "id": UNKNOWN},
        "provider": waw,
        "propertyDependencies": {"remoteGroupId": [b.urn("x:y:Z", "g")]},
    }
    return [
        stack,
        instance("web-1", default),
        instance("web-2", waw),
        instance("db-1", default, "database", userData=secret_ud),
        instance("db-2", waw, "database"),
        rule,
    ]


def test_preview_unknowns_are_never_read_and_the_default_provider_places(pack):
    resources = _preview_resources()
    diags = pack.run(resources)
    assert not [d for d in diags if "can't run policy" in d.message], diags  # no downgrade to advisory
    assert s.mandatory_rules(diags) == set(), diags
    assert {d.policy for d in diags} == {"single-provider"}  # all OVHcloud: advisory by default
    # a region taken from another resource's output is really unknown: fails closed, on that resource
    derived = copy.deepcopy(resources)
    derived[2]["inputs"]["region"] = UNKNOWN
    derived[2]["propertyDependencies"] = {"region": [b.urn("openstack:networking/network:Network", "net")]}
    diags = pack.run(derived)
    unknown = [d for d in diags if d.policy == "unknown-placement"]
    assert [d.level for d in unknown] == ["mandatory"] and unknown[0].urn == derived[2]["urn"]
    assert "region is unknown until the resource is created" in unknown[0].message
    assert not [d for d in diags if "can't run policy" in d.message]


def test_never_crashes_on_unknown_types_and_shapes(pack):
    odd = [
        {
            "urn": b.urn("acme:index/thing:Thing", "t"),
            "type": "acme:index/thing:Thing",
            "name": "t",
            "inputs": {"a": [UNKNOWN, {"b": None}], "tags": ["resilient-stack:role=web"]},
            "outputs": {"x": 1.5},
            "provider": {
                "urn": b.urn("pulumi:providers:acme", "p"),
                "type": "pulumi:providers:acme",
                "name": "p",
                "props": {},
            },
        },
        {
            "urn": b.urn(b.INSTANCE, "i"),
            "type": b.INSTANCE,
            "name": "i",
            "inputs": {"userData": ["not", "text"], "metadata": UNKNOWN},
            "outputs": {"region": {"deep": UNKNOWN}},
            "provider": None,
        },
        {
            "urn": b.urn(s.SECGROUP_RULE, "r"),
            "type": s.SECGROUP_RULE,
            "name": "r",
            "inputs": {"direction": 7, "portRangeMin": "x", "remoteIpPrefix": ["0.0.0.0/0"]},
            "outputs": {},
            "provider": None,
        },
    ]
    diags = pack.run(odd)
    assert not [d for d in diags if "can't run policy" in d.message]
    assert {d.policy for d in diags} <= {
        "unknown-placement",
        "single-building",
        "single-site",
        "single-provider",
        "unknown-security-rule",
    }  # the odd rule may open SSH: fails closed


def test_shipped_production_stack_passes_like_the_auditor(pack, tmp_path):
    mockrun = pytest.importorskip("resilient_stack.testing.mockrun")
    doc = mockrun.to_stack_export(mockrun.run_program(ROOT / "stacks" / "Pulumi.production.yaml"))
    for secrets in ("redact", "envelope"):
        diags, report = check(pack, doc, tmp_path, secrets=secrets)
        assert report["verdict"] == "pass" and s.mandatory_rules(diags) == set()
    placed = {p["role"] for p in report["placements"]}
    assert {"web", "database"} <= placed  # the stack really has replicas: a pass means something


def test_handmade_strasbourg_resources_fail_like_the_auditor(pack, tmp_path):
    """The 2021 replay as the program would build it on one campus, with a public SSH rule on top."""
    e = b.Export()
    s5 = e.provider("sbg5", region="SBG5")
    s7 = e.provider("sbg7", region="SBG7")
    for i, p in enumerate((s5, s7, s5)):
        e.resource(b.INSTANCE, f"web-{i}", p, role="web")
        e.resource(b.INSTANCE, f"db-{i}", p, role="database", quorum=True)
    e.resource(b.CONTAINER, "backups", s7, role="backup", protects="database")
    e.resource(s.SECGROUP_RULE, "ssh", s5, **{**SSH, "remoteIpPrefix": "0.0.0.0/0"})
    diags, report = check(pack, e.doc(), tmp_path)
    assert report["verdict"] == "fail"
    assert s.mandatory_rules(diags) == {"single-site", "backup-colocated", "site-majority", "ssh-open-to-world"}
