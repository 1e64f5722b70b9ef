"""The PostgreSQL payloads of the database hosts, filled from already validated values.

Every member gets the same scripts: the first-boot script that hands the data directory to Patroni and starts
etcd then Patroni (:func:`db_start_script`), and the cluster helper (:func:`cluster_helper`). The member that
initialises the cluster also gets Patroni's ``post_bootstrap``: the application's role, database and table
(:func:`db_init_sql`, :func:`db_init_script`). Validation happens before, in :mod:`resilient_stack.hosts.database`.
Pure: standard library only.
"""

from __future__ import annotations

import shlex

from resilient_stack.core.vocabulary import ETCD_CLIENT_PORT, POSTGRES_PORT
from resilient_stack.hosts import payload
from resilient_stack.hosts.cluster import NAMESPACE
from resilient_stack.hosts.paths import (
    APP_PASSWORD_FILE,
    APP_TABLE,
    DB_INIT_SQL,
    ETCD_SERVICE,
    PATRONI_CONF,
    PATRONI_SERVICE,
    PG_DATA,
    PG_SERVICE,
    PG_SOCKET_DIR,
    PG_START_CONF,
)

# Bounds of the first boot (seconds): every member is booting at the same time, the cluster forms once a
# majority of etcd members is up, the replicas clone the primary once it is initialised.
WAIT_ETCD_S = 600
WAIT_CLUSTER_S = 600
WAIT_READY_S = 600


def db_init_sql(*, app_user: str, app_db: str) -> str:
    """Idempotent role, database and table of the application, run by psql as postgres (Patroni's post_bootstrap)."""
    # The password is read from a root-provisioned 0600 file by psql's backquote expansion and interpolated as
    # a properly quoted literal (:'var'); it never reaches a command line.
    return payload.render("postgresql/db-init.sql", app_password_file=APP_PASSWORD_FILE, app_user=app_user,
                          app_db=app_db, app_table=APP_TABLE)


def db_init_script() -> str:
    return payload.render("shell/db-init.sh", db_init_sql=DB_INIT_SQL)


def initialize_key(scope: str) -> str:
    """Patroni's key in etcd that holds the cluster's system identifier once it is initialised."""
    return f"{NAMESPACE}{scope}/initialize"


def db_start_script(*, bootstrap: bool, scope: str) -> str:
    """The first boot of a member: the data directory to Patroni, etcd, Patroni, then a bounded wait."""
    return payload.render(
        "shell/db-start.sh", role="bootstrap" if bootstrap else "join", data=shlex.quote(PG_DATA),
        initialize_key=shlex.quote(initialize_key(scope)), wait_etcd=WAIT_ETCD_S, wait_cluster=WAIT_CLUSTER_S,
        wait_ready=WAIT_READY_S, client_port=ETCD_CLIENT_PORT, pg_service=PG_SERVICE, start_conf=PG_START_CONF,
        etcd_service=ETCD_SERVICE, patroni_service=PATRONI_SERVICE, socket_dir=PG_SOCKET_DIR, port=POSTGRES_PORT,
    )


def cluster_helper() -> str:
    """``resilient-stack-cluster``: patronictl with the host's configuration (list, role, switchover...)."""
    return payload.render("shell/cluster.sh", patroni_conf=PATRONI_CONF)
