#!/bin/bash
# Managed by resilient_stack (cloud-init): create the pgBackRest stanza in object storage,
# check WAL archiving, then start a first full backup in the background. Only on the primary.
set -euo pipefail
{{wait_local_pg}}
wait_local_pg
if [ "$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')" != f ]; then
    echo "resilient-stack: not the primary: the primary creates the stanza"
    exit 0
fi
for i in $(seq 1 10); do
    if runuser -u postgres -- pgbackrest --stanza={{stanza}} stanza-create; then
        runuser -u postgres -- pgbackrest --stanza={{stanza}} check
        systemctl start --no-block {{full_backup_unit}}
        exit 0
    fi
    echo "resilient-stack: stanza-create failed (attempt $i/10); retrying" >&2
    sleep 6
done
echo "resilient-stack: could not reach the backup repository" >&2
exit 1
