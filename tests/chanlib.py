"""chanlib: a thin ctypes binding to libchanbench.so for the conformance suite.

One class per concept of include/chanbench/chan.h: `Lib` (the library: registry,
plug-ins, clock), `Chan` (one channel), `Status` and `Caps` (the enums).
Every channel operation returns the C status as a `Status` (a plain int if the
implementation returned a value outside the enum); `recv` returns
(status, value). Nothing is hidden: a failing operation is not an exception.

ctypes releases the GIL for the duration of each call, so a Python thread can
block inside a channel while other Python threads run.

Operation tracking. Each channel call records, for its thread, which operation
is in progress ("recv on futex cap=0") until it returns. The suite uses that to
name the operation that hung when a test or a helper thread times out
(`inflight()`), instead of a bare "timeout".

Where the library is: $CHANBENCH_BUILD/libchanbench.so, default <repo>/build
(<repo> is the parent of this file's directory).

Run as a script, `python3 tests/chanlib.py --probe [PLUGIN...]` loads the given
plug-ins and prints the registry as JSON: the suite uses it to load plug-ins in
a throw-away process first, so a plug-in that crashes on load is reported as
such instead of killing the test run.
"""
import ctypes
import enum
import json
import os
import sys
import threading
import time
from ctypes import CFUNCTYPE, POINTER, Structure, c_char_p, c_int, c_int64, c_size_t, c_uint, c_uint64, c_void_p

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBNAME = "libchanbench.so"

UNBOUNDED = (1 << 64) - 1  # CHAN_UNBOUNDED: (size_t)-1
MAX_CAPACITY = 1 << 30  # CHAN_MAX_CAPACITY
FOREVER = (1 << 63) - 1  # CHAN_FOREVER: INT64_MAX
NOWAIT = 0  # CHAN_NOWAIT
WORD_MASK = (1 << 64) - 1  # a message is one uintptr_t
# select, poll fds (chan.h, ABI version 2)
DIR_RECV = 1  # CHAN_DIR_RECV
DIR_SEND = 2  # CHAN_DIR_SEND
SELECT_FAIR = 0  # CHAN_SELECT_FAIR
SELECT_BIASED = 1  # CHAN_SELECT_BIASED
SELECT_MAX_CASES = 64  # CHAN_SELECT_MAX_CASES
NO_INDEX = (1 << 64) - 1  # what `chosen` holds when chan_select did not write it


class Status(enum.IntEnum):
    """chan_status, value for value (chan.h)."""

    OK = 0
    EMPTY = 1
    FULL = 2
    TIMEOUT = 3
    CLOSED = 4
    ALREADY_CLOSED = 5
    EINVAL = 6
    ENOMEM = 7
    UNSUPPORTED = 8
    NOT_FOUND = 9
    DESTROYED = 10
    NO_HANDLE = 11
    PLUGIN_OPEN = 12
    PLUGIN_SYMBOL = 13
    PLUGIN_ABI = 14
    PLUGIN_TABLE = 15
    EXISTS = 16
    NOT_READY = 17


_STATUS = {int(s): s for s in Status}


def status(rc):
    """The Status for a C return code, or the bare int if it is out of range."""
    return _STATUS.get(rc, rc)


class Caps(enum.IntFlag):
    """chan_cap_bits (chan_impl.h)."""

    BOUNDED = 1 << 0
    RENDEZVOUS = 1 << 1
    UNBOUNDED = 1 << 2
    MPMC = 1 << 3
    BLOCKING = 1 << 4
    TIMED = 1 << 5
    CLOSE = 1 << 6
    LEN = 1 << 7
    SELECT = 1 << 8
    POLLFD = 1 << 9
    BATCH = 1 << 10
    REFERENCE = 1 << 31


def cap_kind(cap):
    """The capability a capacity needs: RENDEZVOUS, UNBOUNDED or BOUNDED."""
    if cap == 0:
        return Caps.RENDEZVOUS
    if cap == UNBOUNDED:
        return Caps.UNBOUNDED
    return Caps.BOUNDED


def cap_label(cap):
    return "unbounded" if cap == UNBOUNDED else str(cap)


UNDELIVERED_FN = CFUNCTYPE(None, c_size_t, c_void_p)


class ChanConfig(Structure):
    _fields_ = [("undelivered", UNDELIVERED_FN), ("undelivered_ctx", c_void_p)]


class ChanCase(Structure):
    """struct chan_case (chan.h): one case of a select."""

    _fields_ = [("ch", c_void_p), ("dir", c_int), ("msg", c_size_t)]


class LibraryNotFound(RuntimeError):
    pass


