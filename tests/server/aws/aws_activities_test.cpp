// The AWS Step Functions API's activity and task operations (CreateActivity ... SendTaskHeartbeat),
// in process over a real Engine with the real Dispatcher, on SQLite (and PostgreSQL when
// STEPD_TEST_PG_URL is set): the model's shapes, AWS's error names, the long poll, and a poll
// whose client went away (withdrawn; a task whose answer was not written goes back). Then the
// same against the real `stepd` binary: a worker that closes its connection mid-poll takes no
// task, over the AWS protocol and over REST.
#include "server/aws/aws_api.hpp"

#include "engine/dispatch/dispatcher.hpp"
#include "engine/dispatch/registry.hpp"
#include "server/aws/aws_protocol.hpp"
#include "tests/server/aws/aws_call.hpp"
#include "tests/server/process/stepd_process.hpp"
#include "tests/support/scratch_database.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <thread>

namespace stepd::server {
namespace {

using asl::Json;
using namespace std::chrono_literals;
using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;
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

// The event types of a GetExecutionHistory answer, in order.
std::vector<std::string> event_types(const Json& history) {
  std::vector<std::string> types;
  for (const Json& e : history["events"]) types.push_back(e["type"]);
  return types;
}

// The history of an execution of activity_machine() whose task succeeded at once.
const std::vector<std::string> kActivitySucceededHistory = {
    "ExecutionStarted",  "TaskStateEntered", "ActivityScheduled", "ActivityStarted",
    "ActivitySucceeded", "TaskStateExited",  "ExecutionSucceeded"};

std::string activity_machine(int heartbeat = 0) {
  Json task = {{"Type", "Task"}, {"Resource", kWork}, {"End", true}};
  if (heartbeat > 0) task["HeartbeatSeconds"] = heartbeat;
  return Json{{"StartAt", "T"}, {"States", {{"T", task}}}}.dump();
}

class AwsActivitiesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "aws_act");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
    auto store = engine::open_store(db_->url());
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
  }

  static Caller admin() {
    Caller c;
    c.request_id = "req-1";
    return c;
  }
  // A caller over a connection, as the HTTP server makes it: `context` is the connection's side.
  static Caller connected(std::shared_ptr<RequestContext> context, std::string request_id) {
    Caller c;
    c.request_id = std::move(request_id);
    c.context = std::move(context);
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
    api_->handle(test::aws_json_request("AWSStepFunctions." + operation, body), caller,
                 std::move(respond));
  }

  HttpResponse call(const std::string& operation, const Json& body,
                    const Caller& caller = admin()) {
    return test::await_answer(
        *api_, test::aws_json_request("AWSStepFunctions." + operation, body.dump()), caller, 20s,
        operation);
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

  std::unique_ptr<ScratchDatabase> db_;
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
  EXPECT_EQ(event_types(history), kActivitySucceededHistory);
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

// The connection of a waiting GetActivityTask closes: the poll is withdrawn at once (it answers
// {}, which nobody reads) and the next task waits for a live worker instead.
TEST_P(AwsActivitiesTest, APollWhoseClientWentAwayIsWithdrawn) {
  ok("CreateActivity", Json{{"name", "Work"}});
  const std::string m = machine("Worked", activity_machine());
  auto context = std::make_shared<RequestContext>();
  auto answer = std::make_shared<std::promise<HttpResponse>>();
  send("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "gone"}}.dump(),
       connected(context, "req-gone"),
       [answer](HttpResponse r) { answer->set_value(std::move(r)); });
  auto answered = answer->get_future();
  EXPECT_EQ(answered.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 1u);
  context->client_gone();  // what the server does when the peer closes
  ASSERT_EQ(answered.wait_for(1s), std::future_status::ready) << "the poll was not withdrawn";
  HttpResponse r = answered.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(Json::parse(r.body), Json::object());
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 0u);
  context->settle(false);  // the server drops that answer

  const std::string arn = start(m, "e1");
  const auto asked = Clock::now();
  Json task = ok("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "live"}});
  ASSERT_TRUE(task.contains("taskToken")) << task.dump();
  EXPECT_LT(Clock::now() - asked, 2s);
  EXPECT_EQ(ok("SendTaskSuccess", Json{{"taskToken", task["taskToken"]}, {"output", "{}"}}),
            Json::object());
  EXPECT_EQ(wait_end(arn)["status"], "SUCCEEDED");
  Json history = ok("GetExecutionHistory", Json{{"executionArn", arn}});
  std::vector<std::string> workers;
  for (const Json& e : history["events"]) {
    if (e["type"] == "ActivityStarted") {
      workers.push_back(e["activityStartedEventDetails"].value("workerName", ""));
    }
  }
  EXPECT_EQ(workers, std::vector<std::string>{"live"});
}

// A client gone before its poll reached the queue: the poll is withdrawn as soon as it is made.
TEST_P(AwsActivitiesTest, APollOfAClientAlreadyGoneEndsAtOnce) {
  ok("CreateActivity", Json{{"name", "Work"}});
  auto context = std::make_shared<RequestContext>();
  context->client_gone();
  const auto asked = Clock::now();
  HttpResponse r = call("GetActivityTask", Json{{"activityArn", kWork}},
                        connected(context, "req-early"));
  EXPECT_LT(Clock::now() - asked, 500ms);  // not the 1 s wait
  EXPECT_EQ(Json::parse(r.body), Json::object());
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 0u);
}

