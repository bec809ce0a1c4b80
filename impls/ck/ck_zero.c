/*
 * ck, rendezvous flavor (capacity 0): Go's unbuffered channel. A sender hands its
 * value straight to a waiting receiver (or waits on sendq with it); a receiver
 * takes the value of a waiting sender (or waits on recvq). The queues sit under
 * one small lock (a ck_spinlock_fas, spun then yielded: ckw_lock), held for a few
 * pointer moves; crossbeam's zero flavor is lock-based the same way.
 *
 * What makes the hand-off cheap:
 *   - a waiter record {state, msg} lives on the waiter's stack, on one line; the
 *     waiter polls its own state (a PAUSE apart, then with sched_yield), and only then
 *     sets SLEEPING and sleeps on it (futex). The counterpart settles the record
 *     with one exchange under the lock and makes the FUTEX_WAKE system call only
 *     if SLEEPING was set: a hand-off to a spinning waiter is two cache-line
 *     transfers (the channel line, the record) and no system call;
 *   - the settled waiter returns without taking the lock again (only a waiter
 *     whose deadline passes locks, to unlink itself, and then it trusts the
 *     state it finds under the lock: settled means done, T4);
 *   - the lock word and both queue heads share one aligned line; the select
 *     lists are on another.
 *
 * Invariants (under the lock): at least one of sendq and recvq is empty; closed
 * implies both are empty; a waiter leaves PENDING once, set by the thread that
 * unlinked it.
 *
 * Select and poll fds: registered waiters are in wsend/wrecv (by their case's
 * direction), under the same lock. A send first pairs with a parked receiver,
 * then claims a select's recv case (claim + complete under the lock, so that an
 * unregister cannot cut in); a recv likewise with parked senders and send cases,
 * only while open. A sender that parks notifies wrecv, a receiver that parks
 * wsend; a select's case that registers notifies the poll fds on the other side.
 * ready() counts parked counterparts and claimable waiters of other threads (S5).
 */
#include <stdlib.h>
#include <string.h>

#include "ck_flavor.h"
#include "ck_wait.h"

#define RZ_PENDING 0u
#define RZ_DONE 1u
#define RZ_CLOSED 2u
#define RZ_SLEEPING 4u /* or-ed into PENDING by a waiter about to sleep */
#define BATCH_CHUNK 64

struct rz_waiter { /* on the waiter's stack, one line */
	uint32_t state;
	uintptr_t msg;
	struct rz_waiter *next, *prev;
} CK_CC_CACHELINE;

struct rz_queue {
	struct rz_waiter *head, *tail;
};

struct ck_zero {
	struct chan_base base;
	ckc_lock_t lock;
	bool closed;
	struct rz_queue sendq, recvq;
	struct chan_waiter_list wsend CK_CC_CACHELINE;
	struct chan_waiter_list wrecv;
};

static inline struct ck_zero *as_z(struct chan_base *b)
{
	return (struct ck_zero *)b;
}

chan_status ck_zero_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	(void)cap;
	struct ck_zero *c = aligned_alloc(CKC_LINE, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	memset(c, 0, sizeof *c);
	c->base.ops = ops;
	c->lock = (ckc_lock_t)CKC_LOCK_INIT;
	*out = &c->base;
	return CHAN_OK;
}

static void z_destroy(struct chan_base *b)
{
	free(b);
}

static inline void z_lock(struct ck_zero *c)
{
	ckw_lock(&c->lock);
}

static inline void z_unlock(struct ck_zero *c)
{
	ckc_unlock(&c->lock);
}

