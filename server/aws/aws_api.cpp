#include "server/aws/aws_api.hpp"

namespace stepd::server {

void AwsApi::handle(HttpRequest request, Caller caller, Respond respond) {
  (void)request;
  (void)caller;
  (void)operations_;
  respond(HttpResponse{501, "application/json", {}, R"({"message":"not built yet"})"});
}

}  // namespace stepd::server
