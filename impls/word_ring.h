/*
 * word_ring: a FIFO ring of machine words that can grow (for unbounded
 * channels). Not synchronised: the caller holds the channel's lock. Used by the
 * mutex and futex implementations.
 */
#ifndef CHANBENCH_WORD_RING_H
#define CHANBENCH_WORD_RING_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct word_ring {
	uintptr_t *buf;
	size_t size;  /* allocated slots */
	size_t head;  /* index of the oldest word */
	size_t count; /* words held */
};

static inline bool word_ring_init(struct word_ring *r, size_t size)
{
	r->buf = malloc(size * sizeof *r->buf);
	r->size = size;
	r->head = r->count = 0;
	return r->buf != NULL;
}

static inline void word_ring_free(struct word_ring *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Precondition: count < size. */
static inline void word_ring_push(struct word_ring *r, uintptr_t w)
{
	r->buf[(r->head + r->count) % r->size] = w;
	r->count++;
}

/* Precondition: count > 0. */
static inline uintptr_t word_ring_pop(struct word_ring *r)
{
	uintptr_t w = r->buf[r->head];
	r->head = (r->head + 1) % r->size;
	r->count--;
	return w;
}

/* Double the ring, keeping order. False (ring unchanged) if out of memory. */
static inline bool word_ring_grow(struct word_ring *r)
{
	size_t n = r->size * 2;
	uintptr_t *nb = malloc(n * sizeof *nb);
	if (nb == NULL)
		return false;
	for (size_t i = 0; i < r->count; i++)
		nb[i] = r->buf[(r->head + i) % r->size];
	free(r->buf);
	r->buf = nb;
	r->size = n;
	r->head = 0;
	return true;
}

#endif
