/*
 * throughput: P producers, C consumers, one channel, as fast as they can.
 * Shapes spsc 1/1, mpsc 4/1, spmc 1/4, mpmc 4/4; capacities 0, 1, 64, 1024,
 * unbounded. Reports msgs/s, wall and CPU ns per message, context switches.
 * The run and its checks are flow.c's.
 */
#include "chanbench/chan_impl.h"
#include "flow.h"

static bool throughput_run(const struct scenario_params *p, struct scenario_result *r)
{
	return flow_run(p, r, 0);
}

#define TP(shape, np, nc, capname, cap, n)                                                        \
	{"shape:" shape "/cap:" capname,                                                          \
	 {.capacity = (cap), .producers = (np), .consumers = (nc), .msgs = (n)}, 4}
#define TP_SHAPE(shape, np, nc)                                                                   \
	TP(shape, np, nc, "0", 0, 20000), TP(shape, np, nc, "1", 1, 20000),                       \
	TP(shape, np, nc, "64", 64, 200000), TP(shape, np, nc, "1024", 1024, 200000),             \
	TP(shape, np, nc, "unbounded", CHAN_UNBOUNDED, 200000)

static const struct scenario_case cases[] = {
	TP_SHAPE("spsc", 1, 1),
	TP_SHAPE("mpsc", 4, 1),
	TP_SHAPE("spmc", 1, 4),
	TP_SHAPE("mpmc", 4, 4),
};

const struct scenario scenario_throughput = {
	.name = "throughput",
	.description = "P producers, C consumers, one channel (spsc 1/1, mpsc 4/1, spmc 1/4, mpmc 4/4): msgs/s, ns and CPU ns per message",
	.counters_doc = "",
	.run = throughput_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
