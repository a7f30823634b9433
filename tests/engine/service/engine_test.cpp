#include "engine/engine.hpp"

#include "tests/support/completion_threads.hpp"
#include "tests/support/scratch_database.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using namespace std::chrono_literals;
using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;

// A clock the test moves by hand.
struct FakeClock {
  std::atomic<Micros> now{1'700'000'000'000'000};
  std::function<Micros()> fn() {
    return [this] { return now.load(); };
  }
};

// Serves tasks in-process on its own thread: each task's result is computed by `handler`.
class ThreadTransport final : public TaskTransport {
 public:
  using Handler = std::function<asl::Outcome(const TaskDispatch&)>;
  explicit ThreadTransport(Handler handler) : handler_(std::move(handler)) {}
  ~ThreadTransport() override { join(); }
  void attach(Engine* engine) { engine_ = engine; }
  void dispatch(const TaskDispatch& task) override {
    std::lock_guard lock(mu_);
    dispatched_.push_back(task);
    if (!handler_) return;
    threads_.run([this, task] { engine_->complete_task(task.token, handler_(task)); });
  }
  std::vector<TaskDispatch> dispatched() {
    std::lock_guard lock(mu_);
    return dispatched_;
  }
  void join() { threads_.join(); }

 private:
  Handler handler_;
  Engine* engine_ = nullptr;
  std::mutex mu_;
  std::vector<TaskDispatch> dispatched_;
  ::stepd::test::CompletionThreads threads_;
};

// The same suite runs on every store: "sqlite" (a temp file) and "postgres" (a schema of its
// own on the server STEPD_TEST_PG_URL names; skipped when it is not set).
class EngineTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "engine");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
  }
  void TearDown() override { engine_.reset(); }
  void open_engine() {
    auto store = open_store(db_->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    EngineOptions options;
    options.clock = clock_.fn();
    options.timer_thread = false;
    engine_ = std::make_unique<Engine>(std::move(*store), options);
    Status s = engine_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
  }
  std::string create(const std::string& name, const std::string& definition) {
    auto r = engine_->create_state_machine({name, definition, "STANDARD", "", "[]"});
    if (auto* e = std::get_if<ApiError>(&r)) {
      ADD_FAILURE() << e->type << ": " << e->message;
      return "";
    }
    return std::get<StateMachineRecord>(r).arn;
  }
  ExecutionRecord start(const std::string& machine, const std::string& name,
                        const std::string& input) {
    auto r = engine_->start_execution({machine, name, input, ""});
    if (auto* e = std::get_if<ApiError>(&r)) {
      ADD_FAILURE() << e->type << ": " << e->message;
      return {};
    }
    return std::get<ExecutionRecord>(r);
  }
  ExecutionRecord wait(const std::string& arn) {
    auto r = engine_->wait_for(arn, 5s);
    EXPECT_TRUE(std::holds_alternative<ExecutionRecord>(r));
    return std::get<ExecutionRecord>(r);
  }
  std::vector<HistoryEvent> history(const std::string& arn) {
    std::vector<HistoryEvent> all;
    PageRequest page;
    page.max_results = 1000;
    for (;;) {
      auto r = engine_->get_history(arn, page, false);
      auto& p = std::get<Page<HistoryEvent>>(r);
      all.insert(all.end(), p.items.begin(), p.items.end());
      if (p.next_token.empty()) return all;
      page.next_token = p.next_token;
    }
  }

  std::unique_ptr<ScratchDatabase> db_;
  FakeClock clock_;
  std::unique_ptr<Engine> engine_;
};

constexpr char kChain[] = R"({"StartAt":"A","States":{
  "A":{"Type":"Pass","Result":1,"ResultPath":"$.a","Next":"B"},
  "B":{"Type":"Pass","Result":2,"ResultPath":"$.b","End":true}}})";

