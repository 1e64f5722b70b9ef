"""Tests of resilient_stack.hosts.postgres: the database members' scripts and SQL, filled."""

from __future__ import annotations

from resilient_stack.hosts import postgres
from resilient_stack.hosts.cluster import ClusterMember


def test_db_init_sql_makes_an_owner_a_row_writer_two_login_roles_and_the_release_phase_role():
    sql = postgres.db_init_sql(app_user="shop", app_db="shop_db")
    for piece in (
        "CREATE ROLE shop_owner NOLOGIN",
        "CREATE ROLE shop_rw NOLOGIN",
        "CREATE ROLE shop LOGIN NOREPLICATION IN ROLE shop_rw",
        "CREATE ROLE shop_alt LOGIN NOREPLICATION IN ROLE shop_rw",
        "CREATE DATABASE shop_db OWNER shop_owner",
        "CREATE ROLE shop_migrate LOGIN NOREPLICATION IN ROLE shop_owner",
        "ALTER ROLE shop_migrate SET role = 'shop_owner';",
        "REVOKE ALL ON DATABASE shop_db FROM PUBLIC;",
        "ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shop_rw;",
    ):
        assert piece in sql, piece
    assert "\\connect shop_db\nSET ROLE shop_owner;\n" in sql
    assert "CREATE TABLE" not in sql, "the application's tables are its own release phase's"


def test_the_start_script_is_bounded_and_quotes_what_it_is_given():
    me = ClusterMember("db-ik", "2001:db8::30")
    script = postgres.db_start_script(bootstrap=False, scope="shop", me=me)
    for line in (
        'ROLE="join"',
        "DATA=/var/lib/postgresql/15/main",
        "INITIALIZE=/service/shop/initialize",
        f"WAIT_ETCD={postgres.WAIT_ETCD_S}",
        f"WAIT_CLUSTER={postgres.WAIT_CLUSTER_S}",
        f"WAIT_READY={postgres.WAIT_READY_S}",
        "ME=db-ik",
        "PEER_URL='https://[2001:db8::30]:2380'",
        "E=/usr/local/sbin/resilient-stack-etcdctl",
    ):
        assert line + "\n" in script, line
    assert "systemctl stop postgresql@15-main || true" in script
    # a blank member of a running cluster: its former self removed, itself added, started as "existing"
    assert '$E --others member remove "$id"' in script and '$E --others member add "$ME"' in script
    assert 'ETCD_INITIAL_CLUSTER_STATE="existing"' in script
    bootstrap = postgres.db_start_script(bootstrap=True, scope="shop", me=me)
    assert (
        'ROLE="bootstrap"\n' in bootstrap
        and '[ "$ROLE" = bootstrap ] && /usr/local/sbin/resilient-stack-etcd-auth' in bootstrap
    )


def test_the_cluster_helper_is_patronictl_with_the_configuration():
    helper = postgres.cluster_helper()
    assert "CONF=/etc/patroni/config.yml\n" in helper
    assert 'ctl() { runuser -u postgres -- patronictl -c "$CONF" "$@"; }' in helper
    # `--help` prints lines 2-12: the header
    assert 'sed -n "2,12p" "$0"' in helper
    header = helper.splitlines()[1:12]
    assert header[0].startswith("# resilient-stack-cluster --") and any(
        "Failover needs no operator" in h for h in header
    )
    assert not helper.splitlines()[12].startswith("#")


def _fake_cluster(tmp_path, *, synchronous: bool, lists: list[str]):
    """The helper run for real with fake runuser/patronictl/id: `patronictl list` prints `lists` one after the
    other (the last one again when they run out)."""
    import os
    import subprocess

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for i, text in enumerate(lists):
        (tmp_path / f"list{i}").write_text(text)
    (bin_dir / "id").write_text("#!/bin/sh\necho 0\n")
    (bin_dir / "runuser").write_text('#!/bin/sh\nshift 3\nexec "$@"\n')  # runuser -u postgres -- CMD...
    (bin_dir / "sleep").write_text("#!/bin/sh\n:\n")
    (bin_dir / "patronictl").write_text(f"""#!/bin/bash
shift 2
echo "$*" >> {tmp_path}/calls
case "$1" in
  show-config) echo "synchronous_mode: {"true" if synchronous else "false"}" ;;
  list) n=$(cat {tmp_path}/n 2>/dev/null || echo 0); f={tmp_path}/list$n
        [ -e "$f" ] || f={tmp_path}/list{len(lists) - 1}; cat "$f"; echo $((n + 1)) > {tmp_path}/n ;;
  switchover) echo "Successfully switched over to db2" ;;
esac
""")
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    script = tmp_path / "cluster"
    script.write_text(postgres.cluster_helper())

    def run(*args):
        return subprocess.run(
            ["bash", str(script), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        )

    return run


ROWS = "| db1 | 10.0.0.1 | Leader | running | 1 | |\n| db2 | 10.0.0.2 | {role} | streaming | 1 | 0 |\n"


def test_a_switchover_with_synchronous_replication_returns_once_a_standby_is_synchronous(tmp_path):
    run = _fake_cluster(
        tmp_path, synchronous=True, lists=[ROWS.format(role="Replica")] * 3 + [ROWS.format(role="Sync Standby")]
    )
    proc = run("switchover", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "Successfully switched over" in proc.stdout and "| Sync Standby |" in proc.stdout
    assert (tmp_path / "calls").read_text().splitlines()[0] == "switchover --force"


def test_a_switchover_that_leaves_no_synchronous_standby_says_so_and_fails(tmp_path):
    run = _fake_cluster(tmp_path, synchronous=True, lists=[ROWS.format(role="Replica")])
    proc = run("switchover", "--force")
    assert proc.returncode == 1
    assert "no synchronous standby after 120 s" in proc.stderr


def test_a_switchover_without_synchronous_replication_does_not_wait(tmp_path):
    run = _fake_cluster(tmp_path, synchronous=False, lists=[ROWS.format(role="Replica")])
    proc = run("switchover", "--force")
    assert proc.returncode == 0, proc.stderr
    assert "list" not in (tmp_path / "calls").read_text().split()
