"""Tests of resilient_stack.hosts.database: a database member's user data (PostgreSQL under Patroni, one etcd
member), and its validation entry point (no secret, no address needed)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from resilient_stack.core.vocabulary import HOST_ROLE_FILE
from resilient_stack.hosts import paths
from resilient_stack.hosts.backup import BackupSchedule
from resilient_stack.hosts.cluster import ClusterMember
from resilient_stack.hosts.database import validate_db_member
from resilient_stack.hosts.secrets import scram_matches
from tests.hosts.samples import (
    API_PW,
    APP_PW,
    BACKUP,
    CIPHER,
    CLUSTER_ID,
    ETCD_PW,
    MEMBERS,
    MIGRATE_PW,
    PKI,
    REPL_PW,
    REWIND_PW,
    S3_SECRET,
    WEB_IPS,
    db_secrets,
    files,
    load,
    member,
    opened,
    runcmd_text,
)


def patroni(doc: dict) -> dict:
    f = files(doc)[paths.PATRONI_CONF]
    assert (f["owner"], f["permissions"], f["defer"]) == ("postgres:postgres", "0600", True)
    return yaml.safe_load(f["content"])


def test_every_member_gets_postgres_patroni_and_etcd():
    for name in ("db-gra", "db-waw", "db-ik"):
        doc = load(member(name=name))
        assert doc["packages"] == [
            "postgresql-15",
            "ssl-cert",
            "patroni",
            "etcd-server",
            "etcd-client",
            "python3-psycopg2",
            "python3-cryptography",
            "pgbackrest",
            "nftables",
            "unattended-upgrades",
            "prometheus-node-exporter",
            "prometheus-postgres-exporter",
        ]
        assert doc["hostname"] == name
        fs = files(doc)
        env = fs[paths.ETCD_ENV]
        # written before the packages are installed (no defer): the package's unit starts with it
        assert "defer" not in env and env["permissions"] == "0644"
        assert f"ETCD_NAME={name}\n" in env["content"]
        assert (
            "ETCD_INITIAL_CLUSTER=db-gra=https://203.0.113.10:2380,db-waw=https://198.51.100.20:2380,"
            "db-ik=https://[2001:db8::30]:2380\n" in env["content"]
        )
        # the cluster's token is its generated id: a member of another cluster of the same name never joins
        assert f"ETCD_INITIAL_CLUSTER_TOKEN=shop-{CLUSTER_ID}\n" in env["content"]
        assert "Restart=always" in fs["/etc/systemd/system/etcd.service.d/resilient-stack.conf"]["content"]
        dropin = fs["/etc/systemd/system/patroni.service.d/resilient-stack.conf"]["content"]
        assert "After=etcd.service" in dropin and "KillMode=mixed" in dropin
        config = patroni(doc)
        assert config["scope"] == "shop" and config["name"] == name
        # this host's own etcd member, and no discovery of the others: a frozen peer cannot leave Patroni's view stale
        assert config["etcd3"]["hosts"] == ["127.0.0.1:2379"] and config["etcd3"]["use_proxies"] is True
        assert fs[paths.CLUSTER_HELPER]["permissions"] == "0755"
        assert fs[paths.ETCDCTL_HELPER]["permissions"] == "0755"


def test_the_first_boot_order_every_timer_before_the_cluster():
    """The firewall first, the data volume, the secrets and the runtime configuration, EVERY timer (a member whose
    join fails is still kept in sync and backed up once it leads), then the cluster's own unit, last."""
    run = load(member())["runcmd"]
    flat = [c if isinstance(c, list) else [c] for c in run]
    at = {tuple(c[:3]): i for i, c in enumerate(flat)}
    volume = flat.index([paths.DATA_VOLUME_SCRIPT])
    sync = flat.index([paths.SYNC_SCRIPT, "--boot"])
    start = flat.index(["systemctl", "start", f"{paths.DB_START_SERVICE}.service"])
    assert flat.index(["systemctl", "restart", "nftables"]) < volume < sync < start == len(flat) - 1
    timers = next(c for c in flat if c[:2] == ["systemctl", "start"] and c[2].endswith(".timer"))
    assert {
        "resilient-stack-etcd-defrag.timer",
        "resilient-stack-backup-full.timer",
        "resilient-stack-backup-diff.timer",
        "resilient-stack-backup-init.timer",
    } <= set(timers[2:])
    assert flat.index(timers) < start and at[("systemctl", "enable", "--now")] < start
    unit = files(load(member()))[f"/etc/systemd/system/{paths.DB_START_SERVICE}.service"]["content"]
    assert "Restart=on-failure" in unit and f"ConditionPathExists=!{paths.DB_STARTED}" in unit


