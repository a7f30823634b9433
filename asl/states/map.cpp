// Map: the items (Items or ItemsPath over the effective input) each run through the processor;
// the result is the array of iteration outputs, through ResultSelector, ResultPath, OutputPath.
#include "asl/states/pipeline.hpp"

#include <cmath>

namespace stepd::asl::detail {

namespace {

std::optional<long long> resolve_count(StepEnv& env, const ValueOrPath<long long>& v,
                                       const Json& effective, std::string_view field) {
  if (v.value) return v.value;
  if (!v.path) return std::nullopt;
  std::optional<Json> found = v.path->evaluate(env.eval(effective));
  if (!found || !(found->is_number_integer() || found->is_number_unsigned())) {
    env.runtime_error("The " + std::string(field) +
                      " parameter cannot be parsed as a long value: " + v.path->text() +
                      (found ? " == " + dump_compact(*found) : ""));
  }
  return found->get<long long>();
}

}  // namespace

Effect enter_map(StepEnv& env, const MapState& s, Json& input) {
  JsonRef effective = apply_input_path(env, input);
  const Json& eff = effective.get();

  Json items;
  if (s.items) {
    items = *s.items;
  } else if (s.items_path) {
    std::optional<Json> found = s.items_path->evaluate(env.eval(eff));
    if (!found) {
      env.runtime_error(s.items_path->invalid_path_cause(eff));
    }
    items = std::move(*found);
  } else {
    items = eff;
  }
  if (!items.is_array()) {
    env.runtime_error("Map state input must be an array but was: " + dump_compact(items));
  }

  RunItems run;
  std::optional<long long> concurrency =
      resolve_count(env, s.max_concurrency, eff, "MaxConcurrencyPath");
  if (concurrency && *concurrency < 0) {
    env.runtime_error("MaxConcurrency cannot be negative.");
  }
  run.max_concurrency = concurrency.value_or(0);

  run.tolerated_failure_count =
      resolve_count(env, s.tolerated_failure_count, eff, "ToleratedFailureCountPath");
  if (run.tolerated_failure_count && *run.tolerated_failure_count < 0) {
    env.runtime_error("ToleratedFailureCount cannot be negative.");
  }
  if (s.tolerated_failure_percentage.value) {
    run.tolerated_failure_percentage = s.tolerated_failure_percentage.value;
  } else if (s.tolerated_failure_percentage.path) {
    const Path& p = *s.tolerated_failure_percentage.path;
    std::optional<Json> found = p.evaluate(env.eval(eff));
    if (!found || !found->is_number()) {
      env.runtime_error("The ToleratedFailurePercentagePath parameter references an invalid "
                        "value: " + p.text() + (found ? " == " + dump_compact(*found) : ""));
    }
    run.tolerated_failure_percentage = found->get<double>();
  }
  if (run.tolerated_failure_percentage &&
      (*run.tolerated_failure_percentage < 0 || *run.tolerated_failure_percentage > 100)) {
    env.runtime_error("ToleratedFailurePercentage must be between 0 and 100.");
  }

  if (s.item_selector) run.effective_input = eff;
  run.items = std::move(items);
  run.state_input = std::move(input);
  return run;
}

}  // namespace stepd::asl::detail
