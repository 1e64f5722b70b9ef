"""What the local clouds offer beyond the shipped stacks, checked with the real engine (issue 16, for issue 17):

- Cinder: an ``openstack.blockstorage.Volume`` attaches to an instance of Nova's fake driver
  (``openstack.compute.VolumeAttach``), and is detached and deleted on destroy;
- Keystone: EC2 credentials (the dedicated backup user's S3 keys) and application credentials with access rules
  (a least-privilege backup credential);
- the regions of one cloud are separate backends: what one region holds, another does not list;
- a state that records a local auth URL is placed through a ``--catalog`` file (RUN_DIR/catalog.yaml), as a
  private cloud's would be, and is unplaceable without it;
- the pinned provider's precedence: with ``cloud`` set, the clouds.yaml entry's ``auth_url`` is used even
  when the program gives an explicit ``auth_url`` (the state still records the program's URL).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.integration.engine.conftest import POLICIES, audit, plain_project, policy_events, stream_events
from tests.integration.openstack.conftest import in_host

pytestmark = [pytest.mark.engine, pytest.mark.openstack]

PROGRAM = """\
import pulumi
import pulumi_openstack as openstack

USER_DATA = "#cloud-config\\nhostname: probe-vm\\nwrite_files:\\n- path: /etc/probe\\n  content: \\"caf\\u00e9 \\u2713\\"\\n"

# the local keystone's own URL, given explicitly: the state records it (what --catalog files are for)
uk = openstack.Provider("uk", cloud="ovh", auth_url=pulumi.Config().require("ovhAuthUrl"), region="UK1")
on_uk = pulumi.ResourceOptions(provider=uk)
net = openstack.networking.Network("net", name="probe-net", opts=on_uk)
subnet = openstack.networking.Subnet("subnet", network_id=net.id, cidr="10.99.0.0/24", opts=on_uk)
web = openstack.networking.SecGroup("web", name="probe-web", description="HTTP from anywhere", opts=on_uk)
http = openstack.networking.SecGroupRule("http", security_group_id=web.id, direction="ingress", ethertype="IPv4",
                                         protocol="tcp", port_range_min=80, port_range_max=80,
                                         remote_ip_prefix="0.0.0.0/0", opts=on_uk)
vm = openstack.compute.Instance(
    "vm", name="probe-vm", flavor_name="d2-4", image_name="Debian 12", metadata={"resilient-stack:role": "web"},
    user_data=USER_DATA, security_groups=["default", web.name], power_state=pulumi.Config().get("power") or "active",
    networks=[openstack.compute.InstanceNetworkArgs(name="Ext-Net"), openstack.compute.InstanceNetworkArgs(uuid=net.id)],
    opts=pulumi.ResourceOptions(provider=uk, depends_on=[subnet, http]))
volume = openstack.blockstorage.Volume("data", name="probe-data", size=10,
                                       metadata={"resilient-stack:role": "volume"}, opts=on_uk)
attach = openstack.compute.VolumeAttach("data-attach", instance_id=vm.id, volume_id=volume.id,
                                       opts=pulumi.ResourceOptions(provider=uk, delete_before_replace=True))
ec2 = openstack.identity.Ec2CredentialV3("ec2", opts=on_uk)
appcred = openstack.identity.ApplicationCredential(
    "backup-credential", name="probe-backup", description="object storage of one container only",
    access_rules=[openstack.identity.ApplicationCredentialAccessRuleArgs(
        path="/v1/AUTH_*/probe-backups/**", service="object-store", method=m) for m in ("GET", "PUT", "HEAD")],
    opts=on_uk)
