/*
 * fan-out: one producer feeds N workers on one MPMC channel, the worker pool
 * (flow.c). Each worker does work_ns of busy work per message (a small job).
 * Reports throughput and load balance: each worker's share of the messages.
 * Every worker must see the producer's messages in increasing order.
 */
#include "chanbench/chan_impl.h"
#include "flow.h"

static bool fanout_run(const struct scenario_params *p, struct scenario_result *r)
{
	return flow_run(p, r, FLOW_BALANCE);
}

#define FO(nw, nwname, capname, cap, n)                                                           \
	{"workers:" nwname "/cap:" capname,                                                       \
	 {.capacity = (cap), .producers = 1, .consumers = (nw), .msgs = (n), .work_ns = 1000}, 1}

static const struct scenario_case cases[] = {
	FO(4, "4", "1", 1, 20000),
	FO(4, "4", "64", 64, 100000),
	FO(4, "4", "1024", 1024, 100000),
};

const struct scenario scenario_fanout = {
	.name = "fanout",
	.description = "1 producer -> N workers on one MPMC channel, 1 us of work per message: throughput and load balance",
	.counters_doc = "balance_jain: Jain's index of the workers' shares of all messages (1 = equal); "
	                "share_min, share_max: smallest and largest worker share; max_over_min: their "
	                "ratio; work_ns: busy work per message",
	.run = fanout_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
