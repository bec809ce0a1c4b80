"""Q1-Q13: queue channels (bounded, rendezvous, unbounded). See CONFORMANCE.md."""
import collections
import ctypes
import queue
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chanlib
from blocking import BLOCK_WAIT, OP_TIMEOUT, assert_blocks, join_all, spawn, wait_until
from capability import cap_id, has, need
from chanlib import MAX_CAPACITY, UNBOUNDED, Caps, Status
from messages import EDGES, SENTINEL, drain, exactly_once, unword, word, words

ALL_CAPS = [0, 1, 2, 3, 4, 7, 8, 16, 31, 32, 33, 63, 64, 65, 100, 1024, UNBOUNDED]
BUFFERED = [1, 4, 64, UNBOUNDED]
IMMEDIATE = 0.5  # "at once": a non-blocking call returns within this (generous)


def producer(ch, values):
    """Blocking-send every value; the statuses, in order."""
    return [ch.send(v) for v in values]


def consumer(ch, n):
    """Blocking-receive n values; [(status, value)]."""
    return [ch.recv() for _ in range(n)]



def spsc(ch, values, timeout=OP_TIMEOUT):
    p = spawn(producer, ch, values, what=f"producer on {ch.label}")
    c = spawn(consumer, ch, len(values), what=f"consumer on {ch.label}")
    sent, got = join_all([p, c], timeout)
    assert all(s == Status.OK for s in sent), f"send statuses: {collections.Counter(sent)}"
    assert all(s == Status.OK for s, _ in got), f"recv statuses: {collections.Counter(s for s, _ in got)}"
    return [v for _, v in got]


def first_mismatch(got, want):
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            return f"at index {i}: got {g:#x}, expected {w:#x}"
    return f"lengths differ: got {len(got)}, expected {len(want)}"


# --- Q1 ---------------------------------------------------------------------------


@pytest.mark.prop("Q1")
@pytest.mark.parametrize("cap", ALL_CAPS, ids=cap_id)
def test_Q1_fifo_spsc(impl, make, cap):
    need(impl, Caps.BLOCKING)
    ch = make(cap)
    n = min(max(3 * (cap if cap != UNBOUNDED else 100) + 20, 300), 3200)
    values = EDGES + words(n)
    got = spsc(ch, values)
    assert got == values, "FIFO or value broken: " + first_mismatch(got, values)


@pytest.mark.prop("Q1")
def test_Q1_fifo_every_capacity_0_to_64(impl, make):
    """Every capacity 0..64 and unbounded, one channel each."""
    need(impl, Caps.BLOCKING)
    caps = [c for c in list(range(65)) + [UNBOUNDED] if has(impl, chanlib.cap_kind(c))]
    bad = []
    tested = 0
    for cap in caps:
        ch = make(cap, unsupported_ok=True)
        if ch is None:
            continue
        tested += 1
        values = words(2 * (cap if cap != UNBOUNDED else 64) + 7, stream=cap & 0xFFFF)
        got = spsc(ch, values)
        if got != values:
            bad.append(f"cap={chanlib.cap_label(cap)}: " + first_mismatch(got, values))
        assert ch.destroy() == Status.OK
    assert not bad, "FIFO broken: " + "; ".join(bad)
    if tested == 0:
        pytest.skip("n/a: no capacity in 0..64 or unbounded supported")


@pytest.mark.prop("Q1")
@pytest.mark.parametrize("cap", [1, 2, 3, 5, 8, 64, UNBOUNDED], ids=cap_id)
def test_Q1_fifo_single_thread_wraparound(impl, make, cap):
    """Fill and drain in uneven steps so the buffer wraps many times; edge values."""
    ch = make(cap)
    room = cap if cap != UNBOUNDED else 40
    values = EDGES + words(10 * room + 13)
    sent = received = 0
    step = 0
    while received < len(values):
        step += 1
        k = min(1 + (step * 7) % room, room - (sent - received))  # how many to send this round
        for _ in range(k):
            if sent < len(values):
                s = ch.try_send(values[sent])
                assert s == Status.OK, f"try_send #{sent} with room returned {s!r}"
                sent += 1
        for _ in range(1 + (step * 5) % max(k, 1)):
            if received < sent:
                s, v = ch.try_recv()
                assert s == Status.OK, f"try_recv #{received} with {sent - received} buffered returned {s!r}"
                assert v == values[received], f"message #{received}: got {v:#x}, expected {values[received]:#x}"
                received += 1
    assert ch.try_recv()[0] == Status.EMPTY


