"""chan_plugin_load: every kind of bad file gets its own status and a message that
says what is wrong (H1); a valid plug-in registers, is listed and works (H2).

The fixture plug-ins are built here, into a temporary directory, from one small
C source (a non-blocking bounded channel, "tiny") compiled with different -D
switches. Plug-ins register process-wide and cannot be unloaded, so each fixture
is loaded once per process (module-scoped fixtures); the names carry the process
id so that they never collide with a real implementation.
"""
import os

import pytest

import chanlib
from chanlib import Caps, Status
from plugin_build import compile_c

pytestmark = pytest.mark.harness

TINY = r"""
/* tiny: a bounded, non-blocking channel; variants by -D switch (see the test) */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include "chanbench/chan_impl.h"

#ifndef NAME
#define NAME "tiny"
#endif
#ifndef ABI
#define ABI CHAN_ABI_VERSION
#endif
#ifndef SIZE
#define SIZE sizeof(struct chan_ops)
#endif
#ifndef CAPS
#define CAPS (CHAN_CAP_BOUNDED | CHAN_CAP_MPMC | CHAN_CAP_CLOSE | CHAN_CAP_LEN)
#endif
#ifndef SEND
#define SEND tiny_send
#endif
#ifndef ENTRY
#define ENTRY chanbench_plugin_entry
#endif

struct tiny {
	struct chan_base base;
	pthread_mutex_t m;
	size_t cap, head, count;
	int closed;
	uintptr_t buf[];
};

static chan_status tiny_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct tiny *t = calloc(1, sizeof *t + cap * sizeof(uintptr_t));
	if (t == NULL)
		return CHAN_ENOMEM;
	t->base.ops = ops;
	t->cap = cap;
	pthread_mutex_init(&t->m, NULL);
	*out = &t->base;
	return CHAN_OK;
}

static void tiny_destroy(struct chan_base *b)
{
	struct tiny *t = (struct tiny *)b;
	pthread_mutex_destroy(&t->m);
	free(t);
}

static chan_status tiny_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct tiny *t = (struct tiny *)b;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&t->m);
	if (t->closed)
		st = CHAN_CLOSED;
	else if (t->count == t->cap)
		st = dl == CHAN_NOWAIT ? CHAN_FULL : CHAN_TIMEOUT;
	else
		t->buf[(t->head + t->count++) % t->cap] = msg;
	pthread_mutex_unlock(&t->m);
	return st;
}

static chan_status tiny_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct tiny *t = (struct tiny *)b;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&t->m);
	if (t->count > 0) {
		*msg = t->buf[t->head];
		t->head = (t->head + 1) % t->cap;
		t->count--;
	} else {
		st = t->closed ? CHAN_CLOSED : dl == CHAN_NOWAIT ? CHAN_EMPTY : CHAN_TIMEOUT;
	}
	pthread_mutex_unlock(&t->m);
	return st;
}

static chan_status tiny_close(struct chan_base *b)
{
	struct tiny *t = (struct tiny *)b;
	pthread_mutex_lock(&t->m);
	chan_status st = t->closed ? CHAN_ALREADY_CLOSED : CHAN_OK;
	t->closed = 1;
	pthread_mutex_unlock(&t->m);
	return st;
}

static size_t tiny_len(struct chan_base *b)
{
	struct tiny *t = (struct tiny *)b;
	pthread_mutex_lock(&t->m);
	size_t n = t->count;
	pthread_mutex_unlock(&t->m);
	return n;
}

static const struct chan_ops tiny_ops = {
	.abi_version = ABI,
	.size = SIZE,
	.name = NAME,
	.description = "tiny: a bounded non-blocking test fixture",
	.caps = CAPS,
	.create = tiny_create,
	.destroy = tiny_destroy,
	.send = SEND,
	.recv = tiny_recv,
	.close = tiny_close,
	.len = tiny_len,
};

const struct chan_ops *ENTRY(void)
{
#ifdef RETURN_NULL
	return NULL;
#else
	return &tiny_ops;
#endif
}
"""

