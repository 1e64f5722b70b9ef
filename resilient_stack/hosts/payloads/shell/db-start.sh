#!/bin/bash
# Managed by resilient_stack (cloud-init): a database member joins the cluster. Run by resilient-stack-db-start.service
# at the first boot and retried (every attempt bounded) until the member serves: it hands the data directory to
# Patroni, starts this host's etcd member (a member whose etcd data is blank while the cluster runs, a replacement on
# a new volume, joins it as a new member by itself), sets etcd's users up, starts Patroni and waits until the member
# serves: the primary accepting writes, a replica streaming from it.
#   ROLE=bootstrap  this member initialises the cluster (the stack's databaseRole: primary)
#   ROLE=join       this member waits for the cluster to exist, then Patroni clones it from the primary
set -euo pipefail
ROLE="{{role}}"
DATA={{data}}
INITIALIZE={{initialize_key}}
WAIT_ETCD={{wait_etcd}}
WAIT_CLUSTER={{wait_cluster}}
WAIT_READY={{wait_ready}}
E={{etcdctl}}
ME={{member}}
PEER_URL={{peer_url}}
JOIN_ENV={{join_env}}
say() { echo "resilient-stack: $*"; }
initialized() { [ -n "$($E get --print-value-only "$INITIALIZE" 2>/dev/null)" ]; }

# 0. The secrets: root's sync wrote the certificates and Patroni's passwords from the sealed document.
[ -s {{member_key}} ] || { say "no certificate yet: root's sync has not applied the sealed secrets"; exit 1; }

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

# 2. This host's etcd member. Its data is on the data volume: a member that has it restarts as itself. A blank one
#    asks the other members: while the cluster is being created (this member listed but never started: it has
#    published no client URL) it starts with the others; when the cluster runs without it (a replacement host on a
#    new volume), its former self is removed and it is added again, and starts as a new member of the running cluster.
if [ ! -d {{etcd_data}}/member ] && [ ! -s "$JOIN_ENV" ]; then
    if members=$($E --others member list -w json 2>/dev/null); then
        plan=$(printf '%s' "$members" | python3 -c '
import json, sys
me, url = sys.argv[1], sys.argv[2]
listed = json.load(sys.stdin).get("members", [])
mine = [m for m in listed if url in m.get("peerURLs", [])]
named = [m for m in listed if m.get("name") == me and m not in mine]
if mine and not mine[0].get("clientURLs"):
    print("new")
elif mine and mine[0].get("name") not in (me, ""):
    print("conflict %s" % mine[0]["name"])
else:
    print(" ".join(["join"] + ["%x" % m["ID"] for m in mine + named]))
' "$ME" "$PEER_URL")
        case "$plan" in
        new) say "etcd: the cluster is being created with this member: starting with the others" ;;
        conflict*) say "etcd: another member (${plan#conflict }) holds this member's address $PEER_URL"; exit 1 ;;
        join*)
            for id in ${plan#join}; do
                say "etcd: removing this member's former self ($id): its data did not survive"
                $E --others member remove "$id"
            done
            # a cluster whose members just changed may refuse a new one for a few seconds ("unhealthy cluster")
            for attempt in 1 2 3 4 5 6; do
                if added=$($E --others member add "$ME" --peer-urls="$PEER_URL" 2>&1); then break; fi
                say "etcd: member add refused (attempt $attempt): $added"
                [ "$attempt" -lt 6 ] || exit 1
                sleep 10
            done
            printf '%s\n' "$added" | grep -E '^ETCD_INITIAL_CLUSTER(_STATE)?=' > "$JOIN_ENV.tmp"
            grep -q '^ETCD_INITIAL_CLUSTER_STATE="existing"' "$JOIN_ENV.tmp" \
                || { say "etcd: unexpected answer to member add: $added"; exit 1; }
            chmod 0644 "$JOIN_ENV.tmp" && mv "$JOIN_ENV.tmp" "$JOIN_ENV"
            say "etcd: added to the running cluster as a new member" ;;
        esac
    else
        say "etcd: no other member answers: this member starts with the cluster"
    fi
fi
systemctl enable {{etcd_service}}
systemctl restart {{etcd_service}}
deadline=$((SECONDS + WAIT_ETCD))
until $E endpoint health >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { say "etcd has no quorum after ${WAIT_ETCD}s"; exit 1; }
    sleep 1
done
say "etcd member healthy"
# Patroni reads the cluster's version once, at its start, and talks the API of that version from then on: a new cluster
# says 3.0 until its members agree on 3.4 (a moment later), and a Patroni started in that moment would use the v3alpha
# API, which etcd 3.4 does not serve (404), for good. Wait for the cluster's version.
cluster_version() {
    python3 - {{ca}} {{cert}} {{key}} {{version_url}} <<'PY' 2>/dev/null
import json, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=sys.argv[1])
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
print(json.load(urllib.request.urlopen(sys.argv[4], context=ctx, timeout=5))["etcdcluster"])
PY
}
until cluster_version | grep -q '^3\.[4-9]'; do
    [ "$SECONDS" -lt "$deadline" ] || { say "etcd's cluster version is still below 3.4 after ${WAIT_ETCD}s"; exit 1; }
    sleep 1
done
# etcd's users and authentication: set once, by the member that initialises the cluster (the others wait for the
# cluster, which exists only after this); idempotent when that member boots again
[ "$ROLE" = bootstrap ] && {{etcd_auth}}

# 3. Patroni. A joining member waits for the cluster to exist rather than initialise one of its own.
if [ "$ROLE" = join ]; then
    deadline=$((SECONDS + WAIT_CLUSTER))
    until initialized; do
        [ "$SECONDS" -lt "$deadline" ] || { say "no initialised cluster after ${WAIT_CLUSTER}s"; exit 1; }
        sleep 2
    done
fi
systemctl enable {{patroni_service}}
systemctl start {{patroni_service}}

# 4. Wait until the member serves (the bootstrap member: once the cluster is initialised), then set the roles'
#    passwords on a primary (root's sync: they come from the sealed secrets).
query="SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'primary'
                   WHEN (SELECT status FROM pg_stat_wal_receiver) = 'streaming' THEN 'streaming'
                   ELSE 'recovering' END"
deadline=$((SECONDS + WAIT_READY))
while :; do
    state=$(runuser -u postgres -- psql -XAtq -h {{socket_dir}} -p {{port}} -c "$query" 2>/dev/null || true)
    if { [ "$state" = primary ] || [ "$state" = streaming ]; } && initialized; then
        say "member ready ($state)"
        break
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        say "member not ready after ${WAIT_READY}s (state: ${state:-down})"
        exit 1
    fi
    sleep 2
done
{{sync}} --local
install -d -m 0755 "$(dirname {{done}})" && date -u +%FT%TZ > {{done}}
