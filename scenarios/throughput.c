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
/* Default-profile counts, the same in the Go and Rust peer programs
 * (peers/go/main.go, peers/rust/src/lib.rs). The buffered cells move 2 M
 * messages: at crossbeam's 30 M msg/s that is ~70 ms, many scheduler slices
 * for 5-8 threads on 2 CPUs (200 k was 5-7 ms and drifted by 2x). cap:0 and
 * cap:1 hand every message over, at 1-10 µs each: 20 k / 40 k already take
 * 20-400 ms. */
#define TP_RENDEZVOUS_MSGS 20000
#define TP_CAP1_MSGS 40000
#define TP_BUFFERED_MSGS 2000000
#define TP_SHAPE(shape, np, nc)                                                                   \
	TP(shape, np, nc, "0", 0, TP_RENDEZVOUS_MSGS), TP(shape, np, nc, "1", 1, TP_CAP1_MSGS),   \
	TP(shape, np, nc, "64", 64, TP_BUFFERED_MSGS),                                            \
	TP(shape, np, nc, "1024", 1024, TP_BUFFERED_MSGS),                                        \
	TP(shape, np, nc, "unbounded", CHAN_UNBOUNDED, TP_BUFFERED_MSGS)

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
