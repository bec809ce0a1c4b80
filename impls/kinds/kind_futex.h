/*
 * kind_futex: the Linux futex parts shared by the futex/seqlock channel kinds
 * (bcast_futex.c, watch_seqlock.c, oneshot_futex.c): an event count on which
 * readers park. The system calls and the writers' lock are impls/futex_lock.h's,
 * shared with the futex built-in.
 *
 * Event count (the idea of ck_ec and of Linux's futex-based condition waits):
 * one word, a counter in the upper 31 bits and a WAITERS bit in bit 0. Every
 * state change that can let a parked reader go on adds 2; a reader that is
 * about to sleep sets WAITERS first. A signal that finds WAITERS clear makes no
 * system call; one that finds it set clears it and wakes everybody, so a burst
 * of sends costs one FUTEX_WAKE, not one per send. The reader's protocol is
 *     key = kevent_prepare(e); if (condition holds) go on;
 *     kevent_wait(e, key, dl); then re-check
 * and the writer's: publish the state change, then kevent_signal(e).
 * No lost wake-up: prepare and signal are read-modify-writes of the same word,
 * so one comes first. If the signal does, prepare reads its value (the add is
 * a release, prepare an acquire) and the re-check sees the state change. If
 * prepare does, the signal sees WAITERS and wakes; a wake that comes before
 * the reader is asleep is not lost either: the word no longer equals key, so
 * FUTEX_WAIT returns at once. A reader that finds the condition true after
 * prepare leaves WAITERS set: the next signal makes one needless wake call.
 * (The counter wraps after 2^31 signals; a reader would have to sleep through
 * exactly that many for its FUTEX_WAIT to miss one.)
 */
#ifndef CHANBENCH_KIND_FUTEX_H
#define CHANBENCH_KIND_FUTEX_H

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "chanbench/chan_deadline.h"
#include "../futex_lock.h"

/* Spins on a condition before parking (a waker usually is microseconds away). */
#define KIND_SPIN 100

/* ---- event count ---- */

#define KEVENT_WAITERS 1u

struct kevent {
	_Atomic uint32_t word; /* count << 1 | KEVENT_WAITERS */
};

static inline void kevent_init(struct kevent *e)
{
	atomic_init(&e->word, 0);
}

/* Writer: after publishing a change. */
static inline void kevent_signal(struct kevent *e)
{
	uint32_t old = atomic_fetch_add_explicit(&e->word, 2, memory_order_seq_cst);
	if (old & KEVENT_WAITERS) {
		atomic_fetch_and_explicit(&e->word, ~KEVENT_WAITERS, memory_order_relaxed);
		futex_wake(&e->word, INT_MAX);
	}
}

/* Reader: announce, and take the key to wait on; re-check the condition next. */
static inline uint32_t kevent_prepare(struct kevent *e)
{
	return atomic_fetch_or_explicit(&e->word, KEVENT_WAITERS, memory_order_seq_cst) |
	       KEVENT_WAITERS;
}

/* Reader: sleep unless a signal came after prepare; false once dl passed. */
static inline bool kevent_wait(struct kevent *e, uint32_t key, chan_deadline dl)
{
	return futex_wait(&e->word, key, dl);
}

/* A bounded spin, then sched_yield: for the few-instruction windows in which a
 * reader waits for a writer that is inside its critical section (a writer that
 * was preempted there must get the CPU back). */
static inline void kind_backoff(unsigned *spins)
{
	if (++*spins < KIND_SPIN)
		cpu_relax();
	else
		sched_yield();
}

#endif
