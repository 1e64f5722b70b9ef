#!/bin/bash
# fire drill probe of one database member (read only): its role, what it streams from, its timeline and WAL
# position, and whether its etcd member answers with the cluster's majority. One KEY=VALUE line each.
set -u
q() { runuser -u postgres -- psql -XAtq -h /var/run/postgresql -c "$1" 2>/dev/null; }
echo "role=$(q "SELECT CASE WHEN pg_is_in_recovery() THEN 'replica' ELSE 'primary' END")"
echo "receiver=$(q "SELECT status || ' ' || coalesce(sender_host, '-') FROM pg_stat_wal_receiver")"
echo "timeline=$(q "SELECT timeline_id FROM pg_control_checkpoint()")"
echo "lsn=$(q "SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END")"
# etcd over its mutual TLS, as root with the member's administrator certificate (the host's own helper)
if timeout 5 /usr/local/sbin/resilient-stack-etcdctl endpoint health >/dev/null 2>&1; then
    echo "etcd=healthy"
else
    echo "etcd=down"
fi
