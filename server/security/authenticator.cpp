#include "server/security/authenticator.hpp"

#include "server/security/crypto.hpp"
#include "server/security/sigv4.hpp"

#include <cassert>
#include <strings.h>

namespace stepd::server::security {

namespace {

// AWS's text for credentials it does not know.
constexpr std::string_view kInvalidToken = "The security token included in the request is invalid.";

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && strncasecmp(s.data(), prefix.data(), prefix.size()) == 0;
}

}  // namespace

std::string_view aws_error_type(AuthFailure failure) {
  switch (failure) {
    case AuthFailure::None: return "";
    case AuthFailure::Missing: return "UnrecognizedClientException";
    case AuthFailure::InvalidToken: return "UnrecognizedClientException";
    case AuthFailure::Incomplete: return "IncompleteSignatureException";
    case AuthFailure::BadSignature: return "InvalidSignatureException";
    case AuthFailure::Expired: return "InvalidSignatureException";
  }
  return "UnrecognizedClientException";
}

Authenticator::Authenticator(std::vector<ApiKey> keys, std::chrono::seconds max_skew, Clock clock)
    : keys_(std::move(keys)), max_skew_(max_skew), clock_(std::move(clock)) {
  for (std::size_t i = 0; i < keys_.size(); ++i) by_id_.emplace(keys_[i].id, i);
  if (!clock_) clock_ = [] { return std::chrono::system_clock::now(); };
}

AuthResult Authenticator::success(const ApiKey& key) const {
  AuthResult r;
  r.key_id = key.id;
  r.role = key.role;
  r.activities = key.activities;
  return r;
}

AuthResult Authenticator::authenticate(const HttpRequest& request) const {
  assert(enabled());
  const std::string* header = request.header("authorization");
  if (header == nullptr || header->empty()) {
    return {AuthFailure::Missing,
            "Missing credentials: send 'Authorization: Bearer <API key>' or sign the request "
            "with AWS Signature Version 4 (access key id = API key id, secret = API key)",
            {},
            Role::Admin,
            {}};
  }
  std::string_view value = *header;
  if (starts_with_nocase(value, "Bearer ")) {
    value.remove_prefix(7);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return bearer(value);
  }
  if (value.substr(0, kSigV4Algorithm.size()) == kSigV4Algorithm) return sigv4(request, value);
  return {AuthFailure::Missing,
          "Unsupported authorization scheme: use 'Bearer <API key>' or AWS4-HMAC-SHA256",
          {},
          Role::Admin,
          {}};
}

AuthResult Authenticator::bearer(std::string_view secret) const {
  const std::string digest = sha256(secret);
  // Every key is compared, so the time taken says nothing about which one matched.
  const ApiKey* found = nullptr;
  for (const ApiKey& key : keys_) {
    if (constant_time_equal(key.digest, digest) && found == nullptr) found = &key;
  }
  if (found == nullptr) {
    return {AuthFailure::InvalidToken, std::string(kInvalidToken), {}, Role::Admin, {}};
  }
  return success(*found);
}

AuthResult Authenticator::sigv4(const HttpRequest& request, std::string_view header) const {
  std::string error;
  const auto auth = parse_sigv4_authorization(header, error);
  if (!auth) return {AuthFailure::Incomplete, error, {}, Role::Admin, {}};
  const auto it = by_id_.find(auth->access_key_id);
  if (it == by_id_.end()) {
    return {AuthFailure::InvalidToken, std::string(kInvalidToken), {}, Role::Admin, {}};
  }
  const ApiKey& key = keys_[it->second];
  if (key.secret.empty()) {
    return {AuthFailure::InvalidToken,
            "API key '" + key.id +
                "' is stored as a sha256 digest: AWS Signature Version 4 "
                "needs the secret itself in the keys file; use 'Authorization: Bearer' instead",
            {},
            Role::Admin,
            {}};
  }
  const SigV4Check check = verify_sigv4(request, *auth, key.secret, clock_(), max_skew_);
  switch (check.outcome) {
    case SigV4Outcome::Ok: return success(key);
    case SigV4Outcome::Malformed:
      return {AuthFailure::Incomplete, check.message, {}, Role::Admin, {}};
    case SigV4Outcome::Expired: return {AuthFailure::Expired, check.message, {}, Role::Admin, {}};
    case SigV4Outcome::BadSignature:
      return {AuthFailure::BadSignature, check.message, {}, Role::Admin, {}};
  }
  return {AuthFailure::BadSignature, check.message, {}, Role::Admin, {}};
}

}  // namespace stepd::server::security
