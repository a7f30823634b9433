// The ActivityQueue when a worker goes away: a withdrawn poll takes no task, and a task whose
// answer could not be delivered (Handoff::OnDelivery, returned()) goes back to the front of its
// activity's queue, never started. Over a real engine on SQLite with the real Dispatcher, so
// that ActivityStarted is read from the execution's history.
#include "engine/dispatch/activity_queue.hpp"

#include "engine/dispatch/dispatcher.hpp"
#include "sqlite_engine_fixture.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Handoff = ActivityQueue::Handoff;
using dispatch_testing::activity_machine;
using dispatch_testing::kActivity;

// A poll's answer, kept for the test: the task (or nullopt), how often `done` was called and on
// which thread. The reply holds the shared state, so a poll answered late (at the fixture's
// shutdown, after a failed assertion) touches nothing freed.
struct Answer {
  struct State {
    std::promise<std::optional<ActivityTask>> promise;
    std::atomic<int> calls{0};
    std::thread::id thread;
  };
  std::shared_ptr<State> state = std::make_shared<State>();
  std::future<std::optional<ActivityTask>> future = state->promise.get_future();

  ActivityQueue::PollReply reply() {
    return [s = state](std::optional<ActivityTask> t) {
      if (s->calls.fetch_add(1) == 0) {
        s->thread = std::this_thread::get_id();
        s->promise.set_value(std::move(t));
      }
    };
  }
  bool ready(std::chrono::milliseconds within = 0ms) {
    return future.wait_for(within) == std::future_status::ready;
  }
  int calls() const { return state->calls.load(); }
};

class ActivityQueueCancelTest : public dispatch_testing::SqliteEngineTest {
 protected:
  void SetUp() override {
    SqliteEngineTest::SetUp();
    open(EngineOptions{});
    machine_ = machine("Work", activity_machine());
    ASSERT_FALSE(machine_.empty());
  }

  ActivityQueue& queue() { return dispatcher_->activities(); }

  // Starts an execution of the machine on {"i": i}.
  std::string start(int i) {
    return SqliteEngineTest::start(machine_, "{\"i\":" + std::to_string(i) + "}");
  }

