// Durable engine throughput, every transition committed durably:
//  W1: the chain100 machine, N executions at once. Prints transitions/s, the commits it took,
//      and the ratio to the store's raw durable insert rate measured in the same run
//      (single-row and 100-row transactions) as the physical limit.
//  W2: a 10-Task pipeline served by an in-process transport, N executions at once. Prints
//      tasks/s and the engine's overhead per task (p50/p99): from the moment a task's result is
//      handed to the engine to the moment the execution's next task is dispatched (or the
//      execution ends), which includes the durable commit.
//
//  W3: N executions (default 100,000) waiting in a Wait state: resident memory per waiting
//      execution (growth of the process's RSS while they wait, divided by N) and the lateness of
//      their timers (p50/p99: the execution's end minus its start plus the wait).
//
//   engine_bench [--workload W1|W2|W3|all] [--store sqlite:PATH | postgresql://...]
//                [--executions N] [--clients N] [--wait-seconds S] [--json]
//
// Default store: a SQLite file in the temp directory (removed afterwards).
#include "engine/engine.hpp"

#include <libpq-fe.h>
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace {

using stepd::engine::Engine;
using stepd::engine::EngineOptions;
using stepd::engine::ExecutionRecord;
using Clock = std::chrono::steady_clock;

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Raw durable inserts into a scratch SQLite file with the engine's settings (WAL, FULL):
// rows per second with `rows_per_tx` rows per transaction.
double sqlite_raw_rate(const std::string& path, int rows_per_tx, int total_rows) {
  std::filesystem::remove(path);
  sqlite3* db = nullptr;
  sqlite3_open(path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;", nullptr, nullptr, nullptr);
  sqlite3_exec(db, "CREATE TABLE t(a TEXT, b INTEGER, c TEXT)", nullptr, nullptr, nullptr);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "INSERT INTO t VALUES(?,?,?)", -1, &st, nullptr);
  const std::string payload(400, 'x');
  auto t0 = Clock::now();
  for (int i = 0; i < total_rows;) {
    sqlite3_exec(db, "BEGIN", nullptr, nullptr, nullptr);
    for (int k = 0; k < rows_per_tx && i < total_rows; ++k, ++i) {
      sqlite3_bind_text(st, 1, "arn:aws:states:local:0:execution:m:e", -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 2, i);
      sqlite3_bind_text(st, 3, payload.c_str(), -1, SQLITE_STATIC);
      sqlite3_step(st);
      sqlite3_reset(st);
    }
    sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  }
  double rate = total_rows / seconds_since(t0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path + s);
  return rate;
}

// Completes every task at once (without blocking the engine) and measures, per execution, the
// time from handing a result to the engine to the next dispatch.
class InstantTransport final : public stepd::engine::TaskTransport {
 public:
  explicit InstantTransport(Engine& engine) : engine_(engine) {}
  void dispatch(const stepd::engine::TaskDispatch& task) override {
    const auto now = Clock::now();
    {
      std::lock_guard lock(mu_);
      auto it = handed_.find(task.execution_arn);
      if (it != handed_.end()) {
        samples_.push_back(std::chrono::duration<double, std::micro>(now - it->second).count());
      }
      handed_[task.execution_arn] = Clock::now();
      ++tasks_;
    }
    stepd::asl::Json result = task.payload;
    engine_.complete_task_async(task.token, std::move(result), [](auto) {});
  }
  // The last task of each execution: its overhead ends when the execution ends.
  void finished(const std::string& arn, Clock::time_point when) {
    std::lock_guard lock(mu_);
    auto it = handed_.find(arn);
    if (it != handed_.end() && when > it->second) {
      samples_.push_back(std::chrono::duration<double, std::micro>(when - it->second).count());
    }
  }
  long long tasks() {
    std::lock_guard lock(mu_);
    return tasks_;
  }
  double percentile(double p) {
    std::lock_guard lock(mu_);
    if (samples_.empty()) return 0;
    std::vector<double> v = samples_;
    std::sort(v.begin(), v.end());
    return v[static_cast<std::size_t>(p * static_cast<double>(v.size() - 1))];
  }

 private:
  Engine& engine_;
  std::mutex mu_;
  std::unordered_map<std::string, Clock::time_point> handed_;
  std::vector<double> samples_;
  long long tasks_ = 0;
};

std::string pipeline_definition() {
  std::string d = R"({"Comment":"10-Task pipeline","StartAt":"T0","States":{)";
  for (int i = 0; i < 10; ++i) {
    d += "\"T" + std::to_string(i) + "\":{\"Type\":\"Task\",";
    d += "\"Resource\":\"arn:aws:lambda:local:000000000000:function:step\",";
    d += "\"Parameters\":{\"step\":" + std::to_string(i) + ",\"n.$\":\"$.n\"},";
    d += "\"ResultPath\":\"$.last\",";
    d += i == 9 ? "\"End\":true}" : "\"Next\":\"T" + std::to_string(i + 1) + "\"},";
  }
  d += "}}";
  return d;
}

// Raw durable inserts into a scratch table on the PostgreSQL server (synchronous_commit on):
// rows per second with `rows_per_tx` rows per transaction, one multi-row INSERT each.
double pg_raw_rate(const std::string& url, int rows_per_tx, int total_rows) {
  std::string conninfo = url.substr(0, url.find('?'));
  PGconn* c = PQconnectdb(conninfo.c_str());
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    return 0;
  }
  auto exec = [&](const std::string& sql) { PQclear(PQexec(c, sql.c_str())); };
  const std::string table = "stepd_bench_raw_" + std::to_string(::getpid());
  exec("DROP TABLE IF EXISTS " + table);
  exec("CREATE TABLE " + table + " (a text, b bigint, c text)");
  const std::string payload(400, 'x');
  auto t0 = Clock::now();
  for (int i = 0; i < total_rows;) {
    std::string sql = "INSERT INTO " + table + " VALUES ";
    for (int k = 0; k < rows_per_tx && i < total_rows; ++k, ++i) {
      if (k) sql += ",";
      sql += "('arn:aws:states:local:0:execution:m:e'," + std::to_string(i) + ",'" + payload + "')";
    }
    exec(sql);
  }
  double rate = total_rows / seconds_since(t0);
  exec("DROP TABLE " + table);
  PQfinish(c);
  return rate;
}

