// SigV4 verification against the signatures of AWS's published Signature Version 4 test suite
// (requests "get-vanilla", "post-vanilla", "get-vanilla-empty-query-key": AKIDEXAMPLE, region
// us-east-1, service "service", 2015-08-30T12:36:00Z), which were computed by AWS, not by this
// code.
#include "server/security/sigv4.hpp"

#include "server/security/crypto.hpp"

#include <gtest/gtest.h>

#include <ctime>

namespace stepd::server::security {
namespace {

constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kScope = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";

std::chrono::system_clock::time_point at(int y, int mo, int d, int h, int mi, int s) {
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

const auto kSigned = at(2015, 8, 30, 12, 36, 0);

HttpRequest suite_request(const std::string& method, const std::string& target,
                          const std::string& signature) {
  HttpRequest r;
  r.method = method;
  r.target = target;
  const auto q = target.find('?');
  r.path = target.substr(0, q);
  r.query = q == std::string::npos ? "" : target.substr(q + 1);
  std::string authorization = "AWS4-HMAC-SHA256 Credential=";
  authorization += kScope;
  authorization += ", SignedHeaders=host;x-amz-date, Signature=";
  authorization += signature;
  r.headers.push_back({"Host", "example.amazonaws.com"});
  r.headers.push_back({"X-Amz-Date", "20150830T123600Z"});
  r.headers.push_back({"Authorization", authorization});
  return r;
}

SigV4Check check(const HttpRequest& r, std::chrono::system_clock::time_point now = kSigned,
                 const char* secret = kSecret) {
  std::string error;
  auto auth = parse_sigv4_authorization(*r.header("authorization"), error);
  EXPECT_TRUE(auth.has_value()) << error;
  if (!auth) return {SigV4Outcome::Malformed, error};
  return verify_sigv4(r, *auth, secret, now, std::chrono::minutes(15));
}

TEST(SigV4Test, AcceptsTheTestSuiteSignatures) {
  EXPECT_EQ(check(suite_request("GET", "/",
                                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"))
                .outcome,
            SigV4Outcome::Ok);
  EXPECT_EQ(check(suite_request("POST", "/",
                                "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"))
                .outcome,
            SigV4Outcome::Ok);
  EXPECT_EQ(check(suite_request("GET", "/?Param1=value1",
                                "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"))
                .outcome,
            SigV4Outcome::Ok);
}

TEST(SigV4Test, CanonicalRequestOfGetVanilla) {
  const HttpRequest r = suite_request("GET", "/", "x");
  EXPECT_EQ(sigv4_canonical_request(r, {"host", "x-amz-date"}),
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-date\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4Test, CanonicalHeadersTrimAndJoinRepeatedHeaders) {
  HttpRequest r = suite_request("GET", "/?b=2&a=1&a=0", "x");
  r.headers.push_back({"My-Header1", "  value4  "});
  r.headers.push_back({"my-header1", "value1   and  more"});
  EXPECT_EQ(sigv4_canonical_request(r, {"host", "my-header1"}),
            "GET\n/\na=0&a=1&b=2\nhost:example.amazonaws.com\n"
            "my-header1:value4,value1 and more\n\nhost;my-header1\n"
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(SigV4Test, AnyChangeBreaksTheSignature) {
  const std::string good = "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b";
  HttpRequest body = suite_request("POST", "/", good);
  body.body = "{}";  // the body was empty when signed
  EXPECT_EQ(check(body).outcome, SigV4Outcome::BadSignature);
  EXPECT_EQ(check(body).message,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details.");
  HttpRequest host = suite_request("POST", "/", good);
  host.headers[0].value = "evil.example.com";
  EXPECT_EQ(check(host).outcome, SigV4Outcome::BadSignature);
  HttpRequest method = suite_request("GET", "/", good);
  EXPECT_EQ(check(method).outcome, SigV4Outcome::BadSignature);
  EXPECT_EQ(check(suite_request("POST", "/", good), kSigned, "another-secret").outcome,
            SigV4Outcome::BadSignature);
  // Upper-case hex is the same signature.
  std::string upper = good;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(check(suite_request("POST", "/", upper)).outcome, SigV4Outcome::Ok);
}

TEST(SigV4Test, RequestTimeMustBeWithinTheSkew) {
  const HttpRequest r =
      suite_request("GET", "/", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
  EXPECT_EQ(check(r, at(2015, 8, 30, 12, 50, 59)).outcome, SigV4Outcome::Ok);
  const SigV4Check late = check(r, at(2015, 8, 30, 12, 51, 1));
  EXPECT_EQ(late.outcome, SigV4Outcome::Expired);
  EXPECT_EQ(late.message,
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z "
            "(20150830T125101Z - 15 min.)");
  const SigV4Check early = check(r, at(2015, 8, 30, 12, 20, 0));
  EXPECT_EQ(early.outcome, SigV4Outcome::Expired);
  EXPECT_EQ(early.message,
            "Signature not yet current: 20150830T123600Z is still later than 20150830T123500Z "
            "(20150830T122000Z + 15 min.)");
}

TEST(SigV4Test, MalformedHeaders) {
  std::string error;
  EXPECT_FALSE(
      parse_sigv4_authorization("AWS4-HMAC-SHA256 SignedHeaders=host, Signature=abc", error));
  EXPECT_EQ(error, "Authorization header requires 'Credential' parameter.");
  EXPECT_FALSE(parse_sigv4_authorization(
      std::string("AWS4-HMAC-SHA256 Credential=") + kScope + ", Signature=abc", error));
  EXPECT_EQ(error, "Authorization header requires 'SignedHeaders' parameter.");
  EXPECT_FALSE(parse_sigv4_authorization(
      std::string("AWS4-HMAC-SHA256 Credential=") + kScope + ", SignedHeaders=host", error));
  EXPECT_EQ(error, "Authorization header requires 'Signature' parameter.");
  EXPECT_FALSE(parse_sigv4_authorization(
      "AWS4-HMAC-SHA256 Credential=AKID/2015/us-east-1, SignedHeaders=host, Signature=a", error));
  EXPECT_EQ(error.rfind("Credential should be scoped to a valid region", 0), 0u) << error;

  auto auth = parse_sigv4_authorization(std::string("AWS4-HMAC-SHA256 Credential=") + kScope +
                                            ", SignedHeaders=Host;X-Amz-Date, Signature=abc",
                                        error);
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->access_key_id, "AKIDEXAMPLE");
  EXPECT_EQ(auth->date, "20150830");
  EXPECT_EQ(auth->region, "us-east-1");
  EXPECT_EQ(auth->service, "service");
  EXPECT_EQ(auth->signed_headers, (std::vector<std::string>{"host", "x-amz-date"}));

  // The scope's date must be the request's.
  HttpRequest r = suite_request("GET", "/", "abc");
  r.headers[1].value = "20150831T123600Z";
  auth = parse_sigv4_authorization(*r.header("authorization"), error);
  ASSERT_TRUE(auth);
  EXPECT_EQ(verify_sigv4(r, *auth, kSecret, kSigned, std::chrono::minutes(15)).outcome,
            SigV4Outcome::Malformed);
  // Host must be signed.
  auth->signed_headers = {"x-amz-date"};
  r = suite_request("GET", "/", "abc");
  const SigV4Check unsigned_host =
      verify_sigv4(r, *auth, kSecret, kSigned, std::chrono::minutes(15));
  EXPECT_EQ(unsigned_host.outcome, SigV4Outcome::Malformed);
  EXPECT_EQ(unsigned_host.message,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
}

TEST(CryptoTest, HashesAndComparisons) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  EXPECT_EQ(from_hex("00ff10"), std::string("\x00\xff\x10", 3));
  EXPECT_EQ(from_hex("0g"), "");
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "abcd"));
}

}  // namespace
}  // namespace stepd::server::security