// A task handed to a poll whose answer could not be written goes back to the front of the queue,
// not started: the next poll gets that same task, and ActivityStarted names that worker only.
// A task counts as started once its answer is written.
TEST_P(AwsActivitiesTest, ATaskWhoseAnswerWasNotWrittenGoesToTheNextPoll) {
  ok("CreateActivity", Json{{"name", "Work"}});
  const std::string m = machine("Worked", activity_machine());
  const std::string first = start(m, "first");
  const std::string second = start(m, "second");
  for (int i = 0; i < 200 && dispatcher_->activities().queued() < 2; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(dispatcher_->activities().queued(), 2u);

  auto lost = std::make_shared<RequestContext>();
  Json taken = ok("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "lost"}},
                  connected(lost, "req-lost"));
  ASSERT_TRUE(taken.contains("taskToken")) << taken.dump();
  EXPECT_EQ(dispatcher_->activities().in_transit(), 1u);
  lost->settle(false);  // the write failed: the connection was gone
  EXPECT_EQ(dispatcher_->activities().in_transit(), 0u);
  EXPECT_EQ(dispatcher_->activities().queued(), 2u);

  auto delivered = std::make_shared<RequestContext>();
  Json again = ok("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "got-it"}},
                  connected(delivered, "req-ok"));
  ASSERT_TRUE(again.contains("taskToken")) << again.dump();
  EXPECT_EQ(again["taskToken"], taken["taskToken"]);
  EXPECT_EQ(again["input"], taken["input"]);
  delivered->settle(true);  // written to the connection: now it is started
  EXPECT_EQ(dispatcher_->activities().in_transit(), 0u);
  EXPECT_EQ(ok("SendTaskSuccess", Json{{"taskToken", again["taskToken"]}, {"output", "{}"}}),
            Json::object());
  Json done = wait_end(first);
  EXPECT_EQ(done["status"], "SUCCEEDED");
  Json history = ok("GetExecutionHistory", Json{{"executionArn", first}});
  EXPECT_EQ(event_types(history), kActivitySucceededHistory);
  EXPECT_EQ(history["events"][3]["activityStartedEventDetails"]["workerName"], "got-it");

  // A report before the delivery is settled (the worker answered faster than the server noted
  // the write) still records ActivityStarted first.
  auto racing = std::make_shared<RequestContext>();
  Json next = ok("GetActivityTask", Json{{"activityArn", kWork}, {"workerName", "quick"}},
                 connected(racing, "req-quick"));
  ASSERT_TRUE(next.contains("taskToken")) << next.dump();
  EXPECT_EQ(ok("SendTaskSuccess", Json{{"taskToken", next["taskToken"]}, {"output", "{}"}}),
            Json::object());
  EXPECT_EQ(dispatcher_->activities().in_transit(), 0u);
  racing->settle(true);
  EXPECT_EQ(wait_end(second)["status"], "SUCCEEDED");
  Json second_history = ok("GetExecutionHistory", Json{{"executionArn", second}});
  ASSERT_GE(second_history["events"].size(), 5u);
  EXPECT_EQ(second_history["events"][3]["type"], "ActivityStarted");
  EXPECT_EQ(second_history["events"][3]["activityStartedEventDetails"]["workerName"], "quick");
  EXPECT_EQ(second_history["events"][4]["type"], "ActivitySucceeded");
}

// --- Against the real stepd binary ----------------------------------------------------------

test::HeaderList aws_headers(const std::string& operation) {
  return {{"X-Amz-Target", "AWSStepFunctions." + operation},
          {"Content-Type", "application/x-amz-json-1.0"}};
}

test::HttpReply aws_call(unsigned short port, const std::string& operation, const Json& body,
                         std::chrono::milliseconds timeout = 10s) {
  return test::http_request(port, "POST", "/", body.dump(), aws_headers(operation), timeout);
}

class ClosedPollProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stepd_.start()) << stepd_.log();
    port_ = stepd_.port();
    ASSERT_EQ(aws_call(port_, "CreateActivity", Json{{"name", "Work"}}).status, 200);
    test::HttpReply m =
        aws_call(port_, "CreateStateMachine",
                 Json{{"name", "Worked"}, {"definition", activity_machine()}, {"roleArn", kRole}});
    ASSERT_EQ(m.status, 200) << m.body;
    machine_ = Json::parse(m.body).value("stateMachineArn", "");
  }
  void TearDown() override { EXPECT_EQ(stepd_.stop(), 0) << stepd_.log(); }

  std::string start(const std::string& name) {
    test::HttpReply r = aws_call(port_, "StartExecution",
                                 Json{{"stateMachineArn", machine_}, {"name", name}});
    EXPECT_EQ(r.status, 200) << r.body;
    return Json::parse(r.body, nullptr, false).value("executionArn", "");
  }

  // Polls with a proper client; fails unless a task comes within 2 s. Returns the token.
  std::string poll_promptly(const std::string& worker) {
    const auto asked = Clock::now();
    test::HttpReply r = aws_call(
        port_, "GetActivityTask", Json{{"activityArn", kWork}, {"workerName", worker}}, 5s);
    const auto took = Clock::now() - asked;
    EXPECT_EQ(r.status, 200) << r.error << r.body;
    EXPECT_LT(took, 2s) << "the task went to a poll whose client had gone";
    Json body = Json::parse(r.body, nullptr, false);
    EXPECT_TRUE(body.contains("taskToken")) << r.body;
    return body.value("taskToken", "");
  }

  // Completes the task, waits for the execution's end and returns its ActivityStarted workers.
  std::vector<std::string> finish(const std::string& token, const std::string& arn) {
    EXPECT_EQ(aws_call(port_, "SendTaskSuccess", Json{{"taskToken", token}, {"output", "{}"}})
                  .status,
              200);
    const auto deadline = Clock::now() + 10s;
    Json d;
    do {
      d = Json::parse(
          aws_call(port_, "DescribeExecution", Json{{"executionArn", arn}}).body, nullptr, false);
      if (d.value("status", "") != "RUNNING") break;
      std::this_thread::sleep_for(20ms);
    } while (Clock::now() < deadline);
    EXPECT_EQ(d.value("status", ""), "SUCCEEDED") << d.dump();
    Json h = Json::parse(
        aws_call(port_, "GetExecutionHistory", Json{{"executionArn", arn}}).body, nullptr, false);
    std::vector<std::string> workers;
    if (!h.is_object() || !h.contains("events")) {
      ADD_FAILURE() << "no history for " << arn;
      return workers;
    }
    for (const Json& e : h["events"]) {
      if (e["type"] == "ActivityStarted") {
        workers.push_back(e["activityStartedEventDetails"].value("workerName", ""));
      }
    }
    return workers;
  }

  test::StepdProcess stepd_;
  unsigned short port_ = 0;
  std::string machine_;
};

