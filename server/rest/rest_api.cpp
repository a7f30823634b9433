#include "server/rest/rest_api.hpp"

#include "server/operations/errors.hpp"
#include "server/rest/openapi.hpp"
#include "server/rest/representation.hpp"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>

namespace stepd::server {

using rest::Json;
using rest::QueryParam;

namespace {

// A request refused before any operation runs; handle() answers it. Thrown only by the request
// readers below and caught in handle(): it never leaves this file.
struct Rejected {
  ApiError error;
};

[[noreturn]] void reject(std::string type, std::string message) {
  throw Rejected{ApiError{std::move(type), std::move(message), {}}};
}

[[noreturn]] void invalid(std::string message) {
  reject("ValidationException", std::move(message));
}

// AWS: payloads (execution input) are at most 256 KiB.
constexpr std::size_t kMaxPayloadBytes = 256 * 1024;

}  // namespace

namespace rest {

// One request on its way through a route.
struct Call {
  Operations& ops;
  const RestOptions& options;
  HttpRequest request;
  Caller caller;
  Respond respond;
  bool answered = false;  // respond was called, or handed to an asynchronous operation
  std::map<std::string, std::string> params;
  std::vector<QueryParam> query;
};

}  // namespace rest

using rest::Call;

struct RestApi::Route {
  std::string method;
  std::string path;
  std::vector<std::string> query;  // the query parameters it takes
  void (*run)(Call&) = nullptr;
};

namespace {

// --- Answers --------------------------------------------------------------------------------

HttpResponse json_response(int status, const Json& body) {
  HttpResponse r;
  r.status = status;
  r.body = rest::dump(body);
  return r;
}

HttpResponse error_response(const ApiError& error, const std::string& request_id) {
  return json_response(rest_status(error), rest::error_json(error, request_id));
}

void reply(Call& call, HttpResponse response) {
  call.answered = true;
  call.respond(std::move(response));
}

void reply(Call& call, int status, const Json& body) { reply(call, json_response(status, body)); }

// 204 with no body.
HttpResponse no_content_response() {
  HttpResponse r;
  r.status = 204;
  r.content_type = "";
  return r;
}

// The value of an operation, or its error answered (then nullptr).
template <typename T>
T* value_or_reply(Call& call, ApiResult<T>& result) {
  if (auto* e = std::get_if<ApiError>(&result)) {
    reply(call, error_response(*e, call.caller.request_id));
    return nullptr;
  }
  return &std::get<T>(result);
}

template <typename T, typename Convert>
Json page_json(const Page<T>& page, Convert convert) {
  Json out = Json::object();
  Json items = Json::array();
  for (const T& item : page.items) items.push_back(convert(item));
  out["items"] = std::move(items);
  if (!page.next_token.empty()) out["nextToken"] = page.next_token;
  return out;
}

std::string execution_location(const std::string& arn) {
  return "/v1/executions/" + rest::percent_encode(arn);
}

// Answers an execution operation that completes on the engine's thread.
engine::ExecutionReply execution_reply(Call& call, int status, bool location) {
  call.answered = true;
  return [respond = std::move(call.respond), request_id = call.caller.request_id, status,
          location](ApiResult<ExecutionRecord> result) {
    if (auto* e = std::get_if<ApiError>(&result)) {
      respond(error_response(*e, request_id));
      return;
    }
    const ExecutionRecord& x = std::get<ExecutionRecord>(result);
    HttpResponse r = json_response(status, rest::execution_json(x, true));
    if (location) r.headers.push_back(Header{"Location", execution_location(x.arn)});
    respond(std::move(r));
  };
}

// --- Request readers ------------------------------------------------------------------------

const std::string& param(const Call& call, const std::string& name) { return call.params.at(name); }

// The query parameter's value; a parameter given twice is refused.
std::optional<std::string> query_value(const Call& call, std::string_view name) {
  std::optional<std::string> out;
  for (const QueryParam& q : call.query) {
    if (q.name != name) continue;
    if (out) invalid("query parameter '" + q.name + "' is given more than once");
    out = q.value;
  }
  return out;
}

PageRequest page_request(const Call& call) {
  PageRequest page;
  if (auto max = query_value(call, "maxResults")) {
    int n = 0;
    auto [end, ec] = std::from_chars(max->data(), max->data() + max->size(), n);
    if (max->empty() || ec != std::errc() || end != max->data() + max->size() || n < 1 ||
        n > 1000) {
      invalid("maxResults must be an integer from 1 to 1000, not '" + *max + "'");
    }
    page.max_results = n;
  }
  if (auto token = query_value(call, "nextToken")) page.next_token = *token;
  return page;
}

bool flag(const Call& call, std::string_view name) {
  auto v = query_value(call, name);
  if (!v || *v == "false") return false;
  if (*v == "true" || v->empty()) return true;
  invalid(std::string(name) + " must be true or false, not '" + *v + "'");
}

// Refuses a body that nests arrays and objects deeper than options.max_body_depth, before any
// parse builds it.
void refuse_deep_body(const Call& call, const std::string& body) {
  if (auto at = asl::nesting_beyond(body, call.options.max_body_depth)) {
    invalid("the request body nests arrays and objects deeper than " +
            std::to_string(call.options.max_body_depth) + " levels (at byte " +
            std::to_string(*at) + ")");
  }
}

// The body as a JSON object; an empty body is {} unless `required`.
Json body_object(const Call& call, bool required) {
  const std::string& body = call.request.body;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    if (required) invalid("the request needs a JSON object body");
    return Json::object();
  }
  refuse_deep_body(call, body);
  Json value;
  try {
    value = Json::parse(body);
  } catch (const Json::parse_error& e) {
    // nlohmann: "[json.exception.parse_error.101] parse error at line 1, column 9: ..."
    std::string what = e.what();
    auto close = what.find("] ");
    if (close != std::string::npos) what.erase(0, close + 2);
    reject("SerializationException", "the request body is not valid JSON: " + what + " (byte " +
                                         std::to_string(e.byte) + ")");
  }
  if (!value.is_object()) invalid("the request body must be a JSON object");
  return value;
}

// Refuses a field the operation does not know (a misspelt optional field would otherwise be
// ignored without a word).
void only_fields(const Json& body, std::initializer_list<std::string_view> known) {
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      invalid("the request body has an unknown field '" + it.key() +
              "' (this operation takes: " + list + ")");
    }
  }
}

