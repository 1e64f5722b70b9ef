"""The live fire drill: boot a whole stack in podman, burn one site, measure what survives.

``resilient-stack firedrill STACK [--site NAME | --all-sites]`` (see ``docs/firedrill.md``):

1. **Build** the stack from ``stacks/Pulumi.STACK.yaml`` under Pulumi mocks (:mod:`resilient_stack.testing.mockrun`)
   and take every instance's role, placement and EXACT user data. The mock cloud answers each instance's
   public address (``access_ip_v4``) with the static IP the drill gives that container on its "internet"
   network (``RecordingMocks(public_address=...)``), so the primary's address reaches the replicas the way
   the components pass it in the cloud. Like an operator, the drill sets ``database.replicationCidrs`` and
   ``database.appCidrs`` to that public network (docs/configuration.md, "Replication"). A design the rules
   reject (the sbg2021 replay) is built with ``enforce_rules=False`` and reported as rejected.
2. **Topology**: one podman network per SITE (placements on one campus share it), one shared network
   standing in for the internet, each host on both. Drill-only hosts: an HAProxy entry point (the
   DNS / load-balancer role, health-checked on ``/healthz``) on the internet network, published on
   127.0.0.1, which also runs the database writer; and an S3 stand-in (moto behind nginx TLS) in the backup
   placement's site, answering for the stack's S3 endpoint name.
3. **Load**: HTTP GETs to the entry point, and numbered, committed writes (``INSERT ... n``) to the
   primary's public address; every acknowledged row number is recorded.
4. **Fire**: ``podman kill`` every container of the site at once. Then the shipped failover runbook (the
   header of ``/usr/local/sbin/resilient-stack-promote``): the monitor finds the primary unreachable, the
   surviving replica that received the most WAL is promoted (ties: the stack's failover order, the
   ``databaseRole: replica`` placements in config order), and the writer is pointed at its public address.
5. **Measure** RTO web, RTO writes and RPO (:mod:`resilient_stack.drills.report`) and set them beside
   the paper drill's prediction (:mod:`resilient_stack.core.survival`).

Every container and network lives in a :class:`resilient_stack.testing.podman.Session`: removed afterwards, also
on errors, Ctrl-C and SIGTERM. Every wait is bounded. Traffic stays on loopback and the drill's networks
(plus the hosts' own ``apt-get update`` against the machine's Debian mirror, as in tests/integration/podman).
"""

from __future__ import annotations

import importlib.util
import ipaddress
import json
import os
import random
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import yaml

from resilient_stack.components.stack_config import (
    StackConfig,
    load_stack_file,
    read_stack_file,
    validate_stack,
)
from resilient_stack.core.rules import DesignRejected
from resilient_stack.core.survival import drill as paper_drill
from resilient_stack.core.vocabulary import (
    HOST_DB_PRIMARY,
    HOST_DB_REPLICA,
    HOST_ROLE_FILE,
    HOST_ROLES,
    HOST_WEB,
    POSTGRES_PORT,
    WEB,
)
from resilient_stack.drills.report import (
    Attempt,
    Event,
    FiredrillReport,
    Prediction,
    ScenarioResult,
    choose_promotion,
    compute_rpo,
    recovery_seconds,
)
from resilient_stack.hosts import cloudinit
from resilient_stack.io.errors import InputError
from resilient_stack.testing import podman

__all__ = [
    "DrillError",
    "Options",
    "Plan",
    "HostPlan",
    "Site",
    "stack_file_for",
    "failover_order",
    "build_plan",
    "select_sites",
    "run",
    "run_scenario",
]

REPO = Path(__file__).resolve().parent.parent
INTERNET_POOL = ipaddress.ip_network("198.18.0.0/15")  # RFC 2544 benchmarking range: never routed
ENTRY_OFFSET, S3_OFFSET, FIRST_HOST_OFFSET = 2, 3, 10
INSTANCE_TYPE = "openstack:compute/instance:Instance"
PASSWORD_TYPE = "random:index/randomPassword:RandomPassword"
TABLE = "firedrill_writes"
WRITER = "/usr/local/sbin/firedrill-writer"
RUN_DIR = "/run/firedrill"


class DrillError(RuntimeError):
    """The drill could not be carried out (a host did not boot, replication never started...)."""


@dataclass(frozen=True)
class Options:
    """Timings and bounds of one scenario (seconds unless said otherwise)."""

    before_s: float = 6.0  # steady load before the fire
    min_after_s: float = 8.0  # observe at least this long after the fire
    max_after_s: float = 90.0  # ... and at most this long
    dead_after_s: float = 12.0  # how long to watch a role of which no host survived
    boot_timeout_s: float = 480.0  # every host booted (cloud-init done) within this
    ready_timeout_s: float = 90.0  # replicas streaming, entry point healthy
    http_interval_s: float = 0.1
    max_requests: int = 4000
    max_writes: int = 4000
    image: str = podman.DEFAULT_IMAGE


# --------------------------------------------------------------------------------------------------
# The plan: the stack under mocks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostPlan:
    """One instance of the stack, as the components made it."""

    name: str  # the instance (and host) name, e.g. shop-gra-web-1
    role: str  # web | db-primary | db-replica
    placement: str
    site: str  # site id from the catalog
    public_ip: str  # the mock cloud's access_ip_v4 == the container's IP on the internet network
    user_data: str  # the exact rendered #cloud-config


@dataclass(frozen=True)
class Site:
    id: str
    name: str
    placements: tuple[str, ...]


