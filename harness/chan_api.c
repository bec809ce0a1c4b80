/*
 * The channel API's dispatch layer: argument checks, capability checks, handle
 * counting, and delivery of undelivered messages, once, for every implementation.
 *
 * A chan_t wraps an implementation's channel (struct chan_base *). Its magic
 * number says whether it is live; destroyed wrappers are kept in a small
 * quarantine so that a use soon after destroy is reported as CHAN_DESTROYED
 * rather than touching freed memory (older ones are freed: "where detectable").
 *
 * Handles: senders and receivers are atomic counts that start at 1 each. The
 * drop that takes senders to 0 closes the channel. The drop that takes receivers
 * to 0 closes it and drains what is buffered into the undelivered callback.
 * A drain and a destroy each run at most once (the `drained` flag), so every
 * undelivered message reaches the callback exactly once (CONFORMANCE C8).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include "chanbench/chan.h"
#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"
#include "chan_private.h"
#include "registry.h"

static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chan *quarantine[QUARANTINE_SLOTS];
static size_t quarantine_next;

static void quarantine_free_all(void)
{
	pthread_mutex_lock(&quarantine_lock);
	for (size_t i = 0; i < QUARANTINE_SLOTS; i++) {
		free(quarantine[i]);
		quarantine[i] = NULL;
	}
	pthread_mutex_unlock(&quarantine_lock);
}

static void quarantine_put(struct chan *ch)
{
	static bool registered;
	pthread_mutex_lock(&quarantine_lock);
	if (!registered) {
		atexit(quarantine_free_all);
		registered = true;
	}
	free(quarantine[quarantine_next]);
	quarantine[quarantine_next] = ch;
	quarantine_next = (quarantine_next + 1) % QUARANTINE_SLOTS;
	pthread_mutex_unlock(&quarantine_lock);
}

const char *chan_status_str(chan_status s)
{
	switch (s) {
	case CHAN_OK: return "ok";
	case CHAN_EMPTY: return "empty";
	case CHAN_FULL: return "full";
	case CHAN_TIMEOUT: return "timeout";
	case CHAN_CLOSED: return "closed";
	case CHAN_ALREADY_CLOSED: return "already-closed";
	case CHAN_EINVAL: return "invalid-argument";
	case CHAN_ENOMEM: return "out-of-memory";
	case CHAN_UNSUPPORTED: return "unsupported";
	case CHAN_NOT_FOUND: return "not-found";
	case CHAN_DESTROYED: return "destroyed";
	case CHAN_NO_HANDLE: return "no-handle";
	case CHAN_PLUGIN_OPEN: return "plugin-open";
	case CHAN_PLUGIN_SYMBOL: return "plugin-symbol";
	case CHAN_PLUGIN_ABI: return "plugin-abi";
	case CHAN_PLUGIN_TABLE: return "plugin-table";
	case CHAN_EXISTS: return "exists";
	case CHAN_NOT_READY: return "not-ready";
	}
	return "unknown-status";
}

int64_t chan_now_ns(void)
{
	return chan_deadline_now_ns();
}

chan_deadline chan_deadline_after(int64_t ns)
{
	if (ns <= 0)
		return 1; /* passed, but not CHAN_NOWAIT: a failure reports TIMEOUT */
	int64_t now = chan_deadline_now_ns();
	if (ns >= CHAN_FOREVER - now)
		return CHAN_FOREVER;
	return now + ns;
}

static uint64_t cap_bit_for(size_t cap)
{
	if (cap == 0)
		return CHAN_CAP_RENDEZVOUS;
	if (cap == CHAN_UNBOUNDED)
		return CHAN_CAP_UNBOUNDED;
	return CHAN_CAP_BOUNDED;
}

chan_status chan_create(const char *impl, size_t cap, const chan_config *cfg, chan_t **out)
{
	if (impl == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	if (cap != CHAN_UNBOUNDED && cap > CHAN_MAX_CAPACITY)
		return CHAN_EINVAL;
	const struct chan_ops *ops = chan_registry_find(impl);
	if (ops == NULL)
		return CHAN_NOT_FOUND;
	if (!(ops->caps & cap_bit_for(cap)))
		return CHAN_UNSUPPORTED;

	struct chan *ch = calloc(1, sizeof *ch);
	if (ch == NULL)
		return CHAN_ENOMEM;
	struct chan_base *base = NULL;
	chan_status st = ops->create(ops, cap, &base);
	if (st != CHAN_OK || base == NULL) {
		free(ch);
		return st != CHAN_OK ? st : CHAN_ENOMEM;
	}
	ch->impl = base;
	ch->ops = ops;
	ch->cap = cap;
	if (cfg != NULL) {
		ch->undelivered = cfg->undelivered;
		ch->undelivered_ctx = cfg->undelivered_ctx;
	}
	atomic_init(&ch->senders, 1);
	atomic_init(&ch->receivers, 1);
	atomic_init(&ch->drained, false);
	atomic_init(&ch->poll[0], NULL);
	atomic_init(&ch->poll[1], NULL);
	atomic_store_explicit(&ch->magic, CHAN_MAGIC_LIVE, memory_order_release);
	*out = ch;
	return CHAN_OK;
}

/* Close, then hand every buffered message to the callback; at most once. */
static void chan_drain_undelivered(struct chan *ch)
{
	if (atomic_exchange(&ch->drained, true))
		return;
	(void)ch->ops->close(ch->impl);
	uintptr_t msg;
	chan_status st;
	while ((st = ch->ops->recv(ch->impl, &msg, CHAN_NOWAIT)) == CHAN_OK) {
		if (ch->undelivered != NULL)
			ch->undelivered(msg, ch->undelivered_ctx);
	}
}

chan_status chan_destroy(chan_t *ch)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	uint32_t live = CHAN_MAGIC_LIVE;
	if (!atomic_compare_exchange_strong(&ch->magic, &live, CHAN_MAGIC_DEAD))
		return CHAN_DESTROYED;
	chan_drain_undelivered(ch);
	chan_poll_release(ch);
	ch->ops->destroy(ch->impl);
	ch->impl = NULL;
	quarantine_put(ch);
	return CHAN_OK;
}

