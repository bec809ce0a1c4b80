"""O1: oneshot channels (include/chanbench/kinds.h). See CONFORMANCE.md.

Parametrized over every oneshot implementation (kimpl); the matrix rows are
"oneshot-<impl>".
"""
import threading
import time

import pytest

import kindlib
from blocking import assert_blocks, join_all, spawn
from chanlib import Status
from messages import EDGES, word

pytestmark = pytest.mark.parametrize("kimpl", kindlib.kind_params("oneshot"))
_row = kindlib.attribution("oneshot")

PROMPT = 2.0


def make(kimpl):
    o = kindlib.Oneshot(kimpl)
    assert o.create_status == Status.OK, f"oneshot_create({kimpl!r}) returned {o.create_status!r}"
    return kindlib.track(o)


@pytest.mark.prop("O1")
def test_O1_one_value_delivered(kimpl):
    for v in EDGES:
        o = make(kimpl)
        assert o.try_recv()[0] == Status.EMPTY
        assert o.send(v) == Status.OK
        assert o.send(v + 1 if v < EDGES[-1] else 0) == Status.NO_HANDLE, "a second send must fail"
        assert o.recv() == (Status.OK, v)
        assert o.try_recv()[0] == Status.CLOSED, "the value must be received only once"
        assert o.recv()[0] == Status.CLOSED
        assert o.receiver_drop() == Status.OK


@pytest.mark.prop("O1")
def test_O1_recv_blocks_until_send(kimpl):
    o = make(kimpl)
    h = spawn(o.recv)
    assert_blocks(h)
    assert o.send(word(5)) == Status.OK
    assert h.join(PROMPT * 5) == (Status.OK, word(5))


@pytest.mark.prop("O1")
def test_O1_sender_gone_without_sending(kimpl):
    o = make(kimpl)
    h = spawn(o.recv)
    assert_blocks(h)
    assert o.sender_drop() == Status.OK
    assert h.join(PROMPT * 5)[0] == Status.CLOSED, "a blocked receiver must learn that the sender went away"
    assert o.try_recv()[0] == Status.CLOSED
    assert o.sender_drop() == Status.NO_HANDLE
    assert o.send(word(1)) == Status.NO_HANDLE


@pytest.mark.prop("O1")
def test_O1_send_to_dropped_receiver_fails(kimpl):
    o = make(kimpl)
    assert o.receiver_drop() == Status.OK
    assert o.recv_timeout(0)[0] == Status.NO_HANDLE, "recv after receiver_drop has no handle"
    assert o.send(word(3)) == Status.CLOSED, "send to a receiver that went away must fail (value kept)"


@pytest.mark.prop("O1")
def test_O1_timeout_then_value(kimpl):
    o = make(kimpl)
    lib = kindlib.chanlib.shared_lib()
    t0 = lib.now_ns()
    st, _ = o.recv_timeout(0.1)
    el = (lib.now_ns() - t0) / 1e9
    assert st == Status.TIMEOUT
    assert el >= 0.099, f"timed recv returned after {el:.3f}s, before its deadline"
    assert o.send(word(8)) == Status.OK, "a timed-out recv must not have dropped the receiver"
    assert o.recv_until(1) == (Status.OK, word(8)), "a passed deadline must still take the value"


@pytest.mark.prop("O1")
def test_O1_races_conserve_the_value(kimpl):
    """Sender and receiver race, the receiver sometimes going away: every value
    is either received (send OK) or kept by the sender (send CLOSED), never
    both, never lost, whatever the interleaving.

    Where the receiver goes away, both outcomes of the send are legal, so the
    outcome alone proves nothing: each side notes on the monotonic clock when its
    call began and returned, and the outcome must fit the order. A send that began
    after receiver_drop had returned must fail (CLOSED, the value kept: a send
    that ignores a departed receiver is caught here); one that had returned before
    receiver_drop began must have succeeded. A third of those rounds hold the send
    back 2 ms, a third the drop, so both orders surely occur; the rest race freely."""
    rounds = 1500
    lag = 0.002
    received, kept, dropped_after_ok = [], [], []
    ordered = {"drop first": 0, "send first": 0}
    barrier = threading.Barrier(2)
    now = kindlib.chanlib.shared_lib().now_ns

    for r in range(rounds):
        o = kindlib.Oneshot(kimpl)
        assert o.create_status == Status.OK
        mode = r % 3  # 0: receiver waits; 1: receiver gives up; 2: sender gives up
        hold = (r // 3) % 3 if mode == 1 else 2  # 0: the send waits; 1: the drop waits; 2: neither

        def sender():
            barrier.wait(10)
            if mode == 2:
                return "dropped", o.sender_drop(), 0, 0
            if hold == 0:
                time.sleep(lag)
            t0 = now()
            st = o.send(word(r))
            return "sent", st, t0, now()

        def receiver():
            barrier.wait(10)
            if mode == 1:
                if hold == 1:
                    time.sleep(lag)
                t0 = now()
                st = o.receiver_drop()
                return "dropped", st, t0, now()
            st, v = o.recv_timeout(10)
            o.receiver_drop()
            return st, v, 0, 0

        hs = spawn(sender, what=f"round {r} sender"), spawn(receiver, what=f"round {r} receiver")
        (skind, sst, s_begin, s_end), (rst, rv, r_begin, r_end) = join_all(hs, 30)
        if mode == 2:
            assert sst == Status.OK and rst == Status.CLOSED, f"round {r}: {sst!r}, {rst!r}"
        elif mode == 0:
            assert sst == Status.OK and (rst, rv) == (Status.OK, word(r)), f"round {r}: {sst!r}, {rst!r}"
            received.append(rv)
        else:
            assert rv == Status.OK
            if s_begin > r_end:
                ordered["drop first"] += 1
                assert sst == Status.CLOSED, (
                    f"round {r}: the send began {(s_begin - r_end) / 1e3:.0f} us after receiver_drop "
                    f"returned, yet it gave {sst!r}: a send to a receiver that went away must fail "
                    "and leave the value with the sender")
            elif s_end < r_begin:
                ordered["send first"] += 1
                assert sst == Status.OK, (
                    f"round {r}: the send returned {(r_begin - s_end) / 1e3:.0f} us before "
                    f"receiver_drop began, yet it gave {sst!r}")
            if sst == Status.OK:
                dropped_after_ok.append(r)  # the receiver went away after the send succeeded
            else:
                assert sst == Status.CLOSED, f"round {r}: send to a departing receiver gave {sst!r}"
                kept.append(word(r))
        assert not o.sender_held and not o.receiver_held  # both gave up: the library freed it
    assert len(received) == sum(1 for r in range(rounds) if r % 3 == 0)
    assert sorted(received) == sorted(word(r) for r in range(rounds) if r % 3 == 0)
    assert len(kept) + len(dropped_after_ok) == sum(1 for r in range(rounds) if r % 3 == 1)
    # the held-back rounds must have produced both orders, or the checks above proved nothing
    held = sum(1 for r in range(rounds) if r % 3 == 1 and (r // 3) % 3 == 0)
    assert ordered["drop first"] >= held // 2 and ordered["send first"] >= held // 2, \
        f"too few rounds with a definite order to check: {ordered} (of {held} held back each way)"
