// The AWS Step Functions API's activity and task operations (CreateActivity ... SendTaskHeartbeat),
// in process over a real Engine with the real Dispatcher, on SQLite (and PostgreSQL when
// STEPD_TEST_PG_URL is set): the model's shapes, AWS's error names, the long poll.
#include "server/aws/aws_api.hpp"

#include "engine/dispatch/dispatcher.hpp"
#include "engine/dispatch/registry.hpp"
#include "server/aws/aws_protocol.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>

namespace stepd::server {
namespace {

using asl::Json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

const std::string kPrefix = "arn:aws:states:local:000000000000:";
const std::string kWork = kPrefix + "activity:Work";
const char* kRole = "arn:aws:iam::000000000000:role/stepd";

std::string header(const HttpResponse& r, const std::string& name) {
  for (const Header& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return "(absent)";
}

std::string activity_machine(int heartbeat = 0) {
  Json task = {{"Type", "Task"}, {"Resource", kWork}, {"End", true}};
  if (heartbeat > 0) task["HeartbeatSeconds"] = heartbeat;
  return Json{{"StartAt", "T"}, {"States", {{"T", task}}}}.dump();
}

class AwsActivitiesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    const std::string tag = std::to_string(::getpid()) + "_" + std::to_string(++counter_);
    if (GetParam() == "postgres") {
      const char* base = std::getenv("STEPD_TEST_PG_URL");
      if (base == nullptr || *base == '\0') {
        GTEST_SKIP() << "STEPD_TEST_PG_URL is not set: start a server with scripts/postgres.sh";
      }
      const std::string sep = std::string(base).find('?') == std::string::npos ? "?" : "&";
      url_ = std::string(base) + sep + "schema=aws_act_" + tag;
    } else {
      path_ = std::filesystem::temp_directory_path() / ("stepd-aws-act-" + tag + ".db");
      std::filesystem::remove(path_);
      url_ = "sqlite:" + path_.string();
    }
    auto store = engine::open_store(url_);
    ASSERT_TRUE(store.ok()) << store.error().message;
    engine_ = std::make_unique<engine::Engine>(std::move(*store), engine::EngineOptions{});
    engine::Status s = engine_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
    registry_ = std::make_unique<engine::Registry>(engine_->store());
    ASSERT_TRUE(registry_->load().ok());
    dispatcher_ = std::make_unique<engine::Dispatcher>(*engine_, *registry_);
    engine_->set_task_transport(dispatcher_.get());
    operations_ = std::make_unique<Operations>(
        *engine_, nullptr, TaskServices{&dispatcher_->activities(), registry_.get()});
    AwsApiOptions options;
    options.poll_wait = 1s;  // GetActivityTask answers {} after 1 s without a task
    api_ = std::make_unique<AwsApi>(*operations_, options);
  }

  void TearDown() override {
    if (dispatcher_) dispatcher_->shutdown();
    api_.reset();
    operations_.reset();
    if (engine_) {
      engine_->shutdown();
      engine_->set_task_transport(nullptr);
    }
    dispatcher_.reset();
    registry_.reset();
    engine_.reset();
    if (!path_.empty()) {
      for (const char* suffix : {"", "-wal", "-shm"}) {
        std::filesystem::remove(path_.string() + suffix);
      }
    }
  }

  static Caller admin() {
    Caller c;
    c.request_id = "req-1";
    return c;
  }
  static Caller worker(std::vector<std::string> activities) {
    Caller c;
    c.key_id = "AKIDWORKER";
    c.role = Role::Worker;
    c.request_id = "req-w";
    c.activities = std::move(activities);
    return c;
  }

  // Sends the request; `respond` gets the answer. Returns at once (handle() does not wait).
  void send(const std::string& operation, const std::string& body, const Caller& caller,
            Respond respond) {
    HttpRequest request;
    request.method = "POST";
    request.target = request.path = "/";
    request.headers.push_back({"X-Amz-Target", "AWSStepFunctions." + operation});
    request.headers.push_back({"Content-Type", "application/x-amz-json-1.0"});
    request.body = body;
    api_->handle(std::move(request), caller, std::move(respond));
  }

