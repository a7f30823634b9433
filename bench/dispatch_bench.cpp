// dispatch_bench: how many tasks per second the real `stepd` server dispatches, and how fast, when
// the work is done by SDK activity workers (pull) or by a FunctionHost the engine calls (push), on
// SQLite and on PostgreSQL (bench/README.md, "Task dispatch").
//
// For each store it spawns the `stepd` binary (STEPD_PATH, through the tests' StepdProcess) with
// `--listen 127.0.0.1:0 --store URL --log-level warn`; SQLite is a file in a fresh temp dir
// (synchronous=FULL as shipped), PostgreSQL a fresh schema (dropped at the end), run when --pg
// URL or STEPD_TEST_PG_URL is set. In this process it then runs, for each mode:
//  - activity: an activity and a machine of 10 sequential Task states on it (pipeline_definition);
//    one stepd::worker::Worker with --workers pollers (default 16: max_in_flight 16, so 16
//    long polls and 16 connections, each poller holding one task at a time) answers every task at
//    once;
//  - push: a stepd::worker::FunctionHost serving the function `dispatch_step`, registered with
//    PUT /v1/routes/function/dispatch_step; the same machine with
//    arn:aws:lambda:local:000000000000:function:dispatch_step as every Task's Resource.
// and for each mode two runs, each on a machine of its own:
//  - full: --executions executions (default 1,000) started at once by --starters threads
//    (StartExecution back to back); tasks/s = 10 x executions / (the last execution's stopDate -
//    the moment the first StartExecution was sent);
//  - 10%: --low-executions executions started at a steady rate chosen so that tasks flow at 10%
//    of the target (500/s on SQLite, 250/s on PostgreSQL), for the latency target.
// (Before the first run of a mode, --warmup executions are run the same way, not measured.)
//
// Latency of a task = from its *Scheduled event to the next state's *StateEntered event (the
// 10th task: to ExecutionSucceeded). GetExecutionHistory gives event times in whole milliseconds
// (AWS's epoch seconds with three decimals), so that figure is printed as "hist"; the finer
// figure (p50/p99 in the table) is measured in this process with the steady clock: the time from
// a task of an execution reaching its handler to the next task of the same execution reaching
// its handler. Both spans hold one dispatch, the handler, the report and one durable commit, so
// they measure the same cycle; the handler itself takes ~10 us. The 10th task has no next task,
// so the fine figure is over the first 9 tasks of each execution.
//
// Every run is verified: ListExecutions lists exactly the run's executions, all SUCCEEDED, and
// DescribeExecution of each gives the output {"n": N, "acc": A} with A the value the 10 steps
// compute in order (each step returns 2 x acc + step + 1); every execution's history has 10
// scheduled tasks. Anything else is printed and makes the exit code 1.
//
// Exit: 0 when every run verified (targets met or not: see the table), 1 otherwise, 2 for bad
// flags.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/common/bench_process.hpp"
#include "bench/common/server_bench.hpp"
#include "stepd/worker/client.hpp"
#include "stepd/worker/function_host.hpp"
#include "stepd/worker/worker.hpp"
#include "tests/server/process/stepd_process.hpp"

