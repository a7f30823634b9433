#include "stepd/worker/client.hpp"

#include "http_connection.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <mutex>

namespace stepd::worker {

using nlohmann::json;

namespace {

constexpr std::string_view kAwsContentType = "application/x-amz-json-1.0";
constexpr std::string_view kTargetPrefix = "AWSStepFunctions.";

Error protocol_error(const std::string &message) {
  return Error(ErrorKind::Protocol, "Protocol", message);
}

// --- Reading answers --------------------------------------------------------------------------

std::string str(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

std::int64_t integer(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return 0;
  return it->get<std::int64_t>();
}

bool boolean(const json &j, const char *key) {
  auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

Timestamp epoch(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return Timestamp{};
  return timestamp_from_epoch_seconds(it->get<double>());
}

std::optional<Timestamp> optional_epoch(const json &j, const char *key) {
  if (!j.contains(key)) return std::nullopt;
  return epoch(j, key);
}

Timestamp rfc3339(const json &j, const char *key) {
  const std::string text = str(j, key);
  if (text.empty()) return Timestamp{};
  return timestamp_from_rfc3339(text);
}

// A payload AWS carries as JSON text; text that is not JSON is kept as a JSON string.
json payload(const std::string &text) {
  json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return json(text);
  return parsed;
}

json payload_member(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return nullptr;
  return payload(it->get<std::string>());
}

std::optional<json> optional_payload(const json &j, const char *key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return payload(it->get<std::string>());
}

const json &array_member(const json &j, const char *key) {
  static const json kEmpty = json::array();
  auto it = j.find(key);
  if (it == j.end() || !it->is_array()) return kEmpty;
  return *it;
}

json tags_json(const std::vector<Tag> &tags) {
  json out = json::array();
  for (const Tag &t : tags) out.push_back(json{{"key", t.key}, {"value", t.value}});
  return out;
}

const char *included(IncludedData data) {
  return data == IncludedData::AllData ? "ALL_DATA" : "METADATA_ONLY";
}

void paging(json &request, int max_results, const std::string &next_token) {
  if (max_results != 0) request["maxResults"] = max_results;
  if (!next_token.empty()) request["nextToken"] = next_token;
}

// Sets request[key] to `value` unless it is empty (an optional member left out).
void set_unless_empty(json &request, const char *key, const std::string &value) {
  if (!value.empty()) request[key] = value;
}

// Adds includedData to `request` unless it is ALL_DATA (AWS's default).
void set_included(json &request, IncludedData data) {
  if (data != IncludedData::AllData) request["includedData"] = included(data);
}

// "com.amazonaws.states#ExecutionDoesNotExist:http://..." -> "ExecutionDoesNotExist".
std::string bare_error_name(std::string name) {
  const std::size_t hash = name.rfind('#');
  if (hash != std::string::npos) name.erase(0, hash + 1);
  const std::size_t colon = name.find(':');
  if (colon != std::string::npos) name.erase(colon);
  return name;
}

Error server_error(const detail::HttpAnswer &answer) {
  json body = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) body = nullptr;
  std::string code;
  std::string message;
  std::string request_id = answer.header("x-amzn-requestid");
  if (body.is_object()) {
    code = str(body, "__type");
    if (code.empty()) code = str(body, "code");
    message = str(body, "message");
    if (message.empty()) message = str(body, "Message");
    if (request_id.empty()) request_id = str(body, "requestId");
  }
  if (code.empty()) code = answer.header("x-amzn-errortype");
  code = bare_error_name(code);
  if (code.empty()) code = "Http" + std::to_string(answer.status);
  if (message.empty() && !body.is_object()) message = answer.body.substr(0, 500);
  return Error(ErrorKind::Server, std::move(code), std::move(message), answer.status,
               std::move(request_id), std::move(body));
}

json answer_json(const detail::HttpAnswer &answer) {
  if (answer.body.empty()) return nullptr;
  json parsed = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    throw protocol_error("the answer (HTTP " + std::to_string(answer.status) +
                         ") is not JSON: " + answer.body.substr(0, 200));
  }
  return parsed;
}

// --- Typed answers ----------------------------------------------------------------------------

// Reads the members StateMachineDescription and StateMachineForExecution share into `m`.
template <typename Machine>
void read_machine_common(const json &j, Machine &m) {
  m.state_machine_arn = str(j, "stateMachineArn");
  m.name = str(j, "name");
  m.definition = str(j, "definition");
  m.role_arn = str(j, "roleArn");
  m.revision_id = str(j, "revisionId");
  m.logging_configuration = j.value("loggingConfiguration", json());
  m.tracing_configuration = j.value("tracingConfiguration", json());
}

StateMachineDescription machine_description(const json &j) {
  StateMachineDescription d;
  read_machine_common(j, d);
  d.status = str(j, "status");
  d.type = str(j, "type");
  d.creation_date = epoch(j, "creationDate");
  d.description = str(j, "description");
  return d;
}

StateMachineForExecution machine_for_execution(const json &j) {
  StateMachineForExecution m;
  read_machine_common(j, m);
  m.update_date = epoch(j, "updateDate");
  return m;
}

// Reads the members every execution shape has (ExecutionDescription, SyncExecutionResult,
// ExecutionListItem) into `x`: ARNs, name, status, start date.
template <typename Execution>
void read_execution_head(const json &j, Execution &x) {
  x.execution_arn = str(j, "executionArn");
  x.state_machine_arn = str(j, "stateMachineArn");
  x.name = str(j, "name");
  x.status = str(j, "status");
  x.start_date = epoch(j, "startDate");
}

// Reads the data of an execution (ExecutionDescription, SyncExecutionResult) into `x`: input,
// output, error, cause, trace header.
template <typename Execution>
void read_execution_data(const json &j, Execution &x) {
  x.input = payload_member(j, "input");
  x.output = optional_payload(j, "output");
  x.error = str(j, "error");
  x.cause = str(j, "cause");
  x.trace_header = str(j, "traceHeader");
}

// Reads the optional dates and the redrive count (ExecutionDescription, ExecutionListItem).
template <typename Execution>
void read_execution_redrive(const json &j, Execution &x) {
  x.stop_date = optional_epoch(j, "stopDate");
  x.redrive_count = static_cast<int>(integer(j, "redriveCount"));
  x.redrive_date = optional_epoch(j, "redriveDate");
}

ExecutionDescription execution_description(const json &j) {
  ExecutionDescription d;
  read_execution_head(j, d);
  read_execution_data(j, d);
  read_execution_redrive(j, d);
  d.redrive_status = str(j, "redriveStatus");
  d.redrive_status_reason = str(j, "redriveStatusReason");
  return d;
}

SyncExecutionResult sync_execution(const json &j) {
  SyncExecutionResult x;
  read_execution_head(j, x);
  read_execution_data(j, x);
  x.stop_date = epoch(j, "stopDate");
  return x;
}

ExecutionListItem execution_item(const json &j) {
  ExecutionListItem x;
  read_execution_head(j, x);
  read_execution_redrive(j, x);
  return x;
}

StateMachineListItem machine_item(const json &j) {
  return {str(j, "stateMachineArn"), str(j, "name"), str(j, "type"), epoch(j, "creationDate")};
}

AuditEntry audit_entry(const json &j) {
  AuditEntry a;
  a.id = integer(j, "id");
  a.time = rfc3339(j, "time");
  a.key_id = str(j, "keyId");
  a.remote = str(j, "remote");
  a.operation = str(j, "operation");
  a.resource = str(j, "resource");
  a.outcome = str(j, "outcome");
  a.request_id = str(j, "requestId");
  return a;
}

HistoryEvent history_event(const json &j) {
  HistoryEvent e;
  e.id = integer(j, "id");
  e.previous_event_id = integer(j, "previousEventId");
  e.timestamp = epoch(j, "timestamp");
  e.type = str(j, "type");
  for (const auto &[key, value] : j.items()) {
    if (key.ends_with("EventDetails") && value.is_object()) {
      e.details_member = key;
      e.details = value;
      break;
    }
  }
  return e;
}

Activity activity(const json &j) {
  Activity a;
  a.activity_arn = str(j, "activityArn");
  a.name = str(j, "name");
  a.creation_date = epoch(j, "creationDate");
  return a;
}

Route route(const json &j) {
  Route r;
  r.kind = str(j, "kind");
  r.name = str(j, "name");
  r.url = str(j, "url");
  r.updated = rfc3339(j, "updated");
  return r;
}

std::string page_token(const json &j) { return str(j, "nextToken"); }

// A list answer as a Page: `read` turns each element of the array `member` into a T.
template <typename T, typename Read>
Page<T> read_page(const json &out, const char *member, Read read) {
  Page<T> page;
  for (const json &j : array_member(out, member)) page.items.push_back(read(j));
  page.next_token = page_token(out);
  return page;
}

}  // namespace

// --- Timestamps and URLs ----------------------------------------------------------------------

Timestamp timestamp_from_epoch_seconds(double seconds) {
  return Timestamp(std::chrono::milliseconds(std::llround(seconds * 1000.0)));
}

double timestamp_to_epoch_seconds(Timestamp t) {
  return static_cast<double>(t.time_since_epoch().count()) / 1000.0;
}

Timestamp timestamp_from_rfc3339(std::string_view text) {
  auto bad = [&]() { return protocol_error("not an RFC 3339 time: '" + std::string(text) + "'"); };
  auto digits = [&](std::size_t at, std::size_t n) -> int {
    if (at + n > text.size()) throw bad();
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (text[i] < '0' || text[i] > '9') throw bad();
      v = v * 10 + (text[i] - '0');
    }
    return v;
  };
  auto expect = [&](std::size_t at, std::string_view chars) {
    if (at >= text.size() || chars.find(text[at]) == std::string_view::npos) throw bad();
  };
  const int year = digits(0, 4);
  expect(4, "-");
  const int month = digits(5, 2);
  expect(7, "-");
  const int day = digits(8, 2);
  expect(10, "Tt ");
  const int hour = digits(11, 2);
  expect(13, ":");
  const int minute = digits(14, 2);
  expect(16, ":");
  const int second = digits(17, 2);
  std::size_t at = 19;
  long long millis = 0;
  if (at < text.size() && text[at] == '.') {
    ++at;
    int scale = 100;
    const std::size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
      millis += (text[at] - '0') * scale;
      scale /= 10;
      ++at;
    }
    if (at == start) throw bad();
  }
  int offset_minutes = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    const int sign = text[at] == '-' ? -1 : 1;
    const int oh = digits(at + 1, 2);
    expect(at + 3, ":");
    const int om = digits(at + 4, 2);
    offset_minutes = sign * (oh * 60 + om);
    at += 6;
  } else {
    throw bad();
  }
  if (at != text.size()) throw bad();
  const std::chrono::year_month_day ymd{std::chrono::year(year),
                                        std::chrono::month(static_cast<unsigned>(month)),
                                        std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 60) throw bad();
  const auto days = std::chrono::sys_days(ymd);
  return std::chrono::time_point_cast<std::chrono::milliseconds>(days) + std::chrono::hours(hour) +
         std::chrono::minutes(minute - offset_minutes) + std::chrono::seconds(second) +
         std::chrono::milliseconds(millis);
}

