/*
 * chan-linearize: records small concurrent histories on a channel and checks
 * each one for linearizability against a sequential model of the channel
 * (CONFORMANCE.md, "How stress and histories are checked").
 *
 * ---------------------------------------------------------------- recording
 *
 * One history: 2 or 3 worker threads, 2 to 4 operations each, drawn from a mix
 * (--mix): send, recv (blocking), try_send, try_recv, send_timeout and
 * recv_timeout with tiny timeouts (0 to 100 us), close (close mix only). Every send carries a
 * value unique in the history. The workers start together (a barrier, then a
 * spin to a common start time) and put a random pause of up to a few us before
 * each operation. Each operation records its invocation and response time
 * (CLOCK_MONOTONIC, just before the call and just after it returns) and its
 * result.
 *
 * The recorder (the main thread) waits a bounded time (--grace-us) for the
 * workers. Then:
 *   - in the close mix it closes the channel itself (recorded like any
 *     operation, on the thread "rec"); every blocked operation must return
 *     (C3). One still blocked after --liveness-ms is a liveness finding: the
 *     history is printed with it "pending", and the recorder frees it as below
 *     so that the run goes on;
 *   - in every other mix (they contain no close at all, so that a flaw in close
 *     cannot fail them) it frees workers still blocked by playing their
 *     counterpart, recorded: a recv_timeout(1 ms) for a blocked send, a
 *     send_timeout(1 ms) of a fresh value for a blocked recv.
 * An operation still blocked after that is a liveness failure that ends the
 * run. Finally the recorder drains the channel with try_recv until EMPTY (or
 * CLOSED), recorded too, so that a message lost or left behind shows up in the
 * history, and destroys it (the undelivered callback must then get nothing).
 *
 * --fail-on history|liveness lets one run decide one property: the close mix
 * is run once for the histories (C1) and once for the wake-ups (C3).
 *
 * ------------------------------------------------------------------- model
 *
 * The sequential model is the channel as Go's runtime defines it: a FIFO
 * buffer of at most `cap` values (no limit when unbounded; none at all when
 * cap == 0), a FIFO queue of waiting senders (each holding its value), a FIFO
 * queue of waiting receivers, and a closed flag. Invariants: at least one of
 * the two queues is empty; a waiting sender implies a full buffer (cap >= 1) or
 * cap == 0; a waiting receiver implies an empty buffer; closed implies both
 * queues are empty.
 *
 * An operation takes effect by atomic model events, each at one instant:
 *
 *   call (every operation; it happens at most once, at an instant within the
 *   operation's [invocation, response] interval, and before any other event
 *   of that operation):
 *     send(v), try_send(v), send_timeout(v):
 *       closed                    -> CLOSED (the caller keeps v)
 *       a receiver waits          -> the first waiting receiver completes with
 *                                    OK v; the send completes OK (hand-off)
 *       buffer has room           -> v appended; OK
 *       otherwise                 -> try_send: FULL; send and send_timeout:
 *                                    join the senders' queue (waiting)
 *     recv, try_recv, recv_timeout:
 *       buffer not empty          -> take the oldest value; if a sender waits,
 *                                    the first one's value moves into the
 *                                    buffer and that sender completes OK; OK
 *       a sender waits (cap 0)    -> take its value, it completes OK; OK
 *       closed                    -> CLOSED
 *       otherwise                 -> try_recv: EMPTY; recv and recv_timeout:
 *                                    join the receivers' queue (waiting)
 *     close:
 *       closed                    -> ALREADY_CLOSED
 *       otherwise                 -> closed; every waiting receiver and every
 *                                    waiting sender completes CLOSED (the
 *                                    senders keep their values); OK
 *   timeout (send_timeout / recv_timeout only, while waiting): it leaves its
 *   queue and completes TIMEOUT.
 *
 * A waiting operation completes inside another operation's event (a hand-off,
 * a move into the buffer, a close) or by its own timeout. Every event that
 * completes an operation must happen no later than that operation's response,
 * so a blocking send in a bounded channel linearizes when its value enters the
 * buffer, and a rendezvous send and its receiver complete at one instant that
 * lies within both of their intervals. A try operation never waits; it can
 * fail only if, at its call, the model could not serve it. A timed operation
 * that fails must have been unable to complete at some instant of its
 * interval (its call), and must not have been served in between (it is in a
 * queue, so a hand-off would have gone to it). TIMEOUT is the result of a timed
 * operation only, FULL / EMPTY of a try only (chan_impl.h: "try versus timed").
 *
 * Because a waiter's call may lie anywhere in its interval, the order of the
 * waiting queues constrains only what the history can observe: an
 * implementation that serves waiters in another order is not rejected unless
 * its results cannot be explained by any order of calls.
 *
 * An operation that never returned (pending) may take effect or not: its
 * events may happen at any instant after its invocation, or never, and its
 * result is not compared.
 *
 * ----------------------------------------------------------------- checker
 *
 * A history is linearizable if there is a sequence of model events such that
 * each event can be given an instant t, non-decreasing along the sequence,
 * with t >= the invocation of the operation whose call (or timeout) it is,
 * t <= the response of every operation it completes, each thread's operations
 * called in program order, each completed operation's model result equal to
 * the recorded one, and every non-pending operation completed.
 *
 * Search: depth-first over which event comes next (Wing & Gong, with Lowe's
 * memoisation of visited states). Placing each event at the earliest instant
 * it allows is optimal, so that instant is max(previous instant, invocation)
 * and equals the largest invocation among the operations called so far: a
 * function of how far each thread has got. A search state (each thread's
 * position and whether it waits, closed, the buffer, the queues) therefore
 * determines everything that follows, and a state that failed once fails
 * always; failed states are kept in a hash set of 128-bit fingerprints. A
 * branch dies as soon as some operation that has not completed has a response
 * earlier than the current instant.
 *
 * --self-test feeds the checker hand-made histories with known verdicts (LIFO,
 * lost message, value never sent, CLOSED before the drain, duplicates,
 * capacity, rendezvous, timeouts, pending ops; and legal ones), and
 * single-threaded histories executed on the reference implementation (mutex),
 * and fails if any verdict is wrong.
 *
 * Exit codes: see driver_cli.h (0 pass, 1 violation, 2 usage, 3 hang, 77 n/a).
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"
#include "driver_cli.h"
#include "driver_rng.h"
#include "watchdog.h"

#define PROG "chan-linearize"
#define MAX_THREADS 6    /* in a history: workers + the recorder */
#define MAX_WORKERS 3    /* recorded histories */
#define MAX_WORKER_OPS 6 /* recorded histories: --ops-max at most this */
#define MAX_OPS 48       /* per thread */
#define MAX_VALUES 64    /* distinct sent values per history */
#define MAX_EVENTS (MAX_THREADS * MAX_OPS * 2)
#define KEY_MAX (MAX_THREADS * 2 + 8 + MAX_VALUES + 2 * MAX_THREADS)
#define PRINT_LIMIT 3

/* ------------------------------------------------------------------ history */

enum op_kind { OP_SEND, OP_TRY_SEND, OP_SEND_TIMED, OP_RECV, OP_TRY_RECV, OP_RECV_TIMED, OP_CLOSE,
	       N_OP_KINDS };
static const char *const op_name[N_OP_KINDS] = {"send", "try_send", "send_timeout", "recv",
                                                "try_recv", "recv_timeout", "close"};

static bool is_send(int k)
{
	return k == OP_SEND || k == OP_TRY_SEND || k == OP_SEND_TIMED;
}
static bool is_recv(int k)
{
	return k == OP_RECV || k == OP_TRY_RECV || k == OP_RECV_TIMED;
}
static bool is_timed(int k)
{
	return k == OP_SEND_TIMED || k == OP_RECV_TIMED;
}

struct op {
	uint8_t kind;
	bool pending;       /* never returned: result unknown, response = +inf */
	chan_status status; /* result (not pending) */
	uintptr_t arg;      /* send: the value */
	uintptr_t got;      /* recv that returned OK: the value */
	int64_t timeout_ns; /* timed ops */
	int64_t inv, resp;  /* ns; resp == INT64_MAX when pending */
	uint8_t arg_vid;    /* checker: the send's id (values may repeat, ids do not) */
};

struct history {
	size_t cap;
	int nthreads;
	char names[MAX_THREADS][8];
	int nops[MAX_THREADS];
	struct op ops[MAX_THREADS][MAX_OPS];
};

/* "send_timeout(20us) 3" */
static void format_call(const struct op *o, char *buf, size_t n)
{
	int k = snprintf(buf, n, "%s", op_name[o->kind]);
	if (is_timed(o->kind) && k >= 0 && (size_t)k < n)
		k += snprintf(buf + k, n - (size_t)k, "(%gus)", (double)o->timeout_ns / 1000.0);
	if (is_send(o->kind) && k >= 0 && (size_t)k < n)
		snprintf(buf + k, n - (size_t)k, " %" PRIuPTR, o->arg);
}

/* "ok 3", "timeout", "pending" */
static void format_result(const struct op *o, char *buf, size_t n)
{
	if (o->pending)
		snprintf(buf, n, "pending");
	else if (is_recv(o->kind) && o->status == CHAN_OK)
		snprintf(buf, n, "ok %" PRIuPTR, o->got);
	else
		snprintf(buf, n, "%s", chan_status_str(o->status));
}

/* Print in the text form that --check-file reads back: one line per
 * operation, sorted by invocation, times in us from the first invocation. */
