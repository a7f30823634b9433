#include "server/operations/operations.hpp"

#include "asl/core/json.hpp"

#include <algorithm>
#include <atomic>
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
  // A control character (NUL, say) names nothing; it must not reach the store either.
  for (unsigned char c : arn) {
    if (c < 0x20 || c == 0x7f) return bad("Resource name not valid");
  }
  return std::nullopt;
}

// JSON given as text inside a request (an execution's input, a task's output, a definition)
// nests arrays and objects at most this deep. The adapters bound the nesting of the request body
// itself, not of JSON inside its strings; deeper text would reach the engine's recursive JSON
// code and could overflow a thread's stack.
constexpr int kMaxNesting = 64;

// The byte at which `text` opens its (kMaxNesting+1)-th nested array or object, if it does.
std::optional<std::size_t> too_deep(std::string_view text) {
  return asl::nesting_beyond(text, kMaxNesting);
}

// "the <what> nests arrays and objects deeper than 64 levels (at byte <n>)"
std::string nesting_message(std::string_view what, std::size_t at) {
  return "the " + std::string(what) + " nests arrays and objects deeper than " +
         std::to_string(kMaxNesting) + " levels (at byte " + std::to_string(at) + ")";
}

ApiError too_deep_definition(std::size_t at) {
  const std::string why = nesting_message("definition", at);
  ApiError e = error("InvalidDefinition", "Invalid State Machine Definition: " + why);
  e.diagnostics.push_back(asl::Diagnostic{"", "NESTING_TOO_DEEP", why, asl::Severity::Error});
  return e;
}

// AWS: a definition is at most 1 MiB (1048576 characters). The AWS adapter's request shapes say
// so too; here it holds for every API.
constexpr std::size_t kMaxDefinitionChars = 1024 * 1024;

std::optional<ApiError> oversized_definition(std::string_view definition) {
  if (definition.size() <= kMaxDefinitionChars) return std::nullopt;  // fewer characters
  std::size_t chars = 0;
  for (unsigned char c : definition) chars += (c & 0xC0) != 0x80 ? 1 : 0;
  if (chars <= kMaxDefinitionChars) return std::nullopt;
  return error("ValidationException",
               "1 validation error detected: Value at 'definition' failed to satisfy constraint: "
               "Member must have length less than or equal to 1048576");
}

ApiError too_deep_input(std::size_t at) {
  return error("InvalidExecutionInput",
               "Invalid State Machine Execution Input: " + nesting_message("input", at));
}

template <typename T>
std::string outcome_of(const ApiResult<T>& r) {
  if (const auto* e = std::get_if<ApiError>(&r)) return e->type;
  return "ok";
}

}  // namespace

