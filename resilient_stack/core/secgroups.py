"""What a security group's rules admit, together: the facts of each rule, their union counted in public addresses,
and the findings of one group (``ssh-open-to-world``, ``database-open-to-world``, ``unknown-security-rule``,
``unknown-preview-security-rule``). Pure Python, no Pulumi import.

The judgement calls are :mod:`resilient_stack.core.security`'s (its docstring, and docs/rules.md): this module is its
half about security group rules; :class:`resilient_stack.core.security.SecurityCollector` gathers the rules of each
group from the input and asks :func:`group_issues`. Also here, because a rule's facts carry them: a resource's
exemption (:func:`exemption`) and its label in messages (:func:`resource_label`).
"""

from __future__ import annotations

import functools
import ipaddress
import re
from typing import Any, Iterable, Mapping, NamedTuple, cast

from resilient_stack.core.readable import OPAQUE as _OPAQUE
from resilient_stack.core.readable import Opaque as _Opaque
from resilient_stack.core.readable import blank as _blank
from resilient_stack.core.readable import value as _value
from resilient_stack.core.resources import ResourceView, labels_of
from resilient_stack.core.vocabulary import (
    DATABASE_PORTS,
    EXEMPT_KEY,
    SSH_PORT,
    UNKNOWN,
)

SSH_PORTS = {SSH_PORT: "SSH"}
_TCP = {"", "any", "tcp", "6"}
_WATCHED_PORTS = (*SSH_PORTS, *DATABASE_PORTS)


def _port(v: Any) -> int | None | _Opaque:
    """A port number; None when unset (0 and "" mean unset, as in the OpenStack provider)."""
    if type(v) is int:  # the common case, as the provider records it
        return v if v > 0 else None
    v = _value(v)
    if v is _OPAQUE:
        return _OPAQUE
    if _blank(v) or isinstance(v, bool):
        return None
    try:
        n = int(float(v)) if isinstance(v, (int, float)) else int(str(v).strip())
    except (TypeError, ValueError, OverflowError):
        return _OPAQUE
    return n if n > 0 else None


# ---- security group rules: the union of what a group's rules admit ---------------------------------------

WORLD_PREFIX = 8  # a sensitive port is world-open when its public addresses cover more than a /8
_BITS = {4: 32, 6: 128}
# Addresses no one reaches from the internet: not counted towards "the world" (RFC 1122, 1918, 6598, 3927,
# 4291, 4193). Admitting 10.0.0.0/8 + 172.16.0.0/12 + 192.168.0.0/16 to SSH is not world-open.
_NOT_PUBLIC = {
    4: tuple(
        ipaddress.ip_network(n)
        for n in (
            "0.0.0.0/8",
            "10.0.0.0/8",
            "100.64.0.0/10",
            "127.0.0.0/8",
            "169.254.0.0/16",
            "172.16.0.0/12",
            "192.168.0.0/16",
        )
    ),
    6: tuple(ipaddress.ip_network(n) for n in ("::/127", "fc00::/7", "fe80::/10")),
}
_EVERY = {4: ipaddress.ip_network("0.0.0.0/0"), 6: ipaddress.ip_network("::/0")}
GROUP, NET, EVERY, UNKNOWN_REMOTE = "group", "net", "every", "unknown"
ADDRESS_GROUP = "address-group"  # resolved to NET (its addresses) or UNKNOWN_REMOTE by SecurityCollector.findings


class RuleFacts(NamedTuple):
    """What the union needs of one security group rule that may admit a sensitive port from outside.

    ``ingress``/``tcp``/``ports`` are None when unknown (a secret, unknown at preview, unreadable); ``remote`` is
    :data:`GROUP` (another security group or address group: not addresses), :data:`NET` (``nets``),
    :data:`EVERY` (no remote at all: every address of ``nets``' families) or :data:`UNKNOWN_REMOTE`.
    """

    urn: str
    group: str
    ingress: bool | None
    tcp: bool | None
    ports: tuple[int, int] | None
    remote: str
    nets: tuple
    unknown: tuple[str, ...]  # what could not be read, for the message
    exempt: str | None
    any_protocol: bool = False
    address_group: str | None = None  # remote ADDRESS_GROUP: the group's id, or the URN it comes from (preview)

    def may_admit(self, port: int) -> bool:
        return (
            self.ingress is not False
            and self.tcp is not False
            and (self.ports is None or self.ports[0] <= port <= self.ports[1])
        )

    def admits(self, port: int) -> bool:
        return bool(self.ingress and self.tcp and self.ports and self.ports[0] <= port <= self.ports[1])


