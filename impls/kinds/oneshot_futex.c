/*
 * oneshot futex: one atomic state word and one value word. The sender stores
 * the value and sets VALUE with one CAS; the receiver reads the state, and if
 * nothing is there yet announces itself with the SLEEPING bit and sleeps on the
 * state word with FUTEX_WAIT. A send to a receiver that is not asleep makes no
 * system call. The model is tokio::sync::oneshot (a state word with
 * VALUE_SENT / CLOSED / RX_TASK_SET bits).
 *
 * Invariants:
 *   - VALUE and SENDER_GONE are each set at most once, and never both (the
 *     shared layer calls send or sender_drop, once); RX_GONE at most once.
 *   - a send that finds RX_GONE fails and leaves VALUE clear: the sender keeps
 *     the value (O1).
 *   - TAKEN is set by the receiver after it read the value: later recvs CLOSED.
 *   - SLEEPING is set only by the receiver (CAS from the state it examined) and
 *     cleared by the sender's or dropper's CAS, which then wakes the word.
 *
 * Memory ordering: the value is stored (relaxed) before the CAS that sets
 * VALUE (release); the receiver loads the state with acquire before the value.
 * The CAS on the same word decides the sleeper race: either the receiver's
 * SLEEPING CAS fails (it sees VALUE and does not sleep), or the sender's CAS
 * sees SLEEPING and wakes; FUTEX_WAIT compares the word, so a change between
 * the CAS and the sleep makes the wait return at once.
 */
#include <stdlib.h>

#include "chanbench/kinds_impl.h"
#include "kind_futex.h"

enum { OF_VALUE = 1, OF_SENDER_GONE = 2, OF_RX_GONE = 4, OF_TAKEN = 8, OF_SLEEPING = 16 };

struct of_chan {
	struct oneshot_base base;
	_Atomic uint32_t state;
	_Atomic uintptr_t value;
};

static chan_status of_create(const struct oneshot_ops *ops, struct oneshot_base **out)
{
	struct of_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	atomic_init(&c->state, 0);
	atomic_init(&c->value, 0);
	*out = &c->base;
	return CHAN_OK;
}

static void of_destroy(struct oneshot_base *o)
{
	free(o);
}

/* Set `bit` unless the receiver is gone (when fail_if_rx_gone); clear SLEEPING
 * and wake the receiver if it was asleep. False if the receiver was gone. */
static bool of_complete(struct of_chan *c, uint32_t bit, bool fail_if_rx_gone)
{
	uint32_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
	uint32_t ns;
	do {
		if (fail_if_rx_gone && (s & OF_RX_GONE))
			return false;
		ns = (s | bit) & ~(uint32_t)OF_SLEEPING;
	} while (!atomic_compare_exchange_weak_explicit(&c->state, &s, ns, memory_order_release,
	                                                memory_order_relaxed));
	if (s & OF_SLEEPING)
		futex_wake(&c->state, INT_MAX);
	return true;
}

static chan_status of_send(struct oneshot_base *o, uintptr_t v)
{
	struct of_chan *c = (struct of_chan *)o;
	atomic_store_explicit(&c->value, v, memory_order_relaxed); /* published by the CAS */
	return of_complete(c, OF_VALUE, true) ? CHAN_OK : CHAN_CLOSED;
}

static void of_sender_drop(struct oneshot_base *o)
{
	of_complete((struct of_chan *)o, OF_SENDER_GONE, false);
}

static void of_receiver_drop(struct oneshot_base *o)
{
	struct of_chan *c = (struct of_chan *)o;
	atomic_fetch_or_explicit(&c->state, OF_RX_GONE, memory_order_relaxed);
}

/* One look at state s: CHAN_OK (value taken), CHAN_CLOSED, or CHAN_EMPTY. */
static chan_status of_take(struct of_chan *c, uint32_t s, uintptr_t *v)
{
	if (s & OF_TAKEN)
		return CHAN_CLOSED;
	if (s & OF_VALUE) {
		*v = atomic_load_explicit(&c->value, memory_order_relaxed);
		atomic_fetch_or_explicit(&c->state, OF_TAKEN, memory_order_relaxed);
		return CHAN_OK;
	}
	return (s & OF_SENDER_GONE) ? CHAN_CLOSED : CHAN_EMPTY;
}

static chan_status of_recv(struct oneshot_base *o, uintptr_t *v, chan_deadline dl)
{
	struct of_chan *c = (struct of_chan *)o;
	for (unsigned spins = 0;; spins++) {
		uint32_t s = atomic_load_explicit(&c->state, memory_order_acquire);
		chan_status st = of_take(c, s, v);
		if (st != CHAN_EMPTY)
			return st;
		if (chan_deadline_passed(dl))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		if (spins < KIND_SPIN) {
			cpu_relax();
			continue;
		}
		if (!(s & OF_SLEEPING) &&
		    !atomic_compare_exchange_strong_explicit(&c->state, &s, s | OF_SLEEPING,
		                                             memory_order_relaxed, memory_order_relaxed))
			continue; /* the state changed: look again */
		if (!futex_wait(&c->state, s | OF_SLEEPING, dl)) {
			s = atomic_load_explicit(&c->state, memory_order_acquire);
			st = of_take(c, s, v); /* one last look (T2) */
			return st == CHAN_EMPTY ? CHAN_TIMEOUT : st;
		}
	}
}

const struct oneshot_ops oneshot_futex_ops = {
	.abi_version = KIND_ABI_VERSION,
	.size = sizeof(struct oneshot_ops),
	.name = "futex",
	.description = "one atomic state word (tokio's design), the receiver sleeps on it with FUTEX_WAIT",
	.caps = KIND_CAPS_FULL | KIND_CAP_LOCKFREE_RECV,
	.create = of_create,
	.destroy = of_destroy,
	.send = of_send,
	.recv = of_recv,
	.sender_drop = of_sender_drop,
	.receiver_drop = of_receiver_drop,
};
