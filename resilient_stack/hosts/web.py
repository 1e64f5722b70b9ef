"""The web role: nginx from Debian's packages serving an index page that names the placement, ``/healthz``, and
the application under ``/api/`` (``payloads/web/app.py``: python3 and python3-psycopg2, behind nginx).

The application reaches PostgreSQL through one libpq connection string listing every database member
(:func:`connection_url`, the same string the stack outputs for users' own applications): with
``target_session_attrs=read-write`` libpq finds the member that accepts writes, the current primary, so no one
re-points the application after a failover; ``sslmode=verify-full`` against the cluster's CA and
``channel_binding=require`` (SCRAM over TLS) so an on-path relay cannot log in, nor pose as a member.

Its secrets (the cluster CA's certificate, the application's credentials, the write token) come sealed with the
host's own key (:mod:`.secrets`, :func:`web_secret_document`); root's sync writes them, in place when they rotate.

What it serves changes in place too (:func:`web_runtime`, the runtime configuration's ``site``): the user data holds
nginx's site in each of its variants (:data:`SITE_VARIANTS`, each including the server name from
:data:`SERVER_NAME_CONF`) and the index page's template; root's sync writes the server name, copies the variant the
runtime configuration asks for (``https``, and the ACME certificate when there are names to certify) and fills in the
title, at the first boot and whenever the metadata changes (``nginx -t`` first: a site nginx refuses is put back).

:func:`validate_web` is the one check of the web hosts' inputs (the stack configuration, the regional
component and :func:`render_web` call it); :func:`render_web` renders the ``#cloud-config``. Pure: standard
library plus PyYAML.
"""

from __future__ import annotations

import html
import ipaddress
import json
from dataclasses import dataclass
from typing import Any, Sequence

from resilient_stack.core.vocabulary import APP_PORT, POSTGRES_PORT
from resilient_stack.hosts import acme, document, firewall, hardening, payload, runtime, secrets
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.cluster import app_credentials
from resilient_stack.hosts.paths import (
    ACME_PEERS_CONF,
    APP_CONFIG,
    APP_CREDENTIALS,
    APP_SCRIPT,
    APP_SERVICE,
    APP_TABLE,
    APP_USER,
    CA_CERT,
    INDEX_TEMPLATE,
    NGINX_ENABLED,
    NGINX_SITE,
    SERVER_NAME_CONF,
    SITE_DIR,
    SYSTEMD_DIR,
    TLS_DIR,
    SYNC_SCRIPT,
    WEB_ROOT,
)

__all__ = ["DEFAULT_TITLE", "CONNECTION_OPTIONS", "AppDatabase", "connection_url", "render_web", "validate_web",
           "web_secret_document", "web_runtime", "site_settings", "SITE_VARIANTS", "WRITE_TOKEN_LENGTH"]

WRITE_TOKEN_LENGTH = 40

DEFAULT_TITLE = "Resilient Stack"

# nginx's site in each of its forms, all in the user data (:data:`SITE_DIR`/<variant>.conf); root's sync serves the one
# the runtime configuration asks for: plain HTTP, HTTPS with Debian's self-signed pair (no DNS name to certify), HTTPS
# with the ACME certificate's snippet (self-signed until issued) and the challenge's location
SITE_VARIANTS = {"http": {"https": False}, "https": {"https": True}, "https-acme": {"https": True, "certificate": True}}

# What every client of the database asks libpq for: the member that accepts writes, TLS, SCRAM bound to the TLS
# channel, and a bounded wait for each member (a lost member costs this much, then libpq tries the next).
CONNECTION_OPTIONS = {
    "target_session_attrs": "read-write",
    "sslmode": "verify-full",
    "channel_binding": "require",
    "connect_timeout": "2",
}


@dataclass(frozen=True)
class AppDatabase:
    """The database the web application uses: every member's address (in the order clients try them), the
    application's database and role."""

    hosts: tuple[str, ...]
    dbname: str
    user: str
    port: int = POSTGRES_PORT

    def validate(self) -> None:
        if isinstance(self.hosts, str) or not isinstance(self.hosts, (list, tuple)) or not self.hosts:
            raise ValueError("database.hosts must list the database members' addresses")
        for h in self.hosts:
            check.host(h, "database.hosts entry")
        if len(set(self.hosts)) != len(self.hosts):
            raise ValueError(f"database.hosts: an address appears twice: {list(self.hosts)}")
        check.sql_ident(self.dbname, "database.dbname")
        check.sql_ident(self.user, "database.user")
        check.integer(self.port, "database.port", 1, 65535)


