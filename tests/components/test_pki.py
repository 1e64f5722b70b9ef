"""resilient_stack/components/pki.py: the cluster's CA as a Pulumi dynamic resource. The provider's create, diff and
update at a fixed time (``_now`` patched): what re-issues the members' certificates (under the SAME CA), what
replaces the CA, the renewal window; the secret outputs, in the resource and under the mock runner."""

from __future__ import annotations

import datetime as dt
import ipaddress

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from resilient_stack.components import pki
from resilient_stack.hosts import pki as host_pki
from resilient_stack.testing.mockrun import PKI_NOW, RecordingMocks, run_program

from .conftest import stack_file

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
MEMBERS = {"shop-gra-db": "198.51.100.10", "shop-waw-db": "198.51.100.20", "shop-ik-db": "198.51.100.30"}
PROPS = {"scope": "shop", "members": MEMBERS, "generation": 0}


@pytest.fixture
def clock(monkeypatch):
    """The provider's clock, set by the test (``clock.now = ...``)."""

    class Clock:
        now = T0

    c = Clock()
    monkeypatch.setattr(pki, "_now", lambda: c.now)
    return c


def cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def issued_by(leaf_pem: str, ca_pem: str) -> bool:
    try:
        cert(leaf_pem).verify_directly_issued_by(cert(ca_pem))
        return True
    except (ValueError, TypeError, Exception):  # noqa: BLE001 - cryptography raises InvalidSignature, ValueError...
        return False


