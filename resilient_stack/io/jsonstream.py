"""Stream the resources of a large JSON document one at a time.

``pulumi stack export`` files of big estates hold hundreds of thousands of resources. Decoding the
whole document keeps every resource alive at once (several times the file's size in memory, and
the garbage collector walks the growing heap again and again). Here only the envelope is walked
by hand; each element of the target array is decoded with the C scanner behind ``raw_decode``, handed
to the caller, and dropped. Same grammar, same errors as :func:`json.loads`.
"""

from __future__ import annotations

import json
from typing import Any, Callable

_WS = json.decoder.WHITESPACE.match  # type: ignore[attr-defined]
_DECODER = json.JSONDecoder()


class StreamError(ValueError):
    """Malformed JSON; the message carries line and column like json's own errors."""


def _err(text: str, pos: int, what: str) -> StreamError:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return StreamError(f"{what}: line {line} column {col} (char {pos})")


def _skip(text: str, pos: int) -> int:
    return _WS(text, pos).end()


_SCAN = _DECODER.scan_once  # the C scanner behind raw_decode, called without raw_decode's Python frame


def _scan_error(text: str, exc: Exception) -> StreamError:
    """raw_decode's error for what the scanner raised: StopIteration(pos) means no value there."""
    if isinstance(exc, StopIteration):
        return _err(text, exc.value, "Expecting value")
    assert isinstance(exc, json.JSONDecodeError)
    return StreamError(f"{exc.msg}: line {exc.lineno} column {exc.colno} (char {exc.pos})")


def _value(text: str, pos: int) -> tuple[Any, int]:
    try:
        return _SCAN(text, pos)
    except (StopIteration, json.JSONDecodeError) as exc:
        raise _scan_error(text, exc) from None


def _array(text: str, pos: int, each: Callable[[Any], None]) -> int:
    if text[pos : pos + 1] != "[":
        # not an array: decode it whole and let the caller complain about its type
        value, end = _value(text, pos)
        each(_NotArray(value))
        return end
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "]":
        return pos + 1
    scan, ws = _SCAN, _WS  # the hot loop of a 100k-resource export: one C call per element
    while True:
        try:
            item, pos = scan(text, pos)
        except (StopIteration, json.JSONDecodeError) as exc:
            raise _scan_error(text, exc) from None
        each(item)
        ch = text[pos : pos + 1]
        if ch != "," and ch != "]":
            pos = ws(text, pos).end()
            ch = text[pos : pos + 1]
        if ch == "]":
            return pos + 1
        if ch != ",":
            raise _err(text, pos, "Expecting ',' delimiter")
        pos = ws(text, pos + 1).end()


class _NotArray:
    def __init__(self, value: Any) -> None:
        self.value = value


def stream_object(text: str, streams: dict[tuple[str, ...], Callable[[Any], None]]) -> Any:
    """Decode the JSON document ``text``; each array at a path in ``streams`` goes to its callback.

    ``streams`` maps a key path (e.g. ``("deployment", "resources")``) to a callback that receives
    the array's elements one by one; they are not kept. The returned document holds ``None`` at
    those paths, so the caller can still inspect the envelope. If a streamed path holds something
    other than an array, its callback receives it wrapped (check with :func:`is_not_array`).
    Raises :class:`StreamError` on malformed JSON (same messages as :func:`json.loads`) and lets
    ``RecursionError`` through for absurd nesting, like :func:`json.loads`.
    """
    trie: dict = {}
    for path, cb in streams.items():
        node = trie
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = cb
    doc, end = _walk(text, _skip(text, 0), trie)
    end = _skip(text, end)
    if end != len(text):
        raise _err(text, end, "Extra data")
    return doc


def _walk(text: str, pos: int, trie: dict) -> tuple[Any, int]:
    if text[pos : pos + 1] != "{":
        return _value(text, pos)
    out: dict = {}
    pos = _skip(text, pos + 1)
    if text[pos : pos + 1] == "}":
        return out, pos + 1
    while True:
        if text[pos : pos + 1] != '"':
            raise _err(text, pos, "Expecting property name enclosed in double quotes")
        key, pos = _value(text, pos)
        pos = _skip(text, pos)
        if text[pos : pos + 1] != ":":
            raise _err(text, pos, "Expecting ':' delimiter")
        pos = _skip(text, pos + 1)
        sub = trie.get(key)
        if callable(sub):
            pos = _array(text, pos, sub)
            out[key] = None
        elif sub:
            out[key], pos = _walk(text, pos, sub)
        else:
            out[key], pos = _value(text, pos)
        pos = _skip(text, pos)
        ch = text[pos : pos + 1]
        if ch == "}":
            return out, pos + 1
        if ch != ",":
            raise _err(text, pos, "Expecting ',' delimiter")
        pos = _skip(text, pos + 1)


def is_not_array(item: Any) -> bool:
    return isinstance(item, _NotArray)
