#!/bin/bash
# Managed by resilient_stack (cloud-init): etcd's RBAC, idempotent, run by db-start on every member once etcd
# answers. Patroni is user `patroni` (its password: Patroni's configuration, written by root's sync), with a role
# that reads and writes its own keys ({{prefix}}) and nothing else; `root` exists for the hosts' maintenance, which
# authenticates with root's certificate (its password is random and thrown away). Then authentication is enabled:
# from here on, a client needs a certificate of the cluster's CA AND an etcd user.
set -euo pipefail
E={{etcdctl}}
say() { echo "resilient-stack-etcd-auth: $*"; }
password=$(python3 -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["etcd3"]["password"])' {{patroni_conf}})
[ -n "$password" ] || { say "Patroni's etcd password is not written yet (root's sync)"; exit 1; }
$E role get patroni >/dev/null 2>&1 || $E role add patroni >/dev/null
$E role grant-permission patroni --prefix=true readwrite {{prefix}} >/dev/null
if ! $E user get root >/dev/null 2>&1; then
    head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | $E user add root --interactive=false >/dev/null
fi
$E user grant-role root root >/dev/null
if ! $E user get patroni >/dev/null 2>&1; then
    printf '%s\n' "$password" | $E user add patroni --interactive=false >/dev/null
fi
$E user grant-role patroni patroni >/dev/null
$E auth enable >/dev/null
say "users root and patroni, role patroni on {{prefix}}, authentication enabled"
