/*
 * peer_smoke: loads peer plug-ins with chan_plugin_load and checks that each
 * moves messages through the chanbench API, for every capacity kind it
 * declares: values intact and in order (one producer), exactly once with each
 * producer's order kept (two producers, two consumers, when it declares MPMC),
 * the whole word range (0 and UINTPTR_MAX), try on empty, and, when declared,
 * close (drain in order, then CLOSED) and timed receive. A quick check that a
 * build works, before the conformance suite's property-by-property verdict.
 *
 *   peer_smoke PLUGIN.so [PLUGIN.so ...]     exit 0 if every check passed
 *
 * Non-blocking references (no CHAN_CAP_BLOCKING) are driven by polling
 * try_send / try_recv; without CHAN_CAP_CLOSE the consumers stop by count.
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"

#define MSGS 20000u
#define WORKERS 2

static int failures;

#define CHECK(cond, ...)                                    \
	do {                                                    \
		if (!(cond)) {                                      \
			fprintf(stderr, "  FAIL: " __VA_ARGS__);        \
			fprintf(stderr, " (%s:%d)\n", __FILE__, __LINE__); \
			failures++;                                     \
		}                                                   \
	} while (0)

struct run {
	chan_t *ch;
	bool blocking, use_close;
	unsigned producers;
	atomic_uint received;   /* by every consumer */
	atomic_uint producers_left;
	_Atomic uint64_t sum;
	atomic_uint order_errors;
};

struct worker {
	struct run *r;
	unsigned index;
};

static chan_status put(struct run *r, uintptr_t v)
{
	if (r->blocking)
		return chan_send(r->ch, v);
	chan_status st;
	while ((st = chan_try_send(r->ch, v)) == CHAN_FULL)
		sched_yield();
	return st;
}

/* CHAN_OK with a message, CHAN_CLOSED at the end of the stream. */
static chan_status take(struct run *r, uintptr_t *v)
{
	if (r->blocking)
		return chan_recv(r->ch, v);
	for (;;) {
		chan_status st = chan_try_recv(r->ch, v);
		if (st != CHAN_EMPTY)
			return st;
		if (!r->use_close && atomic_load(&r->received) >= MSGS)
			return CHAN_CLOSED; /* every message is taken: stop by count */
		sched_yield();
	}
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	unsigned n = MSGS / r->producers;
	for (unsigned i = 1; i <= n; i++) {
		chan_status st = put(r, ((uintptr_t)w->index << 32) | i);
		if (st != CHAN_OK) {
			fprintf(stderr, "  FAIL: send: %s\n", chan_status_str(st));
			atomic_fetch_add(&r->order_errors, 1);
			break;
		}
	}
	if (atomic_fetch_sub(&r->producers_left, 1) == 1 && r->use_close)
		chan_close(r->ch);
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->r;
	uintptr_t last[WORKERS] = {0};
	uintptr_t v;
	while (take(r, &v) == CHAN_OK) {
		unsigned p = (unsigned)(v >> 32);
		uintptr_t seq = v & 0xffffffffu;
		if (p >= WORKERS || seq <= last[p])
			atomic_fetch_add(&r->order_errors, 1);
		else
			last[p] = seq;
		atomic_fetch_add(&r->sum, v);
		atomic_fetch_add(&r->received, 1);
	}
	return NULL;
}

static void move_messages(const char *impl, uint64_t caps, size_t cap, unsigned producers, unsigned consumers)
{
	struct run r = {.blocking = caps & CHAN_CAP_BLOCKING, .use_close = caps & CHAN_CAP_CLOSE,
	                .producers = producers};
	atomic_init(&r.received, 0);
	atomic_init(&r.producers_left, producers);
	atomic_init(&r.sum, 0);
	atomic_init(&r.order_errors, 0);
	chan_status st = chan_create(impl, cap, NULL, &r.ch);
	CHECK(st == CHAN_OK, "create cap %zd: %s", (ssize_t)cap, chan_status_str(st));
	if (st != CHAN_OK)
		return;
	pthread_t tp[WORKERS], tc[WORKERS];
	struct worker wp[WORKERS], wc[WORKERS];
	for (unsigned i = 0; i < consumers; i++) {
		wc[i] = (struct worker){&r, i};
		pthread_create(&tc[i], NULL, consumer, &wc[i]);
	}
	for (unsigned i = 0; i < producers; i++) {
		wp[i] = (struct worker){&r, i};
		pthread_create(&tp[i], NULL, producer, &wp[i]);
	}
	for (unsigned i = 0; i < producers; i++)
		pthread_join(tp[i], NULL);
	for (unsigned i = 0; i < consumers; i++)
		pthread_join(tc[i], NULL);
	uint64_t expected = 0;
	unsigned n = MSGS / producers;
	for (unsigned p = 0; p < producers; p++)
		for (unsigned i = 1; i <= n; i++)
			expected += ((uint64_t)p << 32) | i;
	unsigned got = atomic_load(&r.received);
	CHECK(got == n * producers && atomic_load(&r.sum) == expected && atomic_load(&r.order_errors) == 0,
	      "%up/%uc cap %zd: received %u of %u, checksum %s, %u order errors", producers, consumers,
	      (ssize_t)cap, got, n * producers, atomic_load(&r.sum) == expected ? "ok" : "WRONG",
	      atomic_load(&r.order_errors));
	chan_destroy(r.ch);
}

