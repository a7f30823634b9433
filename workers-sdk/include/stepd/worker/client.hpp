// stepd::worker::Client: a typed C++ client of a Stepd server.
//
//   stepd::worker::Client client({.endpoint = "http://127.0.0.1:8080"});
//   auto machine = client.create_state_machine({.name = "Hello", .definition = text});
//   auto run = client.start_execution({.state_machine_arn = machine.state_machine_arn,
//                                      .input = {{"order", 42}}});
//   auto description = client.describe_execution(run.execution_arn);
//
// Protocol: every AWS Step Functions operation Stepd serves goes over the AWS JSON 1.0 protocol
// (`POST /`, `X-Amz-Target: AWSStepFunctions.<Operation>`, `Content-Type:
// application/x-amz-json-1.0`) with AWS's request and answer shapes; Stepd's own operations (the
// audit log, the task routing registry) use its REST API (`/v1/...`). Payloads (execution input and
// output, task input and output) are nlohmann::json values here; on the wire AWS carries them as
// JSON text, which the client writes and parses.
//
// Errors: every call either returns its answer or throws stepd::worker::Error (error.hpp): the
// server's error (kind Server, code() "ExecutionDoesNotExist", ...) or a transport failure (kind
// Connect, Timeout, Disconnected, Protocol, Cancelled). Nothing is retried, with one exception: a
// request sent on a kept-alive connection that the server had already closed (no byte of an answer
// came back) is sent once more on a new connection.
//
// Connections: HTTP/1.1 keep-alive. A call takes an idle connection from the client's pool (or
// opens one) and gives it back when the answer is complete, so calls one after another use one
// connection; concurrent calls each use their own. At most ClientOptions::max_idle_connections are
// kept idle.
//
// Threads: every method is thread-safe; calls block the calling thread until their answer, their
// time-out or their stop_token.
//
// Endpoint: `http://HOST[:PORT]` (port 80 by default). https is not supported (use a TLS
// terminating proxy, or stepd's plain listener on loopback).
#pragma once

#include "stepd/worker/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::worker {

// Dates as AWS gives them: milliseconds since the epoch (UTC).
using Timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

