#!/usr/bin/env python3
"""The local clouds' compute agent: every server Nova creates boots as a real Debian host (standard library only).

Nova's fake driver boots nothing. This agent (started by ``local_openstack.py up --hosts`` or ``hosts start``) asks
every region's Nova, as the clouds' administrator, which servers exist, and for each ACTIVE one runs the project's
host image in podman (``--systemd=always``, as the fire drill's hosts):

* **its network**: a network namespace of its own (``rsos-NAME-i<id>``) with one interface per Neutron port, in
  the order Nova lists them in ``network_data.json`` (``eth0``, ``eth1``...), each with the port's MAC and fixed
  address, plugged into a bridge per Neutron network in the hub namespace. The external networks' bridges hold their
  subnet's gateway (``198.18.R.1``) and the hub routes between them: the public addresses of every region reach each
  other and the hub, where the clients (and a visitor) run. A private network is a bare bridge (no route out), as a
  tenant network without a router. The agent sets the addresses before the host boots, as Neutron's DHCP would hand
  them; cloud-init's own network configuration is off.
* **its metadata**: cloud-init's OpenStack datasource (``product_name=OpenStack Nova`` in PID 1's environment, which
  cloud-init takes for the DMI it has not in a container; no NoCloud seed) reads ``http://169.254.169.254``, served
  in the hub by this agent's proxy: it knows the instance by the source address of the request (its port on the
  external network), signs the request as Neutron's metadata proxy does and forwards it to that region's Nova
  metadata API. So the host gets exactly the user data and metadata Nova was given, and its runtime sync reads
  updates from Nova as on a cloud.
* **its volumes**: each Cinder volume attached to it is a loop device over a sparse file, found by its virtio
  serial; the file outlives the host;
* **its security groups** and port security, enforced in the hub around each port (fabric_guard.py);
* **its lifecycle**: a server that goes away (``pulumi destroy``, a replacement) loses its host, its namespace and
  its root disk (the container); SHUTOFF stops the host, ACTIVE again starts it.

What a host is made of (names, interfaces, ``podman run`` arguments) is host_wiring.py. Beyond each other, the
hosts reach the clouds' TLS names (DE1's S3, the registry of registry.py) through the hub. Not done here
(docs/local-openstack.md): a resolver, a Debian mirror, floating IPs and routers (database rows only).

    ip netns exec is NOT needed: run on the machine (root) as
    compute_agent.py --name NAME --run-dir RUN_DIR [--image IMAGE] [--interval S]

It writes RUN_DIR/hosts.json (each booted server: container, namespace, region, addresses, state) after every
change, and RUN_DIR/agent.ready once the fabric is up. SIGTERM removes every host it booted, then exits.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import ctypes
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import fabric_guard  # this directory: standard library only
import local_openstack
from host_wiring import (
    DHCLIENT_CONF,
    HOST_IMAGE,
    AgentError,
    Nic,
    attached_volumes,
    bridge_name,
    cloud_cfg,
    container_name,
    disk_link,
    netns_name,
    plan_nics,
    public_addresses,
    run_args,
    veth_name,
    volume_file,
    volume_files,
)
from hub_client import Client, admin_client, metadata_get, metadata_request
from local_openstack import NAME_RE, backends, tls_hosts, topology

METADATA_IP = "169.254.169.254"
CLONE_NEWNET = 0x40000000
# passes between two readings of what may wait (security groups changed in place, volumes Cinder deleted): ~10 s
SLOW_EVERY = 5


def log(msg: str) -> None:
    print(f"[compute-agent] {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def run(*cmd: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """local_openstack's ``run`` (its error is ours), bounded at 2 minutes: the agent must not hang on a host."""
    return local_openstack.run(*cmd, check=check, timeout=timeout)


INOTIFY = Path("/proc/sys/fs/inotify/max_user_instances")
INOTIFY_FLOOR = 1024


def ensure_inotify_instances(path: Path = INOTIFY, floor: int = INOTIFY_FLOOR) -> str | None:
    """Raise the machine's limit of inotify instances per user to ``floor`` when it is lower; what was done.

    Every host's systemd (and its journald, logind...) takes inotify instances, all counted against root, whose
    containers share one limit (128 by default on Debian): with the clouds, the drill's hosts and ten more, systemd
    in a new host fails ("Failed to create inotify object: Too many open files") and its boot stalls or it exits at
    once. kind's known issues give the same advice for its systemd nodes."""
    current = int(path.read_text().split()[0])
    if current >= floor:
        return None
    path.write_text(f"{floor}\n")
    return f"fs.inotify.max_user_instances raised from {current} to {floor} (every host's systemd takes some)"