  HttpResponse call(const std::string& operation, const Json& body,
                    const Caller& caller = admin()) {
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    auto calls = std::make_shared<std::atomic<int>>(0);
    send(operation, body.dump(), caller, [promise, calls](HttpResponse r) {
      if (calls->fetch_add(1) == 0) promise->set_value(std::move(r));
    });
    auto future = promise->get_future();
    if (future.wait_for(20s) != std::future_status::ready) {
      ADD_FAILURE() << operation << " did not answer";
      return HttpResponse{0, "", {}, ""};
    }
    HttpResponse r = future.get();
    EXPECT_EQ(calls->load(), 1) << operation << " answered more than once";
    return r;
  }

  Json ok(const std::string& operation, const Json& body, const Caller& caller = admin()) {
    HttpResponse r = call(operation, body, caller);
    EXPECT_EQ(r.status, 200) << operation << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/x-amz-json-1.0");
    Json parsed = Json::parse(r.body, nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << r.body;
    return parsed;
  }

  void expect_error(const std::string& operation, const Json& body, const std::string& type,
                    const std::string& message, const Caller& caller = admin()) {
    HttpResponse r = call(operation, body, caller);
    EXPECT_EQ(r.status, 400) << operation << " " << body.dump() << ": " << r.body;
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), type) << r.body;
    Json parsed = Json::parse(r.body, nullptr, false);
    EXPECT_EQ(parsed.value("__type", ""), type) << r.body;
    EXPECT_EQ(parsed.value("message", ""), message) << r.body;
  }

  std::string start(const std::string& machine, const std::string& name) {
    return ok("StartExecution", Json{{"stateMachineArn", machine}, {"name", name}})
        .value("executionArn", "");
  }
  std::string machine(const std::string& name, const std::string& definition) {
    return ok("CreateStateMachine",
              Json{{"name", name}, {"definition", definition}, {"roleArn", kRole}})
        .value("stateMachineArn", "");
  }
  Json wait_end(const std::string& arn) {
    Json d;
    const auto deadline = Clock::now() + 20s;
    do {
      d = ok("DescribeExecution", Json{{"executionArn", arn}});
      if (d.value("status", "") != "RUNNING") break;
      std::this_thread::sleep_for(10ms);
    } while (Clock::now() < deadline);
    return d;
  }

  static inline std::atomic<int> counter_{0};
  std::filesystem::path path_;
  std::string url_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Registry> registry_;
  std::unique_ptr<engine::Dispatcher> dispatcher_;
  std::unique_ptr<Operations> operations_;
  std::unique_ptr<AwsApi> api_;
};

