"""Root's sync applying the sealed secrets (payloads/runtime/sync.py), run here as a module with its paths in a
temporary directory and its commands recorded: the TLS files and their modes, Patroni's passwords, pgBackRest's
keys, the application's credentials, the roles' passwords on the primary, Patroni's dynamic configuration. (On booted
hosts: tests/integration/podman/test_boot.py and test_rotation.py.)"""

from __future__ import annotations

import json
import os

import pytest
import yaml

from resilient_stack.hosts import paths, secrets
from tests.hosts.samples import (
    API_PW,
    APP_PW,
    ETCD_PW,
    PKI,
    REPL_PW,
    REWIND_PW,
    db_secrets,
    files,
    load,
    member,
    sync_module,
    web_app,
)


class Recorder:
    """Stands in for subprocess.run: records the commands, answers ``psql`` from a script."""

    def __init__(self, psql=lambda sql: "") -> None:
        self.calls: list[list[str]] = []
        self.psql_inputs: list[str] = []
        self.psql = psql

    def __call__(self, cmd, **kw):
        self.calls.append(list(cmd))
        out = ""
        if "psql" in cmd:
            self.psql_inputs.append(kw.get("input", ""))
            out = self.psql(kw.get("input", ""))
        return type("R", (), {"returncode": 0, "stdout": out, "stderr": ""})()


@pytest.fixture
def db_sync(tmp_path, monkeypatch):
    fs = files(load(member()))
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    conf = tmp_path / "config.yml"
    conf.write_text(fs[paths.PATRONI_CONF]["content"])
    me = (os.getuid(), os.getgid())
    monkeypatch.setattr(module, "PATRONI_CONF", str(conf))
    monkeypatch.setattr(module, "TLS_DIR", str(tmp_path / "tls"))
    monkeypatch.setattr(module, "PGBACKREST_SECRETS", str(tmp_path / "conf.d" / "resilient-stack.conf"))
    monkeypatch.setattr(module, "ids", lambda user, group=None: me)
    rec = Recorder()
    monkeypatch.setattr(module.subprocess, "run", rec)
    module.recorder = rec
    return module


def test_the_tls_files_land_with_their_modes_and_reload_once(db_sync, tmp_path):
    doc = db_secrets()
    assert db_sync.apply_tls(doc["tls"]) is True
    tls = tmp_path / "tls"
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in tls.iterdir()}
    assert modes == {
        "ca.crt": "0o644",
        "member.crt": "0o644",
        "member.key": "0o640",
        "root.crt": "0o644",
        "root.key": "0o600",
    }
    assert (tls / "member.crt").read_text() == PKI["certs"]["db-gra"]
    assert ["systemctl", "is-active", "--quiet", "patroni"] in db_sync.recorder.calls
    db_sync.recorder.calls.clear()
    assert db_sync.apply_tls(doc["tls"]) is False and db_sync.recorder.calls == [], "unchanged: nothing reloaded"
    with pytest.raises(ValueError, match="unknown file"):
        db_sync.apply_tls({"../../etc/shadow": PKI["caCert"]})


def test_patronis_passwords_are_written_where_patroni_reads_them(db_sync, tmp_path):
    assert db_sync.apply_passwords(db_secrets()["passwords"]) is True
    config = yaml.safe_load((tmp_path / "config.yml").read_text())
    assert config["postgresql"]["authentication"]["replication"]["password"] == REPL_PW
    assert config["postgresql"]["authentication"]["rewind"]["password"] == REWIND_PW
    assert config["restapi"]["authentication"]["password"] == API_PW and config["etcd3"]["password"] == ETCD_PW
    assert oct((tmp_path / "config.yml").stat().st_mode & 0o777) == "0o600"
    assert db_sync.apply_passwords(db_secrets()["passwords"]) is False, "applied once"


