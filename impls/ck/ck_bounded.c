/*
 * ck, bounded flavor (capacity N >= 1): a stamped-slot array, the bounded MPMC
 * queue of Dmitry Vyukov as crossbeam-channel's array flavor uses it, written on
 * ck_pr (ck_atomic.h). No lock on the message path.
 *
 * Layout: head and tail on lines of their own, the read-only fields on a third,
 * the two wakers on their own lines; the slots, {stamp, msg} of 16 bytes, 4 to a
 * line, in an aligned array.
 *
 * Positions. head and tail are {lap, mark, index}: index < N in the low bits,
 * `mark` = 2^k >= N + 1 just above them (set in tail only: closed), the lap a
 * multiple of one_lap = 2 * mark above that. No division anywhere. Slot i's stamp says whose turn
 * it is: stamp == tail (a sender's position) means free for that sender;
 * stamp == head + 1 means it holds the message for that receiver. Initially
 * stamp[i] = i.
 *
 * send: t = tail; if t has the mark: CLOSED. If stamp[t] == t: CAS tail to the
 *   next position (the CAS is admission, ticket and FIFO position in one step),
 *   write the message, store stamp = t + 1 (release), notify a receiver. If the
 *   slot still holds last lap's message (stamp + one_lap == t + 1): after a full
 *   fence, head + one_lap == t means FULL; otherwise a receiver has taken that
 *   slot's position and not yet stored its stamp: wait for it (never report FULL
 *   then: that receiver's recv has already taken effect).
 * recv, symmetric: stamp[h] == h + 1: CAS head, read, store stamp = h + one_lap,
 *   notify a sender. stamp == h: after a fence, tail (without mark) == h means
 *   EMPTY, or CLOSED if marked; otherwise a sender is in flight on that slot:
 *   wait for its stamp (so FIFO holds, and a try_recv never reports EMPTY after
 *   a send that returned OK).
 * close: set the mark in tail (one CAS loop). Senders after it see CLOSED; a
 *   sender whose CAS came first completes; receivers drain, then see CLOSED.
 *
 * Linearization: a send at its tail CAS, a recv at its head CAS. FULL and EMPTY
 * are reported only when the other index confirms them after a fence, so "try_send
 * FULL, then try_recv EMPTY" cannot be observed. A try or timed operation takes
 * nothing before its CAS and cannot fail after it, so a failed one consumed
 * nothing (T2, T4); the only wait after a CAS is none at all, and the only waits
 * without one are for a counterpart in flight (spin, then yield).
 *
 * Cost per message with nobody asleep: one CAS and one load-acquire per side,
 * one release store, and one load of the other side's waker word. The only line
 * both sides write is the slot's (shared by 4 consecutive slots).
 * A preempted sender (between CAS and stamp) holds up the receivers of its slot
 * only, not other senders.
 */
#include <stdlib.h>
#include <string.h>

#include "ck_flavor.h"
#include "ck_wait.h"

struct ck_slot {
	uint64_t stamp;
	uintptr_t msg;
};

struct ck_bounded {
	struct chan_base base;
	uint64_t cap;     /* N */
	uint64_t mark;    /* 2^k >= N + 1: closed, in tail; index mask = mark - 1 */
	uint64_t one_lap; /* 2 * mark */
	struct ck_slot *buf;
	uint64_t head CK_CC_CACHELINE;
	uint64_t tail CK_CC_CACHELINE;
	struct ckw_waker senders;   /* waiting for room */
	struct ckw_waker receivers; /* waiting for a message */
};

static inline struct ck_bounded *as_b(void *p)
{
	return (struct ck_bounded *)p;
}

/* The position after p (p without the mark). */
static inline uint64_t next_pos(const struct ck_bounded *c, uint64_t p)
{
	uint64_t index = p & (c->mark - 1);
	return index + 1 < c->cap ? p + 1 : (p & ~(c->one_lap - 1)) + c->one_lap;
}

chan_status ck_bounded_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct ck_bounded *c = aligned_alloc(CKC_LINE, sizeof *c);
	uint64_t mark = 1;
	while (mark < (uint64_t)cap + 1)
		mark <<= 1;
	size_t bytes = ((size_t)cap * sizeof(struct ck_slot) + CKC_LINE - 1) / CKC_LINE * CKC_LINE;
	struct ck_slot *buf = aligned_alloc(CKC_LINE, bytes);
	if (c == NULL || buf == NULL) {
		free(c);
		free(buf);
		return CHAN_ENOMEM;
	}
	memset(c, 0, sizeof *c);
	c->base.ops = ops;
	c->cap = cap;
	c->mark = mark;
	c->one_lap = mark << 1;
	c->buf = buf;
	for (size_t i = 0; i < cap; i++) {
		buf[i].stamp = i;
		buf[i].msg = 0;
	}
	ckw_init(&c->senders);
	ckw_init(&c->receivers);
	*out = &c->base;
	return CHAN_OK;
}

