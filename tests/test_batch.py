"""BT1: batches (chan_send_batch / chan_recv_batch). See chan.h.

send_batch sends msgs[0..n) in order, blocking as a send would, until all went
(OK) or one send fails (its status: CLOSED, TIMEOUT, FULL with NOWAIT); *done is
the prefix that was sent, the caller keeps the rest. recv_batch waits like a recv
for the first message, then takes what else is ready at once, up to n: OK with
1 <= done <= n, or the first recv's status (EMPTY, TIMEOUT, CLOSED) with done 0.

Batches work on every implementation (the shared layer loops over single
operations where CHAN_CAP_BATCH is not declared), so these tests run for all;
the matrix shows them under BT1.
"""
import random

import pytest

from blocking import OP_TIMEOUT, assert_blocks, join_all, spawn, wait_until
from capability import cap_id, need
from chanlib import FOREVER, NOWAIT, UNBOUNDED, Caps, Status
from messages import drain, exactly_once, unword, word, words

PAST = 1  # a past deadline that is not NOWAIT



@pytest.mark.prop("BT1")
@pytest.mark.parametrize("cap", [1, 4, 64, UNBOUNDED], ids=cap_id)
def test_BT1_batch_order_single_thread(impl, make, cap):
    ch = make(cap)
    room = 50 if cap == UNBOUNDED else cap
    vals = words(room, 1)
    assert ch.send_batch(vals, NOWAIT) == (Status.OK, room), "send_batch of what fits"
    got = []
    while len(got) < room:
        st, vs, done = ch.recv_batch(7, NOWAIT)
        assert st == Status.OK and 1 <= done <= 7 and len(vs) == done, f"recv_batch(7) returned {st!r} done {done}"
        assert done == min(7, room - len(got)), f"recv_batch(7) took {done} of {room - len(got)} ready messages"
        got += vs
    assert got == vals, "batches reordered or changed messages"
    assert ch.recv_batch(7, NOWAIT)[0] == Status.EMPTY


@pytest.mark.prop("BT1")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_BT1_concurrent_batches_exactly_once_in_order(impl, make, cap):
    """Three producers send their streams in batches of random sizes, three
    consumers receive in batches of random sizes: every value exactly once, each
    consumer sees each producer's values in order, every batch 1..n."""
    need(impl, Caps.MPMC, Caps.CLOSE, Caps.BLOCKING)
    ch = make(cap)
    P, C, M = 3, 3, 3000

    def producer(p):
        rng = random.Random(p)
        vals = words(M, p + 1)
        i = 0
        while i < M:
            k = rng.randint(1, 40)
            st, done = ch.send_batch(vals[i:i + k])
            assert (st, done) == (Status.OK, len(vals[i:i + k])), f"producer {p}: send_batch returned {st!r} done {done}"
            i += k
        return vals

    def consumer(c):
        rng = random.Random(100 + c)
        got = []
        while True:
            n = rng.randint(1, 64)
            st, vs, done = ch.recv_batch(n)
            if st == Status.CLOSED:
                assert done == 0
                return got
            assert st == Status.OK, f"consumer {c}: recv_batch returned {st!r}"
            assert 1 <= done <= n and len(vs) == done, f"consumer {c}: recv_batch({n}) returned done {done}"
            got += vs

    cons = [spawn(consumer, c, what=f"batch consumer {c}") for c in range(C)]
    sent = join_all([spawn(producer, p, what=f"batch producer {p}") for p in range(P)], timeout=OP_TIMEOUT * 3)
    assert ch.close() == Status.OK
    got = join_all(cons, timeout=OP_TIMEOUT * 3)
    exactly_once([v for g in got for v in g], [v for s in sent for v in s])
    for c, g in enumerate(got):
        last = {}
        for v in g:
            p, i = unword(v)
            assert last.get(p, -1) < i, f"consumer {c}: producer {p - 1}'s values out of order"
            last[p] = i


@pytest.mark.prop("BT1")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_BT1_send_batch_nowait_sends_a_prefix(impl, make, cap):
    ch = make(cap)
    pre = words(1, 9) if cap > 1 else []
    for v in pre:
        assert ch.try_send(v) == Status.OK
    vals = words(10, 1)
    fits = max(cap - len(pre), 0)
    st, done = ch.send_batch(vals, NOWAIT)
    assert (st, done) == (Status.FULL, fits), f"NOWAIT send_batch of 10 with room for {fits} returned {st!r} done {done}"
    assert drain(ch) == (pre + vals[:fits], Status.EMPTY), "the channel does not hold exactly the prefix sent"


