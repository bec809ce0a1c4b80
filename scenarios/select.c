/*
 * select: one receiver multiplexes K producers with chan_select (Go's
 * `for { select { case m := <-in[0]: ... case <-done: ... } }`). Each of the K
 * producers owns one input channel and sends msgs/K messages (producer, 1..n)
 * on it, then drops its sender handle, which closes that channel; the last
 * producer to finish also closes a control channel that nobody ever sends on.
 * The receiver selects fairly over the K inputs and the control channel; a
 * case that reports CLOSED is switched off (its channel set to NULL, Go's nil
 * channel), and the run ends when all K + 1 cases are off.
 *
 * Reported: msgs/s through the select, and each producer's share of the first
 * half of the messages received (fair select over equally fast producers
 * should give each about 1/K): fairness_jain, share_min, share_max,
 * max_over_min, as fan-in reports them.
 *
 * Checked: count and checksum of what was received; each producer's messages
 * arrived on its own case, in order, none skipped (seq goes up by exactly 1);
 * an input reported CLOSED only after all of its messages were received (a
 * closed channel is ready only once drained); the control channel never
 * delivered a value and reported CLOSED exactly once; nothing was left
 * undelivered in any channel.
 */
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define SEL_MAX_INPUTS 8

struct sel_run;

/* Producers each own a cache line (the receiver's tallies are in sel_run). */
struct sel_producer {
	_Alignas(64) struct sel_run *run;
	int id;
	chan_t *ch;
};

struct sel_run {
	const struct scenario_params *p;
	int k;
	uint64_t per_producer;
	chan_t *control;
	atomic_int running; /* producers not yet finished; the last one closes control */
	struct team team;
	struct fault fault;
	atomic_ullong undelivered;
	struct sel_producer prod[SEL_MAX_INPUTS];
	/* receiver's tallies */
	_Alignas(64) uint64_t count, sum;
	uint64_t last[SEL_MAX_INPUTS], first_half[SEL_MAX_INPUTS];
	int control_closed;
};

static void *sel_produce(void *arg)
{
	struct sel_producer *w = arg;
	struct sel_run *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	for (uint64_t s = 1; s <= run->per_producer; s++) {
		chan_status st = chan_send(w->ch, msg_encode(w->id, s));
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: producer %d: send of message %llu failed: %s",
			             w->id, (unsigned long long)s, chan_status_str(st));
			break;
		}
	}
	chan_sender_drop(w->ch); /* the only sender: this closes the input */
	if (atomic_fetch_sub(&run->running, 1) == 1)
		chan_close(run->control);
	return NULL;
}

static void *sel_receive(void *arg)
{
	struct sel_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	int k = run->k;
	uint64_t half = run->p->msgs / 2;
	chan_case cases[SEL_MAX_INPUTS + 1];
	for (int i = 0; i < k; i++)
		cases[i] = (chan_case){.ch = run->prod[i].ch, .dir = CHAN_DIR_RECV};
	cases[k] = (chan_case){.ch = run->control, .dir = CHAN_DIR_RECV};
	int open = k + 1;
	while (open > 0) {
		size_t c = SIZE_MAX;
		/* CHAN_FOREVER: a lost wake-up is caught by the run timeout, which
		 * closes every channel; closed cases are ready, so this returns. */
		chan_status st = chan_select(cases, (size_t)k + 1, CHAN_SELECT_FAIR, CHAN_FOREVER, &c);
		if (c > (size_t)k || (st != CHAN_OK && st != CHAN_CLOSED)) {
			fault_report(&run->fault, "discrepancy: chan_select returned %s, case %zu",
			             chan_status_str(st), c);
			break;
		}
		if (cases[c].ch == NULL) {
			fault_report(&run->fault, "discrepancy: chan_select chose case %zu, which is off", c);
			break;
		}
		int i = (int)c;
		if (st == CHAN_CLOSED) {
			if (i == k)
				run->control_closed++;
			else if (run->last[i] != run->per_producer)
				fault_report(&run->fault,
				             "discrepancy: input %d reported closed after %llu of %llu messages", i,
				             (unsigned long long)run->last[i],
				             (unsigned long long)run->per_producer);
			cases[c].ch = NULL;
			open--;
			continue;
		}
		uintptr_t m = cases[c].msg;
		if (i == k) {
			fault_report(&run->fault, "discrepancy: the control channel delivered %#llx",
			             (unsigned long long)m);
			break;
		}
		run->count++;
		run->sum += msg_mix(m);
		if (msg_producer(m) != i || msg_seq(m) != run->last[i] + 1) {
			fault_report(&run->fault,
			             "discrepancy: case %d delivered producer %d seq %llu, expected producer "
			             "%d seq %llu",
			             i, msg_producer(m), (unsigned long long)msg_seq(m), i,
			             (unsigned long long)run->last[i] + 1);
			break;
		}
		run->last[i] = msg_seq(m);
		if (run->count <= half)
			run->first_half[i]++;
	}
	if (open > 0) {
		/* Gave up early: close the inputs so that blocked producers return. */
		for (int i = 0; i < k; i++)
			chan_close(run->prod[i].ch);
	}
	return NULL;
}

