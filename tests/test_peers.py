"""The peers: what users would pick instead of a chanbench channel.

Two kinds, both optional (each needs its package or toolchain; a test whose
peer is not installed is skipped and says which package is missing):

- C/C++ adapters, plug-ins built by impls/peers/CMakeLists.txt as
  $CHANBENCH_BUILD/impls/peers/libpeer_<name>.so (glib-asyncqueue, tbb-bounded,
  moodycamel-blocking, zmq-inproc, and the references boost-spsc, urcu-wfcq):
    test_adapter_smoke[<name>]        peer_smoke loads it with chan_plugin_load and
                                      moves messages through every capacity it declares;
    test_adapter_conformance[<name>]  the conformance suite, run on it in a subprocess
                                      (--plugin SO --impl NAME --matrix-out DIR), passes
                                      every property it declares, and the matrix shows
                                      n/a where it declares a capability missing.
                                      KNOWN_DEVIATIONS lists the failures that are the
                                      library's documented behaviour or a limit of a test
                                      driver, each with its reason; any other failure fails.
- the Go and Rust peers as plug-ins, built by peers/build.sh as
  $CHANBENCH_BUILD/peers/plugins/libpeer_<name>.so (crossbeam, flume, std-mpsc,
  tokio-mpsc from peers/rust-plugin; go-chan-cgo from peers/go-plugin):
    test_plugin_peer_smoke[<name>]        peer_smoke moves messages through each capacity;
    test_plugin_peer_conformance[<name>]  the conformance suite on it, as for the adapters
                                          (its row joins the session's matrix); every FAIL
                                          must be in KNOWN_DEVIATIONS, a finding about the
                                          peer (or its close emulation), said with its reason;
                                          quick by default (QUICK_ARGS; CHANBENCH_PEER_CONFORMANCE=full
                                          for everything), NOT_RUN tests recorded as FAILs;
    test_plugin_peer_na_reasons[<name>]   the report's reasons for what it lacks match its description;
    test_go_cgo_cost                      the go-chan-cgo description carries the measured
                                          cgo crossing, and cgo_cost.py writes it for the report.
- tokio's broadcast, watch and oneshot as a kind plug-in (kinds_impl.h), built by
  peers/build.sh as $CHANBENCH_BUILD/peers/plugins/libpeer_tokio-kinds.so:
    test_kind_plugin_peer_registers        one table per kind, named tokio, no channel;
    test_kind_plugin_peer_conformance[<kind>]  the kind's property tests on it, in a
                                          child run whose row (bcast-tokio, ...) joins the
                                          matrix; FAILs outside KNOWN_DEVIATIONS are findings.
- external programs built by peers/build.sh into $CHANBENCH_BUILD/peers/bin
  (go-chan; crossbeam-native, flume-native, tokio-mpsc-native, std-mpsc-native:
  the same peers as the plug-ins, their rows named apart), run by peers/run.sh
  with tiny counts:
    test_peer_results[<name>]   the result file is docs/RESULTS.md's format, every
                                entry validated, every case either measured or listed
                                not applicable with a reason (and the expected ones are),
                                and the report's loader reads it as kind "peer";
    test_peer_detects_loss[<name>]  with --corrupt (one message dropped) every entry
                                is an error with a "discrepancy" message and no numbers,
                                and the program exits 1.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import matrix as conformance_matrix
from chanlib import Caps

REPO = Path(__file__).resolve().parent.parent
BUILD = Path(os.environ.get("CHANBENCH_BUILD", REPO / "build")).resolve()
PLUGIN_DIR = BUILD / "impls" / "peers"
PEER_PLUGIN_DIR = BUILD / "peers" / "plugins"
PEER_BIN = BUILD / "peers" / "bin"

pytestmark = pytest.mark.peers

# --------------------------------------------------------------- C/C++ adapters

# ops name -> the Debian package that provides its library
ADAPTERS = {
    "glib-asyncqueue": "libglib2.0-dev",
    "tbb-bounded": "libtbb-dev",
    "moodycamel-blocking": "libconcurrentqueue-dev",
    "zmq-inproc": "libzmq3-dev",
    "boost-spsc": "libboost-dev",
    "urcu-wfcq": "liburcu-dev",
}

# Failures that are expected, by implementation: (node id prefix, why). Each is
# said in the adapter's header comment too.
KNOWN_DEVIATIONS = {
    "moodycamel-blocking": [
        ("tests/test_linearizability.py::",
         "the library keeps one sub-queue per producer and promises FIFO per producer only, "
         "so histories checked against a single FIFO do not linearize (its description says so)"),
    ],
    "tbb-bounded": [
        ("tests/test_linearizability.py::",
         "the history recorder frees blocked workers with send_timeout/recv_timeout "
         "(tests/drivers/linearize.c, unblock_workers), and TBB has no timed operations "
         "(no CHAN_CAP_TIMED): the rescue is refused and the run reports a liveness failure"),
    ],
    # The Go and Rust plug-ins (peers/README.md): findings about the peer or its close emulation.
    # crossbeam: none. (test_Q2_linearizable_blocking[crossbeam-cap=0] once reported a
    # liveness failure on a machine at load 30 on 2 cores; the FFI layer's timed receive
    # is crossbeam's own recv_deadline, which pairs with a parked sender (zero flavour,
    # try_select) first, and seeds 1-5 and the suite pass: not a known deviation.)
    # tokio's broadcast, watch and oneshot (the kind plug-in, rows <kind>-tokio).
    "bcast-tokio": [
        ("tests/test_broadcast.py::test_B2_lagged_receiver_told_exact_count[3-bcast-tokio]",
         "tokio rounds a broadcast's capacity up to a power of two (tokio 1.24 broadcast.rs:447, "
         "capacity.next_power_of_two()), so capacity 3 retains 4 messages: after 14 sends a lagging "
         "receiver gets send #10 with missed = 10, not the contract's #11 with missed = 11"),
    ],
    "std-mpsc": [
        ("tests/test_close.py::test_C3_close_wakes_blocked_senders_who_keep_values",
         "std::sync::mpsc (Rust 1.63) never wakes a sender parked for room at a sender-side "
         "disconnect (only a receive or the receiver's drop does), and at capacity 0 its disconnect "
         "hits unreachable!() with a parked sender, so the emulated close waits for it: nothing "
         "outside std can wake it"),
        ("tests/test_close.py::test_C7_last_receiver_drop_fails_blocked_senders[std-mpsc-cap=0]",
         "the shared layer closes, then drains: at capacity 0 the close waits for the parked "
         "sender, as in C3 (at capacities 1 and 4 the drain's first receive wakes it: those pass)"),
    ],
}

# Tests not run on a plug-in because they hang there (the peer cannot do what the
# test waits for: each would spend its whole deadline, 54 s, stuck) or crash it. The child run
# deselects them and each is recorded as a FAIL of its property in the plug-in's
# row, so the matrix shows the gap; each is also a KNOWN_DEVIATIONS entry (the why).
# CHANBENCH_PEER_CONFORMANCE=full runs them anyway (to see whether they still hang).
NOT_RUN = {
    "std-mpsc": [
        "tests/test_close.py::test_C3_close_wakes_blocked_senders_who_keep_values[std-mpsc-cap=0]",
        "tests/test_close.py::test_C3_close_wakes_blocked_senders_who_keep_values[std-mpsc-cap=1]",
        "tests/test_close.py::test_C3_close_wakes_blocked_senders_who_keep_values[std-mpsc-cap=4]",
        "tests/test_close.py::test_C7_last_receiver_drop_fails_blocked_senders[std-mpsc-cap=0]",
    ],
}

# A capability an adapter does not declare -> properties the matrix must show n/a.
NA_WHEN_MISSING = [
    (Caps.RENDEZVOUS, ["Q12"]),
    (Caps.TIMED, ["T1", "T2", "T3", "T4"]),
    (Caps.LEN, ["Q8"]),
    (Caps.MPMC, ["Q3", "F1"]),
    (Caps.CLOSE, ["C1", "C2", "C3", "C4", "C5"]),
]
# ... and when it has neither a bounded capacity nor rendezvous (never full):
NA_WHEN_NEVER_FULL = ["Q5", "Q7"]

CONFORMANCE_TIMEOUT = 600  # one adapter's whole conformance run, in seconds

# The conformance child run, quick (the default; scripts/test.sh, CI) or full
# (CHANBENCH_PEER_CONFORMANCE=full, for a person checking a peer). Quick runs every
# property test on the plug-in, with the linearizability checker's history counts
# scaled down (CHANBENCH_LIN_SCALE, unless set) and without the tests that are not
# about the plug-in at all: the other channel kinds' tests (broadcast, watch,
# oneshot: built-ins only, whatever --impl says) and the scenario checks on the
# broken, lossy and reference plug-ins. Every property row is still produced.
QUICK_LIN_SCALE = "0.25"
QUICK_ARGS = ["--ignore", str(REPO / "tests" / "test_broadcast.py"),
              "--ignore", str(REPO / "tests" / "test_watch.py"),
              "--ignore", str(REPO / "tests" / "test_oneshot.py"),
              "-k", "not broken_plugin and not lossy_plugin and not kind_scenario and not references_are_labelled"]


def _record_not_run(path, name, nodeids):
    """Add the deselected (hanging) tests to a child's matrix as failures of their
    properties, so the plug-in's row says FAIL there, as a run would have."""
    m = json.loads(path.read_text())
    row = m.get("implementations", {}).setdefault(name, {})
    fails = m.setdefault("failures", {}).setdefault(name, {})
    for nodeid in nodeids:
        prop = re.search(r"::test_([A-Z]{1,2}\d+)_", nodeid).group(1)
        row[prop] = conformance_matrix.FAIL
        fails.setdefault(prop, []).append(nodeid + " (not run, see KNOWN_DEVIATIONS)")
    path.write_text(json.dumps(m, indent=2) + "\n")