std::string timestamp_to_rfc3339(Timestamp t) {
  const auto days = std::chrono::floor<std::chrono::days>(t);
  const std::chrono::year_month_day ymd{days};
  const std::chrono::hh_mm_ss hms{t - days};
  char out[40];
  std::snprintf(out, sizeof out, "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ",
                static_cast<int>(ymd.year()), static_cast<unsigned>(ymd.month()),
                static_cast<unsigned>(ymd.day()), static_cast<int>(hms.hours().count()),
                static_cast<int>(hms.minutes().count()), static_cast<int>(hms.seconds().count()),
                static_cast<int>(hms.subseconds().count()));
  return out;
}

std::string url_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(text.size());
  for (unsigned char c : text) {
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
        c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

// --- The client -------------------------------------------------------------------------------

class Client::Impl {
 public:
  explicit Impl(ClientOptions options)
      : options_(std::move(options)), endpoint_(detail::parse_endpoint(options_.endpoint)) {}

  const ClientOptions &options() const { return options_; }

  detail::HttpAnswer send(detail::HttpCall call) {
    if (!options_.user_agent.empty()) call.headers.emplace_back("User-Agent", options_.user_agent);
    if (!options_.api_key.empty()) {
      call.headers.emplace_back("Authorization", "Bearer " + options_.api_key);
    }
    call.connect_timeout = options_.connect_timeout;
    std::unique_ptr<detail::HttpConnection> connection = take();
    for (int attempt = 0;; ++attempt) {
      detail::HttpConnection::Outcome out = connection->exchange(call);
      if (out.answer) {
        give_back(std::move(connection));
        return std::move(*out.answer);
      }
      // A kept-alive connection the server closed meanwhile: once more on a new one.
      if (out.unanswered && attempt == 0) {
        connection = open();
        continue;
      }
      throw std::move(*out.error);
    }
  }

  json aws(std::string_view operation, const json &request,
           std::optional<std::chrono::milliseconds> timeout, std::stop_token stop) {
    detail::HttpCall call;
    call.method = "POST";
    call.target = endpoint_.base_path + "/";
    call.body = request.dump();
    call.headers.emplace_back("X-Amz-Target", std::string(kTargetPrefix) + std::string(operation));
    call.headers.emplace_back("Content-Type", std::string(kAwsContentType));
    call.timeout = timeout.value_or(options_.request_timeout);
    call.stop = std::move(stop);
    detail::HttpAnswer answer = send(std::move(call));
    if (answer.status != 200) throw server_error(answer);
    json out = answer_json(answer);
    if (out.is_null()) return json::object();
    if (!out.is_object())
      throw protocol_error("the answer of " + std::string(operation) + " is not a JSON object");
    return out;
  }

  json rest(std::string_view method, std::string_view target, const json &body,
            std::optional<std::chrono::milliseconds> timeout) {
    detail::HttpCall call;
    call.method = std::string(method);
    call.target = endpoint_.base_path + std::string(target);
    if (!body.is_null()) {
      call.body = body.dump();
      call.headers.emplace_back("Content-Type", "application/json");
    }
    call.headers.emplace_back("Accept", "application/json");
    call.timeout = timeout.value_or(options_.request_timeout);
    detail::HttpAnswer answer = send(std::move(call));
    if (answer.status >= 400) throw server_error(answer);
    return answer_json(answer);
  }

  std::size_t opened() const { return opened_.load(); }
  std::size_t idle() const {
    std::lock_guard lock(mu_);
    return idle_.size();
  }

 private:
  std::unique_ptr<detail::HttpConnection> open() {
    ++opened_;
    return std::make_unique<detail::HttpConnection>(endpoint_);
  }

  std::unique_ptr<detail::HttpConnection> take() {
    std::unique_ptr<detail::HttpConnection> connection;
    {
      std::lock_guard lock(mu_);
      while (!idle_.empty()) {
        connection = std::move(idle_.back());
        idle_.pop_back();
        if (connection->usable()) return connection;
        connection.reset();
      }
    }
    return open();
  }

  void give_back(std::unique_ptr<detail::HttpConnection> connection) {
    if (!connection->usable()) return;
    std::lock_guard lock(mu_);
    if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(connection));
  }

  ClientOptions options_;
  detail::Endpoint endpoint_;
  mutable std::mutex mu_;
  std::vector<std::unique_ptr<detail::HttpConnection>> idle_;
  std::atomic<std::size_t> opened_{0};
};

