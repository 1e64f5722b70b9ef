"""The PostgreSQL payloads of the database hosts, filled from already validated values.

Every member gets the same scripts: the first-boot script that hands the data directory to Patroni and starts
etcd then Patroni (:func:`db_start_script`), and the cluster helper (:func:`cluster_helper`). The member that
initialises the cluster also gets Patroni's ``post_bootstrap``: the application's role, database and table
(:func:`db_init_sql`, :func:`db_init_script`). Validation happens before, in :mod:`resilient_stack.hosts.database`.
Pure: standard library only.
"""

from __future__ import annotations

import shlex
from typing import Any, Sequence

from resilient_stack.core.vocabulary import ETCD_CLIENT_PORT, ETCD_PEER_PORT, POSTGRES_PORT
from resilient_stack.hosts import payload
from resilient_stack.hosts.cluster import NAMESPACE, ClusterMember, app_roles, migrate_role, url_host
from resilient_stack.hosts.document import write_file
from resilient_stack.hosts.paths import (
    ADMIN_CERT,
    ADMIN_KEY,
    CA_CERT,
    DATA_MOUNT,
    DB_INIT_SQL,
    DB_START_SCRIPT,
    DB_START_SERVICE,
    DB_STARTED,
    ETCD_AUTH_SCRIPT,
    ETCD_DATA,
    ETCD_DEFRAG_SCRIPT,
    ETCD_DEFRAG_SERVICE,
    ETCD_JOIN_ENV,
    ETCD_SERVICE,
    ETCDCTL_HELPER,
    MEMBER_KEY,
    PATRONI_CONF,
    PATRONI_SERVICE,
    PG_DATA,
    PG_SERVICE,
    PG_SOCKET_DIR,
    PG_START_CONF,
    SYNC_SCRIPT,
    SYSTEMD_DIR,
)

# Bounds of one attempt of db-start (seconds): every member is booting at the same time, the cluster forms once a
# majority of etcd members is up, the replicas clone the primary once it is initialised. A failed attempt is retried
# by its unit (resilient-stack-db-start.service), as long as it takes.
WAIT_ETCD_S = 300
WAIT_CLUSTER_S = 300
WAIT_READY_S = 600


def db_init_sql(*, app_user: str, app_db: str) -> str:
    """Idempotent roles and database of the application, run by psql as postgres (Patroni's post_bootstrap).
    No password: root's sync sets the login roles' from the sealed secrets."""
    owner, rw, login, alt = app_roles(app_user)
    return payload.render(
        "postgresql/db-init.sql",
        owner=owner,
        rw=rw,
        login=login,
        alt=alt,
        migrate=migrate_role(app_user),
        app_db=app_db,
    )


def db_init_script() -> str:
    return payload.render("shell/db-init.sh", db_init_sql=DB_INIT_SQL)


def initialize_key(scope: str) -> str:
    """Patroni's key in etcd that holds the cluster's system identifier once it is initialised."""
    return f"{NAMESPACE}{scope}/initialize"


def db_start_script(*, bootstrap: bool, scope: str, me: ClusterMember) -> str:
    """A member joins the cluster: the data directory to Patroni, etcd (joining a running cluster when its data is
    blank), etcd's users, Patroni, then a bounded wait (db-start's unit retries a failed attempt)."""
    return payload.render(
        "shell/db-start.sh",
        role="bootstrap" if bootstrap else "join",
        data=shlex.quote(PG_DATA),
        initialize_key=shlex.quote(initialize_key(scope)),
        wait_etcd=WAIT_ETCD_S,
        wait_cluster=WAIT_CLUSTER_S,
        wait_ready=WAIT_READY_S,
        etcdctl=ETCDCTL_HELPER,
        member=shlex.quote(me.name),
        peer_url=shlex.quote(f"https://{url_host(me.address)}:{ETCD_PEER_PORT}"),
        join_env=shlex.quote(ETCD_JOIN_ENV),
        member_key=MEMBER_KEY,
        pg_service=PG_SERVICE,
        start_conf=PG_START_CONF,
        etcd_data=shlex.quote(ETCD_DATA),
        etcd_service=ETCD_SERVICE,
        etcd_auth=ETCD_AUTH_SCRIPT,
        patroni_service=PATRONI_SERVICE,
        socket_dir=PG_SOCKET_DIR,
        port=POSTGRES_PORT,
        sync=SYNC_SCRIPT,
        done=DB_STARTED,
        version_url=f"https://127.0.0.1:{ETCD_CLIENT_PORT}/version",
        ca=CA_CERT,
        cert=ADMIN_CERT,
        key=ADMIN_KEY,
    )


