/*
 * ck: chanbench's lock-free channel, built from ConcurrencyKit 0.7.1 parts. The
 * registered table "ck" creates the flavor a capacity asks for and forwards each
 * call to that flavor's table (ck_flavor.h), as crossbeam-channel does with its
 * array / list / zero flavors.
 *
 *   capacity N >= 1   ck_bounded.c    stamped-slot array (Vyukov; crossbeam's array)
 *   CHAN_UNBOUNDED    ck_unbounded.c  list of 63-slot blocks (crossbeam's list)
 *   capacity 0        ck_zero.c       Go's hand-off queues under a small lock
 * Waiting and waking (bounded, unbounded): ck_wait.h, spin -> yield -> futex
 * park, an event count that wakes one sleeper and costs one load when nobody
 * sleeps. No spinlock or mutex on a bounded or unbounded send or recv.
 *
 * CK parts used, and why:
 *   - ck_pr (CAS, FAA, FAS, loads/stores, ck_pr_fence_memory, ck_pr_stall): every
 *     atomic of the data paths and wakers, through ck_atomic.h (which maps them to
 *     __atomic builtins under ThreadSanitizer, which cannot see CK's asm);
 *   - CK_MD_CACHELINE / CK_CC_CACHELINE: head, tail, the wakers and the slot array
 *     each start a cache line (no false sharing between the two sides);
 *   - ck_spinlock_fas: the lock of the rendezvous queues and of the select
 *     observer lists (never on a buffered message path);
 *   - ck_backoff's exponential shape for PAUSE runs after a lost CAS (ckw_spin).
 * CK parts not used, and why:
 *   - ck_ring MPMC: its enqueue commits in ticket order (a producer preempted
 *     between reserve and commit blocks every later producer, and the consumers),
 *     a ring of 2^k slots holds 2^k - 1 (no exact capacity N) and it has no closed
 *     state: the previous ck needed an admission word and a global spinlock on
 *     every bounded send to get exact N, FIFO and linearizability out of it;
 *   - ck_hp_fifo / ck_fifo_mpmc: one allocation per message and hazard-pointer (or
 *     epoch) reclamation; the block list allocates once per 63 messages and frees
 *     a block when its last reader is done;
 *   - ck_ec: its "someone waits" flag is shared by every waiter, so each increment
 *     must wake all of them (a thundering herd), and its waiter re-sleeps in 2 ms
 *     slices with a clock read each; per-direction event counts that wake one
 *     (ck_wait.h) cost the same one load when nobody sleeps.
 */
#include "chanbench/chan.h"
#include "ck_flavor.h"

static chan_status ck_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	(void)ops;
	if (cap == 0)
		return ck_zero_create(&ck_zero_ops, cap, out);
	if (cap == CHAN_UNBOUNDED)
		return ck_unbounded_create(&ck_unbounded_ops, cap, out);
	return ck_bounded_create(&ck_bounded_ops, cap, out);
}

static void ck_destroy(struct chan_base *b)
{
	b->ops->destroy(b);
}

static chan_status ck_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	return b->ops->send(b, msg, dl);
}

static chan_status ck_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	return b->ops->recv(b, msg, dl);
}

static chan_status ck_close(struct chan_base *b)
{
	return b->ops->close(b);
}

static size_t ck_len(struct chan_base *b)
{
	return b->ops->len(b);
}

static chan_status ck_register_waiter(struct chan_base *b, struct chan_waiter *w)
{
	return b->ops->register_waiter(b, w);
}

static void ck_unregister_waiter(struct chan_base *b, struct chan_waiter *w)
{
	b->ops->unregister_waiter(b, w);
}

static int ck_ready(struct chan_base *b, int dir)
{
	return b->ops->ready(b, dir);
}

static chan_status ck_send_batch(struct chan_base *b, const uintptr_t *msgs, size_t n,
                                 size_t *done, chan_deadline dl)
{
	return b->ops->send_batch(b, msgs, n, done, dl);
}

static chan_status ck_recv_batch(struct chan_base *b, uintptr_t *msgs, size_t n, size_t *done,
                                 chan_deadline dl)
{
	return b->ops->recv_batch(b, msgs, n, done, dl);
}

#ifndef CK_CHAN_NAME
#define CK_CHAN_NAME "ck"
#endif

const struct chan_ops chan_ck_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = CK_CHAN_NAME,
	.description = "ConcurrencyKit ck_pr: lock-free stamped array (bounded) and block list "
	               "(unbounded), futex parking that wakes one; hand-off queues (rendezvous)",
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

#if defined(CKC_CHAOS) || defined(CKC_PLUGIN)
/* The chaos build (tests/chaos/) is a plug-in; so is a tuning build
 * (-DCKC_PLUGIN -DCK_CHAN_NAME='"ck-x"' with other CKW_* budgets, ck_wait.h). */
__attribute__((visibility("default"))) const struct chan_ops *chanbench_plugin_entry(void);
const struct chan_ops *chanbench_plugin_entry(void)
{
	return &chan_ck_ops;
}
#endif
