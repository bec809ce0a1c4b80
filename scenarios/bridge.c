/*
 * bridge: an epoll event loop in front of a blocking worker pool, joined by two
 * channels (the C form of the seeds' sync/async bridge; ARCHITECTURE.md, issue 7).
 *
 * One event-loop thread serves N loopback TCP connections (127.0.0.1, an
 * ephemeral port). Each of N client threads sends fixed-size requests (an id,
 * a payload and the payload's checksum) one at a time and waits for the reply.
 * The loop reads a request and hands it to 2 worker threads over a request
 * channel with chan_try_send only: when that says FULL the request waits in a
 * small FIFO, and the request channel's CHAN_DIR_SEND poll fd is watched until
 * the FIFO is empty again. Workers block in chan_recv, check the payload and
 * chan_send the answered request back on a reply channel whose CHAN_DIR_RECV
 * poll fd is in the loop's epoll set; the loop drains it with chan_try_recv
 * until CHAN_EMPTY and writes each reply to its socket. The loop never blocks
 * in a channel. Both channels have the case's capacity.
 *
 * Connections are set up before the clock starts. The run ends when every
 * client has its last reply and has closed its socket: the loop then closes the
 * request channel and the workers return on CLOSED. Every thread gives up at
 * the run timeout (a "hung:" error), so a lost poll-fd wake-up cannot keep a
 * client in read() forever.
 *
 * Reported: requests/s, per-request latency seen by the clients (write of the
 * request to the end of the reply), how often the request channel was FULL,
 * and replies drained per wake-up of the reply fd. msgs counts channel
 * messages: 2 per request.
 *
 * Checked: every reply carries its request's id and a function of its payload
 * checksum; every worker found the payload intact; the loop dispatched, the
 * workers served and the clients received exactly the number of requests sent.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define BR_MAX_CLIENTS 16
#define BR_WORKERS 2
#define BR_PAYLOAD_WORDS 6
#define BR_POLL_MS 50 /* how often a waiting thread looks at its deadline */

/* The wire format (host byte order: both ends are this process). 64 bytes. */
struct br_request {
	uint64_t id; /* msg_encode(client, k) */
	uint64_t sum; /* br_payload_sum of words */
	uint64_t words[BR_PAYLOAD_WORDS];
};

struct br_reply {
	uint64_t id;
	uint64_t sum; /* br_answer(request id, request sum) */
};

static uint64_t br_payload_sum(const uint64_t *w)
{
	uint64_t s = 0;
	for (int j = 0; j < BR_PAYLOAD_WORDS; j++)
		s += msg_mix(w[j] + (uint64_t)j);
	return s;
}

static uint64_t br_answer(uint64_t id, uint64_t sum)
{
	return msg_mix(id ^ sum);
}

struct br_run;

/* One connection as the loop sees it. The message on both channels is a pointer
 * to it: the loop fills `job` before handing it over, the worker fills `answer`
 * before handing it back (each channel hand-off orders those writes). A client
 * has one request outstanding, so one job per connection is enough. */
struct br_conn {
	_Alignas(64) struct br_run *run;
	int fd, id;
	union {
		struct br_request req;
		unsigned char b[sizeof(struct br_request)];
	} in;
	size_t in_len;
	struct br_reply out;
	size_t out_off;
	bool busy, writing, eof;
	struct br_request job;
	uint64_t answer;
};

struct br_client {
	_Alignas(64) struct br_run *run;
	int id, fd;
	uint64_t done;
	int64_t *samples;
};

struct br_worker {
	_Alignas(64) struct br_run *run;
	uint64_t served, bad;
};

struct br_run {
	const struct scenario_params *p;
	int nc;
	uint64_t per_client;
	chan_t *requests, *replies;
	int epfd, req_fd, rep_fd;
	struct team team;
	struct fault fault;
	/* the loop's numbers */
	uint64_t dispatched, written, send_full, rep_wakes, rep_drained;
	size_t pending_peak;
	struct br_conn conn[BR_MAX_CLIENTS];
	struct br_client client[BR_MAX_CLIENTS];
	struct br_worker worker[BR_WORKERS];
};

