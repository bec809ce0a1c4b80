"""The report and compare tool (harness/report) on synthetic result files.

The files are written here in the exact format of docs/RESULTS.md (google-benchmark
1.7 JSON: context, one "iteration" entry per repetition with repetition_index,
counters and a kind label, aggregates that must be ignored, a failed validation, a
capability gap reported as "n/a: ...", a peer file with "not_applicable" in its
context, and a series sidecar). The checks read the generated REPORT.md and SVGs
back and compare them with the numbers that went in.
"""

import contextlib
import io
import json
import os
import random
import re
import statistics
import subprocess
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

pytestmark = pytest.mark.report

SHAPES = ("spsc", "mpmc")
CAPS = ("0", "64", "unbounded")
REPS = 5
# Median msgs/s per implementation; every case scales these by the same factor.
RATES = {"mutex": 1.0e6, "futex": 2.0e6, "spin": 4.0e6}
KINDS = {"mutex": "channel", "futex": "channel", "spin": "reference", "go-chan": "peer"}
PEER_RATE = 1.5e6
JITTER = (0.90, 0.95, 1.00, 1.05, 1.10)          # one factor per repetition; median 1.00
ERROR_CASE = ("throughput/shape:mpmc/cap:0", "futex")
ERROR_MESSAGE = "checksum mismatch: expected 4950 got 4949"
NA_CASE = ("throughput/shape:spsc/cap:0", "spin")
NA_MESSAGE = "n/a: rendezvous not declared"
PEER_NA_CASE = "throughput/shape:spsc/cap:unbounded"   # the Go peer has no unbounded channel

CONTEXT = {
    "date": "2026-11-22T10:00:00+00:00",
    "host_name": "bench-host",
    "executable": "build/chanbench-run",
    "num_cpus": 2,
    "mhz_per_cpu": 2450,
    "cpu_scaling_enabled": False,
    "caches": [{"type": "Data", "level": 1, "size": 32768, "num_sharing": 1},
               {"type": "Unified", "level": 2, "size": 524288, "num_sharing": 1}],
    "load_avg": [0.5, 0.4, 0.3],
    "library_build_type": "release",
    "chanbench_commit": "abc1234",
    "chanbench_compiler": "gcc 12.2.0",
    "chanbench_cflags": "-O2 -march=x86-64",
    "cpu_model": "AMD EPYC 7B13",
    "kernel": "Linux 6.1.0-test",
    "ck_version": "0.7.1",
    "benchmark_version": "1.7.1",
    "profile": "quick",
    "producer": "chanbench-run",
}


def entry(name, rep, counters, kind, reps=REPS, real_time=1.0e8):
    e = {"name": name, "family_index": 0, "per_family_instance_index": 0,
         "run_name": name, "run_type": "iteration", "repetitions": reps,
         "repetition_index": rep, "threads": 1, "iterations": 1, "real_time": real_time,
         "cpu_time": real_time * 1.5, "time_unit": "ns"}
    e.update(counters)
    e["label"] = f"kind={kind}"
    return e


def error_entry(name, rep, message, kind, reps=REPS):
    e = entry(name, rep, {}, kind, reps, real_time=0.0)
    e.update({"error_occurred": True, "error_message": message, "iterations": 0})
    return e


def aggregate(name, which, value, reps=REPS):
    return {"name": f"{name}_{which}", "run_name": name,
            "run_type": "aggregate", "repetitions": reps, "threads": 1,
            "aggregate_name": which, "aggregate_unit": "time", "iterations": reps,
            "real_time": value, "cpu_time": value, "time_unit": "ns", "msgs_per_s": value}


def rate_counters(rate):
    return {"msgs": 100000, "msgs_per_s": rate, "ns_per_msg": 1e9 / rate, "cpu_util": 1.5,
            "cpu_ns_per_msg": 2e9 / rate, "vcsw": 12, "ivcsw": 3}


def throughput_rate(impl, shape, cap, rep, base=None, slowdown=1.0):
    scale = (1.0 if shape == "spsc" else 0.5) * (1 + CAPS.index(cap))
    return (base or RATES[impl]) * scale * JITTER[rep] / slowdown


