/*
 * Select, poll fds and batches: the parts of the API built on the version-2
 * hooks (register_waiter / unregister_waiter / ready, send_batch / recv_batch).
 * The waiter protocol is in include/chanbench/chan_waiter.h.
 *
 * select: try every case without blocking (in a random order, or in array order
 * when biased); if none is ready, register one waiter per case, ask ready() once
 * more (a change between the try and the registration would otherwise be missed),
 * and sleep on the selector's state word. A NOTIFIED wake-up means "try again";
 * a CLAIMED one means a rendezvous counterpart already did case i for us.
 *
 * Poll fd: a persistent observer waiter whose selector carries an eventfd; a
 * notify writes the eventfd once per arm. A try operation that finds nothing
 * (chan_poll_after in chan_api.c) clears the eventfd, re-arms, and writes it again
 * at once if ready() says the channel became ready meanwhile: level-triggered
 * readiness without a busy loop.
 */
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "chan_private.h"
#include "chanbench/chan_deadline.h"
#include "chanbench/chan_waiter.h"

/* ---- select ------------------------------------------------------------------ */

static uint64_t select_random(void)
{
	static _Thread_local uint64_t x;
	if (x == 0)
		x = (uint64_t)chan_deadline_now_ns() ^ ((uint64_t)(uintptr_t)&x << 16) ^ 0x9e3779b97f4a7c15u;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

/* Sleep while *word == val, until woken or the deadline passes; false on timeout. */
static bool futex_wait_until(_Atomic uint32_t *word, uint32_t val, chan_deadline deadline)
{
	struct timespec ts, *tp = NULL;
	if (deadline != CHAN_FOREVER) {
		if (chan_deadline_passed(deadline))
			return false;
		ts = chan_deadline_timespec(deadline);
		tp = &ts;
	}
	/* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC time. */
	long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET_PRIVATE, val, tp, NULL,
	                 FUTEX_BITSET_MATCH_ANY);
	return !(r == -1 && errno == ETIMEDOUT);
}

/* One non-blocking attempt at a case: CHAN_OK / CHAN_CLOSED commit it, CHAN_EMPTY /
 * CHAN_FULL mean not ready, anything else is an error to report. */
static chan_status select_try(chan_case *c)
{
	struct chan *ch = c->ch;
	chan_status st;
	if (c->dir == CHAN_DIR_SEND)
		st = ch->ops->send(ch->impl, c->msg, CHAN_NOWAIT);
	else
		st = ch->ops->recv(ch->impl, &c->msg, CHAN_NOWAIT);
	chan_poll_after(ch, c->dir, st);
	return st;
}

static chan_status select_check(chan_case *cases, size_t n, chan_deadline deadline, size_t *active)
{
	*active = 0;
	for (size_t i = 0; i < n; i++) {
		if (cases[i].ch == NULL)
			continue;
		chan_status st = chan_check(cases[i].ch);
		if (st != CHAN_OK)
			return st;
		if (cases[i].dir != CHAN_DIR_SEND && cases[i].dir != CHAN_DIR_RECV)
			return CHAN_EINVAL;
		uint64_t caps = cases[i].ch->ops->caps;
		if (deadline != CHAN_NOWAIT && !(caps & CHAN_CAP_SELECT))
			return CHAN_UNSUPPORTED;
		if (deadline != CHAN_NOWAIT && deadline != CHAN_FOREVER && !(caps & CHAN_CAP_TIMED))
			return CHAN_UNSUPPORTED;
		(*active)++;
	}
	return CHAN_OK;
}

