/*
 * The channel kinds' registry: built-in broadcast, watch and oneshot
 * implementations, then the ones kind plug-ins registered, by kind and name.
 * Adding a built-in is one file in impls/kinds/ plus one line below.
 *
 * A plug-in's table is registered as a copy as large as this version's
 * struct, zero-filled past the table's own size, as registry.c does for
 * channel tables: a later version may append slots, and the shared layer
 * reads the copy.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "chanbench/kinds.h"
#include "kinds_registry.h"
#include "registry.h"

extern const struct bcast_ops bcast_mutex_ops;
extern const struct bcast_ops bcast_futex_ops;
extern const struct watch_ops watch_mutex_ops;
extern const struct watch_ops watch_seqlock_ops;
extern const struct oneshot_ops oneshot_mutex_ops;
extern const struct oneshot_ops oneshot_futex_ops;

static const struct bcast_ops *const bcast_builtins[] = {&bcast_mutex_ops, &bcast_futex_ops};
static const struct watch_ops *const watch_builtins[] = {&watch_mutex_ops, &watch_seqlock_ops};
static const struct oneshot_ops *const oneshot_builtins[] = {&oneshot_mutex_ops, &oneshot_futex_ops};

#define N_OF(a) (sizeof(a) / sizeof(a)[0])
#define MAX_KIND_PLUGINS 32 /* per kind */

static pthread_mutex_t plugins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bcast_ops bcast_plugins[MAX_KIND_PLUGINS];
static struct watch_ops watch_plugins[MAX_KIND_PLUGINS];
static struct oneshot_ops oneshot_plugins[MAX_KIND_PLUGINS];
/* release on add: publishes the table below the new count */
static atomic_size_t n_bcast, n_watch, n_oneshot;

/* What every kind's table starts with (kinds_impl.h): the generic view. */
struct kind_head {
	uint32_t abi_version, size;
	const char *name, *description;
	uint64_t caps;
};

/* One kind's lists, so the registry code is written once for the three. */
struct kind_list {
	const char *kind;
	const void *const *builtins; /* tables */
	size_t n_builtins;
	void *plugins; /* an array of full-size tables */
	size_t table_size;
	atomic_size_t *n_plugins;
	size_t v1_size;   /* a version-1 table's size */
	size_t first_op;  /* offset of the first operation */
};

#define V1_SIZE(type, last) (offsetof(struct type, last) + sizeof(((struct type *)0)->last))

static const struct kind_list lists[] = {
	{CHAN_KIND_BCAST, (const void *const *)bcast_builtins, N_OF(bcast_builtins), bcast_plugins,
	 sizeof(struct bcast_ops), &n_bcast, V1_SIZE(bcast_ops, close), offsetof(struct bcast_ops, create)},
	{CHAN_KIND_WATCH, (const void *const *)watch_builtins, N_OF(watch_builtins), watch_plugins,
	 sizeof(struct watch_ops), &n_watch, V1_SIZE(watch_ops, close), offsetof(struct watch_ops, create)},
	{CHAN_KIND_ONESHOT, (const void *const *)oneshot_builtins, N_OF(oneshot_builtins), oneshot_plugins,
	 sizeof(struct oneshot_ops), &n_oneshot, V1_SIZE(oneshot_ops, receiver_drop),
	 offsetof(struct oneshot_ops, create)},
};

static const struct kind_list *list_of(const char *kind)
{
	for (size_t i = 0; kind != NULL && i < N_OF(lists); i++)
		if (strcmp(lists[i].kind, kind) == 0)
			return &lists[i];
	return NULL;
}

/* The i-th table of a kind: built-ins, then plug-ins; NULL past the end. */
static const struct kind_head *list_at(const struct kind_list *l, size_t i)
{
	if (i < l->n_builtins)
		return l->builtins[i];
	i -= l->n_builtins;
	if (i < atomic_load_explicit(l->n_plugins, memory_order_acquire))
		return (const struct kind_head *)((const char *)l->plugins + i * l->table_size);
	return NULL;
}

static const struct kind_head *list_find(const struct kind_list *l, const char *name)
{
	const struct kind_head *h;
	if (l == NULL || name == NULL)
		return NULL;
	for (size_t i = 0; (h = list_at(l, i)) != NULL; i++)
		if (strcmp(h->name, name) == 0)
			return h;
	return NULL;
}

const struct bcast_ops *kind_registry_bcast(const char *name)
{
	return (const struct bcast_ops *)list_find(&lists[0], name);
}

const struct watch_ops *kind_registry_watch(const char *name)
{
	return (const struct watch_ops *)list_find(&lists[1], name);
}

const struct oneshot_ops *kind_registry_oneshot(const char *name)
{
	return (const struct oneshot_ops *)list_find(&lists[2], name);
}

/* ---- the public registry (kinds.h) ---- */

size_t chan_kind_impl_count(const char *kind)
{
	const struct kind_list *l = list_of(kind);
	return l == NULL ? 0 : l->n_builtins + atomic_load_explicit(l->n_plugins, memory_order_acquire);
}

const char *chan_kind_impl_name_at(const char *kind, size_t i)
{
	const struct kind_list *l = list_of(kind);
	const struct kind_head *h = l != NULL ? list_at(l, i) : NULL;
	return h != NULL ? h->name : NULL;
}

const char *chan_kind_impl_description(const char *kind, const char *impl)
{
	const struct kind_head *h = list_find(list_of(kind), impl);
	return h != NULL ? h->description : NULL;
}

