/*
 * mutex: a channel built from one pthread mutex, a ring buffer, and FIFO queues
 * of parked senders and receivers, each parked thread waiting on its own
 * condition variable. The correctness reference of chanbench.
 *
 * Algorithm: Go's runtime channel (src/runtime/chan.go): a waiting receiver is
 * handed a value directly by the next sender; a waiting sender's value is moved
 * into the buffer by the receiver that frees a slot (or handed straight over
 * when the capacity is 0). Unbounded channels grow their ring by doubling.
 *
 * Invariants (all under `lock`):
 *   - At least one of sendq and recvq is empty.
 *   - recvq non-empty implies ring.count == 0 (a receiver only parks on an empty buffer).
 *   - sendq non-empty implies ring.count == cap (bounded) or cap == 0; never unbounded.
 *   - closed implies both queues are empty (close wakes everyone, and nobody
 *     parks on a closed channel).
 *   - A parked waiter's `state` moves once from PENDING to DONE or CLOSED, by the
 *     thread that dequeues it, under the lock; only then is its condvar signalled.
 *
 * Memory ordering: every shared field is read and written under `lock`; the
 * mutex's acquire/release orders everything, including a handed-over value
 * (written into the waiter by the peer before it unlocks).
 *
 * Timeouts: a parked thread whose deadline passes re-checks its state under the
 * lock; if still PENDING it unlinks itself, so it leaves no trace (T4).
 *
 * Select and poll fds (ABI 2, chan_waiter.h): registered waiters live in two
 * chan_waiter_lists, sel_recv (cases that want to receive) and sel_send, under
 * `lock` too. Buffered and unbounded channels only notify them, on the
 * transitions that matter (buffer empty -> non-empty for sel_recv, full -> not
 * full for sel_send) and on close: a selector checks ready() after registering,
 * so a change it might miss in between is seen there. Rendezvous channels also
 * pair with them: a send that finds no parked receiver claims a sel_recv waiter
 * and hands it the value, a recv claims a sel_send waiter and takes its value;
 * claim and complete happen under `lock`, so unregister (which takes it) can
 * never cut in between. Every path tests the list's count first, so plain
 * send/recv cost one extra compare when nobody selects.
 *
 * Batches take the lock once per run: send_batch fills every free slot (or
 * parked receiver) it finds before it parks, recv_batch waits like recv for the
 * first message and then takes what is ready without letting go.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"
#include "chanbench/chan_waiter.h"
#include "waitq.h"
#include "word_ring.h"

enum waiter_state { W_PENDING, W_DONE, W_CLOSED };

struct waiter {
	struct waitq_node node; /* first: a waitq_node * is a struct waiter * */
	uintptr_t msg;          /* sender: the value offered; receiver: the value received */
	enum waiter_state state;
	pthread_cond_t cv;
};

struct mutex_chan {
	struct chan_base base;
	pthread_mutex_t lock;
	bool unbounded;
	bool closed;
	size_t cap;            /* requested capacity (0 = rendezvous); unused when unbounded */
	struct word_ring ring; /* the buffer */
	struct waitq sendq, recvq;
	/* select/poll fd waiters by the direction of their case */
	struct chan_waiter_list sel_recv, sel_send;
};

static struct waiter *waiter_pop(struct waitq *q)
{
	return (struct waiter *)waitq_pop(q);
}

/* Complete a dequeued waiter. Precondition: c->lock held. */
static void waiter_finish(struct waiter *w, enum waiter_state st)
{
	w->state = st;
	pthread_cond_signal(&w->cv);
}

/* Park w on q until completed or the deadline passes. Precondition: c->lock
 * held; returns with it held. Returns the final state (PENDING = timed out,
 * already unlinked). */
