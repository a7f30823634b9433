#include "server/security/sigv4.hpp"

#include "server/security/crypto.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <strings.h>

namespace stepd::server::security {

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto at = s.find(sep);
    parts.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return parts;
}

bool unreserved(unsigned char c) {
  return std::isalnum(c) != 0 || c == '-' || c == '_' || c == '.' || c == '~';
}

// RFC 3986 percent-encoding as SigV4 wants it: everything but the unreserved characters (and
// '/' when `keep_slash`) becomes %XX with uppercase hex.
std::string uri_encode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 0xf]);
    }
  }
  return out;
}

std::string uri_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const std::string byte = from_hex(s.substr(i + 1, 2));
      if (!byte.empty()) {
        out += byte;
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

// Header value with the outer blanks removed and inner runs of blanks made one space.
std::string canonical_value(std::string_view v) {
  v = trim(v);
  std::string out;
  out.reserve(v.size());
  bool blank = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      blank = true;
      continue;
    }
    if (blank) out.push_back(' ');
    blank = false;
    out.push_back(c);
  }
  return out;
}

std::string canonical_query(std::string_view query) {
  if (query.empty()) return "";
  std::vector<std::pair<std::string, std::string>> params;
  for (std::string_view pair : split(query, '&')) {
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    const std::string_view key = pair.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1);
    params.emplace_back(uri_encode(uri_decode(key), false), uri_encode(uri_decode(value), false));
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out += k;
    out.push_back('=');
    out += v;
  }
  return out;
}

// Seconds since the epoch of "YYYYMMDDTHHMMSSZ"; nullopt when it is not that.
std::optional<std::time_t> parse_amz_date(std::string_view s) {
  if (s.size() != 16 || s[8] != 'T' || s[15] != 'Z') return std::nullopt;
  for (std::size_t i = 0; i < 15; ++i) {
    if (i != 8 && std::isdigit(static_cast<unsigned char>(s[i])) == 0) return std::nullopt;
  }
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = 0; i < n; ++i) v = v * 10 + (s[at + i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  return timegm(&tm);
}

std::string format_amz_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
  return buf;
}

}  // namespace

std::optional<SigV4Authorization> parse_sigv4_authorization(std::string_view header,
                                                            std::string& error) {
  header = trim(header);
  if (header.substr(0, kSigV4Algorithm.size()) != kSigV4Algorithm) {
    error = "Unsupported authorization type";
    return std::nullopt;
  }
  header.remove_prefix(kSigV4Algorithm.size());
  std::string_view credential, signed_headers, signature;
  bool have_credential = false, have_signed = false, have_signature = false;
  for (std::string_view part : split(header, ',')) {
    part = trim(part);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    if (eq == std::string_view::npos) {
      error = "Authorization header requires each component to be of the form key=value.";
      return std::nullopt;
    }
    const std::string_view key = trim(part.substr(0, eq));
    const std::string_view value = trim(part.substr(eq + 1));
    if (key == "Credential") {
      credential = value;
      have_credential = true;
    } else if (key == "SignedHeaders") {
      signed_headers = value;
      have_signed = true;
    } else if (key == "Signature") {
      signature = value;
      have_signature = true;
    }
  }
  if (!have_credential) {
    error = "Authorization header requires 'Credential' parameter.";
    return std::nullopt;
  }
  if (!have_signed) {
    error = "Authorization header requires 'SignedHeaders' parameter.";
    return std::nullopt;
  }
  if (!have_signature) {
    error = "Authorization header requires 'Signature' parameter.";
    return std::nullopt;
  }
  const auto scope = split(credential, '/');
  if (scope.size() != 5 || scope[0].empty() || scope[1].size() != 8 || scope[2].empty() ||
      scope[3].empty() || scope[4] != "aws4_request") {
    error = "Credential should be scoped to a valid region, not a malformed scope: " +
            std::string(credential) + ". Expected <access key id>/YYYYMMDD/<region>/<service>" +
            "/aws4_request.";
    return std::nullopt;
  }
  SigV4Authorization auth;
  auth.access_key_id = std::string(scope[0]);
  auth.date = std::string(scope[1]);
  auth.region = std::string(scope[2]);
  auth.service = std::string(scope[3]);
  for (std::string_view h : split(signed_headers, ';')) {
    if (h.empty()) continue;
    std::string lower(h);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auth.signed_headers.push_back(std::move(lower));
  }
  if (auth.signed_headers.empty()) {
    error = "Authorization header requires 'SignedHeaders' parameter.";
    return std::nullopt;
  }
  auth.signature = std::string(signature);
  return auth;
}

