// The PostgreSQL Store (postgres_store.hpp has the contract and the design in brief).
//
// Every call is a libpq pipeline: prepared statements (Parse sent in the same pipeline the first
// time a connection uses one) followed by one Sync, so the statements of a call form one
// implicit transaction and cost one round trip. Batched rows travel as binary arrays, expanded
// server-side with unnest(). Checks that must abort a transaction call stepd_check(), which
// raises SQLSTATE SD409; the error is then explained from a fresh read (diagnose_commit).
#include "engine/store/postgres_store.hpp"

#include "engine/store/request_checks.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace stepd::engine {
namespace {

// --- Type OIDs (pg_type.dat; stable across PostgreSQL versions) -------------------------------
constexpr Oid kInt8 = 20;
constexpr Oid kInt4 = 23;
constexpr Oid kText = 25;
constexpr Oid kInt4Array = 1007;
constexpr Oid kTextArray = 1009;
constexpr Oid kInt8Array = 1016;

constexpr const char* kCheckFailed = "SD409";  // raised by stepd_check()
constexpr int kMaxPoolSize = 64;
constexpr int kDefaultPoolSize = 8;
constexpr auto kPoolWait = std::chrono::seconds(30);

// --- Schema -------------------------------------------------------------------------------------
// Migrations in order; migration i (1-based) brings the schema to version i. Never edit one
// that has shipped: add another. Text columns use the "C" collation so orderings are bytewise,
// as in SQLite, whatever the database's locale. Rows rewritten by every step (executions,
// frames, leases) leave free space in their pages so those updates can be HOT (no index writes).
constexpr const char* kMigrations[] = {
    // 1: the initial schema.
    R"sql(
CREATE TABLE state_machines (
  arn TEXT COLLATE "C" PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL,
  type TEXT NOT NULL,
  definition TEXT NOT NULL,
  role_arn TEXT NOT NULL,
  revision_id TEXT NOT NULL,
  status TEXT NOT NULL,
  description TEXT NOT NULL,
  tags_json TEXT NOT NULL,
  logging_json TEXT NOT NULL,
  tracing_json TEXT NOT NULL,
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL);
CREATE INDEX state_machines_by_name ON state_machines (name, arn);

CREATE TABLE revisions (
  machine_arn TEXT COLLATE "C" NOT NULL,
  revision_id TEXT COLLATE "C" NOT NULL,
  definition TEXT NOT NULL,
  role_arn TEXT NOT NULL,
  created BIGINT NOT NULL,
  PRIMARY KEY (machine_arn, revision_id));

CREATE TABLE executions (
  arn TEXT COLLATE "C" PRIMARY KEY,
  machine_arn TEXT COLLATE "C" NOT NULL,
  revision_id TEXT NOT NULL,
  name TEXT NOT NULL,
  type TEXT NOT NULL,
  status TEXT COLLATE "C" NOT NULL,
  input TEXT NOT NULL,
  output TEXT,
  error TEXT,
  cause TEXT,
  start_time BIGINT NOT NULL,
  stop_time BIGINT,
  trace_header TEXT NOT NULL,
  redrive_count INT NOT NULL,
  redrive_date BIGINT,
  last_event_id BIGINT NOT NULL,
  version BIGINT NOT NULL,
  partition INT NOT NULL) WITH (fillfactor = 80);
CREATE INDEX executions_by_start ON executions (start_time DESC, arn);
CREATE INDEX executions_by_machine ON executions (machine_arn, start_time DESC, arn);
CREATE INDEX executions_running ON executions (partition, arn) WHERE status = 'RUNNING';

CREATE TABLE history (
  execution_arn TEXT COLLATE "C" NOT NULL,
  id BIGINT NOT NULL,
  previous_id BIGINT NOT NULL,
  ts BIGINT NOT NULL,
  type TEXT NOT NULL,
  details TEXT NOT NULL,
  PRIMARY KEY (execution_arn, id));

CREATE TABLE frames (
  execution_arn TEXT COLLATE "C" NOT NULL,
  frame_id TEXT COLLATE "C" NOT NULL,
  data TEXT NOT NULL,
  PRIMARY KEY (execution_arn, frame_id)) WITH (fillfactor = 80);

CREATE TABLE map_results (
  execution_arn TEXT COLLATE "C" NOT NULL,
  frame_id TEXT COLLATE "C" NOT NULL,
  idx BIGINT NOT NULL,
  output TEXT NOT NULL,
  PRIMARY KEY (execution_arn, frame_id, idx));

CREATE TABLE timers (
  execution_arn TEXT COLLATE "C" NOT NULL,
  timer_id TEXT COLLATE "C" NOT NULL,
  due BIGINT NOT NULL,
  partition INT NOT NULL,
  PRIMARY KEY (execution_arn, timer_id));
CREATE INDEX timers_by_due ON timers (due, execution_arn, timer_id);
CREATE INDEX timers_by_partition ON timers (partition, due);

CREATE TABLE tasks (
  token TEXT COLLATE "C" PRIMARY KEY,
  execution_arn TEXT COLLATE "C" NOT NULL,
  frame_id TEXT NOT NULL,
  state_name TEXT NOT NULL,
  resource TEXT NOT NULL,
  activity_arn TEXT COLLATE "C" NOT NULL,
  input TEXT NOT NULL,
  status TEXT COLLATE "C" NOT NULL,
  worker_name TEXT NOT NULL,
  scheduled BIGINT NOT NULL,
  heartbeat_due BIGINT,
  timeout_due BIGINT,
  partition INT NOT NULL);
CREATE INDEX tasks_by_execution ON tasks (execution_arn, token);
CREATE INDEX tasks_by_activity ON tasks (activity_arn, status, scheduled) WHERE activity_arn <> '';

CREATE TABLE partitions (
  partition INT PRIMARY KEY,
  node TEXT COLLATE "C" NOT NULL,
  epoch BIGINT NOT NULL,
  expires BIGINT NOT NULL) WITH (fillfactor = 50);
CREATE INDEX partitions_by_node ON partitions (node);

-- Aborts the transaction when a check fails (commit's version, event-id and fence checks).
CREATE FUNCTION stepd_check(ok BOOLEAN, what TEXT) RETURNS BOOLEAN LANGUAGE plpgsql AS $fn$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION USING ERRCODE = 'SD409', MESSAGE = what;
  END IF;
  RETURN TRUE;
END
$fn$;
)sql",
    // 2: the saga extension's outcome of each compensation (docs/saga.md).
    R"sql(
ALTER TABLE executions ADD COLUMN compensation TEXT;
)sql",
    // 3: the audit log, one row per mutating API call; ids come from an identity sequence, so
    // they only grow. Each filter has an index ending in id, for "newest first" under it.
    R"sql(
CREATE TABLE audit (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  time BIGINT NOT NULL,
  key_id TEXT COLLATE "C" NOT NULL,
  remote TEXT NOT NULL,
  operation TEXT COLLATE "C" NOT NULL,
  resource TEXT COLLATE "C" NOT NULL,
  outcome TEXT NOT NULL,
  request_id TEXT NOT NULL);
CREATE INDEX audit_by_key ON audit (key_id, id);
CREATE INDEX audit_by_operation ON audit (operation, id);
CREATE INDEX audit_by_resource ON audit (resource, id);
)sql",
    // 4: activities, the routing registry of push tasks, and messages about tasks between nodes
    // (ids from an identity sequence: they only grow). A token has at most one outcome message
    // (the partial unique index). claim_activity_task uses tasks_by_activity (migration 1).
    R"sql(
CREATE TABLE activities (
  arn TEXT COLLATE "C" PRIMARY KEY,
  name TEXT COLLATE "C" NOT NULL,
  tags_json TEXT NOT NULL,
  created BIGINT NOT NULL);
CREATE INDEX activities_by_name ON activities (name, arn);

CREATE TABLE routes (
  kind TEXT COLLATE "C" NOT NULL,
  name TEXT COLLATE "C" NOT NULL,
  url TEXT NOT NULL,
  updated BIGINT NOT NULL,
  PRIMARY KEY (kind, name));

CREATE TABLE task_messages (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  token TEXT COLLATE "C" NOT NULL,
  kind TEXT COLLATE "C" NOT NULL,
  body TEXT NOT NULL,
  partition INT NOT NULL,
  created BIGINT NOT NULL);
CREATE INDEX task_messages_by_partition ON task_messages (partition, id);
CREATE UNIQUE INDEX task_messages_one_outcome ON task_messages (token)
  WHERE kind IN ('success', 'failure');
)sql",
};
constexpr int kSchemaVersion = static_cast<int>(std::size(kMigrations));

// --- Statements ---------------------------------------------------------------------------------
enum class Q : int {
  SchemaVersion,
  GetMachine,
  InsertMachine,
  InsertRevision,
  UpdateMachine,
  GetRevision,
  ListMachines,
  DeleteMachine,
  GetExecution,
  ExecutionExists,
  ListExecutions,
  ListExecutionsOfMachine,
  HistoryForward,
  HistoryReverse,
  LoadFrames,
  LoadMapResults,
  OpenExecutions,
  OpenExecutionsIn,
  DueTimers,
  DueTimersIn,
  GetTask,
  TasksOfExecution,
  RenewLeases,
  TakeLeases,
  LeasesOf,
  AllLeases,
  ReleaseLeases,
  CheckFences,
  CreateExecutions,
  UpdateExecutions,
  InsertHistory,
  DeleteFrames,
  PutFrames,
  DeleteMapResults,
  PutMapResults,
  DeleteTimers,
  PutTimers,
  DeleteTasks,
  PutTasks,
  ExecutionStates,
  FenceStates,
  SetMachineTags,
  InsertAudit,
  ListAudit,
  ListAuditByKey,
  ListAuditByOperation,
  ListAuditByResource,
  InsertActivity,
  GetActivity,
  ListActivities,
  DeleteActivity,
  SetActivityTags,
  PutRoute,
  DeleteRoute,
  ListRoutes,
  ClaimActivityTask,
  ReleaseActivityTask,
  InsertTaskMessage,
  TaskMessages,
  DeleteTaskMessages,
  StartTasks,
  kCount,
};

struct StatementDef {
  Q q;
  const char* sql;
  std::vector<Oid> types;
};

#define STEPD_MACHINE_COLUMNS                                                            \
  "arn, name, type, definition, role_arn, revision_id, status, description, tags_json, " \
  "logging_json, tracing_json, created, updated"
#define STEPD_EXECUTION_COLUMNS                                                                \
  "arn, machine_arn, revision_id, name, type, status, input, output, error, cause, "           \
  "start_time, stop_time, trace_header, redrive_count, redrive_date, last_event_id, version, " \
  "partition, compensation"
#define STEPD_TASK_COLUMNS                                                              \
  "token, execution_arn, frame_id, state_name, resource, activity_arn, input, status, " \
  "worker_name, scheduled, heartbeat_due, timeout_due, partition"
#define STEPD_AUDIT_COLUMNS "id, time, key_id, remote, operation, resource, outcome, request_id"

