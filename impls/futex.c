/*
 * futex: Go's runtime channel (src/runtime/chan.go) on C11 atomics and Linux
 * futexes only: no pthread mutex or condition variable anywhere. One futex
 * lock word guards a ring buffer and FIFO queues of parked senders and
 * receivers; a send that finds a parked receiver hands it the message directly,
 * a recv that frees a slot refills it from the oldest parked sender, and a
 * rendezvous (cap 0) is a pure hand-off.
 *
 * Why this shape, and what makes it fast (../shared/PERF-NOTES.md section 1c):
 *   - F4: a woken waiter returns with the result its waker handed it (w->msg
 *     and the final state, written under the waker's lock) and takes no lock:
 *     the lock is not a third party on the way back, and a ping-pong hop costs
 *     the lock line plus the waiter's own line. Only a timed-out waiter takes
 *     the lock, to see whether it was served after all or unlink itself.
 *   - F2: waiting is bounded spinning, then yielding, then sleeping, both for
 *     the lock (futex_lock.h) and for a parked waiter (park()). A parked
 *     waiter polls its own state word FUTEX_PARK_SPIN (32) times with one
 *     PAUSE in between (about 0.5 us on the 2-core build machine: a PAUSE is
 *     ~16 ns there; polling a line only the waker writes is free), then calls
 *     sched_yield() up to FUTEX_PARK_YIELDS (32) times (adaptive: fewer after
 *     long parks, see park_yields), then sleeps with
 *     FUTEX_WAIT. Measured (ping-pong, interleaved): with the machine
 *     oversubscribed, a longer spin only takes the CPU from the thread that
 *     would complete us (p50 grew 2x from 32 to 127 PAUSEs and 5x at 511);
 *     when both threads have a core, yield returns at once and costs little,
 *     while a sleep costs tens of us in this VM (a FUTEX_WAKE plus waking an
 *     idle vCPU), so a short spin must be backed by many yields, not a sleep.
 *     The waker makes FUTEX_WAKE only if the waiter announced its sleep
 *     (W_SLEEPING), and after releasing the lock, not inside it.
 *   - The lock (futex_lock.h) counts its sleepers: a release with nobody asleep
 *     is one fetch_sub and no system call, also after contention (Drepper's
 *     "mutex 2" stays at 2 and wakes on every later release).
 *   - F5: the ring is a power of two with free-running 32-bit head/tail
 *     indices and exact capacity accounting (count = tail - head, full when
 *     count == cap): a mask, no division, under the lock.
 *   - F1: the channel is allocated 64-byte aligned (aligned_alloc); the lock
 *     word, the ring header and the two wait-queue heads (circular lists, one
 *     pointer each) share line 0, so an operation writes one channel line; the
 *     select/poll-fd lists, which the fast path only reads (their counts),
 *     live on line 1.
 *   - F3 (direct hand-off vs "buffer it and wake the waiter to take it"):
 *     kept Go's direct hand-off. It is what makes ping-pong and rendezvous a
 *     single lock acquisition per hop, the linearizability model (the
 *     first waiting receiver gets the message) and F2 (a woken waiter keeps
 *     its place) hold by construction, and with spinning waiters the wake-up
 *     it costs is usually a store the waiter sees while spinning, not a
 *     system call. Not measured against the alternative yet: that is the
 *     next experiment for buffered spmc/mpmc, where a parked receiver still
 *     gets one message per hand-off.
 *
 * No system call when uncontended: taking a free lock is one CAS, releasing
 * it one fetch_sub; a send that finds room or a parked receiver, and a recv
 * that finds a message, never sleep; a waker calls FUTEX_WAKE only for a
 * waiter that announced it is going to sleep.
 *
 * Invariants (under the lock):
 *   - At least one of sendq and recvq is empty.
 *   - recvq non-empty implies count == 0; sendq non-empty implies the buffer is
 *     full (cap > 0) or cap == 0; unbounded channels never have parked senders.
 *   - closed implies both queues are empty.
 *   - A parked waiter's state leaves PENDING exactly once, set by the thread
 *     that unlinked it (holding the lock), with one atomic exchange; after that
 *     exchange the waker never touches the waiter record again (it may be gone:
 *     records live on the waiting thread's stack, and the waiter returns
 *     without the lock as soon as it sees the exchange).
 *
 * Memory ordering:
 *   - lock: acquire on the CAS that takes it, release on the fetch_sub that
 *     frees it; everything guarded is published by the release.
 *   - hand-off: the waker writes w->msg, then exchanges w->state with release;
 *     the waiter reads the state with acquire before reading w->msg. That
 *     pair, not the lock, is what the lock-free return of F4 relies on.
 *   - sleeper bit: the waiter sets W_SLEEPING with a CAS on the same word the
 *     waker exchanges, so exactly one of two orders happens: the CAS sees the
 *     final state (no sleep), or the exchange returns the bit (wake owed).
 *     FUTEX_WAIT compares the word to the value with the bit, so a wake between
 *     the CAS and the sleep makes the wait return at once (no lost wake-up).
 *   - the owed FUTEX_WAKE is made after the lock is released, when the record
 *     may already be gone: a FUTEX_WAKE on an address whose owner has left is
 *     harmless, at worst a spurious wake-up of a later futex wait on the same
 *     stack address, which every futex wait here (and the selector's)
 *     tolerates by re-checking its word.
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
 *
 * Batches take as many messages as possible per lock acquisition; one that
 * has to wait for a message parks like a single send/recv and takes the lock
 * again afterwards for the rest.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"
#include "chanbench/chan_waiter.h"
#include "futex_lock.h"

/* A parked waiter polls its state word FUTEX_PARK_SPIN times with a PAUSE in
 * between (about 16 ns each here), then calls sched_yield() up to
 * FUTEX_PARK_YIELDS times, then sleeps on the word. */
