"""Where the rendered payloads land on a host, and the PostgreSQL cluster they configure.

The renderers, the host checks, the drill and the tests name these paths through this module (or through
:mod:`resilient_stack.hosts.cloudinit`, which re-exports them). Pure: no import.
"""

from __future__ import annotations

PG_VERSION = "15"
PG_CLUSTER = "main"
PG_DATA = f"/var/lib/postgresql/{PG_VERSION}/{PG_CLUSTER}"
PG_ETC = f"/etc/postgresql/{PG_VERSION}/{PG_CLUSTER}"
PG_SERVICE = f"postgresql@{PG_VERSION}-{PG_CLUSTER}"
PG_CONF = f"{PG_ETC}/conf.d/50-resilient-stack.conf"
PG_HBA = f"{PG_ETC}/pg_hba.conf"
PG_SOCKET_DIR = "/var/run/postgresql"

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
SYSTEMD_DIR = "/etc/systemd/system"
BACKUP_SERVICE = "resilient-stack-backup@.service"  # instantiated as resilient-stack-backup@<full|diff|incr>
BACKUP_TIMER = "resilient-stack-backup-{kind}.timer"  # kind: full, diff
BACKUP_KINDS = ("full", "diff")

WEB_ROOT = "/var/www/resilient-stack"
NGINX_SITE = "/etc/nginx/sites-available/resilient-stack"
NGINX_ENABLED = "/etc/nginx/sites-enabled"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-resilient-stack.conf"

SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"  # Debian's self-signed pair (package ssl-cert)
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"
