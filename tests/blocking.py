"""Helper threads for observing blocking channel operations.

CONFORMANCE.md checks "blocks" by observing that an operation has not returned
after a short wait (BLOCK_WAIT) while the other side is held back, then that it
returns once released. A blocking operation therefore runs in a helper thread
(`spawn`); the test thread observes it (`Helper.still_blocked`) and collects its
result (`Helper.join`). A join that times out fails the test with the operation
that hung, taken from chanlib's record of calls in progress:

    HungOperation: recv on futex cap=0 did not return within 10s

Every helper belongs to the running test; conftest checks at teardown that none
is left running (a test that forgets to join one is a broken test).
"""
import os
import threading
import time

import chanlib

BLOCK_WAIT = 0.2  # an op still pending after this long "blocks"
# an op that should return must do so within this (noisy 2-core machines);
# $CHANBENCH_OP_TIMEOUT shortens it (the suite's own self-tests of hang reporting do)
OP_TIMEOUT = float(os.environ.get("CHANBENCH_OP_TIMEOUT") or 10.0)


class HungOperation(AssertionError):
    """An operation that should have returned did not: names the operation."""


class _TestContext:
    """What the running test started: helper threads and channels."""

    def __init__(self):
        self.helpers = []
        self.chans = []
        self.abandoned = False  # the test body hung: leave its channels alone


current = _TestContext()


def reset():
    global current
    current = _TestContext()
    return current


def _describe(fn, what):
    if what:
        return what
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, chanlib.Chan):
        return f"{fn.__name__} on {owner.label}"
    return getattr(fn, "__name__", repr(fn))


class Helper:
    """A daemon thread running fn(*args) once; see the module comment."""

    def __init__(self, fn, *args, what=None):
        self.fn = fn
        self.args = args
        self.what = _describe(fn, what)
        self.result = None
        self.exc = None
        self.tid = None
        self.finished_at = None
        self._started = threading.Event()
        self._finished = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"helper: {self.what}", daemon=True)
        current.helpers.append(self)
        self.thread.start()
        self._started.wait()

    def _run(self):
        self.tid = threading.get_ident()
        self._started.set()
        try:
            self.result = self.fn(*self.args)
        except BaseException as e:  # re-raised by join()
            self.exc = e
        finally:
            self.finished_at = time.monotonic()
            self._finished.set()

    def done(self):
        return self._finished.is_set()

    def wait(self, timeout):
        """True once finished (within timeout seconds)."""
        return self._finished.wait(timeout)

    def hang_message(self, timeout):
        ops = chanlib.inflight(self.tid)
        if ops:
            _, desc, _ = ops[-1]
            return f"{desc} did not return within {timeout:g}s"
        return f"{self.what} did not return within {timeout:g}s (it is not inside a channel call now)"

    def join(self, timeout=OP_TIMEOUT):
        """The helper's result; HungOperation if it has not returned in time."""
        if not self._finished.wait(timeout):
            raise HungOperation(self.hang_message(timeout))
        if self.exc is not None:
            raise self.exc
        return self.result

    def still_blocked(self, wait=BLOCK_WAIT):
        """True if the helper has not returned after `wait` seconds."""
        return not self._finished.wait(wait)


def spawn(fn, *args, what=None):
    """Run fn(*args) in a helper thread; see Helper."""
    return Helper(fn, *args, what=what)


def assert_blocks(helper, wait=BLOCK_WAIT):
    """The helper's operation is still pending after `wait` seconds."""
    if helper.still_blocked(wait):
        return
    res = helper.result if helper.exc is None else f"exception {helper.exc!r}"
    raise AssertionError(f"{helper.what} should block, but it returned {res} within {wait:g}s")


def join_all(helpers, timeout=OP_TIMEOUT):
    """Results of several helpers, sharing one deadline."""
    end = time.monotonic() + timeout
    out = []
    for h in helpers:
        left = max(0.0, end - time.monotonic())
        if not h.wait(left):
            raise HungOperation(h.hang_message(timeout))
        out.append(h.join(0))
    return out


def wait_until(cond, timeout=OP_TIMEOUT, what="condition", step=0.002):
    """Poll cond() until true; AssertionError naming `what` (a string, or a
    callable giving one when it fails) if it never is."""
    end = time.monotonic() + timeout
    while True:
        if cond():
            return
        if time.monotonic() >= end:
            what = what() if callable(what) else what
            raise AssertionError(f"{what} did not happen within {timeout:g}s")
        time.sleep(step)
