"""T1-T4: deadlines. See CONFORMANCE.md.

Deadlines are absolute CLOCK_MONOTONIC nanoseconds; "no earlier than its deadline"
is checked against the library's own clock (chan_now_ns after the call returns
must be >= the deadline), "not absurdly later" with a generous bound (LATE).
A past deadline that is not CHAN_NOWAIT (chan_deadline_after(<=0) gives 1) is a
timed operation: it still takes what is ready, and a failure is TIMEOUT
(chan_impl.h, "Try versus timed").
"""
import pathlib
import statistics
import sys
import time

import pytest

from blocking import assert_blocks, join_all, spawn
from capability import cap_id, has, need
from chanlib import NOWAIT, UNBOUNDED, Caps, Status
from messages import drain, exactly_once, fill, word, words

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "drivers"))
import driver_run  # noqa: E402

LATE = 2.0  # a timed-out call returns within deadline + LATE seconds (every single try)
PAST = 1  # an absolute deadline long gone, not CHAN_NOWAIT

# "Not absurdly later", with teeth: the median lateness of TIGHT_TRIES timed
# operations of TIGHT_WAIT seconds must stay under TIGHT_LATE. A noisy two-core
# machine delays one wake-up by tens of ms now and then, rarely the median of five;
# a timed wait that overshoots every deadline by a fixed 250 ms fails at once.
TIGHT_WAIT = 0.08
TIGHT_TRIES = 5
TIGHT_LATE = 0.04

# Under traffic (chan-stress --deadline-op): BUSY_TRIES timed operations of
# BUSY_WAIT_MS on a channel whose feeders wake the waiter every few ms and take
# the thing back before it runs; the traffic goes on BUSY_HOLD_MS past the
# deadline. The median lateness may exceed that of calibration tries on the same
# channel with the traffic paused (interleaved with the busy ones: what this
# machine's load costs a timed wake-up right now) by BUSY_LATE_MS at most; a waiter
# that re-arms its timeout on every wake-up comes back about BUSY_HOLD_MS late.
BUSY_WAIT_MS = 60
BUSY_HOLD_MS = 400
BUSY_PAUSE_US = 6000  # a feeder's pause: ~20 wake-ups per deadline with two feeders
BUSY_TRIES = 7
BUSY_LATE_MS = 60


def median_lateness(lib, op, tries=TIGHT_TRIES, wait=TIGHT_WAIT):
    """Run op(deadline) `tries` times; return (median lateness in s, all of them).
    Each must come back TIMEOUT, not before its deadline and within LATE."""
    lates = []
    for i in range(tries):
        dl = lib.deadline_after(wait)
        s = op(dl)
        now = lib.now_ns()
        assert s == Status.TIMEOUT, f"try {i}: timed op ({wait}s) returned {s!r}, expected a timeout"
        assert now >= dl, f"try {i}: returned {(dl - now) / 1e6:.3f} ms before its deadline"
        lates.append((now - dl) / 1e9)
        assert lates[-1] < LATE, f"try {i}: returned {lates[-1]:.3f}s after its deadline"
    return statistics.median(lates), lates


def run_busy(request, impl, cap, op):
    """chan-stress --deadline-op: timed ops under traffic; return its summary."""
    args = [*driver_run.plugin_args(request.config, impl), "--impl", impl,
            "--cap", driver_run.cap_arg("unbounded" if cap == UNBOUNDED else cap),
            "--deadline-op", op, "--deadline-ms", str(BUSY_WAIT_MS), "--hold-ms", str(BUSY_HOLD_MS),
            "--pause-us", str(BUSY_PAUSE_US), "--tries", str(BUSY_TRIES), "--producers", "2"]
    what = f"chan-stress impl={impl} {cap_id(cap)} deadline-op={op}"
    r = driver_run.run("chan-stress", args, driver_run.time_budget(request, 45), what)
    late, idle = r["median_late_ms"], r["median_idle_late_ms"]
    assert late - idle <= BUSY_LATE_MS, (
        f"{what}: a timed {op} ({BUSY_WAIT_MS} ms) on a busy channel returned a median {late:.1f} ms "
        f"after its deadline, {late - idle:.1f} ms later than on the same channel with the traffic "
        f"paused (bound {BUSY_LATE_MS} ms; per try {r['late_ms']} ms, {r['status']}, "
        f"{r['moved_during']} rounds of traffic during each; paused: {r['idle_late_ms']} ms): "
        f"is the timeout re-armed on every wake-up?")
    assert r["max_late_ms"] < LATE * 1000, f"{what}: one try returned {r['max_late_ms']:.0f} ms late: {r}"
    return r