std::optional<std::string> string_field(const Json& body, const std::string& name, bool required) {
  auto it = body.find(name);
  if (it == body.end()) {
    if (required) invalid("field '" + name + "' is required");
    return std::nullopt;
  }
  if (!it->is_string()) invalid("field '" + name + "' must be a string");
  return it->get<std::string>();
}

// A definition given as a JSON object, or as a string of JSON text (kept as given).
std::optional<std::string> definition_field(const Json& body, bool required) {
  auto it = body.find("definition");
  if (it == body.end()) {
    if (required) invalid("field 'definition' is required");
    return std::nullopt;
  }
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) return rest::dump(*it);
  invalid("field 'definition' must be an object (the ASL document) or a string (its JSON text)");
}

// AWS: tags are 1-128 character keys with values of at most 256 characters, at most 50 of
// them (the messages are those Operations::tag_resource answers).
std::vector<Tag> tags_field(const Json& body, bool required) {
  std::vector<Tag> out;
  auto it = body.find("tags");
  if (it == body.end()) {
    if (required) invalid("field 'tags' is required");
    return out;
  }
  const std::string shape = "field 'tags' must be an array of {\"key\": string, \"value\": string}";
  if (!it->is_array()) invalid(shape);
  for (const Json& t : *it) {
    if (!t.is_object()) invalid(shape);
    only_fields(t, {"key", "value"});
    auto key = t.find("key");
    auto value = t.find("value");
    if (key == t.end() || !key->is_string() || (value != t.end() && !value->is_string())) {
      invalid(shape);
    }
    Tag tag{key->get<std::string>(), value == t.end() ? "" : value->get<std::string>()};
    if (tag.key.empty() || tag.key.size() > 128) {
      invalid("Tag keys must be 1 to 128 characters long");
    }
    if (tag.value.size() > 256) invalid("Tag values must be at most 256 characters long");
    auto same =
        std::find_if(out.begin(), out.end(), [&](const Tag& x) { return x.key == tag.key; });
    if (same != out.end()) {
      same->value = tag.value;
    } else {
      out.push_back(std::move(tag));
    }
  }
  if (out.size() > 50) reject("TooManyTags", "Too many tags: a resource has at most 50 tags");
  return out;
}

