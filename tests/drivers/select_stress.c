/*
 * chan-select-stress: chan_select under stress, the part of the select properties
 * (CONFORMANCE S2 S5 S6 S7) that Python cannot drive hard enough. Same shape as
 * chan-stress (stress.c): threads and sizes on the command line, one JSON summary
 * line on stdout, "discrepancy: ..." lines on stderr and exit 1 when an invariant
 * fails, a watchdog that reports a hang (exit 3) with what every thread was doing.
 *
 * Values say who sent them and in which order, as in chan-stress:
 *
 *     value = (thread + 1) << 40 | seq
 *
 * and a per-value tally counts how often each one was received.
 *
 * The checks (--check):
 *
 *   chaos [S7]  NCHAN channels (capacities from --cap: one capacity for all, or
 *               "mixed": each channel's drawn per round from 0, 1, 4, unbounded,
 *               those declared). Producers send every value by a random means:
 *               a select over a random subset of send cases, sometimes with a recv
 *               case on one of the same channels (a value received that way is
 *               tallied like any other) and a switched-off case, fair or biased,
 *               blocking, timed or NOWAIT; or a plain blocking, try or timed send.
 *               Consumers receive by a select over every channel they have not yet
 *               seen closed (fair or biased, blocking, timed or NOWAIT) or by a
 *               plain try or timed recv on one of them. Once the producers are
 *               done the main thread closes every channel; consumers stop when they
 *               have seen CLOSED on all. Checked: it finishes (the watchdog names a
 *               deadlock), every value is received exactly once (S2 at scale: a
 *               select that committed two cases, or none while reporting one,
 *               shows as a duplicate or a loss), sums balance, no CLOSED before
 *               the close, every closed channel then reports CLOSED.
 *               No plain operation of a consumer blocks without a deadline: a
 *               consumer parked on one channel while every producer waits on the
 *               others would be a deadlock of the test, not of the channel.
 *   self  [S5]  T threads select {send c v; recv c} (both case orders, fair or
 *               biased, 10 ms deadline or NOWAIT) on one channel until --msgs
 *               values went through. On a rendezvous channel no thread may receive
 *               its own value, and sends == receives; on any channel every value
 *               whose send case was chosen is received exactly once (the rest of a
 *               buffered one drained at the end).
 *   lose  [S6]  Selects that lose, --msgs of each kind, on channels a (never gets
 *               anything), b, and `full` (full bounded / rendezvous with no
 *               receiver): select {recv a; send full} timing out (deadlines 0 to
 *               20 us, most after registering), the same with NOWAIT, a selector on
 *               {recv a; send full; recv b} woken by a feeder sending on b, a
 *               selector on {recv a; send b} whose partner is a plain receiver. The
 *               whole set runs twice, first at a tenth of the size to warm up;
 *               the resident set size (/proc/self/statm) after the second pass may
 *               exceed the one after the first by at most --rss-limit-kb (a waiter
 *               or node leaked per lost case shows as megabytes). After each pass:
 *               a has nothing queued (try_recv EMPTY; rendezvous try_send FULL),
 *               `full` holds exactly what it held, a blocked plain receiver on a
 *               gets exactly the message then sent, and a select blocked on
 *               {recv a; recv b} uses almost no CPU for 300 ms (at most 30 ms:
 *               stray wake-ups of stale waiters would make it spin), then returns
 *               the message sent.
 *               Under a sanitizer the RSS bound is not checked (its allocator
 *               keeps freed memory), the rest is.
 *   all         every check above in turn.
 *
 * Thread counts above the core count are intended (--threads producers and as
 * many consumers for chaos, --threads selectors for self).
 *
 * Exit codes: see driver_cli.h (0 pass, 1 discrepancy, 2 usage, 3 hang, 77 n/a).
 */
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
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

#if UINTPTR_MAX < UINT64_MAX
#error "chan-select-stress encodes (thread, seq) in a 64-bit word"
#endif

#define PROG "chan-select-stress"
#define SEQ_BITS 40
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)
#define MAX_THREADS 64
#define MAX_MSGS (UINT64_C(1) << 28)
#define NCHAN 4
#define MAX_CASES (NCHAN + 2)
#define PRINT_LIMIT 10
#define TAG (UINT64_C(0xfffff) << SEQ_BITS) /* probe values: no thread sends these */

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#else
#define UNDER_SANITIZER 0
#endif

enum check { CK_CHAOS, CK_SELF, CK_LOSE, N_CHECKS };
static const char *const check_name[N_CHECKS] = {"chaos", "self", "lose"};
static const char *const check_prop[N_CHECKS] = {"S7", "S5", "S6"};

struct options {
	const char *impl;
	size_t cap;
	bool mixed;
	int threads;
	uint64_t msgs;
	double seconds;
	uint64_t rounds;
	uint64_t seed;
	double timeout;
	uint64_t rss_limit_kb;
	bool checks[N_CHECKS];
};

/* What a thread is doing, for the watchdog's report. */
enum opcode {
	OPC_NOT_STARTED, OPC_IDLE, OPC_SELECT, OPC_SELECT_TIMED, OPC_SELECT_NOWAIT, OPC_SEND,
	OPC_TRY_SEND, OPC_SEND_TIMED, OPC_RECV, OPC_TRY_RECV, OPC_RECV_TIMED, OPC_CLOSE, OPC_WAIT,
	OPC_EXITED, N_OPCODES
};
static const char *const opcode_name[N_OPCODES] = {
	"(not started)", "idle", "select", "select(timed)", "select(nowait)", "send", "try_send",
	"send_timeout", "recv", "try_recv", "recv_timeout", "close", "waiting", "exited"};

struct slot {
	char role; /* P producer, C consumer, T self-selector, S selector, F feeder, R receiver, M main */
	int index;
	atomic_int op;
	atomic_uint_fast64_t done;
};

/* One run of a check: shared by its threads. Lives in a static (the watchdog may
 * read it late). */
struct run {
	const struct options *opt;
	enum check check;
	unsigned round;
	chan_t *ch[NCHAN];
	size_t cap[NCHAN];
	int nthreads;
	uint64_t per_thread[MAX_THREADS], base[MAX_THREADS];
	uint64_t total;      /* values that can exist (tally size) */
	_Atomic uint16_t *tally;
	atomic_uint_fast64_t sent, received, sum_sent, sum_received, selects, progress;
	atomic_uint_fast64_t pairs; /* self: values that went through */
	atomic_uint_fast64_t self_pairs, bad_index, unknown, errors, early_closed;
	atomic_uint_fast64_t sent_by[MAX_THREADS]; /* self: send cases chosen per thread */
	atomic_int producers_done;
	struct slot slots[2 * MAX_THREADS + 4];
	int nslots; /* the last one is the main thread */
	uint64_t discrepancies;
};

static struct run the_run;
static _Atomic(struct run *) watched;

