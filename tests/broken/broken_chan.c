/*
 * broken_chan: one channel body, compiled once per deliberate flaw, so that the
 * conformance suite can prove it catches each flaw (CONFORMANCE.md, "the suite
 * tests itself"). The model is ConcurrencyKit's regressions/ck_spinlock: one
 * shared body, a tiny variant per flavour.
 *
 * Built without any BREAK_* macro it is a correct channel ("broken-none", the
 * control: the suite must pass it). Built with -DBREAK_<FLAW> exactly one
 * property breaks; every variant is marked `#if BREAK_...` at the place where a
 * real implementation would get it wrong. tests/broken/README.md lists each
 * flaw with the property that must catch it; tests/test_broken_plugins.py
 * checks that it does.
 *
 * Design (deliberately not the built-in "mutex" one): one pthread mutex, two
 * condition variables (`readable` for receivers, `writable` for senders), every
 * change announced with a broadcast.
 *   Buffered (N >= 1, unbounded): a ring indexed by two ever-increasing
 *   counters, head (next to take) and tail (next to fill); count = tail - head,
 *   slot = counter % ring. The unbounded ring doubles in place (the counters
 *   keep their values), so it never reports full.
 *   Rendezvous (0): one hand-off spot. A sender with time left places its value
 *   as an open offer and waits for a receiver to take it (or withdraws it on
 *   timeout / close). A sender without time left (try_send, passed deadline)
 *   may only hand its value to a receiver that is waiting right now: it leaves
 *   the value promised to those receivers (`promised_to`, by wait ticket) and
 *   returns at once; a promised receiver takes it before it looks at anything
 *   else, and close does not withdraw it.
 *
 * Invariants (under `lock`): head <= tail, tail - head <= limit; rendezvous:
 * `offer` is OPEN (a sender waits for it), PROMISED or NONE; nothing is added
 * once `closed`.
 *
 * Memory ordering: every shared field is accessed with the lock held, except
 * where a flaw below says otherwise (that is the flaw).
 *
 * Flaw macros (one at a time), see the README for the realistic story of each:
 *   BREAK_LOST_WAKEUP, BREAK_OFF_BY_ONE_CAPACITY, BREAK_DROP_ON_CLOSE,
 *   BREAK_DUPLICATE_UNDER_RACE, BREAK_LIFO, BREAK_TRY_SEND_BLOCKS,
 *   BREAK_TIMEOUT_IGNORED, BREAK_CLOSE_NO_WAKE_SENDERS, BREAK_LEN_LIES,
 *   BREAK_UNBOUNDED_BLOCKS, BREAK_RENDEZVOUS_BUFFERS_ONE, BREAK_NONATOMIC_INDEX,
 *   BREAK_SEND_AFTER_CLOSE_ACCEPTED, BREAK_TIMED_RECV_CONSUMES,
 *   BREAK_SECOND_CLOSE_OK, BREAK_CLOSED_BEFORE_DRAIN, BREAK_TIMEOUT_REARMED,
 *   BREAK_TIMEOUT_OVERSHOOT, BREAK_UNBOUNDED_STOPS_EARLY.
 * BROKEN_NAME is the ops name ("broken-<flaw>").
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

#ifndef BROKEN_NAME
#define BROKEN_NAME "broken-none"
#endif

/* Every flaw macro defaults to 0, so `#if BREAK_X` is always well defined. */
#ifndef BREAK_LOST_WAKEUP
#define BREAK_LOST_WAKEUP 0
#endif
#ifndef BREAK_OFF_BY_ONE_CAPACITY
#define BREAK_OFF_BY_ONE_CAPACITY 0
#endif
#ifndef BREAK_DROP_ON_CLOSE
#define BREAK_DROP_ON_CLOSE 0
#endif
#ifndef BREAK_DUPLICATE_UNDER_RACE
#define BREAK_DUPLICATE_UNDER_RACE 0
#endif
#ifndef BREAK_LIFO
#define BREAK_LIFO 0
#endif
#ifndef BREAK_TRY_SEND_BLOCKS
#define BREAK_TRY_SEND_BLOCKS 0
#endif
#ifndef BREAK_TIMEOUT_IGNORED
#define BREAK_TIMEOUT_IGNORED 0
#endif
#ifndef BREAK_CLOSE_NO_WAKE_SENDERS
#define BREAK_CLOSE_NO_WAKE_SENDERS 0
#endif
#ifndef BREAK_LEN_LIES
#define BREAK_LEN_LIES 0
#endif
#ifndef BREAK_UNBOUNDED_BLOCKS
#define BREAK_UNBOUNDED_BLOCKS 0
#endif
#ifndef BREAK_RENDEZVOUS_BUFFERS_ONE
#define BREAK_RENDEZVOUS_BUFFERS_ONE 0
#endif
#ifndef BREAK_NONATOMIC_INDEX
#define BREAK_NONATOMIC_INDEX 0
#endif
#ifndef BREAK_SEND_AFTER_CLOSE_ACCEPTED
#define BREAK_SEND_AFTER_CLOSE_ACCEPTED 0
#endif
#ifndef BREAK_TIMED_RECV_CONSUMES
#define BREAK_TIMED_RECV_CONSUMES 0
#endif
#ifndef BREAK_SECOND_CLOSE_OK
#define BREAK_SECOND_CLOSE_OK 0
#endif
#ifndef BREAK_CLOSED_BEFORE_DRAIN
#define BREAK_CLOSED_BEFORE_DRAIN 0
#endif
#ifndef BREAK_TIMEOUT_REARMED
#define BREAK_TIMEOUT_REARMED 0
#endif
#ifndef BREAK_TIMEOUT_OVERSHOOT
#define BREAK_TIMEOUT_OVERSHOOT 0
#endif
#ifndef BREAK_UNBOUNDED_STOPS_EARLY
#define BREAK_UNBOUNDED_STOPS_EARLY 0
#endif

