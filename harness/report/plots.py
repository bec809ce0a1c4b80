"""SVG plots for the report (matplotlib, Agg backend).

One colour per implementation, the same in every plot: colours() maps the sorted
set of all implementation names onto one palette. The line style tells the kind
(channel solid, peer dashed, reference dotted). Every drawn element of an
implementation carries the SVG id "impl-<name>-<n>", so a reader (or a test) can
find an implementation's marks in the file. Points show the median over
repetitions; error bars span min to max.
"""

import math
import os
import re
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib import colors as mcolors  # noqa: E402
from matplotlib import ticker  # noqa: E402

from . import tables  # noqa: E402

matplotlib.rcParams.update({
    "svg.fonttype": "none",        # text stays text: smaller files, searchable
    "svg.hashsalt": "chanbench",   # stable element ids from run to run
    "axes.grid": True,
    "grid.alpha": 0.3,
    "figure.max_open_warning": 0,
})

_LINESTYLE = {"channel": "-", "peer": "--", "reference": ":"}
_SPAN_FOR_LOG = 20.0   # use a log y axis when max/min of the plotted values exceeds this


@dataclass
class Plot:
    title: str
    path: str      # relative to the report's directory


def colours(impls):
    """impl -> '#rrggbb' for the sorted set of impls (tab10, then Dark2, then Set1;
    beyond 25 implementations colours repeat)."""
    names = sorted(set(impls))
    base = []
    for cmap in ("tab10", "Dark2", "Set1"):
        for c in matplotlib.colormaps[cmap].colors:
            h = mcolors.to_hex(c)
            if h not in base:
                base.append(h)
    return {name: base[i % len(base)] for i, name in enumerate(names)}


def slug(text):
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "plot"


class _Ids:
    """Unique SVG ids per implementation within one figure."""

    def __init__(self):
        self.count = {}

    def __call__(self, impl):
        n = self.count.get(impl, 0)
        self.count[impl] = n + 1
        return f"impl-{re.sub(r'[^A-Za-z0-9_-]', '_', impl)}-{n}"


def _tag_errorbar(container, gid):
    line, caps, bars = container.lines
    if line is not None:
        line.set_gid(gid)
    for i, artist in enumerate(list(caps) + list(bars)):
        artist.set_gid(f"{gid}-e{i}")


def _save(fig, out_dir, name):
    rel = os.path.join("plots", name + ".svg")
    fig.savefig(os.path.join(out_dir, rel), format="svg", bbox_inches="tight",
                metadata={"Date": None})
    plt.close(fig)
    return rel


def _log_if_wide(ax, values):
    vals = [v for v in values if v and v > 0]
    if vals and max(vals) / min(vals) > _SPAN_FOR_LOG:
        ax.set_yscale("log")
        return True
    return False


def _format_y(ax, unit):
    """Tick labels in the table's units (2.00 M, 1.50 µs) instead of an offset."""
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: tables.fmt(v, unit)))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())


def _legend(ax):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(handles, labels, loc="center left", bbox_to_anchor=(1.01, 0.5),
                  fontsize="small", title="implementation", title_fontsize="small")


def _label(row):
    return row.impl if row.kind in ("channel", "", "?") else f"{row.impl} ({row.kind})"


def _time_scale(values_ns):
    top = max(values_ns) if values_ns else 1.0
    for scale, name in ((1e9, "s"), (1e6, "ms"), (1e3, "µs")):
        if top >= scale:
            return scale, name
    return 1.0, "ns"


def _unit_label(metric):
    return {"msg/s": "messages/s", "op/s": "operations/s"}.get(metric.unit, metric.unit)


def _cap_positions(caps):
    """Log2 positions for numeric capacities; 0 to the left, unbounded to the right."""
    numeric = [float(c) for c in caps if c not in ("0", "unbounded") and _is_number(c)]
    logs = [math.log2(v) for v in numeric if v > 0]
    lo, hi = (min(logs), max(logs)) if logs else (0.0, 0.0)
    pos, extra = {}, 0.0
    for c in caps:
        if c == "0":
            pos[c] = lo - 2.0
        elif c == "unbounded":
            pos[c] = hi + 2.0
        elif _is_number(c) and float(c) > 0:
            pos[c] = math.log2(float(c))
        else:
            extra += 1.0
            pos[c] = hi + 2.0 + extra
    return pos


