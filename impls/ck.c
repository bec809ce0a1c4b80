/*
 * ck: a channel built from ConcurrencyKit 0.7.1 parts. Lock-free queues move the
 * messages; ck_ec event counts (parked on Linux futexes) make senders and
 * receivers wait; an admission word gives exact capacity and a race-free close.
 *
 * CK structures used, and why:
 *   - ck_ring MPMC (ck_ring_enqueue_reserve_mpmc / ck_ring_enqueue_commit_mpmc,
 *     ck_ring_dequeue_mpmc): the buffer of a bounded channel. A ring of size
 *     2^k holds 2^k - 1 entries, so it is sized to the smallest power of two
 *     > N and never decides fullness: the admission word does (exactly N).
 *   - ck_hp_fifo + ck_hp (hazard pointers): the unbounded channel, a
 *     Michael-Scott queue whose dequeued nodes are retired with ck_hp_free and
 *     freed by a scan once no hazard pointer names them.
 *   - ck_ec64, multiple-producer mode: the "not empty" and "not full" event
 *     counts. We supply struct ck_ec_ops: CLOCK_MONOTONIC gettime,
 *     FUTEX_WAIT_BITSET (its timeout is an absolute CLOCK_MONOTONIC time, so a
 *     chanbench deadline maps straight to the timespec ck_ec64_wait takes;
 *     CHAN_FOREVER maps to NULL) and FUTEX_WAKE (all: ck_ec's flag bit is
 *     shared by every waiter, so waking fewer could strand one). The 64-bit
 *     variant is chosen for its 63-bit counter (no ABA on a sleeper's snapshot);
 *     it futex-waits on the low half of the word (x86-64, little-endian).
 *   - ck_spinlock_fas + ck_backoff: guard the rendezvous wait queues, and make
 *     a bounded sender's admission and ring reservation one step.
 *
 * Channel kinds:
 *   bounded N    admission word + ck_ring + not_empty and not_full;
 *   unbounded    admission word + ck_hp_fifo + not_empty;
 *   rendezvous   Go's unbuffered channel: under a ck_spinlock, a sender hands
 *                its value to a parked receiver (or parks on sendq with it), a
 *                receiver takes it from a parked sender (or parks on recvq).
 *                Each parked waiter sleeps on its own futex word (not a ck_ec:
 *                ck_ec64_inc writes the counter again after the increment the
 *                waiter sees, when it clears the flag, so a record on the
 *                waiter's stack could be written after it returned;
 *                FUTEX_WAKE on a dead address writes nothing).
 *
 * The admission word `st` (bounded and unbounded): bit 0 = closed, bits 1..63 =
 * `used`, the messages admitted and not yet released. A send admits itself with
 * one CAS that fails if closed (CLOSED) or used == cap (FULL), then enqueues
 * (this cannot fail: at most N entries are ever in a ring that holds >= N). A
 * recv dequeues, then releases (used -= 1).
 *
 * Invariants:
 *   - 0 <= used <= cap; used == messages in the queue + senders between admission
 *     and enqueue + receivers between dequeue and release. len() returns used: in
 *     0..cap always, exact when quiescent.
 *   - Once closed, no send is admitted, so "closed and used == 0" is final: the
 *     queue is empty and stays empty, and only then does recv report CLOSED. A
 *     recv that finds the queue empty while closed and used > 0 waits (even a
 *     try: it waits for an operation already in flight, as a lock would) for
 *     that sender's enqueue or that receiver's release; such a releaser
 *     increments not_empty when it sees the closed bit. So receivers drain every
 *     message a send reported as sent, then see CLOSED (C1, C8, C9).
 *   - Linearization: a send takes effect at its admission, a recv at its
 *     release; so `used` is the logical length. A recv whose deadline has passed
 *     reports EMPTY/TIMEOUT only when used == 0; while used > 0 and the queue
 *     looks empty, an admitted sender or a releasing receiver is in flight and
 *     finishes without blocking, so the recv polls (then yields) until it can
 *     dequeue or used falls to 0. Without this, try_send FULL followed by
 *     try_recv EMPTY in one thread was observable (found by chan-linearize).
 *   - Bounded senders take their admission unit and their ring ticket in one
 *     step, under c->lock (the ck_spinlock_fas otherwise used by rendezvous):
 *     admission order is then ticket order, which is FIFO order. Without it, a
 *     sender admitted first could reserve its slot second, and a receiver
 *     could take a later send's value before an earlier one's (chan-linearize,
 *     under ThreadSanitizer's slowdown).
 *   - A thread waits on an event count only while registered in that count's
 *     waiter counter (recv_waiters, send_waiters), and every state change it
 *     may wait for is followed by an increment when the counter is non-zero:
 *     enqueue -> not_empty, release -> not_full, close -> both (always).
 *   - Rendezvous (under `lock`): at least one of sendq and recvq is empty;
 *     closed implies both are empty; a waiter's state leaves PENDING once, set
 *     by the thread that unlinked it, under the lock.
 *
 * Memory ordering (x86-64 TSO is the only target CK is built for here; the
 * argument is given in C11 terms, CK's asm counting as the fences it issues):
 *   - Event counts: a waiter snapshots the count (ck_ec64_value: load, then
 *     acquire fence) BEFORE it re-checks the condition; a waker changes the
 *     condition BEFORE ck_ec64_inc (store-atomic fence, then lock xadd). If the
 *     re-check missed the change, the snapshot preceded the increment, so
 *     ck_ec64_wait sees a new value (or the futex sees a changed word) and
 *     returns. Message passing: release/acquire suffice.
 *   - Waiter counters (so an operation with nobody waiting skips the shared
 *     increment): store-buffering, so each side needs a store-load fence. The
 *     waiter registers with a seq_cst RMW, then snapshots and re-checks. A
 *     sender publishes its entry, issues a seq_cst fence, then reads
 *     recv_waiters; a receiver's release is a seq_cst RMW, then it reads
 *     send_waiters. Either the re-check sees the change or the waker sees the
 *     registration and increments.
 *   - The admission CAS is acq_rel and the release RMW seq_cst: a receiver's
 *     dequeue (its c_head CAS) happens before the slot it frees is seen free, so
 *     a sender admitted on that slot finds ring room; admission precedes the
 *     sender's ring ticket.
 *   - Close is an acq_rel fetch_or on the admission word, so every send is
 *     ordered before close (admitted: it completes) or after it (CLOSED).
 *   - ck_ring and ck_hp_fifo publish entries with their own fences (entry
 *     store, store fence, p_tail store / tail link CAS; load fences on the
 *     consumer side).
 *   - Rendezvous: the spinlock orders the queue links; a waker writes the value,
 *     then store-releases the waiter's state; the waiter load-acquires the
 *     state before it reads the value.
 *
 * ck_ring's MPMC enqueue commits in ticket order: a producer preempted between
 * its ticket and its commit holds up every later producer. ck_ring_enqueue_mpmc
 * spins for its turn; with more threads than cores that spin (or sched_yield,
 * which CFS may hand straight back to the yielder) starves the preempted
 * holder and convoys the channel (seen: 0.5 s rounds, 175k context switches).
 * So the enqueue uses CK's reserve/commit halves, and a producer waiting for
 * its turn spins briefly, then registers in commit_waiters (seq_cst RMW) and
 * sleeps on the futex of the ring's 32-bit p_tail; a committer reads
 * commit_waiters after the same seq_cst fence as above and wakes them.
 *
 * Hazard-pointer records (ck_hp needs one registered record per thread): one
 * process-wide ck_hp domain serves every ck channel. A thread gets its record
 * lazily at its first unbounded operation, reusing a released one
 * (ck_hp_recycle) or registering a new one; a pthread key destructor purges
 * (ck_hp_purge) and releases it (ck_hp_unregister, which would drop a
 * non-empty pending list, hence the purge) at thread exit, so threads that come
 * and go reuse a bounded set of records. Hazards are cleared after every
 * operation, so a parked or idle thread pins nothing and a purge only waits
 * for operations in progress. Records are never freed (CK keeps them on a
 * lock-free stack). Nodes still queued are freed by destroy; retired nodes stay
 * on their thread's pending list until its next scan (every HP_THRESHOLD
 * retirements, at a channel destroy by that thread, at thread exit). Per-channel
 * records were rejected: every operation would need a per-thread lookup keyed
 * by channel, and stale entries after a destroy.
 *
 * Weak spots: ck_ec wakes every waiter of a count at each wake (a thundering
 * herd when many senders or receivers are parked); ck_hp_fifo allocates one
 * node per unbounded message; ring commits are still ordered (a preempted
 * producer delays later ones until it runs again, now without burning CPU).
 */
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdalign.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <ck_backoff.h>
#include <ck_ec.h>
#include <ck_hp.h>
#include <ck_hp_fifo.h>
#include <ck_md.h>
#include <ck_pr.h>
#include <ck_ring.h>
#include <ck_spinlock.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

