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
PG_HBA = f"{PG_ETC}/pg_hba.conf"
PG_SOCKET_DIR = "/var/run/postgresql"

PG_BIN = f"/usr/lib/postgresql/{PG_VERSION}/bin"
PG_START_CONF = f"{PG_ETC}/start.conf"  # "manual": Debian's units leave the cluster to Patroni

SECRETS_DIR = "/etc/resilient-stack/secrets"
PGBACKREST_CONF = "/etc/pgbackrest/pgbackrest.conf"
PGBACKREST_SECRETS = "/etc/pgbackrest/conf.d/resilient-stack.conf"  # keys, passphrase, path: root's sync
DB_INIT_SQL = "/usr/local/share/resilient-stack/db-init.sql"
DB_INIT_SCRIPT = "/usr/local/sbin/resilient-stack-db-init"  # Patroni's post_bootstrap: roles, database, table
DB_START_SCRIPT = "/usr/local/sbin/resilient-stack-db-start"  # first boot: etcd, then Patroni, then wait
CLUSTER_HELPER = "/usr/local/sbin/resilient-stack-cluster"  # patronictl with the host's configuration

# The database host's data volume (a block-storage volume of its own, kept when the host is replaced) is
# mounted at PostgreSQL's home: the data directory (PG_DATA), Patroni's password file and etcd's member data
# (ETCD_DATA) live on it, so a replacement host that re-attaches it rejoins as the same member.
DATA_MOUNT = "/var/lib/postgresql"
DATA_VOLUME_SCRIPT = "/usr/local/sbin/resilient-stack-data-volume"  # first boot: find, (format if blank), mount
DATA_VOLUME_LABEL = "rs-data"  # the file system label of a volume the script formatted

# Patroni (Debian's package and unit, /etc/patroni/config.yml) over etcd (Debian's etcd-server, configured
# through /etc/default/etcd); etcd's data directory is its own (on the data volume), never the package's.
PATRONI_CONF = "/etc/patroni/config.yml"
PATRONI_SERVICE = "patroni"
PATRONI_START = "/usr/local/lib/resilient-stack/patroni-start.py"  # Patroni's entry point (a fix of 3.0.2, see it)
PATRONI_PGPASS = "/var/lib/postgresql/.pgpass.patroni"
ETCD_ENV = "/etc/default/etcd"
ETCD_SERVICE = "etcd"
ETCD_DATA = f"{DATA_MOUNT}/etcd"
BACKUP_INIT_SCRIPT = "/usr/local/sbin/resilient-stack-backup-init"  # the catch-up: stanza, first backup, after gaps
BACKUP_INIT_SERVICE = "resilient-stack-backup-init.service"  # runs it on every member (acts on the primary only)
BACKUP_INIT_TIMER = "resilient-stack-backup-init.timer"  # soon after boot, then every minute: never in cloud-init
BACKUP_STATE_DIR = "/var/lib/resilient-stack/backup"  # what the catch-up found and did (state, stanza-created)
# pgBackRest's asynchronous archiving spool: under PostgreSQL's home, on the data disk's file system
PGBACKREST_SPOOL = "/var/lib/postgresql/pgbackrest-spool"
BACKUP_SCRIPT = "/usr/local/sbin/resilient-stack-backup"
# Patroni's custom bootstrap with ``bootstrap_from="backup"``: a new cluster restored from the repository
RESTORE_SCRIPT = "/usr/local/sbin/resilient-stack-restore"
SYSTEMD_DIR = "/etc/systemd/system"
BACKUP_SERVICE = "resilient-stack-backup@.service"  # instantiated as resilient-stack-backup@<full|diff|incr>
BACKUP_TIMER = "resilient-stack-backup-{kind}.timer"  # kind: full, diff
BACKUP_KINDS = ("full", "diff")
SYSTEMD_DROPIN = SYSTEMD_DIR + "/{unit}.service.d/resilient-stack.conf"

# The runtime configuration (what changes without replacing a host: pg_hba, the host firewall's sets) comes
# from the instance's metadata, which the cloud updates in place; root's sync unit applies it.
METADATA_URL = "http://169.254.169.254/openstack/latest/meta_data.json"
USER_DATA_URL = "http://169.254.169.254/openstack/latest/user_data"
RUNTIME_CONFIG = "/etc/resilient-stack/runtime.json"  # the last runtime configuration applied (root, 0600)
SYNC_SCRIPT = "/usr/local/sbin/resilient-stack-sync"
SYNC_SERVICE = "resilient-stack-sync"  # .service (oneshot) and .timer

WEB_ROOT = "/var/www/resilient-stack"
# The user's application (resilient_stack.hosts.app): an image under podman, its agent and slots
APP_CREDENTIALS = f"{SECRETS_DIR}/app-credentials.json"  # its credentials, secrets, write token (root, 0600)
APP_STATE_DIR = "/var/lib/resilient-stack/app"  # the agent's state: the current slot, env files (root, 0700)
APP_UPSTREAM = "/etc/nginx/resilient-stack-app.conf"  # nginx's upstream: the current slot (the agent writes it)
NGINX_SITE = "/etc/nginx/sites-available/resilient-stack"  # the site served: root's sync copies a variant here
NGINX_ENABLED = "/etc/nginx/sites-enabled"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-resilient-stack.conf"

