/*
 * chanbench scenarios: one parameter record, one result record, one table.
 *
 * A scenario is one C11 file in scenarios/ exporting one `const struct scenario`.
 * Its run function takes a struct scenario_params (the implementation's name,
 * capacity, thread counts, message count, ...), starts its threads, moves
 * exactly `msgs` messages (or accounts for every one it tried to move), checks
 * what arrived (count, checksum, per-producer order where the channel contract
 * promises it), and fills a struct scenario_result. A failed check sets ok =
 * false and an error message that begins with "discrepancy:" (or "hung:" when
 * threads did not finish); such a run reports no numbers.
 *
 * Every run measures the same things between the moment its threads are
 * released and the moment the last one is joined: wall time (CLOCK_MONOTONIC),
 * CPU time of the whole process (getrusage RUSAGE_SELF, user + sys) and
 * voluntary / involuntary context switches. Latency scenarios add samples that
 * are summarised as percentiles; scenario-specific numbers go in counters; a
 * time series (backpressure's queue depth) goes in series.
 *
 * Non-blocking references (CHAN_CAP_REFERENCE without CHAN_CAP_BLOCKING, see
 * impls/limits/) run the scenarios whose `spin_ok` is set: every blocking
 * send/recv becomes a loop of try operations with a pause and, after a while,
 * sched_yield (they cannot park; on a shared 2-core machine a pure spin would
 * wait whole time slices for a descheduled peer).
 *
 * The runner (harness/runner/runner.cc) iterates scenario_table x cases x
 * implementations; the runner owns the profiles (message counts, repetitions).
 */
#ifndef CHANBENCH_SCENARIO_H
#define CHANBENCH_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "chanbench/chan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SCENARIO_MAX_COUNTERS 24
#define SCENARIO_MAX_SERIES 4
#define SCENARIO_ERROR_LEN 512

struct scenario_params {
	const char *impl;   /* registered implementation name */
	size_t capacity;    /* 0, N, or CHAN_UNBOUNDED */
	int producers;      /* sending threads (clients for request/reply) */
	int consumers;      /* receiving threads (workers, servers) */
	uint64_t msgs;      /* messages to move and validate in one run */
	size_t payload;     /* bytes touched per message on both sides (0 = the word only) */
	int stages;         /* pipeline: threads in the chain */
	int cores;          /* confine the run's threads to this many CPUs (0 = no pinning) */
	int64_t pause_ns;   /* wake-up, shutdown: how long a thread stays parked before it is woken */
	int64_t work_ns;    /* per-message work of a consumer (backpressure: its fixed period) */
	int side;           /* wake-up: 0 = a parked receiver is woken, 1 = a parked sender */
	size_t batch;       /* batch: messages per chan_send_batch / most per chan_recv_batch */
	int64_t timeout_ns; /* a run whose threads have not finished by then is "hung" */
	bool spin;          /* set by scenario_run: the impl cannot block, use try loops */
};

struct scenario_counter {
	const char *name; /* a string literal */
	double value;
};

struct scenario_series {
	const char *name; /* a string literal */
	double (*pts)[2]; /* [t_ms since the run started, value] */
	size_t n, cap;
};

struct scenario_result {
	bool ok;
	char error[SCENARIO_ERROR_LEN];
	uint64_t msgs;     /* messages moved and validated */
	uint64_t checksum; /* what the receivers computed; equal to the expected one when ok */
	int64_t wall_ns;
	int64_t cpu_ns;    /* user + sys of the whole process */
	long vcsw, ivcsw;  /* voluntary / involuntary context switches */
	/* Latency samples (ns) and their summary; n_samples == 0 when not a latency scenario. */
	int64_t *samples;
	size_t n_samples, samples_cap;
	double p50_ns, p99_ns, p999_ns, mean_ns, max_ns;
	struct scenario_counter counters[SCENARIO_MAX_COUNTERS];
	size_t n_counters;
	struct scenario_series series[SCENARIO_MAX_SERIES];
	size_t n_series;
};

/* One parameter set of a scenario. `key` is the benchmark name's middle part,
 * "shape:spsc/cap:64" (keys in a fixed order). params.msgs is the count for the
 * default profile; the runner scales it, keeping it a multiple of msg_unit. */
struct scenario_case {
	const char *key;
	struct scenario_params params;
	uint64_t msg_unit;
};

struct scenario {
	const char *name;        /* "throughput", ... */
	const char *description; /* one line */
	const char *counters_doc; /* scenario-specific counters, "name: meaning; ..." */
	/* Fills r; returns r->ok. r must come from scenario_result_init. */
	bool (*run)(const struct scenario_params *p, struct scenario_result *r);
	uint64_t needs;          /* capability bits every case needs, besides the
	                            capacity's bit and MPMC for more than one thread per side */
	bool spin_ok;            /* a non-blocking reference can run it with try loops */
	const struct scenario_case *cases;
	size_t n_cases;
	/* NULL for queue channels. Otherwise a channel kind of kinds.h ("bcast",
	 * "watch", "oneshot"): params.impl names an implementation of that kind
	 * (chan_kind_impl_name_at), queue capabilities do not apply, and the runner
	 * names it "<kind>-<impl>" in results. */
	const char *kind;
};

extern const struct scenario *const scenario_table[];
extern const size_t scenario_count;

const struct scenario *scenario_find(const char *name);

/* Capability bits p needs from an implementation for scenario s, given the
 * implementation's caps: returns the bits it lacks (0 = runnable). */
uint64_t scenario_missing_caps(const struct scenario *s, const struct scenario_params *p,
                               uint64_t impl_caps);
/* Lower-case name of one capability bit ("mpmc", "blocking", ...). */
const char *scenario_cap_name(uint64_t bit);

void scenario_result_init(struct scenario_result *r);
void scenario_result_free(struct scenario_result *r);

/* Run scenario s with p: sets p->spin from the implementation's caps, runs, and
 * adds the common checks (r->msgs == p->msgs). Returns r->ok. */
/* The common end-of-run check of the consumers' merged tally (message.h): every
 * message received once, checksum equal to expected, none out of order, skipped
 * or invalid; else a "discrepancy:" failure saying which. */
struct msg_tally;
void scenario_check_tally(struct scenario_result *r, const struct msg_tally *t, uint64_t msgs,
                          uint64_t expected);

bool scenario_run(const struct scenario *s, const struct scenario_params *p,
                  struct scenario_result *r);

#ifdef __cplusplus
}
#endif
#endif
