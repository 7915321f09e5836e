#!/usr/bin/env bash
# Builds every prebuild (npm run prebuildify): prebuilds/linux-x64 and prebuilds/linux-arm64.
#
# Each must load on glibc >= 2.28 (RHEL 8, Ubuntu 20.04, Debian 10+) with no libstdc++ newer
# than GCC 8's, whatever this machine's toolchain is. So: the Node-API headers come from the
# node-api-headers package (no Node headers of any version or arch needed), libstdc++ and
# libgcc are linked statically, native/glibc_compat.cc pins the few libc symbols whose default
# version is newer than 2.28, and test/prebuild-abi.test.ts checks the result with objdump.
# Reproducible: fixed flags, no paths of this checkout in the output (-ffile-prefix-map), no
# build ID, stripped. Override compilers with CXX_X64 / CXX_ARM64.
set -euo pipefail
cd "$(dirname "$0")/.."

napi_include=$(node -p "require('node-api-headers').include_dir")
addon_api_include=$(node -p "require('node-addon-api').include_dir")
digest=$(node native/source-digest.js)
# The sources binding.gyp lists, so a local node-gyp build and the prebuilds compile the same.
mapfile -t sources < <(node -e "process.stdout.write(JSON.parse(require('fs').readFileSync('binding.gyp', 'utf8')).targets[0].sources.join('\n'))")

# Export the Node-API entry points only: the static libstdc++ and the std:: templates the addon
# instantiates stay private, so they never mix with the host libstdc++ that Node itself uses.
exports_map=$(mktemp)
trap 'rm -f "$exports_map"' EXIT
printf '{\n  global: napi_register_module_v1; node_api_module_get_api_version_v1;\n  local: *;\n};\n' >"$exports_map"

build() {
  local arch=$1 cxx=$2
  local out="prebuilds/linux-${arch}/iptables-sync.node"
  command -v "$cxx" >/dev/null || { echo "prebuild-all: $cxx not found (apt-get install ${3})" >&2; exit 1; }
  mkdir -p "$(dirname "$out")"
  local compile=(-shared -fPIC -O2 -std=c++17 -Wall -Wextra -Werror -fno-exceptions
    -fvisibility=hidden -ffunction-sections -fdata-sections
    -ffile-prefix-map="$PWD"=. -ffile-prefix-map="$napi_include"=napi -ffile-prefix-map="$addon_api_include"=napi-addon
    -DNAPI_VERSION=8 -DNAPI_DISABLE_CPP_EXCEPTIONS -DNODE_ADDON_API_DISABLE_DEPRECATED
    -DBUILDING_NODE_EXTENSION -DIPTS_SOURCE_DIGEST="$digest" -I"$napi_include" -I"$addon_api_include")
  local link=(-static-libstdc++ -static-libgcc -Wl,--build-id=none -Wl,--gc-sections -Wl,-z,noexecstack
    -Wl,--exclude-libs,ALL -Wl,--version-script="$exports_map"
    # native/glibc_compat.cc: each of these binds to its __wrap_ replacement there.
    -Wl,--wrap=__libc_single_threaded -Wl,--wrap=pthread_once -Wl,--wrap=__pthread_key_create
    -Wl,--wrap=pthread_create -Wl,--wrap=pthread_attr_setstacksize
    -Wl,--wrap=fstat -Wl,--wrap=_dl_find_object -Wl,--wrap=arc4random
    # Where pthread_once & co. live before glibc 2.34 (an empty stub from 2.34 on).
    -Wl,--no-as-needed -l:libpthread.so.0 -s)
  LC_ALL=C "$cxx" "${compile[@]}" "${sources[@]}" native/glibc_compat.cc "${link[@]}" -o "$out.tmp"
  mv "$out.tmp" "$out"
  echo "built $out ($(stat -c %s "$out") bytes, sha256 $(sha256sum "$out" | cut -c1-16))"
}

build x64 "${CXX_X64:-g++}" g++
build arm64 "${CXX_ARM64:-aarch64-linux-gnu-g++}" g++-aarch64-linux-gnu
