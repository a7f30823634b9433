// Whole-machine benchmark: transitions per second of the in-memory runner.
//
// For each machine of <shared>/bench/machines/manifest.json: load the definition once, then run
// it with run_local (virtual time, no history), one run after another on this thread, first for
// a warm-up and then for a fixed time budget. Every run must SUCCEED and enter exactly the
// manifest's number of states (nested Map/Parallel states included); otherwise the benchmark
// stops with exit code 1 and says what differed. The figure: runs * transitions / seconds.
//
// Usage: machines_bench [--budget SECONDS] [--warmup SECONDS] [--runs N] [--only NAME]
//                       [--machines DIR] [--json] [--outputs]
//   --runs N   exactly N timed runs instead of a time budget (for profilers)
//   --json     one JSON object on stdout: {"machines": [{"machine", "runs", "seconds",
//              "cpu_seconds", "transitions", "transitions_per_s", "us_per_transition"}, ...]}
//   --outputs  no timing: one checked run per machine, prints {machine: output} as JSON (to
//              compare with the peer's `run.mjs --outputs`)
// Exit codes: 0 done (or skipped: no machines directory), 1 a run failed or differed, 2 usage.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "asl/definition.hpp"
#include "bench/bench_support.hpp"
#include "engine/local_runner.hpp"

namespace {

using stepd::asl::Json;
using stepd::bench::MachineSpec;
using Clock = std::chrono::steady_clock;

struct Options {
  double budget_seconds = 2.0;
  double warmup_seconds = 0.5;
  long long runs = 0;  // > 0: fixed number of timed runs
  std::string only;
  std::string machines_dir;
  bool json = false;
  bool outputs = false;
};

struct Measurement {
  std::string machine;
  long long runs = 0;
  double seconds = 0;         // wall clock
  double cpu_seconds = 0;     // this thread's CPU time (less than seconds on a busy machine)
  long long transitions = 0;  // per run
  double transitions_per_s() const { return static_cast<double>(runs * transitions) / seconds; }
};

[[noreturn]] void usage_error(const std::string& message) {
  std::cerr << "machines_bench: " << message << "\n"
            << "usage: machines_bench [--budget SECONDS] [--warmup SECONDS] [--runs N] "
               "[--only NAME] [--machines DIR] [--json] [--outputs]\n";
  std::exit(2);
}

Options parse_options(int argc, char** argv) {
  Options opts;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(std::string(arg) + " needs a value");
      return argv[++i];
    };
    auto number = [&](double min) -> double {
      std::string text = value();
      char* end = nullptr;
      double v = std::strtod(text.c_str(), &end);
      if (end == text.c_str() || *end != '\0' || !(v >= min)) {
        char limit[32];
        std::snprintf(limit, sizeof limit, "%g", min);
        usage_error(std::string(arg) + ": '" + text + "' is not a number >= " + limit);
      }
      return v;
    };
    if (arg == "--budget") {
      opts.budget_seconds = number(0.001);
    } else if (arg == "--warmup") {
      opts.warmup_seconds = number(0);
    } else if (arg == "--runs") {
      opts.runs = static_cast<long long>(number(1));
    } else if (arg == "--only") {
      opts.only = value();
    } else if (arg == "--machines") {
      opts.machines_dir = value();
    } else if (arg == "--json") {
      opts.json = true;
    } else if (arg == "--outputs") {
      opts.outputs = true;
    } else {
      usage_error("unknown argument '" + std::string(arg) + "'");
    }
  }
  return opts;
}

Clock::duration seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

[[noreturn]] void fail(const std::string& machine, const std::string& message) {
  std::cerr << "machines_bench: " << machine << ": " << message << "\n";
  std::exit(1);
}

stepd::engine::LocalRunOptions run_options() {
  stepd::engine::LocalRunOptions options;
  options.virtual_time = true;
  options.record_history = false;
  options.seed = 42;  // deterministic; execution names are still generated per run
  return options;
}

// One run, checked: SUCCEEDED and exactly the expected number of states entered.
Json run_checked(const MachineSpec& spec, const stepd::asl::Machine& machine, const Json& input,
                 const stepd::engine::LocalRunOptions& options) {
  stepd::engine::LocalRunResult result = stepd::engine::run_local(machine, input, options);
  if (result.status != "SUCCEEDED") {
    fail(spec.name, "run ended " + result.status + " (" + result.error.value_or("") + ": " +
                        result.cause.value_or("") + "), expected SUCCEEDED");
  }
  if (result.states_entered != spec.transitions) {
    fail(spec.name, "run entered " + std::to_string(result.states_entered) +
                        " states, manifest says " + std::to_string(spec.transitions));
  }
  return std::move(result.output);
}

