#!/usr/bin/env python3
"""The clients' side of the local clouds, run INSIDE their hub namespace by local_openstack.py (standard library only).

    ip netns exec rsos-NAME python3 hub_client.py probe CLOUDS_YAML       token of each cloud, every region's endpoints answer
    ip netns exec rsos-NAME python3 hub_client.py inventory CLOUDS_YAML   JSON: what the users' projects hold
    ip netns exec rsos-NAME python3 hub_client.py backup-user CLOUDS_YAML ENTRY USER
        a dedicated object-store user of the project of the clouds.yaml ENTRY and its EC2 (S3) keys, as JSON: what
        an operator creates once per stack for the backups (docs/operations.md#the-backup-credential)
    ip netns exec rsos-NAME python3 hub_client.py metadata CLOUDS_YAML ENTRY REGION SERVER PATH TAMPER
        PATH of Nova's metadata API for that server, asked as its metadata proxy asks (signed), as JSON

Every clouds.yaml entry is one project: a cloud's own (``ovh``) or another project of its keystone (``ovh-backups``),
listed in the inventory under its own name (``ovh-backups/DE1``).

Plain urllib, as the clouds' users (the clouds.yaml local_openstack.py wrote): what any client sees.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from local_openstack import TOPOLOGY, entries  # the script's own directory: standard library only


def topology() -> dict:
    return json.loads(TOPOLOGY.read_text())


def cloud_of(topo: dict) -> dict[str, str]:
    """{clouds.yaml entry: the cloud (topology.json) whose keystone and regions it uses}."""
    return {entry: cloud for entry, (cloud, _) in entries(topo).items()}


def read_clouds_yaml(path: str) -> dict[str, dict]:
    """The clouds.yaml this script wrote: a fixed, simple layout (no YAML parser in the standard library)."""
    clouds: dict[str, dict] = {}
    current = None
    for line in Path(path).read_text().splitlines():
        if re.match(r"^  [a-z0-9-]+:$", line):
            current = clouds.setdefault(line.strip()[:-1], {})
        elif current is not None and ":" in line and line.startswith("    "):
            k, v = line.strip().split(":", 1)
            current[k] = v.strip()
    return clouds


class Client:
    """A plain urllib client of one cloud, as its user (runs INSIDE the hub namespace)."""

    def __init__(self, c: dict) -> None:
        import ssl
        import urllib.request

        self._request = urllib.request
        self.auth_url = c["auth_url"]
        self.ctx = ssl.create_default_context(cafile=c["cacert"]) if "cacert" in c else None
        body = json.dumps(
            {
                "auth": {
                    "identity": {
                        "methods": ["password"],
                        "password": {
                            "user": {"name": c["username"], "domain": {"name": "Default"}, "password": c["password"]}
                        },
                    },
                    "scope": {"project": {"name": c["project_name"], "domain": {"name": "Default"}}},
                }
            }
        ).encode()
        req = urllib.request.Request(
            c["auth_url"] + "/auth/tokens", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60, context=self.ctx) as resp:
            self.token = resp.headers["X-Subject-Token"]
            token = json.load(resp)["token"]
            self.catalog = token["catalog"]
            self.user_id, self.project_id = token["user"]["id"], token["project"]["id"]

    def send(self, path: str, method: str, body: dict | None = None) -> dict:
        """A Keystone call (``path`` under the auth URL) that must succeed; its JSON answer."""
        status, _, raw = self.call(
            self.auth_url + path,
            method=method,
            headers={"Content-Type": "application/json"},
            data=None if body is None else json.dumps(body).encode(),
        )
        if status not in (200, 201, 204):
            raise RuntimeError(f"{method} {path}: HTTP {status} {raw[:300]!r}")
        return json.loads(raw) if raw else {}

    def endpoints(self, typ: str, region: str) -> list[str]:
        return [
            e["url"]
            for s in self.catalog
            if s["type"] == typ
            for e in s["endpoints"]
            if e["region_id"] == region and e["interface"] == "public"
        ]

    def call(
        self, url: str, method: str = "GET", headers: dict | None = None, data: bytes | None = None
    ) -> tuple[int, dict, bytes]:
        import urllib.error

        req = self._request.Request(
            url,
            headers={"X-Auth-Token": self.token, "Accept": "application/json", **(headers or {})},
            method=method,
            data=data,
        )
        try:
            with self._request.urlopen(req, timeout=60, context=self.ctx) as resp:
                return resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, dict(exc.headers), exc.read()

    def get(self, typ: str, region: str, path: str, headers: dict | None = None):
        (url,) = self.endpoints(typ, region)
        status, _, body = self.call(url.rstrip("/") + path, headers=headers)
        if status != 200:
            raise RuntimeError(f"GET {url}{path}: HTTP {status}")
        return json.loads(body)


def probe_main(clouds_yaml: str) -> int:
    """Runs INSIDE the hub namespace (`_probe`): every cloud's token, every region's endpoints answer."""
    topo = topology()
    problems, seen = [], []
    of = cloud_of(topo)
    for cloud, c in read_clouds_yaml(clouds_yaml).items():
        client = Client(c)
        for region in topo["clouds"][of[cloud]]["regions"]:
            for typ in ("compute", "network", "image", "placement", "volumev3", "block-storage", "object-store"):
                urls = client.endpoints(typ, region)
                if len(urls) != 1:
                    problems.append(f"{cloud} {region}: {len(urls)} public {typ} endpoints")
                    continue
                status = client.call(urls[0])[0]
                if status >= 500 or (typ == "object-store" and status >= 300):
                    problems.append(f"{cloud} {region} {typ} {urls[0]}: HTTP {status}")
            seen.append(f"{cloud}/{region}")
    if problems:
        print("; ".join(problems), file=sys.stderr)
        return 1
    waited = schedulers_ready(topo, read_clouds_yaml(clouds_yaml))
    if waited is None:
        return 1
    print(f"health check from the hub: tokens and 7 services answer in {', '.join(seen)}; {waited}")
    return 0


def schedulers_ready(topo: dict, clouds: dict[str, dict], timeout: float = 300) -> str | None:
    """Wait (as each keystone's admin) until every region's schedulers can place what a client asks for: Cinder's
    scheduler knows a pool of its volume service, Nova's compute node is up. Before that, a volume created right
    after the clouds start goes to ERROR ("no valid backend"), a server to "no valid host". What it waited (None:
    timed out, said on stderr)."""
    import time

    start = time.monotonic()
    of = cloud_of(topo)
    admins = {}
    for entry, c in clouds.items():
        if of[entry] == entry:  # a cloud's own entry: its keystone's admin
            admins[entry] = admin_client(c)
    pending = {(cloud, region) for cloud in admins for region in topo["clouds"][cloud]["regions"]}
    while pending:
        for cloud, region in sorted(pending):
            admin = admins[cloud]
            pools = admin.get("volumev3", region, "/scheduler-stats/get_pools").get("pools") or []
            nodes = admin.get("compute", region, "/os-hypervisors/detail").get("hypervisors") or []
            if pools and any(n.get("state") == "up" and n.get("status") == "enabled" for n in nodes):
                pending.discard((cloud, region))
        if not pending:
            break
        if time.monotonic() - start > timeout:
            print(f"schedulers not ready after {timeout:.0f} s: {sorted(pending)}", file=sys.stderr)
            return None
        time.sleep(2)
    return f"schedulers ready after {time.monotonic() - start:.0f} s"


def inventory_main(clouds_yaml: str) -> int:
    """Runs INSIDE the hub namespace (`_inventory`): what the user's project holds, per cloud and region, as JSON.

    servers (id, name, status, metadata, flavor, image, addresses), networks and their subnets (own only:
    shared external networks are the provider's), ports, floating IPs, routers, security groups (with
    rules), server groups (policy), object-storage containers (metadata, without the X-Container-Meta-
    prefix, lower case; read ACL), volumes (id, status, attachments).
    """
    topo = topology()
    out: dict[str, dict] = {}
    of = cloud_of(topo)
    for cloud, c in read_clouds_yaml(clouds_yaml).items():
        client = Client(c)
        for region in topo["clouds"][of[cloud]]["regions"]:
            servers = client.get("compute", region, "/servers/detail", {"OpenStack-API-Version": "compute 2.64"})[
                "servers"
            ]
            groups = client.get("compute", region, "/os-server-groups", {"OpenStack-API-Version": "compute 2.64"})[
                "server_groups"
            ]
            networks = client.get("network", region, "/v2.0/networks")["networks"]
            subnets = client.get("network", region, "/v2.0/subnets")["subnets"]
            ports = client.get("network", region, "/v2.0/ports")["ports"]
            fips = client.get("network", region, "/v2.0/floatingips")["floatingips"]
            routers = client.get("network", region, "/v2.0/routers")["routers"]
            sgs = client.get("network", region, "/v2.0/security-groups")["security_groups"]
            volumes = client.get("volumev3", region, "/volumes/detail")["volumes"]
            (swift,) = client.endpoints("object-store", region)
            status, _, body = client.call(swift + "?format=json")
            if status not in (200, 204):
                raise RuntimeError(f"GET {swift}: HTTP {status}")
            containers = {}
            for ct in json.loads(body or b"[]"):
                status, headers, _ = client.call(f"{swift}/{ct['name']}", method="HEAD")
                containers[ct["name"]] = {
                    "metadata": {
                        k[len("x-container-meta-") :].lower(): v
                        for k, v in headers.items()
                        if k.lower().startswith("x-container-meta-")
                    },
                    "read_acl": headers.get("X-Container-Read") or headers.get("x-container-read"),
                }
            out[f"{cloud}/{region}"] = {
                "servers": [
                    {
                        "id": s["id"],
                        "name": s["name"],
                        "status": s["status"],
                        "metadata": s["metadata"],
                        "flavor": s["flavor"].get("original_name"),
                        "image": s["image"].get("id") if s["image"] else None,
                        "addresses": {n: [a["addr"] for a in v] for n, v in s["addresses"].items()},
                        "server_groups": s.get("server_groups", []),
                    }
                    for s in servers
                ],
                "server_groups": [
                    {"id": g["id"], "name": g["name"], "policy": g.get("policy"), "members": g["members"]}
                    for g in groups
                ],
                "networks": [
                    {"id": n["id"], "name": n["name"], "tags": n.get("tags", [])}
                    for n in networks
                    if not n.get("router:external") and not n.get("shared")
                ],
                "subnets": [
                    {"id": n["id"], "name": n["name"], "cidr": n["cidr"]}
                    for n in subnets
                    if n["network_id"]
                    in {x["id"] for x in networks if not x.get("router:external") and not x.get("shared")}
                ],
                "ports": [
                    {
                        "id": p["id"],
                        "device_owner": p["device_owner"],
                        "device_id": p["device_id"],
                        "network_id": p["network_id"],
                    }
                    for p in ports
                ],
                "floating_ips": [{"id": f["id"], "address": f["floating_ip_address"]} for f in fips],
                "routers": [{"id": r["id"], "name": r["name"]} for r in routers],
                "security_groups": [
                    {
                        "id": g["id"],
                        "name": g["name"],
                        "tags": g.get("tags", []),
                        "rules": [
                            {
                                k: r.get(k)
                                for k in (
                                    "direction",
                                    "ethertype",
                                    "protocol",
                                    "port_range_min",
                                    "port_range_max",
                                    "remote_ip_prefix",
                                )
                            }
                            for r in g["security_group_rules"]
                        ],
                    }
                    for g in sgs
                ],
                "containers": containers,
                "volumes": [
                    {
                        "id": v["id"],
                        "name": v["name"],
                        "status": v["status"],
                        "size": v["size"],
                        "metadata": v.get("metadata", {}),
                        "attachments": [a["server_id"] for a in v.get("attachments", [])],
                    }
                    for v in volumes
                ],
            }
    print(json.dumps(out, indent=1, sort_keys=True))
    return 0


def backup_user_main(clouds_yaml: str, cloud: str, name: str) -> int:
    """Runs INSIDE the hub namespace: as the cloud's operator (its console), a user NAME holding only the object
    store's operator role (``member``, Swift's ``operator_roles``) on the clouds.yaml user's project, and a new EC2
    credential of that user for that project: {"user", "access", "secret"} on stdout. Reuses the user if it exists
    (a second call is a second key of the same user, as a key rotation makes)."""
    import secrets

    c = read_clouds_yaml(clouds_yaml)[cloud]
    owner = Client(c)  # the project the stack deploys into
    operator = admin_client(c)
    found = operator.send(f"/users?name={name}", "GET")["users"]
    if found:
        uid = found[0]["id"]
    else:
        uid = operator.send(
            "/users",
            "POST",
            {
                "user": {
                    "name": name,
                    "password": secrets.token_urlsafe(24),
                    "domain_id": "default",
                    "default_project_id": owner.project_id,
                }
            },
        )["user"]["id"]
    (role,) = operator.send("/roles?name=member", "GET")["roles"]
    operator.send(f"/projects/{owner.project_id}/users/{uid}/roles/{role['id']}", "PUT")
    cred = operator.send(f"/users/{uid}/credentials/OS-EC2", "POST", {"tenant_id": owner.project_id})["credential"]
    print(json.dumps({"user": name, "access": cred["access"], "secret": cred["secret"]}))
    return 0


def metadata_request(topo: dict, region_address: str, instance: str, tenant: str, address: str, path: str):
    """What Neutron's metadata proxy sends Nova's metadata API for the instance at ``address`` (its fixed IP): the
    instance's id and project, signed with the shared secret (HMAC-SHA256 of the id: Nova refuses another, 403, and
    an id whose project is not ``tenant``, 404). ``(url, headers)``; the future boot path's proxy signs the same way."""
    import hashlib
    import hmac

    md = topo["metadata"]
    signature = hmac.new(md["proxy_secret"].encode(), instance.encode(), hashlib.sha256).hexdigest()
    headers = {
        "X-Instance-ID": instance,
        "X-Tenant-ID": tenant,
        "X-Instance-ID-Signature": signature,
        "X-Forwarded-For": address,
    }
    return f"http://{region_address}:{md['port']}/{path.lstrip('/')}", headers