def _plugin(name):
    so = PLUGIN_DIR / f"libpeer_{name}.so"
    if not so.exists():
        pytest.skip(f"{so.name} not built: its library is not installed (Debian package "
                    f"{ADAPTERS[name]}; scripts/install-deps.sh --peers), or {BUILD} is not built")
    return so


def _caps(so):
    """The caps the plug-in declares, read by loading it in a throw-away process."""
    r = subprocess.run([sys.executable, str(REPO / "tests" / "chanlib.py"), "--probe", str(so)],
                       capture_output=True, text=True, timeout=60,
                       env={**os.environ, "CHANBENCH_BUILD": str(BUILD)})
    assert r.returncode == 0, f"loading {so} failed:\n{r.stderr}"
    info = json.loads(r.stdout)
    (plugin,) = info["plugins"]
    assert plugin["status"] == "ok", f"{so}: {plugin['error']}"
    (entry,) = [e for e in info["registry"] if e["name"] == plugin["name"]]
    return plugin["name"], Caps(entry["caps"])


@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapter_smoke(name):
    _smoke(name, _plugin(name))


def _smoke(name, so):
    """peer_smoke (built with the adapters) loads `so` and moves messages through it."""
    smoke = PLUGIN_DIR / "peer_smoke"
    assert smoke.exists(), f"{smoke} not built (impls/peers/CMakeLists.txt builds it with the adapters)"
    r = subprocess.run([str(smoke), str(so)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"peer_smoke {so.name} failed:\n{r.stdout}{r.stderr}"
    assert f"ok {name}" in r.stdout


@pytest.mark.timeout(CONFORMANCE_TIMEOUT + 60)
@pytest.mark.parametrize("name", sorted(ADAPTERS))
def test_adapter_conformance(name):
    _conformance(name, _plugin(name))


def _conformance(name, so):
    """The conformance suite on plug-in `so` (ops name `name`) in a child pytest; its
    matrix row joins the session's; every failure must be a KNOWN_DEVIATIONS entry."""
    registered, caps = _caps(so)
    assert registered == name, f"{so.name} registers as {registered!r}, expected {name!r}"
    out = Path(conformance_matrix.peers_matrix_dir()) / name  # tests/matrix.py adds the row to the session's matrix
    shutil.rmtree(out, ignore_errors=True)
    # Not run on a peer: these tests (recursion), the self-tests and the report's
    # tests (not about an implementation), and the futex implementation's own
    # mechanism tests (impl_only("futex"): nothing to say about a peer).
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(REPO / "tests"),
           "--ignore", str(Path(__file__).resolve()), "--ignore", str(REPO / "tests" / "test_futex_fastpath.py"),
           "-m", "not peers and not selftest and not report",
           "--plugin", str(so), "--impl", name, "--matrix-out", str(out)]
    env = {**os.environ, "CHANBENCH_BUILD": str(BUILD), "CHANBENCH_PEER_CHILD": "1"}
    full = os.environ.get("CHANBENCH_PEER_CONFORMANCE", "quick") == "full"
    not_run = [] if full else NOT_RUN.get(name, [])
    if not full:
        cmd += QUICK_ARGS + [a for n in not_run for a in ("--deselect", n)]
        env.setdefault("CHANBENCH_LIN_SCALE", QUICK_LIN_SCALE)
    row = _child_conformance(name, cmd, env, out, not_run)

    must_be_na = [p for cap, props in NA_WHEN_MISSING if not caps & cap for p in props]
    if not caps & (Caps.BOUNDED | Caps.RENDEZVOUS):
        must_be_na += NA_WHEN_NEVER_FULL
    wrong = {p: row.get(p, "-") for p in must_be_na if row.get(p) != "n/a"}
    assert not wrong, f"{name} lacks {caps!r} parts, but the matrix does not show n/a for {wrong}"


def _child_conformance(name, cmd, env, out, not_run=()):
    """Run the child pytest `cmd` whose matrix goes to `out`; its row `name`, after
    checking it is there and saying every FAIL outside KNOWN_DEVIATIONS as a finding."""
    try:
        r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=CONFORMANCE_TIMEOUT, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"the conformance run on {name} took more than {CONFORMANCE_TIMEOUT} s:\n"
                    f"{(e.stdout or b'')[-3000:]}")
    if not_run and (out / "matrix.json").exists():
        _record_not_run(out / "matrix.json", name, not_run)
    tail = (r.stdout + r.stderr)[-4000:]
    assert (out / "matrix.json").exists(), f"the conformance run wrote no matrix (exit {r.returncode}):\n{tail}"
    matrix = json.loads((out / "matrix.json").read_text())
    row = matrix["implementations"].get(name, {})
    assert row, f"no conformance result for {name}:\n{tail}"

    allowed = KNOWN_DEVIATIONS.get(name, [])
    unexpected = [f"{prop}: {node}" for prop, nodes in matrix["failures"].get(name, {}).items()
                  for node in nodes if not any(node.startswith(p) for p, _ in allowed)]
    if unexpected:
        # A FAIL here is a finding about the peer (or its adapter), not a failure of
        # chanbench's CI (issue 12): the matrix shows it, the run says it loudly, and
        # it should get a KNOWN_DEVIATIONS entry once understood. (crossbeam's C1 at
        # cap 0 failed once this way in a fresh-clone CI run and passed in others.)
        warnings.warn(f"{name} fails properties it declares (a finding, see the matrix):\n  "
                      + "\n  ".join(unexpected), stacklevel=1)
        print(f"\nFINDING: {name}: " + "; ".join(unexpected))
    assert r.returncode in (0, 1), f"the conformance run on {name} ended with status {r.returncode}:\n{tail}"
    return row


