#!/bin/bash
# fire drill visitor: requests to the stack's entry point as a browser or curl makes them. The name resolves
# to the stack's A record set (this container's /etc/hosts holds it, in the record set's order), and curl tries
# the addresses in turn, each within its share of the connect timeout.
#   visitor.sh get   URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT   GET URL/ (the page), expects 200
#   visitor.sh write URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT   POST URL/api/writes?n=N, expects 201
# One line per attempt:  ok|err N START END REMOTE_IP DETAIL   (epoch seconds; DETAIL: the placement that served
# the page, the database member that committed the row, or the error). Bounded in count and time; stops when
# /run/firedrill/stop exists.
set -u
mode=$1 url=$2 interval=$3 first=$4 count=$5 seconds=$6 connect_timeout=$7
case "$mode" in
    get) method=GET; want=200; max_time=$((connect_timeout + 5)) ;;
    write) method=POST; want=201; max_time=$((connect_timeout + 30)) ;;
    *) echo "usage: $0 get|write URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT" >&2; exit 2 ;;
esac
deadline=$(( $(date +%s) + seconds ))
body=$(mktemp) err=$(mktemp)
trap 'rm -f "$body" "$err"' EXIT
n=$first
last=$((first + count))
while [ ! -e /run/firedrill/stop ] && [ "$n" -lt "$last" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    target="$url/"
    [ "$mode" = write ] && target="$url/api/writes?n=$n"
    : > "$body"
    t0=$(date +%s.%N)
    meta=$(curl -sS -k -X "$method" -o "$body" -w '%{http_code} %{remote_ip}' \
        --connect-timeout "$connect_timeout" --max-time "$max_time" "$target" 2>"$err")
    rc=$?
    t1=$(date +%s.%N)
    code=${meta%% *}
    ip=${meta#* }
    [ -n "$ip" ] && [ "$ip" != "$meta" ] || ip=-
    if [ "$rc" = 0 ] && [ "$code" = "$want" ]; then
        if [ "$mode" = write ]; then
            detail=$(sed -n 's/.*"database": "\([^"]*\)".*/\1/p' "$body")
        else
            detail=$(sed -n 's/.*id="placement">\([^<]*\)<.*/\1/p' "$body")
        fi
        echo "ok $n $t0 $t1 $ip ${detail:--}"
    else
        echo "err $n $t0 $t1 $ip HTTP ${code:-000}: $(head -c 200 "$err" "$body" 2>/dev/null | grep -v '^==>' | tr '\n' ' ')"
    fi
    n=$((n + 1))
    sleep "$interval"
done
echo "end $n"