/* "Unbounded" that is really a big bounded ring. */
#define BROKEN_UNBOUNDED_LIMIT 1000
/* "Unbounded" whose growth stops at a "sane" maximum (BREAK_UNBOUNDED_STOPS_EARLY). */
#define BROKEN_UNBOUNDED_MAX_RING (UINT64_C(1) << 18) /* 262144 messages */
/* The slack a timed wait adds to every deadline (BREAK_TIMEOUT_OVERSHOOT). */
#define BROKEN_OVERSHOOT_NS INT64_C(250000000)

/* BREAK_TIMEOUT_REARMED: the operation's timeout as a relative interval, taken
 * when it started (0: untimed). */
static _Thread_local int64_t rearm_interval_ns;

enum offer { OFFER_NONE, OFFER_OPEN, OFFER_PROMISED };

struct broken_chan {
	struct chan_base base;
	pthread_mutex_t lock;
	pthread_cond_t readable; /* receivers wait: data, an offer, or close */
	pthread_cond_t writable; /* senders wait: room, the spot, a take, or close */
	bool closed;
	bool rendezvous;
	bool unbounded;

	/* Buffered flavours. */
	size_t limit;   /* most messages held: N, or SIZE_MAX when unbounded */
	size_t ring;    /* slots allocated */
	uintptr_t *buf;
	uint64_t head;  /* counter of the next message to take */
	uint64_t tail;  /* counter of the next slot to fill */

	/* Rendezvous flavour. */
	enum offer offer;
	uintptr_t spot;
	uint64_t offer_id;     /* id of the offer in the spot */
	uint64_t taken_id;     /* id of the last offer taken */
	uint64_t promised_to;  /* PROMISED: receivers with wait ticket <= this */
	uint64_t wait_tickets; /* handed to receivers as they start waiting */
	size_t receivers_waiting;
};

static const struct chan_ops broken_ops;

