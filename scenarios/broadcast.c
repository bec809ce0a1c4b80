/*
 * broadcast: one sender fans every message out to N subscribers of a
 * broadcast channel (kinds.h) of capacity `cap`. A broadcast send never
 * blocks; a subscriber that falls more than cap behind is told how many it
 * missed. The sender paces itself (as a publisher that must not lose updates
 * would): it stays at most cap/2 messages ahead of the slowest subscriber it
 * waits for, so the run measures delivery to every subscriber; side = 1
 * (pace:none) lets it run flat out, and the subscribers lag. With `work_ns`
 * set, subscriber 0 does that much work per message and is not waited for (a
 * slow consumer): it lags, the others must not be held back.
 *
 * Runs the broadcast implementations (kind "bcast"), not the queue ones.
 * msgs counts messages sent. Reported: sends/s (the runner's msgs_per_s),
 * deliveries/s over all subscribers, the fraction of the sends the subscribers
 * received, messages missed and lag events (recvs that reported a lag).
 *
 * Checked, per subscriber: every message came from the sender, in order; each
 * gap in the sequence numbers is exactly the missed count its recv reported
 * (B2); received + missed == sent; the last message it got is the final send
 * (B3: CLOSED only after the retained ones); a subscriber that never lagged
 * has the checksum of every message.
 */
#include <stdlib.h>

#include "chanbench/kinds.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define BC_MAX_SUBS 32

struct bc_run;

struct bc_sub {
	struct bc_run *run;
	int id;
	bcast_rx_t *rx;
	uint64_t received, missed, lag_events, sum, last;
	_Atomic uint64_t progress; /* last sequence number taken, for the sender's pacing */
};

struct bc_run {
	const struct scenario_params *p;
	bcast_t *b;
	struct team team;
	struct fault fault;
	uint64_t sent;
	struct bc_sub sub[BC_MAX_SUBS];
};

static void busy_ns(int64_t ns)
{
	int64_t end = measure_now_ns() + ns;
	while (measure_now_ns() < end)
		cpu_relax();
}

/* The lowest progress of the subscribers the sender waits for (not a slow one). */
static uint64_t bc_min_progress(struct bc_run *run)
{
	uint64_t min = UINT64_MAX;
	for (int i = run->p->work_ns > 0 ? 1 : 0; i < run->p->consumers; i++) {
		uint64_t x = atomic_load_explicit(&run->sub[i].progress, memory_order_relaxed);
		if (x < min)
			min = x;
	}
	return min;
}

static void *bc_sender(void *arg)
{
	struct bc_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	uint64_t window = run->p->capacity / 2 > 0 ? run->p->capacity / 2 : 1;
	bool paced = run->p->side == 0;
	uint64_t floor = 0; /* a known lower bound of bc_min_progress */
	for (uint64_t k = 1; k <= run->p->msgs; k++) {
		for (unsigned spins = 0; paced && k - 1 - floor >= window;) {
			floor = bc_min_progress(run);
			if (k - 1 - floor < window || floor == UINT64_MAX)
				break;
			if (++spins < SPIN_BEFORE_YIELD)
				cpu_relax();
			else
				sched_yield();
		}
		chan_status st = bcast_send(run->b, msg_encode(0, k));
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: send %llu failed: %s", (unsigned long long)k,
			             chan_status_str(st));
			break;
		}
		run->sent++;
	}
	bcast_close(run->b);
	return NULL;
}

static void *bc_subscriber(void *arg)
{
	struct bc_sub *s = arg;
	struct bc_run *run = s->run;
	if (!team_ready(&run->team))
		return NULL;
	int64_t work = s->id == 0 ? run->p->work_ns : 0;
	uintptr_t v;
	uint64_t missed;
	chan_status st;
	while ((st = bcast_recv(s->rx, &v, &missed, CHAN_FOREVER)) == CHAN_OK) {
		uint64_t seq = msg_seq(v);
		if (msg_producer(v) != 0 || seq != s->last + 1 + missed) {
			fault_report(&run->fault,
			             "discrepancy: subscriber %d: after message %llu got %llu with %llu reported "
			             "missed",
			             s->id, (unsigned long long)s->last, (unsigned long long)seq,
			             (unsigned long long)missed);
			atomic_store(&s->progress, UINT64_MAX); /* do not hold the sender back */
			break;
		}
		s->received++;
		s->missed += missed;
		s->lag_events += missed != 0;
		s->sum += msg_mix(v);
		s->last = seq;
		atomic_store_explicit(&s->progress, seq, memory_order_relaxed);
		if (work > 0)
			busy_ns(work);
	}
	if (st != CHAN_OK && st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: subscriber %d: recv failed: %s", s->id,
		             chan_status_str(st));
	return NULL;
}