# What changes in place on a running host through the runtime configuration, besides the networks. SSH: sshd reads
# the keys of a user from one root-owned file only (the drop-in's AuthorizedKeysFile), which root's sync rewrites
# from the stack's keys, so a key removed from the stack is refused; LOGIN_USER is the image's default user, whom
# cloud-init creates (Debian's cloud images: debian). The web site: nginx's site in its variants (http, https with
# Debian's self-signed pair, https with the ACME certificate), each including the server name root's sync writes;
# the index page from its template, the title filled in by the sync; the names the ACME certificate is asked for.
LOGIN_USER = "debian"
SSH_KEYS_DIR = "/etc/ssh/authorized_keys"  # <user>: root:root 0644, the only keys sshd reads for <user>
SITE_DIR = "/etc/resilient-stack/nginx"  # <variant>.conf: the site's variants (boot configuration)
SERVER_NAME_CONF = "/etc/nginx/snippets/resilient-stack-server-name.conf"  # `server_name ...;` (root's sync)
INDEX_TEMPLATE = "/etc/resilient-stack/index.html.in"  # the index page, its title left to root's sync
CERT_NAMES = "/etc/resilient-stack/certificate-names"  # the names to certify, one line (none: no certificate)

# The cluster's private CA (resilient_stack.hosts.pki): its certificate on every host (the application verifies the
# database members with it: sslmode=verify-full); on a database member, its own certificate and key (etcd, Patroni,
# PostgreSQL: root:ssl-cert 0640, read by etcd and postgres through the ssl-cert group) and root's client
# certificate for etcd's maintenance (0600 root). Written by root's sync from the sealed secrets (.secrets).
TLS_DIR = "/etc/resilient-stack/tls"
CA_CERT = f"{TLS_DIR}/ca.crt"
MEMBER_CERT = f"{TLS_DIR}/member.crt"
MEMBER_KEY = f"{TLS_DIR}/member.key"
ADMIN_CERT = f"{TLS_DIR}/root.crt"
ADMIN_KEY = f"{TLS_DIR}/root.key"
TLS_GROUP = "ssl-cert"
ETCDCTL_HELPER = "/usr/local/sbin/resilient-stack-etcdctl"  # etcdctl as etcd's root, on this member (root only)
ETCD_AUTH_SCRIPT = "/usr/local/sbin/resilient-stack-etcd-auth"  # etcd's users, role and auth (idempotent)
ETCD_DEFRAG_SCRIPT = "/usr/local/sbin/resilient-stack-etcd-defrag"
ETCD_DEFRAG_SERVICE = "resilient-stack-etcd-defrag"  # .service and .timer (weekly, one member at a time)
ETCD_JOIN_ENV = "/var/lib/postgresql/etcd-join.env"  # a member that joined a running cluster (on the data volume)
DB_STARTED = "/var/lib/resilient-stack/db-started"  # the member served once (root disk: a new host starts again)
DB_START_SERVICE = "resilient-stack-db-start"  # the first boot's db-start as a unit: retried until it serves
VOLUME_MARKER = "/var/lib/postgresql/.resilient-stack-volume"  # whose data volume this is (cluster id, member)
WATCHDOG_MODULES = "/etc/modules-load.d/resilient-stack-watchdog.conf"
WATCHDOG_UDEV = "/etc/udev/rules.d/61-resilient-stack-watchdog.rules"

SNAKEOIL_CERT = "/etc/ssl/certs/ssl-cert-snakeoil.pem"  # Debian's self-signed pair (package ssl-cert)
SNAKEOIL_KEY = "/etc/ssl/private/ssl-cert-snakeoil.key"

# ACME (Let's Encrypt) on the web hosts when the stack has a DNS name: the challenge's webroot, the TLS snippet
# nginx includes (Debian's self-signed pair until the certificate is issued), the script and its units.
ACME_ROOT = "/var/lib/resilient-stack/acme"
TLS_SNIPPET = "/etc/nginx/snippets/resilient-stack-tls.conf"
CERT_NAME = "resilient-stack"
CERT_SCRIPT = "/usr/local/sbin/resilient-stack-certificate"
CERT_SERVICE = "resilient-stack-certificate"  # .service (oneshot) and .timer
CERT_DEPLOY_HOOK = "/etc/letsencrypt/renewal-hooks/deploy/resilient-stack-nginx"
ACME_PEERS_CONF = "/etc/nginx/resilient-stack-acme-peers.conf"  # nginx upstream: the other web hosts (runtime)

# A monitoring host (resilient_stack.hosts.monitoring): Debian's Prometheus, Alertmanager and blackbox exporter
PROMETHEUS_CONF = "/etc/prometheus/prometheus.yml"
PROMETHEUS_RULES = "/etc/prometheus/rules/resilient-stack.yml"  # the alert rules (root's sync: runtime)
PROMETHEUS_TARGETS = "/etc/prometheus/targets"  # <job>.json: what each job scrapes (root's sync: runtime)
ALERTMANAGER_CONF = "/etc/prometheus/alertmanager.yml"  # the receivers hold secrets (root's sync: sealed)
BLACKBOX_CONF = "/etc/prometheus/resilient-stack-blackbox.yml"
PROMETHEUS_SERVICE = "prometheus"
ALERTMANAGER_SERVICE = "prometheus-alertmanager"
BLACKBOX_SERVICE = "prometheus-blackbox-exporter"
