// Authentication in a running HTTP server: the router in front of handlers that report who
// called, and of the real Operations service over an engine on SQLite (roles).
#include "server/security/authenticator.hpp"

#include "server/http/router.hpp"
#include "server/http/server.hpp"
#include "server/operations/operations.hpp"
#include "server/security/crypto.hpp"
#include "tests/server/process/http_client.hpp"
#include "tests/support/child_process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>

namespace stepd::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::http_request;
using test::run_command;

// Answers with the caller it was given.
class WhoAmI final : public Handler {
 public:
  void handle(HttpRequest request, Caller caller, Respond respond) override {
    (void)request;
    respond(HttpResponse{200,
                         "application/json",
                         {},
                         json{{"key_id", caller.key_id},
                              {"role", std::string(to_string(caller.role))},
                              {"activities", caller.activities},
                              {"traceparent", caller.traceparent}}
                             .dump()});
  }
};

// ListStateMachines as the AWS CLI expects it, naming the caller's key as the one machine.
class AwsWhoAmI final : public Handler {
 public:
  void handle(HttpRequest request, Caller caller, Respond respond) override {
    (void)request;
    json machine = {{"stateMachineArn", "arn:aws:states:local:000000000000:stateMachine:x"},
                    {"name", "caller-" + caller.key_id},
                    {"type", "STANDARD"},
                    {"creationDate", 1700000000}};
    respond(HttpResponse{200,
                         "application/x-amz-json-1.0",
                         {},
                         json{{"stateMachines", json::array({machine})}}.dump()});
  }
};

// /v1/create and /v1/list through the real Operations service.
class OperationsHandler final : public Handler {
 public:
  explicit OperationsHandler(Operations& ops) : ops_(ops) {}
  void handle(HttpRequest request, Caller caller, Respond respond) override {
    json out;
    if (request.path == "/v1/create") {
      auto r = ops_.create_state_machine(
          caller, {"M", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})", "STANDARD",
                   "", "[]"});
      if (auto* e = std::get_if<ApiError>(&r)) {
        out = {{"error", e->type}, {"message", e->message}};
      } else {
        out = {{"arn", std::get<StateMachineRecord>(r).arn}};
      }
    } else {
      auto r = ops_.list_state_machines(caller, PageRequest{});
      if (auto* e = std::get_if<ApiError>(&r)) {
        out = {{"error", e->type}, {"message", e->message}};
      } else {
        out = {{"count", std::get<Page<StateMachineRecord>>(r).items.size()}};
      }
    }
    respond(HttpResponse{200, "application/json", {}, out.dump()});
  }

 private:
  Operations& ops_;
};

class Healthy final : public Handler {
 public:
  void handle(HttpRequest, Caller, Respond respond) override {
    respond(HttpResponse{200, "application/json", {}, R"({"status":"ok"})"});
  }
};

security::Authenticator make_auth() {
  auto keys = security::parse_api_keys(
      R"([{"id":"ci","secret":"ci-secret-0123456789","role":"admin"},
          {"id":"viewer","sha256":")" +
          security::sha256_hex("viewer-secret") +
          R"(","role":"read-only"},
          {"id":"worker","secret":"worker-secret","role":"worker","activities":["arn:a"]}])",
      "keys");
  EXPECT_TRUE(keys.ok());
  return security::Authenticator(std::move(*keys));
}

