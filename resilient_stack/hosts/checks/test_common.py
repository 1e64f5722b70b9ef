"""Checks every resilient_stack host passes, whatever its role."""

import pytest

pytestmark = pytest.mark.role("web", "db-primary", "db-replica")


def test_cloud_init_finished_without_error(root):
    out = root.run("cloud-init status --long")
    assert "status: done" in out.stdout, out.stdout + out.stderr


def test_sshd_refuses_passwords_and_root(root):
    cfg = dict(
        line.split(" ", 1) for line in root.check_output("sshd -T").splitlines() if " " in line
    )
    assert cfg.get("passwordauthentication") == "no"
    assert cfg.get("kbdinteractiveauthentication") == "no"
    assert cfg.get("permitrootlogin") == "no"


def test_sshd_running(host):
    assert host.service("ssh").is_running