# --- T1 ---------------------------------------------------------------------------


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_T1_timed_recv_on_empty_times_out_on_time(impl, lib, make, cap):
    need(impl, Caps.TIMED)
    ch = make(cap)
    for wait in (0.02, 0.1, 0.3):
        dl = lib.deadline_after(wait)
        t0 = time.monotonic()
        s, _ = ch.recv_until(dl)
        now = lib.now_ns()
        took = time.monotonic() - t0
        assert s == Status.TIMEOUT, f"timed recv ({wait}s) on an empty channel returned {s!r}"
        assert now >= dl, f"timed recv ({wait}s) returned {(dl - now) / 1e6:.3f} ms before its deadline"
        assert took < wait + LATE, f"timed recv ({wait}s) returned after {took:.3f}s"
    t0 = time.monotonic()
    s, _ = ch.recv_timeout(0.1)
    took = time.monotonic() - t0
    assert s == Status.TIMEOUT and 0.1 - 0.002 <= took < 0.1 + LATE, f"recv_timeout(0.1): {s!r} after {took:.3f}s"


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_T1_timed_send_on_full_times_out_keeps_value(impl, lib, make, cap):
    need(impl, Caps.TIMED)
    ch = make(cap)
    buffered = fill(ch, cap)
    mine = words(3, stream=5)
    for wait, v in zip((0.02, 0.1, 0.3), mine):
        dl = lib.deadline_after(wait)
        t0 = time.monotonic()
        s = ch.send_until(v, dl)
        now = lib.now_ns()
        took = time.monotonic() - t0
        assert s == Status.TIMEOUT, f"timed send ({wait}s) on a full channel returned {s!r}"
        assert now >= dl, f"timed send ({wait}s) returned {(dl - now) / 1e6:.3f} ms before its deadline"
        assert took < wait + LATE, f"timed send ({wait}s) returned after {took:.3f}s"
    got, _ = drain(ch)
    assert got == buffered, "a timed-out send left its value in the channel"


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_T1_timed_recv_tight_upper_bound(impl, lib, make, cap):
    """The median of five 80 ms timed receives on an empty channel returns within
    40 ms of its deadline (a fixed 250 ms overshoot fails)."""
    need(impl, Caps.TIMED)
    ch = make(cap)
    med, lates = median_lateness(lib, lambda dl: ch.recv_until(dl)[0])
    assert med < TIGHT_LATE, (f"timed recv ({TIGHT_WAIT}s) returned a median {med * 1e3:.1f} ms after its "
                              f"deadline (bound {TIGHT_LATE * 1e3:.0f} ms; tries: "
                              f"{[round(x * 1e3, 1) for x in lates]} ms)")


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1], ids=cap_id)
def test_T1_timed_send_tight_upper_bound(impl, lib, make, cap):
    """The same for a timed send on a full channel."""
    need(impl, Caps.TIMED)
    ch = make(cap)
    fill(ch, cap)
    med, lates = median_lateness(lib, lambda dl: ch.send_until(word(7, 9), dl))
    assert med < TIGHT_LATE, (f"timed send ({TIGHT_WAIT}s) returned a median {med * 1e3:.1f} ms after its "
                              f"deadline (bound {TIGHT_LATE * 1e3:.0f} ms; tries: "
                              f"{[round(x * 1e3, 1) for x in lates]} ms)")


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_T1_timed_recv_under_traffic(request, impl, cap):
    """A timed recv whose waiter is woken every 3 ms or so by a send that a feeder takes
    back before the waiter runs (it loses each race) still returns TIMEOUT near its
    deadline: median lateness within BUSY_LATE_MS of the paused channel's
    (chan-stress --deadline-op recv).
    An implementation that hands the value straight to the waiter lets it win: it
    returns early with the value, which is fine too."""
    need(impl, Caps.TIMED, Caps.BLOCKING, Caps.MPMC)
    run_busy(request, impl, cap, "recv")


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1, 8], ids=cap_id)
def test_T1_timed_send_under_traffic(request, impl, cap):
    """A timed send on a channel kept full (a feeder frees a slot, waking the
    sender, and fills it again before the sender runs) returns near its deadline.
    (Unbounded: a send never waits, so there is nothing to time.)"""
    need(impl, Caps.TIMED, Caps.BLOCKING, Caps.MPMC)
    run_busy(request, impl, cap, "send")


