/*
 * backpressure: a producer faster than its consumer. The consumer works at a
 * fixed rate (message k is finished no earlier than start + k * work_ns, busy
 * waiting in between); the producer allocates a payload buffer per message
 * (malloc, payload bytes, written), sends a pointer to it, and never waits on
 * anything but the channel. A bounded channel stalls the producer; an
 * unbounded one lets the backlog, and the memory it holds, grow.
 *
 * Reported: the producer's stall time (time inside send), the queue depth over
 * time as a series ("queued": accepted by the channel and not yet received;
 * "len": chan_len when the implementation declares it), its peak, and the
 * peak resident memory of the run above what was resident when it started
 * (the kernel's high-water mark is reset first: /proc/self/clear_refs).
 *
 * Checked: every message arrives, in order, with its payload intact (the
 * consumer reads the whole buffer back, then frees it).
 */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "chanbench/chan_impl.h"
#include "measure.h"
#include "message.h"
#include "scenario.h"
#include "team.h"

#define SAMPLE_EVERY_NS 1000000 /* a depth sample per millisecond */

struct bp_msg {
	uint64_t seq;
	uint64_t words[]; /* payload: seq * (i + 1) */
};

struct bp_run {
	const struct scenario_params *p;
	chan_t *ch;
	struct team team;
	struct fault fault;
	size_t words;
	/* producer's line */
	_Alignas(64) _Atomic uint64_t sent;
	int64_t stall_ns;
	/* consumer's line */
	_Alignas(64) uint64_t received, sum, peak_queued;
	int64_t t0;
	struct scenario_series *queued, *len;
	bool has_len;
};

static void *bp_produce(void *arg)
{
	struct bp_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	size_t bytes = sizeof(struct bp_msg) + run->words * sizeof(uint64_t);
	for (uint64_t s = 1; s <= run->p->msgs; s++) {
		struct bp_msg *m = malloc(bytes);
		if (m == NULL) {
			fault_report(&run->fault, "discrepancy: producer: out of memory at message %llu",
			             (unsigned long long)s);
			break;
		}
		m->seq = s;
		for (size_t i = 0; i < run->words; i++)
			m->words[i] = s * (i + 1);
		int64_t t = measure_now_ns();
		chan_status st = send_msg(run->ch, (uintptr_t)m, spin);
		run->stall_ns += measure_now_ns() - t;
		if (st != CHAN_OK) {
			free(m);
			fault_report(&run->fault, "discrepancy: producer: send of message %llu failed: %s",
			             (unsigned long long)s, chan_status_str(st));
			break;
		}
		atomic_store_explicit(&run->sent, s, memory_order_relaxed);
	}
	chan_sender_drop(run->ch);
	return NULL;
}

static void *bp_consume(void *arg)
{
	struct bp_run *run = arg;
	if (!team_ready(&run->team))
		return NULL;
	bool spin = run->p->spin;
	int64_t period = run->p->work_ns;
	int64_t start = measure_now_ns(), next_sample = start;
	uintptr_t v;
	chan_status st;
	while ((st = recv_msg(run->ch, &v, spin)) == CHAN_OK) {
		struct bp_msg *m = (struct bp_msg *)v;
		uint64_t expect = run->received + 1;
		bool intact = m != NULL && m->seq == expect;
		for (size_t i = 0; intact && i < run->words; i++)
			intact = m->words[i] == expect * (i + 1);
		if (!intact) {
			fault_report(&run->fault, "discrepancy: consumer: message %llu missing or corrupted",
			             (unsigned long long)expect);
			break;
		}
		run->sum += msg_mix(m->seq);
		free(m);
		run->received++;
		/* fixed rate: message k is done no earlier than start + k * period */
		int64_t due = start + (int64_t)run->received * period, now;
		while ((now = measure_now_ns()) < due)
			cpu_relax();
		if (now >= next_sample) {
			uint64_t sent = atomic_load_explicit(&run->sent, memory_order_relaxed);
			uint64_t q = sent > run->received ? sent - run->received : 0;
			if (q > run->peak_queued)
				run->peak_queued = q;
			double t_ms = (double)(now - run->t0) / 1e6;
			series_add(run->queued, t_ms, (double)q);
			if (run->has_len)
				series_add(run->len, t_ms, (double)chan_len(run->ch));
			next_sample = now + SAMPLE_EVERY_NS;
		}
	}
	if (st != CHAN_OK && st != CHAN_CLOSED)
		fault_report(&run->fault, "discrepancy: consumer: recv failed: %s", chan_status_str(st));
	chan_receiver_drop(run->ch);
	return NULL;
}

static void free_undelivered(uintptr_t msg, void *ctx)
{
	(void)ctx;
	free((void *)msg);
}

