/*
 * template: the chanbench plug-in to copy when you start your own.
 *
 * A complete, correct channel in one file, written to be read: one pthread
 * mutex guards everything, two condition variables say "something changed":
 *
 *   not_empty   a message (or, at capacity 0, an offer) may be there to take;
 *   not_full    a slot (or, at capacity 0, the hand-off spot) may be free, or an
 *               offer was taken.
 *
 * Every waiter re-checks its own condition in a loop after waking, and every
 * change is announced with pthread_cond_broadcast, so no wake-up can be lost
 * (CONFORMANCE Q7) even though different kinds of waiter share one condvar.
 * The price is a "thundering herd" under contention: fine for a template, and
 * exactly what a faster design (per-waiter queues, futexes) improves on.
 *
 * Buffered channels (capacity N >= 1, or unbounded) keep a ring buffer:
 *   buf[(head + i) % ring] for i in 0..count-1, oldest first.
 * Bounded: ring == N and a send waits while count == N. Unbounded: the ring
 * doubles when full, so a send never waits (Q11).
 *
 * Rendezvous channels (capacity 0) have no buffer, only one hand-off spot and
 * two counters ("tickets"):
 *   offered   offers ever placed in the spot (minus offers withdrawn);
 *   taken     offers ever taken by a receiver.
 * The spot holds a value exactly when offered == taken + 1 (at most one offer
 * at a time). A sender waits for the spot to be free, places its value, takes
 * ticket = ++offered, then waits until taken >= ticket: so a send returns only
 * after a receiver took its value (Q12). A sender that gives up (deadline or
 * close) before that withdraws its own offer, which is still the one in the
 * spot, so it leaves no trace (T4) and keeps its value.
 * A try_send (or a send whose deadline has passed) may only place a value when
 * a receiver is already waiting (`recv_waiting` > 0), and then only for the
 * receivers waiting at that moment (`spot_for`, see may_take); they re-check
 * the spot before anything else when they wake, so the value is taken
 * promptly and the try_send's wait is short. A try_recv takes a value only if
 * a sender placed it for anyone, i.e. only when a sender is blocked in send.
 *
 * Invariants (all fields read and written with `lock` held):
 *   - 0 <= count <= ring; bounded: ring == cap;
 *   - rendezvous: offered - taken is 0 or 1;
 *   - closed never goes back to false; once closed, nothing is added, and the
 *     rendezvous spot is emptied by close itself (the blocked sender returns
 *     CLOSED and still owns its value, C3).
 *
 * Memory ordering: there is nothing to argue. Every access to shared state is
 * under the mutex, whose lock/unlock pairs order everything, including the
 * value written into the ring or the hand-off spot.
 *
 * Deadlines: chanbench passes an absolute CLOCK_MONOTONIC time in ns
 * (chan_deadline.h). The condvars are created on CLOCK_MONOTONIC so that
 * pthread_cond_timedwait can take that deadline as it is. A deadline that has
 * already passed (CHAN_NOWAIT included) still succeeds if the operation can be
 * done without waiting (T2); a failure is CHAN_FULL / CHAN_EMPTY for
 * CHAN_NOWAIT and CHAN_TIMEOUT otherwise (chan_deadline_fail).
 *
 * What the shared layer does for you (so this file does not): argument checks,
 * capability checks, cap(), sender/receiver handle counting, and handing
 * undelivered messages to the user's callback (it closes the channel, then
 * calls recv with CHAN_NOWAIT until CLOSED).
 *
 * Build it out of tree:
 *   cc -std=c11 -D_GNU_SOURCE -O2 -shared -fPIC -I<repo>/include \
 *      -o libchan_template.so template_chan.c -pthread
 * Check it:
 *   /usr/bin/python3 -m pytest tests --plugin path/to/libchan_template.so --impl template
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_deadline.h" /* header-only: nothing to link */
#include "chanbench/chan_impl.h"

/* Your channel struct. It MUST begin with struct chan_base: the shared layer
 * hands you a struct chan_base * and you cast it back. */
struct template_chan {
	struct chan_base base; /* first member: points at template_ops */
	pthread_mutex_t lock;
	pthread_cond_t not_empty; /* receivers wait here */
	pthread_cond_t not_full;  /* senders wait here */
	bool closed;
	bool unbounded;

	/* Buffered channels (capacity >= 1 or unbounded). */
	size_t cap;     /* capacity asked for; 0 = rendezvous; unused if unbounded */
	uintptr_t *buf; /* ring of `ring` slots; NULL for rendezvous */
	size_t ring;
	size_t head;  /* index of the oldest message */
	size_t count; /* messages buffered */

	/* Rendezvous channels (capacity 0). */
	uintptr_t spot;       /* the offered value, valid when offered != taken */
	uint64_t spot_for;    /* 0, or: only wait tickets <= spot_for may take it */
	uint64_t offered;     /* tickets handed to senders that placed a value */
	uint64_t taken;       /* offers taken by receivers */
	size_t recv_waiting;  /* receivers blocked in recv right now */
	uint64_t waits_begun; /* wait tickets handed to receivers that blocked */
};