/* epoll data for the two poll fds (connections use their br_conn pointer). */
static char br_tag_replies, br_tag_requests;

static int64_t br_timeout(const struct scenario_params *p)
{
	return p->timeout_ns > 0 ? p->timeout_ns : (int64_t)60 * 1000000000;
}

/* ---- workers: blocking receivers ---- */

static void *br_work(void *arg)
{
	struct br_worker *w = arg;
	struct br_run *run = w->run;
	if (!team_ready(&run->team))
		return NULL;
	uintptr_t v;
	chan_status st;
	while ((st = chan_recv(run->requests, &v)) == CHAN_OK) {
		struct br_conn *c = (struct br_conn *)v;
		if (br_payload_sum(c->job.words) != c->job.sum) {
			w->bad++;
			c->answer = 0; /* the client will see a wrong reply */
		} else {
			c->answer = br_answer(c->job.id, c->job.sum);
		}
		w->served++;
		st = chan_send(run->replies, v);
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: worker: reply send failed: %s",
			             chan_status_str(st));
			break;
		}
	}
	if (st != CHAN_OK && st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: worker: recv failed: %s", chan_status_str(st));
	chan_sender_drop(run->replies);
	return NULL;
}

/* ---- the event loop ---- */

struct br_loop {
	struct br_run *run;
	struct br_conn *pending[BR_MAX_CLIENTS]; /* FIFO of requests the channel refused */
	size_t head, n;
	bool send_watched;
	int open; /* connections not yet at EOF */
};

static bool br_watch_send(struct br_loop *L, bool on)
{
	if (L->send_watched == on)
		return true;
	struct epoll_event ev = {.events = on ? EPOLLIN : 0, .data.ptr = &br_tag_requests};
	if (epoll_ctl(L->run->epfd, EPOLL_CTL_MOD, L->run->req_fd, &ev) != 0) {
		fault_report(&L->run->fault, "setup: epoll_ctl(request poll fd): %s", strerror(errno));
		return false;
	}
	L->send_watched = on;
	return true;
}

/* Hand the queued requests to the workers until the channel is FULL (which also
 * clears the SEND poll fd) or the queue is empty. */
static bool br_flush(struct br_loop *L)
{
	struct br_run *run = L->run;
	while (L->n > 0) {
		struct br_conn *c = L->pending[L->head];
		chan_status st = chan_try_send(run->requests, (uintptr_t)c);
		if (st == CHAN_FULL) {
			run->send_full++;
			return br_watch_send(L, true);
		}
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: event loop: try_send of a request: %s",
			             chan_status_str(st));
			return false;
		}
		run->dispatched++;
		L->head = (L->head + 1) % BR_MAX_CLIENTS;
		L->n--;
	}
	return br_watch_send(L, false);
}

static bool br_set_events(struct br_run *run, struct br_conn *c, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = c};
	if (epoll_ctl(run->epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
		fault_report(&run->fault, "setup: epoll_ctl(connection): %s", strerror(errno));
		return false;
	}
	return true;
}

/* Write what is left of c's reply; watch EPOLLOUT while the socket is full. */
static bool br_write(struct br_run *run, struct br_conn *c)
{
	const unsigned char *b = (const unsigned char *)&c->out;
	while (c->out_off < sizeof c->out) {
		ssize_t n = send(c->fd, b + c->out_off, sizeof c->out - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			c->out_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->writing && !br_set_events(run, c, EPOLLIN | EPOLLOUT))
				return false;
			c->writing = true;
			return true;
		}
		fault_report(&run->fault, "discrepancy: event loop: write to client %d: %s", c->id,
		             n < 0 ? strerror(errno) : "nothing written");
		return false;
	}
	if (c->writing && !br_set_events(run, c, EPOLLIN))
		return false;
	c->writing = false;
	run->written++;
	return true;
}

