"""policies/resilient_policies/security.py: the security group rules as stack policies (the union of a group's
rules), the per-resource rules as resource policies, called with hand-built SDK arguments."""

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from resilient_policies import secrecy
from resilient_policies.security import GROUP_RULES, SECURITY_POLICIES
from resilient_stack.core.vocabulary import SECRET_SIG, UNKNOWN
from tests import builders as b
from tests.policies import support as s

POLICY = {p.name: p for p in SECURITY_POLICIES}
RULE = s.SECGROUP_RULE
PORT = "openstack:networking/port:Port"
SSH = {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "portRangeMin": 22, "portRangeMax": 22}
ALLOW = {
    "exemptions": [
        {"reason": r, "owner": "sec", "expires": "2999-01-01"}
        for r in ("public bastion, RISK-7", "VRRP appliance", "throwaway lab")
    ]
}
PLAIN_UD = "#cloud-config\nwrite_files:\n- path: /root/.env\n  content: |\n    PGPASSWORD=hunter2hunter2\n"


def check(name, typ, props, config=None, provider=True):
    v = s.Violations()
    POLICY[name].validate(s.resource_args(typ, "r", props, s.provider() if provider else None, config), v)
    return v


def check_rules(name, *rules, config=None, deps=None):
    """The stack policy ``name`` on security group rules (outputs, as a stack policy sees them)."""
    v = s.Violations()
    resources = [
        s.resource(RULE, f"r{i}", props, s.provider(), deps=(deps or {}).get(i)) for i, props in enumerate(rules)
    ]
    POLICY[name].validate(s.stack_args(resources, config), v)
    return v


def test_layout_group_rules_are_stack_policies():
    for p in SECURITY_POLICIES:
        assert isinstance(p, StackValidationPolicy if p.name in GROUP_RULES else ResourceValidationPolicy), p.name
        want = EnforcementLevel.ADVISORY if p.name == "unknown-preview-security-rule" else EnforcementLevel.MANDATORY
        assert p.enforcement_level == want


@pytest.mark.parametrize(
    "props, fires",
    [
        ({**SSH, "remoteIpPrefix": "0.0.0.0/0"}, True),
        ({**SSH, "remoteIpPrefix": "::/0", "ethertype": "IPv6"}, True),
        ({**SSH}, True),  # no remote at all: every address
        ({**SSH, "portRangeMin": 1, "portRangeMax": 1024, "remoteIpPrefix": "0.0.0.0/0"}, True),
        ({"direction": "ingress", "ethertype": "IPv4"}, True),  # any protocol, any port
        ({**SSH, "portRangeMin": 22.0, "portRangeMax": 22.0, "remoteIpPrefix": "0.0.0.0/0"}, True),  # protobuf numbers
        ({**SSH, "remoteIpPrefix": "0.0.0.0/4"}, True),  # 16 /8s
        ({**SSH, "remoteIpPrefix": "198.51.100.0/24"}, False),
        ({**SSH, "remoteIpPrefix": "11.0.0.0/8"}, False),  # a /8 is not more than a /8
        ({**SSH, "remoteGroupId": "sg-bastion"}, False),
        ({**SSH, "direction": "egress", "remoteIpPrefix": "0.0.0.0/0"}, False),
        ({**SSH, "protocol": "udp", "remoteIpPrefix": "0.0.0.0/0"}, False),
        ({**SSH, "portRangeMin": 80, "portRangeMax": 443, "remoteIpPrefix": "0.0.0.0/0"}, False),
        ({**SSH, "description": "resilient-stack:exempt=public bastion, RISK-7", "remoteIpPrefix": "0.0.0.0/0"}, False),
    ],
)
def test_ssh_open_to_world(props, fires):
    v = check_rules("ssh-open-to-world", props, config=ALLOW)
    assert bool(v.seen) is fires, v.seen
    if fires:
        assert "restrict remoteIpPrefix" in v.messages[0] and v.seen[0][1] == b.urn(RULE, "r0")


