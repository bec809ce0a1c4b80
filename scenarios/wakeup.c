/*
 * wake-up: the latency of waking a parked thread.
 *
 * side:recv  the receiver waits on an empty channel; after pause_ns the sender
 *            sends the current time; the receiver's latency is the time from
 *            just before that send to its own return from recv.
 * side:send  the sender waits on a full channel (capacity 1: one message
 *            buffered; capacity 0: no receiver yet); after pause_ns the
 *            receiver notes the time and receives; the sender's latency is the
 *            time from that note to its own return from send.
 *
 * pause_ns (200 us) is long enough for a spin-then-park design to have parked;
 * vcsw_per_wake shows whether it did. One sample per wake-up; msgs counts
 * messages moved (2 per round for side:send at capacity 1, else 1).
 *
 * Checked: every message arrives, in order (receiver side: strictly increasing
 * timestamps; sender side: the sequence numbers 1, 2, 3, ...).
 */
#include <stdlib.h>
#include <time.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

struct wk_run {
	const struct scenario_params *p;
	chan_t *ch;
	uint64_t rounds, per_round;
	struct team team;
	struct fault fault;
	int64_t *samples;
	uint64_t moved, woken;
	_Atomic int64_t t_wake; /* side:send: when the receiver began to wake the sender */
};

static void pause_for(int64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000), .tv_nsec = (long)(ns % 1000000000)};
	while (nanosleep(&ts, &ts) != 0)
		;
}

/* side:recv, the parked thread. */
static void *wk_parked_receiver(void *arg)
{
	struct wk_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	int64_t last = 0;
	for (uint64_t i = 0; i < run->rounds; i++) {
		uintptr_t v;
		chan_status st = chan_recv(run->ch, &v);
		int64_t now = measure_now_ns();
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: wake-up %llu: recv failed: %s",
			             (unsigned long long)i + 1, chan_status_str(st));
			break;
		}
		int64_t sent = (int64_t)v;
		if (sent <= last || sent > now) {
			fault_report(&run->fault, "discrepancy: wake-up %llu: received %lld, not a fresh timestamp",
			             (unsigned long long)i + 1, (long long)sent);
			break;
		}
		last = sent;
		run->samples[i] = now - sent;
		run->moved++;
		run->woken++;
	}
	return NULL;
}

/* side:recv, the waker. */
static void *wk_sender(void *arg)
{
	struct wk_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	for (uint64_t i = 0; i < run->rounds; i++) {
		pause_for(run->p->pause_ns);
		chan_status st = chan_send(run->ch, (uintptr_t)measure_now_ns());
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: wake-up %llu: send failed: %s",
			             (unsigned long long)i + 1, chan_status_str(st));
			break;
		}
	}
	return NULL;
}

/* side:send, the parked thread: fills the channel, then parks on one more send. */
static void *wk_parked_sender(void *arg)
{
	struct wk_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	uint64_t seq = 0;
	for (uint64_t i = 0; i < run->rounds; i++) {
		chan_status st = CHAN_OK;
		for (uint64_t k = 1; k < run->per_round && st == CHAN_OK; k++)
			st = chan_send(run->ch, (uintptr_t)++seq); /* into the buffer: does not park */
		if (st == CHAN_OK)
			st = chan_send(run->ch, (uintptr_t)++seq); /* parks until the receiver takes one */
		int64_t now = measure_now_ns();
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: wake-up %llu: send failed: %s",
			             (unsigned long long)i + 1, chan_status_str(st));
			break;
		}
		run->samples[i] = now - atomic_load(&run->t_wake);
		run->woken++;
	}
	return NULL;
}

/* side:send, the waker. */
static void *wk_receiver(void *arg)
{
	struct wk_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	uint64_t expect = 1;
	for (uint64_t i = 0; i < run->rounds; i++) {
		pause_for(run->p->pause_ns);
		atomic_store(&run->t_wake, measure_now_ns());
		for (uint64_t k = 0; k < run->per_round; k++) {
			uintptr_t v;
			chan_status st = chan_recv(run->ch, &v);
			if (st != CHAN_OK || v != expect) {
				fault_report(&run->fault, "discrepancy: wake-up %llu: expected message %llu, got %llu (%s)",
				             (unsigned long long)i + 1, (unsigned long long)expect,
				             (unsigned long long)v, chan_status_str(st));
				return NULL;
			}
			expect++;
			run->moved++;
		}
	}
	return NULL;
}

static bool wk_run(const struct scenario_params *p, struct scenario_result *r)
{
	struct wk_run *run = calloc(1, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	run->per_round = (p->side == 1 && p->capacity == 1) ? 2 : 1;
	run->rounds = p->msgs / run->per_round;
	run->samples = calloc(run->rounds + 1, sizeof *run->samples);
	if (run->samples == NULL) {
		result_fail(r, "setup: out of memory");
		free(run);
		return false;
	}
	if (!result_chan_create(r, p->impl, p->capacity, NULL, &run->ch)) {
		free(run->samples);
		free(run);
		return false;
	}
	team_init(&run->team, p->cores);
	bool ok = p->side == 0
	              ? team_start(&run->team, wk_parked_receiver, run, r) &&
	                    team_start(&run->team, wk_sender, run, r)
	              : team_start(&run->team, wk_parked_sender, run, r) &&
	                    team_start(&run->team, wk_receiver, run, r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		chan_destroy(run->ch);
		free(run->samples);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, &run->ch, 1))
		return false;
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	if (run->woken != run->rounds || run->moved != p->msgs)
		result_fail(r, "discrepancy: %llu of %llu wake-ups, %llu of %llu messages",
		            (unsigned long long)run->woken, (unsigned long long)run->rounds,
		            (unsigned long long)run->moved, (unsigned long long)p->msgs);
	r->msgs = run->moved;
	if (r->ok) {
		result_add_samples(r, run->samples, run->rounds);
		result_counter(r, "pause_ns", (double)p->pause_ns);
		result_counter(r, "vcsw_per_wake", (double)r->vcsw / (double)run->rounds);
	}
	chan_destroy(run->ch);
	team_destroy(&run->team);
	free(run->samples);
	free(run);
	return r->ok;
}

#define WK(sidename, sd, capname, cap, n, unit)                                                    \
	{"side:" sidename "/cap:" capname,                                                         \
	 {.capacity = (cap), .producers = 1, .consumers = 1, .msgs = (n), .side = (sd),           \
	  .pause_ns = 200000},                                                                     \
	 (unit)}

static const struct scenario_case cases[] = {
	WK("recv", 0, "0", 0, 1000, 1),
	WK("recv", 0, "1", 1, 1000, 1),
	WK("send", 1, "0", 0, 1000, 1),
	WK("send", 1, "1", 1, 2000, 2),
};

const struct scenario scenario_wakeup = {
	.name = "wakeup",
	.description = "a receiver parked on an empty channel (or a sender on a full one) is woken after a pause: wake-up latency",
	.counters_doc = "p50_ns, p99_ns, p999_ns, mean_ns, max_ns: from the waker's call to the parked "
	                "thread's return; pause_ns: how long it was parked first; vcsw_per_wake: "
	                "voluntary context switches per wake-up (about 2 when the thread really parked)",
	.run = wk_run,
	.needs = CHAN_CAP_BLOCKING,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