PID = os.getpid()
VARIANTS = {
    # file stem: -D switches
    "good": [f'NAME="fixture-tiny-{PID}"'],
    "no_entry": [f'NAME="fixture-noentry-{PID}"', "ENTRY=some_other_function"],
    "abi99": [f'NAME="fixture-abi-{PID}"', "ABI=99"],
    "abi0": [f'NAME="fixture-abi0-{PID}"', "ABI=0"],
    "null_send": [f'NAME="fixture-nullsend-{PID}"', "SEND=NULL"],
    "null_table": ["RETURN_NULL"],
    "small": [f'NAME="fixture-small-{PID}"', "SIZE=16"],
    "bad_name": ['NAME="Bad Name!"'],
    "no_kind": [f'NAME="fixture-nokind-{PID}"', "CAPS=CHAN_CAP_MPMC"],
    "dup_builtin": ['NAME="mutex"'],
    # An ABI-1 table exactly as a plug-in built against chanbench's version-1 header
    # lays it out: it ends after `len`.
    "v1": [f'NAME="fixture-v1-{PID}"', "ABI=1", "SIZE=(offsetof(struct chan_ops, len) + sizeof(void *))"],
    "v1_claims_select": [f'NAME="fixture-v1sel-{PID}"', "ABI=1",
                         "SIZE=(offsetof(struct chan_ops, len) + sizeof(void *))",
                         "CAPS=(CHAN_CAP_BOUNDED | CHAN_CAP_SELECT)"],
    "v2_select_no_hooks": [f'NAME="fixture-v2sel-{PID}"', "CAPS=(CHAN_CAP_BOUNDED | CHAN_CAP_SELECT)"],
    "v2_batch_no_slots": [f'NAME="fixture-v2batch-{PID}"', "CAPS=(CHAN_CAP_BOUNDED | CHAN_CAP_BATCH)"],
}


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    d = tmp_path_factory.mktemp("plugins")
    built = {stem: compile_c(TINY, d / f"{stem}.so", defines=defs) for stem, defs in VARIANTS.items()}
    text = d / "not_a_plugin.so"
    text.write_text("this is a text file, not a shared object\n")
    built["text"] = str(text)
    built["missing"] = str(d / "does_not_exist.so")
    return built


@pytest.fixture(scope="module")
def good_loaded(lib, fixtures):
    """The valid fixture, loaded once in this process: (status, name, error)."""
    return lib.plugin_load(fixtures["good"])


def check(lib, path, want, *phrases):
    before = lib.impls()
    st, name, err = lib.plugin_load(path)
    assert lib.impls() == before, "a failed load changed the registry"
    assert st == want, f"loading {os.path.basename(path)}: {st!r} ({err!r}), expected {want!r}"
    assert name is None
    assert err, "no error message"
    for p in phrases:
        assert p.lower() in err.lower(), f"message {err!r} does not say {p!r}"
    return err


@pytest.mark.prop("H1")
def test_H1_missing_file(lib, fixtures):
    err = check(lib, fixtures["missing"], Status.PLUGIN_OPEN, "no such file")
    assert fixtures["missing"] in err, "the message does not name the file"


@pytest.mark.prop("H1")
def test_H1_not_a_shared_object(lib, fixtures):
    check(lib, fixtures["text"], Status.PLUGIN_OPEN, "not a loadable shared object")


@pytest.mark.prop("H1")
def test_H1_directory_is_not_a_plugin(lib, tmp_path):
    check(lib, str(tmp_path), Status.PLUGIN_OPEN)


@pytest.mark.prop("H1")
def test_H1_missing_entry_symbol(lib, fixtures):
    check(lib, fixtures["no_entry"], Status.PLUGIN_SYMBOL, "chanbench_plugin_entry")


@pytest.mark.prop("H1")
@pytest.mark.parametrize("stem,version", [("abi99", 99), ("abi0", 0)])
def test_H1_wrong_abi_version(lib, fixtures, stem, version):
    check(lib, fixtures[stem], Status.PLUGIN_ABI, f"ABI version {version}", "not supported")


@pytest.mark.prop("H1")
def test_H1_incomplete_table_null_op(lib, fixtures):
    check(lib, fixtures["null_send"], Status.PLUGIN_TABLE, "'send'", "NULL")


