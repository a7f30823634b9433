#include "engine/store/sqlite_store.hpp"

#include "store_suite.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>

namespace stepd::engine::store_test {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

// A directory for this test process's database files, removed at exit.
struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() / ("stepd-sqlite-test-" + std::to_string(::getpid()));
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

fs::path fresh_db_path() {
  static TempDir dir;
  static std::atomic<int> counter{0};
  return dir.path / ("db" + std::to_string(counter++) + ".db");
}

std::unique_ptr<Store> open_or_fail(const std::string& url) {
  auto store = open_store(url);
  if (!store.ok()) {
    ADD_FAILURE() << "open_store(" << url << "): " << store.error().message;
    return nullptr;
  }
  return std::move(*store);
}

INSTANTIATE_TEST_SUITE_P(
    Sqlite, StoreSuite,
    ::testing::Values(
        StoreBackend{"file", [] { return open_or_fail("sqlite:" + fresh_db_path().string()); }},
        StoreBackend{"memory", [] { return open_or_fail("sqlite::memory:"); }}),
    StoreBackendName());

// Runs one SQL statement on a separate raw connection to `path`; returns its first column.
std::string raw_query(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
  std::string out;
  if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

// SQLite's plan for `sql` on a raw connection to `path`: the detail of each step, joined by "; ".
std::string query_plan(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  const std::string explain = "EXPLAIN QUERY PLAN " + sql;
  EXPECT_EQ(sqlite3_prepare_v2(db, explain.c_str(), -1, &st, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  std::string out;
  while (sqlite3_step(st) == SQLITE_ROW) {
    if (!out.empty()) out += "; ";
    out += reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return out;
}

std::unique_ptr<SqliteStore> open_sqlite(const std::string& url) {
  Result<SqliteOptions> options = parse_sqlite_url(url);
  EXPECT_TRUE(options.ok()) << options.error().message;
  auto store = SqliteStore::open(*options);
  EXPECT_TRUE(store.ok()) << store.error().message;
  return std::move(*store);
}

TEST(SqliteStore, WalModeAndFullSynchronousByDefault) {
  fs::path path = fresh_db_path();
  auto store = open_sqlite("sqlite:" + path.string());
  Result<std::string> mode = store->pragma("journal_mode");
  ASSERT_TRUE(mode.ok());
  EXPECT_EQ(*mode, "wal");
  Result<std::string> sync = store->pragma("synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(*sync, "2");  // FULL
  Result<std::string> timeout = store->pragma("busy_timeout");
  ASSERT_TRUE(timeout.ok());
  EXPECT_EQ(*timeout, "5000");
  // WAL is a property of the file: another connection sees it.
  EXPECT_EQ(raw_query(path, "PRAGMA journal_mode"), "wal");
}

TEST(SqliteStore, SynchronousNormalFromUrl) {
  auto store = open_sqlite("sqlite:" + fresh_db_path().string() + "?synchronous=normal");
  Result<std::string> sync = store->pragma("synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(*sync, "1");  // NORMAL
  auto full =
      open_sqlite("sqlite:" + fresh_db_path().string() + "?synchronous=FULL&busy_timeout=250");
  sync = full->pragma("synchronous");
  ASSERT_TRUE(sync.ok());
  EXPECT_EQ(*sync, "2");
  Result<std::string> timeout = full->pragma("busy_timeout");
  ASSERT_TRUE(timeout.ok());
  EXPECT_EQ(*timeout, "250");
}

TEST(SqliteStore, PragmaNameIsChecked) {
  auto store = open_sqlite("sqlite::memory:");
  Result<std::string> r = store->pragma("user_version; DROP TABLE x");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(r.error().message, "not a pragma name: user_version; DROP TABLE x");
}

TEST(SqliteStore, ParsesUrls) {
  Result<SqliteOptions> o = parse_sqlite_url("sqlite:/var/lib/stepd.db");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->path, "/var/lib/stepd.db");
  EXPECT_TRUE(o->synchronous_full);
  EXPECT_EQ(o->busy_timeout_ms, 5000);
  o = parse_sqlite_url("sqlite:///var/lib/stepd.db?synchronous=normal&busy_timeout=10");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->path, "/var/lib/stepd.db");
  EXPECT_FALSE(o->synchronous_full);
  EXPECT_EQ(o->busy_timeout_ms, 10);
  o = parse_sqlite_url("data/stepd.sqlite");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->path, "data/stepd.sqlite");
  o = parse_sqlite_url("sqlite::memory:");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->path, ":memory:");

  struct Bad {
    const char* url;
    const char* message;
  };
  for (const Bad& bad : {
           Bad{"sqlite:", "SQLite store URL sqlite: names no file"},
           Bad{"sqlite:x.db?synchronous=off",
               "SQLite store URL sqlite:x.db?synchronous=off: synchronous must be full or normal, "
               "got off"},
           Bad{"sqlite:x.db?busy_timeout=soon",
               "SQLite store URL sqlite:x.db?busy_timeout=soon: busy_timeout must be a number of "
               "milliseconds, got soon"},
           Bad{"sqlite:x.db?cache=big",
               "SQLite store URL sqlite:x.db?cache=big: unknown parameter cache"},
       }) {
    Result<SqliteOptions> r = parse_sqlite_url(bad.url);
    ASSERT_FALSE(r.ok()) << bad.url;
    EXPECT_EQ(r.error().code, ErrorCode::InvalidArgument) << bad.url;
    EXPECT_EQ(r.error().message, bad.message);
  }
}

TEST(SqliteStore, OpenStoreDispatchesByUrl) {
  for (const std::string& url : {"sqlite:" + fresh_db_path().string(), fresh_db_path().string(),
                                 std::string("sqlite::memory:")}) {
    auto store = open_store(url);
    ASSERT_TRUE(store.ok()) << url << ": " << store.error().message;
    EXPECT_NE(dynamic_cast<SqliteStore*>(store->get()), nullptr) << url;
  }
  auto unknown = open_store("mysql://localhost/x");
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(unknown.error().message,
            "unknown store URL \"mysql://localhost/x\": expected sqlite:PATH, PATH.db, "
            "sqlite::memory: or postgresql://...");
}

TEST(SqliteStore, UnopenableFileIsUnavailable) {
  auto store = open_store("sqlite:/nonexistent-dir-stepd/x.db");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(
      store.error().message,
      "cannot open SQLite database /nonexistent-dir-stepd/x.db: unable to open database file");
}

TEST(SqliteStore, MigrationsAreVersionedAndIdempotent) {
  fs::path path = fresh_db_path();
  auto store = open_sqlite("sqlite:" + path.string());
  Result<int> before = store->schema_version();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 0);
  ASSERT_TRUE(store->migrate().ok());
  Result<int> after = store->schema_version();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, SqliteStore::current_schema_version());
  EXPECT_EQ(SqliteStore::current_schema_version(), 4);
  EXPECT_EQ(raw_query(path, "PRAGMA user_version"), "4");
  EXPECT_EQ(
      raw_query(path,
                "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE type = "
                "'table' ORDER BY name)"),
      "activities,audit,executions,frames,history,map_results,partitions,revisions,routes,"
      "sqlite_sequence,state_machines,task_messages,tasks,timers");
  ASSERT_TRUE(store->create_state_machine(machine("kept")).ok());
  ASSERT_TRUE(store->migrate().ok());
  store.reset();

  // Reopened: migrate again changes nothing.
  store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  after = store->schema_version();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(*after, 4);
  Result<StateMachineRecord> kept = store->get_state_machine(machine_arn("kept"));
  ASSERT_TRUE(kept.ok());
  EXPECT_EQ(*kept, machine("kept"));
}

TEST(SqliteStore, NewerSchemaIsRefused) {
  fs::path path = fresh_db_path();
  auto store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  store.reset();
  raw_query(path, "PRAGMA user_version = 99");
  store = open_sqlite("sqlite:" + path.string());
  Status s = store->migrate();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::Internal);
  EXPECT_EQ(s.error().message,
            "the SQLite database is at schema version 99, newer than this build's " +
                std::to_string(SqliteStore::current_schema_version()));
}

