/*
 * urcu-wfcq: liburcu's wait-free concurrent queue (urcu/wfcqueue.h) as a
 * chanbench plug-in: a REFERENCE (a "limit"), not a channel.
 *
 * wfcqueue is an unbounded linked queue: enqueue is wait-free for any number
 * of producers (one exchange on the tail, then a link); dequeue takes the
 * queue's dequeue mutex (cds_wfcq_dequeue_blocking: "blocking" means the
 * mutex and a short busy-wait on an enqueue caught between its exchange and
 * its link, never a wait for a message). It is intrusive: the user supplies
 * the nodes, so this adapter allocates one node per message (malloc on send,
 * free on receive), as a user moving words through it would.
 * Nothing parks, so it declares CHAN_CAP_REFERENCE and neither
 * CHAN_CAP_BLOCKING nor CHAN_CAP_TIMED: callers poll try_send / try_recv.
 * It lacks, and the caps say so: bounded and rendezvous capacities, len (no
 * O(1) count).
 *
 * Added here: close, as in the project's own references (impls/limits/): a
 * flag. A send reads it (relaxed: a send that happens after close sees it)
 * and fails; a receive that finds the queue empty reads it (acquire), takes
 * what a re-check finds, else returns CLOSED. Exact when every sender is done
 * before close, or synchronised with it (the last sender handle's drop, as
 * every scenario ends). A close racing a send can let that send land after a
 * receiver saw CLOSED (the message then goes to the undelivered callback): an
 * exact close would need a store-load fence on every enqueue, which is what a
 * limit must not pay.
 */
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <urcu/wfcqueue.h>

#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

const struct chan_ops *chanbench_plugin_entry(void);

struct msg_node {
	struct cds_wfcq_node node;
	uintptr_t msg;
};

struct wfcq_chan {
	struct chan_base base;
	struct cds_wfcq_head head; /* dequeue side, with its mutex */
	struct cds_wfcq_tail tail; /* enqueue side */
	alignas(64) atomic_bool closed;
};

static chan_status wfcq_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct wfcq_chan *c = calloc(1, sizeof *c);
	if (c == NULL)
		return CHAN_ENOMEM;
	c->base.ops = ops;
	cds_wfcq_init(&c->head, &c->tail);
	atomic_init(&c->closed, false);
	*out = &c->base;
	return CHAN_OK;
}

static void wfcq_destroy(struct chan_base *b)
{
	struct wfcq_chan *c = (struct wfcq_chan *)b;
	struct cds_wfcq_node *n;
	while ((n = cds_wfcq_dequeue_blocking(&c->head, &c->tail)) != NULL)
		free(caa_container_of(n, struct msg_node, node));
	cds_wfcq_destroy(&c->head, &c->tail);
	free(c);
}

/* Only CHAN_NOWAIT reaches these (no CHAN_CAP_BLOCKING, no CHAN_CAP_TIMED). */
static chan_status wfcq_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	struct wfcq_chan *c = (struct wfcq_chan *)b;
	if (atomic_load_explicit(&c->closed, memory_order_relaxed))
		return CHAN_CLOSED;
	struct msg_node *m = malloc(sizeof *m);
	if (m == NULL)
		return CHAN_ENOMEM;
	cds_wfcq_node_init(&m->node);
	m->msg = msg;
	cds_wfcq_enqueue(&c->head, &c->tail, &m->node); /* full barrier first: publishes msg */
	return CHAN_OK;
}

static chan_status wfcq_recv(struct chan_base *b, uintptr_t *msg, chan_deadline dl)
{
	struct wfcq_chan *c = (struct wfcq_chan *)b;
	struct cds_wfcq_node *n = cds_wfcq_dequeue_blocking(&c->head, &c->tail);
	if (n == NULL) {
		if (!atomic_load_explicit(&c->closed, memory_order_acquire))
			return chan_deadline_fail(dl, CHAN_EMPTY);
		/* closed: the closer's earlier sends are visible now */
		n = cds_wfcq_dequeue_blocking(&c->head, &c->tail);
		if (n == NULL)
			return CHAN_CLOSED;
	}
	struct msg_node *m = caa_container_of(n, struct msg_node, node);
	*msg = m->msg;
	free(m);
	return CHAN_OK;
}

static chan_status wfcq_close(struct chan_base *b)
{
	struct wfcq_chan *c = (struct wfcq_chan *)b;
	/* release: the closer's earlier sends are visible to whoever sees closed */
	if (atomic_exchange_explicit(&c->closed, true, memory_order_acq_rel))
		return CHAN_ALREADY_CLOSED;
	return CHAN_OK;
}

static size_t wfcq_len(struct chan_base *b)
{
	return 0; /* not declared (CHAN_CAP_LEN) */
}

static const struct chan_ops wfcq_ops = {
	.abi_version = CHAN_ABI_VERSION,
	.size = sizeof(struct chan_ops),
	.name = "urcu-wfcq",
	.description = "liburcu wfcqueue: reference, never blocks (callers poll); unbounded, one malloc'd"
	               " node per message, dequeue under its mutex; no len; close is a flag (as the built-in limits)",
	.caps = CHAN_CAP_UNBOUNDED | CHAN_CAP_MPMC | CHAN_CAP_CLOSE | CHAN_CAP_REFERENCE,
	.create = wfcq_create,
	.destroy = wfcq_destroy,
	.send = wfcq_send,
	.recv = wfcq_recv,
	.close = wfcq_close,
	.len = wfcq_len,
};

const struct chan_ops *chanbench_plugin_entry(void)
{
	return &wfcq_ops;
}
