// The REST API's activities, task tokens and task routes, in process over a real Engine with the
// real Dispatcher on SQLite (and PostgreSQL when STEPD_TEST_PG_URL is set).
#include "rest_fixture.hpp"

#include <gmock/gmock.h>

#include <future>

namespace stepd::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

const std::string kPrefix = "arn:aws:states:local:000000000000:";
const std::string kWorkArn = kPrefix + "activity:Work";

std::string activity_machine(int heartbeat = 0) {
  Json task = {{"Type", "Task"}, {"Resource", kWorkArn}, {"End", true}};
  if (heartbeat > 0) task["HeartbeatSeconds"] = heartbeat;
  return Json{{"StartAt", "T"}, {"States", {{"T", task}}}}.dump();
}

Caller worker(std::vector<std::string> activities) {
  Caller c;
  c.key_id = "worker-key";
  c.role = Role::Worker;
  c.remote = "127.0.0.1:40002";
  c.request_id = "req-worker";
  c.activities = std::move(activities);
  return c;
}

class RestActivitiesTest : public RestTest {
 protected:
  void SetUp() override {
    RestTest::SetUp();
    if (IsSkipped()) return;
    open();
    ASSERT_EQ(call("POST", "/v1/activities", Json{{"name", "Work"}}).status, 201);
  }
  // A poll that waits up to `seconds`; returns its answer.
  Reply poll(const std::string& query = "wait=10", const Caller& caller = admin()) {
    return call("GET", "/v1/activities/Work/tasks?" + query, "", caller);
  }
};

