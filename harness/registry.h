/*
 * The registry of implementations: the built-ins (listed in registry.c) and the
 * plug-ins loaded at run time. Lookups are lock-free reads of a list that only
 * grows; registration is serialised by a mutex.
 */
#ifndef CHANBENCH_REGISTRY_H
#define CHANBENCH_REGISTRY_H

#include <stdbool.h>

#include "chanbench/chan_impl.h"

/* The table registered under name, or NULL. */
const struct chan_ops *chan_registry_find(const char *name);

/* Whether name may name an implementation: 1-64 characters of [a-z0-9_.-]. */
bool chan_registry_name_is_valid(const char *name);

/* Check a table (ABI version, size, required slots, name, caps) before use.
 * CHAN_OK, or CHAN_PLUGIN_ABI / CHAN_PLUGIN_TABLE with a message in err. */
chan_status chan_registry_validate(const struct chan_ops *ops, char *err, size_t errlen);

/* Register a validated table. CHAN_EXISTS if the name is taken. */
chan_status chan_registry_add(const struct chan_ops *ops, char *err, size_t errlen);

#endif
