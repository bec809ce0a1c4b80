"""S1-S7: select. See CONFORMANCE.md and chan.h (chan_select).

Every test here needs CHAN_CAP_SELECT (n/a otherwise). A case is written as a
tuple: R(ch) receives on ch, S(ch, v) sends v on ch, OFF is a case with no channel
(never ready). lib.select returns (status, chosen index, the chosen case's msg).

Blocking selects run in helper threads (blocking.spawn) and are observed with
assert_blocks; a select that should return at once is called in the test body,
whose watchdog names it if it hangs. Everything that a select must not have done
is checked by draining the channels afterwards: nothing taken, nothing left.

S6 and S7 also run the C driver chan-select-stress (tests/drivers/select_stress.c)
as a subprocess, as test_stress.py runs chan-stress: a chaotic mix of selects and
plain operations from more threads than cores (S7, with a per-value tally: S2 at
scale), many threads selecting {send c; recv c} on one rendezvous channel (S5),
and hundreds of thousands of losing selects with the resident set size measured
(S6).
"""
import collections
import os
import pathlib
import random
import sys
import time

import pytest

from blocking import OP_TIMEOUT, assert_blocks, join_all, spawn
from capability import cap_id, has, need
from chanlib import DIR_RECV, DIR_SEND, FOREVER, NOWAIT, SELECT_BIASED, SELECT_FAIR, UNBOUNDED, Caps, Status
from messages import drain, exactly_once, fill, sum64, unword, word, words

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "drivers"))
import driver_run  # noqa: E402

LATE = 2.0  # a timed-out select returns within deadline + LATE seconds
PROMPT = 1.0  # a select that must not block returns within this
PAST = 1  # an absolute deadline long gone, not CHAN_NOWAIT
FLAGS = [pytest.param(SELECT_FAIR, id="fair"), pytest.param(SELECT_BIASED, id="biased")]


def R(ch):
    return (ch, DIR_RECV)


def S(ch, v):
    return (ch, DIR_SEND, v)


OFF = (None, DIR_RECV)
OFF_SEND = (None, DIR_SEND, 0)




def full_count(cap):
    """Messages that make a channel of this capacity full (None: unbounded never is)."""
    return None if cap == UNBOUNDED else cap


def assert_no_phantom(ch, cap, what):
    """Nothing of an earlier select is left on an (empty, open) channel: a rendezvous
    try_send finds no receiver and try_recv no sender; a buffered one is empty."""
    s, v = ch.try_recv()
    assert s == Status.EMPTY, f"{what}: try_recv on the empty channel returned {s!r} {v:#x}"
    if cap == 0:
        s = ch.try_send(word(99, 99))
        assert s == Status.FULL, f"{what}: rendezvous try_send with no receiver returned {s!r} (a select left a waiter behind)"


IDLE_WINDOW = 0.5  # seconds with a select parked
IDLE_CPU = 0.05  # at most this much process CPU in that window (parked: ~0.005 s; a spinner gets
# a fair share of a core even on a loaded 2-core machine, 0.1 s or more)


def assert_parks(h):
    """The helper's select is blocked and parked: not returned, and the process
    burns next to no CPU meanwhile (a select that spins on its own waiters, or is
    woken again and again for nothing, shows here)."""
    assert_blocks(h)
    c0 = time.process_time()
    time.sleep(IDLE_WINDOW)
    used = time.process_time() - c0
    assert not h.done(), f"{h.what} should block, but it returned {h.result}"
    assert used < IDLE_CPU, f"{h.what} is blocked but the process used {used:.3f}s of CPU in {IDLE_WINDOW}s (spinning)"


def check_pair_still_works(ch, cap, stream):
    """A blocked receiver gets exactly the message a plain send then sends (S6, T4)."""
    v = word(1, stream)
    h = spawn(ch.recv)
    assert_blocks(h)
    s = ch.send_timeout(v, OP_TIMEOUT)
    assert s == Status.OK, f"send to a blocked receiver returned {s!r}"
    assert h.join() == (Status.OK, v), "the blocked receiver did not get exactly the message sent"
    assert_no_phantom(ch, cap, "after a plain send/recv pair")