chan_status chan_send_until(chan_t *ch, uintptr_t msg, chan_deadline deadline)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	if (deadline != CHAN_NOWAIT && deadline != CHAN_FOREVER && !(ch->ops->caps & CHAN_CAP_TIMED))
		return CHAN_UNSUPPORTED;
	if (deadline == CHAN_FOREVER && !(ch->ops->caps & CHAN_CAP_BLOCKING))
		return CHAN_UNSUPPORTED;
	st = ch->ops->send(ch->impl, msg, deadline);
	chan_poll_after(ch, CHAN_DIR_SEND, st);
	return st;
}

chan_status chan_recv_until(chan_t *ch, uintptr_t *msg, chan_deadline deadline)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	if (msg == NULL)
		return CHAN_EINVAL;
	if (deadline != CHAN_NOWAIT && deadline != CHAN_FOREVER && !(ch->ops->caps & CHAN_CAP_TIMED))
		return CHAN_UNSUPPORTED;
	if (deadline == CHAN_FOREVER && !(ch->ops->caps & CHAN_CAP_BLOCKING))
		return CHAN_UNSUPPORTED;
	st = ch->ops->recv(ch->impl, msg, deadline);
	chan_poll_after(ch, CHAN_DIR_RECV, st);
	return st;
}

chan_status chan_send(chan_t *ch, uintptr_t msg)
{
	return chan_send_until(ch, msg, CHAN_FOREVER);
}

chan_status chan_recv(chan_t *ch, uintptr_t *msg)
{
	return chan_recv_until(ch, msg, CHAN_FOREVER);
}

chan_status chan_try_send(chan_t *ch, uintptr_t msg)
{
	return chan_send_until(ch, msg, CHAN_NOWAIT);
}

chan_status chan_try_recv(chan_t *ch, uintptr_t *msg)
{
	return chan_recv_until(ch, msg, CHAN_NOWAIT);
}

chan_status chan_send_timeout(chan_t *ch, uintptr_t msg, int64_t ns)
{
	return chan_send_until(ch, msg, chan_deadline_after(ns));
}

chan_status chan_recv_timeout(chan_t *ch, uintptr_t *msg, int64_t ns)
{
	return chan_recv_until(ch, msg, chan_deadline_after(ns));
}

chan_status chan_close(chan_t *ch)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	if (!(ch->ops->caps & CHAN_CAP_CLOSE))
		return CHAN_UNSUPPORTED;
	return ch->ops->close(ch->impl);
}

size_t chan_len(chan_t *ch)
{
	if (chan_check(ch) != CHAN_OK)
		return 0;
	return ch->ops->len(ch->impl);
}

size_t chan_cap(chan_t *ch)
{
	if (chan_check(ch) != CHAN_OK)
		return 0;
	return ch->cap;
}

const char *chan_impl_name(chan_t *ch)
{
	if (chan_check(ch) != CHAN_OK)
		return NULL;
	return ch->ops->name;
}

/* Add one to a handle count unless it already reached zero. */
static chan_status handle_clone(atomic_long *count)
{
	long n = atomic_load(count);
	do {
		if (n <= 0)
			return CHAN_NO_HANDLE;
	} while (!atomic_compare_exchange_weak(count, &n, n + 1));
	return CHAN_OK;
}

/* Take one from a handle count; *last is set when this drop took it to zero. */
static chan_status handle_drop(atomic_long *count, bool *last)
{
	long n = atomic_load(count);
	do {
		if (n <= 0)
			return CHAN_NO_HANDLE;
	} while (!atomic_compare_exchange_weak(count, &n, n - 1));
	*last = (n == 1);
	return CHAN_OK;
}

chan_status chan_sender_clone(chan_t *ch)
{
	chan_status st = chan_check(ch);
	return st != CHAN_OK ? st : handle_clone(&ch->senders);
}

chan_status chan_receiver_clone(chan_t *ch)
{
	chan_status st = chan_check(ch);
	return st != CHAN_OK ? st : handle_clone(&ch->receivers);
}

chan_status chan_sender_drop(chan_t *ch)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	bool last = false;
	st = handle_drop(&ch->senders, &last);
	if (st == CHAN_OK && last)
		(void)ch->ops->close(ch->impl);
	return st;
}

chan_status chan_receiver_drop(chan_t *ch)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	bool last = false;
	st = handle_drop(&ch->receivers, &last);
	if (st == CHAN_OK && last)
		chan_drain_undelivered(ch);
	return st;
}
