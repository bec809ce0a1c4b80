/*
 * What every scenario measures, and the helpers that fill a struct
 * scenario_result: wall and CPU time, context switches, latency samples and
 * their percentiles, named counters, time series, the first error.
 *
 * Only the thread that owns the result (the scenario's main thread) calls these;
 * worker threads keep their own numbers and hand them over after the join.
 */
#ifndef CHANBENCH_SCENARIO_MEASURE_H
#define CHANBENCH_SCENARIO_MEASURE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>

#include "scenario.h"

struct measure {
	int64_t t0;
	struct rusage ru0;
};

/* CLOCK_MONOTONIC now, ns. */
int64_t measure_now_ns(void);
/* Start: wall clock and the process's rusage. */
void measure_begin(struct measure *m);
/* Stop: wall_ns, cpu_ns, vcsw, ivcsw of r. */
void measure_end(const struct measure *m, struct scenario_result *r);

/* Record a failure (only the first one is kept); r->ok becomes false. */
void result_fail(struct scenario_result *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Add a named counter (name: a string literal). */
void result_counter(struct scenario_result *r, const char *name, double value);
/* Room for n more latency samples; false (and r fails) when out of memory. */
bool result_reserve_samples(struct scenario_result *r, size_t n);
/* Append samples (after result_reserve_samples). */
void result_add_samples(struct scenario_result *r, const int64_t *s, size_t n);
/* Sort the samples and fill p50/p99/p999/mean/max. */
void result_summarize_latency(struct scenario_result *r);
/* A named series (created on first use; NULL if SCENARIO_MAX_SERIES are in use). */
struct scenario_series *result_series(struct scenario_result *r, const char *name);
void series_add(struct scenario_series *s, double t_ms, double value);

/* chan_create for a run: a failure is recorded in r ("n/a: ..." when the
 * implementation refuses the capacity with CHAN_UNSUPPORTED). */
bool result_chan_create(struct scenario_result *r, const char *impl, size_t cap,
                        const chan_config *cfg, chan_t **out);

/* Jain's fairness index of n shares: 1 = equal, 1/n = one takes everything. */
double fairness_jain(const uint64_t *x, int n);

/* Peak resident memory. peak_mem_reset() makes the kernel restart its
 * high-water mark (/proc/self/clear_refs "5") and returns VmRSS in KiB;
 * peak_mem_kib() returns VmHWM in KiB (ru_maxrss when /proc is unavailable). */
long peak_mem_reset(void);
long peak_mem_kib(void);

#endif
