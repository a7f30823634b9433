// Wait: until now + Seconds[Path] or until Timestamp[Path]; the output is the effective input
// through OutputPath.
#include "asl/choice/timestamp.hpp"
#include "asl/states/pipeline.hpp"

#include <cmath>

namespace stepd::asl::detail {

namespace {

TimePoint after_seconds(TimePoint now, double seconds) {
  return now + std::chrono::microseconds(static_cast<long long>(std::llround(seconds * 1e6)));
}

TimePoint resolve_until(StepEnv& env, const WaitState& s, const Json& effective) {
  const TimePoint now = env.ctx().now;
  if (s.seconds) return after_seconds(now, *s.seconds);
  if (s.timestamp) return *s.timestamp;
  if (s.seconds_path) {
    std::optional<Json> v = s.seconds_path->evaluate(env.eval(effective));
    const std::string where = s.seconds_path->text();
    if (!v) {
      env.runtime_error("The SecondsPath parameter references an invalid value: " + where);
    }
    // AWS: the value must be a whole number of seconds.
    if (!v->is_number_integer() && !v->is_number_unsigned()) {
      env.runtime_error("The SecondsPath parameter cannot be parsed as a long value: " + where +
                        " == " + dump_compact(*v));
    }
    if (v->is_number_integer() && v->get<long long>() < 0) {
      env.runtime_error("The SecondsPath parameter references a negative value: " + where +
                        " == " + dump_compact(*v));
    }
    return after_seconds(now, v->get<double>());
  }
  assert(s.timestamp_path);
  std::optional<Json> v = s.timestamp_path->evaluate(env.eval(effective));
  const std::string where = s.timestamp_path->text();
  if (!v) env.runtime_error("The TimestampPath parameter references an invalid value: " + where);
  std::optional<TimePoint> t;
  if (v->is_string()) t = parse_timestamp(v->get_ref<const std::string&>());
  if (!t) {
    env.runtime_error(
        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset "
        "date-time format string: " + where + " == " + dump_compact(*v));
  }
  return *t;
}

}  // namespace

Effect enter_wait(StepEnv& env, const WaitState& s, Json& input) {
  JsonRef effective = apply_input_path(env, input);
  TimePoint until = resolve_until(env, s, effective.get());
  const auto& assign = env.state().common.assign;
  Json assigned;
  if (assign) assigned = assign->evaluate(env.eval(effective.get()));
  Json output = apply_output_path(env, effective.take_from(input));
  if (assign) {
    for (auto& [name, v] : assigned.items()) env.ctx().variables->set(name, std::move(v));
  }
  return WaitEffect{until, transition(env.state(), std::move(output))};
}

}  // namespace stepd::asl::detail
