"""port-security-disabled: port security is disabled.

Its check reads one port or network; the security collector runs it as the resources stream by
(resilient_stack.core.security)."""

from __future__ import annotations

from typing import Any, Mapping

from resilient_stack.core.readable import value
from resilient_stack.core.rules.rule import Rule

PORT_TYPE = "openstack:networking/port:Port"  # else a network, whose setting is its ports' default


def check(type_: str, props: Mapping[str, Any]) -> str | None:
    """Why a port or a network (its input properties) has port security off, or None: true, unset (the network's or
    Neutron's default: enabled) or unreadable."""
    flag = value(props.get("portSecurityEnabled"))
    if not (flag is False or (isinstance(flag, str) and flag.strip().lower() == "false")):
        return None
    if type_ == PORT_TYPE:
        what = (
            "portSecurityEnabled is false: the port has no security group and no anti-spoofing, so every port "
            "of its host is open to whatever reaches the network"
        )
    else:
        what = (
            "portSecurityEnabled is false on the network: ports created on it default to no security group and "
            "no anti-spoofing"
        )
    return f"{what}; enable port security and use security groups, or exempt it with its reason (a router or VRRP appliance)"


RULE = Rule(
    id="port-security-disabled",
    family="security",
    default="mandatory",
    severity="high",
    title="Port security is disabled",
    description=(
        "A port (or a network, for the ports created on it) has portSecurityEnabled: false: no security group and no anti-spoofing filter its traffic."
    ),
    fix="Keep portSecurityEnabled on (the default) and filter with security groups.",
    scope="security",
    check=check,
    checked_by="resilient_stack.core.security",
)
