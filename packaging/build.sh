#!/usr/bin/env bash
# Builds mcp-tunnel_<version>_amd64.deb and mcp-tunnel-<version>-<release>.x86_64.rpm from the AOT binary.
#
#   packaging/build.sh [--binary FILE] [--cloudflared FILE | --stand-in FILE] [--version V] [--release]
#                      [--out DIR] [--deb-only | --rpm-only]
#
# cloudflared: the release pinned in packaging/cloudflared.pin, from --cloudflared FILE (checked against the
# pinned SHA-256), else from the download cache, else downloaded (when the network allows) and checked.
# A checksum mismatch always fails. --stand-in FILE bundles a test stand-in instead: the package version gets
# "~standin", the description and the build output say so, and --release refuses it.
# Needs dpkg-deb (dpkg-dev) and rpmbuild (rpm); scripts/system-env.sh installs both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

binary=$root/artifacts/bin/mcp-tunnel
cloudflared=""
standin=""
version=""
release_build=false
out=$root/artifacts/packages
build_deb=true
build_rpm=true
rpm_release=1
cache=${CLOUDFLARED_CACHE:-$HOME/.cache/mcp-tunnel}

die() { echo "build: $*" >&2; exit 1; }
usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary=$2; shift 2 ;;
    --cloudflared) cloudflared=$2; shift 2 ;;
    --stand-in) standin=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --release) release_build=true; shift ;;
    --out) out=$2; shift 2 ;;
    --deb-only) build_rpm=false; shift ;;
    --rpm-only) build_deb=false; shift ;;
    -h|--help) usage ;;
    *) echo "build: unknown argument $1" >&2; usage ;;
  esac
done

# shellcheck source=cloudflared.pin
. "$here/cloudflared.pin"

[ -x "$binary" ] || die "no mcp-tunnel binary at $binary; publish it first: dotnet publish src/McpTunnel/McpTunnel.csproj -c Release -r linux-x64 -o artifacts/bin"
[ -z "$cloudflared" ] || [ -z "$standin" ] || die "--cloudflared and --stand-in exclude each other"
if $release_build && [ -n "$standin" ]; then
  die "--release refuses --stand-in: a release bundles the pinned cloudflared $CLOUDFLARED_VERSION only"
fi

binary_version=$("$binary" version | awk '{print $2}')
[ -n "$version" ] || version=${binary_version%%+*}
[[ "$version" =~ ^[0-9][0-9A-Za-z.~]*$ ]] || die "version \"$version\" must start with a digit and use only letters, digits, . and ~"

# --- cloudflared: verified release or an explicit stand-in ---
verify() { # $1 = file
  local actual
  actual=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$actual" = "$CLOUDFLARED_SHA256" ] || die "checksum mismatch for $1: expected $CLOUDFLARED_SHA256 (cloudflared $CLOUDFLARED_VERSION, packaging/cloudflared.pin), got $actual. Use the official $CLOUDFLARED_URL"
}
standin_note=""
if [ -n "$standin" ]; then
  [ -x "$standin" ] || die "--stand-in $standin is not an executable file"
  if sha256sum "$standin" | grep -q "^$CLOUDFLARED_SHA256 "; then
    die "--stand-in $standin is the real cloudflared $CLOUDFLARED_VERSION; pass it with --cloudflared instead"
  fi
  bundled=$standin
  version="$version~standin"
  standin_note="THIS BUILD BUNDLES A TEST STAND-IN, NOT CLOUDFLARED."
  echo "build: ************************************************************************" >&2
  echo "build: * bundling the TEST STAND-IN $standin as cloudflared" >&2
  echo "build: * package version $version; not a release and never to be shipped" >&2
  echo "build: ************************************************************************" >&2
else
  if [ -z "$cloudflared" ]; then
    cloudflared=$cache/cloudflared-$CLOUDFLARED_VERSION-linux-amd64
    if [ ! -s "$cloudflared" ]; then
      mkdir -p "$cache"
      echo "build: downloading cloudflared $CLOUDFLARED_VERSION from $CLOUDFLARED_URL" >&2
      curl -fsSL --retry 2 --connect-timeout 10 -o "$cloudflared.part" "$CLOUDFLARED_URL" \
        || { rm -f "$cloudflared.part"; die "cannot download $CLOUDFLARED_URL (no network?). Pass --cloudflared FILE with that release's binary, or --stand-in FILE for a test package"; }
      mv "$cloudflared.part" "$cloudflared"
    fi
  fi
  [ -f "$cloudflared" ] || die "--cloudflared $cloudflared does not exist"
  verify "$cloudflared"
  bundled=$cloudflared
  echo "build: bundling cloudflared $CLOUDFLARED_VERSION (sha256 $CLOUDFLARED_SHA256, verified)" >&2
fi
case "$binary_version" in *standin*) $release_build && die "the binary's version $binary_version is a test build" ;; esac