def select_until_off(sel, cases, flags=SELECT_FAIR):
    """Receive with select until every case reported CLOSED (each is switched off
    then): [(case index, value)] in order of receipt."""
    cases = list(cases)
    got = []
    while any(c[0] is not None for c in cases):
        st, k, v = sel(cases, flags)
        if st == Status.CLOSED:
            cases[k] = (None, cases[k][1])
            continue
        assert st == Status.OK, f"blocking select returned {st!r}"
        got.append((k, v))
    return got


@pytest.fixture
def sel(impl, lib):
    need(impl, Caps.SELECT)
    return lib.select


# --- S1 ---------------------------------------------------------------------------


@pytest.mark.prop("S1")
@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_S1_ready_recv_case_returned(impl, sel, make, cap, flags):
    a, b = make(cap), make(cap)
    v = word(7, 3)
    h = None
    if cap == 0:
        h = spawn(b.send, v)  # b is ready once this sender is parked
    else:
        assert b.try_send(v) == Status.OK
    st, k, got = sel([R(a), OFF, R(b)], flags)
    assert (st, k, got) == (Status.OK, 2, v), f"select over recv a (empty), off, recv b (ready) returned {st!r} case {k} {got!r}"
    if h is not None:
        assert h.join() == Status.OK
    assert_no_phantom(a, cap, "the recv case that was not chosen")
    assert_no_phantom(b, cap, "the chosen recv case")


@pytest.mark.prop("S1")
@pytest.mark.parametrize("flags", FLAGS)
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_S1_ready_send_case_returned(impl, sel, make, cap, flags):
    a, b = make(cap), make(cap)
    x, y = word(1, 4), word(2, 4)
    n = full_count(cap)
    before = fill(a, n, stream=5) if n else []  # a full (rendezvous: no receiver)
    h = None
    if cap == 0:
        h = spawn(b.recv)  # b takes a send once this receiver is parked
    cases = [OFF_SEND, S(a, x) if n is not None else R(make(cap)), S(b, y)]
    st, k, got = sel(cases, flags)
    assert (st, k) == (Status.OK, 2), f"select with only case 2 ready returned {st!r} case {k}"
    if h is not None:
        assert h.join() == (Status.OK, y), "the parked receiver did not get the chosen case's value"
    else:
        assert drain(b) == ([y], Status.EMPTY), "the chosen send case did not put exactly its value"
    assert drain(a) == (before, Status.EMPTY), "a send case that was not chosen changed its channel"
    assert_no_phantom(a, cap, "the send case that was not chosen")


@pytest.mark.prop("S1")
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_S1_recv_select_blocks_until_a_sender_acts(impl, sel, make, cap, which):
    chans = [make(cap), make(cap)]
    v = word(which, 6)
    h = spawn(sel, [R(chans[0]), R(chans[1])], what="select(recv a, recv b)")
    assert_parks(h)
    s = chans[which].send_timeout(v, OP_TIMEOUT)
    assert s == Status.OK, f"send to the channel a select waits on returned {s!r}"
    assert h.join() == (Status.OK, which, v), "the select did not return the case whose channel got a message"
    for c in chans:
        assert_no_phantom(c, cap, "after the select returned")


@pytest.mark.prop("S1")
@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_S1_send_select_blocks_until_a_receiver_acts(impl, sel, make, cap, which):
    chans = [make(cap), make(cap)]
    before = [fill(c, cap, stream=10 + i) for i, c in enumerate(chans)]
    x = [word(1, 20), word(2, 20)]
    h = spawn(sel, [S(chans[0], x[0]), S(chans[1], x[1])], what="select(send a, send b)")
    assert_blocks(h)
    s, v = chans[which].recv_timeout(OP_TIMEOUT)
    expect_first = before[which][0] if cap else x[which]
    assert (s, v) == (Status.OK, expect_first), f"recv on the channel a select waits to send on returned {s!r}"
    st, k, _ = h.join()
    assert (st, k) == (Status.OK, which), f"the select returned {st!r} case {k}, not the case whose channel got room"
    other = 1 - which
    assert drain(chans[other]) == (before[other], Status.EMPTY), "the case not chosen changed its channel"
    want = (before[which][1:] + [x[which]]) if cap else []
    assert drain(chans[which]) == (want, Status.EMPTY), "the chosen case did not send exactly its value, last"
    for c in chans:
        assert_no_phantom(c, cap, "after the select returned")


