#include "engine/store/sqlite_store.hpp"

#include "engine/store/request_checks.hpp"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <utility>
#include <vector>

namespace stepd::engine {
namespace {

// --- Schema -------------------------------------------------------------------------------------
// Each step takes the schema from version i to i+1; never edit a released step, add one. Executions
// have an integer key (eid) that history, frames and map results use. History rows are stored in
// insertion order (seq) with a small (eid, id) index: a commit of 100 steps of 100 executions then
// appends to the table's last pages and touches only index pages, instead of rewriting one big-row
// page per execution (measured: ~42 against ~280 pages written per such commit;
// bench/store_bench.cpp). The status indexes are touched only by updates that set status
// (kUpdateExecutionStatus).
constexpr std::array<const char*, 4> kMigrations = {
    R"sql(
CREATE TABLE state_machines (
  arn TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  definition TEXT NOT NULL,
  role_arn TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  status TEXT NOT NULL,
  description TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  logging_json TEXT NOT NULL,
  tracing_json TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
);
CREATE INDEX state_machines_by_name ON state_machines (name, arn);

CREATE TABLE revisions (
  machine_arn TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  definition TEXT NOT NULL,
  role_arn TEXT NOT NULL,
  created INTEGER NOT NULL,
  PRIMARY KEY (machine_arn, revision_id)
);

CREATE TABLE executions (
  eid INTEGER PRIMARY KEY,
  arn TEXT NOT NULL UNIQUE,
  machine_arn TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT NOT NULL,
  input TEXT NOT NULL,
  output TEXT,
  error TEXT,
  cause TEXT,
  start_time INTEGER NOT NULL,
  stop_time INTEGER,
  trace_header TEXT NOT NULL,
  redrive_count INTEGER NOT NULL,
  redrive_date INTEGER,
  last_event_id INTEGER NOT NULL,
  version INTEGER NOT NULL,
  part INTEGER NOT NULL
);
CREATE INDEX executions_by_start ON executions (start_time DESC, arn);
CREATE INDEX executions_by_machine ON executions (machine_arn, start_time DESC, arn);
CREATE INDEX executions_by_status ON executions (status, start_time DESC, arn);
CREATE INDEX executions_running ON executions (part, arn) WHERE status = 'RUNNING';

CREATE TABLE history (
  seq INTEGER PRIMARY KEY,
  eid INTEGER NOT NULL,
  id INTEGER NOT NULL,
  previous_id INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  type TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE UNIQUE INDEX history_by_execution ON history (eid, id);

CREATE TABLE frames (
  eid INTEGER NOT NULL,
  frame_id TEXT NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (eid, frame_id)
) WITHOUT ROWID;

CREATE TABLE map_results (
  eid INTEGER NOT NULL,
  frame_id TEXT NOT NULL,
  idx INTEGER NOT NULL,
  output TEXT NOT NULL,
  PRIMARY KEY (eid, frame_id, idx)
) WITHOUT ROWID;

CREATE TABLE timers (
  execution_arn TEXT NOT NULL,
  timer_id TEXT NOT NULL,
  due INTEGER NOT NULL,
  part INTEGER NOT NULL,
  PRIMARY KEY (execution_arn, timer_id)
) WITHOUT ROWID;
CREATE INDEX timers_by_due ON timers (due, execution_arn, timer_id);
CREATE INDEX timers_by_part ON timers (part, due, execution_arn, timer_id);

CREATE TABLE tasks (
  token TEXT PRIMARY KEY NOT NULL,
  execution_arn TEXT NOT NULL,
  frame_id TEXT NOT NULL,
  state_name TEXT NOT NULL,
  resource TEXT NOT NULL,
  activity_arn TEXT NOT NULL,
  input TEXT NOT NULL,
  status TEXT NOT NULL,
  worker_name TEXT NOT NULL,
  scheduled INTEGER NOT NULL,
  heartbeat_due INTEGER,
  timeout_due INTEGER,
  part INTEGER NOT NULL
);
CREATE INDEX tasks_by_execution ON tasks (execution_arn, token);

CREATE TABLE partitions (
  id INTEGER PRIMARY KEY,
  node TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  expires INTEGER NOT NULL
);
)sql",
    // 2: the saga extension's outcome of each compensation (docs/saga.md).
    R"sql(
ALTER TABLE executions ADD COLUMN compensation TEXT;
)sql",
    // 3: the audit log, one row per mutating API call. AUTOINCREMENT: an id is never handed out
    // twice, even after the newest rows are deleted, so ids only grow. An index on one column
    // also holds the rowid (the id), so each filter index serves "newest first" by itself.
    R"sql(
CREATE TABLE audit (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  time INTEGER NOT NULL,
  key_id TEXT NOT NULL,
  remote TEXT NOT NULL,
  operation TEXT NOT NULL,
  resource TEXT NOT NULL,
  outcome TEXT NOT NULL,
  request_id TEXT NOT NULL
);
CREATE INDEX audit_by_key ON audit (key_id);
CREATE INDEX audit_by_operation ON audit (operation);
CREATE INDEX audit_by_resource ON audit (resource);
)sql",
    // 4: activities, the routing registry of push tasks, and messages about tasks between nodes.
    // A token has at most one outcome message (the partial unique index). A message index on
    // part alone also holds the rowid (the id), so it serves "a partition's messages, oldest
    // first". claim_activity_task finds the oldest SCHEDULED task of an activity by
    // tasks_by_activity.
    R"sql(
CREATE TABLE activities (
  arn TEXT PRIMARY KEY NOT NULL,
  name TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX activities_by_name ON activities (name, arn);

CREATE TABLE routes (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  updated INTEGER NOT NULL,
  PRIMARY KEY (kind, name)
) WITHOUT ROWID;

CREATE TABLE task_messages (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  token TEXT NOT NULL,
  kind TEXT NOT NULL,
  body TEXT NOT NULL,
  part INTEGER NOT NULL,
  created INTEGER NOT NULL
);
CREATE INDEX task_messages_by_part ON task_messages (part);
CREATE UNIQUE INDEX task_messages_one_outcome ON task_messages (token)
  WHERE kind IN ('success', 'failure');

CREATE INDEX tasks_by_activity ON tasks (activity_arn, status, scheduled, token)
  WHERE activity_arn <> '';
)sql",
};

// --- Statements ---------------------------------------------------------------------------------
// Each is prepared once per connection, keyed by the address of its text.

constexpr const char* kBegin = "BEGIN IMMEDIATE";
constexpr const char* kCommit = "COMMIT";
constexpr const char* kRollback = "ROLLBACK";
constexpr const char* kUserVersion = "PRAGMA user_version";

#define STEPD_MACHINE_COLUMNS                                                            \
  "arn, name, type, definition, role_arn, revision_id, status, description, tags_json, " \
  "logging_json, tracing_json, created, updated"
constexpr const char* kInsertMachine =
    "INSERT INTO state_machines (" STEPD_MACHINE_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) ON CONFLICT DO NOTHING";
constexpr const char* kUpdateMachine =
    "UPDATE state_machines SET name = ?2, type = ?3, definition = ?4, role_arn = ?5, revision_id = "
    "?6, status = ?7, description = ?8, tags_json = ?9, logging_json = ?10, tracing_json = ?11, "
    "created = ?12, updated = ?13 WHERE arn = ?1";
constexpr const char* kInsertRevision =
    "INSERT INTO revisions (machine_arn, revision_id, definition, role_arn, created) VALUES (?1, "
    "?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING";
constexpr const char* kGetMachine =
    "SELECT " STEPD_MACHINE_COLUMNS " FROM state_machines WHERE arn = ?1";
constexpr const char* kListMachines =
    "SELECT " STEPD_MACHINE_COLUMNS
    " FROM state_machines WHERE (name, arn) > (?1, ?2) ORDER BY name, arn LIMIT ?3";
constexpr const char* kGetRevision =
    "SELECT machine_arn, revision_id, definition, role_arn, created FROM revisions WHERE "
    "machine_arn = ?1 AND revision_id = ?2";
constexpr const char* kDeleteMachine = "DELETE FROM state_machines WHERE arn = ?1";
constexpr const char* kDeleteRevisions = "DELETE FROM revisions WHERE machine_arn = ?1";
constexpr const char* kSetMachineTags = "UPDATE state_machines SET tags_json = ?2 WHERE arn = ?1";

#define STEPD_EXECUTION_COLUMNS                                                                  \
  "arn, machine_arn, revision_id, name, type, status, input, output, error, cause, start_time, " \
  "stop_time, trace_header, redrive_count, redrive_date, last_event_id, version, part, "         \
  "compensation"
constexpr const char* kInsertExecution =
    "INSERT INTO executions (" STEPD_EXECUTION_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, 1, ?17, ?18) "
    "ON CONFLICT DO NOTHING";