static enum waiter_state park(struct mutex_chan *c, struct waitq *q, struct waiter *w,
                              chan_deadline dl)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cv, &attr);
	pthread_condattr_destroy(&attr);
	w->state = W_PENDING;
	waitq_push(q, &w->node);
	struct timespec ts = chan_deadline_timespec(dl);
	while (w->state == W_PENDING) {
		if (dl == CHAN_FOREVER) {
			pthread_cond_wait(&w->cv, &c->lock);
		} else if (pthread_cond_timedwait(&w->cv, &c->lock, &ts) == ETIMEDOUT &&
		           w->state == W_PENDING) {
			waitq_unlink(q, &w->node);
			break;
		}
	}
	pthread_cond_destroy(&w->cv);
	return w->state;
}

static chan_status mutex_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct mutex_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	c->unbounded = (cap == CHAN_UNBOUNDED);
	c->cap = c->unbounded ? 0 : cap;
	if (!word_ring_init(&c->ring, c->unbounded ? 16 : (cap > 0 ? cap : 1))) {
		free(c);
		return CHAN_ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	*out = &c->base;
	return CHAN_OK;
}

static void mutex_destroy(struct chan_base *b)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	pthread_mutex_destroy(&c->lock);
	word_ring_free(&c->ring);
	free(c);
}

static bool has_room(const struct mutex_chan *c)
{
	return c->unbounded || c->ring.count < c->cap;
}

static bool is_rendezvous(const struct mutex_chan *c)
{
	return !c->unbounded && c->cap == 0;
}

/* Notify only observers (poll fds) in l. A selector needs no such nudge when a
 * select waiter appears: it checks ready() after registering its own. */
static void notify_observers(struct chan_waiter_list *l)
{
	for (struct chan_waiter *w = l->head; w; w = w->next)
		if (w->flags & CHAN_WAITER_OBSERVE)
			chan_waiter_notify(w);
}

/* A send that does not wait: hand msg to a parked receiver (or, rendezvous, to a
 * claimed select), or buffer it. True with *st set (OK, CLOSED, ENOMEM) if it was
 * decided; false if the send would block. Precondition: c->lock held. */
static inline bool send_now(struct mutex_chan *c, uintptr_t msg, chan_status *st)
{
	if (c->closed) {
		*st = CHAN_CLOSED;
		return true;
	}
	if (!waitq_empty(&c->recvq)) {
		/* A parked receiver means the buffer is empty: hand over directly. */
		struct waiter *r = waiter_pop(&c->recvq);
		r->msg = msg;
		waiter_finish(r, W_DONE);
		*st = CHAN_OK;
		return true;
	}
	if (has_room(c)) {
		if (c->ring.count == c->ring.size && !word_ring_grow(&c->ring)) {
			*st = CHAN_ENOMEM;
			return true;
		}
		word_ring_push(&c->ring, msg);
		if (c->ring.count == 1 && c->sel_recv.n != 0)
			chan_waiter_list_notify_all(&c->sel_recv); /* empty -> non-empty */
		*st = CHAN_OK;
		return true;
	}
	if (c->sel_recv.n != 0 && is_rendezvous(c)) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->sel_recv);
		if (w != NULL) {
			chan_waiter_complete(w, msg);
			*st = CHAN_OK;
			return true;
		}
	}
	return false;
}

/* A recv that does not wait. True with *st set (OK with *msg, or CLOSED) if it
 * was decided; false if the recv would block. Precondition: c->lock held. */