namespace {

namespace worker = stepd::worker;
using nlohmann::json;
using stepd::bench::fixed;
using stepd::bench::FlagUse;
using stepd::bench::grouped;
using Clock = std::chrono::steady_clock;

constexpr int kTasksPerExecution = 10;
// The issue's targets on this 2-core machine (both modes).
constexpr double kSqliteTarget = 5000;
constexpr double kPostgresTarget = 2500;
constexpr double kLowLoadShare = 0.10;
constexpr double kP50LimitMs = 2;

constexpr const char* kActivityName = "dispatch_step";
constexpr const char* kFunctionName = "dispatch_step";

enum class Mode { Activity, Push };
const char* mode_name(Mode m) { return m == Mode::Activity ? "activity" : "push"; }

// The shared flags (--only, --pg, --sqlite-options, --stepd-arg, --perf, --perf-args) and these.
struct Options : stepd::bench::ServerFlags {
  Options() { perf_args = "-F 999 -g"; }
  int executions = 1000;
  int low_executions = 300;
  int warmup = 100;
  int workers = 16;
  int host_threads = 4;
  int starters = 16;
  bool low = true;
  std::vector<Mode> modes = {Mode::Activity, Mode::Push};
  double timeout = 300;  // seconds a run may take to end
};

void usage() {
  std::printf(
      "usage: dispatch_bench [--executions N] [--low-executions N] [--no-low] [--warmup N]\n"
      "                      [--workers N] [--host-threads N] [--starters N]\n"
      "                      [--mode activity|push|both] [--only sqlite|postgres] [--pg URL]\n"
      "                      [--sqlite-options Q] [--stepd-arg ARG]... [--timeout S]\n"
      "                      [--perf DIR [--perf-args ARGS]]\n"
      "  --executions N      executions started at once in the full run (default 1000)\n"
      "  --low-executions N  executions of the 10%%-load run (default 300)\n"
      "  --no-low            no 10%%-load run\n"
      "  --warmup N          executions run before a mode's first run, not measured (100)\n"
      "  --workers N         activity pollers: one Worker with max_in_flight N (default 16)\n"
      "  --host-threads N    FunctionHost threads (default 4)\n"
      "  --starters N        threads sending StartExecution in the full run (default 16)\n"
      "  --mode M            activity, push or both (default both)\n"
      "  --only STORE        sqlite or postgres (default both; postgres needs --pg or\n"
      "                      $STEPD_TEST_PG_URL)\n"
      "  --pg URL            PostgreSQL server; a fresh schema is used and dropped\n"
      "  --sqlite-options Q  SQLite store URL options, e.g. synchronous=normal\n"
      "  --stepd-arg ARG     one more stepd argument (repeatable)\n"
      "  --timeout S         seconds a run may take before it fails (default 300)\n"
      "  --perf DIR          perf record stepd during each full run: DIR/<store>-<mode>.data\n"
      "  --perf-args ARGS    perf record's options (default \"-F 999 -g\")\n");
}

std::optional<Options> parse_options(int argc, char** argv) {
  Options o;
  auto on_value = [&](const std::string& flag, const std::string& value) {
    // `value` as a whole number >= min into `out`; false (printed) when it is not one.
    auto count = [&](int& out, int min) {
      char* end = nullptr;
      const long n = std::strtol(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || n < min || n > 10'000'000) {
        std::fprintf(stderr, "dispatch_bench: %s wants a whole number >= %d\n", flag.c_str(), min);
        return false;
      }
      out = static_cast<int>(n);
      return true;
    };
    // The whole-number flags: the option each sets and its least value.
    const struct {
      const char* flag;
      int* out;
      int min;
    } counts[] = {{"--executions", &o.executions, 1},
                  {"--low-executions", &o.low_executions, 1},
                  {"--warmup", &o.warmup, 0},
                  {"--workers", &o.workers, 1},
                  {"--host-threads", &o.host_threads, 1},
                  {"--starters", &o.starters, 1}};
    for (const auto& c : counts) {
      if (flag == c.flag) return count(*c.out, c.min) ? FlagUse::Taken : FlagUse::Invalid;
    }
    if (flag == "--timeout") {
      int seconds = 0;
      if (!count(seconds, 1)) return FlagUse::Invalid;
      o.timeout = seconds;
    } else if (flag == "--mode") {
      if (value == "activity") {
        o.modes = {Mode::Activity};
      } else if (value == "push") {
        o.modes = {Mode::Push};
      } else if (value == "both") {
        o.modes = {Mode::Activity, Mode::Push};
      } else {
        std::fprintf(stderr, "dispatch_bench: --mode activity|push|both\n");
        return FlagUse::Invalid;
      }
    } else {
      return FlagUse::Unknown;
    }
    return FlagUse::Taken;
  };
  if (!stepd::bench::read_server_flags(argc, argv, "dispatch_bench", usage, o,
                                       {"--no-low", &o.low, false}, on_value)) {
    return std::nullopt;
  }
  return o;
}

// The benchmark's machine: 10 sequential Task states on `resource`. Task i passes
// {"step": i, "n": $.n, "acc": $.acc} and puts the result at $.acc, so the final output is
// {"n": N, "acc": expected_acc()} when every step ran once, in order, on its own input.
std::string pipeline_definition(const std::string& resource) {
  json states = json::object();
  for (int i = 0; i < kTasksPerExecution; ++i) {
    json state = {{"Type", "Task"},
                  {"Resource", resource},
                  {"Parameters", {{"step", i}, {"n.$", "$.n"}, {"acc.$", "$.acc"}}},
                  {"ResultPath", "$.acc"}};
    if (i + 1 < kTasksPerExecution) {
      state["Next"] = "T" + std::to_string(i + 1);
    } else {
      state["End"] = true;
    }
    states["T" + std::to_string(i)] = std::move(state);
  }
  return json{{"Comment", "dispatch_bench: a 10-Task pipeline"},
              {"StartAt", "T0"},
              {"States", std::move(states)}}
      .dump();
}

// What one step computes from its accumulator.
std::int64_t step_result(std::int64_t acc, int step) { return 2 * acc + step + 1; }

std::int64_t expected_acc() {
  std::int64_t acc = 0;
  for (int i = 0; i < kTasksPerExecution; ++i) acc = step_result(acc, i);
  return acc;
}

// ---- What the handlers see ----------------------------------------------------------------

// Times at which each task (execution n, step s) reached its handler and left it, in ns since
// the run's origin; written by the handler threads (one slot by one delivery, or more when a task
// is delivered twice: `deliveries` counts them).
class Recorder {
 public:
  explicit Recorder(int executions)
      : executions_(executions),
        origin_(Clock::now()),
        enter_(static_cast<std::size_t>(executions) * kTasksPerExecution),
        leave_(enter_.size()),
        deliveries_(enter_.size()) {}