def latency_counters(impl, cap, rep, reps=REPS):
    base = {"mutex": 4000.0, "futex": 2000.0, "spin": 300.0, "go-chan": 1000.0}[impl]
    j = JITTER[rep] if reps == REPS else 1.0
    return {"msgs": 10000, "p50_ns": base * j, "p99_ns": base * 5 * j, "p999_ns": base * 50 * j,
            "cpu_ns_per_msg": base, "vcsw": 100, "ivcsw": 1}


def runner_file(path, impls=("mutex", "futex", "spin"), slowdown=None, reps=REPS,
                error=True, aggregates=True, seed=None, drift=1.0):
    """The C runner's file (+ series sidecar). slowdown: {benchmark name: factor};
    drift: every throughput divided by it (a busier machine)."""
    slowdown = slowdown or {}
    rng = random.Random(seed)
    benches = []
    for shape in SHAPES:
        for cap in CAPS:
            case = f"throughput/shape:{shape}/cap:{cap}"
            for impl in impls:
                name = f"{case}/impl:{impl}"
                for rep in range(reps):
                    if error and (case, impl) == ERROR_CASE and rep == 2:
                        benches.append(error_entry(name, rep, ERROR_MESSAGE, KINDS[impl], reps))
                    elif error and (case, impl) == NA_CASE:
                        benches.append(error_entry(name, rep, NA_MESSAGE, KINDS[impl], reps))
                    else:
                        rate = throughput_rate(impl, shape, cap, rep % len(JITTER),
                                               slowdown=slowdown.get(name, 1.0) * drift)
                        if seed is not None:
                            rate *= 1 + rng.uniform(-0.01, 0.01)
                        benches.append(entry(name, rep, rate_counters(rate), KINDS[impl], reps))
                if aggregates and not (error and (case, impl) in (ERROR_CASE, NA_CASE)):
                    benches += [aggregate(name, "mean", 999.0, reps),
                                aggregate(name, "median", 999.0, reps)]
    for cap in ("0", "1"):
        for impl in impls:
            name = f"pingpong/cap:{cap}/impl:{impl}"
            for rep in range(reps):
                c = latency_counters(impl, cap, rep % len(JITTER), reps)
                factor = slowdown.get(name, 1.0)
                for k in ("p50_ns", "p99_ns", "p999_ns"):
                    c[k] *= factor
                benches.append(entry(name, rep, c, KINDS[impl], reps))
    for impl in impls:   # wake-up: a single repetition
        benches.append(entry(f"wakeup/pause_us:100/impl:{impl}", 0,
                             latency_counters(impl, "0", 0, reps=1), KINDS[impl], reps=1))
    series = {}
    for impl in impls:
        name = f"backpressure/cap:unbounded/impl:{impl}"
        for rep in range(reps):
            benches.append(entry(name, rep, dict(rate_counters(RATES[impl] / 10),
                                                 stall_ns=1000.0 * (rep + 1)), KINDS[impl], reps))
        series[name] = {"queued": [[t, t * (2 + len(impl))] for t in range(0, 50, 5)]}
    for impl in impls:
        name = f"shutdown/blocked:4/cap:1/impl:{impl}"
        for rep in range(reps):
            t = 50000.0 * (1 + rep)
            benches.append(entry(name, rep, {"p50_ns": t, "p99_ns": 2 * t, "p999_ns": 3 * t,
                                             "rounds": 20, "msgs": 100}, KINDS[impl], reps))
    path.write_text(json.dumps({"context": CONTEXT, "benchmarks": benches}, indent=1))
    Path(str(path) + ".series.json").write_text(json.dumps(series))
    return path


