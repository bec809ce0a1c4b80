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
 *
 * Select and poll fds (ABI v2, chan_waiter.h): the registered select/poll-fd
 * waiters are two struct chan_waiter_list (selq[SEL_RECV], selq[SEL_SEND]),
 * guarded by the lock word like everything else, so a claim and its complete
 * are never interleaved with an unregister, and a notify never touches a
 * waiter whose selector already left. The plain operations look at a list's
 * count (one load, under the lock they hold anyway) and do nothing more while
 * no select is registered: the fast path stays as it was (no syscall, M1).
 *   - buffered/unbounded: waiters are observers. A send that makes the buffer
 *     non-empty notifies RECV waiters; a recv that makes a full buffer non-full
 *     notifies SEND waiters; close notifies all. Transitions suffice because a
 *     selector checks ready() after registering, under this same lock.
 *   - rendezvous: after the parked counterparts (they came first), a send claims
 *     the oldest claimable RECV waiter and hands it the value; a recv claims a
 *     SEND waiter and takes its value (never once closed: a closed channel
 *     takes no value). A sender about to park notifies RECV waiters, a receiver
 *     SEND waiters (pollfd observers and selectors wait for exactly that); a
 *     newly registered select waiter notifies the other side's observers (a
 *     try on that side would now claim it).
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
#include "chanbench/chan_waiter.h"
#include "futex_lock.h"
#include "waitq.h"
#include "word_ring.h"

enum { SPIN_PARK = 200 }; /* spins on a waiter's state before sleeping */

/* ---- waiters ---- */

enum { W_PENDING = 0, W_DONE = 1, W_CLOSED = 2, W_SLEEPING = 4 };

struct waiter {
	struct waitq_node node; /* first: a waitq_node * is a struct waiter * */
	uintptr_t msg;
	_Atomic uint32_t state; /* W_PENDING [| W_SLEEPING] until a waker sets DONE/CLOSED */
};

enum { SEL_RECV = 0, SEL_SEND = 1 };

struct futex_chan {
	struct chan_base base;
	_Atomic uint32_t lock;
	bool unbounded;
	bool rendezvous; /* cap 0: every message is a hand-off */
	bool closed;
	size_t cap;
	struct word_ring ring;
	struct waitq sendq, recvq;
	struct chan_waiter_list selq[2]; /* select/poll-fd waiters, by SEL_RECV/SEL_SEND */
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
	futex_lock_release(&c->lock);

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
			futex_lock_take(&c->lock);
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
	futex_lock_take(&c->lock);
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
	c->rendezvous = (cap == 0);
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

/* ---- select waiters (chan_waiter.h); the lock is held for all of these ---- */

static struct chan_waiter_list *selq_of(struct futex_chan *c, int dir)
{
	return &c->selq[dir == CHAN_DIR_SEND ? SEL_SEND : SEL_RECV];
}

/* Notify every waiter of l: one load when none is registered (the fast path). */
static inline void selq_notify(struct chan_waiter_list *l)
{
	if (l->n != 0)
		chan_waiter_list_notify_all(l);
}

/* Notify only the observers (poll fds) of l: selectors are left alone. */
static void selq_notify_observers(struct chan_waiter_list *l)
{
	for (struct chan_waiter *w = l->head; w; w = w->next)
		if (w->flags & CHAN_WAITER_OBSERVE)
			chan_waiter_notify(w);
}

/* ---- the steps every operation is made of (lock held) ---- */

/* Send msg without waiting if anything allows it: hand it to the oldest parked
 * receiver, or (rendezvous) to the oldest claimable select receiver, or buffer
 * it. CHAN_OK, CHAN_FULL (nothing possible now) or CHAN_ENOMEM (unbounded ring
 * could not grow). Precondition: not closed. */
static chan_status put_now(struct futex_chan *c, uintptr_t msg)
{
	struct waiter *r = waiter_pop(&c->recvq);
	if (r != NULL) {
		r->msg = msg;
		waiter_finish(r, W_DONE);
		return CHAN_OK;
	}
	if (c->rendezvous) {
		struct chan_waiter *w;
		if (c->selq[SEL_RECV].n == 0 || (w = chan_waiter_list_claim(&c->selq[SEL_RECV])) == NULL)
			return CHAN_FULL;
		chan_waiter_complete(w, msg); /* its select returns this value */
		return CHAN_OK;
	}
	if (!c->unbounded && c->ring.count >= c->cap)
		return CHAN_FULL;
	if (c->ring.count == c->ring.size && !word_ring_grow(&c->ring))
		return CHAN_ENOMEM;
	word_ring_push(&c->ring, msg);
	/* empty -> non-empty: recv cases became ready (later pushes need no notify:
	 * the waiters are told already, or registered since and checked ready()) */
	if (c->selq[SEL_RECV].n != 0 && c->ring.count == 1)
		chan_waiter_list_notify_all(&c->selq[SEL_RECV]);
	return CHAN_OK;
}

/* Take the oldest message without waiting if there is one: from the buffer
 * (whose freed slot goes to the oldest parked sender, Go's order), from a parked
 * sender (rendezvous), or from a claimable select sender (rendezvous, and not
 * once closed: a send case on a closed channel must report CLOSED, not OK). */
static bool take_now(struct futex_chan *c, uintptr_t *msg)
{
	struct waiter *s;
	if (c->ring.count > 0) {
		*msg = word_ring_pop(&c->ring);
		if ((s = waiter_pop(&c->sendq)) != NULL) {
			word_ring_push(&c->ring, s->msg);
			waiter_finish(s, W_DONE);
		} else if (c->selq[SEL_SEND].n != 0 && c->ring.count + 1 == c->cap) {
			/* full -> not full (never for unbounded: cap is 0 there) */
			chan_waiter_list_notify_all(&c->selq[SEL_SEND]);
		}
		return true;
	}
	if ((s = waiter_pop(&c->sendq)) != NULL) {
		*msg = s->msg;
		waiter_finish(s, W_DONE);
		return true;
	}
	if (c->rendezvous && !c->closed && c->selq[SEL_SEND].n != 0) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->selq[SEL_SEND]);
		if (w != NULL) {
			*msg = w->msg;
			chan_waiter_complete(w, 0);
			return true;
		}
	}
	return false;
}