static void sel_destroy_chans(struct sel_run *run)
{
	for (int i = 0; i < run->k; i++)
		if (run->prod[i].ch != NULL)
			chan_destroy(run->prod[i].ch);
	if (run->control != NULL)
		chan_destroy(run->control);
}

static bool sel_run(const struct scenario_params *p, struct scenario_result *r)
{
	int k = p->producers;
	if (k < 1 || k > SEL_MAX_INPUTS || p->consumers != 1 || p->msgs % (uint64_t)k != 0) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct sel_run *run = aligned_alloc(64, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	memset(run, 0, sizeof *run);
	run->p = p;
	run->k = k;
	run->per_producer = p->msgs / (uint64_t)k;
	atomic_init(&run->running, k);
	uint64_t expected = msg_expected_sum(k, run->per_producer);
	chan_config cfg = {.undelivered = msg_count_undelivered, .undelivered_ctx = &run->undelivered};
	bool ok = result_chan_create(r, p->impl, p->capacity, &cfg, &run->control);
	for (int i = 0; i < k && ok; i++) {
		run->prod[i] = (struct sel_producer){.run = run, .id = i};
		ok = result_chan_create(r, p->impl, p->capacity, &cfg, &run->prod[i].ch);
	}
	if (!ok) {
		sel_destroy_chans(run);
		free(run);
		return false;
	}

	team_init(&run->team, p->cores);
	ok = team_start(&run->team, sel_receive, run, r);
	for (int i = 0; i < k && ok; i++)
		ok = team_start(&run->team, sel_produce, &run->prod[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		sel_destroy_chans(run);
		free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	chan_t *rescue[SEL_MAX_INPUTS + 1];
	for (int i = 0; i < k; i++)
		rescue[i] = run->prod[i].ch;
	rescue[k] = run->control;
	if (!team_finish(&run->team, &m, r, p->timeout_ns, rescue, (size_t)k + 1))
		return false; /* threads still running: leak run and channels */

	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	if (run->count != p->msgs || run->sum != expected)
		result_fail(r, "discrepancy: received %llu of %llu messages, checksum %s",
		            (unsigned long long)run->count, (unsigned long long)p->msgs,
		            run->sum == expected ? "ok" : "wrong");
	if (run->control_closed != 1)
		result_fail(r, "discrepancy: the control channel reported closed %d times, expected once",
		            run->control_closed);
	sel_destroy_chans(run);
	if (atomic_load(&run->undelivered) != 0)
		result_fail(r, "discrepancy: %llu messages left undelivered in the channels",
		            (unsigned long long)atomic_load(&run->undelivered));
	r->msgs = run->count;
	r->checksum = run->sum;
	if (r->ok) {
		uint64_t tot = 0, mn = UINT64_MAX, mx = 0;
		for (int i = 0; i < k; i++) {
			tot += run->first_half[i];
			mn = run->first_half[i] < mn ? run->first_half[i] : mn;
			mx = run->first_half[i] > mx ? run->first_half[i] : mx;
		}
		result_counter(r, "fairness_jain", fairness_jain(run->first_half, k));
		result_counter(r, "share_min", tot ? (double)mn / (double)tot : 0);
		result_counter(r, "share_max", tot ? (double)mx / (double)tot : 0);
		result_counter(r, "max_over_min", (double)mx / (double)(mn ? mn : 1));
		result_counter(r, "producers", k);
	}
	team_destroy(&run->team);
	free(run);
	return r->ok;
}

/* producers = K inputs (one producer each); consumers = the one selecting receiver.
 * Every channel (inputs and control) has the case's capacity. */
#define SEL(capname, cap, n)                                                                      \
	{"producers:4/cap:" capname, {.capacity = (cap), .producers = 4, .consumers = 1, .msgs = (n)}, 4}

static const struct scenario_case cases[] = {
	SEL("0", 0, 40000),
	SEL("1", 1, 40000),
	SEL("64", 64, 200000),
	SEL("unbounded", CHAN_UNBOUNDED, 400000),
};

const struct scenario scenario_select = {
	.name = "select",
	.description = "one receiver selects (fair) over 4 producers' channels and a control channel "
	               "closed at the end: msgs/s and per-producer share",
	.counters_doc = "fairness_jain: Jain's index of the producers' shares of the first half of the "
	                "messages (1 = equal, 1/K = one producer took all); share_min, share_max: the "
	                "smallest and largest share (fractions); max_over_min: their ratio; producers: K "
	                "(inputs, one producer each; cap is every channel's)",
	.run = sel_run,
	.needs = CHAN_CAP_SELECT | CHAN_CAP_CLOSE,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
