/*
 * chanbench channel kinds: broadcast, watch and oneshot (CONFORMANCE B1-B3,
 * W1-W2, O1). The model is tokio::sync::{broadcast, watch, oneshot}; messages
 * are one machine word, as for queue channels (chan.h), and every call returns
 * a chan_status (chan_status_str names it). Deadlines are chan.h's: absolute
 * CLOCK_MONOTONIC ns, CHAN_FOREVER, or CHAN_NOWAIT (a "try": failure is
 * CHAN_EMPTY; any other passed deadline gives CHAN_TIMEOUT).
 *
 * Each kind has its own registry of implementations, chosen by name:
 *   bcast    "mutex" (pthread mutex + condvar), "futex" (seqlock slots, lock-free
 *            receivers, futex parking)
 *   watch    "mutex", "seqlock" (seqlock value, lock-free readers, futex parking)
 *   oneshot  "mutex", "futex" (one atomic state word, futex parking)
 * Their ops tables are in kinds_impl.h. In reports an implementation is named
 * "<kind>-<impl>" ("bcast-futex"), so it is never confused with a queue
 * implementation of the same short name.
 *
 * Messages are words: no undelivered-message callback. A payload passed by
 * pointer through a broadcast is shared by every receiver (the sender keeps
 * ownership); a oneshot value that was sent but never received (the receiver
 * was dropped after the send succeeded) is the sender's to account for, as in
 * tokio.
 *
 * A receiver handle (bcast_rx_t, watch_rx_t, the receiving side of a oneshot)
 * is used by one thread at a time; sends may come from any number of threads.
 */
#ifndef CHANBENCH_KINDS_H
#define CHANBENCH_KINDS_H

#include <stddef.h>
#include <stdint.h>

#include "chan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Registry ----
 * kind is "bcast", "watch" or "oneshot" (CHAN_KIND_*). Unknown kinds have no
 * implementations (count 0, NULL names). */
#define CHAN_KIND_BCAST "bcast"
#define CHAN_KIND_WATCH "watch"
#define CHAN_KIND_ONESHOT "oneshot"

size_t chan_kind_impl_count(const char *kind);
const char *chan_kind_impl_name_at(const char *kind, size_t i); /* NULL past the end */
const char *chan_kind_impl_description(const char *kind, const char *impl);
uint64_t chan_kind_impl_caps(const char *kind, const char *impl); /* 0 for an unknown name */

/* ---- Broadcast (B1-B3) ----
 *
 * A ring of the last `cap` messages (exactly cap, 1..CHAN_MAX_CAPACITY). Every
 * subscribed receiver gets every message, in order, from the moment it
 * subscribed (a new subscriber starts at the tail: it sees only later sends).
 * A send never blocks: when the ring is full it overwrites the oldest message.
 * A receiver that fell more than cap messages behind lost the overwritten ones:
 * its next bcast_recv returns the oldest message still retained and sets
 * *missed to how many it lost just before that one (0 otherwise), so for every
 * receiver, messages received + sum of *missed == messages sent since it
 * subscribed. Lag is per receiver: a slow one never holds the sender or the
 * others back.
 *
 *   bcast_create(impl, cap, &b)      CHAN_EINVAL (cap 0 or too large, NULL),
 *                                    CHAN_NOT_FOUND (no such impl), CHAN_ENOMEM
 *   bcast_subscribe(b, &rx)          a new receiver at the tail; CHAN_CLOSED once closed
 *   bcast_unsubscribe(rx)            frees rx; when the last one goes, sends fail
 *   bcast_send(b, msg)               CHAN_OK; CHAN_CLOSED if closed or if no
 *                                    receiver is subscribed (the value was not taken)
 *   bcast_recv(rx, &msg, &missed, dl)  CHAN_OK (missed may be NULL: then lag is
 *                                    not reported), CHAN_EMPTY / CHAN_TIMEOUT, or
 *                                    CHAN_CLOSED once closed AND this receiver has
 *                                    read every retained message (B3)
 *   bcast_close(b)                   later sends fail; receivers drain, then CLOSED;
 *                                    every blocked receiver wakes. A second close
 *                                    returns CHAN_ALREADY_CLOSED.
 *   bcast_destroy(b)                 frees b and every receiver still subscribed;
 *                                    no thread may use them any more.
 */
typedef struct bcast bcast_t;
typedef struct bcast_rx bcast_rx_t;