#ifndef FUTEX_PARK_SPIN
#define FUTEX_PARK_SPIN 32
#endif
#ifndef FUTEX_PARK_YIELDS
#define FUTEX_PARK_YIELDS 32
#endif

/* Adaptive yielding (as impls/ck/ck_wait.h does): the yield phase is worth it
 * only when the counterpart is about to act. Before a real idle period it
 * keeps the thread runnable while the other one finishes on the same CPU, the
 * load balancer moves it to the idle vCPU, and every later wake-up crosses
 * CPUs (an IPI to a halted vCPU: wakeup scenario p50 ~19 us against ~4 us).
 * So each thread's budget is FUTEX_PARK_YIELDS after a park shorter than
 * FUTEX_SHORT_PARK_NS and halves after each longer one. */
#ifndef FUTEX_SHORT_PARK_NS
#define FUTEX_SHORT_PARK_NS 100000
#endif
static _Thread_local unsigned park_yields = FUTEX_PARK_YIELDS;

#define LINE 64

/* ---- waiters ---- */

enum { W_PENDING = 0, W_DONE = 1, W_CLOSED = 2, W_SLEEPING = 4 };

/* A parked thread's record, on its own stack; linked in a circular doubly
 * linked queue whose head is one pointer in the channel's hot line. */
struct waiter {
	struct waiter *next, *prev;
	uintptr_t msg;
	_Atomic uint32_t state; /* W_PENDING [| W_SLEEPING] until a waker sets DONE/CLOSED */
};

static inline void wq_push(struct waiter **q, struct waiter *w)
{
	struct waiter *h = *q;
	if (h == NULL) {
		w->next = w->prev = w;
		*q = w;
		return;
	}
	struct waiter *t = h->prev;
	w->next = h;
	w->prev = t;
	t->next = w;
	h->prev = w;
}

static inline void wq_unlink(struct waiter **q, struct waiter *w)
{
	if (w->next == w) {
		*q = NULL;
		return;
	}
	w->prev->next = w->next;
	w->next->prev = w->prev;
	if (*q == w)
		*q = w->next;
}

/* The oldest waiter, unlinked; NULL if none. */
static inline struct waiter *wq_pop(struct waiter **q)
{
	struct waiter *w = *q;
	if (w != NULL)
		wq_unlink(q, w);
	return w;
}

enum { SEL_RECV = 0, SEL_SEND = 1 };

struct futex_chan {
	/* line 0: everything a send or recv reads or writes under the lock */
	struct chan_base base;
	_Atomic uint32_t lock;
	bool closed;
	bool rendezvous; /* cap 0: every message is a hand-off */
	bool unbounded;
	uint32_t cap;    /* bounded: capacity (<= CHAN_MAX_CAPACITY = 2^30) */
	uint32_t mask;   /* ring slots - 1 (a power of two) */
	uint32_t head;   /* free-running index of the oldest message */
	uint32_t tail;   /* free-running index of the next free slot; count = tail - head */
	uintptr_t *buf;
	struct waiter *recvq, *sendq;
	/* line 1: select/poll-fd waiters (read-only on the fast path: their counts) */
	_Alignas(LINE) struct chan_waiter_list selq[2]; /* by SEL_RECV/SEL_SEND */
};

_Static_assert(offsetof(struct futex_chan, selq) == LINE, "hot fields fit one line");

static inline uint32_t ring_count(const struct futex_chan *c)
{
	return c->tail - c->head;
}

