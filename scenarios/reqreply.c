/*
 * request/reply: C clients and one server thread (the seeds' actor). Each
 * client owns a reply channel (capacity 1) and a request record; a request is
 * a pointer to that record, which carries the client's reply channel (a
 * chan_t * in a word) and a value. The server receives requests on one shared
 * channel and answers each on the channel the request names. A client has one
 * request outstanding at a time; it ends by dropping its sender handle of the
 * request channel, and the server stops when the last one has (CLOSED).
 *
 * Reported: round trips per second, and round-trip latency percentiles.
 * msgs counts messages (a request and its reply: 2 per round trip).
 *
 * Checked: every reply is the server's function of that client's value; the
 * server answered exactly as many requests as were sent.
 */
#include <stdlib.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define RR_MAX_CLIENTS 16

struct rr_request {
	chan_t *reply; /* where the server answers */
	uint64_t value;
};

struct rr_run;

struct rr_client {
	struct rr_run *run;
	int id;
	chan_t *reply;
	struct rr_request req;
	uint64_t done;
	int64_t *samples;
};

struct rr_run {
	const struct scenario_params *p;
	chan_t *requests;
	uint64_t per_client;
	struct team team;
	struct fault fault;
	uint64_t served;
	struct rr_client client[RR_MAX_CLIENTS];
};

static void *rr_server(void *arg)
{
	struct rr_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	uintptr_t v;
	chan_status st;
	while ((st = recv_msg(run->requests, &v, spin)) == CHAN_OK) {
		struct rr_request *req = (struct rr_request *)v;
		st = send_msg(req->reply, (uintptr_t)msg_mix(req->value), spin);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: server: reply failed: %s", chan_status_str(st));
			break;
		}
		run->served++;
	}
	if (st != CHAN_OK && st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: server: recv failed: %s", chan_status_str(st));
	chan_receiver_drop(run->requests);
	return NULL;
}

static void *rr_client(void *arg)
{
	struct rr_client *c = arg;
	struct rr_run *run = c->run;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	c->req.reply = c->reply;
	for (uint64_t k = 1; k <= run->per_client; k++) {
		c->req.value = msg_encode(c->id, k);
		int64_t t0 = measure_now_ns();
		chan_status st = send_msg(run->requests, (uintptr_t)&c->req, spin);
		uintptr_t v = 0;
		if (st == CHAN_OK)
			st = recv_msg(c->reply, &v, spin);
		int64_t t1 = measure_now_ns();
		if (st != CHAN_OK || v != (uintptr_t)msg_mix(c->req.value)) {
			fault_report(&run->fault, "discrepancy: client %d: request %llu: %s", c->id,
			             (unsigned long long)k, st != CHAN_OK ? chan_status_str(st) : "wrong reply");
			break;
		}
		c->samples[k - 1] = t1 - t0;
		c->done++;
	}
	chan_sender_drop(run->requests);
	return NULL;
}

static void rr_free(struct rr_run *run, int nclients)
{
	for (int i = 0; i < nclients; i++) {
		if (run->client[i].reply != NULL)
			chan_destroy(run->client[i].reply);
		free(run->client[i].samples);
	}
	if (run->requests != NULL)
		chan_destroy(run->requests);
	free(run);
}

static bool rr_run(const struct scenario_params *p, struct scenario_result *r)
{
	int nc = p->producers;
	if (nc < 1 || nc > RR_MAX_CLIENTS || p->msgs % (2 * (uint64_t)nc) != 0) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct rr_run *run = calloc(1, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	run->p = p;
	run->per_client = p->msgs / (2 * (uint64_t)nc);
	bool ok = result_chan_create(r, p->impl, p->capacity, NULL, &run->requests);
	for (int i = 0; i < nc && ok; i++) {
		struct rr_client *c = &run->client[i];
		*c = (struct rr_client){.run = run, .id = i};
		c->samples = calloc(run->per_client + 1, sizeof *c->samples);
		ok = c->samples != NULL && result_chan_create(r, p->impl, 1, NULL, &c->reply);
		if (ok && i > 0)
			chan_sender_clone(run->requests);
	}
	if (!ok) {
		result_fail(r, "setup: out of memory");
		rr_free(run, nc);
		return false;
	}
	team_init(&run->team, p->cores);
	ok = team_start(&run->team, rr_server, run, r);
	for (int i = 0; i < nc && ok; i++)
		ok = team_start(&run->team, rr_client, &run->client[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		rr_free(run, nc);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	chan_t *rescue[RR_MAX_CLIENTS + 1];
	rescue[0] = run->requests;
	for (int i = 0; i < nc; i++)
		rescue[i + 1] = run->client[i].reply;
	if (!team_finish(&run->team, &m, r, p->timeout_ns, rescue, (size_t)nc + 1))
		return false;
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	uint64_t done = 0;
	for (int i = 0; i < nc; i++)
		done += run->client[i].done;
	uint64_t rounds = p->msgs / 2;
	if (done != rounds || run->served != rounds)
		result_fail(r, "discrepancy: %llu of %llu round trips completed, %llu requests served",
		            (unsigned long long)done, (unsigned long long)rounds,
		            (unsigned long long)run->served);
	r->msgs = done + run->served;
	if (r->ok) {
		for (int i = 0; i < nc; i++)
			result_add_samples(r, run->client[i].samples, run->client[i].done);
		result_counter(r, "round_trips_per_s",
		               r->wall_ns > 0 ? (double)rounds * 1e9 / (double)r->wall_ns : 0);
		result_counter(r, "clients", nc);
	}
	team_destroy(&run->team);
	rr_free(run, nc);
	return r->ok;
}

#define RR(ncname, ncl, capname, cap, n)                                                          \
	{"clients:" ncname "/cap:" capname,                                                       \
	 {.capacity = (cap), .producers = (ncl), .consumers = 1, .msgs = (n)}, 2 * (ncl)}

static const struct scenario_case cases[] = {
	RR("1", 1, "64", 64, 40000),
	RR("4", 4, "64", 64, 80000),
};

const struct scenario scenario_reqreply = {
	.name = "reqreply",
	.description = "clients send requests carrying their own reply channel to one server thread: round trips/s",
	.counters_doc = "round_trips_per_s; p50_ns, p99_ns, p999_ns, mean_ns, max_ns: round-trip latency "
	                "seen by the clients; clients. Reply channels have capacity 1; cap is the request "
	                "channel's",
	.run = rr_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