Operations::Operations(engine::Engine& engine, AuditLog* audit, TaskServices tasks)
    : engine_(engine), audit_(audit), tasks_(tasks) {}

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
    if (auto e = oversized_definition(request.definition)) return *e;
    if (auto at = too_deep(request.definition)) return too_deep_definition(*at);
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
    if (definition) {
      if (auto e = oversized_definition(*definition)) return *e;
      if (auto at = too_deep(*definition)) return too_deep_definition(*at);
    }
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
  if (auto e = oversized_definition(definition)) return *e;
  if (auto at = too_deep(definition)) {
    Validation v;
    v.ok = false;
    v.diagnostics = too_deep_definition(*at).diagnostics;
    return v;
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
  if (auto at = too_deep(request.input)) return refuse(too_deep_input(*at));
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
  if (auto at = too_deep(request.input)) return refuse(too_deep_input(*at));
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

// The resource type a tag call's ARN names: activities have tags too, everything else is
// checked as a state machine (so that its ARN error says what is wrong).
std::string_view tagged_kind(const std::string& arn) {
  static constexpr std::string_view kActivity = ":activity:";
  const auto at = arn.find(kActivity);
  // arn:aws:states:REGION:ACCOUNT:activity:NAME: the fifth colon starts the type.
  if (at == std::string::npos) return "stateMachine";
  std::size_t colons = 0;
  for (std::size_t i = 0; i < at; ++i) colons += arn[i] == ':' ? 1 : 0;
  return colons == 4 ? "activity" : "stateMachine";
}

// AWS: tags name state machines and activities; keys 1-128 characters, values up to 256.
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

// The resource's tags, or the error a tag call answers with: AWS says ResourceNotFound for a
// machine or activity that does not exist; any other failure passes as it is.
ApiResult<std::vector<Tag>> Operations::current_tags(const std::string& arn) {
  if (tagged_kind(arn) == "activity") {
    auto a = engine_.describe_activity(arn);
    if (auto* e = std::get_if<ApiError>(&a)) {
      if (e->type == "ActivityDoesNotExist") {
        return error("ResourceNotFound", "Resource not found: '" + arn + "'");
      }
      return *e;
    }
    return parse_tags(std::get<ActivityRecord>(a).tags_json);
  }
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
  engine::Status s = tagged_kind(arn) == "activity"
                         ? engine_.store().set_activity_tags(arn, dump_tags(tags))
                         : engine_.store().set_state_machine_tags(arn, dump_tags(tags));
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
    if (auto e = check_arn(arn, tagged_kind(arn))) return *e;
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
    if (auto e = check_arn(arn, tagged_kind(arn))) return *e;
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
  if (auto e = check_arn(arn, tagged_kind(arn))) return *e;
  return current_tags(arn);
}

// --- Activities --------------------------------------------------------------------------------

std::string Operations::activity_arn(const std::string& name) const {
  return "arn:aws:states:" + engine_.options().region + ":" + engine_.options().account +
         ":activity:" + name;
}

ApiResult<ActivityRecord> Operations::create_activity(const Caller& caller,
                                                      const std::string& name,
                                                      const std::vector<Tag>& tags) {
  return audited<ActivityRecord>(caller, "CreateActivity", activity_arn(name),
                                 [&]() -> ApiResult<ActivityRecord> {
    if (auto e = deny(caller, Access::Write, "CreateActivity", "")) return *e;
    if (auto e = check_tags(tags)) return *e;
    if (tags.size() > 50) {
      return error("TooManyTags", "Too many tags: a resource has at most 50 tags");
    }
    return engine_.create_activity(name, dump_tags(tags));
  });
}

ApiResult<ActivityRecord> Operations::describe_activity(const Caller& caller,
                                                        const std::string& arn) {
  if (auto e = deny(caller, Access::Read, "DescribeActivity", arn)) return *e;
  if (auto e = check_arn(arn, "activity")) return *e;
  return engine_.describe_activity(arn);
}

ApiResult<Page<ActivityRecord>> Operations::list_activities(const Caller& caller,
                                                            const PageRequest& page) {
  if (auto e = deny(caller, Access::Read, "ListActivities", "")) return *e;
  return engine_.list_activities(page);
}

ApiResult<bool> Operations::delete_activity(const Caller& caller, const std::string& arn) {
  return audited<bool>(caller, "DeleteActivity", arn, [&]() -> ApiResult<bool> {
    if (auto e = deny(caller, Access::Write, "DeleteActivity", arn)) return *e;
    if (auto e = check_arn(arn, "activity")) return *e;
    return engine_.delete_activity(arn);
  });
}

// --- Tasks -------------------------------------------------------------------------------------

bool Operations::granted(const Caller& caller, const std::string& arn) const {
  if (caller.role == Role::Admin) return true;
  if (caller.role != Role::Worker) return false;
  for (const std::string& grant : caller.activities) {
    if (grant == "*") return true;
    if (arn.empty()) continue;  // a callback task: only "*" covers it
    if (grant == arn) return true;
    if (grant.rfind("arn:", 0) != 0 && activity_arn(grant) == arn) return true;
  }
  return false;
}

void Operations::remember_handed_out(const std::string& token, HandedOut task) {
  constexpr std::size_t kKeep = 100'000;
  std::lock_guard lock(handed_mu_);
  if (!handed_.emplace(token, std::move(task)).second) return;
  handed_order_.push_back(token);
  if (handed_order_.size() > kKeep) {
    handed_.erase(handed_order_.front());
    handed_order_.pop_front();
  }
}

std::optional<Operations::HandedOut> Operations::handed_out(const std::string& token) {
  std::lock_guard lock(handed_mu_);
  auto it = handed_.find(token);
  if (it == handed_.end()) return std::nullopt;
  return it->second;
}

namespace {

ApiError task_denied(const Caller& caller, std::string_view operation,
                     const std::string& resource) {
  return error("AccessDeniedException",
               "User: " + caller.key_id + " is not authorized to perform: states:" +
                   std::string(operation) + (resource.empty() ? "" : " on resource: " + resource));
}

ApiError store_failure(const engine::Error& e) {
  return error(e.code == engine::ErrorCode::Unavailable ? "ServiceUnavailable" : "InternalError",
               e.message);
}

}  // namespace

void Operations::get_activity_task_async(const Caller& caller, const std::string& arn,
                                         const std::string& worker_name,
                                         std::chrono::milliseconds wait, PollReply done) {
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT("GetActivityTask", arn, e.type);
    done(std::move(e));
  };
  if (!granted(caller, arn)) return refuse(task_denied(caller, "GetActivityTask", arn));
  if (auto e = check_arn(arn, "activity")) return refuse(*e);
  // AWS: workerName is a Name, at most 80 characters.
  if (worker_name.size() > 80) {
    return refuse(error("ValidationException",
                        "1 validation error detected: Value '" + worker_name +
                            "' at 'workerName' failed to satisfy constraint: Member must have "
                            "length less than or equal to 80"));
  }
  if (tasks_.activities == nullptr) {
    return refuse(error("ServiceUnavailable", "this server hands out no activity tasks"));
  }
  auto activity = engine_.describe_activity(arn);
  if (auto* e = std::get_if<ApiError>(&activity)) return refuse(*e);
  wait = std::clamp(wait, std::chrono::milliseconds(0), kMaxPollWait);
  engine::ActivityQueue* queue = tasks_.activities;
  const std::shared_ptr<RequestContext> context = caller.context;
  if (!context) {
    // No connection to watch (an in-process call): the task counts as started when handed out.
    queue->poll(
        arn, worker_name, wait,
        [this, caller, arn, done = std::move(done)](std::optional<engine::ActivityTask> task) {
          if (task) {
            remember_handed_out(task->token, {arn, task->execution_arn});
            STEPD_AUDIT("GetActivityTask", arn, "ok");
          }
          done(std::move(task));
        });
    return;
  }
  // Over a connection: a worker that goes away while the poll waits withdraws it (it must not
  // take a task nobody will get), and a task counts as started only once its answer was written;
  // an answer that could not be written gives the task back to the queue. The callbacks hold a
  // copy of the caller without the context (the context holds them).
  Caller who = caller;
  who.context.reset();
  // Asked before polling, so that a client gone before poll() returns is not missed.
  auto poll_id = std::make_shared<std::atomic<engine::ActivityQueue::PollId>>(0);
  context->on_cancel([queue, poll_id] {
    if (const auto id = poll_id->load()) queue->withdraw(id);
  });
  const auto id = queue->poll(
      arn, worker_name, wait,
      [this, who, arn, context, queue,
       done = std::move(done)](std::optional<engine::ActivityTask> task) {
        if (task) {
          // Known before the worker can report it (the grant check of SendTask* reads it).
          remember_handed_out(task->token, {arn, task->execution_arn});
          context->on_written([this, who, arn, queue, token = task->token](bool written) {
            if (!written) return queue->returned(token);
            queue->delivered(token);
            const Caller& caller = who;
            STEPD_AUDIT("GetActivityTask", arn, "ok");
          });
        }
        done(std::move(task));
      },
      engine::ActivityQueue::Handoff::OnDelivery);
  poll_id->store(id);
  if (id != 0 && context->cancelled()) queue->withdraw(id);
}

