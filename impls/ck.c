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
 *     dequeue (FIFO order is dequeue order); `used` is the logical length plus
 *     the receivers between dequeue and release. A recv whose deadline has
 *     passed reports EMPTY/TIMEOUT only when used == 0; while used > 0 and the
 *     queue looks empty, an admitted sender or a releasing receiver is in flight
 *     and finishes without blocking, so the recv polls (then yields) until it
 *     can dequeue or used falls to 0. Without this, try_send FULL followed by
 *     try_recv EMPTY in one thread was observable (found by chan-linearize).
 *     Symmetrically, a bounded send whose deadline has passed reports
 *     FULL/TIMEOUT only when no receiver is between dequeue and release (used
 *     == p_head - c_head, read under c->lock): otherwise it polls the same way.
 *     Without this, a receiver preempted after its dequeue made a later
 *     try_send report FULL although another receiver had already taken a
 *     newer message (chan-linearize, Q6 at cap 2, about 1 in 10^5 histories).
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
 * Select and poll fds (ABI 2, chan_waiter.h). Registered waiters live in two
 * chan_waiter_lists, wrecv and wsend (by the direction of their case).
 *   - Bounded and unbounded: observers only, under their own ck_spinlock
 *     (wlock), counted in nw_recv / nw_send so that the message paths pay one
 *     load, and only on a transition: a send whose admission found used == 0
 *     (empty -> readable) reads nw_recv after the store-load fence it already
 *     issues; a release that found used == cap (full -> writable) reads nw_send
 *     after its seq_cst RMW. Non-zero: notify that list under wlock. The other
 *     side is a seq_cst increment of the count at registration, then ready()'s
 *     seq_cst load of `st` (Dekker): either the selector sees the admission /
 *     release, or the sender / receiver sees the count. Close notifies both
 *     lists under wlock, always. ready() decides by the same word as a try
 *     (closed, used > 0, used < cap); where a receiver in flight makes it say
 *     "not writable", that receiver's release is the full -> writable
 *     transition, which notifies.
 *   - Rendezvous: the lists are under `lock`, with sendq and recvq. A send (of
 *     any kind) first pairs with a parked receiver, then claims a select's recv
 *     case (chan_waiter_list_claim + chan_waiter_complete, both under the lock,
 *     so unregister cannot cut in); a recv likewise with parked senders and
 *     send cases, and only while open (a send case must not commit after
 *     close). A sender that parks notifies wrecv, a receiver that parks wsend;
 *     a select's case that registers notifies the poll fds on the other side
 *     (selects there count it in their own ready()). ready() counts parked
 *     counterparts and claimable waiters of other threads (S5).
 *
 * Batches. Bounded send_batch admits up to BATCH_CHUNK messages with one CAS
 * (as many as there is room for), reserves their ring tickets in the same lock
 * hold (consecutive: FIFO kept), waits once for its commit turn, commits them in
 * a row and wakes once; unbounded likewise with one admission per chunk of
 * nodes. recv_batch takes the first message as recv does, then dequeues what
 * else is there and releases all of them with one RMW (one wake). Rendezvous
 * batches pair with every waiting counterpart in one lock hold and fall back to
 * the single operation (which parks) when none is left.
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
#include "chanbench/chan_waiter.h"

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
#define RZ_LOCK_NAP_NS 20000 /* a spinlock waiter's nap once spinning failed */
#define BATCH_CHUNK 64       /* messages per admission step / lock hold of a batch */

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
	/* Select and poll-fd waiters (chan_waiter.h) by the direction of their
	 * case: under `lock` for rendezvous (a claim is one step with the parked
	 * queues), under `wlock` for bounded and unbounded. */
	struct chan_waiter_list wrecv, wsend;

	/* Bounded and unbounded: how many waiters wrecv / wsend hold. Read by
	 * every send / recv that changes readiness, written only when a waiter
	 * comes or goes: a read-mostly line of its own. */
	alignas(CACHELINE) _Atomic uint32_t nw_recv;
	_Atomic uint32_t nw_send;
	alignas(CACHELINE) ck_spinlock_fas_t wlock;
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
	ck_spinlock_fas_init(&c->wlock);

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

