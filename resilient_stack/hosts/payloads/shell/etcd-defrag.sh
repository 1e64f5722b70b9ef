#!/bin/bash
# Managed by resilient_stack (cloud-init): upkeep of this host's etcd member, hourly at this member's own minute
# (resilient-stack-etcd-defrag.timer: never two members at once). Compaction (etcd's own, periodic) frees space
# inside the database; defragmentation gives it back to the file system, which is what etcd's quota counts. It
# defragments weekly (Sunday, at this member's hour), and at once when an alarm is raised (NOSPACE: the cluster
# refuses every write, failovers included) or the database passed half its quota; then it disarms the alarm once
# the database is below 80 % of its quota again. Otherwise it only says the sizes. --now: defragment anyway.
set -euo pipefail
E={{etcdctl}}
WEEKLY_HOUR={{weekly_hour}}
say() { echo "resilient-stack-etcd-defrag: $*"; }
status() { $E endpoint status -w json | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; print(s["dbSize"], s.get("dbSizeInUse", s["dbSize"]), s["header"]["revision"])'; }
kib() { echo "$(( $1 / 1024 )) KiB"; }
read -r size used revision < <(status)
alarms=$($E alarm list)
quota=$(( {{quota_mb}} * 1048576 ))
if [ "${1:-}" = --now ] || [ -n "$alarms" ] || [ "$size" -gt $(( quota / 2 )) ] || \
        { [ "$(date +%u)" = 7 ] && [ "$(date +%H)" = "$WEEKLY_HOUR" ]; }; then
    say "before: database $(kib "$size") ($(kib "$used") in use), revision $revision, quota {{quota_mb}} MiB${alarms:+, alarms: $alarms}"
    $E defrag --command-timeout=120s
    read -r size used revision < <(status)
    say "after: database $(kib "$size") ($(kib "$used") in use)"
else
    say "database $(kib "$size") ($(kib "$used") in use) of a {{quota_mb}} MiB quota, no alarm: nothing to do"
fi
if [ -n "$alarms" ]; then
    if [ "$size" -lt $(( quota * 8 / 10 )) ]; then
        $E alarm disarm
        say "disarmed: this member's database is below 80 % of its quota again (each member defragments itself within the hour)"
    else
        say "NOT disarmed: the database is still at $(kib "$size") of {{quota_mb}} MiB (docs/operations.md#etcd-upkeep)"
        exit 1
    fi
fi
