"""Compare a baseline result file with a candidate: did anything get worse?

Per benchmark in both files: the median of one metric in each (by default the
scenario's main metric from metrics.SCENARIOS: msgs/s, p50 latency, ...), the
relative change, and a two-sided Mann-Whitney U test over the repetitions
(scipy.stats.mannwhitneyu, the test google-benchmark's compare.py uses). A
benchmark is a regression when the change is worse than the threshold AND p < alpha.
With fewer than MIN_REPS repetitions on either side the test is not run and the
benchmark does not gate. A candidate whose run failed validation (ERROR) where the
baseline passed also gates: a broken channel is worse than a slow one.

With a control implementation (--control mutex), every value is first divided by the
control's value in the same case and repetition of the same file. On a shared machine
whose load changes between the two runs, this cancels the drift that would otherwise
show up as a "significant" change in every benchmark; what remains is how each
implementation moved relative to the control.
"""

import json
import math
from dataclasses import asdict, dataclass, replace

from scipy.stats import mannwhitneyu

from . import metrics, tables

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_REGRESSION = 3
MIN_REPS = 3

REGRESSION = "REGRESSION"
NEW_ERROR = "ERROR in candidate"
NOT_TESTED = "not tested, too few repetitions"


@dataclass
class Comparison:
    benchmark: str
    metric: str
    higher_is_better: bool
    unit: str
    base_reps: int
    cand_reps: int
    base_median: float = None
    cand_median: float = None
    change: float = None        # (candidate - baseline) / baseline
    pvalue: float = None
    status: str = ""
    note: str = ""

    @property
    def gates(self):
        return self.status in (REGRESSION, NEW_ERROR)


def min_pvalue(n1, n2):
    """The smallest two-sided p the exact U test can give for samples of n1 and n2."""
    return min(1.0, 2.0 / math.comb(n1 + n2, n1))


def reps_needed(alpha):
    """Fewest repetitions per side (equal sizes) for which p < alpha is reachable."""
    n = MIN_REPS
    while min_pvalue(n, n) >= alpha and n < 100:
        n += 1
    return n


def _median(values):
    s = sorted(values)
    mid = len(s) // 2
    return s[mid] if len(s) % 2 else (s[mid - 1] + s[mid]) / 2


def _counter(metric, base_runs, cand_runs, scenario):
    """(counter, higher_is_better, unit) for this benchmark, or None."""
    runs = base_runs + cand_runs
    if metric:
        key = metrics.counter_key(metric)
        if any(key in r.values for r in runs):
            return metric, metrics.higher_is_better(metric), metrics.unit_of(metric)
        return None
    found = metrics.resolve_spec(metrics.spec_for(scenario), runs)
    if not found:
        return None
    m, counter = found[0]
    return counter, m.higher_is_better, m.unit


def relative_to(runs, control):
    """Runs of every other implementation with each value divided by the control's value
    in the same case and repetition; a run without a control counterpart keeps no values."""
    ctrl = {(r.name.case, r.repetition): r for r in runs
            if r.name.impl == control and not r.error}
    out = []
    for r in runs:
        if r.name.impl == control:
            continue
        c = ctrl.get((r.name.case, r.repetition))
        if r.error:
            out.append(r)
        elif c is None:
            out.append(replace(r, values={}))
        else:
            out.append(replace(r, values={k: v / c.values[k] for k, v in r.values.items()
                                          if c.values.get(k)}))
    return out


def compare_one(key, scenario, base_runs, cand_runs, threshold, alpha, metric=None,
                control=None):
    c = Comparison(key, metric or "?", True, "", len(base_runs), len(cand_runs))
    base_err = next((r.error for r in base_runs if r.error), None)
    cand_err = next((r.error for r in cand_runs if r.error), None)
    if cand_err:
        c.status = "ERROR in both" if base_err else NEW_ERROR
        c.note = cand_err
        return c
    if base_err:
        c.status = "fixed (baseline had ERROR)"
        c.note = base_err
        return c
    found = _counter(metric, base_runs, cand_runs, scenario)
    if found is None:
        c.status = "metric missing"
        return c
    c.metric, c.higher_is_better, c.unit = found
    vkey = metrics.counter_key(c.metric)
    base = [r.values[vkey] for r in base_runs if vkey in r.values]
    cand = [r.values[vkey] for r in cand_runs if vkey in r.values]
    c.base_reps, c.cand_reps = len(base), len(cand)
    if control:
        c.metric, c.unit = f"{c.metric} ÷ {control}", "ratio"
    if not base or not cand:
        c.status = "metric missing"
        if control:
            c.note = f"no {control} run to divide by in this case"
        return c
    c.base_median, c.cand_median = _median(base), _median(cand)
    if c.base_median:
        c.change = (c.cand_median - c.base_median) / abs(c.base_median)
    elif c.cand_median == c.base_median:
        c.change = 0.0
    worse = better = False
    if c.change is not None:
        signed = c.change if c.higher_is_better else -c.change   # > 0 means better
        worse, better = signed < -threshold, signed > threshold
    if min(len(base), len(cand)) < MIN_REPS:
        c.status = NOT_TESTED
        c.note = f"{len(base)}/{len(cand)} reps, need {MIN_REPS} each"
        return c
    p = mannwhitneyu(base, cand, alternative="two-sided").pvalue
    c.pvalue = 1.0 if p is None or math.isnan(p) else float(p)
    if min_pvalue(len(base), len(cand)) >= alpha:
        c.note = (f"{len(base)}/{len(cand)} reps cannot reach p < {alpha:g}; "
                  f"use {reps_needed(alpha)} or more")
    significant = c.pvalue < alpha
    if significant and worse:
        c.status = REGRESSION
    elif significant and better:
        c.status = "improved"
    elif worse:
        c.status = "worse, not significant"
    elif significant:
        c.status = f"changed, within {threshold:.0%}"
    else:
        c.status = "same"
    return c


