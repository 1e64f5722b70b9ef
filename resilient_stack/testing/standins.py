"""What the cloud gives a host, stood in for in podman: a database host's data volume (and its metadata service).

The podman harness (:mod:`resilient_stack.testing.podman`) boots hosts from the exact user data the components
make; a cloud also gives them things podman has not:

* **the data volume** of a database host (block storage attached by the cloud, found by the host by its id): here a
  directory of the machine, bind-mounted at the volume's mount point (:data:`DATA_MOUNT`). The host's
  ``resilient-stack-data-volume`` sees a mounted file system there and keeps it as it is (its branch for a volume
  that is already mounted; the device search and the formatting run on a loop device in
  ``tests/integration/podman/test_data_volume.py``); the same directory given to a NEW container is a replacement
  host re-attaching the volume;
* **the metadata service** at 169.254.169.254 (``/openstack/latest/user_data`` and ``meta_data.json``, each host
  its own, told apart by its address as Nova does): a container of the host image serving the exact user data and
  metadata the components made (:func:`metadata_files`), on a network of its own without NAT (podman masquerades
  what leaves a network's subnet, which would hide the host's address), reached through the route a cloud's DHCP
  would give (:func:`route_to_metadata`). It serves the runtime configuration to the hosts' sync, and lets a test check that a
  local user other than root cannot read the user data.

No Pulumi import; subprocess only through the podman harness.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Mapping, Sequence

import yaml

from resilient_stack.hosts.paths import DATA_MOUNT
from resilient_stack.testing import podman, sessions

__all__ = [
    "DATA_MOUNT",
    "METADATA_IP",
    "data_volume",
    "metadata_files",
    "metadata_user_data",
    "boot_metadata_service",
    "route_to_metadata",
]


def container_storage(directory: Path) -> list[str]:
    """``podman run`` arguments that let a web host run its application's containers (podman in the container): a
    privileged container, its container storage on ``directory`` (created if needed; overlay cannot stack on the
    container's own overlay), as a cloud VM's podman has its root disk."""
    directory.mkdir(parents=True, exist_ok=True)
    return ["--privileged", "-v", f"{directory}:/var/lib/containers"]


def data_volume(directory: Path) -> list[str]:
    """``podman run`` arguments attaching ``directory`` (created if needed) as a host's data volume."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o755)
    return ["-v", f"{directory}:{DATA_MOUNT}"]


# --------------------------------------------------------------------------------------------------
# The metadata service
# --------------------------------------------------------------------------------------------------

METADATA_IP = "169.254.169.254"
SERVER = Path(__file__).resolve().parent / "data" / "metadata_standin.py"  # package data
_MOUNT = "/srv/metadata"


def metadata_files(root: Path, address: str, *, user_data: str, metadata: Mapping[str, str], name: str) -> None:
    """What the stand-in serves to the host at ``address``: its user data and its metadata items (``meta``);
    rewriting them is the cloud updating the instance's metadata in place."""
    d = root / address
    d.mkdir(parents=True, exist_ok=True)
    (d / "user_data").write_text(user_data)
    doc = {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"resilient-stack/{name}")),
        "name": name,
        "hostname": name,
        "meta": dict(metadata),
    }
    (d / "meta_data.json").write_text(json.dumps(doc))


def metadata_user_data() -> str:
    """The stand-in's own ``#cloud-config``: the link-local address on its loopback, the server as a unit."""
    return "#cloud-config\n" + yaml.safe_dump(
        {
            "write_files": [
                {
                    "path": "/etc/systemd/system/metadata-standin.service",
                    "content": (
                        "[Service]\nExecStart=/usr/bin/python3 /opt/metadata_standin.py "
                        + _MOUNT
                        + "\nRestart=always\n"
                    ),
                }
            ],
            "runcmd": [
                "set -eu",
                ["systemctl", "disable", "--now", "nginx"],  # the image's nginx holds port 80
                ["ip", "addr", "add", f"{METADATA_IP}/32", "dev", "lo"],
                ["systemctl", "daemon-reload"],
                ["systemctl", "start", "metadata-standin"],
            ],
        },
        sort_keys=False,
    )


def boot_metadata_service(session: sessions.Session, root: Path, network_args: Sequence[str]) -> podman.Host:
    """The stand-in container (``network_args``: its ``--network`` with a fixed ``ip=``), serving ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    return session.boot(
        "metadata",
        metadata_user_data(),
        extra_args=[*network_args, "-v", f"{root}:{_MOUNT}:ro", "-v", f"{SERVER}:/opt/metadata_standin.py:ro"],
    )


def route_to_metadata(host: podman.Host, via: str) -> None:
    """The route a cloud's DHCP gives its instances (option 121): 169.254.169.254 through the stand-in."""
    host.exec("ip", "route", "replace", f"{METADATA_IP}/32", "via", via, timeout=30)


# --------------------------------------------------------------------------------------------------
# Certificates of the stand-ins
# --------------------------------------------------------------------------------------------------


def make_tls(workdir: Path, names: Sequence[str], image: str) -> Path:
    """A self-signed certificate for the stand-ins' names (the S3 endpoint, the image registry: ``s3.crt``,
    ``s3.key``), and a CA bundle (the image's + it, ``ca-bundle.crt``) for the stack's hosts: the fake internet's
    services are trusted as the real ones are. Made with the image's openssl."""
    tls = workdir / "tls"
    tls.mkdir(mode=0o755)
    san = ",".join(f"DNS:{n}" for n in names)
    script = (
        "set -e; cd /out; "
        f"openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj '/CN={names[0]}' -addext 'subjectAltName={san}' "
        "-keyout s3.key -out s3.crt 2>/dev/null; "
        "cat /etc/ssl/certs/ca-certificates.crt s3.crt > ca-bundle.crt; chmod 0644 s3.crt ca-bundle.crt s3.key"
    )
    proc = podman.run_once(image, ["sh", "-c", script], volumes=[f"{tls}:/out"], check=False, timeout=120)
    if proc.returncode != 0 or not (tls / "ca-bundle.crt").is_file():
        raise podman.PodmanError(f"could not make the stand-ins' certificate: {proc.stderr.strip()[-500:]}")
    return tls
