"""The shipped production stack's whole lifecycle with the real engine against real OpenStack APIs (issue 16).

stacks/Pulumi.production.yaml is deployed as shipped: the only thing that differs from a real deployment is
the clouds.yaml (credentials of the local clouds, scripts/local-openstack), and what its `pulumi up` asks of an
operator: the backups' keys (below) and, for its HTTPS, a DNS name, which the local clouds do not have: the test
accepts the self-signed certificate instead (`web.selfSigned: true`), its application's image, which it names in
the operator's own registry, and the zone of its name servers, the operator's own (the shipped ones are placeholders
`pulumi up` refuses). The tests run in file order and
share one deployment; each step runs once (``Lifecycle``) and every later step names the one it needs:

    up (with the policy pack) -> what the APIs list -> audit / policy analyze of the export -> sbg2021 refused
    -> the hosts boot, cloud-init done, the cluster streams -> inventory + the shipped host checks on every host
    -> routine change (reaching the running hosts) -> no-op -> refresh -> a replica replaced (--replace) rejoins
    -> destroy (as docs/operations.md#tearing-down says)

The backups' S3 keys are a dedicated object-store user's, made in the backups' own project (the clouds.yaml entry
`ovh-backups`, a second project of the `ovh` keystone) as an operator makes them and given as Pulumi secrets: the
database hosts' pgBackRest uses them against DE1's S3 endpoint (the local clouds' Swift, `s3.de.cloud.ovh.net`).

Every server boots as a Debian host (the local clouds' compute agent, issue 25) from what Nova received; the
application's image is the example application, pushed into the clouds' registry under the operator's name.

What the APIs list is read through them (``local_openstack.py inventory``: Nova, Neutron, Swift, Cinder as
the clouds' user), never from Pulumi's own state.
"""

from __future__ import annotations

import collections
import functools
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from resilient_stack.core.vocabulary import PROTECTS_KEY, QUORUM_KEY, ROLE_KEY, header_safe
from resilient_stack.hosts.runtime import decode as runtime_document_of
from resilient_stack.testing.mockrun import run_program
from tests.conftest import ROOT
from tests.integration.engine.conftest import POLICIES, audit, policy_events, project_copy, stream_events
from tests.integration.openstack.conftest import (
    TOPOLOGY,
    HubPulumi,
    LocalClouds,
    cloud_of,
    everything,
    example_app_image,
    give_backup_keys,
    in_host,
)

pytestmark = [pytest.mark.engine, pytest.mark.openstack]

STACK = "production"
CONFIG = yaml.safe_load((ROOT / "stacks" / f"Pulumi.{STACK}.yaml").read_text())["config"]
KINDS = {  # Pulumi type -> inventory key
    "openstack:compute/instance:Instance": "servers",
    "openstack:networking/network:Network": "networks",
    "openstack:networking/secGroup:SecGroup": "security_groups",
    "openstack:compute/serverGroup:ServerGroup": "server_groups",
    "openstack:objectstorage/container:Container": "containers",
    "openstack:blockstorage/volume:Volume": "volumes",
}
APP_IMAGE = "registry.shop.internal/shop/web"  # the operator's own registry (the shipped one is a placeholder)
ROUTINE_CHANGE = {  # what an operator changes on a good day: who may SSH, what the page says, a release
    "resilient-stack:adminCidrs": '["198.18.10.0/24", "198.18.20.0/24"]',  # the shipped stack closes SSH
    "resilient-stack:web.title": "Shop (new title)",
    "resilient-stack:sshPublicKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFirstKeyFirstKeyFirstKeyFirstKeyFirstKey0 ops@laptop",
    "resilient-stack:web.selfSigned": "false",  # a DNS name now: its Let's Encrypt certificate, not the snakeoil
    "resilient-stack:web.serverName": "shop.example.org www.shop.example.org",
    "resilient-stack:web.app.image": f"{APP_IMAGE}:1.1.0",
    "resilient-stack:web.app.env.FEATURE_FLAGS": "checkout-v2",
}
ROUTINE_SECRETS = {"resilient-stack:appSecrets.STRIPE_KEY": "sk_test_routine_change"}  # a release too


def cfg(key: str):
    return CONFIG[f"resilient-stack:{key}"]


