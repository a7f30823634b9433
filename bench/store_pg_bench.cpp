// How fast the PostgreSQL store commits, next to what the same server does with raw INSERTs.
// The PostgreSQL twin of store_bench.cpp (same payload, same cases, same table).
//
// Prints history rows per second for commits of 1 and of 100 ExecutionWrites (each write: one
// step of one execution, one ~500-byte history event, optionally a frame rewrite), from 1 thread
// and from 4 threads sharing the store's pool, and, measured in the same run against the same
// server, raw INSERT transactions of 1 row and of 100 rows as one multi-row INSERT: the ratio
// says how close the store gets to what PostgreSQL itself can do. synchronous_commit is on.
//
//   build/bench/store_pg_bench [--url URL] [--seconds S] [--profile]
//
// --url: the server (default $STEPD_TEST_PG_URL; without either it says "skipped" and exits 0;
// `eval "$(bash scripts/postgres.sh)"` starts one); --seconds: rough time per measurement
// (default 1); --profile: only the 100-write, 1-thread store case. Everything happens in a
// scratch schema, dropped at the end.
#include "engine/store/postgres_store.hpp"

#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "bench/common/store_workload.hpp"

namespace {

using namespace stepd::engine;
using Clock = std::chrono::steady_clock;

using stepd::bench::kPayload;
using stepd::bench::seconds_since;

constexpr stepd::bench::ExitOnFailure check{"store_pg_bench"};

std::string with_params(const std::string& url, const std::string& params) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + params;
}

class Raw {
 public:
  explicit Raw(const std::string& url) : pg_(PQconnectdb(url.c_str())) {
    check(PQstatus(pg_) == CONNECTION_OK, std::string("connect: ") + PQerrorMessage(pg_));
    PQsetNoticeProcessor(
        pg_, [](void*, const char*) {}, nullptr);
  }
  ~Raw() { PQfinish(pg_); }
  void exec(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    check(st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK, sql + ": " + PQerrorMessage(pg_));
    PQclear(r);
  }
  PGconn* pg() { return pg_; }
  std::string show(const std::string& setting) {
    PGresult* r = PQexec(pg_, ("SHOW " + setting).c_str());
    check(PQresultStatus(r) == PGRES_TUPLES_OK, "SHOW " + setting);
    std::string v = PQgetvalue(r, 0, 0);
    PQclear(r);
    return v;
  }

 private:
  PGconn* pg_;
};

// Raw baseline: rows/s of INSERT transactions of `rows_per_txn` rows (one prepared multi-row
// INSERT ... VALUES statement, autocommit) into a scratch table.
double raw_inserts(const std::string& url, const std::string& schema, int rows_per_txn,
                   double budget) {
  Raw raw(url);
  raw.exec("SET synchronous_commit TO on");
  raw.exec("SET search_path TO " + schema);
  raw.exec("DROP TABLE IF EXISTS scratch");
  raw.exec("CREATE TABLE scratch (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL)");
  std::string sql = "INSERT INTO scratch (body) VALUES ";
  for (int i = 1; i <= rows_per_txn; ++i) sql += (i > 1 ? ", ($" : "($") + std::to_string(i) + ")";
  PGresult* prep = PQprepare(raw.pg(), "ins", sql.c_str(), rows_per_txn, nullptr);
  check(PQresultStatus(prep) == PGRES_COMMAND_OK, "prepare");
  PQclear(prep);
  std::vector<const char*> values(rows_per_txn, kPayload.c_str());
  long rows = 0;
  auto t0 = Clock::now();
  while (seconds_since(t0) < budget) {
    PGresult* r = PQexecPrepared(raw.pg(), "ins", rows_per_txn, values.data(), nullptr, nullptr, 0);
    check(PQresultStatus(r) == PGRES_COMMAND_OK, "scratch insert");
    PQclear(r);
    rows += rows_per_txn;
  }
  double rate = rows / seconds_since(t0);
  raw.exec("DROP TABLE scratch");
  return rate;
}