@pytest.mark.prop("H1")
def test_H1_entry_returns_null(lib, fixtures):
    check(lib, fixtures["null_table"], Status.PLUGIN_TABLE, "returned NULL")


@pytest.mark.prop("H1")
def test_H1_table_too_small(lib, fixtures):
    check(lib, fixtures["small"], Status.PLUGIN_TABLE, "table size 16")


@pytest.mark.prop("H1")
def test_H1_invalid_name(lib, fixtures):
    check(lib, fixtures["bad_name"], Status.PLUGIN_TABLE, "name")


@pytest.mark.prop("H1")
def test_H1_no_capacity_kind_declared(lib, fixtures):
    check(lib, fixtures["no_kind"], Status.PLUGIN_TABLE, "capacity kind")


@pytest.mark.prop("H1")
def test_H1_duplicate_of_builtin(lib, fixtures):
    check(lib, fixtures["dup_builtin"], Status.EXISTS, "'mutex'", "already registered")


@pytest.mark.prop("H1")
def test_H1_same_plugin_twice(lib, fixtures, good_loaded):
    assert good_loaded[0] == Status.OK
    check(lib, fixtures["good"], Status.EXISTS, f"'fixture-tiny-{PID}'", "already registered")
    assert lib.impls().count(good_loaded[1]) == 1


@pytest.mark.prop("H1")
@pytest.mark.parametrize("stem,cap", [("v1_claims_select", "select"), ("v2_select_no_hooks", "select"),
                                      ("v2_batch_no_slots", "batch")])
def test_H1_declared_v2_capability_without_its_slots(lib, fixtures, stem, cap):
    check(lib, fixtures[stem], Status.PLUGIN_TABLE, f"declares {cap}")


@pytest.mark.prop("H2")
def test_H2_version_1_plugin_still_loads_and_works(lib, fixtures):
    """A plug-in built against ABI version 1 (no select, poll fd or batch slots) loads;
    the newer capabilities are simply not there, and the table is never read past its size."""
    st, name, err = lib.plugin_load(fixtures["v1"])
    assert st == Status.OK, f"an ABI-1 plug-in was refused: {err}"
    caps = lib.caps(name)
    assert caps == Caps.BOUNDED | Caps.MPMC | Caps.CLOSE | Caps.LEN, f"caps {caps:#x}"
    s, ch = lib.create(name, 2)
    assert s == Status.OK
    try:
        assert [ch.try_send(v) for v in (7, 8, 9)] == [Status.OK, Status.OK, Status.FULL]
        assert [ch.try_recv() for _ in range(3)] == [(Status.OK, 7), (Status.OK, 8), (Status.EMPTY, 0)]
    finally:
        assert ch.destroy() == Status.OK


@pytest.mark.prop("H1")
def test_H1_null_path(lib):
    st, name, err = lib.plugin_load(None)
    assert st == Status.EINVAL and "NULL" in err


@pytest.mark.prop("H2")
def test_H2_valid_plugin_registers_and_works(lib, good_loaded):
    st, name, err = good_loaded
    assert st == Status.OK, f"loading the valid fixture failed: {err}"
    assert name == f"fixture-tiny-{PID}"
    assert lib.impls().count(name) == 1, "the plug-in is not listed in the registry"
    assert lib.caps(name) == Caps.BOUNDED | Caps.MPMC | Caps.CLOSE | Caps.LEN
    assert "fixture" in lib.description(name)
    s, ch = lib.create(name, 3)
    assert s == Status.OK
    try:
        assert ch.impl_name() == name
        assert [ch.try_send(v) for v in (1, 2, 3, 4)] == [Status.OK] * 3 + [Status.FULL]
        assert ch.try_recv() == (Status.OK, 1)
        # undeclared capabilities are refused by the shared layer, not passed on
        assert ch.send(5) == Status.UNSUPPORTED, "a blocking send on an implementation without 'blocking'"
        assert ch.recv_timeout(0.01)[0] == Status.UNSUPPORTED
        assert lib.create(name, 0)[0] == Status.UNSUPPORTED
        assert lib.create(name, chanlib.UNBOUNDED)[0] == Status.UNSUPPORTED
    finally:
        assert ch.destroy() == Status.OK
    assert ch.undelivered == [2, 3]
