"""Running the C drivers (chan-stress, chan-linearize) from pytest, as subprocesses.

A driver runs in its own process, so a plug-in that crashes or hangs fails the one
test that ran it and the suite goes on. This module finds the executables, picks
the scale (quick or soak), runs a driver with a time limit and turns its exit code
and output into a pytest outcome:

    0   pass (the JSON summary line must say "ok": true)
    1   discrepancy / violation: fail, with the driver's "discrepancy:" lines
    2   usage or set-up error: fail
    3   the driver's own watchdog saw a hang: fail, with what each thread was doing
    77  n/a: skip with "n/a: capability ... not declared" (the matrix counts it n/a)
    <0  killed by a signal (a crash in the implementation): fail, naming the signal
    and a subprocess that outlives its time limit is killed: fail, naming the driver,
    the implementation and the check.

Scale. Quick by default: the whole stress and linearizability set for three
implementations takes about two minutes on two cores. A soak runs each test for
CHANBENCH_SOAK_SECONDS (default 20) with bigger rounds; it is chosen by
CHANBENCH_SOAK=1, or by a --soak option if conftest.py defines one.

Where: $CHANBENCH_DRIVER_BUILD, else $CHANBENCH_BUILD (default <repo>/build),
then tests/drivers/. The separate variable lets a sanitizer run use drivers from
an instrumented build while Python (which cannot load a ThreadSanitizer library
through ctypes) lists implementations from the Release one.

Sanitizers ($CHANBENCH_SANITIZER): the drivers are their own processes, so they
get their own runtime options: "address" turns leak checking on (the Python
process runs with it off) and drops the LD_PRELOAD meant for Python; "thread"
halts on the first report and reads tests/tsan/suppressions.txt.
"""
import json
import os
import pathlib
import signal
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
DRIVER_EXIT_NA = 77


def build_dir():
    d = os.environ.get("CHANBENCH_DRIVER_BUILD") or os.environ.get("CHANBENCH_BUILD") or REPO / "build"
    return pathlib.Path(d).resolve()


def driver_env():
    """The environment for a driver subprocess (see the module docstring)."""
    env = dict(os.environ)
    san = env.get("CHANBENCH_SANITIZER", "")
    if san == "address":
        env.pop("LD_PRELOAD", None)
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:exitcode=66"
    elif san == "thread":
        env["TSAN_OPTIONS"] = ("halt_on_error=1:exitcode=66:second_deadlock_stack=1:"
                               f"suppressions={REPO / 'tests' / 'tsan' / 'suppressions.txt'}")
    return env


def driver_path(name):
    return build_dir() / "tests" / "drivers" / name


def soak(config):
    """True for a soak run: --soak (if conftest defines it) or CHANBENCH_SOAK=1.
    With config None only the environment is asked (at import time)."""
    try:
        if config is not None and config.getoption("soak"):
            return True
    except ValueError:  # no such option
        pass
    return os.environ.get("CHANBENCH_SOAK", "") not in ("", "0")


def soak_seconds():
    return float(os.environ.get("CHANBENCH_SOAK_SECONDS", "20"))


def item_timeout(item):
    """The pytest-timeout limit of a test item (0: none)."""
    try:
        import pytest_timeout

        return float(pytest_timeout._get_item_settings(item).timeout or 0)
    except Exception:
        try:
            return float(item.config.getini("timeout") or 0)
        except (ValueError, KeyError):
            return 0.0


def time_budget(request, wanted):
    """Seconds a driver may take: `wanted`, but inside the test's own timeout
    (conftest fails a test at 90% of it), so that the driver's hang report
    arrives first."""
    t = item_timeout(request.node)
    if t > 0:
        wanted = min(wanted, t * 0.75)
    return max(wanted, 5.0)


def plugin_args(config, impl):
    """--plugin PATH when `impl` is a plug-in the run loaded (conftest records them)."""
    cb = getattr(config, "_chanbench", None) or {}
    path = (cb.get("plugins") or {}).get(impl)
    return ["--plugin", str(path)] if path else []


def cap_arg(cap):
    return "unbounded" if cap == "unbounded" else str(cap)


def _tail(text, lines):
    t = text.strip().splitlines()
    if len(t) > lines:
        t = t[:lines] + [f"... ({len(t) - lines} more lines)"]
    return "\n".join(t)


def _summary(stdout):
    for line in reversed(stdout.strip().splitlines()):
        try:
            return json.loads(line)
        except ValueError:
            continue
    return None


def run(driver, args, budget, what):
    """Run a driver; return its JSON summary on a pass, else fail or skip the test.

    `what` names the run in messages ("chan-stress impl=futex cap=0 check=order").
    The driver's watchdog is set a little inside `budget`, so that a hang is
    reported with the driver's own diagnosis; the subprocess limit is the backstop.
    """
    exe = driver_path(driver)
    if not exe.exists():
        pytest.fail(f"{exe} is not built: run cmake --build {build_dir()} "
                    f"(CHANBENCH_BUILD={build_dir()})", pytrace=False)
    cmd = [str(exe), *args, "--timeout", f"{max(budget - 3, 2):g}"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=budget, env=driver_env())
    except subprocess.TimeoutExpired as e:
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"hang: {what} did not finish within {budget:g} s and was killed\n"
                    f"$ {' '.join(cmd)}\n{_tail(err, 40)}", pytrace=False)
    summary = _summary(p.stdout)
    rc = p.returncode
    head = f"$ {' '.join(cmd)}"
    if rc == DRIVER_EXIT_NA:
        missing = (summary or {}).get("missing_cap", "?")
        pytest.skip(f"n/a: capability {missing} not declared")
    if rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = f"signal {-rc}"
        pytest.fail(f"crash: {what} was killed by {sig}\n{head}\n{_tail(p.stderr, 40)}", pytrace=False)
    if rc == 3:
        pytest.fail(f"hang: {what}: the driver's watchdog fired\n{head}\n{_tail(p.stderr, 60)}",
                    pytrace=False)
    if rc == 1:
        lines = [l for l in p.stderr.splitlines() if not l.startswith("note:")]
        notes = [l for l in p.stderr.splitlines() if l.startswith("note:")]
        msg = f"{what} found discrepancies\n{head}\n" + _tail("\n".join(lines), 80)
        if notes:
            msg += "\n" + _tail("\n".join(notes), 10)
        pytest.fail(msg, pytrace=False)
    if rc != 0:
        pytest.fail(f"{what} failed to run (exit status {rc})\n{head}\n{_tail(p.stderr, 40)}",
                    pytrace=False)
    if summary is None or summary.get("ok") is not True:
        pytest.fail(f"{what} exited 0 but its summary line is missing or not ok\n{head}\n"
                    f"stdout: {_tail(p.stdout, 10)}\nstderr: {_tail(p.stderr, 20)}", pytrace=False)
    return summary