// Takes a database at schema version 4 back to version 3: removes what migration 4 added.
void undo_version_four(const fs::path& path) {
  for (const char* sql : {"DROP TABLE activities", "DROP TABLE routes", "DROP TABLE task_messages",
                          "DROP INDEX tasks_by_activity", "PRAGMA user_version = 3"}) {
    raw_query(path, sql);
  }
}

// A database at schema version 1 (before the saga extension's compensation column and the audit
// log) migrates to the current version and keeps its executions; the new column then reads and
// writes.
TEST(SqliteStore, MigratesVersionOneToCurrent) {
  fs::path path = fresh_db_path();
  ExecutionRecord e = execution("m", "old", kT0, 1);
  auto store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  ASSERT_TRUE(store->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})).ok());
  store.reset();
  undo_version_four(path);
  raw_query(path, "DROP TABLE audit");
  raw_query(path, "ALTER TABLE executions DROP COLUMN compensation");
  raw_query(path, "PRAGMA user_version = 1");

  store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  EXPECT_EQ(raw_query(path, "PRAGMA user_version"), "4");
  Result<ExecutionRecord> got = store->get_execution(e.arn);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, as_created(e));
  ExecutionWrite w = step_write(e.arn, 1, {event(2, "CompensationStarted")});
  w.update.compensation = "[]";
  ASSERT_TRUE(store->commit(batch_of({w})).ok());
  got = store->get_execution(e.arn);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->compensation, "[]");
}

