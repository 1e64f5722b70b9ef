"""Hand-built `pulumi stack export` and `pulumi preview --json` documents for tests."""

from __future__ import annotations

import json
from pathlib import Path

STACK = "dev"
PROJECT = "shop"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"

INSTANCE = "openstack:compute/instance:Instance"
CONTAINER = "openstack:objectstorage/container:Container"
NETWORK = "openstack:networking/network:Network"
OVH_AUTH = "https://auth.cloud.ovh.net/v3"
INFOMANIAK_AUTH = "https://api.pub2.infomaniak.cloud/identity/v3"


def urn(typ: str, name: str) -> str:
    return f"urn:pulumi:{STACK}::{PROJECT}::{typ}::{name}"


class Export:
    """Build a stack export resource by resource."""

    def __init__(self) -> None:
        self.resources: list[dict] = [
            {"urn": urn("pulumi:pulumi:Stack", f"{PROJECT}-{STACK}"), "type": "pulumi:pulumi:Stack", "custom": False}
        ]

    def provider(self, name: str, *, region=None, auth_url=OVH_AUTH, cloud=None, default=False, **extra) -> str:
        """An OpenStack provider; ``extra``: more of its inputs (``tenantId=...``)."""
        inputs = {"version": "5.4.1"}
        if region is not None:
            inputs["region"] = region
        if auth_url is not None:
            inputs["authUrl"] = auth_url
        if cloud is not None:
            inputs["cloud"] = cloud
        inputs.update(extra)
        pname = "default_5_4_1" if default else name
        u = urn("pulumi:providers:openstack", pname)
        pid = f"prov-{pname}"
        self.resources.append(
            {
                "urn": u,
                "type": "pulumi:providers:openstack",
                "custom": True,
                "id": pid,
                "inputs": inputs,
                "outputs": dict(inputs),
            }
        )
        return f"{u}::{pid}"

    def resource(
        self,
        typ: str,
        name: str,
        provider: str | None,
        *,
        role=None,
        tags_style=False,
        protects=None,
        quorum=False,
        exempt=None,
        **inputs,
    ) -> str:
        labels = {}
        if role:
            labels["resilient-stack:role"] = role
        if protects:
            labels["resilient-stack:protects"] = protects
        if quorum:
            labels["resilient-stack:quorum"] = "true"
        if exempt:
            labels["resilient-stack:exempt"] = exempt
        if labels:
            if tags_style:
                inputs["tags"] = [f"{k}={v}" for k, v in labels.items()]
            else:
                inputs["metadata"] = labels
        u = urn(typ, name)
        res = {
            "urn": u,
            "type": typ,
            "custom": True,
            "id": f"id-{name}",
            "inputs": inputs,
            "outputs": dict(inputs),
            "parent": self.resources[0]["urn"],
        }
        if provider is not None:
            res["provider"] = provider
        self.resources.append(res)
        return u

    def doc(self) -> dict:
        return {"version": 3, "deployment": {"manifest": {"time": "2026-11-25T00:00:00Z"}, "resources": self.resources}}

    def write(self, path: Path) -> Path:
        path.write_text(json.dumps(self.doc()))
        return path


SHOP_PROJECT = "5259cd7dd41b49c49180f12a33aacba0"  # Keystone project ids (tenantId) of the spread export
BACKUP_PROJECT = "a8cab5ea6af0416ba3c31ebb0c871efe"


def spread_export() -> Export:
    """Web and database over Gravelines, Warsaw and Infomaniak; backups in Limburg, in an OVHcloud project of
    their own."""
    e = Export()
    gra = e.provider("gra", region="GRA11", tenantId=SHOP_PROJECT)
    waw = e.provider("waw", region="WAW1", tenantId=SHOP_PROJECT)
    ik = e.provider("ik", region="dc4-a", auth_url=INFOMANIAK_AUTH)
    lim = e.provider("lim", region="DE1", tenantId=BACKUP_PROJECT)
    for p, n in ((gra, "gra"), (waw, "waw"), (ik, "ik")):
        e.resource(INSTANCE, f"web-{n}", p, role="web")
        e.resource(INSTANCE, f"db-{n}", p, role="database", quorum=True)
        e.resource(NETWORK, f"net-{n}", p, role="web", tags_style=True)
    e.resource(CONTAINER, "backups", lim, role="backup", protects="database")
    return e


def strasbourg_export() -> Export:
    """The 2021 replay: everything, backups included, on the Strasbourg campus."""
    e = Export()
    s5 = e.provider("sbg5", region="SBG5")
    s7 = e.provider("sbg7", region="SBG7")
    e.resource(INSTANCE, "web-1", s5, role="web")
    e.resource(INSTANCE, "web-2", s7, role="web")
    e.resource(INSTANCE, "db-1", s5, role="database", quorum=True)
    e.resource(INSTANCE, "db-2", s7, role="database", quorum=True)
    e.resource(CONTAINER, "backups", s5, role="backup", protects="database")
    return e


def preview_of(export: Export, drop_default_provider: bool = False) -> dict:
    """The `pulumi preview --json` shape of an export: steps with newState, no ids/outputs."""
    steps = []
    for r in export.resources:
        if drop_default_provider and "::default_" in r["urn"] and r["type"].startswith("pulumi:providers:"):
            continue
        state = {k: v for k, v in r.items() if k not in ("id", "outputs")}
        if "provider" in state:
            state["provider"] = state["provider"].rsplit("::", 1)[0] + "::" + UNKNOWN
        steps.append({"op": "create", "urn": r["urn"], "provider": state.get("provider", ""), "newState": state})
    return {"steps": steps, "changeSummary": {"create": len(steps)}, "duration": 1}