  // The handler of both modes: checks the input, records, answers step_result(). Throws
  // std::invalid_argument for an input this run did not make (the task then fails).
  json serve(const json& input) {
    const std::int64_t entered = now();
    const int n = input.at("n").get<int>();
    const int step = input.at("step").get<int>();
    const std::int64_t acc = input.at("acc").get<std::int64_t>();
    if (n < 0 || n >= executions_ || step < 0 || step >= kTasksPerExecution) {
      throw std::invalid_argument("dispatch_bench: unexpected task input " + input.dump());
    }
    const std::size_t slot = static_cast<std::size_t>(n) * kTasksPerExecution + step;
    if (deliveries_[slot].fetch_add(1, std::memory_order_relaxed) == 0) {
      enter_[slot].store(entered, std::memory_order_relaxed);
    }
    json result = step_result(acc, step);
    leave_[slot].store(now(), std::memory_order_relaxed);
    return result;
  }

  std::int64_t entered(int n, int step) const {
    return enter_[static_cast<std::size_t>(n) * kTasksPerExecution + step].load();
  }
  std::int64_t left(int n, int step) const {
    return leave_[static_cast<std::size_t>(n) * kTasksPerExecution + step].load();
  }
  int deliveries(int n, int step) const {
    return deliveries_[static_cast<std::size_t>(n) * kTasksPerExecution + step].load();
  }
  int executions() const { return executions_; }

 private:
  std::int64_t now() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - origin_).count();
  }

  int executions_;
  Clock::time_point origin_;
  std::vector<std::atomic<std::int64_t>> enter_;
  std::vector<std::atomic<std::int64_t>> leave_;
  std::vector<std::atomic<int>> deliveries_;
};

// The recorder of the run in progress (the handlers outlive single runs). A task arriving with
// none set fails.
std::atomic<Recorder*> g_recorder{nullptr};

json serve_task(const json& input) {
  Recorder* r = g_recorder.load(std::memory_order_acquire);
  if (r == nullptr) throw std::runtime_error("dispatch_bench: a task arrived between runs");
  return r->serve(input);
}

// ---- stepd's own figures ------------------------------------------------------------------

struct Snapshot {
  double commits = 0, commit_seconds = 0, steps = 0;
  double aws_requests = 0, aws_seconds = 0;
  double task_count = 0, task_seconds = 0;
};

Snapshot snapshot(unsigned short port, const std::string& resource) {
  const auto m = stepd::test::http_request(port, "GET", "/metrics");
  using stepd::bench::metric_sum;
  Snapshot s;
  s.commits = metric_sum(m.body, "stepd_store_commit_seconds_count");
  s.commit_seconds = metric_sum(m.body, "stepd_store_commit_seconds_sum");
  s.steps = metric_sum(m.body, "stepd_store_commit_batch_size_sum");
  s.aws_requests = metric_sum(m.body, "stepd_http_requests_total", {"route=\"aws\""});
  s.aws_seconds = metric_sum(m.body, "stepd_http_request_duration_seconds_sum", {"route=\"aws\""});
  const std::string label = "resource=\"" + resource + "\"";
  s.task_count = metric_sum(m.body, "stepd_task_duration_seconds_count", {label});
  s.task_seconds = metric_sum(m.body, "stepd_task_duration_seconds_sum", {label});
  return s;
}

// ---- One run ------------------------------------------------------------------------------

struct RunResult {
  Mode mode = Mode::Activity;
  std::string store;
  std::string label;    // "full" or "10% (500/s)"
  std::string target;   // what the issue asks of this row
  std::string verdict;  // "0.62x MISSED"
  double ratio = 0;
  int executions = 0;
  int tasks = 0;
  double wall = 0;                    // s, first start to last stopDate
  double rate = 0;                    // tasks/s
  double start_rate = 0;              // StartExecution answered per second (full run)
  double p50 = 0, p99 = 0;            // ms, task reaching the handler -> the next task reaching it
  double turn_p50 = 0, turn_p99 = 0;  // ms, the handler's answer -> the next task reaching it
  double hist_p50 = 0, hist_p99 = 0;  // ms (whole), *Scheduled -> next *StateEntered
  double hist_handout_p50 = 0, hist_handout_p99 = 0;  // *Scheduled -> *Started
  double hist_report_p50 = 0, hist_report_p99 = 0;    // *Started -> next *StateEntered
  double load = 0;                                    // 1-minute load average at the start
  double fsync_ms = 0;  // the disk's fdatasync of 8 KiB just before the run (median)
  double stepd_cores = 0, bench_cores = 0, pg_cores = 0, pg_other_cores = 0, other_cores = 0;
  double commits = 0, steps_per_commit = 0, commit_ms = 0;
  double requests_per_task = 0;  // stepd's AWS-protocol requests, StartExecution left out
  double request_ms = 0;         // their mean time inside stepd (StartExecution included)
  double host_requests_per_task = 0;
  double server_task_ms = 0;  // stepd_task_duration_seconds mean: handed to its Resource -> outcome
  double events_per_task = 0;  // history events of the run / tasks
  double poller_cycle_ms = 0;  // activity: pollers x wall / tasks, one poller's time per task
  int duplicates = 0;
  bool verified = false;
};

