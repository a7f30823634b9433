// stepd::worker::FunctionHost over real HTTP: results, handler errors as Lambda callers expect
// them, unknown functions, the headers a handler sees, keep-alive, and stopping with a request in
// progress.
#include "stepd/worker/function_host.hpp"

#include "tests/server/process/http_client.hpp"
#include "tests/workers-sdk/sdk_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <thread>

namespace sdktest {
// A user's exception type: its qualified name becomes the errorType.
struct CardDeclined : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace sdktest

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using worker::FunctionHost;
using worker::Request;

HeaderList json_headers() { return {{"Content-Type", "application/json"}}; }

class FunctionHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.handle("double", [](const Request &r) {
      return json{{"value", r.input.at("value").get<int>() * 2}};
    });
    host_.handle("boom", [](const Request &) -> json { throw std::runtime_error("it broke"); });
    host_.handle("declined", [](const Request &) -> json {
      throw sdktest::CardDeclined("card 4242 declined");
    });
    host_.handle("chosen", [](const Request &) -> json {
      throw worker::TaskFailure("Payment.Declined", "insufficient funds");
    });
    host_.handle("echo", [this](const Request &r) {
      std::lock_guard lock(mu_);
      seen_ = r;
      return r.input;
    });
    host_.start();
  }

  FunctionHost host_{worker::FunctionHostOptions{.threads = 2, .log = {}}};
  std::mutex mu_;
  Request seen_;
};

TEST_F(FunctionHostTest, AnswersTheHandlersResult) {
  ASSERT_NE(host_.port(), 0);
  EXPECT_EQ(host_.url("double"), "http://127.0.0.1:" + std::to_string(host_.port()) + "/double");
  const HttpReply r =
      http_request(host_.port(), "POST", "/double", R"({"value":21})", json_headers());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_EQ(r.header("x-amz-function-error"), "");
  EXPECT_EQ(json::parse(r.body), (json{{"value", 42}}));
  EXPECT_EQ(host_.stats().requests, 1u);
}

TEST_F(FunctionHostTest, AHandlerExceptionIsALambdaFunctionError) {
  const HttpReply boom = http_request(host_.port(), "POST", "/boom", "{}", json_headers());
  EXPECT_EQ(boom.status, 500);
  EXPECT_EQ(boom.header("x-amz-function-error"), "Unhandled");
  EXPECT_EQ(json::parse(boom.body),
            (json{{"errorType", "std::runtime_error"}, {"errorMessage", "it broke"}}));

  const HttpReply declined = http_request(host_.port(), "POST", "/declined", "{}", json_headers());
  EXPECT_EQ(declined.status, 500);
  EXPECT_EQ(json::parse(declined.body),
            (json{{"errorType", "sdktest::CardDeclined"}, {"errorMessage", "card 4242 declined"}}));

  const HttpReply chosen = http_request(host_.port(), "POST", "/chosen", "{}", json_headers());
  EXPECT_EQ(chosen.status, 500);
  EXPECT_EQ(chosen.header("x-amz-function-error"), "Unhandled");
  EXPECT_EQ(json::parse(chosen.body),
            (json{{"errorType", "Payment.Declined"}, {"errorMessage", "insufficient funds"}}));
  EXPECT_EQ(host_.stats().errors, 3u);
}

TEST_F(FunctionHostTest, UnknownFunctionsBadBodiesAndMethods) {
  const HttpReply missing = http_request(host_.port(), "POST", "/nope", "{}", json_headers());
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.header("x-amz-function-error"), "");
  EXPECT_EQ(json::parse(missing.body), (json{{"errorType", "Lambda.ResourceNotFoundException"},
                                             {"errorMessage",
                                              "No function at '/nope' on this host (it "
                                              "serves: /boom, /chosen, /declined, "
                                              "/double, /echo)"}}));

  const HttpReply bad = http_request(host_.port(), "POST", "/double", "{not json", json_headers());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body).at("errorType"), "InvalidRequestContentException");

  const HttpReply get = http_request(host_.port(), "GET", "/double");
  EXPECT_EQ(get.status, 405);
  EXPECT_EQ(get.header("allow"), "POST");

  const HttpReply health = http_request(host_.port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
}