// The execution row a write applies to: located by ARN, then updated by its integer key. ?4
// (status) appears only in the variant that sets it: the other leaves the status indexes be.
constexpr const char* kLocateExecution =
    "SELECT eid, version, last_event_id FROM executions WHERE arn = ?1";
#define STEPD_UPDATE_EXECUTION(status)                                                        \
  "UPDATE executions SET version = ?2, last_event_id = ?3, " status                           \
  "output = coalesce(?5, output), error = coalesce(?6, error), cause = coalesce(?7, cause), " \
  "stop_time = coalesce(?8, stop_time), redrive_count = coalesce(?9, redrive_count), "        \
  "redrive_date = coalesce(?10, redrive_date), compensation = coalesce(?11, compensation) "   \
  "WHERE eid = ?1"
constexpr const char* kUpdateExecution = STEPD_UPDATE_EXECUTION("");
constexpr const char* kUpdateExecutionStatus = STEPD_UPDATE_EXECUTION("status = ?4, ");
constexpr const char* kExecutionKey = "SELECT eid FROM executions WHERE arn = ?1";
constexpr const char* kGetExecution =
    "SELECT " STEPD_EXECUTION_COLUMNS " FROM executions WHERE arn = ?1";
// Newest first; the page continues after (?1 start, ?2 arn).
#define STEPD_LIST_EXECUTIONS(filter)                                                \
  "SELECT " STEPD_EXECUTION_COLUMNS                                                  \
  " FROM executions WHERE start_time <= ?1 AND (start_time < ?1 OR arn > ?2)" filter \
  " ORDER BY start_time DESC, arn LIMIT ?5"
constexpr const char* kListExecutions = STEPD_LIST_EXECUTIONS("");
constexpr const char* kListExecutionsByMachine = STEPD_LIST_EXECUTIONS(" AND machine_arn = ?3");
constexpr const char* kListExecutionsByStatus = STEPD_LIST_EXECUTIONS(" AND status = ?4");
constexpr const char* kListExecutionsByBoth =
    STEPD_LIST_EXECUTIONS(" AND machine_arn = ?3 AND +status = ?4");
constexpr const char* kOpenExecutions =
    "SELECT arn FROM executions WHERE status = 'RUNNING' ORDER BY arn";
constexpr const char* kOpenExecutionsOfPartition =
    "SELECT arn FROM executions WHERE status = 'RUNNING' AND part = ?1 ORDER BY arn";

constexpr const char* kInsertEvent =
    "INSERT INTO history (eid, id, previous_id, ts, type, details) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr const char* kHistoryForward =
    "SELECT id, previous_id, ts, type, details FROM history WHERE eid = ?1 AND id > ?2 ORDER BY id "
    "LIMIT ?3";
constexpr const char* kHistoryReverse =
    "SELECT id, previous_id, ts, type, details FROM history WHERE eid = ?1 AND id < ?2 ORDER BY id "
    "DESC LIMIT ?3";

constexpr const char* kPutFrame =
    "INSERT OR REPLACE INTO frames (eid, frame_id, data) VALUES (?1, ?2, ?3)";
constexpr const char* kDeleteFrame = "DELETE FROM frames WHERE eid = ?1 AND frame_id = ?2";
constexpr const char* kLoadFrames =
    "SELECT f.frame_id, f.data FROM executions e JOIN frames f ON f.eid = e.eid WHERE e.arn = ?1 "
    "ORDER BY f.frame_id";
constexpr const char* kPutMapResult =
    "INSERT OR REPLACE INTO map_results (eid, frame_id, idx, output) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kDeleteMapResults =
    "DELETE FROM map_results WHERE eid = ?1 AND frame_id = ?2";
constexpr const char* kLoadMapResults =
    "SELECT m.frame_id, m.idx, m.output FROM executions e JOIN map_results m ON m.eid = e.eid "
    "WHERE e.arn = ?1 ORDER BY m.frame_id, m.idx";

constexpr const char* kPutTimer =
    "INSERT OR REPLACE INTO timers (execution_arn, timer_id, due, part) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kDeleteTimer =
    "DELETE FROM timers WHERE execution_arn = ?1 AND timer_id = ?2";
constexpr const char* kDueTimers =
    "SELECT execution_arn, timer_id, due, part FROM timers WHERE due <= ?1 ORDER BY due, "
    "execution_arn, timer_id LIMIT ?2";
constexpr const char* kDueTimersOfPartition =
    "SELECT execution_arn, timer_id, due, part FROM timers WHERE part = ?3 AND due <= ?1 ORDER BY "
    "due, execution_arn, timer_id LIMIT ?2";

#define STEPD_TASK_COLUMNS                                                              \
  "token, execution_arn, frame_id, state_name, resource, activity_arn, input, status, " \
  "worker_name, scheduled, heartbeat_due, timeout_due, part"
constexpr const char* kPutTask =
    "INSERT OR REPLACE INTO tasks (" STEPD_TASK_COLUMNS
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
constexpr const char* kDeleteTask = "DELETE FROM tasks WHERE token = ?1";
constexpr const char* kGetTask = "SELECT " STEPD_TASK_COLUMNS " FROM tasks WHERE token = ?1";
constexpr const char* kTasksOfExecution =
    "SELECT " STEPD_TASK_COLUMNS " FROM tasks WHERE execution_arn = ?1 ORDER BY token";

// Commit: an activity task handed to a worker (ExecutionWrite::tasks_started).
constexpr const char* kStartTask =
    "UPDATE tasks SET status = 'STARTED', worker_name = ?2 WHERE token = ?1";
// The oldest SCHEDULED task of activity ?1 scheduled at or before ?2 becomes STARTED by worker ?3.
// The literal activity_arn <> '' lets the planner use the partial index tasks_by_activity.
constexpr const char* kClaimActivityTask =
    "UPDATE tasks SET status = 'STARTED', worker_name = ?3 WHERE token = (SELECT token FROM tasks "
    "WHERE activity_arn = ?1 AND activity_arn <> '' AND status = 'SCHEDULED' AND scheduled <= ?2 "
    "ORDER BY scheduled, token LIMIT 1) RETURNING " STEPD_TASK_COLUMNS;

constexpr const char* kReleaseActivityTask =
    "UPDATE tasks SET status = 'SCHEDULED', worker_name = '' WHERE token = ?1 "
    "AND status = 'STARTED' AND worker_name = ?2";

constexpr const char* kInsertActivity =
    "INSERT INTO activities (arn, name, tags_json, created) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT DO NOTHING";
constexpr const char* kGetActivity =
    "SELECT arn, name, tags_json, created FROM activities WHERE arn = ?1";
constexpr const char* kListActivities =
    "SELECT arn, name, tags_json, created FROM activities WHERE (name, arn) > (?1, ?2) "
    "ORDER BY name, arn LIMIT ?3";
constexpr const char* kDeleteActivity = "DELETE FROM activities WHERE arn = ?1";
constexpr const char* kSetActivityTags = "UPDATE activities SET tags_json = ?2 WHERE arn = ?1";

constexpr const char* kPutRoute =
    "INSERT OR REPLACE INTO routes (kind, name, url, updated) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kDeleteRoute = "DELETE FROM routes WHERE kind = ?1 AND name = ?2";
constexpr const char* kListRoutes =
    "SELECT kind, name, url, updated FROM routes ORDER BY kind, name";

constexpr const char* kTaskPartition = "SELECT part FROM tasks WHERE token = ?1";
// DO NOTHING: a second outcome of a token (task_messages_one_outcome) inserts no row.
constexpr const char* kInsertTaskMessage =
    "INSERT INTO task_messages (token, kind, body, part, created) VALUES (?1, ?2, ?3, ?4, ?5) "
    "ON CONFLICT DO NOTHING";
constexpr const char* kTaskMessagesOfPartition =
    "SELECT id, token, kind, body, part, created FROM task_messages WHERE part = ?1 ORDER BY id "
    "LIMIT ?2";
constexpr const char* kDeleteTaskMessage = "DELETE FROM task_messages WHERE id = ?1";

constexpr const char* kInsertAudit =
    "INSERT INTO audit (time, key_id, remote, operation, resource, outcome, request_id) VALUES "
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7)";

// The audit query for each combination of filters (bit 0: key_id ?2, bit 1: operation ?3, bit 2:
// resource ?4), newest first from before id ?1, at most ?5 rows. Only the filters in use appear,
// so the planner can pick the index of one of them. Kept for the process's life: a statement is
// cached by the address of its text.
const std::array<std::string, 8>& list_audit_queries() {
  static const std::array<std::string, 8> queries = [] {
    std::array<std::string, 8> out;
    for (int mask = 0; mask < 8; ++mask) {
      std::string sql =
          "SELECT id, time, key_id, remote, operation, resource, outcome, request_id FROM audit "
          "WHERE id < ?1";
      if (mask & 1) sql += " AND key_id = ?2";
      if (mask & 2) sql += " AND operation = ?3";
      if (mask & 4) sql += " AND resource = ?4";
      sql += " ORDER BY id DESC LIMIT ?5";
      out[static_cast<std::size_t>(mask)] = std::move(sql);
    }
    return out;
  }();
  return queries;
}

