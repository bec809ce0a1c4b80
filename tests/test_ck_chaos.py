"""ck's hard cases, forced: the stress and linearizability drivers on ck-chaos.

ck-chaos (tests/chaos/) is impls/ck/ built again with CKC_CHAOS: at each chaos
point a thread yields the CPU (1 in 8) or sleeps 20-150 us (1 in 256), exactly
where a preempted thread is the hard case for the lock-free design:

  - between a bounded sender's tail CAS and its stamp store (receivers of that
    slot must wait for it and report neither EMPTY nor a stale value; other
    senders go on), and the same for a receiver between head CAS and stamp;
  - close racing a full ring's in-flight senders (close's CAS while senders sit
    between their CAS and their stamp store: they were admitted, so receivers
    must drain their messages, then see CLOSED);
  - the unbounded block hand-over: the sender of a block's last slot installing
    the next block (tail.block, tail index, link), the reader of that slot
    waiting for the link, the other readers of a block finishing after the
    block's last one (DESTROY hand-over), a closer waiting out an installation;
  - a waiter between its registration in the waker and its FUTEX_WAIT, and a
    rendezvous waiter between its SLEEPING CAS and its sleep (no lost wake-up).

Each test names the CONFORMANCE.md properties its driver run decides (Q3
exactly-once, Q2 per-producer order, C9 close race, C8 conservation, Q8 len, T4
timed ops consume nothing; linearizability of blocking/try/timed/close/mixed
histories, C3 liveness). The drivers balance counts and checksums themselves
and exit 1 on any discrepancy, so a lost, duplicated or reordered message fails
the test. They run only when ck is among the selected implementations.
"""
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "drivers"))
import driver_run  # noqa: E402
from messages import sum64  # noqa: E402

SEED = os.environ.get("CHANBENCH_SEED", "1")
CAPS = [0, 1, 2, 64, "unbounded"]


@pytest.fixture
def chaos_plugin(request):
    wanted = request.config.getoption("impl") or []
    if wanted and "ck" not in wanted and "ck-chaos" not in wanted:
        pytest.skip("ck-chaos runs with ck (--impl does not select ck)")
    path = driver_run.build_dir() / "tests" / "chaos" / "libchan_ck_chaos.so"
    if not path.exists():
        pytest.fail(f"{path} is not built: cmake --build {driver_run.build_dir()}")
    return path


@pytest.mark.parametrize("cap", CAPS, ids=[f"cap={c}" for c in CAPS])
def test_ck_chaos_stress_Q3_Q2_C9_C8_Q8_T4(request, chaos_plugin, cap):
    """Every chan-stress check at once, 8 producers and 8 consumers on 2 cores,
    with preemption forced at the chaos points."""
    args = ["--plugin", str(chaos_plugin), "--impl", "ck-chaos", "--cap", driver_run.cap_arg(cap),
            "--producers", "8", "--consumers", "8", "--msgs", "20000", "--rounds", "2",
            "--seed", SEED]
    what = f"chan-stress impl=ck-chaos cap={cap} (all checks)"
    summary = driver_run.run("chan-stress", args, driver_run.time_budget(request, 90), what)
    checks = {r["check"]: r for r in summary["results"]}
    assert set(checks) >= {"exactly-once", "order", "close-race", "conservation", "len", "timed"}, \
        f"{what}: checks missing from the summary: {sorted(checks)}"
    for name, r in checks.items():
        assert r["discrepancies"] == 0 and r["sent"] > 0, f"{what}: {name}: {r}"
    once = checks["exactly-once"]
    assert once["received"] == once["sent"], f"{what}: {once}"
    assert sum64(once["sum_received"]) == sum64(once["sum_sent"]), f"{what}: {once}"
    cons = checks["conservation"]
    assert cons["received"] + cons["returned"] + cons["undelivered"] == cons["sent"], f"{what}: {cons}"


@pytest.mark.parametrize("cap", CAPS, ids=[f"cap={c}" for c in CAPS])
def test_ck_chaos_linearizable(request, chaos_plugin, cap):
    """Small histories of every mix (blocking, try, timed, close, mixed) checked
    against the sequential model, with preemption forced at the chaos points."""
    args = ["--plugin", str(chaos_plugin), "--impl", "ck-chaos", "--cap", driver_run.cap_arg(cap),
            "--mix", "all", "--histories", "400", "--seed", SEED]
    what = f"chan-linearize impl=ck-chaos cap={cap} mix=all"
    summary = driver_run.run("chan-linearize", args, driver_run.time_budget(request, 90), what)
    results = summary["results"]
    assert {r["mix"] for r in results} >= {"blocking", "try", "timed", "close", "mixed"}, f"{what}: {results}"
    for r in results:
        assert r["violations"] == 0 and r["liveness"] == 0 and r["histories"] > 0, f"{what}: {r}"


def test_ck_chaos_close_during_block_install(request, chaos_plugin):
    """C9 + C8 on the unbounded list, many short rounds: close must not land while
    a sender installs the next block (its plain store of the tail index would
    erase the closed flag: later sends succeed after close, receivers never see
    CLOSED and the driver's watchdog reports the hang). Each round closes once,
    so many rounds put closes into installations."""
    args = ["--plugin", str(chaos_plugin), "--impl", "ck-chaos", "--cap", "unbounded",
            "--check", "close-race", "--check", "conservation", "--msgs", "3000", "--rounds", "150",
            "--producers", "8", "--consumers", "8", "--seed", SEED]
    what = "chan-stress impl=ck-chaos cap=unbounded close-race+conservation x150 rounds"
    summary = driver_run.run("chan-stress", args, driver_run.time_budget(request, 40), what)
    for r in summary["results"]:
        assert r["discrepancies"] == 0 and r["rounds"] >= 150, f"{what}: {r}"
        assert r["delivered"] + r["returned"] == r["sent"] or r["check"] == "conservation", f"{what}: {r}"
