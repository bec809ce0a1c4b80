"""Markdown tables and number formatting for the report.

Numbers are shown with three significant digits and their unit (msg/s with k/M/G,
times in ns/us/ms/s); every median comes with its spread over repetitions.
"""

import math

from .stats import MIN_EFFECT

_SI = ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"))
_TIME = ((1e9, "s"), (1e6, "ms"), (1e3, "µs"), (1.0, "ns"))


def sig3(x):
    """Three significant digits, trailing zeros kept: 1.1 -> '1.10', 1234 -> '1234'."""
    if x == 0 or not math.isfinite(x):
        return "0" if x == 0 else str(x)
    decimals = max(0, 2 - int(math.floor(math.log10(abs(x)))))
    text = f"{x:.{decimals}f}"
    # Rounding may add a digit (9.999 -> 10.00): recompute once.
    if decimals and len(text.replace("-", "").replace(".", "").lstrip("0")) > 3:
        text = f"{x:.{decimals - 1}f}"
    return text


def fmt(x, unit):
    """A value in its unit: fmt(1.1e6, 'msg/s') -> '1.10 M', fmt(1500, 'ns') -> '1.50 µs'."""
    if x is None:
        return ""
    if unit == "ns":
        for scale, name in _TIME:
            if abs(x) >= scale:
                return f"{sig3(x / scale)} {name}"
        return f"{sig3(x)} ns"
    for scale, name in _SI:
        if abs(x) >= scale:
            return f"{sig3(x / scale)} {name}"
    if unit == "count" and float(x).is_integer():
        return str(int(x))
    return sig3(x)


def fmt_spread(s, unit):
    """'1 rep', or 'min–max, IQR x' over the repetitions."""
    if s is None:
        return ""
    if s.n == 1:
        return "1 rep"
    return f"{fmt(s.lo, unit)}–{fmt(s.hi, unit)}, IQR {fmt(s.iqr, unit)}"


def fmt_ratio(r):
    return "" if r is None else f"{r:.2f}"


def fmt_interval(iv, times=False):
    """'0.85 [0.80–0.91]' (a ratio with its 95% interval), '0.85 (1 rep)', or ''."""
    if iv is None:
        return ""
    x = "×" if times else ""
    if not iv.known:
        return f"{iv.value:.2f}{x} (1 rep)"
    return f"{iv.value:.2f}{x} [{iv.lo:.2f}–{iv.hi:.2f}]"


def fmt_margin(iv, other, established):
    """'1.35× [1.20–1.50] crossbeam' plus whether the order is established."""
    if iv is None:
        return other
    text = f"{fmt_interval(iv, times=True)} {other}"
    if not iv.known:
        return text + ", not established (1 rep)"
    return text + (", established" if established else f", not established ({undecided_why(iv)})")


def undecided_why(iv):
    """Why an interval decides no order: it holds 1, or it lies within MIN_EFFECT of 1."""
    if iv is not None and iv.excludes(1.0):
        return f"within {MIN_EFFECT:.0%}: practically equal"
    return "intervals overlap"