@pytest.mark.prop("S1")
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_S1_nowait_select_never_blocks(impl, sel, make, cap):
    a, b = make(cap), make(cap)
    n = full_count(cap)
    full = make(cap) if n is not None else None
    before = fill(full, n, stream=3) if n else []
    cases = [R(a), R(b)] + ([S(full, word(5, 5))] if full is not None else [])
    for flags in (SELECT_FAIR, SELECT_BIASED):
        for i in range(100):
            t0 = time.monotonic()
            st, k, _ = sel(cases, flags, NOWAIT)
            took = time.monotonic() - t0
            assert st == Status.NOT_READY, f"NOWAIT select with nothing ready returned {st!r} (case {k}), try {i}"
            assert took < PROMPT, f"NOWAIT select took {took:.3f}s"
    for offs in ([OFF], [OFF, OFF_SEND]):
        assert sel(offs, SELECT_FAIR, NOWAIT)[0] == Status.NOT_READY, "NOWAIT select over switched-off cases"
    for c in (a, b):
        assert_no_phantom(c, cap, "after NOWAIT selects")
    # and a ready case is still taken
    v = word(9, 9)
    h = None
    if cap == 0:
        h = spawn(b.send, v)
        # a NOWAIT select commits once the sender is parked: retry until it is
        end = time.monotonic() + OP_TIMEOUT
        while True:
            st, k, got = sel(cases, SELECT_FAIR, NOWAIT)
            if st != Status.NOT_READY or time.monotonic() > end:
                break
            time.sleep(0.002)
    else:
        assert b.try_send(v) == Status.OK
        st, k, got = sel(cases, SELECT_FAIR, NOWAIT)
    assert (st, k, got) == (Status.OK, 1, v), f"NOWAIT select with case 1 ready returned {st!r} case {k}"
    if h is not None:
        assert h.join() == Status.OK
    if full is not None:
        assert drain(full) == (before, Status.EMPTY), "NOWAIT selects changed a full channel"


@pytest.mark.prop("S1")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_S1_timeout_no_earlier_than_deadline(impl, sel, lib, make, cap):
    need(impl, Caps.TIMED)
    a = make(cap)
    n = full_count(cap)
    full = make(cap) if n is not None else None
    before = fill(full, n, stream=3) if n else []
    cases = [R(a)] + ([S(full, word(5, 5))] if full is not None else [])
    for wait in (0.02, 0.1, 0.3):
        for cs in (cases, [OFF]):
            dl = lib.deadline_after(wait)
            t0 = time.monotonic()
            st, k, _ = sel(cs, SELECT_FAIR, dl)
            now = lib.now_ns()
            took = time.monotonic() - t0
            assert st == Status.TIMEOUT, f"select ({wait}s) with nothing ready returned {st!r} case {k}"
            assert now >= dl, f"select ({wait}s) returned {(dl - now) / 1e6:.3f} ms before its deadline"
            assert took < wait + LATE, f"select ({wait}s) returned after {took:.3f}s"
    # a past deadline that is not NOWAIT: nothing ready is TIMEOUT, a ready case is taken
    st, k, _ = sel(cases, SELECT_FAIR, PAST)
    assert st == Status.TIMEOUT, f"select with a past deadline and nothing ready returned {st!r}"
    assert_no_phantom(a, cap, "after timed-out selects")
    if cap != 0:
        v = word(4, 4)
        assert a.try_send(v) == Status.OK
        assert sel(cases, SELECT_FAIR, PAST) == (Status.OK, 0, v), "select with a past deadline did not take a ready message"
    if full is not None:
        assert drain(full) == (before, Status.EMPTY), "timed-out selects changed a full channel"
    check_pair_still_works(a, cap, 30)


# --- S2 ---------------------------------------------------------------------------


