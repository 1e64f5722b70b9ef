"""Tests of resilient_stack.hosts.cluster: etcd's static cluster, Patroni's settings and the pg_hba rules."""

from __future__ import annotations

from resilient_stack.hosts import cluster
from resilient_stack.hosts.cluster import DCS, ClusterMember

MEMBERS = [ClusterMember("a", "192.0.2.1"), ClusterMember("b", "2001:db8::2")]


def test_initial_cluster_brackets_ipv6():
    assert cluster.initial_cluster(MEMBERS) == "a=https://192.0.2.1:2380,b=https://[2001:db8::2]:2380"


def test_the_timings_never_allow_two_primaries():
    """A primary cut off from the etcd majority demotes after retry_timeout, before its leader key expires (ttl)
    on the majority's side, where a replica can then be promoted."""
    assert DCS.loop_wait + 2 * DCS.retry_timeout <= DCS.ttl
    assert DCS.maximum_lag_on_failover == 1024 * 1024


def test_hba_rules_order_and_extras():
    rules = cluster.hba_rules(
        members=MEMBERS,
        replication_user="r",
        replication_cidrs=["192.0.2.1/32", "198.51.100.0/24"],
        app_db="d",
        app_user="u",
        app_cidrs=["203.0.113.5/32"],
    )
    assert rules == [
        "local all postgres peer",
        "local all all peer",
        "hostssl replication r 127.0.0.1/32 scram-sha-256",
        "hostssl replication r 192.0.2.1/32 scram-sha-256",
        "hostssl replication r 2001:db8::2/128 scram-sha-256",
        "hostssl replication r 198.51.100.0/24 scram-sha-256",  # an extra, once (a member's /32 is not repeated)
        "hostssl postgres patroni_rewind 192.0.2.1/32 scram-sha-256",
        "hostssl postgres patroni_rewind 2001:db8::2/128 scram-sha-256",
        "hostssl d u,u_alt,u_migrate 203.0.113.5/32 scram-sha-256",  # the application's login roles, the release phase's
    ]
