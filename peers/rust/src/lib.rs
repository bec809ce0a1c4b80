//! The shared body of chanbench's Rust peer programs: the command line, the
//! throughput and ping-pong scenarios with the C runner's definitions and
//! message counts (scenarios/flow.c, scenarios/pingpong.c, harness/runner), the
//! validation of what each run moved, getrusage, and the result record of
//! docs/RESULTS.md (google-benchmark JSON, label "kind=peer").
//!
//! A peer program is one `Channel` implementation and
//! `fn main() { chanbench_peers::main::<X>() }`; for a library with
//! crossbeam-channel's API shape, `mpmc_peer!` writes both. peers/README.md describes the
//! scenarios; peers/go/main.go is the same program in Go.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// A capacity as benchmark names write it: 0 (rendezvous), N, or unbounded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    Bounded(usize),
    Unbounded,
}

impl Cap {
    fn label(self) -> String {
        match self {
            Cap::Bounded(n) => n.to_string(),
            Cap::Unbounded => "unbounded".to_string(),
        }
    }
}

/// One case: its capacity and its message count in the default profile
/// (scenarios/throughput.c and scenarios/pingpong.c; scaled per profile and
/// kept a multiple of `unit`, as the C runner does).
struct Case {
    cap: Cap,
    msgs: u64,
    unit: u64,
}

const THROUGHPUT_CASES: [Case; 5] = [
    Case { cap: Cap::Bounded(0), msgs: 20_000, unit: 4 },
    Case { cap: Cap::Bounded(1), msgs: 40_000, unit: 4 },
    Case { cap: Cap::Bounded(64), msgs: 2_000_000, unit: 4 },
    Case { cap: Cap::Bounded(1024), msgs: 2_000_000, unit: 4 },
    Case { cap: Cap::Unbounded, msgs: 2_000_000, unit: 4 },
];

/// Ping-pong counts messages, two per round trip.
const PINGPONG_CASES: [Case; 2] =
    [Case { cap: Cap::Bounded(0), msgs: 40_000, unit: 2 }, Case { cap: Cap::Bounded(1), msgs: 100_000, unit: 2 }];

struct Shape {
    name: &'static str,
    producers: usize,
    consumers: usize,
}

const SHAPES: [Shape; 4] = [
    Shape { name: "spsc", producers: 1, consumers: 1 },
    Shape { name: "mpsc", producers: 4, consumers: 1 },
    Shape { name: "spmc", producers: 1, consumers: 4 },
    Shape { name: "mpmc", producers: 4, consumers: 4 },
];

/// The C runner's profiles (harness/runner/runner.cc): a factor on every
/// case's message count, and repetitions. peers/go/main.go has the same table.
struct Profile {
    name: &'static str,
    scale: f64,
    reps: u32,
}

const PROFILES: [Profile; 3] = [
    Profile { name: "quick", scale: 0.2, reps: 2 },
    Profile { name: "default", scale: 1.0, reps: 5 },
    Profile { name: "long", scale: 4.0, reps: 10 },
];

/// One channel library, seen through the operations the scenarios need.
pub trait Channel {
    /// The implementation name in benchmark names (`impl:<NAME>`).
    const NAME: &'static str;
    /// One line: library and version, the types used, and what is n/a and why.
    const DESCRIPTION: &'static str;
    type Tx: Clone + Send;
    type Rx: Send;
    /// A new channel, or why the library has none of that capacity (the case is n/a).
    fn make(cap: Cap) -> Result<(Self::Tx, Self::Rx), &'static str>;
    /// Another receiver of the same channel, or why there cannot be one (n/a).
    fn clone_rx(rx: &Self::Rx) -> Result<Self::Rx, &'static str>;
    /// Blocking send; false once every receiver is gone.
    fn send(tx: &Self::Tx, v: u64) -> bool;
    /// Blocking receive; None once every sender is gone and the channel is drained.
    fn recv(rx: &mut Self::Rx) -> Option<u64>;
}