struct StoreContext {
  std::string name;  // "sqlite" or "postgres"
  double target = 0;
  stepd::test::StepdProcess* stepd = nullptr;
  unsigned short port = 0;
  // PostgreSQL: the server (its CPU time is counted apart: that of the backends serving this
  // stepd as "pg", the server's other processes, e.g. its WAL writer, as "pg other").
  std::string pg_server;
  int pg_port = 0;
  pid_t postmaster = -1;
  worker::FunctionHost* host = nullptr;
};

// The port in a libpq URL (postgresql://USER@HOST:PORT/DB...), 5432 when it names none.
int pg_port(const std::string& url) {
  const auto at = url.find('@');
  const auto host = at == std::string::npos ? url.find("://") + 3 : at + 1;
  const auto end = url.find_first_of("/?", host);
  const std::string authority = url.substr(host, end - host);
  const auto colon = authority.rfind(':');
  return colon == std::string::npos ? 5432 : std::atoi(authority.c_str() + colon + 1);
}

std::string endpoint(unsigned short port) { return "http://127.0.0.1:" + std::to_string(port); }

// Runs `count` calls of `fn(i)` on `threads` threads, i = 0..count-1.
void parallel_for(int count, int threads, const std::function<void(int)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < std::min(threads, count); ++t) {
    pool.emplace_back([&] {
      for (int i = next.fetch_add(1); i < count; i = next.fetch_add(1)) fn(i);
    });
  }
  for (auto& t : pool) t.join();
}

