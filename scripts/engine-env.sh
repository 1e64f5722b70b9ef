# shellcheck shell=bash disable=SC2034  # (the RS_* paths are read by the install script)
# Environment for the locally built Pulumi engine.  SOURCE this file (bash or zsh):
#
#     source scripts/engine-env.sh
#
# It is also sourced by scripts/install-pulumi-engine.sh, so the cache locations below are
# computed in exactly one place.  Override points (all optional):
#   RESILIENT_STACK_ENGINE_DIR   where the engine lives (default: per-user cache, outside the repo)
#   XDG_CACHE_HOME               base of the default cache (default: ~/.cache)
#   ENGINE_STATE_DIR             local state backend dir, used only if PULUMI_BACKEND_URL is unset
#   PULUMI_BACKEND_URL, PULUMI_CONFIG_PASSPHRASE(_FILE)   respected when already set
#
# Everything lives outside the repository on purpose: CI runs in a fresh clone each time, so a
# git-ignored folder inside the clone would always be empty.

# ---- paths (shared with the install script) ------------------------------------------------
RS_ENGINE_VERSION="3.274.1"                    # pulumi CLI (pkg/v3 + sdk/v3 from the Go proxy)
RS_OPENSTACK_VERSION="5.4.1"                   # resource plugin the pulumi-openstack wheel asks for
RS_RANDOM_VERSION="4.19.1"                     # resource plugin the pulumi-random wheel asks for
RS_CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack"
RS_ENGINE_DIR="${RESILIENT_STACK_ENGINE_DIR:-$RS_CACHE_ROOT/engine/v$RS_ENGINE_VERSION}"
RS_ENGINE_BIN="$RS_ENGINE_DIR/bin"             # pulumi + pulumi-language-python(+-exec): ONE dir
RS_ENGINE_PULUMI_HOME="$RS_ENGINE_DIR/pulumi-home"   # dedicated; the user's ~/.pulumi is never touched
RS_ENGINE_MARKER="$RS_ENGINE_DIR/.complete"    # written only after the install script verified it all
RS_GO_DIR="$RS_CACHE_ROOT/go"                  # GOPATH / GOMODCACHE / GOCACHE for the build

# The install script only wants the paths above.
if [ "${RS_ENGINE_ENV_PATHS_ONLY:-}" = "1" ]; then
    return 0
fi

# ---- environment ---------------------------------------------------------------------------
if [ -f "$RS_ENGINE_MARKER" ] && [ -x "$RS_ENGINE_BIN/pulumi" ]; then
    # Engine bin first on PATH (dropping any earlier copy of it, so re-sourcing is harmless).
    _rs_path=":$PATH:"
    _rs_path="${_rs_path//:$RS_ENGINE_BIN:/:}"
    _rs_path="${_rs_path#:}"
    _rs_path="${_rs_path%:}"
    PATH="$RS_ENGINE_BIN${_rs_path:+:$_rs_path}"
    unset _rs_path
    export PATH
    # The built providers are installed in this plugin cache, not in ~/.pulumi.
    export PULUMI_HOME="$RS_ENGINE_PULUMI_HOME"
elif command -v pulumi >/dev/null 2>&1; then
    # install-pulumi-engine.sh found a suitable pulumi already installed and built nothing:
    # keep that pulumi and its own PULUMI_HOME (that is where its plugins are).
    echo "[engine] no built engine in $RS_ENGINE_DIR; using $(command -v pulumi)" >&2
else
    echo "[engine] WARNING: no pulumi engine; run scripts/install-pulumi-engine.sh first" >&2
fi

export PULUMI_SKIP_UPDATE_CHECK=true
# Never download plugins (Pulumi's download site is unreachable here) ...
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# ... and never prefer a pulumi-resource-* found on PATH over the version-checked plugin cache.
export PULUMI_IGNORE_AMBIENT_PLUGINS=true

# Local-only stacks: a fixed passphrase unless the caller chose one.
if [ -z "${PULUMI_CONFIG_PASSPHRASE+x}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
    export PULUMI_CONFIG_PASSPHRASE="resilient-stack-local"
fi

# Local file backend (no Pulumi Cloud login) unless the caller chose a backend.
if [ -z "${PULUMI_BACKEND_URL:-}" ]; then
    _rs_state="${ENGINE_STATE_DIR:-$RS_CACHE_ROOT/state}"
    mkdir -p "$_rs_state"        # the file backend refuses a missing directory
    export PULUMI_BACKEND_URL="file://$_rs_state"
    unset _rs_state
fi
