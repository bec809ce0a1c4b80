/*
 * futex: a channel built from C11 atomics and Linux futexes only: no pthread
 * mutex or condition variable anywhere. A three-state futex lock word guards a
 * ring buffer and FIFO queues of parked senders and receivers; each parked
 * thread spins briefly on its own state word, then sleeps on it with
 * FUTEX_WAIT_BITSET (absolute CLOCK_MONOTONIC deadline).
 *
 * Sources: the lock is mutex "take 3" of Ulrich Drepper, "Futexes Are Tricky"
 * (2011), with a bounded spin before the first sleep; the channel logic
 * (direct hand-off to a parked receiver, a freed slot refilled from the oldest
 * parked sender, rendezvous as a pure hand-off) is Go's runtime channel
 * (src/runtime/chan.go); the "exchange the state, wake only if the sleeper bit
 * was set" hand-off follows the parking protocol of crossbeam's context/waker.
 *
 * No system call when uncontended: taking a free lock is one CAS, releasing an
 * uncontended one is one exchange that finds no waiter; a send that finds room
 * or a parked receiver, and a recv that finds a message, never sleep; a waker
 * calls FUTEX_WAKE only for a waiter that announced it is going to sleep.
 *
 * Invariants (under the lock):
 *   - At least one of sendq and recvq is empty.
 *   - recvq non-empty implies count == 0; sendq non-empty implies the buffer is
 *     full (cap > 0) or cap == 0; unbounded channels never have parked senders.
 *   - closed implies both queues are empty.
 *   - A parked waiter's state leaves PENDING exactly once, set by the thread
 *     that unlinked it (holding the lock), with one atomic exchange; after that
 *     exchange the waker never touches the waiter record again (it may be gone:
 *     records live on the waiting thread's stack).
 *
 * Memory ordering:
 *   - lock: acquire on the CAS/exchange that takes it, release on the exchange
 *     that frees it; everything guarded is published by the release.
 *   - hand-off: the waker writes w->msg, then exchanges w->state with release;
 *     the waiter reads the state with acquire before reading w->msg.
 *   - sleeper bit: the waiter sets W_SLEEPING with a CAS on the same word the
 *     waker exchanges, so exactly one of two orders happens: the CAS sees the
 *     final state (no sleep), or the exchange returns the bit (wake issued).
 *     FUTEX_WAIT compares the word to the value with the bit, so a wake between
 *     the CAS and the sleep makes the wait return at once (no lost wake-up).
 *   - a FUTEX_WAKE on a record that its owner has already left is harmless: at
 *     worst a spurious wake-up of an unrelated futex waiter, which every futex
 *     wait here tolerates by re-checking its word.
 *
 * Timeouts: a sleeper whose deadline passes takes the lock and looks at its
 * state; if still pending it unlinks itself (no trace left, T4); if a waker got
 * there first, the operation completed and reports success.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"
#include "waitq.h"
#include "word_ring.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

enum { SPIN_LOCK = 100, SPIN_PARK = 200 };

/* ---- futex system calls: the only platform-specific part. ---- */

static void futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* Sleep while *addr == val, until woken or the deadline (CHAN_FOREVER: none).
 * Returns false once the deadline has passed. */
static bool futex_wait(_Atomic uint32_t *addr, uint32_t val, chan_deadline dl)
{
	if (dl == CHAN_FOREVER) {
		syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
		return true;
	}
	struct timespec ts = chan_deadline_timespec(dl);
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, &ts,
	                 NULL, FUTEX_BITSET_MATCH_ANY);
	return !(r == -1 && errno == ETIMEDOUT);
}

/* ---- the lock: 0 free, 1 held, 2 held with (possible) sleepers. ---- */

static void lock_take(_Atomic uint32_t *l)
{
	uint32_t c = 0;
	if (atomic_compare_exchange_strong_explicit(l, &c, 1, memory_order_acquire,
	                                            memory_order_relaxed))
		return;
	for (int i = 0; i < SPIN_LOCK; i++) {
		cpu_relax();
		c = 0;
		if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(l, &c, 1, memory_order_acquire,
		                                          memory_order_relaxed))
			return;
	}
	/* Announce a sleeper (2); whoever releases a 2 wakes one. */
	while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
		futex_wait(l, 2, CHAN_FOREVER);
}

static void lock_release(_Atomic uint32_t *l)
{
	if (atomic_exchange_explicit(l, 0, memory_order_release) == 2)
		futex_wake(l, 1);
}

/* ---- waiters ---- */

enum { W_PENDING = 0, W_DONE = 1, W_CLOSED = 2, W_SLEEPING = 4 };

struct waiter {
	struct waitq_node node; /* first: a waitq_node * is a struct waiter * */
	uintptr_t msg;
	_Atomic uint32_t state; /* W_PENDING [| W_SLEEPING] until a waker sets DONE/CLOSED */
};

struct futex_chan {
	struct chan_base base;
	_Atomic uint32_t lock;
	bool unbounded;
	bool closed;
	size_t cap;
	struct word_ring ring;
	struct waitq sendq, recvq;
};

static struct waiter *waiter_pop(struct waitq *q)
{
	return (struct waiter *)waitq_pop(q);
}

/* Complete a dequeued waiter. Precondition: lock held, w unlinked. After the
 * exchange, w may vanish: only its address is used, for the wake. */
static void waiter_finish(struct waiter *w, uint32_t final)
{
	_Atomic uint32_t *addr = &w->state;
	/* release: publishes w->msg (hand-off) to the waiter's acquire load */
	if (atomic_exchange_explicit(addr, final, memory_order_release) & W_SLEEPING)
		futex_wake(addr, 1);
}

