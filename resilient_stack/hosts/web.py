"""The web role: nginx from Debian's packages serving, with the user's application (:mod:`.app`: an OCI image under
podman, behind nginx), that application at ``/`` and its health check at ``/healthz``; without one, an index page
that names the placement and ``/healthz``.

The application reaches PostgreSQL through one libpq connection string listing every database member
(:func:`connection_url`, the same string the stack outputs for users' own applications): with
``target_session_attrs=read-write`` libpq finds the member that accepts writes, the current primary, so no one
re-points the application after a failover; ``sslmode=verify-full`` against the cluster's CA and
``channel_binding=require`` (SCRAM over TLS) so an on-path relay cannot log in, nor pose as a member.

Its secrets (the cluster CA's certificate, the application's credentials and the release phase's, the write token,
the user's secrets, the registry's password) come sealed with the host's own key (:mod:`.secrets`,
:func:`web_secret_document`); root's sync writes them, in place when they change.

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
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from resilient_stack.core.vocabulary import POSTGRES_PORT
from resilient_stack.hosts import acme, app, document, firewall, hardening, payload, runtime, secrets
from resilient_stack.hosts import fields as check
from resilient_stack.hosts.cluster import app_credentials, migrate_role
from resilient_stack.hosts.paths import (
    ACME_PEERS_CONF,
    APP_CREDENTIALS,
    APP_STATE_DIR,
    APP_UPSTREAM,
    INDEX_TEMPLATE,
    NGINX_ENABLED,
    NGINX_SITE,
    SERVER_NAME_CONF,
    SITE_DIR,
    SYNC_SCRIPT,
    TLS_DIR,
    WEB_ROOT,
)

__all__ = [
    "DEFAULT_TITLE",
    "CONNECTION_OPTIONS",
    "AppDatabase",
    "connection_url",
    "render_web",
    "validate_web",
    "web_secret_document",
    "web_runtime",
    "site_settings",
    "SITE_VARIANTS",
    "WRITE_TOKEN_LENGTH",
]

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
    application: app.AppSpec | None = None,
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
    if application is not None:
        if database is None:
            raise ValueError("the application needs the database (its release log lives there)")
        app.validate_app(application)
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


def locations(application: app.AppSpec | None) -> payload.Lines:
    """The site's ``location`` blocks: the application at ``/`` and its health check at ``/healthz``, or the static
    page and nginx's own ``/healthz``."""
    if application is None:
        return payload.lines("web/nginx-static.conf")
    return payload.lines("web/nginx-app.conf", health_path=application.health_path)


def healthz(application: app.AppSpec | None) -> payload.Lines:
    """``/healthz`` on port 80 of an HTTPS site (health checks do not follow the redirect)."""
    lines = list(locations(application))
    start = next(i for i, line in enumerate(lines) if "location = /healthz" in line)
    end = next(i for i in range(start, len(lines)) if lines[i] == "    }")
    return payload.Lines(lines[start : end + 1])


def nginx_site(*, https: bool, certificate: bool = False, application: app.AppSpec | None = None) -> str:
    """One variant of the site (:data:`SITE_VARIANTS`); its ``server_name`` is in :data:`SERVER_NAME_CONF`."""
    zone = payload.lines("web/nginx-app-zone.conf", upstream=APP_UPSTREAM) if application else payload.Lines()
    if https:
        # Debian's self-signed snakeoil pair, or the ACME certificate's snippet (self-signed until issued)
        blocks = acme.nginx_blocks(acme=certificate)
        return payload.render(
            "web/nginx-https.conf",
            server_name_conf=SERVER_NAME_CONF,
            web_root=WEB_ROOT,
            locations=locations(application),
            healthz=healthz(application),
            app_zone=zone,
            **blocks,
        )
    return payload.render(
        "web/nginx-http.conf",
        server_name_conf=SERVER_NAME_CONF,
        web_root=WEB_ROOT,
        locations=locations(application),
        app_zone=zone,
    )


def site_settings(*, server_name: str, https: bool, app_title: str) -> dict[str, Any]:
    """What a web host serves, as the runtime configuration's ``site`` (validated by :func:`validate_web`): the
    server name, HTTPS, the names of its ACME certificate (HTTPS and DNS names only: :func:`.acme.names`) and the
    index page's title."""
    validate_web(app_title=app_title, https=https, server_name=server_name)
    return {
        "server_name": server_name,
        "https": https,
        "certify": acme.names(server_name) if https else None,
        "title": app_title,
    }


