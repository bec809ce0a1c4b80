/*
 * Deadline helpers for implementations: conversions between chanbench's
 * absolute CLOCK_MONOTONIC nanosecond deadlines and what the waiting primitives
 * take. Header-only so a plug-in can use it without linking anything.
 */
#ifndef CHANBENCH_CHAN_DEADLINE_H
#define CHANBENCH_CHAN_DEADLINE_H

#include <stdbool.h>
#include <time.h>

#include "chan.h"

static inline int64_t chan_deadline_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* True once the deadline has passed (CHAN_NOWAIT always has). */
static inline bool chan_deadline_passed(chan_deadline dl)
{
	if (dl == CHAN_FOREVER)
		return false;
	if (dl <= 0)
		return true;
	return chan_deadline_now_ns() >= dl;
}

/* Absolute CLOCK_MONOTONIC timespec for a finite deadline. */
static inline struct timespec chan_deadline_timespec(chan_deadline dl)
{
	struct timespec ts;
	if (dl < 0)
		dl = 0;
	ts.tv_sec = (time_t)(dl / 1000000000);
	ts.tv_nsec = (long)(dl % 1000000000);
	return ts;
}

/* The failure status for an operation whose deadline passed:
 * FULL/EMPTY for a try (CHAN_NOWAIT), TIMEOUT otherwise. */
static inline chan_status chan_deadline_fail(chan_deadline dl, chan_status would_block)
{
	return dl == CHAN_NOWAIT ? would_block : CHAN_TIMEOUT;
}

#endif