def compare(base_rs, cand_rs, threshold=0.05, alpha=0.05, metric=None, only=None,
            control=None):
    """Comparisons for the benchmarks in both sets; and the keys found in one only.
    only: a compiled regular expression; benchmarks it does not find are left out.
    control: an implementation to divide by (see the module's docstring)."""
    def by_key(rs):
        runs = relative_to(rs.runs, control) if control else rs.runs
        out = {}
        for r in runs:
            if only is None or only.search(r.name.key):
                out.setdefault(r.name.key, []).append(r)
        return out
    base, cand = by_key(base_rs), by_key(cand_rs)
    result = []
    for key, runs in base.items():
        if key in cand:
            result.append(compare_one(key, runs[0].name.scenario, runs, cand[key],
                                      threshold, alpha, metric, control))
    only_base = [k for k in base if k not in cand]
    only_cand = [k for k in cand if k not in base]
    return result, only_base, only_cand


def _pct(change):
    return "" if change is None else f"{change:+.1%}"


def render_table(comparisons):
    headers = ["benchmark", "metric", "better", "baseline", "candidate", "change", "p",
               "reps", "verdict"]
    rows = []
    for c in comparisons:
        rows.append([
            c.benchmark, c.metric, "higher" if c.higher_is_better else "lower",
            tables.fmt(c.base_median, c.unit) if c.base_median is not None else "",
            tables.fmt(c.cand_median, c.unit) if c.cand_median is not None else "",
            _pct(c.change), "" if c.pvalue is None else f"{c.pvalue:.4f}",
            f"{c.base_reps}/{c.cand_reps}",
            c.status + (f" ({c.note})" if c.note else "")])
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    right = {3, 4, 5, 6, 7}

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    out = [line(headers), line(["-" * w for w in widths])]
    out += [line(r) for r in rows]
    return "\n".join(out)


def verdict(comparisons, only_base, only_cand, threshold, alpha):
    """(one line, exit status)."""
    if not comparisons:
        return ("verdict: NOTHING TO COMPARE: no benchmark is in both files", EXIT_INPUT)
    gating = [c for c in comparisons if c.gates]
    untested = [c for c in comparisons if c.status == NOT_TESTED]
    unreachable = [c for c in comparisons if c.pvalue is not None and "cannot reach" in c.note]
    extra = []
    if untested:
        extra.append(f"{len(untested)} not tested (fewer than {MIN_REPS} repetitions: "
                     "no gating on them)")
    if unreachable:
        extra.append(f"{len(unreachable)} with too few repetitions to ever reach p < {alpha:g}")
    if only_base or only_cand:
        extra.append(f"{len(only_base)} only in baseline, {len(only_cand)} only in candidate")
    tail = ("; " + "; ".join(extra)) if extra else ""
    if gating:
        names = ", ".join(
            f"{c.benchmark} ({_pct(c.change)} {c.metric}, p={c.pvalue:.4f})" if c.status == REGRESSION
            else f"{c.benchmark} (ERROR in candidate)" for c in gating)
        return (f"verdict: REGRESSION: {len(gating)} of {len(comparisons)} benchmarks worse by "
                f"more than {threshold:.0%} with p < {alpha:g}: {names}{tail}", EXIT_REGRESSION)
    return (f"verdict: OK: {len(comparisons)} compared, none significantly worse by more than "
            f"{threshold:.0%} (p < {alpha:g}){tail}", EXIT_OK)


def write_json(path, comparisons, only_base, only_cand, line, status):
    with open(path, "w", encoding="utf-8") as f:
        json.dump({"verdict": line, "exit_status": status,
                   "comparisons": [dict(asdict(c), gates=c.gates) for c in comparisons],
                   "only_in_baseline": only_base, "only_in_candidate": only_cand}, f, indent=1)
