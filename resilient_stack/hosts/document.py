"""The ``#cloud-config`` document around the payloads: ``write_files`` entries, the common keys, YAML out.

Output is deterministic: the same inputs give the same text (``yaml.safe_dump`` of plain dicts/lists with
``sort_keys=False`` and a fixed construction order). Every role hardens sshd the same way (:func:`ssh_hardening`)
and starts ``runcmd`` with :func:`ssh_runcmd`. Pure: standard library plus PyYAML.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import io
from typing import Any, Sequence

import yaml

from resilient_stack.hosts import payload
from resilient_stack.hosts.paths import SSH_KEYS_DIR, SSHD_DROPIN

HEADER = "#cloud-config\n"


def write_file(
    path: str,
    content: str,
    *,
    permissions: str = "0644",
    owner: str = "root:root",
    defer: bool = False,
    append: bool = False,
) -> dict[str, Any]:
    """One ``write_files`` entry."""
    entry: dict[str, Any] = {"path": path, "content": content, "owner": owner, "permissions": permissions}
    if append:
        entry["append"] = True
    if defer:
        # Written in the final stage, after `packages:` are installed: the package's users (postgres)
        # and directories (/etc/postgresql/15/main, /etc/nginx) then exist.
        entry["defer"] = True
    return entry


class _LiteralDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks (readable user-data)."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_LiteralDumper.add_representer(str, _str_representer)


def dump(doc: dict[str, Any]) -> str:
    """``#cloud-config`` + the YAML of ``doc``; refuses a document that would not read back as built."""
    body = yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, default_flow_style=False, width=4096)
    # Round-trip guard: what we emit must parse back to exactly what we built.
    if yaml.safe_load(body) != doc:  # pragma: no cover - defensive
        raise RuntimeError("cloud-config did not round-trip through YAML")
    return HEADER + body


def pack_user_data(text: str) -> str:
    """The user data as the cloud gets it: gzip (no timestamp: the same text gives the same bytes), then base64.
    cloud-init recognises gzip and unpacks it; Nova stores the base64 as given (it is its encoding of the bytes)."""
    return base64.b64encode(gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)).decode("ascii")


def unpack_user_data(data: str, *, limit: int = 1 << 20) -> str:
    """What cloud-init reads from :func:`pack_user_data`'s output (plain text is returned as it is); at most
    ``limit`` bytes once unpacked (ValueError beyond)."""
    if data.startswith("#"):
        return data
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return data
    if raw[:2] != b"\x1f\x8b":
        return raw.decode("utf-8", errors="replace")
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
        out = f.read(limit + 1)
    if len(out) > limit:
        raise ValueError(f"the user data unpacks to more than {limit} bytes")
    return out.decode("utf-8")


def ssh_hardening() -> dict[str, Any]:
    """The sshd drop-in: no password or keyboard-interactive login, no root login; a user's keys are those of its
    file in :data:`SSH_KEYS_DIR` only (root's sync writes the login user's, :mod:`.runtime`'s ``ssh_keys``)."""
    # 00- sorts first in sshd_config.d, and for sshd the first value obtained wins.
    return write_file(
        SSHD_DROPIN, payload.render("ssh/00-resilient-stack.conf", keys_dir=SSH_KEYS_DIR), permissions="0644"
    )


def ssh_runcmd() -> list[Any]:
    """The first ``runcmd`` entries of every role: fail fast, then check and reload sshd."""
    # cloud-init runs runcmd as one /bin/sh script; without `set -e` a failed step would be ignored and
    # `cloud-init status` would still say done. With it, the first failure makes the boot an error.
    return [
        "set -eu",
        ["sh", "-c", "sshd -t && { systemctl reload ssh || systemctl restart ssh; }"],
    ]


def base(
    *,
    packages: Sequence[str],
    hostname: str | None,
    package_update: bool,
    package_upgrade: bool,
) -> dict[str, Any]:
    """The keys every role starts with (host name, SSH, apt), in their fixed order. No SSH key: cloud-init would
    install it once in ~/.ssh/authorized_keys, which sshd does not read (:func:`ssh_hardening`); the keys travel in the
    runtime configuration (:mod:`.runtime`, ``ssh_keys``), which root's sync applies at the first boot and later."""
    doc: dict[str, Any] = {}
    if hostname is not None:
        doc["hostname"] = hostname
        doc["preserve_hostname"] = False
    doc["ssh_pwauth"] = False
    doc["disable_root"] = True
    doc["package_update"] = bool(package_update)
    doc["package_upgrade"] = bool(package_upgrade)
    doc["packages"] = list(packages)
    return doc