static inline void ring_push(struct futex_chan *c, uintptr_t m)
{
	c->buf[c->tail++ & c->mask] = m;
}

static inline uintptr_t ring_pop(struct futex_chan *c)
{
	return c->buf[c->head++ & c->mask];
}

/* Unbounded: double the ring, keeping order. False (unchanged) if out of memory. */
static bool ring_grow(struct futex_chan *c)
{
	uint32_t size = c->mask + 1, n = ring_count(c);
	if (size >= (1u << 31))
		return false;
	uintptr_t *nb = malloc(2 * (size_t)size * sizeof *nb);
	if (nb == NULL)
		return false;
	for (uint32_t i = 0; i < n; i++)
		nb[i] = c->buf[(c->head + i) & c->mask];
	free(c->buf);
	c->buf = nb;
	c->mask = 2 * size - 1;
	c->head = 0;
	c->tail = n;
	return true;
}

/* A FUTEX_WAKE owed to a waiter completed under the lock, made after the
 * release so the syscall does not lengthen the critical section. */
struct wake {
	_Atomic uint32_t *addr;
};

static inline void wake_flush(struct wake *k)
{
	if (k->addr != NULL) {
		futex_wake(k->addr, 1);
		k->addr = NULL;
	}
}

/* Complete an unlinked waiter. Precondition: lock held. After the exchange,
 * w may vanish (its thread returns without the lock): only its address is
 * kept, for the wake. */
static inline void waiter_finish(struct waiter *w, uint32_t final, struct wake *k)
{
	_Atomic uint32_t *addr = &w->state;
	/* release: publishes w->msg (hand-off) to the waiter's acquire load */
	if (atomic_exchange_explicit(addr, final, memory_order_release) & W_SLEEPING) {
		wake_flush(k); /* at most one owed at a time */
		k->addr = addr;
	}
}

static inline void unlock(struct futex_chan *c, struct wake *k)
{
	futex_lock_release(&c->lock);
	wake_flush(k);
}

/* park()'s last phase: announce the sleep and sleep until the waiter is
 * settled or dl passes (then decide under the lock). Returns the state. */
static uint32_t park_sleep(struct futex_chan *c, struct waiter **q, struct waiter *w, chan_deadline dl)
{
	uint32_t s;
	for (;;) {
		s = W_PENDING;
		/* announce the sleep on the word the waker exchanges */
		if (!atomic_compare_exchange_strong_explicit(&w->state, &s, W_PENDING | W_SLEEPING,
		                                             memory_order_acquire,
		                                             memory_order_acquire) &&
		    s != (W_PENDING | W_SLEEPING))
			return s; /* completed before we slept */
		if (!futex_wait(&w->state, W_PENDING | W_SLEEPING, dl)) {
			/* deadline passed: decide under the lock */
			futex_lock_take(&c->lock);
			s = atomic_load_explicit(&w->state, memory_order_acquire);
			if ((s & ~(uint32_t)W_SLEEPING) == W_PENDING) {
				wq_unlink(q, w);
				s = W_PENDING;
			}
			futex_lock_release(&c->lock);
			return s;
		}
		s = atomic_load_explicit(&w->state, memory_order_acquire);
		if ((s & ~(uint32_t)W_SLEEPING) != W_PENDING)
			return s;
	}
}

/* Park w on q until a waker completes it, or the deadline. Precondition: lock
 * held; returns WITHOUT it. A waker hands over the result (w->msg and the
 * state) and the waiter returns with it, taking no lock; only a timeout takes
 * the lock, to unlink itself. Returns W_DONE, W_CLOSED or W_PENDING (timeout;
 * w was unlinked and left no trace). */
static uint32_t park(struct futex_chan *c, struct waiter **q, struct waiter *w, chan_deadline dl,
                     struct wake *k)
{
	atomic_store_explicit(&w->state, W_PENDING, memory_order_relaxed);
	wq_push(q, w);
	unlock(c, k);

	uint32_t s;
	/* the state word is on our own line: polling it costs nothing until the
	 * waker writes it, so check after every PAUSE (prompt hand-off) */
	for (unsigned i = 0; i < FUTEX_PARK_SPIN; i++) {
		if ((s = atomic_load_explicit(&w->state, memory_order_acquire)) != W_PENDING)
			return s;
		cpu_relax();
	}
	for (unsigned y = 0, n = park_yields; y < n; y++) {
		if ((s = atomic_load_explicit(&w->state, memory_order_acquire)) != W_PENDING)
			return s;
		sched_yield();
	}
	int64_t t0 = chan_deadline_now_ns();
	s = park_sleep(c, q, w, dl);
	/* adaptive yielding: a short park restores the yields, a long one halves them */
	if (chan_deadline_now_ns() - t0 < FUTEX_SHORT_PARK_NS)
		park_yields = FUTEX_PARK_YIELDS;
	else
		park_yields /= 2;
	return s;
}

