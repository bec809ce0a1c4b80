/*
 * oneshot: request/reply where each request carries its own oneshot (the
 * tokio actor pattern: `let (tx, rx) = oneshot::channel(); send((req, tx));
 * rx.await`). C clients and one server thread; the requests travel on one
 * queue channel of implementation "futex" (capacity 64) whatever oneshot is
 * measured, so runs differ only in the oneshot. For every round trip a client
 * creates a oneshot, sends a request naming it, receives the reply and drops
 * its receiver (the oneshot frees itself: the server's send gave up the
 * sender). With side = D > 0 (drop:D) the server answers every D-th request by
 * dropping the sender unsent, and the client must see CLOSED (O1).
 *
 * Runs the oneshot implementations (kind "oneshot"). msgs counts messages: a
 * request and its reply (or its "no reply" notice), 2 per round trip.
 * Reported: round trips per second and round-trip latency percentiles.
 *
 * Checked: every reply is the server's function of that request's value; the
 * dropped ones, and only those, came back CLOSED; the sum of the replies is the
 * one computed before the run; the server handled exactly as many requests as
 * were sent.
 */
#include <stdlib.h>

#include "chanbench/kinds.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define OS_MAX_CLIENTS 16
#define OS_REQUEST_IMPL "futex"

struct os_request {
	oneshot_t *reply;
	uint64_t value;
};

struct os_run;

struct os_client {
	struct os_run *run;
	int id;
	struct os_request req;
	uint64_t done, closed, sum;
	int64_t *samples;
};

struct os_run {
	const struct scenario_params *p;
	chan_t *requests;
	uint64_t per_client;
	struct team team;
	struct fault fault;
	uint64_t served, dropped;
	struct os_client client[OS_MAX_CLIENTS];
};

/* Whether the server drops request k (1-based) unanswered. */
static bool os_drops(const struct scenario_params *p, uint64_t k)
{
	return p->side > 0 && k % (uint64_t)p->side == 0;
}

static void *os_server(void *arg)
{
	struct os_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	uintptr_t v;
	chan_status st;
	while ((st = chan_recv(run->requests, &v)) == CHAN_OK) {
		struct os_request *req = (struct os_request *)v;
		/* read everything first: once answered, the client reuses the record */
		oneshot_t *reply = req->reply;
		uint64_t value = req->value;
		if (os_drops(run->p, msg_seq(value))) {
			st = oneshot_sender_drop(reply);
			run->dropped++;
		} else {
			st = oneshot_send(reply, (uintptr_t)msg_mix(value));
			run->served++;
		}
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: server: reply failed: %s", chan_status_str(st));
			break;
		}
	}
	if (st != CHAN_OK && st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: server: recv failed: %s", chan_status_str(st));
	chan_receiver_drop(run->requests);
	return NULL;
}

static void *os_client(void *arg)
{
	struct os_client *c = arg;
	struct os_run *run = c->run;
	if (!team_ready(&run->team))
		return NULL;
	const char *impl = run->p->impl;
	for (uint64_t k = 1; k <= run->per_client; k++) {
		int64_t t0 = measure_now_ns();
		oneshot_t *o;
		chan_status st = oneshot_create(impl, &o);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: client %d: oneshot_create: %s", c->id,
			             chan_status_str(st));
			break;
		}
		c->req.reply = o;
		c->req.value = msg_encode(c->id, k);
		st = chan_send(run->requests, (uintptr_t)&c->req);
		if (st != CHAN_OK) {
			oneshot_destroy(o);
			fault_report(&run->fault, "discrepancy: client %d: request %llu: %s", c->id,
			             (unsigned long long)k, chan_status_str(st));
			break;
		}
		uintptr_t v = 0;
		st = oneshot_recv(o, &v, CHAN_FOREVER);
		oneshot_receiver_drop(o); /* the second handle given up: o is freed */
		int64_t t1 = measure_now_ns();
		bool dropped = os_drops(run->p, k);
		bool right = dropped ? st == CHAN_CLOSED
		                     : st == CHAN_OK && v == (uintptr_t)msg_mix(msg_encode(c->id, k));
		if (!right) {
			fault_report(&run->fault, "discrepancy: client %d: request %llu: %s%s", c->id,
			             (unsigned long long)k, chan_status_str(st),
			             st == CHAN_OK ? " with a wrong reply" : "");
			break;
		}
		if (dropped)
			c->closed++;
		else
			c->sum += v;
		c->samples[k - 1] = t1 - t0;
		c->done++;
	}
	chan_sender_drop(run->requests);
	return NULL;
}

