// The Store: everything Stepd keeps durably, behind one interface with two implementations —
// SQLite (one file, the embedded default) and PostgreSQL (several nodes share one database).
// Both pass the same test suite (tests/engine/store/).
//
// What is stored (docs/engine.md has the why):
//  - state machines and their revisions (an execution keeps the revision it started with);
//  - executions: one row each with status, input/output and a version counter;
//  - history: the append-only event list of each execution, ids contiguous from 1;
//  - frames: the execution's current position(s), one row per frame (the root scope, each
//    running Parallel branch and Map iteration), rewritten only when that frame changes;
//  - map results: the output of each finished Map iteration, one row each (the saga extension
//    keeps its log and compensation plan in rows of this table too: docs/saga.md);
//  - timers: when each Wait, retry back-off and task time-out is due;
//  - tasks: task tokens handed out and not yet completed; messages about them between nodes;
//  - activities, and the routing registry of push tasks (functions and service integrations).
//
// Durability protocol: one step of one execution is an ExecutionWrite; commit() applies a
// batch of them (many executions: group commit) in ONE transaction, durably (fsync / synchronous
// commit) before it returns. A write carries the version of the execution it was computed from;
// if any execution's stored version differs, or a fence no longer holds, nothing is written.
//
// JSON payloads (inputs, outputs, event details, frame data) are passed as JSON text: the store
// never parses them.
//
// Times are microseconds since the Unix epoch, UTC.
//
// Threads: every method may be called from any thread; implementations serialise internally
// (SQLite) or use a connection pool (PostgreSQL). commit() may run concurrently with reads.
//
// Errors, the same on every backend (the suite asserts the texts; <x> is the value):
//  - NotFound: "state machine <arn> does not exist", "revision <id> of state machine <arn> does
//    not exist", "execution <arn> does not exist", "task <token> does not exist", "activity
//    <arn> does not exist", "route <kind> <name> does not exist".
//  - AlreadyExists: "state machine <arn> already exists", "revision <id> of state machine <arn>
//    already exists", "activity <arn> already exists", "task <token> already has an outcome".
//  - InvalidArgument: "max_results must be between 1 and 1000, got <n>", "invalid next_token",
//    "execution <arn>: event id <id> does not follow <last_event_id>" (events must be
//    <last_event_id>+1, +2, ... in order), "max must be at least 1, got <n>" (due_timers),
//    "partitions must be at least 1, got <n>", "max_partitions must be at least 0, got <n>",
//    "ttl must be positive, got <n>", "node must not be empty" (acquire_partitions).
//  - Conflict from commit(): the message names the first problem found, in this order: fences
//    (in batch order) "partition <p> is no longer held by <node> at epoch <epoch>", then writes
//    (in batch order) "execution <arn> already exists" (create), "execution <arn> does not
//    exist" (no create, no row), "execution <arn> is at version <stored>, not <expected>".
//    CommitConflict lists every stale execution (batch order; a missing one counts as stale)
//    and every lost partition (fence order), so the caller can reload exactly those.
//  - Unavailable: the database is busy, unreachable or failed I/O (message from the driver).
#pragma once

#include "engine/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::engine {

using Micros = std::int64_t;  // microseconds since the Unix epoch, UTC

struct StateMachineRecord {
  std::string arn;            // arn:aws:states:REGION:ACCOUNT:stateMachine:NAME
  std::string name;
  std::string type;           // "STANDARD" or "EXPRESS"
  std::string definition;     // the ASL text of the current revision, as submitted
  std::string role_arn;
  std::string revision_id;    // of the current revision; "1", "2", ...
  std::string status;         // "ACTIVE" or "DELETING"
  std::string description;
  std::string tags_json = "[]";           // [{"key":..,"value":..}]
  std::string logging_json = "{}";        // loggingConfiguration as given
  std::string tracing_json = "{}";        // tracingConfiguration as given
  Micros created = 0;
  Micros updated = 0;

  bool operator==(const StateMachineRecord&) const = default;
};

struct RevisionRecord {
  std::string machine_arn;
  std::string revision_id;
  std::string definition;
  std::string role_arn;
  Micros created = 0;

  bool operator==(const RevisionRecord&) const = default;
};

