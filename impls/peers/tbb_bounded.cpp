/*
 * tbb-bounded: oneTBB's tbb::concurrent_bounded_queue as a chanbench plug-in
 * (a peer). C++17.
 *
 * concurrent_bounded_queue is an MPMC FIFO with a settable capacity
 * (set_capacity(n), n >= 1; the default is effectively unbounded), blocking
 * push/pop that park on TBB's concurrent monitors, and try_push/try_pop.
 * It lacks, and the caps say so (n/a in every report):
 *   - rendezvous: set_capacity(0) makes every push wait forever, it is not a
 *     hand-off;
 *   - timed operations: there are none (only blocking and try);
 *   - len: size() is documented as thread-unsafe and counts waiting poppers
 *     (negative) and aborted pushes, so it is not exact when quiescent.
 *
 * Emulated here, and said so in the description: close. TBB has abort(), which
 * makes every *currently waiting* push and pop throw tbb::user_abort; it is not
 * a close (nothing stops later calls, and a call that starts just after an
 * abort waits forever). So:
 *   - every call counts itself in `active` before reading `closed` and leaves
 *     when it returns (the cost: two atomic read-modify-writes per call on one
 *     shared cache line);
 *   - close sets `closed`, then calls abort() again and again until `active`
 *     reaches zero: every call that started before close has then returned
 *     (blocked senders with CLOSED, keeping their value);
 *   - a call that sees `closed` does not count itself and never blocks: a send
 *     fails with CLOSED; a receive first waits until `active` is zero (no
 *     earlier call is still inside the queue, so TBB's own state is settled),
 *     then takes what is buffered with try_pop, or returns CLOSED.
 * Ordering: `active` and `closed` are sequentially consistent (a Dekker pair:
 * a call increments then reads closed; close writes closed then reads active),
 * so no call can both miss the flag and be missed by close.
 *
 * Caveat (TBB's, documented in its reference as "abort is for shutdown"): an
 * aborted pop gives its ticket back with head_counter--; the waits above keep
 * try_pop away until every aborted pop has done so.
 */
#include <tbb/concurrent_queue.h>
#include <tbb/version.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <sched.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

namespace {

// Derives from chan_base (the C "first member"), so the casts are static_casts.
struct tbb_chan : chan_base {
	tbb::concurrent_bounded_queue<uintptr_t> q;
	// Own cache lines: every call touches `active`; `closed` is read-mostly.
	alignas(64) std::atomic<long> active{0};
	alignas(64) std::atomic<bool> closed{false};
};

tbb_chan *as_tbb(chan_base *b)
{
	return static_cast<tbb_chan *>(b);
}

// Counts a call in `active` for its lifetime, unless it found the channel closed.
class call_guard {
public:
	explicit call_guard(tbb_chan *c) : c_(c)
	{
		c_->active.fetch_add(1);
		if (c_->closed.load()) {
			c_->active.fetch_sub(1);
			c_ = nullptr;
		}
	}
	~call_guard()
	{
		if (c_ != nullptr)
			c_->active.fetch_sub(1);
	}
	bool closed() const { return c_ == nullptr; }
	call_guard(const call_guard &) = delete;
	call_guard &operator=(const call_guard &) = delete;

private:
	tbb_chan *c_;
};

void wait_until_quiet(tbb_chan *c)
{
	while (c->active.load() != 0)
		sched_yield();
}

chan_status tbb_create(const chan_ops *ops, size_t cap, chan_base **out)
{
	tbb_chan *c;
	try {
		c = new tbb_chan;
	} catch (const std::bad_alloc &) {
		return CHAN_ENOMEM;
	}
	c->ops = ops;
	if (cap != CHAN_UNBOUNDED)
		c->q.set_capacity(static_cast<std::ptrdiff_t>(cap));
	*out = c;
	return CHAN_OK;
}

void tbb_destroy(chan_base *b)
{
	delete as_tbb(b);
}

chan_status tbb_send(chan_base *b, uintptr_t msg, chan_deadline dl)
{
	tbb_chan *c = as_tbb(b);
	call_guard g(c);
	if (g.closed())
		return CHAN_CLOSED;
	try {
		if (dl == CHAN_FOREVER) {
			c->q.push(msg);
			return CHAN_OK;
		}
		// Only CHAN_NOWAIT or a passed deadline get here (no CHAN_CAP_TIMED).
		return c->q.try_push(msg) ? CHAN_OK : chan_deadline_fail(dl, CHAN_FULL);
	} catch (const tbb::user_abort &) {
		return CHAN_CLOSED; // only close aborts: the value was not taken
	} catch (const std::bad_alloc &) {
		return CHAN_ENOMEM;
	}
}

chan_status recv_closed(tbb_chan *c, uintptr_t *msg)
{
	wait_until_quiet(c);
	return c->q.try_pop(*msg) ? CHAN_OK : CHAN_CLOSED;
}

chan_status tbb_recv(chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	tbb_chan *c = as_tbb(b);
	{
		call_guard g(c);
		if (!g.closed()) {
			try {
				if (dl == CHAN_FOREVER) {
					c->q.pop(*msg);
					return CHAN_OK;
				}
				return c->q.try_pop(*msg) ? CHAN_OK : chan_deadline_fail(dl, CHAN_EMPTY);
			} catch (const tbb::user_abort &) {
				// closed while waiting: leave `active` (end of scope), then drain
			}
		}
	}
	return recv_closed(c, msg);
}

chan_status tbb_close(chan_base *b)
{
	tbb_chan *c = as_tbb(b);
	if (c->closed.exchange(true))
		return CHAN_ALREADY_CLOSED;
	while (c->active.load() != 0) {
		c->q.abort(); // wakes every push and pop waiting now
		sched_yield();
	}
	return CHAN_OK;
}

size_t tbb_len(chan_base *)
{
	return 0; // not declared (CHAN_CAP_LEN): see the top of the file
}

const chan_ops tbb_ops = {
	CHAN_ABI_VERSION,
	sizeof(chan_ops),
	"tbb-bounded",
	"oneTBB " TBB_VERSION_STRING " concurrent_bounded_queue (set_capacity; no capacity 0, no timed ops,"
	" no exact len; close emulated with a flag + an in-flight count + abort(), two atomics per call)",
	CHAN_CAP_BOUNDED | CHAN_CAP_UNBOUNDED | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING | CHAN_CAP_CLOSE,
	tbb_create,
	tbb_destroy,
	tbb_send,
	tbb_recv,
	tbb_close,
	tbb_len,
	nullptr, // v2: register_waiter (no select: the queue has no waiter hooks)
	nullptr, // unregister_waiter
	nullptr, // ready
	nullptr, // send_batch (the shared layer loops)
	nullptr, // recv_batch
};

} // namespace

extern "C" const chan_ops *chanbench_plugin_entry(void)
{
	return &tbb_ops;
}