@dataclass(frozen=True)
class Expected:
    """Where the stack file says each named thing lives: {"cloud/REGION": {kind: {names}}}."""

    where: dict[str, dict[str, set[str]]]

    @classmethod
    def from_stack_file(cls) -> "Expected":
        prefix = cfg("name")
        out: dict[str, dict[str, set[str]]] = collections.defaultdict(lambda: collections.defaultdict(set))
        for p in cfg("placements"):
            at = out[f"{p['cloud']}/{p['region']}"]
            base = f"{prefix}-{p['name']}"
            at["servers"] |= {f"{base}-web-{i}" for i in range(1, p["webCount"] + 1)}
            if p.get("databaseRole") in ("primary", "replica"):
                at["servers"].add(f"{base}-db")
            at["networks"].add(base)
            at["security_groups"] |= (
                {f"{base}-admin"}
                | ({f"{base}-web"} if p["webCount"] else set())
                | ({f"{base}-db"} if p.get("databaseRole") in ("primary", "replica") else set())
            )
            at["server_groups"].add(base)
            if p["name"] in cfg("monitoring")["placements"]:  # its monitoring host, in a group of its own
                at["servers"].add(f"{base}-mon")
                at["security_groups"].add(f"{base}-mon")
        b = cfg("backups")
        out[f"{b['cloud']}/{b['region']}"]["containers"].add(b.get("container") or f"{prefix}-pgbackrest")
        return cls({w: dict(kinds) for w, kinds in out.items()})


