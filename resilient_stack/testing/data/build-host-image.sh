#!/usr/bin/env bash
# Build the local podman image that stands in for a Debian bookworm cloud host:
#   localhost/resilient-stack-host:bookworm-8
# systemd + cloud-init (NoCloud datasource) + openssh-server, and the packages the hosts' user data installs
# (nginx, python3-psycopg2, postgresql-15, pgbackrest, patroni, etcd-server, etcd-client, nftables,
# unattended-upgrades, certbot, Prometheus, Alertmanager and the exporters, PowerDNS, podman for the application's
# containers) pre-installed, the drill visitor's unbound (a recursive resolver) and dig, and Debian's docker-registry
# (the tests' image registry, disabled), so that
# boots take seconds (cloud-init's `packages:` then finds them already there). etcd and Patroni are disabled in
# the image, and so are Prometheus, Alertmanager and the exporters: on a real cloud image they are installed by
# cloud-init after the user data wrote their configuration, and the image must not start them before that (nor with
# the packages' defaults).
# Bump the tag whenever the package list changes, so that existing caches rebuild.
# Also builds localhost/resilient-stack-app-base:bookworm (the same Debian base with python3 and python3-psycopg2):
# what the tests build the example application's image FROM (examples/app/Containerfile, BASE), offline.
#
# Idempotent: does nothing when the image already exists (FORCE=1 rebuilds it). Only Debian's packages
# are used; no image registry is contacted (the base image is a debootstrap of the machine's own mirror).
# Must run as root (apt-get, debootstrap, rootful podman).
#
# Package data of resilient_stack.testing (the podman harness runs it when the image is absent, also from an
# installed package: python -c 'from resilient_stack.testing import podman; print(podman.BUILD_SCRIPT)');
# scripts/build-host-image.sh in the repository runs this file.
#
# Environment:
#   RESILIENT_STACK_HOST_IMAGE  image name (default localhost/resilient-stack-host:bookworm-8)
#   XDG_CACHE_HOME              rootfs tarball cache lives in ${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/hosts/
#   FORCE=1                     rebuild even if the image exists (the cached rootfs tarball is reused)
set -euo pipefail

IMAGE="${RESILIENT_STACK_HOST_IMAGE:-localhost/resilient-stack-host:bookworm-8}"
BASE_IMAGE="localhost/resilient-stack-host-base:bookworm"
SUITE=bookworm
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/resilient-stack/hosts"
ROOTFS_TAR="$CACHE_DIR/debian-$SUITE-minbase.tar"

log() { echo "[hosts] $*"; }
die() { echo "[hosts] ERROR: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (apt-get, debootstrap and rootful podman)"
start=$(date +%s)

# 1. Tools from Debian's packages. shellcheck is not for the image: the tests lint every shell script the
#    hosts receive with it (tests/hosts/test_payload.py), and fail in CI when it is missing.
need=()
for cmd in podman debootstrap runc shellcheck; do
    command -v "$cmd" >/dev/null 2>&1 || need+=("$cmd")
done
# netavark + aardvark-dns: containers on one user-defined network resolve each other by name;
# netavark drives iptables, which minimal machines lack ("netavark: No such file or directory").
dpkg -s netavark aardvark-dns iptables >/dev/null 2>&1 || need+=(netavark aardvark-dns iptables)
if [ "${#need[@]}" -gt 0 ]; then
    log "installing podman debootstrap runc netavark aardvark-dns iptables shellcheck (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq podman debootstrap runc netavark aardvark-dns iptables shellcheck >/dev/null
else
    log "podman, debootstrap, runc, netavark, iptables, shellcheck already installed"
fi

# 2. runc in a container cannot set rlimits at the host's values: pin them. Only if needed.
CONF=/etc/containers/containers.conf
if [ ! -e "$CONF" ]; then
    log "writing $CONF (runc runtime, fixed ulimits)"
    mkdir -p /etc/containers
    cat > "$CONF" <<'CONFEOF'
[containers]
default_ulimits = [ "nofile=4096:4096", "nproc=4096:4096" ]
[engine]
runtime = "runc"
[network]
network_backend = "netavark"
CONFEOF
elif ! grep -q 'default_ulimits' "$CONF"; then
    log "WARNING: $CONF exists without default_ulimits; containers may fail with 'error setting rlimit'."
    log "         add: [containers] default_ulimits = [ \"nofile=4096:4096\", \"nproc=4096:4096\" ]"
else
    log "$CONF already configured"
fi

APP_BASE="${RESILIENT_STACK_APP_BASE_IMAGE:-localhost/resilient-stack-app-base:bookworm}"
if [ "${FORCE:-0}" != 1 ] && podman image exists "$IMAGE" && podman image exists "$APP_BASE"; then
    log "images $IMAGE and $APP_BASE already exist: nothing to do"
    exit 0
fi

# 3. The machine's own apt sources (deb822 .sources file with the Debian archive).
SOURCES_FILE=""
for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    if grep -qE '^Suites:.*\b'"$SUITE"'\b' "$f"; then SOURCES_FILE="$f"; break; fi
done
[ -n "$SOURCES_FILE" ] || die "no /etc/apt/sources.list.d/*.sources naming suite $SUITE"
MIRROR="$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$SOURCES_FILE")"
[ -n "$MIRROR" ] || die "no URIs: line in $SOURCES_FILE"

