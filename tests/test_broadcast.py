"""B1-B3: broadcast channels (include/chanbench/kinds.h). See CONFORMANCE.md.

Parametrized over every broadcast implementation (kimpl); the matrix rows are
"bcast-<impl>". Messages are word(i) values, so a receiver can tell from a
value which send it was (unword) and check order and gaps exactly.
"""
import threading

import pytest

import kindlib
from blocking import BLOCK_WAIT, assert_blocks, join_all, spawn
from chanlib import MAX_CAPACITY, Status
from messages import unword, word, words

pytestmark = pytest.mark.parametrize("kimpl", kindlib.kind_params("bcast"))
_row = kindlib.attribution("bcast")

PROMPT = 2.0


def make(kimpl, cap):
    b = kindlib.Bcast(kimpl, cap)
    assert b.create_status == Status.OK, f"bcast_create({kimpl!r}, {cap}) returned {b.create_status!r}"
    return kindlib.track(b)


def subscribe(b):
    st, rx = b.subscribe()
    assert st == Status.OK, f"subscribe returned {st!r}"
    return rx


def drain(rx):
    """try_recv until not OK: ([(value, missed)], final status)."""
    out = []
    while True:
        st, v, missed = rx.try_recv()
        if st != Status.OK:
            assert missed == 0, f"a failed recv ({st!r}) reported {missed} missed"
            return out, st
        out.append((v, missed))


def recv_all(rx):
    """Blocking recv until not OK: ([(value, missed)], final status)."""
    out = []
    while True:
        st, v, missed = rx.recv()
        if st != Status.OK:
            return out, st
        out.append((v, missed))


def check_stream(got, sent_n, stream=0, what="receiver"):
    """got: [(value, missed)] of values word(0..sent_n-1, stream). Checks order,
    that every gap is exactly the reported missed count, and conservation.
    Returns (received, missed total)."""
    expect = 0
    missed_total = 0
    for k, (v, missed) in enumerate(got):
        s, i = unword(v)
        assert s == stream and i < sent_n, f"{what}: message #{k} {v:#x} was never sent"
        assert i == expect + missed, (
            f"{what}: message #{k} is send #{i}, but after send #{expect - 1} it reported "
            f"{missed} missed (so expected send #{expect + missed})")
        missed_total += missed
        expect = i + 1
    assert len(got) + missed_total == expect, "received + missed != position reached"
    assert expect == sent_n, f"{what}: ended at send #{expect - 1} of {sent_n} (messages lost at the end)"
    return len(got), missed_total


# --- B1 ----------------------------------------------------------------------------


@pytest.mark.prop("B1")
def test_B1_every_receiver_gets_every_message(kimpl):
    b = make(kimpl, 64)
    rxs = [subscribe(b) for _ in range(3)]
    vals = words(50)
    for v in vals:
        assert b.send(v) == Status.OK
    for n, rx in enumerate(rxs):
        got, st = drain(rx)
        assert st == Status.EMPTY
        assert [v for v, _ in got] == vals, f"receiver {n} got the messages wrong"
        assert all(m == 0 for _, m in got), f"receiver {n} reported a lag below capacity"


@pytest.mark.prop("B1")
def test_B1_concurrent_receivers_in_order(kimpl):
    n = 3000
    b = make(kimpl, 4096)  # larger than n: nobody may lag
    rxs = [subscribe(b) for _ in range(3)]
    hs = [spawn(recv_all, rx, what=f"receiver {k}") for k, rx in enumerate(rxs)]
    for v in words(n):
        assert b.send(v) == Status.OK
    assert b.close() == Status.OK
    for k, (got, st) in enumerate(join_all(hs)):
        assert st == Status.CLOSED
        assert [v for v, _ in got] == words(n), f"receiver {k}: messages wrong or out of order"
        assert sum(m for _, m in got) == 0


@pytest.mark.prop("B1")
def test_B1_new_subscriber_starts_at_tail(kimpl):
    b = make(kimpl, 16)
    early = subscribe(b)
    for v in words(5):
        assert b.send(v) == Status.OK
    late = subscribe(b)
    assert late.try_recv()[0] == Status.EMPTY, "a new subscriber saw a message sent before it subscribed"
    more = words(3, stream=1)
    for v in more:
        assert b.send(v) == Status.OK
    got, _ = drain(late)
    assert [v for v, _ in got] == more
    got, _ = drain(early)
    assert [v for v, _ in got] == words(5) + more


@pytest.mark.prop("B1")
def test_B1_send_without_receivers_fails(kimpl):
    b = make(kimpl, 4)
    assert b.send(word(1)) == Status.CLOSED, "send with no receiver subscribed must fail"
    rx = subscribe(b)
    assert b.send(word(2)) == Status.OK
    assert rx.try_recv()[:2] == (Status.OK, word(2)), "the failed send must not have been buffered"
    assert rx.unsubscribe() == Status.OK
    assert b.receiver_count() == 0
    assert b.send(word(3)) == Status.CLOSED, "send after the last receiver left must fail"


@pytest.mark.prop("B1")
def test_B1_recv_blocks_until_send_and_every_waiter_wakes(kimpl):
    b = make(kimpl, 4)
    rxs = [subscribe(b) for _ in range(4)]
    hs = [spawn(rx.recv, what=f"recv {k}") for k, rx in enumerate(rxs)]
    for h in hs:
        assert_blocks(h)
    assert b.send(word(7)) == Status.OK
    for st, v, missed in join_all(hs, PROMPT * 5):
        assert (st, v, missed) == (Status.OK, word(7), 0)


