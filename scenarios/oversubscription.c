/*
 * oversubscription: 8 producers and 8 consumers on one channel, all confined
 * to 2 CPUs (flow.c): many more runnable threads than cores. A design that
 * spins before parking burns the time slice its peer needs; one that parks
 * pays a context switch per hand-off. Reports throughput, CPU per message and
 * context switches; the checks are flow.c's.
 */
#include "chanbench/chan_impl.h"
#include "flow.h"

static bool oversubscription_run(const struct scenario_params *p, struct scenario_result *r)
{
	return flow_run(p, r, FLOW_BALANCE);
}

#define OS(capname, cap, n)                                                                       \
	{"producers:8/consumers:8/cores:2/cap:" capname,                                          \
	 {.capacity = (cap), .producers = 8, .consumers = 8, .cores = 2, .msgs = (n)}, 8}

static const struct scenario_case cases[] = {
	OS("1", 1, 40000),
	OS("64", 64, 200000),
};

const struct scenario scenario_oversubscription = {
	.name = "oversubscription",
	.description = "8 producers + 8 consumers confined to 2 CPUs: how each design degrades when it cannot spin its way out",
	.counters_doc = "balance_jain, share_min, share_max, max_over_min: consumers' shares of the "
	                "messages; cores: CPUs the threads were confined to",
	.run = oversubscription_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