std::string sigv4_canonical_request(const HttpRequest& request,
                                    const std::vector<std::string>& signed_headers) {
  std::string out;
  out += request.method;
  out.push_back('\n');
  // The path as the client sent it (already percent-encoded once), encoded again: what AWS
  // calls the canonical URI for every service but S3.
  out += request.path.empty() ? std::string("/") : uri_encode(request.path, true);
  out.push_back('\n');
  out += canonical_query(request.query);
  out.push_back('\n');
  for (const std::string& name : signed_headers) {
    std::string joined;
    bool first = true;
    for (const Header& h : request.headers) {
      if (h.name.size() != name.size() ||
          strncasecmp(h.name.data(), name.data(), name.size()) != 0) {
        continue;
      }
      if (!first) joined.push_back(',');
      joined += canonical_value(h.value);
      first = false;
    }
    out += name;
    out.push_back(':');
    out += joined;
    out.push_back('\n');
  }
  out.push_back('\n');
  for (std::size_t i = 0; i < signed_headers.size(); ++i) {
    if (i > 0) out.push_back(';');
    out += signed_headers[i];
  }
  out.push_back('\n');
  out += sha256_hex(request.body);
  return out;
}

std::string sigv4_string_to_sign(std::string_view amz_date, std::string_view scope,
                                 std::string_view canonical_request) {
  std::string out(kSigV4Algorithm);
  out.push_back('\n');
  out += amz_date;
  out.push_back('\n');
  out += scope;
  out.push_back('\n');
  out += sha256_hex(canonical_request);
  return out;
}

std::string sigv4_signature(std::string_view secret, std::string_view date, std::string_view region,
                            std::string_view service, std::string_view string_to_sign) {
  const std::string k_date = hmac_sha256("AWS4" + std::string(secret), date);
  const std::string k_region = hmac_sha256(k_date, region);
  const std::string k_service = hmac_sha256(k_region, service);
  const std::string k_signing = hmac_sha256(k_service, "aws4_request");
  return to_hex(hmac_sha256(k_signing, string_to_sign));
}

SigV4Check verify_sigv4(const HttpRequest& request, const SigV4Authorization& auth,
                        std::string_view secret, std::chrono::system_clock::time_point now,
                        std::chrono::seconds max_skew) {
  const std::string* amz_date = request.header("x-amz-date");
  if (amz_date == nullptr) {
    return {SigV4Outcome::Malformed,
            "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
            "header."};
  }
  const auto when = parse_amz_date(*amz_date);
  if (!when) {
    return {SigV4Outcome::Malformed,
            "X-Amz-Date must be in the ISO8601 Long Format "
            "(YYYYMMDD'T'HHMMSS'Z'), not " +
                *amz_date};
  }
  if (amz_date->substr(0, 8) != auth.date) {
    return {SigV4Outcome::Malformed,
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            "from HTTP: '" +
                auth.date + "' != '" + amz_date->substr(0, 8) + "', from '" + *amz_date + "'."};
  }
  if (std::find(auth.signed_headers.begin(), auth.signed_headers.end(), "host") ==
      auth.signed_headers.end()) {
    return {SigV4Outcome::Malformed,
            "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."};
  }
  const std::time_t now_t = std::chrono::system_clock::to_time_t(now);
  const long long skew = static_cast<long long>(*when) - static_cast<long long>(now_t);
  if (skew < -max_skew.count()) {
    // AWS: "Signature expired: <t> is now earlier than <now - 15 min> (<now> - 15 min.)"
    return {SigV4Outcome::Expired, "Signature expired: " + *amz_date + " is now earlier than " +
                                       format_amz_date(now_t - max_skew.count()) + " (" +
                                       format_amz_date(now_t) + " - " +
                                       std::to_string(max_skew.count() / 60) + " min.)"};
  }
  if (skew > max_skew.count()) {
    return {SigV4Outcome::Expired,
            "Signature not yet current: " + *amz_date + " is still later than " +
                format_amz_date(now_t + max_skew.count()) + " (" + format_amz_date(now_t) + " + " +
                std::to_string(max_skew.count() / 60) + " min.)"};
  }
  const std::string scope = auth.date + "/" + auth.region + "/" + auth.service + "/aws4_request";
  const std::string canonical = sigv4_canonical_request(request, auth.signed_headers);
  const std::string to_sign = sigv4_string_to_sign(*amz_date, scope, canonical);
  const std::string expected =
      sigv4_signature(secret, auth.date, auth.region, auth.service, to_sign);
  std::string sent = auth.signature;
  std::transform(sent.begin(), sent.end(), sent.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!constant_time_equal(expected, sent)) {
    return {SigV4Outcome::BadSignature,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service "
            "documentation for details."};
  }
  return {};
}

}  // namespace stepd::server::security