chan_status bcast_create(const char *impl, size_t cap, bcast_t **out);
chan_status bcast_destroy(bcast_t *b);
chan_status bcast_subscribe(bcast_t *b, bcast_rx_t **out);
chan_status bcast_unsubscribe(bcast_rx_t *rx);
chan_status bcast_send(bcast_t *b, uintptr_t msg);
chan_status bcast_recv(bcast_rx_t *rx, uintptr_t *msg, uint64_t *missed, chan_deadline deadline);
chan_status bcast_close(bcast_t *b);
size_t bcast_cap(bcast_t *b);              /* 0 for an invalid handle */
size_t bcast_receiver_count(bcast_t *b);   /* receivers subscribed now */
const char *bcast_impl_name(bcast_t *b);

/* ---- Watch (W1-W2) ----
 *
 * One value, the latest sent; a version number counts the sends (0 = the
 * initial value). Each receiver remembers the version it has seen; a new
 * receiver has seen the current one.
 *
 *   watch_create(impl, initial, &w)
 *   watch_subscribe(w, &rx)          CHAN_CLOSED once closed
 *   watch_unsubscribe(rx)            frees rx
 *   watch_send(w, v)                 never blocks: replaces the value and wakes every
 *                                    waiting receiver; CHAN_CLOSED if closed or if no
 *                                    receiver is subscribed (the value is not stored)
 *   watch_borrow(rx, &v, &version)   the latest value and its version (version may
 *                                    be NULL); does not mark it seen
 *   watch_changed(rx, &v, dl)        waits until a version newer than the one this
 *                                    receiver has seen exists, marks it seen and
 *                                    returns CHAN_OK with its value (v may be NULL).
 *                                    CHAN_EMPTY / CHAN_TIMEOUT; CHAN_CLOSED once closed
 *                                    and the final value was seen (W2)
 *   watch_close(w)                   later sends fail; every waiting receiver wakes;
 *                                    CHAN_ALREADY_CLOSED the second time
 *   watch_destroy(w)                 frees w and every receiver still subscribed
 */
typedef struct watch watch_t;
typedef struct watch_rx watch_rx_t;

chan_status watch_create(const char *impl, uintptr_t initial, watch_t **out);
chan_status watch_destroy(watch_t *w);
chan_status watch_subscribe(watch_t *w, watch_rx_t **out);
chan_status watch_unsubscribe(watch_rx_t *rx);
chan_status watch_send(watch_t *w, uintptr_t v);
chan_status watch_borrow(watch_rx_t *rx, uintptr_t *v, uint64_t *version);
chan_status watch_changed(watch_rx_t *rx, uintptr_t *v, chan_deadline deadline);
chan_status watch_close(watch_t *w);
size_t watch_receiver_count(watch_t *w);
const char *watch_impl_name(watch_t *w);

/* ---- Oneshot (O1) ----
 *
 * One value from one sender to one receiver. Each side holds one handle and
 * gives it up exactly once; the oneshot frees itself when both have:
 *   sender:   oneshot_send (which gives up the handle whatever it returns) or
 *             oneshot_sender_drop (without sending: the receiver then sees CLOSED);
 *   receiver: oneshot_receiver_drop (after the recv, or instead of it: a later
 *             send fails with CHAN_CLOSED and the sender keeps its value).
 *
 *   oneshot_create(impl, &o)
 *   oneshot_send(o, v)         CHAN_OK (v is the receiver's), CHAN_CLOSED (the
 *                              receiver is gone; v was not taken), CHAN_NO_HANDLE
 *                              (the sender already sent or dropped)
 *   oneshot_recv(o, &v, dl)    CHAN_OK with the value (once); CHAN_CLOSED if the
 *                              sender went away without sending, or the value was
 *                              already received; CHAN_EMPTY / CHAN_TIMEOUT;
 *                              CHAN_NO_HANDLE after oneshot_receiver_drop
 *   oneshot_sender_drop(o), oneshot_receiver_drop(o)   CHAN_OK, or CHAN_NO_HANDLE
 *                              if that side already gave its handle up
 *   oneshot_destroy(o)         frees it now, whatever the handles (cleanup); no
 *                              thread may use it any more
 * Once both handles are given up, o is freed and must not be used at all.
 */
typedef struct oneshot oneshot_t;

chan_status oneshot_create(const char *impl, oneshot_t **out);
chan_status oneshot_destroy(oneshot_t *o);
chan_status oneshot_send(oneshot_t *o, uintptr_t v);
chan_status oneshot_recv(oneshot_t *o, uintptr_t *v, chan_deadline deadline);
chan_status oneshot_sender_drop(oneshot_t *o);
chan_status oneshot_receiver_drop(oneshot_t *o);
const char *oneshot_impl_name(oneshot_t *o);

#ifdef __cplusplus
}
#endif
#endif