def connection_url(db: AppDatabase) -> str:
    """The libpq URI of the application's database, without its password; ``verify-full`` needs the cluster CA's
    certificate (``sslrootcert``, the stack output ``databaseCaCertificate``)."""
    hosts = ",".join(f"[{h}]:{db.port}" if ":" in h else f"{h}:{db.port}" for h in db.hosts)
    query = "&".join(f"{k}={v}" for k, v in CONNECTION_OPTIONS.items())
    return f"postgresql://{db.user}@{hosts}/{db.dbname}?{query}"


def validate_web(
    *,
    placement_label: str | None = None,
    app_title: str = DEFAULT_TITLE,
    https: bool = False,
    server_name: str = "_",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    database: AppDatabase | None = None,
) -> list[str]:
    """Refuse (``ValueError``, one line naming the value) what the web hosts could not be given.

    ``placement_label=None``: not known yet (the stack configuration checks its ``web`` settings before any
    placement exists); :func:`render_web` always checks it. ``database``: the application's database, or None
    for a host that serves the static page only. Returns the SSH keys as a list.
    """
    if database is not None:
        if not isinstance(database, AppDatabase):
            raise ValueError(f"database must be an AppDatabase or None, got {type(database).__name__}")
        database.validate()
    if placement_label is not None:
        check.label(placement_label, "placement_label")
    check.label(app_title, "app_title")
    if not isinstance(https, bool):
        raise ValueError("https must be a bool")
    if not isinstance(server_name, str) or not check.SERVER_NAME_RE.fullmatch(server_name):
        raise ValueError(f"server_name must be '_' or space-separated host names, got {server_name!r}")
    check.hostname(hostname)
    return check.ssh_keys(ssh_authorized_keys)


def index_template(*, placement_label: str) -> str:
    """The index page, its title left to root's sync (at :data:`runtime.TITLE_MARK`: the title is runtime
    configuration, the placement is not)."""
    return payload.render("web/index.html", title=runtime.TITLE_MARK, placement=html.escape(placement_label))


def nginx_site(*, https: bool, certificate: bool = False, app: bool = False) -> str:
    """One variant of the site (:data:`SITE_VARIANTS`); its ``server_name`` is in :data:`SERVER_NAME_CONF`."""
    api = payload.lines("web/nginx-app.conf", port=APP_PORT) if app else payload.Lines()
    zone = payload.lines("web/nginx-app-zone.conf") if app else payload.Lines()
    if https:
        # Debian's self-signed snakeoil pair, or the ACME certificate's snippet (self-signed until issued)
        blocks = acme.nginx_blocks(acme=certificate)
        return payload.render("web/nginx-https.conf", server_name_conf=SERVER_NAME_CONF, web_root=WEB_ROOT, app=api,
                              app_zone=zone, **blocks)
    return payload.render("web/nginx-http.conf", server_name_conf=SERVER_NAME_CONF, web_root=WEB_ROOT, app=api,
                          app_zone=zone)


def site_settings(*, server_name: str, https: bool, app_title: str) -> dict[str, Any]:
    """What a web host serves, as the runtime configuration's ``site`` (validated by :func:`validate_web`): the
    server name, HTTPS, the names of its ACME certificate (HTTPS and DNS names only: :func:`.acme.names`) and the
    index page's title."""
    validate_web(app_title=app_title, https=https, server_name=server_name)
    return {"server_name": server_name, "https": https, "certify": acme.names(server_name) if https else None,
            "title": app_title}


def app_config(*, placement_label: str, database: AppDatabase) -> str:
    """``/etc/resilient-stack/app.json``: where the application listens and the database it uses (no secret)."""
    return json.dumps({
        "listen_port": APP_PORT,
        "placement": placement_label,
        "credentials": APP_CREDENTIALS,
        "table": APP_TABLE,
        "database": {"hosts": list(database.hosts), "port": database.port, "dbname": database.dbname,
                     "options": {**CONNECTION_OPTIONS, "sslrootcert": CA_CERT}},
    }, indent=2) + "\n"