const std::vector<StatementDef>& statements() {
  static const std::vector<StatementDef> defs = {
      {Q::SchemaVersion, "SELECT COALESCE(max(version), 0) FROM schema_version", {}},
      {Q::GetMachine,
       "SELECT " STEPD_MACHINE_COLUMNS " FROM state_machines WHERE arn = $1",
       {kText}},
      {Q::InsertMachine,
       "INSERT INTO state_machines (" STEPD_MACHINE_COLUMNS
       ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
       {kText, kText, kText, kText, kText, kText, kText, kText, kText, kText, kText, kInt8, kInt8}},
      {Q::InsertRevision,
       "INSERT INTO revisions (machine_arn, revision_id, definition, role_arn, created) "
       "VALUES ($1, $2, $3, $4, $5)",
       {kText, kText, kText, kText, kInt8}},
      {Q::UpdateMachine,
       "WITH u AS (UPDATE state_machines SET name = $2, type = $3, definition = $4, "
       "role_arn = $5, revision_id = $6, status = $7, description = $8, tags_json = $9, "
       "logging_json = $10, tracing_json = $11, created = $12, updated = $13 WHERE arn = $1 "
       "RETURNING 1) SELECT stepd_check(EXISTS (SELECT 1 FROM u), 'state machine missing')",
       {kText, kText, kText, kText, kText, kText, kText, kText, kText, kText, kText, kInt8, kInt8}},
      {Q::GetRevision,
       "SELECT machine_arn, revision_id, definition, role_arn, created FROM revisions "
       "WHERE machine_arn = $1 AND revision_id = $2",
       {kText, kText}},
      {Q::ListMachines,
       "SELECT " STEPD_MACHINE_COLUMNS " FROM state_machines WHERE (name, arn) > ($1, $2) "
       "ORDER BY name, arn LIMIT $3",
       {kText, kText, kInt8}},
      {Q::DeleteMachine,
       "WITH d AS (DELETE FROM state_machines WHERE arn = $1 RETURNING 1), "
       "r AS (DELETE FROM revisions WHERE machine_arn = $1) SELECT count(*) FROM d",
       {kText}},
      {Q::GetExecution,
       "SELECT " STEPD_EXECUTION_COLUMNS " FROM executions WHERE arn = $1",
       {kText}},
      {Q::ExecutionExists, "SELECT 1 FROM executions WHERE arn = $1", {kText}},
      {Q::ListExecutions,
       "SELECT " STEPD_EXECUTION_COLUMNS " FROM executions WHERE ($1 = '' OR status = $1) "
       "AND start_time <= $2 AND (start_time < $2 OR (start_time = $2 AND arn > $3)) "
       "ORDER BY start_time DESC, arn LIMIT $4",
       {kText, kInt8, kText, kInt8}},
      {Q::ListExecutionsOfMachine,
       "SELECT " STEPD_EXECUTION_COLUMNS " FROM executions WHERE machine_arn = $5 "
       "AND ($1 = '' OR status = $1) AND start_time <= $2 "
       "AND (start_time < $2 OR (start_time = $2 AND arn > $3)) "
       "ORDER BY start_time DESC, arn LIMIT $4",
       {kText, kInt8, kText, kInt8, kText}},
      {Q::HistoryForward,
       "SELECT id, previous_id, ts, type, details FROM history "
       "WHERE execution_arn = $1 AND id > $2 ORDER BY id LIMIT $3",
       {kText, kInt8, kInt8}},
      {Q::HistoryReverse,
       "SELECT id, previous_id, ts, type, details FROM history "
       "WHERE execution_arn = $1 AND id < $2 ORDER BY id DESC LIMIT $3",
       {kText, kInt8, kInt8}},
      {Q::LoadFrames,
       "SELECT frame_id, data FROM frames WHERE execution_arn = $1 ORDER BY frame_id",
       {kText}},
      {Q::LoadMapResults,
       "SELECT frame_id, idx, output FROM map_results WHERE execution_arn = $1 "
       "ORDER BY frame_id, idx",
       {kText}},
      {Q::OpenExecutions, "SELECT arn FROM executions WHERE status = 'RUNNING' ORDER BY arn", {}},
      {Q::OpenExecutionsIn,
       "SELECT arn FROM executions WHERE status = 'RUNNING' AND partition = ANY($1) "
       "ORDER BY arn",
       {kInt4Array}},
      {Q::DueTimers,
       "SELECT execution_arn, timer_id, due, partition FROM timers WHERE due <= $1 "
       "ORDER BY due, execution_arn, timer_id LIMIT $2",
       {kInt8, kInt8}},
      {Q::DueTimersIn,
       "SELECT execution_arn, timer_id, due, partition FROM timers WHERE due <= $1 "
       "AND partition = ANY($3) ORDER BY due, execution_arn, timer_id LIMIT $2",
       {kInt8, kInt8, kInt4Array}},
      {Q::GetTask, "SELECT " STEPD_TASK_COLUMNS " FROM tasks WHERE token = $1", {kText}},
      {Q::TasksOfExecution,
       "SELECT " STEPD_TASK_COLUMNS " FROM tasks WHERE execution_arn = $1 ORDER BY token",
       {kText}},
      // Leases: renew what `node` holds, then take free or expired partitions lowest first
      // while it holds fewer than max. The ON CONFLICT ... WHERE re-checks a row under its lock,
      // so two nodes never take the same partition.
      {Q::RenewLeases, "UPDATE partitions SET expires = $2 WHERE node = $1", {kText, kInt8}},
      {Q::TakeLeases,
       "WITH held AS (SELECT count(*) AS n FROM partitions WHERE node = $1), "
       "cand AS (SELECT g AS partition FROM generate_series(0, $2 - 1) AS g "
       "LEFT JOIN partitions p ON p.partition = g "
       "WHERE p.partition IS NULL OR p.node = '' OR (p.node <> $1 AND p.expires <= $3) "
       "ORDER BY g LIMIT GREATEST(0, $4 - (SELECT n FROM held))) "
       "INSERT INTO partitions AS p (partition, node, epoch, expires) "
       "SELECT partition, $1, 1, $5 FROM cand ORDER BY partition "
       "ON CONFLICT (partition) DO UPDATE SET node = EXCLUDED.node, epoch = p.epoch + 1, "
       "expires = EXCLUDED.expires WHERE p.node = '' OR (p.node <> EXCLUDED.node AND "
       "p.expires <= $3)",
       {kText, kInt4, kInt8, kInt4, kInt8}},
      {Q::LeasesOf,
       "SELECT partition, node, epoch, expires FROM partitions WHERE node = $1 "
       "ORDER BY partition",
       {kText}},
      {Q::AllLeases, "SELECT partition, node, epoch, expires FROM partitions ORDER BY partition",
       {}},
      {Q::ReleaseLeases, "UPDATE partitions SET node = '' WHERE node = $1", {kText}},
      // Commit. Fences lock the lease rows they check until the transaction ends.
      {Q::CheckFences,
       "WITH f AS (SELECT * FROM unnest($1::int4[], $2::text[], $3::int8[]) "
       "AS f(partition, node, epoch)), "
       "held AS (SELECT p.partition FROM partitions p JOIN f ON p.partition = f.partition "
       "AND p.node = f.node AND p.epoch = f.epoch FOR SHARE OF p) "
       "SELECT stepd_check((SELECT count(*) FROM held) = cardinality($1::int4[]), "
       "'partition lease lost')",
       {kInt4Array, kTextArray, kInt8Array}},
      {Q::CreateExecutions,
       "WITH ins AS (INSERT INTO executions (" STEPD_EXECUTION_COLUMNS ") "
       "SELECT a, m, r, n, t, s, i, o, e, c, st, sp, th, rc, rd, le, 1, p, cp FROM unnest("
       "$1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], "
       "$8::text[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::text[], "
       "$14::int4[], $15::int8[], $16::int8[], $17::int4[], $18::text[]) "
       "AS x(a, m, r, n, t, s, i, o, e, c, st, sp, th, rc, rd, le, p, cp) "
       "ON CONFLICT (arn) DO NOTHING RETURNING 1) "
       "SELECT stepd_check((SELECT count(*) FROM ins) = cardinality($1::text[]), "
       "'execution already exists')",
       {kTextArray, kTextArray, kTextArray, kTextArray, kTextArray, kTextArray, kTextArray,
        kTextArray, kTextArray, kTextArray, kInt8Array, kInt8Array, kTextArray, kInt4Array,
        kInt8Array, kInt8Array, kInt4Array, kTextArray}},
      {Q::UpdateExecutions,
       "WITH w AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], "
       "$5::text[], $6::text[], $7::text[], $8::text[], $9::int8[], $10::int4[], $11::int8[], "
       "$12::text[]) "
       "AS w(arn, expected, first_event, last_event, status, output, error, cause, stop_time, "
       "redrive_count, redrive_date, compensation)), "
       "u AS (UPDATE executions e SET version = e.version + 1, "
       "last_event_id = COALESCE(w.last_event, e.last_event_id), "
       "status = COALESCE(w.status, e.status), output = COALESCE(w.output, e.output), "
       "error = COALESCE(w.error, e.error), cause = COALESCE(w.cause, e.cause), "
       "stop_time = COALESCE(w.stop_time, e.stop_time), "
       "redrive_count = COALESCE(w.redrive_count, e.redrive_count), "
       "redrive_date = COALESCE(w.redrive_date, e.redrive_date), "
       "compensation = COALESCE(w.compensation, e.compensation) "
       "FROM w WHERE e.arn = w.arn AND e.version = w.expected "
       "AND (w.first_event IS NULL OR w.first_event = e.last_event_id + 1) RETURNING 1) "
       "SELECT stepd_check((SELECT count(*) FROM u) = cardinality($1::text[]), "
       "'execution version or event id check failed')",
       {kTextArray, kInt8Array, kInt8Array, kInt8Array, kTextArray, kTextArray, kTextArray,
        kTextArray, kInt8Array, kInt4Array, kInt8Array, kTextArray}},
      {Q::InsertHistory,
       "INSERT INTO history (execution_arn, id, previous_id, ts, type, details) "
       "SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::int8[], $5::text[], "
       "$6::text[])",
       {kTextArray, kInt8Array, kInt8Array, kInt8Array, kTextArray, kTextArray}},
      {Q::DeleteFrames,
       "DELETE FROM frames f USING unnest($1::text[], $2::text[]) AS d(arn, id) "
       "WHERE f.execution_arn = d.arn AND f.frame_id = d.id",
       {kTextArray, kTextArray}},
      {Q::PutFrames,
       "INSERT INTO frames (execution_arn, frame_id, data) "
       "SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) "
       "ON CONFLICT (execution_arn, frame_id) DO UPDATE SET data = EXCLUDED.data",
       {kTextArray, kTextArray, kTextArray}},
      {Q::DeleteMapResults,
       "DELETE FROM map_results m USING unnest($1::text[], $2::text[]) AS d(arn, id) "
       "WHERE m.execution_arn = d.arn AND m.frame_id = d.id",
       {kTextArray, kTextArray}},
      {Q::PutMapResults,
       "INSERT INTO map_results (execution_arn, frame_id, idx, output) "
       "SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[]) "
       "ON CONFLICT (execution_arn, frame_id, idx) DO UPDATE SET output = EXCLUDED.output",
       {kTextArray, kTextArray, kInt8Array, kTextArray}},
      {Q::DeleteTimers,
       "DELETE FROM timers t USING unnest($1::text[], $2::text[]) AS d(arn, id) "
       "WHERE t.execution_arn = d.arn AND t.timer_id = d.id",
       {kTextArray, kTextArray}},
      {Q::PutTimers,
       "INSERT INTO timers (execution_arn, timer_id, due, partition) "
       "SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::int4[]) "
       "ON CONFLICT (execution_arn, timer_id) DO UPDATE SET due = EXCLUDED.due, "
       "partition = EXCLUDED.partition",
       {kTextArray, kTextArray, kInt8Array, kInt4Array}},
      {Q::DeleteTasks, "DELETE FROM tasks WHERE token = ANY($1)", {kTextArray}},
      {Q::PutTasks,
       "INSERT INTO tasks (" STEPD_TASK_COLUMNS ") SELECT * FROM unnest($1::text[], "
       "$2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
       "$9::text[], $10::int8[], $11::int8[], $12::int8[], $13::int4[]) "
       "ON CONFLICT (token) DO UPDATE SET execution_arn = EXCLUDED.execution_arn, "
       "frame_id = EXCLUDED.frame_id, state_name = EXCLUDED.state_name, "
       "resource = EXCLUDED.resource, activity_arn = EXCLUDED.activity_arn, "
       "input = EXCLUDED.input, status = EXCLUDED.status, worker_name = EXCLUDED.worker_name, "
       "scheduled = EXCLUDED.scheduled, heartbeat_due = EXCLUDED.heartbeat_due, "
       "timeout_due = EXCLUDED.timeout_due, partition = EXCLUDED.partition",
       {kTextArray, kTextArray, kTextArray, kTextArray, kTextArray, kTextArray, kTextArray,
        kTextArray, kTextArray, kInt8Array, kInt8Array, kInt8Array, kInt4Array}},
      {Q::ExecutionStates,
       "SELECT arn, version, last_event_id FROM executions WHERE arn = ANY($1)",
       {kTextArray}},
      {Q::FenceStates,
       "SELECT partition, node, epoch FROM partitions WHERE partition = ANY($1)",
       {kInt4Array}},
      {Q::SetMachineTags,
       "WITH u AS (UPDATE state_machines SET tags_json = $2 WHERE arn = $1 RETURNING 1) "
       "SELECT count(*) FROM u",
       {kText, kText}},
      // The batch's rows in order, so their identity values follow the order of the batch.
      {Q::InsertAudit,
       "INSERT INTO audit (time, key_id, remote, operation, resource, outcome, request_id) "
       "SELECT t, k, r, o, s, c, q FROM unnest($1::int8[], $2::text[], $3::text[], $4::text[], "
       "$5::text[], $6::text[], $7::text[]) WITH ORDINALITY AS a(t, k, r, o, s, c, q, n) "
       "ORDER BY n",
       {kInt8Array, kTextArray, kTextArray, kTextArray, kTextArray, kTextArray, kTextArray}},
      // Newest first from before id $1, at most $2 rows; $3 key_id, $4 operation, $5 resource
      // ("" for any). One statement per leading filter, so each has a plan on that filter's
      // index (resource, then key, then operation: the most selective first).
      {Q::ListAudit,
       "SELECT " STEPD_AUDIT_COLUMNS " FROM audit WHERE id < $1 "
       "AND ($3 = '' OR key_id = $3) AND ($4 = '' OR operation = $4) "
       "AND ($5 = '' OR resource = $5) ORDER BY id DESC LIMIT $2",
       {kInt8, kInt8, kText, kText, kText}},
      {Q::ListAuditByKey,
       "SELECT " STEPD_AUDIT_COLUMNS " FROM audit WHERE key_id = $3 AND id < $1 "
       "AND ($4 = '' OR operation = $4) AND ($5 = '' OR resource = $5) "
       "ORDER BY id DESC LIMIT $2",
       {kInt8, kInt8, kText, kText, kText}},
      {Q::ListAuditByOperation,
       "SELECT " STEPD_AUDIT_COLUMNS " FROM audit WHERE operation = $4 AND id < $1 "
       "AND ($3 = '' OR key_id = $3) AND ($5 = '' OR resource = $5) "
       "ORDER BY id DESC LIMIT $2",
       {kInt8, kInt8, kText, kText, kText}},
      {Q::ListAuditByResource,
       "SELECT " STEPD_AUDIT_COLUMNS " FROM audit WHERE resource = $5 AND id < $1 "
       "AND ($3 = '' OR key_id = $3) AND ($4 = '' OR operation = $4) "
       "ORDER BY id DESC LIMIT $2",
       {kInt8, kInt8, kText, kText, kText}},
      {Q::InsertActivity,
       "INSERT INTO activities (arn, name, tags_json, created) VALUES ($1, $2, $3, $4)",
       {kText, kText, kText, kInt8}},
      {Q::GetActivity,
       "SELECT arn, name, tags_json, created FROM activities WHERE arn = $1",
       {kText}},
      {Q::ListActivities,
       "SELECT arn, name, tags_json, created FROM activities WHERE (name, arn) > ($1, $2) "
       "ORDER BY name, arn LIMIT $3",
       {kText, kText, kInt8}},
      {Q::DeleteActivity,
       "WITH d AS (DELETE FROM activities WHERE arn = $1 RETURNING 1) SELECT count(*) FROM d",
       {kText}},
      {Q::SetActivityTags,
       "WITH u AS (UPDATE activities SET tags_json = $2 WHERE arn = $1 RETURNING 1) "
       "SELECT count(*) FROM u",
       {kText, kText}},
      {Q::PutRoute,
       "INSERT INTO routes (kind, name, url, updated) VALUES ($1, $2, $3, $4) "
       "ON CONFLICT (kind, name) DO UPDATE SET url = EXCLUDED.url, updated = EXCLUDED.updated",
       {kText, kText, kText, kInt8}},
      {Q::DeleteRoute,
       "WITH d AS (DELETE FROM routes WHERE kind = $1 AND name = $2 RETURNING 1) "
       "SELECT count(*) FROM d",
       {kText, kText}},
      {Q::ListRoutes, "SELECT kind, name, url, updated FROM routes ORDER BY kind, name", {}},
      // The oldest SCHEDULED task of activity $1 scheduled at or before $2 becomes STARTED by
      // worker $3. SKIP LOCKED: a row another node is claiming (or committing) is passed over,
      // so concurrent claims never wait for each other nor take the same row; a row whose
      // status changed before the lock is re-checked and passed over too. The literal
      // activity_arn <> '' lets a generic plan use the partial index tasks_by_activity.
      {Q::ClaimActivityTask,
       "UPDATE tasks SET status = 'STARTED', worker_name = $3 WHERE token = (SELECT token "
       "FROM tasks WHERE activity_arn = $1 AND activity_arn <> '' AND status = 'SCHEDULED' "
       "AND scheduled <= $2 ORDER BY scheduled, token LIMIT 1 FOR UPDATE SKIP LOCKED) "
       "AND status = 'SCHEDULED' RETURNING " STEPD_TASK_COLUMNS,
       {kText, kInt8, kText}},
      {Q::ReleaseActivityTask,
       "UPDATE tasks SET status = 'SCHEDULED', worker_name = '' WHERE token = $1 "
       "AND status = 'STARTED' AND worker_name = $2 RETURNING token",
       {kText, kText}},
      // The message takes its partition from the task row, which it locks (FOR KEY SHARE) so
      // that a concurrent delete of the row either waits for this insert or makes it insert
      // nothing. A second outcome of a token violates task_messages_one_outcome.
      {Q::InsertTaskMessage,
       "INSERT INTO task_messages (token, kind, body, partition, created) "
       "SELECT t.token, $2, $3, t.partition, $4 FROM tasks t WHERE t.token = $1 "
       "FOR KEY SHARE OF t RETURNING id",
       {kText, kText, kText, kInt8}},
      {Q::TaskMessages,
       "SELECT id, token, kind, body, partition, created FROM task_messages "
       "WHERE partition = ANY($1) ORDER BY id LIMIT $2",
       {kInt4Array, kInt8}},
      {Q::DeleteTaskMessages, "DELETE FROM task_messages WHERE id = ANY($1)", {kInt8Array}},
      // Commit: activity tasks handed to a worker (ExecutionWrite::tasks_started).
      {Q::StartTasks,
       "UPDATE tasks t SET status = 'STARTED', worker_name = s.worker "
       "FROM unnest($1::text[], $2::text[]) AS s(token, worker) WHERE t.token = s.token",
       {kTextArray, kTextArray}},
  };
  static const bool checked = [] {
    assert(defs.size() == static_cast<std::size_t>(Q::kCount));
    for (std::size_t i = 0; i < defs.size(); ++i) assert(static_cast<std::size_t>(defs[i].q) == i);
    return true;
  }();
  (void)checked;
  return defs;
}