/* ---- operations ---- */

static chan_status futex_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	size_t sz = (sizeof(struct futex_chan) + LINE - 1) / LINE * LINE;
	struct futex_chan *c = aligned_alloc(LINE, sz);
	if (c == NULL)
		return CHAN_ENOMEM;
	memset(c, 0, sz);
	c->base.ops = ops;
	c->unbounded = (cap == CHAN_UNBOUNDED);
	c->cap = c->unbounded ? 0 : (uint32_t)cap;
	c->rendezvous = (cap == 0);
	uint32_t size = 64;
	if (!c->unbounded)
		for (size = 1; size < c->cap; size *= 2)
			;
	c->buf = malloc((size_t)size * sizeof *c->buf);
	if (c->buf == NULL) {
		free(c);
		return CHAN_ENOMEM;
	}
	c->mask = size - 1;
	atomic_init(&c->lock, 0);
	*out = &c->base;
	return CHAN_OK;
}

static void futex_destroy(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	free(c->buf);
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
static inline chan_status put_now(struct futex_chan *c, uintptr_t msg, struct wake *k)
{
	struct waiter *r = wq_pop(&c->recvq);
	if (r != NULL) {
		r->msg = msg;
		waiter_finish(r, W_DONE, k);
		return CHAN_OK;
	}
	if (c->rendezvous) {
		struct chan_waiter *w;
		if (c->selq[SEL_RECV].n == 0 || (w = chan_waiter_list_claim(&c->selq[SEL_RECV])) == NULL)
			return CHAN_FULL;
		chan_waiter_complete(w, msg); /* its select returns this value */
		return CHAN_OK;
	}
	uint32_t n = ring_count(c);
	if (!c->unbounded) {
		if (n >= c->cap)
			return CHAN_FULL;
	} else if (n > c->mask && !ring_grow(c)) {
		return CHAN_ENOMEM;
	}
	ring_push(c, msg);
	/* empty -> non-empty: recv cases became ready (later pushes need no notify:
	 * the waiters are told already, or registered since and checked ready()) */
	if (c->selq[SEL_RECV].n != 0 && n == 0)
		chan_waiter_list_notify_all(&c->selq[SEL_RECV]);
	return CHAN_OK;
}

/* Take the oldest message without waiting if there is one: from the buffer
 * (whose freed slot goes to the oldest parked sender, Go's order), from a parked
 * sender (rendezvous), or from a claimable select sender (rendezvous, and not
 * once closed: a send case on a closed channel must report CLOSED, not OK). */
static inline bool take_now(struct futex_chan *c, uintptr_t *msg, struct wake *k)
{
	struct waiter *s;
	if (c->tail != c->head) {
		*msg = ring_pop(c);
		if ((s = wq_pop(&c->sendq)) != NULL) {
			ring_push(c, s->msg);
			waiter_finish(s, W_DONE, k);
		} else if (c->selq[SEL_SEND].n != 0 && ring_count(c) + 1 == c->cap) {
			/* full -> not full (never for unbounded: cap is 0 there) */
			chan_waiter_list_notify_all(&c->selq[SEL_SEND]);
		}
		return true;
	}
	if ((s = wq_pop(&c->sendq)) != NULL) {
		*msg = s->msg;
		waiter_finish(s, W_DONE, k);
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

/* Park as a sender of msg until a receiver took it, close, or the deadline.
 * Precondition: lock held; returns without it. */
static chan_status park_send(struct futex_chan *c, uintptr_t msg, chan_deadline dl, struct wake *k)
{
	/* rendezvous: a recv would now succeed; recv cases and poll fds wait for
	 * exactly that (buffered: the buffer is full, they were told already) */
	if (c->rendezvous)
		selq_notify(&c->selq[SEL_RECV]);
	struct waiter w;
	w.msg = msg;
	return status_of(park(c, &c->sendq, &w, dl, k));
}

/* Park as a receiver until a sender handed a message over, close, or the
 * deadline. Precondition: lock held; returns without it. */
static chan_status park_recv(struct futex_chan *c, uintptr_t *msg, chan_deadline dl, struct wake *k)
{
	if (c->rendezvous)
		selq_notify(&c->selq[SEL_SEND]);
	struct waiter w;
	w.msg = 0;
	chan_status st = status_of(park(c, &c->recvq, &w, dl, k));
	if (st == CHAN_OK)
		*msg = w.msg;
	return st;
}

static chan_status futex_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	struct wake k = {NULL};
	chan_status st;
	futex_lock_take(&c->lock);
	if (c->closed)
		st = CHAN_CLOSED;
	else if ((st = put_now(c, msg, &k)) != CHAN_FULL)
		; /* sent (or out of memory) */
	else if (chan_deadline_passed(dl))
		st = chan_deadline_fail(dl, CHAN_FULL);
	else
		return park_send(c, msg, dl, &k);
	unlock(c, &k);
	return st;
}

static chan_status futex_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	struct wake k = {NULL};
	chan_status st;
	futex_lock_take(&c->lock);
	if (take_now(c, msg, &k))
		st = CHAN_OK;
	else if (c->closed)
		st = CHAN_CLOSED;
	else if (chan_deadline_passed(dl))
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	else
		return park_recv(c, msg, dl, &k);
	unlock(c, &k);
	return st;
}

/* Batches: as many messages as the channel allows per lock acquisition; wait
 * (as one send would) only for the message that finds no room, then take the
 * lock again for the rest. */
static chan_status futex_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n,
                                    size_t *done, chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	struct wake k = {NULL};
	chan_status st = CHAN_OK;
	size_t i = 0;
	futex_lock_take(&c->lock);
	while (i < n) {
		if (c->closed) {
			st = CHAN_CLOSED;
			break;
		}
		while (i < n && (st = put_now(c, msgs[i], &k)) == CHAN_OK)
			i++;
		if (i == n || st == CHAN_ENOMEM)
			break;
		/* msgs[i] found no room: wait for it like a send would */
		if (chan_deadline_passed(dl)) {
			st = chan_deadline_fail(dl, CHAN_FULL);
			break;
		}
		if ((st = park_send(c, msgs[i], dl, &k)) != CHAN_OK) {
			*done = i;
			return st;
		}
		i++;
		if (i < n)
			futex_lock_take(&c->lock);
		else {
			*done = i;
			return st;
		}
	}
	unlock(c, &k);
	*done = i;
	return st;
}

