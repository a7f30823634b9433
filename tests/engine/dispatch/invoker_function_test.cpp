// Lambda-style functions and service integrations through the HttpInvoker, against a real
// server on 127.0.0.1, routed by a Registry on a real SQLite store.
#include "engine/dispatch/http_invoker.hpp"

#include "engine/dispatch/invocation.hpp"
#include "invoker_test_server.hpp"
#include "invoker_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using asl::StatesError;
using invoker_testing::call;
using invoker_testing::error_of;
using invoker_testing::make_task;
using invoker_testing::Outcomes;
using invoker_testing::RegistryFixture;
using invoker_testing::result_of;
using std::chrono::milliseconds;
using testing::ElementsAre;
using testing::HasSubstr;
using testing_server::Received;
using testing_server::Reply;
using testing_server::TestServer;

constexpr const char* kLambdaInvoke = "arn:aws:states:::lambda:invoke";

std::string lambda_arn(const std::string& name) {
  return "arn:aws:lambda:us-east-1:123456789012:function:" + name;
}

// Functions: /echo answers {"got": <body>}; /error a Lambda error; /fail 500 without a body;
// /slow after 3 s.
Reply functions(const Received& r) {
  Reply reply;
  if (r.target == "/error") {
    reply.headers.emplace_back("X-Amz-Function-Error", "Unhandled");
    reply.body = R"({"errorType":"PaymentDeclined","errorMessage":"card expired"})";
  } else if (r.target == "/fail") {
    reply.status = 500;
    reply.body = "";
  } else if (r.target == "/slow") {
    reply.delay = milliseconds(3000);
  } else if (r.target == "/deep") {
    reply.body = std::string(100'000, '[') + std::string(100'000, ']');
  } else {
    reply.body = R"({"got":)" + (r.body.empty() ? std::string("null") : r.body) +
                 R"(,"path":")" + r.target + R"("})";
  }
  return reply;
}

class InvokerFunction : public ::testing::Test {
 protected:
  RegistryFixture routes_;
  HttpInvoker invoker_{*routes_.registry};
};

TEST_F(InvokerFunction, LambdaArnPostsThePayload) {
  TestServer server(functions);
  routes_.route("function", "echo", server.url("/echo"));
  Json r = result_of(call(invoker_, make_task(lambda_arn("echo"), {{"x", 1}})));
  EXPECT_EQ(r, Json::parse(R"({"got":{"x":1},"path":"/echo"})"));
  ASSERT_EQ(server.received().size(), 1u);
  EXPECT_EQ(server.received()[0].method, "POST");
  EXPECT_EQ(server.received()[0].value("Content-Type"), "application/json");
}

TEST_F(InvokerFunction, LambdaInvokeRoutesByQualifierAndWrapsTheResult) {
  TestServer server(functions);
  routes_.route("function", "pay", server.url("/pay"));
  routes_.route("function", "pay:live", server.url("/pay-live"));
  Json live = result_of(call(
      invoker_, make_task(kLambdaInvoke, {{"FunctionName", lambda_arn("pay:live")},
                                          {"Payload", {{"n", 1}}}})));
  EXPECT_EQ(live["Payload"], Json::parse(R"({"got":{"n":1},"path":"/pay-live"})"));
  EXPECT_EQ(live["StatusCode"], 200);
  EXPECT_EQ(live["ExecutedVersion"], "$LATEST");
  EXPECT_EQ(live["SdkHttpMetadata"]["HttpStatusCode"], 200);
  EXPECT_EQ(live["SdkHttpMetadata"]["HttpHeaders"]["Content-Type"], "application/json");
  EXPECT_EQ(live["SdkResponseMetadata"]["RequestId"].get<std::string>().size(), 36u);
  Json by_param = result_of(call(
      invoker_, make_task(kLambdaInvoke, {{"FunctionName", "pay"}, {"Qualifier", "live"}})));
  EXPECT_EQ(by_param["Payload"]["path"], "/pay-live");
  Json other = result_of(call(invoker_, make_task(lambda_arn("pay:beta"), {})));
  EXPECT_EQ(other["path"], "/pay");
}

TEST_F(InvokerFunction, CustomErrorTypeIsTheTaskError) {
  TestServer server(functions);
  routes_.route("function", "charge", server.url("/error"));
  EXPECT_EQ(error_of(call(invoker_, make_task(lambda_arn("charge"), {}))),
            (StatesError{"PaymentDeclined",
                         R"({"errorType":"PaymentDeclined","errorMessage":"card expired"})"}));
}

TEST_F(InvokerFunction, ServerErrorWithoutBodyIsLambdaServiceException) {
  TestServer server(functions);
  routes_.route("function", "f", server.url("/fail"));
  EXPECT_EQ(error_of(call(invoker_, make_task(lambda_arn("f"), {}))),
            (StatesError{"Lambda.ServiceException",
                         "The function at " + server.url("/fail") + " answered HTTP 500"}));
}

TEST_F(InvokerFunction, AnswerNestedTooDeepFailsTheTaskInsteadOfTheProcess) {
  TestServer server(functions);
  routes_.route("function", "deep", server.url("/deep"));
  EXPECT_EQ(error_of(call(invoker_, make_task(lambda_arn("deep"), {}))),
            (StatesError{"States.TaskFailed",
                         "The function at " + server.url("/deep") +
                             " returned JSON that nests arrays and objects deeper than 512 "
                             "levels (at byte 512)"}));
}

TEST_F(InvokerFunction, ConnectionRefusedIsSdkClientException) {
  unsigned short port;
  {
    boost::asio::io_context io;
    boost::asio::ip::tcp::acceptor a(
        io, boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/f";
  routes_.route("function", "f", url);
  StatesError e = error_of(call(invoker_, make_task(lambda_arn("f"), {})));
  EXPECT_EQ(e.error, "Lambda.SdkClientException");
  EXPECT_EQ(e.cause, "cannot connect to " + url + ": Connection refused");
}

TEST_F(InvokerFunction, UnregisteredFunctionIsResourceNotFound) {
  EXPECT_EQ(error_of(call(invoker_, make_task(lambda_arn("nobody"), {}))),
            (StatesError{"Lambda.ResourceNotFoundException",
                         "No route is registered for the Lambda function 'nobody' (register a "
                         "function route named 'nobody')"}));
}

TEST_F(InvokerFunction, SlowServerTimesOutAtTheDeadline) {
  TestServer server(functions);
  routes_.route("function", "slow", server.url("/slow"));
  TaskDispatch t = make_task(lambda_arn("slow"), {});
  t.timeout_seconds = 1;
  auto started = std::chrono::steady_clock::now();
  StatesError e = error_of(call(invoker_, t));
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(e, (StatesError{"States.Timeout", "The call to " + server.url("/slow") +
                                                  " did not complete within 1 s (the task's "
                                                  "deadline)"}));
  EXPECT_GE(elapsed, milliseconds(950));
  EXPECT_LT(elapsed, milliseconds(1800));
}

TEST_F(InvokerFunction, KindLimitCapsTheDeadline) {
  TestServer server(functions);
  routes_.route("function", "slow", server.url("/slow"));
  InvokerOptions o;
  o.function_timeout = milliseconds(300);
  HttpInvoker invoker(*routes_.registry, o);
  TaskDispatch t = make_task(lambda_arn("slow"), {});
  t.timeout_seconds = 60;
  auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(error_of(call(invoker, t)).error, "States.Timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - started, milliseconds(1500));
}

TEST_F(InvokerFunction, CancelAbandonsTheCallWithoutAnOutcome) {
  TestServer server(functions);
  routes_.route("function", "slow", server.url("/slow"));
  Outcomes outcomes;
  invoker_.invoke(make_task(lambda_arn("slow"), {}, "tok-cancel"), outcomes.done());
  for (int i = 0; i < 100 && server.requests() == 0; ++i) std::this_thread::sleep_for(milliseconds(10));
  ASSERT_EQ(server.requests(), 1);
  EXPECT_EQ(invoker_.in_flight(), 1u);
  invoker_.cancel("tok-cancel");
  EXPECT_EQ(invoker_.in_flight(), 0u);
  // The server answers after 3 s; nothing is reported, even then.
  EXPECT_FALSE(outcomes.wait(1, milliseconds(3500)));
  // The slot is free again: a call to the same endpoint goes through.
  routes_.route("function", "echo", server.url("/echo"));
  EXPECT_EQ(result_of(call(invoker_, make_task(lambda_arn("echo"), 5)))["got"], 5);
}

TEST_F(InvokerFunction, HeadersCarryTraceAndAStableIdempotencyKey) {
  TestServer server(functions);
  routes_.route("function", "echo", server.url("/echo"));
  TaskDispatch t = make_task(lambda_arn("echo"), {}, "tok-A");
  t.trace_header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  call(invoker_, t);
  call(invoker_, t);  // the same task delivered again
  call(invoker_, make_task(lambda_arn("echo"), {}, "tok-B"));
  auto received = server.received();
  ASSERT_EQ(received.size(), 3u);
  EXPECT_EQ(received[0].value("traceparent"), t.trace_header);
  EXPECT_TRUE(received[0].values("X-Amzn-Trace-Id").empty());
  EXPECT_EQ(received[0].value("X-Stepd-Idempotency-Key"), idempotency_key("tok-A"));
  EXPECT_EQ(received[1].value("X-Stepd-Idempotency-Key"), idempotency_key("tok-A"));
  EXPECT_EQ(received[2].value("X-Stepd-Idempotency-Key"), idempotency_key("tok-B"));
  EXPECT_EQ(received[0].value("X-Stepd-Idempotency-Key").size(), 64u);
  EXPECT_THAT(received[0].value("X-Stepd-Idempotency-Key"), testing::Not(HasSubstr("tok-A")));
  EXPECT_EQ(received[0].value("X-Stepd-Execution-Arn"), t.execution_arn);
  EXPECT_EQ(received[0].value("X-Stepd-State"), "Call");
}

// --- Service integrations -----------------------------------------------------------------------

TEST_F(InvokerFunction, ServiceRoutesActionOverServiceAndSdk) {
  TestServer server([](const Received& r) {
    Reply reply;
    Json body = Json::parse(r.body);
    reply.body = asl::dump_compact(Json{{"path", r.target}, {"request", body}});
    return reply;
  });
  routes_.route("service", "dynamodb", server.url("/ddb"));
  routes_.route("service", "dynamodb:putItem", server.url("/ddb-put"));
  Json put = result_of(call(invoker_, make_task("arn:aws:states:::dynamodb:putItem",
                                                {{"TableName", "Orders"}})));
  EXPECT_EQ(put["path"], "/ddb-put");
  EXPECT_EQ(put["request"], Json::parse(R"({"Service":"dynamodb","Action":"putItem",
      "Resource":"arn:aws:states:::dynamodb:putItem","IntegrationPattern":"REQUEST_RESPONSE",
      "Parameters":{"TableName":"Orders"}})"));
  Json get = result_of(call(invoker_, make_task("arn:aws:states:::dynamodb:getItem", {})));
  EXPECT_EQ(get["path"], "/ddb");
  Json sdk = result_of(call(invoker_, make_task("arn:aws:states:::aws-sdk:dynamodb:putItem", {})));
  EXPECT_EQ(sdk["path"], "/ddb-put");
  EXPECT_EQ(sdk["request"]["Resource"], "arn:aws:states:::aws-sdk:dynamodb:putItem");
  Json token = result_of(call(
      invoker_, make_task("arn:aws:states:::dynamodb:getItem.waitForTaskToken", {})));
  EXPECT_EQ(token["request"]["IntegrationPattern"], "WAIT_FOR_TASK_TOKEN");
}

TEST_F(InvokerFunction, ServiceRouteRemovedAfterwardsFailsNamingIt) {
  TestServer server([](const Received&) { return Reply{}; });
  routes_.route("service", "sqs", server.url("/sqs"));
  EXPECT_EQ(result_of(call(invoker_, make_task("arn:aws:states:::sqs:sendMessage", {}))),
            Json::object());
  ASSERT_TRUE(std::holds_alternative<bool>(routes_.registry->remove("service", "sqs")));
  EXPECT_EQ(error_of(call(invoker_, make_task("arn:aws:states:::sqs:sendMessage", {}))),
            (StatesError{"States.TaskFailed",
                         "No route is registered for the service integration 'sqs:sendMessage' "
                         "(resource arn:aws:states:::sqs:sendMessage): register a service route "
                         "named 'sqs:sendMessage' or 'sqs'"}));
  EXPECT_EQ(server.requests(), 1);
}

TEST_F(InvokerFunction, ServiceErrorTypeNamesTheError) {
  TestServer server([](const Received&) {
    Reply reply;
    reply.status = 400;
    reply.body = R"({"errorType":"DynamoDB.ConditionalCheckFailedException","errorMessage":"no"})";
    return reply;
  });
  routes_.route("service", "dynamodb", server.url("/"));
  EXPECT_EQ(error_of(call(invoker_, make_task("arn:aws:states:::dynamodb:putItem", {}))).error,
            "DynamoDB.ConditionalCheckFailedException");
}

}  // namespace
}  // namespace stepd::engine