static void b_destroy(struct chan_base *b)
{
	struct ck_bounded *c = as_b(b);
	free(c->buf);
	free(c);
}

/* One send attempt: CHAN_OK, CHAN_FULL or CHAN_CLOSED; does not notify. */
static inline chan_status try_send(struct ck_bounded *c, uintptr_t msg)
{
	struct ckw_backoff bo = {0};
	uint64_t tail = ckc_load_acq(&c->tail);
	for (;;) {
		if (tail & c->mark)
			return CHAN_CLOSED;
		struct ck_slot *slot = &c->buf[tail & (c->mark - 1)];
		uint64_t stamp = ckc_load_acq(&slot->stamp);
		if (stamp == tail) {
			CKC_CHAOS_POINT(); /* a stale tail by the time of the CAS */
			uint64_t seen;
			if (ckc_cas(&c->tail, tail, next_pos(c, tail), &seen)) {
				CKC_CHAOS_POINT(); /* preempted between CAS and stamp */
				slot->msg = msg;
				ckc_fence_release();
				ckc_store_rel(&slot->stamp, tail + 1);
				return CHAN_OK;
			}
			tail = seen;
			ckw_spin(&bo);
		} else if (stamp + c->one_lap == tail + 1) {
			ckc_fence();
			uint64_t head = ckc_load_acq(&c->head);
			if (head + c->one_lap == tail)
				return CHAN_FULL;
			ckw_snooze(&bo); /* a receiver is in flight on this slot */
			tail = ckc_load_acq(&c->tail);
		} else {
			ckw_snooze(&bo); /* another sender moved tail on */
			tail = ckc_load_acq(&c->tail);
		}
	}
}

/* One recv attempt: CHAN_OK, CHAN_EMPTY or CHAN_CLOSED; does not notify. */
static inline chan_status try_recv(struct ck_bounded *c, uintptr_t *msg)
{
	struct ckw_backoff bo = {0};
	uint64_t head = ckc_load_acq(&c->head);
	for (;;) {
		struct ck_slot *slot = &c->buf[head & (c->mark - 1)];
		uint64_t stamp = ckc_load_acq(&slot->stamp);
		if (stamp == head + 1) {
			uint64_t seen;
			if (ckc_cas(&c->head, head, next_pos(c, head), &seen)) {
				CKC_CHAOS_POINT();
				*msg = slot->msg;
				ckc_fence_release();
				ckc_store_rel(&slot->stamp, head + c->one_lap);
				return CHAN_OK;
			}
			head = seen;
			ckw_spin(&bo);
		} else if (stamp == head) {
			ckc_fence();
			uint64_t tail = ckc_load_acq(&c->tail);
			if ((tail & ~c->mark) == head)
				return (tail & c->mark) ? CHAN_CLOSED : CHAN_EMPTY;
			ckw_snooze(&bo); /* a sender is in flight on this slot */
			head = ckc_load_acq(&c->head);
		} else {
			ckw_snooze(&bo); /* another receiver moved head on */
			head = ckc_load_acq(&c->head);
		}
	}
}

static chan_status attempt_send(void *p, uintptr_t *msg)
{
	struct ck_bounded *c = as_b(p);
	chan_status st = try_send(c, *msg);
	if (st == CHAN_OK)
		ckw_notify(&c->receivers);
	return st;
}

static chan_status attempt_recv(void *p, uintptr_t *msg)
{
	struct ck_bounded *c = as_b(p);
	chan_status st = try_recv(c, msg);
	if (st == CHAN_OK)
		ckw_notify(&c->senders);
	return st;
}

/* Whether a send would not report FULL now (closed counts). Locked-RMW or
 * seq_cst ordered before by the caller. */
static bool can_send(void *p)
{
	struct ck_bounded *c = as_b(p);
	uint64_t tail = ckc_load_acq(&c->tail);
	if (tail & c->mark)
		return true;
	return ckc_load_acq(&c->head) + c->one_lap != tail;
}

static bool can_recv(void *p)
{
	struct ck_bounded *c = as_b(p);
	uint64_t head = ckc_load_acq(&c->head);
	uint64_t tail = ckc_load_acq(&c->tail);
	return (tail & c->mark) || (tail & ~c->mark) != head;
}

/* The spin phase's checks: only the slot line the counterpart writes (head and
 * tail lines stay where they are). */