static bool bp_run(const struct scenario_params *p, struct scenario_result *r)
{
	struct bp_run *run = aligned_alloc(64, sizeof *run);
	if (run == NULL) {
		result_fail(r, "setup: out of memory");
		return false;
	}
	memset(run, 0, sizeof *run);
	run->p = p;
	run->words = p->payload / sizeof(uint64_t);
	run->has_len = (chan_impl_caps(p->impl) & CHAN_CAP_LEN) != 0;
	run->queued = result_series(r, "queued");
	run->len = run->has_len ? result_series(r, "len") : NULL;
	chan_config cfg = {.undelivered = free_undelivered};
	if (!result_chan_create(r, p->impl, p->capacity, &cfg, &run->ch)) {
		free(run);
		return false;
	}
	uint64_t expected = 0;
	for (uint64_t s = 1; s <= p->msgs; s++)
		expected += msg_mix(s);
	team_init(&run->team, p->cores);
	if (!team_start(&run->team, bp_consume, run, r) || !team_start(&run->team, bp_produce, run, r)) {
		team_abort(&run->team);
		team_destroy(&run->team);
		chan_destroy(run->ch);
		free(run);
		return false;
	}
	malloc_trim(0); /* give back what earlier runs freed, so the peak is this run's */
	long rss0 = peak_mem_reset();
	struct measure m;
	run->t0 = measure_now_ns();
	team_go(&run->team, &m);
	if (!team_finish(&run->team, &m, r, p->timeout_ns, &run->ch, 1))
		return false;
	long hwm = peak_mem_kib();
	const char *fault = fault_message(&run->fault);
	if (fault != NULL)
		result_fail(r, "%s", fault);
	if (run->received != p->msgs || run->sum != expected)
		result_fail(r, "discrepancy: received %llu of %llu messages, checksum %s",
		            (unsigned long long)run->received, (unsigned long long)p->msgs,
		            run->sum == expected ? "ok" : "wrong");
	r->msgs = run->received;
	r->checksum = run->sum;
	if (r->ok) {
		result_counter(r, "stall_ns", (double)run->stall_ns);
		result_counter(r, "stall_frac", r->wall_ns > 0 ? (double)run->stall_ns / (double)r->wall_ns : 0);
		result_counter(r, "peak_queued", (double)run->peak_queued);
		double peak_kib = rss0 >= 0 && hwm >= rss0 ? (double)(hwm - rss0) : 0;
		result_counter(r, "peak_rss_kib", peak_kib);
		if (p->capacity == CHAN_UNBOUNDED && run->peak_queued > 0) {
			/* Memory per message held: the peak above the start over the
			 * peak backlog; less the producer's own allocation (header and
			 * payload, rounded to malloc's 16-byte chunks plus its 8-byte
			 * header), what the channel costs per queued message. */
			double per = peak_kib * 1024.0 / (double)run->peak_queued;
			double own = (double)((sizeof(struct bp_msg) + p->payload + 8 + 15) / 16 * 16);
			result_counter(r, "bytes_per_queued", per);
			result_counter(r, "chan_bytes_per_queued", per > own ? per - own : 0);
		}
		result_counter(r, "consumer_ns", (double)p->work_ns);
		result_counter(r, "payload", (double)p->payload);
	}
	chan_destroy(run->ch);
	team_destroy(&run->team);
	free(run);
	return r->ok;
}

#define BP(capname, cap, n)                                                                       \
	{"cap:" capname,                                                                          \
	 {.capacity = (cap), .producers = 1, .consumers = 1, .msgs = (n), .payload = 256,         \
	  .work_ns = 2000},                                                                       \
	 1}

static const struct scenario_case cases[] = {
	BP("64", 64, 100000),
	BP("1024", 1024, 100000),
	BP("unbounded", CHAN_UNBOUNDED, 100000),
};

const struct scenario scenario_backpressure = {
	.name = "backpressure",
	.description = "fast producer, consumer at a fixed 2 us per message, 256-byte payloads: producer stall, queue depth over time, peak memory",
	.counters_doc = "stall_ns, stall_frac: producer time inside send (total, fraction of the run); "
	                "peak_queued: largest backlog sampled; peak_rss_kib: peak resident memory above "
	                "the run's start; bytes_per_queued (unbounded): peak_rss over peak_queued, memory "
	                "per message held; chan_bytes_per_queued: the same less the producer's own "
	                "allocation (the channel's share); consumer_ns: the consumer's period; "
	                "payload: bytes per message. "
	                "Series: queued (and len) per millisecond",
	.run = bp_run,
	.needs = CHAN_CAP_CLOSE,
	.spin_ok = true,
	.cases = cases,
	.n_cases = sizeof cases / sizeof cases[0],
};