/// Defines the peer program of a library with crossbeam-channel's API shape:
/// `$lib::bounded(n)` (0 = rendezvous) and `$lib::unbounded()` both give a
/// `($lib::Sender<u64>, $lib::Receiver<u64>)`, both ends are Clone (MPMC),
/// `send` and `recv` block and fail only on disconnect, so every case applies.
/// crossbeam-channel and flume share no trait, hence a macro: it expands to a
/// unit struct `$peer`, its `Channel` impl and `fn main`.
///
/// `mpmc_peer!(Crossbeam, crossbeam_channel, "crossbeam", "description");`
#[macro_export]
macro_rules! mpmc_peer {
    ($peer:ident, $lib:ident, $name:expr, $description:expr $(,)?) => {
        struct $peer;

        impl $crate::Channel for $peer {
            const NAME: &'static str = $name;
            const DESCRIPTION: &'static str = $description;
            type Tx = $lib::Sender<u64>;
            type Rx = $lib::Receiver<u64>;

            fn make(cap: $crate::Cap) -> Result<(Self::Tx, Self::Rx), &'static str> {
                Ok(match cap {
                    $crate::Cap::Bounded(n) => $lib::bounded(n),
                    $crate::Cap::Unbounded => $lib::unbounded(),
                })
            }
            fn clone_rx(rx: &Self::Rx) -> Result<Self::Rx, &'static str> {
                Ok(rx.clone())
            }
            fn send(tx: &Self::Tx, v: u64) -> bool {
                tx.send(v).is_ok()
            }
            fn recv(rx: &mut Self::Rx) -> Option<u64> {
                rx.recv().ok()
            }
        }

        fn main() {
            $crate::main::<$peer>()
        }
    };
}

// ---------------------------------------------------------------- command line

struct Args {
    profile: &'static Profile,
    scale: f64,
    msgs: Option<u64>,
    reps: u32,
    out: Option<String>,
    scenario: Option<String>,
    corrupt: bool,
    /// --case: only the case whose benchmark name, without /impl:, is this.
    case: Option<String>,
    /// --warmup: before each case, one unmeasured run of a tenth of its messages.
    warmup: bool,
    /// --emit-line: each repetition as one chanbench-result line on stdout.
    emit: bool,
    /// --describe: print name=, producer=, description= and exit.
    describe: bool,
}

const USAGE: &str = "usage: PROGRAM --profile quick|default|long --out FILE [--msgs N] [--scale X] \
[--reps R] [--scenario throughput|pingpong] [--case CASE] [--warmup] [--emit-line] [--corrupt]
       PROGRAM --describe
  --profile P   the C runner's profile: message counts and repetitions (default: default)
  --msgs N      messages per run for every case (ping-pong: 2 per round trip),
                instead of the profile's per-case counts
  --scale X     factor on the default per-case counts, instead of the profile's
  --reps R      repetitions per case, instead of the profile's
  --scenario S  run only that scenario (default: both)
  --case C      run only case C (its benchmark name without /impl:, e.g.
                throughput/shape:spsc/cap:64)
  --warmup      before each case, one unmeasured run of a tenth of its messages
  --emit-line   print each repetition as one line on stdout (chanbench-result
                k=v ..., chanbench-error MESSAGE or chanbench-na REASON), as
                chanbench-run --peer-program reads it; --out is then optional
  --describe    print name=, producer= and description= lines and exit
  --corrupt     test only: lose one message, so every validation fails";

fn usage_error(msg: &str) -> ! {
    eprintln!("error: {}\n{}", msg, USAGE);
    std::process::exit(2);
}

