// The Dispatcher over a real engine on SQLite: activity tasks through the ActivityQueue (long
// polls, hand-out, ActivityStarted, restart), nested executions (states:startExecution and its
// patterns) and callbacks.
#include "engine/dispatch/dispatcher.hpp"

#include "sqlite_engine_fixture.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using namespace std::chrono_literals;
using dispatch_testing::activity_machine;
using dispatch_testing::kActivity;

// One engine with its dispatcher on a SQLite file that outlives restarts within a test.
class DispatcherTest : public dispatch_testing::SqliteEngineTest {
 protected:
  void SetUp() override {
    SqliteEngineTest::SetUp();
    open();
  }

  void open(std::chrono::milliseconds defer_write = EngineOptions{}.defer_write) {
    EngineOptions options;
    options.evict_waiting_after = 0;
    options.defer_write = defer_write;
    SqliteEngineTest::open(options);
  }

  // A blocking GetActivityTask.
  std::optional<ActivityTask> poll(const std::string& worker, std::chrono::milliseconds wait) {
    std::promise<std::optional<ActivityTask>> got;
    dispatcher_->activities().poll(kActivity, worker, wait,
                                   [&](std::optional<ActivityTask> t) { got.set_value(t); });
    return got.get_future().get();
  }

  ExecutionRecord wait_end(const std::string& arn) {
    auto r = engine_->wait_for(arn, 10s);
    EXPECT_TRUE(std::holds_alternative<ExecutionRecord>(r));
    return std::get<ExecutionRecord>(r);
  }

  // Expects the history of `arn` to be that of one activity task, taken by `worker`, that
  // succeeded.
  void expect_activity_succeeded(const std::string& arn, const std::string& worker) {
    auto events = history(arn);
    std::vector<std::string> want = {"ExecutionStarted",  "TaskStateEntered",  "ActivityScheduled",
                                     "ActivityStarted",   "ActivitySucceeded", "TaskStateExited",
                                     "ExecutionSucceeded"};
    ASSERT_EQ(types(events), want);
    EXPECT_EQ(Json::parse(events[3].details), (Json{{"workerName", worker}}));
  }

  static std::vector<std::string> types(const std::vector<HistoryEvent>& events) {
    std::vector<std::string> out;
    for (const HistoryEvent& e : events) out.push_back(e.type);
    return out;
  }
};

TEST_F(DispatcherTest, WaitingPollGetsTheTaskTheMomentItIsScheduled) {
  std::string m = machine("Act", activity_machine());
  std::promise<std::optional<ActivityTask>> got;
  auto asked = std::chrono::steady_clock::now();
  dispatcher_->activities().poll(kActivity, "w1", 5s,
                                 [&](std::optional<ActivityTask> t) { got.set_value(t); });
  std::this_thread::sleep_for(50ms);
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 1u);
  std::string arn = start(m, R"({"n":7})");
  auto scheduled = std::chrono::steady_clock::now();
  auto task = got.get_future().get();
  auto latency = std::chrono::steady_clock::now() - scheduled;
  ASSERT_TRUE(task.has_value());
  EXPECT_GT(scheduled - asked, 40ms);  // the poll really waited
  EXPECT_LT(latency, 200ms) << "a waiting poll is answered when the task arrives";
  EXPECT_EQ(Json::parse(task->input), Json::parse(R"({"n":7})"));
  EXPECT_EQ(task->token.size(), 64u);

  auto done = engine_->complete_task(task->token, Json{{"ok", true}});
  ASSERT_TRUE(std::holds_alternative<bool>(done));
  ExecutionRecord e = wait_end(arn);
  EXPECT_EQ(e.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*e.output), Json::parse(R"({"ok":true})"));
  expect_activity_succeeded(arn, "w1");
  // A task completes once.
  auto again = engine_->complete_task(task->token, Json{{"ok", false}});
  ASSERT_TRUE(std::holds_alternative<ApiError>(again));
  EXPECT_EQ(std::get<ApiError>(again).type, "TaskDoesNotExist");
}

TEST_F(DispatcherTest, PollWithNothingQueuedAnswersEmptyAfterItsWait) {
  auto began = std::chrono::steady_clock::now();
  auto task = poll("w", 300ms);
  auto took = std::chrono::steady_clock::now() - began;
  EXPECT_FALSE(task.has_value());
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 0u);
  // No wait at all: answered at once.
  EXPECT_FALSE(poll("w", 0ms).has_value());
}

