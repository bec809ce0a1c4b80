"""Statistics over repetitions, and the per-case analysis the tables and plots share.

Each (case, implementation) gets the median, min-max and interquartile range of
every metric over its repetitions, and its ratio to the best implementation of
the case (the best non-reference one: a reference cannot block, it is a limit, not
a channel one could pick). A case row with any failed repetition is an error row
and carries no numbers.
"""

from dataclasses import dataclass, field

import numpy

from . import metrics
from .results import parse_name


@dataclass(frozen=True)
class Summary:
    n: int
    median: float
    lo: float
    hi: float
    q1: float
    q3: float

    @property
    def iqr(self):
        return self.q3 - self.q1


def summarize(values):
    """Median, min, max and quartiles (linear interpolation) of values, or None."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    a = numpy.asarray(vals)
    q1, med, q3 = numpy.percentile(a, [25, 50, 75])
    return Summary(len(vals), float(med), float(a.min()), float(a.max()), float(q1), float(q3))


@dataclass
class Row:
    """One implementation in one case."""

    impl: str
    kind: str
    reps: int = 0
    error: str = None        # "message" (with how many reps failed): an ERROR row
    na: str = None           # reason: an n/a row
    metrics: list = field(default_factory=list)   # [(Metric, counter, Summary|None)]
    cpu_ns_per_msg: Summary = None
    cpu_util: Summary = None  # cores kept busy (CPU ns / wall ns)
    vcsw: Summary = None
    ivcsw: Summary = None
    extras: dict = field(default_factory=dict)    # counter -> Summary
    ratio: float = None      # main metric / best main metric of the case

    @property
    def main(self):
        return self.metrics[0][2] if self.metrics else None


@dataclass
class Case:
    scenario: str
    case: str
    params: tuple
    spec: metrics.ScenarioSpec
    columns: list            # [(Metric, counter)] present in this case, main first
    extras: list             # scenario-specific counters shown as extra columns
    rows: list
    constants: dict = field(default_factory=dict)  # counters equal in every run (settings)
    best: str = None         # impl with ratio 1.00

    def param(self, key, default=None):
        for k, v in self.params:
            if k == key:
                return v
        return default

    def row(self, impl):
        for r in self.rows:
            if r.impl == impl:
                return r
        return None


def _error_of(runs):
    failed = [r for r in runs if r.error]
    if not failed:
        return None
    messages = list(dict.fromkeys(r.error for r in failed))
    text = "; ".join(messages)
    if len(runs) > 1:
        text += f" ({len(failed)} of {len(runs)} reps)"
    return text


def _values(runs, counter):
    key = metrics.counter_key(counter)
    return [r.values[key] for r in runs if key in r.values]


def _row(impl, runs, columns, extras):
    kinds = list(dict.fromkeys(r.kind for r in runs))
    row = Row(impl=impl, kind="/".join(kinds), reps=len(runs))
    row.error = _error_of(runs)
    if row.error:
        return row
    row.metrics = [(m, c, summarize(_values(runs, c))) for m, c in columns]
    row.cpu_ns_per_msg = summarize(_values(runs, "cpu_ns_per_msg"))
    row.cpu_util = summarize(_values(runs, "cpu_util"))
    row.vcsw = summarize(_values(runs, "vcsw"))
    row.ivcsw = summarize(_values(runs, "ivcsw"))
    row.extras = {c: summarize(_values(runs, c)) for c in extras}
    return row


def _rank(case):
    """Order rows (best first, then errors, then n/a; ties by name) and set ratios to
    the best non-reference row."""
    sign = -1 if case.columns and case.columns[0][0].higher_is_better else 1
    case.rows.sort(key=lambda r: (0, sign * r.main.median, r.impl) if r.main is not None
                   else (1 if r.error else 2, 0, r.impl))
    scored = [r for r in case.rows if r.main is not None]
    if not scored:
        return
    best = next((r for r in scored if r.kind != "reference"), scored[0])
    case.best = best.impl
    for r in scored:
        r.ratio = r.main.median / best.main.median if best.main.median else None


def analyse_case(scenario, case_name, impl_runs, na_records, kinds=None):
    """impl_runs: impl -> [Run] for one case; na_records: NotApplicable for it;
    kinds: impl -> kind, for the n/a rows (which have no run to read it from)."""
    spec = metrics.spec_for(scenario)
    all_runs = [r for runs in impl_runs.values() for r in runs]
    columns = metrics.resolve_spec(spec, all_runs)
    shown = {metrics.counter_key(c) for _, c in columns} | metrics.STANDARD_COUNTERS
    extras = sorted({k for r in all_runs for k in r.values} - shown)
    # A counter with one value in every run (a setting such as payload or pause_ns) is
    # stated once for the case instead of as a column.
    constants = {}
    for k in list(extras):
        vals = {r.values[k] for r in all_runs if k in r.values}
        carried = [r for r in all_runs if not r.error]
        if len(carried) >= 2 and len(vals) == 1 and all(k in r.values for r in carried):
            constants[k] = vals.pop()
            extras.remove(k)
    first = all_runs[0].name if all_runs else None
    params = first.params if first else ()
    c = Case(scenario, case_name, params, spec, columns, extras, [], constants)
    for impl, runs in impl_runs.items():
        c.rows.append(_row(impl, runs, columns, extras))
    for na in na_records:
        if na.impl not in impl_runs and c.row(na.impl) is None:
            c.rows.append(Row(impl=na.impl, kind=(kinds or {}).get(na.impl, ""), na=na.reason))
    _rank(c)
    return c


def analyse(rs):
    """scenario -> [Case], in the order the input lists them."""
    grouped = rs.scenarios()
    kinds = {}
    for r in rs.runs:
        kinds.setdefault(r.name.impl, r.kind)
    # Cases that only have n/a records still get a table.
    for na in rs.not_applicable:
        if na.case:
            grouped.setdefault(na.scenario, {}).setdefault(na.case, {})
    out = {}
    for scenario, cases in grouped.items():
        out[scenario] = []
        for case_name, impl_runs in cases.items():
            nas = [n for n in rs.not_applicable
                   if n.scenario == scenario and n.case in (case_name, "")]
            c = analyse_case(scenario, case_name, impl_runs, nas, kinds)
            if not c.params:
                c.params = parse_name(case_name + "/impl:x").params
            out[scenario].append(c)
    return out
