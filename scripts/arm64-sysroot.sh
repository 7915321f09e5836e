#!/usr/bin/env bash
# Prepares (once) a directory holding Debian's arm64 Node and the libraries it loads, so that
# `qemu-aarch64-static -L <dir> <dir>/usr/bin/node` runs arm64 Node on this x86-64 machine.
# test/prebuild-arm64.test.ts uses it to load prebuilds/linux-arm64 for real. Prints the dir.
#
# Idempotent: the sysroot is kept (default /var/cache/iptables-sync/arm64-sysroot, override with
# IPTS_ARM64_SYSROOT) and reused while its stamp names the same package versions. Needs root
# for dpkg --add-architecture and apt-get; installs qemu-user-static when it is missing.
set -euo pipefail

sysroot=${IPTS_ARM64_SYSROOT:-/var/cache/iptables-sync/arm64-sysroot}
stamp="$sysroot/.iptables-sync-packages"
export DEBIAN_FRONTEND=noninteractive

log() { echo "arm64-sysroot: $*" >&2; }

if [ -x "$sysroot/usr/bin/node" ] && [ -s "$stamp" ] && command -v qemu-aarch64-static >/dev/null; then
  echo "$sysroot"
  exit 0
fi

if ! command -v qemu-aarch64-static >/dev/null; then
  log "installing qemu-user-static"
  apt-get update -qq && apt-get install -y -qq qemu-user-static >/dev/null
fi
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  log "adding the arm64 dpkg architecture"
  dpkg --add-architecture arm64
fi
if ! apt-cache show nodejs:arm64 >/dev/null 2>&1; then
  log "apt-get update (arm64 package lists)"
  apt-get update -qq
fi

# nodejs:arm64 and everything it depends on: the arm64 libraries, and the arch-all node-*
# packages holding the JavaScript that Debian's Node loads from /usr/share/nodejs at startup.
mapfile -t packages < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
  --no-breaks --no-replaces --no-enhances --no-pre-depends nodejs:arm64 |
  grep -E '^([a-z0-9][^ ]*:arm64|node-[^ :]+)$' | sort -u)
[ "${#packages[@]}" -gt 0 ] || { log "no arm64 packages found for nodejs"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log "downloading ${#packages[@]} packages"
(cd "$work" && apt-get download -qq "${packages[@]}" >/dev/null)
rm -rf "$sysroot.new"
mkdir -p "$sysroot.new"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$sysroot.new"; done
[ -x "$sysroot.new/usr/bin/node" ] || { log "nodejs:arm64 did not unpack a usr/bin/node"; exit 1; }
(cd "$work" && ls ./*.deb | sed 's|^\./||') >"$sysroot.new/.iptables-sync-packages"
rm -rf "$sysroot"
mv "$sysroot.new" "$sysroot"
log "ready: $(qemu-aarch64-static -L "$sysroot" "$sysroot/usr/bin/node" --version)"
echo "$sysroot"
