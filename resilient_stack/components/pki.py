"""``ClusterPki``: the database cluster's private CA and its members' certificates, as a Pulumi resource.

pulumi-tls cannot be built where this project is developed (its Go module is refused), so the certificates come from
a Pulumi dynamic resource (the engine runs it with the program's own Python): :func:`issue` over
:mod:`resilient_stack.hosts.pki`. The private keys are outputs marked secret (encrypted in the state like any Pulumi
secret); the certificates are plain outputs.

What it does on each ``pulumi up``:

* create: a CA (:data:`~resilient_stack.hosts.pki.CA_DAYS`) and, per member, its certificate (its host name and
  public address) and its administrator certificate (etcd's ``root``);
* diff/update: a member added or removed, an address changed, ``generation`` increased (a manual renewal), or a
  certificate within :data:`~resilient_stack.hosts.pki.RENEW_BEFORE_DAYS` of its expiry: new member certificates
  under the SAME CA (the trust every host already has), delivered in place by the hosts' sealed secrets. The CA
  itself is replaced only when the cluster's name changes.

Type token: ``pulumi-python:dynamic/resilient-stack:ClusterPki``. The mock runner issues the same outputs
deterministically (:func:`issue` with a seed).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Mapping

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

from resilient_stack.hosts import pki

__all__ = ["ClusterPki", "TYPE_TOKEN", "issue", "SECRET_OUTPUTS"]

TYPE_TOKEN = "pulumi-python:dynamic/resilient-stack:ClusterPki"
SECRET_OUTPUTS = ["caKey", "keys", "adminKeys"]
_INPUTS = ("scope", "members", "generation")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def issue(
    props: Mapping[str, Any],
    *,
    now: dt.datetime,
    ca: pki.Issued | None = None,
    seed: str | None = None,
    days: int = pki.LEAF_DAYS,
) -> dict[str, Any]:
    """Every output from the inputs (``scope``, ``members``: host name -> public address, ``generation``): a new CA
    unless ``ca`` is given, and every member's certificates under it, valid ``days``."""
    scope = str(props["scope"])
    members = {str(k): str(v) for k, v in dict(props["members"]).items()}
    if ca is None:
        ca = pki.new_ca(scope, now=now, seed=seed)
    certs, keys, admin_certs, admin_keys = {}, {}, {}, {}
    for name, address in sorted(members.items()):
        member = pki.issue_member(ca, name, [address], now=now, seed=seed, days=days)
        admin = pki.issue_client(ca, pki.ADMIN_CN, label=f"admin/{name}", now=now, seed=seed, days=days)
        certs[name], keys[name] = member.cert, member.key
        admin_certs[name], admin_keys[name] = admin.cert, admin.key
    expiry = min([pki.not_after(c) for c in [*certs.values(), *admin_certs.values()]], default=pki.not_after(ca.cert))
    return {
        "scope": scope,
        "members": members,
        "generation": int(props.get("generation") or 0),
        "caCert": ca.cert,
        "caKey": ca.key,
        "certs": certs,
        "keys": keys,
        "adminCerts": admin_certs,
        "adminKeys": admin_keys,
        "notAfter": expiry.isoformat(),
    }


def _renewal_due(outs: Mapping[str, Any], now: dt.datetime) -> bool:
    certs = [*dict(outs.get("certs") or {}).values(), *dict(outs.get("adminCerts") or {}).values()]
    return not certs or any(pki.due(c, now=now) for c in certs)


class _Provider(ResourceProvider):
    """The dynamic provider (pickled by reference: this module must be importable where the engine runs it)."""

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=str(uuid.uuid4()), outs=issue(props, now=_now()))

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in _INPUTS if olds.get(k) != news.get(k)]
        replaces = ["scope"] if olds.get("scope") != news.get("scope") else []
        due = _renewal_due(olds, _now())
        return DiffResult(changes=bool(changed) or due, replaces=replaces, delete_before_replace=False, stables=[])

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        ca = pki.Issued(olds["caCert"], olds["caKey"])
        return UpdateResult(outs=issue(news, now=_now(), ca=ca))


class ClusterPki(pulumi.dynamic.Resource, module="resilient-stack", name="ClusterPki"):
    """The cluster's CA and its members' certificates (see the module's documentation)."""

    caCert: pulumi.Output[str]
    caKey: pulumi.Output[str]
    certs: pulumi.Output[dict]
    keys: pulumi.Output[dict]
    adminCerts: pulumi.Output[dict]
    adminKeys: pulumi.Output[dict]
    notAfter: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        scope: str,
        members: pulumi.Input[Mapping[str, str]],
        generation: int = 0,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "scope": scope,
            "members": members,
            "generation": generation,
            **{k: None for k in ("caCert", "caKey", "certs", "keys", "adminCerts", "adminKeys", "notAfter")},
        }
        super().__init__(
            _Provider(),
            name,
            props,
            pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)),
        )