constexpr const char* kFence = "SELECT node, epoch FROM partitions WHERE id = ?1";
constexpr const char* kRenewLeases = "UPDATE partitions SET expires = ?2 WHERE node = ?1";
constexpr const char* kLeasesBelow =
    "SELECT id, node, epoch, expires FROM partitions WHERE id < ?1 ORDER BY id";
constexpr const char* kInsertLease =
    "INSERT INTO partitions (id, node, epoch, expires) VALUES (?1, ?2, 1, ?3)";
constexpr const char* kTakeLease =
    "UPDATE partitions SET node = ?2, epoch = epoch + 1, expires = ?3 WHERE id = ?1";
constexpr const char* kLeasesOf =
    "SELECT id, node, epoch, expires FROM partitions WHERE node = ?1 ORDER BY id";
constexpr const char* kAllLeases = "SELECT id, node, epoch, expires FROM partitions ORDER BY id";
constexpr const char* kReleaseLeases = "UPDATE partitions SET node = '' WHERE node = ?1";

// --- Errors -------------------------------------------------------------------------------------

bool is_unavailable(int rc) {
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_READONLY:
      return true;
    default:
      return false;
  }
}

Error db_error(sqlite3* db, int rc, std::string_view doing) {
  std::string message = "SQLite failed to ";
  message += doing;
  message += ": ";
  message += db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  return Error{is_unavailable(rc) ? ErrorCode::Unavailable : ErrorCode::Internal,
               std::move(message)};
}

Error not_found(std::string what) {
  return Error{ErrorCode::NotFound, std::move(what) + " does not exist"};
}

Error invalid(std::string message) { return Error{ErrorCode::InvalidArgument, std::move(message)}; }

#define STEPD_TRY(expr)                                \
  do {                                                 \
    Status try_status_ = (expr);                       \
    if (!try_status_.ok()) return try_status_.error(); \
  } while (false)

// --- Statements and connections -----------------------------------------------------------------

// A cached prepared statement in use; resets it when done. Bound text is SQLITE_STATIC: the caller
// keeps it alive until the statement is reset (the Stmt's scope).
class Stmt {
 public:
  Stmt(sqlite3* db, sqlite3_stmt* s) : db_(db), s_(s) {}
  Stmt(Stmt&& other) noexcept : db_(other.db_), s_(std::exchange(other.s_, nullptr)) {}
  Stmt& operator=(Stmt&&) = delete;
  ~Stmt() {
    if (s_ != nullptr) sqlite3_reset(s_);
  }

  void bind(int i, std::string_view v) {
    sqlite3_bind_text(s_, i, v.data() != nullptr ? v.data() : "", static_cast<int>(v.size()),
                      SQLITE_STATIC);
  }
  void bind(int i, const char* v) { bind(i, std::string_view(v)); }
  void bind(int i, const std::string& v) { bind(i, std::string_view(v)); }
  void bind(int i, std::int64_t v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, int v) { sqlite3_bind_int64(s_, i, v); }
  void bind(int i, const std::optional<std::string>& v) {
    if (v) {
      bind(i, std::string_view(*v));
    } else {
      sqlite3_bind_null(s_, i);
    }
  }
  void bind(int i, const std::optional<std::int64_t>& v) {
    if (v) {
      sqlite3_bind_int64(s_, i, *v);
    } else {
      sqlite3_bind_null(s_, i);
    }
  }
  void bind(int i, const std::optional<int>& v) {
    if (v) {
      sqlite3_bind_int64(s_, i, *v);
    } else {
      sqlite3_bind_null(s_, i);
    }
  }

