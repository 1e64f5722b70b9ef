#!/usr/bin/env python3
"""A local multi-cloud OpenStack (Zed, Debian bookworm's packages) in podman, offline: build, start, check, stop.

Two independent clouds stand in for two providers (topology.json): "ovh" (keystone in GRA11, regions GRA11,
WAW1, UK1, DE1) and "infomaniak" (region dc4-a, keystone served over TLS as api.pub2.infomaniak.cloud, the
auth URL the shipped production stack names). Each REGION is its own container with its own databases,
message queue, Nova (fake virt driver), Neutron (agent-less ML2 driver), Glance, Placement, Cinder (Cinder's
fake volume driver) and Swift; the regions of one cloud share its keystone, as on a real provider.

Networking: every container runs in a network namespace of its own, plugged into a bridge inside a "hub"
namespace where the clients (pulumi, openstack CLI) run. Nothing listens on the machine's own network;
in the hub, the stack's TLS auth host resolves to the Infomaniak keystone (/etc/netns/HUB/hosts).

Commands (root: network namespaces and rootful podman):

    local_openstack.py build [--force]          image + pre-initialised per-region images (cached)
    local_openstack.py up [--name N] [--run-dir D] [--owner-pid PID] [--timeout S]
    local_openstack.py down [--name N]
    local_openstack.py run [--name N] -- CMD... up, CMD inside the hub namespace, down (also on errors, ^C)
    local_openstack.py exec [--name N] -- CMD... CMD inside the hub namespace of running clouds
    local_openstack.py inventory [--name N]      JSON: what the users' projects hold, per cloud and region
    local_openstack.py stats [--name N]          memory (PSS) of each region
    local_openstack.py backup-user --cloud ENTRY --user U [--name N]   a dedicated object-store user of the entry's
                                                 project and its S3 keys (JSON)
    local_openstack.py hosts start|stop|list [--name N]   the compute agent (compute_agent.py): every ACTIVE server
                                                 boots as a host of the host image (`up --hosts` starts it too)
    local_openstack.py check-image               exit 0 when the images of this version exist

`up` prints the clouds.yaml to use (also written to RUN_DIR/clouds.yaml: one entry per cloud, and one per other
project of a cloud's keystone, e.g. ovh-backups, the production stack's backup project) and a catalog file mapping the
local auth hosts to the providers they stand for (RUN_DIR/catalog.yaml, for `resilient-stack audit
--catalog`). Only Python's standard library: it runs before any virtualenv exists (make tools).
"""

from __future__ import annotations

import argparse
import hashlib
import ipaddress
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
IMAGE_DIR = HERE / "image"
TOPOLOGY = HERE / "topology.json"
REPOSITORY = "localhost/resilient-stack-openstack"
BASE_IMAGE = "localhost/resilient-stack-host-base:bookworm"
LABEL = "resilient-stack.local-openstack"
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "resilient-stack" / "openstack"
NAME_RE = re.compile(r"^[a-z0-9]{1,10}$")


class Failed(Exception):
    """One line for the user; exit 1."""


def log(msg: str) -> None:
    print(f"[local-openstack] {msg}", file=sys.stderr, flush=True)


def run(
    *cmd: str, check: bool = True, capture: bool = True, timeout: float | None = 600, input: str | None = None
) -> subprocess.CompletedProcess:
    r = subprocess.run(cmd, capture_output=capture, text=True, timeout=timeout, input=input)
    if check and r.returncode != 0:
        detail = (r.stderr or r.stdout or "").strip().splitlines()[-5:] if capture else []
        raise Failed(f"{' '.join(cmd[:4])}... exited {r.returncode}: {' | '.join(detail)}")
    return r


# ---- topology ---------------------------------------------------------------------------------------


def topology() -> dict:
    try:
        topo = json.loads(TOPOLOGY.read_text())
        if not isinstance(topo.get("clouds"), dict) or not topo["clouds"]:
            raise ValueError("no 'clouds' mapping")
        return topo
    except (OSError, ValueError) as exc:
        raise Failed(f"{TOPOLOGY}: {exc}") from None


