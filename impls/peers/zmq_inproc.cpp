/*
 * zmq-inproc: ZeroMQ's in-process transport as a chanbench plug-in (a peer).
 * C++17 (for the per-thread socket table).
 *
 * A channel is one PULL socket bound to "inproc://chanbench-<id>" and one PUSH
 * socket per sending thread, connected to it on that thread's first send
 * (ZeroMQ sockets must not be shared between threads; PUSH/PULL is the pattern
 * for many senders, PAIR would allow only one). Each message is one 8-byte
 * frame. High-water marks are 0 (no limit), so a send never blocks.
 * It lacks, and the caps say so (n/a in every report):
 *   - bounded and rendezvous capacities: a high-water mark is approximate
 *     (credits are returned in batches, and an inproc pipe's limit is the sum
 *     of both sockets' marks), never "exactly N", and there is no hand-off;
 *   - more than one receiver: the PULL socket belongs to one thread at a time
 *     (a second PULL would get its own share of the messages, and keep them if
 *     it went away), so no CHAN_CAP_MPMC; receiving may move between threads
 *     only with a happens-before between them;
 *   - len: ZeroMQ does not tell how many messages a socket holds.
 *
 * Emulated here, and said so in the description: close.
 *   - sends count themselves in `sending` around their check of `closed` and
 *     their zmq_send (two atomic read-modify-writes per send);
 *   - close sets `closed`, waits until `sending` is zero, then sends an empty
 *     frame (the end-of-stream mark) from its own PUSH socket;
 *   - PULL takes frames from its pipes in turn, so the mark can overtake
 *     messages in other senders' pipes. A receiver that gets it remembers
 *     `eos`, and from then on takes what is left without waiting
 *     (ZMQ_DONTWAIT, which first processes the pipe-activation commands every
 *     completed send has posted) and returns CLOSED once nothing is left.
 *     Every message was sent before the mark, so nothing is missed.
 * Ordering: `sending` and `closed` are sequentially consistent (a Dekker pair).
 *
 * Deadlines: zmq_poll takes milliseconds; the remaining time is rounded up
 * and the wait repeated until the deadline has really passed.
 *
 * Sockets: created on the thread that first uses them, listed in the channel
 * and closed by chan_destroy (linger 0). A thread's table maps channel ids
 * (never reused) to its PUSH sockets; the entries of destroyed channels stay
 * in it (a few bytes each).
 */
#include <zmq.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <new>
#include <sched.h>
#include <unordered_map>
#include <vector>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

