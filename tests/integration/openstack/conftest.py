"""The real Pulumi engine against a real local OpenStack: the clouds of scripts/local-openstack (docs/local-openstack.md).

One set of clouds for this package's tests (two clouds, one container per region; a few minutes to start
from the pre-initialised images `make tools` builds), removed when the package's last test is done, also
when the session is killed (the script's watchdog removes them once this process is gone). Every `pulumi` command runs inside the clouds'
hub network namespace with the clouds.yaml the script wrote: nothing else in the environment points at a
cloud, and nothing outside the machine is reachable from there.

Required in CI (``need_tool``): root (network namespaces), podman, the engine, the images.
``RESILIENT_STACK_LOCAL_OPENSTACK=NAME`` runs the tests against clouds already started with
``local_openstack.py up --name NAME`` (and leaves them running).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_tool
from tests.integration.engine.conftest import Pulumi, engine_env  # noqa: F401 - the fixture, shared

SCRIPT = ROOT / "scripts" / "local-openstack" / "local_openstack.py"
TOPOLOGY = json.loads((ROOT / "scripts" / "local-openstack" / "topology.json").read_text())
START_TIMEOUT = 1200  # cold start of five regions on two busy CPUs; measured figures in docs/local-openstack.md


@dataclass
class LocalClouds:
    name: str
    hub: str
    run_dir: Path
    clouds_yaml: Path
    catalog: Path

    def inventory(self) -> dict[str, dict]:
        """{"cloud/REGION": {servers, networks, security_groups, server_groups, containers, volumes}} through the APIs."""
        r = subprocess.run(
            [sys.executable, str(SCRIPT), "inventory", "--name", self.name, "--run-dir", str(self.run_dir)],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout)

    def metadata(self, cloud: str, region: str, server: str, path: str, tamper: str = "none") -> tuple[int, bytes]:
        """(HTTP status, body) of ``path`` from Nova's metadata API for the server named ``server``, asked as the
        metadata proxy asks (signed; ``tamper``: a forged signature, another project's id)."""
        r = _script(
            "metadata",
            *("--name", self.name, "--run-dir", str(self.run_dir), "--cloud", cloud, "--region", region),
            *("--server", server, "--path", path, "--tamper", tamper),
            timeout=180,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        answer = json.loads(r.stdout)
        return answer["status"], base64.b64decode(answer["body"])

    def hosts(self, action: str) -> dict:
        """The compute agent (``start``, ``stop``: every ACTIVE server boots as a host) or what it booted
        (``list``: RUN_DIR/hosts.json)."""
        r = _script("hosts", action, "--name", self.name, "--run-dir", str(self.run_dir), timeout=300)
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout) if action == "list" else {}

    def push(self, local: str, ref: str) -> None:
        """``local`` (this machine's podman storage) into the clouds' image registry as ``ref``
        (``registry.shop.internal/shop/web:1.0.0``): the push docs/local-openstack.md gives users, TLS verified."""
        r = subprocess.run(
            ["ip", "netns", "exec", self.hub, "podman", "push", "--quiet",
             "--cert-dir", str(self.run_dir / "registry-certs"), local, f"docker://{ref}"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]

    def wait_hosts(self, server_ids, timeout: float = 300) -> dict[str, dict]:
        """{server id: what the agent says of its host} once it booted a host for every one of ``server_ids``;
        fails at once on a server it refused to boot (with its reason)."""
        deadline = time.monotonic() + timeout
        while True:
            listed = self.hosts("list")
            refused = {sid: listed["not_booted"][sid] for sid in server_ids if sid in listed["not_booted"]}
            assert not refused, refused
            if all(sid in listed["hosts"] for sid in server_ids):
                return {sid: listed["hosts"][sid] for sid in server_ids}
            assert time.monotonic() < deadline, f"not booted in {timeout} s: {set(server_ids) - set(listed['hosts'])}"
            time.sleep(2)

    def guard(self) -> str:
        """The security groups' ruleset the compute agent applies in the hub (fabric_guard.py), as nft lists it."""
        r = subprocess.run(
            ["ip", "netns", "exec", self.hub, "nft", "list", "table", "inet", "rsos_sg"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return r.stdout if r.returncode == 0 else f"exit {r.returncode}: {r.stderr}"

    def backup_user(self, cloud: str, user: str) -> dict[str, str]:
        """A dedicated object-store user of ``cloud``'s project and its S3 keys ({"access", "secret"}), made as an
        operator makes it once per stack (docs/operations.md#the-backup-credential)."""
        r = subprocess.run(
            [
                sys.executable,
                str(SCRIPT),
                "backup-user",
                "--name",
                self.name,
                "--run-dir",
                str(self.run_dir),
                "--cloud",
                cloud,
                "--user",
                user,
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr[-3000:]
        return json.loads(r.stdout)


def in_host(container: str, *cmd: str, timeout: float = 60) -> str:
    """``cmd``'s output in a host the compute agent booted (``exit N: ...`` when it failed: asserted on)."""
    r = subprocess.run(["podman", "exec", container, *cmd], capture_output=True, text=True, timeout=timeout)
    return r.stdout if r.returncode == 0 else f"exit {r.returncode}: {r.stdout}{r.stderr}"


def _script(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="package")
def local_clouds(tmp_path_factory) -> LocalClouds:
    reuse = os.environ.get("RESILIENT_STACK_LOCAL_OPENSTACK")  # NAME: clouds you started (local_openstack.py up)
    if reuse:
        run_dir = (
            Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
            / "resilient-stack"
            / "openstack"
            / "run"
            / reuse
        )
        need_tool((run_dir / "clouds.yaml").exists(), f"running local clouds {reuse!r} ({run_dir})")
        yield LocalClouds(reuse, f"rsos-{reuse}", run_dir, run_dir / "clouds.yaml", run_dir / "catalog.yaml")
        return
    need_tool(os.geteuid() == 0, "root (network namespaces and rootful podman for the local OpenStack)")
    need_tool(shutil.which("podman") is not None and shutil.which("ip") is not None, "podman and iproute2")
    have = _script("check-image", timeout=120)
    need_tool(
        have.returncode == 0, f"the local OpenStack images (make tools): {have.stdout.strip()} {have.stderr.strip()}"
    )
    name = f"t{os.getpid() % 10**9}"
    run_dir = tmp_path_factory.mktemp("local-openstack")
    up = _script(
        "up",
        "--name",
        name,
        "--run-dir",
        str(run_dir),
        "--owner-pid",
        str(os.getpid()),
        "--quiet",
        "--timeout",
        str(START_TIMEOUT),
        timeout=START_TIMEOUT + 600,
    )
    try:
        assert up.returncode == 0, up.stderr[-5000:]
        yield LocalClouds(name, f"rsos-{name}", run_dir, run_dir / "clouds.yaml", run_dir / "catalog.yaml")
    finally:
        _script("down", "--name", name, timeout=900)


@dataclass
class HubPulumi(Pulumi):
    """`pulumi` on a throwaway local backend, run inside the clouds' hub namespace with their clouds.yaml."""

    clouds: LocalClouds | None = None

    def environ(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        assert self.clouds is not None
        return super().environ({"OS_CLIENT_CONFIG_FILE": str(self.clouds.clouds_yaml), **(extra or {})})

    def __call__(
        self, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: int = 900
    ) -> subprocess.CompletedProcess:
        assert self.clouds is not None
        return subprocess.run(
            ["ip", "netns", "exec", self.clouds.hub, "pulumi", *args],
            cwd=cwd,
            env=self.environ(env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )


def give_backup_keys(
    pulumi: "HubPulumi", clouds: LocalClouds, project: Path, stack: str, namespace: str, cloud: str
) -> None:
    """The backups' S3 keys as the stack takes them: a dedicated user's, set as Pulumi secrets."""
    keys = clouds.backup_user(cloud, f"{stack}-backups")
    for key, value in (("backupS3AccessKey", keys["access"]), ("backupS3SecretKey", keys["secret"])):
        pulumi.ok("config", "set", "--secret", "--stack", stack, f"{namespace}:{key}", value, cwd=project)


@pytest.fixture(scope="module")
def hub_pulumi(engine_env, local_clouds, tmp_path_factory) -> HubPulumi:
    return HubPulumi(engine_env, tmp_path_factory.mktemp("pulumi-state"), local_clouds)


def regions_of(cloud: str) -> list[str]:
    return list(TOPOLOGY["clouds"][cloud]["regions"])


def cloud_of(entry: str) -> str | None:
    """The cloud (topology.json) of a clouds.yaml entry: the cloud's own, or one of its other projects
    (``ovh-backups``: another project of the ``ovh`` keystone); None when the local clouds have no such entry."""
    for cloud, c in TOPOLOGY["clouds"].items():
        if entry == cloud or entry in c.get("projects", {}):
            return cloud
    return None


def everything(inv: dict[str, dict], kind: str) -> dict[str, list]:
    """{"cloud/REGION": [names of ``kind``]} (containers: their names; ports and floating IPs: their ids), the
    project's own default security group left out."""
    out = {}
    for where, held in inv.items():
        items = held[kind]
        names = (
            sorted(items)
            if isinstance(items, dict)
            else sorted(
                i.get("name") or i["id"] for i in items if not (kind == "security_groups" and i["name"] == "default")
            )
        )
        if names:
            out[where] = names
    return out


def example_app_image() -> str:
    """The example application (examples/app) built on this machine, offline, from the host-image script's base
    (what the podman drill's web hosts run): the image a user would push to the registry."""
    from resilient_stack.testing.registry import APP_BASE_IMAGE, EXAMPLE_APP

    tag = "localhost/resilient-stack-example-app:local-clouds"
    r = subprocess.run(
        ["podman", "build", "--quiet", "--network", "none", "--build-arg", f"BASE={APP_BASE_IMAGE}", "-t", tag,
         str(EXAMPLE_APP)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    return tag