def backends(topo: dict) -> list[dict]:
    """One backend.json per region (what /opt/rs-os/* in the image reads)."""
    out = []
    for cloud, c in topo["clouds"].items():
        ks = c["keystone"]
        ks_addr = c["regions"][ks["region"]]["address"]
        internal = f"http://{ks_addr}:5000{ks['path']}/v3"
        tls = ks.get("tls")
        public = (
            f"https://{tls['host']}{'' if tls['port'] == 443 else ':%d' % tls['port']}{ks['path']}/v3"
            if tls
            else internal
        )
        if len(c["external_networks"]) != 1:
            raise Failed(f"{TOPOLOGY}: cloud {cloud}: exactly one external network per cloud")
        for region, r in c["regions"].items():
            slug = re.sub(r"[^a-z0-9]+", "", region.lower())
            b = {
                "name": f"{cloud}-{slug}",
                "cloud": cloud,
                "region": region,
                "address": r["address"],
                "host": f"compute-{slug}",
                "auth_url": internal,
                "public_auth_url": public,
                "keystone": None,
                "flavors": c["flavors"],
                "images": c["images"],
                "external_networks": [{"name": c["external_networks"][0], "cidr": r["external_cidr"]}],
                "metadata": topo["metadata"],  # Nova's metadata API: its port and the proxy's shared secret
                "s3": r.get("s3"),  # Swift's S3 API over TLS on 443 ({host, location}), or None
            }
            if region == ks["region"]:
                b["keystone"] = {
                    "path": ks["path"],
                    "tls_port": tls["port"] if tls else None,
                    "regions": {name: rr["address"] for name, rr in c["regions"].items()},
                    "user": c["user"],
                    "other_users": [u for _, u in sorted(c.get("projects", {}).items())],
                }
            out.append(b)
    return out


def entries(topo: dict) -> dict[str, tuple[str, dict]]:
    """{clouds.yaml entry: (its cloud, its user)}: each cloud's own user, then the users of its other projects."""
    out = {}
    for cloud, c in topo["clouds"].items():
        out[cloud] = (cloud, c["user"])
        for entry, user in c.get("projects", {}).items():
            if entry in topo["clouds"] or entry in out:
                raise Failed(f"{TOPOLOGY}: clouds.yaml entry {entry!r} is named twice")
            out[entry] = (cloud, user)
    return out


def tls_hosts(topo: dict) -> dict[str, str]:
    """{TLS host name: address}: the keystones served over TLS and the regions' S3 endpoints (one certificate of
    the local CA names them all; the hub and the booted hosts resolve them with these addresses)."""
    out = {}
    for c in topo["clouds"].values():
        tls = c["keystone"].get("tls")
        if tls:
            out[tls["host"]] = c["regions"][c["keystone"]["region"]]["address"]
        for r in c["regions"].values():
            if r.get("s3"):
                out[r["s3"]["host"]] = r["address"]
    hub = str(ipaddress.ip_interface(topo["hub"]).ip)
    for host in topo.get("registry", {}).get("names", []):
        out[host] = hub  # the hosts' image registry (registry.py), served in the hub
    return out


def version() -> str:
    """Hash of everything an image is made of: the image directory (each file's name, content and executable bit:
    not its other mode bits, which a checkout's umask or a tarball sets) and the topology (the databases hold it)."""
    h = hashlib.sha256()
    for p in sorted(IMAGE_DIR.rglob("*")):
        if p.is_file():
            executable = b"x" if p.stat().st_mode & 0o100 else b"-"
            h.update(str(p.relative_to(IMAGE_DIR)).encode() + b"\0" + executable + b"\0")
            h.update(p.read_bytes())
    h.update(json.dumps(backends(topology()), sort_keys=True).encode())
    return h.hexdigest()[:12]


def image(tag: str) -> str:
    return f"{REPOSITORY}:{version()}-{tag}"


def image_exists(ref: str) -> bool:
    return subprocess.run(["podman", "image", "exists", ref]).returncode == 0


# ---- TLS: a local CA, cached outside the repository ---------------------------------------------------


