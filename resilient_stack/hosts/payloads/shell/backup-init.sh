#!/bin/bash
# Managed by resilient_stack (cloud-init): create the pgBackRest stanza in object storage,
# check WAL archiving, then start a first full backup in the background.
set -euo pipefail
{{wait_local_pg}}
wait_local_pg
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