_PENDING = "unknown until the resource is created"


def _why(value: Any) -> str:
    if type(value) is dict:
        return "a secret"
    return _PENDING if value == UNKNOWN else "a redacted secret"


@functools.lru_cache(maxsize=4096)
def _network(prefix: str) -> Any:
    """The network of a prefix (host bits ignored, as Neutron does), or None; estates repeat a few prefixes."""
    try:
        return ipaddress.ip_network(prefix.strip(), strict=False)
    except ValueError:
        return None


_FACT_KEYS = (
    "direction",
    "protocol",
    "portRangeMin",
    "portRangeMax",
    "remoteGroupId",
    "remoteAddressGroupId",
    "remoteIpPrefix",
    "ethertype",
)
_SCALAR = (str, int, float, bool, type(None))
_memo: dict[tuple, tuple | None] = {}
_EXEMPT_KEYS = ("description", "tags", "allTags", "metadata", "allMetadata")  # where an exemption can be written


def rule_facts(view: ResourceView) -> RuleFacts | None:
    """The facts of a security group rule (from its inputs, else outputs); None when it cannot admit SSH or a
    database port from outside whatever its unknowns are (egress, UDP, ICMP, ports 80-443...)."""
    props = view.inputs if isinstance(view.inputs, dict) else view.outputs
    if not isinstance(props, dict):
        return None
    # estates repeat a few shapes of rules many times: what the values mean is read once per shape
    key = tuple(props.get(k) for k in _FACT_KEYS)
    if all(type(v) in _SCALAR for v in key):
        hit = _memo.get(key, _memo)
        if hit is _memo:
            hit = _facts(props)
            if len(_memo) < 10_000:
                _memo[key] = hit
    else:
        hit = _facts(props)
    if hit is None:
        return None
    described = any(type(p) is dict and not p.keys().isdisjoint(_EXEMPT_KEYS) for p in (view.inputs, view.outputs))
    *head, any_protocol = hit
    ref = _ref(view, props, "remoteAddressGroupId") if head[3] == ADDRESS_GROUP else None
    return RuleFacts(
        view.urn,
        _group_key(view, props),
        *head,  # type: ignore[call-arg]  # head: the 5 facts
        exemption(view) if described else None,
        any_protocol,
        ref,
    )


def inline_rule_facts(view: ResourceView) -> list[RuleFacts]:
    """The facts of a legacy ``compute/secGroup``'s inline rules (all ingress), one group: the resource itself.
    Rules that are a secret or unknown as a whole are one unknown rule (fails closed)."""
    props = view.inputs if isinstance(view.inputs, dict) and "rules" in view.inputs else view.outputs
    raw = props.get("rules") if isinstance(props, dict) else None
    rules = _value(raw)
    exempt = exemption(view)
    if rules is _OPAQUE:
        return [
            RuleFacts(
                f"{view.urn}#rules",
                view.urn,
                None,
                None,
                None,
                UNKNOWN_REMOTE,
                (),
                (f"its inline rules are {_why(raw)}",),
                exempt,
            )
        ]
    if not isinstance(rules, list):
        return []  # no rules: a group that admits nothing
    out = []
    for i, rule in enumerate(rules):
        rule = _value(rule)
        urn = f"{view.urn}#rules[{i}]"
        if type(rule) is not dict:
            why = f"rules[{i}] is {_why(rule) if rule is _OPAQUE else 'not an object'}"
            out.append(RuleFacts(urn, view.urn, None, None, None, UNKNOWN_REMOTE, (), (why,), exempt))
            continue
        own = _value(rule.get("self"))
        remote_group = (
            rule.get("fromGroupId")
            if not _blank(_value(rule.get("fromGroupId")))
            else ("self" if own is True or (isinstance(own, str) and own.strip().lower() == "true") else None)
        )
        hit = _facts(
            {
                "direction": "ingress",
                "protocol": rule.get("ipProtocol"),
                "portRangeMin": rule.get("fromPort"),
                "portRangeMax": rule.get("toPort"),
                "remoteIpPrefix": rule.get("cidr"),
                "remoteGroupId": remote_group,
            }
        )
        if hit is not None:
            *head, any_protocol = hit
            out.append(RuleFacts(urn, view.urn, *head, exempt, any_protocol))  # type: ignore[call-arg]
    return out


