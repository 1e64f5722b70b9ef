# shellcheck shell=bash
# Helpers sourced by the scripts of the local OpenStack image (inside the container).
# /etc/rs-os/backend.json (written by scripts/local-openstack/local_openstack.py) says what this container is.
# shellcheck disable=SC2034 # used by the scripts that source this file
RS=/opt/rs-os
BACKEND=/etc/rs-os/backend.json
STATE=/var/lib/rs-os
LOG=/var/log/rs-os
mkdir -p "$STATE" "$LOG"

ts() { date +%s.%N; }
since() { awk "BEGIN{printf \"%.1f\", $(ts)-$1}"; }
say() { echo "[rs-os $(date +%H:%M:%S)] $*"; }

# jget KEY: one value of backend.json (dotted path), empty when absent
jget() { python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v=v.get(k) if isinstance(v,dict) else None
print("" if v is None else (v if isinstance(v,str) else json.dumps(v)))' "$BACKEND" "$1"; }

# wait_port PORT [TIMEOUT_S]: a TCP port of this container answers
wait_port() {
  local i=0
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    i=$((i+1)); [ "$i" -gt "${2:-120}" ] && { say "port $1 never opened"; return 1; }; sleep 1
  done
}

# wait_url URL [TIMEOUT_S]: an HTTP(S) URL answers (any status)
wait_url() {
  local i=0
  local ca=()
  [ -s /etc/rs-os/tls/ca.pem ] && ca=(--cacert /etc/rs-os/tls/ca.pem)
  while ! curl -s -o /dev/null --max-time 5 "${ca[@]}" "$1"; do
    i=$((i+1)); [ "$i" -gt "${2:-120}" ] && { say "$1 never answered"; return 1; }; sleep 1
  done
}