# --------------------------------------------------------------- Go and Rust peers as plug-ins

# ops name -> language (peers/build.sh builds them: peers/rust-plugin, peers/go-plugin)
PLUGIN_PEERS = {
    "crossbeam": "rust",
    "flume": "rust",
    "std-mpsc": "rust",
    "tokio-mpsc": "rust",
    "go-chan-cgo": "go",
}

# What each plug-in must declare: the peer's API decides it (peers/README.md).
PLUGIN_PEER_CAPS = {
    "crossbeam": Caps.BOUNDED | Caps.RENDEZVOUS | Caps.UNBOUNDED | Caps.MPMC | Caps.BLOCKING | Caps.TIMED
                 | Caps.CLOSE | Caps.LEN,
    "flume": Caps.BOUNDED | Caps.RENDEZVOUS | Caps.UNBOUNDED | Caps.MPMC | Caps.BLOCKING | Caps.TIMED
             | Caps.CLOSE | Caps.LEN,
    "std-mpsc": Caps.BOUNDED | Caps.RENDEZVOUS | Caps.UNBOUNDED | Caps.BLOCKING | Caps.CLOSE,
    "tokio-mpsc": Caps.BOUNDED | Caps.UNBOUNDED | Caps.BLOCKING | Caps.TIMED | Caps.CLOSE,
    "go-chan-cgo": Caps.BOUNDED | Caps.RENDEZVOUS | Caps.MPMC | Caps.BLOCKING | Caps.TIMED | Caps.CLOSE
                   | Caps.LEN,
}


