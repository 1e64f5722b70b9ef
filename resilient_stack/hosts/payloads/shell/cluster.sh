#!/bin/bash
# resilient-stack-cluster -- the database cluster as Patroni sees it: patronictl with this host's configuration.
#
# Usage: resilient-stack-cluster [list | role | PATRONICTL-ARGUMENTS...]
#   list (default)  every member with its role (Leader / Replica), state, timeline and lag
#   role            this host's role: primary or replica
#   anything else   handed to patronictl, e.g. `switchover` (a planned change of primary), `history`
# Failover needs no operator: when the primary is lost, Patroni promotes the most advanced replica.
set -euo pipefail
CONF={{patroni_conf}}
[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
case "${1:-list}" in
    -h|--help) sed -n "2,8p" "$0" ;;
    role)
        case "$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')" in
            t) echo replica ;;
            f) echo primary ;;
            *) echo "cannot query the local PostgreSQL" >&2; exit 1 ;;
        esac ;;
    list) exec runuser -u postgres -- patronictl -c "$CONF" list ;;
    *) exec runuser -u postgres -- patronictl -c "$CONF" "$@" ;;
esac