static void os_free(struct os_run *run, int nclients)
{
	for (int i = 0; i < nclients; i++)
		free(run->client[i].samples);
	if (run->requests != NULL)
		chan_destroy(run->requests);
	free(run);
}

static bool os_run(const struct scenario_params *p, struct scenario_result *r)
{
	int nc = p->producers;
	if (nc < 1 || nc > OS_MAX_CLIENTS || p->msgs % (2 * (uint64_t)nc) != 0 || p->side < 0) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	if (chan_kind_impl_description(CHAN_KIND_ONESHOT, p->impl) == NULL) {
		result_fail(r, "setup: no oneshot implementation named '%s'", p->impl);
		return false;
	}
	struct os_run *run = calloc(1, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	run->per_client = p->msgs / (2 * (uint64_t)nc);
	bool ok = result_chan_create(r, OS_REQUEST_IMPL, 64, NULL, &run->requests);
	for (int i = 0; i < nc && ok; i++) {
		struct os_client *c = &run->client[i];
		*c = (struct os_client){.run = run, .id = i};
		c->samples = calloc(run->per_client + 1, sizeof *c->samples);
		ok = c->samples != NULL;
		if (ok && i > 0)
			chan_sender_clone(run->requests);
	}
	if (!ok) {
		if (r->ok)
			result_fail(r, "setup: out of memory");
		os_free(run, nc);
		return false;
	}
	/* the replies every client should sum: msg_mix of each request not dropped */
	uint64_t expected = 0, expected_closed = 0;
	for (int i = 0; i < nc; i++)
		for (uint64_t k = 1; k <= run->per_client; k++) {
			if (os_drops(p, k))
				expected_closed++;
			else
				expected += msg_mix(msg_encode(i, k));
		}
	team_init(&run->team, p->cores);
	ok = team_start(&run->team, os_server, run, r);
	for (int i = 0; i < nc && ok; i++)
		ok = team_start(&run->team, os_client, &run->client[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		os_free(run, nc);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	chan_t *rescue[1] = {run->requests};
	if (!team_finish(&run->team, &m, r, p->timeout_ns, rescue, 1))
		return false;
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	uint64_t done = 0, closed = 0, sum = 0;
	for (int i = 0; i < nc; i++) {
		done += run->client[i].done;
		closed += run->client[i].closed;
		sum += run->client[i].sum;
	}
	uint64_t rounds = p->msgs / 2;
	r->checksum = sum;
	if (r->ok && (done != rounds || run->served + run->dropped != rounds))
		result_fail(r, "discrepancy: %llu of %llu round trips completed, %llu answered + %llu dropped",
		            (unsigned long long)done, (unsigned long long)rounds,
		            (unsigned long long)run->served, (unsigned long long)run->dropped);
	else if (r->ok && (closed != expected_closed || sum != expected))
		result_fail(r, "discrepancy: %llu replies CLOSED (expected %llu), reply checksum %s",
		            (unsigned long long)closed, (unsigned long long)expected_closed,
		            sum == expected ? "right" : "wrong");
	r->msgs = done + run->served + run->dropped;
	if (r->ok) {
		for (int i = 0; i < nc; i++)
			if (result_reserve_samples(r, run->client[i].done))
				result_add_samples(r, run->client[i].samples, run->client[i].done);
		result_counter(r, "round_trips_per_s",
		               r->wall_ns > 0 ? (double)rounds * 1e9 / (double)r->wall_ns : 0);
		result_counter(r, "dropped", (double)run->dropped);
		result_counter(r, "clients", nc);
	}
	team_destroy(&run->team);
	os_free(run, nc);
	return r->ok;
}

#define OS(key, ncl, drop, n)                                                                     \
	{key, {.capacity = 1, .producers = (ncl), .consumers = 1, .side = (drop), .msgs = (n)}, 2 * (ncl)}

static const struct scenario_case cases[] = {
	OS("clients:1", 1, 0, 80000),
	OS("clients:4", 4, 0, 160000),
	OS("clients:4/drop:16", 4, 16, 160000),
};

const struct scenario scenario_oneshot = {
	.name = "oneshot",
	.description = "request/reply where each request carries a fresh oneshot for its reply: round trips/s",
	.counters_doc = "round_trips_per_s; p50_ns, p99_ns, p999_ns, mean_ns, max_ns: round trip seen by a "
	                "client, oneshot creation included; dropped: requests the server answered by "
	                "dropping the sender (drop:D = every D-th); clients. Requests travel on a futex "
	                "queue channel of capacity 64",
	.run = os_run,
	.needs = 0,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
	.kind = "oneshot",
};
