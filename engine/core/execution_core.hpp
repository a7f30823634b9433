// ExecutionCore: one execution as a deterministic state machine over durable records.
//
// It owns the execution's frames (its current positions: the root scope, each running Parallel
// branch and Map iteration), drives the pure step function of asl/ through every state that can
// run without waiting, and records what changed as an ExecutionWrite (history events, frames,
// timers, tasks) plus the effects to perform once that write is durable (tasks to dispatch,
// timers to arm). It performs no I/O and reads no clock: events come in with their time.
//
// Lifecycle: start() or restore(), then any number of deliveries (task outcome, timer fired,
// stop), each followed by take_output(). The engine commits the write, and only after the commit
// acts on the effects (transactional outbox). After a crash, restore() from the committed
// records gives the same core again: timers re-armed and tasks re-offered from the store.
//
// Saga compensation (the "Compensate" extension of a Task state; docs/saga.md):
//  - The log. When a Task with Compensate returns a result that completes the state (not when
//    ResultSelector or ResultPath then fail it), {"state", "input": the payload it was given,
//    "output": its result} is appended to its scope's log, one map-result row "<frame>#saga" per
//    entry. When a Parallel branch or Map iteration ends (succeeded, failed or
//    aborted) its log is kept by its parent ("<frame>#branches", one row per child), and when the
//    Parallel or Map state completes, succeeded or failed, the children's logs become one entry
//    {"state", "branches": [{"index", "log"}]} of the parent's log. A Catch removes nothing.
//  - The phase. When the execution is about to end FAILED (an unhandled failure) or TIMED_OUT
//    (execution time-out) and the log is not empty, it compensates first: running scopes stop
//    (their tasks are cancelled, their logs kept), the plan (the log newest first; a group's
//    branches highest index first, each newest first) is written once ("#compensation" rows),
//    and each compensation runs in turn as a task of the root frame: TaskDispatch, task row,
//    TimeoutSeconds/HeartbeatSeconds timers, its own Retry with back-off timers. One that fails
//    for good is recorded and the next one runs. Then the execution ends with its status and the
//    ORIGINAL error and cause. StopExecution (ABORTED) never compensates, and ends a compensation
//    in progress. The execution time-out no longer applies once compensation has started.
//  - Visible as history events (CompensationStarted, CompensationTaskScheduled,
//    CompensationTaskSucceeded, CompensationTaskFailed, CompensationSucceeded or
//    CompensationFailed) and as ExecutionRecord::compensation, updated as each one finishes.
//  - Durable: the log rows, the plan rows, the root frame (cursor, retry counters, the original
//    error) and the execution row are all a restore needs to resume where it was.
//
// Threads: not thread-safe; the engine steps one execution on one thread at a time.
#pragma once