@dataclass
class Plan:
    """Everything the drill needs to know about the stack, taken from the mocked deployment."""

    stack: str
    source: str
    config: StackConfig
    hosts: list[HostPlan]
    sites: dict[str, Site]
    backup_placement: str
    backup_site: str
    internet: ipaddress.IPv4Network
    entry_ip: str
    s3_ip: str
    s3_host: str
    s3_port: int
    s3_uri_style: str
    bucket: str
    app_password: str
    primary: str  # placement of the primary
    failover_order: list[str]
    database_addresses: dict[str, str]
    entry_points: list[str]
    predictions: dict[str, Prediction]  # site id -> paper drill
    rejected: DesignRejected | None = None

    @property
    def rejected_rules(self) -> tuple[str, ...]:
        return tuple(self.rejected.rule_ids) if self.rejected else ()

    def hosts_on(self, site: str) -> list[HostPlan]:
        return [h for h in self.hosts if h.site == site]

    def db_host(self, placement: str) -> HostPlan:
        return next(h for h in self.hosts if h.placement == placement and h.role.startswith("db-"))


def stack_file_for(stack: str) -> Path:
    """``production`` -> ``stacks/Pulumi.production.yaml`` (cwd, then the repository); a path stays a path."""
    p = Path(stack)
    if p.suffix in (".yaml", ".yml") or os.sep in stack or p.is_file():
        if not p.is_file():
            raise InputError(stack, "no such stack file")
        return p
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", stack):
        raise InputError(stack, "not a stack name (e.g. production) nor a Pulumi.<stack>.yaml file")
    for base in (Path.cwd() / "stacks", REPO / "stacks"):
        f = base / f"Pulumi.{stack}.yaml"
        if f.is_file():
            return f
    raise InputError(stack, f"no stack file stacks/Pulumi.{stack}.yaml")


def failover_order(config: StackConfig) -> list[str]:
    """The stack's failover order: the ``databaseRole: replica`` placements, in config order.

    The runbook promotes the surviving replica that received the most WAL; this order breaks ties
    (docs/operations.md, "Failover").
    """
    return [p.name for p in config.placements if p.database_role == "replica"]


class _Addresses:
    """The drill's address allocator for the mock cloud: public IPs from the internet network.

    With ``names`` (every instance name, e.g. from a first run) the addresses follow their sorted order,
    so a plan is reproducible; otherwise they are handed out in registration order.
    """

    def __init__(self, net: ipaddress.IPv4Network, names: Sequence[str] = ()) -> None:
        self.net = net
        self.given: dict[tuple[str, int], str] = {}
        self._next = FIRST_HOST_OFFSET
        self._lock = threading.Lock()
        for name in sorted(set(names)):
            self(name, 0)

    def __call__(self, instance: str, nic: int) -> str:
        with self._lock:
            key = (instance, nic)
            if key not in self.given:
                addr = self.net.network_address + self._next
                if addr >= self.net.broadcast_address:
                    raise DrillError(f"internet network {self.net} is full")
                self._next += 1
                self.given[key] = str(addr)
            return self.given[key]


def _used_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    try:
        proc = subprocess.run(["podman", "network", "ls", "--format", "json"], capture_output=True, text=True,
                              timeout=30)
        for net in json.loads(proc.stdout or "[]"):
            for sub in net.get("subnets") or []:
                try:
                    out.append(ipaddress.ip_network(sub.get("subnet", ""), strict=False))
                except ValueError:
                    pass
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError):
        pass
    return out


def pick_internet_subnet(rng: random.Random | None = None) -> ipaddress.IPv4Network:
    """A free /24 of 198.18.0.0/15 (the benchmarking range, never routed) for the drill's internet."""
    rng = rng or random.Random()
    used = _used_subnets()
    candidates = list(INTERNET_POOL.subnets(new_prefix=24))
    rng.shuffle(candidates)
    for net in candidates:
        if not any(net.overlaps(u) for u in used if u.version == 4):
            return net  # type: ignore[return-value]
    raise DrillError("no free /24 left in 198.18.0.0/15 for the drill's internet network")


def _role_of(user_data: str) -> str | None:
    doc = yaml.safe_load(user_data.split("\n", 1)[1] if user_data.startswith("#cloud-config") else user_data)
    for f in (doc or {}).get("write_files") or []:
        if f.get("path") == HOST_ROLE_FILE:
            return str(f.get("content", "")).strip()
    return None