@pytest.mark.prop("B1")
def test_B1_try_and_timed_recv_on_empty(kimpl):
    b = make(kimpl, 4)
    rx = subscribe(b)
    assert rx.try_recv()[0] == Status.EMPTY
    t0 = kindlib.chanlib.shared_lib().now_ns()
    st, _, missed = rx.recv_timeout(0.1)
    el = (kindlib.chanlib.shared_lib().now_ns() - t0) / 1e9
    assert st == Status.TIMEOUT and missed == 0
    assert el >= 0.099, f"timed recv returned after {el:.3f}s, before its 0.1s deadline"
    assert b.send(word(1)) == Status.OK
    assert rx.recv_timeout(0)[:2] == (Status.OK, word(1)), "a passed deadline must still take a ready message"


@pytest.mark.prop("B1")
def test_B1_create_arguments(kimpl):
    for cap in (0, MAX_CAPACITY + 1):
        b = kindlib.Bcast(kimpl, cap)
        assert b.create_status == Status.EINVAL, f"capacity {cap}: {b.create_status!r}"
    b = kindlib.Bcast("no-such-impl", 4)
    assert b.create_status == Status.NOT_FOUND
    b = make(kimpl, 5)
    assert b.cap() == 5


# --- B2 ----------------------------------------------------------------------------


@pytest.mark.prop("B2")
@pytest.mark.parametrize("cap", [1, 3, 4, 16])  # 3: a ring rounded up to a power of two retains 4
def test_B2_lagged_receiver_told_exact_count(kimpl, cap):
    b = make(kimpl, cap)
    rx = subscribe(b)
    n = 3 * cap + 5
    for v in words(n):
        assert b.send(v) == Status.OK
    got, st = drain(rx)
    assert st == Status.EMPTY
    assert got[0] == (word(n - cap), n - cap), (
        f"first recv after lagging: got send #{unword(got[0][0])[1]} with missed={got[0][1]}, "
        f"expected the oldest retained send #{n - cap} with missed={n - cap}")
    assert got[1:] == [(word(i), 0) for i in range(n - cap + 1, n)]
    assert len(got) + sum(m for _, m in got) == n


@pytest.mark.prop("B2")
def test_B2_lag_is_per_receiver(kimpl):
    cap = 4
    b = make(kimpl, cap)
    fast, slow = subscribe(b), subscribe(b)
    n = 40
    for i in range(n):
        assert b.send(word(i)) == Status.OK
        st, v, missed = fast.try_recv()
        assert (st, v, missed) == (Status.OK, word(i), 0), f"the receiver keeping up lost send #{i}"
    got, _ = drain(slow)
    assert got[0] == (word(n - cap), n - cap)
    assert len(got) == cap
    # lag again after catching up: counted from where it resumed
    for i in range(n, n + 10):
        assert b.send(word(i)) == Status.OK
    got, _ = drain(slow)
    assert got[0] == (word(n + 10 - cap), 10 - cap)


@pytest.mark.prop("B2")
def test_B2_received_plus_missed_equals_sent_under_concurrency(kimpl):
    n = 20000
    b = make(kimpl, 8)
    rxs = [subscribe(b) for _ in range(3)]
    half = threading.Event()

    def stalled(rx):
        half.wait(30)  # starts only after half the messages are gone: must lag
        return recv_all(rx)

    hs = [spawn(recv_all, rxs[0], what="receiver 0"), spawn(recv_all, rxs[1], what="receiver 1"),
          spawn(stalled, rxs[2], what="stalled receiver")]
    for i in range(n):
        assert b.send(word(i)) == Status.OK
        if i == n // 2:
            half.set()
    half.set()
    assert b.close() == Status.OK
    results = join_all(hs, 60)
    for k, (got, st) in enumerate(results):
        assert st == Status.CLOSED, f"receiver {k} ended with {st!r}"
        check_stream(got, n, what=f"receiver {k}")
    _, stalled_missed = check_stream(results[2][0], n, what="stalled receiver")
    assert stalled_missed >= n // 2 - 8, "the stalled receiver should have been told it lagged"


# --- B3 ----------------------------------------------------------------------------


@pytest.mark.prop("B3")
def test_B3_closed_only_after_retained_read(kimpl):
    b = make(kimpl, 8)
    rx = subscribe(b)
    vals = words(5)
    for v in vals:
        assert b.send(v) == Status.OK
    assert b.close() == Status.OK
    assert b.send(word(99)) == Status.CLOSED, "send after close must fail"
    assert b.close() == Status.ALREADY_CLOSED
    got, st = drain(rx)
    assert [v for v, _ in got] == vals and st == Status.CLOSED
    assert rx.try_recv()[0] == Status.CLOSED and rx.recv()[0] == Status.CLOSED
    assert b.subscribe()[0] == Status.CLOSED


@pytest.mark.prop("B3")
def test_B3_lagged_receiver_after_close(kimpl):
    cap = 8
    b = make(kimpl, cap)
    rx = subscribe(b)
    n = 20
    for v in words(n):
        assert b.send(v) == Status.OK
    assert b.close() == Status.OK
    got, st = drain(rx)
    assert st == Status.CLOSED
    assert got[0] == (word(n - cap), n - cap)
    assert [v for v, _ in got] == words(n)[n - cap:]


@pytest.mark.prop("B3")
def test_B3_close_wakes_blocked_receivers(kimpl):
    b = make(kimpl, 4)
    rxs = [subscribe(b) for _ in range(3)]
    hs = [spawn(rx.recv, what=f"recv {k}") for k, rx in enumerate(rxs)]
    for h in hs:
        assert_blocks(h, BLOCK_WAIT)
    assert b.close() == Status.OK
    for st, _, missed in join_all(hs, PROMPT * 5):
        assert st == Status.CLOSED and missed == 0
