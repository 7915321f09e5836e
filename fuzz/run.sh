#!/usr/bin/env bash
# Fuzzes the native iptables-save scanner with libFuzzer + ASan + UBSan.
#   npm run fuzz -- --seconds N [--coverage] [--jobs J]
# Seeds: fuzz/seeds (real dumps of both backends, see capture-seeds.js) and fuzz/regressions.
# The growing corpus lives in fuzz/out/corpus (kept between runs); a crashing input is written
# to fuzz/crashes/ and the run fails: minimise it, keep it in fuzz/regressions/ (npm test replays
# it through both readers) and fix the scanner. Prints executions, edges and, with --coverage,
# line/branch coverage of native/save_scanner.cc over the whole corpus.
set -euo pipefail

# All in one function: bash parses it whole before running, so editing this file while a long
# run is going cannot derail that run.
main() {
  cd "$(dirname "$0")/.."
  
  seconds=60
  coverage=0
  jobs=1
  while [ $# -gt 0 ]; do
    case "$1" in
      --seconds) seconds="$2"; shift 2 ;;
      --seconds=*) seconds="${1#*=}"; shift ;;
      --coverage) coverage=1; shift ;;
      --jobs) jobs="$2"; shift 2 ;;
      *) echo "usage: npm run fuzz -- --seconds N [--coverage] [--jobs J]" >&2; exit 2 ;;
    esac
  done
  [[ "$seconds" =~ ^[0-9]+$ ]] || { echo "--seconds wants a whole number" >&2; exit 2; }
  
  if [ "$coverage" = 1 ]; then fuzz/build.sh --coverage; else fuzz/build.sh; fi
  mkdir -p fuzz/out/corpus fuzz/crashes
  log="fuzz/out/run-$(date +%Y%m%d-%H%M%S).log"
  
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
  export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
  # LeakSanitizer over the native core (locks and scanner), before fuzzing.
  tmp="$(mktemp -d)"
  fuzz/out/leakcheck "$tmp" fuzz/seeds/* || { rm -rf "$tmp"; echo "fuzz: leakcheck FAILED" >&2; exit 1; }
  rm -rf "$tmp"
  
  set +e
  if [ "$jobs" -gt 1 ]; then
    # Parallel workers share the corpus; each has its own log (fuzz-N.log) in the cwd.
    (cd fuzz/out && ./save_scanner_fuzzer -jobs="$jobs" -workers="$jobs" -max_total_time="$seconds" \
      -dict=../../fuzz/scanner.dict -max_len=16384 -print_final_stats=1 \
      -artifact_prefix=../../fuzz/crashes/ corpus ../../fuzz/seeds ../../fuzz/regressions) >"$log" 2>&1
    rc=$?
    cat fuzz/out/fuzz-*.log >>"$log" 2>/dev/null
  else
    fuzz/out/save_scanner_fuzzer -max_total_time="$seconds" -dict=fuzz/scanner.dict -max_len=16384 \
      -print_final_stats=1 -artifact_prefix=fuzz/crashes/ \
      fuzz/out/corpus fuzz/seeds fuzz/regressions >"$log" 2>&1
    rc=$?
  fi
  set -e
  
  execs=$(grep -h 'stat::number_of_executed_units' "$log" | awk '{s+=$2} END {print s+0}')
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  echo "fuzz: ${seconds}s, exit $rc, executions $execs"
  echo "fuzz: last status: $last"
  echo "fuzz: corpus $(ls fuzz/out/corpus | wc -l) files; log $log"
  if [ "$rc" -ne 0 ]; then
    echo "fuzz: FAILED — crashing input(s) in fuzz/crashes/:" >&2
    ls -la fuzz/crashes >&2
    grep -E 'ERROR|runtime error|invariant violated|SUMMARY' "$log" | head -20 >&2
    exit "$rc"
  fi
  
  if [ "$coverage" = 1 ]; then
    prof=fuzz/out/cov
    rm -rf "$prof" && mkdir -p "$prof"
    LLVM_PROFILE_FILE="$prof/%p.profraw" fuzz/out/save_scanner_cov -runs=0 \
      fuzz/out/corpus fuzz/seeds fuzz/regressions >/dev/null 2>&1 || true
    PD=$(command -v llvm-profdata || ls /usr/bin/llvm-profdata-* | head -1)
    COV=$(command -v llvm-cov || ls /usr/bin/llvm-cov-* | head -1)
    "$PD" merge -sparse "$prof"/*.profraw -o "$prof/merged.profdata"
    "$COV" report fuzz/out/save_scanner_cov -instr-profile="$prof/merged.profdata" native/save_scanner.cc \
      | tee fuzz/out/coverage.txt
  fi
}

main "$@"
exit $?
