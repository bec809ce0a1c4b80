/*
 * Waiting and waking for the ck channel's buffered flavors (bounded, unbounded).
 *
 * Waiting is three phases, as in crossbeam's Backoff + Context::wait_until:
 *   1. spin: poll, one PAUSE apart, CKW_SPIN_POLLS (32) times (no blind runs as
 *      in crossbeam's Backoff: on Intel a PAUSE is ~140 cycles, and a 64-PAUSE
 *      run would add up to ~3 us to a hand-off);
 *   2. yield: retry after sched_yield(), up to CKW_YIELDS (32) times, adapted per
 *      thread to how long its parks last (ckw_park_done, below): on 2 cores with
 *      more threads than cores this hands the CPU to the thread that can make
 *      progress (the one whose message or free slot we wait for); with a core
 *      each, a yield returns at once;
 *   3. park: register in the direction's waker and sleep on a futex.
 * The budgets are measured, not borrowed (chanbench-run, 7 interleaved rounds,
 * ck built as plug-ins with -DCKC_PLUGIN and other budgets; the medians of
 * ns/msg): with 128 polls and 4 yields, a cap 0/1 channel fell into a sleeping
 * mode where every hand-off paid a FUTEX_WAKE and an idle vCPU's wake-up (tens
 * of us in these VMs) and stayed there: spsc cap 0 2184 ns with a 16x spread
 * between rounds, spsc cap 1 7964, mpsc cap 1 3603; with 32 polls and 32 yields
 * 318, 605 and 1108, each within 1.1x, and mpsc cap 0 1217 -> 652. The buffered
 * cells (cap 64, 1024, unbounded) and the 8+8 oversubscription did not move
 * beyond their spread. futex.c's park() came to the same budgets.
 *
 * A waker (one per direction: "room to send", "a message to receive") is an
 * event count that wakes ONE sleeper per notify, with no lock anywhere:
 *   seq      a 32-bit futex word, incremented by every waking notify;
 *   waiters  the sleepers (low 32 bits) and the select/poll-fd observers
 *            (high 32 bits), so that a notify with nobody waiting is one load.
 * The kernel's futex queue is the list of sleepers (FIFO within a priority).
 *
 *   waiter:   s = seq; waiters += 1 (locked RMW); if ready(): waiters -= 1, retry;
 *             FUTEX_WAIT(seq, s, deadline); unless it returned 0, waiters -= 1;
 *             retry (a woken thread always retries before it looks at the clock).
 *   notifier: (after its CAS / stamp store) w = waiters; if w == 0: done.
 *             else seq += 1; k = FUTEX_WAKE(seq, 1); waiters -= k.
 * FUTEX_WAIT returns 0 only to a thread a FUTEX_WAKE took off the queue, and
 * that FUTEX_WAKE counted it in k: so exactly one side takes each sleeper out of
 * the count, and a notify whose sleepers are all awake (but not yet gone) costs
 * at most one futile FUTEX_WAKE, not one per message.
 * No lost wake-up (Dekker): the notifier does {RMW on head/tail; load waiters},
 * the waiter {RMW on waiters; load head/tail} (locked instructions; seq_cst under
 * TSan), so one of them sees the other. A waiter between its registration and its
 * FUTEX_WAIT that misses the FUTEX_WAKE finds seq changed and returns at once.
 * Woken threads retry; one that loses the race parks again; one whose deadline
 * passed still had its retry (a passed deadline gets an attempt), so a wake-up is
 * never swallowed by a thread that does not use it.
 * Wrap-around of seq (2^32 notifies while one waiter sits between reading it and
 * FUTEX_WAIT) is not guarded against.
 *
 * Observers (select cases, poll fds; chan_waiter.h) are few and rare: they sit in
 * a chan_waiter_list under a ck_spinlock_fas (olock) that only register,
 * unregister, close and a notify that finds observers counted ever take; the
 * message path never touches it while no select is registered.
 *
 * Why not ck_ec: its "someone waits" flag is shared by every waiter, so it must
 * wake all of them on each increment (a thundering herd with 4 consumers), and
 * its waiter re-sleeps in 2 ms slices with a clock read each time.
 */
#ifndef CHANBENCH_CK_WAIT_H
#define CHANBENCH_CK_WAIT_H

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ck_backoff.h>
#include <ck_cc.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_waiter.h"
#include "ck_atomic.h"

