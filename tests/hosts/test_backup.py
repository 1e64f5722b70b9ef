"""Tests of resilient_stack.hosts.backup: pgBackRest's repository (with and without credentials), its one
validation rule, and what the database hosts get (pgbackrest.conf, the backup script, systemd units)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import pytest

from resilient_stack.hosts import paths, payload
from resilient_stack.hosts.backup import BackupRepository, BackupTarget, validate_backup_repository
from tests.hosts.samples import BACKUP, CIPHER, S3_SECRET, files, load, member, opened, runcmd_text


def test_bootstrap_member_backup_config():
    doc = load(member())
    fs = files(doc)
    conf = fs[paths.PGBACKREST_CONF]
    assert (conf["permissions"], conf["owner"], conf["defer"]) == ("0640", "postgres:postgres", True)
    c = conf["content"]
    for line in (
        "repo1-type=s3",
        "repo1-s3-endpoint=s3.gra.io.cloud.ovh.net",
        "repo1-s3-bucket=rs-backups-waw",
        "repo1-s3-region=gra",
        "repo1-cipher-type=aes-256-cbc",
        "[main]",
        "pg1-path=/var/lib/postgresql/15/main",
        "pg1-port=5432",
    ):
        assert line in c.splitlines(), line
    # no secret in the file: the keys, the passphrase and the repository's path are the sealed secrets', written by
    # root's sync into conf.d (they rotate)
    assert S3_SECRET not in c and CIPHER not in c and "repo1-s3-key" not in c and "repo1-path" not in c
    assert opened(doc)["backup"] == {
        "key_id": "AKIAEXAMPLE",
        "key_secret": S3_SECRET,
        "cipher_pass": CIPHER,
        "path": "/pgbackrest",
    }
    assert paths.PGBACKREST_SECRETS.startswith("/etc/pgbackrest/conf.d/")
    assert "repo1-storage-port" not in c
    # asynchronous archiving with a bounded queue, its spool under PostgreSQL's home (the data disk)
    for line in ("archive-async=y", f"spool-path={paths.PGBACKREST_SPOOL}", "archive-push-queue-max=1024MiB"):
        assert line in c.splitlines(), line
    assert paths.PGBACKREST_SPOOL.startswith("/var/lib/postgresql/")
    assert "resilient-stack-backup-full.timer" in runcmd_text(doc)


@pytest.mark.parametrize("bootstrap", [True, False])
def test_the_catch_up_is_a_timer_on_every_member_never_a_boot_step(bootstrap):
    """cloud-init never waits for the repository: the stanza and the first backup come from a timer that runs on
    every member (acting on the primary only), so a host whose repository cannot be reached finishes its boot."""
    doc = load(member(name="db-gra" if bootstrap else "db-waw"))
    fs = files(doc)
    assert paths.BACKUP_INIT_SCRIPT not in runcmd_text(doc)
    started = next(c for c in doc["runcmd"] if c[:2] == ["systemctl", "start"] and c[2].endswith(".timer"))
    assert {"resilient-stack-backup-full.timer", "resilient-stack-backup-diff.timer", paths.BACKUP_INIT_TIMER} <= set(
        started
    )
    assert ["systemctl", "enable", *started[2:]] in doc["runcmd"]
    timer = fs[f"/etc/systemd/system/{paths.BACKUP_INIT_TIMER}"]["content"]
    assert "OnActiveSec=10s\n" in timer and "OnUnitInactiveSec=1min\n" in timer
    assert f"Unit={paths.BACKUP_INIT_SERVICE}\n" in timer
    service = fs[f"/etc/systemd/system/{paths.BACKUP_INIT_SERVICE}"]["content"]
    assert f"ExecStart={paths.BACKUP_INIT_SCRIPT}\n" in service and "Type=oneshot\n" in service
    init = fs[paths.BACKUP_INIT_SCRIPT]["content"]
    assert fs[paths.BACKUP_INIT_SCRIPT]["permissions"] == "0755"
    for piece in (
        "pgbackrest --stanza=main stanza-create",
        "systemctl start --no-block resilient-stack-backup@full.service",
        "systemctl start --no-block resilient-stack-backup@diff.service",
        "SELECT pg_is_in_recovery()",
        "the repository lost its stanza",
        "FROM pg_stat_archiver",
        f"STATE={paths.BACKUP_STATE_DIR}",
    ):
        assert piece in init, piece
    # the guard around pgBackRest 2.45's queue limit: a stuck asynchronous archiver is ended over the limit
    assert "archive-push:async" in init and 'if [ "$waiting_mb" -gt 1024 ]; then' in init
    assert "/var/lib/postgresql/15/main/pg_wal/archive_status -name '*.ready'" in init


def test_schedule_units():
    fs = files(load(member(name="db-waw")))
    service = fs["/etc/systemd/system/resilient-stack-backup@.service"]["content"]
    assert f"ExecStart={paths.BACKUP_SCRIPT} %i\n" in service
    assert "After=patroni.service network-online.target\n" in service
    for kind, calendar in (("full", "Sun *-*-* 02:00:00"), ("diff", "Mon..Sat *-*-* 02:00:00")):
        timer = fs[f"/etc/systemd/system/resilient-stack-backup-{kind}.timer"]["content"]
        assert f"OnCalendar={calendar}\n" in timer and f"Unit=resilient-stack-backup@{kind}.service\n" in timer
    script = fs[paths.BACKUP_SCRIPT]
    assert script["permissions"] == "0755"
    assert 'pgbackrest --stanza=main --type="$TYPE" backup' in script["content"]
    assert paths.BACKUP_INIT_SCRIPT in fs, "every member runs the catch-up (it acts on the primary only)"


def test_backup_endpoint_port_and_repr_hides_secrets():
    b = dataclasses.replace(BACKUP, endpoint="minio.internal:9000", uri_style="path", verify_tls=False, stanza="shop")
    c = files(load(member(backup=b)))[paths.PGBACKREST_CONF]["content"].splitlines()
    assert "repo1-s3-endpoint=minio.internal" in c and "repo1-storage-port=9000" in c
    assert c.index("repo1-storage-port=9000") == c.index("repo1-s3-endpoint=minio.internal") + 1
    assert "repo1-s3-uri-style=path" in c and "repo1-storage-verify-tls=n" in c
    assert "[shop]" in c and "repo1-cipher-type=aes-256-cbc" in c, "the repository is always encrypted"
    assert S3_SECRET not in repr(BACKUP) and CIPHER not in repr(BACKUP)
    with pytest.raises(dataclasses.FrozenInstanceError):
        BACKUP.bucket = "other"  # type: ignore[misc]


def test_repository_and_target_are_the_same_place():
    repository = BACKUP.repository
    assert isinstance(repository, BackupRepository) and repository.bucket == BACKUP.bucket
    target = repository.with_credentials("AKIAEXAMPLE", S3_SECRET, CIPHER)
    assert target == BACKUP
    assert "key" not in repr(repository).lower()


@pytest.mark.parametrize(
    "change, match",
    [
        ({"endpoint": "https://s3.example"}, "without scheme"),
        ({"endpoint": ""}, "endpoint must be a non-empty host name"),
        ({"endpoint": "bad_host!"}, "endpoint is not a valid host name"),
        ({"endpoint": "s3.example:99999"}, "endpoint has an invalid port"),
        ({"bucket": "B"}, "not a valid S3 bucket name"),
        ({"bucket": "rs-backups\n"}, "not a valid S3 bucket name"),
        ({"region": ""}, "region must be a non-empty region name"),
        ({"path": "pgbackrest"}, "path must be an absolute path"),
        ({"uri_style": "virtual"}, "uri_style"),
        ({"verify_tls": 1}, "verify_tls must be a bool"),
        ({"retention_full": 0}, "retention_full must be an int in 1..100"),
        ({"stanza": "a b"}, "stanza must be a simple name"),
        ({"archive_queue_max_mb": 8}, "archive_queue_max_mb"),
    ],
)
def test_bad_repository_is_refused_the_same_way_everywhere(change, match):
    with pytest.raises(ValueError, match=f"BackupTarget.*{match}"):
        dataclasses.replace(BACKUP, **change)
    with pytest.raises(ValueError, match=f"BackupRepository.*{match}"):
        dataclasses.replace(BACKUP.repository, **change)
    with pytest.raises(ValueError, match=match):
        validate_backup_repository(**{"endpoint": "s3.example", "region": "gra", **change})


@pytest.mark.parametrize(
    "change, match",
    [
        ({"key_secret": ""}, "key_secret must not be empty"),
        ({"key_id": "a\nb"}, "key_id must not contain control characters"),
        ({"cipher_pass": "short"}, "cipher_pass must be at least 12 characters"),
    ],
)
def test_bad_credentials(change, match):
    with pytest.raises(ValueError, match=f"BackupTarget.{match}"):
        dataclasses.replace(BACKUP, **change)


def test_bucket_may_be_unknown_when_validating():
    """The stack configuration checks its backups before the container is named (it defaults to <name>-pgbackrest)."""
    assert validate_backup_repository(endpoint="s3.de.cloud.ovh.net:443", region="de", uri_style="path") is None
    with pytest.raises(ValueError, match="bucket"):
        validate_backup_repository(endpoint="s3.de.cloud.ovh.net", region="de", bucket=None)
    with pytest.raises(ValueError, match="bucket"):
        BackupTarget(endpoint="s3.de.cloud.ovh.net", bucket=None, region="de", key_id="k", key_secret="s")  # type: ignore[arg-type]


def test_bootstrap_from_backup_restores_a_new_cluster_with_patronis_custom_bootstrap():
    """database.bootstrapFrom: backup: the member that initialises a NEW cluster restores the newest backup (then
    PostgreSQL replays the archive and is promoted at its end) instead of initdb; the default is initdb."""
    import yaml

    default = yaml.safe_load(files(load(member()))[paths.PATRONI_CONF]["content"])["bootstrap"]
    assert "method" not in default and paths.RESTORE_SCRIPT not in files(load(member()))
    fs = files(load(member(bootstrap_from="backup")))
    boot = yaml.safe_load(fs[paths.PATRONI_CONF]["content"])["bootstrap"]
    assert boot["method"] == "pgbackrest"
    assert boot["pgbackrest"] == {
        "command": paths.RESTORE_SCRIPT,
        "no_params": True,
        "keep_existing_recovery_conf": True,
    }
    script = fs[paths.RESTORE_SCRIPT]
    assert script["permissions"] == "0755"
    assert (
        "exec pgbackrest --stanza=main --pg1-path=/var/lib/postgresql/15/main --log-level-console=info restore"
        in script["content"]
    )
    with pytest.raises(ValueError, match="bootstrap_from='backup' restores from the backup repository"):
        member(bootstrap_from="backup", backup=None)
    with pytest.raises(ValueError, match="bootstrap_from must be one of empty, backup"):
        member(bootstrap_from="pitr")


NEWEST_STOP = 1_796_640_000


def _catch_up(tmp_path, *, running: str | None, info_code: int = 0) -> tuple[subprocess.CompletedProcess, Path]:
    """The catch-up script as rendered for a member, run with recording stand-ins of runuser, psql, pgbackrest and
    systemctl (``running``: the backup unit systemctl says is active); its metrics file in ``tmp_path``."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "systemctl-calls"
    info = json.dumps(
        [
            {
                "status": {"code": info_code},
                "backup": [{"timestamp": {"stop": NEWEST_STOP}, "archive": {"start": "000000010000000000000003"}}],
            }
        ]
    )
    stand_ins = {
        "runuser": 'shift 3; exec "$@"',  # runuser -u postgres -- CMD...
        "psql": 'case "$*" in *pg_is_in_recovery*) echo f ;; *) echo 0 ;; esac',
        "pgbackrest": f"echo '{info}'",
        "pgrep": "exit 1",
        "systemctl": f'echo "$*" >> {calls}; [ "$1" = is-active ] && [ "$3" = "{running}" ]',
    }
    for name, body in stand_ins.items():
        (bindir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bindir / name).chmod(0o755)
    metrics = tmp_path / "textfile" / "resilient_stack_backup.prom"
    script = tmp_path / "backup-init"
    script.write_text(
        payload.render(
            "shell/backup-init.sh",
            stanza="main",
            state_dir=str(tmp_path / "state"),
            pg_data=str(tmp_path / "pg"),
            queue_max_mb=1024,
            full_unit="resilient-stack-backup@full.service",
            diff_unit="resilient-stack-backup@diff.service",
            metrics=str(metrics),
        )
    )
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    return proc, metrics


