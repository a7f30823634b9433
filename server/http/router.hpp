// The front handler of stepd: sorts each request to the handler that serves it, after reading
// the trace header and authenticating the caller.
//
//   POST /  with X-Amz-Target            -> the AWS Step Functions adapter (server/aws/)
//   /v1/...                              -> the REST adapter (server/rest/)
//   /metrics, /healthz, /readyz          -> observability (never authenticated)
//   anything else                        -> 404 {"code":"NotFound","message":"..."}
//
// With authentication on (security::Authenticator::enabled()), AWS and REST requests without
// valid credentials get 401: `{"__type":"UnrecognizedClientException","message":..}` (or the
// SigV4 failure's own type) for the AWS protocol, `{"code":"Unauthorized","message":..}` for
// REST. A valid W3C `traceparent` header (00-<32 hex>-<16 hex>-<2 hex>) is passed on in
// Caller::traceparent; an invalid one is ignored.
//
// Threads: handle() runs on the server's handler threads; the router keeps no state.
#pragma once

#include "server/http/message.hpp"

#include <string_view>

namespace stepd::server {

namespace security {
class Authenticator;
}

enum class RouteKind { Aws, Rest, Metrics, Health, NotFound };

// "aws" | "rest" | "metrics" | "health" | "not_found" (the `route` label of the HTTP metrics).
std::string_view to_string(RouteKind kind);

// Where a request goes. `amz_target` is the X-Amz-Target header ("" when absent).
RouteKind classify_route(std::string_view method, std::string_view path,
                         std::string_view amz_target);

// W3C Trace Context, version 00: "00-" 32 lowercase hex (not all zero) "-" 16 lowercase hex
// (not all zero) "-" 2 lowercase hex.
bool valid_traceparent(std::string_view value);

struct Routes {
  Handler* aws = nullptr;
  Handler* rest = nullptr;
  Handler* observability = nullptr;
  const security::Authenticator* auth = nullptr;  // null or disabled: anonymous Admin
};

class Router final : public Handler {
 public:
  // Every handler and the authenticator outlive the router.
  explicit Router(Routes routes) : routes_(routes) {}
  void handle(HttpRequest request, Caller caller, Respond respond) override;

 private:
  Routes routes_;
};

}  // namespace stepd::server
