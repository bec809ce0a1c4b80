"""The conformance matrix: implementation x property -> pass / FAIL / n/a.

A pytest plug-in (registered by conftest.py in the controlling process only) that
records the outcome of every test that names a property (@pytest.mark.prop) and
writes, at the end of the session,

    <out>/matrix.json   {"implementations": {impl: {prop: status}},
                         "properties": {prop: title},
                         "failures": {impl: {prop: [node ids]}},
                         "harness": {prop: status}, "harness_failures": {prop: [node ids]},
                         "run": {...}}
    <out>/matrix.md     a Markdown table, rows implementations, columns property ids

where <out> is --matrix-out (default <build>/conformance; scripts/test.sh writes the
checked-in <repo>/results/conformance). The terminal
summary prints the same in short.

A cell is
    pass     every test of that property for that implementation passed (tests skipped
             as n/a beside passing ones are fine: that part is not declared);
    FAIL     any of them failed or errored (setup, call or teardown; a crashed xdist
             worker counts as a failure of the test it was running);
    n/a      all of them were skipped for a capability the implementation does not
             declare (skip reason starting "n/a:");
    skipped  none failed, but some were skipped for another reason (a missing tool),
             so the property was not fully checked.
A cell with no tests is absent from the JSON and "-" in the table.

Which implementation and property a test belongs to: conftest puts them in the
report's user_properties ("chanbench_impl", "chanbench_prop"), which xdist carries
from the workers to the controller. A report without them (the one xdist makes
for a crashed worker) is attributed from its node id: the property from the test
name (test_<ID>_...), the implementation from the first parameter id (a channel
kind's "<kind>-<impl>", tests/kindlib.py, from any place in the ids). Tests that
name a property but no implementation (the plug-in loader's) go to "harness".

Under xdist (-n N) reports arrive in the controller through
pytest_runtest_logreport; workers do not run this plug-in.
"""
import datetime
import json
import os
import re
import subprocess

# The catalogue: CONFORMANCE.md's ids with a one-line title each, in its order, plus
# the suite's additions (M: mechanism claims, H: the harness itself).
PROPERTIES = {
    "Q1": "FIFO, values intact, one producer and one consumer, every capacity 0..64+ and unbounded",
    "Q2": "many producers: each producer's messages arrive in its order",
    "Q3": "many producers and consumers: every message delivered exactly once",
    "Q4": "recv on empty blocks; try_recv returns empty at once",
    "Q5": "send on full blocks; try_send returns full at once and the caller keeps the value",
    "Q6": "capacity N holds exactly N messages; cap() reports N",
    "Q7": "freeing one slot lets one blocked sender through (no lost wake-up)",
    "Q8": "len() within 0..cap under concurrency, exact when quiescent",
    "Q9": "a completed send is visible to a later try_recv (no spurious empty)",
    "Q10": "a channel handle can travel through a channel",
    "Q11": "unbounded: send never blocks or reports full; fails only when closed",
    "Q12": "rendezvous: cap 0, len 0; try ops succeed only with a waiting peer; send returns after hand-off",
    "Q13": "invalid arguments fail with a clear status, never a crash",
    "C1": "after close, receivers drain buffered messages in order, then get CLOSED",
    "C2": "recv / try_recv on a closed empty channel return CLOSED at once, every time",
    "C3": "close wakes every blocked receiver and sender with CLOSED; senders keep their values",
    "C4": "send / try_send / timed send after close fail with CLOSED; value not taken",
    "C5": "a second close is harmless and reports already-closed",
    "C6": "dropping the last sender handle closes the channel",
    "C7": "dropping the last receiver handle makes every later and blocked send fail",
    "C8": "conservation: each message is received, returned, or handed to the undelivered callback, once",
    "C9": "a close racing with sends and receives loses or duplicates no delivered message",
    "T1": "timed recv / send return TIMEOUT no earlier than the deadline, not absurdly later; value kept",
    "T2": "a zero or past deadline still takes a ready message or a free slot",
    "T3": "a message sent after a receiver timed out is delivered to a later recv",
    "T4": "a timed-out operation consumes nothing and leaves no waiter behind",
    "F1": "several blocked consumers on one MPMC channel all make progress",
    "F2": "a woken waiter that finds nothing waits again, without losing messages or spinning",
    "S1": "select returns a ready case, blocks when none is, never blocks with a default",
    "S2": "exactly one case commits per select",
    "S3": "a closed channel counts as ready; its case reports CLOSED",
    "S4": "fair select picks ready cases at random; biased picks the first ready",
    "S5": "a select sending and receiving on one channel never pairs with itself",
    "S6": "losing cases leave the wait queues (no growth, no stray wake-ups)",
    "S7": "no deadlock under a chaotic mix of select and plain operations",
    "B1": "broadcast: every receiver gets every message in order; new subscribers start at the tail",
    "B2": "broadcast: a lagging receiver is told exactly how many it missed",
    "B3": "broadcast: CLOSED only after the retained messages were read",
    "W1": "watch: only the latest value kept; waiting receivers wake on change",
    "W2": "watch: after close an unseen final value is still seen, then CLOSED",
    "O1": "oneshot: one value; each side learns when the other went away",
    "P1": "poll fd readable exactly when a recv would not block",
    "P2": "event loop plus blocking senders move every message; the loop never blocks",
    "BT1": "batch send/recv: order, exactly once, prefix on failure, recv takes what is ready",
    "M1": "futex: uncontended send/recv and try ops make no futex system call",
    "H1": "plug-in loader: each bad file gives its own status and a message saying what is wrong",
    "H2": "plug-in loader: a valid plug-in registers, is listed, works, and the suite runs it",
    "H3": "the suite checks itself: its detectors (fast-path strace, crash and hang attribution, the "
          "broken plug-ins) fail an implementation that breaks a property",
    "H4": "compare mode gates regressions: two runs of one build pass, a plug-in with an injected delay is flagged (exit 3)",
}