class Lifecycle:
    """The deployment's steps, each run once, in order; each returns what the tests check."""

    def __init__(self, pulumi: HubPulumi, clouds: LocalClouds, project: Path, out: Path) -> None:
        self.pulumi, self.clouds, self.project, self.out = pulumi, clouds, project, out

    def cli(self, *args: str, stack: str = STACK, **kw) -> subprocess.CompletedProcess:
        return self.pulumi(*args, "--stack", stack, "--color", "never", cwd=self.project, **kw)

    def export(self) -> dict:
        r = self.cli("stack", "export")
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    @functools.cached_property
    def before(self) -> dict:
        return self.clouds.inventory()

    @functools.cached_property
    def up(self) -> tuple[subprocess.CompletedProcess, dict, dict]:
        self.before  # noqa: B018 - what the clouds held before
        r = self.cli("up", "--yes", "--policy-pack", POLICIES, "--skip-preview", timeout=1800)
        return r, self.clouds.inventory(), self.export()

    def deployed(self) -> tuple[dict, dict]:
        r, inv, state = self.up
        assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-4000:])
        return inv, state

    @functools.cached_property
    def export_file(self) -> Path:
        self.deployed()
        path = self.out / "production.export.json"
        path.write_text(json.dumps(self.export()))
        return path

    @functools.cached_property
    def hosts(self) -> dict[str, dict]:
        """{server name: what its host shows}: every server the deployment made, booted by the local clouds'
        compute agent from what Nova received, observed once every host's cloud-init is done (up to 10 minutes) and
        Patroni has a leader and its replicas stream (2 minutes more)."""
        _, state = self.deployed()
        servers = {r["outputs"]["name"]: r["id"] for r in instances(state)}
        booted = self.clouds.wait_hosts(list(servers.values()), timeout=300)
        by_name = {name: booted[sid] for name, sid in servers.items()}
        deadline = time.monotonic() + 600
        status: dict[str, str] = {}
        while True:
            for name in servers:
                status[name] = in_host(by_name[name]["container"], "cloud-init", "status", "--long", timeout=60)
            if all(not status[n].startswith("status: running") for n in servers) or time.monotonic() > deadline:
                break
            time.sleep(5)
        members: list = []
        while time.monotonic() < deadline + 120:
            members = members_of(by_name[PRIMARY]["container"])
            if [m["Member"] for m in members if m["Role"] == "Leader"] and all(
                receiving(by_name[n]["container"]) == "streaming" for n in REPLICAS
            ):
                break
            time.sleep(5)
        return {
            name: {
                **by_name[name],
                "status": status[name],
                "platform": in_host(by_name[name]["container"], "cloud-init", "query", "platform").strip(),
                "instance_id": in_host(by_name[name]["container"], "cloud-init", "query", "v1.instance_id").strip(),
                "data": in_host(by_name[name]["container"], "findmnt", "-no", "SOURCE", "/var/lib/postgresql").strip(),
                "disks": {
                    vid: in_host(by_name[name]["container"], "readlink", "-f", link).strip()
                    for vid, link in by_name[name]["volumes"].items()
                },
                "members": members if name == PRIMARY else None,
                "receiver": receiving(by_name[name]["container"]) if name in REPLICAS else None,
                "guard": self.clouds.guard() if name == PRIMARY else None,
            }
            for name in servers
        }

    @functools.cached_property
    def checks(self) -> dict[str, tuple[str, subprocess.CompletedProcess]]:
        """{server name: (role, the shipped host checks' run on its host)}: the roles from the deployment's own
        outputs (`pulumi stack output --json | resilient-stack inventory - --format json`, as an operator names
        them); each address's host is the one the agent booted for that port (testinfra through podman, not SSH:
        the stack closes SSH until `adminCidrs` opens it)."""
        by_address = {h["nics"][0]["addresses"][0].split("/")[0]: (name, h) for name, h in self.hosts.items()}
        outputs = self.cli("stack", "output", "--json")
        assert outputs.returncode == 0, outputs.stderr
        inv = subprocess.run(
            [sys.executable, "-m", "resilient_stack", "inventory", "-", "--format", "json"],
            input=outputs.stdout, capture_output=True, text=True, timeout=60, cwd=ROOT,
        )  # fmt: skip
        assert inv.returncode == 0, inv.stderr
        roles = json.loads(inv.stdout)  # role -> ["ssh://debian@ADDRESS"]
        extra = {  # what inventory's `--format shell` runs
            "db-primary": ["--expect-replicas", str(len(roles["db-replica"])), "--expect-backup"],
            "db-replica": ["--expect-backup"],
            "web": ["--expect-app"],  # the example application, from the local clouds' registry
        }
        out = {}
        for role, targets in roles.items():
            for target in targets:
                name, host = by_address[target.rsplit("@", 1)[1]]
                out[name] = (
                    role,
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "resilient_stack.hosts.checks",
                            f"--hosts=podman://{host['container']}",
                            "--role",
                            role,
                            "-q",
                            "-rfEs",
                            *extra.get(role, []),
                        ],
                        capture_output=True,
                        text=True,
                        timeout=600,
                        cwd=ROOT,
                    ),
                )
        return out

    @functools.cached_property
    def change_reached(self) -> dict[str, list[str]]:
        """{server name: its host's ``admin4`` set} once the routine change's admin networks are in every host's
        firewall, read from Nova's metadata by root's sync (every 2 minutes; Nova caches 15 s): up to 5 minutes."""
        r, _, _ = self.change
        assert r.returncode == 0, r.stdout[-3000:]
        wanted = set(json.loads(ROUTINE_CHANGE["resilient-stack:adminCidrs"]))
        deadline = time.monotonic() + 300
        while True:
            sets = {name: admin_set(h["container"]) for name, h in self.hosts.items()}
            if all(wanted <= set(v) for v in sets.values()) or time.monotonic() > deadline:
                return sets
            time.sleep(10)

    @functools.cached_property
    def sbg2021(self) -> tuple[subprocess.CompletedProcess, dict, dict]:
        self.deployed()
        before = self.clouds.inventory()
        self.pulumi.ok("stack", "init", "sbg2021", "--no-select", cwd=self.project)
        r = self.cli("up", "--yes", "--policy-pack", POLICIES, "--skip-preview", stack="sbg2021", timeout=900)
        return r, before, self.clouds.inventory()

    @functools.cached_property
    def change(self) -> tuple[subprocess.CompletedProcess, dict, dict]:
        before, _ = self.deployed()
        self.sbg2021  # noqa: B018 - in file order: the refusal is checked on the untouched deployment
        for key, value in ROUTINE_CHANGE.items():
            self.pulumi.ok("config", "set", "--stack", STACK, "--path", key, value, cwd=self.project)
        for key, value in ROUTINE_SECRETS.items():
            self.pulumi.ok("config", "set", "--secret", "--stack", STACK, "--path", key, value, cwd=self.project)
        r = self.cli("up", "--yes", "--policy-pack", POLICIES, "--skip-preview", timeout=1800)
        return r, before, self.clouds.inventory()

    @functools.cached_property
    def replaced(self) -> dict:
        """A replica's host replaced as the runbook says (docs/operations.md, "Replacing a host"): `pulumi state
        unprotect` of that one instance, `pulumi up --replace` of it; then its new host (booted by the agent), the
        volume it mounts, and the cluster as the primary lists it once the member streams again (up to 10 minutes)."""
        self.change_reached  # noqa: B018 - in file order: after the routine change reached the hosts
        name = sorted(REPLICAS)[0]
        (old,) = [r for r in instances(self.export()) if r["outputs"]["name"] == name]
        unprotect = self.cli("state", "unprotect", old["urn"], "--yes")
        r = self.cli("up", "--yes", "--policy-pack", POLICIES, "--skip-preview", "--replace", old["urn"], timeout=1800)
        (new,) = [x for x in instances(self.export()) if x["outputs"]["name"] == name]
        host = self.clouds.wait_hosts([new["id"]], timeout=300)[new["id"]]
        primary = self.hosts[PRIMARY]["container"]
        deadline = time.monotonic() + 600
        while True:
            members = members_of(primary)
            rejoined = name in {m["Member"] for m in members} and receiving(host["container"]) == "streaming"
            if rejoined or time.monotonic() > deadline:
                break
            time.sleep(5)
        c = host["container"]
        return {
            "name": name,
            "unprotect": unprotect,
            "up": r,
            "old": old,
            "new": new,
            "host": host,
            "old_host": self.hosts[name],
            "members": members,
            "receiver": receiving(c),
            "status": in_host(c, "cloud-init", "status", "--long", timeout=60),
            "data": in_host(c, "findmnt", "-no", "SOURCE", "/var/lib/postgresql").strip(),
            "disks": {vid: in_host(c, "readlink", "-f", link).strip() for vid, link in host["volumes"].items()},
        }

    @functools.cached_property
    def destroy(self) -> tuple[subprocess.CompletedProcess, dict, dict]:
        self.change  # noqa: B018
        state = self.export()
        self.cli("state", "unprotect", "--all", "--yes").check_returncode()  # the data volumes are protected
        r = self.cli("destroy", "--yes", "--skip-preview", timeout=1800)
        return r, state, self.clouds.inventory()