/* Take up to `want` (>= 1) units of `used` in one step: CHAN_OK with *got units
 * (1..want, as many as there is room for) and *prev = `used` before, CHAN_CLOSED,
 * or CHAN_FULL (used == cap). */
static inline chan_status admit_n(struct ck_chan *c, uint64_t want, uint64_t *got,
                                  uint64_t *prev)
{
	uint64_t s = atomic_load_explicit(&c->st, memory_order_acquire);
	uint64_t k;
	do {
		if (st_closed(s))
			return CHAN_CLOSED;
		if (st_used(s) >= c->cap)
			return CHAN_FULL;
		k = c->cap - st_used(s);
		if (k > want)
			k = want;
		/* acq_rel: ordered after the slot release we observed (ring room),
		 * and before our ring ticket. */
	} while (!atomic_compare_exchange_weak_explicit(&c->st, &s, s + k * ST_ONE,
	                                                memory_order_acq_rel, memory_order_acquire));
	*got = k;
	*prev = st_used(s);
	return CHAN_OK;
}

/* Take one unit of `used`: CHAN_OK, CHAN_CLOSED, or CHAN_FULL (used == cap).
 * *prev is `used` before (0: this send makes the channel readable). */
static inline chan_status admit(struct ck_chan *c, uint64_t *prev)
{
	uint64_t got;
	return admit_n(c, 1, &got, prev);
}

static void spin_lock(ck_spinlock_fas_t *l);
static void spin_unlock(ck_spinlock_fas_t *l);
static void rz_lock(struct ck_chan *c);
static void rz_unlock(struct ck_chan *c);

/* Bounded and unbounded: tell the select / poll-fd waiters on l that their
 * case may be ready (they re-check; a spurious notice costs a retry). */
static void wl_notify(struct ck_chan *c, struct chan_waiter_list *l)
{
	spin_lock(&c->wlock);
	chan_waiter_list_notify_all(l);
	spin_unlock(&c->wlock);
}

/* Give back k units of `used` after k dequeues. */
static void release_n(struct ck_chan *c, uint64_t k)
{
	/* acq_rel: our dequeue happens before the slot is seen free. */
	uint64_t old = atomic_fetch_sub_explicit(&c->st, k * ST_ONE, memory_order_seq_cst);
	/* The RMW above is seq_cst: it orders the release before the loads of
	 * send_waiters and nw_send (pair with the waiters' registrations, see
	 * queue_send and ck_register_waiter). */
	if (c->kind == K_BOUNDED) {
		if (atomic_load_explicit(&c->send_waiters, memory_order_seq_cst) != 0)
			ck_ec64_inc(&c->not_full, &ec_mode); /* publishes: a slot is free */
		/* Select: only the full -> not full transition is announced (a
		 * selector checks ready() after registering, so it cannot miss
		 * an earlier one). */
		if (st_used(old) == c->cap &&
		    atomic_load_explicit(&c->nw_send, memory_order_seq_cst) != 0)
			wl_notify(c, &c->wsend);
	}
	if (st_closed(old))
		ck_ec64_inc(&c->not_empty, &ec_mode); /* publishes: in-flight count fell */
}

static inline void release(struct ck_chan *c)
{
	release_n(c, 1);
}

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

/* Wait until every ticket before `ticket` has committed (outside the lock). */
static void ring_wait_turn(struct ck_chan *c, unsigned int ticket)
{
	/* Commits happen in ticket order. The holder of the previous ticket may
	 * be preempted (more threads than cores): after a short spin, sleep until
	 * p_tail moves rather than burn the time slice, as ck_ring's own commit
	 * loop would. */
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
}

