"""Tests of resilient_stack.hosts.database: the PostgreSQL primary and replica user data, and their validation
entry points (no secret needed)."""

from __future__ import annotations

import pytest

from resilient_stack.core.vocabulary import HOST_ROLE_FILE
from resilient_stack.hosts import paths
from resilient_stack.hosts.database import validate_db_primary, validate_db_replica
from tests.hosts.samples import APP_PW, BACKUP, CIDRS, REPL_PW, files, load, primary, replica, runcmd_text


def test_primary_postgres_config_and_hba():
    doc = load(primary())
    assert doc["packages"] == ["postgresql-15", "ssl-cert", "pgbackrest"]
    fs = files(doc)
    conf = fs["/etc/postgresql/15/main/conf.d/50-resilient-stack.conf"]
    assert conf["defer"] is True and conf["owner"] == "postgres:postgres"
    for line in ("wal_level = replica", "ssl = on", "listen_addresses = '*'", "archive_mode = on", "port = 5432",
                 "archive_command = 'pgbackrest --stanza=main archive-push %p'"):
        assert line in conf["content"].splitlines()
    hba = fs["/etc/postgresql/15/main/pg_hba.conf"]
    assert hba["append"] is True and hba["defer"] is True
    rules = [line for line in hba["content"].splitlines() if line and not line.startswith("#")]
    assert rules == [
        "hostssl replication replicator 10.20.0.0/24 scram-sha-256",
        "hostssl replication replicator fd00:20::/64 scram-sha-256",
        "hostssl app app 10.20.0.0/24 scram-sha-256",
        "hostssl app app fd00:20::/64 scram-sha-256",
    ]
    assert fs[HOST_ROLE_FILE]["content"] == "db-primary\n"


def test_primary_secret_files_and_init():
    doc = load(primary(backup=None, app_cidrs=[]))
    fs = files(doc)
    for path, pw in ((paths.REPLICATION_PASSWORD_FILE, REPL_PW), (paths.APP_PASSWORD_FILE, APP_PW)):
        f = fs[path]
        assert f["content"] == pw
        assert (f["permissions"], f["owner"], f.get("defer")) == ("0600", "postgres:postgres", True)
    sql = fs[paths.DB_INIT_SQL]["content"]
    assert f"`cat {paths.REPLICATION_PASSWORD_FILE}`" in sql
    assert "PASSWORD :'repl_password'" in sql and "CREATE DATABASE app OWNER app" in sql
    assert f"-f {paths.DB_INIT_SQL}" in fs[paths.DB_INIT_SCRIPT]["content"]
    assert [paths.DB_INIT_SCRIPT] in doc["runcmd"]
    assert ["systemctl", "restart", "postgresql@15-main"] in doc["runcmd"]
    assert "archive_mode = off" in fs["/etc/postgresql/15/main/conf.d/50-resilient-stack.conf"]["content"]
    assert paths.PGBACKREST_CONF not in fs and "pgbackrest" not in doc["packages"]
    assert "resilient-stack-backup" not in runcmd_text(doc)
    rules = [line for line in fs["/etc/postgresql/15/main/pg_hba.conf"]["content"].splitlines() if line.startswith("host")]
    assert all(" replication " in r for r in rules), "app_cidrs=[] opens no app access"


def test_custom_identifiers_reach_sql_and_hba():
    fs = files(load(primary(replication_user="repl", app_user="shop", app_db="shop_db", backup=None)))
    sql = fs[paths.DB_INIT_SQL]["content"]
    assert "ALTER ROLE repl WITH LOGIN REPLICATION" in sql and "CREATE DATABASE shop_db OWNER shop" in sql
    assert "GRANT ALL ON DATABASE shop_db TO shop;" in sql
    assert "hostssl shop_db shop 10.20.0.0/24 scram-sha-256" in fs[paths.PG_HBA]["content"]


# --------------------------------------------------------------------------------------------------
# replica
# --------------------------------------------------------------------------------------------------


def test_replica_clones_primary_and_ships_promote_helper():
    doc = load(replica(primary_host="db-primary.internal", wait_attempts=7, wait_interval_s=3))
    fs = files(doc)
    script = fs[paths.REPLICA_INIT_SCRIPT]["content"]
    assert "PRIMARY_HOST=db-primary.internal" in script
    assert "ATTEMPTS=7" in script and "INTERVAL=3" in script
    assert "pg_basebackup" in script and " -R " in script and "sslmode=require" in script
    assert f"CONNINFO='host=db-primary.internal port=5432 user=replicator sslmode=require passfile={paths.PGPASS_FILE}" \
           in script
    assert [paths.REPLICA_INIT_SCRIPT] in doc["runcmd"]
    promote = fs[paths.PROMOTE_HELPER]
    assert promote["permissions"] == "0755"
    assert "pg_ctlcluster \"$VERSION\" \"$CLUSTER\" promote" in promote["content"]
    assert "VERSION=15" in promote["content"]
    # `--help` prints lines 2-13 of the helper: its header, the runbook
    header = promote["content"].splitlines()[1:13]
    assert header[0].startswith("# resilient-stack-promote --") and header[-1].startswith("# Exit codes:")
    # same server config as the primary, so a promoted replica is a full primary
    assert "wal_level = replica" in fs["/etc/postgresql/15/main/conf.d/50-resilient-stack.conf"]["content"]
    assert paths.REPLICATION_PASSWORD_FILE not in fs and paths.APP_PASSWORD_FILE not in fs
    assert fs[HOST_ROLE_FILE]["content"] == "db-replica\n"


