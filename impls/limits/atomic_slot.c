/*
 * atomic-slot: NOT A CHANNEL. A reference "limit": the raw atomic ping-pong.
 * A one-word mailbox on one cache line: a `full` flag and the value. A send
 * succeeds only when the slot is empty, a receive only when it is full; nothing
 * ever blocks (no CHAN_CAP_BLOCKING: the scenarios drive it with try loops).
 * Two of them between two threads (the ping-pong scenario at capacity 1) are
 * two threads bouncing a word through two cache lines: the hardware's round
 * trip, plus chanbench's dispatch (one indirect call and a handle check per
 * operation) and a clock read per round trip.
 *
 * Capacity 1 only (create with any other capacity is CHAN_UNSUPPORTED, which
 * the scenarios report as n/a). One sender and one receiver at a time.
 *
 * Memory ordering: the sender writes value, then stores full = 1 with release;
 * the receiver loads full with acquire, reads value, then stores full = 0 with
 * release, which orders its read of value before the sender's next write.
 * close: as in spin_ring.c (release; a receiver that sees it re-checks full).
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan_impl.h"

#define CACHE_LINE 64

struct atomic_slot {
	struct chan_base base;
	/* The mailbox on its own line: a hand-off moves exactly this line. */
	alignas(CACHE_LINE) atomic_uint full;
	uintptr_t value;
	alignas(CACHE_LINE) atomic_bool closed;
};

static chan_status slot_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	if (cap != 1)
		return CHAN_UNSUPPORTED;
	struct atomic_slot *s = aligned_alloc(CACHE_LINE, sizeof *s);
	if (s == NULL)
		return CHAN_ENOMEM;
	s->base.ops = ops;
	atomic_init(&s->full, 0);
	s->value = 0;
	atomic_init(&s->closed, false);
	*out = &s->base;
	return CHAN_OK;
}

static void slot_destroy(struct chan_base *b)
{
	free(b);
}

static chan_status slot_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	(void)dl;
	struct atomic_slot *s = (struct atomic_slot *)(void *)b; /* b is its first member */
	if (atomic_load_explicit(&s->closed, memory_order_relaxed))
		return CHAN_CLOSED;
	/* acquire: the receiver's read of the previous value is done */
	if (atomic_load_explicit(&s->full, memory_order_acquire))
		return CHAN_FULL;
	s->value = msg;
	/* release: publishes value */
	atomic_store_explicit(&s->full, 1, memory_order_release);
	return CHAN_OK;
}

static chan_status slot_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	(void)dl;
	struct atomic_slot *s = (struct atomic_slot *)(void *)b; /* b is its first member */
	/* acquire: pairs with the sender's release of full */
	if (!atomic_load_explicit(&s->full, memory_order_acquire)) {
		if (!atomic_load_explicit(&s->closed, memory_order_acquire))
			return CHAN_EMPTY;
		if (!atomic_load_explicit(&s->full, memory_order_acquire))
			return CHAN_CLOSED;
	}
	*msg = s->value;
	/* release: our read of value happens before the sender's next write */
	atomic_store_explicit(&s->full, 0, memory_order_release);
	return CHAN_OK;
}

static chan_status slot_close(struct chan_base *b)
{
	struct atomic_slot *s = (struct atomic_slot *)(void *)b; /* b is its first member */
	if (atomic_exchange_explicit(&s->closed, true, memory_order_acq_rel))
		return CHAN_ALREADY_CLOSED;
	return CHAN_OK;
}

static size_t slot_len(struct chan_base *b)
{
	struct atomic_slot *s = (struct atomic_slot *)(void *)b; /* b is its first member */
	return atomic_load_explicit(&s->full, memory_order_acquire);
}

static const struct chan_ops atomic_slot_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "atomic-slot",
	.description = "NOT A CHANNEL: reference limit, raw atomic ping-pong: a one-word mailbox, capacity 1 only, cannot block",
	.caps = CHAN_CAP_BOUNDED | CHAN_CAP_CLOSE | CHAN_CAP_LEN | CHAN_CAP_REFERENCE,
	.create = slot_create,
	.destroy = slot_destroy,
	.send = slot_send,
	.recv = slot_recv,
	.close = slot_close,
	.len = slot_len,
};

const struct chan_ops *chanbench_plugin_entry(void);

const struct chan_ops *chanbench_plugin_entry(void)
{
	return &atomic_slot_ops;
}