static void print_history(FILE *out, const struct history *h, const char *indent)
{
	char cb[32];
	fprintf(out, "%scap %s\n", indent, driver_cap_str(h->cap, cb, sizeof cb));
	int64_t base = INT64_MAX;
	int total = 0;
	for (int t = 0; t < h->nthreads; t++)
		for (int i = 0; i < h->nops[t]; i++) {
			if (h->ops[t][i].inv < base)
				base = h->ops[t][i].inv;
			total++;
		}
	int pos[MAX_THREADS] = {0};
	for (int n = 0; n < total; n++) {
		int best = -1;
		for (int t = 0; t < h->nthreads; t++)
			if (pos[t] < h->nops[t] &&
			    (best < 0 || h->ops[t][pos[t]].inv < h->ops[best][pos[best]].inv))
				best = t;
		const struct op *o = &h->ops[best][pos[best]++];
		char call[64], res[48], resp[24];
		format_call(o, call, sizeof call);
		format_result(o, res, sizeof res);
		if (o->pending)
			snprintf(resp, sizeof resp, "%10s", "-");
		else
			snprintf(resp, sizeof resp, "%10.3f", (double)(o->resp - base) / 1000.0);
		fprintf(out, "%s%-4s %-26s -> %-16s [%10.3f %s]\n", indent, h->names[best], call, res,
		        (double)(o->inv - base) / 1000.0, resp);
	}
}

/* ------------------------------------------------------------------ parsing */

static bool parse_status(const char *s, chan_status *st)
{
	static const chan_status all[] = {CHAN_OK, CHAN_EMPTY, CHAN_FULL, CHAN_TIMEOUT, CHAN_CLOSED,
	                                  CHAN_ALREADY_CLOSED, CHAN_EINVAL, CHAN_ENOMEM,
	                                  CHAN_UNSUPPORTED, CHAN_DESTROYED};
	for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
		if (strcmp(s, chan_status_str(all[i])) == 0) {
			*st = all[i];
			return true;
		}
	return false;
}

static bool parse_time_us(const char *s, int64_t *ns)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end != '\0')
		return false;
	*ns = (int64_t)(v * 1000.0 + (v >= 0 ? 0.5 : -0.5));
	return true;
}

/* One line: `cap N` or `<thread> <op>[(<t>us)] [value] -> <result> [value] [<inv> <resp>|-]`.
 * Returns false with a message in err. */
static bool parse_line(struct history *h, char *line, char *err, size_t errlen)
{
	char *hash = strchr(line, '#');
	if (hash)
		*hash = '\0';
	char *tok[12];
	int ntok = 0;
	for (char *p = line; *p && ntok < 12;) {
		while (*p && (isspace((unsigned char)*p) || *p == '[' || *p == ']'))
			p++;
		if (!*p)
			break;
		tok[ntok++] = p;
		while (*p && !isspace((unsigned char)*p) && *p != '[' && *p != ']')
			p++;
		if (*p)
			*p++ = '\0';
	}
	if (ntok == 0)
		return true;
	if (strcmp(tok[0], "cap") == 0) {
		if (ntok != 2 || !driver_parse_cap(tok[1], &h->cap)) {
			snprintf(err, errlen, "bad capacity line");
			return false;
		}
		return true;
	}
	int t;
	for (t = 0; t < h->nthreads; t++)
		if (strcmp(h->names[t], tok[0]) == 0)
			break;
	if (t == h->nthreads) {
		if (h->nthreads == MAX_THREADS || strlen(tok[0]) >= sizeof h->names[0]) {
			snprintf(err, errlen, "too many threads, or a thread name too long");
			return false;
		}
		snprintf(h->names[t], sizeof h->names[t], "%s", tok[0]);
		h->nthreads++;
	}
	if (h->nops[t] == MAX_OPS) {
		snprintf(err, errlen, "too many operations on thread %s", tok[0]);
		return false;
	}
	struct op o = {0};
	int i = 1;
	if (i >= ntok)
		goto bad;
	char *paren = strchr(tok[i], '(');
	if (paren) {
		*paren = '\0';
		char *us = strstr(paren + 1, "us)");
		if (us == NULL)
			goto bad;
		*us = '\0';
		if (!parse_time_us(paren + 1, &o.timeout_ns))
			goto bad;
	}
	int kind;
	for (kind = 0; kind < N_OP_KINDS; kind++)
		if (strcmp(tok[i], op_name[kind]) == 0)
			break;
	if (kind == N_OP_KINDS)
		goto bad;
	o.kind = (uint8_t)kind;
	i++;
	if (is_send(kind)) {
		if (i >= ntok)
			goto bad;
		o.arg = (uintptr_t)strtoull(tok[i++], NULL, 10);
	}
	if (i >= ntok || strcmp(tok[i], "->") != 0)
		goto bad;
	i++;
	if (i >= ntok)
		goto bad;
	if (strcmp(tok[i], "pending") == 0) {
		o.pending = true;
	} else if (!parse_status(tok[i], &o.status)) {
		goto bad;
	}
	i++;
	if (!o.pending && is_recv(kind) && o.status == CHAN_OK) {
		if (i >= ntok)
			goto bad;
		o.got = (uintptr_t)strtoull(tok[i++], NULL, 10);
	}
	if (i + 2 != ntok || !parse_time_us(tok[i], &o.inv))
		goto bad;
	if (strcmp(tok[i + 1], "-") == 0) {
		o.pending = true;
		o.resp = INT64_MAX;
	} else if (!parse_time_us(tok[i + 1], &o.resp) || o.pending) {
		goto bad;
	}
	if (o.pending)
		o.resp = INT64_MAX;
	if (o.resp < o.inv || (h->nops[t] > 0 && h->ops[t][h->nops[t] - 1].resp > o.inv)) {
		snprintf(err, errlen, "times out of order on thread %s", tok[0]);
		return false;
	}
	if (h->nops[t] > 0 && h->ops[t][h->nops[t] - 1].pending) {
		snprintf(err, errlen, "an operation follows a pending one on thread %s", tok[0]);
		return false;
	}
	h->ops[t][h->nops[t]++] = o;
	return true;
bad:
	snprintf(err, errlen,
	         "cannot read the operation (expected: THREAD OP[(Nus)] [VALUE] -> RESULT [VALUE] "
	         "[INV RESP|-])");
	return false;
}

/* Parse a whole text: one history (a `cap` line starts it). */
static bool parse_history(const char *text, struct history *h, char *err, size_t errlen)
{
	memset(h, 0, sizeof *h);
	h->cap = 1;
	char *copy = strdup(text);
	if (copy == NULL)
		return false;
	bool ok = true;
	int lineno = 0;
	for (char *save = NULL, *line = strtok_r(copy, "\n", &save); line && ok;
	     line = strtok_r(NULL, "\n", &save)) {
		lineno++;
		char msg[200];
		if (!parse_line(h, line, msg, sizeof msg)) {
			snprintf(err, errlen, "line %d: %s", lineno, msg);
			ok = false;
		}
	}
	free(copy);
	return ok;
}

/* ------------------------------------------------------------------ checker */

enum verdict { LIN_OK, LIN_VIOLATION, LIN_INCONCLUSIVE, LIN_BAD_HISTORY };

struct mstate {
	uint8_t pos[MAX_THREADS];
	uint8_t waiting; /* bit t: thread t's current op is in a queue */
	uint8_t closed;
	uint8_t nbuf, nsq, nrq;
	uint8_t buf[MAX_VALUES]; /* value ids, oldest first */
	uint8_t sq[MAX_THREADS], rq[MAX_THREADS];
};

struct memo_entry {
	uint64_t h1, h2;
	uint32_t gen;
};

struct step {
	uint8_t thread, timeout;
};

struct checker {
	const struct history *h;
	bool unbounded;
	size_t cap;
	struct memo_entry *memo;
	size_t memo_mask, memo_used;
	uint32_t gen;
	uint64_t steps, budget;
	bool exhausted;
	struct step path[MAX_EVENTS], best[MAX_EVENTS];
	int best_depth;
	uintptr_t values[MAX_VALUES]; /* vid -> value */
	uint64_t total_states, max_states;
};

static bool checker_init(struct checker *c, unsigned memo_bits, uint64_t budget)
{
	memset(c, 0, sizeof *c);
	c->memo = calloc((size_t)1 << memo_bits, sizeof *c->memo);
	c->memo_mask = ((size_t)1 << memo_bits) - 1;
	c->budget = budget;
	return c->memo != NULL;
}

static void checker_free(struct checker *c)
{
	free(c->memo);
}

static size_t state_key(const struct checker *c, const struct mstate *s, uint8_t *key)
{
	size_t n = 0;
	for (int t = 0; t < c->h->nthreads; t++)
		key[n++] = s->pos[t];
	key[n++] = s->waiting;
	key[n++] = s->closed;
	key[n++] = s->nbuf;
	memcpy(key + n, s->buf, s->nbuf);
	n += s->nbuf;
	key[n++] = s->nsq;
	memcpy(key + n, s->sq, s->nsq);
	n += s->nsq;
	key[n++] = s->nrq;
	memcpy(key + n, s->rq, s->nrq);
	n += s->nrq;
	return n;
}

/* True if the state was seen before (it failed then); else remember it. */
static bool memo_seen(struct checker *c, const struct mstate *s)
{
	uint8_t key[KEY_MAX];
	size_t n = state_key(c, s, key);
	uint64_t h1 = 0xcbf29ce484222325ull, h2 = 0x84222325cbf29ce4ull;
	for (size_t i = 0; i < n; i++) {
		h1 = (h1 ^ key[i]) * 0x100000001b3ull;
		h2 = (h2 ^ key[i]) * 0x9e3779b97f4a7c15ull;
		h2 ^= h2 >> 29;
	}
	if (c->memo_used * 4 >= (c->memo_mask + 1) * 3)
		return false; /* full: search on without memo (slower, still exact) */
	for (size_t i = (size_t)h1 & c->memo_mask;; i = (i + 1) & c->memo_mask) {
		struct memo_entry *e = &c->memo[i];
		if (e->gen != c->gen) {
			*e = (struct memo_entry){h1, h2, c->gen};
			c->memo_used++;
			return false;
		}
		if (e->h1 == h1 && e->h2 == h2)
			return true;
	}
}