TEST_F(FunctionHostTest, GivesTheHandlerTheStepdHeaders) {
  const HttpReply r = http_request(
      host_.port(), "POST", "/echo?x=1", R"({"Service":"dynamodb","Action":"putItem"})",
      {{"Content-Type", "application/json"},
       {"X-Stepd-Idempotency-Key", "key-1"},
       {"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
       {"X-Stepd-Execution-Arn", "arn:aws:states:local:000000000000:execution:M:run"},
       {"X-Stepd-State", "Charge"},
       {"X-Custom", "yes"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), (json{{"Service", "dynamodb"}, {"Action", "putItem"}}));
  std::lock_guard lock(mu_);
  EXPECT_EQ(seen_.function, "echo");
  EXPECT_EQ(seen_.idempotency_key, "key-1");
  EXPECT_EQ(seen_.traceparent, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_EQ(seen_.execution_arn, "arn:aws:states:local:000000000000:execution:M:run");
  EXPECT_EQ(seen_.state, "Charge");
  EXPECT_EQ(seen_.header("X-CUSTOM"), "yes");
  EXPECT_EQ(seen_.input.at("Service"), "dynamodb");
}

TEST_F(FunctionHostTest, KeepsConnectionsAlive) {
  TestConnection c;
  ASSERT_TRUE(c.connect(host_.port()));
  for (int i = 0; i < 5; ++i) {
    c.send(format_request("POST", "/double", R"({"value":)" + std::to_string(i) + "}",
                          json_headers()));
    auto reply = c.read_response();
    ASSERT_TRUE(reply.has_value());
    EXPECT_EQ(reply->status, 200);
    EXPECT_TRUE(reply->keep_alive);
    EXPECT_EQ(json::parse(reply->body).at("value"), i * 2);
  }
  EXPECT_EQ(host_.stats().connections, 1u);
}

TEST(FunctionHostSingleTest, ServesOneHandlerAtTheRoot) {
  FunctionHost host({.log = {}});
  host.handle("", [](const Request &r) { return json{{"got", r.input}, {"name", r.function}}; });
  host.start();
  const HttpReply r = http_request(host.port(), "POST", "/", "[1,2]", json_headers());
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), (json{{"got", {1, 2}}, {"name", ""}}));
  const HttpReply empty = http_request(host.port(), "POST", "/", "", {});
  EXPECT_EQ(json::parse(empty.body), (json{{"got", nullptr}, {"name", ""}}));
  EXPECT_THROW(host.handle("a/b", [](const Request &) { return json(); }), std::invalid_argument);
}

TEST(FunctionHostSingleTest, StopFinishesARequestInProgress) {
  FunctionHost host({.log = {}});
  std::atomic<bool> entered{false};
  host.handle("slow", [&](const Request &) {
    entered = true;
    std::this_thread::sleep_for(500ms);
    return json{{"finished", true}};
  });
  host.start();
  const unsigned short port = host.port();
  auto call = std::async(std::launch::async, [port] {
    return http_request(port, "POST", "/slow", "{}", json_headers(), std::chrono::seconds(5));
  });
  ASSERT_TRUE(wait_for([&] { return entered.load(); }));
  const auto start = std::chrono::steady_clock::now();
  host.stop();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  const HttpReply r = call.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body), (json{{"finished", true}}));
  EXPECT_FALSE(r.keep_alive);
  // Stopped: no longer listening.
  const HttpReply after = http_request(port, "POST", "/slow", "{}", json_headers(), 1s);
  EXPECT_EQ(after.status, 0);
}

}  // namespace
}  // namespace stepd::test
