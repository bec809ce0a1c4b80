/*
 * chanbench kinds interface: what a broadcast, watch or oneshot implementation
 * fills in. One versioned ops table per kind, built like struct chan_ops
 * (chan_impl.h): abi_version, size (sizeof the table as compiled, so slots can
 * be appended later under a "valid for version N" comment), name,
 * description, caps, then the operations. An implementation is one file in
 * impls/kinds/ with one `static const` table; its object struct begins with
 * the kind's base struct (a pointer back to the table). Built-ins are listed
 * in harness/kinds_registry.c; a shared object adds its own (kind plug-ins,
 * at the end of this file).
 *
 * What the shared layer (harness/kinds_api.c) does, so an implementation need
 * not: argument checks (NULL, capacity range), the registry, counting the
 * receivers (a send with none fails there with CHAN_CLOSED before it reaches
 * the implementation), freeing receivers still subscribed at destroy, the
 * oneshot's two handles (the sender's is given up once; the object is destroyed
 * when both are). The implementation receives a deadline as chan_impl.h
 * describes: CHAN_FOREVER, CHAN_NOWAIT (0), or an absolute CLOCK_MONOTONIC ns
 * time that may have passed already (then it behaves as a try, but reports
 * CHAN_TIMEOUT instead of CHAN_EMPTY).
 */
#ifndef CHANBENCH_KINDS_IMPL_H
#define CHANBENCH_KINDS_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"
#include "kinds.h"