struct totals {
	unsigned rounds;
	uint64_t sent, received, sum_sent, sum_received, selects, discrepancies;
	int64_t rss_before_kb, rss_after_kb;
	double idle_cpu_ms;
	char caps[64];
	double elapsed;
};

/* ------------------------------------------------------------------ helpers */

static int64_t now_ns(void)
{
	return chan_now_ns();
}

static uintptr_t encode(int t, uint64_t seq)
{
	return (uintptr_t)(((uint64_t)(t + 1) << SEQ_BITS) | seq);
}

static bool decode(const struct run *r, uintptr_t v, int *t, uint64_t *idx)
{
	uint64_t hi = (uint64_t)v >> SEQ_BITS, seq = (uint64_t)v & SEQ_MASK;
	if (hi == 0 || hi > (uint64_t)r->nthreads || seq >= r->per_thread[hi - 1])
		return false;
	*t = (int)(hi - 1);
	*idx = r->base[hi - 1] + seq;
	return true;
}

static void discrepancy(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Called from worker threads too: the counters are only read after they joined,
 * and a few interleaved lines on stderr are harmless. */
static void discrepancy(struct run *r, const char *fmt, ...)
{
	static atomic_uint printed;
	__atomic_fetch_add(&r->discrepancies, 1, __ATOMIC_RELAXED);
	if (atomic_fetch_add(&printed, 1) >= PRINT_LIMIT * N_CHECKS)
		return;
	char cb[32];
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "discrepancy: [%s] impl=%s cap=%s check=%s round=%u: %s\n", check_prop[r->check],
	        r->opt->impl, r->opt->mixed ? "mixed" : driver_cap_str(r->opt->cap, cb, sizeof cb),
	        check_name[r->check], r->round, line);
}

static void set_op(struct slot *s, enum opcode op)
{
	atomic_store_explicit(&s->op, (int)op, memory_order_relaxed);
}

static void count_done(struct slot *s)
{
	atomic_fetch_add_explicit(&s->done, 1, memory_order_relaxed);
}

static const char *cap_name(size_t cap, char *buf, size_t n)
{
	return driver_cap_str(cap, buf, n);
}

/* Tally a received value; false (and a discrepancy) if nobody sent it. */
static bool tally(struct run *r, uintptr_t v, int *from)
{
	int t;
	uint64_t idx;
	if (!decode(r, v, &t, &idx)) {
		if (atomic_fetch_add(&r->unknown, 1) < 3)
			discrepancy(r, "received 0x%" PRIxPTR ", a value no thread sent", v);
		return false;
	}
	atomic_fetch_add_explicit(&r->tally[idx], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->received, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_received, (uint64_t)v, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
	if (from)
		*from = t;
	return true;
}

static void error_status(struct run *r, const char *what, chan_status st)
{
	if (atomic_fetch_add(&r->errors, 1) < 3)
		discrepancy(r, "%s returned %s", what, chan_status_str(st));
}

static void shuffle_cases(struct driver_rng *rng, chan_case *cs, int *chan_of, size_t n)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)driver_rng_below(rng, i);
		chan_case tc = cs[i - 1];
		cs[i - 1] = cs[j];
		cs[j] = tc;
		int tj = chan_of[i - 1];
		chan_of[i - 1] = chan_of[j];
		chan_of[j] = tj;
	}
}

/* A select with a random flavour: blocking 60%, NOWAIT 20%, tiny deadline 20%. */
static chan_status select_random(struct run *r, struct slot *s, struct driver_rng *rng,
                                 chan_case *cs, size_t n, size_t *k)
{
	unsigned flags = driver_rng_below(rng, 2) ? CHAN_SELECT_FAIR : CHAN_SELECT_BIASED;
	unsigned pick = (unsigned)driver_rng_below(rng, 100);
	chan_deadline dl;
	if (pick < 60) {
		dl = CHAN_FOREVER;
		set_op(s, OPC_SELECT);
	} else if (pick < 80) {
		dl = CHAN_NOWAIT;
		set_op(s, OPC_SELECT_NOWAIT);
	} else {
		dl = chan_deadline_after(driver_rng_tiny_timeout(rng));
		set_op(s, OPC_SELECT_TIMED);
	}
	*k = SIZE_MAX;
	chan_status st = chan_select(cs, n, flags, dl, k);
	set_op(s, OPC_IDLE);
	atomic_fetch_add_explicit(&r->selects, 1, memory_order_relaxed);
	if ((st == CHAN_OK || st == CHAN_CLOSED) && (*k >= n || cs[*k].ch == NULL)) {
		if (atomic_fetch_add(&r->bad_index, 1) < 3)
			discrepancy(r, "select returned %s with case index %zu of %zu (or a switched-off case)",
			            chan_status_str(st), *k, n);
		return CHAN_EINVAL;
	}
	return st;
}

static void run_thread(void *(*fn)(void *), void *arg, pthread_t *t)
{
	if (pthread_create(t, NULL, fn, arg) != 0) {
		perror(PROG ": pthread_create");
		exit(DRIVER_EXIT_USAGE);
	}
}

static void watchdog_report(FILE *out, void *ctx)
{
	(void)ctx;
	struct run *r = atomic_load(&watched);
	if (r == NULL)
		return;
	char cb[32];
	fprintf(out, "hang: impl=%s cap=%s check=%s [%s] round=%u; what each thread was doing:\n",
	        r->opt->impl, r->opt->mixed ? "mixed" : driver_cap_str(r->opt->cap, cb, sizeof cb),
	        check_name[r->check], check_prop[r->check], r->round);
	for (int i = 0; i < r->nslots; i++) {
		struct slot *s = &r->slots[i];
		int op = atomic_load_explicit(&s->op, memory_order_relaxed);
		fprintf(out, "hang:   %c%-3d in %-16s after %" PRIu64 " ops\n", s->role, s->index,
		        op >= 0 && op < N_OPCODES ? opcode_name[op] : "?",
		        (uint64_t)atomic_load_explicit(&s->done, memory_order_relaxed));
	}
	for (int j = 0; j < NCHAN && r->ch[j]; j++)
		fprintf(out, "hang:   channel %d cap=%s len=%zu\n", j, cap_name(r->cap[j], cb, sizeof cb),
		        chan_len(r->ch[j]));
	fprintf(out, "hang:   %" PRIu64 " values received, %" PRIu64 " selects\n",
	        (uint64_t)atomic_load(&r->received), (uint64_t)atomic_load(&r->selects));
}

/* Reset the shared run state for a new round. */
static void run_reset(struct run *r, const struct options *opt, enum check ck, unsigned round)
{
	atomic_store(&watched, NULL);
	free(r->tally);
	memset(r, 0, sizeof *r);
	r->opt = opt;
	r->check = ck;
	r->round = round;
}

static void slot_init(struct run *r, int i, char role, int index)
{
	struct slot *s = &r->slots[i];
	s->role = role;
	s->index = index;
	atomic_store(&s->op, OPC_NOT_STARTED);
	atomic_store(&s->done, 0);
}