def test_the_patroni_configuration():
    config = patroni(load(member(name="db-ik")))
    me = "[2001:db8::30]"
    api = config["restapi"]
    assert api["connect_address"] == f"{me}:8008"
    # mutual TLS under the cluster's CA, the changing endpoints behind a password and the members' addresses
    assert (api["certfile"], api["keyfile"], api["cafile"], api["verify_client"]) == (
        paths.MEMBER_CERT,
        paths.MEMBER_KEY,
        paths.CA_CERT,
        "required",
    )
    assert api["allowlist_include_members"] is True and api["authentication"]["username"] == "patroni"
    assert config["ctl"] == {"certfile": paths.MEMBER_CERT, "keyfile": paths.MEMBER_KEY, "cacert": paths.CA_CERT}
    assert "insecure" not in json.dumps(config)
    # no password in the file as rendered: root's sync writes them from the sealed secrets
    assert api["authentication"]["password"] == "" and config["etcd3"]["password"] == ""
    assert config["etcd3"]["username"] == "patroni" and config["etcd3"]["protocol"] == "https"
    pg = config["postgresql"]
    assert pg["connect_address"] == f"{me}:5432" and pg["data_dir"] == paths.PG_DATA
    assert pg["config_dir"] == "/etc/postgresql/15/main" and pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
    auth = pg["authentication"]
    assert auth["superuser"] == {"username": "postgres"}, "no password: the Unix socket, peer authentication"
    assert auth["replication"] == {
        "username": "replicator",
        "password": "",
        "sslmode": "verify-full",
        "sslrootcert": paths.CA_CERT,
        "channel_binding": "require",
    }
    assert auth["rewind"]["sslmode"] == "verify-full" and auth["rewind"]["channel_binding"] == "require"
    assert pg["parameters"]["ssl"] == "on" and pg["parameters"]["ssl_cert_file"] == paths.MEMBER_CERT
    assert pg["recovery_conf"] == {"restore_command": 'pgbackrest --stanza=main archive-get %f "%p"'}
    assert config["watchdog"]["mode"] == "automatic"
    dcs = config["bootstrap"]["dcs"]
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"], "a lost primary demotes before the ttl expires"
    assert (dcs["ttl"], dcs["loop_wait"], dcs["retry_timeout"]) == (30, 10, 10), "timings for members over a WAN"
    assert dcs["failsafe_mode"] is True and dcs["synchronous_mode"] is False
    assert dcs["postgresql"]["use_pg_rewind"] is True and dcs["postgresql"]["use_slots"] is True
    params = dcs["postgresql"]["parameters"]
    assert params["wal_log_hints"] == "on" and params["archive_command"] == "pgbackrest --stanza=main archive-push %p"
    assert params["max_slot_wal_keep_size"] == "5120MB", "a stuck replica's slot cannot fill the data volume"
    assert "data-checksums" in config["bootstrap"]["initdb"]
    assert config["bootstrap"]["post_bootstrap"] == paths.DB_INIT_SCRIPT
    assert patroni(load(member(synchronous=True)))["bootstrap"]["dcs"]["synchronous_mode"] is True


def test_pg_hba_admits_the_members_and_the_web_hosts_only():
    rules = patroni(load(member()))["postgresql"]["pg_hba"]
    assert rules[:3] == [
        "local all postgres peer",
        "local all all peer",
        "hostssl replication replicator 127.0.0.1/32 scram-sha-256",
    ]
    remote = rules[3:]
    for m, net in zip(MEMBERS, ("203.0.113.10/32", "198.51.100.20/32", "2001:db8::30/128")):
        assert f"hostssl replication replicator {net} scram-sha-256" in remote, m
        assert f"hostssl postgres patroni_rewind {net} scram-sha-256" in remote, m
    for ip in WEB_IPS:
        assert f"hostssl app shop,shop_alt,shop_migrate {ip}/32 scram-sha-256" in remote
    assert len(remote) == 2 * len(MEMBERS) + len(WEB_IPS)
    assert all(r.startswith("hostssl ") and r.endswith(" scram-sha-256") for r in remote)


