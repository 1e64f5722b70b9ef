"""Boot Debian bookworm + cloud-init hosts in podman, as stand-ins for cloud instances.

A small harness around the ``podman`` CLI (subprocess only; no Pulumi import) used by the boot tests and
by the ``firedrill`` command that boots whole stacks: every podman call of the package goes through it.
The image ``localhost/resilient-stack-host:bookworm-8`` (built by :data:`BUILD_SCRIPT`, package data of
this module, from Debian's packages: systemd, cloud-init with the NoCloud datasource, nginx,
postgresql-15, pgbackrest, patroni, etcd) is started with ``--systemd=always`` and a NoCloud seed directory
(``user-data`` = the exact text the components put on instances, ``meta-data``) mounted at
``/var/lib/cloud/seed/nocloud``.

Typical use::

    from resilient_stack.testing import podman, sessions

    podman.ensure_image()
    with sessions.Session() as s:             # removes every container/network it made, always
        net = s.create_network()
        web = s.boot("web", user_data, network=net, publish=[(0, 80)])
        web.wait_boot_finished(timeout=300)    # raises BootError with the cloud-init log tail
        print(web.port(80), web.testinfra_url) # ('127.0.0.1', 40123) podman://rs-1a2b3c-web

Names: a session (:mod:`resilient_stack.testing.sessions`) names everything ``rs-<6 hex>-<name>`` so parallel runs never collide; the
module-level :func:`boot`/:func:`create_network` use the name given (see :func:`unique_name`).
Published ports bind to 127.0.0.1 unless an explicit ``IP:HOST:CONTAINER`` string is given: traffic stays
on this machine. Every container and network carries the label ``resilient-stack.harness=1``.
The harness writes nothing on stdout (a caller's ``--format json`` owns it): its notices go to stderr.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Protocol, Sequence

from resilient_stack.io.errors import ResilientStackError

__all__ = [
    "DEFAULT_IMAGE",
    "BUILD_SCRIPT",
    "LABEL",
    "PodmanError",
    "PodmanUnavailable",
    "BootError",
    "Network",
    "Host",
    "podman_available",
    "image_exists",
    "ensure_image",
    "unique_name",
    "create_network",
    "remove_network",
    "boot",
    "exec_in",
    "popen_exec",
    "kill",
    "start",
    "pause",
    "connect",
    "run_once",
    "used_subnets",
    "parse_subnets",
    "names_with_prefix",
    "cloud_init_status",
    "cloud_init_log_tail",
    "wait_boot_finished",
    "remove",
    "keeping",
    "checkpoint",
    "sleep",
]

DEFAULT_IMAGE = os.environ.get("RESILIENT_STACK_HOST_IMAGE", "localhost/resilient-stack-host:bookworm-8")
# Package data (not a path of the git checkout): found the same way from an installed package.
BUILD_SCRIPT = Path(__file__).resolve().parent / "data" / "build-host-image.sh"
LABEL = "resilient-stack.harness=1"
SEED_MOUNT = "/var/lib/cloud/seed/nocloud"
BOOT_FINISHED = "/var/lib/cloud/instance/boot-finished"
NAME_PREFIX = "rs-"

PublishSpec = str | tuple[int, int]


class PodmanError(ResilientStackError, RuntimeError):
    """A podman command failed."""


class PodmanUnavailable(PodmanError):
    """podman (or the host image) is not available on this machine."""


class BootError(PodmanError):
    """A host did not finish booting, or cloud-init reported an error. The message holds the log tail."""


# --------------------------------------------------------------------------------------------------
# podman CLI
# --------------------------------------------------------------------------------------------------


def _podman_bin() -> str:
    path = shutil.which("podman")
    if path is None:
        raise PodmanUnavailable(f"podman is not installed (it comes with the host image: sudo bash {BUILD_SCRIPT})")
    return path


def _run(
    args: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 120,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    cmd = [_podman_bin(), *args]
    full_env = None if env is None else {**os.environ, **env}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input, env=full_env)
    except subprocess.TimeoutExpired as exc:
        raise PodmanError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        raise PodmanError(f"`{' '.join(cmd)}` exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    return proc


def podman_available() -> bool:
    """True when the podman CLI is installed and answers ``podman version``."""
    if shutil.which("podman") is None:
        return False
    try:
        return _run(["version", "--format", "{{.Client.Version}}"], check=False, timeout=30).returncode == 0
    except PodmanError:
        return False


def image_exists(image: str = DEFAULT_IMAGE) -> bool:
    """True when ``image`` is present in local podman storage."""
    if shutil.which("podman") is None:
        return False
    return _run(["image", "exists", image], check=False, timeout=30).returncode == 0


def ensure_image(
    image: str = DEFAULT_IMAGE,
    *,
    build: bool = True,
    build_script: Path = BUILD_SCRIPT,
    timeout: float = 1800,
) -> str:
    """Return ``image``, building it with :data:`BUILD_SCRIPT` (package data) first if it is absent.

    Args:
        image: image reference.
        build: when False, raise :class:`PodmanUnavailable` instead of building.
        build_script: the build script (needs root: apt-get, debootstrap); default: the packaged one.
        timeout: seconds allowed for the build.

    Raises:
        PodmanUnavailable: no podman/image and building is not allowed or not possible.
        PodmanError: the build failed (the message holds the end of its output).
    """
    if image_exists(image):
        return image
    if not build:
        raise PodmanUnavailable(f"image {image} is missing; build it with: sudo bash {build_script}")
    if not build_script.is_file():
        raise PodmanUnavailable(f"image {image} is missing and {build_script} does not exist")
    if os.geteuid() != 0:
        raise PodmanUnavailable(f"image {image} is missing; build it as root: sudo bash {build_script}")
    env = dict(os.environ, RESILIENT_STACK_HOST_IMAGE=image)
    try:
        proc = subprocess.run(["bash", str(build_script)], capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired as exc:
        raise PodmanError(f"{build_script} timed out after {timeout}s") from exc
    if proc.returncode != 0:
        raise PodmanError(f"{build_script} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-3000:]}")
    if not image_exists(image):
        raise PodmanError(f"{build_script} succeeded but image {image} is still missing")
    return image


def unique_name(name: str, *, suffix: str | None = None) -> str:
    """``rs-<suffix>-<name>`` with a random 6-hex suffix unless one is given (e.g. a session id)."""
    if not name or not all(c.isalnum() or c in "-_." for c in name):
        raise ValueError(f"container/network names take letters, digits, '-', '_' and '.': {name!r}")
    return f"{NAME_PREFIX}{suffix or secrets.token_hex(3)}-{name}"


# --------------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """A user-defined podman bridge network: containers on it reach each other by name."""

    name: str
    subnet: str | None
    gateway: str | None

    def __str__(self) -> str:
        return self.name


def create_network(name: str, *, subnet: str | None = None, internal: bool = False) -> Network:
    """Create a podman bridge network (DNS on) and return it with the subnet podman picked.

    Args:
        name: network name (used as given).
        subnet: e.g. ``"10.89.7.0/24"``; default: podman picks a free one.
        internal: no route outside the network (note: apt at boot then cannot reach the mirror).
    """
    args = ["network", "create", "--label", LABEL]
    if subnet:
        args += ["--subnet", subnet]
    if internal:
        args.append("--internal")
    _run([*args, name])
    info = json.loads(_run(["network", "inspect", name]).stdout)
    entry = info[0] if isinstance(info, list) else info
    subnets = entry.get("subnets") or []
    if subnets:
        return Network(name=name, subnet=subnets[0].get("subnet"), gateway=subnets[0].get("gateway"))
    return Network(name=name, subnet=None, gateway=None)


def remove_network(name: str) -> None:
    """Remove a network (and force-remove containers still on it); missing networks are ignored."""
    _run(["network", "rm", "-f", name], check=False, timeout=60)


def parse_subnets(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The subnets listed by ``podman network ls --format json``; unreadable entries are skipped."""
    try:
        nets = json.loads(text or "[]")
    except json.JSONDecodeError:
        return []
    out: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    for net in nets if isinstance(nets, list) else []:
        subnets = net.get("subnets") if isinstance(net, dict) else None
        for sub in subnets if isinstance(subnets, list) else []:
            try:
                out.append(ipaddress.ip_network(sub.get("subnet", ""), strict=False))
            except (AttributeError, TypeError, ValueError):
                pass
    return out