class _Model:
    """A sequential bounded/unbounded FIFO: what try ops must do."""

    def __init__(self, cap):
        self.cap = cap
        self.q = collections.deque()

    def try_send(self, v):
        if self.cap != UNBOUNDED and len(self.q) >= self.cap:
            return Status.FULL
        self.q.append(v)
        return Status.OK

    def try_recv(self):
        if not self.q:
            return Status.EMPTY, None
        return Status.OK, self.q.popleft()


def model_check(impl, lib, cap, check_len):
    """Random sequences of try_send / try_recv (hypothesis, derandomized) against _Model."""
    s, ch = lib.create(impl, cap)
    if s == Status.UNSUPPORTED:
        pytest.skip(f"n/a: capacity {chanlib.cap_label(cap)} not supported (create returned unsupported)")
    assert s == Status.OK, f"chan_create({impl!r}, {chanlib.cap_label(cap)}) returned {s!r}"
    assert ch.destroy() == Status.OK

    @settings(max_examples=60, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(st.integers(0, chanlib.WORD_MASK - 1), st.none()), max_size=80))
    def check(ops):
        s, ch = lib.create(impl, cap)
        assert s == Status.OK
        try:
            m = _Model(cap)
            for i, op in enumerate(ops):
                if op is None:
                    got = ch.try_recv()
                    want = m.try_recv()
                    assert got[0] == want[0], f"op {i}: try_recv returned {got[0]!r}, model {want[0]!r}"
                    if want[0] == Status.OK:
                        assert got[1] == want[1], f"op {i}: try_recv value {got[1]:#x}, model {want[1]:#x}"
                else:
                    got = ch.try_send(op)
                    want = m.try_send(op)
                    assert got == want, f"op {i}: try_send returned {got!r}, model {want!r}"
                if check_len:
                    assert ch.len() == len(m.q), f"op {i}: len() {ch.len()}, model {len(m.q)}"
        finally:
            assert ch.destroy() == Status.OK

    check()


@pytest.mark.prop("Q1", "Q6")
@pytest.mark.parametrize("cap", [1, 2, 3, 7, UNBOUNDED], ids=cap_id)
def test_Q1_Q6_try_ops_match_sequential_model(impl, lib, cap):
    """Random sequences of try_send / try_recv give what a FIFO of capacity N gives."""
    need(impl, chanlib.cap_kind(cap))
    model_check(impl, lib, cap, check_len=False)


@pytest.mark.prop("Q8")
@pytest.mark.parametrize("cap", [1, 3, UNBOUNDED], ids=cap_id)
def test_Q8_len_matches_sequential_model(impl, lib, cap):
    need(impl, chanlib.cap_kind(cap), Caps.LEN)
    model_check(impl, lib, cap, check_len=True)


# --- Q2 ---------------------------------------------------------------------------