struct ExecutionRecord {
  std::string arn;            // arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME
  std::string machine_arn;
  std::string revision_id;    // the revision it runs
  std::string name;
  std::string type;           // "STANDARD" or "EXPRESS"
  std::string status;         // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE
  std::string input;          // JSON text
  std::optional<std::string> output;  // JSON text, when SUCCEEDED
  std::optional<std::string> error;
  std::optional<std::string> cause;
  Micros start = 0;
  std::optional<Micros> stop;
  std::string trace_header;   // W3C traceparent (or AWS X-Ray header) given at start
  int redrive_count = 0;
  std::optional<Micros> redrive_date;
  std::int64_t last_event_id = 0;   // id of the newest history event
  std::int64_t version = 0;         // bumped by every commit that touches the execution
  int partition = 0;                // which partition (and so which node) steps it
  // Saga extension (docs/saga.md): JSON text of the list of compensations run so far, one
  // {"state", "branch"?, "status", "attempts", "error"?, "cause"?} per finished compensation;
  // "[]" once compensating has started; unset when the execution never compensated.
  std::optional<std::string> compensation;

  bool operator==(const ExecutionRecord&) const = default;
};

struct HistoryEvent {
  std::int64_t id = 0;
  std::int64_t previous_id = 0;
  Micros timestamp = 0;
  std::string type;     // Step Functions' event type, e.g. "TaskStateEntered"
  std::string details;  // JSON text of the "<type>EventDetails" object, or "" for none

  bool operator==(const HistoryEvent&) const = default;
};

struct FrameRecord {
  std::string frame_id;  // "" is the root frame; see docs/engine.md
  std::string data;      // JSON text

  bool operator==(const FrameRecord&) const = default;
};

struct MapResultRecord {
  std::string frame_id;  // the frame of the Map state
  std::int64_t index = 0;
  std::string output;    // JSON text

  bool operator==(const MapResultRecord&) const = default;
};

struct TimerRecord {
  std::string execution_arn;
  std::string timer_id;  // unique within the execution
  Micros due = 0;
  int partition = 0;

  bool operator==(const TimerRecord&) const = default;
};

struct TaskRecord {
  std::string token;           // unguessable; the primary key
  std::string execution_arn;
  std::string frame_id;
  std::string state_name;
  std::string resource;        // as written in the definition
  std::string activity_arn;    // for activity tasks, else ""
  std::string input;           // JSON text (the payload)
  std::string status;          // "SCHEDULED" or "STARTED"
  std::string worker_name;     // who took it (activities)
  Micros scheduled = 0;
  std::optional<Micros> heartbeat_due;
  std::optional<Micros> timeout_due;
  int partition = 0;

  bool operator==(const TaskRecord&) const = default;
};

// Changes to the execution row made by a step.
struct ExecutionUpdate {
  std::optional<std::string> status;
  std::optional<std::string> output;
  std::optional<std::string> error;
  std::optional<std::string> cause;
  std::optional<Micros> stop;
  std::optional<int> redrive_count;
  std::optional<Micros> redrive_date;
  std::optional<std::string> compensation;  // replaces the column (JSON text)
};

// Everything one step of one execution changes, applied atomically with the rest of its batch.
// Within one write, the deletes of a kind of row apply before its puts (a Map that starts again
// deletes its old results and may put new ones in the same write).
struct ExecutionWrite {
  std::string execution_arn;
  // The version the step was computed from; the stored version must equal it (then becomes
  // expected_version + 1). For a new execution: 0, with `create` set.
  std::int64_t expected_version = 0;
  std::optional<ExecutionRecord> create;  // insert this execution (its version is ignored: 1)
  ExecutionUpdate update;
  std::vector<HistoryEvent> events;       // appended; ids must continue last_event_id
  std::vector<FrameRecord> frames_put;    // insert or replace
  std::vector<std::string> frames_delete;
  std::vector<MapResultRecord> map_results_put;
  std::vector<std::string> map_results_delete;  // frame ids whose results all go
  std::vector<TimerRecord> timers_put;    // insert or replace (execution_arn filled by store)
  std::vector<std::string> timers_delete; // timer ids of this execution
  std::vector<TaskRecord> tasks_put;      // insert or replace
  std::vector<std::string> tasks_delete;  // tokens
  // Activity tasks handed to a worker: the row (if still there) becomes status "STARTED" with
  // this worker name. Applied after tasks_put.
  struct TaskStarted {
    std::string token;
    std::string worker_name;
    bool operator==(const TaskStarted&) const = default;
  };
  std::vector<TaskStarted> tasks_started;
};

