#!/usr/bin/env bash
# Builds the libFuzzer harness of the save scanner with ASan + UBSan (and, with --coverage, a
# source-coverage build that replays a corpus). Installs clang + libFuzzer if missing (Debian).
#   fuzz/build.sh              -> fuzz/out/save_scanner_fuzzer
#   fuzz/build.sh --coverage   -> also fuzz/out/save_scanner_cov
set -euo pipefail
cd "$(dirname "$0")/.."

CXX="${CXX_FUZZ:-clang++}"
probe() {
  local dir
  dir="$(mktemp -d)"
  printf '#include <stddef.h>\n#include <stdint.h>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t){return 0;}\n' >"$dir/p.cc"
  "$CXX" -fsanitize=fuzzer,address,undefined "$dir/p.cc" -o "$dir/p" >/dev/null 2>&1
  local rc=$?
  rm -rf "$dir"
  return $rc
}
if ! command -v "$CXX" >/dev/null 2>&1 || ! probe; then
  echo "fuzz: installing clang and libFuzzer (apt)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq clang >/dev/null
  # Debian 12 ships libFuzzer and the sanitizer runtimes in libclang-rt-<ver>-dev.
  ver="$(clang++ --version | sed -n 's/.*clang version \([0-9]*\).*/\1/p' | head -1)"
  apt-get install -y -qq "libclang-rt-${ver}-dev" >/dev/null 2>&1 || true
  probe || { echo "fuzz: clang cannot build with -fsanitize=fuzzer" >&2; exit 1; }
fi

mkdir -p fuzz/out
SRC=(fuzz/save_scanner_fuzzer.cc native/save_scanner.cc)
COMMON=(-std=c++17 -g -O1 -fno-omit-frame-pointer -Wall -Wextra)
"$CXX" "${COMMON[@]}" \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  "${SRC[@]}" -o fuzz/out/save_scanner_fuzzer
echo "built fuzz/out/save_scanner_fuzzer" >&2
"$CXX" "${COMMON[@]}" -fsanitize=address,undefined -fno-sanitize-recover=undefined \
  fuzz/leakcheck.cc native/locks.cc native/save_scanner.cc -o fuzz/out/leakcheck
echo "built fuzz/out/leakcheck" >&2

if [ "${1:-}" = "--coverage" ]; then
  # Replays a corpus (libFuzzer's main runs each file once) with source-based coverage.
  "$CXX" "${COMMON[@]}" -fsanitize=fuzzer -fprofile-instr-generate -fcoverage-mapping \
    "${SRC[@]}" -o fuzz/out/save_scanner_cov
  echo "built fuzz/out/save_scanner_cov" >&2
fi
