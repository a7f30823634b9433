#include "server/observability/observability_api.hpp"

#include <nlohmann/json.hpp>

namespace stepd::server::observability {

namespace {

HttpResponse json(int status, const nlohmann::json& body) {
  HttpResponse r;
  r.status = status;
  r.body = body.dump();
  return r;
}

}  // namespace

void ObservabilityApi::handle(HttpRequest request, Caller caller, Respond respond) {
  (void)caller;
  if (request.method != "GET" && request.method != "HEAD") {
    HttpResponse r =
        json(405, {{"code", "MethodNotAllowed"}, {"message", request.path + " answers GET only"}});
    r.headers.push_back({"Allow", "GET, HEAD"});
    respond(std::move(r));
    return;
  }
  if (request.path == "/metrics") {
    HttpResponse r;
    r.content_type = kExpositionContentType;
    r.body = metrics_.scrape();
    respond(std::move(r));
    return;
  }
  if (request.path == "/healthz") {
    respond(json(200, {{"status", "ok"}}));
    return;
  }
  if (request.path == "/readyz") {
    if (draining_.load()) {
      respond(json(503, {{"status", "not ready"}, {"reason", "the server is shutting down"}}));
      return;
    }
    if (engine_ == nullptr) {
      respond(json(503, {{"status", "not ready"}, {"reason", "the engine is not running"}}));
      return;
    }
    const int held = engine_->stats().partitions_held;
    if (held < 1) {
      respond(json(503, {{"status", "not ready"},
                         {"reason", "the engine holds no partition"},
                         {"partitions_held", held}}));
      return;
    }
    respond(json(200, {{"status", "ready"}, {"partitions_held", held}}));
    return;
  }
  respond(json(404, {{"code", "NotFound"},
                     {"message", "No route for " + request.method + " " + request.path}}));
}

}  // namespace stepd::server::observability
