"""A healthy database member: PostgreSQL 15 under Patroni with its etcd member; the primary, or a streaming
replica of it."""

import json

import pytest

from .plugin import eventually

pytestmark = pytest.mark.role("db-primary", "db-replica")

SECRETS = "/etc/resilient-stack/secrets"
PATRONI_CONF = "/etc/patroni/config.yml"
CLUSTER_HELPER = "/usr/local/sbin/resilient-stack-cluster"
ETCDCTL = "ETCDCTL_API=3 etcdctl --endpoints=http://127.0.0.1:2379 --dial-timeout=2s --command-timeout=5s"


def test_postgresql_patroni_and_etcd_installed(host):
    for package in ("postgresql-15", "patroni", "etcd-server", "etcd-client"):
        assert host.package(package).is_installed, package


def test_patroni_and_etcd_running_and_enabled(host):
    for service in ("patroni", "etcd"):
        assert host.service(service).is_running, service
        assert host.service(service).is_enabled, service


def test_patroni_runs_postgresql_not_debians_units(root):
    """The cluster is Patroni's: Debian's units leave it alone (start.conf manual)."""
    assert root.file("/etc/postgresql/15/main/start.conf").content_string.strip() == "manual"
    assert root.process.filter(user="postgres", comm="postgres"), "no postgres process"


def test_etcd_member_healthy_with_a_majority(root):
    """A linearizable read answers only when this member reaches the majority of the cluster."""
    out = root.run(f"{ETCDCTL} endpoint health")
    assert out.rc == 0 and "is healthy" in out.stdout + out.stderr, out.stdout + out.stderr
    members = root.check_output(f"{ETCDCTL} member list")
    assert len(members.splitlines()) >= 3, f"an etcd cluster of fewer than 3 members has no site to lose: {members}"


def test_etcd_client_port_only_on_loopback(host):
    assert host.socket("tcp://127.0.0.1:2379").is_listening
    assert not host.socket("tcp://0.0.0.0:2379").is_listening
    assert host.socket("tcp://0.0.0.0:2380").is_listening or host.socket("tcp://:::2380").is_listening


def test_patroni_sees_one_leader_and_this_member_running(root, host):
    members = json.loads(root.check_output(f"runuser -u postgres -- patronictl -c {PATRONI_CONF} list -f json"))
    leaders = [m for m in members if m["Role"] == "Leader"]
    assert len(leaders) == 1, members
    me = host.check_output("hostname -s")
    mine = [m for m in members if m["Member"] == me]
    assert mine and mine[0]["State"] in ("running", "streaming"), members


def test_patroni_configuration_is_private(root):
    f = root.file(PATRONI_CONF)
    assert f.exists and f.mode == 0o600 and f.user == "postgres", (oct(f.mode), f.user)


def test_listening_on_5432(host):
    assert host.socket("tcp://0.0.0.0:5432").is_listening or host.socket("tcp://:::5432").is_listening


def test_tls_on_and_wal_level_replica(psql):
    assert psql("SHOW ssl") == "on"
    assert psql("SHOW wal_level") == "replica"


def test_replication_allowed_only_over_tls_with_scram(psql):
    rows = psql(
        "SELECT type || ' ' || auth_method || ' ' || coalesce(address, '') FROM pg_hba_file_rules "
        "WHERE 'replication' = ANY(database) AND type <> 'local'"
    ).splitlines()
    remote = [r for r in rows if not r.endswith((" 127.0.0.1", " ::1"))]
    assert remote, "no remote replication entry in pg_hba.conf"
    assert all(r.startswith("hostssl scram-sha-256 ") for r in remote), rows
    assert not any(r.endswith((" 0.0.0.0", " ::", " all")) for r in remote), rows


# --- primary ---------------------------------------------------------------------------------------


@pytest.mark.role("db-primary")
def test_primary_not_in_recovery(psql):
    assert psql("SELECT pg_is_in_recovery()") == "f"


@pytest.mark.role("db-primary")
def test_primary_has_roles_and_app_database(psql):
    assert psql("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'") == "t"
    assert psql("SELECT count(*) FROM pg_database WHERE datname = 'app'") == "1"