static inline bool recv_now(struct mutex_chan *c, uintptr_t *msg, chan_status *st)
{
	if (c->ring.count > 0) {
		bool was_full = c->ring.count == c->cap; /* never for unbounded (cap 0) */
		*msg = word_ring_pop(&c->ring);
		/* A slot is free: move the oldest parked sender's value in (FIFO kept:
		 * its value is newer than everything buffered). */
		struct waiter *s = waiter_pop(&c->sendq);
		if (s != NULL) {
			word_ring_push(&c->ring, s->msg);
			waiter_finish(s, W_DONE);
		} else if (was_full && c->sel_send.n != 0) {
			chan_waiter_list_notify_all(&c->sel_send); /* full -> not full */
		}
		*st = CHAN_OK;
		return true;
	}
	if (!waitq_empty(&c->sendq)) {
		/* Rendezvous: take the value straight from a parked sender. */
		struct waiter *s = waiter_pop(&c->sendq);
		*msg = s->msg;
		waiter_finish(s, W_DONE);
		*st = CHAN_OK;
		return true;
	}
	if (c->closed) {
		*st = CHAN_CLOSED;
		return true;
	}
	if (c->sel_send.n != 0 && is_rendezvous(c)) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->sel_send);
		if (w != NULL) {
			*msg = w->msg;
			chan_waiter_complete(w, 0);
			*st = CHAN_OK;
			return true;
		}
	}
	return false;
}

/* Park a sender of msg. Precondition: c->lock held, send_now said it would
 * block and the deadline has not passed. */
static chan_status send_park(struct mutex_chan *c, uintptr_t msg, chan_deadline dl)
{
	/* Rendezvous: a recv would not block now; selects and poll fds that want to
	 * receive wait for exactly that. (Buffered: the buffer is full, so they were
	 * told when it became non-empty.) */
	if (c->sel_recv.n != 0 && is_rendezvous(c))
		chan_waiter_list_notify_all(&c->sel_recv);
	struct waiter w = {.msg = msg};
	switch (park(c, &c->sendq, &w, dl)) {
	case W_DONE: return CHAN_OK;
	case W_CLOSED: return CHAN_CLOSED;
	case W_PENDING: break;
	}
	return CHAN_TIMEOUT;
}

/* Park a receiver. Precondition as send_park. */
static chan_status recv_park(struct mutex_chan *c, uintptr_t *msg, chan_deadline dl)
{
	/* Rendezvous: a send would not block now (buffered: the buffer is empty, so
	 * a send was ready anyway). */
	if (c->sel_send.n != 0 && is_rendezvous(c))
		chan_waiter_list_notify_all(&c->sel_send);
	struct waiter w = {0};
	switch (park(c, &c->recvq, &w, dl)) {
	case W_DONE: *msg = w.msg; return CHAN_OK;
	case W_CLOSED: return CHAN_CLOSED;
	case W_PENDING: break;
	}
	return CHAN_TIMEOUT;
}

static chan_status mutex_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	chan_status st;
	pthread_mutex_lock(&c->lock);
	if (!send_now(c, msg, &st))
		st = chan_deadline_passed(dl) ? chan_deadline_fail(dl, CHAN_FULL) : send_park(c, msg, dl);
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status mutex_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	chan_status st;
	pthread_mutex_lock(&c->lock);
	if (!recv_now(c, msg, &st))
		st = chan_deadline_passed(dl) ? chan_deadline_fail(dl, CHAN_EMPTY) : recv_park(c, msg, dl);
	pthread_mutex_unlock(&c->lock);
	return st;
}

/* As a loop of sends, but the lock is taken once and kept while there is room:
 * a blocked batch lets go only while it is parked on one message. */
static chan_status mutex_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n,
                                    size_t *done, chan_deadline dl)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	chan_status st = CHAN_OK;
	size_t i = 0;
	pthread_mutex_lock(&c->lock);
	while (i < n) {
		if (!send_now(c, msgs[i], &st)) {
			if (chan_deadline_passed(dl))
				st = chan_deadline_fail(dl, CHAN_FULL);
			else
				st = send_park(c, msgs[i], dl);
		}
		if (st != CHAN_OK)
			break;
		i++;
	}
	pthread_mutex_unlock(&c->lock);
	*done = i;
	return st;
}

/* Waits like recv for the first message, then takes whatever else is ready,
 * up to n, under the same lock. */