/* Park as a sender of msg until a receiver took it, close, or the deadline. */
static chan_status park_send(struct futex_chan *c, uintptr_t msg, chan_deadline dl)
{
	/* rendezvous: a recv would now succeed; recv cases and poll fds wait for
	 * exactly that (buffered: the buffer is full, they were told already) */
	if (c->rendezvous)
		selq_notify(&c->selq[SEL_RECV]);
	struct waiter w = {.msg = msg};
	return status_of(park(c, &c->sendq, &w, dl));
}

/* Park as a receiver until a sender handed a message over, close, or the deadline. */
static chan_status park_recv(struct futex_chan *c, uintptr_t *msg, chan_deadline dl)
{
	if (c->rendezvous)
		selq_notify(&c->selq[SEL_SEND]);
	struct waiter w = {0};
	chan_status st = status_of(park(c, &c->recvq, &w, dl));
	if (st == CHAN_OK)
		*msg = w.msg;
	return st;
}

static chan_status futex_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	chan_status st;
	futex_lock_take(&c->lock);
	if (c->closed)
		st = CHAN_CLOSED;
	else if ((st = put_now(c, msg)) != CHAN_FULL)
		; /* sent (or out of memory) */
	else if (chan_deadline_passed(dl))
		st = chan_deadline_fail(dl, CHAN_FULL);
	else
		st = park_send(c, msg, dl);
	futex_lock_release(&c->lock);
	return st;
}

static chan_status futex_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	chan_status st = CHAN_OK;
	futex_lock_take(&c->lock);
	if (take_now(c, msg))
		st = CHAN_OK;
	else if (c->closed)
		st = CHAN_CLOSED;
	else if (chan_deadline_passed(dl))
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	else
		st = park_recv(c, msg, dl);
	futex_lock_release(&c->lock);
	return st;
}

/* Batches: as many messages as the channel allows per lock acquisition; wait
 * (as one send would) only for the message that finds no room. */
static chan_status futex_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n,
                                    size_t *done, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	chan_status st = CHAN_OK;
	size_t i = 0;
	futex_lock_take(&c->lock);
	while (i < n) {
		if (c->closed) {
			st = CHAN_CLOSED;
			break;
		}
		while (i < n && (st = put_now(c, msgs[i])) == CHAN_OK)
			i++;
		if (i == n || st == CHAN_ENOMEM)
			break;
		/* msgs[i] found no room: wait for it like a send would */
		if (chan_deadline_passed(dl)) {
			st = chan_deadline_fail(dl, CHAN_FULL);
			break;
		}
		if ((st = park_send(c, msgs[i], dl)) != CHAN_OK)
			break;
		i++;
	}
	futex_lock_release(&c->lock);
	*done = i;
	return st;
}

