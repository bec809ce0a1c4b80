"""Invariant stress in C (tests/drivers/stress.c, `chan-stress`), one subprocess per test.

Each test runs one check of chan-stress on one implementation and capacity, with
more threads than cores on purpose (8 producers and 8 consumers), and names the
CONFORMANCE.md property it decides:

    Q3  exactly-once   every value (producer id, seq) received exactly once: a per-value
                       tally, counts and checksums
    Q2  order          each consumer sees each producer's values in that producer's order
    C9  close-race     a close racing with mixed blocking / try / timed sends and receives
                       loses or duplicates nothing a send reported as delivered
    C8  conservation   receivers give up (last receiver handle dropped, or close + destroy):
                       received + returned by failed sends + undelivered callback == sent,
                       each value exactly once
    Q8  len            a sampler sees 0 <= len <= cap throughout; len exact when quiescent
    T4  timed          try and timed ops with tiny timeouts under contention: a timed-out
                       operation consumes nothing and leaves no waiter behind

Implementations: every registered one (built-ins and --plugin / $CHANBENCH_PLUGINS
plug-ins; conftest.py parametrizes `impl`). A crash or hang of the implementation
fails only its test, with a message naming the driver, implementation and check.
Scale: quick by default; CHANBENCH_SOAK=1 (or --soak, if conftest offers it) runs
each test for CHANBENCH_SOAK_SECONDS (default 20). CHANBENCH_SEED changes the seed.

Run one by hand: $CHANBENCH_BUILD/tests/drivers/chan-stress --impl mutex --cap 1
--check order (the failure message shows the exact command).
"""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "drivers"))
import driver_run  # noqa: E402
from messages import sum64  # noqa: E402

CAPS = [0, 1, 8, "unbounded"]
SEED = os.environ.get("CHANBENCH_SEED", "1")

# check -> extra arguments, quick scale (about 0.1-1.5 s per run on two cores)
QUICK = {
    "exactly-once": ["--msgs", "20000"],
    "order": ["--msgs", "20000"],
    "close-race": ["--msgs", "4000", "--rounds", "4"],
    "conservation": ["--msgs", "4000", "--rounds", "4"],
    "len": ["--msgs", "10000", "--rounds", "2"],
    "timed": ["--msgs", "10000"],
}
QUICK_BUDGET = 45.0


def soak_args(check):
    msgs = "20000" if check in ("close-race", "conservation") else "100000"
    return ["--msgs", msgs, "--seconds", f"{driver_run.soak_seconds():g}"]


def soak_budget():
    return driver_run.soak_seconds() * 1.5 + 60


# Soak tests get a per-test timeout to match (chosen at import: CHANBENCH_SOAK).
SOAK_MARKS = [pytest.mark.timeout(soak_budget() + 30)] if driver_run.soak(None) else []
CAP_PARAMS = [pytest.param(c, id=f"cap={c}", marks=SOAK_MARKS) for c in CAPS]


def run_stress(request, impl, cap, check):
    soak = driver_run.soak(request.config)
    budget = driver_run.time_budget(request, soak_budget() if soak else QUICK_BUDGET)
    args = [*driver_run.plugin_args(request.config, impl), "--impl", impl,
            "--cap", driver_run.cap_arg(cap), "--check", check,
            "--producers", "8", "--consumers", "8", "--seed", SEED,
            *(soak_args(check) if soak else QUICK[check])]
    what = f"chan-stress impl={impl} cap={cap} check={check}"
    summary = driver_run.run("chan-stress", args, budget, what)
    (result,) = [r for r in summary["results"] if r["check"] == check]
    # The driver already balanced the books; check the summary says so too.
    assert result["discrepancies"] == 0, f"{what}: {result}"
    assert result["rounds"] >= 1 and result["sent"] > 0, f"{what}: nothing was sent: {result}"
    return result


@pytest.mark.prop("Q3")
@pytest.mark.parametrize("cap", CAP_PARAMS)
def test_Q3_exactly_once_stress(request, impl, cap):
    r = run_stress(request, impl, cap, "exactly-once")
    assert r["received"] == r["delivered"] == r["sent"]
    assert sum64(r["sum_received"]) == sum64(r["sum_sent"])


@pytest.mark.prop("Q2")
@pytest.mark.parametrize("cap", CAP_PARAMS)
def test_Q2_per_producer_order_stress(request, impl, cap):
    r = run_stress(request, impl, cap, "order")
    assert r["received"] == r["sent"]


@pytest.mark.prop("C9")
@pytest.mark.parametrize("cap", CAP_PARAMS)
def test_C9_close_race_stress(request, impl, cap):
    r = run_stress(request, impl, cap, "close-race")
    assert r["received"] == r["delivered"]
    assert r["delivered"] + r["returned"] == r["sent"]