def test_the_union_of_a_groups_rules_is_judged():
    halves = (
        {**SSH, "remoteIpPrefix": "0.0.0.0/1", "securityGroupId": "sg-1"},
        {**SSH, "remoteIpPrefix": "128.0.0.0/1", "securityGroupId": "sg-1"},
    )
    v = check_rules("ssh-open-to-world", *halves)
    assert len(v.seen) == 1 and v.seen[0][1] is None  # on the stack: it names both rules
    assert "`r0`" in v.messages[0] and "`r1`" in v.messages[0] and "0.0.0.0/1, 128.0.0.0/1" in v.messages[0]
    assert len(check_rules("ssh-open-to-world", halves[0], {**halves[1], "securityGroupId": "sg-2"}).seen) == 2
    two_slash_8 = (
        {**SSH, "remoteIpPrefix": "11.0.0.0/8", "securityGroupId": "sg-1"},
        {**SSH, "remoteIpPrefix": "12.0.0.0/8", "securityGroupId": "sg-1"},
    )
    assert len(check_rules("ssh-open-to-world", *two_slash_8).seen) == 1  # together: more than a /8
    assert not check_rules("ssh-open-to-world", two_slash_8[0], {**two_slash_8[1], "securityGroupId": "sg-2"}).seen
    private = [
        {**SSH, "remoteIpPrefix": n, "securityGroupId": "sg-1"}
        for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10")
    ]
    assert not check_rules("ssh-open-to-world", *private).seen  # no public address at all
    sixteen = [{**SSH, "remoteIpPrefix": f"{16 * i}.0.0.0/4", "securityGroupId": "sg-1"} for i in range(1, 3)]
    assert check_rules("ssh-open-to-world", *sixteen).seen
    # a group created in the same run (its id unknown at preview): grouped by the resource it comes from
    g = b.urn("openstack:networking/secGroup:SecGroup", "web")
    at_preview = [{**h, "securityGroupId": UNKNOWN} for h in two_slash_8]
    assert check_rules(
        "ssh-open-to-world", *at_preview, deps={0: {"securityGroupId": [g]}, 1: {"securityGroupId": [g]}}
    ).seen


@pytest.mark.parametrize(
    "props, deps, rule",
    [
        # the program's input, taken from a resource not created yet: decided once known (advisory at preview)
        ({**SSH, "remoteIpPrefix": UNKNOWN}, {"remoteIpPrefix": []}, "unknown-preview-security-rule"),
        (
            {**SSH, "portRangeMin": UNKNOWN, "portRangeMax": UNKNOWN, "remoteIpPrefix": "0.0.0.0/0"},
            {"portRangeMin": [], "portRangeMax": []},
            "unknown-preview-security-rule",
        ),
        # never readable: fails closed
        ({**SSH, "remoteIpPrefix": "not-a-cidr"}, None, "unknown-security-rule"),
        ({**SSH, "protocol": "[secret]", "remoteIpPrefix": "0.0.0.0/0"}, None, "unknown-security-rule"),
    ],
)
def test_unknown_values_that_may_open_a_port(props, deps, rule):
    v = check_rules(rule, props, deps={0: deps} if deps else None)
    assert len(v.seen) == 1 and "cannot tell whether SSH or a database port is open" in v.messages[0], v.seen
    other = ({"unknown-security-rule", "unknown-preview-security-rule"} - {rule}).pop()
    assert not check_rules(other, props, deps={0: deps} if deps else None).seen
    assert not check_rules("ssh-open-to-world", props, deps={0: deps} if deps else None).seen