/* ThreadSanitizer cannot see CK's inline-assembly atomics. Under TSan, the
 * synchronisation they provide is declared with acquire/release annotations
 * (no code otherwise): the rendezvous spinlock, ring commit -> dequeue, fifo
 * enqueue -> dequeue, hazard clear -> reclaim, record unregister -> recycle.
 * Residual reports remain inside ck_hp_fifo_enqueue_mpmc/dequeue_mpmc (a
 * node's plain field stores are published by CK's asm CAS inside the call,
 * where no annotation can reach). */
#if defined(__SANITIZE_THREAD__)
#define CK_CHAN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CK_CHAN_TSAN 1
#endif
#endif
#ifdef CK_CHAN_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#define TSAN_RELEASE(p) __tsan_release((void *)(p))
/* TSan does not model atomic_thread_fence (gcc: -Wtsan): a seq_cst RMW on a
 * private word is the same store-load fence on x86 (a locked instruction). */
static _Thread_local _Atomic int tsan_fence_word;
#define STORE_LOAD_FENCE() \
	((void)atomic_fetch_add_explicit(&tsan_fence_word, 0, memory_order_seq_cst))
#else
#define TSAN_ACQUIRE(p) ((void)0)
#define TSAN_RELEASE(p) ((void)0)
#define STORE_LOAD_FENCE() atomic_thread_fence(memory_order_seq_cst)
#endif

