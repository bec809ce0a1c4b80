#!/usr/bin/env bash
# Stability of the numbers: two back-to-back runs of one profile, and per cell
# (case x implementation) the drift of the absolute medians and of the ratios to
# the best of ours and to the best peer. Writes the per-cell comparison as JSON,
# prints its summary, and writes the report of the second run with a
# "Stability" section (median and p90 ratio drift over all cells, the unstable
# cells).
#   scripts/stability.sh [--profile quick|default|long] [--build-dir DIR] [--no-build]
#                        [--no-peers] [--out-dir DIR] [--report-dir DIR]
#                        [-- RUNNER_ARGS...]
# --profile    the profile both runs use (default: default)
# --build-dir  where chanbench is built (default build/); --no-build: use it as is
# --no-peers   only chanbench's own implementations
# --out-dir    result files: OUT/stability-<profile>-a.json, -b.json and
#              OUT/stability-<profile>.json (default results/latest)
# --report-dir where REPORT.md goes (default results/<machine>, as bench.sh)
# RUNNER_ARGS go to both chanbench-run invocations (e.g. --scenario throughput).
# Exit status: 0, or 1 if a run failed validation (everything is still written).
set -euo pipefail
cd "$(dirname "$0")/.."

profile=default build=build do_build=1 peers=1 out_dir=results/latest report_dir="" runner_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs quick, default or long}"; shift 2 ;;
    --build-dir) build="${2:?--build-dir needs a directory}"; shift 2 ;;
    --no-build) do_build=0; shift ;;
    --no-peers) peers=0; shift ;;
    --out-dir) out_dir="${2:?--out-dir needs a directory}"; shift 2 ;;
    --report-dir) report_dir="${2:?--report-dir needs a directory}"; shift 2 ;;
    --) shift; runner_args=("$@"); break ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "stability: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in quick|default|long) ;; *) echo "stability: unknown profile '$profile'" >&2; exit 2 ;; esac

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
start=$(date +%s)
if [ "$do_build" -eq 1 ]; then
  step "build"
  bash scripts/build.sh "$build"
  if [ "$peers" -eq 1 ] && [ -x peers/build.sh ]; then bash peers/build.sh --build-dir "$build"; fi
fi
[ -x "$build/chanbench-run" ] || { echo "stability: $build/chanbench-run is not built" >&2; exit 2; }

extra=()
if [ "$peers" -eq 1 ]; then
  # Every built peer: plug-ins, programs and skips, as scripts/bench.sh runs them.
  mapfile -t extra < <(bash peers/run.sh --runner-args --build-dir "$build")
fi

mkdir -p "$out_dir"
# The cgo crossing every go-chan-cgo call pays, for the note beside its rows (as bench.sh).
cgo=()
rm -f "$out_dir/cgo-cost.json"
if [ "$peers" -eq 1 ] && [ -e "$build/peers/plugins/libpeer_go-chan-cgo.so" ] &&
   /usr/bin/python3 peers/go-plugin/cgo_cost.py "$build/peers/plugins/libpeer_go-chan-cgo.so" \
     --out "$out_dir/cgo-cost.json"; then
  cgo=("$out_dir/cgo-cost.json")
fi
rc=0
for run in a b; do
  out="$out_dir/stability-$profile-$run.json"
  rm -f "$out" "$out.series.json"
  step "run $run of 2: chanbench-run --profile $profile -> $out"
  t0=$(date +%s)
  "$build/chanbench-run" --profile "$profile" "${extra[@]}" --out "$out" "${runner_args[@]}" || rc=1
  echo "stability: run $run took $(( $(date +%s) - t0 )) s"
done

step "drift"
summary="$out_dir/stability-$profile.json"
/usr/bin/python3 -m harness.report stability --a "$out_dir/stability-$profile-a.json" \
  --b "$out_dir/stability-$profile-b.json" --json-out "$summary"

step "report (second run, with the Stability section)"
args=("$out_dir/stability-$profile-b.json" "${cgo[@]}" --stability "$summary")
[ -f results/conformance/matrix.json ] && args+=(--conformance results/conformance/matrix.json)
[ -n "$report_dir" ] && args+=(--out-dir "$report_dir")
/usr/bin/python3 -m harness.report report "${args[@]}"
echo "stability: finished in $(( $(date +%s) - start )) s; per-cell drift in $summary"
exit "$rc"
