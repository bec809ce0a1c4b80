"""Linearizability of recorded histories (tests/drivers/linearize.c, `chan-linearize`).

Each test records small concurrent histories on one implementation and capacity
(2-3 threads, 2-4 operations each, invocation and response times from
CLOCK_MONOTONIC; the recorder closes the channel after a bounded wait and drains
it) and checks every one against the sequential model of the channel described at
the top of linearize.c: a buffer of capacity cap, FIFO queues of waiting senders
and receivers, CLOSED / FULL / EMPTY / TIMEOUT outcomes, pending operations. A
violation prints the history, one line per operation, and the longest prefix the
model accepts. An operation still blocked after the recorder's close fails C3.

The operation mix decides which property a test is about:

    Q2   blocking    send / recv                        caps 0, 1, 2, unbounded
    Q6   try         try_send / try_recv (+ blocking)   caps 1, 2
    Q12  try         the same on a rendezvous channel   cap 0
    Q11  try         the same on an unbounded channel   unbounded
    T4   timed       timed ops, 0-100 us timeouts       caps 0, 1, 2, unbounded
    C1   close       sends and receives racing close    caps 0, 1, 2, unbounded
                     (the histories: drain in order, then CLOSED; C2, C4, C5 too)
    C3   close       the same run, judged on liveness: every operation blocked when
                     the recorder closes must return
    Q3   mixed       everything but close               caps 0, 1, 2, unbounded

Only the close mix contains close; in the others the recorder frees blocked
workers by playing their counterpart (a recv for a blocked send, a send for a
blocked recv), so a flaw in close does not fail them. A failure is attributed to
the mix's property; the printed history tells what actually went wrong (a flaw in
a sibling property can surface here first: a LIFO channel fails Q2 here, a broken
second close fails C1).
test_linearize_checker_self_test checks the checker itself on hand-made legal and
illegal histories (LIFO, lost message, value never sent, CLOSED before the drain,
...), so a checker that accepts everything cannot pass.

Scale: quick by default (QUICK_HISTORIES per test, times CHANBENCH_LIN_SCALE);
CHANBENCH_SOAK=1 (or --soak if conftest offers it) records for
CHANBENCH_SOAK_SECONDS per test. Some flaws are rare (a window a few instructions
wide shows in one history of thousands): the soak is where such things are found.
"""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "drivers"))
import driver_run  # noqa: E402

SEED = os.environ.get("CHANBENCH_SEED", "1")
# Histories per test at the quick scale, per mix (a blocking history costs more:
# the recorder waits out the grace time more often). CHANBENCH_LIN_SCALE scales them.
LIN_SCALE = float(os.environ.get("CHANBENCH_LIN_SCALE", "1"))
QUICK_HISTORIES = {"blocking": 800, "try": 3000, "timed": 1500, "close": 1500, "mixed": 1500}
QUICK_BUDGET = 45.0
LIVENESS_SOAK_MS = 5000

# test -> (mix, capacities)
CASES = {
    "test_Q2_linearizable_blocking": ("blocking", [0, 1, 2, "unbounded"]),
    "test_Q6_linearizable_try_bounded": ("try", [1, 2]),
    "test_Q12_linearizable_try_rendezvous": ("try", [0]),
    "test_Q11_linearizable_try_unbounded": ("try", ["unbounded"]),
    "test_T4_linearizable_timed": ("timed", [0, 1, 2, "unbounded"]),
    "test_C1_linearizable_close": ("close", [0, 1, 2, "unbounded"]),
    "test_C3_close_wakes_blocked_linearize": ("close", [0, 1, 2, "unbounded"]),
    "test_Q3_linearizable_mixed": ("mixed", [0, 1, 2, "unbounded"]),
}


# The close mix decides two properties, one run each: the histories (C1) and
# whether the recorder's close woke every blocked operation (C3).
FAIL_ON = {"test_C1_linearizable_close": "history",
           "test_C3_close_wakes_blocked_linearize": "liveness"}