def test_replica_pgpass_escapes_and_is_private():
    f = files(load(replica()))[paths.PGPASS_FILE]
    assert f["content"] == "*:*:replication:replicator:Repl\\:pass\\\\word-0123456789\n"
    assert (f["permissions"], f["owner"]) == ("0600", "postgres:postgres")


def test_primary_host_only_through_parameter():
    a, b = replica(primary_host="10.9.9.9"), replica(primary_host="10.9.9.10")
    assert a != b and "10.9.9.9" in a and "10.9.9.10" not in a


# --------------------------------------------------------------------------------------------------
# bad input, and the validation entry points
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: replica(primary_host=""), "primary_host must be a non-empty"),
        (lambda: replica(primary_host="   "), "primary_host must be a non-empty"),
        (lambda: replica(primary_host=None), "primary_host must be a non-empty"),
        (lambda: replica(primary_host="db1; rm -rf /"), "primary_host is not a valid host name"),
        (lambda: replica(primary_port=0), "primary_port"),
        (lambda: primary(allowed_cidrs=["10.0.0.300/24"]), "'10.0.0.300/24' is not a valid CIDR"),
        (lambda: primary(allowed_cidrs=["10.0.0.1/24"]), "is not a valid CIDR"),
        (lambda: primary(allowed_cidrs=["10.0.0.1"]), "has no prefix length"),
        (lambda: primary(allowed_cidrs=["0.0.0.0/0"]), "whole Internet"),
        (lambda: primary(allowed_cidrs=[]), "at least one CIDR"),
        (lambda: primary(allowed_cidrs="10.0.0.0/8"), "must be a list of CIDR"),
        (lambda: primary(replication_password="short"), "replication_password must be at least 12"),
        (lambda: primary(app_password="a-long-password\nx"), "app_password must not contain control"),
        (lambda: primary(app_password=REPL_PW), "must differ"),
        (lambda: primary(app_user="App-User"), "app_user must be a lower-case SQL identifier"),
        (lambda: primary(app_db="app\n"), "app_db must be a lower-case SQL identifier"),
        (lambda: primary(replication_user="app"), "replication_user and app_user must differ"),
        (lambda: primary(backup="s3://bucket"), "backup must be a BackupTarget"),
        (lambda: primary(backup=BACKUP.repository), "backup must be a BackupTarget or None, got BackupRepository"),
        (lambda: primary(backup_full_calendar="daily; reboot"), "backup_full_calendar must be a systemd OnCalendar"),
        (lambda: primary(max_wal_senders=1), "max_wal_senders must be an int in 2..100"),
    ],
)
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


SETTINGS = dict(allowed_cidrs=CIDRS, app_cidrs=["10.30.0.0/24"], replication_user="replicator", app_user="shop",
                app_db="shop", hostname="shop-gra-db")


def test_validators_need_no_secret():
    """The components validate before any password, S3 key or primary address exists."""
    repository = BACKUP.repository
    assert validate_db_primary(backup=repository, **SETTINGS) is None
    assert validate_db_replica(backup=repository, **SETTINGS) is None  # primary_host not known yet
    assert validate_db_replica(backup=None, primary_host="192.0.2.7", **SETTINGS) is None
    assert validate_db_primary(backup=BACKUP, **SETTINGS) is None


@pytest.mark.parametrize("change, match", [
    ({"allowed_cidrs": ["0.0.0.0/0"]}, "whole Internet"),
    ({"app_cidrs": ["10.0.0.1"]}, "app_cidrs: '10.0.0.1' has no prefix length"),
    ({"app_user": "replicator"}, "must differ"),
    ({"app_db": "Shop"}, "app_db must be a lower-case SQL identifier"),
    ({"hostname": "a.b"}, "hostname must be a single DNS label"),
    ({"backup": "s3://bucket"}, "backup must be a BackupRepository, a BackupTarget or None"),
    ({"wal_keep_size_mb": -1}, "wal_keep_size_mb"),
])
def test_validators_and_renderers_refuse_the_same(change, match):
    """One rule: what validate_db_* refuse, render_db_* refuse with the same message."""
    for validate in (validate_db_primary, validate_db_replica):
        with pytest.raises(ValueError, match=match):
            validate(**{**SETTINGS, "backup": BACKUP.repository, **change})
    args = {**SETTINGS, "backup": BACKUP, **change}
    rendered_match = match.replace("a BackupRepository, a BackupTarget", "a BackupTarget")
    with pytest.raises(ValueError, match=rendered_match):
        primary(**args)
    with pytest.raises(ValueError, match=rendered_match):
        replica(**args)


@pytest.mark.parametrize("change, match", [
    ({"primary_host": "db1; rm -rf /"}, "primary_host is not a valid host name"),
    ({"primary_port": 70000}, "primary_port must be an int in 1..65535"),
    ({"wait_attempts": 0}, "wait_attempts"),
    ({"wait_interval_s": 601}, "wait_interval_s"),
])
def test_replica_validator_checks_the_wait_and_the_primary(change, match):
    with pytest.raises(ValueError, match=match):
        validate_db_replica(backup=None, **SETTINGS, **change)
    with pytest.raises(ValueError, match=match):
        replica(**change)
