#!/bin/bash
# Managed by resilient_stack (cloud-init): the first boot of a database member. Hands the data directory to
# Patroni, starts this host's etcd member, then Patroni, and waits (bounded) until the member serves: the
# primary accepting writes, a replica streaming from it.
#   ROLE=bootstrap  this member initialises the cluster (the stack's databaseRole: primary)
#   ROLE=join       this member waits for the cluster to exist, then Patroni clones it from the primary
set -euo pipefail
ROLE="{{role}}"
DATA={{data}}
INITIALIZE={{initialize_key}}
WAIT_ETCD={{wait_etcd}}
WAIT_CLUSTER={{wait_cluster}}
WAIT_READY={{wait_ready}}
export ETCDCTL_API=3
etcd_ctl() { etcdctl --endpoints=http://127.0.0.1:{{client_port}} --dial-timeout=2s --command-timeout=3s "$@"; }
say() { echo "resilient-stack: $*"; }
initialized() { [ -n "$(etcd_ctl get --print-value-only "$INITIALIZE" 2>/dev/null)" ]; }

# 1. The PostgreSQL package created (and started) a cluster of its own: Patroni manages this data directory.
#    A data directory Patroni has managed before (a re-attached disk) is kept.
systemctl stop {{pg_service}} || true
echo manual > {{start_conf}}
if [ -e "$DATA/patroni.dynamic.json" ]; then
    say "the data directory was managed by Patroni before: kept"
elif [ -d "$DATA" ]; then
    find "$DATA" -mindepth 1 -delete
fi
install -d -o postgres -g postgres -m 0700 "$DATA"

# 2. This host's etcd member: it answers once a majority of the members is up.
systemctl enable {{etcd_service}}
systemctl restart {{etcd_service}}
deadline=$((SECONDS + WAIT_ETCD))
until etcd_ctl endpoint health >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { say "etcd has no quorum after ${WAIT_ETCD}s"; exit 1; }
    sleep 1
done
say "etcd member healthy"

# 3. Patroni. A joining member waits for the cluster to exist rather than initialise one of its own.
if [ "$ROLE" = join ]; then
    deadline=$((SECONDS + WAIT_CLUSTER))
    until initialized; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            say "no initialised cluster after ${WAIT_CLUSTER}s: starting Patroni anyway"
            break
        fi
        sleep 2
    done
fi
systemctl enable {{patroni_service}}
systemctl start {{patroni_service}}

# 4. Wait until the member serves (the bootstrap member: once the cluster is initialised).
query="SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'primary'
                   WHEN (SELECT status FROM pg_stat_wal_receiver) = 'streaming' THEN 'streaming'
                   ELSE 'recovering' END"
deadline=$((SECONDS + WAIT_READY))
while :; do
    state=$(runuser -u postgres -- psql -XAtq -h {{socket_dir}} -p {{port}} -c "$query" 2>/dev/null || true)
    if { [ "$state" = primary ] || [ "$state" = streaming ]; } && initialized; then
        say "member ready ($state)"
        exit 0
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "member not ready after ${WAIT_READY}s (state: ${state:-down})"
        exit 1
    fi
    sleep 2
done