def instances(state: dict) -> list[dict]:
    return [r for r in state["deployment"]["resources"] if r["type"] == "openstack:compute/instance:Instance"]


def members_of(container: str) -> list[dict]:
    """The cluster's members as the member on ``container`` lists them (``patronictl list``); [] while it cannot."""
    out = in_host(container, "patronictl", "-c", "/etc/patroni/config.yml", "list", "-f", "json")
    return json.loads(out) if out.startswith("[") else []


def receiving(container: str) -> str:
    """A member's WAL receiver status (``streaming`` when it replicates from a primary: what the drill's verdict
    reads; Debian's Patroni 3.0 calls every healthy replica "running", streaming or restoring from the archive)."""
    return in_host(
        container, "runuser", "-u", "postgres", "--", "psql", "-XAtc", "select status from pg_stat_wal_receiver"
    ).strip()


def admin_set(container: str) -> list[str]:
    """The networks a host's own firewall admits SSH from (its nftables set ``admin4``)."""
    out = in_host(container, "nft", "-j", "list", "set", "inet", "resilient_stack", "admin4")
    if not out.startswith("{"):
        return [out]
    (found,) = [i["set"] for i in json.loads(out)["nftables"] if "set" in i]
    elems = found.get("elem") or []
    return [e if isinstance(e, str) else f"{e['prefix']['addr']}/{e['prefix']['len']}" for e in elems]


PRIMARY = next(f"{cfg('name')}-{p['name']}-db" for p in cfg("placements") if p.get("databaseRole") == "primary")
REPLICAS = {f"{cfg('name')}-{p['name']}-db" for p in cfg("placements") if p.get("databaseRole") == "replica"}


@pytest.fixture(scope="module")
def life(hub_pulumi, local_clouds, tmp_path_factory):
    project = project_copy(tmp_path_factory.mktemp("production") / "resilient-stack")
    hub_pulumi.ok("stack", "init", STACK, "--no-select", cwd=project)
    give_backup_keys(hub_pulumi, local_clouds, project, STACK, "resilient-stack", cfg("backups")["cloud"])
    hub_pulumi.ok("config", "set", "--path", "--stack", STACK, "resilient-stack:web.selfSigned", "true", cwd=project)
    # the application's image from the operator's registry, and the operator's own zone for the stack's name
    # servers: `pulumi up` refuses the template's placeholders
    hub_pulumi.ok(
        "config", "set", "--path", "--stack", STACK, "resilient-stack:web.app.image", f"{APP_IMAGE}:1.0.0", cwd=project
    )
    hub_pulumi.ok(
        "config",
        "set",
        "--path",
        "--stack",
        STACK,
        "resilient-stack:monitoring.zone.name",
        "shop.internal.",
        cwd=project,
    )
    local_clouds.hosts("start")  # every server the deployment makes boots as a host (issue 25)
    for tag in ("1.0.0", "1.1.0"):  # the release `pulumi up` deploys, then the routine change's
        local_clouds.push(example_app_image(), f"{APP_IMAGE}:{tag}")
    yield Lifecycle(hub_pulumi, local_clouds, project, tmp_path_factory.mktemp("exports"))
    local_clouds.hosts("stop")


def custom_resources(state: dict) -> list[dict]:
    return [r for r in state["deployment"]["resources"] if r["type"] in KINDS]


def placed_in(state: dict, clouds: dict[str, dict]) -> dict[str, str]:
    """{resource URN: "cloud/REGION"} from the provider each resource was created through (its inputs)."""
    providers = {}
    for r in state["deployment"]["resources"]:
        if r["type"] == "pulumi:providers:openstack":
            providers[f"{r['urn']}::{r['id']}"] = f"{r['inputs']['cloud']}/{r['inputs']['region']}"
    return {r["urn"]: providers[r["provider"]] for r in custom_resources(state)}


