#!/usr/bin/env bash
# Runs every built peer program (peers/build.sh) on the throughput and
# ping-pong scenarios and writes OUT_DIR/peer-<name>.json for each, in the
# result format of docs/RESULTS.md: each program's repetitions one block after
# another, after (or before) chanbench-run's. scripts/bench.sh and
# scripts/stability.sh do not run them this way: they hand the programs to
# chanbench-run (--runner-args below), which runs them one repetition at a time,
# interleaved with every other implementation of the case.
#
#   peers/run.sh --profile quick|default|long --out-dir DIR
#                [--build-dir DIR] [--only NAME[,NAME...]] [--timeout SECONDS]
#                [-- extra arguments for every program, e.g. --reps 1 --msgs 4000]
#   peers/run.sh --runner-args [--build-dir DIR] [--only NAME[,NAME...]]
#                prints, one word per line, what chanbench-run needs to run every
#                built peer: "--plugin PATH" for each peer plug-in (the C/C++
#                adapters in DIR/impls/peers, the Go/Rust plug-ins in
#                DIR/peers/plugins: libpeer_*.so), "--peer-program PATH" for each
#                built program (of --only, if given), and "--skip
#                go-chan-cgo:throughput|pingpong" where go-chan runs natively
#                (scripts/bench.sh and scripts/stability.sh use it)
#
# NAME is go-chan, crossbeam-native, flume-native, tokio-mpsc-native or
# std-mpsc-native (the plug-ins of the same peers are run by chanbench-run). Each program prints
# its progress (one line per repetition) as it goes. A peer that is not built is
# reported and skipped. The exit status is 1 if any program failed a validation,
# timed out (default limit: 300 s per program; 1200 s for the long profile) or
# crashed; every other peer still runs.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
build="$repo/build"
profile="" out_dir="" only="" limit="" runner_args=0
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --out-dir) out_dir="${2:?--out-dir needs a directory}"; shift 2 ;;
    --build-dir) build="${2:?--build-dir needs a directory}"; shift 2 ;;
    --only) only="${2:?--only needs names}"; shift 2 ;;
    --timeout) limit="${2:?--timeout needs seconds}"; shift 2 ;;
    --runner-args) runner_args=1; shift ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
    *) echo "peers/run.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
peers=(go-chan crossbeam-native flume-native tokio-mpsc-native std-mpsc-native)
if [ -n "$only" ]; then
  IFS=, read -r -a peers <<<"$only"
fi
bin="$build/peers/bin"
if [ "$runner_args" -eq 1 ]; then
  for so in "$build"/impls/peers/libpeer_*.so "$build"/peers/plugins/libpeer_*.so; do
    if [ -f "$so" ]; then printf -- '--plugin\n%s\n' "$so"; fi
  done
  # The programs of the list above (or --only) that are built; a stale binary of an
  # older name left in the build directory is not picked up.
  for name in "${peers[@]}"; do
    prog="$bin/peer-$name"
    if [ -f "$prog" ] && [ -x "$prog" ]; then printf -- '--peer-program\n%s\n' "$prog"; fi
  done
  # go-chan-cgo pays a cgo crossing (microseconds on Go 1.19) on every call: where
  # the native go-chan program runs (throughput, ping-pong), the plug-in is left
  # out, so Go is not judged by its FFI there (issue 12).
  if [ -x "$bin/peer-go-chan" ]; then
    printf -- '--skip\ngo-chan-cgo:throughput\n--skip\ngo-chan-cgo:pingpong\n'
    printf -- '--skip-why\nthe native go-chan program runs it without the cgo crossing\n'
  fi
  exit 0
fi
case "$profile" in
  quick|default|long) ;;
  "") echo "peers/run.sh: --profile is required (quick, default or long)" >&2; exit 2 ;;
  *) echo "peers/run.sh: unknown profile '$profile' (quick, default or long)" >&2; exit 2 ;;
esac
[ -n "$out_dir" ] || { echo "peers/run.sh: --out-dir is required" >&2; exit 2; }
[ -n "$limit" ] || { [ "$profile" = long ] && limit=1200 || limit=300; }
mkdir -p "$out_dir"
CHANBENCH_COMMIT="$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)"
export CHANBENCH_COMMIT

ok=() bad=() absent=()
for name in "${peers[@]}"; do
  prog="$bin/peer-$name"
  if [ ! -x "$prog" ]; then
    echo "peers/run.sh: $name: not built ($prog missing; run peers/build.sh --build-dir $build)" >&2
    absent+=("$name")
    continue
  fi
  out="$out_dir/peer-$name.json"
  echo "peers/run.sh: $name: profile $profile -> $out"
  rc=0
  timeout --kill-after=10 "$limit" "$prog" --profile "$profile" --out "$out" "${extra[@]}" || rc=$?
  case "$rc" in
    0) ok+=("$name") ;;
    1) echo "peers/run.sh: $name: some runs FAILED validation (see error_message in $out)" >&2; bad+=("$name") ;;
    124|137) echo "peers/run.sh: $name: TIMED OUT after $limit s (no result file written)" >&2; bad+=("$name") ;;
    *) echo "peers/run.sh: $name: exited with status $rc" >&2; bad+=("$name") ;;
  esac
done
echo "peers/run.sh: ok: ${ok[*]:-none}; failed: ${bad[*]:-none}; not built: ${absent[*]:-none}"
[ ${#bad[@]} -eq 0 ]
