"""policies/resilient_policies/security.py: resource policies called with hand-built ResourceValidationArgs."""

import pytest
from pulumi_policy import EnforcementLevel
from resilient_policies.security import SECURITY_POLICIES

from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from tests import builders as b
from tests.policies import support as s

POLICY = {p.name: p for p in SECURITY_POLICIES}
RULE = s.SECGROUP_RULE
SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22}
PLAIN_UD = "#cloud-config\nwrite_files:\n- path: /root/.env\n  content: |\n    PGPASSWORD=hunter2hunter2\n"


def check(name, typ, props, config=None, provider=True):
    v = s.Violations()
    POLICY[name].validate(s.resource_args(typ, "r", props, s.provider() if provider else None, config), v)
    return v


@pytest.mark.parametrize("props, fires", [
    ({**SSH, "remoteIpPrefix": "0.0.0.0/0"}, True),
    ({**SSH, "remoteIpPrefix": "::/0", "ethertype": "IPv6"}, True),
    ({**SSH}, True),  # no remote at all: every address
    ({**SSH, "portRangeMin": 1, "portRangeMax": 1024, "remoteIpPrefix": "0.0.0.0/0"}, True),
    ({"direction": "ingress", "ethertype": "IPv4"}, True),  # any protocol, any port
    ({**SSH, "portRangeMin": 22.0, "portRangeMax": 22.0, "remoteIpPrefix": "0.0.0.0/0"}, True),  # protobuf numbers
    ({**SSH, "remoteIpPrefix": "198.51.100.0/24"}, False),
    ({**SSH, "remoteGroupId": UNKNOWN}, False),  # a group created in the same run: still a group
    ({**SSH, "remoteIpPrefix": UNKNOWN}, False),  # unknowable at preview: not judged
    ({**SSH, "remoteIpPrefix": "[secret]"}, False),
    ({**SSH, "direction": "egress", "remoteIpPrefix": "0.0.0.0/0"}, False),
    ({**SSH, "protocol": "udp", "remoteIpPrefix": "0.0.0.0/0"}, False),
    ({**SSH, "portRangeMin": 80, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0"}, False),
    ({**SSH, "portRangeMin": UNKNOWN, "remoteIpPrefix": "0.0.0.0/0"}, False),
    ({**SSH, "remoteIpPrefix": "not-a-cidr"}, False),
    ({**SSH, "description": "resilient-stack:exempt=public bastion, RISK-7", "remoteIpPrefix": "0.0.0.0/0"}, False),
])
def test_ssh_open_to_world(props, fires):
    v = check("ssh-open-to-world", RULE, props)
    assert bool(v.seen) is fires, v.seen
    if fires:
        assert "restrict remoteIpPrefix" in v.messages[0] and v.seen[0][1] is None


@pytest.mark.parametrize("port, fires", [(5432, True), (3306, True), (22, False), (6432, False)])
def test_database_open_to_world(port, fires):
    v = check("database-open-to-world", RULE, {**SSH, "portRangeMin": port, "portRangeMax": port, "remoteIpPrefix": "0.0.0.0/0"})
    assert bool(v.seen) is fires
    if fires:
        assert f"TCP {port}" in v.messages[0] and "remoteGroupId" in v.messages[0]


def test_user_data_plaintext_and_not():
    assert check("plaintext-secret-in-user-data", b.INSTANCE, {"userData": PLAIN_UD}).seen
    for quiet in (UNKNOWN, "[secret]", None, "#cloud-config\npackages: [nginx]\n", 42, ["x"]):
        assert not check("plaintext-secret-in-user-data", b.INSTANCE, {"userData": quiet}).seen, quiet
    exempt = {"userData": PLAIN_UD, "metadata": {"resilient-stack:exempt": "throwaway lab"}}
    assert not check("plaintext-secret-in-user-data", b.INSTANCE, exempt).seen


def test_only_its_own_types_and_never_a_crash():
    for name in POLICY:
        for typ, props in ((b.NETWORK, {**SSH, "userData": PLAIN_UD}), ("x", None), (RULE, {"direction": UNKNOWN}),
                           (b.INSTANCE, {"userData": {"nested": [UNKNOWN]}}), (RULE, {"portRangeMin": "abc"})):
            v = check(name, typ, props, provider=False)
            assert not v.seen or (name == "ssh-open-to-world" and typ == RULE), (name, typ, v.seen)


def test_disabled_by_settings_and_levels():
    assert not check("ssh-open-to-world", RULE, dict(SSH), {"levels": {"ssh-open-to-world": "disabled"}}).seen
    for p in SECURITY_POLICIES:
        assert p.enforcement_level == EnforcementLevel.MANDATORY


def test_in_process_pack_agrees_with_the_auditor_on_security(tmp_path):
    e = b.spread_export()
    gra = e.resources[1]["urn"] + "::" + e.resources[1]["id"]
    e.resource(RULE, "ssh-world", gra, **{**SSH, "remoteIpPrefix": "0.0.0.0/0"})
    e.resource(RULE, "pg-office", gra, **{**SSH, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "198.51.100.0/24"})
    e.resource(b.INSTANCE, "db-x", gra, role="database", userData=PLAIN_UD)
    secret_ud = {SECRET_SIG: s.SECRET_VALUE_SIG, "plaintext": '"PGPASSWORD=hunter2hunter2"'}
    e.resource(b.INSTANCE, "db-y", gra, role="database", userData=secret_ud)
    doc = e.doc()
    report = s.audit(doc, tmp_path)
    assert audit_rules(report) == {"ssh-open-to-world", "plaintext-secret-in-user-data"}
    for secrets in ("redact", "envelope"):  # secrets the CLI cannot decrypt, and secrets it can
        diags = s.run_in_process(doc, secrets=secrets)
        s.assert_agree(diags, report)
        assert {d.urn.rsplit("::", 1)[1] for d in diags if d.policy == "plaintext-secret-in-user-data"} == {"db-x"}


def audit_rules(report):
    return {f["rule"] for f in report["findings"]}
