/*
 * The drivers' watchdog: a thread that ends the process with exit code 3 and a
 * "hang: ..." report on stderr when a run does not finish in time, so that a
 * channel that loses a wake-up fails with a diagnosis instead of a bare kill.
 * One per process.
 */
#ifndef CHANBENCH_WATCHDOG_H
#define CHANBENCH_WATCHDOG_H

#include <stdio.h>

/* Called on the watchdog thread when it fires: print what each thread was doing.
 * It may only read state that is safe to read concurrently (atomics). */
typedef void (*watchdog_report_fn)(FILE *out, void *ctx);

/* Arm: after `seconds`, print "hang: <what> ...", call report, _exit(3). */
void watchdog_start(double seconds, const char *what, watchdog_report_fn report, void *ctx);
/* Disarm and join the watchdog thread. */
void watchdog_stop(void);

#endif