// One workload's engine: on the store at `url`, or on a temporary SQLite file (removed at the
// end) when `url` is empty, with the workload's state machine created. ok() is false (and the
// reason printed) when any of that failed.
class BenchRun {
 public:
  BenchRun(const std::string& url, const std::string& workload, const std::string& machine,
           const std::string& definition) {
    url_ = url;
    if (url_.empty()) {
      tmp_ = (std::filesystem::temp_directory_path() /
              ("stepd-engine-bench-" + workload + "-" + std::to_string(::getpid()) + ".db"))
                 .string();
      url_ = "sqlite:" + tmp_;
    }
    auto store = stepd::engine::open_store(url_);
    if (!store.ok()) {
      std::cerr << "engine_bench: " << store.error().message << "\n";
      return;
    }
    engine_ = std::make_unique<Engine>(std::move(*store), EngineOptions{});
    if (auto s = engine_->start(); !s.ok()) {
      std::cerr << "engine_bench: " << s.error().message << "\n";
      return;
    }
    auto created = engine_->create_state_machine(
        {machine + "-" + std::to_string(::getpid()), definition, "STANDARD", "", "[]"});
    if (auto* e = std::get_if<stepd::engine::ApiError>(&created)) {
      std::cerr << "engine_bench: " << e->type << ": " << e->message << "\n";
      return;
    }
    machine_arn_ = std::get<stepd::engine::StateMachineRecord>(created).arn;
  }
  ~BenchRun() {
    engine_.reset();
    if (!tmp_.empty()) {
      for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(tmp_ + s);
    }
  }
  bool ok() const { return !machine_arn_.empty(); }
  Engine& engine() { return *engine_; }
  const std::string& machine_arn() const { return machine_arn_; }
  // "sqlite" or "postgresql"
  std::string kind() const { return url_.substr(0, url_.find(':')); }

 private:
  std::string url_;
  std::string tmp_;
  std::unique_ptr<Engine> engine_;
  std::string machine_arn_;
};

}  // namespace

int run_w2(const std::string& store_url, int executions, int clients, bool json);
int run_w3(const std::string& store_url, int executions, int clients, int wait_seconds, bool json);