def test_the_repositorys_keys_go_to_pgbackrests_include_directory(db_sync, tmp_path):
    assert db_sync.apply_backup(db_secrets()["backup"]) is True
    conf = tmp_path / "conf.d" / "resilient-stack.conf"
    lines = conf.read_text().splitlines()
    assert "[global]" in lines and "repo1-s3-key=AKIAEXAMPLE" in lines and "repo1-path=/pgbackrest" in lines
    assert oct(conf.stat().st_mode & 0o777) == "0o640"


def _stored(rows):
    return lambda sql: (
        "\n".join("|".join(r) for r in rows) if "FROM pg_authid" in sql else ("f" if "recovery" in sql else "")
    )


def test_on_the_primary_the_roles_take_the_documents_passwords(db_sync):
    """The cluster's roles from their passwords (any salt checks), the application's from its verifiers; nothing
    is sent when the stored passwords already match."""
    doc = db_secrets()
    db_sync.apply_passwords(doc["passwords"])
    ok = secrets.scram_verifier(REPL_PW, role="replicator")
    rows = [
        ("replicator", ok, "null"),
        ("patroni_rewind", secrets.scram_verifier(REWIND_PW, role="x"), "null"),
        ("shop", doc["roles"]["shop"]["verifier"], "null"),
        ("shop_alt", "", "null"),
    ]
    db_sync.recorder.psql = _stored(rows)
    assert db_sync.apply_roles(doc["passwords"], doc["roles"]) == []
    # a rotated replication password: the primary's role is altered, with a verifier, never the clear password
    rows[0] = ("replicator", secrets.scram_verifier("an older password", role="replicator"), "null")
    assert db_sync.apply_roles(doc["passwords"], doc["roles"]) == ["replicator"]
    sent = db_sync.recorder.psql_inputs[-1]
    assert "ALTER ROLE replicator PASSWORD 'SCRAM-SHA-256$4096:" in sent and REPL_PW not in sent


def test_a_rotated_application_password_keeps_the_previous_one_valid_a_while(db_sync):
    rotated = db_secrets(app_passwords=(APP_PW, "App pw generation 1"))
    rows = [("shop", secrets.scram_verifier(APP_PW, role="shop"), "null"), ("shop_alt", "", "null")]
    db_sync.recorder.psql = _stored(rows)
    changed = db_sync.apply_roles({}, rotated["roles"])
    assert changed == ["shop (previous, expires in 15 minutes)", "shop_alt"]
    sent = db_sync.recorder.psql_inputs[-1]
    assert f"ALTER ROLE shop_alt PASSWORD '{rotated['roles']['shop_alt']['verifier']}' VALID UNTIL 'infinity';" in sent
    assert "SELECT format('ALTER ROLE %I VALID UNTIL %L', 'shop', now() + interval '15 minutes') \\gexec" in sent
    # once the previous one has its expiry, it is not extended by later runs
    rows[:] = [
        ("shop", rows[0][1], "2026-12-06 10:15:00+00"),
        ("shop_alt", rotated["roles"]["shop_alt"]["verifier"], "infinity"),
    ]
    assert db_sync.apply_roles({}, rotated["roles"]) == []


def test_a_replica_touches_no_role(db_sync):
    db_sync.recorder.psql = lambda sql: "t"
    assert db_sync.apply_roles(db_secrets()["passwords"], db_secrets()["roles"]) == []
    assert len(db_sync.recorder.psql_inputs) == 1, "asked whether it is the primary, nothing else"


def test_the_dynamic_configuration_is_kept_at_the_stacks_values(db_sync):
    want = {"ttl": 30, "synchronous_mode": True, "postgresql": {"parameters": {"max_slot_wal_keep_size": "5120MB"}}}
    have = {
        "ttl": 30,
        "synchronous_mode": False,
        "loop_wait": 10,
        "postgresql": {"parameters": {"max_slot_wal_keep_size": "5120MB", "work_mem": "8MB"}},
    }
    assert db_sync.subset_differs(want, have) is True
    have["synchronous_mode"] = True
    assert db_sync.subset_differs(want, have) is False, "keys the stack does not set are the operator's"
    assert db_sync.subset_differs({"ttl": 30}, {"ttl": "30"}) is False


