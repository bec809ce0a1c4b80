/*
 * waitq: an intrusive FIFO of parked waiters (doubly linked, so a waiter that
 * times out unlinks itself in O(1)). Not synchronised: the caller holds the
 * channel's lock for every call. Used by the mutex and futex implementations.
 */
#ifndef CHANBENCH_WAITQ_H
#define CHANBENCH_WAITQ_H

#include <stddef.h>

struct waitq_node {
	struct waitq_node *next, *prev;
};

struct waitq {
	struct waitq_node *head, *tail;
};

static inline int waitq_empty(const struct waitq *q)
{
	return q->head == NULL;
}

static inline void waitq_push(struct waitq *q, struct waitq_node *n)
{
	n->next = NULL;
	n->prev = q->tail;
	if (q->tail)
		q->tail->next = n;
	else
		q->head = n;
	q->tail = n;
}

static inline void waitq_unlink(struct waitq *q, struct waitq_node *n)
{
	if (n->prev)
		n->prev->next = n->next;
	else
		q->head = n->next;
	if (n->next)
		n->next->prev = n->prev;
	else
		q->tail = n->prev;
	n->next = n->prev = NULL;
}

/* The oldest waiter, unlinked; NULL if none. */
static inline struct waitq_node *waitq_pop(struct waitq *q)
{
	struct waitq_node *n = q->head;
	if (n)
		waitq_unlink(q, n);
	return n;
}

#endif
