"""Kind plug-ins: chan_plugin_load on a shared object exporting
chanbench_kinds_plugin_entry (kinds_impl.h) registers its broadcast, watch and
oneshot tables in their kinds' registries, all or none (H2); every bad entry or
table gets its own status and a message saying what is wrong (H1).

The fixtures are built here from one small C source ("tk": a mutex-guarded
broadcast ring, watch value and oneshot cell that never block: every wait is a
try) compiled with different -D switches, as test_plugin_loading.py does for
channel plug-ins. Registration is process-wide and permanent, so each fixture is
loaded once (module-scoped), and names carry the process id.
"""
import os

import pytest

import kindlib
from chanlib import Status
from plugin_build import compile_c
from test_plugin_loading import TINY, check

pytestmark = pytest.mark.harness

KINDS_SRC = r"""
/* tk: non-blocking broadcast, watch and oneshot behind the kinds ABI */
#include <pthread.h>
#include <stdlib.h>
#include "chanbench/kinds_impl.h"

#ifndef TK_NAME
#define TK_NAME "tk"
#endif
#ifndef TK_ABI
#define TK_ABI KIND_ABI_VERSION
#endif
#ifndef TK_ENTRY_ABI
#define TK_ENTRY_ABI KIND_ABI_VERSION
#endif
#ifndef TK_ENTRY_SIZE
#define TK_ENTRY_SIZE sizeof(struct kinds_plugin)
#endif
#ifndef TK_WATCH_SIZE
#define TK_WATCH_SIZE sizeof(struct watch_ops)
#endif
#ifndef TK_CAPS
#define TK_CAPS KIND_CAP_MULTI_SENDER
#endif
#ifndef TK_ONESHOT_RECV
#define TK_ONESHOT_RECV tk_os_recv
#endif
#ifndef TK_BCAST
#define TK_BCAST (&tk_bcast)
#endif
#ifndef TK_WATCH
#define TK_WATCH (&tk_watch)
#endif
#ifndef TK_ONESHOT
#define TK_ONESHOT (&tk_oneshot)
#endif

/* Nothing here waits: the result of a wait that would have to. */
static chan_status tk_nothing(chan_deadline dl) { return dl == CHAN_NOWAIT ? CHAN_EMPTY : CHAN_TIMEOUT; }

/* ---- broadcast: a ring of cap words; tail counts the sends ---- */
struct tk_b { struct bcast_base base; pthread_mutex_t m; size_t cap; uint64_t tail; int closed; uintptr_t *ring; };
struct tk_brx { struct bcast_rx_base base; uint64_t next; };

static chan_status tk_b_create(const struct bcast_ops *ops, size_t cap, struct bcast_base **out)
{
	struct tk_b *b = calloc(1, sizeof *b);
	if (b == NULL || (b->ring = calloc(cap, sizeof *b->ring)) == NULL) {
		free(b);
		return CHAN_ENOMEM;
	}
	b->base.ops = ops;
	b->cap = cap;
	pthread_mutex_init(&b->m, NULL);
	*out = &b->base;
	return CHAN_OK;
}
static void tk_b_destroy(struct bcast_base *p) { struct tk_b *b = (struct tk_b *)p; free(b->ring); free(b); }
static chan_status tk_b_subscribe(struct bcast_base *p, struct bcast_rx_base **out)
{
	struct tk_b *b = (struct tk_b *)p;
	struct tk_brx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	pthread_mutex_lock(&b->m);
	int closed = b->closed;
	rx->next = b->tail;
	pthread_mutex_unlock(&b->m);
	if (closed) {
		free(rx);
		return CHAN_CLOSED;
	}
	rx->base.b = p;
	*out = &rx->base;
	return CHAN_OK;
}
static void tk_b_unsubscribe(struct bcast_rx_base *rx) { free(rx); }
static chan_status tk_b_send(struct bcast_base *p, uintptr_t msg)
{
	struct tk_b *b = (struct tk_b *)p;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&b->m);
	if (b->closed)
		st = CHAN_CLOSED;
	else
		b->ring[b->tail++ % b->cap] = msg;
	pthread_mutex_unlock(&b->m);
	return st;
}
static chan_status tk_b_recv(struct bcast_rx_base *p, uintptr_t *msg, uint64_t *missed, chan_deadline dl)
{
	struct tk_brx *rx = (struct tk_brx *)p;
	struct tk_b *b = (struct tk_b *)rx->base.b;
	chan_status st = CHAN_OK;
	*missed = 0;
	pthread_mutex_lock(&b->m);
	if (b->tail - rx->next > b->cap) {
		*missed = b->tail - b->cap - rx->next;
		rx->next = b->tail - b->cap;
	}
	if (rx->next < b->tail)
		*msg = b->ring[rx->next++ % b->cap];
	else
		st = b->closed ? CHAN_CLOSED : tk_nothing(dl);
	pthread_mutex_unlock(&b->m);
	return st;
}
static chan_status tk_b_close(struct bcast_base *p)
{
	struct tk_b *b = (struct tk_b *)p;
	pthread_mutex_lock(&b->m);
	chan_status st = b->closed ? CHAN_ALREADY_CLOSED : CHAN_OK;
	b->closed = 1;
	pthread_mutex_unlock(&b->m);
	return st;
}
static const struct bcast_ops tk_bcast = {
	.abi_version = TK_ABI, .size = sizeof(struct bcast_ops), .name = TK_NAME,
	.description = "fixture: a non-blocking broadcast ring", .caps = TK_CAPS,
	.create = tk_b_create, .destroy = tk_b_destroy, .subscribe = tk_b_subscribe,
	.unsubscribe = tk_b_unsubscribe, .send = tk_b_send, .recv = tk_b_recv, .close = tk_b_close,
};

/* ---- watch: one value and its version ---- */
struct tk_w { struct watch_base base; pthread_mutex_t m; uintptr_t v; uint64_t version; int closed; };
struct tk_wrx { struct watch_rx_base base; uint64_t seen; };

static chan_status tk_w_create(const struct watch_ops *ops, uintptr_t initial, struct watch_base **out)
{
	struct tk_w *w = calloc(1, sizeof *w);
	if (w == NULL)
		return CHAN_ENOMEM;
	w->base.ops = ops;
	w->v = initial;
	pthread_mutex_init(&w->m, NULL);
	*out = &w->base;
	return CHAN_OK;
}
static void tk_w_destroy(struct watch_base *w) { free(w); }
static chan_status tk_w_subscribe(struct watch_base *p, struct watch_rx_base **out)
{
	struct tk_w *w = (struct tk_w *)p;
	struct tk_wrx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	pthread_mutex_lock(&w->m);
	int closed = w->closed;
	rx->seen = w->version;
	pthread_mutex_unlock(&w->m);
	if (closed) {
		free(rx);
		return CHAN_CLOSED;
	}
	rx->base.w = p;
	*out = &rx->base;
	return CHAN_OK;
}
static void tk_w_unsubscribe(struct watch_rx_base *rx) { free(rx); }
static chan_status tk_w_send(struct watch_base *p, uintptr_t v)
{
	struct tk_w *w = (struct tk_w *)p;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&w->m);
	if (w->closed)
		st = CHAN_CLOSED;
	else {
		w->v = v;
		w->version++;
	}
	pthread_mutex_unlock(&w->m);
	return st;
}
static void tk_w_borrow(struct watch_rx_base *p, uintptr_t *v, uint64_t *version)
{
	struct tk_w *w = (struct tk_w *)p->w;
	pthread_mutex_lock(&w->m);
	*v = w->v;
	*version = w->version;
	pthread_mutex_unlock(&w->m);
}
static chan_status tk_w_changed(struct watch_rx_base *p, uintptr_t *v, chan_deadline dl)
{
	struct tk_wrx *rx = (struct tk_wrx *)p;
	struct tk_w *w = (struct tk_w *)p->w;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&w->m);
	if (w->version != rx->seen) {
		rx->seen = w->version;
		*v = w->v;
	} else {
		st = w->closed ? CHAN_CLOSED : tk_nothing(dl);
	}
	pthread_mutex_unlock(&w->m);
	return st;
}
static chan_status tk_w_close(struct watch_base *p)
{
	struct tk_w *w = (struct tk_w *)p;
	pthread_mutex_lock(&w->m);
	chan_status st = w->closed ? CHAN_ALREADY_CLOSED : CHAN_OK;
	w->closed = 1;
	pthread_mutex_unlock(&w->m);
	return st;
}
static const struct watch_ops tk_watch = {
	.abi_version = TK_ABI, .size = TK_WATCH_SIZE, .name = TK_NAME,
	.description = "fixture: a non-blocking watch", .caps = TK_CAPS,
	.create = tk_w_create, .destroy = tk_w_destroy, .subscribe = tk_w_subscribe,
	.unsubscribe = tk_w_unsubscribe, .send = tk_w_send, .borrow = tk_w_borrow,
	.changed = tk_w_changed, .close = tk_w_close,
};

/* ---- oneshot: 0 empty, 1 value, 2 taken, 3 sender gone, 4 receiver gone ---- */
struct tk_o { struct oneshot_base base; pthread_mutex_t m; int state; uintptr_t v; };

static chan_status tk_os_create(const struct oneshot_ops *ops, struct oneshot_base **out)
{
	struct tk_o *o = calloc(1, sizeof *o);
	if (o == NULL)
		return CHAN_ENOMEM;
	o->base.ops = ops;
	pthread_mutex_init(&o->m, NULL);
	*out = &o->base;
	return CHAN_OK;
}
static void tk_os_destroy(struct oneshot_base *o) { free(o); }
static chan_status tk_os_send(struct oneshot_base *p, uintptr_t v)
{
	struct tk_o *o = (struct tk_o *)p;
	pthread_mutex_lock(&o->m);
	chan_status st = o->state == 4 ? CHAN_CLOSED : CHAN_OK;
	if (st == CHAN_OK) {
		o->v = v;
		o->state = 1;
	}
	pthread_mutex_unlock(&o->m);
	return st;
}
static chan_status tk_os_recv(struct oneshot_base *p, uintptr_t *v, chan_deadline dl)
{
	struct tk_o *o = (struct tk_o *)p;
	pthread_mutex_lock(&o->m);
	chan_status st = o->state == 1 ? CHAN_OK : o->state == 0 ? tk_nothing(dl) : CHAN_CLOSED;
	if (st == CHAN_OK) {
		*v = o->v;
		o->state = 2;
	}
	pthread_mutex_unlock(&o->m);
	return st;
}
static void tk_os_set(struct oneshot_base *p, int from, int to)
{
	struct tk_o *o = (struct tk_o *)p;
	pthread_mutex_lock(&o->m);
	if (o->state == from || from < 0)
		o->state = to;
	pthread_mutex_unlock(&o->m);
}
static void tk_os_sender_drop(struct oneshot_base *p) { tk_os_set(p, 0, 3); }
static void tk_os_receiver_drop(struct oneshot_base *p) { tk_os_set(p, -1, 4); }
static const struct oneshot_ops tk_oneshot = {
	.abi_version = TK_ABI, .size = sizeof(struct oneshot_ops), .name = TK_NAME,
	.description = "fixture: a non-blocking oneshot", .caps = TK_CAPS,
	.create = tk_os_create, .destroy = tk_os_destroy, .send = tk_os_send, .recv = TK_ONESHOT_RECV,
	.sender_drop = tk_os_sender_drop, .receiver_drop = tk_os_receiver_drop,
};

static const struct kinds_plugin tk_plugin = {
	.abi_version = TK_ENTRY_ABI, .size = TK_ENTRY_SIZE,
	.bcast = TK_BCAST, .watch = TK_WATCH, .oneshot = TK_ONESHOT,
};

const struct kinds_plugin *chanbench_kinds_plugin_entry(void)
{
#ifdef TK_RETURN_NULL
	return NULL;
#else
	return &tk_plugin;
#endif
}
"""