@pytest.mark.prop("S2")
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_S2_many_selectors_exactly_once(impl, sel, make, cap):
    """Three channels; three threads send with select over all three, three receive
    with select over all three (half fair, half biased). Every value is received
    exactly once, from the channel its send reported, in its sender's order."""
    need(impl, Caps.MPMC, Caps.CLOSE)
    K, P, C, M = 3, 3, 3, 300
    chans = [make(cap) for _ in range(K)]

    def producer(p):
        out = []
        flags = SELECT_FAIR if p % 2 == 0 else SELECT_BIASED
        for i in range(M):
            v = word(i, p + 1)
            order = list(range(K))
            random.Random(i * 7 + p).shuffle(order)  # vary which case is first (biased)
            st, k, _ = sel([S(chans[j], v) for j in order], flags)
            assert st == Status.OK, f"producer {p}: blocking select send returned {st!r}"
            out.append((order[k], v))
        return out

    def consumer(c):
        flags = SELECT_FAIR if c % 2 == 0 else SELECT_BIASED
        return select_until_off(sel, [R(ch) for ch in chans], flags)

    cons = [spawn(consumer, c, what=f"consumer {c}") for c in range(C)]
    prods = [spawn(producer, p, what=f"producer {p}") for p in range(P)]
    sent = join_all(prods, timeout=OP_TIMEOUT * 4)
    for ch in chans:
        assert ch.close() == Status.OK
    got = join_all(cons, timeout=OP_TIMEOUT * 4)
    all_sent = [v for s in sent for _, v in s]
    all_got = [v for g in got for _, v in g]
    exactly_once(all_got, all_sent)
    sent_on = {v: j for s in sent for j, v in s}
    wrong = [(hex(v), sent_on[v], j) for g in got for j, v in g if sent_on[v] != j]
    assert not wrong, f"{len(wrong)} values received from another channel than the one their send select reported, e.g. {wrong[:3]}"
    for c, g in enumerate(got):
        last = {}
        for j, v in g:
            p, i = unword(v)
            assert last.get((j, p), -1) < i, f"consumer {c}: producer {p - 1}'s values out of order on channel {j}"
            last[(j, p)] = i


@pytest.mark.prop("S2")
@pytest.mark.parametrize("cap", [1, 4, UNBOUNDED], ids=cap_id)
def test_S2_send_and_recv_case_never_both(impl, sel, make, cap):
    """a has room, b has a message: select {send a; recv b} does exactly one."""
    a, b = make(cap), make(cap)
    seen = collections.Counter()
    for i in range(200):
        x, m = word(i, 1), word(i, 2)
        assert b.try_send(m) == Status.OK
        st, k, got = sel([S(a, x), R(b)], SELECT_FAIR)
        assert st == Status.OK, f"select with both cases ready returned {st!r}"
        seen[k] += 1
        if k == 0:
            assert drain(a) == ([x], Status.EMPTY), "the chosen send case did not send exactly its value"
            assert drain(b) == ([m], Status.EMPTY), "the send case won, but the recv case took a message too"
        else:
            assert (k, got) == (1, m), f"select returned case {k} value {got!r}"
            assert drain(a) == ([], Status.EMPTY), "the recv case won, but the send case sent too"
            assert drain(b) == ([], Status.EMPTY), "the recv case did not take the message"
    assert set(seen) <= {0, 1}


@pytest.mark.prop("S2")
def test_S2_rendezvous_one_of_two_parked_peers(impl, sel, make):
    """A receiver parked on a and a sender parked on b: select {send a x; recv b}
    pairs with exactly one; the other peer is left for a plain operation."""
    need(impl, Caps.MPMC)
    a, b = make(0), make(0)
    seen = collections.Counter()
    for i in range(30):
        x, y, z = word(i, 1), word(i, 2), word(i, 3)
        hr = spawn(a.recv)
        hs = spawn(b.send, y)
        st, k, got = sel([S(a, x), R(b)], SELECT_FAIR)
        assert st == Status.OK and k in (0, 1), f"select returned {st!r} case {k}"
        seen[k] += 1
        if k == 0:
            assert hr.join() == (Status.OK, x), "the receiver paired with the select did not get its value"
            s, v = b.recv_timeout(OP_TIMEOUT)
            assert (s, v) == (Status.OK, y), f"the sender on b should still be there for a plain recv, got {s!r}: the select committed both cases?"
            assert hs.join() == Status.OK
        else:
            assert got == y, "the select's recv case did not get the parked sender's value"
            assert hs.join() == Status.OK
            s = a.send_timeout(z, OP_TIMEOUT)
            assert s == Status.OK, f"the receiver on a should still be there for a plain send, got {s!r}"
            assert hr.join() == (Status.OK, z), "the receiver on a got the select's value: both cases committed"
        assert_no_phantom(a, 0, "after the select")
        assert_no_phantom(b, 0, "after the select")


# --- S3 ---------------------------------------------------------------------------


