"""Tests of resilient_stack.hosts.postgres: the PostgreSQL payloads, filled."""

from __future__ import annotations

from resilient_stack.hosts import postgres
from resilient_stack.hosts.backup import BackupRepository


def test_settings_archive_with_pgbackrest_or_not():
    repo = BackupRepository(endpoint="s3.de.cloud.ovh.net", bucket="shop-pgbackrest", region="de", stanza="shop")
    on = postgres.settings(backup=repo, max_wal_senders=4, wal_keep_size_mb=0).splitlines()
    assert "archive_command = 'pgbackrest --stanza=shop archive-push %p'" in on and "archive_mode = on" in on
    assert "max_wal_senders = 4" in on and "wal_keep_size = '0MB'" in on
    off = postgres.settings(backup=None, max_wal_senders=10, wal_keep_size_mb=1024).splitlines()
    assert off[-1] == "archive_mode = off" and not any(line.startswith("archive_command") for line in off)
    assert on[:9] == off[:9]  # TLS, listen, port: the same either way


def test_hba_replication_then_application_rules():
    text = postgres.hba(replication_user="r", app_user="a", app_db="d", allowed_cidrs=["10.0.0.0/24"],
                        app_cidrs=[])
    assert text == ("# resilient_stack: TLS-only, SCRAM-authenticated access from the listed networks.\n"
                    "hostssl replication r 10.0.0.0/24 scram-sha-256\n")


def test_replica_script_quotes_what_it_is_given():
    script = postgres.replica_init_script(primary_host="fd00::5", primary_port=6543, replication_user="r",
                                          attempts=2, interval=1)
    assert "PRIMARY_HOST=fd00::5\n" in script
    assert "CONNINFO='host=fd00::5 port=6543 user=r sslmode=require passfile=/var/lib/postgresql/.pgpass " \
           "connect_timeout=5'\n" in script
    assert "wait_local_pg() {\n" in script and "pg_isready -q -h /var/run/postgresql -p 5432" in script


def test_pgpass_escapes_separator_and_backslash():
    assert postgres.pgpass(replication_user="r", password="a:b\\c") == "*:*:replication:r:a\\:b\\\\c\n"
