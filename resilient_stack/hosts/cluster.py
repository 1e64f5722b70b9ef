"""The database members' cluster: Patroni (Debian's ``patroni``) over etcd (Debian's ``etcd-server``).

Every database host runs one etcd voting member and one Patroni agent. The etcd members form a static cluster
from the members' public addresses, which the components allocate before any instance exists; Patroni keeps
its leader key in it, so exactly one member is the primary while a majority of the etcd members agree, and a
member that loses that majority stops being the primary by itself. Patroni promotes the healthiest replica when
the primary is lost (asking the others over its REST API; with synchronous replication, only the synchronous
standby, which holds every acknowledged commit), the other replicas follow the new primary, and a former primary
rejoins as a replica with ``pg_rewind``.

What crosses the internet between the members, and nothing else, every channel mutual TLS under the cluster's
own CA (:mod:`.pki`; each member's certificate names its public address):

* PostgreSQL (replication, ``pg_rewind``) with ``sslmode=verify-full``, SCRAM and ``channel_binding=require``;
* etcd's peers (:data:`ETCD_PEER_PORT`, ``peer-client-cert-auth``) and clients (:data:`ETCD_CLIENT_PORT`,
  ``client-cert-auth`` plus etcd's RBAC: Patroni as user ``patroni``, limited to its keys; the hosts' own
  maintenance as ``root``, with a certificate only root reads);
* Patroni's REST API (:data:`PATRONI_API_PORT`, ``verify_client: required``), its changing endpoints also behind
  a password and the members' addresses.

A stale primary is fenced (:class:`Dcs`): Patroni demotes a primary that cannot renew its key within
``retry_timeout`` (before the key expires on the majority's side, ``ttl``); ``failsafe_mode`` keeps a healthy
primary when only etcd is down (every member answers it over the REST API); the watchdog (``softdog``) resets a
host whose Patroni hangs; ``KillMode=mixed`` stops PostgreSQL when Patroni dies; and with ``synchronous`` a commit
is acknowledged only once a standby in another site holds it, so a primary cut off from the others acknowledges
nothing.

This module builds the texts (the Patroni configuration as YAML, etcd's environment file, the ``pg_hba`` rules)
from values the renderer (:mod:`resilient_stack.hosts.database`) has validated; passwords are not in them: root's
sync writes them from the sealed secrets (:mod:`.secrets`). Pure: standard library plus PyYAML.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any, Sequence

import yaml

from resilient_stack.core.vocabulary import (
    ETCD_CLIENT_PORT,
    ETCD_METRICS_PORT,
    ETCD_PEER_PORT,
    PATRONI_API_PORT,
    POSTGRES_PORT,
)
from resilient_stack.hosts import payload
from resilient_stack.hosts.backup import BackupRepository
from resilient_stack.hosts.paths import (
    CA_CERT,
    DB_INIT_SCRIPT,
    ETCD_DATA,
    MEMBER_CERT,
    MEMBER_KEY,
    PATRONI_PGPASS,
    PG_BIN,
    PG_DATA,
    PG_ETC,
    PG_SOCKET_DIR,
    RESTORE_SCRIPT,
)

__all__ = [
    "ClusterMember",
    "DCS",
    "Dcs",
    "EtcdSettings",
    "ETCD",
    "REWIND_USER",
    "API_USER",
    "ETCD_USER",
    "NAMESPACE",
    "hba_rules",
    "etcd_environment",
    "patroni_config",
    "dynamic_config",
    "initial_cluster",
    "app_roles",
    "migrate_role",
    "PASSWORD_FIELDS",
]

REWIND_USER = "patroni_rewind"  # the role Patroni creates for pg_rewind (it needs no superuser)
API_USER = "patroni"  # the user of Patroni's REST API (its changing endpoints)
ETCD_USER = "patroni"  # Patroni's etcd user (RBAC: read-write on its own keys only)
NAMESPACE = "/service/"  # Patroni's keys in etcd: /service/<scope>/leader, /initialize, /members/...
# Where root's sync writes each password into Patroni's configuration (the document's key -> the YAML path)
PASSWORD_FIELDS = {
    "replication": ("postgresql", "authentication", "replication", "password"),
    "rewind": ("postgresql", "authentication", "rewind", "password"),
    "api": ("restapi", "authentication", "password"),
    "etcd": ("etcd3", "password"),
}


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

    Patroni's own defaults (30/10/10), chosen for members talking over the internet between sites: a stall of a
    few seconds (a slow disk, a congested link, an etcd election) no longer demotes the primary, at the cost of a
    slower failover when the primary's site is really lost: the key expires ``ttl`` after its last renewal, and a
    replica notices within a ``loop_wait`` (about 30 to 40 s from the loss to the promotion; the fire drill
    measures it).
    """

    ttl: int = 30
    loop_wait: int = 10
    retry_timeout: int = 10
    maximum_lag_on_failover: int = 1024 * 1024
    watchdog_safety_margin: int = 5