def test_unknowns_that_cannot_open_a_port_or_are_provider_defaults_are_quiet():
    quiet = [
        {**SSH, "portRangeMin": 443, "portRangeMax": 443, "remoteIpPrefix": UNKNOWN},  # not a sensitive port
        {**SSH, "protocol": "udp", "remoteIpPrefix": UNKNOWN},
        # computed by the provider (no property dependency entry): unset, as in the inputs
        {**SSH, "remoteIpPrefix": UNKNOWN, "remoteGroupId": "sg-bastion"},
    ]
    for props in quiet:
        assert not check_rules("unknown-security-rule", props).seen, props
    # the group's id unknown and computed, the prefix given: judged on the prefix
    assert check_rules("ssh-open-to-world", {**SSH, "remoteIpPrefix": "0.0.0.0/0", "remoteGroupId": UNKNOWN}).seen


def test_a_secret_prefix_is_unknown_once_the_probe_recorded_it():
    props = {**SSH, "remoteIpPrefix": "198.51.100.0/24"}  # as the SDK hands it: the secret unwrapped
    assert not check_rules("unknown-security-rule", props).seen
    secrecy.record(b.urn(RULE, "r0"), frozenset({"remoteIpPrefix"}))
    v = check_rules("unknown-security-rule", props)
    assert v.seen and "remoteIpPrefix is a secret" in v.messages[0]


@pytest.mark.parametrize("port, fires", [(5432, True), (3306, True), (22, False), (6432, False)])
def test_database_open_to_world(port, fires):
    v = check_rules(
        "database-open-to-world", {**SSH, "portRangeMin": port, "portRangeMax": port, "remoteIpPrefix": "0.0.0.0/0"}
    )
    assert bool(v.seen) is fires
    if fires:
        assert f"TCP {port}" in v.messages[0] and "remoteGroupId" in v.messages[0]


def test_port_security_disabled():
    assert check("port-security-disabled", PORT, {"portSecurityEnabled": False}).seen
    assert check("port-security-disabled", b.NETWORK, {"portSecurityEnabled": "false"}).seen
    for quiet in (True, None, UNKNOWN, "[secret]"):
        assert not check("port-security-disabled", PORT, {"portSecurityEnabled": quiet}).seen
    exempt = {"portSecurityEnabled": False, "tags": ["resilient-stack:exempt=VRRP appliance"]}
    assert check("port-security-disabled", PORT, exempt).seen  # not in the organisation's exemptions
    assert not check("port-security-disabled", PORT, exempt, config=ALLOW).seen


def test_user_data_plaintext_and_not():
    assert check("plaintext-secret-in-user-data", b.INSTANCE, {"userData": PLAIN_UD}).seen
    for quiet in (UNKNOWN, "[secret]", None, "#cloud-config\npackages: [nginx]\n", 42, ["x"]):
        assert not check("plaintext-secret-in-user-data", b.INSTANCE, {"userData": quiet}).seen, quiet
    exempt = {"userData": PLAIN_UD, "metadata": {"resilient-stack:exempt": "throwaway lab"}}
    assert check("plaintext-secret-in-user-data", b.INSTANCE, exempt).seen
    assert not check("plaintext-secret-in-user-data", b.INSTANCE, exempt, config=ALLOW).seen


def test_only_its_own_types_and_never_a_crash():
    for name in POLICY:
        if name in GROUP_RULES:
            for props in ({"direction": UNKNOWN}, {"portRangeMin": "abc"}, {"remoteIpPrefix": ["x"]}, {}):
                check_rules(name, props)
            continue
        for typ, props in (
            (b.NETWORK, {**SSH, "userData": PLAIN_UD}),
            ("x", None),
            (RULE, {"direction": UNKNOWN}),
            (b.INSTANCE, {"userData": {"nested": [UNKNOWN]}}),
            (RULE, {"portRangeMin": "abc"}),
        ):
            v = check(name, typ, props, provider=False)
            assert not v.seen, (name, typ, v.seen)


def test_disabled_by_settings():
    assert not check_rules("ssh-open-to-world", dict(SSH), config={"levels": {"ssh-open-to-world": "disabled"}}).seen


