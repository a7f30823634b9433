// How fast the SQLite store commits, next to the physical limit of the same disk.
//
// Prints history rows per second for commits of 1 and of 100 ExecutionWrites (each write: one step
// of one execution, one ~500-byte history event, optionally a frame rewrite), and, measured in the
// same run on the same disk, raw INSERT transactions of 1 and 100 ~500-byte rows into a scratch
// table: the ratio says how close the store gets to what SQLite itself can do.
//
//   build/bench/store_bench [--dir DIR] [--normal] [--seconds S] [--profile]
//
// --dir: where the database files go (default: the system temp directory); --normal:
// synchronous=NORMAL instead of FULL; --seconds: rough time per measurement (default 1); --profile:
// only the 100-write rolling case (for perf).
// Environment: STEPD_BENCH_CHECKPOINT=N sets the store's wal_autocheckpoint (pages; default 1000).
#include "engine/store/sqlite_store.hpp"

#include <sqlite3.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/common/store_workload.hpp"

namespace {

namespace fs = std::filesystem;
using namespace stepd::engine;
using Clock = std::chrono::steady_clock;

using stepd::bench::kPayload;
using stepd::bench::seconds_since;

constexpr stepd::bench::ExitOnFailure check{"store_bench"};

// Bytes this process has passed to write()/pwrite() so far (wchar of /proc/self/io; 0 where there
// is no such file). Unlike time, this does not depend on how busy the disk is.
long bytes_written() {
  std::FILE* f = std::fopen("/proc/self/io", "r");
  if (f == nullptr) return 0;
  char line[128];
  long value = 0;
  while (std::fgets(line, sizeof line, f) != nullptr) {
    if (std::sscanf(line, "wchar: %ld", &value) == 1) break;
  }
  std::fclose(f);
  return value;
}

// Rows written, seconds and bytes spent, summed over the slices of one case.
struct Tally {
  long rows = 0;
  double seconds = 0;
  long bytes = 0;
  double rate() const { return seconds > 0 ? rows / seconds : 0; }
  double bytes_per_row() const { return rows > 0 ? static_cast<double>(bytes) / rows : 0; }
};

// Raw baseline: INSERT transactions of `rows_per_txn` rows into a scratch table.
class RawInserts {
 public:
  RawInserts(const fs::path& path, bool full, int rows_per_txn) : rows_per_txn_(rows_per_txn) {
    fs::remove(path);
    check(sqlite3_open(path.c_str(), &db_) == SQLITE_OK, "open scratch database");
    exec("PRAGMA journal_mode = WAL");
    exec(full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
    exec("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body TEXT NOT NULL)");
    sqlite3_prepare_v2(db_, "INSERT INTO scratch (body) VALUES (?1)", -1, &ins_, nullptr);
    sqlite3_prepare_v2(db_, "BEGIN IMMEDIATE", -1, &begin_, nullptr);
    sqlite3_prepare_v2(db_, "COMMIT", -1, &commit_, nullptr);
  }
  ~RawInserts() {
    sqlite3_finalize(ins_);
    sqlite3_finalize(begin_);
    sqlite3_finalize(commit_);
    sqlite3_close(db_);
  }

  void run(double budget, Tally& tally) {
    auto t0 = Clock::now();
    long bytes0 = bytes_written();
    long rows = 0;
    while (seconds_since(t0) < budget) {
      sqlite3_step(begin_);
      sqlite3_reset(begin_);
      for (int i = 0; i < rows_per_txn_; ++i) {
        sqlite3_bind_text(ins_, 1, kPayload.data(), static_cast<int>(kPayload.size()),
                          SQLITE_STATIC);
        check(sqlite3_step(ins_) == SQLITE_DONE, "scratch insert");
        sqlite3_reset(ins_);
      }
      check(sqlite3_step(commit_) == SQLITE_DONE, "scratch commit");
      sqlite3_reset(commit_);
      rows += rows_per_txn_;
    }
    tally.rows += rows;
    tally.seconds += seconds_since(t0);
    tally.bytes += bytes_written() - bytes0;
  }

 private:
  void exec(const char* sql) {
    check(sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK, sql);
  }
  int rows_per_txn_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* ins_ = nullptr;
  sqlite3_stmt* begin_ = nullptr;
  sqlite3_stmt* commit_ = nullptr;
};

// Store: commits of `writes_per_batch` writes over 100 execution slots, each write one step with
// one history event (and, with_frame, a rewrite of the root frame). lifetime 0: the same 100
// executions forever (the worst case: each grows without end, so every write of a commit lands on a
// different index page); lifetime N: an execution succeeds at its Nth step and its slot starts a
// new one with its next write (many executions coming and going, as in service).
class StoreCommits {
 public:
  StoreCommits(const fs::path& path, bool full, int writes_per_batch, bool with_frame, int lifetime)
      : writes_per_batch_(writes_per_batch), lifetime_(lifetime) {
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path.string() + suffix);
    SqliteOptions options;
    options.path = path.string();
    options.synchronous_full = full;
    if (const char* v = std::getenv("STEPD_BENCH_CHECKPOINT"))
      options.wal_autocheckpoint = std::atoi(v);
    auto opened = SqliteStore::open(options);
    check(opened.ok(), "open store");
    store_ = std::move(*opened);
    check(store_->migrate(), "migrate");

