"""A healthy web host: nginx from Debian serving the page and /healthz, and the application under /api/."""

import html
import json

import pytest

pytestmark = pytest.mark.role("web")


def test_nginx_installed(host):
    assert host.package("nginx").is_installed


def test_nginx_running_and_enabled(host):
    svc = host.service("nginx")
    assert svc.is_running
    assert svc.is_enabled


def test_listening_on_port_80(host):
    assert host.socket("tcp://0.0.0.0:80").is_listening or host.socket("tcp://:::80").is_listening


def test_healthz_answers_ok(host):
    out = host.run("curl -fsS --max-time 5 http://127.0.0.1/healthz")
    assert out.rc == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_index_shows_the_app_and_placement(host, options):
    out = host.run("curl -fsS --max-time 5 http://127.0.0.1/")
    assert out.rc == 0, out.stderr
    page = out.stdout
    assert "Served from placement" in page
    if options["placement"]:
        assert html.escape(options["placement"]) in page
    if options["app_title"]:
        assert f"<h1>{html.escape(options['app_title'])}</h1>" in page


def test_default_site_disabled(host):
    assert not host.file("/etc/nginx/sites-enabled/default").exists


APP_CONFIG = "/etc/resilient-stack/app.json"


@pytest.fixture
def app(host, options):
    """The application's configuration; its checks are skipped on a host without one unless --expect-app."""
    if not host.file(APP_CONFIG).exists:
        if options["expect_app"]:
            pytest.fail(f"{APP_CONFIG} is missing: the application is not installed")
        pytest.skip("no application on this host (--expect-app requires one)")
    return json.loads(host.file(APP_CONFIG).content_string)


def test_app_running_and_enabled(host, app):
    svc = host.service("resilient-stack-app")
    assert svc.is_running and svc.is_enabled


def test_app_reaches_the_primary_through_every_member(app):
    db = app["database"]
    assert len(db["hosts"]) >= 3, "the connection string lists every database member"
    assert db["options"]["target_session_attrs"] == "read-write"
    assert db["options"]["sslmode"] == "verify-full" and db["options"]["channel_binding"] == "require"


def test_app_verifies_the_members_against_the_clusters_ca(root, app):
    ca = root.file(app["database"]["options"]["sslrootcert"])
    assert ca.exists and "BEGIN CERTIFICATE" in ca.content_string and ca.mode == 0o644


def _token(root, app) -> str:
    return json.loads(root.file(app["credentials"]).content_string)["write_token"]


def test_app_answers_with_the_primary(host, root, app):
    out = host.run("curl -sS --max-time 30 -H 'Authorization: Bearer %s' http://127.0.0.1/api/status", _token(root, app))
    assert out.rc == 0, out.stderr
    status = json.loads(out.stdout)
    assert status.get("database") in app["database"]["hosts"], status


def test_app_writes_need_the_write_token_and_say_nothing_of_the_members(host, app):
    out = host.run("curl -sS --max-time 30 -o /dev/null -w %s -X POST 'http://127.0.0.1/api/writes?n=1'",
                   "%{http_code}")
    assert out.stdout == "401", out.stdout
    status = json.loads(host.run("curl -sS --max-time 30 http://127.0.0.1/api/status").stdout)
    assert status.get("database") not in app["database"]["hosts"], "a visitor without the token learns no address"


def test_app_credentials_are_private_to_the_app(root, app):
    f = root.file(app["credentials"])
    assert f.exists and f.mode == 0o600 and f.user == "resilient-stack-app", (oct(f.mode), f.user)
    creds = json.loads(f.content_string)["credentials"]
    assert creds and all(c["user"] and c["password"] for c in creds)
