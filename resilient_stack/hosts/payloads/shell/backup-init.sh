#!/bin/bash
# Managed by resilient_stack (cloud-init): the backups' catch-up, run by resilient-stack-backup-init.timer on
# every database member (soon after boot, then every minute), never by cloud-init, so a host whose repository
# cannot be reached finishes its boot and serves. It acts on the current primary only:
#  - a repository without the stanza (a new one, or one that lost it): create it, and say which;
#  - no valid backup in the repository: start a full backup;
#  - WAL archiving failed since the newest backup (pgBackRest may have dropped WAL, archive-push-queue-max):
#    once archiving works again, start a differential backup, from which a restore is possible again;
#  - the cluster runs on a newer timeline than the newest backup (a failover: the former primary may not have
#    archived its last segments, and the replicas never archive): once `pgbackrest check` shows archiving works from
#    this primary, start a differential backup on the new timeline, so a restore never has to cross the gap.
# A repository that cannot be reached: say so, and try again at the next run.
# What the primary read of the repository (readable or not, when its newest backup ended) is written for the node
# exporter ({{metrics}}): the monitoring hosts' BackupLate and BackupRepositoryUnreadable alerts. Only the current
# primary exports it; a replica removes what it wrote while it was the primary.
set -uo pipefail
STATE={{state_dir}}
mkdir -p "$STATE"
say() { echo "resilient-stack-backup-init: $*"; echo "$(date -u +%FT%TZ) $*" > "$STATE/last"; }
as_pg() { runuser -u postgres -- "$@"; }
metrics() {  # readable (0|1), the newest backup's end (epoch; empty or 0: none known)
    mkdir -p "$(dirname {{metrics}})"
    {
        echo "# TYPE resilient_stack_backup_repository_readable gauge"
        echo "resilient_stack_backup_repository_readable $1"
        if [ -n "$2" ] && [ "$2" != 0 ]; then
            echo "# TYPE resilient_stack_backup_newest_timestamp_seconds gauge"
            echo "resilient_stack_backup_newest_timestamp_seconds $2"
        fi
    } > "{{metrics}}.tmp" && mv "{{metrics}}.tmp" "{{metrics}}"
}
recovery=$(as_pg timeout 10 psql -XAtq -c 'SELECT pg_is_in_recovery()' 2>/dev/null)
if [ "$recovery" != f ]; then
    rm -f "{{metrics}}"
    echo "resilient-stack-backup-init: not the primary (or PostgreSQL not up yet): nothing to do"
    exit 0
fi
# pgBackRest (2.45, Debian 12) applies archive-push-queue-max only when its asynchronous archiving process
# starts: one stuck on a repository that does not answer lets WAL pile up until it ends (pgbackrest/pgbackrest
# issues 1848 and 2629). Over the limit, end it: the next archive-push starts a new one, which drops the queue.
waiting_mb=$(( $(find {{pg_data}}/pg_wal/archive_status -name '*.ready' | wc -l) * 16 ))
if [ "$waiting_mb" -gt {{queue_max_mb}} ]; then
    for pid in $(pgrep -u postgres -f '^pgbackrest .*archive-push:async'); do
        if [ "$(ps -o etimes= -p "$pid" | tr -d ' ')" -gt 60 ]; then
            say "$waiting_mb MiB of WAL wait for the repository (over {{queue_max_mb}} MiB): ending the stuck archiving process $pid so that pgBackRest drops the queue"
            kill "$pid"
        fi
    done
fi
info=$(as_pg timeout -k 5 90 pgbackrest --stanza={{stanza}} --output=json info 2>&1)
read -r code backups newest newest_tl < <(printf '%s' "$info" | python3 -c '
import json, sys
try:
    stanza = json.load(sys.stdin)[0]
except (ValueError, IndexError, KeyError):
    print(99, 0, 0, 0)
else:
    done = sorted((b["timestamp"]["stop"], int(b["archive"]["start"][:8], 16)) for b in stanza.get("backup", []))
    print(stanza["status"]["code"], len(done), done[-1][0] if done else 0, done[-1][1] if done else 0)
')
# what the repository says is exported first, also while a backup runs (pgBackRest's info takes no lock): with a
# schedule of minutes a backup often runs, and a primary that never exported would hide its backups' age
case "$code" in
0|2) metrics 1 "$newest" ;;
1|3) metrics 1 "" ;;
*)
    metrics 0 "$(sed -n 's/^resilient_stack_backup_newest_timestamp_seconds //p' "{{metrics}}" 2>/dev/null)"
    say "the repository cannot be read (status $code): trying again at the next run; $(printf '%s' "${info:-no answer within 90 s}" | tr '\n' ' ' | cut -c1-300)"
    exit 0 ;;
esac
for unit in {{full_unit}} {{diff_unit}}; do
    if systemctl is-active --quiet "$unit"; then
        echo "resilient-stack-backup-init: $unit is running"
        exit 0
    fi
done
case "$code" in
1|3)
    # no stanza in the repository: a new repository, or one that lost its content (this host created the stanza
    # before, or this cluster archived WAL before: on another member, before a failover)
    archived=$(as_pg timeout 10 psql -XAtq -c "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")
    if [ -e "$STATE/stanza-created" ] || [ -n "$archived" ]; then
        say "the repository lost its stanza (created here: $(cat "$STATE/stanza-created" 2>/dev/null || echo no); last WAL archived: ${archived:-none}): creating it again; the backups and WAL archived before are not in it"
    else
        say "the repository has no stanza yet: creating it"
    fi
    if ! as_pg timeout 300 pgbackrest --stanza={{stanza}} stanza-create; then
        say "stanza-create failed: trying again at the next run"
        exit 0
    fi
    date -u +%FT%TZ > "$STATE/stanza-created"
    backups=0 ;;
esac
if [ "$backups" = 0 ]; then
    if as_pg timeout 300 pgbackrest --stanza={{stanza}} check; then
        say "no backup in the repository: starting a full backup"
        systemctl start --no-block {{full_unit}}
    else
        say "archiving does not work yet: trying again at the next run"
    fi
    exit 0
fi
failed=$(as_pg timeout 10 psql -XAtq -c "SELECT coalesce(extract(epoch FROM last_failed_time)::bigint, 0) FROM pg_stat_archiver")
if [ "${failed:-0}" -gt "$newest" ]; then
    if as_pg timeout 300 pgbackrest --stanza={{stanza}} check; then
        say "WAL archiving failed at $(date -u -d "@$failed" +%FT%TZ), after the newest backup: WAL may have been dropped; starting a differential backup"
        systemctl start --no-block {{diff_unit}}
    else
        say "WAL archiving still fails: trying again at the next run"
    fi
    exit 0
fi
timeline=$(as_pg timeout 10 psql -XAtq -c "SELECT timeline_id FROM pg_control_checkpoint()")
if [ -n "$timeline" ] && [ "$timeline" -gt "${newest_tl:-0}" ]; then
    if as_pg timeout 300 pgbackrest --stanza={{stanza}} check; then
        say "the cluster is on timeline $timeline, the newest backup on timeline $newest_tl (a failover): starting a differential backup on the new timeline"
        systemctl start --no-block {{diff_unit}}
    else
        say "the cluster is on timeline $timeline, the newest backup on timeline $newest_tl, and archiving does not work from this primary yet: trying again at the next run"
    fi
    exit 0
fi
echo "resilient-stack-backup-init: the repository holds $backups backup(s) on timeline $newest_tl and archiving has not failed since the newest"
echo "$(date -u +%FT%TZ) ok: $backups backup(s)" > "$STATE/last"