  // Waits until `n` tasks are queued (the engine dispatches after its commit).
  void wait_queued(std::size_t n) {
    const auto deadline = Clock::now() + 5s;
    while (queue().queued() < n && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
    ASSERT_EQ(queue().queued(), n);
  }

  // The workerName of every ActivityStarted in the execution's history, in order.
  std::vector<std::string> started_by(const std::string& arn) {
    std::vector<std::string> out;
    for (const HistoryEvent& e : history(arn)) {
      if (e.type == "ActivityStarted") {
        out.push_back(Json::parse(e.details).value("workerName", std::string("(none)")));
      }
    }
    return out;
  }

  // The execution's ActivityStarted workers once there are `n` (or what there is after 5 s).
  std::vector<std::string> wait_started(const std::string& arn, std::size_t n) {
    const auto deadline = Clock::now() + 5s;
    auto got = started_by(arn);
    while (got.size() < n && Clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
      got = started_by(arn);
    }
    return got;
  }

  // Makes sure every command the engine was given so far is committed: one more execution
  // through to its queued task (the engine works in order).
  void settle_engine(int i) {
    const std::size_t before = queue().queued();
    start(i);
    wait_queued(before + 1);
  }

  std::string machine_;
};

TEST_F(ActivityQueueCancelTest, AWithdrawnPollEndsEmptyAtOnceAndTakesNoTask) {
  Answer gone;
  const auto id = queue().poll(kActivity, "gone-worker", 30s, gone.reply());
  ASSERT_NE(id, 0u);
  EXPECT_EQ(queue().waiting_polls(), 1u);
  EXPECT_FALSE(gone.ready(50ms));

  EXPECT_TRUE(queue().withdraw(id));
  ASSERT_TRUE(gone.ready()) << "withdraw() answers the poll at once";
  EXPECT_FALSE(gone.future.get().has_value());
  EXPECT_EQ(gone.state->thread, std::this_thread::get_id());
  EXPECT_EQ(queue().waiting_polls(), 0u);
  EXPECT_FALSE(queue().withdraw(id)) << "a poll is withdrawn once";
  EXPECT_FALSE(queue().withdraw(0));
  EXPECT_FALSE(queue().withdraw(id + 1000));

  // The task that comes next stays queued for the next poll instead of going to nobody.
  const std::string arn = start(1);
  wait_queued(1);
  Answer next;
  EXPECT_EQ(queue().poll(kActivity, "live-worker", 5s, next.reply()), 0u)
      << "a poll that finds a task queued is answered before poll() returns";
  ASSERT_TRUE(next.ready());
  auto task = next.future.get();
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(Json::parse(task->input), Json::parse(R"({"i":1})"));
  EXPECT_EQ(gone.calls(), 1);
  EXPECT_EQ(wait_started(arn, 1), std::vector<std::string>{"live-worker"});
}

TEST_F(ActivityQueueCancelTest, WithdrawingAPollAlreadyAnsweredChangesNothing) {
  Answer got;
  const auto id = queue().poll(kActivity, "w", 10s, got.reply());
  ASSERT_NE(id, 0u);
  const std::string arn = start(1);
  ASSERT_TRUE(got.ready(5s));
  EXPECT_FALSE(queue().withdraw(id));
  EXPECT_EQ(got.calls(), 1);
  EXPECT_TRUE(got.future.get().has_value());
  EXPECT_EQ(wait_started(arn, 1), std::vector<std::string>{"w"});
}

TEST_F(ActivityQueueCancelTest, OnlyTheWithdrawnPollOfSeveralLeaves) {
  Answer first;
  Answer second;
  const auto a = queue().poll(kActivity, "first", 10s, first.reply());
  const auto b = queue().poll(kActivity, "second", 10s, second.reply());
  ASSERT_NE(a, b);
  EXPECT_TRUE(queue().withdraw(a));
  EXPECT_EQ(queue().waiting_polls(), 1u);
  const std::string arn = start(1);
  ASSERT_TRUE(second.ready(5s));
  EXPECT_TRUE(second.future.get().has_value());
  EXPECT_FALSE(first.future.get().has_value());
  EXPECT_EQ(wait_started(arn, 1), std::vector<std::string>{"second"});
}

TEST_F(ActivityQueueCancelTest, AReturnedTaskGoesToTheNextPollAheadOfNewerTasksNeverStarted) {
  const std::string a0 = start(0);
  wait_queued(1);
  const std::string a1 = start(1);
  wait_queued(2);

  // A worker takes the oldest task, but its answer never reaches it.
  Answer lost;
  EXPECT_EQ(queue().poll(kActivity, "lost-worker", 1s, lost.reply(), Handoff::OnDelivery), 0u);
  auto taken = lost.future.get();
  ASSERT_TRUE(taken.has_value());
  EXPECT_EQ(Json::parse(taken->input), Json::parse(R"({"i":0})"));
  EXPECT_EQ(queue().in_transit(), 1u);
  EXPECT_EQ(queue().queued(), 1u);

  queue().returned(taken->token);
  EXPECT_EQ(queue().in_transit(), 0u);
  EXPECT_EQ(queue().queued(), 2u);
  queue().returned(taken->token);  // settled already: nothing
  queue().delivered(taken->token);
  EXPECT_EQ(queue().queued(), 2u);

  // The next poll gets that task again, before the newer one.
  Answer next;
  queue().poll(kActivity, "next-worker", 1s, next.reply(), Handoff::OnDelivery);
  auto again = next.future.get();
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->token, taken->token);
  EXPECT_EQ(again->input, taken->input);
  queue().delivered(again->token);
  EXPECT_EQ(queue().in_transit(), 0u);

  Answer third;
  queue().poll(kActivity, "third-worker", 1s, third.reply());
  auto newer = third.future.get();
  ASSERT_TRUE(newer.has_value());
  EXPECT_EQ(Json::parse(newer->input), Json::parse(R"({"i":1})"));

  // ActivityStarted names only the workers that got their task.
  EXPECT_EQ(wait_started(a0, 1), std::vector<std::string>{"next-worker"});
  EXPECT_EQ(wait_started(a1, 1), std::vector<std::string>{"third-worker"});
  settle_engine(9);
  EXPECT_EQ(started_by(a0), std::vector<std::string>{"next-worker"});
}