#define CKW_SPIN_LIMIT 6  /* PAUSE runs 1 .. 2^6 */
#define CKW_YIELD_LIMIT 10 /* then sched_yield() until step 10 (4 yields) */
#ifndef CKW_SPIN_POLLS
#define CKW_SPIN_POLLS 32 /* polls, a PAUSE apart, before yielding */
#endif
#ifndef CKW_YIELDS
#define CKW_YIELDS 32      /* sched_yield()s, a retry after each, before parking */
#endif
#define CKW_SLEEPER ((uint64_t)1)
#define CKW_OBSERVER ((uint64_t)1 << 32)

/* ---- backoff ------------------------------------------------------------------ */

struct ckw_backoff {
	unsigned step;
};

/* After a lost CAS: a short PAUSE run, growing (ck_backoff's exponential shape,
 * capped at 2^CKW_SPIN_LIMIT). */
static inline void ckw_spin(struct ckw_backoff *b)
{
	unsigned n = 1u << (b->step < CKW_SPIN_LIMIT ? b->step : CKW_SPIN_LIMIT);
	for (unsigned i = 0; i < n; i++)
		ckc_pause();
	if (b->step <= CKW_SPIN_LIMIT)
		b->step++;
}

/* While waiting for another thread (an in-flight counterpart, or room/messages):
 * spin, then yield the CPU. */
static inline void ckw_snooze(struct ckw_backoff *b)
{
	if (b->step <= CKW_SPIN_LIMIT) {
		for (unsigned i = 0, n = 1u << b->step; i < n; i++)
			ckc_pause();
	} else {
		sched_yield();
	}
	if (b->step <= CKW_YIELD_LIMIT)
		b->step++;
}

/* ---- futex -------------------------------------------------------------------- */

/* FUTEX_WAIT until *word != expected, a FUTEX_WAKE, or the absolute deadline.
 * Returns 0 when a FUTEX_WAKE woke us, else an errno (EAGAIN, ETIMEDOUT, EINTR). */
static inline int ckw_futex_wait(uint32_t *word, uint32_t expected, chan_deadline dl)
{
	struct timespec ts, *tsp = NULL;
	if (dl != CHAN_FOREVER) {
		ts = chan_deadline_timespec(dl);
		tsp = &ts;
	}
	long r = syscall(SYS_futex, word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, tsp, NULL,
	                 FUTEX_BITSET_MATCH_ANY);
	return r == 0 ? 0 : errno;
}

static inline long ckw_futex_wake(uint32_t *word, int n)
{
	long r = syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
	return r > 0 ? r : 0;
}

/* ---- the waker ---------------------------------------------------------------- */

struct ckw_waker {
	uint32_t seq;     /* futex word */
	uint32_t pad_;
	uint64_t waiters; /* sleepers + observers << 32 */
	ckc_lock_t olock;
	struct chan_waiter_list obs;
} CK_CC_CACHELINE;

static inline void ckw_init(struct ckw_waker *w)
{
	w->seq = 0;
	w->waiters = 0;
	w->olock = (ckc_lock_t)CKC_LOCK_INIT;
	w->obs = (struct chan_waiter_list){0};
}

/* Take a lock word: test-and-test-and-set, spinning then yielding (the holder
 * may be preempted: on 2 cores the yield lets it finish). */
static inline void ckw_lock(ckc_lock_t *l)
{
	struct ckw_backoff b = {0};
	while (!ckc_trylock(l)) {
		do
			ckw_snooze(&b);
		while (ckc_locked(l));
	}
}

#pragma GCC visibility push(hidden) /* internal to libchanbench */
void ckw_notify_slow(struct ckw_waker *w, uint64_t seen, unsigned n);
#pragma GCC visibility pop

/* After a state change that may let up to n waiters of this direction proceed. */
static inline void ckw_notify_n(struct ckw_waker *w, unsigned n)
{
	uint64_t seen = ckc_load_acq(&w->waiters);
	if (CK_CC_LIKELY(seen == 0))
		return;
	ckw_notify_slow(w, seen, n);
}

static inline void ckw_notify(struct ckw_waker *w)
{
	ckw_notify_n(w, 1);
}

/* Close: wake every sleeper, notify every observer. */
#pragma GCC visibility push(hidden)
void ckw_notify_all(struct ckw_waker *w);
#pragma GCC visibility pop

/* Park until notified, a change, or dl; the caller then retries. `ready` says
 * whether the operation could proceed now (or the channel is closed). */
static inline void ckw_wait(struct ckw_waker *w, bool (*ready)(void *), void *arg, chan_deadline dl)
{
	uint32_t s = ckc_load32(&w->seq);
	(void)ckc_faa(&w->waiters, CKW_SLEEPER);
	CKC_CHAOS_POINT();
	if (ready(arg)) {
		(void)ckc_faa(&w->waiters, (uint64_t)-1);
		return;
	}
	CKC_CHAOS_POINT(); /* a notify between the check and the sleep */
	if (ckw_futex_wait(&w->seq, s, dl) != 0)
		(void)ckc_faa(&w->waiters, (uint64_t)-1);
}