#undef STEPD_MACHINE_COLUMNS
#undef STEPD_EXECUTION_COLUMNS
#undef STEPD_TASK_COLUMNS
#undef STEPD_AUDIT_COLUMNS

const StatementDef& def(Q q) { return statements()[static_cast<std::size_t>(q)]; }

std::string statement_name(Q q) { return "stepd_" + std::to_string(static_cast<int>(q)); }

// --- Binary parameters --------------------------------------------------------------------------
void put_be32(std::string& out, std::uint32_t v) {
  char b[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
               static_cast<char>(v)};
  out.append(b, 4);
}

void put_be64(std::string& out, std::uint64_t v) {
  put_be32(out, static_cast<std::uint32_t>(v >> 32));
  put_be32(out, static_cast<std::uint32_t>(v));
}

void patch_be32(std::string& out, std::size_t at, std::uint32_t v) {
  out[at] = static_cast<char>(v >> 24);
  out[at + 1] = static_cast<char>(v >> 16);
  out[at + 2] = static_cast<char>(v >> 8);
  out[at + 3] = static_cast<char>(v);
}

// A one-dimensional array in PostgreSQL's binary format: ndim, has-null flag, element type,
// then (length, lower bound) per dimension, then (byte length or -1, bytes) per element.
class ArrayBuilder {
 public:
  explicit ArrayBuilder(Oid element) : element_(element) { buf_.resize(kHeader); }

  void add(std::string_view s) {
    put_be32(buf_, static_cast<std::uint32_t>(s.size()));
    buf_.append(s.data(), s.size());
    ++count_;
  }
  void add(std::int64_t v) {
    put_be32(buf_, 8);
    put_be64(buf_, static_cast<std::uint64_t>(v));
    ++count_;
  }
  void add(int v) {
    put_be32(buf_, 4);
    put_be32(buf_, static_cast<std::uint32_t>(v));
    ++count_;
  }
  void add_null() {
    put_be32(buf_, 0xffffffffu);
    has_null_ = true;
    ++count_;
  }
  template <typename T>
  void add(const std::optional<T>& v) {
    if (v) {
      add(*v);
    } else {
      add_null();
    }
  }
  int size() const { return count_; }

  std::string finish() && {
    if (count_ == 0) {
      std::string empty;
      put_be32(empty, 0);
      put_be32(empty, 0);
      put_be32(empty, element_);
      return empty;
    }
    patch_be32(buf_, 0, 1);
    patch_be32(buf_, 4, has_null_ ? 1 : 0);
    patch_be32(buf_, 8, element_);
    patch_be32(buf_, 12, static_cast<std::uint32_t>(count_));
    patch_be32(buf_, 16, 1);
    return std::move(buf_);
  }

 private:
  static constexpr std::size_t kHeader = 20;
  Oid element_;
  std::string buf_;
  int count_ = 0;
  bool has_null_ = false;
};

// The parameters of one statement, all in binary format. Text parameters may point into the
// caller's strings (which must outlive the call); others are owned here.
class Params {
 public:
  // A null data pointer would mean SQL NULL to libpq: point empty strings at "".
  void text(std::string_view s) {
    params_.push_back({s.empty() ? "" : s.data(), static_cast<int>(s.size()), -1});
  }
  void int8(std::int64_t v) {
    std::string b;
    put_be64(b, static_cast<std::uint64_t>(v));
    own(std::move(b));
  }
  void int4(int v) {
    std::string b;
    put_be32(b, static_cast<std::uint32_t>(v));
    own(std::move(b));
  }
  void array(ArrayBuilder&& a) { own(std::move(a).finish()); }

  int size() const { return static_cast<int>(params_.size()); }
  void fill(std::vector<const char*>& values, std::vector<int>& lengths) const {
    values.clear();
    lengths.clear();
    for (const auto& p : params_) {
      values.push_back(p.owned >= 0 ? owned_[p.owned].data() : p.data);
      lengths.push_back(p.owned >= 0 ? static_cast<int>(owned_[p.owned].size()) : p.length);
    }
  }

 private:
  struct Param {
    const char* data;
    int length;
    int owned;  // index into owned_, or -1
  };
  void own(std::string s) {
    owned_.push_back(std::move(s));
    params_.push_back({nullptr, 0, static_cast<int>(owned_.size() - 1)});
  }
  std::vector<Param> params_;
  std::vector<std::string> owned_;
};

struct Call {
  explicit Call(Q q) : q(q) {}
  Q q;
  Params params;
};

// --- Results ------------------------------------------------------------------------------------
struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::string_view cell(const PGresult* r, int row, int col) {
  return {PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col))};
}
std::string str(const PGresult* r, int row, int col) { return std::string(cell(r, row, col)); }
std::int64_t i64(const PGresult* r, int row, int col) {
  std::string_view s = cell(r, row, col);
  std::int64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}
int i32(const PGresult* r, int row, int col) { return static_cast<int>(i64(r, row, col)); }
std::optional<std::string> opt_str(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return std::nullopt;
  return str(r, row, col);
}
std::optional<std::int64_t> opt_i64(const PGresult* r, int row, int col) {
  if (PQgetisnull(r, row, col)) return std::nullopt;
  return i64(r, row, col);
}

StateMachineRecord machine_from(const PGresult* r, int row) {
  StateMachineRecord m;
  m.arn = str(r, row, 0);
  m.name = str(r, row, 1);
  m.type = str(r, row, 2);
  m.definition = str(r, row, 3);
  m.role_arn = str(r, row, 4);
  m.revision_id = str(r, row, 5);
  m.status = str(r, row, 6);
  m.description = str(r, row, 7);
  m.tags_json = str(r, row, 8);
  m.logging_json = str(r, row, 9);
  m.tracing_json = str(r, row, 10);
  m.created = i64(r, row, 11);
  m.updated = i64(r, row, 12);
  return m;
}

ExecutionRecord execution_from(const PGresult* r, int row) {
  ExecutionRecord e;
  e.arn = str(r, row, 0);
  e.machine_arn = str(r, row, 1);
  e.revision_id = str(r, row, 2);
  e.name = str(r, row, 3);
  e.type = str(r, row, 4);
  e.status = str(r, row, 5);
  e.input = str(r, row, 6);
  e.output = opt_str(r, row, 7);
  e.error = opt_str(r, row, 8);
  e.cause = opt_str(r, row, 9);
  e.start = i64(r, row, 10);
  e.stop = opt_i64(r, row, 11);
  e.trace_header = str(r, row, 12);
  e.redrive_count = i32(r, row, 13);
  e.redrive_date = opt_i64(r, row, 14);
  e.last_event_id = i64(r, row, 15);
  e.version = i64(r, row, 16);
  e.partition = i32(r, row, 17);
  e.compensation = opt_str(r, row, 18);
  return e;
}

