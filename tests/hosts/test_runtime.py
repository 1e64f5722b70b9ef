"""The data volume and the runtime configuration of the hosts (issue 17, point 1): the payloads and the channel."""

from __future__ import annotations

import json

import pytest

from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts import paths, runtime, secrets
from tests.hosts.samples import (
    BACKUP,
    HOST_KEY,
    MEMBERS,
    REPL_PW,
    VOLUME_ID,
    WEB_IPS,
    files,
    load,
    member,
    sync_module,
)


def test_the_data_volume_is_found_by_its_id_and_never_reformatted():
    fs = files(load(member()))
    script = fs[paths.DATA_VOLUME_SCRIPT]
    assert script["permissions"] == "0755" and script["content"].startswith("#!/bin/bash\n")
    text = script["content"]
    assert f"VOLUME_ID={VOLUME_ID}\n" in text and "MOUNT=/var/lib/postgresql\n" in text
    assert "serial=${VOLUME_ID:0:20}" in text, "virtio-blk serials are the id's first 20 characters"
    # a file system is mounted as it is; only a device with no signature at all is formatted
    assert text.index("blkid -p -o value -s TYPE") < text.index("mkfs.ext4")
    assert "PTTYPE" in text and "wipefs --no-act" in text
    assert "/etc/fstab" in text and "nofail" in text and "UUID=" in text
    assert f"ETCD_DATA={paths.ETCD_DATA}\n" in text and paths.ETCD_DATA.startswith(paths.DATA_MOUNT + "/")
    assert paths.PG_DATA.startswith(paths.DATA_MOUNT + "/"), "PostgreSQL's data directory is on the volume"


def test_etcd_and_patroni_never_start_without_the_data_volume():
    fs = files(load(member(name="db-waw")))
    for unit in (paths.ETCD_SERVICE, paths.PATRONI_SERVICE):
        dropin = fs[paths.SYSTEMD_DROPIN.format(unit=unit)]["content"]
        assert f"RequiresMountsFor={paths.DATA_MOUNT}\n" in dropin
        assert f"ConditionPathIsMountPoint={paths.DATA_MOUNT}\n" in dropin
    assert f"ETCD_DATA_DIR={paths.ETCD_DATA}\n" in fs[paths.ETCD_ENV]["content"]


@pytest.mark.parametrize("bad", [None, "", "not-a-volume", "x" * 80, "5b7c3b2e 8d1f", "$(reboot)"])
def test_a_member_needs_its_data_volume_id(bad):
    with pytest.raises(ValueError, match="data_volume_id"):
        member(data_volume_id=bad)
    ci.validate_db_member(name="db-gra", members=MEMBERS, bootstrap=True, scope="shop", backup=None)  # not yet known


def test_the_runtime_items_fit_nova_and_read_back():
    doc = ci.db_runtime(members=MEMBERS, app_cidrs=[f"{ip}/32" for ip in WEB_IPS] * 1 + ["10.0.0.0/8"])
    items = ci.runtime_items(doc)
    assert all(len(k) <= 255 and len(v) <= 255 for k, v in items.items())
    assert list(items) == [f"rs-runtime-{i:02d}" for i in range(len(items))] and len(items) > 1
    assert ci.runtime_document_of({**items, "resilient-stack:role": "database"}) == doc
    with pytest.raises(ValueError, match="consecutive"):
        ci.runtime_document_of({k: v for k, v in items.items() if k != "rs-runtime-00"})
    with pytest.raises(ValueError, match="no runtime"):
        ci.runtime_document_of({"resilient-stack:role": "database"})


def test_the_runtime_pg_hba_is_the_user_datas():
    """The same inputs give the same pg_hba in the user data (first boot) and in the metadata (later changes)."""
    app = [f"{ip}/32" for ip in WEB_IPS]
    boot = load(member(name="db-waw", app_cidrs=app, replication_cidrs=["192.0.2.0/24"]))
    patroni = __import__("yaml").safe_load(files(boot)[paths.PATRONI_CONF]["content"])
    doc = ci.db_runtime(
        members=MEMBERS, app_cidrs=app, replication_cidrs=["192.0.2.0/24"], app_user="shop", app_db="app"
    )
    assert doc["pg_hba"] == patroni["postgresql"]["pg_hba"]
    # and the same dynamic configuration as the bootstrap's (the sync keeps a running cluster at it)
    doc = ci.db_runtime(
        members=MEMBERS, app_cidrs=app, replication_cidrs=["192.0.2.0/24"], app_user="shop", app_db="app", backup=BACKUP
    )
    assert doc["dcs"] == patroni["bootstrap"]["dcs"]
    # the first boot's copy of the runtime document is the user data's own
    first = json.loads(files(boot)[paths.RUNTIME_CONFIG]["content"])
    assert first["pg_hba"] == doc["pg_hba"] and first["dcs"] == doc["dcs"]