def _ref(view: ResourceView, props: Mapping[str, Any], key: str) -> str | None:
    """What a rule's ``key`` refers to: the id it holds, else the URN it was taken from (a preview), else None."""
    value = _value(props.get(key))
    if isinstance(value, str) and value.strip():
        return value.strip()
    deps = view.deps.get(key) if isinstance(view.deps, Mapping) else None
    if isinstance(deps, (list, tuple)) and deps and isinstance(deps[0], str):
        return deps[0]
    return None


def address_group_nets(view: ResourceView) -> tuple[tuple, str | None]:
    """(networks, why unreadable) of an address group's ``addresses`` (inputs, else outputs)."""
    props = view.inputs if isinstance(view.inputs, dict) and "addresses" in view.inputs else view.outputs
    raw = props.get("addresses") if isinstance(props, dict) else None
    value = _value(raw)
    if value is _OPAQUE:
        return (), f"its addresses are {_why(raw)}"
    if not isinstance(value, list):
        return (), "its addresses are not a list"
    nets = []
    for item in value:
        item = _value(item)
        net = _network(item) if isinstance(item, str) else None
        if net is None:
            return (), f"its address {str(item)[:60]!r} is {_why(item) if item is _OPAQUE else 'not a network'}"
        nets.append(net)
    return tuple(nets), None


def _facts(props: Mapping[str, Any]) -> tuple | None:
    """(ingress, tcp, ports, remote, nets, unknown) of :class:`RuleFacts`, any_protocol last; None: cannot admit."""
    unknown: list[str] = []
    raw = props.get("direction")
    direction = _value(raw)
    if direction is _OPAQUE:
        ingress = None
        unknown.append(f"direction is {_why(raw)}")
    elif isinstance(direction, str) and direction.strip():
        ingress = direction.strip().lower() == "ingress"
    else:
        ingress = None
        unknown.append("direction is not set")
    raw = props.get("protocol")
    proto = _value(raw)
    if proto is _OPAQUE:
        tcp = None
        unknown.append(f"protocol is {_why(raw)}")
    else:
        tcp = ("" if proto is None else str(proto).strip().lower()) in _TCP
    any_protocol = ("" if proto is None or proto is _OPAQUE else str(proto).strip().lower()) in ("", "any")
    low, high = _port(props.get("portRangeMin")), _port(props.get("portRangeMax"))
    ports: tuple[int, int] | None
    if low is _OPAQUE or high is _OPAQUE:
        ports = None
        unknown += [
            f"{k} is {_why(props.get(k)) if _value(props.get(k)) is _OPAQUE else 'not a port number'}"
            for k, v in (("portRangeMin", low), ("portRangeMax", high))
            if v is _OPAQUE
        ]
    else:
        ports = (cast(int, low) or 1, cast(int, high) or 65535)
    facts = RuleFacts("", "", ingress, tcp, ports, UNKNOWN_REMOTE, (), (), None, any_protocol)
    if not any(facts.may_admit(p) for p in _WATCHED_PORTS):
        return None  # 80, 443, egress, UDP...: open to the world on purpose; no need to read the remote
    nets: tuple = ()
    if not _blank(props.get("remoteGroupId")):
        remote = GROUP  # a group that is unknown at preview (created in the same run) is still a group
    elif not _blank(props.get("remoteAddressGroupId")):
        remote = ADDRESS_GROUP  # addresses, read from the group (SecurityCollector), never assumed safe
    else:
        raw = props.get("remoteIpPrefix")
        prefix = _value(raw)
        if prefix is _OPAQUE:
            remote = UNKNOWN_REMOTE
            unknown.append(f"remoteIpPrefix is {_why(raw)}")
        elif _blank(prefix):
            remote = EVERY
            raw_ether = props.get("ethertype")
            ether = _value(raw_ether)
            if isinstance(ether, str) and ether.strip().lower() in ("ipv4", "ipv6"):
                nets = (_EVERY[6 if ether.strip().lower() == "ipv6" else 4],)
            elif _blank(ether):
                nets = (_EVERY[4],)  # Neutron's default ethertype
            else:
                nets = (_EVERY[4], _EVERY[6])  # unknown: either family, so both
        else:
            net = _network(prefix) if isinstance(prefix, str) else None
            if net is None:
                remote = UNKNOWN_REMOTE
                unknown.append(f"remoteIpPrefix {str(prefix)[:60]!r} is not a network")
            else:
                remote, nets = NET, (net,)
    return ingress, tcp, ports, remote, nets, tuple(unknown), any_protocol


