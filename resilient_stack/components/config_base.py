"""What every model of the stack configuration shares: the frozen camelCase base and the name and CIDR rules.

:mod:`resilient_stack.components.stack_config` and :mod:`resilient_stack.components.backup_config` build on it.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel

from resilient_stack.core.catalog import cloud_name

__all__ = [
    "ConfigModel",
    "CloudName",
    "DOCUMENTATION_NETWORKS",
    "as_the_cloud_compares",
    "cidr",
    "documentation_network",
]


class ConfigModel(BaseModel):
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        str_strip_whitespace=True,
        alias_generator=to_camel,
    )


# Region, cloud and zone names are kept as written (no Unicode whitespace stripping): the core compares them as
# the clouds do (``core.catalog.cloud_name``: ASCII only, trimmed of ASCII whitespace), so "WAW1\u00a0" is the
# same unknown-placement here as in a design file, an export and the policy pack.
CloudName = Annotated[str, StringConstraints(strip_whitespace=False)]


def as_the_cloud_compares(value: str | None) -> str | None:
    """``value`` trimmed of ASCII whitespace when the core accepts it as a name; else as written (the rules then
    report it as ``unknown-placement``, naming the character)."""
    if value is None:
        return None
    name, problem = cloud_name(value, "name", hint=False)
    return name if problem is None and name else value


def cidr(value: str, *, version: int | None = None) -> str:
    """A CIDR network in canonical form; host bits must be zero and the prefix length explicit."""
    if not isinstance(value, str) or "/" not in value:
        raise ValueError(f"{value!r} is not a CIDR network (write e.g. '10.10.1.0/24', or ADDRESS/32 for one address)")
    try:
        net = ipaddress.ip_network(value.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR network ({exc})") from None
    if version is not None and net.version != version:
        raise ValueError(f"{value!r} is not an IPv{version} network")
    return str(net)


# Networks reserved for documentation: routed nowhere, so no administrator ever connects from them. {network: RFC}.
DOCUMENTATION_NETWORKS = {
    ipaddress.ip_network("192.0.2.0/24"): "RFC 5737",  # TEST-NET-1
    ipaddress.ip_network("198.51.100.0/24"): "RFC 5737",  # TEST-NET-2
    ipaddress.ip_network("203.0.113.0/24"): "RFC 5737",  # TEST-NET-3
    ipaddress.ip_network("2001:db8::/32"): "RFC 3849",
    ipaddress.ip_network("3fff::/20"): "RFC 9637",
}


def documentation_network(value: str) -> str | None:
    """``'198.51.100.0/24 (RFC 5737)'``: the documentation network ``value`` (a canonical CIDR) lies in or overlaps,
    else None."""
    net = ipaddress.ip_network(value)
    for doc, rfc in DOCUMENTATION_NETWORKS.items():
        if doc.version == net.version and net.overlaps(doc):  # type: ignore[arg-type]
            return f"{doc} ({rfc})"
    return None