def _peer_plugin(name, lang=None):
    """The built plug-in libpeer_<name>.so, or a skip saying what is missing."""
    why = _toolchain_missing(lang or PLUGIN_PEERS[name])
    if why:
        pytest.skip(f"plug-in {name}: {why}; scripts/install-deps.sh --peers installs it")
    so = PEER_PLUGIN_DIR / f"libpeer_{name}.so"
    if not so.exists():
        pytest.skip(f"{so.name} not built: run peers/build.sh --build-dir {BUILD}")
    return so


@pytest.mark.parametrize("name", list(PLUGIN_PEERS))
def test_plugin_peer_smoke(name):
    so = _peer_plugin(name)
    registered, caps = _caps(so)
    assert registered == name, f"{so.name} registers as {registered!r}, expected {name!r}"
    assert caps & ~Caps.POLLFD == PLUGIN_PEER_CAPS[name], f"{name} declares {caps!r}"
    _smoke(name, so)


@pytest.mark.timeout(CONFORMANCE_TIMEOUT + 60)
@pytest.mark.parametrize("name", list(PLUGIN_PEERS))
def test_plugin_peer_conformance(name):
    _conformance(name, _peer_plugin(name))


@pytest.mark.parametrize("name", list(PLUGIN_PEERS))
def test_plugin_peer_na_reasons(name):
    """The report's reason table for the plug-ins (harness/report/results.py
    PLUGIN_NA_WHY, shown after the runner's "<cap> not declared") agrees with what
    the plug-in declares and says: a listed capability is not declared and its
    description names it after "n/a:"; a plug-in without mpmc, rendezvous or
    unbounded has its reason listed (those gaps remove whole shapes or capacities)."""
    so = _peer_plugin(name)
    sys.path.insert(0, str(REPO))
    from harness.report.results import PLUGIN_NA_WHY, _plugin_reason

    _, caps = _caps(so)
    probe = subprocess.run([sys.executable, str(REPO / "tests" / "chanlib.py"), "--probe", str(so)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "CHANBENCH_BUILD": str(BUILD)})
    (entry,) = [e for e in json.loads(probe.stdout)["registry"] if e["name"] == name]
    lacks = entry.get("description", "").partition("n/a:")[2]
    listed = {cap for impl, cap in PLUGIN_NA_WHY if impl == name}
    for cap in listed:
        assert not caps & Caps[cap.upper()], f"{name} declares {cap}, but the report explains why it lacks it"
        assert re.search(rf"\b{cap}\b", lacks), f"{name}'s description does not list {cap} after n/a: {lacks!r}"
        assert _plugin_reason(name, f"{cap} not declared") != f"{cap} not declared"
    for cap in ("mpmc", "rendezvous", "unbounded"):
        if not caps & Caps[cap.upper()]:
            assert cap in listed, f"{name} lacks {cap}: harness/report/results.py PLUGIN_NA_WHY has no reason for it"