/* Complete thread j's current op with (status, vid) at instant t. False if
 * the history contradicts it. */
static bool complete(struct checker *c, struct mstate *s, int j, chan_status st, uint8_t vid,
                     int64_t t)
{
	const struct op *o = &c->h->ops[j][s->pos[j]];
	if (!o->pending) {
		if (t > o->resp || o->status != st)
			return false;
		if (is_recv(o->kind) && st == CHAN_OK && c->values[vid] != o->got)
			return false;
	}
	s->pos[j]++;
	s->waiting &= (uint8_t)~(1u << j);
	return true;
}

static void queue_remove(uint8_t *q, uint8_t *n, int t)
{
	for (int i = 0; i < *n; i++)
		if (q[i] == t) {
			memmove(q + i, q + i + 1, (size_t)(*n - i - 1));
			(*n)--;
			return;
		}
}

/* The call event of thread i's current op at instant t: false if the
 * history contradicts the outcome. */
static bool apply_call(struct checker *c, struct mstate *s, int i, int64_t t)
{
	const struct op *o = &c->h->ops[i][s->pos[i]];
	switch (o->kind) {
	case OP_SEND:
	case OP_TRY_SEND:
	case OP_SEND_TIMED:
		if (s->closed)
			return complete(c, s, i, CHAN_CLOSED, 0, t);
		if (s->nrq > 0) {
			int r = s->rq[0];
			memmove(s->rq, s->rq + 1, --s->nrq);
			return complete(c, s, r, CHAN_OK, o->arg_vid, t) &&
			       complete(c, s, i, CHAN_OK, 0, t);
		}
		if (c->unbounded || s->nbuf < c->cap) {
			if (s->nbuf == MAX_VALUES)
				return false;
			s->buf[s->nbuf++] = o->arg_vid;
			return complete(c, s, i, CHAN_OK, 0, t);
		}
		if (o->kind == OP_TRY_SEND)
			return complete(c, s, i, CHAN_FULL, 0, t);
		s->sq[s->nsq++] = (uint8_t)i;
		s->waiting |= (uint8_t)(1u << i);
		return true;
	case OP_RECV:
	case OP_TRY_RECV:
	case OP_RECV_TIMED:
		if (s->nbuf > 0) {
			uint8_t v = s->buf[0];
			memmove(s->buf, s->buf + 1, --s->nbuf);
			if (s->nsq > 0) {
				int w = s->sq[0];
				memmove(s->sq, s->sq + 1, --s->nsq);
				s->buf[s->nbuf++] = c->h->ops[w][s->pos[w]].arg_vid;
				if (!complete(c, s, w, CHAN_OK, 0, t))
					return false;
			}
			return complete(c, s, i, CHAN_OK, v, t);
		}
		if (s->nsq > 0) {
			int w = s->sq[0];
			memmove(s->sq, s->sq + 1, --s->nsq);
			uint8_t v = c->h->ops[w][s->pos[w]].arg_vid;
			return complete(c, s, w, CHAN_OK, 0, t) && complete(c, s, i, CHAN_OK, v, t);
		}
		if (s->closed)
			return complete(c, s, i, CHAN_CLOSED, 0, t);
		if (o->kind == OP_TRY_RECV)
			return complete(c, s, i, CHAN_EMPTY, 0, t);
		s->rq[s->nrq++] = (uint8_t)i;
		s->waiting |= (uint8_t)(1u << i);
		return true;
	case OP_CLOSE:
		if (s->closed)
			return complete(c, s, i, CHAN_ALREADY_CLOSED, 0, t);
		s->closed = 1;
		for (int k = 0; k < s->nrq; k++)
			if (!complete(c, s, s->rq[k], CHAN_CLOSED, 0, t))
				return false;
		for (int k = 0; k < s->nsq; k++)
			if (!complete(c, s, s->sq[k], CHAN_CLOSED, 0, t))
				return false;
		s->nrq = s->nsq = 0;
		return complete(c, s, i, CHAN_OK, 0, t);
	}
	return false;
}

static bool dfs(struct checker *c, const struct mstate *s, int depth)
{
	const struct history *h = c->h;
	if (++c->steps > c->budget) {
		c->exhausted = true;
		return false;
	}
	if (depth > c->best_depth) {
		c->best_depth = depth;
		memcpy(c->best, c->path, (size_t)depth * sizeof c->path[0]);
	}
	/* The current instant: the latest invocation among the ops called. */
	int64_t now = INT64_MIN;
	bool done = true;
	for (int t = 0; t < h->nthreads; t++) {
		int p = s->pos[t];
		if (p < h->nops[t] && !h->ops[t][p].pending)
			done = false;
		int64_t last = (s->waiting & (1u << t)) ? h->ops[t][p].inv
		               : p > 0                  ? h->ops[t][p - 1].inv
		                                        : INT64_MIN;
		if (last > now)
			now = last;
	}
	if (done)
		return true; /* what is left is pending: it may never take effect */
	for (int t = 0; t < h->nthreads; t++) {
		int p = s->pos[t];
		if (p < h->nops[t] && h->ops[t][p].resp < now)
			return false; /* an op that has returned can no longer complete */
	}
	if (memo_seen(c, s))
		return false;
	c->total_states++;

	for (int t = 0; t < h->nthreads; t++) {
		int p = s->pos[t];
		if (p >= h->nops[t])
			continue;
		const struct op *o = &h->ops[t][p];
		struct mstate n = *s;
		if (!(s->waiting & (1u << t))) {
			int64_t at = o->inv > now ? o->inv : now;
			if (at > o->resp || !apply_call(c, &n, t, at))
				continue;
			c->path[depth] = (struct step){(uint8_t)t, 0};
		} else if (is_timed(o->kind)) {
			if (is_send(o->kind))
				queue_remove(n.sq, &n.nsq, t);
			else
				queue_remove(n.rq, &n.nrq, t);
			if (!complete(c, &n, t, CHAN_TIMEOUT, 0, now))
				continue;
			c->path[depth] = (struct step){(uint8_t)t, 1};
		} else {
			continue; /* a blocking waiter completes by others' events */
		}
		if (dfs(c, &n, depth + 1))
			return true;
		if (c->exhausted)
			return false;
	}
	return false;
}

/* Give every send an id (the model's buffer holds ids; a receive is compared
 * by value, so a value sent twice, say after a FULL, is fine). A recv may
 * return anything: a value no send carried matches no id. False (with a
 * message) for a history too big for the model's state. */
static bool checker_prepare(struct checker *c, struct history *h, char *err, size_t errlen)
{
	int nv = 0;
	for (int t = 0; t < h->nthreads; t++)
		for (int i = 0; i < h->nops[t]; i++) {
			struct op *o = &h->ops[t][i];
			o->arg_vid = 0;
			if (!is_send(o->kind))
				continue;
			if (nv + 1 >= MAX_VALUES) {
				snprintf(err, errlen, "more than %d sends", MAX_VALUES - 2);
				return false;
			}
			c->values[++nv] = o->arg;
			o->arg_vid = (uint8_t)nv;
		}
	return true;
}

static enum verdict check_history(struct checker *c, struct history *h, char *err, size_t errlen)
{
	if (!checker_prepare(c, h, err, errlen))
		return LIN_BAD_HISTORY;
	c->h = h;
	c->unbounded = h->cap == CHAN_UNBOUNDED;
	c->cap = h->cap;
	c->steps = 0;
	c->exhausted = false;
	c->best_depth = 0;
	c->memo_used = 0;
	if (++c->gen == 0) {
		memset(c->memo, 0, (c->memo_mask + 1) * sizeof *c->memo);
		c->gen = 1;
	}
	struct mstate s;
	memset(&s, 0, sizeof s);
	bool ok = dfs(c, &s, 0);
	if (c->memo_used > c->max_states)
		c->max_states = c->memo_used;
	if (ok)
		return LIN_OK;
	return c->exhausted ? LIN_INCONCLUSIVE : LIN_VIOLATION;
}

/* After a violation: the longest sequence of events the model accepted. */
static void print_best_prefix(FILE *out, const struct checker *c, const char *indent)
{
	const struct history *h = c->h;
	fprintf(out, "%slongest prefix the model accepts (%d events):", indent, c->best_depth);
	/* Replay the events through the model to name each one's op. */
	static struct checker tmp;
	tmp = *c;
	struct mstate s;
	memset(&s, 0, sizeof s);
	for (int d = 0; d < c->best_depth; d++) {
		int t = c->best[d].thread;
		const struct op *o = &h->ops[t][s.pos[t]];
		char call[64];
		format_call(o, call, sizeof call);
		int64_t now = INT64_MIN;
		for (int k = 0; k < h->nthreads; k++) {
			int64_t last = (s.waiting & (1u << k)) ? h->ops[k][s.pos[k]].inv
			               : s.pos[k] > 0          ? h->ops[k][s.pos[k] - 1].inv
			                                       : INT64_MIN;
			if (last > now)
				now = last;
		}
		if (c->best[d].timeout) {
			fprintf(out, "%s %s:%s times out", d ? ";" : "", h->names[t], call);
			if (is_send(o->kind))
				queue_remove(s.sq, &s.nsq, t);
			else
				queue_remove(s.rq, &s.nrq, t);
			s.pos[t]++;
			s.waiting &= (uint8_t)~(1u << t);
		} else {
			int before = s.pos[t];
			apply_call(&tmp, &s, t, o->inv > now ? o->inv : now);
			fprintf(out, "%s %s:%s%s", d ? ";" : "", h->names[t], call,
			        s.pos[t] == before ? " waits" : "");
		}
	}
	fprintf(out, "\n%smodel state then: %s, buffer [", indent, s.closed ? "closed" : "open");
	for (int i = 0; i < s.nbuf; i++)
		fprintf(out, "%s%" PRIuPTR, i ? " " : "", c->values[s.buf[i]]);
	fprintf(out, "], %d waiting senders, %d waiting receivers; no next event fits the history\n",
	        s.nsq, s.nrq);
}

