// The JSON value type used throughout Stepd, and small helpers over it.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace stepd::asl {

using Json = nlohmann::json;

// Serialises a value compactly, as AWS prints JSON inside error causes (no spaces).
std::string dump_compact(const Json& value);

// AWS's name for a JSON value's type, as used in error causes ("string", "number", ...).
std::string_view type_name(const Json& value);

// Escapes one JSON Pointer reference token (RFC 6901: "~" -> "~0", "/" -> "~1").
std::string pointer_token(std::string_view token);

}  // namespace stepd::asl