def web_secret_document(
    *,
    ca: str,
    app_user: str | None,
    app_passwords: Sequence[str] = (),
    write_token: str | None = None,
    migrate_password: str | None = None,
    app_secrets: Mapping[str, str] | None = None,
    registry_password: str | None = None,
) -> dict[str, Any]:
    """A web host's secret document (:mod:`.secrets`): the cluster CA's certificate and, with the application, its
    credentials (every generation of its password so far: the current one first, then the previous), the release
    phase's, the write token, the user's secrets and the registry's password."""
    if not (isinstance(ca, str) and ca.startswith("-----BEGIN ") and ca.endswith("-----\n")):
        raise ValueError("ca must be the cluster CA's certificate (PEM)")
    doc: dict[str, Any] = {"v": secrets.VERSION, "tls": {"ca": ca}}
    if app_user is not None:
        token = check.password(write_token, "write_token")
        migrate = check.password(migrate_password, "migrate password")
        doc["app"] = app.secret_section(
            credentials=[(u, check.password(p, "app password")) for u, p in app_credentials(app_user, app_passwords)],
            migrate=(migrate_role(app_user), migrate),
            write_token=token,
            secrets=dict(app_secrets or {}),
            registry_password=registry_password,
        )
    return doc


def render_web(
    *,
    placement_label: str,
    app_title: str = DEFAULT_TITLE,
    https: bool = False,
    server_name: str = "_",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    database: AppDatabase | None = None,
    application: app.AppSpec | None = None,
    app_runtime: Mapping[str, Any] | None = None,
    host_key: str,
    secrets_doc: dict[str, Any],
    package_update: bool = True,
    package_upgrade: bool = False,
    admin_cidrs: Sequence[str] = (),
    acme_peers: Sequence[str] = (),
    monitoring: Sequence[str] = (),
) -> str:
    """Render the user-data of a web host.

    Installs nginx from Debian's packages and answers ``/healthz``. With ``application`` (and its runtime part,
    ``app_runtime``: :func:`resilient_stack.hosts.app.runtime_section`), podman and the application's agent
    (:mod:`.app`), which starts the stack's release in a container once the database answers; nginx sends ``/`` to
    it and ``/healthz`` to its health check. Without one, an index page that shows ``app_title`` and
    ``placement_label``. The Debian default site is disabled; nginx is enabled and (re)started. sshd is hardened.

    Args:
        placement_label: where this replica lives, e.g. ``"ovh/GRA/GRA11"``; shown on the index page.
        app_title: the index page's title without an application (runtime configuration: it changes in place,
            :func:`web_runtime`).
        https: also serve 443 with Debian's self-signed snakeoil certificate and redirect plain HTTP
            there (``/healthz`` stays reachable on port 80 for health checks); runtime configuration.
        server_name: nginx ``server_name`` (``_`` = any); with ``https`` and DNS names, the names of the ACME
            certificate (:mod:`.acme`); runtime configuration.
        hostname: optional host name to set (a single DNS label).
        ssh_authorized_keys: public keys of the image's default user (:data:`LOGIN_USER`); runtime configuration.
        database: the database (every member's address): needed by the application.
        application: the user's application, or None: the static page only.
        app_runtime: the application's part of the runtime document (with ``application``).
        host_key: this host's key (:mod:`.secrets`), which seals ``secrets_doc`` here and in the metadata.
        secrets_doc: the host's secret document (:func:`web_secret_document`).
        package_update: run ``apt-get update`` before installing (needed on real cloud images).
        package_upgrade: upgrade all packages at first boot (slower).
        admin_cidrs: networks admitted to SSH by the host firewall (:mod:`.firewall`; HTTP and HTTPS are open).
        acme_peers: the stack's OTHER web hosts' addresses: a host asks them for an ACME challenge token it does not
            hold (:mod:`.acme`).
        monitoring: the monitoring hosts' addresses, admitted to the node exporter (runtime configuration).

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on an empty/multi-line label or title, a bad server name, host name, key or application.
    """
    check.label(placement_label, "placement_label")  # required here; validate_web also takes None
    keys = validate_web(
        placement_label=placement_label,
        app_title=app_title,
        https=https,
        server_name=server_name,
        hostname=hostname,
        ssh_authorized_keys=ssh_authorized_keys,
        database=database,
        application=application,
    )
    if (application is not None) != ("app" in secrets_doc) or (application is not None and "tls" not in secrets_doc):
        raise ValueError("the secret document has the application's credentials exactly when there is an application")
    if (application is not None) != (app_runtime is not None):
        raise ValueError("an application comes with its runtime part (app_runtime), and only then")
    sealed = secrets.seal(secrets_doc, host_key)

    peers = [str(ipaddress.ip_address(p)) for p in acme_peers]  # ValueError: not an address
    # ssl-cert and certbot whatever the first settings: https and the server name change in place (runtime)
    packages = ["nginx", "curl", "ssl-cert"] + (app.PACKAGES if application else []) + acme.PACKAGES
    doc = document.base(
        packages=packages,
        hostname=hostname,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    first = web_runtime(
        admin_cidrs=admin_cidrs,
        monitoring=monitoring,
        acme_peers=peers,
        ssh_keys=keys,
        server_name=server_name,
        https=https,
        app_title=app_title,
        app=app_runtime,
    )
    doc["write_files"] = [
        document.ssh_hardening(),
        document.write_file(secrets.KEY_FILE, host_key, permissions="0600"),
        document.write_file(secrets.SEALED_FILE, sealed + "\n", permissions="0600"),
        runtime.first_boot_file(first),
        *hardening.harden(
            doc,
            role="web",
            sets=first["firewall"],
            acme_peers_conf=ACME_PEERS_CONF,
            site=True,
            app_credentials=APP_CREDENTIALS if application is not None else "",
        ),
        # the site and the page as root's sync fills them in (the server name, the variant, the title: runtime)
        document.write_file(INDEX_TEMPLATE, index_template(placement_label=placement_label)),
        *[
            document.write_file(f"{SITE_DIR}/{variant}.conf", nginx_site(application=application, **how))
            for variant, how in SITE_VARIANTS.items()
        ],
        *acme.files(peers),
        *(app.files() if application is not None else []),
    ]
    # root's sync first (the site, the page, the secrets), then nginx, then the application's agent (it switches
    # nginx's upstream to the release it started)
    agent: list[Any] = []
    if application is not None:
        agent = [
            ["install", "-d", "-m", "0700", APP_STATE_DIR],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", app.AGENT_SERVICE],
        ]
    doc["runcmd"] = (
        document.ssh_runcmd()
        + hardening.first_runcmd()
        + [
            ["install", "-d", "-m", "0755", TLS_DIR],
            [SYNC_SCRIPT, "--boot"],
            ["rm", "-f", f"{NGINX_ENABLED}/default"],
            ["ln", "-sfn", NGINX_SITE, f"{NGINX_ENABLED}/resilient-stack"],
            ["nginx", "-t", "-q"],
            ["systemctl", "enable", "nginx"],
            ["systemctl", "restart", "nginx"],
        ]
        + agent
        + acme.runcmd()
        + hardening.last_runcmd()
    )
    return document.dump(doc)


def web_runtime(
    *,
    admin_cidrs: Sequence[str] = (),
    acme_peers: Sequence[str] = (),
    monitoring: Sequence[str] = (),
    ssh_keys: Sequence[str] = (),
    server_name: str = "_",
    https: bool = False,
    app_title: str = DEFAULT_TITLE,
    app: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The runtime document of a web host (:mod:`.runtime`), for the instance's metadata: its firewall's sets, the
    other web hosts' addresses (ACME), the SSH keys, what it serves (:func:`site_settings`) and the application's
    part (the spec of the stack's release); the arguments and their defaults are :func:`render_web`'s."""
    return runtime.document(
        firewall=firewall.web_sets(
            admin_cidrs=check.cidrs(admin_cidrs, "admin_cidrs", allow_empty=True),
            monitoring=firewall.addresses(monitoring, "monitoring"),
        ),
        acme_peers=[str(ipaddress.ip_address(p)) for p in acme_peers],
        ssh_keys=check.ssh_keys(ssh_keys),
        site=site_settings(server_name=server_name, https=https, app_title=app_title),
        app=None if app is None else dict(app),
    )