PASS, FAIL, NA, SKIPPED = "pass", "FAIL", "n/a", "skipped"
HARNESS = "(harness)"
_TEST_PROP = re.compile(r"::test_([A-Z]{1,2}\d+)_")  # Q5, BT1
_ORDER = {p: i for i, p in enumerate(PROPERTIES)}


def prop_sort_key(p):
    return (_ORDER.get(p, len(_ORDER)), p)


def skip_reason(report):
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        r = str(lr[2])
    else:
        r = str(lr)
    return r[len("Skipped: "):] if r.startswith("Skipped: ") else r


def _kind_impl_names():
    """ "<kind>-<impl>" for every broadcast/watch/oneshot implementation of the library
    (tests/kindlib.py), or none when it cannot tell (a library without the kinds)."""
    try:
        import kindlib

        return [kindlib.full_name(k, n) for k in kindlib.KINDS for n in kindlib.kind_impls(k)]
    except (ImportError, OSError, AttributeError):
        return []


def peers_matrix_dir():
    import chanlib

    return os.path.join(chanlib.build_dir(), "conformance-peers")


class ConformanceMatrix:
    def __init__(self, config, outdir, impl_names):
        self.config = config
        self.outdir = outdir
        self.impl_names = sorted(impl_names, key=len, reverse=True)  # longest match first
        # The channel kinds' rows ("bcast-futex", tests/kindlib.py): their parameter id
        # need not come first (test_B2_...[4-bcast-futex]), so it is matched as a whole
        # dash-separated part of the ids, before the queue names.
        self.kind_names = sorted(_kind_impl_names(), key=len, reverse=True)
        self.tests = {}  # nodeid -> {"impl", "props", "outcome"}
        self.written = None
        # tests/test_peers.py runs the suite on each peer adapter in a child pytest
        # that writes its matrix to <build>/conformance-peers/<adapter>/; their rows
        # join this one.
        # Only rows written during this session count (older ones are stale), and
        # only a full session merges them: not a child run (CHANBENCH_PEER_CHILD)
        # and not one restricted with --impl (the self-tests' children share the
        # build directory and would pick up rows that are not theirs).
        restricted = getattr(config, "_chanbench", {}).get("restricted", False)
        self.peers_dir = None if os.environ.get("CHANBENCH_PEER_CHILD") or restricted else peers_matrix_dir()
        self.started = datetime.datetime.now().timestamp()

    # --- attribution -------------------------------------------------------
    def _attribute(self, report):
        impl = props = None
        for k, v in getattr(report, "user_properties", None) or ():
            if k == "chanbench_impl" and isinstance(v, str):
                impl = v
            elif k == "chanbench_prop":
                props = list(v) if isinstance(v, (list, tuple)) else [v]
        if props is None:  # e.g. the report xdist makes for a crashed worker
            m = _TEST_PROP.search(report.nodeid)
            if not m:
                return None, None
            props = [m.group(1)]
            params = report.nodeid.rsplit("[", 1)[1].rstrip("]") if report.nodeid.endswith("]") else ""
            for name in self.kind_names:
                if f"-{name}-" in f"-{params}-":
                    impl = name
                    break
            for name in self.impl_names if impl is None else ():
                if params == name or params.startswith(name + "-"):
                    impl = name
                    break
        return impl, props

    # --- hooks -------------------------------------------------------------
    def pytest_runtest_logreport(self, report):
        impl, props = self._attribute(report)
        if not props:
            return
        t = self.tests.setdefault(report.nodeid, {"impl": impl, "props": props, "outcome": None, "reason": ""})
        if report.failed:
            t["outcome"] = "fail"
        elif report.skipped and t["outcome"] != "fail":
            reason = skip_reason(report)
            t["outcome"] = "na" if reason.startswith("n/a") else "skip"
            t["reason"] = reason
        elif report.passed and report.when == "call" and t["outcome"] is None:
            t["outcome"] = "pass"

    def cells(self):
        """{impl: {prop: [outcomes]}} and {impl: {prop: [failing nodeids]}}."""
        outcomes, failures = {}, {}
        for nodeid, t in self.tests.items():
            impl = t["impl"] or HARNESS
            o = t["outcome"] or "fail"  # set up but never reported a call: treat as failed
            for p in t["props"]:
                outcomes.setdefault(impl, {}).setdefault(p, []).append(o)
                if o == "fail":
                    failures.setdefault(impl, {}).setdefault(p, []).append(nodeid)
        return outcomes, failures

    @staticmethod
    def verdict(outs):
        if "fail" in outs:
            return FAIL
        if all(o == "na" for o in outs):
            return NA
        if "skip" in outs:
            return SKIPPED
        return PASS

    def build(self):
        outcomes, failures = self.cells()
        impls = {}
        for impl, props in outcomes.items():
            impls[impl] = {p: self.verdict(o) for p, o in sorted(props.items(), key=lambda kv: prop_sort_key(kv[0]))}
        harness = impls.pop(HARNESS, {})
        harness_failures = failures.pop(HARNESS, {})
        peers = self._peer_rows(impls, failures)
        for f in failures.values():
            for ids in f.values():
                ids.sort()
        return {
            "implementations": impls,
            "properties": dict(PROPERTIES),
            "failures": failures,
            "harness": harness,
            "harness_failures": harness_failures,
            "peer_adapters": peers,
            "run": self._run_info(),
        }

    def _peer_rows(self, impls, failures):
        """Merge the rows the peer adapters' child runs wrote; their names, sorted."""
        names = []
        if not self.peers_dir or not os.path.isdir(self.peers_dir):
            return names
        for name in sorted(os.listdir(self.peers_dir)):
            path = os.path.join(self.peers_dir, name, "matrix.json")
            try:
                if os.path.getmtime(path) < self.started:
                    continue
                with open(path) as f:
                    child = json.load(f)
            except (OSError, ValueError):
                continue
            row = child.get("implementations", {}).get(name)
            if not row or name in impls:
                continue
            impls[name] = row
            if child.get("failures", {}).get(name):
                failures[name] = child["failures"][name]
            names.append(name)
        return names

    def _run_info(self):
        info = {
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "args": list(self.config.invocation_params.args),
            "tests": len(self.tests),
        }
        try:
            info["commit"] = subprocess.run(
                ["git", "-C", str(self.config.rootpath), "rev-parse", "--short", "HEAD"],
                capture_output=True, text=True, timeout=10,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
        return info

    @staticmethod
    def markdown(m):
        impls = m["implementations"]
        cols = sorted({p for v in impls.values() for p in v}, key=prop_sort_key)
        lines = ["# Conformance matrix", ""]
        run = m.get("run", {})
        lines.append(f"Generated {run.get('date', '?')} at commit {run.get('commit', '?')} "
                     f"by `pytest {' '.join(run.get('args', []))}`.")
        lines.append("")
        lines.append("pass: every test passed; FAIL: a test failed; n/a: capability not declared; "
                     "skipped: not fully checked (a tool was missing); -: no test ran.")
        lines.append("")
        if impls:
            lines.append("| implementation | " + " | ".join(cols) + " |")
            lines.append("|---|" + "---|" * len(cols))
            for impl in sorted(impls):
                cells = [("**FAIL**" if impls[impl].get(p) == FAIL else impls[impl].get(p, "-")) for p in cols]
                lines.append(f"| {impl} | " + " | ".join(cells) + " |")
            lines.append("")
        else:
            lines += ["No per-implementation property was tested.", ""]
        if m.get("peer_adapters"):
            lines += ["Peer adapters (" + ", ".join(m["peer_adapters"]) + "): rows from tests/test_peers.py, "
                      "which runs the suite on each adapter; a FAIL there is where that library differs "
                      "from the contract (tests/test_peers.py KNOWN_DEVIATIONS says why).", ""]
        if m.get("harness"):
            lines += ["Harness (not per implementation):", "", "| property | result |", "|---|---|"]
            for p, v in m["harness"].items():
                lines.append(f"| {p} | {v} |")
            lines.append("")
        fails = m.get("failures", {})
        if fails or m.get("harness_failures"):
            lines += ["## Failures", ""]
            for impl in sorted(fails):
                for p in sorted(fails[impl], key=prop_sort_key):
                    lines.append(f"- {impl} {p} ({PROPERTIES.get(p, '?')}):")
                    lines += [f"  - `{n}`" for n in fails[impl][p]]
            for p, ids in m.get("harness_failures", {}).items():
                lines.append(f"- harness {p}:")
                lines += [f"  - `{n}`" for n in ids]
            lines.append("")
        used = [p for p in cols] + [p for p in m.get("harness", {})]
        lines += ["## Properties", ""]
        lines += [f"- **{p}** {PROPERTIES.get(p, '(not in the catalogue)')}" for p in used]
        lines.append("")
        return "\n".join(lines)

    def pytest_sessionfinish(self, session, exitstatus):
        if not self.tests:
            return
        m = self.build()
        os.makedirs(self.outdir, exist_ok=True)
        jpath = os.path.join(self.outdir, "matrix.json")
        mpath = os.path.join(self.outdir, "matrix.md")
        for path, text in ((jpath, json.dumps(m, indent=2, sort_keys=False) + "\n"), (mpath, self.markdown(m))):
            tmp = path + f".tmp{os.getpid()}"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        self.written = (m, jpath, mpath)

    def pytest_terminal_summary(self, terminalreporter, exitstatus, config):
        if not self.written:
            return
        m, jpath, mpath = self.written
        tr = terminalreporter
        tr.section("conformance matrix")
        for impl in sorted(m["implementations"]):
            cells = m["implementations"][impl]
            by = {}
            for p, v in cells.items():
                by.setdefault(v, []).append(p)
            parts = [f"{len(by.get(PASS, []))} pass"]
            if by.get(FAIL):
                parts.append(f"FAIL {' '.join(by[FAIL])}")
            if by.get(NA):
                parts.append(f"n/a {' '.join(by[NA])}")
            if by.get(SKIPPED):
                parts.append(f"skipped {' '.join(by[SKIPPED])}")
            tr.write_line(f"{impl:>14}: " + "; ".join(parts), red=bool(by.get(FAIL)), green=not by.get(FAIL))
        if m["harness"]:
            h = ", ".join(f"{p} {v}" for p, v in m["harness"].items())
            tr.write_line(f"{'harness':>14}: {h}", red=FAIL in m["harness"].values())
        tr.write_line(f"matrix written to {jpath} and {mpath}")
