/*
 * glib-asyncqueue: GLib's GAsyncQueue as a chanbench plug-in (a peer).
 *
 * GAsyncQueue is an unbounded MPMC FIFO of non-NULL pointers guarded by one
 * mutex and one condition variable, with blocking, non-blocking and timed pop.
 * It lacks, and the caps say so (n/a in every report): a bounded capacity and
 * rendezvous (capacity 0).
 *
 * Emulated here, and said so in the description:
 *   - close. GAsyncQueue has none. close sets a flag (later sends fail) and
 *     pushes one end-of-stream token behind everything buffered. A receiver
 *     that pops the token puts it back at the front and returns CLOSED; putting
 *     it back signals the next blocked receiver, which does the same, so every
 *     receiver first drains what was sent before close, in order, and every
 *     blocked receiver wakes. Nothing is guessed: the token is an exact
 *     end-of-stream mark, because the flag and the token are set under the
 *     queue's lock, the same lock every send holds.
 *   - the full word range. GAsyncQueue refuses NULL and the token needs a value
 *     of its own. So 0 and ESC travel as two adjacent elements (ESC, code) and
 *     the token is (ESC, TOKEN); pairs are pushed and popped under the queue's
 *     own lock (the _unlocked calls), so they stay adjacent with any number of
 *     senders and receivers. Every other value is pushed as it is: the escape
 *     costs one comparison per message.
 *   - len: a count kept under the lock (g_async_queue_length counts waiting
 *     receivers as negative and would count escape elements).
 * Every operation holds the queue's lock exactly once, as GLib's own
 * g_async_queue_push / _pop do.
 *
 * Deadlines: g_async_queue_timeout_pop_unlocked takes a relative time in
 * microseconds (GLib's monotonic clock, CLOCK_MONOTONIC); the remaining time is
 * rounded up and the wait repeated until the deadline has really passed.
 */
#include <glib.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

const struct chan_ops *chanbench_plugin_entry(void);

/* ESC is the address of a private object, so it is never NULL; codes follow it. */
static const char esc_anchor;
#define ESC ((gpointer)&esc_anchor)
#define CODE_ZERO ((gpointer)(uintptr_t)1)
#define CODE_ESC ((gpointer)(uintptr_t)2)
#define CODE_TOKEN ((gpointer)(uintptr_t)3)

struct gaq_chan {
	struct chan_base base;
	GAsyncQueue *q;
	bool closed;  /* under q's lock */
	size_t count; /* messages buffered, under q's lock */
};

static chan_status gaq_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct gaq_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	c->q = g_async_queue_new();
	*out = &c->base;
	return CHAN_OK;
}

static void gaq_destroy(struct chan_base *b)
{
	struct gaq_chan *c = (struct gaq_chan *)b;
	g_async_queue_unref(c->q); /* elements are plain values: nothing to free */
	free(c);
}

/* Precondition: q locked. */
static void push_pair(GAsyncQueue *q, gpointer code)
{
	g_async_queue_push_unlocked(q, ESC);
	g_async_queue_push_unlocked(q, code);
}

static chan_status gaq_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct gaq_chan *c = (struct gaq_chan *)b;
	chan_status st = CHAN_OK;
	g_async_queue_lock(c->q);
	if (c->closed) {
		st = CHAN_CLOSED;
	} else {
		if (msg == 0)
			push_pair(c->q, CODE_ZERO);
		else if ((gpointer)msg == ESC)
			push_pair(c->q, CODE_ESC);
		else
			g_async_queue_push_unlocked(c->q, (gpointer)msg);
		c->count++;
	}
	g_async_queue_unlock(c->q);
	return st;
}

/* Pop one element, waiting as the deadline allows; NULL if none came in time.
 * Precondition: q locked (the waits release and retake it). */
static gpointer pop_element(GAsyncQueue *q, chan_deadline dl)
{
	if (dl == CHAN_FOREVER)
		return g_async_queue_pop_unlocked(q);
	for (;;) {
		int64_t left = dl - chan_deadline_now_ns();
		if (dl <= 0 || left <= 0)
			return g_async_queue_try_pop_unlocked(q);
		gpointer p = g_async_queue_timeout_pop_unlocked(q, (guint64)((left + 999) / 1000));
		if (p != NULL)
			return p;
	}
}

static chan_status gaq_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct gaq_chan *c = (struct gaq_chan *)b;
	chan_status st = CHAN_OK;
	g_async_queue_lock(c->q);
	gpointer p = pop_element(c->q, dl);
	if (p == NULL) {
		st = chan_deadline_fail(dl, CHAN_EMPTY);
	} else if (p != ESC) {
		*msg = (uintptr_t)p;
		c->count--;
	} else {
		/* The pair was pushed under this lock, so its code is already there. */
		gpointer code = g_async_queue_try_pop_unlocked(c->q);
		if (code == CODE_TOKEN) {
			/* End of stream: leave it for the next receiver (and wake it). */
			g_async_queue_push_front_unlocked(c->q, CODE_TOKEN);
			g_async_queue_push_front_unlocked(c->q, ESC);
			st = CHAN_CLOSED;
		} else {
			*msg = code == CODE_ZERO ? 0 : (uintptr_t)ESC;
			c->count--;
		}
	}
	g_async_queue_unlock(c->q);
	return st;
}

static chan_status gaq_close(struct chan_base *b)
{
	struct gaq_chan *c = (struct gaq_chan *)b;
	chan_status st = CHAN_OK;
	g_async_queue_lock(c->q);
	if (c->closed) {
		st = CHAN_ALREADY_CLOSED;
	} else {
		c->closed = true;
		push_pair(c->q, CODE_TOKEN); /* behind every message sent before close */
	}
	g_async_queue_unlock(c->q);
	return st;
}

static size_t gaq_len(struct chan_base *b)
{
	struct gaq_chan *c = (struct gaq_chan *)b;
	g_async_queue_lock(c->q);
	size_t n = c->count;
	g_async_queue_unlock(c->q);
	return n;
}

static const struct chan_ops gaq_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "glib-asyncqueue",
	.description = "GLib " G_STRINGIFY(GLIB_MAJOR_VERSION) "." G_STRINGIFY(GLIB_MINOR_VERSION)
	               " GAsyncQueue (unbounded, no capacity 0; close emulated with a flag + an"
	               " end-of-stream token each receiver puts back; 0 sent as an escape pair)",
	.caps = CHAN_CAP_UNBOUNDED | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING | CHAN_CAP_TIMED |
	        CHAN_CAP_CLOSE | CHAN_CAP_LEN,
	.create = gaq_create,
	.destroy = gaq_destroy,
	.send = gaq_send,
	.recv = gaq_recv,
	.close = gaq_close,
	.len = gaq_len,
};

const struct chan_ops *chanbench_plugin_entry(void)
{
	return &gaq_ops;
}
