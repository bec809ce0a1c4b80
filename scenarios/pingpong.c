/*
 * ping-pong: two threads, two channels of capacity 0 or 1. The initiator sends
 * i on one channel, the echo thread answers msg_mix(i) on the other; one sample
 * per round trip (a clock read on each side of it), reported as p50/p99/p99.9.
 * msgs counts messages (2 per round trip), so ns_per_msg is half a round trip.
 *
 * Checked: the echo thread sees 1, 2, 3, ... in order; every answer is the
 * right one; both sides moved every message.
 *
 * Each thread counts in a local and stores its count once, at the end, into its
 * own cache line: nothing either thread writes during the timed round trips
 * shares a line with what the other reads or writes (a shared counter line
 * cost every C channel one extra cross-core miss per round trip; the Go and
 * Rust peers keep theirs in locals too).
 */
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

/* Two lines: the adjacent-line prefetcher pairs 64-byte lines. */
#define PP_LINE 128

struct pp_run {
	const struct scenario_params *p;
	chan_t *ping, *pong;
	uint64_t rounds, warmup;
	struct team team;
	struct fault fault;
	int64_t *samples;
	/* Written once, after the last round trip, each by its own thread. */
	_Alignas(PP_LINE) uint64_t answered;
	_Alignas(PP_LINE) uint64_t echoed;
};

static void *pp_initiator(void *arg)
{
	struct pp_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	int64_t *samples = run->samples;
	uint64_t rounds = run->rounds, warmup = run->warmup, answered = 0;
	for (uint64_t i = 1; i <= rounds; i++) {
		int64_t t0 = measure_now_ns();
		chan_status st = send_msg(run->ping, (uintptr_t)i, spin);
		uintptr_t v = 0;
		if (st == CHAN_OK)
			st = recv_msg(run->pong, &v, spin);
		int64_t t1 = measure_now_ns();
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: round trip %llu failed: %s",
			             (unsigned long long)i, chan_status_str(st));
			break;
		}
		if (v != (uintptr_t)msg_mix(i)) {
			fault_report(&run->fault, "discrepancy: round trip %llu answered %#llx", (unsigned long long)i,
			             (unsigned long long)v);
			break;
		}
		answered++;
		if (i > warmup)
			samples[i - warmup - 1] = t1 - t0;
	}
	run->answered = answered;
	chan_sender_drop(run->ping);
	return NULL;
}

static void *pp_echo(void *arg)
{
	struct pp_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	uintptr_t v;
	chan_status st;
	uint64_t echoed = 0;
	while ((st = recv_msg(run->ping, &v, spin)) == CHAN_OK) {
		if (v != echoed + 1) {
			fault_report(&run->fault, "discrepancy: echo expected %llu, received %llu",
			             (unsigned long long)echoed + 1, (unsigned long long)v);
			break;
		}
		echoed++;
		st = send_msg(run->pong, (uintptr_t)msg_mix(v), spin);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: echo of %llu failed: %s", (unsigned long long)v,
			             chan_status_str(st));
			break;
		}
	}
	if (st != CHAN_OK && st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: echo recv failed: %s", chan_status_str(st));
	run->echoed = echoed;
	chan_sender_drop(run->pong);
	return NULL;
}

static bool pp_run(const struct scenario_params *p, struct scenario_result *r)
{
	struct pp_run *run = aligned_alloc(PP_LINE, sizeof *run);
	if (run != NULL)
		memset(run, 0, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	run->rounds = p->msgs / 2;
	run->warmup = run->rounds / 100;
	run->samples = calloc(run->rounds - run->warmup + 1, sizeof *run->samples);
	if (run->samples == NULL || !result_chan_create(r, p->impl, p->capacity, NULL, &run->ping)) {
		result_fail(r, "setup: out of memory");
		free(run->samples);
		free(run);
		return false;
	}
	if (!result_chan_create(r, p->impl, p->capacity, NULL, &run->pong)) {
		chan_destroy(run->ping);
		free(run->samples);
		free(run);
		return false;
	}
	team_init(&run->team, p->cores);
	if (!team_start(&run->team, pp_echo, run, r) || !team_start(&run->team, pp_initiator, run, r)) {
		team_abort(&run->team);
		team_destroy(&run->team);
		chan_destroy(run->ping);
		chan_destroy(run->pong);
		free(run->samples);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	chan_t *chans[2] = {run->ping, run->pong};
	if (!team_finish(&run->team, &m, r, p->timeout_ns, chans, 2))
		return false;
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	if (run->answered != run->rounds || run->echoed != run->rounds)
		result_fail(r, "discrepancy: %llu of %llu round trips answered, %llu echoed",
		            (unsigned long long)run->answered, (unsigned long long)run->rounds,
		            (unsigned long long)run->echoed);
	r->msgs = run->answered + run->echoed;
	if (r->ok) {
		result_add_samples(r, run->samples, run->rounds - run->warmup);
		result_counter(r, "round_trips_per_s",
		               r->wall_ns > 0 ? (double)run->rounds * 1e9 / (double)r->wall_ns : 0);
	}
	chan_destroy(run->ping);
	chan_destroy(run->pong);
	team_destroy(&run->team);
	free(run->samples);
	free(run);
	return r->ok;
}

/* Messages (2 per round trip), the same in peers/go/main.go and peers/rust/src/lib.rs. */
static const struct scenario_case cases[] = {
	{"cap:0", {.capacity = 0, .producers = 1, .consumers = 1, .msgs = 40000}, 2},
	{"cap:1", {.capacity = 1, .producers = 1, .consumers = 1, .msgs = 100000}, 2},
};

const struct scenario scenario_pingpong = {
	.name = "pingpong",
	.description = "two threads, two channels of capacity 0 or 1: round-trip latency p50/p99/p99.9",
	.counters_doc = "p50_ns, p99_ns, p999_ns, mean_ns, max_ns: round-trip latency (the first 1% "
	                "of round trips are warm-up, not sampled); round_trips_per_s",
	.run = pp_run,
	.needs = 0,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
