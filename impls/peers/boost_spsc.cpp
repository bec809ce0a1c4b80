/*
 * boost-spsc: boost::lockfree::spsc_queue as a chanbench plug-in: a REFERENCE
 * (a "limit"), not a channel. C++17, header-only library.
 *
 * spsc_queue is a wait-free single-producer single-consumer ring buffer
 * (Lamport's ring with acquire/release indices); a run-time capacity of N
 * holds exactly N values (the ring has N + 1 slots). push and pop never block:
 * there is nothing to park on. So it declares CHAN_CAP_REFERENCE and neither
 * CHAN_CAP_BLOCKING nor CHAN_CAP_TIMED: callers poll try_send / try_recv, and
 * the numbers show what a queue costs with no waiting at all.
 * It lacks, and the caps say so: more than one sender or receiver at a time
 * (no CHAN_CAP_MPMC), rendezvous, unbounded, and len (read_available is only
 * valid on the consumer's thread).
 *
 * Added here: close, as in the project's own references (impls/limits/): a
 * flag. A send reads it (relaxed: a send that happens after close sees it)
 * and fails; a receive that finds the ring empty reads it (acquire: the
 * closer's earlier sends are visible then), takes what a re-check finds, else
 * returns CLOSED. Exact when the closer is the sender, or synchronised with it
 * (the last sender handle's drop, as every scenario ends). A close from a third
 * thread racing a send can let that send land after a receiver saw CLOSED
 * (the message then goes to the undelivered callback): an exact close would
 * need a store-load fence on every send, which is what a limit must not pay.
 */
#include <boost/lockfree/spsc_queue.hpp>
#include <boost/version.hpp>

#include <atomic>
#include <cstdint>
#include <new>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

namespace {

// Derives from chan_base (the C "first member"), so the casts are static_casts.
struct spsc_chan : chan_base {
	explicit spsc_chan(size_t cap) : q(cap) {}
	boost::lockfree::spsc_queue<uintptr_t> q;
	alignas(64) std::atomic<bool> closed{false};
};

spsc_chan *as_spsc(chan_base *b)
{
	return static_cast<spsc_chan *>(b);
}

chan_status spsc_create(const chan_ops *ops, size_t cap, chan_base **out)
{
	spsc_chan *c;
	try {
		c = new spsc_chan(cap);
	} catch (const std::bad_alloc &) {
		return CHAN_ENOMEM;
	}
	c->ops = ops;
	*out = c;
	return CHAN_OK;
}

void spsc_destroy(chan_base *b)
{
	delete as_spsc(b);
}

// Only CHAN_NOWAIT reaches these (no CHAN_CAP_BLOCKING, no CHAN_CAP_TIMED).
chan_status spsc_send(chan_base *b, uintptr_t msg, chan_deadline dl)
{
	spsc_chan *c = as_spsc(b);
	if (c->closed.load(std::memory_order_relaxed))
		return CHAN_CLOSED;
	return c->q.push(msg) ? CHAN_OK : chan_deadline_fail(dl, CHAN_FULL);
}

chan_status spsc_recv(chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	spsc_chan *c = as_spsc(b);
	if (c->q.pop(*msg))
		return CHAN_OK;
	if (!c->closed.load(std::memory_order_acquire))
		return chan_deadline_fail(dl, CHAN_EMPTY);
	return c->q.pop(*msg) ? CHAN_OK : CHAN_CLOSED; // closed: the closer's sends are visible now
}

chan_status spsc_close(chan_base *b)
{
	// release: the closer's earlier sends are visible to whoever sees closed
	return as_spsc(b)->closed.exchange(true, std::memory_order_acq_rel) ? CHAN_ALREADY_CLOSED : CHAN_OK;
}

size_t spsc_len(chan_base *)
{
	return 0; // not declared (CHAN_CAP_LEN)
}


const chan_ops spsc_ops = {
	CHAN_ABI_VERSION,
	sizeof(chan_ops),
	"boost-spsc",
	"Boost.Lockfree spsc_queue (Boost " BOOST_LIB_VERSION "): reference, never blocks (callers poll);"
	" bounded only, one sender and one receiver, no len; close is a flag (as the built-in limits)",
	CHAN_CAP_BOUNDED | CHAN_CAP_CLOSE | CHAN_CAP_REFERENCE,
	spsc_create,
	spsc_destroy,
	spsc_send,
	spsc_recv,
	spsc_close,
	spsc_len,
	nullptr, // v2: register_waiter (no select: no waiter hooks)
	nullptr, // unregister_waiter
	nullptr, // ready
	nullptr, // send_batch (the shared layer loops)
	nullptr, // recv_batch
};

} // namespace

extern "C" const chan_ops *chanbench_plugin_entry(void)
{
	return &spsc_ops;
}