DCS = Dcs()


@dataclass(frozen=True)
class EtcdSettings:
    """etcd's upkeep: history kept (``retention``: auto-compaction, periodic), the backend's quota, timings (ms).

    Patroni writes a revision per changed key per loop (about 4 a loop under steady writes, 260-330 bytes each):
    with no compaction a quota fills in weeks (512 MiB in about seven at ``loop_wait`` 10), and then etcd refuses
    leases and the leader key on every member at once (no failover, no primary after any restart). With an hour of
    history kept, the database holds one to two hours of Patroni's revisions (a few MiB) whatever the uptime
    (measured: tests/integration/podman/test_etcd_upkeep.py).
    """

    retention: str = "1h"
    quota_mb: int = 512
    heartbeat_ms: int = 250
    election_ms: int = 2500


ETCD = EtcdSettings()


def url_host(address: str) -> str:
    return f"[{address}]" if ipaddress.ip_address(address).version == 6 else address


def _single(address: str) -> str:
    return str(ipaddress.ip_network(address))  # /32 (or /128)


def initial_cluster(members: Sequence[ClusterMember]) -> str:
    """etcd's ``initial-cluster``: ``name=https://address:2380`` for every member."""
    return ",".join(f"{m.name}=https://{url_host(m.address)}:{ETCD_PEER_PORT}" for m in members)


def etcd_environment(
    *, me: ClusterMember, members: Sequence[ClusterMember], token: str, settings: EtcdSettings = ETCD
) -> str:
    """``/etc/default/etcd`` (read by Debian's unit): this host's member of the static cluster, mutual TLS."""
    return payload.render(
        "etcd/etcd.env",
        member=me.name,
        data_dir=ETCD_DATA,
        peer_port=ETCD_PEER_PORT,
        client_port=ETCD_CLIENT_PORT,
        metrics_port=ETCD_METRICS_PORT,
        advertise_peer=f"https://{url_host(me.address)}:{ETCD_PEER_PORT}",
        advertise_client=f"https://{url_host(me.address)}:{ETCD_CLIENT_PORT}",
        initial_cluster=initial_cluster(members),
        token=token,
        cert=MEMBER_CERT,
        key=MEMBER_KEY,
        ca=CA_CERT,
        retention=settings.retention,
        quota_bytes=settings.quota_mb * 1024 * 1024,
        heartbeat_ms=settings.heartbeat_ms,
        election_ms=settings.election_ms,
    )


def app_roles(app_user: str) -> tuple[str, str, str, str]:
    """The application's roles: the owner of its database and tables (no login; migrations ``SET ROLE`` to it), the
    group that may read and write rows, and the two login roles (members of that group) the application's
    credentials alternate between: a rotation sets the new password on the other one, so the previous credential
    keeps working until every web host has the new one."""
    return f"{app_user}_owner", f"{app_user}_rw", app_user, f"{app_user}_alt"


def migrate_role(app_user: str) -> str:
    """The login role of the application's release phase (its migrations) and of its release log: a member of the
    owner role whose sessions act as the owner (``SET role``), so what it creates belongs to the owner and the
    application's role gets its rights on it (the owner's default privileges)."""
    return f"{app_user}_migrate"


def app_credentials(app_user: str, passwords: Sequence[str]) -> list[tuple[str, str]]:
    """The application's credentials from every generation of its password (``passwords``, oldest first): the
    current one (the last generation, on the login role of its parity) first, then the previous one (still valid a
    while on the other login role), if any. The web hosts try them in this order."""
    if isinstance(passwords, str) or not passwords:
        raise ValueError("the application needs at least one password")
    _, _, login, alt = app_roles(app_user)
    n = len(passwords)
    out = [(login if (n - 1) % 2 == 0 else alt, passwords[-1])]
    if n > 1:
        out.append((login if (n - 2) % 2 == 0 else alt, passwords[-2]))
    return out


def hba_rules(
    *,
    members: Sequence[ClusterMember],
    replication_user: str,
    replication_cidrs: Sequence[str],
    app_db: str,
    app_user: str,
    app_cidrs: Sequence[str],
) -> list[str]:
    """The ``pg_hba.conf`` Patroni writes on every member (each may become the primary): local peer access for
    the postgres account, replication from the loopback (Patroni's own check), replication and ``pg_rewind``
    from the members' /32s (+ ``replication_cidrs``), the
    application from ``app_cidrs``; everything remote over TLS with SCRAM."""
    rules = [
        "local all postgres peer",
        "local all all peer",
        # Patroni asks its own server for its timeline over a replication connection to the loopback
        f"hostssl replication {replication_user} 127.0.0.1/32 scram-sha-256",
    ]
    member_nets = list(dict.fromkeys(_single(m.address) for m in members))
    for net in [*member_nets, *[c for c in replication_cidrs if c not in member_nets]]:
        rules.append(f"hostssl replication {replication_user} {net} scram-sha-256")
    for net in member_nets:
        rules.append(f"hostssl postgres {REWIND_USER} {net} scram-sha-256")
    _, _, login, alt = app_roles(app_user)
    for net in app_cidrs:
        rules.append(f"hostssl {app_db} {login},{alt},{migrate_role(app_user)} {net} scram-sha-256")
    return rules