def build_dir():
    return os.path.abspath(os.environ.get("CHANBENCH_BUILD") or os.path.join(REPO, "build"))


def library_path():
    return os.path.join(build_dir(), LIBNAME)


# --- operation tracking ------------------------------------------------------

_inflight = {}  # thread ident -> (description, start monotonic time, Chan or None)


class _Track:
    """Context manager: record `desc` as this thread's operation in progress."""

    __slots__ = ("desc", "chan", "tid", "prev")

    def __init__(self, desc, chan):
        self.desc = desc
        self.chan = chan

    def __enter__(self):
        self.tid = threading.get_ident()
        self.prev = _inflight.get(self.tid)
        _inflight[self.tid] = (self.desc, time.monotonic(), self.chan)  # one dict store: atomic

    def __exit__(self, *exc):
        if self.prev is None:
            _inflight.pop(self.tid, None)
        else:
            _inflight[self.tid] = self.prev
        return False


def inflight(tid=None):
    """Operations in progress: [(thread ident, description, seconds so far)]."""
    now = time.monotonic()
    out = []
    for t, (desc, t0, _ch) in list(_inflight.items()):
        if tid is None or t == tid:
            out.append((t, desc, now - t0))
    return out


def _involves(c, chan):
    # a select records the tuple of its channels
    return c is chan or (type(c) is tuple and any(x is chan for x in c))


def inflight_on(chan):
    return [(t, d, time.monotonic() - t0) for t, (d, t0, c) in list(_inflight.items()) if _involves(c, chan)]


# --- the library -------------------------------------------------------------


class Lib:
    """libchanbench.so: the registry, plug-in loading, the clock."""

    def __init__(self, path=None):
        path = path or library_path()
        if not os.path.exists(path):
            raise LibraryNotFound(
                f"{LIBNAME} not found at {path}. Build it first:\n"
                f"    cmake -S {REPO} -B {os.path.dirname(path)} && cmake --build {os.path.dirname(path)} -j2\n"
                f"or point CHANBENCH_BUILD at the build directory that has it."
            )
        self.path = path
        self.c = ctypes.CDLL(path)
        self._prototypes()

    def _prototypes(self):
        c = self.c
        P = c_void_p

        def proto(name, res, *args):
            f = getattr(c, name)
            f.restype = res
            f.argtypes = list(args)

        proto("chan_status_str", c_char_p, c_int)
        proto("chan_now_ns", c_int64)
        proto("chan_deadline_after", c_int64, c_int64)
        proto("chan_create", c_int, c_char_p, c_size_t, POINTER(ChanConfig), POINTER(c_void_p))
        proto("chan_destroy", c_int, P)
        proto("chan_send_until", c_int, P, c_size_t, c_int64)
        proto("chan_recv_until", c_int, P, POINTER(c_size_t), c_int64)
        proto("chan_send", c_int, P, c_size_t)
        proto("chan_recv", c_int, P, POINTER(c_size_t))
        proto("chan_try_send", c_int, P, c_size_t)
        proto("chan_try_recv", c_int, P, POINTER(c_size_t))
        proto("chan_send_timeout", c_int, P, c_size_t, c_int64)
        proto("chan_recv_timeout", c_int, P, POINTER(c_size_t), c_int64)
        proto("chan_close", c_int, P)
        proto("chan_len", c_size_t, P)
        proto("chan_cap", c_size_t, P)
        proto("chan_impl_name", c_char_p, P)
        for n in ("chan_sender_clone", "chan_sender_drop", "chan_receiver_clone", "chan_receiver_drop"):
            proto(n, c_int, P)
        proto("chan_impl_count", c_size_t)
        proto("chan_impl_name_at", c_char_p, c_size_t)
        proto("chan_impl_description", c_char_p, c_char_p)
        proto("chan_impl_caps", c_uint64, c_char_p)
        proto("chan_plugin_load", c_int, c_char_p, POINTER(c_char_p), c_char_p, c_size_t)
        # ABI version 2; a library built before them lacks the symbols, and only the
        # calls below that need them fail (AttributeError naming the symbol)
        for name, res, *args in (
            ("chan_select", c_int, POINTER(ChanCase), c_size_t, c_uint, c_int64, POINTER(c_size_t)),
            ("chan_pollfd", c_int, P, c_int, POINTER(c_int)),
            ("chan_send_batch", c_int, P, POINTER(c_size_t), c_size_t, POINTER(c_size_t), c_int64),
            ("chan_recv_batch", c_int, P, POINTER(c_size_t), c_size_t, POINTER(c_size_t), c_int64),
        ):
            if hasattr(c, name):
                proto(name, res, *args)

    # registry
    def impls(self):
        """Registered implementation names, built-ins first, then plug-ins."""
        n = self.c.chan_impl_count()
        return [self.c.chan_impl_name_at(i).decode() for i in range(n)]

    def caps(self, impl):
        return Caps(self.c.chan_impl_caps(impl.encode()))

    def description(self, impl):
        d = self.c.chan_impl_description(impl.encode())
        return d.decode() if d is not None else None

    def plugin_load(self, path):
        """(status, registered name or None, error message)."""
        name = c_char_p()
        err = ctypes.create_string_buffer(1024)
        p = None if path is None else os.fsencode(path)
        st = status(self.c.chan_plugin_load(p, ctypes.byref(name), err, len(err)))
        return st, (name.value.decode() if st == Status.OK and name.value else None), err.value.decode()

    def status_str(self, st):
        return self.c.chan_status_str(int(st)).decode()

    def now_ns(self):
        return self.c.chan_now_ns()

    def deadline_after(self, seconds):
        return self.c.chan_deadline_after(int(seconds * 1e9))

    def create(self, impl, cap, undelivered=None):
        """(status, Chan or None). `undelivered`: a Python callable(msg) or None."""
        ch = Chan(self, impl, cap, undelivered)
        st = ch.create_status
        return st, (ch if st == Status.OK else None)

    def select(self, cases, flags=SELECT_FAIR, deadline=FOREVER):
        """chan_select over `cases`, a list of (Chan or None, DIR_RECV) and
        (Chan or None, DIR_SEND, value). Returns (status, chosen, value): chosen is
        the index the call wrote (NO_INDEX if it wrote none), value the chosen
        case's msg afterwards (the value received, for a recv case; None if no index).
        """
        n = len(cases)
        arr = (ChanCase * max(n, 1))()
        chans = []
        for i, c in enumerate(cases):
            ch, d = c[0], c[1]
            arr[i].ch = ch.ptr.value if ch is not None else None
            arr[i].dir = d
            arr[i].msg = c[2] if len(c) > 2 else 0
            if ch is not None:
                chans.append(ch)
        chosen = c_size_t(NO_INDEX)
        desc = "select(" + ", ".join(
            "off" if c[0] is None else f"{'send' if c[1] == DIR_SEND else 'recv'} {c[0].label}" for c in cases) + ")"
        with _Track(desc, tuple(chans)):
            st = status(self.c.chan_select(arr, n, flags, deadline, ctypes.byref(chosen)))
        k = chosen.value
        return st, k, (arr[k].msg if k < n else None)


