#include "server/security/api_keys.hpp"

#include "server/security/authenticator.hpp"
#include "server/security/crypto.hpp"

#include <gtest/gtest.h>

namespace stepd::server::security {
namespace {

std::string error_of(const std::string& text) {
  auto r = parse_api_keys(text, "keys.json");
  if (r.ok()) return "ok";
  EXPECT_EQ(r.error().code, engine::ErrorCode::InvalidArgument);
  return r.error().message;
}

TEST(ApiKeysTest, ParsesEveryForm) {
  const std::string digest = sha256_hex("grafana-secret");
  auto keys = parse_api_keys(R"([
    {"id": "ci", "secret": "ci-secret", "role": "admin"},
    {"id": "grafana", "sha256": ")" +
                                 digest + R"(", "role": "read-only"},
    {"id": "billing", "secret": "w", "role": "worker", "activities": ["arn:a", "*"]}
  ])",
                             "keys.json");
  ASSERT_TRUE(keys.ok()) << keys.error().message;
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ((*keys)[0].id, "ci");
  EXPECT_EQ((*keys)[0].role, Role::Admin);
  EXPECT_EQ((*keys)[0].secret, "ci-secret");
  EXPECT_EQ((*keys)[0].digest, sha256("ci-secret"));
  EXPECT_EQ((*keys)[1].role, Role::ReadOnly);
  EXPECT_EQ((*keys)[1].secret, "");
  EXPECT_EQ((*keys)[1].digest, sha256("grafana-secret"));
  EXPECT_EQ((*keys)[2].role, Role::Worker);
  EXPECT_EQ((*keys)[2].activities, (std::vector<std::string>{"arn:a", "*"}));
}

TEST(ApiKeysTest, ErrorsNameTheKeyAndField) {
  EXPECT_EQ(error_of("{"), "keys.json: not valid JSON");
  EXPECT_EQ(error_of("{}"), "keys.json: must be a JSON array of keys");
  EXPECT_EQ(error_of("[]"), "keys.json: holds no key");
  EXPECT_EQ(error_of(R"([{"secret":"s","role":"admin"}])"),
            "keys.json: key 1: \"id\" must be a non-empty string");
  EXPECT_EQ(
      error_of(
          R"([{"id":"a","secret":"s","role":"admin"},{"id":"ci","secret":"t","role":"root"}])"),
      "keys.json: key 2 (\"ci\"): \"role\" must be one of admin, read-only, worker");
  EXPECT_EQ(error_of(R"([{"id":"ci","role":"admin"}])"),
            "keys.json: key 1 (\"ci\"): give exactly one of \"secret\" and \"sha256\"");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","sha256":"00","role":"admin"}])"),
            "keys.json: key 1 (\"ci\"): give exactly one of \"secret\" and \"sha256\"");
  EXPECT_EQ(error_of(R"([{"id":"ci","sha256":"abcd","role":"admin"}])"),
            "keys.json: key 1 (\"ci\"): \"sha256\" must be 64 hex digits (the SHA-256 of the "
            "secret)");
  EXPECT_EQ(
      error_of(
          R"([{"id":"ci","secret":"s","role":"admin"},{"id":"ci","secret":"t","role":"admin"}])"),
      "keys.json: key 2 (\"ci\"): the id is used twice");
  EXPECT_EQ(
      error_of(
          R"([{"id":"a","secret":"s","role":"admin"},{"id":"b","secret":"s","role":"admin"}])"),
      "keys.json: key 2 (\"b\"): the same secret is used by another key");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","role":"admin","colour":"red"}])"),
            "keys.json: key 1: unknown field \"colour\"");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","role":"worker","activities":"arn"}])"),
            "keys.json: key 1 (\"ci\"): \"activities\" must be an array of activity ARNs or "
            "names (\"*\" for all)");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","role":"worker","activities":["a",""]}])"),
            "keys.json: key 1 (\"ci\"): \"activities\" must be an array of activity ARNs or "
            "names (\"*\" for all)");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","role":"worker"}])"),
            "keys.json: key 1 (\"ci\"): a worker key needs \"activities\": the activity ARNs or "
            "names it may poll and report (\"*\" for all)");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","role":"worker","activities":[]}])"),
            "keys.json: key 1 (\"ci\"): a worker key needs \"activities\": the activity ARNs or "
            "names it may poll and report (\"*\" for all)");
  EXPECT_EQ(error_of(R"([{"id":"ci","secret":"s","role":"read-only","activities":["*"]}])"),
            "keys.json: key 1 (\"ci\"): \"activities\" is for worker keys only (admins reach "
            "every activity, read-only keys none)");
  auto missing = load_api_keys("/nonexistent/keys.json");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().message, "/nonexistent/keys.json: cannot read the API keys file");
}