#if !defined(CK_F_EC64) || !defined(__x86_64__)
#error "impls/ck.c needs ck_ec64 on x86-64 (the futex waits on the low half of the counter)"
#endif

#define CACHELINE CK_MD_CACHELINE
#define ST_CLOSED ((uint64_t)1)
#define ST_ONE ((uint64_t)2) /* one message in `used` */
#define HP_THRESHOLD 64      /* retired nodes per thread before a hazard scan */
#define RZ_SPIN 128          /* polls of a rendezvous waiter before it sleeps */
#define RING_SPIN 64         /* polls for our ring commit turn before sleeping */
#define RZ_LOCK_NAP_NS 20000 /* a rendezvous lock waiter's nap once spinning failed */

/* ---- futex ---------------------------------------------------------------- */

/* Sleep while *addr == expected, until woken or the absolute CLOCK_MONOTONIC
 * deadline (NULL: none). May return early for any reason. */
static void futex_wait_until(const uint32_t *addr, uint32_t expected, const struct timespec *abs)
{
	(void)syscall(SYS_futex, addr, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG, expected, abs, NULL,
	              FUTEX_BITSET_MATCH_ANY);
}

/* Wake up to n sleepers on addr. Writes nothing: safe on a word whose owner
 * may already have returned (a stray wake-up is spurious for anyone else). */
static void futex_wake(const uint32_t *addr, int n)
{
	(void)syscall(SYS_futex, addr, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, n, NULL, NULL, 0);
}

/* ---- ck_ec operations ------------------------------------------------------ */

static int ec_gettime(const struct ck_ec_ops *ops, struct timespec *out)
{
	return clock_gettime(CLOCK_MONOTONIC, out);
}

static void ec_wait32(const struct ck_ec_wait_state *ws, const uint32_t *addr, uint32_t expected,
                      const struct timespec *deadline)
{
	futex_wait_until(addr, expected, deadline);
}

static void ec_wait64(const struct ck_ec_wait_state *ws, const uint64_t *addr, uint64_t expected,
                      const struct timespec *deadline)
{
	/* Little-endian: the low half (flag bit and counter bits 1..31) is first. */
	futex_wait_until((const uint32_t *)(const void *)addr, (uint32_t)expected, deadline);
}

static void ec_wake32(const struct ck_ec_ops *ops, const uint32_t *addr)
{
	futex_wake(addr, INT_MAX);
}

static void ec_wake64(const struct ck_ec_ops *ops, const uint64_t *addr)
{
	futex_wake((const uint32_t *)(const void *)addr, INT_MAX);
}

static const struct ck_ec_ops ec_ops = {
	.gettime = ec_gettime,
	.wait32 = ec_wait32,
	.wait64 = ec_wait64,
	.wake32 = ec_wake32,
	.wake64 = ec_wake64,
	/* busy_loop_iter, initial_wait_ns, ...: 0 = CK's defaults (100 polls, then
	 * futex sleeps of 2 ms x8 per round, unbounded after 1 s). */
};

/* Many threads increment each event count: the multiple-producer mode. */
static const struct ck_ec_mode ec_mode = {.ops = &ec_ops, .single_producer = false};

/* ---- hazard-pointer records (unbounded channels) -------------------------- */

struct hp_thread {
	ck_hp_record_t record; /* first: a recycled record converts back by cast */
	void *hazards[CK_HP_FIFO_SLOTS_COUNT];
};

static ck_hp_t hp_domain;
static pthread_key_t hp_key;
static pthread_once_t hp_once = PTHREAD_ONCE_INIT;
static _Thread_local struct hp_thread *hp_self;

static void hp_node_free(void *node)
{
	TSAN_ACQUIRE(&hp_domain); /* the scan found no hazard: every user is done */
	free(node);
}

/* Thread exit: reclaim everything this thread retired, then release the record
 * for ck_hp_recycle (ck_hp_unregister drops the pending list, hence the purge). */
static void hp_thread_exit(void *arg)
{
	struct hp_thread *t = arg;
	ck_hp_clear(&t->record);
	ck_hp_purge(&t->record);
	TSAN_RELEASE(t); /* hand-over to the thread that recycles it */
	ck_hp_unregister(&t->record);
	hp_self = NULL;
}