TEST_F(DispatcherTest, QueuedTasksGoOutOldestFirstOncePerTask) {
  std::string m = machine("Fifo", activity_machine());
  std::vector<std::string> arns;
  for (int i = 0; i < 5; ++i) {
    arns.push_back(start(m, "{\"i\":" + std::to_string(i) + "}"));
    std::this_thread::sleep_for(5ms);  // commits in order
  }
  for (int i = 0; i < 50 && dispatcher_->activities().queued() < 5; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(dispatcher_->activities().queued(), 5u);
  std::set<std::string> tokens;
  for (int i = 0; i < 5; ++i) {
    auto t = poll("w", 1s);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(Json::parse(t->input)["i"], i);
    EXPECT_TRUE(tokens.insert(t->token).second);
    ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(t->token, Json(i))));
  }
  EXPECT_FALSE(poll("w", 100ms).has_value());
  for (int i = 0; i < 5; ++i) {
    ExecutionRecord e = wait_end(arns[i]);
    EXPECT_EQ(e.status, "SUCCEEDED");
    EXPECT_EQ(*e.output, std::to_string(i));
  }
}

TEST_F(DispatcherTest, StoppedExecutionsTaskIsNotHandedOut) {
  std::string m = machine("Stop", activity_machine());
  std::string arn = start(m, "{}");
  for (int i = 0; i < 50 && dispatcher_->activities().queued() < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(dispatcher_->activities().queued(), 1u);
  auto stopped = engine_->stop_execution(arn, "Enough", "");
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(stopped));
  for (int i = 0; i < 50 && dispatcher_->activities().queued() > 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(dispatcher_->activities().queued(), 0u);
  EXPECT_FALSE(poll("w", 100ms).has_value());
}

TEST_F(DispatcherTest, ActivityStartedRidesWithTheOutcomeOrIsWrittenSoonOnItsOwn) {
  // A task answered within the defer window (long here, so that a slow machine does not make
  // the count flaky): ActivityStarted goes out in the outcome's commit, not one of its own.
  close();
  open(10s);
  std::string m = machine("Ride", activity_machine());
  std::string quick = start(m, R"({"which":"quick"})");
  auto t = poll("w1", 2s);
  ASSERT_TRUE(t.has_value());
  const long long before = engine_->stats().commits;
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(t->token, Json("done"))));
  EXPECT_EQ(wait_end(quick).status, "SUCCEEDED");
  EXPECT_EQ(engine_->stats().commits, before + 1) << "one commit for ActivityStarted and the end";
  expect_activity_succeeded(quick, "w1");

  // A task a worker holds with nothing else happening: ActivityStarted is in the history once
  // the window (the default here) passed all the same.
  close();
  open();
  std::string held = start(m, R"({"which":"held"})");
  auto h = poll("w2", 2s);
  ASSERT_TRUE(h.has_value());
  const auto handed = std::chrono::steady_clock::now();
  bool seen = false;
  while (!seen && std::chrono::steady_clock::now() - handed < 2s) {
    auto kinds = types(history(held));
    seen = std::find(kinds.begin(), kinds.end(), "ActivityStarted") != kinds.end();
    if (!seen) std::this_thread::sleep_for(5ms);
  }
  EXPECT_TRUE(seen);
  EXPECT_LT(std::chrono::steady_clock::now() - handed, 1s);
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(h->token, Json("late"))));
  EXPECT_EQ(wait_end(held).status, "SUCCEEDED");
}

TEST_F(DispatcherTest, AStartedTaskIsWrittenAtShutdownAndNotHandedOutAgain) {
  std::string m = machine("Shut", activity_machine());
  std::string arn = start(m, "{}");
  auto t = poll("w1", 2s);
  ASSERT_TRUE(t.has_value());
  close();  // at once: the deferred ActivityStarted is written on the way out
  open();
  EXPECT_FALSE(poll("w2", 300ms).has_value()) << "w1 still holds the task";
  auto kinds = types(history(arn));
  EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "ActivityStarted"), 1);
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(t->token, Json("ok"))));
  EXPECT_EQ(wait_end(arn).status, "SUCCEEDED");
}

TEST_F(DispatcherTest, RestartRequeuesOnlyTasksNoWorkerTook) {
  std::string m = machine("Restart", activity_machine());
  std::string taken = start(m, R"({"which":"taken"})");
  auto t = poll("w1", 2s);
  ASSERT_TRUE(t.has_value());
  std::string waiting = start(m, R"({"which":"waiting"})");
  // Wait until ActivityStarted of the first is durable.
  for (int i = 0; i < 100; ++i) {
    auto h = types(history(taken));
    if (std::find(h.begin(), h.end(), "ActivityStarted") != h.end()) break;
    std::this_thread::sleep_for(10ms);
  }
  for (int i = 0; i < 50 && dispatcher_->activities().queued() < 1; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  close();
  open();
  auto again = poll("w2", 1s);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(Json::parse(again->input)["which"], "waiting");
  EXPECT_FALSE(poll("w2", 200ms).has_value()) << "the task w1 holds is not handed out again";
  // w1 still completes its task after the restart.
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(t->token, Json("one"))));
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(again->token, Json("two"))));
  EXPECT_EQ(*wait_end(taken).output, "\"one\"");
  EXPECT_EQ(*wait_end(waiting).output, "\"two\"");
}

