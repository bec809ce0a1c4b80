/*
 * batch: throughput with chan_send_batch / chan_recv_batch. P producers, C
 * consumers, one channel, as in throughput (flow.c), but each producer sends
 * its msgs/P messages (producer, 1..msgs/P) in batches of B with
 * chan_send_batch, and each consumer takes up to B at a time with
 * chan_recv_batch (which waits for the first message, then takes whatever else
 * is ready). Shapes spsc 1/1 and mpmc 4/4; B = 1, 16, 256; capacities 64, 1024,
 * unbounded. B = 1 is the single-message cost through the batch entries; an
 * implementation that declares CHAN_CAP_BATCH has its own batch operations,
 * any other gets the shared layer's loop (native_batch says which).
 *
 * Non-blocking references (spin) use the same calls with CHAN_NOWAIT in a loop
 * (pause, then sched_yield), keeping the prefix a partial send reports.
 *
 * Checked, as throughput: count and checksum of what the consumers received;
 * every consumer saw each producer's messages in increasing order, and with
 * one consumer none skipped; every batch call kept its contract (a send that
 * returned CHAN_OK sent all, a recv that returned CHAN_OK took 1..B); nothing
 * left undelivered.
 */
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define BT_MAX_SIDE 16
#define BT_MAX_BATCH 4096

struct bt_run;

/* One cache-line-aligned record per thread (consumers update theirs per message). */
struct bt_worker {
	_Alignas(64) struct bt_run *run;
	int id;
	uintptr_t *buf; /* B words */
	uint64_t calls;
	struct msg_tally tally;
	uint64_t last[BT_MAX_SIDE];
};

struct bt_run {
	const struct scenario_params *p;
	chan_t *ch;
	uint64_t per_producer;
	struct team team;
	struct fault fault;
	atomic_ullong undelivered;
	struct bt_worker prod[BT_MAX_SIDE], cons[BT_MAX_SIDE];
};

/* Spin wait of a non-blocking reference: pause, then yield; i counts failed tries. */
static void bt_backoff(unsigned *i)
{
	if ((*i)++ < SPIN_BEFORE_YIELD)
		cpu_relax();
	else
		sched_yield();
}

static void *bt_produce(void *arg)
{
	struct bt_worker *w = arg;
	struct bt_run *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	chan_deadline dl = spin ? CHAN_NOWAIT : CHAN_FOREVER;
	size_t b = run->p->batch;
	uint64_t per = run->per_producer;
	for (uint64_t s = 1; s <= per;) {
		size_t n = per - s + 1 < b ? (size_t)(per - s + 1) : b;
		for (size_t j = 0; j < n; j++)
			w->buf[j] = msg_encode(w->id, s + j);
		size_t off = 0;
		unsigned tries = 0;
		while (off < n) {
			size_t done = SIZE_MAX;
			chan_status st = chan_send_batch(run->ch, w->buf + off, n - off, &done, dl);
			w->calls++;
			if (done > n - off || (st == CHAN_OK && done != n - off)) {
				fault_report(&run->fault,
				             "discrepancy: producer %d: send_batch of %zu returned %s with done %zu",
				             w->id, n - off, chan_status_str(st), done);
				goto out;
			}
			off += done;
			if (st == CHAN_OK)
				break;
			if (spin && st == CHAN_FULL) {
				if (done > 0)
					tries = 0;
				bt_backoff(&tries);
				continue;
			}
			fault_report(&run->fault, "discrepancy: producer %d: send_batch at message %llu failed: %s",
			             w->id, (unsigned long long)(s + off), chan_status_str(st));
			goto out;
		}
		s += n;
	}
out:
	chan_sender_drop(run->ch);
	return NULL;
}

static void *bt_consume(void *arg)
{
	struct bt_worker *w = arg;
	struct bt_run *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	chan_deadline dl = spin ? CHAN_NOWAIT : CHAN_FOREVER;
	size_t b = run->p->batch;
	int np = run->p->producers;
	bool single = run->p->consumers == 1;
	chan_status st;
	unsigned tries = 0;
	for (;;) {
		size_t done = SIZE_MAX;
		st = chan_recv_batch(run->ch, w->buf, b, &done, dl);
		if (st == CHAN_EMPTY && spin && done == 0) {
			bt_backoff(&tries);
			continue;
		}
		if (st != CHAN_OK) {
			if (done != 0)
				fault_report(&run->fault, "discrepancy: consumer %d: recv_batch returned %s with done %zu",
				             w->id, chan_status_str(st), done);
			break;
		}
		if (done < 1 || done > b) {
			fault_report(&run->fault, "discrepancy: consumer %d: recv_batch of up to %zu returned ok with done %zu",
			             w->id, b, done);
			break;
		}
		tries = 0;
		w->calls++;
		for (size_t j = 0; j < done; j++)
			(void)msg_tally_add(&w->tally, w->last, w->buf[j], np, run->per_producer, single);
	}
	if (st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: consumer %d: recv_batch failed: %s", w->id,
		             chan_status_str(st));
	chan_receiver_drop(run->ch);
	return NULL;
}

static void bt_free(struct bt_run *run)
{
	for (int i = 0; i < BT_MAX_SIDE; i++) {
		free(run->prod[i].buf);
		free(run->cons[i].buf);
	}
	free(run);
}