/* Park on q until completed or the deadline. Precondition: lock held; returns
 * with it held. Returns W_DONE, W_CLOSED, or W_PENDING for a timeout (then w
 * has been unlinked). */
static uint32_t park(struct futex_chan *c, struct waitq *q, struct waiter *w, chan_deadline dl)
{
	atomic_store_explicit(&w->state, W_PENDING, memory_order_relaxed);
	waitq_push(q, &w->node);
	lock_release(&c->lock);

	uint32_t s;
	for (int i = 0; i < SPIN_PARK; i++) {
		s = atomic_load_explicit(&w->state, memory_order_acquire);
		if ((s & ~(uint32_t)W_SLEEPING) != W_PENDING)
			goto done;
		cpu_relax();
	}
	for (;;) {
		s = W_PENDING;
		/* announce the sleep on the word the waker exchanges */
		if (!atomic_compare_exchange_strong_explicit(&w->state, &s, W_PENDING | W_SLEEPING,
		                                             memory_order_acquire,
		                                             memory_order_acquire) &&
		    s != (W_PENDING | W_SLEEPING))
			goto done; /* completed before we slept */
		if (!futex_wait(&w->state, W_PENDING | W_SLEEPING, dl)) {
			/* deadline passed: decide under the lock */
			lock_take(&c->lock);
			s = atomic_load_explicit(&w->state, memory_order_acquire);
			if ((s & ~(uint32_t)W_SLEEPING) == W_PENDING) {
				waitq_unlink(q, &w->node);
				return W_PENDING;
			}
			return s;
		}
		s = atomic_load_explicit(&w->state, memory_order_acquire);
		if ((s & ~(uint32_t)W_SLEEPING) != W_PENDING)
			goto done;
	}
done:
	lock_take(&c->lock);
	return s & ~(uint32_t)W_SLEEPING;
}

/* ---- operations ---- */

static chan_status futex_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct futex_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	c->unbounded = (cap == CHAN_UNBOUNDED);
	c->cap = c->unbounded ? 0 : cap;
	if (!word_ring_init(&c->ring, c->unbounded ? 64 : (cap > 0 ? cap : 1))) {
		free(c);
		return CHAN_ENOMEM;
	}
	atomic_init(&c->lock, 0);
	*out = &c->base;
	return CHAN_OK;
}

static void futex_destroy(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	word_ring_free(&c->ring);
	free(c);
}

static chan_status status_of(uint32_t s)
{
	return s == W_DONE ? CHAN_OK : s == W_CLOSED ? CHAN_CLOSED : CHAN_TIMEOUT;
}

static chan_status futex_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	chan_status st = CHAN_OK;
	lock_take(&c->lock);
	if (c->closed) {
		st = CHAN_CLOSED;
	} else if (!waitq_empty(&c->recvq)) {
		struct waiter *r = waiter_pop(&c->recvq);
		r->msg = msg;
		waiter_finish(r, W_DONE);
	} else if (c->unbounded || c->ring.count < c->cap) {
		if (c->ring.count == c->ring.size && !word_ring_grow(&c->ring))
			st = CHAN_ENOMEM;
		else
			word_ring_push(&c->ring, msg);
	} else if (chan_deadline_passed(dl)) {
		st = chan_deadline_fail(dl, CHAN_FULL);
	} else {
		struct waiter w = {.msg = msg};
		st = status_of(park(c, &c->sendq, &w, dl));
	}
	lock_release(&c->lock);
	return st;
}

static chan_status futex_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	chan_status st = CHAN_OK;
	lock_take(&c->lock);
	if (c->ring.count > 0) {
		*msg = word_ring_pop(&c->ring);
		struct waiter *s = waiter_pop(&c->sendq);
		if (s != NULL) {
			word_ring_push(&c->ring, s->msg);
			waiter_finish(s, W_DONE);
		}
	} else if (!waitq_empty(&c->sendq)) {
		struct waiter *s = waiter_pop(&c->sendq);
		*msg = s->msg;
		waiter_finish(s, W_DONE);
	} else if (c->closed) {
		st = CHAN_CLOSED;
	} else if (chan_deadline_passed(dl)) {
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	} else {
		struct waiter w = {0};
		st = status_of(park(c, &c->recvq, &w, dl));
		if (st == CHAN_OK)
			*msg = w.msg;
	}
	lock_release(&c->lock);
	return st;
}

static chan_status futex_close(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	lock_take(&c->lock);
	if (c->closed) {
		lock_release(&c->lock);
		return CHAN_ALREADY_CLOSED;
	}
	c->closed = true;
	struct waiter *w;
	while ((w = waiter_pop(&c->recvq)) != NULL)
		waiter_finish(w, W_CLOSED);
	while ((w = waiter_pop(&c->sendq)) != NULL)
		waiter_finish(w, W_CLOSED);
	lock_release(&c->lock);
	return CHAN_OK;
}

static size_t futex_len(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	lock_take(&c->lock);
	size_t n = c->ring.count;
	lock_release(&c->lock);
	return n;
}

const struct chan_ops chan_futex_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "futex",
	.description = "C11 atomics + Linux futex: futex lock word, per-waiter futex parking, no syscall when uncontended",
	.caps = CHAN_CAPS_FULL,
	.create = futex_create,
	.destroy = futex_destroy,
	.send = futex_send,
	.recv = futex_recv,
	.close = futex_close,
	.len = futex_len,
};
