"""Root's sync exports the end of each certificate of a member's TLS directory for the node exporter (the monitoring
hosts' MemberCertificateExpiring alert), read by the real openssl, run here as a module with its paths in a temporary
directory."""

from __future__ import annotations

import os
import shutil

import pytest

from resilient_stack.hosts import paths, pki
from tests.conftest import need_tool
from tests.hosts.samples import files, load, member, sync_module, web
from tests.hosts.test_sync_secrets import db_secrets


@pytest.fixture
def sync(tmp_path, monkeypatch):
    need_tool(shutil.which("openssl") is not None, "openssl is not installed")
    module = sync_module(tmp_path, files(load(member()))[paths.SYNC_SCRIPT]["content"])
    me = (os.getuid(), os.getgid())
    monkeypatch.setattr(module, "TLS_DIR", str(tmp_path / "tls"))
    monkeypatch.setattr(module, "CERTIFICATE_METRICS", str(tmp_path / "textfile" / "certificates.prom"))
    monkeypatch.setattr(module, "ids", lambda user, group=None: me)
    real = module.write_private
    monkeypatch.setattr(module, "write_private", lambda path, text, owner, mode=0o600: real(path, text, me, mode))
    return module


def test_each_certificate_of_the_tls_directory_is_exported_with_its_end(sync, tmp_path):
    tls = db_secrets()["tls"]
    sync.apply_tls(tls)
    assert sync.export_certificates() is True
    lines = (tmp_path / "textfile" / "certificates.prom").read_text().splitlines()
    assert lines[0] == "# TYPE resilient_stack_certificate_expiry_timestamp_seconds gauge"
    ends = {
        name: int(pki.not_after(tls[key]).timestamp())
        for key, name in (("ca", "ca.crt"), ("cert", "member.crt"), ("admin_cert", "root.crt"))
    }
    assert lines[1:] == [
        f'resilient_stack_certificate_expiry_timestamp_seconds{{file="{name}"}} {end}'
        for name, end in sorted(ends.items())
    ]
    assert sync.export_certificates() is False  # unchanged: not written again


def test_an_unreadable_certificate_is_said_and_left_out(sync, tmp_path, capsys):
    tls = db_secrets()["tls"]
    sync.apply_tls(tls)
    (tmp_path / "tls" / "root.crt").write_text("not a certificate\n")
    assert sync.export_certificates() is True
    text = (tmp_path / "textfile" / "certificates.prom").read_text()
    assert 'file="member.crt"' in text and 'file="root.crt"' not in text
    assert "root.crt unreadable" in capsys.readouterr().out


def test_a_host_without_certificates_exports_nothing(tmp_path, monkeypatch):
    module = sync_module(tmp_path, files(load(web()))[paths.SYNC_SCRIPT]["content"])
    monkeypatch.setattr(module, "TLS_DIR", str(tmp_path / "tls"))
    monkeypatch.setattr(module, "CERTIFICATE_METRICS", str(tmp_path / "certificates.prom"))
    assert module.export_certificates() is False and not (tmp_path / "certificates.prom").exists()


def test_no_openssl_exports_nothing_and_the_sync_goes_on(sync, tmp_path, monkeypatch, capsys):
    sync.apply_tls(db_secrets()["tls"])

    def missing(*a, **k):
        raise FileNotFoundError(2, "No such file or directory", "openssl")

    monkeypatch.setattr(sync.subprocess, "run", missing)
    assert sync.export_certificates() is False
    assert "certificates not exported" in capsys.readouterr().out
