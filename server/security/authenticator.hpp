// Who is calling: turns a request's credentials into the Caller the operations check.
//
// Without keys (no --api-keys-file) authentication is off: every caller is an anonymous Admin and
// no signature is checked; stepd then refuses to listen beyond loopback (server/config.hpp).
// With keys, a request must carry one of
//   Authorization: Bearer <secret>                              (REST clients, stepctl, curl)
//   Authorization: AWS4-HMAC-SHA256 Credential=<key id>/...      (AWS CLI and SDKs: SigV4 signed
//                                                                 with the key's secret)
// Secrets are compared as SHA-256 digests in constant time.
//
// Threads: authenticate() is const and thread-safe.
#pragma once

#include "server/http/message.hpp"
#include "server/security/api_keys.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace stepd::server::security {

enum class AuthFailure {
  None,
  Missing,       // no Authorization header (or an unknown scheme)
  InvalidToken,  // no key has that secret or id
  Incomplete,    // a malformed SigV4 header
  BadSignature,  // SigV4 signature does not match
  Expired,       // SigV4 request time too far from now
};

struct AuthResult {
  AuthFailure failure = AuthFailure::None;
  std::string message;  // why it failed (safe to send to the client)
  // The key's identity when it succeeded.
  std::string key_id;
  Role role = Role::Admin;
  std::vector<std::string> activities;

  bool ok() const { return failure == AuthFailure::None; }
};

// AWS: the __type an AWS-protocol client gets for each failure: UnrecognizedClientException
// (missing or unknown credentials), IncompleteSignatureException, InvalidSignatureException
// (wrong signature, expired).
std::string_view aws_error_type(AuthFailure failure);

class Authenticator {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // Authentication off.
  Authenticator() = default;
  // Authentication on with these keys. `max_skew` bounds the SigV4 request time (AWS: 15 min).
  explicit Authenticator(std::vector<ApiKey> keys,
                         std::chrono::seconds max_skew = std::chrono::minutes(15),
                         Clock clock = {});

  bool enabled() const { return !keys_.empty(); }
  std::size_t key_count() const { return keys_.size(); }

  // REQUIRES: enabled().
  AuthResult authenticate(const HttpRequest& request) const;

 private:
  AuthResult bearer(std::string_view secret) const;
  AuthResult sigv4(const HttpRequest& request, std::string_view header) const;
  AuthResult success(const ApiKey& key) const;

  std::vector<ApiKey> keys_;
  std::map<std::string, std::size_t, std::less<>> by_id_;
  std::chrono::seconds max_skew_{std::chrono::minutes(15)};
  Clock clock_;
};

}  // namespace stepd::server::security
