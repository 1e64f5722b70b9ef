"""A healthy web host: nginx from Debian serving the app page and /healthz."""

import html

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
