#!/usr/bin/env bash
# Provide the real Pulumi engine: the pulumi you installed, else one built offline.
#
#   1. A pulumi on PATH (installed the usual way, https://www.pulumi.com/docs/install/), v3.274 or newer 3.x with
#      its Python language host beside it, is used as it is. The resource plugins the stack pins (openstack and
#      random, the versions the pulumi-openstack and pulumi-random wheels ask for) are installed into ITS plugin
#      cache ($PULUMI_HOME, else ~/.pulumi) with `pulumi plugin install resource NAME vVERSION`, what pulumi itself
#      does at a first preview; when that fails (Pulumi's download site unreachable), the exact commands are
#      printed.
#   2. Otherwise the engine is BUILT offline, from the Go module proxy and vendored sources (machines without
#      Pulumi's download site): recipe and traps in ../shared/engine.md, sources in ../shared/vendor/README.md.
#      Without those sources it stops at once, saying both ways out.
#
# Usage: scripts/install-pulumi-engine.sh [--no-build] [VENDOR_DIR]
#   --no-build   step 1 only (`make venv`): never build; without a usable pulumi, say how to get one, exit 0.
#   VENDOR_DIR   defaults to $RESILIENT_STACK_VENDOR, else <repo root>/../shared/vendor.
#
# Result of a build (outside the repo, see scripts/engine-env.sh for the paths and their overrides):
#   $ENGINE_DIR/bin/{pulumi,pulumi-language-python,pulumi-language-python-exec}
#   $ENGINE_DIR/pulumi-home/plugins/resource-{openstack-v5.4.1,random-v4.19.1}/
# then:  source scripts/engine-env.sh
#
# Idempotent: every piece is skipped when its output already exists, so a re-run takes about a
# second.  Outputs are built in a temp dir inside $ENGINE_DIR and renamed into place, so an
# interrupted build never leaves a half binary that would later count as done.
# A clean build takes several minutes and fills about 4 GiB of Go caches (under the same cache root).
set -euo pipefail

NO_BUILD=0
if [ "${1:-}" = "--no-build" ]; then
    NO_BUILD=1
    shift
fi
START_SECONDS=$SECONDS
SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$SCRIPT_DIR/.." && pwd)"
VENDOR_DIR="${1:-${RESILIENT_STACK_VENDOR:-$REPO_ROOT/../shared/vendor}}"

# Paths only (RS_ENGINE_DIR, RS_ENGINE_BIN, RS_ENGINE_PULUMI_HOME, RS_GO_DIR, versions, ...).
# shellcheck source=scripts/engine-env.sh
RS_ENGINE_ENV_PATHS_ONLY=1 source "$SCRIPT_DIR/engine-env.sh"

# Exact upstream sources (sha256 from ../shared/vendor/README.md).
LANGHOST_SRC="pulumi-language-python-v3.259.0-main.go"
LANGHOST_SHA="af5496a36f89a58e5bc67dfeebe0053411da7dc2626107b665354b4a4c5a38e8"
OPENSTACK_TGZ="pulumi-openstack-v${RS_OPENSTACK_VERSION}-provider.tar.gz"
OPENSTACK_SHA="0d0e3057564791e098b1e764c8e0ad960e1492e6308c48cb843603db0ac519eb"
RANDOM_TGZ="pulumi-random-v${RS_RANDOM_VERSION}-provider.tar.gz"
RANDOM_SHA="501a51e6f1cd585cdeb936c9f917e8e831a5f59103bb43d95168b95d59577452"

PULUMI_MODULE="github.com/pulumi/pulumi"
VERSION_PKG="$PULUMI_MODULE/sdk/v3/go/common/version.Version"
# The two non-relative `replace` lines of pulumi's own go.mod files.  TRAP: a dependency's
# replace lines are ignored, so each wrapper module must repeat them (and `go install pkg@version`
# refuses these modules outright because they have replace lines).
REPLACES=(
    "golang.org/x/text=golang.org/x/text@v0.41.0"
    "github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e"
)

# ---- helpers -------------------------------------------------------------------------------
log() { echo "[engine] $*"; }
STEP="start"
LOG_DIR="$RS_ENGINE_DIR/logs"
BUILD_TMP=""

