#include "asl/step.hpp"

#include "asl/choice/timestamp.hpp"
#include "asl/states/pipeline.hpp"

#include <cassert>
#include <cmath>

namespace stepd::asl {

std::string_view type_name(StateType t) {
  switch (t) {
    case StateType::Pass: return "Pass";
    case StateType::Task: return "Task";
    case StateType::Choice: return "Choice";
    case StateType::Wait: return "Wait";
    case StateType::Succeed: return "Succeed";
    case StateType::Fail: return "Fail";
    case StateType::Parallel: return "Parallel";
    case StateType::Map: return "Map";
  }
  return "Unknown";
}

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

// Errors raised while evaluating a state's fields carry the prefix AWS puts on runtime errors.
StatesError with_prefix(const detail::StepEnv& env, StatesError e) {
  if (e.error == errors::kRuntime && e.cause.rfind("An error occurred", 0) != 0) {
    e.cause = env.error_prefix() + e.cause;
  }
  return e;
}

bool has_error_handling(StateType t) {
  return t == StateType::Task || t == StateType::Parallel || t == StateType::Map;
}

}  // namespace

Effect enter_state(const State& state, Json input, const StepContext& ctx) {
  assert(ctx.execution != nullptr && ctx.variables != nullptr);
  detail::StepEnv env(state, ctx);
  try {
    return std::visit(
        Overloaded{
            [&](const PassState& s) { return detail::enter_pass(env, s, input); },
            [&](const TaskState& s) { return detail::enter_task(env, s, input); },
            [&](const ChoiceState& s) { return detail::enter_choice(env, s, input); },
            [&](const WaitState& s) { return detail::enter_wait(env, s, input); },
            [&](const SucceedState&) { return detail::enter_succeed(env, input); },
            [&](const FailState& s) { return detail::enter_fail(env, s, input); },
            [&](const ParallelState& s) {
              return detail::enter_parallel(env, s, input);
            },
            [&](const MapState& s) { return detail::enter_map(env, s, input); },
        },
        state.body);
  } catch (const StatesException& e) {
    StatesError err = with_prefix(env, e.error());
    if (!has_error_handling(state.type)) return Failure{std::move(err)};
    return detail::handle_error(env, std::move(input), std::move(err));
  }
}

Effect complete_state(const State& state, Json input, Outcome outcome, const StepContext& ctx) {
  assert(ctx.execution != nullptr && ctx.variables != nullptr);
  detail::StepEnv env(state, ctx);
  if (auto* error = std::get_if<StatesError>(&outcome)) {
    return detail::handle_error(env, std::move(input), std::move(*error));
  }
  // Keep a copy of the input only when a failure after this point could need it for Catch.
  Json saved;
  if (!state.common.catchers.empty()) saved = input;
  try {
    return detail::finish_with_result(env, std::move(input), std::move(std::get<Json>(outcome)),
                                      /*use_selector=*/true);
  } catch (const StatesException& e) {
    return detail::handle_error(env, std::move(saved), with_prefix(env, e.error()));
  }
}

Json build_context_object(const State& state, const StepContext& ctx) {
  const ExecutionInfo& x = *ctx.execution;
  Json c = Json::object();
  Json& execution = c["Execution"];
  execution["Id"] = x.id;
  execution["Input"] = x.input;
  execution["Name"] = x.name;
  execution["RoleArn"] = x.role_arn;
  execution["StartTime"] = format_timestamp(x.start_time);
  execution["RedriveCount"] = x.redrive_count;
  Json& st = c["State"];
  st["EnteredTime"] = format_timestamp(ctx.entered_time);
  st["Name"] = state.name;
  st["RetryCount"] = ctx.retry_count;
  Json& sm = c["StateMachine"];
  sm["Id"] = x.state_machine_id;
  sm["Name"] = x.state_machine_name;
  if (ctx.task_token != nullptr) c["Task"]["Token"] = *ctx.task_token;
  return c;
}

bool error_matches(const std::vector<std::string>& error_equals, const std::string& error) {
  // AWS: States.Runtime is never caught; States.DataLimitExceeded only by its own name.
  for (const std::string& name : error_equals) {
    if (name == error) return error != errors::kRuntime;
    if (error == errors::kRuntime || error == errors::kDataLimitExceeded) continue;
    if (name == errors::kAll) return true;
    if (name == errors::kTaskFailed && error != errors::kTimeout) return true;
  }
  return false;
}

Json map_item_input(const State& map_state, const RunItems& run, std::size_t index,
                    const StepContext& ctx) {
  return map_item_input(map_state, run.items.at(index), index, run.effective_input, ctx);
}

Json map_item_input(const State& map_state, const Json& item, std::size_t index,
                    const Json& effective_input, const StepContext& ctx) {
  Json context;
  return map_item_input(map_state, item, index, effective_input, context, ctx);
}

Json map_item_input(const State& map_state, const Json& item, std::size_t index,
                    const Json& effective_input, Json& context, const StepContext& ctx) {
  assert(map_state.type == StateType::Map);
  const auto& map = std::get<MapState>(map_state.body);
  if (!map.item_selector) return item;
  detail::StepEnv env(map_state, ctx);
  if (context.is_null()) context = build_context_object(map_state, ctx);
  context["Map"]["Item"]["Index"] = index;
  context["Map"]["Item"]["Value"] = item;
  EvalContext e;
  e.input = &effective_input;
  e.context = &context;
  e.variables = ctx.variables;
  e.random = ctx.random;
  try {
    return map.item_selector->evaluate(e);
  } catch (const StatesException& ex) {
    throw StatesException(with_prefix(env, ex.error()));
  }
}

bool exceeds_tolerated_failures(const RunItems& run, std::size_t failed, std::size_t total) {
  if (failed == 0) return false;
  bool tolerated = false;
  if (run.tolerated_failure_count && static_cast<long long>(failed) <= *run.tolerated_failure_count) {
    tolerated = true;
  }
  if (run.tolerated_failure_percentage && total > 0) {
    double pct = 100.0 * static_cast<double>(failed) / static_cast<double>(total);
    if (pct <= *run.tolerated_failure_percentage) tolerated = true;
  }
  return !tolerated;
}

}  // namespace stepd::asl