def _parameters(
    backup: BackupRepository | None, *, max_wal_senders: int, wal_keep_size_mb: int, max_slot_wal_keep_size_mb: int
) -> dict[str, Any]:
    """The cluster-wide PostgreSQL settings (Patroni keeps them in etcd: the same on every member)."""
    params: dict[str, Any] = {
        "wal_level": "replica",
        "hot_standby": "on",
        "wal_log_hints": "on",
        "max_wal_senders": max_wal_senders,
        "max_replication_slots": max_wal_senders,
        "wal_keep_size": f"{wal_keep_size_mb}MB",
        # a replica that stays registered but does not consume (crash loop, blocked port) costs at most this much
        # WAL on the primary's data volume; beyond it the slot is invalidated and the replica re-clones
        "max_slot_wal_keep_size": f"{max_slot_wal_keep_size_mb}MB",
        "hot_standby_feedback": "on",
        "password_encryption": "scram-sha-256",
        # a replica whose primary changed streams from the new one this soon (the default waits 5 s)
        "wal_retrieve_retry_interval": "1s",
        # a lost peer (a burned site: no RST, no answer) is noticed in about 10 s, not minutes: the primary drops a
        # lost synchronous standby's connection and Patroni picks another, so commits stall that long at most
        "wal_sender_timeout": "10s",
        "wal_receiver_timeout": "10s",
        "tcp_user_timeout": 10000,
        "tcp_keepalives_idle": 5,
        "tcp_keepalives_interval": 2,
        "tcp_keepalives_count": 3,
    }
    if backup is not None:
        params.update(
            {
                "archive_mode": "on",
                "archive_command": f"pgbackrest --stanza={backup.stanza} archive-push %p",
                # a segment at least every minute: a restore from the archive loses at most the last minute or so
                # (the unarchived tail); an idle minute's segment compresses to almost nothing
                "archive_timeout": 60,
            }
        )
    else:
        params["archive_mode"] = "off"
    return params


def dynamic_config(
    *,
    backup: BackupRepository | None,
    synchronous: bool,
    max_wal_senders: int,
    wal_keep_size_mb: int,
    max_slot_wal_keep_size_mb: int,
    dcs: Dcs = DCS,
) -> dict[str, Any]:
    """Patroni's dynamic configuration (kept in etcd, the same on every member): the bootstrap's, and what root's
    sync on the primary keeps the running cluster at (``patronictl edit-config``) when the stack changes it.

    ``synchronous``: Patroni's synchronous mode, one synchronous standby (``synchronous_mode_strict`` off: when
    no standby is left, the primary goes on alone and says so, rather than refusing every write)."""
    return {
        "ttl": dcs.ttl,
        "loop_wait": dcs.loop_wait,
        "retry_timeout": dcs.retry_timeout,
        "maximum_lag_on_failover": dcs.maximum_lag_on_failover,
        "check_timeline": True,
        # the primary keeps its role while etcd alone is unreachable, as long as every member answers it
        "failsafe_mode": True,
        "synchronous_mode": synchronous,
        "synchronous_mode_strict": False,
        "synchronous_node_count": 1,
        "postgresql": {
            "use_pg_rewind": True,
            "use_slots": True,
            "parameters": _parameters(
                backup,
                max_wal_senders=max_wal_senders,
                wal_keep_size_mb=wal_keep_size_mb,
                max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
            ),
        },
    }


