// Durable engine throughput (W1): the chain100 machine, N executions at once, on a real store,
// every transition committed durably. Prints transitions/s, the commits it took, and the ratio
// to the store's raw durable insert rate measured in the same run (single-row transactions and
// 100-row transactions) as the physical limit.
//
//   engine_bench [--store sqlite:PATH | postgresql://...] [--executions N] [--clients N] [--json]
//
// Default store: a SQLite file in the temp directory (removed afterwards).
#include "engine/engine.hpp"

#include <sqlite3.h>

#include <atomic>
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

}  // namespace

int main(int argc, char** argv) {
  std::string store_url;
  int executions = 1000;
  int clients = 16;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--store" && i + 1 < argc) store_url = argv[++i];
    else if (a == "--executions" && i + 1 < argc) executions = std::stoi(argv[++i]);
    else if (a == "--clients" && i + 1 < argc) clients = std::stoi(argv[++i]);
    else if (a == "--json") json = true;
    else {
      std::cerr << "usage: engine_bench [--store URL] [--executions N] [--clients N] [--json]\n";
      return 2;
    }
  }
  const std::string machines = std::string(STEPD_SHARED_DIR) + "/bench/machines/";
  if (!std::filesystem::exists(machines + "chain100.asl.json")) {
    std::cout << "engine_bench: skipped: " << machines << " is absent\n";
    return 0;
  }
  const std::string tmp = (std::filesystem::temp_directory_path() /
                           ("stepd-engine-bench-" + std::to_string(::getpid()))).string();
  const bool own_file = store_url.empty();
  if (own_file) store_url = "sqlite:" + tmp + ".db";

  auto store = stepd::engine::open_store(store_url);
  if (!store.ok()) {
    std::cerr << "engine_bench: " << store.error().message << "\n";
    return 1;
  }
  EngineOptions options;
  Engine engine(std::move(*store), options);
  if (auto s = engine.start(); !s.ok()) {
    std::cerr << "engine_bench: " << s.error().message << "\n";
    return 1;
  }
  auto created = engine.create_state_machine(
      {"chain100-" + std::to_string(::getpid()), read_file(machines + "chain100.asl.json"),
       "STANDARD", "", "[]"});
  if (auto* e = std::get_if<stepd::engine::ApiError>(&created)) {
    std::cerr << "engine_bench: " << e->type << ": " << e->message << "\n";
    return 1;
  }
  const std::string machine_arn = std::get<stepd::engine::StateMachineRecord>(created).arn;
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
  if (store_url.starts_with("sqlite:")) {
    raw1 = sqlite_raw_rate(tmp + "-raw.db", 1, 2000);
    raw100 = sqlite_raw_rate(tmp + "-raw.db", 100, 100000);
  }
  if (own_file) {
    for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(tmp + ".db" + s);
  }
  if (succeeded != executions || failed != 0) {
    std::cerr << "engine_bench: only " << succeeded << " of " << executions
              << " executions succeeded\n";
    return 1;
  }
  const long long commits = after.commits - before.commits;
  if (json) {
    std::cout << "{\"workload\":\"W1\",\"store\":\"" << store_url.substr(0, store_url.find(':'))
              << "\",\"executions\":" << executions << ",\"transitions\":" << transitions
              << ",\"seconds\":" << elapsed << ",\"transitions_per_s\":" << rate
              << ",\"commits\":" << commits << ",\"raw_rows_per_s_1\":" << raw1
              << ",\"raw_rows_per_s_100\":" << raw100 << "}\n";
  } else {
    std::printf("W1 chain100 x %d on %s: %lld transitions in %.2f s = %.0f transitions/s, "
                "%lld commits (%.1f executions steps per commit)\n",
                executions, store_url.substr(0, store_url.find(':')).c_str(), transitions,
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
