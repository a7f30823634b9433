#include "server/operations/operations.hpp"

#include "asl/core/json.hpp"

#include <algorithm>
#include <chrono>

namespace stepd::server {

using engine::Micros;

namespace {

Micros wall_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiError error(std::string type, std::string message) {
  return ApiError{std::move(type), std::move(message), {}};
}

// What a call needs.
enum class Access { Read, Write };

// AWS: a malformed ARN is InvalidArn, "Invalid Arn: '<why>: <arn>'". `kind` is the resource
// type the operation expects ("stateMachine", "execution").
std::optional<ApiError> check_arn(const std::string& arn, std::string_view kind) {
  // arn:aws:states:REGION:ACCOUNT:KIND:NAME[:...]
  std::vector<std::string_view> parts;
  std::string_view rest = arn;
  while (true) {
    auto colon = rest.find(':');
    parts.push_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  auto bad = [&](std::string why) {
    return error("InvalidArn", "Invalid Arn: '" + why + ": " + arn + "'");
  };
  if (parts.size() < 7 || parts[0] != "arn" || parts[1].empty()) {
    return bad("Invalid ARN prefix");
  }
  if (parts[2] != "states") return bad("Service not valid in this context");
  if (parts[5] != kind) return bad("Resource type not valid in this context");
  for (std::size_t i = 6; i < parts.size(); ++i) {
    if (parts[i].empty()) return bad("Resource name not valid");
  }
  const std::size_t want = kind == "execution" ? 8 : 7;
  if (parts.size() != want) return bad("Resource name not valid");
  return std::nullopt;
}

template <typename T>
std::string outcome_of(const ApiResult<T>& r) {
  if (const auto* e = std::get_if<ApiError>(&r)) return e->type;
  return "ok";
}

}  // namespace

Operations::Operations(engine::Engine& engine, AuditLog* audit) : engine_(engine), audit_(audit) {}

namespace {

// Role check: AWS answers AccessDeniedException.
std::optional<ApiError> deny(const Caller& caller, Access access, std::string_view operation,
                             const std::string& resource) {
  const bool allowed = caller.role == Role::Admin ||
                       (caller.role == Role::ReadOnly && access == Access::Read);
  if (allowed) return std::nullopt;
  return error("AccessDeniedException",
               "User: " + caller.key_id + " is not authorized to perform: states:" +
                   std::string(operation) + (resource.empty() ? "" : " on resource: " + resource));
}

}  // namespace

// Records a mutating call once its outcome is known (refused ones too: who tried what).
#define STEPD_AUDIT(op, resource, outcome) audit(caller, op, resource, outcome)

void Operations::audit(const Caller& caller, std::string_view operation,
                       const std::string& resource, const std::string& outcome) {
  if (audit_ == nullptr) return;
  audit_->record(AuditEntry{0, wall_now(), caller.key_id, caller.remote, std::string(operation),
                            resource, outcome, caller.request_id});
}

// Runs a mutating call that answers at once, and audits its outcome.
template <typename T, typename Call>
ApiResult<T> Operations::audited(const Caller& caller, std::string_view operation,
                                 const std::string& resource, Call&& call) {
  ApiResult<T> r = call();
  audit(caller, operation, resource, outcome_of(r));
  return r;
}

ApiResult<StateMachineRecord> Operations::create_state_machine(
    const Caller& caller, const engine::CreateMachineRequest& request) {
  const std::string arn = "arn:aws:states:" + engine_.options().region + ":" +
                          engine_.options().account + ":stateMachine:" + request.name;
  return audited<StateMachineRecord>(caller, "CreateStateMachine", arn,
                                     [&]() -> ApiResult<StateMachineRecord> {
    if (auto e = deny(caller, Access::Write, "CreateStateMachine", "")) return *e;
    return engine_.create_state_machine(request);
  });
}

ApiResult<StateMachineRecord> Operations::update_state_machine(
    const Caller& caller, const std::string& arn, const std::optional<std::string>& definition,
    const std::optional<std::string>& role_arn) {
  return audited<StateMachineRecord>(caller, "UpdateStateMachine", arn,
                                     [&]() -> ApiResult<StateMachineRecord> {
    if (auto e = deny(caller, Access::Write, "UpdateStateMachine", arn)) return *e;
    if (auto e = check_arn(arn, "stateMachine")) return *e;
    std::lock_guard lock(machines_mu_);  // the row is rewritten whole: not under a tag change
    return engine_.update_state_machine(arn, definition, role_arn);
  });
}

ApiResult<StateMachineRecord> Operations::describe_state_machine(const Caller& caller,
                                                                 const std::string& arn) {
  if (auto e = deny(caller, Access::Read, "DescribeStateMachine", arn)) return *e;
  if (auto e = check_arn(arn, "stateMachine")) return *e;
  return engine_.describe_state_machine(arn);
}

ApiResult<Page<StateMachineRecord>> Operations::list_state_machines(const Caller& caller,
                                                                    const PageRequest& page) {
  if (auto e = deny(caller, Access::Read, "ListStateMachines", "")) return *e;
  return engine_.list_state_machines(page);
}

ApiResult<bool> Operations::delete_state_machine(const Caller& caller, const std::string& arn) {
  return audited<bool>(caller, "DeleteStateMachine", arn, [&]() -> ApiResult<bool> {
    if (auto e = deny(caller, Access::Write, "DeleteStateMachine", arn)) return *e;
    if (auto e = check_arn(arn, "stateMachine")) return *e;
    return engine_.delete_state_machine(arn);
  });
}

ApiResult<Validation> Operations::validate_definition(const Caller& caller,
                                                      const std::string& definition,
                                                      const std::string& type) {
  if (auto e = deny(caller, Access::Read, "ValidateStateMachineDefinition", "")) return *e;
  if (type != "STANDARD" && type != "EXPRESS") {
    return error("ValidationException",
                 "1 validation error detected: Value '" + type +
                     "' at 'type' failed to satisfy constraint: Member must satisfy enum value "
                     "set: [STANDARD, EXPRESS]");
  }
  asl::LoadResult loaded = asl::load_definition(std::string_view(definition),
                                                engine_.options().load);
  Validation v;
  v.ok = loaded.ok();
  v.diagnostics = std::move(loaded.diagnostics);
  return v;
}

ApiResult<StateMachineRecord> Operations::describe_state_machine_for_execution(
    const Caller& caller, const std::string& arn) {
  if (auto e = deny(caller, Access::Read, "DescribeStateMachineForExecution", arn)) return *e;
  if (auto e = check_arn(arn, "execution")) return *e;
  auto exec = engine_.describe_execution(arn);
  if (auto* e = std::get_if<ApiError>(&exec)) return *e;
  const ExecutionRecord& x = std::get<ExecutionRecord>(exec);
  auto machine = engine_.store().get_state_machine(x.machine_arn);
  auto revision = engine_.store().get_revision(x.machine_arn, x.revision_id);
  if (!revision.ok()) {
    return error("StateMachineDoesNotExist",
                 "State Machine Does Not Exist: '" + x.machine_arn + "'");
  }
  StateMachineRecord out;
  if (machine.ok()) out = *machine;
  out.arn = x.machine_arn;
  out.type = x.type;
  out.definition = revision->definition;
  out.role_arn = revision->role_arn;
  out.revision_id = revision->revision_id;
  out.updated = revision->created;
  if (out.name.empty()) {
    auto colon = x.machine_arn.rfind(':');
    out.name = colon == std::string::npos ? x.machine_arn : x.machine_arn.substr(colon + 1);
  }
  return out;
}

void Operations::start_execution_async(const Caller& caller, engine::StartRequest request,
                                       engine::ExecutionReply done) {
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT("StartExecution", request.machine_arn, e.type);
    done(std::move(e));
  };
  if (auto e = deny(caller, Access::Write, "StartExecution", request.machine_arn)) {
    return refuse(*e);
  }
  if (auto e = check_arn(request.machine_arn, "stateMachine")) return refuse(*e);
  if (request.trace_header.empty()) request.trace_header = caller.traceparent;
  if (audit_ == nullptr) {
    engine_.start_execution_async(request, std::move(done));
    return;
  }
  engine_.start_execution_async(
      request, [this, caller, machine = request.machine_arn,
                done = std::move(done)](ApiResult<ExecutionRecord> r) {
        const auto* x = std::get_if<ExecutionRecord>(&r);
        STEPD_AUDIT("StartExecution", x ? x->arn : machine, outcome_of(r));
        done(std::move(r));
      });
}

ApiResult<ExecutionRecord> Operations::start_sync_execution(const Caller& caller,
                                                            engine::StartRequest request,
                                                            std::chrono::milliseconds timeout) {
  auto refuse = [&](ApiError e) -> ApiResult<ExecutionRecord> {
    STEPD_AUDIT("StartSyncExecution", request.machine_arn, e.type);
    return e;
  };
  if (auto e = deny(caller, Access::Write, "StartSyncExecution", request.machine_arn)) {
    return refuse(*e);
  }
  if (auto e = check_arn(request.machine_arn, "stateMachine")) return refuse(*e);
  if (request.trace_header.empty()) request.trace_header = caller.traceparent;
  auto r = engine_.start_sync_execution(request, timeout);
  const auto* x = std::get_if<ExecutionRecord>(&r);
  STEPD_AUDIT("StartSyncExecution", x ? x->arn : request.machine_arn, outcome_of(r));
  return r;
}

ApiResult<ExecutionRecord> Operations::describe_execution(const Caller& caller,
                                                          const std::string& arn) {
  if (auto e = deny(caller, Access::Read, "DescribeExecution", arn)) return *e;
  if (auto e = check_arn(arn, "execution")) return *e;
  return engine_.describe_execution(arn);
}

ApiResult<Page<ExecutionRecord>> Operations::list_executions(const Caller& caller,
                                                             const engine::ExecutionFilter& filter,
                                                             const PageRequest& page) {
  if (auto e = deny(caller, Access::Read, "ListExecutions", filter.machine_arn)) return *e;
  if (!filter.machine_arn.empty()) {
    if (auto e = check_arn(filter.machine_arn, "stateMachine")) return *e;
  }
  return engine_.list_executions(filter, page);
}

ApiResult<Page<HistoryEvent>> Operations::get_history(const Caller& caller,
                                                      const std::string& arn,
                                                      const PageRequest& page, bool reverse) {
  if (auto e = deny(caller, Access::Read, "GetExecutionHistory", arn)) return *e;
  if (auto e = check_arn(arn, "execution")) return *e;
  return engine_.get_history(arn, page, reverse);
}

void Operations::stop_execution_async(const Caller& caller, const std::string& arn,
                                      const std::string& error_name, const std::string& cause,
                                      engine::ExecutionReply done) {
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT("StopExecution", arn, e.type);
    done(std::move(e));
  };
  if (auto e = deny(caller, Access::Write, "StopExecution", arn)) return refuse(*e);
  if (auto e = check_arn(arn, "execution")) return refuse(*e);
  engine_.stop_execution_async(
      arn, error_name, cause,
      [this, caller, arn, done = std::move(done)](ApiResult<ExecutionRecord> r) {
        STEPD_AUDIT("StopExecution", arn, outcome_of(r));
        done(std::move(r));
      });
}

