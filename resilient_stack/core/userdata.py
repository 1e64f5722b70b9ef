"""An instance's user data read the way cloud-init reads it, and the secret material it carries. Pure.

Used by ``plaintext-secret-in-user-data`` (:mod:`resilient_stack.core.security`):

* :func:`unpacked`: Nova hands cloud-init the bytes of the base64 the program gave it, and cloud-init unpacks gzip
  by itself; so user data that is base64 is decoded, and gzip inside is unpacked, at most :data:`MAX_UNPACKED`
  bytes (:class:`Unreadable` beyond, or when the gzip is damaged: a check never passes what it could not read).
* :func:`secret_material`: what in a text looks like a literal secret, described without the secret: ``KEY=value``
  and ``key: value`` assignments of a secret word, credentials in a URL, a private key, a ``.pgpass`` line
  (``host:port:database:user:password``), and in a ``#cloud-config`` document ``chpasswd``'s ``list`` entries
  (``user:password``), a ``write_files`` entry of a key, password or token file whose content is one word, given
  inline (a host key), and the content of ``write_files`` entries encoded in base64 or gzip.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
import re
import zlib
from typing import Any, Iterator

from resilient_stack.io.errors import InputError

__all__ = ["MAX_UNPACKED", "Unreadable", "unpacked", "secret_material"]

MAX_UNPACKED = 1 << 20  # bytes of unpacked user data read, at most (Nova's limit is 64 KiB of base64)
_GZIP_MAGIC = b"\x1f\x8b"

_PEM = re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----")
# KEY=value, key: value, "key": "value", --key=value, key = value; the key starts a word and ENDS with a secret word
# (at most 64 characters before it: an unbounded prefix made the scan quadratic, minutes on 64 KiB of base64)
_ASSIGN = re.compile(
    r"""(?<![A-Za-z0-9_])(?P<key>[A-Za-z0-9_.-]{0,64}?"""
    r"""(?:password|passwd|passphrase|secret|token|api[_-]?key|access[_-]?key|pwd))"""
    r"""["']?[ \t]*(?:=|:(?!//))[ \t]*(?P<val>[^\r\n]*)""",
    re.IGNORECASE,
)
# a URL's user:password@ (a scheme of at most 32 characters: unbounded, the scan was quadratic on "a+a+a+...")
_URL_CRED = re.compile(r"\b[a-z][a-z0-9+.-]{0,31}://[^\s:/@'\"]+:(?P<val>[^\s@/'\"]+)@", re.IGNORECASE)
# a .pgpass line (host:port:database:user:password, ':' and '\\' escaped with '\\' inside a field), on a line of its
# own or as a word of one (an `echo '...' >> ~/.pgpass`); no '/' or '@' before the password (not a URL)
_FIELD = r"(?:\\.|[^\s:\\\"'#/@=])+"
_PGPASS = re.compile(
    rf"""(?:^|(?<=[\s'"=>]))(?:-[ \t]+)?(?P<line>{_FIELD}:(?:\d{{1,5}}|\*):{_FIELD}:{_FIELD}:(?P<val>(?:\\.|[^\s:\\\"'])+))"""
    r"""(?=$|[\s'"<;|&)])""",
    re.MULTILINE,
)
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]{1,4}")
_NOT_A_VALUE = {"null", "none", "~", "true", "false", "yes", "no", "''", '""'}
_INDIRECT = ("$", "`", "{{", "<", "%(", "*", "&", "!", "/", "{", "[", "|", ">")
_NOT_KEYS = {"pwd", "oldpwd"}  # the shell's working directory, not a password
_RANDOM = {"r", "random"}  # chpasswd: a random password, printed on the console
# write_files paths whose content is a secret when it is one word: keys, password and token files (not /etc/passwd)
_SECRET_FILE = re.compile(r"(?:\.key|pgpass|password|passphrase|token|credentials?)(?:\.[a-z0-9]+)?$", re.IGNORECASE)
_ENCODINGS = {
    "b64": ("b64",),
    "base64": ("b64",),
    "gz": ("gz",),
    "gzip": ("gz",),
    "gz+b64": ("b64", "gz"),
    "gz+base64": ("b64", "gz"),
    "gzip+b64": ("b64", "gz"),
    "gzip+base64": ("b64", "gz"),
}


class Unreadable(ValueError):
    """Packed user data that cannot be unpacked (damaged, or over :data:`MAX_UNPACKED`): the message says why."""


def _gunzip(raw: bytes) -> bytes:
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
            out = f.read(MAX_UNPACKED + 1)
    except (OSError, EOFError, zlib.error) as exc:
        raise Unreadable(f"its gzip cannot be unpacked ({type(exc).__name__})") from None
    if len(out) > MAX_UNPACKED:
        raise Unreadable(f"it unpacks to more than {MAX_UNPACKED} bytes")
    return out