static void hp_domain_init(void)
{
	ck_hp_init(&hp_domain, CK_HP_FIFO_SLOTS_COUNT, HP_THRESHOLD, hp_node_free);
	(void)pthread_key_create(&hp_key, hp_thread_exit);
}

/* This thread's record, registered or recycled on first use; NULL if out of
 * memory. */
static ck_hp_record_t *hp_record(void)
{
	struct hp_thread *t = hp_self;
	if (CK_CC_LIKELY(t != NULL))
		return &t->record;
	(void)pthread_once(&hp_once, hp_domain_init);
	ck_hp_record_t *r = ck_hp_recycle(&hp_domain);
	if (r != NULL) {
		t = (struct hp_thread *)(void *)r;
		TSAN_ACQUIRE(t);
		ck_hp_clear(r);
	} else {
		size_t sz = (sizeof *t + CACHELINE - 1) / CACHELINE * CACHELINE;
		t = aligned_alloc(CACHELINE, sz);
		if (t == NULL)
			return NULL;
		memset(t, 0, sizeof *t);
		ck_hp_register(&hp_domain, &t->record, t->hazards);
	}
	(void)pthread_setspecific(hp_key, t);
	hp_self = t;
	return &t->record;
}

/* ---- the channel ------------------------------------------------------------ */

enum ck_kind { K_RENDEZVOUS, K_BOUNDED, K_UNBOUNDED };

enum rz_state { RZ_PENDING = 0, RZ_DONE = 1, RZ_CLOSED = 2 };

/* A parked rendezvous sender or receiver; lives on its thread's stack. */
struct rz_waiter {
	struct rz_waiter *next, *prev;
	uintptr_t msg;          /* sender: value offered; receiver: value received */
	_Atomic uint32_t state; /* enum rz_state; the futex word it sleeps on */
};

struct rz_queue {
	struct rz_waiter *head, *tail;
};

struct ck_chan {
	struct chan_base base;
	enum ck_kind kind;
	uint64_t cap; /* bounded: N; unbounded: the largest `used` (never reached) */

	/* Bounded: the ring has its own cache-line padding between c_head and
	 * p_head/p_tail. */
	ck_ring_t ring;
	ck_ring_buffer_t *ring_buf;

	/* Unbounded: head (consumers) and tail (producers) on separate lines. */
	alignas(CACHELINE) ck_hp_fifo_t fifo;

	/* Admission word: written by every send and recv, so on its own line. */
	alignas(CACHELINE) _Atomic uint64_t st;

	/* Event counts, each on its own line (one is written by senders, the
	 * other by receivers). */
	alignas(CACHELINE) ck_ec64_t not_empty;
	_Atomic uint32_t recv_waiters;   /* receivers registered to wait on not_empty */
	_Atomic uint32_t commit_waiters; /* senders asleep until p_tail reaches their ticket */
	alignas(CACHELINE) ck_ec64_t not_full;
	_Atomic uint32_t send_waiters; /* senders registered to wait on not_full */

	/* Rendezvous. */
	alignas(CACHELINE) ck_spinlock_fas_t lock;
	bool closed;
	struct rz_queue sendq, recvq;
};

static inline struct ck_chan *as_ck(struct chan_base *b)
{
	return (struct ck_chan *)(void *)b;
}

static inline bool st_closed(uint64_t s)
{
	return (s & ST_CLOSED) != 0;
}

static inline uint64_t st_used(uint64_t s)
{
	return s >> 1;
}

/* The timespec ck_ec / futex take for a chanbench deadline (NULL: forever).
 * Precondition: dl has not passed (so it is positive). */
static inline const struct timespec *dl_timespec(chan_deadline dl, struct timespec *ts)
{
	if (dl == CHAN_FOREVER)
		return NULL;
	*ts = chan_deadline_timespec(dl);
	return ts;
}

static chan_status ck_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	size_t sz = (sizeof(struct ck_chan) + CACHELINE - 1) / CACHELINE * CACHELINE;
	struct ck_chan *c = aligned_alloc(CACHELINE, sz);
	if (c == NULL)
		return CHAN_ENOMEM;
	memset(c, 0, sizeof *c);
	c->base.ops = ops;
	atomic_init(&c->st, 0);
	ck_ec64_init(&c->not_empty, 0);
	ck_ec64_init(&c->not_full, 0);
	ck_spinlock_fas_init(&c->lock);

	if (cap == 0) {
		c->kind = K_RENDEZVOUS;
	} else if (cap == CHAN_UNBOUNDED) {
		c->kind = K_UNBOUNDED;
		c->cap = UINT64_MAX >> 1;
		ck_hp_fifo_entry_t *stub = malloc(sizeof *stub);
		if (stub == NULL) {
			free(c);
			return CHAN_ENOMEM;
		}
		ck_hp_fifo_init(&c->fifo, stub);
	} else {
		c->kind = K_BOUNDED;
		c->cap = cap;
		/* The ring holds size-1 entries: smallest power of two > cap. */
		size_t size = 2;
		while (size <= cap)
			size <<= 1;
		if (size > UINT_MAX) {
			free(c);
			return CHAN_EINVAL;
		}
		c->ring_buf = malloc(size * sizeof *c->ring_buf);
		if (c->ring_buf == NULL) {
			free(c);
			return CHAN_ENOMEM;
		}
		ck_ring_init(&c->ring, (unsigned int)size);
	}
	/* Publication of the new channel to other threads is the caller's (the
	 * harness hands it over with its own release store). */
	*out = &c->base;
	return CHAN_OK;
}

