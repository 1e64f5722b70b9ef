"""The auditor's OCI image and the CI templates that run it (issue 26, point 8).

The image is built from this checkout by scripts/build-auditor-image.sh (Debian bookworm's debootstrap base, the
project's wheels; about 30 s, nothing when the sources are unchanged) and run with podman as a user runs it. Each
CI template runs as its CI would run it: the GitHub Actions step's ``run`` script under ``bash -e`` (GitHub's
default shell) with the workflow's variables pointed at the local image; the GitLab job's ``script`` lines under
``sh -e`` inside the image (the job's ``image``), in a project directory writable by all (the runner's umask).
Needs podman and the host image's base (scripts/build-host-image.sh, as root); FAILS without them when
RESILIENT_STACK_REQUIRE_TOOLS=1.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from resilient_stack import __version__
from tests.conftest import ROOT, need_tool

pytestmark = [pytest.mark.podman, pytest.mark.beside_live]  # an image and --network none runs
TEMPLATES = ROOT / "examples" / "ci"
DESIGNS = ("production.design.yaml", "sbg2021.design.yaml")


@pytest.fixture(scope="module")
def image() -> str:
    need_tool(shutil.which("podman") is not None and os.geteuid() == 0, "rootful podman (run as root)")
    r = subprocess.run(
        ["bash", str(ROOT / "scripts/build-auditor-image.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1]


@pytest.fixture
def workspace(tmp_path) -> Path:
    """A repository checkout as a CI runner has it: the two example designs under examples/."""
    ws = tmp_path / "repo"
    (ws / "examples").mkdir(parents=True)
    for name in DESIGNS:
        shutil.copy(ROOT / "examples" / name, ws / "examples" / name)
    return ws


def test_the_image_runs_the_auditor_as_a_user_runs_it(image, workspace):
    assert image == f"localhost/resilient-stack-auditor:{__version__}"
    run = ["podman", "run", "--rm", "--network", "none", "-v", f"{workspace}:/work:ro", image]
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, timeout=120)
    assert version.stdout.strip() == f"resilient-stack {__version__}", version.stderr
    good = subprocess.run(
        [*run, "audit", "examples/production.design.yaml"], capture_output=True, text=True, timeout=120
    )
    assert good.returncode == 0 and "verdict: PASS" in good.stdout, good.stdout + good.stderr
    bad = subprocess.run(
        [*run, "audit", "examples/sbg2021.design.yaml", "--format", "json"], capture_output=True, text=True, timeout=120
    )
    assert bad.returncode == 1 and json.loads(bad.stdout)["verdict"] == "fail", bad.stderr
    user = subprocess.run(
        ["podman", "image", "inspect", image, "--format", "{{.Config.User}}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert user.stdout.strip() == "10001"  # never root
    # the same reports as the checkout's auditor, byte for byte (the time fixed)
    fixed = ["-e", "SOURCE_DATE_EPOCH=1765000000"]
    inside = subprocess.run(
        [*run[:-1], *fixed, image, "audit", "examples/sbg2021.design.yaml", "--format", "sarif"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    here = subprocess.run(
        [sys.executable, "-m", "resilient_stack", "audit", "examples/sbg2021.design.yaml", "--format", "sarif"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=workspace,
        env={**os.environ, "SOURCE_DATE_EPOCH": "1765000000"},
    )
    assert inside.stdout == here.stdout


@pytest.mark.parametrize("design,code", [("production.design.yaml", 0), ("sbg2021.design.yaml", 1)])
def test_the_github_actions_step_uploads_sarif_and_fails_on_a_mandatory_finding(image, workspace, design, code):
    workflow = yaml.safe_load((TEMPLATES / "github-actions.yml").read_text())
    steps = workflow["jobs"]["audit"]["steps"]
    audit = next(s for s in steps if s.get("id") == "audit")
    upload = next(s for s in steps if "upload-sarif" in s.get("uses", ""))
    assert upload["if"] == "always()" and upload["with"]["sarif_file"] == "resilient-stack.sarif"
    assert workflow["permissions"]["security-events"] == "write"
    env = {
        **os.environ,
        **workflow["env"],
        "RESILIENT_STACK_IMAGE": image,
        "RESILIENT_STACK_INPUTS": f"examples/{design}",
        "GITHUB_WORKSPACE": str(workspace),
    }
    r = subprocess.run(
        ["bash", "-e", "-c", audit["run"]], cwd=workspace, env=env, capture_output=True, text=True, timeout=300
    )
    assert r.returncode == code, r.stderr
    sarif = json.loads((workspace / "resilient-stack.sarif").read_text())
    results = sarif["runs"][0]["results"]
    assert any(res["level"] == "error" for res in results) == bool(code)
    for res in results:
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == f"examples/{design}" and loc["region"]["startLine"] >= 1


@pytest.mark.parametrize("design,code", [("production.design.yaml", 0), ("sbg2021.design.yaml", 1)])
def test_the_gitlab_job_writes_both_reports_and_fails_on_a_mandatory_finding(image, workspace, design, code):
    ci = yaml.safe_load((TEMPLATES / "gitlab-ci.yml").read_text())
    job = ci["resilient_stack_audit"]
    assert job["image"]["entrypoint"] == [""] and job["artifacts"]["when"] == "always"
    reports = job["artifacts"]["reports"]
    workspace.chmod(0o777)  # the runner's umask 0000
    script = "\n".join(job["script"])
    r = subprocess.run(
        [
            "podman",
            "run",
            "--rm",
            "--network",
            "none",
            "--entrypoint",
            "sh",
            "-v",
            f"{workspace}:/builds/project",
            "-w",
            "/builds/project",
            "-e",
            f"RESILIENT_STACK_INPUTS=examples/{design}",
            image,
            "-e",
            "-c",
            script,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == code, r.stderr
    quality = json.loads((workspace / reports["codequality"]).read_text())
    sast = json.loads((workspace / reports["sast"]).read_text())
    assert sast["scan"]["type"] == "sast" and isinstance(quality, list)
    assert {v["location"]["file"] for v in sast["vulnerabilities"]} <= {f"examples/{design}"}
    assert {i["location"]["path"] for i in quality} <= {f"examples/{design}"}
    if code:
        assert any(v["severity"] == "High" for v in sast["vulnerabilities"])
        assert any(i["severity"] == "critical" for i in quality)