def _is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def capacity_plots(scenario, cases, palette, out_dir):
    """Main metric against capacity, one plot per combination of the other parameters."""
    groups = {}
    for c in cases:
        if c.param("cap") is None or not c.columns:
            continue
        key = "/".join(f"{k}:{v}" for k, v in c.params if k != "cap")
        groups.setdefault(key, []).append(c)
    plots = []
    for key, group in groups.items():
        metric = group[0].columns[0][0]
        caps = tables.sort_caps(c.param("cap") for c in group)
        pos = _cap_positions(caps)
        points = {}   # impl -> (row, [(x, med, lo, hi)])
        for c in group:
            for r in c.rows:
                if r.main is None:
                    continue
                points.setdefault(r.impl, (r, []))[1].append(
                    (pos[c.param("cap")], r.main.median, r.main.lo, r.main.hi))
        if not points:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ids = _Ids()
        for impl in sorted(points):
            row, pts = points[impl]
            pts.sort()
            xs, med, lo, hi = zip(*pts)
            eb = ax.errorbar(xs, med, yerr=[[m - l for m, l in zip(med, lo)],
                                            [h - m for m, h in zip(med, hi)]],
                             color=palette[impl], linestyle=_LINESTYLE.get(row.kind, "-"),
                             marker="o", markersize=4, capsize=3, label=_label(row))
            _tag_errorbar(eb, ids(impl))
        _log_if_wide(ax, [p[1] for _, pts in points.values() for p in pts] +
                     [p[2] for _, pts in points.values() for p in pts])
        ax.set_xticks([pos[c] for c in caps])
        ax.set_xticklabels(caps)
        _format_y(ax, metric.unit)
        ax.set_xlabel("channel capacity (messages; log scale, 0 = rendezvous)")
        ax.set_ylabel(group[0].spec.axis_label or f"{metric.label} ({_unit_label(metric)})")
        title = f"{scenario}{' ' + key if key else ''}: {metric.label} by capacity"
        ax.set_title(title)
        _legend(ax)
        plots.append(Plot(title, _save(fig, out_dir, slug(f"{scenario}-{key}"))))
    return plots


def latency_plots(scenario, cases, palette, out_dir):
    """Percentiles per implementation, one grouped bar chart per case (log y)."""
    plots = []
    for c in cases:
        latency = [(i, m) for i, (m, _) in enumerate(c.columns) if m.unit == "ns"]
        rows = sorted((r for r in c.rows if r.metrics), key=lambda r: r.impl)
        if not latency or not rows:
            continue
        fig, ax = plt.subplots(figsize=(8, 4.5))
        ids = _Ids()
        width = 0.8 / len(rows)
        values = []
        for j, r in enumerate(rows):
            xs, med, err_lo, err_hi = [], [], [], []
            for g, (i, _) in enumerate(latency):
                s = r.metrics[i][2]
                if s is None:
                    continue
                xs.append(g - 0.4 + width * (j + 0.5))
                med.append(s.median)
                err_lo.append(s.median - s.lo)
                err_hi.append(s.hi - s.median)
                values += [s.lo, s.hi]
            if not xs:
                continue
            bars = ax.bar(xs, med, width=width * 0.9, color=palette[r.impl], label=_label(r),
                          hatch="//" if r.kind == "peer" else None, edgecolor="white")
            for patch in bars.patches:
                patch.set_gid(ids(r.impl))
            eb = ax.errorbar(xs, med, yerr=[err_lo, err_hi], fmt="none", ecolor="black",
                             capsize=2, linewidth=0.8)
            _tag_errorbar(eb, ids(r.impl))
        if _log_if_wide(ax, values):
            ax.set_ylim(bottom=min(v for v in values if v > 0) / 2)
        ax.set_xticks(range(len(latency)))
        ax.set_xticklabels([m.label for _, m in latency])
        _format_y(ax, "ns")
        ax.set_xlabel("percentile (median over repetitions; bars span min–max)")
        ax.set_ylabel(re.sub(r"\s*\(ns\)$", "", c.spec.axis_label or "latency"))
        title = f"{c.case}: latency percentiles"
        ax.set_title(title)
        _legend(ax)
        plots.append(Plot(title, _save(fig, out_dir, slug(c.case))))
    return plots


def _series_label(name):
    """Axis label of a backpressure series (scenarios/backpressure.c names them)."""
    known = {"queued": "queue depth: messages sent, not yet received",
             "len": "len() of the channel (messages)"}
    if name in known:
        return known[name]
    return "queue depth (messages)" if "depth" in name.lower() else name


