// Two nodes (two engines with their dispatchers) on one PostgreSQL schema: a task scheduled on
// one node is polled, heart-beaten and completed through the other. Needs STEPD_TEST_PG_URL.
#include "engine/dispatch/dispatcher.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace stepd::engine {
namespace {

using asl::Json;
using namespace std::chrono_literals;

constexpr const char* kActivity = "arn:aws:states:local:000000000000:activity:shared";

struct Node {
  std::unique_ptr<Engine> engine;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<Dispatcher> dispatcher;

  ~Node() {
    if (!engine) return;
    dispatcher->shutdown();
    engine->shutdown();
    engine->set_task_transport(nullptr);
  }

  std::optional<ActivityTask> poll(
      const std::string& worker, std::chrono::milliseconds wait,
      ActivityQueue::Handoff handoff = ActivityQueue::Handoff::AtOnce) {
    std::promise<std::optional<ActivityTask>> got;
    dispatcher->activities().poll(
        kActivity, worker, wait, [&](std::optional<ActivityTask> t) { got.set_value(t); },
        handoff);
    return got.get_future().get();
  }
};

class ClusterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = std::getenv("STEPD_TEST_PG_URL");
    if (base == nullptr || *base == '\0') {
      GTEST_SKIP() << "STEPD_TEST_PG_URL is not set: start a server with scripts/postgres.sh";
    }
    const std::string sep = std::string(base).find('?') == std::string::npos ? "?" : "&";
    static int counter = 0;
    url_ = std::string(base) + sep + "schema=cluster_" + std::to_string(::getpid()) + "_" +
           std::to_string(++counter);
    a_ = open_node("node-a");
    ASSERT_NE(a_, nullptr);
    b_ = open_node("node-b");
    ASSERT_NE(b_, nullptr);
  }

  std::unique_ptr<Node> open_node(const std::string& id) {
    auto store = open_store(url_);
    if (!store.ok()) {
      ADD_FAILURE() << store.error().message;
      return nullptr;
    }
    EngineOptions options;
    options.node_id = id;
    options.partitions = 8;
    options.max_partitions = 4;  // the two nodes split the partitions
    options.task_messages_interval = 20'000;
    auto node = std::make_unique<Node>();
    node->engine = std::make_unique<Engine>(std::move(*store), options);
    Status s = node->engine->start();
    if (!s.ok()) {
      ADD_FAILURE() << s.error().message;
      return nullptr;
    }
    node->registry = std::make_unique<Registry>(node->engine->store());
    DispatcherOptions d;
    d.activities.remote_after = 0ms;
    d.activities.remote_interval = 20ms;
    node->dispatcher = std::make_unique<Dispatcher>(*node->engine, *node->registry, d);
    node->engine->set_task_transport(node->dispatcher.get());
    return node;
  }

  std::string url_;
  std::unique_ptr<Node> a_;
  std::unique_ptr<Node> b_;
};

TEST_F(ClusterTest, TaskScheduledOnOneNodeIsPolledAndCompletedOnTheOther) {
  ASSERT_EQ(a_->engine->stats().partitions_held, 4);
  ASSERT_EQ(b_->engine->stats().partitions_held, 4);
  CreateMachineRequest m;
  m.name = "Shared";
  m.definition = R"({"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":")" +
                 std::string(kActivity) + R"(","HeartbeatSeconds":5,"End":true}}})";
  auto machine = a_->engine->create_state_machine(m);
  ASSERT_TRUE(std::holds_alternative<StateMachineRecord>(machine));
  StartRequest r;
  r.machine_arn = std::get<StateMachineRecord>(machine).arn;
  r.input = R"({"from":"a"})";
  auto started = a_->engine->start_execution(r);
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(started));
  const std::string arn = std::get<ExecutionRecord>(started).arn;

  // Node B has nothing queued: it finds node A's task in the store.
  auto t = b_->poll("worker-on-b", 3s);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(Json::parse(t->input), Json::parse(r.input));
  // Handed out once: node A no longer offers it.
  std::this_thread::sleep_for(100ms);
  EXPECT_FALSE(a_->poll("worker-on-a", 200ms).has_value());

  ASSERT_TRUE(std::holds_alternative<bool>(b_->engine->heartbeat_task(t->token)));
  auto done = b_->engine->complete_task(t->token, Json{{"by", "b"}});
  ASSERT_TRUE(std::holds_alternative<bool>(done)) << std::get<ApiError>(done).message;
  // A second outcome through either node is refused.
  auto again = b_->engine->complete_task(t->token, Json{{"by", "b2"}});
  ASSERT_TRUE(std::holds_alternative<ApiError>(again));
  EXPECT_EQ(std::get<ApiError>(again).type, "TaskDoesNotExist");

  auto end = a_->engine->wait_for(arn, 5s);
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(end));
  const ExecutionRecord& e = std::get<ExecutionRecord>(end);
  EXPECT_EQ(e.status, "SUCCEEDED");
  EXPECT_EQ(Json::parse(e.output.value_or("null")), Json::parse(R"({"by":"b"})"));
  PageRequest page;
  page.max_results = 100;
  auto h = std::get<Page<HistoryEvent>>(a_->engine->get_history(arn, page, false)).items;
  std::vector<std::string> types;
  for (const HistoryEvent& ev : h) types.push_back(ev.type);
  std::vector<std::string> want = {"ExecutionStarted",  "TaskStateEntered",  "ActivityScheduled",
                                   "ActivityStarted",   "ActivitySucceeded", "TaskStateExited",
                                   "ExecutionSucceeded"};
  EXPECT_EQ(types, want);
  EXPECT_EQ(Json::parse(h[3].details)["workerName"], "worker-on-b");
}

