/*
 * Thread teams for scenario runs (see team.h).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "team.h"

void team_init(struct team *t, int cores)
{
	memset(t, 0, sizeof *t);
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->cv, NULL);
	if (cores > 0) {
		cpu_set_t allowed;
		CPU_ZERO(&allowed);
		if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
			CPU_ZERO(&t->cpus);
			int taken = 0;
			for (int c = 0; c < CPU_SETSIZE && taken < cores; c++) {
				if (CPU_ISSET(c, &allowed)) {
					CPU_SET(c, &t->cpus);
					taken++;
				}
			}
			t->pinned = taken > 0;
		}
	}
}

bool team_start(struct team *t, void *(*fn)(void *), void *arg, struct scenario_result *r)
{
	if (t->n == TEAM_MAX) {
		result_fail(r, "setup: more than %d threads", TEAM_MAX);
		return false;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (t->pinned)
		pthread_attr_setaffinity_np(&attr, sizeof t->cpus, &t->cpus);
	int e = pthread_create(&t->tid[t->n], &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (e != 0) {
		result_fail(r, "setup: pthread_create: %s", strerror(e));
		return false;
	}
	t->joined[t->n] = false;
	t->n++;
	return true;
}

bool team_ready(struct team *t)
{
	pthread_mutex_lock(&t->lock);
	t->ready++;
	pthread_cond_broadcast(&t->cv);
	while (!t->go)
		pthread_cond_wait(&t->cv, &t->lock);
	bool ok = !t->abort;
	pthread_mutex_unlock(&t->lock);
	return ok;
}

void team_go(struct team *t, struct measure *m)
{
	pthread_mutex_lock(&t->lock);
	while (t->ready < t->n)
		pthread_cond_wait(&t->cv, &t->lock);
	measure_begin(m);
	t->go = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
}

void team_abort(struct team *t)
{
	pthread_mutex_lock(&t->lock);
	t->abort = true;
	t->go = true;
	pthread_cond_broadcast(&t->cv);
	pthread_mutex_unlock(&t->lock);
	for (int i = 0; i < t->n; i++)
		pthread_join(t->tid[i], NULL);
}

/* Join every thread not yet joined, by the CLOCK_REALTIME time `until`.
 * Returns how many are still running. */
static int join_until(struct team *t, struct timespec until)
{
	int left = 0;
	for (int i = 0; i < t->n; i++) {
		if (t->joined[i])
			continue;
		int e = pthread_timedjoin_np(t->tid[i], NULL, &until);
		if (e == 0)
			t->joined[i] = true;
		else
			left++;
	}
	return left;
}

static struct timespec realtime_after(int64_t ns)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t total = (int64_t)ts.tv_nsec + ns % 1000000000;
	ts.tv_sec += (time_t)(ns / 1000000000 + total / 1000000000);
	ts.tv_nsec = (long)(total % 1000000000);
	return ts;
}

bool team_finish(struct team *t, const struct measure *m, struct scenario_result *r,
                 int64_t timeout_ns, chan_t *const *rescue, size_t n_rescue)
{
	if (timeout_ns <= 0)
		timeout_ns = (int64_t)60 * 1000000000;
	int left = join_until(t, realtime_after(timeout_ns));
	measure_end(m, r);
	if (left == 0)
		return true;
	int stuck = left;
	for (size_t i = 0; i < n_rescue; i++)
		if (rescue[i] != NULL)
			(void)chan_close(rescue[i]);
	left = join_until(t, realtime_after((int64_t)2 * 1000000000));
	result_fail(r, "hung: %d of %d threads had not returned after %.1f s%s", stuck, t->n,
	            (double)timeout_ns / 1e9,
	            left == 0 ? " (released by closing the channels)"
	                      : " and closing the channels did not release them (run state leaked)");
	return left == 0;
}

void team_destroy(struct team *t)
{
	pthread_cond_destroy(&t->cv);
	pthread_mutex_destroy(&t->lock);
}