/* Bounded, after admission failed with FULL, c->lock held: whether a receiver
 * is between its dequeue and its release, so that `used` == cap over-counts
 * and the channel is not full in the linearized order (see "Linearization").
 * p_head cannot move (reservations happen under c->lock), and nobody is
 * admitted without a reservation; `used` is read before c_head, so a receiver
 * that dequeued before that read is counted out of p_head - c_head. A later
 * dequeue can only make this say true spuriously (the caller looks again). */
static inline bool recv_in_flight(struct ck_chan *c)
{
	uint64_t used = st_used(atomic_load_explicit(&c->st, memory_order_seq_cst));
	unsigned int queued = ck_pr_load_uint(&c->ring.p_head) - ck_pr_load_uint(&c->ring.c_head);
	return used > queued;
}

/* Wait out an operation in flight that finishes without blocking: poll, then
 * yield to it in case it was preempted. */
static inline void in_flight_pause(unsigned int *polls)
{
	if (++*polls < RING_SPIN)
		ck_pr_stall();
	else
		sched_yield();
}

/* A sender's state across its "no room" rounds (queue_send, bounded_send_batch). */
struct send_wait {
	unsigned int inflight_polls;
	bool registered; /* counted in send_waiters */
};

/* A bounded sender found no room (recv_busy: a receiver is between take and slot
 * return; seen: not_full's count read before the check). CHAN_OK: go round (it
 * paused for that receiver, just counted itself in send_waiters, or slept on
 * not_full); otherwise the status to end with (FULL or TIMEOUT). */
static chan_status send_no_room(struct ck_chan *c, struct send_wait *w, chan_deadline dl,
                                bool recv_busy, uint64_t seen)
{
	if (chan_deadline_passed(dl)) {
		/* FULL / TIMEOUT only if no receiver is in flight: its
		 * release is imminent and the slot is logically free. */
		if (recv_busy) {
			in_flight_pause(&w->inflight_polls);
			return CHAN_OK;
		}
		return chan_deadline_fail(dl, CHAN_FULL);
	}
	if (!w->registered) {
		/* seq_cst RMW before the re-check: a receiver's release either
		 * is seen by the re-check or sees us in send_waiters. */
		atomic_fetch_add_explicit(&c->send_waiters, 1, memory_order_seq_cst);
		w->registered = true;
		return CHAN_OK;
	}
	struct timespec ts;
	/* A wait that times out goes round once more: one last admission
	 * attempt, then the deadline-passed branch reports TIMEOUT. */
	(void)ck_ec64_wait(&c->not_full, &ec_mode, seen, dl_timespec(dl, &ts));
	return CHAN_OK;
}

static void send_wait_end(struct ck_chan *c, struct send_wait *w)
{
	if (w->registered)
		atomic_fetch_sub_explicit(&c->send_waiters, 1, memory_order_relaxed);
}

/* Fill a reserved slot and commit it (the second half), outside the lock. */
static void ring_commit(struct ck_chan *c, void **slot, unsigned int ticket, uintptr_t msg)
{
	ck_pr_store_ptr(slot, (void *)msg); /* published by the commit's store fence */
	ring_wait_turn(c, ticket);
	TSAN_RELEASE(&c->ring);
	ck_ring_enqueue_commit_mpmc(&c->ring, ticket); /* our turn: returns at once */
}

/* After a send's entries are in the queue: wake what waits for them. prev is
 * `used` before the send's admission. */
