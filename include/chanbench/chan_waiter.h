/*
 * chanbench select protocol: the waiters an implementation queues for select and
 * for poll fds (ABI version 2, CHAN_CAP_SELECT). Header-only (static inline), so
 * a plug-in needs nothing but this header; Linux (futex, eventfd write).
 *
 * The model is crossbeam-channel's: a select call owns one `struct chan_selector`
 * and one `struct chan_waiter` per case. After trying every case without
 * blocking, it registers each waiter with its channel (ops->register_waiter),
 * checks ops->ready once more (a change between its try and its registration
 * would otherwise be lost), and sleeps on the selector's state word until an
 * implementation changes it:
 *
 *   NOTIFIED|i  "case i may be ready now": the selector unregisters everything
 *               and tries the cases again (it may lose the race and wait again);
 *   CLAIMED|i   "case i was done for you": a counterpart took the selector's
 *               offered value (send case) or handed it a value (recv case) and
 *               then marked the waiter done; the selector returns case i;
 *   ABORTED     set by the selector itself (it found a ready case, or its
 *               deadline passed): nobody may claim it any more.
 * Only the first change from WAITING counts (compare-and-swap), so one select
 * commits exactly one case (S2).
 *
 * What an implementation does with the waiters it holds (under its own lock, or
 * with its own lock-free list, as long as unregister_waiter is exact):
 *   - Buffered and unbounded channels: observers only. After a send buffers a
 *     message, call chan_waiter_notify on the RECV waiters; after a recv frees a
 *     slot, on the SEND waiters; on close, on all of them. (Notifying only on a
 *     transition from not-ready to ready is enough: the selector checks ready()
 *     after registering.)
 *   - Rendezvous channels (capacity 0): a waiter is a parked counterpart. A sender
 *     that finds a RECV waiter it can chan_waiter_claim gives it the value with
 *     chan_waiter_complete and has sent; a receiver that claims a SEND waiter takes
 *     w->msg and calls chan_waiter_complete. A claim fails for waiters of the
 *     calling thread (a select never pairs with itself, S5), for observers
 *     (CHAN_WAITER_OBSERVE: poll fds) and for selectors that already decided;
 *     such waiters are skipped (or dropped from the queue). When a blocking
 *     sender parks, notify the RECV waiters (observers are waiting for exactly
 *     that); likewise a parked receiver notifies SEND waiters; close notifies all.
 *     A claimable waiter being registered is such a counterpart too: notify the
 *     observers (poll fds) on the other side, or a poll fd would stay quiet while
 *     a select offers it a value.
 *   - ready(ch, dir) must count claimable waiters of other threads on rendezvous
 *     channels, and never counts the calling thread's own.
 * After unregister_waiter returns, the implementation must not touch the waiter;
 * a claim followed by complete must not be interrupted by that unregister (hold
 * the lock across both, as the lists below assume).
 *
 * struct chan_waiter_list is a plain doubly linked list for implementations that
 * keep waiters under a lock; chanbench's built-ins use it.
 */
#ifndef CHANBENCH_CHAN_WAITER_H
#define CHANBENCH_CHAN_WAITER_H

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CHAN_SEL_WAITING 0u
#define CHAN_SEL_NOTIFIED 0x10000000u
#define CHAN_SEL_CLAIMED 0x20000000u
#define CHAN_SEL_ABORTED 0x40000000u
#define CHAN_SEL_INDEX(state) ((state)&0x0fffffffu)

struct chan_selector {
	_Atomic uint32_t state; /* CHAN_SEL_* (futex word) */
	pthread_t owner;        /* the thread that selects (claims by it fail: S5) */
	int eventfd;            /* poll fd selectors: notify writes here; -1 otherwise */
	_Atomic uint32_t armed; /* poll fd: 1 while a notify should write the eventfd */
};

#define CHAN_WAITER_OBSERVE 1u /* never claimed, only notified (poll fds) */

struct chan_waiter {
	struct chan_selector *sel;
	uint32_t index;        /* the case's index in the select */
	int dir;               /* CHAN_DIR_SEND or CHAN_DIR_RECV */
	unsigned flags;        /* CHAN_WAITER_* */
	uintptr_t msg;         /* SEND: the value offered; RECV: the value handed over */
	chan_status status;    /* set with msg by the claimer (CHAN_OK) */
	_Atomic uint32_t done; /* 1 once the claimer finished (futex word) */
	/* For the implementation while the waiter is registered: */
	struct chan_waiter *next, *prev;
	void *impl;
};

