#include "cli/output.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>

namespace stepd::cli {

bool colour_enabled() {
  static const bool enabled = [] {
    const char* no_colour = std::getenv("NO_COLOR");
    if (no_colour != nullptr && *no_colour != '\0') return false;
    return ::isatty(STDOUT_FILENO) == 1;
  }();
  return enabled;
}

std::string paint(const std::string& text, const char* code) {
  if (!colour_enabled()) return text;
  return std::string("\x1b[") + code + "m" + text + "\x1b[0m";
}

std::string paint_status(const std::string& status) {
  const char* code = nullptr;
  if (status == "SUCCEEDED") {
    code = "32";
  } else if (status == "FAILED" || status == "TIMED_OUT" || status == "ABORTED") {
    code = "31";
  } else if (status == "RUNNING" || status == "PENDING_REDRIVE") {
    code = "33";
  }
  if (code == nullptr) return status;
  return paint(status, code);
}

std::string local_time(worker::Timestamp t, bool millis) {
  const auto since = t.time_since_epoch().count();
  if (since == 0) return "-";
  std::int64_t seconds = since / 1000;
  std::int64_t ms = since % 1000;
  if (ms < 0) {
    ms += 1000;
    seconds -= 1;
  }
  const std::time_t tt = static_cast<std::time_t>(seconds);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  std::string out(buf, n);
  if (millis) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03d", static_cast<int>(ms));
    out += frac;
  }
  return out;
}

std::string local_time(const std::optional<worker::Timestamp>& t, bool millis) {
  return t ? local_time(*t, millis) : "-";
}

std::string json_time(worker::Timestamp t) { return worker::timestamp_to_rfc3339(t); }

OutJson json_payload(const nlohmann::json& value) { return OutJson(value); }

OutJson json_payload_text(const std::string& text) {
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return OutJson(text);
  return OutJson(parsed);
}

void print_json(const OutJson& value) {
  std::cout << value.dump(2, ' ', false, OutJson::error_handler_t::replace) << "\n";
}

void print_answer(bool json, const OutJson& json_form, const Fields& fields) {
  if (json) {
    print_json(json_form);
  } else {
    print_fields(std::cout, fields);
  }
}

void print_answer_line(bool json, const OutJson& json_form, const std::string& line) {
  if (json) {
    print_json(json_form);
  } else {
    std::cout << line << "\n";
  }
}

std::size_t visible_width(const std::string& text) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b && i + 1 < text.size() && text[i + 1] == '[') {
      // CSI sequence: ESC [ parameters final-byte (0x40..0x7e).
      i += 2;
      while (i < text.size() && !(static_cast<unsigned char>(text[i]) >= 0x40 &&
                                  static_cast<unsigned char>(text[i]) <= 0x7e)) {
        ++i;
      }
      continue;
    }
    if ((c & 0xC0) == 0x80) continue;  // a UTF-8 continuation byte
    ++width;
  }
  return width;
}

std::string pad(const std::string& text, std::size_t width) {
  const std::size_t w = visible_width(text);
  if (w >= width) return text;
  return text + std::string(width - w, ' ');
}

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::add(std::vector<std::string> row) {
  row.resize(header_.size());
  rows_.push_back(std::move(row));
}

void Table::print(std::ostream& out) const {
  std::vector<std::size_t> widths(header_.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (std::size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], visible_width(row[i]));
    }
  };
  measure(header_);
  for (const auto& row : rows_) measure(row);
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (i + 1 == row.size()) {
        text += row[i];
      } else {
        text += pad(row[i], widths[i]) + "  ";
      }
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << "\n";
  };
  line(header_);
  for (const auto& row : rows_) line(row);
}

void print_fields(std::ostream& out,
                  const std::vector<std::pair<std::string, std::string>>& fields) {
  std::size_t width = 0;
  for (const auto& [key, value] : fields) {
    if (!value.empty()) width = std::max(width, key.size() + 1);
  }
  for (const auto& [key, value] : fields) {
    if (value.empty()) continue;
    const std::string indent(width + 1, ' ');
    out << pad(key + ":", width) << " ";
    std::size_t start = 0;
    bool first = true;
    while (true) {
      const std::size_t nl = value.find('\n', start);
      if (!first) out << indent;
      out << value.substr(start, nl == std::string::npos ? std::string::npos : nl - start) << "\n";
      if (nl == std::string::npos) break;
      start = nl + 1;
      first = false;
    }
  }
}

std::string payload_text(const nlohmann::json& value, bool pretty) {
  return value.dump(pretty ? 2 : -1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace stepd::cli