TaskRecord task_from(const PGresult* r, int row) {
  TaskRecord t;
  t.token = str(r, row, 0);
  t.execution_arn = str(r, row, 1);
  t.frame_id = str(r, row, 2);
  t.state_name = str(r, row, 3);
  t.resource = str(r, row, 4);
  t.activity_arn = str(r, row, 5);
  t.input = str(r, row, 6);
  t.status = str(r, row, 7);
  t.worker_name = str(r, row, 8);
  t.scheduled = i64(r, row, 9);
  t.heartbeat_due = opt_i64(r, row, 10);
  t.timeout_due = opt_i64(r, row, 11);
  t.partition = i32(r, row, 12);
  return t;
}

ActivityRecord activity_from(const PGresult* r, int row) {
  return ActivityRecord{str(r, row, 0), str(r, row, 1), str(r, row, 2), i64(r, row, 3)};
}

PartitionLease lease_from(const PGresult* r, int row) {
  return PartitionLease{i32(r, row, 0), str(r, row, 1), i64(r, row, 2), i64(r, row, 3)};
}

// Every row of `r`, each read by from(r, row).
template <typename From>
auto rows_of(const PGresult* r, From from) {
  std::vector<decltype(from(r, 0))> out;
  const int n = PQntuples(r);
  out.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.push_back(from(r, i));
  return out;
}

// A page from `r`, which asked for one row more than `page_size`: its first page_size rows, each
// read by from(r, row), and, when the extra row came, next_token = token_of(the last item kept).
template <typename From, typename TokenOf>
auto page_of(const PGresult* r, int page_size, From from, TokenOf token_of) {
  Page<decltype(from(r, 0))> out;
  const int n = std::min(PQntuples(r), page_size);
  out.items.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out.items.push_back(from(r, i));
  if (PQntuples(r) > page_size) out.next_token = token_of(out.items.back());
  return out;
}

void add_machine_params(Params& p, const StateMachineRecord& m) {
  p.text(m.arn);
  p.text(m.name);
  p.text(m.type);
  p.text(m.definition);
  p.text(m.role_arn);
  p.text(m.revision_id);
  p.text(m.status);
  p.text(m.description);
  p.text(m.tags_json);
  p.text(m.logging_json);
  p.text(m.tracing_json);
  p.int8(m.created);
  p.int8(m.updated);
}

void add_revision_params(Params& p, std::string_view machine_arn, std::string_view revision_id,
                         std::string_view definition, std::string_view role_arn,
                         std::int64_t created) {
  p.text(machine_arn);
  p.text(revision_id);
  p.text(definition);
  p.text(role_arn);
  p.int8(created);
}

// --- Errors -------------------------------------------------------------------------------------
std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

Error error(ErrorCode code, std::string message) { return Error{code, std::move(message)}; }

// What went wrong in a pipeline.
struct Failure {
  bool broken = false;     // the connection is unusable
  bool sync_sent = false;  // the server may have received the whole pipeline
  // The server reported an error in place of a statement's result, so it never reached the
  // Sync: nothing was committed (even if the connection then closed).
  bool aborted_before_sync = false;
  int call = -1;  // index of the failing call, when a statement failed
  std::string sqlstate;
  std::string message;
  std::optional<Error> no_connection;  // no connection could be had: this error as it is
};

bool is_connection_state(std::string_view sqlstate) {
  return sqlstate.starts_with("08") || sqlstate == "57P01" || sqlstate == "57P02" ||
         sqlstate == "57P03";
}

Error map_failure(std::string_view what, const Failure& f) {
  if (f.no_connection) return *f.no_connection;
  std::string suffix = f.sqlstate.empty() ? "" : " (SQLSTATE " + f.sqlstate + ")";
  std::string msg = "postgresql: " + std::string(what) + ": " + f.message + suffix;
  if (f.broken || is_connection_state(f.sqlstate) || f.sqlstate.starts_with("53")) {
    return error(ErrorCode::Unavailable, std::move(msg));
  }
  if (f.sqlstate == "40001" || f.sqlstate == "40P01" || f.sqlstate == kCheckFailed) {
    return error(ErrorCode::Conflict, std::move(msg));
  }
  if (f.sqlstate == "23505") return error(ErrorCode::AlreadyExists, std::move(msg));
  if (f.sqlstate.starts_with("22")) return error(ErrorCode::InvalidArgument, std::move(msg));
  return error(ErrorCode::Internal, std::move(msg));
}

// --- Connections and the pool -------------------------------------------------------------------
struct Config {
  std::string url;     // for libpq (Stepd's own parameters removed)
  std::string schema;  // "" for the default search_path
  int pool_size = kDefaultPoolSize;
};

struct Conn {
  PGconn* pg = nullptr;
  std::vector<bool> prepared = std::vector<bool>(static_cast<std::size_t>(Q::kCount), false);
  std::vector<const char*> values;  // scratch for sending
  std::vector<int> lengths;
  std::vector<int> formats;

  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (pg != nullptr) PQfinish(pg);
  }
};

std::string quote_ident(const std::string& id) { return "\"" + id + "\""; }

// Opens a connection: UTF-8, synchronous commit, the configured schema; in pipeline mode unless
// `pipeline` is false.
Result<std::unique_ptr<Conn>> connect(const Config& config, bool pipeline) {
  const char* keys[] = {"connect_timeout", "application_name", "client_encoding", "dbname",
                        nullptr};
  const char* values[] = {"10", "stepd", "UTF8", config.url.c_str(), nullptr};
  auto conn = std::make_unique<Conn>();
  conn->pg = PQconnectdbParams(keys, values, 1);
  if (conn->pg == nullptr) {
    return error(ErrorCode::Unavailable, "postgresql: cannot connect: out of memory");
  }
  if (PQstatus(conn->pg) != CONNECTION_OK) {
    return error(ErrorCode::Unavailable,
                 "postgresql: cannot connect: " + trim(PQerrorMessage(conn->pg)));
  }
  // Notices ("schema already exists, skipping") are not errors: keep them off stderr.
  PQsetNoticeProcessor(
      conn->pg, [](void*, const char*) {}, nullptr);
  std::string setup = "SET synchronous_commit TO on";
  if (!config.schema.empty()) setup += "; SET search_path TO " + quote_ident(config.schema);
  PgResult r(PQexec(conn->pg, setup.c_str()));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK) {
    return error(ErrorCode::Unavailable,
                 "postgresql: cannot set up the connection: " + trim(PQerrorMessage(conn->pg)));
  }
  if (pipeline && PQenterPipelineMode(conn->pg) != 1) {
    return error(ErrorCode::Internal,
                 "postgresql: cannot enter pipeline mode: " + trim(PQerrorMessage(conn->pg)));
  }
  return conn;
}

// True unless the server has closed (or is closing) the idle connection: an idle connection
// has nothing to read, so anything readable is a termination notice or end of file.
bool idle_connection_alive(Conn& c) {
  if (PQstatus(c.pg) != CONNECTION_OK) return false;
  pollfd p{PQsocket(c.pg), POLLIN, 0};
  return ::poll(&p, 1, 0) == 0;
}

class Pool {
 public:
  explicit Pool(Config config) : config_(std::move(config)) {}

  const Config& config() const { return config_; }

  // A healthy connection, opening one if needed; waits while all are in use.
  Result<std::unique_ptr<Conn>> acquire() {
    std::unique_lock lock(mu_);
    for (;;) {
      if (!idle_.empty()) {
        std::unique_ptr<Conn> c = std::move(idle_.back());
        idle_.pop_back();
        if (idle_connection_alive(*c)) return c;
        --open_;  // closed by the server (restart, terminate): drop it and look again
        lock.unlock();
        c.reset();
        lock.lock();
        continue;
      }
      if (open_ < config_.pool_size) {
        ++open_;
        lock.unlock();
        Result<std::unique_ptr<Conn>> c = connect(config_, true);
        if (!c.ok()) {
          lock.lock();
          --open_;
          cv_.notify_one();
        }
        return c;
      }
      auto can_go = [&] { return !idle_.empty() || open_ < config_.pool_size; };
      if (!cv_.wait_for(lock, kPoolWait, can_go)) {
        return error(ErrorCode::Unavailable,
                     "postgresql: no connection free after 30 s (pool_size " +
                         std::to_string(config_.pool_size) + ")");
      }
    }
  }

  // Adds a connection opened outside acquire().
  void adopt(std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu_);
    ++open_;
    idle_.push_back(std::move(c));
  }

  // Returns a connection. A broken one is closed, and so are the idle ones: a connection
  // rarely breaks alone (server restart, failover), and a retry must get a fresh one.
  void release(std::unique_ptr<Conn> c, bool broken) {
    std::vector<std::unique_ptr<Conn>> dropped;
    {
      std::lock_guard lock(mu_);
      if (!broken) {
        idle_.push_back(std::move(c));
      } else {
        open_ -= 1 + static_cast<int>(idle_.size());
        dropped.swap(idle_);
        dropped.push_back(std::move(c));
      }
      cv_.notify_all();
    }
  }

 private:
  Config config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Conn>> idle_;
  int open_ = 0;  // idle + in use
};

Failure send_failure(Conn& c) {
  Failure f;
  f.broken = true;
  f.message = trim(PQerrorMessage(c.pg));
  return f;
}

// Sends `calls` as one pipeline ending in one Sync (one implicit transaction) and collects one
// result per call. On failure returns false with *failure filled; a statement error leaves the
// connection usable (the transaction was rolled back at the Sync).
bool run_pipeline(Conn& c, const std::vector<Call>& calls, std::vector<PgResult>& results,
                  Failure& failure) {
  results.clear();
  std::vector<bool> sent_prepare(calls.size(), false);
  for (std::size_t i = 0; i < calls.size(); ++i) {
    const Call& call = calls[i];
    const StatementDef& d = def(call.q);
    std::string name = statement_name(call.q);
    const std::size_t qi = static_cast<std::size_t>(call.q);
    if (!c.prepared[qi]) {
      bool already = false;  // the same statement earlier in this pipeline
      for (std::size_t j = 0; j < i; ++j) {
        already = already || (sent_prepare[j] && calls[j].q == call.q);
      }
      if (!already) {
        if (PQsendPrepare(c.pg, name.c_str(), d.sql, static_cast<int>(d.types.size()),
                          d.types.data()) != 1) {
          failure = send_failure(c);
          return false;
        }
        sent_prepare[i] = true;
      }
    }
    call.params.fill(c.values, c.lengths);
    c.formats.assign(c.values.size(), 1);
    if (PQsendQueryPrepared(c.pg, name.c_str(), call.params.size(), c.values.data(),
                            c.lengths.data(), c.formats.data(), 0) != 1) {
      failure = send_failure(c);
      return false;
    }
  }
  if (PQpipelineSync(c.pg) != 1) {
    failure = send_failure(c);
    return false;
  }
  failure.sync_sent = true;

  bool failed = false;
  int nulls = 0;
  std::size_t call = 0;
  bool expect_prepare = !calls.empty() && sent_prepare[0];
  for (;;) {
    PGresult* raw = PQgetResult(c.pg);
    if (raw == nullptr) {
      if (PQstatus(c.pg) == CONNECTION_BAD || ++nulls > 1) {
        failure.broken = true;
        if (failure.message.empty()) failure.message = trim(PQerrorMessage(c.pg));
        if (failure.message.empty()) failure.message = "connection lost";
        return false;
      }
      continue;
    }
    nulls = 0;
    PgResult r(raw);
    ExecStatusType st = PQresultStatus(raw);
    if (st == PGRES_PIPELINE_SYNC) break;
    if (call >= calls.size()) continue;  // not expected; ignore
    const bool is_prepare = expect_prepare;
    if (st == PGRES_FATAL_ERROR && !failed) {
      failed = true;
      failure.aborted_before_sync = true;
      failure.call = static_cast<int>(call);
      const char* state = PQresultErrorField(raw, PG_DIAG_SQLSTATE);
      failure.sqlstate = state ? state : "";
      const char* primary = PQresultErrorField(raw, PG_DIAG_MESSAGE_PRIMARY);
      failure.message = primary ? primary : trim(PQresultErrorMessage(raw));
      if (PQstatus(c.pg) == CONNECTION_BAD || is_connection_state(failure.sqlstate)) {
        failure.broken = true;
      }
    }
    if (is_prepare) {
      if (st == PGRES_COMMAND_OK) c.prepared[static_cast<std::size_t>(calls[call].q)] = true;
      expect_prepare = false;
    } else {
      results.push_back(std::move(r));
      ++call;
      expect_prepare = call < calls.size() && sent_prepare[call];
    }
  }
  return !failed;
}