@pytest.mark.prop("T1")
def test_T1_timed_recv_returns_early_when_message_arrives(impl, make):
    need(impl, Caps.TIMED, Caps.BLOCKING)
    ch = make(1 if has(impl, Caps.BOUNDED) else UNBOUNDED)
    r = spawn(ch.recv_timeout, 30.0)
    assert_blocks(r)
    t0 = time.monotonic()
    assert ch.try_send(word(1)) == Status.OK
    assert r.join() == (Status.OK, word(1))
    assert r.finished_at - t0 < LATE, "a timed recv waited past the arrival of a message"


# --- T2 ---------------------------------------------------------------------------


@pytest.mark.prop("T2")
@pytest.mark.parametrize("cap", [1, 4, UNBOUNDED], ids=cap_id)
def test_T2_past_deadline_takes_ready_message_and_free_slot(impl, lib, make, cap):
    need(impl, Caps.TIMED)
    ch = make(cap)
    past = [PAST, lib.now_ns() - 1_000_000, lib.deadline_after(-1.0)]
    for i, dl in enumerate(past):
        v = word(i, 2)
        s = ch.send_until(v, dl)
        assert s == Status.OK, f"send with a past deadline and a free slot returned {s!r}"
        got = ch.recv_until(dl)
        assert got == (Status.OK, v), f"recv with a past deadline and a ready message returned {got}"
    assert ch.send_until(word(9), NOWAIT) == Status.OK
    assert ch.recv_until(NOWAIT) == (Status.OK, word(9))
    # nothing ready: a past deadline is a timed failure, NOWAIT a try failure
    s, _ = ch.recv_until(PAST)
    assert s == Status.TIMEOUT, f"recv with a past deadline on empty returned {s!r} (expected timeout)"
    assert ch.recv_until(NOWAIT)[0] == Status.EMPTY
    if cap != UNBOUNDED:
        fill(ch, cap)
        s = ch.send_until(word(10), PAST)
        assert s == Status.TIMEOUT, f"send with a past deadline on full returned {s!r} (expected timeout)"
        assert ch.send_until(word(10), NOWAIT) == Status.FULL
        assert word(10) not in drain(ch)[0]


@pytest.mark.prop("T2")
def test_T2_past_deadline_rendezvous_with_waiting_peer(impl, make):
    need(impl, Caps.TIMED, Caps.BLOCKING)
    ch = make(0)
    snd = spawn(ch.send, word(1))
    assert_blocks(snd)
    got = ch.recv_until(PAST)
    assert got == (Status.OK, word(1)), f"recv with a past deadline beside a blocked sender returned {got}"
    assert snd.join() == Status.OK
    rcv = spawn(ch.recv)
    assert_blocks(rcv)
    s = ch.send_until(word(2), PAST)
    assert s == Status.OK, f"send with a past deadline beside a blocked receiver returned {s!r}"
    assert rcv.join() == (Status.OK, word(2))


# --- T3 ---------------------------------------------------------------------------


@pytest.mark.prop("T3")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_T3_message_after_timeout_is_delivered(impl, make, cap):
    need(impl, Caps.TIMED, Caps.BLOCKING)
    ch = make(cap)
    for rnd in range(4):
        s, _ = ch.recv_timeout(0.03)
        assert s == Status.TIMEOUT
        v = word(rnd, 3)
        snd = spawn(ch.send, v)
        got = spawn(ch.recv).join()
        assert got == (Status.OK, v), f"round {rnd}: recv after an earlier timed-out recv returned {got}"
        assert snd.join() == Status.OK


