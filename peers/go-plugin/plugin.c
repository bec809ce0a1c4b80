/*
 * go-chan-cgo: the C side of the Go channel plug-in (chan.go has the Go side
 * and the design: handles, close emulation, costs). This file holds the ops
 * table and chanbench_plugin_entry, converts deadlines (a finite one becomes
 * the nanoseconds left, so Go needs no CLOCK_MONOTONIC), and measures the cgo
 * crossing once, when the plug-in is loaded: the time of a call of goNull (an
 * exported Go function that does nothing) from this C thread, through the same
 * path every operation takes. The figure goes into the description, and
 * chanbench_go_cgo_null_ns() returns it (peers/go-plugin/cgo_cost.c reports it
 * for the report).
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "_cgo_export.h"
#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

const struct chan_ops *chanbench_plugin_entry(void);
double chanbench_go_cgo_null_ns(void);

struct go_chan {
	struct chan_base base;
	uintptr_t id; /* index into chan.go's table */
};

static chan_status go_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct go_chan *c = malloc(sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	c->id = goChanCreate(cap);
	*out = &c->base;
	return CHAN_OK;
}

static void go_destroy(struct chan_base *b)
{
	struct go_chan *c = (struct go_chan *)b;
	goChanDestroy(c->id);
	free(c);
}

static int64_t left_ns(chan_deadline dl)
{
	if (dl == CHAN_NOWAIT || dl == CHAN_FOREVER)
		return 0;
	return dl - chan_deadline_now_ns();
}

static chan_status go_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	return (chan_status)goChanSend(((struct go_chan *)b)->id, msg, dl == CHAN_NOWAIT,
	                               dl == CHAN_FOREVER, left_ns(dl));
}

static chan_status go_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	return (chan_status)goChanRecv(((struct go_chan *)b)->id, msg, dl == CHAN_NOWAIT,
	                               dl == CHAN_FOREVER, left_ns(dl));
}

static chan_status go_close(struct chan_base *b)
{
	return (chan_status)goChanClose(((struct go_chan *)b)->id);
}

static size_t go_len(struct chan_base *b)
{
	return goChanLen(((struct go_chan *)b)->id);
}

static char description[512];

static const struct chan_ops go_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "go-chan-cgo",
	.description = description,
	.caps = CHAN_CAP_BOUNDED | CHAN_CAP_RENDEZVOUS | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING |
	        CHAN_CAP_TIMED | CHAN_CAP_CLOSE | CHAN_CAP_LEN,
	.create = go_create,
	.destroy = go_destroy,
	.send = go_send,
	.recv = go_recv,
	.close = go_close,
	.len = go_len,
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double null_ns = -1;

/* The median over 15 rounds of 2000 calls of the per-call time of goNull. */
static double measure_null_call(void)
{
	enum { ROUNDS = 15, CALLS = 2000 };
	double per_call[ROUNDS];
	for (int i = 0; i < 200; i++)
		goNull(); /* warm-up */
	for (int r = 0; r < ROUNDS; r++) {
		int64_t t0 = chan_deadline_now_ns();
		for (int i = 0; i < CALLS; i++)
			goNull();
		per_call[r] = (double)(chan_deadline_now_ns() - t0) / CALLS;
	}
	qsort(per_call, ROUNDS, sizeof per_call[0], cmp_double);
	return per_call[ROUNDS / 2];
}

double chanbench_go_cgo_null_ns(void)
{
	if (null_ns < 0)
		null_ns = measure_null_call();
	return null_ns;
}

const struct chan_ops *chanbench_plugin_entry(void)
{
	if (description[0] == '\0')
		snprintf(description, sizeof description,
		         "Go 1.19 make(chan uint64, n) called through cgo (-buildmode=c-shared); every call crosses "
		         "cgo: a null call C->Go costs %.0f ns here (measured at load); close = in-flight gate + a "
		         "done channel, then close(ch); n/a: unbounded (Go has none), select, poll fds, batches",
		         chanbench_go_cgo_null_ns());
	return &go_ops;
}
