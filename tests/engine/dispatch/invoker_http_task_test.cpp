// The HTTP Task (arn:aws:states:::http:invoke) through the HttpInvoker, against a real server on
// 127.0.0.1.
#include "engine/dispatch/http_invoker.hpp"

#include "engine/dispatch/invocation.hpp"
#include "invoker_test_server.hpp"
#include "invoker_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

namespace stepd::engine {
namespace {

using asl::Json;
using invoker_testing::call;
using invoker_testing::error_of;
using invoker_testing::make_task;
using invoker_testing::RegistryFixture;
using invoker_testing::result_of;
using testing::ElementsAre;
using testing_server::Received;
using testing_server::Reply;
using testing_server::TestServer;

constexpr const char* kHttp = "arn:aws:states:::http:invoke";

class InvokerHttpTask : public ::testing::Test {
 protected:
  RegistryFixture routes_;
  HttpInvoker invoker_{*routes_.registry};
};

TEST_F(InvokerHttpTask, EachMethodReachesTheServer) {
  TestServer server([](const Received& r) {
    Reply reply;
    if (r.method == "HEAD") {
      // The answer to HEAD announces a body it does not carry.
      reply.raw = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n";
    } else {
      reply.body = R"({"method":")" + r.method + R"("})";
    }
    return reply;
  });
  for (std::string method : {"GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"}) {
    Json r = result_of(call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/m")},
                                                        {"Method", method}})));
    EXPECT_EQ(r["StatusCode"], 200) << method;
    EXPECT_EQ(r["StatusText"], "OK") << method;
    if (method == "HEAD") {
      EXPECT_EQ(r["ResponseBody"], "");
    } else {
      EXPECT_EQ(r["ResponseBody"], (Json{{"method", method}})) << method;
    }
  }
  std::vector<std::string> methods;
  for (const Received& r : server.received()) methods.push_back(r.method);
  EXPECT_THAT(methods, ElementsAre("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"));
}

TEST_F(InvokerHttpTask, HeadersQueryAndJsonBodyArrive) {
  TestServer server([](const Received&) { return Reply{}; });
  TaskDispatch t = make_task(kHttp, {{"ApiEndpoint", server.url("/orders?src=sfn")},
                                     {"Method", "POST"},
                                     {"Headers", {{"X-Api-Version", "2"}, {"X-Tag", {"a", "b"}}}},
                                     {"QueryParameters", {{"q", "red shoes"}, {"n", 3}}},
                                     {"RequestBody", {{"item", "shoe"}, {"qty", 2}}}},
                             "tok-http-1");
  t.trace_header = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
  t.state_name = "Place order";
  EXPECT_EQ(result_of(call(invoker_, t))["StatusCode"], 200);
  ASSERT_EQ(server.received().size(), 1u);
  const Received r = server.received()[0];
  EXPECT_EQ(r.method, "POST");
  EXPECT_EQ(r.target, "/orders?src=sfn&q=red%20shoes&n=3");
  EXPECT_EQ(r.body, R"({"item":"shoe","qty":2})");
  EXPECT_EQ(r.value("Content-Type"), "application/json");
  EXPECT_EQ(r.value("X-Api-Version"), "2");
  EXPECT_THAT(r.values("X-Tag"), ElementsAre("a", "b"));
  EXPECT_EQ(r.value("X-Amzn-Trace-Id"), t.trace_header);
  EXPECT_EQ(r.value("X-Stepd-Idempotency-Key"), idempotency_key("tok-http-1"));
  EXPECT_EQ(r.value("X-Stepd-Execution-Arn"), t.execution_arn);
  EXPECT_EQ(r.value("X-Stepd-State"), "Place order");
  EXPECT_EQ(r.value("Host"), "127.0.0.1:" + std::to_string(server.port()));
}