@pytest.mark.prop("C8")
@pytest.mark.parametrize("cap", CAP_PARAMS)
def test_C8_conservation_stress(request, impl, cap):
    r = run_stress(request, impl, cap, "conservation")
    assert_conserved(r)


def assert_conserved(r, what="conservation"):
    """C8's books on a chan-stress summary: counts exactly, checksums modulo 2^64
    (the driver's sums are wrapping uint64_t; issue 14)."""
    assert r["received"] + r["undelivered"] == r["delivered"], f"{what}: counts: {r}"
    assert r["received"] + r["returned"] + r["undelivered"] == r["sent"], f"{what}: counts: {r}"
    assert sum64(r["sum_received"], r["sum_undelivered"]) == sum64(r["sum_sent"]), \
        (f"{what}: checksums differ mod 2^64: received {r['sum_received']} + undelivered "
         f"{r['sum_undelivered']} != sent {r['sum_sent']}")


@pytest.mark.prop("Q8")
@pytest.mark.parametrize("cap", CAP_PARAMS)
def test_Q8_len_bounds_stress(request, impl, cap):
    r = run_stress(request, impl, cap, "len")
    assert r["len_samples"] > 0
    if cap != "unbounded":
        assert r["len_max"] <= cap


@pytest.mark.prop("T4")
@pytest.mark.parametrize("cap", CAP_PARAMS)
def test_T4_timed_ops_stress(request, impl, cap):
    r = run_stress(request, impl, cap, "timed")
    assert r["received"] == r["sent"]


# --- the books themselves (issue 14) ------------------------------------------------

W = 1 << 64


def test_sum64_wraps_like_the_drivers():
    """The checksum helper adds modulo 2^64, as the drivers' uint64_t sums do: the
    very numbers of issue 14 balance, and an off-by-one (a lost value of 1) does not."""
    from messages import sum64, sums_balance

    recv, undeliv, sent = 12381314656631696569, 15157565021946478046, 9092135604868622999
    assert recv + undeliv == sent + W  # the false alarm of issue 14, as plain integers
    assert sums_balance([recv, undeliv], [sent])
    assert not sums_balance([recv, undeliv - 1], [sent])
    assert sum64(W - 1, 1) == 0 and sum64(W - 1, W - 1) == W - 2 and sum64() == 0
    assert sum64(*([W - 1] * 1000)) == W - 1000
    with pytest.raises(ValueError):
        sum64(-1)
    # a summary whose counts and wrapped sums balance passes the C8 books ...
    ok = {"received": 3, "undelivered": 1, "delivered": 4, "returned": 2, "sent": 6,
          "sum_received": recv, "sum_undelivered": undeliv, "sum_sent": sent}
    assert_conserved(ok)
    # ... and one value short (counts balanced by a duplicate elsewhere) fails them
    with pytest.raises(AssertionError, match="checksums differ"):
        assert_conserved(dict(ok, sum_received=(recv + 5) % W))


def test_C8_books_catch_a_lossy_plugin_at_soak_counts(request):
    """The C8 check must stay able to fail: broken-drop_on_close (close discards what
    is buffered) under the soak's message counts (--msgs 20000 per round, several
    rounds, so the driver's sums wrap as in a soak) is reported by the driver
    (exit 1, a [C8] discrepancy) and by the Python books on its summary."""
    import subprocess

    if os.environ.get("CHANBENCH_SANITIZER"):
        pytest.skip("the books are plain Python; the Release run checks them (no sanitizer needed)")
    plugin = driver_run.build_dir() / "tests" / "broken" / "libbroken_drop_on_close.so"
    if not plugin.exists():
        pytest.fail(f"{plugin} is not built: cmake --build {driver_run.build_dir()} --target broken_plugins")
    exe = driver_run.driver_path("chan-stress")
    cmd = [str(exe), "--plugin", str(plugin), "--impl", "broken-drop_on_close", "--cap", "unbounded",
           "--check", "conservation", "--producers", "64", "--consumers", "8", "--seed", SEED,
           *soak_args("conservation")[:2], "--rounds", "40", "--timeout", "50"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=driver_run.driver_env())
    assert p.returncode == 1, f"$ {' '.join(cmd)}\nexit {p.returncode}\n{p.stderr[-2000:]}"
    assert "discrepancy: [C8]" in p.stderr, p.stderr[-2000:]
    (r,) = driver_run._summary(p.stdout)["results"]
    # (64 producers: values up to 2^46, so forty rounds of 20000 wrap the sums)
    assert r["rounds"] == 40 and r["sent"] >= 40 * 20000 * 0.5, r
    with pytest.raises(AssertionError):
        assert_conserved(r)