TEST_P(EngineTest, RunsAnExecutionDurablyWithContiguousHistory) {
  open_engine();
  std::string m = create("Chain", kChain);
  ExecutionRecord e = start(m, "run-1", R"({"x":0})");
  EXPECT_EQ(e.arn, "arn:aws:states:local:000000000000:execution:Chain:run-1");
  ExecutionRecord done = wait(e.arn);
  EXPECT_EQ(done.status, "SUCCEEDED");
  ASSERT_TRUE(done.output.has_value());
  EXPECT_EQ(Json::parse(*done.output), Json::parse(R"({"x":0,"a":1,"b":2})"));
  auto events = history(e.arn);
  ASSERT_EQ(events.size(), 6u);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, (long long)i + 1);
  EXPECT_EQ(events.front().type, "ExecutionStarted");
  EXPECT_EQ(events.back().type, "ExecutionSucceeded");
}

TEST_P(EngineTest, StartingAgainIsIdempotentOnlyForTheSameInputWhileRunning) {
  open_engine();
  std::string m = create("Waits", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":60,"End":true}}})");
  ExecutionRecord a = start(m, "same", R"({"k":1})");
  ExecutionRecord b = start(m, "same", R"({"k":1})");
  EXPECT_EQ(a.arn, b.arn);
  EXPECT_EQ(a.start, b.start);
  auto c = engine_->start_execution({m, "same", R"({"k":2})", ""});
  ASSERT_TRUE(std::holds_alternative<ApiError>(c));
  EXPECT_EQ(std::get<ApiError>(c).type, "ExecutionAlreadyExists");
}

TEST_P(EngineTest, WaitStateFiresOnTheDurableTimer) {
  open_engine();
  std::string m = create("W", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":30,"End":true}}})");
  ExecutionRecord e = start(m, "w1", R"({"v":1})");
  engine_->fire_due_timers();
  auto still = engine_->wait_for(e.arn, 100ms);
  EXPECT_EQ(std::get<ExecutionRecord>(still).status, "RUNNING");
  clock_.now += 30'000'000;
  engine_->fire_due_timers();
  EXPECT_EQ(wait(e.arn).status, "SUCCEEDED");
}

TEST_P(EngineTest, TasksGoToTheTransportAndComeBack) {
  ThreadTransport transport([](const TaskDispatch& t) -> asl::Outcome {
    return Json{{"doubled", t.payload["n"].get<int>() * 2}};
  });
  open_engine();
  transport.attach(engine_.get());
  engine_->set_task_transport(&transport);
  std::string m = create("T", R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:lambda:us-east-1:123456789012:function:double","ResultPath":"$.r","End":true}}})");
  ExecutionRecord e = start(m, "t1", R"({"n":21})");
  ExecutionRecord done = wait(e.arn);
  transport.join();
  EXPECT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*done.output), Json::parse(R"({"n":21,"r":{"doubled":42}})"));
  ASSERT_EQ(transport.dispatched().size(), 1u);
  auto again = engine_->complete_task(transport.dispatched()[0].token, Json(1));
  ASSERT_TRUE(std::holds_alternative<ApiError>(again));
  EXPECT_EQ(std::get<ApiError>(again).type, "TaskDoesNotExist");
}

TEST_P(EngineTest, AnExecutionSurvivesARestartAndItsTaskIsOfferedAgain) {
  const std::string def = R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","Next":"W"},
    "W":{"Type":"Wait","Seconds":5,"End":true}}})";
  std::string arn;
  std::string first_token;
  {
    ThreadTransport silent(nullptr);
    open_engine();
    engine_->set_task_transport(&silent);
    std::string m = create("Durable", def);
    arn = start(m, "d1", R"({"keep":"me"})").arn;
    for (int i = 0; i < 100 && silent.dispatched().empty(); ++i) std::this_thread::sleep_for(10ms);
    ASSERT_EQ(silent.dispatched().size(), 1u);
    first_token = silent.dispatched()[0].token;
    engine_.reset();  // the node goes away with the task outstanding
  }
  ThreadTransport transport([](const TaskDispatch&) -> asl::Outcome { return Json("done"); });
  open_engine();
  transport.attach(engine_.get());
  engine_->set_task_transport(&transport);
  for (int i = 0; i < 100 && transport.dispatched().empty(); ++i) std::this_thread::sleep_for(10ms);
  transport.join();
  ASSERT_EQ(transport.dispatched().size(), 1u);
  EXPECT_EQ(transport.dispatched()[0].token, first_token);  // the same task, offered again
  clock_.now += 5'000'000;
  for (int i = 0; i < 100; ++i) {
    engine_->fire_due_timers();
    auto r = engine_->wait_for(arn, 20ms);
    if (std::get<ExecutionRecord>(r).status != "RUNNING") break;
  }
  ExecutionRecord done = wait(arn);
  EXPECT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*done.output), Json("done"));
  auto events = history(arn);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, (long long)i + 1);
}

