/*
 * Messages as the scenarios send them, and how they check what arrived.
 *
 * A message is one word. Scenarios that count and order messages encode
 * (producer, sequence number): the producer index + 1 in the top 16 bits and a
 * sequence number starting at 1 in the low 48, so 0 is never a valid message.
 * Receivers add msg_mix(m) of every message to a wrapping 64-bit sum; with the
 * count, that detects a lost, duplicated or corrupted message with overwhelming
 * probability. The expected sum is computed before the clock starts.
 *
 * The first discrepancy a thread sees is latched in a struct fault (threads
 * race to report; one message is kept).
 *
 * send_msg / recv_msg block (chan_send / chan_recv), or, for a non-blocking
 * reference (spin), loop on try operations: pause while spinning, sched_yield
 * after a while.
 */
#ifndef CHANBENCH_SCENARIO_MESSAGE_H
#define CHANBENCH_SCENARIO_MESSAGE_H

#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "chanbench/chan.h"

#define MSG_SEQ_BITS 48
#define MSG_SEQ_MASK ((UINT64_C(1) << MSG_SEQ_BITS) - 1)

static inline uintptr_t msg_encode(int producer, uint64_t seq)
{
	return (uintptr_t)(((uint64_t)(producer + 1) << MSG_SEQ_BITS) | (seq & MSG_SEQ_MASK));
}

/* Producer index, or -1 for a word that no producer sent. */
static inline int msg_producer(uintptr_t m)
{
	return (int)((uint64_t)m >> MSG_SEQ_BITS) - 1;
}

static inline uint64_t msg_seq(uintptr_t m)
{
	return (uint64_t)m & MSG_SEQ_MASK;
}

/* A 64-bit finaliser (the splitmix64 one): a bijection that spreads every bit. */
static inline uint64_t msg_mix(uint64_t x)
{
	x ^= x >> 30;
	x *= UINT64_C(0xbf58476d1ce4e5b9);
	x ^= x >> 27;
	x *= UINT64_C(0x94d049bb133111eb);
	x ^= x >> 31;
	return x;
}

/* The sum of msg_mix over every message producers 0..n-1 send, seq 1..per. */
static inline uint64_t msg_expected_sum(int producers, uint64_t per)
{
	uint64_t sum = 0;
	for (int p = 0; p < producers; p++)
		for (uint64_t s = 1; s <= per; s++)
			sum += msg_mix(msg_encode(p, s));
	return sum;
}

/* What a consumer received: count, checksum, and per-producer order. */
struct msg_tally {
	uint64_t count, sum, out_of_order, skipped, invalid;
};

/* Account one received message m. last[] is this consumer's last sequence number
 * per producer; single: it is the only consumer, so each producer's sequence must
 * also have no gap. Returns the producer's index, or -1 for a message no producer
 * of this run sent (counted as invalid). */
static inline int msg_tally_add(struct msg_tally *t, uint64_t *last, uintptr_t m, int producers,
                                uint64_t per_producer, bool single)
{
	t->count++;
	t->sum += msg_mix(m);
	int pi = msg_producer(m);
	uint64_t s = msg_seq(m);
	if (pi < 0 || pi >= producers || s == 0 || s > per_producer) {
		t->invalid++;
		return -1;
	}
	if (s <= last[pi])
		t->out_of_order++;
	else if (single && s != last[pi] + 1)
		t->skipped++;
	last[pi] = s;
	return pi;
}

static inline void msg_tally_merge(struct msg_tally *into, const struct msg_tally *t)
{
	into->count += t->count;
	into->sum += t->sum;
	into->out_of_order += t->out_of_order;
	into->skipped += t->skipped;
	into->invalid += t->invalid;
}

/* An undelivered-message callback that counts (ctx: an atomic_ullong). */
static inline void msg_count_undelivered(uintptr_t msg, void *ctx)
{
	(void)msg;
	atomic_fetch_add((atomic_ullong *)ctx, 1);
}

struct fault {
	atomic_bool set;
	char msg[256];
};

static inline void fault_report(struct fault *f, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static inline void fault_report(struct fault *f, const char *fmt, ...)
{
	if (atomic_exchange(&f->set, true))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(f->msg, sizeof f->msg, fmt, ap);
	va_end(ap);
}

/* The message, or NULL if nothing was reported. Call after joining the threads. */
static inline const char *fault_message(struct fault *f)
{
	return atomic_load(&f->set) ? f->msg : NULL;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

#define SPIN_BEFORE_YIELD 256

static inline chan_status send_msg(chan_t *ch, uintptr_t m, bool spin)
{
	if (!spin)
		return chan_send(ch, m);
	for (unsigned i = 0;; i++) {
		chan_status st = chan_try_send(ch, m);
		if (st != CHAN_FULL)
			return st;
		if (i < SPIN_BEFORE_YIELD)
			cpu_relax();
		else
			sched_yield();
	}
}

static inline chan_status recv_msg(chan_t *ch, uintptr_t *m, bool spin)
{
	if (!spin)
		return chan_recv(ch, m);
	for (unsigned i = 0;; i++) {
		chan_status st = chan_try_recv(ch, m);
		if (st != CHAN_EMPTY)
			return st;
		if (i < SPIN_BEFORE_YIELD)
			cpu_relax();
		else
			sched_yield();
	}
}

#endif
