// stepctl: how the server commands print. Human output is aligned tables and "Key: value"
// lists with local times; --json output is one JSON document (ordered keys, 2-space indent).
// Colour (ANSI) only when standard output is a terminal and NO_COLOR is unset or empty.
//
// Threads: none of this is thread-safe; stepctl prints from its main thread only.
#pragma once

#include <stepd/worker/client.hpp>

#include <nlohmann/json.hpp>

#include <iosfwd>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace stepd::cli {

// Output JSON: keys keep the order they were added in.
using OutJson = nlohmann::ordered_json;

// True when standard output is a terminal and NO_COLOR is unset or empty. Decided once.
bool colour_enabled();

// `text` wrapped in the ANSI colour `code` ("31" red, "32" green, "33" yellow) when
// colour_enabled(), else `text`.
std::string paint(const std::string& text, const char* code);

// `status` wrapped in its colour when colour_enabled(): SUCCEEDED green; FAILED, TIMED_OUT,
// ABORTED red; RUNNING and PENDING_REDRIVE yellow. Other text is returned as it is.
std::string paint_status(const std::string& status);

// A time in the local time zone (TZ): "2024-05-01 14:03:22", or "2024-05-01 14:03:22.250" with
// `millis`. An unset time (the epoch) prints as "-".
std::string local_time(worker::Timestamp t, bool millis = false);
std::string local_time(const std::optional<worker::Timestamp>& t, bool millis = false);

// RFC 3339 UTC ("2024-05-01T12:03:22.250Z"), the form of dates in --json output.
std::string json_time(worker::Timestamp t);

// A payload for --json output: the value itself (AWS carries payloads as JSON text; stepctl
// prints them as JSON values). Text that is not JSON stays a string.
OutJson json_payload(const nlohmann::json& value);
OutJson json_payload_text(const std::string& text);

// Prints `value` on standard output, indented by 2, and a newline.
void print_json(const OutJson& value);

// "Key: value" lines (print_fields).
using Fields = std::vector<std::pair<std::string, std::string>>;

// A command's answer on standard output: `json_form` (print_json) when `json`, else the lines of
// `fields` (print_fields).
void print_answer(bool json, const OutJson& json_form, const Fields& fields);

// A command's answer on standard output: `json_form` (print_json) when `json`, else `line` and a
// newline.
void print_answer_line(bool json, const OutJson& json_form, const std::string& line);

// A table with aligned columns: the header row, then rows. Widths come from the plain text, so
// a coloured cell (paint_status) lines up like any other.
class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // A row has as many cells as the header (missing cells print empty).
  void add(std::vector<std::string> row);
  std::size_t size() const { return rows_.size(); }
  // Prints the header and the rows; columns are separated by two spaces, the last one is not
  // padded.
  void print(std::ostream& out) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// The number of characters `text` shows on a terminal: ANSI escape sequences count 0, a UTF-8
// sequence counts 1.
std::size_t visible_width(const std::string& text);

// `text` padded with spaces to show `width` characters.
std::string pad(const std::string& text, std::size_t width);

// Prints "Key:   value" lines, the values aligned. Empty values are left out; a value with
// newlines continues indented under its first line.
void print_fields(std::ostream& out, const std::vector<std::pair<std::string, std::string>>& f);

// A payload for human output: compact JSON (`pretty`: indented by 2).
std::string payload_text(const nlohmann::json& value, bool pretty = false);

}  // namespace stepd::cli