/* Wait like a recv for the first message, then take whatever else is ready. */
static chan_status futex_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                    chan_deadline dl)
{
	struct futex_chan *c = (struct futex_chan *)b;
	struct wake k = {NULL};
	chan_status st = CHAN_OK;
	size_t i = 1;
	futex_lock_take(&c->lock);
	if (take_now(c, &msgs[0], &k))
		;
	else if (c->closed)
		st = CHAN_CLOSED;
	else if (chan_deadline_passed(dl))
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	else {
		if ((st = park_recv(c, &msgs[0], dl, &k)) != CHAN_OK) {
			*done = 0;
			return st;
		}
		if (n == 1) {
			*done = 1;
			return st;
		}
		futex_lock_take(&c->lock);
	}
	if (st == CHAN_OK)
		while (i < n && take_now(c, &msgs[i], &k))
			i++;
	unlock(c, &k);
	*done = st == CHAN_OK ? i : 0;
	return st;
}

static chan_status futex_close(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	struct wake k = {NULL};
	futex_lock_take(&c->lock);
	if (c->closed) {
		futex_lock_release(&c->lock);
		return CHAN_ALREADY_CLOSED;
	}
	c->closed = true;
	struct waiter *w;
	while ((w = wq_pop(&c->recvq)) != NULL)
		waiter_finish(w, W_CLOSED, &k);
	while ((w = wq_pop(&c->sendq)) != NULL)
		waiter_finish(w, W_CLOSED, &k);
	/* every case on a closed channel is ready; the selectors unregister */
	selq_notify(&c->selq[SEL_RECV]);
	selq_notify(&c->selq[SEL_SEND]);
	unlock(c, &k);
	return CHAN_OK;
}

static size_t futex_len(struct chan_base *b)
{
	struct futex_chan *c = (struct futex_chan *)b;
	futex_lock_take(&c->lock);
	size_t n = ring_count(c);
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
		r = ring_count(c) > 0 || c->sendq != NULL ||
		    (c->rendezvous && chan_waiter_list_has_claimable(&c->selq[SEL_SEND]));
	else if (c->recvq != NULL)
		r = true;
	else if (c->rendezvous)
		r = chan_waiter_list_has_claimable(&c->selq[SEL_RECV]);
	else
		r = c->unbounded || ring_count(c) < c->cap;
	futex_lock_release(&c->lock);
	return r;
}

const struct chan_ops chan_futex_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "futex",
	.description = "Go's chan.go on C11 atomics + Linux futex: direct hand-off, woken waiters take no lock, spin/yield/park",
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
