// Activities against the real `stepd` binary over HTTP: worker API keys and their grants, a long
// poll that outlives the server's read and idle time-outs, waiting polls answered at SIGTERM,
// and CreateStateMachine refusing a Resource that has no route.
#include "tests/server/process/stepd_process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <future>

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

const std::string kCharge = "arn:aws:states:local:000000000000:activity:Charge";

HeaderList bearer(const std::string& secret) {
  return {{"Authorization", "Bearer " + secret}, {"Content-Type", "application/json"}};
}

HeaderList aws(const std::string& operation, const std::string& secret) {
  return {{"X-Amz-Target", "AWSStepFunctions." + operation},
          {"Content-Type", "application/x-amz-json-1.0"},
          {"Authorization", "Bearer " + secret}};
}

json body_of(const HttpReply& r) { return json::parse(r.body, nullptr, false); }

const std::string kMachine = R"({"name":"Pay","definition":{"StartAt":"T","States":{"T":{
  "Type":"Task","Resource":"arn:aws:states:local:000000000000:activity:Charge","End":true}}}})";

TEST(ActivitiesProcessTest, WorkerKeysPollAndReportOnlyTheirActivities) {
  StepdProcess stepd;
  const auto keys = stepd.dir() / "keys.json";
  std::ofstream(keys) << R"([
    {"id": "ops", "secret": "admin-secret-0001", "role": "admin"},
    {"id": "viewer", "secret": "viewer-secret-0001", "role": "read-only"},
    {"id": "billing", "secret": "billing-secret-0001", "role": "worker", "activities": ["Charge"]},
    {"id": "shipping", "secret": "shipping-secret-0001", "role": "worker",
     "activities": ["arn:aws:states:local:000000000000:activity:Ship"]}])";
  StepdOptions options;
  options.args = {"--api-keys-file", keys.string()};
  ASSERT_TRUE(stepd.start(options)) << stepd.log();
  const unsigned short port = stepd.port();
  const HeaderList admin = bearer("admin-secret-0001");
  const HeaderList billing = bearer("billing-secret-0001");
  const HeaderList shipping = bearer("shipping-secret-0001");

  EXPECT_EQ(http_request(port, "POST", "/v1/activities", R"({"name":"Charge"})", admin).status,
            201);
  EXPECT_EQ(http_request(port, "POST", "/v1/activities", R"({"name":"X"})", billing).status,
            403);
  EXPECT_EQ(http_request(port, "POST", "/v1/state-machines", kMachine, admin).status, 201);
  HttpReply started =
      http_request(port, "POST", "/v1/state-machines/Pay/executions", R"({"name":"p1"})", admin);
  ASSERT_EQ(started.status, 201) << started.body;
  const std::string execution = body_of(started)["arn"];

  HttpReply denied =
      http_request(port, "GET", "/v1/activities/Charge/tasks?wait=0", "", shipping);
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(body_of(denied)["message"],
            "User: shipping is not authorized to perform: states:GetActivityTask on resource: " +
                kCharge);
  EXPECT_EQ(http_request(port, "GET", "/v1/activities/Charge/tasks?wait=0", "",
                         bearer("viewer-secret-0001"))
                .status,
            403);
  // The worker takes the task through the AWS protocol and reports through REST.
  HttpReply task = http_request(port, "POST", "/",
                                json{{"activityArn", kCharge}, {"workerName", "biller"}}.dump(),
                                aws("GetActivityTask", "billing-secret-0001"));
  ASSERT_EQ(task.status, 200) << task.body;
  const std::string token = body_of(task)["taskToken"];
  HttpReply not_theirs =
      http_request(port, "POST", "/v1/tasks/" + token + "/success", "{}", shipping);
  EXPECT_EQ(not_theirs.status, 403) << not_theirs.body;
  HttpReply reported =
      http_request(port, "POST", "/v1/tasks/" + token + "/success", R"({"paid":1})", billing);
  EXPECT_EQ(reported.status, 204) << reported.body;

  json x;
  for (int i = 0; i < 200; ++i) {
    x = body_of(http_request(port, "GET", "/v1/executions/" + execution, "", admin));
    if (x.value("status", "") != "RUNNING") break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(x["status"], "SUCCEEDED") << x.dump();
  EXPECT_EQ(x["output"], json::parse(R"({"paid":1})"));
  HttpReply audit = http_request(port, "GET", "/v1/audit?operation=SendTaskSuccess", "", admin);
  ASSERT_EQ(audit.status, 200);
  json entries = body_of(audit)["items"];
  ASSERT_EQ(entries.size(), 2u) << audit.body;
  EXPECT_EQ(entries[0]["keyId"], "billing");
  EXPECT_EQ(entries[0]["outcome"], "ok");
  EXPECT_EQ(entries[1]["keyId"], "shipping");
  EXPECT_EQ(entries[1]["outcome"], "AccessDeniedException");
  EXPECT_EQ(stepd.stop(), 0) << stepd.log();
}