# ---- the hub namespace, from a thread ------------------------------------------------------------------------


def enter_netns(path: str) -> None:
    """Move the CALLING THREAD into the network namespace at ``path`` (sockets it creates live there; threads it
    starts too). The main thread stays in the machine's namespace, where ``ip`` and ``podman`` run."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise AgentError(f"setns {path}: {os.strerror(ctypes.get_errno())}")
    finally:
        os.close(fd)


@dataclass
class Region:
    cloud: str
    region: str
    address: str
    auth_url: str
    client: Client | None = None


@dataclass
class Host:
    server_id: str
    name: str
    region: str
    tenant: str
    region_address: str
    container: str
    netns: str
    nics: list[Nic]
    state: str = "running"
    disk: str = ""
    volumes: dict[str, str] = field(default_factory=dict)  # volume id -> its loop device, as attached

    def summary(self) -> dict:
        return {
            "name": self.name,
            "region": self.region,
            "container": self.container,
            "netns": self.netns,
            "state": self.state,
            "volumes": {vid: disk_link(vid) for vid in self.volumes},
            "nics": [
                {"device": n.device, "mac": n.mac, "port": n.port_id, "network": n.network_id, "addresses": n.addresses}
                for n in self.nics
            ],
        }


class Agent:
    def __init__(self, name: str, run_dir: Path, image: str) -> None:
        self.name, self.run_dir, self.image = name, run_dir, image
        self.hub = f"/run/netns/rsos-{name}"
        topo = topology()
        self.regions = [Region(b["cloud"], b["region"], b["address"], b["auth_url"]) for b in backends(topo)]
        self.topo = topo
        self.hosts: dict[str, Host] = {}
        self.failed: dict[str, tuple[str, str]] = {}  # server id -> (region address, why it was not booted): said once
        self.by_address: dict[str, Host] = {}
        self.lock = threading.Lock()
        self.bridges: set[str] = set()
        self.guard = ""  # the security groups' ruleset applied in the hub (fabric_guard.render)
        self.passes = 0
        self.stopping = threading.Event()
        # the clouds' APIs answer only in the hub: one thread there makes every call
        self.api = concurrent.futures.ThreadPoolExecutor(1, "hub-api", initializer=enter_netns, initargs=(self.hub,))
        self.files = run_dir / "agent"
        self.files.mkdir(parents=True, exist_ok=True)
        try:
            ca = (run_dir / "ca.pem").read_text()  # written by `up` with the clouds' clouds.yaml
        except OSError as exc:
            raise AgentError(f"{run_dir / 'ca.pem'}: {exc.strerror}: are these clouds up?") from None
        (self.files / "cloud.cfg").write_text(cloud_cfg(ca))
        self.tls_hosts = tls_hosts(topo)  # the clouds' TLS names (the backups' S3 endpoint) in every host's /etc/hosts
        (self.files / "dhclient.conf").write_text(DHCLIENT_CONF)

    # -- the clouds' APIs (in the hub) ------------------------------------------------------------------------
    def _admin(self, r: Region) -> Client:
        if r.client is None:
            r.client = admin_client({"auth_url": r.auth_url})
        return r.client

    def _get(self, r: Region, typ: str, path: str) -> dict:
        def call() -> dict:
            for attempt in (1, 2):
                client = self._admin(r)
                (url,) = client.endpoints(typ, r.region)
                status, _, body = client.call(url.rstrip("/") + path)
                if status == 401 and attempt == 1:
                    r.client = None  # the token expired: authenticate again
                    continue
                if status != 200:
                    raise AgentError(f"{r.cloud}/{r.region} GET {path}: HTTP {status}")
                return json.loads(body)
            raise AgentError("unreachable")

        return self.api.submit(call).result(timeout=120)

    def _metadata(self, r: Region, server: dict, path: str, address: str = "") -> tuple[int, str | None, bytes]:
        url, headers = metadata_request(self.topo, r.address, server["id"], server["tenant_id"], address, path)
        return self.api.submit(metadata_get, url, headers, 30).result(timeout=60)

    # -- the fabric ------------------------------------------------------------------------------------------
    def start_fabric(self) -> None:
        run("ip", "netns", "exec", f"rsos-{self.name}", "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run("ip", "-n", f"rsos-{self.name}", "addr", "replace", f"{METADATA_IP}/32", "dev", "lo")
        ready = threading.Event()
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                enter_netns(self.hub)
                server = http.server.ThreadingHTTPServer((METADATA_IP, 80), self._handler())
                server.daemon_threads = True
            except BaseException as exc:  # noqa: BLE001 - reported to the main thread
                errors.append(exc)
                ready.set()
                return
            ready.set()
            server.serve_forever(poll_interval=0.5)

        threading.Thread(target=serve, name="metadata-proxy", daemon=True).start()
        ready.wait(30)
        if errors:
            raise AgentError(f"metadata proxy on {METADATA_IP}:80: {errors[0]}")

    def _bridge(self, network_id: str, gateway_cidr: str | None) -> str:
        br = bridge_name(network_id)
        if br not in self.bridges:
            hub = f"rsos-{self.name}"
            if run("ip", "-n", hub, "link", "show", br, check=False).returncode != 0:
                run("ip", "-n", hub, "link", "add", br, "type", "bridge")
                if gateway_cidr:  # an external network: the hub is its router
                    run("ip", "-n", hub, "addr", "add", gateway_cidr, "dev", br)
                run("ip", "-n", hub, "link", "set", br, "up")
            self.bridges.add(br)
        return br

    def _handler(self):
        agent = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:  # noqa: N802
                with agent.lock:
                    host = agent.by_address.get(self.client_address[0])
                if host is None:
                    self.send_error(404, "no instance at this address")
                    return
                url, headers = metadata_request(
                    agent.topo, host.region_address, host.server_id, host.tenant, self.client_address[0], self.path
                )
                try:
                    status, ctype, body = metadata_get(url, headers, 30)
                except OSError as exc:
                    self.send_error(502, f"Nova's metadata API: {exc}")
                    return
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", ctype or "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the instance gave up waiting (cloud-init's timeout): nothing to answer

            def log_message(self, fmt: str, *args) -> None:
                log(f"metadata {self.client_address[0]} {fmt % args}")

        return Handler

    # -- hosts -----------------------------------------------------------------------------------------------
    def boot(self, r: Region, server: dict) -> Host:
        ports = self._get(r, "network", f"/v2.0/ports?device_id={server['id']}")["ports"]
        subnets, external = {}, set()
        for p in ports:
            for f in p.get("fixed_ips") or []:
                subnets[f["subnet_id"]] = self._get(r, "network", f"/v2.0/subnets/{f['subnet_id']}")["subnet"]
            if self._get(r, "network", f"/v2.0/networks/{p['network_id']}")["network"].get("router:external"):
                external.add(p["network_id"])
        status, _, body = self._metadata(r, server, "openstack/latest/network_data.json")
        if status != 200:
            raise AgentError(f"network_data.json: HTTP {status}")
        nics = plan_nics(json.loads(body), ports, subnets, external)
        if not public_addresses(nics):
            raise AgentError("no port on an external network: the metadata service would not know it (not booted)")
        ns = netns_name(self.name, server["id"])
        host = Host(server["id"], server["name"], r.region, server["tenant_id"], r.address,
                    container_name(self.name, server), ns, nics)  # fmt: skip
        run("ip", "netns", "delete", ns, check=False)
        run("ip", "netns", "add", ns)
        try:
            run("ip", "-n", ns, "link", "set", "lo", "up")
            for nic in nics:
                br = self._bridge(nic.network_id, nic.gateway_cidr if nic.external else None)
                veth = veth_name(nic.port_id)
                run("ip", "-n", f"rsos-{self.name}", "link", "delete", veth, check=False)
                run("ip", "-n", f"rsos-{self.name}", "link", "add", veth, "type", "veth", "peer", "name", nic.device,
                    "netns", ns)  # fmt: skip
                run("ip", "-n", ns, "link", "set", nic.device, "address", nic.mac)
                for a in nic.addresses:
                    run("ip", "-n", ns, "addr", "add", a, "dev", nic.device)
                run("ip", "-n", ns, "link", "set", nic.device, "up")
                run("ip", "-n", f"rsos-{self.name}", "link", "set", veth, "master", br, "up")
                if nic.gateway:
                    run("ip", "-n", ns, "route", "add", "default", "via", nic.gateway, "dev", nic.device)
            disk = self.run_dir / "instances" / server["id"]
            (disk / "containers").mkdir(parents=True, exist_ok=True)
            host.disk = str(disk)
            run("podman", "rm", "-f", "-t", "0", host.container, check=False)
            run(*run_args(self.name, server, r.region, ns, self.files / "cloud.cfg", self.files / "dhclient.conf",
                          disk / "containers", self.image, self.tls_hosts))  # fmt: skip
        except BaseException:
            run("ip", "netns", "delete", ns, check=False)
            raise
        with self.lock:
            self.hosts[server["id"]] = host
            for a in public_addresses(nics):
                self.by_address[a] = host
        log(f"{r.cloud}/{r.region} {server['name']} ({server['id']}): booted {host.container} on "
            + ", ".join(f"{n.device} {'/'.join(n.addresses)}" for n in nics))  # fmt: skip
        return host

    # -- volumes ---------------------------------------------------------------------------------------------
    def attach(self, r: Region, host: Host, volume_id: str) -> None:
        """Cinder's volume as a block device of the host: its file (made at the volume's size, sparse, the first
        time it is attached; kept while Cinder has the volume) on a loop device, the device node made in the host
        (a privileged container sees the devices of its start only) and linked by the volume's serial."""
        path = volume_file(self.run_dir, self.name, volume_id)
        if not path.exists():
            size = self._get(r, "volumev3", f"/volumes/{volume_id}")["volume"]["size"]
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.truncate(int(size) * 1024**3)
        loop = run("losetup", "--find", "--show", str(path)).stdout.strip()
        major, minor = (int(x, 16) for x in run("stat", "-c", "%t %T", loop).stdout.split())
        link = disk_link(volume_id)
        run("podman", "exec", host.container, "sh", "-c",
            f"[ -b {loop} ] || mknod {loop} b {major} {minor}; mkdir -p /dev/disk/by-id; ln -sfn {loop} {link}")  # fmt: skip
        host.volumes[volume_id] = loop
        log(f"{host.region} {host.name}: volume {volume_id} attached as {loop} ({link})")

    def detach(self, host: Host, volume_id: str, *, in_host: bool = True) -> None:
        loop = host.volumes.pop(volume_id)
        if in_host:
            run("podman", "exec", host.container, "rm", "-f", disk_link(volume_id), check=False)
        run("losetup", "--detach", loop, check=False)  # a device still mounted goes when the host lets it go
        log(f"{host.region} {host.name}: volume {volume_id} detached ({loop})")

    def sync_volumes(self, r: Region, host: Host, server: dict) -> bool:
        wanted = attached_volumes(server)
        changed = False
        for vid in [v for v in host.volumes if v not in wanted]:
            self.detach(host, vid)
            changed = True
        for vid in [v for v in wanted if v not in host.volumes]:
            self.attach(r, host, vid)
            changed = True
        return changed

    def forget_volumes(self, known: set[str]) -> bool:
        """Volumes Cinder deleted (``known``: every region's volumes) lose their files; never one a host of this
        agent has attached."""
        changed = False
        for vid, path in volume_files(self.run_dir, self.name).items():
            if vid not in known and not any(vid in h.volumes for h in self.hosts.values()):
                path.unlink(missing_ok=True)
                log(f"volume {vid} deleted from Cinder: its file removed")
                changed = True
        return changed

    def remove(self, host: Host, why: str) -> None:
        run("podman", "rm", "-f", "-t", "10", host.container, check=False)
        for vid in list(host.volumes):
            self.detach(host, vid, in_host=False)
        run("ip", "netns", "delete", host.netns, check=False)
        if host.disk:
            run("rm", "-rf", host.disk, check=False)
        with self.lock:
            self.hosts.pop(host.server_id, None)
            for a in [a for a, h in self.by_address.items() if h is host]:
                del self.by_address[a]
        log(f"{host.region} {host.name} ({host.server_id}): host removed ({why})")

    def poll(self) -> bool:
        """One pass over every region; True when something changed."""
        changed = False
        self.passes += 1
        slow = self.passes % SLOW_EVERY == 0  # what may wait: security groups in place, deleted volumes' files
        files = volume_files(self.run_dir, self.name) if slow else {}
        volumes: set[str] | None = set()  # every region's Cinder volumes; None when a region did not answer
        for r in self.regions:
            try:
                servers = self._get(r, "compute", "/servers/detail?all_tenants=1")["servers"]
                if files and volumes is not None:
                    volumes |= {v["id"] for v in self._get(r, "volumev3", "/volumes/detail?all_tenants=1")["volumes"]}
            except (AgentError, OSError, concurrent.futures.TimeoutError) as exc:
                log(f"{r.cloud}/{r.region}: {exc}")  # a region down (a drill's fire): its hosts stay as they are
                volumes = None
                continue
            changed |= self._reconcile(r, servers)
        if files and volumes is not None:
            changed |= self.forget_volumes(volumes)
        if changed or slow:
            try:
                self.apply_guard()
            except (AgentError, OSError, KeyError, concurrent.futures.TimeoutError) as exc:
                log(f"security groups not applied (the previous rules stay): {exc}")
        return changed

    def apply_guard(self) -> None:
        """The booted hosts' ports as Neutron lists them now: their port security and security groups' rules
        (fabric_guard), applied in the hub when they changed."""
        guarded: list[fabric_guard.GuardedPort] = []
        groups: dict[str, list[dict]] = {}
        members: dict[str, list[str]] = {}
        for r in self.regions:
            mine = [h for h in self.hosts.values() if h.region_address == r.address]
            if not mine:
                continue
            ports = {p["id"]: p for p in self._get(r, "network", "/v2.0/ports")["ports"]}
            for g in self._get(r, "network", "/v2.0/security-groups")["security_groups"]:
                groups[g["id"]] = g.get("security_group_rules") or []
            for gid, ips in fabric_guard.members_of(list(ports.values())).items():
                members.setdefault(gid, []).extend(ips)
            for h in mine:
                for nic in h.nics:
                    p = ports.get(nic.port_id)
                    if p is None:
                        continue  # deleted with its server: the host goes at the next pass
                    guarded.append(
                        fabric_guard.GuardedPort(
                            port_id=p["id"],
                            bridge=bridge_name(nic.network_id),
                            veth=veth_name(nic.port_id),
                            mac=p["mac_address"].lower(),
                            addresses=tuple(f["ip_address"] for f in p.get("fixed_ips") or []),
                            security=bool(p.get("port_security_enabled", True)),
                            groups=tuple(p.get("security_groups") or []),
                            pairs=tuple(a["ip_address"] for a in p.get("allowed_address_pairs") or []),
                        )
                    )
        text = fabric_guard.render(guarded, groups, members)
        if text != self.guard:
            (self.files / "guard.nft").write_text(text)
            run("ip", "netns", "exec", f"rsos-{self.name}", "nft", "-f", str(self.files / "guard.nft"))
            self.guard = text
            log(f"security groups applied: {len(guarded)} ports")

    def drop_guard(self) -> None:
        run("ip", "netns", "exec", f"rsos-{self.name}", "nft", "delete", "table", "inet", "rsos_sg", check=False)
        run("ip", "netns", "exec", f"rsos-{self.name}", "nft", "delete", "table", "bridge", "rsos_spoof", check=False)
        self.guard = ""

    def _reconcile(self, r: Region, servers: list[dict]) -> bool:
        changed = False
        seen = {s["id"]: s for s in servers}
        for h in [h for h in list(self.hosts.values()) if h.region_address == r.address]:
            s = seen.get(h.server_id)
            if s is None:
                self.remove(h, "server deleted")
                changed = True
            elif s["status"] == "SHUTOFF" and h.state == "running":
                run("podman", "stop", "-t", "30", h.container, check=False)
                h.state, changed = "stopped", True
            elif s["status"] == "ACTIVE" and h.state == "stopped":
                run("podman", "start", h.container, check=False)
                for vid in list(h.volumes):  # a restarted container has the devices of its start only
                    self.detach(h, vid, in_host=False)
                h.state, changed = "running", True
        for s in servers:
            if s["status"] != "ACTIVE" or s["id"] in self.hosts or s["id"] in self.failed:
                continue
            try:
                self.boot(r, s)
            except (AgentError, OSError, KeyError, ValueError, concurrent.futures.TimeoutError) as exc:
                self.failed[s["id"]] = (r.address, str(exc))
                log(f"{r.cloud}/{r.region} {s['name']} ({s['id']}): NOT booted: {exc}")
            changed = True
        for sid in [sid for sid, (where, _) in self.failed.items() if where == r.address and sid not in seen]:
            del self.failed[sid]  # a server that was not booted is gone: forget it
        for h in [h for h in list(self.hosts.values()) if h.region_address == r.address and h.state == "running"]:
            try:
                changed |= self.sync_volumes(r, h, seen[h.server_id])
            except (AgentError, OSError, KeyError, concurrent.futures.TimeoutError) as exc:
                log(f"{r.region} {h.name}: volumes: {exc}")
        return changed

    def write_state(self) -> None:
        with self.lock:
            doc = {
                "hosts": {sid: h.summary() for sid, h in self.hosts.items()},
                "volumes": sorted(volume_files(self.run_dir, self.name)),
                "not_booted": {sid: why for sid, (_, why) in self.failed.items()},
            }
        tmp = self.run_dir / "hosts.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1))
        tmp.replace(self.run_dir / "hosts.json")

    def stop(self) -> None:
        for h in list(self.hosts.values()):
            self.remove(h, "agent stopped")
        self.drop_guard()
        self.write_state()

    def loop(self, interval: float) -> None:
        raised = ensure_inotify_instances()
        if raised:
            log(raised)
        self.start_fabric()
        self.write_state()
        (self.run_dir / "agent.ready").write_text(str(os.getpid()))
        log(f"watching {len(self.regions)} regions every {interval} s; metadata at {METADATA_IP}")
        while not self.stopping.is_set():
            if self.poll():
                self.write_state()
            self.stopping.wait(interval)


