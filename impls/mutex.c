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
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"
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

static chan_status mutex_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		st = CHAN_CLOSED;
	} else if (!waitq_empty(&c->recvq)) {
		/* A parked receiver means the buffer is empty: hand over directly. */
		struct waiter *r = waiter_pop(&c->recvq);
		r->msg = msg;
		waiter_finish(r, W_DONE);
	} else if (has_room(c)) {
		if (c->ring.count == c->ring.size && !word_ring_grow(&c->ring))
			st = CHAN_ENOMEM;
		else
			word_ring_push(&c->ring, msg);
	} else if (chan_deadline_passed(dl)) {
		st = chan_deadline_fail(dl, CHAN_FULL);
	} else {
		struct waiter w = {.msg = msg};
		switch (park(c, &c->sendq, &w, dl)) {
		case W_DONE: st = CHAN_OK; break;
		case W_CLOSED: st = CHAN_CLOSED; break;
		case W_PENDING: st = CHAN_TIMEOUT; break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status mutex_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct mutex_chan *c = (struct mutex_chan *)b;
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&c->lock);
	if (c->ring.count > 0) {
		*msg = word_ring_pop(&c->ring);
		/* A slot is free: move the oldest parked sender's value in (FIFO kept:
		 * its value is newer than everything buffered). */
		struct waiter *s = waiter_pop(&c->sendq);
		if (s != NULL) {
			word_ring_push(&c->ring, s->msg);
			waiter_finish(s, W_DONE);
		}
	} else if (!waitq_empty(&c->sendq)) {
		/* Rendezvous: take the value straight from a parked sender. */
		struct waiter *s = waiter_pop(&c->sendq);
		*msg = s->msg;
		waiter_finish(s, W_DONE);
	} else if (c->closed) {
		st = CHAN_CLOSED;
	} else if (chan_deadline_passed(dl)) {
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	} else {
		struct waiter w = {0};
		switch (park(c, &c->recvq, &w, dl)) {
		case W_DONE: *msg = w.msg; st = CHAN_OK; break;
		case W_CLOSED: st = CHAN_CLOSED; break;
		case W_PENDING: st = CHAN_TIMEOUT; break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return st;
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
	.caps = CHAN_CAPS_FULL,
	.create = mutex_create,
	.destroy = mutex_destroy,
	.send = mutex_send,
	.recv = mutex_recv,
	.close = mutex_close,
	.len = mutex_len,
};