  // Steps once: true for a row, false when done; an Error otherwise.
  Result<bool> step(std::string_view doing) {
    int rc = sqlite3_step(s_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return db_error(db_, rc, doing);
  }
  // Runs a statement that returns no rows.
  Status run(std::string_view doing) {
    int rc;
    while ((rc = sqlite3_step(s_)) == SQLITE_ROW) {
    }
    if (rc != SQLITE_DONE) return db_error(db_, rc, doing);
    return {};
  }
  int changes() const { return sqlite3_changes(db_); }
  void reset() { sqlite3_reset(s_); }

  std::string text(int col) const {
    const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p == nullptr ? std::string() : std::string(p, sqlite3_column_bytes(s_, col));
  }
  std::optional<std::string> opt_text(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
    return text(col);
  }
  std::int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  int i32(int col) const { return sqlite3_column_int(s_, col); }
  std::optional<std::int64_t> opt_i64(int col) const {
    if (sqlite3_column_type(s_, col) == SQLITE_NULL) return std::nullopt;
    return i64(col);
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_;
};

class Conn {
 public:
  ~Conn() {
    for (auto& [sql, stmt] : cache_) sqlite3_finalize(stmt);
    sqlite3_close_v2(db_);
  }

  static Result<std::unique_ptr<Conn>> open(const SqliteOptions& options, bool writer) {
    auto conn = std::make_unique<Conn>();
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
    if (writer) flags |= SQLITE_OPEN_CREATE;
    int rc = sqlite3_open_v2(options.path.c_str(), &conn->db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string message = "cannot open SQLite database " + options.path + ": " +
                            (conn->db_ != nullptr ? sqlite3_errmsg(conn->db_) : sqlite3_errstr(rc));
      return Error{is_unavailable(rc) ? ErrorCode::Unavailable : ErrorCode::Internal, message};
    }
    sqlite3_extended_result_codes(conn->db_, 1);
    sqlite3_busy_timeout(conn->db_, options.busy_timeout_ms);
    if (writer) {
      if (options.path != ":memory:") {
        Result<std::string> mode = conn->pragma("journal_mode = WAL");
        if (!mode) return mode.error();
        if (*mode != "wal") {
          return Error{ErrorCode::Unavailable, "cannot put SQLite database " + options.path +
                                                   " in WAL mode (it is in " + *mode + " mode)"};
        }
      }
      STEPD_TRY(conn->exec(options.synchronous_full ? "PRAGMA synchronous = FULL"
                                                    : "PRAGMA synchronous = NORMAL"));
      STEPD_TRY(conn->exec("PRAGMA cache_size = -16000"));
      STEPD_TRY(conn->exec(
          ("PRAGMA wal_autocheckpoint = " + std::to_string(options.wal_autocheckpoint)).c_str()));
    } else {
      STEPD_TRY(conn->exec("PRAGMA query_only = 1"));
      STEPD_TRY(conn->exec("PRAGMA cache_size = -8000"));
    }
    STEPD_TRY(conn->exec("PRAGMA foreign_keys = OFF"));
    STEPD_TRY(conn->exec("PRAGMA temp_store = MEMORY"));
    return conn;
  }

  // The cached statement for `sql` (a kXxx constant: keyed by address).
  Result<Stmt> prepare(const char* sql) {
    auto it = cache_.find(sql);
    if (it != cache_.end()) return Stmt(db_, it->second);
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
    if (rc != SQLITE_OK) return db_error(db_, rc, "prepare a statement");
    cache_.emplace(sql, stmt);
    return Stmt(db_, stmt);
  }

  // Runs SQL text once (no cache): pragmas, schema.
  Status exec(const char* sql) {
    char* message = nullptr;
    int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
      std::string text = message != nullptr ? message : sqlite3_errstr(rc);
      sqlite3_free(message);
      return Error{is_unavailable(rc) ? ErrorCode::Unavailable : ErrorCode::Internal,
                   std::string("SQLite failed to run \"") + sql + "\": " + text};
    }
    return {};
  }

  // The first column of the first row of `PRAGMA <body>`, as text.
  Result<std::string> pragma(std::string_view body) {
    std::string sql = "PRAGMA ";
    sql += body;
    sqlite3_stmt* stmt = nullptr;
    int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    if (rc != SQLITE_OK) return db_error(db_, rc, "prepare " + sql);
    rc = sqlite3_step(stmt);
    std::string value;
    if (rc == SQLITE_ROW) {
      const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
      if (p != nullptr) value = p;
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return db_error(db_, rc, "run " + sql);
    return value;
  }

  sqlite3* db() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::unordered_map<const char*, sqlite3_stmt*> cache_;
};

#define STEPD_PREPARE(var, conn, sql)               \
  auto var##_result_ = (conn).prepare(sql);         \
  if (!var##_result_) return var##_result_.error(); \
  Stmt& var = *var##_result_

// --- Page tokens --------------------------------------------------------------------------------
// A token is base64url (no padding) of "<kind>:<key>"; the kind keeps one list's token out of
// another list.

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    std::uint32_t v = (static_cast<unsigned char>(in[i]) << 16) |
                      (static_cast<unsigned char>(in[i + 1]) << 8) |
                      static_cast<unsigned char>(in[i + 2]);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += kBase64[v & 63];
  }
  if (i + 1 == in.size()) {
    std::uint32_t v = static_cast<unsigned char>(in[i]) << 16;
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    std::uint32_t v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() % 4 == 1) return std::nullopt;
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '-') {
      v = 62;
    } else if (c == '_') {
      v = 63;
    } else {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

constexpr char kKeySeparator = '\x1f';

std::string make_token(char kind, std::string_view a, std::string_view b = {}) {
  std::string raw;
  raw += kind;
  raw += ':';
  raw += a;
  raw += kKeySeparator;
  raw += b;
  return base64_encode(raw);
}

// The two key parts of a token of `kind`; nullopt when it is not one.
std::optional<std::pair<std::string, std::string>> parse_token(std::string_view token, char kind) {
  std::optional<std::string> raw = base64_decode(token);
  if (!raw || raw->size() < 3 || (*raw)[0] != kind || (*raw)[1] != ':') return std::nullopt;
  std::size_t sep = raw->find(kKeySeparator, 2);
  if (sep == std::string::npos) return std::nullopt;
  return std::make_pair(raw->substr(2, sep - 2), raw->substr(sep + 1));
}

using store_detail::check_max;
using store_detail::check_page_size;
using store_detail::invalid_next_token;
using store_detail::parse_i64;

// --- Reading results ----------------------------------------------------------------------------

// Appends read_row(st) to `out` for each row `st` yields.
template <typename T, typename Read>
Status append_rows(Stmt& st, std::string_view doing, std::vector<T>& out, Read read_row) {
  for (;;) {
    Result<bool> row = st.step(doing);
    if (!row) return row.error();
    if (!*row) return {};
    out.push_back(read_row(st));
  }
}

// Fills a page from `st`, which asks for one row more than `page_size`: up to page_size rows
// read by read_row(st) go to out.items; when the extra row comes, out.next_token becomes
// token_of(the last item kept).
template <typename T, typename Read, typename TokenOf>
Status read_page(Stmt& st, int page_size, std::string_view doing, Page<T>& out, Read read_row,
                 TokenOf token_of) {
  for (;;) {
    Result<bool> row = st.step(doing);
    if (!row) return row.error();
    if (!*row) return {};
    if (static_cast<int>(out.items.size()) == page_size) {
      out.next_token = token_of(out.items.back());
      return {};
    }
    out.items.push_back(read_row(st));
  }
}

// `partitions` sorted, each once.
std::vector<int> distinct_sorted(const std::vector<int>& partitions) {
  std::vector<int> parts = partitions;
  std::sort(parts.begin(), parts.end());
  parts.erase(std::unique(parts.begin(), parts.end()), parts.end());
  return parts;
}

// Inserts a revision row; AlreadyExists "revision <id> of state machine <arn> already exists"
// when the machine has that revision already.
Status insert_revision(Conn& c, std::string_view machine_arn, std::string_view revision_id,
                       std::string_view definition, std::string_view role_arn,
                       std::int64_t created) {
  STEPD_PREPARE(rev, c, kInsertRevision);
  rev.bind(1, machine_arn);
  rev.bind(2, revision_id);
  rev.bind(3, definition);
  rev.bind(4, role_arn);
  rev.bind(5, created);
  STEPD_TRY(rev.run("insert a revision"));
  if (rev.changes() == 0) {
    return Error{ErrorCode::AlreadyExists, "revision " + std::string(revision_id) +
                                               " of state machine " + std::string(machine_arn) +
                                               " already exists"};
  }
  return {};
}

// --- Row readers --------------------------------------------------------------------------------

void bind_machine(Stmt& st, const StateMachineRecord& m) {
  st.bind(1, m.arn);
  st.bind(2, m.name);
  st.bind(3, m.type);
  st.bind(4, m.definition);
  st.bind(5, m.role_arn);
  st.bind(6, m.revision_id);
  st.bind(7, m.status);
  st.bind(8, m.description);
  st.bind(9, m.tags_json);
  st.bind(10, m.logging_json);
  st.bind(11, m.tracing_json);
  st.bind(12, m.created);
  st.bind(13, m.updated);
}

StateMachineRecord read_machine(const Stmt& st) {
  StateMachineRecord m;
  m.arn = st.text(0);
  m.name = st.text(1);
  m.type = st.text(2);
  m.definition = st.text(3);
  m.role_arn = st.text(4);
  m.revision_id = st.text(5);
  m.status = st.text(6);
  m.description = st.text(7);
  m.tags_json = st.text(8);
  m.logging_json = st.text(9);
  m.tracing_json = st.text(10);
  m.created = st.i64(11);
  m.updated = st.i64(12);
  return m;
}

ExecutionRecord read_execution(const Stmt& st) {
  ExecutionRecord e;
  e.arn = st.text(0);
  e.machine_arn = st.text(1);
  e.revision_id = st.text(2);
  e.name = st.text(3);
  e.type = st.text(4);
  e.status = st.text(5);
  e.input = st.text(6);
  e.output = st.opt_text(7);
  e.error = st.opt_text(8);
  e.cause = st.opt_text(9);
  e.start = st.i64(10);
  e.stop = st.opt_i64(11);
  e.trace_header = st.text(12);
  e.redrive_count = st.i32(13);
  e.redrive_date = st.opt_i64(14);
  e.last_event_id = st.i64(15);
  e.version = st.i64(16);
  e.partition = st.i32(17);
  e.compensation = st.opt_text(18);
  return e;
}

TaskRecord read_task(const Stmt& st) {
  TaskRecord t;
  t.token = st.text(0);
  t.execution_arn = st.text(1);
  t.frame_id = st.text(2);
  t.state_name = st.text(3);
  t.resource = st.text(4);
  t.activity_arn = st.text(5);
  t.input = st.text(6);
  t.status = st.text(7);
  t.worker_name = st.text(8);
  t.scheduled = st.i64(9);
  t.heartbeat_due = st.opt_i64(10);
  t.timeout_due = st.opt_i64(11);
  t.partition = st.i32(12);
  return t;
}

PartitionLease read_lease(const Stmt& st) {
  return PartitionLease{st.i32(0), st.text(1), st.i64(2), st.i64(3)};
}

ActivityRecord read_activity(const Stmt& st) {
  return ActivityRecord{st.text(0), st.text(1), st.text(2), st.i64(3)};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

// --- Impl ---------------------------------------------------------------------------------------

struct SqliteStore::Impl {
  SqliteOptions options;
  bool memory = false;
  std::mutex write_mu;
  std::unique_ptr<Conn> writer;
  std::mutex pool_mu;
  std::vector<std::unique_ptr<Conn>> idle_readers;

  // Runs f(conn) inside BEGIN IMMEDIATE ... COMMIT on the writer; rolls back when f fails.
  template <typename F>
  Status write(F&& f) {
    std::lock_guard lock(write_mu);
    Conn& c = *writer;
    {
      STEPD_PREPARE(begin, c, kBegin);
      STEPD_TRY(begin.run("begin a write transaction"));
    }
    Status s = f(c);
    if (s.ok()) {
      auto commit = c.prepare(kCommit);
      if (commit)
        s = commit->run("commit");
      else
        s = commit.error();
      if (s.ok()) return s;
    }
    if (!sqlite3_get_autocommit(c.db())) {
      auto rollback = c.prepare(kRollback);
      if (rollback) (void)rollback->run("roll back");
    }
    return s;
  }

  // Runs f(conn) on a read connection (each statement sees one committed state).
  template <typename F>
  auto read(F&& f) -> decltype(f(std::declval<Conn&>())) {
    if (memory) {
      std::lock_guard lock(write_mu);
      return f(*writer);
    }
    std::unique_ptr<Conn> c;
    {
      std::lock_guard lock(pool_mu);
      if (!idle_readers.empty()) {
        c = std::move(idle_readers.back());
        idle_readers.pop_back();
      }
    }
    if (c == nullptr) {
      auto opened = Conn::open(options, /*writer=*/false);
      if (!opened) return opened.error();
      c = std::move(*opened);
    }
    auto result = f(*c);
    {
      std::lock_guard lock(pool_mu);
      if (static_cast<int>(idle_readers.size()) < options.max_idle_readers) {
        idle_readers.push_back(std::move(c));
      }
    }
    return result;
  }

  // The row `sql` (?1 = key) yields, read by read_row(stmt); NotFound "<noun> <key> does not
  // exist" when there is none.
  template <typename Read>
  auto get_by_key(const char* sql, std::string_view key, std::string_view doing,
                  std::string_view noun, Read read_row)
      -> Result<decltype(read_row(std::declval<const Stmt&>()))> {
    return read([&](Conn& c) -> Result<decltype(read_row(std::declval<const Stmt&>()))> {
      STEPD_PREPARE(st, c, sql);
      st.bind(1, key);
      Result<bool> row = st.step(doing);
      if (!row) return row.error();
      if (!*row) return not_found(std::string(noun) + " " + std::string(key));
      return read_row(st);
    });
  }

  // Every row `sql` (?1 = key) yields, each read by read_row(stmt).
  template <typename Read>
  auto rows_by_key(const char* sql, std::string_view key, std::string_view doing, Read read_row)
      -> Result<std::vector<decltype(read_row(std::declval<const Stmt&>()))>> {
    using Row = decltype(read_row(std::declval<const Stmt&>()));
    return read([&](Conn& c) -> Result<std::vector<Row>> {
      STEPD_PREPARE(st, c, sql);
      st.bind(1, key);
      std::vector<Row> out;
      STEPD_TRY(append_rows(st, doing, out, read_row));
      return out;
    });
  }

  // Runs the write `sql` on the row with ?1 = key (and ?2 = value when given); NotFound "<noun>
  // <key> does not exist" when it changed no row.
  Status write_existing(const char* sql, std::string_view key,
                        std::optional<std::string_view> value, std::string_view doing,
                        std::string_view noun) {
    return write([&](Conn& c) -> Status {
      STEPD_PREPARE(st, c, sql);
      st.bind(1, key);
      if (value) st.bind(2, *value);
      STEPD_TRY(st.run(doing));
      if (st.changes() == 0) return not_found(std::string(noun) + " " + std::string(key));
      return {};
    });
  }

  // One page of a table listed by (name, arn) (state machines, activities): `kind` marks its
  // tokens; `sql` continues after (?1 name, ?2 arn) with at most ?3 rows.
  template <typename T, typename Read>
  Result<Page<T>> list_by_name(const PageRequest& page, char kind, const char* sql,
                               std::string_view doing, Read read_row) {
    STEPD_TRY(check_page_size(page));
    std::string after_name;
    std::string after_arn;
    if (!page.next_token.empty()) {
      auto key = parse_token(page.next_token, kind);
      if (!key) return invalid_next_token();
      after_name = std::move(key->first);
      after_arn = std::move(key->second);
    }
    return read([&](Conn& c) -> Result<Page<T>> {
      STEPD_PREPARE(st, c, sql);
      st.bind(1, after_name);
      st.bind(2, after_arn);
      st.bind(3, page.max_results + 1);
      Page<T> out;
      STEPD_TRY(read_page(st, page.max_results, doing, out, read_row,
                          [&](const T& last) { return make_token(kind, last.name, last.arn); }));
      return out;
    });
  }

  Status apply_write(Conn& c, const ExecutionWrite& w, std::int64_t eid,
                     std::int64_t first_event_id);
};

// Appends the events and applies the row changes of one write whose execution row is in place.
Status SqliteStore::Impl::apply_write(Conn& c, const ExecutionWrite& w, std::int64_t eid,
                                      std::int64_t first_event_id) {
  std::int64_t expect = first_event_id;
  for (const HistoryEvent& ev : w.events) {
    if (ev.id != expect) {
      return invalid("execution " + w.execution_arn + ": event id " + std::to_string(ev.id) +
                     " does not follow " + std::to_string(expect - 1));
    }
    ++expect;
  }
  // Runs `sql` once per item, bound by bind(stmt, item).
  auto each = [&](const char* sql, const auto& items, auto&& bind,
                  std::string_view doing) -> Status {
    if (items.empty()) return {};
    STEPD_PREPARE(st, c, sql);
    for (const auto& item : items) {
      bind(st, item);
      STEPD_TRY(st.run(doing));
      st.reset();
    }
    return {};
  };
  STEPD_TRY(each(
      kInsertEvent, w.events,
      [&](Stmt& st, const HistoryEvent& ev) {
        st.bind(1, eid);
        st.bind(2, ev.id);
        st.bind(3, ev.previous_id);
        st.bind(4, ev.timestamp);
        st.bind(5, ev.type);
        st.bind(6, ev.details);
      },
      "append a history event"));
  STEPD_TRY(each(
      kPutFrame, w.frames_put,
      [&](Stmt& st, const FrameRecord& f) {
        st.bind(1, eid);
        st.bind(2, f.frame_id);
        st.bind(3, f.data);
      },
      "store a frame"));
  STEPD_TRY(each(
      kDeleteFrame, w.frames_delete,
      [&](Stmt& st, const std::string& id) {
        st.bind(1, eid);
        st.bind(2, id);
      },
      "delete a frame"));
  STEPD_TRY(each(
      kDeleteMapResults, w.map_results_delete,
      [&](Stmt& st, const std::string& id) {
        st.bind(1, eid);
        st.bind(2, id);
      },
      "delete map results"));
  STEPD_TRY(each(
      kPutMapResult, w.map_results_put,
      [&](Stmt& st, const MapResultRecord& m) {
        st.bind(1, eid);
        st.bind(2, m.frame_id);
        st.bind(3, m.index);
        st.bind(4, m.output);
      },
      "store a map result"));
  STEPD_TRY(each(
      kDeleteTimer, w.timers_delete,
      [&](Stmt& st, const std::string& id) {
        st.bind(1, w.execution_arn);
        st.bind(2, id);
      },
      "delete a timer"));
  STEPD_TRY(each(
      kPutTimer, w.timers_put,
      [&](Stmt& st, const TimerRecord& t) {
        st.bind(1, w.execution_arn);
        st.bind(2, t.timer_id);
        st.bind(3, t.due);
        st.bind(4, t.partition);
      },
      "store a timer"));
  STEPD_TRY(each(
      kDeleteTask, w.tasks_delete, [&](Stmt& st, const std::string& token) { st.bind(1, token); },
      "delete a task"));
  STEPD_TRY(each(
      kPutTask, w.tasks_put,
      [&](Stmt& st, const TaskRecord& t) {
        st.bind(1, t.token);
        st.bind(2, t.execution_arn);
        st.bind(3, t.frame_id);
        st.bind(4, t.state_name);
        st.bind(5, t.resource);
        st.bind(6, t.activity_arn);
        st.bind(7, t.input);
        st.bind(8, t.status);
        st.bind(9, t.worker_name);
        st.bind(10, t.scheduled);
        st.bind(11, t.heartbeat_due);
        st.bind(12, t.timeout_due);
        st.bind(13, t.partition);
      },
      "store a task"));
  STEPD_TRY(each(
      kStartTask, w.tasks_started,
      [&](Stmt& st, const ExecutionWrite::TaskStarted& t) {
        st.bind(1, t.token);
        st.bind(2, t.worker_name);
      },
      "mark a task started"));
  return {};
}

// --- Opening ------------------------------------------------------------------------------------

Result<SqliteOptions> parse_sqlite_url(const std::string& url) {
  std::string_view rest = url;
  if (rest.starts_with("sqlite:")) {
    rest.remove_prefix(7);
    if (rest.starts_with("//")) rest.remove_prefix(2);
  }
  SqliteOptions options;
  std::size_t q = rest.find('?');
  options.path = std::string(rest.substr(0, q));
  if (options.path.empty()) return invalid("SQLite store URL " + url + " names no file");
  if (q != std::string_view::npos) {
    std::string_view query = rest.substr(q + 1);
    while (!query.empty()) {
      std::size_t amp = query.find('&');
      std::string_view param = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      std::size_t eq = param.find('=');
      std::string key(param.substr(0, eq));
      std::string value = eq == std::string_view::npos ? "" : std::string(param.substr(eq + 1));
      if (key == "synchronous") {
        std::string v = lower(value);
        if (v == "full") {
          options.synchronous_full = true;
        } else if (v == "normal") {
          options.synchronous_full = false;
        } else {
          return invalid("SQLite store URL " + url + ": synchronous must be full or normal, got " +
                         value);
        }
      } else if (key == "busy_timeout") {
        std::optional<std::int64_t> ms = parse_i64(value);
        if (!ms || *ms < 0 || *ms > std::numeric_limits<int>::max()) {
          return invalid("SQLite store URL " + url +
                         ": busy_timeout must be a number of milliseconds, got " + value);
        }
        options.busy_timeout_ms = static_cast<int>(*ms);
      } else {
        return invalid("SQLite store URL " + url + ": unknown parameter " + key);
      }
    }
  }
  return options;
}

Result<std::unique_ptr<Store>> open_sqlite_store(const std::string& url) {
  Result<SqliteOptions> options = parse_sqlite_url(url);
  if (!options) return options.error();
  auto store = SqliteStore::open(*options);
  if (!store) return store.error();
  return std::unique_ptr<Store>(std::move(*store));
}

SqliteStore::SqliteStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SqliteStore::~SqliteStore() = default;

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const SqliteOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->memory = options.path == ":memory:";
  auto writer = Conn::open(options, /*writer=*/true);
  if (!writer) return writer.error();
  impl->writer = std::move(*writer);
  return std::unique_ptr<SqliteStore>(new SqliteStore(std::move(impl)));
}

int SqliteStore::current_schema_version() { return static_cast<int>(kMigrations.size()); }

Result<std::string> SqliteStore::pragma(std::string_view name) {
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_') {
      return invalid("not a pragma name: " + std::string(name));
    }
  }
  std::lock_guard lock(impl_->write_mu);
  return impl_->writer->pragma(name);
}

