// Task: InputPath and Parameters make the payload; the engine runs it and reports back through
// complete_state, where ResultSelector, ResultPath, OutputPath, Assign, Retry and Catch apply.
#include "asl/states/pipeline.hpp"

namespace stepd::asl::detail {

Effect enter_task(StepEnv& env, const TaskState& s, Json& input) {
  JsonRef effective = apply_input_path(env, input);
  std::optional<double> timeout =
      resolve_number(env, s.timeout_seconds, effective.get(), "TimeoutSecondsPath");
  std::optional<double> heartbeat =
      resolve_number(env, s.heartbeat_seconds, effective.get(), "HeartbeatSecondsPath");
  Json payload = apply_parameters(env, std::move(effective)).take();
  return RunTask{s.resource, std::move(payload), timeout, heartbeat, std::move(input)};
}

}  // namespace stepd::asl::detail
