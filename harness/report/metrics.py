"""Which number each scenario is judged by, its unit, and which direction is better.

SCENARIOS is the one table to edit when a scenario is added. A metric lists counter
names to try in order (the first one present in a case is used); "real_time" means
google-benchmark's wall time per iteration. Scenario names are matched without '-'
and '_' (ping-pong, ping_pong and pingpong are one scenario).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    label: str               # column heading
    counters: tuple          # candidates, first present wins
    unit: str                # "msg/s", "op/s", "ns" or "count"
    higher_is_better: bool


@dataclass(frozen=True)
class ScenarioSpec:
    metrics: tuple           # the first one ranks implementations (ratio to best)
    plot: str                # "capacity", "latency", "series", "time" or ""
    axis_label: str          # what the main metric measures, for plot axes


_RATE = Metric("msgs/s", ("msgs_per_s",), "msg/s", True)
_ROUND_TRIPS = Metric("round trips/s", ("round_trips_per_s", "rtt_per_s", "msgs_per_s"), "op/s", True)
_REQUESTS = Metric("requests/s", ("requests_per_s", "msgs_per_s"), "op/s", True)
_LATENCY = (
    Metric("p50", ("p50_ns",), "ns", False),
    Metric("p99", ("p99_ns",), "ns", False),
    Metric("p99.9", ("p999_ns",), "ns", False),
)
# shutdown: from close to the last thread's return, one sample per round.
_SHUTDOWN = (
    Metric("shutdown p50", ("p50_ns", "shutdown_ns"), "ns", False),
    Metric("shutdown p99", ("p99_ns",), "ns", False),
)
_STALL = Metric("producer stall", ("stall_ns",), "ns", False)
_DELIVERIES = Metric("deliveries/s", ("deliveries_per_s",), "msg/s", True)
_SENDS = Metric("sends/s", ("msgs_per_s",), "msg/s", True)
_READS = Metric("reads/s", ("reads_per_s",), "op/s", True)
_UPDATES = Metric("updates/s", ("msgs_per_s",), "msg/s", True)
# watch: its samples are the writer's send durations, not a delivery latency.
_SEND_LATENCY = (
    Metric("send p50", ("p50_ns",), "ns", False),
    Metric("send p99", ("p99_ns",), "ns", False),
)

SCENARIOS = {
    "throughput": ScenarioSpec((_RATE,), "capacity", "throughput (messages/s)"),
    "fanin": ScenarioSpec((_RATE,), "capacity", "throughput (messages/s)"),
    "fanout": ScenarioSpec((_RATE,), "capacity", "throughput (messages/s)"),
    "pipeline": ScenarioSpec((_RATE,) + _LATENCY, "capacity", "end-to-end throughput (messages/s)"),
    "oversubscription": ScenarioSpec((_RATE,), "capacity", "throughput (messages/s)"),
    "select": ScenarioSpec((_RATE,), "capacity", "throughput (messages/s)"),
    # bridge: requests through the event loop and the worker pool, and their latency.
    "bridge": ScenarioSpec((_REQUESTS,) + _LATENCY, "capacity", "requests/s"),
    "batch": ScenarioSpec((_RATE,), "capacity", "throughput (messages/s)"),
    # Channel kinds (kinds.h): msgs_per_s counts sends (broadcast, watch) or both legs
    # of a round trip (oneshot), so each is ranked by what its user gets out of it.
    # broadcast: messages delivered over all subscribers (a send is worth one per
    # subscriber; a lagging subscriber's lost messages count for nothing).
    "broadcast": ScenarioSpec((_DELIVERIES, _SENDS), "", "deliveries/s (all subscribers)"),
    # watch: values the readers took (changed or borrow); a writer that starves its
    # readers does not win by sending faster. Then the writer's rate and send latency.
    "watch": ScenarioSpec((_READS, _UPDATES) + _SEND_LATENCY, "", "reads/s (all readers)"),
    # oneshot: request/reply round trips with a fresh oneshot each, and their latency.
    "oneshot": ScenarioSpec((_ROUND_TRIPS,) + _LATENCY, "", "round trips/s"),
    "requestreply": ScenarioSpec((_ROUND_TRIPS,) + _LATENCY, "capacity", "round trips/s"),
    "reqreply": ScenarioSpec((_ROUND_TRIPS,) + _LATENCY, "capacity", "round trips/s"),
    "pingpong": ScenarioSpec(_LATENCY, "latency", "round-trip latency (ns)"),
    "wakeup": ScenarioSpec(_LATENCY, "latency", "wake-up latency (ns)"),
    "backpressure": ScenarioSpec((_RATE, _STALL), "series", "throughput (messages/s)"),
    "shutdown": ScenarioSpec(_SHUTDOWN, "time", "time from close until every thread returned (ns)"),
}

# Scenarios not in the table: rate if the counter is there, else wall time.
_DEFAULT = ScenarioSpec((Metric("msgs/s", ("msgs_per_s",), "msg/s", True),
                         Metric("time", ("real_time",), "ns", False)), "", "")

# Counters every scenario records: shown in their own columns or left out (mean, max
# and sample count of a latency distribution), never as scenario-specific extras.
STANDARD_COUNTERS = {"msgs", "msgs_per_s", "ns_per_msg", "cpu_ns_per_msg", "cpu_util", "vcsw", "ivcsw",
                     "p50_ns", "p99_ns", "p999_ns", "mean_ns", "max_ns", "samples",
                     "real_time_ns", "cpu_time_ns", "iterations", "load_avg_1m"}


def normalise(scenario):
    return scenario.replace("-", "").replace("_", "").lower()


# The channel kinds' scenarios run only their kind's implementations, named
# "<kind>-<impl>" (include/chanbench/kinds.h); those run no other scenario.
KIND_SCENARIOS = {"broadcast": "bcast", "watch": "watch", "oneshot": "oneshot"}


def runs_impl(scenario, impl):
    """Whether scenario can have a result for impl at all (a kind implementation only
    in its kind's scenario), so that the missing others are no gap worth listing."""
    kind = KIND_SCENARIOS.get(normalise(scenario))
    if kind is not None:
        return impl.startswith(kind + "-")
    return not any(impl.startswith(k + "-") for k in KIND_SCENARIOS.values())


def spec_for(scenario):
    return SCENARIOS.get(normalise(scenario), _DEFAULT)


def counter_key(counter):
    """The Run.values key of a counter name ("real_time" is stored in ns)."""
    return {"real_time": "real_time_ns", "cpu_time": "cpu_time_ns"}.get(counter, counter)


def resolve(metric, runs):
    """The counter of metric that the runs carry (the first candidate any run has)."""
    for c in metric.counters:
        if any(counter_key(c) in r.values for r in runs):
            return c
    return None


def resolve_spec(spec, runs):
    """[(Metric, counter)] for the metrics of spec present in runs (the main one first).
    A scenario outside the table falls back from its rate to its wall time."""
    found = [(m, resolve(m, runs)) for m in spec.metrics]
    found = [(m, c) for m, c in found if c]
    if spec is _DEFAULT and found:
        return found[:1]
    return found


def higher_is_better(counter):
    """Direction of a counter named on the command line: rates up, times and counts down."""
    for spec in SCENARIOS.values():
        for m in spec.metrics:
            if counter in m.counters:
                return m.higher_is_better
    return counter.endswith("_per_s")


def unit_of(counter):
    if counter.endswith("_per_s"):
        return "msg/s" if counter.startswith("msgs") else "op/s"
    if counter in ("real_time", "cpu_time") or "ns" in counter.split("_"):
        return "ns"
    return "count"