// --- Schema -------------------------------------------------------------------------------------

Status SqliteStore::migrate() {
  return impl_->write([&](Conn& c) -> Status {
    Result<std::string> version_text = c.pragma("user_version");
    if (!version_text) return version_text.error();
    int version = std::atoi(version_text->c_str());
    const int current = current_schema_version();
    if (version > current) {
      return Error{ErrorCode::Internal, "the SQLite database is at schema version " +
                                            std::to_string(version) + ", newer than this build's " +
                                            std::to_string(current)};
    }
    for (int i = version; i < current; ++i) STEPD_TRY(c.exec(kMigrations[i]));
    if (version != current) {
      STEPD_TRY(c.exec(("PRAGMA user_version = " + std::to_string(current)).c_str()));
    }
    return {};
  });
}

Result<int> SqliteStore::schema_version() {
  return impl_->read([&](Conn& c) -> Result<int> {
    STEPD_PREPARE(st, c, kUserVersion);
    Result<bool> row = st.step("read the schema version");
    if (!row) return row.error();
    return *row ? st.i32(0) : 0;
  });
}

// --- State machines -----------------------------------------------------------------------------

Status SqliteStore::create_state_machine(const StateMachineRecord& machine) {
  return impl_->write([&](Conn& c) -> Status {
    {
      STEPD_PREPARE(st, c, kInsertMachine);
      bind_machine(st, machine);
      STEPD_TRY(st.run("insert a state machine"));
      if (st.changes() == 0) {
        return Error{ErrorCode::AlreadyExists, "state machine " + machine.arn + " already exists"};
      }
    }
    return insert_revision(c, machine.arn, machine.revision_id, machine.definition,
                           machine.role_arn, machine.created);
  });
}

