/*
 * What the conformance drivers (chan-stress, chan-linearize) share on their
 * command line: --impl / --plugin / --cap / --list, capability checks, exit
 * codes, JSON string output. Each driver parses its own other options.
 *
 * Exit codes (the pytest wrappers rely on them):
 *   0   every check passed
 *   1   discrepancy: an invariant or a history failed ("discrepancy: ..." on stderr)
 *   2   usage or set-up error (unknown implementation, plug-in that does not load)
 *   3   hang: the watchdog fired ("hang: ..." on stderr, with what each thread was doing)
 *   77  n/a: the implementation does not declare a capability the check needs
 */
#ifndef CHANBENCH_DRIVER_CLI_H
#define CHANBENCH_DRIVER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "chanbench/chan.h"

#define DRIVER_EXIT_OK 0
#define DRIVER_EXIT_DISCREPANCY 1
#define DRIVER_EXIT_USAGE 2
#define DRIVER_EXIT_HANG 3
#define DRIVER_EXIT_NA 77

/* Load a plug-in and register it; on failure print why and exit(2).
 * Returns the registered name. */
const char *driver_load_plugin(const char *prog, const char *path);

/* "unbounded" or a decimal 0..CHAN_MAX_CAPACITY. false if neither. */
bool driver_parse_cap(const char *s, size_t *cap);
/* The capacity as the command line spells it ("unbounded" or decimal). */
const char *driver_cap_str(size_t cap, char *buf, size_t n);

/* Parse a non-negative integer / number with an optional k/M suffix (k = 1000). */
bool driver_parse_u64(const char *s, uint64_t *out);
bool driver_parse_double(const char *s, double *out);

/* One JSON object per registered implementation, one per line:
 * {"name": "...", "description": "...", "caps": ["bounded", ...]} */
void driver_list(FILE *out);

/* NULL if `impl` declares every bit of `need` and the capacity kind of `cap`,
 * else the name of the first capability it lacks. */
const char *driver_missing_cap(const char *impl, size_t cap, uint64_t need);

/* Print `s` as a JSON string (quoted, escaped). */
void driver_json_str(FILE *out, const char *s);

/* Print the n/a summary line and exit 77. */
void driver_exit_na(const char *driver, const char *impl, size_t cap, const char *check,
                    const char *missing) __attribute__((noreturn));

#endif
