"""Tests of resilient_stack.hosts.web: the web role's user data and its validation entry point."""

from __future__ import annotations

import json

import pytest

from resilient_stack.hosts import app, paths
from resilient_stack.hosts.web import AppDatabase, connection_url, validate_web
from tests.hosts.samples import (
    APP_DB,
    APP_PW,
    APP_SECRET,
    APP_SPEC,
    DOCS,
    KEY,
    MIGRATE_PW,
    files,
    load,
    opened,
    served,
    web,
    web_app,
    web_secrets,
)


def test_web_installs_nginx_and_serves_page_and_healthz(tmp_path):
    doc = load(web(placement_label="ovh/SBG/<SBG5> & co", app_title="Shop <&>", server_name="shop.example"))
    assert "nginx" in doc["packages"]
    got = served(doc, tmp_path)
    assert "ovh/SBG/&lt;SBG5&gt; &amp; co" in got["page"] and "<SBG5>" not in got["page"]
    assert "<h1>Shop &lt;&amp;&gt;</h1>" in got["page"] and "<title>Shop &lt;&amp;&gt;</title>" in got["page"]
    site = got["site"]
    assert "location = /healthz" in site and 'return 200 "ok\\n"' in site
    assert f"root {paths.WEB_ROOT};" in site and f"include {paths.SERVER_NAME_CONF};" in site
    assert got["server_name"] == "server_name shop.example;\n"
    assert ["systemctl", "enable", "nginx"] in doc["runcmd"]
    assert ["systemctl", "restart", "nginx"] in doc["runcmd"]
    assert ["rm", "-f", "/etc/nginx/sites-enabled/default"] in doc["runcmd"]
    assert "listen 443" not in site
    # the site and the page are root's sync's (runtime configuration), before nginx restarts on the first boot
    run = doc["runcmd"]
    assert run.index([paths.SYNC_SCRIPT, "--boot"]) < run.index(["nginx", "-t", "-q"])
    assert paths.NGINX_SITE not in files(doc) and f"{paths.WEB_ROOT}/index.html" not in files(doc)


def test_web_https_uses_snakeoil_and_keeps_healthz_on_80(tmp_path):
    doc = load(web(https=True))
    assert "ssl-cert" in doc["packages"]
    site = served(doc, tmp_path)["site"]
    assert "listen 443 ssl" in site and f"ssl_certificate {paths.SNAKEOIL_CERT};" in site
    http_block = site.split("listen 443")[0]
    assert "/healthz" in http_block and "return 301 https://$host$request_uri;" in http_block
    assert site.count("location = /healthz {") == 2


def test_every_variant_of_the_site_is_in_the_user_data_whatever_the_first_settings():
    """https and the server name change in place: every web host holds each variant, and what they need."""
    for doc in (load(web()), load(web_app(https=True, server_name="shop.example"))):
        fs = files(doc)
        variants = {v: fs[f"{paths.SITE_DIR}/{v}.conf"]["content"] for v in ("http", "https", "https-acme")}
        assert "listen 443" not in variants["http"] and "listen 443 ssl" in variants["https"]
        assert f"ssl_certificate {paths.SNAKEOIL_CERT};" in variants["https"]
        assert f"include {paths.TLS_SNIPPET};" in variants["https-acme"] and "@acme_peers" in variants["https-acme"]
        assert all(text.count("server_name") == 0 for text in variants.values()), "the include names the server"
        assert {"ssl-cert", "certbot"} <= set(doc["packages"])
        assert paths.CERT_SCRIPT in fs and paths.ACME_PEERS_CONF in fs and paths.TLS_SNIPPET in fs


def test_web_optional_hostname_and_keys():
    doc = load(DOCS["web-https"]())
    assert doc["hostname"] == "web-gra-1"
    # the keys are runtime configuration (root's sync writes the only file sshd reads), not cloud-init's
    assert "ssh_authorized_keys" not in doc
    assert json.loads(files(doc)[paths.RUNTIME_CONFIG]["content"])["ssh_keys"] == [KEY]
    assert "hostname" not in load(web())


def test_values_are_not_templates(tmp_path):
    """A label that looks like a placeholder is shown as it is (values are never read for placeholders), and so is
    a title that looks like the page's own mark."""
    page = served(
        load(web(placement_label="{{title}} $HOME %i <!--rs:title-->", app_title="<!--rs:title--> {{x}}")), tmp_path
    )["page"]
    assert '<strong id="placement">{{title}} $HOME %i &lt;!--rs:title--&gt;</strong>' in page
    assert "<h1>&lt;!--rs:title--&gt; {{x}}</h1>" in page


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
    for bad, match in (
        ({"server_name": "bad name!"}, "server_name"),
        ({"app_title": "x" * 201}, "at most 200"),
        ({"placement_label": ""}, "placement_label"),
        ({"https": 1}, "https"),
    ):
        with pytest.raises(ValueError, match=match):
            validate_web(**bad)
        with pytest.raises(ValueError, match=match):
            web(**{"placement_label": "ovh/GRA11", **bad})


# --------------------------------------------------------------------------------------------------
# the application
# --------------------------------------------------------------------------------------------------