// --- URL ----------------------------------------------------------------------------------------
Result<Config> parse_url(const std::string& url) {
  if (!url.starts_with("postgresql://") && !url.starts_with("postgres://")) {
    return error(ErrorCode::InvalidArgument,
                 "postgresql URL must start with postgresql:// or postgres://");
  }
  Config config;
  std::size_t q = url.find('?');
  std::string base = url.substr(0, q);
  std::vector<std::string> kept;
  if (q != std::string::npos) {
    std::string_view rest = std::string_view(url).substr(q + 1);
    while (!rest.empty()) {
      std::size_t amp = rest.find('&');
      std::string_view item = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (item.empty()) continue;
      std::size_t eq = item.find('=');
      std::string_view key = item.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
      if (key == "pool_size") {
        int n = 0;
        auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
        if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > kMaxPoolSize) {
          return error(ErrorCode::InvalidArgument,
                       "postgresql URL: pool_size must be an integer from 1 to " +
                           std::to_string(kMaxPoolSize) + ", got \"" + std::string(value) + "\"");
        }
        config.pool_size = n;
      } else if (key == "schema") {
        bool ok = !value.empty() && value.size() <= 63 && !(value[0] >= '0' && value[0] <= '9');
        for (char ch : value) {
          ok = ok && ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                      (ch >= '0' && ch <= '9') || ch == '_');
        }
        if (!ok) {
          return error(ErrorCode::InvalidArgument,
                       "postgresql URL: schema must be 1 to 63 letters, digits or _ (not "
                       "starting with a digit), got \"" +
                           std::string(value) + "\"");
        }
        config.schema = std::string(value);
      } else {
        kept.emplace_back(item);
      }
    }
  }
  config.url = base;
  for (std::size_t i = 0; i < kept.size(); ++i) config.url += (i == 0 ? "?" : "&") + kept[i];
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(config.url.c_str(), &err);
  if (opts == nullptr) {
    std::string msg = err ? trim(err) : "cannot parse";
    if (err) PQfreemem(err);
    return error(ErrorCode::InvalidArgument, "postgresql URL: " + msg);
  }
  PQconninfoFree(opts);
  return config;
}

// --- Page tokens --------------------------------------------------------------------------------
// A token is a kind letter and the hex of its key fields joined by '\n'.
std::string make_token(char kind, const std::vector<std::string>& fields) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string raw;
  for (std::size_t i = 0; i < fields.size(); ++i) {
    if (i) raw += '\n';
    raw += fields[i];
  }
  std::string out(1, kind);
  for (unsigned char ch : raw) {
    out += kHex[ch >> 4];
    out += kHex[ch & 15];
  }
  return out;
}