# 4. Minimal rootfs, cached as a tarball.
mkdir -p "$CACHE_DIR"
if [ ! -s "$ROOTFS_TAR" ]; then
    WORK="$(mktemp -d /var/tmp/rs-rootfs.XXXXXX)"
    trap 'rm -rf "$WORK"' EXIT
    log "debootstrap --variant=minbase $SUITE from $MIRROR (takes a minute or two)"
    debootstrap --variant=minbase "$SUITE" "$WORK/root" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 \
        || { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -f "$WORK/root/etc/apt/sources.list"
    cp "$SOURCES_FILE" "$WORK/root/etc/apt/sources.list.d/"
    for f in /etc/apt/apt.conf.d/99*; do
        [ -e "$f" ] && cp "$f" "$WORK/root/etc/apt/apt.conf.d/"
    done
    rm -rf "$WORK/root/var/cache/apt/archives/"*.deb "$WORK/root/var/lib/apt/lists/"*
    tar -C "$WORK/root" -cf "$ROOTFS_TAR.tmp" .
    mv "$ROOTFS_TAR.tmp" "$ROOTFS_TAR"
    rm -rf "$WORK"
    trap - EXIT
    log "cached rootfs at $ROOTFS_TAR"
else
    log "using cached rootfs $ROOTFS_TAR"
fi

log "importing $BASE_IMAGE"
podman import --quiet "$ROOTFS_TAR" "$BASE_IMAGE" >/dev/null

# 5. The host image.
if [ "${FORCE:-0}" = 1 ] || ! podman image exists "$IMAGE"; then
CTX="$(mktemp -d /var/tmp/rs-image.XXXXXX)"
trap 'rm -rf "$CTX"' EXIT
cat > "$CTX/Containerfile" <<CFEOF
FROM $BASE_IMAGE
ENV DEBIAN_FRONTEND=noninteractive
# No service may start during the build (postgresql, nginx, ssh); they start under systemd at boot.
RUN printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod 0755 /usr/sbin/policy-rc.d \\
 && apt-get update -qq \\
 && apt-get install -y -qq --no-install-recommends \\
      systemd systemd-sysv cloud-init cloud-guest-utils python3 dbus iproute2 procps curl ca-certificates \\
      sudo locales locales-all openssh-server gnupg lsb-release \\
      nginx postgresql-15 pgbackrest ssl-cert python3-psycopg2 patroni etcd-server etcd-client \\
      nftables unattended-upgrades certbot \\
      prometheus prometheus-alertmanager prometheus-blackbox-exporter \\
      prometheus-node-exporter prometheus-postgres-exporter \\
      podman netavark aardvark-dns iptables uidmap catatonit docker-registry \\
      pdns-server pdns-backend-bind unbound bind9-dnsutils \\
 && systemctl disable etcd patroni nftables docker-registry prometheus prometheus-alertmanager \\
      prometheus-blackbox-exporter prometheus-node-exporter prometheus-postgres-exporter pdns unbound \\
 && rm -f /usr/sbin/policy-rc.d \\
 && apt-get clean && rm -rf /var/lib/apt/lists/* \\
 && printf 'datasource_list: [ NoCloud, None ]\n' > /etc/cloud/cloud.cfg.d/90-nocloud.cfg \\
 && rm -f /etc/ssh/ssh_host_*key* \\
 && : > /etc/machine-id
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
CFEOF
log "podman build $IMAGE (apt-get install systemd cloud-init nginx postgresql-15 pgbackrest patroni etcd ...)"
podman build --quiet --network host -t "$IMAGE" "$CTX" > "$CTX/build.log" 2>&1 \
    || { tail -n 40 "$CTX/build.log" >&2; die "podman build failed"; }
log "built $IMAGE in $(( $(date +%s) - start )) s"
fi

# 6. The base of the example application's image: the same Debian with python3 and python3-psycopg2 (a user's
#    Containerfile starts FROM docker.io/library/debian:bookworm-slim and installs them; nothing is pulled here).
if [ "${FORCE:-0}" = 1 ] || ! podman image exists "$APP_BASE"; then
    CTX2="$(mktemp -d /var/tmp/rs-app-base.XXXXXX)"
    printf 'FROM %s\nENV DEBIAN_FRONTEND=noninteractive\nRUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 python3-psycopg2 ca-certificates >/dev/null && apt-get clean && rm -rf /var/lib/apt/lists/*\n' \
        "$BASE_IMAGE" > "$CTX2/Containerfile"
    log "podman build $APP_BASE (python3, python3-psycopg2)"
    podman build --quiet --network host -t "$APP_BASE" "$CTX2" > "$CTX2/build.log" 2>&1 \
        || { tail -n 40 "$CTX2/build.log" >&2; rm -rf "$CTX2"; die "podman build of $APP_BASE failed"; }
    rm -rf "$CTX2"
    log "built $APP_BASE"
fi