/* Wait on cv until woken or the deadline *dl passes; false once it timed out.
 * Precondition: c->lock held. */
static bool wait_on(struct broken_chan *c, pthread_cond_t *cv, chan_deadline *dl)
{
	if (*dl == CHAN_FOREVER) {
		pthread_cond_wait(cv, &c->lock);
		return true;
	}
	chan_deadline until = *dl;
#if BREAK_TIMEOUT_OVERSHOOT
	/* FLAW: "a little slack lets the kernel coalesce timers": every timed
	 * wait sleeps a quarter of a second past its deadline. */
	until += BROKEN_OVERSHOOT_NS;
#endif
	struct timespec ts = chan_deadline_timespec(until);
	bool woken = pthread_cond_timedwait(cv, &c->lock, &ts) != ETIMEDOUT;
#if BREAK_TIMEOUT_REARMED
	/* FLAW: the timeout is kept as "wait up to T" and every wait-up starts
	 * it again (a relative timeout handed to each wait, as with futex(2)
	 * or a select() loop): a waiter woken often enough never times out. */
	if (woken && rearm_interval_ns > 0)
		*dl = (chan_deadline)(chan_deadline_now_ns() + rearm_interval_ns);
#endif
	return woken;
}

/* Remember the timeout as an interval (read only by BREAK_TIMEOUT_REARMED). */
static void note_interval(chan_deadline dl)
{
	int64_t left = 0;
	if (dl != CHAN_FOREVER && dl != CHAN_NOWAIT)
		left = (int64_t)dl - chan_deadline_now_ns();
	rearm_interval_ns = left > 0 ? left : 0;
}

static chan_status broken_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct broken_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
#if BREAK_RENDEZVOUS_BUFFERS_ONE
	/* FLAW: "a ring needs at least one slot": capacity 0 becomes 1. */
	if (cap == 0)
		cap = 1;
#endif
	c->rendezvous = (cap == 0);
	c->unbounded = (cap == CHAN_UNBOUNDED);
#if BREAK_UNBOUNDED_BLOCKS
	/* FLAW: "unbounded" is just a generous bound. */
	c->limit = c->unbounded ? BROKEN_UNBOUNDED_LIMIT : cap;
#elif BREAK_UNBOUNDED_STOPS_EARLY
	/* FLAW: the ring grows, but only up to a "sane" maximum; past it the
	 * unbounded channel is full (try_send FULL, send blocks). */
	c->limit = c->unbounded ? (size_t)BROKEN_UNBOUNDED_MAX_RING : cap;
#else
	c->limit = c->unbounded ? SIZE_MAX : cap;
#endif
	c->ring = c->unbounded ? 64 : (cap > 0 ? cap : 1);
#if BREAK_OFF_BY_ONE_CAPACITY
	/* One spare slot "to tell full from empty" (see has_room). */
	if (!c->unbounded)
		c->ring += 1;
#endif
	c->buf = malloc(c->ring * sizeof *c->buf);
	if (c->buf == NULL) {
		free(c);
		return CHAN_ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
#if !BREAK_TIMEOUT_IGNORED
	/* Deadlines are CLOCK_MONOTONIC. (FLAW when left out: the condvars stay on
	 * CLOCK_REALTIME, where a monotonic deadline lies decades in the past.) */
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
#endif
	pthread_cond_init(&c->readable, &attr);
	pthread_cond_init(&c->writable, &attr);
	pthread_condattr_destroy(&attr);
	*out = &c->base;
	return CHAN_OK;
}

static void broken_destroy(struct chan_base *b)
{
	struct broken_chan *c = (struct broken_chan *)b;
	pthread_cond_destroy(&c->readable);
	pthread_cond_destroy(&c->writable);
	pthread_mutex_destroy(&c->lock);
	free(c->buf);
	free(c);
}

/* ---------------------------------------------------------------- buffered */

static size_t buffered_count(const struct broken_chan *c)
{
	return (size_t)(c->tail - c->head);
}

