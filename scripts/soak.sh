#!/usr/bin/env bash
# The soak: >= 10^8 messages per built-in through the stress drivers (every
# check, every capacity class, threads above the core count), with a time budget
# and a progress line per chunk; zero loss and zero duplicates or it fails.
#   scripts/soak.sh                          # mutex, futex, ck; 1e8 messages each
#   scripts/soak.sh --impl futex --msgs 2e8 --budget 3600
#   scripts/soak.sh --short                  # the CI version: 6e5 each, seconds
# Uses the drivers of $CHANBENCH_BUILD (default build/; --build DIR). Exit: 0 pass,
# 1 discrepancy / crash / hang, 3 budget ran out before the target. Details:
# tests/soak.py; summary JSON in <build>/soak/summary.json.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 tests/soak.py "$@"
