#!/usr/bin/python3
"""The cost of the cgo crossing that every go-chan-cgo operation pays.

Loads libpeer_go-chan-cgo.so (peers/build.sh) with ctypes and calls
chanbench_go_cgo_null_ns() (plugin.c): the median over 15 rounds of 2000
calls, from this (C, not Go-created) thread, of goNull, an exported Go
function that does nothing, through the same path as every channel call.
Writes a result file the report reads (harness/report: the note beside the
go-chan-cgo rows), a google-benchmark JSON file with no benchmarks:

    peers/go-plugin/cgo_cost.py build/peers/plugins/libpeer_go-chan-cgo.so --out results/latest/cgo-cost.json
"""
import argparse
import ctypes
import json
import platform
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("so")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    lib = ctypes.CDLL(args.so)
    lib.chanbench_go_cgo_null_ns.restype = ctypes.c_double
    ns = lib.chanbench_go_cgo_null_ns()
    if not ns > 0:
        sys.exit(f"cgo_cost: {args.so}: measured {ns!r} ns")
    try:
        go = subprocess.run(["go", "version"], capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        go = ""
    doc = {"context": {"producer": "cgo-cost", "impl": "go-chan-cgo", "cgo_null_call_ns": round(ns, 1),
                       "method": "median of 15 rounds x 2000 calls of an empty exported Go function "
                                 "from a C thread (peers/go-plugin/plugin.c)",
                       "go_version": go, "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                       "host_name": platform.node()},
           "benchmarks": []}
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(f"cgo_cost: a null call C->Go costs {ns:.0f} ns ({args.out})")


if __name__ == "__main__":
    main()