static bool poll_send(void *p)
{
	struct ck_bounded *c = as_b(p);
	uint64_t tail = ckc_load_acq(&c->tail);
	return (tail & c->mark) || ckc_load_acq(&c->buf[tail & (c->mark - 1)].stamp) == tail;
}

static bool poll_recv(void *p)
{
	struct ck_bounded *c = as_b(p);
	uint64_t head = ckc_load_acq(&c->head);
	return ckc_load_acq(&c->buf[head & (c->mark - 1)].stamp) == head + 1;
}

static chan_status b_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct ck_bounded *c = as_b(b);
	return ckw_op(attempt_send, c, &msg, CHAN_FULL, &c->senders, poll_send, can_send, dl);
}

static chan_status b_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct ck_bounded *c = as_b(b);
	return ckw_op(attempt_recv, c, msg, CHAN_EMPTY, &c->receivers, poll_recv, can_recv, dl);
}

static chan_status b_close(struct chan_base *b)
{
	struct ck_bounded *c = as_b(b);
	CKC_CHAOS_POINT();
	uint64_t tail = ckc_load_acq(&c->tail), seen;
	for (;;) {
		if (tail & c->mark)
			return CHAN_ALREADY_CLOSED;
		if (ckc_cas(&c->tail, tail, tail | c->mark, &seen))
			break;
		tail = seen;
	}
	ckw_notify_all(&c->senders);
	ckw_notify_all(&c->receivers);
	return CHAN_OK;
}

static size_t b_len(struct chan_base *b)
{
	struct ck_bounded *c = as_b(b);
	for (;;) {
		uint64_t tail = ckc_load_acq(&c->tail);
		uint64_t head = ckc_load_acq(&c->head);
		if (ckc_load_acq(&c->tail) != tail)
			continue;
		uint64_t t = tail & ~c->mark;
		uint64_t hi = head & (c->mark - 1), ti = t & (c->mark - 1);
		if (hi < ti)
			return (size_t)(ti - hi);
		if (hi > ti)
			return (size_t)(c->cap - hi + ti);
		return t == head ? 0 : (size_t)c->cap;
	}
}

/* Batches: every message as a try, the receivers woken once for the run (a
 * deferred notify is still safe: it comes before this thread parks or
 * returns), the blocking path for the message that finds no room. */
static chan_status b_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n, size_t *done,
                                chan_deadline dl)
{
	struct ck_bounded *c = as_b(b);
	size_t sent = 0;
	chan_status st = CHAN_OK;
	while (sent < n) {
		size_t run = 0;
		while (sent + run < n && (st = try_send(c, msgs[sent + run])) == CHAN_OK)
			run++;
		sent += run;
		if (run > 0)
			ckw_notify_n(&c->receivers, (unsigned)(run < 64 ? run : 64));
		if (sent == n) {
			st = CHAN_OK;
			break;
		}
		if (st == CHAN_CLOSED)
			break;
		if ((st = b_send(b, msgs[sent], dl)) != CHAN_OK)
			break;
		sent++;
	}
	*done = sent;
	return st;
}

static chan_status b_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                chan_deadline dl)
{
	struct ck_bounded *c = as_b(b);
	chan_status st = b_recv(b, &msgs[0], dl);
	if (st != CHAN_OK) {
		*done = 0;
		return st;
	}
	size_t got = 1;
	while (got < n && try_recv(c, &msgs[got]) == CHAN_OK)
		got++;
	if (got > 1)
		ckw_notify_n(&c->senders, (unsigned)(got - 1 < 64 ? got - 1 : 64));
	*done = got;
	return CHAN_OK;
}

static chan_status b_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_bounded *c = as_b(b);
	return ckw_register(w->dir == CHAN_DIR_RECV ? &c->receivers : &c->senders, w);
}

static void b_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_bounded *c = as_b(b);
	ckw_unregister(w->dir == CHAN_DIR_RECV ? &c->receivers : &c->senders, w);
}

static int b_ready(struct chan_base *b, int dir)
{
	return dir == CHAN_DIR_RECV ? can_recv(b) : can_send(b);
}

const struct chan_ops ck_bounded_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "ck",
	.description = "ck bounded flavor (stamped-slot array)",
	.caps = CHAN_CAPS_FULL | CHAN_CAP_SELECT | CHAN_CAP_BATCH,
	.create = ck_bounded_create,
	.destroy = b_destroy,
	.send = b_send,
	.recv = b_recv,
	.close = b_close,
	.len = b_len,
	.register_waiter = b_register_waiter,
	.unregister_waiter = b_unregister_waiter,
	.ready = b_ready,
	.send_batch = b_send_batch,
	.recv_batch = b_recv_batch,
};
