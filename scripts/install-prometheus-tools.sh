#!/usr/bin/env bash
# promtool and amtool, from the Debian packages the monitoring hosts install (prometheus, prometheus-alertmanager),
# unpacked (not installed) into ~/.cache/resilient-stack/prometheus/tools: the tests check the stack's alert rules and
# Alertmanager's configuration with the very tools of the hosts (make tools). The versions unpacked are in
# tools/VERSIONS; a newer candidate in apt unpacks again.
# Prints two lines: promtool, then amtool. --check: downloads nothing, exit 1 when one is missing.
set -euo pipefail
dir="${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/prometheus/tools"
promtool="$dir/usr/bin/promtool"
amtool="$dir/usr/bin/amtool"
if [ "${1:-}" = --check ]; then
  echo "$promtool"
  echo "$amtool"
  [ -x "$promtool" ] && [ -x "$amtool" ]
  exit
fi
version() { apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: //p'; }
if [ -z "$(version prometheus)" ] && [ "$(id -u)" = 0 ]; then
  apt-get update -qq
fi
p=$(version prometheus)
a=$(version prometheus-alertmanager)
if [ -z "$p" ] || [ -z "$a" ]; then
  echo "[prometheus] Debian's prometheus packages are not known to apt" >&2
  exit 1
fi
if [ ! -x "$promtool" ] || [ ! -x "$amtool" ] || [ "$(cat "$dir/VERSIONS" 2>/dev/null)" != "$p $a" ]; then
  echo "[prometheus] unpacking promtool $p and amtool $a from Debian's packages" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -qq "prometheus=$p" "prometheus-alertmanager=$a" 2>/dev/null)
  mkdir -p "$tmp/root"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$tmp/root"; done
  echo "$p $a" > "$tmp/root/VERSIONS"
  rm -rf "$dir" && mkdir -p "$(dirname "$dir")" && mv "$tmp/root" "$dir"
fi
echo "$promtool"
echo "$amtool"