void Operations::redrive_execution_async(const Caller& caller, const std::string& arn,
                                         engine::ExecutionReply done) {
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT("RedriveExecution", arn, e.type);
    done(std::move(e));
  };
  if (auto e = deny(caller, Access::Write, "RedriveExecution", arn)) return refuse(*e);
  if (auto e = check_arn(arn, "execution")) return refuse(*e);
  engine_.redrive_execution_async(
      arn, [this, caller, arn, done = std::move(done)](ApiResult<ExecutionRecord> r) {
        STEPD_AUDIT("RedriveExecution", arn, outcome_of(r));
        done(std::move(r));
      });
}

namespace {

std::vector<Tag> parse_tags(const std::string& json) {
  std::vector<Tag> out;
  asl::Json tags = asl::Json::parse(json, nullptr, false);
  if (!tags.is_array()) return out;
  for (const asl::Json& t : tags) {
    if (!t.is_object()) continue;
    out.push_back(Tag{t.value("key", std::string()), t.value("value", std::string())});
  }
  return out;
}

std::string dump_tags(const std::vector<Tag>& tags) {
  asl::Json out = asl::Json::array();
  for (const Tag& t : tags) out.push_back(asl::Json{{"key", t.key}, {"value", t.value}});
  return out.dump();
}

// AWS: tags name state machines (and activities); keys 1-128 characters, values up to 256.
std::optional<ApiError> check_tags(const std::vector<Tag>& tags) {
  for (const Tag& t : tags) {
    if (t.key.empty() || t.key.size() > 128) {
      return error("ValidationException", "Tag keys must be 1 to 128 characters long");
    }
    if (t.value.size() > 256) {
      return error("ValidationException", "Tag values must be at most 256 characters long");
    }
  }
  return std::nullopt;
}

}  // namespace

