/*
 * The registry of channel-kind implementations (broadcast, watch, oneshot):
 * the built-ins (listed in kinds_registry.c) and the tables a kind plug-in
 * gives (kinds_impl.h, struct kinds_plugin). Lookups are lock-free reads of
 * lists that only grow; registration is serialised by a mutex.
 */
#ifndef CHANBENCH_KINDS_REGISTRY_H
#define CHANBENCH_KINDS_REGISTRY_H

#include <stddef.h>

#include "chanbench/kinds_impl.h"

/* The table registered under name for that kind, or NULL. */
const struct bcast_ops *kind_registry_bcast(const char *name);
const struct watch_ops *kind_registry_watch(const char *name);
const struct oneshot_ops *kind_registry_oneshot(const char *name);

/* Check every table p names (entry version and size, then each table as
 * kinds_impl.h says) and register them all, or none. CHAN_OK; CHAN_PLUGIN_ABI,
 * CHAN_PLUGIN_TABLE or CHAN_EXISTS with a message in err. *first (if not NULL)
 * is set to the name of the first table registered. */
chan_status kind_registry_add_plugin(const struct kinds_plugin *p, const char **first, char *err,
                                     size_t errlen);

#endif
