#!/usr/bin/env bash
# `make demo`, after the offline audit: the same verdicts from the REAL Pulumi engine, offline.
#
#   1. finds or builds the engine (scripts/install-pulumi-engine.sh; the first build takes a while);
#   2. copies the project to a temp dir, with a throwaway local backend, a temp PULUMI_HOME and dummy
#      cloud credentials (no cloud is contacted by a preview);
#   3. `pulumi preview --policy-pack policies` of the production stack (must pass) and of the sbg2021
#      replay (must be refused, naming single-site).
#
# Touches nothing of yours: not ~/.pulumi (PULUMI_HOME is a temp dir), not your backend or login
# (PULUMI_BACKEND_URL is a temp dir), not ~/.config/openstack (OS_CLIENT_CONFIG_FILE is a temp file, OS_*
# variables are dropped), not the repository's stack files (the project is copied).
# Exit 0 when both verdicts are the expected ones, 1 otherwise.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '%s\n' "$*"; }
indent() { sed 's/^/    /'; }

# ---- 1. the engine ---------------------------------------------------------------------------------
# shellcheck source=scripts/engine-env.sh
RS_ENGINE_ENV_PATHS_ONLY=1 source scripts/engine-env.sh   # RS_ENGINE_DIR, RS_ENGINE_MARKER, RS_GO_DIR, ...
if [ ! -f "$RS_ENGINE_MARKER" ]; then
    say "-- No built Pulumi engine in $RS_ENGINE_DIR yet. scripts/install-pulumi-engine.sh uses the pulumi on"
    say "   your PATH (v3.274+), installing the plugin versions the stack pins (openstack $RS_OPENSTACK_VERSION, random"
    say "   $RS_RANDOM_VERSION) into its plugin cache; without one, it BUILDS the engine offline (Go module proxy +"
    say "   ../shared/vendor): the first build takes about 6-12 minutes on 2 cores and fills ~4 GiB of Go caches in"
    say "   $RS_GO_DIR. Both caches are outside the repository; later runs reuse them and take about a second."
fi
bash scripts/install-pulumi-engine.sh | indent

# ---- 2. a throwaway world ----------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/resilient-stack-demo.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/state" "$TMP/pulumi-home/plugins"
export PULUMI_BACKEND_URL="file://$TMP/state"
export PULUMI_CONFIG_PASSPHRASE="resilient-stack-demo"
unset PULUMI_CONFIG_PASSPHRASE_FILE PULUMI_ENABLE_STREAMING_JSON_PREVIEW PULUMI_ACCESS_TOKEN
# shellcheck source=scripts/engine-env.sh
source scripts/engine-env.sh 2>/dev/null
# A temp PULUMI_HOME, so pulumi's own writes (workspaces, logs) land in the temp dir. The plugins: the
# built engine's plugin cache is linked as it is (it is ours, outside the repository); the plugins of a
# pulumi you installed yourself (~/.pulumi) are hard-linked or copied, so nothing is written there.
plugin_home="${PULUMI_HOME:-$HOME/.pulumi}"
if [ "$plugin_home" = "$RS_ENGINE_PULUMI_HOME" ]; then
    rmdir "$TMP/pulumi-home/plugins"
    ln -s "$plugin_home/plugins" "$TMP/pulumi-home/plugins"
else
    for d in "$plugin_home"/plugins/resource-openstack-v* "$plugin_home"/plugins/resource-random-v*; do
        [ -d "$d" ] || continue
        cp -al "$d" "$TMP/pulumi-home/plugins/" 2>/dev/null || cp -r "$d" "$TMP/pulumi-home/plugins/"
    done
fi
export PULUMI_HOME="$TMP/pulumi-home"

