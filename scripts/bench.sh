#!/usr/bin/env bash
# chanbench's main job: installs what is missing, builds, runs the benchmark
# suite on every implementation (the built-ins, the reference limits, the C/C++
# peer adapters, and the Go and Rust peers), and writes the report.
#   scripts/bench.sh [--profile quick|default|long] [--no-peers] [--build-dir DIR]
#                    [-- RUNNER_ARGS...]
# --profile   quick: a smoke run (< 3 min); default (about 30 min on 2 cores with
#             every peer; --no-peers: ours alone); long.
# --no-peers  only chanbench's own implementations (no Go/Rust/GLib/TBB/...).
# --build-dir where to build (default build/).
# RUNNER_ARGS go to chanbench-run (e.g. --plugin my.so, --scenario pingpong).
# The Go and Rust peer programs run inside chanbench-run's rounds (--peer-program:
# one repetition at a time, interleaved with every implementation of the case).
# Writes results/latest/<profile>*.json and results/<machine>/REPORT.md.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=default; peers=1; runner_args=(); build=build
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs quick, default or long}"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    --no-peers) peers=0; shift ;;
    --build-dir) build="${2:?--build-dir needs a directory}"; shift 2 ;;
    --) shift; runner_args=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in quick|default|long) ;; *) echo "bench: unknown profile '$profile'" >&2; exit 2 ;; esac

step() { printf '\n=== %s (%s)\n' "$1" "$(date +%T)"; }
start=$(date +%s)

step "install dependencies"
if [ "$peers" -eq 1 ]; then bash scripts/install-deps.sh --peers; else bash scripts/install-deps.sh; fi
step "build"
bash scripts/build.sh "$build"

out_dir=results/latest
mkdir -p "$out_dir"
rm -f "$out_dir/$profile.json" "$out_dir/$profile.json.series.json" "$out_dir"/peer-*.json
inputs=("$out_dir/$profile.json")

plugins=()
if [ "$peers" -eq 1 ]; then
  if [ -x peers/build.sh ]; then
    step "external peers (Go, Rust): build"
    bash peers/build.sh --build-dir "$build"
  fi
  # Every built peer (peers/run.sh --runner-args): the C/C++ adapters and the
  # Go/Rust plug-ins (--plugin), the Go/Rust programs (--peer-program), and the
  # go-chan-cgo cells the native go-chan program covers (--skip).
  mapfile -t plugins < <(bash peers/run.sh --runner-args --build-dir "$build")
  if [ -x peers/build.sh ]; then
    # The cgo crossing every go-chan-cgo call pays, for the note beside its rows.
    rm -f "$out_dir/cgo-cost.json"
    if [ -e "$build/peers/plugins/libpeer_go-chan-cgo.so" ] &&
       /usr/bin/python3 peers/go-plugin/cgo_cost.py "$build/peers/plugins/libpeer_go-chan-cgo.so" \
         --out "$out_dir/cgo-cost.json"; then
      inputs+=("$out_dir/cgo-cost.json")
    fi
  fi
fi

step "benchmarks: chanbench-run --profile $profile"
rc=0
"$build"/chanbench-run --profile "$profile" "${plugins[@]}" --out "$out_dir/$profile.json" "${runner_args[@]}" || rc=$?

step "report"
matrix=()
[ -f results/conformance/matrix.json ] && matrix=(--conformance results/conformance/matrix.json)
/usr/bin/python3 -m harness.report report "${inputs[@]}" "${matrix[@]}"

echo "bench: finished in $(( $(date +%s) - start )) s"
if [ "$rc" -ne 0 ]; then
  echo "bench: some runs failed validation (see ERROR rows in the report)" >&2
fi
exit "$rc"
