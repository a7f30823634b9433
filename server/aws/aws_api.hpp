// PLACEHOLDER: replaced by the aws adapter.
#pragma once

#include "server/http/message.hpp"
#include "server/operations/operations.hpp"

namespace stepd::server {

class AwsApi final : public Handler {
 public:
  explicit AwsApi(Operations& operations) : operations_(operations) {}
  void handle(HttpRequest request, Caller caller, Respond respond) override;

 private:
  Operations& operations_;
};

}  // namespace stepd::server
