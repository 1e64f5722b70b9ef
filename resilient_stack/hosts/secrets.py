"""The secret half of a host's runtime configuration: sealed, delivered in place, rotated without a replacement.

A host's user data is its boot configuration and never changes on a running host (:mod:`.runtime`). Its secrets
(the cluster's TLS certificate and key, the database passwords, the backup repository's keys and passphrase, the
application's credentials) must change on running hosts: a certificate is renewed, a password rotated. They
travel as one JSON document per host, **sealed** with a key of that host's own:

* the host key (:data:`KEY_FILE`, 0600 root) is the only secret of the user data that never changes: a
  ``random.RandomPassword`` per host (a Pulumi secret), delivered once, at the host's creation;
* the document is sealed with AES-SIV (RFC 5297, 512-bit key derived from the host key by SHA-512): deterministic
  (the same document gives the same text, so an unchanged secret changes no metadata) and authenticated (a
  document altered or sealed for another host is refused, never applied);
* the sealed text travels in the instance's metadata, items ``rs-secret-00``, ``rs-secret-01``... (Nova: 255
  characters each), which the cloud updates in place; root's sync (``runtime/sync.py``) unseals it with
  ``python3-cryptography`` and applies what changed. Metadata is readable by the project's API users: they see
  ciphertext only. The user data carries the same sealed document for the first boot (:data:`SEALED_FILE`).

Passwords the host only CHECKS (the application's login roles, on the database members) travel as SCRAM-SHA-256
verifiers (:func:`scram_verifier`), never in clear. Pure: standard library plus ``cryptography``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from typing import Any, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESSIV

__all__ = [
    "PREFIX",
    "VERSION",
    "KEY_FILE",
    "SEALED_FILE",
    "KEY_LENGTH",
    "seal",
    "unseal",
    "items",
    "joined",
    "scram_verifier",
    "scram_matches",
]

PREFIX = "rs-secret-"
VERSION = 1
KEY_LENGTH = 64  # characters of the host key (letters and digits: about 380 bits)
KEY_FILE = "/etc/resilient-stack/host.key"
SEALED_FILE = "/etc/resilient-stack/secrets.sealed"  # the sealed document of the first boot (user data)
_AAD = b"resilient-stack secrets v1"
_KEY_RE = re.compile(r"[A-Za-z0-9]{%d,256}" % 32)
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


def _cipher(key: str) -> AESSIV:
    if not isinstance(key, str) or not _KEY_RE.fullmatch(key):
        raise ValueError("a host key is 32 to 256 letters and digits")
    return AESSIV(hashlib.sha512(key.encode()).digest())


def seal(doc: Mapping[str, Any], key: str) -> str:
    """``doc`` (JSON-serialisable, ``v`` = :data:`VERSION`) sealed with the host key: URL-safe base64 text."""
    if doc.get("v") != VERSION:
        raise ValueError(f"a secret document has v={VERSION}")
    text = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=True).encode()
    return base64.urlsafe_b64encode(_cipher(key).encrypt(text, [_AAD])).decode().rstrip("=")


def unseal(sealed: str, key: str) -> dict[str, Any]:
    """The document back (what the host's sync does); ValueError when it was altered or sealed with another key."""
    try:
        raw = base64.urlsafe_b64decode(sealed + "=" * (-len(sealed) % 4))
        doc = json.loads(_cipher(key).decrypt(raw, [_AAD]))
    except (InvalidTag, ValueError, TypeError) as exc:
        raise ValueError(
            f"the secret document cannot be unsealed with this host's key ({type(exc).__name__})"
        ) from None
    if not isinstance(doc, dict) or doc.get("v") != VERSION:
        raise ValueError(f"not a version {VERSION} secret document")
    return doc


def items(sealed: str, *, slots: int | None = None, chunk: int = 255) -> dict[str, str]:
    """The sealed text as metadata items ``rs-secret-NN`` (``slots``: exactly that many, the last ones empty)."""
    chunks = [sealed[i : i + chunk] for i in range(0, len(sealed), chunk)] or [""]
    if slots is not None:
        if len(chunks) > slots:
            raise ValueError(f"the sealed secrets need {len(chunks)} metadata items, {slots} were reserved")
        chunks += [""] * (slots - len(chunks))
    return {f"{PREFIX}{i:02d}": c for i, c in enumerate(chunks)}


def joined(metadata: Mapping[str, str]) -> str:
    """The sealed text from an instance's metadata (the inverse of :func:`items`)."""
    parts = sorted(
        (int(k[len(PREFIX) :]), v)
        for k, v in metadata.items()
        if k.startswith(PREFIX) and re.fullmatch(r"\d{2}", k[len(PREFIX) :])
    )
    if not parts or [i for i, _ in parts] != list(range(len(parts))):
        raise ValueError("no complete sealed secret document in the metadata")
    return "".join(v for _, v in parts)


def _scram_keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def scram_verifier(password: str, *, role: str) -> str:
    """PostgreSQL's SCRAM-SHA-256 verifier of ``password`` (what ``pg_authid.rolpassword`` holds).

    The salt is derived from the password and the role (HMAC), so the same password gives the same verifier: an
    unchanged password changes no metadata. A verifier lets a server check the password, not log in with it.
    """
    salt = hmac.new(password.encode(), f"resilient-stack scram salt/{role}".encode(), hashlib.sha256).digest()[:16]
    stored, server = _scram_keys(password, salt, SCRAM_ITERATIONS)
    b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored)}:{b64(server)}"


def scram_matches(verifier: str, password: str) -> bool:
    """``password`` is the one ``verifier`` checks (any salt and iteration count)."""
    m = re.fullmatch(r"SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)", verifier or "")
    if not m:
        return False
    stored, server = _scram_keys(password, base64.b64decode(m.group(2)), int(m.group(1)))
    return hmac.compare_digest(stored, base64.b64decode(m.group(3))) and hmac.compare_digest(
        server, base64.b64decode(m.group(4))
    )
