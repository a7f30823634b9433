// The in-memory runner: runs one execution of a machine to its end with no server and no
// database (stepctl run-local; later the base of EXPRESS executions). It drives the pure step
// function of asl/, performs the effects itself (timers, Lambda-style HTTP calls, branches and
// Map iterations run concurrently on one event loop), and records the history events AWS would.
//
// Threads: run_local is synchronous and runs its own single-threaded event loop; concurrent
// calls from different threads are independent.
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"
#include "asl/machine.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace stepd::engine {

using asl::Json;

// Serves a Task in-process (tests, benchmarks): gets the Resource as written and the payload
// (the effective Parameters), returns the task result as is (no Lambda wrapping) or an error
// (Retry and Catch apply). Called on the runner's thread; it blocks the runner while it runs.
using TaskHandler = std::function<std::variant<Json, asl::StatesError>(const std::string& resource,
                                                                       const Json& payload)>;

struct LocalRunOptions {
  // Wait and Retry back-off complete at once, the clock jumps: timers fire in time order as soon
  // as nothing else (an HTTP task) is in flight. Task timeouts stay in real time.
  bool virtual_time = false;
  // With virtual_time: where the clock starts (default: the real time at start).
  std::optional<asl::TimePoint> start_time;
  // Lambda function -> URL (http:// only) that receives the payload as a JSON POST body. Keys
  // are matched as "NAME:QUALIFIER", then "NAME", then the FunctionName/ARN as written.
  //  - arn:aws:lambda:...:function:NAME[:QUALIFIER]: the payload is the effective Parameters
  //    (or input); the JSON response body is the result.
  //  - arn:aws:states:::lambda:invoke: Parameters.FunctionName names the function,
  //    Parameters.Payload is posted; the result is AWS's invocation response
  //    {"ExecutedVersion", "Payload": <body>, "SdkHttpMetadata", "SdkResponseMetadata",
  //    "StatusCode"}.
  // A non-2xx status, an X-Amz-Function-Error header or a body {"errorType", "errorMessage"} is
  // a task failure named errorType whose cause is the body (AWS: the Lambda error payload);
  // other HTTP errors and no connection -> States.TaskFailed; TimeoutSeconds exceeded ->
  // States.Timeout; no URL for the function -> Lambda.ResourceNotFoundException. Other
  // resources (activities, other integrations, callback patterns) fail with States.TaskFailed
  // unless task_handler serves them.
  std::map<std::string, std::string> functions;
  TaskHandler task_handler;  // when set, serves every Task instead of HTTP
  std::string region = "local";
  std::string account = "000000000000";
  std::string state_machine_name = "local";
  std::string execution_name;         // empty: a generated UUID
  std::optional<std::uint64_t> seed;  // randomness (jitter, UUID, MathRandom); empty: random
  bool record_history = true;         // keep history events (false for benchmarks)
};

struct LocalRunResult {
  std::string status;                // "SUCCEEDED", "FAILED" or "TIMED_OUT"
  Json output;                       // SUCCEEDED only
  std::optional<std::string> error;  // FAILED / TIMED_OUT; absent when AWS would give none
  std::optional<std::string> cause;
  long long states_entered = 0;  // transitions, nested ones included (not retries)
  // AWS-shaped history events, when recorded: {"id", "previousEventId", "timestamp", "type",
  // "<type>EventDetails"}; ids contiguous from 1; input/output/parameters as JSON text as AWS
  // gives them. Iterations of a DISTRIBUTED Map are child executions: their events are not in
  // this history (AWS: MapRunStarted / MapRunSucceeded stand for them).
  std::vector<Json> history;
  asl::TimePoint start_time{};  // execution start and end on the runner's clock (virtual or real)
  asl::TimePoint end_time{};
};

// Runs `machine` with `input` to its end. Never throws for anything the definition, the input or
// a task does: those end as FAILED / TIMED_OUT results.
LocalRunResult run_local(const asl::Machine& machine, const Json& input,
                         const LocalRunOptions& options = {});

}  // namespace stepd::engine