static void ck_destroy(struct chan_base *b)
{
	struct ck_chan *c = as_ck(b);
	if (c->kind == K_UNBOUNDED) {
		/* The stub and any nodes still queued; retired nodes are on
		 * pending lists, not in the queue. */
		ck_hp_fifo_entry_t *n, *next;
		ck_hp_fifo_deinit(&c->fifo, &n);
		for (; n != NULL; n = next) {
			next = n->next;
			free(n);
		}
		/* Free what this thread retired that nobody protects any more. */
		if (hp_self != NULL)
			ck_hp_reclaim(&hp_self->record);
	}
	free(c->ring_buf);
	free(c);
}

/* ---- bounded and unbounded -------------------------------------------------- */

/* Take one unit of `used`: CHAN_OK, CHAN_CLOSED, or CHAN_FULL (used == cap). */
static chan_status admit(struct ck_chan *c)
{
	uint64_t s = atomic_load_explicit(&c->st, memory_order_acquire);
	do {
		if (st_closed(s))
			return CHAN_CLOSED;
		if (st_used(s) >= c->cap)
			return CHAN_FULL;
		/* acq_rel: ordered after the slot release we observed (ring room),
		 * and before our ring ticket. */
	} while (!atomic_compare_exchange_weak_explicit(&c->st, &s, s + ST_ONE, memory_order_acq_rel,
	                                                memory_order_acquire));
	return CHAN_OK;
}

/* Give back one unit of `used` after a dequeue (or a failed unbounded send). */
static void release(struct ck_chan *c)
{
	/* acq_rel: our dequeue happens before the slot is seen free. */
	uint64_t old = atomic_fetch_sub_explicit(&c->st, ST_ONE, memory_order_seq_cst);
	/* The RMW above is seq_cst: it orders the release before the load of
	 * send_waiters (pairs with the waiter's registration, see queue_send). */
	if (c->kind == K_BOUNDED &&
	    atomic_load_explicit(&c->send_waiters, memory_order_seq_cst) != 0)
		ck_ec64_inc(&c->not_full, &ec_mode); /* publishes: a slot is free */
	if (st_closed(old))
		ck_ec64_inc(&c->not_empty, &ec_mode); /* publishes: in-flight count fell */
}

static void rz_lock(struct ck_chan *c);
static void rz_unlock(struct ck_chan *c);

/* Reserve the next ring slot (ck_ring_enqueue_mpmc's first half). Precondition:
 * the sender is admitted and holds c->lock, so that admission order is ticket
 * order (see "Linearization" above). */
static void **ring_reserve(struct ck_chan *c, unsigned int *ticket)
{
	void **slot;
	/* Admission leaves at most cap-1 other entries in a ring holding >= cap,
	 * so the reservation succeeds at once; the loop is only a guard. */
	while ((slot = ck_ring_enqueue_reserve_mpmc(&c->ring, c->ring_buf, ticket)) == NULL)
		ck_pr_stall();
	return slot;
}

/* Fill a reserved slot and commit it (the second half), outside the lock. */
static void ring_commit(struct ck_chan *c, void **slot, unsigned int ticket, uintptr_t msg)
{
	ck_pr_store_ptr(slot, (void *)msg); /* published by the commit's store fence */
	/* Commits happen in ticket order: wait until every earlier ticket has
	 * committed. The holder of the previous ticket may be preempted (more
	 * threads than cores): after a short spin, sleep until p_tail moves rather
	 * than burn the time slice, as ck_ring's own commit loop would. */
	unsigned int tail;
	for (unsigned int i = 0; (tail = ck_pr_load_uint(&c->ring.p_tail)) != ticket; i++) {
		if (i < RING_SPIN) {
			ck_pr_stall();
			continue;
		}
		/* seq_cst RMW, then the kernel re-reads p_tail: pairs with the
		 * committer's p_tail store, seq_cst fence, commit_waiters load. */
		atomic_fetch_add_explicit(&c->commit_waiters, 1, memory_order_seq_cst);
		futex_wait_until(&c->ring.p_tail, tail, NULL);
		atomic_fetch_sub_explicit(&c->commit_waiters, 1, memory_order_relaxed);
	}
	TSAN_RELEASE(&c->ring);
	ck_ring_enqueue_commit_mpmc(&c->ring, ticket); /* our turn: returns at once */
}