class Chan:
    """One channel. Operations return Status; recv variants return (Status, value).

    The undelivered callback (if any) is a ctypes callback kept alive by this
    object; `undelivered` collects what it was handed, in call order.
    """

    def __init__(self, lib, impl, cap, undelivered=None):
        self.lib = lib
        self.c = lib.c
        self.impl = impl
        self.cap_requested = cap
        self.label = f"{impl} cap={cap_label(cap)}"
        self.undelivered = []  # messages handed to the callback
        self.undelivered_threads = []
        self._user_cb = undelivered
        self.destroyed = False
        self.leaked = False
        cfg = None
        if undelivered is not False:
            self._cb = UNDELIVERED_FN(self._on_undelivered)  # kept alive with the channel
            self._cfg = ChanConfig(self._cb, None)
            cfg = ctypes.byref(self._cfg)
        out = c_void_p()
        with _Track(f"create on {self.label}", None):
            self.create_status = status(self.c.chan_create(impl.encode(), cap, cfg, ctypes.byref(out)))
        self.ptr = out

    def _on_undelivered(self, msg, ctx):
        self.undelivered.append(msg)
        self.undelivered_threads.append(threading.get_ident())
        if callable(self._user_cb):
            self._user_cb(msg)

    def _t(self, op):
        return _Track(f"{op} on {self.label}", self)

    def __repr__(self):
        return f"<Chan {self.label}>"

    # sends: the value stays the caller's on any failure
    def send(self, v):
        with self._t("send"):
            return status(self.c.chan_send(self.ptr, v))

    def try_send(self, v):
        with self._t("try_send"):
            return status(self.c.chan_try_send(self.ptr, v))

    def send_timeout(self, v, seconds):
        with self._t(f"send_timeout({seconds}s)"):
            return status(self.c.chan_send_timeout(self.ptr, v, int(seconds * 1e9)))

    def send_until(self, v, deadline):
        with self._t("send_until"):
            return status(self.c.chan_send_until(self.ptr, v, deadline))

    # receives
    def recv(self):
        out = c_size_t(0)
        with self._t("recv"):
            st = status(self.c.chan_recv(self.ptr, ctypes.byref(out)))
        return st, out.value

    def try_recv(self):
        out = c_size_t(0)
        with self._t("try_recv"):
            st = status(self.c.chan_try_recv(self.ptr, ctypes.byref(out)))
        return st, out.value

    def recv_timeout(self, seconds):
        out = c_size_t(0)
        with self._t(f"recv_timeout({seconds}s)"):
            st = status(self.c.chan_recv_timeout(self.ptr, ctypes.byref(out), int(seconds * 1e9)))
        return st, out.value

    def recv_until(self, deadline):
        out = c_size_t(0)
        with self._t("recv_until"):
            st = status(self.c.chan_recv_until(self.ptr, ctypes.byref(out), deadline))
        return st, out.value

    # the rest
    def close(self):
        with self._t("close"):
            return status(self.c.chan_close(self.ptr))

    def len(self):
        with self._t("len"):
            return self.c.chan_len(self.ptr)

    def cap(self):
        with self._t("cap"):
            return self.c.chan_cap(self.ptr)

    def impl_name(self):
        n = self.c.chan_impl_name(self.ptr)
        return n.decode() if n is not None else None

    def sender_clone(self):
        with self._t("sender_clone"):
            return status(self.c.chan_sender_clone(self.ptr))

    def sender_drop(self):
        with self._t("sender_drop"):
            return status(self.c.chan_sender_drop(self.ptr))

    def receiver_clone(self):
        with self._t("receiver_clone"):
            return status(self.c.chan_receiver_clone(self.ptr))

    def receiver_drop(self):
        with self._t("receiver_drop"):
            return status(self.c.chan_receiver_drop(self.ptr))

    def destroy(self):
        with self._t("destroy"):
            st = status(self.c.chan_destroy(self.ptr))
        if st == Status.OK:
            self.destroyed = True
        return st

    # ABI version 2: poll fd and batches
    def pollfd(self, direction=DIR_RECV):
        """(status, fd): chan_pollfd."""
        fd = c_int(-1)
        with self._t("pollfd"):
            st = status(self.c.chan_pollfd(self.ptr, direction, ctypes.byref(fd)))
        return st, fd.value

    def send_batch(self, values, deadline=FOREVER):
        """(status, done): chan_send_batch of `values`; done counts the prefix sent."""
        n = len(values)
        arr = (c_size_t * max(n, 1))(*values)
        done = c_size_t(NO_INDEX)
        with self._t(f"send_batch({n})"):
            st = status(self.c.chan_send_batch(self.ptr, arr, n, ctypes.byref(done), deadline))
        return st, done.value

    def recv_batch(self, n, deadline=FOREVER):
        """(status, values, done): chan_recv_batch of up to n; values are the first
        min(done, n) entries of the buffer."""
        arr = (c_size_t * max(n, 1))()
        done = c_size_t(NO_INDEX)
        with self._t(f"recv_batch({n})"):
            st = status(self.c.chan_recv_batch(self.ptr, arr, n, ctypes.byref(done), deadline))
        d = done.value
        return st, [arr[i] for i in range(min(d, n))], d

    @property
    def address(self):
        """The chan_t pointer as a word (what Q10 sends through a channel)."""
        return self.ptr.value or 0

    @property
    def active(self):
        """Calls on this channel in progress now, in any thread."""
        return len(inflight_on(self))


_shared = None


def shared_lib():
    """The process's one Lib (plug-ins register process-wide, so one is enough)."""
    global _shared
    if _shared is None:
        _shared = Lib()
    return _shared


def probe(plugins):
    """Load plug-ins and describe the registry (run in a throw-away process)."""
    lib = shared_lib()
    loaded = []
    for p in plugins:
        # name the plug-in on stderr first: if it crashes while loading, the
        # parent process knows which one did
        print(f"loading {p}", file=sys.stderr, flush=True)
        st, name, err = lib.plugin_load(p)
        loaded.append({"path": p, "status": lib.status_str(st), "name": name, "error": err})
        if st != Status.OK:
            break
    reg = [{"name": n, "caps": int(lib.caps(n)), "description": lib.description(n)} for n in lib.impls()]
    import kindlib  # it imports this module: only here, once the library is loaded

    return {"plugins": loaded, "registry": reg, "kinds": kindlib.kind_registry()}

if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--probe":
        print(json.dumps(probe(sys.argv[2:])))
    else:
        lib = Lib()
        for n in lib.impls():
            print(f"{n:12} {lib.caps(n)!r:60} {lib.description(n)}")
