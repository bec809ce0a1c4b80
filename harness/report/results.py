"""Loading result files: google-benchmark JSON in chanbench's naming (docs/RESULTS.md).

One file per producer (chanbench-run, go-peer, rust-peer, ...); load_results() merges
several into one ResultSet. Only per-repetition entries (run_type "iteration") are
kept: statistics are computed from them, google-benchmark's aggregates are ignored.
A failed repetition keeps its message and no numbers; a capability gap ("n/a: ...")
is kept as a NotApplicable record with its reason.
"""

import json
import os
import re
from dataclasses import dataclass, field

# Segments google-benchmark appends after the name we register (run_name parts).
_GBENCH_SUFFIX_KEYS = {"repeats", "iterations", "min_time", "min_warmup_time", "threads"}
_GBENCH_SUFFIX_WORDS = {"real_time", "manual_time", "process_time"}

# Time units google-benchmark writes, in nanoseconds.
_NS_PER_UNIT = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# Entry fields that are google-benchmark's own, not counters.
_GBENCH_FIELDS = {
    "name", "run_name", "run_type", "family_index", "per_family_instance_index",
    "repetitions", "repetition_index", "threads", "iterations", "real_time", "cpu_time",
    "time_unit", "label", "error_occurred", "error_message", "skipped", "skip_message",
    "aggregate_name", "aggregate_unit", "big_o", "rms",
}

_NA_PREFIX = re.compile(r"^\s*n/?a\b\s*[:\-]?\s*", re.IGNORECASE)
_KIND_LABEL = re.compile(r"\bkind=([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class BenchName:
    """A benchmark name split into scenario, parameters and implementation."""

    scenario: str
    params: tuple  # ((key, value), ...) in the order of the name
    impl: str

    @property
    def case(self):
        """Everything before /impl: (the rows of one table)."""
        parts = [self.scenario] + [f"{k}:{v}" if v != "" else k for k, v in self.params]
        return "/".join(parts)

    @property
    def key(self):
        return f"{self.case}/impl:{self.impl}"

    def param(self, key, default=None):
        for k, v in self.params:
            if k == key:
                return v
        return default


def parse_name(name):
    """Split `<scenario>/<key>:<value>/.../impl:<impl>[/gbench suffixes]`."""
    segments = [s for s in name.split("/") if s != ""]
    if not segments:
        return BenchName("", (), "")
    impl_at = None
    for i in range(len(segments) - 1, 0, -1):
        if segments[i].startswith("impl:"):
            impl_at = i
            break
    if impl_at is not None:
        impl = segments[impl_at][len("impl:"):]
        middle = segments[1:impl_at]
    else:
        impl = ""
        middle = [s for s in segments[1:]
                  if s not in _GBENCH_SUFFIX_WORDS and s.split(":", 1)[0] not in _GBENCH_SUFFIX_KEYS]
    params = tuple(tuple(s.split(":", 1)) if ":" in s else (s, "") for s in middle)
    return BenchName(segments[0], params, impl)


@dataclass
class Run:
    """One repetition of one benchmark from one file."""

    name: BenchName
    full_name: str
    source: str          # the file it came from
    producer: str        # the context's "producer"
    kind: str            # channel | reference | peer (from the label), or "?"
    repetition: int
    values: dict         # counters, plus real_time_ns, cpu_time_ns and iterations
    error: str = None    # validation failure: the message; such a run has no numbers


@dataclass
class NotApplicable:
    """A case (or a whole scenario) an implementation has no result for, and why."""

    scenario: str
    case: str            # "" when the whole scenario is meant
    impl: str
    reason: str
    source: str          # where the reason came from


@dataclass
class ResultFile:
    path: str
    context: dict
    producer: str
    entries: int         # iteration entries kept
    aggregates: int      # aggregate entries ignored


@dataclass
class ResultSet:
    files: list = field(default_factory=list)       # ResultFile
    runs: list = field(default_factory=list)        # Run
    not_applicable: list = field(default_factory=list)
    series: dict = field(default_factory=dict)      # name.key -> {series: [[t_ms, v], ...]}
    warnings: list = field(default_factory=list)

    @property
    def context(self):
        """The main context: the C runner's file if present, else the first file."""
        for f in self.files:
            if f.producer == "chanbench-run":
                return f.context
        return self.files[0].context if self.files else {}

    def impls(self):
        names = {r.name.impl for r in self.runs} | {n.impl for n in self.not_applicable}
        return sorted(n for n in names if n)

    def scenarios(self):
        """Scenario -> case -> impl -> [Run], each level in first-appearance order."""
        out = {}
        for r in self.runs:
            out.setdefault(r.name.scenario, {}).setdefault(r.name.case, {}) \
               .setdefault(r.name.impl, []).append(r)
        return out


class ResultError(Exception):
    """An input file that cannot be used; the message names the file."""


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as e:
        raise ResultError(f"{path}: cannot read: {e.strerror}") from e
    except json.JSONDecodeError as e:
        raise ResultError(f"{path}: not valid JSON: {e}") from e


def _kind(label, producer):
    m = _KIND_LABEL.search(label or "")
    if m:
        return m.group(1)
    if producer.endswith("peer"):
        return "peer"
    return "?"


def _numbers(entry):
    values = {}
    unit = _NS_PER_UNIT.get(entry.get("time_unit", "ns"), 1.0)
    for src, dst in (("real_time", "real_time_ns"), ("cpu_time", "cpu_time_ns")):
        if isinstance(entry.get(src), (int, float)):
            values[dst] = float(entry[src]) * unit
    if isinstance(entry.get("iterations"), (int, float)):
        values["iterations"] = float(entry["iterations"])
    for k, v in entry.items():
        if k not in _GBENCH_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool):
            values[k] = float(v)
    return values


