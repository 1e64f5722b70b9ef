"""Synthetic `pulumi stack export` files of realistic OpenStack estates, for benchmarks and tests.

An estate is a set of stacks' worth of placements; each placement has an explicit
`pulumi:providers:openstack` provider and resources like those our components create (network, subnet,
router, security group + rules, server group, web and database instances with cloud-init user data), plus an
object-storage container of the estate's own assets (the stack itself makes no container but its backups'; the
estates the auditor reads often have them), with roles and placements spread over the catalog's regions.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Iterator

SECRET_SIG = "4dabf18193072939515e22adb298388d"
REGIONS = [
    ("GRA11", "https://auth.cloud.ovh.net/v3"),
    ("WAW1", "https://auth.cloud.ovh.net/v3"),
    ("DE1", "https://auth.cloud.ovh.net/v3"),
    ("UK1", "https://auth.cloud.ovh.net/v3"),
    ("SBG5", "https://auth.cloud.ovh.net/v3"),
    ("BHS5", "https://auth.cloud.ovh.net/v3"),
    ("dc4-a", "https://api.pub2.infomaniak.cloud/identity/v3"),
]


PARENT_TYPE = "resilient-stack:regional:RegionalWebStack"


def _secret(rng: random.Random) -> dict:
    return {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "v1:" + "%032x" % rng.getrandbits(128)}


def resources(n: int, seed: int = 7) -> Iterator[dict]:
    """Yield about ``n`` resources (exactly n), placements cycling over REGIONS."""
    rng = random.Random(seed)
    stack = "urn:pulumi:prod::estate::"
    yield {"urn": stack + "pulumi:pulumi:Stack::estate-prod", "type": "pulumi:pulumi:Stack", "custom": False}
    count, p = 1, 0
    while count < n:
        region, auth = REGIONS[p % len(REGIONS)]
        pname = f"p{p}-{region.lower()}"
        purn = stack + f"pulumi:providers:openstack::{pname}"
        pid = "%08x-%04x" % (rng.getrandbits(32), rng.getrandbits(16))
        prov_in = {"region": region, "authUrl": auth, "version": "5.4.1", "userName": "svc", "password": _secret(rng)}
        batch = [
            {
                "urn": purn,
                "type": "pulumi:providers:openstack",
                "custom": True,
                "id": pid,
                "inputs": prov_in,
                "outputs": prov_in,
            }
        ]
        ref = f"{purn}::{pid}"
        parent = stack + f"{PARENT_TYPE}::{pname}"
        batch.append(
            {"urn": parent, "type": PARENT_TYPE, "custom": False, "parent": stack + "pulumi:pulumi:Stack::estate-prod"}
        )

        def custom(
            typ: str,
            name: str,
            inputs: dict,
            extra_out: dict | None = None,
            *,
            region: str = region,
            pname: str = pname,
            parent: str = parent,
            ref: str = ref,
        ) -> dict:
            rid = "%08x-%04x-%04x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16))
            out = dict(inputs, id=rid, region=region, **(extra_out or {}))
            return {
                "urn": f"{stack}{PARENT_TYPE}${typ}::{pname}-{name}",
                "type": typ,
                "custom": True,
                "id": rid,
                "parent": parent,
                "provider": ref,
                "inputs": inputs,
                "outputs": out,
                "dependencies": [parent],
            }

        tags = ["resilient-stack:role=web", f"resilient-stack:placement={pname}"]
        batch.append(
            custom(
                "openstack:networking/network:Network",
                "net",
                {"name": f"{pname}-net", "adminStateUp": True, "tags": tags},
            )
        )
        batch.append(
            custom(
                "openstack:networking/subnet:Subnet",
                "subnet",
                {"cidr": f"10.{p % 250}.0.0/24", "ipVersion": 4, "tags": tags},
            )
        )
        batch.append(custom("openstack:networking/secGroup:SecGroup", "web-sg", {"name": f"{pname}-web", "tags": tags}))
        for port, cidr in (
            (80, "0.0.0.0/0"),
            (443, "0.0.0.0/0"),
            (22, "203.0.113.0/24"),
            (5432, f"10.{p % 250}.0.0/24"),
        ):
            batch.append(
                custom(
                    "openstack:networking/secGroupRule:SecGroupRule",
                    f"rule-{port}",
                    {
                        "direction": "ingress",
                        "ethertype": "IPv4",
                        "protocol": "tcp",
                        "portRangeMin": port,
                        "portRangeMax": port,
                        "remoteIpPrefix": cidr,
                    },
                )
            )
        batch.append(custom("openstack:compute/serverGroup:ServerGroup", "sg", {"policies": ["soft-anti-affinity"]}))
        for i in range(2):
            batch.append(
                custom(
                    "openstack:compute/instance:Instance",
                    f"web-{i}",
                    {
                        "name": f"{pname}-web-{i}",
                        "flavorName": "b3-8",
                        "imageName": "Debian 12",
                        "metadata": {"resilient-stack:role": "web"},
                        "userData": _secret(rng),
                        "networks": [{"name": "Ext-Net"}],
                    },
                    {"accessIpV4": "198.51.100.%d" % rng.randrange(1, 254)},
                )
            )
        backup_site = p % len(REGIONS) == 2  # DE1 holds the backups and no database member
        if not backup_site:
            batch.append(
                custom(
                    "openstack:compute/instance:Instance",
                    "db",
                    {
                        "name": f"{pname}-db",
                        "flavorName": "b3-16",
                        "imageName": "Debian 12",
                        "metadata": {"resilient-stack:role": "database", "resilient-stack:quorum": "true"},
                        "userData": _secret(rng),
                    },
                )
            )
        batch.append(
            custom(
                "openstack:objectstorage/container:Container",
                "assets",
                {"name": f"{pname}-assets", "metadata": {"resilient-stack:role": "object-storage"}},
            )
        )
        if backup_site:
            batch.append(
                custom(
                    "openstack:objectstorage/container:Container",
                    "backups",
                    {
                        "name": f"{pname}-backups",
                        "metadata": {"resilient-stack:role": "backup", "resilient-stack:protects": "database"},
                    },
                )
            )
        for r in batch:
            if count >= n:
                return
            count += 1
            yield r
        p += 1


def instances(n: int, seed: int = 11) -> Iterator[dict]:
    """The worst case for the auditor: after one provider per region, every resource is an instance to place
    (a role label, a secret user data, outputs as a real state has them), spread over REGIONS."""
    rng = random.Random(seed)
    stack = "urn:pulumi:prod::fleet::"
    yield {"urn": stack + "pulumi:pulumi:Stack::fleet-prod", "type": "pulumi:pulumi:Stack", "custom": False}
    refs = []
    for i, (region, auth) in enumerate(REGIONS[: max(0, min(len(REGIONS), n - 1))]):
        purn = stack + f"pulumi:providers:openstack::r{i}-{region.lower()}"
        pid = "%08x-%04x" % (rng.getrandbits(32), rng.getrandbits(16))
        prov_in = {"region": region, "authUrl": auth, "version": "5.4.1", "userName": "svc", "password": _secret(rng)}
        refs.append(f"{purn}::{pid}")
        yield {
            "urn": purn,
            "type": "pulumi:providers:openstack",
            "custom": True,
            "id": pid,
            "inputs": prov_in,
            "outputs": prov_in,
        }
    roles = ("web", "web", "database", "worker")
    for i in range(n - 1 - len(refs)):
        p = i % len(refs)
        role = roles[i % len(roles)]
        rid = "%08x-%04x-%04x" % (rng.getrandbits(32), rng.getrandbits(16), rng.getrandbits(16))
        metadata = {"resilient-stack:role": role, **({"resilient-stack:quorum": "true"} if role == "database" else {})}
        inputs = {
            "name": f"i{i}",
            "flavorName": "b3-8",
            "imageName": "Debian 12",
            "metadata": metadata,
            "userData": _secret(rng),
            "networks": [{"name": "Ext-Net"}],
        }
        outputs = dict(
            inputs,
            id=rid,
            region=REGIONS[p][0],
            accessIpV4="198.51.100.%d" % rng.randrange(1, 254),
            allMetadata=metadata,
            powerState="active",
        )
        yield {
            "urn": f"{stack}openstack:compute/instance:Instance::i{i}",
            "type": "openstack:compute/instance:Instance",
            "custom": True,
            "id": rid,
            "provider": refs[p],
            "inputs": inputs,
            "outputs": outputs,
            "parent": stack + "pulumi:pulumi:Stack::fleet-prod",
        }


def small(n: int, seed: int = 13) -> Iterator[dict]:
    """The per-resource worst case: every resource a SMALL instance to place (about 570 bytes: a role label, a name,
    a flavor; its outputs as a state has them, no user data), so that reading the JSON costs little and the
    auditor's own work on each resource dominates."""
    rng = random.Random(seed)
    stack = "urn:pulumi:prod::fleet::"
    yield {"urn": stack + "pulumi:pulumi:Stack::fleet-prod", "type": "pulumi:pulumi:Stack", "custom": False}
    refs = []
    for i, (region, auth) in enumerate(REGIONS[: max(0, min(len(REGIONS), n - 1))]):
        purn = stack + f"pulumi:providers:openstack::r{i}"
        pid = "%08x" % rng.getrandbits(32)
        prov_in = {"region": region, "authUrl": auth, "version": "5.4.1"}
        refs.append(f"{purn}::{pid}")
        yield {
            "urn": purn,
            "type": "pulumi:providers:openstack",
            "custom": True,
            "id": pid,
            "inputs": prov_in,
            "outputs": prov_in,
        }
    roles = ("web", "web", "database", "worker")
    for i in range(n - 1 - len(refs)):
        p = i % len(refs)
        inputs = {"name": f"i{i}", "flavorName": "b3-8", "metadata": {"resilient-stack:role": roles[i % len(roles)]}}
        rid = "%08x" % rng.getrandbits(32)
        outputs = dict(inputs, id=rid, region=REGIONS[p][0], accessIpV4="198.51.100.%d" % rng.randrange(1, 254))
        yield {
            "urn": f"{stack}openstack:compute/instance:Instance::i{i}",
            "type": "openstack:compute/instance:Instance",
            "custom": True,
            "id": rid,
            "provider": refs[p],
            "inputs": inputs,
            "outputs": outputs,
            "parent": stack + "pulumi:pulumi:Stack::fleet-prod",
        }