def added(before: dict, after: dict, kind: str) -> dict[str, list]:
    """{"cloud/REGION": [names]} of ``kind`` listed in ``after`` and not in ``before`` (other tests share the clouds)."""
    old = everything(before, kind)
    return {w: new for w, names in everything(after, kind).items() if (new := sorted(set(names) - set(old.get(w, []))))}


def ids(inv: dict, kind: str) -> dict[str, dict[str, set[str]]]:
    """{"cloud/REGION": {name: {ids}}} (containers: name -> {name})."""
    out: dict[str, dict[str, set[str]]] = {}
    for where, held in inv.items():
        items = held[kind]
        out[where] = collections.defaultdict(set)
        for name, ident in (
            ((n, n) for n in items) if isinstance(items, dict) else ((i["name"], i["id"]) for i in items)
        ):
            out[where][name].add(ident)
    return out


# ---- 1. pulumi up ---------------------------------------------------------------------------------------


def test_up_of_the_shipped_production_stack_creates_every_resource_with_the_pack_on(life):
    r, _, state = life.up
    assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-4000:])
    assert "Policies:" in r.stdout and "resilient-stack" in r.stdout and "mandatory" not in r.stdout, r.stdout[-3000:]
    registered = collections.Counter((x.type, x.name) for x in run_program(ROOT / "stacks" / f"Pulumi.{STACK}.yaml"))
    in_state = collections.Counter(
        (x["type"], x["urn"].rsplit("::", 1)[1])
        for x in state["deployment"]["resources"]
        if not (x["type"].startswith("pulumi:providers:") and x["urn"].rsplit("::", 1)[1].startswith("default"))
    )
    assert in_state == registered
    assert all(x.get("id") for x in state["deployment"]["resources"] if x["custom"])


def test_the_apis_list_each_resource_in_the_region_and_cloud_of_its_placement(life):
    inv, state = life.deployed()
    expected = Expected.from_stack_file().where
    for kind in ("servers", "networks", "security_groups", "server_groups", "containers"):
        listed = everything(inv, kind)
        for where, names in ((w, k[kind]) for w, k in expected.items() if k.get(kind)):
            assert names <= set(listed.get(where, [])), (kind, where, names, listed)
        # and nothing else is new anywhere (a container of that name may exist already: Swift's PUT is idempotent)
        old = everything(life.before, kind)
        want = {w: sorted(new) for w, k in expected.items() if (new := set(k.get(kind, ())) - set(old.get(w, [])))}
        assert added(life.before, inv, kind) == want, (kind, want)
    # and each of them is the very resource the state records, created through its placement's provider
    where = placed_in(state, inv)
    for res in custom_resources(state):
        kind = KINDS[res["type"]]
        name = res["outputs"]["name"]
        # (reused clouds: a volume kept by an earlier teardown may carry the same name, with another id)
        assert res["id"] in ids(inv, kind)[where[res["urn"]]].get(name, set()), (res["urn"], where[res["urn"]])


def test_the_apis_show_the_labels_the_auditor_reads(life):
    inv, _ = life.deployed()
    roles = {}
    for where, held in inv.items():
        for s in held["servers"]:
            assert s["status"] == "ACTIVE", s
            roles[s["name"]] = (where, s["metadata"].get(ROLE_KEY), s["metadata"].get(QUORUM_KEY))
        for name, c in held["containers"].items():
            roles[name] = (
                where,
                c["metadata"].get(header_safe({ROLE_KEY: ""}).popitem()[0]),
                c["metadata"].get(header_safe({PROTECTS_KEY: ""}).popitem()[0]),
            )
    prefix = cfg("name")
    for p in cfg("placements"):
        at = f"{p['cloud']}/{p['region']}"
        for i in range(1, p["webCount"] + 1):
            assert roles[f"{prefix}-{p['name']}-web-{i}"] == (at, "web", None)
        if p.get("databaseRole") in ("primary", "replica"):
            assert roles[f"{prefix}-{p['name']}-db"] == (at, "database", "true")
    b = cfg("backups")
    assert roles[b.get("container") or f"{prefix}-pgbackrest"] == (f"{b['cloud']}/{b['region']}", "backup", "database")
    # each placement's hosts share its soft-anti-affinity server group; public addresses come from the
    # region's own external network
    for where, held in inv.items():
        for g in held["server_groups"]:
            assert g["policy"] == "soft-anti-affinity"
            members = {s["id"] for s in held["servers"] if s["name"].startswith(g["name"] + "-")}
            assert set(g["members"]) == members, (where, g)
        entry, region = where.split("/")
        cloud = cloud_of(entry)  # ovh-backups: another project of the ovh keystone
        ext = TOPOLOGY["clouds"][cloud]["external_networks"][0]
        cidr = TOPOLOGY["clouds"][cloud]["regions"][region]["external_cidr"]
        for s in held["servers"]:
            assert s["addresses"][ext][0].startswith(cidr.rsplit(".", 2)[0]), (s["name"], s["addresses"])


