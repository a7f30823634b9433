// The REST API: resources under /v1/ over the Operations service (docs/rest-api.md says what
// each route does; openapi.hpp holds the OpenAPI 3.0 document served at GET /v1/openapi.json).
//
// Answers are JSON. Errors are {"code": <AWS error name>, "message", "problems": [...]} with
// the status server/operations/errors.hpp gives the name; request problems found here are
// ValidationException (a wrong field, parameter or nesting: 400), SerializationException (a
// body that is not JSON: 400, saying where), UnknownOperationException (no such route: 404) and
// MethodNotAllowed (405, with an Allow header).
//
// Threads: handle() may run on several handler threads at once. Start, stop, redrive and the
// task reports answer from the engine's thread once their change is durable, and an activity
// task poll when a task comes or its wait ends (the handler thread does not wait for either);
// start-sync waits on the handler thread for the execution's end, at most
// RestOptions::sync_timeout (then it answers the execution as it is, RUNNING).
#pragma once

#include "server/http/message.hpp"
#include "server/operations/operations.hpp"
#include "server/rest/router.hpp"

#include <chrono>
#include <string>
#include <vector>

namespace stepd::server {

struct RestOptions {
  std::chrono::milliseconds sync_timeout = std::chrono::minutes(5);
  // Request bodies may nest arrays and objects this deep (the execution input inside one level
  // less); deeper is ValidationException before the body is parsed.
  int max_body_depth = 64;
};

class RestApi final : public Handler {
 public:
  explicit RestApi(Operations& operations, RestOptions options = {});
  ~RestApi() override;

  void handle(HttpRequest request, Caller caller, Respond respond) override;

  // Every route as the OpenAPI document names it: method ("GET"), path template
  // ("/v1/executions/{execution}:stop") and the query parameters it takes (any other is
  // ValidationException).
  struct RouteInfo {
    std::string method;
    std::string path;
    std::vector<std::string> query;
  };
  std::vector<RouteInfo> routes() const;

  struct Route;  // defined in rest_api.cpp

 private:
  Operations& operations_;
  RestOptions options_;
  rest::Router router_;
  std::vector<Route> routes_;
};

}  // namespace stepd::server
