"""HTTPS with a real certificate when the stack has a DNS name (issue 17, point 5): ACME with Debian's certbot.

Rendering and configuration only: nothing here (nor in CI) talks to Let's Encrypt. The booted web hosts run
`nginx -t` on this configuration (tests/integration/podman).
"""

from __future__ import annotations

import json

import pytest

from resilient_stack.hosts import acme, hardening, paths, runtime
from resilient_stack.hosts import cloudinit as ci
from tests.hosts.samples import WEB_IPS, files, load, served, sync_module, web, web_app


@pytest.mark.parametrize(
    "server_name, want",
    [
        ("_", None),
        ("shop.example", ["shop.example"]),
        ("www.shop.example shop.example", ["www.shop.example", "shop.example"]),
        ("*.shop.example", None),
        ("localhost", None),
        ("203.0.113.7", None),
        ("shop.example _", None),
    ],
)
def test_a_dns_name_is_what_gets_a_certificate(server_name, want):
    assert acme.names(server_name) == want


def test_without_a_dns_name_the_self_signed_certificate_and_no_hsts(tmp_path):
    doc = load(web(https=True))
    assert json.loads(files(doc)[paths.RUNTIME_CONFIG]["content"])["site"]["certify"] is None
    site = served(doc, tmp_path)["site"]
    assert f"ssl_certificate {paths.SNAKEOIL_CERT};" in site and "Strict-Transport-Security" not in site
    assert "acme-challenge" not in site and paths.TLS_SNIPPET not in site


def test_with_a_dns_name_certbot_and_the_challenge_and_hsts_only_with_the_real_certificate(tmp_path):
    doc = load(web_app(https=True, server_name="www.shop.example shop.example", acme_peers=WEB_IPS[1:]))
    fs = files(doc)
    assert "certbot" in doc["packages"]
    site = served(doc, tmp_path)["site"]
    assert site.startswith(f"# Managed by resilient_stack (cloud-init).\ninclude {paths.ACME_PEERS_CONF};\n")
    assert f"root {paths.ACME_ROOT};" in site and "try_files $uri @acme_peers;" in site
    assert "if ($http_x_resilient_stack_acme)" in site, "one hop between web hosts, never a loop"
    assert f"include {paths.TLS_SNIPPET};" in site and "Strict-Transport-Security" not in site
    snakeoil = fs[paths.TLS_SNIPPET]
    assert snakeoil["defer"] and paths.SNAKEOIL_CERT in snakeoil["content"]
    assert "Strict-Transport-Security" not in snakeoil["content"]
    # the names are the runtime configuration's (root's sync writes them where the script reads them)
    assert json.loads(fs[paths.RUNTIME_CONFIG]["content"])["site"]["certify"] == ["www.shop.example", "shop.example"]
    script = fs[paths.CERT_SCRIPT]["content"]
    assert f"NAMES_FILE={paths.CERT_NAMES}\n" in script and 'read -r -a NAMES < "$NAMES_FILE"' in script
    assert "certbot certonly --webroot" in script and "--keep-until-expiring --renew-with-new-domains" in script
    assert 'add_header Strict-Transport-Security "max-age=31536000" always;' in script  # with the real one only
    assert fs[paths.CERT_DEPLOY_HOOK]["permissions"] == "0755"
    assert "OnUnitActiveSec=3h" in fs[f"{paths.SYSTEMD_DIR}/{paths.CERT_SERVICE}.timer"]["content"]
    tail = hardening.last_runcmd()  # the sync timer and the exporters, last
    assert doc["runcmd"][-len(tail) - len(acme.runcmd()) : -len(tail)] == acme.runcmd()
    assert ["systemctl", "start", "--no-block", "resilient-stack-certificate.service"] in doc["runcmd"], (
        "the first boot does not wait for Let's Encrypt"
    )
    assert fs[paths.ACME_PEERS_CONF]["content"] == acme.peers_conf(WEB_IPS[1:])


def test_the_peers_are_runtime_configuration_and_the_sync_writes_them_as_the_user_data_does(tmp_path):
    fs = files(load(web_app(https=True, server_name="shop.example", acme_peers=["198.51.100.41", "2001:db8::5"])))
    module = sync_module(tmp_path, fs[paths.SYNC_SCRIPT]["content"])
    assert module.ACME_PEERS_CONF == paths.ACME_PEERS_CONF
    for peers in ([], ["198.51.100.41", "2001:db8::5"]):
        assert module.acme_peers_text(peers) == acme.peers_conf(peers)
    assert "server 127.0.0.1:9 down;" in acme.peers_conf([]), "nginx wants one server in an upstream"
    doc = ci.web_runtime(admin_cidrs=["198.51.100.0/24"], acme_peers=["198.51.100.41"])
    assert module.check(module.decode(runtime.encode(doc))) == doc
    with pytest.raises(ValueError):
        module.check({"v": 1, "acme_peers": ["198.51.100.41; include /etc/passwd"]})
    # every web host has them (it may get a DNS name later), with no other web host an unusable upstream
    assert ci.web_runtime(admin_cidrs=[])["acme_peers"] == []
