#!/usr/bin/env bash
# Build the auditor's OCI image from this checkout: localhost/resilient-stack-auditor:VERSION (and a tag of the
# sources it holds, VERSION-HASH, so that an unchanged checkout does not build again). Prints the image name.
#
#   podman run --rm -v "$PWD:/work:ro" localhost/resilient-stack-auditor:0.1.0 audit state.json
#
# Debian bookworm (the debootstrap base of scripts/build-host-image.sh: no image registry is contacted) with
# Debian's python3, and the project installed in a virtual environment from wheels built here (the project's own
# and its dependencies', from PyPI through this machine's pip), offline inside the build. The entry point is the
# `resilient-stack` command; it runs as an unprivileged user (uid 10001) in /work; Pulumi is not in it (the
# auditor reads files). Push it to your registry for the CI templates (ci/), e.g.
#   podman push localhost/resilient-stack-auditor:0.1.0 registry.example.com/tools/resilient-stack-auditor:0.1.0
#
# Environment:
#   RESILIENT_STACK_AUDITOR_IMAGE  image name without tag (default localhost/resilient-stack-auditor)
#   PYTHON                         the Python that builds the wheels (default: python3; must be 3.11, bookworm's)
#   FORCE=1                        build even if the tag of these sources exists
# Must run as root (rootful podman, as the host image).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NAME="${RESILIENT_STACK_AUDITOR_IMAGE:-localhost/resilient-stack-auditor}"
BASE_IMAGE="localhost/resilient-stack-host-base:bookworm"
PYTHON="${PYTHON:-python3}"

log() { echo "[auditor-image] $*" >&2; }
die() { echo "[auditor-image] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (rootful podman)"
command -v podman >/dev/null || die "podman is missing: run scripts/build-host-image.sh first (it installs it)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
    || die "$PYTHON is not Python 3.11 (Debian bookworm's): its wheels would not fit the image"
VERSION="$(cd "$ROOT" && "$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"

# The sources the image holds: what the wheel is built from (tracked files, and their content as checked out).
HASH="$(cd "$ROOT" && { sha256sum pyproject.toml scripts/build-auditor-image.sh;
                        git ls-files -z resilient_stack policies/resilient_policies | xargs -0 sha256sum; } \
        | sha256sum | cut -c1-12)"
TAG="$NAME:$VERSION-$HASH"
if [ "${FORCE:-0}" != 1 ] && podman image exists "$TAG"; then
    podman tag "$TAG" "$NAME:$VERSION"
    log "$TAG exists: nothing to build"
    echo "$NAME:$VERSION"
    exit 0
fi

if ! podman image exists "$BASE_IMAGE"; then
    log "no $BASE_IMAGE: building the host image, which imports it"
    FORCE=1 bash "$ROOT/scripts/build-host-image.sh" >&2
fi

CTX="$(mktemp -d /var/tmp/rs-auditor.XXXXXX)"
trap 'rm -rf "$CTX"' EXIT
log "building the wheels of resilient-stack $VERSION and its dependencies"
mkdir "$CTX/src"  # the tracked files as checked out: the build leaves nothing in the checkout
(cd "$ROOT" && git ls-files -z | tar --null -T - -cf -) | tar -xf - -C "$CTX/src"
"$PYTHON" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$CTX/wheels" "$CTX/src" >&2
rm -rf "$CTX/src"
cat > "$CTX/Containerfile" <<CFEOF
FROM $BASE_IMAGE
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends python3 python3-venv ca-certificates >/dev/null \\
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY wheels /tmp/wheels
RUN python3 -m venv /opt/resilient-stack \\
 && /opt/resilient-stack/bin/pip install --quiet --no-index --find-links /tmp/wheels resilient-stack \\
 && rm -rf /tmp/wheels /root/.cache \\
 && useradd --uid 10001 --home-dir /work --no-create-home --shell /usr/sbin/nologin auditor \\
 && mkdir -p /work
ENV PATH=/opt/resilient-stack/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
    PYTHONDONTWRITEBYTECODE=1 LANG=C.UTF-8
LABEL org.opencontainers.image.title="resilient-stack auditor" \\
      org.opencontainers.image.version="$VERSION" \\
      org.opencontainers.image.source="https://github.com/resilient-stack/resilient-stack" \\
      io.resilient-stack.sources="$HASH"
USER 10001
WORKDIR /work
ENTRYPOINT ["resilient-stack"]
CMD ["--help"]
CFEOF
log "podman build $TAG (Debian's python3 from the machine's own mirror)"
podman build --quiet --network host -t "$TAG" "$CTX" >&2
podman tag "$TAG" "$NAME:$VERSION"
echo "$NAME:$VERSION"