def test_go_cgo_cost(tmp_path):
    """The cgo crossing go-chan-cgo pays is measured and reaches the report's input."""
    so = _peer_plugin("go-chan-cgo")
    out = tmp_path / "cgo-cost.json"
    r = subprocess.run([sys.executable, str(REPO / "peers" / "go-plugin" / "cgo_cost.py"), str(so), "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    ctx = json.loads(out.read_text())["context"]
    assert ctx["producer"] == "cgo-cost" and ctx["impl"] == "go-chan-cgo"
    assert 1 <= ctx["cgo_null_call_ns"] < 1e6, ctx
    probe = subprocess.run([sys.executable, str(REPO / "tests" / "chanlib.py"), "--probe", str(so)],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "CHANBENCH_BUILD": str(BUILD)})
    assert probe.returncode == 0, probe.stderr
    (entry,) = [e for e in json.loads(probe.stdout)["registry"] if e["name"] == "go-chan-cgo"]
    assert re.search(r"null call C->Go costs \d+ ns", entry.get("description", "")), entry


# --------------------------------------------------------------- tokio's broadcast, watch, oneshot

# The kind plug-in (kinds_impl.h, chanbench_kinds_plugin_entry) peers/build.sh builds from
# peers/rust-plugin/tokio-kinds: one table per kind, each named "tokio".
KIND_PLUGIN = "tokio-kinds"
KIND_PLUGIN_NAME = "tokio"
KIND_PLUGIN_CAPS = 0b111  # KIND_CAP_BLOCKING | KIND_CAP_TIMED | KIND_CAP_MULTI_SENDER
KIND_TEST_FILES = {"bcast": "test_broadcast.py", "watch": "test_watch.py", "oneshot": "test_oneshot.py"}


def test_kind_plugin_peer_registers():
    """libpeer_tokio-kinds.so adds one table to each kind's registry, named tokio, declaring
    what tokio's API gives from OS threads; and no channel (it exports only the kinds entry)."""
    so = _peer_plugin(KIND_PLUGIN, "rust")
    r = subprocess.run([sys.executable, str(REPO / "tests" / "chanlib.py"), "--probe"],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "CHANBENCH_BUILD": str(BUILD)})
    assert r.returncode == 0, r.stderr
    base = json.loads(r.stdout)
    r = subprocess.run([sys.executable, str(REPO / "tests" / "chanlib.py"), "--probe", str(so)],
                       capture_output=True, text=True, timeout=60, env={**os.environ, "CHANBENCH_BUILD": str(BUILD)})
    assert r.returncode == 0, f"loading {so} failed:\n{r.stderr}"
    info = json.loads(r.stdout)
    (plugin,) = info["plugins"]
    assert plugin["status"] == "ok", f"{so}: {plugin['error']}"
    assert plugin["name"] == KIND_PLUGIN_NAME
    assert info["registry"] == base["registry"], "the kind plug-in registered a channel"
    for kind in KIND_TEST_FILES:
        added = info["kinds"][kind][len(base["kinds"][kind]):]
        assert [e["name"] for e in added] == [KIND_PLUGIN_NAME], f"{kind}: {added}"
        assert added[0]["caps"] == KIND_PLUGIN_CAPS, f"{kind} caps {added[0]['caps']:#x}"
        assert "tokio" in added[0]["description"], added[0]


