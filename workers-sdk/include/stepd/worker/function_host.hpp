// stepd::worker::FunctionHost: serves C++ handlers as push targets of Stepd (the function side of
// push tasks): an HTTP/1.1 server (keep-alive) whose routes the engine's task routing registry
// points at.
//
//   stepd::worker::FunctionHost host({.port = 9000});
//   host.handle("resize", [](const stepd::worker::Request& r) {
//     return nlohmann::json{{"width", r.input.at("width").get<int>() / 2}};
//   });
//   host.start();
//   client.put_route("function", "resize", host.url("resize"));   // a Lambda-style function
//   host.run_until_signal();
//
// Requests:
//  - POST /<name> runs the handler registered under <name>; POST / the one registered under "" (a
//    host serving a single function). The JSON body is Request::input (null when empty).
//  - Functions (arn:aws:lambda:...:function:NAME, arn:aws:states:::lambda:invoke): the body is the
//    task's payload.
//  - Service integrations (a "service" route, arn:aws:states:::SERVICE:ACTION or
//    arn:aws:states:::aws-sdk:SERVICE:ACTION): the engine POSTs {"Service", "Action", "Resource",
//    "IntegrationPattern", "Parameters"}, and that object is what the handler registered for the
//    route's path receives as Request::input.
//  - The headers X-Stepd-Idempotency-Key (stable per task attempt: deduplicate on it), traceparent
//    (or X-Amzn-Trace-Id), X-Stepd-Execution-Arn and X-Stepd-State are given in Request; every
//    header is in Request::headers.
//  - GET /healthz answers 200 {"status":"ok"} (for probes), unless a handler is named "healthz".
//
// Answers (what the engine, like an AWS Lambda caller, expects):
//  - 200 with the handler's JSON result.
//  - A handler exception: 500 with X-Amz-Function-Error: Unhandled and the body {"errorType":
//    "<error>", "errorMessage": "<cause>"}, where error and cause are those of
//    current_exception_report() (a TaskFailure's own, else the exception's type name and what()).
//    The engine fails the task with errorType as the error name, so Retry/Catch match it.
//  - No handler for the path: 404 {"errorType": "Lambda.ResourceNotFoundException", "errorMessage":
//    ...} (AWS's name when a function does not exist).
//  - A body that is not JSON: 400 {"errorType": "InvalidRequestContentException", ...}; a body over
//    max_body_bytes: 413; a method other than POST: 405 with Allow: POST.
//
// Threads: `threads` I/O threads; a handler runs on one of them for the time of its request, so at
// most `threads` handlers run at once; handlers must be thread-safe. handle() may be called before
// or after start(). stop() waits for requests in progress (up to shutdown_timeout).
#pragma once

#include "stepd/worker/error.hpp"
#include "stepd/worker/worker.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stepd::worker {

// One call of a function handler.
struct Request {
  std::string function{};         // the name in the path ("" for POST /)
  nlohmann::json input{};         // the JSON body; null when the body is empty
  std::string idempotency_key{};  // X-Stepd-Idempotency-Key ("" when absent)
  std::string traceparent{};      // traceparent, else X-Amzn-Trace-Id ("" when absent)
  std::string execution_arn{};    // X-Stepd-Execution-Arn
  std::string state{};            // X-Stepd-State: the Task state's name
  std::vector<std::pair<std::string, std::string>> headers{};  // every header, names lowercased

  // The value of header `name` (any case), "" when absent.
  std::string header(std::string_view name) const;
};

using FunctionHandler = std::function<nlohmann::json(const Request &)>;

struct FunctionHostOptions {
  std::string address = "127.0.0.1";
  unsigned short port = 0;  // 0: any free port (port() tells which)
  int threads = 4;
  std::size_t max_body_bytes = 6 * 1024 * 1024;
  std::chrono::milliseconds idle_timeout{75'000};  // a kept-alive connection left unused
  std::chrono::milliseconds read_timeout{30'000};  // receiving one request
  std::chrono::milliseconds shutdown_timeout{30'000};
  Logger log = stderr_logger();
};

struct FunctionHostStats {
  std::uint64_t requests = 0;     // requests answered
  std::uint64_t errors = 0;       // answered with a handler error (500)
  std::uint64_t connections = 0;  // connections accepted
};

class FunctionHost {
 public:
  explicit FunctionHost(FunctionHostOptions options = {});
  ~FunctionHost();  // stop()
  FunctionHost(const FunctionHost &) = delete;
  FunctionHost &operator=(const FunctionHost &) = delete;

  // Serves `handler` at POST /<name> ("" for POST /); replaces a handler of the same name. Throws
  // std::invalid_argument for a name with '/', '?', '#', '%' or whitespace.
  void handle(std::string name, FunctionHandler handler);
  // Binds, listens and starts the threads. Throws std::system_error when it cannot bind.
  void start();
  // The port it listens on (after start()).
  unsigned short port() const;
  // http://ADDRESS:PORT/<name>: the URL to register as a route (after start()).
  std::string url(std::string_view name = "") const;
  // Stops accepting, closes idle connections, lets requests in progress finish (up to
  // shutdown_timeout), and joins the threads. Idempotent.
  void stop();
  // Blocks until stop() has finished (from another thread).
  void wait();
  // start() (unless started), then serves until SIGTERM or SIGINT, then stop(). Returns the signal
  // number. One run_until_signal() at a time in a process.
  int run_until_signal();

  FunctionHostStats stats() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::worker
