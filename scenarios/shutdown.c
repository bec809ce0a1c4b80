/*
 * shutdown: threads blocked in a channel when it closes. Each round makes two
 * channels of the case's capacity K: on `full`, P producers send until it is
 * full and all of them are parked in send; on `empty`, C consumers are parked
 * in recv. Once everyone has been parked for pause_ns, the main thread closes
 * both and measures the time until every thread has returned (one sample per
 * round). Then it receives half of what `full` buffered and destroys it; the
 * rest reaches the undelivered callback.
 *
 * Checked every round (conservation): received + failed sends (the value
 * handed back) + undelivered == attempted sends, by count and by checksum;
 * exactly K sends succeeded before the close and each producer's one pending
 * send failed with CLOSED; consumers got CLOSED and nothing else. msgs counts
 * attempted sends (K + P per round).
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define SD_MAX_SIDE 8
#define SD_POLL_NS 50000

struct sd_run;

struct sd_worker {
	struct sd_run *run;
	int id;
	atomic_bool inside;     /* in a send / recv call now */
	atomic_bool returned;
	int64_t t_return;
	uint64_t ok, failed, ok_sum, failed_sum, got;
	chan_status last;
};

struct sd_run {
	const struct scenario_params *p;
	chan_t *full, *empty;
	struct team team;
	atomic_ullong accepted; /* successful sends on `full` this round */
	struct sd_worker prod[SD_MAX_SIDE], cons[SD_MAX_SIDE];
	uint64_t undelivered, undelivered_sum;
};

static void *sd_produce(void *arg)
{
	struct sd_worker *w = arg;
	struct sd_run *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	for (uint64_t s = 1;; s++) {
		uintptr_t m = msg_encode(w->id, s);
		atomic_store(&w->inside, true);
		chan_status st = chan_send(run->full, m);
		atomic_store(&w->inside, false);
		if (st == CHAN_OK) {
			w->ok++;
			w->ok_sum += msg_mix(m);
			atomic_fetch_add(&run->accepted, 1);
			continue;
		}
		w->failed++;
		w->failed_sum += msg_mix(m); /* the value came back to us */
		w->last = st;
		break;
	}
	w->t_return = measure_now_ns();
	atomic_store(&w->returned, true);
	return NULL;
}

static void *sd_consume(void *arg)
{
	struct sd_worker *w = arg;
	struct sd_run *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	uintptr_t m;
	chan_status st;
	atomic_store(&w->inside, true);
	while ((st = chan_recv(run->empty, &m)) == CHAN_OK)
		w->got++;
	atomic_store(&w->inside, false);
	w->last = st;
	w->t_return = measure_now_ns();
	atomic_store(&w->returned, true);
	return NULL;
}

static void sd_undelivered(uintptr_t msg, void *ctx)
{
	struct sd_run *run = ctx;
	run->undelivered++;
	run->undelivered_sum += msg_mix(msg);
}

/* Wait until every thread is inside its call and no send has succeeded for
 * pause_ns. False if that does not happen before the deadline. */
static bool sd_wait_parked(struct sd_run *run, int64_t deadline)
{
	const struct scenario_params *p = run->p;
	uint64_t last = UINT64_MAX;
	int64_t stable_since = 0;
	for (;;) {
		int64_t now = measure_now_ns();
		if (now > deadline)
			return false;
		bool all = true;
		for (int i = 0; i < p->producers; i++)
			all = all && atomic_load(&run->prod[i].inside) && !atomic_load(&run->prod[i].returned);
		for (int i = 0; i < p->consumers; i++)
			all = all && atomic_load(&run->cons[i].inside) && !atomic_load(&run->cons[i].returned);
		uint64_t acc = atomic_load(&run->accepted);
		if (!all || acc != last) {
			last = acc;
			stable_since = now;
		} else if (now - stable_since >= p->pause_ns) {
			return true;
		}
		struct timespec ts = {0, SD_POLL_NS};
		nanosleep(&ts, NULL);
	}
}