Status SqliteStore::update_state_machine(const StateMachineRecord& machine,
                                         const RevisionRecord& revision) {
  return impl_->write([&](Conn& c) -> Status {
    {
      STEPD_PREPARE(st, c, kUpdateMachine);
      bind_machine(st, machine);
      STEPD_TRY(st.run("update a state machine"));
      if (st.changes() == 0) return not_found("state machine " + machine.arn);
    }
    return insert_revision(c, revision.machine_arn, revision.revision_id, revision.definition,
                           revision.role_arn, revision.created);
  });
}

Result<StateMachineRecord> SqliteStore::get_state_machine(std::string_view arn) {
  return impl_->get_by_key(kGetMachine, arn, "read a state machine", "state machine", read_machine);
}

Result<RevisionRecord> SqliteStore::get_revision(std::string_view machine_arn,
                                                 std::string_view revision_id) {
  return impl_->read([&](Conn& c) -> Result<RevisionRecord> {
    STEPD_PREPARE(st, c, kGetRevision);
    st.bind(1, machine_arn);
    st.bind(2, revision_id);
    Result<bool> row = st.step("read a revision");
    if (!row) return row.error();
    if (!*row) {
      return not_found("revision " + std::string(revision_id) + " of state machine " +
                       std::string(machine_arn));
    }
    return RevisionRecord{st.text(0), st.text(1), st.text(2), st.text(3), st.i64(4)};
  });
}

Result<Page<StateMachineRecord>> SqliteStore::list_state_machines(const PageRequest& page) {
  return impl_->list_by_name<StateMachineRecord>(page, 'M', kListMachines, "list state machines",
                                                 read_machine);
}

Status SqliteStore::delete_state_machine(std::string_view arn) {
  return impl_->write([&](Conn& c) -> Status {
    {
      STEPD_PREPARE(st, c, kDeleteMachine);
      st.bind(1, arn);
      STEPD_TRY(st.run("delete a state machine"));
      if (st.changes() == 0) return not_found("state machine " + std::string(arn));
    }
    STEPD_PREPARE(rev, c, kDeleteRevisions);
    rev.bind(1, arn);
    return rev.run("delete revisions");
  });
}

Status SqliteStore::set_state_machine_tags(std::string_view arn, const std::string& tags_json) {
  return impl_->write_existing(kSetMachineTags, arn, tags_json, "set the tags of a state machine",
                               "state machine");
}

// --- Commit -------------------------------------------------------------------------------------

Status SqliteStore::commit(const CommitBatch& batch, CommitConflict* conflict) {
  if (batch.writes.empty() && batch.fences.empty()) return {};
  CommitConflict found;
  Status result = impl_->write([&](Conn& c) -> Status {
    std::optional<Error> first;  // the first conflict; later checks only collect
    auto note = [&](std::string message) {
      if (!first) first = Error{ErrorCode::Conflict, std::move(message)};
    };
    if (!batch.fences.empty()) {
      STEPD_PREPARE(st, c, kFence);
      for (const Fence& f : batch.fences) {
        st.bind(1, f.partition);
        Result<bool> row = st.step("check a partition lease");
        if (!row) return row.error();
        bool held = *row && st.text(0) == f.node && st.i64(1) == f.epoch;
        st.reset();
        if (!held) {
          found.lost_partitions.push_back(f.partition);
          note("partition " + std::to_string(f.partition) + " is no longer held by " + f.node +
               " at epoch " + std::to_string(f.epoch));
        }
      }
    }
    for (const ExecutionWrite& w : batch.writes) {
      if (w.create) {
        if (first) {  // only check
          STEPD_PREPARE(st, c, kExecutionKey);
          st.bind(1, w.execution_arn);
          Result<bool> row = st.step("look up an execution");
          if (!row) return row.error();
          if (*row) found.stale_executions.push_back(w.execution_arn);
          continue;
        }
        const ExecutionRecord& e = *w.create;
        const ExecutionUpdate& u = w.update;
        std::int64_t eid = 0;
        {
          STEPD_PREPARE(st, c, kInsertExecution);
          st.bind(1, w.execution_arn);
          st.bind(2, e.machine_arn);
          st.bind(3, e.revision_id);
          st.bind(4, e.name);
          st.bind(5, e.type);
          st.bind(6, u.status ? *u.status : e.status);
          st.bind(7, e.input);
          st.bind(8, u.output ? u.output : e.output);
          st.bind(9, u.error ? u.error : e.error);
          st.bind(10, u.cause ? u.cause : e.cause);
          st.bind(11, e.start);
          st.bind(12, u.stop ? u.stop : e.stop);
          st.bind(13, e.trace_header);
          st.bind(14, u.redrive_count ? *u.redrive_count : e.redrive_count);
          st.bind(15, u.redrive_date ? u.redrive_date : e.redrive_date);
          st.bind(16, static_cast<std::int64_t>(w.events.size()));
          st.bind(17, e.partition);
          st.bind(18, u.compensation ? u.compensation : e.compensation);
          STEPD_TRY(st.run("insert an execution"));
          if (st.changes() == 0) {
            found.stale_executions.push_back(w.execution_arn);
            note("execution " + w.execution_arn + " already exists");
            continue;
          }
          eid = sqlite3_last_insert_rowid(c.db());
        }
        STEPD_TRY(impl_->apply_write(c, w, eid, 1));
        continue;
      }
      std::int64_t eid = 0;
      std::int64_t version = 0;
      std::int64_t last_event_id = 0;
      {
        STEPD_PREPARE(st, c, kLocateExecution);
        st.bind(1, w.execution_arn);
        Result<bool> row = st.step("look up an execution");
        if (!row) return row.error();
        if (!*row) {
          found.stale_executions.push_back(w.execution_arn);
          note("execution " + w.execution_arn + " does not exist");
          continue;
        }
        eid = st.i64(0);
        version = st.i64(1);
        last_event_id = st.i64(2);
      }
      if (version != w.expected_version) {
        found.stale_executions.push_back(w.execution_arn);
        note("execution " + w.execution_arn + " is at version " + std::to_string(version) +
             ", not " + std::to_string(w.expected_version));
        continue;
      }
      if (first) continue;  // only checking now
      {
        const ExecutionUpdate& u = w.update;
        STEPD_PREPARE(st, c, u.status ? kUpdateExecutionStatus : kUpdateExecution);
        st.bind(1, eid);
        st.bind(2, version + 1);
        st.bind(3, last_event_id + static_cast<std::int64_t>(w.events.size()));
        if (u.status) st.bind(4, *u.status);
        st.bind(5, u.output);
        st.bind(6, u.error);
        st.bind(7, u.cause);
        st.bind(8, u.stop);
        st.bind(9, u.redrive_count);
        st.bind(10, u.redrive_date);
        st.bind(11, u.compensation);
        STEPD_TRY(st.run("update an execution"));
      }
      STEPD_TRY(impl_->apply_write(c, w, eid, last_event_id + 1));
    }
    if (first) return *first;
    return {};
  });
  if (!result.ok() && result.error().code == ErrorCode::Conflict && conflict != nullptr) {
    *conflict = std::move(found);
  }
  return result;
}