std::optional<std::vector<std::string>> read_token(const std::string& token, char kind,
                                                   std::size_t fields) {
  if (token.size() < 1 || token[0] != kind || token.size() % 2 != 1) return std::nullopt;
  auto nibble = [](char ch) -> int {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    return -1;
  };
  std::string raw;
  for (std::size_t i = 1; i < token.size(); i += 2) {
    int hi = nibble(token[i]);
    int lo = nibble(token[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    raw += static_cast<char>(hi * 16 + lo);
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    std::size_t nl = raw.find('\n', start);
    out.push_back(raw.substr(start, nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  if (out.size() != fields) return std::nullopt;
  return out;
}

using store_detail::check_max;
using store_detail::check_page_size;
using store_detail::invalid_next_token;
using store_detail::parse_i64;

// --- The store ----------------------------------------------------------------------------------
class PostgresStore final : public Store {
 public:
  PostgresStore(Config config, std::unique_ptr<Conn> first) : pool_(std::move(config)) {
    pool_.adopt(std::move(first));
  }

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
  Status append_audit(const std::vector<AuditRecord>& entries) override;
  Result<Page<AuditRecord>> list_audit(const AuditQuery& query, const PageRequest& page) override;
  Status commit(const CommitBatch& batch, CommitConflict* conflict) override;
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
  Result<std::optional<TaskRecord>> claim_activity_task(std::string_view activity_arn,
                                                        Micros scheduled_before,
                                                        const std::string& worker) override;
  Result<bool> release_activity_task(std::string_view token, const std::string& worker) override;
  Status post_task_message(const TaskMessage& message) override;
  Result<std::vector<TaskMessage>> task_messages(const std::vector<int>& partitions,
                                                 int max) override;
  Status delete_task_messages(const std::vector<std::int64_t>& ids) override;
  Result<std::vector<PartitionLease>> acquire_partitions(const std::string& node, int partitions,
                                                         int max_partitions, Micros now,
                                                         Micros ttl) override;
  Status release_partitions(const std::string& node) override;
  Result<std::vector<PartitionLease>> list_partitions() override;

 private:
  // Runs the calls as one transaction. Returns the results, or the Failure (statement errors;
  // connection errors become Failure too, after one retry on a fresh connection when the
  // pipeline certainly did not commit, or for read-only calls).
  struct Outcome {
    bool ok = false;
    std::vector<PgResult> results;
    Failure failure;
  };
  Outcome run(const std::vector<Call>& calls, bool read_only);
  // run() for calls whose failure needs no interpretation: an Error on failure.
  Result<std::vector<PgResult>> run_simple(std::string_view what, const std::vector<Call>& calls,
                                           bool read_only);

  // run_simple() of the one statement `q` with $1 = key.
  Result<std::vector<PgResult>> run_by_key(Q q, std::string_view key, std::string_view what,
                                           bool read_only);
  // Every row the read statement `q` ($1 = key) yields, each read by from(result, row).
  template <typename From>
  auto rows_by_key(Q q, std::string_view key, std::string_view what, From from)
      -> Result<std::vector<decltype(from(nullptr, 0))>>;
  // The row statement `q` ($1 = key) yields, read by from(result, 0); NotFound "<noun> <key> does
  // not exist" when there is none. `what` names the operation in other errors.
  template <typename From>
  auto get_by_key(Q q, std::string_view key, std::string_view what, std::string_view noun,
                  From from) -> Result<decltype(from(nullptr, 0))>;
  // Runs the write statement `q` on the row with $1 = key (and $2 = value when given), which
  // returns the count of rows it changed; NotFound "<noun> <key> does not exist" when it is 0.
  Status write_existing(Q q, std::string_view what, std::string_view key,
                        std::optional<std::string_view> value, std::string_view noun);
  // One page of a table listed by (name, arn) (state machines, activities): `kind` marks its
  // tokens; statement `q` continues after ($1 name, $2 arn) with at most $3 rows.
  template <typename From>
  auto list_by_name(Q q, std::string_view what, char kind, const PageRequest& page, From from)
      -> Result<Page<decltype(from(nullptr, 0))>>;

  Status commit_once(const CommitBatch& batch, CommitConflict* conflict, bool& retry);
  Status diagnose_commit(const CommitBatch& batch, const Failure& failure,
                         CommitConflict* conflict);

  Pool pool_;
};

PostgresStore::Outcome PostgresStore::run(const std::vector<Call>& calls, bool read_only) {
  Outcome out;
  for (int attempt = 0;; ++attempt) {
    Result<std::unique_ptr<Conn>> conn = pool_.acquire();
    if (!conn.ok()) {
      out.failure = Failure{};
      out.failure.broken = true;
      out.failure.no_connection = conn.error();
      return out;
    }
    out.failure = Failure{};
    out.ok = run_pipeline(**conn, calls, out.results, out.failure);
    const bool broken = !out.ok && out.failure.broken;
    pool_.release(std::move(*conn), broken);
    const bool not_committed = !out.failure.sync_sent || out.failure.aborted_before_sync;
    if (broken && attempt == 0 && (read_only || not_committed)) continue;
    return out;
  }
}

Result<std::vector<PgResult>> PostgresStore::run_simple(std::string_view what,
                                                        const std::vector<Call>& calls,
                                                        bool read_only) {
  Outcome out = run(calls, read_only);
  if (!out.ok) return map_failure(what, out.failure);
  return std::move(out.results);
}

Result<std::vector<PgResult>> PostgresStore::run_by_key(Q q, std::string_view key,
                                                        std::string_view what, bool read_only) {
  std::vector<Call> calls;
  calls.emplace_back(q).params.text(key);
  return run_simple(what, calls, read_only);
}

template <typename From>
auto PostgresStore::rows_by_key(Q q, std::string_view key, std::string_view what, From from)
    -> Result<std::vector<decltype(from(nullptr, 0))>> {
  auto res = run_by_key(q, key, what, true);
  if (!res.ok()) return res.error();
  return rows_of((*res)[0].get(), from);
}

template <typename From>
auto PostgresStore::get_by_key(Q q, std::string_view key, std::string_view what,
                               std::string_view noun, From from)
    -> Result<decltype(from(nullptr, 0))> {
  auto res = run_by_key(q, key, what, true);
  if (!res.ok()) return res.error();
  const PGresult* r = (*res)[0].get();
  if (PQntuples(r) == 0) {
    return error(ErrorCode::NotFound,
                 std::string(noun) + " " + std::string(key) + " does not exist");
  }
  return from(r, 0);
}

Status PostgresStore::write_existing(Q q, std::string_view what, std::string_view key,
                                     std::optional<std::string_view> value, std::string_view noun) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(q).params;
  p.text(key);
  if (value) p.text(*value);
  auto res = run_simple(what, calls, false);
  if (!res.ok()) return res.error();
  if (i64((*res)[0].get(), 0, 0) == 0) {
    return error(ErrorCode::NotFound,
                 std::string(noun) + " " + std::string(key) + " does not exist");
  }
  return {};
}

template <typename From>
auto PostgresStore::list_by_name(Q q, std::string_view what, char kind, const PageRequest& page,
                                 From from) -> Result<Page<decltype(from(nullptr, 0))>> {
  if (Status s = check_page_size(page); !s.ok()) return s.error();
  std::string after_name;
  std::string after_arn;
  if (!page.next_token.empty()) {
    auto fields = read_token(page.next_token, kind, 2);
    if (!fields) return invalid_next_token();
    after_name = (*fields)[0];
    after_arn = (*fields)[1];
  }
  std::vector<Call> calls;
  Params& p = calls.emplace_back(q).params;
  p.text(after_name);
  p.text(after_arn);
  p.int8(page.max_results + 1);
  auto res = run_simple(what, calls, true);
  if (!res.ok()) return res.error();
  return page_of((*res)[0].get(), page.max_results, from, [&](const auto& last) {
    return make_token(kind, {last.name, last.arn});
  });
}

Status PostgresStore::migrate() {
  // Its own connection, outside the pool and pipeline mode, for multi-statement DDL.
  Result<std::unique_ptr<Conn>> conn = connect(pool_.config(), false);
  if (!conn.ok()) return conn.error();
  PGconn* pg = (*conn)->pg;
  auto exec = [&](const std::string& sql, ExecStatusType want, PgResult* keep) -> Status {
    PgResult r(PQexec(pg, sql.c_str()));
    if (PQresultStatus(r.get()) != want) {
      Failure f;
      const char* state = PQresultErrorField(r.get(), PG_DIAG_SQLSTATE);
      f.sqlstate = state ? state : "";
      f.message = trim(PQerrorMessage(pg));
      f.broken = PQstatus(pg) != CONNECTION_OK;
      PgResult rollback(PQexec(pg, "ROLLBACK"));
      return map_failure("migrate", f);
    }
    if (keep) *keep = std::move(r);
    return {};
  };
  const std::string& schema = pool_.config().schema;
  // One migrator at a time per schema (several nodes may start together).
  std::string lock_key = "stepd.migrate:" + (schema.empty() ? std::string("-") : schema);
  if (Status s = exec("BEGIN", PGRES_COMMAND_OK, nullptr); !s.ok()) return s;
  if (Status s = exec("SELECT pg_advisory_xact_lock(hashtext('" + lock_key + "'))", PGRES_TUPLES_OK,
                      nullptr);
      !s.ok()) {
    return s;
  }
  if (!schema.empty()) {
    if (Status s =
            exec("CREATE SCHEMA IF NOT EXISTS " + quote_ident(schema), PGRES_COMMAND_OK, nullptr);
        !s.ok()) {
      return s;
    }
  }
  if (Status s = exec("CREATE TABLE IF NOT EXISTS schema_version (version INT PRIMARY KEY, "
                      "applied TIMESTAMPTZ NOT NULL DEFAULT now())",
                      PGRES_COMMAND_OK, nullptr);
      !s.ok()) {
    return s;
  }
  PgResult current;
  if (Status s =
          exec("SELECT COALESCE(max(version), 0) FROM schema_version", PGRES_TUPLES_OK, &current);
      !s.ok()) {
    return s;
  }
  const int have = i32(current.get(), 0, 0);
  if (have > kSchemaVersion) {
    PgResult rollback(PQexec(pg, "ROLLBACK"));
    return error(ErrorCode::Internal, "postgresql: the database schema is at version " +
                                          std::to_string(have) + ", newer than this stepd (" +
                                          std::to_string(kSchemaVersion) + ")");
  }
  for (int v = have + 1; v <= kSchemaVersion; ++v) {
    if (Status s = exec(kMigrations[v - 1], PGRES_COMMAND_OK, nullptr); !s.ok()) return s;
    if (Status s = exec("INSERT INTO schema_version (version) VALUES (" + std::to_string(v) + ")",
                        PGRES_COMMAND_OK, nullptr);
        !s.ok()) {
      return s;
    }
  }
  return exec("COMMIT", PGRES_COMMAND_OK, nullptr);
}

Result<int> PostgresStore::schema_version() {
  std::vector<Call> calls;
  calls.emplace_back(Q::SchemaVersion);
  Outcome out = run(calls, true);
  if (!out.ok) {
    if (out.failure.sqlstate == "42P01") return 0;  // undefined_table: never migrated
    return map_failure("schema_version", out.failure);
  }
  return i32(out.results[0].get(), 0, 0);
}

Status PostgresStore::create_state_machine(const StateMachineRecord& machine) {
  std::vector<Call> calls;
  add_machine_params(calls.emplace_back(Q::InsertMachine).params, machine);
  add_revision_params(calls.emplace_back(Q::InsertRevision).params, machine.arn,
                      machine.revision_id, machine.definition, machine.role_arn, machine.created);
  Outcome out = run(calls, false);
  if (out.ok) return {};
  if (out.failure.sqlstate == "23505") {
    if (out.failure.call == 0) {
      return error(ErrorCode::AlreadyExists, "state machine " + machine.arn + " already exists");
    }
    return error(
        ErrorCode::AlreadyExists,
        "revision " + machine.revision_id + " of state machine " + machine.arn + " already exists");
  }
  return map_failure("create_state_machine", out.failure);
}

Status PostgresStore::update_state_machine(const StateMachineRecord& machine,
                                           const RevisionRecord& revision) {
  std::vector<Call> calls;
  add_machine_params(calls.emplace_back(Q::UpdateMachine).params, machine);
  add_revision_params(calls.emplace_back(Q::InsertRevision).params, revision.machine_arn,
                      revision.revision_id, revision.definition, revision.role_arn,
                      revision.created);
  Outcome out = run(calls, false);
  if (out.ok) return {};
  if (out.failure.sqlstate == kCheckFailed && out.failure.call == 0) {
    return error(ErrorCode::NotFound, "state machine " + machine.arn + " does not exist");
  }
  if (out.failure.sqlstate == "23505" && out.failure.call == 1) {
    return error(ErrorCode::AlreadyExists, "revision " + revision.revision_id +
                                               " of state machine " + revision.machine_arn +
                                               " already exists");
  }
  return map_failure("update_state_machine", out.failure);
}

Result<StateMachineRecord> PostgresStore::get_state_machine(std::string_view arn) {
  return get_by_key(Q::GetMachine, arn, "get_state_machine", "state machine", machine_from);
}

Result<RevisionRecord> PostgresStore::get_revision(std::string_view machine_arn,
                                                   std::string_view revision_id) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::GetRevision).params;
  p.text(machine_arn);
  p.text(revision_id);
  auto res = run_simple("get_revision", calls, true);
  if (!res.ok()) return res.error();
  const PGresult* r = (*res)[0].get();
  if (PQntuples(r) == 0) {
    return error(ErrorCode::NotFound, "revision " + std::string(revision_id) +
                                          " of state machine " + std::string(machine_arn) +
                                          " does not exist");
  }
  return RevisionRecord{str(r, 0, 0), str(r, 0, 1), str(r, 0, 2), str(r, 0, 3), i64(r, 0, 4)};
}

Result<Page<StateMachineRecord>> PostgresStore::list_state_machines(const PageRequest& page) {
  return list_by_name(Q::ListMachines, "list_state_machines", 'm', page, machine_from);
}

Status PostgresStore::delete_state_machine(std::string_view arn) {
  return write_existing(Q::DeleteMachine, "delete_state_machine", arn, std::nullopt,
                        "state machine");
}

Status PostgresStore::set_state_machine_tags(std::string_view arn, const std::string& tags_json) {
  return write_existing(Q::SetMachineTags, "set_state_machine_tags", arn, tags_json,
                        "state machine");
}

// --- Audit log ----------------------------------------------------------------------------------
Status PostgresStore::append_audit(const std::vector<AuditRecord>& entries) {
  if (entries.empty()) return {};
  ArrayBuilder time(kInt8), key(kText), remote(kText), operation(kText), resource(kText),
      outcome(kText), request(kText);
  for (const AuditRecord& a : entries) {
    time.add(a.time);
    key.add(std::string_view(a.key_id));
    remote.add(std::string_view(a.remote));
    operation.add(std::string_view(a.operation));
    resource.add(std::string_view(a.resource));
    outcome.add(std::string_view(a.outcome));
    request.add(std::string_view(a.request_id));
  }
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::InsertAudit).params;
  for (ArrayBuilder* a : {&time, &key, &remote, &operation, &resource, &outcome, &request}) {
    p.array(std::move(*a));
  }
  auto res = run_simple("append_audit", calls, false);
  if (!res.ok()) return res.error();
  return {};
}

Result<Page<AuditRecord>> PostgresStore::list_audit(const AuditQuery& query,
                                                    const PageRequest& page) {
  if (Status s = check_page_size(page); !s.ok()) return s.error();
  std::int64_t before = std::numeric_limits<std::int64_t>::max();
  if (!page.next_token.empty()) {
    auto fields = read_token(page.next_token, 'a', 1);
    if (!fields) return invalid_next_token();
    auto id = parse_i64((*fields)[0]);
    if (!id) return invalid_next_token();
    before = *id;
  }
  const Q q = !query.resource.empty()    ? Q::ListAuditByResource
              : !query.key_id.empty()    ? Q::ListAuditByKey
              : !query.operation.empty() ? Q::ListAuditByOperation
                                         : Q::ListAudit;
  std::vector<Call> calls;
  Params& p = calls.emplace_back(q).params;
  p.int8(before);
  p.int8(page.max_results + 1);
  p.text(query.key_id);
  p.text(query.operation);
  p.text(query.resource);
  auto res = run_simple("list_audit", calls, true);
  if (!res.ok()) return res.error();
  return page_of(
      (*res)[0].get(), page.max_results,
      [](const PGresult* r, int i) {
        return AuditRecord{i64(r, i, 0), i64(r, i, 1), str(r, i, 2), str(r, i, 3),
                           str(r, i, 4), str(r, i, 5), str(r, i, 6), str(r, i, 7)};
      },
      [](const AuditRecord& last) { return make_token('a', {std::to_string(last.id)}); });
}

// --- commit
// ---------------------------------------------------------------------------------------
Status check_event_ids(const CommitBatch& batch) {
  for (const ExecutionWrite& w : batch.writes) {
    for (std::size_t i = 0; i < w.events.size(); ++i) {
      const std::int64_t prev = i > 0 ? w.events[i - 1].id : (w.create ? 0 : -1);
      if (prev >= 0 && w.events[i].id != prev + 1) {
        return error(ErrorCode::InvalidArgument, "execution " + w.execution_arn + ": event id " +
                                                     std::to_string(w.events[i].id) +
                                                     " does not follow " + std::to_string(prev));
      }
    }
  }
  return {};
}

// Splits the writes into rounds in which each execution appears at most once (a batch may carry
// several steps of one execution; each must see the one before).
std::vector<std::vector<const ExecutionWrite*>> rounds_of(const CommitBatch& batch) {
  std::vector<std::vector<const ExecutionWrite*>> rounds(1);
  std::unordered_map<std::string_view, std::size_t> next_round;
  for (const ExecutionWrite& w : batch.writes) {
    std::size_t& r = next_round[w.execution_arn];
    if (r == rounds.size()) rounds.emplace_back();
    rounds[r].push_back(&w);
    ++r;
  }
  return rounds;
}

// Visits the items of `items` that are not overridden by a later item with the same key.
template <typename T, typename Key, typename Fn>
void for_each_last(const std::vector<T>& items, Key key, Fn fn) {
  if (items.size() <= 1) {
    for (const T& item : items) fn(item);
    return;
  }
  std::set<decltype(key(items[0]))> seen;
  std::vector<const T*> keep;
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (seen.insert(key(*it)).second) keep.push_back(&*it);
  }
  for (auto it = keep.rbegin(); it != keep.rend(); ++it) fn(**it);
}

// Drops from `items` each one whose token a later one repeats (the last one wins); keeps order.
template <typename T>
void keep_last_per_token(std::vector<const T*>& items) {
  if (items.size() <= 1) return;
  std::unordered_set<std::string_view> seen;
  std::vector<const T*> keep;
  for (auto it = items.rbegin(); it != items.rend(); ++it) {
    if (seen.insert((*it)->token).second) keep.push_back(*it);
  }
  items.assign(keep.rbegin(), keep.rend());
}