def web_secret_document(*, ca: str, app_user: str | None, app_passwords: Sequence[str] = (),
                        write_token: str | None = None) -> dict[str, Any]:
    """A web host's secret document (:mod:`.secrets`): the cluster CA's certificate and, with the application, its
    credentials (every generation of its password so far: the current one first, then the previous) and the write
    token."""
    if not (isinstance(ca, str) and ca.startswith("-----BEGIN ") and ca.endswith("-----\n")):
        raise ValueError("ca must be the cluster CA's certificate (PEM)")
    doc: dict[str, Any] = {"v": secrets.VERSION, "tls": {"ca": ca}}
    if app_user is not None:
        check.password(write_token, "write_token")
        doc["app"] = {"credentials": [{"user": u, "password": check.password(p, "app password")}
                                      for u, p in app_credentials(app_user, app_passwords)],
                      "write_token": write_token}
    return doc


def _app(*, placement_label: str, database: AppDatabase) -> tuple[list[dict[str, Any]], list[Any]]:
    """The application's files and commands: its script, configuration, user and unit (its credentials: root's
    sync, from the sealed secrets)."""
    files = [
        document.write_file(APP_SCRIPT, payload.render("web/app.py"), permissions="0755"),
        document.write_file(APP_CONFIG, app_config(placement_label=placement_label, database=database)),
        document.write_file(f"{SYSTEMD_DIR}/{APP_SERVICE}.service", payload.render(
            f"systemd/{APP_SERVICE}.service", user=APP_USER, script=APP_SCRIPT, config=APP_CONFIG)),
    ]
    runcmd: list[Any] = [
        ["sh", "-c", f"getent passwd {APP_USER} >/dev/null || useradd --system --user-group --no-create-home "
                     f"--home-dir /nonexistent --shell /usr/sbin/nologin {APP_USER}"],
    ]
    return files, runcmd


