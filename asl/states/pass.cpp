// Pass: the result is Result, or Parameters applied to the effective input, or the effective
// input itself; then ResultPath, OutputPath, Assign.
#include "asl/states/pipeline.hpp"

namespace stepd::asl::detail {

Effect enter_pass(StepEnv& env, const PassState& s, Json& input) {
  const CommonFields& c = env.state().common;
  if (s.result) return finish_with_result(env, std::move(input), *s.result, false);
  if (!c.parameters && !c.input_path.path && !c.input_path.is_null && !c.result_path.path &&
      !c.result_path.is_null) {
    // The result is the input and replaces it: no copy at all.
    Json result = std::move(input);
    return finish_with_result(env, Json(), std::move(result), false);
  }
  Json result = apply_parameters(env, apply_input_path(env, input)).take();
  return finish_with_result(env, std::move(input), std::move(result), false);
}

}  // namespace stepd::asl::detail