namespace {

// One context for the plug-in's life: inproc endpoints live in a context.
void *context()
{
	static void *ctx = zmq_ctx_new();
	return ctx;
}

std::atomic<uint64_t> next_id{1};

// Derives from chan_base (the C "first member"), so the casts are static_casts.
struct zmq_chan : chan_base {
	uint64_t id = 0;
	char endpoint[64] = {0};
	void *pull = nullptr;
	std::mutex sockets_lock; // guards push_sockets
	std::vector<void *> push_sockets;
	bool eos = false; // the receiver has taken the end-of-stream mark
	alignas(64) std::atomic<long> sending{0};
	alignas(64) std::atomic<bool> closed{false};
};

zmq_chan *as_zmq(chan_base *b)
{
	return static_cast<zmq_chan *>(b);
}

void *new_socket(int type)
{
	void *s = zmq_socket(context(), type);
	if (s == nullptr)
		return nullptr;
	int zero = 0;
	zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
	zmq_setsockopt(s, type == ZMQ_PUSH ? ZMQ_SNDHWM : ZMQ_RCVHWM, &zero, sizeof zero);
	return s;
}

// This thread's PUSH socket for channel c, created and connected on first use.
void *push_socket(zmq_chan *c)
{
	thread_local uint64_t last_id = 0;
	thread_local void *last_sock = nullptr;
	thread_local std::unordered_map<uint64_t, void *> table;
	if (last_id == c->id)
		return last_sock;
	void *&s = table[c->id];
	if (s == nullptr) {
		s = new_socket(ZMQ_PUSH);
		if (s == nullptr)
			return nullptr;
		if (zmq_connect(s, c->endpoint) != 0) {
			zmq_close(s);
			s = nullptr;
			return nullptr;
		}
		std::lock_guard<std::mutex> g(c->sockets_lock);
		c->push_sockets.push_back(s);
	}
	last_id = c->id;
	last_sock = s;
	return s;
}

chan_status zmq_create(const chan_ops *ops, size_t, chan_base **out)
{
	zmq_chan *c;
	try {
		c = new zmq_chan;
	} catch (const std::bad_alloc &) {
		return CHAN_ENOMEM;
	}
	c->ops = ops;
	c->id = next_id.fetch_add(1);
	std::snprintf(c->endpoint, sizeof c->endpoint, "inproc://chanbench-%llu",
	              static_cast<unsigned long long>(c->id));
	c->pull = new_socket(ZMQ_PULL);
	if (c->pull == nullptr || zmq_bind(c->pull, c->endpoint) != 0) {
		if (c->pull != nullptr)
			zmq_close(c->pull);
		delete c;
		return CHAN_ENOMEM;
	}
	*out = c;
	return CHAN_OK;
}

void zmq_destroy(chan_base *b)
{
	zmq_chan *c = as_zmq(b);
	for (void *s : c->push_sockets)
		zmq_close(s);
	zmq_close(c->pull);
	delete c;
}

// One frame on this thread's PUSH socket: 8 bytes, or 0 for the mark.
chan_status push_frame(zmq_chan *c, const uintptr_t *msg, int flags)
{
	void *s = push_socket(c);
	if (s == nullptr)
		return CHAN_ENOMEM;
	while (zmq_send(s, msg, msg != nullptr ? sizeof *msg : 0, flags) < 0) {
		if (errno == EAGAIN)
			return CHAN_FULL; // cannot happen with a high-water mark of 0
		if (errno != EINTR)
			return CHAN_ENOMEM;
	}
	return CHAN_OK;
}

chan_status zmq_send_op(chan_base *b, uintptr_t msg, chan_deadline dl)
{
	zmq_chan *c = as_zmq(b);
	c->sending.fetch_add(1);
	chan_status st = CHAN_CLOSED;
	if (!c->closed.load()) {
		st = push_frame(c, &msg, dl == CHAN_FOREVER ? 0 : ZMQ_DONTWAIT);
		if (st == CHAN_FULL)
			st = chan_deadline_fail(dl, CHAN_FULL);
	}
	c->sending.fetch_sub(1);
	return st;
}

// Receive one frame into *msg, waiting as the deadline allows.
// Returns its size (8 or 0), or -1 if none came in time.
int pull_frame(zmq_chan *c, uintptr_t *msg, chan_deadline dl)
{
	for (;;) {
		int flags = 0;
		if (dl != CHAN_FOREVER) {
			int64_t left = dl - chan_deadline_now_ns();
			if (dl > 0 && left > 0) {
				zmq_pollitem_t item = {c->pull, 0, ZMQ_POLLIN, 0};
				long ms = static_cast<long>((left + 999999) / 1000000);
				if (zmq_poll(&item, 1, ms) <= 0)
					continue; // nothing yet (or EINTR): re-check the deadline
			}
			flags = ZMQ_DONTWAIT;
		}
		int n = zmq_recv(c->pull, msg, sizeof *msg, flags);
		if (n >= 0)
			return n;
		if (errno == EAGAIN) {
			if (dl == CHAN_FOREVER || chan_deadline_passed(dl))
				return -1;
		} else if (errno != EINTR) {
			return -1;
		}
	}
}

chan_status zmq_recv_op(chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	zmq_chan *c = as_zmq(b);
	if (!c->eos) {
		int n = pull_frame(c, msg, dl);
		if (n < 0)
			return chan_deadline_fail(dl, CHAN_EMPTY);
		if (n == static_cast<int>(sizeof *msg))
			return CHAN_OK;
		c->eos = true; // the mark: what is left is already in the pipes
	}
	return pull_frame(c, msg, CHAN_NOWAIT) == static_cast<int>(sizeof *msg) ? CHAN_OK : CHAN_CLOSED;
}

chan_status zmq_close_op(chan_base *b)
{
	zmq_chan *c = as_zmq(b);
	if (c->closed.exchange(true))
		return CHAN_ALREADY_CLOSED;
	while (c->sending.load() != 0)
		sched_yield(); // a send in flight finishes in a moment: it never blocks
	push_frame(c, nullptr, 0);
	return CHAN_OK;
}

size_t zmq_len_op(chan_base *)
{
	return 0; // not declared (CHAN_CAP_LEN)
}

#define ZMQ_TEXT_(x) #x
#define ZMQ_TEXT(x) ZMQ_TEXT_(x)

const chan_ops zmq_ops = {
	CHAN_ABI_VERSION,
	sizeof(chan_ops),
	"zmq-inproc",
	"ZeroMQ " ZMQ_TEXT(ZMQ_VERSION_MAJOR) "." ZMQ_TEXT(ZMQ_VERSION_MINOR) "." ZMQ_TEXT(ZMQ_VERSION_PATCH)
	" inproc PUSH (one per sending thread) -> PULL (unbounded: HWM 0; one receiving thread, no len;"
	" close emulated with a flag + an in-flight send count + an end-of-stream frame)",
	CHAN_CAP_UNBOUNDED | CHAN_CAP_BLOCKING | CHAN_CAP_TIMED | CHAN_CAP_CLOSE,
	zmq_create,
	zmq_destroy,
	zmq_send_op,
	zmq_recv_op,
	zmq_close_op,
	zmq_len_op,
	nullptr, // v2: register_waiter (no select: no waiter hooks)
	nullptr, // unregister_waiter
	nullptr, // ready
	nullptr, // send_batch (the shared layer loops)
	nullptr, // recv_batch
};

} // namespace

extern "C" const chan_ops *chanbench_plugin_entry(void)
{
	return &zmq_ops;
}
