// The pure transition function of the Amazon States Language.
//
// Given a compiled state, its raw input and a StepContext (clock, randomness, variables and
// execution identity all passed in), these functions return the Effect that happens next. They
// do no I/O, read no clock, start no thread and touch no global: the engine (or the in-memory
// runner) performs the effect and, for effects that need work done (a task, branches, items, a
// wait), later reports the outcome back through complete_state.
//
// Input flows by value: the raw state input is moved in and travels inside the effect while the
// state waits, so a runner keeps exactly one copy of it.
//
// Errors: every failure while a state runs (a path that matches nothing, a task error, an
// intrinsic failure) is handled here by the state's Retry and Catch. What is left becomes a
// Failure effect: the scope (execution, Parallel branch, Map iteration) fails with that error.
#pragma once

#include "asl/core/error.hpp"
#include "asl/core/eval.hpp"
#include "asl/core/json.hpp"
#include "asl/machine.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace stepd::asl {

// Who is running: the values of $$.Execution and $$.StateMachine.
struct ExecutionInfo {
  std::string id;           // execution ARN
  std::string name;
  std::string role_arn;
  TimePoint start_time{};
  std::string state_machine_id;    // state machine ARN
  std::string state_machine_name;
  Json input;               // the execution's input
  int redrive_count = 0;
};

struct StepContext {
  const ExecutionInfo* execution = nullptr;  // REQUIRES: not null
  TimePoint now{};                 // the current time (injected clock)
  TimePoint entered_time{};        // when the state was entered ($$.State.EnteredTime)
  long long entered_event_id = 0;  // id of the StateEntered history event (cited in causes)
  int retry_count = 0;             // $$.State.RetryCount: retries of this state so far
  // Attempts made so far by each retrier of the state (index = Retry position). The runner owns
  // it for the lifetime of one state visit (reset on every new entry of the state); the step
  // function increments the counter of the retrier it applies.
  std::vector<int>* retry_attempts = nullptr;  // REQUIRES: not null for states with Retry
  const std::string* task_token = nullptr;     // $$.Task.Token, when the task has one
  VariableScope* variables = nullptr;          // REQUIRES: not null; Assign writes here
  RandomSource* random = nullptr;              // REQUIRES: not null (jitter, UUID, MathRandom)
};

// Go to `next` with `output`; next == nullptr means the scope ends here with `output`
// (End: true, Succeed). `caught` is the catcher taken when the transition follows a Catch.
struct Transition {
  const State* next = nullptr;
  Json output;
  const Catcher* caught = nullptr;
};

// The scope fails with this error (nothing caught it).
struct Failure {
  StatesError error;
};

// Wait until `until`, then perform `then`.
struct WaitEffect {
  TimePoint until{};
  Transition then;
};

// Run a task: send `payload` to `resource`. Report the result or error with complete_state.
struct RunTask {
  std::string resource;
  Json payload;
  std::optional<double> timeout_seconds;    // resolved TimeoutSeconds[Path]
  std::optional<double> heartbeat_seconds;  // resolved HeartbeatSeconds[Path]
  Json state_input;                         // the raw input, to pass back to complete_state
};

// Run every branch of the ParallelState with `branch_input`. Report an array of the branch
// outputs in branch order, or the first branch error, with complete_state.
struct RunBranches {
  Json branch_input;
  Json state_input;
};

// Run the Map processor once per element of `items`; build each iteration's input with
// map_item_input. Report the array of iteration outputs in item order, or an error, with
// complete_state (use exceeds_tolerated_failures to decide whether failures fail the state).
struct RunItems {
  Json items;                  // the array selected by ItemsPath / Items
  Json effective_input;        // the state's input after InputPath ("$" of ItemSelector)
  long long max_concurrency = 0;  // 0: no limit
  std::optional<long long> tolerated_failure_count;
  std::optional<double> tolerated_failure_percentage;
  Json state_input;
};

// Enter the same state again, with `state_input`, after `delay` (a Retry applies).
struct RetryAfter {
  std::chrono::microseconds delay{0};
  StatesError error;  // the error being retried
  Json state_input;
};

using Effect = std::variant<Transition, Failure, WaitEffect, RunTask, RunBranches, RunItems,
                            RetryAfter>;

// What a task, the branches or the items produced.
using Outcome = std::variant<Json, StatesError>;

// Enters `state` with its raw `input`.
Effect enter_state(const State& state, Json input, const StepContext& ctx);

// Reports the outcome of the work a RunTask / RunBranches / RunItems effect asked for.
// `input` is the state_input that effect carried.
Effect complete_state(const State& state, Json input, Outcome outcome, const StepContext& ctx);

// The input of Map iteration `index`: ItemSelector (or legacy Parameters) applied with
// $$.Map.Item.Index / Value, or the item itself when there is no selector.
// Throws StatesException on a selector error (the runner fails the Map state with it).
Json map_item_input(const State& map_state, const RunItems& run, std::size_t index,
                    const StepContext& ctx);
// The same for a runner that keeps the items itself: `item` is element `index` of the items and
// `effective_input` the RunItems' effective_input.
Json map_item_input(const State& map_state, const Json& item, std::size_t index,
                    const Json& effective_input, const StepContext& ctx);
// The same with a context object kept by the caller across the items of one Map run: built on
// the first call (when `context` is null), then only its "Map.Item" member changes. This saves
// copying the execution input (part of "$$") for every item of a large Map.
Json map_item_input(const State& map_state, const Json& item, std::size_t index,
                    const Json& effective_input, Json& context, const StepContext& ctx);

// Whether `failed` failures out of `total` iterations exceed the Map's tolerance.
bool exceeds_tolerated_failures(const RunItems& run, std::size_t failed, std::size_t total);

// The context object ($$) for `state` as AWS builds it.
Json build_context_object(const State& state, const StepContext& ctx);

// Whether an error name is matched by an ErrorEquals list (States.ALL matches everything but
// States.Runtime's uncatchable cases; States.TaskFailed matches every error but States.Timeout).
bool error_matches(const std::vector<std::string>& error_equals, const std::string& error);

}  // namespace stepd::asl
