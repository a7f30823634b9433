// A state machine definition, compiled: one struct per state type, every path, template,
// intrinsic call and Choice rule already parsed, every Next resolved to a State pointer.
//
// Build one with load_definition() (definition.hpp). A Machine is immutable after loading and
// may be shared between threads. States of Parallel branches and Map processors are nested
// Machines, each its own scope of state names.
#pragma once

#include "asl/choice/choice_rule.hpp"
#include "asl/core/json.hpp"
#include "asl/expr/intrinsics.hpp"
#include "asl/expr/payload.hpp"
#include "asl/path/path.hpp"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

namespace stepd::asl {

struct State;
struct Machine;

// A number or a path that yields it at run time (TimeoutSeconds / TimeoutSecondsPath, ...).
template <typename T>
struct ValueOrPath {
  std::optional<T> value;
  std::optional<Path> path;
  bool present() const { return value.has_value() || path.has_value(); }
};

// InputPath / OutputPath: absent means "$"; null means {} (AWS: "null" discards the input).
struct IoPath {
  std::optional<Path> path;  // unset: identity ("$") unless is_null
  bool is_null = false;
};

// ResultPath: absent means "$" (the result replaces the input); null discards the result.
struct ResultPathSpec {
  std::optional<Path> path;  // reference path; unset: "$" unless is_null
  bool is_null = false;
};

enum class JitterStrategy { None, Full };

struct Retrier {
  std::string pointer;               // "/States/Pay/Retry/0"
  std::vector<std::string> errors;   // ErrorEquals
  double interval_seconds = 1.0;     // IntervalSeconds
  int max_attempts = 3;              // MaxAttempts (0: never retry)
  double backoff_rate = 2.0;         // BackoffRate
  std::optional<double> max_delay_seconds;  // MaxDelaySeconds
  JitterStrategy jitter = JitterStrategy::None;
};

struct Catcher {
  std::string pointer;               // "/States/Pay/Catch/0"
  std::vector<std::string> errors;   // ErrorEquals
  std::string next_name;             // Next
  const State* next = nullptr;       // resolved
  ResultPathSpec result_path;        // default "$": the error output replaces the input
  std::optional<PayloadTemplate> assign;
};

// Fields shared by several state types. Which ones a type may have is checked at load time;
// here they are simply absent when not allowed.
struct CommonFields {
  std::string comment;
  IoPath input_path;
  IoPath output_path;
  ResultPathSpec result_path;
  std::optional<PayloadTemplate> parameters;       // Parameters
  std::optional<PayloadTemplate> result_selector;  // ResultSelector
  std::optional<PayloadTemplate> assign;           // Assign
  std::vector<Retrier> retry;
  std::vector<Catcher> catchers;
  std::string next_name;       // Next (empty when End or a terminal type)
  const State* next = nullptr; // resolved Next
  bool end = false;            // End: true (Succeed and Fail end implicitly)
};

struct PassState {
  std::optional<Json> result;  // Result (copied as written, never a template)
};

// Stepd extension: the "Compensate" field of a Task state (docs/saga.md). The action that
// undoes the task; the engine runs it when the execution fails after the task succeeded. Its "$"
// is {"Input": <the payload the task was given>, "Output": <the task's result>} and its "$$" the
// context object of the compensated state (State.Name is the task's name, Task.Token the
// compensation's own token). Variables ($name) cannot be read: the scope is gone by then.
struct Compensation {
  std::string pointer;                       // "/States/Pay/Compensate"
  std::string resource;                      // Resource ARN, as written (checked like a Task's)
  std::optional<PayloadTemplate> parameters; // Parameters ("$" as above); absent: "$" itself
  std::vector<Retrier> retry;                // Retry
  std::optional<double> timeout_seconds;     // TimeoutSeconds (no default: none)
  std::optional<double> heartbeat_seconds;   // HeartbeatSeconds (< TimeoutSeconds)
  std::string comment;                       // Comment
  bool uses_context = false;                 // Parameters read "$$"
};

struct TaskState {
  std::string resource;  // Resource ARN, as written
  ValueOrPath<double> timeout_seconds;    // TimeoutSeconds / TimeoutSecondsPath (default 99999999)
  ValueOrPath<double> heartbeat_seconds;  // HeartbeatSeconds / HeartbeatSecondsPath
  std::optional<Json> credentials;        // Credentials (accepted, not used)
  std::optional<Compensation> compensate;  // Stepd extension: Compensate
};

struct ChoiceBranch {
  std::string pointer;  // "/States/Check/Choices/0"
  ChoiceRule rule;
  std::string next_name;
  const State* next = nullptr;
  std::optional<PayloadTemplate> assign;
};

struct ChoiceState {
  std::vector<ChoiceBranch> choices;
  std::string default_name;        // Default ("" when absent)
  const State* default_state = nullptr;
};

struct WaitState {
  std::optional<double> seconds;          // Seconds
  std::optional<Path> seconds_path;       // SecondsPath
  std::optional<TimePoint> timestamp;     // Timestamp (parsed at load)
  std::optional<Path> timestamp_path;     // TimestampPath
};

struct SucceedState {};

struct FailState {
  std::optional<std::string> error;  // Error
  std::optional<Path> error_path;    // ErrorPath (path or intrinsic; see error_call)
  std::optional<std::string> cause;  // Cause
  std::optional<Path> cause_path;    // CausePath
  std::optional<IntrinsicCall> error_call;  // ErrorPath given as an intrinsic call
  std::optional<IntrinsicCall> cause_call;  // CausePath given as an intrinsic call
};

struct ParallelState {
  std::vector<std::unique_ptr<Machine>> branches;
};

enum class MapMode { Inline, Distributed };

struct MapState {
  std::unique_ptr<Machine> processor;  // ItemProcessor or the legacy Iterator
  MapMode mode = MapMode::Inline;      // ProcessorConfig.Mode
  std::string execution_type;          // ProcessorConfig.ExecutionType (DISTRIBUTED only)
  std::optional<Path> items_path;      // ItemsPath (default "$")
  std::optional<Json> items;           // Items: a literal array (JSONPath mode)
  std::optional<PayloadTemplate> item_selector;  // ItemSelector, or the legacy Parameters
  std::optional<Json> item_reader;     // ItemReader (kept as written)
  std::optional<Json> item_batcher;    // ItemBatcher (kept as written)
  std::optional<Json> result_writer;   // ResultWriter (kept as written)
  ValueOrPath<long long> max_concurrency;             // MaxConcurrency[Path]; 0 = unlimited
  ValueOrPath<double> tolerated_failure_percentage;   // ToleratedFailurePercentage[Path]
  ValueOrPath<long long> tolerated_failure_count;     // ToleratedFailureCount[Path]
  std::string label;                                  // Label
};

using StateBody = std::variant<PassState, TaskState, ChoiceState, WaitState, SucceedState,
                               FailState, ParallelState, MapState>;

enum class StateType { Pass, Task, Choice, Wait, Succeed, Fail, Parallel, Map };

// "Pass", "Task", ... as in the Type field and in history event names.
std::string_view type_name(StateType t);

struct State {
  std::string name;
  std::string pointer;   // "/States/Pay" (nested: "/States/Fork/Branches/0/States/A")
  StateType type = StateType::Pass;
  CommonFields common;
  StateBody body;
  // Precomputed at load: whether any field of this state reads "$$" / variables, so the step
  // function builds the context object only when it is needed.
  bool uses_context = false;
  bool uses_variables = false;
  const Machine* owner = nullptr;  // the machine (scope) this state belongs to
};

struct Machine {
  std::string pointer;   // "" for the top level; "/States/Fork/Branches/0" for a branch
  std::string comment;
  std::string start_at;
  const State* start = nullptr;
  std::optional<long long> timeout_seconds;  // top level only
  std::string version;                       // Version
  std::string query_language = "JSONPath";
  // States in definition order; pointers stay valid for the machine's lifetime.
  std::vector<std::unique_ptr<State>> states;
  std::unordered_map<std::string, State*> by_name;

  const State* find(std::string_view name) const {
    auto it = by_name.find(std::string(name));
    return it == by_name.end() ? nullptr : it->second;
  }
};

}  // namespace stepd::asl
