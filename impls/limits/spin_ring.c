/*
 * spin-ring: NOT A CHANNEL. A reference "limit": a single-producer
 * single-consumer bounded ring that never blocks (try operations only; no
 * CHAN_CAP_BLOCKING, so the scenarios drive it with try loops that spin and
 * then yield). It shows what moving a word between two threads costs when
 * nobody ever parks: the floor a blocking SPSC channel can approach, and the
 * CPU it burns to get there.
 *
 * Algorithm: the classic Lamport ring with cached indices (as in ck_ring_spsc
 * or rigtorp's SPSCQueue): the producer owns `tail`, the consumer owns `head`,
 * each keeps a private copy of the other's index and re-reads it only when the
 * ring looks full (producer) or empty (consumer). Exactly `cap` slots are
 * usable; the storage is rounded up to a power of two for masking.
 *
 * Contract: one sending thread and one receiving thread at a time (no
 * CHAN_CAP_MPMC). Close may come from any thread.
 *
 * Memory ordering: the producer writes the slot, then stores tail with release;
 * the consumer loads tail with acquire before reading the slot (publishes the
 * message). The consumer stores head with release after reading the slot; the
 * producer loads head with acquire before overwriting it (the slot is free).
 * close stores `closed` with release after the closer's last send; a receiver
 * that sees closed (acquire) re-reads tail, so nothing sent before close is
 * missed.
 *
 * Built as a plug-in (impls/limits/CMakeLists.txt) that chanbench-run loads by
 * default; it is not in the built-in registry, so the conformance suite only
 * sees it when asked to.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_impl.h"

#define CACHE_LINE 64

struct spin_ring {
	struct chan_base base;
	uintptr_t *slots;
	uint64_t mask;
	uint64_t cap;
	/* Producer's line: its index and its copy of head (no false sharing with the consumer). */
	alignas(CACHE_LINE) _Atomic uint64_t tail;
	uint64_t head_cache;
	/* Consumer's line. */
	alignas(CACHE_LINE) _Atomic uint64_t head;
	uint64_t tail_cache;
	alignas(CACHE_LINE) atomic_bool closed;
};

static chan_status ring_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	if (cap == 0 || cap == CHAN_UNBOUNDED)
		return CHAN_UNSUPPORTED;
	struct spin_ring *r = aligned_alloc(CACHE_LINE, sizeof *r);
	if (r == NULL)
		return CHAN_ENOMEM;
	uint64_t size = 1;
	while (size < cap)
		size <<= 1;
	r->slots = malloc(size * sizeof *r->slots);
	if (r->slots == NULL) {
		free(r);
		return CHAN_ENOMEM;
	}
	r->base.ops = ops;
	r->mask = size - 1;
	r->cap = cap;
	atomic_init(&r->tail, 0);
	atomic_init(&r->head, 0);
	r->head_cache = 0;
	r->tail_cache = 0;
	atomic_init(&r->closed, false);
	*out = &r->base;
	return CHAN_OK;
}

static void ring_destroy(struct chan_base *b)
{
	struct spin_ring *r = (struct spin_ring *)(void *)b; /* b is its first member */
	free(r->slots);
	free(r);
}

static chan_status ring_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	(void)dl; /* only CHAN_NOWAIT reaches here: no BLOCKING, no TIMED */
	struct spin_ring *r = (struct spin_ring *)(void *)b; /* b is its first member */
	if (atomic_load_explicit(&r->closed, memory_order_relaxed))
		return CHAN_CLOSED;
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
	if (t - r->head_cache >= r->cap) {
		/* acquire: the consumer is done reading the slot we are about to reuse */
		r->head_cache = atomic_load_explicit(&r->head, memory_order_acquire);
		if (t - r->head_cache >= r->cap)
			return CHAN_FULL;
	}
	r->slots[t & r->mask] = msg;
	/* release: publishes the slot's content with the new tail */
	atomic_store_explicit(&r->tail, t + 1, memory_order_release);
	return CHAN_OK;
}

static chan_status ring_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	(void)dl;
	struct spin_ring *r = (struct spin_ring *)(void *)b; /* b is its first member */
	uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
	if (h == r->tail_cache) {
		/* acquire: pairs with the producer's release of tail */
		r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
		if (h == r->tail_cache) {
			if (!atomic_load_explicit(&r->closed, memory_order_acquire))
				return CHAN_EMPTY;
			/* closed: everything sent before close is visible now */
			r->tail_cache = atomic_load_explicit(&r->tail, memory_order_acquire);
			if (h == r->tail_cache)
				return CHAN_CLOSED;
		}
	}
	*msg = r->slots[h & r->mask];
	/* release: our read of the slot happens before the producer reuses it */
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
	return CHAN_OK;
}

static chan_status ring_close(struct chan_base *b)
{
	struct spin_ring *r = (struct spin_ring *)(void *)b; /* b is its first member */
	/* release: the closer's earlier sends are visible to whoever sees closed */
	if (atomic_exchange_explicit(&r->closed, true, memory_order_acq_rel))
		return CHAN_ALREADY_CLOSED;
	return CHAN_OK;
}

static size_t ring_len(struct chan_base *b)
{
	struct spin_ring *r = (struct spin_ring *)(void *)b; /* b is its first member */
	uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
	uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
	return t >= h ? (size_t)(t - h) : 0;
}

static const struct chan_ops spin_ring_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "spin-ring",
	.description = "NOT A CHANNEL: reference limit, SPSC Lamport ring, try operations only (cannot block)",
	.caps = CHAN_CAP_BOUNDED | CHAN_CAP_CLOSE | CHAN_CAP_LEN | CHAN_CAP_REFERENCE,
	.create = ring_create,
	.destroy = ring_destroy,
	.send = ring_send,
	.recv = ring_recv,
	.close = ring_close,
	.len = ring_len,
};

const struct chan_ops *chanbench_plugin_entry(void);

const struct chan_ops *chanbench_plugin_entry(void)
{
	return &spin_ring_ops;
}
