// Fail: the scope fails with Error/ErrorPath and Cause/CausePath (paths read the raw input).
#include "asl/states/pipeline.hpp"

namespace stepd::asl::detail {

namespace {

std::string resolve_text(StepEnv& env, const std::optional<std::string>& literal,
                         const std::optional<Path>& path, const std::optional<IntrinsicCall>& call,
                         const Json& input, std::string_view field) {
  if (literal) return *literal;
  std::optional<Json> v;
  std::string expr;
  if (call) {
    v = call->evaluate(env.eval(input), field);
    expr = call->text();
  } else if (path) {
    v = path->evaluate(env.eval(input));
    expr = path->text();
  } else {
    return {};
  }
  if (!v) env.runtime_error(path->not_found_cause(field, input));
  if (!v->is_string()) {
    env.runtime_error("The value of the field '" + std::string(field) +
                      "' must be a string, but '" + expr + "' gave " + dump_compact(*v));
  }
  return v->get<std::string>();
}

}  // namespace

Effect enter_fail(StepEnv& env, const FailState& s, Json& input) {
  StatesError e;
  e.error = resolve_text(env, s.error, s.error_path, s.error_call, input, "ErrorPath");
  e.cause = resolve_text(env, s.cause, s.cause_path, s.cause_call, input, "CausePath");
  return Failure{std::move(e)};
}

}  // namespace stepd::asl::detail
