// The Client's activity, task-token and routing-registry calls against a real `stepd`, and a
// FunctionHost serving push tasks of real executions. These need the server's activity operations
// (CreateActivity, GetActivityTask, SendTask*) and its /v1/routes resource: until the server has
// them, these tests fail in SetUp saying so.
#include "stepd/worker/client.hpp"
#include "stepd/worker/function_host.hpp"
#include "tests/server/process/stepd_process.hpp"
#include "tests/workers-sdk/sdk_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using worker::Client;
using worker::Error;

const std::string kArnPrefix = "arn:aws:states:local:000000000000:";

std::string task_machine(const std::string &activity_arn) {
  return json{{"StartAt", "Work"},
              {"States", {{"Work", {{"Type", "Task"}, {"Resource", activity_arn}, {"End", true}}}}}}
      .dump();
}

class ActivityClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(stepd_.start()) << stepd_.log();
    client_ = std::make_unique<Client>(
        worker::ClientOptions{.endpoint = "http://127.0.0.1:" + std::to_string(stepd_.port())});
    try {
      activity_ = client_->create_activity("resize").activity_arn;
    } catch (const Error &e) {
      FAIL() << "waits on the server: CreateActivity is not served yet (" << e.what() << ")";
    }
  }

  worker::ExecutionDescription wait_end(const std::string &arn) {
    worker::ExecutionDescription d;
    wait_for([&] {
      d = client_->describe_execution(arn);
      return d.status != "RUNNING";
    });
    return d;
  }

  StepdProcess stepd_;
  std::unique_ptr<Client> client_;
  std::string activity_;
};

TEST_F(ActivityClientTest, CreatesDescribesListsAndDeletesActivities) {
  EXPECT_EQ(activity_, kArnPrefix + "activity:resize");
  const auto d = client_->describe_activity(activity_);
  EXPECT_EQ(d.activity_arn, activity_);
  EXPECT_EQ(d.name, "resize");
  EXPECT_GT(d.creation_date, std::chrono::system_clock::now() - 60s);
  // AWS: CreateActivity is idempotent.
  EXPECT_EQ(client_->create_activity("resize").activity_arn, activity_);

  for (int i = 0; i < 3; ++i) client_->create_activity("more-" + std::to_string(i));
  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    auto page = client_->list_activities({.max_results = 2, .next_token = token});
    for (const auto &a : page.items) names.push_back(a.name);
    token = page.next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"more-0", "more-1", "more-2", "resize"}));
  EXPECT_EQ(pages, 2);

  client_->delete_activity(activity_);
  Error gone = expect_error([&] { client_->describe_activity(activity_); });
  EXPECT_EQ(gone.code(), "ActivityDoesNotExist");
  Error arn = expect_error([&] { client_->describe_activity("not-an-arn"); });
  EXPECT_EQ(arn.code(), "InvalidArn");
}

TEST_F(ActivityClientTest, PollsATaskAndReportsSuccessFailureAndHeartbeats) {
  const std::string machine =
      client_->create_state_machine({.name = "Act1", .definition = task_machine(activity_)})
          .state_machine_arn;
  const auto run = client_->start_execution({.state_machine_arn = machine, .input = {{"n", 7}}});
  auto task = client_->get_activity_task(activity_, "test-worker");
  ASSERT_TRUE(task.has_value());
  EXPECT_FALSE(task->task_token.empty());
  EXPECT_EQ(task->input, (json{{"n", 7}}));
  EXPECT_NO_THROW(client_->send_task_heartbeat(task->task_token));
  client_->send_task_success(task->task_token, json{{"resized", true}});
  auto d = wait_end(run.execution_arn);
  EXPECT_EQ(d.status, "SUCCEEDED");
  ASSERT_TRUE(d.output.has_value());
  EXPECT_EQ(*d.output, (json{{"resized", true}}));
  // The history names the worker.
  const auto history = client_->get_execution_history({.execution_arn = run.execution_arn});
  bool started = false;
  for (const auto &e : history.items) {
    if (e.type == "ActivityStarted") {
      started = true;
      EXPECT_EQ(e.details.value("workerName", ""), "test-worker");
    }
  }
  EXPECT_TRUE(started);
  // The token is used up.
  Error used = expect_error([&] { client_->send_task_success(task->task_token, json{}); });
  EXPECT_EQ(used.code(), "TaskDoesNotExist");

  const auto run2 = client_->start_execution({.state_machine_arn = machine});
  auto task2 = client_->get_activity_task(activity_);
  ASSERT_TRUE(task2.has_value());
  client_->send_task_failure(task2->task_token, "Resize.Failed", "image too large");
  d = wait_end(run2.execution_arn);
  EXPECT_EQ(d.status, "FAILED");
  EXPECT_EQ(d.error, "Resize.Failed");
  EXPECT_EQ(d.cause, "image too large");

  // A token the server never gave.
  Error bad = expect_error([&] { client_->send_task_heartbeat("garbage"); });
  EXPECT_TRUE(bad.code() == "TaskDoesNotExist" || bad.code() == "InvalidToken") << bad.what();
  EXPECT_EQ(bad.status(), 400);
}

