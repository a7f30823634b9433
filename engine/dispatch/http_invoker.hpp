// Push tasks: performs the HTTP call a Task's Resource stands for and turns the answer into the
// task's outcome (result or error), as AWS does for the same Resource.
//
//  - arn:aws:states:::http:invoke (HTTP Task): Parameters ApiEndpoint, Method, Headers,
//    QueryParameters, RequestBody, Transform (RequestBodyEncoding, RequestEncodingOptions) as
//    AWS documents them; the result is {"Headers", "ResponseBody", "StatusCode", "StatusText"}.
//    A non-2xx answer fails with AWS's error name for it (States.Http.StatusCode.<code>).
//  - Lambda-style functions: arn:aws:lambda:...:function:NAME[:QUALIFIER] (the payload is POSTed,
//    the JSON answer is the result) and arn:aws:states:::lambda:invoke (FunctionName, Payload;
//    the result is {"ExecutedVersion", "Payload", "SdkHttpMetadata", "SdkResponseMetadata",
//    "StatusCode"} as AWS). The URL comes from the Registry; an unregistered function fails with
//    Lambda.ResourceNotFoundException. A function reports an error as AWS Lambda does: a body
//    {"errorType": "...", "errorMessage": "..."} with an error status (or the
//    X-Amz-Function-Error header): the task fails with errorType as the error name and the body
//    as the cause.
//  - Service integrations (arn:aws:states:::SERVICE:ACTION[suffix], aws-sdk:SERVICE:ACTION): POST
//    to the registered route with {"Service", "Action", "Resource", "IntegrationPattern",
//    "Parameters"}; a 2xx JSON answer is the result; errors as for functions.
//  - No connection, a broken answer, a 5xx without an error body -> States.TaskFailed (Lambda:
//    the Lambda error names AWS uses, e.g. Lambda.ServiceException); the call's own deadline
//    (TimeoutSeconds, capped as AWS caps each kind) -> States.Timeout.
//  Every request carries the execution's trace header (traceparent, or X-Amzn-Trace-Id for an
//  X-Ray header), and X-Stepd-Idempotency-Key: a stable key for the task attempt (derived from
//  its token, not the token itself) so a function can deduplicate an at-least-once delivery.
//
// Connections: keep-alive pools per endpoint (scheme, host and port), at most
// InvokerOptions::max_in_flight_per_endpoint calls in flight per endpoint (more wait in order).
//
// https:// endpoints and routes: TLS 1.2 or later, with SNI (the URL's host name; none for an IP
// address). The server's certificate must chain to the system's trust store or to
// InvokerOptions::tls_ca_file, and name the URL's host (a DNS name, or an IP address in its
// subjectAltName). A failed handshake fails the task as a connection failure does
// (States.TaskFailed; Lambda.SdkClientException for functions) with the cause "TLS handshake
// with <endpoint> failed: <why>", e.g. "certificate verify failed: hostname mismatch". The
// handshake counts against the call's deadline (States.Timeout when it passes first).
//
// Threads: invoke() and cancel() are thread-safe and never block; `done` is called once per
// invoke() (never after cancel() of that token, never after shutdown()), on an invoker thread.
#pragma once

#include "asl/core/error.hpp"
#include "engine/core/execution_core.hpp"
#include "engine/dispatch/registry.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace stepd::engine {

struct InvokerOptions {
  int threads = 1;                      // I/O threads
  int max_in_flight_per_endpoint = 64;  // calls in flight to one host:port
  std::chrono::milliseconds connect_timeout{5'000};
  // Deadlines when the Task sets no TimeoutSeconds (AWS: an HTTP Task ends after 60 s; a Lambda
  // function after 15 minutes at most).
  std::chrono::milliseconds http_task_timeout{60'000};
  std::chrono::milliseconds function_timeout{900'000};
  std::chrono::milliseconds service_timeout{900'000};
  // A PEM file of CA certificates trusted for https:// endpoints besides the system's trust
  // store; empty: the system's only.
  std::string tls_ca_file;
};

class HttpInvoker {
 public:
  using Done = std::function<void(asl::Outcome)>;

  // Throws std::runtime_error when options.tls_ca_file is set and cannot be loaded (the message
  // names the file and the reason).
  HttpInvoker(const Registry& registry, InvokerOptions options = {});
  ~HttpInvoker();  // shutdown()
  HttpInvoker(const HttpInvoker&) = delete;
  HttpInvoker& operator=(const HttpInvoker&) = delete;

  // Starts the call for `task` (its Resource is an http:invoke, a Lambda function or
  // lambda:invoke, or a service integration, any pattern). For .waitForTaskToken resources the
  // outcome is that of the call; the caller decides what a success means.
  void invoke(const TaskDispatch& task, Done done);
  // Abandons the call of `token` (the engine no longer waits for it).
  void cancel(const std::string& token);
  // Abandons every call and stops the I/O threads.
  void shutdown();

  // Calls in flight, for metrics and tests.
  std::size_t in_flight() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::engine
