#!/usr/bin/env bash
# The auditor's OpenTofu fixtures: `tofu show -json` of a saved plan of each example in examples/opentofu/, made
# offline with OpenTofu and terraform-provider-openstack built from the Go module proxy (cached in
# ~/.cache/resilient-stack/opentofu; the first build takes about 10 minutes on 2 CPUs). A create-only plan with
# -refresh=false calls no cloud: the provider authenticates when it first calls an API, at apply.
# Writes tests/audit/data/opentofu/<example>.plan.json (the fixtures are committed); the live test
# tests/integration/openstack/test_opentofu_apply.py runs it with --apply into a directory of its own.
#
# --apply also applies examples/opentofu/production on the local clouds (scripts/local-openstack: root, podman and
# the images of `make tools`; started for the run, or the running ones named by RESILIENT_STACK_LOCAL_OPENSTACK,
# their run directory in RESILIENT_STACK_LOCAL_OPENSTACK_RUN_DIR when not the default),
# with the credentials of their clouds.yaml, and writes what OpenTofu recorded: production.state.json (`tofu show
# -json` of the state), production.tfstate (the raw state file) and production.applied.plan.json (a plan made
# after the apply: no changes, the prior state), then destroys what it made.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2
# where the files go (OPENTOFU_FIXTURES_OUT: elsewhere, e.g. a test's directory)
out=${OPENTOFU_FIXTURES_OUT:-tests/audit/data/opentofu}
mkdir -p "$out" && out=$(cd "$out" && pwd)

if [ "${1:-}" = --in-hub ]; then
  # inside the local clouds' hub namespace (below): OS_CLIENT_CONFIG_FILE is their clouds.yaml
  run_dir=$2 tofu=$3
  ovh_auth=$(awk '/^  ovh:/ {e=1} e && /auth_url:/ {print $2; exit}' "$OS_CLIENT_CONFIG_FILE")
  export OS_CACERT="$run_dir/ca.pem"
  unset OS_USERNAME OS_PASSWORD
  here=$(mktemp -d "$run_dir/opentofu.XXXXXX")
  cp -r examples/opentofu/production/. "$here"
  cd "$here"
  cat >local.tfvars.json <<VARS
{"ovh_auth_url": "$ovh_auth", "shop_cloud": "ovh", "backup_cloud": "ovh-backups", "infomaniak_cloud": "infomaniak",
 "shop_project": null, "backup_project": null}
VARS
  "$tofu" init -input=false -no-color >/dev/null
  status=0
  if "$tofu" apply -input=false -no-color -auto-approve -var-file=local.tfvars.json >apply.log 2>&1; then
    "$tofu" show -json >"$out/production.state.json"
    cp terraform.tfstate "$out/production.tfstate"
    "$tofu" plan -input=false -no-color -detailed-exitcode -var-file=local.tfvars.json -out=again.bin >/dev/null ||
      { echo "[opentofu] the plan after apply is not empty (exit $?)" >&2; status=1; }
    "$tofu" show -json again.bin >"$out/production.applied.plan.json"
  else
    tail -20 apply.log >&2
    status=1
  fi
  "$tofu" destroy -input=false -no-color -auto-approve -var-file=local.tfvars.json >destroy.log 2>&1 ||
    { tail -20 destroy.log >&2; status=1; }
  exit $status
fi
apply=0
[ "${1:-}" = --apply ] && apply=1
PROVIDER_VERSION=3.4.0  # as scripts/install-opentofu.sh builds it
{ read -r tofu; read -r provider; } < <(bash scripts/install-opentofu.sh)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mirror="$work/mirror/registry.opentofu.org/terraform-provider-openstack/openstack/$PROVIDER_VERSION/linux_amd64"
mkdir -p "$mirror"
cp "$provider" "$mirror/terraform-provider-openstack_v$PROVIDER_VERSION"
cat >"$work/cli.tfrc" <<RC
provider_installation {
  filesystem_mirror {
    path    = "$work/mirror"
    include = ["registry.opentofu.org/terraform-provider-openstack/openstack"]
  }
  direct { exclude = ["registry.opentofu.org/terraform-provider-openstack/openstack"] }
}
RC
export TF_CLI_CONFIG_FILE="$work/cli.tfrc" TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1
# credentials for the provider's configuration only: no API is called by a create-only plan
export OS_USERNAME=offline OS_PASSWORD=offline

# the provider's own schema, as the tests read it: each resource type's attribute and block names
mkdir -p "$work/schema"
printf '%s\n' 'terraform {' '  required_providers {' \
  "    openstack = { source = \"terraform-provider-openstack/openstack\", version = \"$PROVIDER_VERSION\" }" '  }' '}' \
  >"$work/schema/main.tf"
(cd "$work/schema" && "$tofu" init -input=false -no-color >/dev/null && "$tofu" providers schema -json) |
  python3 -c '
import json, sys
doc = json.load(sys.stdin)
[(name, provider)] = doc["provider_schemas"].items()
out = {"_": "tofu providers schema -json of " + name + " " + sys.argv[1] + " (scripts/opentofu-fixtures.sh): each resource type\u2019s attribute and block names",
       "resources": {t: {"attributes": sorted(s["block"].get("attributes", {})), "blocks": sorted(s["block"].get("block_types", {}))}
                     for t, s in sorted(provider["resource_schemas"].items())}}
json.dump(out, sys.stdout, indent=0, sort_keys=True)
' "$PROVIDER_VERSION" >"$out/openstack-provider-schema.json"
echo "[opentofu] $out/openstack-provider-schema.json ($(wc -c <"$out/openstack-provider-schema.json") bytes)" >&2

for example in examples/opentofu/*/; do
  name=$(basename "$example")
  cp -r "$example" "$work/$name"
  (cd "$work/$name" && "$tofu" init -input=false -no-color >/dev/null &&
    "$tofu" plan -input=false -no-color -refresh=false -out=plan.bin >/dev/null &&
    "$tofu" show -json plan.bin) >"$out/$name.plan.json"
  echo "[opentofu] $out/$name.plan.json ($(wc -c <"$out/$name.plan.json") bytes)" >&2
done

if [ "$apply" = 1 ]; then
  clouds=scripts/local-openstack/local_openstack.py
  if [ -n "${RESILIENT_STACK_LOCAL_OPENSTACK:-}" ]; then
    name=$RESILIENT_STACK_LOCAL_OPENSTACK
    run_dir=${RESILIENT_STACK_LOCAL_OPENSTACK_RUN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/openstack/run/$name}
    python3 "$clouds" exec --name "$name" --run-dir "$run_dir" -- bash "$0" --in-hub "$run_dir" "$tofu"
  else
    python3 "$clouds" run --name tofufix --run-dir "$work/clouds" -- bash "$0" --in-hub "$work/clouds" "$tofu"
  fi
  for f in production.state.json production.tfstate production.applied.plan.json; do
    echo "[opentofu] $out/$f ($(wc -c <"$out/$f") bytes)" >&2
  done
fi
