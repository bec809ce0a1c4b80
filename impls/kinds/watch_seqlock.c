/*
 * watch seqlock: the value behind a sequence lock, so that readers never write
 * shared memory (a config read on every request costs three loads, and readers do not bounce a cache line between cores); receivers waiting for
 * a change park on a futex event count (kind_futex.h), which the writer signals
 * without a system call when nobody sleeps. The writer never blocks on a
 * reader.
 *
 * Sources: the seqlock is Linux's seqcount (include/linux/seqlock.h), written
 * with C11 atomics as H.-J. Boehm shows ("Can Seqlocks Get Along with
 * Programming Language Memory Models?", MSPC 2012): with one data word, the
 * data is stored with release and loaded with acquire, so no fence is needed
 * (and ThreadSanitizer, which does not model fences, sees every ordering); the
 * version-per-send contract is tokio::sync::watch.
 *
 * Invariants:
 *   - seq is even when stable; version = seq / 2 counts the sends. A writer
 *     (send or close) makes it odd with a CAS from an even value, so writers
 *     exclude each other; send leaves it at seq + 2, close at seq (a close is
 *     not a new version).
 *   - closed is set by a writer holding the odd seq, so no send succeeds after
 *     it and every version published before it is visible to whoever reads it.
 *   - a receiver's seen is its owner's alone (one thread per receiver).
 *
 * Memory ordering:
 *   - writer: CAS seq even -> odd (acquire: it sees the previous writer's
 *     stores), value (release: the odd seq is ordered before it), seq = even
 *     (release).
 *   - reader: s1 = seq (acquire), value (acquire), s2 = seq (relaxed, but after
 *     the acquire); s1 == s2 and even means the value belongs to version s1 / 2
 *     (a value load that read a later writer's store synchronises with that
 *     writer, so s2 would see its odd seq).
 *   - closed: stored with release while the writer holds the odd seq; a reader
 *     loads closed (acquire) before the version, so "closed and nothing newer"
 *     means the final value has been seen (W2).
 * A writer preempted with an odd seq makes readers and other writers wait for
 * it (they spin, then yield): the price of a reader that takes no lock.
 */
#include <stdlib.h>

#include "chanbench/kinds_impl.h"
#include "kind_futex.h"

struct ws_chan {
	struct watch_base base;
	_Atomic uint64_t seq;
	_Atomic uintptr_t value;
	_Atomic uint32_t closed;
	struct kevent ev;
};

struct ws_rx {
	struct watch_rx_base base;
	uint64_t seen;
};

static chan_status ws_create(const struct watch_ops *ops, uintptr_t initial, struct watch_base **out)
{
	struct ws_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	atomic_init(&c->seq, 0);
	atomic_init(&c->value, initial);
	atomic_init(&c->closed, 0);
	kevent_init(&c->ev);
	*out = &c->base;
	return CHAN_OK;
}

static void ws_destroy(struct watch_base *w)
{
	free(w);
}

/* Take the writer side: seq even -> odd. Returns the even value taken. */
static uint64_t ws_write_begin(struct ws_chan *c)
{
	unsigned spins = 0;
	uint64_t s = atomic_load_explicit(&c->seq, memory_order_relaxed);
	for (;;) {
		if (!(s & 1) && atomic_compare_exchange_weak_explicit(&c->seq, &s, s + 1,
		                                                      memory_order_acquire,
		                                                      memory_order_relaxed))
			return s;
		kind_backoff(&spins);
		s = atomic_load_explicit(&c->seq, memory_order_relaxed);
	}
}

/* The latest value and its version (a seqlock read). */
static uint64_t ws_read(struct ws_chan *c, uintptr_t *v)
{
	unsigned spins = 0;
	for (;;) {
		uint64_t s1 = atomic_load_explicit(&c->seq, memory_order_acquire);
		if (!(s1 & 1)) {
			/* acquire: the second seq load cannot be answered before it */
			uintptr_t x = atomic_load_explicit(&c->value, memory_order_acquire);
			if (atomic_load_explicit(&c->seq, memory_order_relaxed) == s1) {
				*v = x;
				return s1 / 2;
			}
		}
		kind_backoff(&spins);
	}
}