long rss_kib() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return 0;
}

int run_w1(const std::string& url_in, const std::string& pg_base, int executions, int clients,
           bool json) {
  const std::string machines = std::string(STEPD_SHARED_DIR) + "/bench/machines/";
  BenchRun run(url_in, "w1", "chain100", read_file(machines + "chain100.asl.json"));
  if (!run.ok()) return 1;
  Engine& engine = run.engine();
  const std::string machine_arn = run.machine_arn();
  const std::string tmp = (std::filesystem::temp_directory_path() /
                           ("stepd-engine-bench-raw-" + std::to_string(::getpid()))).string();
  const std::string input = read_file(machines + "chain100.input.json");

  std::atomic<int> next{0};
  std::atomic<int> failed{0};
  std::vector<std::string> arns(static_cast<std::size_t>(executions));
  auto before = engine.stats();
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next++; i < executions; i = next++) {
        auto r = engine.start_execution({machine_arn, "e" + std::to_string(i), input, ""});
        if (auto* rec = std::get_if<ExecutionRecord>(&r)) {
          arns[static_cast<std::size_t>(i)] = rec->arn;
        } else {
          ++failed;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  int succeeded = 0;
  for (const std::string& arn : arns) {
    if (arn.empty()) continue;
    auto r = engine.wait_for(arn, std::chrono::seconds(60));
    if (auto* rec = std::get_if<ExecutionRecord>(&r); rec && rec->status == "SUCCEEDED") {
      ++succeeded;
    }
  }
  const double elapsed = seconds_since(t0);
  auto after = engine.stats();
  engine.shutdown();
  const long long transitions = after.transitions - before.transitions;
  const double rate = transitions / elapsed;

  double raw1 = 0, raw100 = 0;
  if (run.kind() == "sqlite") {
    raw1 = sqlite_raw_rate(tmp + "-raw.db", 1, 2000);
    raw100 = sqlite_raw_rate(tmp + "-raw.db", 100, 100000);
  } else {
    raw1 = pg_raw_rate(pg_base, 1, 2000);
    raw100 = pg_raw_rate(pg_base, 100, 100000);
  }
  if (succeeded != executions || failed != 0) {
    std::cerr << "engine_bench: only " << succeeded << " of " << executions
              << " executions succeeded\n";
    return 1;
  }
  const long long commits = after.commits - before.commits;
  if (json) {
    std::cout << "{\"workload\":\"W1\",\"store\":\"" << run.kind()
              << "\",\"executions\":" << executions << ",\"transitions\":" << transitions
              << ",\"seconds\":" << elapsed << ",\"transitions_per_s\":" << rate
              << ",\"commits\":" << commits << ",\"raw_rows_per_s_1\":" << raw1
              << ",\"raw_rows_per_s_100\":" << raw100 << "}\n";
  } else {
    std::printf("W1 chain100 x %d on %s: %lld transitions in %.2f s = %.0f transitions/s, "
                "%lld commits (%.1f executions steps per commit)\n",
                executions, run.kind().c_str(), transitions,
                elapsed, rate, commits,
                commits ? double(after.steps - before.steps) / commits : 0.0);
    if (raw1 > 0) {
      std::printf("   raw durable inserts: %.0f rows/s (1 per tx), %.0f rows/s (100 per tx); "
                  "engine/raw100 = %.2f\n",
                  raw1, raw100, rate / raw100);
    }
  }
  return 0;
}

// The URL of a fresh schema on the PostgreSQL server at `base`, for one workload.
std::string pg_schema_url(const std::string& base, const std::string& workload) {
  const std::string sep = base.find('?') == std::string::npos ? "?" : "&";
  return base + sep + "schema=bench_" + workload + "_" + std::to_string(::getpid());
}

int main(int argc, char** argv) {
  std::string store_url;
  std::string postgres;
  std::string workload = "all";
  int executions = 1000;
  int clients = 16;
  int wait_seconds = 20;
  int w3_executions = 100000;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--store" && i + 1 < argc) store_url = argv[++i];
    else if (a == "--postgres" && i + 1 < argc) postgres = argv[++i];
    else if (a == "--workload" && i + 1 < argc) workload = argv[++i];
    else if (a == "--executions" && i + 1 < argc) executions = std::stoi(argv[++i]);
    else if (a == "--w3-executions" && i + 1 < argc) w3_executions = std::stoi(argv[++i]);
    else if (a == "--wait-seconds" && i + 1 < argc) wait_seconds = std::stoi(argv[++i]);
    else if (a == "--clients" && i + 1 < argc) clients = std::stoi(argv[++i]);
    else if (a == "--json") json = true;
    else {
      std::cerr << "usage: engine_bench [--workload W1|W2|W3|all] [--store URL | --postgres URL]\n"
                   "                    [--executions N] [--w3-executions N] [--wait-seconds S]\n"
                   "                    [--clients N] [--json]\n";
      return 2;
    }
  }
  if (!std::filesystem::exists(std::string(STEPD_SHARED_DIR) +
                               "/bench/machines/chain100.asl.json")) {
    std::cout << "engine_bench: skipped: " << STEPD_SHARED_DIR << "/bench/machines is absent\n";
    return 0;
  }
  // The stores to run on: the one given, or a temporary SQLite file and, when a PostgreSQL
  // server is given (--postgres or STEPD_TEST_PG_URL), a fresh schema there per workload.
  if (postgres.empty()) {
    if (const char* env = std::getenv("STEPD_TEST_PG_URL")) postgres = env;
  }
  std::vector<std::pair<std::string, std::string>> stores;  // {kind, base url}
  if (!store_url.empty()) {
    stores.push_back({store_url.starts_with("sqlite:") ? "sqlite" : "postgresql", store_url});
  } else {
    stores.push_back({"sqlite", ""});
    if (!postgres.empty()) stores.push_back({"postgresql", postgres});
  }
  const bool all = workload == "all";
  if (json) std::cout << "[\n";
  bool first = true;
  int rc = 0;
  for (const auto& [kind, base] : stores) {
    auto url_for = [&](const std::string& w) {
      if (kind == "sqlite" || !store_url.empty()) return base;
      return pg_schema_url(base, w);
    };
    auto comma = [&] {
      if (json && !first) std::cout << ",";
      first = false;
    };
    const std::string pg_base = kind == "postgresql" ? base : "";
    if (all || workload == "W1") {
      comma();
      rc |= run_w1(url_for("w1"), pg_base, executions, clients, json);
    }
    if (all || workload == "W2") {
      comma();
      rc |= run_w2(url_for("w2"), executions, clients, json);
    }
    if (all || workload == "W3") {
      comma();
      rc |= run_w3(url_for("w3"), w3_executions, clients * 2, wait_seconds, json);
    }
  }
  if (json) std::cout << "]\n";
  return rc;
}