def test_replication_cidrs_are_extras():
    rules = patroni(load(member(replication_cidrs=["192.0.2.0/24"], app_cidrs=[])))["postgresql"]["pg_hba"]
    assert "hostssl replication replicator 192.0.2.0/24 scram-sha-256" in rules
    assert not [r for r in rules if " shop,shop_alt,shop_migrate " in r], "app_cidrs=[] admits no application"


def test_the_bootstrap_member_initialises_the_cluster():
    doc = load(member())
    fs = files(doc)
    sql = fs[paths.DB_INIT_SQL]["content"]
    assert (
        "CREATE DATABASE app OWNER shop_owner" in sql and "CREATE TABLE" not in sql
    )  # the application makes its tables (its release phase)
    assert "CREATE ROLE shop_owner NOLOGIN" in sql and "LOGIN NOREPLICATION IN ROLE shop_rw" in sql
    assert not re.search(r"PASSWORD\s+['\":]", sql, re.I), "root's sync sets the passwords"
    assert "WITH LOGIN REPLICATION" not in sql, "Patroni creates the replication role itself"
    assert 'psql -X -q -v ON_ERROR_STOP=1 -d "$1"' in fs[paths.DB_INIT_SCRIPT]["content"]
    start = fs[paths.DB_START_SCRIPT]["content"]
    assert 'ROLE="bootstrap"\n' in start and "INITIALIZE=/service/shop/initialize\n" in start
    assert fs[HOST_ROLE_FILE]["content"] == "db-primary\n"
    assert paths.BACKUP_INIT_SCRIPT not in runcmd_text(doc), "the boot never waits for the backup repository"


def test_a_joining_member_waits_for_the_cluster():
    doc = load(member(name="db-waw"))
    fs = files(doc)
    assert 'ROLE="join"\n' in fs[paths.DB_START_SCRIPT]["content"]
    assert paths.DB_INIT_SQL not in fs
    assert fs[HOST_ROLE_FILE]["content"] == "db-replica\n"
    assert paths.BACKUP_INIT_SCRIPT not in runcmd_text(doc)


def test_a_member_gets_its_own_certificate_and_only_verifiers_of_the_applications_password():
    for name in ("db-gra", "db-ik"):
        secret = opened(load(member(name=name)))
        assert secret["tls"]["cert"] == PKI["certs"][name] and secret["tls"]["key"] == PKI["keys"][name]
        assert secret["passwords"] == {"replication": REPL_PW, "rewind": REWIND_PW, "api": API_PW, "etcd": ETCD_PW}
        assert secret["backup"] == {
            "key_id": "AKIAEXAMPLE",
            "key_secret": S3_SECRET,
            "cipher_pass": CIPHER,
            "path": "/pgbackrest",
        }
        assert list(secret["roles"]) == ["shop", "shop_migrate"] and secret["roles"]["shop"]["current"] is True
        assert scram_matches(secret["roles"]["shop"]["verifier"], APP_PW)
        assert scram_matches(secret["roles"]["shop_migrate"]["verifier"], MIGRATE_PW)
        assert secret["roles"]["shop_migrate"]["current"] is True


def test_a_rotated_application_password_moves_to_the_other_login_role():
    secret = opened(load(member(secrets_doc=db_secrets(app_passwords=(APP_PW, "App pw generation 1")))))
    assert secret["roles"]["shop_alt"]["current"] is True and secret["roles"]["shop"]["current"] is False
    assert scram_matches(secret["roles"]["shop_alt"]["verifier"], "App pw generation 1")
    assert scram_matches(secret["roles"]["shop"]["verifier"], APP_PW), "the previous one, until it expires"


def test_the_first_boot_keeps_a_data_directory_patroni_managed():
    start = files(load(member()))[paths.DB_START_SCRIPT]["content"]
    assert 'if [ -e "$DATA/patroni.dynamic.json" ]; then' in start
    assert 'find "$DATA" -mindepth 1 -delete' in start, "the data directory stays (a mount point)"
    assert "echo manual > /etc/postgresql/15/main/start.conf" in start


