#include "server/aws/aws_api.hpp"

#include "server/aws/aws_protocol.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <utility>

namespace stepd::server {

using aws::Json;
using aws::Shape;
using aws::ShapeKind;
using aws::ShapeMember;

namespace {

// --- The model's shapes (botocore stepfunctions/2016-11-23/service-2.json) --------------------

Shape string_shape(std::optional<long long> min, std::optional<long long> max,
                   bool sensitive = false) {
  Shape s;
  s.kind = ShapeKind::String;
  s.min = min;
  s.max = max;
  s.sensitive = sensitive;
  return s;
}

Shape enum_shape(std::vector<std::string> values) {
  Shape s;
  s.kind = ShapeKind::String;
  s.enum_values = std::move(values);
  return s;
}

Shape integer_shape(std::optional<long long> min, std::optional<long long> max) {
  Shape s;
  s.kind = ShapeKind::Integer;
  s.min = min;
  s.max = max;
  return s;
}

Shape structure(std::vector<ShapeMember> members) {
  Shape s;
  s.kind = ShapeKind::Structure;
  s.members = std::move(members);
  return s;
}

Shape list_of(const Shape* element) {
  Shape s;
  s.kind = ShapeKind::List;
  s.element = element;
  return s;
}

Shape with_pattern(Shape s, bool (*pattern)(std::string_view), std::string text) {
  s.pattern = pattern;
  s.pattern_text = std::move(text);
  return s;
}

Shape in_bytes(Shape s) {
  s.bytes = true;
  return s;
}

const Shape kBoolean = [] {
  Shape s;
  s.kind = ShapeKind::Boolean;
  return s;
}();
const Shape kArn = string_shape(1, 256);
const Shape kLongArn = string_shape(1, 2000);
const Shape kName = string_shape(1, 80);
const Shape kDefinition = string_shape(1, 1048576, true);
const Shape kSensitiveData = in_bytes(string_shape(std::nullopt, 262144, true));
const Shape kSensitiveError = string_shape(0, 256, true);
const Shape kSensitiveCause = string_shape(0, 32768, true);
const Shape kTraceHeader = with_pattern(string_shape(0, 256), aws::is_ascii, "\\p{ASCII}*");
const Shape kClientToken = with_pattern(string_shape(1, 64), aws::is_visible_ascii, "[!-~]+");
const Shape kVersionDescription = string_shape(std::nullopt, 256, true);
const Shape kStateMachineType = enum_shape({"STANDARD", "EXPRESS"});
const Shape kIncludedData = enum_shape({"ALL_DATA", "METADATA_ONLY"});
const Shape kExecutionStatus =
    enum_shape({"RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"});
const Shape kRedriveFilter = enum_shape({"REDRIVEN", "NOT_REDRIVEN"});
const Shape kSeverity = enum_shape({"ERROR", "WARNING"});
const Shape kPageSize = integer_shape(0, 1000);
const Shape kPageToken = string_shape(1, 1024);
const Shape kListExecutionsPageToken = string_shape(1, 3096);
const Shape kValidateMaxResults = integer_shape(0, 100);

const Shape kTagKey = string_shape(1, 128);
const Shape kTagValue = string_shape(0, 256);
// AWS: a tag without a key is refused; the model leaves the member optional, so say it here.
const Shape kTag = structure({{"key", &kTagKey, true}, {"value", &kTagValue, false}});
const Shape kTagList = list_of(&kTag);
const Shape kTagKeyList = list_of(&kTagKey);

const Shape kLogGroup = structure({{"logGroupArn", &kArn, false}});
const Shape kLogDestination = structure({{"cloudWatchLogsLogGroup", &kLogGroup, false}});
const Shape kLogDestinationList = list_of(&kLogDestination);
const Shape kLogLevel = enum_shape({"ALL", "ERROR", "FATAL", "OFF"});
const Shape kLoggingConfiguration = structure({{"level", &kLogLevel, false},
                                               {"includeExecutionData", &kBoolean, false},
                                               {"destinations", &kLogDestinationList, false}});
const Shape kTracingConfiguration = structure({{"enabled", &kBoolean, false}});
const Shape kKmsKeyId = string_shape(1, 2048);
const Shape kKmsReusePeriod = integer_shape(60, 900);
const Shape kEncryptionType = enum_shape({"AWS_OWNED_KEY", "CUSTOMER_MANAGED_KMS_KEY"});
const Shape kEncryptionConfiguration =
    structure({{"kmsKeyId", &kKmsKeyId, false},
               {"kmsDataKeyReusePeriodSeconds", &kKmsReusePeriod, false},
               {"type", &kEncryptionType, true}});

const Shape kCreateStateMachineInput =
    structure({{"name", &kName, true},
               {"definition", &kDefinition, true},
               {"roleArn", &kArn, true},
               {"type", &kStateMachineType, false},
               {"loggingConfiguration", &kLoggingConfiguration, false},
               {"tags", &kTagList, false},
               {"tracingConfiguration", &kTracingConfiguration, false},
               {"publish", &kBoolean, false},
               {"versionDescription", &kVersionDescription, false},
               {"encryptionConfiguration", &kEncryptionConfiguration, false}});
const Shape kUpdateStateMachineInput =
    structure({{"stateMachineArn", &kArn, true},
               {"definition", &kDefinition, false},
               {"roleArn", &kArn, false},
               {"loggingConfiguration", &kLoggingConfiguration, false},
               {"tracingConfiguration", &kTracingConfiguration, false},
               {"publish", &kBoolean, false},
               {"versionDescription", &kVersionDescription, false},
               {"encryptionConfiguration", &kEncryptionConfiguration, false}});
const Shape kDescribeStateMachineInput =
    structure({{"stateMachineArn", &kArn, true}, {"includedData", &kIncludedData, false}});
const Shape kListStateMachinesInput =
    structure({{"maxResults", &kPageSize, false}, {"nextToken", &kPageToken, false}});
const Shape kDeleteStateMachineInput = structure({{"stateMachineArn", &kArn, true}});
const Shape kValidateInput = structure({{"definition", &kDefinition, true},
                                        {"type", &kStateMachineType, false},
                                        {"severity", &kSeverity, false},
                                        {"maxResults", &kValidateMaxResults, false}});
const Shape kStartExecutionInput = structure({{"stateMachineArn", &kArn, true},
                                              {"name", &kName, false},
                                              {"input", &kSensitiveData, false},
                                              {"traceHeader", &kTraceHeader, false}});
const Shape kStartSyncExecutionInput = structure({{"stateMachineArn", &kArn, true},
                                                  {"name", &kName, false},
                                                  {"input", &kSensitiveData, false},
                                                  {"traceHeader", &kTraceHeader, false},
                                                  {"includedData", &kIncludedData, false}});
const Shape kExecutionArnInput =
    structure({{"executionArn", &kArn, true}, {"includedData", &kIncludedData, false}});
const Shape kListExecutionsInput = structure({{"stateMachineArn", &kArn, false},
                                              {"statusFilter", &kExecutionStatus, false},
                                              {"maxResults", &kPageSize, false},
                                              {"nextToken", &kListExecutionsPageToken, false},
                                              {"mapRunArn", &kLongArn, false},
                                              {"redriveFilter", &kRedriveFilter, false}});
const Shape kGetExecutionHistoryInput = structure({{"executionArn", &kArn, true},
                                                   {"maxResults", &kPageSize, false},
                                                   {"reverseOrder", &kBoolean, false},
                                                   {"nextToken", &kPageToken, false},
                                                   {"includeExecutionData", &kBoolean, false}});
const Shape kStopExecutionInput = structure({{"executionArn", &kArn, true},
                                             {"error", &kSensitiveError, false},
                                             {"cause", &kSensitiveCause, false}});
const Shape kRedriveExecutionInput =
    structure({{"executionArn", &kArn, true}, {"clientToken", &kClientToken, false}});
const Shape kTagResourceInput =
    structure({{"resourceArn", &kArn, true}, {"tags", &kTagList, true}});
const Shape kUntagResourceInput =
    structure({{"resourceArn", &kArn, true}, {"tagKeys", &kTagKeyList, true}});
const Shape kListTagsForResourceInput = structure({{"resourceArn", &kArn, true}});

const Shape kTaskToken = string_shape(1, 1024);
const Shape kCreateActivityInput = structure({{"name", &kName, true}, {"tags", &kTagList, false}});
const Shape kActivityArnInput = structure({{"activityArn", &kArn, true}});
const Shape kListActivitiesInput =
    structure({{"maxResults", &kPageSize, false}, {"nextToken", &kPageToken, false}});
const Shape kGetActivityTaskInput =
    structure({{"activityArn", &kArn, true}, {"workerName", &kName, false}});
const Shape kSendTaskSuccessInput =
    structure({{"taskToken", &kTaskToken, true}, {"output", &kSensitiveData, true}});
const Shape kSendTaskFailureInput = structure({{"taskToken", &kTaskToken, true},
                                               {"error", &kSensitiveError, false},
                                               {"cause", &kSensitiveCause, false}});
const Shape kSendTaskHeartbeatInput = structure({{"taskToken", &kTaskToken, true}});

// --- One call ---------------------------------------------------------------------------------

// What an operation works with: its validated request and the way to answer.
struct Call {
  Operations& ops;
  const AwsApiOptions& options;
  const Json& in;
  const Caller& caller;
  Respond respond;

