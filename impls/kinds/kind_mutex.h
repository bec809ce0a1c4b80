/*
 * kind_mutex: the pthread pieces shared by the mutex channel kinds
 * (bcast_mutex.c, watch_mutex.c, oneshot_mutex.c): a condition variable on
 * CLOCK_MONOTONIC (chanbench's deadlines are absolute CLOCK_MONOTONIC times) and
 * a wait on it until a deadline.
 */
#ifndef CHANBENCH_KIND_MUTEX_H
#define CHANBENCH_KIND_MUTEX_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <time.h>

#include "chanbench/chan_deadline.h"

static inline void kind_cond_init(pthread_cond_t *cv)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(cv, &attr);
	pthread_condattr_destroy(&attr);
}

/* Wait on cv (lock held) until signalled or the deadline; true if it passed.
 * Spurious wake-ups are the caller's to re-check. */
static inline bool kind_cond_wait(pthread_cond_t *cv, pthread_mutex_t *lock, chan_deadline dl)
{
	if (dl == CHAN_FOREVER) {
		pthread_cond_wait(cv, lock);
		return false;
	}
	struct timespec ts = chan_deadline_timespec(dl);
	return pthread_cond_timedwait(cv, lock, &ts) == ETIMEDOUT;
}

/* Close under lock: set *closed and wake every waiter, once. */
static inline chan_status kind_close(pthread_mutex_t *lock, pthread_cond_t *cv, bool *closed)
{
	pthread_mutex_lock(lock);
	bool was = *closed;
	*closed = true;
	if (!was)
		pthread_cond_broadcast(cv);
	pthread_mutex_unlock(lock);
	return was ? CHAN_ALREADY_CLOSED : CHAN_OK;
}

#endif