static bool cap_declared(const char *impl, size_t cap)
{
	return driver_missing_cap(impl, cap, 0) == NULL;
}

static chan_t *make_chan(struct run *r, size_t cap)
{
	chan_t *ch = NULL;
	chan_status st = chan_create(r->opt->impl, cap, NULL, &ch);
	if (st != CHAN_OK) {
		char cb[32];
		fprintf(stderr, PROG ": chan_create(%s, %s) returned %s\n", r->opt->impl,
		        cap_name(cap, cb, sizeof cb), chan_status_str(st));
		exit(DRIVER_EXIT_USAGE);
	}
	return ch;
}

/* Check the tally: every value sent exactly once received (sent_to[t] values per
 * thread t, seq 0..sent_to[t]-1); nothing else. */
static void check_tally(struct run *r, const uint64_t *sent_to)
{
	uint64_t lost = 0, dup = 0, ghost = 0;
	for (int t = 0; t < r->nthreads; t++) {
		for (uint64_t q = 0; q < r->per_thread[t]; q++) {
			unsigned n = atomic_load_explicit(&r->tally[r->base[t] + q], memory_order_relaxed);
			bool was_sent = q < sent_to[t];
			if (was_sent && n == 0) {
				if (lost++ < 3)
					discrepancy(r, "value t%d#%" PRIu64 " was sent but never received", t, q);
			} else if (n > 1) {
				if (dup++ < 3)
					discrepancy(r, "value t%d#%" PRIu64 " was received %u times", t, q, n);
			} else if (!was_sent && n > 0) {
				if (ghost++ < 3)
					discrepancy(r, "value t%d#%" PRIu64 " was received but its send never succeeded", t, q);
			}
		}
	}
	if (lost + dup + ghost > 3)
		discrepancy(r, "in all: %" PRIu64 " lost, %" PRIu64 " duplicated, %" PRIu64 " received but not sent",
		            lost, dup, ghost);
}

/* ------------------------------------------------------------------- chaos */