int run_w2(const std::string& url_in, int executions, int clients, bool json) {
  BenchRun run(url_in, "w2", "pipeline10", pipeline_definition());
  if (!run.ok()) return 1;
  Engine& engine = run.engine();
  const std::string machine_arn = run.machine_arn();
  InstantTransport transport(engine);
  engine.set_task_transport(&transport);
  std::atomic<int> next{0};
  std::vector<std::string> arns(static_cast<std::size_t>(executions));
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next++; i < executions; i = next++) {
        auto r = engine.start_execution(
            {machine_arn, "p" + std::to_string(i), "{\"n\":" + std::to_string(i) + "}", ""});
        if (auto* rec = std::get_if<ExecutionRecord>(&r)) arns[static_cast<std::size_t>(i)] = rec->arn;
      }
    });
  }
  for (auto& t : threads) t.join();
  int succeeded = 0;
  for (const std::string& arn : arns) {
    if (arn.empty()) continue;
    auto r = engine.wait_for(arn, std::chrono::seconds(120));
    if (auto* rec = std::get_if<ExecutionRecord>(&r); rec && rec->status == "SUCCEEDED") {
      ++succeeded;
      transport.finished(arn, Clock::now());
    }
  }
  const double elapsed = seconds_since(t0);
  const long long tasks = transport.tasks();
  engine.shutdown();
  if (succeeded != executions || tasks != 10LL * executions) {
    std::cerr << "engine_bench: W2: " << succeeded << " of " << executions << " succeeded, "
              << tasks << " tasks\n";
    return 1;
  }
  const double rate = tasks / elapsed;
  const double p50 = transport.percentile(0.50) / 1000.0;
  const double p99 = transport.percentile(0.99) / 1000.0;
  const std::string kind = run.kind();
  if (json) {
    std::cout << "{\"workload\":\"W2\",\"store\":\"" << kind << "\",\"executions\":"
              << executions << ",\"tasks\":" << tasks << ",\"seconds\":" << elapsed
              << ",\"tasks_per_s\":" << rate << ",\"overhead_ms_p50\":" << p50
              << ",\"overhead_ms_p99\":" << p99 << "}\n";
  } else {
    std::printf("W2 10-Task pipeline x %d on %s: %lld tasks in %.2f s = %.0f tasks/s; engine "
                "overhead per task p50 %.2f ms, p99 %.2f ms (the durable commit included)\n",
                executions, kind.c_str(), tasks, elapsed, rate, p50, p99);
  }
  return 0;
}