/* Wait like a recv for the first message, then take whatever else is ready. */
static chan_status futex_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                    chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	chan_status st = CHAN_OK;
	size_t k = 0;
	futex_lock_take(&c->lock);
	if (take_now(c, &msgs[0]))
		k = 1;
	else if (c->closed)
		st = CHAN_CLOSED;
	else if (chan_deadline_passed(dl))
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	else if ((st = park_recv(c, &msgs[0], dl)) == CHAN_OK)
		k = 1;
	if (k == 1)
		while (k < n && take_now(c, &msgs[k]))
			k++;
	futex_lock_release(&c->lock);
	*done = k;
	return st;
}

static chan_status futex_close(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	futex_lock_take(&c->lock);
	if (c->closed) {
		futex_lock_release(&c->lock);
		return CHAN_ALREADY_CLOSED;
	}
	c->closed = true;
	struct waiter *w;
	while ((w = waiter_pop(&c->recvq)) != NULL)
		waiter_finish(w, W_CLOSED);
	while ((w = waiter_pop(&c->sendq)) != NULL)
		waiter_finish(w, W_CLOSED);
	/* every case on a closed channel is ready; the selectors unregister */
	selq_notify(&c->selq[SEL_RECV]);
	selq_notify(&c->selq[SEL_SEND]);
	futex_lock_release(&c->lock);
	return CHAN_OK;
}

static size_t futex_len(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	futex_lock_take(&c->lock);
	size_t n = c->ring.count;
	futex_lock_release(&c->lock);
	return n;
}

/* ---- select hooks (chan_impl.h, chan_waiter.h) ---- */

static chan_status futex_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct futex_chan *c = (struct futex_chan *)b;
	futex_lock_take(&c->lock);
	chan_waiter_list_push(selq_of(c, w->dir), w);
	/* rendezvous: a select's offer (send case) or wish (recv case) lets a try on
	 * the other side succeed by claiming it, which poll fds watching that side
	 * must hear of. Selectors there are not notified: they see this waiter in
	 * their ready() check or claim it in their next try. */
	if (c->rendezvous && !(w->flags & CHAN_WAITER_OBSERVE))
		selq_notify_observers(selq_of(c, w->dir == CHAN_DIR_SEND ? CHAN_DIR_RECV : CHAN_DIR_SEND));
	futex_lock_release(&c->lock);
	return CHAN_OK;
}

static void futex_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct futex_chan *c = (struct futex_chan *)b;
	futex_lock_take(&c->lock);
	chan_waiter_list_remove(selq_of(c, w->dir), w); /* no-op if a claim unlinked it */
	futex_lock_release(&c->lock);
}

/* Whether a CHAN_NOWAIT op in direction dir would not report FULL/EMPTY now;
 * mirrors put_now/take_now without doing anything. chan_waiter_claimable
 * leaves out the calling thread's own select waiters (S5). */
static int futex_ready(struct chan_base *b, int dir)
{
	struct futex_chan *c = (struct futex_chan *)b;
	bool r;
	futex_lock_take(&c->lock);
	if (c->closed)
		r = true;
	else if (dir == CHAN_DIR_RECV)
		r = c->ring.count > 0 || !waitq_empty(&c->sendq) ||
		    (c->rendezvous && chan_waiter_list_has_claimable(&c->selq[SEL_SEND]));
	else if (!waitq_empty(&c->recvq))
		r = true;
	else if (c->rendezvous)
		r = chan_waiter_list_has_claimable(&c->selq[SEL_RECV]);
	else
		r = c->unbounded || c->ring.count < c->cap;
	futex_lock_release(&c->lock);
	return r;
}

const struct chan_ops chan_futex_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "futex",
	.description = "C11 atomics + Linux futex: futex lock word, per-waiter futex parking, no syscall when uncontended",
	.caps = CHAN_CAPS_FULL | CHAN_CAP_SELECT | CHAN_CAP_BATCH,
	.create = futex_create,
	.destroy = futex_destroy,
	.send = futex_send,
	.recv = futex_recv,
	.close = futex_close,
	.len = futex_len,
	.register_waiter = futex_register_waiter,
	.unregister_waiter = futex_unregister_waiter,
	.ready = futex_ready,
	.send_batch = futex_send_batch,
	.recv_batch = futex_recv_batch,
};