TEST_F(DispatcherTest, HeartbeatTimeoutEndsTheTaskAndLateReportsAreTimedOut) {
  std::string m = machine("Beat", activity_machine(R"(,"HeartbeatSeconds":1)"));
  std::string arn = start(m, "{}");
  auto t = poll("w", 2s);
  ASSERT_TRUE(t.has_value());
  // Heartbeats keep it alive past HeartbeatSeconds.
  for (int i = 0; i < 3; ++i) {
    std::this_thread::sleep_for(500ms);
    ASSERT_TRUE(std::holds_alternative<bool>(engine_->heartbeat_task(t->token)));
  }
  auto mid = engine_->describe_execution(arn);
  EXPECT_EQ(std::get<ExecutionRecord>(mid).status, "RUNNING");
  ExecutionRecord e = wait_end(arn);  // then silence: it times out
  EXPECT_EQ(e.status, "FAILED");
  EXPECT_EQ(e.error.value_or(""), "States.HeartbeatTimeout");
  auto late = engine_->complete_task(t->token, Json(1));
  ASSERT_TRUE(std::holds_alternative<ApiError>(late));
  EXPECT_EQ(std::get<ApiError>(late).type, "TaskTimedOut");
  auto beat = engine_->heartbeat_task(t->token);
  ASSERT_TRUE(std::holds_alternative<ApiError>(beat));
  EXPECT_EQ(std::get<ApiError>(beat).type, "TaskTimedOut");
  auto unknown = engine_->complete_task(std::string(64, 'a'), Json(1));
  EXPECT_EQ(std::get<ApiError>(unknown).type, "TaskDoesNotExist");
  // AWS: what is not a task token at all is InvalidToken.
  for (const std::string& bad : std::vector<std::string>{"garbage", "", std::string(64, 'A'), std::string(65, 'a')}) {
    auto r = engine_->complete_task(bad, Json(1));
    ASSERT_TRUE(std::holds_alternative<ApiError>(r));
    EXPECT_EQ(std::get<ApiError>(r).type, "InvalidToken") << bad;
    auto h = engine_->heartbeat_task(bad);
    EXPECT_EQ(std::get<ApiError>(h).type, "InvalidToken") << bad;
  }
}

// --- Nested executions ------------------------------------------------------------------------

std::string parent_machine(const std::string& resource, const std::string& child_arn,
                           const std::string& extra_params = "") {
  return R"({"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":")" + resource +
         R"(","Parameters":{"StateMachineArn":")" + child_arn +
         R"(","Input":{"x.$":"$.x")" + extra_params + R"(}},"End":true}}})";
}

constexpr const char* kDouble =
    R"J({"StartAt":"D","States":{"D":{"Type":"Pass","Parameters":{"y.$":"States.MathAdd($.x, $.x)"},"End":true}}})J";
constexpr const char* kFail =
    R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Child.Broke","Cause":"on purpose"}}})";

TEST_F(DispatcherTest, StartExecutionSync2ReturnsTheChildsOutputAsJson) {
  std::string child = machine("Double", kDouble);
  std::string parent =
      machine("Parent2", parent_machine("arn:aws:states:::states:startExecution.sync:2", child));
  ExecutionRecord e = wait_end(start(parent, R"({"x":21})"));
  ASSERT_EQ(e.status, "SUCCEEDED") << e.error.value_or("") << " " << e.cause.value_or("");
  Json out = Json::parse(*e.output);
  EXPECT_EQ(out["Output"], Json::parse(R"({"y":42})"));
  EXPECT_EQ(out["Input"], Json::parse(R"({"x":21})"));
  EXPECT_EQ(out["Status"], "SUCCEEDED");
  EXPECT_EQ(out["StateMachineArn"], child);
  EXPECT_TRUE(out["StartDate"].is_number());
  EXPECT_TRUE(out["StopDate"].is_number());
  // The child is a real execution of its own machine.
  auto c = engine_->describe_execution(out["ExecutionArn"].get<std::string>());
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(c));
  EXPECT_EQ(std::get<ExecutionRecord>(c).machine_arn, child);
}