/* ----------------------------------------------------------------- recorder */

enum mix { MIX_BLOCKING, MIX_TRY, MIX_TIMED, MIX_CLOSE, MIX_MIXED, N_MIXES };
static const char *const mix_name[N_MIXES] = {"blocking", "try", "timed", "close", "mixed"};
/* Weights of send, try_send, send_timeout, recv, try_recv, recv_timeout, close. */
static const unsigned mix_weights[N_MIXES][N_OP_KINDS] = {
	[MIX_BLOCKING] = {50, 0, 0, 50, 0, 0, 0},
	[MIX_TRY] = {15, 35, 0, 15, 35, 0, 0},
	[MIX_TIMED] = {5, 10, 35, 5, 10, 35, 0},
	[MIX_CLOSE] = {25, 15, 0, 25, 15, 0, 20},
	[MIX_MIXED] = {1, 1, 1, 1, 1, 1, 0},
};
static const int64_t tiny_timeouts[] = {0, 1000, 5000, 20000, 100000};

struct wop {
	uint8_t kind;
	uintptr_t arg;
	int64_t timeout_ns;
	unsigned spin;
	/* results, published by `state` (release) */
	atomic_int state; /* 0 planned, 1 invoked (inv valid), 2 returned (all valid) */
	chan_status status;
	uintptr_t got;
	int64_t inv, resp;
};

struct recorder;

struct worker {
	pthread_t tid;
	int index;
	struct recorder *rec;
	int nops;
	struct wop ops[MAX_WORKER_OPS];
};

struct recorder {
	const char *impl;
	size_t cap;
	chan_t *ch;
	pthread_barrier_t start;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int finished; /* workers done with this history (under lock) */
	bool quit;
	int64_t start_ns;
	uintptr_t next_value; /* for the recorder's own sends */
	struct worker workers[MAX_WORKERS];
	atomic_uint_fast64_t undelivered;
};

static void spin_for(unsigned n)
{
	for (volatile unsigned i = 0; i < n; i++)
		;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct recorder *rec = w->rec;
	for (;;) {
		pthread_barrier_wait(&rec->start);
		if (rec->quit)
			break;
		chan_t *ch = rec->ch;
		while (chan_now_ns() < rec->start_ns)
			;
		for (int i = 0; i < w->nops; i++) {
			struct wop *o = &w->ops[i];
			spin_for(o->spin);
			chan_status st = CHAN_EINVAL;
			uintptr_t got = 0;
			o->inv = chan_now_ns();
			atomic_store_explicit(&o->state, 1, memory_order_release);
			switch (o->kind) {
			case OP_SEND: st = chan_send(ch, o->arg); break;
			case OP_TRY_SEND: st = chan_try_send(ch, o->arg); break;
			case OP_SEND_TIMED: st = chan_send_timeout(ch, o->arg, o->timeout_ns); break;
			case OP_RECV: st = chan_recv(ch, &got); break;
			case OP_TRY_RECV: st = chan_try_recv(ch, &got); break;
			case OP_RECV_TIMED: st = chan_recv_timeout(ch, &got, o->timeout_ns); break;
			case OP_CLOSE: st = chan_close(ch); break;
			}
			o->resp = chan_now_ns();
			o->status = st;
			o->got = got;
			atomic_store_explicit(&o->state, 2, memory_order_release);
		}
		pthread_mutex_lock(&rec->lock);
		rec->finished++;
		pthread_cond_signal(&rec->cond);
		pthread_mutex_unlock(&rec->lock);
	}
	return NULL;
}

static void undelivered_cb(uintptr_t v, void *ctx)
{
	(void)v;
	struct recorder *rec = ctx;
	atomic_fetch_add(&rec->undelivered, 1);
}

/* Wait until every worker finished or the deadline passed; true if finished. */
static bool wait_workers(struct recorder *rec, int64_t deadline)
{
	struct timespec ts = {(time_t)(deadline / 1000000000), (long)(deadline % 1000000000)};
	pthread_mutex_lock(&rec->lock);
	while (rec->finished < MAX_WORKERS)
		if (pthread_cond_timedwait(&rec->cond, &rec->lock, &ts) != 0)
			break;
	bool all = rec->finished == MAX_WORKERS;
	pthread_mutex_unlock(&rec->lock);
	return all;
}

/* Which findings make the run fail (the others are printed as notes). */
enum fail_on { FAIL_ALL, FAIL_HISTORY, FAIL_LIVENESS };

struct config {
	const char *impl;
	size_t cap;
	int mix;
	int max_workers, ops_min, ops_max;
	int64_t grace_ns, liveness_ns;
	int64_t soft_deadline; /* start no history after this (CLOCK_MONOTONIC ns) */
	enum fail_on fail_on;
	uint64_t seed;
};

/* Draw the operations of one history. */
static void plan_history(struct recorder *rec, const struct config *cfg, struct driver_rng *rng)
{
	int nworkers = 2 + (int)driver_rng_below(rng, (uint64_t)(cfg->max_workers - 1));
	uintptr_t next_value = 1;
	unsigned total_w = 0;
	for (int k = 0; k < N_OP_KINDS; k++)
		total_w += mix_weights[cfg->mix][k];
	for (int w = 0; w < MAX_WORKERS; w++) {
		struct worker *wk = &rec->workers[w];
		wk->nops = w < nworkers ? cfg->ops_min + (int)driver_rng_below(
		                                            rng, (uint64_t)(cfg->ops_max - cfg->ops_min + 1))
		                        : 0;
		for (int i = 0; i < wk->nops; i++) {
			struct wop *o = &wk->ops[i];
			unsigned pick = (unsigned)driver_rng_below(rng, total_w);
			int kind = 0;
			while (pick >= mix_weights[cfg->mix][kind])
				pick -= mix_weights[cfg->mix][kind++];
			o->kind = (uint8_t)kind;
			o->arg = is_send(kind) ? next_value++ : 0;
			o->timeout_ns = is_timed(kind) ? tiny_timeouts[driver_rng_below(
			                                     rng, sizeof tiny_timeouts / sizeof tiny_timeouts[0])]
			                               : 0;
			o->spin = driver_rng_below(rng, 2) ? (unsigned)driver_rng_below(rng, 3000) : 0;
			atomic_store_explicit(&o->state, 0, memory_order_relaxed);
		}
	}
	rec->next_value = next_value;
}

/* Turn what the workers recorded into a history; ops that never returned
 * are pending. The recorder's own ops are thread "rec". */
static void collect_history(const struct recorder *rec, struct history *h, const struct op *rec_ops,
                            int nrec)
{
	memset(h, 0, sizeof *h);
	h->cap = rec->cap;
	for (int w = 0; w < MAX_WORKERS; w++) {
		const struct worker *wk = &rec->workers[w];
		if (wk->nops == 0)
			continue;
		int t = h->nthreads++;
		snprintf(h->names[t], sizeof h->names[t], "t%d", w);
		for (int i = 0; i < wk->nops; i++) {
			const struct wop *o = &wk->ops[i];
			int state = atomic_load_explicit(&((struct wop *)o)->state, memory_order_acquire);
			if (state == 0)
				break; /* never invoked: not part of the history */
			struct op *d = &h->ops[t][h->nops[t]++];
			d->kind = o->kind;
			d->arg = o->arg;
			d->timeout_ns = o->timeout_ns;
			d->inv = o->inv;
			if (state == 2) {
				d->resp = o->resp;
				d->status = o->status;
				d->got = o->got;
			} else {
				d->pending = true;
				d->resp = INT64_MAX;
				break;
			}
		}
	}
	int t = h->nthreads++;
	snprintf(h->names[t], sizeof h->names[t], "rec");
	for (int i = 0; i < nrec; i++)
		h->ops[t][h->nops[t]++] = rec_ops[i];
}

struct run_stats {
	uint64_t histories, violations, inconclusive, liveness, bad, rescues;
	bool cut_short;
	uint64_t ops, overlapping, woken_by_close, undelivered;
	uint64_t status_count[CHAN_EXISTS + 1];
	uint64_t states, max_states;
	double record_s, check_s;
};

static bool histories_overlap(const struct history *h)
{
	for (int a = 0; a < h->nthreads; a++)
		for (int b = a + 1; b < h->nthreads; b++)
			for (int i = 0; i < h->nops[a]; i++)
				for (int j = 0; j < h->nops[b]; j++) {
					const struct op *x = &h->ops[a][i], *y = &h->ops[b][j];
					if (x->inv < y->resp && y->inv < x->resp)
						return true;
				}
	return false;
}

static void report_violation(const struct config *cfg, uint64_t n, const char *what,
                             const char *prop, struct history *h, struct checker *ck,
                             enum verdict v, bool print, bool counts)
{
	if (!print)
		return;
	char cb[32];
	fprintf(stderr,
	        "%s: [%s] impl=%s cap=%s mix=%s history #%" PRIu64 " (seed %" PRIu64 "): %s\n",
	        counts ? "discrepancy" : "note", prop, cfg->impl,
	        driver_cap_str(cfg->cap, cb, sizeof cb), mix_name[cfg->mix], n, cfg->seed, what);
	print_history(stderr, h, counts ? "    " : "note:     ");
	if (v == LIN_VIOLATION)
		print_best_prefix(stderr, ck, counts ? "    " : "note:     ");
}

/* The summary line: results are collected here and printed once, at the end
 * or when a liveness failure ends the run early. */
