"""The drill's plan: the stack built under Pulumi mocks, as hosts, sites, addresses and the paper drill.

:func:`build_plan` runs the stack's own program (:mod:`resilient_stack.testing.mockrun`) on the stack file AS IT
IS (no configuration override: :attr:`Plan.config_overrides` is empty, and the report says so) and takes
every instance's role, placement and EXACT user data. The mock cloud answers each host's public address (the
port the components make on the external network before the instances) with the static IP the drill gives
that container on its "internet" network (``RecordingMocks(public_address=...)``), so the addresses reach the
hosts' user data (etcd's cluster, ``pg_hba``, the web application's connection string) the way the components
pass them in the cloud. A design the rules reject (the sbg2021 replay) is built with ``enforce_rules=False``
and reported as rejected.

No container is started here; the only podman call asks which subnets are taken (for the internet network).
"""

from __future__ import annotations

import ipaddress
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from resilient_stack.components.monitoring_config import WEBHOOK
from resilient_stack.components.stack_config import (
    NAMESPACE,
    StackConfig,
    load_stack_file,
    read_stack_file,
    validate_stack,
)
from resilient_stack.core.rules import DesignRejected
from resilient_stack.core.survival import drill as paper_drill
from resilient_stack.core.vocabulary import (
    DESIGN_NAME_RE,
    HOST_DB_PRIMARY,
    HOST_DB_REPLICA,
    HOST_MONITORING,
    HOST_ROLE_FILE,
    HOST_ROLES,
    HOST_WEB,
    HTTPS_PORT,
    ROLE_KEY,
    WEB,
)
from resilient_stack.drills import alerts
from resilient_stack.drills.report import Prediction
from resilient_stack.hosts.document import unpack_user_data
from resilient_stack.io.errors import InputError, ResilientStackError
from resilient_stack.testing import podman

__all__ = [
    "DrillError",
    "Plan",
    "HostPlan",
    "Site",
    "Addresses",
    "INTERNET_POOL",
    "INSTANCE_TYPE",
    "stack_file_for",
    "failover_order",
    "pick_internet_subnet",
    "build_plan",
    "select_sites",
]

INTERNET_POOL = ipaddress.IPv4Network("198.18.0.0/15")  # RFC 2544 benchmarking range: never routed
VISITOR_OFFSET, S3_OFFSET, REGISTRY_OFFSET, FIRST_HOST_OFFSET = 2, 3, 4, 10
RECORD_DOMAIN = "test"  # RFC 2606: the visitor's name for a stack with no DNS name of its own
INSTANCE_TYPE = "openstack:compute/instance:Instance"
STACKS_DIR = "stacks"  # a stack NAME is ./stacks/Pulumi.NAME.yaml in the current directory


class DrillError(ResilientStackError, RuntimeError):
    """The drill could not be carried out (a host did not boot, replication never started...)."""


