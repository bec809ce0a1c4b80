"""P1-P2: the poll fd, a channel's bridge to an event loop. See CONFORMANCE.md and
chan.h (chan_pollfd).

The fd is level-triggered: readable while a recv (CHAN_DIR_RECV) / send
(CHAN_DIR_SEND) would not block; a try_recv that returns EMPTY (try_send FULL)
clears it unless the channel became ready again meanwhile; after close it stays
readable. The tests poll it from Python with select.select / select.epoll and a
timeout (0 for "is it readable now"), never read it.

Every test needs CHAN_CAP_POLLFD (n/a otherwise).
"""
import fcntl
import os
import select as pyselect
import threading
import time

import pytest

import chanlib
from blocking import OP_TIMEOUT, join_all, spawn, wait_until
from capability import cap_id, has, need
from chanlib import DIR_RECV, DIR_SEND, UNBOUNDED, Caps, Status
from messages import exactly_once, word, words

QUIET = 0.1  # an fd that should not be readable is watched this long too


def readable(fd, timeout=0.0):
    r, _, _ = pyselect.select([fd], [], [], timeout)
    return bool(r)


def assert_readable(fd, why, timeout=OP_TIMEOUT):
    assert readable(fd, timeout), f"the poll fd is not readable {why}"


def assert_not_readable(fd, why):
    assert not readable(fd, 0), f"the poll fd is readable {why}"
    assert not readable(fd, QUIET), f"the poll fd became readable within {QUIET}s {why}"


@pytest.fixture
def pollfd(impl):
    need(impl, Caps.POLLFD)

    def _pollfd(ch, direction):
        st, fd = ch.pollfd(direction)
        assert st == Status.OK and fd >= 0, f"chan_pollfd returned {st!r} fd {fd}"
        st2, fd2 = ch.pollfd(direction)
        assert (st2, fd2) == (Status.OK, fd), f"a second chan_pollfd returned {st2!r} fd {fd2}, not the same fd {fd}"
        assert fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, "the poll fd is not non-blocking"
        return fd

    return _pollfd


# --- P1 ---------------------------------------------------------------------------