/* Single-threaded checks on a channel with room for three messages. */
static void semantics(const char *impl, uint64_t caps, size_t cap)
{
	chan_t *ch;
	if (chan_create(impl, cap, NULL, &ch) != CHAN_OK)
		return;
	uintptr_t v = 7;
	chan_status st = chan_try_recv(ch, &v);
	CHECK(st == CHAN_EMPTY, "try_recv on empty: %s", chan_status_str(st));
	const uintptr_t words[3] = {0, UINTPTR_MAX, 42};
	for (int i = 0; i < 3; i++) {
		st = chan_try_send(ch, words[i]);
		CHECK(st == CHAN_OK, "try_send %" PRIxPTR ": %s", words[i], chan_status_str(st));
	}
	if (caps & CHAN_CAP_LEN)
		CHECK(chan_len(ch) == 3, "len %zu, expected 3", chan_len(ch));
	if (caps & CHAN_CAP_CLOSE) {
		CHECK(chan_close(ch) == CHAN_OK, "close");
		CHECK(chan_close(ch) == CHAN_ALREADY_CLOSED, "second close");
		CHECK(chan_try_send(ch, 1) == CHAN_CLOSED, "try_send after close");
	}
	for (int i = 0; i < 3; i++) {
		st = chan_try_recv(ch, &v);
		CHECK(st == CHAN_OK && v == words[i], "recv %d: %s, %" PRIxPTR " (expected %" PRIxPTR ")", i,
		      chan_status_str(st), v, words[i]);
	}
	if (caps & CHAN_CAP_CLOSE) {
		CHECK(chan_try_recv(ch, &v) == CHAN_CLOSED, "try_recv on closed, drained");
		if (caps & CHAN_CAP_BLOCKING)
			CHECK(chan_recv(ch, &v) == CHAN_CLOSED, "recv on closed, drained");
	}
	chan_destroy(ch);
	if (caps & CHAN_CAP_TIMED) {
		chan_create(impl, cap, NULL, &ch);
		int64_t t0 = chan_now_ns();
		st = chan_recv_timeout(ch, &v, 5000000);
		int64_t dt = chan_now_ns() - t0;
		CHECK(st == CHAN_TIMEOUT && dt >= 5000000, "timed recv: %s after %" PRId64 " ns",
		      chan_status_str(st), dt);
		chan_destroy(ch);
	}
}

static void smoke(const char *path)
{
	char err[512];
	const char *name = NULL;
	chan_status st = chan_plugin_load(path, &name, err, sizeof err);
	if (st != CHAN_OK) {
		fprintf(stderr, "FAIL %s: %s\n", path, err);
		failures++;
		return;
	}
	uint64_t caps = chan_impl_caps(name);
	int before = failures;
	printf("%s: %s\n", name, chan_impl_description(name));
	const size_t capacities[] = {0, 1, 64, CHAN_UNBOUNDED};
	const uint64_t needs[] = {CHAN_CAP_RENDEZVOUS, CHAN_CAP_BOUNDED, CHAN_CAP_BOUNDED, CHAN_CAP_UNBOUNDED};
	for (size_t i = 0; i < sizeof capacities / sizeof capacities[0]; i++) {
		if (!(caps & needs[i]))
			continue;
		move_messages(name, caps, capacities[i], 1, 1);
		if ((caps & CHAN_CAP_MPMC) && ((caps & CHAN_CAP_CLOSE) || !(caps & CHAN_CAP_BLOCKING)))
			move_messages(name, caps, capacities[i], WORKERS, WORKERS);
	}
	semantics(name, caps, (caps & CHAN_CAP_UNBOUNDED) ? CHAN_UNBOUNDED : 64);
	printf("%s %s\n", failures == before ? "ok" : "FAILED", name);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s PLUGIN.so [PLUGIN.so ...]\n", argv[0]);
		return 2;
	}
	for (int i = 1; i < argc; i++)
		smoke(argv[i]);
	return failures == 0 ? 0 : 1;
}