TEST_F(ActivityQueueCancelTest, AReturnedTaskGoesToTheOldestWaitingPoll) {
  Answer lost;
  ASSERT_NE(queue().poll(kActivity, "lost-worker", 10s, lost.reply(), Handoff::OnDelivery), 0u);
  const std::string arn = start(1);
  ASSERT_TRUE(lost.ready(5s));
  auto taken = lost.future.get();
  ASSERT_TRUE(taken.has_value());

  Answer waiting;
  Answer behind;
  ASSERT_NE(queue().poll(kActivity, "waiting-worker", 10s, waiting.reply()), 0u);
  const auto behind_id = queue().poll(kActivity, "behind-worker", 10s, behind.reply());
  ASSERT_NE(behind_id, 0u);
  EXPECT_FALSE(waiting.ready(50ms));
  const auto returned_at = Clock::now();
  queue().returned(taken->token);
  ASSERT_TRUE(waiting.ready()) << "the waiting poll is answered by returned() itself";
  EXPECT_LT(Clock::now() - returned_at, 100ms);
  auto got = waiting.future.get();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->token, taken->token);
  EXPECT_FALSE(behind.ready());
  EXPECT_EQ(queue().waiting_polls(), 1u);
  EXPECT_EQ(queue().queued(), 0u);
  EXPECT_EQ(wait_started(arn, 1), std::vector<std::string>{"waiting-worker"});
  EXPECT_TRUE(queue().withdraw(behind_id));  // `behind` is answered before it goes
}

TEST_F(ActivityQueueCancelTest, ADeliveredTaskIsStartedOnlyThenAndOnce) {
  Answer got;
  queue().poll(kActivity, "slow-ack", 10s, got.reply(), Handoff::OnDelivery);
  const std::string arn = start(1);
  ASSERT_TRUE(got.ready(5s));
  auto task = got.future.get();
  ASSERT_TRUE(task.has_value());
  settle_engine(2);
  EXPECT_TRUE(started_by(arn).empty()) << "started before the answer was delivered";
  queue().delivered(task->token);
  EXPECT_EQ(wait_started(arn, 1), std::vector<std::string>{"slow-ack"});
  queue().delivered(task->token);
  queue().returned(task->token);    // delivered already: not queued again
  EXPECT_EQ(queue().queued(), 1u);  // only execution 2's task
  settle_engine(3);
  EXPECT_EQ(started_by(arn), std::vector<std::string>{"slow-ack"});
}

TEST_F(ActivityQueueCancelTest, ATaskCancelledInTransitIsNotQueuedAgain) {
  Answer got;
  queue().poll(kActivity, "w", 10s, got.reply(), Handoff::OnDelivery);
  const std::string arn = start(1);
  ASSERT_TRUE(got.ready(5s));
  auto task = got.future.get();
  ASSERT_TRUE(task.has_value());
  auto stopped = engine_->stop_execution(arn, "Gone", "stopped while in transit");
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(stopped));
  const auto deadline = Clock::now() + 5s;
  while (queue().in_transit() > 0 && Clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_EQ(queue().in_transit(), 0u) << "the engine's cancel ends the transit";
  queue().returned(task->token);
  EXPECT_EQ(queue().queued(), 0u);
}

TEST_F(ActivityQueueCancelTest, AfterShutdownAReturnedTaskIsDroppedNotStarted) {
  Answer got;
  queue().poll(kActivity, "w", 10s, got.reply(), Handoff::OnDelivery);
  const std::string arn = start(1);
  ASSERT_TRUE(got.ready(5s));
  auto task = got.future.get();
  ASSERT_TRUE(task.has_value());
  queue().shutdown();
  queue().returned(task->token);
  EXPECT_EQ(queue().queued(), 0u);
  EXPECT_EQ(queue().in_transit(), 0u);
  Answer late;
  EXPECT_EQ(queue().poll(kActivity, "late", 10s, late.reply()), 0u);
  ASSERT_TRUE(late.ready());
  EXPECT_FALSE(late.future.get().has_value());
  EXPECT_TRUE(started_by(arn).empty());
}

}  // namespace
}  // namespace stepd::engine