static chan_status queue_send(struct ck_chan *c, uintptr_t msg, chan_deadline dl)
{
	ck_hp_fifo_entry_t *node = NULL;
	ck_hp_record_t *rec = NULL;
	if (c->kind == K_UNBOUNDED) {
		/* Allocate first: after admission the send must not fail. */
		rec = hp_record();
		node = malloc(sizeof *node);
		if (rec == NULL || node == NULL) {
			free(node);
			return CHAN_ENOMEM;
		}
	}
	void **slot = NULL;
	unsigned int ticket = 0;
	bool registered = false;
	chan_status st;
	for (;;) {
		/* Snapshot before the check (acquire): a release after the check
		 * changes the count we wait on. */
		uint64_t seen = ck_ec64_value(&c->not_full);
		if (c->kind == K_BOUNDED) {
			/* Admission and ticket in one step (c->lock), so that two
			 * senders' admission order is their FIFO order. */
			rz_lock(c);
			st = admit(c);
			if (st == CHAN_OK)
				slot = ring_reserve(c, &ticket);
			rz_unlock(c);
		} else {
			st = admit(c);
		}
		if (st == CHAN_OK)
			break;
		if (st == CHAN_CLOSED || chan_deadline_passed(dl)) {
			if (st != CHAN_CLOSED)
				st = chan_deadline_fail(dl, CHAN_FULL);
			break;
		}
		if (!registered) {
			/* seq_cst RMW before the re-check: a receiver's release either
			 * is seen by the re-check or sees us in send_waiters. */
			atomic_fetch_add_explicit(&c->send_waiters, 1, memory_order_seq_cst);
			registered = true;
			continue;
		}
		struct timespec ts;
		/* A wait that times out goes round once more: one last admission
		 * attempt, then the deadline-passed branch reports TIMEOUT. */
		(void)ck_ec64_wait(&c->not_full, &ec_mode, seen, dl_timespec(dl, &ts));
	}
	if (registered)
		atomic_fetch_sub_explicit(&c->send_waiters, 1, memory_order_relaxed);
	if (st != CHAN_OK) {
		free(node);
		return st;
	}
	if (c->kind == K_BOUNDED) {
		ring_commit(c, slot, ticket, msg);
	} else {
		TSAN_RELEASE(&c->fifo);
		ck_hp_fifo_enqueue_mpmc(rec, &c->fifo, node, (void *)msg);
		TSAN_RELEASE(&hp_domain);
		ck_hp_clear(rec); /* pin nothing between operations */
	}
	/* Store-load fence: the entry (p_tail / tail link) is visible before we
	 * read the waiter counts; pairs with the waiters' seq_cst registrations
	 * (store-buffering: each side stores, fences, loads). */
	STORE_LOAD_FENCE();
	if (atomic_load_explicit(&c->recv_waiters, memory_order_relaxed) != 0)
		ck_ec64_inc(&c->not_empty, &ec_mode); /* publishes: the entry is in the queue */
	if (c->kind == K_BOUNDED &&
	    atomic_load_explicit(&c->commit_waiters, memory_order_relaxed) != 0)
		futex_wake(&c->ring.p_tail, INT_MAX);
	return CHAN_OK;
}

/* One dequeue attempt; true with *msg set if a message was taken. */
static bool queue_take(struct ck_chan *c, uintptr_t *msg, chan_status *err)
{
	void *v;
	if (c->kind == K_BOUNDED) {
		TSAN_ACQUIRE(&c->ring);
		if (!ck_ring_dequeue_mpmc(&c->ring, c->ring_buf, &v))
			return false;
	} else {
		ck_hp_record_t *rec = hp_record();
		if (rec == NULL) {
			*err = CHAN_ENOMEM;
			return false;
		}
		TSAN_ACQUIRE(&c->fifo);
		ck_hp_fifo_entry_t *old = ck_hp_fifo_dequeue_mpmc(rec, &c->fifo, &v);
		TSAN_RELEASE(&hp_domain);
		ck_hp_clear(rec);
		if (old == NULL)
			return false;
		/* The old stub: free once no hazard pointer names it. */
		ck_hp_free(rec, &old->hazard, old, old);
	}
	*msg = (uintptr_t)v;
	return true;
}