// A state machine named in the path or a query: its ARN as given, or its name made an ARN.
std::string machine_arn(const Call& call, const std::string& name_or_arn) {
  if (name_or_arn.rfind("arn:", 0) == 0) return name_or_arn;
  const engine::EngineOptions& o = call.ops.engine().options();
  return "arn:aws:states:" + o.region + ":" + o.account + ":stateMachine:" + name_or_arn;
}

// The ARN of execution `name` of the machine named in the path. A machine ARN that is not one
// passes through unchanged, so that the operation answers InvalidArn for it.
std::string execution_arn(const Call& call, const std::string& machine, const std::string& name) {
  std::string arn = machine_arn(call, machine);
  const std::string kind = ":stateMachine:";
  auto at = arn.find(kind);
  if (at == std::string::npos) return arn;
  return arn.substr(0, at) + ":execution:" + arn.substr(at + kind.size()) + ":" + name;
}

constexpr std::string_view kStatuses[] = {"RUNNING",   "SUCCEEDED", "FAILED",
                                          "TIMED_OUT", "ABORTED",   "PENDING_REDRIVE"};

std::string status_filter(const Call& call) {
  auto status = query_value(call, "status");
  if (!status) return "";
  if (std::find(std::begin(kStatuses), std::end(kStatuses), *status) == std::end(kStatuses)) {
    invalid(
        "status must be one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, "
        "PENDING_REDRIVE, not '" +
        *status + "'");
  }
  return *status;
}

// The start body: {name?, input?, traceHeader?}; input is any JSON value ({} when absent).
engine::StartRequest start_request(const Call& call) {
  Json body = body_object(call, false);
  only_fields(body, {"name", "input", "traceHeader"});
  engine::StartRequest r;
  r.machine_arn = machine_arn(call, param(call, "stateMachine"));
  r.name = string_field(body, "name", false).value_or("");
  auto input = body.find("input");
  r.input = input == body.end() ? "{}" : rest::dump(*input);
  // AWS: an input over 256 KiB is refused. The engine answers the same, but only after a store
  // read; here it costs none.
  if (r.input.size() > kMaxPayloadBytes) {
    reject("InvalidExecutionInput",
           "The execution input is larger than the maximum of 262144 bytes");
  }
  r.trace_header = string_field(body, "traceHeader", false).value_or("");
  return r;
}

// --- Routes ---------------------------------------------------------------------------------

void get_openapi(Call& call) {
  HttpResponse r;
  r.status = 200;
  r.body = std::string(rest::openapi_document());
  reply(call, std::move(r));
}

void list_machines(Call& call) {
  auto r = call.ops.list_state_machines(call.caller, page_request(call));
  if (auto* page = value_or_reply(call, r)) {
    reply(call, 200, page_json(*page, [](const StateMachineRecord& m) {
            return rest::machine_json(m, false);
          }));
  }
}

