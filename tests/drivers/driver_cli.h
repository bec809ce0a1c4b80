/*
 * What the conformance drivers (chan-stress, chan-select-stress,
 * chan-linearize) share on their command line: the option loop with --help /
 * --list / --impl / --plugin and its error messages, --cap and --check values,
 * capability checks, exit codes, JSON string output. Each driver parses its own
 * other options inside the shared loop.
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

/*
 * The option loop. Every driver's main reads, in argument order:
 *
 *	struct driver_cli cli = {.prog = PROG, .usage = usage, .argc = argc, .argv = argv};
 *	for (const char *a; (a = driver_cli_next(&cli)) != NULL;) {
 *		bool ok = true;
 *		if (strcmp(a, "--cap") == 0) ... ok = driver_parse_cap(cli.val, &cap);
 *		else driver_cli_unknown(&cli);
 *		if (!ok)
 *			driver_cli_bad_value(&cli);
 *	}
 *	impl = driver_cli_finish(&cli, cap_given);
 *
 * driver_cli_next handles the common options itself: --help / -h (usage on
 * stdout, exit 0), --list (remembered for driver_cli_finish), --impl NAME and
 * --plugin PATH (loaded at once, so a later --impl may name it). Every other
 * option needs a value, except those listed in `flags`; one without is a usage
 * error (exit 2), as are an unknown option and a bad value.
 */
struct driver_cli {
	const char *prog;
	void (*usage)(FILE *out);
	int argc;
	char **argv;
	const char *const *flags; /* the driver's options without a value; NULL-terminated, or NULL */
	bool show_registered;     /* an unknown --impl also lists the registered names */
	/* set by driver_cli_next */
	int next;            /* the next argv index to read (0: start at 1) */
	const char *opt;     /* the option it last returned */
	const char *val;     /* its value (NULL for a flag) */
	const char *impl;    /* --impl */
	const char *plugin;  /* the name the last --plugin registered */
	bool list;           /* --list was given */
};

/* The next option the driver parses itself (its value in cli->val), or NULL
 * when the arguments are done. */
const char *driver_cli_next(struct driver_cli *cli);
/* "unknown option" / "bad value" for cli->opt: print it and exit 2. */
void driver_cli_unknown(const struct driver_cli *cli) __attribute__((noreturn));
void driver_cli_bad_value(const struct driver_cli *cli) __attribute__((noreturn));
/* After the loop: --list prints the registered implementations and exits 0;
 * else the implementation is --impl or the last plug-in, and it and the
 * capacity (cap_given) are required and it must be registered (exit 2
 * otherwise). Returns its name. */
const char *driver_cli_finish(struct driver_cli *cli, bool cap_given);

/* --check VALUE: marks in chosen[] the check whose name or property id is
 * `val`, or every check for "all". false if it is neither. */
bool driver_parse_check(const char *val, int n, const char *const name[],
                        const char *const prop[], bool chosen[]);

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