INSTANTIATE_TEST_SUITE_P(Stores, RestActivitiesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(RestActivitiesTest, ActivitiesAsResources) {
  const Json tags = Json::parse(R"([{"key":"t","value":"1"}])");
  Reply created = call("POST", "/v1/activities", Json{{"name", "Ship"}, {"tags", tags}});
  ASSERT_EQ(created.status, 201) << created;
  EXPECT_EQ(*created.header("Location"), "/v1/activities/Ship");
  EXPECT_EQ(created.body["arn"], kPrefix + "activity:Ship");
  EXPECT_EQ(created.body["name"], "Ship");
  EXPECT_EQ(created.body["tags"], Json::parse(R"([{"key":"t","value":"1"}])"));
  EXPECT_TRUE(created.body["createdAt"].is_string());

  Reply by_name = call("GET", "/v1/activities/Ship");
  ASSERT_EQ(by_name.status, 200);
  EXPECT_EQ(by_name.body, created.body);
  EXPECT_EQ(call("GET", "/v1/activities/" + enc(kPrefix + "activity:Ship")).body, created.body);

  Reply page = call("GET", "/v1/activities?maxResults=1", "", read_only());
  ASSERT_EQ(page.status, 200) << page;
  ASSERT_EQ(page.body["items"].size(), 1u);
  EXPECT_EQ(page.body["items"][0]["name"], "Ship");
  EXPECT_FALSE(page.body["items"][0].contains("tags"));
  Reply rest = call("GET", "/v1/activities?maxResults=1&nextToken=" +
                               enc(page.body["nextToken"].get<std::string>()));
  ASSERT_EQ(rest.body["items"].size(), 1u);
  EXPECT_EQ(rest.body["items"][0]["name"], "Work");
  EXPECT_FALSE(rest.body.contains("nextToken"));

  Reply tagged = call("POST", "/v1/activities/Ship/tags",
                      Json{{"tags", Json::parse(R"([{"key":"u","value":"2"}])")}});
  EXPECT_EQ(tagged.body["tags"],
            Json::parse(R"([{"key":"t","value":"1"},{"key":"u","value":"2"}])"));
  EXPECT_EQ(call("DELETE", "/v1/activities/Ship/tags?key=t").body["tags"],
            Json::parse(R"([{"key":"u","value":"2"}])"));

  EXPECT_EQ(call("DELETE", "/v1/activities/Ship").status, 204);
  Reply gone = call("GET", "/v1/activities/Ship");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body["code"], "ActivityDoesNotExist");
  EXPECT_EQ(gone.body["message"], "Activity Does Not Exist: '" + kPrefix + "activity:Ship'");
  EXPECT_EQ(call("DELETE", "/v1/activities/Ship").status, 204);

  Reply bad = call("POST", "/v1/activities", Json{{"name", "a b"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.body["code"], "InvalidName");
  Reply unknown = call("POST", "/v1/activities", Json{{"name", "X"}, {"type", "STANDARD"}});
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(unknown.body["message"],
            "the request body has an unknown field 'type' (this operation takes: name, tags)");
  Reply denied = call("POST", "/v1/activities", Json{{"name", "X"}}, read_only());
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body["code"], "AccessDeniedException");
}

TEST_P(RestActivitiesTest, ALongPollHoldsNoHandlerThreadAndIsAnsweredAtOnce) {
  create("Worked", activity_machine());
  // Handed straight to the API as the HTTP server does: handle() returns while the poll waits.
  HttpRequest request;
  request.method = "GET";
  request.target = "/v1/activities/Work/tasks?wait=30&worker=quick";
  request.path = "/v1/activities/Work/tasks";
  request.query = "wait=30&worker=quick";
  auto answer = std::make_shared<std::promise<std::pair<Clock::time_point, HttpResponse>>>();
  api_->handle(request, admin(), [answer](HttpResponse r) {
    answer->set_value({Clock::now(), std::move(r)});
  });
  auto answered = answer->get_future();
  EXPECT_EQ(answered.wait_for(200ms), std::future_status::timeout);
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 1u);

  Clock::time_point durable;
  const std::string arn = start("Worked", "fast", Json{{"amount", 3}});
  durable = Clock::now();
  ASSERT_EQ(answered.wait_for(10s), std::future_status::ready);
  auto [at, response] = answered.get();
  // start() returns once the start answered (durable); the task was handed out by then or
  // moments later.
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(at - durable);
  std::cout << "REST poll answered " << latency.count() << " us after the start's answer\n";
  EXPECT_LT(latency, 100ms);
  ASSERT_EQ(response.status, 200) << response.body;
  Json task = Json::parse(response.body);
  EXPECT_EQ(task["input"], (Json{{"amount", 3}}));
  const std::string token = task["token"].get<std::string>();

  Reply done = call("POST", "/v1/tasks/" + token + "/success", R"({"charged": 3})");
  EXPECT_EQ(done.status, 204) << done;
  EXPECT_EQ(done.raw, "");
  Json x = wait_end(arn);
  EXPECT_EQ(x["status"], "SUCCEEDED");
  EXPECT_EQ(x["output"], (Json{{"charged", 3}}));
  Reply history = call("GET", "/v1/executions/" + enc(arn) + "/history");
  std::vector<std::string> types;
  for (const Json& e : history.body["items"]) types.push_back(e["type"]);
  EXPECT_THAT(types, ::testing::ElementsAre("ExecutionStarted", "TaskStateEntered",
                                            "ActivityScheduled", "ActivityStarted",
                                            "ActivitySucceeded", "TaskStateExited",
                                            "ExecutionSucceeded"));
  EXPECT_EQ(history.body["items"][3]["details"]["workerName"], "quick");
  EXPECT_EQ(history.body["items"][4]["details"]["output"], (Json{{"charged", 3}}));
}

