"""The host firewall, the metadata guard and the security updates (issue 17, points 4 and 5): the rendering."""

from __future__ import annotations

import pytest

from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts import firewall, paths, runtime, upgrades
from tests.hosts.samples import MEMBERS, WEB_IPS, files, load, member, served, sync_module, web, web_app


def test_every_role_loads_the_firewall_before_its_services():
    for doc in (load(member()), load(member(name="db-waw")), load(web()), load(web_app())):
        fs = files(doc)
        conf = fs[firewall.CONF]
        assert "defer" not in conf, "written before the packages: nftables.service finds it"
        assert "nftables" in doc["packages"] and "unattended-upgrades" in doc["packages"]
        assert doc["runcmd"][2:4] == [["systemctl", "enable", "nftables"], ["systemctl", "restart", "nftables"]]
        assert (
            doc["runcmd"][-1] == ["systemctl", "enable", "--now", "resilient-stack-sync.timer"]
            or ["systemctl", "enable", "--now", "resilient-stack-sync.timer"] in doc["runcmd"]
        )
        assert fs[firewall.SETS_FILE]["permissions"] == "0600"
        assert f'include "{firewall.SETS_FILE}"' in conf["content"]
        assert "policy drop;" in conf["content"]


def test_a_web_host_opens_http_to_all_and_ssh_to_the_admins():
    conf = files(load(web(admin_cidrs=["198.51.100.0/24", "2001:db8:1::/48"])))
    text = conf[firewall.CONF]["content"]
    assert "tcp dport { 80, 443 } accept" in text and "5432" not in text and "2380" not in text
    assert conf[firewall.SETS_FILE]["content"] == (
        "flush set inet resilient_stack admin4\nadd element inet resilient_stack admin4 { 198.51.100.0/24 }\n"
        "flush set inet resilient_stack admin6\nadd element inet resilient_stack admin6 { 2001:db8:1::/48 }\n"
    )


def test_a_member_admits_the_cluster_ports_from_the_members_and_postgres_from_the_apps():
    fs = files(load(member(app_cidrs=[f"{ip}/32" for ip in WEB_IPS], replication_cidrs=["192.0.2.0/24"])))
    text = fs[firewall.CONF]["content"]
    assert "tcp dport { 2379, 2380, 5432, 8008 } ip saddr @members4 accept" in text  # as nft lists it
    assert "tcp dport { 2379, 2380, 5432, 8008 } ip6 saddr @members6 accept" in text
    assert "tcp dport 5432 ip saddr @app4 accept" in text and "tcp dport 5432 ip saddr @replication4 accept" in text
    assert "80, 443" not in text and "tcp dport 22 accept" not in text
    sets = fs[firewall.SETS_FILE]["content"]
    assert "add element inet resilient_stack members4 { 203.0.113.10/32, 198.51.100.20/32 }" in sets
    assert "add element inet resilient_stack members6 { 2001:db8::30/128 }" in sets
    assert "add element inet resilient_stack app4 { 203.0.113.40/32, 198.51.100.41/32 }" in sets
    assert "add element inet resilient_stack replication4 { 192.0.2.0/24 }" in sets
    assert "admin4 {" not in sets, "no admin network: SSH closed"


def test_the_metadata_service_is_for_root_only_from_the_first_instant():
    doc = load(member())
    guard = doc["bootcmd"][0][2]
    for rule in ("ip daddr 169.254.169.254 meta skuid != 0 reject", "ip6 daddr fe80::a9fe:a9fe meta skuid != 0 reject"):
        assert rule in guard and rule in files(doc)[firewall.CONF]["content"]
    assert guard.startswith("command -v nft >/dev/null 2>&1 || exit 0\n")


def test_the_sync_writes_the_sets_as_the_user_data_does(tmp_path):
    """One text for the sets: the first boot's file and the sync's comparison agree (no needless reload)."""
    fs = files(load(member()))
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    assert module.FIREWALL_TABLE == firewall.TABLE and module.FIREWALL_SETS_FILE == firewall.SETS_FILE
    doc = ci.db_runtime(members=MEMBERS, app_cidrs=[f"{ip}/32" for ip in WEB_IPS])
    assert module.firewall_sets_text(doc["firewall"]) == fs[firewall.SETS_FILE]["content"]
    assert module.firewall_sets_text(doc["firewall"]) == firewall.sets_text(doc["firewall"])
    assert runtime.decode(runtime.encode(doc)) == doc


@pytest.mark.parametrize("database", [True, False])
def test_security_updates_only_and_the_cluster_held(database):
    fs = files(load(member() if database else web()))
    assert 'APT::Periodic::Unattended-Upgrade "1";' in fs[upgrades.AUTO]["content"]
    policy = fs[upgrades.POLICY]["content"]
    assert '"origin=Debian,codename=${distro_codename}-security,label=Debian-Security";' in policy
    assert ("Package-Blacklist" in policy) is database
    if database:
        for held in ('"postgresql-";', '"patroni";', '"etcd-";'):
            assert held in policy
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in policy


def test_no_hsts_with_a_self_signed_certificate(tmp_path):
    site = served(load(web(https=True)), tmp_path)["site"]
    assert "ssl-cert-snakeoil" in site and "Strict-Transport-Security" not in site and "add_header" in site