@dataclass(frozen=True)
class HostPlan:
    """One instance of the stack, as the components made it."""

    name: str  # the instance (and host) name, e.g. shop-gra-web-1
    role: str  # web | db-primary | db-replica
    placement: str
    site: str  # site id from the catalog
    public_ip: str  # the mock cloud's access_ip_v4 == the container's IP on the internet network
    user_data: str  # the exact rendered #cloud-config
    metadata: dict[str, str] = field(default_factory=dict)  # the instance's metadata items (runtime, sealed secrets)


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
    visitor_ip: str
    s3_ip: str
    s3_host: str
    s3_port: int
    s3_uri_style: str
    bucket: str
    primary: str  # placement of the member that initialises the cluster (databaseRole: primary)
    failover_order: list[str]
    database_addresses: dict[str, str]
    database_url: str  # the connection string the stack outputs (no password)
    record_name: str  # the name the visitor resolves to the record set
    entry_points: list[str]  # the A record set (stack output dnsRecordSet.records)
    predictions: dict[str, Prediction]  # site id -> paper drill
    rejected: DesignRejected | None = None
    config_overrides: dict[str, object] = field(default_factory=dict)  # what the drill changed: nothing
    write_token: str = ""  # the stack output appWriteToken: the load's writes carry it
    app_image: str | None = None  # web.app.image: what the registry stand-in serves (the example application)
    registry_ip: str = ""  # the registry stand-in's address on the internet
    alert_receiver: str | None = None  # with monitoring: the drill's receiver, given as the secret alertWebhook
    zone: str | None = None  # monitoring.zone: the zone the stack's name servers serve
    delegation: list[str] = field(default_factory=list)  # the stack output delegation: NS and glue records

    @property
    def dns_url(self) -> str | None:
        """The entry point through the stack's own DNS (``www.<zone>``), or None."""
        if self.zone is None:
            return None
        return f"{'https' if self.config.web.https else 'http'}://www.{self.zone.rstrip('.')}"

    @property
    def registry_host(self) -> str:
        return self.app_image.split("/", 1)[0].split(":", 1)[0] if self.app_image else ""

    @property
    def rejected_rules(self) -> tuple[str, ...]:
        return tuple(self.rejected.rule_ids) if self.rejected else ()

    def hosts_on(self, site: str) -> list[HostPlan]:
        return [h for h in self.hosts if h.site == site]

    def db_host(self, placement: str) -> HostPlan:
        return next(h for h in self.hosts if h.placement == placement and h.role.startswith("db-"))

    @property
    def db_placements(self) -> list[str]:
        """The database members' placements: the initial primary, then the replicas in config order."""
        return [self.primary, *self.failover_order]

    @property
    def url(self) -> str:
        """The stack's entry point as a visitor types it."""
        return f"{'https' if self.config.web.https else 'http'}://{self.record_name}"


def stack_file_for(stack: str) -> Path:
    """``production`` -> ``./stacks/Pulumi.production.yaml`` in the current directory; a path stays a path.

    Nothing is looked up in the package or a git checkout: the stack files are the user's.

    Raises:
        InputError: no such file (the message says where a stack name is looked up).
    """
    p = Path(stack)
    if p.suffix in (".yaml", ".yml") or "/" in stack or p.is_file():
        if not p.is_file():
            raise InputError(stack, "no such stack file")
        return p
    if not DESIGN_NAME_RE.match(stack):
        raise InputError(stack, "not a stack name (e.g. production) nor a Pulumi.<stack>.yaml file")
    f = Path(STACKS_DIR) / f"Pulumi.{stack}.yaml"
    if f.is_file():
        return f
    raise InputError(
        stack,
        f"no stack file ./{f.as_posix()} in the current directory (a stack name is looked up "
        "there; or give the path of a Pulumi.<stack>.yaml file)",
    )


def failover_order(config: StackConfig) -> list[str]:
    """The ``databaseRole: replica`` placements, in config order: the order clients try them in after the
    primary (the connection string). Patroni promotes the most advanced survivor, whatever this order."""
    return [p.name for p in config.placements if p.database_role == "replica"]


class Addresses:
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


def pick_internet_subnet(
    rng: random.Random | None = None,
    used: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None,
) -> ipaddress.IPv4Network:
    """A free /24 of 198.18.0.0/15 (the benchmarking range, never routed) for the drill's internet.

    ``used``: the subnets already taken (default: every podman network's, asked through the harness).
    """
    rng = rng or random.Random()
    taken = podman.used_subnets() if used is None else used
    candidates = list(INTERNET_POOL.subnets(new_prefix=24))
    rng.shuffle(candidates)
    for net in candidates:
        if not any(net.overlaps(u) for u in taken if u.version == 4):
            return net  # type: ignore[return-value]
    raise DrillError("no free /24 left in 198.18.0.0/15 for the drill's internet network")


def _role_of(user_data: str) -> str | None:
    doc = yaml.safe_load(user_data.split("\n", 1)[1] if user_data.startswith("#cloud-config") else user_data)
    for f in (doc or {}).get("write_files") or []:
        if f.get("path") == HOST_ROLE_FILE:
            return str(f.get("content", "")).strip()
    return None