# ---- 1b. the servers boot as hosts (the local clouds' compute agent, issue 25) ----------------------------


def test_every_server_boots_from_what_nova_received_and_its_cloud_init_finishes(life):
    """Each server of the deployment is a running Debian host whose cloud-init read Nova's metadata service (the
    OpenStack datasource, the server's own id), and every host's cloud-init finishes without error: the replicas'
    too, whose restore command reads the WAL archive from the backups' S3 endpoint (DE1's Swift over TLS, with the
    backup user's EC2 keys), as on OVHcloud."""
    hosts = life.hosts
    _, state = life.deployed()
    assert {h["instance_id"] for h in hosts.values()} == {r["id"] for r in instances(state)}
    assert {h["platform"] for h in hosts.values()} == {"openstack"}
    for name, h in hosts.items():
        assert h["status"].startswith("status: done") and "DataSourceOpenStack" in h["status"], (name, h["status"])


def test_the_database_hosts_mount_their_cinder_volumes_and_elect_one_leader(life):
    """Each database host's PostgreSQL directory is its own Cinder volume (the loop device the agent attached, found
    by the volume's serial by the host's data-volume script), and Patroni, over the public addresses Neutron gave,
    lists the three members with exactly one leader: the primary's placement. All of it through the stack's own
    security groups, enforced on the fabric around every port (a rule missing for etcd's peers or Patroni's API
    would keep the members apart)."""
    hosts = life.hosts
    _, state = life.deployed()
    volumes = {r["id"] for r in state["deployment"]["resources"] if r["type"] == "openstack:blockstorage/volume:Volume"}
    for name in [PRIMARY, *REPLICAS]:
        ((vid, device),) = hosts[name]["disks"].items()
        assert vid in volumes and device.startswith("/dev/loop") and hosts[name]["data"] == device, (name, hosts[name])
    members = hosts[PRIMARY]["members"]
    assert sorted(m["Member"] for m in members) == sorted([PRIMARY, *REPLICAS])
    assert [m["Member"] for m in members if m["Role"] == "Leader"] == [PRIMARY]
    assert {n: hosts[n]["receiver"] for n in REPLICAS} == dict.fromkeys(REPLICAS, "streaming")
    public = {h["name"]: h["nics"][0]["addresses"][0].split("/")[0] for h in hosts.values()}
    assert {m["Member"]: m["Host"] for m in members} == {n: public[n] for n in [PRIMARY, *REPLICAS]}
    guard = hosts[PRIMARY]["guard"]
    for name, address in public.items():  # every host's public port is filtered both ways
        assert f"ip daddr {address} jump in_" in guard and f"ip saddr {address} jump out_" in guard, name


def test_the_shipped_host_checks_pass_on_every_host_pulumi_up_made(life):
    """Issue 25: `pulumi stack output --json | resilient-stack inventory -` names each host's role, and the shipped
    host checks (testinfra) pass on every host of the deployment: web, monitoring, the primary with its two
    replicas streaming and its first backup in the repository (DE1's S3), each replica with its WAL archive."""
    checks = life.checks
    assert sorted(checks) == sorted(life.hosts), sorted(checks)
    assert {role for role, _ in checks.values()} == {"web", "monitoring", "db-primary", "db-replica"}
    for name, (role, run) in checks.items():
        assert run.returncode == 0 and " passed" in run.stdout, (name, role, run.stdout[-4000:], run.stderr[-2000:])


# ---- 2. the auditor and the pack on the real export ---------------------------------------------------


def test_audit_of_the_real_export_passes_and_places_every_replica(life):
    export = life.export_file
    a = audit("-", "--catalog", str(life.clouds.catalog), stdin=export.read_text())
    assert a.exit == 0 and a.report["verdict"] == "pass", (a.stderr, a.report and a.report["findings"])
    assert a.levels == {}, a.report["findings"]
    placed = collections.defaultdict(set)
    for p in a.report["placements"]:
        placed[p["role"]].add((p["provider"], p["region"]))
    assert placed["database"] == {("ovhcloud", "GRA11"), ("ovhcloud", "WAW1"), ("infomaniak", "dc4-a")}
    assert placed["backup"] == {("ovhcloud", "DE1")}
    assert placed["web"] == {("ovhcloud", "GRA11"), ("ovhcloud", "WAW1"), ("infomaniak", "dc4-a")}