// The checks every SendTask* makes, then the engine call. A worker may report only the tasks
// of its granted activities: the task's row in the store names its activity (none for a
// callback task), else the record of tasks this node handed out does. A token known to
// neither is answered TaskDoesNotExist for a worker without "*" (the engine is not asked: such
// a token might be an EXPRESS execution's callback, which the worker may not complete), unless
// it is not even visible ASCII: no task has such a token, and the engine says InvalidToken.
void Operations::report_task(const Caller& caller, std::string_view operation,
                             const std::string& token, asl::Outcome outcome, bool heartbeat,
                             TaskReply done) {
  std::string resource;
  std::optional<std::string> activity;  // known: the task's activity ARN ("" for a callback)
  // A token of anything but visible ASCII is no task's (the engine answers InvalidToken for it,
  // and acts on nothing); it is not looked up in the store, which may refuse such text.
  const bool plain = std::all_of(token.begin(), token.end(),
                                 [](unsigned char c) { return c > 0x20 && c < 0x7f; });
  // A task this node handed out is known without a store read (one round trip less per report
  // on PostgreSQL); any other token (a callback's, or one handed out by another node) is looked
  // up.
  const auto handed = handed_out(token);
  auto row = handed || !plain
                 ? engine::Result<engine::TaskRecord>(
                       engine::Error{engine::ErrorCode::NotFound, "not a task token"})
                 : engine_.store().get_task(token);
  if (handed) {
    resource = handed->execution_arn;
    activity = handed->activity_arn;
  } else if (row.ok()) {
    resource = row->execution_arn;
    activity = row->activity_arn;
  }
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT(operation, resource, e.type);
    done(std::move(e));
  };
  if (caller.role == Role::ReadOnly) return refuse(task_denied(caller, operation, resource));
  if (caller.role == Role::Worker) {
    if (!row.ok() && row.error().code != engine::ErrorCode::NotFound) {
      return refuse(store_failure(row.error()));
    }
    if (!activity) {
      if (plain && !granted(caller, "")) {
        return refuse(error("TaskDoesNotExist", "Task Does Not Exist"));
      }
    } else if (!granted(caller, *activity)) {
      return refuse(task_denied(caller, operation, activity->empty() ? resource : *activity));
    }
  }
  auto reply = [this, caller, operation, resource, done = std::move(done)](ApiResult<bool> r) {
    STEPD_AUDIT(operation, resource, outcome_of(r));
    done(std::move(r));
  };
  // A report proves that the worker got the task: if its answer's delivery is not settled yet,
  // ActivityStarted is recorded now, before the outcome (the engine takes them in this order).
  if (tasks_.activities != nullptr) tasks_.activities->delivered(token);
  if (heartbeat) {
    engine_.heartbeat_task_async(token, std::move(reply));
  } else {
    engine_.complete_task_async(token, std::move(outcome), std::move(reply));
  }
}

