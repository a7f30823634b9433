// Errors of the Stepd workers SDK.
//
//  - stepd::worker::Error: what every Client call throws when it does not succeed. Either the
//    server answered an error (kind() == ErrorKind::Server: code() is the AWS error name such as
//    "ExecutionDoesNotExist", status() the HTTP status), or the call never got an answer (a
//    transport kind: Connect, Timeout, Disconnected, Protocol, Cancelled; status() is 0).
//  - stepd::worker::TaskFailure: thrown by a Worker or FunctionHost handler to fail its task with
//    an error name and cause of its choosing.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace stepd::worker {

enum class ErrorKind {
  Server,        // the server answered an error status; code(), message(), status()
                 // tell it
  Connect,       // no connection: refused, unreachable, name not resolved, bad
                 // endpoint
  Timeout,       // connecting or the request took longer than its time-out
  Disconnected,  // the connection broke before the whole answer came
  Protocol,      // an answer that is not HTTP or not the JSON it should be
  Cancelled,     // the caller's std::stop_token asked the call to stop
};

// "Server", "Connect", ...
const char *to_string(ErrorKind kind);

class Error : public std::runtime_error {
 public:
  // what() is "<code>: <message>" for server errors ("ExecutionDoesNotExist: Execution Does Not
  // Exist: 'arn:...'"), "<kind>: <message>" for transport errors ("Timeout: no answer from
  // 127.0.0.1:8080 within 2000 ms").
  Error(ErrorKind kind, std::string code, std::string message, int status = 0,
        std::string request_id = {}, nlohmann::json body = {});

  ErrorKind kind() const { return kind_; }
  // True for every kind but Server: the call may not have reached the server (Connect) or its
  // effect is unknown (Timeout, Disconnected).
  bool is_transport() const { return kind_ != ErrorKind::Server; }
  // The AWS error name, without namespace prefix ("InvalidArn", "StateMachineDoesNotExist"; REST
  // calls: the body's "code"). Transport errors: the kind's name ("Timeout").
  const std::string &code() const { return code_; }
  const std::string &message() const { return message_; }
  int status() const { return status_; }  // HTTP status; 0 for transport errors
  // x-amzn-RequestId of the answer ("" when none): matches stepd's access log.
  const std::string &request_id() const { return request_id_; }
  // The error answer's JSON body (e.g. "resourceName" of ResourceNotFound, "problems" of a REST
  // InvalidDefinition); null when there was none.
  const nlohmann::json &body() const { return body_; }
  // Worth retrying the same call later: transport errors (but Cancelled), and the server's
  // ServiceUnavailable, ThrottlingException and 5xx answers.
  bool retryable() const;

 private:
  ErrorKind kind_;
  std::string code_;
  std::string message_;
  int status_;
  std::string request_id_;
  nlohmann::json body_;
};

// Thrown by a handler (Worker or FunctionHost) to fail its task with `error` as the error name
// (what Retry/Catch match, e.g. "Payment.Declined") and `cause` as the cause.
class TaskFailure : public std::runtime_error {
 public:
  TaskFailure(std::string error, std::string cause);
  const std::string &error() const { return error_; }
  const std::string &cause() const { return cause_; }

 private:
  std::string error_;
  std::string cause_;
};

// The error name and cause a handler's exception stands for, as the Worker and the FunctionHost
// report it. Call inside a catch block (it looks at the exception being handled):
//  - TaskFailure: its error() and cause();
//  - any other exception: the demangled name of its dynamic type, fully qualified
//    ("std::runtime_error", "shop::CardDeclined"; AWS's SDK workers report the class name the same
//    way) and what() for std::exception (else "");
//  - a thrown non-class value: its type name ("int"), cause "".
struct FailureReport {
  std::string error{};
  std::string cause{};
};
FailureReport current_exception_report();

}  // namespace stepd::worker
