// Timestamps as ASL uses them: RFC 3339 / ISO-8601 extended offset date-time
// ("2016-03-14T01:59:00Z", "2016-03-14T01:59:00.123+02:00"), for Wait's Timestamp fields,
// the Timestamp* Choice operators and IsTimestamp.
#pragma once

#include "asl/core/eval.hpp"

#include <optional>
#include <string>
#include <string_view>

namespace stepd::asl {

// Parses a timestamp exactly as AWS accepts it (the "T", a zone "Z" or "+hh:mm", valid ranges).
// Returns nullopt when text is not one.
std::optional<TimePoint> parse_timestamp(std::string_view text);

// Formats as AWS prints times in the context object and history: "2024-01-01T00:00:00.000Z".
std::string format_timestamp(TimePoint t);

}  // namespace stepd::asl
