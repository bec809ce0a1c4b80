#!/usr/bin/env bash
# Compare mode, shown end to end (the same check as tests/test_compare_e2e.py, H4).
#   scripts/compare-demo.sh [BUILD_DIR] [OUT_DIR]
# BUILD_DIR defaults to build/ (built or brought up to date here with scripts/build.sh),
# OUT_DIR to a new temporary directory; the three result files and the two
# comparisons' JSON are left there.
#
# The plug-in "probe" is the template built twice (tests/slow/): libslow_probe_base.so
# as it is and libslow_probe_slow.so with a busy-wait in every send
# (DELAY_NS=..., default 5000, sets -DCHANBENCH_SLOW_DELAY_NS). Three runs of
# chanbench-run (ping-pong at capacity 1, probe and the control "mutex", REPS=20
# repetitions interleaved): two of the base build, one of the slowed build. Then
#   compare base_a base_b   must exit 0 (same build: no regression)
#   compare base_a slow     must exit 3 (the slowed probe is a regression)
# Every command is printed before it runs. Exit status 0 when both came out so.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
out="${2:-$(mktemp -d -t chanbench-compare.XXXXXX)}"
reps="${REPS:-20}"
threshold="${THRESHOLD:-0.10}"
mkdir -p "$out"

build_args=()
if [[ -n "${DELAY_NS:-}" ]]; then
  build_args+=("-DCHANBENCH_SLOW_DELAY_NS=$DELAY_NS")
fi
bash scripts/build.sh "$dir" "${build_args[@]}" >/dev/null

show() { printf '$ %s\n' "$*"; "$@"; }

bench() { # bench PLUGIN OUT: the runner's own output goes to OUT.log
  local cmd=("$dir/chanbench-run" --profile quick --no-references --scenario pingpong
    --impl mutex --impl probe --plugin "$1" --repetitions "$reps" --out "$2"
    --benchmark_filter=^pingpong/cap:1/ --benchmark_enable_random_interleaving=true)
  printf '$ %s\n' "${cmd[*]}"
  "${cmd[@]}" >"$2.log" 2>&1 || { cat "$2.log" >&2; echo "compare-demo: the run failed" >&2; exit 1; }
}

cmp() { # cmp BASE CAND JSON: prints the table, returns compare's exit status
  local st=0
  show /usr/bin/python3 -m harness.report compare "$1" "$2" --control mutex \
    --threshold "$threshold" --json-out "$3" || st=$?
  echo "(exit status $st)"
  return "$st"
}

base="$dir/tests/slow/libslow_probe_base.so"
slow="$dir/tests/slow/libslow_probe_slow.so"
echo "== the two builds of the plug-in"
for so in "$base" "$slow"; do
  printf '$ %s\n' "$dir/chanbench-run --no-references --list --plugin $so | grep '^  probe'"
  "$dir/chanbench-run" --no-references --list --plugin "$so" 2>/dev/null | grep -E '^  probe'
done
echo
echo "== three runs: the base build twice, the slowed build once"
bench "$base" "$out/base_a.json"
bench "$base" "$out/base_b.json"
bench "$slow" "$out/slow.json"
echo
echo "== two runs of the same build (expected: exit 0)"
same=0; cmp "$out/base_a.json" "$out/base_b.json" "$out/compare-same.json" || same=$?
echo
echo "== base vs slowed build (expected: exit 3)"
slowed=0; cmp "$out/base_a.json" "$out/slow.json" "$out/compare-slow.json" || slowed=$?
echo
echo "results in $out"
if [[ $same -eq 0 && $slowed -eq 3 ]]; then
  echo "compare-demo: OK (same build passed, slowed build flagged)"
else
  echo "compare-demo: UNEXPECTED (same build exit $same, slowed build exit $slowed)" >&2
  exit 1
fi
