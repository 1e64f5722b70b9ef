"""Tests of resilient_stack.hosts.document: the #cloud-config around the payloads."""

from __future__ import annotations

import yaml

from resilient_stack.hosts import document


def test_dump_is_readable_and_reads_back():
    doc = {"packages": ["nginx"], "write_files": [document.write_file("/x", "line 1\nline 2 $x %i\n")]}
    text = document.dump(doc)
    assert text.startswith("#cloud-config\n")
    assert "  content: |\n    line 1\n    line 2 $x %i\n" in text, "multi-line content as a literal block"
    assert yaml.safe_load(text) == doc


def test_write_file_flags_only_when_set():
    assert document.write_file("/p", "c") == {"path": "/p", "content": "c", "owner": "root:root", "permissions": "0644"}
    entry = document.write_file("/p", "c", permissions="0600", owner="postgres:postgres", defer=True, append=True)
    assert list(entry) == ["path", "content", "owner", "permissions", "append", "defer"]


def test_base_keys_in_a_fixed_order():
    doc = document.base(packages=("nginx",), hostname="web-1", package_update=True, package_upgrade=False)
    assert list(doc) == [
        "hostname",
        "preserve_hostname",
        "ssh_pwauth",
        "disable_root",
        "package_update",
        "package_upgrade",
        "packages",
    ]
    bare = document.base(packages=(), hostname=None, package_update=False, package_upgrade=False)
    assert "hostname" not in bare and bare["packages"] == []


def test_every_role_starts_runcmd_failing_fast_and_checks_sshd():
    first, sshd = document.ssh_runcmd()
    assert first == "set -eu" and sshd[:2] == ["sh", "-c"] and sshd[2].startswith("sshd -t && ")
    assert document.ssh_hardening()["path"] == "/etc/ssh/sshd_config.d/00-resilient-stack.conf"
    # a user's keys are read from the one root-owned file root's sync writes: ~/.ssh/authorized_keys is not read
    assert "\nAuthorizedKeysFile /etc/ssh/authorized_keys/%u\n" in document.ssh_hardening()["content"]