static inline void sent_wake(struct ck_chan *c, uint64_t prev)
{
	/* Store-load fence: the entry (p_tail / tail link) is visible before we
	 * read the waiter counts; pairs with the waiters' seq_cst registrations
	 * (store-buffering: each side stores, fences, loads). The admission RMW
	 * precedes it too: a selector that registered (seq_cst) and then found
	 * used == 0 in ready() is seen in nw_recv here. */
	STORE_LOAD_FENCE();
	if (atomic_load_explicit(&c->recv_waiters, memory_order_relaxed) != 0)
		ck_ec64_inc(&c->not_empty, &ec_mode); /* publishes: the entry is in the queue */
	if (c->kind == K_BOUNDED &&
	    atomic_load_explicit(&c->commit_waiters, memory_order_relaxed) != 0)
		futex_wake(&c->ring.p_tail, INT_MAX);
	/* Select: only the empty -> non-empty transition is announced. */
	if (prev == 0 && atomic_load_explicit(&c->nw_recv, memory_order_relaxed) != 0)
		wl_notify(c, &c->wrecv);
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
	uint64_t prev = 0;
	struct send_wait wait = {0};
	chan_status st;
	for (;;) {
		/* Snapshot before the check (acquire): a release after the check
		 * changes the count we wait on. */
		uint64_t seen = ck_ec64_value(&c->not_full);
		bool recv_busy = false;
		if (c->kind == K_BOUNDED) {
			/* Admission and ticket in one step (c->lock), so that two
			 * senders' admission order is their FIFO order. */
			rz_lock(c);
			st = admit(c, &prev);
			if (st == CHAN_OK)
				slot = ring_reserve(c, &ticket);
			else if (st == CHAN_FULL)
				recv_busy = recv_in_flight(c);
			rz_unlock(c);
		} else {
			st = admit(c, &prev);
		}
		if (st == CHAN_OK || st == CHAN_CLOSED)
			break;
		if ((st = send_no_room(c, &wait, dl, recv_busy, seen)) != CHAN_OK)
			break;
	}
	send_wait_end(c, &wait);
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
	sent_wake(c, prev);
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

/* Receive into msgs[0..n): wait as a recv for the first message, then take
 * whatever else is queued at once (recv_batch); *got is how many. All are
 * released in one step. */
static inline chan_status queue_recv_n(struct ck_chan *c, uintptr_t *msgs, size_t n, size_t *got,
                                       chan_deadline dl)
{
	unsigned int inflight_polls = 0;
	bool registered = false;
	chan_status st;
	for (;;) {
		/* Snapshot before the check (acquire), as in queue_send. */
		uint64_t seen = ck_ec64_value(&c->not_empty);
		st = CHAN_OK;
		if (queue_take(c, &msgs[0], &st)) {
			size_t k = 1;
			/* (This thread's hazard record exists now: no ENOMEM.) */
			while (k < n && queue_take(c, &msgs[k], &st))
				k++;
			release_n(c, k);
			*got = k;
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
				in_flight_pause(&inflight_polls);
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

static chan_status queue_recv(struct ck_chan *c, uintptr_t *msg, chan_deadline dl)
{
	size_t got;
	return queue_recv_n(c, msg, 1, &got, dl);
}

/* send_batch, bounded: each round admits as many messages as there is room
 * for (up to BATCH_CHUNK) with one admission CAS, reserves their ring slots in
 * the same lock hold (consecutive tickets: admission order stays FIFO order),
 * waits once for its commit turn, commits them in a row and wakes once. When
 * no room is left it waits as queue_send does. */
static chan_status bounded_send_batch(struct ck_chan *c, const uintptr_t *msgs, size_t n,
                                      size_t *done, chan_deadline dl)
{
	size_t sent = 0;
	struct send_wait wait = {0};
	chan_status st = CHAN_OK;
	while (sent < n) {
		uint64_t seen = ck_ec64_value(&c->not_full); /* before the check, as in queue_send */
		bool recv_busy = false;
		void **slot[BATCH_CHUNK];
		unsigned int ticket[BATCH_CHUNK];
		uint64_t want = n - sent < BATCH_CHUNK ? (uint64_t)(n - sent) : BATCH_CHUNK;
		uint64_t k = 0, prev = 0;
		rz_lock(c);
		st = admit_n(c, want, &k, &prev);
		if (st == CHAN_OK)
			for (uint64_t i = 0; i < k; i++)
				slot[i] = ring_reserve(c, &ticket[i]);
		else if (st == CHAN_FULL)
			recv_busy = recv_in_flight(c);
		rz_unlock(c);
		if (st == CHAN_OK) {
			for (uint64_t i = 0; i < k; i++)
				ck_pr_store_ptr(slot[i], (void *)msgs[sent + i]);
			ring_wait_turn(c, ticket[0]);
			TSAN_RELEASE(&c->ring);
			/* Each commit moves p_tail to the next ticket, ours too: every
			 * one returns at once. */
			for (uint64_t i = 0; i < k; i++)
				ck_ring_enqueue_commit_mpmc(&c->ring, ticket[i]);
			sent += k;
			sent_wake(c, prev);
			continue;
		}
		if (st == CHAN_CLOSED)
			break;
		if ((st = send_no_room(c, &wait, dl, recv_busy, seen)) != CHAN_OK)
			break;
	}
	send_wait_end(c, &wait);
	*done = sent;
	return sent == n ? CHAN_OK : st;
}

/* send_batch, unbounded: never waits. Each round allocates up to BATCH_CHUNK
 * nodes (before admission: an admitted send must not fail), admits them with
 * one CAS, enqueues them and wakes once. */
static chan_status unbounded_send_batch(struct ck_chan *c, const uintptr_t *msgs, size_t n,
                                        size_t *done)
{
	ck_hp_record_t *rec = hp_record();
	size_t sent = 0;
	chan_status st = rec != NULL ? CHAN_OK : CHAN_ENOMEM;
	while (st == CHAN_OK && sent < n) {
		ck_hp_fifo_entry_t *node[BATCH_CHUNK];
		size_t want = n - sent < BATCH_CHUNK ? n - sent : BATCH_CHUNK;
		size_t m = 0;
		while (m < want && (node[m] = malloc(sizeof *node[m])) != NULL)
			m++;
		if (m == 0) {
			st = CHAN_ENOMEM;
			break;
		}
		uint64_t k = 0, prev = 0;
		st = admit_n(c, m, &k, &prev); /* k == m: `used` never reaches cap */
		if (st != CHAN_OK) {
			while (m > 0)
				free(node[--m]);
			break;
		}
		for (size_t i = 0; i < m; i++) {
			TSAN_RELEASE(&c->fifo);
			ck_hp_fifo_enqueue_mpmc(rec, &c->fifo, node[i], (void *)msgs[sent + i]);
		}
		TSAN_RELEASE(&hp_domain);
		ck_hp_clear(rec);
		sent += m;
		sent_wake(c, prev);
	}
	*done = sent;
	return sent == n ? CHAN_OK : st;
}

/* ---- rendezvous --------------------------------------------------------------- */

static void spin_lock(ck_spinlock_fas_t *l)
{
	ck_backoff_t backoff = CK_BACKOFF_INITIALIZER;
	unsigned int tries = 0;
	while (!ck_spinlock_fas_trylock(l)) {
		/* Back off, then nap: the holder may be preempted (more threads
		 * than cores). A nap, not sched_yield: CFS may hand the CPU straight
		 * back to a yielding waiter and starve the holder. */
		if (++tries < 4) {
			ck_backoff_eb(&backoff);
		} else {
			struct timespec nap = {0, RZ_LOCK_NAP_NS};
			(void)syscall(SYS_futex, &l->value, FUTEX_WAIT | FUTEX_PRIVATE_FLAG, 1u, &nap,
			              NULL, 0);
		}
	}
	TSAN_ACQUIRE(l);
}

static void spin_unlock(ck_spinlock_fas_t *l)
{
	TSAN_RELEASE(l);
	ck_spinlock_fas_unlock(l);
}

static void rz_lock(struct ck_chan *c)
{
	spin_lock(&c->lock);
}

static void rz_unlock(struct ck_chan *c)
{
	spin_unlock(&c->lock);
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

/* Hand msg to a counterpart without waiting: a parked receiver (its futex word
 * goes to *wake, to be woken after the unlock; else *wake is left alone) or a
 * select's recv case (claimed and completed here, under the lock, so that its
 * unregister cannot cut in). Precondition: c->lock held, not closed. */
static inline bool rz_give(struct ck_chan *c, uintptr_t msg, const uint32_t **wake)
{
	struct rz_waiter *r = rz_pop(&c->recvq);
	if (r != NULL) {
		r->msg = msg;
		rz_settle(r, RZ_DONE);
		*wake = (const uint32_t *)(void *)&r->state;
		return true;
	}
	if (c->wrecv.head != NULL) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->wrecv);
		if (w != NULL) {
			chan_waiter_complete(w, msg);
			return true;
		}
	}
	return false;
}

/* Take a value from a counterpart without waiting: a parked sender or a
 * select's send case; as rz_give. Precondition: c->lock held, not closed
 * (closed empties sendq, and a select's send case must not commit after
 * close: it reports CLOSED). */
static inline bool rz_take(struct ck_chan *c, uintptr_t *msg, const uint32_t **wake)
{
	struct rz_waiter *s = rz_pop(&c->sendq);
	if (s != NULL) {
		*msg = s->msg;
		rz_settle(s, RZ_DONE);
		*wake = (const uint32_t *)(void *)&s->state;
		return true;
	}
	if (c->wsend.head != NULL) {
		struct chan_waiter *w = chan_waiter_list_claim(&c->wsend);
		if (w != NULL) {
			*msg = w->msg;
			chan_waiter_complete(w, 0);
			return true;
		}
	}
	return false;
}

static chan_status rz_send(struct ck_chan *c, uintptr_t msg, chan_deadline dl)
{
	rz_lock(c);
	if (c->closed) {
		rz_unlock(c);
		return CHAN_CLOSED;
	}
	const uint32_t *wake = NULL;
	if (rz_give(c, msg, &wake)) {
		rz_unlock(c);
		if (wake != NULL)
			futex_wake(wake, 1);
		return CHAN_OK;
	}
	if (chan_deadline_passed(dl)) {
		rz_unlock(c);
		return chan_deadline_fail(dl, CHAN_FULL);
	}
	struct rz_waiter w = {.msg = msg};
	atomic_init(&w.state, RZ_PENDING);
	rz_push(&c->sendq, &w);
	/* A recv would not block now: tell the selects and poll fds waiting for
	 * that (a select's retry then takes our value). */
	chan_waiter_list_notify_all(&c->wrecv);
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
	if (c->closed) {
		rz_unlock(c);
		return CHAN_CLOSED; /* closed implies sendq is empty */
	}
	const uint32_t *wake = NULL;
	if (rz_take(c, msg, &wake)) {
		rz_unlock(c);
		if (wake != NULL)
			futex_wake(wake, 1);
		return CHAN_OK;
	}
	if (chan_deadline_passed(dl)) {
		rz_unlock(c);
		return chan_deadline_fail(dl, CHAN_EMPTY);
	}
	struct rz_waiter w = {.msg = 0};
	atomic_init(&w.state, RZ_PENDING);
	rz_push(&c->recvq, &w);
	chan_waiter_list_notify_all(&c->wsend); /* a send would not block now */
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

/* send_batch, rendezvous: hand values to every counterpart already waiting in
 * one lock hold (waking the parked ones after it), then send the next value
 * the single way (it parks, or fails), and repeat. */
static chan_status rz_send_batch(struct ck_chan *c, const uintptr_t *msgs, size_t n, size_t *done,
                                 chan_deadline dl)
{
	size_t sent = 0;
	chan_status st = CHAN_OK;
	while (sent < n) {
		const uint32_t *wake[BATCH_CHUNK];
		size_t nwake = 0, given = 0;
		rz_lock(c);
		if (c->closed) {
			rz_unlock(c);
			st = CHAN_CLOSED;
			break;
		}
		while (sent + given < n && given < BATCH_CHUNK) {
			const uint32_t *w = NULL;
			if (!rz_give(c, msgs[sent + given], &w))
				break;
			given++;
			if (w != NULL)
				wake[nwake++] = w;
		}
		rz_unlock(c);
		for (size_t i = 0; i < nwake; i++)
			futex_wake(wake[i], 1);
		sent += given;
		if (given == BATCH_CHUNK || sent == n)
			continue;
		st = rz_send(c, msgs[sent], dl);
		if (st != CHAN_OK)
			break;
		sent++;
	}
	*done = sent;
	return st;
}

/* Take up to n values from counterparts already waiting, without waiting. */
static size_t rz_take_ready(struct ck_chan *c, uintptr_t *msgs, size_t n)
{
	size_t got = 0;
	for (;;) {
		const uint32_t *wake[BATCH_CHUNK];
		size_t nwake = 0, k = 0;
		rz_lock(c);
		if (!c->closed) {
			while (got + k < n && k < BATCH_CHUNK) {
				const uint32_t *w = NULL;
				if (!rz_take(c, &msgs[got + k], &w))
					break;
				k++;
				if (w != NULL)
					wake[nwake++] = w;
			}
		}
		rz_unlock(c);
		for (size_t i = 0; i < nwake; i++)
			futex_wake(wake[i], 1);
		got += k;
		if (k < BATCH_CHUNK || got == n)
			return got;
	}
}

/* recv_batch, rendezvous: whatever counterparts wait now; if none, one recv
 * the single way (it parks, or fails), then whatever waits after it. */
static chan_status rz_recv_batch(struct ck_chan *c, uintptr_t *msgs, size_t n, size_t *done,
                                 chan_deadline dl)
{
	size_t got = rz_take_ready(c, msgs, n);
	if (got == 0) {
		chan_status st = rz_recv(c, &msgs[0], dl);
		if (st != CHAN_OK) {
			*done = 0;
			return st;
		}
		got = 1;
		if (n > 1)
			got += rz_take_ready(c, msgs + 1, n - 1);
	}
	*done = got;
	return CHAN_OK;
}

/* ---- select and poll-fd waiters (chan_waiter.h) ------------------------------- */

/* Notify only the observers (poll fds) on l. */
static void notify_observers(struct chan_waiter_list *l)
{
	for (struct chan_waiter *w = l->head; w; w = w->next)
		if (w->flags & CHAN_WAITER_OBSERVE)
			chan_waiter_notify(w);
}

static chan_status ck_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_chan *c = as_ck(b);
	bool recv = w->dir == CHAN_DIR_RECV;
	if (c->kind == K_RENDEZVOUS) {
		rz_lock(c);
		chan_waiter_list_push(recv ? &c->wrecv : &c->wsend, w);
		/* A select's case is a counterpart that a try on the other side
		 * can claim: tell the poll fds watching that side. Selects there
		 * need no nudge: each checks ready() after its own registration,
		 * and ready() counts this waiter. */
		if (!(w->flags & CHAN_WAITER_OBSERVE))
			notify_observers(recv ? &c->wsend : &c->wrecv);
		rz_unlock(c);
		return CHAN_OK;
	}
	spin_lock(&c->wlock);
	chan_waiter_list_push(recv ? &c->wrecv : &c->wsend, w);
	/* seq_cst RMW, then the caller's ready() loads st (seq_cst): a send's
	 * admission (release's RMW) is seen there, or the sender (releaser) sees
	 * this count after its store-load fence (seq_cst RMW) and notifies
	 * (Dekker; see sent_wake and release_n). */
	atomic_fetch_add_explicit(recv ? &c->nw_recv : &c->nw_send, 1, memory_order_seq_cst);
	spin_unlock(&c->wlock);
	return CHAN_OK;
}

static void ck_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	struct ck_chan *c = as_ck(b);
	bool recv = w->dir == CHAN_DIR_RECV;
	struct chan_waiter_list *l = recv ? &c->wrecv : &c->wsend;
	if (c->kind == K_RENDEZVOUS) {
		rz_lock(c);
		chan_waiter_list_remove(l, w); /* a claim may have unlinked it already */
		rz_unlock(c);
		return;
	}
	spin_lock(&c->wlock);
	if (w->impl == l) {
		chan_waiter_list_remove(l, w);
		atomic_fetch_sub_explicit(recv ? &c->nw_recv : &c->nw_send, 1, memory_order_relaxed);
	}
	spin_unlock(&c->wlock);
}

static int ck_ready(struct chan_base *b, int dir)
{
	struct ck_chan *c = as_ck(b);
	if (c->kind == K_RENDEZVOUS) {
		/* A parked counterpart, or a select's case of another thread that
		 * a try could claim (chan_waiter_claimable skips our own: S5). */
		rz_lock(c);
		bool r = c->closed ||
		         (dir == CHAN_DIR_RECV
		              ? c->sendq.head != NULL || chan_waiter_list_has_claimable(&c->wsend)
		              : c->recvq.head != NULL || chan_waiter_list_has_claimable(&c->wrecv));
		rz_unlock(c);
		return r;
	}
	/* seq_cst: the load half of register_waiter's Dekker pattern. By the
	 * linearization rule (a send counts from its admission, a recv until its
	 * release), `used` is what a try decides by: a try_recv with used > 0
	 * waits out an in-flight sender rather than report EMPTY. */
	uint64_t s = atomic_load_explicit(&c->st, memory_order_seq_cst);
	if (st_closed(s))
		return 1;
	return dir == CHAN_DIR_RECV ? st_used(s) > 0 : st_used(s) < c->cap;
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
		chan_waiter_list_notify_all(&c->wrecv);
		chan_waiter_list_notify_all(&c->wsend);
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
	/* Always, under wlock: a waiter registered before this lock hold is
	 * notified here; one registered after it sees the closed bit in
	 * ready() (its registration's lock hold follows ours). */
	spin_lock(&c->wlock);
	chan_waiter_list_notify_all(&c->wrecv);
	chan_waiter_list_notify_all(&c->wsend);
	spin_unlock(&c->wlock);
	return CHAN_OK;
}

static chan_status ck_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n,
                                 size_t *done, chan_deadline dl)
{
	struct ck_chan *c = as_ck(b);
	switch (c->kind) {
	case K_RENDEZVOUS: return rz_send_batch(c, msgs, n, done, dl);
	case K_BOUNDED: return bounded_send_batch(c, msgs, n, done, dl);
	case K_UNBOUNDED: break;
	}
	return unbounded_send_batch(c, msgs, n, done);
}

static chan_status ck_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                 chan_deadline dl)
{
	struct ck_chan *c = as_ck(b);
	if (c->kind == K_RENDEZVOUS)
		return rz_recv_batch(c, msgs, n, done, dl);
	size_t got = 0;
	chan_status st = queue_recv_n(c, msgs, n, &got, dl);
	*done = st == CHAN_OK ? got : 0;
	return st;
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
	.caps = CHAN_CAPS_FULL | CHAN_CAP_SELECT | CHAN_CAP_BATCH,
	.create = ck_create,
	.destroy = ck_destroy,
	.send = ck_send,
	.recv = ck_recv,
	.close = ck_close,
	.len = ck_len,
	.register_waiter = ck_register_waiter,
	.unregister_waiter = ck_unregister_waiter,
	.ready = ck_ready,
	.send_batch = ck_send_batch,
	.recv_batch = ck_recv_batch,
};
