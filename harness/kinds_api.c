/*
 * The channel kinds' shared layer (kinds.h): argument checks, receiver
 * counting and the oneshot's two handles, for every implementation
 * (kinds_impl.h) that kinds_registry.c lists.
 *
 * Each public handle wraps an implementation's object. A magic number says
 * whether it is live, so that a handle that was never valid, or a use racing a
 * destroy that the caller forgot to order, is caught where detectable; unlike
 * chan_t there is no quarantine, so a use long after destroy is undefined.
 *
 * Broadcast and watch keep their receivers on a list (guarded by a mutex:
 * subscribe and unsubscribe are rare, the data path never takes it) so that
 * destroy can free the ones still subscribed, and count them in an atomic so
 * that a send with no receiver fails at once (B1) without reaching the
 * implementation. A subscribe racing a send is ordered either way; tokio's
 * broadcast and watch behave the same.
 *
 * Oneshot: `handles` holds one bit per side; giving a side up clears its bit
 * (an atomic fetch_and, so it happens once), `refs` counts the sides still
 * inside or ahead of a call, and the last release destroys the object. The
 * implementation's send therefore returns before its object can be freed.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "chanbench/kinds.h"
#include "chanbench/kinds_impl.h"
#include "kinds_registry.h"

#define KIND_MAGIC_LIVE 0x4b494e44u /* "KIND" */
#define KIND_MAGIC_DEAD 0x44454144u /* "DEAD" */

/* ---- receiver lists (broadcast and watch) ---- */

struct rx_link {
	struct rx_link *prev, *next;
};

struct rx_list {
	pthread_mutex_t lock;
	struct rx_link *head;
	atomic_long count;
};

static void rx_list_init(struct rx_list *l)
{
	pthread_mutex_init(&l->lock, NULL);
	l->head = NULL;
	atomic_init(&l->count, 0);
}

static void rx_list_add(struct rx_list *l, struct rx_link *n)
{
	pthread_mutex_lock(&l->lock);
	n->prev = NULL;
	n->next = l->head;
	if (l->head)
		l->head->prev = n;
	l->head = n;
	atomic_fetch_add(&l->count, 1);
	pthread_mutex_unlock(&l->lock);
}

static void rx_list_remove(struct rx_list *l, struct rx_link *n)
{
	pthread_mutex_lock(&l->lock);
	if (n->prev)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	atomic_fetch_sub(&l->count, 1);
	pthread_mutex_unlock(&l->lock);
}

/* Whether a wrapper is live, given its magic word (NULL for a NULL handle). */
static chan_status magic_check_word(const _Atomic uint32_t *magic)
{
	if (magic == NULL)
		return CHAN_EINVAL;
	uint32_t m = atomic_load_explicit(magic, memory_order_acquire);
	if (m == KIND_MAGIC_LIVE)
		return CHAN_OK;
	return m == KIND_MAGIC_DEAD ? CHAN_DESTROYED : CHAN_EINVAL;
}

#define LIVE(p) magic_check_word((p) != NULL ? &(p)->magic : NULL)

/* Mark a live wrapper dead exactly once (a racing second destroy loses). */
static bool magic_kill(_Atomic uint32_t *magic)
{
	uint32_t live = KIND_MAGIC_LIVE;
	return atomic_compare_exchange_strong(magic, &live, KIND_MAGIC_DEAD);
}

/* ---- broadcast ---- */

struct bcast {
	_Atomic uint32_t magic;
	const struct bcast_ops *ops;
	struct bcast_base *impl;
	size_t cap;
	struct rx_list rxs;
};

struct bcast_rx {
	_Atomic uint32_t magic;
	struct rx_link link; /* on owner->rxs */
	struct bcast *owner;
	struct bcast_rx_base *impl;
};

#define BCAST_RX_OF(l) ((struct bcast_rx *)((char *)(l) - offsetof(struct bcast_rx, link)))

