#!/bin/bash
# resilient-stack-etcdctl -- etcdctl as etcd's root user, with this member's administrator certificate (etcd maps its
# common name, root, to the user; only root reads its key). Every connection to etcd is mutual TLS.
#
# Usage: resilient-stack-etcdctl [--all | --others] ETCDCTL-ARGUMENTS...
#   (default)  this member's endpoint          e.g. endpoint status -w table, alarm list
#   --all      every member's endpoint         e.g. --all endpoint health
#   --others   every other member's endpoint   (what a member whose own etcd is not up can ask)
set -euo pipefail
[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
endpoints=https://127.0.0.1:{{client_port}}
case "${1:-}" in
    --all) shift; endpoints={{all_endpoints}} ;;
    --others) shift; endpoints={{other_endpoints}} ;;
    -h|--help) sed -n "2,9p" "$0"; exit 0 ;;
esac
export ETCDCTL_API=3
exec etcdctl --endpoints="$endpoints" --cacert={{ca}} --cert={{cert}} --key={{key}} \
    --dial-timeout=3s --command-timeout=15s "$@"