fn parse_args() -> Args {
    let mut profile = "default".to_string();
    let mut scale = None;
    let mut msgs = None;
    let mut reps = None;
    let mut out = None;
    let mut scenario = None;
    let mut corrupt = false;
    let (mut case, mut warmup, mut emit, mut describe) = (None, false, false, false);
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut value = |what: &str| it.next().unwrap_or_else(|| usage_error(&format!("{} needs a value", what)));
        match a.as_str() {
            "--profile" => profile = value("--profile"),
            "--msgs" => {
                let v = value("--msgs");
                msgs = Some(v.parse::<u64>().ok().filter(|&n| n > 0).unwrap_or_else(|| usage_error("--msgs takes a positive integer")));
            }
            "--scale" => {
                let v = value("--scale");
                scale = Some(v.parse::<f64>().ok().filter(|&x| x > 0.0).unwrap_or_else(|| usage_error("--scale takes a positive number")));
            }
            "--reps" => {
                let v = value("--reps");
                reps = Some(v.parse::<u32>().ok().filter(|&n| n > 0).unwrap_or_else(|| usage_error("--reps takes a positive integer")));
            }
            "--out" => out = Some(value("--out")),
            "--scenario" => {
                let v = value("--scenario");
                if v != "throughput" && v != "pingpong" {
                    usage_error("--scenario is throughput or pingpong");
                }
                scenario = Some(v);
            }
            "--corrupt" => corrupt = true,
            "--case" => case = Some(value("--case")),
            "--warmup" => warmup = true,
            "--emit-line" => emit = true,
            "--describe" => describe = true,
            "-h" | "--help" => {
                println!("{}", USAGE);
                std::process::exit(0);
            }
            _ => usage_error(&format!("unknown argument '{}'", a)),
        }
    }
    let profile = PROFILES
        .iter()
        .find(|p| p.name == profile)
        .unwrap_or_else(|| usage_error(&format!("unknown profile '{}' (quick, default, long)", profile)));
    if out.is_none() && !emit && !describe {
        usage_error("--out FILE is required");
    }
    Args {
        profile,
        scale: scale.unwrap_or(profile.scale),
        msgs,
        reps: reps.unwrap_or(profile.reps),
        out,
        scenario,
        corrupt,
        case,
        warmup,
        emit,
        describe,
    }
}

impl Args {
    /// A case's message count: --msgs, or the scaled default; a multiple of the
    /// case's unit, at least one unit (the C runner's scaled_msgs).
    fn msgs(&self, case: &Case) -> u64 {
        let want = self.msgs.unwrap_or_else(|| (case.msgs as f64 * self.scale).floor() as u64);
        (want / case.unit * case.unit).max(case.unit)
    }
}

// ---------------------------------------------------------------- measuring

/// CPU time (user + sys, every thread of the process) and context switches.
#[derive(Clone, Copy)]
struct Usage {
    cpu_ns: i64,
    vcsw: i64,
    ivcsw: i64,
}

fn usage_now() -> Usage {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv_ns = |tv: libc::timeval| tv.tv_sec as i64 * 1_000_000_000 + tv.tv_usec as i64 * 1_000;
    Usage { cpu_ns: tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime), vcsw: ru.ru_nvcsw as i64, ivcsw: ru.ru_nivcsw as i64 }
}

/// What one repetition cost.
struct Cost {
    wall_ns: u64,
    usage: Usage, // difference
}

/// Where a run's threads wait until the clock has started. The clock is read
/// by the main thread once every worker has arrived and before any is let go,
/// so neither thread creation nor a late-scheduled main thread (the machines
/// are oversubscribed on purpose) distorts the time.
struct StartGate {
    state: Mutex<(usize, bool)>, // (workers arrived, open)
    cv: Condvar,
}

impl StartGate {
    fn new() -> StartGate {
        StartGate { state: Mutex::new((0, false)), cv: Condvar::new() }
    }

    /// A worker: arrive, then wait until the gate opens.
    fn wait(&self) {
        let mut st = self.state.lock().unwrap();
        st.0 += 1;
        self.cv.notify_all();
        while !st.1 {
            st = self.cv.wait(st).unwrap();
        }
    }

    /// The main thread: once `workers` have arrived, start the clock and open.
    fn open(&self, workers: usize) -> (Instant, Usage) {
        let mut st = self.state.lock().unwrap();
        while st.0 < workers {
            st = self.cv.wait(st).unwrap();
        }
        let start = (Instant::now(), usage_now());
        st.1 = true;
        self.cv.notify_all();
        start
    }
}

fn stop(t0: Instant, u0: Usage) -> Cost {
    let wall_ns = t0.elapsed().as_nanos() as u64;
    let u1 = usage_now();
    Cost {
        wall_ns,
        usage: Usage { cpu_ns: u1.cpu_ns - u0.cpu_ns, vcsw: u1.vcsw - u0.vcsw, ivcsw: u1.ivcsw - u0.ivcsw },
    }
}

// ---------------------------------------------------------------- scenarios

/// What one repetition measured, or why its validation failed.
struct Outcome {
    cost: Cost,
    msgs: u64,
    counters: Vec<(&'static str, f64)>,
}

/// Err(reason) when the case is n/a for this library; else the repetition's
/// outcome, or the discrepancy its validation found.
type RunResult = Result<Result<Outcome, String>, &'static str>;

// Messages as the C scenarios send them (scenarios/message.h): producer index
// + 1 in the top 16 bits, sequence number from 1 in the low 48; receivers sum
// mix(m) (splitmix64's finaliser) and compare with the sum computed up front.
const SEQ_BITS: u32 = 48;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

fn encode(producer: usize, seq: u64) -> u64 {
    ((producer as u64 + 1) << SEQ_BITS) | (seq & SEQ_MASK)
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d049bb133111eb);
    x ^ (x >> 31)
}

/// What one consumer saw (scenarios/flow.c's checks).
struct Tally {
    count: u64,
    sum: u64,
    last: Vec<u64>,
    out_of_order: u64,
    skipped: u64,
    invalid: u64,
}

impl Tally {
    fn new(producers: usize) -> Tally {
        Tally { count: 0, sum: 0, last: vec![0; producers], out_of_order: 0, skipped: 0, invalid: 0 }
    }

    /// `single`: the only consumer, so each producer's sequence must go up by 1.
    fn add(&mut self, m: u64, per_producer: u64, single: bool) {
        self.count += 1;
        self.sum = self.sum.wrapping_add(mix(m));
        let p = (m >> SEQ_BITS) as usize;
        let seq = m & SEQ_MASK;
        if p == 0 || p > self.last.len() || seq == 0 || seq > per_producer {
            self.invalid += 1;
            return;
        }
        let last = &mut self.last[p - 1];
        if seq <= *last {
            self.out_of_order += 1;
        } else if single && seq != *last + 1 {
            self.skipped += 1;
        }
        *last = seq;
    }
}