/* The reply poll fd is readable: drain the channel until EMPTY. */
static bool br_drain_replies(struct br_loop *L)
{
	struct br_run *run = L->run;
	run->rep_wakes++;
	for (;;) {
		uintptr_t v;
		chan_status st = chan_try_recv(run->replies, &v);
		if (st == CHAN_EMPTY)
			return true;
		if (st != CHAN_OK) {
			fault_report(&run->fault, "discrepancy: event loop: try_recv of a reply: %s",
			             chan_status_str(st));
			return false;
		}
		run->rep_drained++;
		struct br_conn *c = (struct br_conn *)v;
		if (c < run->conn || c >= run->conn + run->nc || !c->busy) {
			fault_report(&run->fault, "discrepancy: event loop: a reply for no outstanding request");
			return false;
		}
		c->busy = false;
		c->out = (struct br_reply){.id = c->job.id, .sum = c->answer};
		c->out_off = 0;
		if (!br_write(run, c))
			return false;
	}
}

/* c is readable: read until EAGAIN, dispatching each complete request. */
static bool br_read(struct br_loop *L, struct br_conn *c)
{
	struct br_run *run = L->run;
	for (;;) {
		ssize_t n = recv(c->fd, c->in.b + c->in_len, sizeof c->in - c->in_len, MSG_DONTWAIT);
		if (n > 0) {
			c->in_len += (size_t)n;
			if (c->in_len < sizeof c->in)
				continue;
			c->in_len = 0;
			if (c->busy) {
				fault_report(&run->fault,
				             "discrepancy: event loop: client %d sent a request before its reply", c->id);
				return false;
			}
			c->busy = true;
			c->job = c->in.req;
			L->pending[(L->head + L->n) % BR_MAX_CLIENTS] = c;
			L->n++;
			if (L->n > run->pending_peak)
				run->pending_peak = L->n;
			if (!br_flush(L))
				return false;
			continue;
		}
		if (n == 0) {
			if (c->busy || c->in_len != 0) {
				fault_report(&run->fault, "discrepancy: event loop: client %d hung up mid-request",
				             c->id);
				return false;
			}
			c->eof = true;
			L->open--;
			if (epoll_ctl(run->epfd, EPOLL_CTL_DEL, c->fd, NULL) != 0) {
				fault_report(&run->fault, "setup: epoll_ctl(DEL): %s", strerror(errno));
				return false;
			}
			return true;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return true;
		fault_report(&run->fault, "discrepancy: event loop: read from client %d: %s", c->id,
		             strerror(errno));
		return false;
	}
}

static void *br_loop(void *arg)
{
	struct br_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	int64_t deadline = measure_now_ns() + br_timeout(run->p);
	struct br_loop L = {.run = run, .open = run->nc};
	struct epoll_event evs[BR_MAX_CLIENTS + 2];
	bool ok = true;
	while (ok && L.open > 0) {
		int n = epoll_wait(run->epfd, evs, BR_MAX_CLIENTS + 2, BR_POLL_MS);
		if (n < 0 && errno != EINTR) {
			fault_report(&run->fault, "setup: epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n && ok; i++) {
			void *tag = evs[i].data.ptr;
			if (tag == &br_tag_replies) {
				ok = br_drain_replies(&L);
			} else if (tag == &br_tag_requests) {
				ok = br_flush(&L);
			} else {
				struct br_conn *c = tag;
				if (c->eof)
					continue;
				if ((evs[i].events & EPOLLOUT) && c->writing)
					ok = br_write(run, c);
				if (ok && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
					ok = br_read(&L, c);
			}
		}
		if (ok && measure_now_ns() > deadline) {
			fault_report(&run->fault,
			             "hung: event loop: %llu of %llu replies written after %.1f s (%zu requests "
			             "waiting for the channel)",
			             (unsigned long long)run->written,
			             (unsigned long long)run->per_client * (uint64_t)run->nc,
			             (double)br_timeout(run->p) / 1e9, L.n);
			ok = false;
		}
	}
	/* Done (or given up): the workers return on CLOSED, and clients still
	 * waiting for a reply (only after a failure) see the connection end. A
	 * worker can be blocked sending a reply only after a failure: closing the
	 * reply channel then releases it. */
	chan_close(run->requests);
	if (!ok)
		chan_close(run->replies);
	for (int i = 0; i < run->nc; i++)
		shutdown(run->conn[i].fd, SHUT_RDWR);
	return NULL;
}

/* ---- clients: blocking sockets, one request at a time ---- */

static bool br_client_io(struct br_client *cl, void *buf, size_t len, bool out, int64_t deadline)
{
	unsigned char *b = buf;
	size_t off = 0;
	while (off < len) {
		struct pollfd pfd = {.fd = cl->fd, .events = out ? POLLOUT : POLLIN};
		int pr = poll(&pfd, 1, BR_POLL_MS);
		if (pr < 0 && errno != EINTR) {
			fault_report(&cl->run->fault, "setup: client %d: poll: %s", cl->id, strerror(errno));
			return false;
		}
		if (pr <= 0) {
			if (measure_now_ns() > deadline) {
				fault_report(&cl->run->fault,
				             "hung: client %d: no reply to request %llu after %.1f s", cl->id,
				             (unsigned long long)cl->done + 1, (double)br_timeout(cl->run->p) / 1e9);
				return false;
			}
			continue;
		}
		ssize_t n = out ? send(cl->fd, b + off, len - off, MSG_NOSIGNAL | MSG_DONTWAIT)
		                : recv(cl->fd, b + off, len - off, MSG_DONTWAIT);
		if (n > 0) {
			off += (size_t)n;
		} else if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
			fault_report(&cl->run->fault, "discrepancy: client %d: %s: %s", cl->id,
			             out ? "write" : "read", n == 0 ? "connection closed" : strerror(errno));
			return false;
		}
	}
	return true;
}

static void *br_client(void *arg)
{
	struct br_client *cl = arg;
	struct br_run *run = cl->run;
	if (!team_ready(&run->team))
		return NULL;
	int64_t deadline = measure_now_ns() + br_timeout(run->p);
	for (uint64_t k = 1; k <= run->per_client; k++) {
		struct br_request req = {.id = msg_encode(cl->id, k)};
		for (int j = 0; j < BR_PAYLOAD_WORDS; j++)
			req.words[j] = msg_mix(req.id * BR_PAYLOAD_WORDS + (uint64_t)j);
		req.sum = br_payload_sum(req.words);
		struct br_reply rep;
		int64_t t0 = measure_now_ns();
		if (t0 > deadline) {
			fault_report(&run->fault, "hung: client %d: %llu of %llu requests answered after %.1f s",
			             cl->id, (unsigned long long)cl->done, (unsigned long long)run->per_client,
			             (double)br_timeout(run->p) / 1e9);
			break;
		}
		if (!br_client_io(cl, &req, sizeof req, true, deadline) ||
		    !br_client_io(cl, &rep, sizeof rep, false, deadline))
			break;
		int64_t t1 = measure_now_ns();
		if (rep.id != req.id || rep.sum != br_answer(req.id, req.sum)) {
			fault_report(&run->fault,
			             "discrepancy: client %d: request %llu answered with id %#llx, %s checksum",
			             cl->id, (unsigned long long)k, (unsigned long long)rep.id,
			             rep.sum == br_answer(req.id, req.sum) ? "right" : "wrong");
			break;
		}
		cl->samples[k - 1] = t1 - t0;
		cl->done++;
	}
	/* The loop sees EOF; that is how it learns this client is finished. */
	shutdown(cl->fd, SHUT_RDWR);
	return NULL;
}

/* ---- setup and checks ---- */

static void br_free(struct br_run *run)
{
	if (run->epfd >= 0)
		close(run->epfd);
	for (int i = 0; i < run->nc; i++) {
		if (run->conn[i].fd >= 0)
			close(run->conn[i].fd);
		if (run->client[i].fd >= 0)
			close(run->client[i].fd);
		free(run->client[i].samples);
	}
	if (run->requests != NULL)
		chan_destroy(run->requests); /* closes its poll fds */
	if (run->replies != NULL)
		chan_destroy(run->replies);
	free(run);
}

static bool br_nodelay(int fd)
{
	int one = 1;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0;
}

/* N loopback connections: client ends blocking, server ends non-blocking, both
 * TCP_NODELAY (small request/reply messages: Nagle plus delayed ACKs would add
 * tens of milliseconds). Connected one at a time, so conn[i] is client[i]'s peer. */
static bool br_connect(struct br_run *run, struct scenario_result *r)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0) {
		result_fail(r, "setup: socket: %s", strerror(errno));
		return false;
	}
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0,
	                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof addr;
	if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(lfd, run->nc) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) != 0) {
		result_fail(r, "setup: listen on 127.0.0.1: %s", strerror(errno));
		close(lfd);
		return false;
	}
	for (int i = 0; i < run->nc; i++) {
		int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		run->client[i].fd = cfd;
		if (cfd < 0 || connect(cfd, (struct sockaddr *)&addr, sizeof addr) != 0) {
			result_fail(r, "setup: connect to 127.0.0.1:%d: %s", ntohs(addr.sin_port), strerror(errno));
			break;
		}
		int sfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		run->conn[i].fd = sfd;
		if (sfd < 0) {
			result_fail(r, "setup: accept: %s", strerror(errno));
			break;
		}
		if (!br_nodelay(cfd) || !br_nodelay(sfd)) {
			result_fail(r, "setup: TCP_NODELAY: %s", strerror(errno));
			break;
		}
	}
	close(lfd);
	return r->ok;
}