TEST_P(EngineTest, StopAbortsAndInvalidatesTokens) {
  ThreadTransport silent(nullptr);
  open_engine();
  engine_->set_task_transport(&silent);
  std::string m = create("S", R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})");
  ExecutionRecord e = start(m, "s1", "{}");
  for (int i = 0; i < 100 && silent.dispatched().empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(silent.dispatched().size(), 1u);
  auto stopped = engine_->stop_execution(e.arn, "Halt", "by test");
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(stopped));
  ExecutionRecord after = wait(e.arn);
  EXPECT_EQ(after.status, "ABORTED");
  EXPECT_EQ(after.error, "Halt");
  EXPECT_EQ(after.cause, "by test");
  auto late = engine_->complete_task(silent.dispatched()[0].token, Json(1));
  EXPECT_EQ(std::get<ApiError>(late).type, "TaskDoesNotExist");
}

TEST_P(EngineTest, RejectsBadRequestsWithAwsErrorNames) {
  open_engine();
  auto bad = engine_->create_state_machine({"Bad", R"({"StartAt":"X","States":{}})", "STANDARD", "", "[]"});
  ASSERT_TRUE(std::holds_alternative<ApiError>(bad));
  EXPECT_EQ(std::get<ApiError>(bad).type, "InvalidDefinition");
  EXPECT_FALSE(std::get<ApiError>(bad).diagnostics.empty());
  auto name = engine_->create_state_machine({"has space", kChain, "STANDARD", "", "[]"});
  EXPECT_EQ(std::get<ApiError>(name).type, "InvalidName");
  std::string m = create("Chain", kChain);
  auto twice = engine_->create_state_machine({"Chain", kChain, "STANDARD", "", "[]"});
  EXPECT_EQ(std::get<StateMachineRecord>(twice).arn, m);  // the same machine again is fine
  auto clash = engine_->create_state_machine(
      {"Chain", R"({"StartAt":"A","States":{"A":{"Type":"Succeed"}}})", "STANDARD", "", "[]"});
  EXPECT_EQ(std::get<ApiError>(clash).type, "StateMachineAlreadyExists");
  auto missing = engine_->start_execution({m + "x", "", "{}", ""});
  EXPECT_EQ(std::get<ApiError>(missing).type, "StateMachineDoesNotExist");
  auto input = engine_->start_execution({m, "", "{not json", ""});
  EXPECT_EQ(std::get<ApiError>(input).type, "InvalidExecutionInput");
  auto nothing = engine_->describe_execution(m + ":nope");
  EXPECT_EQ(std::get<ApiError>(nothing).type, "ExecutionDoesNotExist");
}

TEST_P(EngineTest, ListCallsTellABadPageSizeFromABadPageToken) {
  open_engine();
  std::string m = create("Chain", kChain);
  (void)wait(start(m, "e1", "{}").arn);
  PageRequest zero;
  zero.max_results = 0;
  PageRequest huge;
  huge.max_results = 1001;
  PageRequest forged;
  forged.next_token = "not-a-token-of-ours";
  auto type = [](const auto& r) {
    return std::holds_alternative<ApiError>(r) ? std::get<ApiError>(r).type : std::string("ok");
  };
  EXPECT_EQ(type(engine_->list_state_machines(zero)), "ValidationException");
  EXPECT_EQ(type(engine_->list_executions({}, huge)), "ValidationException");
  EXPECT_EQ(type(engine_->list_activities(zero)), "ValidationException");
  EXPECT_EQ(type(engine_->get_history(m, huge, false)), "ValidationException");
  auto bad = engine_->list_activities(huge);
  EXPECT_EQ(std::get<ApiError>(bad).message, "maxResults must be between 1 and 1000, got 1001");
  EXPECT_EQ(type(engine_->list_state_machines(forged)), "InvalidToken");
  EXPECT_EQ(type(engine_->list_executions({}, forged)), "InvalidToken");
  EXPECT_EQ(type(engine_->list_activities(forged)), "InvalidToken");
}

