"""The database members' cluster: Patroni (Debian's ``patroni``) over etcd (Debian's ``etcd-server``).

Every database host runs one etcd voting member and one Patroni agent. The etcd members form a static cluster
from the members' public addresses, which the components allocate before any instance exists; Patroni keeps
its leader key in it, so exactly one member is the primary while a majority of the etcd members agree, and a
member that loses that majority stops being the primary by itself. Patroni promotes the most advanced replica
when the primary is lost, the other replicas follow the new primary, and a former primary rejoins as a replica
with ``pg_rewind``.

What crosses the internet between the members, and nothing else:

* PostgreSQL (replication, and ``pg_rewind``'s connection) over TLS with SCRAM and ``channel_binding=require``;
* etcd's peer traffic (:data:`ETCD_PEER_PORT`), encrypted with etcd's own certificates (``peer-auto-tls``);
* Patroni's REST API (:data:`PATRONI_API_PORT`) over TLS, its changing endpoints behind a password.

etcd's client port listens on the host's loopback only: each Patroni talks to its own etcd member. The
security groups admit the peer ports from the members' /32s only (the components' rules); ``pg_hba`` admits
replication and ``pg_rewind`` from the members' /32s and the application from its clients' networks.

This module builds the texts (the Patroni configuration as YAML, etcd's environment file, the ``pg_hba`` rules)
from values the renderer (:mod:`resilient_stack.hosts.database`) has validated. Pure: standard library plus PyYAML.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Sequence

import yaml

from resilient_stack.core.vocabulary import ETCD_CLIENT_PORT, ETCD_PEER_PORT, PATRONI_API_PORT, POSTGRES_PORT
from resilient_stack.hosts import payload
from resilient_stack.hosts.backup import BackupRepository
from resilient_stack.hosts.paths import (
    DB_INIT_SCRIPT,
    RESTORE_SCRIPT,
    ETCD_DATA,
    PATRONI_PGPASS,
    PG_BIN,
    PG_DATA,
    PG_ETC,
    PG_SOCKET_DIR,
    SNAKEOIL_CERT,
    SNAKEOIL_KEY,
)

__all__ = [
    "ClusterMember",
    "DCS",
    "REWIND_USER",
    "API_USER",
    "NAMESPACE",
    "hba_rules",
    "etcd_environment",
    "patroni_config",
    "initial_cluster",
]

REWIND_USER = "patroni_rewind"  # the role Patroni creates for pg_rewind (it needs no superuser)
API_USER = "patroni"  # the user of Patroni's REST API (its changing endpoints)
NAMESPACE = "/service/"  # Patroni's keys in etcd: /service/<scope>/leader, /initialize, /members/...


@dataclass(frozen=True)
class ClusterMember:
    """One database host of the cluster: its host name (the Patroni and etcd member name) and public address."""

    name: str
    address: str


@dataclass(frozen=True)
class Dcs:
    """Patroni's timings in the distributed configuration store (seconds; ``loop_wait + 2 * retry_timeout <= ttl``).

    ``ttl``: the leader key expires this long after the primary's last renewal; a replica is promoted only then.
    ``retry_timeout``: a primary that cannot reach a majority of etcd for this long demotes itself, before the
    ttl can expire on the majority's side: never two primaries. ``maximum_lag_on_failover``: a replica further
    behind than this (bytes) is never promoted.
    """

    ttl: int = 15
    loop_wait: int = 5
    retry_timeout: int = 5
    maximum_lag_on_failover: int = 1024 * 1024


DCS = Dcs()


def _url_host(address: str) -> str:
    return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address


def _single(address: str) -> str:
    return str(ipaddress.ip_network(address))  # /32 (or /128)


def initial_cluster(members: Sequence[ClusterMember]) -> str:
    """etcd's ``initial-cluster``: ``name=https://address:2380`` for every member."""
    return ",".join(f"{m.name}=https://{_url_host(m.address)}:{ETCD_PEER_PORT}" for m in members)


def etcd_environment(*, me: ClusterMember, members: Sequence[ClusterMember], token: str) -> str:
    """``/etc/default/etcd`` (read by Debian's unit): this host's member of the static cluster."""
    return payload.render(
        "etcd/etcd.env", member=me.name, data_dir=ETCD_DATA, peer_port=ETCD_PEER_PORT, client_port=ETCD_CLIENT_PORT,
        advertise_peer=f"https://{_url_host(me.address)}:{ETCD_PEER_PORT}", initial_cluster=initial_cluster(members),
        token=token,
    )


def hba_rules(
    *, members: Sequence[ClusterMember], replication_user: str, replication_cidrs: Sequence[str], app_db: str,
    app_user: str, app_cidrs: Sequence[str],
) -> list[str]:
    """The ``pg_hba.conf`` Patroni writes on every member (each may become the primary): local peer access for
    the postgres account, replication from the loopback (Patroni's own check), replication and ``pg_rewind``
    from the members' /32s (+ ``replication_cidrs``), the
    application from ``app_cidrs``; everything remote over TLS with SCRAM."""
    rules = ["local all postgres peer", "local all all peer",
             # Patroni asks its own server for its timeline over a replication connection to the loopback
             f"hostssl replication {replication_user} 127.0.0.1/32 scram-sha-256"]
    member_nets = list(dict.fromkeys(_single(m.address) for m in members))
    for net in [*member_nets, *[c for c in replication_cidrs if c not in member_nets]]:
        rules.append(f"hostssl replication {replication_user} {net} scram-sha-256")
    for net in member_nets:
        rules.append(f"hostssl postgres {REWIND_USER} {net} scram-sha-256")
    for net in app_cidrs:
        rules.append(f"hostssl {app_db} {app_user} {net} scram-sha-256")
    return rules