static bool bt_run(const struct scenario_params *p, struct scenario_result *r)
{
	if (p->producers < 1 || p->producers > BT_MAX_SIDE || p->consumers < 1 ||
	    p->consumers > BT_MAX_SIDE || p->msgs % (uint64_t)p->producers != 0 || p->batch < 1 ||
	    p->batch > BT_MAX_BATCH) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct bt_run *run = aligned_alloc(64, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	memset(run, 0, sizeof *run);
	run->p = p;
	run->per_producer = p->msgs / (uint64_t)p->producers;
	bool ok = true;
	for (int i = 0; i < p->producers && ok; i++) {
		run->prod[i] = (struct bt_worker){.run = run, .id = i};
		ok = (run->prod[i].buf = calloc(p->batch, sizeof(uintptr_t))) != NULL;
	}
	for (int i = 0; i < p->consumers && ok; i++) {
		run->cons[i] = (struct bt_worker){.run = run, .id = i};
		ok = (run->cons[i].buf = calloc(p->batch, sizeof(uintptr_t))) != NULL;
	}
	if (!ok) {
		result_fail(r, "setup: out of memory");
		bt_free(run);
		return false;
	}
	uint64_t expected = msg_expected_sum(p->producers, run->per_producer);
	chan_config cfg = {.undelivered = msg_count_undelivered, .undelivered_ctx = &run->undelivered};
	if (!result_chan_create(r, p->impl, p->capacity, &cfg, &run->ch)) {
		bt_free(run);
		return false;
	}
	for (int i = 1; i < p->producers; i++)
		chan_sender_clone(run->ch);
	for (int i = 1; i < p->consumers; i++)
		chan_receiver_clone(run->ch);

	team_init(&run->team, p->cores);
	for (int i = 0; i < p->consumers && ok; i++)
		ok = team_start(&run->team, bt_consume, &run->cons[i], r);
	for (int i = 0; i < p->producers && ok; i++)
		ok = team_start(&run->team, bt_produce, &run->prod[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		chan_destroy(run->ch);
		bt_free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, &run->ch, 1))
		return false; /* threads still running: leak run and channel */

	struct msg_tally all = {0};
	uint64_t rcalls = 0, scalls = 0;
	for (int i = 0; i < p->consumers; i++) {
		msg_tally_merge(&all, &run->cons[i].tally);
		rcalls += run->cons[i].calls;
	}
	uint64_t count = all.count;
	for (int i = 0; i < p->producers; i++)
		scalls += run->prod[i].calls;
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	scenario_check_tally(r, &all, p->msgs, expected);
	chan_destroy(run->ch);
	if (atomic_load(&run->undelivered) != 0)
		result_fail(r, "discrepancy: %llu messages left undelivered in the channel",
		            (unsigned long long)atomic_load(&run->undelivered));
	r->msgs = count;
	r->checksum = all.sum;
	if (r->ok) {
		result_counter(r, "batch", (double)p->batch);
		/* How full the receives were: B when consumers always found a full batch ready. */
		result_counter(r, "recv_batch_mean", rcalls ? (double)count / (double)rcalls : 0);
		/* Spinning references count their FULL retries here too. */
		result_counter(r, "send_calls_per_batch",
		               scalls ? (double)scalls / (double)((uint64_t)p->producers *
		                                                   ((run->per_producer + p->batch - 1) / p->batch))
		                      : 0);
		result_counter(r, "native_batch", (chan_impl_caps(p->impl) & CHAN_CAP_BATCH) ? 1 : 0);
	}
	team_destroy(&run->team);
	bt_free(run);
	return r->ok;
}

#define BT(shape, np, nc, bname, b, capname, cap, n)                                              \
	{"shape:" shape "/batch:" bname "/cap:" capname,                                          \
	 {.capacity = (cap), .producers = (np), .consumers = (nc), .msgs = (n), .batch = (b)}, 4}
#define BT_BATCH(shape, np, nc, bname, b, n)                                                      \
	BT(shape, np, nc, bname, b, "64", 64, n), BT(shape, np, nc, bname, b, "1024", 1024, n),   \
	BT(shape, np, nc, bname, b, "unbounded", CHAN_UNBOUNDED, n)

static const struct scenario_case cases[] = {
	BT_BATCH("spsc", 1, 1, "1", 1, 200000),
	BT_BATCH("spsc", 1, 1, "16", 16, 400000),
	BT_BATCH("spsc", 1, 1, "256", 256, 400000),
	BT_BATCH("mpmc", 4, 4, "1", 1, 200000),
	BT_BATCH("mpmc", 4, 4, "16", 16, 400000),
	BT_BATCH("mpmc", 4, 4, "256", 256, 400000),
};

const struct scenario scenario_batch = {
	.name = "batch",
	.description = "throughput with chan_send_batch / chan_recv_batch (spsc 1/1, mpmc 4/4; batch 1, "
	               "16, 256): msgs/s, ns and CPU ns per message",
	.counters_doc = "batch: B, messages per send_batch and most per recv_batch; recv_batch_mean: "
	                "messages per successful recv_batch (how full the receives were); "
	                "send_calls_per_batch: send_batch calls per batch of B (1 when each returned "
	                "whole; a spinning reference counts its FULL retries); native_batch: 1 if the implementation declares CHAN_CAP_BATCH, 0 if the "
	                "shared layer's loop ran",
	.run = bt_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