INSTANTIATE_TEST_SUITE_P(Stores, AwsActivitiesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

TEST_P(AwsActivitiesTest, ActivityOperationsHaveTheModelsShapes) {
  Json created = ok("CreateActivity",
                    Json{{"name", "Work"}, {"tags", {{{"key", "team"}, {"value", "ops"}}}}});
  EXPECT_EQ(created["activityArn"], kWork);
  ASSERT_TRUE(created["creationDate"].is_number());
  EXPECT_EQ(created.size(), 2u) << created.dump();
  // Idempotent, as AWS.
  EXPECT_EQ(ok("CreateActivity", Json{{"name", "Work"}}), created);

  Json described = ok("DescribeActivity", Json{{"activityArn", kWork}});
  EXPECT_EQ(described, (Json{{"activityArn", kWork},
                             {"name", "Work"},
                             {"creationDate", created["creationDate"]}}));
  ok("CreateActivity", Json{{"name", "Zeta"}});
  Json page = ok("ListActivities", Json{{"maxResults", 1}});
  ASSERT_EQ(page["activities"].size(), 1u);
  EXPECT_EQ(page["activities"][0], described);
  ASSERT_TRUE(page.contains("nextToken"));
  Json next = ok("ListActivities", Json{{"nextToken", page["nextToken"]}});
  ASSERT_EQ(next["activities"].size(), 1u);
  EXPECT_EQ(next["activities"][0]["name"], "Zeta");
  EXPECT_FALSE(next.contains("nextToken"));

  EXPECT_EQ(ok("ListTagsForResource", Json{{"resourceArn", kWork}}),
            (Json{{"tags", {{{"key", "team"}, {"value", "ops"}}}}}));
  ok("TagResource", Json{{"resourceArn", kWork}, {"tags", {{{"key", "env"}, {"value", "dev"}}}}});
  ok("UntagResource", Json{{"resourceArn", kWork}, {"tagKeys", {"team"}}});
  EXPECT_EQ(ok("ListTagsForResource", Json{{"resourceArn", kWork}}),
            (Json{{"tags", {{{"key", "env"}, {"value", "dev"}}}}}));

  EXPECT_EQ(ok("DeleteActivity", Json{{"activityArn", kWork}}), Json::object());
  expect_error("DescribeActivity", Json{{"activityArn", kWork}}, "ActivityDoesNotExist",
               "Activity Does Not Exist: '" + kWork + "'");
  EXPECT_EQ(ok("DeleteActivity", Json{{"activityArn", kWork}}), Json::object());
  HttpResponse missing_tags = call("ListTagsForResource", Json{{"resourceArn", kWork}});
  EXPECT_EQ(Json::parse(missing_tags.body),
            (Json{{"__type", "ResourceNotFound"},
                  {"message", "Resource not found: '" + kWork + "'"},
                  {"resourceName", kWork}}));
}

TEST_P(AwsActivitiesTest, RequestsAreCheckedAgainstTheModel) {
  expect_error("CreateActivity", Json::object(), "ValidationException",
               "1 validation error detected: Value null at 'name' failed to satisfy constraint: "
               "Member must not be null");
  expect_error("CreateActivity", Json{{"name", "has space"}}, "InvalidName",
               "Activity name 'has space' contains a character that is not allowed");
  expect_error("DescribeActivity", Json{{"activityArn", kPrefix + "stateMachine:Work"}},
               "InvalidArn",
               "Invalid Arn: 'Resource type not valid in this context: " + kPrefix +
                   "stateMachine:Work'");
  expect_error("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", ""}},
               "ValidationException",
               "1 validation error detected: Value '' at 'workerName' failed to satisfy "
               "constraint: Member must have length greater than or equal to 1");
  expect_error("SendTaskSuccess", Json{{"taskToken", "t"}}, "ValidationException",
               "1 validation error detected: Value null at 'output' failed to satisfy "
               "constraint: Member must not be null");
  expect_error("SendTaskFailure", Json{{"taskToken", "t"}, {"error", std::string(257, 'e')}},
               "ValidationException",
               "1 validation error detected: Value at 'error' failed to satisfy constraint: "
               "Member must have length less than or equal to 256");
  expect_error("SendTaskHeartbeat", Json{{"taskToken", std::string(1025, 't')}},
               "ValidationException",
               "1 validation error detected: Value '" + std::string(1025, 't') +
                   "' at 'taskToken' failed to satisfy constraint: Member must have length less "
                   "than or equal to 1024");
  HttpResponse typed = call("SendTaskSuccess", Json{{"taskToken", 5}, {"output", "{}"}});
  EXPECT_EQ(header(typed, "x-amzn-ErrorType"), "SerializationException");
}

