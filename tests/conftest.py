"""chanbench conformance suite: configuration, implementations, helpers.

Run (Debian's interpreter has pytest; another python3 on PATH may not):

    /usr/bin/python3 -m pytest tests                      # every registered implementation
    /usr/bin/python3 -m pytest tests -n 2                 # two worker processes (see "Crashes")
    /usr/bin/python3 -m pytest tests --impl futex         # only some implementations
    /usr/bin/python3 -m pytest tests --plugin path/to/their.so --impl their-name
    CHANBENCH_PLUGINS=a.so:b.so /usr/bin/python3 -m pytest tests

Put the test path first or write these options as --opt=value: pytest picks its
root directory before it reads this file, and an existing directory after a
leading "--matrix-out" would be taken for a test path (see tests/README.md).

The library. libchanbench.so is loaded from $CHANBENCH_BUILD (default <repo>/build);
without it the run stops at once with a message saying how to build it.

Implementations. Every test that takes the argument `impl` is parametrized over
every implementation in the library's registry (chan_impl_count/chan_impl_name_at:
the built-ins, then the plug-ins named by --plugin PATH (repeatable) and
$CHANBENCH_PLUGINS (colon-separated), loaded in that order); --impl NAME
(repeatable) keeps only those. The implementation is the first parameter id:
test_Q5_full_send_blocks[futex-cap=1]. A plug-in is first loaded in a throw-away
process (chanlib.py --probe), so one that crashes or fails while loading stops the
run with a message naming it and saying what is wrong.

Properties. Every conformance test names the CONFORMANCE.md id it checks, in its
name (test_Q5_...) and with @pytest.mark.prop("Q5"). The ids and the
implementation go into each report's user_properties, from which tests/matrix.py
builds the conformance matrix (results/conformance/matrix.{json,md}, or
--matrix-out DIR). A test needing a capability the implementation does not
declare calls need(impl, Caps.X) / uses make(cap) and is skipped with the reason
"n/a: capability x not declared": reported, never silently dropped.

Hangs. Blocking operations run in helper threads (blocking.spawn) whose join
times out with the operation's name: "recv on futex cap=0 did not return within
10s" (blocking.OP_TIMEOUT, $CHANBENCH_OP_TIMEOUT). The test body itself runs in a
watchdog thread (pytest_pyfunc_call below): a single channel call made in the
body that has not returned after OP_TIMEOUT fails the test at once, by name (a
try_send that blocks); and if the body has not finished by 90% of the test's timeout (pytest-timeout: 60 s from
pytest.ini, or @pytest.mark.timeout(N)), the test fails with every channel call
still in progress, by name, and the run goes on; the hung threads are abandoned
(daemon threads) and that test's channels are never destroyed, so a late return
cannot touch freed memory. pytest-timeout (signal method) remains the backstop.

Crashes. A plug-in that crashes (SIGSEGV, abort) kills the process it runs in.
Run with xdist, `-n 2`: each worker is a separate process; when one dies, xdist
reports "worker 'gw0' crashed while running '<test id>'" as that test's failure,
starts a new worker and carries on with the rest (up to --max-worker-restart, by
default 4 x workers). The matrix plug-in runs in the controlling process, so the
crashed test shows as FAIL for its implementation and property. Without -n a
crash ends the run (pytest's faulthandler still prints the C stack's Python
frames, which name the channel call).
"""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import blocking
import chanlib
from capability import need
from chanlib import Status, cap_kind, cap_label

HERE = os.path.dirname(os.path.abspath(__file__))
_LIB = None  # chanlib.Lib of this process


# --- options and configuration -------------------------------------------------


def pytest_addoption(parser):
    g = parser.getgroup("chanbench")
    g.addoption("--plugin", action="append", default=[], metavar="PATH",
                help="load a channel implementation plug-in (.so) and test it; repeatable. "
                     "Also $CHANBENCH_PLUGINS (colon-separated).")
    g.addoption("--impl", action="append", default=[], metavar="NAME",
                help="test only this implementation; repeatable")
    g.addoption("--matrix-out", default=None, metavar="DIR",
                help="where to write matrix.json and matrix.md (default: <build>/conformance, so a "
                     "partial run never overwrites the checked-in results/conformance; "
                     "scripts/test.sh passes --matrix-out=results/conformance)")


def plugin_paths(config):
    paths = list(config.getoption("plugin") or [])
    env = os.environ.get("CHANBENCH_PLUGINS", "")
    paths += [p for p in env.split(":") if p]
    out = []
    for p in paths:
        a = os.path.abspath(p)
        if a not in out:
            out.append(a)
    return out