static bool has_room(const struct broken_chan *c)
{
#if BREAK_OFF_BY_ONE_CAPACITY
	/* FLAW: `<=` where `<` was meant; the spare slot makes it fit. */
	return buffered_count(c) <= c->limit;
#else
	return buffered_count(c) < c->limit;
#endif
}

/* Double the unbounded ring. The counters keep their values: each message
 * moves to its counter's slot in the bigger ring. Precondition: lock held. */
static bool ring_grow(struct broken_chan *c)
{
	size_t n = c->ring * 2;
	uintptr_t *nb = malloc(n * sizeof *nb);
	if (nb == NULL)
		return false;
	for (uint64_t i = c->head; i != c->tail; i++)
		nb[i % n] = c->buf[i % c->ring];
	free(c->buf);
	c->buf = nb;
	c->ring = n;
	return true;
}

/* Wake receivers after a message was added. Precondition: lock held, and the
 * count before the add is `before`. */
static void wake_receivers(struct broken_chan *c, size_t before)
{
#if BREAK_LOST_WAKEUP
	/* FLAW: "only an empty-to-non-empty transition can have waiters", and
	 * one wake per transition. Two quick sends wake one receiver only. */
	if (before == 0)
		pthread_cond_signal(&c->readable);
#else
	(void)before;
	pthread_cond_broadcast(&c->readable);
#endif
}

/* Wake senders after a message was taken; `before` is the count before. */
static void wake_senders(struct broken_chan *c, size_t before)
{
#if BREAK_LOST_WAKEUP
	/* FLAW: as above, for full-to-not-full. */
	if (before == c->limit)
		pthread_cond_signal(&c->writable);
#else
	(void)before;
	pthread_cond_broadcast(&c->writable);
#endif
}

static chan_status buffered_send(struct broken_chan *c, uintptr_t msg, chan_deadline dl,
                                 uint64_t early_tail)
{
	bool first = true; /* read only by BREAK_NONATOMIC_INDEX */
	(void)early_tail;
	(void)first;
	for (;;) {
#if !BREAK_SEND_AFTER_CLOSE_ACCEPTED
		if (c->closed)
			return CHAN_CLOSED;
#endif
		if (has_room(c)) {
			size_t before = buffered_count(c);
			if (before == c->ring && !ring_grow(c))
				return CHAN_ENOMEM;
			uint64_t t = c->tail;
#if BREAK_NONATOMIC_INDEX
			/* FLAW: the slot index was read before taking the lock (a plain
			 * read, "to keep the critical section short"); the counter is
			 * bumped properly below. Two senders can fill the same slot: one
			 * message is overwritten, and the other slot keeps stale data. */
			if (first)
				t = early_tail;
#endif
			c->buf[t % c->ring] = msg;
			c->tail++;
			wake_receivers(c, before);
			return CHAN_OK;
		}
#if BREAK_SEND_AFTER_CLOSE_ACCEPTED
		/* FLAW: closed is only checked where we would block. */
		if (c->closed)
			return CHAN_CLOSED;
#endif
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_FULL);
		first = false;
#if BREAK_TIMEOUT_IGNORED
		/* FLAW: trusts ETIMEDOUT from a condvar on the wrong clock. */
		if (!wait_on(c, &c->writable, &dl))
			return CHAN_TIMEOUT;
#else
		wait_on(c, &c->writable, &dl);
#endif
	}
}

