"""scripts/install-pulumi-engine.sh chooses an engine: the pulumi on PATH (installing the plugin versions the stack
pins into its plugin cache), else the offline build, else it stops naming both ways out.

Each test runs the real script with a fake `pulumi` on PATH in a temp dir (a shell script answering `version`,
`plugin ls` and `plugin install` as pulumi does, and recording the calls) and a temp cache and vendor directory,
so nothing is downloaded or built: the Go toolchain is not on the test's PATH, and the vendored sources are absent.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ROOT, need_tool

SCRIPT = ROOT / "scripts" / "install-pulumi-engine.sh"
PINS = ("pulumi plugin install resource openstack v5.4.1", "pulumi plugin install resource random v4.19.1")

FAKE_PULUMI = r"""#!/bin/bash
# a fake pulumi: `version`, `plugin ls` (the state file), `plugin install resource NAME vVERSION` (recorded;
# it fails like an unreachable download site when FAKE_DOWNLOAD=unreachable)
echo "$*" >>"$FAKE_DIR/calls"
case "$1 ${2:-}" in
  "version ") echo "v${FAKE_VERSION:-3.274.1}" ;;
  "plugin ls")
    echo "NAME       KIND      VERSION  SIZE    INSTALLED  LAST USED"
    cat "$FAKE_DIR/plugins" 2>/dev/null ;;
  "plugin install")
    if [ "${FAKE_DOWNLOAD:-ok}" = unreachable ]; then
      echo "error: [resource plugin $4-$5] downloading from https://get.pulumi.com: dial tcp: no such host" >&2
      exit 255
    fi
    echo "$4  $3  ${5#v}  90 MB  1 second ago  1 second ago" >>"$FAKE_DIR/plugins" ;;
  *) echo "fake pulumi: unexpected: $*" >&2; exit 2 ;;
