/*
 * Measurement and result-record helpers shared by every scenario (see measure.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "measure.h"

int64_t measure_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t tv_ns(struct timeval tv)
{
	return (int64_t)tv.tv_sec * 1000000000 + (int64_t)tv.tv_usec * 1000;
}

void measure_begin(struct measure *m)
{
	getrusage(RUSAGE_SELF, &m->ru0);
	m->t0 = measure_now_ns();
}

void measure_end(const struct measure *m, struct scenario_result *r)
{
	int64_t t1 = measure_now_ns();
	struct rusage ru1;
	getrusage(RUSAGE_SELF, &ru1);
	r->wall_ns = t1 - m->t0;
	r->cpu_ns = (tv_ns(ru1.ru_utime) - tv_ns(m->ru0.ru_utime)) +
	            (tv_ns(ru1.ru_stime) - tv_ns(m->ru0.ru_stime));
	r->vcsw = ru1.ru_nvcsw - m->ru0.ru_nvcsw;
	r->ivcsw = ru1.ru_nivcsw - m->ru0.ru_nivcsw;
}

void result_fail(struct scenario_result *r, const char *fmt, ...)
{
	if (!r->ok)
		return;
	r->ok = false;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(r->error, sizeof r->error, fmt, ap);
	va_end(ap);
}

void result_counter(struct scenario_result *r, const char *name, double value)
{
	for (size_t i = 0; i < r->n_counters; i++) {
		if (strcmp(r->counters[i].name, name) == 0) {
			r->counters[i].value = value;
			return;
		}
	}
	if (r->n_counters < SCENARIO_MAX_COUNTERS) {
		r->counters[r->n_counters].name = name;
		r->counters[r->n_counters].value = value;
		r->n_counters++;
	}
}

bool result_reserve_samples(struct scenario_result *r, size_t n)
{
	if (r->n_samples + n <= r->samples_cap)
		return true;
	size_t cap = r->n_samples + n;
	int64_t *s = realloc(r->samples, cap * sizeof *s);
	if (s == NULL) {
		result_fail(r, "out of memory for %zu latency samples", cap);
		return false;
	}
	r->samples = s;
	r->samples_cap = cap;
	return true;
}

void result_add_samples(struct scenario_result *r, const int64_t *s, size_t n)
{
	if (!result_reserve_samples(r, n))
		return;
	memcpy(r->samples + r->n_samples, s, n * sizeof *s);
	r->n_samples += n;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted samples. */
static double percentile(const int64_t *s, size_t n, double q)
{
	if (n == 0)
		return 0;
	size_t rank = (size_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)s[rank - 1];
}

void result_summarize_latency(struct scenario_result *r)
{
	size_t n = r->n_samples;
	if (n == 0)
		return;
	qsort(r->samples, n, sizeof *r->samples, cmp_i64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)r->samples[i];
	r->p50_ns = percentile(r->samples, n, 0.50);
	r->p99_ns = percentile(r->samples, n, 0.99);
	r->p999_ns = percentile(r->samples, n, 0.999);
	r->mean_ns = sum / (double)n;
	r->max_ns = (double)r->samples[n - 1];
}

struct scenario_series *result_series(struct scenario_result *r, const char *name)
{
	for (size_t i = 0; i < r->n_series; i++)
		if (strcmp(r->series[i].name, name) == 0)
			return &r->series[i];
	if (r->n_series == SCENARIO_MAX_SERIES)
		return NULL;
	struct scenario_series *s = &r->series[r->n_series++];
	memset(s, 0, sizeof *s);
	s->name = name;
	return s;
}

void series_add(struct scenario_series *s, double t_ms, double value)
{
	if (s == NULL)
		return;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		double(*p)[2] = realloc(s->pts, cap * sizeof *p);
		if (p == NULL)
			return; /* a series is illustration; losing a point is not an error */
		s->pts = p;
		s->cap = cap;
	}
	s->pts[s->n][0] = t_ms;
	s->pts[s->n][1] = value;
	s->n++;
}

bool result_chan_create(struct scenario_result *r, const char *impl, size_t cap,
                        const chan_config *cfg, chan_t **out)
{
	chan_status st = chan_create(impl, cap, cfg, out);
	if (st == CHAN_OK)
		return true;
	char capname[32];
	if (cap == CHAN_UNBOUNDED)
		snprintf(capname, sizeof capname, "unbounded");
	else
		snprintf(capname, sizeof capname, "%zu", cap);
	if (st == CHAN_UNSUPPORTED)
		result_fail(r, "n/a: capacity %s not supported by %s", capname, impl);
	else
		result_fail(r, "setup: chan_create(%s, capacity %s): %s", impl, capname,
		            chan_status_str(st));
	return false;
}

double fairness_jain(const uint64_t *x, int n)
{
	double sum = 0, sq = 0;
	for (int i = 0; i < n; i++) {
		sum += (double)x[i];
		sq += (double)x[i] * (double)x[i];
	}
	return sq > 0 ? sum * sum / ((double)n * sq) : 0;
}

/* A "Key:   123 kB" line of /proc/self/status, in KiB; -1 if absent. */
static long proc_status_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	size_t kl = strlen(key);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
			v = strtol(line + kl + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return v;
}

long peak_mem_reset(void)
{
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f != NULL) {
		fputs("5", f); /* reset the peak RSS (Linux >= 4.0) */
		fclose(f);
	}
	return proc_status_kib("VmRSS");
}

long peak_mem_kib(void)
{
	long v = proc_status_kib("VmHWM");
	if (v < 0) {
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		v = ru.ru_maxrss;
	}
	return v;
}
