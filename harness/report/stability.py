"""Stability: two back-to-back runs of one profile, compared cell by cell.

A cell is one implementation in one case. For every cell with a result in both runs:
the drift of its absolute median (main metric) and of its ratios to the best of ours
and to the best peer, drift = |second / first - 1|. The summary gives the median, p90
and largest drift over all cells and over the throughput and ping-pong cells; a cell
whose ratio drifted by more than the threshold is "not stable". scripts/stability.sh
writes this as JSON; `harness.report report --stability FILE` turns it into the
report's Stability section.
"""

import json
import math

import numpy

from . import stats
from .tables import fmt

# Issue 13's target for the default profile on a 2-core machine.
TARGET = {"median": 0.03, "p90": 0.10}
UNSTABLE = 0.10
HEADLINE = ("throughput", "pingpong")


def _drift(a, b):
    if a is None or b is None or not a or not math.isfinite(a) or not math.isfinite(b):
        return None
    return abs(b / a - 1.0)


def _cells(rs):
    """(case, impl) -> dict of the main median, the ratios and the unit."""
    out = {}
    for scenario, cases in stats.analyse(rs).items():
        for c in cases:
            if not c.columns:
                continue
            unit = c.columns[0][0].unit
            for r in c.rows:
                if r.main is None:
                    continue
                out[(c.case, r.impl)] = {
                    "scenario": scenario,
                    "median": r.main.median,
                    "unit": unit,
                    "ratio_ours": r.ratio_ours.value if r.ratio_ours else None,
                    "ratio_peer": r.ratio_peer.value if r.ratio_peer else None,
                    "best_ours": r.impl == c.best_ours,
                    "best_peer": r.impl == c.best_peer,
                }
    return out


def _figures(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return {"n": 0, "median": None, "p90": None, "max": None}
    a = numpy.asarray(vals)
    return {"n": len(vals), "median": float(numpy.median(a)),
            "p90": float(numpy.percentile(a, 90)), "max": float(a.max())}


def _context(rs):
    ctx = rs.context
    load = ctx.get("load_avg")
    if isinstance(load, list):
        load = ", ".join(f"{v:.2f}" for v in load if isinstance(v, (int, float)))
    return str(ctx.get("date", "?")), str(load or "?"), str(ctx.get("profile", "?"))


def compare(rs_a, rs_b, threshold=UNSTABLE, target=None):
    """The stability summary of two ResultSets (first run, second run) as a dict."""
    target = TARGET if target is None else target
    a, b = _cells(rs_a), _cells(rs_b)
    rows = []
    for key in a:
        if key not in b:
            continue
        x, y = a[key], b[key]
        row = {"case": key[0], "impl": key[1], "scenario": x["scenario"],
               "median_a": x["median"], "median_b": y["median"],
               "median_drift": _drift(x["median"], y["median"]),
               "ratio_ours_a": x["ratio_ours"], "ratio_ours_b": y["ratio_ours"],
               "ratio_peer_a": x["ratio_peer"], "ratio_peer_b": y["ratio_peer"],
               "unit": x["unit"]}
        # The best of ours in both runs has ratio 1 by definition: no information.
        row["ratio_ours_drift"] = None if x["best_ours"] and y["best_ours"] \
            else _drift(x["ratio_ours"], y["ratio_ours"])
        row["ratio_peer_drift"] = None if x["best_peer"] and y["best_peer"] \
            else _drift(x["ratio_peer"], y["ratio_peer"])
        rows.append(row)

    def scoped(field):
        return {"all": _figures(r[field] for r in rows),
                "throughput+pingpong": _figures(r[field] for r in rows
                                                if r["scenario"] in HEADLINE)}
    summary = {"cells": len(rows), "ratio_ours": scoped("ratio_ours_drift"),
               "ratio_peer": scoped("ratio_peer_drift"), "median": scoped("median_drift")}
    main = summary["ratio_ours"]["all"]
    summary["target_met"] = main["n"] > 0 and main["median"] <= target["median"] \
        and main["p90"] <= target["p90"]
    unstable = []
    for r in rows:
        drifts = [d for d in (r["ratio_ours_drift"], r["ratio_peer_drift"]) if d is not None]
        if drifts and max(drifts) > threshold:
            u = dict(r, drift=max(drifts))
            u["ours_text"] = _pair(r["ratio_ours_a"], r["ratio_ours_b"])
            u["peer_text"] = _pair(r["ratio_peer_a"], r["ratio_peer_b"])
            u["median_text"] = f"{fmt(r['median_a'], r['unit'])} → {fmt(r['median_b'], r['unit'])}"
            unstable.append(u)
    unstable.sort(key=lambda u: (u["scenario"] not in HEADLINE, -u["drift"]))
    date_a, load_a, profile = _context(rs_a)
    date_b, load_b, _ = _context(rs_b)
    return {"profile": profile, "started_a": date_a, "started_b": date_b,
            "load_a": load_a, "load_b": load_b,
            "files_a": [f.path for f in rs_a.files], "files_b": [f.path for f in rs_b.files],
            "threshold": threshold, "target": target, "summary": summary,
            "unstable": unstable, "cells": rows}


def _pair(x, y):
    if x is None or y is None:
        return ""
    return f"{x:.2f} → {y:.2f}"


def render_text(data):
    """A few lines for the terminal."""
    s = data["summary"]

    def pct(x):
        return "—" if x is None else f"{100 * x:.1f}%"
    lines = [f"stability ({data['profile']}): {s['cells']} cells in both runs"]
    for label, key in (("ratio to best of ours", "ratio_ours"), ("ratio to best peer", "ratio_peer"),
                       ("absolute median", "median")):
        for scope, d in s[key].items():
            lines.append(f"  drift of {label:22s} {scope:20s} n={d['n']:4d}  median {pct(d['median'])}"
                         f"  p90 {pct(d['p90'])}  max {pct(d['max'])}")
    t = data["target"]
    lines.append(f"  target (ratio to best of ours, all cells): median <= {pct(t['median'])}, "
                 f"p90 <= {pct(t['p90'])}: {'met' if s['target_met'] else 'NOT met'}")
    lines.append(f"  cells not stable (a ratio drifted > {pct(data['threshold'])}): {len(data['unstable'])}")
    for u in data["unstable"][:15]:
        lines.append(f"    {u['case']} {u['impl']}: {pct(u['drift'])} (÷ours {u['ours_text']}; "
                     f"÷peer {u['peer_text']})")
    return "\n".join(lines)


def write_json(path, data):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1, sort_keys=True)
        f.write("\n")


def load_json(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "summary" not in data:
        raise ValueError(f"{path}: not a stability file (harness.report stability --json-out)")
    return data