TEST_F(InvokerHttpTask, UrlEncodedBodiesInEachArrayFormat) {
  TestServer server([](const Received&) { return Reply{}; });
  const std::map<std::string, std::string> expected = {
      {"INDICES", "customer=c1&tags%5B0%5D=a%20b&tags%5B1%5D=c"},
      {"REPEAT", "customer=c1&tags=a%20b&tags=c"},
      {"COMMAS", "customer=c1&tags=a%20b,c"},
      {"BRACKETS", "customer=c1&tags%5B%5D=a%20b&tags%5B%5D=c"},
  };
  for (const auto& [format, body] : expected) {
    call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/form")},
                                     {"Method", "POST"},
                                     {"Headers",
                                      {{"Content-Type", "application/x-www-form-urlencoded"}}},
                                     {"RequestBody", {{"customer", "c1"}, {"tags", {"a b", "c"}}}},
                                     {"Transform",
                                      {{"RequestBodyEncoding", "URL_ENCODED"},
                                       {"RequestEncodingOptions", {{"ArrayFormat", format}}}}}}));
  }
  auto received = server.received();
  ASSERT_EQ(received.size(), 4u);
  for (const Received& r : received) {
    EXPECT_EQ(r.value("Content-Type"), "application/x-www-form-urlencoded");
    EXPECT_EQ(r.values("Content-Type").size(), 1u);
  }
  // The map iterates formats in name order: BRACKETS, COMMAS, INDICES, REPEAT.
  EXPECT_EQ(received[0].body, expected.at("BRACKETS"));
  EXPECT_EQ(received[1].body, expected.at("COMMAS"));
  EXPECT_EQ(received[2].body, expected.at("INDICES"));
  EXPECT_EQ(received[3].body, expected.at("REPEAT"));
}

TEST_F(InvokerHttpTask, JsonAndTextAnswers) {
  TestServer server([](const Received& r) {
    Reply reply;
    if (r.target == "/text") {
      reply.headers = {{"Content-Type", "text/plain"}, {"X-Request", "r1"}};
      reply.body = "hello";
    } else {
      reply.status = 201;
      reply.reason = "Made";
      reply.body = R"({"id":"o-1"})";
    }
    return reply;
  });
  Json json = result_of(call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/json")},
                                                         {"Method", "GET"}})));
  EXPECT_EQ(json["ResponseBody"], (Json{{"id", "o-1"}}));
  EXPECT_EQ(json["StatusCode"], 201);
  EXPECT_EQ(json["StatusText"], "Made");
  EXPECT_EQ(json["Headers"]["Content-Type"], Json::array({"application/json"}));
  Json text = result_of(call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/text")},
                                                         {"Method", "GET"}})));
  EXPECT_EQ(text["ResponseBody"], "hello");
  EXPECT_EQ(text["Headers"]["X-Request"], Json::array({"r1"}));
  EXPECT_EQ(text["Headers"]["Content-Length"], Json::array({"5"}));
}

TEST_F(InvokerHttpTask, Non2xxFailsWithStatesHttpStatusCode) {
  TestServer server([](const Received& r) {
    Reply reply;
    reply.status = r.target == "/teapot" ? 418 : 500;
    reply.headers = {{"Content-Type", "text/plain"}};
    reply.body = r.target == "/teapot" ? "short and stout" : "";
    return reply;
  });
  EXPECT_EQ(error_of(call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/teapot")},
                                                      {"Method", "GET"}}))),
            (asl::StatesError{"States.Http.StatusCode.418", "short and stout"}));
  EXPECT_EQ(error_of(call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/down")},
                                                      {"Method", "DELETE"}}))),
            (asl::StatesError{"States.Http.StatusCode.500",
                              "DELETE " + server.url("/down") +
                                  " answered HTTP 500 Internal Server Error"}));
}

TEST_F(InvokerHttpTask, RefusedParametersSendNothing) {
  TestServer server([](const Received&) { return Reply{}; });
  EXPECT_EQ(error_of(call(invoker_, make_task(kHttp, {{"ApiEndpoint", server.url("/x")},
                                                      {"Method", "GET"},
                                                      {"Headers", {{"Host", "evil"}}}})))
                .error,
            "States.Runtime");
  EXPECT_EQ(server.requests(), 0);
  EXPECT_EQ(invoker_.in_flight(), 0u);
}

}  // namespace
}  // namespace stepd::engine