static chan_status queue_recv(struct ck_chan *c, uintptr_t *msg, chan_deadline dl)
{
	unsigned int inflight_polls = 0;
	bool registered = false;
	chan_status st;
	for (;;) {
		/* Snapshot before the check (acquire), as in queue_send. */
		uint64_t seen = ck_ec64_value(&c->not_empty);
		st = CHAN_OK;
		if (queue_take(c, msg, &st)) {
			release(c);
			break;
		}
		if (st != CHAN_OK)
			break;
		uint64_t s = atomic_load_explicit(&c->st, memory_order_acquire);
		struct timespec ts;
		const struct timespec *until;
		if (st_closed(s)) {
			if (st_used(s) == 0) {
				st = CHAN_CLOSED; /* final: nothing queued, nothing admitted */
				break;
			}
			/* An admitted sender has not enqueued yet, or a receiver has not
			 * released yet: both finish without blocking and then bump
			 * not_empty. Wait for them whatever the deadline. */
			until = NULL;
		} else if (chan_deadline_passed(dl)) {
			if (st_used(s) != 0) {
				/* A send is linearized at its admission (try_send reports
				 * FULL by `used`), so EMPTY is only true when used == 0.
				 * An admitted sender that has not enqueued yet, or a
				 * receiver that has not released yet, finishes without
				 * blocking: wait it out, yielding to it if it was
				 * preempted, then look again. */
				if (++inflight_polls < RING_SPIN)
					ck_pr_stall();
				else
					sched_yield();
				continue;
			}
			st = chan_deadline_fail(dl, CHAN_EMPTY);
			break;
		} else {
			until = dl_timespec(dl, &ts);
		}
		if (!registered) {
			/* seq_cst RMW before the re-check: a sender's enqueue either is
			 * seen by the re-check or sees us in recv_waiters. */
			atomic_fetch_add_explicit(&c->recv_waiters, 1, memory_order_seq_cst);
			registered = true;
			continue;
		}
		/* A wait that times out goes round once more: the deadline-passed
		 * branch above then decides, with the in-flight rule (used > 0). */
		(void)ck_ec64_wait(&c->not_empty, &ec_mode, seen, until);
	}
	if (registered)
		atomic_fetch_sub_explicit(&c->recv_waiters, 1, memory_order_relaxed);
	return st;
}

/* ---- rendezvous --------------------------------------------------------------- */

static void rz_lock(struct ck_chan *c)
{
	ck_backoff_t backoff = CK_BACKOFF_INITIALIZER;
	unsigned int tries = 0;
	while (!ck_spinlock_fas_trylock(&c->lock)) {
		/* Back off, then nap: the holder may be preempted (more threads
		 * than cores). A nap, not sched_yield: CFS may hand the CPU straight
		 * back to a yielding waiter and starve the holder. */
		if (++tries < 4) {
			ck_backoff_eb(&backoff);
		} else {
			struct timespec nap = {0, RZ_LOCK_NAP_NS};
			(void)syscall(SYS_futex, &c->lock.value, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 1u,
			              &nap, NULL, 0);
		}
	}
	TSAN_ACQUIRE(&c->lock);
}

static void rz_unlock(struct ck_chan *c)
{
	TSAN_RELEASE(&c->lock);
	ck_spinlock_fas_unlock(&c->lock);
}

static void rz_push(struct rz_queue *q, struct rz_waiter *w)
{
	w->next = NULL;
	w->prev = q->tail;
	if (q->tail)
		q->tail->next = w;
	else
		q->head = w;
	q->tail = w;
}

static void rz_unlink(struct rz_queue *q, struct rz_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		q->head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		q->tail = w->prev;
}

static struct rz_waiter *rz_pop(struct rz_queue *q)
{
	struct rz_waiter *w = q->head;
	if (w)
		rz_unlink(q, w);
	return w;
}

/* Settle a waiter already unlinked. Precondition: c->lock held. After the
 * store the waiter may return at any time: only its address is used after. */
static void rz_settle(struct rz_waiter *w, enum rz_state st)
{
	/* release: publishes w->msg (receiver) to the waiter's acquire load. */
	atomic_store_explicit(&w->state, st, memory_order_release);
}

/* Park w (already on q, lock released) until settled or dl passes. Returns the
 * final state; RZ_PENDING means timed out and unlinked. */
static enum rz_state rz_park(struct ck_chan *c, struct rz_queue *q, struct rz_waiter *w,
                             chan_deadline dl)
{
	uint32_t s;
	for (unsigned int i = 0; i < RZ_SPIN; i++) {
		s = atomic_load_explicit(&w->state, memory_order_acquire);
		if (s != RZ_PENDING)
			return (enum rz_state)s;
		ck_pr_stall();
	}
	struct timespec ts;
	const struct timespec *until = dl_timespec(dl, &ts);
	while ((s = atomic_load_explicit(&w->state, memory_order_acquire)) == RZ_PENDING) {
		if (chan_deadline_passed(dl)) {
			rz_lock(c);
			s = atomic_load_explicit(&w->state, memory_order_acquire);
			if (s == RZ_PENDING)
				rz_unlink(q, w); /* leaves no trace (T4) */
			rz_unlock(c);
			return (enum rz_state)s;
		}
		futex_wait_until((const uint32_t *)(void *)&w->state, RZ_PENDING, until);
	}
	return (enum rz_state)s;
}