void create_machine(Call& call) {
  Json body = body_object(call, true);
  only_fields(body, {"name", "definition", "type", "roleArn", "tags"});
  engine::CreateMachineRequest request;
  request.name = *string_field(body, "name", true);
  request.definition = *definition_field(body, true);
  request.type = string_field(body, "type", false).value_or("STANDARD");
  request.role_arn = string_field(body, "roleArn", false).value_or("");
  request.tags_json = rest::dump(rest::tags_json(tags_field(body, false)));
  auto r = call.ops.create_state_machine(call.caller, request);
  if (auto* m = value_or_reply(call, r)) {
    HttpResponse response = json_response(201, rest::machine_json(*m, true));
    response.headers.push_back(
        Header{"Location", "/v1/state-machines/" + rest::percent_encode(m->name)});
    reply(call, std::move(response));
  }
}

void validate_definition(Call& call) {
  Json body = body_object(call, true);
  only_fields(body, {"definition", "type"});
  const std::string definition = *definition_field(body, true);
  const std::string type = string_field(body, "type", false).value_or("STANDARD");
  auto r = call.ops.validate_definition(call.caller, definition, type);
  if (auto* v = value_or_reply(call, r)) {
    Json out = Json::object();
    out["valid"] = v->ok;
    Json problems = Json::array();
    for (const asl::Diagnostic& d : v->diagnostics) problems.push_back(rest::problem_json(d));
    out["problems"] = std::move(problems);
    reply(call, 200, out);
  }
}

void describe_machine(Call& call) {
  auto r =
      call.ops.describe_state_machine(call.caller, machine_arn(call, param(call, "stateMachine")));
  if (auto* m = value_or_reply(call, r)) reply(call, 200, rest::machine_json(*m, true));
}

void update_machine(Call& call) {
  Json body = body_object(call, true);
  only_fields(body, {"definition", "roleArn"});
  auto definition = definition_field(body, false);
  auto role = string_field(body, "roleArn", false);
  auto r = call.ops.update_state_machine(
      call.caller, machine_arn(call, param(call, "stateMachine")), definition, role);
  if (auto* m = value_or_reply(call, r)) reply(call, 200, rest::machine_json(*m, true));
}

void delete_machine(Call& call) {
  auto r =
      call.ops.delete_state_machine(call.caller, machine_arn(call, param(call, "stateMachine")));
  if (value_or_reply(call, r) != nullptr) reply(call, no_content_response());
}

void list_executions_with(Call& call, engine::ExecutionFilter filter) {
  filter.status = status_filter(call);
  const PageRequest page = page_request(call);
  auto r = call.ops.list_executions(call.caller, filter, page);
  if (auto* p = value_or_reply(call, r)) {
    reply(call, 200,
          page_json(*p, [](const ExecutionRecord& x) { return rest::execution_json(x, false); }));
  }
}

void list_executions(Call& call) {
  engine::ExecutionFilter filter;
  if (auto machine = query_value(call, "stateMachine"))
    filter.machine_arn = machine_arn(call, *machine);
  list_executions_with(call, std::move(filter));
}

void list_machine_executions(Call& call) {
  engine::ExecutionFilter filter;
  filter.machine_arn = machine_arn(call, param(call, "stateMachine"));
  list_executions_with(call, std::move(filter));
}

void start_execution(Call& call) {
  engine::StartRequest request = start_request(call);
  call.ops.start_execution_async(call.caller, std::move(request), execution_reply(call, 201, true));
}

void start_sync_execution(Call& call) {
  engine::StartRequest request = start_request(call);
  auto r =
      call.ops.start_sync_execution(call.caller, std::move(request), call.options.sync_timeout);
  if (auto* x = value_or_reply(call, r)) {
    HttpResponse response = json_response(201, rest::execution_json(*x, true));
    response.headers.push_back(Header{"Location", execution_location(x->arn)});
    reply(call, std::move(response));
  }
}

void describe_execution_arn(Call& call, const std::string& arn) {
  auto r = call.ops.describe_execution(call.caller, arn);
  if (auto* x = value_or_reply(call, r)) reply(call, 200, rest::execution_json(*x, true));
}

void describe_execution(Call& call) { describe_execution_arn(call, param(call, "execution")); }