def _is_aggregate(entry):
    if entry.get("run_type") == "aggregate":
        return True
    return "run_type" not in entry and "aggregate_name" in entry


# The Go and Rust peer plug-ins (peers/README.md, each plug-in's description): why
# each lacks a capability the runner reports only as "<capability> not declared".
PLUGIN_NA_WHY = {
    ("std-mpsc", "mpmc"): "std::sync::mpsc has one Receiver (not Clone): one consumer only",
    ("std-mpsc", "timed"): "std's SyncSender has no timed send",
    ("tokio-mpsc", "mpmc"): "tokio's mpsc has one Receiver (recv takes &mut self): one consumer only",
    ("tokio-mpsc", "rendezvous"): "tokio's mpsc::channel(0) panics: no capacity-0 hand-off",
    ("go-chan-cgo", "unbounded"): "Go has no unbounded channel",
}
_NOT_DECLARED = re.compile(r"^(\w+) not declared$")


def _plugin_reason(impl, reason):
    """A peer plug-in's own reason after the runner's "<cap> not declared"."""
    m = _NOT_DECLARED.match(reason)
    why = PLUGIN_NA_WHY.get((impl, m.group(1))) if m else None
    return f"{reason} ({why})" if why else reason


def _na_reason(message):
    """The reason if message reports a capability gap ("n/a: ..."), else None."""
    if message and _NA_PREFIX.match(message):
        return _NA_PREFIX.sub("", message, count=1).strip() or "not applicable"
    return None


def _not_applicable_items(value):
    """A peer's context "not_applicable": a list, a dict or a string (JSON or a list
    separated by ';' or newlines) of "<pattern>" or "<pattern>: <reason>" items, or
    dicts {"name"|"case"|"scenario": ..., "impl": ..., "reason": ...}."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = None
        if isinstance(parsed, (list, dict)):
            value = parsed
        else:
            sep = ";" if ";" in value else "\n"
            value = [s.strip() for s in value.split(sep) if s.strip()]
            if len(value) == 1 and "," in value[0] and ": " not in value[0]:
                value = [s.strip() for s in value[0].split(",") if s.strip()]
    if isinstance(value, dict):
        return [(str(k), str(v) if v else "") for k, v in value.items()]
    items = []
    for item in value if isinstance(value, list) else []:
        if isinstance(item, dict):
            pattern = str(item.get("name") or item.get("benchmark") or item.get("case")
                          or item.get("scenario") or "")
            if item.get("impl") and "impl:" not in pattern:
                pattern += f"/impl:{item['impl']}"
            items.append((pattern, str(item.get("reason") or item.get("why") or "")))
        elif isinstance(item, str):
            pattern, _, reason = item.partition(": ")
            items.append((pattern.strip(), reason.strip()))
    return [(p, r) for p, r in items if p]


def _peer_na_text(context):
    """What a peer's description says it lacks: "...; n/a: unbounded (Go has none)"."""
    m = re.search(r"\bn/a:\s*(.+)$", str(context.get("peer_description", "")))
    return m.group(1).strip() if m else ""