@pytest.mark.prop("S3")
@pytest.mark.parametrize("deadline", [FOREVER, NOWAIT], ids=["forever", "nowait"])
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_S3_closed_recv_case_ready_after_drain(impl, sel, make, cap, deadline):
    need(impl, Caps.CLOSE)
    a, b = make(cap), make(cap)
    vals = fill(a, 2 if cap == UNBOUNDED else min(cap, 2), stream=4)
    assert a.close() == Status.OK
    for v in vals:
        st, k, got = sel([R(b), R(a)], SELECT_FAIR, deadline)
        assert (st, k, got) == (Status.OK, 1, v), f"select on a closed channel with messages returned {st!r} case {k}: not drained first"
    for _ in range(3):
        t0 = time.monotonic()
        st, k, _ = sel([R(b), R(a)], SELECT_FAIR, deadline)
        assert (st, k) == (Status.CLOSED, 1), f"select on a closed, drained channel returned {st!r} case {k}"
        assert time.monotonic() - t0 < PROMPT
    assert_no_phantom(b, cap, "the open channel beside the closed one")


@pytest.mark.prop("S3")
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_S3_closed_send_case_ready_at_once(impl, sel, make, cap):
    need(impl, Caps.CLOSE)
    a, b = make(cap), make(cap)
    vals = fill(a, 0 if cap in (0, UNBOUNDED) else cap - 1, stream=4)  # room left, where there is room
    assert a.close() == Status.OK
    x = word(1, 9)
    for deadline in (FOREVER, NOWAIT, FOREVER):
        t0 = time.monotonic()
        st, k, _ = sel([R(b), S(a, x)], SELECT_FAIR, deadline)
        assert (st, k) == (Status.CLOSED, 1), f"select sending on a closed channel returned {st!r} case {k}"
        assert time.monotonic() - t0 < PROMPT
    assert drain(a) == (vals, Status.CLOSED), "a send case on a closed channel left its value in it"
    assert_no_phantom(b, cap, "the open channel beside the closed one")


@pytest.mark.prop("S3")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_S3_close_wakes_blocked_recv_select(impl, sel, make, cap):
    need(impl, Caps.CLOSE)
    a, b = make(cap), make(cap)
    h = spawn(sel, [R(a), R(b)], what="select(recv a, recv b)")
    assert_blocks(h)
    assert b.close() == Status.OK
    st, k, _ = h.join()
    assert (st, k) == (Status.CLOSED, 1), f"close of b woke the select with {st!r} case {k}"
    assert_no_phantom(a, cap, "the other channel")
    check_pair_still_works(a, cap, 40)


@pytest.mark.prop("S3")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_S3_close_wakes_blocked_send_select(impl, sel, make, cap):
    need(impl, Caps.CLOSE)
    a, b = make(cap), make(cap)
    vals = fill(a, cap, stream=4)
    x = word(1, 9)
    h = spawn(sel, [S(a, x), R(b)], what="select(send a, recv b)")
    assert_blocks(h)
    assert a.close() == Status.OK
    st, k, _ = h.join()
    assert (st, k) == (Status.CLOSED, 0), f"close of a woke the send select with {st!r} case {k}"
    assert drain(a) == (vals, Status.CLOSED), "the send select's value ended up in the closed channel"
    assert_no_phantom(b, cap, "the other channel")


# --- S4 ---------------------------------------------------------------------------

TRIALS = 2000
BAND = (0.35, 0.65)


def check_fair(picks, cases_ready, what):
    n = len(picks)
    cnt = collections.Counter(picks)
    assert set(cnt) <= set(cases_ready), f"{what}: picked a case that was not ready: {dict(cnt)}"
    for c in cases_ready:
        share = cnt[c] / n
        lo, hi = BAND if len(cases_ready) == 2 else (0.5 / len(cases_ready), 1.5 / len(cases_ready))
        assert lo <= share <= hi, f"{what}: case {c} chosen {share:.1%} of {n} times (want {lo:.0%}-{hi:.0%}): {dict(cnt)}"
    if len(cases_ready) == 2:
        # random, not alternating: about half of consecutive picks repeat
        same = sum(1 for i in range(1, n) if picks[i] == picks[i - 1]) / (n - 1)
        assert BAND[0] <= same <= BAND[1], f"{what}: {same:.1%} of consecutive picks repeat (random gives ~50%)"


def big_cap(impl):
    return UNBOUNDED if has(impl, Caps.UNBOUNDED) else 4096


