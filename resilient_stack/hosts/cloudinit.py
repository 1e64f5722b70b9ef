"""Render the ``#cloud-config`` user-data that resilient_stack puts on its instances.

Pure module: standard library plus PyYAML's ``safe_dump`` only, no Pulumi import, so the Pulumi
components, the podman test harness and any drill render *exactly* the same text.

Three roles:

* :func:`render_web` -- nginx from Debian's packages serving an index page that names the placement
  and a ``/healthz`` endpoint answering ``200 ok``.
* :func:`render_db_primary` -- PostgreSQL 15 from Debian (bookworm) as a streaming-replication primary:
  ``wal_level=replica``, a replication role and an application database + role (SCRAM passwords),
  ``pg_hba`` entries (``hostssl``, Debian's snakeoil certificate) only for the given CIDRs, and optionally
  pgBackRest WAL archiving + scheduled backups to S3-compatible object storage.
* :func:`render_db_replica` -- the same packages, waits (bounded retries) for the primary, clones it with
  ``pg_basebackup -R`` and streams from it; ships ``/usr/local/sbin/resilient-stack-promote``, the
  failover helper a runbook or a drill calls to promote the replica.

Every role also hardens sshd (no password authentication, no root login).

Secrets (database passwords, object-storage keys) only ever appear in ``write_files`` entries with mode
0600/0640 and a proper owner; the commands in ``runcmd`` and the helper scripts only reference those files.
Note that the user-data itself necessarily carries them: the cloud's metadata service and
``/var/lib/cloud/instance/user-data.txt`` (root-only) hold it, as for any cloud-init secret.

Output is deterministic: the same inputs give the same text (``yaml.safe_dump`` of plain dicts/lists with
``sort_keys=False`` and a fixed construction order).
"""

from __future__ import annotations

import html
import ipaddress
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from resilient_stack.core.vocabulary import (
    BUCKET_RE,
    HOST_DB_PRIMARY,
    HOST_DB_REPLICA,
    HOST_LABEL_RE,
    HOST_ROLE_FILE,
    POSTGRES_PORT,
    S3_REGION_RE,
    SQL_IDENT_RE,
    SSH_PUBLIC_KEY_RE,
)

__all__ = [
    "BackupTarget",
    "PG_VERSION",
    "PG_CLUSTER",
    "PROMOTE_HELPER",
    "SECRETS_DIR",
    "render_web",
    "render_db_primary",
    "render_db_replica",
]

PG_VERSION = "15"
PG_CLUSTER = "main"
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/{PG_CLUSTER}"
PG_ETC = f"/etc/postgresql/{PG_VERSION}/{PG_CLUSTER}"
PG_SERVICE = f"postgresql@{PG_VERSION}-{PG_CLUSTER}"

SECRETS_DIR = "/etc/resilient-stack/secrets"
REPLICATION_PASSWORD_FILE = f"{SECRETS_DIR}/replication_password"
APP_PASSWORD_FILE = f"{SECRETS_DIR}/app_password"
PGPASS_FILE = "/var/lib/postgresql/.pgpass"
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
PROMOTE_HELPER = "/usr/local/sbin/resilient-stack-promote"
DB_INIT_SQL = "/usr/local/share/resilient-stack/db-init.sql"
DB_INIT_SCRIPT = "/usr/local/sbin/resilient-stack-db-init"
REPLICA_INIT_SCRIPT = "/usr/local/sbin/resilient-stack-replica-init"
BACKUP_INIT_SCRIPT = "/usr/local/sbin/resilient-stack-backup-init"
BACKUP_SCRIPT = "/usr/local/sbin/resilient-stack-backup"
WEB_ROOT = "/var/www/resilient-stack"
NGINX_SITE = "/etc/nginx/sites-available/resilient-stack"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-resilient-stack.conf"

_STANZA_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")
_CALENDAR_RE = re.compile(r"^[A-Za-z0-9*:,./ ~-]{1,64}$")
_MIN_PASSWORD_LEN = 12