TEST_P(EngineTest, UpdatedMachinesKeepRunningExecutionsOnTheirRevision) {
  open_engine();
  std::string m = create("Rev", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"Next":"P"},
    "P":{"Type":"Pass","Result":"old","End":true}}})");
  ExecutionRecord e = start(m, "r1", "{}");
  auto updated = engine_->update_state_machine(
      m, std::string(R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":"new","End":true}}})"),
      std::nullopt);
  EXPECT_EQ(std::get<StateMachineRecord>(updated).revision_id, "2");
  clock_.now += 10'000'000;
  engine_->fire_due_timers();
  EXPECT_EQ(Json::parse(*wait(e.arn).output), Json("old"));
  ExecutionRecord fresh = start(m, "r2", "{}");
  EXPECT_EQ(Json::parse(*wait(fresh.arn).output), Json("new"));
}

TEST_P(EngineTest, WaitingExecutionsLeaveMemoryAndComeBackForTheirTimerOrAStop) {
  open_engine();
  std::string m = create("Sleepy", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,
    "Next":"P"},"P":{"Type":"Pass","Result":"woke","End":true}}})");
  ExecutionRecord a = start(m, "a", "{}");
  ExecutionRecord b = start(m, "b", "{}");
  for (int i = 0; i < 100 && engine_->stats().resident_executions != 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_EQ(engine_->stats().resident_executions, 0);
  auto stopped = engine_->stop_execution(b.arn, "Enough", "");
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(stopped));
  EXPECT_EQ(wait(b.arn).status, "ABORTED");
  clock_.now += 600'000'000;
  engine_->fire_due_timers();
  ExecutionRecord done = wait(a.arn);
  EXPECT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*done.output), Json("woke"));
}

TEST_P(EngineTest, ExpressExecutionsRunInMemoryAndOnlyTheirEndIsWritten) {
  ThreadTransport silent(nullptr);
  open_engine();
  engine_->set_task_transport(&silent);
  auto created = engine_->create_state_machine({"Quick", R"({"StartAt":"T","States":{"T":{
    "Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
    "ResultPath":"$.r","End":true}}})", "EXPRESS", "", "[]"});
  ASSERT_TRUE(std::holds_alternative<StateMachineRecord>(created));
  ExecutionRecord e = start(std::get<StateMachineRecord>(created).arn, "x1", R"({"a":1})");
  EXPECT_EQ(e.type, "EXPRESS");
  for (int i = 0; i < 100 && silent.dispatched().empty(); ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(silent.dispatched().size(), 1u);
  // Nothing of it is in the store while it runs.
  EXPECT_FALSE(engine_->store().get_execution(e.arn).ok());
  auto frames = engine_->store().load_frames(e.arn);
  EXPECT_TRUE(!frames.ok() || frames->empty());
  ASSERT_TRUE(std::holds_alternative<bool>(
      engine_->complete_task(silent.dispatched()[0].token, Json("ok"))));
  ExecutionRecord done = wait(e.arn);
  EXPECT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*done.output), Json::parse(R"({"a":1,"r":"ok"})"));
  EXPECT_TRUE(history(e.arn).empty());
}