/* ---- adaptive yielding ----
 * The yield phase helps only when the counterpart is about to act: then a
 * yield returns at once (it has a core of its own) and the next attempt
 * succeeds, where a park would have cost a FUTEX_WAKE and the wake-up of an
 * idle vCPU (tens of us here). Before a real idle period it harms: a thread
 * that stays runnable while the other one finishes on the same CPU is pulled
 * to the idle CPU by the load balancer, and every later wake-up then crosses
 * CPUs (an IPI to a halted vCPU). Measured, wakeup scenario (a receiver parked
 * 200 us): p50 19 us with 32 yields, 4-5 us with none (flume: 5 us).
 * So the budget is per thread and learns from the parks: a park that ended
 * within CKW_SHORT_PARK_NS (100 us: a few wake-ups' worth here; the
 * counterpart was close, and yielding would likely have caught it) restores
 * the full CKW_YIELDS; a longer one (a real idle period) halves it. Restoring
 * at once matters: with a slower recovery (x2+1) and a 50 us threshold, spsc
 * cap 0 fell into the sleeping mode (20.7 us/msg against 0.32). Measured
 * (chanbench-run, ck built twice as plug-ins, 7 interleaved rounds, scale 0.5):
 * wakeup p50 19.6-20.2 us -> 3.9-4.4 us (side:send cap:1, which does not
 * park, 4.3 -> 4.7); every throughput, ping-pong, fan-in, pipeline, reqreply,
 * shutdown and oversubscription cell within its spread. */
#ifndef CKW_SHORT_PARK_NS
#define CKW_SHORT_PARK_NS 100000
#endif
#pragma GCC visibility push(hidden)
extern _Thread_local unsigned ckw_yield_budget; /* ck_wait.c; starts at CKW_YIELDS */
#pragma GCC visibility pop

/* A park that began at t0 (chan_deadline_now_ns) is over: adapt the budget. */
static inline void ckw_park_done(int64_t t0)
{
	if (chan_deadline_now_ns() - t0 < CKW_SHORT_PARK_NS)
		ckw_yield_budget = CKW_YIELDS;
	else
		ckw_yield_budget /= 2;
}

/* Select/poll-fd observers. */
#pragma GCC visibility push(hidden)
chan_status ckw_register(struct ckw_waker *w, struct chan_waiter *cw);
void ckw_unregister(struct ckw_waker *w, struct chan_waiter *cw);
#pragma GCC visibility pop


/* The blocking loop every buffered operation shares: one attempt; if it would
 * block, poll (a PAUSE between polls, CKW_SPIN_POLLS of them: a message is
 * noticed within one PAUSE, not within a blind run of up to 64), then yield
 * up to CKW_YIELDS times (the thread's adaptive budget, above) with a retry
 * after each, then park in the waker and retry
 * after each wake-up, until the attempt succeeds, reports CLOSED, or dl passes.
 * `attempt` never blocks (it may spin briefly on a counterpart in flight) and
 * returns would_block (CHAN_FULL / CHAN_EMPTY) when the operation must wait;
 * `poll` is the spin phase's read-only pre-check (ideally one cache line: the
 * one the counterpart writes; it may miss a close, which the yield phase's
 * attempts see); `ready` the parking check (also true once closed). */
static inline chan_status ckw_op(chan_status (*attempt)(void *, uintptr_t *), void *c,
                                 uintptr_t *msg, chan_status would_block, struct ckw_waker *w,
                                 bool (*poll)(void *), bool (*ready)(void *), chan_deadline dl)
{
	chan_status st = attempt(c, msg);
	if (CK_CC_LIKELY(st != would_block) || dl == CHAN_NOWAIT)
		return st;
	for (;;) {
		for (unsigned i = 0; i < CKW_SPIN_POLLS; i++) {
			ckc_pause();
			if (poll(c) && (st = attempt(c, msg)) != would_block)
				return st;
		}
		for (unsigned i = 0, n = ckw_yield_budget; i < n; i++) {
			sched_yield();
			if ((st = attempt(c, msg)) != would_block)
				return st;
		}
		if (chan_deadline_passed(dl))
			return CHAN_TIMEOUT;
		int64_t t0 = chan_deadline_now_ns();
		ckw_wait(w, ready, c, dl);
		ckw_park_done(t0);
		if ((st = attempt(c, msg)) != would_block)
			return st;
		if (chan_deadline_passed(dl))
			return CHAN_TIMEOUT;
	}
}

#endif