# the explicit auth_url names a host that resolves nowhere in the clouds' namespace
ik = openstack.Provider("ik", cloud="infomaniak", auth_url="https://auth.invalid.example/identity/v3", region="dc4-a")
ik_net = openstack.networking.Network("ik-net", name="probe-ik-net", opts=pulumi.ResourceOptions(provider=ik))
pulumi.export("vm", vm.id)
pulumi.export("volume", volume.id)
pulumi.export("attachDevice", attach.device)
pulumi.export("ec2Access", ec2.access)
pulumi.export("ec2Secret", ec2.secret)
pulumi.export("appcredId", appcred.id)
pulumi.export("appcredRules", appcred.access_rules)
pulumi.export("ikNet", ik_net.id)
"""


@pytest.fixture(scope="module")
def probe(hub_pulumi, local_clouds, tmp_path_factory):
    project = plain_project(tmp_path_factory.mktemp("probe") / "probe", "local-clouds-probe", PROGRAM)
    hub_pulumi.ok("stack", "init", "probe", "--no-select", cwd=project)
    ovh = yaml.safe_load(local_clouds.clouds_yaml.read_text())["clouds"]["ovh"]["auth"]["auth_url"]
    hub_pulumi.ok("config", "set", "--stack", "probe", "ovhAuthUrl", ovh, cwd=project)
    before = local_clouds.inventory()
    local_clouds.hosts("start")  # the compute agent: the probe VM boots as a host (issue 25)
    up = hub_pulumi("up", "--yes", "--skip-preview", "--stack", "probe", cwd=project, timeout=900)
    during = local_clouds.inventory()
    state = json.loads(hub_pulumi.ok("stack", "export", "--stack", "probe", "--show-secrets", cwd=project).stdout)
    export = tmp_path_factory.mktemp("probe-export") / "probe.export.json"  # secrets encrypted, as users keep it
    export.write_text(hub_pulumi.ok("stack", "export", "--stack", "probe", cwd=project).stdout)
    asked = (
        {  # Nova's metadata API, asked as the metadata proxy asks (signed), while the server exists
            (path, tamper): local_clouds.metadata("ovh", "UK1", "probe-vm", path, tamper)
            for path, tamper in (
                ("openstack/latest/user_data", "none"),
                ("openstack/latest/meta_data.json", "none"),
                ("openstack/latest/meta_data.json", "signature"),
                ("openstack/latest/meta_data.json", "tenant"),
            )
        }
        if up.returncode == 0
        else {}
    )
    booted = replaced = None
    if up.returncode == 0:
        volume = outputs(state)["volume"]
        booted = observe_host(local_clouds, outputs(state)["vm"], volume)
        keys = json.loads(
            hub_pulumi.ok("stack", "output", "--json", "--show-secrets", "--stack", "probe", cwd=project).stdout
        )
        booted["s3"] = s3_from_host(booted["container"], keys["ec2Access"], keys["ec2Secret"])
        # the server replaced (as a database host is, `pulumi up --replace`): the volume outlives the first host
        in_host(booted["container"], "sh", "-c", f"printf {MARK} | dd of={disk(volume)} conv=fsync status=none")
        # powered off and on (Nova's SHUTOFF, then ACTIVE): the host stops, then boots again with its volume
        powered = {}
        for power in ("shutoff", "active"):
            hub_pulumi.ok("config", "set", "--stack", "probe", "power", power, cwd=project)
            hub_pulumi.ok("up", "--yes", "--skip-preview", "--stack", "probe", cwd=project, timeout=900)
            powered[power] = host_state(
                local_clouds, outputs(state)["vm"], "stopped" if power == "shutoff" else "running"
            )
        powered["volume"] = in_host(
            booted["container"], "sh", "-c",
            f"for i in $(seq 30); do [ -b {disk(volume)} ] && break; sleep 1; done; head -c {len(MARK)} {disk(volume)}",
        )  # fmt: skip
        vm_urn = next(r["urn"] for r in state["deployment"]["resources"] if r["urn"].endswith("::vm"))
        hub_pulumi.ok(
            "up", "--yes", "--skip-preview", "--stack", "probe", "--replace", vm_urn, cwd=project, timeout=900
        )
        again = json.loads(hub_pulumi.ok("stack", "output", "--json", "--stack", "probe", cwd=project).stdout)
        replaced = {**observe_host(local_clouds, again["vm"], volume), "old": host_gone(local_clouds, booted)}
    destroy = hub_pulumi("destroy", "--yes", "--skip-preview", "--stack", "probe", cwd=project, timeout=900)
    gone = host_gone(local_clouds, replaced)
    volumes_after = wait_volume_gone(local_clouds, outputs(state)["volume"]) if up.returncode == 0 else None
    local_clouds.hosts("stop")
    return (up, destroy, before, during, local_clouds.inventory(), state, export, asked,
            Booted(booted, replaced, gone, volumes_after, powered if up.returncode == 0 else {}))  # fmt: skip


S3 = "s3.de.cloud.ovh.net"  # the shipped stacks' backups.s3Endpoint: DE1's Swift over TLS on the local clouds


def s3_from_host(container: str, access: str, secret: str) -> dict:
    """From a booted host, as pgBackRest on a database host calls it: DE1's S3 endpoint by the stack's name, over TLS
    checked against the host's system store, signed (SigV4, region ``de``) with EC2 keys keystone issued."""
    out = {}
    for step, args, body in (
        ("create", ["-X", "PUT", f"https://{S3}/probe-s3"], ""),
        ("put", ["-X", "PUT", "--data-binary", MARK, f"https://{S3}/probe-s3/mark"], MARK),
        ("get", [f"https://{S3}/probe-s3/mark"], ""),
        ("list", [f"https://{S3}/"], ""),
        ("forged", ["--user", f"{access}:not-the-secret", f"https://{S3}/probe-s3/mark"], ""),
        ("delete", ["-X", "DELETE", f"https://{S3}/probe-s3/mark"], ""),  # the clouds as they were
        ("drop", ["-X", "DELETE", f"https://{S3}/probe-s3"], ""),
    ):
        # S3 wants the payload's hash as a signed header; curl (7.88) signs the header but does not add it
        payload = hashlib.sha256(body.encode()).hexdigest()
        curl = ["curl", "-sS", "--max-time", "20", "--aws-sigv4", "aws:amz:de:s3", "--user", f"{access}:{secret}",
                "-H", f"x-amz-content-sha256: {payload}", "-w", "\n%{http_code}"]  # fmt: skip
        r = subprocess.run(["podman", "exec", container, *curl, *args], capture_output=True, text=True, timeout=60)
        out[step] = (r.stdout.rsplit("\n", 1)[-1], r.stdout.rsplit("\n", 1)[0] + r.stderr)
    return out


