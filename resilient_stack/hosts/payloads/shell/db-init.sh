#!/bin/bash
# Managed by resilient_stack (cloud-init): create/refresh the replication and application roles
# and the application database on the primary. Idempotent. Secrets are read from files.
set -euo pipefail
{{wait_local_pg}}
wait_local_pg
runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -d postgres -f {{db_init_sql}}
echo "resilient-stack: database roles ready"
