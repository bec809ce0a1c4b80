"""The soak: >= 10^8 messages per implementation through the stress drivers.

    scripts/soak.sh [--impl NAME]... [--msgs N] [--budget SECONDS] [--short] [--build DIR]

For each implementation (default: mutex, futex, ck) and each capacity class
(rendezvous 0, bounded 1, bounded 8, unbounded), chan-stress runs every check
(--check all: exactly-once [Q3], per-producer order [Q2], close races [C9],
conservation [C8], len bounds [Q8], try/timed ops with tiny timeouts [T4]) in
chunks, with more threads than cores (4 x cores producers and as many consumers,
at least 8 each) and a new seed per chunk, until the implementation's share of
--msgs messages has gone through; chan-select-stress --check chaos [S7] takes a
small share too where select is declared. A progress line follows each chunk.

Messages counted: "delivered" (a send that returned OK), summed over checks,
chunks and capacity classes; the summary also gives those offered ("sent").

It fails (exit 1) on the first discrepancy a driver reports (loss, duplicate,
order, conservation, len, a timed-out op that consumed something), on a crash or
a hang (the driver's watchdog), and on books that do not balance in the summary
(counts exactly, checksums modulo 2^64: messages.sum64). It stops with exit 3 if
the time budget runs out before the target is reached (no verdict on the rest).

--short is the CI version: 6 x 10^5 messages per implementation, a few seconds each.
The summary is printed and written as JSON to --out (default
<build>/soak/summary.json).
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "drivers"))
from messages import sum64  # noqa: E402

# capacity class -> share of an implementation's messages (the slow classes get less
# of the count but still millions of messages at the full scale)
SHARES = {"0": 0.06, "1": 0.06, "8": 0.30, "unbounded": 0.53}
SELECT_SHARE = 0.05  # chan-select-stress chaos, cap "mixed"
CHUNK_SECONDS = 20.0  # aim for chunks of about this long (progress granularity)


def fmt_n(n):
    return f"{n / 1e6:.2f} M" if n >= 1e6 else f"{n / 1e3:.1f} k"


def books_balance(r):
    """The identities of tests/test_stress.py on one chan-stress result (None if ok)."""
    ck = r["check"]
    if r["discrepancies"]:
        return f"{r['discrepancies']} discrepancies"
    if ck in ("exactly-once", "order", "timed", "len"):
        if r["received"] != r["sent"] or sum64(r["sum_received"]) != sum64(r["sum_sent"]):
            return "received != sent"
    if ck == "close-race" and (r["delivered"] + r["returned"] != r["sent"] or r["received"] != r["delivered"]):
        return "delivered + returned != sent"
    if ck == "conservation":
        if (r["received"] + r["undelivered"] != r["delivered"]
                or r["received"] + r["returned"] + r["undelivered"] != r["sent"]
                or sum64(r["sum_received"], r["sum_undelivered"]) != sum64(r["sum_sent"])):
            return "received + returned + undelivered != sent (or checksums differ mod 2^64)"
    return None


class Soak:
    def __init__(self, args):
        self.a = args
        self.build = pathlib.Path(args.build).resolve()
        self.drivers = self.build / "tests" / "drivers"
        ncpu = os.cpu_count() or 2
        self.threads = min(64, max(8, 4 * ncpu))
        self.failed = []
        self.summary = {"target_per_impl": args.msgs, "budget_s": args.budget, "threads": self.threads,
                        "cores": ncpu, "impls": {}}

    def log(self, msg):
        print(f"[soak {time.strftime('%H:%M:%S')}] {msg}", flush=True)

    def caps_of(self, impl):
        out = subprocess.run([str(self.drivers / "chan-stress"), "--list"], capture_output=True, text=True)
        for line in out.stdout.splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("name") == impl:
                return d
        return None

    def run_chunk(self, impl, cap, msgs, rounds, seed, select, expect_s):
        timeout = max(60.0, expect_s * 4 + 60)
        if select:
            cmd = [str(self.drivers / "chan-select-stress"), "--impl", impl, "--cap", "mixed",
                   "--check", "chaos", "--threads", str(min(self.threads, 16)), "--msgs", str(msgs),
                   "--rounds", str(rounds), "--seed", str(seed), "--timeout", f"{timeout - 10:g}"]
        else:
            cmd = [str(self.drivers / "chan-stress"), "--impl", impl, "--cap", cap, "--check", "all",
                   "--producers", str(self.threads), "--consumers", str(self.threads),
                   "--msgs", str(msgs), "--rounds", str(rounds), "--seed", str(seed),
                   "--timeout", f"{timeout - 10:g}"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None, f"hang: killed after {timeout:g} s: $ {' '.join(cmd)}"
        summary = None
        for line in reversed(p.stdout.strip().splitlines()):
            try:
                summary = json.loads(line)
                break
            except ValueError:
                continue
        if p.returncode == 77:
            return "n/a", None
        if p.returncode != 0 or summary is None or summary.get("ok") is not True:
            err = "\n".join(p.stderr.strip().splitlines()[:30])
            return None, f"exit {p.returncode}: $ {' '.join(cmd)}\n{err}"
        for r in summary["results"]:
            bad = books_balance(r) if not select else (
                None if r["discrepancies"] == 0 and r["received"] == r["sent"]
                and sum64(r["sum_received"]) == sum64(r["sum_sent"]) else "select books do not balance")
            if bad:
                return None, f"{r['check']}: {bad}: {r}\n$ {' '.join(cmd)}"
        return summary, None

    def soak_class(self, impl, cap, quota, deadline, select=False):
        """Chunks on one (impl, capacity class) until `quota` delivered messages."""
        label = f"{impl} {'select-chaos' if select else 'cap=' + cap}"
        per_round = self.a.round_msgs
        done = {"sent": 0, "delivered": 0, "seconds": 0.0, "chunks": 0}
        rate = None
        seed = self.a.seed * 1000
        while done["delivered"] < quota:
            left_s = deadline - time.monotonic()
            if left_s <= 0:
                return done, f"{label}: time budget ran out at {fmt_n(done['delivered'])} of {fmt_n(quota)}"
            # rounds for about CHUNK_SECONDS (or what is left), at the last chunk's rate
            if rate:
                want = min(quota - done["delivered"], rate * min(CHUNK_SECONDS, left_s))
            else:
                want = per_round * 6  # first chunk: one round of each check
            rounds = max(1, min(100000, int(want / (per_round * (1 if select else 6)))))
            t0 = time.monotonic()
            s, err = self.run_chunk(impl, cap, per_round, rounds, seed + done["chunks"], select,
                                    (want / rate) if rate else 30)
            if s == "n/a":
                return done, None
            if err:
                return done, f"{label}: {err}"
            dt = time.monotonic() - t0
            sent = sum(r["sent"] for r in s["results"])
            delivered = sum(r.get("delivered", r.get("received", 0)) for r in s["results"])
            done["sent"] += sent
            done["delivered"] += delivered
            done["seconds"] += dt
            done["chunks"] += 1
            rate = max(1.0, delivered / dt)
            self.log(f"{label}: {fmt_n(done['delivered'])} / {fmt_n(quota)} delivered "
                     f"({100 * done['delivered'] / quota:.0f}%), {fmt_n(rate)}/s, chunk {done['chunks']} "
                     f"({rounds} rounds, {dt:.1f} s), eta {max(0, quota - done['delivered']) / rate:.0f} s")
        return done, None

    def soak_impl(self, impl, budget):
        info = self.caps_of(impl)
        if info is None:
            self.failed.append(f"{impl}: not registered (chan-stress --list)")
            return
        start = time.monotonic()
        deadline = start + budget
        has_select = "select" in (info.get("caps") or [])
        res = {"classes": {}, "delivered": 0, "sent": 0}
        shares = dict(SHARES)
        if has_select:
            shares["select"] = SELECT_SHARE
        total_share = sum(shares.values())
        for cls, share in shares.items():
            quota = int(self.a.msgs * share / total_share) + 1
            done, err = self.soak_class(impl, cls, quota, deadline, select=(cls == "select"))
            res["classes"][cls] = done
            res["delivered"] += done["delivered"]
            res["sent"] += done["sent"]
            if err:
                res["error"] = err
                self.failed.append(err)
                break
        res["seconds"] = round(time.monotonic() - start, 1)
        res["ok"] = "error" not in res and res["delivered"] >= self.a.msgs
        self.summary["impls"][impl] = res
        self.log(f"{impl}: {'PASS' if res['ok'] else 'FAIL'}: {res['delivered']:,} messages delivered "
                 f"({res['sent']:,} offered) in {res['seconds']:.0f} s")

    def run(self):
        impls = self.a.impl or ["mutex", "futex", "ck"]
        self.log(f"target {self.a.msgs:,} messages per implementation; implementations {', '.join(impls)}; "
                 f"{self.threads} producers and {self.threads} consumers on {os.cpu_count()} cores; "
                 f"budget {self.a.budget:g} s")
        t0 = time.monotonic()
        for i, impl in enumerate(impls):
            left = self.a.budget - (time.monotonic() - t0)
            self.soak_impl(impl, left / (len(impls) - i))
        self.summary["seconds"] = round(time.monotonic() - t0, 1)
        self.summary["ok"] = not self.failed
        out = pathlib.Path(self.a.out or self.build / "soak" / "summary.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(self.summary, indent=2) + "\n")
        print("\nimpl      delivered        offered   seconds  verdict")
        for impl, r in self.summary["impls"].items():
            print(f"{impl:<8} {r['delivered']:>12,} {r['sent']:>14,} {r['seconds']:>9.0f}  "
                  f"{'pass' if r['ok'] else 'FAIL'}")
        for f in self.failed:
            print(f"FAIL: {f}")
        print(f"summary: {out}")
        if any("time budget ran out" in f for f in self.failed) and \
                not any("time budget ran out" not in f for f in self.failed):
            return 3
        return 0 if not self.failed else 1


def main(argv=None):
    ap = argparse.ArgumentParser(prog="scripts/soak.sh", description=__doc__.split("\n\n")[0])
    ap.add_argument("--impl", action="append", help="implementation (repeatable; default mutex futex ck)")
    ap.add_argument("--msgs", type=float, default=None, help="messages per implementation (default 1e8)")
    ap.add_argument("--budget", type=float, default=None, help="seconds for the whole soak (default 5400)")
    ap.add_argument("--short", action="store_true", help="CI version: 6e5 messages per implementation")
    ap.add_argument("--round-msgs", type=int, default=None, help="messages per driver round")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--build", default=os.environ.get("CHANBENCH_BUILD", str(HERE.parent / "build")))
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    a.msgs = int(a.msgs if a.msgs is not None else (6e5 if a.short else 1e8))
    a.budget = a.budget if a.budget is not None else (90.0 if a.short else 5400.0)
    a.round_msgs = a.round_msgs or (20000 if a.short else 200000)
    return Soak(a).run()


if __name__ == "__main__":
    sys.exit(main())