// Runs one batch of executions of a fresh machine on `resource` and measures it. `rate` 0 starts
// them all at once; otherwise executions per second, one after another. `keep` false: a warm-up
// (verified, figures not printed). Failures are printed; result.verified tells.
RunResult run_once(const Options& options, StoreContext& store, worker::Client& client, Mode mode,
                   const std::string& resource, int executions, double rate,
                   const std::string& label, bool keep, int& machine_counter) {
  RunResult r;
  r.mode = mode;
  r.store = store.name;
  r.label = label;
  r.executions = executions;
  r.tasks = executions * kTasksPerExecution;

  const std::string machine_name =
      "Dispatch" + std::to_string(++machine_counter) + "_" + mode_name(mode);
  std::string machine;
  try {
    machine = client
                  .create_state_machine(
                      {.name = machine_name, .definition = pipeline_definition(resource)})
                  .state_machine_arn;
  } catch (const std::exception& e) {
    std::printf("dispatch_bench: CreateStateMachine %s failed: %s\n", machine_name.c_str(),
                e.what());
    return r;
  }

  Recorder recorder(executions);
  g_recorder.store(&recorder, std::memory_order_release);

  const auto host_before = store.host->stats();

  r.load = stepd::bench::load_average();
  if (keep) r.fsync_ms = stepd::bench::fdatasync_ms(store.stepd->dir());
  const Snapshot before = snapshot(store.port, resource);
  const double stepd_cpu0 = stepd::bench::cpu_seconds(store.stepd->pid());
  const double self_cpu0 = stepd::bench::cpu_seconds(::getpid());
  const double machine0 = stepd::bench::machine_busy_seconds();
  // stepd's backends: its pool is open by now (the warm-up ran), so few connections are missed.
  std::vector<pid_t> backends;
  if (!store.pg_server.empty()) {
    backends = stepd::bench::backends_of(
        store.pg_server, stepd::bench::connection_ports(store.stepd->pid(), store.pg_port));
  }
  auto pg_cpu = [&] {
    double total = 0;
    for (pid_t pid : backends) total += stepd::bench::cpu_seconds(pid);
    return total;
  };
  auto pg_all_cpu = [&] { return stepd::bench::process_tree_cpu_seconds(store.postmaster); };
  const double pg_cpu0 = pg_cpu();
  const double pg_all_cpu0 = pg_all_cpu();
  std::optional<stepd::bench::PerfRecording> perf;
  if (keep && rate == 0 && !options.perf_dir.empty()) {
    const auto file =
        std::filesystem::path(options.perf_dir) / (store.name + "-" + mode_name(mode) + ".data");
    perf.emplace(store.stepd->pid(), file, options.perf_args);
    if (!perf->ok()) std::printf("dispatch_bench: %s\n", perf->error().c_str());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // perf attaches
  }

  // Start.
  std::vector<std::string> arns(static_cast<std::size_t>(executions));
  std::mutex failures_mu;
  std::vector<std::string> failures;
  auto start_one = [&](int i) {
    try {
      arns[static_cast<std::size_t>(i)] =
          client.start_execution({.state_machine_arn = machine, .input = {{"n", i}, {"acc", 0}}})
              .execution_arn;
    } catch (const std::exception& e) {
      std::lock_guard lock(failures_mu);
      failures.push_back("StartExecution #" + std::to_string(i) + ": " + e.what());
    }
  };
  const auto first_start = std::chrono::system_clock::now();
  const auto steady_start = Clock::now();
  if (rate <= 0) {
    parallel_for(executions, options.starters, start_one);
  } else {
    for (int i = 0; i < executions; ++i) {
      std::this_thread::sleep_until(
          steady_start + std::chrono::nanoseconds(static_cast<std::int64_t>(i * 1e9 / rate)));
      start_one(i);
    }
  }
  const double start_seconds = std::chrono::duration<double>(Clock::now() - steady_start).count();
  r.start_rate = executions / std::max(start_seconds, 1e-9);

  // Wait for the ends (stepd's per-machine counter of finished executions).
  const std::string machine_label = "state_machine=\"" + machine + "\"";
  const auto deadline = steady_start + std::chrono::seconds(static_cast<int>(options.timeout));
  double finished = 0;
  for (;;) {
    const auto m = stepd::test::http_request(store.port, "GET", "/metrics");
    finished = stepd::bench::metric_sum(m.body, "stepd_executions_finished_total", {machine_label});
    if (finished >= executions - static_cast<double>(failures.size())) break;
    if (Clock::now() > deadline || !store.stepd->running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(rate > 0 ? 50 : 20));
  }
  const double seen_seconds = std::chrono::duration<double>(Clock::now() - steady_start).count();
  if (perf) perf->stop();
  const double stepd_cpu = stepd::bench::cpu_seconds(store.stepd->pid()) - stepd_cpu0;
  const double self_cpu = stepd::bench::cpu_seconds(::getpid()) - self_cpu0;
  const double machine_cpu = stepd::bench::machine_busy_seconds() - machine0;
  const double pg_used = pg_cpu() - pg_cpu0;
  const double pg_all_used = std::max(pg_used, pg_all_cpu() - pg_all_cpu0);
  const Snapshot after = snapshot(store.port, resource);
  const auto host_after = store.host->stats();
  g_recorder.store(nullptr, std::memory_order_release);

  bool good = failures.empty();
  if (!store.stepd->running()) {
    std::printf("dispatch_bench: stepd exited during the run:\n%s\n", store.stepd->log().c_str());
    return r;
  }
  if (finished < executions) {
    std::printf("dispatch_bench: only %s of %s executions ended within %s s\n",
                grouped(finished).c_str(), grouped(executions).c_str(),
                fixed(options.timeout, 0).c_str());
    good = false;
  }

  // Verify: listed, SUCCEEDED, output; the end time of the last one.
  std::map<std::string, std::string> status;  // ARN -> status
  worker::Timestamp last_stop{};
  try {
    std::string token;
    do {
      auto page = client.list_executions(
          {.state_machine_arn = machine, .max_results = 1000, .next_token = token});
      for (const auto& item : page.items) {
        status[item.execution_arn] = item.status;
        if (item.stop_date) last_stop = std::max(last_stop, *item.stop_date);
      }
      token = page.next_token;
    } while (!token.empty());
  } catch (const std::exception& e) {
    failures.push_back(std::string("ListExecutions: ") + e.what());
  }
  if (status.size() != static_cast<std::size_t>(executions)) {
    failures.push_back("ListExecutions lists " + std::to_string(status.size()) +
                       " executions, expected " + std::to_string(executions));
  }
  int not_succeeded = 0;
  for (const auto& [arn, s] : status) not_succeeded += s != "SUCCEEDED";
  if (not_succeeded > 0) {
    failures.push_back(std::to_string(not_succeeded) + " executions did not succeed");
  }
  const std::int64_t want_acc = expected_acc();
  std::vector<std::vector<worker::HistoryEvent>> histories(static_cast<std::size_t>(executions));
  parallel_for(executions, 8, [&](int i) {
    const std::string& arn = arns[static_cast<std::size_t>(i)];
    if (arn.empty()) return;
    try {
      const auto d = client.describe_execution(arn);
      const json want = {{"n", i}, {"acc", want_acc}};
      if (d.status != "SUCCEEDED" || !d.output || *d.output != want) {
        std::lock_guard lock(failures_mu);
        failures.push_back("execution #" + std::to_string(i) + " " + arn + ": status " + d.status +
                           " " + d.error + " " + d.cause + ", output " +
                           (d.output ? d.output->dump() : "none") + ", expected " + want.dump());
      }
      auto& events = histories[static_cast<std::size_t>(i)];
      std::string token;
      do {
        auto page = client.get_execution_history({.execution_arn = arn,
                                                  .max_results = 1000,
                                                  .next_token = token,
                                                  .include_execution_data = false});
        for (auto& e : page.items) events.push_back(std::move(e));
        token = page.next_token;
      } while (!token.empty());
    } catch (const std::exception& e) {
      std::lock_guard lock(failures_mu);
      failures.push_back("execution #" + std::to_string(i) + ": " + e.what());
    }
  });

  // Latency from the histories (whole milliseconds).
  std::vector<double> hist, handout, report;
  std::size_t all_events = 0;
  for (int i = 0; i < executions; ++i) {
    const auto& events = histories[static_cast<std::size_t>(i)];
    all_events += events.size();
    int scheduled = 0;
    for (std::size_t k = 0; k < events.size(); ++k) {
      if (!events[k].type.ends_with("Scheduled")) continue;
      ++scheduled;
      auto since_scheduled = [&](std::size_t j) {
        return static_cast<double>((events[j].timestamp - events[k].timestamp).count());
      };
      std::optional<std::size_t> started;
      for (std::size_t j = k + 1; j < events.size(); ++j) {
        const std::string& t = events[j].type;
        if (!started && t.ends_with("Started")) {  // ActivityStarted, LambdaFunctionStarted
          started = j;
          handout.push_back(since_scheduled(j));
        }
        if (t.ends_with("StateEntered") || t == "ExecutionSucceeded") {
          hist.push_back(since_scheduled(j));
          if (started) {
            report.push_back(
                static_cast<double>((events[j].timestamp - events[*started].timestamp).count()));
          }
          break;
        }
      }
    }
    if (!events.empty() && scheduled != kTasksPerExecution) {
      failures.push_back("execution #" + std::to_string(i) + " has " + std::to_string(scheduled) +
                         " scheduled tasks in its history, expected " +
                         std::to_string(kTasksPerExecution));
    }
  }
  r.events_per_task = static_cast<double>(all_events) / r.tasks;
  std::sort(hist.begin(), hist.end());
  std::sort(handout.begin(), handout.end());
  std::sort(report.begin(), report.end());
  r.hist_report_p50 = stepd::bench::percentile(report, 0.50);
  r.hist_report_p99 = stepd::bench::percentile(report, 0.99);
  r.hist_p50 = stepd::bench::percentile(hist, 0.50);
  r.hist_p99 = stepd::bench::percentile(hist, 0.99);
  r.hist_handout_p50 = stepd::bench::percentile(handout, 0.50);
  r.hist_handout_p99 = stepd::bench::percentile(handout, 0.99);

  // Latency in this process (nanoseconds).
  std::vector<double> cycle, turn;
  for (int i = 0; i < executions; ++i) {
    for (int s = 0; s < kTasksPerExecution; ++s) {
      const int d = recorder.deliveries(i, s);
      if (d == 0) {
        if (failures.size() < 50) {
          failures.push_back("task " + std::to_string(s) + " of execution #" + std::to_string(i) +
                             " never reached its handler");
        }
        continue;
      }
      r.duplicates += d - 1;
      if (s + 1 < kTasksPerExecution && recorder.deliveries(i, s + 1) > 0) {
        cycle.push_back(static_cast<double>(recorder.entered(i, s + 1) - recorder.entered(i, s)) /
                        1e6);
        turn.push_back(static_cast<double>(recorder.entered(i, s + 1) - recorder.left(i, s)) / 1e6);
      }
    }
  }
  std::sort(cycle.begin(), cycle.end());
  std::sort(turn.begin(), turn.end());
  r.p50 = stepd::bench::percentile(cycle, 0.50);
  r.p99 = stepd::bench::percentile(cycle, 0.99);
  r.turn_p50 = stepd::bench::percentile(turn, 0.50);
  r.turn_p99 = stepd::bench::percentile(turn, 0.99);

  // Throughput: the first StartExecution sent to the last stopDate (milliseconds).
  const auto first_ms = std::chrono::time_point_cast<std::chrono::milliseconds>(first_start);
  r.wall = last_stop > first_ms ? std::chrono::duration<double>(last_stop - first_ms).count()
                                : seen_seconds;
  r.rate = r.tasks / r.wall;
  if (mode == Mode::Activity) r.poller_cycle_ms = 1000 * options.workers * r.wall / r.tasks;
  r.stepd_cores = stepd_cpu / seen_seconds;
  r.bench_cores = self_cpu / seen_seconds;
  r.pg_cores = pg_used / seen_seconds;
  r.pg_other_cores = (pg_all_used - pg_used) / seen_seconds;
  r.other_cores = std::max(0.0, machine_cpu - stepd_cpu - self_cpu - pg_all_used) / seen_seconds;
  r.commits = after.commits - before.commits;
  r.steps_per_commit = r.commits > 0 ? (after.steps - before.steps) / r.commits : 0;
  r.commit_ms =
      r.commits > 0 ? 1000 * (after.commit_seconds - before.commit_seconds) / r.commits : 0;
  r.requests_per_task = (after.aws_requests - before.aws_requests - executions) / r.tasks;
  const double aws_requests = after.aws_requests - before.aws_requests;
  r.request_ms =
      aws_requests > 0 ? 1000 * (after.aws_seconds - before.aws_seconds) / aws_requests : 0;
  r.host_requests_per_task =
      static_cast<double>(host_after.requests - host_before.requests) / r.tasks;
  const double task_count = after.task_count - before.task_count;
  r.server_task_ms =
      task_count > 0 ? 1000 * (after.task_seconds - before.task_seconds) / task_count : 0;

  if (!failures.empty()) {
    good = false;
    std::printf("dispatch_bench: %s %s %s: VERIFICATION FAILED (%zu problems), first ones:\n",
                store.name.c_str(), mode_name(mode), label.c_str(), failures.size());
    for (std::size_t i = 0; i < failures.size() && i < 10; ++i) {
      std::printf("  %s\n", failures[i].c_str());
    }
  }
  r.verified = good;
  if (!keep) {
    std::printf("  warm-up %s: %d executions, %s tasks/s, %s\n", mode_name(mode), executions,
                grouped(r.rate).c_str(), good ? "verified" : "FAILED");
  }
  return r;
}

