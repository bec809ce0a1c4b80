/*
 * chan-stress: invariant stress for one channel implementation, the part of the
 * conformance suite that Python cannot drive fast enough (CONFORMANCE.md, "How
 * stress and histories are checked"). liburcu's test programs are the model:
 * threads and a size on the command line, one summary line on stdout, and a
 * non-zero exit with a "discrepancy: ..." line on stderr when counts do not
 * balance.
 *
 * Every message is one word that says who sent it and in which order:
 *
 *     value = (producer + 1) << 40 | seq        (seq counts from 0 per producer)
 *
 * so a receiver can decode it, and a tally indexed by (producer, seq) counts how
 * often each value was received (and, separately, how often it was handed to
 * the undelivered-message callback). Producers record the fate of each value
 * they offered: delivered (send returned OK) or returned (send failed, the
 * producer still owns it).
 *
 * The checks (--check), each named after the property it decides:
 *
 *   exactly-once [Q3]  P producers, C consumers, blocking send / recv; the
 *                      channel is closed once every producer is done, the
 *                      consumers drain it to CLOSED. Every value is received
 *                      exactly once; counts and checksums balance.
 *   order        [Q2]  the same workload; each consumer sees each producer's
 *                      sequence numbers strictly increasing.
 *   close-race   [C9]  producers and consumers use a mix of blocking, try and
 *                      timed operations while a closer thread closes the channel
 *                      at a random point. A value whose send returned OK is
 *                      received exactly once; a value whose send returned CLOSED
 *                      is never received; the consumers drain everything.
 *   conservation [C8]  as close-race, but the receivers give up early, by one
 *                      of two endings (alternating by round): (a) each consumer
 *                      drops its receiver handle after a random budget, and the
 *                      last drop hands what is buffered to the undelivered
 *                      callback while producers are still sending; (b) a closer
 *                      closes, consumers stop at random, and chan_destroy hands
 *                      the rest to the callback. Every value offered is exactly
 *                      one of: received, returned by a failed send, handed to
 *                      the callback; received + returned + undelivered == sent.
 *   len          [Q8]  a sampler thread checks 0 <= len <= cap (len == 0 for a
 *                      rendezvous channel) while producers and consumers run;
 *                      when quiescent, len equals what is buffered exactly, and
 *                      drops by one with each try_recv down to 0.
 *   timed        [T4]  producers and consumers use only try and timed
 *                      operations with tiny timeouts (0 to 1 ms) plus some
 *                      blocking sends; every value exactly once (a timed-out
 *                      operation consumed nothing); then, on the quiescent
 *                      channel, no trace is left: try_recv is EMPTY, a
 *                      rendezvous try_send is FULL (no phantom receiver), a
 *                      bounded channel still takes exactly cap messages.
 *   all                every check above in turn.
 *
 * A check fails only on its own property. Anything else it happens to see
 * (a duplicate while checking order, say) is printed as a "note:" line and
 * counted under "notes" in the summary, so that a flaw is reported once, under
 * the property it breaks.
 *
 * Thread counts above the core count are intended (8 producers and 8 consumers
 * on 2 cores by default): a design that only works while it can spin its way
 * out shows its flaws when threads are preempted mid-operation.
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
#include <sys/prctl.h>
#include <time.h>

#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"
#include "driver_cli.h"
#include "driver_rng.h"
#include "watchdog.h"

#if UINTPTR_MAX < UINT64_MAX
#error "chan-stress encodes (producer, seq) in a 64-bit word"
#endif

#define PROG "chan-stress"
#define SEQ_BITS 40
#define SEQ_MASK ((UINT64_C(1) << SEQ_BITS) - 1)
#define MAX_SIDE 128        /* producers, and consumers, at most */
#define MAX_MSGS (UINT64_C(1) << 30)
#define FILL_CHECK_MAX 4096 /* bounded capacities up to this are filled one by one */
#define PRINT_LIMIT 10      /* lines printed per kind of finding */

enum check { CK_EXACTLY_ONCE, CK_ORDER, CK_CLOSE_RACE, CK_CONSERVATION, CK_LEN, CK_TIMED, N_CHECKS };
static const char *const check_name[N_CHECKS] = {"exactly-once", "order", "close-race",
                                                 "conservation", "len", "timed"};
static const char *const check_prop[N_CHECKS] = {"Q3", "Q2", "C9", "C8", "Q8", "T4"};

/* Property ids that a check can also observe (printed as notes). */
enum prop { P_Q3, P_Q2, P_C9, P_C8, P_Q8, P_T4, P_Q6, P_Q11, P_Q12, P_C1, P_C4, N_PROPS };
static const char *const prop_name[N_PROPS] = {"Q3", "Q2", "C9", "C8", "Q8", "T4",
                                               "Q6", "Q11", "Q12", "C1", "C4"};

struct options {
	const char *impl;
	size_t cap;
	int producers, consumers;
	uint64_t msgs;
	double seconds;
	uint64_t rounds; /* at least this many rounds per check */
	uint64_t seed;
	double timeout;
	bool checks[N_CHECKS];
};

/* What a thread is doing, for the watchdog's report. */
enum opcode {
	OPC_NOT_STARTED, OPC_IDLE, OPC_SEND, OPC_TRY_SEND, OPC_SEND_TIMED, OPC_RECV, OPC_TRY_RECV, OPC_RECV_TIMED,
	OPC_LEN, OPC_CLOSE, OPC_DROP, OPC_WAIT, OPC_EXITED, N_OPCODES
};
static const char *const opcode_name[N_OPCODES] = {
	"(not started)", "idle", "send", "try_send", "send_timeout", "recv", "try_recv", "recv_timeout",
	"len", "close", "drop-handle", "waiting", "exited"};

struct slot {
	char role; /* 'P' producer, 'C' consumer, 'S' len sampler, 'X' closer, 'M' main */
	int index;
	atomic_int op;
	atomic_uint_fast64_t done; /* messages moved (or samples taken) so far */
};

enum fate { FATE_NONE, FATE_DELIVERED, FATE_RETURNED, FATE_ERROR };

struct consumer_result {
	uint64_t received, sum;
	uint64_t order_violations, unknown, closed_early, errors;
	char order_example[160], unknown_example[96], error_example[96];
	int64_t *last_seq; /* per producer, -1 before the first */
};

struct producer_result {
	uint64_t attempted, delivered, returned, errors, sum;
	char error_example[96];
};

struct round;

struct thread_arg {
	struct round *r;
	int index;
};

struct round {
	const struct options *opt;
	enum check check;
	unsigned number;
	int ending; /* conservation: 0 receivers drop their handles, 1 close then destroy */
	chan_t *ch;
	uint64_t seed;
	uint64_t total;
	uint64_t per_prod[MAX_SIDE], base[MAX_SIDE];
	bool mixed_ops; /* try / timed ops in the mix */

	_Atomic uint16_t *tally;   /* times received, per value */
	_Atomic uint16_t *undeliv; /* times handed to the undelivered callback */
	uint8_t *fate;             /* written by the value's producer only */
	atomic_uint_fast64_t unknown_undelivered, undelivered, undelivered_sum;

	atomic_uint_fast64_t progress; /* sends and receives that succeeded */
	atomic_uint_fast64_t received; /* receives that succeeded */
	atomic_int producers_done;
	atomic_bool stop_sampler;
	atomic_uint_fast64_t tickets; /* len: receive tickets handed out */
	uint64_t quota;               /* len: receives to do in total */
	uint64_t close_after;         /* closer: progress at which to close */
	int64_t close_at_ns;          /* closer: when it closed (0: it did not) */
	chan_status close_status;

	uint64_t len_samples, len_max, len_violations;
	char len_example[128];

	struct consumer_result cres[MAX_SIDE];
	struct producer_result pres[MAX_SIDE];
	struct slot slots[2 * MAX_SIDE + 2]; /* then one more: the main thread */
	int nslots;
};

/* Totals of one check over all its rounds. */
struct check_totals {
	unsigned rounds;
	uint64_t attempted, delivered, received, returned, undelivered;
	uint64_t sum_sent, sum_received, sum_undelivered;
	uint64_t len_samples, len_max;
	uint64_t discrepancies, notes;
	double elapsed;
};

struct findings {
	const struct options *opt;
	enum check check;
	unsigned round;
	uint64_t discrepancies, notes;
	unsigned printed[N_PROPS];
	uint64_t suppressed[N_PROPS];
};

/* For the watchdog's report: the round in progress (rounds live in one static
 * struct, never freed, so a late read by the watchdog touches valid memory). */
static _Atomic(struct round *) watched_round;
static atomic_int watched_check = -1;
static struct round the_round;

/* ------------------------------------------------------------------ helpers */

static int64_t now_ns(void)
{
	return chan_now_ns();
}

static uintptr_t encode(int p, uint64_t seq)
{
	return (uintptr_t)(((uint64_t)(p + 1) << SEQ_BITS) | seq);
}

/* Decode a received value; false if no producer of this round sent it. */
static bool decode(const struct round *r, uintptr_t v, int *p, uint64_t *seq, uint64_t *idx)
{
	uint64_t hi = (uint64_t)v >> SEQ_BITS;
	if (hi == 0 || hi > (uint64_t)r->opt->producers)
		return false;
	*p = (int)(hi - 1);
	*seq = (uint64_t)v & SEQ_MASK;
	if (*seq >= r->per_prod[*p])
		return false;
	*idx = r->base[*p] + *seq;
	return true;
}

static void describe(const struct round *r, uintptr_t v, char *buf, size_t n)
{
	int p;
	uint64_t seq, idx;
	if (decode(r, v, &p, &seq, &idx))
		snprintf(buf, n, "p%d#%" PRIu64, p, seq);
	else
		snprintf(buf, n, "0x%" PRIxPTR, v);
}