@pytest.mark.prop("S4")
def test_S4_fair_select_recv_shares(impl, sel, make):
    cap = big_cap(impl)
    a, b, empty = make(cap), make(cap), make(cap)
    va, vb = fill(a, TRIALS, 1), fill(b, TRIALS, 2)
    picks, got = [], {0: [], 3: []}
    for _ in range(TRIALS):
        st, k, v = sel([R(a), OFF, R(empty), R(b)], SELECT_FAIR)
        assert st == Status.OK, f"select with two ready cases returned {st!r}"
        picks.append(k)
        got.setdefault(k, []).append(v)
    check_fair(picks, [0, 3], "fair select recv")
    assert got[0] == va[:len(got[0])] and got[3] == vb[:len(got[3])], "a select recv did not take the oldest message"


@pytest.mark.prop("S4")
def test_S4_fair_select_send_shares(impl, sel, make):
    cap = big_cap(impl)
    a, b = make(cap), make(cap)
    picks = []
    for i in range(TRIALS):
        st, k, _ = sel([S(a, word(i, 1)), S(b, word(i, 1))], SELECT_FAIR)
        assert st == Status.OK, f"select with two ready send cases returned {st!r}"
        picks.append(k)
    check_fair(picks, [0, 1], "fair select send")
    ga, _ = drain(a)
    gb, _ = drain(b)
    assert len(ga) == picks.count(0) and len(gb) == picks.count(1), "sent counts differ from the cases chosen"
    exactly_once(ga + gb, words(TRIALS, 1))


@pytest.mark.prop("S4")
def test_S4_fair_select_three_ready_cases(impl, sel, make):
    cap = big_cap(impl)
    chans = [make(cap) for _ in range(3)]
    for i, c in enumerate(chans):
        fill(c, TRIALS, i)
    picks = []
    for _ in range(TRIALS):
        st, k, _ = sel([R(c) for c in chans], SELECT_FAIR)
        assert st == Status.OK
        picks.append(k)
    check_fair(picks, [0, 1, 2], "fair select over three")


@pytest.mark.prop("S4")
@pytest.mark.parametrize("cap", [1, 4, UNBOUNDED], ids=cap_id)
def test_S4_biased_select_picks_first_ready(impl, sel, make, cap):
    a, b, c = make(cap), make(cap), make(cap)
    for i in range(300):
        assert a.try_send(word(i, 1)) == Status.OK and b.try_send(word(i, 2)) == Status.OK
        st, k, v = sel([OFF, R(c), R(a), R(b)], SELECT_BIASED)
        assert (st, k, v) == (Status.OK, 2, word(i, 1)), f"biased select with cases 2 and 3 ready returned {st!r} case {k}"
        st, k, v = sel([OFF, R(c), R(a), R(b)], SELECT_BIASED)
        assert (st, k, v) == (Status.OK, 3, word(i, 2)), f"biased select with case 3 ready returned {st!r} case {k}"
    # send cases: both have room
    for i in range(300):
        st, k, _ = sel([S(a, word(i, 3)), S(b, word(i, 4))], SELECT_BIASED)
        assert (st, k) == (Status.OK, 0), f"biased select with two ready send cases returned {st!r} case {k}"
        assert drain(a) == ([word(i, 3)], Status.EMPTY)
    assert drain(b) == ([], Status.EMPTY)


# --- S5 ---------------------------------------------------------------------------


@pytest.mark.prop("S5")
@pytest.mark.parametrize("cap", [0, 1, 10], ids=cap_id)
def test_S5_self_select_two_threads(impl, sel, make, cap):
    """Go's TestSelfSelect: two threads select {send c p; recv c} (in both case
    orders). On a rendezvous channel each receives only the other's values."""
    need(impl, Caps.MPMC)
    c = make(cap)
    N = 400

    def selector(p):
        sent, got = [], []
        for i in range(N):
            v = word(i, p + 1)
            cases = [S(c, v), R(c)] if (p == 0 or i % 2 == 0) else [R(c), S(c, v)]
            st, k, w = sel(cases, SELECT_FAIR)
            assert st == Status.OK, f"thread {p}: self-select returned {st!r}"
            if cases[k][1] == DIR_SEND:
                sent.append(v)
            else:
                got.append(w)
        return sent, got

    hs = [spawn(selector, p, what=f"self-select thread {p}") for p in range(2)]
    res = join_all(hs, timeout=OP_TIMEOUT * 3)
    sent = [v for s, _ in res for v in s]
    got = [v for _, g in res for v in g]
    rest, _ = drain(c)
    exactly_once(got + rest, sent)
    if cap == 0:
        for p, (_, g) in enumerate(res):
            own = [hex(v) for v in g if unword(v)[0] == p + 1]
            assert not own, f"thread {p} received its own value(s) on a rendezvous channel: {own[:3]} (paired with itself)"
        assert not rest
        assert len(res[0][0]) == len(res[1][1]) and len(res[1][0]) == len(res[0][1])


