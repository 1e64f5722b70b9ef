#!/bin/bash
# resilient-stack-cluster -- the database cluster as Patroni sees it: patronictl with this host's configuration.
#
# Usage: resilient-stack-cluster [list | role | switchover ... | PATRONICTL-ARGUMENTS...]
#   list (default)  every member with its role (Leader / Sync Standby / Replica), state, timeline and lag
#   role            this host's role: primary or replica
#   switchover      a planned change of primary (patronictl switchover); with synchronous replication it then
#                   waits until the new primary has a synchronous standby again (up to 120 s) and says so
#   anything else   handed to patronictl, e.g. `history`
# Failover needs no operator: when the primary is lost, Patroni promotes the synchronous standby (with
# synchronous replication) or the most advanced replica (without). With synchronous replication, while no
# standby is synchronous (seconds after a switchover or a restart) no replica may be promoted automatically.
set -euo pipefail
CONF={{patroni_conf}}
[ "$(id -u)" = 0 ] || { echo "run as root (sudo $0)" >&2; exit 1; }
ctl() { runuser -u postgres -- patronictl -c "$CONF" "$@"; }
case "${1:-list}" in
    -h|--help) sed -n "2,12p" "$0" ;;
    role)
        case "$(runuser -u postgres -- psql -XAtq -c 'SELECT pg_is_in_recovery()')" in
            t) echo replica ;;
            f) echo primary ;;
            *) echo "cannot query the local PostgreSQL" >&2; exit 1 ;;
        esac ;;
    list) ctl list ;;
    switchover)
        ctl "$@"
        ctl show-config | grep -qx 'synchronous_mode: true' || exit 0
        for _ in $(seq 1 120); do
            if ctl list | grep -q '| Sync Standby |'; then ctl list; exit 0; fi
            sleep 1
        done
        ctl list
        echo "no synchronous standby after 120 s: until one streams, losing the primary promotes no replica" >&2
        exit 1 ;;
    *) ctl "$@" ;;
esac