void describe_machine_execution(Call& call) {
  describe_execution_arn(call,
                         execution_arn(call, param(call, "stateMachine"), param(call, "name")));
}

void execution_machine(Call& call) {
  auto r = call.ops.describe_state_machine_for_execution(call.caller, param(call, "execution"));
  if (auto* m = value_or_reply(call, r)) reply(call, 200, rest::machine_json(*m, true));
}

void execution_history(Call& call) {
  const PageRequest page = page_request(call);
  const bool reverse = flag(call, "reverse");
  auto r = call.ops.get_history(call.caller, param(call, "execution"), page, reverse);
  if (auto* p = value_or_reply(call, r)) reply(call, 200, page_json(*p, rest::event_json));
}

void stop_execution(Call& call) {
  Json body = body_object(call, false);
  only_fields(body, {"error", "cause"});
  const std::string error = string_field(body, "error", false).value_or("");
  const std::string cause = string_field(body, "cause", false).value_or("");
  // AWS: StopExecution's error is at most 256 characters, its cause at most 32768.
  if (error.size() > 256) {
    invalid(
        "1 validation error detected: Value at 'error' failed to satisfy constraint: Member "
        "must have length less than or equal to 256");
  }
  if (cause.size() > 32768) {
    invalid(
        "1 validation error detected: Value at 'cause' failed to satisfy constraint: Member "
        "must have length less than or equal to 32768");
  }
  call.ops.stop_execution_async(call.caller, param(call, "execution"), error, cause,
                                execution_reply(call, 200, false));
}

void redrive_execution(Call& call) {
  Json body = body_object(call, false);
  only_fields(body, {});
  call.ops.redrive_execution_async(call.caller, param(call, "execution"),
                                   execution_reply(call, 200, false));
}

// Tags of a state machine or an activity (`arn`). Each answers the resource's tags afterwards.

void reply_tags(Call& call, const std::string& arn) {
  auto r = call.ops.list_tags_for_resource(call.caller, arn);
  if (auto* tags = value_or_reply(call, r)) {
    Json out = Json::object();
    out["tags"] = rest::tags_json(*tags);
    reply(call, 200, out);
  }
}

// The body {tags: [...]} adds or replaces tags.
void add_tags_to(Call& call, const std::string& arn) {
  Json body = body_object(call, true);
  only_fields(body, {"tags"});
  std::vector<Tag> tags = tags_field(body, true);
  auto r = call.ops.tag_resource(call.caller, arn, tags);
  if (value_or_reply(call, r) != nullptr) reply_tags(call, arn);
}

// ?key=K (one or more) removes those tags.
void remove_tags_from(Call& call, const std::string& arn) {
  std::vector<std::string> keys;
  for (const QueryParam& q : call.query) {
    if (q.name == "key") keys.push_back(q.value);
  }
  if (keys.empty()) invalid("query parameter 'key' is required: one per tag key to remove");
  auto r = call.ops.untag_resource(call.caller, arn, keys);
  if (value_or_reply(call, r) != nullptr) reply_tags(call, arn);
}

void list_tags(Call& call) { reply_tags(call, machine_arn(call, param(call, "stateMachine"))); }

void add_tags(Call& call) { add_tags_to(call, machine_arn(call, param(call, "stateMachine"))); }

void remove_tags(Call& call) {
  remove_tags_from(call, machine_arn(call, param(call, "stateMachine")));
}

// --- Activities and tasks ----------------------------------------------------------------------

// An activity named in the path: its ARN as given, or its name made an ARN.
std::string activity_arn(const Call& call, const std::string& name_or_arn) {
  if (name_or_arn.rfind("arn:", 0) == 0) return name_or_arn;
  return call.ops.activity_arn(name_or_arn);
}

void list_activities(Call& call) {
  auto r = call.ops.list_activities(call.caller, page_request(call));
  if (auto* page = value_or_reply(call, r)) {
    reply(call, 200,
          page_json(*page, [](const ActivityRecord& a) { return rest::activity_json(a, false); }));
  }
}