def cell(text):
    """Text made safe for one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown_table(headers, rows, align=None):
    """headers: [str]; rows: [[str]]; align: 'l'/'r' per column (default left)."""
    align = align or ["l"] * len(headers)
    marks = {"l": "---", "r": "---:", "c": ":---:"}
    lines = ["| " + " | ".join(cell(h) for h in headers) + " |",
             "|" + "|".join(marks[a] for a in align) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(c) for c in row) + " |")
    return "\n".join(lines)


def case_table(case):
    """One case: a row per implementation, best first; ERROR and n/a rows without numbers."""
    headers, align = ["implementation", "kind"], ["l", "l"]
    for metric, _ in case.columns:
        headers += [f"{metric.label} median", f"{metric.label} spread"]
        align += ["r", "l"]
    headers += ["÷ best of ours [95% CI]", "÷ best peer [95% CI]", "CPU/msg",
                "cores busy", "ctx switches vol/invol", "reps"]
    align += ["r", "r", "r", "r", "r", "r"]
    for counter in case.extras:
        headers.append(f"{counter} median [min–max]")
        align.append("r")
    rows = []
    width = len(headers)
    for r in case.rows:
        if r.error or r.na:
            text = f"ERROR: {r.error}" if r.error else f"n/a: {r.na}"
            rows.append([r.impl, r.kind, text] + [""] * (width - 3))
            continue
        line = [r.impl, r.kind]
        for metric, _, s in r.metrics:
            line += [fmt(s.median, metric.unit) if s else "", fmt_spread(s, metric.unit)]
        ours = fmt_interval(r.ratio_ours)
        peer = fmt_interval(r.ratio_peer)
        if r.impl == case.best_ours:
            ours = "**1 (best of ours)**"
        if r.impl == case.best_peer:
            peer = "**1 (best peer)**"
        ctx = ""
        if r.vcsw or r.ivcsw:
            ctx = f"{fmt(r.vcsw.median, 'count') if r.vcsw else '?'} / " \
                  f"{fmt(r.ivcsw.median, 'count') if r.ivcsw else '?'}"
        cpu = fmt(r.cpu_ns_per_msg.median, "ns") if r.cpu_ns_per_msg else ""
        busy = sig3(r.cpu_util.median) if r.cpu_util else ""
        line += [ours, peer, cpu, busy, ctx, str(r.reps)]
        for counter in case.extras:
            s = r.extras.get(counter)
            if s is None:
                line.append("")
            elif s.n == 1:
                line.append(fmt(s.median, "count"))
            else:
                line.append(f"{fmt(s.median, 'count')} [{fmt(s.lo, 'count')}–{fmt(s.hi, 'count')}]")
        rows.append(line)
    return markdown_table(headers, rows, align)


def case_note(case):
    if not case.columns:
        return "No metric of this scenario was found in the input."
    metric = case.columns[0][0]
    better = "higher" if metric.higher_is_better else "lower"
    return (f"Ranked by median {metric.label} ({better} is better). \"÷ best of ours\" and "
            f"\"÷ best peer\": the row's {metric.label} ÷ that of the best chanbench channel / the "
            f"best peer, with a 95% bootstrap interval over repetitions (paired by round when "
            f"both ran interleaved in one file). Spread = min–max over repetitions and IQR. "
            f"CPU/msg = user+sys CPU per message; cores busy = CPU time ÷ wall time; "
            f"context switches are medians per repetition.")


def _cap_order(value):
    if value == "unbounded":
        return (2, 0.0, value)
    try:
        return (1, float(value), value)
    except ValueError:
        return (3, 0.0, value)


def sort_caps(values):
    return sorted(set(values), key=_cap_order)


def summary_table(cases, row_key="shape", col_key="cap"):
    """Winner per (row_key, col_key) among channels and peers, and its margin over the
    runner-up. cases: the throughput scenario's Case list. None if nothing to show."""
    cells, row_values, col_values = {}, [], []
    for c in cases:
        rv, cv = c.param(row_key), c.param(col_key)
        if rv is None or cv is None or not c.columns:
            continue
        others = [f"{k}:{v}" for k, v in c.params if k not in (row_key, col_key)]
        rv = " ".join([rv] + others)
        if rv not in row_values:
            row_values.append(rv)
        col_values.append(cv)
        metric = c.columns[0][0]
        ranked = [r for r in c.rows if r.main is not None and r.kind != "reference"]
        if not ranked:
            cells[rv, cv] = "—"
            continue
        ranked.sort(key=lambda r: r.main.median, reverse=metric.higher_is_better)
        win = ranked[0]
        text = f"**{win.impl}** {fmt(win.main.median, metric.unit)}"
        if len(ranked) > 1 and ranked[1].main.median:
            m = c.margin(win, ranked[1])
            if m is None or not m.known:
                text += f" (over {ranked[1].impl}: 1 rep, not established)"
            elif m.decides():
                text += f" ({fmt_interval(m, times=True)} over {ranked[1].impl}, established)"
            else:
                text += f" (not established: {fmt_interval(m, times=True)} over {ranked[1].impl})"
        else:
            text += " (only one)"
        cells[rv, cv] = text
    if not cells:
        return None
    cols = sort_caps(col_values)
    headers = [f"{row_key} \\ {col_key}"] + cols
    rows = [[rv] + [cells.get((rv, cv), "") for cv in cols] for rv in row_values]
    return markdown_table(headers, rows, ["l"] + ["l"] * len(cols))


