// The in-memory runner: runs one execution of a machine to its end with no server and no
// database (stepctl run-local; later the base of EXPRESS executions). It drives the pure step
// function of asl/, performs the effects itself (timers, Lambda-style HTTP calls, branches and
// Map iterations run concurrently on one event loop), and records the history events AWS would.
//
// Threads: run_local is synchronous and runs its own single-threaded event loop; concurrent
// calls from different threads are independent.
#pragma once

#include "asl/core/json.hpp"
#include "asl/core/error.hpp"
#include "asl/machine.hpp"

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace stepd::engine {

using asl::Json;

// Serves a Task in-process (tests, benchmarks): gets the Resource and the payload, returns the
// result or an error. Called on the runner's thread.
using TaskHandler = std::function<std::variant<Json, asl::StatesError>(
    const std::string& resource, const Json& payload)>;

struct LocalRunOptions {
  bool virtual_time = false;  // Wait and Retry back-off complete at once, the clock jumps
  // Lambda function name -> URL that receives the input as a JSON POST body.
  std::map<std::string, std::string> functions;
  TaskHandler task_handler;  // when set, serves every Task instead of HTTP
  std::string region = "local";
  std::string account = "000000000000";
  std::string state_machine_name = "local";
  std::string execution_name;      // empty: a generated UUID
  std::optional<std::uint64_t> seed;  // randomness (jitter, UUID, MathRandom); empty: random
  bool record_history = true;      // keep history events (false for benchmarks)
};

struct LocalRunResult {
  std::string status;   // "SUCCEEDED", "FAILED" or "TIMED_OUT"
  Json output;          // SUCCEEDED only
  std::optional<std::string> error;  // FAILED / TIMED_OUT
  std::optional<std::string> cause;
  long long states_entered = 0;      // transitions, nested ones included
  std::vector<Json> history;         // AWS-shaped history events, when recorded
};

LocalRunResult run_local(const asl::Machine& machine, const Json& input,
                         const LocalRunOptions& options = {});

}  // namespace stepd::engine
