#!/bin/bash
# fire drill visitor: requests to the stack's entry point as a browser makes them. The name resolves (the
# system's resolver: this container's /etc/hosts holds the stack's A record set) to its addresses, in the
# resolver's order; the visitor connects to them in turn, giving each CONNECT_TIMEOUT seconds, and sends the
# request to the first that accepts (a request sent is never sent again to another address).
#   visitor.sh get   URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT [RESOLVER]   GET URL/ (the page), expects 200
#   visitor.sh write URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT [RESOLVER]   POST URL/api/writes?n=N, expects 201
#   visitor.sh resolve URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT RESOLVER    the name's A records (DETAIL)
# With RESOLVER, the name resolves through that recursive resolver (dig), not the system's (/etc/hosts).
# One line per attempt:  ok|err N START END REMOTE_IP DETAIL   (epoch seconds; DETAIL: the placement that served
# the page, the database member that committed the row, or the error). Bounded in count and time; stops when
# /run/firedrill/stop exists. Writes carry the stack's write token (RS_WRITE_TOKEN, from the environment).
set -u
mode=$1 url=$2 interval=$3 first=$4 count=$5 seconds=$6 connect_timeout=$7 resolver=${8:-}
case "$mode" in
    get) method=GET; want=200; max_time=$((connect_timeout + 5)) ;;
    resolve) [ -n "$resolver" ] || { echo "resolve: RESOLVER is not set" >&2; exit 2; } ;;
    write) method=POST; want=201; max_time=$((connect_timeout + 30))
           [ -n "${RS_WRITE_TOKEN:-}" ] || { echo "write: RS_WRITE_TOKEN is not set" >&2; exit 2; } ;;
    *) echo "usage: $0 get|write|resolve URL INTERVAL FIRST COUNT SECONDS CONNECT_TIMEOUT [RESOLVER]" >&2; exit 2 ;;
esac
scheme=${url%%://*}
name=${url#*://}
port=80
[ "$scheme" = https ] && port=443
case "$name" in *:*) port=${name##*:}; name=${name%:*} ;; esac
deadline=$(( $(date +%s) + seconds ))
body=$(mktemp) err=$(mktemp)
trap 'rm -f "$body" "$err"' EXIT
n=$first
last=$((first + count))
addresses() {  # the name's IPv4 addresses, in the resolver's order
    if [ -n "$resolver" ]; then
        dig +short +time=2 +tries=1 @"$resolver" "$name" A | grep -E '^[0-9]+([.][0-9]+){3}$'
    else
        getent ahostsv4 "$name" | awk '$2 == "STREAM" { print $1 }'
    fi
}
while [ ! -e /run/firedrill/stop ] && [ "$n" -lt "$last" ] && [ "$(date +%s)" -lt "$deadline" ]; do
    if [ "$mode" = resolve ]; then
        t0=$(date +%s.%N)
        answer=$(addresses | sort | paste -sd, -)
        t1=$(date +%s.%N)
        if [ -n "$answer" ]; then echo "ok $n $t0 $t1 - $answer"; else echo "err $n $t0 $t1 - no answer"; fi
        n=$((n + 1))
        sleep "$interval"
        continue
    fi
    target="$url/"
    [ "$mode" = write ] && target="$url/api/writes?n=$n"
    t0=$(date +%s.%N)
    code=000 ip=- rc=6
    : > "$err"
    for address in $(addresses); do
        : > "$body"
        : > "$err"  # the error of the last address tried
        auth=()
        [ "$mode" = write ] && auth=(-H "Authorization: Bearer $RS_WRITE_TOKEN")
        meta=$(curl -sS -k -X "$method" "${auth[@]}" -o "$body" -w '%{http_code} %{time_connect}' \
            --resolve "$name:$port:$address" --connect-timeout "$connect_timeout" --max-time "$max_time" "$target" \
            2>"$err")
        rc=$?
        code=${meta%% *}
        if [ "${meta#* }" != "0.000000" ]; then  # connected: this address answers the request, right or wrong
            ip=$address
            break
        fi
    done
    t1=$(date +%s.%N)
    if [ "$rc" = 0 ] && [ "$code" = "$want" ]; then
        if [ "$mode" = write ]; then
            detail=$(sed -n 's/.*"database": "\([^"]*\)".*/\1/p' "$body")
        else
            detail=$(sed -n 's/.*id="placement">\([^<]*\)<.*/\1/p' "$body")
        fi
        echo "ok $n $t0 $t1 $ip ${detail:--}"
    else
        message=$({ tail -c 300 "$err"; echo; head -c 200 "$body"; } | tr -s ' \n' '  ' | sed 's/^ //; s/ $//')
        echo "err $n $t0 $t1 $ip HTTP ${code:-000}: $message"
    fi
    n=$((n + 1))
    sleep "$interval"
done
echo "end $n"
