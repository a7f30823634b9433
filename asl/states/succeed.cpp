// Succeed: the scope ends; the output is the effective input through OutputPath.
#include "asl/states/pipeline.hpp"

namespace stepd::asl::detail {

Effect enter_succeed(StepEnv& env, Json& input) {
  JsonRef effective = apply_input_path(env, input);
  return Transition{nullptr, apply_output_path(env, effective.take_from(input)), nullptr};
}

}  // namespace stepd::asl::detail
