// chanbench-run: the benchmark runner. google-benchmark front end over the
// scenario table (scenarios/) and the implementation registry (built-ins,
// the reference limits, and plug-ins given with --plugin).
//
// One benchmark per (scenario x case x implementation), named
// <scenario>/<key>:<value>/.../impl:<impl> (docs/RESULTS.md). Each repetition is
// one iteration, and each iteration is one scenario run of M messages; its time
// is the run's own measured wall time (UseManualTime: thread start-up and the
// validation after the join are not counted). A case the implementation cannot
// run is registered too and skipped with "n/a: <capability> not declared"; a
// run that fails its validation is skipped with its "discrepancy: ..." message,
// carries no numbers, and makes the exit status 1 (after the JSON is written).
//
// C++ only because google-benchmark is C++; everything it runs is C11.

#include <benchmark/benchmark.h>

#include <regex.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "chanbench/chan.h"
#include "chanbench/chan_impl.h"
#include "chanbench/kinds.h"
#include "chanbench/kinds_impl.h"
#include "scenario.h"

#ifndef CHANBENCH_SOURCE_DIR
#define CHANBENCH_SOURCE_DIR "."
#endif
#ifndef CHANBENCH_GIT_COMMIT
#define CHANBENCH_GIT_COMMIT "unknown"
#endif
#ifndef CHANBENCH_C_COMPILER
#define CHANBENCH_C_COMPILER "unknown"
#endif
#ifndef CHANBENCH_C_FLAGS
#define CHANBENCH_C_FLAGS ""
#endif
#ifndef CHANBENCH_BUILD_TYPE
#define CHANBENCH_BUILD_TYPE ""
#endif
#ifndef CHANBENCH_CK_VERSION
#define CHANBENCH_CK_VERSION "unknown"
#endif
#ifndef CHANBENCH_BENCHMARK_VERSION
#define CHANBENCH_BENCHMARK_VERSION "unknown"
#endif
#ifndef CHANBENCH_LIMIT_PLUGINS
#define CHANBENCH_LIMIT_PLUGINS ""
#endif