def render_web(
    *,
    placement_label: str,
    app_title: str = DEFAULT_TITLE,
    https: bool = False,
    server_name: str = "_",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    database: AppDatabase | None = None,
    host_key: str,
    secrets_doc: dict[str, Any],
    package_update: bool = True,
    package_upgrade: bool = False,
    admin_cidrs: Sequence[str] = (),
    acme_peers: Sequence[str] = (),
) -> str:
    """Render the user-data of a web host.

    Installs nginx from Debian's packages (nothing else is fetched), serves ``/var/www/resilient-stack``
    with an index page that shows ``app_title`` and ``placement_label``, and answers ``/healthz`` with
    ``200 ok``. The Debian default site is disabled; nginx is enabled and (re)started. sshd is hardened.
    With ``database``, the application (``python3``, ``python3-psycopg2``) runs under its own system user on
    the loopback, behind nginx's ``/api/``, and reaches the database through :func:`connection_url`'s string;
    its password (``app_password``) is in libpq's password file, 0600 to that user.

    Args:
        placement_label: where this replica lives, e.g. ``"ovh/GRA/GRA11"``; shown on the index page.
        app_title: page title (runtime configuration: it changes in place, :func:`web_runtime`).
        https: also serve 443 with Debian's self-signed snakeoil certificate and redirect plain HTTP
            there (``/healthz`` stays reachable on port 80 for health checks); runtime configuration.
        server_name: nginx ``server_name`` (``_`` = any); with ``https`` and DNS names, the names of the ACME
            certificate (:mod:`.acme`); runtime configuration.
        hostname: optional host name to set (a single DNS label).
        ssh_authorized_keys: public keys of the image's default user (:data:`LOGIN_USER`); runtime configuration.
        database: the application's database (every member's address), or None: the static page only.
        host_key: this host's key (:mod:`.secrets`), which seals ``secrets_doc`` here and in the metadata.
        secrets_doc: the host's secret document (:func:`web_secret_document`).
        package_update: run ``apt-get update`` before installing (needed on real cloud images).
        package_upgrade: upgrade all packages at first boot (slower).
        admin_cidrs: networks admitted to SSH by the host firewall (:mod:`.firewall`; HTTP and HTTPS are open).
        acme_peers: the stack's OTHER web hosts' addresses: a host asks them for an ACME challenge token it does not
            hold (:mod:`.acme`).

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on an empty/multi-line label or title, a bad server name, host name or key.
    """
    check.label(placement_label, "placement_label")  # required here; validate_web also takes None
    keys = validate_web(placement_label=placement_label, app_title=app_title, https=https, server_name=server_name,
                        hostname=hostname, ssh_authorized_keys=ssh_authorized_keys, database=database)
    if (database is not None) != ("app" in secrets_doc) or (database is not None and "tls" not in secrets_doc):
        raise ValueError("the secret document has the application's credentials exactly when there is a database")
    sealed = secrets.seal(secrets_doc, host_key)

    peers = [str(ipaddress.ip_address(p)) for p in acme_peers]  # ValueError: not an address
    # ssl-cert and certbot whatever the first settings: https and the server name change in place (runtime)
    packages = ["nginx", "curl", "ssl-cert"] + (["python3", "python3-psycopg2"] if database else []) + acme.PACKAGES
    doc = document.base(
        packages=packages,
        hostname=hostname,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    first = web_runtime(admin_cidrs=admin_cidrs, acme_peers=peers, ssh_keys=keys, server_name=server_name,
                        https=https, app_title=app_title)
    doc["write_files"] = [
        document.ssh_hardening(),
        document.write_file(secrets.KEY_FILE, host_key, permissions="0600"),
        document.write_file(secrets.SEALED_FILE, sealed + "\n", permissions="0600"),
        runtime.first_boot_file(first),
        *hardening.harden(doc, role="web", sets=first["firewall"], acme_peers_conf=ACME_PEERS_CONF, site=True,
                          app_credentials=APP_CREDENTIALS if database is not None else ""),
        # the site and the page as root's sync fills them in (the server name, the variant, the title: runtime)
        document.write_file(INDEX_TEMPLATE, index_template(placement_label=placement_label)),
        *[document.write_file(f"{SITE_DIR}/{variant}.conf", nginx_site(app=database is not None, **how))
          for variant, how in SITE_VARIANTS.items()],
        *acme.files(peers),
    ]
    app_runcmd: list[Any] = []
    if database is not None:
        app_files, app_runcmd = _app(placement_label=placement_label, database=database)
        doc["write_files"] += app_files
        app_runcmd += [["install", "-d", "-m", "0755", TLS_DIR], [SYNC_SCRIPT, "--boot"], ["systemctl", "daemon-reload"],
                       ["systemctl", "enable", "--now", APP_SERVICE]]
    else:
        app_runcmd = [["install", "-d", "-m", "0755", TLS_DIR], [SYNC_SCRIPT, "--boot"]]
    doc["runcmd"] = document.ssh_runcmd() + hardening.first_runcmd() + app_runcmd + [
        ["rm", "-f", f"{NGINX_ENABLED}/default"],
        ["ln", "-sfn", NGINX_SITE, f"{NGINX_ENABLED}/resilient-stack"],
        ["nginx", "-t", "-q"],
        ["systemctl", "enable", "nginx"],
        ["systemctl", "restart", "nginx"],
    ] + acme.runcmd() + hardening.last_runcmd()
    return document.dump(doc)


def web_runtime(
    *, admin_cidrs: Sequence[str] = (), acme_peers: Sequence[str] = (), ssh_keys: Sequence[str] = (),
    server_name: str = "_", https: bool = False, app_title: str = DEFAULT_TITLE,
) -> dict[str, Any]:
    """The runtime document of a web host (:mod:`.runtime`), for the instance's metadata: its firewall's sets, the
    other web hosts' addresses (ACME), the SSH keys and what it serves (:func:`site_settings`); the arguments and
    their defaults are :func:`render_web`'s."""
    return runtime.document(
        firewall=firewall.web_sets(admin_cidrs=check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True)),
        acme_peers=[str(ipaddress.ip_address(p)) for p in acme_peers], ssh_keys=check.ssh_keys(ssh_keys),
        site=site_settings(server_name=server_name, https=https, app_title=app_title))
