"""Read a large JSON document fast, in bounded memory, refusing duplicate keys.

``pulumi stack export`` files of big estates hold hundreds of thousands of resources. Decoding the whole
document into Python objects keeps every resource alive at once (five times the file in memory). Here the
document is first compacted by msgspec's C formatter (which also validates it), the envelope is walked as
``{key: raw bytes}`` levels, and every element of a streamed array is decoded on its own, handed to the
caller and dropped.

Duplicate keys: JSON parsers keep the LAST of two equal keys, so ``{"type": "...Instance", "type":
"...Network"}`` would hide an instance. Every object of the document is checked: an object decoded by
msgspec and encoded again is exactly as long as its compacted text unless a key was dropped (or a string or
number is spelled differently, e.g. ``\\u0041`` for ``A``); only then is that object decoded again by the
standard library with a hook that names the duplicate, and the line is found by a token scan of the
original text. The check costs one C encode per element.

Errors are :class:`StreamError` with the line and column of the original text, or the path of the value.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import msgspec

_ENC = msgspec.json.Encoder()
_GENERIC = msgspec.json.Decoder()
_ENVELOPE = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ARRAY = msgspec.json.Decoder(list[msgspec.Raw])
_BYTE = re.compile(r"\(byte (\d+)\)")


class StreamError(ValueError):
    """Malformed JSON, or a duplicate key; the message carries line and column (or the value's path)."""


class DuplicateKey(StreamError):
    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


class _Lazy(bytes):
    """Stands for the original bytes, read again only when an error needs a line number."""

    def __new__(cls, reread: Callable[[], bytes]) -> "_Lazy":
        obj = super().__new__(cls, b"")
        obj._reread = reread  # type: ignore[attr-defined]
        return obj


def _original(data: bytes) -> bytes:
    if isinstance(data, _Lazy):
        raw = data._reread()  # type: ignore[attr-defined]
        return raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    return data


class _NotArray:
    def __init__(self, value: Any) -> None:
        self.value = value


def is_not_array(item: Any) -> bool:
    return isinstance(item, _NotArray)


def _line_col(data: bytes, pos: int) -> str:
    pos = max(0, min(pos, len(data)))
    line = data.count(b"\n", 0, pos) + 1
    col = pos - (data.rfind(b"\n", 0, pos) + 1) + 1
    return f"line {line} column {col} (char {pos})"


def _malformed(data: bytes, exc: Exception) -> StreamError:
    text = str(exc).removeprefix("JSON is malformed: ")
    m = _BYTE.search(text)
    if m:
        return StreamError(f"{_BYTE.sub('', text).strip()}: {_line_col(data, int(m.group(1)))}")
    return StreamError(text)


# ---- the precise path: only for an object whose re-encoded length differs ------------------------


class _Dup(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _pairs(pairs: list) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set = set()
        for k, _ in pairs:
            if k in seen:
                raise _Dup(k)
            seen.add(k)
    return out


_STRICT = json.JSONDecoder(object_pairs_hook=_pairs)
_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]:,]')


def first_duplicate(data: bytes) -> tuple[str, int] | None:
    """(key, byte offset) of the first duplicate key of the document, by a token scan (error path only)."""
    stack: list[Any] = []  # a set of keys for an object, None for an array
    expect_key = False
    for m in _TOKEN.finditer(data):
        tok = m.group()
        c = tok[:1]
        if c == b"{":
            stack.append(set())
            expect_key = True
        elif c == b"[":
            stack.append(None)
            expect_key = False
        elif c in (b"}", b"]"):
            if stack:
                stack.pop()
            expect_key = False
        elif c == b",":
            expect_key = bool(stack) and stack[-1] is not None
        elif c == b":":
            expect_key = False
        elif expect_key:
            keys = stack[-1]
            key = json.loads(tok)
            if key in keys:
                return key, m.start()
            keys.add(key)
            expect_key = False
    return None


def _duplicate_error(data: bytes, key: str) -> DuplicateKey:
    data = _original(data)
    found = first_duplicate(data)
    if found is not None:
        key, pos = found
        return DuplicateKey(f"duplicate key {key!r} at {_line_col(data, pos)}: which value counts is ambiguous", key)
    return DuplicateKey(f"duplicate key {key!r}: which value counts is ambiguous", key)


def _check(raw: Any, value: Any, data: bytes, force: bool = False) -> None:
    """Raise DuplicateKey when ``value`` (decoded from the compact ``raw``) lost a key of ``raw``.

    Equal lengths prove no key was dropped unless a ``\\uXXXX`` escape could make up the difference: then,
    and whenever the lengths differ, the standard library decodes the object again and names the duplicate.
    """
    if not force and len(_ENC.encode(value)) == len(raw) and b"\\u" not in bytes(raw):
        return
    try:
        _STRICT.decode(bytes(raw).decode("utf-8"))
    except _Dup as dup:
        raise _duplicate_error(data, dup.key) from None
    except (ValueError, RecursionError):
        pass  # malformed input is reported by the fast path