# --------------------------------------------------------------------------------------------------
# Backup target
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupTarget:
    """An S3-compatible object-storage repository for pgBackRest (e.g. OVHcloud Object Storage).

    Put it in another region (better: another provider) than the database: a backup kept on the same
    site burns with it (Strasbourg, 10 March 2021).

    Attributes:
        endpoint: host name of the S3 endpoint, optionally ``:port``, without scheme
            (e.g. ``s3.gra.io.cloud.ovh.net``).
        bucket: bucket name (must already exist).
        region: S3 region name (e.g. ``gra``).
        key_id: access key id.
        key_secret: secret access key (never shown by ``repr``).
        path: repository path inside the bucket.
        uri_style: ``"host"`` (virtual-hosted) or ``"path"``.
        verify_tls: verify the endpoint's TLS certificate.
        retention_full: how many full backups pgBackRest keeps.
        cipher_pass: optional client-side encryption passphrase (aes-256-cbc); never shown by ``repr``.
        stanza: pgBackRest stanza name.
    """

    endpoint: str
    bucket: str
    region: str
    key_id: str
    key_secret: str = field(repr=False)
    path: str = "/pgbackrest"
    uri_style: str = "host"
    verify_tls: bool = True
    retention_full: int = 2
    cipher_pass: str | None = field(default=None, repr=False)
    stanza: str = "main"

    def __post_init__(self) -> None:
        if not isinstance(self.endpoint, str) or not self.endpoint:
            raise ValueError("BackupTarget.endpoint must be a non-empty host name")
        if "://" in self.endpoint or "/" in self.endpoint:
            raise ValueError(
                f"BackupTarget.endpoint must be a bare host[:port] without scheme or path, got {self.endpoint!r}"
            )
        host, _, port = self.endpoint.partition(":")
        _check_host(host, "BackupTarget.endpoint")
        if port and not (port.isdigit() and 0 < int(port) < 65536):
            raise ValueError(f"BackupTarget.endpoint has an invalid port: {self.endpoint!r}")
        if not isinstance(self.bucket, str) or not BUCKET_RE.match(self.bucket):
            raise ValueError(f"BackupTarget.bucket is not a valid S3 bucket name: {self.bucket!r}")
        if not isinstance(self.region, str) or not S3_REGION_RE.match(self.region):
            raise ValueError(f"BackupTarget.region must be a non-empty region name, got {self.region!r}")
        _check_single_line(self.key_id, "BackupTarget.key_id", min_len=1)
        _check_single_line(self.key_secret, "BackupTarget.key_secret", min_len=1)
        if self.cipher_pass is not None:
            _check_single_line(self.cipher_pass, "BackupTarget.cipher_pass", min_len=_MIN_PASSWORD_LEN)
        if not isinstance(self.path, str) or not re.match(r"^/[A-Za-z0-9_./-]*$", self.path):
            raise ValueError(f"BackupTarget.path must be an absolute path like '/pgbackrest', got {self.path!r}")
        if self.uri_style not in ("host", "path"):
            raise ValueError(f"BackupTarget.uri_style must be 'host' or 'path', got {self.uri_style!r}")
        if not isinstance(self.verify_tls, bool):
            raise ValueError("BackupTarget.verify_tls must be a bool")
        if not isinstance(self.retention_full, int) or isinstance(self.retention_full, bool) or not (
            1 <= self.retention_full <= 100
        ):
            raise ValueError(f"BackupTarget.retention_full must be an int in 1..100, got {self.retention_full!r}")
        if not isinstance(self.stanza, str) or not _STANZA_RE.match(self.stanza):
            raise ValueError(f"BackupTarget.stanza must be a simple name, got {self.stanza!r}")


# --------------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------------


def _check_single_line(value: Any, name: str, *, min_len: int = 1) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) < min_len:
        if min_len == 1:
            raise ValueError(f"{name} must not be empty")
        raise ValueError(f"{name} must be at least {min_len} characters long")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{name} must not contain control characters or newlines")
    return value


def _check_host(value: Any, name: str) -> str:
    """A DNS name or an IPv4/IPv6 address, nothing a shell or a conninfo string could misread."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-empty host name or IP address")
    try:
        ipaddress.ip_address(value)
        return value
    except ValueError:
        pass
    labels = value.rstrip(".").split(".")
    if len(value) > 253 or not all(HOST_LABEL_RE.match(label) for label in labels):
        raise ValueError(f"{name} is not a valid host name or IP address: {value!r}")
    return value


def _check_ident(value: Any, name: str) -> str:
    if not isinstance(value, str) or not SQL_IDENT_RE.match(value):
        raise ValueError(
            f"{name} must be a lower-case SQL identifier ([a-z_][a-z0-9_]*, at most 63 characters), got {value!r}"
        )
    return value


def _check_password(value: Any, name: str) -> str:
    return _check_single_line(value, name, min_len=_MIN_PASSWORD_LEN)


def _check_cidrs(cidrs: Any, name: str, *, allow_empty: bool = False) -> list[str]:
    if isinstance(cidrs, str) or not isinstance(cidrs, (list, tuple)):
        raise ValueError(f"{name} must be a list of CIDR networks like ['10.0.0.0/24'], got {cidrs!r}")
    if not cidrs and not allow_empty:
        raise ValueError(f"{name} must name at least one CIDR network")
    out: list[str] = []
    for c in cidrs:
        if not isinstance(c, str):
            raise ValueError(f"{name}: {c!r} is not a CIDR network string")
        try:
            net = ipaddress.ip_network(c, strict=True)
        except ValueError as exc:
            raise ValueError(f"{name}: {c!r} is not a valid CIDR network ({exc})") from None
        if "/" not in c:
            raise ValueError(f"{name}: {c!r} has no prefix length; write e.g. '{c}/32'")
        if net.prefixlen == 0:
            raise ValueError(f"{name}: {c!r} would open PostgreSQL to the whole Internet; name the private networks")
        if str(net) not in out:
            out.append(str(net))
    return out


def _check_label(value: Any, name: str, *, max_len: int = 200) -> str:
    _check_single_line(value, name, min_len=1)
    if not value.strip():
        raise ValueError(f"{name} must not be blank")
    if len(value) > max_len:
        raise ValueError(f"{name} must be at most {max_len} characters long")
    return value


def _check_ssh_keys(keys: Any) -> list[str]:
    if isinstance(keys, str) or not isinstance(keys, (list, tuple)):
        raise ValueError("ssh_authorized_keys must be a list of public key lines")
    out = []
    for k in keys:
        _check_single_line(k, "ssh_authorized_keys entry")
        if not SSH_PUBLIC_KEY_RE.match(k):
            raise ValueError(f"ssh_authorized_keys entry does not look like an OpenSSH public key: {k[:30]!r}...")
        out.append(k)
    return out


def _check_hostname(value: str | None) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not HOST_LABEL_RE.match(value):
        raise ValueError(f"hostname must be a single DNS label (letters, digits, '-'), got {value!r}")
    return value


def _check_int(value: Any, name: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an int in {lo}..{hi}, got {value!r}")
    return value


# --------------------------------------------------------------------------------------------------
# Document assembly
# --------------------------------------------------------------------------------------------------


def _file(
    path: str,
    content: str,
    *,
    permissions: str = "0644",
    owner: str = "root:root",
    defer: bool = False,
    append: bool = False,
) -> dict[str, Any]:
    entry: dict[str, Any] = {"path": path, "content": content, "owner": owner, "permissions": permissions}
    if append:
        entry["append"] = True
    if defer:
        # Written in the final stage, after `packages:` are installed: the package's users (postgres)
        # and directories (/etc/postgresql/15/main, /etc/nginx) then exist.
        entry["defer"] = True
    return entry


class _LiteralDumper(yaml.SafeDumper):
    """SafeDumper that writes multi-line strings as literal blocks (readable user-data)."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    if "\n" in data:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_LiteralDumper.add_representer(str, _str_representer)