TEST_P(EngineTest, RedriveContinuesFromTheFailedStateKeepingWhatSucceeded) {
  std::atomic<int> first_calls{0};
  std::atomic<int> second_calls{0};
  std::atomic<bool> healthy{false};
  ThreadTransport transport([&](const TaskDispatch& t) -> asl::Outcome {
    if (t.resource.ends_with(":first")) {
      ++first_calls;
      return Json{{"one", 1}};
    }
    ++second_calls;
    if (!healthy) return asl::StatesError{"Down", "not yet"};
    return Json{{"two", 2}};
  });
  open_engine();
  transport.attach(engine_.get());
  engine_->set_task_transport(&transport);
  std::string m = create("Redrive", R"({"StartAt":"Set","States":{
    "Set":{"Type":"Pass","Assign":{"who":"me"},"Next":"First"},
    "First":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:first",
             "ResultPath":"$.first","Next":"Second"},
    "Second":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:second",
              "Parameters":{"who.$":"$who","first.$":"$.first"},"ResultPath":"$.second",
              "End":true}}})");
  ExecutionRecord e = start(m, "r1", R"({"in":0})");
  ExecutionRecord failed = wait(e.arn);
  transport.join();
  ASSERT_EQ(failed.status, "FAILED");
  EXPECT_EQ(failed.error, "Down");

  auto again = engine_->redrive_execution(m + "x");  // not an execution
  EXPECT_EQ(std::get<ApiError>(again).type, "ExecutionDoesNotExist");
  healthy = true;
  auto redriven = engine_->redrive_execution(e.arn);
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(redriven))
      << std::get<ApiError>(redriven).message;
  EXPECT_EQ(std::get<ExecutionRecord>(redriven).status, "RUNNING");
  EXPECT_EQ(std::get<ExecutionRecord>(redriven).redrive_count, 1);
  ExecutionRecord done = wait(e.arn);
  transport.join();
  EXPECT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(done.redrive_count, 1);
  EXPECT_EQ(Json::parse(*done.output),
            Json::parse(R"({"in":0,"first":{"one":1},"second":{"two":2}})"));
  EXPECT_EQ(first_calls.load(), 1);   // what succeeded is not run again
  EXPECT_EQ(second_calls.load(), 2);
  auto events = history(e.arn);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, (long long)i + 1);
  int redriven_events = 0;
  for (const auto& ev : events) redriven_events += ev.type == "ExecutionRedriven";
  EXPECT_EQ(redriven_events, 1);
  auto twice = engine_->redrive_execution(e.arn);
  EXPECT_EQ(std::get<ApiError>(twice).type, "ExecutionNotRedrivable");
}

// Waits until the transport was handed at least n tasks; returns them.
std::vector<TaskDispatch> dispatched_at_least(ThreadTransport& t, std::size_t n) {
  for (int i = 0; i < 500; ++i) {
    auto d = t.dispatched();
    if (d.size() >= n) return d;
    std::this_thread::sleep_for(10ms);
  }
  return t.dispatched();
}

// AWS: redriving an execution that failed in a Map state runs again only the iterations that
// did not succeed (the failed one, and the one stopped when the Map failed); the others keep
// their outputs and are not dispatched again.
TEST_P(EngineTest, RedriveOfAFailedMapRunsOnlyTheIterationsThatDidNotSucceed) {
  ThreadTransport transport(nullptr);  // the test completes every task itself
  open_engine();
  transport.attach(engine_.get());
  engine_->set_task_transport(&transport);
  std::string m = create("MapRedrive", R"({"StartAt":"Fan","States":{
    "Fan":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"Work","States":{
      "Work":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:work",
              "End":true}}},"End":true}}})");
  ExecutionRecord e = start(m, "m1", R"({"items":[0,1,2,3,4]})");
  auto first = dispatched_at_least(transport, 5);
  ASSERT_EQ(first.size(), 5u);
  auto token_of = [](const std::vector<TaskDispatch>& ds, long long item) {
    for (const auto& d : ds) {
      if (d.payload == Json(item)) return d.token;
    }
    return std::string();
  };
  for (long long i : {0, 1, 3}) {
    ASSERT_TRUE(std::holds_alternative<bool>(
        engine_->complete_task(token_of(first, i), Json{{"done", i}})));
  }
  ASSERT_TRUE(std::holds_alternative<bool>(
      engine_->complete_task(token_of(first, 2), asl::StatesError{"Broken", "item 2"})));
  ExecutionRecord failed = wait(e.arn);
  ASSERT_EQ(failed.status, "FAILED");
  EXPECT_EQ(failed.error, "Broken");
  // Item 4 was stopped when the Map failed: its late answer is refused.
  EXPECT_TRUE(std::holds_alternative<ApiError>(
      engine_->complete_task(token_of(first, 4), Json{{"done", 4}})));

  auto redriven = engine_->redrive_execution(e.arn);
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(redriven))
      << std::get<ApiError>(redriven).message;
  auto all = dispatched_at_least(transport, 7);
  ASSERT_EQ(all.size(), 7u);
  std::vector<TaskDispatch> again(all.begin() + 5, all.end());
  std::set<std::string> items_again;
  for (const auto& d : again) items_again.insert(d.payload.dump());
  EXPECT_EQ(items_again, (std::set<std::string>{"2", "4"}));
  for (long long i : {2, 4}) {
    ASSERT_TRUE(std::holds_alternative<bool>(
        engine_->complete_task(token_of(again, i), Json{{"again", i}})));
  }
  ExecutionRecord done = wait(e.arn);
  ASSERT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*done.output), Json::parse(R"([{"done":0},{"done":1},{"again":2},
                                                       {"done":3},{"again":4}])"));
  auto events = history(e.arn);
  for (std::size_t i = 0; i < events.size(); ++i) EXPECT_EQ(events[i].id, (long long)i + 1);
  int iterations_started = 0;
  for (const auto& ev : events) iterations_started += ev.type == "MapIterationStarted";
  EXPECT_EQ(iterations_started, 7);  // 5, then 2 again
}