def build_plan(stack_file: str | Path, internet: ipaddress.IPv4Network | None = None) -> Plan:
    """Build the stack under mocks and collect hosts, sites, addresses and the paper drill.

    Raises:
        InputError: unreadable/invalid stack file, a placement the catalog cannot place.
    """
    from resilient_stack.testing.mockrun import RecordingMocks, run_program

    path = Path(stack_file)
    source = str(path)
    config = load_stack_file(path)
    _, stack = read_stack_file(path)
    rejected: DesignRejected | None = None
    try:
        validate_stack(config)
    except DesignRejected as exc:
        rejected = exc

    internet = internet or pick_internet_subnet()
    entry_ip = str(internet.network_address + ENTRY_OFFSET)
    s3_ip = str(internet.network_address + S3_OFFSET)

    # Sites, and the paper drill, from the design the auditor reads.
    catalog = config.catalog()
    placements = config.to_design().placements_for(catalog)
    site_of: dict[str, tuple[str, str]] = {}
    for p in placements:
        name = p.resource.split("/", 1)[0]
        if not p.resolved:
            raise InputError(source, f"placement {name}: {p.problem or 'cannot be placed'}; the drill needs every site")
        site_of[name] = (str(p.site), str(p.site_name))
    sites: dict[str, Site] = {}
    for name, (sid, sname) in site_of.items():
        prev = sites.get(sid)
        sites[sid] = Site(sid, sname, (*(prev.placements if prev else ()), name))
    predictions = {}
    by_name = {sname: sid for sid, sname in site_of.values()}
    for sc in paper_drill(placements, "site"):
        predictions[by_name[sc.name]] = Prediction(sc.service_survives, sc.data_survives, sc.down_roles, sc.data_lost)

    # The operator's settings for this "cloud": the public network admitted for replication and the app.
    raw, _ = read_stack_file(path)
    database = dict(raw.get("resilient-stack:database") or {})
    for key in ("replicationCidrs", "appCidrs"):
        database[key] = [*(database.get(key) or []), str(internet)]
    overrides = {"resilient-stack:database": database}

    # Two runs: the first names every instance, the second gives them their addresses in name order.
    first = run_program(path, mocks=RecordingMocks(public_address=_Addresses(internet)),
                        config_overrides=overrides, enforce_rules=rejected is None)
    names = [str(r.inputs.get("name") or r.name) for r in first if r.type == INSTANCE_TYPE]
    mocks = RecordingMocks(public_address=_Addresses(internet, names))
    resources = run_program(path, mocks=mocks, config_overrides=overrides, enforce_rules=rejected is None)
    outputs = mocks.stack_outputs

    prefix = f"{config.name}-"
    hosts: list[HostPlan] = []
    app_password = ""
    for r in resources:
        if r.type == PASSWORD_TYPE and r.name.endswith("-app-password"):
            app_password = str(r.outputs.get("result", ""))
        if r.type != INSTANCE_TYPE:
            continue
        provider_name = (r.provider_urn or "").rsplit("::", 1)[-1]
        placement = provider_name.removeprefix(prefix)
        if placement not in site_of:
            raise DrillError(f"instance {r.name}: cannot tell its placement from provider {provider_name!r}")
        user_data = str(r.inputs.get("userData", ""))
        label = (r.inputs.get("metadata") or {}).get("resilient-stack:role")
        role = HOST_WEB if label == WEB else _role_of(user_data)
        if role not in HOST_ROLES:
            raise DrillError(f"instance {r.name}: unknown role {label!r}/{role!r}")
        ip = str(r.outputs.get("accessIpV4", ""))
        if ipaddress.ip_address(ip) not in internet:
            raise DrillError(f"instance {r.name}: public address {ip} is not on the drill's internet {internet}")
        hosts.append(HostPlan(str(r.inputs.get("name") or r.name), role, placement, site_of[placement][0], ip, user_data))
    hosts.sort(key=lambda h: ({HOST_DB_PRIMARY: 0, HOST_DB_REPLICA: 1, HOST_WEB: 2}[h.role], h.name))
    if not app_password:
        raise DrillError("the database tier's application password was not found among the resources")
    primary = next(h.placement for h in hosts if h.role == HOST_DB_PRIMARY)

    b = config.backups
    host, _, port = b.s3_endpoint.partition(":")
    return Plan(
        stack=stack, source=source, config=config, hosts=hosts, sites=sites,
        backup_placement=b.name, backup_site=site_of[b.name][0], internet=internet, entry_ip=entry_ip,
        s3_ip=s3_ip, s3_host=host, s3_port=int(port or 443), s3_uri_style=b.uri_style,
        bucket=str(outputs.get("backupContainer") or config.backup_container), app_password=app_password,
        primary=primary, failover_order=failover_order(config),
        database_addresses=dict(outputs.get("databaseAddresses") or {}),
        entry_points=list(outputs.get("entryPoints") or []), predictions=predictions, rejected=rejected,
    )


def select_sites(plan: Plan, site: str | None, all_sites: bool) -> list[str]:
    """Site ids to burn: all, the one named (site id, site name or its start, or a placement name), or by
    default the site of the database primary."""
    if all_sites:
        return sorted(plan.sites, key=lambda s: plan.sites[s].name)
    if site is None:
        return [next(h.site for h in plan.hosts if h.role == HOST_DB_PRIMARY)]
    want = site.strip().casefold()
    for s in plan.sites.values():
        if want in (s.id.casefold(), s.name.casefold()) or want in (p.casefold() for p in s.placements):
            return [s.id]
    starts = [s.id for s in plan.sites.values() if s.name.casefold().startswith(want)]
    if len(starts) == 1:
        return starts
    choices = "; ".join(f"{s.id} ({s.name}: {', '.join(s.placements)})" for s in plan.sites.values())
    raise InputError(plan.source, f"--site {site!r} matches no site of the stack; choose one of: {choices}")


# --------------------------------------------------------------------------------------------------
# Drill-only hosts: the entry point and the S3 stand-in
# --------------------------------------------------------------------------------------------------


def haproxy_config(servers: Sequence[tuple[str, str]], *, https: bool) -> str:
    """HAProxy in front of every web host (name, address): health check GET /healthz on port 80 every
    second, down after 2 failures, failed connections redispatched to another server."""
    lines = [
        "# fire drill entry point: the stack's DNS / load-balancer role",
        "global",
        "    log stdout format raw local0 info",
        "    maxconn 1000",  # containers run with nofile=4096 (hosts.md)
        "defaults",
        "    log global",
        "    mode http",
        "    option dontlognull",
        "    timeout connect 500ms",
        "    timeout client 10s",
        "    timeout server 5s",
        "    timeout check 1s",
        "    retries 3",
        "    option redispatch 1",
        "    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2",
        "frontend www",
        "    bind :80",
        "    default_backend web",
        "backend web",
        "    balance roundrobin",
        "    option httpchk GET /healthz",
        "    http-check expect status 200",
    ]
    lines += [f"    server {name} {ip}:80 check" for name, ip in servers]
    if https:
        lines += [
            "frontend www-tls",
            "    mode tcp",
            "    bind :443",
            "    default_backend web-tls",
            "backend web-tls",
            "    mode tcp",
            "    balance roundrobin",
            "    option httpchk GET /healthz",
            "    http-check expect status 200",
        ]
        lines += [f"    server {name} {ip}:443 check port 80" for name, ip in servers]
    return "\n".join(lines) + "\n"


