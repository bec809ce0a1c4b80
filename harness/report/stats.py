"""Statistics over repetitions, and the per-case analysis the tables and plots share.

Each (case, implementation) gets the median, min-max and interquartile range of
every metric over its repetitions, and its ratio to the best implementation of
the case (the best non-reference one: a reference cannot block, it is a limit, not
a channel one could pick). A case row with any failed repetition is an error row
and carries no numbers.

Ratios carry 95% bootstrap intervals (scipy.stats.bootstrap, percentile method,
over repetitions): every row's ratio to the best of ours (the best kind=channel
row) and to the best peer. When both rows come from one file and ran the same
rounds (chanbench-run --interleave case runs every implementation of a case once
per round), the ratio is the median of the per-round ratios and the bootstrap
resamples rounds (paired): drift between rounds cancels. Otherwise it is the ratio
of the medians, each side resampled on its own. An ordering of two rows is
*established* only when the interval of their ratio excludes 1 (their ratio
intervals against either one do not overlap), and by more than MIN_EFFECT: a
difference under 2% is not called a win, however narrow its interval.
"""

import warnings
import zlib
from dataclasses import dataclass, field

import numpy
from scipy import stats as scipy_stats

from . import metrics
from .results import parse_name

# Below this relative difference two rows are practically equal: no order is
# claimed between them, whatever the interval.
MIN_EFFECT = 0.02


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


@dataclass(frozen=True)
class Interval:
    """A ratio (or median) with its 95% bootstrap interval; lo == hi == value with one
    repetition (no interval)."""

    value: float
    lo: float
    hi: float
    n: int
    paired: bool = False

    @property
    def known(self):
        return self.n >= 2

    def excludes(self, x=1.0):
        return self.known and (self.lo > x or self.hi < x)

    def decides(self):
        """Whether a ratio's interval decides an order: it excludes 1 and lies
        outside the band of practical equivalence, MIN_EFFECT either side (a
        paced scenario's rows all at 500 k/s can have an interval of
        [0.9995, 0.9999]: not a win)."""
        return self.known and (self.lo > 1.0 + MIN_EFFECT or self.hi < 1.0 / (1.0 + MIN_EFFECT))

    def width(self):
        """The interval's width relative to the value (0 without an interval)."""
        return (self.hi - self.lo) / abs(self.value) if self.known and self.value else 0.0


BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


def _seed(*names):
    return zlib.crc32("\x00".join(names).encode())


def _bootstrap(data, statistic, seed):
    """(lo, hi) of scipy's percentile bootstrap; degenerate samples give lo == hi."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = scipy_stats.bootstrap(data, statistic, n_resamples=BOOTSTRAP_RESAMPLES,
                                    confidence_level=CONFIDENCE, method="percentile",
                                    vectorized=True, paired=False,
                                    random_state=numpy.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (numpy.isfinite(lo) and numpy.isfinite(hi)):
        return None
    return lo, hi


def _median_axis(x, axis=-1):
    return numpy.median(x, axis=axis)


def median_interval(values, seed=0):
    """The median of values with its bootstrap interval, or None."""
    vals = numpy.asarray([float(v) for v in values if v is not None])
    if len(vals) == 0:
        return None
    med = float(numpy.median(vals))
    if len(vals) < 2:
        return Interval(med, med, med, len(vals))
    ci = _bootstrap((vals,), _median_axis, seed) or (med, med)
    return Interval(med, ci[0], ci[1], len(vals))


def _by_rep(runs, key):
    """{(source, repetition): value} of a row's runs that carry key."""
    return {(r.source, r.repetition): r.values[key] for r in runs if key in r.values and not r.error}


def ratio_interval(runs_a, runs_b, counter, seed_names=()):
    """a ÷ b on counter, with its bootstrap interval (paired by round when both ran the
    same rounds of one file), or None without values on both sides."""
    from . import metrics  # noqa: the module imports stats' callers only
    key = metrics.counter_key(counter)
    a, b = _by_rep(runs_a, key), _by_rep(runs_b, key)
    if not a or not b:
        return None
    seed = _seed(key, *seed_names)
    if set(a) == set(b) and len({src for src, _ in a}) == 1 and len(a) >= 2 \
            and all(v > 0 for v in b.values()):
        ratios = numpy.asarray([a[k] / b[k] for k in sorted(a)])
        value = float(numpy.median(ratios))
        ci = _bootstrap((ratios,), _median_axis, seed) or (value, value)
        return Interval(value, ci[0], ci[1], len(ratios), paired=True)
    xa, xb = numpy.asarray(list(a.values())), numpy.asarray(list(b.values()))
    mb = float(numpy.median(xb))
    if mb == 0:
        return None
    value = float(numpy.median(xa)) / mb
    n = min(len(xa), len(xb))
    if n < 2:
        return Interval(value, value, value, n)

    def stat(x, y, axis=-1):
        return numpy.median(x, axis=axis) / numpy.median(y, axis=axis)
    ci = _bootstrap((xa, xb), stat, seed) or (value, value)
    return Interval(value, ci[0], ci[1], n)


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
    ratio_ours: Interval = None   # main metric ÷ the best of ours (kind channel), with CI
    ratio_peer: Interval = None   # main metric ÷ the best peer, with CI
    runs: list = field(default_factory=list, repr=False)

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
    best_ours: str = None    # the best kind=channel row (by median)
    best_peer: str = None    # the best kind=peer row (by median)
    _ratios: dict = field(default_factory=dict, repr=False)  # (impl a, impl b) -> Interval

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

    @property
    def higher_is_better(self):
        return bool(self.columns) and self.columns[0][0].higher_is_better

    def ratio(self, a, b):
        """Row a's main metric ÷ row b's, with its interval (None if either has none)."""
        if a is None or b is None or a.main is None or b.main is None:
            return None
        if a is b:
            return Interval(1.0, 1.0, 1.0, a.main.n, paired=True)
        key = (a.impl, b.impl)
        if key not in self._ratios:
            self._ratios[key] = ratio_interval(a.runs, b.runs, self.columns[0][1],
                                               (self.case, a.impl, b.impl))
        return self._ratios[key]

    def margin(self, a, b):
        """How many times row a is better than row b (> 1 when a is ahead), with its
        interval: a ÷ b for rates, b ÷ a for times."""
        return self.ratio(a, b) if self.higher_is_better else self.ratio(b, a)

    def established(self, a, b):
        """Whether the order of rows a and b holds: their ratio's interval excludes 1
        by more than MIN_EFFECT (Interval.decides)."""
        m = self.margin(a, b)
        return m is not None and m.decides()


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
    row = Row(impl=impl, kind="/".join(kinds), reps=len(runs), runs=list(runs))
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
    ours = next((r for r in scored if r.kind == "channel"), None)
    peer = next((r for r in scored if r.kind == "peer"), None)
    case.best_ours = ours.impl if ours else None
    case.best_peer = peer.impl if peer else None
    for r in scored:
        r.ratio_ours = case.ratio(r, ours) if ours else None
        r.ratio_peer = case.ratio(r, peer) if peer else None


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
