"""Security defaults. Pure Python, no Pulumi import.

The ONE implementation of the security rules: the auditor (``resilient-stack audit`` on stack exports and
previews) and the CrossGuard policy pack (``policies/``) both call :class:`SecurityCollector` (the rules of a
security group together) and :func:`check_view` (one resource). Rule ids, descriptions and default levels live in
:mod:`resilient_stack.core.rules` with the placement rules.

  ssh-open-to-world              the ingress rules of one security group
                                 (``openstack:networking/secGroupRule:SecGroupRule``, grouped by
                                 ``securityGroupId``) that admit TCP 22 admit, together, more public addresses
                                 than a /8
  database-open-to-world         the same for 5432 (PostgreSQL) or 3306 (MySQL/MariaDB)
  unknown-security-rule          a rule that may admit one of those ports has a secret, unknown or unreadable
                                 remote prefix, port, protocol or direction (fails closed)
  port-security-disabled         a port (``openstack:networking/port:Port``) or a network with
                                 ``portSecurityEnabled: false``
  plaintext-secret-in-user-data  an ``openstack:compute/instance:Instance`` whose ``userData`` is a plain
                                 string (not a Pulumi secret) carrying password-like material:
                                 ``PGPASSWORD=...``, ``password: ...`` keys, credentials in a URL, a private key,
                                 ``.pgpass`` lines, ``chpasswd`` list entries, key files in ``write_files``; read
                                 as cloud-init reads it (base64, gzip inside unpacked: :mod:`.userdata`), and
                                 packed user data that cannot be read within bounds is a finding too

World-open (the judgement calls, docs/rules.md): the union of the prefixes of a group's rules that admit the
port, counted in PUBLIC addresses (private, shared, loopback and link-local ranges are not reachable from the
internet), is more than a /8 of its IP version: ``0.0.0.0/0``, ``0.0.0.0/1`` + ``128.0.0.0/1``, or ``11.0.0.0/8``
+ ``12.0.0.0/8``, but not ``10.0.0.0/8`` + ``172.16.0.0/12``. A rule with no remote prefix, no ``remoteGroupId``
and no ``remoteAddressGroupId`` admits every address of its ethertype. A remote group is not an address range; a
remote address group (``openstack:networking/addressGroupV2:AddressGroupV2``) admits its ``addresses``, read from
the group in the same input (by id, or the URN a preview took it from), and one that is not there or cannot be
read fails closed. A legacy ``openstack:compute/secGroup:SecGroup`` (pulumi-openstack before v5) holds its ingress
rules inline: each is a rule of that group.
A rule whose group cannot be told (no ``securityGroupId``, and no property dependency naming it) is a group
of its own.

Unknowns fail closed: a rule that may admit a sensitive port (its known direction, protocol and ports do not
exclude it) and whose remote prefix cannot be read is ``unknown-security-rule``, and so are rules whose unknown
direction, protocol or ports would make the union world-open. An unknown ``remoteGroupId`` is still a group (one
created in the same run). A user data that is a secret is exactly what its rule asks for. Never raises on unknown
types or property shapes.

Exemptions: ``resilient-stack:exempt=<reason>`` in an instance's ``metadata`` (or a resource's ``tags``),
or in a security group rule's ``description`` (rules have no tags), waives the resource's findings when the
organisation settings allow that reason (``exemptions:``, :meth:`resilient_stack.core.rules.RuleConfig.honours`);
they stay listed with the reason and whether the exemption is honoured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from resilient_stack.core.resources import ResourceView
from resilient_stack.core.rules import (
    Finding,
    RuleConfig,
    exempted,
    plaintext_secret_in_user_data,
    port_security_disabled,
)
from resilient_stack.core.secgroups import (  # noqa: F401 - the rules' group half, re-exported
    ADDRESS_GROUP,
    NET,
    SSH_PORTS,
    UNKNOWN_REMOTE,
    RuleFacts,
    address_group_nets,
    exemption,
    group_issues,
    inline_rule_facts,
    resource_label,
    rule_facts,
    world_open,
)

SECGROUP_RULE_TYPE = "openstack:networking/secGroupRule:SecGroupRule"
INSTANCE_TYPE = "openstack:compute/instance:Instance"
PORT_TYPE = port_security_disabled.PORT_TYPE
NETWORK_TYPE = "openstack:networking/network:Network"
ADDRESS_GROUP_TYPE = "openstack:networking/addressGroupV2:AddressGroupV2"  # a rule's remoteAddressGroupId
# pulumi-openstack before v5 (nova-network's API): a group with its ingress rules inline, `rules[]` of
# {ipProtocol, fromPort, toPort, cidr, fromGroupId, self}
LEGACY_SECGROUP_TYPE = "openstack:compute/secGroup:SecGroup"


@dataclass(frozen=True, slots=True)
class Issue:
    """One security finding of one resource, before levels and exemptions are applied."""

    rule: str
    message: str


# ---- secret-looking material in user data ----------------------------------------------------


def _user_data_issues(props: Mapping[str, Any]) -> list[Issue]:
    message = plaintext_secret_in_user_data.check(props)
    return [Issue(plaintext_secret_in_user_data.RULE.id, message)] if message else []


def _port_security_issues(type_: str, props: Mapping[str, Any]) -> list[Issue]:
    message = port_security_disabled.check(type_, props)
    return [Issue(port_security_disabled.RULE.id, message)] if message else []


def check_resource(type_: str, props: Mapping[str, Any] | None) -> list[Issue]:
    """The security issues of one resource, from its (input) properties."""
    if not isinstance(props, dict):
        return []
    try:
        if type_ == SECGROUP_RULE_TYPE:  # the rule as a group of its own
            facts = rule_facts(ResourceView("", type_, props))
            return [Issue(rule, message) for rule, message, _ in group_issues([facts])] if facts else []
        if type_ == INSTANCE_TYPE:
            return _user_data_issues(props)
        if type_ in (PORT_TYPE, NETWORK_TYPE):
            return _port_security_issues(type_, props)
    except Exception as exc:  # noqa: BLE001 - a shape we did not foresee is never a crash, and never a pass
        return [
            Issue(
                _UNREADABLE_RULE.get(type_, "unknown-security-rule"),
                f"its properties could not be read ({type(exc).__name__}): what it opens cannot be told; fails closed",
            )
        ]
    return []


# the rule a resource whose properties break the checks is reported under (fails closed)
_UNREADABLE_RULE = {
    SECGROUP_RULE_TYPE: "unknown-security-rule",
    INSTANCE_TYPE: "plaintext-secret-in-user-data",
    PORT_TYPE: "port-security-disabled",
    NETWORK_TYPE: "port-security-disabled",
}


def check_view(view: ResourceView) -> list[Issue]:
    """Security issues of a resource view: its inputs (what the program asked for), else its outputs."""
    props = view.inputs if isinstance(view.inputs, dict) else view.outputs
    return check_resource(view.type, props)


def evaluate_security(views: Iterable[ResourceView], config: RuleConfig | None = None) -> tuple[Finding, ...]:
    """Findings of every enabled security rule on every resource, with levels and exemptions applied."""
    collector = SecurityCollector()
    for view in views:
        collector.add(view)
    return collector.findings(config)


class SecurityCollector:
    """Checks resources as a reader streams them (see ``inspect`` in :mod:`resilient_stack.audit.inputs`),
    keeping only the issues found and the facts of the security group rules that may admit a sensitive port
    (the union of a group's rules is judged at the end), not the resources."""

    TYPES = (SECGROUP_RULE_TYPE, INSTANCE_TYPE, PORT_TYPE, NETWORK_TYPE, ADDRESS_GROUP_TYPE, LEGACY_SECGROUP_TYPE)

    def __init__(self) -> None:
        self._found: list[tuple[str, Issue, str | None]] = []
        self._rules: dict[str, list[RuleFacts]] = {}
        self._address_groups: dict[str, tuple[tuple, str | None]] = {}  # id and URN -> (nets, why unreadable)

    def inspectors(self) -> dict:
        return {t: self.add for t in self.TYPES}

    def add(self, view: ResourceView) -> None:
        if view.type == ADDRESS_GROUP_TYPE:
            read = address_group_nets(view)
            self._address_groups[view.urn] = read
            for props in (view.outputs, view.inputs):  # a state's outputs, the pack's props
                ident = props.get("id") if isinstance(props, dict) else None
                if isinstance(ident, str) and ident.strip():
                    self._address_groups[ident.strip()] = read
            return
        if view.type == LEGACY_SECGROUP_TYPE:
            try:
                facts_list = inline_rule_facts(view)
            except Exception:  # noqa: BLE001 - a shape we did not foresee is never a crash, and never a pass
                facts_list = [
                    RuleFacts(
                        f"{view.urn}#rules",
                        view.urn,
                        None,
                        None,
                        None,
                        UNKNOWN_REMOTE,
                        (),
                        ("its inline rules cannot be read",),
                        None,
                    )
                ]
            for inline in facts_list:
                self._rules.setdefault(inline.group, []).append(inline)
            return
        if view.type == SECGROUP_RULE_TYPE:
            try:
                facts = rule_facts(view)
            except Exception as exc:  # noqa: BLE001 - a shape we did not foresee is never a crash, and never a pass
                facts = RuleFacts(
                    view.urn,
                    "rule:" + view.urn,
                    None,
                    None,
                    None,
                    UNKNOWN_REMOTE,
                    (),
                    (f"its properties cannot be read ({type(exc).__name__})",),
                    None,
                )
            if facts is not None:
                self._rules.setdefault(facts.group, []).append(facts)
            return
        issues = check_view(view)
        if issues:
            exempt = exemption(view)
            self._found.extend((view.urn, issue, exempt) for issue in issues)

    def findings(self, config: RuleConfig | None = None) -> tuple[Finding, ...]:
        config = config or RuleConfig()
        out = []
        for urn, issue, exempt in self._found:
            level = config.level(issue.rule)
            if level != "disabled":
                out.append(
                    Finding(
                        issue.rule,
                        level,
                        None,
                        f"{resource_label(urn)}: {issue.message}",
                        (urn,),
                        exempted([exempt], issue.rule, config),
                    )
                )
        quiet: set = set()  # shapes of groups found to have no issue: estates repeat a few shapes many times
        for group in self._resolved():
            shape = frozenset(r[2:] for r in group) if len(group) < 64 else None
            if shape is not None and shape in quiet:
                continue
            issues = group_issues(group)
            if not issues and shape is not None:
                quiet.add(shape)
            for rule, message, named in issues:
                level = config.level(rule)
                if level == "disabled":
                    continue
                if len(named) == 1:
                    message = f"{resource_label(named[0].urn)}: {message}"
                out.append(
                    Finding(
                        rule,
                        level,
                        None,
                        message,
                        tuple(r.urn for r in named),
                        exempted((r.exempt for r in named), rule, config),
                    )
                )
        return tuple(out)

    def _resolved(self):
        """Each security group's rules, a rule's remote address group replaced by the group's addresses (or, when
        they cannot be read, by an unknown remote: fails closed)."""
        for group in self._rules.values():
            if not any(r.remote == ADDRESS_GROUP for r in group):
                yield group
                continue
            out = []
            for r in group:
                if r.remote != ADDRESS_GROUP:
                    out.append(r)
                    continue
                nets, why = self._address_groups.get(r.address_group or "", ((), None))
                if r.address_group not in self._address_groups:
                    why = (
                        "remoteAddressGroupId names an address group that is not in the input"
                        if r.address_group
                        else "remoteAddressGroupId cannot be read"
                    )
                out.append(
                    r._replace(remote=UNKNOWN_REMOTE, unknown=r.unknown + (why,))
                    if why
                    else r._replace(remote=NET, nets=nets)
                )
            yield out

    def claims(self) -> tuple[tuple[str, str], ...]:
        """(resource, reason) of the exemptions claimed by the resources that have security issues."""
        found = [(urn, why) for urn, _, why in self._found if why]
        found += [(r.urn, r.exempt) for group in self._rules.values() for r in group if r.exempt]
        return tuple(dict.fromkeys(found))
