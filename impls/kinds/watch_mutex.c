/*
 * watch mutex: one value and its version under a pthread mutex; receivers that
 * wait for a change sleep on one condition variable, and every send or close
 * broadcasts it (W1: every waiting receiver wakes). The correctness reference
 * for the watch kind; the model is tokio::sync::watch (a lock around the value,
 * a version counter, a notifier that wakes all).
 *
 * Invariants (under the lock):
 *   - version counts the sends; value is the one the last send stored.
 *   - a receiver's seen <= version; changed returns once version > seen and
 *     sets seen = version (intermediate versions are skipped: only the latest
 *     is kept).
 *   - closed: no send succeeds; a receiver with seen == version sees CLOSED,
 *     one with seen < version first gets the final value (W2).
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/kinds_impl.h"
#include "kind_mutex.h"

struct wm_chan {
	struct watch_base base;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	uintptr_t value;
	uint64_t version;
	unsigned waiting;
	bool closed;
};

struct wm_rx {
	struct watch_rx_base base;
	uint64_t seen; /* its owner's alone; compared under the lock */
};

static chan_status wm_create(const struct watch_ops *ops, uintptr_t initial, struct watch_base **out)
{
	struct wm_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	c->value = initial;
	pthread_mutex_init(&c->lock, NULL);
	kind_cond_init(&c->cv);
	*out = &c->base;
	return CHAN_OK;
}

static void wm_destroy(struct watch_base *w)
{
	struct wm_chan *c = (struct wm_chan *)w;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static chan_status wm_subscribe(struct watch_base *w, struct watch_rx_base **out)
{
	struct wm_chan *c = (struct wm_chan *)w;
	struct wm_rx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	rx->base.w = w;
	pthread_mutex_lock(&c->lock);
	bool closed = c->closed;
	rx->seen = c->version; /* a new receiver has seen the current value */
	pthread_mutex_unlock(&c->lock);
	if (closed) {
		free(rx);
		return CHAN_CLOSED;
	}
	*out = &rx->base;
	return CHAN_OK;
}

static void wm_unsubscribe(struct watch_rx_base *rx)
{
	free(rx);
}

static chan_status wm_send(struct watch_base *w, uintptr_t v)
{
	struct wm_chan *c = (struct wm_chan *)w;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return CHAN_CLOSED;
	}
	c->value = v;
	c->version++;
	if (c->waiting)
		pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->lock);
	return CHAN_OK;
}

static void wm_borrow(struct watch_rx_base *r, uintptr_t *v, uint64_t *version)
{
	struct wm_chan *c = (struct wm_chan *)r->w;
	pthread_mutex_lock(&c->lock);
	*v = c->value;
	*version = c->version;
	pthread_mutex_unlock(&c->lock);
}

static chan_status wm_changed(struct watch_rx_base *r, uintptr_t *v, chan_deadline dl)
{
	struct wm_rx *rx = (struct wm_rx *)r;
	struct wm_chan *c = (struct wm_chan *)r->w;
	chan_status st;
	pthread_mutex_lock(&c->lock);
	for (bool timed_out = false;;) {
		if (c->version != rx->seen) {
			rx->seen = c->version;
			*v = c->value;
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

static chan_status wm_close(struct watch_base *w)
{
	struct wm_chan *c = (struct wm_chan *)w;
	return kind_close(&c->lock, &c->cv, &c->closed);
}

const struct watch_ops watch_mutex_ops = {
	.abi_version = KIND_ABI_VERSION,
	.size = sizeof(struct watch_ops),
	.name = "mutex",
	.description = "pthread mutex around value and version, one condvar broadcast per send",
	.caps = KIND_CAPS_FULL,
	.create = wm_create,
	.destroy = wm_destroy,
	.subscribe = wm_subscribe,
	.unsubscribe = wm_unsubscribe,
	.send = wm_send,
	.borrow = wm_borrow,
	.changed = wm_changed,
	.close = wm_close,
};
