"""Security defaults, checked per resource. Pure Python, no Pulumi import.

The ONE implementation of the security rules: the auditor (``resilient-stack audit`` on stack
exports and previews) and the CrossGuard policy pack (``policies/``) both call :func:`check_view`.
Rule ids, descriptions and default levels live in :mod:`resilient_stack.core.rules` with the placement rules.

  ssh-open-to-world              an ``openstack:networking/secGroupRule:SecGroupRule`` ingress rule whose
                                 TCP port range covers 22 and whose remote is the whole internet
  database-open-to-world         the same for 5432 (PostgreSQL) or 3306 (MySQL/MariaDB)
  plaintext-secret-in-user-data  an ``openstack:compute/instance:Instance`` whose ``userData`` is a plain
                                 string (not a Pulumi secret) carrying password-like material:
                                 ``PGPASSWORD=...``, ``password: ...`` keys, credentials in a URL, a private key

"The whole internet" is a ``remoteIpPrefix`` with prefix length 0 (``0.0.0.0/0``, ``::/0``), or no
remote prefix, no ``remoteGroupId`` and no ``remoteAddressGroupId`` at all (Neutron then admits every
address of the rule's ethertype).

Values that cannot be read -- unknown at preview, Pulumi secrets, ``[secret]`` redactions -- never make a
finding: a rule whose remote prefix is unknown cannot be judged, and a user data that is a secret is
exactly what the rule asks for. Never raises on unknown types or property shapes.

Exemptions: ``resilient-stack:exempt=<reason>`` in an instance's ``metadata`` (or a resource's ``tags``),
or in a security group rule's ``description`` (rules have no tags), waives the resource's findings;
they stay listed with the reason.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from resilient_stack.core.resources import ResourceView, role_of
from resilient_stack.core.rules import Finding, RuleConfig
from resilient_stack.core.vocabulary import (
    DATABASE_PORTS,
    EXEMPT_KEY,
    REDACTED,
    SECRET_SIG,
    SSH_PORT,
    UNKNOWN,
)

SECGROUP_RULE_TYPE = "openstack:networking/secGroupRule:SecGroupRule"
INSTANCE_TYPE = "openstack:compute/instance:Instance"

SSH_PORTS = {SSH_PORT: "SSH"}
_TCP = {"", "any", "tcp", "6"}
_WATCHED_PORTS = (*SSH_PORTS, *DATABASE_PORTS)


@dataclass(frozen=True, slots=True)
class Issue:
    """One security finding of one resource, before levels and exemptions are applied."""

    rule: str
    message: str


class _Opaque:
    pass


_OPAQUE = _Opaque()


def _value(v: Any) -> Any:
    """A readable value, or _OPAQUE for unknowns, secrets and redactions."""
    if type(v) is dict and SECRET_SIG in v:  # exact type: ABC checks are slow on 100k resources
        return _OPAQUE
    if isinstance(v, str) and v in (UNKNOWN, REDACTED):
        return _OPAQUE
    return v


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


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


def _world(props: Mapping[str, Any]) -> str | None:
    """How the rule admits the whole internet ("0.0.0.0/0", ...), or None (restricted or unknowable)."""
    prefix = _value(props.get("remoteIpPrefix"))
    if prefix is _OPAQUE:
        return None
    if not _blank(prefix):
        if not isinstance(prefix, str):
            return None
        return prefix.strip() if _whole_internet(prefix.strip()) else None
    for key in ("remoteGroupId", "remoteAddressGroupId"):
        # a remote group that is unknown at preview (created in the same run) is still a group
        if not _blank(props.get(key)):
            return None
    ether = _value(props.get("ethertype"))
    every = "::/0" if isinstance(ether, str) and ether.strip().lower() == "ipv6" else "0.0.0.0/0"
    return f"every address ({every}: no remoteIpPrefix, remoteGroupId or remoteAddressGroupId)"


@functools.lru_cache(maxsize=4096)
def _whole_internet(prefix: str) -> bool:
    """True for a prefix of length 0 (0.0.0.0/0, ::/0); estates repeat a few prefixes many times."""
    try:
        return ipaddress.ip_network(prefix, strict=False).prefixlen == 0
    except ValueError:
        return False


def _secgroup_rule_issues(props: Mapping[str, Any]) -> list[Issue]:
    direction = _value(props.get("direction"))
    if not isinstance(direction, str) or direction.strip().lower() != "ingress":
        return []
    proto = _value(props.get("protocol"))
    if proto is _OPAQUE:
        return []
    proto_s = "" if proto is None else str(proto).strip().lower()
    if proto_s not in _TCP:
        return []  # udp, icmp, ...: SSH and the databases listen on TCP
    low, high = _port(props.get("portRangeMin")), _port(props.get("portRangeMax"))
    if low is _OPAQUE or high is _OPAQUE:
        return []
    lo, hi = low or 1, high or 65535
    for p in _WATCHED_PORTS:
        if lo <= p <= hi:
            break
    else:
        return []  # 80, 443...: open to the world on purpose; no need to read the remote
    where = _world(props)
    if where is None:
        return []
    if proto_s in ("", "any"):
        span = "every protocol and port" if (lo, hi) == (1, 65535) else f"ports {lo}-{hi} of every protocol"
    else:
        span = "every TCP port" if (lo, hi) == (1, 65535) else (f"TCP {lo}" if lo == hi else f"TCP {lo}-{hi}")

    def opens(ports: dict[int, str]) -> str | None:
        hit = [f"{p} ({name})" if lo != hi else f"({name})" for p, name in sorted(ports.items()) if lo <= p <= hi]
        if not hit:
            return None
        if lo == hi:
            return f"ingress rule opens {span} {hit[0]} to {where}"
        return f"ingress rule opens {span}, including TCP {' and '.join(hit)}, to {where}"

    issues = []
    ssh = opens(SSH_PORTS)
    if ssh:
        issues.append(Issue(
            "ssh-open-to-world",
            f"{ssh}; restrict remoteIpPrefix to your administration network (e.g. 198.51.100.0/24) or set "
            "remoteGroupId to a bastion's security group",
        ))
    db = opens(DATABASE_PORTS)
    if db:
        issues.append(Issue(
            "database-open-to-world",
            f"{db}; allow only the application tier: set remoteGroupId to the web servers' security group "
            "or remoteIpPrefix to the private subnet",
        ))
    return issues


# ---- secret-looking material in user data ----------------------------------------------------

_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# KEY=value, key: value, "key": "value", --key=value, key = value; the key ENDS with a secret word
_ASSIGN = re.compile(
    r"""(?P<key>[A-Za-z0-9_.-]*?(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|pwd))"""
    r"""["']?[ \t]*(?:=|:(?!//))[ \t]*(?P<val>[^\r\n]*)""",
    re.IGNORECASE,
)
_URL_CRED = re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s:/@'\"]+:(?P<val>[^\s@/'\"]+)@", re.IGNORECASE)
_NOT_A_VALUE = {"null", "none", "~", "true", "false", "yes", "no", "''", '""'}
_INDIRECT = ("$", "`", "{{", "<", "%(", "*", "&", "!", "/", "{", "[", "|", ">")
_NOT_KEYS = {"pwd", "oldpwd"}  # the shell's working directory, not a password