@pytest.mark.prop("T3")
@pytest.mark.parametrize("cap", [0, 1], ids=cap_id)
def test_T3_timed_out_receiver_thread_then_other_receiver(impl, make, cap):
    need(impl, Caps.TIMED, Caps.BLOCKING, Caps.MPMC)
    ch = make(cap)
    early = spawn(ch.recv_timeout, 0.1)
    assert early.join()[0] == Status.TIMEOUT
    late = spawn(ch.recv)
    assert_blocks(late)
    snd = spawn(ch.send, word(5))
    assert late.join() == (Status.OK, word(5)), "a message went astray after a receiver timed out"
    assert snd.join() == Status.OK


# --- T4 ---------------------------------------------------------------------------


@pytest.mark.prop("T4")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_T4_timed_out_send_leaves_no_trace(impl, make, cap):
    need(impl, Caps.TIMED)
    ch = make(cap)
    buffered = fill(ch, cap)
    ghosts = words(5, stream=4)
    for v in ghosts:
        assert ch.send_timeout(v, 0.02) == Status.TIMEOUT
    got, last = drain(ch)
    assert got == buffered and last == Status.EMPTY, "a timed-out send left its value behind"
    # every slot is free again, exactly cap of them
    fill(ch, cap, stream=6)
    assert ch.try_send(word(0, 7)) == Status.FULL
    got, _ = drain(ch)
    assert got == words(cap, 6)
    assert not set(ghosts) & set(got)


@pytest.mark.prop("T4")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_T4_timed_out_recv_leaves_no_waiter(impl, make, cap):
    need(impl, Caps.TIMED)
    ch = make(cap)
    for _ in range(5):
        assert ch.recv_timeout(0.02)[0] == Status.TIMEOUT
    if cap == 0:
        # a ghost receiver would let this succeed and swallow the value
        s = ch.try_send(word(1))
        assert s == Status.FULL, f"try_send after receivers timed out returned {s!r}: a waiter was left behind"
    else:
        assert ch.try_send(word(1)) == Status.OK
        assert ch.try_recv() == (Status.OK, word(1)), "a message went to a receiver that had timed out"


@pytest.mark.prop("T4")
@pytest.mark.parametrize("cap", [0, 1], ids=cap_id)
def test_T4_concurrent_timeouts_leave_no_waiters(impl, make, cap):
    need(impl, Caps.TIMED, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    rs = [spawn(ch.recv_timeout, 0.05 + 0.02 * i) for i in range(4)]
    assert [s for s, _ in join_all(rs)] == [Status.TIMEOUT] * 4
    if cap == 0:
        assert ch.try_send(word(2)) == Status.FULL, "a timed-out receiver is still registered"
        snd = spawn(ch.send_timeout, word(3), 0.1)
        assert snd.join() == Status.TIMEOUT, "a send paired with a receiver that had timed out"
        assert ch.try_recv()[0] == Status.EMPTY, "a timed-out sender is still registered"
    else:
        assert ch.try_send(word(2)) == Status.OK
        assert ch.try_recv() == (Status.OK, word(2))
    # and the channel still works both ways
    r = spawn(ch.recv)
    s = spawn(ch.send, word(4))
    assert r.join() == (Status.OK, word(4))
    assert s.join() == Status.OK


@pytest.mark.prop("T4")
def test_T4_timed_out_sender_beside_live_one(impl, make):
    """Rendezvous: of two blocked senders, the one that timed out is never paired."""
    need(impl, Caps.TIMED, Caps.MPMC, Caps.BLOCKING)
    ch = make(0)
    live = spawn(ch.send, word(1, 8))
    dead = spawn(ch.send_timeout, word(2, 8), 0.1)
    assert dead.join() == Status.TIMEOUT
    got = spawn(ch.recv).join()
    assert got == (Status.OK, word(1, 8)), f"recv paired with {got}: the timed-out sender's value was taken"
    assert live.join() == Status.OK
    exactly_once([got[1]], [word(1, 8)])
