// Timestamps as ASL uses them: RFC 3339 / ISO-8601 extended offset date-time
// ("2016-03-14T01:59:00Z", "2016-03-14T01:59:00.123+02:00"), for Wait's Timestamp fields,
// the Timestamp* Choice operators and IsTimestamp.
#pragma once

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "asl/core/eval.hpp"

namespace stepd::asl {

// Parses a timestamp exactly as AWS accepts it (the "T", a zone "Z" or "+hh:mm", valid ranges).
// Returns nullopt when text is not one. Fractional seconds beyond microseconds are truncated.
//
// AWS: accepted is "YYYY-MM-DDThh:mm:ss" with an optional fraction of 1 to 9 digits, then "Z"
// or "+hh:mm" / "-hh:mm" (offset at most 18:00). The "T" and "Z" are uppercase; the date must
// exist (no February 30); hours 00-23, minutes and seconds 00-59 (no leap second). Rejected:
// "2016-12-05 21:29:29Z" (no T), "2016-12-05T25:29:29Z", "2012-10-09T19:00:55" (no zone),
// "2023-02-24" (no time).
std::optional<TimePoint> parse_timestamp(std::string_view text);

// A parsed timestamp at full (nanosecond) precision, for comparisons that must not lose the
// digits beyond microseconds. Ordered by the instant it denotes (the offset applied).
struct PreciseTimestamp {
  std::int64_t seconds = 0;      // since 1970-01-01T00:00:00Z
  std::int32_t nanoseconds = 0;  // 0..999'999'999

  auto operator<=>(const PreciseTimestamp&) const = default;
};

// As parse_timestamp, keeping every fractional digit. Never allocates.
std::optional<PreciseTimestamp> parse_precise_timestamp(std::string_view text);

// Formats as AWS prints times in the context object and history: "2024-01-01T00:00:00.000Z"
// (UTC, milliseconds, truncated toward the past).
std::string format_timestamp(TimePoint t);

}  // namespace stepd::asl