def _expand_not_applicable(pattern, reason, file_impls, context, source):
    """A not_applicable pattern names a scenario, a case, or one benchmark."""
    name = parse_name(pattern)
    producer = str(context.get("producer") or "unknown")
    impls = [name.impl] if name.impl else (sorted(file_impls) or [producer])
    case = name.case if name.params else ""
    described = _peer_na_text(context)
    why = reason or (f"the peer lacks it; its description says n/a: {described}" if described
                     else "the peer lacks this operation (no reason given)")
    return [NotApplicable(name.scenario, case, impl, why, source) for impl in impls]


def _load_series(result_path, rs):
    stem = result_path[:-len(".json")] if result_path.endswith(".json") else result_path
    for path in (result_path + ".series.json", stem + ".series.json"):
        if os.path.isfile(path):
            data = _read_json(path)
            if not isinstance(data, dict):
                raise ResultError(f"{path}: expected an object of benchmark name -> series")
            for bench, series in data.items():
                if isinstance(series, dict):
                    rs.series.setdefault(parse_name(bench).key, {}).update(series)
            return


def load_file(path, rs):
    """Add one result file (and its series sidecar, if any) to rs."""
    doc = _read_json(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise ResultError(f"{path}: not a google-benchmark JSON file (no 'benchmarks' list)")
    context = doc.get("context") if isinstance(doc.get("context"), dict) else {}
    producer = str(context.get("producer", "")) or "unknown"
    kept = aggregates = 0
    file_impls = set()
    for entry in doc["benchmarks"]:
        if not isinstance(entry, dict) or "name" not in entry:
            continue
        if _is_aggregate(entry):
            aggregates += 1
            continue
        full = str(entry.get("run_name") or entry["name"])
        name = parse_name(full)
        if name.impl:
            file_impls.add(name.impl)
        message = None
        if entry.get("error_occurred"):
            message = str(entry.get("error_message") or "error (no message)")
        elif entry.get("skipped"):
            message = str(entry.get("skip_message") or "n/a: skipped (no message)")
            if _na_reason(message) is None:
                message = "n/a: " + message
        reason = _na_reason(message)
        if reason is not None:
            rs.not_applicable.append(NotApplicable(name.scenario, name.case, name.impl,
                                                   _plugin_reason(name.impl, reason),
                                                   os.path.basename(path)))
            continue
        kept += 1
        rs.runs.append(Run(
            name=name, full_name=full, source=path, producer=producer,
            kind=_kind(entry.get("label"), producer),
            repetition=int(entry.get("repetition_index", 0) or 0),
            values={} if message else _numbers(entry), error=message))
    na = context.get("not_applicable")
    if na:
        for pattern, reason in _not_applicable_items(na):
            rs.not_applicable.extend(_expand_not_applicable(
                pattern, reason, file_impls, context, f"{os.path.basename(path)} (context)"))
    rs.files.append(ResultFile(path, context, producer, kept, aggregates))
    _load_series(path, rs)


def load_results(paths):
    """Merge several result files; warn when one benchmark appears in two files."""
    rs = ResultSet()
    for path in paths:
        load_file(path, rs)
    seen = {}
    for r in rs.runs:
        seen.setdefault(r.name.key, set()).add(r.source)
    for key, sources in seen.items():
        if len(sources) > 1:
            rs.warnings.append(f"{key} appears in {len(sources)} files "
                               f"({', '.join(sorted(sources))}); their repetitions are pooled")
    return rs


def machine_slug(context):
    """'AMD EPYC 7B13' with 2 CPUs -> 'amd-epyc-7b13-2c'."""
    model = str(context.get("cpu_model") or "").strip()
    model = re.sub(r"\((r|tm)\)", " ", model, flags=re.IGNORECASE)
    model = re.sub(r"@.*$", " ", model)                       # "@ 2.20GHz"
    model = re.sub(r"\b(cpu|processor|\d+-core)\b", " ", model, flags=re.IGNORECASE)
    slug = re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-") or "unknown-cpu"
    cpus = context.get("num_cpus")
    return f"{slug}-{cpus}c" if cpus not in (None, "") else slug
