/*
 * The scenario table, capability checks, and the common end-of-run check.
 * Adding a scenario is one file in scenarios/ plus one line here (and one in
 * scenarios/CMakeLists.txt).
 */
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"

extern const struct scenario scenario_throughput;
extern const struct scenario scenario_pingpong;
extern const struct scenario scenario_wakeup;
extern const struct scenario scenario_backpressure;
extern const struct scenario scenario_fanin;
extern const struct scenario scenario_fanout;
extern const struct scenario scenario_pipeline;
extern const struct scenario scenario_reqreply;
extern const struct scenario scenario_shutdown;
extern const struct scenario scenario_oversubscription;
extern const struct scenario scenario_select;
extern const struct scenario scenario_bridge;
extern const struct scenario scenario_batch;
extern const struct scenario scenario_broadcast;
extern const struct scenario scenario_watch;
extern const struct scenario scenario_oneshot;

const struct scenario *const scenario_table[] = {
	&scenario_throughput, &scenario_pingpong, &scenario_wakeup,   &scenario_backpressure,
	&scenario_fanin,      &scenario_fanout,   &scenario_pipeline, &scenario_reqreply,
	&scenario_shutdown,   &scenario_oversubscription,
	&scenario_select,     &scenario_bridge,   &scenario_batch,
	&scenario_broadcast,  &scenario_watch,    &scenario_oneshot,
};
const size_t scenario_count = sizeof scenario_table / sizeof scenario_table[0];

const struct scenario *scenario_find(const char *name)
{
	for (size_t i = 0; i < scenario_count; i++)
		if (strcmp(scenario_table[i]->name, name) == 0)
			return scenario_table[i];
	return NULL;
}

const char *scenario_cap_name(uint64_t bit)
{
	switch (bit) {
	case CHAN_CAP_BOUNDED: return "bounded";
	case CHAN_CAP_RENDEZVOUS: return "rendezvous";
	case CHAN_CAP_UNBOUNDED: return "unbounded";
	case CHAN_CAP_MPMC: return "mpmc";
	case CHAN_CAP_BLOCKING: return "blocking";
	case CHAN_CAP_TIMED: return "timed";
	case CHAN_CAP_CLOSE: return "close";
	case CHAN_CAP_LEN: return "len";
	case CHAN_CAP_SELECT: return "select";
	case CHAN_CAP_POLLFD: return "pollfd";
	case CHAN_CAP_BATCH: return "batch";
	case CHAN_CAP_REFERENCE: return "reference";
	}
	return "unknown";
}

uint64_t scenario_missing_caps(const struct scenario *s, const struct scenario_params *p,
                               uint64_t caps)
{
	uint64_t need = s->needs;
	if (p->capacity == 0)
		need |= CHAN_CAP_RENDEZVOUS;
	else if (p->capacity == CHAN_UNBOUNDED)
		need |= CHAN_CAP_UNBOUNDED;
	else
		need |= CHAN_CAP_BOUNDED;
	if (p->producers > 1 || p->consumers > 1)
		need |= CHAN_CAP_MPMC;
	/* Blocking is needed unless the scenario can spin and the impl is a reference. */
	if (!(s->spin_ok && (caps & CHAN_CAP_REFERENCE)))
		need |= CHAN_CAP_BLOCKING;
	return need & ~caps;
}

void scenario_result_init(struct scenario_result *r)
{
	memset(r, 0, sizeof *r);
	r->ok = true;
}

void scenario_result_free(struct scenario_result *r)
{
	free(r->samples);
	for (size_t i = 0; i < r->n_series; i++)
		free(r->series[i].pts);
	memset(r, 0, sizeof *r);
}

void scenario_check_tally(struct scenario_result *r, const struct msg_tally *t, uint64_t msgs,
                          uint64_t expected)
{
	if (t->count != msgs || t->sum != expected || t->out_of_order || t->skipped || t->invalid)
		result_fail(r,
		            "discrepancy: received %llu of %llu messages, checksum %s, %llu out of "
		            "order, %llu skipped, %llu invalid",
		            (unsigned long long)t->count, (unsigned long long)msgs,
		            t->sum == expected ? "ok" : "wrong", (unsigned long long)t->out_of_order,
		            (unsigned long long)t->skipped, (unsigned long long)t->invalid);
}

bool scenario_run(const struct scenario *s, const struct scenario_params *p,
                  struct scenario_result *r)
{
	struct scenario_params q = *p;
	/* A kind scenario runs a kind implementation: queue capabilities do not apply. */
	uint64_t caps = s->kind != NULL ? CHAN_CAP_BLOCKING : chan_impl_caps(p->impl);
	q.spin = !(caps & CHAN_CAP_BLOCKING);
	uint64_t missing = s->kind != NULL ? 0 : scenario_missing_caps(s, &q, caps);
	if (missing != 0) {
		result_fail(r, "n/a: %s not declared", scenario_cap_name(missing & -missing));
		return false;
	}
	if (!s->run(&q, r))
		return false;
	if (r->msgs != q.msgs)
		result_fail(r, "discrepancy: moved %llu messages, expected %llu",
		            (unsigned long long)r->msgs, (unsigned long long)q.msgs);
	if (r->ok)
		result_summarize_latency(r);
	return r->ok;
}
