/*
 * chanbench implementation interface: what a channel implementation fills in.
 *
 * One versioned table of function pointers is the whole contract between the
 * suite and an implementation (the model is SQLite's sqlite3_vfs). An
 * implementation is one `static const struct chan_ops` plus static functions in
 * one file; its channel struct begins with `struct chan_base` (a pointer back
 * to the table). A plug-in is a shared object that exports one function,
 *
 *     const struct chan_ops *chanbench_plugin_entry(void);
 *
 * returning its table. Built-ins are listed in harness/registry.c.
 *
 * What the shared layer (harness/) does, so an implementation need not:
 *   - argument checks (NULL, capacity range, destroyed channel, capability);
 *   - cap(), handle counting, and delivery of undelivered messages to the user's
 *     callback: on destroy and on disconnect it calls close, then drains with
 *     recv(CHAN_NOWAIT) until it returns CHAN_CLOSED, then (destroy) destroy;
 *   - deadline conversion: the implementation receives an absolute
 *     CLOCK_MONOTONIC deadline in ns, CHAN_FOREVER, or an already-passed one.
 *
 * What each operation must do (CONFORMANCE.md has the full contract):
 *   create(ops, cap, out)  cap is 0, 1..CHAN_MAX_CAPACITY or CHAN_UNBOUNDED and
 *                          is declared in caps; store a new channel in *out.
 *   destroy(ch)            free it; no thread uses it any more, and it is empty.
 *   send(ch, msg, dl)      CHAN_OK once the message is buffered (rendezvous: taken
 *                          by a receiver); CHAN_FULL if dl passed (incl. NOWAIT)
 *                          and nothing was possible at the first attempt, else
 *                          CHAN_TIMEOUT; CHAN_CLOSED if closed. On failure the
 *                          message was not taken. A passed deadline still sends
 *                          if room is there.
 *   recv(ch, &msg, dl)     CHAN_OK with the oldest message; CHAN_EMPTY (no wait)
 *                          or CHAN_TIMEOUT; CHAN_CLOSED only once closed AND empty.
 *   close(ch)              CHAN_OK, or CHAN_ALREADY_CLOSED; wakes every waiter.
 *   len(ch)                messages buffered (0 for rendezvous).
 *
 * Try versus timed: when the deadline is CHAN_NOWAIT (0), a failure is reported as
 * CHAN_FULL / CHAN_EMPTY; for any other deadline that passes, CHAN_TIMEOUT.
 *
 * Versioning. New slots are only ever appended, under a "valid for version N"
 * comment; `size` is sizeof(struct chan_ops) as the implementation was compiled,
 * so the loader knows which slots exist. A table of an older version keeps
 * working: the newer features are simply reported as not supported.
 */
#ifndef CHANBENCH_CHAN_IMPL_H
#define CHANBENCH_CHAN_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CHAN_ABI_VERSION 2u
#define CHAN_ABI_VERSION_MIN 1u

/* Capability bits: what the implementation declares. A test or scenario that
 * needs one it lacks reports "n/a". */
enum chan_cap_bits {
	CHAN_CAP_BOUNDED = 1u << 0,    /* capacity N >= 1 */
	CHAN_CAP_RENDEZVOUS = 1u << 1, /* capacity 0, true hand-off */
	CHAN_CAP_UNBOUNDED = 1u << 2,  /* CHAN_UNBOUNDED */
	CHAN_CAP_MPMC = 1u << 3,       /* any number of concurrent senders and receivers */
	CHAN_CAP_BLOCKING = 1u << 4,   /* send/recv with CHAN_FOREVER park the caller */
	CHAN_CAP_TIMED = 1u << 5,      /* finite deadlines honoured */
	CHAN_CAP_CLOSE = 1u << 6,      /* close with drain and wake-ups */
	CHAN_CAP_LEN = 1u << 7,        /* len() is meaningful */
	/* ABI version 2: */
	CHAN_CAP_SELECT = 1u << 8, /* register_waiter / unregister_waiter / ready (chan_waiter.h) */
	CHAN_CAP_POLLFD = 1u << 9, /* set by the registry for every SELECT implementation */
	CHAN_CAP_BATCH = 1u << 10, /* send_batch / recv_batch */
	/* Not a channel: a non-blocking reference ("limit") shown for context. */
	CHAN_CAP_REFERENCE = 1u << 31,
};