  void ok(const Json& body) const { respond(aws::json_response(body, caller.request_id)); }
  void fail(const ApiError& e, const Json& extra = Json::object()) const {
    respond(aws::error_response(e, caller.request_id, extra));
  }
  // An answer for later: the engine's completion callback for a result of T. It answers the
  // error, or to_json(value) as the body; it holds no reference to this call.
  template <typename T, typename ToJson>
  auto answer_later(ToJson to_json) const {
    return [respond = respond, id = caller.request_id, to_json](ApiResult<T> result) {
      if (const ApiError* e = std::get_if<ApiError>(&result)) {
        return respond(aws::error_response(*e, id));
      }
      respond(aws::json_response(to_json(std::get<T>(result)), id));
    };
  }

  std::optional<std::string> string(const char* name) const {
    auto it = in.find(name);
    if (it == in.end() || !it->is_string()) return std::nullopt;
    return it->get<std::string>();
  }
  std::string string_or(const char* name, std::string fallback) const {
    auto s = string(name);
    return s ? *s : std::move(fallback);
  }
  bool boolean_or(const char* name, bool fallback) const {
    auto it = in.find(name);
    if (it == in.end() || !it->is_boolean()) return fallback;
    return it->get<bool>();
  }
  long long integer_or(const char* name, long long fallback) const {
    auto it = in.find(name);
    if (it == in.end() || !it->is_number()) return fallback;
    return it->get<long long>();
  }
  // maxResults/nextToken. AWS: a maxResults of 0 (or none) means the default page size, 100.
  PageRequest page() const {
    PageRequest p;
    const long long max = integer_or("maxResults", 0);
    p.max_results = max == 0 ? 100 : static_cast<int>(max);
    p.next_token = string_or("nextToken", "");
    return p;
  }
  // includedData: METADATA_ONLY leaves definitions, inputs and outputs out.
  bool include_data() const { return string_or("includedData", "ALL_DATA") != "METADATA_ONLY"; }
};

template <typename T>
const ApiError* error_of(const ApiResult<T>& r) {
  return std::get_if<ApiError>(&r);
}

ApiError api_error(std::string type, std::string message) {
  return ApiError{std::move(type), std::move(message), {}};
}

// {"key", "value"} pairs of a tags member, the last value winning for a repeated key.
std::vector<Tag> tags_from(const Json& list) {
  std::vector<Tag> tags;
  if (!list.is_array()) return tags;
  for (const Json& t : list) {
    Tag tag{t.value("key", std::string()), t.value("value", std::string())};
    auto it =
        std::find_if(tags.begin(), tags.end(), [&](const Tag& x) { return x.key == tag.key; });
    if (it != tags.end()) {
      it->value = tag.value;
    } else {
      tags.push_back(std::move(tag));
    }
  }
  return tags;
}

// Tags as the API writes them: [{"key", "value"}, ...].
Json tags_json(const std::vector<Tag>& tags) {
  Json out = Json::array();
  for (const Tag& t : tags) out.push_back(Json{{"key", t.key}, {"value", t.value}});
  return out;
}

// A stored JSON configuration (loggingConfiguration, tracingConfiguration), or AWS's default
// when none was kept.
Json configuration(const std::string& stored, Json fallback) {
  Json parsed = Json::parse(stored, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_object() && !parsed.empty()) return parsed;
  return fallback;
}

Json logging_configuration(const StateMachineRecord& m) {
  return configuration(m.logging_json, Json{{"level", "OFF"}, {"includeExecutionData", false}});
}

Json tracing_configuration(const StateMachineRecord& m) {
  return configuration(m.tracing_json, Json{{"enabled", false}});
}

// AWS: whether RedriveExecution would accept the execution, and why not.
void redrive_status(const ExecutionRecord& x, Json& out) {
  if (x.type == "EXPRESS") {
    out["redriveStatus"] = "NOT_REDRIVABLE";
    out["redriveStatusReason"] = "Execution is EXPRESS and cannot be redriven.";
  } else if (x.status == "FAILED" || x.status == "TIMED_OUT" || x.status == "ABORTED") {
    out["redriveStatus"] = "REDRIVABLE";
  } else {
    out["redriveStatus"] = "NOT_REDRIVABLE";
    out["redriveStatusReason"] = "Execution is " + x.status + " and cannot be redriven.";
  }
}

// {executionArn, stateMachineArn, name, status, startDate, stopDate?}: how DescribeExecution and
// a ListExecutions item begin.
Json execution_basics(const ExecutionRecord& x) {
  Json out = Json::object();
  out["executionArn"] = x.arn;
  out["stateMachineArn"] = x.machine_arn;
  out["name"] = x.name;
  out["status"] = x.status;
  out["startDate"] = aws::timestamp(x.start);
  if (x.stop) out["stopDate"] = aws::timestamp(*x.stop);
  return out;
}

// Adds input, inputDetails and (once there is one) output, outputDetails.
void add_execution_data(const ExecutionRecord& x, Json& out) {
  out["input"] = x.input;
  out["inputDetails"] = {{"included", true}};
  if (x.output) {
    out["output"] = *x.output;
    out["outputDetails"] = {{"included", true}};
  }
}

Json describe_execution_json(const ExecutionRecord& x, bool include_data) {
  Json out = execution_basics(x);
  if (include_data) add_execution_data(x, out);
  if (!x.trace_header.empty()) out["traceHeader"] = x.trace_header;
  if (x.error && !x.error->empty()) out["error"] = *x.error;
  if (x.cause && !x.cause->empty()) out["cause"] = *x.cause;
  out["redriveCount"] = x.redrive_count;
  if (x.redrive_date) out["redriveDate"] = aws::timestamp(*x.redrive_date);
  redrive_status(x, out);
  return out;
}

Json execution_list_item(const ExecutionRecord& x) {
  Json out = execution_basics(x);
  out["redriveCount"] = x.redrive_count;
  if (x.redrive_date) out["redriveDate"] = aws::timestamp(*x.redrive_date);
  return out;
}

// A list operation's answer: {<member>: items, nextToken?}.
Json page_answer(const char* member, Json items, const std::string& next_token) {
  Json out = Json::object();
  out[member] = std::move(items);
  if (!next_token.empty()) out["nextToken"] = next_token;
  return out;
}

engine::Micros wall_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// --- The operations ---------------------------------------------------------------------------

void create_state_machine(const Call& c) {
  engine::CreateMachineRequest r;
  r.name = *c.string("name");
  r.definition = *c.string("definition");
  r.role_arn = *c.string("roleArn");
  r.type = c.string_or("type", "STANDARD");
  const std::vector<Tag> tags = tags_from(c.in.value("tags", Json::array()));
  // AWS: a state machine has at most 50 tags.
  if (tags.size() > 50) {
    return c.fail(api_error("TooManyTags", "Too many tags: a resource has at most 50 tags"));
  }
  r.tags_json = aws::dump(tags_json(tags));
  auto result = c.ops.create_state_machine(c.caller, r);
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const StateMachineRecord& m = std::get<StateMachineRecord>(result);
  Json out = Json::object();
  out["stateMachineArn"] = m.arn;
  out["creationDate"] = aws::timestamp(m.created);
  c.ok(out);
}

void update_state_machine(const Call& c) {
  auto result = c.ops.update_state_machine(c.caller, *c.string("stateMachineArn"),
                                           c.string("definition"), c.string("roleArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const StateMachineRecord& m = std::get<StateMachineRecord>(result);
  Json out = Json::object();
  out["updateDate"] = aws::timestamp(m.updated);
  out["revisionId"] = m.revision_id;
  c.ok(out);
}

void describe_state_machine(const Call& c) {
  auto result = c.ops.describe_state_machine(c.caller, *c.string("stateMachineArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const StateMachineRecord& m = std::get<StateMachineRecord>(result);
  Json out = Json::object();
  out["stateMachineArn"] = m.arn;
  out["name"] = m.name;
  out["status"] = m.status;
  if (c.include_data()) out["definition"] = m.definition;
  out["roleArn"] = m.role_arn;
  out["type"] = m.type;
  out["creationDate"] = aws::timestamp(m.created);
  out["loggingConfiguration"] = logging_configuration(m);
  out["tracingConfiguration"] = tracing_configuration(m);
  out["revisionId"] = m.revision_id;
  if (!m.description.empty()) out["description"] = m.description;
  c.ok(out);
}

void list_state_machines(const Call& c) {
  auto result = c.ops.list_state_machines(c.caller, c.page());
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const auto& page = std::get<Page<StateMachineRecord>>(result);
  Json items = Json::array();
  for (const StateMachineRecord& m : page.items) {
    Json item = Json::object();
    item["stateMachineArn"] = m.arn;
    item["name"] = m.name;
    item["type"] = m.type;
    item["creationDate"] = aws::timestamp(m.created);
    items.push_back(std::move(item));
  }
  c.ok(page_answer("stateMachines", std::move(items), page.next_token));
}

void delete_state_machine(const Call& c) {
  auto result = c.ops.delete_state_machine(c.caller, *c.string("stateMachineArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  c.ok(Json::object());
}

void validate_state_machine_definition(const Call& c) {
  auto result =
      c.ops.validate_definition(c.caller, *c.string("definition"), c.string_or("type", "STANDARD"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const Validation& v = std::get<Validation>(result);
  // AWS: severity ERROR (the default) answers errors only, WARNING answers both; maxResults 0
  // means the default, 100.
  const bool warnings = c.string_or("severity", "ERROR") == "WARNING";
  long long max = c.integer_or("maxResults", 0);
  if (max == 0) max = 100;
  Json diagnostics = Json::array();
  bool truncated = false;
  for (const asl::Diagnostic& d : v.diagnostics) {
    const bool error = d.severity == asl::Severity::Error;
    if (!error && !warnings) continue;
    if (static_cast<long long>(diagnostics.size()) == max) {
      truncated = true;
      break;
    }
    Json item = Json::object();
    item["severity"] = error ? "ERROR" : "WARNING";
    item["code"] = d.code;
    item["message"] = d.message;
    if (!d.pointer.empty()) item["location"] = d.pointer;
    diagnostics.push_back(std::move(item));
  }
  Json out = Json::object();
  out["result"] = v.ok ? "OK" : "FAIL";
  out["diagnostics"] = std::move(diagnostics);
  out["truncated"] = truncated;
  c.ok(out);
}

engine::StartRequest start_request(const Call& c) {
  engine::StartRequest r;
  r.machine_arn = *c.string("stateMachineArn");
  r.name = c.string_or("name", "");
  // AWS: an execution started without input gets {}.
  r.input = c.string_or("input", "{}");
  r.trace_header = c.string_or("traceHeader", "");
  return r;
}

void start_execution(const Call& c) {
  c.ops.start_execution_async(
      c.caller, start_request(c), c.answer_later<ExecutionRecord>([](const ExecutionRecord& x) {
        return Json{{"executionArn", x.arn}, {"startDate", aws::timestamp(x.start)}};
      }));
}

void start_sync_execution(const Call& c) {
  engine::StartRequest request = start_request(c);
  // AWS: only EXPRESS state machines run synchronously. (Roles and the ARN's form are
  // Operations' to check below; this only reads the machine's type.)
  auto machine = c.ops.engine().describe_state_machine(request.machine_arn);
  if (const auto* m = std::get_if<StateMachineRecord>(&machine); m && m->type != "EXPRESS") {
    return c.fail(api_error("StateMachineTypeNotSupported",
                            "This operation is not supported by this type of state machine"));
  }
  auto result = c.ops.start_sync_execution(c.caller, request, c.options.sync_timeout);
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  ExecutionRecord x = std::get<ExecutionRecord>(result);
  if (x.status == "RUNNING") {
    // AWS: an Express execution ends TIMED_OUT when it outlives its limit.
    const long long seconds =
        std::chrono::duration_cast<std::chrono::seconds>(c.options.sync_timeout).count();
    x.status = "TIMED_OUT";
    x.error = "States.Timeout";
    x.cause = "The execution ran longer than StartSyncExecution waits (" + std::to_string(seconds) +
              " seconds)";
    x.stop = wall_now();
    c.ops.stop_execution_async(c.caller, x.arn, *x.error, *x.cause,
                               [](ApiResult<ExecutionRecord>) {});
  }
  Json out = Json::object();
  out["executionArn"] = x.arn;
  out["stateMachineArn"] = x.machine_arn;
  out["name"] = x.name;
  out["startDate"] = aws::timestamp(x.start);
  out["stopDate"] = aws::timestamp(x.stop.value_or(x.start));
  out["status"] = x.status;
  if (x.error && !x.error->empty()) out["error"] = *x.error;
  if (x.cause && !x.cause->empty()) out["cause"] = *x.cause;
  if (c.include_data()) add_execution_data(x, out);
  if (!x.trace_header.empty()) out["traceHeader"] = x.trace_header;
  c.ok(out);
}

void describe_execution(const Call& c) {
  auto result = c.ops.describe_execution(c.caller, *c.string("executionArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  c.ok(describe_execution_json(std::get<ExecutionRecord>(result), c.include_data()));
}

void list_executions(const Call& c) {
  // Stepd runs no Distributed Map runs, so no map run ARN names one.
  if (auto map_run = c.string("mapRunArn")) {
    return c.fail(api_error("ResourceNotFound", "Resource not found: '" + *map_run + "'"),
                  Json{{"resourceName", *map_run}});
  }
  engine::ExecutionFilter filter;
  filter.machine_arn = c.string_or("stateMachineArn", "");
  filter.status = c.string_or("statusFilter", "");
  auto result = c.ops.list_executions(c.caller, filter, c.page());
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const auto& page = std::get<Page<ExecutionRecord>>(result);
  // redriveFilter narrows the page the store gave: a page may then hold fewer items than
  // maxResults while nextToken still leads on.
  const std::string redrive = c.string_or("redriveFilter", "");
  Json items = Json::array();
  for (const ExecutionRecord& x : page.items) {
    if (redrive == "REDRIVEN" && x.redrive_count == 0) continue;
    if (redrive == "NOT_REDRIVEN" && x.redrive_count > 0) continue;
    items.push_back(execution_list_item(x));
  }
  c.ok(page_answer("executions", std::move(items), page.next_token));
}

void get_execution_history(const Call& c) {
  auto result = c.ops.get_history(c.caller, *c.string("executionArn"), c.page(),
                                  c.boolean_or("reverseOrder", false));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const auto& page = std::get<Page<HistoryEvent>>(result);
  const bool include_data = c.boolean_or("includeExecutionData", true);
  Json events = Json::array();
  for (const HistoryEvent& ev : page.items) events.push_back(aws::history_event(ev, include_data));
  c.ok(page_answer("events", std::move(events), page.next_token));
}

void stop_execution(const Call& c) {
  c.ops.stop_execution_async(
      c.caller, *c.string("executionArn"), c.string_or("error", ""), c.string_or("cause", ""),
      c.answer_later<ExecutionRecord>([](const ExecutionRecord& x) {
        return Json{{"stopDate", aws::timestamp(x.stop.value_or(wall_now()))}};
      }));
}

void redrive_execution(const Call& c) {
  c.ops.redrive_execution_async(
      c.caller, *c.string("executionArn"),
      c.answer_later<ExecutionRecord>([](const ExecutionRecord& x) {
        return Json{{"redriveDate", aws::timestamp(x.redrive_date.value_or(wall_now()))}};
      }));
}

void describe_state_machine_for_execution(const Call& c) {
  auto result = c.ops.describe_state_machine_for_execution(c.caller, *c.string("executionArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const StateMachineRecord& m = std::get<StateMachineRecord>(result);
  Json out = Json::object();
  out["stateMachineArn"] = m.arn;
  out["name"] = m.name;
  if (c.include_data()) out["definition"] = m.definition;
  out["roleArn"] = m.role_arn;
  out["updateDate"] = aws::timestamp(m.updated);
  out["loggingConfiguration"] = logging_configuration(m);
  out["tracingConfiguration"] = tracing_configuration(m);
  out["revisionId"] = m.revision_id;
  c.ok(out);
}

// ResourceNotFound and TooManyTags name the resource, as AWS's error shapes do.
void fail_tags(const Call& c, const ApiError& e, const std::string& arn) {
  if (e.type == "ResourceNotFound" || e.type == "TooManyTags") {
    return c.fail(e, Json{{"resourceName", arn}});
  }
  c.fail(e);
}

void tag_resource(const Call& c) {
  const std::string arn = *c.string("resourceArn");
  auto result = c.ops.tag_resource(c.caller, arn, tags_from(c.in.at("tags")));
  if (const ApiError* e = error_of(result)) return fail_tags(c, *e, arn);
  c.ok(Json::object());
}

void untag_resource(const Call& c) {
  const std::string arn = *c.string("resourceArn");
  std::vector<std::string> keys;
  for (const Json& k : c.in.at("tagKeys")) keys.push_back(k.get<std::string>());
  auto result = c.ops.untag_resource(c.caller, arn, keys);
  if (const ApiError* e = error_of(result)) return fail_tags(c, *e, arn);
  c.ok(Json::object());
}

void list_tags_for_resource(const Call& c) {
  const std::string arn = *c.string("resourceArn");
  auto result = c.ops.list_tags_for_resource(c.caller, arn);
  if (const ApiError* e = error_of(result)) return fail_tags(c, *e, arn);
  c.ok(Json{{"tags", tags_json(std::get<std::vector<Tag>>(result))}});
}

void create_activity(const Call& c) {
  const std::string name = *c.string("name");
  const std::vector<Tag> tags = tags_from(c.in.value("tags", Json::array()));
  auto result = c.ops.create_activity(c.caller, name, tags);
  if (const ApiError* e = error_of(result)) {
    if (e->type == "TooManyTags") {
      return c.fail(*e, Json{{"resourceName", c.ops.activity_arn(name)}});
    }
    return c.fail(*e);
  }
  const ActivityRecord& a = std::get<ActivityRecord>(result);
  Json out = Json::object();
  out["activityArn"] = a.arn;
  out["creationDate"] = aws::timestamp(a.created);
  c.ok(out);
}

Json activity_json(const ActivityRecord& a) {
  Json out = Json::object();
  out["activityArn"] = a.arn;
  out["name"] = a.name;
  out["creationDate"] = aws::timestamp(a.created);
  return out;
}

void describe_activity(const Call& c) {
  auto result = c.ops.describe_activity(c.caller, *c.string("activityArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  c.ok(activity_json(std::get<ActivityRecord>(result)));
}

void list_activities(const Call& c) {
  auto result = c.ops.list_activities(c.caller, c.page());
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  const auto& page = std::get<Page<ActivityRecord>>(result);
  Json items = Json::array();
  for (const ActivityRecord& a : page.items) items.push_back(activity_json(a));
  c.ok(page_answer("activities", std::move(items), page.next_token));
}

void delete_activity(const Call& c) {
  auto result = c.ops.delete_activity(c.caller, *c.string("activityArn"));
  if (const ApiError* e = error_of(result)) return c.fail(*e);
  c.ok(Json::object());
}

// AWS: a long poll that answers {"taskToken", "input"} the moment a task is there, or {} when
// none came within the wait. The handler thread does not wait: the answer comes from whoever
// queues the task (or the queue's timer).
void get_activity_task(const Call& c) {
  c.ops.get_activity_task_async(
      c.caller, *c.string("activityArn"), c.string_or("workerName", ""), c.options.poll_wait,
      c.answer_later<std::optional<engine::ActivityTask>>(
          [](const std::optional<engine::ActivityTask>& task) {
            Json out = Json::object();
            if (task) {
              out["taskToken"] = task->token;
              out["input"] = task->input;
            }
            return out;
          }));
}

// SendTask*: {} once the outcome (or heartbeat) is durable.
Operations::TaskReply task_reply(const Call& c) {
  return c.answer_later<bool>([](bool) { return Json::object(); });
}

void send_task_success(const Call& c) {
  c.ops.send_task_success_async(c.caller, *c.string("taskToken"), *c.string("output"),
                                task_reply(c));
}

void send_task_failure(const Call& c) {
  c.ops.send_task_failure_async(c.caller, *c.string("taskToken"), c.string_or("error", ""),
                                c.string_or("cause", ""), task_reply(c));
}

void send_task_heartbeat(const Call& c) {
  c.ops.send_task_heartbeat_async(c.caller, *c.string("taskToken"), task_reply(c));
}

struct Operation {
  std::string_view name;
  const Shape* input;
  void (*run)(const Call&);
};

const Operation kOperations[] = {
    {"CreateStateMachine", &kCreateStateMachineInput, create_state_machine},
    {"UpdateStateMachine", &kUpdateStateMachineInput, update_state_machine},
    {"DescribeStateMachine", &kDescribeStateMachineInput, describe_state_machine},
    {"ListStateMachines", &kListStateMachinesInput, list_state_machines},
    {"DeleteStateMachine", &kDeleteStateMachineInput, delete_state_machine},
    {"ValidateStateMachineDefinition", &kValidateInput, validate_state_machine_definition},
    {"StartExecution", &kStartExecutionInput, start_execution},
    {"StartSyncExecution", &kStartSyncExecutionInput, start_sync_execution},
    {"DescribeExecution", &kExecutionArnInput, describe_execution},
    {"ListExecutions", &kListExecutionsInput, list_executions},
    {"GetExecutionHistory", &kGetExecutionHistoryInput, get_execution_history},
    {"StopExecution", &kStopExecutionInput, stop_execution},
    {"RedriveExecution", &kRedriveExecutionInput, redrive_execution},
    {"DescribeStateMachineForExecution", &kExecutionArnInput, describe_state_machine_for_execution},
    {"TagResource", &kTagResourceInput, tag_resource},
    {"UntagResource", &kUntagResourceInput, untag_resource},
    {"ListTagsForResource", &kListTagsForResourceInput, list_tags_for_resource},
    {"CreateActivity", &kCreateActivityInput, create_activity},
    {"DescribeActivity", &kActivityArnInput, describe_activity},
    {"ListActivities", &kListActivitiesInput, list_activities},
    {"DeleteActivity", &kActivityArnInput, delete_activity},
    {"GetActivityTask", &kGetActivityTaskInput, get_activity_task},
    {"SendTaskSuccess", &kSendTaskSuccessInput, send_task_success},
    {"SendTaskFailure", &kSendTaskFailureInput, send_task_failure},
    {"SendTaskHeartbeat", &kSendTaskHeartbeatInput, send_task_heartbeat},
};

constexpr std::string_view kTargetPrefix = "AWSStepFunctions.";

}  // namespace

AwsApi::AwsApi(Operations& operations, AwsApiOptions options)
    : operations_(operations), options_(options) {}

std::vector<std::string> AwsApi::operation_names() {
  std::vector<std::string> names;
  for (const Operation& op : kOperations) names.emplace_back(op.name);
  return names;
}

void AwsApi::handle(HttpRequest request, Caller caller, Respond respond) {
  auto fail = [&](const ApiError& e) { respond(aws::error_response(e, caller.request_id)); };
  const std::string* target = request.header("X-Amz-Target");
  std::string_view name = target != nullptr ? std::string_view(*target) : std::string_view();
  const Operation* op = nullptr;
  if (name.starts_with(kTargetPrefix)) {
    name.remove_prefix(kTargetPrefix.size());
    for (const Operation& o : kOperations) {
      if (o.name == name) op = &o;
    }
  }
  if (op == nullptr) {
    return fail(api_error("UnknownOperationException",
                          target == nullptr
                              ? "The request names no operation (X-Amz-Target is missing)"
                              : "Unknown operation: '" + *target + "'"));
  }
  auto body = aws::parse_body(request.body);
  if (const ApiError* e = std::get_if<ApiError>(&body)) return fail(*e);
  const Json& in = std::get<Json>(body);
  if (auto e = aws::validate(in, *op->input)) return fail(*e);
  op->run(Call{operations_, options_, in, caller, std::move(respond)});
}

}  // namespace stepd::server
