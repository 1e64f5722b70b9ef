#!/usr/bin/env bash
# The auditor's OpenTofu fixtures: `tofu show -json` of a saved plan of each example in examples/opentofu/, made
# offline with OpenTofu and terraform-provider-openstack built from the Go module proxy (cached in
# ~/.cache/resilient-stack/opentofu; the first build takes about 10 minutes on 2 CPUs). A create-only plan with
# -refresh=false calls no cloud: the provider authenticates when it first calls an API, at apply.
# Writes tests/audit/data/opentofu/<example>.plan.json. Not part of make test: the fixtures are committed.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 2
TOFU_VERSION=1.10.10
PROVIDER_VERSION=3.4.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/opentofu"
tofu="$cache/tofu-$TOFU_VERSION"
provider="$cache/providers/terraform-provider-openstack"
out=tests/audit/data/opentofu
mkdir -p "$cache/providers" "$out"

if [ ! -x "$tofu" ]; then
  echo "[opentofu] building tofu $TOFU_VERSION from the Go module proxy" >&2
  src=$(mktemp -d)
  dir=$(go mod download -json "github.com/opentofu/opentofu@v$TOFU_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$dir/." "$src" && chmod -R u+w "$src"
  # its go.mod has a replace directive: built in a copy of the module, not with go install pkg@version
  (cd "$src" && go build -trimpath -ldflags "-s -w -X github.com/opentofu/opentofu/version.dev=no" -o "$tofu" ./cmd/tofu)
  rm -rf "$src"
fi
if [ ! -x "$provider" ]; then
  echo "[opentofu] building terraform-provider-openstack $PROVIDER_VERSION" >&2
  GOBIN="$cache/providers" go install -trimpath -ldflags "-s -w" \
    "github.com/terraform-provider-openstack/terraform-provider-openstack/v3@v$PROVIDER_VERSION"
fi

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

for example in examples/opentofu/*/; do
  name=$(basename "$example")
  cp -r "$example" "$work/$name"
  (cd "$work/$name" && "$tofu" init -input=false -no-color >/dev/null &&
    "$tofu" plan -input=false -no-color -refresh=false -out=plan.bin >/dev/null &&
    "$tofu" show -json plan.bin) >"$out/$name.plan.json"
  echo "[opentofu] $out/$name.plan.json ($(wc -c <"$out/$name.plan.json") bytes)" >&2
done