struct ClientOptions {
  std::string endpoint = "http://127.0.0.1:8080";  // http://HOST[:PORT]
  // Sent as `Authorization: Bearer <api_key>` when not empty (stepd's API keys).
  std::string api_key{};
  std::chrono::milliseconds connect_timeout{5'000};
  // The whole exchange of one call (send and answer), except GetActivityTask and
  // StartSyncExecution.
  std::chrono::milliseconds request_timeout{30'000};
  // GetActivityTask: the server holds a poll up to 60 s, so this must be longer.
  std::chrono::milliseconds poll_timeout{75'000};
  // StartSyncExecution: the server waits up to 5 minutes for the execution's end.
  std::chrono::milliseconds sync_timeout{320'000};
  std::string user_agent = "stepd-worker/0.1";
  std::size_t max_idle_connections = 16;
};

struct Tag {
  std::string key{};
  std::string value{};
  bool operator==(const Tag &) const = default;
};

// One page of a list; next_token is "" on the last page. Pass it back (with the same filters) for
// the next one.
template <typename T>
struct Page {
  std::vector<T> items{};
  std::string next_token{};
};

// Paging of a list call: max_results 0 means the server's default (100); at most 1000.
struct PageRequest {
  int max_results = 0;
  std::string next_token{};
};

// AWS's includedData: ALL_DATA, or METADATA_ONLY to leave definitions, inputs and outputs out.
enum class IncludedData { AllData, MetadataOnly };

// --- State machines ---------------------------------------------------------------------------

// Stepd keeps a machine's role ARN but never assumes it; AWS requires one.
inline constexpr const char *kDefaultRoleArn = "arn:aws:iam::000000000000:role/stepd";

struct CreateStateMachineRequest {
  std::string name{};
  std::string definition{};  // the ASL text (JSON)
  std::string role_arn = kDefaultRoleArn;
  std::string type = "STANDARD";  // or "EXPRESS"
  std::vector<Tag> tags{};
};

struct CreateStateMachineResult {
  std::string state_machine_arn{};
  Timestamp creation_date{};
};

struct UpdateStateMachineRequest {
  std::string state_machine_arn{};
  std::optional<std::string> definition{};  // at least one of the two
  std::optional<std::string> role_arn{};
};

struct UpdateStateMachineResult {
  Timestamp update_date{};
  std::string revision_id{};  // "2", "3", ... after each update
};

struct StateMachineDescription {
  std::string state_machine_arn{};
  std::string name{};
  std::string status{};      // "ACTIVE"
  std::string definition{};  // "" with IncludedData::MetadataOnly
  std::string role_arn{};
  std::string type{};  // "STANDARD" or "EXPRESS"
  Timestamp creation_date{};
  std::string revision_id{};
  std::string description{};
  nlohmann::json logging_configuration{};  // as AWS answers it, e.g. {"level":"OFF",...}
  nlohmann::json tracing_configuration{};  // {"enabled": false}
};

struct StateMachineListItem {
  std::string state_machine_arn{};
  std::string name{};
  std::string type{};
  Timestamp creation_date{};
};

// The machine at the revision an execution runs (DescribeStateMachineForExecution).
struct StateMachineForExecution {
  std::string state_machine_arn{};
  std::string name{};
  std::string definition{};  // "" with IncludedData::MetadataOnly
  std::string role_arn{};
  Timestamp update_date{};
  std::string revision_id{};
  nlohmann::json logging_configuration{};
  nlohmann::json tracing_configuration{};
};

struct ValidateDefinitionRequest {
  std::string definition{};
  std::string type = "STANDARD";
  std::string severity = "ERROR";  // "WARNING" answers warnings too
  int max_results = 0;             // 0: the server's default (100)
};

struct ValidationDiagnostic {
  std::string severity{};  // "ERROR" or "WARNING"
  std::string code{};      // stepd's diagnostic code
  std::string message{};
  std::string location{};  // JSON pointer, e.g.
                           // "/States/Pay/Retry/0/BackoffRate"; may be ""
};

struct ValidationResult {
  std::string result{};  // "OK" or "FAIL"
  std::vector<ValidationDiagnostic> diagnostics{};
  bool truncated = false;
  bool ok() const { return result == "OK"; }
};

// --- Executions -------------------------------------------------------------------------------

struct StartExecutionRequest {
  std::string state_machine_arn{};
  std::string name{};  // "": the server makes one (a UUID)
  nlohmann::json input = nlohmann::json::object();
  std::string trace_header{};  // W3C traceparent or X-Ray header; "" for none
};

struct StartExecutionResult {
  std::string execution_arn{};
  Timestamp start_date{};
};

// StartSyncExecution's answer (EXPRESS machines).
struct SyncExecutionResult {
  std::string execution_arn{};
  std::string state_machine_arn{};
  std::string name{};
  std::string status{};  // "SUCCEEDED", "FAILED" or "TIMED_OUT"
  Timestamp start_date{};
  Timestamp stop_date{};
  nlohmann::json input{};                  // null with IncludedData::MetadataOnly
  std::optional<nlohmann::json> output{};  // when it succeeded (and data is included)
  std::string error{};
  std::string cause{};
  std::string trace_header{};
};

struct ExecutionDescription {
  std::string execution_arn{};
  std::string state_machine_arn{};
  std::string name{};
  std::string status{};  // RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED,
                         // PENDING_REDRIVE
  Timestamp start_date{};
  std::optional<Timestamp> stop_date{};
  nlohmann::json input{};                  // null with IncludedData::MetadataOnly
  std::optional<nlohmann::json> output{};  // once it succeeded (and data is included)
  std::string error{};                     // "" when none
  std::string cause{};
  std::string trace_header{};
  int redrive_count = 0;
  std::optional<Timestamp> redrive_date{};
  std::string redrive_status{};         // REDRIVABLE, NOT_REDRIVABLE, ...
  std::string redrive_status_reason{};  // "" when none
};

struct ListExecutionsRequest {
  std::string state_machine_arn{};  // "": every execution (a stepd extension)
  std::string status_filter{};      // "": any status
  std::string redrive_filter{};     // "", "REDRIVEN" or "NOT_REDRIVEN"
  int max_results = 0;
  std::string next_token{};
};

struct ExecutionListItem {
  std::string execution_arn{};
  std::string state_machine_arn{};
  std::string name{};
  std::string status{};
  Timestamp start_date{};
  std::optional<Timestamp> stop_date{};
  int redrive_count = 0;
  std::optional<Timestamp> redrive_date{};
};

struct GetExecutionHistoryRequest {
  std::string execution_arn{};
  int max_results = 0;
  std::string next_token{};
  bool reverse_order = false;
  bool include_execution_data = true;  // false drops inputs and outputs from the details
};

struct HistoryEvent {
  std::int64_t id = 0;
  std::int64_t previous_event_id = 0;
  Timestamp timestamp{};
  std::string type{};            // "ExecutionStarted", "TaskStateEntered", ...
  std::string details_member{};  // "executionStartedEventDetails", ...; "" when none
  nlohmann::json details{};      // that member's object (input/output as JSON text,
                                 // as AWS); null
};

// --- Activities -------------------------------------------------------------------------------

struct Activity {
  std::string activity_arn{};
  std::string name{};
  Timestamp creation_date{};
};

// A task handed out by GetActivityTask.
struct ActivityTask {
  std::string task_token{};
  nlohmann::json input{};
};

// --- Stepd's own resources (REST API) ---------------------------------------------------------

struct AuditQuery {
  std::string key{};        // "": every API key id
  std::string operation{};  // e.g. "StartExecution"; "": all
  std::string resource{};   // an ARN; "": all
  int max_results = 0;
  std::string next_token{};
};

struct AuditEntry {
  std::int64_t id = 0;
  Timestamp time{};
  std::string key_id{};  // API key id, or "anonymous"
  std::string remote{};
  std::string operation{};
  std::string resource{};
  std::string outcome{};  // "ok" or the error name
  std::string request_id{};
};

// A route of the task routing registry: where push tasks go.
// kind "function": name NAME or NAME:QUALIFIER of a Lambda-style function;
// kind "service": name SERVICE or SERVICE:ACTION of a service integration.
struct Route {
  std::string kind{};
  std::string name{};
  std::string url{};  // http://HOST[:PORT][/PATH]
  Timestamp updated{};
};

class Client {
 public:
  // Parses options.endpoint (throws Error{Connect, "InvalidEndpoint"} when it is not
  // http://HOST[:PORT][/]); connects lazily, on the first call.
  explicit Client(ClientOptions options = {});
  ~Client();
  Client(Client &&) noexcept;
  Client &operator=(Client &&) noexcept;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;

  const ClientOptions &options() const;

  // --- State machines (AWS: CreateStateMachine, ...) --- AWS: creating the same machine again
  // answers the existing one; another definition under the same name is StateMachineAlreadyExists.
  // InvalidDefinition, InvalidName, InvalidArn.
  CreateStateMachineResult create_state_machine(const CreateStateMachineRequest &request);
  UpdateStateMachineResult update_state_machine(const UpdateStateMachineRequest &request);
  StateMachineDescription describe_state_machine(const std::string &state_machine_arn,
                                                 IncludedData data = IncludedData::AllData);
  Page<StateMachineListItem> list_state_machines(const PageRequest &page = {});
  // AWS: deleting a machine that does not exist succeeds.
  void delete_state_machine(const std::string &state_machine_arn);
  ValidationResult validate_state_machine_definition(const ValidateDefinitionRequest &request);

  // --- Executions ---
  StartExecutionResult start_execution(const StartExecutionRequest &request);
  // EXPRESS machines only (StateMachineTypeNotSupported otherwise). Waits up to
  // ClientOptions::sync_timeout.
  SyncExecutionResult start_sync_execution(const StartExecutionRequest &request,
                                           IncludedData data = IncludedData::AllData);
  ExecutionDescription describe_execution(const std::string &execution_arn,
                                          IncludedData data = IncludedData::AllData);
  Page<ExecutionListItem> list_executions(const ListExecutionsRequest &request = {});
  Page<HistoryEvent> get_execution_history(const GetExecutionHistoryRequest &request);
  // Returns the stop date. Stopping an ended execution changes nothing.
  Timestamp stop_execution(const std::string &execution_arn, const std::string &error = "",
                           const std::string &cause = "");
  // Returns the redrive date. ExecutionNotRedrivable unless FAILED, TIMED_OUT or ABORTED.
  Timestamp redrive_execution(const std::string &execution_arn,
                              const std::string &client_token = "");
  StateMachineForExecution describe_state_machine_for_execution(
      const std::string &execution_arn, IncludedData data = IncludedData::AllData);

  // --- Tags (state machines and activities) ---
  void tag_resource(const std::string &resource_arn, const std::vector<Tag> &tags);
  void untag_resource(const std::string &resource_arn, const std::vector<std::string> &keys);
  std::vector<Tag> list_tags_for_resource(const std::string &resource_arn);

  // --- Activities and task tokens ---
  Activity create_activity(const std::string &name, const std::vector<Tag> &tags = {});
  Activity describe_activity(const std::string &activity_arn);
  Page<Activity> list_activities(const PageRequest &page = {});
  void delete_activity(const std::string &activity_arn);
  // Long poll (the server holds it up to 60 s): a task, or nullopt when none came. Uses
  // ClientOptions::poll_timeout. `stop` cuts the poll short (Error kind Cancelled); a task the
  // server handed to a poll cut short is then not seen by this worker.
  std::optional<ActivityTask> get_activity_task(const std::string &activity_arn,
                                                const std::string &worker_name = "",
                                                std::stop_token stop = {});
  // AWS: TaskDoesNotExist, InvalidToken, TaskTimedOut, InvalidOutput.
  void send_task_success(const std::string &task_token, const nlohmann::json &output);
  void send_task_failure(const std::string &task_token, const std::string &error = "",
                         const std::string &cause = "");
  void send_task_heartbeat(const std::string &task_token);

  // --- Stepd: the audit log (GET /v1/audit; admin keys) ---
  Page<AuditEntry> list_audit(const AuditQuery &query = {});

  // --- Stepd: the task routing registry (REST /v1/routes) --- kind "function" or "service" (see
  // Route). Adds or replaces the route.
  Route put_route(const std::string &kind, const std::string &name, const std::string &url);
  void delete_route(const std::string &kind, const std::string &name);
  std::vector<Route> list_routes();

  // --- Raw calls, for operations this header has no typed call for --- An AWS JSON 1.0 call: the
  // operation's request shape in, its answer shape out.
  nlohmann::json call_aws(std::string_view operation, const nlohmann::json &request,
                          std::optional<std::chrono::milliseconds> timeout = std::nullopt,
                          std::stop_token stop = {});
  // A REST call (`target` is path and query, e.g. "/v1/executions?maxResults=5"); a body is sent
  // when `body` is not null. Returns the JSON answer (null for an empty body, e.g. 204); statuses
  // of 400 and more throw Error (code from the body's "code").
  nlohmann::json call_rest(std::string_view method, std::string_view target,
                           const nlohmann::json &body = nullptr,
                           std::optional<std::chrono::milliseconds> timeout = std::nullopt);

  // Connections opened so far (keep-alive makes this 1 for sequential calls).
  std::size_t connections_opened() const;
  // Idle connections now in the pool.
  std::size_t idle_connections() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Helpers to read and write AWS's timestamps (epoch seconds with a millisecond fraction) and
// stepd's REST ones (RFC 3339, "2024-05-01T12:00:00.250Z").
Timestamp timestamp_from_epoch_seconds(double seconds);
double timestamp_to_epoch_seconds(Timestamp t);
// Throws Error{Protocol} when `text` is not RFC 3339.
Timestamp timestamp_from_rfc3339(std::string_view text);
std::string timestamp_to_rfc3339(Timestamp t);

// Percent-encodes `text` for a URL path segment or query value (everything but A-Z a-z 0-9 - _ .
// ~).
std::string url_encode(std::string_view text);

}  // namespace stepd::worker