// A poll that waits for its answer to be written (Handoff::OnDelivery, as GetActivityTask does)
// claims another node's task in the store; the answer never reaches its worker (returned()): the
// row is SCHEDULED again, so a later poll claims it, and only the worker it reached is recorded.
TEST_F(ClusterTest, AClaimedTaskThatNeverReachedItsWorkerIsGivenBack) {
  CreateMachineRequest m;
  m.name = "GivenBack";
  m.definition = R"({"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":")" +
                 std::string(kActivity) + R"(","End":true}}})";
  auto machine = a_->engine->create_state_machine(m);
  ASSERT_TRUE(std::holds_alternative<StateMachineRecord>(machine));
  StartRequest r;
  r.machine_arn = std::get<StateMachineRecord>(machine).arn;
  r.input = R"({"n":1})";
  auto started = a_->engine->start_execution(r);
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(started));
  const std::string arn = std::get<ExecutionRecord>(started).arn;
  Store& store = a_->engine->store();

  auto lost = b_->poll("lost-worker", 3s, ActivityQueue::Handoff::OnDelivery);
  ASSERT_TRUE(lost.has_value());
  EXPECT_EQ(b_->dispatcher->activities().in_transit(), 1u);
  auto row = store.get_task(lost->token);
  ASSERT_TRUE(row.ok()) << row.error().message;
  EXPECT_EQ(row->status, "STARTED");
  EXPECT_EQ(row->worker_name, "lost-worker");

  b_->dispatcher->activities().returned(lost->token);
  EXPECT_EQ(b_->dispatcher->activities().in_transit(), 0u);
  row = store.get_task(lost->token);
  ASSERT_TRUE(row.ok()) << row.error().message;
  EXPECT_EQ(row->status, "SCHEDULED") << "the claim was not given back";
  EXPECT_EQ(row->worker_name, "");
  // Giving back twice, or a claim that is not this worker's, changes nothing.
  auto again = store.release_activity_task(lost->token, "lost-worker");
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);

  // Node B has nothing queued: only the released row lets its next poll find the task.
  auto found = b_->poll("second-worker", 3s, ActivityQueue::Handoff::OnDelivery);
  ASSERT_TRUE(found.has_value()) << "the given-back task was not found again";
  EXPECT_EQ(found->token, lost->token);
  b_->dispatcher->activities().delivered(found->token);
  ASSERT_TRUE(std::holds_alternative<bool>(b_->engine->complete_task(found->token, Json{{"ok", 1}})));

  auto end = a_->engine->wait_for(arn, 5s);
  ASSERT_TRUE(std::holds_alternative<ExecutionRecord>(end));
  EXPECT_EQ(std::get<ExecutionRecord>(end).status, "SUCCEEDED");
  PageRequest page;
  page.max_results = 100;
  auto h = std::get<Page<HistoryEvent>>(a_->engine->get_history(arn, page, false)).items;
  std::vector<std::string> workers;
  for (const HistoryEvent& ev : h) {
    if (ev.type == "ActivityStarted") {
      workers.push_back(Json::parse(ev.details).value("workerName", ""));
    }
  }
  EXPECT_EQ(workers, std::vector<std::string>{"second-worker"});
}

}  // namespace
}  // namespace stepd::engine