def _group_key(view: ResourceView, props: Mapping[str, Any]) -> str:
    """The rule's security group: its id, else the resource it comes from (preview), else the rule alone."""
    return _ref(view, props, "securityGroupId") or "rule:" + view.urn


def public_addresses(nets: Iterable[Any]) -> dict[int, int]:
    """Per IP version, how many public addresses (see :data:`_NOT_PUBLIC`) the union of ``nets`` holds."""
    return dict(_public(tuple(sorted(set(nets), key=lambda n: (n.version, n)))))


@functools.lru_cache(maxsize=4096)
def _public(nets: tuple) -> tuple:
    """:func:`public_addresses` of a sorted tuple (estates repeat a few shapes of groups many times)."""
    out: dict[int, int] = {}
    for version in (4, 6):
        mine = [n for n in nets if n.version == version]
        if not mine:
            continue
        total = 0
        for net in ipaddress.collapse_addresses(mine):
            count = net.num_addresses
            for private in _NOT_PUBLIC[version]:
                if private.subnet_of(net):
                    count -= private.num_addresses
                elif net.subnet_of(private):
                    count = 0
            total += count
        out[version] = total
    return tuple(out.items())


def world_open(nets: Iterable[Any]) -> bool:
    """Do these prefixes, together, admit more public addresses than a /8 of their IP version holds?"""
    return any(n > 2 ** (_BITS[v] - WORLD_PREFIX) for v, n in public_addresses(nets).items())


def _names(rules: Iterable[RuleFacts]) -> str:
    return ", ".join(resource_label(r.urn) if r.urn else "the rule" for r in rules)


def _where(rules: list[RuleFacts]) -> str:
    shown = []
    for r in rules:
        if r.remote == EVERY:
            shown.append(
                f"every address ({', '.join(str(n) for n in r.nets)}: no remoteIpPrefix, remoteGroupId or "
                "remoteAddressGroupId)"
            )
        else:
            shown += [str(n) for n in r.nets]
    return ", ".join(dict.fromkeys(shown))


_REMEDY = {
    "ssh-open-to-world": "restrict remoteIpPrefix to your administration network (your office's or VPN's prefix) or "
    "set remoteGroupId to a bastion's security group",
    "database-open-to-world": "allow only the application tier: set remoteGroupId to the web servers' security group "
    "or remoteIpPrefix to the private subnet",
}
_SENSITIVE = (("ssh-open-to-world", SSH_PORTS), ("database-open-to-world", DATABASE_PORTS))


def _span(r: RuleFacts, what: str) -> str:
    lo, hi = r.ports or (1, 65535)
    if lo == hi:
        return what
    if r.any_protocol:
        span = "every protocol and port" if (lo, hi) == (1, 65535) else f"ports {lo}-{hi} of every protocol"
    else:
        span = "every TCP port" if (lo, hi) == (1, 65535) else f"TCP {lo}-{hi}"
    return f"{span}, including {what},"