struct Loaded {
  std::shared_ptr<const stepd::asl::Machine> machine;
  Json input;
};

Loaded load(const MachineSpec& spec) {
  // string_view: a std::string would also convert to Json, and the overloads would be ambiguous.
  const std::string text = stepd::bench::read_text(spec.definition);
  stepd::asl::LoadResult loaded = stepd::asl::load_definition(std::string_view(text));
  if (!loaded.ok()) {
    std::string all;
    for (const auto& d : loaded.diagnostics) all += "\n  " + stepd::asl::to_string(d);
    fail(spec.name, "definition does not load:" + all);
  }
  return {loaded.machine, stepd::bench::read_json(spec.input)};
}

// CPU time of the calling thread.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

Measurement measure(const MachineSpec& spec, const Options& opts) {
  const Loaded loaded = load(spec);
  const stepd::asl::Machine& machine = *loaded.machine;
  const Json& input = loaded.input;
  const stepd::engine::LocalRunOptions options = run_options();

  // Warm-up: at least one run (which also checks the machine before timing starts).
  const Clock::time_point warm_end = Clock::now() + seconds(opts.warmup_seconds);
  do {
    run_checked(spec, machine, input, options);
  } while (Clock::now() < warm_end);

  Measurement m{spec.name, 0, 0, 0, spec.transitions};
  const double cpu_start = thread_cpu_seconds();
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + seconds(opts.budget_seconds);
  Clock::time_point now;
  do {
    run_checked(spec, machine, input, options);
    ++m.runs;
    now = Clock::now();
  } while (opts.runs > 0 ? m.runs < opts.runs : now < deadline);
  m.seconds = std::chrono::duration<double>(now - start).count();
  m.cpu_seconds = thread_cpu_seconds() - cpu_start;
  return m;
}

void print_table(const std::vector<Measurement>& ms) {
  std::printf("%-16s %8s %9s %9s %12s %16s %14s\n", "machine", "runs", "seconds", "cpu s",
              "transitions", "transitions/s", "us/transition");
  for (const Measurement& m : ms) {
    std::printf("%-16s %8lld %9.3f %9.3f %12lld %16.0f %14.3f\n", m.machine.c_str(), m.runs,
                m.seconds, m.cpu_seconds, m.transitions, m.transitions_per_s(),
                1e6 / m.transitions_per_s());
  }
}

void print_json(const std::vector<Measurement>& ms) {
  Json out = {{"machines", Json::array()}};
  for (const Measurement& m : ms) {
    out["machines"].push_back({{"machine", m.machine},
                               {"runs", m.runs},
                               {"seconds", m.seconds},
                               {"cpu_seconds", m.cpu_seconds},
                               {"transitions", m.transitions},
                               {"transitions_per_s", m.transitions_per_s()},
                               {"us_per_transition", 1e6 / m.transitions_per_s()}});
  }
  std::cout << out.dump() << "\n";
}

}  // namespace

int main(int argc, char** argv) {
  const Options opts = parse_options(argc, argv);
  const std::filesystem::path dir = opts.machines_dir.empty()
                                        ? stepd::bench::machines_dir()
                                        : std::filesystem::path(opts.machines_dir);
  try {
    auto specs = stepd::bench::load_manifest(dir);
    if (!specs) {
      std::cerr << "machines_bench: skipped: no benchmark machines at " << dir.string()
                << " (set STEPD_SHARED_DIR to the shared directory)\n";
      if (opts.json)
        std::cout << R"({"machines":[],"skipped":true})"
                  << "\n";
      return 0;
    }
    if (opts.outputs) {
      Json outputs = Json::object();
      for (const MachineSpec& spec : *specs) {
        if (!opts.only.empty() && spec.name != opts.only) continue;
        const Loaded loaded = load(spec);
        outputs[spec.name] = run_checked(spec, *loaded.machine, loaded.input, run_options());
      }
      std::cout << outputs.dump() << "\n";
      return 0;
    }
    std::vector<Measurement> results;
    for (const MachineSpec& spec : *specs) {
      if (!opts.only.empty() && spec.name != opts.only) continue;
      results.push_back(measure(spec, opts));
      if (opts.json) {
        const Measurement& m = results.back();
        std::fprintf(stderr, "stepd %s: %lld runs in %.2f s, %.0f transitions/s\n",
                     m.machine.c_str(), m.runs, m.seconds, m.transitions_per_s());
      }
    }
    if (!opts.only.empty() && results.empty()) usage_error("no machine named '" + opts.only + "'");
    if (opts.json) {
      print_json(results);
    } else {
      print_table(results);
    }
  } catch (const std::exception& e) {
    std::cerr << "machines_bench: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
