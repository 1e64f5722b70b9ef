#!/usr/bin/env bash
# Fetch the official SARIF 2.1.0 JSON schema (as shipped in the npm package @microsoft/jest-sarif)
# into a cache outside the repo, for the tests that validate `resilient-stack audit --format sarif`.
set -euo pipefail
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/sarif"
OUT="$CACHE/sarif-schema-2.1.0.json"
if [ -s "$OUT" ]; then echo "$OUT"; exit 0; fi
mkdir -p "$CACHE"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
( cd "$tmp" && npm pack --silent @microsoft/jest-sarif@1.0.0-beta.0 >/dev/null )
tar -xzf "$tmp"/microsoft-jest-sarif-*.tgz -C "$tmp" package/lib/schemas/sarif-2.1.0-rtm.5.json
mv "$tmp/package/lib/schemas/sarif-2.1.0-rtm.5.json" "$OUT"
echo "$OUT"
