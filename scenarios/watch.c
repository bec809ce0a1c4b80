/*
 * watch: configuration updates. One writer publishes `msgs` successive
 * versions of a value through a watch channel (kinds.h); R readers follow it.
 *   side 0 (mode:wait)    readers block in watch_changed and take each change
 *                         (skipping the versions they were too slow to see);
 *   side 1 (mode:borrow)  readers read the current value in a loop with
 *                         watch_borrow, as a server reads its configuration on
 *                         every request, until they see the final version.
 * The writer never blocks: its send times are the latency samples.
 *
 * Runs the watch implementations (kind "watch"). msgs counts updates sent.
 * Reported: updates/s (msgs_per_s), reads/s over all readers, the fraction of
 * the versions the waiting readers saw, and the writer's send latency
 * percentiles (p50_ns ... of a send, not of a delivery).
 *
 * Checked, per reader: every value came from the writer; the versions seen
 * only grow (strictly for changed, and a borrowed value is the value of the
 * version borrow reports: no torn read); the last one seen is the final
 * version (W2: after close an unseen final value is still delivered).
 */
#include <stdlib.h>

#include "chanbench/kinds.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define W_MAX_READERS 32

struct w_run;

struct w_reader {
	struct w_run *run;
	int id;
	watch_rx_t *rx;
	uint64_t reads, last;
};

struct w_run {
	const struct scenario_params *p;
	watch_t *w;
	struct team team;
	struct fault fault;
	uint64_t sent;
	int64_t *samples;
	struct w_reader reader[W_MAX_READERS];
};

static void *w_writer(void *arg)
{
	struct w_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	for (uint64_t k = 1; k <= run->p->msgs; k++) {
		int64_t t0 = measure_now_ns();
		chan_status st = watch_send(run->w, msg_encode(0, k));
		run->samples[k - 1] = measure_now_ns() - t0;
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: update %llu failed: %s", (unsigned long long)k,
			             chan_status_str(st));
			break;
		}
		run->sent++;
	}
	watch_close(run->w);
	return NULL;
}

static void *w_reader(void *arg)
{
	struct w_reader *rd = arg;
	struct w_run *run = rd->run;
	if (!team_ready(&run->team))
		return NULL;
	uint64_t final = run->p->msgs;
	uintptr_t v;
	if (run->p->side == 0) {
		chan_status st;
		while ((st = watch_changed(rd->rx, &v, CHAN_FOREVER)) == CHAN_OK) {
			uint64_t seq = msg_seq(v);
			if (msg_producer(v) != 0 || seq <= rd->last) {
				fault_report(&run->fault, "discrepancy: reader %d: version %llu after %llu", rd->id,
				             (unsigned long long)seq, (unsigned long long)rd->last);
				return NULL;
			}
			rd->last = seq;
			rd->reads++;
		}
		if (st != CHAN_CLOSED)
			fault_report(&run->fault, "discrepancy: reader %d: changed failed: %s", rd->id,
			             chan_status_str(st));
		return NULL;
	}
	for (unsigned idle = 0; rd->last < final;) {
		uint64_t ver;
		chan_status st = watch_borrow(rd->rx, &v, &ver);
		uint64_t seq = msg_seq(v);
		if (st != CHAN_OK || ver != seq || msg_producer(v) != (ver ? 0 : -1) || seq < rd->last) {
			fault_report(&run->fault,
			             "discrepancy: reader %d: borrow gave %llu as version %llu after %llu (%s)",
			             rd->id, (unsigned long long)seq, (unsigned long long)ver,
			             (unsigned long long)rd->last, chan_status_str(st));
			return NULL;
		}
		rd->reads++;
		/* a reader that sees nothing new for a while lets the writer have the CPU
		 * (2 cores, more threads than that) */
		if (seq == rd->last && ++idle % 64 == 0)
			sched_yield();
		rd->last = seq;
	}
	return NULL;
}

static bool w_run(const struct scenario_params *p, struct scenario_result *r)
{
	int nr = p->consumers;
	if (nr < 1 || nr > W_MAX_READERS || p->msgs < 1) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct w_run *run = calloc(1, sizeof *run);
	if (run == NULL || (run->samples = calloc(p->msgs, sizeof *run->samples)) == NULL) {
		free(run);
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	/* version 0 holds 0, which no writer message equals (producer bits are 1) */
	chan_status st = watch_create(p->impl, 0, &run->w);
	for (int i = 0; i < nr && st == CHAN_OK; i++) {
		run->reader[i] = (struct w_reader){.run = run, .id = i};
		st = watch_subscribe(run->w, &run->reader[i].rx);
	}
	if (st != CHAN_OK) {
		result_fail(r, "setup: watch %s: %s", p->impl, chan_status_str(st));
		if (run->w != NULL)
			watch_destroy(run->w);
		free(run->samples);
		free(run);
		return false;
	}
	team_init(&run->team, p->cores);
	bool ok = team_start(&run->team, w_writer, run, r);
	for (int i = 0; i < nr && ok; i++)
		ok = team_start(&run->team, w_reader, &run->reader[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		watch_destroy(run->w);
		free(run->samples);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, NULL, 0))
		return false; /* threads still inside the channel: leak the run */
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	uint64_t reads = 0;
	for (int i = 0; i < nr && r->ok; i++) {
		if (run->reader[i].last != run->sent)
			result_fail(r, "discrepancy: reader %d: last version seen %llu, final %llu", i,
			            (unsigned long long)run->reader[i].last, (unsigned long long)run->sent);
		reads += run->reader[i].reads;
	}
	r->msgs = run->sent;
	if (r->ok) {
		double wall = (double)r->wall_ns;
		if (result_reserve_samples(r, run->sent))
			result_add_samples(r, run->samples, run->sent);
		result_counter(r, "reads_per_s", wall > 0 ? (double)reads * 1e9 / wall : 0);
		if (p->side == 0)
			result_counter(r, "seen_frac", (double)reads / ((double)run->sent * nr));
		result_counter(r, "readers", nr);
	}
	team_destroy(&run->team);
	watch_destroy(run->w);
	free(run->samples);
	free(run);
	return r->ok;
}

#define W(key, readers, mode, n)                                                                  \
	{key, {.capacity = 1, .producers = 1, .consumers = (readers), .side = (mode), .msgs = (n)}, 1}

static const struct scenario_case cases[] = {
	W("readers:1/mode:wait", 1, 0, 200000),
	W("readers:4/mode:wait", 4, 0, 200000),
	W("readers:2/mode:borrow", 2, 1, 200000),
};

const struct scenario scenario_watch = {
	.name = "watch",
	.description = "configuration updates through a watch channel: readers always see the latest, the writer never blocks",
	.counters_doc = "reads_per_s: values taken by all readers per second (changed or borrow); seen_frac "
	                "(mode:wait): versions seen / (updates x readers); readers; p50_ns, p99_ns, p999_ns, "
	                "mean_ns, max_ns: the writer's send duration. msgs_per_s counts updates",
	.run = w_run,
	.needs = 0,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
	.kind = "watch",
};