TEST_F(ClosedPollProcessTest, AnAwsPollWhoseSocketClosedDoesNotTakeTheNextTask) {
  // A worker starts a long poll (stepd's default wait: 60 s) and dies.
  test::TestConnection killed;
  ASSERT_TRUE(killed.connect(port_));
  ASSERT_TRUE(killed.send(test::format_request(
      "POST", "/", Json{{"activityArn", kWork}, {"workerName", "killed"}}.dump(),
      aws_headers("GetActivityTask"))));
  std::this_thread::sleep_for(300ms);  // the poll waits in the queue
  killed.close();
  std::this_thread::sleep_for(200ms);

  const std::string arn = start("after-close");
  const std::string token = poll_promptly("live");
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(finish(token, arn), std::vector<std::string>{"live"});
}

TEST_F(ClosedPollProcessTest, ManyClosedPollsAndARestPollDoNotHoldTasks) {
  // Several dead pollers over both protocols, closed at once (no pause before the task comes:
  // whichever way the race goes, withdrawn poll or unwritten answer, the live poll gets it).
  std::vector<std::unique_ptr<test::TestConnection>> dead;
  for (int i = 0; i < 4; ++i) {
    auto c = std::make_unique<test::TestConnection>();
    ASSERT_TRUE(c->connect(port_));
    ASSERT_TRUE(c->send(test::format_request(
        "POST", "/",
        Json{{"activityArn", kWork}, {"workerName", "dead-" + std::to_string(i)}}.dump(),
        aws_headers("GetActivityTask"))));
    dead.push_back(std::move(c));
  }
  auto rest = std::make_unique<test::TestConnection>();
  ASSERT_TRUE(rest->connect(port_));
  ASSERT_TRUE(
      rest->send(test::format_request("GET", "/v1/activities/Work/tasks?wait=60&worker=dead-rest")));
  dead.push_back(std::move(rest));
  std::this_thread::sleep_for(300ms);
  for (auto& c : dead) c->close();

  std::vector<std::string> arns;
  for (int i = 0; i < 3; ++i) arns.push_back(start("e" + std::to_string(i)));
  for (const std::string& arn : arns) {
    // Over REST: 200 with the task, promptly.
    const auto asked = Clock::now();
    test::HttpReply r =
        test::http_request(port_, "GET", "/v1/activities/Work/tasks?wait=5&worker=live", "", {},
                           10s);
    EXPECT_LT(Clock::now() - asked, 2s) << "a task went to a poll whose client had gone";
    ASSERT_EQ(r.status, 200) << r.error << r.body;
    Json task = Json::parse(r.body, nullptr, false);
    const std::string token = task.value("token", "");
    ASSERT_FALSE(token.empty()) << r.body;
    EXPECT_EQ(finish(token, arn), std::vector<std::string>{"live"}) << arn;
  }
}

}  // namespace
}  // namespace stepd::server