@pytest.mark.parametrize(
    "bad",
    [
        {"v": 1, "tls": {"ca": "not a pem"}},
        {"v": 1, "passwords": {"replication": "two\nlines"}},
        {"v": 1, "roles": {"shop": {"verifier": "md5abc"}}},
        {"v": 1, "roles": {"Shop; DROP": {"verifier": secrets.scram_verifier("x" * 20, role="a")}}},
        {"v": 1, "app": {"credentials": [{"user": "x y", "password": "p"}]}},
    ],
)
def test_a_secret_document_it_would_not_write_is_refused(db_sync, bad):
    with pytest.raises(ValueError):
        db_sync.check_secrets(bad)


@pytest.mark.parametrize(
    "rule",
    [
        "host all all 10.0.0.0/8 scram-sha-256",
        "hostssl all all 10.0.0.0/8 trust",
        "hostssl all all 0.0.0.0/1 scram-sha-256",
        "local all all trust",
    ],
)
def test_a_runtime_pg_hba_that_would_open_postgresql_is_refused(db_sync, rule):
    with pytest.raises(ValueError):
        db_sync.check({"v": 1, "pg_hba": [rule]})


def test_a_web_host_writes_the_applications_credentials_for_the_application_only(tmp_path, monkeypatch):
    module = sync_module(tmp_path, files(load(web_app()))[paths.SYNC_SCRIPT]["content"])
    monkeypatch.setattr(module, "APP_CREDENTIALS", str(tmp_path / "app-credentials.json"))
    monkeypatch.setattr(module, "ids", lambda user, group=None: (os.getuid(), os.getgid()))
    rec = Recorder()
    monkeypatch.setattr(module.subprocess, "run", rec)
    doc = secrets.unseal(
        files(load(web_app()))[secrets.SEALED_FILE]["content"].strip(), "K" * 40 + "0123456789abcdefghijklmn"
    )
    assert module.apply_app(doc["app"]) is True
    written = json.loads((tmp_path / "app-credentials.json").read_text())
    assert written["credentials"] == [{"user": "shop", "password": APP_PW}] and written["write_token"]
    assert oct((tmp_path / "app-credentials.json").stat().st_mode & 0o777) == "0o600"
    assert module.ROLE == "web" and module.PATRONI_CONF == ""


def test_a_member_takes_a_new_replication_password_once_the_cluster_role_has_it(db_sync, tmp_path):
    """A rotated replication password is written into Patroni's configuration only once this member's PostgreSQL
    (the role replicates from the primary) checks it: a replica never reconnects with a password the primary does
    not know yet, whatever the order in which the hosts' syncs run."""
    db_sync.apply_passwords(db_secrets()["passwords"])
    rotated = {**db_secrets()["passwords"], "replication": "Repl pw generation 1 x"}
    old = secrets.scram_verifier(REPL_PW, role="replicator")
    db_sync.recorder.psql = lambda sql: old if "pg_authid" in sql else ""
    assert db_sync.apply_passwords(rotated) is False, "the primary does not have it yet: the old one stays"
    conf = yaml.safe_load((tmp_path / "config.yml").read_text())
    assert conf["postgresql"]["authentication"]["replication"]["password"] == REPL_PW
    new = secrets.scram_verifier("Repl pw generation 1 x", role="replicator")
    db_sync.recorder.psql = lambda sql: new if "pg_authid" in sql else ""
    assert db_sync.apply_passwords(rotated) is True
    conf = yaml.safe_load((tmp_path / "config.yml").read_text())
    assert conf["postgresql"]["authentication"]["replication"]["password"] == "Repl pw generation 1 x"