// The machine's tags, or the error a tag call answers with: AWS says ResourceNotFound for a
// machine that does not exist; any other failure passes as it is.
ApiResult<std::vector<Tag>> Operations::current_tags(const std::string& arn) {
  auto m = engine_.describe_state_machine(arn);
  if (auto* e = std::get_if<ApiError>(&m)) {
    if (e->type == "StateMachineDoesNotExist") {
      return error("ResourceNotFound", "Resource not found: '" + arn + "'");
    }
    return *e;
  }
  return parse_tags(std::get<StateMachineRecord>(m).tags_json);
}

ApiResult<bool> Operations::store_tags(const std::string& arn, const std::vector<Tag>& tags) {
  engine::Status s = engine_.store().set_state_machine_tags(arn, dump_tags(tags));
  if (s.ok()) return true;
  switch (s.error().code) {
    case engine::ErrorCode::NotFound:
      return error("ResourceNotFound", "Resource not found: '" + arn + "'");
    case engine::ErrorCode::Unavailable:
      return error("ServiceUnavailable", s.error().message);
    default:
      return error("InternalError", s.error().message);
  }
}

ApiResult<bool> Operations::tag_resource(const Caller& caller, const std::string& arn,
                                         const std::vector<Tag>& tags) {
  return audited<bool>(caller, "TagResource", arn, [&]() -> ApiResult<bool> {
    if (auto e = deny(caller, Access::Write, "TagResource", arn)) return *e;
    if (auto e = check_arn(arn, "stateMachine")) return *e;
    if (auto e = check_tags(tags)) return *e;
    // One node's tag changes in turn (read, merge, write). Several nodes may still race.
    std::lock_guard lock(machines_mu_);
    auto current = current_tags(arn);
    if (auto* e = std::get_if<ApiError>(&current)) return *e;
    std::vector<Tag> merged = std::move(std::get<std::vector<Tag>>(current));
    for (const Tag& t : tags) {
      auto it = std::find_if(merged.begin(), merged.end(),
                             [&](const Tag& x) { return x.key == t.key; });
      if (it != merged.end()) {
        it->value = t.value;
      } else {
        merged.push_back(t);
      }
    }
    if (merged.size() > 50) {
      return error("TooManyTags", "Too many tags: a resource has at most 50 tags");
    }
    return store_tags(arn, merged);
  });
}

