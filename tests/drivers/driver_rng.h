/*
 * A small per-thread pseudo-random generator for the drivers (xorshift64*,
 * seeded through splitmix64 so that nearby seeds give unrelated streams).
 * Not thread-safe: one struct driver_rng per thread.
 */
#ifndef CHANBENCH_DRIVER_RNG_H
#define CHANBENCH_DRIVER_RNG_H

#include <stdint.h>

struct driver_rng {
	uint64_t s;
};

static inline void driver_rng_seed(struct driver_rng *r, uint64_t seed)
{
	uint64_t z = seed + 0x9e3779b97f4a7c15ull;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	z ^= z >> 31;
	r->s = z ? z : 1;
}

static inline uint64_t driver_rng_next(struct driver_rng *r)
{
	uint64_t x = r->s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Uniform enough in [0, n); 0 when n == 0. */
static inline uint64_t driver_rng_below(struct driver_rng *r, uint64_t n)
{
	return n == 0 ? 0 : (driver_rng_next(r) >> 11) % n;
}

/* A tiny relative timeout in ns: 0 (an already passed deadline), 1 us, 10 us,
 * 100 us or 1 ms, for timed operations that should often expire. */
static inline int64_t driver_rng_tiny_timeout(struct driver_rng *r)
{
	static const int64_t choices[] = {0, 1000, 10000, 100000, 1000000};
	return choices[driver_rng_below(r, sizeof choices / sizeof choices[0])];
}

#endif