static chan_status buffered_recv(struct broken_chan *c, uintptr_t *msg, chan_deadline dl,
                                 uint64_t early_head)
{
	bool first = true; /* read only by BREAK_DUPLICATE_UNDER_RACE */
	(void)early_head;
	(void)first;
	for (;;) {
#if BREAK_CLOSED_BEFORE_DRAIN
		/* FLAW: closed is checked before the buffer. */
		if (c->closed)
			return CHAN_CLOSED;
#endif
		if (c->head != c->tail) {
			size_t before = buffered_count(c);
#if BREAK_LIFO
			/* FLAW: takes the newest message (a stack, not a queue). */
			c->tail--;
			*msg = c->buf[c->tail % c->ring];
#else
			uint64_t h = c->head;
#if BREAK_DUPLICATE_UNDER_RACE
			/* FLAW: the slot index was peeked before taking the lock ("fast
			 * path") and not re-read; the counter is bumped properly below.
			 * Two receivers can take the same slot (and one is skipped). */
			if (first)
				h = early_head;
#endif
			*msg = c->buf[h % c->ring];
			c->head++;
#endif
			wake_senders(c, before);
			return CHAN_OK;
		}
		if (c->closed)
			return CHAN_CLOSED;
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		first = false;
#if BREAK_TIMEOUT_IGNORED
		if (!wait_on(c, &c->readable, &dl))
			return CHAN_TIMEOUT;
#else
		wait_on(c, &c->readable, &dl);
#endif
	}
}

/* -------------------------------------------------------------- rendezvous */

/* May a receiver holding wait ticket `ticket` (0: it has not waited) take the
 * value in the spot? An open offer: anyone (its sender is waiting). A promised
 * one: only the receivers that were waiting when it was placed. */
static bool may_take(const struct broken_chan *c, uint64_t ticket)
{
	if (c->offer == OFFER_OPEN)
		return true;
	return c->offer == OFFER_PROMISED && ticket != 0 && ticket <= c->promised_to;
}

static chan_status rendezvous_send(struct broken_chan *c, uintptr_t msg, chan_deadline dl)
{
	for (;;) {
		if (c->closed)
			return CHAN_CLOSED;
		bool passed = chan_deadline_passed(dl);
		if (c->offer == OFFER_NONE && passed && c->receivers_waiting > 0) {
			/* No time to wait, but a receiver is waiting: promise it the
			 * value and return; it will take it when it runs. */
			c->spot = msg;
			c->offer = OFFER_PROMISED;
			c->promised_to = c->wait_tickets;
			pthread_cond_broadcast(&c->readable);
			return CHAN_OK;
		}
		if (c->offer == OFFER_NONE && !passed)
			break;
		if (passed)
			return chan_deadline_fail(dl, CHAN_FULL);
		wait_on(c, &c->writable, &dl);
	}
	/* Open an offer and wait for a receiver to take it. */
	c->spot = msg;
	c->offer = OFFER_OPEN;
	uint64_t id = ++c->offer_id;
	pthread_cond_broadcast(&c->readable);
	for (;;) {
		if (c->taken_id >= id)
			return CHAN_OK;
		if (c->closed)
			return CHAN_CLOSED; /* close withdrew the offer */
		if (chan_deadline_passed(dl)) {
			c->offer = OFFER_NONE; /* ours: not taken, so still in the spot */
			pthread_cond_broadcast(&c->writable);
			return CHAN_TIMEOUT;
		}
		wait_on(c, &c->writable, &dl);
	}
}

static chan_status rendezvous_recv(struct broken_chan *c, uintptr_t *msg, chan_deadline dl)
{
	uint64_t ticket = 0;
	for (;;) {
		if (may_take(c, ticket)) {
			*msg = c->spot;
			if (c->offer == OFFER_OPEN)
				c->taken_id = c->offer_id; /* releases the waiting sender */
			c->offer = OFFER_NONE;
			pthread_cond_broadcast(&c->writable);
			return CHAN_OK;
		}
		if (c->closed)
			return CHAN_CLOSED;
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		if (ticket == 0)
			ticket = ++c->wait_tickets;
		c->receivers_waiting++;
		bool woken = wait_on(c, &c->readable, &dl);
#if BREAK_TIMED_RECV_CONSUMES
		/* FLAW: the count is given back only when the receiver leaves with
		 * something (woken, a value, or close), not when it times out empty:
		 * the receiver is gone but still counted as waiting, and a later
		 * try_send promises it a value that nobody will ever take. */
		if (woken || may_take(c, ticket) || c->closed)
			c->receivers_waiting--;
#else
		(void)woken;
		c->receivers_waiting--;
#endif
#if BREAK_TIMEOUT_IGNORED
		if (!woken && !may_take(c, ticket))
			return CHAN_TIMEOUT;
#endif
	}
}