static struct {
	FILE *results;
	char *mem;
	size_t len;
	uint64_t failures; /* findings that count (see --fail-on) in finished runs */
	int nresults;
	const char *impl;
	uint64_t seed;
	int64_t start;
} summary;

static void print_summary(uint64_t failures, bool fatal)
{
	fflush(summary.results);
	printf("{\"driver\": \"" PROG "\", \"impl\": ");
	driver_json_str(stdout, summary.impl);
	printf(", \"seed\": %" PRIu64 ", \"results\": [%s], \"failures\": %" PRIu64
	       ", \"fatal_liveness\": %s, \"status\": \"%s\", \"ok\": %s, \"elapsed_s\": %.3f}\n",
	       summary.seed, summary.mem ? summary.mem : "", failures, fatal ? "true" : "false",
	       failures ? "fail" : "pass", failures ? "false" : "true",
	       (double)(chan_now_ns() - summary.start) / 1e9);
	fflush(stdout);
}

static const char *mix_prop(int mix, size_t cap)
{
	switch (mix) {
	case MIX_BLOCKING: return "Q2";
	case MIX_TRY: return cap == 0 ? "Q12" : cap == CHAN_UNBOUNDED ? "Q11" : "Q6";
	case MIX_TIMED: return "T4";
	case MIX_CLOSE: return "C1";
	default: return "Q3";
	}
}

/* Add one (cap, mix) result to the summary; returns the findings that count. */
static uint64_t append_result(const struct config *cfg, const struct run_stats *rs)
{
	char cb[32];
	uint64_t counted = (cfg->fail_on != FAIL_LIVENESS ? rs->violations : 0) +
	                   (cfg->fail_on != FAIL_HISTORY ? rs->liveness : 0);
	fprintf(summary.results,
	        "%s{\"cap\": \"%s\", \"mix\": \"%s\", \"prop\": \"%s\", \"status\": \"%s\", "
	        "\"histories\": %" PRIu64 ", \"violations\": %" PRIu64 ", \"liveness\": %" PRIu64
	        ", \"rescues\": %" PRIu64 ", \"cut_short\": %s, \"inconclusive\": %" PRIu64
	        ", \"ops\": %" PRIu64 ", \"overlapping\": %" PRIu64 ", \"woken_by_close\": %" PRIu64
	        ", \"states\": %" PRIu64 ", \"max_states\": %" PRIu64
	        ", \"record_s\": %.3f, \"check_s\": %.3f, \"results\": {",
	        summary.nresults++ ? ", " : "", driver_cap_str(cfg->cap, cb, sizeof cb),
	        mix_name[cfg->mix], mix_prop(cfg->mix, cfg->cap), counted ? "fail" : "pass",
	        rs->histories, rs->violations, rs->liveness, rs->rescues,
	        rs->cut_short ? "true" : "false", rs->inconclusive, rs->ops, rs->overlapping,
	        rs->woken_by_close, rs->states, rs->max_states, rs->record_s, rs->check_s);
	bool first = true;
	for (int st = 0; st <= CHAN_EXISTS; st++)
		if (rs->status_count[st]) {
			fprintf(summary.results, "%s\"%s\": %" PRIu64, first ? "" : ", ",
			        chan_status_str((chan_status)st), rs->status_count[st]);
			first = false;
		}
	fprintf(summary.results, "}}");
	return counted;
}

/* Record and check histories for one (impl, cap, mix). */
/* One operation by the recorder itself (thread "rec"), recorded. */
static chan_status rec_op(struct recorder *rec, struct op *rec_ops, int *nrec, int kind,
                          uintptr_t arg, int64_t timeout_ns)
{
	struct op *o = &rec_ops[(*nrec)++];
	*o = (struct op){.kind = (uint8_t)kind, .arg = arg, .timeout_ns = timeout_ns};
	o->inv = chan_now_ns();
	switch (kind) {
	case OP_CLOSE: o->status = chan_close(rec->ch); break;
	case OP_TRY_RECV: o->status = chan_try_recv(rec->ch, &o->got); break;
	case OP_RECV_TIMED: o->status = chan_recv_timeout(rec->ch, &o->got, timeout_ns); break;
	case OP_SEND_TIMED: o->status = chan_send_timeout(rec->ch, arg, timeout_ns); break;
	default: o->status = CHAN_EINVAL; break;
	}
	o->resp = chan_now_ns();
	return o->status;
}

#define RESCUE_MAX 16 /* counterpart ops per history (keeps rec within MAX_OPS) */

/* Free workers stuck in an operation by playing its counterpart, recorded: a
 * recv for a blocked send, a send of a fresh value for a blocked recv, each
 * with a 1 ms timeout. A timed op is left alone until it overran its timeout
 * by 1 ms. An op that has not returned may merely be descheduled (it may have
 * completed inside the channel already), so the waits between counterparts
 * grow (0.1 ms, 0.2 ms, ... 100 ms) and at most RESCUE_MAX are played; the
 * workers then get until the deadline. True once every worker has finished.
 * Precondition: some worker has not finished. */
static bool unblock_workers(struct recorder *rec, struct op *rec_ops, int *nrec, int *rescues,
                            int64_t deadline)
{
	int64_t wait = 100000;
	for (bool first = true; first || !wait_workers(rec, chan_now_ns() + wait); first = false) {
		int64_t now = chan_now_ns();
		if (now >= deadline)
			return false;
		if (!first && wait < 100000000)
			wait *= 2;
		if (*rescues >= RESCUE_MAX)
			continue;
		int kind = -1;
		for (int w = 0; w < MAX_WORKERS && kind < 0; w++)
			for (int i = 0; i < rec->workers[w].nops && kind < 0; i++) {
				struct wop *o = &rec->workers[w].ops[i];
				if (atomic_load_explicit(&o->state, memory_order_acquire) != 1 ||
				    o->kind == OP_CLOSE)
					continue;
				if (is_timed(o->kind) && now - o->inv < o->timeout_ns + 1000000)
					continue;
				kind = o->kind;
			}
		if (kind < 0)
			continue;
		(*rescues)++;
		if (is_send(kind))
			rec_op(rec, rec_ops, nrec, OP_RECV_TIMED, 0, 1000000);
		else
			rec_op(rec, rec_ops, nrec, OP_SEND_TIMED, rec->next_value++, 1000000);
	}
	return true;
}