def used_subnets() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The subnets of every podman network on this machine; ``[]`` when podman is missing or does not answer."""
    try:
        proc = _run(["network", "ls", "--format", "json"], check=False, timeout=30)
    except (OSError, PodmanError):
        return []
    return parse_subnets(proc.stdout) if proc.returncode == 0 else []


def names_with_prefix(prefix: str) -> list[str]:
    """Containers (running or not) and networks whose name starts with ``prefix``: what a session left behind.

    Raises:
        PodmanError: podman could not list them (never mistaken for "nothing left").
    """
    containers = _run(["ps", "-a", "--format", "{{.Names}}"], timeout=60).stdout
    networks = _run(["network", "ls", "--format", "{{.Name}}"], timeout=60).stdout
    return [n for n in (containers + networks).split() if n.startswith(prefix)]


# --------------------------------------------------------------------------------------------------
# Hosts
# --------------------------------------------------------------------------------------------------


def exec_in(
    name: str,
    cmd: Sequence[str],
    *,
    check: bool = True,
    timeout: float | None = 120,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (argv list, no shell) in container ``name`` with ``podman exec``.

    ``env`` values (e.g. a PGPASSWORD) are handed over through podman's environment (``-e NAME``),
    never on a command line; ``input`` is fed to the command's stdin.
    """
    return _run(
        _exec_args(name, cmd, user=user, env=env, interactive=input is not None),
        check=check,
        timeout=timeout,
        env=env,
        input=input,
    )


