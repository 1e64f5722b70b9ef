"""Tests of resilient_stack.hosts.postgres: the database members' scripts and SQL, filled."""

from __future__ import annotations

from resilient_stack.hosts import postgres


def test_db_init_sql_reads_the_password_from_its_file():
    sql = postgres.db_init_sql(app_user="shop", app_db="shop_db")
    assert "\\set app_password `cat /etc/resilient-stack/secrets/app_password`" in sql
    assert "ALTER ROLE shop WITH LOGIN NOREPLICATION PASSWORD :'app_password';" in sql
    assert "\\connect shop_db\nSET ROLE shop;\nCREATE TABLE IF NOT EXISTS resilient_stack_writes (" in sql


def test_the_start_script_is_bounded_and_quotes_what_it_is_given():
    script = postgres.db_start_script(bootstrap=False, scope="shop")
    for line in ("ROLE=\"join\"", "DATA=/var/lib/postgresql/15/main", "INITIALIZE=/service/shop/initialize",
                 f"WAIT_ETCD={postgres.WAIT_ETCD_S}", f"WAIT_CLUSTER={postgres.WAIT_CLUSTER_S}",
                 f"WAIT_READY={postgres.WAIT_READY_S}"):
        assert line + "\n" in script
    assert "etcdctl --endpoints=http://127.0.0.1:2379" in script
    assert "systemctl stop postgresql@15-main || true" in script
    assert "ROLE=\"bootstrap\"\n" in postgres.db_start_script(bootstrap=True, scope="shop")


def test_the_cluster_helper_is_patronictl_with_the_configuration():
    helper = postgres.cluster_helper()
    assert "CONF=/etc/patroni/config.yml\n" in helper
    assert 'exec runuser -u postgres -- patronictl -c "$CONF" list' in helper
    # `--help` prints lines 2-8: the header
    assert 'sed -n "2,8p" "$0"' in helper
    header = helper.splitlines()[1:8]
    assert header[0].startswith("# resilient-stack-cluster --") and "Failover needs no operator" in header[-1]