def test_custom_identifiers_reach_sql_and_hba():
    doc = load(member(replication_user="repl", app_user="shop", app_db="shop_db", backup=None))
    sql = files(doc)[paths.DB_INIT_SQL]["content"]
    assert (
        "CREATE DATABASE shop_db OWNER shop_owner" in sql
        and "GRANT CONNECT, TEMPORARY ON DATABASE shop_db TO shop_rw;" in sql
    )
    rules = patroni(doc)["postgresql"]["pg_hba"]
    assert "hostssl shop_db shop,shop_alt,shop_migrate 203.0.113.40/32 scram-sha-256" in rules
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
        (lambda: db_secrets(replication_password="short"), "replication password must be at least 12"),
        (lambda: db_secrets(api_password="a-long-password\nx"), "api password must not contain control"),
        (lambda: db_secrets(rewind_password=REPL_PW), "the cluster's passwords must all differ"),
        (lambda: db_secrets(app_passwords=()), "the application needs at least one password"),
        (lambda: db_secrets(backup=BACKUP.repository.with_credentials("k", "s")), "always encrypt the repository"),
        (lambda: member(secrets_doc=db_secrets(backup=None)), "the backup repository's keys exactly when"),
        (lambda: member(host_key="short"), "a host key is 32 to 256 letters and digits"),
        (lambda: member(cluster_id="Not-An-Id"), "cluster_id must be 8 to 64 lower-case letters and digits"),
        (lambda: member(app_user="App-User"), "app_user must be a lower-case SQL identifier"),
        (lambda: member(app_user="a" * 56), "app_user must be at most 55 characters"),
        (lambda: member(replication_user="shop"), "replication_user must differ from"),
        (lambda: member(replication_user="shop_owner"), "replication_user must differ from"),
        (lambda: member(replication_user="patroni_rewind"), "replication_user must differ from"),
        (lambda: member(backup="s3://bucket"), "backup must be a BackupRepository or None"),
        (lambda: member(synchronous="yes"), "synchronous must be a bool"),
        (lambda: member(max_slot_wal_keep_size_mb=10), "max_slot_wal_keep_size_mb must be an int"),
        (lambda: member(backup_schedule=BackupSchedule(full="daily; reboot")), "full must be a systemd OnCalendar"),
        (lambda: member(backup_schedule={"full": "daily"}), "backup_schedule must be a BackupSchedule or None"),
        (lambda: member(max_wal_senders=1), "max_wal_senders must be an int in 2..100"),
        (lambda: member(bootstrap="yes"), "bootstrap must be a bool"),
    ],
)
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


NAMELESS = [ClusterMember(m.name, None) for m in MEMBERS]  # type: ignore[arg-type]
SETTINGS = dict(
    name="db-gra",
    members=NAMELESS,
    bootstrap=True,
    scope="shop",
    app_cidrs=["203.0.113.40/32"],
    replication_user="replicator",
    app_user="shop",
    app_db="shop",
)


def test_the_validator_needs_no_secret_and_no_address():
    """The components validate before any password, S3 key or address exists."""
    assert validate_db_member(backup=BACKUP.repository, **SETTINGS) is None
    assert validate_db_member(backup=None, **{**SETTINGS, "members": MEMBERS}) is None
    with pytest.raises(ValueError, match="db-gra has no address"):
        member(members=NAMELESS)


@pytest.mark.parametrize(
    "change, match",
    [
        ({"app_cidrs": ["0.0.0.0/0"]}, "whole Internet"),
        ({"app_cidrs": ["10.0.0.1"]}, "app_cidrs: '10.0.0.1' has no prefix length"),
        ({"replication_user": "shop_alt"}, "must differ"),
        ({"app_db": "Shop"}, "app_db must be a lower-case SQL identifier"),
        ({"name": "a.b"}, "single DNS label"),
        ({"backup": "s3://bucket"}, "backup must be a BackupRepository or None"),
        ({"wal_keep_size_mb": -1}, "wal_keep_size_mb"),
    ],
)
def test_the_validator_and_the_renderer_refuse_the_same(change, match):
    """One rule: what validate_db_member refuses, render_db_member refuses with the same message."""
    with pytest.raises(ValueError, match=match):
        validate_db_member(**{**SETTINGS, "backup": BACKUP.repository, **change})
    with pytest.raises(ValueError, match=match):
        member(**{**SETTINGS, "members": MEMBERS, "backup": BACKUP, **change})
