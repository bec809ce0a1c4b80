"""Scenario tests: every scenario validates what it moved, on every built-in.

These run the benchmark runner itself ($CHANBENCH_BUILD/chanbench-run, default
<repo>/build) as a subprocess with `--profile quick --repetitions 1`, one
scenario and one implementation at a time, and read its JSON (docs/RESULTS.md):

- test_scenario_validates[<scenario>-<impl>]: every case of the scenario that
  the implementation can run produced a result (no error_occurred) whose `msgs`
  equals the count the runner lists for that case (`--list-json`), and every
  case it cannot run is reported "n/a: ...", never silently dropped.
- test_broken_plugin_is_an_error[...]: a deliberately broken implementation
  (tests/broken/: racing senders that lose messages, a close that drops the
  buffer) makes the scenarios report an error with a "discrepancy" message,
  not a number, and the runner exit with status 1. If those plug-ins are not
  built, a tiny lossy plug-in (drops every 1000th message) is compiled here.

The implementations are the ones the suite selected (conftest.py: the built-ins,
plug-ins given with --plugin or $CHANBENCH_PLUGINS, narrowed by --impl).
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("CHANBENCH_BUILD", REPO / "build"))
RUNNER = BUILD / "chanbench-run"
RUN_TIMEOUT = 240  # seconds for one runner process (quick: a hung run fails after 20 s)

pytestmark = [
    pytest.mark.scenario,
    pytest.mark.timeout(RUN_TIMEOUT + 30),
    # The broken-plug-in self-test (test_broken_plugins.py) runs the conformance
    # suite on each broken plug-in in a child pytest with a tight time budget;
    # the scenarios' own check of broken plug-ins is test_broken_plugin_is_an_error.
    pytest.mark.skipif(bool(os.environ.get("CHANBENCH_SELFTEST_CHILD")),
                       reason="not part of the broken-plug-in self-test's child runs"),
]


def _scenario_names():
    """The runner's scenarios, or a placeholder that fails when the runner is not built."""
    if not RUNNER.exists():
        return ["(chanbench-run not built)"]
    out = subprocess.run([str(RUNNER), "--no-references", "--list-json"],
                         capture_output=True, text=True, timeout=60, check=True)
    return [s["name"] for s in json.loads(out.stdout)["scenarios"]]


SCENARIOS = _scenario_names()


def _need_runner():
    if not RUNNER.exists():
        pytest.fail(f"{RUNNER} not found: build first (scripts/build.sh, or "
                    f"cmake -S {REPO} -B {BUILD} && cmake --build {BUILD}); "
                    "set CHANBENCH_BUILD to use another build directory")


def _plugin_args(config, impl):
    """--plugin PATH when impl is a plug-in the suite loaded (--plugin, $CHANBENCH_PLUGINS)."""
    plugins = getattr(config, "_chanbench", {}).get("plugins", {})
    return ["--plugin", plugins[impl]] if impl in plugins else []


