/*
 * chanbench channel API: what a program that uses a channel calls.
 *
 * A channel moves one machine word (uintptr_t) per message from senders to
 * receivers, first in first out, many senders and many receivers at once.
 * Capacity:
 *   0                 rendezvous: a send returns only once a receiver took the value;
 *   N >= 1            bounded: exactly N messages buffered, then senders block;
 *   CHAN_UNBOUNDED    unbounded: a send never blocks and never reports FULL.
 *
 * Every operation is implemented by an implementation chosen by name ("mutex",
 * "futex", "ck", or a plug-in loaded with chan_plugin_load); this layer checks
 * arguments, counts handles and delivers undelivered messages, once, for all of
 * them.
 *
 * Deadlines are absolute CLOCK_MONOTONIC times in nanoseconds:
 *   CHAN_FOREVER   block until done (or closed);
 *   CHAN_NOWAIT    (0) never block: a "try" operation;
 *   chan_deadline_after(ns)   now + ns.
 * A deadline that has already passed behaves exactly like CHAN_NOWAIT: a ready
 * message is still taken, a free slot still used (CONFORMANCE T2).
 *
 * Status, not errno: every call returns a chan_status; chan_status_str names it.
 * A send that fails did not take the value: the caller still owns it.
 *
 * Handles. A new channel has one sender and one receiver reference. Clone and
 * drop them as threads come and go:
 *   - when the last sender is dropped, the channel is closed (receivers drain
 *     what is buffered, then see CHAN_CLOSED);
 *   - when the last receiver is dropped, every blocked and every later send fails
 *     with CHAN_CLOSED, and every message still buffered is handed to the
 *     undelivered-message callback, exactly once.
 * chan_destroy frees the channel; the messages still buffered then are handed to
 * the callback too. Destroy only once no thread uses the channel any more.
 * A recently destroyed channel is detected and reported as CHAN_DESTROYED.
 */
#ifndef CHANBENCH_CHAN_H
#define CHANBENCH_CHAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum chan_status {
	CHAN_OK = 0,
	CHAN_EMPTY = 1,          /* non-blocking recv: nothing ready */
	CHAN_FULL = 2,           /* non-blocking send: no room (or no receiver waiting, rendezvous) */
	CHAN_TIMEOUT = 3,        /* the deadline passed first; nothing was taken */
	CHAN_CLOSED = 4,         /* send: channel closed or receivers gone; recv: closed and drained */
	CHAN_ALREADY_CLOSED = 5, /* close of a closed channel (harmless) */
	CHAN_EINVAL = 6,         /* invalid argument: NULL pointer, impossible capacity, ... */
	CHAN_ENOMEM = 7,         /* out of memory */
	CHAN_UNSUPPORTED = 8,    /* the implementation does not declare that capability */
	CHAN_NOT_FOUND = 9,      /* no implementation of that name */
	CHAN_DESTROYED = 10,     /* the channel was destroyed */
	CHAN_NO_HANDLE = 11,     /* drop or clone of a handle kind that has none left */
	CHAN_PLUGIN_OPEN = 12,   /* plug-in: file missing or not a loadable shared object */
	CHAN_PLUGIN_SYMBOL = 13, /* plug-in: entry symbol CHAN_PLUGIN_ENTRY missing */
	CHAN_PLUGIN_ABI = 14,    /* plug-in: ABI version not supported */
	CHAN_PLUGIN_TABLE = 15,  /* plug-in: ops table incomplete or inconsistent */
	CHAN_EXISTS = 16,        /* plug-in: an implementation of that name is registered */
} chan_status;

/* A short, stable, lower-case name for a status ("ok", "closed", ...). */
const char *chan_status_str(chan_status s);

/* Capacity value for an unbounded channel. */
#define CHAN_UNBOUNDED ((size_t)-1)
/* Largest bounded capacity accepted (larger is CHAN_EINVAL). */
#define CHAN_MAX_CAPACITY ((size_t)1 << 30)

typedef int64_t chan_deadline;
#define CHAN_FOREVER ((chan_deadline)INT64_MAX)
#define CHAN_NOWAIT ((chan_deadline)0)

/* CLOCK_MONOTONIC now, in nanoseconds. */
int64_t chan_now_ns(void);
/* now + ns; ns <= 0 gives an already-passed deadline. */
chan_deadline chan_deadline_after(int64_t ns);

typedef struct chan chan_t;
typedef void (*chan_undelivered_fn)(uintptr_t msg, void *ctx);

typedef struct chan_config {
	/* Called once per message that no receiver will ever get (see above). */
	chan_undelivered_fn undelivered;
	void *undelivered_ctx;
} chan_config;

/* Create a channel of implementation `impl` (registered name) with capacity
 * `cap` (0, 1..CHAN_MAX_CAPACITY, or CHAN_UNBOUNDED). cfg may be NULL. */
chan_status chan_create(const char *impl, size_t cap, const chan_config *cfg, chan_t **out);
/* Free the channel. Buffered messages go to the undelivered callback. */
chan_status chan_destroy(chan_t *ch);

/* The general entries: one per direction, with a deadline. */
chan_status chan_send_until(chan_t *ch, uintptr_t msg, chan_deadline deadline);
chan_status chan_recv_until(chan_t *ch, uintptr_t *msg, chan_deadline deadline);

/* Wrappers. *_timeout take a relative time in nanoseconds. */
chan_status chan_send(chan_t *ch, uintptr_t msg);
chan_status chan_recv(chan_t *ch, uintptr_t *msg);
chan_status chan_try_send(chan_t *ch, uintptr_t msg);
chan_status chan_try_recv(chan_t *ch, uintptr_t *msg);
chan_status chan_send_timeout(chan_t *ch, uintptr_t msg, int64_t ns);
chan_status chan_recv_timeout(chan_t *ch, uintptr_t *msg, int64_t ns);

/* Close: later sends fail; receivers drain, then see CHAN_CLOSED; every blocked
 * sender and receiver wakes. A second close returns CHAN_ALREADY_CLOSED. */
chan_status chan_close(chan_t *ch);

/* Messages buffered now (0 for rendezvous), and the capacity given at creation
 * (CHAN_UNBOUNDED for unbounded). Both 0 for an invalid channel. */
size_t chan_len(chan_t *ch);
size_t chan_cap(chan_t *ch);
/* The implementation's name, or NULL for an invalid channel. */
const char *chan_impl_name(chan_t *ch);

/* Handles (see the top of this file). */
chan_status chan_sender_clone(chan_t *ch);
chan_status chan_sender_drop(chan_t *ch);
chan_status chan_receiver_clone(chan_t *ch);
chan_status chan_receiver_drop(chan_t *ch);

/* Registry: built-ins first, then loaded plug-ins, in load order. */
size_t chan_impl_count(void);
const char *chan_impl_name_at(size_t i);          /* NULL past the end */
const char *chan_impl_description(const char *impl);
uint64_t chan_impl_caps(const char *impl);        /* 0 for an unknown name */

/* Load a plug-in (a shared object exporting CHAN_PLUGIN_ENTRY, see chan_impl.h)
 * and register it under the name its table gives. On failure, a message saying
 * what is wrong is written to err (if errlen > 0). On success *name (if not NULL)
 * points at the registered name. */
chan_status chan_plugin_load(const char *path, const char **name, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