def build_plan(
    stack_file: str | Path,
    internet: ipaddress.IPv4Network | None = None,
    *,
    config_overrides: Mapping[str, object] | None = None,
    shown_overrides: Mapping[str, object] | None = None,
) -> Plan:
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
    visitor_ip = str(internet.network_address + VISITOR_OFFSET)
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

    # Two runs: the first names every instance, the second gives them their addresses in name order (each
    # host's public port bears its host's name). The stack file as it is: no override.
    # ``config_overrides``: only the restore drill's, which says so (``shown_overrides``, in the report).
    # A stack with monitoring posts its alerts to the secret alertWebhook, which no stack file holds in clear: the
    # drill gives it its own receiver (drills.alerts), as a user gives theirs; the stack file stays as it is.
    overrides = dict(config_overrides or {})
    receiver = alerts.receiver_url(visitor_ip) if config.monitoring is not None else None
    given = {**overrides, f"{NAMESPACE}:{WEBHOOK}": receiver} if receiver else overrides
    first = run_program(
        path,
        mocks=RecordingMocks(public_address=Addresses(internet)),
        enforce_rules=rejected is None,
        config_overrides=given,
    )
    names = [str(r.inputs.get("name") or r.name) for r in first if r.type == INSTANCE_TYPE]
    mocks = RecordingMocks(public_address=Addresses(internet, names))
    resources = run_program(path, mocks=mocks, enforce_rules=rejected is None, config_overrides=given)
    outputs = mocks.stack_outputs

    prefix = f"{config.name}-"
    hosts: list[HostPlan] = []
    for r in resources:
        if r.type != INSTANCE_TYPE:
            continue
        provider_name = (r.provider_urn or "").rsplit("::", 1)[-1]
        placement = provider_name.removeprefix(prefix)
        if placement not in site_of:
            raise DrillError(f"instance {r.name}: cannot tell its placement from provider {provider_name!r}")
        user_data = unpack_user_data(str(r.inputs.get("userData", "")))  # as cloud-init reads it
        label = (r.inputs.get("metadata") or {}).get(ROLE_KEY)
        role = HOST_WEB if label == WEB else _role_of(user_data)
        if role not in HOST_ROLES:
            raise DrillError(f"instance {r.name}: unknown role {label!r}/{role!r}")
        ip = str(r.outputs.get("accessIpV4", ""))
        if ipaddress.ip_address(ip) not in internet:
            raise DrillError(f"instance {r.name}: public address {ip} is not on the drill's internet {internet}")
        meta = {str(k): str(v) for k, v in (r.inputs.get("metadata") or {}).items()}
        hosts.append(
            HostPlan(str(r.inputs.get("name") or r.name), role, placement, site_of[placement][0], ip, user_data, meta)
        )
    hosts.sort(
        key=lambda h: ({HOST_DB_PRIMARY: 0, HOST_DB_REPLICA: 1, HOST_WEB: 2, HOST_MONITORING: 3}[h.role], h.name)
    )
    primary = next(h.placement for h in hosts if h.role == HOST_DB_PRIMARY)
    records = dict(outputs.get("dnsRecordSet") or {})
    record_name = str(records.get("name") or f"www.{config.name}.{RECORD_DOMAIN}.").rstrip(".")

    b = config.backups
    host, _, port = b.s3_endpoint.partition(":")
    return Plan(
        stack=stack,
        source=source,
        config=config,
        hosts=hosts,
        sites=sites,
        backup_placement=b.name,
        backup_site=site_of[b.name][0],
        internet=internet,
        visitor_ip=visitor_ip,
        s3_ip=s3_ip,
        s3_host=host,
        s3_port=int(port or HTTPS_PORT),
        s3_uri_style=b.uri_style,
        bucket=str(outputs.get("backupContainer") or config.backup_container),
        primary=primary,
        failover_order=failover_order(config),
        database_addresses=dict(outputs.get("databaseAddresses") or {}),
        database_url=str(outputs.get("databaseUrl") or ""),
        record_name=record_name,
        entry_points=list(records.get("records") or []),
        predictions=predictions,
        rejected=rejected,
        config_overrides=dict(shown_overrides if shown_overrides is not None else overrides),
        write_token=str(outputs.get("appWriteToken") or ""),
        app_image=config.web.app.image if config.web.app is not None else None,
        registry_ip=str(internet.network_address + REGISTRY_OFFSET),
        alert_receiver=receiver,
        zone=config.monitoring.zone.name if config.monitoring and config.monitoring.zone else None,
        delegation=[str(d) for d in outputs.get("delegation") or []],
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