// A database at schema version 2 (before the audit log) migrates to the current version: its
// machines and executions stay as they were, and the audit log and tags work.
TEST(SqliteStore, MigratesVersionTwoToCurrent) {
  fs::path path = fresh_db_path();
  ExecutionRecord e = execution("m", "old", kT0, 1);
  auto store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  ASSERT_TRUE(store->create_state_machine(machine("m")).ok());
  ASSERT_TRUE(store->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})).ok());
  store.reset();
  undo_version_four(path);
  raw_query(path, "DROP TABLE audit");
  raw_query(path, "PRAGMA user_version = 2");
  ASSERT_EQ(raw_query(path, "SELECT count(*) FROM sqlite_master WHERE name LIKE 'audit%'"), "0");

  store = open_sqlite("sqlite:" + path.string());
  Result<int> before = store->schema_version();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 2);
  ASSERT_TRUE(store->migrate().ok());
  EXPECT_EQ(raw_query(path, "PRAGMA user_version"), "4");
  EXPECT_EQ(raw_query(path,
                      "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE "
                      "tbl_name = 'audit' AND type = 'index' ORDER BY name)"),
            "audit_by_key,audit_by_operation,audit_by_resource");
  Result<StateMachineRecord> m = store->get_state_machine(machine_arn("m"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, machine("m"));
  Result<ExecutionRecord> got = store->get_execution(e.arn);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, as_created(e));
  Result<Page<HistoryEvent>> h = store->get_history(e.arn, PageRequest{10, ""}, false);
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h->items, ElementsAre(event(1, "ExecutionStarted")));

  ASSERT_TRUE(store->set_state_machine_tags(machine_arn("m"), "[]").ok());
  AuditRecord a{0, kT0, "admin", "127.0.0.1:1", "TagResource", machine_arn("m"), "ok", "r1"};
  ASSERT_TRUE(store->append_audit({a}).ok());
  Result<Page<AuditRecord>> log = store->list_audit({}, PageRequest{10, ""});
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->items.size(), 1u);
  a.id = log->items[0].id;
  EXPECT_EQ(log->items[0], a);
}

