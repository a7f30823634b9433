// Choice: the first rule that matches picks the next state (and its Assign); else Default (and
// the state-level Assign); else States.NoChoiceMatched.
#include "asl/states/pipeline.hpp"

namespace stepd::asl::detail {

namespace {

Effect take_branch(StepEnv& env, JsonRef& effective, Json& input, const State* next,
                   const std::optional<PayloadTemplate>& assign) {
  Json assigned;
  if (assign) assigned = assign->evaluate(env.eval(effective.get()));
  Json output = apply_output_path(env, effective.take_from(input));
  if (assign) {
    for (auto& [name, v] : assigned.items()) env.ctx().variables->set(name, std::move(v));
  }
  return Transition{next, std::move(output), nullptr};
}

}  // namespace

Effect enter_choice(StepEnv& env, const ChoiceState& s, Json& input) {
  JsonRef effective = apply_input_path(env, input);
  EvalContext e = env.eval(effective.get());
  for (const ChoiceBranch& b : s.choices) {
    if (b.rule.evaluate(e)) return take_branch(env, effective, input, b.next, b.assign);
  }
  if (s.default_state != nullptr) {
    return take_branch(env, effective, input, s.default_state, env.state().common.assign);
  }
  // AWS: the execution fails; a Choice state has no Catch.
  return Failure{StatesError{std::string(errors::kNoChoiceMatched),
                             "No Matches!"}};
}

}  // namespace stepd::asl::detail
