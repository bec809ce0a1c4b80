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
	CHAN_PLUGIN_SYMBOL = 13, /* plug-in: neither entry symbol (channel, kinds) exported */
	CHAN_PLUGIN_ABI = 14,    /* plug-in: ABI version not supported */
	CHAN_PLUGIN_TABLE = 15,  /* plug-in: ops table incomplete or inconsistent */
	CHAN_EXISTS = 16,        /* plug-in: an implementation of that name is registered */
	CHAN_NOT_READY = 17,     /* select with CHAN_NOWAIT (a default case): no case was ready */
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

/* ---- Select (CONFORMANCE S1-S7; implementations declaring CHAN_CAP_SELECT) ----
 *
 * A case is a send or a receive on one channel. chan_select waits until one case
 * can proceed, commits exactly that one (the others take and give nothing) and
 * returns its status: CHAN_OK, or CHAN_CLOSED for a case whose channel is closed
 * (a closed channel counts as ready: recv once drained, send at once). *chosen is
 * the case's index; a received value is in cases[*chosen].msg.
 *   deadline CHAN_NOWAIT   Go's `default:` case: CHAN_NOT_READY if nothing was ready;
 *   deadline passes        CHAN_TIMEOUT (nothing committed);
 *   CHAN_SELECT_FAIR       (0) ready cases are tried in a random order each time;
 *   CHAN_SELECT_BIASED     the first ready case in array order wins.
 * A case with ch == NULL is never ready (Go's nil channel), so a loop can switch
 * cases off. A blocking select needs CHAN_CAP_SELECT on every case's channel (else
 * CHAN_UNSUPPORTED); a CHAN_NOWAIT select works on any implementation. Sending and
 * receiving on the same channel in one select is allowed; it never pairs with
 * itself (S5). Every case off: CHAN_NOT_READY with CHAN_NOWAIT, CHAN_TIMEOUT at a
 * finite deadline, CHAN_EINVAL with CHAN_FOREVER (it could never return). n is
 * 1..CHAN_SELECT_MAX_CASES. */
enum chan_dir { CHAN_DIR_RECV = 1, CHAN_DIR_SEND = 2 };

typedef struct chan_case {
	chan_t *ch;    /* NULL: this case is off */
	int dir;       /* CHAN_DIR_SEND or CHAN_DIR_RECV */
	uintptr_t msg; /* send: the value to send; recv: the value received */
} chan_case;

#define CHAN_SELECT_FAIR 0u
#define CHAN_SELECT_BIASED 1u
#define CHAN_SELECT_MAX_CASES 64

chan_status chan_select(chan_case *cases, size_t n, unsigned flags, chan_deadline deadline,
                        size_t *chosen);

/* ---- Poll fd: the bridge to event loops (CONFORMANCE P1-P2; CHAN_CAP_POLLFD) ----
 *
 * chan_pollfd(ch, CHAN_DIR_RECV, &fd) gives a non-blocking eventfd that is readable
 * (EPOLLIN) while a recv on ch would not block: a message is there, or the channel
 * is closed. CHAN_DIR_SEND: readable while a send would not block. The fd belongs
 * to the channel: the same fd is returned each time, and chan_destroy closes it.
 * Protocol (level-triggered, no busy loop): when the fd polls readable, call
 * chan_try_recv (chan_try_send) until it returns CHAN_EMPTY (CHAN_FULL) or
 * CHAN_CLOSED; that EMPTY (FULL) result clears the fd unless the channel became
 * ready again meanwhile. Do not read the fd yourself. After close it stays readable. */
chan_status chan_pollfd(chan_t *ch, int dir, int *fd);

/* ---- Batches (CHAN_CAP_BATCH makes them faster than a loop; they work everywhere) ----
 *
 * chan_send_batch sends msgs[0..n) in order, blocking as a send would, until all
 * were sent (CHAN_OK) or one fails (its status: CHAN_CLOSED, CHAN_TIMEOUT, CHAN_FULL
 * with CHAN_NOWAIT); *done is how many were sent, a prefix: the caller keeps the rest.
 * chan_recv_batch waits like a recv for the first message, then takes whatever else
 * is ready at once, up to n; CHAN_OK with *done >= 1, or the status of that first
 * recv (CHAN_EMPTY, CHAN_TIMEOUT, CHAN_CLOSED) with *done == 0. A batch of n == 0
 * is CHAN_OK with *done == 0 at once. */
chan_status chan_send_batch(chan_t *ch, const uintptr_t *msgs, size_t n, size_t *done,
                            chan_deadline deadline);
chan_status chan_recv_batch(chan_t *ch, uintptr_t *msgs, size_t n, size_t *done,
                            chan_deadline deadline);

/* Registry: built-ins first, then loaded plug-ins, in load order. */
size_t chan_impl_count(void);
const char *chan_impl_name_at(size_t i);          /* NULL past the end */
const char *chan_impl_description(const char *impl);
uint64_t chan_impl_caps(const char *impl);        /* 0 for an unknown name */

/* Load a plug-in: a shared object exporting CHAN_PLUGIN_ENTRY (a channel, see
 * chan_impl.h), KINDS_PLUGIN_ENTRY (broadcast, watch and oneshot tables, see
 * kinds_impl.h), or both. Each table is registered under the name it gives
 * (kind tables in their kind's registry, kinds.h). On failure, a message saying
 * what is wrong is written to err (if errlen > 0) and no table of the file is
 * registered, unless the kind tables were registered and the channel table
 * then refused (CHAN_EXISTS). On success *name (if not NULL) points at the
 * channel's name, or for a file with kind tables only at the first kind
 * table's name. */
chan_status chan_plugin_load(const char *path, const char **name, char *err, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