static chan_status mutex_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                    chan_deadline dl)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	chan_status st;
	size_t i = 0;
	pthread_mutex_lock(&c->lock);
	if (!recv_now(c, &msgs[0], &st))
		st = chan_deadline_passed(dl) ? chan_deadline_fail(dl, CHAN_EMPTY)
		                              : recv_park(c, &msgs[0], dl);
	if (st == CHAN_OK) {
		chan_status more;
		/* CLOSED after the first only means drained: the batch is still OK. */
		for (i = 1; i < n && recv_now(c, &msgs[i], &more) && more == CHAN_OK; i++)
			;
	}
	pthread_mutex_unlock(&c->lock);
	*done = i;
	return st;
}

static struct chan_waiter_list *sel_list(struct mutex_chan *c, int dir)
{
	return dir == CHAN_DIR_SEND ? &c->sel_send : &c->sel_recv;
}

static chan_status mutex_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	pthread_mutex_lock(&c->lock);
	chan_waiter_list_push(sel_list(c, w->dir), w);
	/* Rendezvous: a claimable select is a counterpart a try on the other side
	 * would pair with, so poll fds watching that side become ready. */
	if (is_rendezvous(c) && !(w->flags & CHAN_WAITER_OBSERVE))
		notify_observers(sel_list(c, w->dir == CHAN_DIR_SEND ? CHAN_DIR_RECV : CHAN_DIR_SEND));
	pthread_mutex_unlock(&c->lock);
	return CHAN_OK;
}

static void mutex_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	pthread_mutex_lock(&c->lock);
	chan_waiter_list_remove(sel_list(c, w->dir), w); /* no-op if claimed meanwhile */
	pthread_mutex_unlock(&c->lock);
}

static int mutex_ready(struct chan_base *b, int dir)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	bool r;
	pthread_mutex_lock(&c->lock);
	if (c->closed)
		r = true;
	else if (dir == CHAN_DIR_SEND)
		r = has_room(c) || !waitq_empty(&c->recvq) ||
		    (is_rendezvous(c) && chan_waiter_list_has_claimable(&c->sel_recv));
	else
		r = c->ring.count > 0 || !waitq_empty(&c->sendq) ||
		    (is_rendezvous(c) && chan_waiter_list_has_claimable(&c->sel_send));
	pthread_mutex_unlock(&c->lock);
	return r;
}

static chan_status mutex_close(struct chan_base *b)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return CHAN_ALREADY_CLOSED;
	}
	c->closed = true;
	struct waiter *w;
	while ((w = waiter_pop(&c->recvq)) != NULL)
		waiter_finish(w, W_CLOSED);
	while ((w = waiter_pop(&c->sendq)) != NULL)
		waiter_finish(w, W_CLOSED); /* the sender keeps its value */
	/* Both sides of a closed channel are ready; selectors unregister themselves. */
	chan_waiter_list_notify_all(&c->sel_recv);
	chan_waiter_list_notify_all(&c->sel_send);
	pthread_mutex_unlock(&c->lock);
	return CHAN_OK;
}

static size_t mutex_len(struct chan_base *b)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	pthread_mutex_lock(&c->lock);
	size_t n = c->ring.count;
	pthread_mutex_unlock(&c->lock);
	return n;
}

const struct chan_ops chan_mutex_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "mutex",
	.description = "pthread mutex, ring buffer, FIFO wait queues with a condvar per waiter (Go's design)",
	.caps = CHAN_CAPS_FULL | CHAN_CAP_SELECT | CHAN_CAP_BATCH,
	.create = mutex_create,
	.destroy = mutex_destroy,
	.send = mutex_send,
	.recv = mutex_recv,
	.close = mutex_close,
	.len = mutex_len,
	.register_waiter = mutex_register_waiter,
	.unregister_waiter = mutex_unregister_waiter,
	.ready = mutex_ready,
	.send_batch = mutex_send_batch,
	.recv_batch = mutex_recv_batch,
};
