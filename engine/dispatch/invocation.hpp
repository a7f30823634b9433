// The pure half of push-task dispatch: which HTTP request a task stands for, and what the
// answer (or the failure to get one) means for the task. No I/O, no clock, no threads: the
// HttpInvoker performs the requests; the in-memory runner (run-local) shares the Lambda rules.
//
//  - HTTP Task (arn:aws:states:::http:invoke): Parameters ApiEndpoint, Method (GET, POST, PUT,
//    DELETE, PATCH, OPTIONS, HEAD), Headers, QueryParameters, RequestBody, Transform
//    {RequestBodyEncoding NONE | URL_ENCODED, RequestEncodingOptions {ArrayFormat INDICES |
//    REPEAT | COMMAS | BRACKETS}}. AWS: a header AWS reserves (Authorization, Host, x-amz-*, ...)
//    or a malformed field fails with States.Runtime before anything is sent. The result is
//    {"Headers": {name: [values]}, "ResponseBody": JSON when the answer says it is JSON, else
//    the text, "StatusCode", "StatusText"}; a non-2xx answer fails with
//    States.Http.StatusCode.<code> (cause: the answer's body); an answer of a binary content
//    type (application/octet-stream, image/*, video/*, audio/*) or not UTF-8 fails with
//    States.Runtime. ConnectionArn / Authentication / InvocationConfig are accepted and
//    ignored (Stepd has no EventBridge connections).
//  - Lambda-style functions (a Lambda ARN, or lambda:invoke with FunctionName [, Qualifier],
//    Payload): the payload is POSTed as JSON. A 2xx JSON answer is the result (lambda:invoke
//    wraps it as AWS does). A function error — X-Amz-Function-Error, an error status, or a
//    body {"errorType", "errorMessage"} — fails the task named errorType, with the body as the
//    cause (compact JSON for lambda:invoke). Without an errorType the names depend on
//    FailureNames (below).
//  - Service integrations (arn:aws:states:::SERVICE:ACTION[suffix], aws-sdk:SERVICE:ACTION):
//    POST {"Service", "Action", "Resource", "IntegrationPattern", "Parameters"} to the route;
//    answers as for functions, States.TaskFailed names.
//  Every planned request carries Content-Type, the execution's trace header (traceparent for a
//  W3C value, else X-Amzn-Trace-Id), X-Stepd-Idempotency-Key (hex SHA-256 of the task token),
//  X-Stepd-Execution-Arn and X-Stepd-State (the state name, %-escaped outside printable ASCII).
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/json.hpp"
#include "asl/step.hpp"
#include "engine/core/execution_core.hpp"
#include "engine/dispatch/http_invoker.hpp"
#include "engine/task_resource.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace stepd::engine {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// How failures that carry no error name of their own are named: no connection, a broken
// answer, an error status without an error body, X-Amz-Function-Error without errorType.
enum class FailureNames {
  TaskFailed,  // States.TaskFailed (run-local; service integrations)
  // AWS: the names Step Functions reports for Lambda: Lambda.SdkClientException (no connection,
  // a broken answer), Lambda.TooManyRequestsException (429), Lambda.ResourceNotFoundException
  // (404), Lambda.ServiceException (5xx), Lambda.AWSLambdaException (another error status),
  // Lambda.Unknown (a function error without errorType).
  Lambda,
};

// One HTTP request to make for a task, and how to read its answer.
struct HttpCallPlan {
  enum class Kind { HttpTask, Function, Service };
  Kind kind = Kind::Function;
  TaskTarget target;
  std::string resource;
  std::string method = "POST";
  HttpUrl url;           // scheme, host, port, target (path and query, escaped)
  std::string endpoint;  // "http://host:port/target" (or https://), for causes
  HttpHeaders headers;   // every header but Host, Content-Length, Connection and User-Agent
  std::optional<std::string> body;
  std::chrono::milliseconds timeout{0};  // the call's deadline, from its start
  FailureNames names = FailureNames::TaskFailed;
  std::string function;  // Function: NAME[:QUALIFIER] as called (for causes)
};

// An answer as received.
struct HttpAnswer {
  unsigned status = 0;
  std::string reason;  // the reason phrase ("" when the server sent none)
  HttpHeaders headers;
  std::string body;

  // The first value of header `name` (any case), or nullopt.
  std::optional<std::string> header(std::string_view name) const;
};

// Why no answer came.
struct TransportFailure {
  enum class Stage {
    Resolve,         // the host name did not resolve
    Connect,         // no connection (refused, unreachable)
    ConnectTimeout,  // no connection within InvokerOptions::connect_timeout
    Tls,             // the TLS handshake failed (detail: why, e.g. the certificate's fault)
    Send,            // the request could not be sent
    Receive,         // the connection broke or the answer is not HTTP
    TooLarge,        // the answer is larger than the invoker reads
  };
  Stage stage = Stage::Connect;
  std::string detail;  // the system's message ("Connection refused")
};

