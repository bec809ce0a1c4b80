/*
 * pipeline: `stages` threads in a chain joined by stages-1 channels: a source,
 * middle stages, a sink. Messages are pointers to pooled records (one cache
 * line pair each) that carry a sequence number, the time the source sent
 * them, a stage stamp and a payload that every stage reads and rewrites.
 * Reports end-to-end throughput and per-message latency (source send to sink
 * receipt) p50/p99/p99.9.
 *
 * The pool is a ring of records indexed by sequence number, larger than the
 * most messages the pipeline can hold at once (every channel full plus one in
 * each thread's hands), so a record is only reused after the sink is done
 * with it.
 *
 * Checked at each stage: the stamp of the previous stage and the order of
 * sequence numbers; at the sink: the payload (each middle stage added 1 to
 * every word), the count and the checksum.
 */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define PIPE_MAX_STAGES 8
#define PIPE_WORDS 13

struct pipe_rec {
	alignas(64) uint64_t seq;
	int64_t t_sent;
	uint64_t stamp; /* index of the last stage that handled it */
	uint64_t words[PIPE_WORDS];
};

struct pipe_run;

struct pipe_stage {
	struct pipe_run *run;
	int index;
	chan_t *in, *out;
};

struct pipe_run {
	const struct scenario_params *p;
	struct pipe_rec *pool;
	uint64_t pool_mask;
	chan_t *ch[PIPE_MAX_STAGES];
	struct pipe_stage stage[PIPE_MAX_STAGES];
	struct team team;
	struct fault fault;
	int64_t *samples;
	uint64_t delivered, sum;
};

static uint64_t word0(uint64_t seq, size_t i)
{
	return seq * 0x9e3779b97f4a7c15u + i;
}

static void *pipe_source(void *arg)
{
	struct pipe_stage *s = arg;
	struct pipe_run *run = s->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	for (uint64_t q = 1; q <= run->p->msgs; q++) {
		struct pipe_rec *rec = &run->pool[q & run->pool_mask];
		rec->seq = q;
		rec->stamp = 0;
		for (size_t i = 0; i < PIPE_WORDS; i++)
			rec->words[i] = word0(q, i);
		rec->t_sent = measure_now_ns();
		chan_status st = send_msg(s->out, (uintptr_t)rec, spin);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: source: send of %llu failed: %s",
			             (unsigned long long)q, chan_status_str(st));
			break;
		}
	}
	chan_sender_drop(s->out);
	return NULL;
}

static void *pipe_middle(void *arg)
{
	struct pipe_stage *s = arg;
	struct pipe_run *run = s->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	uint64_t expect = 1;
	uintptr_t v;
	chan_status st;
	while ((st = recv_msg(s->in, &v, spin)) == CHAN_OK) {
		struct pipe_rec *rec = (struct pipe_rec *)v;
		if (rec == NULL || rec->seq != expect || rec->stamp != (uint64_t)s->index - 1) {
			fault_report(&run->fault, "discrepancy: stage %d: expected message %llu", s->index,
			             (unsigned long long)expect);
			break;
		}
		for (size_t i = 0; i < PIPE_WORDS; i++)
			rec->words[i] += 1;
		rec->stamp = (uint64_t)s->index;
		expect++;
		st = send_msg(s->out, v, spin);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: stage %d: send failed: %s", s->index,
			             chan_status_str(st));
			break;
		}
	}
	chan_receiver_drop(s->in);
	chan_sender_drop(s->out);
	return NULL;
}

static void *pipe_sink(void *arg)
{
	struct pipe_stage *s = arg;
	struct pipe_run *run = s->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	uint64_t added = (uint64_t)run->p->stages - 2;
	uintptr_t v;
	chan_status st;
	while ((st = recv_msg(s->in, &v, spin)) == CHAN_OK) {
		int64_t now = measure_now_ns();
		struct pipe_rec *rec = (struct pipe_rec *)v;
		uint64_t expect = run->delivered + 1;
		bool intact = rec != NULL && rec->seq == expect && rec->stamp == (uint64_t)s->index - 1;
		for (size_t i = 0; intact && i < PIPE_WORDS; i++)
			intact = rec->words[i] == word0(expect, i) + added;
		if (!intact) {
			fault_report(&run->fault, "discrepancy: sink: message %llu missing or corrupted",
			             (unsigned long long)expect);
			break;
		}
		run->samples[run->delivered] = now - rec->t_sent;
		run->sum += msg_mix(rec->seq);
		run->delivered++;
	}
	chan_receiver_drop(s->in);
	return NULL;
}

