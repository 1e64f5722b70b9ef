"""A healthy database member: PostgreSQL 15 under Patroni with its etcd member; the primary, or a streaming
replica of it."""

import json

import pytest

from .plugin import eventually

pytestmark = pytest.mark.role("db-primary", "db-replica")

SECRETS = "/etc/resilient-stack/secrets"
PATRONI_CONF = "/etc/patroni/config.yml"
CLUSTER_HELPER = "/usr/local/sbin/resilient-stack-cluster"
ETCDCTL = "/usr/local/sbin/resilient-stack-etcdctl"  # etcdctl as etcd's root, with the member's admin certificate
TLS = "/etc/resilient-stack/tls"
CA, CERT, KEY = f"{TLS}/ca.crt", f"{TLS}/member.crt", f"{TLS}/member.key"
ETCD_ENV = "/etc/default/etcd"


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


def _env(root) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in root.file(ETCD_ENV).content_string.splitlines()
        if "=" in line and not line.startswith("#")
    )


def test_etcd_peers_and_clients_need_a_certificate_of_the_clusters_ca(root):
    env = _env(root)
    for key in ("ETCD_PEER_CLIENT_CERT_AUTH", "ETCD_CLIENT_CERT_AUTH"):
        assert env.get(key) == "true", key
    assert "ETCD_PEER_AUTO_TLS" not in env and "ETCD_AUTO_TLS" not in env, (
        "self-signed certificates authenticate no one"
    )
    assert env["ETCD_PEER_TRUSTED_CA_FILE"] == CA and env["ETCD_TRUSTED_CA_FILE"] == CA
    # no certificate: the TLS handshake fails
    out = root.run(f"curl -sS --max-time 5 --cacert {CA} https://127.0.0.1:2379/version")
    assert out.rc != 0, out.stdout


def test_etcd_authentication_is_on(root):
    """A client with a certificate of the cluster but no etcd user (the member's own certificate, no common name)
    can read nothing: RBAC is enabled; root (the admin certificate) can."""
    out = root.run(
        f"ETCDCTL_API=3 etcdctl --endpoints=https://127.0.0.1:2379 --cacert={CA} --cert={CERT} --key={KEY} "
        "--command-timeout=5s get --prefix /service/"
    )
    assert out.rc != 0 and ("user name is empty" in out.stderr or "permission denied" in out.stderr), (
        out.stdout + out.stderr
    )
    roles = root.check_output(f"{ETCDCTL} role get patroni")
    assert "KV Read:" in roles and "KV Write:" in roles and "(prefix /service/" in roles, roles
    assert "patroni" in root.check_output(f"{ETCDCTL} user get patroni")


def test_etcd_compacts_keeps_a_quota_and_has_no_alarm(root):
    env = _env(root)
    assert env.get("ETCD_AUTO_COMPACTION_MODE") == "periodic" and env.get("ETCD_AUTO_COMPACTION_RETENTION")
    quota = int(env["ETCD_QUOTA_BACKEND_BYTES"])
    assert 0 < quota <= 8 * 1024**3
    assert root.check_output(f"{ETCDCTL} alarm list") == "", "an etcd alarm is raised (NOSPACE?)"
    status = json.loads(root.check_output(f"{ETCDCTL} endpoint status -w json"))[0]["Status"]
    assert status["dbSize"] < quota / 2, f"etcd's database is at {status['dbSize']} of its quota {quota}"
    assert root.service("resilient-stack-etcd-defrag.timer").is_enabled


def test_etcd_client_port_answers_the_members_peer_port_too(host):
    assert host.socket("tcp://0.0.0.0:2379").is_listening or host.socket("tcp://:::2379").is_listening
    assert host.socket("tcp://0.0.0.0:2380").is_listening or host.socket("tcp://:::2380").is_listening


def test_patronis_api_is_mutual_tls(root):
    """The members' REST API answers a client with a certificate of the cluster's CA, verified against it, and
    refuses one without (what Patroni's own calls between members, and patronictl, rely on)."""
    conf = root.file(PATRONI_CONF).content_string
    api = next(
        line.split(":", 1)[1].strip()
        for line in conf.splitlines()
        if line.strip().startswith("connect_address") and ":8008" in line
    )
    url = f"https://{api}/patroni"
    ok = root.run(f"curl -sS --max-time 5 --cacert {CA} --cert {CERT} --key {KEY} {url}")
    assert ok.rc == 0 and json.loads(ok.stdout).get("state") in ("running", "streaming"), ok.stdout + ok.stderr
    refused = root.run(f"curl -sS --max-time 5 --cacert {CA} {url}")
    assert refused.rc != 0, refused.stdout


