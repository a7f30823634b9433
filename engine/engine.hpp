// The durable engine: state machines and their executions on a Store.
//
// What the server's adapters call (REST and the AWS Step Functions protocol), one method per
// operation. Executions advance on a stepper thread that owns every in-memory ExecutionCore; the
// steps of many executions go to the store as one batch (group commit) on a committer thread,
// and only once a batch is durable are its effects performed: tasks handed to the transport,
// timers armed, waiting callers answered (transactional outbox). A crash loses nothing that was
// answered: at start the engine restores every open execution from the store.
//
// Threads: every public method is thread-safe. Callbacks into the TaskTransport come from the
// engine's threads (the committer, and the stepper when it restores executions), possibly at the
// same time; they must be thread-safe and must not block.
#pragma once

#include "asl/definition.hpp"
#include "engine/core/execution_core.hpp"
#include "engine/result.hpp"
#include "engine/store/store.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace stepd::engine {

// Where tasks go. The engine calls dispatch() once the task's scheduling is durable (and again
// for every open task after a restart: delivery is at least once); the transport reports back
// with Engine::complete_task. cancel() says the engine no longer waits for a token.
class TaskTransport {
 public:
  virtual ~TaskTransport() = default;
  virtual void dispatch(const TaskDispatch& task) = 0;
  virtual void cancel(const std::string& token) { (void)token; }
};

// What each durable batch did, for metrics.
struct CommitInfo {
  std::size_t writes = 0;          // execution steps in the batch
  long long transitions = 0;       // states entered
  Micros commit_micros = 0;        // time the store took to make it durable
  std::vector<std::string> started;                          // machine ARN per new execution
  std::vector<std::pair<std::string, std::string>> finished;  // machine ARN, final status
  // Tasks that ended: resource, time from scheduled to its result, error or time-out.
  std::vector<std::pair<std::string, Micros>> task_latencies;
};

// Told about every durable batch, on the committer thread: it must be quick and must not block
// or call back into the engine.
class EngineObserver {
 public:
  virtual ~EngineObserver() = default;
  virtual void on_commit(const CommitInfo& info) = 0;
};

struct EngineOptions {
  std::string region = "local";
  std::string account = "000000000000";
  std::string node_id = "node-1";
  int partitions = 16;            // executions are spread over this many partitions
  Micros lease_ttl = 10'000'000;  // a node's partition lease lasts this long unless renewed
  // A node holds an even share of the partitions among the live nodes. max_partitions (when
  // not 0) caps that share while no partition is orphaned, so nodes started together split
  // the work; a released or expired partition (a node went away) is always taken over.
  int max_partitions = 0;
  bool lease_thread = true;       // renew leases and take over expired partitions
  // How often to look for task outcomes other nodes received for this node's executions
  // (Store::task_messages); 0: never (one node alone).
  Micros task_messages_interval = 100'000;
  // An execution whose next event is a timer at least this far away leaves memory until the
  // timer fires (0: keep every execution in memory).
  Micros evict_waiting_after = 2'000'000;
  int max_batch = 512;            // most execution steps in one commit
  // ActivityStarted (a worker took a task) needs no commit of its own: it goes out with the
  // execution's next write (usually the task's outcome) or after this long at the latest.
  std::chrono::milliseconds defer_write{50};
  CoreOptions core;
  asl::LoadOptions load;          // resources the engine can serve, strictness
  // The clock. Tests inject a fake one and call Engine::fire_due_timers themselves.
  std::function<Micros()> clock;
  bool timer_thread = true;       // false: timers fire only through fire_due_timers()
  EngineObserver* observer = nullptr;  // not owned; outlives the engine
};

struct CreateMachineRequest {
  std::string name;
  std::string definition;
  std::string type = "STANDARD";
  std::string role_arn;
  std::string tags_json = "[]";
  std::string description = "";
  std::string logging_json = "{}";  // loggingConfiguration as given (JSON text)
  std::string tracing_json = "{}";  // tracingConfiguration as given (JSON text)
};

struct StartRequest {
  std::string machine_arn;
  std::string name;          // empty: a generated UUID
  std::string input = "{}";  // JSON text
  std::string trace_header;
};

// An error with the AWS error name the API adapters answer with (e.g.
// "StateMachineDoesNotExist", "ExecutionAlreadyExists", "InvalidDefinition").
struct ApiError {
  std::string type;
  std::string message;
  std::vector<asl::Diagnostic> diagnostics;  // InvalidDefinition: every problem
};

template <typename T>
using ApiResult = std::variant<T, ApiError>;

// Answers an execution operation. Called once, on an engine thread (or the caller's, for an
// answer known before the engine is involved); it must not block.
using ExecutionReply = std::function<void(ApiResult<ExecutionRecord>)>;