@pytest.mark.prop("Q2")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_Q2_per_producer_order(impl, make, cap):
    need(impl, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    P, K = 4, 1500
    prods = [spawn(producer, ch, words(K, stream=p + 1), what=f"producer {p} on {ch.label}") for p in range(P)]
    cons = spawn(consumer, ch, P * K, what=f"consumer on {ch.label}")
    results = join_all(prods + [cons], timeout=30)
    for p, sent in enumerate(results[:P]):
        assert all(s == Status.OK for s in sent), f"producer {p}: {collections.Counter(sent)}"
    got = results[P]
    assert all(s == Status.OK for s, _ in got)
    last = {}
    for idx, (_, v) in enumerate(got):
        stream, i = unword(v)
        assert 1 <= stream <= P and i < K, f"received a value never sent: {v:#x}"
        prev = last.get(stream, -1)
        assert i == prev + 1, f"producer {stream - 1}: message {i} arrived after message {prev} (position {idx})"
        last[stream] = i
    assert all(last.get(p + 1) == K - 1 for p in range(P)), f"last seen per producer: {last}"


# --- Q3 ---------------------------------------------------------------------------


def consume_until_sentinel(ch):
    out = []
    while True:
        s, v = ch.recv()
        if s != Status.OK:
            out.append(("status", s))
            return out
        if v == SENTINEL:
            return out
        out.append(v)


@pytest.mark.prop("Q3")
@pytest.mark.parametrize("cap", [0, 1, 8, UNBOUNDED], ids=cap_id)
def test_Q3_exactly_once_mpmc(impl, make, cap):
    need(impl, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    P, C, K = 3, 3, 1500
    sent = [words(K, stream=p + 1) for p in range(P)]
    prods = [spawn(producer, ch, sent[p], what=f"producer {p} on {ch.label}") for p in range(P)]
    cons = [spawn(consume_until_sentinel, ch, what=f"consumer {c} on {ch.label}") for c in range(C)]
    for p, r in enumerate(join_all(prods, timeout=30)):
        assert all(s == Status.OK for s in r), f"producer {p}: {collections.Counter(r)}"
    stops = [spawn(ch.send, SENTINEL, what=f"send(stop) on {ch.label}") for _ in range(C)]
    assert all(s == Status.OK for s in join_all(stops))
    got = join_all(cons)
    for c, vals in enumerate(got):
        assert not any(isinstance(v, tuple) for v in vals), f"consumer {c} got {vals[-1]}"
    received = [v for vals in got for v in vals]
    exactly_once(received, [v for s in sent for v in s])
    # each consumer still sees each producer's messages in order (FIFO, one channel)
    for c, vals in enumerate(got):
        last = {}
        for v in vals:
            stream, i = unword(v)
            assert i > last.get(stream, -1), f"consumer {c}: producer {stream - 1}'s messages out of order"
            last[stream] = i


# --- Q4 ---------------------------------------------------------------------------


@pytest.mark.prop("Q4")
@pytest.mark.parametrize("cap", [0, 1, 64, UNBOUNDED], ids=cap_id)
def test_Q4_try_recv_on_empty_returns_at_once(impl, make, cap):
    ch = make(cap)
    for i in range(200):
        t0 = time.monotonic()
        s, _ = ch.try_recv()
        dt = time.monotonic() - t0
        assert s == Status.EMPTY, f"try_recv #{i} on an empty channel returned {s!r}"
        assert dt < IMMEDIATE, f"try_recv on an empty channel took {dt:.3f}s"


@pytest.mark.prop("Q4")
@pytest.mark.parametrize("cap", [0, 1, 64, UNBOUNDED], ids=cap_id)
def test_Q4_recv_on_empty_blocks_until_send(impl, make, cap):
    need(impl, Caps.BLOCKING)
    ch = make(cap)
    r = spawn(ch.recv)
    assert_blocks(r)
    if has(impl, Caps.MPMC):  # a second receiving thread: only where allowed
        s, _ = ch.try_recv()
        assert s == Status.EMPTY, f"try_recv beside a blocked receiver returned {s!r}"
        assert_blocks(r, 0.05)
    v = word(7, 7)
    snd = spawn(ch.send, v)
    assert r.join() == (Status.OK, v)
    assert snd.join() == Status.OK
    assert ch.try_recv()[0] == Status.EMPTY


@pytest.mark.prop("Q4")
@pytest.mark.parametrize("cap", [0, 1, 4, 8, UNBOUNDED], ids=cap_id)
def test_Q4_every_blocked_receiver_released(impl, make, cap):
    """Three receivers blocked on empty; three messages sent back to back: all three return
    (a channel that signals only on the empty -> non-empty transition wakes one)."""
    need(impl, Caps.BLOCKING, Caps.MPMC)
    ch = make(cap)
    rs = [spawn(ch.recv, what=f"recv #{i} on empty {ch.label}") for i in range(3)]
    for r in rs:
        assert_blocks(r, BLOCK_WAIT / 2)
    vals = words(3, stream=4)
    if cap == UNBOUNDED or cap >= 3:  # room for all three: really back to back
        for v in vals:
            assert ch.try_send(v) == Status.OK
    else:  # each send may have to wait for a receiver to take the previous one
        ss = [spawn(ch.send, v) for v in vals]
        assert join_all(ss) == [Status.OK] * 3
    got = join_all(rs)
    assert all(s == Status.OK for s, _ in got), got
    exactly_once([v for _, v in got], vals)


# --- Q5 ---------------------------------------------------------------------------


@pytest.mark.prop("Q5")
@pytest.mark.parametrize("cap", [0, 1, 2, 64], ids=cap_id)
def test_Q5_send_on_full_blocks_try_send_full(impl, make, cap):
    need(impl, Caps.BLOCKING)
    ch = make(cap)
    fill = words(cap, stream=1)
    for i, v in enumerate(fill):
        assert ch.try_send(v) == Status.OK, f"try_send #{i} below capacity {cap}"
    x, y = word(1, 2), word(2, 2)
    t0 = time.monotonic()
    s = ch.try_send(x)
    assert s == Status.FULL, f"try_send on a full channel returned {s!r}"
    assert time.monotonic() - t0 < IMMEDIATE, "try_send on a full channel did not return at once"
    snd = spawn(ch.send, y)
    assert_blocks(snd)
    assert ch.try_send(x) == Status.FULL, "try_send while a sender is blocked on a full channel"
    # free one slot (rendezvous: take from the blocked sender)
    rcv = spawn(ch.recv)
    first = rcv.join()
    assert snd.join() == Status.OK
    got = [first[1]] + drain(ch)[0]
    want = fill + [y]
    assert got == want, "after the blocked send completed: " + first_mismatch(got, want)
    assert x not in got, "a value refused with FULL was delivered anyway"
    # the refused value is still the caller's to send
    if cap > 0:
        assert ch.try_send(x) == Status.OK
        assert ch.try_recv() == (Status.OK, x)


# --- Q6 ---------------------------------------------------------------------------

Q6_CAPS = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129,
           1000, 1023, 1024, 1025, 4095, 4096, 4097]


@pytest.mark.prop("Q6")
@pytest.mark.parametrize("cap", Q6_CAPS, ids=cap_id)
def test_Q6_capacity_is_exact(impl, make, cap):
    ch = make(cap)
    assert ch.cap() == cap, f"cap() returned {ch.cap()} for capacity {cap}"
    values = words(cap + 1)
    for i in range(cap):
        s = ch.try_send(values[i])
        assert s == Status.OK, f"try_send #{i + 1} of {cap} returned {s!r}"
    s = ch.try_send(values[cap])
    assert s == Status.FULL, f"try_send #{cap + 1} on capacity {cap} returned {s!r}"
    # wrap: take half, put half back, and the boundary is still exactly N
    half = (cap + 1) // 2
    for i in range(half):
        assert ch.try_recv() == (Status.OK, values[i])
    more = words(half, stream=9)
    for i, v in enumerate(more):
        s = ch.try_send(v)
        assert s == Status.OK, f"refill try_send #{i + 1} of {half} returned {s!r}"
    assert ch.try_send(values[cap]) == Status.FULL, "capacity grew after wrapping"
    got, last = drain(ch)
    assert got == values[half:cap] + more
    assert last == Status.EMPTY
    assert ch.cap() == cap


@pytest.mark.prop("Q6")
@pytest.mark.parametrize("cap", [1, 3, 64], ids=cap_id)
def test_Q6_timed_and_blocking_respect_capacity(impl, make, cap):
    """The N+1-th message also does not fit with a timed send."""
    need(impl, Caps.TIMED)
    ch = make(cap)
    for i in range(cap):
        assert ch.send_timeout(word(i), 1.0) == Status.OK
    s = ch.send_timeout(word(cap), 0.05)
    assert s == Status.TIMEOUT, f"timed send #{cap + 1} on capacity {cap} returned {s!r}"
    assert drain(ch)[0] == words(cap)


# --- Q7 ---------------------------------------------------------------------------


@pytest.mark.prop("Q7")
@pytest.mark.parametrize("cap", [1, 2, 4], ids=cap_id)
def test_Q7_one_free_slot_releases_one_sender(impl, make, cap):
    need(impl, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    fill = words(cap, stream=1)
    for v in fill:
        assert ch.try_send(v) == Status.OK
    extra = words(3, stream=2)
    senders = [spawn(ch.send, v, what=f"send #{i} on full {ch.label}") for i, v in enumerate(extra)]
    for s in senders:
        assert_blocks(s, BLOCK_WAIT / 2)
    got = []
    for k in range(1, len(senders) + 1):
        s, v = ch.try_recv()
        assert s == Status.OK, f"try_recv on a full channel returned {s!r}"
        got.append(v)
        wait_until(lambda: sum(h.done() for h in senders) >= k, what=f"blocked sender #{k} finishing after a slot freed")
        time.sleep(BLOCK_WAIT)
        n = sum(h.done() for h in senders)
        assert n == k, f"{k} slot(s) freed, but {n} blocked senders finished"
    assert all(s == Status.OK for s in join_all(senders))
    rest, _ = drain(ch)
    got += rest
    assert got[:cap] == fill, "buffered messages overtaken by blocked senders"
    exactly_once(got[cap:], extra)


@pytest.mark.prop("Q7")
@pytest.mark.parametrize("cap", [1, 2, 4, 8], ids=cap_id)
def test_Q7_each_freed_slot_releases_a_sender(impl, make, cap):
    """Three senders blocked on a full channel; three receives back to back: all three
    senders finish (a channel that signals only on the full -> not-full transition
    releases one and leaves the others asleep in front of free slots)."""
    need(impl, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    fill = words(cap, stream=1)
    for v in fill:
        assert ch.try_send(v) == Status.OK
    extra = words(3, stream=2)
    senders = [spawn(ch.send, v, what=f"send #{i} on full {ch.label}") for i, v in enumerate(extra)]
    for h in senders:
        assert_blocks(h, BLOCK_WAIT / 2)
    got = []
    if cap >= 3:  # three buffered: really back to back
        for i in range(3):
            s, v = ch.try_recv()
            assert s == Status.OK, f"try_recv #{i} from a full channel returned {s!r}"
            got.append(v)
    else:  # each receive may have to wait for a released sender to refill
        res = join_all([spawn(ch.recv) for _ in range(3)])
        assert all(s == Status.OK for s, _ in res), res
        got = [v for _, v in res]  # (in the order of the helpers, not of arrival)
    assert join_all(senders) == [Status.OK] * 3
    got += drain(ch)[0]
    exactly_once(got, fill + extra)


@pytest.mark.prop("Q7")
@pytest.mark.parametrize("cap", [1, 2], ids=cap_id)
def test_Q7_no_lost_wakeup_many_rounds(impl, make, cap):
    """Round after round: a sender blocked on a full channel finishes when one slot frees."""
    need(impl, Caps.BLOCKING)
    ch = make(cap)
    for v in words(cap, stream=1):
        assert ch.try_send(v) == Status.OK
    for rnd in range(150):
        v = word(rnd, stream=3)
        snd = spawn(ch.send, v, what=f"send (round {rnd}) on full {ch.label}")
        wait_until(lambda: chanlib.inflight(snd.tid) or snd.done(), what="sender entering send")
        time.sleep(0.001)
        s, _ = ch.try_recv()
        assert s == Status.OK, f"round {rnd}: try_recv on a full channel returned {s!r}"
        assert snd.join() == Status.OK, f"round {rnd}: the blocked sender failed"
        assert ch.try_send(word(rnd, stream=4)) == Status.FULL, f"round {rnd}: the sender's value did not take the slot"
    got, _ = drain(ch)
    assert got[-1] == word(149, stream=3)


# --- Q8 ---------------------------------------------------------------------------


@pytest.mark.prop("Q8")
@pytest.mark.parametrize("cap", [1, 4, 64, UNBOUNDED], ids=cap_id)
def test_Q8_len_exact_when_quiescent(impl, make, cap):
    need(impl, Caps.LEN)
    ch = make(cap)
    n = cap if cap != UNBOUNDED else 300
    assert ch.len() == 0
    for i in range(n):
        assert ch.try_send(word(i)) == Status.OK
        assert ch.len() == i + 1, f"len() after {i + 1} sends is {ch.len()}"
    for i in range(n):
        assert ch.try_recv()[0] == Status.OK
        assert ch.len() == n - i - 1, f"len() after {i + 1} receives of {n} is {ch.len()}"


@pytest.mark.prop("Q8")
@pytest.mark.parametrize("cap", [0, 1, 4, 64, UNBOUNDED], ids=cap_id)
def test_Q8_len_within_bounds_under_concurrency(impl, make, cap):
    need(impl, Caps.LEN, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    P, K = 2, 2500
    sent = [words(K, stream=p + 1) for p in range(P)]
    prods = [spawn(producer, ch, sent[p]) for p in range(P)]
    cons = [spawn(consumer, ch, K) for _ in range(P)]
    bound = cap if cap != UNBOUNDED else P * K
    samples = bad = 0
    worst = 0
    while not all(h.done() for h in prods + cons):
        n = ch.len()
        samples += 1
        worst = max(worst, n)
        if n > bound:
            bad += 1
    join_all(prods + cons)
    assert bad == 0, f"len() exceeded {bound} in {bad} of {samples} samples (max {worst})"
    assert ch.len() == 0, f"len() is {ch.len()} after everything was received"
    assert samples > 10


@pytest.mark.prop("Q8")
@pytest.mark.parametrize("cap", [1, 3], ids=cap_id)
def test_Q8_len_is_cap_with_blocked_senders(impl, make, cap):
    need(impl, Caps.LEN, Caps.MPMC, Caps.BLOCKING)
    ch = make(cap)
    for v in words(cap):
        ch.try_send(v)
    senders = [spawn(ch.send, word(i, 5)) for i in range(2)]
    for s in senders:
        assert_blocks(s, BLOCK_WAIT / 2)
    assert ch.len() == cap, f"len() {ch.len()} with capacity {cap} and 2 blocked senders"
    got = [ch.recv()[1] for _ in range(cap + 2)]
    join_all(senders)
    assert ch.len() == 0
    exactly_once(got, words(cap) + [word(i, 5) for i in range(2)])


# --- Q9 ---------------------------------------------------------------------------


@pytest.mark.prop("Q9")
@pytest.mark.parametrize("cap", [1, 64, UNBOUNDED], ids=cap_id)
def test_Q9_send_visible_to_same_thread(impl, make, cap):
    ch = make(cap)
    blocking_send = has(impl, Caps.BLOCKING)
    for i in range(2000):
        v = word(i)
        s = ch.send(v) if (blocking_send and i % 2) else ch.try_send(v)
        assert s == Status.OK
        got = ch.try_recv()
        assert got == (Status.OK, v), f"round {i}: try_recv right after a completed send returned {got[0]!r}"


@pytest.mark.prop("Q9")
@pytest.mark.parametrize("cap", [1, 64, UNBOUNDED], ids=cap_id)
def test_Q9_send_visible_after_synchronising(impl, make, cap):
    """Thread A sends, then tells B (through a lock-based queue); B's try_recv must see it."""
    need(impl, Caps.MPMC)
    ch = make(cap)
    told, ack = queue.Queue(), queue.Queue()
    N = 400

    def sender():
        for i in range(N):
            s = ch.try_send(word(i))
            told.put((i, s))
            ack.get(timeout=OP_TIMEOUT)

    h = spawn(sender, what=f"sender thread on {ch.label}")
    misses = []
    for i in range(N):
        j, s = told.get(timeout=OP_TIMEOUT)
        assert s == Status.OK, f"try_send #{j} with room returned {s!r}"
        got = ch.try_recv()
        if got != (Status.OK, word(i)):
            misses.append((i, got[0]))
        ack.put(None)
    h.join()
    assert not misses, f"{len(misses)} of {N} try_recv after a synchronised send missed it: {misses[:5]}"


# --- Q10 --------------------------------------------------------------------------


@pytest.mark.prop("Q10")
@pytest.mark.parametrize("cap", [0, 1, UNBOUNDED], ids=cap_id)
def test_Q10_channel_handle_through_channel(impl, lib, make, cap):
    need(impl, Caps.BLOCKING)
    carrier = make(cap)
    inner = make(1 if has(impl, Caps.BOUNDED) else UNBOUNDED)
    payload = ctypes.create_string_buffer(b"a word is a word", 32)
    snd = spawn(producer, carrier, [inner.address, ctypes.addressof(payload)])
    s1, addr = carrier.recv()
    s2, paddr = carrier.recv()
    assert snd.join() == [Status.OK, Status.OK]
    assert (s1, s2) == (Status.OK, Status.OK)
    assert addr == inner.address, "the channel handle changed in transit"
    assert ctypes.string_at(paddr) == b"a word is a word"
    # the received handle is a working channel
    h = ctypes.c_void_p(addr)
    assert lib.c.chan_impl_name(h).decode() == impl
    assert chanlib.status(lib.c.chan_try_send(h, 4242)) == Status.OK
    assert inner.try_recv() == (Status.OK, 4242)


# --- Q11 --------------------------------------------------------------------------


@pytest.mark.prop("Q11")
def test_Q11_unbounded_send_never_full(impl, make):
    ch = make(UNBOUNDED)
    assert ch.cap() == UNBOUNDED, f"cap() of an unbounded channel is {ch.cap()}"
    N = 20000
    statuses = collections.Counter()
    t0 = time.monotonic()
    for i in range(N):
        statuses[ch.try_send(word(i))] += 1
    assert statuses == {Status.OK: N}, f"try_send on unbounded: {dict(statuses)}"
    if has(impl, Caps.BLOCKING):
        assert ch.send(word(N)) == Status.OK
    if has(impl, Caps.TIMED):
        assert ch.send_timeout(word(N + 1), 0.001) == Status.OK
    assert time.monotonic() - t0 < 20
    total = N + has(impl, Caps.BLOCKING) + has(impl, Caps.TIMED)
    got, last = drain(ch)
    assert got == words(total), "unbounded FIFO broken: " + first_mismatch(got, words(total))


@pytest.mark.prop("Q11")
def test_Q11_unbounded_send_blocks_never_without_receiver(impl, make):
    need(impl, Caps.BLOCKING)
    ch = make(UNBOUNDED)
    h = spawn(producer, ch, words(5000), what=f"5000 sends on {ch.label} with no receiver")
    assert h.join() == [Status.OK] * 5000


@pytest.mark.prop("Q11")
def test_Q11_unbounded_send_fails_only_when_closed(impl, make):
    need(impl, Caps.CLOSE)
    ch = make(UNBOUNDED)
    for i in range(100):
        assert ch.try_send(word(i)) == Status.OK
    assert ch.close() == Status.OK
    assert ch.try_send(word(100)) == Status.CLOSED
    if has(impl, Caps.BLOCKING):
        assert ch.send(word(101)) == Status.CLOSED
    if has(impl, Caps.TIMED):
        assert ch.send_timeout(word(102), 1.0) == Status.CLOSED


Q11_AT_SCALE = 1_500_000  # messages an unbounded channel must take with no receiver


@pytest.mark.prop("Q11")
def test_Q11_unbounded_takes_a_million_without_receiver(request, impl):
    """Q11 at scale: an unbounded channel with no receiver takes 1.5 million messages
    (every try_send OK, never FULL), then gives them all back in order. Driven in C
    (chan-stress --fill), so it takes well under a second; a channel whose "unbounded"
    buffer stops growing at a few hundred thousand fails here."""
    import pathlib
    import sys

    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent / "drivers"))
    import driver_run

    need(impl, Caps.UNBOUNDED)
    args = [*driver_run.plugin_args(request.config, impl), "--impl", impl, "--cap", "unbounded",
            "--fill", str(Q11_AT_SCALE)]
    what = f"chan-stress impl={impl} --fill {Q11_AT_SCALE}"
    r = driver_run.run("chan-stress", args, driver_run.time_budget(request, 45), what)
    assert r["accepted"] == r["drained"] == Q11_AT_SCALE, f"{what}: {r}"


# --- Q12 --------------------------------------------------------------------------


@pytest.mark.prop("Q12")
def test_Q12_rendezvous_try_ops_without_peer(impl, make):
    ch = make(0)
    assert ch.cap() == 0
    if has(impl, Caps.LEN):
        assert ch.len() == 0
    for i in range(100):
        assert ch.try_send(word(i)) == Status.FULL, "try_send on a rendezvous channel with no receiver"
        assert ch.try_recv()[0] == Status.EMPTY, "try_recv on a rendezvous channel with no sender"
    if has(impl, Caps.LEN):
        assert ch.len() == 0


def retry_until_ok(op, seconds=2.0):
    """Call op() until it returns OK (or a tuple starting with OK); the last result."""
    end = time.monotonic() + seconds
    while True:
        r = op()
        s = r[0] if isinstance(r, tuple) else r
        if s == Status.OK or time.monotonic() > end:
            return r
        time.sleep(0.005)


@pytest.mark.prop("Q12")
def test_Q12_rendezvous_try_send_to_waiting_receiver(impl, make):
    need(impl, Caps.BLOCKING)
    ch = make(0)
    for rnd in range(5):
        r = spawn(ch.recv)
        assert_blocks(r)
        v = word(rnd, 12)
        s = retry_until_ok(lambda: ch.try_send(v))
        assert s == Status.OK, f"try_send with a receiver blocked for {BLOCK_WAIT}s returned {s!r}"
        assert r.join() == (Status.OK, v)
        assert ch.try_send(v) == Status.FULL, "try_send succeeded with no receiver left"


@pytest.mark.prop("Q12")
def test_Q12_rendezvous_try_recv_from_waiting_sender(impl, make):
    need(impl, Caps.BLOCKING)
    ch = make(0)
    for rnd in range(5):
        v = word(rnd, 13)
        snd = spawn(ch.send, v)
        assert_blocks(snd)
        if has(impl, Caps.LEN):
            assert ch.len() == 0, "len() of a rendezvous channel with a blocked sender"
        got = retry_until_ok(ch.try_recv)
        assert got == (Status.OK, v), f"try_recv with a sender blocked for {BLOCK_WAIT}s returned {got}"
        assert snd.join() == Status.OK
        assert ch.try_recv()[0] == Status.EMPTY, "try_recv succeeded with no sender left"


@pytest.mark.prop("Q12")
def test_Q12_rendezvous_send_returns_after_handoff(impl, make):
    need(impl, Caps.BLOCKING)
    ch = make(0)
    v = word(1, 14)
    snd = spawn(ch.send, v)
    assert_blocks(snd)
    assert_blocks(snd)  # still, after 2 x BLOCK_WAIT: nobody took it
    t_recv = time.monotonic()
    r = spawn(ch.recv)
    assert r.join() == (Status.OK, v)
    assert snd.join() == Status.OK
    assert snd.finished_at >= t_recv, "the send returned before any receiver existed"


# --- Q13 --------------------------------------------------------------------------


def raw_create(lib, name, cap, out=True):
    p = ctypes.c_void_p(0x1234)  # not NULL: a failed create must set *out to NULL
    st = chanlib.status(lib.c.chan_create(name, cap, None, ctypes.byref(p) if out else None))
    return st, p.value


@pytest.mark.prop("Q13")
def test_Q13_create_invalid_arguments(impl, lib):
    e = impl.encode()
    for cap in (MAX_CAPACITY + 1, 1 << 40, 1 << 63, UNBOUNDED - 1):
        st, out = raw_create(lib, e, cap)
        assert st == Status.EINVAL, f"create with capacity {cap} returned {st!r}"
        assert out is None, "a failed create left *out non-NULL"
    for bad in (b"no-such-implementation", b"", e + b"x", e.upper()):
        st, out = raw_create(lib, bad, 1)
        assert st == Status.NOT_FOUND, f"create of implementation {bad!r} returned {st!r}"
        assert out is None
    st, _ = raw_create(lib, None, 1)
    assert st == Status.EINVAL, f"create with a NULL name returned {st!r}"
    st, _ = raw_create(lib, e, 1, out=False)
    assert st == Status.EINVAL, f"create with a NULL out pointer returned {st!r}"
    have = lib.caps(impl)
    for cap, bit in ((0, Caps.RENDEZVOUS), (5, Caps.BOUNDED), (UNBOUNDED, Caps.UNBOUNDED)):
        if not have & bit:
            st, out = raw_create(lib, e, cap)
            assert st == Status.UNSUPPORTED, f"create of an undeclared capacity kind returned {st!r}"
            assert out is None


@pytest.mark.prop("Q13")
def test_Q13_null_arguments(impl, lib, make):
    c = lib.c
    ch = make(1 if has(impl, Caps.BOUNDED) else (UNBOUNDED if has(impl, Caps.UNBOUNDED) else 0))
    assert chanlib.status(c.chan_recv(ch.ptr, None)) == Status.EINVAL, "recv with a NULL message pointer"
    assert chanlib.status(c.chan_try_recv(ch.ptr, None)) == Status.EINVAL
    assert chanlib.status(c.chan_recv_until(ch.ptr, None, 0)) == Status.EINVAL
    out = ctypes.c_size_t()
    for name, call in [("send", lambda: c.chan_send(None, 1)), ("try_send", lambda: c.chan_try_send(None, 1)),
                       ("recv", lambda: c.chan_recv(None, ctypes.byref(out))),
                       ("try_recv", lambda: c.chan_try_recv(None, ctypes.byref(out))),
                       ("close", lambda: c.chan_close(None)), ("destroy", lambda: c.chan_destroy(None)),
                       ("sender_clone", lambda: c.chan_sender_clone(None)),
                       ("receiver_drop", lambda: c.chan_receiver_drop(None))]:
        st = chanlib.status(call())
        assert st == Status.EINVAL, f"{name}(NULL) returned {st!r}"
    assert c.chan_len(None) == 0 and c.chan_cap(None) == 0 and c.chan_impl_name(None) is None
    assert ch.impl_name() == impl


@pytest.mark.prop("Q13")
def test_Q13_use_after_destroy(impl, lib, make):
    cap = next(c for c, bit in ((1, Caps.BOUNDED), (UNBOUNDED, Caps.UNBOUNDED), (0, Caps.RENDEZVOUS))
               if has(impl, bit))
    ch = make(cap)
    if cap != 0:
        assert ch.try_send(1) == Status.OK  # something buffered at destroy
    assert ch.destroy() == Status.OK
    for name, call in [("send", lambda: ch.send(2)), ("try_send", lambda: ch.try_send(2)),
                       ("send_timeout", lambda: ch.send_timeout(2, 0.01)),
                       ("recv", lambda: ch.recv()[0]), ("try_recv", lambda: ch.try_recv()[0]),
                       ("recv_timeout", lambda: ch.recv_timeout(0.01)[0]),
                       ("close", ch.close), ("destroy", ch.destroy),
                       ("sender_clone", ch.sender_clone), ("sender_drop", ch.sender_drop),
                       ("receiver_clone", ch.receiver_clone), ("receiver_drop", ch.receiver_drop)]:
        st = call()
        assert st == Status.DESTROYED, f"{name} after destroy returned {st!r}"
    assert ch.len() == 0 and ch.cap() == 0 and ch.impl_name() is None