for v in $(compgen -e | grep '^OS_' || true); do unset "$v"; done
cat >"$TMP/clouds.yaml" <<'YAML'
# Dummy credentials: a preview reads clouds.yaml but contacts no cloud.
clouds:
  ovh:
    auth: {auth_url: "https://auth.cloud.ovh.net/v3", username: demo, password: demo,
           project_id: 00000000000000000000000000000000, user_domain_name: Default, project_domain_name: Default}
  ovh-backups:
    auth: {auth_url: "https://auth.cloud.ovh.net/v3", username: demo-backups, password: demo,
           project_id: 11111111111111111111111111111111, user_domain_name: Default, project_domain_name: Default}
  infomaniak:
    auth: {auth_url: "https://api.pub2.infomaniak.cloud/identity/v3", username: demo, password: demo,
           project_id: 00000000000000000000000000000000, user_domain_name: Default, project_domain_name: Default}
YAML
export OS_CLIENT_CONFIG_FILE="$TMP/clouds.yaml"

PROJECT="$TMP/resilient-stack"
mkdir -p "$PROJECT"
cp Pulumi.yaml __main__.py "$PROJECT/"
cp -r stacks "$PROJECT/stacks"
ln -s "$ROOT/.venv" "$PROJECT/.venv"
for stack in production sbg2021; do
    pulumi stack init "$stack" --no-select --cwd "$PROJECT" >/dev/null 2>&1
done
say "-- Engine: $(pulumi version) at $(command -v pulumi); throwaway backend and project in $TMP"

preview() {  # preview STACK: the text output in $TMP/STACK.out, the exit code returned
    local rc=0
    pulumi preview --stack "$1" --policy-pack "$ROOT/policies" --cwd "$PROJECT" --color never \
        >"$TMP/$1.out" 2>&1 || rc=$?
    return "$rc"
}
ok=1

# ---- 3a. production: must pass ----------------------------------------------------------------------
say ""
say "== pulumi preview --stack production --policy-pack policies   (GRA11 + WAW1 + Infomaniak dc4-a, backups DE1)"
rc=0; preview production || rc=$?
sed -n '/^Policies:/,$p' "$TMP/production.out" | sed '/^Outputs:/,/^Resources:/{/^Resources:/!d}' | indent
count="$(sed -n 's/^ *+ \([0-9][0-9]*\) to create$/\1/p' "$TMP/production.out" | tail -n 1)"
# the pack's line is ✅ (nothing found) or ⚠️ (advisories only: at a first preview, rules whose peer addresses
# do not exist yet are reported as unknown-preview-security-rule, judged during `pulumi up`)
if [ "$rc" -eq 0 ] && grep -qE '(✅|⚠️) resilient-stack' "$TMP/production.out" && ! grep -q '\[mandatory\]' "$TMP/production.out"; then
    say "-> PASSED (exit 0): ${count:-?} resources planned, the policy pack found no mandatory violation ($(grep -c "\[advisory\]" "$TMP/production.out") advisories)"
else
    say "-> UNEXPECTED: exit $rc (expected 0 and no mandatory violation); full output:"
    indent <"$TMP/production.out"
    ok=0
fi

# ---- 3b. sbg2021: must be refused, naming single-site ----------------------------------------------
say ""
say "== pulumi preview --stack sbg2021 --policy-pack policies   (the March 2021 design: all on the Strasbourg campus)"
rc=0; preview sbg2021 || rc=$?
sed -n '/^Diagnostics:/,$p' "$TMP/sbg2021.out" | indent
if [ "$rc" -ne 0 ] && grep -q 'single-site' "$TMP/sbg2021.out"; then
    say "-> REFUSED (exit $rc) before creating anything, naming single-site: as it must be"
else
    say "-> UNEXPECTED: exit $rc (expected non-zero, naming single-site); full output:"
    indent <"$TMP/sbg2021.out"
    ok=0
fi

say ""
if [ "$ok" = 1 ]; then
    say "== Engine verdicts as expected: production passes, the Strasbourg replay is refused."
    exit 0
fi
say "== Engine verdicts NOT as expected (see above)."
exit 1
