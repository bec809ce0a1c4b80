"""Compare mode end to end (H4): real runs of the benchmark runner, then the gate.

The plug-in is the template built twice from tests/slow/slow_chan.c, both times
named "probe": <build>/tests/slow/libslow_probe_base.so as it is, and
libslow_probe_slow.so with a busy-wait in every send (CHANBENCH_SLOW_DELAY_NS,
20 us by default). Three runs of `chanbench-run` (ping-pong at capacity 1, the
probe and the built-in mutex channel as the control, REPS repetitions each,
interleaved) give three result files:

    base_a.json, base_b.json   the same build twice
    slow.json                  the slowed build

and `python3 -m harness.report compare` must

- pass base_a vs base_b: exit 0, no row gates (two runs of one build are not a
  regression, however the machine's load moved between them);
- flag base_a vs slow: exit 3, the row pingpong/cap:1/impl:probe is a
  REGRESSION worse than THRESHOLD with p < 0.05, and the verdict names it.

Why these settings (measured on the 2-core shared machine, see
scripts/compare-demo.sh): round-trip latency (p50) moves far less between runs
than throughput, but the machine switches between "modes" (a round trip of about
5, 7, 11 or 20 us for the same build, from one repetition to the next), so the
absolute numbers of two identical runs can differ by 2x. `--control mutex`
divides each probe repetition by the mutex repetition next to it (random
interleaving puts them close in time); the probe / mutex ratio of identical
builds then stays within about 2% of itself, while 20 us per send adds at least
40 us to a round trip that takes 5-20 us. (5 us per send, the first setting, left the
slowed build's ratios bimodal once runs were interleaved by round: p = 0.053 once in
about six CI runs, a flake; at 20 us every mode is at least 3x.) 20 repetitions keep the U test strong
when a few repetitions straddle a mode switch. THRESHOLD is the CI-style 10%.
The whole test takes 5-20 s (three runner processes of about 1-3 s each).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("CHANBENCH_BUILD", REPO / "build"))
RUNNER = BUILD / "chanbench-run"
SLOW_DIR = BUILD / "tests" / "slow"
PROBE = "probe"
CONTROL = "mutex"
BENCH = "pingpong/cap:1/impl:probe"
REPS = 20
THRESHOLD = 0.10

# Marker `report` (the compare tool's, like tests/test_report.py), not `harness`:
# conftest deselects `harness` tests whenever a plug-in is loaded, and scripts/test.sh
# always loads the template plug-in, so a `harness` test would never run there.
# The ASan step leaves `report` tests out (`-m "not peers and not report"`), rightly:
# timing under a sanitizer proves nothing about the gate.
pytestmark = [
    pytest.mark.report,
    pytest.mark.timeout(240),
    # not part of the broken-plug-in self-test's child runs (nothing to do with a plug-in)
    pytest.mark.skipif(bool(os.environ.get("CHANBENCH_SELFTEST_CHILD")),
                       reason="not part of the broken-plug-in self-test's child runs"),
]


def _plugin(variant):
    path = SLOW_DIR / f"libslow_probe_{variant}.so"
    if not RUNNER.exists() or not path.exists():
        pytest.fail(f"{RUNNER} or {path} not found: build first (scripts/build.sh "
                    f"{BUILD}); the plug-ins come from tests/slow/CMakeLists.txt")
    return path


def _description(plugin):
    out = subprocess.run([str(RUNNER), "--no-references", "--list-json", "--plugin", str(plugin)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"chanbench-run --list-json --plugin {plugin}: {out.stderr}"
    impls = {i["name"]: i for i in json.loads(out.stdout)["implementations"]}
    assert PROBE in impls, f"{plugin} did not register '{PROBE}': {sorted(impls)}"
    return impls[PROBE]["description"]


def run_bench(plugin, out):
    """One runner process: ping-pong cap 1 on the probe and the control, REPS reps."""
    cmd = [str(RUNNER), "--profile", "quick", "--no-references", "--scenario", "pingpong",
           "--impl", CONTROL, "--impl", PROBE, "--plugin", str(plugin),
           "--repetitions", str(REPS), "--out", str(out),
           "--benchmark_filter=^pingpong/cap:1/",
           "--benchmark_enable_random_interleaving=true"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, f"{' '.join(cmd)} -> {r.returncode}\n{r.stderr[-3000:]}"
    # Each file really holds REPS validated repetitions of both benchmarks.
    reps = {}
    for b in json.loads(Path(out).read_text())["benchmarks"]:
        if b.get("run_type") == "iteration":
            assert not b.get("error_occurred"), f"{b['name']}: {b.get('error_message')}"
            reps[b["name"]] = reps.get(b["name"], 0) + 1
    assert reps == {BENCH: REPS, f"pingpong/cap:1/impl:{CONTROL}": REPS}, reps
    return out


def compare(base, cand, json_out):
    cmd = [sys.executable, "-m", "harness.report", "compare", str(base), str(cand),
           "--control", CONTROL, "--threshold", str(THRESHOLD), "--json-out", str(json_out)]
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    verdict = json.loads(Path(json_out).read_text()) if Path(json_out).exists() else None
    return r, verdict


@pytest.mark.prop("H4")
def test_H4_compare_passes_same_build_and_flags_injected_delay(tmp_path):
    base, slow = _plugin("base"), _plugin("slow")
    # The two builds differ only in the delay (the description says how much).
    assert " 0 ns busy-wait" in _description(base)
    delay = _description(slow)
    assert " 0 ns busy-wait" not in delay and "ns busy-wait per send" in delay, delay

    base_a = run_bench(base, tmp_path / "base_a.json")
    base_b = run_bench(base, tmp_path / "base_b.json")
    slowed = run_bench(slow, tmp_path / "slow.json")

    # Two runs of the same build: no regression.
    r, v = compare(base_a, base_b, tmp_path / "same.json")
    shown = f"\n--- compare base_a base_b (exit {r.returncode}):\n{r.stdout}{r.stderr}"
    assert r.returncode == 0, shown
    assert v["exit_status"] == 0 and v["verdict"].startswith("verdict: OK"), shown
    rows = {c["benchmark"]: c for c in v["comparisons"]}
    assert list(rows) == [BENCH], shown           # the control itself is not compared
    assert rows[BENCH]["pvalue"] is not None and not rows[BENCH]["gates"], shown

    # The slowed build: a regression, by name, beyond the threshold and significant.
    r, v = compare(base_a, slowed, tmp_path / "slow_cmp.json")
    shown = f"\n--- compare base_a slow (exit {r.returncode}):\n{r.stdout}{r.stderr}"
    assert r.returncode == 3, shown
    row = {c["benchmark"]: c for c in v["comparisons"]}[BENCH]
    assert row["status"] == "REGRESSION" and row["gates"], shown
    assert row["change"] > THRESHOLD and row["pvalue"] < 0.05, shown
    assert v["verdict"].startswith("verdict: REGRESSION") and BENCH in v["verdict"], shown
    assert any(BENCH in line and "REGRESSION" in line for line in r.stdout.splitlines()), shown
