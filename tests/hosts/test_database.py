"""Tests of resilient_stack.hosts.database: a database member's user data (PostgreSQL under Patroni, one etcd
member), and its validation entry point (no secret, no address needed)."""

from __future__ import annotations

import pytest
import yaml

from resilient_stack.core.vocabulary import HOST_ROLE_FILE
from resilient_stack.hosts import paths
from resilient_stack.hosts.cluster import ClusterMember
from resilient_stack.hosts.database import validate_db_member
from tests.hosts.samples import (
    API_PW,
    APP_PW,
    BACKUP,
    MEMBERS,
    REPL_PW,
    REWIND_PW,
    WEB_IPS,
    files,
    load,
    member,
    runcmd_text,
)


def patroni(doc: dict) -> dict:
    f = files(doc)[paths.PATRONI_CONF]
    assert (f["owner"], f["permissions"], f["defer"]) == ("postgres:postgres", "0600", True)
    return yaml.safe_load(f["content"])


def test_every_member_gets_postgres_patroni_and_etcd():
    for name in ("db-gra", "db-waw", "db-ik"):
        doc = load(member(name=name))
        assert doc["packages"] == ["postgresql-15", "ssl-cert", "patroni", "etcd-server", "etcd-client",
                                   "python3-psycopg2", "pgbackrest", "nftables", "unattended-upgrades"]
        assert doc["hostname"] == name
        fs = files(doc)
        env = fs[paths.ETCD_ENV]
        # written before the packages are installed (no defer): the package's unit starts with it
        assert "defer" not in env and env["permissions"] == "0644"
        assert f"ETCD_NAME={name}\n" in env["content"]
        assert "ETCD_INITIAL_CLUSTER=db-gra=https://203.0.113.10:2380,db-waw=https://198.51.100.20:2380," \
               "db-ik=https://[2001:db8::30]:2380\n" in env["content"]
        assert "ETCD_LISTEN_CLIENT_URLS=http://127.0.0.1:2379\n" in env["content"], "the client port stays on loopback"
        assert "ETCD_PEER_AUTO_TLS=true\n" in env["content"] and "ETCD_INITIAL_CLUSTER_TOKEN=shop-etcd\n" in env["content"]
        assert "Restart=always" in fs["/etc/systemd/system/etcd.service.d/resilient-stack.conf"]["content"]
        assert "After=etcd.service" in fs["/etc/systemd/system/patroni.service.d/resilient-stack.conf"]["content"]
        config = patroni(doc)
        assert config["scope"] == "shop" and config["name"] == name
        assert config["etcd3"] == {"hosts": ["127.0.0.1:2379"]}
        # the data volume first, then the runtime configuration from the metadata, then the cluster
        # the firewall first, the data volume, then the runtime configuration from the metadata, then the cluster
        assert doc["runcmd"][2:8] == [["systemctl", "enable", "nftables"], ["systemctl", "restart", "nftables"],
                                      ["systemctl", "daemon-reload"], [paths.DATA_VOLUME_SCRIPT],
                                      [paths.SYNC_SCRIPT, "--boot"], [paths.DB_START_SCRIPT]]
        assert ["systemctl", "enable", "--now", "resilient-stack-sync.timer"] in doc["runcmd"]
        assert fs[paths.CLUSTER_HELPER]["permissions"] == "0755"


def test_the_patroni_configuration():
    config = patroni(load(member(name="db-ik")))
    me = "[2001:db8::30]"
    assert config["restapi"]["connect_address"] == f"{me}:8008"
    assert config["restapi"]["authentication"] == {"username": "patroni", "password": API_PW}
    assert config["restapi"]["certfile"] == paths.SNAKEOIL_CERT and config["ctl"] == {"insecure": True}
    pg = config["postgresql"]
    assert pg["connect_address"] == f"{me}:5432" and pg["data_dir"] == paths.PG_DATA
    assert pg["config_dir"] == "/etc/postgresql/15/main" and pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
    auth = pg["authentication"]
    assert auth["superuser"] == {"username": "postgres"}, "no password: the Unix socket, peer authentication"
    assert auth["replication"] == {"username": "replicator", "password": REPL_PW, "sslmode": "require",
                                   "channel_binding": "require"}
    assert auth["rewind"]["password"] == REWIND_PW and auth["rewind"]["channel_binding"] == "require"
    assert pg["parameters"]["ssl"] == "on"
    assert pg["recovery_conf"] == {"restore_command": 'pgbackrest --stanza=main archive-get %f "%p"'}
    dcs = config["bootstrap"]["dcs"]
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"], "a lost primary demotes before the ttl expires"
    assert dcs["postgresql"]["use_pg_rewind"] is True and dcs["postgresql"]["use_slots"] is True
    params = dcs["postgresql"]["parameters"]
    assert params["wal_log_hints"] == "on" and params["archive_command"] == "pgbackrest --stanza=main archive-push %p"
    assert "data-checksums" in config["bootstrap"]["initdb"]
    assert config["bootstrap"]["post_bootstrap"] == paths.DB_INIT_SCRIPT


