// PLACEHOLDER: replaced by the rest adapter.
#pragma once

#include "server/http/message.hpp"
#include "server/operations/operations.hpp"

namespace stepd::server {

class RestApi final : public Handler {
 public:
  explicit RestApi(Operations& operations) : operations_(operations) {}
  void handle(HttpRequest request, Caller caller, Respond respond) override;

 private:
  Operations& operations_;
};

}  // namespace stepd::server
