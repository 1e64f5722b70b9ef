"""An image registry on the podman network and the example application's image in it (what the stack's web hosts
pull, as they would from the user's registry).

- :func:`build_app_image`: ``examples/app`` (its Containerfile) built with podman on this machine, from the base
  image the host-image script builds offline (:data:`APP_BASE_IMAGE`: Debian's python3 and python3-psycopg2), so
  the build downloads nothing; ``broken=True`` builds one that crashes at start (a release whose health check fails).
- :func:`registry_user_data`: a host of the host image running Debian's ``docker-registry`` (the distribution
  registry) with TLS, answering for the image's registry name with a certificate the web hosts trust.
- :func:`push`: an image from this machine's storage into that registry, under the repository the stack names.

Every container belongs to the caller's :class:`~resilient_stack.testing.sessions.Session`.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

from resilient_stack.testing import podman, sessions

__all__ = [
    "APP_BASE_IMAGE",
    "EXAMPLE_APP",
    "REGISTRY_PORT",
    "build_app_image",
    "registry_user_data",
    "push",
    "repository_of",
]

APP_BASE_IMAGE = "localhost/resilient-stack-app-base:bookworm"
EXAMPLE_APP = Path(__file__).resolve().parents[2] / "examples" / "app"  # the checkout's example application
REGISTRY_PORT = 443
TLS_MOUNT = "/etc/registry-tls"


def build_app_image(tag: str, *, session: sessions.Session, broken: bool = False, timeout: float = 600) -> str:
    """Build the example application as ``tag`` (in this machine's podman storage), owned by ``session`` (removed
    with its containers); ``broken``: an image of it whose process exits at once. Returns ``tag``.

    Raises:
        podman.PodmanUnavailable: no checkout's ``examples/app`` or no base image (scripts/build-host-image.sh).
        podman.PodmanError: the build failed.
    """
    if not (EXAMPLE_APP / "Containerfile").is_file():
        raise podman.PodmanUnavailable(
            f"the example application's sources are not here ({EXAMPLE_APP}): run from a checkout of resilient-stack"
        )
    if podman._run(["image", "exists", APP_BASE_IMAGE], check=False).returncode != 0:
        raise podman.PodmanUnavailable(f"no {APP_BASE_IMAGE}: run scripts/build-host-image.sh (as root)")
    session.own_image(tag)
    podman._run(
        ["build", "--quiet", "--network", "none", "--build-arg", f"BASE={APP_BASE_IMAGE}", "-t", tag, str(EXAMPLE_APP)],
        timeout=timeout,
    )
    if broken:
        with tempfile.TemporaryDirectory(prefix="rs-broken-") as ctx:
            (Path(ctx) / "Containerfile").write_text(
                f'FROM {tag}\nCMD ["python3", "-c", "raise SystemExit(\'this release cannot start\')"]\n'
            )
            podman._run(["build", "--quiet", "--network", "none", "-t", tag, ctx], timeout=timeout)
    return tag


def repository_of(image: str) -> str:
    """``registry.example.com/shop/web:1.0.0`` -> ``shop/web:1.0.0`` (the path and tag, without the registry)."""
    return image.split("/", 1)[1]


def registry_user_data() -> str:
    """``#cloud-config`` of the registry: Debian's docker-registry on port 443 with the mounted certificate."""
    config = {
        "version": 0.1,
        "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": "/var/lib/docker-registry"}, "delete": {"enabled": True}},
        "http": {
            "addr": f":{REGISTRY_PORT}",
            "tls": {"certificate": f"{TLS_MOUNT}/s3.crt", "key": f"{TLS_MOUNT}/s3.key"},
        },
    }
    return "#cloud-config\n" + yaml.safe_dump(
        {
            "package_update": False,
            "write_files": [
                {"path": "/etc/docker/registry/config.yml", "content": yaml.safe_dump(config)},
                # Debian's unit runs it as the user docker-registry: port 443 needs the capability
                {
                    "path": "/etc/systemd/system/docker-registry.service.d/port-443.conf",
                    "content": "[Service]\nAmbientCapabilities=CAP_NET_BIND_SERVICE\n",
                },
            ],
            "runcmd": [
                "set -eu",
                ["systemctl", "disable", "--now", "nginx"],
                ["systemctl", "daemon-reload"],
                ["systemctl", "enable", "docker-registry"],
                ["systemctl", "restart", "docker-registry"],
                # cloud-init is done once the registry answers (the caller pushes right after)
                "for i in $(seq 1 60); do curl -ksf -o /dev/null https://127.0.0.1/v2/ && exit 0; sleep 1; done; "
                "journalctl -u docker-registry -n 20 --no-pager; exit 1",
            ],
        },
        sort_keys=False,
        width=4096,
    )


def push(local: str, registry_ip: str, repository: str, *, timeout: float = 600) -> None:
    """``local`` (this machine's storage) into the registry at ``registry_ip`` as ``repository`` (``path:tag``).
    This machine does not trust the stand-in's certificate (the web hosts do): the push skips its verification."""
    podman._run(
        ["push", "--quiet", "--tls-verify=false", local, f"docker://{registry_ip}:{REGISTRY_PORT}/{repository}"],
        timeout=timeout,
    )