def test_patroni_fences_a_stale_primary(root):
    """The settings that keep two members from accepting writes at once: the dynamic configuration's timings and
    failsafe mode, and PostgreSQL stopped with a Patroni that dies (KillMode=mixed)."""
    config = root.check_output(f"runuser -u postgres -- patronictl -c {PATRONI_CONF} show-config")
    assert "failsafe_mode: true" in config, config
    ttl = int(next(line.split(":")[1] for line in config.splitlines() if line.startswith("ttl:")))
    loop = int(next(line.split(":")[1] for line in config.splitlines() if line.startswith("loop_wait:")))
    retry = int(next(line.split(":")[1] for line in config.splitlines() if line.startswith("retry_timeout:")))
    assert loop + 2 * retry <= ttl, config
    assert root.check_output("systemctl show -p KillMode patroni") == "KillMode=mixed"


def test_the_data_volume_is_marked_as_this_members(root, host):
    marker = root.file("/var/lib/postgresql/.resilient-stack-volume").content_string
    assert f"member={host.check_output('hostname -s')}" in marker.splitlines(), marker


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
def test_primary_has_roles_and_app_database(root, psql):
    """The replication role, and the application's database by the name the stack gave it (`database.appDatabase`:
    `shop` in the production stack, as pg_hba names it), not a default."""
    db = _application(root)[0]
    assert psql("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'") == "t"
    assert psql(f"SELECT count(*) FROM pg_database WHERE datname = '{db}'") == "1"


def _application(root) -> tuple[str, str, str, str]:
    """The application's database, its two login roles and the release phase's role, as pg_hba admits them
    (Patroni's configuration)."""
    import yaml

    rules = yaml.safe_load(root.file(PATRONI_CONF).content_string)["postgresql"]["pg_hba"]
    fields = next(r.split() for r in rules if r.startswith("hostssl ") and "," in r.split()[2])
    login, alt, migrate = fields[2].split(",")
    return fields[1], login, alt, migrate


@pytest.mark.role("db-primary")
def test_the_application_logs_in_with_least_privilege(root, psql):
    """The application's database belongs to a role that cannot log in; the application's login roles may read
    and write rows, not change the schema; the release phase's role acts as the owner (migrations), nothing more."""
    db, login, alt, migrate = _application(root)
    assert psql(f"SELECT pg_has_role('{migrate}', '{login}_owner', 'MEMBER')") == "t"
    assert (
        psql(
            f"SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication FROM pg_roles "
            f"WHERE rolname = '{migrate}'"
        )
        == "f"
    )
    assert psql(f"SELECT pg_has_role('{login}', '{login}_owner', 'MEMBER')") == "f"
    owner = psql(
        f"SELECT r.rolname || '|' || r.rolcanlogin FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba "
        f"WHERE d.datname = '{db}'"
    )
    assert owner == f"{login}_owner|false" or owner.endswith("|f"), owner
    for role in (login, alt):
        assert psql(f"SELECT pg_has_role('{role}', '{login}_rw', 'MEMBER')") == "t", role
        assert psql(f"SELECT has_database_privilege('{role}', '{db}', 'CREATE')") == "f", role
        assert psql(f"SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = '{role}'") == "f"


@pytest.mark.role("db-primary")
def test_synchronous_mode_has_a_synchronous_standby(root, psql, options):
    config = root.check_output(f"runuser -u postgres -- patronictl -c {PATRONI_CONF} show-config")
    if "synchronous_mode: true" not in config:
        pytest.skip("synchronous mode is off")
    if not options["expect_replicas"]:
        pytest.skip("no replica expected (--expect-replicas N)")
    assert eventually(
        lambda: psql("SELECT count(*) FROM pg_stat_replication WHERE sync_state = 'sync'") == "1", timeout=60
    ), psql("SELECT application_name || ' ' || sync_state FROM pg_stat_replication")


@pytest.mark.role("db-primary")
def test_primary_is_patronis_leader(root):
    assert root.check_output(f"{CLUSTER_HELPER} role") == "primary"


@pytest.mark.role("db-primary")
def test_primary_streams_to_expected_replicas(psql, options):
    want = options["expect_replicas"]
    if not want:
        pytest.skip("no replica expected (--expect-replicas N)")
    query = "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'"
    assert eventually(lambda: int(psql(query)) >= want, timeout=60), f"expected >= {want} streaming replicas: " + psql(
        "SELECT application_name || ' ' || state FROM pg_stat_replication"
    )
    assert psql("SELECT bool_and(s.ssl) FROM pg_stat_replication r JOIN pg_stat_ssl s USING (pid)") == "t", (
        "replication connections must use TLS"
    )


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
    assert "sslmode=verify-full" in conninfo and "channel_binding=require" in conninfo, conninfo
    assert f"sslrootcert={CA}" in conninfo, conninfo


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
    for timer in (
        "resilient-stack-backup-full.timer",
        "resilient-stack-backup-diff.timer",
        "resilient-stack-backup-init.timer",
    ):
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