PID = os.getpid()
NAME = f"fixture-tk-{PID}"
VARIANTS = {
    # file stem: (-D switches, with the channel fixture TINY in the same object)
    "good": ([f'TK_NAME="{NAME}"'], False),
    "oneshot_only": ([f'TK_NAME="fixture-tkos-{PID}"', "TK_BCAST=NULL", "TK_WATCH=NULL"], False),
    "both": ([f'TK_NAME="fixture-tkboth-{PID}"', f'NAME="fixture-tkchan-{PID}"'], True),
    "entry_null": (["TK_RETURN_NULL"], False),
    "no_tables": ([f'TK_NAME="fixture-tknone-{PID}"', "TK_BCAST=NULL", "TK_WATCH=NULL", "TK_ONESHOT=NULL"],
                  False),
    "entry_abi9": ([f'TK_NAME="fixture-tkea-{PID}"', "TK_ENTRY_ABI=9"], False),
    "entry_small": ([f'TK_NAME="fixture-tkes-{PID}"', "TK_ENTRY_SIZE=12"], False),
    "table_abi9": ([f'TK_NAME="fixture-tkta-{PID}"', "TK_ABI=9"], False),
    "watch_small": ([f'TK_NAME="fixture-tkws-{PID}"', "TK_WATCH_SIZE=40"], False),
    "null_op": ([f'TK_NAME="fixture-tkno-{PID}"', "TK_ONESHOT_RECV=NULL"], False),
    "bad_name": (['TK_NAME="Tokio!"'], False),
    "bad_caps": ([f'TK_NAME="fixture-tkbc-{PID}"', "TK_CAPS=(1u<<20)"], False),
    # The oneshot table's name is new; the watch table's is a built-in's.
    "dup_builtin": (['TK_NAME="seqlock"'], False),
}

