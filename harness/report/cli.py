"""Command line: `report` writes REPORT.md and its plots; `compare` flags regressions."""

import argparse
import os
import re
import sys

from . import compare as comparing
from . import stability as stability_mod
from .conformance import load_matrix
from .report import write_report
from .results import ResultError, load_results

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_DESCRIPTION = """\
chanbench reports. Inputs are google-benchmark JSON files in chanbench's format
(docs/RESULTS.md): the C runner's file and any peer-*.json from the Go/Rust peers.

  report   RESULT.json [MORE.json ...]  ->  <out-dir>/REPORT.md and <out-dir>/plots/*.svg
  compare  BASELINE.json CANDIDATE.json ->  a table and a one-line verdict;
                                            exit status 3 when something regressed
  stability --a RUN1.json.. --b RUN2.json.. -> per-cell drift between two back-to-back
                                            runs (scripts/stability.sh), as JSON for
                                            report --stability

Run '%(prog)s report --help' or '%(prog)s compare --help' for the options."""

_COMPARE_EPILOG = f"""\
Per benchmark in both files: the median of the metric in each file, the change
(candidate - baseline) / baseline, which direction is worse (rates: lower is worse;
times and latencies: higher is worse), and a two-sided Mann-Whitney U test over the
repetitions (scipy.stats.mannwhitneyu, as google-benchmark's compare.py). Benchmarks
with fewer than {comparing.MIN_REPS} repetitions on either side are listed as "not tested" and do
not gate; note that with 3 repetitions each the exact test cannot go below p = 0.10,
so gating at alpha 0.05 needs at least {comparing.reps_needed(0.05)} repetitions each.

exit status:
  {comparing.EXIT_OK}  no regression
  {comparing.EXIT_INPUT}  unreadable input, or no benchmark in both files
  2  bad command line
  {comparing.EXIT_REGRESSION}  a regression: some benchmark is worse by more than --threshold with
     p < --alpha, or its candidate run failed validation (ERROR) where the baseline passed

On a busy or shared machine, two runs of the same build can differ by tens of per
cent for throughput (load changes between the runs, not within one): use --control
with an implementation present in both runs, a larger --threshold, or both.

google-benchmark's own view of the same files:
  /usr/bin/python3 /usr/share/benchmark/compare.py benchmarks BASELINE.json CANDIDATE.json"""

_REPORT_EPILOG = """\
A series sidecar <result>.series.json (or <result without .json>.series.json) next to
an input is read for the time-series plots. Plots from an earlier report in the same
directory that this report no longer shows are removed. Exit status: 0 written,
1 unreadable input, 2 bad command line."""


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1): {text}")
    return value


def _regex(text):
    try:
        return re.compile(text)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"bad regular expression {text!r}: {e}")


def parser():
    p = argparse.ArgumentParser(prog="python3 -m harness.report", description=_DESCRIPTION,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="{report,compare,stability}")

    r = sub.add_parser("report", help="write REPORT.md and SVG plots",
                       epilog=_REPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("results", nargs="+", metavar="RESULT.json",
                   help="result files to merge (runner output, peer-*.json)")
    r.add_argument("--conformance", metavar="MATRIX.json",
                   help="the conformance matrix (results/conformance/matrix.json)")
    r.add_argument("--out-dir", metavar="DIR",
                   help="where to write REPORT.md and plots/ (default: results/<machine> "
                        "in the repository, <machine> from the CPU model and core count)")
    r.add_argument("--machine", metavar="NAME",
                   help="the machine name in the title and the default directory")
    r.add_argument("--stability", metavar="STABILITY.json",
                   help="add a Stability section from `stability --json-out` (scripts/stability.sh)")

    st = sub.add_parser("stability", help="drift between two back-to-back runs of one profile")
    st.add_argument("--a", nargs="+", required=True, metavar="RESULT.json",
                    help="the first run's result files")
    st.add_argument("--b", nargs="+", required=True, metavar="RESULT.json",
                    help="the second run's result files")
    st.add_argument("--threshold", type=_fraction, default=stability_mod.UNSTABLE,
                    help="a cell whose ratio drifts more than this is not stable (default 0.10)")
    st.add_argument("--json-out", metavar="FILE", help="write the summary and every cell as JSON")

    c = sub.add_parser("compare", help="flag regressions between two result files",
                       epilog=_COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("baseline", metavar="BASELINE.json")
    c.add_argument("candidate", metavar="CANDIDATE.json")
    c.add_argument("--threshold", type=_fraction, default=0.05,
                   help="relative change in the worse direction that counts (default 0.05 = 5%%)")
    c.add_argument("--alpha", type=_fraction, default=0.05,
                   help="significance level of the U test (default 0.05)")
    c.add_argument("--metric", metavar="COUNTER",
                   help="compare this counter (msgs_per_s, p99_ns, cpu_ns_per_msg, ...) or "
                        "real_time / cpu_time for every benchmark; default: each scenario's main "
                        "metric (msgs/s for throughput-like scenarios, p50 for latency ones)")
    c.add_argument("--filter", metavar="REGEX", type=_regex,
                   help="compare only the benchmarks whose name (<case>/impl:<impl>) matches, "
                        "e.g. 'impl:myplugin$' or '^throughput/'")
    c.add_argument("--control", metavar="IMPL",
                   help="divide every value by this implementation's value in the same case and "
                        "repetition of the same file before comparing (cancels machine-wide "
                        "drift between the two runs on a shared machine; IMPL itself is not "
                        "compared)")
    c.add_argument("--json-out", metavar="FILE",
                   help="also write the comparison and verdict as JSON")
    return p


def run_report(args):
    rs = load_results(args.results)
    matrix = load_matrix(args.conformance) if args.conformance else None
    stab = stability_mod.load_json(args.stability) if args.stability else None
    path = write_report(rs, out_dir=args.out_dir, matrix=matrix, machine=args.machine,
                        default_root=os.path.join(REPO_ROOT, "results"), stability=stab)
    print(path)
    return 0


def run_compare(args):
    base = load_results([args.baseline])
    cand = load_results([args.candidate])
    comparisons, only_base, only_cand = comparing.compare(
        base, cand, threshold=args.threshold, alpha=args.alpha, metric=args.metric,
        only=args.filter, control=args.control)
    line, status = comparing.verdict(comparisons, only_base, only_cand, args.threshold, args.alpha)
    if comparisons:
        print(comparing.render_table(comparisons))
        print()
    for title, keys in (("only in baseline", only_base), ("only in candidate", only_cand)):
        if keys:
            print(f"{title}: " + ", ".join(keys))
    print(line)
    if args.json_out:
        comparing.write_json(args.json_out, comparisons, only_base, only_cand, line, status)
    return status


def run_stability(args):
    data = stability_mod.compare(load_results(args.a), load_results(args.b),
                                 threshold=args.threshold)
    print(stability_mod.render_text(data))
    if args.json_out:
        stability_mod.write_json(args.json_out, data)
    return 0


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        if args.command == "report":
            return run_report(args)
        if args.command == "stability":
            return run_stability(args)
        return run_compare(args)
    except (ResultError, OSError, ValueError) as e:
        print(f"harness.report: {e}", file=sys.stderr)
        return 1