static void run_config(const struct config *cfg, uint64_t histories, double seconds,
                       struct checker *ck, struct run_stats *rs)
{
	static struct recorder rec; /* workers keep pointers into it */
	memset(&rec, 0, sizeof rec);
	rec.impl = cfg->impl;
	rec.cap = cfg->cap;
	pthread_barrier_init(&rec.start, NULL, MAX_WORKERS + 1);
	pthread_mutex_init(&rec.lock, NULL);
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&rec.cond, &attr);
	pthread_condattr_destroy(&attr);
	for (int w = 0; w < MAX_WORKERS; w++) {
		rec.workers[w].index = w;
		rec.workers[w].rec = &rec;
		if (pthread_create(&rec.workers[w].tid, NULL, worker_main, &rec.workers[w]) != 0) {
			fprintf(stderr, PROG ": cannot create threads\n");
			exit(DRIVER_EXIT_USAGE);
		}
	}
	const char *prop = mix_prop(cfg->mix, cfg->cap);
	bool closes = cfg->mix == MIX_CLOSE;
	bool history_counts = cfg->fail_on != FAIL_LIVENESS;
	bool liveness_counts = cfg->fail_on != FAIL_HISTORY;
	int64_t liveness_ns = cfg->liveness_ns;
	static struct history h;
	int64_t begin = chan_now_ns();
	for (uint64_t n = 0;; n++) {
		int64_t now = chan_now_ns();
		if (n >= histories && (double)(now - begin) / 1e9 >= seconds)
			break;
		if (now >= cfg->soft_deadline) {
			rs->cut_short = true;
			break;
		}
		if (cfg->fail_on == FAIL_LIVENESS && rs->liveness > 0)
			break; /* decided: no need to wait on more stuck histories */
		struct driver_rng rng;
		driver_rng_seed(&rng, cfg->seed * 0x100000001b3ull + n * 31 + (uint64_t)cfg->mix);
		plan_history(&rec, cfg, &rng);
		chan_config cc = {.undelivered = undelivered_cb, .undelivered_ctx = &rec};
		atomic_store(&rec.undelivered, 0);
		chan_status st = chan_create(cfg->impl, cfg->cap, &cc, &rec.ch);
		if (st != CHAN_OK) {
			fprintf(stderr, PROG ": chan_create(%s) failed: %s\n", cfg->impl,
			        chan_status_str(st));
			exit(DRIVER_EXIT_USAGE);
		}
		rec.finished = 0;
		rec.start_ns = chan_now_ns() + 20000;
		int64_t t0 = chan_now_ns();
		pthread_barrier_wait(&rec.start);

		struct op rec_ops[MAX_OPS];
		int nrec = 0, rescues = 0;
		int64_t close_inv = INT64_MAX;
		bool done = wait_workers(&rec, rec.start_ns + cfg->grace_ns);
		if (closes) {
			/* The close mix: the recorder closes, which must wake everyone (C3). */
			rec_op(&rec, rec_ops, &nrec, OP_CLOSE, 0, 0);
			close_inv = rec_ops[nrec - 1].inv;
			done = wait_workers(&rec, chan_now_ns() + liveness_ns);
			if (!done) {
				rs->liveness++;
				collect_history(&rec, &h, rec_ops, nrec);
				char err[200] = "", what[300];
				enum verdict v = check_history(ck, &h, err, sizeof err);
				snprintf(what, sizeof what,
				         "liveness: operations still blocked %.0f ms after the recorder closed "
				         "the channel (close must wake every blocked sender and receiver); the "
				         "history with them pending is %s",
				         (double)liveness_ns / 1e6,
				         v == LIN_OK ? "linearizable otherwise" : "not linearizable either");
				report_violation(cfg, n, what, "C3", &h, ck, v, rs->liveness <= PRINT_LIMIT,
				                 liveness_counts);
				if (rs->liveness >= PRINT_LIMIT)
					liveness_ns = 20000000; /* known by now: do not wait long again */
			}
		}
		if (!done && !unblock_workers(&rec, rec_ops, &nrec, &rescues,
		                              chan_now_ns() + cfg->liveness_ns)) {
			collect_history(&rec, &h, rec_ops, nrec);
			char err[200] = "", what[300];
			enum verdict v = check_history(ck, &h, err, sizeof err);
			snprintf(what, sizeof what,
			         "liveness: operations still blocked %.0f ms after the recorder offered "
			         "counterparts (%d receives or sends that would have freed them)%s",
			         (double)cfg->liveness_ns / 1e6, rescues,
			         closes ? " and closed the channel" : "");
			/* The run cannot go on (threads are stuck in the channel). In the
			 * close mix the stuck ops are C3's business: a run judged on the
			 * histories only (C1) counts this history only if it is not
			 * linearizable even with them pending. */
			bool counts = !(closes && cfg->fail_on == FAIL_HISTORY) || v == LIN_VIOLATION;
			report_violation(cfg, n, what, closes ? "C3" : prop, &h, ck, v, true, counts);
			if (!counts)
				fprintf(stderr, "note: the run stops here; %" PRIu64 " histories were checked\n",
				        n);
			fflush(stderr);
			rs->liveness++;
			if (v == LIN_VIOLATION)
				rs->violations++;
			rs->histories = n;
			summary.failures += append_result(cfg, rs);
			print_summary(summary.failures, true);
			_exit(summary.failures ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK);
		}
		/* Drain: every message must come out, in order, then EMPTY (or CLOSED). */
		int sends = 0;
		for (int w = 0; w < MAX_WORKERS; w++)
			for (int i = 0; i < rec.workers[w].nops; i++)
				sends += is_send(rec.workers[w].ops[i].kind);
		sends += rescues;
		for (int i = 0; i <= sends + 1 && nrec < MAX_OPS; i++)
			if (rec_op(&rec, rec_ops, &nrec, OP_TRY_RECV, 0, 0) != CHAN_OK)
				break;
		chan_destroy(rec.ch);
		rec.ch = NULL;
		int64_t t1 = chan_now_ns();
		rs->record_s += (double)(t1 - t0) / 1e9;

		collect_history(&rec, &h, rec_ops, nrec);
		char err[200] = "";
		enum verdict v = check_history(ck, &h, err, sizeof err);
		rs->check_s += (double)(chan_now_ns() - t1) / 1e9;
		rs->histories++;
		rs->rescues += (uint64_t)rescues;
		rs->states += ck->total_states;
		ck->total_states = 0;
		if (ck->max_states > rs->max_states)
			rs->max_states = ck->max_states;
		if (histories_overlap(&h))
			rs->overlapping++;
		for (int t = 0; t < h.nthreads; t++)
			for (int i = 0; i < h.nops[t]; i++) {
				const struct op *x = &h.ops[t][i];
				rs->ops++;
				if (!x->pending && x->status <= CHAN_EXISTS)
					rs->status_count[x->status]++;
				if (t < h.nthreads - 1 && x->resp > close_inv && x->inv < close_inv &&
				    x->status == CHAN_CLOSED)
					rs->woken_by_close++;
			}
		uint64_t und = atomic_load(&rec.undelivered);
		if (v == LIN_VIOLATION) {
			rs->violations++;
			report_violation(cfg, n, "not linearizable: no order of the operations fits the model",
			                 prop, &h, ck, v, rs->violations <= PRINT_LIMIT, history_counts);
		} else if (v == LIN_INCONCLUSIVE) {
			rs->inconclusive++;
		} else if (v == LIN_BAD_HISTORY) {
			rs->bad++;
			fprintf(stderr, PROG ": history #%" PRIu64 " cannot be checked: %s\n", n, err);
		} else if (und != 0) {
			rs->undelivered += und;
			rs->violations++;
			char what[200];
			snprintf(what, sizeof what,
			         "%" PRIu64 " messages went to the undelivered callback at destroy although "
			         "the drain had found the channel %s",
			         und, closes ? "closed" : "empty");
			report_violation(cfg, n, what, closes ? "C1" : prop, &h, ck, v,
			                 rs->violations <= PRINT_LIMIT, history_counts);
		}
	}
	rec.quit = true;
	pthread_barrier_wait(&rec.start);
	for (int w = 0; w < MAX_WORKERS; w++)
		pthread_join(rec.workers[w].tid, NULL);
	pthread_barrier_destroy(&rec.start);
	pthread_cond_destroy(&rec.cond);
	pthread_mutex_destroy(&rec.lock);
}

/* ---------------------------------------------------------------- self-test */

struct self_case {
	const char *name;
	bool legal;
	const char *text;
};

