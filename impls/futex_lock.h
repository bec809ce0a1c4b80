/*
 * futex_lock: the Linux futex pieces shared by the futex built-in (futex.c) and
 * the futex/seqlock channel kinds (impls/kinds/): the two system calls, a spin
 * hint, and a three-state futex lock (the "mutex 2" of Drepper's "Futexes Are
 * Tricky"): 0 free, 1 held, 2 held with (possible) sleepers; a release that
 * finds 2 wakes one sleeper, so an uncontended take/release makes no system call.
 */
#ifndef CHANBENCH_FUTEX_LOCK_H
#define CHANBENCH_FUTEX_LOCK_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
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

/* Spins on the lock word before announcing a sleeper. */
#define FUTEX_LOCK_SPIN 100

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

static inline void futex_lock_take(_Atomic uint32_t *l)
{
	uint32_t c = 0;
	if (atomic_compare_exchange_strong_explicit(l, &c, 1, memory_order_acquire,
	                                            memory_order_relaxed))
		return;
	for (int i = 0; i < FUTEX_LOCK_SPIN; i++) {
		cpu_relax();
		c = 0;
		if (atomic_load_explicit(l, memory_order_relaxed) == 0 &&
		    atomic_compare_exchange_weak_explicit(l, &c, 1, memory_order_acquire,
		                                          memory_order_relaxed))
			return;
	}
	/* Announce a sleeper (2); whoever releases a 2 wakes one. */
	while (atomic_exchange_explicit(l, 2, memory_order_acquire) != 0)
		futex_wait(l, 2, CHAN_FOREVER);
}

static inline void futex_lock_release(_Atomic uint32_t *l)
{
	if (atomic_exchange_explicit(l, 0, memory_order_release) == 2)
		futex_wake(l, 1);
}

#endif