void add_round(std::vector<Call>& calls, const std::vector<const ExecutionWrite*>& writes) {
  // Creates.
  {
    ArrayBuilder arn(kText), machine(kText), revision(kText), name(kText), type(kText),
        status(kText), input(kText), output(kText), err(kText), cause(kText), start(kInt8),
        stop(kInt8), trace(kText), redrive_count(kInt4), redrive_date(kInt8), last(kInt8),
        partition(kInt4), compensation(kText);
    for (const ExecutionWrite* w : writes) {
      if (!w->create) continue;
      const ExecutionRecord& e = *w->create;
      const ExecutionUpdate& u = w->update;
      arn.add(std::string_view(w->execution_arn));
      machine.add(std::string_view(e.machine_arn));
      revision.add(std::string_view(e.revision_id));
      name.add(std::string_view(e.name));
      type.add(std::string_view(e.type));
      status.add(std::string_view(u.status ? *u.status : e.status));
      input.add(std::string_view(e.input));
      output.add(u.output ? u.output : e.output);
      err.add(u.error ? u.error : e.error);
      cause.add(u.cause ? u.cause : e.cause);
      start.add(e.start);
      stop.add(u.stop ? u.stop : e.stop);
      trace.add(std::string_view(e.trace_header));
      redrive_count.add(u.redrive_count ? *u.redrive_count : e.redrive_count);
      redrive_date.add(u.redrive_date ? u.redrive_date : e.redrive_date);
      last.add(w->events.empty() ? std::int64_t{0} : w->events.back().id);
      partition.add(e.partition);
      compensation.add(u.compensation ? u.compensation : e.compensation);
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(Q::CreateExecutions).params;
      for (ArrayBuilder* a :
           {&arn, &machine, &revision, &name, &type, &status, &input, &output, &err, &cause, &start,
            &stop, &trace, &redrive_count, &redrive_date, &last, &partition, &compensation}) {
        p.array(std::move(*a));
      }
    }
  }
  // Updates with the version and event-id checks.
  {
    ArrayBuilder arn(kText), expected(kInt8), first(kInt8), last(kInt8), status(kText),
        output(kText), err(kText), cause(kText), stop(kInt8), redrive_count(kInt4),
        redrive_date(kInt8), compensation(kText);
    for (const ExecutionWrite* w : writes) {
      if (w->create) continue;
      const ExecutionUpdate& u = w->update;
      arn.add(std::string_view(w->execution_arn));
      expected.add(w->expected_version);
      if (w->events.empty()) {
        first.add_null();
        last.add_null();
      } else {
        first.add(w->events.front().id);
        last.add(w->events.back().id);
      }
      status.add(u.status);
      output.add(u.output);
      err.add(u.error);
      cause.add(u.cause);
      stop.add(u.stop);
      redrive_count.add(u.redrive_count);
      redrive_date.add(u.redrive_date);
      compensation.add(u.compensation);
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(Q::UpdateExecutions).params;
      for (ArrayBuilder* a : {&arn, &expected, &first, &last, &status, &output, &err, &cause, &stop,
                              &redrive_count, &redrive_date, &compensation}) {
        p.array(std::move(*a));
      }
    }
  }
  // History.
  {
    ArrayBuilder arn(kText), id(kInt8), prev(kInt8), ts(kInt8), type(kText), details(kText);
    for (const ExecutionWrite* w : writes) {
      for (const HistoryEvent& e : w->events) {
        arn.add(std::string_view(w->execution_arn));
        id.add(e.id);
        prev.add(e.previous_id);
        ts.add(e.timestamp);
        type.add(std::string_view(e.type));
        details.add(std::string_view(e.details));
      }
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(Q::InsertHistory).params;
      for (ArrayBuilder* a : {&arn, &id, &prev, &ts, &type, &details}) p.array(std::move(*a));
    }
  }
  // Deletes (by execution and key) before puts, so a put of a deleted key wins.
  auto add_deletes = [&](Q q, auto member) {
    ArrayBuilder arn(kText), key(kText);
    for (const ExecutionWrite* w : writes) {
      for (const std::string& k : w->*member) {
        arn.add(std::string_view(w->execution_arn));
        key.add(std::string_view(k));
      }
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(q).params;
      p.array(std::move(arn));
      p.array(std::move(key));
    }
  };
  add_deletes(Q::DeleteFrames, &ExecutionWrite::frames_delete);
  {
    ArrayBuilder arn(kText), id(kText), data(kText);
    for (const ExecutionWrite* w : writes) {
      for_each_last(
          w->frames_put, [](const FrameRecord& f) { return std::string_view(f.frame_id); },
          [&](const FrameRecord& f) {
            arn.add(std::string_view(w->execution_arn));
            id.add(std::string_view(f.frame_id));
            data.add(std::string_view(f.data));
          });
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(Q::PutFrames).params;
      for (ArrayBuilder* a : {&arn, &id, &data}) p.array(std::move(*a));
    }
  }
  add_deletes(Q::DeleteMapResults, &ExecutionWrite::map_results_delete);
  {
    ArrayBuilder arn(kText), id(kText), idx(kInt8), output(kText);
    for (const ExecutionWrite* w : writes) {
      for_each_last(
          w->map_results_put,
          [](const MapResultRecord& m) { return std::pair(std::string_view(m.frame_id), m.index); },
          [&](const MapResultRecord& m) {
            arn.add(std::string_view(w->execution_arn));
            id.add(std::string_view(m.frame_id));
            idx.add(m.index);
            output.add(std::string_view(m.output));
          });
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(Q::PutMapResults).params;
      for (ArrayBuilder* a : {&arn, &id, &idx, &output}) p.array(std::move(*a));
    }
  }
  add_deletes(Q::DeleteTimers, &ExecutionWrite::timers_delete);
  {
    ArrayBuilder arn(kText), id(kText), due(kInt8), partition(kInt4);
    for (const ExecutionWrite* w : writes) {
      for_each_last(
          w->timers_put, [](const TimerRecord& t) { return std::string_view(t.timer_id); },
          [&](const TimerRecord& t) {
            arn.add(std::string_view(w->execution_arn));
            id.add(std::string_view(t.timer_id));
            due.add(t.due);
            partition.add(t.partition);
          });
    }
    if (arn.size() > 0) {
      Params& p = calls.emplace_back(Q::PutTimers).params;
      for (ArrayBuilder* a : {&arn, &id, &due, &partition}) p.array(std::move(*a));
    }
  }
  {
    ArrayBuilder tokens(kText);
    for (const ExecutionWrite* w : writes) {
      for (const std::string& t : w->tasks_delete) tokens.add(std::string_view(t));
    }
    if (tokens.size() > 0) calls.emplace_back(Q::DeleteTasks).params.array(std::move(tokens));
  }
  {
    // Tokens are global keys: the last put of a token in the round wins.
    std::vector<const TaskRecord*> tasks;
    for (const ExecutionWrite* w : writes) {
      for (const TaskRecord& t : w->tasks_put) tasks.push_back(&t);
    }
    if (!tasks.empty()) {
      keep_last_per_token(tasks);
      ArrayBuilder token(kText), arn(kText), frame(kText), state(kText), resource(kText),
          activity(kText), input(kText), status(kText), worker(kText), scheduled(kInt8),
          heartbeat(kInt8), timeout(kInt8), partition(kInt4);
      for (const TaskRecord* t : tasks) {
        token.add(std::string_view(t->token));
        arn.add(std::string_view(t->execution_arn));
        frame.add(std::string_view(t->frame_id));
        state.add(std::string_view(t->state_name));
        resource.add(std::string_view(t->resource));
        activity.add(std::string_view(t->activity_arn));
        input.add(std::string_view(t->input));
        status.add(std::string_view(t->status));
        worker.add(std::string_view(t->worker_name));
        scheduled.add(t->scheduled);
        heartbeat.add(t->heartbeat_due);
        timeout.add(t->timeout_due);
        partition.add(t->partition);
      }
      Params& p = calls.emplace_back(Q::PutTasks).params;
      for (ArrayBuilder* a : {&token, &arn, &frame, &state, &resource, &activity, &input, &status,
                              &worker, &scheduled, &heartbeat, &timeout, &partition}) {
        p.array(std::move(*a));
      }
    }
  }
  {
    // After the puts; one row per token (UPDATE ... FROM applies one source row per target row):
    // the last hand-out of a token in the round wins.
    std::vector<const ExecutionWrite::TaskStarted*> started;
    for (const ExecutionWrite* w : writes) {
      for (const ExecutionWrite::TaskStarted& t : w->tasks_started) started.push_back(&t);
    }
    if (!started.empty()) {
      keep_last_per_token(started);
      ArrayBuilder token(kText), worker(kText);
      for (const ExecutionWrite::TaskStarted* t : started) {
        token.add(std::string_view(t->token));
        worker.add(std::string_view(t->worker_name));
      }
      Params& p = calls.emplace_back(Q::StartTasks).params;
      p.array(std::move(token));
      p.array(std::move(worker));
    }
  }
}

Status PostgresStore::commit(const CommitBatch& batch, CommitConflict* conflict) {
  if (conflict) *conflict = CommitConflict{};
  if (batch.writes.empty() && batch.fences.empty()) return {};
  if (Status s = check_event_ids(batch); !s.ok()) return s;
  // Deadlocks and serialization failures roll everything back: retry a few times.
  for (int attempt = 0;; ++attempt) {
    bool retry = false;
    Status s = commit_once(batch, conflict, retry);
    if (!retry || attempt == 4) return s;
  }
}

Status PostgresStore::commit_once(const CommitBatch& batch, CommitConflict* conflict, bool& retry) {
  std::vector<Call> calls;
  if (!batch.fences.empty()) {
    ArrayBuilder partition(kInt4), node(kText), epoch(kInt8);
    for (const Fence& f : batch.fences) {
      partition.add(f.partition);
      node.add(std::string_view(f.node));
      epoch.add(f.epoch);
    }
    Params& p = calls.emplace_back(Q::CheckFences).params;
    p.array(std::move(partition));
    p.array(std::move(node));
    p.array(std::move(epoch));
  }
  for (const auto& round : rounds_of(batch)) add_round(calls, round);
  Outcome out = run(calls, false);
  if (out.ok) return {};
  const Failure& f = out.failure;
  if (f.broken && f.sync_sent && !f.aborted_before_sync) {
    return error(ErrorCode::Unavailable,
                 "postgresql: commit: connection lost after the batch was sent, so whether it "
                 "committed is unknown: " +
                     f.message);
  }
  if (f.sqlstate == "40001" || f.sqlstate == "40P01") {
    retry = true;
    return map_failure("commit", f);
  }
  if (f.sqlstate == kCheckFailed) return diagnose_commit(batch, f, conflict);
  return map_failure("commit", f);
}

// Explains a failed check from the current state of the rows involved: the first problem in the
// documented order, and every stale execution and lost partition.
Status PostgresStore::diagnose_commit(const CommitBatch& batch, const Failure& failure,
                                      CommitConflict* conflict) {
  std::vector<Call> calls;
  {
    ArrayBuilder arns(kText);
    for (const ExecutionWrite& w : batch.writes) arns.add(std::string_view(w.execution_arn));
    calls.emplace_back(Q::ExecutionStates).params.array(std::move(arns));
    ArrayBuilder partitions(kInt4);
    for (const Fence& f : batch.fences) partitions.add(f.partition);
    calls.emplace_back(Q::FenceStates).params.array(std::move(partitions));
  }
  auto res = run_simple("commit", calls, true);
  if (!res.ok()) return res.error();
  struct State {
    bool exists = false;
    std::int64_t version = 0;
    std::int64_t last_event_id = 0;
  };
  std::unordered_map<std::string, State> executions;
  const PGresult* er = (*res)[0].get();
  for (int i = 0; i < PQntuples(er); ++i) {
    executions[str(er, i, 0)] = State{true, i64(er, i, 1), i64(er, i, 2)};
  }
  struct Lease {
    std::string node;
    std::int64_t epoch;
  };
  std::unordered_map<int, Lease> leases;
  const PGresult* fr = (*res)[1].get();
  for (int i = 0; i < PQntuples(fr); ++i)
    leases[i32(fr, i, 0)] = Lease{str(fr, i, 1), i64(fr, i, 2)};

  CommitConflict found;
  std::string first_conflict;
  std::string first_invalid;
  for (const Fence& f : batch.fences) {
    auto it = leases.find(f.partition);
    if (it == leases.end() || it->second.node != f.node || it->second.epoch != f.epoch) {
      found.lost_partitions.push_back(f.partition);
      if (first_conflict.empty()) {
        first_conflict = "partition " + std::to_string(f.partition) + " is no longer held by " +
                         f.node + " at epoch " + std::to_string(f.epoch);
      }
    }
  }
  // Replays the writes against the stored rows, in batch order.
  for (const ExecutionWrite& w : batch.writes) {
    State& s = executions[w.execution_arn];
    std::string problem;
    if (w.create) {
      if (s.exists) problem = "execution " + w.execution_arn + " already exists";
    } else if (!s.exists) {
      problem = "execution " + w.execution_arn + " does not exist";
    } else if (s.version != w.expected_version) {
      problem = "execution " + w.execution_arn + " is at version " + std::to_string(s.version) +
                ", not " + std::to_string(w.expected_version);
    }
    if (!problem.empty()) {
      found.stale_executions.push_back(w.execution_arn);
      if (first_conflict.empty()) first_conflict = problem;
      continue;
    }
    if (!w.create && !w.events.empty() && w.events.front().id != s.last_event_id + 1 &&
        first_invalid.empty()) {
      first_invalid = "execution " + w.execution_arn + ": event id " +
                      std::to_string(w.events.front().id) + " does not follow " +
                      std::to_string(s.last_event_id);
    }
    s.exists = true;
    s.version = w.create ? 1 : s.version + 1;
    if (!w.events.empty()) s.last_event_id = w.events.back().id;
  }
  if (!first_conflict.empty()) {
    if (conflict) *conflict = std::move(found);
    return error(ErrorCode::Conflict, first_conflict);
  }
  if (!first_invalid.empty()) return error(ErrorCode::InvalidArgument, first_invalid);
  // The rows changed again between the failed check and this read: report the check itself.
  return error(ErrorCode::Conflict, "postgresql: commit: " + failure.message +
                                        " (a concurrent change; reload and retry)");
}

// --- Reads
// ----------------------------------------------------------------------------------------
Result<ExecutionRecord> PostgresStore::get_execution(std::string_view arn) {
  return get_by_key(Q::GetExecution, arn, "get_execution", "execution", execution_from);
}