def write_export(path: Path, n: int, seed: int = 7, kind: str = "estate") -> Path:
    """Write a stack export with exactly ``n`` resources (streamed, bounded memory): a realistic ``estate``, the
    worst case ``instances``, or ``small`` instances (the per-resource worst case)."""
    source = {"estate": resources, "instances": instances, "small": small}[kind]
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(
            '{"version": 3, "deployment": {"manifest": {"time": "2026-11-25T00:00:00Z", "version": "v3.274.1"}, "resources": [\n'
        )
        for i, r in enumerate(source(n, seed)):
            if i:
                fh.write(",\n")
            fh.write(json.dumps(r, indent=None))
        fh.write("\n]}}\n")
    return path


_TOFU = Path(__file__).resolve().parent.parent / "tests" / "audit" / "data" / "opentofu"


def write_opentofu(path: Path, n: int, kind: str = "plan") -> Path:
    """An OpenTofu file of about ``n`` resources made from the real fixtures of ``tests/audit/data/opentofu``: the
    production example's site modules repeated under new names (``module.gra_17``...), each with its provider
    configuration (a plan: ``planned_values``, ``resource_changes`` and ``configuration``; a state: ``tofu show
    -json``'s ``values``). The exact count is ``n`` rounded up to whole copies
    of the sites."""
    if kind == "plan":
        doc = json.loads((_TOFU / "production.plan.json").read_text())
        sites = doc["planned_values"]["root_module"]["child_modules"]
    else:
        doc = json.loads((_TOFU / "production.state.json").read_text())
        sites = doc["values"]["root_module"]["child_modules"]
    per_copy = sum(len(m["resources"]) for m in sites)
    copies = max(1, -(-n // per_copy))
    modules, changes, calls = [], [], {}
    conf = doc.get("configuration", {})
    for i in range(copies):
        for m in sites:
            old = m["address"]  # module.gra
            new = f"{old}_{i}"

            def rename(text: str, old: str = old, new: str = new) -> str:
                return new + text[len(old) :] if text.startswith(old + ".") or text == old else text

            modules.append(
                {**m, "address": new, "resources": [{**r, "address": rename(r["address"])} for r in m["resources"]]}
            )
            if kind == "plan":
                name = old.split(".", 1)[1]
                calls[f"{name}_{i}"] = conf["root_module"]["module_calls"][name]
                changes += [
                    {**c, "address": rename(c["address"])}
                    for c in doc["resource_changes"]
                    if c["address"].startswith(old + ".")
                ]
    if kind == "plan":
        doc["planned_values"]["root_module"]["child_modules"] = modules
        root = [c for c in doc["resource_changes"] if not c["address"].startswith("module.")]
        doc["resource_changes"] = root + changes
        conf["root_module"]["module_calls"] = calls  # each copy uses the provider block its original was given
    else:
        doc["values"]["root_module"]["child_modules"] = modules
    path.write_text(json.dumps(doc))
    return path