// A database at schema version 3 (before activities, routes and task messages) migrates to
// version 4, once: its executions and tasks stay, and the new tables and the claim index work.
TEST(SqliteStore, MigratesVersionThreeToFour) {
  fs::path path = fresh_db_path();
  ExecutionRecord e = execution("m", "old", kT0, 2);
  TaskRecord t = scheduled_task("tok-old", e, "Work",
                                "arn:aws:states:us-east-1:123456789012:activity:pay", kT0 + 5);
  t.activity_arn = t.resource;
  auto store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
  w.tasks_put = {t};
  ASSERT_TRUE(store->commit(batch_of({w})).ok());
  store.reset();
  undo_version_four(path);
  ASSERT_EQ(raw_query(path, "SELECT count(*) FROM sqlite_master WHERE name IN ('activities', "
                            "'routes', 'task_messages', 'tasks_by_activity')"),
            "0");

  store = open_sqlite("sqlite:" + path.string());
  Result<int> before = store->schema_version();
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(*before, 3);
  ASSERT_TRUE(store->migrate().ok());
  ASSERT_TRUE(store->migrate().ok());  // again: nothing to do
  EXPECT_EQ(raw_query(path, "PRAGMA user_version"), "4");
  EXPECT_EQ(raw_query(path,
                      "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master WHERE "
                      "type = 'index' AND name NOT LIKE 'sqlite_%' AND tbl_name IN ('activities', "
                      "'routes', 'task_messages', 'tasks') ORDER BY name)"),
            "activities_by_name,task_messages_by_part,task_messages_one_outcome,tasks_by_activity,"
            "tasks_by_execution");
  // The claim reads the activity's tasks through tasks_by_activity, in order (no sort).
  EXPECT_THAT(query_plan(path,
                         "SELECT token FROM tasks WHERE activity_arn = ?1 AND activity_arn <> '' "
                         "AND status = 'SCHEDULED' AND scheduled <= ?2 ORDER BY scheduled, token "
                         "LIMIT 1"),
              ::testing::AllOf(::testing::HasSubstr("INDEX tasks_by_activity"),
                               ::testing::Not(::testing::HasSubstr("TEMP B-TREE"))));
  Result<TaskRecord> old = store->get_task("tok-old");
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(*old, t);

  ActivityRecord a{t.activity_arn, "pay", "[]", kT0};
  ASSERT_TRUE(store->create_activity(a).ok());
  ASSERT_TRUE(store->put_route({"function", "f", "http://127.0.0.1:1", kT0}).ok());
  Result<std::optional<TaskRecord>> claimed = store->claim_activity_task(a.arn, kT0 + 5, "w");
  ASSERT_TRUE(claimed.ok());
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->token, "tok-old");
  TaskMessage m{0, "tok-old", "heartbeat", "", 0, kT0};
  ASSERT_TRUE(store->post_task_message(m).ok());
  Result<std::vector<TaskMessage>> messages = store->task_messages({2}, 10);
  ASSERT_TRUE(messages.ok());
  ASSERT_EQ(messages->size(), 1u);
  EXPECT_EQ((*messages)[0].partition, 2);
  store.reset();

  // Reopened: still version 4, everything kept.
  store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  Result<ActivityRecord> got = store->get_activity(a.arn);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, a);
}

// Audit ids only grow: an id is not handed out again after the newest entries are deleted (by an
// operator pruning the log) and the file is reopened.
TEST(SqliteStore, AuditIdsAreNotReused) {
  fs::path path = fresh_db_path();
  std::int64_t newest = 0;
  {
    auto store = open_sqlite("sqlite:" + path.string());
    ASSERT_TRUE(store->migrate().ok());
    AuditRecord a{0, kT0, "k", "", "StartExecution", "", "ok", "a"};
    AuditRecord b = a;
    b.request_id = "b";
    ASSERT_TRUE(store->append_audit({a, b}).ok());
    Result<Page<AuditRecord>> log = store->list_audit({}, PageRequest{1, ""});
    ASSERT_TRUE(log.ok());
    newest = log->items.at(0).id;
  }
  raw_query(path, "DELETE FROM audit WHERE request_id = 'b'");
  auto store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  ASSERT_TRUE(store->append_audit({AuditRecord{0, kT0, "k", "", "StopExecution", "", "ok", "c"}})
                  .ok());
  Result<Page<AuditRecord>> log = store->list_audit({}, PageRequest{10, ""});
  ASSERT_TRUE(log.ok());
  ASSERT_EQ(log->items.size(), 2u);
  EXPECT_EQ(log->items[0].request_id, "c");
  EXPECT_GT(log->items[0].id, newest);
  EXPECT_EQ(log->items[1].request_id, "a");
}