static bool pipe_run(const struct scenario_params *p, struct scenario_result *r)
{
	int n = p->stages;
	if (n < 2 || n > PIPE_MAX_STAGES) {
		result_fail(r, "setup: stages must be 2..%d", PIPE_MAX_STAGES);
		return false;
	}
	struct pipe_run *run = calloc(1, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	size_t cap = p->capacity == CHAN_UNBOUNDED ? 0 : p->capacity;
	uint64_t in_flight = (uint64_t)(n - 1) * cap + 2 * (uint64_t)n + 64, size = 64;
	while (size < in_flight)
		size <<= 1;
	run->pool_mask = size - 1;
	run->pool = aligned_alloc(64, size * sizeof *run->pool);
	run->samples = calloc(p->msgs + 1, sizeof *run->samples);
	if (run->pool == NULL || run->samples == NULL || p->capacity == CHAN_UNBOUNDED) {
		result_fail(r, p->capacity == CHAN_UNBOUNDED ? "setup: the record pool needs a bounded pipeline"
		                                              : "setup: out of memory");
		free(run->pool);
		free(run->samples);
		free(run);
		return false;
	}
	memset(run->pool, 0, size * sizeof *run->pool);
	int made = 0;
	for (; made < n - 1; made++)
		if (!result_chan_create(r, p->impl, p->capacity, NULL, &run->ch[made]))
			break;
	team_init(&run->team, p->cores);
	bool ok = made == n - 1;
	for (int i = 0; i < n && ok; i++) {
		run->stage[i] = (struct pipe_stage){
			.run = run, .index = i, .in = i > 0 ? run->ch[i - 1] : NULL, .out = i < n - 1 ? run->ch[i] : NULL};
		void *(*fn)(void *) = i == 0 ? pipe_source : i == n - 1 ? pipe_sink : pipe_middle;
		ok = team_start(&run->team, fn, &run->stage[i], r);
	}
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		for (int i = 0; i < made; i++)
			chan_destroy(run->ch[i]);
		free(run->pool);
		free(run->samples);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, run->ch, (size_t)(n - 1)))
		return false;
	uint64_t expected = 0;
	for (uint64_t q = 1; q <= p->msgs; q++)
		expected += msg_mix(q);
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	if (run->delivered != p->msgs || run->sum != expected)
		result_fail(r, "discrepancy: %llu of %llu messages reached the sink, checksum %s",
		            (unsigned long long)run->delivered, (unsigned long long)p->msgs,
		            run->sum == expected ? "ok" : "wrong");
	r->msgs = run->delivered;
	r->checksum = run->sum;
	if (r->ok) {
		result_add_samples(r, run->samples, run->delivered);
		result_counter(r, "stages", n);
		result_counter(r, "pool_records", (double)size);
	}
	for (int i = 0; i < n - 1; i++)
		chan_destroy(run->ch[i]);
	team_destroy(&run->team);
	free(run->pool);
	free(run->samples);
	free(run);
	return r->ok;
}

#define PIPE(capname, cap, n)                                                                     \
	{"stages:4/cap:" capname,                                                                 \
	 {.capacity = (cap), .producers = 1, .consumers = 1, .stages = 4, .msgs = (n)}, 1}

static const struct scenario_case cases[] = {
	PIPE("1", 1, 10000),
	PIPE("64", 64, 100000),
};

const struct scenario scenario_pipeline = {
	.name = "pipeline",
	.description = "4 stages joined by 3 channels, pooled 128-byte records touched at every stage: end-to-end throughput and latency",
	.counters_doc = "p50_ns, p99_ns, p999_ns, mean_ns, max_ns: source send to sink receipt; "
	                "stages; pool_records: records in the recycling pool",
	.run = pipe_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
