// The SQLite Store: one database file, the embedded default (no server, zero setup).
//
// URL: "sqlite:PATH", "sqlite:///ABSOLUTE/PATH", "PATH.db" / "PATH.sqlite" / "PATH.sqlite3", or
// "sqlite::memory:" (a private in-memory database, gone with the store). Query parameters:
//   synchronous=full|normal   full (default): a commit survives power loss (WAL fsync per
//                             commit); normal: it survives a process crash only.
//   busy_timeout=MS           how long to wait for another process's write lock (default 5000).
//
// The file is in WAL journal mode, so readers never block the writer nor each other. One writer
// connection, guarded by a mutex, does every write (commit() runs BEGIN IMMEDIATE ... COMMIT);
// reads take a connection from a small pool (in-memory: the writer's, under its mutex), so a read
// concurrent with a commit sees the database before or after it, never half of it. Each connection
// prepares each statement once and keeps it.
//
// Schema: versioned by PRAGMA user_version; migrate() applies the missing steps in one transaction.
// Executions have an integer key that their history, frames and map results reference, so a history
// row costs one short key, not the ARN; history is stored in insertion order with an (execution,
// id) index, so a group commit appends instead of rewriting one page per execution.
//
// Performance (bench/store_bench.cpp, 2-core VM, ~560-byte events, synchronous=FULL): commits of
// 100 steps reach ~78,000 history rows/s when executions come and go (~2.7 KB written per row, raw
// INSERTs 1.3 KB) and ~49,000 in the worst case of 100 ever-growing executions; commits of one step
// ~6,000/s, 0.8x raw single-row transactions.
//
// Errors: SQLITE_BUSY / LOCKED / IOERR / FULL / CANTOPEN / PROTOCOL / READONLY are Unavailable;
// other SQLite failures Internal; the rest as store.hpp says.
#pragma once

#include "engine/store/store.hpp"

#include <memory>
#include <string>
#include <string_view>

namespace stepd::engine {

struct SqliteOptions {
  std::string path;              // a file, or ":memory:"
  bool synchronous_full = true;  // false: synchronous=NORMAL
  int busy_timeout_ms = 5000;
  int max_idle_readers = 4;       // read connections kept open
  int wal_autocheckpoint = 1000;  // WAL pages between automatic checkpoints (SQLite's default)
};

// Parses a store URL of the SQLite kind (see above). InvalidArgument naming the URL otherwise.
Result<SqliteOptions> parse_sqlite_url(const std::string& url);

class SqliteStore final : public Store {
 public:
  // Opens (creating when missing) the database and sets its pragmas. Does not migrate. Unavailable
  // when the file cannot be opened.
  static Result<std::unique_ptr<SqliteStore>> open(const SqliteOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  // The schema version migrate() brings a database to.
  static int current_schema_version();

  // The value of `PRAGMA <name>` on the writer connection, as text (e.g. journal_mode → "wal",
  // synchronous → "2" for FULL). For tests and diagnostics; `name` must be a bare identifier.
  Result<std::string> pragma(std::string_view name);

  Status migrate() override;
  Result<int> schema_version() override;

  Status create_state_machine(const StateMachineRecord& machine) override;
  Status update_state_machine(const StateMachineRecord& machine,
                              const RevisionRecord& revision) override;
  Result<StateMachineRecord> get_state_machine(std::string_view arn) override;
  Result<RevisionRecord> get_revision(std::string_view machine_arn,
                                      std::string_view revision_id) override;
  Result<Page<StateMachineRecord>> list_state_machines(const PageRequest& page) override;
  Status delete_state_machine(std::string_view arn) override;
  Status set_state_machine_tags(std::string_view arn, const std::string& tags_json) override;
  // append_audit is one transaction (one fsync) whatever the number of entries.
  Status append_audit(const std::vector<AuditRecord>& entries) override;
  Result<Page<AuditRecord>> list_audit(const AuditQuery& query, const PageRequest& page) override;

  Status commit(const CommitBatch& batch, CommitConflict* conflict = nullptr) override;
  Result<ExecutionRecord> get_execution(std::string_view arn) override;
  Result<Page<ExecutionRecord>> list_executions(const ExecutionFilter& filter,
                                                const PageRequest& page) override;
  Result<Page<HistoryEvent>> get_history(std::string_view arn, const PageRequest& page,
                                         bool reverse) override;
  Result<std::vector<FrameRecord>> load_frames(std::string_view arn) override;
  Result<std::vector<MapResultRecord>> load_map_results(std::string_view arn) override;
  Result<std::vector<std::string>> open_executions(const std::vector<int>& partitions) override;

  Result<std::vector<TimerRecord>> due_timers(Micros until, const std::vector<int>& partitions,
                                              int max) override;
  Result<TaskRecord> get_task(std::string_view token) override;
  Result<std::vector<TaskRecord>> tasks_of_execution(std::string_view arn) override;

  Status create_activity(const ActivityRecord& activity) override;
  Result<ActivityRecord> get_activity(std::string_view arn) override;
  Result<Page<ActivityRecord>> list_activities(const PageRequest& page) override;
  Status delete_activity(std::string_view arn) override;
  Status set_activity_tags(std::string_view arn, const std::string& tags_json) override;

  Status put_route(const RouteRecord& route) override;
  Status delete_route(std::string_view kind, std::string_view name) override;
  Result<std::vector<RouteRecord>> list_routes() override;

  // The claim is one UPDATE in a write transaction (the single writer serialises claims; other
  // processes on the file wait for its lock).
  Result<bool> release_activity_task(std::string_view token, const std::string& worker) override;
  Result<std::optional<TaskRecord>> claim_activity_task(std::string_view activity_arn,
                                                        Micros scheduled_before,
                                                        const std::string& worker) override;
  Status post_task_message(const TaskMessage& message) override;
  // No partitions: no messages. InvalidArgument "max must be at least 1, got <n>" for max < 1.
  Result<std::vector<TaskMessage>> task_messages(const std::vector<int>& partitions,
                                                 int max) override;
  Status delete_task_messages(const std::vector<std::int64_t>& ids) override;

  Result<std::vector<PartitionLease>> acquire_partitions(const std::string& node, int partitions,
                                                         int max_partitions, Micros now,
                                                         Micros ttl) override;
  Status release_partitions(const std::string& node) override;
  Result<std::vector<PartitionLease>> list_partitions() override;

  struct Impl;

 private:
  explicit SqliteStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// parse_sqlite_url + SqliteStore::open.
Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& url);

}  // namespace stepd::engine
