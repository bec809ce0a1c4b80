/*
 * moodycamel-blocking: moodycamel::BlockingConcurrentQueue (Cameron Desrochers'
 * lock-free queue plus a counting semaphore) as a chanbench plug-in (a peer).
 * C++17, header-only library.
 *
 * The queue keeps one lock-free sub-queue per producer (implicit producers:
 * one per sending thread) and a light semaphore counting the items; enqueue
 * never blocks (it allocates blocks as needed), wait_dequeue parks on the
 * semaphore after a short spin, wait_dequeue_timed takes microseconds.
 * It lacks, and the caps say so (n/a in every report): a bounded capacity
 * (the constructor's capacity is a pre-allocation in blocks of 32 per producer,
 * not a limit of exactly N) and rendezvous.
 * Order, as the library documents: FIFO per producer, not across producers
 * (a consumer drains sub-queues in turn). That is what Q2 asks; a history
 * check against a single global FIFO can fail, and would be right to.
 *
 * Emulated here, and said so in the description: close.
 *   - sends count themselves in `sending` around their check of `closed` and
 *     their enqueue (two atomic read-modify-writes per send on one line);
 *   - close sets `closed`, waits until `sending` is zero (every send that saw
 *     the channel open has enqueued), then enqueues one end-of-stream token:
 *     every message that will ever be sent is then counted by the semaphore
 *     before the token;
 *   - a receiver that dequeues the token first tries for a real message (the
 *     token may overtake messages of other producers' sub-queues): if there is
 *     one it puts the token back and returns the message; if there is none the
 *     channel is closed and drained, it puts the token back (which wakes the
 *     next blocked receiver, and so on) and returns CLOSED.
 * Elements are {value, is_token} pairs (16 bytes), so every word is a value.
 * A receive that finds nothing after close has enqueued the token (another
 * receiver may hold it for a moment) returns CLOSED: nothing to take then
 * means drained.
 * len is the semaphore's count (exact when quiescent) minus the token.
 * Ordering: `sending` and `closed` are sequentially consistent (a Dekker pair).
 */
#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <cstdint>
#include <new>
#include <sched.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

namespace {

struct element {
	uintptr_t value;
	bool is_token;
};

// Derives from chan_base (the C "first member"), so the casts are static_casts.
struct mc_chan : chan_base {
	moodycamel::BlockingConcurrentQueue<element> q;
	alignas(64) std::atomic<long> sending{0};
	alignas(64) std::atomic<bool> closed{false};
	std::atomic<bool> token_sent{false};
};

mc_chan *as_mc(chan_base *b)
{
	return static_cast<mc_chan *>(b);
}

chan_status mc_create(const chan_ops *ops, size_t, chan_base **out)
{
	mc_chan *c;
	try {
		c = new mc_chan;
	} catch (const std::bad_alloc &) {
		return CHAN_ENOMEM;
	}
	c->ops = ops;
	*out = c;
	return CHAN_OK;
}

void mc_destroy(chan_base *b)
{
	delete as_mc(b);
}

chan_status mc_send(chan_base *b, uintptr_t msg, chan_deadline)
{
	mc_chan *c = as_mc(b);
	c->sending.fetch_add(1);
	chan_status st = CHAN_CLOSED;
	if (!c->closed.load())
		st = c->q.enqueue(element{msg, false}) ? CHAN_OK : CHAN_ENOMEM;
	c->sending.fetch_sub(1);
	return st;
}

// Take one element, waiting as the deadline allows; false if none came in time.
bool take(mc_chan *c, element &e, chan_deadline dl)
{
	if (dl == CHAN_FOREVER) {
		c->q.wait_dequeue(e);
		return true;
	}
	for (;;) {
		int64_t left = dl - chan_deadline_now_ns();
		if (dl <= 0 || left <= 0)
			return c->q.try_dequeue(e);
		if (c->q.wait_dequeue_timed(e, (left + 999) / 1000))
			return true;
	}
}

chan_status mc_recv(chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	mc_chan *c = as_mc(b);
	element e;
	if (!take(c, e, dl)) {
		if (!c->token_sent.load())
			return chan_deadline_fail(dl, CHAN_EMPTY);
		// Closed, and the token is held by another receiver for a moment. Every
		// message was counted before the token, so nothing to take now means
		// closed and drained.
		if (!c->q.try_dequeue(e))
			return CHAN_CLOSED;
	}
	if (!e.is_token) {
		*msg = e.value;
		return CHAN_OK;
	}
	// End of stream, unless the token overtook messages of other producers.
	element real;
	bool got = c->q.try_dequeue(real);
	while (got && real.is_token) // cannot happen (one token), but never lose one
		got = c->q.try_dequeue(real);
	chan_status st = got ? CHAN_OK : CHAN_CLOSED;
	if (got)
		*msg = real.value;
	// Put the token back for the next receiver (the semaphore wakes one).
	if (!c->q.enqueue(element{0, true}))
		std::abort(); // cannot carry on without an end-of-stream mark
	return st;
}

chan_status mc_close(chan_base *b)
{
	mc_chan *c = as_mc(b);
	if (c->closed.exchange(true))
		return CHAN_ALREADY_CLOSED;
	while (c->sending.load() != 0)
		sched_yield(); // a send in flight enqueues in a moment: it never blocks
	if (!c->q.enqueue(element{0, true}))
		std::abort();
	c->token_sent.store(true);
	return CHAN_OK;
}

size_t mc_len(chan_base *b)
{
	mc_chan *c = as_mc(b);
	size_t n = c->q.size_approx();
	size_t tokens = c->token_sent.load() ? 1 : 0;
	return n > tokens ? n - tokens : 0;
}

const chan_ops mc_ops = {
	CHAN_ABI_VERSION,
	sizeof(chan_ops),
	"moodycamel-blocking",
	"moodycamel BlockingConcurrentQueue 1.0.3 (unbounded, no capacity 0, FIFO per producer only;"
	" close emulated with a flag + an in-flight send count + an end-of-stream token put back)",
	CHAN_CAP_UNBOUNDED | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING | CHAN_CAP_TIMED | CHAN_CAP_CLOSE |
	    CHAN_CAP_LEN,
	mc_create,
	mc_destroy,
	mc_send,
	mc_recv,
	mc_close,
	mc_len,
	nullptr, // v2: register_waiter (no select: the queue has no waiter hooks)
	nullptr, // unregister_waiter
	nullptr, // ready
	nullptr, // send_batch (the shared layer loops)
	nullptr, // recv_batch
};

} // namespace

extern "C" const chan_ops *chanbench_plugin_entry(void)
{
	return &mc_ops;
}
