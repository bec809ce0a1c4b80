"""kindlib: a thin ctypes binding to the channel kinds of libchanbench.so
(include/chanbench/kinds.h): broadcast, watch, oneshot.

It loads the same library as chanlib (chanlib.shared_lib(), from $CHANBENCH_BUILD)
and follows its conventions: operations return the C status as a chanlib.Status,
receives return tuples, nothing raises. Calls are tracked with chanlib's
operation tracking, so a hung call is named ("recv on bcast-futex cap=4") by the
suite's watchdog, and the objects duck-type chanlib.Chan where conftest needs it
(close, destroy, destroyed, active, label): `track(obj)` puts them on the
running test's list, and conftest then releases and frees them after the test.

Implementations are named per kind ("mutex", "futex", "seqlock"); in test ids
and in the conformance matrix they appear as "<kind>-<impl>" (bcast-futex), so a
row never mixes a kind implementation with the queue implementation of the
same short name. `kind_params(kind)` gives the pytest parameters and
`attribution(kind)` the autouse fixture that tells tests/matrix.py which row a
test belongs to (conftest only attributes tests that take `impl`).
"""
import ctypes
from ctypes import POINTER, c_char_p, c_int, c_int64, c_size_t, c_uint64, c_void_p

import pytest

import blocking
import chanlib
from chanlib import FOREVER, NOWAIT, Status, status

KINDS = ("bcast", "watch", "oneshot")

_protos_done = set()


def _c():
    lib = chanlib.shared_lib()
    c = lib.c
    if id(c) in _protos_done:
        return c
    P = c_void_p

    def proto(name, res, *args):
        f = getattr(c, name)
        f.restype = res
        f.argtypes = list(args)

    proto("chan_kind_impl_count", c_size_t, c_char_p)
    proto("chan_kind_impl_name_at", c_char_p, c_char_p, c_size_t)
    proto("chan_kind_impl_description", c_char_p, c_char_p, c_char_p)
    proto("chan_kind_impl_caps", c_uint64, c_char_p, c_char_p)
    proto("bcast_create", c_int, c_char_p, c_size_t, POINTER(c_void_p))
    proto("bcast_destroy", c_int, P)
    proto("bcast_subscribe", c_int, P, POINTER(c_void_p))
    proto("bcast_unsubscribe", c_int, P)
    proto("bcast_send", c_int, P, c_size_t)
    proto("bcast_recv", c_int, P, POINTER(c_size_t), POINTER(c_uint64), c_int64)
    proto("bcast_close", c_int, P)
    proto("bcast_cap", c_size_t, P)
    proto("bcast_receiver_count", c_size_t, P)
    proto("watch_create", c_int, c_char_p, c_size_t, POINTER(c_void_p))
    proto("watch_destroy", c_int, P)
    proto("watch_subscribe", c_int, P, POINTER(c_void_p))
    proto("watch_unsubscribe", c_int, P)
    proto("watch_send", c_int, P, c_size_t)
    proto("watch_borrow", c_int, P, POINTER(c_size_t), POINTER(c_uint64))
    proto("watch_changed", c_int, P, POINTER(c_size_t), c_int64)
    proto("watch_close", c_int, P)
    proto("oneshot_create", c_int, c_char_p, POINTER(c_void_p))
    proto("oneshot_destroy", c_int, P)
    proto("oneshot_send", c_int, P, c_size_t)
    proto("oneshot_recv", c_int, P, POINTER(c_size_t), c_int64)
    proto("oneshot_sender_drop", c_int, P)
    proto("oneshot_receiver_drop", c_int, P)
    _protos_done.add(id(c))
    return c


# --- registry ------------------------------------------------------------------


def kind_impls(kind):
    c = _c()
    k = kind.encode()
    return [c.chan_kind_impl_name_at(k, i).decode() for i in range(c.chan_kind_impl_count(k))]


def kind_description(kind, impl):
    d = _c().chan_kind_impl_description(kind.encode(), impl.encode())
    return d.decode() if d is not None else None


def kind_caps(kind, impl):
    return int(_c().chan_kind_impl_caps(kind.encode(), impl.encode()))


def kind_registry():
    """{kind: [{name, caps, description}]} for every kind (chanlib --probe prints it)."""
    return {k: [{"name": n, "caps": kind_caps(k, n), "description": kind_description(k, n) or ""}
                for n in kind_impls(k)] for k in KINDS}


def full_name(kind, impl):
    return f"{kind}-{impl}"


def kind_params(kind):
    """pytest parameters for the argument `kimpl`: one per implementation of kind."""
    return [pytest.param(n, id=full_name(kind, n)) for n in kind_impls(kind)]


def attribution(kind):
    """An autouse fixture: the test's matrix row is "<kind>-<kimpl>"."""

    @pytest.fixture(autouse=True)
    def _kind_matrix_row(request):
        cs = getattr(request.node, "callspec", None)
        if cs is not None and "kimpl" in cs.params:
            request.node.user_properties.append(("chanbench_impl", full_name(kind, cs.params["kimpl"])))
        yield

    return _kind_matrix_row


def track(obj):
    """Hand obj to the running test's cleanup (conftest closes and destroys it)."""
    blocking.current.chans.append(obj)
    return obj


def deadline_after(seconds):
    return chanlib.shared_lib().deadline_after(seconds)


# --- the objects ---------------------------------------------------------------------