TEST_F(ActivityClientTest, ManagesRoutes) {
  std::vector<worker::Route> routes;
  try {
    routes = client_->list_routes();
  } catch (const Error &e) {
    FAIL() << "waits on the server: GET /v1/routes is not served yet (" << e.what() << ")";
  }
  EXPECT_TRUE(routes.empty());
  const auto put = client_->put_route("function", "resize", "http://127.0.0.1:9/resize");
  EXPECT_EQ(put.kind, "function");
  EXPECT_EQ(put.name, "resize");
  EXPECT_EQ(put.url, "http://127.0.0.1:9/resize");
  client_->put_route("service", "dynamodb:putItem", "http://127.0.0.1:9/ddb");
  routes = client_->list_routes();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].kind, "function");
  EXPECT_EQ(routes[0].name, "resize");
  EXPECT_EQ(routes[0].url, "http://127.0.0.1:9/resize");
  EXPECT_GT(routes[0].updated, std::chrono::system_clock::now() - 60s);
  EXPECT_EQ(routes[1].kind, "service");
  EXPECT_EQ(routes[1].name, "dynamodb:putItem");
  client_->delete_route("function", "resize");
  routes = client_->list_routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].name, "dynamodb:putItem");
  Error kind = expect_error([&] { client_->put_route("queue", "x", "http://127.0.0.1:9/"); });
  EXPECT_EQ(kind.code(), "ValidationException");
  Error missing = expect_error([&] { client_->delete_route("function", "resize"); });
  EXPECT_EQ(missing.code(), "ResourceNotFound");
}

// A FunctionHost as the target of a Lambda-style Task: the engine calls it, its result is the
// state's output, and its exception's type is the task's error name (caught by name).
TEST_F(ActivityClientTest, FunctionHostServesPushTasksOfRealExecutions) {
  worker::FunctionHost host({.log = {}});
  host.handle("double", [](const worker::Request &r) {
    return json{{"value", r.input.at("value").get<int>() * 2}, {"state", r.state}};
  });
  host.handle("boom",
              [](const worker::Request &) -> json { throw std::invalid_argument("no such size"); });
  host.start();
  try {
    client_->put_route("function", "double", host.url("double"));
    client_->put_route("function", "boom", host.url("boom"));
  } catch (const Error &e) {
    FAIL() << "waits on the server: PUT /v1/routes is not served yet (" << e.what() << ")";
  }
  const std::string fn = "arn:aws:lambda:local:000000000000:function:";
  const json definition = {
      {"StartAt", "Double"},
      {"States",
       {{"Double", {{"Type", "Task"}, {"Resource", fn + "double"}, {"Next", "Boom"}}},
        {"Boom",
         {{"Type", "Task"},
          {"Resource", fn + "boom"},
          {"Catch",
           {{{"ErrorEquals", {"std::invalid_argument"}},
             {"ResultPath", "$.error"},
             {"Next", "Caught"}}}},
          {"End", true}}},
        {"Caught", {{"Type", "Pass"}, {"End", true}}}}}};
  const std::string machine =
      client_->create_state_machine({.name = "Push1", .definition = definition.dump()})
          .state_machine_arn;
  const auto run =
      client_->start_execution({.state_machine_arn = machine, .input = {{"value", 21}}});
  const auto d = wait_end(run.execution_arn);
  ASSERT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  ASSERT_TRUE(d.output.has_value());
  EXPECT_EQ(d.output->at("value"), 42);
  EXPECT_EQ(d.output->at("state"), "Double");
  EXPECT_EQ(d.output->at("error").at("Error"), "std::invalid_argument");
}

// Task delivery guarantee with real processes: a function that answers too slowly hits the
// Task's TimeoutSeconds (States.Timeout, without waiting for the answer), and Retry runs it again.
TEST_F(ActivityClientTest, ASlowFunctionHitsTimeoutSecondsAndRetryRunsItAgain) {
  std::atomic<int> calls{0};
  worker::FunctionHost host({.log = {}});
  host.handle("slow_once", [&](const worker::Request &r) {
    const int call = ++calls;
    if (call == 1) std::this_thread::sleep_for(2500ms);  // the first attempt is too slow
    return json{{"call", call}, {"value", r.input.at("value")}};
  });
  host.start();
  client_->put_route("function", "slow_once", host.url("slow_once"));
  const json definition = {
      {"StartAt", "Call"},
      {"States",
       {{"Call",
         {{"Type", "Task"},
          {"Resource", "arn:aws:lambda:local:000000000000:function:slow_once"},
          {"TimeoutSeconds", 1},
          {"Retry",
           {{{"ErrorEquals", {"States.Timeout"}},
             {"IntervalSeconds", 1},
             {"MaxAttempts", 1},
             {"BackoffRate", 1}}}},
          {"End", true}}}}}};
  const std::string machine =
      client_->create_state_machine({.name = "Slow", .definition = definition.dump()})
          .state_machine_arn;
  const auto began = std::chrono::steady_clock::now();
  const auto run =
      client_->start_execution({.state_machine_arn = machine, .input = {{"value", 7}}});
  const auto d = wait_end(run.execution_arn);
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  EXPECT_EQ(*d.output, (json{{"call", 2}, {"value", 7}}));
  // 1 s time-out + 1 s interval + a quick second call; the slow answer (2.5 s) is not awaited.
  EXPECT_LT(took, 2400ms);
  std::vector<std::string> kinds;
  json timed_out;
  for (const auto &e : client_->get_execution_history({.execution_arn = run.execution_arn}).items) {
    if (e.type.rfind("LambdaFunction", 0) == 0) kinds.push_back(e.type);
    if (e.type == "LambdaFunctionTimedOut") timed_out = e.details;
  }
  EXPECT_EQ(kinds, (std::vector<std::string>{"LambdaFunctionScheduled", "LambdaFunctionStarted",
                                             "LambdaFunctionTimedOut", "LambdaFunctionScheduled",
                                             "LambdaFunctionStarted",
                                             "LambdaFunctionSucceeded"}));
  EXPECT_EQ(timed_out.value("error", ""), "States.Timeout") << timed_out.dump();
  host.stop();
}

}  // namespace
}  // namespace stepd::test