/* One round; false with r failed on a discrepancy or a hang (*leak: threads still run). */
static bool sd_round(struct sd_run *run, struct scenario_result *r, int64_t *latency, bool *leak)
{
	const struct scenario_params *p = run->p;
	size_t k = p->capacity;
	chan_config cfg = {.undelivered = sd_undelivered, .undelivered_ctx = run};
	run->full = run->empty = NULL;
	run->undelivered = run->undelivered_sum = 0;
	atomic_store(&run->accepted, 0);
	if (!result_chan_create(r, p->impl, k, &cfg, &run->full))
		return false;
	if (!result_chan_create(r, p->impl, k, NULL, &run->empty)) {
		chan_destroy(run->full);
		return false;
	}
	team_init(&run->team, p->cores);
	bool ok = true;
	for (int i = 0; i < p->producers && ok; i++) {
		memset(&run->prod[i], 0, sizeof run->prod[i]);
		run->prod[i].run = run;
		run->prod[i].id = i;
		ok = team_start(&run->team, sd_produce, &run->prod[i], r);
	}
	for (int i = 0; i < p->consumers && ok; i++) {
		memset(&run->cons[i], 0, sizeof run->cons[i]);
		run->cons[i].run = run;
		run->cons[i].id = i;
		ok = team_start(&run->team, sd_consume, &run->cons[i], r);
	}
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		chan_destroy(run->full);
		chan_destroy(run->empty);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	int64_t timeout = p->timeout_ns > 0 ? p->timeout_ns : (int64_t)60000000000;
	if (!sd_wait_parked(run, measure_now_ns() + timeout))
		result_fail(r, "hung: producers and consumers did not all park within %.1f s (accepted %llu sends)",
		            (double)timeout / 1e9, (unsigned long long)atomic_load(&run->accepted));
	int64_t t0 = measure_now_ns();
	chan_close(run->full);
	chan_close(run->empty);
	chan_t *chans[2] = {run->full, run->empty};
	struct scenario_result round_r;
	scenario_result_init(&round_r);
	if (!team_finish(&run->team, &m, &round_r, timeout, chans, 2)) {
		*leak = true;
		result_fail(r, "%s", round_r.error);
		return false;
	}
	if (!round_r.ok)
		result_fail(r, "%s (after close)", round_r.error);
	team_destroy(&run->team);
	int64_t last = t0;
	uint64_t ok_n = 0, ok_sum = 0, failed = 0, failed_sum = 0;
	for (int i = 0; i < p->producers; i++) {
		struct sd_worker *w = &run->prod[i];
		last = w->t_return > last ? w->t_return : last;
		ok_n += w->ok;
		ok_sum += w->ok_sum;
		failed += w->failed;
		failed_sum += w->failed_sum;
		if (w->failed != 1 || w->last != CHAN_CLOSED)
			result_fail(r, "discrepancy: producer %d: pending send ended with %s, not closed", i,
			            chan_status_str(w->last));
	}
	for (int i = 0; i < p->consumers; i++) {
		struct sd_worker *w = &run->cons[i];
		last = w->t_return > last ? w->t_return : last;
		if (w->got != 0 || w->last != CHAN_CLOSED)
			result_fail(r, "discrepancy: consumer %d: received %llu from a channel nobody sent on, ended with %s",
			            i, (unsigned long long)w->got, chan_status_str(w->last));
	}
	*latency = last - t0;
	/* Receive half of what was buffered; destroy hands the rest to sd_undelivered. */
	uint64_t received = 0, received_sum = 0;
	for (uint64_t i = 0; i < ok_n / 2; i++) {
		uintptr_t v;
		chan_status st = chan_recv(run->full, &v);
		if (st != CHAN_OK) {
			result_fail(r, "discrepancy: draining after close: recv %llu of %llu: %s",
			            (unsigned long long)i + 1, (unsigned long long)ok_n / 2, chan_status_str(st));
			break;
		}
		received++;
		received_sum += msg_mix(v);
	}
	chan_destroy(run->full);
	chan_destroy(run->empty);
	uint64_t attempted = ok_n + failed;
	if (ok_n != k)
		result_fail(r, "discrepancy: %llu sends succeeded on a channel of capacity %zu before it closed",
		            (unsigned long long)ok_n, k);
	if (received + run->undelivered != ok_n || received_sum + run->undelivered_sum != ok_sum)
		result_fail(r,
		            "discrepancy: received %llu + failed sends %llu + undelivered %llu != attempted %llu "
		            "(or checksums differ)",
		            (unsigned long long)received, (unsigned long long)failed,
		            (unsigned long long)run->undelivered, (unsigned long long)attempted);
	(void)failed_sum;
	r->msgs += received + failed + run->undelivered;
	return r->ok;
}

static bool sd_run(const struct scenario_params *p, struct scenario_result *r)
{
	if (p->producers < 1 || p->producers > SD_MAX_SIDE || p->consumers < 1 ||
	    p->consumers > SD_MAX_SIDE || p->capacity == CHAN_UNBOUNDED) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	uint64_t per_round = p->capacity + (uint64_t)p->producers;
	uint64_t rounds = p->msgs / per_round;
	struct sd_run *run = calloc(1, sizeof *run);
	int64_t *samples = calloc(rounds + 1, sizeof *samples);
	if (run == NULL || samples == NULL) {
		free(run);
		free(samples);
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	struct measure m;
	measure_begin(&m);
	bool leak = false;
	uint64_t done = 0;
	for (; done < rounds; done++)
		if (!sd_round(run, r, &samples[done], &leak))
			break;
	measure_end(&m, r);
	if (leak)
		return false;
	if (r->ok) {
		result_add_samples(r, samples, done);
		result_counter(r, "rounds", (double)done);
		result_counter(r, "pause_ns", (double)p->pause_ns);
	}
	free(samples);
	free(run);
	return r->ok;
}

#define SD(capname, cap, rounds)                                                                  \
	{"cap:" capname,                                                                          \
	 {.capacity = (cap), .producers = 2, .consumers = 2, .pause_ns = 1000000,                 \
	  .msgs = (rounds) * ((cap) + 2)},                                                        \
	 (cap) + 2}

static const struct scenario_case cases[] = {
	SD("0", 0, 100),
	SD("16", 16, 100),
};

const struct scenario scenario_shutdown = {
	.name = "shutdown",
	.description = "producers parked on a full channel and consumers on an empty one when both close: time until every thread returned; nothing lost",
	.counters_doc = "p50_ns, p99_ns, p999_ns, mean_ns, max_ns: from close to the last thread's return "
	                "(one sample per round); rounds; pause_ns: how long everyone was parked first. "
	                "Thread start-up is inside wall time here: ns_per_msg is not a channel cost",
	.run = sd_run,
	.needs = CHAN_CAP_BLOCKING | CHAN_CAP_CLOSE,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