def test_policy_analyze_of_the_same_export_agrees(life):
    r = life.pulumi(
        "policy", "analyze", "--file", str(life.export_file), "--policy-pack", POLICIES, "--json", cwd=life.project
    )
    events = policy_events(stream_events(r.stdout))
    assert r.returncode == 0, (r.stdout[-3000:], r.stderr[-3000:])
    assert not [e for e in events if e["enforcementLevel"] == "mandatory"], events
    assert not [e for e in events if "can't run policy" in e["message"]], events


# ---- 3. the 2021 replay is refused before anything exists ----------------------------------------------


def test_sbg2021_is_refused_before_any_resource_exists(life):
    r, before, after = life.sbg2021
    assert r.returncode != 0
    assert "design rejected by the placement rules" in r.stdout + r.stderr
    assert after == before  # the APIs list nothing new, anywhere
    state = json.loads(life.cli("stack", "export", stack="sbg2021").stdout)
    assert [x["type"] for x in state["deployment"].get("resources") or []] in ([], ["pulumi:pulumi:Stack"])


# ---- 4. a routine change replaces no host; then nothing to do -----------------------------------------


def test_a_routine_change_replaces_no_instance_and_no_volume(life):
    r, before, after = life.change
    assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-4000:])
    # every server keeps its id: the database hosts, and the web hosts too (a release, keys, names and the title are
    # runtime configuration: the instances' metadata changes in place)
    assert ids(before, "servers") == ids(after, "servers")
    db = {w: {n: i for n, i in names.items() if n.endswith("-db")} for w, names in ids(before, "servers").items()}
    assert sum(len(v) for v in db.values()) == 3
    assert ids(before, "volumes") == ids(after, "volumes")
    # the release, the keys, the names and the title reached every running host through its metadata, in place
    webs = [sv for held in after.values() for sv in held["servers"] if "-web-" in sv["name"]]
    assert len(webs) == 5
    for sv in webs:
        doc = runtime_document_of(sv["metadata"])
        assert doc["app"]["spec"]["image"] == f"{APP_IMAGE}:1.1.0", sv["name"]
        assert doc["app"]["spec"]["env"]["FEATURE_FLAGS"] == "checkout-v2" and doc["app"]["spec"]["secrets"] == [
            "STRIPE_KEY"
        ]
        assert "sk_test_routine_change" not in json.dumps(sv["metadata"]), "the secret travels sealed"
        assert (
            doc["site"]["title"] == "Shop (new title)"
            and doc["site"]["server_name"] == ROUTINE_CHANGE["resilient-stack:web.serverName"]
        )
        assert doc["ssh_keys"] == [ROUTINE_CHANGE["resilient-stack:sshPublicKey"]]
    # the monitoring hosts: the admin networks reach their web interfaces, in place; they watch all 10 hosts
    mons = [sv for held in after.values() for sv in held["servers"] if sv["name"].endswith("-mon")]
    assert len(mons) == 2
    for sv in mons:
        doc = runtime_document_of(sv["metadata"])
        assert doc["firewall"]["admin4"] == ["198.18.10.0/24", "198.18.20.0/24"], sv["name"]
        assert len(doc["monitoring"]["targets"]["node"]) == 10
    # the change did reach the cloud: SSH from the new admin network in every placement's admin group
    for where, held in after.items():
        for g in held["security_groups"]:
            if g["name"].endswith("-admin"):
                assert {x["remote_ip_prefix"] for x in g["rules"] if x["port_range_min"] == 22} == {
                    "198.18.10.0/24",
                    "198.18.20.0/24",
                }, (where, g)


def test_the_routine_change_reaches_the_running_hosts_through_novas_metadata(life):
    """The new admin networks reach every running host's own firewall (root's sync reads the instance metadata the
    change updated in place, from Nova's metadata service), on the same hosts: no server was replaced."""
    wanted = set(json.loads(ROUTINE_CHANGE["resilient-stack:adminCidrs"]))
    reached = life.change_reached
    assert {n: sorted(wanted - set(v)) for n, v in reached.items()} == {n: [] for n in reached}
    after = life.clouds.hosts("list")["hosts"]
    assert {h["container"] for h in life.hosts.values()} <= {h["container"] for h in after.values()}


def test_a_second_up_with_no_change_is_a_no_op(life):
    r, _, after = life.change
    assert r.returncode == 0
    preview = life.cli("preview", "--expect-no-changes", "--diff", "--policy-pack", POLICIES, timeout=900)
    assert preview.returncode == 0, preview.stdout[-4000:]
    again = life.cli("up", "--yes", "--expect-no-changes", "--skip-preview", timeout=900)
    assert again.returncode == 0, again.stdout[-4000:]
    assert ids(life.clouds.inventory(), "servers") == ids(after, "servers")