chan_status chan_select(chan_case *cases, size_t n, unsigned flags, chan_deadline deadline,
                        size_t *chosen)
{
	if (cases == NULL || chosen == NULL || n == 0 || n > CHAN_SELECT_MAX_CASES ||
	    (flags & ~CHAN_SELECT_BIASED) != 0)
		return CHAN_EINVAL;
	size_t active;
	chan_status st = select_check(cases, n, deadline, &active);
	if (st != CHAN_OK)
		return st;
	if (active == 0 && deadline == CHAN_FOREVER)
		return CHAN_EINVAL; /* every case off: it would block forever */

	uint32_t order[CHAN_SELECT_MAX_CASES];
	struct chan_waiter w[CHAN_SELECT_MAX_CASES];
	struct chan_selector sel;
	sel.owner = pthread_self();
	sel.eventfd = -1;
	atomic_init(&sel.armed, 0);

	for (;;) {
		/* 1. Try every case, without blocking. */
		size_t m = 0;
		for (uint32_t i = 0; i < n; i++)
			if (cases[i].ch != NULL)
				order[m++] = i;
		if (!(flags & CHAN_SELECT_BIASED))
			for (size_t i = m; i > 1; i--) { /* Fisher-Yates */
				size_t j = (size_t)(select_random() % i);
				uint32_t t = order[i - 1];
				order[i - 1] = order[j];
				order[j] = t;
			}
		for (size_t k = 0; k < m; k++) {
			st = select_try(&cases[order[k]]);
			if (st == CHAN_OK || st == CHAN_CLOSED) {
				*chosen = order[k];
				return st;
			}
			if (st != CHAN_EMPTY && st != CHAN_FULL)
				return st;
		}
		if (deadline == CHAN_NOWAIT)
			return CHAN_NOT_READY;
		if (chan_deadline_passed(deadline))
			return CHAN_TIMEOUT;

		/* 2. Register a waiter per case. */
		atomic_store_explicit(&sel.state, CHAN_SEL_WAITING, memory_order_relaxed);
		size_t reg = 0;
		for (; reg < m; reg++) {
			uint32_t i = order[reg];
			struct chan_waiter *x = &w[i];
			*x = (struct chan_waiter){.sel = &sel, .index = i, .dir = cases[i].dir,
			                          .msg = cases[i].dir == CHAN_DIR_SEND ? cases[i].msg : 0,
			                          .status = CHAN_OK};
			atomic_init(&x->done, 0);
			st = cases[i].ch->ops->register_waiter(cases[i].ch->impl, x);
			if (st != CHAN_OK)
				break;
		}

		/* 3. Ready meanwhile? Then abort and try again; else sleep until told. */
		bool timed_out = false;
		uint32_t expect = CHAN_SEL_WAITING;
		if (st != CHAN_OK) {
			(void)atomic_compare_exchange_strong(&sel.state, &expect, CHAN_SEL_ABORTED);
		} else {
			bool ready = false;
			/* register_waiter and ready() are ordered by the implementation (its
			 * lock, or seq_cst accesses): chan_impl.h. */
			for (size_t k = 0; k < m && !ready; k++)
				ready = cases[order[k]].ch->ops->ready(cases[order[k]].ch->impl,
				                                        cases[order[k]].dir) != 0;
			if (ready) {
				(void)atomic_compare_exchange_strong(&sel.state, &expect, CHAN_SEL_ABORTED);
			} else {
				while (atomic_load_explicit(&sel.state, memory_order_acquire) == CHAN_SEL_WAITING) {
					if (!futex_wait_until(&sel.state, CHAN_SEL_WAITING, deadline)) {
						expect = CHAN_SEL_WAITING;
						if (atomic_compare_exchange_strong(&sel.state, &expect, CHAN_SEL_ABORTED))
							timed_out = true;
						break;
					}
				}
			}
		}
		uint32_t state = atomic_load_explicit(&sel.state, memory_order_acquire);

		/* 4. Unregister (a claimer finishes its hand-off before this returns). */
		for (size_t k = 0; k < reg; k++)
			cases[order[k]].ch->ops->unregister_waiter(cases[order[k]].ch->impl, &w[order[k]]);
		if (st != CHAN_OK)
			return st;

		if (state & CHAN_SEL_CLAIMED) {
			uint32_t i = CHAN_SEL_INDEX(state);
			for (int spin = 0; !atomic_load_explicit(&w[i].done, memory_order_acquire); spin++)
				if (spin > 100)
					(void)futex_wait_until(&w[i].done, 0, CHAN_FOREVER);
			if (cases[i].dir == CHAN_DIR_RECV)
				cases[i].msg = w[i].msg;
			*chosen = i;
			return w[i].status;
		}
		if (timed_out)
			return CHAN_TIMEOUT;
		/* NOTIFIED or ABORTED because something became ready: go round. */
	}
}

/* ---- poll fds ----------------------------------------------------------------- */

struct chan_poll {
	struct chan_selector sel;
	struct chan_waiter w;
};

static pthread_mutex_t poll_lock = PTHREAD_MUTEX_INITIALIZER;

void chan_poll_rearm(struct chan *ch, int dir)
{
	struct chan_poll *p = atomic_load_explicit(&ch->poll[dir == CHAN_DIR_SEND], memory_order_acquire);
	if (p == NULL)
		return;
	uint64_t v;
	ssize_t r = read(p->sel.eventfd, &v, sizeof v); /* clear (EAGAIN: was clear) */
	(void)r;
	atomic_store_explicit(&p->sel.armed, 1, memory_order_seq_cst); /* see chan_waiter_notify */
	if (ch->ops->ready(ch->impl, dir) &&
	    atomic_exchange_explicit(&p->sel.armed, 0, memory_order_acq_rel)) {
		uint64_t one = 1;
		r = write(p->sel.eventfd, &one, sizeof one);
		(void)r;
	}
}