// --- Execution reads ----------------------------------------------------------------------------

Result<ExecutionRecord> SqliteStore::get_execution(std::string_view arn) {
  return impl_->get_by_key(kGetExecution, arn, "read an execution", "execution", read_execution);
}

Result<Page<ExecutionRecord>> SqliteStore::list_executions(const ExecutionFilter& filter,
                                                           const PageRequest& page) {
  STEPD_TRY(check_page_size(page));
  std::int64_t after_start = std::numeric_limits<std::int64_t>::max();
  std::string after_arn;
  if (!page.next_token.empty()) {
    auto key = parse_token(page.next_token, 'E');
    if (!key) return invalid_next_token();
    std::optional<std::int64_t> start = parse_i64(key->first);
    if (!start) return invalid_next_token();
    after_start = *start;
    after_arn = std::move(key->second);
  }
  const char* sql =
      !filter.machine_arn.empty()
          ? (!filter.status.empty() ? kListExecutionsByBoth : kListExecutionsByMachine)
          : (!filter.status.empty() ? kListExecutionsByStatus : kListExecutions);
  return impl_->read([&](Conn& c) -> Result<Page<ExecutionRecord>> {
    STEPD_PREPARE(st, c, sql);
    st.bind(1, after_start);
    st.bind(2, after_arn);
    if (!filter.machine_arn.empty()) st.bind(3, filter.machine_arn);
    if (!filter.status.empty()) st.bind(4, filter.status);
    st.bind(5, page.max_results + 1);
    Page<ExecutionRecord> out;
    STEPD_TRY(read_page(st, page.max_results, "list executions", out, read_execution,
                        [](const ExecutionRecord& last) {
                          return make_token('E', std::to_string(last.start), last.arn);
                        }));
    return out;
  });
}

Result<Page<HistoryEvent>> SqliteStore::get_history(std::string_view arn, const PageRequest& page,
                                                    bool reverse) {
  STEPD_TRY(check_page_size(page));
  std::int64_t after = reverse ? std::numeric_limits<std::int64_t>::max() : 0;
  if (!page.next_token.empty()) {
    auto key = parse_token(page.next_token, 'H');
    if (!key) return invalid_next_token();
    std::optional<std::int64_t> id = parse_i64(key->first);
    if (!id || !key->second.empty()) return invalid_next_token();
    after = *id;
  }
  return impl_->read([&](Conn& c) -> Result<Page<HistoryEvent>> {
    std::int64_t eid = 0;
    {
      STEPD_PREPARE(st, c, kExecutionKey);
      st.bind(1, arn);
      Result<bool> row = st.step("look up an execution");
      if (!row) return row.error();
      if (!*row) return not_found("execution " + std::string(arn));
      eid = st.i64(0);
    }
    STEPD_PREPARE(st, c, reverse ? kHistoryReverse : kHistoryForward);
    st.bind(1, eid);
    st.bind(2, after);
    st.bind(3, page.max_results + 1);
    Page<HistoryEvent> out;
    out.items.reserve(std::min(page.max_results, 256));
    STEPD_TRY(read_page(
        st, page.max_results, "read history", out,
        [](const Stmt& row) {
          return HistoryEvent{row.i64(0), row.i64(1), row.i64(2), row.text(3), row.text(4)};
        },
        [](const HistoryEvent& last) { return make_token('H', std::to_string(last.id)); }));
    return out;
  });
}

Result<std::vector<FrameRecord>> SqliteStore::load_frames(std::string_view arn) {
  return impl_->rows_by_key(kLoadFrames, arn, "load frames", [](const Stmt& row) {
    return FrameRecord{row.text(0), row.text(1)};
  });
}

Result<std::vector<MapResultRecord>> SqliteStore::load_map_results(std::string_view arn) {
  return impl_->rows_by_key(kLoadMapResults, arn, "load map results", [](const Stmt& row) {
    return MapResultRecord{row.text(0), row.i64(1), row.text(2)};
  });
}

Result<std::vector<std::string>> SqliteStore::open_executions(const std::vector<int>& partitions) {
  return impl_->read([&](Conn& c) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    auto collect = [&](Stmt& st) -> Status {
      return append_rows(st, "list open executions", out,
                         [](const Stmt& row) { return row.text(0); });
    };
    if (partitions.empty()) {
      STEPD_PREPARE(st, c, kOpenExecutions);
      STEPD_TRY(collect(st));
      return out;
    }
    const std::vector<int> parts = distinct_sorted(partitions);
    for (int p : parts) {
      STEPD_PREPARE(st, c, kOpenExecutionsOfPartition);
      st.bind(1, p);
      STEPD_TRY(collect(st));
    }
    if (parts.size() > 1) std::sort(out.begin(), out.end());
    return out;
  });
}

// --- Timers and tasks ---------------------------------------------------------------------------

Result<std::vector<TimerRecord>> SqliteStore::due_timers(Micros until,
                                                         const std::vector<int>& partitions,
                                                         int max) {
  STEPD_TRY(check_max(max));
  return impl_->read([&](Conn& c) -> Result<std::vector<TimerRecord>> {
    std::vector<TimerRecord> out;
    auto collect = [&](Stmt& st) -> Status {
      return append_rows(st, "read due timers", out, [](const Stmt& row) {
        return TimerRecord{row.text(0), row.text(1), row.i64(2), row.i32(3)};
      });
    };
    if (partitions.empty()) {
      STEPD_PREPARE(st, c, kDueTimers);
      st.bind(1, until);
      st.bind(2, max);
      STEPD_TRY(collect(st));
      return out;
    }
    const std::vector<int> parts = distinct_sorted(partitions);
    for (int p : parts) {
      STEPD_PREPARE(st, c, kDueTimersOfPartition);
      st.bind(1, until);
      st.bind(2, max);
      st.bind(3, p);
      STEPD_TRY(collect(st));
    }
    if (parts.size() > 1) {
      std::sort(out.begin(), out.end(), [](const TimerRecord& a, const TimerRecord& b) {
        return std::tie(a.due, a.execution_arn, a.timer_id) <
               std::tie(b.due, b.execution_arn, b.timer_id);
      });
      if (static_cast<int>(out.size()) > max) out.resize(max);
    }
    return out;
  });
}

Result<TaskRecord> SqliteStore::get_task(std::string_view token) {
  return impl_->get_by_key(kGetTask, token, "read a task", "task", read_task);
}

Result<std::vector<TaskRecord>> SqliteStore::tasks_of_execution(std::string_view arn) {
  return impl_->rows_by_key(kTasksOfExecution, arn, "read tasks", read_task);
}

// --- Audit log ----------------------------------------------------------------------------------

Status SqliteStore::append_audit(const std::vector<AuditRecord>& entries) {
  if (entries.empty()) return {};
  return impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kInsertAudit);
    for (const AuditRecord& a : entries) {
      st.bind(1, a.time);
      st.bind(2, a.key_id);
      st.bind(3, a.remote);
      st.bind(4, a.operation);
      st.bind(5, a.resource);
      st.bind(6, a.outcome);
      st.bind(7, a.request_id);
      STEPD_TRY(st.run("append to the audit log"));
      st.reset();
    }
    return {};
  });
}

Result<Page<AuditRecord>> SqliteStore::list_audit(const AuditQuery& query,
                                                  const PageRequest& page) {
  STEPD_TRY(check_page_size(page));
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (!page.next_token.empty()) {
    auto key = parse_token(page.next_token, 'A');
    if (!key || !key->second.empty()) return invalid_next_token();
    std::optional<std::int64_t> id = parse_i64(key->first);
    if (!id) return invalid_next_token();
    before = *id;
  }
  const int mask = (query.key_id.empty() ? 0 : 1) | (query.operation.empty() ? 0 : 2) |
                   (query.resource.empty() ? 0 : 4);
  const char* sql = list_audit_queries()[static_cast<std::size_t>(mask)].c_str();
  return impl_->read([&](Conn& c) -> Result<Page<AuditRecord>> {
    STEPD_PREPARE(st, c, sql);
    st.bind(1, before);
    if (mask & 1) st.bind(2, query.key_id);
    if (mask & 2) st.bind(3, query.operation);
    if (mask & 4) st.bind(4, query.resource);
    st.bind(5, page.max_results + 1);
    Page<AuditRecord> out;
    STEPD_TRY(read_page(
        st, page.max_results, "list the audit log", out,
        [](const Stmt& row) {
          return AuditRecord{row.i64(0),  row.i64(1),  row.text(2), row.text(3),
                             row.text(4), row.text(5), row.text(6), row.text(7)};
        },
        [](const AuditRecord& last) { return make_token('A', std::to_string(last.id)); }));
    return out;
  });
}