def peer_file(path):
    benches = []
    for shape in SHAPES:
        for cap in CAPS:
            name = f"throughput/shape:{shape}/cap:{cap}/impl:go-chan"
            if name.startswith(PEER_NA_CASE):
                continue
            for rep in range(REPS):
                rate = throughput_rate("go-chan", shape, cap, rep, base=PEER_RATE)
                benches.append(entry(name, rep, rate_counters(rate), "peer"))
    context = {"date": CONTEXT["date"], "num_cpus": 2, "producer": "go-peer",
               "chanbench_compiler": "go1.19.8", "cpu_model": CONTEXT["cpu_model"],
               "peer": "go-chan", "ck_version": "",
               "peer_description": "Go built-in channels; n/a: unbounded (Go has none)",
               "not_applicable": [PEER_NA_CASE + "/impl:go-chan"]}
    path.write_text(json.dumps({"context": context, "benchmarks": benches}, indent=1))
    return path


def matrix_file(path):
    path.write_text(json.dumps({
        "implementations": {"mutex": {"Q1": "pass", "Q4": "pass", "S1": "n/a"},
                            "futex": {"Q1": "pass", "Q4": "FAIL", "S1": "n/a"}},
        "properties": {"Q1": "FIFO for one producer and one consumer",
                       "Q4": "recv on an empty channel blocks", "S1": "select returns a ready case"},
        "failures": {"futex": {"Q4": "try_recv returned OK on an empty channel"}}}))
    return path