TEST(SqliteStore, ReopenKeepsEverything) {
  fs::path path = fresh_db_path();
  ExecutionRecord e = execution("m", "durable", kT0, 2);
  TaskRecord t = scheduled_task("tok", e, "T", "arn:aws:states:::activity:a", kT0);
  {
    auto store = open_sqlite("sqlite:" + path.string());
    ASSERT_TRUE(store->migrate().ok());
    ASSERT_TRUE(store->create_state_machine(machine("m")).ok());
    ExecutionWrite w =
        create_write(e, {event(1, "ExecutionStarted"), event(2, "TaskStateEntered")});
    w.frames_put = {{"", R"({"at":"T"})"}};
    w.map_results_put = {{"", 3, "3"}};
    w.timers_put = {{"", "timeout", kT0 + 99, 2}};
    w.tasks_put = {t};
    ASSERT_TRUE(store->commit(batch_of({w})).ok());
    ASSERT_TRUE(store->acquire_partitions("n1", 3, 3, kT0, 1000).ok());
  }
  auto store = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(store->migrate().ok());
  Result<StateMachineRecord> m = store->get_state_machine(machine_arn("m"));
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(*m, machine("m"));
  Result<ExecutionRecord> got = store->get_execution(e.arn);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->last_event_id, 2);
  Result<Page<HistoryEvent>> h = store->get_history(e.arn, PageRequest{10, ""}, false);
  ASSERT_TRUE(h.ok());
  EXPECT_THAT(h->items, ElementsAre(event(1, "ExecutionStarted"), event(2, "TaskStateEntered")));
  Result<std::vector<FrameRecord>> frames = store->load_frames(e.arn);
  ASSERT_TRUE(frames.ok());
  EXPECT_THAT(*frames, ElementsAre(FrameRecord{"", R"({"at":"T"})"}));
  Result<std::vector<MapResultRecord>> results = store->load_map_results(e.arn);
  ASSERT_TRUE(results.ok());
  EXPECT_THAT(*results, ElementsAre(MapResultRecord{"", 3, "3"}));
  Result<std::vector<TimerRecord>> timers = store->due_timers(kT0 + 99, {2}, 10);
  ASSERT_TRUE(timers.ok());
  EXPECT_THAT(*timers, ElementsAre(TimerRecord{e.arn, "timeout", kT0 + 99, 2}));
  Result<TaskRecord> task = store->get_task("tok");
  ASSERT_TRUE(task.ok());
  EXPECT_EQ(*task, t);
  Result<std::vector<PartitionLease>> leases = store->acquire_partitions("n1", 3, 3, kT0 + 1, 1000);
  ASSERT_TRUE(leases.ok());
  EXPECT_THAT(*leases, ElementsAre(PartitionLease{0, "n1", 1, kT0 + 1001},
                                   PartitionLease{1, "n1", 1, kT0 + 1001},
                                   PartitionLease{2, "n1", 1, kT0 + 1001}));
}

TEST(SqliteStore, WriteLockHeldElsewhereIsUnavailable) {
  fs::path path = fresh_db_path();
  auto store = open_sqlite("sqlite:" + path.string() + "?busy_timeout=20");
  ASSERT_TRUE(store->migrate().ok());
  sqlite3* other = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &other), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(other, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  Status s = store->create_state_machine(machine("m"));
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);
  EXPECT_EQ(s.error().message, "SQLite failed to begin a write transaction: database is locked");
  // Reads still work while another connection writes (WAL).
  Result<Page<StateMachineRecord>> list = store->list_state_machines(PageRequest{10, ""});
  ASSERT_TRUE(list.ok()) << list.error().message;
  EXPECT_TRUE(list->items.empty());
  ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(other);
  ASSERT_TRUE(store->create_state_machine(machine("m")).ok());
}

TEST(SqliteStore, ReadsSeeCommitsOfOtherConnections) {
  // Two stores on one file (two processes sharing it): each sees the other's commits.
  fs::path path = fresh_db_path();
  auto a = open_sqlite("sqlite:" + path.string());
  ASSERT_TRUE(a->migrate().ok());
  auto b = open_sqlite("sqlite:" + path.string());
  ExecutionRecord e = execution("m", "shared");
  ASSERT_TRUE(a->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})).ok());
  ASSERT_TRUE(b->commit(batch_of({step_write(e.arn, 1, {event(2, "Next")})})).ok());
  Result<ExecutionRecord> got = a->get_execution(e.arn);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->version, 2);
  CommitConflict conflict;
  Status stale = a->commit(batch_of({step_write(e.arn, 1)}), &conflict);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(stale.error().message, "execution " + e.arn + " is at version 2, not 1");
  EXPECT_THAT(conflict.stale_executions, ElementsAre(e.arn));
}

}  // namespace
}  // namespace stepd::engine::store_test