static void finding(struct findings *f, enum prop prop, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report one finding: a discrepancy if it is the property the check decides,
 * else a note. At most PRINT_LIMIT lines per property are printed. */
static void finding(struct findings *f, enum prop prop, const char *fmt, ...)
{
	bool own = strcmp(prop_name[prop], check_prop[f->check]) == 0;
	if (own)
		f->discrepancies++;
	else
		f->notes++;
	if (f->printed[prop] >= PRINT_LIMIT) {
		f->suppressed[prop]++;
		return;
	}
	f->printed[prop]++;
	char cb[32];
	fprintf(stderr, "%s: [%s] impl=%s cap=%s check=%s round=%u: ", own ? "discrepancy" : "note",
	        prop_name[prop], f->opt->impl, driver_cap_str(f->opt->cap, cb, sizeof cb),
	        check_name[f->check], f->round);
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void findings_flush(struct findings *f)
{
	for (int p = 0; p < N_PROPS; p++) {
		if (f->suppressed[p] == 0)
			continue;
		bool own = strcmp(prop_name[p], check_prop[f->check]) == 0;
		fprintf(stderr, "%s: [%s] check=%s: ... and %" PRIu64 " more like the above\n",
		        own ? "discrepancy" : "note", prop_name[p], check_name[f->check],
		        f->suppressed[p]);
		f->suppressed[p] = 0;
	}
}

static void set_op(struct slot *s, enum opcode op)
{
	atomic_store_explicit(&s->op, (int)op, memory_order_relaxed);
}

static void count_done(struct slot *s)
{
	atomic_fetch_add_explicit(&s->done, 1, memory_order_relaxed);
}

/* One send by a randomly chosen flavour (blocking only unless mixed). FULL and
 * TIMEOUT are retried, so the result is OK, CLOSED or an error. */
static chan_status send_one(struct round *r, struct slot *s, struct driver_rng *rng, uintptr_t v,
                            unsigned blocking_pct)
{
	for (;;) {
		unsigned pick = r->mixed_ops ? (unsigned)driver_rng_below(rng, 100) : 0;
		chan_status st;
		if (pick < blocking_pct) {
			set_op(s, OPC_SEND);
			st = chan_send(r->ch, v);
		} else if (pick < blocking_pct + (100 - blocking_pct) / 2) {
			set_op(s, OPC_TRY_SEND);
			st = chan_try_send(r->ch, v);
		} else {
			set_op(s, OPC_SEND_TIMED);
			st = chan_send_timeout(r->ch, v, driver_rng_tiny_timeout(rng));
		}
		set_op(s, OPC_IDLE);
		if (st == CHAN_FULL || st == CHAN_TIMEOUT) {
			sched_yield();
			continue;
		}
		return st;
	}
}

/* One receive attempt by a randomly chosen flavour. May return EMPTY or
 * TIMEOUT (the caller decides whether to retry). */
static chan_status recv_one(struct round *r, struct slot *s, struct driver_rng *rng, uintptr_t *v,
                            unsigned blocking_pct)
{
	unsigned pick = r->mixed_ops ? (unsigned)driver_rng_below(rng, 100) : 0;
	chan_status st;
	if (pick < blocking_pct) {
		set_op(s, OPC_RECV);
		st = chan_recv(r->ch, v);
	} else if (pick < blocking_pct + (100 - blocking_pct) / 2) {
		set_op(s, OPC_TRY_RECV);
		st = chan_try_recv(r->ch, v);
	} else {
		set_op(s, OPC_RECV_TIMED);
		st = chan_recv_timeout(r->ch, v, driver_rng_tiny_timeout(rng));
	}
	set_op(s, OPC_IDLE);
	return st;
}

/* A consumer got v: tally it and check the order of its producer. */
static void on_received(struct round *r, struct consumer_result *cr, uintptr_t v)
{
	int p;
	uint64_t seq, idx;
	cr->received++;
	cr->sum += (uint64_t)v;
	atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->received, 1, memory_order_relaxed);
	if (!decode(r, v, &p, &seq, &idx)) {
		if (cr->unknown++ == 0)
			snprintf(cr->unknown_example, sizeof cr->unknown_example,
			         "received 0x%" PRIxPTR ", a value no producer sent", v);
		return;
	}
	atomic_fetch_add_explicit(&r->tally[idx], 1, memory_order_relaxed);
	if ((int64_t)seq <= cr->last_seq[p]) {
		if (cr->order_violations++ == 0)
			snprintf(cr->order_example, sizeof cr->order_example,
			         "received p%d#%" PRIu64 " after p%d#%" PRId64, p, seq, p,
			         cr->last_seq[p]);
	}
	cr->last_seq[p] = (int64_t)seq;
}

static void on_recv_error(struct consumer_result *cr, chan_status st, const char *what)
{
	if (cr->errors++ == 0)
		snprintf(cr->error_example, sizeof cr->error_example, "%s returned %s", what,
		         chan_status_str(st));
}

/* The undelivered-message callback: tally per value. */
static void undelivered_cb(uintptr_t v, void *ctx)
{
	struct round *r = ctx;
	int p;
	uint64_t seq, idx;
	atomic_fetch_add_explicit(&r->undelivered, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->undelivered_sum, (uint64_t)v, memory_order_relaxed);
	if (decode(r, v, &p, &seq, &idx))
		atomic_fetch_add_explicit(&r->undeliv[idx], 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&r->unknown_undelivered, 1, memory_order_relaxed);
}

/* ------------------------------------------------------------------ threads */

static void *producer_main(void *arg)
{
	struct thread_arg *ta = arg;
	struct round *r = ta->r;
	int p = ta->index;
	struct slot *s = &r->slots[p];
	struct producer_result *pr = &r->pres[p];
	struct driver_rng rng;
	driver_rng_seed(&rng, r->seed * 1000003u + (uint64_t)p);
	unsigned blocking_pct = r->check == CK_TIMED ? 20 : 50;

	for (uint64_t seq = 0; seq < r->per_prod[p]; seq++) {
		uintptr_t v = encode(p, seq);
		uint64_t idx = r->base[p] + seq;
		pr->attempted++;
		chan_status st = send_one(r, s, &rng, v, blocking_pct);
		if (st == CHAN_OK) {
			r->fate[idx] = FATE_DELIVERED;
			pr->delivered++;
			pr->sum += (uint64_t)v;
			count_done(s);
			atomic_fetch_add_explicit(&r->progress, 1, memory_order_relaxed);
		} else if (st == CHAN_CLOSED) {
			r->fate[idx] = FATE_RETURNED;
			pr->returned++;
			break;
		} else {
			r->fate[idx] = FATE_ERROR;
			if (pr->errors++ == 0)
				snprintf(pr->error_example, sizeof pr->error_example,
				         "send of p%d#%" PRIu64 " returned %s", p, seq, chan_status_str(st));
			break;
		}
	}
	if (r->check == CK_CONSERVATION) {
		set_op(s, OPC_DROP);
		(void)chan_sender_drop(r->ch); /* the last one closes (C6) */
	}
	atomic_fetch_add(&r->producers_done, 1);
	set_op(s, OPC_EXITED);
	return NULL;
}

/* exactly-once, order, close-race: receive until CLOSED. */
static void consume_to_closed(struct round *r, int c, struct slot *s, struct driver_rng *rng)
{
	struct consumer_result *cr = &r->cres[c];
	for (;;) {
		uintptr_t v;
		chan_status st = recv_one(r, s, rng, &v, 50);
		if (st == CHAN_OK) {
			on_received(r, cr, v);
			count_done(s);
		} else if (st == CHAN_CLOSED) {
			return;
		} else if (st == CHAN_EMPTY || st == CHAN_TIMEOUT) {
			sched_yield();
		} else {
			on_recv_error(cr, st, "recv");
			return;
		}
	}
}

/* conservation: receive up to a random budget, or until CLOSED. */
static void consume_budget(struct round *r, int c, struct slot *s, struct driver_rng *rng)
{
	struct consumer_result *cr = &r->cres[c];
	uint64_t budget = driver_rng_below(rng, r->total / (uint64_t)r->opt->consumers + 2);
	while (cr->received < budget) {
		uintptr_t v;
		chan_status st = recv_one(r, s, rng, &v, 50);
		if (st == CHAN_OK) {
			on_received(r, cr, v);
			count_done(s);
		} else if (st == CHAN_CLOSED) {
			break;
		} else if (st == CHAN_EMPTY || st == CHAN_TIMEOUT) {
			sched_yield();
		} else {
			on_recv_error(cr, st, "recv");
			break;
		}
	}
	if (r->ending == 0) {
		set_op(s, OPC_DROP);
		(void)chan_receiver_drop(r->ch); /* the last one hands the rest over (C7, C8) */
	}
}

/* len: blocking receives, one per ticket, quota in total. */
static void consume_tickets(struct round *r, int c, struct slot *s)
{
	struct consumer_result *cr = &r->cres[c];
	while (atomic_fetch_add(&r->tickets, 1) < r->quota) {
		uintptr_t v;
		set_op(s, OPC_RECV);
		chan_status st = chan_recv(r->ch, &v);
		set_op(s, OPC_IDLE);
		if (st != CHAN_OK) {
			on_recv_error(cr, st, "recv");
			return;
		}
		on_received(r, cr, v);
		count_done(s);
	}
}

/* timed: try and timed receives only, until every value arrived, or the
 * producers are done and nothing came for 200 ms (a lost message). */
static void consume_timed(struct round *r, int c, struct slot *s, struct driver_rng *rng)
{
	struct consumer_result *cr = &r->cres[c];
	int64_t idle_since = 0;
	while (atomic_load_explicit(&r->received, memory_order_relaxed) < r->total) {
		uintptr_t v;
		chan_status st = recv_one(r, s, rng, &v, 0);
		if (st == CHAN_OK) {
			on_received(r, cr, v);
			count_done(s);
			idle_since = 0;
		} else if (st == CHAN_EMPTY || st == CHAN_TIMEOUT) {
			if (atomic_load(&r->producers_done) == r->opt->producers) {
				int64_t t = now_ns();
				if (idle_since == 0)
					idle_since = t;
				else if (t - idle_since > 200000000)
					break;
			}
			sched_yield();
		} else {
			if (st == CHAN_CLOSED)
				cr->closed_early++;
			on_recv_error(cr, st, "recv");
			break;
		}
	}
}

static void *consumer_main(void *arg)
{
	struct thread_arg *ta = arg;
	struct round *r = ta->r;
	int c = ta->index;
	struct slot *s = &r->slots[r->opt->producers + c];
	struct driver_rng rng;
	driver_rng_seed(&rng, r->seed * 7919u + 100000u + (uint64_t)c);
	switch (r->check) {
	case CK_EXACTLY_ONCE:
	case CK_ORDER:
	case CK_CLOSE_RACE: consume_to_closed(r, c, s, &rng); break;
	case CK_CONSERVATION: consume_budget(r, c, s, &rng); break;
	case CK_LEN: consume_tickets(r, c, s); break;
	case CK_TIMED: consume_timed(r, c, s, &rng); break;
	case N_CHECKS: break;
	}
	set_op(s, OPC_EXITED);
	return NULL;
}

/* len: sample len() while the others run. */
static void *sampler_main(void *arg)
{
	struct round *r = arg;
	struct slot *s = &r->slots[r->nslots - 1];
	size_t cap = r->opt->cap;
	uint64_t bound = cap == CHAN_UNBOUNDED ? r->total : cap;
	while (!atomic_load_explicit(&r->stop_sampler, memory_order_relaxed)) {
		set_op(s, OPC_LEN);
		size_t n = chan_len(r->ch);
		set_op(s, OPC_IDLE);
		r->len_samples++;
		count_done(s);
		if (n > r->len_max)
			r->len_max = n;
		if (n > bound && r->len_violations++ == 0)
			snprintf(r->len_example, sizeof r->len_example,
			         "len() returned %zu under concurrency, outside 0..%" PRIu64, n, bound);
		if ((r->len_samples & 63) == 0)
			sched_yield();
	}
	set_op(s, OPC_EXITED);
	return NULL;
}

/* close-race, conservation (b): close once `close_after` operations succeeded,
 * or the producers are done, or nothing moved for 2 ms. */
static void *closer_main(void *arg)
{
	struct round *r = arg;
	struct slot *s = &r->slots[r->nslots - 1];
	set_op(s, OPC_WAIT);
	uint64_t last = atomic_load(&r->progress);
	int64_t still_since = now_ns();
	for (;;) {
		uint64_t p = atomic_load(&r->progress);
		if (p >= r->close_after || atomic_load(&r->producers_done) == r->opt->producers)
			break;
		int64_t t = now_ns();
		if (p != last) {
			last = p;
			still_since = t;
		} else if (t - still_since > 2000000) {
			break;
		}
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	set_op(s, OPC_CLOSE);
	r->close_at_ns = now_ns();
	r->close_status = chan_close(r->ch);
	count_done(s);
	set_op(s, OPC_EXITED);
	return NULL;
}

static void watchdog_report(FILE *out, void *ctx)
{
	(void)ctx;
	int ck = atomic_load(&watched_check);
	struct round *r = atomic_load(&watched_round);
	if (r == NULL || ck < 0)
		return;
	char cb[32];
	fprintf(out, "hang: impl=%s cap=%s check=%s [%s] round=%u; what each thread was doing:\n",
	        r->opt->impl, driver_cap_str(r->opt->cap, cb, sizeof cb), check_name[ck],
	        check_prop[ck], r->number);
	for (int i = 0; i <= r->nslots; i++) {
		struct slot *s = &r->slots[i];
		int op = atomic_load_explicit(&s->op, memory_order_relaxed);
		fprintf(out, "hang:   %c%-3d in %-16s after %" PRIu64 " ops\n", s->role, s->index,
		        op >= 0 && op < N_OPCODES ? opcode_name[op] : "?",
		        (uint64_t)atomic_load_explicit(&s->done, memory_order_relaxed));
	}
	fprintf(out, "hang:   progress %" PRIu64 " of %" PRIu64 " messages (x2: sent and received)\n",
	        (uint64_t)atomic_load_explicit(&r->progress, memory_order_relaxed), r->total);
}

/* ------------------------------------------------------------- quiescent probes */

/* len: on a quiescent channel, fill and empty it with try ops; len must follow. */
static void len_fill_probe(struct round *r, struct findings *f)
{
	size_t cap = r->opt->cap;
	uintptr_t tag = (uintptr_t)UINT64_C(0xfffff) << SEQ_BITS;
	size_t n = cap == 0 ? 0 : cap == CHAN_UNBOUNDED ? FILL_CHECK_MAX : cap;
	if (n > FILL_CHECK_MAX)
		return;
	set_op(&r->slots[r->nslots], OPC_TRY_SEND);
	for (size_t i = 0; i < n; i++) {
		chan_status st = chan_try_send(r->ch, tag | i);
		if (st != CHAN_OK) {
			finding(f, cap == CHAN_UNBOUNDED ? P_Q11 : P_Q6,
			        "try_send %zu of %zu into an empty channel returned %s", i + 1, n,
			        chan_status_str(st));
			n = i;
			break;
		}
		size_t len = chan_len(r->ch);
		if (len != i + 1)
			finding(f, P_Q8, "quiescent len() is %zu after %zu try_sends into an empty channel",
			        len, i + 1);
	}
	if (cap != CHAN_UNBOUNDED) {
		chan_status st = chan_try_send(r->ch, tag | n);
		if (st != CHAN_FULL) {
			finding(f, cap == 0 ? P_Q12 : P_Q6,
			        "try_send number %zu into a channel of capacity %zu returned %s, not full",
			        n + 1, cap, chan_status_str(st));
			if (st == CHAN_OK)
				n++;
		}
	}
	for (size_t i = 0; i < n; i++) {
		uintptr_t v;
		chan_status st = chan_try_recv(r->ch, &v);
		if (st != CHAN_OK) {
			finding(f, P_Q8, "try_recv %zu of %zu returned %s", i + 1, n, chan_status_str(st));
			break;
		}
		size_t len = chan_len(r->ch);
		if (len != n - i - 1)
			finding(f, P_Q8, "quiescent len() is %zu with %zu messages buffered", len,
			        n - i - 1);
	}
	size_t len = chan_len(r->ch);
	if (len != 0)
		finding(f, P_Q8, "quiescent len() is %zu on an emptied channel", len);
	set_op(&r->slots[r->nslots], OPC_IDLE);
}

/* timed: after the storm, nothing may be left behind by timed-out operations. */
static void timed_no_trace_probe(struct round *r, struct findings *f)
{
	size_t cap = r->opt->cap;
	uintptr_t tag = (uintptr_t)UINT64_C(0xffffe) << SEQ_BITS;
	uintptr_t v;
	chan_status st = chan_try_recv(r->ch, &v);
	if (st != CHAN_EMPTY) {
		char d[64];
		describe(r, v, d, sizeof d);
		finding(f, P_T4, "try_recv on the quiescent channel returned %s%s%s, not empty",
		        chan_status_str(st), st == CHAN_OK ? " " : "", st == CHAN_OK ? d : "");
	}
	if (cap == 0) {
		st = chan_try_send(r->ch, tag);
		if (st == CHAN_OK) {
			/* Taken by a phantom receiver, or buffered by a channel that is not
			 * a rendezvous at all: try_recv tells which. */
			st = chan_try_recv(r->ch, &v);
			if (st == CHAN_OK && v == tag)
				finding(f, P_Q12,
				        "try_send on a quiescent rendezvous channel returned ok and try_recv "
				        "then got the value: the channel buffers it");
			else
				finding(f, P_T4,
				        "try_send on a quiescent rendezvous channel returned ok with no receiver "
				        "there: a timed-out receiver was left waiting, and the value is lost");
		} else if (st != CHAN_FULL) {
			finding(f, P_T4, "try_send on a quiescent rendezvous channel returned %s, not full",
			        chan_status_str(st));
		}
		return;
	}
	size_t n = cap == CHAN_UNBOUNDED ? 16 : cap;
	if (n > FILL_CHECK_MAX)
		return;
	size_t sent = 0;
	for (; sent < n; sent++) {
		st = chan_try_send(r->ch, tag | sent);
		if (st != CHAN_OK) {
			finding(f, P_T4,
			        "try_send %zu of %zu into the quiescent channel returned %s: a timed-out "
			        "sender left a slot taken",
			        sent + 1, n, chan_status_str(st));
			break;
		}
	}
	if (cap != CHAN_UNBOUNDED && sent == n) {
		st = chan_try_send(r->ch, tag | n);
		if (st != CHAN_FULL) {
			finding(f, P_Q6, "try_send number %zu into capacity %zu returned %s, not full",
			        n + 1, cap, chan_status_str(st));
			if (st == CHAN_OK)
				sent++;
		}
	}
	for (size_t i = 0; i < sent; i++) {
		st = chan_try_recv(r->ch, &v);
		if (st != CHAN_OK || v != (tag | i)) {
			char d[64];
			describe(r, v, d, sizeof d);
			finding(f, P_T4, "try_recv %zu of %zu returned %s%s%s, expected the probe 0x%" PRIxPTR,
			        i + 1, sent, chan_status_str(st), st == CHAN_OK ? " " : "",
			        st == CHAN_OK ? d : "", tag | i);
			break;
		}
	}
}

/* ------------------------------------------------------------------ a round */

static bool round_alloc(struct round *r)
{
	r->tally = calloc(r->total, sizeof *r->tally);
	r->undeliv = calloc(r->total, sizeof *r->undeliv);
	r->fate = calloc(r->total, 1);
	if (r->tally == NULL || r->undeliv == NULL || r->fate == NULL)
		return false;
	for (int c = 0; c < r->opt->consumers; c++) {
		r->cres[c].last_seq = malloc((size_t)r->opt->producers * sizeof(int64_t));
		if (r->cres[c].last_seq == NULL)
			return false;
		for (int p = 0; p < r->opt->producers; p++)
			r->cres[c].last_seq[p] = -1;
	}
	return true;
}

static void round_free(struct round *r)
{
	free((void *)r->tally);
	free((void *)r->undeliv);
	free(r->fate);
	for (int c = 0; c < r->opt->consumers; c++)
		free(r->cres[c].last_seq);
}

/* Per-value accounting after the threads are joined (and the channel destroyed). */
static void round_verify(struct round *r, struct findings *f, struct check_totals *t)
{
	enum check ck = r->check;
	bool fated = ck == CK_CLOSE_RACE || ck == CK_CONSERVATION;
	enum prop loss_prop = ck == CK_CLOSE_RACE ? P_C9 : ck == CK_CONSERVATION ? P_C8
	                      : ck == CK_TIMED                    ? P_T4
	                                                          : P_Q3;
	uint64_t attempted = 0, delivered = 0, returned = 0, received = 0, sum_sent = 0, sum_recv = 0;
	uint64_t missing = 0, dup = 0, both = 0, taken_back = 0, undeliv_twice = 0;
	char ex_missing[64] = "", ex_dup[64] = "", ex_both[64] = "", ex_taken[64] = "";

	for (int p = 0; p < r->opt->producers; p++) {
		struct producer_result *pr = &r->pres[p];
		attempted += pr->attempted;
		delivered += pr->delivered;
		returned += pr->returned;
		sum_sent += pr->sum;
		if (pr->errors)
			finding(f, loss_prop, "producer %d: %s (%" PRIu64 " such errors)", p,
			        pr->error_example, pr->errors);
		if (!fated && pr->returned)
			finding(f, loss_prop, "producer %d: %" PRIu64 " sends returned closed before anyone closed",
			        p, pr->returned);
	}
	for (int c = 0; c < r->opt->consumers; c++) {
		struct consumer_result *cr = &r->cres[c];
		received += cr->received;
		sum_recv += cr->sum;
		if (cr->unknown)
			finding(f, loss_prop, "consumer %d: %s (%" PRIu64 " such values)", c,
			        cr->unknown_example, cr->unknown);
		if (cr->errors)
			finding(f, loss_prop, "consumer %d: %s (%" PRIu64 " such errors)", c,
			        cr->error_example, cr->errors);
		if (cr->order_violations)
			finding(f, P_Q2, "consumer %d: %s (%" PRIu64 " out-of-order receives)", c,
			        cr->order_example, cr->order_violations);
	}
	uint64_t undelivered = atomic_load(&r->undelivered);
	uint64_t unknown_undeliv = atomic_load(&r->unknown_undelivered);
	if (unknown_undeliv)
		finding(f, fated ? loss_prop : P_C8,
		        "%" PRIu64 " values handed to the undelivered callback were never sent",
		        unknown_undeliv);

	for (int p = 0; p < r->opt->producers; p++) {
		for (uint64_t seq = 0; seq < r->per_prod[p]; seq++) {
			uint64_t idx = r->base[p] + seq;
			unsigned got = atomic_load_explicit(&r->tally[idx], memory_order_relaxed);
			unsigned und = atomic_load_explicit(&r->undeliv[idx], memory_order_relaxed);
			unsigned fate = r->fate[idx];
			if (und > 1)
				undeliv_twice++;
			if (fate == FATE_DELIVERED) {
				if (got + und == 0) {
					if (missing++ == 0)
						snprintf(ex_missing, sizeof ex_missing, "p%d#%" PRIu64, p, seq);
				} else if (got > 1) {
					if (dup++ == 0)
						snprintf(ex_dup, sizeof ex_dup, "p%d#%" PRIu64 " x%u", p, seq, got);
				} else if (got == 1 && und > 0) {
					if (both++ == 0)
						snprintf(ex_both, sizeof ex_both, "p%d#%" PRIu64, p, seq);
				}
			} else if (got + und > 0) {
				/* Returned to its sender, or never offered, yet it arrived. */
				if (taken_back++ == 0)
					snprintf(ex_taken, sizeof ex_taken, "p%d#%" PRIu64 " (send %s)", p, seq,
					         fate == FATE_RETURNED ? "returned closed"
					         : fate == FATE_ERROR  ? "failed"
					                               : "never made");
			}
		}
	}

	/* Undelivered messages are a loss unless receivers gave up on purpose. */
	bool undelivered_expected = ck == CK_CONSERVATION;
	if (missing)
		finding(f, loss_prop,
		        "%" PRIu64 " values whose send returned ok were never received%s (first: %s)",
		        missing, undelivered_expected ? " nor handed to the undelivered callback" : "",
		        ex_missing);
	if (dup)
		finding(f, loss_prop, "%" PRIu64 " values were received more than once (first: %s)", dup,
		        ex_dup);
	if (both)
		finding(f, loss_prop,
		        "%" PRIu64 " values were both received and handed to the undelivered callback "
		        "(first: %s)",
		        both, ex_both);
	if (undeliv_twice)
		finding(f, fated ? loss_prop : P_C8,
		        "%" PRIu64 " values were handed to the undelivered callback more than once",
		        undeliv_twice);
	if (taken_back)
		finding(f, fated ? loss_prop : P_C4,
		        "%" PRIu64 " values arrived although their send did not return ok (first: %s)",
		        taken_back, ex_taken);
	if (undelivered && !undelivered_expected)
		finding(f, ck == CK_EXACTLY_ONCE || ck == CK_CLOSE_RACE ? loss_prop : P_C1,
		        "%" PRIu64 " messages were still buffered after the consumers saw closed (they "
		        "went to the undelivered callback at destroy): closed reported before the drain",
		        undelivered);
	/* The books: every value offered has exactly one fate, and the checksums
	 * of what was delivered and what came out agree. */
	uint64_t undeliv_known = undelivered - unknown_undeliv;
	uint64_t sum_out = sum_recv + (uint64_t)atomic_load(&r->undelivered_sum);
	if (missing == 0 && dup == 0 && both == 0 && taken_back == 0 &&
	    (received + returned + undeliv_known != delivered + returned || sum_out != sum_sent))
		finding(f, loss_prop,
		        "counts do not balance: sent %" PRIu64 " = delivered %" PRIu64 " (sum %" PRIu64
		        ") + returned %" PRIu64 ", but received %" PRIu64 " + undelivered %" PRIu64
		        " (sum %" PRIu64 ")",
		        attempted, delivered, sum_sent, returned, received, undelivered, sum_out);

	if (r->len_violations)
		finding(f, P_Q8, "%s (%" PRIu64 " of %" PRIu64 " samples)", r->len_example,
		        r->len_violations, r->len_samples);

	t->attempted += attempted;
	t->delivered += delivered;
	t->returned += returned;
	t->received += received;
	t->undelivered += undelivered;
	t->sum_sent += sum_sent;
	t->sum_received += sum_recv;
	t->sum_undelivered += atomic_load(&r->undelivered_sum);
	t->len_samples += r->len_samples;
	if (r->len_max > t->len_max)
		t->len_max = r->len_max;
}

static bool run_round(const struct options *opt, enum check ck, unsigned number,
                      struct findings *f, struct check_totals *t)
{
	atomic_store(&watched_check, -1);
	struct round *r = &the_round;
	memset(r, 0, sizeof *r);
	r->opt = opt;
	r->check = ck;
	r->number = number;
	r->seed = opt->seed * 1000u + (uint64_t)ck * 100000000u + number;
	r->ending = (int)(number % 2);
	r->total = opt->msgs;
	r->mixed_ops = (ck == CK_CLOSE_RACE || ck == CK_CONSERVATION || ck == CK_TIMED) &&
	               (chan_impl_caps(opt->impl) & CHAN_CAP_TIMED);
	int P = opt->producers, C = opt->consumers;
	uint64_t b = 0;
	for (int p = 0; p < P; p++) {
		r->per_prod[p] = r->total / (uint64_t)P + ((uint64_t)p < r->total % (uint64_t)P);
		r->base[p] = b;
		b += r->per_prod[p];
	}
	struct driver_rng rng;
	driver_rng_seed(&rng, r->seed);
	r->close_after = driver_rng_below(&rng, 2 * r->total + 1);
	uint64_t residue = 0;
	if (ck == CK_LEN) {
		uint64_t most = opt->cap == CHAN_UNBOUNDED ? 1000 : opt->cap;
		if (most > r->total)
			most = r->total;
		residue = driver_rng_below(&rng, most + 1);
		r->quota = r->total - residue;
	}
	if (!round_alloc(r)) {
		fprintf(stderr, PROG ": out of memory for %" PRIu64 " messages\n", r->total);
		round_free(r);
		return false;
	}

	chan_config cfg = {.undelivered = undelivered_cb, .undelivered_ctx = r};
	chan_status st = chan_create(opt->impl, opt->cap, &cfg, &r->ch);
	if (st != CHAN_OK) {
		fprintf(stderr, PROG ": chan_create(%s) failed: %s\n", opt->impl, chan_status_str(st));
		round_free(r);
		return false;
	}

	bool helper = ck == CK_LEN || ck == CK_CLOSE_RACE || (ck == CK_CONSERVATION && r->ending == 1);
	r->nslots = P + C + (helper ? 1 : 0);
	for (int i = 0; i < P; i++)
		r->slots[i] = (struct slot){.role = 'P', .index = i};
	for (int i = 0; i < C; i++)
		r->slots[P + i] = (struct slot){.role = 'C', .index = i};
	if (helper)
		r->slots[r->nslots - 1] = (struct slot){.role = ck == CK_LEN ? 'S' : 'X', .index = 0};
	r->slots[r->nslots] = (struct slot){.role = 'M', .index = 0};
	atomic_store(&watched_round, r);
	atomic_store(&watched_check, (int)ck);

	if (ck == CK_LEN && (chan_impl_caps(opt->impl) & CHAN_CAP_LEN))
		len_fill_probe(r, f);
	if (ck == CK_CONSERVATION) {
		for (int i = 1; i < P; i++)
			chan_sender_clone(r->ch);
		if (r->ending == 0)
			for (int i = 1; i < C; i++)
				chan_receiver_clone(r->ch);
	}

	pthread_t prod[MAX_SIDE], cons[MAX_SIDE], extra;
	struct thread_arg pa[MAX_SIDE], ca[MAX_SIDE];
	int64_t t0 = now_ns();
	for (int c = 0; c < C; c++) {
		ca[c] = (struct thread_arg){r, c};
		pthread_create(&cons[c], NULL, consumer_main, &ca[c]);
	}
	for (int p = 0; p < P; p++) {
		pa[p] = (struct thread_arg){r, p};
		pthread_create(&prod[p], NULL, producer_main, &pa[p]);
	}
	if (ck == CK_LEN)
		pthread_create(&extra, NULL, sampler_main, r);
	else if (helper)
		pthread_create(&extra, NULL, closer_main, r);

	struct slot *ms = &r->slots[r->nslots];
	set_op(ms, OPC_WAIT);
	for (int p = 0; p < P; p++)
		pthread_join(prod[p], NULL);
	if (ck == CK_EXACTLY_ONCE || ck == CK_ORDER) {
		set_op(ms, OPC_CLOSE);
		st = chan_close(r->ch);
		set_op(ms, OPC_WAIT);
		if (st != CHAN_OK)
			finding(f, P_C1, "close after the producers were done returned %s",
			        chan_status_str(st));
	}
	for (int c = 0; c < C; c++)
		pthread_join(cons[c], NULL);
	if (ck == CK_LEN) {
		atomic_store(&r->stop_sampler, true);
		pthread_join(extra, NULL);
	} else if (helper) {
		pthread_join(extra, NULL);
	}
	int64_t t1 = now_ns();
	set_op(ms, OPC_TRY_RECV);

	if (ck == CK_LEN) {
		/* Quiescent: exactly `residue` messages are buffered. */
		size_t len = chan_len(r->ch);
		if (len != residue)
			finding(f, P_Q8, "quiescent len() is %zu with %" PRIu64 " messages buffered", len,
			        residue);
		for (uint64_t i = 0; i < residue; i++) {
			uintptr_t v;
			st = chan_try_recv(r->ch, &v);
			if (st != CHAN_OK) {
				finding(f, P_Q3, "try_recv %" PRIu64 " of the %" PRIu64 " buffered returned %s",
				        i + 1, residue, chan_status_str(st));
				break;
			}
			on_received(r, &r->cres[0], v);
			len = chan_len(r->ch);
			if (len != residue - i - 1)
				finding(f, P_Q8, "quiescent len() is %zu with %" PRIu64 " messages buffered",
				        len, residue - i - 1);
		}
		uintptr_t v;
		st = chan_try_recv(r->ch, &v);
		if (st != CHAN_EMPTY)
			finding(f, P_Q3, "try_recv on the drained channel returned %s, not empty",
			        chan_status_str(st));
		len = chan_len(r->ch);
		if (len != 0)
			finding(f, P_Q8, "quiescent len() is %zu on the drained channel", len);
	}
	if (ck == CK_TIMED)
		timed_no_trace_probe(r, f);
	if (ck == CK_CLOSE_RACE || ck == CK_CONSERVATION) {
		/* Closed by now (closer, last sender or last receiver gone): a send must
		 * fail and keep its value (C4). The probe's seq is out of range, so if
		 * it is taken anyway it also shows up as a value never sent. */
		st = chan_try_send(r->ch, encode(0, SEQ_MASK));
		if (st != CHAN_CLOSED)
			finding(f, P_C4, "try_send after close returned %s, not closed",
			        chan_status_str(st));
	}

	st = chan_destroy(r->ch);
	if (st != CHAN_OK)
		finding(f, P_C8, "chan_destroy returned %s", chan_status_str(st));
	atomic_store(&watched_check, -1);
	round_verify(r, f, t);
	t->elapsed += (double)(t1 - t0) / 1e9;
	t->rounds++;
	round_free(r);
	return true;
}

/* -------------------------------------------------------------------- main */

static uint64_t needed_caps(const struct options *opt, enum check ck)
{
	uint64_t need = CHAN_CAP_BLOCKING;
	if (opt->producers > 1 || opt->consumers > 1)
		need |= CHAN_CAP_MPMC;
	switch (ck) {
	case CK_EXACTLY_ONCE:
	case CK_ORDER:
	case CK_CLOSE_RACE:
	case CK_CONSERVATION: need |= CHAN_CAP_CLOSE; break;
	case CK_LEN: need |= CHAN_CAP_LEN; break;
	case CK_TIMED: need |= CHAN_CAP_TIMED; break;
	case N_CHECKS: break;
	}
	return need;
}

static void usage(FILE *out)
{
	fprintf(out,
	        "usage: " PROG " --impl NAME [--plugin PATH.so]... --cap N|unbounded\n"
	        "       [--producers P] [--consumers C] [--msgs M] [--rounds N] [--seconds S]\n"
	        "       [--seed X]\n"
	        "       [--check exactly-once|order|close-race|conservation|len|timed|all]...\n"
	        "       [--timeout S]\n"
	        "       " PROG " --impl NAME --cap N --deadline-op recv|send|select [--deadline-ms D]\n"
	        "       [--tries N] [--hold-ms H] [--pause-us P] [--producers F]\n"
	        "       " PROG " --impl NAME --cap unbounded --fill N\n"
	        "       " PROG " [--plugin PATH.so]... --list\n"
	        "\n"
	        "Invariant stress for one channel implementation (CONFORMANCE.md):\n"
	        "  exactly-once [Q3]  every value received exactly once (per-value tally)\n"
	        "  order        [Q2]  each consumer sees each producer's values in order\n"
	        "  close-race   [C9]  close racing with sends and receives loses nothing sent ok\n"
	        "  conservation [C8]  received + returned + undelivered == sent, each value once\n"
	        "  len          [Q8]  0 <= len <= cap under concurrency, exact when quiescent\n"
	        "  timed        [T4]  try/timed ops with tiny timeouts consume nothing when they fail\n"
	        "  --deadline-op [T1] N timed ops (D ms) on a busy channel: F feeders offer and\n"
	        "                     take back; reports each op's lateness past its deadline\n"
	        "  --fill N     [Q11] an unbounded channel with no receiver takes N messages\n"
	        "\n"
	        "  --impl NAME       registered implementation (default: the last --plugin)\n"
	        "  --plugin PATH     load a plug-in shared object first (repeatable)\n"
	        "  --cap N           0 (rendezvous), N >= 1 (bounded) or unbounded\n"
	        "  --producers P     producer threads (default 8, at most %d)\n"
	        "  --consumers C     consumer threads (default 8, at most %d)\n"
	        "  --msgs M          messages per round (default 100k; k and M suffixes)\n"
	        "  --rounds N        rounds per check, each on a new channel (default 1;\n"
	        "                    conservation runs at least 2, one per ending)\n"
	        "  --seconds S       repeat rounds until S seconds have passed, too\n"
	        "  --seed X          random seed (default 1)\n"
	        "  --check NAME      check to run (repeatable; default all)\n"
	        "  --timeout S       watchdog: report a hang after S seconds (default 60 + seconds)\n"
	        "  --list            print the registered implementations as JSON lines\n"
	        "\n"
	        "Prints one JSON summary line on stdout. Exit: 0 pass, 1 discrepancy, 2 usage,\n"
	        "3 hang, 77 n/a (a capability the check needs is not declared).\n",
	        MAX_SIDE, MAX_SIDE);
}

static void print_totals(const struct options *opt, enum check ck, const struct check_totals *t,
                         bool first)
{
	printf("%s{\"check\": \"%s\", \"prop\": \"%s\", \"status\": \"%s\", \"rounds\": %u, "
	       "\"sent\": %" PRIu64 ", \"delivered\": %" PRIu64 ", \"received\": %" PRIu64
	       ", \"returned\": %" PRIu64 ", \"undelivered\": %" PRIu64 ", \"sum_sent\": %" PRIu64
	       ", \"sum_received\": %" PRIu64 ", \"sum_undelivered\": %" PRIu64
	       ", \"len_samples\": %" PRIu64 ", \"len_max\": %" PRIu64 ", \"discrepancies\": %" PRIu64
	       ", \"notes\": %" PRIu64 ", \"elapsed_s\": %.3f, \"msgs_per_s\": %.0f}",
	       first ? "" : ", ", check_name[ck], check_prop[ck], t->discrepancies ? "fail" : "pass",
	       t->rounds, t->attempted, t->delivered, t->received, t->returned, t->undelivered,
	       t->sum_sent, t->sum_received, t->sum_undelivered, t->len_samples, t->len_max,
	       t->discrepancies, t->notes, t->elapsed,
	       t->elapsed > 0 ? (double)t->received / t->elapsed : 0.0);
	(void)opt;
}

/* ------------------------------------------------- T1 under traffic (--deadline-op) */

/*
 * --deadline-op recv|send|select [T1]: a timed operation on a channel that other
 * threads keep busy, so that its waiter is woken again and again and loses the
 * race each time (a deadline re-armed on every wake-up, or a waiter that never
 * re-checks the clock, shows here and nowhere on an idle channel).
 *
 *   Each of --producers "feeder" threads offers the timed waiter what it waits
 *   for and takes it back at once, then pauses (--pause-us, default 6 ms: with
 *   two feeders, some 20 wake-ups per 60 ms deadline, each a race the waiter
 *   must lose),
 *   over and over; the waiter runs on one CPU, the feeders on the others:
 *   recv / select (recv_until, or a select with a deadline on {recv the busy
 *     channel, recv an idle one}): try_send a value, then try_recv it back; on
 *     a rendezvous channel, a send whose deadline lapses after 2 us.
 *   send (send_until on a channel kept full): try_recv a value, then try_send
 *     one into the freed slot; on a rendezvous channel, a recv that lapses after
 *     2 us.
 *   The feeder is already running when the waiter is woken, so it nearly always
 *   takes the thing back first. (An implementation that hands a value straight
 *   to a waiting receiver lets the waiter win: it returns early with OK, which
 *   is fine; the test then shows only that it is not late.)
 *
 * The main thread runs --tries timed operations of --deadline-ms each. Traffic
 * runs while an operation is pending, up to its deadline + --hold-ms, then pauses
 * (so a waiter that re-arms its timeout on every wake-up returns about hold-ms
 * late instead of never). Before each such try, a calibration try on the same
 * channel with the traffic paused measures how late this machine wakes a timed
 * waiter right now (median_idle_late_ms), so that a loaded machine's delay is not
 * taken for the channel's. Each try's lateness (return - deadline; negative: it
 * returned early with a value) goes into the summary; pytest judges the median
 * (tests/test_timeout.py). The driver itself fails a TIMEOUT before the deadline
 * and a message lost or duplicated by the traffic (counts and checksums).
 */
enum dl_op { DL_NONE, DL_RECV, DL_SEND, DL_SELECT };
#define DL_MAX_TRIES 64

struct dl_run {
	chan_t *ch, *idle;
	size_t cap;
	long pause_us;                    /* a feeder's pause between two offers */
	bool pinned;                      /* waiter and feeders on different CPUs */
	cpu_set_t waiter_cpus, feeder_cpus;
	enum dl_op op;
	atomic_bool quit;
	_Atomic int64_t traffic_until; /* traffic runs while now < this */
	atomic_uint_fast64_t moved;    /* values moved by the traffic */
	atomic_uint_fast64_t sent, sent_sum, recvd, recvd_sum;
	struct slot slots[2 * MAX_SIDE + 1];
	int nslots;
};
static struct dl_run *watched_dl;

static void dl_pause_us(long us)
{
	struct timespec ts = {0, us * 1000};
	nanosleep(&ts, NULL);
}

static void dl_count(atomic_uint_fast64_t *n, atomic_uint_fast64_t *sum, uintptr_t v)
{
	atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(sum, (uint64_t)v, memory_order_relaxed);
}

/* A feeder: offers the timed waiter something and takes it back at once, over
 * and over, pausing --pause-us in between (see the comment above run_deadline).
 * Idle while the traffic window is shut. */
static void *dl_feeder(void *arg)
{
	struct thread_arg *ta = arg;
	struct dl_run *d = (struct dl_run *)(void *)ta->r;
	struct slot *s = &d->slots[ta->index];
	if (d->pinned)
		pthread_setaffinity_np(pthread_self(), sizeof d->feeder_cpus, &d->feeder_cpus);
	prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL); /* the 2 us lapses below stay short */
	bool rendezvous = d->cap == 0;
	uint64_t seq = 0;
	while (!atomic_load(&d->quit)) {
		if (now_ns() >= atomic_load(&d->traffic_until)) {
			set_op(s, OPC_IDLE);
			dl_pause_us(200);
			continue;
		}
		uintptr_t v;
		if (d->op != DL_SEND && rendezvous) {
			/* An offer that lapses after 2 us: it wakes the waiting receiver,
			 * and is withdrawn before that receiver gets to run. */
			v = encode(ta->index, seq);
			set_op(s, OPC_SEND_TIMED);
			if (chan_send_until(d->ch, v, chan_deadline_after(2000)) == CHAN_OK) {
				seq++;
				dl_count(&d->sent, &d->sent_sum, v);
			}
		} else if (d->op != DL_SEND) {
			/* A message in, and out again before the woken receiver runs. */
			v = encode(ta->index, seq);
			set_op(s, OPC_TRY_SEND);
			if (chan_try_send(d->ch, v) == CHAN_OK) {
				seq++;
				dl_count(&d->sent, &d->sent_sum, v);
			}
			set_op(s, OPC_TRY_RECV);
			if (chan_try_recv(d->ch, &v) == CHAN_OK)
				dl_count(&d->recvd, &d->recvd_sum, v);
		} else if (rendezvous) {
			/* A receiver that lapses after 2 us. */
			set_op(s, OPC_RECV_TIMED);
			if (chan_recv_until(d->ch, &v, chan_deadline_after(2000)) == CHAN_OK)
				dl_count(&d->recvd, &d->recvd_sum, v);
		} else {
			/* A slot freed, and filled again before the woken sender runs. */
			set_op(s, OPC_TRY_RECV);
			if (chan_try_recv(d->ch, &v) == CHAN_OK)
				dl_count(&d->recvd, &d->recvd_sum, v);
			v = encode(ta->index, seq);
			set_op(s, OPC_TRY_SEND);
			if (chan_try_send(d->ch, v) == CHAN_OK) {
				seq++;
				dl_count(&d->sent, &d->sent_sum, v);
			}
		}
		atomic_fetch_add_explicit(&d->moved, 1, memory_order_relaxed);
		count_done(s);
		set_op(s, OPC_IDLE);
		dl_pause_us(d->pause_us);
	}
	set_op(s, OPC_EXITED);
	return NULL;
}

static void dl_watchdog_report(FILE *out, void *ctx)
{
	(void)ctx;
	struct dl_run *d = watched_dl;
	if (d == NULL)
		return;
	fprintf(out, "hang: deadline-op run; what each thread was doing:\n");
	for (int i = 0; i < d->nslots; i++) {
		struct slot *s = &d->slots[i];
		int op = atomic_load_explicit(&s->op, memory_order_relaxed);
		fprintf(out, "hang:   %c%-3d in %-16s after %" PRIu64 " ops\n", s->role, s->index,
		        op >= 0 && op < N_OPCODES ? opcode_name[op] : "?",
		        (uint64_t)atomic_load_explicit(&s->done, memory_order_relaxed));
	}
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static int run_deadline(const struct options *opt, enum dl_op op, double deadline_ms, uint64_t tries,
                        double hold_ms, uint64_t pause_us)
{
	static const char *const op_name[] = {"", "recv", "send", "select"};
	uint64_t need = CHAN_CAP_TIMED | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING |
	                (op == DL_SELECT ? (uint64_t)CHAN_CAP_SELECT : 0);
	const char *missing = driver_missing_cap(opt->impl, opt->cap, need);
	if (missing != NULL)
		driver_exit_na(PROG, opt->impl, opt->cap, "deadline", missing);
	if (op == DL_SEND && opt->cap == CHAN_UNBOUNDED) {
		fprintf(stderr, PROG ": --deadline-op send: a send on an unbounded channel never waits\n");
		return DRIVER_EXIT_USAGE;
	}
	static struct dl_run d;
	memset(&d, 0, sizeof d);
	d.op = op;
	chan_status st = chan_create(opt->impl, opt->cap, NULL, &d.ch);
	if (st == CHAN_OK && op == DL_SELECT)
		st = chan_create(opt->impl, opt->cap, NULL, &d.idle);
	if (st != CHAN_OK) {
		fprintf(stderr, PROG ": chan_create(%s) failed: %s\n", opt->impl, chan_status_str(st));
		return DRIVER_EXIT_USAGE;
	}
	d.cap = opt->cap;
	d.pause_us = (long)pause_us;
	int F = opt->producers;
	d.nslots = F + 1;
	for (int i = 0; i < F; i++)
		d.slots[i] = (struct slot){.role = 'F', .index = i};
	d.slots[F] = (struct slot){.role = 'M', .index = 0};
	/* Send mode: the channel starts full; the feeders keep it so. */
	uint64_t mine_sent = 0, mine_sum = 0;
	if (op == DL_SEND)
		for (uint64_t i = 0; i < opt->cap; i++) {
			uintptr_t v = encode(F + 1, i);
			if (chan_try_send(d.ch, v) == CHAN_OK) {
				mine_sent++;
				mine_sum += (uint64_t)v;
			}
		}
	watched_dl = &d;
	static char what[256];
	char cb[32];
	snprintf(what, sizeof what, PROG " --impl %s --cap %s --deadline-op %s", opt->impl,
	         driver_cap_str(opt->cap, cb, sizeof cb), op_name[op]);
	watchdog_start(opt->timeout, what, dl_watchdog_report, NULL);

	/* The waiter on one CPU, the feeders on the others: a woken waiter then
	 * cannot preempt the feeder that is about to take the thing back (the
	 * scheduler favours a freshly woken thread on the CPU it wakes on). */
	cpu_set_t all, saved;
	if (sched_getaffinity(0, sizeof all, &all) == 0 && CPU_COUNT(&all) >= 2) {
		saved = all;
		CPU_ZERO(&d.waiter_cpus);
		d.feeder_cpus = all;
		for (int c = 0; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &all)) {
				CPU_SET(c, &d.waiter_cpus);
				CPU_CLR(c, &d.feeder_cpus);
				break;
			}
		d.pinned = pthread_setaffinity_np(pthread_self(), sizeof d.waiter_cpus, &d.waiter_cpus) == 0;
	}
	pthread_t th[2 * MAX_SIDE];
	struct thread_arg ta[2 * MAX_SIDE];
	for (int i = 0; i < F; i++) {
		ta[i] = (struct thread_arg){(struct round *)(void *)&d, i};
		pthread_create(&th[i], NULL, dl_feeder, &ta[i]);
	}
	struct slot *ms = &d.slots[F];
	int64_t late[DL_MAX_TRIES], moved_during[DL_MAX_TRIES];
	chan_status status[DL_MAX_TRIES];
	uint64_t discrepancies = 0, n_ok = 0, n_timeout = 0;
	int64_t wait_ns = (int64_t)(deadline_ms * 1e6), hold_ns = (int64_t)(hold_ms * 1e6);
	int64_t idle_late[DL_MAX_TRIES];
	for (uint64_t t = 0; t < 2 * tries; t++) {
		/* Even t: a calibration try on the same channel with the traffic
		 * paused (the machine's own wake-up delay right now); odd t: the try
		 * under traffic. The test judges the difference of their medians. */
		bool busy = t % 2 == 1;
		if (busy) {
			/* Let the traffic get going before the timed operation starts. */
			atomic_store(&d.traffic_until, now_ns() + wait_ns + hold_ns + 20000000);
			uint64_t m0 = atomic_load(&d.moved);
			for (int spin = 0; spin < 2000 && atomic_load(&d.moved) < m0 + 4; spin++)
				dl_pause_us(100);
		} else {
			atomic_store(&d.traffic_until, 0);
			dl_pause_us(d.pause_us + 2000); /* every feeder has seen the window shut */
		}
		chan_deadline dl = chan_deadline_after(wait_ns);
		if (busy)
			atomic_store(&d.traffic_until, (int64_t)dl + hold_ns);
		uint64_t before = atomic_load(&d.moved);
		uintptr_t v = 0;
		size_t k = SIZE_MAX;
		if (op == DL_RECV) {
			set_op(ms, OPC_RECV_TIMED);
			st = chan_recv_until(d.ch, &v, dl);
		} else if (op == DL_SEND) {
			v = encode(F, t);
			set_op(ms, OPC_SEND_TIMED);
			st = chan_send_until(d.ch, v, dl);
		} else {
			chan_case cs[2] = {{.ch = d.ch, .dir = CHAN_DIR_RECV}, {.ch = d.idle, .dir = CHAN_DIR_RECV}};
			set_op(ms, OPC_RECV_TIMED);
			st = chan_select(cs, 2, CHAN_SELECT_FAIR, dl, &k);
			if (st == CHAN_OK)
				v = cs[k].msg;
			if (st == CHAN_OK && k != 0) {
				fprintf(stderr, "discrepancy: [T1] select returned case %zu of the idle channel\n", k);
				discrepancies++;
			}
		}
		int64_t back = now_ns();
		set_op(ms, OPC_WAIT);
		if (busy) {
			late[t / 2] = back - (int64_t)dl;
			moved_during[t / 2] = (int64_t)(atomic_load(&d.moved) - before);
			status[t / 2] = st;
			n_ok += st == CHAN_OK;
			n_timeout += st == CHAN_TIMEOUT;
		} else {
			idle_late[t / 2] = back - (int64_t)dl;
		}
		if (st == CHAN_OK) {
			if (op == DL_SEND) {
				mine_sent++;
				mine_sum += (uint64_t)v;
			} else {
				atomic_fetch_add(&d.recvd, 1);
				atomic_fetch_add(&d.recvd_sum, (uint64_t)v);
			}
		} else if (st == CHAN_TIMEOUT) {
			if (back < (int64_t)dl) {
				fprintf(stderr, "discrepancy: [T1] try %" PRIu64 ": %s returned TIMEOUT %.3f ms before its deadline\n",
				        t, op_name[op], (double)((int64_t)dl - back) / 1e6);
				discrepancies++;
			}
		} else {
			fprintf(stderr, "discrepancy: [T1] try %" PRIu64 ": timed %s returned %s\n", t, op_name[op],
			        chan_status_str(st));
			discrepancies++;
		}
	}
	atomic_store(&d.quit, true);
	for (int i = 0; i < F; i++)
		pthread_join(th[i], NULL);
	if (d.pinned)
		pthread_setaffinity_np(pthread_self(), sizeof saved, &saved);
	/* The books: everything sent was received by the traffic, the timed
	 * operation, or is still buffered. */
	uintptr_t v;
	uint64_t left = 0, left_sum = 0;
	while (chan_try_recv(d.ch, &v) == CHAN_OK) {
		left++;
		left_sum += (uint64_t)v;
	}
	uint64_t sent = atomic_load(&d.sent) + mine_sent, sent_sum = atomic_load(&d.sent_sum) + mine_sum;
	uint64_t recvd = atomic_load(&d.recvd) + left, recvd_sum = atomic_load(&d.recvd_sum) + left_sum;
	if (sent != recvd || sent_sum != recvd_sum) {
		fprintf(stderr, "discrepancy: [Q3] traffic: sent %" PRIu64 " (sum %" PRIu64 "), received %" PRIu64
		        " (sum %" PRIu64 ")\n", sent, sent_sum, recvd, recvd_sum);
		discrepancies++;
	}
	watchdog_stop();
	chan_destroy(d.ch);
	if (d.idle != NULL)
		chan_destroy(d.idle);

	int64_t sorted[DL_MAX_TRIES], idle_sorted[DL_MAX_TRIES];
	memcpy(sorted, late, tries * sizeof *late);
	qsort(sorted, tries, sizeof *sorted, cmp_i64);
	memcpy(idle_sorted, idle_late, tries * sizeof *idle_late);
	qsort(idle_sorted, tries, sizeof *idle_sorted, cmp_i64);
	printf("{\"driver\": \"" PROG "\", \"impl\": ");
	driver_json_str(stdout, opt->impl);
	printf(", \"cap\": \"%s\", \"mode\": \"deadline\", \"prop\": \"T1\", \"op\": \"%s\", \"deadline_ms\": %g, "
	       "\"hold_ms\": %g, \"pause_us\": %ld, \"feeders\": %d, \"pinned\": %s, \"tries\": %" PRIu64 ", \"ok_count\": %" PRIu64
	       ", \"timeout_count\": %" PRIu64 ", \"median_late_ms\": %.3f, \"max_late_ms\": %.3f, \"median_idle_late_ms\": %.3f, "
	       "\"traffic_msgs\": %" PRIu64 ", \"discrepancies\": %" PRIu64 ", \"ok\": %s, \"late_ms\": [",
	       driver_cap_str(opt->cap, cb, sizeof cb), op_name[op], deadline_ms, hold_ms, d.pause_us, F,
	       d.pinned ? "true" : "false", tries, n_ok,
	       n_timeout, (double)sorted[tries / 2] / 1e6, (double)sorted[tries - 1] / 1e6,
	       (double)idle_sorted[tries / 2] / 1e6, sent,
	       discrepancies, discrepancies ? "false" : "true");
	for (uint64_t t = 0; t < tries; t++)
		printf("%s%.3f", t ? ", " : "", (double)late[t] / 1e6);
	printf("], \"idle_late_ms\": [");
	for (uint64_t t = 0; t < tries; t++)
		printf("%s%.3f", t ? ", " : "", (double)idle_late[t] / 1e6);
	printf("], \"status\": [");
	for (uint64_t t = 0; t < tries; t++)
		printf("%s\"%s\"", t ? ", " : "", chan_status_str(status[t]));
	printf("], \"moved_during\": [");
	for (uint64_t t = 0; t < tries; t++)
		printf("%s%" PRId64, t ? ", " : "", moved_during[t]);
	printf("]}\n");
	fflush(stdout);
	return discrepancies ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}

/* ------------------------------------------------------ Q11 at scale (--fill N) */

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	if (f == NULL)
		return -1;
	char line[256];
	long v = -1;
	while (fgets(line, sizeof line, f) != NULL)
		if (strncmp(line, "VmRSS:", 6) == 0) {
			v = strtol(line + 6, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/*
 * --fill N [Q11]: an unbounded channel with no receiver takes N messages, every
 * try_send OK (never FULL, never blocking), len() == N if declared; then N
 * try_recv give them back in order and the channel is empty.
 */
static int run_fill(const struct options *opt, uint64_t n)
{
	if (opt->cap != CHAN_UNBOUNDED) {
		fprintf(stderr, PROG ": --fill needs --cap unbounded\n");
		return DRIVER_EXIT_USAGE;
	}
	const char *missing = driver_missing_cap(opt->impl, opt->cap, CHAN_CAP_UNBOUNDED);
	if (missing != NULL)
		driver_exit_na(PROG, opt->impl, opt->cap, "fill", missing);
	watchdog_start(opt->timeout, PROG " --fill", NULL, NULL);
	chan_t *ch;
	chan_status st = chan_create(opt->impl, CHAN_UNBOUNDED, NULL, &ch);
	if (st != CHAN_OK) {
		fprintf(stderr, PROG ": chan_create(%s) failed: %s\n", opt->impl, chan_status_str(st));
		return DRIVER_EXIT_USAGE;
	}
	uint64_t discrepancies = 0, accepted = 0, got = 0;
	long rss0 = rss_kib();
	int64_t t0 = now_ns();
	for (; accepted < n; accepted++) {
		st = chan_try_send(ch, encode(0, accepted));
		if (st != CHAN_OK) {
			fprintf(stderr, "discrepancy: [Q11] try_send #%" PRIu64 " on an unbounded channel with no "
			        "receiver returned %s (it took %" PRIu64 " messages, then stopped)\n",
			        accepted, chan_status_str(st), accepted);
			discrepancies++;
			break;
		}
	}
	int64_t t1 = now_ns();
	long rss1 = rss_kib();
	size_t len = (chan_impl_caps(opt->impl) & CHAN_CAP_LEN) ? chan_len(ch) : accepted;
	if (len != accepted) {
		fprintf(stderr, "discrepancy: [Q8] len() is %zu with %" PRIu64 " messages buffered\n", len, accepted);
		discrepancies++;
	}
	for (uintptr_t v; chan_try_recv(ch, &v) == CHAN_OK; got++) {
		if (v != encode(0, got)) {
			fprintf(stderr, "discrepancy: [Q1] message %" PRIu64 " came back as 0x%" PRIxPTR "\n", got, v);
			discrepancies++;
			break;
		}
	}
	if (discrepancies == 0 && got != accepted) {
		fprintf(stderr, "discrepancy: [Q11] %" PRIu64 " messages went in, %" PRIu64 " came out\n", accepted, got);
		discrepancies++;
	}
	chan_destroy(ch);
	watchdog_stop();
	double per_msg = rss0 >= 0 && rss1 >= rss0 && accepted ? (double)(rss1 - rss0) * 1024.0 / (double)accepted : 0;
	char cb[32];
	printf("{\"driver\": \"" PROG "\", \"impl\": ");
	driver_json_str(stdout, opt->impl);
	printf(", \"cap\": \"%s\", \"mode\": \"fill\", \"prop\": \"Q11\", \"target\": %" PRIu64 ", \"accepted\": %" PRIu64
	       ", \"drained\": %" PRIu64 ", \"fill_s\": %.3f, \"rss_growth_kib\": %ld, \"bytes_per_msg\": %.1f, "
	       "\"discrepancies\": %" PRIu64 ", \"ok\": %s}\n",
	       driver_cap_str(opt->cap, cb, sizeof cb), n, accepted, got, (double)(t1 - t0) / 1e9,
	       rss1 >= 0 && rss0 >= 0 ? rss1 - rss0 : 0L, per_msg, discrepancies, discrepancies ? "false" : "true");
	fflush(stdout);
	return discrepancies ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct options opt = {.producers = 8, .consumers = 8, .msgs = 100000, .rounds = 1, .seed = 1};
	bool cap_given = false, any_check = false;
	double timeout = -1;
	enum dl_op dl_op = DL_NONE;
	double deadline_ms = 60, hold_ms = 1000;
	uint64_t tries = 7, fill = 0, pause_us = 6000;

	struct driver_cli cli = {.prog = PROG, .usage = usage, .argc = argc, .argv = argv,
	                         .show_registered = true};
	for (const char *a; (a = driver_cli_next(&cli)) != NULL;) {
		const char *val = cli.val;
		bool ok = true;
		uint64_t u;
		if (strcmp(a, "--cap") == 0) {
			ok = driver_parse_cap(val, &opt.cap);
			cap_given = true;
		} else if (strcmp(a, "--producers") == 0) {
			ok = driver_parse_u64(val, &u) && u >= 1 && u <= MAX_SIDE;
			opt.producers = (int)u;
		} else if (strcmp(a, "--consumers") == 0) {
			ok = driver_parse_u64(val, &u) && u >= 1 && u <= MAX_SIDE;
			opt.consumers = (int)u;
		} else if (strcmp(a, "--msgs") == 0) {
			ok = driver_parse_u64(val, &opt.msgs) && opt.msgs >= 1 && opt.msgs <= MAX_MSGS;
		} else if (strcmp(a, "--seconds") == 0) {
			ok = driver_parse_double(val, &opt.seconds);
		} else if (strcmp(a, "--rounds") == 0) {
			ok = driver_parse_u64(val, &opt.rounds) && opt.rounds >= 1 && opt.rounds <= 1000000;
		} else if (strcmp(a, "--seed") == 0) {
			ok = driver_parse_u64(val, &opt.seed);
		} else if (strcmp(a, "--timeout") == 0) {
			ok = driver_parse_double(val, &timeout) && timeout > 0;
		} else if (strcmp(a, "--deadline-op") == 0) {
			dl_op = strcmp(val, "recv") == 0     ? DL_RECV
			        : strcmp(val, "send") == 0   ? DL_SEND
			        : strcmp(val, "select") == 0 ? DL_SELECT
			                                     : DL_NONE;
			ok = dl_op != DL_NONE;
		} else if (strcmp(a, "--deadline-ms") == 0) {
			ok = driver_parse_double(val, &deadline_ms) && deadline_ms > 0 && deadline_ms <= 10000;
		} else if (strcmp(a, "--hold-ms") == 0) {
			ok = driver_parse_double(val, &hold_ms) && hold_ms >= 0 && hold_ms <= 60000;
		} else if (strcmp(a, "--pause-us") == 0) {
			ok = driver_parse_u64(val, &pause_us) && pause_us <= 1000000;
		} else if (strcmp(a, "--tries") == 0) {
			ok = driver_parse_u64(val, &tries) && tries >= 1 && tries <= DL_MAX_TRIES;
		} else if (strcmp(a, "--fill") == 0) {
			ok = driver_parse_u64(val, &fill) && fill >= 1 && fill <= (UINT64_C(1) << 32);
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
	if (dl_op != DL_NONE)
		return run_deadline(&opt, dl_op, deadline_ms, tries, hold_ms, pause_us);
	if (fill > 0)
		return run_fill(&opt, fill);

	/* A single check that the implementation cannot do is n/a; in a set of
	 * several, such checks are skipped and listed. */
	int nchecks = 0, last = 0;
	for (int k = 0; k < N_CHECKS; k++)
		if (opt.checks[k]) {
			nchecks++;
			last = k;
		}
	if (nchecks == 1) {
		const char *missing = driver_missing_cap(opt.impl, opt.cap, needed_caps(&opt, last));
		if (missing != NULL)
			driver_exit_na(PROG, opt.impl, opt.cap, check_name[last], missing);
	}

	static char what[256];
	char cb[32];
	snprintf(what, sizeof what, PROG " --impl %s --cap %s", opt.impl,
	         driver_cap_str(opt.cap, cb, sizeof cb));
	watchdog_start(opt.timeout, what, watchdog_report, NULL);

	int64_t start = now_ns();
	struct check_totals totals[N_CHECKS] = {{0}};
	bool skipped[N_CHECKS] = {false};
	uint64_t discrepancies = 0;
	bool setup_failed = false;
	for (int k = 0; k < N_CHECKS && !setup_failed; k++) {
		if (!opt.checks[k])
			continue;
		if (driver_missing_cap(opt.impl, opt.cap, needed_caps(&opt, k)) != NULL) {
			skipped[k] = true;
			continue;
		}
		struct findings f = {.opt = &opt, .check = (enum check)k};
		int64_t ck_start = now_ns();
		unsigned n = 0;
		do {
			f.round = n;
			if (!run_round(&opt, (enum check)k, n, &f, &totals[k])) {
				setup_failed = true;
				break;
			}
			n++;
		} while (n < opt.rounds || (k == CK_CONSERVATION && n < 2) ||
		         (double)(now_ns() - ck_start) / 1e9 < opt.seconds);
		findings_flush(&f);
		totals[k].discrepancies = f.discrepancies;
		totals[k].notes = f.notes;
		discrepancies += f.discrepancies;
	}
	watchdog_stop();
	double elapsed = (double)(now_ns() - start) / 1e9;

	printf("{\"driver\": \"" PROG "\", \"impl\": ");
	driver_json_str(stdout, opt.impl);
	printf(", \"cap\": \"%s\", \"producers\": %d, \"consumers\": %d, \"msgs\": %" PRIu64
	       ", \"rounds\": %" PRIu64 ", \"seconds\": %.3f, \"seed\": %" PRIu64 ", \"status\": \"%s\", \"ok\": %s, "
	       "\"discrepancies\": %" PRIu64 ", \"elapsed_s\": %.3f, \"skipped_na\": [",
	       driver_cap_str(opt.cap, cb, sizeof cb), opt.producers, opt.consumers, opt.msgs,
	       opt.rounds, opt.seconds, opt.seed,
	       setup_failed ? "error" : discrepancies ? "fail" : "pass",
	       setup_failed || discrepancies ? "false" : "true", discrepancies, elapsed);
	bool first = true;
	for (int k = 0; k < N_CHECKS; k++)
		if (skipped[k]) {
			printf("%s\"%s\"", first ? "" : ", ", check_name[k]);
			first = false;
		}
	printf("], \"results\": [");
	first = true;
	for (int k = 0; k < N_CHECKS; k++)
		if (opt.checks[k] && !skipped[k] && totals[k].rounds > 0) {
			print_totals(&opt, (enum check)k, &totals[k], first);
			first = false;
		}
	printf("]}\n");
	fflush(stdout);
	if (setup_failed)
		return DRIVER_EXIT_USAGE;
	return discrepancies ? DRIVER_EXIT_DISCREPANCY : DRIVER_EXIT_OK;
}