// The same for Parallel, and it holds across a restart of the engine in the middle of the
// redriven run (the outputs kept from before are durable).
TEST_P(EngineTest, RedriveOfAFailedParallelRunsOnlyTheFailedBranchAcrossARestart) {
  auto transport = std::make_unique<ThreadTransport>(nullptr);
  open_engine();
  transport->attach(engine_.get());
  engine_->set_task_transport(transport.get());
  auto branch = [](const std::string& name) {
    return R"({"StartAt":"T)" + name + R"(","States":{"T)" + name +
           R"(":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:)" +
           name + R"(","End":true}}})";
  };
  std::string m = create("ParRedrive", R"({"StartAt":"P","States":{"P":{"Type":"Parallel",
    "Branches":[)" + branch("a") + "," + branch("b") + "," + branch("c") + R"(],"End":true}}})");
  ExecutionRecord e = start(m, "p1", R"({"v":1})");
  auto first = dispatched_at_least(*transport, 3);
  ASSERT_EQ(first.size(), 3u);
  auto token_for = [](const std::vector<TaskDispatch>& ds, const std::string& fn) {
    for (const auto& d : ds) {
      if (d.resource.ends_with(":" + fn)) return d.token;
    }
    return std::string();
  };
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(token_for(first, "a"), Json("A"))));
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(token_for(first, "c"), Json("C"))));
  ASSERT_TRUE(std::holds_alternative<bool>(
      engine_->complete_task(token_for(first, "b"), asl::StatesError{"Broken", "b"})));
  ASSERT_EQ(wait(e.arn).status, "FAILED");

  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(engine_->redrive_execution(e.arn)));
  auto all = dispatched_at_least(*transport, 4);
  ASSERT_EQ(all.size(), 4u);
  EXPECT_TRUE(all[3].resource.ends_with(":b"));
  // Restart: the redriven execution is restored with branches a and c done.
  engine_.reset();
  transport = std::make_unique<ThreadTransport>(nullptr);
  open_engine();
  transport->attach(engine_.get());
  engine_->set_task_transport(transport.get());
  auto after = dispatched_at_least(*transport, 1);
  ASSERT_EQ(after.size(), 1u);  // only b's task is outstanding
  EXPECT_TRUE(after[0].resource.ends_with(":b"));
  ASSERT_TRUE(std::holds_alternative<bool>(engine_->complete_task(after[0].token, Json("B"))));
  ExecutionRecord done = wait(e.arn);
  ASSERT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(*done.output), Json::parse(R"(["A","B","C"])"));
}

INSTANTIATE_TEST_SUITE_P(Stores, EngineTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace stepd::engine