def group_issues(rules: list[RuleFacts]) -> list[tuple[str, str, tuple[RuleFacts, ...]]]:
    """``(rule id, message, rules named)`` for the rules of ONE security group.

    For each sensitive port, the union of the prefixes of the rules that admit it is world-open when it holds
    more public addresses than a /8 (``0.0.0.0/1`` + ``128.0.0.0/1`` is the whole internet): ``ssh-open-to-world``
    or ``database-open-to-world``, naming the rules that admit public addresses. Otherwise, when a rule that may
    admit the port has an unknown remote, or the rules whose direction, protocol or ports are unknown would make
    the union world-open: ``unknown-security-rule``, naming them (fails closed).
    """
    out: list[tuple[str, str, tuple[RuleFacts, ...]]] = []
    uncertain: dict[str, RuleFacts] = {}
    for rule_id, ports in _SENSITIVE:
        opened: dict[int, list[RuleFacts]] = {}
        for port in ports:
            sure = [r for r in rules if r.admits(port) and r.remote in (NET, EVERY)]
            sure_nets = [n for r in sure for n in r.nets]
            if world_open(sure_nets):
                opened[port] = [r for r in sure if any(public_addresses(r.nets).values())]
                continue
            maybe = [r for r in rules if r.may_admit(port) and not r.admits(port) and r.remote in (NET, EVERY)]
            blind = [r for r in rules if r.may_admit(port) and r.remote == UNKNOWN_REMOTE]
            if maybe and world_open(sure_nets + [n for r in maybe for n in r.nets]):
                blind += [r for r in maybe if any(public_addresses(r.nets).values())]
            for r in blind:
                uncertain.setdefault(r.urn, r)
        if not opened:
            continue
        named = tuple({r.urn: r for port in opened for r in opened[port]}.values())
        what = " and ".join(f"TCP {p} ({ports[p]})" for p in sorted(opened))
        if len(named) == 1:
            message = f"ingress rule opens {_span(named[0], what)} to {_where(list(named))}"
        else:
            message = (
                f"ingress rules {_names(named)} of one security group together open {what} to "
                f"{_where(list(named))}: more public addresses than a /{WORLD_PREFIX}"
            )
        out.append((rule_id, f"{message}; {_REMEDY[rule_id]}", named))
    # a value that only a preview cannot read (taken from a resource not created yet) is decided when it is known:
    # the pack again during `pulumi up`, the auditor on the state; one that no one can read (a secret, a redaction,
    # a prefix that is no network) never will be
    pending = [r for r in uncertain.values() if r.unknown and all(u.endswith(_PENDING) for u in r.unknown)]
    unreadable = [r for r in uncertain.values() if r not in pending]
    for rule_id, named_list, tail in (
        (
            "unknown-security-rule",
            unreadable,
            "set these values in clear in the program (a prefix is not a secret), or exempt the rules",
        ),
        (
            "unknown-preview-security-rule",
            pending,
            "they are checked once known: by the pack during `pulumi up`, by "
            "`resilient-stack audit` on the stack's export",
        ),
    ):
        if named_list:
            why = "; ".join(
                f"{resource_label(r.urn) if r.urn else 'the rule'}: {', '.join(r.unknown) or 'may widen the union'}"
                for r in named_list
            )
            out.append(
                (
                    rule_id,
                    f"cannot tell whether SSH or a database port is open to the world ({why}); {tail}",
                    tuple(named_list),
                )
            )
    return out


_DESC_EXEMPT = re.compile(re.escape(EXEMPT_KEY) + r"\s*=\s*(?P<why>[^;\n]+)")


def exemption(view: ResourceView) -> str | None:
    """The resource's ``resilient-stack:exempt`` reason, from its labels or (rules) its description."""
    labels = labels_of(view)
    if labels.get(EXEMPT_KEY):
        return labels[EXEMPT_KEY]
    for props in (view.inputs, view.outputs):
        if isinstance(props, dict):
            desc = _value(props.get("description"))
            if isinstance(desc, str):
                m = _DESC_EXEMPT.search(desc)
                if m and m.group("why").strip():
                    return m.group("why").strip()
    return None


def resource_label(urn: str) -> str:
    """`name` (module/Type) of a URN, for messages that are not attached to the resource by the tool."""
    name = urn.rsplit("::", 1)[-1]
    typ = urn.rsplit("::", 2)[-2] if urn.count("::") >= 2 else ""
    typ = typ.rsplit("$", 1)[-1]
    short = typ.split(":", 1)[1] if typ.startswith("openstack:") else typ
    short = short.split(":", 1)[0] if ":" in short else short
    return f"`{name}` ({short})" if short else f"`{name}`"