def _dump(doc: dict[str, Any]) -> str:
    body = yaml.dump(doc, Dumper=_LiteralDumper, sort_keys=False, default_flow_style=False, width=4096)
    # Round-trip guard: what we emit must parse back to exactly what we built.
    if yaml.safe_load(body) != doc:  # pragma: no cover - defensive
        raise RuntimeError("cloud-config did not round-trip through YAML")
    return "#cloud-config\n" + body


def _ssh_hardening() -> dict[str, Any]:
    # 00- sorts first in sshd_config.d, and for sshd the first value obtained wins.
    return _file(
        SSHD_DROPIN,
        "# Managed by resilient_stack (cloud-init).\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin no\n"
        "PermitEmptyPasswords no\n",
        permissions="0644",
    )


def _ssh_runcmd() -> list[Any]:
    # cloud-init runs runcmd as one /bin/sh script; without `set -e` a failed step would be ignored and
    # `cloud-init status` would still say done. With it, the first failure makes the boot an error.
    return [
        "set -eu",
        ["sh", "-c", "sshd -t && { systemctl reload ssh || systemctl restart ssh; }"],
    ]


def _base(
    *,
    packages: Sequence[str],
    hostname: str | None,
    ssh_authorized_keys: Sequence[str],
    package_update: bool,
    package_upgrade: bool,
) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    if hostname is not None:
        doc["hostname"] = hostname
        doc["preserve_hostname"] = False
    doc["ssh_pwauth"] = False
    doc["disable_root"] = True
    if ssh_authorized_keys:
        doc["ssh_authorized_keys"] = list(ssh_authorized_keys)
    doc["package_update"] = bool(package_update)
    doc["package_upgrade"] = bool(package_upgrade)
    doc["packages"] = list(packages)
    return doc


# --------------------------------------------------------------------------------------------------
# Web
# --------------------------------------------------------------------------------------------------


def _index_html(*, app_title: str, placement_label: str) -> str:
    t = html.escape(app_title)
    p = html.escape(placement_label)
    return (
        "<!doctype html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '  <meta charset="utf-8">\n'
        f"  <title>{t}</title>\n"
        "</head>\n"
        "<body>\n"
        f"  <h1>{t}</h1>\n"
        f'  <p>Served from placement: <strong id="placement">{p}</strong></p>\n'
        "</body>\n"
        "</html>\n"
    )


def _nginx_site(*, server_name: str, https: bool) -> str:
    healthz = (
        "    location = /healthz {\n"
        "        access_log off;\n"
        "        default_type text/plain;\n"
        '        return 200 "ok\\n";\n'
        "    }\n"
    )
    common = (
        f"    root {WEB_ROOT};\n"
        "    index index.html;\n"
        "    server_tokens off;\n"
        '    add_header X-Content-Type-Options "nosniff" always;\n'
        "    location / {\n"
        "        try_files $uri $uri/ =404;\n"
        "    }\n"
    )
    out = "# Managed by resilient_stack (cloud-init).\n"
    if not https:
        out += (
            "server {\n"
            "    listen 80 default_server;\n"
            "    listen [::]:80 default_server;\n"
            f"    server_name {server_name};\n" + common + healthz + "}\n"
        )
        return out
    out += (
        "server {\n"
        "    listen 80 default_server;\n"
        "    listen [::]:80 default_server;\n"
        f"    server_name {server_name};\n"
        "    server_tokens off;\n" + healthz + "    location / {\n"
        "        return 301 https://$host$request_uri;\n"
        "    }\n"
        "}\n"
        "server {\n"
        "    listen 443 ssl default_server;\n"
        "    listen [::]:443 ssl default_server;\n"
        f"    server_name {server_name};\n"
        # Debian's self-signed snakeoil pair until a real certificate is provisioned.
        "    ssl_certificate /etc/ssl/certs/ssl-cert-snakeoil.pem;\n"
        "    ssl_certificate_key /etc/ssl/private/ssl-cert-snakeoil.key;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        '    add_header Strict-Transport-Security "max-age=31536000" always;\n' + common + healthz + "}\n"
    )
    return out