# ---- the agent's process, for local_openstack.py (up --hosts, hosts start|stop, down) -------------------------


def agent_pids(name: str) -> list[int]:
    """The running agents of the clouds ``name`` (by their command line: a killed run's agent is found too)."""
    me = Path(__file__).name
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv]
        if any(w.endswith(me) for w in words[:3]) and f"--name={name}" in words:
            pids.append(int(proc.name))
    return pids


def start(name: str, run_dir: Path, timeout: float = 60) -> int:
    """Start the agent of running clouds in the background (its log: RUN_DIR/logs/compute-agent.log); its PID once
    the fabric and the metadata proxy are up. An agent already running is kept."""
    running = agent_pids(name)
    if running:
        return running[0]
    ready = run_dir / "agent.ready"
    ready.unlink(missing_ok=True)
    (run_dir / "logs").mkdir(parents=True, exist_ok=True)
    with open(run_dir / "logs" / "compute-agent.log", "a") as out:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), f"--name={name}", f"--run-dir={run_dir}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            tail = (run_dir / "logs" / "compute-agent.log").read_text(errors="replace").strip().splitlines()[-3:]
            if proc.poll() is None:
                proc.kill()
            raise AgentError("the compute agent did not start: " + " | ".join(tail))
        time.sleep(0.2)
    return proc.pid