int run_w3(const std::string& url_in, int executions, int clients, int wait_seconds, bool json) {
  const std::string definition = R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":)" +
                                 std::to_string(wait_seconds) +
                                 R"(,"Next":"D"},"D":{"Type":"Succeed"}}})";
  BenchRun run(url_in, "w3", "waiting", definition);
  if (!run.ok()) return 1;
  Engine& engine = run.engine();
  const std::string machine_arn = run.machine_arn();
  const long rss_before = rss_kib();
  std::atomic<int> next{0};
  auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&] {
      for (int i = next++; i < executions; i = next++) {
        (void)engine.start_execution({machine_arn, "w" + std::to_string(i), "{}", ""});
      }
    });
  }
  for (auto& t : threads) t.join();
  const double start_seconds = seconds_since(t0);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const long rss_waiting = rss_kib();
  const auto stats_waiting = engine.stats();
  // Wait for every timer to fire and every execution to end.
  stepd::engine::ExecutionFilter running{machine_arn, "RUNNING"};
  for (;;) {
    stepd::engine::PageRequest one;
    one.max_results = 1;
    auto r = engine.list_executions(running, one);
    auto* page = std::get_if<stepd::engine::Page<ExecutionRecord>>(&r);
    if (page != nullptr && page->items.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::vector<double> lateness_ms;
  stepd::engine::PageRequest page;
  page.max_results = 1000;
  int succeeded = 0;
  for (;;) {
    auto r = engine.list_executions({machine_arn, ""}, page);
    auto& p = std::get<stepd::engine::Page<ExecutionRecord>>(r);
    for (const ExecutionRecord& e : p.items) {
      if (e.status != "SUCCEEDED" || !e.stop) continue;
      ++succeeded;
      lateness_ms.push_back(static_cast<double>(*e.stop - e.start -
                                                static_cast<long long>(wait_seconds) * 1000000) /
                            1000.0);
    }
    if (p.next_token.empty()) break;
    page.next_token = p.next_token;
  }
  engine.shutdown();
  if (succeeded != executions) {
    std::cerr << "engine_bench: W3: " << succeeded << " of " << executions << " succeeded\n";
    return 1;
  }
  std::sort(lateness_ms.begin(), lateness_ms.end());
  const double p50 = lateness_ms[lateness_ms.size() / 2];
  const double p99 = lateness_ms[static_cast<std::size_t>(0.99 * (lateness_ms.size() - 1))];
  const double per_execution =
      static_cast<double>(rss_waiting - rss_before) * 1024.0 / executions;
  const std::string kind = run.kind();
  if (json) {
    std::cout << "{\"workload\":\"W3\",\"store\":\"" << kind << "\",\"executions\":"
              << executions << ",\"start_seconds\":" << start_seconds
              << ",\"rss_bytes_per_waiting_execution\":" << per_execution
              << ",\"resident_cores_while_waiting\":" << stats_waiting.resident_executions
              << ",\"lateness_ms_p50\":" << p50 << ",\"lateness_ms_p99\":" << p99 << "}\n";
  } else {
    std::printf("W3 %d executions waiting %d s on %s: started in %.1f s; resident memory %.0f "
                "bytes per waiting execution (%lld cores in memory); timer lateness p50 %.1f "
                "ms, p99 %.1f ms\n",
                executions, wait_seconds, kind.c_str(), start_seconds, per_execution,
                stats_waiting.resident_executions, p50, p99);
  }
  return 0;
}