def _first_value(val: str, sep: str) -> str:
    """The value after ``key=``/``key:``: a quoted string, else (``=``) one word or (``:``) the rest of the line."""
    v = val.strip()
    if v[:1] in ("'", '"'):
        end = v.find(v[0], 1)
        return v[1:end] if end > 0 else v[1:]
    if sep == "=":
        return v.split(None, 1)[0] if v else ""
    return v.split(" #", 1)[0].strip()


def _literal(val: str) -> bool:
    """Is this the literal text of a secret (not empty, a reference, a path or a YAML block)?"""
    v = val.strip().rstrip(",;").strip()
    if len(v) < 4 or v.lower() in _NOT_A_VALUE:
        return False
    return not v.startswith(_INDIRECT)


def _lineno(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def secret_material(text: str) -> list[str]:
    """What in ``text`` looks like a literal secret, described WITHOUT the secret (e.g. "`PGPASSWORD=` (line 3)")."""
    hits: list[tuple[int, str]] = []
    for m in _PEM.finditer(text):
        hits.append((m.start(), f"a private key (line {_lineno(text, m.start())})"))
    for m in _ASSIGN.finditer(text):
        key = m.group("key")
        if key.lower().lstrip("-") in _NOT_KEYS:
            continue
        # the key must start a word: "PGPASSWORD" and "db_password" do, "mypwd" in "cd $mypwd" does not matter
        start = m.start("key")
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_"):
            continue
        sep = "=" if "=" in m.group(0)[len(key):m.start("val") - m.start()] else ":"
        if _literal(_first_value(m.group("val"), sep)):
            hits.append((start, f"`{key}{sep}` (line {_lineno(text, start)})"))
    for m in _URL_CRED.finditer(text):
        if _literal(m.group("val")):
            hits.append((m.start(), f"a password in a URL (line {_lineno(text, m.start())})"))
    hits.sort()
    return [h for _, h in hits]


def _decoded(text: str) -> str | None:
    """The text of a base64-encoded user data, if it is one."""
    compact = "".join(text.split())
    if len(compact) < 16 or len(compact) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact):
        return None
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def _user_data_issues(props: Mapping[str, Any]) -> list[Issue]:
    raw = _value(props.get("userData"))
    if not isinstance(raw, str) or not raw.strip():
        return []  # absent, unknown at preview, a Pulumi secret or a redacted secret
    found = secret_material(raw)
    decoded = _decoded(raw)
    if not found and decoded:
        found = [f"{h} of the base64-decoded text" for h in secret_material(decoded)]
    if not found:
        return []
    shown = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "")
    return [Issue(
        "plaintext-secret-in-user-data",
        f"userData is a plain string carrying secret material: {shown}; pass it as a Pulumi secret "
        "(pulumi.Output.secret(...) or config.require_secret) so it is encrypted in the state, or let the "
        "instance fetch the secret at boot (e.g. from Barbican) instead of writing it into user data",
    )]


