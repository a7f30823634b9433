#include "server/observability/log.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <ctime>

namespace stepd::server::log {

namespace {

// Marks a payload that already is the JSON members after "level" (from write()).
constexpr char kStructured = '\x01';

spdlog::level::level_enum to_spdlog(Level level) {
  switch (level) {
    case Level::Trace: return spdlog::level::trace;
    case Level::Debug: return spdlog::level::debug;
    case Level::Info: return spdlog::level::info;
    case Level::Warn: return spdlog::level::warn;
    case Level::Error: return spdlog::level::err;
    case Level::Off: return spdlog::level::off;
  }
  return spdlog::level::info;
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace: return "trace";
    case spdlog::level::debug: return "debug";
    case spdlog::level::info: return "info";
    case spdlog::level::warn: return "warn";
    case spdlog::level::err: return "error";
    case spdlog::level::critical: return "critical";
    default: return "info";
  }
}

// The whole line as JSON: time and level from the record, then the payload.
class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const auto since = msg.time.time_since_epoch();
    const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since);
    const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(since - secs);
    const std::time_t t = secs.count();
    std::tm tm{};
    gmtime_r(&t, &tm);
    char stamp[48];
    const std::size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(millis.count()));
    std::string line = "{\"time\":\"";
    line.append(stamp, n);
    line += ms;
    line += "\",\"level\":\"";
    line += level_name(msg.level);
    line += "\",";
    const std::string_view payload(msg.payload.data(), msg.payload.size());
    if (!payload.empty() && payload.front() == kStructured) {
      line += payload.substr(1);
    } else {
      line += "\"msg\":";
      line += json_quote(payload);
    }
    line += "}\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

}  // namespace

bool parse_level(std::string_view text, Level& level) {
  if (text == "trace")
    level = Level::Trace;
  else if (text == "debug")
    level = Level::Debug;
  else if (text == "info")
    level = Level::Info;
  else if (text == "warn" || text == "warning")
    level = Level::Warn;
  else if (text == "error")
    level = Level::Error;
  else if (text == "off")
    level = Level::Off;
  else
    return false;
  return true;
}

void setup(Level level) {
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto logger = std::make_shared<spdlog::logger>("stepd", sink);
  logger->set_formatter(std::make_unique<JsonFormatter>());
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(logger);
}

void set_level(Level level) { spdlog::set_level(to_spdlog(level)); }

bool enabled(Level level) { return spdlog::default_logger_raw()->should_log(to_spdlog(level)); }

std::string json_quote(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

std::string structured_payload(std::string_view msg, std::initializer_list<Field> fields) {
  std::string payload(1, kStructured);
  payload += "\"msg\":";
  payload += json_quote(msg);
  for (const Field& f : fields) {
    if (const auto* s = std::get_if<std::string_view>(&f.value); s != nullptr && s->empty()) {
      continue;
    }
    payload.push_back(',');
    payload += json_quote(f.key);
    payload.push_back(':');
    std::visit(
        [&](const auto& v) {
          using V = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<V, std::string_view>) {
            payload += json_quote(v);
          } else if constexpr (std::is_same_v<V, bool>) {
            payload += v ? "true" : "false";
          } else if constexpr (std::is_same_v<V, long long>) {
            payload += std::to_string(v);
          } else {
            char buf[64];
            auto r = std::to_chars(buf, buf + sizeof buf, v);
            payload.append(buf, r.ptr);
          }
        },
        f.value);
  }
  return payload;
}

}  // namespace

void write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  const auto lvl = to_spdlog(level);
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (!logger->should_log(lvl)) return;
  const std::string payload = structured_payload(msg, fields);
  logger->log(lvl, spdlog::string_view_t(payload.data(), payload.size()));
}

void always(std::string_view msg, std::initializer_list<Field> fields) {
  spdlog::logger* logger = spdlog::default_logger_raw();
  if (logger->level() == spdlog::level::off) return;
  const std::string payload = structured_payload(msg, fields);
  const spdlog::details::log_msg record(logger->name(), spdlog::level::info,
                                        spdlog::string_view_t(payload.data(), payload.size()));
  for (auto& sink : logger->sinks()) {
    sink->log(record);
    sink->flush();
  }
}

}  // namespace stepd::server::log