KINDS = ("bcast", "watch", "oneshot")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    d = tmp_path_factory.mktemp("kind_plugins")
    out = {}
    for stem, (defs, with_chan) in VARIANTS.items():
        out[stem] = compile_c(KINDS_SRC + (TINY if with_chan else ""), d / f"{stem}.so", defines=defs)
    return out


def registry():
    return {k: kindlib.kind_impls(k) for k in KINDS}


def refused(lib, path, want, *phrases):
    """check() (the channel loader's refusal checks), and no kind registry changed."""
    before = registry()
    err = check(lib, path, want, *phrases)
    assert registry() == before, "a refused kind plug-in changed a kind registry"
    assert os.path.basename(path) in err, "the message does not name the file"


@pytest.fixture(scope="module")
def good_loaded(lib, fixtures):
    before = registry()
    return before, lib.plugin_load(fixtures["good"])


@pytest.mark.prop("H2")
def test_H2_kind_plugin_registers_every_table(lib, good_loaded):
    before, (st, name, err) = good_loaded
    assert st == Status.OK, f"the valid kind plug-in was refused: {err}"
    assert name == NAME, "chan_plugin_load's name for a kinds-only file is its first table's"
    assert NAME not in lib.impls(), "a kinds-only file registered a channel"
    after = registry()
    for k in KINDS:
        assert after[k] == before[k] + [NAME], f"{k} registry {after[k]}"
        assert kindlib.kind_description(k, NAME).startswith("fixture"), k
        assert kindlib.kind_caps(k, NAME) == 1 << 2  # MULTI_SENDER