def test_in_process_pack_agrees_with_the_auditor_on_security(tmp_path):
    e = b.spread_export()
    gra = e.resources[1]["urn"] + "::" + e.resources[1]["id"]
    e.resource(RULE, "ssh-world", gra, **{**SSH, "remoteIpPrefix": "0.0.0.0/0"})
    e.resource(
        RULE,
        "pg-office",
        gra,
        **{**SSH, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": "198.51.100.0/24"},
    )
    for half in ("0.0.0.0/1", "128.0.0.0/1"):
        e.resource(
            RULE,
            f"pg-{half[:1]}",
            gra,
            **{**SSH, "portRangeMin": 5432, "portRangeMax": 5432, "remoteIpPrefix": half, "securityGroupId": "sg-db"},
        )
    e.resource(
        RULE,
        "ssh-secret",
        gra,
        **{**SSH, "remoteIpPrefix": {SECRET_SIG: s.SECRET_VALUE_SIG, "plaintext": '"198.51.100.0/24"'}},
    )
    e.resource(PORT, "vrrp", gra, portSecurityEnabled=False)
    e.resource(b.INSTANCE, "db-x", gra, role="database", userData=PLAIN_UD)
    secret_ud = {SECRET_SIG: s.SECRET_VALUE_SIG, "plaintext": '"PGPASSWORD=hunter2hunter2"'}
    e.resource(b.INSTANCE, "db-y", gra, role="database", userData=secret_ud)
    doc = e.doc()
    report = s.audit(doc, tmp_path)
    assert audit_rules(report) == {
        "ssh-open-to-world",
        "database-open-to-world",
        "unknown-security-rule",
        "port-security-disabled",
        "plaintext-secret-in-user-data",
    }
    for secrets in ("redact", "envelope"):  # secrets the CLI cannot decrypt, and secrets it can
        diags = s.run_in_process(doc, secrets=secrets)
        s.assert_agree(diags, report)
        assert {d.urn.rsplit("::", 1)[1] for d in diags if d.policy == "plaintext-secret-in-user-data"} == {"db-x"}
        assert [d.urn.rsplit("::", 1)[1] for d in diags if d.policy == "unknown-security-rule"] == ["ssh-secret"]


def audit_rules(report):
    return {f["rule"] for f in report["findings"]}


def test_the_pack_reads_a_rules_address_group_like_the_auditor():
    """A rule whose remote is an address group admits the group's addresses (outputs carry the group's id)."""
    group = s.resource(
        "openstack:networking/addressGroupV2:AddressGroupV2",
        "admins",
        {"addresses": ["0.0.0.0/0"], "id": "ag-1"},
        s.provider(),
    )
    rule = s.resource(RULE, "ssh", {**SSH, "remoteAddressGroupId": "ag-1", "securityGroupId": "sg-1"}, s.provider())
    v = s.Violations()
    POLICY["ssh-open-to-world"].validate(s.stack_args([group, rule]), v)
    assert len(v.seen) == 1, v.seen
    office = s.resource(
        "openstack:networking/addressGroupV2:AddressGroupV2",
        "admins",
        {"addresses": ["203.0.113.0/24"], "id": "ag-1"},
        s.provider(),
    )
    quiet = s.Violations()
    POLICY["ssh-open-to-world"].validate(s.stack_args([office, rule]), quiet)
    assert quiet.seen == []


def test_the_pack_reads_a_legacy_groups_inline_rules_like_the_auditor():
    group = s.resource(
        "openstack:compute/secGroup:SecGroup",
        "web",
        {"name": "web", "rules": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidr": "0.0.0.0/0"}]},
        s.provider(),
    )
    v = s.Violations()
    POLICY["ssh-open-to-world"].validate(s.stack_args([group]), v)
    assert len(v.seen) == 1 and "rules[0]" in v.seen[0][0]
