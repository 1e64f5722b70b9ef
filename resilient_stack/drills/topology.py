"""The drill's topology in podman: one network per site, one "internet", every host booted from its user data.

- One podman network per SITE (placements on one campus share it) and one shared network standing in for
  the internet; every stack host is on its site's network and on the internet, at the public address the
  plan gave it (:mod:`resilient_stack.drills.plan`).
- Drill-only hosts (not product roles; their payloads are package data in ``data/``): a visitor on the
  internet network, whose name resolution holds the stack's A record set (its ``/etc/hosts``, in the record
  set's order) and which runs the load (:mod:`resilient_stack.drills.load`); and an S3 stand-in (moto behind
  nginx TLS) in the backup placement's site, answering for the stack's S3 endpoint name, with a certificate the
  database hosts trust as they would trust the real one. Nothing stands between the visitor and the web hosts.

Every container and network belongs to the caller's :class:`resilient_stack.testing.sessions.Session`.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from string import Template
from typing import Callable, Sequence

import yaml

from resilient_stack.core.vocabulary import HOST_DB_PRIMARY, HOST_DB_REPLICA
from resilient_stack.drills import alerts, resolver
from resilient_stack.drills.load import RUN_DIR, VISITOR, visitor_script
from resilient_stack.drills.plan import HostPlan, Plan, pick_internet_subnet
from resilient_stack.drills.report import plural
from resilient_stack.testing import podman, registry, sessions, standins
from resilient_stack.testing.standins import make_tls  # noqa: F401 - the drill's certificates

__all__ = [
    "Topology",
    "boot",
    "visitor_user_data",
    "s3_user_data",
    "s3_bucket_script",
    "moto_site",
    "make_tls",
]

MOTO_PORT = 5000  # moto listens on 127.0.0.1 only; nginx terminates TLS in front of it
SITE_PACKAGES_MOUNT = "/opt/site"  # this Python's site-packages (moto), read-only in the S3 stand-in
TLS_MOUNT = "/etc/firedrill/tls"


def _data(name: str) -> str:
    return resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")


def _template(name: str) -> Template:
    return Template(_data(name))


def _cloud_config(doc: dict) -> str:
    return "#cloud-config\n" + yaml.safe_dump(doc, sort_keys=False, width=4096)


def visitor_user_data(zone: str | None = None, delegation: Sequence[str] = ()) -> str:
    """Drill-only user data of the visitor (not a product role): the load script, the alerts' receiver (the
    stack's ``alertWebhook`` during the drill: :mod:`resilient_stack.drills.alerts`) and, for a stack that serves
    ``zone``, the registrar and the resolver that follow its ``delegation`` (:mod:`.resolver`)."""
    dns_files, dns_runcmd = resolver.visitor_config(zone, delegation) if zone else ([], [])
    receiver = "/usr/local/bin/firedrill-alert-receiver"
    unit = (
        "[Unit]\nDescription=the fire drill's alert receiver\n[Service]\n"
        f"ExecStart=/usr/bin/python3 {receiver} {alerts.PORT} {alerts.LOG}\nRestart=always\n"
    )
    return _cloud_config(
        {
            "package_update": False,
            "write_files": [
                {"path": VISITOR, "content": visitor_script(), "permissions": "0755"},
                {"path": receiver, "content": _data("alert-receiver.py"), "permissions": "0755"},
                {"path": f"/etc/systemd/system/{alerts.SERVICE}.service", "content": unit},
                *dns_files,
            ],
            "runcmd": [
                "set -eu",
                ["install", "-d", "-m", "0755", RUN_DIR],
                ["systemctl", "disable", "--now", "nginx"],  # the image's nginx: the visitor serves nothing
                ["systemctl", "daemon-reload"],
                ["systemctl", "start", f"{alerts.SERVICE}.service"],
                *dns_runcmd,
            ],
        }
    )


def s3_user_data(*, port: int, bucket: str, path_style: bool) -> str:
    """Drill-only user data of the S3 stand-in: moto on 127.0.0.1:5000 behind nginx TLS on ``port``
    (``data/s3-moto.service``, ``data/s3-nginx.conf``); the bucket is created at boot."""
    environment = [f"Environment=PYTHONPATH={SITE_PACKAGES_MOUNT}"]
    if path_style:
        environment.append("Environment=S3_IGNORE_SUBDOMAIN_BUCKETNAME=true")
    return _cloud_config(
        {
            "package_update": False,
            "write_files": [
                {
                    "path": "/etc/systemd/system/firedrill-s3.service",
                    "content": _template("s3-moto.service").substitute(
                        environment="\n".join(environment), moto_port=MOTO_PORT
                    ),
                },
                {
                    "path": "/etc/nginx/sites-available/s3",
                    "content": _template("s3-nginx.conf").substitute(port=port, tls_dir=TLS_MOUNT, moto_port=MOTO_PORT),
                },
            ],
            "runcmd": [
                "set -eu",
                ["rm", "-f", "/etc/nginx/sites-enabled/default"],
                ["ln", "-sfn", "/etc/nginx/sites-available/s3", "/etc/nginx/sites-enabled/s3"],
                ["systemctl", "daemon-reload"],
                ["systemctl", "enable", "--now", "firedrill-s3.service"],
                ["systemctl", "restart", "nginx"],
                s3_bucket_script(port, bucket),
            ],
        }
    )


def s3_bucket_script(port: int, bucket: str) -> str:
    """Wait (bounded) for moto, then make the bucket: at the stand-in's boot, and when it comes back (empty)."""
    return (
        f"for i in $(seq 1 60); do curl -fsS -o /dev/null http://127.0.0.1:{MOTO_PORT}/ && break; sleep 1; done; "
        f"curl -kfsS -o /dev/null -X PUT https://127.0.0.1:{port}/{bucket}"
    )