ApiResult<bool> Operations::untag_resource(const Caller& caller, const std::string& arn,
                                           const std::vector<std::string>& keys) {
  return audited<bool>(caller, "UntagResource", arn, [&]() -> ApiResult<bool> {
    if (auto e = deny(caller, Access::Write, "UntagResource", arn)) return *e;
    if (auto e = check_arn(arn, "stateMachine")) return *e;
    std::lock_guard lock(machines_mu_);
    auto current = current_tags(arn);
    if (auto* e = std::get_if<ApiError>(&current)) return *e;
    std::vector<Tag> tags = std::move(std::get<std::vector<Tag>>(current));
    std::erase_if(tags, [&](const Tag& t) {
      return std::find(keys.begin(), keys.end(), t.key) != keys.end();
    });
    return store_tags(arn, tags);
  });
}

ApiResult<std::vector<Tag>> Operations::list_tags_for_resource(const Caller& caller,
                                                               const std::string& arn) {
  if (auto e = deny(caller, Access::Read, "ListTagsForResource", arn)) return *e;
  if (auto e = check_arn(arn, "stateMachine")) return *e;
  return current_tags(arn);
}

ApiResult<Page<AuditEntry>> Operations::list_audit(const Caller& caller, const AuditFilter& filter,
                                                   const PageRequest& page) {
  // The audit log shows who did what: for admins only.
  if (caller.role != Role::Admin) {
    return error("AccessDeniedException", "User: " + caller.key_id +
                                              " is not authorized to read the audit log");
  }
  if (audit_ == nullptr) return error("ValidationException", "no audit log is kept");
  return audit_->list(filter, page);
}

#undef STEPD_AUDIT

}  // namespace stepd::server
