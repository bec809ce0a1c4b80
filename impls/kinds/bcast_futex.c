/*
 * bcast futex: a broadcast channel whose receivers take no lock. A ring of
 * `cap` slots, each a seqlock around one word; a sender writes the message of
 * position p into slot p % cap, then publishes tail = p + 1. Every receiver
 * keeps its own next position and reads slots without writing any shared
 * memory, so receivers never slow each other or the sender down (B2: lag is
 * per receiver). Senders serialise on a futex lock word (the critical section
 * is one slot write); receivers that find nothing park on an event count
 * (kind_futex.h), so an uncontended send makes no system call.
 *
 * Sources: the per-slot sequence numbers that tell a reader whether the slot
 * still holds the position it wants are the idea of LMAX's Disruptor and of
 * tokio's broadcast (which uses a lock per slot instead); the seqlock in C11
 * atomics follows H.-J. Boehm, "Can Seqlocks Get Along with Programming Language
 * Memory Models?" (MSPC 2012): with one data word, the data itself can be
 * stored with release and loaded with acquire, so no fence is needed (and
 * ThreadSanitizer, which does not model fences, sees every ordering).
 *
 * Invariants:
 *   - slot[p % cap].seq is 2p+2 while it holds position p, 2p+1 while the
 *     message of p is being written; it only grows.
 *   - tail only grows; positions < tail are written (their slot's seq >= 2p+2);
 *     the retained ones are max(0, tail-cap) .. tail-1.
 *   - closed is set under the lock, so no send succeeds after it, and every
 *     tail value published before it is visible to whoever reads closed.
 *
 * Memory ordering:
 *   - writer: seq = 2p+1 (relaxed), value (release: the odd seq is ordered
 *     before it), seq = 2p+2 (release), tail = p+1 (release). A reader that
 *     acquires tail > p sees seq >= 2p+2 in slot p % cap.
 *   - reader: s1 = seq (acquire), value (acquire), s2 = seq (relaxed, but after
 *     the acquire); s1 == s2 == 2p+2 means the value is p's: had the value load
 *     read a later writer's store, it would have synchronised with that writer,
 *     whose odd seq s2 would then see; and s1's acquire of 2p+2 rules out an
 *     earlier writer's value (Boehm's argument).
 *   - closed: stored with release after the last tail store; a reader loads
 *     closed (acquire) before tail, so "closed and pos == tail" means drained.
 *
 * Lag: a receiver at pos with tail - pos > cap skips to tail - cap and counts
 * the skipped positions; if the slot it then reads was overwritten meanwhile
 * (seq above 2p+2), it re-reads tail and skips again. The count it reports is
 * exactly the positions it skipped, so received + missed == sent.
 */
#include <stdlib.h>

#include "chanbench/kinds_impl.h"
#include "kind_futex.h"

struct bslot {
	_Atomic uint64_t seq;
	_Atomic uintptr_t val;
};

struct bf_chan {
	struct bcast_base base;
	size_t cap;
	struct bslot *ring;
	_Atomic uint32_t lock; /* senders, close, subscribe */
	_Atomic uint32_t closed;
	/* Receivers poll tail and the event count; keep them off the writers' lock line. */
	char pad[64];
	_Atomic uint64_t tail;
	struct kevent ev;
};

struct bf_rx {
	struct bcast_rx_base base;
	uint64_t pos; /* the next position this receiver reads; its owner's alone */
};

static chan_status bf_create(const struct bcast_ops *ops, size_t cap, struct bcast_base **out)
{
	struct bf_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->ring = calloc(cap, sizeof *c->ring);
	if (c->ring == NULL) {
		free(c);
		return CHAN_ENOMEM;
	}
	c->base.ops = ops;
	c->cap = cap;
	for (size_t i = 0; i < cap; i++) {
		atomic_init(&c->ring[i].seq, 0);
		atomic_init(&c->ring[i].val, 0);
	}
	atomic_init(&c->lock, 0);
	atomic_init(&c->closed, 0);
	atomic_init(&c->tail, 0);
	kevent_init(&c->ev);
	*out = &c->base;
	return CHAN_OK;
}

static void bf_destroy(struct bcast_base *b)
{
	struct bf_chan *c = (struct bf_chan *)b;
	free(c->ring);
	free(c);
}

static chan_status bf_subscribe(struct bcast_base *b, struct bcast_rx_base **out)
{
	struct bf_chan *c = (struct bf_chan *)b;
	struct bf_rx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	rx->base.b = b;
	/* Under the senders' lock: the new receiver starts exactly between two sends. */
	futex_lock_take(&c->lock);
	bool closed = atomic_load_explicit(&c->closed, memory_order_relaxed);
	rx->pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
	futex_lock_release(&c->lock);
	if (closed) {
		free(rx);
		return CHAN_CLOSED;
	}
	*out = &rx->base;
	return CHAN_OK;
}

static void bf_unsubscribe(struct bcast_rx_base *rx)
{
	free(rx);
}

