// The REST API of a real `stepd` process, over real HTTP (smoke test: the in-process suites
// cover the behaviour; this proves the server routes /v1/ to it and carries its answers intact).
#include "server/rest/openapi.hpp"

#include "asl/core/json.hpp"
#include "server/rest/router.hpp"
#include "tests/server/process/stepd_process.hpp"

#include <gtest/gtest.h>

namespace stepd::server::testing {
namespace {

using asl::Json;
using stepd::test::http_request;
using stepd::test::HttpReply;

const stepd::test::HeaderList kJson = {{"Content-Type", "application/json"}};

TEST(RestProcess, ServesTheRestApiOverHttp) {
#ifndef STEPD_PATH
  GTEST_SKIP() << "the stepd binary is not built (server/main.cpp absent)";
#endif
  stepd::test::StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  const unsigned short port = stepd.port();

  HttpReply created = http_request(port, "POST", "/v1/state-machines",
                                   R"({"name":"Smoke","definition":{"StartAt":"A","States":{
                                     "A":{"Type":"Pass","Result":"done","ResultPath":"$.r","End":true}}}})",
                                   kJson);
  ASSERT_EQ(created.status, 201) << created.body << created.error;
  EXPECT_EQ(created.header("Content-Type"), "application/json");
  EXPECT_EQ(created.header("Location"), "/v1/state-machines/Smoke");
  EXPECT_EQ(Json::parse(created.body)["arn"],
            "arn:aws:states:local:000000000000:stateMachine:Smoke");

  HttpReply sync = http_request(port, "POST", "/v1/state-machines/Smoke/executions:sync",
                                R"({"name":"s1","input":{"n":[1,2]}})", kJson);
  ASSERT_EQ(sync.status, 201) << sync.body;
  Json done = Json::parse(sync.body);
  EXPECT_EQ(done["status"], "SUCCEEDED");
  EXPECT_EQ(done["output"], Json::parse(R"({"n":[1,2],"r":"done"})"));
  const std::string location = sync.header("Location");
  EXPECT_EQ(location, "/v1/executions/" + rest::percent_encode(done["arn"].get<std::string>()));

  HttpReply described = http_request(port, "GET", location);
  ASSERT_EQ(described.status, 200) << described.body;
  EXPECT_EQ(Json::parse(described.body), done);
  HttpReply history = http_request(port, "GET", location + "/history?reverse=true&maxResults=1");
  ASSERT_EQ(history.status, 200) << history.body;
  EXPECT_EQ(Json::parse(history.body)["items"][0]["type"], "ExecutionSucceeded");
  EXPECT_TRUE(Json::parse(history.body).contains("nextToken"));

  HttpReply doc = http_request(port, "GET", "/v1/openapi.json");
  ASSERT_EQ(doc.status, 200);
  EXPECT_EQ(doc.body, std::string(rest::openapi_document()));

  HttpReply wrong = http_request(port, "PATCH", "/v1/state-machines");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("Allow"), "GET, POST");
  EXPECT_EQ(Json::parse(wrong.body)["code"], "MethodNotAllowed");
  HttpReply bad = http_request(port, "POST", "/v1/state-machines", "{oops", kJson);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Json::parse(bad.body)["code"], "SerializationException");
  HttpReply missing = http_request(port, "GET", "/v1/state-machines/Nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(Json::parse(missing.body)["code"], "StateMachineDoesNotExist");

  HttpReply deleted = http_request(port, "DELETE", "/v1/state-machines/Smoke");
  EXPECT_EQ(deleted.status, 204);
  EXPECT_EQ(deleted.body, "");
  EXPECT_EQ(http_request(port, "GET", "/v1/state-machines/Smoke").status, 404);

  EXPECT_EQ(stepd.stop(), 0) << stepd.log();
}

}  // namespace
}  // namespace stepd::server::testing