class _Obj:
    """What conftest's cleanup expects of a channel-like object, and the calls
    every kind has: <prefix>_send / _close / _destroy / _subscribe."""

    prefix = None  # "bcast", "watch", "oneshot": the C functions' prefix
    rx_class = None  # the receiver handle's class, for subscribe()

    def __init__(self, label):
        self.c = _c()
        self.label = label
        self.ptr = c_void_p()
        self.destroyed = False
        self.leaked = False

    def _t(self, op):
        return chanlib._Track(f"{op} on {self.label}", self)

    @property
    def active(self):
        return len(chanlib.inflight_on(self))

    def _call(self, op, *args):
        """<prefix>_<op>(ptr, *args) as a tracked operation named op; its status."""
        with self._t(op):
            return status(getattr(self.c, f"{self.prefix}_{op}")(self.ptr, *args))

    def subscribe(self):
        """(status, receiver handle or None)."""
        out = c_void_p()
        st = self._call("subscribe", ctypes.byref(out))
        return st, (self.rx_class(self, out) if st == Status.OK else None)

    def send(self, v):
        return self._call("send", v)

    def close(self):
        return self._call("close")

    def destroy(self):
        st = self._call("destroy")
        if st == Status.OK:
            self.destroyed = True
        return st


class _Rx:
    """A subscriber's handle (broadcast, watch)."""

    def __init__(self, owner, ptr):
        self.owner = owner
        self.c = owner.c
        self.ptr = ptr

    def _call(self, op, *args):
        with self.owner._t(op):
            return status(getattr(self.c, f"{self.owner.prefix}_{op}")(self.ptr, *args))

    def unsubscribe(self):
        return self._call("unsubscribe")


class Bcast(_Obj):
    prefix = "bcast"

    def __init__(self, impl, cap):
        super().__init__(f"bcast-{impl} cap={cap}")
        self.impl = impl
        with self._t("bcast_create"):
            self.create_status = status(self.c.bcast_create(impl.encode(), cap, ctypes.byref(self.ptr)))

    def cap(self):
        return self.c.bcast_cap(self.ptr)

    def receiver_count(self):
        return self.c.bcast_receiver_count(self.ptr)


class BcastRx(_Rx):
    def recv_until(self, deadline):
        """(status, value, missed)."""
        v = c_size_t(0)
        missed = c_uint64(0)
        st = self._call("recv", ctypes.byref(v), ctypes.byref(missed), deadline)
        return st, v.value, missed.value

    def recv(self):
        return self.recv_until(FOREVER)

    def try_recv(self):
        return self.recv_until(NOWAIT)

    def recv_timeout(self, seconds):
        return self.recv_until(deadline_after(seconds))


class Watch(_Obj):
    prefix = "watch"

    def __init__(self, impl, initial):
        super().__init__(f"watch-{impl}")
        self.impl = impl
        with self._t("watch_create"):
            self.create_status = status(self.c.watch_create(impl.encode(), initial, ctypes.byref(self.ptr)))



class WatchRx(_Rx):
    def borrow(self):
        """(status, value, version)."""
        v = c_size_t(0)
        ver = c_uint64(0)
        st = self._call("borrow", ctypes.byref(v), ctypes.byref(ver))
        return st, v.value, ver.value

    def changed_until(self, deadline):
        """(status, value)."""
        v = c_size_t(0)
        st = self._call("changed", ctypes.byref(v), deadline)
        return st, v.value

    def changed(self):
        return self.changed_until(FOREVER)

    def try_changed(self):
        return self.changed_until(NOWAIT)

    def changed_timeout(self, seconds):
        return self.changed_until(deadline_after(seconds))


Bcast.rx_class = BcastRx
Watch.rx_class = WatchRx


class Oneshot(_Obj):
    """One oneshot. The library frees it once both sides gave their handle up;
    this object remembers which did, so destroy() never touches a freed one."""

    prefix = "oneshot"

    def __init__(self, impl):
        super().__init__(f"oneshot-{impl}")
        self.impl = impl
        self.sender_held = True
        self.receiver_held = True
        with self._t("oneshot_create"):
            self.create_status = status(self.c.oneshot_create(impl.encode(), ctypes.byref(self.ptr)))

    @property
    def freed(self):
        return not self.sender_held and not self.receiver_held

    def send(self, v):
        st = self._call("send", v)
        if st in (Status.OK, Status.CLOSED):
            self.sender_held = False
        return st

    def recv_until(self, deadline):
        v = c_size_t(0)
        st = self._call("recv", ctypes.byref(v), deadline)
        return st, v.value

    def recv(self):
        return self.recv_until(FOREVER)

    def try_recv(self):
        return self.recv_until(NOWAIT)

    def recv_timeout(self, seconds):
        return self.recv_until(deadline_after(seconds))

    def sender_drop(self):
        st = self._call("sender_drop")
        if st == Status.OK:
            self.sender_held = False
        return st

    def receiver_drop(self):
        st = self._call("receiver_drop")
        if st == Status.OK:
            self.receiver_held = False
        return st

    def close(self):
        """For conftest's release of hung helpers: the sender goes away."""
        return self.sender_drop() if self.sender_held else Status.OK

    def destroy(self):
        if self.freed:  # the library freed it when the second side let go
            self.destroyed = True
            return Status.OK
        return super().destroy()