def _parameters(backup: BackupRepository | None, *, max_wal_senders: int, wal_keep_size_mb: int) -> dict[str, Any]:
    """The cluster-wide PostgreSQL settings (Patroni keeps them in etcd: the same on every member)."""
    params: dict[str, Any] = {
        "wal_level": "replica",
        "hot_standby": "on",
        "wal_log_hints": "on",
        "max_wal_senders": max_wal_senders,
        "max_replication_slots": max_wal_senders,
        "wal_keep_size": f"{wal_keep_size_mb}MB",
        "hot_standby_feedback": "on",
        "password_encryption": "scram-sha-256",
        # a replica whose primary changed streams from the new one this soon (the default waits 5 s)
        "wal_retrieve_retry_interval": "1s",
    }
    if backup is not None:
        params.update({
            "archive_mode": "on",
            "archive_command": f"pgbackrest --stanza={backup.stanza} archive-push %p",
            # a segment at least every minute: a restore from the archive loses at most the last minute or so
            # (the unarchived tail); an idle minute's segment compresses to almost nothing
            "archive_timeout": 60,
        })
    else:
        params["archive_mode"] = "off"
    return params


def patroni_config(
    *,
    scope: str,
    me: ClusterMember,
    members: Sequence[ClusterMember],
    replication_user: str,
    replication_password: str,
    rewind_password: str,
    api_password: str,
    app_db: str,
    app_user: str,
    app_cidrs: Sequence[str],
    replication_cidrs: Sequence[str],
    backup: BackupRepository | None,
    max_wal_senders: int,
    wal_keep_size_mb: int,
    restore: bool = False,
) -> str:
    """``/etc/patroni/config.yml`` of member ``me`` (0600 postgres: it holds the passwords).

    ``restore``: a new cluster is initialised from the backup repository (Patroni's custom bootstrap running
    :data:`RESTORE_SCRIPT`, pgBackRest's recovery settings kept), not by ``initdb``.
    """
    tls = {"sslmode": "require", "channel_binding": "require"}
    postgresql: dict[str, Any] = {
        "listen": f"*:{POSTGRES_PORT}",
        "connect_address": f"{_url_host(me.address)}:{POSTGRES_PORT}",
        "use_unix_socket": True,
        "data_dir": PG_DATA,
        "config_dir": PG_ETC,
        "bin_dir": PG_BIN,
        "pgpass": PATRONI_PGPASS,
        "authentication": {
            # no password: Patroni reaches its own server over the Unix socket (peer authentication)
            "superuser": {"username": "postgres"},
            "replication": {"username": replication_user, "password": replication_password, **tls},
            "rewind": {"username": REWIND_USER, "password": rewind_password, **tls},
        },
        "parameters": {
            "unix_socket_directories": PG_SOCKET_DIR,
            "ssl": "on",
            "ssl_cert_file": SNAKEOIL_CERT,
            "ssl_key_file": SNAKEOIL_KEY,
        },
        "pg_hba": hba_rules(members=members, replication_user=replication_user, replication_cidrs=replication_cidrs,
                            app_db=app_db, app_user=app_user, app_cidrs=app_cidrs),
        "create_replica_methods": ["basebackup"],
        "basebackup": [{"checkpoint": "fast"}],
        "remove_data_directory_on_rewind_failure": True,
        "remove_data_directory_on_diverged_timelines": True,
    }
    if backup is not None:
        # a member that was away longer than wal_keep_size catches up from the WAL archive
        postgresql["recovery_conf"] = {"restore_command": f"pgbackrest --stanza={backup.stanza} archive-get %f \"%p\""}
    config: dict[str, Any] = {
        "scope": scope,
        "namespace": NAMESPACE,
        "name": me.name,
        "restapi": {
            "listen": f"0.0.0.0:{PATRONI_API_PORT}",
            "connect_address": f"{_url_host(me.address)}:{PATRONI_API_PORT}",
            "certfile": SNAKEOIL_CERT,
            "keyfile": SNAKEOIL_KEY,
            "authentication": {"username": API_USER, "password": api_password},
        },
        # patronictl reaches the members' REST API over TLS: their certificates are self-signed
        "ctl": {"insecure": True},
        "etcd3": {"hosts": [f"127.0.0.1:{ETCD_CLIENT_PORT}"]},
        "bootstrap": {
            "dcs": {
                "ttl": DCS.ttl,
                "loop_wait": DCS.loop_wait,
                "retry_timeout": DCS.retry_timeout,
                "maximum_lag_on_failover": DCS.maximum_lag_on_failover,
                "check_timeline": True,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": _parameters(backup, max_wal_senders=max_wal_senders,
                                              wal_keep_size_mb=wal_keep_size_mb),
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            "post_bootstrap": DB_INIT_SCRIPT,
        },
        "postgresql": postgresql,
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    if restore:
        if backup is None:
            raise ValueError("restore needs a backup repository")
        # Patroni's custom bootstrap: restore the newest backup, replay the archive, be promoted at its end
        config["bootstrap"]["method"] = "pgbackrest"
        config["bootstrap"]["pgbackrest"] = {"command": RESTORE_SCRIPT, "no_params": True,
                                             "keep_existing_recovery_conf": True}
    return "# Managed by resilient_stack (cloud-init). Holds passwords: 0600 postgres.\n" + yaml.safe_dump(
        config, sort_keys=False, default_flow_style=False, width=4096)