WRITER_SCRIPT = r"""#!/bin/bash
# fire drill writer: numbered, committed writes to the database host named in /run/firedrill/target,
# one INSERT per connection (autocommit: psql exits 0 only once the COMMIT is acknowledged).
# One line per attempt:  ack|err N START END HOST [error]   (epoch seconds). Bounded in rows and time;
# stops when /run/firedrill/stop exists.
set -u
db=$1 user=$2 max_rows=$3 max_seconds=$4
deadline=$(( $(date +%s) + max_seconds ))
n=0
while [ ! -e /run/firedrill/stop ] && [ "$n" -lt "$max_rows" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    n=$((n + 1))
    host=$(cat /run/firedrill/target)
    t0=$(date +%s.%N)
    if out=$(timeout 3 psql -XAtq -v ON_ERROR_STOP=1 \
            "host=$host dbname=$db user=$user sslmode=require connect_timeout=2" \
            -c "INSERT INTO firedrill_writes (n) VALUES ($n)" 2>&1); then
        echo "ack $n $t0 $(date +%s.%N) $host"
    else
        echo "err $n $t0 $(date +%s.%N) $host $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-160)"
    fi
    sleep 0.05
done
echo "end $n"
"""


def entry_user_data(servers: Sequence[tuple[str, str]], *, https: bool) -> str:
    """Drill-only user data of the entry point (not a product role)."""
    doc = {
        "package_update": False,
        "write_files": [
            {"path": "/etc/haproxy/haproxy.cfg", "content": haproxy_config(servers, https=https)},
            {"path": WRITER, "content": WRITER_SCRIPT, "permissions": "0755"},
            # Debian's unit bind-mounts /dev/log, which needs a mount namespace containers do not give
            {"path": "/etc/systemd/system/haproxy.service.d/firedrill.conf",
             "content": "[Service]\nBindReadOnlyPaths=\n"},
        ],
        "runcmd": [
            "set -eu",
            ["install", "-d", "-m", "0755", RUN_DIR],
            ["haproxy", "-c", "-q", "-f", "/etc/haproxy/haproxy.cfg"],
            ["systemctl", "disable", "--now", "nginx"],  # the image's nginx holds port 80
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "haproxy"],
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=4096)


def s3_user_data(*, port: int, bucket: str, path_style: bool) -> str:
    """Drill-only user data of the S3 stand-in: moto on 127.0.0.1:5000 behind nginx TLS on ``port``."""
    env = "Environment=PYTHONPATH=/opt/site\n" + ("Environment=S3_IGNORE_SUBDOMAIN_BUCKETNAME=true\n" if path_style else "")
    doc = {
        "package_update": False,
        "write_files": [
            {"path": "/etc/systemd/system/firedrill-s3.service", "content": (
                "[Unit]\nDescription=fire drill: S3 stand-in (moto) of the backup placement\n[Service]\n"
                + env + "ExecStart=/usr/bin/python3 -m moto.server -H 127.0.0.1 -p 5000\n")},
            {"path": "/etc/nginx/sites-available/s3", "content": (
                "server {\n"
                f"    listen {port} ssl default_server;\n"
                "    ssl_certificate /etc/firedrill/tls/s3.crt;\n"
                "    ssl_certificate_key /etc/firedrill/tls/s3.key;\n"
                "    client_max_body_size 0;\n"
                "    location / {\n"
                "        proxy_pass http://127.0.0.1:5000;\n"
                "        proxy_set_header Host $host;\n"
                "        proxy_http_version 1.1;\n"
                "        proxy_request_buffering off;\n"
                "    }\n"
                "}\n")},
        ],
        "runcmd": [
            "set -eu",
            ["rm", "-f", "/etc/nginx/sites-enabled/default"],
            ["ln", "-sfn", "/etc/nginx/sites-available/s3", "/etc/nginx/sites-enabled/s3"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "start", "firedrill-s3.service"],
            ["systemctl", "restart", "nginx"],
            "for i in $(seq 1 60); do curl -fsS -o /dev/null http://127.0.0.1:5000/ && break; sleep 1; done",
            ["curl", "-kfsS", "-o", "/dev/null", "-X", "PUT", f"https://127.0.0.1:{port}/{bucket}"],
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=4096)


def moto_site() -> Path:
    """The site-packages directory holding moto[server], mounted read-only into the S3 stand-in."""
    if sys.version_info[:2] != (3, 11):
        raise podman.PodmanUnavailable(
            f"the S3 stand-in mounts this Python's packages into Debian's python3.11, not {sys.version_info[:2]}")
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.origin or importlib.util.find_spec("flask") is None:
        raise podman.PodmanUnavailable(
            "the S3 stand-in of the backup store needs moto[server] (pip install -e '.[test]')")
    return Path(spec.origin).resolve().parent.parent


def make_tls(workdir: Path, names: Sequence[str], image: str) -> Path:
    """A self-signed certificate for the S3 endpoint name(s), and a CA bundle (the image's + it) for the
    database hosts: the fake internet's S3 is trusted as the real one is. Made with the image's openssl."""
    tls = workdir / "tls"
    tls.mkdir(mode=0o755)
    san = ",".join(f"DNS:{n}" for n in names)
    script = (
        "set -e; cd /out; "
        f"openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN={names[0]}' -addext 'subjectAltName={san}' "
        "-keyout s3.key -out s3.crt 2>/dev/null; "
        "cat /etc/ssl/certs/ca-certificates.crt s3.crt > ca-bundle.crt; chmod 0644 s3.crt ca-bundle.crt s3.key"
    )
    proc = subprocess.run(
        ["podman", "run", "--rm", "--network", "none", "--label", podman.LABEL, "-v", f"{tls}:/out", image,
         "sh", "-c", script], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not (tls / "ca-bundle.crt").is_file():
        raise DrillError(f"could not make the S3 stand-in's certificate: {proc.stderr.strip()[-500:]}")
    return tls


# --------------------------------------------------------------------------------------------------
# Load
# --------------------------------------------------------------------------------------------------


class HttpLoad(threading.Thread):
    """GETs to the entry point every ``interval`` s, each with a 2 s timeout, bounded in count and time."""

    def __init__(self, url: str, *, interval: float, max_requests: int, max_seconds: float) -> None:
        super().__init__(name="firedrill-http", daemon=True)
        self.url = url
        self.interval = interval
        self.max_requests = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.attempts: list[Attempt] = []
        self.stop = threading.Event()
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the web hosts' Debian snakeoil certificate
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx), _NoRedirect())

    def run(self) -> None:
        while not self.stop.is_set() and len(self.attempts) < self.max_requests and time.monotonic() < self.deadline:
            t0 = time.time()
            ok, detail = False, ""
            try:
                with self._opener.open(self.url, timeout=2) as r:
                    body = r.read(8192).decode("utf-8", "replace")
                    ok = r.status == 200
                    m = re.search(r'id="placement">([^<]*)<', body)
                    detail = m.group(1) if m else f"HTTP {r.status}"
            except urllib.error.HTTPError as exc:
                detail = f"HTTP {exc.code}"
            except Exception as exc:  # noqa: BLE001 - any failure is a failed request
                detail = type(exc).__name__ + ": " + str(exc)[:80]
            self.attempts.append(Attempt(t0, time.time(), ok, detail))
            self.stop.wait(self.interval)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:  # a redirect is not a 200
        return None


