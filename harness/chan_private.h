/*
 * The shared layer's private view of a channel: the wrapper behind chan_t, used
 * by chan_api.c (dispatch, handles) and chan_select.c (select, poll fds, batches).
 */
#ifndef CHANBENCH_CHAN_PRIVATE_H
#define CHANBENCH_CHAN_PRIVATE_H

#include <stdatomic.h>
#include <stdbool.h>

#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"

#define CHAN_MAGIC_LIVE 0x4348414eu /* "CHAN" */
#define CHAN_MAGIC_DEAD 0x44454144u /* "DEAD" */
#define QUARANTINE_SLOTS 256

struct chan_poll; /* chan_select.c: a poll fd and its observer waiter */

struct chan {
	_Atomic uint32_t magic;
	struct chan_base *impl;
	const struct chan_ops *ops; /* the registry's normalized table (all v2 slots readable) */
	size_t cap;
	chan_undelivered_fn undelivered;
	void *undelivered_ctx;
	atomic_long senders;
	atomic_long receivers;
	atomic_bool drained; /* buffered messages handed to the callback already */
	/* Poll fds, [0] recv side, [1] send side; NULL until chan_pollfd asks. */
	_Atomic(struct chan_poll *) poll[2];
};

/* CHAN_OK if ch is a live channel, else why not. */
static inline chan_status chan_check(const chan_t *ch)
{
	if (ch == NULL)
		return CHAN_EINVAL;
	uint32_t m = atomic_load_explicit(&ch->magic, memory_order_acquire);
	if (m == CHAN_MAGIC_LIVE)
		return CHAN_OK;
	return m == CHAN_MAGIC_DEAD ? CHAN_DESTROYED : CHAN_EINVAL;
}

/* chan_select.c: after a send (recv) that found no room (nothing), clear the
 * channel's send (recv) poll fd unless it became ready meanwhile. */
void chan_poll_rearm(struct chan *ch, int dir);
/* chan_select.c: unregister and close the poll fds (destroy). */
void chan_poll_release(struct chan *ch);

static inline void chan_poll_after(struct chan *ch, int dir, chan_status st)
{
	if ((st == CHAN_EMPTY || st == CHAN_FULL || st == CHAN_TIMEOUT) &&
	    atomic_load_explicit(&ch->poll[dir == CHAN_DIR_SEND], memory_order_relaxed) != NULL)
		chan_poll_rearm(ch, dir);
}

#endif