static inline void chan_waiter_futex_wake(_Atomic uint32_t *word)
{
	syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* True if w belongs to a select running on the calling thread. */
static inline bool chan_waiter_mine(const struct chan_waiter *w)
{
	return w->sel->eventfd < 0 && pthread_equal(w->sel->owner, pthread_self());
}

/* Tell w's selector that its case may be ready. Cheap when it is already told. */
static inline void chan_waiter_notify(struct chan_waiter *w)
{
	struct chan_selector *s = w->sel;
	if (s->eventfd >= 0) {
		/* A seq_cst read-modify-write (not a fence: TSan cannot follow fences)
		 * pairs with the shared layer's re-arm (a seq_cst store of armed, then
		 * ready()): either the re-arm sees the change this notify is about, or
		 * this sees it armed. */
		if (atomic_fetch_or_explicit(&s->armed, 0, memory_order_seq_cst) &&
		    atomic_exchange_explicit(&s->armed, 0, memory_order_acq_rel)) {
			uint64_t one = 1;
			ssize_t r = write(s->eventfd, &one, sizeof one);
			(void)r; /* EAGAIN only if the counter is full: it is readable anyway */
		}
		return;
	}
	uint32_t expect = CHAN_SEL_WAITING;
	if (atomic_compare_exchange_strong_explicit(&s->state, &expect,
	                                            CHAN_SEL_NOTIFIED | w->index,
	                                            memory_order_acq_rel, memory_order_acquire))
		chan_waiter_futex_wake(&s->state);
}

/* Whether chan_waiter_claim could succeed now (for ready()). */
static inline bool chan_waiter_claimable(const struct chan_waiter *w)
{
	return !(w->flags & CHAN_WAITER_OBSERVE) && !chan_waiter_mine(w) &&
	       atomic_load_explicit(&w->sel->state, memory_order_acquire) == CHAN_SEL_WAITING;
}

/* Rendezvous: make w's case the one its select commits. On true the caller must
 * transfer the value and call chan_waiter_complete, without letting go of w. */
static inline bool chan_waiter_claim(struct chan_waiter *w)
{
	if ((w->flags & CHAN_WAITER_OBSERVE) || chan_waiter_mine(w))
		return false;
	uint32_t expect = CHAN_SEL_WAITING;
	if (!atomic_compare_exchange_strong_explicit(&w->sel->state, &expect,
	                                             CHAN_SEL_CLAIMED | w->index,
	                                             memory_order_acq_rel, memory_order_acquire))
		return false;
	chan_waiter_futex_wake(&w->sel->state);
	return true;
}

/* After a claim: for a RECV waiter, msg is the value handed over (ignored for
 * SEND, whose w->msg the claimer took). The selector returns once this is done. */
static inline void chan_waiter_complete(struct chan_waiter *w, uintptr_t msg)
{
	if (w->dir == CHAN_DIR_RECV)
		w->msg = msg;
	w->status = CHAN_OK;
	atomic_store_explicit(&w->done, 1, memory_order_release);
	chan_waiter_futex_wake(&w->done);
}

/* ---- a doubly linked list of waiters, for implementations with a lock ---- */

struct chan_waiter_list {
	struct chan_waiter *head, *tail;
	size_t n;
};

static inline void chan_waiter_list_push(struct chan_waiter_list *l, struct chan_waiter *w)
{
	w->next = NULL;
	w->prev = l->tail;
	if (l->tail)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	w->impl = l; /* marks "queued here" */
	l->n++;
}

/* Remove w if it is queued in l (safe to call when it is not). */
static inline void chan_waiter_list_remove(struct chan_waiter_list *l, struct chan_waiter *w)
{
	if (w->impl != l)
		return;
	if (w->prev)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	w->next = w->prev = NULL;
	w->impl = NULL;
	l->n--;
}

static inline void chan_waiter_list_notify_all(struct chan_waiter_list *l)
{
	for (struct chan_waiter *w = l->head; w; w = w->next)
		chan_waiter_notify(w);
}

/* Rendezvous: claim the oldest claimable waiter and unlink it (NULL if none).
 * Waiters whose selector already decided are unlinked on the way. The caller
 * then transfers the value and calls chan_waiter_complete. */
static inline struct chan_waiter *chan_waiter_list_claim(struct chan_waiter_list *l)
{
	struct chan_waiter *w = l->head;
	while (w) {
		struct chan_waiter *next = w->next;
		if (chan_waiter_claim(w)) {
			chan_waiter_list_remove(l, w);
			return w;
		}
		if (!(w->flags & CHAN_WAITER_OBSERVE) && !chan_waiter_mine(w))
			chan_waiter_list_remove(l, w); /* decided elsewhere: it will not be claimed */
		w = next;
	}
	return NULL;
}

/* Whether some waiter in l could be claimed now (for ready()). */
static inline bool chan_waiter_list_has_claimable(const struct chan_waiter_list *l)
{
	for (const struct chan_waiter *w = l->head; w; w = w->next)
		if (chan_waiter_claimable(w))
			return true;
	return false;
}

#ifdef __cplusplus
}
#endif
#endif
