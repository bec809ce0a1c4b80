/*
 * flow: one channel, P producers, C consumers, msgs messages; the engine of the
 * throughput, fan-in, fan-out and oversubscription scenarios (each of those
 * files is its case table and what it reports).
 *
 * Each producer sends msgs/P messages (producer, 1..msgs/P) and then drops its
 * sender handle; the last drop closes the channel, and consumers receive until
 * CLOSED: that is how the run ends. Checked: the count and checksum of what the
 * consumers received, that every consumer saw each producer's messages in
 * increasing order (FIFO per producer, as seen by any one receiver), with a
 * single consumer that nothing was skipped (each producer's seq goes up by 1),
 * and that nothing was left undelivered in the channel.
 *
 * Optional reports (flow_report bits): producer shares over the first half of
 * each consumer's messages (fairness, Jain's index), and consumer shares over
 * the run (load balance). p->work_ns of busy work per received message models a
 * worker pool; p->cores confines the run to that many CPUs.
 */
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define FLOW_MAX_SIDE 16

struct flow_ctx;

/* One cache-line-aligned record per thread: consumers update their tallies on
 * every message, so neighbours must not share a line. */
struct flow_worker {
	_Alignas(64) struct flow_ctx *run;
	int id;
	/* consumer tallies */
	struct msg_tally tally;
	uint64_t last[FLOW_MAX_SIDE];
	uint64_t first_half[FLOW_MAX_SIDE]; /* per producer, while count <= half */
};

struct flow_ctx {
	const struct scenario_params *p;
	chan_t *ch;
	uint64_t per_producer;
	struct team team;
	struct fault fault;
	atomic_ullong undelivered;
	struct flow_worker prod[FLOW_MAX_SIDE], cons[FLOW_MAX_SIDE];
};

static void *flow_produce(void *arg)
{
	struct flow_worker *w = arg;
	struct flow_ctx *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	for (uint64_t s = 1; s <= run->per_producer; s++) {
		chan_status st = send_msg(run->ch, msg_encode(w->id, s), spin);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: producer %d: send of message %llu failed: %s",
			             w->id, (unsigned long long)s, chan_status_str(st));
			break;
		}
	}
	chan_sender_drop(run->ch);
	return NULL;
}

/* Spin for ns nanoseconds: a consumer's work on a message. */
static void busy_work(int64_t ns)
{
	int64_t until = measure_now_ns() + ns;
	while (measure_now_ns() < until)
		cpu_relax();
}

static void *flow_consume(void *arg)
{
	struct flow_worker *w = arg;
	struct flow_ctx *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	int np = run->p->producers;
	bool single = run->p->consumers == 1;
	uint64_t half = run->p->msgs / (2 * (uint64_t)run->p->consumers);
	int64_t work = run->p->work_ns;
	uintptr_t m;
	chan_status st;
	while ((st = recv_msg(run->ch, &m, spin)) == CHAN_OK) {
		int pi = msg_tally_add(&w->tally, w->last, m, np, run->per_producer, single);
		if (pi < 0)
			continue;
		if (w->tally.count <= half)
			w->first_half[pi]++;
		if (work > 0)
			busy_work(work);
	}
	if (st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: consumer %d: recv failed: %s", w->id,
		             chan_status_str(st));
	chan_receiver_drop(run->ch);
	return NULL;
}

bool flow_run(const struct scenario_params *p, struct scenario_result *r, unsigned report)
{
	if (p->producers < 1 || p->producers > FLOW_MAX_SIDE || p->consumers < 1 ||
	    p->consumers > FLOW_MAX_SIDE || p->msgs % (uint64_t)p->producers != 0) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct flow_ctx *run = aligned_alloc(64, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	memset(run, 0, sizeof *run);
	run->p = p;
	run->per_producer = p->msgs / (uint64_t)p->producers;
	uint64_t expected = msg_expected_sum(p->producers, run->per_producer);
	chan_config cfg = {.undelivered = msg_count_undelivered, .undelivered_ctx = &run->undelivered};
	if (!result_chan_create(r, p->impl, p->capacity, &cfg, &run->ch)) {
		free(run);
		return false;
	}
	for (int i = 1; i < p->producers; i++)
		chan_sender_clone(run->ch);
	for (int i = 1; i < p->consumers; i++)
		chan_receiver_clone(run->ch);

	team_init(&run->team, p->cores);
	bool started = true;
	for (int i = 0; i < p->consumers && started; i++) {
		run->cons[i] = (struct flow_worker){.run = run, .id = i};
		started = team_start(&run->team, flow_consume, &run->cons[i], r);
	}
	for (int i = 0; i < p->producers && started; i++) {
		run->prod[i] = (struct flow_worker){.run = run, .id = i};
		started = team_start(&run->team, flow_produce, &run->prod[i], r);
	}
	if (!started) {
		team_abort(&run->team);
		team_destroy(&run->team);
		chan_destroy(run->ch);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, &run->ch, 1))
		return false; /* threads still running: leak run and channel */

	struct msg_tally all = {0};
	for (int i = 0; i < p->consumers; i++)
		msg_tally_merge(&all, &run->cons[i].tally);
	uint64_t count = all.count;
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
	if (report & FLOW_FAIRNESS) {
		uint64_t share[FLOW_MAX_SIDE] = {0}, tot = 0, mn = UINT64_MAX, mx = 0;
		for (int i = 0; i < p->consumers; i++)
			for (int k = 0; k < p->producers; k++)
				share[k] += run->cons[i].first_half[k];
		for (int k = 0; k < p->producers; k++) {
			tot += share[k];
			mn = share[k] < mn ? share[k] : mn;
			mx = share[k] > mx ? share[k] : mx;
		}
		result_counter(r, "fairness_jain", fairness_jain(share, p->producers));
		result_counter(r, "share_min", tot ? (double)mn / (double)tot : 0);
		result_counter(r, "share_max", tot ? (double)mx / (double)tot : 0);
		result_counter(r, "max_over_min", (double)mx / (double)(mn ? mn : 1));
	}
	if (report & FLOW_BALANCE) {
		uint64_t cnt[FLOW_MAX_SIDE], mn = UINT64_MAX, mx = 0;
		for (int i = 0; i < p->consumers; i++) {
			cnt[i] = run->cons[i].tally.count;
			mn = cnt[i] < mn ? cnt[i] : mn;
			mx = cnt[i] > mx ? cnt[i] : mx;
		}
		result_counter(r, "balance_jain", fairness_jain(cnt, p->consumers));
		result_counter(r, "share_min", count ? (double)mn / (double)count : 0);
		result_counter(r, "share_max", count ? (double)mx / (double)count : 0);
		result_counter(r, "max_over_min", (double)mx / (double)(mn ? mn : 1));
	}
	if (p->work_ns > 0)
		result_counter(r, "work_ns", (double)p->work_ns);
	if (p->cores > 0)
		result_counter(r, "cores", (double)p->cores);
	team_destroy(&run->team);
	free(run);
	return r->ok;
}