def test_pg_hba_admits_the_members_and_the_web_hosts_only():
    rules = patroni(load(member()))["postgresql"]["pg_hba"]
    assert rules[:3] == ["local all postgres peer", "local all all peer",
                         "hostssl replication replicator 127.0.0.1/32 scram-sha-256"]
    remote = rules[3:]
    for m, net in zip(MEMBERS, ("203.0.113.10/32", "198.51.100.20/32", "2001:db8::30/128")):
        assert f"hostssl replication replicator {net} scram-sha-256" in remote, m
        assert f"hostssl postgres patroni_rewind {net} scram-sha-256" in remote, m
    for ip in WEB_IPS:
        assert f"hostssl app app {ip}/32 scram-sha-256" in remote
    assert len(remote) == 2 * len(MEMBERS) + len(WEB_IPS)
    assert all(r.startswith("hostssl ") and r.endswith(" scram-sha-256") for r in remote)


def test_replication_cidrs_are_extras():
    rules = patroni(load(member(replication_cidrs=["192.0.2.0/24"], app_cidrs=[])))["postgresql"]["pg_hba"]
    assert "hostssl replication replicator 192.0.2.0/24 scram-sha-256" in rules
    assert not [r for r in rules if " app app " in r], "app_cidrs=[] admits no application"


def test_the_bootstrap_member_initialises_the_cluster():
    doc = load(member())
    fs = files(doc)
    f = fs[paths.APP_PASSWORD_FILE]
    assert f["content"] == APP_PW and (f["permissions"], f["owner"], f["defer"]) == ("0600", "postgres:postgres", True)
    sql = fs[paths.DB_INIT_SQL]["content"]
    assert f"`cat {paths.APP_PASSWORD_FILE}`" in sql and "PASSWORD :'app_password'" in sql
    assert "CREATE DATABASE app OWNER app" in sql and f"CREATE TABLE IF NOT EXISTS {paths.APP_TABLE} (" in sql
    assert "WITH LOGIN REPLICATION" not in sql, "Patroni creates the replication role itself"
    assert 'psql -X -q -v ON_ERROR_STOP=1 -d "$1"' in fs[paths.DB_INIT_SCRIPT]["content"]
    start = fs[paths.DB_START_SCRIPT]["content"]
    assert "ROLE=\"bootstrap\"\n" in start and "INITIALIZE=/service/shop/initialize\n" in start
    assert fs[HOST_ROLE_FILE]["content"] == "db-primary\n"
    assert paths.BACKUP_INIT_SCRIPT not in runcmd_text(doc), "the boot never waits for the backup repository"


def test_a_joining_member_waits_for_the_cluster_and_gets_no_app_password():
    doc = load(member(name="db-waw"))
    fs = files(doc)
    assert "ROLE=\"join\"\n" in fs[paths.DB_START_SCRIPT]["content"]
    assert paths.APP_PASSWORD_FILE not in fs and paths.DB_INIT_SQL not in fs
    assert APP_PW not in member(name="db-waw")
    assert fs[HOST_ROLE_FILE]["content"] == "db-replica\n"
    assert paths.BACKUP_INIT_SCRIPT not in runcmd_text(doc)
    with pytest.raises(ValueError, match="app_password goes to the bootstrap member only"):
        member(name="db-waw", app_password=APP_PW)


def test_the_first_boot_keeps_a_data_directory_patroni_managed():
    start = files(load(member()))[paths.DB_START_SCRIPT]["content"]
    assert 'if [ -e "$DATA/patroni.dynamic.json" ]; then' in start
    assert 'find "$DATA" -mindepth 1 -delete' in start, "the data directory stays (a mount point)"
    assert "echo manual > /etc/postgresql/15/main/start.conf" in start


def test_custom_identifiers_reach_sql_and_hba():
    doc = load(member(replication_user="repl", app_user="shop", app_db="shop_db", backup=None))
    sql = files(doc)[paths.DB_INIT_SQL]["content"]
    assert "CREATE DATABASE shop_db OWNER shop" in sql and "GRANT ALL ON DATABASE shop_db TO shop;" in sql
    rules = patroni(doc)["postgresql"]["pg_hba"]
    assert "hostssl shop_db shop 203.0.113.40/32 scram-sha-256" in rules
    assert "hostssl replication repl 203.0.113.10/32 scram-sha-256" in rules
    assert patroni(doc)["bootstrap"]["dcs"]["postgresql"]["parameters"]["archive_mode"] == "off"


