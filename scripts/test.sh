#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test of chanbench:
#   1. the conformance suite (pytest: ctypes tests, C stress drivers, linearizability,
#      plug-in loading, the broken plug-ins self-test, scenarios, reports, peers)
#      on the Release build, writing results/conformance/matrix.{md,json};
#   2. the same suite on an AddressSanitizer+UndefinedBehaviorSanitizer build
#      (leaks checked in the C drivers, undelivered messages included);
#   3. the C drivers on a ThreadSanitizer build, for the implementations TSan
#      can see into (see tests/tsan/README.md).
# Options: --quick (skip the sanitizer builds), --no-peers (skip Go/Rust peers).
# Exit status: 0 when everything passed; non-zero otherwise (pytest's "no tests
# collected", exit 5, counts as a failure).
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0; peers=1
for a in "$@"; do
  case "$a" in
    --quick) quick=1 ;;
    --no-peers) peers=0 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "test: unknown option '$a' (try --help)" >&2; exit 2 ;;
  esac
done

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
PYTEST=(/usr/bin/python3 -m pytest -p no:cacheprovider)

# pytest exit codes: 0 ok, 1 failures, 5 no tests collected (a failure for us).
run_pytest() {
  local rc=0
  "${PYTEST[@]}" "$@" || rc=$?
  if [ "$rc" -eq 5 ]; then echo "test: pytest collected no tests: failing" >&2; return 1; fi
  return "$rc"
}

step "install dependencies"
if [ "$peers" -eq 1 ]; then bash scripts/install-deps.sh --peers; else bash scripts/install-deps.sh; fi

step "build (Release)"
bash scripts/build.sh build
if [ "$peers" -eq 1 ] && [ -x peers/build.sh ]; then
  step "build external peers (Go, Rust)"
  bash peers/build.sh --build-dir build
fi

step "test suite (Release)"
# The template plug-in runs beside the built-ins: it must pass the same suite.
CHANBENCH_BUILD="$PWD/build" CHANBENCH_PLUGINS="$PWD/build/plugins/libchan_template.so" \
  run_pytest tests -n 2 --matrix-out=results/conformance

step "soak, short version (scripts/soak.sh --short: 6e5 messages per built-in, every check and capacity)"
CHANBENCH_BUILD="$PWD/build" bash scripts/soak.sh --short

if [ "$quick" -eq 0 ]; then
  step "build (AddressSanitizer + UBSan)"
  bash scripts/build.sh build-asan -DCHANBENCH_SANITIZE=address
  step "test suite (AddressSanitizer + UBSan)"
  # Python itself is not instrumented: preload the ASan runtime for the ctypes
  # tests and leave leak checking to the C drivers, which run as their own processes.
  CHANBENCH_BUILD="$PWD/build-asan" CHANBENCH_SANITIZER=address \
    LD_PRELOAD="$(gcc -print-file-name=libasan.so)" \
    ASAN_OPTIONS="detect_leaks=0:abort_on_error=1" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
    run_pytest tests -n 2 -m "not peers and not report" --matrix-out=build-asan/conformance

  step "build (ThreadSanitizer)"
  bash scripts/build.sh build-tsan -DCHANBENCH_SANITIZE=thread
  step "C drivers under ThreadSanitizer"
  # Python lists the implementations from the Release library (a TSan library
  # cannot be loaded through ctypes); the drivers come from build-tsan.
  CHANBENCH_BUILD="$PWD/build" CHANBENCH_DRIVER_BUILD="$PWD/build-tsan" CHANBENCH_SANITIZER=thread \
    run_pytest tests/test_stress.py tests/test_linearizability.py tests/test_select.py tests/test_ck_chaos.py \
      -n 2 --matrix-out=build-tsan/conformance -k "stress or linearizab or driver or chaos"
  step "every scenario under ThreadSanitizer (quick profile, one repetition)"
  # Scenarios exercise select, poll fds, batches and the other kinds in ways the
  # drivers do not; every run must validate and TSan must report nothing (exit 66).
  build-tsan/chanbench-run --no-references --profile quick --repetitions 1 --out build-tsan/scenarios.json \
    --impl mutex --impl futex --impl ck --impl bcast-mutex --impl bcast-futex --impl watch-mutex \
    --impl watch-seqlock --impl oneshot-mutex --impl oneshot-futex
fi
step "all tests passed"
