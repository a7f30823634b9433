#include "server/rest/rest_api.hpp"

namespace stepd::server {

void RestApi::handle(HttpRequest request, Caller caller, Respond respond) {
  (void)request;
  (void)caller;
  (void)operations_;
  respond(HttpResponse{501, "application/json", {}, R"({"message":"not built yet"})"});
}

}  // namespace stepd::server
