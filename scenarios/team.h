/*
 * A team of threads for one scenario run: start them, hold them at a gate
 * until all are ready, release them together while measuring, join them with a
 * deadline.
 *
 *   team_init(&t, cores)                       before anything else
 *   team_start(&t, fn, arg) ... (per thread)   fn calls team_ready(&t) first
 *   team_go(&t, &m)                            measurement starts as they are released
 *   team_finish(&t, &m, r, timeout, rescue, n) joins; measurement ends
 *
 * A hang (a thread not returned by the deadline) is reported in r as "hung: ...";
 * team_finish then closes the rescue channels so that threads blocked in them
 * return, and waits a little more. If some thread is still running after that,
 * team_finish returns false and the caller must leak everything the threads
 * can reach (the run context, the channels): it is the only safe thing left.
 * Run contexts therefore live on the heap, never on the caller's stack.
 */
#ifndef CHANBENCH_SCENARIO_TEAM_H
#define CHANBENCH_SCENARIO_TEAM_H

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>

#include "measure.h"
#include "scenario.h"

#define TEAM_MAX 64

struct team {
	pthread_t tid[TEAM_MAX];
	bool joined[TEAM_MAX];
	int n;
	pthread_mutex_t lock;
	pthread_cond_t cv;
	int ready;
	bool go, abort;
	bool pinned;
	cpu_set_t cpus;
};

/* cores > 0: every thread started later is confined to the first `cores` CPUs
 * this process may use. */
void team_init(struct team *t, int cores);
/* Start one thread; false (with a message in r) if it could not be created. */
bool team_start(struct team *t, void *(*fn)(void *), void *arg, struct scenario_result *r);
/* Called first by each team thread: wait for the release. False: the run was
 * abandoned before it started (the thread should return at once). */
bool team_ready(struct team *t);
/* Main thread: wait until every started thread is at the gate, begin the
 * measurement, release them. */
void team_go(struct team *t, struct measure *m);
/* Abandon a run that could not start every thread: release the ones started
 * (team_ready returns false) and join them. */
void team_abort(struct team *t);
/* Join every thread by timeout_ns from now, then end the measurement. See above
 * for hangs. Returns false only if threads are still running (leak the context). */
bool team_finish(struct team *t, const struct measure *m, struct scenario_result *r,
                 int64_t timeout_ns, chan_t *const *rescue, size_t n_rescue);
/* Free the team's mutex and condvar (after a successful team_finish/team_abort). */
void team_destroy(struct team *t);

#endif