// A partition lease that must still be held by `node` with `epoch` for a batch to commit:
// a node that lost its lease can no longer write (fencing).
struct Fence {
  int partition = 0;
  std::string node;
  std::int64_t epoch = 0;
};

struct CommitBatch {
  std::vector<ExecutionWrite> writes;
  std::vector<Fence> fences;
};

// What commit() found when it refused a batch with Conflict.
struct CommitConflict {
  std::vector<std::string> stale_executions;  // version mismatch (or create of an existing one)
  std::vector<int> lost_partitions;           // fence no longer held
};

struct PageRequest {
  int max_results = 100;   // 1..1000
  std::string next_token;  // "" for the first page; opaque otherwise
};

template <typename T>
struct Page {
  std::vector<T> items;
  std::string next_token;  // "" when this is the last page
};

struct ExecutionFilter {
  std::string machine_arn;   // "" for all
  std::string status;        // "" for all
};

// One entry of the audit log (every mutating API call).
struct AuditRecord {
  std::int64_t id = 0;  // assigned by the store on append: increasing
  Micros time = 0;
  std::string key_id;     // who (API key id, or "anonymous")
  std::string remote;     // from where
  std::string operation;  // e.g. "StartExecution"
  std::string resource;   // the ARN acted on, "" when none
  std::string outcome;    // "ok" or the error name
  std::string request_id;

  bool operator==(const AuditRecord&) const = default;
};

struct AuditQuery {
  std::string key_id;     // "" for all
  std::string operation;  // "" for all
  std::string resource;   // "" for all
};

// An activity (workers poll it for tasks).
struct ActivityRecord {
  std::string arn;   // arn:aws:states:REGION:ACCOUNT:activity:NAME
  std::string name;
  std::string tags_json = "[]";  // [{"key":..,"value":..}]
  Micros created = 0;

  bool operator==(const ActivityRecord&) const = default;
};

// An entry of the task routing registry: where push tasks go (engine/dispatch/registry.hpp).
struct RouteRecord {
  std::string kind;  // "function" (a Lambda-style function) or "service" (an integration)
  // function: NAME or NAME:QUALIFIER; service: SERVICE or SERVICE:ACTION (e.g. "dynamodb",
  // "dynamodb:putItem"; aws-sdk integrations use the same names).
  std::string name;
  std::string url;   // http[s]://HOST[:PORT][/PATH]
  Micros updated = 0;

  bool operator==(const RouteRecord&) const = default;
};

// A message to the node that steps a task's execution, left by another node that received the
// task's outcome, heartbeat or hand-out to a worker (several nodes on one database).
struct TaskMessage {
  std::int64_t id = 0;    // assigned by the store: increasing
  std::string token;
  std::string kind;       // "success", "failure", "heartbeat" or "started"
  // success: the output (JSON text); failure: {"error":..,"cause":..} (JSON text);
  // started: the worker name; heartbeat: "".
  std::string body;
  int partition = 0;      // the task's partition (from its task row)
  Micros created = 0;

  bool operator==(const TaskMessage&) const = default;
};

struct PartitionLease {
  int partition = 0;
  std::string node;
  std::int64_t epoch = 0;
  Micros expires = 0;

  bool operator==(const PartitionLease&) const = default;
};

class Store {
 public:
  virtual ~Store() = default;

  // Creates the schema or migrates it to the current version. Idempotent.
  virtual Status migrate() = 0;
  // The schema version in the database; 0 before the first migrate().
  virtual Result<int> schema_version() = 0;