// --- Activities ---------------------------------------------------------------------------------

Status SqliteStore::create_activity(const ActivityRecord& activity) {
  return impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kInsertActivity);
    st.bind(1, activity.arn);
    st.bind(2, activity.name);
    st.bind(3, activity.tags_json);
    st.bind(4, activity.created);
    STEPD_TRY(st.run("insert an activity"));
    if (st.changes() == 0) {
      return Error{ErrorCode::AlreadyExists, "activity " + activity.arn + " already exists"};
    }
    return {};
  });
}

Result<ActivityRecord> SqliteStore::get_activity(std::string_view arn) {
  return impl_->get_by_key(kGetActivity, arn, "read an activity", "activity", read_activity);
}

Result<Page<ActivityRecord>> SqliteStore::list_activities(const PageRequest& page) {
  return impl_->list_by_name<ActivityRecord>(page, 'V', kListActivities, "list activities",
                                             read_activity);
}

Status SqliteStore::delete_activity(std::string_view arn) {
  return impl_->write_existing(kDeleteActivity, arn, std::nullopt, "delete an activity",
                               "activity");
}

Status SqliteStore::set_activity_tags(std::string_view arn, const std::string& tags_json) {
  return impl_->write_existing(kSetActivityTags, arn, tags_json, "set the tags of an activity",
                               "activity");
}

// --- Task routing registry ----------------------------------------------------------------------

Status SqliteStore::put_route(const RouteRecord& route) {
  return impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kPutRoute);
    st.bind(1, route.kind);
    st.bind(2, route.name);
    st.bind(3, route.url);
    st.bind(4, route.updated);
    return st.run("store a route");
  });
}

Status SqliteStore::delete_route(std::string_view kind, std::string_view name) {
  return impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kDeleteRoute);
    st.bind(1, kind);
    st.bind(2, name);
    STEPD_TRY(st.run("delete a route"));
    if (st.changes() == 0) {
      return not_found("route " + std::string(kind) + " " + std::string(name));
    }
    return {};
  });
}

Result<std::vector<RouteRecord>> SqliteStore::list_routes() {
  return impl_->read([&](Conn& c) -> Result<std::vector<RouteRecord>> {
    STEPD_PREPARE(st, c, kListRoutes);
    std::vector<RouteRecord> out;
    STEPD_TRY(append_rows(st, "list routes", out, [](const Stmt& row) {
      return RouteRecord{row.text(0), row.text(1), row.text(2), row.i64(3)};
    }));
    return out;
  });
}

// --- Tasks across nodes -------------------------------------------------------------------------

Result<std::optional<TaskRecord>> SqliteStore::claim_activity_task(std::string_view activity_arn,
                                                                   Micros scheduled_before,
                                                                   const std::string& worker) {
  std::optional<TaskRecord> claimed;
  Status s = impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kClaimActivityTask);
    st.bind(1, activity_arn);
    st.bind(2, scheduled_before);
    st.bind(3, worker);
    Result<bool> row = st.step("claim an activity task");
    if (!row) return row.error();
    if (*row) claimed = read_task(st);
    return st.run("claim an activity task");
  });
  if (!s.ok()) return s.error();
  return claimed;
}

Result<bool> SqliteStore::release_activity_task(std::string_view token,
                                                const std::string& worker) {
  bool released = false;
  Status s = impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kReleaseActivityTask);
    st.bind(1, token);
    st.bind(2, worker);
    STEPD_TRY(st.run("release an activity task"));
    released = st.changes() > 0;
    return Status{};
  });
  if (!s.ok()) return s.error();
  return released;
}

Status SqliteStore::post_task_message(const TaskMessage& message) {
  return impl_->write([&](Conn& c) -> Status {
    int partition = 0;
    {
      STEPD_PREPARE(st, c, kTaskPartition);
      st.bind(1, message.token);
      Result<bool> row = st.step("look up a task");
      if (!row) return row.error();
      if (!*row) return not_found("task " + message.token);
      partition = st.i32(0);
    }
    STEPD_PREPARE(st, c, kInsertTaskMessage);
    st.bind(1, message.token);
    st.bind(2, message.kind);
    st.bind(3, message.body);
    st.bind(4, partition);
    st.bind(5, message.created);
    STEPD_TRY(st.run("store a task message"));
    if (st.changes() == 0) {
      return Error{ErrorCode::AlreadyExists, "task " + message.token + " already has an outcome"};
    }
    return {};
  });
}

Result<std::vector<TaskMessage>> SqliteStore::task_messages(const std::vector<int>& partitions,
                                                            int max) {
  STEPD_TRY(check_max(max));
  const std::vector<int> parts = distinct_sorted(partitions);
  return impl_->read([&](Conn& c) -> Result<std::vector<TaskMessage>> {
    std::vector<TaskMessage> out;
    for (int p : parts) {
      STEPD_PREPARE(st, c, kTaskMessagesOfPartition);
      st.bind(1, p);
      st.bind(2, max);
      STEPD_TRY(append_rows(st, "read task messages", out, [](const Stmt& row) {
        return TaskMessage{row.i64(0),  row.text(1), row.text(2),
                           row.text(3), row.i32(4),  row.i64(5)};
      }));
    }
    if (parts.size() > 1) {
      std::sort(out.begin(), out.end(),
                [](const TaskMessage& a, const TaskMessage& b) { return a.id < b.id; });
      if (static_cast<int>(out.size()) > max) out.resize(static_cast<std::size_t>(max));
    }
    return out;
  });
}

Status SqliteStore::delete_task_messages(const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return {};
  return impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kDeleteTaskMessage);
    for (std::int64_t id : ids) {
      st.bind(1, id);
      STEPD_TRY(st.run("delete a task message"));
      st.reset();
    }
    return {};
  });
}

// --- Partition leases ---------------------------------------------------------------------------

Result<std::vector<PartitionLease>> SqliteStore::acquire_partitions(const std::string& node,
                                                                    int partitions,
                                                                    int max_partitions, Micros now,
                                                                    Micros ttl) {
  if (node.empty()) return invalid("node must not be empty");
  if (partitions < 1) {
    return invalid("partitions must be at least 1, got " + std::to_string(partitions));
  }
  if (max_partitions < 0) {
    return invalid("max_partitions must be at least 0, got " + std::to_string(max_partitions));
  }
  if (ttl <= 0) return invalid("ttl must be positive, got " + std::to_string(ttl));
  const Micros expires = now + ttl;
  std::vector<PartitionLease> held;
  Status s = impl_->write([&](Conn& c) -> Status {
    int count = 0;
    {
      STEPD_PREPARE(st, c, kRenewLeases);
      st.bind(1, node);
      st.bind(2, expires);
      STEPD_TRY(st.run("renew partition leases"));
      count = st.changes();
    }
    if (count < max_partitions) {
      std::vector<PartitionLease> rows;
      {
        STEPD_PREPARE(st, c, kLeasesBelow);
        st.bind(1, partitions);
        STEPD_TRY(append_rows(st, "read partition leases", rows, read_lease));
      }
      std::size_t next_row = 0;
      for (int p = 0; p < partitions && count < max_partitions; ++p) {
        while (next_row < rows.size() && rows[next_row].partition < p) ++next_row;
        const bool has_row = next_row < rows.size() && rows[next_row].partition == p;
        if (has_row) {
          const PartitionLease& lease = rows[next_row];
          if (lease.node == node || (!lease.node.empty() && lease.expires > now)) continue;
        }
        // A partition with a row changes hands; one without gets its first row.
        STEPD_PREPARE(st, c, has_row ? kTakeLease : kInsertLease);
        st.bind(1, p);
        st.bind(2, node);
        st.bind(3, expires);
        STEPD_TRY(st.run("take a partition lease"));
        ++count;
      }
    }
    STEPD_PREPARE(st, c, kLeasesOf);
    st.bind(1, node);
    return append_rows(st, "read partition leases", held, read_lease);
  });
  if (!s.ok()) return s.error();
  return held;
}

Status SqliteStore::release_partitions(const std::string& node) {
  return impl_->write([&](Conn& c) -> Status {
    STEPD_PREPARE(st, c, kReleaseLeases);
    st.bind(1, node);
    return st.run("release partition leases");
  });
}

Result<std::vector<PartitionLease>> SqliteStore::list_partitions() {
  return impl_->read([&](Conn& c) -> Result<std::vector<PartitionLease>> {
    std::vector<PartitionLease> out;
    STEPD_PREPARE(st, c, kAllLeases);
    STEPD_TRY(append_rows(st, "read partition leases", out, read_lease));
    return out;
  });
}

}  // namespace stepd::engine
