// The application service: one function per API operation, shared by the REST adapter
// (server/rest/) and the AWS Step Functions adapter (server/aws/), which only translate their
// wire formats to these calls and back. Here, and only here: who may call what (roles), the
// audit record of every mutating call, ARN checks, and the engine call itself.
//
// Errors are engine::ApiError with AWS's error names ("StateMachineDoesNotExist",
// "InvalidArn", "AccessDeniedException", "ValidationException", ...); each adapter maps a name
// to its HTTP status (server/operations/errors.hpp).
//
// Roles (Caller::role):
//  - Admin: everything.
//  - ReadOnly: describe, list, history, tags, validate; not the routes, the audit log or tasks.
//  - Worker: GetActivityTask and SendTaskSuccess/Failure/Heartbeat only, and only for the
//    activities its key is granted (Caller::activities: activity ARNs, names of this node's
//    activities, or "*" for all). A task token names its task's activity (the store's task row);
//    a token of a task that is no activity task (a .waitForTaskToken callback) needs an admin or
//    a worker granted "*". AWS lets any principal allowed states:SendTaskSuccess report any
//    token; Stepd's worker keys are narrower on purpose (docs/server.md).
//
// AWS: a definition is at most 1 MiB (1048576 characters): ValidationException with AWS's
// wording on every API.
//
// JSON given as text inside a request (a definition, an execution's input, a task's output) may
// nest arrays and objects at most 64 levels deep; deeper is InvalidDefinition (a Validation
// with that problem for validate_definition), InvalidExecutionInput or InvalidOutput, with a
// message that names the byte ("... nests arrays and objects deeper than 64 levels (at byte
// 64)"), before the engine sees it.
//
// Audit: every mutating call is recorded once its outcome is known, refused ones too. The task
// calls count: SendTask* always; GetActivityTask when it hands out a task (the task is then
// STARTED) or is refused; an empty poll changes nothing and is not recorded (AWS: polls are not
// in CloudTrail either).
//
// Threads: every method is thread-safe. The *_async methods return at once and answer through
// `done` (possibly on an engine thread; `done` must not block).
#pragma once