static bool bc_run(const struct scenario_params *p, struct scenario_result *r)
{
	int ns = p->consumers;
	if (ns < 1 || ns > BC_MAX_SUBS || p->capacity == 0 || p->capacity == CHAN_UNBOUNDED) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct bc_run *run = calloc(1, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	chan_status st = bcast_create(p->impl, p->capacity, &run->b);
	for (int i = 0; i < ns && st == CHAN_OK; i++) {
		run->sub[i] = (struct bc_sub){.run = run, .id = i};
		st = bcast_subscribe(run->b, &run->sub[i].rx);
	}
	if (st != CHAN_OK) {
		result_fail(r, "setup: bcast %s: %s", p->impl, chan_status_str(st));
		if (run->b != NULL)
			bcast_destroy(run->b);
		free(run);
		return false;
	}
	uint64_t expected_sum = msg_expected_sum(1, p->msgs);
	team_init(&run->team, p->cores);
	bool ok = team_start(&run->team, bc_sender, run, r);
	for (int i = 0; i < ns && ok; i++)
		ok = team_start(&run->team, bc_subscriber, &run->sub[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		bcast_destroy(run->b);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, NULL, 0))
		return false; /* threads still blocked in the channel: leak the run */
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	uint64_t received = 0, missed = 0, lags = 0;
	for (int i = 0; i < ns && r->ok; i++) {
		struct bc_sub *s = &run->sub[i];
		if (s->received + s->missed != run->sent || s->last != run->sent)
			result_fail(r,
			            "discrepancy: subscriber %d: received %llu + missed %llu != sent %llu "
			            "(last message %llu)",
			            i, (unsigned long long)s->received, (unsigned long long)s->missed,
			            (unsigned long long)run->sent, (unsigned long long)s->last);
		else if (s->missed == 0 && s->sum != expected_sum)
			result_fail(r, "discrepancy: subscriber %d: checksum of every message is wrong", i);
		received += s->received;
		missed += s->missed;
		lags += s->lag_events;
		r->checksum += s->sum;
	}
	r->msgs = run->sent;
	if (r->ok) {
		double wall = (double)r->wall_ns;
		result_counter(r, "deliveries_per_s", wall > 0 ? (double)received * 1e9 / wall : 0);
		result_counter(r, "received_frac",
		               run->sent > 0 ? (double)received / ((double)run->sent * ns) : 0);
		result_counter(r, "missed", (double)missed);
		result_counter(r, "lag_events", (double)lags);
		result_counter(r, "subs", ns);
	}
	team_destroy(&run->team);
	bcast_destroy(run->b);
	free(run);
	return r->ok;
}

#define BC(key, subs, cap, work, pace, n)                                                         \
	{key,                                                                                     \
	 {.capacity = (cap), .producers = 1, .consumers = (subs), .work_ns = (work), .side = (pace),   \
	  .msgs = (n)},                                                                            \
	 1}

static const struct scenario_case cases[] = {
	BC("subs:1/cap:64", 1, 64, 0, 0, 400000),
	BC("subs:4/cap:64", 4, 64, 0, 0, 200000),
	BC("subs:4/cap:1024", 4, 1024, 0, 0, 200000),
	BC("subs:4/cap:64/slow:1", 4, 64, 2000, 0, 200000),
	BC("subs:4/cap:64/pace:none", 4, 64, 0, 1, 400000),
};

const struct scenario scenario_broadcast = {
	.name = "broadcast",
	.description = "one sender fans out to N subscribers of a broadcast channel; slow ones lag and are told how many they missed",
	.counters_doc = "deliveries_per_s: messages received over all subscribers per second; received_frac: "
	                "received / (sent x subs); missed: messages the subscribers were told they lost; "
	                "lag_events: recvs that reported a loss; subs. The sender stays at most cap/2 ahead of "
	                "the subscribers it waits for (pace:none: it never waits); slow:1 = subscriber 0 "
	                "works 2 us per message and is not waited for. msgs_per_s counts sends",
	.run = bc_run,
	.needs = 0,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
	.kind = "bcast",
};