def patroni_config(
    *,
    scope: str,
    me: ClusterMember,
    members: Sequence[ClusterMember],
    replication_user: str,
    app_db: str,
    app_user: str,
    app_cidrs: Sequence[str],
    replication_cidrs: Sequence[str],
    backup: BackupRepository | None,
    max_wal_senders: int,
    wal_keep_size_mb: int,
    max_slot_wal_keep_size_mb: int,
    synchronous: bool,
    restore: bool = False,
) -> str:
    """``/etc/patroni/config.yml`` of member ``me`` (0600 postgres). Without its passwords: root's sync writes them
    (:data:`PASSWORD_FIELDS`) from the sealed secrets before Patroni first starts, and again when they rotate.

    ``restore``: a new cluster is initialised from the backup repository (Patroni's custom bootstrap running
    :data:`RESTORE_SCRIPT`, pgBackRest's recovery settings kept), not by ``initdb``.
    """
    tls = {"sslmode": "verify-full", "sslrootcert": CA_CERT, "channel_binding": "require"}
    postgresql: dict[str, Any] = {
        "listen": f"*:{POSTGRES_PORT}",
        "connect_address": f"{url_host(me.address)}:{POSTGRES_PORT}",
        "use_unix_socket": True,
        "data_dir": PG_DATA,
        "config_dir": PG_ETC,
        "bin_dir": PG_BIN,
        "pgpass": PATRONI_PGPASS,
        "authentication": {
            # no password: Patroni reaches its own server over the Unix socket (peer authentication)
            "superuser": {"username": "postgres"},
            "replication": {"username": replication_user, "password": "", **tls},
            "rewind": {"username": REWIND_USER, "password": "", **tls},
        },
        "parameters": {
            "unix_socket_directories": PG_SOCKET_DIR,
            "ssl": "on",
            "ssl_cert_file": MEMBER_CERT,
            "ssl_key_file": MEMBER_KEY,
            "ssl_ca_file": CA_CERT,
        },
        "pg_hba": hba_rules(
            members=members,
            replication_user=replication_user,
            replication_cidrs=replication_cidrs,
            app_db=app_db,
            app_user=app_user,
            app_cidrs=app_cidrs,
        ),
        "create_replica_methods": ["basebackup"],
        "basebackup": [{"checkpoint": "fast"}],
        "remove_data_directory_on_rewind_failure": True,
        "remove_data_directory_on_diverged_timelines": True,
    }
    if backup is not None:
        # a member that was away longer than wal_keep_size catches up from the WAL archive
        postgresql["recovery_conf"] = {"restore_command": f'pgbackrest --stanza={backup.stanza} archive-get %f "%p"'}
    api = f"{url_host(me.address)}:{PATRONI_API_PORT}"
    config: dict[str, Any] = {
        "scope": scope,
        "namespace": NAMESPACE,
        "name": me.name,
        "restapi": {
            "listen": f"0.0.0.0:{PATRONI_API_PORT}",
            "connect_address": api,
            # mutual TLS: only a member (a certificate of the cluster's CA) talks to the API at all
            "certfile": MEMBER_CERT,
            "keyfile": MEMBER_KEY,
            "cafile": CA_CERT,
            "verify_client": "required",
            # the changing endpoints (switchover, failsafe...): the members' addresses and this host only
            "allowlist": ["127.0.0.1/32"],
            "allowlist_include_members": True,
            "authentication": {"username": API_USER, "password": ""},
        },
        # patronictl, and Patroni's own calls to the other members: the member's certificate, the CA verified
        "ctl": {"certfile": MEMBER_CERT, "keyfile": MEMBER_KEY, "cacert": CA_CERT},
        # this host's own etcd member only, and no discovery of the others (use_proxies): a peer that hangs (a frozen
        # VM keeps its TCP stack answering) would otherwise leave Patroni's view of the cluster stale; a member
        # whose own etcd is lost is a member without the DCS, which demotes itself if it was the primary
        "etcd3": {
            "hosts": [f"127.0.0.1:{ETCD_CLIENT_PORT}"],
            "use_proxies": True,
            "protocol": "https",
            "cacert": CA_CERT,
            "cert": MEMBER_CERT,
            "key": MEMBER_KEY,
            "username": ETCD_USER,
            "password": "",
        },
        "bootstrap": {
            "dcs": dynamic_config(
                backup=backup,
                synchronous=synchronous,
                max_wal_senders=max_wal_senders,
                wal_keep_size_mb=wal_keep_size_mb,
                max_slot_wal_keep_size_mb=max_slot_wal_keep_size_mb,
            ),
            "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
            "post_bootstrap": DB_INIT_SCRIPT,
        },
        "postgresql": postgresql,
        # a host whose Patroni stops answering is reset before its leader key can expire (softdog; where the
        # kernel offers no watchdog, Patroni runs without and says so)
        "watchdog": {"mode": "automatic", "device": "/dev/watchdog", "safety_margin": DCS.watchdog_safety_margin},
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }
    if restore:
        if backup is None:
            raise ValueError("restore needs a backup repository")
        # Patroni's custom bootstrap: restore the newest backup, replay the archive, be promoted at its end
        config["bootstrap"]["method"] = "pgbackrest"
        config["bootstrap"]["pgbackrest"] = {
            "command": RESTORE_SCRIPT,
            "no_params": True,
            "keep_existing_recovery_conf": True,
        }
    return (
        "# Managed by resilient_stack (cloud-init). Passwords are written by root's sync: 0600 postgres.\n"
        + yaml.safe_dump(config, sort_keys=False, default_flow_style=False, width=4096)
    )
