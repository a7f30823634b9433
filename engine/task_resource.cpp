#include "engine/task_resource.hpp"

#include <cctype>
#include <vector>

namespace stepd::engine {
namespace {

constexpr std::string_view kLambdaInvoke = "arn:aws:states:::lambda:invoke";

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    std::size_t pos = s.find(sep, start);
    if (pos == std::string_view::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

bool is_partition(std::string_view p) { return p.rfind("aws", 0) == 0; }

}  // namespace

ResourceKind classify_resource(std::string_view resource) {
  if (resource == kLambdaInvoke) return ResourceKind::LambdaInvoke;
  auto parts = split(resource, ':');
  // arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME[:QUALIFIER]
  if ((parts.size() == 7 || parts.size() == 8) && parts[0] == "arn" && is_partition(parts[1]) &&
      parts[2] == "lambda" && parts[5] == "function" && !parts[6].empty()) {
    return ResourceKind::LambdaFunction;
  }
  return ResourceKind::Other;
}

std::optional<LambdaFunctionRef> parse_lambda_function(std::string_view text) {
  if (text.empty()) return std::nullopt;
  auto parts = split(text, ':');
  LambdaFunctionRef ref;
  if (parts[0] == "arn") {
    if (parts.size() < 7 || parts.size() > 8 || parts[2] != "lambda" || parts[5] != "function") {
      return std::nullopt;
    }
    ref.name = std::string(parts[6]);
    if (parts.size() == 8) ref.qualifier = std::string(parts[7]);
  } else if (parts.size() >= 3 && parts[1] == "function") {
    // ACCOUNT:function:NAME[:QUALIFIER]
    if (parts.size() > 4) return std::nullopt;
    ref.name = std::string(parts[2]);
    if (parts.size() == 4) ref.qualifier = std::string(parts[3]);
  } else {
    if (parts.size() > 2) return std::nullopt;
    ref.name = std::string(parts[0]);
    if (parts.size() == 2) ref.qualifier = std::string(parts[1]);
  }
  if (ref.name.empty()) return std::nullopt;
  return ref;
}

ServiceResource service_resource(std::string_view resource) {
  constexpr std::string_view kStates = "arn:aws:states:::";
  if (resource.rfind(kStates, 0) == 0) {
    std::string_view rest = resource.substr(kStates.size());
    std::size_t colon = rest.find(':');
    if (colon != std::string_view::npos) {
      return {std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
    }
  }
  auto parts = split(resource, ':');
  if (parts.size() == 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity") {
    return {"activity", std::string(parts[6])};
  }
  return {"", std::string(resource)};
}

TaskTarget classify_task(std::string_view resource) {
  TaskTarget t;
  auto parts = split(resource, ':');
  if (parts.size() < 6 || parts[0] != "arn" || !is_partition(parts[1])) return t;
  if (parts[2] == "lambda") {
    if (classify_resource(resource) != ResourceKind::LambdaFunction) return t;
    t.kind = TaskTarget::Kind::LambdaFunction;
    t.function.name = std::string(parts[6]);
    if (parts.size() == 8) t.function.qualifier = std::string(parts[7]);
    return t;
  }
  if (parts[2] != "states") return t;
  // arn:aws:states:REGION:ACCOUNT:activity:NAME
  if (parts[5] == "activity") {
    if (parts.size() != 7 || parts[6].empty()) return t;
    t.kind = TaskTarget::Kind::Activity;
    t.action = std::string(parts[6]);
    return t;
  }
  // arn:aws:states:REGION:ACCOUNT:SERVICE:ACTION[.suffix][:2]
  // The ".sync:2" suffix splits into one more part.
  std::size_t end = parts.size();
  bool two = false;
  if (end == 8 && parts[7] == "2") {
    two = true;
    --end;
  }
  std::string_view service = parts[5];
  std::string_view action;
  bool sdk = false;
  if (service == "aws-sdk") {
    if (end != 8) return t;
    sdk = true;
    service = parts[6];
    action = parts[7];
  } else {
    if (end != 7) return t;
    action = parts[6];
  }
  if (service.empty() || action.empty()) return t;
  std::size_t dot = action.find('.');
  if (dot != std::string_view::npos) {
    std::string_view suffix = action.substr(dot + 1);
    action = action.substr(0, dot);
    if (suffix == "sync") {
      t.pattern = two ? IntegrationPattern::Sync2 : IntegrationPattern::Sync;
    } else if (suffix == "waitForTaskToken" && !two) {
      t.pattern = IntegrationPattern::WaitForTaskToken;
    } else {
      return t;
    }
  } else if (two) {
    return t;
  }
  if (action.empty()) return t;
  t.service = std::string(service);
  t.action = std::string(action);
  t.sdk = sdk;
  if (sdk) {
    t.kind = TaskTarget::Kind::Service;
  } else if (service == "lambda" && action == "invoke") {
    t.kind = TaskTarget::Kind::LambdaInvoke;
  } else if (service == "http" && action == "invoke") {
    t.kind = TaskTarget::Kind::HttpInvoke;
  } else if (service == "states" && action == "startExecution") {
    t.kind = TaskTarget::Kind::StartExecution;
  } else {
    t.kind = TaskTarget::Kind::Service;
  }
  return t;
}

std::optional<HttpUrl> parse_http_url(std::string_view url, std::string* why, UrlSchemes schemes) {
  auto fail = [&](std::string reason) -> std::optional<HttpUrl> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  const bool https_allowed = schemes == UrlSchemes::HttpOrHttps;
  std::string_view rest = url;
  std::string scheme = "http";
  std::size_t scheme_end = rest.find("://");
  if (scheme_end != std::string_view::npos) {
    std::string_view given = rest.substr(0, scheme_end);
    if (given == "https" && !https_allowed) {
      return fail("https:// URLs are not supported here; use http://");
    }
    if (given != "http" && given != "https") {
      return fail(https_allowed ? "the URL scheme must be http:// or https://"
                                : "the URL scheme must be http://");
    }
    scheme = std::string(given);
    rest = rest.substr(scheme_end + 3);
  }
  HttpUrl out;
  out.scheme = scheme;
  std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  out.target = slash == std::string_view::npos ? "/" : std::string(rest.substr(slash));
  if (authority.empty()) return fail("the URL has no host");
  std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    out.host = std::string(authority.substr(0, colon));
    out.port = std::string(authority.substr(colon + 1));
    if (out.port.empty() || out.port.size() > 5) return fail("the URL has a bad port");
    for (char c : out.port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return fail("the URL has a bad port");
    }
  } else {
    out.host = std::string(authority);
    out.port = scheme == "https" ? "443" : "80";
  }
  if (out.host.size() >= 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  if (out.host.empty()) return fail("the URL has no host");
  return out;
}

}  // namespace stepd::engine
