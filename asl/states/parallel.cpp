// Parallel: every branch runs with the same input (InputPath, then Parameters); the result is
// the array of branch outputs, through ResultSelector, ResultPath and OutputPath.
#include "asl/states/pipeline.hpp"

namespace stepd::asl::detail {

Effect enter_parallel(StepEnv& env, const ParallelState&, Json& input) {
  Json branch_input = apply_parameters(env, apply_input_path(env, input)).take();
  return RunBranches{std::move(branch_input), std::move(input)};
}

}  // namespace stepd::asl::detail
