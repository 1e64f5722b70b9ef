"""Tests of resilient_stack.hosts.web: the web role's user data and its validation entry point."""

from __future__ import annotations

import pytest

from resilient_stack.hosts import paths
from resilient_stack.hosts.web import validate_web
from tests.hosts.samples import DOCS, KEY, files, load, web


def test_web_installs_nginx_and_serves_page_and_healthz():
    doc = load(web(placement_label="ovh/SBG/<SBG5> & co"))
    assert "nginx" in doc["packages"]
    fs = files(doc)
    index = fs[f"{paths.WEB_ROOT}/index.html"]["content"]
    assert "ovh/SBG/&lt;SBG5&gt; &amp; co" in index and "<SBG5>" not in index
    site = fs[paths.NGINX_SITE]
    assert site.get("defer") is True
    assert "location = /healthz" in site["content"] and 'return 200 "ok\\n"' in site["content"]
    assert f"root {paths.WEB_ROOT};" in site["content"]
    assert ["systemctl", "enable", "nginx"] in doc["runcmd"]
    assert ["systemctl", "restart", "nginx"] in doc["runcmd"]
    assert ["rm", "-f", "/etc/nginx/sites-enabled/default"] in doc["runcmd"]
    assert "listen 443" not in site["content"]


def test_web_https_uses_snakeoil_and_keeps_healthz_on_80():
    doc = load(web(https=True))
    assert "ssl-cert" in doc["packages"]
    site = files(doc)[paths.NGINX_SITE]["content"]
    assert "listen 443 ssl" in site and f"ssl_certificate {paths.SNAKEOIL_CERT};" in site
    http_block = site.split("listen 443")[0]
    assert "/healthz" in http_block and "return 301 https://$host$request_uri;" in http_block
    assert site.count("location = /healthz {") == 2


def test_web_optional_hostname_and_keys():
    doc = load(DOCS["web-https"]())
    assert doc["hostname"] == "web-gra-1"
    assert doc["ssh_authorized_keys"] == [KEY]
    assert "hostname" not in load(web())


def test_values_are_not_templates():
    """A label that looks like a placeholder is shown as it is (values are never read for placeholders)."""
    index = files(load(web(placement_label="{{title}} $HOME %i")))[f"{paths.WEB_ROOT}/index.html"]["content"]
    assert "<strong id=\"placement\">{{title}} $HOME %i</strong>" in index


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: web(placement_label=""), "placement_label must not be empty"),
        (lambda: web(placement_label="a\nb"), "placement_label must not contain control"),
        (lambda: web(placement_label=None), "placement_label must be a string"),
        (lambda: web(app_title=" "), "app_title must not be blank"),
        (lambda: web(https="yes"), "https must be a bool"),
        (lambda: web(server_name="x; evil"), "server_name"),
        (lambda: web(server_name="www.example.com\n"), "server_name"),
        (lambda: web(hostname="bad_host"), "hostname must be a single DNS label"),
        (lambda: web(hostname="web-1\n"), "hostname must be a single DNS label"),
        (lambda: web(ssh_authorized_keys="ssh-ed25519 AAAA"), "ssh_authorized_keys must be a list"),
    ],
)
def test_bad_input_raises_clear_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_validate_web_is_the_rule_render_web_applies():
    """The entry point the stack config and the regional component call: same refusals, no label needed."""
    assert validate_web(app_title="Shop", https=True, server_name="www.example.com") == []
    assert validate_web(placement_label="ovh/GRA11", ssh_authorized_keys=(KEY,)) == [KEY]
    for bad, match in (({"server_name": "bad name!"}, "server_name"), ({"app_title": "x" * 201}, "at most 200"),
                       ({"placement_label": ""}, "placement_label"), ({"https": 1}, "https")):
        with pytest.raises(ValueError, match=match):
            validate_web(**bad)
        with pytest.raises(ValueError, match=match):
            web(**{"placement_label": "ovh/GRA11", **bad})
