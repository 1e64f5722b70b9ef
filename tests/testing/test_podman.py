"""resilient_stack.testing.podman without containers: the command lines it builds, what it reads from podman's
output, its packaged build script, and that it keeps stdout free. A stand-in `podman` on PATH (a shell
script that logs its arguments and prints canned output) checks the calls end to end.
(Booting real hosts: tests/integration/podman.)"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from resilient_stack.testing import podman, sessions

from ..conftest import ROOT, need_tool

FAKE_PODMAN = r"""#!/bin/sh
printf '%s\n' "$*" >> "$FAKE_PODMAN_LOG"
case "$1 $2" in
  "network ls")
    if [ "$4" = json ]; then cat "$FAKE_PODMAN_NETWORKS"; else printf 'podman\nrs-abc123-internet\n'; fi ;;
  "ps -a") printf 'rs-abc123-entry\nrs-abc123-shop-gra-db\nrs-def456-entry\nother\n' ;;
  "kill --signal") [ "$4" = gone ] && { echo "Error: no container with name or ID \"gone\" found" >&2; exit 125; } ;;
  exec*) shift; echo "exec:$*"; echo "PGPASSWORD=${PGPASSWORD:-unset}" ;;
esac
exit 0
"""


@pytest.fixture
def fake_podman(tmp_path, monkeypatch) -> Path:
    """A `podman` on PATH that logs each call (one line of arguments) to the returned file."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "podman"
    exe.write_text(FAKE_PODMAN)
    exe.chmod(0o755)
    log = tmp_path / "podman.log"
    networks = tmp_path / "networks.json"
    networks.write_text(
        json.dumps(
            [
                {"name": "podman", "subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]},
                {"name": "rs-abc123-internet", "subnets": [{"subnet": "198.18.7.0/24"}, {"subnet": "fd00:1::/64"}]},
            ]
        )
    )
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_PODMAN_LOG", str(log))
    monkeypatch.setenv("FAKE_PODMAN_NETWORKS", str(networks))
    return log


def calls(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


# -- command lines -------------------------------------------------------------------------------


def test_names_are_prefixed_and_random():
    a, b = podman.unique_name("web"), podman.unique_name("web")
    assert a.startswith("rs-") and a.endswith("-web") and a != b
    assert podman.unique_name("web", suffix="abc123") == "rs-abc123-web"
    with pytest.raises(ValueError):
        podman.unique_name("bad name")


def test_published_ports_bind_loopback():
    assert podman._publish_args([(0, 80), (18080, 80), "8443:443", "0.0.0.0:1:2"]) == [
        "-p",
        "127.0.0.1::80",
        "-p",
        "127.0.0.1:18080:80",
        "-p",
        "127.0.0.1:8443:443",
        "-p",
        "0.0.0.0:1:2",
    ]


def test_exec_hands_secrets_over_by_name_only():
    args = podman._exec_args(
        "rs-1-db", ["psql", "-c", "SELECT 1"], user="postgres", env={"PGPASSWORD": "s3cret"}, interactive=True
    )
    assert args == ["exec", "-i", "--user", "postgres", "-e", "PGPASSWORD", "rs-1-db", "psql", "-c", "SELECT 1"]
    assert "s3cret" not in " ".join(args)


def test_kill_is_one_call_for_every_container():
    assert podman._kill_args(["a", "b", "c"], "KILL") == ["kill", "--signal", "KILL", "a", "b", "c"]
    assert podman._kill_args(["a"], "SIGRTMIN+3")[2] == "SIGRTMIN+3"
    with pytest.raises(ValueError, match="no container"):
        podman._kill_args([], "KILL")
    with pytest.raises(ValueError, match="not a signal"):
        podman._kill_args(["a"], "KILL; rm -rf /")


def test_a_throwaway_container_has_no_network_and_the_harness_label():
    assert podman._run_once_args("img", ["sh", "-c", "true"], volumes=["/tmp/x:/out"], network="none") == [
        "run",
        "--rm",
        "--network",
        "none",
        "--label",
        podman.LABEL,
        "-v",
        "/tmp/x:/out",
        "img",
        "sh",
        "-c",
        "true",
    ]


# -- podman's output -----------------------------------------------------------------------------


def test_subnets_in_use_are_read_from_podman_network_ls():
    text = json.dumps(
        [
            {"name": "podman", "subnets": [{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]},
            {"name": "v6", "subnets": [{"subnet": "fd00::/64"}, {"subnet": "not-a-subnet"}, {}, None]},
            {"name": "none-yet", "subnets": None},
            {"name": "odd", "subnets": "10.0.0.0/8"},
            "garbage",
        ]
    )
    assert podman.parse_subnets(text) == [ipaddress.ip_network("10.88.0.0/16"), ipaddress.ip_network("fd00::/64")]
    assert podman.parse_subnets("") == [] and podman.parse_subnets("{not json") == []
    assert podman.parse_subnets('{"name": "x"}') == []


def test_without_podman_no_subnet_is_in_use(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no podman on PATH
    assert podman.used_subnets() == []
    assert not podman.podman_available()
    with pytest.raises(podman.PodmanUnavailable, match=re.escape(f"sudo bash {podman.BUILD_SCRIPT}")):
        podman.kill("a")


def test_calls_through_a_stand_in_podman(fake_podman, monkeypatch):
    assert podman.used_subnets() == [
        ipaddress.ip_network("10.88.0.0/16"),
        ipaddress.ip_network("198.18.7.0/24"),
        ipaddress.ip_network("fd00:1::/64"),
    ]
    podman.kill("rs-1-a", "rs-1-b")
    with pytest.raises(podman.PodmanError, match='no container with name or ID "gone"'):
        podman.kill("gone")
    podman.run_once("img", ["openssl", "version"], volumes=["/x:/out"])
    assert podman.names_with_prefix("rs-abc123-") == ["rs-abc123-entry", "rs-abc123-shop-gra-db", "rs-abc123-internet"]
    monkeypatch.delenv("PGPASSWORD", raising=False)
    proc = podman.popen_exec("rs-1-entry", ["/usr/local/sbin/firedrill-writer", "shop"], env={"PGPASSWORD": "pw"})
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.splitlines() == [
        "exec:-e PGPASSWORD rs-1-entry /usr/local/sbin/firedrill-writer shop",
        "PGPASSWORD=pw",
    ]
    assert "PGPASSWORD" not in os.environ  # handed to podman's environment only
    assert calls(fake_podman) == [
        "network ls --format json",
        "kill --signal KILL rs-1-a rs-1-b",
        "kill --signal KILL gone",
        f"run --rm --network none --label {podman.LABEL} -v /x:/out img openssl version",
        "ps -a --format {{.Names}}",
        "network ls --format {{.Name}}",
        "exec -e PGPASSWORD rs-1-entry /usr/local/sbin/firedrill-writer shop",
    ]


# -- sessions ------------------------------------------------------------------------------------


def _session_with_things(**kwargs) -> sessions.Session:
    s = sessions.Session(**kwargs)
    s.hosts.append(podman.Host(name=s.name("web"), hostname="web", seed_dir=Path("/nonexistent"), _owns_seed=False))
    s.networks.append(podman.Network(name=s.name("net"), subnet=None, gateway=None))
    return s


def test_kept_hosts_are_named_on_stderr_never_on_stdout(fake_podman, monkeypatch, capsys):
    monkeypatch.setenv("RESILIENT_STACK_KEEP_HOSTS", "1")
    s = _session_with_things()
    with s:
        pass
    out, err = capsys.readouterr()
    assert out == ""  # stdout belongs to the caller (e.g. `resilient-stack firedrill --format json`)
    assert err == f"[podman] keeping ['rs-{s.id}-web'] ['rs-{s.id}-net']\n"
    assert calls(fake_podman) == []  # nothing removed


def test_a_session_removes_its_containers_then_its_networks(fake_podman, monkeypatch, capsys):
    monkeypatch.delenv("RESILIENT_STACK_KEEP_HOSTS", raising=False)
    s = _session_with_things()
    with s:
        pass
    s.close()  # idempotent
    assert calls(fake_podman) == [f"rm -f -t 0 rs-{s.id}-web", f"network rm -f rs-{s.id}-net"]
    assert capsys.readouterr() == ("", "")


def test_a_network_interrupted_while_podman_creates_it_is_still_removed(fake_podman, monkeypatch):
    """Ctrl-C while `podman network create` runs: the client is killed, the network may exist; the session removes
    it (a drill's CI run left `rs-<id>-metadata` behind when the signal came at that moment)."""
    monkeypatch.delenv("RESILIENT_STACK_KEEP_HOSTS", raising=False)
    made = []

    def interrupted(name, **_kw):
        made.append(name)  # podman made it, then the signal came
        raise KeyboardInterrupt

    monkeypatch.setattr(podman, "create_network", interrupted)
    s = sessions.Session()
    with pytest.raises(KeyboardInterrupt):
        with s:
            s.create_network("metadata", subnet="198.18.9.0/24", internal=True)
    assert made == [f"rs-{s.id}-metadata"]
    assert calls(fake_podman) == [f"network rm -f rs-{s.id}-metadata"]


def test_a_session_removes_the_images_built_for_it_even_when_the_build_is_interrupted(fake_podman, monkeypatch):
    """The release tests and the drill build the example application as rs-<id>-app:TAG for their registry: the
    session owns those images (59 were left behind on a machine that ran the suite for a day)."""
    from resilient_stack.testing import registry

    monkeypatch.delenv("RESILIENT_STACK_KEEP_HOSTS", raising=False)
    real_run = podman._run

    def run(args, **kw):
        if args[:1] == ["build"]:
            raise KeyboardInterrupt  # Ctrl-C while podman builds it
        return real_run(args, **kw)

    monkeypatch.setattr(podman, "_run", run)
    s = sessions.Session()
    with pytest.raises(KeyboardInterrupt):
        with s:
            registry.build_app_image(f"localhost/rs-{s.id}-app:1.0.0", session=s)
    assert calls(fake_podman) == [f"image exists {registry.APP_BASE_IMAGE}", f"rmi -f localhost/rs-{s.id}-app:1.0.0"]


def test_a_ctrl_c_lost_in_a_finalizer_still_ends_the_session_interrupted(fake_podman, monkeypatch):
    """Issue 25: a drill sent SIGINT exited 0 (in the full suite, on a busy machine). Python runs a signal's handler
    wherever the main thread is, a finalizer (``__del__``) included, and drops an exception raised there ("Exception
    ignored in ..."): the KeyboardInterrupt was lost and the drill ran on. The session keeps the signal: its next
    check raises, and it ends interrupted after its cleanup even when nothing checked."""
    monkeypatch.delenv("RESILIENT_STACK_KEEP_HOSTS", raising=False)

    class Finalizer:
        def __del__(self):
            os.kill(os.getpid(), signal.SIGINT)  # the handler runs here, inside __del__
            time.sleep(0.2)

    s = sessions.Session()
    with pytest.raises(KeyboardInterrupt):
        with s:
            Finalizer()  # dropped at once: its __del__ swallows the KeyboardInterrupt
            time.sleep(0.05)
            assert s.interrupted == signal.SIGINT  # lost as an exception, kept by the session
            s.check()
    with pytest.raises(KeyboardInterrupt):
        with sessions.Session():  # nothing checks: the session itself ends interrupted
            Finalizer()
            time.sleep(0.05)
    assert signal.getsignal(signal.SIGINT) is not None


# -- the host image's build script (package data) -------------------------------------------------


def test_the_build_script_ships_with_the_package():
    script = podman.BUILD_SCRIPT
    assert script == Path(podman.__file__).resolve().parent / "data" / "build-host-image.sh"
    assert script.is_file() and script.stat().st_mode & stat.S_IXUSR
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert (
        podman.DEFAULT_IMAGE.endswith(":bookworm-8")
        and "localhost/resilient-stack-host:bookworm-8" in script.read_text()
    )


def test_the_repository_script_runs_the_packaged_one():
    wrapper = (ROOT / "scripts" / "build-host-image.sh").read_text()
    m = re.search(
        r'^exec bash "\$\(cd "\$\(dirname "\$\{BASH_SOURCE\[0\]\}"\)/\.\." && pwd\)/([^"]+)" "\$@"$', wrapper, re.M
    )
    assert m, wrapper
    assert (ROOT / m.group(1)).resolve() == podman.BUILD_SCRIPT


def test_the_build_script_passes_shellcheck():
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck is not installed (Debian package shellcheck; make tools)")
    for script in (podman.BUILD_SCRIPT, ROOT / "scripts" / "build-host-image.sh"):
        proc = subprocess.run([shellcheck, str(script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout
