// Command go-chan is chanbench's Go peer: the throughput and ping-pong
// scenarios with the C runner's definitions and message counts
// (scenarios/flow.c, scenarios/pingpong.c, harness/runner; the Rust peers in
// peers/rust/src/lib.rs are the same program), run on Go's built-in channels,
// writing the result record of docs/RESULTS.md (google-benchmark JSON, label
// "kind=peer", producer "go-peer").
//
// Go channels have capacity 0 (rendezvous) and N >= 1; there is no unbounded
// channel, so every cap:unbounded case is n/a. Producers and consumers are
// goroutines (GOMAXPROCS as the runtime chooses: one per CPU), as Go programs
// use channels; end of stream is close(ch) once every producer has returned.
// peers/README.md describes the scenarios.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

const implName = "go-chan"

// The C runner's profiles (harness/runner/runner.cc): a factor on every case's
// message count, and repetitions. peers/rust/src/lib.rs has the same table.
type profile struct {
	scale float64
	reps  int
}

var profiles = map[string]profile{
	"quick":   {scale: 0.2, reps: 2},
	"default": {scale: 1.0, reps: 5},
	"long":    {scale: 4.0, reps: 10},
}

// unbounded is the capacity value that names an unbounded channel.
const unbounded = -1

// A case: its capacity and its message count in the default profile
// (scenarios/throughput.c, scenarios/pingpong.c), scaled per profile and kept a
// multiple of unit, as the C runner does.
type testCase struct {
	capacity   int
	msgs, unit uint64
}

// The same counts as scenarios/throughput.c (cap:0 20 k, cap:1 40 k, buffered 2 M).
var throughputCases = []testCase{{0, 20_000, 4}, {1, 40_000, 4}, {64, 2_000_000, 4}, {1024, 2_000_000, 4}, {unbounded, 2_000_000, 4}}

// Ping-pong counts messages, two per round trip (scenarios/pingpong.c).
var pingpongCases = []testCase{{0, 40_000, 2}, {1, 100_000, 2}}

type shape struct {
	name                 string
	producers, consumers int
}

var shapes = []shape{{"spsc", 1, 1}, {"mpsc", 4, 1}, {"spmc", 1, 4}, {"mpmc", 4, 4}}

func capLabel(c int) string {
	if c == unbounded {
		return "unbounded"
	}
	return strconv.Itoa(c)
}

// caseMsgs is a case's message count: msgs if given, else the scaled default;
// a multiple of the case's unit, at least one unit (the C runner's scaled_msgs).
func caseMsgs(c testCase, msgs uint64, scale float64) uint64 {
	want := msgs
	if want == 0 {
		want = uint64(math.Floor(float64(c.msgs) * scale))
	}
	if m := want / c.unit * c.unit; m > c.unit {
		return m
	}
	return c.unit
}

// ------------------------------------------------------------------ measuring

// usage is CPU time (user + sys, every thread of the process) and context switches.
type usage struct{ cpuNs, vcsw, ivcsw int64 }

func usageNow() usage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return usage{}
	}
	return usage{
		cpuNs: ru.Utime.Nano() + ru.Stime.Nano(),
		vcsw:  ru.Nvcsw,
		ivcsw: ru.Nivcsw,
	}
}

// cost is what one repetition took.
type cost struct {
	wallNs int64
	u      usage // difference
}

// startGate holds a run's goroutines until the clock has started: the clock is
// read once every worker has arrived and before any is let go.
type startGate struct {
	ready sync.WaitGroup
	start chan struct{}
	t0    time.Time
	u0    usage
}

func newStartGate(workers int) *startGate {
	g := &startGate{start: make(chan struct{})}
	g.ready.Add(workers)
	return g
}

func (g *startGate) wait() {
	g.ready.Done()
	<-g.start
}

func (g *startGate) open() {
	g.ready.Wait()
	g.t0 = time.Now()
	g.u0 = usageNow()
	close(g.start)
}

func (g *startGate) stop() cost {
	wall := time.Since(g.t0).Nanoseconds()
	u1 := usageNow()
	return cost{wall, usage{u1.cpuNs - g.u0.cpuNs, u1.vcsw - g.u0.vcsw, u1.ivcsw - g.u0.ivcsw}}
}

// ------------------------------------------------------------------ scenarios

// result is one repetition's outcome: cost and messages, or a validation
// error, or (notApplicable) why the case cannot run on Go channels.
type result struct {
	c             cost
	msgs          uint64
	counters      [][2]interface{} // (name, value) pairs, in order
	err           string
	notApplicable string
}

// Messages as the C scenarios send them (scenarios/message.h): producer index
// + 1 in the top 16 bits, sequence number from 1 in the low 48; receivers sum
// mix(m) (splitmix64's finaliser) and compare with the sum computed up front.
const seqBits = 48
const seqMask = 1<<seqBits - 1

func encode(p int, seq uint64) uint64 { return uint64(p+1)<<seqBits | seq&seqMask }

func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// tally is what one consumer saw (scenarios/flow.c's checks).
type tally struct {
	count, sum, outOfOrder, skipped, invalid uint64
	last                                     []uint64
}

// add counts m; single: the only consumer, so each producer's sequence must go up by 1.
func (t *tally) add(m, perProducer uint64, single bool) {
	t.count++
	t.sum += mix(m)
	p, seq := int(m>>seqBits), m&seqMask
	if p == 0 || p > len(t.last) || seq == 0 || seq > perProducer {
		t.invalid++
		return
	}
	last := &t.last[p-1]
	if seq <= *last {
		t.outOfOrder++
	} else if single && seq != *last+1 {
		t.skipped++
	}
	*last = seq
}

func throughput(sh shape, capacity int, msgs uint64, corrupt bool) *result {
	if capacity == unbounded {
		return &result{notApplicable: "Go has no unbounded channel"}
	}
	ch := make(chan uint64, capacity)
	perProducer := msgs / uint64(sh.producers)
	msgs = perProducer * uint64(sh.producers)
	var expected uint64
	for p := 0; p < sh.producers; p++ {
		for s := uint64(1); s <= perProducer; s++ {
			expected += mix(encode(p, s))
		}
	}
	single := sh.consumers == 1
	gate := newStartGate(sh.producers + sh.consumers)
	tallies := make([]tally, sh.consumers)
	var lost atomic.Bool // --corrupt: the first message any consumer receives is dropped
	lost.Store(!corrupt)
	var producersDone, consumersDone sync.WaitGroup
	producersDone.Add(sh.producers)
	consumersDone.Add(sh.consumers)
	for c := 0; c < sh.consumers; c++ {
		go func(c int) {
			defer consumersDone.Done()
			t := &tallies[c]
			t.last = make([]uint64, sh.producers)
			gate.wait()
			for m := range ch {
				if !lost.Load() && !lost.Swap(true) {
					continue
				}
				t.add(m, perProducer, single)
			}
		}(c)
	}
	for p := 0; p < sh.producers; p++ {
		go func(p int) {
			defer producersDone.Done()
			gate.wait()
			for s := uint64(1); s <= perProducer; s++ {
				ch <- encode(p, s)
			}
		}(p)
	}
	gate.open()
	producersDone.Wait()
	close(ch) // end of stream: every producer has returned
	consumersDone.Wait()
	r := &result{c: gate.stop(), msgs: msgs}

	var count, sum, ooo, skipped, invalid uint64
	for _, t := range tallies {
		count += t.count
		sum += t.sum
		ooo += t.outOfOrder
		skipped += t.skipped
		invalid += t.invalid
	}
	if count != msgs || sum != expected || ooo+skipped+invalid != 0 {
		check := "ok"
		if sum != expected {
			check = "wrong"
		}
		r.err = fmt.Sprintf("discrepancy: received %d of %d messages, checksum %s, %d out of order, %d skipped, %d invalid",
			count, msgs, check, ooo, skipped, invalid)
	}
	return r
}

// percentile is the nearest-rank percentile of sorted samples.
func percentile(sorted []int64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(q * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return float64(sorted[rank-1])
}

// pingpong is scenarios/pingpong.c: msgs/2 round trips; the initiator sends
// i = 1, 2, ... and the echo goroutine answers mix(i). The first 1% of round
// trips are warm-up (timed with the rest, not sampled).
func pingpong(capacity int, msgs uint64, corrupt bool) *result {
	ab, ba := make(chan uint64, capacity), make(chan uint64, capacity)
	rounds := msgs / 2
	warmup := rounds / 100
	gate := newStartGate(1)
	var echoed uint64
	echoFault := ""
	echoDone := make(chan struct{})
	go func() {
		defer close(echoDone)
		gate.wait()
		for v := range ab {
			if v != echoed+1 {
				echoFault = fmt.Sprintf("echo expected %d, received %d", echoed+1, v)
				close(ba)
				return
			}
			echoed++
			if corrupt && echoed == (rounds+1)/2 {
				ba <- v
			} else {
				ba <- mix(v)
			}
		}
	}()
	samples := make([]int64, 0, rounds-warmup)
	fault := ""
	var answered uint64
	gate.open()
	for i := uint64(1); i <= rounds; i++ {
		t := time.Now()
		ab <- i
		answer, ok := <-ba
		dt := time.Since(t).Nanoseconds()
		if !ok || answer != mix(i) {
			fault = fmt.Sprintf("round trip %d answered %d", i, answer)
			break
		}
		answered++
		if i > warmup {
			samples = append(samples, dt)
		}
	}
	r := &result{c: gate.stop(), msgs: answered + echoed}
	close(ab)
	<-echoDone
	if fault == "" {
		fault = echoFault
	}
	if fault == "" && (answered != rounds || echoed != rounds) {
		fault = fmt.Sprintf("%d of %d round trips answered, %d echoed", answered, rounds, echoed)
	}
	if fault != "" {
		r.err = "discrepancy: " + fault
		return r
	}
	sort.Slice(samples, func(a, b int) bool { return samples[a] < samples[b] })
	var total float64
	for _, x := range samples {
		total += float64(x)
	}
	n := math.Max(1, float64(len(samples)))
	var max float64
	if len(samples) > 0 {
		max = float64(samples[len(samples)-1])
	}
	var rtps float64
	if r.c.wallNs > 0 {
		rtps = float64(rounds) * 1e9 / float64(r.c.wallNs)
	}
	r.counters = [][2]interface{}{
		{"p50_ns", percentile(samples, 0.50)},
		{"p99_ns", percentile(samples, 0.99)},
		{"p999_ns", percentile(samples, 0.999)},
		{"mean_ns", total / n},
		{"max_ns", max},
		{"samples", len(samples)},
		{"round_trips_per_s", rtps},
	}
	return r
}

// ------------------------------------------------------------------ output

func readTrim(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func cpuinfoField(key string) string {
	for _, l := range strings.Split(readTrim("/proc/cpuinfo"), "\n") {
		if strings.HasPrefix(l, key) {
			if i := strings.IndexByte(l, ':'); i >= 0 {
				return strings.TrimSpace(l[i+1:])
			}
		}
	}
	return ""
}

// loadAvg is /proc/loadavg's 1, 5 and 15 minute figures, as google-benchmark
// records them in the C runner's context.
func loadAvg() []float64 {
	out := []float64{}
	for _, f := range strings.Fields(readTrim("/proc/loadavg")) {
		if len(out) == 3 {
			break
		}
		v, err := strconv.ParseFloat(f, 64)
		if err != nil {
			break
		}
		out = append(out, v)
	}
	return out
}

func description() string {
	return "Go " + runtime.Version() + " built-in channels make(chan uint64, n) (0 = rendezvous) between goroutines; n/a: unbounded (Go has none)"
}

// emitLine prints one repetition for chanbench-run --peer-program (one line on
// stdout: "chanbench-result k=v ...", "chanbench-error MESSAGE" or
// "chanbench-na REASON").
func emitLine(r *result) {
	switch {
	case r.notApplicable != "":
		fmt.Printf("chanbench-na %s\n", r.notApplicable)
	case r.err != "":
		fmt.Printf("chanbench-error %s\n", r.err)
	default:
		line := fmt.Sprintf("chanbench-result wall_ns=%d msgs=%d cpu_ns=%d vcsw=%d ivcsw=%d",
			r.c.wallNs, r.msgs, r.c.u.cpuNs, r.c.u.vcsw, r.c.u.ivcsw)
		for _, kv := range r.counters {
			line += fmt.Sprintf(" %s=%v", kv[0], kv[1])
		}
		fmt.Println(line)
	}
}

func context(profileName string, reps int, msgsScale string, notApplicable []string) map[string]interface{} {
	mhz, _ := strconv.ParseFloat(cpuinfoField("cpu MHz"), 64)
	exe, _ := os.Executable()
	commit := os.Getenv("CHANBENCH_COMMIT")
	if commit == "" {
		commit = "unknown"
	}
	if notApplicable == nil {
		notApplicable = []string{}
	}
	return map[string]interface{}{
		"load_avg":            loadAvg(),
		"date":                time.Now().Format(time.RFC3339),
		"host_name":           readTrim("/proc/sys/kernel/hostname"),
		"executable":          exe,
		"num_cpus":            runtime.NumCPU(),
		"mhz_per_cpu":         math.Round(mhz),
		"cpu_scaling_enabled": false,
		"caches":              []interface{}{},
		"library_build_type":  "release",
		"chanbench_commit":    commit,
		"chanbench_compiler":  runtime.Version(),
		"chanbench_cflags":    "go build (gc defaults), GOMAXPROCS=" + strconv.Itoa(runtime.GOMAXPROCS(0)),
		"cpu_model":           cpuinfoField("model name"),
		"kernel":              readTrim("/proc/sys/kernel/osrelease"),
		"ck_version":          "",
		"benchmark_version":   "",
		"profile":             profileName,
		"repetitions":         strconv.Itoa(reps),
		"msgs_scale":          msgsScale,
		"producer":            "go-peer",
		"peer":                implName,
		"peer_description":    description(),
		"not_applicable":      notApplicable,
	}
}

// entryJSON is one repetition as google-benchmark writes it (the C runner: one
// iteration per repetition, manual time = the run's wall time, in milliseconds).
func entryJSON(name string, family, threads, reps, rep int, r *result) map[string]interface{} {
	e := map[string]interface{}{
		"name": name, "run_name": name, "run_type": "iteration",
		"family_index": family, "per_family_instance_index": 0,
		"repetitions": reps, "repetition_index": rep, "threads": threads,
		"time_unit": "ms", "label": "kind=peer",
	}
	if r.err != "" {
		e["error_occurred"] = true
		e["error_message"] = r.err
		e["iterations"], e["real_time"], e["cpu_time"] = 0, 0, 0
		return e
	}
	msgs := float64(r.msgs)
	wall, cpu := float64(r.c.wallNs), float64(r.c.u.cpuNs)
	ratio := func(a, b float64) float64 {
		if b > 0 {
			return a / b
		}
		return 0
	}
	e["iterations"] = 1
	e["real_time"] = wall / 1e6
	e["cpu_time"] = cpu / 1e6
	e["msgs"] = r.msgs
	e["msgs_per_s"] = ratio(msgs*1e9, wall)
	e["ns_per_msg"] = ratio(wall, msgs)
	e["cpu_ns_per_msg"] = ratio(cpu, msgs)
	e["cpu_util"] = ratio(cpu, wall)
	e["vcsw"] = r.c.u.vcsw
	e["ivcsw"] = r.c.u.ivcsw
	for _, kv := range r.counters {
		e[kv[0].(string)] = kv[1]
	}
	return e
}

func main() {
	profileName := flag.String("profile", "default", "the C runner's profile: quick | default | long")
	msgsFlag := flag.Uint64("msgs", 0, "messages per run for every case (ping-pong: 2 per round trip), instead of the profile's per-case counts")
	scaleFlag := flag.Float64("scale", 0, "factor on the default per-case counts, instead of the profile's")
	repsFlag := flag.Int("reps", 0, "repetitions per case, instead of the profile's")
	out := flag.String("out", "", "result file (required)")
	scenario := flag.String("scenario", "", "throughput | pingpong (default: both)")
	corrupt := flag.Bool("corrupt", false, "test only: lose one message, so every validation fails")
	describe := flag.Bool("describe", false, "print name=, producer= and description= lines and exit (for chanbench-run --peer-program)")
	onlyCase := flag.String("case", "", "run only this case, e.g. throughput/shape:spsc/cap:64 (its benchmark name without /impl:)")
	warmup := flag.Bool("warmup", false, "before each case, one unmeasured run of a tenth of its messages")
	emit := flag.Bool("emit-line", false, "print each repetition as one chanbench-result line on stdout (chanbench-run --peer-program); --out is then optional")
	flag.Parse()
	if *describe {
		fmt.Printf("name=%s\nproducer=go-peer\ndescription=%s\n", implName, description())
		return
	}
	prof, ok := profiles[*profileName]
	usageError := func(msg string) {
		fmt.Fprintln(os.Stderr, "error:", msg)
		flag.Usage()
		os.Exit(2)
	}
	switch {
	case !ok:
		usageError("unknown profile '" + *profileName + "' (quick, default, long)")
	case *out == "" && !*emit:
		usageError("--out FILE is required")
	case *scenario != "" && *scenario != "throughput" && *scenario != "pingpong":
		usageError("--scenario is throughput or pingpong")
	case *scaleFlag < 0 || *repsFlag < 0:
		usageError("--scale and --reps take positive numbers")
	case flag.NArg() > 0:
		usageError("unexpected argument '" + flag.Arg(0) + "'")
	}
	reps, scale := prof.reps, prof.scale
	if *repsFlag > 0 {
		reps = *repsFlag
	}
	if *scaleFlag > 0 {
		scale = *scaleFlag
	}
	msgsScale := strconv.FormatFloat(scale, 'g', -1, 64)
	if *msgsFlag > 0 {
		msgsScale = fmt.Sprintf("msgs=%d", *msgsFlag)
	}

	var entries []map[string]interface{}
	var notApplicable []string
	family, failures := 0, 0
	runCase := func(name string, threads int, run func(msgs uint64) *result, msgs, unit uint64) {
		if *onlyCase != "" && !strings.HasPrefix(name, *onlyCase+"/impl:") {
			return
		}
		if *warmup {
			if w := msgs / 10 / unit * unit; w >= unit {
				if r := run(w); r.err != "" && *emit {
					emitLine(r)
					failures++
					return
				}
			}
		}
		for rep := 0; rep < reps; rep++ {
			r := run(msgs)
			if *emit {
				emitLine(r)
			}
			if r.notApplicable != "" {
				fmt.Fprintf(os.Stderr, "%s: n/a: %s\n", name, r.notApplicable)
				notApplicable = append(notApplicable, name+": "+r.notApplicable)
				return
			}
			if r.err != "" {
				fmt.Fprintf(os.Stderr, "%s rep %d/%d: FAILED: %s\n", name, rep+1, reps, r.err)
				failures++
			} else {
				line := fmt.Sprintf("%s rep %d/%d: %.0f ns/msg, %.2f M msgs/s, cpu %.0f ns/msg", name, rep+1, reps,
					float64(r.c.wallNs)/float64(r.msgs), float64(r.msgs)*1e3/math.Max(1, float64(r.c.wallNs)),
					float64(r.c.u.cpuNs)/float64(r.msgs))
				for _, kv := range r.counters[:min(3, len(r.counters))] {
					line += fmt.Sprintf(", %s %.0f", kv[0], kv[1])
				}
				fmt.Fprintln(os.Stderr, line)
			}
			entries = append(entries, entryJSON(name, family, threads, reps, rep, r))
		}
		family++
	}

	if *scenario == "" || *scenario == "throughput" {
		for _, sh := range shapes {
			for _, c := range throughputCases {
				sh, c := sh, c
				msgs := caseMsgs(c, *msgsFlag, scale)
				name := fmt.Sprintf("throughput/shape:%s/cap:%s/impl:%s", sh.name, capLabel(c.capacity), implName)
				runCase(name, sh.producers+sh.consumers, func(m uint64) *result { return throughput(sh, c.capacity, m, *corrupt) }, msgs, c.unit)
			}
		}
	}
	if *scenario == "" || *scenario == "pingpong" {
		for _, c := range pingpongCases {
			c := c
			msgs := caseMsgs(c, *msgsFlag, scale)
			name := fmt.Sprintf("pingpong/cap:%s/impl:%s", capLabel(c.capacity), implName)
			runCase(name, 2, func(m uint64) *result { return pingpong(c.capacity, m, *corrupt) }, msgs, c.unit)
		}
	}

	if *out == "" {
		if failures > 0 {
			os.Exit(1)
		}
		return
	}
	if entries == nil {
		entries = []map[string]interface{}{}
	}
	doc := map[string]interface{}{"context": context(*profileName, reps, msgsScale, notApplicable), "benchmarks": entries}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err == nil {
		err = os.WriteFile(*out, append(b, '\n'), 0o644)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: cannot write %s: %v\n", *out, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%s: %d entries (%d failed validation), %d cases n/a, written to %s\n",
		implName, len(entries), failures, len(notApplicable), *out)
	if failures > 0 {
		os.Exit(1)
	}
}

func min(a, b int) int {
	if a < b {
		return a
	}
	return b
}