HttpRequest with_authorization(const std::string& value) {
  HttpRequest r;
  r.method = "GET";
  r.path = "/v1/state-machines";
  r.target = r.path;
  if (!value.empty()) r.headers.push_back({"Authorization", value});
  return r;
}

TEST(AuthenticatorTest, BearerKeys) {
  auto keys = parse_api_keys(
      R"([{"id":"ci","secret":"ci-secret","role":"admin"},
          {"id":"ro","sha256":")" +
          sha256_hex("ro-secret") + R"(","role":"read-only"},
          {"id":"w","secret":"w-secret","role":"worker","activities":["*"]}])",
      "k");
  ASSERT_TRUE(keys.ok());
  const Authenticator auth(std::move(*keys));
  EXPECT_TRUE(auth.enabled());

  AuthResult ci = auth.authenticate(with_authorization("Bearer ci-secret"));
  ASSERT_TRUE(ci.ok()) << ci.message;
  EXPECT_EQ(ci.key_id, "ci");
  EXPECT_EQ(ci.role, Role::Admin);
  AuthResult ro = auth.authenticate(with_authorization("bearer   ro-secret "));
  ASSERT_TRUE(ro.ok()) << ro.message;
  EXPECT_EQ(ro.key_id, "ro");
  EXPECT_EQ(ro.role, Role::ReadOnly);
  AuthResult w = auth.authenticate(with_authorization("Bearer w-secret"));
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w.role, Role::Worker);
  EXPECT_EQ(w.activities, std::vector<std::string>{"*"});

  AuthResult wrong = auth.authenticate(with_authorization("Bearer ci-secreT"));
  EXPECT_EQ(wrong.failure, AuthFailure::InvalidToken);
  EXPECT_EQ(wrong.message, "The security token included in the request is invalid.");
  AuthResult none = auth.authenticate(with_authorization(""));
  EXPECT_EQ(none.failure, AuthFailure::Missing);
  AuthResult basic = auth.authenticate(with_authorization("Basic Y2k6Y2k="));
  EXPECT_EQ(basic.failure, AuthFailure::Missing);
  EXPECT_EQ(basic.message,
            "Unsupported authorization scheme: use 'Bearer <API key>' or AWS4-HMAC-SHA256");
  EXPECT_EQ(aws_error_type(AuthFailure::Missing), "UnrecognizedClientException");
  EXPECT_EQ(aws_error_type(AuthFailure::BadSignature), "InvalidSignatureException");
}

TEST(AuthenticatorTest, SigV4WithTheKeySecretAsSecretAccessKey) {
  auto keys = parse_api_keys(
      R"([{"id":"AKIDEXAMPLE","secret":"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY","role":"read-only"},
          {"id":"hashed","sha256":")" +
          sha256_hex("x") + R"(","role":"admin"}])",
      "k");
  ASSERT_TRUE(keys.ok());
  std::tm tm{};
  tm.tm_year = 115;
  tm.tm_mon = 7;
  tm.tm_mday = 30;
  tm.tm_hour = 12;
  tm.tm_min = 40;
  const auto now = std::chrono::system_clock::from_time_t(timegm(&tm));
  const Authenticator auth(std::move(*keys), std::chrono::minutes(15), [now] { return now; });

  HttpRequest r;  // AWS's "get-vanilla" request
  r.method = "GET";
  r.path = "/";
  r.target = "/";
  r.headers = {{"Host", "example.amazonaws.com"},
               {"X-Amz-Date", "20150830T123600Z"},
               {"Authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"}};
  AuthResult ok = auth.authenticate(r);
  ASSERT_TRUE(ok.ok()) << ok.message;
  EXPECT_EQ(ok.key_id, "AKIDEXAMPLE");
  EXPECT_EQ(ok.role, Role::ReadOnly);

  r.body = "changed";
  EXPECT_EQ(auth.authenticate(r).failure, AuthFailure::BadSignature);

  r.headers[2].value =
      "AWS4-HMAC-SHA256 Credential=NOBODY/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=00";
  EXPECT_EQ(auth.authenticate(r).failure, AuthFailure::InvalidToken);
  r.headers[2].value =
      "AWS4-HMAC-SHA256 Credential=hashed/20150830/us-east-1/service/aws4_request, "
      "SignedHeaders=host;x-amz-date, Signature=00";
  AuthResult hashed = auth.authenticate(r);
  EXPECT_EQ(hashed.failure, AuthFailure::InvalidToken);
  EXPECT_EQ(hashed.message,
            "API key 'hashed' is stored as a sha256 digest: AWS Signature Version 4 needs the "
            "secret itself in the keys file; use 'Authorization: Bearer' instead");
  r.headers[2].value =
      "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
      "aws4_request";
  EXPECT_EQ(auth.authenticate(r).failure, AuthFailure::Incomplete);
}

}  // namespace
}  // namespace stepd::server::security
