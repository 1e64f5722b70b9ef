#!/usr/bin/env bash
# Fetch cloud-init's own code + JSON schema (Debian bookworm's package) WITHOUT installing cloud-init:
# `apt-get download cloud-init` and `dpkg-deb -x` into the cache dir below. The unit tests then call
# cloudinit.config.schema from there to validate every rendered #cloud-config document.
#
# Cached and idempotent: does nothing when the schema is already extracted (FORCE=1 re-fetches).
# Needs apt (Debian); `apt-get update` is run once if the package is unknown to apt.
# Also needed in the Python environment running the tests: PyYAML, jsonschema (cloud-init's own deps
# for schema validation); both are already test dependencies of resilient_stack.
#
# Prints the extraction root (the directory to put on sys.path is $ROOT/usr/lib/python3/dist-packages).
set -euo pipefail

DEST="${RESILIENT_STACK_CLOUD_INIT_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/cloud-init}"
SCHEMA="$DEST/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json"

log() { echo "[cloud-init-schema] $*" >&2; }

if [ "${FORCE:-0}" != 1 ] && [ -s "$SCHEMA" ]; then
    log "already present: $DEST ($(cat "$DEST/VERSION" 2>/dev/null || echo unknown version))"
    echo "$DEST"
    exit 0
fi
command -v apt-get >/dev/null || { log "ERROR: apt-get not found (a Debian/Ubuntu machine is needed)"; exit 1; }

TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
cd "$TMP"
if ! apt-cache show cloud-init >/dev/null 2>&1; then
    log "apt does not know cloud-init yet: apt-get update"
    apt-get update -qq
fi
log "apt-get download cloud-init"
if ! apt-get download -qq cloud-init >/dev/null 2>&1; then
    log "download failed; apt-get update and retry"
    apt-get update -qq
    apt-get download -qq cloud-init >/dev/null
fi
debs=("$TMP"/cloud-init_*.deb)
DEB="${debs[0]}"
[ -f "$DEB" ] || { log "ERROR: apt-get download produced no cloud-init .deb"; exit 1; }
rm -rf "$DEST.new"
mkdir -p "$DEST.new"
dpkg-deb -x "$DEB" "$DEST.new"
dpkg-deb -f "$DEB" Version > "$DEST.new/VERSION"
[ -s "$DEST.new/usr/lib/python3/dist-packages/cloudinit/config/schemas/schema-cloud-config-v1.json" ] \
    || { log "ERROR: $DEB holds no cloud-config schema"; exit 1; }
rm -rf "$DEST"
mv "$DEST.new" "$DEST"
log "cloud-init $(cat "$DEST/VERSION") extracted to $DEST"
echo "$DEST"
