#!/bin/bash
# Managed by resilient_stack (cloud-init): Patroni's post_bootstrap. Runs once, as postgres, on the member
# that initialised the cluster, with the local connection string as its argument; creates the application's
# role, database and table. The password is read from a file, never from the command line.
set -euo pipefail
psql -X -q -v ON_ERROR_STOP=1 -d "$1" -f {{db_init_sql}}
echo "resilient-stack: application database ready"