#ifdef __cplusplus
extern "C" {
#endif

#define KIND_ABI_VERSION 1u

enum kind_cap_bits {
	KIND_CAP_BLOCKING = 1u << 0,     /* recv / changed with CHAN_FOREVER park the caller */
	KIND_CAP_TIMED = 1u << 1,        /* finite deadlines honoured */
	KIND_CAP_MULTI_SENDER = 1u << 2, /* concurrent sends from several threads */
	KIND_CAP_LOCKFREE_RECV = 1u << 3, /* a receiver that finds data takes no lock */
};

#define KIND_CAPS_FULL (KIND_CAP_BLOCKING | KIND_CAP_TIMED | KIND_CAP_MULTI_SENDER)

/* ---- broadcast ----
 *   create(ops, cap, out)     cap in 1..CHAN_MAX_CAPACITY; exactly cap retained
 *   destroy(b)                every receiver was unsubscribed; no thread uses b
 *   subscribe(b, out)         a receiver positioned at the tail; CHAN_CLOSED once closed
 *   unsubscribe(rx)           free rx (no thread uses it)
 *   send(b, msg)              never blocks; overwrites the oldest when full;
 *                             CHAN_CLOSED once closed; wakes every parked receiver
 *   recv(rx, msg, missed, dl) *missed = messages lost just before *msg (always set);
 *                             CHAN_CLOSED only when closed and nothing retained is
 *                             left unread by rx
 *   close(b)                  CHAN_OK / CHAN_ALREADY_CLOSED; wakes every receiver */
struct bcast_ops;
struct bcast_base {
	const struct bcast_ops *ops;
};
struct bcast_rx_base {
	struct bcast_base *b;
};

struct bcast_ops {
	uint32_t abi_version; /* KIND_ABI_VERSION when compiled */
	uint32_t size;        /* sizeof(struct bcast_ops) when compiled */
	const char *name;
	const char *description;
	uint64_t caps; /* kind_cap_bits */
	/* valid for version 1 */
	chan_status (*create)(const struct bcast_ops *ops, size_t cap, struct bcast_base **out);
	void (*destroy)(struct bcast_base *b);
	chan_status (*subscribe)(struct bcast_base *b, struct bcast_rx_base **out);
	void (*unsubscribe)(struct bcast_rx_base *rx);
	chan_status (*send)(struct bcast_base *b, uintptr_t msg);
	chan_status (*recv)(struct bcast_rx_base *rx, uintptr_t *msg, uint64_t *missed,
	                    chan_deadline deadline);
	chan_status (*close)(struct bcast_base *b);
};

/* ---- watch ----
 *   create(ops, initial, out) version 0 holds `initial`
 *   subscribe(w, out)         a receiver that has seen the current version
 *   send(w, v)                never blocks; version + 1; wakes every waiting receiver;
 *                             CHAN_CLOSED once closed
 *   borrow(rx, v, version)    the latest value and version (both pointers non-NULL)
 *   changed(rx, v, dl)        see kinds.h; v non-NULL
 *   close(w)                  CHAN_OK / CHAN_ALREADY_CLOSED; wakes every receiver */
struct watch_ops;
struct watch_base {
	const struct watch_ops *ops;
};
struct watch_rx_base {
	struct watch_base *w;
};

struct watch_ops {
	uint32_t abi_version;
	uint32_t size;
	const char *name;
	const char *description;
	uint64_t caps;
	/* valid for version 1 */
	chan_status (*create)(const struct watch_ops *ops, uintptr_t initial, struct watch_base **out);
	void (*destroy)(struct watch_base *w);
	chan_status (*subscribe)(struct watch_base *w, struct watch_rx_base **out);
	void (*unsubscribe)(struct watch_rx_base *rx);
	chan_status (*send)(struct watch_base *w, uintptr_t v);
	void (*borrow)(struct watch_rx_base *rx, uintptr_t *v, uint64_t *version);
	chan_status (*changed)(struct watch_rx_base *rx, uintptr_t *v, chan_deadline deadline);
	chan_status (*close)(struct watch_base *w);
};

/* ---- oneshot ----
 * The shared layer calls send at most once, sender_drop only if send was not
 * called, receiver_drop at most once, recv never after receiver_drop, and
 * destroy once (after both sides gave up their handle, or for cleanup).
 *   send(o, v)          CHAN_OK, or CHAN_CLOSED if receiver_drop came first
 *   recv(o, v, dl)      CHAN_OK once with the value; CHAN_CLOSED after that, or if
 *                       sender_drop came without a send
 *   sender_drop(o)      the sender is gone without sending: wake the receiver
 *   receiver_drop(o)    later sends fail */
struct oneshot_ops;
struct oneshot_base {
	const struct oneshot_ops *ops;
};

struct oneshot_ops {
	uint32_t abi_version;
	uint32_t size;
	const char *name;
	const char *description;
	uint64_t caps;
	/* valid for version 1 */
	chan_status (*create)(const struct oneshot_ops *ops, struct oneshot_base **out);
	void (*destroy)(struct oneshot_base *o);
	chan_status (*send)(struct oneshot_base *o, uintptr_t v);
	chan_status (*recv)(struct oneshot_base *o, uintptr_t *v, chan_deadline deadline);
	void (*sender_drop)(struct oneshot_base *o);
	void (*receiver_drop)(struct oneshot_base *o);
};

/* ---- kind plug-ins ----
 * A shared object gives kind implementations to the suite by exporting
 *
 *     const struct kinds_plugin *chanbench_kinds_plugin_entry(void);
 *
 * beside, or instead of, chanbench_plugin_entry (chan_impl.h). chan_plugin_load
 * (chan.h) looks for both: it registers the channel table if there is one, and
 * every kind table named here, all or nothing (a bad table refuses the file).
 * A kind table's name must be new for its kind; it is reported as
 * "<kind>-<name>" (bcast-tokio). The entry's pointers, the tables and their
 * strings must stay valid while the object is loaded (it is never unloaded).
 * A table is checked as a built-in would be trusted: abi_version
 * KIND_ABI_VERSION, size at least its version-1 size, a name of 1-64 characters
 * of [a-z0-9_.-], a description, only known caps bits, and every operation
 * non-NULL. */
#define KINDS_PLUGIN_ENTRY "chanbench_kinds_plugin_entry"

struct kinds_plugin {
	uint32_t abi_version; /* KIND_ABI_VERSION when compiled */
	uint32_t size;        /* sizeof(struct kinds_plugin) when compiled */
	/* valid for version 1; NULL: the object has no implementation of that kind */
	const struct bcast_ops *bcast;
	const struct watch_ops *watch;
	const struct oneshot_ops *oneshot;
};

typedef const struct kinds_plugin *(*kinds_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