def test_the_catch_up_exports_the_backups_age_also_while_a_backup_runs(tmp_path):
    """With a schedule of minutes a backup often runs when the catch-up does: it still exports the repository's newest
    backup (pgBackRest's info takes no lock), then leaves the running backup alone; a new primary that only ever met
    running backups would otherwise hide its backups' age from BackupLate."""
    proc, metrics = _catch_up(tmp_path, running="resilient-stack-backup@diff.service")
    assert proc.returncode == 0, proc.stderr
    assert "resilient-stack-backup@diff.service is running" in proc.stdout
    assert metrics.read_text().splitlines()[1::2] == [
        "resilient_stack_backup_repository_readable 1",
        f"resilient_stack_backup_newest_timestamp_seconds {NEWEST_STOP}",
    ]
    assert "start" not in (tmp_path / "systemctl-calls").read_text()  # nothing started beside the running backup


def test_the_catch_up_says_an_unreadable_repository_and_keeps_the_last_known_age(tmp_path):
    metrics = tmp_path / "textfile" / "resilient_stack_backup.prom"
    metrics.parent.mkdir()
    metrics.write_text(f"resilient_stack_backup_newest_timestamp_seconds {NEWEST_STOP - 60}\n")
    proc, _ = _catch_up(tmp_path, running="resilient-stack-backup@diff.service", info_code=99)
    assert proc.returncode == 0 and "the repository cannot be read (status 99)" in proc.stdout
    assert metrics.read_text().splitlines()[1::2] == [
        "resilient_stack_backup_repository_readable 0",
        f"resilient_stack_backup_newest_timestamp_seconds {NEWEST_STOP - 60}",
    ]
