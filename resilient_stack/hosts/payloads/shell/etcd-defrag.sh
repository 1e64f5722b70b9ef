#!/bin/bash
# Managed by resilient_stack (cloud-init): weekly upkeep of this host's etcd member (resilient-stack-etcd-defrag.timer,
# each member at its own hour: never two at once). Compaction (etcd's own, periodic) frees space inside the database;
# defragmentation gives it back to the file system. An alarm (NOSPACE after all: a quota reached) is said, and
# disarmed once compaction and defragmentation made room again.
set -euo pipefail
E={{etcdctl}}
say() { echo "resilient-stack-etcd-defrag: $*"; }
status() { $E endpoint status -w json | python3 -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; print(s["dbSize"], s.get("dbSizeInUse", s["dbSize"]), s["header"]["revision"])'; }
read -r size used revision < <(status)
say "before: database $((size / 1048576)) MiB ($((used / 1048576)) MiB in use), revision $revision, quota {{quota_mb}} MiB"
alarms=$($E alarm list)
$E defrag --command-timeout=120s
read -r size used revision < <(status)
say "after: database $((size / 1048576)) MiB ($((used / 1048576)) MiB in use)"
if [ -n "$alarms" ]; then
    say "alarms were raised: $alarms"
    if [ "$size" -lt $(( {{quota_mb}} * 1048576 * 8 / 10 )) ]; then
        $E alarm disarm
        say "disarmed: the database is below 80 % of its quota again"
    else
        say "NOT disarmed: the database is still at $((size / 1048576)) MiB of {{quota_mb}} MiB (docs/operations.md#etcd)"
        exit 1
    fi
fi