def _alive(pid: int) -> bool:
    try:
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child (local_openstack.py run): reaped
            return False
    except ChildProcessError:
        pass  # not our child
    return Path(f"/proc/{pid}").exists()


def stop(name: str, timeout: float = 120) -> int:
    """Stop the agents of the clouds ``name`` (each removes the hosts it booted); how many there were."""
    pids = agent_pids(name)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    # the loop devices of a killed agent's volumes (found by their files' names); their files stay with the run dir
    listed = run("losetup", "-J", "-l", check=False).stdout.strip()
    for dev in json.loads(listed).get("loopdevices", []) if listed else []:
        back = Path(str(dev.get("back-file") or "").split(" (deleted)")[0]).name
        if back.startswith(f"rsos-{name}-") and back.endswith(".img"):
            run("losetup", "--detach", dev["name"], check=False)
    return len(pids)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="compute_agent.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--name", required=True)  # given as --name=NAME by start(): how agent_pids() finds it
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--image", default=HOST_IMAGE)
    ap.add_argument("--interval", type=float, default=2.0)
    args = ap.parse_args(argv)
    if not NAME_RE.match(args.name):
        raise AgentError(f"--name {args.name!r}: 1-10 lower-case letters or digits")
    if not Path(f"/run/netns/rsos-{args.name}").exists():
        raise AgentError(f"clouds {args.name!r} are not running")
    agent = Agent(args.name, Path(args.run_dir), args.image)
    signal.signal(signal.SIGTERM, lambda *_: agent.stopping.set())
    signal.signal(signal.SIGINT, lambda *_: agent.stopping.set())
    try:
        agent.loop(args.interval)
    finally:
        agent.stop()
        (agent.run_dir / "agent.ready").unlink(missing_ok=True)
        log("stopped: every host removed")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except AgentError as exc:
        log(f"ERROR: {exc}")
        sys.exit(1)