def _probe_plugins(paths):
    """Load the plug-ins in a throw-away process; UsageError if that fails."""
    r = subprocess.run([sys.executable, os.path.join(HERE, "chanlib.py"), "--probe", *paths],
                       capture_output=True, text=True, timeout=60, env=os.environ.copy())
    if r.returncode != 0:
        tried = [l[len("loading "):] for l in r.stderr.splitlines() if l.startswith("loading ")]
        who = tried[-1] if tried else " ".join(paths)
        how = f"killed by signal {-r.returncode}" if r.returncode < 0 else f"exit status {r.returncode}"
        raise pytest.UsageError(f"plug-in {who} crashed while loading ({how}):\n{r.stderr.strip()}")
    info = json.loads(r.stdout)
    for p in info["plugins"]:
        if p["status"] != "ok":
            raise pytest.UsageError(f"--plugin {p['path']}: cannot load ({p['status']}): {p['error']}")


def pytest_configure(config):
    global _LIB
    config.addinivalue_line("markers", "prop(id, ...): the CONFORMANCE.md property id(s) a test checks")
    config.addinivalue_line("markers", "harness: tests of the suite itself (loader, self-checks); "
                                       "deselected when --impl or --plugin is given")
    config.addinivalue_line("markers", "impl_only(name, ...): run only for these implementations, "
                                       "n/a while one is not registered")
    try:
        _LIB = chanlib.shared_lib()
    except chanlib.LibraryNotFound as e:
        raise pytest.UsageError(str(e))
    except OSError as e:
        raise pytest.UsageError(f"cannot load {chanlib.library_path()}: {e}")

    paths = plugin_paths(config)
    is_worker = hasattr(config, "workerinput")
    if paths and not is_worker:
        _probe_plugins(paths)
    plugin_names = []
    for p in paths:
        st, name, err = _LIB.plugin_load(p)
        if st != Status.OK:
            raise pytest.UsageError(f"--plugin {p}: cannot load ({_LIB.status_str(st)}): {err}")
        plugin_names.append(name)

    registered = _LIB.impls()
    wanted = config.getoption("impl") or []
    for w in wanted:
        if w not in registered:
            raise pytest.UsageError(f"--impl {w}: no implementation of that name is registered "
                                    f"(registered: {', '.join(registered)}; load a plug-in with --plugin PATH)")
    selected = [n for n in registered if not wanted or n in wanted]
    config._chanbench = {"registered": registered, "selected": selected, "restricted": bool(wanted),
                         "plugins": dict(zip(plugin_names, paths))}

    if not is_worker:
        import matrix

        out = config.getoption("matrix_out") or os.path.join(chanlib.build_dir(), "conformance")
        config.pluginmanager.register(matrix.ConformanceMatrix(config, os.path.abspath(out), registered),
                                      "chanbench-matrix")


def pytest_report_header(config):
    cb = getattr(config, "_chanbench", None)
    if not cb:
        return None
    lines = [f"chanbench: {_LIB.path}"]
    for n in cb["selected"]:
        src = f" (plug-in {cb['plugins'][n]})" if n in cb["plugins"] else ""
        lines.append(f"  {n}{src}: {_LIB.caps(n)!r}")
    return lines


# --- parametrization over implementations --------------------------------------


def pytest_generate_tests(metafunc):
    if "impl" not in metafunc.fixturenames:
        return
    cb = metafunc.config._chanbench
    names = list(cb["selected"])
    only = metafunc.definition.get_closest_marker("impl_only")
    if only is not None:
        # a named implementation: run it if selected; while it is not registered
        # (and the run is not restricted to others) keep one case that reports n/a
        names = [n for n in only.args if n in cb["selected"] or (n not in cb["registered"] and not cb["restricted"])]
    metafunc.parametrize("impl", names, ids=names)


def impl_of(item):
    cs = getattr(item, "callspec", None)
    return cs.params.get("impl") if cs is not None else None


def pytest_collection_modifyitems(session, config, items):
    cb = config._chanbench
    # A run restricted with --impl (a plug-in author's, or a child run of the
    # self-tests) is about those implementations: the harness's own tests are not.
    # Loading plug-ins alone restricts nothing (scripts/test.sh loads the template
    # plug-in and must still run the loader's and the self-checks' tests).
    restricted = cb["restricted"]

    def dropped(item):
        if restricted and item.get_closest_marker("harness"):
            return True
        # an impl_only test none of whose implementations is selected
        if item.get_closest_marker("impl_only") and not isinstance(impl_of(item), str):
            return True
        return False

    drop = [i for i in items if dropped(i)]
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = [i for i in items if not dropped(i)]
    for item in items:
        props = [a for m in item.iter_markers("prop") for a in m.args]
        if not props:
            continue
        impl = impl_of(item)
        impl = impl if isinstance(impl, str) else None
        item.user_properties.append(("chanbench_prop", props))
        if impl:
            item.user_properties.append(("chanbench_impl", impl))


# --- the test body under a watchdog ----------------------------------------------


