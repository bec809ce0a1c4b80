/*
 * The slow paths of ck's wakers (ck_wait.h): waking sleepers, notifying select
 * and poll-fd observers, registering observers.
 */
#include "ck_wait.h"

static void notify_observers(struct ckw_waker *w)
{
	ckw_lock(&w->olock);
	chan_waiter_list_notify_all(&w->obs);
	ckc_unlock(&w->olock);
}

void ckw_notify_slow(struct ckw_waker *w, uint64_t seen, unsigned n)
{
	uint64_t sleepers = seen & (CKW_OBSERVER - 1);
	if (sleepers != 0) {
		ckc_inc32(&w->seq);
		long k = ckw_futex_wake(&w->seq, (int)(n < sleepers ? n : sleepers));
		if (k > 0)
			(void)ckc_faa(&w->waiters, (uint64_t)-k);
	}
	if (seen >= CKW_OBSERVER)
		notify_observers(w);
}

void ckw_notify_all(struct ckw_waker *w)
{
	ckc_inc32(&w->seq);
	long k = ckw_futex_wake(&w->seq, INT_MAX);
	if (k > 0)
		(void)ckc_faa(&w->waiters, (uint64_t)-k);
	/* Always, under the lock: an observer registered before this lock hold is
	 * notified here; one registered after it sees the closed mark in ready(). */
	notify_observers(w);
}

chan_status ckw_register(struct ckw_waker *w, struct chan_waiter *cw)
{
	ckw_lock(&w->olock);
	chan_waiter_list_push(&w->obs, cw);
	/* Locked RMW, then the caller's ready() loads head/tail: either it sees the
	 * operation, or the operation's notify sees this count (Dekker). */
	(void)ckc_faa(&w->waiters, CKW_OBSERVER);
	ckc_unlock(&w->olock);
	return CHAN_OK;
}

void ckw_unregister(struct ckw_waker *w, struct chan_waiter *cw)
{
	ckw_lock(&w->olock);
	if (cw->impl == &w->obs) {
		chan_waiter_list_remove(&w->obs, cw);
		(void)ckc_faa(&w->waiters, (uint64_t)0 - CKW_OBSERVER);
	}
	ckc_unlock(&w->olock);
}

/* The yield phase's budget of this thread (ck_wait.h, adaptive yielding). */
_Thread_local unsigned ckw_yield_budget = CKW_YIELDS;

#ifdef CKC_CHAOS
#include <time.h>

/* One chaos point: 1 in 8 yields the CPU, 1 in 256 sleeps 20-150 us (an
 * xorshift per thread, seeded from its stack address). */
void ckc_chaos(void)
{
	static _Thread_local uint64_t x;
	if (x == 0)
		x = (uint64_t)(uintptr_t)&x | 1;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	if ((x & 255) == 0) {
		struct timespec ts = {0, 20000 + (long)((x >> 8) % 130000)};
		nanosleep(&ts, NULL);
	} else if ((x & 7) == 0) {
		sched_yield();
	}
}
#endif