TEST_P(RestActivitiesTest, APollWithNothingAnswers204AfterItsWait) {
  const auto before = Clock::now();
  Reply r = poll("wait=1");
  const auto waited = Clock::now() - before;
  EXPECT_EQ(r.status, 204);
  EXPECT_EQ(r.raw, "");
  EXPECT_GE(waited, 1s);
  EXPECT_LT(waited, 4s);
  Reply at_once = poll("wait=0&worker=w");
  EXPECT_EQ(at_once.status, 204);

  for (const char* bad : {"wait=-1", "wait=61", "wait=x", "wait=1.5"}) {
    Reply r2 = poll(bad);
    EXPECT_EQ(r2.status, 400) << bad;
    EXPECT_EQ(r2.body["message"], "wait must be a whole number of seconds from 0 to 60, not '" +
                                      std::string(bad).substr(5) + "'");
  }
  Reply long_name = poll("wait=0&worker=" + std::string(81, 'w'));
  EXPECT_EQ(long_name.status, 400);
  EXPECT_EQ(long_name.body["code"], "ValidationException");
  Reply missing = call("GET", "/v1/activities/Nope/tasks?wait=0");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["code"], "ActivityDoesNotExist");
  Reply other = call("GET", "/v1/activities/Work/tasks?wait=0&color=red");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(other.body["message"],
            "unknown query parameter 'color' (this operation takes: wait, worker)");
}

TEST_P(RestActivitiesTest, WorkerKeysAndTheirGrants) {
  EXPECT_EQ(poll("wait=0", worker({"Work"})).status, 204);
  EXPECT_EQ(poll("wait=0", worker({kWorkArn})).status, 204);
  Reply denied = poll("wait=0", worker({"Other"}));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(denied.body["message"],
            "User: worker-key is not authorized to perform: states:GetActivityTask on resource: " +
                kWorkArn);
  EXPECT_EQ(call("GET", "/v1/activities/Work", "", worker({"*"})).status, 403);
  EXPECT_EQ(call("GET", "/v1/routes", "", worker({"*"})).status, 403);

  create("Worked", activity_machine());
  const std::string arn = start("Worked", "w1", Json::object());
  Reply task = poll("wait=10", worker({"Work"}));
  ASSERT_EQ(task.status, 200);
  const std::string token = task.body["token"];
  Reply not_theirs = call("POST", "/v1/tasks/" + token + "/failure", Json{{"error", "E"}},
                          worker({"Other"}));
  EXPECT_EQ(not_theirs.status, 403);
  Reply failed = call("POST", "/v1/tasks/" + token + "/failure",
                      Json{{"error", "Bad"}, {"cause", "it broke"}}, worker({"Work"}));
  EXPECT_EQ(failed.status, 204) << failed;
  Json x = wait_end(arn);
  EXPECT_EQ(x["status"], "FAILED");
  EXPECT_EQ(x["error"], "Bad");
  EXPECT_EQ(x["cause"], "it broke");

  // Every report is in the audit log, named by the task's execution.
  Reply audit = call("GET", "/v1/audit?operation=SendTaskFailure");
  ASSERT_EQ(audit.body["items"].size(), 2u) << audit;
  EXPECT_EQ(audit.body["items"][0]["outcome"], "ok");
  EXPECT_EQ(audit.body["items"][0]["resource"], arn);
  EXPECT_EQ(audit.body["items"][0]["keyId"], "worker-key");
  EXPECT_EQ(audit.body["items"][1]["outcome"], "AccessDeniedException");
}