def winners_table(analysed):
    """One row per case of every scenario: the winner among channels and peers, its
    margin over the runner-up, the best chanbench channel and how far it is behind.
    Cases where a peer beats every chanbench channel are marked. None if empty."""
    rows = []
    for scenario, cases in analysed.items():
        for c in cases:
            if not c.columns:
                continue
            metric = c.columns[0][0]
            ranked = [r for r in c.rows if r.main is not None and r.kind != "reference"]
            if not ranked:
                continue
            ranked.sort(key=lambda r: r.main.median, reverse=metric.higher_is_better)
            win = ranked[0]
            second = ""
            if len(ranked) > 1:
                second = fmt_margin(c.margin(win, ranked[1]), ranked[1].impl,
                                    c.established(win, ranked[1]))
            ours = [r for r in ranked if r.kind == "channel"]
            peers = [r for r in ranked if r.kind == "peer"]
            vs_peer = ""
            if not ours:
                best_ours, verdict = "—", "no chanbench channel ran"
            elif ours[0] is win:
                best_ours = win.impl
                if peers:
                    m = c.margin(win, peers[0])
                    vs_peer = fmt_interval(c.ratio(win, peers[0]))
                    verdict = "**ours**" if m is not None and m.decides() \
                        else f"ours ahead, not established ({undecided_why(m)})"
                else:
                    verdict = "ours (no peer ran)"
            else:
                m = c.margin(win, ours[0])
                best_ours = f"{ours[0].impl} ({fmt_interval(m, times=True)} behind)" if m else ours[0].impl
                if peers:
                    vs_peer = fmt_interval(c.ratio(ours[0], peers[0]))
                if m is None or not m.decides():
                    verdict = f"not established: {win.kind} ahead, {undecided_why(m)}"
                else:
                    verdict = "**peer beats all ours**" if win.kind == "peer" else win.kind
            rows.append([c.case, metric.label, f"{win.impl} {fmt(win.main.median, metric.unit)}",
                         second, best_ours, vs_peer, verdict])
    if not rows:
        return None
    return markdown_table(["case", "ranked by", "winner", "ahead of runner-up [95% CI]",
                           "best chanbench channel", "best of ours ÷ best peer [95% CI]",
                           "who wins"], rows)


def key_value_table(pairs, headers=("", "")):
    return markdown_table(list(headers), [[k, v] for k, v in pairs])


def na_table(items):
    """items: [(cases, impls, why)]."""
    return markdown_table(["case", "implementation", "why"], [list(i) for i in items])


def constants_line(case):
    """'Same in every run: payload 256, pause_ns 200 k.' or ''."""
    if not case.constants:
        return ""
    return "Same in every run: " + ", ".join(
        f"{k} {fmt(v, 'count')}" for k, v in sorted(case.constants.items())) + "."


def conformance_table(matrix):
    """Rows = implementations, columns = property ids with a result, plus a pass count."""
    props = matrix.tested()
    headers = ["implementation"] + props + ["passed"]
    rows = []
    for impl in matrix.impls:
        statuses = [matrix.status(impl, p) for p in props]
        shown = [("**FAIL**" if s == "FAIL" else s) for s in statuses]
        applicable = [s for s in statuses if s in ("pass", "FAIL")]
        passed = sum(1 for s in applicable if s == "pass")
        rows.append([impl] + shown + [f"{passed}/{len(applicable)}"])
    return markdown_table(headers, rows, ["l"] + ["c"] * len(props) + ["r"])
