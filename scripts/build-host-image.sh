#!/usr/bin/env bash
# Build the podman host image (localhost/resilient-stack-host:bookworm-8) from a checkout.
# The script itself ships with the package (resilient_stack/testing/data/build-host-image.sh), so that an
# installed `resilient-stack firedrill` finds it too; this wrapper runs it with the same arguments and
# environment (RESILIENT_STACK_HOST_IMAGE, XDG_CACHE_HOME, FORCE=1). Must run as root.
set -euo pipefail
exec bash "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/resilient_stack/testing/data/build-host-image.sh" "$@"
