#!/usr/bin/env bash
# OpenTofu and terraform-provider-openstack, built offline from the Go module proxy and cached in
# ~/.cache/resilient-stack/opentofu (the first build takes about 10 minutes on 2 CPUs; then nothing). For the
# auditor's OpenTofu fixtures and their live test (scripts/opentofu-fixtures.sh, make tools).
# Prints two lines: the tofu binary, then the provider binary. --check: builds nothing, exit 1 when one is missing.
set -euo pipefail
TOFU_VERSION=1.10.10
PROVIDER_VERSION=3.4.0
cache="${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/opentofu"
tofu="$cache/tofu-$TOFU_VERSION"
provider="$cache/providers/$PROVIDER_VERSION/terraform-provider-openstack"
if [ "${1:-}" = --check ]; then
  echo "$tofu"
  echo "$provider"
  [ -x "$tofu" ] && [ -x "$provider" ]
  exit
fi
mkdir -p "$cache/providers/$PROVIDER_VERSION"

if [ ! -x "$tofu" ]; then
  echo "[opentofu] building tofu $TOFU_VERSION from the Go module proxy" >&2
  src=$(mktemp -d)
  trap 'rm -rf "$src"' EXIT
  dir=$(go mod download -json "github.com/opentofu/opentofu@v$TOFU_VERSION" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  cp -r "$dir/." "$src" && chmod -R u+w "$src"
  # its go.mod has a replace directive: built in a copy of the module, not with go install pkg@version
  (cd "$src" && go build -trimpath -ldflags "-s -w" -o "$tofu.tmp" ./cmd/tofu)
  mv "$tofu.tmp" "$tofu"
fi
if [ ! -x "$provider" ]; then
  echo "[opentofu] building terraform-provider-openstack $PROVIDER_VERSION from the Go module proxy" >&2
  GOBIN="$cache/providers/$PROVIDER_VERSION" go install -trimpath -ldflags "-s -w" \
    "github.com/terraform-provider-openstack/terraform-provider-openstack/v3@v$PROVIDER_VERSION"
fi
echo "$tofu"
echo "$provider"
