/*
 * The ck channel's flavors, split as crossbeam-channel splits its own:
 *   ck_bounded.c    capacity N >= 1: a stamped-slot array (Vyukov's bounded MPMC
 *                   queue, crossbeam's array flavor), no lock;
 *   ck_unbounded.c  CHAN_UNBOUNDED: a list of 63-slot blocks (crossbeam's list
 *                   flavor), no lock, one allocation per 63 messages;
 *   ck_zero.c       capacity 0: Go's rendezvous hand-off under a small lock;
 *   ck_chan.c       the registered ops table "ck", which creates the flavor a
 *                   capacity asks for and forwards each call to it.
 * Each flavor's channel struct starts with struct chan_base whose ops point at
 * the flavor's own (unregistered) table, so forwarding is one indirect call.
 */
#ifndef CHANBENCH_CK_FLAVOR_H
#define CHANBENCH_CK_FLAVOR_H

#include "chanbench/chan_impl.h"

#pragma GCC visibility push(hidden) /* internal to libchanbench */
extern const struct chan_ops ck_bounded_ops;
extern const struct chan_ops ck_unbounded_ops;
extern const struct chan_ops ck_zero_ops;

/* The flavors' create functions take the capacity already checked. */
chan_status ck_bounded_create(const struct chan_ops *ops, size_t cap, struct chan_base **out);
chan_status ck_unbounded_create(const struct chan_ops *ops, size_t cap, struct chan_base **out);
chan_status ck_zero_create(const struct chan_ops *ops, size_t cap, struct chan_base **out);
#pragma GCC visibility pop

#endif
