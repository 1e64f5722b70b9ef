"""The package as a user installs it: a wheel built from the source tree, installed NON-editable into a fresh
venv, run from a directory outside the checkout. The drill must find its host image script and payloads in
the package and the user's stacks in the current directory, never in a git checkout.

The venv gets no copy of the dependencies: a ``.pth`` line points at the test interpreter's site-packages
(pydantic, pulumi, moto, ...), whose editable ``resilient_stack`` hook is not run from there (``.pth`` files
of a directory added by a ``.pth`` line are not processed), so ``resilient_stack`` is the installed wheel.
Building the wheel needs the build backend (setuptools, wheel) from the package registry, once per pip cache.
About 15 s; no podman.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.conftest import ROOT

SKIP = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis", "*.pyc"
)


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("installed")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=SKIP)
    proc = _run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp / "dist"), str(src)], cwd=tmp, env=env
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (wheel,) = (tmp / "dist").glob("resilient_stack-*.whl")
    venv = tmp / "venv"
    proc = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp, env=env)
    assert proc.returncode == 0, proc.stderr
    python = venv / "bin" / "python"
    proc = _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        cwd=tmp,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    site = Path(
        _run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp, env=env
        ).stdout.strip()
    )
    deps = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "_test_dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(src)  # nothing of the source tree is left to find
    return {"venv": venv, "python": python, "site": site, "cwd": elsewhere, "env": env}


def _py(installed: dict, code: str) -> str:
    proc = _run([str(installed["python"]), "-c", textwrap.dedent(code)], cwd=installed["cwd"], env=installed["env"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_the_package_is_the_installed_wheel_not_the_checkout(installed):
    where = _py(installed, "import resilient_stack, resilient_policies; print(resilient_stack.__file__)").strip()
    assert Path(where).is_relative_to(installed["site"]) and not Path(where).is_relative_to(ROOT)
    assert not (installed["site"] / "__editable___resilient_stack_0_1_0_finder.py").exists()


def test_every_file_of_the_package_is_installed(installed):
    """Modules, payloads and data: what the source tree holds under resilient_stack/ is in the installed package."""
    source = {
        p.relative_to(ROOT).as_posix(): p.read_bytes()
        for p in (ROOT / "resilient_stack").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }
    missing = [rel for rel in source if not (installed["site"] / rel).is_file()]
    assert not missing, f"not installed: {missing}"
    differ = [rel for rel, data in source.items() if (installed["site"] / rel).read_bytes() != data]
    assert not differ


def test_the_packaged_build_script_and_payloads_are_found(installed):
    out = json.loads(
        _py(
            installed,
            """
        import json
        from resilient_stack.testing import podman
        from resilient_stack.drills import cluster, load, topology
        from resilient_stack.hosts import payload
        print(json.dumps({
            "build_script": str(podman.BUILD_SCRIPT),
            "exists": podman.BUILD_SCRIPT.is_file(),
            "visitor": topology.visitor_user_data(),
            "s3": topology.s3_user_data(port=443, bucket="b-1", path_style=True),
            "script": load.visitor_script(),
            "probe": cluster._script(),
            "agent": payload.render("web/release_commands.py"),
        }))
    """,
        )
    )
    script = Path(out["build_script"])
    assert out["exists"] and script.is_relative_to(installed["site"])
    assert script.read_bytes() == (ROOT / "resilient_stack" / "testing" / "data" / "build-host-image.sh").read_bytes()
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert load_script_path() in out["visitor"] and "listen 443 ssl" in out["s3"]
    data = ROOT / "resilient_stack" / "drills" / "data"
    assert out["script"] == (data / "visitor.sh").read_text() and out["probe"] == (data / "probe.sh").read_text()
    assert out["agent"] == (ROOT / "resilient_stack" / "hosts" / "payloads" / "web" / "release_commands.py").read_text()


def load_script_path() -> str:
    from resilient_stack.drills.load import VISITOR

    return VISITOR


def _cli(installed: dict, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return _run(
        [str(installed["venv"] / "bin" / "resilient-stack"), *args],
        cwd=cwd or installed["cwd"],
        env=installed["env"],
        timeout=300,
    )


def test_a_missing_stack_is_one_line_naming_where_it_was_looked_up(installed):
    proc = _cli(installed, "firedrill", "nosuchstack")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == (
        "resilient-stack: error: nosuchstack: no stack file ./stacks/Pulumi.nosuchstack.yaml in "
        "the current directory (a stack name is looked up there; or give the path of a "
        "Pulumi.<stack>.yaml file)\n"
    )
    # the shipped stacks are the checkout's, not the package's: by name, they are not found from elsewhere
    proc = _cli(installed, "firedrill", "production")
    assert proc.returncode == 2 and "no stack file ./stacks/Pulumi.production.yaml" in proc.stderr


def test_the_user_s_stack_is_built_from_the_current_directory(installed, tmp_path):
    """The plan (mocked deployment, catalog, paper drill) is made by the installed package from ./stacks."""
    (tmp_path / "stacks").mkdir()
    shutil.copy(ROOT / "stacks" / "Pulumi.production.yaml", tmp_path / "stacks" / "Pulumi.production.yaml")
    proc = _cli(installed, "firedrill", "production", "--site", "atlantis", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stderr.startswith(
        "resilient-stack: error: stacks/Pulumi.production.yaml: --site 'atlantis' matches "
        "no site of the stack; choose one of: ovh-gravelines"
    )