TEST_F(DispatcherTest, StartExecutionSyncReturnsJsonText) {
  std::string child = machine("Double1", kDouble);
  std::string parent =
      machine("Parent1", parent_machine("arn:aws:states:::states:startExecution.sync", child));
  ExecutionRecord e = wait_end(start(parent, R"({"x":2})"));
  ASSERT_EQ(e.status, "SUCCEEDED");
  Json out = Json::parse(*e.output);
  ASSERT_TRUE(out["Output"].is_string());
  EXPECT_EQ(Json::parse(out["Output"].get<std::string>()), Json::parse(R"({"y":4})"));
  ASSERT_TRUE(out["Input"].is_string());
}

TEST_F(DispatcherTest, FailedChildFailsTheTaskWithItsDescription) {
  std::string child = machine("Broken", kFail);
  std::string parent =
      machine("ParentF", parent_machine("arn:aws:states:::states:startExecution.sync:2", child));
  ExecutionRecord e = wait_end(start(parent, R"({"x":1})"));
  EXPECT_EQ(e.status, "FAILED");
  EXPECT_EQ(e.error.value_or(""), "States.TaskFailed");
  Json cause = Json::parse(e.cause.value_or("null"));
  EXPECT_EQ(cause["Status"], "FAILED");
  EXPECT_EQ(cause["Error"], "Child.Broke");
  EXPECT_EQ(cause["Cause"], "on purpose");
}

TEST_F(DispatcherTest, StartExecutionRequestResponseReturnsAtOnce) {
  std::string child = machine("Slow", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":30,"End":true}}})");
  std::string parent =
      machine("ParentRR", parent_machine("arn:aws:states:::states:startExecution", child));
  ExecutionRecord e = wait_end(start(parent, R"({"x":1})"));
  ASSERT_EQ(e.status, "SUCCEEDED");
  Json out = Json::parse(*e.output);
  ASSERT_TRUE(out["ExecutionArn"].is_string());
  EXPECT_TRUE(out["StartDate"].is_number());
  EXPECT_EQ(out.size(), 2u);
  auto c = engine_->describe_execution(out["ExecutionArn"].get<std::string>());
  EXPECT_EQ(std::get<ExecutionRecord>(c).status, "RUNNING");
}

TEST_F(DispatcherTest, StoppingTheParentStopsItsSyncChild) {
  std::string child = machine("Long", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}})");
  std::string parent = machine(
      "ParentStop", parent_machine("arn:aws:states:::states:startExecution.sync:2", child,
                                   R"(},"Name":"the-child","Dummy":{"a":1)"));
  std::string arn = start(parent, R"({"x":1})");
  std::string child_arn = "arn:aws:states:local:000000000000:execution:Long:the-child";
  for (int i = 0; i < 100; ++i) {
    if (std::holds_alternative<ExecutionRecord>(engine_->describe_execution(child_arn))) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(engine_->stop_execution(arn, "Halt", "")));
  ExecutionRecord c = wait_end(child_arn);
  EXPECT_EQ(c.status, "ABORTED");
}

TEST_F(DispatcherTest, StartExecutionWaitForTaskTokenWaitsForTheChildsReport) {
  // The child hands the token back through its output; the test reports with it.
  std::string child = machine("Echo", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  std::string parent = machine(
      "ParentCb",
      parent_machine("arn:aws:states:::states:startExecution.waitForTaskToken", child,
                     R"(,"token.$":"$$.Task.Token")"));
  std::string arn = start(parent, R"({"x":5})");
  std::string token;
  for (int i = 0; i < 200 && token.empty(); ++i) {
    ExecutionFilter f;
    f.machine_arn = child;
    auto list = engine_->list_executions(f, PageRequest{});
    auto& items = std::get<Page<ExecutionRecord>>(list).items;
    if (!items.empty() && items[0].status == "SUCCEEDED") {
      token = Json::parse(*items[0].output)["token"].get<std::string>();
    } else {
      std::this_thread::sleep_for(10ms);
    }
  }
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(std::get<ExecutionRecord>(engine_->describe_execution(arn)).status, "RUNNING");
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(token, Json{{"back", 5}})));
  ExecutionRecord e = wait_end(arn);
  EXPECT_EQ(e.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*e.output), Json::parse(R"({"back":5})"));
}

TEST_F(DispatcherTest, UnknownChildMachineFailsWithTheApiErrorName) {
  std::string parent = machine(
      "ParentMissing",
      parent_machine("arn:aws:states:::states:startExecution.sync:2",
                     "arn:aws:states:local:000000000000:stateMachine:Nope"));
  ExecutionRecord e = wait_end(start(parent, R"({"x":1})"));
  EXPECT_EQ(e.status, "FAILED");
  EXPECT_EQ(e.error.value_or(""), "StepFunctions.StateMachineDoesNotExistException");
}

}  // namespace
}  // namespace stepd::engine
