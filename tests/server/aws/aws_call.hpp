// Calling the AWS JSON adapter (AwsApi::handle) in process as the HTTP server does, and waiting
// for its answer. Shared by the AWS API tests.
#pragma once

#include "server/aws/aws_api.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <utility>

namespace stepd::test {

// A POST / as the AWS SDKs send it: Content-Type application/x-amz-json-1.0, X-Amz-Target
// `target` (no such header when it is empty), and `body`.
inline server::HttpRequest aws_json_request(const std::string& target, std::string body) {
  server::HttpRequest request;
  request.method = "POST";
  request.target = request.path = "/";
  if (!target.empty()) request.headers.push_back({"X-Amz-Target", target});
  request.headers.push_back({"Content-Type", "application/x-amz-json-1.0"});
  request.body = std::move(body);
  return request;
}

// Hands `request` to `api` as `caller` and waits up to `limit` for the answer. The test fails
// (naming `what`) when none comes (the answer is then status 0) or when there were two.
inline server::HttpResponse await_answer(server::AwsApi& api, server::HttpRequest request,
                                         const server::Caller& caller,
                                         std::chrono::milliseconds limit,
                                         const std::string& what) {
  auto promise = std::make_shared<std::promise<server::HttpResponse>>();
  auto future = promise->get_future();
  auto calls = std::make_shared<std::atomic<int>>(0);
  api.handle(std::move(request), caller, [promise, calls](server::HttpResponse r) {
    if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
  });
  if (future.wait_for(limit) != std::future_status::ready) {
    ADD_FAILURE() << what << " did not answer";
    return server::HttpResponse{0, "", {}, ""};
  }
  server::HttpResponse r = future.get();
  EXPECT_EQ(calls->load(), 1) << what << " answered more than once";
  return r;
}

}  // namespace stepd::test
