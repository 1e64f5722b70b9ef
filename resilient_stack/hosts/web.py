"""The web role: nginx from Debian's packages serving an index page that names the placement, and ``/healthz``.

:func:`validate_web` is the one check of the web hosts' inputs (the stack configuration, the regional
component and :func:`render_web` call it); :func:`render_web` renders the ``#cloud-config``. Pure: standard
library plus PyYAML.
"""

from __future__ import annotations

import html
from typing import Sequence

from resilient_stack.hosts import document, payload
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.paths import NGINX_ENABLED, NGINX_SITE, SNAKEOIL_CERT, SNAKEOIL_KEY, WEB_ROOT

__all__ = ["DEFAULT_TITLE", "render_web", "validate_web"]

DEFAULT_TITLE = "Resilient Stack"


def validate_web(
    *,
    placement_label: str | None = None,
    app_title: str = DEFAULT_TITLE,
    https: bool = False,
    server_name: str = "_",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
) -> list[str]:
    """Refuse (``ValueError``, one line naming the value) what the web hosts could not be given.

    ``placement_label=None``: not known yet (the stack configuration checks its ``web`` settings before any
    placement exists); :func:`render_web` always checks it. Returns the SSH keys as a list.
    """
    if placement_label is not None:
        check.label(placement_label, "placement_label")
    check.label(app_title, "app_title")
    if not isinstance(https, bool):
        raise ValueError("https must be a bool")
    if not isinstance(server_name, str) or not check.SERVER_NAME_RE.fullmatch(server_name):
        raise ValueError(f"server_name must be '_' or space-separated host names, got {server_name!r}")
    check.hostname(hostname)
    return check.ssh_keys(ssh_authorized_keys)


def index_html(*, app_title: str, placement_label: str) -> str:
    return payload.render("web/index.html", title=html.escape(app_title), placement=html.escape(placement_label))


def nginx_site(*, server_name: str, https: bool) -> str:
    if https:
        # Debian's self-signed snakeoil pair until a real certificate is provisioned.
        return payload.render("web/nginx-https.conf", server_name=server_name, web_root=WEB_ROOT,
                              ssl_cert=SNAKEOIL_CERT, ssl_key=SNAKEOIL_KEY)
    return payload.render("web/nginx-http.conf", server_name=server_name, web_root=WEB_ROOT)


def render_web(
    *,
    placement_label: str,
    app_title: str = DEFAULT_TITLE,
    https: bool = False,
    server_name: str = "_",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
) -> str:
    """Render the user-data of a web host.

    Installs nginx from Debian's packages (nothing else is fetched), serves ``/var/www/resilient-stack``
    with an index page that shows ``app_title`` and ``placement_label``, and answers ``/healthz`` with
    ``200 ok``. The Debian default site is disabled; nginx is enabled and (re)started. sshd is hardened.

    Args:
        placement_label: where this replica lives, e.g. ``"ovh/GRA/GRA11"``; shown on the index page.
        app_title: page title.
        https: also serve 443 with Debian's self-signed snakeoil certificate and redirect plain HTTP
            there (``/healthz`` stays reachable on port 80 for health checks).
        server_name: nginx ``server_name`` (``_`` = any).
        hostname: optional host name to set (a single DNS label).
        ssh_authorized_keys: public keys for the image's default user.
        package_update: run ``apt-get update`` before installing (needed on real cloud images).
        package_upgrade: upgrade all packages at first boot (slower).

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on an empty/multi-line label or title, a bad server name, host name or key.
    """
    check.label(placement_label, "placement_label")  # required here; validate_web also takes None
    keys = validate_web(placement_label=placement_label, app_title=app_title, https=https,
                        server_name=server_name, hostname=hostname, ssh_authorized_keys=ssh_authorized_keys)

    packages = ["nginx", "curl"] + (["ssl-cert"] if https else [])
    doc = document.base(
        packages=packages,
        hostname=hostname,
        ssh_authorized_keys=keys,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    doc["write_files"] = [
        document.ssh_hardening(),
        document.write_file(f"{WEB_ROOT}/index.html", index_html(app_title=app_title, placement_label=placement_label)),
        document.write_file(NGINX_SITE, nginx_site(server_name=server_name, https=https), defer=True),
    ]
    doc["runcmd"] = document.ssh_runcmd() + [
        ["rm", "-f", f"{NGINX_ENABLED}/default"],
        ["ln", "-sfn", NGINX_SITE, f"{NGINX_ENABLED}/resilient-stack"],
        ["nginx", "-t", "-q"],
        ["systemctl", "enable", "nginx"],
        ["systemctl", "restart", "nginx"],
    ]
    return document.dump(doc)