void Operations::send_task_success_async(const Caller& caller, const std::string& token,
                                         const std::string& output, TaskReply done) {
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT("SendTaskSuccess", "", e.type);
    done(std::move(e));
  };
  if (caller.role == Role::ReadOnly) return refuse(task_denied(caller, "SendTaskSuccess", ""));
  // AWS: the output is at most 256 KiB and must be JSON (InvalidOutput).
  if (output.size() > kMaxTaskOutputBytes) {
    return refuse(error("ValidationException",
                        "1 validation error detected: Value at 'output' failed to satisfy "
                        "constraint: Member must have length less than or equal to 262144"));
  }
  if (auto at = too_deep(output)) {
    return refuse(error("InvalidOutput", "Invalid Output: " + nesting_message("output", *at)));
  }
  asl::Json value;
  try {
    value = asl::Json::parse(output);
  } catch (const asl::Json::parse_error& e) {
    // nlohmann: "[json.exception.parse_error.101] parse error at line 1, column 2: ..."
    std::string what = e.what();
    if (auto close = what.find("] "); close != std::string::npos) what.erase(0, close + 2);
    return refuse(error("InvalidOutput", "Invalid Output: the output is not valid JSON: " + what));
  }
  report_task(caller, "SendTaskSuccess", token, std::move(value), false, std::move(done));
}