fn throughput<C: Channel>(shape: &Shape, cap: Cap, msgs: u64, corrupt: bool) -> RunResult {
    let (tx, rx) = C::make(cap)?;
    let mut rxs = Vec::with_capacity(shape.consumers);
    for _ in 1..shape.consumers {
        rxs.push(C::clone_rx(&rx)?);
    }
    rxs.push(rx);
    let per_producer = msgs / shape.producers as u64;
    let msgs = per_producer * shape.producers as u64;
    let expected = (0..shape.producers)
        .flat_map(|p| (1..=per_producer).map(move |s| mix(encode(p, s))))
        .fold(0u64, u64::wrapping_add);
    let single = shape.consumers == 1;
    let gate = StartGate::new();
    let lost = AtomicBool::new(!corrupt); // --corrupt: the first message any consumer receives is dropped

    let (cost, tallies, sends_ok) = std::thread::scope(|s| {
        let (gate, lost) = (&gate, &lost);
        let consumers: Vec<_> = rxs
            .into_iter()
            .map(|mut rx| {
                s.spawn(move || {
                    let mut t = Tally::new(shape.producers);
                    gate.wait();
                    while let Some(m) = C::recv(&mut rx) {
                        if !lost.load(Ordering::Relaxed) && !lost.swap(true, Ordering::Relaxed) {
                            continue;
                        }
                        t.add(m, per_producer, single);
                    }
                    t
                })
            })
            .collect();
        let producers: Vec<_> = (0..shape.producers)
            .map(|p| {
                let tx = tx.clone();
                s.spawn(move || {
                    gate.wait();
                    (1..=per_producer).all(|seq| C::send(&tx, encode(p, seq)))
                    // tx dropped here: the last producer's drop ends the stream
                })
            })
            .collect();
        drop(tx); // the producers hold the only senders
        let (t0, u0) = gate.open(shape.producers + shape.consumers);
        let sends_ok = producers.into_iter().all(|h| h.join().expect("producer panicked"));
        let tallies: Vec<Tally> = consumers.into_iter().map(|h| h.join().expect("consumer panicked")).collect();
        (stop(t0, u0), tallies, sends_ok)
    });

    let total = |f: fn(&Tally) -> u64| tallies.iter().map(f).sum::<u64>();
    let count = total(|t| t.count);
    let sum = tallies.iter().fold(0u64, |a, t| a.wrapping_add(t.sum));
    let (ooo, skipped, invalid) = (total(|t| t.out_of_order), total(|t| t.skipped), total(|t| t.invalid));
    if !sends_ok {
        return Ok(Err("discrepancy: a send failed: the receivers went away early".to_string()));
    }
    if count != msgs || sum != expected || ooo + skipped + invalid != 0 {
        return Ok(Err(format!(
            "discrepancy: received {} of {} messages, checksum {}, {} out of order, {} skipped, {} invalid",
            count,
            msgs,
            if sum == expected { "ok" } else { "wrong" },
            ooo,
            skipped,
            invalid
        )));
    }
    Ok(Ok(Outcome { cost, msgs, counters: Vec::new() }))
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[u64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64
}

/// scenarios/pingpong.c: msgs / 2 round trips; the initiator sends i = 1, 2, ...
/// and the echo thread answers mix(i). The first 1% of round trips are warm-up
/// (timed with the rest, not sampled).
fn pingpong<C: Channel>(cap: Cap, msgs: u64, corrupt: bool) -> RunResult {
    let (tx_ab, rx_ab) = C::make(cap)?;
    let (tx_ba, mut rx_ba) = C::make(cap)?;
    let rounds = msgs / 2;
    let warmup = rounds / 100;
    let mut samples: Vec<u64> = Vec::with_capacity((rounds - warmup) as usize);
    let gate = StartGate::new();

    let (cost, answered, echoed, fault) = std::thread::scope(|s| {
        let gate = &gate;
        let echo = s.spawn(move || {
            let mut rx_ab = rx_ab;
            let mut echoed = 0u64;
            gate.wait();
            while let Some(v) = C::recv(&mut rx_ab) {
                if v != echoed + 1 {
                    return (echoed, Some(format!("echo expected {}, received {}", echoed + 1, v)));
                }
                echoed += 1;
                let answer = if corrupt && echoed == (rounds + 1) / 2 { v } else { mix(v) };
                if !C::send(&tx_ba, answer) {
                    return (echoed, Some(format!("echo of {} failed: disconnected", v)));
                }
            }
            (echoed, None)
        });
        let (t0, u0) = gate.open(1);
        let mut answered = 0u64;
        let mut fault = None;
        for i in 1..=rounds {
            let t = Instant::now();
            let answer = if C::send(&tx_ab, i) { C::recv(&mut rx_ba) } else { None };
            let dt = t.elapsed().as_nanos() as u64;
            if answer != Some(mix(i)) {
                fault = Some(format!("round trip {} answered {:?}", i, answer));
                break;
            }
            answered += 1;
            if i > warmup {
                samples.push(dt);
            }
        }
        drop(tx_ab); // the echo thread sees the disconnect and returns
        let (echoed, echo_fault) = echo.join().expect("echo thread panicked");
        (stop(t0, u0), answered, echoed, fault.or(echo_fault))
    });

    if let Some(f) = fault {
        return Ok(Err(format!("discrepancy: {}", f)));
    }
    if answered != rounds || echoed != rounds {
        return Ok(Err(format!(
            "discrepancy: {} of {} round trips answered, {} echoed",
            answered, rounds, echoed
        )));
    }
    samples.sort_unstable();
    let n = samples.len().max(1) as f64;
    let counters = vec![
        ("p50_ns", percentile(&samples, 0.50)),
        ("p99_ns", percentile(&samples, 0.99)),
        ("p999_ns", percentile(&samples, 0.999)),
        ("mean_ns", samples.iter().map(|&x| x as f64).sum::<f64>() / n),
        ("max_ns", samples.last().copied().unwrap_or(0) as f64),
        ("samples", samples.len() as f64),
        ("round_trips_per_s", if cost.wall_ns > 0 { rounds as f64 * 1e9 / cost.wall_ns as f64 } else { 0.0 }),
    ];
    Ok(Ok(Outcome { cost, msgs: answered + echoed, counters }))
}

// ---------------------------------------------------------------- output

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{}", x)
    } else {
        "0".to_string()
    }
}

struct Entry {
    name: String,
    family: usize,
    threads: usize,
    reps: u32,
    rep: u32,
    result: Result<Outcome, String>,
}

/// One repetition as google-benchmark writes it (the C runner: one iteration
/// per repetition, manual time = the run's wall time, in milliseconds).
fn entry_json(e: &Entry) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "    {{\n      \"name\": {n},\n      \"family_index\": {f},\n      \"per_family_instance_index\": 0,\n      \
         \"run_name\": {n},\n      \"run_type\": \"iteration\",\n      \"repetitions\": {r},\n      \
         \"repetition_index\": {i},\n      \"threads\": {t},\n",
        n = json_str(&e.name),
        f = e.family,
        r = e.reps,
        i = e.rep,
        t = e.threads
    );
    match &e.result {
        Err(msg) => {
            let _ = write!(
                o,
                "      \"error_occurred\": true,\n      \"error_message\": {},\n      \"iterations\": 0,\n      \
                 \"real_time\": 0,\n      \"cpu_time\": 0,\n      \"time_unit\": \"ms\",\n",
                json_str(msg)
            );
        }
        Ok(out) => {
            let msgs = out.msgs as f64;
            let wall = out.cost.wall_ns as f64;
            let cpu = out.cost.usage.cpu_ns.max(0) as f64;
            let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
            let mut fields: Vec<(&str, String)> = vec![
                ("iterations", "1".to_string()),
                ("real_time", json_num(wall / 1e6)),
                ("cpu_time", json_num(cpu / 1e6)),
                ("time_unit", json_str("ms")),
                ("msgs", out.msgs.to_string()),
                ("msgs_per_s", json_num(ratio(msgs * 1e9, wall))),
                ("ns_per_msg", json_num(ratio(wall, msgs))),
                ("cpu_ns_per_msg", json_num(ratio(cpu, msgs))),
                ("cpu_util", json_num(ratio(cpu, wall))),
                ("vcsw", out.cost.usage.vcsw.to_string()),
                ("ivcsw", out.cost.usage.ivcsw.to_string()),
            ];
            for (k, v) in &out.counters {
                fields.push((k, json_num(*v)));
            }
            for (k, v) in fields {
                let _ = writeln!(o, "      {}: {},", json_str(k), v);
            }
        }
    }
    o.push_str("      \"label\": \"kind=peer\"\n    }");
    o
}