static void record_sent(struct run *r, uintptr_t v)
{
	atomic_fetch_add_explicit(&r->sent, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_sent, (uint64_t)v, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
}

/* One attempt of a producer to send v: true once sent. */
static bool chaos_send_once(struct run *r, struct slot *s, struct driver_rng *rng, uintptr_t v)
{
	if (driver_rng_below(rng, 100) < 55) {
		chan_case cs[MAX_CASES];
		int chan_of[MAX_CASES];
		size_t n = 0;
		unsigned mask = 1 + (unsigned)driver_rng_below(rng, (1u << NCHAN) - 1);
		for (int j = 0; j < NCHAN; j++)
			if (mask & (1u << j)) {
				cs[n] = (chan_case){.ch = r->ch[j], .dir = CHAN_DIR_SEND, .msg = v};
				chan_of[n++] = j;
			}
		if (driver_rng_below(rng, 4) == 0) { /* a recv case too: the chaos of mixed directions */
			int j = (int)driver_rng_below(rng, NCHAN);
			cs[n] = (chan_case){.ch = r->ch[j], .dir = CHAN_DIR_RECV, .msg = 0};
			chan_of[n++] = j;
		}
		if (driver_rng_below(rng, 7) == 0) {
			cs[n] = (chan_case){.ch = NULL, .dir = CHAN_DIR_SEND, .msg = v};
			chan_of[n++] = -1;
		}
		shuffle_cases(rng, cs, chan_of, n);
		size_t k;
		chan_status st = select_random(r, s, rng, cs, n, &k);
		if (st == CHAN_OK) {
			if (cs[k].dir == CHAN_DIR_SEND) {
				if (cs[k].msg != v)
					discrepancy(r, "a send case's msg changed from 0x%" PRIxPTR " to 0x%" PRIxPTR, v,
					            cs[k].msg);
				record_sent(r, v);
				count_done(s);
				return true;
			}
			(void)tally(r, cs[k].msg, NULL);
			return false;
		}
		if (st == CHAN_CLOSED) {
			if (atomic_fetch_add(&r->early_closed, 1) < 3)
				discrepancy(r, "a producer's select reported CLOSED on channel %d before any close",
				            chan_of[k]);
			return false;
		}
		if (st != CHAN_TIMEOUT && st != CHAN_NOT_READY && st != CHAN_EINVAL)
			error_status(r, "a producer's select", st);
		if (st != CHAN_TIMEOUT && st != CHAN_NOT_READY)
			return true; /* give up on this value: it counts as not sent */
		sched_yield();
		return false;
	}
	chan_t *ch = r->ch[driver_rng_below(rng, NCHAN)];
	unsigned pick = (unsigned)driver_rng_below(rng, 3);
	chan_status st;
	if (pick == 0) {
		set_op(s, OPC_SEND);
		st = chan_send(ch, v);
	} else if (pick == 1) {
		set_op(s, OPC_TRY_SEND);
		st = chan_try_send(ch, v);
	} else {
		set_op(s, OPC_SEND_TIMED);
		st = chan_send_timeout(ch, v, driver_rng_tiny_timeout(rng));
	}
	set_op(s, OPC_IDLE);
	if (st == CHAN_OK) {
		record_sent(r, v);
		count_done(s);
		return true;
	}
	if (st == CHAN_FULL || st == CHAN_TIMEOUT) {
		sched_yield();
		return false;
	}
	error_status(r, "a producer's plain send", st);
	return true;
}

struct targ {
	struct run *r;
	int index;
	uint64_t *sent_to; /* chaos, self: how many of its values the thread sent */
};

static void *chaos_producer(void *arg)
{
	struct targ *ta = arg;
	struct run *r = ta->r;
	int p = ta->index;
	struct slot *s = &r->slots[p];
	struct driver_rng rng;
	driver_rng_seed(&rng, r->opt->seed * 1000003u + r->round * 7919u + (uint64_t)p);
	uint64_t q = 0;
	for (; q < r->per_thread[p]; q++) {
		uintptr_t v = encode(p, q);
		uint64_t before = atomic_load(&r->errors) + atomic_load(&r->bad_index);
		while (!chaos_send_once(r, s, &rng, v))
			;
		if (atomic_load(&r->errors) + atomic_load(&r->bad_index) != before)
			break; /* an error: stop (the value's fate is unknown) */
	}
	ta->sent_to[p] = q;
	atomic_fetch_add(&r->producers_done, 1);
	set_op(s, OPC_EXITED);
	return NULL;
}

static void *chaos_consumer(void *arg)
{
	struct targ *ta = arg;
	struct run *r = ta->r;
	int c = ta->index;
	struct slot *s = &r->slots[r->nthreads + c];
	struct driver_rng rng;
	driver_rng_seed(&rng, r->opt->seed * 7919u + r->round * 104729u + 100000u + (uint64_t)c);
	bool done[NCHAN] = {false};
	int left = NCHAN;
	while (left > 0) {
		if (driver_rng_below(&rng, 100) < 60) {
			chan_case cs[MAX_CASES];
			int chan_of[MAX_CASES];
			size_t n = 0;
			for (int j = 0; j < NCHAN; j++)
				if (!done[j]) {
					cs[n] = (chan_case){.ch = r->ch[j], .dir = CHAN_DIR_RECV, .msg = 0};
					chan_of[n++] = j;
				}
			if (driver_rng_below(&rng, 5) == 0) {
				cs[n] = (chan_case){.ch = NULL, .dir = CHAN_DIR_RECV, .msg = 0};
				chan_of[n++] = -1;
			}
			shuffle_cases(&rng, cs, chan_of, n);
			size_t k;
			chan_status st = select_random(r, s, &rng, cs, n, &k);
			if (st == CHAN_OK) {
				(void)tally(r, cs[k].msg, NULL);
				count_done(s);
			} else if (st == CHAN_CLOSED) {
				if (atomic_load(&r->producers_done) < r->nthreads &&
				    atomic_fetch_add(&r->early_closed, 1) < 3)
					discrepancy(r, "a consumer's select reported CLOSED on channel %d before any close",
					            chan_of[k]);
				done[chan_of[k]] = true;
				left--;
			} else if (st == CHAN_TIMEOUT || st == CHAN_NOT_READY) {
				sched_yield();
			} else {
				if (st != CHAN_EINVAL)
					error_status(r, "a consumer's select", st);
				break;
			}
			continue;
		}
		int j = (int)driver_rng_below(&rng, NCHAN);
		while (done[j])
			j = (j + 1) % NCHAN;
		uintptr_t v;
		chan_status st;
		if (driver_rng_below(&rng, 2)) {
			set_op(s, OPC_TRY_RECV);
			st = chan_try_recv(r->ch[j], &v);
		} else {
			set_op(s, OPC_RECV_TIMED);
			st = chan_recv_timeout(r->ch[j], &v, driver_rng_tiny_timeout(&rng) * 2);
		}
		set_op(s, OPC_IDLE);
		if (st == CHAN_OK) {
			(void)tally(r, v, NULL);
			count_done(s);
		} else if (st == CHAN_CLOSED) {
			done[j] = true;
			left--;
		} else if (st == CHAN_EMPTY || st == CHAN_TIMEOUT) {
			sched_yield();
		} else {
			error_status(r, "a consumer's plain recv", st);
			break;
		}
	}
	set_op(s, OPC_EXITED);
	return NULL;
}

static void pick_caps(struct run *r, struct driver_rng *rng, char *desc, size_t n)
{
	static const size_t menu[] = {0, 1, 4, CHAN_UNBOUNDED};
	size_t avail[4];
	size_t na = 0;
	for (size_t i = 0; i < 4; i++)
		if (cap_declared(r->opt->impl, menu[i]))
			avail[na++] = menu[i];
	size_t off = 0;
	desc[0] = '\0';
	for (int j = 0; j < NCHAN; j++) {
		if (r->opt->mixed)
			/* each capacity at least once when there are enough channels, in random order */
			r->cap[j] = avail[(j + (int)driver_rng_below(rng, na)) % (int)na];
		else
			r->cap[j] = r->opt->cap;
		char cb[32];
		int w = snprintf(desc + off, n - off, "%s%s", j ? "," : "", cap_name(r->cap[j], cb, sizeof cb));
		if (w > 0 && (size_t)w < n - off)
			off += (size_t)w;
	}
}

static void setup_values(struct run *r, int nthreads, uint64_t per)
{
	r->nthreads = nthreads;
	r->total = 0;
	for (int t = 0; t < nthreads; t++) {
		r->per_thread[t] = per;
		r->base[t] = r->total;
		r->total += per;
	}
	r->tally = calloc(r->total ? r->total : 1, sizeof *r->tally);
	if (r->tally == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		exit(DRIVER_EXIT_USAGE);
	}
}

static void run_chaos(struct run *r, struct totals *tot)
{
	const struct options *opt = r->opt;
	struct driver_rng rng;
	driver_rng_seed(&rng, opt->seed * 31u + r->round);
	pick_caps(r, &rng, tot->caps, sizeof tot->caps);
	int P = opt->threads, C = opt->threads;
	setup_values(r, P, (opt->msgs + (uint64_t)P - 1) / (uint64_t)P);
	for (int j = 0; j < NCHAN; j++)
		r->ch[j] = make_chan(r, r->cap[j]);
	for (int i = 0; i < P; i++)
		slot_init(r, i, 'P', i);
	for (int i = 0; i < C; i++)
		slot_init(r, P + i, 'C', i);
	slot_init(r, P + C, 'M', 0);
	r->nslots = P + C + 1;
	atomic_store(&watched, r);

	uint64_t sent_to[MAX_THREADS] = {0};
	struct targ args[2 * MAX_THREADS];
	pthread_t th[2 * MAX_THREADS];
	for (int i = 0; i < C; i++) {
		args[P + i] = (struct targ){r, i, sent_to};
		run_thread(chaos_consumer, &args[P + i], &th[P + i]);
	}
	for (int i = 0; i < P; i++) {
		args[i] = (struct targ){r, i, sent_to};
		run_thread(chaos_producer, &args[i], &th[i]);
	}
	struct slot *m = &r->slots[P + C];
	set_op(m, OPC_WAIT);
	for (int i = 0; i < P; i++)
		pthread_join(th[i], NULL);
	set_op(m, OPC_CLOSE);
	for (int j = 0; j < NCHAN; j++) {
		chan_status st = chan_close(r->ch[j]);
		if (st != CHAN_OK)
			discrepancy(r, "close of channel %d returned %s", j, chan_status_str(st));
	}
	set_op(m, OPC_WAIT);
	for (int i = 0; i < C; i++)
		pthread_join(th[P + i], NULL);
	set_op(m, OPC_IDLE);

	check_tally(r, sent_to);
	for (int j = 0; j < NCHAN; j++) {
		uintptr_t v;
		chan_status st = chan_try_recv(r->ch[j], &v);
		if (st != CHAN_CLOSED)
			discrepancy(r, "channel %d: try_recv after everything was drained returned %s", j,
			            chan_status_str(st));
		size_t k;
		chan_case c1 = {.ch = r->ch[j], .dir = CHAN_DIR_RECV};
		st = chan_select(&c1, 1, CHAN_SELECT_FAIR, CHAN_FOREVER, &k);
		if (st != CHAN_CLOSED || k != 0)
			discrepancy(r, "channel %d: a select on the closed, drained channel returned %s case %zu",
			            j, chan_status_str(st), k);
	}
	uint64_t s = atomic_load(&r->sent), rc = atomic_load(&r->received);
	if (s != rc)
		discrepancy(r, "%" PRIu64 " values sent, %" PRIu64 " received", s, rc);
	if (atomic_load(&r->sum_sent) != atomic_load(&r->sum_received))
		discrepancy(r, "checksums differ: sent %" PRIu64 ", received %" PRIu64,
		            (uint64_t)atomic_load(&r->sum_sent), (uint64_t)atomic_load(&r->sum_received));
	atomic_store(&watched, NULL);
	for (int j = 0; j < NCHAN; j++) {
		chan_destroy(r->ch[j]);
		r->ch[j] = NULL;
	}
}

/* -------------------------------------------------------------------- self */

static void *self_thread(void *arg)
{
	struct targ *ta = arg;
	struct run *r = ta->r;
	int t = ta->index;
	struct slot *s = &r->slots[t];
	struct driver_rng rng;
	driver_rng_seed(&rng, r->opt->seed * 6151u + r->round * 769u + (uint64_t)t);
	uint64_t q = 0;
	bool rendezvous = r->cap[0] == 0;
	while (atomic_load_explicit(&r->pairs, memory_order_relaxed) < r->opt->msgs &&
	       q < r->per_thread[t]) {
		uintptr_t v = encode(t, q);
		chan_case cs[2];
		int si = (int)driver_rng_below(&rng, 2);
		cs[si] = (chan_case){.ch = r->ch[0], .dir = CHAN_DIR_SEND, .msg = v};
		cs[1 - si] = (chan_case){.ch = r->ch[0], .dir = CHAN_DIR_RECV, .msg = 0};
		unsigned flags = driver_rng_below(&rng, 2) ? CHAN_SELECT_FAIR : CHAN_SELECT_BIASED;
		bool nowait = driver_rng_below(&rng, 10) == 0;
		set_op(s, nowait ? OPC_SELECT_NOWAIT : OPC_SELECT_TIMED);
		size_t k = SIZE_MAX;
		chan_status st = chan_select(cs, 2, flags, nowait ? CHAN_NOWAIT : chan_deadline_after(10000000), &k);
		set_op(s, OPC_IDLE);
		atomic_fetch_add_explicit(&r->selects, 1, memory_order_relaxed);
		if (st == CHAN_TIMEOUT || st == CHAN_NOT_READY)
			continue;
		if (st != CHAN_OK || k > 1) {
			error_status(r, "a self-select", st == CHAN_OK ? CHAN_EINVAL : st);
			break;
		}
		count_done(s);
		if ((int)k == si) {
			q++;
			record_sent(r, v);
		} else {
			int from = -1;
			if (tally(r, cs[k].msg, &from) && from == t && rendezvous &&
			    atomic_fetch_add(&r->self_pairs, 1) < 3)
				discrepancy(r, "thread %d received its own value t%d#%" PRIu64
				               " through select {send c; recv c} on a rendezvous channel",
				            t, t, (uint64_t)(cs[k].msg & SEQ_MASK));
			atomic_fetch_add_explicit(&r->pairs, 1, memory_order_relaxed);
		}
	}
	ta->sent_to[t] = q;
	set_op(s, OPC_EXITED);
	return NULL;
}

static void run_self(struct run *r, struct totals *tot)
{
	const struct options *opt = r->opt;
	int T = opt->threads;
	r->cap[0] = opt->mixed ? 0 : opt->cap;
	cap_name(r->cap[0], tot->caps, sizeof tot->caps);
	/* a thread sends at most msgs + T of its values (the others stop it) */
	setup_values(r, T, opt->msgs + (uint64_t)T + 64);
	r->ch[0] = make_chan(r, r->cap[0]);
	for (int i = 0; i < T; i++)
		slot_init(r, i, 'T', i);
	slot_init(r, T, 'M', 0);
	r->nslots = T + 1;
	atomic_store(&watched, r);
	uint64_t sent_to[MAX_THREADS] = {0};
	struct targ args[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	for (int i = 0; i < T; i++) {
		args[i] = (struct targ){r, i, sent_to};
		run_thread(self_thread, &args[i], &th[i]);
	}
	set_op(&r->slots[T], OPC_WAIT);
	for (int i = 0; i < T; i++)
		pthread_join(th[i], NULL);
	set_op(&r->slots[T], OPC_IDLE);
	/* what a buffered channel still holds */
	uintptr_t v;
	chan_status st;
	while ((st = chan_try_recv(r->ch[0], &v)) == CHAN_OK)
		(void)tally(r, v, NULL);
	if (st != CHAN_EMPTY)
		discrepancy(r, "draining after the run: try_recv returned %s", chan_status_str(st));
	if (r->cap[0] == 0) {
		st = chan_try_send(r->ch[0], TAG);
		if (st != CHAN_FULL)
			discrepancy(r, "rendezvous try_send after every selector returned gave %s, not full (a waiter left behind)",
			            chan_status_str(st));
	}
	check_tally(r, sent_to);
	if (atomic_load(&r->sent) != atomic_load(&r->received))
		discrepancy(r, "%" PRIu64 " send cases chosen, %" PRIu64 " values received",
		            (uint64_t)atomic_load(&r->sent), (uint64_t)atomic_load(&r->received));
	atomic_store(&watched, NULL);
	chan_destroy(r->ch[0]);
	r->ch[0] = NULL;
}

/* -------------------------------------------------------------------- lose */

enum { LA, LB, LFULL, LR };

struct lose_arg {
	struct run *r;
	uint64_t n;
	struct slot *s;
	uintptr_t got; /* probe receiver: the value */
	chan_status st;
};

static int64_t rss_kb(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	if (f == NULL)
		return -1;
	long size = 0, res = 0;
	int ok = fscanf(f, "%ld %ld", &size, &res);
	fclose(f);
	if (ok != 2)
		return -1;
	return (int64_t)res * (int64_t)(sysconf(_SC_PAGESIZE) / 1024);
}

static double cpu_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* A selector on {recv a; send full; recv b}: always wins on b (seq in order). */
static void *lose_selector_b(void *arg)
{
	struct lose_arg *la = arg;
	struct run *r = la->r;
	for (uint64_t i = 0; i < la->n; i++) {
		chan_case cs[3] = {{r->ch[LA], CHAN_DIR_RECV, 0},
		                   {r->ch[LFULL], CHAN_DIR_SEND, TAG | 1},
		                   {r->ch[LB], CHAN_DIR_RECV, 0}};
		if (r->cap[LFULL] == CHAN_UNBOUNDED)
			cs[1].ch = NULL; /* an unbounded channel is never full: switch the case off */
		size_t k = SIZE_MAX;
		set_op(la->s, OPC_SELECT);
		chan_status st = chan_select(cs, 3, i & 1 ? CHAN_SELECT_FAIR : CHAN_SELECT_BIASED, CHAN_FOREVER, &k);
		set_op(la->s, OPC_IDLE);
		atomic_fetch_add_explicit(&r->selects, 1, memory_order_relaxed);
		if (st != CHAN_OK || k != 2 || cs[2].msg != (uintptr_t)i) {
			discrepancy(r, "select {recv a; send full; recv b} #%" PRIu64 " returned %s case %zu value %" PRIuPTR
			               " (only b gets values: %" PRIu64 ")",
			            i, chan_status_str(st), k, k < 3 ? cs[k].msg : 0, i);
			la->st = st;
			return NULL;
		}
		count_done(la->s);
	}
	la->st = CHAN_OK;
	return NULL;
}

static void *lose_feeder_b(void *arg)
{
	struct lose_arg *la = arg;
	for (uint64_t i = 0; i < la->n; i++) {
		set_op(la->s, OPC_SEND);
		chan_status st = chan_send(la->r->ch[LB], (uintptr_t)i);
		set_op(la->s, OPC_IDLE);
		if (st != CHAN_OK) {
			discrepancy(la->r, "feeder: send #%" PRIu64 " on b returned %s", i, chan_status_str(st));
			la->st = st;
			return NULL;
		}
		count_done(la->s);
	}
	la->st = CHAN_OK;
	return NULL;
}

/* A plain receiver on channel LR taking n values (the partner of a send select). */
static void *lose_receiver_r(void *arg)
{
	struct lose_arg *la = arg;
	for (uint64_t i = 0; i < la->n; i++) {
		uintptr_t v;
		set_op(la->s, OPC_RECV);
		chan_status st = chan_recv(la->r->ch[LR], &v);
		set_op(la->s, OPC_IDLE);
		if (st != CHAN_OK || v != (uintptr_t)i) {
			discrepancy(la->r, "receiver: recv #%" PRIu64 " returned %s value %" PRIuPTR, i,
			            chan_status_str(st), v);
			la->st = st;
			return NULL;
		}
		count_done(la->s);
	}
	la->st = CHAN_OK;
	return NULL;
}

/* Probe: one blocking recv on a. */
static void *probe_recv_a(void *arg)
{
	struct lose_arg *la = arg;
	set_op(la->s, OPC_RECV);
	la->st = chan_recv(la->r->ch[LA], &la->got);
	set_op(la->s, OPC_EXITED);
	return NULL;
}

/* Probe: one blocking select on {recv a; recv b}. */
static void *probe_select_ab(void *arg)
{
	struct lose_arg *la = arg;
	chan_case cs[2] = {{la->r->ch[LA], CHAN_DIR_RECV, 0}, {la->r->ch[LB], CHAN_DIR_RECV, 0}};
	size_t k = SIZE_MAX;
	set_op(la->s, OPC_SELECT);
	la->st = chan_select(cs, 2, CHAN_SELECT_FAIR, CHAN_FOREVER, &k);
	set_op(la->s, OPC_EXITED);
	la->got = la->st == CHAN_OK && k == 0 ? cs[0].msg : ~(uintptr_t)0;
	return NULL;
}

/* Nothing of the selects is left on a, b, full. */
static void lose_probe(struct run *r, size_t nfull, struct totals *tot)
{
	uintptr_t v;
	chan_status st = chan_try_recv(r->ch[LA], &v);
	if (st != CHAN_EMPTY)
		discrepancy(r, "a: try_recv after the selects returned %s", chan_status_str(st));
	st = chan_try_recv(r->ch[LB], &v);
	if (st != CHAN_EMPTY)
		discrepancy(r, "b: try_recv after the selects returned %s", chan_status_str(st));
	if (r->cap[LA] == 0) {
		st = chan_try_send(r->ch[LA], TAG | 2);
		if (st != CHAN_FULL)
			discrepancy(r, "a: rendezvous try_send with no receiver returned %s (a select's waiter left behind)",
			            chan_status_str(st));
	}
	if (r->cap[LFULL] != CHAN_UNBOUNDED) {
		size_t len = chan_len(r->ch[LFULL]);
		if (len != nfull)
			discrepancy(r, "full: holds %zu messages, not the %zu it was filled with", len, nfull);
		if (r->cap[LFULL] == 0) {
			st = chan_try_recv(r->ch[LFULL], &v);
			if (st != CHAN_EMPTY)
				discrepancy(r, "full (rendezvous): try_recv returned %s (a select's send waiter left behind)",
				            chan_status_str(st));
		}
	}
	/* a blocked plain receiver gets exactly the message sent */
	struct slot *ps = &r->slots[4];
	struct lose_arg pa = {.r = r, .s = ps, .st = CHAN_EINVAL};
	pthread_t t;
	run_thread(probe_recv_a, &pa, &t);
	sleep_ms(20);
	set_op(&r->slots[5], OPC_SEND);
	st = chan_send(r->ch[LA], TAG | 3);
	set_op(&r->slots[5], OPC_IDLE);
	pthread_join(t, NULL);
	if (st != CHAN_OK || pa.st != CHAN_OK || pa.got != (uintptr_t)(TAG | 3))
		discrepancy(r, "a: send to a blocked receiver returned %s, the receiver got %s 0x%" PRIxPTR,
		            chan_status_str(st), chan_status_str(pa.st), pa.got);
	st = chan_try_recv(r->ch[LA], &v);
	if (st != CHAN_EMPTY)
		discrepancy(r, "a: after the plain pair, try_recv returned %s", chan_status_str(st));
	/* a blocked select stays parked quietly, then returns what is sent */
	struct lose_arg sa = {.r = r, .s = ps, .st = CHAN_EINVAL};
	run_thread(probe_select_ab, &sa, &t);
	sleep_ms(50);
	double c0 = cpu_ms();
	sleep_ms(300);
	double used = cpu_ms() - c0;
	if (used > tot->idle_cpu_ms)
		tot->idle_cpu_ms = used;
	if (used > 30) /* parked: ~0 ms; a spinner gets tens of ms even on a loaded machine */
		discrepancy(r, "a select blocked on {recv a; recv b} with nothing coming used %.0f ms of CPU in 300 ms (spinning)",
		            used);
	set_op(&r->slots[5], OPC_SEND);
	st = chan_send(r->ch[LA], TAG | 4);
	set_op(&r->slots[5], OPC_IDLE);
	pthread_join(t, NULL);
	if (st != CHAN_OK || sa.st != CHAN_OK || sa.got != (uintptr_t)(TAG | 4))
		discrepancy(r, "a: send to a blocked select returned %s, the select got %s 0x%" PRIxPTR,
		            chan_status_str(st), chan_status_str(sa.st), sa.got);
}

/* One pass: n selects of each losing kind, then the probes. */
static void lose_pass(struct run *r, uint64_t n, size_t nfull, struct totals *tot)
{
	struct driver_rng rng;
	driver_rng_seed(&rng, r->opt->seed * 977u + n);
	struct slot *m = &r->slots[0];
	static const int64_t tiny[] = {0, 1000, 5000, 20000};
	/* 1: timed out (most after registering on a and full) */
	for (uint64_t i = 0; i < n; i++) {
		chan_case cs[2] = {{r->ch[LA], CHAN_DIR_RECV, 0}, {r->ch[LFULL], CHAN_DIR_SEND, TAG | 5}};
		size_t nc = r->cap[LFULL] == CHAN_UNBOUNDED ? 1 : 2; /* unbounded is never full */
		size_t k = SIZE_MAX;
		set_op(m, OPC_SELECT_TIMED);
		chan_status st = chan_select(cs, nc, i & 1 ? CHAN_SELECT_FAIR : CHAN_SELECT_BIASED,
		                             now_ns() + tiny[driver_rng_below(&rng, 4)], &k);
		set_op(m, OPC_IDLE);
		count_done(m);
		if (st != CHAN_TIMEOUT) {
			discrepancy(r, "timed select #%" PRIu64 " with nothing ready returned %s case %zu", i,
			            chan_status_str(st), k);
			return;
		}
	}
	/* 2: NOWAIT */
	for (uint64_t i = 0; i < n; i++) {
		chan_case cs[2] = {{r->ch[LA], CHAN_DIR_RECV, 0}, {r->ch[LFULL], CHAN_DIR_SEND, TAG | 6}};
		size_t nc = r->cap[LFULL] == CHAN_UNBOUNDED ? 1 : 2;
		size_t k = SIZE_MAX;
		set_op(m, OPC_SELECT_NOWAIT);
		chan_status st = chan_select(cs, nc, CHAN_SELECT_FAIR, CHAN_NOWAIT, &k);
		set_op(m, OPC_IDLE);
		count_done(m);
		if (st != CHAN_NOT_READY) {
			discrepancy(r, "NOWAIT select #%" PRIu64 " with nothing ready returned %s case %zu", i,
			            chan_status_str(st), k);
			return;
		}
	}
	atomic_fetch_add(&r->selects, 2 * n);
	/* 3: woken by b, losing a (and full) */
	struct lose_arg sel = {.r = r, .n = n, .s = &r->slots[1], .st = CHAN_EINVAL};
	struct lose_arg feed = {.r = r, .n = n, .s = &r->slots[2], .st = CHAN_EINVAL};
	pthread_t t1, t2;
	run_thread(lose_selector_b, &sel, &t1);
	run_thread(lose_feeder_b, &feed, &t2);
	set_op(m, OPC_WAIT);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	set_op(m, OPC_IDLE);
	if (sel.st != CHAN_OK || feed.st != CHAN_OK)
		return;
	/* 4: a send select {recv a; send r} whose partner is a plain receiver on r */
	struct lose_arg rcv = {.r = r, .n = n, .s = &r->slots[3], .st = CHAN_EINVAL};
	run_thread(lose_receiver_r, &rcv, &t2);
	for (uint64_t i = 0; i < n; i++) {
		chan_case cs[2] = {{r->ch[LA], CHAN_DIR_RECV, 0}, {r->ch[LR], CHAN_DIR_SEND, (uintptr_t)i}};
		size_t k = SIZE_MAX;
		set_op(m, OPC_SELECT);
		chan_status st = chan_select(cs, 2, i & 1 ? CHAN_SELECT_FAIR : CHAN_SELECT_BIASED, CHAN_FOREVER, &k);
		set_op(m, OPC_IDLE);
		count_done(m);
		if (st != CHAN_OK || k != 1) {
			discrepancy(r, "select {recv a; send r} #%" PRIu64 " returned %s case %zu", i,
			            chan_status_str(st), k);
			chan_close(r->ch[LR]); /* release the receiver */
			break;
		}
	}
	atomic_fetch_add(&r->selects, n);
	set_op(m, OPC_WAIT);
	pthread_join(t2, NULL);
	set_op(m, OPC_IDLE);
	lose_probe(r, nfull, tot);
}

static void run_lose(struct run *r, struct totals *tot)
{
	const struct options *opt = r->opt;
	size_t cap = opt->mixed ? 0 : opt->cap;
	for (int j = 0; j < 4; j++)
		r->cap[j] = cap;
	cap_name(cap, tot->caps, sizeof tot->caps);
	setup_values(r, 1, 1);
	for (int j = 0; j < 4; j++)
		r->ch[j] = make_chan(r, cap);
	static const char roles[] = {'M', 'S', 'F', 'R', 'X', 'M'}; /* X: the probes' thread */
	for (int i = 0; i < 6; i++)
		slot_init(r, i, roles[i], i);
	r->nslots = 6;
	atomic_store(&watched, r);
	size_t nfull = cap == CHAN_UNBOUNDED ? 0 : cap;
	for (size_t i = 0; i < nfull; i++)
		if (chan_try_send(r->ch[LFULL], TAG | 7) != CHAN_OK)
			discrepancy(r, "filling `full`: try_send %zu of %zu failed", i + 1, nfull);
	uint64_t warm = opt->msgs / 10 > 1000 ? opt->msgs / 10 : 1000;
	uint64_t d0 = r->discrepancies;
	lose_pass(r, warm, nfull, tot);
	int64_t before = rss_kb();
	if (r->discrepancies == d0)
		lose_pass(r, opt->msgs, nfull, tot);
	int64_t after = rss_kb();
	if (tot->rss_before_kb == 0 || before < tot->rss_before_kb)
		tot->rss_before_kb = before;
	if (after > tot->rss_after_kb)
		tot->rss_after_kb = after;
	if (!UNDER_SANITIZER && before > 0 && after > before + (int64_t)opt->rss_limit_kb)
		discrepancy(r, "resident set grew from %" PRId64 " kB to %" PRId64 " kB over %" PRIu64
		               " selects of each losing kind (limit %" PRIu64 " kB): lost cases leak",
		            before, after, opt->msgs, opt->rss_limit_kb);
	atomic_store(&watched, NULL);
	for (int j = 0; j < 4; j++) {
		chan_close(r->ch[j]);
		chan_destroy(r->ch[j]);
		r->ch[j] = NULL;
	}
}

/* -------------------------------------------------------------------- main */

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: " PROG " --impl NAME | --plugin PATH.so  --cap N|unbounded|mixed  [options]\n"
	        "Select under stress (CONFORMANCE S2 S5 S6 S7); see the header of select_stress.c.\n"
	        "  --check chaos|self|lose|S7|S5|S6|all   (repeatable; default all)\n"
	        "  --threads T      producers and consumers (chaos), selectors (self); default 6\n"
	        "  --msgs N         values per round (chaos), pairings (self), selects per kind (lose);\n"
	        "                   default 20000 (lose 100000); k and M suffixes\n"
	        "  --rounds R       at least R rounds per check (default 1)\n"
	        "  --seconds S      and repeat rounds until S seconds passed (soak)\n"
	        "  --seed N         (default 1)\n"
	        "  --rss-limit-kb K lose: allowed RSS growth (default 4096)\n"
	        "  --timeout S      watchdog (default 60 + 1.5 x seconds)\n"
	        "  --list           list the registered implementations\n"
	        "Exit: 0 pass, 1 discrepancy, 2 usage, 3 hang, 77 n/a.\n");
}