def run_cli(*args):
    """The command line as a user runs it (a new interpreter)."""
    return subprocess.run([sys.executable, "-m", "harness.report", *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def run_main(*args):
    """The same, in this process (faster: scipy and matplotlib are imported once)."""
    from harness.report.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:
            code = e.code
    return types.SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


# ---------------------------------------------------------------------------- reading back

_SUFFIX = {"k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "ns": 1.0, "µs": 1e3, "ms": 1e6, "s": 1e9}


def number(cell):
    """'1.10 M' -> 1.1e6, '2.00 µs' -> 2000.0, '0.50' -> 0.5."""
    m = re.fullmatch(r"\**(-?[0-9.]+)\s*([A-Za-zµ]*)\**", cell.strip())
    assert m, f"not a number: {cell!r}"
    return float(m.group(1)) * _SUFFIX.get(m.group(2), 1.0)


def table_after(text, heading):
    """The first Markdown table after heading: [{column: cell}]."""
    start = text.index(heading + "\n")
    lines = text[start:].splitlines()[1:]
    rows = []
    for line in lines:
        if line.startswith("|"):
            rows.append([c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]])
        elif rows:
            break
    header, body = rows[0], rows[2:]
    return [dict(zip(header, r)) for r in body]


def by_impl(rows):
    return {r["implementation"]: r for r in rows}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    main = runner_file(d / "quick.json")
    peer = peer_file(d / "peer-go.json")
    matrix = matrix_file(d / "matrix.json")
    out = d / "out"
    proc = run_cli("report", main, peer, "--conformance", matrix, "--out-dir", out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(out / "REPORT.md")
    return out, (out / "REPORT.md").read_text()


# ---------------------------------------------------------------------------- report

def test_sections_present(report):
    _, text = report
    for heading in ("# chanbench report:", "## Summary: throughput by shape × capacity",
                    "## Environment", "### Inputs", "## Implementations and colours",
                    "## Scenario: throughput", "## Scenario: pingpong", "## Scenario: wakeup",
                    "## Scenario: backpressure", "## Scenario: shutdown", "## Conformance",
                    "## n/a and why"):
        assert heading in text, heading
    first_page = "\n".join(text.splitlines()[:60])
    assert "## Summary" in first_page


def test_environment_from_context(report):
    _, text = report
    env = {r[""]: r["value"] for r in table_after(text, "## Environment")}
    assert env["CPU"] == CONTEXT["cpu_model"]
    assert env["cores"] == "2"
    assert env["kernel"] == CONTEXT["kernel"]
    assert env["compiler"] == CONTEXT["chanbench_compiler"]
    assert env["flags"] == CONTEXT["chanbench_cflags"]
    assert env["ConcurrencyKit"] == "0.7.1" and env["google-benchmark"] == "1.7.1"
    assert env["commit"] == "abc1234" and env["profile"] == "quick"
    inputs = table_after(text, "### Inputs")
    assert {r["producer"] for r in inputs} == {"chanbench-run", "go-peer"}
    peer_ctx = next(r["its own context"] for r in inputs if r["producer"] == "go-peer")
    assert "chanbench_compiler=go1.19.8" in peer_ctx and "cpu_model" not in peer_ctx


def test_names_and_peer_not_applicable_forms():
    from harness.report.results import _not_applicable_items, parse_name
    n = parse_name("throughput/shape:spsc/cap:64/impl:mutex/repeats:5/manual_time")
    assert (n.scenario, n.case, n.impl) == ("throughput", "throughput/shape:spsc/cap:64", "mutex")
    assert n.param("cap") == "64"
    assert _not_applicable_items(["select", "fanin/producers:4/impl:x: no close"]) == \
        [("select", ""), ("fanin/producers:4/impl:x", "no close")]
    assert _not_applicable_items('["a/impl:b"]') == [("a/impl:b", "")]
    assert _not_applicable_items("select: no select; shutdown") == \
        [("select", "no select"), ("shutdown", "")]
    assert _not_applicable_items({"select": "no select"}) == [("select", "no select")]


def test_practically_equal_rows_are_not_ranked():
    """A ratio whose interval excludes 1 by less than MIN_EFFECT (a paced scenario where
    every row runs at 500 k/s) decides no order; one clear of the band does."""
    from harness.report.stats import MIN_EFFECT, Interval
    assert MIN_EFFECT == 0.02
    assert not Interval(0.9997, 0.9995, 0.9999, 5, True).decides()
    assert Interval(0.9997, 0.9995, 0.9999, 5, True).excludes(1.0), "the band, not the interval, decides"
    assert not Interval(1.015, 1.01, 1.019, 5, True).decides()
    assert Interval(1.05, 1.03, 1.08, 5, True).decides()
    assert Interval(0.9, 0.85, 0.95, 5, True).decides()
    assert not Interval(1.5, 0.9, 2.0, 5, True).decides()
    assert not Interval(1.5, 1.5, 1.5, 1).decides(), "one repetition has no interval"


def test_default_machine_slug():
    from harness.report.results import machine_slug
    assert machine_slug(CONTEXT) == "amd-epyc-7b13-2c"
    assert machine_slug({"cpu_model": "Intel(R) Xeon(R) CPU @ 2.20GHz", "num_cpus": 4}) == \
        "intel-xeon-4c"
    assert machine_slug({}) == "unknown-cpu"


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("cap", CAPS)
def test_throughput_medians_and_ratios(report, shape, cap):
    _, text = report
    case = f"throughput/shape:{shape}/cap:{cap}"
    rows = by_impl(table_after(text, f"### {case}"))
    expected = {impl: statistics.median(throughput_rate(impl, shape, cap, r) for r in range(REPS))
                for impl in RATES}
    expected["go-chan"] = statistics.median(
        throughput_rate("go-chan", shape, cap, r, base=PEER_RATE) for r in range(REPS))
    ok = {i: v for i, v in expected.items()
          if (case, i) not in (ERROR_CASE, NA_CASE, (PEER_NA_CASE, "go-chan"))}
    best = max(v for i, v in ok.items() if KINDS[i] == "channel")
    for impl, median in ok.items():
        row = rows[impl]
        assert number(row["msgs/s median"]) == pytest.approx(median, rel=5e-3)
        ours = row["÷ best of ours [95% CI]"]
        if ours != "**1 (best of ours)**":
            assert number(ours.split(" [")[0]) == pytest.approx(median / best, abs=0.006)
        assert row["kind"] == KINDS[impl]
        assert row["cores busy"] == "1.50" and row["ctx switches vol/invol"] == "12 / 3"
        assert row["reps"] == str(REPS)          # aggregates were not counted
        lo = min(throughput_rate(impl, shape, cap, r, base=PEER_RATE if impl == "go-chan" else None)
                 for r in range(REPS))
        assert number(row["msgs/s spread"].split("–")[0]) == pytest.approx(lo, rel=5e-3)
        assert "IQR" in row["msgs/s spread"]
    assert "999" not in "".join(r["msgs/s median"] for r in rows.values())
    # The best channel is the reference of the ratio (the reference "spin" is above it,
    # not the best); runner and peer rows come from two files: unpaired intervals.
    if (case, "futex") != ERROR_CASE:
        assert rows["futex"]["÷ best of ours [95% CI]"] == "**1 (best of ours)**"
        if "spin" in ok:   # paired: the same jitter in every round
            assert rows["spin"]["÷ best of ours [95% CI]"] == "2.00 [2.00–2.00]"
        if "go-chan" in ok:
            assert rows["go-chan"]["÷ best peer [95% CI]"] == "**1 (best peer)**"
            lo, hi = map(float, re.search(r"\[(.+)–(.+)\]", rows["futex"]["÷ best peer [95% CI]"]).groups())
            assert lo < 2.0 / 1.5 < hi and hi - lo > 0.2


def test_error_row_has_no_numbers(report):
    _, text = report
    row = by_impl(table_after(text, f"### {ERROR_CASE[0]}"))[ERROR_CASE[1]]
    assert row["msgs/s median"].startswith("ERROR: " + ERROR_MESSAGE)
    others = [v for k, v in row.items() if k not in ("implementation", "kind", "msgs/s median")]
    assert all(v == "" for v in others), row
    # and the failure is on the first page
    summary = text[text.index("## Summary"):text.index("## Contents")]
    assert ERROR_MESSAGE in summary


def test_na_rows_are_explained(report):
    _, text = report
    row = by_impl(table_after(text, f"### {NA_CASE[0]}"))[NA_CASE[1]]
    assert row["msgs/s median"] == "n/a: rendezvous not declared"
    assert all(v == "" for k, v in row.items()
               if k not in ("implementation", "kind", "msgs/s median"))
    na = table_after(text, "## n/a and why")
    assert any(r["case"] == NA_CASE[0] and r["implementation"] == "spin"
               and "rendezvous not declared" in r["why"] for r in na), na
    # the peer's declared gap (reason from its description), and a gap nobody explained
    assert any(r["case"] == PEER_NA_CASE and r["implementation"] == "go-chan"
               and "unbounded (Go has none)" in r["why"] for r in na), na
    peer_row = by_impl(table_after(text, f"### {PEER_NA_CASE}"))["go-chan"]
    assert peer_row["msgs/s median"].startswith("n/a: ") and peer_row["kind"] == "peer"
    assert any(r["case"] == "pingpong (all cases)" and r["implementation"] == "go-chan"
               and "no reason recorded" in r["why"] for r in na), na


def test_latency_table_and_single_rep(report):
    _, text = report
    rows = by_impl(table_after(text, "### pingpong/cap:0"))
    for impl in RATES:
        for label, key in (("p50", "p50_ns"), ("p99", "p99_ns"), ("p99.9", "p999_ns")):
            med = statistics.median(latency_counters(impl, "0", r)[key] for r in range(REPS))
            assert number(rows[impl][f"{label} median"]) == pytest.approx(med, rel=5e-3)
    assert rows["futex"]["÷ best of ours [95% CI]"] == "**1 (best of ours)**"  # lower is better
    assert rows["mutex"]["÷ best of ours [95% CI]"] == "2.00 [2.00–2.00]"
    wake = by_impl(table_after(text, "### wakeup/pause_us:100"))
    assert wake["mutex"]["p50 spread"] == "1 rep"


def test_summary_winner_and_ratio(report):
    _, text = report
    summary = table_after(text, "## Summary: throughput by shape × capacity: winner and ratio")
    rows = {r["shape \\ cap"]: r for r in summary}
    assert set(rows) == set(SHAPES)
    # go-chan has no unbounded channel: mutex is the runner-up there
    unbounded = rows["spsc"]["unbounded"]
    assert unbounded.startswith("**futex**") and "(2.00× [2.00–2.00] over mutex, established)" in unbounded
    cell = rows["spsc"]["64"]
    # futex wins among channels and peers (spin is a reference), 2.0/1.5 ahead of go-chan;
    # two files, so the interval is unpaired (wide) but still clear of 1
    assert cell.startswith("**futex**") and "1.33× [" in cell and "over go-chan, established" in cell
    # in mpmc/cap:0 futex failed: go-chan wins over mutex by 1.5
    assert rows["mpmc"]["0"].startswith("**go-chan**") and "1.50× [" in rows["mpmc"]["0"]


def test_conformance_matrix(report):
    _, text = report
    rows = by_impl(table_after(text, "## Conformance"))
    assert rows["futex"]["Q4"] == "**FAIL**" and rows["mutex"]["Q4"] == "pass"
    assert rows["mutex"]["S1"] == "n/a" and rows["futex"]["passed"] == "1/2"
    assert "try_recv returned OK on an empty channel" in text


def _svg_colours(path):
    """impl -> set of colours used by the elements tagged impl-<name>-<n>."""
    out = {}
    root = ET.parse(path).getroot()
    for el in root.iter():
        gid = el.get("id", "")
        m = re.fullmatch(r"impl-(.+?)-\d+", gid)
        if not m:
            continue
        for sub in el.iter():
            # a bar's colour is its fill (its edge is white), a line's is its stroke
            style = sub.get("style", "")
            c = (re.search(r"fill:\s*(#[0-9a-fA-F]{6})", style)
                 or re.search(r"stroke:\s*(#[0-9a-fA-F]{6})", style))
            if c:
                out.setdefault(m.group(1), set()).add(c.group(1).lower())
    return out


def test_plots_exist_valid_and_colours_stable(report):
    out, text = report
    links = re.findall(r"!\[[^\]]*\]\((plots/[^)]+\.svg)\)", text)
    assert links, "no plots in the report"
    names = " ".join(links)
    for expected in ("throughput-shape-spsc", "throughput-shape-mpmc", "pingpong-cap-0",
                     "backpressure-cap-unbounded-queued", "shutdown"):
        assert expected in names, expected
    assert sorted(os.listdir(out / "plots")) == sorted(Path(l).name for l in links)
    from harness.report.plots import colours
    palette = colours(["mutex", "futex", "spin", "go-chan"])
    assert len(set(palette.values())) == len(palette)
    seen = {}
    for link in links:
        root = ET.parse(out / link).getroot()
        assert root.tag.endswith("svg")
        for impl, cols in _svg_colours(out / link).items():
            assert cols == {palette[impl]}, (link, impl, cols)
            seen.setdefault(impl, set()).update(cols)
    assert set(seen) == set(palette)
    # axes are labelled with units
    svg = (out / "plots" / "throughput-shape-spsc.svg").read_text()
    assert "messages/s" in svg and "capacity" in svg
    backpressure = (out / "plots" / "backpressure-cap-unbounded-queued.svg").read_text()
    assert "queue depth: messages sent, not yet received" in backpressure


def test_report_refuses_bad_input(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    proc = run_main("report", bad, "--out-dir", tmp_path / "out")
    assert proc.returncode == 1 and "bad.json" in proc.stderr


def test_cli_help_and_usage_errors():
    helptext = run_main("compare", "--help")
    assert helptext.returncode == 0
    assert re.search(r"^\s*3\s+a regression", helptext.stdout, re.MULTILINE)
    assert run_main("compare", "only-one.json").returncode == 2
    assert run_main("compare", "a.json", "b.json", "--threshold", "5").returncode == 2


# ---------------------------------------------------------------------------- compare

def test_compare_same_distribution_passes(tmp_path):
    base = runner_file(tmp_path / "base.json", error=False, seed=1)
    cand = runner_file(tmp_path / "cand.json", error=False, seed=2)
    proc = run_main("compare", base, cand)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("verdict: OK")


def test_compare_flags_slowdown(tmp_path):
    slow = "throughput/shape:spsc/cap:64/impl:mutex/real_time"
    base = runner_file(tmp_path / "base.json", error=False, seed=1)
    cand = runner_file(tmp_path / "cand.json", error=False, seed=2,
                       slowdown={slow.replace("/real_time", ""): 1.3})
    js = tmp_path / "cmp.json"
    proc = run_cli("compare", base, cand, "--json-out", js)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    verdict = proc.stdout.strip().splitlines()[-1]
    assert verdict.startswith("verdict: REGRESSION: 1 of")
    assert "throughput/shape:spsc/cap:64/impl:mutex" in verdict
    line = next(row for row in proc.stdout.splitlines()
                if row.startswith("throughput/shape:spsc/cap:64/impl:mutex "))
    change = float(re.search(r"([+-][0-9.]+)%", line).group(1))
    assert -26 < change < -20          # 1/1.3 - 1 = -23.1%, with 1% jitter either side
    assert "REGRESSION" in line and "higher" in line
    data = json.loads(js.read_text())
    assert data["exit_status"] == 3
    assert [c["benchmark"] for c in data["comparisons"] if c["gates"]] == \
        ["throughput/shape:spsc/cap:64/impl:mutex"]


def test_compare_latency_direction(tmp_path):
    base = runner_file(tmp_path / "base.json", error=False)
    worse = runner_file(tmp_path / "worse.json", error=False,
                        slowdown={"pingpong/cap:1/impl:futex": 1.3})
    better = runner_file(tmp_path / "better.json", error=False,
                         slowdown={"pingpong/cap:1/impl:futex": 0.7})
    proc = run_main("compare", base, worse)
    assert proc.returncode == 3 and "pingpong/cap:1/impl:futex" in proc.stdout.splitlines()[-1]
    proc = run_main("compare", base, better)
    assert proc.returncode == 0, proc.stdout
    assert "improved" in proc.stdout


def test_compare_control_cancels_machine_drift(tmp_path):
    # The candidate ran on a machine 40% busier: everything is slower, nothing regressed.
    base = runner_file(tmp_path / "base.json", error=False, seed=1)
    busy = runner_file(tmp_path / "busy.json", error=False, seed=2, drift=1.4)
    assert run_main("compare", base, busy).returncode == 3
    proc = run_main("compare", base, busy, "--control", "mutex", "--filter", "^throughput/")
    assert proc.returncode == 0, proc.stdout
    assert "msgs_per_s ÷ mutex" in proc.stdout and "impl:mutex " not in proc.stdout
    # ... and one implementation slower still, relative to the control, is flagged.
    worse = runner_file(tmp_path / "worse.json", error=False, seed=2, drift=1.4,
                        slowdown={"throughput/shape:mpmc/cap:64/impl:futex": 1.3})
    proc = run_main("compare", base, worse, "--control", "mutex", "--filter", "^throughput/")
    assert proc.returncode == 3, proc.stdout
    assert proc.stdout.splitlines()[-1].count("impl:") == 1
    assert "throughput/shape:mpmc/cap:64/impl:futex" in proc.stdout.splitlines()[-1]


def test_compare_too_few_reps_does_not_gate(tmp_path):
    base = runner_file(tmp_path / "base.json", error=False, reps=2)
    cand = runner_file(tmp_path / "cand.json", error=False, reps=2,
                       slowdown={"throughput/shape:spsc/cap:64/impl:mutex": 1.3})
    proc = run_main("compare", base, cand)
    assert proc.returncode == 0, proc.stdout
    assert "too few repetitions" in proc.stdout
    assert "not tested" in proc.stdout.splitlines()[-1]


def test_compare_new_error_gates(tmp_path):
    base = runner_file(tmp_path / "base.json", error=False)
    cand = runner_file(tmp_path / "cand.json", error=True)
    proc = run_main("compare", base, cand)
    assert proc.returncode == 3
    assert f"{ERROR_CASE[0]}/impl:{ERROR_CASE[1]} (ERROR in candidate)" in proc.stdout


def test_compare_nothing_in_common(tmp_path):
    base = runner_file(tmp_path / "base.json", impls=("mutex",))
    cand = runner_file(tmp_path / "cand.json", impls=("futex",))
    proc = run_main("compare", base, cand)
    assert proc.returncode == 1 and "NOTHING TO COMPARE" in proc.stdout
