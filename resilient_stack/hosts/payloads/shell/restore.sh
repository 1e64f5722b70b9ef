#!/bin/bash
# Managed by resilient_stack (cloud-init): Patroni's custom bootstrap when the stack's database.bootstrapFrom is
# "backup". Patroni runs it, as postgres, instead of initdb when it initialises a NEW cluster (never on a member
# of a running cluster): the newest backup of the repository is restored into the empty data directory, with
# pgBackRest's restore_command and recovery.signal; Patroni then starts PostgreSQL, which replays every WAL
# segment the archive holds after that backup and, at the end of the archive, is promoted on a new timeline.
set -euo pipefail
echo "resilient-stack-restore: restoring the newest backup of stanza {{stanza}} into {{data}}"
pgbackrest --stanza={{stanza}} --log-level-console=info info
exec pgbackrest --stanza={{stanza}} --pg1-path={{data}} --log-level-console=info restore