void create_activity(Call& call) {
  Json body = body_object(call, true);
  only_fields(body, {"name", "tags"});
  const std::string name = *string_field(body, "name", true);
  std::vector<Tag> tags = tags_field(body, false);
  auto r = call.ops.create_activity(call.caller, name, tags);
  if (auto* a = value_or_reply(call, r)) {
    HttpResponse response = json_response(201, rest::activity_json(*a, true));
    response.headers.push_back(
        Header{"Location", "/v1/activities/" + rest::percent_encode(a->name)});
    reply(call, std::move(response));
  }
}

void describe_activity(Call& call) {
  auto r = call.ops.describe_activity(call.caller, activity_arn(call, param(call, "activity")));
  if (auto* a = value_or_reply(call, r)) reply(call, 200, rest::activity_json(*a, true));
}

void delete_activity(Call& call) {
  auto r = call.ops.delete_activity(call.caller, activity_arn(call, param(call, "activity")));
  if (value_or_reply(call, r) != nullptr) reply(call, no_content_response());
}

void list_activity_tags(Call& call) {
  reply_tags(call, activity_arn(call, param(call, "activity")));
}

void add_activity_tags(Call& call) {
  add_tags_to(call, activity_arn(call, param(call, "activity")));
}

void remove_activity_tags(Call& call) {
  remove_tags_from(call, activity_arn(call, param(call, "activity")));
}

// GET /v1/activities/{activity}/tasks?wait=SECONDS&worker=NAME: a long poll. 200 with the task,
// or 204 when none came within the wait. The handler thread does not wait for it.
void poll_activity_task(Call& call) {
  std::chrono::milliseconds wait = kMaxPollWait;
  if (auto w = query_value(call, "wait")) {
    int seconds = -1;
    auto [end, ec] = std::from_chars(w->data(), w->data() + w->size(), seconds);
    const long long max = std::chrono::duration_cast<std::chrono::seconds>(kMaxPollWait).count();
    if (w->empty() || ec != std::errc() || end != w->data() + w->size() || seconds < 0 ||
        seconds > max) {
      invalid("wait must be a whole number of seconds from 0 to " + std::to_string(max) +
              ", not '" + *w + "'");
    }
    wait = std::chrono::seconds(seconds);
  }
  const std::string worker = query_value(call, "worker").value_or("");
  const std::string arn = activity_arn(call, param(call, "activity"));
  call.answered = true;
  call.ops.get_activity_task_async(
      call.caller, arn, worker, wait,
      [respond = std::move(call.respond),
       request_id = call.caller.request_id](ApiResult<std::optional<engine::ActivityTask>> result) {
        if (auto* e = std::get_if<ApiError>(&result)) {
          respond(error_response(*e, request_id));
          return;
        }
        const auto& task = std::get<std::optional<engine::ActivityTask>>(result);
        if (!task) {
          respond(no_content_response());
          return;
        }
        respond(json_response(200, rest::activity_task_json(*task)));
      });
}

// Answers a task report (204) once the engine has made it durable.
Operations::TaskReply task_reply(Call& call) {
  call.answered = true;
  return [respond = std::move(call.respond),
          request_id = call.caller.request_id](ApiResult<bool> result) {
    if (auto* e = std::get_if<ApiError>(&result)) {
      respond(error_response(*e, request_id));
      return;
    }
    respond(no_content_response());
  };
}

// POST /v1/tasks/{token}/success: the body is the task's output, any JSON value (a body that is
// not JSON is the operation's InvalidOutput, as AWS's SendTaskSuccess answers).
void task_success(Call& call) {
  const std::string& body = call.request.body;
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    invalid("the request needs a body: the task's output, a JSON value");
  }
  refuse_deep_body(call, body);
  const std::string token = param(call, "token");
  call.ops.send_task_success_async(call.caller, token, body, task_reply(call));
}

