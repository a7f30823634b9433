// AWS Signature Version 4, as a server checks it: the "Authorization: AWS4-HMAC-SHA256
// Credential=..., SignedHeaders=..., Signature=..." header of a request is verified by signing the
// request again with the secret of the access key it names and comparing the signatures. This is
// what lets `aws --endpoint-url` and the AWS SDKs call a Stepd that requires API keys: the key
// id is the access key id, the key's secret the secret access key.
//
// AWS: the canonical request, the string to sign and the signing key follow the published
// algorithm (docs.aws.amazon.com, "Create a signed AWS API request"); the region and service
// come from the credential scope and are not checked against anything. Only the header form is
// served (no presigned query strings). The payload hash is always computed from the body
// received, so a changed body fails the check.
#pragma once

#include "server/http/message.hpp"

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::server::security {

inline constexpr std::string_view kSigV4Algorithm = "AWS4-HMAC-SHA256";

// The parsed Authorization header.
struct SigV4Authorization {
  std::string access_key_id;
  std::string date;  // YYYYMMDD of the credential scope
  std::string region;
  std::string service;
  std::vector<std::string> signed_headers;  // lowercase, as listed
  std::string signature;                    // hex as sent
};

// Parses an Authorization header value that starts with "AWS4-HMAC-SHA256 ". On a malformed
// header returns nullopt and sets `error` to what is wrong (AWS's IncompleteSignatureException
// texts, e.g. "Authorization header requires 'Signature' parameter.").
std::optional<SigV4Authorization> parse_sigv4_authorization(std::string_view header,
                                                            std::string& error);

// The pieces of the algorithm, exposed for tests.
std::string sigv4_canonical_request(const HttpRequest& request,
                                    const std::vector<std::string>& signed_headers);
std::string sigv4_string_to_sign(std::string_view amz_date, std::string_view scope,
                                 std::string_view canonical_request);
// Hex signature of `string_to_sign` with the key derived from `secret` for that scope.
std::string sigv4_signature(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service, std::string_view string_to_sign);

enum class SigV4Outcome {
  Ok,
  Malformed,     // the header or the dates do not make a checkable request
  Expired,       // the request time is too far from now
  BadSignature,  // the signature differs from the one computed
};

struct SigV4Check {
  SigV4Outcome outcome = SigV4Outcome::Ok;
  std::string message;  // AWS's wording for the failure
};

// Verifies `request` (whose Authorization parsed as `auth`) with `secret`. The request time
// comes from the X-Amz-Date header (YYYYMMDD'T'HHMMSS'Z'); it must match the scope's date and
// lie within `max_skew` of `now` (AWS allows 15 minutes). "host" must be a signed header.
SigV4Check verify_sigv4(const HttpRequest& request, const SigV4Authorization& auth,
                        std::string_view secret, std::chrono::system_clock::time_point now,
                        std::chrono::seconds max_skew);

}  // namespace stepd::server::security