// ---- The table ----------------------------------------------------------------------------

void print_header() {
  std::printf("%-8s %-8s %-12s %6s %7s %7s %8s %-13s %-13s %7s %7s %9s %5s %6s\n", "mode", "store",
              "run", "execs", "tasks", "wall s", "tasks/s", "target", "ratio", "p50 ms", "p99 ms",
              "hist ms", "load", "sync");
}

void print_row(const RunResult& r) {
  const std::string hist = fixed(r.hist_p50, 0) + "/" + fixed(r.hist_p99, 0);
  std::printf("%-8s %-8s %-12s %6s %7s %7s %8s %-13s %-13s %7s %7s %9s %5s %6s\n",
              mode_name(r.mode), r.store.c_str(), r.label.c_str(), grouped(r.executions).c_str(),
              grouped(r.tasks).c_str(), fixed(r.wall, 2).c_str(), grouped(r.rate).c_str(),
              r.target.c_str(), r.verdict.c_str(), fixed(r.p50, 2).c_str(), fixed(r.p99, 2).c_str(),
              hist.c_str(), fixed(r.load, 1).c_str(), fixed(r.fsync_ms, 2).c_str());
}

void print_details(const RunResult& r) {
  std::printf(
      "  %s; starts %s/s; handler answer -> next task p50 %s ms p99 %s ms; hist Scheduled -> "
      "Started p50 %s p99 %s ms, Started -> next entered p50 %s p99 %s ms%s\n",
      r.verified ? "verified" : "NOT VERIFIED", grouped(r.start_rate).c_str(),
      fixed(r.turn_p50, 2).c_str(), fixed(r.turn_p99, 2).c_str(),
      fixed(r.hist_handout_p50, 0).c_str(), fixed(r.hist_handout_p99, 0).c_str(),
      fixed(r.hist_report_p50, 0).c_str(), fixed(r.hist_report_p99, 0).c_str(),
      r.mode == Mode::Activity
          ? ("; one poller's time per task " + fixed(r.poller_cycle_ms, 2) + " ms").c_str()
          : "");
  std::printf(
      "  cores: stepd %s, bench %s, pg %s, other %s; stepd: %s history events and %s commits "
      "per task, %s steps "
      "each, %s ms each; %s API requests per task%s, %s ms each inside stepd; task time in "
      "stepd %s ms; duplicates %d\n",
      fixed(r.stepd_cores, 2).c_str(), fixed(r.bench_cores, 2).c_str(),
      r.store == "postgres"
          ? (fixed(r.pg_cores, 2) + " (pg other " + fixed(r.pg_other_cores, 2) + ")").c_str()
          : "-",
      fixed(r.other_cores, 2).c_str(), fixed(r.events_per_task, 1).c_str(),
      fixed(r.commits / r.tasks, 2).c_str(), fixed(r.steps_per_commit, 1).c_str(),
      fixed(r.commit_ms, 2).c_str(), fixed(r.requests_per_task, 2).c_str(),
      r.mode == Mode::Push ? (", " + fixed(r.host_requests_per_task, 2) + " function calls").c_str()
                           : "",
      fixed(r.request_ms, 2).c_str(), fixed(r.server_task_ms, 2).c_str(), r.duplicates);
  std::fflush(stdout);
}