def test_the_sync_script_reads_what_the_components_write(tmp_path):
    fs = files(load(member()))
    sync = fs[paths.SYNC_SCRIPT]
    assert sync["permissions"] == "0755" and sync["content"].startswith("#!/usr/bin/python3\n")
    module = sync_module(tmp_path, sync["content"])
    doc = runtime.document(
        pg_hba=["local all postgres peer", "hostssl shop shop 203.0.113.40/32 scram-sha-256"],
        firewall={"admin4": ["198.51.100.0/24"], "members4": ["203.0.113.10/32"]},
    )
    items = runtime.encode(doc)
    assert module.check(module.decode({**items, "other": "x"})) == doc
    assert module.METADATA_URL == paths.METADATA_URL == "http://169.254.169.254/openstack/latest/meta_data.json"
    for bad in (
        {"v": 1, "pg_hba": ["hostssl all all 0.0.0.0/0 trust\nlocal all all trust"]},
        {"v": 1, "pg_hba": "local all all trust"},
        {"v": 1, "firewall": {"admin4": ["0.0.0.0/0"]}},
        {"v": 1, "firewall": {"admin4": ["10.0.0.1/8"]}},
        {"v": 1, "firewall": {"Admin; flush ruleset": ["10.0.0.0/8"]}},
    ):
        with pytest.raises(ValueError):
            module.check(module.decode(runtime.encode(bad)))
    with pytest.raises(ValueError, match="version"):
        module.decode(runtime.encode({"v": 2}))


def test_the_sync_rewrites_patronis_pg_hba_and_nothing_else(tmp_path, monkeypatch):
    fs = files(load(member()))
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    conf = tmp_path / "config.yml"
    original = fs[paths.PATRONI_CONF]["content"]
    conf.write_text(original)
    monkeypatch.setattr(module, "PATRONI_CONF", str(conf))
    calls = []
    monkeypatch.setattr(
        module.subprocess, "run", lambda cmd, **kw: calls.append(cmd) or type("R", (), {"returncode": 0})()
    )
    yaml = __import__("yaml")
    rules = yaml.safe_load(original)["postgresql"]["pg_hba"]
    assert module.apply_pg_hba(rules) is False and calls == []  # unchanged: nothing written, nothing reloaded
    new = rules + ["hostssl shop shop 192.0.2.7/32 scram-sha-256"]
    assert module.apply_pg_hba(new) is True
    after = yaml.safe_load(conf.read_text())
    before = yaml.safe_load(original)
    assert after["postgresql"]["pg_hba"] == new
    before["postgresql"]["pg_hba"] = new
    assert after == before, "only pg_hba changed"
    assert conf.read_text().startswith("# Managed by resilient_stack") and oct(conf.stat().st_mode & 0o777) == "0o600"
    assert calls == [["systemctl", "is-active", "--quiet", "patroni"], ["systemctl", "reload", "patroni"]]


def test_the_sync_at_first_boot_tolerates_no_metadata_service(tmp_path, monkeypatch, capsys):
    module = sync_module(tmp_path, files(load(member()))[paths.SYNC_SCRIPT]["content"])

    def unreachable():
        raise OSError("connection refused")

    monkeypatch.setattr(module, "fetch", unreachable)
    applied = []
    monkeypatch.setattr(module, "STATE", str(tmp_path / "runtime.json"))
    monkeypatch.setattr(module, "SEALED_FILE", str(tmp_path / "secrets.sealed"))
    monkeypatch.setattr(module, "apply_secrets", lambda doc, boot: applied.append((doc, boot)) or ["tls"])
    monkeypatch.setattr(module, "apply_pg_hba", lambda rules: False)
    monkeypatch.setattr(module, "apply_firewall", lambda sets: False)
    monkeypatch.setattr(module, "apply_backup_schedule", lambda schedule: [])
    monkeypatch.setattr(module, "write_private", lambda *a, **k: True)
    fs = files(load(member()))
    (tmp_path / "runtime.json").write_text(fs[paths.RUNTIME_CONFIG]["content"])
    (tmp_path / "secrets.sealed").write_text(fs[secrets.SEALED_FILE]["content"])
    key = tmp_path / "host.key"
    key.write_text(HOST_KEY)
    monkeypatch.setattr(module, "KEY_FILE", str(key))
    assert module.main(["--boot"]) == 0
    out = capsys.readouterr().out
    assert "the user data's copies are applied" in out and "applied: tls" in out
    assert applied and applied[0][1] is True and applied[0][0]["passwords"]["replication"] == REPL_PW
    assert module.main([]) == 1 and "nothing changed" in capsys.readouterr().out  # the timer's run says so
    # a document sealed for another host is refused, nothing is applied
    applied.clear()
    key.write_text("Z" * 64)
    assert module.main(["--boot"]) == 1 and not applied
    assert "cannot be unsealed with this host's key" in capsys.readouterr().out