@pytest.mark.timeout(CONFORMANCE_TIMEOUT + 60)
@pytest.mark.parametrize("kind", list(KIND_TEST_FILES))
def test_kind_plugin_peer_conformance(kind):
    """The kind's property tests (B*, W* or O*) on tokio's table, in a child pytest whose
    row (<kind>-tokio) joins the session's matrix; every FAIL outside KNOWN_DEVIATIONS is
    said as a finding about tokio, as for the channel plug-ins."""
    so = _peer_plugin(KIND_PLUGIN, "rust")
    name = f"{kind}-{KIND_PLUGIN_NAME}"
    out = Path(conformance_matrix.peers_matrix_dir()) / name
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(REPO / "tests" / KIND_TEST_FILES[kind]),
           "--plugin", str(so), "-k", KIND_PLUGIN_NAME, "--matrix-out", str(out)]
    env = {**os.environ, "CHANBENCH_BUILD": str(BUILD), "CHANBENCH_PEER_CHILD": "1"}
    row = _child_conformance(name, cmd, env, out)
    props = {"bcast": {"B1", "B2", "B3"}, "watch": {"W1", "W2"}, "oneshot": {"O1"}}[kind]
    assert props <= set(row), f"{name}: the row has {sorted(row)}, expected every one of {sorted(props)}"