def metadata_get(url: str, headers: dict, timeout: float = 60) -> tuple[int, str | None, bytes]:
    """GET of Nova's metadata API as ``metadata_request`` made it: (HTTP status, Content-Type, body), errors too."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


TAMPER = ("none", "signature", "tenant")  # the metadata command's own checks: a forged signature, another project


def metadata_main(clouds_yaml: str, entry: str, region: str, server: str, path: str, tamper: str) -> int:
    """GET ``path`` (``openstack/latest/user_data``...) from Nova's metadata API of ``region`` for the server named
    ``server`` of the clouds.yaml ``entry``'s project, as its metadata proxy would; ``tamper``: ``signature`` (a
    forged one) or ``tenant`` (another project's id). JSON on stdout: the HTTP status and the body (base64)."""
    import base64

    if tamper not in TAMPER:
        print(f"tamper: one of {', '.join(TAMPER)}", file=sys.stderr)
        return 2
    topo = topology()
    client = Client(read_clouds_yaml(clouds_yaml)[entry])
    found = [s for s in client.get("compute", region, "/servers/detail")["servers"] if s["name"] == server]
    if len(found) != 1:
        print(f"{entry}/{region}: {len(found)} servers named {server!r}", file=sys.stderr)
        return 1
    (s,) = found
    fixed = [a["addr"] for net in s["addresses"].values() for a in net if a.get("OS-EXT-IPS:type", "fixed") == "fixed"]
    region_address = topo["clouds"][cloud_of(topo)[entry]]["regions"][region]["address"]
    tenant = "0" * 32 if tamper == "tenant" else s["tenant_id"]
    url, headers = metadata_request(topo, region_address, s["id"], tenant, fixed[0] if fixed else "", path)
    if tamper == "signature":
        headers["X-Instance-ID-Signature"] = "0" * 64
    status, _, body = metadata_get(url, headers)
    print(json.dumps({"server": s["id"], "status": status, "body": base64.b64encode(body).decode()}))
    return 0


ADMIN_PASSWORD = "ospw"  # the clouds' bootstrap admin (image/rootfs/opt/rs-os/common.py), inside their namespace only


def admin_client(c: dict) -> Client:
    """The clouds' administrator on the keystone of ``c`` (a clouds.yaml entry, or just its ``auth_url``): the
    operator's console, which sees every project."""
    return Client({**c, "username": "admin", "password": ADMIN_PASSWORD, "project_name": "admin"})


if __name__ == "__main__":
    commands = {
        "probe": (probe_main, 1),
        "inventory": (inventory_main, 1),
        "backup-user": (backup_user_main, 3),
        "metadata": (metadata_main, 6),
    }
    if len(sys.argv) < 2 or sys.argv[1] not in commands or len(sys.argv) != 2 + commands[sys.argv[1]][1]:
        print(
            "usage: hub_client.py probe|inventory CLOUDS_YAML | backup-user CLOUDS_YAML CLOUD USER | "
            "metadata CLOUDS_YAML ENTRY REGION SERVER PATH none|signature|tenant",
            file=sys.stderr,
        )
        sys.exit(2)
    fn, _ = commands[sys.argv[1]]
    sys.exit(fn(*sys.argv[2:]))
