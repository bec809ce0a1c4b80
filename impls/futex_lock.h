/*
 * futex_lock: the Linux futex pieces shared by the futex built-in (futex.c) and
 * the futex/seqlock channel kinds (impls/kinds/): the two system calls, a spin
 * hint, a bounded backoff, and a futex lock whose release makes no system call
 * unless a thread really sleeps on it.
 *
 * The lock word:
 *   bit 0      FL_LOCKED   held;
 *   bit 1      FL_WOKEN    a FUTEX_WAKE was issued and the woken sleeper has
 *                          not yet come back (so a release need not wake
 *                          another one);
 *   bits 2..31 sleepers    threads that announced they sleep (count << 2).
 * take: one CAS when free; otherwise short PAUSE runs (1, 2, 4, ... PAUSEs,
 * FUTEX_LOCK_SPIN_ROUNDS of them), then FUTEX_LOCK_YIELDS sched_yield()s (on a
 * machine with more runnable threads than cores, the holder is often a
 * preempted thread: yielding hands it the CPU, spinning would not), then
 * sleeper++ and FUTEX_WAIT until it can take the lock and sleeper-- in one CAS.
 * release: one fetch_sub; only if it finds sleepers and no wake in flight does
 * it set FL_WOKEN and call FUTEX_WAKE(1). Unlike Drepper's "mutex 2" (a word
 * that stays at 2 after any contention, so every later release calls
 * FUTEX_WAKE), the count drops back to 0 when the last sleeper takes the lock.
 *
 * No lost wake-up: a sleeper sleeps only with FUTEX_WAIT on a value that has
 * FL_LOCKED set, its own count in it and FL_WOKEN clear (it clears a stale
 * FL_WOKEN first, with a CAS). A release changes the word (clears FL_LOCKED)
 * before it looks at it, so a sleeper whose FUTEX_WAIT comes later returns at
 * once; one already asleep is counted, and the release wakes one unless
 * FL_WOKEN says a woken sleeper is still on its way; that sleeper either takes
 * the lock (and clears FL_WOKEN) or clears FL_WOKEN before it sleeps again,
 * after which the next release wakes again. A FL_WOKEN left set with no sleeper
 * is harmless: the next thread that goes to sleep clears it.
 */
#ifndef CHANBENCH_FUTEX_LOCK_H
#define CHANBENCH_FUTEX_LOCK_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "chanbench/chan_deadline.h"

#if defined(__x86_64__) || defined(__i386__)
#define cpu_relax() __builtin_ia32_pause()
#else
#define cpu_relax() atomic_signal_fence(memory_order_seq_cst)
#endif

/* Lock waiters: PAUSE runs of 1, 2, 4, ... (2^rounds - 1 PAUSEs in all), then
 * that many sched_yield()s, then sleep. */
#ifndef FUTEX_LOCK_SPIN_ROUNDS
#define FUTEX_LOCK_SPIN_ROUNDS 5
#endif
#ifndef FUTEX_LOCK_YIELDS
#define FUTEX_LOCK_YIELDS 2
#endif

#define FL_LOCKED 1u
#define FL_WOKEN 2u
#define FL_SLEEPER 4u

/* Wake up to n sleepers on addr (INT_MAX: all). */
static inline void futex_wake(_Atomic uint32_t *addr, int n)
{
	syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* Sleep while *addr == val, until woken or the deadline (CHAN_FOREVER: none).
 * False once the deadline has passed; spurious returns are the caller's to
 * re-check. */
static inline bool futex_wait(_Atomic uint32_t *addr, uint32_t val, chan_deadline dl)
{
	if (dl == CHAN_FOREVER) {
		syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, val, NULL, NULL, 0);
		return true;
	}
	struct timespec ts = chan_deadline_timespec(dl);
	long r = syscall(SYS_futex, (uint32_t *)addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, val, &ts,
	                 NULL, FUTEX_BITSET_MATCH_ANY);
	return !(r == -1 && errno == ETIMEDOUT);
}

/* One run of 2^round PAUSEs: short runs, because long PAUSE loops make a VM
 * exit (pause-loop exiting) and the condition is re-checked between runs. */
static inline void futex_pause_run(unsigned round)
{
	for (unsigned i = 0; i < (1u << round); i++)
		cpu_relax();
}

static inline bool futex_lock_try_from(_Atomic uint32_t *l, uint32_t v)
{
	return !(v & FL_LOCKED) &&
	       atomic_compare_exchange_weak_explicit(l, &v, v | FL_LOCKED, memory_order_acquire,
	                                             memory_order_relaxed);
}

static __attribute__((noinline, unused)) void futex_lock_take_slow(_Atomic uint32_t *l)
{
	for (unsigned r = 0; r < FUTEX_LOCK_SPIN_ROUNDS; r++) {
		futex_pause_run(r);
		if (futex_lock_try_from(l, atomic_load_explicit(l, memory_order_relaxed)))
			return;
	}
	for (unsigned y = 0; y < FUTEX_LOCK_YIELDS; y++) {
		sched_yield();
		if (futex_lock_try_from(l, atomic_load_explicit(l, memory_order_relaxed)))
			return;
	}
	uint32_t v = atomic_fetch_add_explicit(l, FL_SLEEPER, memory_order_relaxed) + FL_SLEEPER;
	bool slept = false;
	for (;;) {
		if (!(v & FL_LOCKED)) {
			/* take it and leave the sleepers; a woken sleeper is back */
			uint32_t nv = (v - FL_SLEEPER) | FL_LOCKED;
			if (slept)
				nv &= ~FL_WOKEN;
			if (atomic_compare_exchange_weak_explicit(l, &v, nv, memory_order_acquire,
			                                          memory_order_relaxed))
				return;
			continue;
		}
		if (v & FL_WOKEN) {
			/* sleep only with FL_WOKEN clear, so the next release wakes */
			if (!atomic_compare_exchange_weak_explicit(l, &v, v & ~FL_WOKEN,
			                                          memory_order_relaxed,
			                                          memory_order_relaxed))
				continue;
			v &= ~FL_WOKEN;
		}
		futex_wait(l, v, CHAN_FOREVER);
		slept = true;
		v = atomic_load_explicit(l, memory_order_relaxed);
	}
}

static inline void futex_lock_take(_Atomic uint32_t *l)
{
	uint32_t v = 0;
	if (__builtin_expect(atomic_compare_exchange_strong_explicit(l, &v, FL_LOCKED,
	                                                             memory_order_acquire,
	                                                             memory_order_relaxed),
	                     1))
		return;
	if (futex_lock_try_from(l, v))
		return;
	futex_lock_take_slow(l);
}

static __attribute__((noinline, unused)) void futex_lock_wake_slow(_Atomic uint32_t *l, uint32_t v)
{
	/* v: the word just after the release (FL_LOCKED clear), sleepers > 0 */
	while (v >= FL_SLEEPER && !(v & (FL_WOKEN | FL_LOCKED))) {
		if (atomic_compare_exchange_weak_explicit(l, &v, v | FL_WOKEN, memory_order_relaxed,
		                                          memory_order_relaxed)) {
			futex_wake(l, 1);
			return;
		}
	}
	/* FL_LOCKED: the new holder's release looks again; FL_WOKEN: one is on its way */
}

static inline void futex_lock_release(_Atomic uint32_t *l)
{
	uint32_t v = atomic_fetch_sub_explicit(l, FL_LOCKED, memory_order_release) - FL_LOCKED;
	if (__builtin_expect(v >= FL_SLEEPER, 0))
		futex_lock_wake_slow(l, v);
}

#endif