def series_plots(scenario, cases, series, palette, out_dir):
    """Time series from the sidecar (queue depth over time), one plot per case and series."""
    plots = []
    for c in cases:
        by_name = {}   # series name -> [(row, points)]
        for r in c.rows:
            for name, pts in series.get(f"{c.case}/impl:{r.impl}", {}).items():
                if isinstance(pts, list) and pts:
                    by_name.setdefault(name, []).append((r, pts))
        for name, lines in by_name.items():
            fig, ax = plt.subplots(figsize=(8, 4.5))
            ids = _Ids()
            for r, pts in sorted(lines, key=lambda x: x[0].impl):
                good = [(float(p[0]), float(p[1])) for p in pts
                        if isinstance(p, (list, tuple)) and len(p) >= 2]
                if not good:
                    continue
                t, v = zip(*good)
                (line,) = ax.plot(t, v, color=palette[r.impl], label=_label(r),
                                  linestyle=_LINESTYLE.get(r.kind, "-"), linewidth=1.2)
                line.set_gid(ids(r.impl))
            ax.set_xlabel("time since start (ms)")
            ax.set_ylim(bottom=0)
            ax.set_ylabel(_series_label(name))
            title = f"{c.case}: {name} over time"
            ax.set_title(title)
            _legend(ax)
            plots.append(Plot(title, _save(fig, out_dir, slug(f"{c.case}-{name}"))))
    return plots


def bar_plot(scenario, cases, palette, out_dir):
    """Main metric per case as grouped bars (shutdown time; scenarios without a capacity)."""
    cases = [c for c in cases if c.columns and any(r.main for r in c.rows)]
    if not cases:
        return []
    metric = cases[0].columns[0][0]
    impls = sorted({r.impl for c in cases for r in c.rows if r.main is not None})
    scale, unit = (1.0, _unit_label(metric))
    if metric.unit == "ns":
        scale, unit = _time_scale([r.main.median for c in cases for r in c.rows if r.main])
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(cases) + 4), 4.5))
    ids = _Ids()
    width = 0.8 / len(impls)
    values = []
    for j, impl in enumerate(impls):
        xs, med, lo, hi, row = [], [], [], [], None
        for g, c in enumerate(cases):
            r = c.row(impl)
            if r is None or r.main is None:
                continue
            row = r
            s = r.main
            xs.append(g - 0.4 + width * (j + 0.5))
            med.append(s.median / scale)
            lo.append((s.median - s.lo) / scale)
            hi.append((s.hi - s.median) / scale)
            values += [s.lo / scale, s.hi / scale]
        bars = ax.bar(xs, med, width=width * 0.9, color=palette[impl], label=_label(row),
                      hatch="//" if row.kind == "peer" else None, edgecolor="white")
        for patch in bars.patches:
            patch.set_gid(ids(impl))
        eb = ax.errorbar(xs, med, yerr=[lo, hi], fmt="none", ecolor="black", capsize=2,
                         linewidth=0.8)
        _tag_errorbar(eb, ids(impl))
    if _log_if_wide(ax, values):
        ax.set_ylim(bottom=min(v for v in values if v > 0) / 2)
    ax.set_xticks(range(len(cases)))
    ax.set_xticklabels([c.case[len(scenario) + 1:] or c.case for c in cases],
                       rotation=20 if len(cases) > 4 else 0, ha="right" if len(cases) > 4 else "center")
    ax.set_xlabel("case (median over repetitions; bars span min–max)")
    what = (metric.label if not cases[0].spec.axis_label or metric.unit != "ns"
            else re.sub(r"\s*\(ns\)$", "", cases[0].spec.axis_label))
    ax.set_ylabel(f"{what} ({unit})")
    title = f"{scenario}: {metric.label}"
    ax.set_title(title)
    _legend(ax)
    return [Plot(title, _save(fig, out_dir, slug(f"{scenario}-{metric.label}")))]


def plots_for(scenario, cases, series, palette, out_dir):
    """The plots of one scenario, by the kind its metric table names."""
    os.makedirs(os.path.join(out_dir, "plots"), exist_ok=True)
    kind = cases[0].spec.plot if cases else ""
    if kind == "latency":
        return latency_plots(scenario, cases, palette, out_dir)
    if kind == "series":
        return (series_plots(scenario, cases, series, palette, out_dir)
                or bar_plot(scenario, cases, palette, out_dir))
    if kind == "capacity" and any(c.param("cap") is not None for c in cases):
        return capacity_plots(scenario, cases, palette, out_dir)
    return bar_plot(scenario, cases, palette, out_dir)
