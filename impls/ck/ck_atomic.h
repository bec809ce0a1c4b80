/*
 * The atomic operations of the ck channel, in one place: ConcurrencyKit's ck_pr
 * (x86-64 TSO: a load is an acquire, a store a release, a locked RMW a full
 * fence; each ck_pr call is also a compiler barrier) — and, under
 * ThreadSanitizer, the same operations through the compiler's __atomic builtins,
 * which TSan can see (it cannot see ck_pr's inline assembly). The orders named
 * here are the ones the algorithms need; on x86-64 ck_pr gives at least those.
 */
#ifndef CHANBENCH_CK_ATOMIC_H
#define CHANBENCH_CK_ATOMIC_H

#include <stdbool.h>
#include <stdint.h>

#include <ck_md.h>
#include <ck_pr.h>
#include <ck_spinlock.h>

#if !defined(__x86_64__)
#error "impls/ck is written for x86-64 (ck_pr's TSO mapping of acquire/release)"
#endif

#if defined(__SANITIZE_THREAD__)
#define CKC_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CKC_TSAN 1
#endif
#endif

#define CKC_LINE CK_MD_CACHELINE

#ifndef CKC_TSAN
static inline uint64_t ckc_load_acq(const uint64_t *p) { return ck_pr_load_64(p); }
static inline void ckc_store_rel(uint64_t *p, uint64_t v) { ck_pr_store_64(p, v); }
/* seq_cst CAS; *old receives the value found (== cmp on success). */
static inline bool ckc_cas(uint64_t *p, uint64_t cmp, uint64_t set, uint64_t *old)
{
	return ck_pr_cas_64_value(p, cmp, set, old);
}
static inline uint64_t ckc_faa(uint64_t *p, uint64_t d) { return ck_pr_faa_64(p, d); }
static inline uint32_t ckc_load32(const uint32_t *p) { return ck_pr_load_32(p); }
static inline void ckc_inc32(uint32_t *p) { ck_pr_inc_32(p); }
static inline void ckc_store32(uint32_t *p, uint32_t v) { ck_pr_store_32(p, v); }
static inline bool ckc_cas32(uint32_t *p, uint32_t cmp, uint32_t set) { return ck_pr_cas_32(p, cmp, set); }
static inline uint32_t ckc_fas32(uint32_t *p, uint32_t v) { return ck_pr_fas_32(p, v); }
static inline void *ckc_load_ptr(void *const *p) { return ck_pr_load_ptr(p); }
static inline void ckc_store_ptr(void **p, void *v) { ck_pr_store_ptr(p, v); }
static inline bool ckc_cas_ptr(void **p, void *cmp, void *set) { return ck_pr_cas_ptr(p, cmp, set); }
static inline void *ckc_fas_ptr(void **p, void *v) { return ck_pr_fas_ptr(p, v); }
/* Store-load fence (mfence): the "SeqCst fence" of a full/empty decision. */
static inline void ckc_fence(void) { ck_pr_fence_memory(); }
/* Orders a slot's message access before the stamp/state store that hands the
 * slot on (compiler barrier on TSO). */
static inline void ckc_fence_release(void) { ck_pr_fence_release(); }
#else
static inline uint64_t ckc_load_acq(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void ckc_store_rel(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline bool ckc_cas(uint64_t *p, uint64_t cmp, uint64_t set, uint64_t *old)
{
	*old = cmp;
	return __atomic_compare_exchange_n(p, old, set, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline uint64_t ckc_faa(uint64_t *p, uint64_t d) { return __atomic_fetch_add(p, d, __ATOMIC_SEQ_CST); }
static inline uint32_t ckc_load32(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_SEQ_CST); }
static inline void ckc_inc32(uint32_t *p) { (void)__atomic_fetch_add(p, 1, __ATOMIC_SEQ_CST); }
static inline void ckc_store32(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline bool ckc_cas32(uint32_t *p, uint32_t cmp, uint32_t set)
{
	return __atomic_compare_exchange_n(p, &cmp, set, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline uint32_t ckc_fas32(uint32_t *p, uint32_t v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
static inline void *ckc_load_ptr(void *const *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline void ckc_store_ptr(void **p, void *v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline bool ckc_cas_ptr(void **p, void *cmp, void *set)
{
	return __atomic_compare_exchange_n(p, &cmp, set, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}
static inline void *ckc_fas_ptr(void **p, void *v) { return __atomic_exchange_n(p, v, __ATOMIC_SEQ_CST); }
/* TSan does not model fences: a seq_cst RMW on a private word is the same
 * store-load fence on x86 (a locked instruction). */
static inline void ckc_fence(void)
{
	static _Thread_local uint64_t word;
	(void)__atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
}
static inline void ckc_fence_release(void) {}
#endif

/* A test-and-set lock word for the few places that keep a lock (select
 * observer lists, the rendezvous queues): ck_spinlock_fas, or under TSan the
 * same exchange through __atomic. Callers add their own backoff. */
#ifndef CKC_TSAN
typedef ck_spinlock_fas_t ckc_lock_t;
#define CKC_LOCK_INIT CK_SPINLOCK_FAS_INITIALIZER
static inline bool ckc_trylock(ckc_lock_t *l) { return ck_spinlock_fas_trylock(l); }
static inline bool ckc_locked(ckc_lock_t *l) { return ck_spinlock_fas_locked(l); }
static inline void ckc_unlock(ckc_lock_t *l) { ck_spinlock_fas_unlock(l); }
#else
typedef struct {
	unsigned int value;
} ckc_lock_t;
#define CKC_LOCK_INIT {0}
static inline bool ckc_trylock(ckc_lock_t *l) { return __atomic_exchange_n(&l->value, 1u, __ATOMIC_ACQUIRE) == 0; }
static inline bool ckc_locked(ckc_lock_t *l) { return __atomic_load_n(&l->value, __ATOMIC_RELAXED) != 0; }
static inline void ckc_unlock(ckc_lock_t *l) { __atomic_store_n(&l->value, 0u, __ATOMIC_RELEASE); }
#endif

/* Chaos points: where a thread preempted at the wrong moment is the hard case
 * (between an index CAS and its stamp store, inside a block hand-over, between
 * a waiter's registration and its sleep, ...). A normal build compiles them to
 * nothing; the test plug-in tests/chaos/ (ck-chaos) builds these same sources
 * with CKC_CHAOS, where each point may yield the CPU or sleep a little. */
#ifdef CKC_CHAOS
void ckc_chaos(void);
#define CKC_CHAOS_POINT() ckc_chaos()
#else
#define CKC_CHAOS_POINT() ((void)0)
#endif

/* A PAUSE (ck_pr_stall). */
static inline void ckc_pause(void) { ck_pr_stall(); }

#endif