esac
"""


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def world(tmp_path):
    """A fake pulumi installed the usual way (with its language host and dynamic provider beside it)."""
    bin_dir = tmp_path / "pulumi" / "bin"
    bin_dir.mkdir(parents=True)
    _executable(bin_dir / "pulumi", FAKE_PULUMI)
    for helper in ("pulumi-language-python", "pulumi-resource-pulumi-python"):
        _executable(bin_dir / helper, "#!/bin/sh\nexit 0\n")
    (tmp_path / "vendor").mkdir()  # empty: no offline build possible
    return tmp_path


def run(world: Path, *args: str, pulumi: bool = True, **env: str) -> subprocess.CompletedProcess:
    system = [d for d in ("/usr/bin", "/bin") if Path(d).is_dir()]
    path = ([str(world / "pulumi" / "bin")] if pulumi else []) + system  # a go there is never reached: the missing
    # vendored sources stop the script before any build
    environ = {
        "PATH": os.pathsep.join(path),
        "HOME": str(world / "home"),
        "XDG_CACHE_HOME": str(world / "cache"),
        "RESILIENT_STACK_VENDOR": str(world / "vendor"),
        "FAKE_DIR": str(world),
        "LANG": "C.UTF-8",
        **env,
    }
    return subprocess.run(["bash", str(SCRIPT), *args], env=environ, capture_output=True, text=True, timeout=60)


def calls(world: Path) -> list[str]:
    f = world / "calls"
    return f.read_text().splitlines() if f.exists() else []


def test_a_pulumi_with_the_pinned_plugins_is_used_as_it_is(world):
    (world / "plugins").write_text("openstack  resource  5.4.1  90 MB\nrandom  resource  4.19.1  30 MB\n")
    r = run(world)
    assert r.returncode == 0, r.stderr
    assert f"using the installed pulumi v3.274.1 at {world}/pulumi/bin/pulumi" in r.stdout
    assert not [c for c in calls(world) if c.startswith("plugin install")]
    assert not (world / "cache" / "resilient-stack" / "engine").exists(), "nothing built, nothing cached"


def test_a_pulumi_without_them_installs_exactly_the_pinned_versions_into_its_plugin_cache(world):
    (world / "plugins").write_text("openstack  resource  5.3.0  90 MB\n")  # another version: not the pin
    r = run(world)
    assert r.returncode == 0, r.stderr
    assert [c for c in calls(world) if c.startswith("plugin install")] == [
        "plugin install resource openstack v5.4.1",
        "plugin install resource random v4.19.1",
    ]
    for command in PINS:
        assert f"+ {command}" in r.stdout
    assert "using the installed pulumi v3.274.1" in r.stdout
    assert not (world / "cache" / "resilient-stack" / "engine").exists()


def test_only_the_missing_plugin_is_installed(world):
    (world / "plugins").write_text("openstack  resource  5.4.1  90 MB\n")
    r = run(world)
    assert r.returncode == 0, r.stderr
    assert [c for c in calls(world) if c.startswith("plugin install")] == ["plugin install resource random v4.19.1"]


def test_no_download_site_and_no_vendored_sources_stops_at_once_naming_both_ways_out(world):
    r = run(world, FAKE_DOWNLOAD="unreachable")
    assert r.returncode == 1
    assert "downloading from https://get.pulumi.com" in r.stdout  # pulumi's own words, shown
    err = r.stderr
    assert "no usable Pulumi engine: 'pulumi plugin install' failed (is Pulumi's download site reachable?)." in err
    assert "Either give your pulumi the plugin versions the stack pins once Pulumi's download site" in err
    for command in PINS:
        assert f"[engine]   {command}" in err
    assert (
        f"missing here: pulumi-language-python-v3.259.0-main.go pulumi-openstack-v5.4.1-provider.tar.gz "
        f"pulumi-random-v4.19.1-provider.tar.gz in {world}/vendor" in err
    )
    assert "missing vendored source" not in err and "Go is required" not in err, "no build was started"
    assert not (world / "cache" / "resilient-stack" / "engine" / "v3.274.1" / "logs").exists()


def test_no_pulumi_at_all_says_how_to_get_one(world):
    r = run(world, pulumi=False)
    assert r.returncode == 1
    assert "no usable Pulumi engine: no pulumi on PATH." in r.stderr
    assert "install Pulumi the usual way (https://www.pulumi.com/docs/install/)" in r.stderr
    assert all(f"[engine]   {c}" in r.stderr for c in PINS)
    assert calls(world) == []


def test_an_old_pulumi_is_not_used_and_not_given_plugins(world):
    r = run(world, FAKE_VERSION="3.100.0")
    assert r.returncode == 1
    assert "not using the installed pulumi" in r.stdout and "version '3.100.0' is not v3.274 or newer 3.x" in r.stdout
    assert not [c for c in calls(world) if c.startswith("plugin")]


def test_a_pulumi_without_its_language_host_is_not_used(world):
    (world / "pulumi" / "bin" / "pulumi-language-python").unlink()
    r = run(world)
    assert r.returncode == 1 and "no pulumi-language-python beside it" in r.stdout


@pytest.mark.parametrize("download", ["ok", "unreachable"])
def test_make_venv_never_builds_and_never_fails(world, download):
    """`--no-build` (make venv): the installed pulumi gets its plugins when it can; otherwise the commands, exit 0."""
    r = run(world, "--no-build", FAKE_DOWNLOAD=download)
    assert r.returncode == 0, r.stderr
    assert [c for c in calls(world) if c.startswith("plugin install")] == [c.removeprefix("pulumi ") for c in PINS]
    if download == "ok":
        assert "using the installed pulumi" in r.stdout
    else:
        assert "no Pulumi engine for `pulumi preview/up` yet: when Pulumi's download site is reachable, run" in r.stdout
        assert all(f"[engine]   {c}" in r.stdout for c in PINS)
    assert not (world / "cache" / "resilient-stack" / "engine").exists()


def test_make_venv_without_pulumi_says_where_to_get_it(world):
    r = run(world, "--no-build", pulumi=False)
    assert (
        r.returncode == 0 and "(no pulumi on PATH). Install Pulumi (https://www.pulumi.com/docs/install/)" in r.stdout
    )


def test_the_engine_scripts_pass_shellcheck():
    shellcheck = shutil.which("shellcheck")
    need_tool(shellcheck is not None, "shellcheck missing: apt-get install shellcheck (make tools installs it)")
    scripts = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "scripts").glob("*.sh"))
    assert "scripts/install-pulumi-engine.sh" in scripts
    r = subprocess.run(
        [shellcheck, "--norc", "--severity=style", "-x", "--format=gcc", *scripts],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr


def _built_engine(world: Path) -> Path:
    """An engine built offline earlier (its cache complete), with a fake pulumi of the pinned version."""
    engine = world / "cache" / "resilient-stack" / "engine" / "v3.274.1"
    (engine / "bin").mkdir(parents=True)
    _executable(engine / "bin" / "pulumi", FAKE_PULUMI.replace("${FAKE_VERSION:-3.274.1}", "3.274.1"))  # built so
    for helper in ("pulumi-language-python", "pulumi-language-python-exec", "pulumi-resource-pulumi-python"):
        _executable(engine / "bin" / helper, "#!/bin/sh\nexit 0\n")
    for name, version in (("openstack", "5.4.1"), ("random", "4.19.1")):
        plugin = engine / "pulumi-home" / "plugins" / f"resource-{name}-v{version}"
        plugin.mkdir(parents=True)
        _executable(plugin / f"pulumi-resource-{name}", "#!/bin/sh\nexit 0\n")
    (world / "plugins").write_text("openstack  resource  5.4.1  90 MB\nrandom  resource  4.19.1  30 MB\n")
    return engine


@pytest.mark.parametrize("installed", ["none", "too old"])
def test_without_a_usable_pulumi_the_engine_built_offline_is_used_and_nothing_is_rebuilt(world, installed):
    """The offline path stays: with its pieces built (no vendored source needed then), it is verified, not rebuilt."""
    engine = _built_engine(world)
    r = run(world, pulumi=installed != "none", FAKE_VERSION="3.200.0" if installed == "too old" else "3.274.1")
    assert r.returncode == 0, r.stdout + r.stderr
    for piece in (
        "pulumi CLI: present",
        "python language host: present",
        "provider openstack v5.4.1: installed",
        "provider random v4.19.1: installed",
    ):
        assert f"[engine] {piece}" in r.stdout
    assert "[engine] ready: pulumi v3.274.1" in r.stdout and (engine / ".complete").is_file()
    assert not [c for c in calls(world) if c.startswith("plugin install")], "nothing installed, nothing built"