def moto_site() -> Path:
    """The site-packages directory holding moto[server], mounted read-only into the S3 stand-in.

    Raises:
        podman.PodmanUnavailable: not Debian's Python 3.11 ABI, or moto[server] is not installed.
    """
    if sys.version_info[:2] != (3, 11):
        raise podman.PodmanUnavailable(
            f"the S3 stand-in mounts this Python's packages into Debian's python3.11, not {sys.version_info[:2]}"
        )
    spec = importlib.util.find_spec("moto")
    if spec is None or not spec.origin or importlib.util.find_spec("flask") is None:
        raise podman.PodmanUnavailable(
            "the S3 stand-in of the backup store needs moto[server] (pip install 'resilient-stack[drill]')"
        )
    return Path(spec.origin).resolve().parent.parent


def mac_of(ip: str) -> str:
    """A locally administered MAC address derived from an IPv4 address (``02:42:`` + its four bytes)."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))


def slug(text: str) -> str:
    """A site id as a podman network name part."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "site"


@dataclass
class Topology:
    """The booted stack."""

    visitor: podman.Host  # the drill's client on the internet (its /etc/hosts: the record set)
    names: dict[str, str]  # host name (and "<backup placement>-s3") -> container name
    boot_s: float  # seconds from the first network to cloud-init done on every container
    # boots one stack host (its plan, the container's short name) on its networks, as at the first boot: the
    # restore drill's fresh hosts, which take the burned hosts' addresses as a replaced instance keeps its port
    start: Callable[..., podman.Host] | None = None
    internet: str = ""  # the internet network's name (a partition unplugs a site's hosts from it)
    metadata_root: Path | None = None  # what the metadata stand-in serves (rewrite a host's files: a `pulumi up`)
    metadata_ips: dict[str, str] | None = None  # host name -> its address on the metadata network