  // --- State machines -----------------------------------------------------------------------
  // Inserts a machine and its first revision. AlreadyExists when the ARN is taken.
  virtual Status create_state_machine(const StateMachineRecord& machine) = 0;
  // Replaces the machine row and adds `revision` (its revision_id must be new: AlreadyExists
  // otherwise). NotFound when the machine does not exist; then nothing changes.
  virtual Status update_state_machine(const StateMachineRecord& machine,
                                      const RevisionRecord& revision) = 0;
  virtual Result<StateMachineRecord> get_state_machine(std::string_view arn) = 0;
  virtual Result<RevisionRecord> get_revision(std::string_view machine_arn,
                                              std::string_view revision_id) = 0;
  // Ordered by name, then ARN.
  virtual Result<Page<StateMachineRecord>> list_state_machines(const PageRequest& page) = 0;
  // Removes the machine and its revisions; its executions remain readable. NotFound when absent.
  virtual Status delete_state_machine(std::string_view arn) = 0;
  // Replaces the machine's tags (JSON text [{"key":..,"value":..}]) without a new revision.
  // NotFound when the machine does not exist.
  virtual Status set_state_machine_tags(std::string_view arn, const std::string& tags_json) = 0;

  // --- Executions -----------------------------------------------------------------------------
  // Applies the batch atomically and durably. Conflict (with *conflict filled when given) when a
  // version or fence check fails; then nothing was written. An empty batch succeeds.
  // A create write inserts the execution with `update` applied on top, version 1 and
  // last_event_id = its last event's id (events start at 1). Timer rows take the write's
  // execution_arn; everything else is stored as given. A fence holds when the partition's
  // lease row names that node and epoch (expiry is not checked: a lease that expired but was not
  // taken over is still safe to write under).
  virtual Status commit(const CommitBatch& batch, CommitConflict* conflict = nullptr) = 0;
  virtual Result<ExecutionRecord> get_execution(std::string_view arn) = 0;
  // Newest first (by start time descending, then ARN ascending).
  virtual Result<Page<ExecutionRecord>> list_executions(const ExecutionFilter& filter,
                                                         const PageRequest& page) = 0;
  // History in ascending id order (descending when reverse), a page at a time; the token of a
  // page continues after its last event. NotFound when the execution does not exist.
  virtual Result<Page<HistoryEvent>> get_history(std::string_view arn, const PageRequest& page,
                                                 bool reverse) = 0;
  // Ordered by frame id. load_frames, load_map_results and tasks_of_execution return an empty
  // list for an unknown execution.
  virtual Result<std::vector<FrameRecord>> load_frames(std::string_view arn) = 0;
  // Ordered by frame id, then index.
  virtual Result<std::vector<MapResultRecord>> load_map_results(std::string_view arn) = 0;
  // ARNs of RUNNING executions in the given partitions (all partitions when empty), by ARN.
  virtual Result<std::vector<std::string>> open_executions(const std::vector<int>& partitions) = 0;

  // --- Timers and tasks -----------------------------------------------------------------------
  // Timers due at or before `until` in the given partitions (all when empty), earliest first
  // (ties by execution ARN, then timer id), at most `max` (>= 1) of them.
  virtual Result<std::vector<TimerRecord>> due_timers(Micros until,
                                                      const std::vector<int>& partitions,
                                                      int max) = 0;
  virtual Result<TaskRecord> get_task(std::string_view token) = 0;
  // Ordered by token.
  virtual Result<std::vector<TaskRecord>> tasks_of_execution(std::string_view arn) = 0;

  // --- Audit log ----------------------------------------------------------------------------
  // Appends the entries in one transaction, in order; their ids are assigned (increasing).
  virtual Status append_audit(const std::vector<AuditRecord>& entries) = 0;
  // Newest first (id descending), filtered (every non-empty field of the query must match).
  virtual Result<Page<AuditRecord>> list_audit(const AuditQuery& query,
                                               const PageRequest& page) = 0;

  // --- Activities -------------------------------------------------------------------------
  // AlreadyExists "activity <arn> already exists" when the ARN is taken.
  virtual Status create_activity(const ActivityRecord& activity) = 0;
  // NotFound "activity <arn> does not exist".
  virtual Result<ActivityRecord> get_activity(std::string_view arn) = 0;
  // Ordered by name, then ARN.
  virtual Result<Page<ActivityRecord>> list_activities(const PageRequest& page) = 0;
  // NotFound when absent. Tasks already scheduled for it are left alone.
  virtual Status delete_activity(std::string_view arn) = 0;
  // Replaces the activity's tags. NotFound when it does not exist.
  virtual Status set_activity_tags(std::string_view arn, const std::string& tags_json) = 0;