def _decode(raw: Any, data: bytes, where: str) -> Any:
    try:
        value = _GENERIC.decode(raw)
    except msgspec.ValidationError as exc:  # e.g. an integer of 5,000 digits, 1e400
        raise StreamError(f"{exc} in {where}") from None
    except msgspec.DecodeError as exc:
        raise StreamError(f"{str(exc).removeprefix('JSON is malformed: ')} in {where}") from None
    except UnicodeDecodeError:
        raise StreamError(f"a string that is not UTF-8 in {where}") from None
    _check(raw, value, data)
    return value


def _envelope(raw: Any, data: bytes, where: str, escapes: bool = True) -> dict[str, Any]:
    try:
        env = _ENVELOPE.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise StreamError(f"{exc} in {where}") from None
    # the length the compact object would have without a dropped key, from its keys and the raw values'
    # lengths: encoding the envelope would copy the whole document (the resources are one of its values)
    length = 2 + sum(len(_ENC.encode(k)) + 1 + len(v) for k, v in env.items()) + max(len(env) - 1, 0)
    if length != len(raw) or escapes:
        _check(raw, env, data, force=length != len(raw) or b"\\u" in bytes(raw))
    return env


def stream_object(
    data: bytes | list[bytes],
    streams: dict[tuple[str, ...], Callable[[Any], None]],
    reread: Callable[[], bytes] | None = None,
) -> Any:
    """Decode the JSON document ``data``; each array at a path in ``streams`` goes to its callback.

    ``streams`` maps a key path (e.g. ``("deployment", "resources")``) to a callback that receives the
    array's elements one by one; they are not kept. The returned document holds ``None`` at those paths, so
    the caller can still inspect the envelope. If a streamed path holds something other than an array, its
    callback receives it wrapped (check with :func:`is_not_array`). Raises :class:`StreamError` on malformed
    JSON or a duplicate key, and lets ``RecursionError`` through for absurd nesting.

    Memory: ``data`` may be given in a one-element list that this function empties; with ``reread`` (which
    reads the same bytes again, for the line number of an error) the original is then dropped once compacted,
    so the file is held once, not twice.
    """
    if isinstance(data, list):
        data = data.pop()
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if not data or data.isspace():  # msgspec would say "truncated"; no copy of a big file (not .strip())
        raise StreamError("Expecting value: line 1 column 1 (char 0)")
    try:
        compact = msgspec.json.format(data, indent=-1)
    except msgspec.DecodeError as exc:
        raise _malformed(data, exc) from None
    if reread is not None:
        del data
        data = _Lazy(reread)  # type: ignore[assignment]
    if not compact:
        raise StreamError("Expecting value: line 1 column 1 (char 0)")
    trie: dict = {}
    for path, cb in streams.items():
        node = trie
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = cb
    return _walk(compact, data, trie, "the document", b"\\u" in compact)


def _walk(raw: Any, data: bytes, trie: dict, where: str, escapes: bool = True) -> Any:
    if not trie or bytes(memoryview(raw)[:1]) != b"{":
        return _decode(raw, data, where)
    out: dict[str, Any] = {}
    for key, value in _envelope(raw, data, where, escapes).items():
        sub = trie.get(key)
        path = key if where == "the document" else f"{where}.{key}"
        if callable(sub):
            _array(value, data, sub, path, escapes)
            out[key] = None
        elif sub:
            out[key] = _walk(value, data, sub, path, escapes)
        else:
            out[key] = _decode(value, data, path)
    return out


def _array(raw: Any, data: bytes, each: Callable[[Any], None], where: str, escapes: bool = True) -> None:
    if bytes(memoryview(raw)[:1]) != b"[":
        each(_NotArray(_decode(raw, data, where)))
        return
    items: list = _ARRAY.decode(raw)
    del raw
    decode, encode = _GENERIC.decode, _ENC.encode
    for i, item in enumerate(items):
        try:
            value = decode(item)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError):
            value = _decode(item, data, f"{where}[{i}]")  # raises with the path
        if len(encode(value)) != len(item) or (escapes and b"\\u" in memoryview(item).tobytes()):
            _check(item, value, data, force=True)
        items[i] = None  # the element's bytes belong to the compact text; drop the view as we go
        each(value)


def loads(data: bytes | str) -> Any:
    """A whole (small) JSON document, duplicate keys refused."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    return stream_object(data, {})
