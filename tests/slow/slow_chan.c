/*
 * slow_chan: the plug-in template with an injected delay, for the proof that
 * compare mode (harness/report compare) gates a regression and nothing else.
 *
 * One source, two builds (tests/slow/CMakeLists.txt):
 *   libslow_probe_base.so   -DSLOW_DELAY_NS=0      the "baseline build"
 *   libslow_probe_slow.so   -DSLOW_DELAY_NS=<n>    the "candidate build": every
 *                                                  send first busy-waits n ns
 * Both register under the SAME ops name, "probe", so a result file of either
 * has the same benchmark names (pingpong/cap:1/impl:probe) and compare pairs
 * them up, as it would pair a plug-in before and after a change.
 *
 * The channel itself is the template's, unchanged: this file #includes
 * plugins/template/template_chan.c (so there is no second copy to keep in step)
 * with its entry symbol renamed, and exports its own entry whose table is the
 * template's with only name, description and send replaced. Copying the whole
 * table at run time keeps any slot the template adds later (a batch slot, if
 * it gets one, would not be slowed: ping-pong, which the test runs, sends one
 * message at a time).
 *
 * Why a busy-wait and not nanosleep: a sleep of a few microseconds costs a
 * context switch and the timer slack (~50 us by default), so the delay would
 * be much larger than asked for and vary with the machine's load. Spinning on
 * CLOCK_MONOTONIC costs exactly the time asked for (plus one clock read), which
 * is what a slower send path looks like. The delay is outside the channel's
 * lock: it slows the caller, not every other thread as well.
 *
 * tests/test_compare_e2e.py (H4) runs chanbench-run on both and checks that
 * compare passes base vs base and flags base vs slow; scripts/compare-demo.sh
 * shows the same by hand.
 */
#include <pthread.h>

/* The template, with its entry function renamed so that ours below is the one
 * the loader finds (the renamed one stays a harmless extra symbol). */
#define chanbench_plugin_entry slow_template_entry
#include "../../plugins/template/template_chan.c"
#undef chanbench_plugin_entry

#ifndef SLOW_DELAY_NS
#define SLOW_DELAY_NS 0
#endif
#ifndef SLOW_NAME
#define SLOW_NAME "probe"
#endif

#define SLOW_STR_(x) #x
#define SLOW_STR(x) SLOW_STR_(x)

static struct chan_ops slow_ops;
static pthread_once_t slow_once = PTHREAD_ONCE_INIT;

/* Spin until SLOW_DELAY_NS have passed. Compiled away when the delay is 0, so
 * the baseline build is the template exactly. */
static void slow_delay(void)
{
#if SLOW_DELAY_NS > 0
	int64_t until = chan_deadline_now_ns() + (int64_t)SLOW_DELAY_NS;
	while (chan_deadline_now_ns() < until)
		;
#endif
}

static chan_status slow_send(struct chan_base *b, uintptr_t msg, chan_deadline dl)
{
	slow_delay();
	return template_send(b, msg, dl);
}

static void slow_init(void)
{
	slow_ops = template_ops;
	slow_ops.name = SLOW_NAME;
	slow_ops.description = "plug-in template + " SLOW_STR(SLOW_DELAY_NS) " ns busy-wait per send "
	                       "(compare-mode test, tests/slow/)";
	slow_ops.send = slow_send;
}

__attribute__((visibility("default"))) const struct chan_ops *chanbench_plugin_entry(void);

const struct chan_ops *chanbench_plugin_entry(void)
{
	pthread_once(&slow_once, slow_init);
	return &slow_ops;
}