fn read_trim(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_string()).unwrap_or_default()
}

fn cpuinfo_field(key: &str) -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    info.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default()
}

/// UTC now as "YYYY-MM-DDTHH:MM:SS+00:00" (civil-from-days over the Unix epoch).
fn date_now() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
        year,
        month,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// /proc/loadavg's 1, 5 and 15 minute figures, as google-benchmark records them
/// in the C runner's context.
fn load_avg() -> Vec<String> {
    read_trim("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .filter_map(|f| f.parse::<f64>().ok())
        .map(json_num)
        .collect()
}

fn context_json<C: Channel>(args: &Args, not_applicable: &[String]) -> String {
    let exe = std::env::args().next().unwrap_or_default();
    let ncpu = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mhz = cpuinfo_field("cpu MHz").parse::<f64>().unwrap_or(0.0).round();
    let strings: Vec<(&str, String)> = vec![
        ("date", date_now()),
        ("host_name", read_trim("/proc/sys/kernel/hostname")),
        ("executable", exe),
        ("library_build_type", "release".to_string()),
        ("chanbench_commit", std::env::var("CHANBENCH_COMMIT").unwrap_or_else(|_| "unknown".to_string())),
        ("chanbench_compiler", option_env!("CHANBENCH_RUSTC_VERSION").unwrap_or("rustc").to_string()),
        ("chanbench_cflags", "cargo build --release (opt-level 3, codegen-units 1)".to_string()),
        ("cpu_model", cpuinfo_field("model name")),
        ("kernel", read_trim("/proc/sys/kernel/osrelease")),
        ("ck_version", String::new()),
        ("benchmark_version", String::new()),
        ("profile", args.profile.name.to_string()),
        ("repetitions", args.reps.to_string()),
        ("msgs_scale", match args.msgs {
            Some(n) => format!("msgs={}", n),
            None => format!("{}", args.scale),
        }),
        ("producer", "rust-peer".to_string()),
        ("peer", C::NAME.to_string()),
        ("peer_description", C::DESCRIPTION.to_string()),
    ];
    let mut o = String::from("{\n");
    for (k, v) in &strings {
        let _ = writeln!(o, "    {}: {},", json_str(k), json_str(v));
    }
    let _ = writeln!(o, "    \"num_cpus\": {},\n    \"mhz_per_cpu\": {},", ncpu, mhz);
    let _ = writeln!(o, "    \"load_avg\": [{}],", load_avg().join(", "));
    o.push_str("    \"cpu_scaling_enabled\": false,\n    \"caches\": [],\n");
    let na: Vec<String> = not_applicable.iter().map(|s| json_str(s)).collect();
    let _ = write!(o, "    \"not_applicable\": [{}]\n  }}", na.join(", "));
    o
}

// ---------------------------------------------------------------- main

/// Runs the selected scenarios on channel library C and writes the result file.
/// Exits 1 when a repetition failed its validation (the file says which), 2 on
/// a usage error.
/// One repetition as chanbench-run --peer-program reads it: one line on stdout.
fn emit_line(result: &Result<Outcome, String>) {
    match result {
        Ok(out) => {
            let mut line = format!(
                "chanbench-result wall_ns={} msgs={} cpu_ns={} vcsw={} ivcsw={}",
                out.cost.wall_ns, out.msgs, out.cost.usage.cpu_ns, out.cost.usage.vcsw, out.cost.usage.ivcsw
            );
            for (k, v) in &out.counters {
                let _ = write!(line, " {}={}", k, json_num(*v));
            }
            println!("{}", line);
        }
        Err(msg) => println!("chanbench-error {}", msg),
    }
}

pub fn main<C: Channel>() {
    let args = parse_args();
    if args.describe {
        println!("name={}\nproducer=rust-peer\ndescription={}", C::NAME, C::DESCRIPTION);
        return;
    }
    let reps = args.reps;
    let want = |s: &str| args.scenario.as_deref().map_or(true, |w| w == s);
    let mut entries: Vec<Entry> = Vec::new();
    let mut not_applicable: Vec<String> = Vec::new();
    let mut family = 0usize;
    let mut failures = 0usize;

    let mut run_case = |name: String, threads: usize, msgs: u64, unit: u64, run: &mut dyn FnMut(u64) -> RunResult| {
        if let Some(only) = &args.case {
            if !name.starts_with(&format!("{}/impl:", only)) {
                return;
            }
        }
        let w = msgs / 10 / unit * unit;
        if args.warmup && w >= unit {
            if let Ok(Err(msg)) = run(w) {
                eprintln!("{} warm-up: FAILED: {}", name, msg);
                if args.emit {
                    println!("chanbench-error {}", msg);
                }
                failures += 1;
                return;
            }
        }
        for rep in 0..reps {
            let result = match run(msgs) {
                Err(reason) => {
                    if args.emit {
                        println!("chanbench-na {}", reason);
                    }
                    eprintln!("{}: n/a: {}", name, reason);
                    not_applicable.push(format!("{}: {}", name, reason));
                    return;
                }
                Ok(r) => r,
            };
            if args.emit {
                emit_line(&result);
            }
            match &result {
                Ok(out) => {
                    let msgs = out.msgs as f64;
                    let mut line = format!(
                        "{} rep {}/{}: {:.0} ns/msg, {:.2} M msgs/s, cpu {:.0} ns/msg",
                        name,
                        rep + 1,
                        reps,
                        out.cost.wall_ns as f64 / msgs,
                        msgs * 1e3 / out.cost.wall_ns.max(1) as f64,
                        out.cost.usage.cpu_ns as f64 / msgs
                    );
                    for (k, v) in out.counters.iter().filter(|(k, _)| k.starts_with('p')) {
                        let _ = write!(line, ", {} {:.0}", k, v);
                    }
                    eprintln!("{}", line);
                }
                Err(msg) => {
                    eprintln!("{} rep {}/{}: FAILED: {}", name, rep + 1, reps, msg);
                    failures += 1;
                }
            }
            entries.push(Entry { name: name.clone(), family, threads, reps, rep, result });
        }
        family += 1;
    };

    if want("throughput") {
        for shape in &SHAPES {
            for case in &THROUGHPUT_CASES {
                let name = format!("throughput/shape:{}/cap:{}/impl:{}", shape.name, case.cap.label(), C::NAME);
                let msgs = args.msgs(case);
                run_case(name, shape.producers + shape.consumers, msgs, case.unit, &mut |m| {
                    throughput::<C>(shape, case.cap, m, args.corrupt)
                });
            }
        }
    }
    if want("pingpong") {
        for case in &PINGPONG_CASES {
            let name = format!("pingpong/cap:{}/impl:{}", case.cap.label(), C::NAME);
            let msgs = args.msgs(case);
            run_case(name, 2, msgs, case.unit, &mut |m| pingpong::<C>(case.cap, m, args.corrupt));
        }
    }

    let out = match &args.out {
        Some(out) => out.clone(),
        None => std::process::exit(if failures > 0 { 1 } else { 0 }),
    };
    let body: Vec<String> = entries.iter().map(entry_json).collect();
    let json = format!(
        "{{\n  \"context\": {},\n  \"benchmarks\": [\n{}\n  ]\n}}\n",
        context_json::<C>(&args, &not_applicable),
        body.join(",\n")
    );
    if let Err(e) = std::fs::write(&out, json) {
        eprintln!("error: cannot write {}: {}", out, e);
        std::process::exit(1);
    }
    eprintln!(
        "{}: {} entries ({} failed validation), {} cases n/a, written to {}",
        C::NAME,
        entries.len(),
        failures,
        not_applicable.len(),
        out
    );
    if failures > 0 {
        std::process::exit(1);
    }
}