def test_the_application_comes_with_podman_its_agent_and_its_spec_in_the_runtime_document(tmp_path):
    doc = load(web_app(https=True))
    assert {"podman", "python3", "python3-psycopg2"} <= set(doc["packages"])
    fs = files(doc)
    # the spec travels in the runtime document (the metadata in place; its first-boot copy here): no secret in it
    first = json.loads(fs[paths.RUNTIME_CONFIG]["content"])["app"]
    assert first["spec"]["image"] == APP_SPEC.image and first["spec"]["secrets"] == ["STRIPE_KEY"]
    assert first["database"] == {"hosts": list(APP_DB.hosts), "port": 5432, "dbname": "shop"}
    assert first["key"] == app.release_key(first["spec"], first["secrets_version"])
    assert APP_SECRET not in json.dumps(first) and MIGRATE_PW not in json.dumps(first)
    # the credentials, the release phase's, the user's secrets and the CA come sealed; root's sync writes them
    secret = opened(doc)
    assert secret["app"]["credentials"] == [{"user": "shop", "password": APP_PW}] and secret["tls"]["ca"]
    assert secret["app"]["migrate"] == {"user": "shop_migrate", "password": MIGRATE_PW}
    assert secret["app"]["secrets"] == {"STRIPE_KEY": APP_SECRET}
    run = doc["runcmd"]
    assert run.index([paths.SYNC_SCRIPT, "--boot"]) < run.index(["systemctl", "enable", "--now", app.AGENT_SERVICE])
    assert fs[app.AGENT]["permissions"] == "0755" and fs[paths.APP_UPSTREAM]["content"] == app.upstream_conf(None)
    unit = fs[f"/etc/systemd/system/{app.AGENT_SERVICE}.service"]["content"]
    assert f"ExecStart={app.AGENT} agent\n" in unit and "Restart=always" in unit
    site = served(doc, tmp_path)["site"]
    plain, tls = site.split("listen 443")
    assert f"include {paths.APP_UPSTREAM};" in site
    assert "location / {" in tls and "proxy_pass http://rs_app;" in tls and "try_files" not in tls
    assert "proxy_pass http://rs_app/healthz;" in tls and "proxy_pass http://rs_app/healthz;" in plain
    assert "return 301 https://" in plain and "proxy_pass http://rs_app;" not in plain, "port 80 redirects"


def test_the_health_check_path_is_the_applications(tmp_path):
    site = served(
        load(web_app(application=APP_SPEC.__class__(**{**APP_SPEC.__dict__, "health_path": "/up"}))), tmp_path
    )["site"]
    assert "location = /healthz {" in site and "proxy_pass http://rs_app/up;" in site


def test_without_an_application_the_host_serves_the_static_page_only():
    doc = load(web())
    variants = [files(doc)[f"{paths.SITE_DIR}/{v}.conf"]["content"] for v in ("http", "https", "https-acme")]
    assert app.AGENT not in files(doc) and not any("rs_app" in site for site in variants)
    assert all("try_files $uri $uri/ =404;" in site and 'return 200 "ok\\n";' in site for site in variants)
    assert "podman" not in doc["packages"] and "app" not in json.loads(files(doc)[paths.RUNTIME_CONFIG]["content"])


def test_the_connection_url_users_get():
    assert connection_url(APP_DB) == (
        "postgresql://shop@203.0.113.10:5432,198.51.100.20:5432,[2001:db8::30]:5432/shop"
        "?target_session_attrs=read-write&sslmode=verify-full&channel_binding=require&connect_timeout=2"
    )


@pytest.mark.parametrize(
    "change, match",
    [
        ({"database": AppDatabase(hosts=(), dbname="a", user="b")}, "database.hosts must list"),
        ({"database": AppDatabase(hosts=("1.2.3.4", "1.2.3.4"), dbname="a", user="b")}, "appears twice"),
        ({"database": AppDatabase(hosts=("x; y",), dbname="a", user="b")}, "database.hosts entry"),
        ({"database": AppDatabase(hosts=("1.2.3.4",), dbname="A", user="b")}, "database.dbname"),
        ({"database": "postgresql://x"}, "database must be an AppDatabase"),
        ({"secrets_doc": lambda: web_secrets(app_passwords=["short"])}, "app password must be at least 12"),
        ({"secrets_doc": lambda: web_secrets(write_token=None)}, "write_token must be a string"),
        ({"secrets_doc": lambda: web_secrets(migrate_password=None)}, "migrate password must be a string"),
        ({"database": None}, "the application needs the database"),
        (
            {"secrets_doc": lambda: web_secrets(app=False)},
            "the application.s credentials exactly when there is an application",
        ),
        ({"app_runtime": None}, "comes with its runtime part"),
        ({"application": APP_SPEC.__class__(image="shop/web:1")}, "is not a full image reference"),
        ({"host_key": "short"}, "a host key is 32 to 256"),
    ],
)
def test_bad_application_input(change, match):
    with pytest.raises(ValueError, match=match):
        web_app(**{k: v() if callable(v) else v for k, v in change.items()})
