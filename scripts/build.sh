#!/usr/bin/env bash
# Configures and builds chanbench into a build directory.
#   scripts/build.sh [BUILD_DIR] [extra cmake -D options...]
# BUILD_DIR defaults to build/. Release, warnings as errors.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${1:-build}"
shift || true
mkdir -p "$dir"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DCHANBENCH_WERROR=ON "$@" >"$dir/configure.log" 2>&1 || {
  cat "$dir/configure.log" >&2; echo "build: cmake configure failed (log above)" >&2; exit 1; }
cmake --build "$dir" -j"$(nproc)"
