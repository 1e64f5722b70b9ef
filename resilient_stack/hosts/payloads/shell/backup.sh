#!/bin/bash
# Managed by resilient_stack (cloud-init): take a pgBackRest backup (type: full|diff|incr, default
# diff) if, and only if, this node is the primary -- so after a failover the promoted replica
# takes over the schedule with no change.
set -euo pipefail
TYPE="${1:-diff}"
case "$TYPE" in full|diff|incr) ;; *) echo "usage: $0 [full|diff|incr]" >&2; exit 2 ;; esac
if [ "$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')" != f ]; then
    echo "not the primary: skipping backup"
    exit 0
fi
exec runuser -u postgres -- pgbackrest --stanza={{stanza}} --type="$TYPE" backup
