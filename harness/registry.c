/*
 * The registry: built-in implementations and loaded plug-ins, by name.
 * Adding a built-in is one file in impls/ plus one line in `builtins` below.
 *
 * Every table is registered as a normalized copy: as large as this version's
 * struct chan_ops, the slots an older table lacks set to NULL (so the shared
 * layer reads any slot directly), and CHAN_CAP_POLLFD set exactly when the
 * select hooks are there (the shared layer builds poll fds on them).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "chanbench/chan.h"
#include "registry.h"

extern const struct chan_ops chan_mutex_ops;
extern const struct chan_ops chan_futex_ops;
extern const struct chan_ops chan_ck_ops;

static const struct chan_ops *const builtins[] = {
	&chan_mutex_ops,
	&chan_futex_ops,
	&chan_ck_ops,
};
#define N_BUILTINS (sizeof builtins / sizeof builtins[0])
#define MAX_PLUGINS 64

static pthread_mutex_t plugins_lock = PTHREAD_MUTEX_INITIALIZER;
static struct chan_ops plugins[MAX_PLUGINS];
static atomic_size_t n_plugins; /* release on add: publishes plugins[n-1] */
static struct chan_ops builtin_tables[N_BUILTINS];
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;

/* A full-size copy of ops: slots beyond ops->size are NULL, caps normalized. */
static void normalize(struct chan_ops *dst, const struct chan_ops *src)
{
	memset(dst, 0, sizeof *dst);
	memcpy(dst, src, src->size < sizeof *dst ? src->size : sizeof *dst);
	dst->caps &= ~(uint64_t)CHAN_CAP_POLLFD;
	if (dst->caps & CHAN_CAP_SELECT)
		dst->caps |= CHAN_CAP_POLLFD;
}

static void builtins_init(void)
{
	for (size_t i = 0; i < N_BUILTINS; i++)
		normalize(&builtin_tables[i], builtins[i]);
}

static const struct chan_ops *registry_at(size_t i)
{
	pthread_once(&builtins_once, builtins_init);
	if (i < N_BUILTINS)
		return &builtin_tables[i];
	i -= N_BUILTINS;
	if (i < atomic_load_explicit(&n_plugins, memory_order_acquire))
		return &plugins[i];
	return NULL;
}

const struct chan_ops *chan_registry_find(const char *name)
{
	if (name == NULL)
		return NULL;
	const struct chan_ops *ops;
	for (size_t i = 0; (ops = registry_at(i)) != NULL; i++)
		if (strcmp(ops->name, name) == 0)
			return ops;
	return NULL;
}

size_t chan_impl_count(void)
{
	return N_BUILTINS + atomic_load_explicit(&n_plugins, memory_order_acquire);
}

const char *chan_impl_name_at(size_t i)
{
	const struct chan_ops *ops = registry_at(i);
	return ops != NULL ? ops->name : NULL;
}

const char *chan_impl_description(const char *name)
{
	const struct chan_ops *ops = chan_registry_find(name);
	return ops != NULL ? ops->description : NULL;
}

uint64_t chan_impl_caps(const char *name)
{
	const struct chan_ops *ops = chan_registry_find(name);
	return ops != NULL ? ops->caps : 0;
}

bool chan_registry_name_is_valid(const char *name)
{
	if (name == NULL || name[0] == '\0' || strlen(name) > 64)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		      *p == '.'))
			return false;
	return true;
}

chan_status chan_registry_validate(const struct chan_ops *ops, char *err, size_t errlen)
{
	if (ops == NULL) {
		snprintf(err, errlen, "the entry function returned NULL instead of an ops table");
		return CHAN_PLUGIN_TABLE;
	}
	if (ops->abi_version < CHAN_ABI_VERSION_MIN || ops->abi_version > CHAN_ABI_VERSION) {
		snprintf(err, errlen, "ABI version %u is not supported (this suite takes %u to %u)",
		         ops->abi_version, CHAN_ABI_VERSION_MIN, CHAN_ABI_VERSION);
		return CHAN_PLUGIN_ABI;
	}
	size_t v1_size = offsetof(struct chan_ops, len) + sizeof ops->len;
	if (ops->size < v1_size) {
		snprintf(err, errlen, "table size %u is smaller than a version-1 table (%zu bytes)",
		         ops->size, v1_size);
		return CHAN_PLUGIN_TABLE;
	}
	if (!chan_registry_name_is_valid(ops->name)) {
		snprintf(err, errlen, "name must be 1-64 characters of [a-z0-9_.-]");
		return CHAN_PLUGIN_TABLE;
	}
	if (ops->description == NULL) {
		snprintf(err, errlen, "'%s': description is NULL", ops->name);
		return CHAN_PLUGIN_TABLE;
	}
	const char *missing = !ops->create ? "create"
	                      : !ops->destroy ? "destroy"
	                      : !ops->send    ? "send"
	                      : !ops->recv    ? "recv"
	                      : !ops->close   ? "close"
	                      : !ops->len     ? "len"
	                                      : NULL;
	if (missing != NULL) {
		snprintf(err, errlen, "'%s': required operation '%s' is NULL", ops->name, missing);
		return CHAN_PLUGIN_TABLE;
	}
	/* Version-2 capabilities need their slots, in a table large enough to hold them. */
	struct chan_ops full;
	normalize(&full, ops);
	if ((ops->caps & CHAN_CAP_SELECT) &&
	    (!full.register_waiter || !full.unregister_waiter || !full.ready)) {
		snprintf(err, errlen,
		         "'%s': declares select but register_waiter, unregister_waiter or ready is "
		         "missing (ABI version %u, table size %u)",
		         ops->name, ops->abi_version, ops->size);
		return CHAN_PLUGIN_TABLE;
	}
	if ((ops->caps & CHAN_CAP_BATCH) && (!full.send_batch || !full.recv_batch)) {
		snprintf(err, errlen,
		         "'%s': declares batch but send_batch or recv_batch is missing (ABI version "
		         "%u, table size %u)",
		         ops->name, ops->abi_version, ops->size);
		return CHAN_PLUGIN_TABLE;
	}
	if (!(ops->caps & (CHAN_CAP_BOUNDED | CHAN_CAP_RENDEZVOUS | CHAN_CAP_UNBOUNDED))) {
		snprintf(err, errlen, "'%s': caps declare no capacity kind (bounded, rendezvous, unbounded)",
		         ops->name);
		return CHAN_PLUGIN_TABLE;
	}
	return CHAN_OK;
}

chan_status chan_registry_add(const struct chan_ops *ops, char *err, size_t errlen)
{
	chan_status st = CHAN_OK;
	pthread_mutex_lock(&plugins_lock);
	size_t n = atomic_load_explicit(&n_plugins, memory_order_relaxed);
	if (chan_registry_find(ops->name) != NULL) {
		snprintf(err, errlen, "an implementation named '%s' is already registered", ops->name);
		st = CHAN_EXISTS;
	} else if (n == MAX_PLUGINS) {
		snprintf(err, errlen, "too many plug-ins (at most %d)", MAX_PLUGINS);
		st = CHAN_ENOMEM;
	} else {
		normalize(&plugins[n], ops);
		atomic_store_explicit(&n_plugins, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&plugins_lock);
	return st;
}