chan_status bcast_create(const char *impl, size_t cap, bcast_t **out)
{
	if (impl == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	if (cap == 0 || cap > CHAN_MAX_CAPACITY)
		return CHAN_EINVAL;
	const struct bcast_ops *ops = kind_registry_bcast(impl);
	if (ops == NULL)
		return CHAN_NOT_FOUND;
	struct bcast *b = calloc(1, sizeof *b);
	if (b == NULL)
		return CHAN_ENOMEM;
	b->ops = ops;
	chan_status st = b->ops->create(b->ops, cap, &b->impl);
	if (st != CHAN_OK) {
		free(b);
		return st;
	}
	b->cap = cap;
	rx_list_init(&b->rxs);
	atomic_store_explicit(&b->magic, KIND_MAGIC_LIVE, memory_order_release);
	*out = b;
	return CHAN_OK;
}

chan_status bcast_destroy(bcast_t *b)
{
	chan_status st = LIVE(b);
	if (st != CHAN_OK)
		return st;
	if (!magic_kill(&b->magic))
		return CHAN_DESTROYED;
	struct rx_link *n = b->rxs.head;
	while (n != NULL) {
		struct rx_link *next = n->next;
		struct bcast_rx *rx = BCAST_RX_OF(n);
		atomic_store(&rx->magic, KIND_MAGIC_DEAD);
		b->ops->unsubscribe(rx->impl);
		free(rx);
		n = next;
	}
	b->ops->destroy(b->impl);
	pthread_mutex_destroy(&b->rxs.lock);
	free(b);
	return CHAN_OK;
}

chan_status bcast_subscribe(bcast_t *b, bcast_rx_t **out)
{
	if (out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	chan_status st = LIVE(b);
	if (st != CHAN_OK)
		return st;
	struct bcast_rx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	st = b->ops->subscribe(b->impl, &rx->impl);
	if (st != CHAN_OK) {
		free(rx);
		return st;
	}
	rx->owner = b;
	rx_list_add(&b->rxs, &rx->link);
	atomic_store_explicit(&rx->magic, KIND_MAGIC_LIVE, memory_order_release);
	*out = rx;
	return CHAN_OK;
}

chan_status bcast_unsubscribe(bcast_rx_t *rx)
{
	chan_status st = LIVE(rx);
	if (st != CHAN_OK)
		return st;
	if (!magic_kill(&rx->magic))
		return CHAN_DESTROYED;
	struct bcast *b = rx->owner;
	rx_list_remove(&b->rxs, &rx->link);
	b->ops->unsubscribe(rx->impl);
	free(rx);
	return CHAN_OK;
}

chan_status bcast_send(bcast_t *b, uintptr_t msg)
{
	chan_status st = LIVE(b);
	if (st != CHAN_OK)
		return st;
	/* B1: a send nobody can receive fails, and the value stays the caller's. */
	if (atomic_load_explicit(&b->rxs.count, memory_order_acquire) == 0)
		return CHAN_CLOSED;
	return b->ops->send(b->impl, msg);
}

chan_status bcast_recv(bcast_rx_t *rx, uintptr_t *msg, uint64_t *missed, chan_deadline deadline)
{
	chan_status st = LIVE(rx);
	if (st != CHAN_OK)
		return st;
	if (msg == NULL)
		return CHAN_EINVAL;
	uint64_t lost = 0;
	st = rx->owner->ops->recv(rx->impl, msg, &lost, deadline);
	if (missed != NULL)
		*missed = lost;
	return st;
}

chan_status bcast_close(bcast_t *b)
{
	chan_status st = LIVE(b);
	return st != CHAN_OK ? st : b->ops->close(b->impl);
}

size_t bcast_cap(bcast_t *b)
{
	return LIVE(b) == CHAN_OK ? b->cap : 0;
}

size_t bcast_receiver_count(bcast_t *b)
{
	if (LIVE(b) != CHAN_OK)
		return 0;
	return (size_t)atomic_load(&b->rxs.count);
}

const char *bcast_impl_name(bcast_t *b)
{
	return LIVE(b) == CHAN_OK ? b->ops->name : NULL;
}

/* ---- watch ---- */

struct watch {
	_Atomic uint32_t magic;
	const struct watch_ops *ops;
	struct watch_base *impl;
	struct rx_list rxs;
};

struct watch_rx {
	_Atomic uint32_t magic;
	struct rx_link link;
	struct watch *owner;
	struct watch_rx_base *impl;
};

#define WATCH_RX_OF(l) ((struct watch_rx *)((char *)(l) - offsetof(struct watch_rx, link)))

chan_status watch_create(const char *impl, uintptr_t initial, watch_t **out)
{
	if (impl == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	const struct watch_ops *ops = kind_registry_watch(impl);
	if (ops == NULL)
		return CHAN_NOT_FOUND;
	struct watch *w = calloc(1, sizeof *w);
	if (w == NULL)
		return CHAN_ENOMEM;
	w->ops = ops;
	chan_status st = w->ops->create(w->ops, initial, &w->impl);
	if (st != CHAN_OK) {
		free(w);
		return st;
	}
	rx_list_init(&w->rxs);
	atomic_store_explicit(&w->magic, KIND_MAGIC_LIVE, memory_order_release);
	*out = w;
	return CHAN_OK;
}

chan_status watch_destroy(watch_t *w)
{
	chan_status st = LIVE(w);
	if (st != CHAN_OK)
		return st;
	if (!magic_kill(&w->magic))
		return CHAN_DESTROYED;
	struct rx_link *n = w->rxs.head;
	while (n != NULL) {
		struct rx_link *next = n->next;
		struct watch_rx *rx = WATCH_RX_OF(n);
		atomic_store(&rx->magic, KIND_MAGIC_DEAD);
		w->ops->unsubscribe(rx->impl);
		free(rx);
		n = next;
	}
	w->ops->destroy(w->impl);
	pthread_mutex_destroy(&w->rxs.lock);
	free(w);
	return CHAN_OK;
}

chan_status watch_subscribe(watch_t *w, watch_rx_t **out)
{
	if (out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	chan_status st = LIVE(w);
	if (st != CHAN_OK)
		return st;
	struct watch_rx *rx = calloc(1, sizeof *rx);
	if (rx == NULL)
		return CHAN_ENOMEM;
	st = w->ops->subscribe(w->impl, &rx->impl);
	if (st != CHAN_OK) {
		free(rx);
		return st;
	}
	rx->owner = w;
	rx_list_add(&w->rxs, &rx->link);
	atomic_store_explicit(&rx->magic, KIND_MAGIC_LIVE, memory_order_release);
	*out = rx;
	return CHAN_OK;
}

chan_status watch_unsubscribe(watch_rx_t *rx)
{
	chan_status st = LIVE(rx);
	if (st != CHAN_OK)
		return st;
	if (!magic_kill(&rx->magic))
		return CHAN_DESTROYED;
	struct watch *w = rx->owner;
	rx_list_remove(&w->rxs, &rx->link);
	w->ops->unsubscribe(rx->impl);
	free(rx);
	return CHAN_OK;
}

chan_status watch_send(watch_t *w, uintptr_t v)
{
	chan_status st = LIVE(w);
	if (st != CHAN_OK)
		return st;
	/* tokio's watch::Sender::send: with no receiver the value is not stored. */
	if (atomic_load_explicit(&w->rxs.count, memory_order_acquire) == 0)
		return CHAN_CLOSED;
	return w->ops->send(w->impl, v);
}

chan_status watch_borrow(watch_rx_t *rx, uintptr_t *v, uint64_t *version)
{
	chan_status st = LIVE(rx);
	if (st != CHAN_OK)
		return st;
	if (v == NULL)
		return CHAN_EINVAL;
	uint64_t ver = 0;
	rx->owner->ops->borrow(rx->impl, v, &ver);
	if (version != NULL)
		*version = ver;
	return CHAN_OK;
}

chan_status watch_changed(watch_rx_t *rx, uintptr_t *v, chan_deadline deadline)
{
	chan_status st = LIVE(rx);
	if (st != CHAN_OK)
		return st;
	uintptr_t ignored = 0;
	return rx->owner->ops->changed(rx->impl, v != NULL ? v : &ignored, deadline);
}

chan_status watch_close(watch_t *w)
{
	chan_status st = LIVE(w);
	return st != CHAN_OK ? st : w->ops->close(w->impl);
}

size_t watch_receiver_count(watch_t *w)
{
	if (LIVE(w) != CHAN_OK)
		return 0;
	return (size_t)atomic_load(&w->rxs.count);
}

const char *watch_impl_name(watch_t *w)
{
	return LIVE(w) == CHAN_OK ? w->ops->name : NULL;
}

/* ---- oneshot ---- */

enum { OS_SENDER = 1, OS_RECEIVER = 2 };

struct oneshot {
	_Atomic uint32_t magic;
	const struct oneshot_ops *ops;
	struct oneshot_base *impl;
	atomic_uint handles; /* OS_SENDER | OS_RECEIVER while held */
	atomic_uint refs;    /* sides not yet fully released */
};

chan_status oneshot_create(const char *impl, oneshot_t **out)
{
	if (impl == NULL || out == NULL)
		return CHAN_EINVAL;
	*out = NULL;
	const struct oneshot_ops *ops = kind_registry_oneshot(impl);
	if (ops == NULL)
		return CHAN_NOT_FOUND;
	struct oneshot *o = calloc(1, sizeof *o);
	if (o == NULL)
		return CHAN_ENOMEM;
	o->ops = ops;
	chan_status st = o->ops->create(o->ops, &o->impl);
	if (st != CHAN_OK) {
		free(o);
		return st;
	}
	atomic_init(&o->handles, OS_SENDER | OS_RECEIVER);
	atomic_init(&o->refs, 2);
	atomic_store_explicit(&o->magic, KIND_MAGIC_LIVE, memory_order_release);
	*out = o;
	return CHAN_OK;
}

static void oneshot_free(struct oneshot *o)
{
	atomic_store(&o->magic, KIND_MAGIC_DEAD);
	o->ops->destroy(o->impl);
	free(o);
}

/* One side is completely done with o: the second one frees it. acq_rel: the
 * side that frees sees everything the other side did to the object. */
static void oneshot_release(struct oneshot *o)
{
	if (atomic_fetch_sub_explicit(&o->refs, 1, memory_order_acq_rel) == 1)
		oneshot_free(o);
}

/* Give up one side's handle; false if it was given up already. */
static bool oneshot_take_handle(struct oneshot *o, unsigned side)
{
	return (atomic_fetch_and(&o->handles, ~side) & side) != 0;
}

chan_status oneshot_destroy(oneshot_t *o)
{
	chan_status st = LIVE(o);
	if (st != CHAN_OK)
		return st;
	if (!magic_kill(&o->magic))
		return CHAN_DESTROYED;
	o->ops->destroy(o->impl);
	free(o);
	return CHAN_OK;
}

chan_status oneshot_send(oneshot_t *o, uintptr_t v)
{
	chan_status st = LIVE(o);
	if (st != CHAN_OK)
		return st;
	if (!oneshot_take_handle(o, OS_SENDER))
		return CHAN_NO_HANDLE;
	st = o->ops->send(o->impl, v);
	oneshot_release(o);
	return st;
}

chan_status oneshot_recv(oneshot_t *o, uintptr_t *v, chan_deadline deadline)
{
	chan_status st = LIVE(o);
	if (st != CHAN_OK)
		return st;
	if (v == NULL)
		return CHAN_EINVAL;
	if (!(atomic_load(&o->handles) & OS_RECEIVER))
		return CHAN_NO_HANDLE;
	return o->ops->recv(o->impl, v, deadline);
}

chan_status oneshot_sender_drop(oneshot_t *o)
{
	chan_status st = LIVE(o);
	if (st != CHAN_OK)
		return st;
	if (!oneshot_take_handle(o, OS_SENDER))
		return CHAN_NO_HANDLE;
	o->ops->sender_drop(o->impl);
	oneshot_release(o);
	return CHAN_OK;
}

chan_status oneshot_receiver_drop(oneshot_t *o)
{
	chan_status st = LIVE(o);
	if (st != CHAN_OK)
		return st;
	if (!oneshot_take_handle(o, OS_RECEIVER))
		return CHAN_NO_HANDLE;
	o->ops->receiver_drop(o->impl);
	oneshot_release(o);
	return CHAN_OK;
}

const char *oneshot_impl_name(oneshot_t *o)
{
	return LIVE(o) == CHAN_OK ? o->ops->name : NULL;
}