def _listing(*args):
    out = subprocess.run([str(RUNNER), "--profile", "quick", "--list-json", *args],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, f"chanbench-run --list-json {' '.join(args)}: {out.stderr}"
    return json.loads(out.stdout)


def run_runner(tmp_path, *args):
    """Run chanbench-run; returns (exit status, parsed JSON benchmarks, output)."""
    out = tmp_path / "result.json"
    cmd = [str(RUNNER), "--profile", "quick", "--repetitions", "1", "--out", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    text = f"$ {' '.join(cmd)}\n--- stdout\n{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    assert out.exists(), f"no result file written (exit {proc.returncode})\n{text}"
    data = json.loads(out.read_text())
    for key in ("chanbench_commit", "cpu_model", "kernel", "profile", "producer"):
        assert key in data["context"], f"context lacks {key}\n{text}"
    runs = [b for b in data["benchmarks"] if b.get("run_type") == "iteration"]
    return proc.returncode, runs, text


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario_validates(scenario, impl, tmp_path, request):
    """impl: every implementation the suite selected (conftest.py: built-ins, plug-ins, --impl)."""
    _need_runner()
    args = ["--no-references", *_plugin_args(request.config, impl), "--scenario", scenario,
            "--impl", impl]
    expected = {b["name"]: b for b in _listing(*args)["benchmarks"]}
    assert expected, f"the runner lists no case of {scenario} for {impl}"

    rc, runs, text = run_runner(tmp_path, *args)
    by_name = {}
    for r in runs:
        by_name.setdefault(r["name"], []).append(r)
    assert set(by_name) == set(expected), (
        f"benchmarks in the JSON differ from the listing: missing "
        f"{sorted(set(expected) - set(by_name))}, extra {sorted(set(by_name) - set(expected))}\n{text}")

    problems = []
    for name, want in expected.items():
        for r in by_name[name]:
            if want["na"]:
                if not (r.get("error_occurred") and r.get("error_message", "").startswith("n/a:")):
                    problems.append(f"{name}: listed as {want['na']!r} but reported {r}")
                continue
            if r.get("error_occurred"):
                problems.append(f"{name}: {r.get('error_message')}")
                continue
            if r.get("msgs") != want["msgs"]:
                problems.append(f"{name}: msgs {r.get('msgs')} != expected {want['msgs']}")
            for counter in ("msgs_per_s", "ns_per_msg", "cpu_ns_per_msg", "vcsw", "ivcsw"):
                if counter not in r:
                    problems.append(f"{name}: counter {counter} missing")
            if r.get("label") != f"kind={want['kind']}":
                problems.append(f"{name}: label {r.get('label')!r}, expected kind={want['kind']}")
    assert not problems, "\n".join(problems) + "\n" + text
    assert rc == 0, f"runner exited {rc} although every run validated\n{text}"


# The scenarios of ABI version 2 (issue 7) and the capability each needs besides the
# basics (None: it runs everywhere; batches fall back to a loop in the shared layer).
V2_SCENARIOS = {"select": "select", "bridge": "pollfd", "batch": None}


@pytest.mark.parametrize("scenario", sorted(V2_SCENARIOS))
def test_v2_scenario_runs_where_declared(scenario, impl, request):
    """A built-in that declares the capability a new scenario needs gets real runs of it:
    the runner lists at least one case of it as runnable and none as n/a for that
    capability (test_scenario_validates[<scenario>-<impl>] then checks each listed case
    validates: count, checksum, order). One that does not declare it is n/a."""
    _need_runner()
    args = ["--no-references", *_plugin_args(request.config, impl), "--scenario", scenario,
            "--impl", impl]
    listing = _listing(*args)
    assert scenario in [s["name"] for s in listing["scenarios"]], \
        f"the runner has no scenario {scenario}"
    caps = next(i["caps"] for i in listing["implementations"] if i["name"] == impl).split(",")
    need = V2_SCENARIOS[scenario]
    benches = listing["benchmarks"]
    assert benches, f"the runner lists no case of {scenario} for {impl}"
    if need is None or need in caps:
        blocked = [b["name"] for b in benches if b["na"] and need and f"{need} not declared" in b["na"]]
        assert not blocked, f"{impl} declares {need} but these are n/a: {blocked}"
        plugin = impl in getattr(request.config, "_chanbench", {}).get("plugins", {})
        if not plugin:
            assert any(not b["na"] for b in benches), \
                f"built-in {impl} runs no case of {scenario}: {[(b['name'], b['na']) for b in benches]}"
    else:
        # n/a for some missing capability (the runner names the lowest missing bit,
        # which may be mpmc or blocking rather than this one).
        wrong = [(b["name"], b["na"]) for b in benches if not (b["na"] or "").startswith("n/a: ")]
        assert not wrong, f"{impl} does not declare {need}; these are not n/a for it: {wrong}"


def test_lossy_plugin_fails_batch(tmp_path):
    """The batch scenario's checks can fail: a channel that loses 1 message in 1000 (its
    batches go through the shared layer's loop) is a discrepancy, not a number."""
    _need_runner()
    path, name = _lossy_plugin(tmp_path)
    rc, runs, text = run_runner(tmp_path, "--no-references", "--plugin", str(path),
                                "--impl", name, "--scenario", "batch",
                                "--benchmark_filter=shape:spsc/batch:16/cap:64/")
    assert rc == 1, text
    assert len(runs) == 1 and runs[0].get("error_occurred"), text
    assert "discrepancy" in runs[0]["error_message"], text


LOSSY_SOURCE = r"""
/* A deliberately lossy channel for tests/test_scenarios.py: a mutex-protected
 * ring that silently drops every 1000th message it is given (send says OK). */
#include <pthread.h>
#include <stdlib.h>
#include "chanbench/chan_deadline.h"
#include "chanbench/chan_impl.h"

struct lossy { struct chan_base base; pthread_mutex_t mu; pthread_cond_t cv;
               uintptr_t *buf; size_t cap, head, count; unsigned long n; int closed; };

static chan_status l_create(const struct chan_ops *ops, size_t cap, struct chan_base **out)
{
	struct lossy *c = calloc(1, sizeof *c);
	if (!c) return CHAN_ENOMEM;
	c->base.ops = ops; c->cap = cap; c->buf = calloc(cap, sizeof *c->buf);
	pthread_mutex_init(&c->mu, NULL); pthread_cond_init(&c->cv, NULL);
	*out = &c->base; return CHAN_OK;
}
static void l_destroy(struct chan_base *b) { struct lossy *c = (void *)b; free(c->buf); free(c); }
static chan_status l_send(struct chan_base *b, uintptr_t m, chan_deadline dl)
{
	struct lossy *c = (void *)b; chan_status st = CHAN_OK;
	pthread_mutex_lock(&c->mu);
	while (!c->closed && c->count == c->cap) {
		if (chan_deadline_passed(dl)) { st = CHAN_FULL; break; }
		pthread_cond_wait(&c->cv, &c->mu);
	}
	if (c->closed) st = CHAN_CLOSED;
	else if (st == CHAN_OK && ++c->n % 1000 != 0) {
		c->buf[(c->head + c->count++) % c->cap] = m;
		pthread_cond_broadcast(&c->cv);
	}
	pthread_mutex_unlock(&c->mu); return st;
}
static chan_status l_recv(struct chan_base *b, uintptr_t *m, chan_deadline dl)
{
	struct lossy *c = (void *)b; chan_status st = CHAN_OK;
	pthread_mutex_lock(&c->mu);
	while (c->count == 0 && !c->closed) {
		if (chan_deadline_passed(dl)) { st = CHAN_EMPTY; break; }
		pthread_cond_wait(&c->cv, &c->mu);
	}
	if (st == CHAN_OK) {
		if (c->count == 0) st = CHAN_CLOSED;
		else { *m = c->buf[c->head]; c->head = (c->head + 1) % c->cap; c->count--;
		       pthread_cond_broadcast(&c->cv); }
	}
	pthread_mutex_unlock(&c->mu); return st;
}
static chan_status l_close(struct chan_base *b)
{
	struct lossy *c = (void *)b; chan_status st = CHAN_OK;
	pthread_mutex_lock(&c->mu);
	if (c->closed) st = CHAN_ALREADY_CLOSED;
	c->closed = 1; pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu); return st;
}
static size_t l_len(struct chan_base *b)
{
	struct lossy *c = (void *)b; pthread_mutex_lock(&c->mu);
	size_t n = c->count; pthread_mutex_unlock(&c->mu); return n;
}
static const struct chan_ops ops = {
	.abi_version = CHAN_ABI_VERSION, .size = sizeof(struct chan_ops), .name = "lossy",
	.description = "test: drops every 1000th message",
	.caps = CHAN_CAP_BOUNDED | CHAN_CAP_MPMC | CHAN_CAP_BLOCKING | CHAN_CAP_CLOSE | CHAN_CAP_LEN,
	.create = l_create, .destroy = l_destroy, .send = l_send, .recv = l_recv,
	.close = l_close, .len = l_len,
};
const struct chan_ops *chanbench_plugin_entry(void);
const struct chan_ops *chanbench_plugin_entry(void) { return &ops; }
"""


def _lossy_plugin(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.fail("no C compiler to build the lossy test plug-in")
    src = tmp_path / "lossy.c"
    src.write_text(textwrap.dedent(LOSSY_SOURCE))
    so = tmp_path / "liblossy.so"
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-O1", "-shared", "-fPIC",
                    f"-I{REPO / 'include'}", "-o", str(so), str(src), "-lpthread"],
                   check=True, timeout=120)
    return so, "lossy"


# (plug-in file in $CHANBENCH_BUILD/tests/broken/, its ops name, scenarios that must catch it,
#  benchmark-name fragments of the cases where the flaw shows)
BROKEN = [
    ("libbroken_nonatomic_index.so", "broken-nonatomic_index", ["throughput"],
     ["shape:mpsc/", "shape:mpmc/"]),
    ("libbroken_drop_on_close.so", "broken-drop_on_close", ["throughput", "shutdown"],
     ["cap:64", "cap:1024", "cap:16"]),
]


@pytest.mark.parametrize("plugin,name,scenarios,cases", BROKEN,
                         ids=[b[1] for b in BROKEN])
def test_broken_plugin_is_an_error(plugin, name, scenarios, cases, tmp_path):
    _need_runner()
    path = BUILD / "tests" / "broken" / plugin
    if not path.exists():
        path, name = _lossy_plugin(tmp_path)
        scenarios, cases = ["throughput", "fanin"], ["cap:64", "cap:1024"]
    args = ["--no-references", "--plugin", str(path), "--impl", name]
    for s in scenarios:
        args += ["--scenario", s]
    rc, runs, text = run_runner(tmp_path, *args)
    assert rc == 1, f"a broken implementation must make the runner exit 1, not {rc}\n{text}"
    caught = [r for r in runs if any(c in r["name"] for c in cases)
              and r.get("error_occurred") and "discrepancy" in r.get("error_message", "")]
    assert caught, f"no case of {scenarios} reported a discrepancy for {name}\n{text}"
    for r in runs:
        if r.get("error_occurred"):
            counters = {"msgs", "msgs_per_s", "ns_per_msg"} & set(r)
            assert not counters, f"{r['name']}: a failed run carries numbers {counters}"


def test_lossy_plugin_is_an_error(tmp_path):
    """The fallback plug-in itself: a channel that loses 1 message in 1000."""
    _need_runner()
    path, name = _lossy_plugin(tmp_path)
    rc, runs, text = run_runner(tmp_path, "--no-references", "--plugin", str(path),
                                "--impl", name, "--scenario", "throughput",
                                "--benchmark_filter=shape:spsc/cap:64/")
    assert rc == 1, text
    assert len(runs) == 1 and runs[0].get("error_occurred"), text
    assert "discrepancy" in runs[0]["error_message"], text


def test_bad_plugin_path_is_a_clear_error(tmp_path):
    _need_runner()
    proc = subprocess.run([str(RUNNER), "--plugin", str(tmp_path / "missing.so"), "--list"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "cannot load plug-in" in proc.stderr and "missing.so" in proc.stderr


def test_references_are_labelled(tmp_path):
    """The reference limits run where they can, labelled kind=reference, and n/a elsewhere."""
    _need_runner()
    if not (BUILD / "limits").is_dir():
        pytest.skip("reference limits not built")
    rc, runs, text = run_runner(tmp_path, "--impl", "spin-ring", "--impl", "atomic-slot",
                                "--scenario", "pingpong")
    assert rc == 0, text
    names = {r["name"]: r for r in runs}
    for impl in ("spin-ring", "atomic-slot"):
        ok = names[f"pingpong/cap:1/impl:{impl}"]
        assert not ok.get("error_occurred") and ok["label"] == "kind=reference", text
        na = names[f"pingpong/cap:0/impl:{impl}"]
        assert na.get("error_occurred") and na["error_message"].startswith("n/a:"), text


# --- the channel kinds' scenarios (broadcast, watch, oneshot) -----------------------
#
# A kind scenario runs the implementations of its kind's registry (kinds.h), named
# "<kind>-<impl>" (bcast-futex), not the queue channels: test_scenario_validates only
# sees it report n/a for those. These run it for real on every kind implementation the
# runner lists (--list-json: "kind_implementations", each scenario's "channel_kind"),
# with the same checks: every case validates (the scenario's own checks: per-subscriber
# order, gaps == reported missed counts and received + missed == sent for broadcast;
# monotonic versions and the final value for watch; every reply right, the dropped ones
# and only those CLOSED, reply checksum for oneshot), msgs equals the listed count, the
# label is kind=channel (chanbench's own channels) and the scenario's headline counter
# is there for the report (harness/report/metrics.py ranks by it).

KIND_SCENARIOS = {"broadcast": "bcast", "watch": "watch", "oneshot": "oneshot"}
KIND_HEADLINE = {"broadcast": "deliveries_per_s", "watch": "reads_per_s", "oneshot": "round_trips_per_s"}


def _kind_cases():
    """[(scenario, "<kind>-<impl>")] from the runner's listing (a placeholder that
    fails when the runner is not built)."""
    if not RUNNER.exists():
        return [("(chanbench-run not built)", "-")]
    out = subprocess.run([str(RUNNER), "--no-references", "--list-json"],
                         capture_output=True, text=True, timeout=60, check=True)
    d = json.loads(out.stdout)
    kimpls = d.get("kind_implementations", [])
    return [(s["name"], k["name"]) for s in d["scenarios"] if s.get("channel_kind")
            for k in kimpls if k["channel_kind"] == s["channel_kind"]]


KIND_CASES = _kind_cases()



# Like tests/test_broadcast.py & co., these run whatever queue implementations --impl or
# --plugin selected: the kind implementations are built in, not selectable there.
@pytest.mark.parametrize("scenario,kimpl", KIND_CASES, ids=[f"{s}-{k}" for s, k in KIND_CASES])
def test_kind_scenario_validates(scenario, kimpl, tmp_path):
    _need_runner()
    args = ["--no-references", "--scenario", scenario, "--impl", kimpl]
    listing = _listing(*args)
    expected = {b["name"]: b for b in listing["benchmarks"]}
    assert expected, f"the runner lists no case of {scenario} for {kimpl}"
    not_run = {n: b["na"] for n, b in expected.items() if b["na"]}
    assert not not_run, f"{kimpl} must run every case of {scenario}, not n/a: {not_run}"
    for name, b in expected.items():
        assert b["impl"] == kimpl and name.endswith(f"/impl:{kimpl}"), f"{name}: impl {b['impl']!r}"
        assert b["kind"] == "channel", f"{name}: listed as kind {b['kind']!r}"

    rc, runs, text = run_runner(tmp_path, *args)
    by_name = {}
    for r in runs:
        by_name.setdefault(r["name"], []).append(r)
    assert set(by_name) == set(expected), (
        f"benchmarks in the JSON differ from the listing: missing "
        f"{sorted(set(expected) - set(by_name))}, extra {sorted(set(by_name) - set(expected))}\n{text}")
    problems = []
    for name, want in expected.items():
        for r in by_name[name]:
            if r.get("error_occurred"):
                problems.append(f"{name}: {r.get('error_message')}")
                continue
            if r.get("msgs") != want["msgs"]:
                problems.append(f"{name}: msgs {r.get('msgs')} != expected {want['msgs']}")
            for counter in ("msgs_per_s", "ns_per_msg", "cpu_ns_per_msg", "vcsw", "ivcsw",
                            KIND_HEADLINE[scenario]):
                if counter not in r:
                    problems.append(f"{name}: counter {counter} missing")
            if not r.get(KIND_HEADLINE[scenario], 0) > 0:
                problems.append(f"{name}: {KIND_HEADLINE[scenario]} = {r.get(KIND_HEADLINE[scenario])}")
            if r.get("label") != "kind=channel":
                problems.append(f"{name}: label {r.get('label')!r}, expected kind=channel")
    assert not problems, "\n".join(problems) + "\n" + text
    assert rc == 0, f"runner exited {rc} although every run validated\n{text}"


def test_kind_scenarios_cover_every_kind_impl():
    """The runner runs each kind scenario on exactly the library's implementations of
    that kind (the registry kinds.h lists, read in a fresh process), so the parametrization above
    cannot silently shrink; and a queue implementation asked for is n/a, saying why."""
    _need_runner()
    # The library's registry as a fresh process sees it (the runner is one): this
    # process may hold kind plug-ins a test loaded (test_kind_plugin_loading.py).
    probe = subprocess.run([sys.executable, str(REPO / "tests" / "chanlib.py"), "--probe"], capture_output=True,
                           text=True, timeout=60, env={**os.environ, "CHANBENCH_BUILD": str(BUILD)})
    assert probe.returncode == 0, probe.stderr
    registry = json.loads(probe.stdout)["kinds"]

    for scenario, kind in KIND_SCENARIOS.items():
        want = {f"{kind}-{e['name']}" for e in registry[kind]}
        assert want, f"the library has no {kind} implementation"
        got = {k for s, k in KIND_CASES if s == scenario}
        assert got == want, f"{scenario}: the runner runs {sorted(got)}, the library has {sorted(want)}"
        listing = _listing("--no-references", "--scenario", scenario)
        assert {b["impl"] for b in listing["benchmarks"]} == want, \
            f"{scenario} without --impl must list only the {kind} implementations"
        queue = _listing("--no-references", "--scenario", scenario, "--impl", "mutex")["benchmarks"]
        assert queue and all((b["na"] or "").startswith("n/a: ") and f"{kind}-" in b["na"] for b in queue), \
            f"{scenario} for the queue implementation mutex must be n/a naming --impl {kind}-<name>: {queue}"


def test_skip_lists_the_pair_as_na_with_its_reason():
    """--skip IMPL:SCENARIO (used for go-chan-cgo where the native go-chan program runs)
    turns exactly that pair into n/a with the --skip-why reason; other scenarios of
    the implementation and other implementations still run; a malformed --skip is a
    usage error."""
    _need_runner()
    listing = _listing("--no-references", "--impl", "mutex", "--impl", "futex",
                       "--scenario", "throughput", "--scenario", "pingpong",
                       "--skip", "mutex:pingpong", "--skip-why", "test reason")
    by = {b["name"]: b["na"] for b in listing["benchmarks"]}
    skipped = [n for n, na in by.items() if na and "--skip (test reason)" in na]
    assert skipped and all(n.startswith("pingpong/") and n.endswith("impl:mutex") for n in skipped), by
    assert all(not na for n, na in by.items() if n.endswith("impl:futex")), by
    assert all(not na for n, na in by.items() if n.startswith("throughput/") and n.endswith("impl:mutex")), by
    bad = subprocess.run([str(RUNNER), "--list-json", "--skip", "mutex"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "IMPL:SCENARIO" in bad.stderr, bad.stderr
