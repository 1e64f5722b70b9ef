"""policies/resilient_policies/secrecy.py: the remediation-level probe that tells validations which inputs are
Pulumi secrets (the SDK unwraps them before a validation sees them)."""

from pulumi_policy import EnforcementLevel, ResourceValidationArgs
from pulumi_policy.deserialize import deserialize_properties
from pulumi_policy.proxy import unknown_checking_proxy

from resilient_policies import secrecy
from resilient_policies.secrecy import PROBE_NAME, secrecy_probe
from resilient_policies.security import SECURITY_POLICIES
from resilient_stack.core.vocabulary import SECRET_SIG
from resilient_stack.hosts.document import pack_user_data
from tests import builders as b
from tests.hosts import samples
from tests.policies import support as s

POLICY = {p.name: p for p in SECURITY_POLICIES}
PLAIN_UD = "#cloud-config\nwrite_files:\n- path: /root/.env\n  content: |\n    PGPASSWORD=hunter2hunter2\n"


def _secret_args(user_data: str) -> tuple[ResourceValidationArgs, ResourceValidationArgs]:
    """The same instance as the servicer gives it to a remediation, then to a validation."""
    wire = {"userData": {SECRET_SIG: s.SECRET_VALUE_SIG, "value": user_data}, "flavorName": "b3-8"}
    urn = b.urn(b.INSTANCE, "db")
    remediation = ResourceValidationArgs(
        b.INSTANCE, unknown_checking_proxy(deserialize_properties(wire, True)), urn, "db", s.options(), s.provider(), {}
    )
    validation = ResourceValidationArgs(
        b.INSTANCE, unknown_checking_proxy(deserialize_properties(wire)), urn, "db", s.options(), s.provider(), {}
    )
    return remediation, validation


def test_a_known_pulumi_secret_is_not_plaintext_once_the_probe_ran():
    remediation, validation = _secret_args(PLAIN_UD)
    assert validation.props["userData"] == PLAIN_UD  # the SDK hands validations secrets in clear
    v = s.Violations()
    POLICY["plaintext-secret-in-user-data"].validate(validation, v)
    assert v.seen and PROBE_NAME in v.messages[0]  # cannot tell: reports, and says why
    assert secrecy_probe.enforcement_level == EnforcementLevel.REMEDIATE
    assert secrecy_probe.remediate(remediation) is None  # records, never rewrites
    assert secrecy.secret_keys(validation.urn) == frozenset({"userData"})
    v = s.Violations()
    POLICY["plaintext-secret-in-user-data"].validate(validation, v)
    assert v.seen == []


def test_probe_records_plain_user_data_as_plain():
    wire = {"userData": PLAIN_UD}
    args = ResourceValidationArgs(
        b.INSTANCE,
        unknown_checking_proxy(deserialize_properties(wire, True)),
        b.urn(b.INSTANCE, "db"),
        "db",
        s.options(),
        s.provider(),
        {},
    )
    secrecy_probe.remediate(args)
    assert secrecy.secret_keys(args.urn) == frozenset()
    v = s.Violations()
    POLICY["plaintext-secret-in-user-data"].validate(s.resource_args(b.INSTANCE, "db", wire, s.provider()), v)
    assert len(v.seen) == 1 and PROBE_NAME not in v.messages[0] and "`PGPASSWORD=` (line 5)" in v.messages[0]
    # other types are not recorded
    other = s.resource_args("openstack:networking/subnet:Subnet", "n", {"x": 1})
    secrecy_probe.remediate(other)
    assert secrecy.secret_keys(other.urn) is None


def test_records_outlive_the_stack_analysis_and_each_probe_overwrites_them():
    """The stack policies read the records too (a secret remoteIpPrefix); a new run's probe replaces them."""
    from resilient_policies.placement import PLACEMENT_POLICIES

    urn = b.urn(b.INSTANCE, "db")
    secrecy.record(urn, frozenset({"userData"}))
    PLACEMENT_POLICIES[0].validate(s.stack_args([]), s.Violations())
    assert secrecy.secret_keys(urn) == frozenset({"userData"})
    args = ResourceValidationArgs(
        b.INSTANCE,
        unknown_checking_proxy(deserialize_properties({"userData": "x"}, True)),
        urn,
        "db",
        s.options(),
        s.provider(),
        {},
    )
    secrecy_probe.remediate(args)
    assert secrecy.secret_keys(urn) == frozenset()


def test_the_components_packed_user_data_passes_as_a_secret_and_is_read_through_its_packing_when_plain():
    """What the components hand Nova (gzip + base64: the host's key and its sealed secrets), wrapped in a Pulumi
    secret as they wrap it: the pack does not flag it. The same text in clear would be flagged, read as cloud-init
    reads it."""
    for user_data in (pack_user_data(samples.member()), pack_user_data(samples.web_app())):
        remediation, validation = _secret_args(user_data)
        secrecy_probe.remediate(remediation)
        v = s.Violations()
        POLICY["plaintext-secret-in-user-data"].validate(validation, v)
        assert v.seen == []
        plain = ResourceValidationArgs(
            b.INSTANCE,
            unknown_checking_proxy(deserialize_properties({"userData": user_data}, True)),
            b.urn(b.INSTANCE, "db"),
            "db",
            s.options(),
            s.provider(),
            {},
        )
        secrecy_probe.remediate(plain)  # this run's probe: the user data is plain now
        v = s.Violations()
        POLICY["plaintext-secret-in-user-data"].validate(
            s.resource_args(b.INSTANCE, "db", {"userData": user_data}, s.provider()), v
        )
        assert len(v.seen) == 1 and "`/etc/resilient-stack/host.key`" in v.messages[0]
        assert "gzip+base64-unpacked" in v.messages[0] and samples.HOST_KEY not in v.messages[0]