def _exec_args(
    name: str,
    cmd: Sequence[str],
    *,
    user: str | None = None,
    env: Mapping[str, str] | None = None,
    interactive: bool = False,
) -> list[str]:
    """``podman exec`` arguments: environment variables by name only (``-e KEY``), never their values."""
    args = ["exec"]
    if interactive:
        args.append("-i")
    if user:
        args += ["--user", user]
    for key in env or {}:
        args += ["-e", key]
    return [*args, name, *cmd]


def popen_exec(name: str, cmd: Sequence[str], *, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``cmd`` in container ``name`` without waiting for it: a long-running process whose output is
    read as it comes (text lines on ``stdout``; stdin and stderr are ``/dev/null``). ``env`` as in
    :func:`exec_in`. The caller waits for or kills the process."""
    full_env = None if env is None else {**os.environ, **env}
    return subprocess.Popen(
        [_podman_bin(), *_exec_args(name, cmd, env=env)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=full_env,
    )


def kill(*names: str, signal_name: str = "KILL", timeout: float = 60) -> None:
    """Send ``signal_name`` to every container of ``names`` in ONE ``podman kill`` (a drill's fire: they
    all lose power together); killed containers stay until removed. PodmanError if one could not be killed."""
    _run(_kill_args(names, signal_name), timeout=timeout)


def start(*names: str, timeout: float = 120) -> None:
    """Start stopped (killed) containers again, in ONE ``podman start``: a burned site coming back, each host
    booting from its own disk (cloud-init does not run again: same instance). PodmanError if one did not start."""
    if not names:
        raise ValueError("start: no container named")
    _run(["start", *names], timeout=timeout)


def pause(*names: str, unpause: bool = False, timeout: float = 60) -> None:
    """Freeze (``unpause``: thaw) every process of these containers in ONE call, as a hung hypervisor freezes a VM:
    nothing runs, nothing is lost, every socket stays open."""
    if not names:
        raise ValueError("pause: no container named")
    _run(["unpause" if unpause else "pause", *names], timeout=timeout)


def connect(
    network: str,
    name: str,
    *,
    ip: str | None = None,
    mac: str | None = None,
    disconnect: bool = False,
    timeout: float = 60,
) -> None:
    """Plug container ``name`` into ``network`` at ``ip``/``mac`` (``disconnect``: unplug it), as a cut cable."""
    args = (
        ["network", "disconnect", "--force", network, name]
        if disconnect
        else [
            "network",
            "connect",
            *(["--ip", ip] if ip else []),
            *(["--mac-address", mac] if mac else []),
            network,
            name,
        ]
    )
    _run(args, timeout=timeout)


def _kill_args(names: Sequence[str], signal_name: str) -> list[str]:
    if not names:
        raise ValueError("kill: no container named")
    if not signal_name or not signal_name.replace("+", "").isalnum():
        raise ValueError(f"kill: not a signal name: {signal_name!r}")
    return ["kill", "--signal", signal_name, *names]


def run_once(
    image: str,
    cmd: Sequence[str],
    *,
    volumes: Iterable[str] = (),
    network: str = "none",
    check: bool = True,
    timeout: float | None = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in a throwaway container of ``image`` (``podman run --rm``, no network unless one is
    given, the harness label), e.g. to use the image's own tools on a mounted directory. ``volumes``:
    ``-v`` specs, ``"HOST_PATH:CONTAINER_PATH[:OPTIONS]"``."""
    return _run(_run_once_args(image, cmd, volumes=volumes, network=network), check=check, timeout=timeout)


def _run_once_args(image: str, cmd: Sequence[str], *, volumes: Iterable[str], network: str) -> list[str]:
    args = ["run", "--rm", "--network", network, "--label", LABEL]
    for v in volumes:
        args += ["-v", v]
    return [*args, image, *cmd]


def _is_running(name: str) -> bool:
    proc = _run(["inspect", "--format", "{{.State.Running}}", name], check=False, timeout=30)
    return proc.returncode == 0 and proc.stdout.strip() == "true"


def cloud_init_status(name: str) -> str:
    """Output of ``cloud-init status --long`` in the container (whatever its exit code)."""
    proc = exec_in(name, ["cloud-init", "status", "--long"], check=False, timeout=60)
    return (proc.stdout + proc.stderr).strip()


def cloud_init_log_tail(name: str, lines: int = 60) -> str:
    """The end of cloud-init's output log and the WARNING/ERROR lines of its main log (for error reports)."""
    if not _is_running(name):
        logs = _run(["logs", "--tail", str(lines), name], check=False, timeout=30)
        return f"(container {name} is not running) podman logs:\n{logs.stdout}{logs.stderr}"
    script = (
        f"echo '--- /var/log/cloud-init-output.log (tail) ---'; tail -n {int(lines)} /var/log/cloud-init-output.log; "
        "echo '--- /var/log/cloud-init.log (WARNING/ERROR/Traceback) ---'; "
        f"grep -E 'WARNING|ERROR|Traceback|Failed' /var/log/cloud-init.log | tail -n {int(lines)}"
    )
    proc = exec_in(name, ["sh", "-c", script], check=False, timeout=60)
    return (proc.stdout + proc.stderr).rstrip()


def wait_boot_finished(name: str, timeout: float = 300.0, *, poll: float = 1.0) -> str:
    """Wait until cloud-init finished in ``name``, then require ``status: done``.

    Returns:
        The ``cloud-init status --long`` text.

    Raises:
        BootError: on timeout, a stopped container, or any status other than done; the message holds
            the status and the cloud-init log tail.
    """
    deadline = time.monotonic() + timeout
    while True:
        if not _is_running(name):
            raise BootError(f"container {name} stopped while booting\n{cloud_init_log_tail(name)}")
        if exec_in(name, ["test", "-f", BOOT_FINISHED], check=False, timeout=30).returncode == 0:
            break
        if time.monotonic() >= deadline:
            raise BootError(
                f"{name}: cloud-init did not finish within {timeout:.0f}s\n"
                f"{cloud_init_status(name)}\n{cloud_init_log_tail(name)}"
            )
        sleep(poll)
    status = cloud_init_status(name)
    if "status: done" not in status:
        raise BootError(f"{name}: cloud-init did not succeed:\n{status}\n{cloud_init_log_tail(name)}")
    return status


def _publish_args(publish: Iterable[PublishSpec]) -> list[str]:
    out: list[str] = []
    for p in publish:
        if isinstance(p, str):
            spec = p if p.count(":") >= 2 else f"127.0.0.1:{p}"
        else:
            host_port, container_port = p
            spec = f"127.0.0.1:{host_port or ''}:{container_port}"
        out += ["-p", spec]
    return out


@dataclass
class Host:
    """A booted container standing in for one cloud instance."""

    name: str
    hostname: str
    seed_dir: Path
    network: str | None = None
    image: str = DEFAULT_IMAGE
    _owns_seed: bool = field(default=True, repr=False)

    @property
    def testinfra_url(self) -> str:
        """The ``--hosts`` value for pytest-testinfra."""
        return f"podman://{self.name}"

    def exec(
        self,
        *cmd: str,
        check: bool = True,
        timeout: float | None = 120,
        user: str | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in the host (argv, no shell); see :func:`exec_in`."""
        return exec_in(self.name, list(cmd), check=check, timeout=timeout, user=user, env=env, input=input)

    def sh(
        self, script: str, *, check: bool = True, timeout: float | None = 120, env: Mapping[str, str] | None = None
    ) -> str:
        """Run a shell snippet in the host and return its stdout."""
        return exec_in(self.name, ["sh", "-c", script], check=check, timeout=timeout, env=env).stdout

    def wait_boot_finished(self, timeout: float = 300.0) -> str:
        """See :func:`wait_boot_finished`."""
        return wait_boot_finished(self.name, timeout)

    def cloud_init_status(self) -> str:
        return cloud_init_status(self.name)

    def log_tail(self, lines: int = 60) -> str:
        return cloud_init_log_tail(self.name, lines)

    def port(self, container_port: int, proto: str = "tcp") -> tuple[str, int]:
        """The (host IP, host port) a published container port is reachable on."""
        out = _run(["port", self.name, f"{container_port}/{proto}"]).stdout.strip().splitlines()
        if not out:
            raise PodmanError(f"{self.name}: port {container_port}/{proto} is not published")
        ip, _, port = out[0].rpartition(":")
        return ip or "127.0.0.1", int(port)

    def ip(self) -> str:
        """The container's address on its (first) network."""
        info = json.loads(_run(["inspect", self.name]).stdout)[0]
        nets = info.get("NetworkSettings", {}).get("Networks") or {}
        for n in nets.values():
            if n.get("IPAddress"):
                return n["IPAddress"]
        return info.get("NetworkSettings", {}).get("IPAddress", "")

    def is_running(self) -> bool:
        return _is_running(self.name)

    def kill(self) -> None:
        """Cut the power: SIGKILL the whole container (a drill's lost host). It stays until removed."""
        kill(self.name)

    def remove(self) -> None:
        """Force-remove the container and its seed directory."""
        remove(self.name)
        if self._owns_seed:
            shutil.rmtree(self.seed_dir, ignore_errors=True)


def boot(
    name: str,
    user_data: str,
    *,
    network: Network | str | None = None,
    hostname: str | None = None,
    publish: Iterable[PublishSpec] = (),
    image: str = DEFAULT_IMAGE,
    instance_id: str | None = None,
    aliases: Sequence[str] = (),
    seed_dir: Path | None = None,
    extra_args: Sequence[str] = (),
) -> Host:
    """Start container ``name`` from ``image`` with a NoCloud seed holding ``user_data`` (written as is).

    Does not wait: call :meth:`Host.wait_boot_finished`.

    Args:
        name: container name (used as given; see :func:`unique_name`).
        user_data: the exact ``#cloud-config`` text.
        network: podman network to attach to (containers on it resolve each other by name).
        hostname: host name inside the container and in meta-data (default: ``name``).
        publish: ``(host_port, container_port)`` tuples bound to 127.0.0.1 (host_port 0 = any free one),
            or podman ``-p`` strings (``"HOST:CONTAINER"`` is bound to 127.0.0.1).
        image: the host image.
        instance_id: meta-data instance-id (default ``iid-<name>``).
        aliases: extra DNS names on the network.
        seed_dir: where to write the seed (default: a private temp dir, removed with the host).
        extra_args: extra ``podman run`` arguments.
    """
    if not isinstance(user_data, str) or not user_data.startswith("#cloud-config"):
        raise ValueError("user_data must be a #cloud-config document")
    hostname = hostname or name
    owns = seed_dir is None
    seed = Path(tempfile.mkdtemp(prefix=f"{name}-seed-")) if seed_dir is None else Path(seed_dir)
    seed.mkdir(parents=True, exist_ok=True)
    os.chmod(seed, 0o700)
    # The user-data carries secrets: private files, as cloud-init keeps them on a real instance.
    ud = seed / "user-data"
    ud.write_text(user_data, encoding="utf-8")
    os.chmod(ud, 0o600)
    md = seed / "meta-data"
    md.write_text(f"instance-id: {instance_id or 'iid-' + name}\nlocal-hostname: {hostname}\n", encoding="utf-8")
    os.chmod(md, 0o600)

    args = [
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        hostname,
        "--label",
        LABEL,
        "--systemd=always",
        "--cap-add",
        "NET_ADMIN",  # a cloud VM administers its own network (nftables)
        "-v",
        f"{seed}:{SEED_MOUNT}:ro",
    ]
    if network is not None:
        args += ["--network", str(network)]
        for alias in aliases:
            args += ["--network-alias", alias]
    args += _publish_args(publish)
    args += list(extra_args)
    args.append(image)
    try:
        _run(args, timeout=120)
    except PodmanError:
        remove(name)
        if owns:
            shutil.rmtree(seed, ignore_errors=True)
        raise
    return Host(
        name=name,
        hostname=hostname,
        seed_dir=seed,
        network=str(network) if network is not None else None,
        image=image,
        _owns_seed=owns,
    )


def remove(*names: str, networks: Iterable[str] = ()) -> None:
    """Force-remove containers (no grace period) then networks; missing ones are ignored."""
    if names:
        _run(["rm", "-f", "-t", "0", *names], check=False, timeout=120)
    for net in networks:
        remove_network(str(net))


# --------------------------------------------------------------------------------------------------
# Signals kept by the open sessions (resilient_stack.testing.sessions)
# --------------------------------------------------------------------------------------------------


def keeping() -> bool:
    """RESILIENT_STACK_KEEP_HOSTS=1: sessions keep their containers and networks (debugging)."""
    return os.environ.get("RESILIENT_STACK_KEEP_HOSTS") == "1"


class _Signalled(Protocol):
    def check(self) -> None: ...


_OPEN: list[_Signalled] = []  # the sessions open in this process (resilient_stack.testing.sessions.Session)


def checkpoint() -> None:
    """In the main thread, raise if an open session was signalled and the exception was lost (``Session.check``);
    elsewhere nothing (a worker thread cannot end the command)."""
    if _OPEN and threading.current_thread() is threading.main_thread():
        for session in _OPEN:
            session.check()


def sleep(seconds: float) -> None:
    """``time.sleep`` for the waits of drills and boots: a signalled session ends it (raising) before and after."""
    checkpoint()
    time.sleep(seconds)
    checkpoint()