def ensure_tls(topo: dict) -> Path:
    """CACHE/tls/{ca.key, serve/{ca.pem, server.pem, server.key}}; the CA key is never mounted anywhere."""
    hosts = sorted(tls_hosts(topo))
    d = CACHE / "tls"
    serve = d / "serve"
    stamp = serve / "hosts"
    if stamp.exists() and stamp.read_text() == "\n".join(hosts) and (serve / "server.pem").exists():
        return serve
    if shutil.which("openssl") is None:
        raise Failed("openssl is needed for the local CA (apt-get install openssl)")
    serve.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o700)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        run(
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "3650",
            "-keyout",
            str(d / "ca.key"),
            "-out",
            str(serve / "ca.pem"),
            "-subj",
            "/CN=resilient-stack local OpenStack CA (this machine only)",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        run(
            "openssl",
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(serve / "server.key"),
            "-out",
            str(t / "server.csr"),
            "-subj",
            f"/CN={hosts[0] if hosts else 'localhost'}",
        )
        ext = t / "ext.cnf"
        ext.write_text(
            "subjectAltName=" + ",".join(f"DNS:{h}" for h in hosts or ["localhost"]) + "\n"
            "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        )
        run(
            "openssl",
            "x509",
            "-req",
            "-in",
            str(t / "server.csr"),
            "-CA",
            str(serve / "ca.pem"),
            "-CAkey",
            str(d / "ca.key"),
            "-CAcreateserial",
            "-CAserial",
            str(t / "ca.srl"),
            "-days",
            "825",
            "-out",
            str(serve / "server.pem"),
            "-extfile",
            str(ext),
        )
    os.chmod(serve / "server.key", 0o644)  # read by keystone's uwsgi inside the container (root there)
    stamp.write_text("\n".join(hosts))
    return serve


# ---- namespaces and containers ------------------------------------------------------------------------


class Clouds:
    """One running set of clouds, named ``name``: netns rsos-NAME (hub) and rsos-NAME-BACKEND, containers rsos-NAME-BACKEND."""

    def __init__(self, name: str, run_dir: Path, images: dict[str, str]) -> None:
        if not NAME_RE.match(name):
            raise Failed(f"--name {name!r}: 1-10 lower-case letters or digits")
        self.name = name
        self.run_dir = run_dir
        self.topo = topology()
        self.backends = backends(self.topo)
        self.images = images
        self.hub = f"rsos-{name}"

    def netns(self, b: dict) -> str:
        return f"rsos-{self.name}-{b['name']}"

    def container(self, b: dict) -> str:
        return f"rsos-{self.name}-{b['name']}"

    # -- start ---------------------------------------------------------------------------------
    def start(self, timeout: float) -> dict[str, float]:
        t0 = time.monotonic()
        down(self.name, quiet=True)  # leftovers of a killed run with this name
        self.run_dir.mkdir(parents=True, exist_ok=True)
        tls = ensure_tls(self.topo)
        self._network()
        for b in self.backends:
            (self.run_dir / f"backend-{b['name']}.json").write_text(json.dumps(b, indent=1))
        try:
            ready = self.boot(tls, t0 + timeout)
        except Failed as exc:
            raise Failed(f"{exc}\n(logs of every region: {self.save_logs()})") from None
        return {"ready": round(time.monotonic() - t0, 1), **ready}

    def _network(self) -> None:
        hub_if = ipaddress.ip_interface(self.topo["hub"])
        ip = ["ip"]
        run(*ip, "netns", "add", self.hub)
        run(*ip, "-n", self.hub, "link", "set", "lo", "up")
        run(*ip, "-n", self.hub, "link", "add", "br0", "type", "bridge")
        run(*ip, "-n", self.hub, "addr", "add", str(hub_if), "dev", "br0")
        run(*ip, "-n", self.hub, "link", "set", "br0", "up")
        for i, b in enumerate(self.backends):
            ns = self.netns(b)
            run(*ip, "netns", "add", ns)
            run(*ip, "-n", ns, "link", "set", "lo", "up")
            run(*ip, "-n", self.hub, "link", "add", f"v{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
            run(*ip, "-n", self.hub, "link", "set", f"v{i}", "master", "br0", "up")
            run(*ip, "-n", ns, "addr", "add", f"{b['address']}/{hub_if.network.prefixlen}", "dev", "eth0")
            run(*ip, "-n", ns, "link", "set", "eth0", "up")
            # the hub routes the external networks: a booted host's calls (S3, the APIs) get their answers back
            run(*ip, "-n", ns, "route", "add", "default", "via", str(hub_if.ip))
        # `ip netns exec HUB` bind-mounts these over /etc/hosts and /etc/resolv.conf: the stack's TLS auth
        # host resolves to the local keystone, and no DNS server is reachable from the hub.
        etc = Path("/etc/netns") / self.hub
        etc.mkdir(parents=True, exist_ok=True)
        (etc / "hosts").write_text(
            "127.0.0.1 localhost\n::1 localhost\n" + "".join(f"{a} {h}\n" for h, a in tls_hosts(self.topo).items())
        )
        (etc / "resolv.conf").write_text("# local OpenStack clouds: no DNS in this namespace\n")

    def save_logs(self) -> Path:
        """Console and /var/log of every container into RUN_DIR/logs (kept after the containers are removed)."""
        out = self.run_dir / "logs"
        for b in self.backends:
            c = self.container(b)
            d = out / b["name"]
            d.mkdir(parents=True, exist_ok=True)
            (d / "console.log").write_text(run("podman", "logs", c, check=False).stdout)
            run("podman", "cp", f"{c}:/var/log/.", str(d), check=False, timeout=120)
        return out

    def launch(self, b: dict, tls: Path) -> None:
        hosts = [f"--add-host={h}:{a}" for h, a in tls_hosts(self.topo).items()]
        run(
            "podman",
            "run",
            "-d",
            "--name",
            self.container(b),
            "--hostname",
            b["name"],
            "--label",
            f"{LABEL}={self.name}",
            "--network",
            f"ns:/run/netns/{self.netns(b)}",
            *hosts,
            "-v",
            f"{self.run_dir / ('backend-' + b['name'] + '.json')}:/etc/rs-os/backend.json:ro",
            "-v",
            f"{tls}:/etc/rs-os/tls:ro",
            "--stop-timeout",
            "90",
            self.images[b["name"]],
        )

    def boot(self, tls: Path, deadline: float) -> dict[str, float]:
        """Start the regions, keystones first, at most RS_OS_PARALLEL booting at once (default 3: a region
        starts some 25 Python processes; all five at once only thrash two CPUs), until each prints READY."""
        queue = sorted(self.backends, key=lambda b: b["keystone"] is None)
        limit = max(1, int(os.environ.get("RS_OS_PARALLEL", "3")))
        booting: dict[str, dict] = {}
        done: dict[str, float] = {}
        while queue or booting:
            while queue and len(booting) < limit:
                b = queue.pop(0)
                self.launch(b, tls)
                booting[self.container(b)] = b
            for c in list(booting):
                logs = run("podman", "logs", c, check=False).stdout
                m = re.search(r"^READY \S+ .*total=([\d.]+)", logs, re.M)
                if m:
                    done[booting.pop(c)["name"]] = float(m.group(1))
                    continue
                state = run("podman", "inspect", "-f", "{{.State.Status}}", c, check=False).stdout.strip()
                if "FAILED:" in logs or state not in ("running", "created"):
                    raise Failed(f"{c} did not start ({state}):\n" + "\n".join(logs.splitlines()[-30:]))
            if (queue or booting) and time.monotonic() > deadline:
                tails = "\n".join(
                    f"--- {c}\n" + "\n".join(run("podman", "logs", c, check=False).stdout.splitlines()[-8:])
                    for c in booting
                )
                raise Failed(
                    f"not ready in time: {', '.join(booting)}; not started: {[b['name'] for b in queue]}\n{tails}"
                )
            if booting:
                time.sleep(2)
        return done

    # -- what clients need --------------------------------------------------------------------------
    def write_client_files(self) -> dict[str, Path]:
        ca = self.run_dir / "ca.pem"
        shutil.copyfile(CACHE / "tls" / "serve" / "ca.pem", ca)
        lines = [
            "# Credentials of the local OpenStack clouds (scripts/local-openstack, docs/local-openstack.md).",
            f"# Reachable only inside the network namespace {self.hub}: ip netns exec {self.hub} CMD",
            "clouds:",
        ]
        builtin = builtin_regions()
        providers: list[dict] = []
        for entry, (cloud, u) in entries(self.topo).items():  # a cloud's own entry, then its other projects'
            c = self.topo["clouds"][cloud]
            b = next(x for x in self.backends if x["cloud"] == cloud and x["keystone"])
            lines += [
                f"  {entry}:",
                "    auth:",
                f"      auth_url: {b['public_auth_url']}",
                f"      username: {u['name']}",
                f"      password: {u['password']}",
                f"      project_name: {u['project']}",
                "      user_domain_name: Default",
                "      project_domain_name: Default",
                "    identity_api_version: 3",
            ]
            if c["keystone"].get("tls"):
                lines.append(f"    cacert: {ca}")
        for cloud, c in self.topo["clouds"].items():
            b = next(x for x in self.backends if x["cloud"] == cloud and x["keystone"])
            host = re.sub(r"^https?://([^:/]+).*$", r"\1", b["public_auth_url"])
            provider = c["stands_for"]
            regions = []
            for region in c["regions"]:
                known = builtin.get((provider, region.lower()))
                if known is None:
                    raise Failed(f"{TOPOLOGY}: region {region} of {provider} is not in the shipped catalog")
                # the shipped entry as it is, its auth hosts extended with the local keystone's
                regions.append({**known, "auth_hosts": sorted({*known["auth_hosts"], host})})
            providers.append({"id": provider, "auth_hosts": [host], "regions": regions})
        files = {"clouds": self.run_dir / "clouds.yaml", "catalog": self.run_dir / "catalog.yaml", "ca": ca}
        files["clouds"].write_text("\n".join(lines) + "\n")
        files["catalog"].write_text(
            "# Catalog entries for the local clouds' auth hosts (resilient-stack audit --catalog FILE): each local\n"
            "# keystone stands for the provider it imitates, region by region (JSON, which is YAML).\n"
            + json.dumps({"schema": "resilient-stack/catalog/v1", "providers": providers}, indent=1)
            + "\n"
        )
        (self.run_dir / "state.json").write_text(
            json.dumps(
                {
                    "name": self.name,
                    "hub": self.hub,
                    "clouds_yaml": str(files["clouds"]),
                    "catalog": str(files["catalog"]),
                    "containers": {b["name"]: self.container(b) for b in self.backends},
                    "regions": {b["name"]: {"cloud": b["cloud"], "region": b["region"]} for b in self.backends},
                },
                indent=1,
            )
        )
        return files

    def probe(self) -> None:
        """From the hub, as a client: token of each cloud's user, every region's endpoints answer."""
        r = run(
            "ip",
            "netns",
            "exec",
            self.hub,
            sys.executable,
            str(HERE / "hub_client.py"),
            "probe",
            str(self.run_dir / "clouds.yaml"),
            check=False,
            timeout=300,
        )
        if r.returncode != 0:
            raise Failed("health check from the hub failed: " + (r.stderr or r.stdout).strip()[-2000:])
        log(r.stdout.strip())


def builtin_regions() -> dict[tuple[str, str], dict]:
    """The shipped catalog's regions (site, auth hosts, buildings) read from the compiled JSON: no venv needed."""
    data = json.loads((REPO / "resilient_stack" / "core" / "data" / "catalog.compiled.json").read_text())
    return {(p["id"], r["name"].lower()): r for p in data["providers"] for r in p["regions"]}


def down(name: str, quiet: bool = False) -> None:
    """Stop and remove the containers of ``name`` (clean shutdown first), its namespaces and /etc/netns files."""
    if not NAME_RE.match(name):
        raise Failed(f"--name {name!r}: 1-10 lower-case letters or digits")
    import compute_agent  # this directory (it imports this module: not at the top)

    compute_agent.stop(name)  # it removes the hosts it booted
    ids = run("podman", "ps", "-aq", "--filter", f"label={LABEL}={name}", check=False).stdout.split()
    if ids:
        run("podman", "stop", "-t", "90", *ids, check=False, timeout=300)
        run("podman", "rm", "-f", *ids, check=False, timeout=300)
    prefix = f"rsos-{name}"
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        ns = line.split()[0] if line.split() else ""
        if ns == prefix or ns.startswith(prefix + "-"):
            run("ip", "netns", "delete", ns, check=False)
    shutil.rmtree(Path("/etc/netns") / prefix, ignore_errors=True)
    if not quiet:
        log(f"clouds {name!r} stopped and removed ({len(ids)} containers)")


# ---- build ------------------------------------------------------------------------------------------


def build(force: bool = False) -> dict[str, float]:
    topo = topology()
    v = version()
    wanted = {b["name"]: image(b["name"]) for b in backends(topo)}
    if not force and all(image_exists(ref) for ref in wanted.values()):
        log(f"images {REPOSITORY}:{v}-* present: nothing to build")
        return {}
    t0 = time.monotonic()
    CACHE.mkdir(parents=True, exist_ok=True)
    if not image_exists(BASE_IMAGE):
        log(f"{BASE_IMAGE} missing: building it with scripts/build-host-image.sh")
        env = {**os.environ, "FORCE": "1"}
        subprocess.run(["bash", str(REPO / "scripts" / "build-host-image.sh")], check=True, env=env)
    base = image("base")
    build_log = CACHE / "build.log"
    log(f"podman build {base} (apt-get install of OpenStack Zed from Debian; minutes on a cold cache; log {build_log})")
    with open(build_log, "w") as out:
        r = subprocess.run(
            [
                "podman",
                "build",
                "--network",
                "host",
                "--build-arg",
                f"BASE={BASE_IMAGE}",
                "-t",
                base,
                "-f",
                str(IMAGE_DIR / "Containerfile"),
                str(IMAGE_DIR),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=3600,
        )
    if r.returncode != 0:
        raise Failed(f"podman build failed; see {build_log}:\n" + "\n".join(build_log.read_text().splitlines()[-20:]))
    t1 = time.monotonic()
    log("pre-initialising every region (databases, keystone, flavors, images, networks) in its own namespace")
    name = f"b{os.getpid() % 100000}"
    clouds = Clouds(name, CACHE / "build-run", {b: base for b in wanted})
    try:
        ready = clouds.start(timeout=float(os.environ.get("RS_OS_INIT_TIMEOUT", "1800")))
        for b in clouds.backends:
            c = clouds.container(b)
            run("podman", "stop", "-t", "120", c, timeout=300)
            code = run("podman", "inspect", "-f", "{{.State.ExitCode}}", c).stdout.strip()
            if code != "0":
                raise Failed(f"{c} did not stop cleanly (exit {code})")
            run(
                "podman",
                "commit",
                "--quiet",
                "--change",
                'CMD ["/opt/rs-os/boot.sh"]',
                c,
                wanted[b["name"]],
                timeout=900,
            )
    finally:
        down(name, quiet=True)
    t2 = time.monotonic()
    # older versions of these images: remove them (ignore the ones a running container still uses)
    for line in run("podman", "images", "--format", "{{.Repository}}:{{.Tag}}", REPOSITORY, check=False).stdout.split():
        if line.startswith(f"{REPOSITORY}:") and not line.startswith(f"{REPOSITORY}:{v}-"):
            run("podman", "rmi", line, check=False)
    timings = {"image_build_s": round(t1 - t0, 1), "pre_init_s": round(t2 - t1, 1), "first_boot_s": ready}
    (CACHE / f"build-{v}.json").write_text(json.dumps(timings, indent=1))
    log(
        f"built {REPOSITORY}:{v}-* in {t2 - t0:.0f} s (podman build {t1 - t0:.0f} s, pre-init + commit {t2 - t1:.0f} s)"
    )
    return timings


# ---- the watchdog: clouds never outlive their owner -------------------------------------------------


def watchdog(name: str, owner: int) -> None:
    """Fork a detached process that removes the clouds once ``owner`` (a PID) has exited."""
    if os.fork() != 0:
        return
    os.setsid()
    if os.fork() != 0:
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            break
        except PermissionError:
            pass
        if not run("podman", "ps", "-q", "--filter", f"label={LABEL}={name}", check=False).stdout.strip():
            os._exit(0)  # removed by someone else (down): nothing to watch
        time.sleep(2)
    try:
        down(name, quiet=True)
    finally:
        os._exit(0)


# ---- commands ---------------------------------------------------------------------------------------


def _run_dir(args) -> Path:
    return Path(args.run_dir) if args.run_dir else CACHE / "run" / args.name


def _running(args) -> tuple[Path, str]:
    """(run dir, hub namespace) of the clouds ``args.name``, which must be running."""
    hub = f"rsos-{args.name}"
    if not Path("/run/netns", hub).exists():
        raise Failed(f"clouds {args.name!r} are not running (local_openstack.py up --name {args.name})")
    return _run_dir(args), hub


def cmd_up(args) -> int:
    images = {b["name"]: image(b["name"]) for b in backends(topology())}
    missing = [ref for ref in images.values() if not image_exists(ref)]
    if missing:
        raise Failed(f"images missing ({', '.join(missing)}): run {Path(__file__).name} build (make tools)")
    run_dir = _run_dir(args)
    clouds = Clouds(args.name, run_dir, images)
    try:
        t = clouds.start(timeout=args.timeout)
        files = clouds.write_client_files()
        clouds.probe()
        if getattr(args, "hosts", False):
            start_hosts(args.name, run_dir)
    except BaseException:
        log("start failed: removing what was started")
        down(args.name, quiet=True)
        raise
    if args.owner_pid:
        watchdog(args.name, args.owner_pid)
    log(f"clouds {args.name!r} ready in {t['ready']} s; clients run in: ip netns exec {clouds.hub} CMD")
    log(
        f"clouds.yaml: {files['clouds']}   catalog: {files['catalog']}   stop: {Path(__file__).name} down --name {args.name}"
    )
    if not args.quiet:
        print(files["clouds"].read_text(), end="")
    return 0


def start_hosts(name: str, run_dir: Path) -> None:
    import compute_agent
    import registry

    try:
        pid = compute_agent.start(name, run_dir)
    except compute_agent.AgentError as exc:
        raise Failed(str(exc)) from None
    log(f"compute agent {pid}: every ACTIVE server boots as a host (RUN_DIR/hosts.json; logs/compute-agent.log)")
    names = registry.start(name, run_dir, topology())
    if names:
        log(f"image registry for the hosts: https://{names[0]} (push: docs/local-openstack.md)")


def cmd_hosts(args) -> int:
    """``hosts start``: servers boot as hosts from now on; ``hosts stop``: the agent and its hosts go (the clouds
    stay); ``hosts list``: RUN_DIR/hosts.json."""
    import compute_agent

    run_dir, _ = _running(args)
    if args.action == "start":
        start_hosts(args.name, run_dir)
    elif args.action == "stop":
        log(f"{compute_agent.stop(args.name)} compute agent(s) stopped; their hosts removed")
    else:
        state = run_dir / "hosts.json"
        print(state.read_text() if state.exists() else json.dumps({"hosts": {}, "not_booted": {}}))
    return 0


def cmd_run(args) -> int:
    if not args.command:
        raise Failed("run: give the command after --")
    args.quiet = True
    args.owner_pid = os.getpid()
    cmd_up(args)
    try:
        return cmd_exec(args)
    finally:
        down(args.name)


def _hub_client(args, command: str, *extra: str, timeout: float) -> int:
    """``hub_client.py COMMAND CLOUDS_YAML EXTRA...`` inside the running clouds' hub; its stdout printed."""
    run_dir, hub = _running(args)
    r = run(
        "ip",
        "netns",
        "exec",
        hub,
        sys.executable,
        str(HERE / "hub_client.py"),
        command,
        str(run_dir / "clouds.yaml"),
        *extra,
        check=False,
        timeout=timeout,
    )
    if r.returncode != 0:
        raise Failed(f"{command} failed: " + r.stderr.strip()[-2000:])
    print(r.stdout, end="")
    return 0


def cmd_inventory(args) -> int:
    """What the users' projects hold in every region of every cloud, as JSON (stdout)."""
    return _hub_client(args, "inventory", timeout=600)


def cmd_backup_user(args) -> int:
    """A dedicated object-store user of a cloud's project and its S3 keys, as JSON (stdout): the backups' credential
    an operator creates once per stack (docs/operations.md#the-backup-credential)."""
    known = entries(topology())
    if args.cloud not in known:
        raise Failed(f"no clouds.yaml entry {args.cloud!r}: {', '.join(known)}")
    return _hub_client(args, "backup-user", args.cloud, args.user, timeout=300)


def cmd_metadata(args) -> int:
    """What Nova's metadata API serves a server (``--path``, e.g. ``openstack/latest/meta_data.json``), asked as the
    metadata proxy asks for it: JSON on stdout (the HTTP status, the body in base64)."""
    if args.cloud not in entries(topology()):
        raise Failed(f"no clouds.yaml entry {args.cloud!r}: {', '.join(entries(topology()))}")
    return _hub_client(args, "metadata", args.cloud, args.region, args.server, args.path, args.tamper, timeout=120)


def cmd_stats(args) -> int:
    """Memory of each region (PSS: shared pages counted once) and of all of them, in MiB."""
    total = 0.0
    for b in backends(topology()):
        c = f"rsos-{args.name}-{b['name']}"
        r = run("podman", "exec", c, "sh", "-c", "cat /proc/[0-9]*/smaps_rollup 2>/dev/null; true", check=False)
        if r.returncode != 0:
            raise Failed(f"{c} is not running")
        pss = sum(int(line.split()[1]) for line in r.stdout.splitlines() if line.startswith("Pss:")) / 1024
        total += pss
        print(f"{b['name']:18} {pss:8.0f} MiB")
    print(f"{'total':18} {total:8.0f} MiB")
    return 0


def cmd_exec(args) -> int:
    run_dir, hub = _running(args)
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(run_dir / "clouds.yaml")}
    return subprocess.run(["ip", "netns", "exec", hub, *args.command], env=env).returncode


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="local_openstack.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="build the images (cached in podman storage)")
    b.add_argument("--force", action="store_true")
    sub.add_parser("check-image", help="exit 0 when this version's images exist")
    for n in ("up", "down", "run", "exec", "inventory", "stats", "backup-user", "metadata", "hosts"):
        p = sub.add_parser(n)
        p.add_argument("--name", default="local")
        if n not in ("down", "stats"):
            p.add_argument("--run-dir")
        if n in ("up", "run"):
            p.add_argument("--timeout", type=float, default=float(os.environ.get("RS_OS_START_TIMEOUT", "900")))
        if n == "up":
            p.add_argument("--owner-pid", type=int, help="remove the clouds when this process exits")
            p.add_argument("--quiet", action="store_true", help="do not print clouds.yaml")
            p.add_argument(
                "--hosts",
                action="store_true",
                help="start the compute agent: every ACTIVE server boots as a host (compute_agent.py)",
            )
        if n == "hosts":
            p.add_argument("action", choices=("start", "stop", "list"))
        if n in ("run", "exec"):
            p.add_argument("command", nargs=argparse.REMAINDER)
        if n == "backup-user":
            p.add_argument(
                "--cloud",
                required=True,
                help="the clouds.yaml entry of the backup placement (a cloud of topology.json, or one of "
                "its projects: ovh-backups)",
            )
            p.add_argument("--user", required=True, help="the user's name, e.g. shop-backups")
        if n == "metadata":
            p.add_argument("--cloud", required=True, help="the clouds.yaml entry of the server's project")
            p.add_argument("--region", required=True)
            p.add_argument("--server", required=True, help="the server's name")
            p.add_argument("--path", default="openstack/latest/meta_data.json")
            p.add_argument(
                "--tamper",
                choices=("none", "signature", "tenant"),
                default="none",
                help="ask with a forged signature, or another project's id (Nova must refuse both)",
            )
    args = ap.parse_args(argv)
    if getattr(args, "command", None) and args.command[:1] == ["--"]:
        args.command = args.command[1:]
    if os.geteuid() != 0:
        raise Failed("must run as root (network namespaces, rootful podman)")
    if args.cmd == "build":
        build(args.force)
        return 0
    if args.cmd == "check-image":
        missing = [b["name"] for b in backends(topology()) if not image_exists(image(b["name"]))]
        print("missing: " + ", ".join(missing) if missing else f"images {REPOSITORY}:{version()}-* present")
        return 1 if missing else 0
    if args.cmd == "down":
        down(args.name)
        return 0
    return {
        "up": cmd_up,
        "run": cmd_run,
        "exec": cmd_exec,
        "inventory": cmd_inventory,
        "stats": cmd_stats,
        "backup-user": cmd_backup_user,
        "metadata": cmd_metadata,
        "hosts": cmd_hosts,
    }[args.cmd](args)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        sys.exit(main(sys.argv[1:]))
    except Failed as exc:
        log(f"ERROR: {exc}")
        sys.exit(1)
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