on_exit() {
    local rc=$?
    if [ -n "$BUILD_TMP" ]; then rm -rf "$BUILD_TMP"; fi
    if [ "$rc" -ne 0 ]; then
        echo "[engine] FAILED at step '$STEP' (exit $rc)${STEP_LOG:+; log: $STEP_LOG}" >&2
    fi
    exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step NAME: name the current step (for the failure line) and its log file.
STEP_LOG=""
step() {
    STEP="$1"
    STEP_LOG="$LOG_DIR/$1.log"
    : >"$STEP_LOG"
    log "$1 ..."
}

# run CMD...: run with output to the step's log; on failure show its tail, then fail.
run() {
    echo "+ $*" >>"$STEP_LOG"
    if ! "$@" >>"$STEP_LOG" 2>&1; then
        echo "[engine] command failed: $*" >&2
        tail -n 30 "$STEP_LOG" | sed 's/^/[engine]   | /' >&2
        return 1
    fi
}

# place SRC DEST: atomic rename into place (SRC is in $BUILD_TMP, on the same filesystem).
place() {
    chmod 0755 "$1"
    mv -f "$1" "$2"
}

check_sha() {
    local file="$VENDOR_DIR/$1" want="$2" got
    [ -f "$file" ] || { echo "[engine] missing vendored source: $file" >&2; return 1; }
    got="$(sha256sum "$file" | cut -d' ' -f1)"
    [ "$got" = "$want" ] || { echo "[engine] sha256 mismatch for $file: $got" >&2; return 1; }
}

# plugin_installed NAME VERSION: in our PULUMI_HOME, complete (pulumi writes a .partial marker
# while installing and removes it at the end).
plugin_installed() {
    local d="$RS_ENGINE_PULUMI_HOME/plugins/resource-$1-v$2"
    [ -x "$d/pulumi-resource-$1" ] && [ ! -e "$d.partial" ]
}

# has_plugins PULUMI: `pulumi plugin ls` lists both resource plugins at the pinned versions.
has_plugins() {
    local ls
    ls="$("$1" plugin ls 2>/dev/null)" || return 1
    awk -v v="$RS_OPENSTACK_VERSION" '$1=="openstack" && $2=="resource" && $3==v {f=1} END {exit !f}' <<<"$ls" &&
        awk -v v="$RS_RANDOM_VERSION" '$1=="random" && $2=="resource" && $3==v {f=1} END {exit !f}' <<<"$ls"
}

# plugin_commands: the commands that put the pinned plugins into a pulumi's plugin cache.
plugin_commands() {
    echo "pulumi plugin install resource openstack v$RS_OPENSTACK_VERSION"
    echo "pulumi plugin install resource random v$RS_RANDOM_VERSION"
}

# install_plugins PULUMI: `pulumi plugin install` of each pinned plugin it lacks (its own PULUMI_HOME, as set).
install_plugins() {
    local name version ls rc=0
    ls="$(PULUMI_SKIP_UPDATE_CHECK=true "$1" plugin ls 2>/dev/null || true)"
    for name in openstack random; do
        if [ "$name" = openstack ]; then version="$RS_OPENSTACK_VERSION"; else version="$RS_RANDOM_VERSION"; fi
        if awk -v n="$name" -v v="$version" '$1==n && $2=="resource" && $3==v {f=1} END {exit !f}' <<<"$ls"; then
            continue
        fi
        log "  + pulumi plugin install resource $name v$version"
        if ! PULUMI_SKIP_UPDATE_CHECK=true "$1" plugin install resource "$name" "v$version" 2>&1 | sed 's/^/[engine]   | /'; then
            rc=1
        fi
    done
    return "$rc"
}

# ---- 0. a suitable pulumi already installed? ----------------------------------------------
# (v3.274.x or newer 3.x, the python language host and dynamic provider beside it; the pinned plugins in its
# plugin cache, installed there when missing.)
existing="$(command -v pulumi 2>/dev/null || true)"
plugins_failed=0
why="no pulumi on PATH"
[ "$existing" != "$RS_ENGINE_BIN/pulumi" ] || why="the engine built in $RS_ENGINE_DIR is incomplete"
if [ -n "$existing" ] && [ "$existing" != "$RS_ENGINE_BIN/pulumi" ]; then
    ver="$(PULUMI_SKIP_UPDATE_CHECK=true "$existing" version 2>/dev/null || true)"
    ver="${ver#v}"
    major="${ver%%.*}"
    minor="${ver#*.}"; minor="${minor%%.*}"
    real_dir="$(dirname "$(readlink -f "$existing")")"
    why=""
    if ! [[ "$major" == 3 && "$minor" =~ ^[0-9]+$ && "$minor" -ge 274 ]]; then
        why="version '${ver:-?}' is not v3.274 or newer 3.x"
    elif ! [ -x "$(dirname "$existing")/pulumi-language-python" ] && ! [ -x "$real_dir/pulumi-language-python" ]; then
        why="no pulumi-language-python beside it"
    elif ! [ -x "$(dirname "$existing")/pulumi-resource-pulumi-python" ] && ! [ -x "$real_dir/pulumi-resource-pulumi-python" ]; then
        why="no pulumi-resource-pulumi-python beside it (Python dynamic resources: the cluster's CA)"
    elif ! PULUMI_SKIP_UPDATE_CHECK=true has_plugins "$existing"; then
        log "the installed pulumi v$ver at $existing lacks a plugin version the stack pins; installing it into its plugin cache (${PULUMI_HOME:-$HOME/.pulumi}):"
        if ! install_plugins "$existing" || ! PULUMI_SKIP_UPDATE_CHECK=true has_plugins "$existing"; then
            plugins_failed=1
            why="'pulumi plugin install' failed (is Pulumi's download site reachable?)"
        fi
    fi
    if [ -z "$why" ]; then
        log "using the installed pulumi v$ver at $existing (plugins openstack $RS_OPENSTACK_VERSION and random $RS_RANDOM_VERSION present); nothing to build"
        exit 0
    fi
    log "not using the installed pulumi at $existing: $why"
fi

if [ "$NO_BUILD" = 1 ]; then
    if [ -x "$RS_ENGINE_BIN/pulumi" ] && [ -f "$RS_ENGINE_MARKER" ]; then
        log "the engine built offline is in $RS_ENGINE_DIR (source scripts/engine-env.sh)"
    elif [ "$plugins_failed" = 1 ]; then
        log "no Pulumi engine for \`pulumi preview/up\` yet: when Pulumi's download site is reachable, run"
        plugin_commands | sed 's/^/[engine]   /'
    else
        log "no Pulumi engine for \`pulumi preview/up\` yet ($why). Install Pulumi (https://www.pulumi.com/docs/install/), then:"
        plugin_commands | sed 's/^/[engine]   /'
        log "or build one offline: bash scripts/install-pulumi-engine.sh (the Go toolchain and ../shared/vendor)"
    fi
    exit 0
fi

# ---- the offline build: what it needs, checked before anything is built ------------------------
missing=()
[ -x "$RS_ENGINE_BIN/pulumi-language-python" ] || [ -f "$VENDOR_DIR/$LANGHOST_SRC" ] || missing+=("$LANGHOST_SRC")
[ -x "$RS_ENGINE_PULUMI_HOME/plugins/resource-openstack-v$RS_OPENSTACK_VERSION/pulumi-resource-openstack" ] \
    || [ -f "$VENDOR_DIR/$OPENSTACK_TGZ" ] || missing+=("$OPENSTACK_TGZ")
[ -x "$RS_ENGINE_PULUMI_HOME/plugins/resource-random-v$RS_RANDOM_VERSION/pulumi-resource-random" ] \
    || [ -f "$VENDOR_DIR/$RANDOM_TGZ" ] || missing+=("$RANDOM_TGZ")
if [ "${#missing[@]}" -gt 0 ]; then
    STEP="check vendored sources"
    {
        echo "[engine] no usable Pulumi engine: $why."
        if [ "$plugins_failed" = 1 ]; then
            echo "[engine] Either give your pulumi the plugin versions the stack pins once Pulumi's download site is"
            echo "[engine] reachable, then run this again:"
        else
            echo "[engine] Either install Pulumi the usual way (https://www.pulumi.com/docs/install/) and the plugin versions"
            echo "[engine] the stack pins, then run this again:"
        fi
        plugin_commands | sed 's/^/[engine]   /'
        echo "[engine] or build the engine offline (no download site needed): the Go toolchain and the vendored sources,"
        echo "[engine] missing here: ${missing[*]} in $VENDOR_DIR (RESILIENT_STACK_VENDOR names another directory)."
    } >&2
    exit 1
fi

mkdir -p "$RS_ENGINE_BIN" "$RS_ENGINE_PULUMI_HOME" "$LOG_DIR"

# One build at a time per cache (e.g. parallel CI jobs on one machine).
if command -v flock >/dev/null 2>&1; then
    exec 9>"$RS_ENGINE_DIR/.lock"
    if ! flock -n 9; then
        log "another install is running on $RS_ENGINE_DIR; waiting for it"
        flock 9
    fi
fi
rm -rf "$RS_ENGINE_DIR"/.build.*            # leftovers of an interrupted run (we hold the lock)

# Our own plugin cache and no ambient plugins, for every pulumi call below.
export PULUMI_HOME="$RS_ENGINE_PULUMI_HOME"
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
export PULUMI_IGNORE_AMBIENT_PLUGINS=true

PULUMI_BIN="$RS_ENGINE_BIN/pulumi"
LANGHOST_BIN="$RS_ENGINE_BIN/pulumi-language-python"
EXEC_BIN="$RS_ENGINE_BIN/pulumi-language-python-exec"
DYNAMIC_BIN="$RS_ENGINE_BIN/pulumi-resource-pulumi-python"

need_go=0
[ -x "$PULUMI_BIN" ] || need_go=1
[ -x "$LANGHOST_BIN" ] || need_go=1
[ -x "$EXEC_BIN" ] || need_go=1
[ -x "$DYNAMIC_BIN" ] || need_go=1
plugin_installed openstack "$RS_OPENSTACK_VERSION" || need_go=1
plugin_installed random "$RS_RANDOM_VERSION" || need_go=1

if [ "$need_go" = 1 ]; then
    log "building into $RS_ENGINE_DIR (Go caches: $RS_GO_DIR); a clean build takes several minutes"
    command -v go >/dev/null 2>&1 || { STEP="check go"; echo "[engine] Go is required to build the engine" >&2; exit 1; }
    command -v python3 >/dev/null 2>&1 || { STEP="check python3"; echo "[engine] python3 is required" >&2; exit 1; }
    # Go caches outside the repo and outside the user's own GOPATH.  GOPROXY/GOSUMDB are left as
    # set.  -modcacherw keeps the module cache deletable with a plain rm -rf.
    export GOPATH="$RS_GO_DIR/gopath"
    export GOMODCACHE="$RS_GO_DIR/mod"
    export GOCACHE="$RS_GO_DIR/build"
    export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw"
    mkdir -p "$GOPATH" "$GOMODCACHE" "$GOCACHE"
    BUILD_TMP="$(mktemp -d "$RS_ENGINE_DIR/.build.XXXXXX")"
    mkdir -p "$BUILD_TMP/out"
fi

# wrapper_module DIR MODULE_PATH: a go.mod requiring pkg/v3 + sdk/v3 at the engine version.
wrapper_module() {
    local r args=()
    mkdir -p "$1"
    cd "$1"
    run go mod init "$2"
    for r in "${REPLACES[@]}"; do args+=("-replace=$r"); done
    run go mod edit "${args[@]}"
}

# ---- 1. pulumi CLI ---------------------------------------------------------------------------
if [ -x "$PULUMI_BIN" ]; then
    log "pulumi CLI: present"
else
    step "build-pulumi-cli"
    wrapper_module "$BUILD_TMP/cli" "resilient-stack.local/pulumi-engine"
    # A tools file imports the CLI's main package so that `go mod tidy` keeps its dependencies.
    cat >tools.go <<'GO'
//go:build tools

package tools

import _ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
GO
    run go get "$PULUMI_MODULE/pkg/v3@v$RS_ENGINE_VERSION" "$PULUMI_MODULE/sdk/v3@v$RS_ENGINE_VERSION"
    run go mod tidy
    run go build -trimpath -ldflags "-s -w -X $VERSION_PKG=v$RS_ENGINE_VERSION" \
        -o "$BUILD_TMP/out/pulumi" "$PULUMI_MODULE/pkg/v3/cmd/pulumi"
    place "$BUILD_TMP/out/pulumi" "$PULUMI_BIN"
    log "pulumi CLI: built ($((SECONDS - START_SECONDS))s so far)"
fi

# ---- 2. python language host -------------------------------------------------------------
# Not served by the proxy: its exact upstream main.go (v3.259.0) is vendored and compiles
# unchanged against pkg/sdk v3.274.1.  TRAP: it must sit in the SAME dir as the CLI (the CLI
# looks for it next to itself).
if [ -x "$LANGHOST_BIN" ]; then
    log "python language host: present"
else
    step "build-language-python"
    run check_sha "$LANGHOST_SRC" "$LANGHOST_SHA"
    wrapper_module "$BUILD_TMP/langhost" "$PULUMI_MODULE/sdk/python/cmd/pulumi-language-python/v3"
    cp "$VENDOR_DIR/$LANGHOST_SRC" main.go
    chmod u+w main.go
    run go get "$PULUMI_MODULE/pkg/v3@v$RS_ENGINE_VERSION" "$PULUMI_MODULE/sdk/v3@v$RS_ENGINE_VERSION"
    run go mod tidy
    run go build -trimpath -ldflags "-s -w -X $VERSION_PKG=v$RS_ENGINE_VERSION" \
        -o "$BUILD_TMP/out/pulumi-language-python" .
    place "$BUILD_TMP/out/pulumi-language-python" "$LANGHOST_BIN"
    log "python language host: built ($((SECONDS - START_SECONDS))s so far)"
fi

# ---- 3. python exec shim -------------------------------------------------------------------
# A shell script shipped in the sdk/v3 module; the language host looks for it next to itself.
if [ -x "$EXEC_BIN" ]; then
    log "python exec shim: present"
else
    step "copy-language-python-exec"
    cd "$BUILD_TMP"
    sdk_dir="$GOMODCACHE/$PULUMI_MODULE/sdk/v3@v$RS_ENGINE_VERSION"
    if [ ! -f "$sdk_dir/python/cmd/pulumi-language-python-exec" ]; then
        run go mod download "$PULUMI_MODULE/sdk/v3@v$RS_ENGINE_VERSION"
    fi
    cp "$sdk_dir/python/cmd/pulumi-language-python-exec" "$BUILD_TMP/out/pulumi-language-python-exec"
    place "$BUILD_TMP/out/pulumi-language-python-exec" "$EXEC_BIN"
    log "python exec shim: copied"
fi

# ---- 3b. the python dynamic-provider plugin ------------------------------------------------
# Another shell script of the sdk/v3 module: the engine runs a Python program's dynamic resources (the cluster's
# CA, resilient_stack.components.pki) through `pulumi-resource-pulumi-python`, found next to the CLI.
if [ -x "$DYNAMIC_BIN" ]; then
    log "python dynamic provider: present"
else
    step "copy-python-dynamic-provider"
    cd "$BUILD_TMP"
    sdk_dir="$GOMODCACHE/$PULUMI_MODULE/sdk/v3@v$RS_ENGINE_VERSION"
    if [ ! -f "$sdk_dir/python/dist/pulumi-resource-pulumi-python" ]; then
        run go mod download "$PULUMI_MODULE/sdk/v3@v$RS_ENGINE_VERSION"
    fi
    cp "$sdk_dir/python/dist/pulumi-resource-pulumi-python" "$BUILD_TMP/out/pulumi-resource-pulumi-python"
    place "$BUILD_TMP/out/pulumi-resource-pulumi-python" "$DYNAMIC_BIN"
    log "python dynamic provider: copied"
fi

# ---- 4. resource providers -----------------------------------------------------------------
# build_provider NAME VERSION TARBALL SHA GO_MODULE: unpack the vendored `provider/` tree, embed
# the schema, build, and install into our plugin cache.
build_provider() {
    local name="$1" version="$2" tgz="$3" sha="$4" gomod="$5" src
    if plugin_installed "$name" "$version"; then
        log "provider $name v$version: installed"
        return 0
    fi
    step "build-provider-$name"
    run check_sha "$tgz" "$sha"
    mkdir -p "$BUILD_TMP/$name"
    run tar -xzf "$VENDOR_DIR/$tgz" -C "$BUILD_TMP/$name"   # the tarball is read-only; unpack to a writable dir
    src="$BUILD_TMP/$name/pulumi-$name-v$version/provider"
    # TRAP: main.go embeds cmd/pulumi-resource-NAME/schema-embed.json, which is not committed
    # upstream (their `make` generates it): it is the committed schema.json, minified, with the
    # package "version" set.  Without "version" the engine cannot match the plugin to the SDK.
    run python3 - "$src/cmd/pulumi-resource-$name/schema.json" \
        "$src/cmd/pulumi-resource-$name/schema-embed.json" "$version" <<'PY'
import json, sys
src, dst, version = sys.argv[1:4]
with open(src, encoding="utf-8") as f:
    spec = json.load(f)
spec["version"] = version
with open(dst, "w", encoding="utf-8") as f:
    json.dump(spec, f, separators=(",", ":"), ensure_ascii=False)
PY
    cd "$src"
    # CGO_ENABLED=0: a static binary; the version ldflag is what the provider reports to the engine.
    run env CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X $gomod/pkg/version.Version=$version" \
        -o "$BUILD_TMP/out/pulumi-resource-$name" "./cmd/pulumi-resource-$name"
    cd "$BUILD_TMP"
    step "install-plugin-$name"
    # Into $PULUMI_HOME/plugins/resource-NAME-vVERSION/ (pulumi does its own .partial/lock dance).
    # TRAP: never put the provider on PATH instead: PATH wins over the cache, is not
    # version-checked, and warns on every run (hence PULUMI_IGNORE_AMBIENT_PLUGINS=true).
    run "$PULUMI_BIN" plugin install resource "$name" "v$version" --file "$BUILD_TMP/out/pulumi-resource-$name"
    rm -f "$BUILD_TMP/out/pulumi-resource-$name"
    log "provider $name v$version: built and installed ($((SECONDS - START_SECONDS))s so far)"
}

build_provider openstack "$RS_OPENSTACK_VERSION" "$OPENSTACK_TGZ" "$OPENSTACK_SHA" \
    "github.com/pulumi/pulumi-openstack/provider/v5"
build_provider random "$RS_RANDOM_VERSION" "$RANDOM_TGZ" "$RANDOM_SHA" \
    "github.com/pulumi/pulumi-random/provider/v4"

# ---- 5. verify and mark complete -----------------------------------------------------------
step "verify"
got="$("$PULUMI_BIN" version 2>>"$STEP_LOG")"
if [ "$got" != "v$RS_ENGINE_VERSION" ]; then
    echo "[engine] $PULUMI_BIN reports '$got', expected v$RS_ENGINE_VERSION" >&2
    exit 1
fi
if ! has_plugins "$PULUMI_BIN"; then
    echo "[engine] pulumi plugin ls (PULUMI_HOME=$PULUMI_HOME) lacks openstack $RS_OPENSTACK_VERSION / random $RS_RANDOM_VERSION:" >&2
    "$PULUMI_BIN" plugin ls >&2 || true
    exit 1
fi
if [ ! -x "$LANGHOST_BIN" ] || [ ! -x "$EXEC_BIN" ] || [ ! -x "$DYNAMIC_BIN" ]; then
    echo "[engine] language host, exec shim or dynamic provider missing in $RS_ENGINE_BIN" >&2
    exit 1
fi
if [ ! -f "$RS_ENGINE_MARKER" ]; then
    {
        echo "pulumi v$RS_ENGINE_VERSION"
        echo "resource openstack v$RS_OPENSTACK_VERSION"
        echo "resource random v$RS_RANDOM_VERSION"
        echo "verified $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    } >"$RS_ENGINE_MARKER.tmp"
    mv -f "$RS_ENGINE_MARKER.tmp" "$RS_ENGINE_MARKER"
fi
STEP_LOG=""

size="$(du -sh "$RS_ENGINE_DIR" 2>/dev/null | cut -f1)"
log "ready: pulumi $got + python language host, plugins openstack v$RS_OPENSTACK_VERSION and random v$RS_RANDOM_VERSION"
log "done in $((SECONDS - START_SECONDS))s; engine cache: $RS_ENGINE_DIR ($size); Go caches: $RS_GO_DIR"
log "use it with:  source scripts/engine-env.sh"