def soak_budget():
    return driver_run.soak_seconds() * 1.5 + 60


# Soak tests get a per-test timeout to match (chosen at import: CHANBENCH_SOAK).
SOAK_MARKS = [pytest.mark.timeout(soak_budget() + 30)] if driver_run.soak(None) else []


def caps_of(test):
    return [pytest.param(c, id=f"cap={c}", marks=SOAK_MARKS) for c in CASES[test][1]]


def run_lin(request, impl, cap):
    mix = CASES[request.node.originalname][0]
    soak = driver_run.soak(request.config)
    budget = driver_run.time_budget(request, soak_budget() if soak else QUICK_BUDGET)
    histories = str(max(1, int(QUICK_HISTORIES[mix] * LIN_SCALE)))
    # A soak runs for minutes beside other work: there the recorder itself may go
    # unscheduled for a second (its own 1 ms timed rescue op was seen taking 1.0-1.5 s
    # at load ~40 on two cores), so it waits LIVENESS_SOAK_MS, not 1 s, before calling
    # an operation stuck. A lost wake-up stays stuck for ever and is still caught.
    scale = (["--histories", histories, "--seconds", f"{driver_run.soak_seconds():g}",
              "--liveness-ms", str(LIVENESS_SOAK_MS)]
             if soak else ["--histories", histories])
    fail_on = FAIL_ON.get(request.node.originalname, "all")
    args = [*driver_run.plugin_args(request.config, impl), "--impl", impl,
            "--cap", driver_run.cap_arg(cap), "--mix", mix, "--seed", SEED,
            "--fail-on", fail_on, *scale]
    what = f"chan-linearize impl={impl} cap={cap} mix={mix}"
    summary = driver_run.run("chan-linearize", args, budget, what)
    (r,) = summary["results"]
    if fail_on != "liveness":
        assert r["violations"] == 0, f"{what}: {r}"
    if fail_on != "history":
        assert r["liveness"] == 0, f"{what}: {r}"
    assert r["histories"] >= 1, f"{what}: no history was recorded: {r}"
    # More than a handful of inconclusive searches means the checker gave up too often.
    assert r["inconclusive"] * 100 <= r["histories"], f"{what}: too many inconclusive searches: {r}"
    return r


@pytest.mark.prop("Q2")
@pytest.mark.parametrize("cap", caps_of("test_Q2_linearizable_blocking"))
def test_Q2_linearizable_blocking(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("Q6")
@pytest.mark.parametrize("cap", caps_of("test_Q6_linearizable_try_bounded"))
def test_Q6_linearizable_try_bounded(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("Q12")
@pytest.mark.parametrize("cap", caps_of("test_Q12_linearizable_try_rendezvous"))
def test_Q12_linearizable_try_rendezvous(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("Q11")
@pytest.mark.parametrize("cap", caps_of("test_Q11_linearizable_try_unbounded"))
def test_Q11_linearizable_try_unbounded(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("T4")
@pytest.mark.parametrize("cap", caps_of("test_T4_linearizable_timed"))
def test_T4_linearizable_timed(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("C1")
@pytest.mark.parametrize("cap", caps_of("test_C1_linearizable_close"))
def test_C1_linearizable_close(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("C3")
@pytest.mark.parametrize("cap", caps_of("test_C3_close_wakes_blocked_linearize"))
def test_C3_close_wakes_blocked_linearize(request, impl, cap):
    run_lin(request, impl, cap)


@pytest.mark.prop("Q3")
@pytest.mark.parametrize("cap", caps_of("test_Q3_linearizable_mixed"))
def test_Q3_linearizable_mixed(request, impl, cap):
    run_lin(request, impl, cap)


def test_linearize_checker_self_test(request):
    """The checker rejects every hand-made illegal history and accepts the legal ones."""
    summary = driver_run.run("chan-linearize", ["--self-test"], driver_run.time_budget(request, 45),
                             "chan-linearize --self-test")
    assert summary["wrong"] == 0 and summary["cases"] > 40, summary