// Store: rows/s of commits of `writes_per_batch` writes, each one history event (+ a frame),
// from `threads` threads, each stepping its own 100 executions.
double store_commits(Store& store, int writes_per_batch, bool with_frame, int threads,
                     double budget) {
  static std::atomic<int> run{0};
  const int this_run = run++;
  std::atomic<long> rows{0};
  auto worker = [&](int t) {
    const int kExecutions = 100;
    std::vector<std::string> arns;
    std::vector<std::int64_t> versions(kExecutions, 1);
    std::vector<std::int64_t> last_ids(kExecutions, 1);
    CommitBatch create;
    for (int i = 0; i < kExecutions; ++i) {
      ExecutionRecord e = stepd::bench::running_execution(
          "r" + std::to_string(this_run) + "t" + std::to_string(t) + "e" + std::to_string(i),
          1'700'000'000'000'000 + i, i % 8);
      create.writes.push_back(stepd::bench::start_write(e));
      arns.push_back(e.arn);
    }
    check(store.commit(create), "create executions");
    CommitBatch batch = stepd::bench::step_batch(writes_per_batch, with_frame);
    long mine = 0;
    int next = 0;
    auto t0 = Clock::now();
    while (seconds_since(t0) < budget) {
      for (auto& w : batch.writes) {
        int i = next++ % kExecutions;
        w.execution_arn = arns[i];
        w.expected_version = versions[i]++;
        HistoryEvent& ev = w.events[0];
        ev.id = ++last_ids[i];
        ev.previous_id = ev.id - 1;
        ev.timestamp = 1'700'000'000'000'000 + mine;
      }
      check(store.commit(batch), "commit");
      mine += writes_per_batch;
    }
    rows += mine;
  };
  auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
  return rows / seconds_since(t0);
}

}  // namespace

int main(int argc, char** argv) {
  const char* env = std::getenv("STEPD_TEST_PG_URL");
  std::string url = env ? env : "";
  double budget = 1.0;
  bool profile = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--url") == 0 && i + 1 < argc) {
      url = argv[++i];
    } else if (std::strcmp(argv[i], "--profile") == 0) {
      profile = true;
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      budget = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: store_pg_bench [--url URL] [--seconds S] [--profile]\n");
      return 2;
    }
  }
  if (url.empty()) {
    std::printf(
        "store_pg_bench: skipped: no server (set STEPD_TEST_PG_URL or pass --url; "
        "eval \"$(bash scripts/postgres.sh)\" starts one)\n");
    return 0;
  }
  const std::string schema = "stepd_bench_" + std::to_string(::getpid());
  auto opened = open_postgres_store(with_params(url, "schema=" + schema + "&pool_size=4"));
  if (!opened.ok()) {
    std::fprintf(stderr, "store_pg_bench: %s\n", opened.error().message.c_str());
    return 1;
  }
  Store& store = **opened;
  check(store.migrate(), "migrate");
  if (profile) {
    std::printf("%.0f rows/s\n", store_commits(store, 100, false, 1, budget));
  } else {
    Raw info(url);
    std::printf(
        "PostgreSQL %s, synchronous_commit=%s, fsync=%s, ~%zu-byte rows; raw = 1 "
        "connection\n",
        info.show("server_version").c_str(), info.show("synchronous_commit").c_str(),
        info.show("fsync").c_str(), kPayload.size());
    std::printf("%-52s %14s %14s %7s\n", "case", "rows/s", "raw rows/s", "ratio");
    for (int per_batch : {1, 100}) {
      double raw = raw_inserts(url, schema, per_batch, budget);
      for (int threads : {1, 4}) {
        for (bool frame : {false, true}) {
          double rate = store_commits(store, per_batch, frame, threads, budget);
          std::string name = "commit " + std::to_string(per_batch) + " write(s)/batch, 1 event" +
                             (frame ? " + frame" : "") + ", " + std::to_string(threads) +
                             " thread" + (threads > 1 ? "s" : "");
          std::printf("%-52s %14.0f %14.0f %7.2f\n", name.c_str(), rate, raw, rate / raw);
        }
      }
    }
  }
  opened->reset();
  Raw cleanup(url);
  cleanup.exec("DROP SCHEMA IF EXISTS " + schema + " CASCADE");
  return 0;
}
