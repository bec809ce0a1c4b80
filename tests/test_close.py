"""C1-C9: close, disconnect (handle drops) and conservation. See CONFORMANCE.md."""
import collections
import random
import time

import pytest

from blocking import BLOCK_WAIT, assert_blocks, join_all, spawn
from capability import cap_id, has, need
from chanlib import UNBOUNDED, Caps, Status
from messages import drain, exactly_once, fill, word, words

PROMPT = 2.0  # a woken or failing call returns within this (generous)




def recv_until_closed(ch):
    """Blocking receives until a non-OK status: (values, final status)."""
    out = []
    while True:
        s, v = ch.recv()
        if s != Status.OK:
            return out, s
        out.append(v)


def send_until_closed(ch, values):
    """Blocking sends in order; stops at the first failure: (sent OK, [(failed value, status)])."""
    ok = []
    for i, v in enumerate(values):
        s = ch.send(v)
        if s != Status.OK:
            return ok, [(v, s)] + [(w, None) for w in values[i + 1:]]
        ok.append(v)
    return ok, []


def buffered_count(cap):
    return 100 if cap == UNBOUNDED else cap


# --- C1 ---------------------------------------------------------------------------


@pytest.mark.prop("C1")
@pytest.mark.parametrize("cap", [1, 4, 64, UNBOUNDED], ids=cap_id)
def test_C1_drain_in_order_after_close(impl, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    vals = fill(ch, buffered_count(cap))
    assert ch.close() == Status.OK
    got = []
    for i in range(len(vals)):
        s, v = ch.recv() if (has(impl, Caps.BLOCKING) and i % 2) else ch.try_recv()
        assert s == Status.OK, f"receive #{i} of {len(vals)} buffered after close returned {s!r}"
        got.append(v)
    assert got == vals, "messages buffered before close came out wrong"
    assert ch.try_recv()[0] == Status.CLOSED
    if has(impl, Caps.BLOCKING):
        assert ch.recv()[0] == Status.CLOSED


@pytest.mark.prop("C1")
@pytest.mark.parametrize("cap", [64, UNBOUNDED], ids=cap_id)
def test_C1_concurrent_receivers_drain_after_close(impl, make, cap):
    need(impl, Caps.CLOSE, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    vals = fill(ch, 64 if cap != UNBOUNDED else 3000)
    assert ch.close() == Status.OK
    rs = [spawn(recv_until_closed, ch, what=f"receiver {i} draining {ch.label}") for i in range(3)]
    res = join_all(rs)
    for i, (got, last) in enumerate(res):
        assert last == Status.CLOSED, f"receiver {i} ended with {last!r}"
        assert got == sorted(got, key=vals.index), f"receiver {i} saw buffered messages out of order"
    exactly_once([v for got, _ in res for v in got], vals)


# --- C2 ---------------------------------------------------------------------------


@pytest.mark.prop("C2")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_C2_closed_empty_reports_closed_every_time(impl, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    assert ch.close() == Status.OK
    t0 = time.monotonic()
    for i in range(200):
        s, _ = ch.try_recv()
        assert s == Status.CLOSED, f"try_recv #{i} on a closed empty channel returned {s!r}"
    if has(impl, Caps.BLOCKING):
        for i in range(50):
            h = spawn(ch.recv)
            assert h.join(PROMPT)[0] == Status.CLOSED, f"recv #{i} on a closed empty channel"
    if has(impl, Caps.TIMED):
        t1 = time.monotonic()
        s, _ = ch.recv_timeout(30.0)
        assert s == Status.CLOSED, f"timed recv on a closed empty channel returned {s!r}"
        assert time.monotonic() - t1 < PROMPT, "timed recv on a closed channel waited for its deadline"
        assert ch.recv_until(1)[0] == Status.CLOSED  # a past deadline
    assert time.monotonic() - t0 < 20


@pytest.mark.prop("C2")
@pytest.mark.parametrize("cap", [1, 8, UNBOUNDED], ids=cap_id)
def test_C2_closed_after_drain_reports_closed(impl, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    vals = fill(ch, min(buffered_count(cap), 8))
    ch.close()
    got, last = drain(ch)
    assert got == vals and last == Status.CLOSED
    for _ in range(100):
        assert ch.try_recv()[0] == Status.CLOSED


# --- C3 ---------------------------------------------------------------------------


@pytest.mark.prop("C3")
@pytest.mark.parametrize("cap", [0, 1, 4, UNBOUNDED], ids=cap_id)
def test_C3_close_wakes_blocked_receivers(impl, make, cap):
    need(impl, Caps.CLOSE, Caps.BLOCKING)
    ch = make(cap)
    n = 3 if has(impl, Caps.MPMC) else 1
    rs = [spawn(ch.recv, what=f"recv #{i} on {ch.label}") for i in range(n)]
    if has(impl, Caps.TIMED) and has(impl, Caps.MPMC):
        rs.append(spawn(ch.recv_timeout, 30.0))
    for r in rs:
        assert_blocks(r, BLOCK_WAIT / 2)
    t0 = time.monotonic()
    assert ch.close() == Status.OK
    res = join_all(rs)
    assert time.monotonic() - t0 < PROMPT + 1, "close took too long to wake receivers"
    assert [s for s, _ in res] == [Status.CLOSED] * len(rs), f"woken receivers returned {res}"


@pytest.mark.prop("C3")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_C3_close_wakes_blocked_senders_who_keep_values(impl, make, cap):
    need(impl, Caps.CLOSE, Caps.BLOCKING)
    ch = make(cap)
    buffered = fill(ch, cap)
    n = 3 if has(impl, Caps.MPMC) else 1
    extra = words(n + 1, stream=2)
    ss = [spawn(ch.send, v, what=f"send #{i} on full {ch.label}") for i, v in enumerate(extra[:n])]
    if has(impl, Caps.TIMED) and has(impl, Caps.MPMC):
        ss.append(spawn(ch.send_timeout, extra[n], 30.0))
    for s in ss:
        assert_blocks(s, BLOCK_WAIT / 2)
    t0 = time.monotonic()
    assert ch.close() == Status.OK
    res = join_all(ss)
    assert time.monotonic() - t0 < PROMPT + 1, "close took too long to wake senders"
    assert res == [Status.CLOSED] * len(ss), f"woken senders returned {res}"
    got, last = drain(ch)
    assert not set(got) & set(extra), "a sender woken by close left its value in the channel"
    assert set(got) <= set(buffered)  # (draining every buffered one is C1's business)
    assert last == Status.CLOSED


# --- C4 ---------------------------------------------------------------------------


@pytest.mark.prop("C4")
@pytest.mark.parametrize("cap,full", [(0, True), (1, False), (1, True), (4, False), (4, True), (UNBOUNDED, False)],
                         ids=lambda p: cap_id(p) if not isinstance(p, bool) else ("full" if p else "room"))
def test_C4_send_after_close_fails(impl, make, cap, full):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    n = cap if full else {0: 0, 1: 0}.get(cap, 2)  # with room: some buffered, not full
    fill(ch, n)
    assert ch.close() == Status.OK
    refused = words(4, stream=3)
    attempts = [("try_send", lambda v: ch.try_send(v)), ("send_until(NOWAIT)", lambda v: ch.send_until(v, 0))]
    if has(impl, Caps.BLOCKING):
        attempts.append(("send", lambda v: ch.send(v)))
    if has(impl, Caps.TIMED):
        attempts.append(("send_timeout", lambda v: ch.send_timeout(v, 5.0)))
    for (name, op), v in zip(attempts, refused):
        t0 = time.monotonic()
        s = op(v)
        assert s == Status.CLOSED, f"{name} after close returned {s!r}"
        assert time.monotonic() - t0 < PROMPT, f"{name} after close did not fail at once"
    got, last = drain(ch)
    assert not set(got) & set(refused), "a send refused after close was delivered"
    assert last == Status.CLOSED


# --- C5 ---------------------------------------------------------------------------


@pytest.mark.prop("C5")
@pytest.mark.parametrize("cap", [0, 4, UNBOUNDED], ids=cap_id)
def test_C5_second_close_is_harmless(impl, make, cap):
    """Closed four times behaves exactly like closed once (compared side by side)."""
    need(impl, Caps.CLOSE)
    once, more = make(cap), make(cap)
    n = min(buffered_count(cap), 3)
    vals = fill(once, n)
    assert fill(more, n) == vals
    assert once.close() == Status.OK
    assert more.close() == Status.OK
    for i in range(3):
        s = more.close()
        assert s == Status.ALREADY_CLOSED, f"close #{i + 2} returned {s!r}"
    assert drain(more) == drain(once), "a repeated close changed what receivers get"
    assert more.close() == Status.ALREADY_CLOSED


@pytest.mark.prop("C5")
def test_C5_concurrent_closes_exactly_one_wins(impl, make):
    need(impl, Caps.CLOSE, Caps.MPMC)
    for rnd in range(20):
        ch = make(4 if has(impl, Caps.BOUNDED) else UNBOUNDED)
        hs = [spawn(ch.close) for _ in range(4)]
        res = collections.Counter(join_all(hs))
        assert res == {Status.OK: 1, Status.ALREADY_CLOSED: 3}, f"round {rnd}: 4 racing closes returned {dict(res)}"
        assert ch.destroy() == Status.OK


# --- C6 ---------------------------------------------------------------------------


@pytest.mark.prop("C6")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_C6_last_sender_drop_closes(impl, make, cap):
    need(impl, Caps.CLOSE, Caps.BLOCKING)
    ch = make(cap)
    assert ch.sender_clone() == Status.OK  # two sender handles
    assert ch.sender_clone() == Status.OK  # three
    buffered = fill(ch, min(buffered_count(cap), 5))
    assert ch.sender_drop() == Status.OK
    assert ch.sender_drop() == Status.OK
    # one sender left: still open
    if cap == UNBOUNDED or len(buffered) < cap:
        assert ch.try_send(word(99)) == Status.OK, "send with one sender handle left"
        buffered.append(word(99))
    got, last = drain(ch)
    assert got == buffered
    assert last == Status.EMPTY, f"channel with a sender handle left reports {last!r}"
    r = spawn(recv_until_closed, ch)
    assert_blocks(r)
    assert ch.sender_drop() == Status.OK  # the last one
    vals, st = r.join()
    assert st == Status.CLOSED, f"a receiver blocked when the last sender dropped got {st!r}"
    assert vals == []
    for _ in range(3):
        assert ch.try_recv()[0] == Status.CLOSED, "the last sender drop did not close the channel"
    assert ch.sender_drop() == Status.NO_HANDLE
    assert ch.sender_clone() == Status.NO_HANDLE, "a sender handle was cloned back from zero"


@pytest.mark.prop("C6")
@pytest.mark.parametrize("cap", [4, UNBOUNDED], ids=cap_id)
def test_C6_receivers_drain_buffered_after_last_sender_drop(impl, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    vals = fill(ch, 4)
    assert ch.sender_drop() == Status.OK
    got, last = drain(ch)
    assert got == vals, "dropping the last sender lost buffered messages"
    assert last == Status.CLOSED


@pytest.mark.prop("C6")
@pytest.mark.parametrize("cap", [0, 4, UNBOUNDED], ids=cap_id)
def test_C6_worker_pool_graceful_shutdown(impl, make, cap):
    """Producers each hold a sender handle and drop it when done; workers stop at CLOSED."""
    need(impl, Caps.CLOSE, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    P, W, K = 3, 3, 600
    for _ in range(P - 1):
        assert ch.sender_clone() == Status.OK

    def produce(p):
        res = [ch.send(v) for v in words(K, stream=p + 1)]
        res.append(ch.sender_drop())
        return res

    workers = [spawn(recv_until_closed, ch, what=f"worker {w} on {ch.label}") for w in range(W)]
    prods = [spawn(produce, p, what=f"producer {p} on {ch.label}") for p in range(P)]
    for p, res in enumerate(join_all(prods, 30)):
        assert res == [Status.OK] * (K + 1), f"producer {p}: {collections.Counter(res)}"
    res = join_all(workers)
    for w, (_, last) in enumerate(res):
        assert last == Status.CLOSED, f"worker {w} ended with {last!r}"
    exactly_once([v for got, _ in res for v in got], [v for p in range(P) for v in words(K, stream=p + 1)])


# --- C7 ---------------------------------------------------------------------------


@pytest.mark.prop("C7")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_C7_last_receiver_drop_fails_later_sends(impl, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    buffered = fill(ch, min(buffered_count(cap), 5))
    assert ch.receiver_clone() == Status.OK
    assert ch.receiver_drop() == Status.OK  # one receiver left: still works
    assert ch.undelivered == [], "a non-last receiver drop handed messages to the callback"
    if cap == UNBOUNDED or len(buffered) < cap:
        assert ch.try_send(word(50)) == Status.OK
        buffered.append(word(50))
    assert ch.receiver_drop() == Status.OK  # the last one
    assert sorted(ch.undelivered) == sorted(buffered), "buffered messages not handed to the callback at the last receiver drop"
    exactly_once(ch.undelivered, buffered, "undelivered message")
    for name, op in [("try_send", ch.try_send), ("send", ch.send if has(impl, Caps.BLOCKING) else ch.try_send),
                     ("send_timeout", (lambda v: ch.send_timeout(v, 5.0)) if has(impl, Caps.TIMED) else ch.try_send)]:
        t0 = time.monotonic()
        s = op(word(60))
        assert s == Status.CLOSED, f"{name} after the last receiver dropped returned {s!r}"
        assert time.monotonic() - t0 < PROMPT
    assert word(60) not in ch.undelivered, "a refused send reached the undelivered callback"
    assert ch.receiver_drop() == Status.NO_HANDLE
    assert ch.receiver_clone() == Status.NO_HANDLE
    n = len(ch.undelivered)
    assert ch.destroy() == Status.OK
    assert len(ch.undelivered) == n, "destroy handed messages to the callback a second time"


@pytest.mark.prop("C7")
@pytest.mark.parametrize("cap", [0, 1, 4], ids=cap_id)
def test_C7_last_receiver_drop_fails_blocked_senders(impl, make, cap):
    need(impl, Caps.CLOSE, Caps.BLOCKING)
    ch = make(cap)
    buffered = fill(ch, cap)
    n = 2 if has(impl, Caps.MPMC) else 1
    mine = words(n, stream=7)
    ss = [spawn(ch.send, v) for v in mine]
    for s in ss:
        assert_blocks(s, BLOCK_WAIT / 2)
    assert ch.receiver_drop() == Status.OK
    res = join_all(ss)
    assert res == [Status.CLOSED] * n, f"senders blocked when the last receiver dropped returned {res}"
    exactly_once(ch.undelivered, buffered, "undelivered message")
    assert not set(mine) & set(ch.undelivered), "a blocked sender's value went to the callback: it must stay the sender's"


# --- C8 ---------------------------------------------------------------------------


@pytest.mark.prop("C8")
@pytest.mark.parametrize("cap", [1, 4, 64, UNBOUNDED], ids=cap_id)
def test_C8_destroy_hands_buffered_to_callback_once(impl, make, cap):
    ch = make(cap)
    vals = fill(ch, buffered_count(cap))
    k = len(vals) // 2
    got = [ch.try_recv()[1] for _ in range(k)]
    assert got == vals[:k]
    assert ch.destroy() == Status.OK
    exactly_once(ch.undelivered, vals[k:], "undelivered message")
    assert ch.undelivered == vals[k:], "undelivered messages handed over out of order"


@pytest.mark.prop("C8")
@pytest.mark.parametrize("cap", [1, 8, UNBOUNDED], ids=cap_id)
def test_C8_receiver_drop_then_destroy_once(impl, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    vals = fill(ch, min(buffered_count(cap), 8))
    assert ch.receiver_drop() == Status.OK
    first = list(ch.undelivered)
    assert ch.sender_drop() == Status.OK
    assert ch.destroy() == Status.OK
    exactly_once(ch.undelivered, vals, "undelivered message")
    assert ch.undelivered == first, "destroy after the last receiver drop called the callback again"


@pytest.mark.prop("C8")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_C8_conservation_under_concurrency(impl, make, cap):
    """Producers send until refused; the one receiver stops part way and drops its handle.
    Every value is exactly one of: received, refused (kept by its sender), undelivered."""
    need(impl, Caps.CLOSE, Caps.MPMC, Caps.BLOCKING)
    rng = random.Random(8)
    for rnd in range(3):
        ch = make(cap)
        P, K = 3, 800
        sent = [words(K, stream=100 * rnd + p + 1) for p in range(P)]
        take = rng.randrange(200, 1500)

        def consume():
            out = []
            for _ in range(take):
                s, v = ch.recv()
                if s != Status.OK:
                    break
                out.append(v)
            out_status = ch.receiver_drop()
            return out, out_status

        c = spawn(consume, what=f"consumer on {ch.label}")
        ps = [spawn(send_until_closed, ch, sent[p], what=f"producer {p} on {ch.label}") for p in range(P)]
        received, drop_status = c.join(30)
        assert drop_status == Status.OK
        results = join_all(ps, 30)
        ok = [v for r, _ in results for v in r]
        refused = [v for _, fails in results for v, _ in fails]
        statuses = {s for _, fails in results for _, s in fails if s is not None}
        assert statuses <= {Status.CLOSED}, f"sends failed with {statuses}"
        assert ch.destroy() == Status.OK
        undelivered = list(ch.undelivered)
        everything = [v for s in sent for v in s]
        exactly_once(received + refused + undelivered, everything)
        exactly_once(received + undelivered, ok, "successfully sent message")
        assert len(received) == min(take, len(everything))


# --- C9 ---------------------------------------------------------------------------


@pytest.mark.prop("C9")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_C9_close_racing_sends_and_receives(impl, make, cap):
    need(impl, Caps.CLOSE, Caps.MPMC, Caps.BLOCKING)
    rng = random.Random(9)
    for rnd in range(5):
        ch = make(cap)
        P, C, K = 2, 2, 3000
        sent = [words(K, stream=100 * rnd + p + 1) for p in range(P)]
        ps = [spawn(send_until_closed, ch, sent[p], what=f"producer {p} on {ch.label}") for p in range(P)]
        cs = [spawn(recv_until_closed, ch, what=f"consumer {c} on {ch.label}") for c in range(C)]
        time.sleep(rng.uniform(0.005, 0.04))
        assert ch.close() == Status.OK
        results = join_all(ps + cs, 30)
        ok = [v for r, _ in results[:P] for v in r]
        refused = [v for _, fails in results[:P] for v, _ in fails]
        received = [v for r, _ in results[P:] for v in r]
        for c, (_, last) in enumerate(results[P:]):
            assert last == Status.CLOSED, f"consumer {c} ended with {last!r}"
        assert not set(refused) & set(received), "a value whose send reported CLOSED was received"
        exactly_once(received, ok, "successfully sent message")
        assert ch.destroy() == Status.OK
        assert ch.undelivered == [], "messages left after receivers drained a closed channel"
