// Identifiers the engine makes: random hex strings (task tokens) and UUIDs (execution names).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace stepd::engine {

// `bytes` random bytes from OpenSSL's generator, as 2 × bytes lowercase hex digits.
std::string random_hex(std::size_t bytes);

// 32 hex digits written as a UUID: 8-4-4-4-12, lowercase as given. The digits are taken as they
// are (no version or variant is set): callers that need a version-4 UUID use random_uuid().
std::string uuid_from_hex(std::string_view hex32);

// A random (version 4, RFC 4122 variant) UUID, lowercase.
std::string random_uuid();

}  // namespace stepd::engine
