"""The host payloads: files shipped in ``resilient_stack/hosts/payloads/``, filled from data by a strict template.

A payload is the text of a file the hosts receive (a shell script, SQL, an nginx site, PostgreSQL settings,
pgBackRest's INI, a systemd unit) or a fragment of one, written as it lands on the host except for its
placeholders. A placeholder is ``{{name}}`` (lower-case letters, digits, ``_``): a syntax that appears in none
of those languages (bash ``$x``/``${x}``, nginx ``$host``, psql ``:'var'``, systemd ``%i`` and ``unit@.service``
stay as they are, with no escaping). The rules, all checked at every rendering:

* every placeholder of the payload gets a value, and every value given fills a placeholder (a typo on either
  side is a :class:`PayloadError`, not a silently empty or ignored value);
* any other ``{{`` in a payload is an error (no escape syntax is needed, so none exists);
* a value is either one line (``str`` without line breaks, or ``int``) put in place of its placeholder, or a
  :class:`Lines` block, whose placeholder must stand alone on its line: that line becomes the block's lines
  (none at all for an empty block). The Python callers choose and validate the values; the payloads hold the
  text.

Values are never re-read for placeholders, so a password or a label containing ``{{x}}`` stays as it is.
Pure: standard library only (payloads read with :mod:`importlib.resources`, so an installed package works).
"""

from __future__ import annotations

import re
import string
from functools import lru_cache
from importlib import resources
from typing import Any, ClassVar, Iterable, Mapping, Union

from resilient_stack.io.errors import ResilientStackError

__all__ = ["Lines", "PayloadError", "PayloadTemplate", "lines", "load", "names", "render"]

PACKAGE = "resilient_stack.hosts"
FOLDER = "payloads"


class PayloadError(ResilientStackError, ValueError):
    """A payload and its values do not match (unknown or unused placeholder, misplaced block, bad value)."""


class Lines(tuple):
    """A block value: whole lines (without their line breaks) replacing a placeholder that stands alone on its line."""

    def __new__(cls, lines: Iterable[str] = ()) -> "Lines":
        return super().__new__(cls, lines)


Value = Union[str, int, Lines]

_IDENT = r"[a-z][a-z0-9_]*"  # a placeholder's name


class PayloadTemplate(string.Template):
    """``string.Template`` with ``{{name}}`` placeholders and no escape; see the module documentation.

    ``get_identifiers()`` and ``is_valid()`` work as for ``string.Template``; :meth:`fill` is the strict
    substitution the renderers use (``substitute`` and ``safe_substitute`` are not strict enough: they
    neither refuse unused values nor know blocks).
    """

    flags = 0  # type: ignore[assignment]  # case-sensitive: {{Name}} is not a placeholder but an error
    pattern: ClassVar[Any] = rf"""
        \{{\{{(?:
            (?P<escaped>(?!))                 |  # no escape syntax: '{{{{' is always a placeholder
            (?P<named>{_IDENT})\}}\}}           |
            (?P<braced>(?!))                  |
            (?P<invalid>)                        # any other '{{{{'
        )
    """

    def __init__(self, template: str, name: str = "<payload>") -> None:
        super().__init__(template)
        self.name = name
        if not self.is_valid():
            where = self._invalid_at()
            raise PayloadError(f"{name}:{where}: '{{{{' starts no placeholder (write {{{{name}}}}: a-z, 0-9, _)")

    def _invalid_at(self) -> str:
        for m in self.pattern.finditer(self.template):  # type: ignore[attr-defined]
            if m.group("invalid") is not None:
                line = self.template.count("\n", 0, m.start()) + 1
                col = m.start() - (self.template.rfind("\n", 0, m.start()) + 1) + 1
                return f"{line}:{col}"
        return "?"  # pragma: no cover - is_valid() said there is one

    def fill(self, values: Mapping[str, Value]) -> str:
        """The payload with every placeholder replaced; :class:`PayloadError` unless values and placeholders match."""
        wanted = set(self.get_identifiers())
        given = set(values)
        if wanted - given:
            raise PayloadError(f"{self.name}: no value for placeholder(s) {', '.join(sorted(wanted - given))}")
        if given - wanted:
            raise PayloadError(f"{self.name}: value(s) {', '.join(sorted(given - wanted))} fill no placeholder")
        for key, value in values.items():
            _check_value(self.name, key, value)

        def fill_one(m: re.Match[str]) -> str:
            if m.group("block") is not None:  # a placeholder alone on its line (with its line break, if any)
                value = values[m.group("block")]
                if isinstance(value, Lines):
                    return "".join(f"{item}\n" for item in value)
                return f"{value}{m.group('eol')}"
            value = values[m.group("inline")]
            if isinstance(value, Lines):
                raise PayloadError(f"{self.name}: the block {{{{{m.group('inline')}}}}} must stand alone on its line")
            return str(value)

        # one pass: the values are never scanned for placeholders
        return _FILL.sub(fill_one, self.template)


_FILL = re.compile(rf"^\{{\{{(?P<block>{_IDENT})\}}\}}(?P<eol>\n|\Z)|\{{\{{(?P<inline>{_IDENT})\}}\}}", re.M)


def _check_value(payload: str, key: str, value: object) -> None:
    if isinstance(value, Lines):
        for item in value:
            if not isinstance(item, str) or "\n" in item or "\r" in item:
                raise PayloadError(f"{payload}: block {key} holds {item!r}, not one line of text")
        return
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise PayloadError(f"{payload}: {key} is a {type(value).__name__}; give a str, an int or Lines")
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        raise PayloadError(f"{payload}: {key} must be one line (use Lines for a block)")


@lru_cache(maxsize=None)
def load(name: str) -> PayloadTemplate:
    """The payload ``name`` (a path under ``payloads/``, e.g. ``"shell/db-start.sh"``), parsed once."""
    if not re.fullmatch(r"[a-z0-9_-]+(/[a-z0-9_@.-]+)+", name) or ".." in name:
        raise PayloadError(f"{name!r} is not a payload name")
    node = resources.files(PACKAGE).joinpath(FOLDER, *name.split("/"))
    try:
        data = node.read_bytes()
    except FileNotFoundError:
        raise PayloadError(f"no payload {name!r} in the package (resilient_stack/hosts/{FOLDER}/)") from None
    text = data.decode("utf-8")
    if "\r" in text:
        raise PayloadError(f"{name}: carriage return in a payload (payloads are Unix text)")
    return PayloadTemplate(text, name)


def render(name: str, **values: Value) -> str:
    """Payload ``name`` filled with ``values`` (see the module documentation for the rules)."""
    return load(name).fill(values)


def lines(name: str, **values: Value) -> Lines:
    """Payload ``name`` filled, as a block for another payload (a fragment: whole lines)."""
    return Lines(render(name, **values).splitlines())


def names() -> list[str]:
    """Every payload shipped with the package (``"shell/db-start.sh"``...), sorted."""
    out: list[str] = []

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif not child.name.startswith("."):
                out.append(f"{prefix}{child.name}")

    walk(resources.files(PACKAGE).joinpath(FOLDER), "")
    return sorted(out)
