#include "server/http/router.hpp"

#include "server/security/authenticator.hpp"

#include <nlohmann/json.hpp>

namespace stepd::server {

std::string_view to_string(RouteKind kind) {
  switch (kind) {
    case RouteKind::Aws: return "aws";
    case RouteKind::Rest: return "rest";
    case RouteKind::Metrics: return "metrics";
    case RouteKind::Health: return "health";
    case RouteKind::NotFound: return "not_found";
  }
  return "not_found";
}

RouteKind classify_route(std::string_view method, std::string_view path,
                         std::string_view amz_target) {
  if (path == "/" && method == "POST" && !amz_target.empty()) return RouteKind::Aws;
  if (path == "/v1" || path.substr(0, 4) == "/v1/") return RouteKind::Rest;
  if (path == "/metrics") return RouteKind::Metrics;
  if (path == "/healthz" || path == "/readyz") return RouteKind::Health;
  return RouteKind::NotFound;
}

bool valid_traceparent(std::string_view v) {
  // 00-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx-yyyyyyyyyyyyyyyy-zz
  if (v.size() != 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
  if (v.substr(0, 2) != "00") return false;
  auto hex = [](std::string_view s) {
    for (char c : s) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
  };
  auto zero = [](std::string_view s) { return s.find_first_not_of('0') == std::string_view::npos; };
  const std::string_view trace = v.substr(3, 32);
  const std::string_view parent = v.substr(36, 16);
  const std::string_view flags = v.substr(53, 2);
  return hex(trace) && hex(parent) && hex(flags) && !zero(trace) && !zero(parent);
}

namespace {

HttpResponse json_response(int status, const char* content_type, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.content_type = content_type;
  r.body = body.dump();
  return r;
}

}  // namespace

void Router::handle(HttpRequest request, Caller caller, Respond respond) {
  const std::string* target = request.header("x-amz-target");
  const RouteKind kind =
      classify_route(request.method, request.path, target ? std::string_view(*target) : "");
  Handler* handler = nullptr;
  switch (kind) {
    case RouteKind::Aws: handler = routes_.aws; break;
    case RouteKind::Rest: handler = routes_.rest; break;
    case RouteKind::Metrics:
    case RouteKind::Health: handler = routes_.observability; break;
    case RouteKind::NotFound: break;
  }
  if (handler == nullptr) {
    respond(json_response(404, "application/json",
                          {{"code", "NotFound"},
                           {"message", "No route for " + request.method + " " + request.path}}));
    return;
  }
  if (const std::string* tp = request.header("traceparent"); tp && valid_traceparent(*tp)) {
    caller.traceparent = *tp;
  }
  const bool api = kind == RouteKind::Aws || kind == RouteKind::Rest;
  if (api && routes_.auth != nullptr && routes_.auth->enabled()) {
    security::AuthResult auth = routes_.auth->authenticate(request);
    if (!auth.ok()) {
      HttpResponse r = kind == RouteKind::Aws
                           ? json_response(401, "application/x-amz-json-1.0",
                                           {{"__type", security::aws_error_type(auth.failure)},
                                            {"message", auth.message}})
                           : json_response(401, "application/json",
                                           {{"code", "Unauthorized"}, {"message", auth.message}});
      r.headers.push_back({"WWW-Authenticate", "Bearer realm=\"stepd\""});
      respond(std::move(r));
      return;
    }
    caller.key_id = std::move(auth.key_id);
    caller.role = auth.role;
    caller.activities = std::move(auth.activities);
  }
  handler->handle(std::move(request), std::move(caller), std::move(respond));
}

}  // namespace stepd::server