Result<Page<ExecutionRecord>> PostgresStore::list_executions(const ExecutionFilter& filter,
                                                             const PageRequest& page) {
  if (Status s = check_page_size(page); !s.ok()) return s.error();
  std::int64_t before_start = std::numeric_limits<std::int64_t>::max();
  std::string after_arn;
  if (!page.next_token.empty()) {
    auto fields = read_token(page.next_token, 'e', 2);
    if (!fields) return invalid_next_token();
    auto start = parse_i64((*fields)[0]);
    if (!start) return invalid_next_token();
    before_start = *start;
    after_arn = (*fields)[1];
  }
  std::vector<Call> calls;
  Params& p =
      calls
          .emplace_back(filter.machine_arn.empty() ? Q::ListExecutions : Q::ListExecutionsOfMachine)
          .params;
  p.text(filter.status);
  p.int8(before_start);
  p.text(after_arn);
  p.int8(page.max_results + 1);
  if (!filter.machine_arn.empty()) p.text(filter.machine_arn);
  auto res = run_simple("list_executions", calls, true);
  if (!res.ok()) return res.error();
  return page_of((*res)[0].get(), page.max_results, execution_from,
                 [](const ExecutionRecord& last) {
                   return make_token('e', {std::to_string(last.start), last.arn});
                 });
}

Result<Page<HistoryEvent>> PostgresStore::get_history(std::string_view arn, const PageRequest& page,
                                                      bool reverse) {
  if (Status s = check_page_size(page); !s.ok()) return s.error();
  std::int64_t after = reverse ? std::numeric_limits<std::int64_t>::max() : 0;
  if (!page.next_token.empty()) {
    auto fields = read_token(page.next_token, reverse ? 'r' : 'h', 1);
    if (!fields) return invalid_next_token();
    auto id = parse_i64((*fields)[0]);
    if (!id) return invalid_next_token();
    after = *id;
  }
  std::vector<Call> calls;
  calls.emplace_back(Q::ExecutionExists).params.text(arn);
  Params& p = calls.emplace_back(reverse ? Q::HistoryReverse : Q::HistoryForward).params;
  p.text(arn);
  p.int8(after);
  p.int8(page.max_results + 1);
  auto res = run_simple("get_history", calls, true);
  if (!res.ok()) return res.error();
  if (PQntuples((*res)[0].get()) == 0) {
    return error(ErrorCode::NotFound, "execution " + std::string(arn) + " does not exist");
  }
  return page_of(
      (*res)[1].get(), page.max_results,
      [](const PGresult* r, int i) {
        return HistoryEvent{i64(r, i, 0), i64(r, i, 1), i64(r, i, 2), str(r, i, 3), str(r, i, 4)};
      },
      [&](const HistoryEvent& last) {
        return make_token(reverse ? 'r' : 'h', {std::to_string(last.id)});
      });
}

Result<std::vector<FrameRecord>> PostgresStore::load_frames(std::string_view arn) {
  return rows_by_key(Q::LoadFrames, arn, "load_frames", [](const PGresult* r, int i) {
    return FrameRecord{str(r, i, 0), str(r, i, 1)};
  });
}

Result<std::vector<MapResultRecord>> PostgresStore::load_map_results(std::string_view arn) {
  return rows_by_key(Q::LoadMapResults, arn, "load_map_results", [](const PGresult* r, int i) {
    return MapResultRecord{str(r, i, 0), i64(r, i, 1), str(r, i, 2)};
  });
}

Result<std::vector<std::string>> PostgresStore::open_executions(
    const std::vector<int>& partitions) {
  std::vector<Call> calls;
  if (partitions.empty()) {
    calls.emplace_back(Q::OpenExecutions);
  } else {
    ArrayBuilder a(kInt4);
    for (int p : partitions) a.add(p);
    calls.emplace_back(Q::OpenExecutionsIn).params.array(std::move(a));
  }
  auto res = run_simple("open_executions", calls, true);
  if (!res.ok()) return res.error();
  return rows_of((*res)[0].get(), [](const PGresult* r, int i) { return str(r, i, 0); });
}

Result<std::vector<TimerRecord>> PostgresStore::due_timers(Micros until,
                                                           const std::vector<int>& partitions,
                                                           int max) {
  if (Status s = check_max(max); !s.ok()) return s.error();
  std::vector<Call> calls;
  Params& p = calls.emplace_back(partitions.empty() ? Q::DueTimers : Q::DueTimersIn).params;
  p.int8(until);
  p.int8(max);
  if (!partitions.empty()) {
    ArrayBuilder a(kInt4);
    for (int part : partitions) a.add(part);
    p.array(std::move(a));
  }
  auto res = run_simple("due_timers", calls, true);
  if (!res.ok()) return res.error();
  return rows_of((*res)[0].get(), [](const PGresult* r, int i) {
    return TimerRecord{str(r, i, 0), str(r, i, 1), i64(r, i, 2), i32(r, i, 3)};
  });
}

Result<TaskRecord> PostgresStore::get_task(std::string_view token) {
  return get_by_key(Q::GetTask, token, "get_task", "task", task_from);
}

Result<std::vector<TaskRecord>> PostgresStore::tasks_of_execution(std::string_view arn) {
  return rows_by_key(Q::TasksOfExecution, arn, "tasks_of_execution", task_from);
}

// --- Activities ---------------------------------------------------------------------------------
Status PostgresStore::create_activity(const ActivityRecord& activity) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::InsertActivity).params;
  p.text(activity.arn);
  p.text(activity.name);
  p.text(activity.tags_json);
  p.int8(activity.created);
  Outcome out = run(calls, false);
  if (out.ok) return {};
  if (out.failure.sqlstate == "23505") {
    return error(ErrorCode::AlreadyExists, "activity " + activity.arn + " already exists");
  }
  return map_failure("create_activity", out.failure);
}

Result<ActivityRecord> PostgresStore::get_activity(std::string_view arn) {
  return get_by_key(Q::GetActivity, arn, "get_activity", "activity", activity_from);
}

Result<Page<ActivityRecord>> PostgresStore::list_activities(const PageRequest& page) {
  return list_by_name(Q::ListActivities, "list_activities", 'v', page, activity_from);
}

Status PostgresStore::delete_activity(std::string_view arn) {
  return write_existing(Q::DeleteActivity, "delete_activity", arn, std::nullopt, "activity");
}

Status PostgresStore::set_activity_tags(std::string_view arn, const std::string& tags_json) {
  return write_existing(Q::SetActivityTags, "set_activity_tags", arn, tags_json, "activity");
}

// --- Task routing registry ----------------------------------------------------------------------
Status PostgresStore::put_route(const RouteRecord& route) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::PutRoute).params;
  p.text(route.kind);
  p.text(route.name);
  p.text(route.url);
  p.int8(route.updated);
  auto res = run_simple("put_route", calls, false);
  if (!res.ok()) return res.error();
  return {};
}

Status PostgresStore::delete_route(std::string_view kind, std::string_view name) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::DeleteRoute).params;
  p.text(kind);
  p.text(name);
  auto res = run_simple("delete_route", calls, false);
  if (!res.ok()) return res.error();
  if (i64((*res)[0].get(), 0, 0) == 0) {
    return error(ErrorCode::NotFound,
                 "route " + std::string(kind) + " " + std::string(name) + " does not exist");
  }
  return {};
}

Result<std::vector<RouteRecord>> PostgresStore::list_routes() {
  std::vector<Call> calls;
  calls.emplace_back(Q::ListRoutes);
  auto res = run_simple("list_routes", calls, true);
  if (!res.ok()) return res.error();
  return rows_of((*res)[0].get(), [](const PGresult* r, int i) {
    return RouteRecord{str(r, i, 0), str(r, i, 1), str(r, i, 2), i64(r, i, 3)};
  });
}

// --- Tasks across nodes -------------------------------------------------------------------------
Result<std::optional<TaskRecord>> PostgresStore::claim_activity_task(std::string_view activity_arn,
                                                                     Micros scheduled_before,
                                                                     const std::string& worker) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::ClaimActivityTask).params;
  p.text(activity_arn);
  p.int8(scheduled_before);
  p.text(worker);
  auto res = run_simple("claim_activity_task", calls, false);
  if (!res.ok()) return res.error();
  const PGresult* r = (*res)[0].get();
  if (PQntuples(r) == 0) return std::optional<TaskRecord>();
  return std::optional<TaskRecord>(task_from(r, 0));
}

Result<bool> PostgresStore::release_activity_task(std::string_view token,
                                                  const std::string& worker) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::ReleaseActivityTask).params;
  p.text(token);
  p.text(worker);
  auto res = run_simple("release_activity_task", calls, false);
  if (!res.ok()) return res.error();
  return PQntuples((*res)[0].get()) > 0;
}

Status PostgresStore::post_task_message(const TaskMessage& message) {
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::InsertTaskMessage).params;
  p.text(message.token);
  p.text(message.kind);
  p.text(message.body);
  p.int8(message.created);
  Outcome out = run(calls, false);
  if (!out.ok) {
    if (out.failure.sqlstate == "23505") {
      return error(ErrorCode::AlreadyExists, "task " + message.token + " already has an outcome");
    }
    return map_failure("post_task_message", out.failure);
  }
  if (PQntuples(out.results[0].get()) == 0) {
    return error(ErrorCode::NotFound, "task " + message.token + " does not exist");
  }
  return {};
}

Result<std::vector<TaskMessage>> PostgresStore::task_messages(const std::vector<int>& partitions,
                                                              int max) {
  if (Status s = check_max(max); !s.ok()) return s.error();
  if (partitions.empty()) return std::vector<TaskMessage>();
  std::vector<Call> calls;
  Params& p = calls.emplace_back(Q::TaskMessages).params;
  ArrayBuilder a(kInt4);
  for (int part : partitions) a.add(part);
  p.array(std::move(a));
  p.int8(max);
  auto res = run_simple("task_messages", calls, true);
  if (!res.ok()) return res.error();
  return rows_of((*res)[0].get(), [](const PGresult* r, int i) {
    return TaskMessage{i64(r, i, 0), str(r, i, 1), str(r, i, 2),
                       str(r, i, 3), i32(r, i, 4), i64(r, i, 5)};
  });
}

Status PostgresStore::delete_task_messages(const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return {};
  std::vector<Call> calls;
  ArrayBuilder a(kInt8);
  for (std::int64_t id : ids) a.add(id);
  calls.emplace_back(Q::DeleteTaskMessages).params.array(std::move(a));
  auto res = run_simple("delete_task_messages", calls, false);
  if (!res.ok()) return res.error();
  return {};
}

// --- Leases -------------------------------------------------------------------------------------
Result<std::vector<PartitionLease>> PostgresStore::acquire_partitions(const std::string& node,
                                                                      int partitions,
                                                                      int max_partitions,
                                                                      Micros now, Micros ttl) {
  if (partitions < 1) {
    return error(ErrorCode::InvalidArgument,
                 "partitions must be at least 1, got " + std::to_string(partitions));
  }
  if (max_partitions < 0) {
    return error(ErrorCode::InvalidArgument,
                 "max_partitions must be at least 0, got " + std::to_string(max_partitions));
  }
  if (ttl <= 0) {
    return error(ErrorCode::InvalidArgument, "ttl must be positive, got " + std::to_string(ttl));
  }
  if (node.empty()) return error(ErrorCode::InvalidArgument, "node must not be empty");
  std::vector<Call> calls;
  Params& renew = calls.emplace_back(Q::RenewLeases).params;
  renew.text(node);
  renew.int8(now + ttl);
  Params& take = calls.emplace_back(Q::TakeLeases).params;
  take.text(node);
  take.int4(partitions);
  take.int8(now);
  take.int4(max_partitions);
  take.int8(now + ttl);
  calls.emplace_back(Q::LeasesOf).params.text(node);
  auto res = run_simple("acquire_partitions", calls, false);
  if (!res.ok()) return res.error();
  return rows_of((*res)[2].get(), lease_from);
}

Status PostgresStore::release_partitions(const std::string& node) {
  auto res = run_by_key(Q::ReleaseLeases, node, "release_partitions", false);
  if (!res.ok()) return res.error();
  return {};
}

Result<std::vector<PartitionLease>> PostgresStore::list_partitions() {
  std::vector<Call> calls;
  calls.emplace_back(Q::AllLeases);
  auto res = run_simple("list_partitions", calls, true);
  if (!res.ok()) return res.error();
  return rows_of((*res)[0].get(), lease_from);
}

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& url) {
  Result<Config> config = parse_url(url);
  if (!config.ok()) return config.error();
  Result<std::unique_ptr<Conn>> first = connect(*config, true);
  if (!first.ok()) return first.error();
  return std::unique_ptr<Store>(
      std::make_unique<PostgresStore>(std::move(*config), std::move(*first)));
}

}  // namespace stepd::engine
