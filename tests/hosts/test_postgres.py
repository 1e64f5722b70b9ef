"""Tests of resilient_stack.hosts.postgres: the database members' scripts and SQL, filled."""

from __future__ import annotations

from resilient_stack.hosts import postgres
from resilient_stack.hosts.cluster import ClusterMember


def test_db_init_sql_makes_an_owner_a_row_writer_and_two_login_roles():
    sql = postgres.db_init_sql(app_user="shop", app_db="shop_db")
    for piece in ("CREATE ROLE shop_owner NOLOGIN", "CREATE ROLE shop_rw NOLOGIN",
                  "CREATE ROLE shop LOGIN NOREPLICATION IN ROLE shop_rw",
                  "CREATE ROLE shop_alt LOGIN NOREPLICATION IN ROLE shop_rw", "CREATE DATABASE shop_db OWNER shop_owner",
                  "REVOKE ALL ON DATABASE shop_db FROM PUBLIC;",
                  "ALTER DEFAULT PRIVILEGES FOR ROLE shop_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO shop_rw;"):
        assert piece in sql, piece
    assert "\\connect shop_db\nSET ROLE shop_owner;\n" in sql
    assert sql.index("ALTER DEFAULT PRIVILEGES") < sql.index("CREATE TABLE IF NOT EXISTS resilient_stack_writes (")


def test_the_start_script_is_bounded_and_quotes_what_it_is_given():
    me = ClusterMember("db-ik", "2001:db8::30")
    script = postgres.db_start_script(bootstrap=False, scope="shop", me=me)
    for line in ("ROLE=\"join\"", "DATA=/var/lib/postgresql/15/main", "INITIALIZE=/service/shop/initialize",
                 f"WAIT_ETCD={postgres.WAIT_ETCD_S}", f"WAIT_CLUSTER={postgres.WAIT_CLUSTER_S}",
                 f"WAIT_READY={postgres.WAIT_READY_S}", "ME=db-ik", "PEER_URL='https://[2001:db8::30]:2380'",
                 "E=/usr/local/sbin/resilient-stack-etcdctl"):
        assert line + "\n" in script, line
    assert "systemctl stop postgresql@15-main || true" in script
    # a blank member of a running cluster: its former self removed, itself added, started as "existing"
    assert '$E --others member remove "$id"' in script and '$E --others member add "$ME"' in script
    assert "ETCD_INITIAL_CLUSTER_STATE=\"existing\"" in script
    bootstrap = postgres.db_start_script(bootstrap=True, scope="shop", me=me)
    assert "ROLE=\"bootstrap\"\n" in bootstrap and '[ "$ROLE" = bootstrap ] && /usr/local/sbin/resilient-stack-etcd-auth' in bootstrap


def test_the_cluster_helper_is_patronictl_with_the_configuration():
    helper = postgres.cluster_helper()
    assert "CONF=/etc/patroni/config.yml\n" in helper
    assert 'exec runuser -u postgres -- patronictl -c "$CONF" list' in helper
    # `--help` prints lines 2-8: the header
    assert 'sed -n "2,8p" "$0"' in helper
    header = helper.splitlines()[1:8]
    assert header[0].startswith("# resilient-stack-cluster --") and "Failover needs no operator" in header[-1]
