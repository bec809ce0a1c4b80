/*
 * fan-in: N producers send to one consumer (flow.c). Besides throughput it
 * reports how fairly the channel admits the producers: each producer's share
 * of the first half of the messages received (in the second half producers
 * that finished early skew the picture). Every producer's messages must arrive
 * in order with none skipped (single consumer).
 */
#include "chanbench/chan_impl.h"
#include "flow.h"

static bool fanin_run(const struct scenario_params *p, struct scenario_result *r)
{
	return flow_run(p, r, FLOW_FAIRNESS);
}

#define FI(np, npname, capname, cap, n)                                                           \
	{"producers:" npname "/cap:" capname,                                                     \
	 {.capacity = (cap), .producers = (np), .consumers = 1, .msgs = (n)}, (np)}

static const struct scenario_case cases[] = {
	FI(4, "4", "1", 1, 20000),
	FI(4, "4", "64", 64, 200000),
	FI(8, "8", "64", 64, 200000),
};

const struct scenario scenario_fanin = {
	.name = "fanin",
	.description = "N producers -> 1 consumer: throughput, per-producer fairness, order kept per producer",
	.counters_doc = "fairness_jain: Jain's index of the producers' shares of the first half of the "
	                "messages (1 = equal, 1/N = one producer took all); share_min, share_max: the "
	                "smallest and largest share (fractions); max_over_min: their ratio",
	.run = fanin_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