static bool br_epoll(struct br_run *run, struct scenario_result *r)
{
	chan_status st = chan_pollfd(run->replies, CHAN_DIR_RECV, &run->rep_fd);
	if (st == CHAN_OK)
		st = chan_pollfd(run->requests, CHAN_DIR_SEND, &run->req_fd);
	if (st != CHAN_OK) {
		result_fail(r, "%s: chan_pollfd: %s", st == CHAN_UNSUPPORTED ? "n/a" : "setup",
		            chan_status_str(st));
		return false;
	}
	run->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (run->epfd < 0) {
		result_fail(r, "setup: epoll_create1: %s", strerror(errno));
		return false;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &br_tag_replies};
	bool ok = epoll_ctl(run->epfd, EPOLL_CTL_ADD, run->rep_fd, &ev) == 0;
	/* The SEND poll fd is watched only while requests wait for room. */
	ev = (struct epoll_event){.events = 0, .data.ptr = &br_tag_requests};
	ok = ok && epoll_ctl(run->epfd, EPOLL_CTL_ADD, run->req_fd, &ev) == 0;
	for (int i = 0; i < run->nc && ok; i++) {
		ev = (struct epoll_event){.events = EPOLLIN, .data.ptr = &run->conn[i]};
		ok = epoll_ctl(run->epfd, EPOLL_CTL_ADD, run->conn[i].fd, &ev) == 0;
	}
	if (!ok)
		result_fail(r, "setup: epoll_ctl: %s", strerror(errno));
	return ok;
}