static void rz_push(struct rz_queue *q, struct rz_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static void rz_unlink(struct rz_queue *q, struct rz_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
}

static struct rz_waiter *rz_pop(struct rz_queue *q)
{
	struct rz_waiter *w = q->head;
	if (w)
		rz_unlink(q, w);
	return w;
}

/* Settle a waiter already unlinked (lock held). Returns the futex word to wake
 * after the unlock, or NULL if the waiter is not asleep. After the exchange the
 * waiter may return at any time: only its address is used after. */
static uint32_t *rz_settle(struct rz_waiter *w, uint32_t st)
{
	/* seq_cst exchange: publishes w->msg to the waiter's acquire load, and
	 * reads SLEEPING in the same step as the waiter's CAS sets it. */
	return (ckc_fas32(&w->state, st) & RZ_SLEEPING) ? &w->state : NULL;
}

static void rz_wake(uint32_t *word)
{
	if (word != NULL)
		(void)ckw_futex_wake(word, 1);
}

/* Wait on q (w already on it, lock released) until settled or dl passes.
 * Returns the final state; RZ_PENDING means timed out and unlinked. */
static uint32_t rz_park(struct ck_zero *c, struct rz_queue *q, struct rz_waiter *w, chan_deadline dl)
{
	uint32_t s;
	for (unsigned i = 0; i < CKW_SPIN_POLLS; i++) {
		if ((s = ckc_load32(&w->state)) != RZ_PENDING)
			return s;
		ckc_pause();
	}
	for (unsigned i = 0, n = ckw_yield_budget; i < n; i++) {
		if ((s = ckc_load32(&w->state)) != RZ_PENDING)
			return s;
		sched_yield();
	}
	int64_t t0 = -1; /* when it first slept: the park's length adapts the yields */
	while ((s = ckc_load32(&w->state)) == RZ_PENDING) {
		if (chan_deadline_passed(dl))
			break;
		CKC_CHAOS_POINT();
		if (ckc_cas32(&w->state, RZ_PENDING, RZ_PENDING | RZ_SLEEPING)) {
			if (t0 < 0)
				t0 = chan_deadline_now_ns();
			CKC_CHAOS_POINT(); /* settled between the CAS and the sleep */
			(void)ckw_futex_wait(&w->state, RZ_PENDING | RZ_SLEEPING, dl);
			/* Settled, or woken early: settled states have no SLEEPING
			 * bit; go back to PENDING to time out or sleep again. */
			(void)ckc_cas32(&w->state, RZ_PENDING | RZ_SLEEPING, RZ_PENDING);
		}
	}
	if (t0 >= 0)
		ckw_park_done(t0);
	if (s != RZ_PENDING)
		return s;
	z_lock(c);
	s = ckc_load32(&w->state);
	if (s == RZ_PENDING)
		rz_unlink(q, w); /* leaves no trace (T4) */
	z_unlock(c);
	return s;
}

/* Hand msg to a counterpart without waiting: a parked receiver (its futex word,
 * if it sleeps, goes to *wake) or a select's recv case (claimed and completed
 * here, under the lock). Precondition: lock held, not closed. */
static inline bool rz_give(struct ck_zero *c, uintptr_t msg, uint32_t **wake)
{
	struct rz_waiter *r = rz_pop(&c->recvq);
	if (r != NULL) {
		r->msg = msg;
		*wake = rz_settle(r, RZ_DONE);
		return true;
	}
	if (c->wrecv.head != NULL) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->wrecv);
		if (w != NULL) {
			chan_waiter_complete(w, msg);
			return true;
		}
	}
	return false;
}

/* Take a value from a counterpart without waiting: a parked sender or a select's
 * send case. Precondition: lock held, not closed (a send case must not commit
 * after close). */
static inline bool rz_take(struct ck_zero *c, uintptr_t *msg, uint32_t **wake)
{
	struct rz_waiter *s = rz_pop(&c->sendq);
	if (s != NULL) {
		*msg = s->msg;
		*wake = rz_settle(s, RZ_DONE);
		return true;
	}
	if (c->wsend.head != NULL) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->wsend);
		if (w != NULL) {
			*msg = w->msg;
			chan_waiter_complete(w, 0);
			return true;
		}
	}
	return false;
}

static chan_status z_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct ck_zero *c = as_z(b);
	z_lock(c);
	if (c->closed) {
		z_unlock(c);
		return CHAN_CLOSED;
	}
	uint32_t *wake = NULL;
	if (rz_give(c, msg, &wake)) {
		z_unlock(c);
		rz_wake(wake);
		return CHAN_OK;
	}
	if (chan_deadline_passed(dl)) {
		z_unlock(c);
		return chan_deadline_fail(dl, CHAN_FULL);
	}
	struct rz_waiter w = {.state = RZ_PENDING, .msg = msg};
	rz_push(&c->sendq, &w);
	/* A recv would not block now: tell the selects and poll fds waiting for
	 * that (a select's retry then takes our value). */
	chan_waiter_list_notify_all(&c->wrecv);
	z_unlock(c);
	switch (rz_park(c, &c->sendq, &w, dl)) {
	case RZ_DONE: return CHAN_OK;
	case RZ_CLOSED: return CHAN_CLOSED;
	default: break;
	}
	return CHAN_TIMEOUT;
}

static chan_status z_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct ck_zero *c = as_z(b);
	z_lock(c);
	if (c->closed) {
		z_unlock(c);
		return CHAN_CLOSED; /* closed implies sendq is empty */
	}
	uint32_t *wake = NULL;
	if (rz_take(c, msg, &wake)) {
		z_unlock(c);
		rz_wake(wake);
		return CHAN_OK;
	}
	if (chan_deadline_passed(dl)) {
		z_unlock(c);
		return chan_deadline_fail(dl, CHAN_EMPTY);
	}
	struct rz_waiter w = {.state = RZ_PENDING};
	rz_push(&c->recvq, &w);
	chan_waiter_list_notify_all(&c->wsend); /* a send would not block now */
	z_unlock(c);
	switch (rz_park(c, &c->recvq, &w, dl)) {
	case RZ_DONE: *msg = w.msg; return CHAN_OK;
	case RZ_CLOSED: return CHAN_CLOSED;
	default: break;
	}
	return CHAN_TIMEOUT;
}

/* Settle every waiter on q as closed and wake the sleeping ones (lock held:
 * close is rare). */
static void rz_close_queue(struct rz_queue *q)
{
	struct rz_waiter *w;
	while ((w = rz_pop(q)) != NULL)
		rz_wake(rz_settle(w, RZ_CLOSED));
}