void task_failure(Call& call) {
  Json body = body_object(call, false);
  only_fields(body, {"error", "cause"});
  const std::string error = string_field(body, "error", false).value_or("");
  const std::string cause = string_field(body, "cause", false).value_or("");
  const std::string token = param(call, "token");
  call.ops.send_task_failure_async(call.caller, token, error, cause, task_reply(call));
}

void task_heartbeat(Call& call) {
  Json body = body_object(call, false);
  only_fields(body, {});
  const std::string token = param(call, "token");
  call.ops.send_task_heartbeat_async(call.caller, token, task_reply(call));
}

// --- Task routes -------------------------------------------------------------------------------

void list_routes(Call& call) {
  auto r = call.ops.list_routes(call.caller);
  if (auto* routes = value_or_reply(call, r)) {
    Json items = Json::array();
    for (const RouteRecord& route : *routes) items.push_back(rest::route_json(route));
    Json out = Json::object();
    out["routes"] = std::move(items);
    reply(call, 200, out);
  }
}

void put_route(Call& call) {
  Json body = body_object(call, true);
  only_fields(body, {"url"});
  const std::string url = *string_field(body, "url", true);
  auto r = call.ops.put_route(call.caller, param(call, "kind"), param(call, "name"), url);
  if (auto* route = value_or_reply(call, r)) reply(call, 200, rest::route_json(*route));
}

void delete_route(Call& call) {
  auto r = call.ops.delete_route(call.caller, param(call, "kind"), param(call, "name"));
  if (value_or_reply(call, r) != nullptr) reply(call, no_content_response());
}

void list_audit(Call& call) {
  AuditFilter filter;
  filter.key_id = query_value(call, "key").value_or("");
  filter.operation = query_value(call, "operation").value_or("");
  filter.resource = query_value(call, "resource").value_or("");
  const PageRequest page = page_request(call);
  auto r = call.ops.list_audit(call.caller, filter, page);
  if (auto* p = value_or_reply(call, r)) reply(call, 200, page_json(*p, rest::audit_json));
}

}  // namespace

RestApi::RestApi(Operations& operations, RestOptions options)
    : operations_(operations), options_(options) {
  const std::vector<std::string> paging = {"maxResults", "nextToken"};
  auto with = [](std::vector<std::string> a, std::vector<std::string> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  routes_ = {
      {"GET", "/v1/openapi.json", {}, get_openapi},
      {"GET", "/v1/state-machines", paging, list_machines},
      {"POST", "/v1/state-machines", {}, create_machine},
      {"POST", "/v1/state-machines:validate", {}, validate_definition},
      {"GET", "/v1/state-machines/{stateMachine}", {}, describe_machine},
      {"PUT", "/v1/state-machines/{stateMachine}", {}, update_machine},
      {"DELETE", "/v1/state-machines/{stateMachine}", {}, delete_machine},
      {"GET", "/v1/state-machines/{stateMachine}/executions", with(paging, {"status"}),
       list_machine_executions},
      {"POST", "/v1/state-machines/{stateMachine}/executions", {}, start_execution},
      {"POST", "/v1/state-machines/{stateMachine}/executions:sync", {}, start_sync_execution},
      {"GET",
       "/v1/state-machines/{stateMachine}/executions/{name}",
       {},
       describe_machine_execution},
      {"GET", "/v1/state-machines/{stateMachine}/tags", {}, list_tags},
      {"POST", "/v1/state-machines/{stateMachine}/tags", {}, add_tags},
      {"DELETE", "/v1/state-machines/{stateMachine}/tags", {"key"}, remove_tags},
      {"GET", "/v1/executions", with(paging, {"stateMachine", "status"}), list_executions},
      {"GET", "/v1/executions/{execution}", {}, describe_execution},
      {"GET", "/v1/executions/{execution}/state-machine", {}, execution_machine},
      {"GET", "/v1/executions/{execution}/history", with(paging, {"reverse"}), execution_history},
      {"POST", "/v1/executions/{execution}:stop", {}, stop_execution},
      {"POST", "/v1/executions/{execution}:redrive", {}, redrive_execution},
      {"GET", "/v1/activities", paging, list_activities},
      {"POST", "/v1/activities", {}, create_activity},
      {"GET", "/v1/activities/{activity}", {}, describe_activity},
      {"DELETE", "/v1/activities/{activity}", {}, delete_activity},
      {"GET", "/v1/activities/{activity}/tasks", {"wait", "worker"}, poll_activity_task},
      {"GET", "/v1/activities/{activity}/tags", {}, list_activity_tags},
      {"POST", "/v1/activities/{activity}/tags", {}, add_activity_tags},
      {"DELETE", "/v1/activities/{activity}/tags", {"key"}, remove_activity_tags},
      {"POST", "/v1/tasks/{token}/success", {}, task_success},
      {"POST", "/v1/tasks/{token}/failure", {}, task_failure},
      {"POST", "/v1/tasks/{token}/heartbeat", {}, task_heartbeat},
      {"GET", "/v1/routes", {}, list_routes},
      {"PUT", "/v1/routes/{kind}/{name}", {}, put_route},
      {"DELETE", "/v1/routes/{kind}/{name}", {}, delete_route},
      {"GET", "/v1/audit", with(paging, {"key", "operation", "resource"}), list_audit},
  };
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    router_.add(routes_[i].method, routes_[i].path, i);
  }
}