@pytest.mark.prop("H2")
def test_H2_kind_plugin_tables_work_through_the_shared_layer(lib, good_loaded):
    """Each registered table runs behind kinds.h: the shared layer's checks (no
    receiver, the oneshot's handles) and the plug-in's own semantics (lag, versions)."""
    assert good_loaded[1][0] == Status.OK
    b = kindlib.track(kindlib.Bcast(NAME, 2))
    assert b.create_status == Status.OK
    assert b.send(1) == Status.CLOSED, "B1: a send with no receiver reached the plug-in"
    st, rx = b.subscribe()
    assert st == Status.OK
    for v in (10, 11, 12, 13):
        assert b.send(v) == Status.OK
    assert rx.try_recv() == (Status.OK, 12, 2), "lag: the 2 overwritten, then the oldest retained"
    assert rx.try_recv() == (Status.OK, 13, 0)
    assert rx.try_recv()[0] == Status.EMPTY
    assert b.close() == Status.OK and b.close() == Status.ALREADY_CLOSED
    assert rx.try_recv()[0] == Status.CLOSED

    w = kindlib.track(kindlib.Watch(NAME, 5))
    assert w.create_status == Status.OK
    st, wrx = w.subscribe()
    assert st == Status.OK
    assert wrx.borrow() == (Status.OK, 5, 0)
    assert wrx.try_changed()[0] == Status.EMPTY
    assert w.send(6) == Status.OK and w.send(7) == Status.OK
    assert wrx.try_changed() == (Status.OK, 7)
    assert wrx.borrow() == (Status.OK, 7, 2)

    o = kindlib.track(kindlib.Oneshot(NAME))
    assert o.create_status == Status.OK
    assert o.try_recv()[0] == Status.EMPTY
    assert o.send(99) == Status.OK
    assert o.send(98) == Status.NO_HANDLE, "the shared layer let a second send through"
    assert o.try_recv() == (Status.OK, 99)
    assert o.try_recv()[0] == Status.CLOSED


