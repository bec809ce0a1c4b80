/*
 * bcast mutex: a broadcast channel under one pthread mutex, with one
 * condition variable on which every waiting receiver sleeps (a send wakes them
 * all: each of them has the new message to read). The correctness reference
 * for the broadcast kind; the model is tokio::sync::broadcast, without its
 * per-slot locks.
 *
 * Invariants (under the lock):
 *   - ring[p % cap] holds the message of position p for every retained p,
 *     max(0, tail - cap) <= p < tail; tail counts the sends.
 *   - a receiver's pos <= tail; pos < tail - cap means it lagged: its next recv
 *     reports tail - cap - pos missed and reads position tail - cap (B2).
 *   - closed: no send succeeds; a receiver sees CLOSED once pos == tail (B3).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/kinds_impl.h"
#include "kind_mutex.h"

struct bm_chan {
	struct bcast_base base;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* CLOCK_MONOTONIC, for absolute deadlines */
	size_t cap;
	uintptr_t *ring;
	uint64_t tail;
	unsigned waiting; /* receivers in cond_wait: a send with none skips the broadcast */
	bool closed;
};

struct bm_rx {
	struct bcast_rx_base base;
	uint64_t pos; /* guarded by the channel's lock */
};

static chan_status bm_create(const struct bcast_ops *ops, size_t cap, struct bcast_base **out)
{
	struct bm_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->ring = calloc(cap, sizeof *c->ring);
	if (c->ring == NULL) {
		free(c);
		return CHAN_ENOMEM;
	}
	c->base.ops = ops;
	c->cap = cap;
	pthread_mutex_init(&c->lock, NULL);
	kind_cond_init(&c->cv);
	*out = &c->base;
	return CHAN_OK;
}

static void bm_destroy(struct bcast_base *b)
{
	struct bm_chan *c = (struct bm_chan *)b;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
	free(c->ring);
	free(c);
}

static chan_status bm_subscribe(struct bcast_base *b, struct bcast_rx_base **out)
{
	struct bm_chan *c = (struct bm_chan *)b;
	struct bm_rx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	rx->base.b = b;
	pthread_mutex_lock(&c->lock);
	bool closed = c->closed;
	rx->pos = c->tail; /* B1: a new subscriber starts at the tail */
	pthread_mutex_unlock(&c->lock);
	if (closed) {
		free(rx);
		return CHAN_CLOSED;
	}
	*out = &rx->base;
	return CHAN_OK;
}

static void bm_unsubscribe(struct bcast_rx_base *rx)
{
	free(rx);
}

static chan_status bm_send(struct bcast_base *b, uintptr_t msg)
{
	struct bm_chan *c = (struct bm_chan *)b;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return CHAN_CLOSED;
	}
	c->ring[c->tail % c->cap] = msg;
	c->tail++;
	if (c->waiting)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	return CHAN_OK;
}

static chan_status bm_recv(struct bcast_rx_base *r, uintptr_t *msg, uint64_t *missed,
                           chan_deadline dl)
{
	struct bm_rx *rx = (struct bm_rx *)r;
	struct bm_chan *c = (struct bm_chan *)r->b;
	chan_status st;
	*missed = 0;
	pthread_mutex_lock(&c->lock);
	for (bool timed_out = false;;) {
		if (rx->pos < c->tail) {
			if (c->tail - rx->pos > c->cap) {
				*missed = c->tail - c->cap - rx->pos;
				rx->pos = c->tail - c->cap;
			}
			*msg = c->ring[rx->pos % c->cap];
			rx->pos++;
			st = CHAN_OK;
			break;
		}
		if (c->closed) {
			st = CHAN_CLOSED;
			break;
		}
		if (timed_out || chan_deadline_passed(dl)) {
			st = chan_deadline_fail(dl, CHAN_EMPTY);
			break;
		}
		c->waiting++;
		timed_out = kind_cond_wait(&c->cv, &c->lock, dl);
		c->waiting--;
	}
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status bm_close(struct bcast_base *b)
{
	struct bm_chan *c = (struct bm_chan *)b;
	return kind_close(&c->lock, &c->cv, &c->closed);
}

const struct bcast_ops bcast_mutex_ops = {
	.abi_version = KIND_ABI_VERSION,
	.size = sizeof(struct bcast_ops),
	.name = "mutex",
	.description = "pthread mutex, ring of the last cap messages, one condvar broadcast per send",
	.caps = KIND_CAPS_FULL,
	.create = bm_create,
	.destroy = bm_destroy,
	.subscribe = bm_subscribe,
	.unsubscribe = bm_unsubscribe,
	.send = bm_send,
	.recv = bm_recv,
	.close = bm_close,
};