@pytest.mark.role("db-primary")
def test_primary_is_patronis_leader(root):
    assert root.check_output(f"{CLUSTER_HELPER} role") == "primary"


@pytest.mark.role("db-primary")
def test_primary_streams_to_expected_replicas(psql, options):
    want = options["expect_replicas"]
    if not want:
        pytest.skip("no replica expected (--expect-replicas N)")
    query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
    assert eventually(lambda: int(psql(query)) >= want, timeout=60), (
        f"expected >= {want} streaming replicas: "
        + psql("SELECT application_name || ' ' || state FROM pg_stat_replication")
    )
    assert psql(
        "SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)"
    ) == "t", "replication connections must use TLS"


# --- replica ---------------------------------------------------------------------------------------


@pytest.mark.role("db-replica")
def test_replica_in_recovery(psql):
    assert psql("SELECT pg_is_in_recovery()") == "t"


@pytest.mark.role("db-replica")
def test_replica_wal_receiver_streaming(psql):
    assert eventually(lambda: psql("SELECT status FROM pg_stat_wal_receiver") == "streaming", timeout=60), (
        "WAL receiver not streaming: " + psql("SELECT status FROM pg_stat_wal_receiver")
    )


@pytest.mark.role("db-replica")
def test_replica_streams_over_tls_with_channel_binding(psql):
    conninfo = psql("SELECT conninfo FROM pg_stat_wal_receiver")
    assert "sslmode=require" in conninfo and "channel_binding=require" in conninfo, conninfo


@pytest.mark.role("db-replica")
def test_replica_is_a_patroni_replica(root):
    f = root.file(CLUSTER_HELPER)
    assert f.is_file and f.mode & 0o111
    assert root.check_output(f"{CLUSTER_HELPER} role") == "replica"


# --- backups ---------------------------------------------------------------------------------------


def test_backup_configuration(root, psql, options):
    expected = options["expect_backup"]
    if expected is None:
        pytest.skip("backups neither expected nor excluded (--expect-backup / --no-expect-backup)")
    if not expected:
        assert psql("SHOW archive_mode") == "off"
        return
    assert root.package("pgbackrest").is_installed
    conf = root.file("/etc/pgbackrest/pgbackrest.conf")
    assert conf.exists, "pgBackRest config missing"
    assert conf.user == "postgres" and conf.mode in (0o600, 0o640), (conf.user, oct(conf.mode))
    assert "repo1-type=s3" in conf.content_string
    # encrypted, and archived asynchronously with a bounded queue (a lost repository never fills the disk)
    for line in ("repo1-cipher-type=aes-256-cbc", "archive-async=y"):
        assert line in conf.content_string.splitlines(), line
    assert any(line.startswith("archive-push-queue-max=") for line in conf.content_string.splitlines())
    assert psql("SHOW archive_mode") == "on"
    assert "pgbackrest" in psql("SHOW archive_command")
    for timer in ("resilient-stack-backup-full.timer", "resilient-stack-backup-diff.timer",
                  "resilient-stack-backup-init.timer"):
        assert root.service(timer).is_enabled, timer


def test_backup_repository_holds_a_valid_backup(host, options):
    """pgBackRest reaches the object storage and the stanza holds at least one valid backup (the first
    full backup starts at the primary's first boot: allow it a few minutes)."""
    if not options["expect_backup"]:
        pytest.skip("backups not expected (--expect-backup)")
    last = {}

    def ok() -> bool:
        with host.sudo("postgres"):
            out = host.run("pgbackrest --stanza=main --output=json info")
        if out.rc != 0:
            last["out"] = out.stdout + out.stderr
            return False
        info = json.loads(out.stdout)
        last["out"] = info[0]["status"] if info else "no stanza"
        return bool(info) and info[0]["status"]["code"] == 0 and bool(info[0]["backup"])

    assert eventually(ok, timeout=240, interval=3), f"no valid backup in the repository: {last.get('out')}"
