"""The booted hosts' image registry on the local clouds (standard library only): where the stack's web hosts pull
the application's image from, as they would from the operator's registry.

Debian's ``docker-registry`` (the distribution registry, in the project's host image) runs in the hub's namespace on
443, over TLS of the local CA, under the names of ``registry.names`` in topology.json, which the hub and every booted
host resolve to the hub (``local_openstack.tls_hosts``; the hosts trust that CA, ``host_wiring.cloud_cfg``). Its
storage is ``RUN_DIR/registry`` (gone with the run directory). Push from this machine in the hub, e.g.::

    ip netns exec rsos-local podman push --cert-dir RUN_DIR/registry-certs IMAGE docker://registry.shop.internal/shop/web:1.0.0

Started with the compute agent (``up --hosts``, ``hosts start``); ``down`` removes it with the clouds' containers.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from host_wiring import HOST_IMAGE
from local_openstack import CACHE, LABEL, Failed, run

CONFIG = "/etc/docker/registry/config.yml"
TLS = "/etc/rs-os/tls"


def config() -> str:
    """The registry's configuration (JSON is YAML): TLS on 443 with the local CA's server certificate."""
    return json.dumps(
        {
            "version": 0.1,
            "storage": {"filesystem": {"rootdirectory": "/var/lib/docker-registry"}, "delete": {"enabled": True}},
            "http": {"addr": ":443", "tls": {"certificate": f"{TLS}/server.pem", "key": f"{TLS}/server.key"}},
        },
        indent=1,
    )


def container_name(name: str) -> str:
    return f"rsos-{name}-registry"


def start(name: str, run_dir: Path, topo: dict, image: str = HOST_IMAGE) -> list[str]:
    """Run the registry (again: a running one is replaced, its storage kept); returns its names ([] if the topology
    names none: nothing runs). ``RUN_DIR/registry-certs/ca.crt`` is the CA for ``podman push --cert-dir``."""
    names = list(topo.get("registry", {}).get("names", []))
    if not names:
        return []
    store = run_dir / "registry"
    store.mkdir(parents=True, exist_ok=True)
    certs = run_dir / "registry-certs"
    certs.mkdir(exist_ok=True)
    shutil.copyfile(CACHE / "tls" / "serve" / "ca.pem", certs / "ca.crt")
    cfg = run_dir / "registry.yml"
    cfg.write_text(config() + "\n")
    c = container_name(name)
    run("podman", "rm", "-f", "-t", "0", c, check=False)
    run(
        "podman", "run", "-d", "--name", c, "--label", f"{LABEL}={name}",
        "--network", f"ns:/run/netns/rsos-{name}",
        "-v", f"{CACHE / 'tls' / 'serve'}:{TLS}:ro", "-v", f"{cfg}:{CONFIG}:ro",
        "-v", f"{store}:/var/lib/docker-registry",
        "--entrypoint", "/usr/bin/docker-registry", image, "serve", CONFIG,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while True:  # answering, by its name, with a certificate the CA vouches for
        probe = run("ip", "netns", "exec", f"rsos-{name}", "curl", "-sf", "-o", "/dev/null", "--max-time", "5",
                    "--cacert", str(certs / "ca.crt"), f"https://{names[0]}/v2/", check=False)  # fmt: skip
        if probe.returncode == 0:
            return names
        if time.monotonic() > deadline:
            logs = run("podman", "logs", "--tail", "20", c, check=False).stdout
            raise Failed(f"the image registry did not answer within 60 s (curl exit {probe.returncode}):\n{logs}")
        time.sleep(1)