RestApi::~RestApi() = default;

std::vector<RestApi::RouteInfo> RestApi::routes() const {
  std::vector<RouteInfo> out;
  for (const Route& r : routes_) out.push_back(RouteInfo{r.method, r.path, r.query});
  return out;
}

void RestApi::handle(HttpRequest request, Caller caller, Respond respond) {
  Call call{operations_, options_, std::move(request), std::move(caller), std::move(respond), false,
            {},          {}};
  try {
    rest::Router::Match m = router_.match(call.request.method, call.request.path);
    switch (m.kind) {
      case rest::Router::Match::Kind::NoPath:
        reject("UnknownOperationException",
               "no route for " + call.request.method + " " + call.request.path);
      case rest::Router::Match::Kind::NoMethod: {
        std::string allow;
        for (const std::string& method : m.allowed) allow += (allow.empty() ? "" : ", ") + method;
        HttpResponse r =
            error_response(ApiError{"MethodNotAllowed",
                                    "method " + call.request.method + " is not allowed on " +
                                        call.request.path + " (allowed: " + allow + ")",
                                    {}},
                           call.caller.request_id);
        r.headers.push_back(Header{"Allow", allow});
        reply(call, std::move(r));
        return;
      }
      case rest::Router::Match::Kind::BadEscape:
        invalid("the path " + call.request.path + " has a malformed percent-escape");
      case rest::Router::Match::Kind::Found:
        break;
    }
    const Route& route = routes_[m.id];
    call.params = std::move(m.params);
    auto query = rest::parse_query(call.request.query);
    if (!query) invalid("the query string has a malformed percent-escape");
    call.query = std::move(*query);
    for (const QueryParam& q : call.query) {
      if (std::find(route.query.begin(), route.query.end(), q.name) != route.query.end()) continue;
      std::string list;
      for (const std::string& name : route.query) list += (list.empty() ? "" : ", ") + name;
      invalid("unknown query parameter '" + q.name + "'" +
              (list.empty() ? " (this operation takes none)"
                            : " (this operation takes: " + list + ")"));
    }
    route.run(call);
  } catch (const Rejected& r) {
    if (!call.answered) reply(call, error_response(r.error, call.caller.request_id));
  } catch (const std::exception& e) {
    if (!call.answered) {
      reply(call, error_response(
                      ApiError{"InternalError", std::string("internal error: ") + e.what(), {}},
                      call.caller.request_id));
    }
  }
}

}  // namespace stepd::server
