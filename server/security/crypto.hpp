// Hashes and MACs for authentication (OpenSSL underneath), and a comparison that takes the same
// time whatever the contents.
#pragma once

#include <string>
#include <string_view>

namespace stepd::server::security {

// SHA-256 of `data`: 32 raw bytes.
std::string sha256(std::string_view data);
// SHA-256 of `data` as 64 lowercase hex digits.
std::string sha256_hex(std::string_view data);
// HMAC-SHA256 of `data` under `key`: 32 raw bytes.
std::string hmac_sha256(std::string_view key, std::string_view data);
// Lowercase hex of raw bytes.
std::string to_hex(std::string_view bytes);
// Raw bytes of a hex text (either case); "" when `hex` is not an even run of hex digits.
std::string from_hex(std::string_view hex);
// Equal contents, compared in time that depends only on the lengths (which are not secret:
// both sides are digests or signatures of a fixed size).
bool constant_time_equal(std::string_view a, std::string_view b);

}  // namespace stepd::server::security
