/*
 * oneshot mutex: the value and the two sides' states under a pthread mutex;
 * the receiver waits on a condition variable that a send or a sender drop
 * signals. The correctness reference for the oneshot kind.
 *
 * Invariants (under the lock): has_value and sender_gone are never both set
 * before the receiver took the value (the shared layer calls send or
 * sender_drop, once); a send that finds rx_gone fails and stores nothing (O1);
 * taken makes every later recv CLOSED.
 *
 * The sender signals while holding the lock: the receiver can return, drop
 * its handle and let the shared layer free the object only after the sender's
 * unlock, and the layer frees only once the sender's call has returned.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/kinds_impl.h"
#include "kind_mutex.h"

struct om_chan {
	struct oneshot_base base;
	pthread_mutex_t lock;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	uintptr_t value;
	bool has_value, taken, sender_gone, rx_gone;
};

static chan_status om_create(const struct oneshot_ops *ops, struct oneshot_base **out)
{
	struct om_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	pthread_mutex_init(&c->lock, NULL);
	kind_cond_init(&c->cv);
	*out = &c->base;
	return CHAN_OK;
}

static void om_destroy(struct oneshot_base *o)
{
	struct om_chan *c = (struct om_chan *)o;
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static chan_status om_send(struct oneshot_base *o, uintptr_t v)
{
	struct om_chan *c = (struct om_chan *)o;
	chan_status st = CHAN_CLOSED;
	pthread_mutex_lock(&c->lock);
	if (!c->rx_gone) {
		c->value = v;
		c->has_value = true;
		pthread_cond_signal(&c->cv);
		st = CHAN_OK;
	}
	pthread_mutex_unlock(&c->lock);
	return st;
}

static void om_sender_drop(struct oneshot_base *o)
{
	struct om_chan *c = (struct om_chan *)o;
	pthread_mutex_lock(&c->lock);
	c->sender_gone = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->lock);
}

static void om_receiver_drop(struct oneshot_base *o)
{
	struct om_chan *c = (struct om_chan *)o;
	pthread_mutex_lock(&c->lock);
	c->rx_gone = true;
	pthread_mutex_unlock(&c->lock);
}

static chan_status om_recv(struct oneshot_base *o, uintptr_t *v, chan_deadline dl)
{
	struct om_chan *c = (struct om_chan *)o;
	chan_status st;
	pthread_mutex_lock(&c->lock);
	for (bool timed_out = false;;) {
		if (c->taken) {
			st = CHAN_CLOSED;
			break;
		}
		if (c->has_value) {
			*v = c->value;
			c->taken = true;
			st = CHAN_OK;
			break;
		}
		if (c->sender_gone) {
			st = CHAN_CLOSED;
			break;
		}
		if (timed_out || chan_deadline_passed(dl)) {
			st = chan_deadline_fail(dl, CHAN_EMPTY);
			break;
		}
		timed_out = kind_cond_wait(&c->cv, &c->lock, dl);
	}
	pthread_mutex_unlock(&c->lock);
	return st;
}

const struct oneshot_ops oneshot_mutex_ops = {
	.abi_version = KIND_ABI_VERSION,
	.size = sizeof(struct oneshot_ops),
	.name = "mutex",
	.description = "pthread mutex and condvar around the value and both sides' states",
	.caps = KIND_CAPS_FULL,
	.create = om_create,
	.destroy = om_destroy,
	.send = om_send,
	.recv = om_recv,
	.sender_drop = om_sender_drop,
	.receiver_drop = om_receiver_drop,
};