def check_resource(type_: str, props: Mapping[str, Any] | None) -> list[Issue]:
    """The security issues of one resource, from its (input) properties."""
    if not isinstance(props, dict):
        return []
    try:
        if type_ == SECGROUP_RULE_TYPE:
            return _secgroup_rule_issues(props)
        if type_ == INSTANCE_TYPE:
            return _user_data_issues(props)
    except Exception:  # noqa: BLE001 - a shape we did not foresee is not a finding, and never a crash
        return []
    return []


def check_view(view: ResourceView) -> list[Issue]:
    """Security issues of a resource view: its inputs (what the program asked for), else its outputs."""
    props = view.inputs if isinstance(view.inputs, dict) else view.outputs
    return check_resource(view.type, props)


_DESC_EXEMPT = re.compile(re.escape(EXEMPT_KEY) + r"\s*=\s*(?P<why>[^;\n]+)")


def exemption(view: ResourceView) -> str | None:
    """The resource's ``resilient-stack:exempt`` reason, from its labels or (rules) its description."""
    _, labels = role_of(view)
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


def evaluate_security(views: Iterable[ResourceView], config: RuleConfig | None = None) -> tuple[Finding, ...]:
    """Findings of every enabled security rule on every resource, with levels and exemptions applied."""
    collector = SecurityCollector()
    for view in views:
        collector.add(view)
    return collector.findings(config)


class SecurityCollector:
    """Checks resources as a reader streams them (see ``inspect`` in :mod:`resilient_stack.audit.inputs`),
    keeping only the issues found, not the resources."""

    TYPES = (SECGROUP_RULE_TYPE, INSTANCE_TYPE)

    def __init__(self) -> None:
        self._found: list[tuple[str, Issue, str | None]] = []

    def inspectors(self) -> dict:
        return {t: self.add for t in self.TYPES}

    def add(self, view: ResourceView) -> None:
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
                out.append(Finding(issue.rule, level, None, f"{resource_label(urn)}: {issue.message}", (urn,), exempt))
        return tuple(out)


def resource_label(urn: str) -> str:
    """`name` (module/Type) of a URN, for messages that are not attached to the resource by the tool."""
    name = urn.rsplit("::", 1)[-1]
    typ = urn.rsplit("::", 2)[-2] if urn.count("::") >= 2 else ""
    typ = typ.rsplit("$", 1)[-1]
    short = typ.split(":", 1)[1] if typ.startswith("openstack:") else typ
    short = short.split(":", 1)[0] if ":" in short else short
    return f"`{name}` ({short})" if short else f"`{name}`"
