// The parts of a state's run that every type shares, written once: the evaluation environment,
// the I/O pipeline (InputPath, ResultSelector, ResultPath, OutputPath, Assign) and error
// handling (Retry, Catch). Internal to asl/; the per-type files in this folder build on it.
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/eval.hpp"
#include "asl/machine.hpp"
#include "asl/step.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace stepd::asl::detail {

// A value that is either borrowed from a document or owned: the result of InputPath on a
// definite path borrows, an indefinite path or InputPath null owns.
class JsonRef {
 public:
  explicit JsonRef(const Json* borrowed) : ptr_(borrowed) {}
  explicit JsonRef(Json owned) : owned_(std::move(owned)), ptr_(nullptr) {}
  const Json& get() const { return ptr_ ? *ptr_ : owned_; }
  // A copy, or the owned value moved out.
  Json take() { return ptr_ ? *ptr_ : std::move(owned_); }
  // Like take(), but when this borrows `source` itself, moves `source` out instead of copying.
  Json take_from(Json& source) { return ptr_ == &source ? std::move(source) : take(); }

 private:
  Json owned_;
  const Json* ptr_;
};

// What the expressions of one state see during one step. Builds the context object ($$) on
// first use only, and only for states that read it.
class StepEnv {
 public:
  StepEnv(const State& state, const StepContext& ctx) : state_(state), ctx_(ctx) {}

  const State& state() const { return state_; }
  const StepContext& ctx() const { return ctx_; }

  // An EvalContext whose "$" is `input`.
  EvalContext eval(const Json& input);

  // "An error occurred while executing the state 'S' (entered at the event id #N). "
  std::string error_prefix() const;
  // Throws States.Runtime with the prefix and `detail`.
  [[noreturn]] void runtime_error(const std::string& detail) const;

 private:
  const State& state_;
  const StepContext& ctx_;
  std::optional<Json> context_;
};

// InputPath applied to the raw input. AWS: null selects {}.
JsonRef apply_input_path(StepEnv& env, const Json& raw_input);

// Parameters (when present) applied to the effective input; else the effective input itself.
JsonRef apply_parameters(StepEnv& env, JsonRef effective);

// ResultPath: merges `result` into `raw_input` (consumed) and returns the combined value.
Json apply_result_path(StepEnv& env, const ResultPathSpec& spec, Json raw_input, Json result);

// OutputPath applied to `value` (consumed). AWS: null gives {}.
Json apply_output_path(StepEnv& env, Json value);

// Evaluates an Assign template with "$" = `value` and writes the variables (all expressions
// read the variables as they were on entry, then all are written).
void apply_assign(StepEnv& env, const PayloadTemplate& assign, const Json& value);

// The common tail of Pass, Task, Parallel and Map once the result is known:
// ResultSelector (when `use_selector`), Assign, ResultPath, OutputPath, then Next or End.
Effect finish_with_result(StepEnv& env, Json raw_input, Json result, bool use_selector);

// Next or End with `output`.
Transition transition(const State& state, Json output);

// Retry, then Catch, then fail the scope. `raw_input` is the state's input.
Effect handle_error(StepEnv& env, Json raw_input, StatesError error);

// Resolves a number-or-path field (TimeoutSecondsPath, MaxConcurrencyPath, ...) at run time.
// `field` is the path field's name for error causes.
std::optional<double> resolve_number(StepEnv& env, const ValueOrPath<double>& v,
                                     const Json& input, std::string_view field);

// Per-type entry (asl/states/<type>.cpp). `input` is the raw input; an entry function moves
// from it only once nothing it does can throw any more, so that on a StatesException the caller
// still has the input for Retry and Catch.
Effect enter_pass(StepEnv& env, const PassState& s, Json& input);
Effect enter_task(StepEnv& env, const TaskState& s, Json& input);
Effect enter_choice(StepEnv& env, const ChoiceState& s, Json& input);
Effect enter_wait(StepEnv& env, const WaitState& s, Json& input);
Effect enter_succeed(StepEnv& env, Json& input);
Effect enter_fail(StepEnv& env, const FailState& s, Json& input);
Effect enter_parallel(StepEnv& env, const ParallelState& s, Json& input);
Effect enter_map(StepEnv& env, const MapState& s, Json& input);

}  // namespace stepd::asl::detail