namespace {

// ---------------------------------------------------------------- profiles

struct Profile {
	const char *name;
	double scale;    // times the case's default message count
	int repetitions; // rounds every benchmark runs
	double run_timeout_s; // a run not finished by then fails as "hung" (2 M messages of a
	                      // slow MPMC queue on a loaded 2-core machine took > 60 s)
	int max_repetitions; // --interleave case: a case whose ratio intervals are too wide gets
	                     // more rounds, up to this many
	double extra_time_s; // ... within this much time for all extra rounds together
	const char *what;
};

const Profile kProfiles[] = {
    {"quick", 0.2, 2, 20, 4, 30,
     "every scenario on every implementation, 1/5 of the messages, 2 rounds (up to 4) (< 3 min on 2 cores)"},
    {"default", 1.0, 5, 120, 12, 180,
     "the counts the scenarios are tuned for, 5 rounds (up to 12) (about 30 min on 2 cores with every peer: 2 M messages per buffered throughput cell x 24 implementations; --impl to narrow it)"},
    {"long", 4.0, 10, 300, 30, 1200,
     "4x the messages, 10 rounds (up to 30), for stable numbers on a quiet machine"},
};

// A case's rounds grow while a ratio's 95% interval is wider than this fraction of the ratio.
constexpr double kDefaultCiWidth = 0.10;
// A case's extra rounds take at most this many times its base rounds' time (default).
constexpr double kExtraPerCase = 2.0;

const Profile *find_profile(const std::string &name)
{
	for (const Profile &p : kProfiles)
		if (name == p.name)
			return &p;
	return nullptr;
}

uint64_t scaled_msgs(const scenario_case &c, const Profile &prof)
{
	uint64_t unit = c.msg_unit ? c.msg_unit : 1;
	double want = std::floor((double)c.params.msgs * prof.scale);
	uint64_t m = (uint64_t)want / unit * unit;
	return std::max<uint64_t>(m, unit);
}

// ---------------------------------------------------------------- options

struct Options {
	std::string profile = "default";
	std::vector<std::string> impls, scenarios, plugins, peers;
	std::vector<std::pair<std::string, std::string>> skips; // --skip IMPL:SCENARIO
	std::string skip_why = "not asked for";                // --skip-why
	std::string out;
	bool list = false, list_json = false, references = true, help = false;
	int repetitions = 0;        // 0: the profile's
	double scale = 0;           // 0: the profile's
	double run_timeout_s = 0;   // per scenario run; 0: the profile's
	std::string interleave = "case"; // case | random | none
	int max_repetitions = -1;   // -1: the profile's
	double ci_width = kDefaultCiWidth;
	double extra_time_s = -1;   // -1: the profile's
	double extra_per_case = kExtraPerCase;
	std::vector<std::string> programs; // --peer-program: native peer programs
	std::vector<std::string> passthrough;
};

void print_help(const char *argv0)
{
	std::printf(
	    "usage: %s [options] [google-benchmark flags]\n"
	    "\n"
	    "Runs every scenario (scenarios/) on every implementation in the registry (the\n"
	    "built-ins, the reference limits, and plug-ins) and writes google-benchmark JSON\n"
	    "(format: docs/RESULTS.md). One benchmark per scenario x case x implementation,\n"
	    "named <scenario>/<key>:<value>/.../impl:<impl>. Exit status: 0 all runs\n"
	    "validated, 1 some run failed its validation (JSON still written), 2 usage or\n"
	    "plug-in error.\n"
	    "\n"
	    "options:\n"
	    "  --profile NAME     quick | default | long (default: default)\n",
	    argv0);
	for (const Profile &p : kProfiles)
		std::printf("                       %-8s %s\n", p.name, p.what);
	std::printf(
	    "  --impl NAME        run only this implementation (repeatable); the broadcast,\n"
	    "                     watch and oneshot scenarios run their kind's own\n"
	    "                     implementations, named <kind>-<impl> (bcast-futex; see --list)\n"
	    "  --scenario NAME    run only this scenario (repeatable; see --list)\n"
	    "  --plugin PATH      load implementations from a shared object exporting\n"
	    "                     chanbench_plugin_entry (a channel), chanbench_kinds_plugin_entry\n"
	    "                     (broadcast/watch/oneshot tables, run as <kind>-<name>), or both\n"
	    "                     (repeatable); a bad file is an error.\n"
	    "                     A file named libpeer_*.so is labelled kind=peer\n"
	    "  --peer PATH        the same as --plugin, labelled kind=peer (another project's\n"
	    "                     channel, e.g. the adapters in impls/peers/)\n"
	    "  --no-references    do not load the reference limits (spin-ring, atomic-slot:\n"
	    "                     non-blocking, not channels; loaded by default from\n"
	    "                     <dir of chanbench-run>/limits/)\n"
	    "  --out FILE         JSON result file (default: <repo>/results/latest/<profile>.json);\n"
	    "                     time series go to FILE.series.json beside it\n"
	    "  --skip IMPL:SCENARIO  list that pair as n/a instead of running it (repeatable;\n"
	    "                     e.g. go-chan-cgo:throughput, whose native program runs it)\n"
	    "  --skip-why TEXT    the reason the report shows for --skip pairs\n"
	    "  --repetitions N    override the profile's repetitions (exactly N rounds unless --max-repetitions)\n"
	    "  --scale X          override the profile's message-count factor (1 = default counts)\n"
	    "  --run-timeout S    a single scenario run not finished after S seconds fails as\n"
	    "                     \"hung\" (default: quick 20, default 120, long 300)\n"
	    "  --interleave MODE  case (default): each case runs in rounds, every implementation\n"
	    "                     once per round (native peer programs included), so drift hits\n"
	    "                     all of a case alike and ratios pair by round; a case whose\n"
	    "                     ratio intervals are wider than --ci-width gets more rounds.\n"
	    "                     random: google-benchmark's random interleaving of all\n"
	    "                     repetitions. none: each benchmark's repetitions back to back\n"
	    "  --max-repetitions N  rounds a case may grow to (default: quick 4, default 12, long 30;\n"
	    "                     N = --repetitions turns the growth off)\n"
	    "  --ci-width X       grow a case while some implementation's ratio to the best of\n"
	    "                     ours or to the best peer has a 95%% bootstrap interval wider than\n"
	    "                     X times the ratio (default 0.10)\n"
	    "  --extra-time S     all extra rounds together stop after S seconds (default: quick 30,\n"
	    "                     default 180, long 1200)\n"
	    "  --extra-per-case X one case's extra rounds take at most X times the time of its\n"
	    "                     base rounds (default 2)\n"
	    "  --peer-program PATH  a native peer program (peers/build.sh: peer-go-chan, ...): run\n"
	    "                     one repetition at a time (PATH --case C --msgs N --reps 1\n"
	    "                     --warmup --emit-line) in the throughput and ping-pong cases,\n"
	    "                     interleaved with the others, labelled kind=peer (repeatable)\n"
	    "  --list             list implementations, scenarios, cases and message counts for\n"
	    "                     the profile (with n/a marks), then exit\n"
	    "  --list-json        the same as JSON on stdout\n"
	    "  --help             this text\n"
	    "\n"
	    "google-benchmark's own flags (--benchmark_filter=REGEX,\n"
	    "--benchmark_enable_random_interleaving=true, --benchmark_format=..., ...) are\n"
	    "passed through; --benchmark_out=FILE is the same as --out FILE. Its flags:\n\n");
	std::fflush(stdout);
	benchmark::PrintDefaultHelp();
}

bool starts_with(const std::string &s, const char *p)
{
	return s.rfind(p, 0) == 0;
}

// Parses argv; returns 0 to go on, or an exit status.
int parse_options(int argc, char **argv, Options &o)
{
	for (int i = 1; i < argc; i++) {
		std::string a = argv[i];
		auto value = [&](const char *opt, std::string &dst) -> bool {
			std::string eq = std::string(opt) + "=";
			if (a == opt) {
				if (i + 1 >= argc) {
					std::fprintf(stderr, "chanbench-run: %s needs a value (try --help)\n", opt);
					return false;
				}
				dst = argv[++i];
				return true;
			}
			if (starts_with(a, eq.c_str())) {
				dst = a.substr(eq.size());
				return true;
			}
			return false;
		};
		auto is = [&](const char *opt) {
			return a == opt || starts_with(a, (std::string(opt) + "=").c_str());
		};
		std::string v;
		if (a == "--help" || a == "-h") {
			o.help = true;
		} else if (is("--profile")) {
			if (!value("--profile", v))
				return 2;
			o.profile = v;
		} else if (is("--impl")) {
			if (!value("--impl", v))
				return 2;
			o.impls.push_back(v);
		} else if (is("--scenario")) {
			if (!value("--scenario", v))
				return 2;
			o.scenarios.push_back(v);
		} else if (is("--plugin")) {
			if (!value("--plugin", v))
				return 2;
			o.plugins.push_back(v);
		} else if (is("--peer")) {
			if (!value("--peer", v))
				return 2;
			o.peers.push_back(v);
		} else if (is("--skip")) {
			if (!value("--skip", v))
				return 2;
			size_t colon = v.find(':');
			if (colon == std::string::npos || colon == 0 || colon + 1 == v.size()) {
				std::fprintf(stderr, "chanbench-run: --skip takes IMPL:SCENARIO, not '%s'\n", v.c_str());
				return 2;
			}
			o.skips.emplace_back(v.substr(0, colon), v.substr(colon + 1));
		} else if (is("--skip-why")) {
			if (!value("--skip-why", v))
				return 2;
			o.skip_why = v;
		} else if (is("--out")) {
			if (!value("--out", v))
				return 2;
			o.out = v;
		} else if (is("--benchmark_out")) {
			if (!value("--benchmark_out", v))
				return 2;
			o.out = v;
		} else if (is("--repetitions")) {
			if (!value("--repetitions", v))
				return 2;
			o.repetitions = std::atoi(v.c_str());
			if (o.repetitions < 1) {
				std::fprintf(stderr, "chanbench-run: --repetitions must be >= 1\n");
				return 2;
			}
		} else if (is("--scale")) {
			if (!value("--scale", v))
				return 2;
			o.scale = std::atof(v.c_str());
			if (!(o.scale > 0)) {
				std::fprintf(stderr, "chanbench-run: --scale must be > 0\n");
				return 2;
			}
		} else if (is("--run-timeout")) {
			if (!value("--run-timeout", v))
				return 2;
			o.run_timeout_s = std::atof(v.c_str());
			if (!(o.run_timeout_s > 0)) {
				std::fprintf(stderr, "chanbench-run: --run-timeout must be > 0\n");
				return 2;
			}
		} else if (is("--interleave")) {
			if (!value("--interleave", v))
				return 2;
			if (v != "case" && v != "random" && v != "none") {
				std::fprintf(stderr, "chanbench-run: --interleave is case, random or none\n");
				return 2;
			}
			o.interleave = v;
		} else if (is("--max-repetitions")) {
			if (!value("--max-repetitions", v))
				return 2;
			o.max_repetitions = std::atoi(v.c_str());
			if (o.max_repetitions < 1) {
				std::fprintf(stderr, "chanbench-run: --max-repetitions must be >= 1\n");
				return 2;
			}
		} else if (is("--ci-width")) {
			if (!value("--ci-width", v))
				return 2;
			o.ci_width = std::atof(v.c_str());
			if (!(o.ci_width > 0)) {
				std::fprintf(stderr, "chanbench-run: --ci-width must be > 0\n");
				return 2;
			}
		} else if (is("--extra-time")) {
			if (!value("--extra-time", v))
				return 2;
			o.extra_time_s = std::atof(v.c_str());
			if (!(o.extra_time_s >= 0)) {
				std::fprintf(stderr, "chanbench-run: --extra-time must be >= 0\n");
				return 2;
			}
		} else if (is("--extra-per-case")) {
			if (!value("--extra-per-case", v))
				return 2;
			o.extra_per_case = std::atof(v.c_str());
			if (!(o.extra_per_case >= 0)) {
				std::fprintf(stderr, "chanbench-run: --extra-per-case must be >= 0\n");
				return 2;
			}
		} else if (is("--peer-program")) {
			if (!value("--peer-program", v))
				return 2;
			o.programs.push_back(v);
		} else if (a == "--list") {
			o.list = true;
		} else if (a == "--list-json") {
			o.list_json = true;
		} else if (a == "--no-references") {
			o.references = false;
		} else if (starts_with(a, "--benchmark_out_format")) {
			std::fprintf(stderr, "chanbench-run: the result file is always JSON; drop %s\n", a.c_str());
			return 2;
		} else if (starts_with(a, "--benchmark_") || starts_with(a, "--v=")) {
			o.passthrough.push_back(a);
		} else {
			std::fprintf(stderr, "chanbench-run: unknown option '%s' (try --help)\n", a.c_str());
			return 2;
		}
	}
	if (find_profile(o.profile) == nullptr) {
		std::fprintf(stderr, "chanbench-run: unknown profile '%s' (quick, default, long)\n",
		             o.profile.c_str());
		return 2;
	}
	return 0;
}

// ---------------------------------------------------------------- environment

std::string run_command(const std::string &cmd)
{
	std::string out;
	FILE *f = popen(cmd.c_str(), "r");
	if (f == nullptr)
		return out;
	char buf[512];
	while (std::fgets(buf, sizeof buf, f) != nullptr)
		out += buf;
	pclose(f);
	while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
		out.pop_back();
	return out;
}

std::string cpu_model()
{
	std::ifstream f("/proc/cpuinfo");
	std::string line;
	while (std::getline(f, line)) {
		if (starts_with(line, "model name")) {
			auto p = line.find(':');
			if (p != std::string::npos) {
				std::string m = line.substr(p + 1);
				m.erase(0, m.find_first_not_of(' '));
				return m;
			}
		}
	}
	return "unknown";
}

std::string git_commit()
{
	std::string src = CHANBENCH_SOURCE_DIR;
	std::string head = run_command("git -C '" + src + "' rev-parse HEAD 2>/dev/null");
	if (head.empty())
		return CHANBENCH_GIT_COMMIT;
	// Changes under results/ (earlier runs' outputs) do not make the code dirty.
	std::string dirty = run_command("git -C '" + src +
	                                "' diff-index --quiet HEAD -- . ':(exclude)results' 2>/dev/null "
	                                "|| echo dirty");
	return dirty.empty() ? head : head + "-dirty";
}

std::string exe_dir()
{
	char buf[4096];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return ".";
	buf[n] = '\0';
	return std::filesystem::path(buf).parent_path().string();
}

// Implementations loaded as peers (--peer, or a plug-in file named libpeer_*.so:
// the adapters of impls/peers/): what people would use instead of chanbench.
std::vector<std::string> g_peers;

// kind=<channel|reference|peer>: a reference declares CHAN_CAP_REFERENCE (it
// cannot block), whoever wrote it; a peer is another project's channel.
std::string impl_kind(const char *impl)
{
	if (chan_impl_caps(impl) & CHAN_CAP_REFERENCE)
		return "reference";
	if (std::find(g_peers.begin(), g_peers.end(), impl) != g_peers.end())
		return "peer";
	return "channel";
}

std::string caps_string(uint64_t caps)
{
	std::string s;
	for (int b = 0; b < 64; b++) {
		uint64_t bit = (uint64_t)1 << b;
		if (caps & bit) {
			if (!s.empty())
				s += ",";
			s += scenario_cap_name(bit);
		}
	}
	return s;
}

// The capability bits of a channel kind implementation (kinds_impl.h).
std::string kind_caps_string(uint64_t caps)
{
	static const std::pair<uint64_t, const char *> names[] = {
	    {KIND_CAP_BLOCKING, "blocking"},
	    {KIND_CAP_TIMED, "timed"},
	    {KIND_CAP_MULTI_SENDER, "multi_sender"},
	    {KIND_CAP_LOCKFREE_RECV, "lockfree_recv"},
	};
	std::string s;
	for (const auto &n : names)
		if (caps & n.first)
			s += (s.empty() ? "" : ",") + std::string(n.second);
	return s;
}

const char *const kKinds[] = {CHAN_KIND_BCAST, CHAN_KIND_WATCH, CHAN_KIND_ONESHOT};

std::string json_escape(const std::string &s)
{
	std::string o;
	for (char c : s) {
		switch (c) {
		case '"': o += "\\\""; break;
		case '\\': o += "\\\\"; break;
		case '\n': o += "\\n"; break;
		case '\t': o += "\\t"; break;
		default:
			if ((unsigned char)c < 0x20) {
				char b[8];
				std::snprintf(b, sizeof b, "\\u%04x", c);
				o += b;
			} else {
				o += c;
			}
		}
	}
	return o;
}

// ---------------------------------------------------------------- the benchmarks

struct CaseSched;

// A native peer program (--peer-program): its implementation name and producer.
struct Program {
	std::string path, name, producer, description;
};

struct Bench {
	std::string name;
	const Program *program = nullptr; // a native peer program's repetition, not an in-process run
	CaseSched *sched = nullptr;       // its case's rounds (--interleave case)
	std::vector<double> main;         // per round: msgs/s (or p50 for latency cases); NaN if none
	bool failed = false;              // some repetition failed validation
	const scenario *sc;
	const scenario_case *cs;
	std::string impl;
	std::string run_impl; // kind scenarios: the kind's own name ("futex"); impl is "<kind>-<impl>"
	scenario_params params;
	std::string na; // "n/a: ..." when the implementation cannot run it
	bool hung = false; // a repetition hung: the others are skipped
	int reps_started = 0;
};

using Series = std::vector<std::pair<std::string, std::vector<std::array<double, 2>>>>;

struct RunState {
	std::vector<Bench> benches;
	size_t total_selected = 0;
	std::atomic<size_t> started{0};
	std::map<std::string, Series> series; // of the last repetition
	std::vector<std::string> failed;
	size_t validated = 0, not_applicable = 0;
	int repetitions = 1;
};

RunState g_state;

// ---------------------------------------------------------------- rounds

// --interleave case: the benchmarks of one case run in rounds (every implementation
// once per round). After the base rounds, each further round runs only if some
// implementation's ratio to the best of ours or to the best peer still has a 95%
// bootstrap interval wider than ci_width of the ratio, within the time caps.
struct CaseSched {
	std::string key; // scenario/case
	std::vector<Bench *> benches;
	bool lower_better = false; // latency cases: the p50 is the main value
	int decided = -1;          // the last round decided
	bool go = true;            // that round runs
	double base_s = 0, extra_s = 0;
};

struct RoundPolicy {
	int base = 1, max = 1;
	double ci_width = kDefaultCiWidth, extra_cap_s = 0, extra_used_s = 0, per_case = kExtraPerCase;
	bool adaptive = false;
	size_t extra_rounds = 0, grown_cases = 0;
};

RoundPolicy g_rounds;
const char *const kUnneeded = "chanbench: round not needed";

double median_of(std::vector<double> v)
{
	if (v.empty())
		return NAN;
	std::sort(v.begin(), v.end());
	size_t n = v.size();
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The 95% percentile-bootstrap interval of the median of x (the report computes
// the same with scipy.stats.bootstrap). Deterministic: a fixed seed.
std::pair<double, double> bootstrap_median_ci(const std::vector<double> &x, uint64_t seed)
{
	const int B = 1000;
	std::mt19937_64 rng(seed);
	std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
	std::vector<double> meds(B), y(x.size());
	for (int b = 0; b < B; b++) {
		for (double &v : y)
			v = x[pick(rng)];
		meds[b] = median_of(y);
	}
	std::sort(meds.begin(), meds.end());
	return {meds[(size_t)(0.025 * B)], meds[(size_t)(0.975 * B) - 1]};
}

// Whether every ratio of the case is known to within ci_width: per round, each
// implementation's main value divided by the best-of-ours' (and the best peer's)
// value of the same round; the interval of the median of those ratios.
bool case_narrow_enough(const CaseSched &c, double ci_width, std::string *why)
{
	size_t rounds = 0, usable = 0;
	for (const Bench *b : c.benches) {
		rounds = std::max(rounds, b->main.size());
		usable += !(b->failed || b->main.empty() || !b->na.empty());
	}
	if (usable < 2)
		return true; /* no ratio to narrow (one implementation, or the rest failed) */
	if (rounds < 2)
		return false;
	auto better = [&](double a, double b) { return c.lower_better ? a < b : a > b; };
	const Bench *best[2] = {nullptr, nullptr}; // ours, peer
	double best_med[2] = {0, 0};
	std::vector<const Bench *> scored;
	for (const Bench *b : c.benches) {
		if (b->failed || b->main.empty() || !b->na.empty())
			continue;
		scored.push_back(b);
		std::string kind = b->program ? "peer" : impl_kind(b->impl.c_str());
		int k = kind == "channel" ? 0 : kind == "peer" ? 1 : -1;
		double m = median_of(b->main);
		if (k >= 0 && (best[k] == nullptr || better(m, best_med[k]))) {
			best[k] = b;
			best_med[k] = m;
		}
	}
	for (const Bench *ref : best) {
		if (ref == nullptr)
			continue;
		for (const Bench *b : scored) {
			if (b == ref)
				continue;
			std::vector<double> ratios;
			for (size_t i = 0; i < std::min(b->main.size(), ref->main.size()); i++)
				if (std::isfinite(b->main[i]) && std::isfinite(ref->main[i]) && ref->main[i] > 0)
					ratios.push_back(b->main[i] / ref->main[i]);
			if (ratios.size() < 2)
				continue;
			double med = median_of(ratios);
			auto [lo, hi] = bootstrap_median_ci(ratios, std::hash<std::string>{}(b->name) ^ ratios.size());
			if (med > 0 && (hi - lo) / med > ci_width) {
				if (why != nullptr) {
					char buf[256];
					std::snprintf(buf, sizeof buf, "%s / %s: %.3f [%.3f, %.3f]", b->impl.c_str(),
					              ref->impl.c_str(), med, lo, hi);
					*why = buf;
				}
				return false;
			}
		}
	}
	return true;
}

// Whether round `round` of case c runs (decided once, by its first benchmark).
bool round_runs(CaseSched &c, int round)
{
	if (round < g_rounds.base)
		return true;
	if (c.decided >= round)
		return c.go;
	c.decided = round;
	if (!c.go || !g_rounds.adaptive || round >= g_rounds.max) {
		c.go = false;
		return false;
	}
	double per_round = (c.base_s + c.extra_s) / round;
	std::string why;
	if (case_narrow_enough(c, g_rounds.ci_width, &why)) {
		c.go = false;
	} else if (c.extra_s + per_round > g_rounds.per_case * c.base_s ||
	           g_rounds.extra_used_s + per_round > g_rounds.extra_cap_s) {
		std::fprintf(stderr, "chanbench-run: %s: interval still wide (%s) but out of time for more rounds\n",
		             c.key.c_str(), why.c_str());
		c.go = false;
	} else {
		std::fprintf(stderr, "chanbench-run: %s: round %d (interval too wide: %s)\n", c.key.c_str(),
		             round + 1, why.c_str());
		if (round == g_rounds.base)
			g_rounds.grown_cases++;
		g_rounds.extra_rounds++;
	}
	return c.go;
}

// ---------------------------------------------------------------- native peer programs

double load_avg_1m()
{
	double l[1] = {0};
	return getloadavg(l, 1) == 1 ? l[0] : -1;
}

std::string shell_quote(const std::string &s)
{
	std::string o = "'";
	for (char c : s)
		o += c == '\'' ? std::string("'\\''") : std::string(1, c);
	return o + "'";
}

// Asks a peer program who it is (PROGRAM --describe: name=, producer=, description= lines).
bool describe_program(Program &p)
{
	std::string out = run_command(shell_quote(p.path) + " --describe 2>/dev/null");
	std::stringstream ss(out);
	std::string line;
	while (std::getline(ss, line)) {
		auto eq = line.find('=');
		if (eq == std::string::npos)
			continue;
		std::string k = line.substr(0, eq), v = line.substr(eq + 1);
		if (k == "name")
			p.name = v;
		else if (k == "producer")
			p.producer = v;
		else if (k == "description")
			p.description = v;
	}
	return !p.name.empty();
}

struct ProgramRun {
	bool ok = false, na = false;
	std::string error;
	std::map<std::string, double> values; // wall_ns, msgs, cpu_ns, vcsw, ivcsw, counters
};

// One repetition of one case in a native peer program: a warm-up run (a tenth of
// the messages, not measured) and the measured run, in a fresh process. The
// program prints "chanbench-result k=v ...", "chanbench-na REASON" or
// "chanbench-error MESSAGE" on stdout.
ProgramRun run_program(const Program &p, const std::string &case_key, uint64_t msgs, double timeout_s)
{
	ProgramRun r;
	char t[32];
	std::snprintf(t, sizeof t, "%.0f", std::ceil(timeout_s));
	std::string cmd = "timeout -k 5 " + std::string(t) + " " + shell_quote(p.path) + " --case " +
	                  shell_quote(case_key) + " --msgs " + std::to_string(msgs) +
	                  " --reps 1 --warmup --emit-line 2>/dev/null";
	std::string out;
	FILE *f = popen(cmd.c_str(), "r");
	if (f == nullptr) {
		r.error = "setup: cannot start " + p.path;
		return r;
	}
	char buf[4096];
	while (std::fgets(buf, sizeof buf, f) != nullptr)
		out += buf;
	int st = pclose(f);
	std::stringstream ss(out);
	std::string line;
	while (std::getline(ss, line)) {
		if (starts_with(line, "chanbench-na ")) {
			r.na = true;
			r.error = line.substr(13);
			return r;
		}
		if (starts_with(line, "chanbench-error ")) {
			r.error = line.substr(16);
			return r;
		}
		if (starts_with(line, "chanbench-result ")) {
			std::stringstream kv(line.substr(17));
			std::string tok;
			while (kv >> tok) {
				auto eq = tok.find('=');
				if (eq != std::string::npos)
					r.values[tok.substr(0, eq)] = std::atof(tok.c_str() + eq + 1);
			}
			r.ok = r.values.count("wall_ns") && r.values.count("msgs");
		}
	}
	if (!r.ok) {
		int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
		r.error = code == 124 || code == 137
		              ? "hung: the peer program did not finish within " + std::string(t) + " s"
		              : "setup: the peer program printed no result (exit status " + std::to_string(code) + ")";
	}
	return r;
}

void skip_with(benchmark::State &state, const char *msg)
{
	for (auto _ : state) {
		state.SkipWithError(msg);
		break;
	}
}

// One repetition in a native peer program, reported like an in-process run.
void run_native(benchmark::State &state, Bench *b)
{
	double timeout_s = (double)b->params.timeout_ns / 1e9 * 2 + 5; // warm-up and start-up too
	ProgramRun r;
	for (auto _ : state) {
		r = run_program(*b->program, b->sc->name + std::string("/") + b->cs->key, b->params.msgs, timeout_s);
		if (!r.ok) {
			std::string msg = r.na ? "n/a: " + r.error : r.error;
			state.SkipWithError(msg.c_str());
			break;
		}
		state.SetIterationTime(r.values["wall_ns"] / 1e9);
	}
	if (!r.ok) {
		if (r.na) {
			b->na = "n/a: " + r.error; // later rounds are not run
			g_state.not_applicable++;
			return;
		}
		b->failed = true;
		b->main.push_back(NAN);
		if (starts_with(r.error, "hung:"))
			b->hung = true;
		g_state.failed.push_back(b->name + ": " + r.error);
		std::fprintf(stderr, "FAILED %s: %s\n", b->name.c_str(), r.error.c_str());
		return;
	}
	g_state.validated++;
	double msgs = r.values["msgs"], wall = r.values["wall_ns"], cpu = r.values["cpu_ns"];
	state.counters["msgs"] = msgs;
	state.counters["msgs_per_s"] = wall > 0 ? msgs * 1e9 / wall : 0;
	state.counters["ns_per_msg"] = msgs > 0 ? wall / msgs : 0;
	state.counters["cpu_ns_per_msg"] = msgs > 0 ? cpu / msgs : 0;
	state.counters["cpu_util"] = wall > 0 ? cpu / wall : 0;
	for (const auto &[k, v] : r.values)
		if (k != "wall_ns" && k != "cpu_ns" && k != "msgs")
			state.counters[k] = v;
	if (r.values.count("p50_ns")) {
		b->sched && (b->sched->lower_better = true);
		b->main.push_back(r.values["p50_ns"]);
	} else {
		b->main.push_back(wall > 0 ? msgs * 1e9 / wall : NAN);
	}
}

void run_inprocess(benchmark::State &state, Bench *b);

// round: the round this registration is (--interleave case), or -1.
void run_bench(benchmark::State &state, Bench *b, int round)
{
	auto t0 = std::chrono::steady_clock::now();
	if (b->sched != nullptr && round >= 0 && !round_runs(*b->sched, round)) {
		skip_with(state, kUnneeded);
		return;
	}
	if (b->reps_started++ == 0) {
		size_t i = ++g_state.started;
		std::fprintf(stderr, "[%zu/%zu] %s\n", i, g_state.total_selected, b->name.c_str());
	}
	state.SetLabel("kind=" + impl_kind(b->impl.c_str()));
	if (!b->na.empty()) {
		// A native program's n/a shows once, in the round that found it.
		skip_with(state, round > 0 ? kUnneeded : b->na.c_str());
		if (round <= 0)
			g_state.not_applicable++;
		return;
	}
	if (b->hung) {
		skip_with(state, round >= g_rounds.base ? kUnneeded : "hung: not run, an earlier repetition hung");
		return;
	}
	state.counters["load_avg_1m"] = load_avg_1m();
	if (b->program != nullptr)
		run_native(state, b);
	else
		run_inprocess(state, b);
	double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
	if (b->sched != nullptr) {
		if (round < g_rounds.base) {
			b->sched->base_s += el;
		} else {
			b->sched->extra_s += el;
			g_rounds.extra_used_s += el;
		}
	}
}

void run_inprocess(benchmark::State &state, Bench *b)
{
	scenario_result r;
	scenario_result_init(&r);
	bool ok = false;
	for (auto _ : state) {
		ok = scenario_run(b->sc, &b->params, &r);
		if (!ok) {
			state.SkipWithError(r.error);
			break;
		}
		state.SetIterationTime((double)r.wall_ns / 1e9);
	}
	if (!ok) {
		if (std::strncmp(r.error, "hung:", 5) == 0)
			b->hung = true;
		if (std::strncmp(r.error, "n/a:", 4) != 0) {
			b->failed = true;
			b->main.push_back(NAN);
			g_state.failed.push_back(b->name + ": " + r.error);
			std::fprintf(stderr, "FAILED %s: %s\n", b->name.c_str(), r.error);
		} else {
			g_state.not_applicable++;
		}
		scenario_result_free(&r);
		return;
	}
	g_state.validated++;
	double msgs = (double)r.msgs;
	double wall = (double)r.wall_ns;
	state.counters["msgs"] = msgs;
	state.counters["msgs_per_s"] = wall > 0 ? msgs * 1e9 / wall : 0;
	state.counters["ns_per_msg"] = msgs > 0 ? wall / msgs : 0;
	state.counters["cpu_ns_per_msg"] = msgs > 0 ? (double)r.cpu_ns / msgs : 0;
	state.counters["cpu_util"] = wall > 0 ? (double)r.cpu_ns / wall : 0;
	state.counters["vcsw"] = (double)r.vcsw;
	state.counters["ivcsw"] = (double)r.ivcsw;
	if (r.n_samples > 0 && b->sched != nullptr)
		b->sched->lower_better = true;
	b->main.push_back(r.n_samples > 0 ? r.p50_ns : (wall > 0 ? msgs * 1e9 / wall : NAN));
	if (r.n_samples > 0) {
		state.counters["p50_ns"] = r.p50_ns;
		state.counters["p99_ns"] = r.p99_ns;
		state.counters["p999_ns"] = r.p999_ns;
		state.counters["mean_ns"] = r.mean_ns;
		state.counters["max_ns"] = r.max_ns;
		state.counters["samples"] = (double)r.n_samples;
	}
	for (size_t i = 0; i < r.n_counters; i++)
		state.counters[r.counters[i].name] = r.counters[i].value;
	if (r.n_series > 0) {
		Series s;
		for (size_t i = 0; i < r.n_series; i++) {
			std::vector<std::array<double, 2>> pts(r.series[i].n);
			for (size_t k = 0; k < r.series[i].n; k++)
				pts[k] = {r.series[i].pts[k][0], r.series[i].pts[k][1]};
			s.emplace_back(r.series[i].name, std::move(pts));
		}
		g_state.series[b->name] = std::move(s);
	}
	scenario_result_free(&r);
}

double stat_min(const std::vector<double> &v)
{
	return v.empty() ? 0 : *std::min_element(v.begin(), v.end());
}

double stat_max(const std::vector<double> &v)
{
	return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

// google-benchmark appends /iterations:1, /repeats:N and /manual_time to the
// names of benchmarks configured that way; docs/RESULTS.md names carry none of
// them, so both reporters see the runs with those parts cleared.
template <class Base>
class CleanNames : public Base {
public:
	using Base::Base;
	// --interleave case registers a benchmark once per round (one repetition each):
	// the k-th run reported under one name is its round k, written as its
	// repetition_index; rounds a case did not need are not reported at all.
	bool number_rounds = false;
	int repetitions = 1;

	void ReportRuns(const std::vector<benchmark::BenchmarkReporter::Run> &runs) override
	{
		std::vector<benchmark::BenchmarkReporter::Run> copy;
		for (const auto &run : runs) {
			if (run.error_occurred && run.error_message == kUnneeded)
				continue;
			copy.push_back(run);
			auto &r = copy.back();
			r.run_name.iterations.clear();
			r.run_name.repetitions.clear();
			r.run_name.time_type.clear();
			r.run_name.min_time.clear();
			if (number_rounds && r.run_type == benchmark::BenchmarkReporter::Run::RT_Iteration) {
				r.repetition_index = seen_[r.run_name.str()]++;
				r.repetitions = repetitions;
			}
		}
		if (!copy.empty())
			Base::ReportRuns(copy);
	}

private:
	std::map<std::string, int64_t> seen_;
};

bool selected(const std::vector<std::string> &filter, const std::string &name)
{
	return filter.empty() || std::find(filter.begin(), filter.end(), name) != filter.end();
}

// The benchmark filter as google-benchmark applies it (for the progress count).
bool matches_filter(const std::string &filter, const std::string &name)
{
	if (filter.empty() || filter == "all" || filter == ".")
		return true;
	bool negate = filter[0] == '-';
	std::string re = negate ? filter.substr(1) : filter;
	regex_t rx;
	if (regcomp(&rx, re.c_str(), REG_EXTENDED | REG_NOSUB) != 0)
		return true;
	bool m = regexec(&rx, name.c_str(), 0, nullptr, 0) == 0;
	regfree(&rx);
	return negate ? !m : m;
}

void write_series(const std::string &path)
{
	std::ofstream f(path);
	f << "{";
	bool first = true;
	for (const auto &[name, series] : g_state.series) {
		f << (first ? "\n" : ",\n") << "  \"" << json_escape(name) << "\": {";
		first = false;
		bool sfirst = true;
		for (const auto &[sname, pts] : series) {
			f << (sfirst ? "" : ", ") << "\"" << json_escape(sname) << "\": [";
			sfirst = false;
			char buf[64];
			for (size_t k = 0; k < pts.size(); k++) {
				std::snprintf(buf, sizeof buf, "%s[%.3f, %.17g]", k ? ", " : "", pts[k][0], pts[k][1]);
				f << buf;
			}
			f << "]";
		}
		f << "}";
	}
	f << "\n}\n";
}

void print_list(const Options &o, const Profile &prof, double scale, bool as_json)
{
	(void)o;
	Profile p = prof;
	p.scale = scale;
	if (!as_json) {
		std::printf("implementations:\n");
		for (size_t i = 0; i < chan_impl_count(); i++) {
			const char *n = chan_impl_name_at(i);
			std::printf("  %-14s %-9s %s\n  %-14s caps: %s\n", n, impl_kind(n).c_str(),
			            chan_impl_description(n), "", caps_string(chan_impl_caps(n)).c_str());
		}
		// Run by the kind scenarios (the scenario's "kind"), named <kind>-<impl>.
		std::printf("\nkind implementations (broadcast, watch, oneshot scenarios):\n");
		for (const char *k : kKinds)
			for (size_t i = 0; i < chan_kind_impl_count(k); i++) {
				const char *n = chan_kind_impl_name_at(k, i);
				std::string full = std::string(k) + "-" + n;
				std::printf("  %-14s %-9s %s\n  %-14s caps: %s\n", full.c_str(), impl_kind(full.c_str()).c_str(),
				            chan_kind_impl_description(k, n), "", kind_caps_string(chan_kind_impl_caps(k, n)).c_str());
			}
		std::printf("\nscenarios (profile %s: messages per run, %d repetitions):\n", p.name,
		            g_state.repetitions);
		for (size_t i = 0; i < scenario_count; i++) {
			const scenario *s = scenario_table[i];
			std::printf("  %-16s %s\n", s->name, s->description);
			if (s->kind != nullptr)
				std::printf("  %-16s runs the %s implementations (--impl %s-<name>)\n", "", s->kind, s->kind);
			if (s->counters_doc && *s->counters_doc)
				std::printf("  %-16s counters: %s\n", "", s->counters_doc);
			for (size_t c = 0; c < s->n_cases; c++)
				std::printf("      %-40s msgs %llu\n", s->cases[c].key,
				            (unsigned long long)scaled_msgs(s->cases[c], p));
		}
		std::printf("\nbenchmarks selected: %zu (n/a ones included)\n", g_state.benches.size());
		for (const Bench &b : g_state.benches)
			if (!b.na.empty())
				std::printf("  %-56s %s\n", b.name.c_str(), b.na.c_str());
		return;
	}
	std::printf("{\n  \"profile\": \"%s\",\n  \"repetitions\": %d,\n  \"implementations\": [", p.name,
	            g_state.repetitions);
	for (size_t i = 0; i < chan_impl_count(); i++) {
		const char *n = chan_impl_name_at(i);
		std::printf("%s\n    {\"name\": \"%s\", \"kind\": \"%s\", \"caps\": \"%s\", \"description\": \"%s\"}",
		            i ? "," : "", json_escape(n).c_str(), impl_kind(n).c_str(),
		            caps_string(chan_impl_caps(n)).c_str(), json_escape(chan_impl_description(n)).c_str());
	}
	std::printf("\n  ],\n  \"kind_implementations\": [");
	bool kfirst = true;
	for (const char *k : kKinds)
		for (size_t i = 0; i < chan_kind_impl_count(k); i++) {
			const char *n = chan_kind_impl_name_at(k, i);
			std::string full = std::string(k) + "-" + n;
			std::printf("%s\n    {\"name\": \"%s\", \"channel_kind\": \"%s\", \"impl\": \"%s\", \"kind\": \"%s\", "
			            "\"caps\": \"%s\", \"description\": \"%s\"}",
			            kfirst ? "" : ",", json_escape(full).c_str(), k, json_escape(n).c_str(),
			            impl_kind(full.c_str()).c_str(), kind_caps_string(chan_kind_impl_caps(k, n)).c_str(),
			            json_escape(chan_kind_impl_description(k, n)).c_str());
			kfirst = false;
		}
	std::printf("\n  ],\n  \"scenarios\": [");
	for (size_t i = 0; i < scenario_count; i++) {
		const scenario *s = scenario_table[i];
		std::printf("%s\n    {\"name\": \"%s\", \"description\": \"%s\", \"counters\": \"%s\", "
		            "\"channel_kind\": %s, \"cases\": [",
		            i ? "," : "", s->name, json_escape(s->description).c_str(),
		            json_escape(s->counters_doc ? s->counters_doc : "").c_str(),
		            s->kind ? ("\"" + std::string(s->kind) + "\"").c_str() : "null");
		for (size_t c = 0; c < s->n_cases; c++)
			std::printf("%s{\"key\": \"%s\", \"msgs\": %llu}", c ? ", " : "", s->cases[c].key,
			            (unsigned long long)scaled_msgs(s->cases[c], p));
		std::printf("]}");
	}
	std::printf("\n  ],\n  \"benchmarks\": [");
	for (size_t i = 0; i < g_state.benches.size(); i++) {
		const Bench &b = g_state.benches[i];
		std::printf("%s\n    {\"name\": \"%s\", \"scenario\": \"%s\", \"impl\": \"%s\", \"kind\": \"%s\", "
		            "\"msgs\": %llu, \"na\": %s}",
		            i ? "," : "", json_escape(b.name).c_str(), b.sc->name, json_escape(b.impl).c_str(),
		            impl_kind(b.impl.c_str()).c_str(), (unsigned long long)b.params.msgs,
		            b.na.empty() ? "null" : ("\"" + json_escape(b.na) + "\"").c_str());
	}
	std::printf("\n  ]\n}\n");
}

} // namespace

int main(int argc, char **argv)
{
	Options o;
	int rc = parse_options(argc, argv, o);
	if (rc != 0)
		return rc;
	if (o.help) {
		print_help(argv[0]);
		return 0;
	}
	const Profile &prof = *find_profile(o.profile);
	double scale = o.scale > 0 ? o.scale : prof.scale;
	g_state.repetitions = o.repetitions > 0 ? o.repetitions : prof.repetitions;
	double run_timeout_s = o.run_timeout_s > 0 ? o.run_timeout_s : prof.run_timeout_s;
	g_rounds.base = g_state.repetitions;
	// An explicit --repetitions N means N rounds: growth only with --max-repetitions.
	g_rounds.max = std::max(g_rounds.base, o.max_repetitions > 0 ? o.max_repetitions
	                                          : o.repetitions > 0 ? o.repetitions
	                                                              : prof.max_repetitions);
	g_rounds.ci_width = o.ci_width;
	g_rounds.extra_cap_s = o.extra_time_s >= 0 ? o.extra_time_s : prof.extra_time_s;
	g_rounds.per_case = o.extra_per_case;
	g_rounds.adaptive = o.interleave == "case" && g_rounds.max > g_rounds.base;

	// Implementations: the reference limits, then --plugin files.
	if (o.references) {
		std::string dir = exe_dir() + "/limits/";
		std::stringstream names(CHANBENCH_LIMIT_PLUGINS);
		std::string f;
		while (std::getline(names, f, ':')) {
			if (f.empty())
				continue;
			char err[512];
			chan_status st = chan_plugin_load((dir + f).c_str(), nullptr, err, sizeof err);
			if (st != CHAN_OK)
				std::fprintf(stderr, "chanbench-run: warning: reference limit not loaded: %s "
				             "(build it, or pass --no-references)\n", err);
		}
	}
	std::vector<std::pair<std::string, bool>> to_load;
	for (const std::string &path : o.plugins)
		to_load.emplace_back(path, starts_with(std::filesystem::path(path).filename().string(), "libpeer_"));
	for (const std::string &path : o.peers)
		to_load.emplace_back(path, true);
	for (const auto &[path, peer] : to_load) {
		char err[512];
		const char *name = nullptr;
		// A file may hold a channel, kind tables (kinds_impl.h), or both: the
		// kind tables it adds are the new names at the end of each kind's list.
		size_t kinds_before[std::size(kKinds)];
		for (size_t k = 0; k < std::size(kKinds); k++)
			kinds_before[k] = chan_kind_impl_count(kKinds[k]);
		chan_status st = chan_plugin_load(path.c_str(), &name, err, sizeof err);
		if (st != CHAN_OK) {
			std::fprintf(stderr, "chanbench-run: cannot load plug-in: %s (%s)\n", err,
			             chan_status_str(st));
			return 2;
		}
		std::string loaded;
		if (chan_impl_caps(name) != 0) {
			loaded = std::string("'") + name + "'";
			if (peer)
				g_peers.push_back(name);
		}
		for (size_t k = 0; k < std::size(kKinds); k++)
			for (size_t i = kinds_before[k]; i < chan_kind_impl_count(kKinds[k]); i++) {
				std::string full = std::string(kKinds[k]) + "-" + chan_kind_impl_name_at(kKinds[k], i);
				loaded += (loaded.empty() ? "'" : ", '") + full + "'";
				if (peer)
					g_peers.push_back(full);
			}
		std::fprintf(stderr, "chanbench-run: loaded %s %s from %s\n", peer ? "peer" : "plug-in", loaded.c_str(),
		             path.c_str());
	}
	// Native peer programs (--peer-program): named by themselves (--describe); a name
	// already taken (a plug-in of the same library) gets "-native".
	std::vector<Program> programs;
	for (const std::string &path : o.programs) {
		Program pr;
		pr.path = path;
		if (!describe_program(pr)) {
			std::fprintf(stderr, "chanbench-run: cannot use peer program %s (no name from --describe)\n",
			             path.c_str());
			return 2;
		}
		bool taken = chan_impl_caps(pr.name.c_str()) != 0;
		for (const Program &q : programs)
			taken = taken || q.name == pr.name;
		if (taken)
			pr.name += "-native";
		g_peers.push_back(pr.name);
		std::fprintf(stderr, "chanbench-run: peer program '%s' (%s) from %s\n", pr.name.c_str(),
		             pr.producer.c_str(), path.c_str());
		programs.push_back(pr);
	}
	auto is_kind_impl = [](const std::string &n) {
		for (const char *k : {CHAN_KIND_BCAST, CHAN_KIND_WATCH, CHAN_KIND_ONESHOT})
			for (size_t i = 0; i < chan_kind_impl_count(k); i++)
				if (n == std::string(k) + "-" + chan_kind_impl_name_at(k, i))
					return true;
		return false;
	};
	auto is_program = [&](const std::string &n) {
		for (const Program &pr : programs)
			if (pr.name == n)
				return true;
		return false;
	};
	for (const std::string &n : o.impls) {
		if (chan_impl_caps(n.c_str()) == 0 && !is_kind_impl(n) && !is_program(n)) {
			std::fprintf(stderr, "chanbench-run: no implementation named '%s' (see --list)\n", n.c_str());
			return 2;
		}
	}
	for (const std::string &n : o.scenarios) {
		if (scenario_find(n.c_str()) == nullptr) {
			std::fprintf(stderr, "chanbench-run: no scenario named '%s' (see --list)\n", n.c_str());
			return 2;
		}
	}

	// The benchmark list: scenario x case x implementation.
	Profile p = prof;
	p.scale = scale;
	for (size_t si = 0; si < scenario_count; si++) {
		const scenario *sc = scenario_table[si];
		if (!selected(o.scenarios, sc->name))
			continue;
		for (size_t ci = 0; ci < sc->n_cases; ci++) {
			const scenario_case &cs = sc->cases[ci];
			// A kind scenario (broadcast, watch, oneshot) runs the implementations
			// of its kind's registry, named "<kind>-<impl>" (--impl bcast-futex).
			for (size_t ki = 0; sc->kind != nullptr && ki < chan_kind_impl_count(sc->kind); ki++) {
				std::string full = std::string(sc->kind) + "-" + chan_kind_impl_name_at(sc->kind, ki);
				if (!selected(o.impls, full))
					continue;
				Bench b;
				b.sc = sc;
				b.cs = &cs;
				b.impl = full;
				b.run_impl = chan_kind_impl_name_at(sc->kind, ki);
				b.name = std::string(sc->name) + "/" + cs.key + "/impl:" + full;
				b.params = cs.params;
				b.params.msgs = scaled_msgs(cs, p);
				b.params.timeout_ns = (int64_t)(run_timeout_s * 1e9);
				// Every kind scenario's receivers wait (CHAN_FOREVER).
				if (!(chan_kind_impl_caps(sc->kind, b.run_impl.c_str()) & KIND_CAP_BLOCKING))
					b.na = "n/a: blocking not declared (the " + std::string(sc->name) +
					       " scenario's receivers wait for messages)";
				else
					for (const auto &sk : o.skips)
						if (sk.first == full && sk.second == sc->name)
							b.na = "n/a: left out of " + sk.second + " by --skip (" + o.skip_why + ")";
				g_state.benches.push_back(std::move(b));
			}
			for (size_t ii = 0; ii < chan_impl_count(); ii++) {
				const char *impl = chan_impl_name_at(ii);
				if (!selected(o.impls, impl))
					continue;
				// A queue implementation named with --impl is listed for a kind
				// scenario as n/a (saying what to ask for); otherwise not at all.
				if (sc->kind != nullptr && o.impls.empty())
					continue;
				Bench b;
				b.sc = sc;
				b.cs = &cs;
				b.impl = impl;
				b.name = std::string(sc->name) + "/" + cs.key + "/impl:" + impl;
				b.params = cs.params;
				b.params.msgs = scaled_msgs(cs, p);
				b.params.timeout_ns = (int64_t)(run_timeout_s * 1e9);
				uint64_t missing = scenario_missing_caps(sc, &b.params, chan_impl_caps(impl));
				if (sc->kind != nullptr)
					b.na = std::string("n/a: runs ") + sc->kind + " implementations (--impl " + sc->kind +
					       "-<name>), not queue channels";
				else if (missing != 0)
					b.na = std::string("n/a: ") + scenario_cap_name(missing & -missing) + " not declared";
				else
					for (const auto &sk : o.skips)
						if (sk.first == impl && sk.second == sc->name)
							b.na = "n/a: left out of " + sk.second + " by --skip (" + o.skip_why + ")";
				g_state.benches.push_back(std::move(b));
			}
			// The native peer programs run the throughput and ping-pong cases.
			bool program_case = std::strcmp(sc->name, "throughput") == 0 || std::strcmp(sc->name, "pingpong") == 0;
			for (const Program &pr : programs) {
				if (!program_case || !selected(o.impls, pr.name))
					continue;
				Bench b;
				b.sc = sc;
				b.cs = &cs;
				b.impl = pr.name;
				b.program = &pr;
				b.name = std::string(sc->name) + "/" + cs.key + "/impl:" + pr.name;
				b.params = cs.params;
				b.params.msgs = scaled_msgs(cs, p);
				b.params.timeout_ns = (int64_t)(run_timeout_s * 1e9);
				g_state.benches.push_back(std::move(b));
			}
		}
	}
	if (o.list || o.list_json) {
		print_list(o, prof, scale, o.list_json);
		return 0;
	}
	for (Bench &b : g_state.benches) {
		// The params must outlive registration: the benches vector is not resized from here on.
		b.params.impl = (b.run_impl.empty() ? b.impl : b.run_impl).c_str();
	}

	if (o.out.empty())
		o.out = std::string(CHANBENCH_SOURCE_DIR) + "/results/latest/" + prof.name + ".json";
	std::error_code ec;
	std::filesystem::path outp(o.out);
	if (outp.has_parent_path())
		std::filesystem::create_directories(outp.parent_path(), ec);

	// google-benchmark's argv: ours removed, the output file added.
	std::vector<std::string> gargs = {argv[0], "--benchmark_out=" + o.out,
	                                  "--benchmark_out_format=json"};
	if (o.interleave == "random")
		gargs.push_back("--benchmark_enable_random_interleaving=true");
	for (const std::string &a : o.passthrough)
		gargs.push_back(a);
	std::vector<char *> gargv;
	for (std::string &a : gargs)
		gargv.push_back(a.data());
	gargv.push_back(nullptr);
	int gargc = (int)gargs.size();
	benchmark::Initialize(&gargc, gargv.data(), [] { print_help("chanbench-run"); });
	if (benchmark::ReportUnrecognizedArguments(gargc, gargv.data()))
		return 2;

	std::string filter = benchmark::GetBenchmarkFilter();
	for (Bench &b : g_state.benches)
		if (matches_filter(filter, b.name))
			g_state.total_selected++;
	std::vector<std::unique_ptr<CaseSched>> scheds;
	if (o.interleave == "case") {
		// Rounds: for each case, round r runs every implementation of the case once;
		// a case's rounds past the base ones run only while its intervals are wide.
		std::vector<std::vector<Bench *>> cases;
		for (Bench &b : g_state.benches) {
			std::string key = std::string(b.sc->name) + "/" + b.cs->key;
			if (scheds.empty() || scheds.back()->key != key) {
				scheds.push_back(std::make_unique<CaseSched>());
				scheds.back()->key = key;
			}
			b.sched = scheds.back().get();
			b.sched->benches.push_back(&b);
		}
		for (auto &c : scheds) {
			for (int round = 0; round < g_rounds.max; round++) {
				for (Bench *bp : c->benches) {
					if (!bp->na.empty() && round > 0)
						continue; // n/a: reported once
					auto *bm = benchmark::RegisterBenchmark(
					    bp->name.c_str(), [bp, round](benchmark::State &st) { run_bench(st, bp, round); });
					bm->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond)->Repetitions(1);
				}
			}
		}
	} else {
		for (Bench &b : g_state.benches) {
			Bench *bp = &b;
			auto *bm = benchmark::RegisterBenchmark(b.name.c_str(),
			                                        [bp](benchmark::State &st) { run_bench(st, bp, -1); });
			bm->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
			bm->Repetitions(b.na.empty() ? g_state.repetitions : 1);
			bm->ComputeStatistics("min", stat_min)->ComputeStatistics("max", stat_max);
		}
	}

	struct utsname u;
	std::string kernel = "unknown";
	if (uname(&u) == 0)
		kernel = std::string(u.sysname) + " " + u.release + " " + u.version + " " + u.machine;
	std::string impls;
	for (size_t i = 0; i < chan_impl_count(); i++) {
		const char *n = chan_impl_name_at(i);
		impls += std::string(i ? "," : "") + n + "=" + impl_kind(n);
	}
	benchmark::AddCustomContext("producer", "chanbench-run");
	benchmark::AddCustomContext("profile", prof.name);
	benchmark::AddCustomContext("chanbench_commit", git_commit());
	benchmark::AddCustomContext("chanbench_compiler", CHANBENCH_C_COMPILER);
	benchmark::AddCustomContext("chanbench_cflags", CHANBENCH_C_FLAGS);
	benchmark::AddCustomContext("chanbench_build_type", CHANBENCH_BUILD_TYPE);
	benchmark::AddCustomContext("cpu_model", cpu_model());
	benchmark::AddCustomContext("cores_online", std::to_string(sysconf(_SC_NPROCESSORS_ONLN)));
	benchmark::AddCustomContext("kernel", kernel);
	benchmark::AddCustomContext("ck_version", CHANBENCH_CK_VERSION);
	benchmark::AddCustomContext("benchmark_version", CHANBENCH_BENCHMARK_VERSION);
	benchmark::AddCustomContext("implementations", impls);
	benchmark::AddCustomContext("repetitions", std::to_string(g_state.repetitions));
	benchmark::AddCustomContext("interleave", o.interleave);
	if (g_rounds.adaptive) {
		char rb[160];
		std::snprintf(rb, sizeof rb, "up to %d rounds per case while a ratio's 95%% interval is wider than %g "
		              "of it; extra rounds within %g s", g_rounds.max, g_rounds.ci_width, g_rounds.extra_cap_s);
		benchmark::AddCustomContext("adaptive_repetitions", rb);
	}
	if (!programs.empty()) {
		std::string names, na;
		for (const Program &pr : programs) {
			names += (names.empty() ? "" : ",") + pr.name + "=" + pr.producer;
			if (!pr.description.empty())
				benchmark::AddCustomContext("peer_description_" + pr.name, pr.description);
			for (size_t si = 0; si < scenario_count; si++) {
				const scenario *sc = scenario_table[si];
				if (sc->kind != nullptr || !std::strcmp(sc->name, "throughput") || !std::strcmp(sc->name, "pingpong") ||
				    !selected(o.scenarios, sc->name))
					continue;
				na += (na.empty() ? "" : "; ") + std::string(sc->name) + "/impl:" + pr.name +
				      ": the native peer program runs only the throughput and ping-pong scenarios";
			}
		}
		benchmark::AddCustomContext("peer_programs", names);
		if (!na.empty())
			benchmark::AddCustomContext("not_applicable", na);
	}
	char sbuf[32];
	std::snprintf(sbuf, sizeof sbuf, "%g", scale);
	benchmark::AddCustomContext("msgs_scale", sbuf);

	std::fprintf(stderr, "chanbench-run: profile %s, %zu benchmarks, %d repetitions, results to %s\n",
	             prof.name, g_state.total_selected, g_state.repetitions, o.out.c_str());
	CleanNames<benchmark::ConsoleReporter> display(
	    isatty(STDOUT_FILENO) ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
	CleanNames<benchmark::JSONReporter> file;
	display.number_rounds = file.number_rounds = o.interleave == "case";
	display.repetitions = file.repetitions = g_state.repetitions;
	auto run_start = std::chrono::steady_clock::now();
	benchmark::RunSpecifiedBenchmarks(&display, &file);
	benchmark::Shutdown();

	write_series(o.out + ".series.json");
	std::fprintf(stderr, "chanbench-run: %zu runs validated, %zu n/a, %zu failed; results in %s\n",
	             g_state.validated, g_state.not_applicable, g_state.failed.size(), o.out.c_str());
	std::fprintf(stderr, "chanbench-run: %.0f s; %zu extra rounds in %zu cases (%.0f s; more were not "
	             "started after %.0f s)\n",
	             std::chrono::duration<double>(std::chrono::steady_clock::now() - run_start).count(),
	             g_rounds.extra_rounds, g_rounds.grown_cases, g_rounds.extra_used_s, g_rounds.extra_cap_s);
	if (!g_state.failed.empty()) {
		std::fprintf(stderr, "chanbench-run: %zu run(s) failed validation:\n", g_state.failed.size());
		for (const std::string &f : g_state.failed)
			std::fprintf(stderr, "  %s\n", f.c_str());
		return 1;
	}
	return 0;
}
