"""The suite's self-test: it must catch each deliberately broken plug-in.

CONFORMANCE.md, "The suite tests itself": tests/broken/broken_chan.c is built once
per flaw (tests/broken/CMakeLists.txt) into <build>/tests/broken/libbroken_<flaw>.so,
ops name "broken-<flaw>". For each one this runs the conformance suite on it alone,
in a child pytest, and asserts that

  (a) the child reports failures (exit code 1), and
  (b) the property the flaw breaks is among those the child's matrix reports FAIL.

The control, "none" (the same body without any flaw), must pass: exit code 0 and
no FAIL, so we know the suite does not simply fail everything.

The children run in parallel (one per core), each with a per-test timeout (a
broken plug-in may hang) and a wall-clock limit. Each child's output is kept in
<build>/tests/broken/selftest/<flaw>.log and a summary of what it reported FAIL in
<build>/tests/broken/selftest/summary.json.

Skipped when the run is about one implementation (--impl or --plugin given: a
plug-in author's run), and inside the children themselves. Select it alone with
`-m selftest`, leave it out with `-m "not selftest"`.
"""

import concurrent.futures
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parent.parent
BUILD = pathlib.Path(os.environ.get("CHANBENCH_BUILD", REPO / "build")).resolve()
BROKEN_DIR = BUILD / "tests" / "broken"
OUT_DIR = BROKEN_DIR / "selftest"

# flaw -> the properties that may report it; the first is the one it is aimed at
# (tests/broken/README.md says why each flaw is realistic).
FLAWS = {
    "lost_wakeup": ("Q7", "F1", "Q4"),
    "off_by_one_capacity": ("Q6",),
    "drop_on_close": ("C1",),
    "duplicate_under_race": ("Q3",),
    "lifo": ("Q1",),
    "try_send_blocks": ("Q5",),
    "timeout_ignored": ("T1",),
    "close_no_wake_senders": ("C3",),
    "len_lies": ("Q8",),
    "unbounded_blocks": ("Q11",),
    "rendezvous_buffers_one": ("Q12",),
    "nonatomic_index": ("Q3",),
    "send_after_close_accepted": ("C4",),
    "timed_recv_consumes": ("T4",),
    "second_close_ok": ("C5",),
    "closed_before_drain": ("C1", "C2"),
    "timeout_rearmed": ("T1",),
    "timeout_overshoot": ("T1",),
    "unbounded_stops_early": ("Q11",),
}
CONTROL = "none"

# Set in the children's environment: a child never runs this module again.
CHILD_ENV = "CHANBENCH_SELFTEST_CHILD"
# Per-test timeout inside a child, and wall-clock limit for a whole child (s).
PER_TEST_TIMEOUT = float(os.environ.get("CHANBENCH_SELFTEST_TEST_TIMEOUT", "20"))
CHILD_TIMEOUT = float(os.environ.get("CHANBENCH_SELFTEST_CHILD_TIMEOUT", "240"))
WORKERS = int(os.environ.get("CHANBENCH_SELFTEST_JOBS", "0")) or max(2, os.cpu_count() or 2)

# A test waits for its child run (hung plug-ins take up to their per-test
# timeouts), so its own limit is the child's plus a margin.
pytestmark = [pytest.mark.selftest, pytest.mark.timeout(CHILD_TIMEOUT + 60)]


def plugin_path(flaw):
    return BROKEN_DIR / f"libbroken_{flaw}.so"


def impl_name(flaw):
    return f"broken-{flaw}"


class ChildRun:
    """One child pytest run of the conformance suite on one broken plug-in."""

    def __init__(self, flaw):
        self.flaw = flaw
        self.outdir = OUT_DIR / flaw
        self.log = OUT_DIR / f"{flaw}.log"
        self.returncode = None
        self.seconds = None
        self.matrix = None  # {property: "pass" | "FAIL" | "n/a"} for this impl
        self.error = None  # why there is no usable result

    def properties(self):
        """The properties this child checks: the flaw's own, or for the control
        the union of all of them (the unbroken body must pass every one)."""
        if self.flaw == CONTROL:
            return sorted({p for props in FLAWS.values() for p in props})
        return list(FLAWS[self.flaw])

    def command(self):
        # Only the tests of the properties in question (test names start with
        # test_<id>_): the point is that the flaw is reported where it belongs,
        # and the whole suite on 17 plug-ins would take far too long for CI.
        select = " or ".join(f"test_{p}_" for p in self.properties())
        return [
            sys.executable, "-m", "pytest", str(REPO / "tests"),
            "-k", select,
            "--plugin", str(plugin_path(self.flaw)),
            "--impl", impl_name(self.flaw),
            "--matrix-out", str(self.outdir),
            "--ignore", str(pathlib.Path(__file__).resolve()),
            "--ignore", str(REPO / "tests" / "test_peers.py"),
            "--ignore", str(REPO / "tests" / "test_report.py"),
            "--ignore", str(REPO / "tests" / "test_scenarios.py"),
            "-m", "not selftest",
            "-p", "no:cacheprovider",
            "--timeout", f"{PER_TEST_TIMEOUT:g}",
            "-q", "-rN", "--no-header",
        ]

    def run(self):
        shutil.rmtree(self.outdir, ignore_errors=True)
        self.outdir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, **{CHILD_ENV: "1", "CHANBENCH_BUILD": str(BUILD)})
        start = time.monotonic()
        with open(self.log, "w") as log:
            log.write("$ " + " ".join(self.command()) + "\n\n")
            log.flush()
            try:
                proc = subprocess.run(self.command(), cwd=REPO, env=env, stdout=log,
                                      stderr=subprocess.STDOUT, timeout=CHILD_TIMEOUT)
                self.returncode = proc.returncode
            except subprocess.TimeoutExpired:
                self.error = f"the child run did not finish in {CHILD_TIMEOUT:g} s"
        self.seconds = time.monotonic() - start
        if self.error is None:
            self._read_matrix()
        return self

    def _read_matrix(self):
        path = self.outdir / "matrix.json"
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            self.error = f"no readable {path}: {e}"
            return
        impls = doc.get("implementations", {})
        if impl_name(self.flaw) not in impls:
            self.error = f"{path} has no entry for {impl_name(self.flaw)} (has: {sorted(impls)})"
            return
        self.matrix = impls[impl_name(self.flaw)]

    def failed(self):
        return sorted(p for p, v in (self.matrix or {}).items() if v == "FAIL")

    def passed(self):
        return sorted(p for p, v in (self.matrix or {}).items() if v == "pass")

    def tail(self, lines=40):
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])

    def describe(self):
        return (f"broken-{self.flaw}: exit code {self.returncode}, {self.seconds:.0f} s, "
                f"FAIL: {', '.join(self.failed()) or 'none'}; log {self.log}")


