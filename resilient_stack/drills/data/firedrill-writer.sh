#!/bin/bash
# fire drill writer: numbered, committed writes to the database host named in /run/firedrill/target,
# one INSERT per connection (autocommit: psql exits 0 only once the COMMIT is acknowledged).
# One line per attempt:  ack|err N START END HOST [error]   (epoch seconds). Bounded in rows and time;
# stops when /run/firedrill/stop exists.
set -u
db=$1 user=$2 max_rows=$3 max_seconds=$4
deadline=$(( $(date +%s) + max_seconds ))
n=0
while [ ! -e /run/firedrill/stop ] && [ "$n" -lt "$max_rows" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    n=$((n + 1))
    host=$(cat /run/firedrill/target)
    t0=$(date +%s.%N)
    if out=$(timeout 3 psql -XAtq -v ON_ERROR_STOP=1 \
            "host=$host dbname=$db user=$user sslmode=require connect_timeout=2" \
            -c "INSERT INTO firedrill_writes (n) VALUES ($n)" 2>&1); then
        echo "ack $n $t0 $(date +%s.%N) $host"
    else
        echo "err $n $t0 $(date +%s.%N) $host $(printf '%s' "$out" | tr '\n' ' ' | cut -c1-160)"
    fi
    sleep 0.05
done
echo "end $n"
