/*
 * flow: the one-channel P producers x C consumers engine (flow.c) shared by
 * the throughput, fan-in, fan-out and oversubscription scenarios.
 */
#ifndef CHANBENCH_SCENARIO_FLOW_H
#define CHANBENCH_SCENARIO_FLOW_H

#include "scenario.h"

enum flow_report {
	FLOW_FAIRNESS = 1u << 0, /* producer shares over the first half: fairness_jain, share_min/max */
	FLOW_BALANCE = 1u << 1,  /* consumer shares over the run: balance_jain, share_min/max */
};

/* Run p (producers, consumers, capacity, msgs, work_ns, cores); fills r. */
bool flow_run(const struct scenario_params *p, struct scenario_result *r, unsigned report);

#endif