static chan_status bf_send(struct bcast_base *b, uintptr_t msg)
{
	struct bf_chan *c = (struct bf_chan *)b;
	futex_lock_take(&c->lock);
	if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
		futex_lock_release(&c->lock);
		return CHAN_CLOSED;
	}
	uint64_t pos = atomic_load_explicit(&c->tail, memory_order_relaxed);
	struct bslot *s = &c->ring[pos % c->cap];
	atomic_store_explicit(&s->seq, 2 * pos + 1, memory_order_relaxed);
	/* release: a reader that acquires the new value sees the odd seq before it */
	atomic_store_explicit(&s->val, msg, memory_order_release);
	atomic_store_explicit(&s->seq, 2 * pos + 2, memory_order_release); /* publishes the value */
	atomic_store_explicit(&c->tail, pos + 1, memory_order_release);    /* publishes the slot */
	futex_lock_release(&c->lock);
	kevent_signal(&c->ev);
	return CHAN_OK;
}

/* One attempt: CHAN_OK (a message), CHAN_CLOSED (closed and drained) or
 * CHAN_EMPTY (nothing yet). Adds skipped positions to *lost. */
static chan_status bf_try(struct bf_chan *c, struct bf_rx *rx, uintptr_t *msg, uint64_t *lost)
{
	unsigned spins = 0;
	for (;;) {
		bool closed = atomic_load_explicit(&c->closed, memory_order_acquire);
		uint64_t tail = atomic_load_explicit(&c->tail, memory_order_acquire);
		if (rx->pos >= tail)
			return closed ? CHAN_CLOSED : CHAN_EMPTY;
		if (tail - rx->pos > c->cap) {
			/* B2: the oldest retained position is tail - cap */
			*lost += tail - c->cap - rx->pos;
			rx->pos = tail - c->cap;
		}
		struct bslot *s = &c->ring[rx->pos % c->cap];
		uint64_t want = 2 * rx->pos + 2;
		uint64_t s1 = atomic_load_explicit(&s->seq, memory_order_acquire);
		if (s1 == want) {
			/* acquire: the second seq load cannot be answered before it */
			uintptr_t v = atomic_load_explicit(&s->val, memory_order_acquire);
			if (atomic_load_explicit(&s->seq, memory_order_relaxed) == want) {
				*msg = v;
				rx->pos++;
				return CHAN_OK;
			}
		}
		/* Overwritten by a newer position (or being overwritten): the sender
		 * is a few instructions away from publishing a tail that shows the
		 * lag; re-read it. */
		kind_backoff(&spins);
	}
}

static chan_status bf_recv(struct bcast_rx_base *r, uintptr_t *msg, uint64_t *missed,
                           chan_deadline dl)
{
	struct bf_rx *rx = (struct bf_rx *)r;
	struct bf_chan *c = (struct bf_chan *)r->b;
	uint64_t lost = 0;
	chan_status st;
	for (unsigned spins = 0;; spins++) {
		st = bf_try(c, rx, msg, &lost);
		if (st != CHAN_EMPTY)
			break;
		if (chan_deadline_passed(dl)) {
			st = chan_deadline_fail(dl, CHAN_EMPTY);
			break;
		}
		if (spins < KIND_SPIN) {
			cpu_relax();
			continue;
		}
		uint32_t key = kevent_prepare(&c->ev);
		st = bf_try(c, rx, msg, &lost);
		if (st != CHAN_EMPTY)
			break;
		bool in_time = kevent_wait(&c->ev, key, dl);
		if (!in_time) {
			/* the deadline passed: one last look (T2), then TIMEOUT */
			st = bf_try(c, rx, msg, &lost);
			if (st == CHAN_EMPTY)
				st = CHAN_TIMEOUT;
			break;
		}
	}
	*missed = lost;
	return st;
}

static chan_status bf_close(struct bcast_base *b)
{
	struct bf_chan *c = (struct bf_chan *)b;
	futex_lock_take(&c->lock);
	bool was = atomic_load_explicit(&c->closed, memory_order_relaxed);
	atomic_store_explicit(&c->closed, 1, memory_order_release);
	futex_lock_release(&c->lock);
	if (was)
		return CHAN_ALREADY_CLOSED;
	kevent_signal(&c->ev);
	return CHAN_OK;
}

const struct bcast_ops bcast_futex_ops = {
	.abi_version = KIND_ABI_VERSION,
	.size = sizeof(struct bcast_ops),
	.name = "futex",
	.description = "seqlock slots, lock-free receivers, senders on a futex lock, futex event count for parking",
	.caps = KIND_CAPS_FULL | KIND_CAP_LOCKFREE_RECV,
	.create = bf_create,
	.destroy = bf_destroy,
	.subscribe = bf_subscribe,
	.unsubscribe = bf_unsubscribe,
	.send = bf_send,
	.recv = bf_recv,
	.close = bf_close,
};