static chan_status ws_subscribe(struct watch_base *w, struct watch_rx_base **out)
{
	struct ws_chan *c = (struct ws_chan *)w;
	if (atomic_load_explicit(&c->closed, memory_order_acquire))
		return CHAN_CLOSED;
	struct ws_rx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	rx->base.w = w;
	uintptr_t ignored;
	rx->seen = ws_read(c, &ignored); /* a new receiver has seen the current value */
	*out = &rx->base;
	return CHAN_OK;
}

static void ws_unsubscribe(struct watch_rx_base *rx)
{
	free(rx);
}

static chan_status ws_send(struct watch_base *w, uintptr_t v)
{
	struct ws_chan *c = (struct ws_chan *)w;
	uint64_t s = ws_write_begin(c);
	if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
		atomic_store_explicit(&c->seq, s, memory_order_release);
		return CHAN_CLOSED;
	}
	/* release: a reader that acquires the new value sees the odd seq before it */
	atomic_store_explicit(&c->value, v, memory_order_release);
	atomic_store_explicit(&c->seq, s + 2, memory_order_release); /* publishes version s/2 + 1 */
	kevent_signal(&c->ev);
	return CHAN_OK;
}

static void ws_borrow(struct watch_rx_base *r, uintptr_t *v, uint64_t *version)
{
	*version = ws_read((struct ws_chan *)r->w, v);
}

/* One look: CHAN_OK (newer version taken), CHAN_CLOSED, or CHAN_EMPTY. */
static chan_status ws_try(struct ws_chan *c, struct ws_rx *rx, uintptr_t *v)
{
	bool closed = atomic_load_explicit(&c->closed, memory_order_acquire);
	uintptr_t x;
	uint64_t ver = ws_read(c, &x);
	if (ver != rx->seen) {
		rx->seen = ver;
		*v = x;
		return CHAN_OK;
	}
	return closed ? CHAN_CLOSED : CHAN_EMPTY;
}

static chan_status ws_changed(struct watch_rx_base *r, uintptr_t *v, chan_deadline dl)
{
	struct ws_rx *rx = (struct ws_rx *)r;
	struct ws_chan *c = (struct ws_chan *)r->w;
	for (unsigned spins = 0;; spins++) {
		chan_status st = ws_try(c, rx, v);
		if (st != CHAN_EMPTY)
			return st;
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		if (spins < KIND_SPIN) {
			cpu_relax();
			continue;
		}
		uint32_t key = kevent_prepare(&c->ev);
		st = ws_try(c, rx, v);
		if (st != CHAN_EMPTY)
			return st;
		bool in_time = kevent_wait(&c->ev, key, dl);
		if (!in_time) {
			st = ws_try(c, rx, v); /* one last look (T2) */
			return st == CHAN_EMPTY ? CHAN_TIMEOUT : st;
		}
	}
}

static chan_status ws_close(struct watch_base *w)
{
	struct ws_chan *c = (struct ws_chan *)w;
	uint64_t s = ws_write_begin(c);
	bool was = atomic_load_explicit(&c->closed, memory_order_relaxed);
	atomic_store_explicit(&c->closed, 1, memory_order_release);
	atomic_store_explicit(&c->seq, s, memory_order_release); /* no new version */
	if (was)
		return CHAN_ALREADY_CLOSED;
	kevent_signal(&c->ev);
	return CHAN_OK;
}

const struct watch_ops watch_seqlock_ops = {
	.abi_version = KIND_ABI_VERSION,
	.size = sizeof(struct watch_ops),
	.name = "seqlock",
	.description = "seqlock value: readers take no lock and write nothing shared; futex event count for waiting",
	.caps = KIND_CAPS_FULL | KIND_CAP_LOCKFREE_RECV,
	.create = ws_create,
	.destroy = ws_destroy,
	.subscribe = ws_subscribe,
	.unsubscribe = ws_unsubscribe,
	.send = ws_send,
	.borrow = ws_borrow,
	.changed = ws_changed,
	.close = ws_close,
};
