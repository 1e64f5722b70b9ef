"""``pulumi stack export`` of a mocked run (:func:`to_stack_export`), as the engine writes it.

Split from :mod:`resilient_stack.testing.mockrun`, which re-exports :func:`to_stack_export`.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any, Mapping

from resilient_stack.testing.pulumi_internals import SECRET_SIG, SECRET_VALUE

__all__ = ["to_stack_export"]

STACK_TYPE = "pulumi:pulumi:Stack"
_NS = uuid.UUID("6f1d8a52-3c1e-4f57-9a31-9d7a0c1f2b44")


def _envelope(props: Mapping[str, Any], secret: frozenset[str], show_secrets: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in props.items():
        if k in secret:
            payload = (
                {"plaintext": json.dumps(v)}
                if show_secrets
                else {"ciphertext": "mockrun:" + hashlib.sha256(json.dumps(v, sort_keys=True).encode()).hexdigest()}
            )
            out[k] = {SECRET_SIG: SECRET_VALUE, **payload}
        else:
            out[k] = v
    return out


def _ordered(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parents, providers and dependencies before their dependents; ties by URN (reproducible)."""
    by_urn = {r["urn"]: r for r in resources}

    def deps(r: dict[str, Any]) -> set[str]:
        out = set(r.get("dependencies", []))
        if r.get("parent"):
            out.add(r["parent"])
        if r.get("provider"):
            out.add(r["provider"].rsplit("::", 1)[0])
        return {d for d in out if d in by_urn and d != r["urn"]}

    pending = {u: deps(r) for u, r in by_urn.items()}
    out: list[dict[str, Any]] = []
    done: set[str] = set()

    def rank(u: str) -> tuple[bool, bool, str]:  # the stack, then providers, then the rest
        t = by_urn[u]["type"]
        return t != STACK_TYPE, not t.startswith("pulumi:providers:"), u

    while pending:
        ready = sorted((u for u, d in pending.items() if d <= done), key=rank)
        if not ready:  # a cycle cannot come from a real program; keep everything anyway
            ready = sorted(pending, key=rank)
        for u in ready:
            out.append(by_urn[u])
            done.add(u)
            del pending[u]
    return out


def to_stack_export(
    recorded: list[Any],
    *,
    show_secrets: bool = False,
    pulumi_version: str = "v3.274.1",
    secrets_providers: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``pulumi stack export`` document of a mocked run (``{"version": 3, "deployment": {...}}``).

    Secrets are ``{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": ...}``
    (``show_secrets``: ``"plaintext"`` with the JSON value, as ``pulumi stack export --show-secrets``).
    Resources on a default provider reference a synthesized ``pulumi:providers:<pkg>::default_<version>``.
    ``secrets_providers``: the ``deployment.secrets_providers`` section a real export carries (e.g.
    ``{"type": "passphrase", "state": {"salt": ...}}``); ``pulumi policy analyze --file`` refuses an export with
    secrets and none. The mock ciphertexts never decrypt, so the CLI analyses them redacted to ``[secret]``.
    """
    if not recorded:
        raise ValueError("nothing was recorded")
    stack_urn = next((r.urn for r in recorded if r.type == STACK_TYPE), recorded[0].urn)
    stack, project = stack_urn.split("::")[0].removeprefix("urn:pulumi:"), stack_urn.split("::")[1]
    docs: list[dict[str, Any]] = []
    defaults: dict[str, str] = {}
    for r in recorded:
        doc: dict[str, Any] = {"urn": r.urn, "custom": r.custom, "type": r.type}
        if r.custom:
            doc["id"] = r.id or ""
        doc["inputs"] = _envelope(r.inputs, r.secret_inputs, show_secrets)
        doc["outputs"] = _envelope(r.outputs, r.secret_outputs, show_secrets)
        if r.parent:
            doc["parent"] = r.parent
        if r.custom and not r.is_provider:
            ref = r.provider
            if not ref:
                pkg = r.type.split(":", 1)[0]
                version = r.package_version or "0.0.0"
                default_urn = (
                    f"urn:pulumi:{stack}::{project}::pulumi:providers:{pkg}::default_{version.replace('.', '_')}"
                )
                default_id = str(uuid.uuid5(_NS, default_urn))
                if default_urn not in defaults:
                    defaults[default_urn] = default_id
                    docs.append(
                        {
                            "urn": default_urn,
                            "custom": True,
                            "id": default_id,
                            "type": f"pulumi:providers:{pkg}",
                            "inputs": {"version": version},
                            "outputs": {"version": version},
                        }
                    )
                ref = f"{default_urn}::{default_id}"
            doc["provider"] = ref
        if r.dependencies:
            doc["dependencies"] = list(r.dependencies)
        docs.append(doc)
    return {
        "version": 3,
        "deployment": {
            "manifest": {"time": "1970-01-01T00:00:00Z", "magic": "", "version": pulumi_version},
            **({"secrets_providers": dict(secrets_providers)} if secrets_providers is not None else {}),
            "resources": _ordered(docs),
        },
    }
