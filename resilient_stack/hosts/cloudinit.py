"""Render the ``#cloud-config`` user-data that resilient_stack puts on its instances: the hosts' public API.

Pure (standard library plus PyYAML's ``safe_dump``, no Pulumi import), so the Pulumi components, the podman
test harness and any drill render *exactly* the same text. Two roles, each with one validation entry point
(no secret needed) that the stack configuration and the components call before anything exists:

* web: :func:`render_web` / :func:`validate_web` (:mod:`.web`) -- nginx from Debian's packages serving an
  index page that names the placement, a ``/healthz`` endpoint answering ``200 ok`` and, given the
  database (:class:`AppDatabase`), the application under ``/api/``, which finds the primary by itself
  through one multi-host connection string (:func:`connection_url`).
* database member: :func:`render_db_member` / :func:`validate_db_member` (:mod:`.database`) -- PostgreSQL 15
  under Patroni with one etcd voting member (:mod:`.cluster`), every member configured from the public
  addresses of all of them (:class:`ClusterMember`); optionally archiving WAL and taking backups with
  pgBackRest (:class:`BackupTarget`, :mod:`.backup`) to S3-compatible object storage.

Every role also hardens sshd (no password authentication, no root login). The files the hosts receive
(scripts, SQL, nginx, the application, PostgreSQL, Patroni, etcd, pgBackRest, systemd units) are package data
under ``hosts/payloads/``, filled by :mod:`.payload`'s strict template (Patroni's YAML is dumped from data);
the paths they land at are in :mod:`.paths`.

Secrets (TLS keys, database passwords, object-storage keys) are never in clear in the user data: each host gets its
own key and its secret document sealed with it (:mod:`.secrets`); root's sync writes them into 0600/0640 files with
a proper owner, from the user data at the first boot and from the metadata when they change. The commands in
``runcmd`` and the helper scripts only reference those files.

Output is deterministic: the same inputs give the same text. A change of that text replaces the instances
that receive it: ``tests/hosts/test_snapshots.py`` keeps the user data of every host of the shipped stacks.
"""

from __future__ import annotations

from resilient_stack.hosts.acme import names as acme_names
from resilient_stack.hosts.app import AppSpec, check_secrets_budget, reserved_length, secrets_version, validate_app
from resilient_stack.hosts.app import runtime_section as app_runtime_section
from resilient_stack.hosts.backup import BackupRepository, BackupSchedule, BackupTarget, validate_backup_repository
from resilient_stack.hosts.cluster import ClusterMember, app_credentials, app_roles, migrate_role
from resilient_stack.hosts.database import (
    DbSecrets,
    MemberTls,
    db_runtime,
    db_secret_document,
    render_db_member,
    storage_budget,
    validate_db_member,
)
from resilient_stack.hosts.paths import (
    APP_CREDENTIALS,
    APP_STATE_DIR,
    APP_UPSTREAM,
    BACKUP_INIT_SCRIPT,
    BACKUP_INIT_SERVICE,
    BACKUP_SCRIPT,
    BACKUP_STATE_DIR,
    CA_CERT,
    CLUSTER_HELPER,
    DB_INIT_SCRIPT,
    DB_INIT_SQL,
    DB_START_SCRIPT,
    ETCD_ENV,
    ETCDCTL_HELPER,
    MEMBER_CERT,
    MEMBER_KEY,
    METADATA_URL,
    NGINX_SITE,
    PATRONI_CONF,
    PG_CLUSTER,
    PG_DATA,
    PG_ETC,
    PG_SERVICE,
    PG_VERSION,
    PGBACKREST_CONF,
    RESTORE_SCRIPT,
    SECRETS_DIR,
    SSHD_DROPIN,
    SYNC_SCRIPT,
    USER_DATA_URL,
    WEB_ROOT,
)
from resilient_stack.hosts.runtime import decode as runtime_document_of
from resilient_stack.hosts.runtime import encode as runtime_items
from resilient_stack.hosts.web import (
    AppDatabase,
    connection_url,
    render_web,
    validate_web,
    web_runtime,
    web_secret_document,
)

__all__ = [
    "AppDatabase",
    "AppSpec",
    "validate_app",
    "check_secrets_budget",
    "reserved_length",
    "app_runtime_section",
    "secrets_version",
    "app_credentials",
    "app_roles",
    "migrate_role",
    "DbSecrets",
    "MemberTls",
    "db_secret_document",
    "web_secret_document",
    "storage_budget",
    "BackupRepository",
    "BackupSchedule",
    "BackupTarget",
    "ClusterMember",
    "PG_VERSION",
    "PG_CLUSTER",
    "SECRETS_DIR",
    "connection_url",
    "db_runtime",
    "acme_names",
    "web_runtime",
    "runtime_items",
    "runtime_document_of",
    "render_web",
    "render_db_member",
    "validate_web",
    "validate_db_member",
    "validate_backup_repository",
    # where the payloads land (resilient_stack.hosts.paths)
    "APP_CREDENTIALS",
    "APP_STATE_DIR",
    "APP_UPSTREAM",
    "BACKUP_INIT_SCRIPT",
    "BACKUP_INIT_SERVICE",
    "BACKUP_SCRIPT",
    "BACKUP_STATE_DIR",
    "CA_CERT",
    "CLUSTER_HELPER",
    "ETCDCTL_HELPER",
    "MEMBER_CERT",
    "MEMBER_KEY",
    "DB_INIT_SCRIPT",
    "DB_INIT_SQL",
    "DB_START_SCRIPT",
    "ETCD_ENV",
    "NGINX_SITE",
    "PATRONI_CONF",
    "PG_DATA",
    "PG_ETC",
    "PG_SERVICE",
    "PGBACKREST_CONF",
    "RESTORE_SCRIPT",
    "SSHD_DROPIN",
    "SYNC_SCRIPT",
    "METADATA_URL",
    "USER_DATA_URL",
    "WEB_ROOT",
]