def _item_timeout(item):
    try:
        import pytest_timeout

        t = pytest_timeout._get_item_settings(item).timeout
    except Exception:  # pytest-timeout missing or changed: no whole-test watchdog
        t = 0
    return float(t or 0)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    timeout = _item_timeout(pyfuncitem)
    fn = pyfuncitem.obj
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
    box = {}

    def body():
        try:
            fn(**args)
        except BaseException as e:  # re-raised in the main thread (incl. skip/fail outcomes)
            box["exc"] = e

    t = threading.Thread(target=body, name=f"test body {pyfuncitem.name}", daemon=True)
    t.start()
    limit = timeout * 0.9 if timeout > 0 else None
    end = time.monotonic() + limit if limit else None
    msg = None
    while msg is None:
        t.join(0.25 if end is None else max(0.0, min(0.25, end - time.monotonic())))
        if not t.is_alive():
            break
        mine = chanlib.inflight(t.ident)
        if mine and mine[-1][2] > blocking.OP_TIMEOUT:
            # one channel call in the test body itself has hung (a try_* that blocks,
            # or a call that should have returned at once): no need to wait for the
            # test's whole timeout
            msg = f"{mine[-1][1]} did not return within {blocking.OP_TIMEOUT:g}s (called in the test body)"
        elif end is not None and time.monotonic() >= end:
            msg = f"test did not finish within {limit:g}s"
    if msg is not None:
        blocking.current.abandoned = True
        ops = chanlib.inflight()
        names = {th.ident: th.name for th in threading.enumerate()}
        lines = [f"  {desc} (in thread '{names.get(tid, tid)}', for {secs:.1f}s)" for tid, desc, secs in ops]
        if lines:
            msg += "; channel calls still in progress:\n" + "\n".join(lines)
        else:
            msg += " (no channel call in progress: a Python-level wait in the test itself)"
        pytest.fail(msg, pytrace=False)
    if "exc" in box:
        raise box["exc"]
    return True


# --- fixtures and helpers for tests --------------------------------------------------


@pytest.fixture(scope="session")
def lib():
    return _LIB


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.when == "call":
        item._chanbench_call_failed = rep.failed


@pytest.fixture(autouse=True)
def _test_context(request):
    """Helper threads and channels of one test; checked and cleaned up after it.

    After a test that passed, a helper still running is the test's own bug (it
    did not join it): error. After a test that failed, helpers still running
    are what the failure was about (a hung operation, already reported): the
    channels are closed to release them, and if that does not, abandoned."""
    ctx = blocking.reset()
    yield ctx
    failed = getattr(request.node, "_chanbench_call_failed", True)
    if not ctx.abandoned:
        running = [h for h in ctx.helpers if not h.done()]
        if running:
            for ch in ctx.chans:
                if not ch.destroyed:
                    ch.close()
            end = time.monotonic() + 2.0
            for h in running:
                h.wait(max(0.0, end - time.monotonic()))
            stuck = [h.hang_message(2.0) for h in running if not h.done()]
            if stuck:
                ctx.abandoned = True
            if not failed:
                raise AssertionError(
                    "helper threads still running when the test ended (the test did not join them): "
                    + "; ".join([h.what for h in running if h.done()] + stuck))
    for ch in ctx.chans:
        if ctx.abandoned or ch.destroyed:
            continue
        if ch.active:
            ch.leaked = True  # a call is still in progress: never free under it
            continue
        st = ch.destroy()
        assert st == Status.OK, f"destroy on {ch.label} returned {st!r}"
    if ctx.abandoned:
        _ABANDONED.extend(ctx.chans)  # keep callbacks alive for threads that may return later


_ABANDONED = []


@pytest.fixture
def make(impl):
    """make(cap, undelivered=None) -> a new Chan of the test's implementation.

    Skips as n/a when the implementation does not declare the capacity kind
    (rendezvous, bounded, unbounded), or its create refuses this capacity with
    CHAN_UNSUPPORTED (a reference that takes capacity 1 only, say); asserts
    creation otherwise succeeds; destroys the channel after the test (unless
    the test destroyed it, or hung)."""

    def _make(cap, undelivered=None, impl_name=None, unsupported_ok=False):
        """unsupported_ok: return None instead of skipping when create refuses."""
        name = impl_name or impl
        need(name, cap_kind(cap))
        st, ch = _LIB.create(name, cap, undelivered)
        if st == Status.UNSUPPORTED and unsupported_ok:
            return None
        if st == Status.UNSUPPORTED:
            pytest.skip(f"n/a: capacity {cap_label(cap)} not supported (create returned unsupported)")
        assert st == Status.OK, f"chan_create({name!r}, {cap_label(cap)}) returned {st!r}"
        blocking.current.chans.append(ch)
        return ch

    return _make