void Operations::send_task_failure_async(const Caller& caller, const std::string& token,
                                         const std::string& error_name, const std::string& cause,
                                         TaskReply done) {
  auto refuse = [&](ApiError e) {
    STEPD_AUDIT("SendTaskFailure", "", e.type);
    done(std::move(e));
  };
  if (caller.role == Role::ReadOnly) return refuse(task_denied(caller, "SendTaskFailure", ""));
  // AWS: error at most 256 characters, cause at most 32768.
  if (error_name.size() > kMaxTaskErrorChars) {
    return refuse(error("ValidationException",
                        "1 validation error detected: Value at 'error' failed to satisfy "
                        "constraint: Member must have length less than or equal to 256"));
  }
  if (cause.size() > kMaxTaskCauseChars) {
    return refuse(error("ValidationException",
                        "1 validation error detected: Value at 'cause' failed to satisfy "
                        "constraint: Member must have length less than or equal to 32768"));
  }
  report_task(caller, "SendTaskFailure", token, asl::StatesError{error_name, cause}, false,
              std::move(done));
}

void Operations::send_task_heartbeat_async(const Caller& caller, const std::string& token,
                                           TaskReply done) {
  report_task(caller, "SendTaskHeartbeat", token, asl::Json(), true, std::move(done));
}

// --- Task routes -------------------------------------------------------------------------------

namespace {

std::optional<ApiError> routes_denied(const Caller& caller) {
  if (caller.role == Role::Admin) return std::nullopt;
  return error("AccessDeniedException",
               "User: " + caller.key_id + " is not authorized to manage task routes");
}

std::optional<ApiError> no_registry(const engine::Registry* registry) {
  if (registry != nullptr) return std::nullopt;
  return error("ServiceUnavailable", "this server has no task routing registry");
}

std::string route_resource(const std::string& kind, const std::string& name) {
  return "route/" + kind + "/" + name;
}

}  // namespace

ApiResult<RouteRecord> Operations::put_route(const Caller& caller, const std::string& kind,
                                             const std::string& name, const std::string& url) {
  return audited<RouteRecord>(caller, "PutRoute", route_resource(kind, name),
                              [&]() -> ApiResult<RouteRecord> {
    if (auto e = routes_denied(caller)) return *e;
    if (auto e = no_registry(tasks_.registry)) return *e;
    return tasks_.registry->put(kind, name, url);
  });
}

ApiResult<bool> Operations::delete_route(const Caller& caller, const std::string& kind,
                                         const std::string& name) {
  return audited<bool>(caller, "DeleteRoute", route_resource(kind, name),
                       [&]() -> ApiResult<bool> {
    if (auto e = routes_denied(caller)) return *e;
    if (auto e = no_registry(tasks_.registry)) return *e;
    return tasks_.registry->remove(kind, name);
  });
}

ApiResult<std::vector<RouteRecord>> Operations::list_routes(const Caller& caller) {
  if (auto e = routes_denied(caller)) return *e;
  if (auto e = no_registry(tasks_.registry)) return *e;
  tasks_.registry->refresh(std::chrono::milliseconds(0));
  return tasks_.registry->list();
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