#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"
#include "asl/machine.hpp"
#include "asl/step.hpp"
#include "engine/result.hpp"
#include "engine/store/store.hpp"

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace stepd::engine {

using asl::Json;

// A task to hand to a transport once the write that scheduled it is durable.
struct TaskDispatch {
  std::string token;
  std::string execution_arn;
  std::string resource;
  Json payload;
  std::optional<double> timeout_seconds;
  std::optional<double> heartbeat_seconds;
  std::string trace_header;  // the execution's (W3C traceparent or X-Ray), "" when none
  std::string state_name;    // the Task state (or the compensated one)
  bool started = false;      // an activity task already handed to a worker (ActivityStarted)
  Micros scheduled = 0;      // when the task was scheduled
};

struct StepOutput {
  ExecutionWrite write;                  // commit this
  std::vector<TaskDispatch> dispatch;    // then dispatch these
  std::vector<TimerRecord> timers;       // and arm these (also in write.timers_put)
  std::vector<std::string> cancelled_tasks;  // tokens no longer awaited (abandon their work)
  std::vector<std::string> timed_out_tasks;  // of those, the ones whose task timed out
  // Tasks that ended (result, error or time-out): resource and time since scheduled.
  std::vector<std::pair<std::string, Micros>> task_latencies;
  bool finished = false;                 // the execution reached a terminal status
};

struct CoreOptions {
  // Upper bound on Map iterations run at once when MaxConcurrency is 0 (AWS runs inline Map
  // iterations up to 40 at a time).
  long long max_map_concurrency = 40;
  // AWS: an execution's history holds at most 25,000 events; past that it fails.
  long long max_history_events = 25000;
  // AWS: a state's input or output is at most 256 KiB (States.DataLimitExceeded).
  std::size_t max_payload_bytes = 256 * 1024;
  bool record_history = true;  // false: no history events (EXPRESS without logging)
  // The roleArn of the state machine revision the execution runs. AWS: it is the roleArn of
  // the ExecutionStarted event and $$.Execution.RoleArn. start() takes it from here; the core
  // keeps it in its root frame and its redrive point, so restore() and redrive() find it
  // there and read this only for an execution that recorded none ("" when both are empty).
  std::string role_arn;
};

class ExecutionCore {
 public:
  // Creates the token of a new task. Must be unguessable in production (engine/tokens.hpp).
  using TokenFactory = std::function<std::string()>;

  // A new execution: records ExecutionStarted and runs until every frame waits or it ends.
  // REQUIRES: machine outlives the core; record.status == "RUNNING".
  static std::unique_ptr<ExecutionCore> start(std::shared_ptr<const asl::Machine> machine,
                                              ExecutionRecord record, Micros now,
                                              TokenFactory tokens, asl::RandomSource* random,
                                              const CoreOptions& options = {});

  // Rebuilds a core from committed records (recovery, or another node taking over).
  static Result<std::unique_ptr<ExecutionCore>> restore(
      std::shared_ptr<const asl::Machine> machine, ExecutionRecord record,
      const std::vector<FrameRecord>& frames, const std::vector<MapResultRecord>& map_results,
      TokenFactory tokens, asl::RandomSource* random, const CoreOptions& options = {});

  // RedriveExecution of an execution that ended FAILED, TIMED_OUT or ABORTED: continues from
  // the state its root scope failed in, entered again with `input` (the input it was entered
  // with the first time), keeping the variables and everything that succeeded before.
  // `redrive_point` is the JSON of the "#redrive" record the core wrote when the execution
  // ended, `map_results` the execution's map-result rows. AWS: a Parallel or Map state that
  // failed (or was stopped) runs again only its branches or iterations that did not succeed;
  // the others keep their outputs (a branch that runs again starts from its first state).
  static Result<std::unique_ptr<ExecutionCore>> redrive(
      std::shared_ptr<const asl::Machine> machine, ExecutionRecord record,
      const Json& redrive_point, const std::vector<MapResultRecord>& map_results, Json input,
      Micros now, TokenFactory tokens,
      asl::RandomSource* random, const CoreOptions& options = {});

  ~ExecutionCore();

  // A task finished. Unknown or stale tokens are ignored and return false.
  bool deliver_task(const std::string& token, asl::Outcome outcome, Micros now);
  // A timer fired (Wait, retry back-off, task time-out or heartbeat, execution time-out).
  // Unknown timers are ignored and return false.
  bool deliver_timer(const std::string& timer_id, Micros now);
  // A heartbeat for a task: pushes its heartbeat deadline. False for unknown tokens.
  bool heartbeat(const std::string& token, Micros now);
  // An activity task was handed to a worker: records ActivityStarted {workerName}. False for an
  // unknown token, a task that is not an activity's, or one already started.
  bool task_started(const std::string& token, const std::string& worker_name, Micros now);
  // StopExecution: ends the execution ABORTED with error and cause.
  void stop(const std::string& error, const std::string& cause, Micros now);

  // Everything changed since the last call. The write's expected_version is the version the
  // core was built from; the core assumes the commit succeeds (its version moves on by one).
  StepOutput take_output();

  // The execution row as this core sees it (status, output, last event id, version).
  const ExecutionRecord& record() const;
  bool finished() const;
  // Tasks currently awaited (to re-offer after a restore).
  std::vector<TaskDispatch> pending_tasks() const;
  // Timers currently armed (to re-arm after a restore).
  std::vector<TimerRecord> pending_timers() const;
  // States entered so far, nested ones included (transitions).
  long long states_entered() const;
  // Frames held in memory: the root, and each running Parallel branch and Map iteration (with
  // their own nested ones). A Map holds only its running iterations, never all of its items'.
  std::size_t frame_count() const;

  class Impl;

 private:
  explicit ExecutionCore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::engine