class AuthServerTest : public ::testing::Test {
 protected:
  void start(const security::Authenticator* auth, Handler* rest = nullptr) {
    router_ =
        std::make_unique<Router>(Routes{&aws_, rest != nullptr ? rest : &who_, &healthy_, auth});
    ServerOptions options;
    options.port = 0;
    options.io_threads = 2;
    options.handler_threads = 2;
    server_ = std::make_unique<HttpServer>(options, *router_);
    engine::Status s = server_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  void TearDown() override {
    if (server_) server_->stop(1s);
  }
  unsigned short port() const { return server_->port(); }

  WhoAmI who_;
  AwsWhoAmI aws_;
  Healthy healthy_;
  std::unique_ptr<Router> router_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(AuthServerTest, WithoutKeysEveryCallerIsAnonymousAdmin) {
  const security::Authenticator off;
  start(&off);
  auto r = http_request(port(), "GET", "/v1/whoami", "", {{"Authorization", "Bearer junk"}});
  ASSERT_EQ(r.status, 200) << r.error;
  EXPECT_EQ(json::parse(r.body)["key_id"], "anonymous");
  EXPECT_EQ(json::parse(r.body)["role"], "admin");
}

TEST_F(AuthServerTest, BearerKeysGiveTheirRole) {
  const security::Authenticator auth = make_auth();
  start(&auth);
  auto ci = http_request(port(), "GET", "/v1/whoami", "",
                         {{"Authorization", "Bearer ci-secret-0123456789"}});
  ASSERT_EQ(ci.status, 200) << ci.body;
  EXPECT_EQ(json::parse(ci.body)["key_id"], "ci");
  EXPECT_EQ(json::parse(ci.body)["role"], "admin");
  auto viewer =
      http_request(port(), "GET", "/v1/whoami", "", {{"Authorization", "Bearer viewer-secret"}});
  ASSERT_EQ(viewer.status, 200);
  EXPECT_EQ(json::parse(viewer.body)["role"], "read-only");
  auto worker =
      http_request(port(), "GET", "/v1/whoami", "", {{"Authorization", "Bearer worker-secret"}});
  ASSERT_EQ(worker.status, 200);
  EXPECT_EQ(json::parse(worker.body)["role"], "worker");
  EXPECT_EQ(json::parse(worker.body)["activities"], json::array({"arn:a"}));
}

TEST_F(AuthServerTest, UnauthenticatedAnswersByProtocol) {
  const security::Authenticator auth = make_auth();
  start(&auth);
  auto rest = http_request(port(), "GET", "/v1/whoami");
  EXPECT_EQ(rest.status, 401);
  EXPECT_EQ(rest.header("content-type"), "application/json");
  EXPECT_EQ(rest.header("www-authenticate"), "Bearer realm=\"stepd\"");
  EXPECT_FALSE(rest.header("x-amzn-requestid").empty());
  EXPECT_EQ(json::parse(rest.body),
            (json{{"code", "Unauthorized"},
                  {"message",
                   "Missing credentials: send 'Authorization: Bearer <API key>' or sign the "
                   "request with AWS Signature Version 4 (access key id = API key id, secret = "
                   "API key)"}}));
  auto wrong = http_request(port(), "GET", "/v1/whoami", "", {{"Authorization", "Bearer nope"}});
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(json::parse(wrong.body),
            (json{{"code", "Unauthorized"},
                  {"message", "The security token included in the request is invalid."}}));

  auto aws = http_request(port(), "POST", "/", "{}",
                          {{"X-Amz-Target", "AWSStepFunctions.ListStateMachines"},
                           {"Content-Type", "application/x-amz-json-1.0"}});
  EXPECT_EQ(aws.status, 401);
  EXPECT_EQ(aws.header("content-type"), "application/x-amz-json-1.0");
  EXPECT_EQ(json::parse(aws.body)["__type"], "UnrecognizedClientException");
  auto aws_wrong = http_request(
      port(), "POST", "/", "{}",
      {{"X-Amz-Target", "AWSStepFunctions.ListStateMachines"}, {"Authorization", "Bearer nope"}});
  EXPECT_EQ(json::parse(aws_wrong.body),
            (json{{"__type", "UnrecognizedClientException"},
                  {"message", "The security token included in the request is invalid."}}));

  // Health and metrics need no credentials.
  EXPECT_EQ(http_request(port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(http_request(port(), "GET", "/metrics").status, 200);
}

TEST_F(AuthServerTest, TraceparentIsPassedOnWhenValid) {
  const security::Authenticator off;
  start(&off);
  const std::string valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  auto r = http_request(port(), "GET", "/v1/x", "", {{"traceparent", valid}});
  EXPECT_EQ(json::parse(r.body)["traceparent"], valid);
  auto bad =
      http_request(port(), "GET", "/v1/x", "",
                   {{"traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"}});
  EXPECT_EQ(json::parse(bad.body)["traceparent"], "");
}

TEST_F(AuthServerTest, ReadOnlyKeyIsDeniedWritesByOperations) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("stepd-auth-test-" + std::to_string(::getpid()) + ".db");
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s);
  auto store = engine::open_store("sqlite:" + path.string());
  ASSERT_TRUE(store.ok());
  engine::Engine engine(std::move(*store), engine::EngineOptions{});
  ASSERT_TRUE(engine.start().ok());
  {
    Operations ops(engine, nullptr);
    OperationsHandler handler(ops);
    const security::Authenticator auth = make_auth();
    start(&auth, &handler);

    auto denied =
        http_request(port(), "POST", "/v1/create", "", {{"Authorization", "Bearer viewer-secret"}});
    ASSERT_EQ(denied.status, 200) << denied.body;
    EXPECT_EQ(json::parse(denied.body), (json{{"error", "AccessDeniedException"},
                                              {"message",
                                               "User: viewer is not authorized to perform: "
                                               "states:CreateStateMachine"}}));
    auto listed =
        http_request(port(), "GET", "/v1/list", "", {{"Authorization", "Bearer viewer-secret"}});
    EXPECT_EQ(json::parse(listed.body), (json{{"count", 0}}));
    auto created = http_request(port(), "POST", "/v1/create", "",
                                {{"Authorization", "Bearer ci-secret-0123456789"}});
    EXPECT_EQ(json::parse(created.body)["arn"], "arn:aws:states:local:000000000000:stateMachine:M");
    auto worker =
        http_request(port(), "POST", "/v1/create", "", {{"Authorization", "Bearer worker-secret"}});
    EXPECT_EQ(json::parse(worker.body)["error"], "AccessDeniedException");
    server_->stop(1s);
    server_.reset();
  }
  engine.shutdown();
  for (const char* s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s);
}

// The AWS CLI (botocore's signer, not ours) signs with the key id and secret; the server
// verifies the signature.
TEST_F(AuthServerTest, AwsCliSignedRequestsAreVerified) {
  std::string out;
  if (run_command("aws --version", out) != 0) GTEST_SKIP() << "the aws CLI is not installed";
  const security::Authenticator auth = make_auth();
  start(&auth);
  const std::string base =
      "env AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null "
      "AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1 AWS_RETRY_MODE=standard "
      "AWS_ACCESS_KEY_ID=ci ";
  const std::string call =
      " aws stepfunctions list-state-machines --region us-east-1 "
      "--output json --endpoint-url http://127.0.0.1:" +
      std::to_string(port());

  ASSERT_EQ(run_command(base + "AWS_SECRET_ACCESS_KEY=ci-secret-0123456789" + call, out), 0) << out;
  EXPECT_EQ(json::parse(out)["stateMachines"][0]["name"], "caller-ci") << out;

  EXPECT_NE(run_command(base + "AWS_SECRET_ACCESS_KEY=not-the-secret" + call, out), 0);
  EXPECT_NE(out.find("InvalidSignatureException"), std::string::npos) << out;
  EXPECT_NE(out.find("The request signature we calculated does not match"), std::string::npos)
      << out;

  EXPECT_NE(run_command("env AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null "
                        "AWS_EC2_METADATA_DISABLED=true AWS_MAX_ATTEMPTS=1 "
                        "AWS_ACCESS_KEY_ID=nobody AWS_SECRET_ACCESS_KEY=x" +
                            call,
                        out),
            0);
  EXPECT_NE(out.find("UnrecognizedClientException"), std::string::npos) << out;
}

}  // namespace
}  // namespace stepd::server