static chan_status z_close(struct chan_base *b)
{
	struct ck_zero *c = as_z(b);
	z_lock(c);
	bool was = c->closed;
	c->closed = true;
	rz_close_queue(&c->recvq);
	rz_close_queue(&c->sendq); /* senders keep their values */
	chan_waiter_list_notify_all(&c->wrecv);
	chan_waiter_list_notify_all(&c->wsend);
	z_unlock(c);
	return was ? CHAN_ALREADY_CLOSED : CHAN_OK;
}

static size_t z_len(struct chan_base *b)
{
	(void)b;
	return 0;
}

/* send_batch: hand values to every counterpart already waiting in one lock hold
 * (waking the sleeping ones after it), then send the next value the single way
 * (it parks, or fails), and repeat. */
static chan_status z_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n, size_t *done,
                                chan_deadline dl)
{
	struct ck_zero *c = as_z(b);
	size_t sent = 0;
	chan_status st = CHAN_OK;
	while (sent < n) {
		uint32_t *wake[BATCH_CHUNK];
		size_t nwake = 0, given = 0;
		z_lock(c);
		if (c->closed) {
			z_unlock(c);
			st = CHAN_CLOSED;
			break;
		}
		while (sent + given < n && given < BATCH_CHUNK) {
			uint32_t *w = NULL;
			if (!rz_give(c, msgs[sent + given], &w))
				break;
			given++;
			if (w != NULL)
				wake[nwake++] = w;
		}
		z_unlock(c);
		for (size_t i = 0; i < nwake; i++)
			rz_wake(wake[i]);
		sent += given;
		if (given == BATCH_CHUNK || sent == n)
			continue;
		if ((st = z_send(b, msgs[sent], dl)) != CHAN_OK)
			break;
		sent++;
	}
	*done = sent;
	return st;
}

/* Take up to n values from counterparts already waiting, without waiting. */
static size_t z_take_ready(struct ck_zero *c, uintptr_t *msgs, size_t n)
{
	size_t got = 0;
	for (;;) {
		uint32_t *wake[BATCH_CHUNK];
		size_t nwake = 0, k = 0;
		z_lock(c);
		if (!c->closed) {
			while (got + k < n && k < BATCH_CHUNK) {
				uint32_t *w = NULL;
				if (!rz_take(c, &msgs[got + k], &w))
					break;
				k++;
				if (w != NULL)
					wake[nwake++] = w;
			}
		}
		z_unlock(c);
		for (size_t i = 0; i < nwake; i++)
			rz_wake(wake[i]);
		got += k;
		if (k < BATCH_CHUNK || got == n)
			return got;
	}
}

static chan_status z_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                chan_deadline dl)
{
	struct ck_zero *c = as_z(b);
	size_t got = z_take_ready(c, msgs, n);
	if (got == 0) {
		chan_status st = z_recv(b, &msgs[0], dl);
		if (st != CHAN_OK) {
			*done = 0;
			return st;
		}
		got = 1;
		if (n > 1)
			got += z_take_ready(c, msgs + 1, n - 1);
	}
	*done = got;
	return CHAN_OK;
}

/* Notify only the observers (poll fds) on l. */
static void notify_observers(struct chan_waiter_list *l)
{
	for (struct chan_waiter *w = l->head; w; w = w->next)
		if (w->flags & CHAN_WAITER_OBSERVE)
			chan_waiter_notify(w);
}

static chan_status z_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_zero *c = as_z(b);
	bool recv = w->dir == CHAN_DIR_RECV;
	z_lock(c);
	chan_waiter_list_push(recv ? &c->wrecv : &c->wsend, w);
	/* A select's case is a counterpart that a try on the other side can
	 * claim: tell the poll fds watching that side. Selects there need no
	 * nudge: each checks ready() after its own registration. */
	if (!(w->flags & CHAN_WAITER_OBSERVE))
		notify_observers(recv ? &c->wsend : &c->wrecv);
	z_unlock(c);
	return CHAN_OK;
}

static void z_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_zero *c = as_z(b);
	z_lock(c);
	chan_waiter_list_remove(w->dir == CHAN_DIR_RECV ? &c->wrecv : &c->wsend, w);
	z_unlock(c);
}

static int z_ready(struct chan_base *b, int dir)
{
	struct ck_zero *c = as_z(b);
	z_lock(c);
	bool r = c->closed ||
	         (dir == CHAN_DIR_RECV
	              ? c->sendq.head != NULL || chan_waiter_list_has_claimable(&c->wsend)
	              : c->recvq.head != NULL || chan_waiter_list_has_claimable(&c->wrecv));
	z_unlock(c);
	return r;
}

const struct chan_ops ck_zero_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "ck",
	.description = "ck rendezvous flavor (hand-off queues)",
	.caps = CHAN_CAPS_FULL | CHAN_CAP_SELECT | CHAN_CAP_BATCH,
	.create = ck_zero_create,
	.destroy = z_destroy,
	.send = z_send,
	.recv = z_recv,
	.close = z_close,
	.len = z_len,
	.register_waiter = z_register_waiter,
	.unregister_waiter = z_unregister_waiter,
	.ready = z_ready,
	.send_batch = z_send_batch,
	.recv_batch = z_recv_batch,
};