    CommitBatch create;
    for (int i = 0; i < kExecutions; ++i) {
      ExecutionRecord e = stepd::bench::running_execution("run" + std::to_string(i),
                                                          1'700'000'000'000'000 + i, i % 8);
      create.writes.push_back(stepd::bench::start_write(e));
      arns_.push_back(e.arn);
    }
    check(store_->commit(create), "create executions");
    versions_.assign(kExecutions, 1);
    last_ids_.assign(kExecutions, 1);
    generations_.assign(kExecutions, 0);
    // Built once: the loop measures commit(), not building batches.
    batch_ = stepd::bench::step_batch(writes_per_batch, with_frame);
  }

  void run(double budget, Tally& tally) {
    auto t0 = Clock::now();
    long bytes0 = bytes_written();
    long rows = 0;
    while (seconds_since(t0) < budget) {
      for (auto& w : batch_.writes) {
        int i = next_++ % kExecutions;
        HistoryEvent& ev = w.events[0];
        w.create.reset();
        w.update.status.reset();
        if (lifetime_ > 0 && last_ids_[i] == lifetime_) {  // finished: start the next one
          ExecutionRecord e = stepd::bench::running_execution(
              "run" + std::to_string(i) + "-" + std::to_string(++generations_[i]),
              1'700'000'000'000'000 + next_, i % 8);
          arns_[i] = e.arn;
          w.create = std::move(e);
          versions_[i] = 0;
          last_ids_[i] = 0;
        }
        w.execution_arn = arns_[i];
        w.expected_version = versions_[i]++;
        ev.id = ++last_ids_[i];
        ev.previous_id = ev.id - 1;
        ev.timestamp = 1'700'000'000'000'000 + ev.id;
        if (lifetime_ > 0 && ev.id == lifetime_) w.update.status = "SUCCEEDED";
      }
      check(store_->commit(batch_), "commit");
      rows += writes_per_batch_;
    }
    tally.rows += rows;
    tally.seconds += seconds_since(t0);
    tally.bytes += bytes_written() - bytes0;
  }

 private:
  static constexpr int kExecutions = 100;
  int writes_per_batch_;
  int lifetime_;
  std::vector<int> generations_;
  std::unique_ptr<SqliteStore> store_;
  std::vector<std::string> arns_;
  std::vector<std::int64_t> versions_;
  std::vector<std::int64_t> last_ids_;
  CommitBatch batch_;
  int next_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  fs::path dir = fs::temp_directory_path();
  bool full = true;
  double budget = 1.0;
  bool profile = false;  // only the 100-write store case, for profilers
  const int kSlices = 10;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
      dir = argv[++i];
    } else if (std::strcmp(argv[i], "--normal") == 0) {
      full = false;
    } else if (std::strcmp(argv[i], "--profile") == 0) {
      profile = true;
    } else if (std::strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
      budget = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: store_bench [--dir DIR] [--normal] [--seconds S] [--profile]\n");
      return 2;
    }
  }
  fs::path base = dir / ("stepd-store-bench-" + std::to_string(::getpid()));
  fs::create_directories(base);
  if (profile) {
    StoreCommits store(base / "store.db", full, 100, true, 20);
    Tally t;
    store.run(budget, t);
    std::printf("%.0f rows/s\n", t.rate());
    fs::remove_all(base);
    return 0;
  }
  std::printf("SQLite %s, WAL, synchronous=%s, ~%zu-byte rows, %s\n", sqlite3_libversion(),
              full ? "FULL" : "NORMAL", kPayload.size(), base.c_str());
  std::printf("(raw and store measured in %d alternating slices, so both see the same disk)\n",
              kSlices);
  std::printf("%-58s %9s %10s %6s %7s %9s\n", "case", "rows/s", "raw rows/s", "ratio", "B/row",
              "raw B/row");
  constexpr int kLifetime = 20;
  for (int per_batch : {1, 100}) {
    RawInserts raw(base / "raw.db", full, per_batch);
    struct Case {
      std::string name;
      StoreCommits store;
      Tally tally;
    };
    std::string n = std::to_string(per_batch);
    std::vector<std::unique_ptr<Case>> cases;
    auto add = [&](const std::string& what, bool frame, int lifetime) {
      std::string file = "c" + std::to_string(cases.size()) + "-" + n + ".db";
      cases.push_back(std::make_unique<Case>(
          Case{"commit " + n + " write(s)/batch, " + what,
               StoreCommits(base / file, full, per_batch, frame, lifetime), Tally{}}));
    };
    add("1 event, 100 long-lived", false, 0);
    add("1 event + frame, 100 long-lived", true, 0);
    add("1 event + frame, rolling " + std::to_string(kLifetime) + "-step", true, kLifetime);
    Tally t_raw;
    for (int slice = 0; slice < kSlices; ++slice) {
      raw.run(budget / kSlices, t_raw);
      for (auto& c : cases) c->store.run(budget / kSlices, c->tally);
    }
    for (const auto& c : cases) {
      std::printf("%-58s %9.0f %10.0f %6.2f %7.0f %9.0f\n", c->name.c_str(), c->tally.rate(),
                  t_raw.rate(), c->tally.rate() / t_raw.rate(), c->tally.bytes_per_row(),
                  t_raw.bytes_per_row());
    }
  }
  std::error_code ec;
  fs::remove_all(base, ec);
  return 0;
}