/* The ops table is defined at the bottom; create() needs its address. */
static const struct chan_ops template_ops;

#define UNBOUNDED_INITIAL_RING 16

/* ----- small helpers (each: precondition "c->lock held") ----- */

/* Wait on cv until signalled or the deadline passes. Returns false once the
 * deadline has passed (the caller re-checks its condition first either way). */
static bool wait_until(struct template_chan *c, pthread_cond_t *cv, chan_deadline dl)
{
	if (dl == CHAN_FOREVER) {
		pthread_cond_wait(cv, &c->lock);
		return true;
	}
	struct timespec ts = chan_deadline_timespec(dl);
	return pthread_cond_timedwait(cv, &c->lock, &ts) != ETIMEDOUT;
}

static bool has_room(const struct template_chan *c)
{
	return c->unbounded || c->count < c->cap;
}

/* Double the ring of an unbounded channel, oldest message first at index 0. */
static bool ring_grow(struct template_chan *c)
{
	size_t n = c->ring * 2;
	uintptr_t *nb = malloc(n * sizeof *nb);
	if (nb == NULL)
		return false;
	size_t first = c->ring - c->head; /* messages from head to the end of buf */
	if (first > c->count)
		first = c->count;
	memcpy(nb, c->buf + c->head, first * sizeof *nb);
	memcpy(nb + first, c->buf, (c->count - first) * sizeof *nb);
	free(c->buf);
	c->buf = nb;
	c->ring = n;
	c->head = 0;
	return true;
}

/* ----- create / destroy ----- */

static chan_status template_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	/* The shared layer already checked cap against the capability bits. */
	struct template_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	c->unbounded = (cap == CHAN_UNBOUNDED);
	c->cap = c->unbounded ? 0 : cap;
	if (c->unbounded || cap > 0) {
		c->ring = c->unbounded ? UNBOUNDED_INITIAL_RING : cap;
		c->buf = malloc(c->ring * sizeof *c->buf);
		if (c->buf == NULL) {
			free(c);
			return CHAN_ENOMEM;
		}
	}
	pthread_mutex_init(&c->lock, NULL);
	/* Timed waits take CLOCK_MONOTONIC deadlines: tell the condvars so. (The
	 * default, CLOCK_REALTIME, would make every timed wait end at once.) */
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c->not_empty, &attr);
	pthread_cond_init(&c->not_full, &attr);
	pthread_condattr_destroy(&attr);
	*out = &c->base;
	return CHAN_OK;
}

/* Called once no thread uses the channel and it was drained. */
static void template_destroy(struct chan_base *b)
{
	struct template_chan *c = (struct template_chan *)b;
	pthread_cond_destroy(&c->not_full);
	pthread_cond_destroy(&c->not_empty);
	pthread_mutex_destroy(&c->lock);
	free(c->buf);
	free(c);
}

/* ----- buffered channels (capacity >= 1 or unbounded) ----- */

static chan_status buffered_send(struct template_chan *c, uintptr_t msg, chan_deadline dl)
{
	for (;;) {
		if (c->closed)
			return CHAN_CLOSED; /* the caller keeps msg */
		if (has_room(c)) {
			if (c->count == c->ring && !ring_grow(c)) /* unbounded only */
				return CHAN_ENOMEM;
			c->buf[(c->head + c->count) % c->ring] = msg;
			c->count++;
			pthread_cond_broadcast(&c->not_empty);
			return CHAN_OK;
		}
		/* Full. Check the deadline only after trying: a passed deadline still
		 * sends when there is room (T2). */
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_FULL);
		wait_until(c, &c->not_full, dl);
	}
}

static chan_status buffered_recv(struct template_chan *c, uintptr_t *msg, chan_deadline dl)
{
	for (;;) {
		if (c->count > 0) { /* messages come out before CLOSED (C1) */
			*msg = c->buf[c->head];
			c->head = (c->head + 1) % c->ring;
			c->count--;
			pthread_cond_broadcast(&c->not_full);
			return CHAN_OK;
		}
		if (c->closed)
			return CHAN_CLOSED;
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		wait_until(c, &c->not_empty, dl);
	}
}

/* ----- rendezvous channels (capacity 0) ----- */

/* May this receiver take the value in the spot? Precondition: the spot is busy.
 * An ordinary offer comes from a sender blocked in send: anyone may take it.
 * An offer placed by a try_send (spot_for != 0) was promised to the receivers
 * already waiting when it was placed (wait tickets 1..spot_for): a receiver
 * that arrived later must not take it, or a try_send would have paired with a
 * receiver that was not there yet. One of the promised receivers is still
 * waiting (they only leave after checking the spot), so it will be taken. */
static bool may_take(const struct template_chan *c, uint64_t my_wait)
{
	return c->spot_for == 0 || (my_wait != 0 && my_wait <= c->spot_for);
}

