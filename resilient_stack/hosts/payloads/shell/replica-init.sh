#!/bin/bash
# Managed by resilient_stack (cloud-init): turn this host's PostgreSQL cluster into a streaming
# replica of the primary. Waits (bounded) for the primary, clones it with pg_basebackup -R,
# starts streaming. The password comes from ~postgres/.pgpass (0600), never from the command line.
set -euo pipefail
PRIMARY_HOST={{primary_host}}
ATTEMPTS={{attempts}}
INTERVAL={{interval}}
DATA={{data}}
CONNINFO={{conninfo}}
APP_NAME="$(hostname -s | tr -c "a-zA-Z0-9_\n" _)"
{{wait_local_pg}}
if [ -f "$DATA/standby.signal" ] && [ -f "$DATA/PG_VERSION" ]; then
    echo "resilient-stack: already a standby; starting it"
    systemctl start {{pg_service}}
    exit 0
fi
systemctl stop {{pg_service}} || true
ok=0
for i in $(seq 1 "$ATTEMPTS"); do
    rm -rf "$DATA" "$DATA.tmp"
    install -d -o postgres -g postgres -m 0700 "$DATA.tmp"
    if runuser -u postgres -- pg_basebackup -d "$CONNINFO application_name=$APP_NAME" \
            -D "$DATA.tmp" -R -X stream -c fast --no-password; then
        mv "$DATA.tmp" "$DATA"
        ok=1
        break
    fi
    echo "resilient-stack: primary $PRIMARY_HOST not ready (attempt $i/$ATTEMPTS); retrying in ${INTERVAL}s" >&2
    sleep "$INTERVAL"
done
if [ "$ok" != 1 ]; then
    rm -rf "$DATA.tmp"
    echo "resilient-stack: could not clone the primary $PRIMARY_HOST after $ATTEMPTS attempts" >&2
    exit 1
fi
systemctl start {{pg_service}}
wait_local_pg
for _ in $(seq 1 60); do
    if [ "$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')" = t ]; then
        echo "resilient-stack: streaming replica of $PRIMARY_HOST ready"
        exit 0
    fi
    sleep 1
done
echo "resilient-stack: cluster did not come up in recovery" >&2
exit 1
