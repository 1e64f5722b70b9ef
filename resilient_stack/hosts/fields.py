"""Checks of the values the host renderers take: each raises ``ValueError`` with one line naming the value.

The renderers (:mod:`.web`, :mod:`.database`, :mod:`.backup`) and their validation entry points use these;
a value that passes is safe to put in a payload (single line, no shell or conninfo metacharacter where
the payload does not quote it). Patterns are applied with ``fullmatch``: a trailing line break, which ``$``
lets through, is refused. Pure: standard library only.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from resilient_stack.core.vocabulary import HOST_LABEL_RE, SQL_IDENT_RE, SSH_PUBLIC_KEY_RE

MIN_PASSWORD_LEN = 12
STANZA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")  # a pgBackRest stanza
CALENDAR_RE = re.compile(r"^[A-Za-z0-9*:,./ ~-]{1,64}$")  # a systemd OnCalendar expression, loosely
REPO_PATH_RE = re.compile(r"^/[A-Za-z0-9_./-]*$")  # a path inside a bucket
SERVER_NAME_RE = re.compile(r"^(_|[A-Za-z0-9*.-]+( [A-Za-z0-9*.-]+)*)$")  # nginx server_name


def single_line(value: Any, name: str, *, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) < min_len:
        if min_len == 1:
            raise ValueError(f"{name} must not be empty")
        raise ValueError(f"{name} must be at least {min_len} characters long")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{name} must not contain control characters or newlines")
    return value


def host(value: Any, name: str) -> str:
    """A DNS name or an IPv4/IPv6 address, nothing a shell or a conninfo string could misread."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty host name or IP address")
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(HOST_LABEL_RE.fullmatch(label) for label in labels):
        raise ValueError(f"{name} is not a valid host name or IP address: {value!r}")
    return value


def sql_ident(value: Any, name: str) -> str:
    if not isinstance(value, str) or not SQL_IDENT_RE.fullmatch(value):
        raise ValueError(
            f"{name} must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters), got {value!r}"
        )
    return value


def password(value: Any, name: str) -> str:
    return single_line(value, name, min_len=MIN_PASSWORD_LEN)


def cidrs(values: Any, name: str, *, allow_empty: bool = False) -> list[str]:
    """Networks PostgreSQL admits: canonical, deduplicated, never ``/0``."""
    if isinstance(values, str) or not isinstance(values, (list, tuple)):
        raise ValueError(f"{name} must be a list of CIDR networks like ['10.0.0.0/24'], got {values!r}")
    if not values and not allow_empty:
        raise ValueError(f"{name} must name at least one CIDR network")
    out: list[str] = []
    for c in values:
        if not isinstance(c, str):
            raise ValueError(f"{name}: {c!r} is not a CIDR network string")
        try:
            net = ipaddress.ip_network(c, strict=True)
        except ValueError as exc:
            raise ValueError(f"{name}: {c!r} is not a valid CIDR network ({exc})") from None
        if "/" not in c:
            raise ValueError(f"{name}: {c!r} has no prefix length; write e.g. '{c}/32'")
        if net.prefixlen == 0:
            raise ValueError(f"{name}: {c!r} would open PostgreSQL to the whole Internet; name the private networks")
        if str(net) not in out:
            out.append(str(net))
    return out


LABEL_MAX = 200  # a label's or a title's characters at most


def label(value: Any, name: str, *, max_len: int = LABEL_MAX) -> str:
    single_line(value, name, min_len=1)
    if not value.strip():
        raise ValueError(f"{name} must not be blank")
    if len(value) > max_len:
        raise ValueError(f"{name} must be at most {max_len} characters long")
    return value


def ssh_keys(keys: Any) -> list[str]:
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
        raise ValueError("ssh_authorized_keys must be a list of public key lines")
    out = []
    for k in keys:
        single_line(k, "ssh_authorized_keys entry")
        if not SSH_PUBLIC_KEY_RE.fullmatch(k):
            raise ValueError(f"ssh_authorized_keys entry does not look like an OpenSSH public key: {k[:30]!r}...")
        out.append(k)
    return out


def hostname(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not HOST_LABEL_RE.fullmatch(value):
        raise ValueError(f"hostname must be a single DNS label (letters, digits, '-'), got {value!r}")
    return value


def integer(value: Any, name: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value!r}")
    return value


def calendar(value: Any, name: str) -> str:
    if not isinstance(value, str) or not CALENDAR_RE.fullmatch(value):
        raise ValueError(f"{name} must be a systemd OnCalendar expression, got {value!r}")
    return value
