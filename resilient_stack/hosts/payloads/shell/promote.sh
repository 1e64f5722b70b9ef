#!/bin/bash
# resilient-stack-promote -- promote this PostgreSQL streaming replica to primary (failover).
#
# Usage: resilient-stack-promote [--check]
#   --check   only print this node's role (primary|replica) and exit 0.
#
# Runbook / drill:
#   1. Fence the old primary first (power it off or cut it off the network): two primaries
#      accepting writes is worse than a short outage.
#   2. Pick the replica that received the most WAL (SELECT pg_last_wal_receive_lsn()).
#   3. Run `sudo resilient-stack-promote` on it; it returns once the node accepts writes.
#   4. Point the application (DNS / config) at the new primary; rebuild the old one as a replica.
# Exit codes: 0 promoted (or already primary), 1 failure, 2 usage.
set -euo pipefail
VERSION={{pg_version}}
CLUSTER={{pg_cluster}}
TIMEOUT=${RESILIENT_STACK_PROMOTE_TIMEOUT:-60}
role() {
    case "$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')" in
        t) echo replica ;;
        f) echo primary ;;
        *) echo "cannot query the local PostgreSQL" >&2; return 1 ;;
    esac
}
case "${1:-}" in
    --check) role; exit 0 ;;
    "") ;;
    -h|--help) sed -n "2,13p" "$0"; exit 0 ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
if [ "$(role)" = primary ]; then
    echo "already primary: nothing to do"
    exit 0
fi
pg_ctlcluster "$VERSION" "$CLUSTER" promote
for _ in $(seq 1 "$TIMEOUT"); do
    if [ "$(role)" = primary ]; then
        echo "promoted: this node is now the primary"
        exit 0
    fi
    sleep 1
done
echo "promotion did not complete within ${TIMEOUT}s" >&2
exit 1