uint64_t chan_kind_impl_caps(const char *kind, const char *impl)
{
	const struct kind_head *h = list_find(list_of(kind), impl);
	return h != NULL ? h->caps : 0;
}

/* ---- plug-ins ---- */

#define KIND_CAPS_KNOWN                                                                             \
	(KIND_CAP_BLOCKING | KIND_CAP_TIMED | KIND_CAP_MULTI_SENDER | KIND_CAP_LOCKFREE_RECV)

/* Whether one kind table may be registered; a message in err if not. */
static chan_status validate(const struct kind_list *l, const struct kind_head *h, char *err,
                            size_t errlen)
{
	if (h->abi_version != KIND_ABI_VERSION) {
		snprintf(err, errlen, "%s table: ABI version %u is not supported (this suite takes %u)",
		         l->kind, h->abi_version, KIND_ABI_VERSION);
		return CHAN_PLUGIN_ABI;
	}
	if (h->size < l->v1_size) {
		snprintf(err, errlen, "%s table: size %u is smaller than a version-1 table (%zu bytes)",
		         l->kind, h->size, l->v1_size);
		return CHAN_PLUGIN_TABLE;
	}
	if (!chan_registry_name_is_valid(h->name)) {
		snprintf(err, errlen, "%s table: name must be 1-64 characters of [a-z0-9_.-]", l->kind);
		return CHAN_PLUGIN_TABLE;
	}
	if (h->description == NULL) {
		snprintf(err, errlen, "%s table '%s': description is NULL", l->kind, h->name);
		return CHAN_PLUGIN_TABLE;
	}
	if (h->caps & ~(uint64_t)KIND_CAPS_KNOWN) {
		snprintf(err, errlen, "%s table '%s': unknown caps bits 0x%llx", l->kind, h->name,
		         (unsigned long long)(h->caps & ~(uint64_t)KIND_CAPS_KNOWN));
		return CHAN_PLUGIN_TABLE;
	}
	/* Every version-1 operation is required: the slots from first_op to v1_size. */
	for (size_t off = l->first_op; off < l->v1_size; off += sizeof(void (*)(void))) {
		void (*fn)(void);
		memcpy(&fn, (const char *)h + off, sizeof fn);
		if (fn == NULL) {
			snprintf(err, errlen, "%s table '%s': operation %zu is NULL (every operation is required)",
			         l->kind, h->name, (off - l->first_op) / sizeof fn + 1);
			return CHAN_PLUGIN_TABLE;
		}
	}
	if (list_find(l, h->name) != NULL) {
		snprintf(err, errlen, "a %s implementation named '%s' is already registered", l->kind, h->name);
		return CHAN_EXISTS;
	}
	if (atomic_load_explicit(l->n_plugins, memory_order_relaxed) == MAX_KIND_PLUGINS) {
		snprintf(err, errlen, "too many %s plug-ins (at most %d)", l->kind, MAX_KIND_PLUGINS);
		return CHAN_ENOMEM;
	}
	return CHAN_OK;
}

chan_status kind_registry_add_plugin(const struct kinds_plugin *p, const char **first, char *err,
                                     size_t errlen)
{
	if (p == NULL) {
		snprintf(err, errlen, "the kinds entry function returned NULL");
		return CHAN_PLUGIN_TABLE;
	}
	if (p->abi_version != KIND_ABI_VERSION) {
		snprintf(err, errlen, "kinds entry: ABI version %u is not supported (this suite takes %u)",
		         p->abi_version, KIND_ABI_VERSION);
		return CHAN_PLUGIN_ABI;
	}
	size_t v1 = offsetof(struct kinds_plugin, oneshot) + sizeof p->oneshot;
	if (p->size < v1) {
		snprintf(err, errlen, "kinds entry: size %u is smaller than version 1's (%zu bytes)", p->size, v1);
		return CHAN_PLUGIN_TABLE;
	}
	const struct kind_head *tables[N_OF(lists)] = {(const struct kind_head *)p->bcast,
	                                               (const struct kind_head *)p->watch,
	                                               (const struct kind_head *)p->oneshot};
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&plugins_lock);
	bool any = false;
	for (size_t k = 0; k < N_OF(lists) && st == CHAN_OK; k++)
		if (tables[k] != NULL) {
			any = true;
			st = validate(&lists[k], tables[k], err, errlen);
		}
	if (st == CHAN_OK && !any) {
		snprintf(err, errlen, "kinds entry: names no table (bcast, watch and oneshot are all NULL)");
		st = CHAN_PLUGIN_TABLE;
	}
	if (first != NULL)
		*first = NULL;
	for (size_t k = 0; k < N_OF(lists) && st == CHAN_OK; k++) {
		const struct kind_list *l = &lists[k];
		if (tables[k] == NULL)
			continue;
		size_t n = atomic_load_explicit(l->n_plugins, memory_order_relaxed);
		char *dst = (char *)l->plugins + n * l->table_size;
		size_t own = tables[k]->size < l->table_size ? tables[k]->size : l->table_size;
		memset(dst, 0, l->table_size);
		memcpy(dst, tables[k], own);
		atomic_store_explicit(l->n_plugins, n + 1, memory_order_release);
		if (first != NULL && *first == NULL)
			*first = ((const struct kind_head *)dst)->name;
	}
	pthread_mutex_unlock(&plugins_lock);
	return st;
}