  // --- Task routing registry ------------------------------------------------------------------
  // Inserts or replaces the route (kind, name).
  virtual Status put_route(const RouteRecord& route) = 0;
  // NotFound "route <kind> <name> does not exist".
  virtual Status delete_route(std::string_view kind, std::string_view name) = 0;
  // Every route, by kind then name.
  virtual Result<std::vector<RouteRecord>> list_routes() = 0;

  // --- Tasks across nodes ---------------------------------------------------------------------
  // Hands the oldest SCHEDULED task of the activity, scheduled at or before `scheduled_before`,
  // to `worker`: its row becomes STARTED with that worker name, atomically (two nodes never
  // claim the same row). nullopt when there is none.
  virtual Result<std::optional<TaskRecord>> claim_activity_task(std::string_view activity_arn,
                                                                Micros scheduled_before,
                                                                const std::string& worker) = 0;
  // Gives back a task claim_activity_task handed to `worker` that never reached it: the row is
  // SCHEDULED again, with no worker name, when it is still STARTED by `worker`. False, with
  // nothing changed, when it is not (the task ended, or its row was written since).
  virtual Result<bool> release_activity_task(std::string_view token,
                                             const std::string& worker) = 0;
  // Leaves a message for the node stepping the task's execution; its id and partition are set
  // from the store (the task row's partition). NotFound "task <token> does not exist" when the
  // task row is gone; AlreadyExists "task <token> already has an outcome" for a second
  // "success"/"failure" message of one token (a task completes once).
  virtual Status post_task_message(const TaskMessage& message) = 0;
  // Messages of tasks in the given partitions (none when the list is empty), oldest (lowest id)
  // first, at most `max`: InvalidArgument "max must be at least 1, got <n>" below 1. A node
  // deletes a message only after the effect of it is durable (the task row gone), so a second
  // outcome stays refused meanwhile.
  virtual Result<std::vector<TaskMessage>> task_messages(const std::vector<int>& partitions,
                                                         int max) = 0;
  // Removes messages once acted on (ids not present are ignored).
  virtual Status delete_task_messages(const std::vector<std::int64_t>& ids) = 0;

  // --- Partition leases (several nodes on one database) ---------------------------------------
  // Takes every partition in [0, partitions) that is free or expired at `now`, and renews those
  // `node` holds, up to `max_partitions` held in total; a taken-over partition's epoch is
  // incremented. Returns the leases `node` holds afterwards.
  // Precisely: a lease is expired when expires <= now; free when its node is "" (released) or
  // it has no row yet. Every partition `node` holds (expired or not) is renewed to now + ttl,
  // keeping its epoch. Then free or expired partitions are taken, lowest id first, while
  // `node` holds fewer than max_partitions: epoch becomes old epoch + 1 (1 for a new row),
  // expires now + ttl. Result ordered by partition. InvalidArgument unless partitions >= 1,
  // max_partitions >= 0 and ttl > 0.
  virtual Result<std::vector<PartitionLease>> acquire_partitions(const std::string& node,
                                                                 int partitions,
                                                                 int max_partitions, Micros now,
                                                                 Micros ttl) = 0;
  // Gives up every partition `node` holds (graceful shutdown): node becomes "", epoch stays (so
  // the next taker increments it).
  virtual Status release_partitions(const std::string& node) = 0;
  // Every lease row, by partition (a released one has node ""). Nodes use it to see how many
  // nodes are alive and so how many partitions each should hold.
  virtual Result<std::vector<PartitionLease>> list_partitions() = 0;
};

// Opens a store from a URL: "sqlite:PATH" (or a path ending in .db/.sqlite), "sqlite::memory:",
// "postgresql://..." / "postgres://...". Does not migrate. SQLite takes the query
// "?synchronous=normal" (survives a process crash, not power loss; default "full").
// InvalidArgument for a URL of no known kind.
Result<std::unique_ptr<Store>> open_store(const std::string& url);

}  // namespace stepd::engine
