"""Stable ratios (issue 13 items 1, 2, 3, 7): bootstrap intervals, "established"
orderings, the stability summary, and chanbench-run's rounds (every implementation of
a case once per round, native peer programs included, more rounds while an interval is
wide).

The report parts run on synthetic result files; the runner parts run
$CHANBENCH_BUILD/chanbench-run (default <repo>/build) with a fake native peer program
(a shell script speaking the --peer-program protocol) and are skipped when it is not
built.
"""

import json
import os
import random
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.test_report import CONTEXT, entry, rate_counters, run_main, runner_file, table_after  # noqa: E402

pytestmark = pytest.mark.report


def _runs(values, source="f.json", impl="x"):
    from harness.report.results import Run, parse_name
    name = parse_name(f"throughput/shape:spsc/cap:64/impl:{impl}")
    return [Run(name, name.key, source, "chanbench-run", "channel", i, {"msgs_per_s": v})
            for i, v in enumerate(values)]


# ---------------------------------------------------------------------------- bootstrap

def test_paired_ratio_cancels_drift_between_rounds():
    """Both rows slow down together from round to round (machine drift): paired by round
    their ratio is exact; the same values from two files are unpaired and wide."""
    from harness.report.stats import ratio_interval
    drift = [1.0, 0.5, 2.0, 0.7, 1.4, 0.9, 1.8]
    a = [2e6 * d for d in drift]
    b = [1e6 * d for d in drift]
    paired = ratio_interval(_runs(a, impl="a"), _runs(b, impl="b"), "msgs_per_s")
    assert paired.paired and paired.value == pytest.approx(2.0)
    assert paired.lo == pytest.approx(2.0) and paired.hi == pytest.approx(2.0)
    unpaired = ratio_interval(_runs(a, "one.json", "a"), _runs(b, "two.json", "b"), "msgs_per_s")
    assert not unpaired.paired
    assert unpaired.lo < 1.5 and unpaired.hi > 2.5   # the drift is in the interval
    assert not unpaired.excludes(2.0) and paired.excludes(1.0)


def test_interval_contains_value_and_narrows_with_repetitions():
    from harness.report.stats import median_interval, ratio_interval
    rng = random.Random(7)
    few = [1e6 * rng.gauss(1, 0.1) for _ in range(5)]
    many = [1e6 * rng.gauss(1, 0.1) for _ in range(60)]
    i5, i60 = median_interval(few), median_interval(many)
    for iv in (i5, i60):
        assert iv.lo <= iv.value <= iv.hi
    assert i60.width() < i5.width()
    one = median_interval([3.0])
    assert not one.known and not one.excludes(1.0)
    r = ratio_interval(_runs(many, impl="a"), _runs([v * 0.5 for v in many], impl="b"), "msgs_per_s")
    assert r.value == pytest.approx(2.0) and r.excludes(1.0)


# ---------------------------------------------------------------------------- established

def _case_file(path, ours, peer, seed):
    """One throughput case, ours (mutex) and a peer (go-chan) interleaved in one file,
    each round with its own machine-wide factor and independent noise of 15%."""
    rng = random.Random(seed)
    benches = []
    for rep in range(7):
        drift = rng.uniform(0.6, 1.4)
        for impl, rate, kind in (("mutex", ours, "channel"), ("go-chan", peer, "peer")):
            v = rate * drift * rng.uniform(0.85, 1.15)
            benches.append(entry(f"throughput/shape:spsc/cap:64/impl:{impl}", rep,
                                 rate_counters(v), kind, reps=7))
    path.write_text(json.dumps({"context": CONTEXT, "benchmarks": benches}))
    return path


@pytest.mark.parametrize("peer_rate, established", [(3.0e6, True), (1.03e6, False)])
def test_ordering_established_only_without_overlap(tmp_path, peer_rate, established):
    f = _case_file(tmp_path / "r.json", 1.0e6, peer_rate, seed=3)
    out = tmp_path / "out"
    assert run_main("report", f, "--out-dir", out).returncode == 0
    text = (out / "REPORT.md").read_text()
    who = table_after(text, "## Who wins each case")[0]
    grid = table_after(text, "## Summary: throughput by shape × capacity: winner and ratio")[0]["64"]
    if established:
        assert who["winner"].startswith("go-chan")
        assert who["who wins"] == "**peer beats all ours**", who
        assert "established" in grid and "not established" not in grid, grid
    else:   # whichever median came out ahead, the order is not claimed
        assert "not established" in who["who wins"], who
        assert "not established" in grid, grid
        assert who["who wins"] not in ("**peer beats all ours**", "**ours**")


# ---------------------------------------------------------------------------- stability

def test_stability_summary_and_section(tmp_path):
    """Run b: the whole machine 10% slower (every ratio unchanged), and one cell 1.5x
    slower (its ratios drift by a third): exactly that cell is not stable."""
    a = runner_file(tmp_path / "a.json", error=False, seed=1)
    slow = "throughput/shape:spsc/cap:64/impl:mutex"
    b = runner_file(tmp_path / "b.json", error=False, seed=2, drift=1.1, slowdown={slow: 1.5})
    out = tmp_path / "stability.json"
    proc = run_main("stability", "--a", a, "--b", b, "--json-out", out)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    s = data["summary"]
    tp = s["median"]["throughput+pingpong"]
    assert tp["median"] == pytest.approx(1 - 1 / 1.1, abs=0.03)        # absolute medians moved
    ours = s["ratio_ours"]["all"]
    assert ours["median"] < 0.03 and ours["max"] == pytest.approx(1 / 3, abs=0.05)
    unstable = [(u["case"], u["impl"]) for u in data["unstable"]]
    assert unstable == [("throughput/shape:spsc/cap:64", "mutex")], unstable
    assert s["target_met"]          # one cell in 30: the median and p90 stay under 3% and 10%
    assert "cells not stable" in proc.stdout
    rep = tmp_path / "rep"
    assert run_main("report", b, "--stability", out, "--out-dir", rep).returncode == 0
    text = (rep / "REPORT.md").read_text()
    assert "## Stability" in text and "- [Stability](#stability)" in text
    rows = table_after(text, "## Stability")
    first = rows[0]
    assert first["drift of"] == "ratio to best of ours" and first["cells"] == "all"
    assert float(first["median"].rstrip("%")) == pytest.approx(100 * ours["median"], abs=0.06)
    assert "throughput/shape:spsc/cap:64 | mutex" in text