// ---- One store ----------------------------------------------------------------------------

bool run_store(const Options& options, const std::string& name, const std::string& url,
               double target, const std::string& pg_server, std::vector<RunResult>& rows) {
  stepd::test::StepdProcess stepd;
  if (!stepd::bench::start_stepd(stepd, options, "dispatch_bench", name, url)) return false;

  worker::FunctionHost host(
      {.threads = options.host_threads, .log = worker::stderr_logger(worker::LogLevel::Warning)});
  host.handle(kFunctionName,
              [](const worker::Request& request) { return serve_task(request.input); });
  host.start();

  StoreContext store;
  store.name = name;
  store.target = target;
  store.stepd = &stepd;
  store.port = stepd.port();
  if (!pg_server.empty()) {
    store.pg_server = pg_server;
    store.postmaster = stepd::bench::postmaster_pid(pg_server);
    store.pg_port = pg_port(pg_server);
  }
  store.host = &host;

  worker::ClientOptions co{.endpoint = endpoint(stepd.port())};
  co.max_idle_connections = static_cast<std::size_t>(options.starters) + 8;
  worker::Client client(co);
  std::string activity_arn;
  const std::string function_arn =
      std::string("arn:aws:lambda:local:000000000000:function:") + kFunctionName;
  try {
    activity_arn = client.create_activity(kActivityName).activity_arn;
    client.put_route("function", kFunctionName, host.url(kFunctionName));
  } catch (const std::exception& e) {
    std::printf("dispatch_bench: setting up the activity and the route failed: %s\n", e.what());
    return false;
  }

  bool good = true;
  int machines = 0;
  const double low_rate = target * kLowLoadShare / kTasksPerExecution;  // executions per second
  // The activity pollers live as long as stepd: a stopped Worker cuts its long polls, and stepd
  // hands tasks to such cut polls (they are then lost and the benchmark would wait for them for
  // ever), so no Worker stops while tasks may come. A task arriving between runs fails its
  // execution (there is no recorder then), which the verification would report.
  std::unique_ptr<worker::Worker> pollers;
  for (Mode mode : options.modes) {
    const std::string& resource = mode == Mode::Activity ? activity_arn : function_arn;
    if (mode == Mode::Activity && !pollers) {
      worker::WorkerOptions wo;
      wo.activity_arns = {activity_arn};
      wo.worker_name = "dispatch_bench";
      wo.max_in_flight = options.workers;
      wo.heartbeat_interval = std::chrono::milliseconds(0);
      wo.backoff_min = std::chrono::milliseconds(10);
      wo.backoff_max = std::chrono::milliseconds(500);
      wo.log = worker::stderr_logger(worker::LogLevel::Warning);
      worker::ClientOptions wco{.endpoint = endpoint(stepd.port())};
      wco.max_idle_connections = static_cast<std::size_t>(options.workers) + 2;
      pollers = std::make_unique<worker::Worker>(
          wco, wo, [](const worker::Task& task) { return serve_task(task.input()); });
      pollers->start();
      // The pollers' first long polls reach the server before the first run starts.
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (options.warmup > 0) {
      const auto w = run_once(options, store, client, mode, resource, options.warmup, 0, "warm-up",
                              false, machines);
      good = good && w.verified;
    }
    auto full = run_once(options, store, client, mode, resource, options.executions, 0, "full",
                         true, machines);
    full.target = ">= " + grouped(target) + "/s";
    full.ratio = full.rate / target;
    full.verdict = fixed(full.ratio, 2) + "x " + (full.ratio >= 1 ? "met" : "MISSED");
    print_header();
    print_row(full);
    print_details(full);
    rows.push_back(full);
    good = good && full.verified;
    if (options.low) {
      const std::string label = "10% " + grouped(target * kLowLoadShare) + "/s";
      auto low = run_once(options, store, client, mode, resource, options.low_executions, low_rate,
                          label, true, machines);
      low.target = "p50 <= " + fixed(kP50LimitMs, 0) + " ms";
      low.ratio = low.p50 / kP50LimitMs;
      low.verdict = fixed(low.ratio, 2) + "x " + (low.ratio <= 1 ? "met" : "MISSED");
      print_row(low);
      print_details(low);
      rows.push_back(low);
      good = good && low.verified;
    }
  }
  pollers.reset();  // every run has ended: cutting the polls loses nothing

  host.stop();
  const int code = stepd.stop();
  if (code != 0) {
    std::printf("dispatch_bench: stepd exited with %d on SIGTERM:\n%s\n", code,
                stepd.log().c_str());
    good = false;
  }
  return good;
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    usage();
    return 2;
  }
  std::printf(
      "dispatch_bench: 10-Task pipeline, %d executions at once + %d at 10%% load; %d activity "
      "pollers, FunctionHost with %d threads; stepd %s; %u hardware threads\n",
      options->executions, options->low ? options->low_executions : 0, options->workers,
      options->host_threads, stepd::test::kStepdPath, std::thread::hardware_concurrency());
  std::printf(
      "dispatch_bench: p50/p99 = a task reaching its handler -> the execution's next task "
      "reaching it (steady clock); hist = *Scheduled -> next *StateEntered from the histories "
      "(whole ms); load = 1-minute load average, sync = the disk's fdatasync of 8 KiB (median "
      "ms), both just before the run\n");

  std::vector<RunResult> rows;
  std::vector<std::string> skipped;
  const bool good = stepd::bench::run_each_store(
      *options, "dispatch_bench", skipped,
      [&](const std::string& name, const std::string& url, const std::string& server) {
        const double target = name == "sqlite" ? kSqliteTarget : kPostgresTarget;
        return run_store(*options, name, url, target, server, rows);
      });

  std::printf(
      "\nSummary (targets: >= %s tasks/s on SQLite, >= %s on PostgreSQL, both modes; p50 <= %s "
      "ms at 10%% of that):\n",
      grouped(kSqliteTarget).c_str(), grouped(kPostgresTarget).c_str(),
      fixed(kP50LimitMs, 0).c_str());
  print_header();
  for (const auto& row : rows) print_row(row);
  for (const auto& line : skipped) std::printf("%s\n", line.c_str());
  std::printf("dispatch_bench: %s\n",
              good ? "every run verified" : "FAILED (see the problems printed above)");
  return good ? 0 : 1;
}
