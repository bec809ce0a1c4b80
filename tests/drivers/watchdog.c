/*
 * The drivers' watchdog (see watchdog.h). It sleeps on a CLOCK_MONOTONIC
 * condition variable until disarmed or the time is up.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "driver_cli.h"
#include "watchdog.h"

static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond;
static pthread_t wd_thread;
static bool wd_armed, wd_stop;
static struct timespec wd_deadline;
static double wd_seconds;
static const char *wd_what;
static watchdog_report_fn wd_report;
static void *wd_ctx;

static void *watchdog_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wd_lock);
	while (!wd_stop) {
		if (pthread_cond_timedwait(&wd_cond, &wd_lock, &wd_deadline) != 0 && !wd_stop) {
			fflush(stdout);
			fprintf(stderr, "hang: %s did not finish within %.1f s\n", wd_what, wd_seconds);
			if (wd_report != NULL)
				wd_report(stderr, wd_ctx);
			fflush(stderr);
			_exit(DRIVER_EXIT_HANG);
		}
	}
	pthread_mutex_unlock(&wd_lock);
	return NULL;
}

void watchdog_start(double seconds, const char *what, watchdog_report_fn report, void *ctx)
{
	pthread_condattr_t attr;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&wd_cond, &attr);
	pthread_condattr_destroy(&attr);
	clock_gettime(CLOCK_MONOTONIC, &wd_deadline);
	wd_deadline.tv_sec += (time_t)seconds;
	wd_deadline.tv_nsec += (long)((seconds - (double)(time_t)seconds) * 1e9);
	if (wd_deadline.tv_nsec >= 1000000000L) {
		wd_deadline.tv_sec++;
		wd_deadline.tv_nsec -= 1000000000L;
	}
	wd_seconds = seconds;
	wd_what = what;
	wd_report = report;
	wd_ctx = ctx;
	wd_stop = false;
	if (pthread_create(&wd_thread, NULL, watchdog_main, NULL) != 0) {
		fprintf(stderr, "watchdog: cannot start a thread\n");
		exit(DRIVER_EXIT_USAGE);
	}
	wd_armed = true;
}

void watchdog_stop(void)
{
	if (!wd_armed)
		return;
	pthread_mutex_lock(&wd_lock);
	wd_stop = true;
	pthread_cond_signal(&wd_cond);
	pthread_mutex_unlock(&wd_lock);
	pthread_join(wd_thread, NULL);
	pthread_cond_destroy(&wd_cond);
	wd_armed = false;
}
