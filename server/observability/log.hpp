// Structured logs: one JSON object per line on stdout,
//   {"time":"2024-05-01T12:00:00.123Z","level":"info","msg":"request","request_id":"...",...}
// through spdlog (anything logged with spdlog directly comes out in the same shape, with "msg"
// only). The access log is one "request" line per answered request (server/observability/
// access_log.hpp).
//
// Threads: every function is thread-safe.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace stepd::server::log {

enum class Level { Trace, Debug, Info, Warn, Error, Off };

// "trace" | "debug" | "info" | "warn" | "error" | "off"; nullopt-like false when unknown.
bool parse_level(std::string_view text, Level& level);

// Makes spdlog's default logger write JSON lines to stdout at `level` and above. Call once at
// start, before other threads log.
void setup(Level level);
// Changes the level.
void set_level(Level level);
bool enabled(Level level);

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, long long v) : key(k), value(v) {}
  Field(std::string_view k, int v) : key(k), value(static_cast<long long>(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(static_cast<long long>(v)) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}

  std::string_view key;
  std::variant<std::string_view, long long, double, bool> value;
};

// Writes `msg` with `fields` (written in order; an empty string value is left out).
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

// Writes an info line whatever the level (unless it is Off): for the few lines an operator or
// a supervisor always needs, like the one saying where stepd listens.
void always(std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::Debug, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::Info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::Warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::Error, msg, f);
}

// `s` as a JSON string literal (quotes included); invalid UTF-8 bytes become U+FFFD.
std::string json_quote(std::string_view s);

}  // namespace stepd::server::log