def render_web(
    *,
    placement_label: str,
    app_title: str = "Resilient Stack",
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
    _check_label(placement_label, "placement_label")
    _check_label(app_title, "app_title")
    if not isinstance(https, bool):
        raise ValueError("https must be a bool")
    if not isinstance(server_name, str) or not re.match(r"^(_|[A-Za-z0-9*.-]+( [A-Za-z0-9*.-]+)*)$", server_name):
        raise ValueError(f"server_name must be '_' or space-separated host names, got {server_name!r}")
    hostname = _check_hostname(hostname)
    keys = _check_ssh_keys(ssh_authorized_keys)

    packages = ["nginx", "curl"] + (["ssl-cert"] if https else [])
    doc = _base(
        packages=packages,
        hostname=hostname,
        ssh_authorized_keys=keys,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    doc["write_files"] = [
        _ssh_hardening(),
        _file(f"{WEB_ROOT}/index.html", _index_html(app_title=app_title, placement_label=placement_label)),
        _file(NGINX_SITE, _nginx_site(server_name=server_name, https=https), defer=True),
    ]
    doc["runcmd"] = _ssh_runcmd() + [
        ["rm", "-f", "/etc/nginx/sites-enabled/default"],
        ["ln", "-sfn", NGINX_SITE, "/etc/nginx/sites-enabled/resilient-stack"],
        ["nginx", "-t", "-q"],
        ["systemctl", "enable", "nginx"],
        ["systemctl", "restart", "nginx"],
    ]
    return _dump(doc)


# --------------------------------------------------------------------------------------------------
# Database
# --------------------------------------------------------------------------------------------------


def _pg_conf(*, backup: BackupTarget | None, max_wal_senders: int, wal_keep_size_mb: int) -> str:
    lines = [
        "# Managed by resilient_stack (cloud-init). Same file on primary and replicas, so a promoted",
        "# replica behaves as a primary without further edits.",
        "listen_addresses = '*'",
        f"port = {POSTGRES_PORT}",
        "password_encryption = 'scram-sha-256'",
        "ssl = on",
        "ssl_cert_file = '/etc/ssl/certs/ssl-cert-snakeoil.pem'",
        "ssl_key_file = '/etc/ssl/private/ssl-cert-snakeoil.key'",
        "wal_level = replica",
        f"max_wal_senders = {max_wal_senders}",
        f"wal_keep_size = '{wal_keep_size_mb}MB'",
        "hot_standby = on",
        "hot_standby_feedback = on",
        "wal_log_hints = on",
    ]
    if backup is not None:
        lines += [
            "archive_mode = on",
            f"archive_command = 'pgbackrest --stanza={backup.stanza} archive-push %p'",
            "archive_timeout = 300",
        ]
    else:
        lines.append("archive_mode = off")
    return "\n".join(lines) + "\n"


def _pg_hba(*, replication_user: str, app_user: str, app_db: str, allowed_cidrs: list[str], app_cidrs: list[str]) -> str:
    lines = ["# resilient_stack: TLS-only, SCRAM-authenticated access from the listed networks."]
    for cidr in allowed_cidrs:
        lines.append(f"hostssl replication {replication_user} {cidr} scram-sha-256")
    for cidr in app_cidrs:
        lines.append(f"hostssl {app_db} {app_user} {cidr} scram-sha-256")
    return "\n".join(lines) + "\n"


def _db_init_sql(*, replication_user: str, app_user: str, app_db: str) -> str:
    # Run by psql as postgres. Passwords are read from root-provisioned 0600 files by psql's backquote
    # expansion and interpolated as properly quoted literals (:'var'); they never reach a command line.
    return (
        "-- Managed by resilient_stack (cloud-init). Idempotent.\n"
        "\\set ON_ERROR_STOP on\n"
        f"\\set repl_password `cat {REPLICATION_PASSWORD_FILE}`\n"
        f"\\set app_password `cat {APP_PASSWORD_FILE}`\n"
        "SET password_encryption = 'scram-sha-256';\n"
        f"SELECT 'CREATE ROLE {replication_user}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_roles WHERE rolname = '{replication_user}') \\gexec\n"
        f"ALTER ROLE {replication_user} WITH LOGIN REPLICATION PASSWORD :'repl_password';\n"
        f"SELECT 'CREATE ROLE {app_user}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_roles WHERE rolname = '{app_user}') \\gexec\n"
        f"ALTER ROLE {app_user} WITH LOGIN NOREPLICATION PASSWORD :'app_password';\n"
        f"SELECT 'CREATE DATABASE {app_db} OWNER {app_user}' WHERE NOT EXISTS "
        f"(SELECT FROM pg_database WHERE datname = '{app_db}') \\gexec\n"
        f"REVOKE ALL ON DATABASE {app_db} FROM PUBLIC;\n"
        f"GRANT ALL ON DATABASE {app_db} TO {app_user};\n"
        "\\unset repl_password\n"
        "\\unset app_password\n"
    )


_WAIT_PG_READY = (
    "wait_local_pg() {\n"
    "    for _ in $(seq 1 60); do\n"
    f"        pg_isready -q -h /var/run/postgresql -p {POSTGRES_PORT} && return 0\n"
    "        sleep 1\n"
    "    done\n"
    '    echo "local PostgreSQL did not become ready" >&2\n'
    "    return 1\n"
    "}\n"
)


def _db_init_script() -> str:
    return (
        "#!/bin/bash\n"
        "# Managed by resilient_stack (cloud-init): create/refresh the replication and application roles\n"
        "# and the application database on the primary. Idempotent. Secrets are read from files.\n"
        "set -euo pipefail\n" + _WAIT_PG_READY + "wait_local_pg\n"
        f"runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -f {DB_INIT_SQL}\n"
        'echo "resilient-stack: database roles ready"\n'
    )


def _pgpass(*, replication_user: str, password: str) -> str:
    esc = password.replace("\\", "\\\\").replace(":", "\\:")
    return f"*:*:replication:{replication_user}:{esc}\n"


def _replica_init_script(
    *, primary_host: str, primary_port: int, replication_user: str, attempts: int, interval: int
) -> str:
    q = shlex.quote
    conninfo = (
        f"host={primary_host} port={primary_port} user={replication_user} "
        f"sslmode=require passfile={PGPASS_FILE} connect_timeout=5"
    )
    return (
        "#!/bin/bash\n"
        "# Managed by resilient_stack (cloud-init): turn this host's PostgreSQL cluster into a streaming\n"
        "# replica of the primary. Waits (bounded) for the primary, clones it with pg_basebackup -R,\n"
        "# starts streaming. The password comes from ~postgres/.pgpass (0600), never from the command line.\n"
        "set -euo pipefail\n"
        f"PRIMARY_HOST={q(primary_host)}\n"
        f"ATTEMPTS={attempts}\n"
        f"INTERVAL={interval}\n"
        f"DATA={q(PG_DATA)}\n"
        f"CONNINFO={q(conninfo)}\n"
        'APP_NAME="$(hostname -s | tr -c "a-zA-Z0-9_\\n" _)"\n'
        + _WAIT_PG_READY
        + 'if [ -f "$DATA/standby.signal" ] && [ -f "$DATA/PG_VERSION" ]; then\n'
        '    echo "resilient-stack: already a standby; starting it"\n'
        f"    systemctl start {PG_SERVICE}\n"
        "    exit 0\n"
        "fi\n"
        f"systemctl stop {PG_SERVICE} || true\n"
        "ok=0\n"
        'for i in $(seq 1 "$ATTEMPTS"); do\n'
        '    rm -rf "$DATA" "$DATA.tmp"\n'
        '    install -d -o postgres -g postgres -m 0700 "$DATA.tmp"\n'
        '    if runuser -u postgres -- pg_basebackup -d "$CONNINFO application_name=$APP_NAME" \\\n'
        '            -D "$DATA.tmp" -R -X stream -c fast --no-password; then\n'
        '        mv "$DATA.tmp" "$DATA"\n'
        "        ok=1\n"
        "        break\n"
        "    fi\n"
        '    echo "resilient-stack: primary $PRIMARY_HOST not ready (attempt $i/$ATTEMPTS); retrying in ${INTERVAL}s" >&2\n'
        '    sleep "$INTERVAL"\n'
        "done\n"
        'if [ "$ok" != 1 ]; then\n'
        '    rm -rf "$DATA.tmp"\n'
        '    echo "resilient-stack: could not clone the primary $PRIMARY_HOST after $ATTEMPTS attempts" >&2\n'
        "    exit 1\n"
        "fi\n"
        f"systemctl start {PG_SERVICE}\n"
        "wait_local_pg\n"
        "for _ in $(seq 1 60); do\n"
        "    if [ \"$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')\" = t ]; then\n"
        '        echo "resilient-stack: streaming replica of $PRIMARY_HOST ready"\n'
        "        exit 0\n"
        "    fi\n"
        "    sleep 1\n"
        "done\n"
        'echo "resilient-stack: cluster did not come up in recovery" >&2\n'
        "exit 1\n"
    )


def _promote_script() -> str:
    return (
        "#!/bin/bash\n"
        "# resilient-stack-promote -- promote this PostgreSQL streaming replica to primary (failover).\n"
        "#\n"
        "# Usage: resilient-stack-promote [--check]\n"
        "#   --check   only print this node's role (primary|replica) and exit 0.\n"
        "#\n"
        "# Runbook / drill:\n"
        "#   1. Fence the old primary first (power it off or cut it off the network): two primaries\n"
        "#      accepting writes is worse than a short outage.\n"
        "#   2. Pick the replica that received the most WAL (SELECT pg_last_wal_receive_lsn()).\n"
        "#   3. Run `sudo resilient-stack-promote` on it; it returns once the node accepts writes.\n"
        "#   4. Point the application (DNS / config) at the new primary; rebuild the old one as a replica.\n"
        "# Exit codes: 0 promoted (or already primary), 1 failure, 2 usage.\n"
        "set -euo pipefail\n"
        f"VERSION={PG_VERSION}\n"
        f"CLUSTER={PG_CLUSTER}\n"
        "TIMEOUT=${RESILIENT_STACK_PROMOTE_TIMEOUT:-60}\n"
        "role() {\n"
        "    case \"$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')\" in\n"
        "        t) echo replica ;;\n"
        "        f) echo primary ;;\n"
        '        *) echo "cannot query the local PostgreSQL" >&2; return 1 ;;\n'
        "    esac\n"
        "}\n"
        'case "${1:-}" in\n'
        "    --check) role; exit 0 ;;\n"
        '    "") ;;\n'
        '    -h|--help) sed -n "2,13p" "$0"; exit 0 ;;\n'
        '    *) echo "usage: $0 [--check]" >&2; exit 2 ;;\n'
        "esac\n"
        '[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }\n'
        'if [ "$(role)" = primary ]; then\n'
        '    echo "already primary: nothing to do"\n'
        "    exit 0\n"
        "fi\n"
        'pg_ctlcluster "$VERSION" "$CLUSTER" promote\n'
        'for _ in $(seq 1 "$TIMEOUT"); do\n'
        '    if [ "$(role)" = primary ]; then\n'
        '        echo "promoted: this node is now the primary"\n'
        "        exit 0\n"
        "    fi\n"
        "    sleep 1\n"
        "done\n"
        'echo "promotion did not complete within ${TIMEOUT}s" >&2\n'
        "exit 1\n"
    )


def _pgbackrest_conf(backup: BackupTarget, *, process_max: int) -> str:
    lines = [
        "# Managed by resilient_stack (cloud-init). Contains the object-storage secret: 0640 postgres.",
        "[global]",
        "repo1-type=s3",
        f"repo1-s3-endpoint={backup.endpoint.partition(':')[0]}",
    ]
    if ":" in backup.endpoint:
        lines.append(f"repo1-storage-port={backup.endpoint.partition(':')[2]}")
    lines += [
        f"repo1-s3-bucket={backup.bucket}",
        f"repo1-s3-region={backup.region}",
        f"repo1-s3-key={backup.key_id}",
        f"repo1-s3-key-secret={backup.key_secret}",
        f"repo1-s3-uri-style={backup.uri_style}",
        f"repo1-storage-verify-tls={'y' if backup.verify_tls else 'n'}",
        f"repo1-path={backup.path}",
        f"repo1-retention-full={backup.retention_full}",
    ]
    if backup.cipher_pass is not None:
        lines += ["repo1-cipher-type=aes-256-cbc", f"repo1-cipher-pass={backup.cipher_pass}"]
    lines += [
        f"process-max={process_max}",
        "start-fast=y",
        "compress-type=lz4",
        "log-level-console=info",
        "log-level-file=detail",
        "",
        f"[{backup.stanza}]",
        f"pg1-path={PG_DATA}",
        f"pg1-port={POSTGRES_PORT}",
        "pg1-socket-path=/var/run/postgresql",
    ]
    return "\n".join(lines) + "\n"


def _backup_script(backup: BackupTarget) -> str:
    return (
        "#!/bin/bash\n"
        "# Managed by resilient_stack (cloud-init): take a pgBackRest backup (type: full|diff|incr, default\n"
        "# diff) if, and only if, this node is the primary -- so after a failover the promoted replica\n"
        "# takes over the schedule with no change.\n"
        "set -euo pipefail\n"
        'TYPE="${1:-diff}"\n'
        'case "$TYPE" in full|diff|incr) ;; *) echo "usage: $0 [full|diff|incr]" >&2; exit 2 ;; esac\n'
        "if [ \"$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')\" != f ]; then\n"
        '    echo "not the primary: skipping backup"\n'
        "    exit 0\n"
        "fi\n"
        f'exec runuser -u postgres -- pgbackrest --stanza={backup.stanza} --type="$TYPE" backup\n'
    )


def _backup_init_script(backup: BackupTarget) -> str:
    return (
        "#!/bin/bash\n"
        "# Managed by resilient_stack (cloud-init): create the pgBackRest stanza in object storage,\n"
        "# check WAL archiving, then start a first full backup in the background.\n"
        "set -euo pipefail\n" + _WAIT_PG_READY + "wait_local_pg\n"
        "for i in $(seq 1 10); do\n"
        f"    if runuser -u postgres -- pgbackrest --stanza={backup.stanza} stanza-create; then\n"
        f"        runuser -u postgres -- pgbackrest --stanza={backup.stanza} check\n"
        "        systemctl start --no-block resilient-stack-backup@full.service\n"
        "        exit 0\n"
        "    fi\n"
        '    echo "resilient-stack: stanza-create failed (attempt $i/10); retrying" >&2\n'
        "    sleep 6\n"
        "done\n"
        'echo "resilient-stack: could not reach the backup repository" >&2\n'
        "exit 1\n"
    )


def _backup_units(backup: BackupTarget, *, full_calendar: str, diff_calendar: str) -> list[dict[str, Any]]:
    service = (
        "[Unit]\n"
        "Description=resilient_stack pgBackRest %i backup\n"
        f"After={PG_SERVICE}.service network-online.target\n"
        "Wants=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={BACKUP_SCRIPT} %i\n"
    )

    def timer(kind: str, calendar: str) -> str:
        return (
            "[Unit]\n"
            f"Description=resilient_stack pgBackRest {kind} backup schedule\n"
            "\n"
            "[Timer]\n"
            f"OnCalendar={calendar}\n"
            "RandomizedDelaySec=15min\n"
            "Persistent=true\n"
            f"Unit=resilient-stack-backup@{kind}.service\n"
            "\n"
            "[Install]\n"
            "WantedBy=timers.target\n"
        )

    return [
        _file(BACKUP_SCRIPT, _backup_script(backup), permissions="0755"),
        _file("/etc/systemd/system/resilient-stack-backup@.service", service),
        _file("/etc/systemd/system/resilient-stack-backup-full.timer", timer("full", full_calendar)),
        _file("/etc/systemd/system/resilient-stack-backup-diff.timer", timer("diff", diff_calendar)),
    ]


def _db_common(
    *,
    role: str,
    replication_password: str,
    replication_user: str,
    app_user: str,
    app_db: str,
    allowed_cidrs: Sequence[str],
    app_cidrs: Sequence[str] | None,
    backup: BackupTarget | None,
    hostname: str | None,
    ssh_authorized_keys: Sequence[str],
    package_update: bool,
    package_upgrade: bool,
    max_wal_senders: int,
    wal_keep_size_mb: int,
    backup_full_calendar: str,
    backup_diff_calendar: str,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[Any]]:
    _check_password(replication_password, "replication_password")
    _check_ident(replication_user, "replication_user")
    _check_ident(app_user, "app_user")
    _check_ident(app_db, "app_db")
    if replication_user == app_user:
        raise ValueError("replication_user and app_user must differ")
    cidrs = _check_cidrs(allowed_cidrs, "allowed_cidrs")
    app_nets = cidrs if app_cidrs is None else _check_cidrs(app_cidrs, "app_cidrs", allow_empty=True)
    if backup is not None and not isinstance(backup, BackupTarget):
        raise ValueError(f"backup must be a BackupTarget or None, got {type(backup).__name__}")
    hostname = _check_hostname(hostname)
    keys = _check_ssh_keys(ssh_authorized_keys)
    _check_int(max_wal_senders, "max_wal_senders", 2, 100)
    _check_int(wal_keep_size_mb, "wal_keep_size_mb", 0, 1_000_000)
    for cal, name in ((backup_full_calendar, "backup_full_calendar"), (backup_diff_calendar, "backup_diff_calendar")):
        if not isinstance(cal, str) or not _CALENDAR_RE.match(cal):
            raise ValueError(f"{name} must be a systemd OnCalendar expression, got {cal!r}")

    packages = [f"postgresql-{PG_VERSION}", "ssl-cert"] + (["pgbackrest"] if backup is not None else [])
    doc = _base(
        packages=packages,
        hostname=hostname,
        ssh_authorized_keys=keys,
        package_update=package_update,
        package_upgrade=package_upgrade,
    )
    files = [
        _ssh_hardening(),
        _file(f"{PG_ETC}/conf.d/50-resilient-stack.conf",
              _pg_conf(backup=backup, max_wal_senders=max_wal_senders, wal_keep_size_mb=wal_keep_size_mb),
              owner="postgres:postgres", defer=True),
        _file(f"{PG_ETC}/pg_hba.conf",
              _pg_hba(replication_user=replication_user, app_user=app_user, app_db=app_db,
                      allowed_cidrs=cidrs, app_cidrs=app_nets),
              owner="postgres:postgres", permissions="0640", append=True, defer=True),
        _file(HOST_ROLE_FILE, role + "\n"),
    ]
    runcmd: list[Any] = _ssh_runcmd()
    if backup is not None:
        files += [
            _file(PGBACKREST_CONF, _pgbackrest_conf(backup, process_max=2),
                  owner="postgres:postgres", permissions="0640", defer=True),
        ]
        files += _backup_units(backup, full_calendar=backup_full_calendar, diff_calendar=backup_diff_calendar)
    return doc, files, runcmd


def render_db_primary(
    *,
    replication_password: str,
    app_password: str,
    allowed_cidrs: Sequence[str],
    backup: BackupTarget | None,
    app_cidrs: Sequence[str] | None = None,
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = "Sun *-*-* 02:00:00",
    backup_diff_calendar: str = "Mon..Sat *-*-* 02:00:00",
) -> str:
    """Render the user-data of the PostgreSQL 15 primary.

    Installs ``postgresql-15`` (and ``pgbackrest`` when ``backup`` is given) from Debian, sets
    ``wal_level=replica``, listens on all addresses with TLS (Debian's snakeoil certificate), appends
    ``hostssl`` + ``scram-sha-256`` entries to ``pg_hba.conf`` -- replication only from ``allowed_cidrs``,
    the application database only from ``app_cidrs`` (default: ``allowed_cidrs``) -- and creates the
    replication role, the application role and its database (idempotent SQL, passwords read from 0600
    files owned by postgres). With a backup target: ``archive_mode=on``, ``archive_command`` pushing WAL with
    pgBackRest, the stanza created and checked at first boot, a first full backup started, and systemd
    timers for weekly full / daily differential backups (they run only on the current primary).

    Args:
        replication_password: password of ``replication_user`` (>= 12 characters, single line).
        app_password: password of ``app_user`` (>= 12 characters, single line).
        allowed_cidrs: networks the replicas connect from, e.g. ``["10.1.0.0/24"]``; ``/0`` is refused.
        backup: object-storage repository for pgBackRest, or ``None`` for no backups.
        app_cidrs: networks the application connects from (default ``allowed_cidrs``; ``[]`` = none).
        replication_user, app_user, app_db: lower-case SQL identifiers.
        hostname: optional host name to set.
        ssh_authorized_keys: public keys for the image's default user.
        package_update, package_upgrade: apt behaviour at first boot.
        max_wal_senders, wal_keep_size_mb: replication tuning.
        backup_full_calendar, backup_diff_calendar: systemd ``OnCalendar`` of the backup timers.

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on a short or multi-line password, an invalid or world-open CIDR, a bad identifier, ...
    """
    _check_password(app_password, "app_password")
    if app_password == replication_password:
        raise ValueError("app_password and replication_password must differ")
    doc, files, runcmd = _db_common(
        role=HOST_DB_PRIMARY,
        replication_password=replication_password,
        replication_user=replication_user,
        app_user=app_user,
        app_db=app_db,
        allowed_cidrs=allowed_cidrs,
        app_cidrs=app_cidrs,
        backup=backup,
        hostname=hostname,
        ssh_authorized_keys=ssh_authorized_keys,
        package_update=package_update,
        package_upgrade=package_upgrade,
        max_wal_senders=max_wal_senders,
        wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar,
        backup_diff_calendar=backup_diff_calendar,
    )
    files += [
        _file(REPLICATION_PASSWORD_FILE, replication_password, owner="postgres:postgres", permissions="0600", defer=True),
        _file(APP_PASSWORD_FILE, app_password, owner="postgres:postgres", permissions="0600", defer=True),
        _file(DB_INIT_SQL, _db_init_sql(replication_user=replication_user, app_user=app_user, app_db=app_db)),
        _file(DB_INIT_SCRIPT, _db_init_script(), permissions="0755"),
    ]
    if backup is not None:
        files.append(_file(BACKUP_INIT_SCRIPT, _backup_init_script(backup), permissions="0755"))
    runcmd += [
        ["systemctl", "enable", "postgresql"],
        ["systemctl", "restart", PG_SERVICE],
        [DB_INIT_SCRIPT],
    ]
    if backup is not None:
        runcmd += [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "resilient-stack-backup-full.timer", "resilient-stack-backup-diff.timer"],
            [BACKUP_INIT_SCRIPT],
        ]
    doc["write_files"] = files
    doc["runcmd"] = runcmd
    return _dump(doc)


def render_db_replica(
    *,
    primary_host: str,
    replication_password: str,
    allowed_cidrs: Sequence[str],
    backup: BackupTarget | None,
    primary_port: int = POSTGRES_PORT,
    app_cidrs: Sequence[str] | None = None,
    replication_user: str = "replicator",
    app_user: str = "app",
    app_db: str = "app",
    wait_attempts: int = 60,
    wait_interval_s: int = 5,
    hostname: str | None = None,
    ssh_authorized_keys: Sequence[str] = (),
    package_update: bool = True,
    package_upgrade: bool = False,
    max_wal_senders: int = 10,
    wal_keep_size_mb: int = 1024,
    backup_full_calendar: str = "Sun *-*-* 02:00:00",
    backup_diff_calendar: str = "Mon..Sat *-*-* 02:00:00",
) -> str:
    """Render the user-data of a PostgreSQL 15 streaming replica.

    Installs the same packages and configuration as the primary (so that a promoted replica is a
    complete primary: same ``pg_hba`` entries, archiving and backup timers), then waits for the primary
    -- at most ``wait_attempts`` x ``wait_interval_s`` seconds -- clones it with
    ``pg_basebackup -R -X stream`` over TLS and starts streaming (``application_name`` = short host name).
    The replication password is written only to ``~postgres/.pgpass`` (0600, postgres). Ships the failover
    helper ``/usr/local/sbin/resilient-stack-promote`` (see its header for the runbook).

    Args:
        primary_host: the primary's address or DNS name: the only way the primary's address reaches
            the replica (components pass the real address, a test harness a container name).
        replication_password: password of ``replication_user`` on the primary.
        allowed_cidrs: networks allowed to replicate from this node once promoted (``/0`` is refused).
        backup: the same object-storage repository as the primary's, or ``None``.
        primary_port: the primary's PostgreSQL port.
        app_cidrs: networks the application connects from once promoted (default ``allowed_cidrs``).
        replication_user, app_user, app_db: lower-case SQL identifiers, as on the primary.
        wait_attempts, wait_interval_s: bounded wait for the primary.
        hostname, ssh_authorized_keys, package_update, package_upgrade, max_wal_senders, wal_keep_size_mb,
        backup_full_calendar, backup_diff_calendar: as for :func:`render_db_primary`.

    Returns:
        The ``#cloud-config`` document.

    Raises:
        ValueError: on an empty or malformed ``primary_host``, a bad port, password, CIDR, identifier, ...
    """
    if not isinstance(primary_host, str) or not primary_host.strip():
        raise ValueError("primary_host must be a non-empty host name or IP address of the primary")
    _check_host(primary_host, "primary_host")
    _check_int(primary_port, "primary_port", 1, 65535)
    _check_int(wait_attempts, "wait_attempts", 1, 10_000)
    _check_int(wait_interval_s, "wait_interval_s", 1, 600)
    doc, files, runcmd = _db_common(
        role=HOST_DB_REPLICA,
        replication_password=replication_password,
        replication_user=replication_user,
        app_user=app_user,
        app_db=app_db,
        allowed_cidrs=allowed_cidrs,
        app_cidrs=app_cidrs,
        backup=backup,
        hostname=hostname,
        ssh_authorized_keys=ssh_authorized_keys,
        package_update=package_update,
        package_upgrade=package_upgrade,
        max_wal_senders=max_wal_senders,
        wal_keep_size_mb=wal_keep_size_mb,
        backup_full_calendar=backup_full_calendar,
        backup_diff_calendar=backup_diff_calendar,
    )
    files += [
        _file(PGPASS_FILE, _pgpass(replication_user=replication_user, password=replication_password),
              owner="postgres:postgres", permissions="0600", defer=True),
        _file(REPLICA_INIT_SCRIPT,
              _replica_init_script(primary_host=primary_host, primary_port=primary_port,
                                   replication_user=replication_user, attempts=wait_attempts,
                                   interval=wait_interval_s),
              permissions="0755"),
        _file(PROMOTE_HELPER, _promote_script(), permissions="0755"),
    ]
    runcmd += [
        ["systemctl", "enable", "postgresql"],
        [REPLICA_INIT_SCRIPT],
    ]
    if backup is not None:
        runcmd += [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "resilient-stack-backup-full.timer", "resilient-stack-backup-diff.timer"],
        ]
    doc["write_files"] = files
    doc["runcmd"] = runcmd
    return _dump(doc)