class Writer:
    """The numbered writes, run by ``firedrill-writer`` in the entry point container (on the internet
    network, like any client); each output line is one attempt."""

    def __init__(self, container: str, *, db: str, user: str, password: str, max_rows: int, max_seconds: int) -> None:
        self.container = container
        self.attempts: list[Attempt] = []
        self.acks: dict[int, float] = {}
        self.errors: dict[str, int] = {}  # error kind -> count
        env = dict(os.environ, PGPASSWORD=password)
        self.proc = subprocess.Popen(
            ["podman", "exec", "-e", "PGPASSWORD", container, WRITER, db, user, str(max_rows), str(max_seconds)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True, env=env)
        self._reader = threading.Thread(target=self._read, name="firedrill-writer", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            parts = line.rstrip("\n").split(" ", 5)
            if len(parts) < 5 or parts[0] not in ("ack", "err"):
                continue
            n, t0, t1 = int(parts[1]), float(parts[2]), float(parts[3])
            ok = parts[0] == "ack"
            a = Attempt(t0, t1, ok, parts[4] if ok else f"{parts[4]}: {parts[5] if len(parts) > 5 else ''}")
            self.attempts.append(a)
            if ok:
                self.acks[n] = t1
            else:
                kind = re.sub(r"\s{2,}.*", "", re.sub(r"[0-9.]+", "N", parts[5] if len(parts) > 5 else ""))
                kind = kind[:100].strip() or "error"
                self.errors[kind] = self.errors.get(kind, 0) + 1

    def stop(self, timeout: float = 15.0) -> None:
        podman.exec_in(self.container, ["touch", f"{RUN_DIR}/stop"], check=False, timeout=30)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._reader.join(timeout=5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


# --------------------------------------------------------------------------------------------------
# One scenario
# --------------------------------------------------------------------------------------------------


def _psql_local(container: str, sql: str, *, db: str = "postgres", timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return podman.exec_in(container, ["runuser", "-u", "postgres", "--", "psql", "-XAtq", "-d", db, "-c", sql],
                          check=False, timeout=timeout)


def _n(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "site"


class _Scenario:
    """State of one burned site, from boot to teardown."""

    def __init__(self, plan: Plan, site: str, options: Options, progress: Callable[[str], None]) -> None:
        self.plan = plan
        self.site = site
        self.o = options
        self.progress = progress
        self.events: list[Event] = []
        self.notes: list[str] = []
        self.names: dict[str, str] = {}  # host name -> container name
        self.fire_at = 0.0

    def event(self, phase: str, text: str, at: float | None = None) -> None:
        self.events.append(Event(at if at is not None else time.time(), phase, text))
        self.progress(f"[{phase}] {text}")

    # -- boot --------------------------------------------------------------------------------------
    def boot(self, s: podman.Session, workdir: Path) -> tuple[str, podman.Host]:
        plan, o = self.plan, self.o
        t0 = time.monotonic()
        self.event("boot", f"{len(plan.hosts)} stack hosts + entry point + S3 stand-in, podman session rs-{s.id}-*: "
                           f"{_n(len(plan.sites), 'site network')} and the internet {plan.internet}")
        inet = s.create_network("internet", subnet=str(plan.internet))
        site_nets = {sid: s.create_network(f"site-{_slug(sid)}") for sid in plan.sites}
        names = [plan.s3_host] + ([f"{plan.bucket}.{plan.s3_host}"] if plan.s3_uri_style == "host" else [])
        tls = make_tls(workdir, names, o.image)
        site_packages = moto_site()

        def nets(site: str | None, ip: str) -> list[str]:
            return (["--network", site_nets[site].name] if site else []) + ["--network", f"{inet.name}:ip={ip}"]

        hosts: dict[str, podman.Host] = {}
        s3_name = f"{plan.backup_placement}-s3"
        hosts[s3_name] = s.boot(
            s3_name, s3_user_data(port=plan.s3_port, bucket=plan.bucket, path_style=plan.s3_uri_style == "path"),
            extra_args=[*nets(plan.backup_site, plan.s3_ip), "-v", f"{site_packages}:/opt/site:ro",
                        "-v", f"{tls}:/etc/firedrill/tls:ro"])
        self.names[s3_name] = hosts[s3_name].name
        servers = [(h.name, h.public_ip) for h in plan.hosts if h.role == HOST_WEB]
        entry = s.boot("entry", entry_user_data(servers, https=plan.config.web.https),
                       publish=[(0, 80), (0, 443)], extra_args=nets(None, plan.entry_ip))
        hosts["entry"] = entry
        add_hosts = [a for n in names for a in ("--add-host", f"{n}:{plan.s3_ip}")]
        for h in plan.hosts:
            extra = nets(h.site, h.public_ip)
            if h.role != HOST_WEB:
                extra += [*add_hosts, "-v", f"{tls / 'ca-bundle.crt'}:/etc/ssl/certs/ca-certificates.crt:ro"]
            hosts[h.name] = s.boot(h.name, h.user_data, hostname=h.name, extra_args=extra)
            self.names[h.name] = hosts[h.name].name
        deadline = time.monotonic() + o.boot_timeout_s
        for name, host in hosts.items():
            host.wait_boot_finished(timeout=max(5.0, deadline - time.monotonic()))
        self.boot_s = time.monotonic() - t0
        self.event("boot", f"cloud-init done on all {len(hosts)} containers in {self.boot_s:.0f} s")
        return entry.name, entry

    # -- steady state ------------------------------------------------------------------------------
    def ready(self, entry: podman.Host) -> str:
        plan, o = self.plan, self.o
        primary = self.names[plan.db_host(plan.primary).name]
        replicas = [h for h in plan.hosts if h.role == HOST_DB_REPLICA]
        deadline = time.monotonic() + o.ready_timeout_s
        while True:
            proc = _psql_local(primary, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'")
            streaming = int(proc.stdout.strip() or 0) if proc.returncode == 0 else 0
            if streaming >= len(replicas):
                break
            if time.monotonic() > deadline:
                raise DrillError(f"only {streaming} of {len(replicas)} replicas stream from the primary after "
                                 f"{o.ready_timeout_s:.0f} s ({proc.stderr.strip()[-200:]})")
            time.sleep(1)
        self.event("ready", f"{_n(streaming, 'replica')} streaming from {plan.db_host(plan.primary).name}")
        d = plan.config.database
        create = (f"CREATE TABLE IF NOT EXISTS {TABLE} "
                  "(n integer PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())")
        proc = entry.exec("psql", "-XAtq", "-v", "ON_ERROR_STOP=1",
                          f"host={plan.database_addresses[plan.primary]} dbname={d.app_database} user={d.app_user} "
                          "sslmode=require connect_timeout=5", "-c", create,
                          env={"PGPASSWORD": plan.app_password}, check=False, timeout=60)
        if proc.returncode != 0:
            raise DrillError(f"the application cannot reach the primary's public address: {proc.stderr.strip()}")
        entry.sh(f"printf '%s\\n' {plan.database_addresses[plan.primary]} > {RUN_DIR}/target")
        scheme, port = ("https", entry.port(443)[1]) if plan.config.web.https else ("http", entry.port(80)[1])
        url = f"{scheme}://127.0.0.1:{port}/"
        probe = HttpLoad(url, interval=0, max_requests=1, max_seconds=5)
        while True:
            probe.attempts.clear()
            probe.run()
            if probe.attempts and probe.attempts[-1].ok:
                break
            if time.monotonic() > deadline:
                raise DrillError(f"the entry point {url} did not answer 200 ({probe.attempts[-1].detail})")
            time.sleep(0.5)
        self.event("ready", f"entry point {url} answers 200 (served by {probe.attempts[-1].detail})")
        return url

    # -- the fire and the runbook ------------------------------------------------------------------
    def fire(self) -> list[str]:
        victims = [h.name for h in self.plan.hosts_on(self.site)]
        if self.plan.backup_site == self.site:
            victims.append(f"{self.plan.backup_placement}-s3")
        containers = [self.names[v] for v in victims]
        called = time.time()
        proc = subprocess.run(["podman", "kill", "--signal", "KILL", *containers], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode != 0:
            raise DrillError(f"podman kill failed: {proc.stderr.strip()}")
        # The fire is over when podman kill returns: every victim is dead. Measuring from there keeps a row
        # acknowledged while the signal was on its way among the rows acknowledged before the fire.
        self.fire_at = time.time()
        self.event("fire", f"{self.plan.sites[self.site].name} burns: SIGKILL to {', '.join(victims)} "
                           f"(podman kill took {self.fire_at - called:.2f} s)", self.fire_at)
        return victims

    def failover(self, entry: podman.Host, victims: list[str]) -> tuple[dict[str, Any] | None, str | None]:
        """The runbook of resilient-stack-promote. Returns (failover facts or None, placement now holding
        the data: the primary, the promoted replica, or None when no database member survives)."""
        plan = self.plan
        old = plan.db_host(plan.primary)
        old_ip = plan.database_addresses[plan.primary]
        # The monitor: the primary is lost after 2 consecutive failed probes from the internet (1.2 s each).
        failures = 0
        for _ in range(2):
            proc = entry.exec("timeout", "1.2", "pg_isready", "-q", "-h", old_ip, "-p", str(POSTGRES_PORT), "-t", "1",
                              check=False, timeout=15)
            if proc.returncode == 0:
                break
            failures += 1
            time.sleep(0.3)
        if failures < 2:
            self.event("monitor", f"primary {old.name} ({old_ip}) answers: no failover")
            return None, plan.primary
        self.event("monitor", f"primary {old.name} ({old_ip}) unreachable (2 failed pg_isready probes)")
        facts: dict[str, Any] = {"old_primary": plan.primary, "order": list(plan.failover_order)}
        survivors = [p for p in plan.failover_order if plan.db_host(p).name not in victims]
        if old.name not in victims:  # never two primaries: the drill does not fence a live host itself
            self.notes.append(f"{old.name} unreachable but not burned: not promoting anything (fence it first)")
            facts["promoted"] = None
            return facts, plan.primary
        self.event("failover", f"1. fenced: {old.name} burned with its site")
        received: dict[str, str | None] = {}
        for p in survivors:
            proc = _psql_local(self.names[plan.db_host(p).name], "SELECT pg_last_wal_receive_lsn()")
            received[p] = proc.stdout.strip() or None if proc.returncode == 0 else None
        facts["received_lsn"] = dict(received)
        chosen = choose_promotion(plan.failover_order, received)
        if chosen is None:
            self.event("failover", "2. no database member survives: nothing to promote")
            facts["promoted"] = None
            return facts, None
        self.event("failover", "2. most WAL received: " + ", ".join(f"{p}={received[p]}" for p in survivors)
                   + f" -> promote {chosen}")
        t0 = time.monotonic()
        host = self.names[plan.db_host(chosen).name]
        proc = podman.exec_in(host, [cloudinit.PROMOTE_HELPER], check=False, timeout=120)
        facts["promote_s"] = round(time.monotonic() - t0, 2)
        if proc.returncode != 0:
            self.event("failover", f"3. promotion of {chosen} FAILED: {(proc.stderr or proc.stdout).strip()[-200:]}")
            facts["promoted"] = None
            return facts, chosen
        facts["promoted"] = chosen
        self.event("failover", f"3. {cloudinit.PROMOTE_HELPER} on {plan.db_host(chosen).name}: "
                               f"{proc.stdout.strip().splitlines()[-1]} ({facts['promote_s']} s)")
        new_ip = plan.database_addresses[chosen]
        entry.sh(f"printf '%s\\n' {new_ip} > {RUN_DIR}/target.new && mv {RUN_DIR}/target.new {RUN_DIR}/target")
        facts["writer_target"] = new_ip
        self.event("failover", f"4. writer pointed at {plan.db_host(chosen).name} ({new_ip})")
        stale = [p for p in survivors if p != chosen]
        if stale:
            facts["stale_replicas"] = stale
            self.notes.append(f"replica(s) {', '.join(stale)} still follow the burned primary: rebuild them as "
                              f"replicas of {chosen} (runbook step 4, not drilled)")
        return facts, chosen

    # -- observation -------------------------------------------------------------------------------
    def observe(self, http: HttpLoad, writer: Writer, web_alive: bool, data_alive: bool) -> None:
        o = self.o
        limit = o.max_after_s if (web_alive and data_alive) else min(o.max_after_s, max(o.min_after_s, o.dead_after_s))
        end = self.fire_at + limit

        def settled(attempts: list[Attempt]) -> bool:
            recent = [a for a in attempts if a.end >= self.fire_at][-3:]
            return len(recent) == 3 and all(a.ok for a in recent)

        while time.time() < end:
            if time.time() >= self.fire_at + o.min_after_s and settled(http.attempts) and settled(writer.attempts):
                break
            time.sleep(0.25)

    def recovered_events(self, http: HttpLoad, writer: Writer, rto_web: float | None, rto_writes: float | None) -> None:
        for what, rto, attempts in (("web", rto_web, http.attempts), ("writes", rto_writes, writer.attempts)):
            failed = sum(1 for a in attempts if a.end >= self.fire_at and not a.ok)
            if rto is None:
                self.event("recovery", f"{what}: never came back ({failed} failed after the fire)",
                           max((a.end for a in attempts), default=self.fire_at))
            elif rto == 0:
                self.event("recovery", f"{what}: no failure after the fire", self.fire_at)
            else:
                self.event("recovery", f"{what}: back after {rto:.1f} s ({failed} failed)", self.fire_at + rto)


def _haproxy_down_events(entry: podman.Host, since: float) -> list[tuple[float, str]]:
    """Health-check state changes HAProxy logged (journal), as (epoch, text)."""
    proc = entry.exec("journalctl", "-u", "haproxy", "-o", "short-unix", "--no-pager", "-q",
                      "--since", f"@{int(since) - 1}", check=False, timeout=30)
    out = []
    for line in proc.stdout.splitlines():
        m = re.match(r"^(\d+\.\d+)\s+\S+\s+\S+:\s+(Server \S+ is DOWN)", line)
        if m and m.group(2) not in {t for _, t in out}:
            out.append((float(m.group(1)), m.group(2)))
    return out


def run_scenario(
    stack_file: str | Path,
    site: str,
    *,
    options: Options = Options(),
    progress: Callable[[str], None] = lambda _: None,
    plan: Plan | None = None,
) -> ScenarioResult:
    """Boot the stack, burn ``site`` (a site id), measure. Always removes what it created."""
    start = time.monotonic()
    plan = plan or build_plan(stack_file)
    sc = _Scenario(plan, site, options, progress)
    site_info = plan.sites[site]
    workdir = Path(tempfile.mkdtemp(prefix="rs-firedrill-"))
    http: HttpLoad | None = None
    writer: Writer | None = None
    try:
        with podman.Session(image=options.image) as s:
            entry_name, entry = sc.boot(s, workdir)
            url = sc.ready(entry)
            span = options.before_s + options.max_after_s + 60
            http = HttpLoad(url, interval=options.http_interval_s, max_requests=options.max_requests, max_seconds=span)
            d = plan.config.database
            writer = Writer(entry_name, db=d.app_database, user=d.app_user, password=plan.app_password,
                            max_rows=options.max_writes, max_seconds=int(span))
            http.start()
            sc.event("load", f"HTTP GETs to {url} every {options.http_interval_s:.1f} s; numbered INSERTs to "
                             f"{plan.db_host(plan.primary).name} ({plan.database_addresses[plan.primary]})")
            time.sleep(options.before_s)
            lag = _psql_local(sc.names[plan.db_host(plan.primary).name],
                              "SELECT string_agg(application_name || ' ' || coalesce(replay_lag::text, '0'), ', ') "
                              "FROM pg_stat_replication")
            sc.event("load", f"{len(writer.acks)} rows acknowledged, {sum(a.ok for a in http.attempts)} GETs ok; "
                             f"replay lag: {lag.stdout.strip() or 'n/a'}")
            victims = sc.fire()
            web_alive = any(h.role == HOST_WEB and h.site != site for h in plan.hosts)
            failover, holder = sc.failover(entry, victims)
            sc.observe(http, writer, web_alive, holder is not None)
            http.stop.set()
            writer.stop()
            http.join(timeout=5)
            sc.event("load", f"stopped: {len(http.attempts)} GETs, {len(writer.attempts)} writes attempted")
            for at, text in _haproxy_down_events(entry, sc.fire_at):
                sc.event("entry", f"health check: {text}", at)
            present: list[int] | None = None
            if holder is not None:
                proc = _psql_local(sc.names[plan.db_host(holder).name], f"SELECT n FROM {TABLE} ORDER BY n",
                                   db=d.app_database, timeout=60)
                if proc.returncode == 0:
                    present = [int(x) for x in proc.stdout.split()]
                else:
                    sc.notes.append(f"could not read the rows on {holder}: {proc.stderr.strip()[-200:]}")
            rpo = compute_rpo(writer.acks, present, sc.fire_at)
            rto_web = recovery_seconds(http.attempts, sc.fire_at)
            rto_writes = recovery_seconds(writer.attempts, sc.fire_at)
            sc.recovered_events(http, writer, rto_web, rto_writes)
            where = f"on {plan.db_host(holder).name}" if holder else "(no database copy survives)"
            sc.event("rpo", f"{rpo.rows} of {rpo.acknowledged} acknowledged rows missing {where}"
                            + (f" (rows {', '.join(map(str, rpo.lost[:10]))}{'...' if rpo.rows > 10 else ''})"
                               if rpo.lost else ""))
            if plan.backup_site == site:
                sc.notes.append(f"the backup store {plan.backup_placement} burned: WAL archiving and backups fail "
                                "until it is replaced" + ("; the backups burned with the data" if holder is None else ""))
            if holder is None:
                sc.notes.append("no database member survives: every acknowledged row is lost"
                                + ("" if plan.backup_site == site else
                                   f"; a restore from the backups in {plan.backup_placement} was not drilled"))
            if plan.rejected:
                sc.notes.append("design rejected by the placement rules (" + ", ".join(plan.rejected_rules)
                                + "); built with enforce_rules=False for this drill only")
            after = [a for a in http.attempts if a.end >= sc.fire_at]
            wafter = [a for a in writer.attempts if a.end >= sc.fire_at]
            if writer.errors:
                sc.notes.append("write errors: " + "; ".join(
                    f"{count}x {kind}" for kind, count in sorted(writer.errors.items(), key=lambda kv: -kv[1])[:3]))
            served = sorted({a.detail for a in after if a.ok and a.start >= sc.fire_at})
            if served:
                sc.notes.append("after the fire the entry point was served by: " + ", ".join(served))
            result = ScenarioResult(
                site=site_info.name, site_id=site, placements=site_info.placements, killed=tuple(victims),
                prediction=plan.predictions[site], fire_at=sc.fire_at, rto_web=rto_web, rto_writes=rto_writes,
                rpo=rpo, failover=failover,
                web={"total": len(http.attempts), "ok": sum(a.ok for a in http.attempts),
                     "after_fire": len(after), "failed_after_fire": sum(not a.ok for a in after)},
                writes={"total": len(writer.attempts), "acknowledged": len(writer.acks),
                        "after_fire": len(wafter), "failed_after_fire": sum(not a.ok for a in wafter)},
                notes=sc.notes, boot_s=sc.boot_s,
            )
            cleanup_from = time.time()
        sc.event("cleanup", f"containers and networks of session rs-{s.id}-* removed "
                            f"({time.time() - cleanup_from:.1f} s)")
    finally:
        if http is not None:
            http.stop.set()
        if writer is not None:
            writer.kill()
        shutil.rmtree(workdir, ignore_errors=True)
    result.timeline = sorted(sc.events, key=lambda e: e.at)
    result.runtime_s = time.monotonic() - start
    return result


def run(
    stack: str,
    *,
    site: str | None = None,
    all_sites: bool = False,
    options: Options = Options(),
    progress: Callable[[str], None] = lambda _: None,
) -> FiredrillReport:
    """The ``firedrill`` command: one scenario per selected site, each on a fresh boot of the stack.

    Raises:
        InputError: unusable stack file or --site; podman, the host image or moto missing (one line).
        DrillError / podman.PodmanError: the drill could not be carried out.
    """
    start = time.monotonic()
    path = stack_file_for(stack)
    plan = build_plan(path)
    if plan.rejected:
        progress(f"[design] REJECTED by the placement rules ({', '.join(plan.rejected_rules)}): the components "
                 "refuse this stack; building it anyway for the drill (enforce_rules=False)")
    sites = select_sites(plan, site, all_sites)
    if not podman.podman_available():
        raise InputError(str(path), "podman is not available (run scripts/build-host-image.sh as root)")
    try:
        podman.ensure_image(options.image)
        moto_site()
    except podman.PodmanUnavailable as exc:
        raise InputError(str(path), str(exc)) from None
    results = []
    for i, sid in enumerate(sites):
        progress(f"[scenario] {i + 1}/{len(sites)}: burn {plan.sites[sid].name} ({', '.join(plan.sites[sid].placements)})")
        scenario_plan = plan if i == 0 else build_plan(path)
        results.append(run_scenario(path, sid, options=options, progress=progress, plan=scenario_plan))
    try:
        shown = str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        shown = str(path)
    return FiredrillReport(stack=plan.stack, source=shown, scenarios=results,
                           rejected_rules=plan.rejected_rules, runtime_s=time.monotonic() - start)