static chan_status rendezvous_send(struct template_chan *c, uintptr_t msg, chan_deadline dl)
{
	/* Phase 1: wait for the spot to be free, then place the value. */
	bool passed;
	for (;;) {
		if (c->closed)
			return CHAN_CLOSED;
		passed = chan_deadline_passed(dl);
		/* With time left we may place the value and wait for a receiver; once
		 * the deadline has passed, only if a receiver is already waiting. */
		if (c->offered == c->taken && (!passed || c->recv_waiting > 0))
			break;
		if (passed)
			return chan_deadline_fail(dl, CHAN_FULL);
		wait_until(c, &c->not_full, dl);
	}
	c->spot = msg;
	c->spot_for = passed ? c->waits_begun : 0; /* promised to the waiting receivers */
	uint64_t ticket = ++c->offered;
	pthread_cond_broadcast(&c->not_empty);

	/* Phase 2: wait until a receiver took it. A try_send placed its value only
	 * because a receiver is waiting, and that receiver takes it as soon as it
	 * runs: so it waits without a deadline. */
	chan_deadline wait_dl = passed ? CHAN_FOREVER : dl;
	for (;;) {
		if (c->taken >= ticket)
			return CHAN_OK;
		if (c->closed)
			return CHAN_CLOSED; /* close withdrew our offer; we keep msg */
		if (chan_deadline_passed(wait_dl)) {
			/* Not taken: ours is still the offer in the spot. Withdraw it. */
			c->offered--;
			pthread_cond_broadcast(&c->not_full); /* the spot is free again */
			return CHAN_TIMEOUT;
		}
		wait_until(c, &c->not_full, wait_dl);
	}
}

static chan_status rendezvous_recv(struct template_chan *c, uintptr_t *msg, chan_deadline dl)
{
	uint64_t my_wait = 0; /* our wait ticket; 0 until we first wait */
	for (;;) {
		if (c->offered != c->taken && may_take(c, my_wait)) {
			*msg = c->spot; /* a sender is waiting with its value: take it */
			c->taken++;
			/* Wakes that sender (taken >= ticket) and senders waiting for the spot. */
			pthread_cond_broadcast(&c->not_full);
			return CHAN_OK;
		}
		if (c->closed)
			return CHAN_CLOSED;
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		if (my_wait == 0)
			my_wait = ++c->waits_begun;
		c->recv_waiting++; /* lets a try_send hand us a value */
		wait_until(c, &c->not_empty, dl);
		c->recv_waiting--; /* on every path out of the wait: no trace left (T4) */
	}
}

/* ----- the ops ----- */

static chan_status template_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct template_chan *c = (struct template_chan *)b;
	pthread_mutex_lock(&c->lock);
	chan_status st = c->buf != NULL ? buffered_send(c, msg, dl) : rendezvous_send(c, msg, dl);
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status template_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct template_chan *c = (struct template_chan *)b;
	pthread_mutex_lock(&c->lock);
	chan_status st = c->buf != NULL ? buffered_recv(c, msg, dl) : rendezvous_recv(c, msg, dl);
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status template_close(struct chan_base *b)
{
	struct template_chan *c = (struct template_chan *)b;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
		return CHAN_ALREADY_CLOSED; /* harmless (C5) */
	}
	c->closed = true;
	/* Rendezvous: a value in the spot belongs to a sender still blocked in
	 * send; withdraw it for them, so receivers see CLOSED and the sender gets
	 * CLOSED with its value (C3). */
	c->offered = c->taken;
	/* Wake everyone: receivers drain then see CLOSED, senders see CLOSED. */
	pthread_cond_broadcast(&c->not_empty);
	pthread_cond_broadcast(&c->not_full);
	pthread_mutex_unlock(&c->lock);
	return CHAN_OK;
}

static size_t template_len(struct chan_base *b)
{
	struct template_chan *c = (struct template_chan *)b;
	pthread_mutex_lock(&c->lock);
	size_t n = c->count; /* always 0 for rendezvous: nothing is buffered */
	pthread_mutex_unlock(&c->lock);
	return n;
}

/* The table the suite sees. `static const`: one per implementation. */
static const struct chan_ops template_ops = {
	.abi_version = CHAN_ABI_VERSION,    /* the ABI this file was compiled against */
	.size = sizeof(struct chan_ops),    /* lets newer suites know which slots exist */
	.name = "template",                 /* [a-z0-9_.-], unique: pass it as --impl */
	.description = "plug-in template: one mutex, two condvars, ring buffer, ticket hand-off at capacity 0",
	.caps = CHAN_CAPS_FULL,             /* declare only what you implement */
	.create = template_create,
	.destroy = template_destroy,
	.send = template_send,
	.recv = template_recv,
	.close = template_close,
	.len = template_len,
};

/* The one exported symbol. Declared here too, so -Wmissing-prototypes is happy;
 * default visibility even if you build with -fvisibility=hidden. */
__attribute__((visibility("default"))) const struct chan_ops *chanbench_plugin_entry(void);

const struct chan_ops *chanbench_plugin_entry(void)
{
	return &template_ops;
}
