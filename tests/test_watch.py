"""W1-W2: watch channels (include/chanbench/kinds.h). See CONFORMANCE.md.

Parametrized over every watch implementation (kimpl); the matrix rows are
"watch-<impl>". Sent values are word(version), so a receiver can check that the
versions it sees only grow.
"""
import threading
import time

import pytest

import kindlib
from blocking import assert_blocks, join_all, spawn
from chanlib import Status
from messages import unword, word

pytestmark = pytest.mark.parametrize("kimpl", kindlib.kind_params("watch"))
_row = kindlib.attribution("watch")

PROMPT = 2.0


def make(kimpl, initial=0):
    w = kindlib.Watch(kimpl, initial)
    assert w.create_status == Status.OK, f"watch_create({kimpl!r}) returned {w.create_status!r}"
    return kindlib.track(w)


def subscribe(w):
    st, rx = w.subscribe()
    assert st == Status.OK, f"subscribe returned {st!r}"
    return rx


# --- W1 ----------------------------------------------------------------------------


@pytest.mark.prop("W1")
def test_W1_initial_value_and_versions(kimpl):
    w = make(kimpl, word(100))
    rx = subscribe(w)
    assert rx.borrow() == (Status.OK, word(100), 0)
    assert rx.try_changed()[0] == Status.EMPTY, "a new receiver has seen the current value"
    assert w.send(word(1)) == Status.OK
    assert rx.borrow() == (Status.OK, word(1), 1)
    assert rx.borrow() == (Status.OK, word(1), 1), "borrow must not consume anything"


@pytest.mark.prop("W1")
def test_W1_only_latest_kept(kimpl):
    w = make(kimpl)
    rx = subscribe(w)
    for i in range(1, 6):
        assert w.send(word(i)) == Status.OK
    assert rx.try_changed() == (Status.OK, word(5)), "changed must give the latest value"
    assert rx.try_changed()[0] == Status.EMPTY, "the older versions must not be delivered"
    assert w.send(word(6)) == Status.OK
    assert rx.changed_timeout(PROMPT) == (Status.OK, word(6))


@pytest.mark.prop("W1")
def test_W1_new_subscriber_has_seen_current(kimpl):
    w = make(kimpl)
    first = subscribe(w)
    assert w.send(word(1)) == Status.OK
    late = subscribe(w)
    assert late.try_changed()[0] == Status.EMPTY
    assert late.borrow()[:2] == (Status.OK, word(1))
    assert first.try_changed() == (Status.OK, word(1))


@pytest.mark.prop("W1")
def test_W1_send_without_receivers_fails(kimpl):
    w = make(kimpl, word(0))
    assert w.send(word(1)) == Status.CLOSED, "send with no receiver must fail"
    rx = subscribe(w)
    assert rx.borrow()[1:] == (word(0), 0), "a failed send must not store its value"
    assert rx.unsubscribe() == Status.OK
    assert w.send(word(2)) == Status.CLOSED


@pytest.mark.prop("W1")
def test_W1_every_waiting_receiver_wakes(kimpl):
    w = make(kimpl)
    rxs = [subscribe(w) for _ in range(4)]
    hs = [spawn(rx.changed, what=f"changed {k}") for k, rx in enumerate(rxs)]
    for h in hs:
        assert_blocks(h)
    assert w.send(word(9)) == Status.OK
    for r in join_all(hs, PROMPT * 5):
        assert r == (Status.OK, word(9))


@pytest.mark.prop("W1")
def test_W1_timed_changed(kimpl):
    w = make(kimpl)
    rx = subscribe(w)
    lib = kindlib.chanlib.shared_lib()
    t0 = lib.now_ns()
    st, _ = rx.changed_timeout(0.1)
    el = (lib.now_ns() - t0) / 1e9
    assert st == Status.TIMEOUT
    assert el >= 0.099, f"timed changed returned after {el:.3f}s, before its deadline"
    assert w.send(word(3)) == Status.OK
    assert rx.changed_until(1) == (Status.OK, word(3)), "a passed deadline must still see a change"


@pytest.mark.prop("W1")
def test_W1_versions_monotonic_under_concurrency(kimpl):
    n = 5000  # Python threads share the GIL: more only makes the test slow, not stronger
    w = make(kimpl, word(0))
    rxs = [subscribe(w) for _ in range(3)]
    stop = threading.Event()

    def waiter(rx):
        seen = []
        while True:
            st, v = rx.changed_timeout(30)
            if st != Status.OK:
                return seen, st
            seen.append(unword(v)[1])

    def poller(rx):
        last, count = -1, 0
        while not stop.is_set():
            st, v, ver = rx.borrow()
            assert st == Status.OK
            i = unword(v)[1]
            assert i == ver, f"borrow: value of version {i} reported as version {ver} (torn read)"
            assert i >= last, f"borrow went back from version {last} to {i}"
            last, count = i, count + 1
            time.sleep(0)  # let the sender and the waiters have the GIL
        return last, count

    hs = [spawn(waiter, rxs[0], what="waiter 0"), spawn(waiter, rxs[1], what="waiter 1")]
    ph = spawn(poller, rxs[2], what="borrow poller")
    for i in range(1, n + 1):
        assert w.send(word(i)) == Status.OK
    assert w.close() == Status.OK
    results = join_all(hs, 60)
    stop.set()
    ph.join(60)
    for k, (seen, st) in enumerate(results):
        assert st == Status.CLOSED, f"waiter {k} ended with {st!r}"
        assert seen, f"waiter {k} saw no change at all"
        assert all(a < b for a, b in zip(seen, seen[1:])), f"waiter {k}: versions not strictly increasing"
        assert seen[-1] == n, f"waiter {k}: last version seen {seen[-1]}, the final one was {n}"


# --- W2 ----------------------------------------------------------------------------


@pytest.mark.prop("W2")
def test_W2_unseen_final_value_then_closed(kimpl):
    w = make(kimpl)
    rx, seen_all = subscribe(w), subscribe(w)
    assert w.send(word(4)) == Status.OK
    assert seen_all.try_changed() == (Status.OK, word(4))
    assert w.send(word(5)) == Status.OK
    assert w.close() == Status.OK
    assert w.close() == Status.ALREADY_CLOSED
    assert w.send(word(6)) == Status.CLOSED, "send after close must fail"
    assert rx.try_changed() == (Status.OK, word(5)), "the final value must still be seen after close"
    assert rx.try_changed()[0] == Status.CLOSED
    assert rx.changed()[0] == Status.CLOSED, "a blocking changed after close must return CLOSED"
    assert seen_all.try_changed() == (Status.OK, word(5))
    assert seen_all.changed_timeout(PROMPT)[0] == Status.CLOSED
    assert rx.borrow()[:2] == (Status.OK, word(5)), "borrow still gives the final value"
    assert w.subscribe()[0] == Status.CLOSED


@pytest.mark.prop("W2")
def test_W2_close_wakes_every_waiter(kimpl):
    w = make(kimpl)
    rxs = [subscribe(w) for _ in range(3)]
    hs = [spawn(rx.changed, what=f"changed {k}") for k, rx in enumerate(rxs)]
    for h in hs:
        assert_blocks(h)
    assert w.close() == Status.OK
    for st, _ in join_all(hs, PROMPT * 5):
        assert st == Status.CLOSED