def boot(
    s: sessions.Session,
    plan: Plan,
    workdir: Path,
    *,
    image: str,
    timeout: float,
    event: Callable[[str, str], None],
) -> Topology:
    """Create the networks, boot the S3 stand-in, the visitor and every stack host, and wait until
    cloud-init is done on all of them (within ``timeout`` seconds in all).

    Raises:
        podman.BootError: a host did not finish booting (the message holds its cloud-init log tail).
        DrillError: the S3 stand-in's certificate could not be made.
    """
    t0 = time.monotonic()
    event(
        "boot",
        f"{len(plan.hosts)} stack hosts + visitor + S3 stand-in"
        f"{' + registry' if plan.app_image else ''} + metadata service, podman session rs-{s.id}-*: "
        f"{plural(len(plan.sites), 'site network')} and the internet {plan.internet}",
    )
    inet = s.create_network("internet", subnet=str(plan.internet))
    site_nets = {sid: s.create_network(f"site-{slug(sid)}") for sid in plan.sites}
    names = [plan.s3_host] + ([f"{plan.bucket}.{plan.s3_host}"] if plan.s3_uri_style == "host" else [])
    tls = make_tls(workdir, names + ([plan.registry_host] if plan.app_image else []), image)
    site_packages = moto_site()
    # the cloud's metadata service on a network of its own (it tells the hosts apart by their addresses there)
    md_range = pick_internet_subnet(used=[*podman.used_subnets(), plan.internet])
    md_net = s.create_network("metadata", subnet=str(md_range), internal=True)
    md_ips = {h.name: str(md_range.network_address + 10 + i) for i, h in enumerate(plan.hosts)}
    md_service = str(md_range.network_address + 5)
    metadata_root = workdir / "metadata"
    for h in plan.hosts:
        standins.metadata_files(metadata_root, md_ips[h.name], user_data=h.user_data, metadata=h.metadata, name=h.name)
    standins.boot_metadata_service(s, metadata_root, ["--network", f"{md_net.name}:ip={md_service}"])

    def nets(site: str | None, ip: str) -> list[str]:
        # a fixed MAC on the internet, as a cloud port keeps its own: a host that comes back is reached at once
        return (["--network", site_nets[site].name] if site else []) + [
            "--network",
            f"{inet.name}:ip={ip},mac={mac_of(ip)}",
        ]

    hosts: dict[str, podman.Host] = {}
    containers: dict[str, str] = {}
    s3_name = f"{plan.backup_placement}-s3"
    hosts[s3_name] = s.boot(
        s3_name,
        s3_user_data(port=plan.s3_port, bucket=plan.bucket, path_style=plan.s3_uri_style == "path"),
        extra_args=[
            *nets(plan.backup_site, plan.s3_ip),
            "-v",
            f"{site_packages}:{SITE_PACKAGES_MOUNT}:ro",
            "-v",
            f"{tls}:{TLS_MOUNT}:ro",
        ],
    )
    containers[s3_name] = hosts[s3_name].name
    records = [a for ip in plan.entry_points for a in ("--add-host", f"{plan.record_name}:{ip}")]
    visitor = s.boot(
        "visitor", visitor_user_data(plan.zone, plan.delegation), extra_args=[*nets(None, plan.visitor_ip), *records]
    )
    hosts["visitor"] = visitor
    add_hosts = [a for n in names for a in ("--add-host", f"{n}:{plan.s3_ip}")]
    trust = ["-v", f"{tls / 'ca-bundle.crt'}:/etc/ssl/certs/ca-certificates.crt:ro"]
    if plan.app_image:
        # the registry the stack's image comes from (outside every site, as the user's registry is), with the
        # example application's image under the name the stack gives it
        hosts["registry"] = s.boot(
            "registry",
            registry.registry_user_data(),
            extra_args=[*nets(None, plan.registry_ip), "-v", f"{tls}:{registry.TLS_MOUNT}:ro"],
        )
        containers["registry"] = hosts["registry"].name
        local = registry.build_app_image(f"localhost/rs-{s.id}-app:{plan.app_image.rsplit(':', 1)[-1]}", session=s)
        hosts["registry"].wait_boot_finished(timeout=timeout)
        registry.push(local, plan.registry_ip, registry.repository_of(plan.app_image))
        event("boot", f"registry {plan.registry_host} serves {registry.repository_of(plan.app_image)} (examples/app)")

    def start(h: HostPlan, short: str | None = None) -> podman.Host:
        # a host started again under another name (the restore drill's fresh hosts) gets no metadata address: its
        # first boot reads its user data's copies, as every host's does
        metadata = ["--network", f"{md_net.name}:ip={md_ips[h.name]}"] if short is None else []
        extra = [*nets(h.site, h.public_ip), *metadata, *trust]
        if h.role in (HOST_DB_PRIMARY, HOST_DB_REPLICA):
            extra += [*add_hosts, *standins.data_volume(workdir / "volumes" / (short or h.name))]  # its volume
        elif plan.app_image:
            extra += [
                "--add-host",
                f"{plan.registry_host}:{plan.registry_ip}",
                *standins.container_storage(workdir / "containers" / (short or h.name)),
            ]
        host = s.boot(short or h.name, h.user_data, hostname=h.name, extra_args=extra)
        return host

    with ThreadPoolExecutor(max_workers=4, thread_name_prefix="firedrill-boot") as pool:  # `podman run`s overlap
        for h, host in zip(plan.hosts, pool.map(start, plan.hosts)):
            hosts[h.name] = host
            containers[h.name] = host.name
    deadline = time.monotonic() + timeout
    for host in hosts.values():
        host.wait_boot_finished(timeout=max(5.0, deadline - time.monotonic()))
    for h in plan.hosts:
        standins.route_to_metadata(hosts[h.name], md_service)
    boot_s = time.monotonic() - t0
    event("boot", f"cloud-init done on all {len(hosts)} containers in {boot_s:.0f} s")
    return Topology(
        visitor=visitor,
        names=containers,
        boot_s=boot_s,
        start=start,
        internet=inet.name,
        metadata_root=metadata_root,
        metadata_ips=md_ips,
    )