#define CHAN_CAPS_FULL                                                                    \
	(CHAN_CAP_BOUNDED | CHAN_CAP_RENDEZVOUS | CHAN_CAP_UNBOUNDED | CHAN_CAP_MPMC |        \
	 CHAN_CAP_BLOCKING | CHAN_CAP_TIMED | CHAN_CAP_CLOSE | CHAN_CAP_LEN)

struct chan_ops;
struct chan_waiter; /* chan_waiter.h */

/* The first member of every implementation's channel struct. */
struct chan_base {
	const struct chan_ops *ops;
};

struct chan_ops {
	uint32_t abi_version;    /* CHAN_ABI_VERSION when compiled */
	uint32_t size;           /* sizeof(struct chan_ops) when compiled */
	const char *name;        /* short, [a-z0-9_-]+, unique */
	const char *description; /* one line */
	uint64_t caps;           /* chan_cap_bits */

	/* valid for version 1 */
	chan_status (*create)(const struct chan_ops *ops, size_t cap, struct chan_base **out);
	void (*destroy)(struct chan_base *ch);
	chan_status (*send)(struct chan_base *ch, uintptr_t msg, chan_deadline deadline);
	chan_status (*recv)(struct chan_base *ch, uintptr_t *msg, chan_deadline deadline);
	chan_status (*close)(struct chan_base *ch);
	size_t (*len)(struct chan_base *ch);

	/* valid for version 2: NULL where the capability is not declared.
	 * Select hooks (CHAN_CAP_SELECT); the protocol is in chan_waiter.h.
	 *   register_waiter(ch, w)    queue w (w->dir says which side) until unregistered;
	 *                             from then on, notify or claim it as chan_waiter.h says.
	 *                             CHAN_OK, or CHAN_ENOMEM.
	 *   unregister_waiter(ch, w)  remove w if still queued (it may have been removed by
	 *                             the implementation already); after it returns the
	 *                             implementation never touches w again.
	 *   ready(ch, dir)            non-zero if a send (CHAN_DIR_SEND) / recv (CHAN_DIR_RECV)
	 *                             with CHAN_NOWAIT would not fail with FULL / EMPTY right
	 *                             now (closed counts as ready); consumes nothing. Waiters
	 *                             of the calling thread do not count (S5). A
	 *                             selector calls ready() right after registering:
	 *                             the implementation must order them against an
	 *                             operation's state change and its look at the
	 *                             waiters (one lock for both, or seq_cst accesses),
	 *                             or a notify falls between them and is lost.
	 * Batches (CHAN_CAP_BATCH): chan.h's chan_send_batch / chan_recv_batch, same
	 * contract; the shared layer has already checked the arguments (n >= 1). */
	chan_status (*register_waiter)(struct chan_base *ch, struct chan_waiter *w);
	void (*unregister_waiter)(struct chan_base *ch, struct chan_waiter *w);
	int (*ready)(struct chan_base *ch, int dir);
	chan_status (*send_batch)(struct chan_base *ch, const uintptr_t *msgs, size_t n,
	                          size_t *done, chan_deadline deadline);
	chan_status (*recv_batch)(struct chan_base *ch, uintptr_t *msgs, size_t n, size_t *done,
	                          chan_deadline deadline);
};

/* Whether table t (of t->size bytes) has slot `member`. */
#define CHAN_OPS_HAS(t, member)                                                           \
	((t)->size >= offsetof(struct chan_ops, member) + sizeof((t)->member) && (t)->member != NULL)

/* The entry symbol a plug-in exports. */
#define CHAN_PLUGIN_ENTRY "chanbench_plugin_entry"
typedef const struct chan_ops *(*chan_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