chan_status chan_pollfd(chan_t *ch, int dir, int *fd)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	if (fd == NULL || (dir != CHAN_DIR_SEND && dir != CHAN_DIR_RECV))
		return CHAN_EINVAL;
	if (!(ch->ops->caps & CHAN_CAP_POLLFD))
		return CHAN_UNSUPPORTED;
	int side = dir == CHAN_DIR_SEND;
	pthread_mutex_lock(&poll_lock);
	struct chan_poll *p = atomic_load_explicit(&ch->poll[side], memory_order_relaxed);
	if (p == NULL) {
		p = calloc(1, sizeof *p);
		int efd = p ? eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC) : -1;
		if (p == NULL || efd < 0) {
			free(p);
			pthread_mutex_unlock(&poll_lock);
			return CHAN_ENOMEM;
		}
		p->sel.owner = pthread_self();
		p->sel.eventfd = efd;
		atomic_init(&p->sel.state, CHAN_SEL_WAITING);
		atomic_init(&p->sel.armed, 0);
		p->w.sel = &p->sel;
		p->w.dir = dir;
		p->w.flags = CHAN_WAITER_OBSERVE;
		atomic_init(&p->w.done, 0);
		st = ch->ops->register_waiter(ch->impl, &p->w);
		if (st != CHAN_OK) {
			close(efd);
			free(p);
			pthread_mutex_unlock(&poll_lock);
			return st;
		}
		atomic_store_explicit(&ch->poll[side], p, memory_order_release);
		chan_poll_rearm(ch, dir); /* arm, and signal at once if already ready */
	}
	*fd = p->sel.eventfd;
	pthread_mutex_unlock(&poll_lock);
	return CHAN_OK;
}

void chan_poll_release(struct chan *ch)
{
	for (int side = 0; side < 2; side++) {
		struct chan_poll *p = atomic_exchange(&ch->poll[side], NULL);
		if (p == NULL)
			continue;
		ch->ops->unregister_waiter(ch->impl, &p->w);
		close(p->sel.eventfd);
		free(p);
	}
}

/* ---- batches ------------------------------------------------------------------ */

static chan_status batch_check(chan_t *ch, const void *msgs, size_t *done, chan_deadline deadline)
{
	chan_status st = chan_check(ch);
	if (st != CHAN_OK)
		return st;
	if (msgs == NULL || done == NULL)
		return CHAN_EINVAL;
	*done = 0;
	if (deadline != CHAN_NOWAIT && deadline != CHAN_FOREVER && !(ch->ops->caps & CHAN_CAP_TIMED))
		return CHAN_UNSUPPORTED;
	if (deadline == CHAN_FOREVER && !(ch->ops->caps & CHAN_CAP_BLOCKING))
		return CHAN_UNSUPPORTED;
	return CHAN_OK;
}

chan_status chan_send_batch(chan_t *ch, const uintptr_t *msgs, size_t n, size_t *done,
                            chan_deadline deadline)
{
	chan_status st = batch_check(ch, msgs, done, deadline);
	if (st != CHAN_OK || n == 0)
		return st;
	if (ch->ops->send_batch != NULL) {
		st = ch->ops->send_batch(ch->impl, msgs, n, done, deadline);
	} else {
		size_t i = 0;
		while (i < n && (st = ch->ops->send(ch->impl, msgs[i], deadline)) == CHAN_OK)
			i++;
		*done = i;
	}
	chan_poll_after(ch, CHAN_DIR_SEND, st);
	return st;
}

chan_status chan_recv_batch(chan_t *ch, uintptr_t *msgs, size_t n, size_t *done,
                            chan_deadline deadline)
{
	chan_status st = batch_check(ch, msgs, done, deadline);
	if (st != CHAN_OK || n == 0)
		return st;
	if (ch->ops->recv_batch != NULL) {
		st = ch->ops->recv_batch(ch->impl, msgs, n, done, deadline);
	} else {
		st = ch->ops->recv(ch->impl, &msgs[0], deadline);
		if (st == CHAN_OK) {
			size_t i = 1;
			while (i < n && ch->ops->recv(ch->impl, &msgs[i], CHAN_NOWAIT) == CHAN_OK)
				i++;
			*done = i;
		}
	}
	chan_poll_after(ch, CHAN_DIR_RECV, st);
	return st;
}