static chan_status rz_send(struct ck_chan *c, uintptr_t msg, chan_deadline dl)
{
	rz_lock(c);
	if (c->closed) {
		rz_unlock(c);
		return CHAN_CLOSED;
	}
	struct rz_waiter *r = rz_pop(&c->recvq);
	if (r != NULL) {
		r->msg = msg;
		rz_settle(r, RZ_DONE);
		rz_unlock(c);
		futex_wake((const uint32_t *)(void *)&r->state, 1);
		return CHAN_OK;
	}
	if (chan_deadline_passed(dl)) {
		rz_unlock(c);
		return chan_deadline_fail(dl, CHAN_FULL);
	}
	struct rz_waiter w = {.msg = msg};
	atomic_init(&w.state, RZ_PENDING);
	rz_push(&c->sendq, &w);
	rz_unlock(c);
	switch (rz_park(c, &c->sendq, &w, dl)) {
	case RZ_DONE: return CHAN_OK;
	case RZ_CLOSED: return CHAN_CLOSED;
	case RZ_PENDING: break;
	}
	return CHAN_TIMEOUT;
}

static chan_status rz_recv(struct ck_chan *c, uintptr_t *msg, chan_deadline dl)
{
	rz_lock(c);
	struct rz_waiter *s = rz_pop(&c->sendq);
	if (s != NULL) {
		*msg = s->msg;
		rz_settle(s, RZ_DONE);
		rz_unlock(c);
		futex_wake((const uint32_t *)(void *)&s->state, 1);
		return CHAN_OK;
	}
	if (c->closed) {
		rz_unlock(c);
		return CHAN_CLOSED;
	}
	if (chan_deadline_passed(dl)) {
		rz_unlock(c);
		return chan_deadline_fail(dl, CHAN_EMPTY);
	}
	struct rz_waiter w = {.msg = 0};
	atomic_init(&w.state, RZ_PENDING);
	rz_push(&c->recvq, &w);
	rz_unlock(c);
	switch (rz_park(c, &c->recvq, &w, dl)) {
	case RZ_DONE: *msg = w.msg; return CHAN_OK;
	case RZ_CLOSED: return CHAN_CLOSED;
	case RZ_PENDING: break;
	}
	return CHAN_TIMEOUT;
}

/* Settle every waiter on q as closed. Precondition: c->lock held. */
static void rz_close_queue(struct rz_queue *q)
{
	struct rz_waiter *w;
	while ((w = rz_pop(q)) != NULL) {
		rz_settle(w, RZ_CLOSED);
		futex_wake((const uint32_t *)(void *)&w->state, 1);
	}
}

/* ---- the ops table ------------------------------------------------------------ */

static chan_status ck_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct ck_chan *c = as_ck(b);
	return c->kind == K_RENDEZVOUS ? rz_send(c, msg, dl) : queue_send(c, msg, dl);
}

static chan_status ck_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct ck_chan *c = as_ck(b);
	return c->kind == K_RENDEZVOUS ? rz_recv(c, msg, dl) : queue_recv(c, msg, dl);
}

static chan_status ck_close(struct chan_base *b)
{
	struct ck_chan *c = as_ck(b);
	if (c->kind == K_RENDEZVOUS) {
		rz_lock(c);
		bool was = c->closed;
		c->closed = true;
		rz_close_queue(&c->recvq);
		rz_close_queue(&c->sendq); /* senders keep their values */
		rz_unlock(c);
		return was ? CHAN_ALREADY_CLOSED : CHAN_OK;
	}
	/* acq_rel, same word as admission: every send is ordered before (admitted)
	 * or after (CLOSED) this. */
	uint64_t old = atomic_fetch_or_explicit(&c->st, ST_CLOSED, memory_order_acq_rel);
	if (st_closed(old))
		return CHAN_ALREADY_CLOSED;
	ck_ec64_inc(&c->not_empty, &ec_mode); /* publishes: closed (to receivers) */
	ck_ec64_inc(&c->not_full, &ec_mode);  /* publishes: closed (to senders) */
	return CHAN_OK;
}

static size_t ck_len(struct chan_base *b)
{
	struct ck_chan *c = as_ck(b);
	if (c->kind == K_RENDEZVOUS)
		return 0;
	return (size_t)st_used(atomic_load_explicit(&c->st, memory_order_acquire));
}

const struct chan_ops chan_ck_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "ck",
	.description = "ConcurrencyKit: ck_ring (bounded), ck_hp_fifo + hazard pointers (unbounded), "
	               "ck_ec futex event counts for blocking, spinlocked hand-off queues (rendezvous)",
	.caps = CHAN_CAPS_FULL,
	.create = ck_create,
	.destroy = ck_destroy,
	.send = ck_send,
	.recv = ck_recv,
	.close = ck_close,
	.len = ck_len,
};