class Engine {
 public:
  Engine(std::unique_ptr<Store> store, EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Migrates the store, takes partition leases, restores open executions, starts the threads.
  Status start();
  // Stops the threads after the work in hand is committed; releases the leases.
  void shutdown();

  void set_task_transport(TaskTransport* transport);

  // --- State machines -----------------------------------------------------------------------
  ApiResult<StateMachineRecord> create_state_machine(const CreateMachineRequest& request);
  ApiResult<StateMachineRecord> update_state_machine(const std::string& arn,
                                                     const std::optional<std::string>& definition,
                                                     const std::optional<std::string>& role_arn);
  ApiResult<StateMachineRecord> describe_state_machine(const std::string& arn);
  ApiResult<Page<StateMachineRecord>> list_state_machines(const PageRequest& page);
  ApiResult<bool> delete_state_machine(const std::string& arn);

  // --- Executions ---------------------------------------------------------------------------
  // AWS: the same name and input while it runs returns the same execution; another input, or a
  // finished execution of that name, is ExecutionAlreadyExists.
  ApiResult<ExecutionRecord> start_execution(const StartRequest& request);
  // The same without waiting for the commit: `done` is called once the start is durable (or
  // refused). The request's lookups run on the calling thread.
  void start_execution_async(const StartRequest& request, ExecutionReply done);
  // Starts and waits until the execution ends (or `timeout` passes: the record then says
  // RUNNING).
  ApiResult<ExecutionRecord> start_sync_execution(const StartRequest& request,
                                                  std::chrono::milliseconds timeout);
  ApiResult<ExecutionRecord> describe_execution(const std::string& arn);
  ApiResult<Page<ExecutionRecord>> list_executions(const ExecutionFilter& filter,
                                                   const PageRequest& page);
  ApiResult<Page<HistoryEvent>> get_history(const std::string& arn, const PageRequest& page,
                                            bool reverse);
  ApiResult<ExecutionRecord> stop_execution(const std::string& arn, const std::string& error,
                                            const std::string& cause);
  void stop_execution_async(const std::string& arn, const std::string& error,
                            const std::string& cause, ExecutionReply done);
  // RedriveExecution: a FAILED, TIMED_OUT or ABORTED STANDARD execution continues from the state
  // it failed in (entered again with the input it had), keeping what succeeded before;
  // ExecutionNotRedrivable otherwise. AWS: a Parallel or Map state that failed runs again only
  // its branches or iterations that did not succeed.
  ApiResult<ExecutionRecord> redrive_execution(const std::string& arn);
  void redrive_execution_async(const std::string& arn, ExecutionReply done);
  // Waits until the execution ends or `timeout` passes; returns its record.
  ApiResult<ExecutionRecord> wait_for(const std::string& arn, std::chrono::milliseconds timeout);

  // --- Activities ---------------------------------------------------------------------------
  // AWS: creating an activity that exists returns it (same ARN); InvalidName for a bad name
  // (1..80 characters, none of whitespace, brackets, wildcards, special characters).
  ApiResult<ActivityRecord> create_activity(const std::string& name, const std::string& tags_json);
  // ActivityDoesNotExist when absent.
  ApiResult<ActivityRecord> describe_activity(const std::string& arn);
  ApiResult<Page<ActivityRecord>> list_activities(const PageRequest& page);
  // AWS: deleting an activity that does not exist succeeds.
  ApiResult<bool> delete_activity(const std::string& arn);

  // --- Tasks --------------------------------------------------------------------------------
  // Token errors, as AWS names them: InvalidToken (not a token this engine issues: wrong shape),
  // TaskTimedOut (the task timed out: TimeoutSeconds or HeartbeatSeconds), TaskDoesNotExist
  // (unknown, or already completed). A token of a task whose execution another node steps is
  // handed to that node through the store (Store::post_task_message): the answer then comes once
  // the message is durable, and a second outcome for the token is TaskDoesNotExist.
  //
  // Reports a task's outcome. Returns once the outcome is durable.
  ApiResult<bool> complete_task(const std::string& token, asl::Outcome outcome);
  // The same without waiting: `done` is called (on the engine's committer thread; it must not
  // block) once the outcome is durable, or with TaskDoesNotExist.
  void complete_task_async(const std::string& token, asl::Outcome outcome,
                           std::function<void(ApiResult<bool>)> done);
  ApiResult<bool> heartbeat_task(const std::string& token);
  void heartbeat_task_async(const std::string& token, std::function<void(ApiResult<bool>)> done);
  // An activity task was handed to a worker: records ActivityStarted with its name (once per
  // task; nothing for unknown tokens or other tasks). Does not wait.
  void task_started(const std::string& token, const std::string& worker_name);

  // --- Nested executions ----------------------------------------------------------------------
  // Calls `done` once with the execution's record when it ends (SUCCEEDED, FAILED, TIMED_OUT,
  // ABORTED), at once when it already has. ExecutionDoesNotExist when there is none. An
  // execution stepped by another node is watched by reading the store every second.
  void on_execution_end(const std::string& arn, ExecutionReply done);

  // Fires every timer due at or before the clock's now (the timer thread does this by itself).
  void fire_due_timers();

  // Counters for tests and metrics.
  struct Stats {
    long long commits = 0;
    long long steps = 0;            // execution writes committed
    long long transitions = 0;      // states entered
    long long open_executions = 0;      // running
    long long resident_executions = 0;  // running and held in memory (not evicted)
    long long timers_armed = 0;         // timers waiting in memory to fire
    int partitions_held = 0;
  };
  Stats stats() const;

  Store& store();
  const EngineOptions& options() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::engine