@pytest.mark.prop("H2")
def test_H2_one_kind_only_and_channel_with_kinds(lib, fixtures):
    before = registry()
    st, name, err = lib.plugin_load(fixtures["oneshot_only"])
    assert st == Status.OK, err
    after = registry()
    assert after["oneshot"] == before["oneshot"] + [name]
    assert after["bcast"] == before["bcast"] and after["watch"] == before["watch"]

    st, name, err = lib.plugin_load(fixtures["both"])
    assert st == Status.OK, err
    assert name == f"fixture-tkchan-{PID}", "a file with both entries is named by its channel"
    assert name in lib.impls()
    assert all(f"fixture-tkboth-{PID}" in kindlib.kind_impls(k) for k in KINDS)


@pytest.mark.prop("H1")
def test_H1_kind_plugin_loaded_twice(lib, fixtures, good_loaded):
    assert good_loaded[1][0] == Status.OK
    refused(lib, fixtures["good"], Status.EXISTS, f"'{NAME}'", "already registered")


@pytest.mark.prop("H1")
@pytest.mark.parametrize("stem,want,phrases", [
    ("entry_null", Status.PLUGIN_TABLE, ["returned NULL"]),
    ("no_tables", Status.PLUGIN_TABLE, ["names no table"]),
    ("entry_abi9", Status.PLUGIN_ABI, ["kinds entry", "ABI version 9"]),
    ("entry_small", Status.PLUGIN_TABLE, ["kinds entry", "size 12"]),
    ("table_abi9", Status.PLUGIN_ABI, ["bcast table", "ABI version 9"]),
    ("watch_small", Status.PLUGIN_TABLE, ["watch table", "size 40"]),
    ("null_op", Status.PLUGIN_TABLE, ["oneshot table", "operation 4 is NULL"]),
    ("bad_name", Status.PLUGIN_TABLE, ["name must be"]),
    ("bad_caps", Status.PLUGIN_TABLE, ["unknown caps"]),
    ("dup_builtin", Status.EXISTS, ["watch implementation named 'seqlock'"]),
])
def test_H1_bad_kind_plugin_is_refused_whole(lib, fixtures, stem, want, phrases):
    """All or nothing: a bad table refuses the file, and the good tables of the
    same file (dup_builtin's bcast and oneshot) are not registered either."""
    refused(lib, fixtures[stem], want, *phrases)