// Where routed tasks go (the Registry's lookups, or run-local's --function map).
struct RouteLookup {
  std::function<std::optional<std::string>(std::string_view name, std::string_view qualifier)>
      function_url;
  std::function<std::optional<std::string>(std::string_view service, std::string_view action)>
      service_url;
};

// --- Whole calls (the HttpInvoker) ----------------------------------------------------------

// Plans the request for `task`. A StatesError when no request can be made: Parameters the kind
// refuses (States.Runtime for the HTTP Task, States.TaskFailed otherwise), an unregistered
// function (Lambda.ResourceNotFoundException) or service (States.TaskFailed naming the missing
// route), or a Resource the invoker does not serve (activities, startExecution, unknown).
// Endpoints and routes may be http:// or https:// (HttpCallPlan::url.scheme says which).
// The deadline is the task's TimeoutSeconds capped by the kind's limit in `options`.
std::variant<HttpCallPlan, asl::StatesError> plan_call(const TaskDispatch& task,
                                                       const RouteLookup& routes,
                                                       const InvokerOptions& options);

// What an answer means for the task. `request_id` makes the RequestId of a lambda:invoke result
// when the answer has no x-amzn-RequestId header (called at most once).
asl::Outcome answer_outcome(const HttpCallPlan& plan, const HttpAnswer& answer,
                            const std::function<std::string()>& request_id);

// What a transport failure means for the task (never States.Timeout: see timeout_error).
asl::StatesError failure_error(const HttpCallPlan& plan, const TransportFailure& failure);

// States.Timeout, the cause naming the endpoint and the deadline.
asl::StatesError timeout_error(const HttpCallPlan& plan);

// --- Lambda-style functions (shared with run-local) --------------------------------------

// The function a Lambda task calls and the JSON it sends.
struct FunctionCall {
  std::optional<LambdaFunctionRef> ref;  // nullopt when the name is not a function's
  std::string function_text;             // the ARN or FunctionName as written
  Json payload;
};

// For a LambdaFunction resource: the function of the ARN, the payload as is. For lambda:invoke:
// Parameters.FunctionName (name, partial or full ARN, with or without qualifier; a
// Parameters.Qualifier applies when the name has none) and Parameters.Payload ({} when absent).
// States.TaskFailed when FunctionName is missing or not a string;
// Lambda.InvalidParameterValueException when the name's qualifier and Qualifier differ.
std::variant<FunctionCall, asl::StatesError> function_call(ResourceKind kind,
                                                           const std::string& resource,
                                                           const Json& payload);

// What a function's answer means (`url`: the function's URL, for causes). On success the JSON
// body, wrapped for lambda:invoke (lambda_invoke_result).
asl::Outcome function_outcome(const HttpAnswer& answer, const std::string& url, ResourceKind kind,
                              FailureNames names, const std::function<std::string()>& request_id);

// AWS: the result of arn:aws:states:::lambda:invoke: {"ExecutedVersion" (X-Amz-Executed-Version,
// else "$LATEST"), "Payload", "SdkHttpMetadata": {"HttpHeaders": the answer's headers,
// "HttpStatusCode"}, "SdkResponseMetadata": {"RequestId" (x-amzn-RequestId, else request_id())},
// "StatusCode"}.
Json lambda_invoke_result(Json payload, const HttpAnswer& answer,
                          const std::function<std::string()>& request_id);

// "cannot connect to <url>: <detail>" and the like, named by `names` (functions) or
// States.TaskFailed.
asl::StatesError transport_error(const TransportFailure& failure, const std::string& url,
                                 FailureNames names);

// --- HTTP pieces ----------------------------------------------------------------------------

// RFC 3986 percent-encoding: everything but A-Z a-z 0-9 - . _ ~ becomes %XX (space: %20).
std::string percent_encode(std::string_view text);

enum class ArrayFormat { Indices, Repeat, Commas, Brackets };

// AWS: form-urlencoding of a JSON object, as the HTTP Task's URL_ENCODED body: members in order,
// nested objects as key[member], arrays as ArrayFormat says ({"a":["x","y"]}: INDICES
// a[0]=x&a[1]=y, REPEAT a=x&a=y, COMMAS a=x,y, BRACKETS a[]=x&a[]=y); names and values
// percent-encoded (brackets too); null as an empty value. REQUIRES: object.is_object().
std::string url_encode_form(const Json& object, ArrayFormat format);

// X-Stepd-Idempotency-Key: lowercase hex SHA-256 of the token.
std::string idempotency_key(std::string_view token);

// The header that carries an execution's trace: {"traceparent", value} for a W3C value
// (VV-<32 hex>-<16 hex>-FF), else {"X-Amzn-Trace-Id", value}.
std::pair<std::string, std::string> trace_header(std::string_view value);

}  // namespace stepd::engine