def unpacked(text: str) -> tuple[str, str] | None:
    """``(the text cloud-init reads, how it was packed)`` when ``text`` is base64 (of gzip or of UTF-8 text), else
    None (plain text, or base64 of other bytes). :class:`Unreadable` for gzip that cannot be read within bounds."""
    compact = "".join(text.split())
    if len(compact) < 16 or len(compact) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", compact):
        return None
    try:
        raw = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        return None
    how = "base64-decoded"
    if raw[:2] == _GZIP_MAGIC:
        raw, how = _gunzip(raw), "gzip+base64-unpacked"
    try:
        return raw.decode("utf-8"), how
    except UnicodeDecodeError:
        if how != "base64-decoded":
            raise Unreadable("it unpacks to bytes that are not UTF-8 text") from None
        return None


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
    return text.count("\n", 0, max(pos, 0)) + 1


def _text_hits(text: str) -> Iterator[tuple[int, str]]:
    for m in _PEM.finditer(text):
        yield m.start(), f"a private key (line {_lineno(text, m.start())})"
    for m in _ASSIGN.finditer(text):
        key = m.group("key")
        if key.lower().lstrip("-") in _NOT_KEYS:
            continue
        # the key must start a word: "PGPASSWORD" and "db_password" do, "mypwd" in "cd $mypwd" does not matter
        start = m.start("key")
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in "_"):
            continue
        sep = "=" if "=" in m.group(0)[len(key) : m.start("val") - m.start()] else ":"
        if _literal(_first_value(m.group("val"), sep)):
            yield start, f"`{key}{sep}` (line {_lineno(text, start)})"
    for m in _URL_CRED.finditer(text):
        if _literal(m.group("val")):
            yield m.start(), f"a password in a URL (line {_lineno(text, m.start())})"
    for m in _PGPASS.finditer(text):
        if all(_HEX_GROUP.fullmatch(f) for f in m.group("line").split(":")):
            continue  # IPv6 groups, not a .pgpass line
        if _literal(m.group("val")):
            yield m.start("line"), f"a .pgpass line (line {_lineno(text, m.start('line'))})"


def _decoded_content(content: Any, encoding: Any) -> str | None:
    steps = _ENCODINGS.get(str(encoding).strip().lower()) if encoding is not None else ()
    if steps is None or not isinstance(content, (str, bytes)):
        return None
    raw = content.encode("utf-8", "replace") if isinstance(content, str) else content
    try:
        for step in steps:
            raw = base64.b64decode(b"".join(raw.split()), validate=True) if step == "b64" else _gunzip(raw)
        return raw.decode("utf-8")
    except (binascii.Error, ValueError):  # Unreadable is a ValueError: cloud-init would fail on it too
        return None


def _cloud_config(text: str) -> Any:
    """The YAML document of ``text`` (None when it is not YAML: cloud-init would not apply it either)."""
    # imported here: auditing a JSON export imports no YAML parser unless some user data needs one
    import yaml

    from resilient_stack.io.safeyaml import load_yaml_text

    try:
        return load_yaml_text(text, "userData")
    except InputError:
        pass
    # what the bounded reader refuses but cloud-init applies (a key given twice: the last one wins; many aliases):
    # read as cloud-init reads it, within the unpacked bound; only strings of the result are looked at
    if len(text) > MAX_UNPACKED:
        return None
    try:
        return yaml.safe_load(text)
    except (yaml.YAMLError, RecursionError, ValueError):
        return None


def _cloud_config_hits(text: str) -> Iterator[tuple[int, str]]:
    """``chpasswd``'s list and ``write_files`` of a ``#cloud-config`` document (YAML that does not parse: none)."""
    if "chpasswd" not in text and "write_files" not in text:
        return
    doc = _cloud_config(text)
    if not isinstance(doc, dict):
        return
    chpasswd = doc.get("chpasswd")
    entries = chpasswd.get("list") if isinstance(chpasswd, dict) else None
    if isinstance(entries, str):
        entries = entries.splitlines()
    at = text.find("chpasswd")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, str):
            continue
        user, sep, password = entry.strip().partition(":")
        if sep and password.strip().lower() not in _RANDOM and _literal(password):
            pos = text.find(f"{user}:", at)
            yield pos, f"a `chpasswd` list entry for `{user}` (line {_lineno(text, pos)})"
    files = doc.get("write_files")
    for entry in files if isinstance(files, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
            continue
        path, content = entry["path"], entry.get("content")
        pos = text.find(path)
        decoded = _decoded_content(content, entry.get("encoding"))
        if decoded is not None and entry.get("encoding") is not None:
            for hit in secret_material(decoded, cloud_config=False):
                yield pos, f"{hit} of the decoded write_files entry `{path}`"
        content = decoded if decoded is not None else content
        word = content.strip() if isinstance(content, str) else ""
        if (
            _SECRET_FILE.search(path.rsplit("/", 1)[-1])
            and len(word) >= 8
            and len(word.split()) == 1
            and _literal(word)
        ):
            yield pos, f"the secret file `{path}` written with its content (line {_lineno(text, pos)})"


def secret_material(text: str, *, cloud_config: bool = True) -> list[str]:
    """What in ``text`` looks like a literal secret, described WITHOUT the secret (e.g. "`PGPASSWORD=` (line 3)");
    ``cloud_config``: also read it as a ``#cloud-config`` document (``chpasswd``, ``write_files``)."""
    hits = list(_text_hits(text))
    if cloud_config:
        hits.extend(_cloud_config_hits(text))
    seen: set[str] = set()
    out = []
    for _, hit in sorted(hits):
        if hit not in seen:
            seen.add(hit)
            out.append(hit)
    return out
