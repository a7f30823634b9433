// The application service: one function per API operation, shared by the REST adapter
// (server/rest/) and the AWS Step Functions adapter (server/aws/), which only translate their
// wire formats to these calls and back. Here, and only here: who may call what (roles), the
// audit record of every mutating call, ARN checks, and the engine call itself.
//
// Errors are engine::ApiError with AWS's error names ("StateMachineDoesNotExist",
// "InvalidArn", "AccessDeniedException", "ValidationException", ...); each adapter maps a name
// to its HTTP status (server/operations/errors.hpp).
//
// Threads: every method is thread-safe. The *_async methods return at once and answer through
// `done` (possibly on an engine thread; `done` must not block).
#pragma once

#include "engine/engine.hpp"
#include "server/http/message.hpp"

#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace stepd::server {

using engine::ApiError;
using engine::ApiResult;
using engine::ExecutionRecord;
using engine::HistoryEvent;
using engine::Page;
using engine::PageRequest;
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

class Operations {
 public:
  // `audit` may be null (no audit log kept).
  Operations(engine::Engine& engine, AuditLog* audit);

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

  // --- Tags (state machines) ----------------------------------------------------------------
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

  engine::Engine& engine_;
  AuditLog* audit_;
  std::mutex machines_mu_;  // tag changes and updates of a machine row, one at a time
};

}  // namespace stepd::server