TEST_P(RestActivitiesTest, TaskReportErrors) {
  const std::string unknown(64, 'b');
  Reply bad = call("POST", "/v1/tasks/not-a-token/success", "{}");
  EXPECT_EQ(bad.status, 400) << bad;
  EXPECT_EQ(bad.body["code"], "InvalidToken");
  Reply missing = call("POST", "/v1/tasks/" + unknown + "/heartbeat");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body["code"], "TaskDoesNotExist");
  EXPECT_EQ(missing.body["message"], "Task Does Not Exist");

  create("Worked", activity_machine(1));
  const std::string arn = start("Worked", "w1", Json::object());
  Reply task = poll();
  ASSERT_EQ(task.status, 200);
  const std::string token = task.body["token"];
  Reply empty = call("POST", "/v1/tasks/" + token + "/success", "");
  EXPECT_EQ(empty.status, 400);
  EXPECT_EQ(empty.body["message"], "the request needs a body: the task's output, a JSON value");
  Reply not_json = call("POST", "/v1/tasks/" + token + "/success", "{oops}");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.body["code"], "InvalidOutput");
  Reply long_error =
      call("POST", "/v1/tasks/" + token + "/failure", Json{{"error", std::string(257, 'e')}});
  EXPECT_EQ(long_error.status, 400);
  EXPECT_EQ(long_error.body["code"], "ValidationException");
  Reply stray = call("POST", "/v1/tasks/" + token + "/failure", Json{{"reason", "x"}});
  EXPECT_EQ(stray.status, 400);
  EXPECT_EQ(stray.body["message"],
            "the request body has an unknown field 'reason' (this operation takes: error, cause)");
  Reply heartbeat_body = call("POST", "/v1/tasks/" + token + "/heartbeat", Json{{"x", 1}});
  EXPECT_EQ(heartbeat_body.status, 400);

  // No heartbeat within HeartbeatSeconds (1 s): the task times out; reports are 409.
  Json x = wait_end(arn);
  EXPECT_EQ(x["status"], "FAILED");
  EXPECT_EQ(x["error"], "States.HeartbeatTimeout");
  Reply late = call("POST", "/v1/tasks/" + token + "/success", "{}");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.body["code"], "TaskTimedOut");
  EXPECT_EQ(late.body["message"], "Task Timed Out");

  // Success once; the second report is 404.
  const std::string arn2 = start("Worked", "w2", Json::object());
  Reply task2 = poll();
  ASSERT_EQ(task2.status, 200);
  const std::string token2 = task2.body["token"];
  EXPECT_EQ(call("POST", "/v1/tasks/" + token2 + "/success", "[1,2]").status, 204);
  Reply again = call("POST", "/v1/tasks/" + token2 + "/success", "[1,2]");
  EXPECT_EQ(again.status, 404);
  EXPECT_EQ(again.body["code"], "TaskDoesNotExist");
  EXPECT_EQ(wait_end(arn2)["output"], Json::parse("[1,2]"));
}

TEST_P(RestActivitiesTest, Routes) {
  Reply put = call("PUT", "/v1/routes/function/charge", Json{{"url", "http://127.0.0.1:9/c"}});
  ASSERT_EQ(put.status, 200) << put;
  EXPECT_EQ(put.body["kind"], "function");
  EXPECT_EQ(put.body["name"], "charge");
  EXPECT_EQ(put.body["url"], "http://127.0.0.1:9/c");
  EXPECT_TRUE(put.body["updated"].is_string());
  ASSERT_EQ(call("PUT", "/v1/routes/service/" + enc("dynamodb:putItem"),
                 Json{{"url", "http://127.0.0.1:9/d"}})
                .status,
            200);
  Reply list = call("GET", "/v1/routes");
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(list.body["routes"].size(), 2u);
  EXPECT_EQ(list.body["routes"][0], put.body);
  EXPECT_EQ(list.body["routes"][1]["name"], "dynamodb:putItem");

  Reply kind = call("PUT", "/v1/routes/queue/x", Json{{"url", "http://127.0.0.1:9/"}});
  EXPECT_EQ(kind.status, 400);
  EXPECT_EQ(kind.body["code"], "ValidationException");
  Reply no_url = call("PUT", "/v1/routes/function/f", Json::object());
  EXPECT_EQ(no_url.status, 400);
  EXPECT_EQ(no_url.body["message"], "field 'url' is required");
  Reply denied =
      call("PUT", "/v1/routes/function/f", Json{{"url", "http://127.0.0.1:9/"}}, read_only());
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(call("DELETE", "/v1/routes/function/charge").status, 204);
  Reply gone = call("DELETE", "/v1/routes/function/charge");
  EXPECT_EQ(gone.status, 404);
  EXPECT_EQ(gone.body["code"], "ResourceNotFound");
  EXPECT_EQ(call("GET", "/v1/routes").body["routes"].size(), 1u);
}

}  // namespace
}  // namespace stepd::server::testing