@pytest.mark.prop("S5")
@pytest.mark.parametrize("flags", FLAGS)
def test_S5_alone_never_pairs_with_itself(impl, sel, lib, make, flags):
    need(impl, Caps.TIMED)
    c = make(0)
    x, y = word(1, 1), word(2, 1)
    for cases in ([S(c, x), R(c)], [R(c), S(c, x)]):
        st, k, _ = sel(cases, flags, NOWAIT)
        assert st == Status.NOT_READY, f"NOWAIT self-select alone returned {st!r} case {k}: paired with itself"
        st, k, _ = sel(cases, flags, lib.deadline_after(0.1))
        assert st == Status.TIMEOUT, f"timed self-select alone returned {st!r} case {k}: paired with itself"
    assert_no_phantom(c, 0, "after self-selects timed out")
    # blocked alone; a plain receiver then a plain sender pair with it
    h = spawn(sel, [S(c, x), R(c)], flags, what="select(send c, recv c)")
    assert_parks(h)
    assert c.recv_timeout(OP_TIMEOUT) == (Status.OK, x)
    assert h.join()[:2] == (Status.OK, 0)
    h = spawn(sel, [S(c, x), R(c)], flags, what="select(send c, recv c)")
    assert_blocks(h)
    assert c.send_timeout(y, OP_TIMEOUT) == Status.OK
    assert h.join() == (Status.OK, 1, y)
    assert_no_phantom(c, 0, "after the selects")


# --- S6 ---------------------------------------------------------------------------


@pytest.mark.prop("S6")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_S6_timed_out_selects_leave_nothing(impl, sel, lib, make, cap):
    """10000 selects that time out (most after registering their waiters): the
    channels are as they were, a plain send/recv pair works on each, and a
    blocked receiver gets exactly its message."""
    need(impl, Caps.TIMED)
    a, full = make(cap), make(cap)
    before = fill(full, cap, stream=3)
    rng = random.Random(5)
    tiny = [0, 1_000, 20_000, 100_000]  # ns
    n_timeout = 0
    for i in range(10000):
        dl = lib.now_ns() + (2_000_000 if i % 500 == 0 else rng.choice(tiny))
        st, k, _ = sel([R(a), S(full, word(i, 8))], SELECT_FAIR, dl)
        assert st == Status.TIMEOUT, f"select #{i} with nothing ready returned {st!r} case {k}"
        n_timeout += 1
    assert drain(full) == (before, Status.EMPTY), "timed-out send cases changed the full channel"
    assert_no_phantom(a, cap, "after 10000 timed-out selects")
    assert_no_phantom(full, cap, "after 10000 timed-out selects")
    check_pair_still_works(a, cap, 50)
    check_pair_still_works(full, cap, 51)


@pytest.mark.prop("S6")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_S6_lost_cases_leave_the_queue(impl, sel, make, cap):
    """A selector blocks on {recv a; recv b} 2000 times and always wins on b:
    its waiter on a must go each time. Then a works as if no select had been."""
    need(impl, Caps.MPMC)
    a, b = make(cap), make(cap)
    N = 2000
    vals = words(N, 7)

    def selector():
        out = []
        for _ in range(N):
            st, k, v = sel([R(a), R(b)], SELECT_FAIR)
            assert (st, k) == (Status.OK, 1), f"select returned {st!r} case {k}"
            out.append(v)
        return out

    h = spawn(selector, what="select(recv a, recv b) x2000")
    for v in vals:
        assert b.send_timeout(v, OP_TIMEOUT) == Status.OK
    assert h.join(OP_TIMEOUT * 2) == vals, "values lost, duplicated or reordered through the select"
    assert_no_phantom(a, cap, "after 2000 selects that lost on a")
    check_pair_still_works(a, cap, 52)
    assert_no_phantom(b, cap, "after 2000 selects")