def test_runner_args_name_every_built_peer():
    """peers/run.sh --runner-args (what scripts/bench.sh and stability.sh hand to
    chanbench-run) names every built peer plug-in and program, and chanbench-run
    loads all of them: each plug-in's tables are listed as kind=peer."""
    r = subprocess.run(["bash", str(REPO / "peers" / "run.sh"), "--runner-args", "--build-dir", str(BUILD)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    words = r.stdout.splitlines()
    pairs = list(zip(words[::2], words[1::2]))
    plugins = sorted(str(p) for d in (PLUGIN_DIR, PEER_PLUGIN_DIR) for p in d.glob("libpeer_*.so"))
    programs = sorted(str(p) for p in PEER_BIN.glob("peer-*") if p.name[len("peer-"):] in PEERS)
    assert sorted(v for k, v in pairs if k == "--plugin") == plugins
    assert sorted(v for k, v in pairs if k == "--peer-program") == programs
    if not plugins and not programs:
        pytest.skip(f"no peer built in {BUILD}")
    run = BUILD / "chanbench-run"
    r = subprocess.run([str(run), "--list-json", *words], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"chanbench-run refused the peers' arguments:\n{r.stderr[-3000:]}"
    listed = json.loads(r.stdout)
    kinds = {i["name"]: i["kind"] for i in listed["implementations"] + listed["kind_implementations"]}
    for so in plugins:
        stem = Path(so).name[len("libpeer_"):-len(".so")]
        names = [n for n in kinds if n == stem or n.endswith("-" + KIND_PLUGIN_NAME) and stem == KIND_PLUGIN]
        assert names, f"{stem}: nothing of it listed by chanbench-run --list"
        assert all(kinds[n] in ("peer", "reference") for n in names), {n: kinds[n] for n in names}


# --------------------------------------------------------------- external programs

RUST_CRATES = {"crossbeam-channel": "librust-crossbeam-channel-dev", "flume": "librust-flume-dev",
               "tokio": "librust-tokio-dev", "libc": "librust-libc-dev"}
CARGO_REGISTRY = Path("/usr/share/cargo/registry")

PEERS = {  # program -> language (the Rust programs' rows are <peer>-native: the plug-ins own the plain names)
    "go-chan": "go",
    "crossbeam-native": "rust",
    "flume-native": "rust",
    "tokio-mpsc-native": "rust",
    "std-mpsc-native": "rust",
}

SHAPES = ["spsc", "mpsc", "spmc", "mpmc"]
THROUGHPUT_CAPS = ["0", "1", "64", "1024", "unbounded"]
PINGPONG_CAPS = ["0", "1"]


def _grid(name):
    return ([f"throughput/shape:{s}/cap:{c}/impl:{name}" for s in SHAPES for c in THROUGHPUT_CAPS]
            + [f"pingpong/cap:{c}/impl:{name}" for c in PINGPONG_CAPS])


def _expected_na(name):
    grid = _grid(name)
    if name == "go-chan":
        return {n for n in grid if "/cap:unbounded/" in n}
    if name == "tokio-mpsc-native":
        return {n for n in grid if "/cap:0/" in n or "shape:spmc" in n or "shape:mpmc" in n}
    if name == "std-mpsc-native":
        return {n for n in grid if "shape:spmc" in n or "shape:mpmc" in n}
    return set()


MSGS = 400  # per run: divisible by 4 producers and by 2 (ping-pong round trips)
REPS = 2
NAME_RE = re.compile(r"^(throughput/shape:(spsc|mpsc|spmc|mpmc)/cap:(0|1|64|1024|unbounded)"
                     r"|pingpong/cap:(0|1))/impl:(?P<impl>[a-z0-9_.-]+)$")


def _toolchain_missing(lang):
    """Why the toolchain of a language is missing, or None."""
    if lang == "go":
        return None if shutil.which(os.environ.get("GO", "go")) else "no Go toolchain (Debian package golang-go)"
    cargo = os.environ.get("CARGO", "/usr/bin/cargo")
    if not shutil.which(cargo):
        return f"no Rust toolchain ({cargo} not found; Debian packages cargo, rustc)"
    missing = [f"{c} ({pkg})" for c, pkg in RUST_CRATES.items() if not list(CARGO_REGISTRY.glob(f"{c}-[0-9]*"))]
    return f"crates missing from {CARGO_REGISTRY}: {', '.join(missing)}" if missing else None


def _program(name):
    why = _toolchain_missing(PEERS[name])
    if why:
        pytest.skip(f"peer {name}: {why}; scripts/install-deps.sh --peers installs it")
    prog = PEER_BIN / f"peer-{name}"
    if not prog.exists():
        pytest.skip(f"peer {name} not built: run peers/build.sh --build-dir {BUILD}")
    return prog


@pytest.fixture(scope="module")
def peer_results(tmp_path_factory):
    """peers/run.sh over every built peer with tiny counts; the output directory."""
    built = [n for n in PEERS if (PEER_BIN / f"peer-{n}").exists()]
    if not built:
        pytest.skip(f"no peer program built in {PEER_BIN} (peers/build.sh --build-dir {BUILD})")
    out = tmp_path_factory.mktemp("peers")
    r = subprocess.run(["bash", str(REPO / "peers" / "run.sh"), "--profile", "quick", "--out-dir", str(out),
                        "--build-dir", str(BUILD), "--only", ",".join(built), "--timeout", "120",
                        "--", "--msgs", str(MSGS), "--reps", str(REPS)],
                       capture_output=True, text=True, timeout=600)
    return out, r


def _number(entry, key):
    v = entry.get(key)
    assert isinstance(v, (int, float)) and not isinstance(v, bool), f"{entry['name']}: {key} = {v!r}"
    return v


@pytest.mark.timeout(660)
@pytest.mark.parametrize("name", list(PEERS))
def test_peer_results(name, peer_results):
    _program(name)
    out, run = peer_results
    path = out / f"peer-{name}.json"
    assert path.exists(), f"peers/run.sh wrote no {path.name}:\n{run.stdout}{run.stderr}"
    assert run.returncode == 0, f"peers/run.sh failed:\n{run.stdout}{run.stderr}"
    doc = json.loads(path.read_text())

    ctx = doc["context"]
    assert ctx["producer"] == ("go-peer" if PEERS[name] == "go" else "rust-peer")
    assert ctx["profile"] == "quick" and ctx["peer"] == name
    for key in ("date", "chanbench_commit", "chanbench_compiler", "cpu_model", "kernel", "peer_description"):
        assert isinstance(ctx.get(key), str), f"context {key} = {ctx.get(key)!r}"
    na = {}
    for item in ctx["not_applicable"]:
        case, sep, reason = item.partition(": ")
        assert sep and reason.strip(), f"not_applicable item without a reason: {item!r}"
        na[case] = reason
    assert set(na) == _expected_na(name), f"n/a cases: {sorted(na)}"

    seen = {}
    for e in doc["benchmarks"]:
        m = NAME_RE.match(e["name"])
        assert m and m["impl"] == name, f"bad benchmark name {e['name']!r}"
        assert e["run_name"] == e["name"] and e["run_type"] == "iteration"
        assert e["label"] == "kind=peer"
        assert not e.get("error_occurred"), f"{e['name']}: {e.get('error_message')}"
        assert e["repetitions"] == REPS and e["iterations"] == 1 and e["time_unit"] == "ms"
        assert _number(e, "real_time") > 0
        assert _number(e, "msgs") == MSGS
        assert _number(e, "msgs_per_s") > 0 and _number(e, "ns_per_msg") > 0
        assert _number(e, "cpu_ns_per_msg") >= 0
        assert _number(e, "vcsw") >= 0 and _number(e, "ivcsw") >= 0
        if e["name"].startswith("pingpong/"):
            assert 0 < _number(e, "p50_ns") <= _number(e, "p99_ns") <= _number(e, "p999_ns")
        seen.setdefault(e["name"], []).append(e["repetition_index"])
    assert all(sorted(r) == list(range(REPS)) for r in seen.values()), f"repetitions: {seen}"
    grid = set(_grid(name))
    assert set(seen) | set(na) == grid and not set(seen) & set(na), (
        f"cases neither measured nor n/a: {sorted(grid - set(seen) - set(na))}")

    # The report reads it as a peer, every case accounted for.
    sys.path.insert(0, str(REPO))
    from harness.report.results import load_results

    rs = load_results([str(path)])
    assert {r.kind for r in rs.runs} == {"peer"} and not [r for r in rs.runs if r.error]
    assert {f"{n.case}/impl:{n.impl}" for n in rs.not_applicable} == set(na)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", list(PEERS))
def test_peer_detects_loss(name, tmp_path):
    prog = _program(name)
    out = tmp_path / "corrupt.json"
    r = subprocess.run([str(prog), "--profile", "quick", "--msgs", str(MSGS), "--reps", "1", "--corrupt",
                        "--out", str(out)], capture_output=True, text=True, timeout=240)
    assert r.returncode == 1, f"exit {r.returncode} with a message lost:\n{r.stderr[-2000:]}"
    entries = json.loads(out.read_text())["benchmarks"]
    assert len(entries) == len(_grid(name)) - len(_expected_na(name))
    for e in entries:
        assert e.get("error_occurred") is True, f"{e['name']}: a lost message was not detected"
        assert e["error_message"].startswith("discrepancy:"), e["error_message"]
        assert "msgs" not in e and "ns_per_msg" not in e, f"{e['name']}: a failed run carries numbers"