# --------------------------------------------------------------------------------------------------
# bad input, and the validation entry point
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: member(name="db-x"), "this host 'db-x' is not among them"),
        (lambda: member(members=[]), "members must list every database host"),
        (lambda: member(members=MEMBERS + [ClusterMember("db-gra", "192.0.2.9")]), "a host name appears twice"),
        (lambda: member(members=MEMBERS + [ClusterMember("db-x", "203.0.113.10")]), "an address appears twice"),
        (lambda: member(members=[*MEMBERS[:2], ClusterMember("db-ik", "127.0.0.1")]), "other hosts cannot reach"),
        (lambda: member(members=[*MEMBERS[:2], ClusterMember("db-ik", "db; rm")]), "is not an IP address"),
        (lambda: member(members=[*MEMBERS[:2], ClusterMember("db ik", "192.0.2.1")]), "single DNS label"),
        (lambda: member(scope="Shop"), "scope must be a lower-case DNS label"),
        (lambda: member(app_cidrs=["0.0.0.0/0"]), "whole Internet"),
        (lambda: member(app_cidrs=["10.0.0.1"]), "has no prefix length"),
        (lambda: member(replication_cidrs=["::/0"]), "whole Internet"),
        (lambda: member(replication_password="short"), "replication_password must be at least 12"),
        (lambda: member(api_password="a-long-password\nx"), "api_password must not contain control"),
        (lambda: member(rewind_password=REPL_PW), "the passwords must all differ"),
        (lambda: member(app_password=None), "app_password must be a string"),
        (lambda: member(app_user="App-User"), "app_user must be a lower-case SQL identifier"),
        (lambda: member(replication_user="app"), "must differ from each other and from patroni_rewind"),
        (lambda: member(app_user="patroni_rewind"), "must differ from each other and from patroni_rewind"),
        (lambda: member(backup="s3://bucket"), "backup must be a BackupTarget"),
        (lambda: member(backup=BACKUP.repository), "backup must be a BackupTarget or None, got BackupRepository"),
        (lambda: member(backup_full_calendar="daily; reboot"), "backup_full_calendar must be a systemd OnCalendar"),
        (lambda: member(max_wal_senders=1), "max_wal_senders must be an int in 2..100"),
        (lambda: member(bootstrap="yes"), "bootstrap must be a bool"),
    ],
)
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


NAMELESS = [ClusterMember(m.name, None) for m in MEMBERS]  # type: ignore[arg-type]
SETTINGS = dict(name="db-gra", members=NAMELESS, bootstrap=True, scope="shop", app_cidrs=["203.0.113.40/32"],
                replication_user="replicator", app_user="shop", app_db="shop")


def test_the_validator_needs_no_secret_and_no_address():
    """The components validate before any password, S3 key or address exists."""
    assert validate_db_member(backup=BACKUP.repository, **SETTINGS) is None
    assert validate_db_member(backup=None, **{**SETTINGS, "members": MEMBERS}) is None
    with pytest.raises(ValueError, match="db-gra has no address"):
        member(members=NAMELESS)


@pytest.mark.parametrize("change, match", [
    ({"app_cidrs": ["0.0.0.0/0"]}, "whole Internet"),
    ({"app_cidrs": ["10.0.0.1"]}, "app_cidrs: '10.0.0.1' has no prefix length"),
    ({"app_user": "replicator"}, "must differ"),
    ({"app_db": "Shop"}, "app_db must be a lower-case SQL identifier"),
    ({"name": "a.b"}, "single DNS label"),
    ({"backup": "s3://bucket"}, "backup must be a BackupRepository, a BackupTarget or None"),
    ({"wal_keep_size_mb": -1}, "wal_keep_size_mb"),
])
def test_the_validator_and_the_renderer_refuse_the_same(change, match):
    """One rule: what validate_db_member refuses, render_db_member refuses with the same message."""
    with pytest.raises(ValueError, match=match):
        validate_db_member(**{**SETTINGS, "backup": BACKUP.repository, **change})
    rendered_match = match.replace("a BackupRepository, a BackupTarget", "a BackupTarget")
    with pytest.raises(ValueError, match=rendered_match):
        member(**{**SETTINGS, "members": MEMBERS, "backup": BACKUP, **change})