static const struct self_case self_cases[] = {
	/* Illegal histories: the checker must reject each. */
	{"LIFO: the second value comes out first", false,
	 "cap 2\n t0 send 1 -> ok [0 1]\n t0 send 2 -> ok [2 3]\n"
	 " t1 recv -> ok 2 [4 5]\n t1 recv -> ok 1 [6 7]\n"},
	{"FIFO across threads: 2 was sent after 1 returned, yet comes out first", false,
	 "cap 2\n t0 send 1 -> ok [0 1]\n t1 send 2 -> ok [2 3]\n t2 recv -> ok 2 [4 5]\n"},
	{"lost message: try_recv empty after a completed send", false,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t1 try_recv -> empty [2 3]\n"},
	{"lost message: the drain finds nothing", false,
	 "cap 2\n t0 send 1 -> ok [0 1]\n rec close -> ok [2 3]\n rec try_recv -> closed [4 5]\n"},
	{"recv returns a value never sent", false,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t1 recv -> ok 9 [2 3]\n"},
	{"CLOSED before the drain", false,
	 "cap 2\n t0 send 1 -> ok [0 1]\n t0 close -> ok [2 3]\n t1 recv -> closed [4 5]\n"},
	{"duplicate: one value received twice", false,
	 "cap 2\n t0 send 1 -> ok [0 1]\n t1 recv -> ok 1 [2 3]\n t2 recv -> ok 1 [4 5]\n"},
	{"duplicate even with a pending op", false,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t1 recv -> pending [2 -]\n"
	 " t2 try_recv -> ok 1 [3 4]\n t2 try_recv -> ok 1 [5 6]\n"},
	{"capacity 1 holds two", false,
	 "cap 1\n t0 try_send 1 -> ok [0 1]\n t0 try_send 2 -> ok [2 3]\n"},
	{"full below capacity", false,
	 "cap 2\n t0 try_send 1 -> ok [0 1]\n t0 try_send 2 -> full [2 3]\n"},
	{"unbounded reports full", false, "cap unbounded\n t0 try_send 1 -> full [0 1]\n"},
	{"rendezvous try_send succeeds with no receiver waiting", false,
	 "cap 0\n t0 try_send 1 -> ok [0 1]\n t1 recv -> ok 1 [2 3]\n"},
	{"rendezvous send returns before any receiver came", false,
	 "cap 0\n t0 send 1 -> ok [0 1]\n t1 recv -> ok 1 [2 3]\n"},
	{"rendezvous try_send pairs with try_recv", false,
	 "cap 0\n t0 try_send 1 -> ok [0 10]\n t1 try_recv -> ok 1 [0 10]\n"},
	{"timeout while a message was ready all along", false,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t1 recv_timeout(10us) -> timeout [2 3]\n"
	 " t1 recv -> ok 1 [4 5]\n"},
	{"a timed-out recv consumed the message", false,
	 "cap 1\n t1 recv_timeout(10us) -> timeout [0 5]\n t0 send 1 -> ok [1 2]\n"
	 " t0 try_recv -> empty [6 7]\n"},
	{"send after close accepted", false,
	 "cap 1\n t0 close -> ok [0 1]\n t1 send 1 -> ok [2 3]\n"},
	{"second close reports ok", false, "cap 1\n t0 close -> ok [0 1]\n t1 close -> ok [2 3]\n"},
	{"blocked rendezvous sender delivers after close", false,
	 "cap 0\n t0 send 1 -> ok [0 10]\n t1 close -> ok [2 3]\n t2 recv -> ok 1 [4 5]\n"},
	{"try op reports timeout", false, "cap 1\n t0 try_recv -> timeout [0 1]\n"},
	{"timed op reports full", false,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t0 send_timeout(10us) 2 -> full [2 3]\n"},
	{"blocked sender returns ok but its value is gone", false,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t0 send 2 -> ok [2 10]\n t1 recv -> ok 1 [5 6]\n"
	 " t1 try_recv -> empty [11 12]\n"},

	/* Legal histories: the checker must accept each. */
	{"concurrent sends, either order", true,
	 "cap 2\n t0 send 1 -> ok [0 10]\n t1 send 2 -> ok [0 10]\n"
	 " t2 recv -> ok 2 [11 12]\n t2 recv -> ok 1 [13 14]\n"},
	{"rendezvous pair inside both intervals", true,
	 "cap 0\n t0 send 1 -> ok [0 10]\n t1 recv -> ok 1 [5 6]\n"},
	{"close, then the drain, then CLOSED", true,
	 "cap 2\n t0 send 1 -> ok [0 1]\n t0 close -> ok [2 3]\n t1 recv -> ok 1 [4 5]\n"
	 " t1 recv -> closed [6 7]\n t0 try_send 2 -> closed [8 9]\n"},
	{"timed recv times out concurrently with a send", true,
	 "cap 1\n t1 recv_timeout(10us) -> timeout [0 10]\n t0 send 1 -> ok [5 6]\n"
	 " t0 recv -> ok 1 [11 12]\n"},
	{"a pending recv may have taken the value", true,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t1 recv -> pending [0.5 -]\n rec close -> ok [2 3]\n"
	 " rec try_recv -> closed [4 5]\n"},
	{"a pending send may never have happened", true,
	 "cap 1\n t0 send 1 -> pending [0 -]\n rec try_recv -> empty [2 3]\n"},
	{"close wakes a blocked rendezvous sender", true,
	 "cap 0\n t0 send 1 -> closed [0 10]\n t1 close -> ok [2 3]\n"},
	{"close wakes a blocked receiver", true,
	 "cap 1\n t0 recv -> closed [0 10]\n t1 close -> ok [2 3]\n"},
	{"rendezvous try_send to a waiting receiver", true,
	 "cap 0\n t0 recv -> ok 1 [0 10]\n t1 try_send 1 -> ok [5 6]\n"},
	{"rendezvous try_recv from a waiting sender", true,
	 "cap 0\n t0 send 1 -> ok [0 10]\n t1 try_recv -> ok 1 [5 6]\n"},
	{"rendezvous try_recv empty: the sender may not be waiting yet", true,
	 "cap 0\n t0 send 1 -> ok [0 10]\n t1 try_recv -> empty [2 3]\n t2 recv -> ok 1 [4 5]\n"},
	{"unbounded takes many, FIFO", true,
	 "cap unbounded\n t0 try_send 1 -> ok [0 1]\n t0 try_send 2 -> ok [2 3]\n"
	 " t0 try_send 3 -> ok [4 5]\n t1 recv -> ok 1 [6 7]\n t1 try_recv -> ok 2 [8 9]\n"
	 " t1 recv_timeout(1us) -> ok 3 [10 11]\n t1 try_recv -> empty [12 13]\n"},
	{"a blocked sender enters the buffer when a slot frees", true,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t0 send 2 -> ok [2 10]\n t1 recv -> ok 1 [5 6]\n"
	 " t1 try_recv -> ok 2 [11 12]\n"},
	{"second close reports already-closed", true,
	 "cap 1\n t0 close -> ok [0 1]\n t1 close -> already-closed [2 3]\n"},
	{"full and timeout on a full bounded channel", true,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t0 try_send 2 -> full [2 3]\n"
	 " t0 send_timeout(10us) 2 -> timeout [4 15]\n t1 recv -> ok 1 [16 17]\n"},
	{"close wakes a blocked sender of a full channel; the buffer drains", true,
	 "cap 1\n t0 send 1 -> ok [0 1]\n t0 send 2 -> closed [2 10]\n t1 close -> ok [3 4]\n"
	 " t1 recv -> ok 1 [5 6]\n t1 recv -> closed [7 8]\n"},
	{"sends racing a close", true,
	 "cap 2\n t0 send 1 -> ok [0 10]\n t1 close -> ok [0 10]\n t2 send 2 -> closed [0 10]\n"
	 " rec try_recv -> ok 1 [11 12]\n rec try_recv -> closed [13 14]\n"},
	{"waiting receivers served in an order their calls allow", true,
	 "cap 0\n t0 recv -> ok 2 [0 100]\n t1 recv -> ok 1 [10 50]\n t2 send 1 -> ok [20 30]\n"
	 " t2 send 2 -> ok [60 70]\n"},
	{"a try_send full on rendezvous although a receiver is blocked (not yet queued)", true,
	 "cap 0\n t0 recv -> closed [0 10]\n t1 try_send 1 -> full [2 3]\n t1 close -> ok [4 5]\n"},
	{"timed send of 0us times out when full", true,
	 "cap 0\n t0 send_timeout(0us) 1 -> timeout [0 1]\n"},
};

/* Single-threaded histories on the reference implementation: every one must
 * be accepted (a check of the model against the reference). */
static int self_test_sequential(struct checker *ck, uint64_t seed, int count)
{
	int wrong = 0;
	static struct history h;
	static const size_t caps[] = {0, 1, 2, 3, CHAN_UNBOUNDED};
	for (int n = 0; n < count; n++) {
		struct driver_rng rng;
		driver_rng_seed(&rng, seed + (uint64_t)n);
		size_t cap = caps[driver_rng_below(&rng, sizeof caps / sizeof caps[0])];
		chan_t *ch;
		if (chan_create("mutex", cap, NULL, &ch) != CHAN_OK)
			return 1;
		memset(&h, 0, sizeof h);
		h.cap = cap;
		h.nthreads = 1;
		snprintf(h.names[0], sizeof h.names[0], "t0");
		int nops = 4 + (int)driver_rng_below(&rng, 20);
		uintptr_t next = 1;
		for (int i = 0; i < nops; i++) {
			struct op *o = &h.ops[0][h.nops[0]++];
			static const uint8_t kinds[] = {OP_TRY_SEND, OP_SEND_TIMED, OP_TRY_RECV,
			                                OP_RECV_TIMED, OP_TRY_SEND, OP_TRY_RECV, OP_CLOSE};
			o->kind = kinds[driver_rng_below(&rng, i < nops / 2 ? 6 : 7)];
			o->timeout_ns = is_timed(o->kind) ? 1000 : 0;
			o->inv = chan_now_ns();
			switch (o->kind) {
			case OP_TRY_SEND: o->status = chan_try_send(ch, o->arg = next++); break;
			case OP_SEND_TIMED: o->status = chan_send_timeout(ch, o->arg = next++, 1000); break;
			case OP_TRY_RECV: o->status = chan_try_recv(ch, &o->got); break;
			case OP_RECV_TIMED: o->status = chan_recv_timeout(ch, &o->got, 1000); break;
			default: o->status = chan_close(ch); break;
			}
			o->resp = chan_now_ns();
		}
		chan_destroy(ch);
		char err[200];
		if (check_history(ck, &h, err, sizeof err) != LIN_OK) {
			if (wrong++ < 3) {
				fprintf(stderr, "self-test: WRONG VERDICT: a single-threaded history on the "
				                "reference implementation was rejected:\n");
				print_history(stderr, &h, "    ");
			}
		}
	}
	return wrong;
}

static int self_test(uint64_t seed)
{
	struct checker ck;
	if (!checker_init(&ck, 16, 10000000))
		return DRIVER_EXIT_USAGE;
	static struct history h;
	int wrong = 0, cases = 0;
	for (size_t i = 0; i < sizeof self_cases / sizeof self_cases[0]; i++) {
		const struct self_case *sc = &self_cases[i];
		char err[300];
		cases++;
		if (!parse_history(sc->text, &h, err, sizeof err)) {
			fprintf(stderr, "self-test: case '%s' does not parse: %s\n", sc->name, err);
			wrong++;
			continue;
		}
		enum verdict v = check_history(&ck, &h, err, sizeof err);
		bool legal = v == LIN_OK;
		if (legal != sc->legal || (v != LIN_OK && v != LIN_VIOLATION)) {
			wrong++;
			fprintf(stderr, "self-test: WRONG VERDICT for '%s': expected %s, got %s\n", sc->name,
			        sc->legal ? "linearizable" : "a violation",
			        v == LIN_OK ? "linearizable" : v == LIN_VIOLATION ? "a violation"
			        : v == LIN_INCONCLUSIVE                         ? "inconclusive"
			                                                        : err);
			print_history(stderr, &h, "    ");
		} else {
			fprintf(stderr, "self-test: ok  %-8s %s\n", sc->legal ? "legal" : "illegal",
			        sc->name);
		}
	}
	/* Round trip: a printed history reads back to the same verdict. */
	{
		char buf[4096];
		parse_history(self_cases[0].text, &h, buf, sizeof buf);
		FILE *mem = fmemopen(buf, sizeof buf, "w");
		print_history(mem, &h, "");
		fputc('\0', mem);
		fclose(mem);
		static struct history back;
		char err[200];
		cases++;
		if (!parse_history(buf, &back, err, sizeof err) ||
		    check_history(&ck, &back, err, sizeof err) != LIN_VIOLATION) {
			wrong++;
			fprintf(stderr, "self-test: WRONG: a printed history does not read back:\n%s", buf);
		}
	}
	int seq = 2000;
	int wrong_seq = self_test_sequential(&ck, seed, seq);
	if (wrong_seq == 0)
		fprintf(stderr, "self-test: ok  %d single-threaded histories on mutex accepted\n", seq);
	wrong += wrong_seq;
	cases += seq;
	checker_free(&ck);
	printf("{\"driver\": \"" PROG "\", \"self_test\": true, \"cases\": %d, \"wrong\": %d, "
	       "\"status\": \"%s\", \"ok\": %s}\n",
	       cases, wrong, wrong ? "fail" : "pass", wrong ? "false" : "true");
	return wrong ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}

/* --check-file: histories in the printed form, each starting with `cap`. */
static int check_file(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	if (f == NULL) {
		fprintf(stderr, PROG ": cannot open %s\n", path);
		return DRIVER_EXIT_USAGE;
	}
	struct checker ck;
	if (!checker_init(&ck, 16, 100000000))
		return DRIVER_EXIT_USAGE;
	static struct history h;
	static char text[1 << 16];
	size_t len = 0;
	int n = 0, bad = 0, violations = 0;
	char line[512];
	bool more = true;
	while (more) {
		more = fgets(line, sizeof line, f) != NULL;
		char *p = line;
		while (more && isspace((unsigned char)*p))
			p++;
		bool starts = more && strncmp(p, "cap ", 4) == 0;
		if ((!more || starts) && len > 0) {
			char err[300];
			n++;
			if (!parse_history(text, &h, err, sizeof err)) {
				fprintf(stderr, "history %d: %s\n", n, err);
				bad++;
			} else {
				enum verdict v = check_history(&ck, &h, err, sizeof err);
				printf("history %d: %s\n", n,
				       v == LIN_OK ? "linearizable" : v == LIN_VIOLATION ? "NOT linearizable"
				       : v == LIN_INCONCLUSIVE                         ? "inconclusive"
				                                                       : err);
				if (v == LIN_VIOLATION) {
					violations++;
					print_history(stdout, &h, "    ");
					print_best_prefix(stdout, &ck, "    ");
				}
			}
			len = 0;
		}
		bool history_line = starts || (more && strstr(line, "->") != NULL);
		if (history_line && len + strlen(line) < sizeof text) {
			memcpy(text + len, line, strlen(line) + 1);
			len += strlen(line);
		}
	}
	if (f != stdin)
		fclose(f);
	checker_free(&ck);
	return bad ? DRIVER_EXIT_USAGE : violations ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}

/* --------------------------------------------------------------------- main */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: " PROG " --impl NAME [--plugin PATH.so]... --cap LIST [--mix LIST]\n"
	        "       [--histories N] [--seconds S] [--seed X] [--threads 2|3] [--ops MIN-MAX]\n"
	        "       [--grace-us U] [--liveness-ms L] [--fail-on all|history|liveness]\n"
	        "       [--timeout S]\n"
	        "       " PROG " --self-test\n"
	        "       " PROG " --check-file FILE|-\n"
	        "       " PROG " [--plugin PATH.so]... --list\n"
	        "\n"
	        "Records small concurrent histories (2-3 threads, 2-4 operations each) and checks\n"
	        "each for linearizability against a sequential model of the channel (buffer of\n"
	        "capacity cap, FIFO queues of waiting senders and receivers, close). The model is\n"
	        "described at the top of tests/drivers/linearize.c.\n"
	        "\n"
	        "  --cap LIST        capacities, comma-separated: 0,1,2,unbounded\n"
	        "  --mix LIST        operation mixes, comma-separated (default mixed):\n"
	        "                      blocking  send/recv                      [Q2]\n"
	        "                      try       try_send/try_recv + blocking   [Q6, Q12 at 0, Q11]\n"
	        "                      timed     timed ops, 0-100 us timeouts   [T4]\n"
	        "                      close     sends/recvs racing close       [C1; C3 liveness]\n"
	        "                      mixed     all but close                  [Q3]\n"
	        "                      all       each mix in turn\n"
	        "  --histories N     histories per (cap, mix) (default 2000)\n"
	        "  --seconds S       go on until S seconds per (cap, mix) have passed too\n"
	        "  --threads N       at most N worker threads per history (2 or 3; default 3)\n"
	        "  --ops MIN-MAX     operations per worker (default 2-4, at most %d)\n"
	        "  --grace-us U      wait U us for the workers before closing (default 300)\n"
	        "  --liveness-ms L   wait L ms for blocked ops to return after the recorder's close or\n"
	        "                    counterpart ops before declaring a liveness failure (default 1000)\n"
	        "  --fail-on WHAT    history: only non-linearizable histories fail the run; liveness:\n"
	        "                    only ops that close did not wake (C3); all (default): both.\n"
	        "                    The others are printed as notes.\n"
	        "  --self-test       check the checker on known histories; exit 1 on a wrong verdict\n"
	        "  --check-file F    check histories written in the printed form ('-': stdin)\n"
	        "\n"
	        "Prints one JSON summary line. Exit: 0 pass, 1 violation, 2 usage, 3 hang, 77 n/a.\n",
	        MAX_WORKER_OPS);
}

static bool parse_list(const char *s, bool (*one)(const char *, void *), void *ctx)
{
	char buf[256];
	snprintf(buf, sizeof buf, "%s", s);
	for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		if (!one(tok, ctx))
			return false;
	return true;
}

struct caps_list {
	size_t caps[8];
	int n;
};

static bool add_cap(const char *s, void *ctx)
{
	struct caps_list *cl = ctx;
	if (cl->n == 8 || !driver_parse_cap(s, &cl->caps[cl->n]))
		return false;
	cl->n++;
	return true;
}

static bool add_mix(const char *s, void *ctx)
{
	bool *mixes = ctx;
	for (int m = 0; m < N_MIXES; m++)
		if (strcmp(s, mix_name[m]) == 0 || strcmp(s, "all") == 0) {
			mixes[m] = true;
			if (strcmp(s, "all") != 0)
				return true;
		}
	return strcmp(s, "all") == 0;
}

int main(int argc, char **argv)
{
	struct config cfg = {.max_workers = 3, .ops_min = 2, .ops_max = 4, .grace_ns = 300000,
	                     .liveness_ns = 1000000000, .seed = 1};
	struct caps_list caps = {.n = 0};
	bool mixes[N_MIXES] = {false}, any_mix = false;
	uint64_t histories = 2000;
	double seconds = 0, timeout = -1;

	struct driver_cli cli = {.prog = PROG, .usage = usage, .argc = argc, .argv = argv,
	                         .flags = (const char *const[]){"--self-test", NULL}};
	for (const char *a; (a = driver_cli_next(&cli)) != NULL;) {
		if (strcmp(a, "--self-test") == 0)
			return self_test(cfg.seed);
		const char *val = cli.val;
		bool ok = true;
		uint64_t u;
		double d;
		if (strcmp(a, "--cap") == 0) {
			ok = parse_list(val, add_cap, &caps);
		} else if (strcmp(a, "--mix") == 0) {
			ok = parse_list(val, add_mix, mixes);
			any_mix = true;
		} else if (strcmp(a, "--histories") == 0) {
			ok = driver_parse_u64(val, &histories);
		} else if (strcmp(a, "--seconds") == 0) {
			ok = driver_parse_double(val, &seconds);
		} else if (strcmp(a, "--seed") == 0) {
			ok = driver_parse_u64(val, &cfg.seed);
		} else if (strcmp(a, "--threads") == 0) {
			ok = driver_parse_u64(val, &u) && u >= 2 && u <= MAX_WORKERS;
			cfg.max_workers = (int)u;
		} else if (strcmp(a, "--ops") == 0) {
			int lo, hi;
			ok = sscanf(val, "%d-%d", &lo, &hi) == 2 && lo >= 1 && hi >= lo &&
			     hi <= MAX_WORKER_OPS;
			cfg.ops_min = lo;
			cfg.ops_max = hi;
		} else if (strcmp(a, "--grace-us") == 0) {
			ok = driver_parse_double(val, &d);
			cfg.grace_ns = (int64_t)(d * 1000);
		} else if (strcmp(a, "--liveness-ms") == 0) {
			ok = driver_parse_double(val, &d) && d > 0;
			cfg.liveness_ns = (int64_t)(d * 1e6);
		} else if (strcmp(a, "--timeout") == 0) {
			ok = driver_parse_double(val, &timeout) && timeout > 0;
		} else if (strcmp(a, "--fail-on") == 0) {
			if (strcmp(val, "all") == 0)
				cfg.fail_on = FAIL_ALL;
			else if (strcmp(val, "history") == 0)
				cfg.fail_on = FAIL_HISTORY;
			else if (strcmp(val, "liveness") == 0)
				cfg.fail_on = FAIL_LIVENESS;
			else
				ok = false;
		} else if (strcmp(a, "--check-file") == 0) {
			return check_file(val);
		} else {
			driver_cli_unknown(&cli);
		}
		if (!ok)
			driver_cli_bad_value(&cli);
	}
	cfg.impl = driver_cli_finish(&cli, caps.n > 0);
	if (!any_mix)
		mixes[MIX_MIXED] = true;

	/* Every mix needs blocking ops (the recorder's workers), close (the
	 * recorder closes), MPMC; timed ops are in the timed and mixed mixes. */
	uint64_t need = CHAN_CAP_MPMC | CHAN_CAP_BLOCKING | CHAN_CAP_CLOSE;
	if (mixes[MIX_TIMED] || mixes[MIX_MIXED])
		need |= CHAN_CAP_TIMED;
	int nconf = 0;
	for (int k = 0; k < caps.n; k++) {
		const char *missing = driver_missing_cap(cfg.impl, caps.caps[k], need);
		if (missing != NULL && caps.n == 1) {
			int m = 0;
			while (!mixes[m])
				m++;
			driver_exit_na(PROG, cfg.impl, caps.caps[k], mix_name[m], missing);
		}
		nconf += missing == NULL;
	}
	if (timeout <= 0)
	{
		int nmix = 0;
		for (int m = 0; m < N_MIXES; m++)
			nmix += mixes[m];
		timeout = 60 + (seconds * 1.5 + (double)histories * 0.01) * nconf * nmix;
	}
	char what[256];
	snprintf(what, sizeof what, PROG " --impl %s", cfg.impl);
	watchdog_start(timeout, what, NULL, NULL);

	struct checker ck;
	if (!checker_init(&ck, 16, 20000000)) {
		fprintf(stderr, PROG ": out of memory\n");
		return DRIVER_EXIT_USAGE;
	}
	cfg.soft_deadline = chan_now_ns() + (int64_t)(timeout * 0.7e9);
	summary.results = open_memstream(&summary.mem, &summary.len);
	summary.impl = cfg.impl;
	summary.seed = cfg.seed;
	summary.start = chan_now_ns();
	for (int k = 0; k < caps.n; k++) {
		if (driver_missing_cap(cfg.impl, caps.caps[k], need) != NULL)
			continue;
		for (int m = 0; m < N_MIXES; m++) {
			if (!mixes[m])
				continue;
			cfg.cap = caps.caps[k];
			cfg.mix = m;
			struct run_stats rs = {0};
			run_config(&cfg, histories, seconds, &ck, &rs);
			summary.failures += append_result(&cfg, &rs);
		}
	}
	watchdog_stop();
	checker_free(&ck);
	print_summary(summary.failures, false);
	fclose(summary.results);
	free(summary.mem);
	return summary.failures ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}