TEST_P(AwsActivitiesTest, GetActivityTaskIsALongPollThatHoldsNoThread) {
  ok("CreateActivity", Json{{"name", "Work"}});
  const std::string m = machine("Worked", activity_machine());

  auto answer = std::make_shared<std::promise<std::pair<Clock::time_point, HttpResponse>>>();
  send("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "aws-worker"}}.dump(),
       worker({"Work"}),
       [answer](HttpResponse r) { answer->set_value({Clock::now(), std::move(r)}); });
  // handle() returned; the poll waits without a thread.
  auto answered = answer->get_future();
  EXPECT_EQ(answered.wait_for(200ms), std::future_status::timeout);
  const std::string arn = start(m, "e1");
  const Clock::time_point durable = Clock::now();
  ASSERT_EQ(answered.wait_for(10s), std::future_status::ready);
  auto [at, response] = answered.get();
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(at - durable);
  std::cout << "GetActivityTask answered " << latency.count() << " us after StartExecution\n";
  EXPECT_LT(latency, 100ms);
  ASSERT_EQ(response.status, 200) << response.body;
  Json task = Json::parse(response.body);
  EXPECT_EQ(task["input"], "{}");
  const std::string token = task["taskToken"];

  EXPECT_EQ(ok("SendTaskHeartbeat", Json{{"taskToken", token}}, worker({"Work"})),
            Json::object());
  EXPECT_EQ(ok("SendTaskSuccess", Json{{"taskToken", token}, {"output", R"({"done":1})"}},
               worker({kWork})),
            Json::object());
  Json done = wait_end(arn);
  EXPECT_EQ(done["status"], "SUCCEEDED");
  EXPECT_EQ(done["output"], R"({"done":1})");
  Json history = ok("GetExecutionHistory", Json{{"executionArn", arn}});
  std::vector<std::string> types;
  for (const Json& e : history["events"]) types.push_back(e["type"]);
  EXPECT_THAT(types, ::testing::ElementsAre("ExecutionStarted", "TaskStateEntered",
                                            "ActivityScheduled", "ActivityStarted",
                                            "ActivitySucceeded", "TaskStateExited",
                                            "ExecutionSucceeded"));
  EXPECT_EQ(history["events"][2]["activityScheduledEventDetails"]["resource"], kWork);
  EXPECT_EQ(history["events"][3]["activityStartedEventDetails"]["workerName"], "aws-worker");
  EXPECT_EQ(history["events"][4]["activitySucceededEventDetails"]["output"], R"({"done":1})");

  // Nothing queued: {} after the wait (1 s here; 60 s by default, as AWS).
  const auto before = Clock::now();
  EXPECT_EQ(ok("GetActivityTask", Json{{"activityArn", kWork}}), Json::object());
  EXPECT_GE(Clock::now() - before, 1s);
}

TEST_P(AwsActivitiesTest, TaskErrorsHaveAwsNames) {
  ok("CreateActivity", Json{{"name", "Work"}});
  const std::string m = machine("Worked", activity_machine(1));
  expect_error("GetActivityTask", Json{{"activityArn", kPrefix + "activity:Nope"}},
               "ActivityDoesNotExist",
               "Activity Does Not Exist: '" + kPrefix + "activity:Nope'");
  expect_error("GetActivityTask", Json{{"activityArn", kWork}}, "AccessDeniedException",
               "User: AKIDWORKER is not authorized to perform: states:GetActivityTask on "
               "resource: " + kWork,
               worker({"Other"}));
  HttpResponse bad = call("SendTaskSuccess", Json{{"taskToken", "junk"}, {"output", "{}"}});
  EXPECT_EQ(header(bad, "x-amzn-ErrorType"), "InvalidToken") << bad.body;
  expect_error("SendTaskHeartbeat", Json{{"taskToken", std::string(64, 'c')}},
               "TaskDoesNotExist", "Task Does Not Exist");

  // A failure with error and cause; then the token is spent.
  const std::string failing = start(m, "fails");
  Json task = ok("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "w"}});
  ASSERT_TRUE(task.contains("taskToken")) << task.dump();
  const std::string token = task["taskToken"];
  expect_error("SendTaskSuccess", Json{{"taskToken", token}, {"output", "not json"}},
               "InvalidOutput",
               "Invalid Output: the output is not valid JSON: parse error at line 1, column 2: "
               "syntax error while parsing value - invalid literal; last read: 'no'");
  EXPECT_EQ(ok("SendTaskFailure",
               Json{{"taskToken", token}, {"error", "Broke"}, {"cause", "a reason"}}),
            Json::object());
  expect_error("SendTaskSuccess", Json{{"taskToken", token}, {"output", "{}"}},
               "TaskDoesNotExist", "Task Does Not Exist");
  Json failed = wait_end(failing);
  EXPECT_EQ(failed["status"], "FAILED");
  EXPECT_EQ(failed["error"], "Broke");
  EXPECT_EQ(failed["cause"], "a reason");

  // No heartbeat within HeartbeatSeconds: TaskTimedOut afterwards.
  const std::string lost = start(m, "lost");
  Json late = ok("GetActivityTask", Json{{"activityArn", kWork}});
  ASSERT_TRUE(late.contains("taskToken"));
  EXPECT_EQ(wait_end(lost)["error"], "States.HeartbeatTimeout");
  expect_error("SendTaskHeartbeat", Json{{"taskToken", late["taskToken"]}}, "TaskTimedOut",
               "Task Timed Out");
}

}  // namespace
}  // namespace stepd::server