TEST(ActivitiesProcessTest, ALongPollOutlivesTheReadAndIdleTimeOuts) {
  StepdProcess stepd;
  StepdOptions options;
  options.args = {"--read-timeout", "1s", "--idle-timeout", "1s"};
  ASSERT_TRUE(stepd.start(options)) << stepd.log();
  const unsigned short port = stepd.port();
  ASSERT_EQ(http_request(port, "POST", "/v1/activities", R"({"name":"Charge"})").status, 201);

  TestConnection c;
  ASSERT_TRUE(c.connect(port, 5s));
  const auto before = Clock::now();
  HttpReply empty = c.request("GET", "/v1/activities/Charge/tasks?wait=3", "", {}, 10s);
  const auto waited = Clock::now() - before;
  EXPECT_EQ(empty.status, 204) << empty.error << " " << empty.body;
  EXPECT_GE(waited, 3s);
  EXPECT_LT(waited, 6s);
  // The connection stays usable.
  HttpReply again = c.request("GET", "/v1/activities/Charge", "", {}, 5s);
  EXPECT_EQ(again.status, 200) << again.error;

  // A poll answered by a task scheduled while it waits.
  ASSERT_EQ(http_request(port, "POST", "/v1/state-machines", kMachine).status, 201);
  auto poll = std::async(std::launch::async, [port] {
    return http_request(port, "GET", "/v1/activities/Charge/tasks?wait=20&worker=late", "", {},
                        30s);
  });
  std::this_thread::sleep_for(1500ms);  // past both time-outs
  ASSERT_EQ(
      http_request(port, "POST", "/v1/state-machines/Pay/executions", R"({"input":{"n":2}})")
          .status,
      201);
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready);
  HttpReply task = poll.get();
  ASSERT_EQ(task.status, 200) << task.error;
  EXPECT_EQ(body_of(task)["input"], json::parse(R"({"n":2})"));
  EXPECT_EQ(stepd.stop(), 0) << stepd.log();
}

TEST(ActivitiesProcessTest, ShutdownAnswersWaitingPollsAtOnce) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  const unsigned short port = stepd.port();
  ASSERT_EQ(http_request(port, "POST", "/v1/activities", R"({"name":"Charge"})").status, 201);
  auto poll = std::async(std::launch::async, [port] {
    return http_request(port, "POST", "/", json{{"activityArn", kCharge}}.dump(),
                        {{"X-Amz-Target", "AWSStepFunctions.GetActivityTask"},
                         {"Content-Type", "application/x-amz-json-1.0"}},
                        70s);
  });
  std::this_thread::sleep_for(500ms);
  const auto before = Clock::now();
  EXPECT_EQ(stepd.stop(), 0) << stepd.log();
  // Well within the 10 s shutdown grace: the poll did not hold it.
  EXPECT_LT(Clock::now() - before, 5s);
  ASSERT_EQ(poll.wait_for(5s), std::future_status::ready);
  HttpReply answer = poll.get();
  EXPECT_EQ(answer.status, 200) << answer.error;
  EXPECT_EQ(answer.body, "{}");
}

TEST(ActivitiesProcessTest, CreateStateMachineRefusesAResourceWithoutARoute) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  const unsigned short port = stepd.port();
  const std::string machine = R"({"name":"Save","definition":{"StartAt":"Put","States":{"Put":{
    "Type":"Task","Resource":"arn:aws:states:::dynamodb:putItem","End":true}}}})";
  HttpReply refused = http_request(port, "POST", "/v1/state-machines", machine);
  EXPECT_EQ(refused.status, 400) << refused.body;
  json error = body_of(refused);
  EXPECT_EQ(error["code"], "InvalidDefinition");
  ASSERT_FALSE(error["problems"].empty()) << refused.body;
  EXPECT_EQ(error["problems"][0]["pointer"], "/States/Put/Resource");
  EXPECT_EQ(error["problems"][0]["severity"], "ERROR");

  EXPECT_EQ(http_request(port, "PUT", "/v1/routes/service/dynamodb",
                         R"({"url":"http://127.0.0.1:9/ddb"})")
                .status,
            200);
  HttpReply accepted = http_request(port, "POST", "/v1/state-machines", machine);
  EXPECT_EQ(accepted.status, 201) << accepted.body;
  EXPECT_EQ(stepd.stop(), 0) << stepd.log();
}

}  // namespace
}  // namespace stepd::test
