"""Checks every resilient_stack host passes, whatever its role."""

import pytest

pytestmark = pytest.mark.role("web", "db-primary", "db-replica")


def test_cloud_init_finished_without_error(root):
    out = root.run("cloud-init status --long")
    assert "status: done" in out.stdout, out.stdout + out.stderr


def test_sshd_refuses_passwords_and_root(root):
    cfg = dict(line.split(" ", 1) for line in root.check_output("sshd -T").splitlines() if " " in line)
    assert cfg.get("passwordauthentication") == "no"
    assert cfg.get("kbdinteractiveauthentication") == "no"
    assert cfg.get("permitrootlogin") == "no"


def test_sshd_running(host):
    assert host.service("ssh").is_running


def test_the_host_firewall_is_loaded_and_enabled(root, host, role):
    """nftables: the input chain drops what no rule admits; SSH only from the admin sets; the role's ports."""
    assert host.service("nftables").is_enabled
    ruleset = root.check_output("nft list table inet resilient_stack")
    assert "hook input priority filter; policy drop;" in ruleset, ruleset
    assert "tcp dport 22 ip saddr @admin4 accept" in ruleset
    if role == "web":
        assert "tcp dport { 80, 443 } accept" in ruleset
        assert "5432" not in ruleset
    else:
        assert "tcp dport { 2379, 2380, 5432, 8008 } ip saddr @members4 accept" in ruleset
        assert "tcp dport 5432 ip saddr @app4 accept" in ruleset
        assert "tcp dport { 80, 443 }" not in ruleset  # no web port on a database host
    assert "tcp dport 22 accept" not in ruleset and "policy accept" in ruleset  # only the output chain accepts


def test_the_metadata_service_is_for_root_only(root):
    """The user data holds secrets: the metadata service answers root only (the rules, at every boot)."""
    ruleset = root.check_output("nft list ruleset")
    for guard in (
        "ip daddr 169.254.169.254 meta skuid != 0 reject",
        "ip6 daddr fe80::a9fe:a9fe meta skuid != 0 reject",
    ):
        assert guard in ruleset, ruleset
    assert "rs_metadata_guard" in ruleset, "bootcmd installs the guard before anything else at every boot"


def test_security_updates_are_installed_automatically(root, host, role):
    assert host.package("unattended-upgrades").is_installed
    auto = root.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    assert 'APT::Periodic::Unattended-Upgrade "1";' in auto and 'APT::Periodic::Update-Package-Lists "1";' in auto
    policy = root.file("/etc/apt/apt.conf.d/52resilient-stack-upgrades").content_string
    assert "label=Debian-Security" in policy
    assert ("Package-Blacklist" in policy) == (role != "web"), "the cluster's packages wait for an operator"
    assert host.service("apt-daily-upgrade.timer").is_enabled


def test_the_runtime_configuration_sync_is_scheduled(root, host):
    assert host.service("resilient-stack-sync.timer").is_enabled
    assert root.file("/usr/local/sbin/resilient-stack-sync").mode == 0o755