# Reproducible timestamps: the commit's time when in git, else now.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$root" log -1 --format=%ct 2>/dev/null || date +%s)}
date_rfc2822=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# --- the payload both formats share; $1 = tree, $2 = unit directory, $3 = zsh completion directory ---
stage() {
  local tree=$1 units=$2 zsh_completions=$3
  install -D -m 0755 "$binary" "$tree/usr/bin/mcp-tunnel"
  install -D -m 0755 "$bundled" "$tree/usr/libexec/mcp-tunnel/cloudflared"
  for unit in mcp-tunnel.service mcp-tunnel-renew.service mcp-tunnel-renew.timer; do
    install -D -m 0644 "$here/systemd/$unit" "$tree$units/$unit"
  done
  install -D -m 0644 "$here/systemd/mcp-tunnel.sysusers" "$tree/usr/lib/sysusers.d/mcp-tunnel.conf"
  install -D -m 0644 "$here/systemd/mcp-tunnel.tmpfiles" "$tree/usr/lib/tmpfiles.d/mcp-tunnel.conf"
  # Standard modes in the archive; postinst (dpkg-statoverride) and the rpm %attr make them 0750/0640 root:mcp-tunnel.
  install -D -m 0644 "$here/common/config.yaml" "$tree/etc/mcp-tunnel/config.yaml"
  install -d -m 0755 "$tree/usr/share/doc/mcp-tunnel" "$tree/usr/share/man/man1"
  # The Grafana dashboard of the metrics the binary exposes (docs/operations.md, Observe it).
  install -D -m 0644 "$here/common/grafana/mcp-tunnel.json" "$tree/usr/share/mcp-tunnel/grafana/mcp-tunnel.json"
  install -m 0644 "$here/common/copyright" "$tree/usr/share/doc/mcp-tunnel/copyright"
  for doc in README.md docs/configuration.md docs/operations.md docs/packaging.md; do
    [ -f "$root/$doc" ] && install -m 0644 "$root/$doc" "$tree/usr/share/doc/mcp-tunnel/$(basename "$doc")"
  done
  # Shell completion, written by the binary from its own command tree so it always matches it.
  install -d -m 0755 "$tree/usr/share/bash-completion/completions" "$tree$zsh_completions"
  "$binary" completion bash >"$tree/usr/share/bash-completion/completions/mcp-tunnel"
  "$binary" completion zsh >"$tree$zsh_completions/_mcp-tunnel"
  chmod 0644 "$tree/usr/share/bash-completion/completions/mcp-tunnel" "$tree$zsh_completions/_mcp-tunnel"
  sed -e "s/@VERSION@/$version/" "$here/common/mcp-tunnel.1" | gzip -9n >"$tree/usr/share/man/man1/mcp-tunnel.1.gz"
  sed -e "s/@VERSION@/$version/" -e "s/@DATE@/$date_rfc2822/" "$here/common/changelog" | gzip -9n >"$tree/usr/share/doc/mcp-tunnel/changelog.gz"
  chmod 0644 "$tree/usr/share/man/man1/mcp-tunnel.1.gz" "$tree/usr/share/doc/mcp-tunnel/changelog.gz"
}

if $build_deb; then
  tree=$work/deb
  stage "$tree" /lib/systemd/system /usr/share/zsh/vendor-completions
  install -D -m 0644 "$here/deb/lintian-overrides" "$tree/usr/share/lintian/overrides/mcp-tunnel"
  install -d -m 0755 "$tree/DEBIAN"
  size=$(du -sk --exclude=DEBIAN "$tree" | cut -f1)
  description_note=""
  [ -z "$standin_note" ] || description_note=$'\n .\n '"$standin_note"$'\n For tests only; never to be released.'
  awk -v v="$version" -v s="$size" -v n="$description_note" \
    '{ gsub(/@VERSION@/, v); gsub(/@SIZE@/, s); sub(/@STANDIN@/, n); print }' "$here/deb/control.in" >"$tree/DEBIAN/control"
  echo /etc/mcp-tunnel/config.yaml >"$tree/DEBIAN/conffiles"
  for script in postinst prerm postrm; do install -m 0755 "$here/deb/$script" "$tree/DEBIAN/$script"; done
  (cd "$tree" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$tree/DEBIAN/md5sums"
  chmod 0644 "$tree/DEBIAN/control" "$tree/DEBIAN/conffiles" "$tree/DEBIAN/md5sums"
  find "$tree" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  deb=$out/mcp-tunnel_${version}_amd64.deb
  # DEB_XZ_LEVEL: the tests build with 1 (about 3x faster, 9% larger); releases keep xz's default 6.
  dpkg-deb --root-owner-group -Zxz -z"${DEB_XZ_LEVEL:-6}" --build "$tree" "$deb" >/dev/null
  echo "build: wrote $deb"
fi

if $build_rpm; then
  command -v rpmbuild >/dev/null || die "rpmbuild not found; install the rpm package (scripts/system-env.sh does)"
  tree=$work/rpm-payload
  stage "$tree" /usr/lib/systemd/system /usr/share/zsh/site-functions
  install -d -m 0700 "$tree/var/lib/mcp-tunnel"
  spec=$out/mcp-tunnel-$version-$rpm_release.spec
  standin_text=""
  [ -z "$standin_note" ] || standin_text=$'\n'"$standin_note"$'\nFor tests only; never to be released.'
  awk -v v="$version" -v r="$rpm_release" -v d="$(date -u -d "@$SOURCE_DATE_EPOCH" '+%a %b %d %Y')" -v n="$standin_text" \
    '{ gsub(/@VERSION@/, v); gsub(/@RELEASE@/, r); gsub(/@DATE@/, d); sub(/@STANDIN@/, n); print }' \
    "$here/rpm/mcp-tunnel.spec" >"$spec"
  rpmbuild -bb --quiet \
    --define "_topdir $work/rpmbuild" \
    --define "_mt_payload $tree" \
    --define "packager mcp-tunnel developers <maintainers@mcp-tunnel.dev>" \
    --define "_buildhost mcp-tunnel-build" \
    --define "use_source_date_epoch_as_buildtime 1" \
    "$spec" >"$work/rpmbuild.log" 2>&1 || { cat "$work/rpmbuild.log" >&2; die "rpmbuild failed"; }
  rpm=$out/mcp-tunnel-$version-$rpm_release.x86_64.rpm
  mv "$work/rpmbuild/RPMS/x86_64/"*.rpm "$rpm"
  echo "build: wrote $rpm (spec: $spec)"
fi