@pytest.mark.prop("BT1")
@pytest.mark.parametrize("cap", [0, 2], ids=cap_id)
def test_BT1_send_batch_timeout_sends_a_prefix(impl, lib, make, cap):
    need(impl, Caps.TIMED)
    ch = make(cap)
    vals = words(10, 1)
    st, done = ch.send_batch(vals, lib.deadline_after(0.05))
    assert (st, done) == (Status.TIMEOUT, cap), f"timed send_batch of 10 with room for {cap} returned {st!r} done {done}"
    assert drain(ch) == (vals[:cap], Status.EMPTY)
    st, done = ch.send_batch(vals, PAST)
    assert (st, done) == (Status.TIMEOUT, cap), f"send_batch with a past deadline returned {st!r} done {done}"
    assert drain(ch) == (vals[:cap], Status.EMPTY)


@pytest.mark.prop("BT1")
@pytest.mark.parametrize("cap", [0, 2], ids=cap_id)
def test_BT1_send_batch_close_reports_the_prefix(impl, make, cap):
    """A blocked send_batch woken by close returns CLOSED with done = what was
    received or buffered; the rest is the caller's."""
    need(impl, Caps.CLOSE, Caps.BLOCKING, Caps.TIMED, Caps.LEN)
    ch = make(cap)
    vals = words(10, 1)
    h = spawn(ch.send_batch, vals)
    taken = []
    for _ in range(5):
        s, v = ch.recv_timeout(OP_TIMEOUT)
        assert s == Status.OK
        taken.append(v)
    assert taken == vals[:5]
    wait_until(lambda: ch.len() == cap, what="the sender refilling the buffer")
    assert_blocks(h)
    assert ch.close() == Status.OK
    st, done = h.join()
    assert (st, done) == (Status.CLOSED, 5 + cap), f"send_batch woken by close returned {st!r} done {done}, want closed {5 + cap}"
    assert drain(ch) == (vals[5:5 + cap], Status.CLOSED), "the buffer does not hold exactly the rest of the prefix"
    assert ch.send_batch(vals) == (Status.CLOSED, 0), "send_batch on a closed channel"


@pytest.mark.prop("BT1")
@pytest.mark.parametrize("cap", [4, 16, UNBOUNDED], ids=cap_id)
def test_BT1_recv_batch_takes_what_is_ready(impl, lib, make, cap):
    need(impl, Caps.TIMED, Caps.CLOSE, Caps.BLOCKING)
    ch = make(cap)
    assert ch.recv_batch(8, NOWAIT)[::2] == (Status.EMPTY, 0)
    assert ch.recv_batch(8, lib.deadline_after(0.05))[::2] == (Status.TIMEOUT, 0)
    vals = words(4, 2)
    assert ch.send_batch(vals) == (Status.OK, 4)
    assert ch.recv_batch(3, NOWAIT) == (Status.OK, vals[:3], 3), "recv_batch(3) with 4 ready"
    assert ch.recv_batch(10, NOWAIT) == (Status.OK, vals[3:], 1), "recv_batch(10) with 1 ready must take it, not wait for more"
    # blocking: waits for the first, then takes what is there
    h = spawn(ch.recv_batch, 10)
    assert_blocks(h)
    v = word(1, 3)
    assert ch.send(v) == Status.OK
    st, vs, done = h.join()
    assert (st, vs, done) == (Status.OK, [v], 1), f"blocked recv_batch returned {st!r} {done}"
    # closed: the rest first, then CLOSED with done 0
    assert ch.send_batch(vals[:2]) == (Status.OK, 2)
    assert ch.close() == Status.OK
    assert ch.recv_batch(10) == (Status.OK, vals[:2], 2)
    for dl in (NOWAIT, FOREVER):
        assert ch.recv_batch(10, dl)[::2] == (Status.CLOSED, 0)


@pytest.mark.prop("BT1")
def test_BT1_recv_batch_rendezvous_takes_parked_senders(impl, make):
    need(impl, Caps.MPMC, Caps.BLOCKING)
    ch = make(0)
    assert ch.recv_batch(4, NOWAIT)[::2] == (Status.EMPTY, 0)
    vals = words(6, 4)
    hs = [spawn(ch.send, v) for v in vals]
    got = []
    while len(got) < len(vals):
        st, vs, done = ch.recv_batch(4, FOREVER)
        assert st == Status.OK and 1 <= done <= 4, f"recv_batch(4) returned {st!r} done {done}"
        got += vs
    assert join_all(hs) == [Status.OK] * len(vals)
    exactly_once(got, vals)
    assert ch.recv_batch(4, NOWAIT)[::2] == (Status.EMPTY, 0)