/* ---------------------------------------------------------------------- ops */

static chan_status broken_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct broken_chan *c = (struct broken_chan *)b;
	uint64_t early_tail = 0;
#if BREAK_NONATOMIC_INDEX
	early_tail = *(volatile uint64_t *)&c->tail; /* FLAW: read without the lock */
#endif
#if BREAK_TRY_SEND_BLOCKS
	/* FLAW: "a zero timeout means no timeout". */
	if (dl == CHAN_NOWAIT)
		dl = CHAN_FOREVER;
#endif
	note_interval(dl);
	pthread_mutex_lock(&c->lock);
	chan_status st = c->rendezvous ? rendezvous_send(c, msg, dl)
	                               : buffered_send(c, msg, dl, early_tail);
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status broken_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct broken_chan *c = (struct broken_chan *)b;
	uint64_t early_head = 0;
#if BREAK_DUPLICATE_UNDER_RACE
	early_head = *(volatile uint64_t *)&c->head; /* FLAW: read without the lock */
#endif
	note_interval(dl);
	pthread_mutex_lock(&c->lock);
	chan_status st = c->rendezvous ? rendezvous_recv(c, msg, dl)
	                               : buffered_recv(c, msg, dl, early_head);
	pthread_mutex_unlock(&c->lock);
	return st;
}

static chan_status broken_close(struct chan_base *b)
{
	struct broken_chan *c = (struct broken_chan *)b;
	pthread_mutex_lock(&c->lock);
	if (c->closed) {
		pthread_mutex_unlock(&c->lock);
#if BREAK_SECOND_CLOSE_OK
		return CHAN_OK; /* FLAW: "close is idempotent", silently */
#else
		return CHAN_ALREADY_CLOSED;
#endif
	}
	c->closed = true;
	if (c->offer == OFFER_OPEN)
		c->offer = OFFER_NONE; /* its sender returns CLOSED and keeps it */
#if BREAK_DROP_ON_CLOSE
	/* FLAW: close "resets" the buffer: what was in it is gone. */
	c->head = c->tail;
#endif
	pthread_cond_broadcast(&c->readable);
#if !BREAK_CLOSE_NO_WAKE_SENDERS
	/* (FLAW when left out: "close is for receivers".) */
	pthread_cond_broadcast(&c->writable);
#endif
	pthread_mutex_unlock(&c->lock);
	return CHAN_OK;
}

static size_t broken_len(struct chan_base *b)
{
	struct broken_chan *c = (struct broken_chan *)b;
	pthread_mutex_lock(&c->lock);
#if BREAK_LEN_LIES
	/* FLAW: length from the wrapped slot indices, (tail - head) mod ring,
	 * which cannot tell a full ring from an empty one: full reads as 0. */
	size_t n = (size_t)((c->tail % c->ring + c->ring - c->head % c->ring) % c->ring);
#else
	size_t n = c->rendezvous ? 0 : buffered_count(c);
#endif
	pthread_mutex_unlock(&c->lock);
	return n;
}

static const struct chan_ops broken_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = BROKEN_NAME,
	.description = "deliberately broken channel for the suite's self-test (" BROKEN_NAME ")",
	.caps = CHAN_CAPS_FULL,
	.create = broken_create,
	.destroy = broken_destroy,
	.send = broken_send,
	.recv = broken_recv,
	.close = broken_close,
	.len = broken_len,
};

__attribute__((visibility("default"))) const struct chan_ops *chanbench_plugin_entry(void);

const struct chan_ops *chanbench_plugin_entry(void)
{
	return &broken_ops;
}
