"""A real certificate on the web hosts when the stack has a DNS name: ACME HTTP-01 with Debian's certbot.

When ``https`` is on and every ``server_name`` is a DNS name (not ``_``, not an address, no wildcard: :func:`names`),
each web host asks Let's Encrypt for a certificate of those names (``resilient-stack-certificate``, at first boot in
the background and then by a timer until it is issued; ``certbot.timer`` renews it and a deploy hook reloads nginx).
The names are runtime configuration (:mod:`.runtime`, ``site.certify``): root's sync writes them to
:data:`CERT_NAMES` and starts the script when they change, and certbot then asks for a certificate of the new names
(the same lineage, :data:`CERT_NAMES`' names; the previous certificate is served until then). So every web host has
certbot, the script and its timer, whatever its first names: with no name to certify the script does nothing.

nginx serves the challenge from :data:`ACME_ROOT` on port 80. The validation reaches ONE address of the stack's record
set, maybe another web host's: a host that does not hold the token asks the stack's other web hosts (``@acme_peers``,
one hop, marked by a header), so any host can validate for any other. The other web hosts' addresses are runtime
configuration too (``acme_peers``: a web host added later reaches the running ones through their metadata; root's sync
rewrites :data:`ACME_PEERS_CONF` and reloads nginx). Until the certificate is issued nginx serves Debian's
self-signed pair, **without** HSTS; the ACME certificate comes with ``Strict-Transport-Security``. Pure.

Not exercised by the tests (no network): the exchange with Let's Encrypt itself; the rendering, nginx's
configuration (``nginx -t`` on the booted hosts), the script's request of the current names and the fallback between
hosts are.
"""

from __future__ import annotations

import ipaddress
import shlex
from typing import Any, Sequence

from resilient_stack.hosts import payload
from resilient_stack.hosts.document import write_file
from resilient_stack.hosts.paths import (
    ACME_PEERS_CONF,
    ACME_ROOT,
    CERT_DEPLOY_HOOK,
    CERT_NAME,
    CERT_NAMES,
    CERT_SCRIPT,
    CERT_SERVICE,
    SNAKEOIL_CERT,
    SNAKEOIL_KEY,
    SYSTEMD_DIR,
    TLS_SNIPPET,
)

__all__ = ["PACKAGES", "RETRY_EVERY", "names", "nginx_blocks", "peers_conf", "files", "runcmd"]

PACKAGES = ["certbot"]
RETRY_EVERY = "3h"


def names(server_name: str) -> list[str] | None:
    """The names to certify, or None when the site has no DNS name (``_``, an address, a wildcard, one label)."""
    out = server_name.split()
    for name in out:
        try:
            ipaddress.ip_address(name)
            return None
        except ValueError:
            pass
        if name == "_" or "*" in name or "." not in name.strip("."):
            return None
    return out


def _host(address: str) -> str:
    return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address


def peers_conf(peers: Sequence[str]) -> str:
    """nginx's ``upstream acme_peers`` (an unusable server when there is no other web host: nginx wants one)."""
    servers = [f"    server {_host(p)}:80 max_fails=0;" for p in peers] or ["    server 127.0.0.1:9 down;"]
    return "".join(
        line + "\n"
        for line in [
            "# Managed by resilient_stack: the stack's other web hosts (ACME)",
            "upstream acme_peers {",
            *servers,
            "}",
        ]
    )


def nginx_blocks(*, acme: bool) -> dict[str, payload.Lines]:
    """The ``upstream``, ``acme`` and ``tls`` blocks of the HTTPS site."""
    if not acme:
        return {
            "upstream": payload.Lines(),
            "acme": payload.Lines(),
            "tls": payload.Lines(
                "    " + line
                for line in payload.render(
                    "web/nginx-tls-snakeoil.conf", ssl_cert=SNAKEOIL_CERT, ssl_key=SNAKEOIL_KEY
                ).splitlines()
            ),
        }
    upstream = payload.Lines([f"include {ACME_PEERS_CONF};"])
    acme_block = payload.lines(
        "web/nginx-acme.conf", acme_root=ACME_ROOT, peers_location=payload.lines("web/nginx-acme-peers.conf")
    )
    return {"upstream": upstream, "acme": acme_block, "tls": payload.Lines([f"    include {TLS_SNIPPET};"])}


def files(peers: Sequence[str]) -> list[dict[str, Any]]:
    """The script (it asks for the names root's sync wrote in :data:`CERT_NAMES`), its units, the renewal hook, the
    first (self-signed) TLS snippet and the first boot's peers."""
    return [
        write_file(ACME_PEERS_CONF, peers_conf(peers), defer=True),
        write_file(
            CERT_SCRIPT,
            payload.render(
                "shell/certificate.sh",
                names_file=shlex.quote(CERT_NAMES),
                acme_root=ACME_ROOT,
                cert_name=CERT_NAME,
                tls_snippet=TLS_SNIPPET,
            ),
            permissions="0755",
        ),
        write_file(
            f"{SYSTEMD_DIR}/{CERT_SERVICE}.service",
            payload.render("systemd/resilient-stack-certificate.service", script=CERT_SCRIPT),
        ),
        write_file(
            f"{SYSTEMD_DIR}/{CERT_SERVICE}.timer",
            payload.render("systemd/resilient-stack-certificate.timer", every=RETRY_EVERY),
        ),
        write_file(
            TLS_SNIPPET,
            payload.render("web/nginx-tls-snakeoil.conf", ssl_cert=SNAKEOIL_CERT, ssl_key=SNAKEOIL_KEY),
            defer=True,
        ),
        write_file(
            CERT_DEPLOY_HOOK, payload.render("shell/certificate-deploy-hook.sh"), permissions="0755", defer=True
        ),
    ]


def runcmd() -> list[Any]:
    """After nginx serves: the timer, and a first attempt in the background (the boot does not wait for it; with no
    name to certify it does nothing)."""
    return [
        ["systemctl", "daemon-reload"],
        ["systemctl", "enable", "--now", f"{CERT_SERVICE}.timer"],
        ["systemctl", "start", "--no-block", f"{CERT_SERVICE}.service"],
    ]