#include "engine/dispatch/activity_queue.hpp"
#include "engine/dispatch/registry.hpp"
#include "engine/engine.hpp"
#include "server/http/message.hpp"

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace stepd::server {

using engine::ActivityRecord;
using engine::ApiError;
using engine::ApiResult;
using engine::ExecutionRecord;
using engine::HistoryEvent;
using engine::Page;
using engine::PageRequest;
using engine::RouteRecord;
using engine::StateMachineRecord;

// One mutating call, as the audit log keeps it; a filter over the log.
using AuditEntry = engine::AuditRecord;
using AuditFilter = engine::AuditQuery;

// Where audit entries go (the store in production). Implementations are thread-safe.
class AuditLog {
 public:
  virtual ~AuditLog() = default;
  virtual void record(AuditEntry entry) = 0;
  // Newest first.
  virtual ApiResult<Page<AuditEntry>> list(const AuditFilter& filter, const PageRequest& page) = 0;
};

struct Tag {
  std::string key;
  std::string value;
};

// ValidateStateMachineDefinition's answer.
struct Validation {
  bool ok = true;
  std::vector<asl::Diagnostic> diagnostics;  // errors and warnings, in document order
};

// What task dispatch lends the task operations; both outlive the Operations. Without a queue,
// GetActivityTask answers ServiceUnavailable; without a registry, so do the route operations.
struct TaskServices {
  engine::ActivityQueue* activities = nullptr;
  engine::Registry* registry = nullptr;
};

// AWS: a GetActivityTask long poll waits at most 60 s.
inline constexpr std::chrono::milliseconds kMaxPollWait{60'000};
// AWS: a task's output is at most 256 KiB; SendTaskFailure's error at most 256 characters, its
// cause at most 32768.
inline constexpr std::size_t kMaxTaskOutputBytes = 256 * 1024;
inline constexpr std::size_t kMaxTaskErrorChars = 256;
inline constexpr std::size_t kMaxTaskCauseChars = 32768;

class Operations {
 public:
  // `audit` may be null (no audit log kept).
  Operations(engine::Engine& engine, AuditLog* audit, TaskServices tasks = {});

  using PollReply = std::function<void(ApiResult<std::optional<engine::ActivityTask>>)>;
  using TaskReply = std::function<void(ApiResult<bool>)>;

  // --- State machines -----------------------------------------------------------------------
  ApiResult<StateMachineRecord> create_state_machine(const Caller& caller,
                                                     const engine::CreateMachineRequest& request);
  ApiResult<StateMachineRecord> update_state_machine(const Caller& caller, const std::string& arn,
                                                     const std::optional<std::string>& definition,
                                                     const std::optional<std::string>& role_arn);
  ApiResult<StateMachineRecord> describe_state_machine(const Caller& caller,
                                                       const std::string& arn);
  ApiResult<Page<StateMachineRecord>> list_state_machines(const Caller& caller,
                                                          const PageRequest& page);
  ApiResult<bool> delete_state_machine(const Caller& caller, const std::string& arn);
  // Never fails for a bad definition: the problems are the answer. `type` is STANDARD or
  // EXPRESS.
  ApiResult<Validation> validate_definition(const Caller& caller, const std::string& definition,
                                            const std::string& type);
  // The machine as the execution runs it: the revision it started with.
  ApiResult<StateMachineRecord> describe_state_machine_for_execution(const Caller& caller,
                                                                     const std::string& arn);

  // --- Executions ---------------------------------------------------------------------------
  void start_execution_async(const Caller& caller, engine::StartRequest request,
                             engine::ExecutionReply done);
  // Blocks until the execution ends or `timeout` passes (call it on a thread that may wait).
  ApiResult<ExecutionRecord> start_sync_execution(const Caller& caller,
                                                  engine::StartRequest request,
                                                  std::chrono::milliseconds timeout);
  ApiResult<ExecutionRecord> describe_execution(const Caller& caller, const std::string& arn);
  ApiResult<Page<ExecutionRecord>> list_executions(const Caller& caller,
                                                   const engine::ExecutionFilter& filter,
                                                   const PageRequest& page);
  ApiResult<Page<HistoryEvent>> get_history(const Caller& caller, const std::string& arn,
                                            const PageRequest& page, bool reverse);
  void stop_execution_async(const Caller& caller, const std::string& arn,
                            const std::string& error, const std::string& cause,
                            engine::ExecutionReply done);
  void redrive_execution_async(const Caller& caller, const std::string& arn,
                               engine::ExecutionReply done);

  // --- Activities ---------------------------------------------------------------------------
  // AWS: creating an activity that exists answers it (its tags unchanged); InvalidName for a bad
  // name; TooManyTags over 50 tags.
  ApiResult<ActivityRecord> create_activity(const Caller& caller, const std::string& name,
                                            const std::vector<Tag>& tags);
  // ActivityDoesNotExist when absent; InvalidArn for an ARN that is no activity's.
  ApiResult<ActivityRecord> describe_activity(const Caller& caller, const std::string& arn);
  ApiResult<Page<ActivityRecord>> list_activities(const Caller& caller, const PageRequest& page);
  // AWS: deleting an activity that does not exist succeeds. Tasks already scheduled for it stay.
  ApiResult<bool> delete_activity(const Caller& caller, const std::string& arn);
  // The ARN of this node's activity `name`.
  std::string activity_arn(const std::string& name) const;

  // --- Tasks --------------------------------------------------------------------------------
  // GetActivityTask: a long poll. `done` gets a task (token and input) the moment one of the
  // activity is queued, or nullopt once `wait` (capped at kMaxPollWait) passes or the server
  // shuts down. `worker_name` (0-80 characters; may be empty) goes into the history's
  // ActivityStarted. Errors, answered at once: AccessDeniedException (role, grant),
  // InvalidArn, ActivityDoesNotExist, ValidationException (worker name), ServiceUnavailable
  // (no task queue).
  //
  // A call over a connection (caller.context set) watches it: a client that goes away while the
  // poll waits withdraws the poll at once (`done` gets nullopt, which nobody reads), so it takes
  // no task; and a task counts as started (ActivityStarted, the audit record) only once its
  // answer was written to the connection; an answer that could not be written gives the task
  // back to the front of the queue for the next poll, never started. A call without a context
  // counts the task as started when it is handed out.
  //
  // REQUIRES: every poll is answered (ActivityQueue::shutdown answers those still waiting)
  // before the Operations is destroyed, and the HTTP server whose requests it serves is
  // destroyed before the ActivityQueue (a connection settles its answers until then).
  void get_activity_task_async(const Caller& caller, const std::string& activity_arn,
                               const std::string& worker_name, std::chrono::milliseconds wait,
                               PollReply done);
  // A report accepted for a task whose answer's delivery is not settled yet records it as
  // started first (the worker evidently got it).
  //
  // SendTaskSuccess: `output` is JSON text. InvalidOutput when it is not JSON,
  // ValidationException over kMaxTaskOutputBytes. Then the engine's token errors: InvalidToken,
  // TaskDoesNotExist (unknown, or already completed), TaskTimedOut. `done` is called once the
  // outcome is durable.
  void send_task_success_async(const Caller& caller, const std::string& token,
                               const std::string& output, TaskReply done);
  // SendTaskFailure: ValidationException for an error over 256 characters or a cause over 32768
  // (AWS's wording); then as send_task_success_async.
  void send_task_failure_async(const Caller& caller, const std::string& token,
                               const std::string& error, const std::string& cause, TaskReply done);
  // SendTaskHeartbeat: restarts the task's HeartbeatSeconds clock.
  void send_task_heartbeat_async(const Caller& caller, const std::string& token, TaskReply done);

  // --- Task routes (admins only; engine/dispatch/registry.hpp) ------------------------------
  // ValidationException (what is wrong) for a bad kind, name or URL.
  ApiResult<RouteRecord> put_route(const Caller& caller, const std::string& kind,
                                   const std::string& name, const std::string& url);
  // ResourceNotFound when there is no such route.
  ApiResult<bool> delete_route(const Caller& caller, const std::string& kind,
                               const std::string& name);
  // Every route, by kind then name (read again from the store first: another node may have
  // changed them).
  ApiResult<std::vector<RouteRecord>> list_routes(const Caller& caller);

  // --- Tags (state machines and activities) -------------------------------------------------
  ApiResult<bool> tag_resource(const Caller& caller, const std::string& arn,
                               const std::vector<Tag>& tags);
  ApiResult<bool> untag_resource(const Caller& caller, const std::string& arn,
                                 const std::vector<std::string>& keys);
  ApiResult<std::vector<Tag>> list_tags_for_resource(const Caller& caller, const std::string& arn);

  // --- Audit --------------------------------------------------------------------------------
  ApiResult<Page<AuditEntry>> list_audit(const Caller& caller, const AuditFilter& filter,
                                         const PageRequest& page);

  engine::Engine& engine() { return engine_; }

 private:
  void audit(const Caller& caller, std::string_view operation, const std::string& resource,
             const std::string& outcome);
  template <typename T, typename Call>
  ApiResult<T> audited(const Caller& caller, std::string_view operation,
                       const std::string& resource, Call&& call);
  ApiResult<std::vector<Tag>> current_tags(const std::string& arn);
  ApiResult<bool> store_tags(const std::string& arn, const std::vector<Tag>& tags);
  bool granted(const Caller& caller, const std::string& activity_arn) const;
  void report_task(const Caller& caller, std::string_view operation, const std::string& token,
                   asl::Outcome outcome, bool heartbeat, TaskReply done);
  // An activity task this node handed to a worker: its activity and its execution.
  struct HandedOut {
    std::string activity_arn;
    std::string execution_arn;
  };
  void remember_handed_out(const std::string& token, HandedOut task);
  std::optional<HandedOut> handed_out(const std::string& token);

  engine::Engine& engine_;
  AuditLog* audit_;
  TaskServices tasks_;
  std::mutex machines_mu_;  // tag changes and updates of a machine row, one at a time
  // Activity tasks this node handed to workers, the newest 100,000: a report of one of them
  // needs no store read to know its activity (the worker grant check) and execution (the audit
  // entry), also when its task row is gone (an EXPRESS execution's task, or one completed or
  // timed out since).
  std::mutex handed_mu_;
  std::unordered_map<std::string, HandedOut> handed_;
  std::deque<std::string> handed_order_;
};

}  // namespace stepd::server
