"""A resource whose shape breaks a security check is a finding, never "no issue" (issue 26, point 7: the two
catch-alls of core/security.py). The breakage is forced: no input known today makes the checks raise."""

import pytest

from resilient_stack.core import secgroups, security
from resilient_stack.core.resources import ResourceView
from resilient_stack.core.rules import RuleConfig
from resilient_stack.core.security import SECGROUP_RULE_TYPE, SecurityCollector, check_resource

RULE = {
    "direction": "ingress",
    "protocol": "tcp",
    "portRangeMin": 22,
    "portRangeMax": 22,
    "remoteIpPrefix": "203.0.113.0/24",
    "securityGroupId": "sg-1",
}


def broken(*_a, **_k):
    raise KeyError("a shape nobody foresaw")


@pytest.mark.parametrize(
    "typ, module, check, rule",
    [
        (SECGROUP_RULE_TYPE, secgroups, "_facts", "unknown-security-rule"),
        ("openstack:compute/instance:Instance", security, "_user_data_issues", "plaintext-secret-in-user-data"),
        ("openstack:networking/port:Port", security, "_port_security_issues", "port-security-disabled"),
    ],
)
def test_a_check_that_breaks_on_one_resource_reports_it(monkeypatch, typ, module, check, rule):
    monkeypatch.setattr(module, check, broken)
    secgroups._memo.clear()
    [issue] = check_resource(typ, dict(RULE) if typ == SECGROUP_RULE_TYPE else {"userData": "x"})
    assert issue.rule == rule and "could not be read (KeyError)" in issue.message


def test_a_rule_that_breaks_the_collector_is_an_unknown_rule_of_its_group(monkeypatch):
    monkeypatch.setattr(secgroups, "_facts", broken)
    secgroups._memo.clear()
    sec = SecurityCollector()
    sec.add(ResourceView("urn:pulumi:dev::shop::" + SECGROUP_RULE_TYPE + "::ssh", SECGROUP_RULE_TYPE, dict(RULE)))
    [finding] = sec.findings(RuleConfig())
    assert finding.rule == "unknown-security-rule" and finding.level == "mandatory"
    assert "its properties cannot be read (KeyError)" in finding.message