Client::Client(ClientOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Client::~Client() = default;
Client::Client(Client &&) noexcept = default;
Client &Client::operator=(Client &&) noexcept = default;

const ClientOptions &Client::options() const { return impl_->options(); }

std::size_t Client::connections_opened() const { return impl_->opened(); }
std::size_t Client::idle_connections() const { return impl_->idle(); }

json Client::call_aws(std::string_view operation, const json &request,
                      std::optional<std::chrono::milliseconds> timeout, std::stop_token stop) {
  return impl_->aws(operation, request, timeout, std::move(stop));
}

json Client::call_rest(std::string_view method, std::string_view target, const json &body,
                       std::optional<std::chrono::milliseconds> timeout) {
  return impl_->rest(method, target, body, timeout);
}

// --- State machines ---------------------------------------------------------------------------

CreateStateMachineResult Client::create_state_machine(const CreateStateMachineRequest &r) {
  json request = {{"name", r.name}, {"definition", r.definition}, {"roleArn", r.role_arn}};
  set_unless_empty(request, "type", r.type);
  if (!r.tags.empty()) request["tags"] = tags_json(r.tags);
  const json out = call_aws("CreateStateMachine", request);
  return {str(out, "stateMachineArn"), epoch(out, "creationDate")};
}

UpdateStateMachineResult Client::update_state_machine(const UpdateStateMachineRequest &r) {
  json request = {{"stateMachineArn", r.state_machine_arn}};
  if (r.definition) request["definition"] = *r.definition;
  if (r.role_arn) request["roleArn"] = *r.role_arn;
  const json out = call_aws("UpdateStateMachine", request);
  return {epoch(out, "updateDate"), str(out, "revisionId")};
}

StateMachineDescription Client::describe_state_machine(const std::string &arn, IncludedData data) {
  json request = {{"stateMachineArn", arn}};
  set_included(request, data);
  return machine_description(call_aws("DescribeStateMachine", request));
}

Page<StateMachineListItem> Client::list_state_machines(const PageRequest &page) {
  json request = json::object();
  paging(request, page.max_results, page.next_token);
  return read_page<StateMachineListItem>(call_aws("ListStateMachines", request), "stateMachines",
                                         machine_item);
}

void Client::delete_state_machine(const std::string &arn) {
  call_aws("DeleteStateMachine", {{"stateMachineArn", arn}});
}

ValidationResult Client::validate_state_machine_definition(const ValidateDefinitionRequest &r) {
  json request = {{"definition", r.definition}};
  set_unless_empty(request, "type", r.type);
  set_unless_empty(request, "severity", r.severity);
  if (r.max_results != 0) request["maxResults"] = r.max_results;
  const json out = call_aws("ValidateStateMachineDefinition", request);
  ValidationResult result;
  result.result = str(out, "result");
  result.truncated = boolean(out, "truncated");
  for (const json &d : array_member(out, "diagnostics")) {
    result.diagnostics.push_back(
        {str(d, "severity"), str(d, "code"), str(d, "message"), str(d, "location")});
  }
  return result;
}

// --- Executions -------------------------------------------------------------------------------

namespace {

json start_request(const StartExecutionRequest &r) {
  json request = {{"stateMachineArn", r.state_machine_arn}};
  set_unless_empty(request, "name", r.name);
  if (!r.input.is_null()) request["input"] = r.input.dump();
  set_unless_empty(request, "traceHeader", r.trace_header);
  return request;
}

}  // namespace

StartExecutionResult Client::start_execution(const StartExecutionRequest &r) {
  const json out = call_aws("StartExecution", start_request(r));
  return {str(out, "executionArn"), epoch(out, "startDate")};
}

SyncExecutionResult Client::start_sync_execution(const StartExecutionRequest &r,
                                                 IncludedData data) {
  json request = start_request(r);
  set_included(request, data);
  return sync_execution(call_aws("StartSyncExecution", request, options().sync_timeout));
}

ExecutionDescription Client::describe_execution(const std::string &arn, IncludedData data) {
  json request = {{"executionArn", arn}};
  set_included(request, data);
  return execution_description(call_aws("DescribeExecution", request));
}

Page<ExecutionListItem> Client::list_executions(const ListExecutionsRequest &r) {
  json request = json::object();
  set_unless_empty(request, "stateMachineArn", r.state_machine_arn);
  set_unless_empty(request, "statusFilter", r.status_filter);
  set_unless_empty(request, "redriveFilter", r.redrive_filter);
  paging(request, r.max_results, r.next_token);
  return read_page<ExecutionListItem>(call_aws("ListExecutions", request), "executions",
                                      execution_item);
}

Page<HistoryEvent> Client::get_execution_history(const GetExecutionHistoryRequest &r) {
  json request = {{"executionArn", r.execution_arn}};
  paging(request, r.max_results, r.next_token);
  if (r.reverse_order) request["reverseOrder"] = true;
  if (!r.include_execution_data) request["includeExecutionData"] = false;
  return read_page<HistoryEvent>(call_aws("GetExecutionHistory", request), "events", history_event);
}

Timestamp Client::stop_execution(const std::string &arn, const std::string &error,
                                 const std::string &cause) {
  json request = {{"executionArn", arn}};
  set_unless_empty(request, "error", error);
  set_unless_empty(request, "cause", cause);
  return epoch(call_aws("StopExecution", request), "stopDate");
}

Timestamp Client::redrive_execution(const std::string &arn, const std::string &client_token) {
  json request = {{"executionArn", arn}};
  set_unless_empty(request, "clientToken", client_token);
  return epoch(call_aws("RedriveExecution", request), "redriveDate");
}

StateMachineForExecution Client::describe_state_machine_for_execution(const std::string &arn,
                                                                      IncludedData data) {
  json request = {{"executionArn", arn}};
  set_included(request, data);
  return machine_for_execution(call_aws("DescribeStateMachineForExecution", request));
}

// --- Tags -------------------------------------------------------------------------------------

void Client::tag_resource(const std::string &arn, const std::vector<Tag> &tags) {
  call_aws("TagResource", {{"resourceArn", arn}, {"tags", tags_json(tags)}});
}

void Client::untag_resource(const std::string &arn, const std::vector<std::string> &keys) {
  call_aws("UntagResource", {{"resourceArn", arn}, {"tagKeys", keys}});
}

std::vector<Tag> Client::list_tags_for_resource(const std::string &arn) {
  const json out = call_aws("ListTagsForResource", {{"resourceArn", arn}});
  std::vector<Tag> tags;
  for (const json &t : array_member(out, "tags")) tags.push_back({str(t, "key"), str(t, "value")});
  return tags;
}

// --- Activities -------------------------------------------------------------------------------

Activity Client::create_activity(const std::string &name, const std::vector<Tag> &tags) {
  json request = {{"name", name}};
  if (!tags.empty()) request["tags"] = tags_json(tags);
  const json out = call_aws("CreateActivity", request);
  return {str(out, "activityArn"), name, epoch(out, "creationDate")};
}

Activity Client::describe_activity(const std::string &arn) {
  return activity(call_aws("DescribeActivity", {{"activityArn", arn}}));
}

Page<Activity> Client::list_activities(const PageRequest &page) {
  json request = json::object();
  paging(request, page.max_results, page.next_token);
  return read_page<Activity>(call_aws("ListActivities", request), "activities", activity);
}

void Client::delete_activity(const std::string &arn) {
  call_aws("DeleteActivity", {{"activityArn", arn}});
}

std::optional<ActivityTask> Client::get_activity_task(const std::string &arn,
                                                      const std::string &worker_name,
                                                      std::stop_token stop) {
  json request = {{"activityArn", arn}};
  set_unless_empty(request, "workerName", worker_name);
  const json out = call_aws("GetActivityTask", request, options().poll_timeout, std::move(stop));
  // AWS: no task within the wait is an answer without a token.
  const std::string token = str(out, "taskToken");
  if (token.empty()) return std::nullopt;
  ActivityTask task;
  task.task_token = token;
  task.input = payload_member(out, "input");
  if (task.input.is_null()) task.input = json::object();
  return task;
}

void Client::send_task_success(const std::string &token, const json &output) {
  call_aws("SendTaskSuccess", {{"taskToken", token}, {"output", output.dump()}});
}

void Client::send_task_failure(const std::string &token, const std::string &error,
                               const std::string &cause) {
  json request = {{"taskToken", token}};
  set_unless_empty(request, "error", error);
  set_unless_empty(request, "cause", cause);
  call_aws("SendTaskFailure", request);
}

void Client::send_task_heartbeat(const std::string &token) {
  call_aws("SendTaskHeartbeat", {{"taskToken", token}});
}

// --- Stepd's REST resources -------------------------------------------------------------------

Page<AuditEntry> Client::list_audit(const AuditQuery &q) {
  std::string target = "/v1/audit";
  char sep = '?';
  auto add = [&](const char *name, const std::string &value) {
    if (value.empty()) return;
    target += sep;
    target += name;
    target += '=';
    target += url_encode(value);
    sep = '&';
  };
  add("key", q.key);
  add("operation", q.operation);
  add("resource", q.resource);
  if (q.max_results != 0) add("maxResults", std::to_string(q.max_results));
  add("nextToken", q.next_token);
  return read_page<AuditEntry>(call_rest("GET", target), "items", audit_entry);
}

Route Client::put_route(const std::string &kind, const std::string &name, const std::string &url) {
  const json out =
      call_rest("PUT", "/v1/routes/" + url_encode(kind) + "/" + url_encode(name), {{"url", url}});
  Route r;
  if (out.is_object()) r = route(out.contains("route") ? out.at("route") : out);
  if (r.kind.empty()) r.kind = kind;
  if (r.name.empty()) r.name = name;
  if (r.url.empty()) r.url = url;
  return r;
}

void Client::delete_route(const std::string &kind, const std::string &name) {
  call_rest("DELETE", "/v1/routes/" + url_encode(kind) + "/" + url_encode(name));
}

std::vector<Route> Client::list_routes() {
  const json out = call_rest("GET", "/v1/routes");
  std::vector<Route> routes;
  if (!out.is_object()) return routes;
  for (const json &j : array_member(out, "routes")) routes.push_back(route(j));
  return routes;
}

}  // namespace stepd::worker
