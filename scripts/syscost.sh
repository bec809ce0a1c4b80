#!/usr/bin/env bash
# System calls and context switches per message, for one case, per implementation:
# the noise-free side of a performance claim (wall time on a shared 2-core VM moves
# run to run; the kernel work per message does not, much).
#   scripts/syscost.sh CASE [IMPL...] [--build-dir DIR]
# CASE is a benchmark name without /impl:, e.g. pingpong/cap:1 or
# throughput/shape:spsc/cap:1. IMPL: built-ins, plug-ins under DIR/peers/plugins
# (crossbeam, flume, ...), or the native programs go-chan and <peer>-native
# (DIR/peers/bin). Default IMPLs: ck futex mutex crossbeam go-chan.
# For each: one run under `perf stat -e context-switches,cpu-migrations,task-clock`
# and one under `strace -f -c` (futex, sched_yield and the rest), printed per message.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build case="" impls=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="${2:?--build-dir needs a directory}"; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    -*) echo "syscost: unknown option '$1' (try --help)" >&2; exit 2 ;;
    *) if [ -z "$case" ]; then case="$1"; else impls+=("$1"); fi; shift ;;
  esac
done
[ -n "$case" ] || { echo "syscost: name a case, e.g. pingpong/cap:1 (try --help)" >&2; exit 2; }
[ ${#impls[@]} -gt 0 ] || impls=(ck futex mutex crossbeam go-chan)
command -v perf >/dev/null && command -v strace >/dev/null ||
  { echo "syscost: needs perf (linux-perf) and strace" >&2; exit 2; }
scenario="${case%%/*}"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

cmd_for() { # the command that runs one repetition of $case on $1
  local impl=$1
  if [ -x "$build/peers/bin/peer-$impl" ]; then
    echo "$build/peers/bin/peer-$impl --case $case --reps 1 --out $tmp/peer.json"
  else
    local plug=()
    [ -e "$build/peers/plugins/libpeer_$impl.so" ] && plug=(--plugin "$build/peers/plugins/libpeer_$impl.so")
    [ -e "$build/impls/peers/libpeer_$impl.so" ] && plug=(--plugin "$build/impls/peers/libpeer_$impl.so")
    echo "$build/chanbench-run --no-references ${plug[*]} --impl $impl --scenario $scenario --repetitions 1 --interleave none --benchmark_filter=^$case/impl:$impl(/|\$) --out $tmp/run.json"
  fi
}
msgs_of() { # messages moved, from the result file the command wrote
  /usr/bin/python3 - "$tmp" <<'PY'
import json, pathlib, sys
for f in ("run.json", "peer.json"):
    p = pathlib.Path(sys.argv[1]) / f
    if p.exists():
        try:
            d = json.loads(p.read_text())
        except ValueError:
            continue
        for b in d.get("benchmarks", []):
            if b.get("msgs") and not b.get("error_occurred"):
                print(int(b["msgs"])); sys.exit(0)
print(0)
PY
}

printf '%-14s %10s %12s %10s %12s %12s %12s %12s\n' \
  impl msgs "ctxsw/msg" "migr/msg" "cpu_us/msg" "futex/msg" "yield/msg" "other/msg"
for impl in "${impls[@]}"; do
  rm -f "$tmp"/*.json
  cmd=$(cmd_for "$impl")
  perf stat -x, -e context-switches,cpu-migrations,task-clock -o "$tmp/perf.txt" $cmd >/dev/null 2>"$tmp/err" ||
    { echo "$impl: run failed: $(tail -2 "$tmp/err")"; continue; }
  n=$(msgs_of)
  [ "$n" -gt 0 ] || { echo "$impl: no result for $case"; continue; }
  rm -f "$tmp"/*.json
  strace -f -c -o "$tmp/strace.txt" $cmd >/dev/null 2>&1 || true
  /usr/bin/python3 - "$tmp" "$impl" "$n" <<'PY'
import sys, pathlib
tmp, impl, n = pathlib.Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
perf = {}
for line in (tmp / "perf.txt").read_text().splitlines():
    f = line.split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        perf[f[2]] = float(f[0])
calls = {}
for line in (tmp / "strace.txt").read_text().splitlines():
    f = line.split()
    if len(f) >= 5 and f[3].isdigit() and f[-1] != "total":
        calls[f[-1]] = int(f[3])
fut = calls.pop("futex", 0); yl = calls.pop("sched_yield", 0); other = sum(calls.values())
print(f"{impl:14s} {n:10d} {perf.get('context-switches', 0)/n:12.3f} {perf.get('cpu-migrations', 0)/n:10.4f} "
      f"{perf.get('task-clock', 0)*1e3/n:12.3f} {fut/n:12.3f} {yl/n:12.3f} {other/n:12.4f}")
PY
done
echo "(one run each, whole process: setup and the runner's own threads included; $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg))"