@pytest.mark.prop("P1")
@pytest.mark.parametrize("cap", [1, 4, UNBOUNDED], ids=cap_id)
def test_P1_recv_fd_readable_exactly_when_a_message_is_there(impl, pollfd, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    fd = pollfd(ch, DIR_RECV)
    assert ch.try_recv()[0] == Status.EMPTY
    assert_not_readable(fd, "after try_recv returned EMPTY on an empty channel")
    # a sender in another thread makes it readable
    v = word(1, 1)
    h = spawn(ch.send, v)
    assert_readable(fd, "after another thread sent a message")
    assert h.join() == Status.OK
    assert readable(fd, 0), "the poll fd stopped being readable with the message still there (level-triggered)"
    assert ch.try_recv() == (Status.OK, v)
    assert ch.try_recv()[0] == Status.EMPTY
    assert_not_readable(fd, "after the channel was drained to EMPTY")
    # several messages: readable until the one that finds EMPTY
    n = 1 if cap == 1 else 3
    vals = words(n, 2)
    for x in vals:
        assert ch.try_send(x) == Status.OK
    for x in vals:
        assert_readable(fd, "with messages still buffered", timeout=0)
        assert ch.try_recv() == (Status.OK, x)
    assert ch.try_recv()[0] == Status.EMPTY
    assert_not_readable(fd, "after the channel was drained again")
    # closed: readable while draining and after, every time
    assert ch.try_send(word(3, 3)) == Status.OK
    assert ch.close() == Status.OK
    assert_readable(fd, "on a closed channel with a message", timeout=0)
    assert ch.try_recv() == (Status.OK, word(3, 3))
    assert ch.try_recv()[0] == Status.CLOSED
    for _ in range(3):
        assert_readable(fd, "after close (it must stay readable)", timeout=0)
        assert ch.try_recv()[0] == Status.CLOSED


@pytest.mark.prop("P1")
@pytest.mark.parametrize("cap", [1, UNBOUNDED], ids=cap_id)
def test_P1_recv_fd_made_after_the_message_is_readable(impl, pollfd, make, cap):
    ch = make(cap)
    v = word(4, 4)
    assert ch.try_send(v) == Status.OK
    fd = pollfd(ch, DIR_RECV)
    assert_readable(fd, "for a message sent before the fd was made", timeout=1.0)
    assert ch.try_recv() == (Status.OK, v)
    assert ch.try_recv()[0] == Status.EMPTY
    assert_not_readable(fd, "after draining")


@pytest.mark.prop("P1")
def test_P1_recv_fd_close_makes_readable(impl, pollfd, make):
    need(impl, Caps.CLOSE)
    ch = make(1)
    fd = pollfd(ch, DIR_RECV)
    assert ch.try_recv()[0] == Status.EMPTY
    assert_not_readable(fd, "on an empty open channel")
    t = threading.Timer(0.05, ch.close)
    t.start()
    assert_readable(fd, "after another thread closed the channel")
    t.join()
    assert ch.try_recv()[0] == Status.CLOSED
    assert_readable(fd, "after close and CLOSED", timeout=0)


@pytest.mark.prop("P1")
def test_P1_recv_fd_rendezvous_readable_when_a_sender_is_parked(impl, pollfd, make):
    need(impl, Caps.CLOSE)
    ch = make(0)
    fd = pollfd(ch, DIR_RECV)
    assert ch.try_recv()[0] == Status.EMPTY
    assert_not_readable(fd, "on a rendezvous channel with no sender")
    for i in range(5):
        v = word(i, 5)
        h = spawn(ch.send, v)
        assert_readable(fd, "while a sender is parked on the rendezvous channel")
        assert ch.try_recv() == (Status.OK, v), "try_recv after the fd said readable did not take the parked sender's value"
        assert h.join() == Status.OK
        assert ch.try_recv()[0] == Status.EMPTY
        assert_not_readable(fd, "once the parked sender was served")
    assert ch.close() == Status.OK
    assert_readable(fd, "after close")


@pytest.mark.prop("P1")
@pytest.mark.parametrize("cap", [1, 4], ids=cap_id)
def test_P1_send_fd_readable_exactly_when_there_is_room(impl, pollfd, make, cap):
    need(impl, Caps.CLOSE)
    ch = make(cap)
    fd = pollfd(ch, DIR_SEND)
    assert_readable(fd, "for sending on an empty bounded channel", timeout=1.0)
    vals = words(cap, 1)
    for v in vals:
        assert ch.try_send(v) == Status.OK
    assert ch.try_send(word(9, 9)) == Status.FULL
    assert_not_readable(fd, "after try_send returned FULL")
    h = spawn(ch.recv)
    assert_readable(fd, "after another thread received from the full channel")
    assert h.join() == (Status.OK, vals[0])
    x = word(10, 9)
    assert ch.try_send(x) == Status.OK
    assert ch.try_send(word(11, 9)) == Status.FULL
    assert_not_readable(fd, "after the freed slot was used and try_send returned FULL")
    assert ch.close() == Status.OK
    assert_readable(fd, "after close (a send would not block: it fails)")
    assert ch.try_send(word(12, 9)) == Status.CLOSED
    got = [ch.try_recv() for _ in range(cap)]
    assert got == [(Status.OK, v) for v in vals[1:] + [x]]


@pytest.mark.prop("P1")
def test_P1_send_fd_rendezvous_readable_when_a_receiver_is_parked(impl, pollfd, make):
    ch = make(0)
    fd = pollfd(ch, DIR_SEND)
    assert ch.try_send(word(0, 0)) == Status.FULL
    assert_not_readable(fd, "on a rendezvous channel with no receiver")
    for i in range(5):
        v = word(i, 6)
        h = spawn(ch.recv)
        assert_readable(fd, "while a receiver is parked on the rendezvous channel")
        assert ch.try_send(v) == Status.OK, "try_send after the fd said readable found no receiver"
        assert h.join() == (Status.OK, v)
        assert ch.try_send(word(0, 0)) == Status.FULL
        assert_not_readable(fd, "once the parked receiver was served")


@pytest.mark.prop("P1")
def test_P1_send_fd_unbounded_always_readable(impl, pollfd, make):
    ch = make(UNBOUNDED)
    fd = pollfd(ch, DIR_SEND)
    for i in range(50):
        assert_readable(fd, "for sending on an unbounded channel", timeout=1.0)
        assert ch.try_send(word(i, 1)) == Status.OK


# --- P2 ---------------------------------------------------------------------------

SENDERS = 4
PER_SENDER = 5000  # 20000 messages in all
IDLE = 0.5
SLOW_CALL = 1.0  # a try call that takes this long blocked (generous: GIL, 2 cores)


class RecvLoop:
    """An epoll loop on its own thread that receives with try_recv only."""

    def __init__(self, ch, fd):
        self.ch = ch
        self.ep = pyselect.epoll()
        self.ep.register(fd, pyselect.EPOLLIN)
        self.got = []
        self.wakeups = 0
        self.empty_wakeups = 0
        self.slowest = 0.0
        self.final = None
        self.errors = []

    def run(self):
        try:
            while True:
                evs = self.ep.poll(0.05)
                if not evs:
                    continue  # a timeout, not a wake-up
                self.wakeups += 1
                first = True
                while True:
                    t0 = time.monotonic()
                    s, v = self.ch.try_recv()
                    self.slowest = max(self.slowest, time.monotonic() - t0)
                    if s == Status.OK:
                        self.got.append(v)
                        first = False
                        continue
                    if s == Status.EMPTY:
                        self.empty_wakeups += first
                        break
                    self.final = s
                    return
        finally:
            self.ep.close()


@pytest.mark.prop("P2")
@pytest.mark.parametrize("cap", [0, 1, 64, UNBOUNDED], ids=cap_id)
def test_P2_epoll_loop_receives_from_blocking_senders(impl, pollfd, make, cap):
    need(impl, Caps.MPMC, Caps.CLOSE)
    ch = make(cap)
    fd = pollfd(ch, DIR_RECV)
    loop = RecvLoop(ch, fd)
    lh = spawn(loop.run, what="epoll receive loop")
    half = PER_SENDER // 2

    def sender(p, lo, hi):
        for i in range(lo, hi):
            s = ch.send(word(i, p + 1))
            if s != Status.OK:
                return f"sender {p}: send #{i} returned {s!r}"
        return None

    # phase 1, then an idle window, then phase 2
    assert join_all([spawn(sender, p, 0, half) for p in range(SENDERS)], timeout=OP_TIMEOUT * 4) == [None] * SENDERS
    wait_until(lambda: len(loop.got) >= SENDERS * half or lh.done(), what=lambda: f"the loop receiving phase 1 (got {len(loop.got)})")
    time.sleep(0.1)  # a notify that raced with the last try_recv may still wake it once
    w0 = loop.wakeups
    end = time.monotonic() + IDLE
    while time.monotonic() < end:
        ops = chanlib.inflight(lh.tid)
        assert not ops or ops[-1][2] < SLOW_CALL, f"the loop thread is blocked inside the channel while idle: {ops[-1][1]} for {ops[-1][2]:.2f}s"
        time.sleep(0.01)
    idle_wakeups = loop.wakeups - w0
    assert idle_wakeups == 0, f"epoll woke the loop {idle_wakeups} times in {IDLE}s with nothing to receive (the fd was left readable: busy loop)"
    assert join_all([spawn(sender, p, half, PER_SENDER) for p in range(SENDERS)], timeout=OP_TIMEOUT * 4) == [None] * SENDERS
    wait_until(lambda: len(loop.got) >= SENDERS * PER_SENDER or lh.done(), what=lambda: f"the loop receiving phase 2 (got {len(loop.got)})")
    assert ch.close() == Status.OK
    lh.join()
    assert loop.final == Status.CLOSED, f"the loop ended with {loop.final!r}"
    sent = [word(i, p + 1) for p in range(SENDERS) for i in range(PER_SENDER)]
    exactly_once(loop.got, sent)
    total = len(sent)
    assert loop.slowest < SLOW_CALL, f"a try_recv in the loop took {loop.slowest:.3f}s: it blocked"
    assert loop.wakeups <= total + 200, f"{loop.wakeups} epoll wake-ups for {total} messages ({loop.empty_wakeups} found nothing)"


@pytest.mark.prop("P2")
@pytest.mark.parametrize("cap", [0, 1, 64], ids=cap_id)
def test_P2_epoll_loop_sends_to_blocking_receivers(impl, pollfd, make, cap):
    need(impl, Caps.MPMC, Caps.CLOSE)
    ch = make(cap)
    fd = pollfd(ch, DIR_SEND)
    vals = words(8000, 3)
    stats = {"wakeups": 0, "empty": 0, "slowest": 0.0}

    def loop():
        ep = pyselect.epoll()
        ep.register(fd, pyselect.EPOLLIN)
        i = 0
        try:
            while i < len(vals):
                if not ep.poll(0.05):
                    continue
                stats["wakeups"] += 1
                first = True
                while i < len(vals):
                    t0 = time.monotonic()
                    s = ch.try_send(vals[i])
                    stats["slowest"] = max(stats["slowest"], time.monotonic() - t0)
                    if s == Status.OK:
                        i += 1
                        first = False
                        continue
                    assert s == Status.FULL, f"try_send in the loop returned {s!r}"
                    stats["empty"] += first
                    break
        finally:
            ep.close()
        return i

    def receiver():
        got = []
        while True:
            s, v = ch.recv()
            if s != Status.OK:
                return got, s
            got.append(v)

    rs = [spawn(receiver, what=f"receiver {r}") for r in range(SENDERS)]
    lh = spawn(loop, what="epoll send loop")
    assert lh.join(OP_TIMEOUT * 4) == len(vals)
    assert ch.close() == Status.OK
    res = join_all(rs)
    assert all(s == Status.CLOSED for _, s in res)
    exactly_once([v for g, _ in res for v in g], vals)
    assert stats["slowest"] < SLOW_CALL, f"a try_send in the loop took {stats['slowest']:.3f}s: it blocked"
    assert stats["wakeups"] <= len(vals) + 200, f"{stats['wakeups']} epoll wake-ups for {len(vals)} messages ({stats['empty']} found no room)"


# --- without the capability ---------------------------------------------------------


def test_pollfd_without_capability_unsupported(impl, make):
    """chan.h: chan_pollfd needs CHAN_CAP_POLLFD (not a property: no prop id)."""
    if has(impl, Caps.POLLFD):
        pytest.skip("n/a: the implementation declares pollfd")
    ch = make(1)
    st, _ = ch.pollfd(DIR_RECV)
    assert st == Status.UNSUPPORTED, f"chan_pollfd on an implementation without it returned {st!r}"