def etcdctl_helper(*, me: ClusterMember, members: Sequence[ClusterMember]) -> str:
    """``resilient-stack-etcdctl``: etcdctl as etcd's root (this member's administrator certificate)."""

    def endpoints(ms: Sequence[ClusterMember]) -> str:
        return ",".join(f"https://{url_host(m.address)}:{ETCD_CLIENT_PORT}" for m in ms)

    return payload.render(
        "shell/etcdctl.sh",
        client_port=ETCD_CLIENT_PORT,
        all_endpoints=shlex.quote(endpoints(members)),
        other_endpoints=shlex.quote(endpoints([m for m in members if m != me]) or endpoints([me])),
        ca=CA_CERT,
        cert=ADMIN_CERT,
        key=ADMIN_KEY,
    )


def etcd_auth_script(*, scope: str) -> str:
    """etcd's RBAC (idempotent): Patroni's user limited to its own keys, root, authentication on."""
    return payload.render(
        "shell/etcd-auth.sh",
        etcdctl=ETCDCTL_HELPER,
        patroni_conf=PATRONI_CONF,
        prefix=shlex.quote(f"{NAMESPACE}{scope}/"),
    )


def defrag_calendar(index: int) -> str:
    """The etcd upkeep of member ``index``: hourly, each member at its own minute (never two at once)."""
    return f"*-*-* *:{(7 + 20 * index) % 60:02d}:00"


def etcd_defrag_files(*, index: int, quota_mb: int) -> list[dict[str, Any]]:
    """etcd's upkeep: its script, service and timer (``write_files`` entries). The weekly defragmentation runs on
    Sundays at the member's own hour (never at the backups' 02:00)."""
    return [
        write_file(
            ETCD_DEFRAG_SCRIPT,
            payload.render(
                "shell/etcd-defrag.sh", etcdctl=ETCDCTL_HELPER, quota_mb=quota_mb, weekly_hour=f"{(4 + index) % 24:02d}"
            ),
            permissions="0755",
        ),
        write_file(
            f"{SYSTEMD_DIR}/{ETCD_DEFRAG_SERVICE}.service",
            payload.render(
                "systemd/resilient-stack-etcd-defrag.service", etcd_service=ETCD_SERVICE, script=ETCD_DEFRAG_SCRIPT
            ),
        ),
        write_file(
            f"{SYSTEMD_DIR}/{ETCD_DEFRAG_SERVICE}.timer",
            payload.render(
                "systemd/resilient-stack-etcd-defrag.timer",
                calendar=defrag_calendar(index),
                unit=f"{ETCD_DEFRAG_SERVICE}.service",
            ),
        ),
    ]


def db_start_unit() -> dict[str, Any]:
    """``resilient-stack-db-start.service``: db-start, retried until the member serves."""
    return write_file(
        f"{SYSTEMD_DIR}/{DB_START_SERVICE}.service",
        payload.render(
            "systemd/resilient-stack-db-start.service",
            mount=DATA_MOUNT,
            script=DB_START_SCRIPT,
            done=DB_STARTED,
            timeout_s=WAIT_ETCD_S + WAIT_CLUSTER_S + WAIT_READY_S + 120,
        ),
    )


def cluster_helper() -> str:
    """``resilient-stack-cluster``: patronictl with the host's configuration (list, role, switchover...)."""
    return payload.render("shell/cluster.sh", patroni_conf=PATRONI_CONF)