def sans(pem: str) -> tuple[set[str], set[str]]:
    ext = cert(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(ext.get_values_for_type(x509.DNSName)), {str(a) for a in ext.get_values_for_type(x509.IPAddress)}


def created(clock, props=PROPS) -> dict:
    return pki._Provider().create(dict(props)).outs


def test_create_issues_a_ca_and_each_members_certificates_under_it(clock):
    outs = created(clock)
    ca = cert(outs["caCert"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    assert ca.not_valid_after_utc - T0 > dt.timedelta(days=host_pki.CA_DAYS - 1)
    assert set(outs["certs"]) == set(outs["keys"]) == set(outs["adminCerts"]) == set(outs["adminKeys"]) == set(MEMBERS)
    for name, address in MEMBERS.items():
        member = outs["certs"][name]
        assert issued_by(member, outs["caCert"]) and issued_by(outs["adminCerts"][name], outs["caCert"])
        dns, ips = sans(member)
        assert name in dns and {address, "127.0.0.1"} <= ips, "its public address is a SAN: verify-full"
        usages = cert(member).extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
        assert host_pki.common_name(outs["adminCerts"][name]) == host_pki.ADMIN_CN
        assert outs["keys"][name].startswith("-----BEGIN PRIVATE KEY-----")
    assert outs["caKey"].startswith("-----BEGIN PRIVATE KEY-----")
    assert dt.datetime.fromisoformat(outs["notAfter"]) == min(
        cert(c).not_valid_after_utc for c in [*outs["certs"].values(), *outs["adminCerts"].values()]
    )
    assert (outs["scope"], outs["members"], outs["generation"]) == ("shop", MEMBERS, 0)
    # a real issue is random: two creates give two CAs
    assert created(clock)["caKey"] != outs["caKey"]


def test_an_unchanged_cluster_far_from_expiry_is_no_change(clock):
    outs = created(clock)
    clock.now = T0 + dt.timedelta(days=200)
    diff = pki._Provider().diff("id", outs, dict(PROPS))
    assert diff.changes is False and not diff.replaces


@pytest.mark.parametrize(
    "change",
    [
        {"members": {**MEMBERS, "shop-uk-db": "198.51.100.40"}},  # a member added
        {"members": {k: v for k, v in MEMBERS.items() if k != "shop-ik-db"}},  # a member removed
        {"members": {**MEMBERS, "shop-waw-db": "198.51.100.21"}},  # an address changed
        {"generation": 1},  # a manual renewal
    ],
)
def test_members_or_generation_changing_reissues_the_members_certificates_under_the_same_ca(clock, change):
    olds = created(clock)
    news = {**PROPS, **change}
    diff = pki._Provider().diff("id", olds, news)
    assert diff.changes is True and not diff.replaces, "updated in place: the CA every host trusts stays"
    clock.now = T0 + dt.timedelta(days=3)
    outs = pki._Provider().update("id", olds, news).outs
    assert (outs["caCert"], outs["caKey"]) == (olds["caCert"], olds["caKey"])
    assert set(outs["certs"]) == set(news["members"])
    for name, address in news["members"].items():
        assert issued_by(outs["certs"][name], olds["caCert"]) and issued_by(outs["adminCerts"][name], olds["caCert"])
        assert address in sans(outs["certs"][name])[1]
        assert outs["certs"][name] != olds["certs"].get(name), "each member's certificate is issued anew"
    assert outs["generation"] == news["generation"]
    assert dt.datetime.fromisoformat(outs["notAfter"]) > dt.datetime.fromisoformat(olds["notAfter"])


def test_the_scope_changing_replaces_the_ca(clock):
    olds = created(clock)
    diff = pki._Provider().diff("id", olds, {**PROPS, "scope": "other"})
    assert diff.changes is True and diff.replaces == ["scope"]


@pytest.mark.parametrize(
    "days_left, due",
    [
        (host_pki.RENEW_BEFORE_DAYS + 1, False),
        (host_pki.RENEW_BEFORE_DAYS, True),
        (host_pki.RENEW_BEFORE_DAYS - 1, True),
        (1, True),
        (-3, True),
    ],
)
def test_a_certificate_within_30_days_of_its_expiry_makes_a_change(clock, days_left, due):
    olds = created(clock)
    expiry = dt.datetime.fromisoformat(olds["notAfter"])
    clock.now = expiry - dt.timedelta(days=days_left)
    diff = pki._Provider().diff("id", olds, dict(PROPS))
    assert diff.changes is due and not diff.replaces
    if due:  # the update renews every certificate for a year, under the same CA
        outs = pki._Provider().update("id", olds, dict(PROPS)).outs
        assert outs["caCert"] == olds["caCert"]
        assert dt.datetime.fromisoformat(outs["notAfter"]) - clock.now > dt.timedelta(days=host_pki.LEAF_DAYS - 1)
        clock.now += dt.timedelta(days=1)
        assert pki._Provider().diff("id", outs, dict(PROPS)).changes is False


def test_outputs_without_certificates_or_unreadable_ones_are_renewed(clock):
    outs = created(clock)
    assert pki._Provider().diff("id", {**outs, "certs": {}, "adminCerts": {}}, dict(PROPS)).changes is True
    broken = {**outs, "certs": {**outs["certs"], "shop-gra-db": "-----BEGIN CERTIFICATE-----\nbroken\n"}}
    assert pki._Provider().diff("id", broken, dict(PROPS)).changes is True


def test_the_private_keys_are_secret_outputs_and_the_mock_runner_carries_them_as_such(runs):
    assert pki.SECRET_OUTPUTS == ["caKey", "keys", "adminKeys"]
    for stack, res in runs.items():
        (resource,) = [r for r in res if r.type == pki.TYPE_TOKEN]
        assert set(pki.SECRET_OUTPUTS) <= resource.secret_outputs, stack
        assert not {"caCert", "certs", "adminCerts", "notAfter"} & resource.secret_outputs
        assert resource.options.get("protect") is True
        # issued as the components asked: every member's public address, at the mock's fixed time
        members = {
            r.inputs["name"]: r.outputs["accessIpV4"]
            for r in res
            if r.type == "openstack:compute/instance:Instance" and r.inputs["name"].endswith("-db")
        }
        assert resource.inputs["members"] == members and resource.outputs["members"] == members
        for name, address in members.items():
            assert address in sans(resource.outputs["certs"][name])[1]
            assert cert(resource.outputs["certs"][name]).not_valid_before_utc <= PKI_NOW


def test_a_cluster_pki_alone_under_the_mock_runner_is_deterministic_and_keeps_its_options():
    def program():
        pki.ClusterPki("t-pki", scope="t", members={"t-gra-db": "192.0.2.10"}, generation=2)

    first = [r for r in run_program(stack_file("staging"), program=program) if r.type == pki.TYPE_TOKEN]
    mocks = RecordingMocks()
    again = [r for r in run_program(stack_file("staging"), program=program, mocks=mocks) if r.type == pki.TYPE_TOKEN]
    assert not mocks.failures
    (a,), (b,) = first, again
    assert a.outputs == b.outputs, "the mock issues deterministically"
    assert set(pki.SECRET_OUTPUTS) <= a.secret_outputs and a.outputs["generation"] == 2
    assert issued_by(a.outputs["certs"]["t-gra-db"], a.outputs["caCert"])
    assert ipaddress.ip_address("192.0.2.10") in {
        ipaddress.ip_address(i) for i in sans(a.outputs["certs"]["t-gra-db"])[1]
    }
