"""Root's sync applying the day-2 settings (issue 27, point 2): the SSH keys on every host, and on a web host what it
serves (nginx's site and server name, https, the index page's title, the names of its ACME certificate), run here as
a module with its paths in a temporary directory and its commands recorded; and the certificate script run for real
with recording stand-ins of certbot, nginx and systemctl. (On booted hosts: tests/integration/podman/test_day2.py.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest

from resilient_stack.core.vocabulary import SSH_PUBLIC_KEY
from resilient_stack.hosts import acme, paths, payload, runtime
from resilient_stack.hosts import cloudinit as ci
from resilient_stack.hosts.fields import SERVER_NAME_RE
from resilient_stack.hosts.web import site_settings
from tests.hosts.samples import KEY, files, load, member, sync_of, web, web_app
from tests.hosts.test_sync_secrets import Recorder

OTHER_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQCother admin@laptop"


class Nginx(Recorder):
    """Recorder whose ``nginx -t`` fails while ``refuse`` is set."""

    refuse = False

    def __call__(self, cmd, **kw):
        result = super().__call__(cmd, **kw)
        if list(cmd[:2]) == ["nginx", "-t"] and self.refuse:
            result.returncode, result.stderr = 1, "nginx: [emerg] unknown directive"
        return result


def _redirect(module, tmp_path, monkeypatch) -> Nginx:
    me = (os.getuid(), os.getgid())
    monkeypatch.setattr(module, "ids", lambda user, group=None: me)
    for name, where in (
        ("SSH_KEYS_DIR", "ssh-keys"),
        ("NGINX_SITE", "sites-available/resilient-stack"),
        ("SERVER_NAME_CONF", "snippets/server-name.conf"),
        ("INDEX_PAGE", "www/index.html"),
        ("CERT_NAMES", "certificate-names"),
    ):
        if getattr(module, name):
            monkeypatch.setattr(module, name, str(tmp_path / where))
    rec = Nginx()
    monkeypatch.setattr(module.subprocess, "run", rec)
    return rec


@pytest.fixture
def web_sync(tmp_path, monkeypatch):
    module = sync_of(load(web_app(https=True, server_name="shop.example", ssh_authorized_keys=[KEY])), tmp_path)
    module.recorder = _redirect(module, tmp_path, monkeypatch)
    return module


def read(path) -> str:
    with open(path) as f:
        return f.read()


def test_the_sync_checks_with_the_hosts_layers_own_rules():
    """One implementation of each rule: the sync's patterns are the hosts layer's, given to it at rendering."""
    for doc in (load(web()), load(member())):
        text = files(doc)[paths.SYNC_SCRIPT]["content"]
        assert f"SSH_KEY = re.compile({SSH_PUBLIC_KEY!r})\n" in text
        assert f"SERVER_NAME = re.compile({SERVER_NAME_RE.pattern!r})\n" in text
        assert f'LOGIN_USER = "{paths.LOGIN_USER}"' in text and f'SSH_KEYS_DIR = "{paths.SSH_KEYS_DIR}"' in text
    assert 'SITE_DIR = ""' in files(load(member()))[paths.SYNC_SCRIPT]["content"], "a database host has no site"


def test_the_keys_land_in_the_one_file_sshd_reads_and_a_removed_key_is_gone(web_sync, tmp_path):
    keys = tmp_path / "ssh-keys" / paths.LOGIN_USER
    assert web_sync.apply_ssh_keys([KEY, OTHER_KEY]) is True
    assert read(keys).splitlines()[1:] == [KEY, OTHER_KEY] and read(keys).startswith("# Managed by resilient_stack")
    assert oct(keys.stat().st_mode & 0o777) == "0o644", "readable by the user sshd checks it as; written by root only"
    assert web_sync.apply_ssh_keys([KEY, OTHER_KEY]) is False, "applied once"
    assert web_sync.apply_ssh_keys([OTHER_KEY]) is True
    assert KEY not in read(keys) and read(keys).splitlines()[1:] == [OTHER_KEY], "the key taken out is refused"
    assert web_sync.apply_ssh_keys([]) is True and read(keys).splitlines()[1:] == [], "no key: nobody logs in"
    assert web_sync.recorder.calls == [], "sshd reads the file at each login: nothing to reload"


@pytest.mark.parametrize(
    "keys",
    [
        "ssh-ed25519 AAAA x",  # not a list
        [f'command="/bin/sh" {KEY}'],  # options before the key
        [KEY + "\nssh-ed25519 AAAAC3Nz evil@x"],  # a second line
        [KEY + "\x00"],
        ["ssh-dss AAAAB3NzaC1kc3MAAACBAP x@y"],
        [42],
    ],
)
def test_keys_the_sync_would_not_write_are_refused(web_sync, keys):
    with pytest.raises(ValueError, match="ssh_keys"):
        web_sync.check({"v": 1, "ssh_keys": keys})


def test_every_host_gets_its_keys_from_the_runtime_configuration():
    for doc in (load(web(ssh_authorized_keys=[KEY])), load(member(ssh_authorized_keys=[KEY]))):
        assert json.loads(files(doc)[paths.RUNTIME_CONFIG]["content"])["ssh_keys"] == [KEY]
        assert "ssh_authorized_keys" not in doc, "never cloud-init's copy in ~/.ssh, which sshd does not read"
    assert ci.db_runtime(members=[ci.ClusterMember("db-gra", "203.0.113.10")], ssh_keys=[KEY])["ssh_keys"] == [KEY]


def site(**kw) -> dict:
    kw.setdefault("server_name", "shop.example")
    kw.setdefault("https", True)
    kw.setdefault("app_title", "Shop")
    return site_settings(**kw)


def test_a_new_site_is_tested_then_reloaded_and_asks_for_the_new_names(web_sync, tmp_path):
    rec = web_sync.recorder
    assert web_sync.apply_site(site()) == ["site", "title", "certificate"]
    assert read(tmp_path / "snippets/server-name.conf") == "server_name shop.example;\n"
    assert "include" in read(tmp_path / "sites-available/resilient-stack")
    assert f"include {paths.TLS_SNIPPET};" in read(tmp_path / "sites-available/resilient-stack"), "the ACME variant"
    assert read(tmp_path / "certificate-names") == "shop.example\n"
    assert "<h1>Shop</h1>" in read(tmp_path / "www/index.html")
    assert rec.calls == [
        ["nginx", "-t", "-q"],
        ["systemctl", "is-active", "--quiet", "nginx"],
        ["systemctl", "reload", "nginx"],
        ["systemctl", "start", "--no-block", f"{paths.CERT_SERVICE}.service"],
    ]
    rec.calls.clear()
    assert web_sync.apply_site(site()) == [] and rec.calls == [], "unchanged: nothing written, nothing reloaded"
    # the title alone: the page, no reload
    assert web_sync.apply_site(site(app_title="Shop <sale> & co")) == ["title"] and rec.calls == []
    assert "<h1>Shop &lt;sale&gt; &amp; co</h1>" in read(tmp_path / "www/index.html")
    # new DNS names: the site's server name, and the certificate of the new names at once
    assert web_sync.apply_site(site(server_name="www.shop.example shop.example", app_title="Shop <sale> & co")) == [
        "site",
        "certificate",
    ]
    assert read(tmp_path / "snippets/server-name.conf") == "server_name www.shop.example shop.example;\n"
    assert read(tmp_path / "certificate-names") == "www.shop.example shop.example\n"
    assert rec.calls[-1] == ["systemctl", "start", "--no-block", f"{paths.CERT_SERVICE}.service"]


def test_https_off_and_on_again_switches_the_variant(web_sync, tmp_path):
    assert web_sync.apply_site(site(https=False)) == ["site", "title", "certificate"]  # no name: an empty file
    served = read(tmp_path / "sites-available/resilient-stack")
    assert "listen 443" not in served and read(tmp_path / "certificate-names") == ""
    assert not any(c[:2] == ["systemctl", "start"] for c in web_sync.recorder.calls)
    assert web_sync.apply_site(site(server_name="_")) == ["site"]  # https, no DNS name: self-signed, no ACME
    served = read(tmp_path / "sites-available/resilient-stack")
    assert f"ssl_certificate {paths.SNAKEOIL_CERT};" in served and "acme-challenge" not in served
    assert web_sync.apply_site(site()) == ["site", "certificate"]
    assert "acme-challenge" in read(tmp_path / "sites-available/resilient-stack")


def test_a_site_nginx_refuses_is_put_back_and_nginx_is_never_reloaded(web_sync, tmp_path, capsys):
    rec = web_sync.recorder
    assert web_sync.apply_site(site()) == ["site", "title", "certificate"]
    before = {
        p: read(tmp_path / p)
        for p in ("sites-available/resilient-stack", "snippets/server-name.conf", "certificate-names")
    }
    rec.calls.clear()
    rec.refuse = True
    changed = web_sync.apply_site(site(https=False, server_name="new.shop.example", app_title="New"))
    assert changed == ["title"], "the page does not depend on nginx"
    assert {p: read(tmp_path / p) for p in before} == before, "the previous site, server name and names stay"
    assert rec.calls == [["nginx", "-t", "-q"]], "never reloaded, no certificate asked for"
    assert "nginx refuses the new site, the previous one stays: nginx: [emerg]" in capsys.readouterr().out
    rec.refuse = False
    assert web_sync.apply_site(site(https=False, server_name="new.shop.example", app_title="New")) == [
        "site",
        "certificate",
    ], "the next run tries again"


def test_at_the_first_boot_a_refused_site_leaves_nothing_behind(web_sync, tmp_path):
    web_sync.recorder.refuse = True
    assert web_sync.apply_site(site(), boot=True) == ["title"]
    assert not (tmp_path / "sites-available/resilient-stack").exists(), "runcmd's nginx -t then fails the boot"
    assert not (tmp_path / "snippets/server-name.conf").exists()


def test_at_the_first_boot_the_certificate_waits_for_nginx(web_sync):
    assert web_sync.apply_site(site(), boot=True) == ["site", "title", "certificate"]
    assert not any(c[:2] == ["systemctl", "start"] for c in web_sync.recorder.calls), "runcmd starts it after nginx"


@pytest.mark.parametrize(
    "bad",
    [
        {"server_name": "x; include /etc/shadow", "https": False, "certify": None, "title": "t"},
        {"server_name": "_", "https": "yes", "certify": None, "title": "t"},
        {"server_name": "a.example", "https": False, "certify": ["a.example"], "title": "t"},  # no https
        {"server_name": "a.example", "https": True, "certify": ["b.example"], "title": "t"},  # not a served name
        {"server_name": "*.a.example", "https": True, "certify": ["*.a.example"], "title": "t"},
        {"server_name": "a.example", "https": True, "certify": [], "title": "t"},
        {"server_name": "_", "https": False, "certify": None, "title": "a\nb"},
        {"server_name": "_", "https": False, "certify": None, "title": " "},
        {"server_name": "_", "https": False, "certify": None, "title": "x" * 201},
        {"server_name": "_", "https": False, "certify": None},
        {"server_name": "_", "https": False, "certify": None, "title": "t", "root": "/etc"},
        ["_", False, None, "t"],
    ],
)
def test_a_site_the_sync_would_not_serve_is_refused(web_sync, bad):
    with pytest.raises(ValueError, match="site"):
        web_sync.check(web_sync.decode(runtime.encode({"v": 1, "site": bad})))


def test_the_site_settings_follow_the_hosts_layers_rules():
    assert site_settings(server_name="www.shop.example shop.example", https=True, app_title="Shop") == {
        "server_name": "www.shop.example shop.example",
        "https": True,
        "certify": acme.names("www.shop.example shop.example"),
        "title": "Shop",
    }
    assert site_settings(server_name="shop.example", https=False, app_title="Shop")["certify"] is None
    assert site_settings(server_name="_", https=True, app_title="Shop")["certify"] is None
    with pytest.raises(ValueError, match="server_name"):
        site_settings(server_name="a;b", https=True, app_title="Shop")


def test_main_applies_the_keys_and_the_site_and_says_so(tmp_path, monkeypatch, capsys):
    doc = load(web(https=True, server_name="shop.example", ssh_authorized_keys=[KEY], app_title="Shop"))
    module = sync_of(doc, tmp_path)
    rec = _redirect(module, tmp_path, monkeypatch)
    for name in ("FIREWALL_TABLE", "ACME_PEERS_CONF"):
        monkeypatch.setattr(module, name, "")
    monkeypatch.setattr(module, "apply_secrets", lambda secret, boot: [])
    monkeypatch.setattr(module, "unseal", lambda sealed: {"v": 1})
    monkeypatch.setattr(module, "STATE", str(tmp_path / "runtime.json"))
    monkeypatch.setattr(module, "SEALED_FILE", str(tmp_path / "secrets.sealed"))
    new = ci.web_runtime(ssh_keys=[OTHER_KEY], server_name="www.shop.example", https=True, app_title="Sale")
    monkeypatch.setattr(module, "fetch", lambda: {**runtime.encode(new), "rs-secret-00": "x"})
    assert module.main([]) == 0
    assert "applied: ssh_keys, site, title, certificate" in capsys.readouterr().out
    assert read(tmp_path / "ssh-keys" / paths.LOGIN_USER).splitlines()[1:] == [OTHER_KEY]
    assert json.loads(read(tmp_path / "runtime.json")) == new
    assert ["systemctl", "start", "--no-block", f"{paths.CERT_SERVICE}.service"] in rec.calls
    assert module.main([]) == 0 and "unchanged" in capsys.readouterr().out


# ---- the certificate script, run for real -------------------------------------------------------------------


def _stand_ins(bin_dir, log, *, certbot_rc=0, nginx_rc=0):
    bin_dir.mkdir()
    for tool, rc in (("certbot", certbot_rc), ("nginx", nginx_rc), ("systemctl", 0)):
        path = bin_dir / tool
        path.write_text(f'#!/bin/bash\necho "{tool} $*" >> {log}\nexit {rc}\n')
        path.chmod(path.stat().st_mode | stat.S_IXUSR)


def certificate_run(tmp_path, names: str | None, **rcs) -> tuple[subprocess.CompletedProcess, list[str], str]:
    names_file, snippet, log = tmp_path / "certificate-names", tmp_path / "tls.conf", tmp_path / "calls.log"
    if names is not None:
        names_file.write_text(names)
    snippet.write_text("# self-signed\n")
    script = tmp_path / "certificate.sh"
    script.write_text(
        payload.render(
            "shell/certificate.sh",
            names_file=str(names_file),
            acme_root=str(tmp_path / "acme"),
            cert_name=paths.CERT_NAME,
            tls_snippet=str(snippet),
        )
    )
    _stand_ins(tmp_path / "bin", log, **rcs)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}:{os.environ['PATH']}"}
    r = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=60)
    return r, (log.read_text().splitlines() if log.exists() else []), snippet.read_text()


@pytest.mark.parametrize("names", [None, "", "\n"])
def test_with_no_name_to_certify_the_script_does_nothing(tmp_path, names):
    r, calls, snippet = certificate_run(tmp_path, names)
    assert r.returncode == 0 and "nothing to do" in r.stdout and calls == [] and snippet == "# self-signed\n"


def test_the_script_asks_for_the_current_names_and_serves_the_certificate(tmp_path):
    r, calls, snippet = certificate_run(tmp_path, "www.shop.example shop.example\n")
    assert r.returncode == 0, r.stdout + r.stderr
    certbot = calls[0].split()
    assert certbot[:2] == ["certbot", "certonly"] and "--renew-with-new-domains" in certbot
    assert [certbot[i + 1] for i, a in enumerate(certbot) if a == "-d"] == ["www.shop.example", "shop.example"]
    assert certbot[certbot.index("--cert-name") + 1] == paths.CERT_NAME
    assert f"ssl_certificate /etc/letsencrypt/live/{paths.CERT_NAME}/fullchain.pem;" in snippet
    assert "Strict-Transport-Security" in snippet and "www.shop.example shop.example" in snippet
    assert calls[1:] == ["nginx -t -q", "systemctl reload nginx"]


def test_without_a_certificate_the_previous_one_stays(tmp_path):
    r, calls, snippet = certificate_run(tmp_path, "shop.example\n", certbot_rc=1)
    assert r.returncode == 1 and "the previous one stays" in r.stdout
    assert snippet == "# self-signed\n" and [c.split()[0] for c in calls] == ["certbot"]


def test_a_certificate_nginx_refuses_is_put_back_and_nginx_keeps_serving(tmp_path):
    r, calls, snippet = certificate_run(tmp_path, "shop.example\n", nginx_rc=1)
    assert r.returncode == 1 and "nginx refused" in r.stdout
    assert snippet == "# self-signed\n" and calls[1:] == ["nginx -t -q"], "never reloaded"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("tls.conf")) == ["tls.conf"]