static void print_totals(enum check k, const struct totals *t, bool first)
{
	printf("%s{\"check\": \"%s\", \"prop\": \"%s\", \"rounds\": %u, \"caps\": \"%s\", \"sent\": %" PRIu64
	       ", \"received\": %" PRIu64 ", \"sum_sent\": %" PRIu64 ", \"sum_received\": %" PRIu64
	       ", \"selects\": %" PRIu64 ", \"discrepancies\": %" PRIu64 ", \"rss_before_kb\": %" PRId64
	       ", \"rss_after_kb\": %" PRId64 ", \"rss_checked\": %s, \"idle_cpu_ms\": %.1f, \"elapsed_s\": %.3f}",
	       first ? "" : ", ", check_name[k], check_prop[k], t->rounds, t->caps, t->sent, t->received,
	       t->sum_sent, t->sum_received, t->selects, t->discrepancies, t->rss_before_kb, t->rss_after_kb,
	       UNDER_SANITIZER ? "false" : "true", t->idle_cpu_ms, t->elapsed);
}

int main(int argc, char **argv)
{
	struct options opt = {.threads = 6, .rounds = 1, .seed = 1, .rss_limit_kb = 4096};
	bool cap_given = false, any_check = false, msgs_given = false;
	double timeout = 0;
	struct driver_cli cli = {.prog = PROG, .usage = usage, .argc = argc, .argv = argv};
	for (const char *a; (a = driver_cli_next(&cli)) != NULL;) {
		const char *val = cli.val;
		bool ok = true;
		uint64_t u;
		if (strcmp(a, "--cap") == 0) {
			if (strcmp(val, "mixed") == 0)
				opt.mixed = true;
			else
				ok = driver_parse_cap(val, &opt.cap);
			cap_given = true;
		} else if (strcmp(a, "--threads") == 0) {
			ok = driver_parse_u64(val, &u) && u >= 2 && u <= MAX_THREADS;
			opt.threads = (int)u;
		} else if (strcmp(a, "--msgs") == 0) {
			ok = driver_parse_u64(val, &opt.msgs) && opt.msgs >= 1 && opt.msgs <= MAX_MSGS;
			msgs_given = true;
		} else if (strcmp(a, "--rounds") == 0) {
			ok = driver_parse_u64(val, &opt.rounds) && opt.rounds >= 1;
		} else if (strcmp(a, "--seconds") == 0) {
			ok = driver_parse_double(val, &opt.seconds);
		} else if (strcmp(a, "--seed") == 0) {
			ok = driver_parse_u64(val, &opt.seed);
		} else if (strcmp(a, "--rss-limit-kb") == 0) {
			ok = driver_parse_u64(val, &opt.rss_limit_kb);
		} else if (strcmp(a, "--timeout") == 0) {
			ok = driver_parse_double(val, &timeout);
		} else if (strcmp(a, "--check") == 0) {
			ok = driver_parse_check(val, N_CHECKS, check_name, check_prop, opt.checks);
			any_check = true;
		} else {
			driver_cli_unknown(&cli);
		}
		if (!ok)
			driver_cli_bad_value(&cli);
	}
	opt.impl = driver_cli_finish(&cli, cap_given);
	if (!any_check)
		for (int k = 0; k < N_CHECKS; k++)
			opt.checks[k] = true;
	opt.timeout = timeout > 0 ? timeout : 60 + opt.seconds * 1.5;

	/* n/a: select itself, the capacity (mixed: some capacity), the threads' needs */
	const char *check_label = "all";
	for (int k = 0; k < N_CHECKS; k++)
		if (opt.checks[k])
			check_label = check_name[k];
	uint64_t need = CHAN_CAP_SELECT | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING | CHAN_CAP_TIMED | CHAN_CAP_CLOSE;
	size_t probe_cap = opt.cap;
	if (opt.mixed) { /* mixed uses the capacities that are declared: any one will do */
		static const size_t menu[] = {0, 1, 4, CHAN_UNBOUNDED};
		probe_cap = 1;
		for (int i = 3; i >= 0; i--)
			if (cap_declared(opt.impl, menu[i]))
				probe_cap = menu[i];
	}
	const char *missing = driver_missing_cap(opt.impl, probe_cap, need);
	if (missing != NULL)
		driver_exit_na(PROG, opt.impl, probe_cap, check_label, missing);

	static char what[256];
	char cb[32];
	snprintf(what, sizeof what, PROG " --impl %s --cap %s", opt.impl,
	         opt.mixed ? "mixed" : driver_cap_str(opt.cap, cb, sizeof cb));
	watchdog_start(opt.timeout, what, watchdog_report, NULL);

	int64_t start = now_ns();
	struct totals totals[N_CHECKS];
	memset(totals, 0, sizeof totals);
	uint64_t discrepancies = 0;
	struct run *r = &the_run;
	for (int k = 0; k < N_CHECKS; k++) {
		if (!opt.checks[k])
			continue;
		struct options o = opt;
		if (!msgs_given)
			o.msgs = k == CK_LOSE ? 100000 : 20000;
		static struct options kept[N_CHECKS];
		kept[k] = o;
		int64_t ck_start = now_ns();
		unsigned n = 0;
		do {
			run_reset(r, &kept[k], (enum check)k, n);
			if (k == CK_CHAOS)
				run_chaos(r, &totals[k]);
			else if (k == CK_SELF)
				run_self(r, &totals[k]);
			else
				run_lose(r, &totals[k]);
			totals[k].sent += atomic_load(&r->sent);
			totals[k].received += atomic_load(&r->received);
			totals[k].sum_sent += atomic_load(&r->sum_sent);
			totals[k].sum_received += atomic_load(&r->sum_received);
			totals[k].selects += atomic_load(&r->selects);
			totals[k].discrepancies += r->discrepancies;
			n++;
			if (r->discrepancies)
				break;
		} while (n < o.rounds || (double)(now_ns() - ck_start) / 1e9 < o.seconds);
		totals[k].rounds = n;
		totals[k].elapsed = (double)(now_ns() - ck_start) / 1e9;
		discrepancies += totals[k].discrepancies;
	}
	watchdog_stop();
	double elapsed = (double)(now_ns() - start) / 1e9;

	printf("{\"driver\": \"" PROG "\", \"impl\": ");
	driver_json_str(stdout, opt.impl);
	printf(", \"cap\": \"%s\", \"threads\": %d, \"seed\": %" PRIu64 ", \"status\": \"%s\", \"ok\": %s, "
	       "\"discrepancies\": %" PRIu64 ", \"elapsed_s\": %.3f, \"results\": [",
	       opt.mixed ? "mixed" : driver_cap_str(opt.cap, cb, sizeof cb), opt.threads, opt.seed,
	       discrepancies ? "fail" : "pass", discrepancies ? "false" : "true", discrepancies, elapsed);
	bool first = true;
	for (int k = 0; k < N_CHECKS; k++)
		if (opt.checks[k]) {
			print_totals((enum check)k, &totals[k], first);
			first = false;
		}
	printf("]}\n");
	fflush(stdout);
	return discrepancies ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}