class SelftestRunner:
    """Runs the children of this session in parallel, on first demand."""

    def __init__(self, flaws):
        self.flaws = flaws
        self.pool = None
        self.futures = {}
        self.lock = threading.Lock()

    def result(self, flaw):
        with self.lock:
            if self.pool is None:
                OUT_DIR.mkdir(parents=True, exist_ok=True)
                # Under pytest-xdist every worker collects every test but runs only
                # some: there the workers are the parallelism, one child per test.
                under_xdist = bool(os.environ.get("PYTEST_XDIST_WORKER"))
                self.pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1 if under_xdist else WORKERS)
                if not under_xdist:
                    for f in self.flaws:
                        self.futures[f] = self.pool.submit(ChildRun(f).run)
            if flaw not in self.futures:
                self.futures[flaw] = self.pool.submit(ChildRun(flaw).run)
        return self.futures[flaw].result()

    def close(self):
        if self.pool is None:
            return
        self.pool.shutdown(wait=True)
        summary = {}
        for f, fut in self.futures.items():
            r = fut.result()
            summary[f] = {
                "expected": list(FLAWS.get(f, ())),
                "exit_code": r.returncode,
                "seconds": round(r.seconds or 0, 1),
                "FAIL": r.failed(),
                "error": r.error,
            }
        (OUT_DIR / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")


def _skip_reason(config):
    if os.environ.get(CHILD_ENV):
        return "inside a self-test child"
    for opt in ("--impl", "--plugin"):
        if config.getoption(opt, default=None):
            return f"the run is about one implementation ({opt} given)"
    return None


@pytest.fixture(scope="session")
def selftest_runner(request):
    reason = _skip_reason(request.config)
    if reason:
        pytest.skip(f"self-test skipped: {reason}")
    # Only the flaws whose tests were collected in this session (or xdist worker).
    flaws = []
    for item in request.session.items:
        spec = getattr(item, "callspec", None)
        if item.module is sys.modules[__name__] and spec is not None and "flaw" in spec.params:
            if spec.params["flaw"] not in flaws:
                flaws.append(spec.params["flaw"])
    missing = [str(plugin_path(f)) for f in flaws if not plugin_path(f).exists()]
    if missing:
        pytest.fail(f"broken plug-ins not built (CHANBENCH_BUILD={BUILD}): {', '.join(missing)}; "
                    f"build them with: cmake --build {BUILD} --target broken_plugins")
    runner = SelftestRunner(flaws)
    yield runner
    runner.close()


@pytest.mark.parametrize("flaw", [CONTROL])
def test_control_passes(selftest_runner, flaw):
    """broken-none, the same body without a flaw, passes every property the
    flaws are expected to break (so a failure below is the flaw's, not the body's)."""
    r = selftest_runner.result(flaw)
    assert r.error is None, f"{r.error}\n{r.tail()}"
    assert r.returncode == 0 and not r.failed(), \
        f"the unbroken control failed: {r.describe()}\n{r.tail()}"
    assert r.passed(), f"the control passed no property at all: {r.describe()}"


@pytest.mark.parametrize("flaw", list(FLAWS))
def test_suite_catches_flaw(selftest_runner, flaw):
    """The suite fails broken-<flaw>, on (one of) the property it breaks."""
    r = selftest_runner.result(flaw)
    assert r.error is None, f"{r.error}\n{r.tail()}"
    assert r.returncode == 1, \
        f"expected the suite to report failures (exit code 1): {r.describe()}\n{r.tail()}"
    expected = FLAWS[flaw]
    assert set(expected) & set(r.failed()), \
        (f"broken-{flaw} breaks {' / '.join(expected)}, but the suite did not report it: "
         f"{r.describe()}\n{r.tail()}")
