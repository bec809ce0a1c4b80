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

#define CHAN_ABI_VERSION 1u
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
	/* Reserved for later ABI versions: */
	CHAN_CAP_SELECT = 1u << 8,
	CHAN_CAP_POLLFD = 1u << 9,
	CHAN_CAP_BATCH = 1u << 10,
	/* Not a channel: a non-blocking reference ("limit") shown for context. */
	CHAN_CAP_REFERENCE = 1u << 31,
};

#define CHAN_CAPS_FULL                                                                    \
	(CHAN_CAP_BOUNDED | CHAN_CAP_RENDEZVOUS | CHAN_CAP_UNBOUNDED | CHAN_CAP_MPMC |        \
	 CHAN_CAP_BLOCKING | CHAN_CAP_TIMED | CHAN_CAP_CLOSE | CHAN_CAP_LEN)

struct chan_ops;

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
};

/* The entry symbol a plug-in exports. */
#define CHAN_PLUGIN_ENTRY "chanbench_plugin_entry"
typedef const struct chan_ops *(*chan_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
