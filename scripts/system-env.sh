#!/usr/bin/env bash
# Prepares what the packaging and system tests need, idempotently (called by scripts/test.sh; safe to run by hand):
#   * Debian tools: dpkg-dev, lintian, rpm (rpmbuild), rpmlint, systemd (systemd-analyze), docker.io, debootstrap
#   * a running Docker engine (dockerd started in the background when none answers)
#   * the base image local/mcp-tunnel-systemd:<recipe hash>: Debian 12 with systemd as PID 1, made with debootstrap
#     from the apt archive and `docker import`ed (no registry is reachable). The rootfs tarball is cached in
#     $SYSTEM_ENV_CACHE (default /var/cache/mcp-tunnel-ci) and the image is rebuilt only when missing.
# Prints "image=<tag>" as its last line. Needs root (apt, dockerd, debootstrap); without root it says so and fails.
set -euo pipefail

CACHE=${SYSTEM_ENV_CACHE:-/var/cache/mcp-tunnel-ci}
MIRROR=${DEBIAN_MIRROR:-$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
# What the image holds. Changing this list changes the tag, so the image is rebuilt.
PACKAGES=systemd,systemd-sysv,dbus,ca-certificates,libssl3,sudo,rpm,procps
RECIPE="bookworm minbase $PACKAGES v1"
TAG=local/mcp-tunnel-systemd:$(printf '%s' "$RECIPE" | sha256sum | cut -c1-12)

log() { echo "system-env: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
  log "needs root (apt-get, dockerd, debootstrap); run the test command as root or with sudo"
  exit 1
fi

need=()
command -v dpkg-deb >/dev/null || need+=(dpkg-dev)
command -v lintian >/dev/null || need+=(lintian)
command -v rpmbuild >/dev/null || need+=(rpm)
command -v rpmlint >/dev/null || need+=(rpmlint)
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v dockerd >/dev/null || need+=(docker.io)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} (log: $CACHE/apt.log)"
  mkdir -p "$CACHE"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"; } >"$CACHE/apt.log" 2>&1 \
    || { tail -20 "$CACHE/apt.log" >&2; log "apt-get failed"; exit 1; }
fi

if ! docker info >/dev/null 2>&1; then
  log "starting dockerd (log: /var/log/mcp-tunnel-dockerd.log)"
  nohup dockerd >/var/log/mcp-tunnel-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { log "dockerd did not come up; see /var/log/mcp-tunnel-dockerd.log"; tail -20 /var/log/mcp-tunnel-dockerd.log >&2; exit 1; }
fi

if ! docker image inspect "$TAG" >/dev/null 2>&1; then
  mkdir -p "$CACHE"
  tarball="$CACHE/rootfs-${TAG##*:}.tgz"
  if [ ! -s "$tarball" ]; then
    root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
    log "debootstrap bookworm from $MIRROR (about a minute)"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 \
      || { tail -20 "$CACHE/debootstrap.log" >&2; rm -rf "$root"; exit 1; }
    # minbase has no /etc/hosts; each boot should get its own machine-id; the apt cache is dead weight.
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
    : >"$root/etc/machine-id"
    rm -f "$root"/var/cache/apt/archives/*.deb
    # Containers have no consoles or udev to wait for.
    for unit in getty@tty1.service console-getty.service systemd-udevd.service systemd-udev-trigger.service; do
      ln -sf /dev/null "$root/etc/systemd/system/$unit"
    done
    tar --numeric-owner -C "$root" -czf "$tarball.tmp" .
    mv "$tarball.tmp" "$tarball"
    rm -rf "$root"
  fi
  log "importing $tarball as $TAG"
  docker import "$tarball" "$TAG" >/dev/null
fi
echo "image=$TAG"