@pytest.mark.prop("S6")
@pytest.mark.parametrize("cap", [0, 1], ids=cap_id)
def test_S6_memory_and_waiters_driver(request, impl, cap):
    """chan-select-stress --check lose: 200k+ losing and timed-out selects; RSS growth
    stays small and no waiter is left behind."""
    need(impl, Caps.SELECT)
    run_driver(request, impl, cap, "lose")


# --- S7 ---------------------------------------------------------------------------

SEED = os.environ.get("CHANBENCH_SEED", "1")
QUICK = {
    "chaos": ["--msgs", "100000", "--rounds", "3"],
    "self": ["--msgs", "100000"],
    # 4 kinds x 20000 lost cases after a warm-up: a leak of one malloc chunk (32 bytes)
    # per lost case is 2.5 MB, well above the limit; measured growth is 0-64 kB
    "lose": ["--msgs", "20000", "--rss-limit-kb", "1024"],
}
QUICK_BUDGET = 45.0


def run_driver(request, impl, cap, check):
    soak = driver_run.soak(request.config)
    budget = driver_run.time_budget(request, driver_run.soak_seconds() * 1.5 + 60 if soak else QUICK_BUDGET)
    args = [*driver_run.plugin_args(request.config, impl), "--impl", impl, "--cap", str(cap),
            "--check", check, "--threads", "6", "--seed", SEED, *QUICK[check]]
    if soak:
        args += ["--seconds", f"{driver_run.soak_seconds():g}"]
    what = f"chan-select-stress impl={impl} cap={cap} check={check}"
    summary = driver_run.run("chan-select-stress", args, budget, what)
    (r,) = [x for x in summary["results"] if x["check"] == check]
    assert r["discrepancies"] == 0, f"{what}: {r}"
    return r


@pytest.mark.prop("S7")
@pytest.mark.parametrize("cap", ["0", "1", "4", "unbounded", "mixed"], ids=lambda c: f"cap={c}")
def test_S7_chaotic_mix_stress(request, impl, cap):
    """chan-select-stress --check chaos: selects (fair, biased, blocking, timed,
    NOWAIT, send and recv cases on several channels) mixed with plain blocking, try
    and timed operations from more threads than cores; a watchdog reports a
    deadlock; every value received exactly once (per-value tally)."""
    need(impl, Caps.SELECT)
    r = run_driver(request, impl, cap, "chaos")
    assert r["received"] == r["sent"] and sum64(r["sum_received"]) == sum64(r["sum_sent"])
    assert r["selects"] > 0 and r["sent"] > 0


@pytest.mark.prop("S5")
def test_S5_self_select_many_threads_driver(request, impl):
    """chan-select-stress --check self: six threads select {send c; recv c} on one
    rendezvous channel: no thread ever receives its own value; sends == receives."""
    need(impl, Caps.SELECT)
    r = run_driver(request, impl, 0, "self")
    assert r["received"] == r["sent"] > 0


@pytest.mark.prop("T1")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_T1_timed_select_under_traffic(request, impl, cap):
    """T1 for select: a select with a deadline on {recv a busy channel, recv an idle
    one}, whose waiter is woken every few ms by a send that a feeder takes back
    before it runs, returns within a bound of its deadline (median of five;
    chan-stress --deadline-op select, the same traffic as test_timeout.py's
    timed recv under traffic)."""
    need(impl, Caps.SELECT, Caps.TIMED, Caps.BLOCKING, Caps.MPMC)
    import test_timeout

    test_timeout.run_busy(request, impl, cap, "select")


# --- without the capability ---------------------------------------------------------


def test_select_without_capability_nowait_only(impl, lib, make):
    """chan.h: a NOWAIT select works on any implementation; a blocking one needs
    CHAN_CAP_SELECT on every case's channel (else UNSUPPORTED). Not a property of
    the implementation (no prop id): the shared layer's contract."""
    if has(impl, Caps.SELECT):
        pytest.skip("n/a: the implementation declares select")
    a, b = make(1), make(1)
    assert lib.select([R(a), R(b)], SELECT_FAIR, NOWAIT)[0] == Status.NOT_READY
    assert b.try_send(5) == Status.OK
    assert lib.select([R(a), R(b)], SELECT_FAIR, NOWAIT) == (Status.OK, 1, 5)
    st, k, _ = lib.select([R(a), R(b)], SELECT_FAIR, lib.deadline_after(0.05))
    assert st == Status.UNSUPPORTED, f"blocking select on an implementation without select returned {st!r}"
