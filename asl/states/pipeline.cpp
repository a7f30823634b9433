#include "asl/states/pipeline.hpp"

#include "asl/choice/timestamp.hpp"

#include <cassert>
#include <cmath>
#include <utility>

namespace stepd::asl {

namespace detail {

EvalContext StepEnv::eval(const Json& input) {
  EvalContext e;
  e.input = &input;
  e.variables = ctx_.variables;
  e.random = ctx_.random;
  if (state_.uses_context) {
    if (!context_) context_ = build_context_object(state_, ctx_);
    e.context = &*context_;
  }
  return e;
}

std::string StepEnv::error_prefix() const {
  std::string out = "An error occurred while executing the state '";
  out += state_.name;
  out += "' (entered at the event id #";
  out += std::to_string(ctx_.entered_event_id);
  out += "). ";
  return out;
}

void StepEnv::runtime_error(const std::string& detail) const {
  throw StatesException(errors::kRuntime, error_prefix() + detail);
}

namespace {

// AWS: a path that selects nothing in InputPath / OutputPath.
[[noreturn]] void no_match(const StepEnv& env, const Path& path, const Json& input) {
  env.runtime_error(path.invalid_path_cause(input));
}

JsonRef select(StepEnv& env, const Path& path, const Json& value) {
  if (path.is_root_only() && path.root() == Path::Root::Input) return JsonRef(&value);
  if (path.root() == Path::Root::Input && path.is_definite()) {
    if (const Json* found = path.find_definite(value)) return JsonRef(found);
    no_match(env, path, value);
  }
  std::optional<Json> found = path.evaluate(env.eval(value));
  if (!found) no_match(env, path, value);
  return JsonRef(std::move(*found));
}

}  // namespace

JsonRef apply_input_path(StepEnv& env, const Json& raw_input) {
  const IoPath& p = env.state().common.input_path;
  if (p.is_null) return JsonRef(Json::object());
  if (!p.path) return JsonRef(&raw_input);
  return select(env, *p.path, raw_input);
}

JsonRef apply_parameters(StepEnv& env, JsonRef effective) {
  const auto& params = env.state().common.parameters;
  if (!params) return effective;
  return JsonRef(params->evaluate(env.eval(effective.get())));
}

Json apply_result_path(StepEnv& env, const ResultPathSpec& spec, Json raw_input, Json result) {
  if (spec.is_null) return raw_input;
  if (!spec.path || spec.path->is_root_only()) return result;
  try {
    spec.path->assign(raw_input, std::move(result));
  } catch (const StatesException& e) {
    if (e.error().cause.rfind("An error occurred", 0) == 0) throw;
    throw StatesException(e.error().error, env.error_prefix() + e.error().cause);
  }
  return raw_input;
}

Json apply_output_path(StepEnv& env, Json value) {
  const IoPath& p = env.state().common.output_path;
  if (p.is_null) return Json::object();
  if (!p.path) return value;
  return select(env, *p.path, value).take();
}

namespace {

Json evaluate_assign(StepEnv& env, const PayloadTemplate& assign, const Json& value) {
  return assign.evaluate(env.eval(value));
}

void commit_assign(StepEnv& env, Json assigned) {
  assert(env.ctx().variables != nullptr);
  if (!assigned.is_object()) return;
  for (auto& [name, v] : assigned.items()) env.ctx().variables->set(name, std::move(v));
}

}  // namespace

void apply_assign(StepEnv& env, const PayloadTemplate& assign, const Json& value) {
  commit_assign(env, evaluate_assign(env, assign, value));
}

Transition transition(const State& state, Json output) {
  return Transition{state.common.next, std::move(output), nullptr};
}

Effect finish_with_result(StepEnv& env, Json raw_input, Json result, bool use_selector) {
  const CommonFields& c = env.state().common;
  if (use_selector && c.result_selector) {
    result = c.result_selector->evaluate(env.eval(result));
  }
  // AWS: Assign and the output read the variables as they were when the state was entered;
  // the new values are written once both are computed.
  Json assigned;
  if (c.assign) assigned = evaluate_assign(env, *c.assign, result);
  Json output = apply_output_path(
      env, apply_result_path(env, c.result_path, std::move(raw_input), std::move(result)));
  if (c.assign) commit_assign(env, std::move(assigned));
  return transition(env.state(), std::move(output));
}

namespace {

std::chrono::microseconds retry_delay(const Retrier& r, int attempts_before, RandomSource* random) {
  double seconds = r.interval_seconds * std::pow(r.backoff_rate, attempts_before);
  if (r.max_delay_seconds && seconds > *r.max_delay_seconds) seconds = *r.max_delay_seconds;
  if (r.jitter == JitterStrategy::Full && random != nullptr) seconds *= random->next_unit();
  if (!(seconds >= 0)) seconds = 0;
  constexpr double kMaxSeconds = 1e9;  // far beyond any execution's lifetime
  if (seconds > kMaxSeconds) seconds = kMaxSeconds;
  return std::chrono::microseconds(static_cast<long long>(std::llround(seconds * 1e6)));
}

}  // namespace

Effect handle_error(StepEnv& env, Json raw_input, StatesError error) {
  // AWS: States.Runtime is never retried nor caught.
  if (error.error == errors::kRuntime) return Failure{std::move(error)};
  const CommonFields& c = env.state().common;

  for (std::size_t i = 0; i < c.retry.size(); ++i) {
    const Retrier& r = c.retry[i];
    if (!error_matches(r.errors, error.error)) continue;
    std::vector<int>* attempts = env.ctx().retry_attempts;
    assert(attempts != nullptr);
    if (attempts->size() < c.retry.size()) attempts->resize(c.retry.size(), 0);
    int& made = (*attempts)[i];
    if (made < r.max_attempts) {
      auto delay = retry_delay(r, made, env.ctx().random);
      ++made;
      return RetryAfter{delay, std::move(error), std::move(raw_input)};
    }
    break;  // AWS: the first matching retrier decides; exhausted means go on to Catch.
  }

  for (const Catcher& k : c.catchers) {
    if (!error_matches(k.errors, error.error)) continue;
    Json error_output = Json::object();
    error_output["Error"] = error.error;
    error_output["Cause"] = error.cause;
    Json assigned;
    if (k.assign) assigned = evaluate_assign(env, *k.assign, error_output);
    Json output = apply_result_path(env, k.result_path, std::move(raw_input),
                                    std::move(error_output));
    if (k.assign) commit_assign(env, std::move(assigned));
    return Transition{k.next, std::move(output), &k};
  }
  return Failure{std::move(error)};
}

std::optional<double> resolve_number(StepEnv& env, const ValueOrPath<double>& v,
                                     const Json& input, std::string_view field) {
  if (v.value) return v.value;
  if (!v.path) return std::nullopt;
  std::optional<Json> found = v.path->evaluate(env.eval(input));
  if (!found || !found->is_number()) {
    env.runtime_error("The " + std::string(field) + " parameter references an invalid value: " +
                      v.path->text() + (found ? " == " + dump_compact(*found) : ""));
  }
  return found->get<double>();
}

}  // namespace detail

}  // namespace stepd::asl
