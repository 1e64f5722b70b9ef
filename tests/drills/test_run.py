"""resilient_stack.drills.run and `resilient-stack firedrill` before any container: stack names, --site,
missing tools; every problem is one line on stderr, exit 2, nothing on stdout."""

from __future__ import annotations

import re

import pytest

from resilient_stack.drills import run as drill_run
from resilient_stack.io.errors import InputError
from resilient_stack.testing import podman

from ..conftest import ROOT, run_cli


def _one_line_error(proc) -> str:
    err = proc.stderr.decode()
    assert proc.stdout == b""
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_cli_unknown_stack_is_one_line_exit_2():
    proc = run_cli("firedrill", "nosuchstack")
    assert proc.returncode == 2
    assert "nosuchstack: no stack file ./stacks/Pulumi.nosuchstack.yaml in the current directory" in _one_line_error(
        proc
    )


def test_cli_stack_names_are_looked_up_in_the_current_directory(tmp_path):
    proc = run_cli("firedrill", "production", cwd=tmp_path)
    assert proc.returncode == 2
    assert "production: no stack file ./stacks/Pulumi.production.yaml in the current directory" in _one_line_error(proc)


def test_cli_unknown_site_is_one_line_exit_2():
    proc = run_cli("firedrill", "production", "--site", "atlantis", "--quiet")
    assert proc.returncode == 2
    assert re.search(r"--site 'atlantis' matches no site", _one_line_error(proc))


def test_cli_stack_file_with_a_documentation_range_is_one_line_exit_2(tmp_path):
    """The configuration's refusals reach a user of the command line as every input error does."""
    (tmp_path / "stacks").mkdir()
    text = (ROOT / "stacks" / "Pulumi.staging.yaml").read_text()
    text = text.replace("resilient-stack:adminCidrs: []", "resilient-stack:adminCidrs: [203.0.113.0/24]")
    (tmp_path / "stacks" / "Pulumi.shop.yaml").write_text(text)
    proc = run_cli("firedrill", "shop", "--quiet", cwd=tmp_path)
    assert proc.returncode == 2
    assert _one_line_error(proc).startswith(
        "resilient-stack: error: stacks/Pulumi.shop.yaml: resilient-stack:adminCidrs: '203.0.113.0/24' is in or "
        "overlaps 203.0.113.0/24 (RFC 5737), a range reserved for documentation"
    )


def test_cli_site_and_all_sites_exclude_each_other():
    proc = run_cli("firedrill", "production", "--site", "gra", "--all-sites")
    assert proc.returncode == 2 and b"not allowed with" in proc.stderr
    proc = run_cli("firedrill", "production", "--restore", "--all-sites")
    assert proc.returncode == 2 and b"not allowed with" in proc.stderr


def test_without_podman_the_error_names_the_packaged_build_script(monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(podman, "podman_available", lambda: False)
    with pytest.raises(InputError) as err:
        drill_run.run("production")
    msg = str(err.value)
    assert msg.startswith("stacks/Pulumi.production.yaml: podman is not available")
    assert f"sudo bash {podman.BUILD_SCRIPT}" in msg and "\n" not in msg


@pytest.mark.parametrize(
    ("kw", "want"),
    [
        ({}, [(None, "fire")]),
        ({"fault": "pause,partition,fire"}, [(None, "pause"), (None, "partition"), (None, "fire")]),
        ({"site": "waw", "fault": "partition"}, [("ovh-warsaw", "partition")]),
        (  # every site burned in turn, then the other faults on the primary's site of their moment: one boot
            {"all_sites": True, "fault": "fire,pause,partition,fire"},
            [
                ("infomaniak-geneva", "fire"),
                ("ovh-gravelines", "fire"),
                ("ovh-limburg", "fire"),
                ("ovh-warsaw", "fire"),
                (None, "pause"),
                (None, "partition"),
                (None, "fire"),
            ],
        ),
        ({"fault": "pause", "repeat": 2}, [(None, "pause"), (None, "pause")]),
    ],
)
def test_the_scenarios_of_one_boot(monkeypatch, kw, want):
    monkeypatch.chdir(ROOT)
    seen: list = []
    monkeypatch.setattr(podman, "podman_available", lambda: True)
    monkeypatch.setattr(podman, "ensure_image", lambda *a: None)
    monkeypatch.setattr(drill_run, "moto_site", lambda: None)
    monkeypatch.setattr(drill_run, "run_drill", lambda plan, scenarios, **_: seen.extend(scenarios) or [])
    drill_run.run("production", **kw)
    assert seen == want


def test_several_faults_on_one_named_site_are_refused():
    with pytest.raises(InputError, match="several faults strike the primary's site of each moment: no --site"):
        drill_run.run(str(ROOT / "stacks" / "Pulumi.production.yaml"), site="waw", fault="pause,fire")