def test_stability_of_identical_runs_is_zero(tmp_path):
    a = runner_file(tmp_path / "a.json", error=False, seed=1)
    proc = run_main("stability", "--a", a, "--b", a, "--json-out", tmp_path / "s.json")
    data = json.loads((tmp_path / "s.json").read_text())
    assert data["summary"]["ratio_ours"]["all"]["max"] == 0 and data["unstable"] == []
    assert data["summary"]["target_met"] and "met" in proc.stdout


# ---------------------------------------------------------------------------- the runner's rounds

BUILD = Path(os.environ.get("CHANBENCH_BUILD", ROOT / "build"))
RUNNER = BUILD / "chanbench-run"
needs_runner = pytest.mark.skipif(not RUNNER.exists(), reason=f"{RUNNER} is not built")

FAKE_PEER = """#!/bin/sh
# A native peer program as chanbench-run --peer-program runs it.
case "$1" in --describe) printf 'name=fakepeer\\nproducer=test-peer\\ndescription=a script\\n'; exit 0 ;; esac
case "$*" in *cap:unbounded*) echo "chanbench-na no unbounded channel here"; exit 0 ;; esac
echo "$*" >> "$(dirname "$0")/calls.log"
echo "chanbench-result wall_ns=2000000 msgs=4000 cpu_ns=3000000 vcsw=1 ivcsw=2 extra_counter=7"
"""


def _run(tmp_path, *args):
    out = tmp_path / "r.json"
    proc = subprocess.run([str(RUNNER), "--profile", "quick", "--no-references", "--impl", "mutex",
                           "--impl", "futex", "--scenario", "throughput", "--scale", "0.01",
                           "--out", str(out), *map(str, args)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    return doc, [(e["name"].rsplit("impl:", 1)[1], e.get("repetition_index"))
                 for e in doc["benchmarks"] if e.get("run_type") == "iteration"], proc.stderr


@needs_runner
def test_rounds_interleave_implementations_and_peer_programs(tmp_path):
    prog = tmp_path / "peer-fake"
    prog.write_text(FAKE_PEER)
    prog.chmod(prog.stat().st_mode | stat.S_IXUSR)
    doc, order, _ = _run(tmp_path, "--peer-program", prog, "--impl", "fakepeer",
                         "--repetitions", "3", "--max-repetitions", "3",
                         "--benchmark_filter=shape:spsc/cap:(64|unbounded)")
    cap64 = [o for o, e in zip(order, doc["benchmarks"]) if "cap:64" in e["name"]]
    assert cap64 == [("mutex", 0), ("futex", 0), ("fakepeer", 0), ("mutex", 1), ("futex", 1),
                     ("fakepeer", 1), ("mutex", 2), ("futex", 2), ("fakepeer", 2)], cap64
    peer = [e for e in doc["benchmarks"] if e["name"].endswith("cap:64/impl:fakepeer")]
    assert all(e["label"] == "kind=peer" and e["msgs_per_s"] == pytest.approx(2e6)
               and e["extra_counter"] == 7 and e["real_time"] == pytest.approx(2.0) for e in peer)
    assert all("load_avg_1m" in e for e in doc["benchmarks"] if e.get("run_type") == "iteration"
               and not e.get("error_occurred"))
    # the program got the runner's own message count, one repetition at a time, warmed up
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert len(calls) == 3
    assert all(re.search(r"--case throughput/shape:spsc/cap:64 --msgs \d+ --reps 1 --warmup --emit-line", c)
               for c in calls), calls
    # n/a once (not once per round), with the program's reason
    na = [e for e in doc["benchmarks"] if e["name"].endswith("unbounded/impl:fakepeer")]
    assert len(na) == 1 and na[0]["error_message"] == "n/a: no unbounded channel here"
    assert doc["context"]["interleave"] == "case"
    assert doc["context"]["peer_programs"] == "fakepeer=test-peer"


@needs_runner
def test_interleave_none_runs_repetitions_back_to_back(tmp_path):
    _, order, _ = _run(tmp_path, "--interleave", "none", "--repetitions", "2",
                       "--benchmark_filter=shape:spsc/cap:64")
    assert order == [("mutex", 0), ("mutex", 1), ("futex", 0), ("futex", 1)], order


@needs_runner
@pytest.mark.parametrize("width, rounds", [("1e-9", 5), ("1e9", 2)])
def test_rounds_grow_while_intervals_are_wide(tmp_path, width, rounds):
    """A case gets more rounds (up to --max-repetitions) only while a ratio's interval
    is wider than --ci-width."""
    _, order, err = _run(tmp_path, "--repetitions", "2", "--max-repetitions", "5",
                         "--ci-width", width, "--extra-time", "120", "--extra-per-case", "1000",
                         "--benchmark_filter=shape:spsc/cap:64")
    assert order == [(i, r) for r in range(rounds) for i in ("mutex", "futex")], (order, err[-2000:])