def host_state(local_clouds, server_id: str, wanted: str) -> dict:
    """The agent's state of the server's host and whether its container runs, once ``wanted`` (or 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        host = local_clouds.hosts("list")["hosts"][server_id]
        running = subprocess.run(
            ["podman", "inspect", "-f", "{{.State.Running}}", host["container"]], capture_output=True, text=True
        ).stdout.strip()
        if host["state"] == wanted or time.monotonic() > deadline:
            return {"state": host["state"], "running": running, "container": host["container"]}
        time.sleep(1)


MARK = "probe-mark-issue25"


@dataclass
class Booted:
    first: dict | None  # the host of the server `pulumi up` made
    replaced: dict | None  # the host of its replacement (and "old": whether the first host still existed)
    gone: dict  # after `pulumi destroy`: whether the replacement's container and namespace still exist
    volumes_after: list[str] | None  # the volume files the agent still keeps once Cinder deleted the volume
    powered: dict  # the first host powered off, then on: its state each time, and its volume's first bytes after


def disk(volume_id: str) -> str:
    return f"/dev/disk/by-id/virtio-{volume_id[:20]}"


def wait_volume_gone(local_clouds, volume_id: str) -> list[str]:
    deadline = time.monotonic() + 60
    while volume_id in (kept := local_clouds.hosts("list")["volumes"]) and time.monotonic() < deadline:
        time.sleep(2)
    return kept


def observe_host(local_clouds, server_id: str, volume_id: str) -> dict:
    """What the host the compute agent booted for the server shows, once its cloud-init is done (or 5 minutes)."""
    host = local_clouds.wait_hosts([server_id], timeout=120)[server_id]
    c = host["container"]
    public = host["nics"][0]["addresses"][0].split("/")[0]
    visit = subprocess.run(
        ["ip", "netns", "exec", local_clouds.hub, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
         "--max-time", "10", f"http://{public}/"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    ssh = subprocess.run(  # the host's sshd listens; no group of the port opens 22
        ["ip", "netns", "exec", local_clouds.hub, "timeout", "5", "bash", "-c", f"echo > /dev/tcp/{public}/22"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return {
        **host,
        "status": in_host(c, "cloud-init", "status", "--wait", "--long", timeout=300),
        "probe": in_host(c, "cat", "/etc/probe"),
        "platform": in_host(c, "cloud-init", "query", "platform").strip(),
        "instance_id": in_host(c, "cloud-init", "query", "v1.instance_id").strip(),
        "hostname": in_host(c, "hostname").strip(),
        "links": {  # device -> (MAC, IPv4 addresses), as the host sees them
            link["ifname"]: (
                link.get("address"),
                [f"{a['local']}/{a['prefixlen']}" for a in link.get("addr_info", []) if a["family"] == "inet"],
            )
            for link in json.loads(in_host(c, "ip", "-j", "addr"))
            if link["ifname"] != "lo"
        },
        "route": in_host(c, "ip", "route", "show", "default").strip(),
        "visitor": visit.stdout,
        "ssh_visitor": ssh.returncode,
        "listening": in_host(c, "ss", "-Htln"),
        "volume": in_host(  # the attached volume (the agent attaches it once Nova says so: wait for it)
            c,
            "sh",
            "-c",
            f"for i in $(seq 60); do [ -b {disk(volume_id)} ] && break; sleep 1; done; "
            f"blockdev --getsize64 {disk(volume_id)} && head -c {len(MARK)} {disk(volume_id)}",
        ),
    }


def host_gone(local_clouds, booted: dict | None) -> dict:
    """Once the server is deleted: is its host still there (container, network namespace)? Waits up to 60 s."""
    if booted is None:
        return {}
    deadline = time.monotonic() + 60
    while True:
        container = subprocess.run(["podman", "container", "exists", booted["container"]]).returncode == 0
        netns = Path("/run/netns", booted["netns"]).exists()
        if not (container or netns) or time.monotonic() > deadline:
            return {"container": container, "netns": netns}
        time.sleep(1)


def outputs(state: dict) -> dict:
    stack = next(r for r in state["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack")
    return stack["outputs"]


def test_the_server_boots_as_a_host_that_reads_its_user_data_from_novas_metadata_service(probe):
    """Issue 25: the server `pulumi up` created boots (the compute agent), cloud-init's OpenStack datasource reads
    the user data Nova received through 169.254.169.254 (the signing proxy, Nova's metadata API), on the MACs and
    fixed addresses Neutron gave its ports, in Nova's order; a visitor in the hub reaches the port its security
    group opens on its public address, and not another; the host goes with the server."""
    up, _, _, _, _, state, _, _, hosts = probe
    booted = hosts.first
    assert up.returncode == 0, up.stdout[-3000:]
    assert "\nstatus: done\n" in "\n" + booted["status"].lstrip("."), booted["status"]  # --wait prints dots first
    assert "DataSourceOpenStack" in booted["status"]  # not NoCloud, not None
    assert (booted["platform"], booted["instance_id"]) == ("openstack", outputs(state)["vm"])
    assert booted["probe"] == "caf\u00e9 \u2713"  # the user data ran, UTF-8 intact
    assert booted["hostname"] == "probe-vm"
    vm = next(r for r in state["deployment"]["resources"] if r["type"] == "openstack:compute/instance:Instance")
    nets = vm["outputs"]["networks"]  # what Nova reported to Pulumi: Ext-Net first, then the private network
    assert [booted["links"][f"eth{i}"][0] for i in range(len(nets))] == [n["mac"] for n in nets]
    assert [booted["links"][f"eth{i}"][1][0].split("/")[0] for i in range(len(nets))] == [n["fixedIpV4"] for n in nets]
    assert booted["route"].startswith("default via 198.18.13.1 dev eth0")  # UK1's external gateway
    assert booted["visitor"] == "200"  # the image's nginx, through the public address: probe-web opens 80
    # its sshd listens, and no group opens 22: the visitor's connection is dropped on the fabric (timeout: 124)
    assert ":22 " in booted["listening"] and booted["ssh_visitor"] == 124
    assert hosts.gone == {"container": False, "netns": False}


def test_a_host_reaches_the_backups_s3_endpoint_over_tls_with_keystones_ec2_keys(probe):
    """Issue 25: the fabric's S3 (what the database hosts' pgBackRest needs): the booted host resolves the stack's S3
    endpoint name to DE1, trusts its certificate (the local CA, installed by cloud-init's ca_certs from the
    agent's system configuration: no ``--cacert``), and DE1's Swift answers S3 requests signed with the EC2 keys
    keystone issued to the program (s3api, keys checked by s3token); a wrong secret is refused."""
    up, _, _, _, _, _, _, _, hosts = probe
    assert up.returncode == 0, up.stdout[-3000:]
    s3 = hosts.first["s3"]
    assert s3["create"][0] == "200" and s3["put"][0] == "200", s3
    assert s3["get"] == ("200", MARK), s3
    assert s3["list"][0] == "200" and "<Name>probe-s3</Name>" in s3["list"][1], s3
    assert s3["forged"][0] == "403" and "SignatureDoesNotMatch" in s3["forged"][1], s3
    assert s3["delete"][0] == s3["drop"][0] == "204", s3


def test_a_volume_is_a_block_device_that_outlives_its_host_and_attaches_to_the_replacement(probe):
    """Issue 25: Cinder's volume is a real block device of the host (a loop file at the volume's size, found by its
    serial as the database hosts look for it); written on the first host, read back on the host of the replacement
    server (`pulumi up --replace`); the first host is gone; `pulumi destroy` deletes the volume and its bytes."""
    up, _, _, _, _, state, _, _, hosts = probe
    assert up.returncode == 0, up.stdout[-3000:]
    volume = outputs(state)["volume"]
    size, _, head = hosts.first["volume"].partition("\n")
    assert int(size) == 10 * 1024**3 and head == "\0" * len(MARK)  # a blank 10 GB disk, as Cinder made it
    assert hosts.replaced["instance_id"] != hosts.first["instance_id"]
    assert hosts.replaced["volume"] == f"{10 * 1024**3}\n{MARK}"  # the same bytes, on the new host
    assert hosts.replaced["old"] == {"container": False, "netns": False}
    assert volume in hosts.replaced["volumes"]
    assert volume not in hosts.volumes_after


def test_a_server_powered_off_stops_its_host_and_powered_on_boots_it_again_with_its_volume(probe):
    """Nova's power off (SHUTOFF) stops the host (its container, its disk kept); power on (ACTIVE) starts the same
    host again and attaches its volume again, its bytes intact."""
    *_, hosts = probe
    first = hosts.first["container"]
    assert hosts.powered["shutoff"] == {"state": "stopped", "running": "false", "container": first}
    assert hosts.powered["active"] == {"state": "running", "running": "true", "container": first}
    assert hosts.powered["volume"] == MARK


def test_a_volume_attaches_to_an_instance_of_the_fake_driver_and_goes_on_destroy(probe):
    up, destroy, before, during, after, state, *_ = probe
    assert up.returncode == 0, (up.stdout[-4000:], up.stderr[-4000:])
    out = outputs(state)
    uk = during["ovh/UK1"]
    (volume,) = [v for v in uk["volumes"] if v["name"] == "probe-data"]
    (vm,) = [s for s in uk["servers"] if s["name"] == "probe-vm"]
    assert (volume["id"], vm["id"]) == (out["volume"], out["vm"])
    assert volume["status"] == "in-use" and volume["attachments"] == [vm["id"]] and volume["size"] == 10
    assert out["attachDevice"]  # Nova reported a device for the attachment
    assert vm["status"] == "ACTIVE"
    assert destroy.returncode == 0, destroy.stdout[-4000:]
    assert after == before


def test_keystone_issues_ec2_credentials_and_application_credentials_with_access_rules(probe):
    up, *_, state, _, _, _ = probe
    assert up.returncode == 0
    out = outputs(state)
    assert len(out["ec2Access"]) == 32
    assert out["appcredId"]
    rules = sorted((r["method"], r["path"], r["service"]) for r in out["appcredRules"])
    assert rules == sorted((m, "/v1/AUTH_*/probe-backups/**", "object-store") for m in ("GET", "PUT", "HEAD"))
    assert all(r.get("id") for r in out["appcredRules"])  # stored by keystone, read back


def test_regions_of_one_cloud_are_separate_backends(probe):
    up, _, before, during, *_ = probe
    assert up.returncode == 0
    new = {where for where in during if during[where]["networks"] != before[where]["networks"]}
    assert new == {"ovh/UK1", "infomaniak/dc4-a"}  # GRA11, WAW1 and DE1 list nothing of it


def test_the_clouds_yaml_auth_url_wins_over_an_explicit_auth_url_in_the_program(probe):
    """terraform-provider-openstack (in pulumi-openstack 5.4.1): with ``cloud`` set, the clouds.yaml entry's
    auth_url is used and the program's auth_url is ignored; the state still records the program's."""
    up, _, _, during, _, state, *_ = probe
    assert up.returncode == 0, up.stdout[-3000:]
    assert outputs(state)["ikNet"] in {n["id"] for n in during["infomaniak/dc4-a"]["networks"]}
    ik = next(
        r
        for r in state["deployment"]["resources"]
        if r["type"] == "pulumi:providers:openstack" and r["urn"].endswith("::ik")
    )
    assert ik["inputs"]["authUrl"] == "https://auth.invalid.example/identity/v3"


def test_a_state_naming_the_local_auth_url_is_placed_through_the_catalog_file(probe, local_clouds):
    up, *_, state, _, _, _ = probe
    assert up.returncode == 0
    export = json.dumps(state)
    host = yaml.safe_load(local_clouds.clouds_yaml.read_text())["clouds"]["ovh"]["auth"]["auth_url"].split("/")[2]
    without = audit("-", stdin=export)
    (vm,) = [p for p in without.report["placements"] if p["resource"].endswith("::vm")]
    assert vm["site"] is None and host.split(":")[0] in vm["problem"], vm
    placed = audit("-", "--catalog", str(local_clouds.catalog), stdin=export)
    (vm,) = [p for p in placed.report["placements"] if p["resource"].endswith("::vm")]
    assert (vm["provider"], vm["region"]) == ("ovhcloud", "UK1") and vm["site"] and not vm.get("problem"), vm


def test_the_policy_pack_places_it_through_the_same_catalog(probe, local_clouds, hub_pulumi, tmp_path):
    """`pulumi policy analyze --file`: the catalog goes to the pack as an organisation config's ``catalog``."""
    up, *_, export, _, _ = probe
    assert up.returncode == 0
    org = tmp_path / "org.json"
    org.write_text(json.dumps({"catalog": yaml.safe_load(local_clouds.catalog.read_text())}))
    made = subprocess.run(
        [sys.executable, str(ROOT / "policies" / "make_pack_config.py"), str(org)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    config = tmp_path / "pack-config.json"
    config.write_text(made.stdout)

    def unplaced(*extra: str) -> set[str]:
        r = hub_pulumi("policy", "analyze", "--file", str(export), "--policy-pack", POLICIES, "--json", *extra)
        assert "error: loading policy packs" not in r.stderr, r.stderr
        return {e["message"] for e in policy_events(stream_events(r.stdout)) if e["policyName"] == "unknown-placement"}

    host = yaml.safe_load(local_clouds.clouds_yaml.read_text())["clouds"]["ovh"]["auth"]["auth_url"].split("/")[2]
    assert any(host.split(":")[0] in m for m in unplaced()), unplaced()
    assert not unplaced("--policy-pack-config", str(config))


def test_novas_metadata_api_serves_a_server_its_user_data_and_metadata_to_its_signed_proxy_only(probe):
    """What cloud-init's OpenStack datasource reads at 169.254.169.254 (issue 25, the first joint): every region
    serves Nova's own metadata API, behind a proxy that signs each instance's requests (Neutron's contract). The user
    data comes back byte for byte as Pulumi gave it to Nova; meta_data.json names the server, its metadata (the
    runtime channel's items) and its host name; a forged signature is refused (403), another project's id too (404)."""
    up, *_, state, _, asked, _ = probe
    assert up.returncode == 0
    vm = outputs(state)["vm"]
    status, body = asked[("openstack/latest/user_data", "none")]
    assert (
        status == 200
        and body.decode("utf-8")
        == '#cloud-config\nhostname: probe-vm\nwrite_files:\n- path: /etc/probe\n  content: "caf\u00e9 \u2713"\n'
    )
    status, body = asked[("openstack/latest/meta_data.json", "none")]
    assert status == 200, body
    meta = json.loads(body)
    assert meta["uuid"] == vm and meta["name"] == "probe-vm" and meta["hostname"] == "probe-vm", meta
    assert meta["meta"] == {"resilient-stack:role": "web"} and meta["availability_zone"], meta
    assert asked[("openstack/latest/meta_data.json", "signature")][0] == 403
    assert asked[("openstack/latest/meta_data.json", "tenant")][0] == 404