static bool br_run(const struct scenario_params *p, struct scenario_result *r)
{
	int nc = p->producers;
	if (nc < 1 || nc > BR_MAX_CLIENTS || p->consumers != BR_WORKERS ||
	    p->msgs % (2 * (uint64_t)nc) != 0) {
		result_fail(r, "setup: bad parameters");
		return false;
	}
	struct br_run *run = aligned_alloc(64, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	memset(run, 0, sizeof *run);
	run->p = p;
	run->nc = nc;
	run->per_client = p->msgs / (2 * (uint64_t)nc);
	run->epfd = run->req_fd = run->rep_fd = -1;
	for (int i = 0; i < nc; i++) {
		run->conn[i] = (struct br_conn){.run = run, .id = i, .fd = -1};
		run->client[i] = (struct br_client){.run = run, .id = i, .fd = -1};
	}
	for (int i = 0; i < BR_WORKERS; i++)
		run->worker[i] = (struct br_worker){.run = run};
	bool ok = result_chan_create(r, p->impl, p->capacity, NULL, &run->requests) &&
	          result_chan_create(r, p->impl, p->capacity, NULL, &run->replies);
	for (int i = 0; i < nc && ok; i++) {
		run->client[i].samples = calloc(run->per_client + 1, sizeof(int64_t));
		if (run->client[i].samples == NULL) {
			result_fail(r, "setup: out of memory");
			ok = false;
		}
	}
	for (int i = 1; i < BR_WORKERS && ok; i++) {
		chan_receiver_clone(run->requests);
		chan_sender_clone(run->replies);
	}
	ok = ok && br_connect(run, r) && br_epoll(run, r);
	if (!ok) {
		br_free(run);
		return false;
	}

	team_init(&run->team, p->cores);
	ok = team_start(&run->team, br_loop, run, r);
	for (int i = 0; i < BR_WORKERS && ok; i++)
		ok = team_start(&run->team, br_work, &run->worker[i], r);
	for (int i = 0; i < nc && ok; i++)
		ok = team_start(&run->team, br_client, &run->client[i], r);
	if (!ok) {
		team_abort(&run->team);
		team_destroy(&run->team);
		br_free(run);
		return false;
	}
	struct measure m;
	team_go(&run->team, &m);
	chan_t *rescue[2] = {run->requests, run->replies};
	/* A little beyond the threads' own deadline, so that they report what hung. */
	if (!team_finish(&run->team, &m, r, br_timeout(p) + (int64_t)BR_POLL_MS * 4000000, rescue, 2))
		return false; /* threads still running: leak run, channels and sockets */

	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	uint64_t want = run->per_client * (uint64_t)nc, done = 0, served = 0, bad = 0;
	for (int i = 0; i < nc; i++)
		done += run->client[i].done;
	for (int i = 0; i < BR_WORKERS; i++) {
		served += run->worker[i].served;
		bad += run->worker[i].bad;
	}
	if (bad != 0)
		result_fail(r, "discrepancy: %llu requests reached a worker with a corrupt payload",
		            (unsigned long long)bad);
	if (done != want || served != want || run->dispatched != want || run->written != want)
		result_fail(r,
		            "discrepancy: %llu of %llu requests answered; loop dispatched %llu, workers "
		            "served %llu, loop wrote %llu replies",
		            (unsigned long long)done, (unsigned long long)want,
		            (unsigned long long)run->dispatched, (unsigned long long)served,
		            (unsigned long long)run->written);
	r->msgs = done + served; /* a request and its reply: two channel messages */
	if (r->ok) {
		for (int i = 0; i < nc; i++)
			result_add_samples(r, run->client[i].samples, run->client[i].done);
		result_counter(r, "requests_per_s",
		               r->wall_ns > 0 ? (double)want * 1e9 / (double)r->wall_ns : 0);
		result_counter(r, "clients", nc);
		result_counter(r, "workers", BR_WORKERS);
		result_counter(r, "send_full", (double)run->send_full);
		result_counter(r, "pending_peak", (double)run->pending_peak);
		result_counter(r, "replies_per_wake",
		               run->rep_wakes ? (double)run->rep_drained / (double)run->rep_wakes : 0);
	}
	team_destroy(&run->team);
	br_free(run);
	return r->ok;
}

/* producers = clients (TCP, not channel users), consumers = the worker pool. */
#define BR(ncname, ncl, capname, cap, n)                                                          \
	{"clients:" ncname "/cap:" capname,                                                       \
	 {.capacity = (cap), .producers = (ncl), .consumers = BR_WORKERS, .msgs = (n)}, 2 * (ncl)}

static const struct scenario_case cases[] = {
	BR("4", 4, "0", 0, 24000),
	BR("4", 4, "1", 1, 24000),
	BR("4", 4, "64", 64, 24000),
};

const struct scenario scenario_bridge = {
	.name = "bridge",
	.description = "an epoll loop serves loopback TCP clients, hands requests to 2 blocking workers "
	               "over a channel and gets replies back through a poll fd: requests/s, latency",
	.counters_doc = "requests_per_s; p50_ns, p99_ns, p999_ns, mean_ns, max_ns: request latency seen "
	                "by the clients (write to end of reply); clients; workers; send_full: try_sends "
	                "toward the workers that found the channel full; pending_peak: most requests "
	                "waiting for room at once; replies_per_wake: replies drained per wake-up of the "
	                "reply poll fd. msgs counts 2 channel messages per request; cap is both channels'",
	.run = br_run,
	.needs = CHAN_CAP_POLLFD | CHAN_CAP_CLOSE,
	.spin_ok = false,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