def test_refresh_finds_no_drift(life):
    life.change  # noqa: B018
    r = life.cli("refresh", "--yes", "--expect-no-changes", "--skip-preview", timeout=900)
    assert r.returncode == 0, r.stdout[-4000:]


# ---- 5. destroy ---------------------------------------------------------------------------------------


def test_a_replaced_database_host_comes_back_with_its_volume_and_rejoins_as_a_replica(life):
    """Issue 25: a replica's instance, unprotected and replaced (`pulumi up --replace`), boots as a new host that
    mounts the same retained Cinder volume and rejoins the cluster as the same member, streaming, with no other
    change; the replacement is protected again."""
    rep = life.replaced
    assert rep["unprotect"].returncode == 0, rep["unprotect"].stderr
    assert rep["up"].returncode == 0, rep["up"].stdout[-4000:]
    assert rep["new"]["id"] != rep["old"]["id"] and rep["new"].get("protect") is True
    assert rep["status"].startswith("status: done"), rep["status"]
    assert list(rep["disks"]) == list(rep["old_host"]["disks"]), (rep["disks"], rep["old_host"]["disks"])
    ((_, device),) = rep["disks"].items()
    assert device.startswith("/dev/loop") and rep["data"] == device
    assert rep["receiver"] == "streaming"
    members = {m["Member"]: m["Role"] for m in rep["members"]}
    assert members[rep["name"]] != "Leader" and [n for n, role in members.items() if role == "Leader"] == [PRIMARY]
    assert len(members) == 3, rep["members"]


def test_destroy_removes_everything_but_the_backup_container_and_the_data_volumes(life):
    r, state, after = life.destroy
    assert r.returncode == 0, (r.stdout[-4000:], r.stderr[-4000:])
    b = cfg("backups")
    backup = b.get("container") or f"{cfg('name')}-pgbackrest"
    data = {
        x["outputs"]["id"]: x["outputs"]["name"]
        for x in custom_resources(state)
        if x["type"] == "openstack:blockstorage/volume:Volume"
    }
    db_placements = [p for p in cfg("placements") if p.get("databaseRole") in ("primary", "replica")]
    assert sorted(data.values()) == sorted(f"{cfg('name')}-{p['name']}-db-data" for p in db_placements)
    retained = {x["outputs"]["name"] for x in custom_resources(state) if x.get("retainOnDelete")}
    assert retained == {backup, *data.values()}
    for kind in (
        "servers",
        "networks",
        "subnets",
        "ports",
        "floating_ips",
        "routers",
        "security_groups",
        "server_groups",
    ):
        assert everything(after, kind) == everything(life.before, kind), kind
    # the data volumes are kept by the cloud, detached, each in its placement's region; no other volume is new
    old = {v["id"] for held in life.before.values() for v in held["volumes"]}
    new = {v["id"]: (w, v) for w, held in after.items() for v in held["volumes"] if v["id"] not in old}
    assert set(new) == set(data)
    for where, v in new.values():
        p = next(p for p in db_placements if f"{cfg('name')}-{p['name']}-db-data" == v["name"])
        assert where == f"{p['cloud']}/{p['region']}" and v["status"] == "available" and not v["attachments"], v
    where = f"{b['cloud']}/{b['region']}"
    assert backup in after[where]["containers"]
    existed = backup in life.before[where]["containers"]  # reused clouds: Swift's PUT of it was idempotent
    assert added(life.before, after, "containers") == ({} if existed else {where: [backup]})
    assert json.loads(life.cli("stack", "export").stdout)["deployment"].get("resources") in (None, [])


def test_destroy_removes_every_host_and_keeps_the_retained_volumes_bytes(life):
    """`pulumi destroy` deletes the servers: their hosts go (containers, namespaces); the data volumes the stack
    retains stay in Cinder, so the agent keeps their files (detached) for a later deployment's hosts."""
    r, state, _ = life.destroy
    assert r.returncode == 0, r.stdout[-3000:]
    servers = {x["id"] for x in instances(state)}
    deadline = time.monotonic() + 60
    while servers & set((listed := life.clouds.hosts("list"))["hosts"]) and time.monotonic() < deadline:
        time.sleep(2)
    assert not servers & set(listed["hosts"])
    assert not [c for h in life.hosts.values() if (c := h["container"]) in podman_names()]
    data = {x["id"] for x in custom_resources(state) if x["type"] == "openstack:blockstorage/volume:Volume"}
    assert data <= set(listed["volumes"])


def podman_names() -> set[str]:
    out = subprocess.run(["podman", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, timeout=60)
    return set(out.stdout.split())
