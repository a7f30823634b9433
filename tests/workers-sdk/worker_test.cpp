// stepd::worker::Worker against a real `stepd`: tasks in flight, automatic heartbeats, handler
// exceptions as failures, back-off and reconnection when the server is away, stopping with tasks
// held (in process, and a worker process sent SIGTERM). These need the server's activity
// operations: until it has them, the tests fail in SetUp saying so.
#include "stepd/worker/worker.hpp"

#include "tests/server/process/stepd_process.hpp"
#include "tests/workers-sdk/sdk_test_support.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

namespace sdkworkertest {
struct OutOfStock : std::runtime_error {
  using std::runtime_error::runtime_error;
};
}  // namespace sdkworkertest

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using worker::Client;
using worker::Error;
using worker::Task;
using worker::Worker;
using worker::WorkerOptions;

#ifdef STEPD_SDK_TEST_WORKER
constexpr const char *kTestWorker = STEPD_SDK_TEST_WORKER;
#else
constexpr const char *kTestWorker = "stepd_sdk_test_worker";
#endif

json task_state(const std::string &activity_arn, json extra = json::object()) {
  json state = {{"Type", "Task"}, {"Resource", activity_arn}, {"End", true}};
  state.update(extra);
  return state;
}

std::string one_task_machine(const std::string &activity_arn, json extra = json::object()) {
  return json{{"StartAt", "Work"}, {"States", {{"Work", task_state(activity_arn, extra)}}}}.dump();
}

WorkerOptions quick_options(const std::string &activity_arn, int in_flight = 1) {
  WorkerOptions o;
  o.activity_arns = {activity_arn};
  o.worker_name = "sdk-test";
  o.max_in_flight = in_flight;
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  o.log = {};
  return o;
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override { start_server({}); }

  void start_server(StepdOptions o) {
    ASSERT_TRUE(stepd_.start(o)) << stepd_.log();
    endpoint_ = "http://127.0.0.1:" + std::to_string(stepd_.port());
    client_ = std::make_unique<Client>(worker::ClientOptions{.endpoint = endpoint_});
    try {
      activity_ = client_->create_activity("work").activity_arn;
    } catch (const Error &e) {
      FAIL() << "waits on the server: CreateActivity is not served yet (" << e.what() << ")";
    }
  }

  std::string machine(const std::string &name, const std::string &definition) {
    return client_->create_state_machine({.name = name, .definition = definition})
        .state_machine_arn;
  }

  worker::ExecutionDescription wait_end(const std::string &arn,
                                        std::chrono::milliseconds timeout = 30s) {
    worker::ExecutionDescription d;
    wait_for(
        [&] {
          d = client_->describe_execution(arn);
          return d.status != "RUNNING";
        },
        timeout);
    return d;
  }

  StepdProcess stepd_;
  std::string endpoint_;
  std::unique_ptr<Client> client_;
  std::string activity_;
};

TEST_F(WorkerTest, ProcessesExecutionsWithTasksInFlight) {
  const std::string m = machine("Many", one_task_machine(activity_));
  std::atomic<int> running{0};
  std::atomic<int> most{0};
  std::mutex mu;
  std::set<std::string> workers;
  Worker worker({.endpoint = endpoint_}, quick_options(activity_, 4), [&](const Task &task) {
    const int now = ++running;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    {
      std::lock_guard lock(mu);
      workers.insert(task.worker_name());
    }
    EXPECT_EQ(task.activity_arn(), activity_);
    std::this_thread::sleep_for(300ms);
    --running;
    return json{{"doubled", task.input().at("n").get<int>() * 2}};
  });
  worker.start();
  std::vector<std::string> runs;
  for (int i = 0; i < 12; ++i) {
    runs.push_back(
        client_->start_execution({.state_machine_arn = m, .input = {{"n", i}}}).execution_arn);
  }
  for (int i = 0; i < 12; ++i) {
    const auto d = wait_end(runs[i]);
    EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
    ASSERT_TRUE(d.output.has_value());
    EXPECT_EQ(*d.output, (json{{"doubled", i * 2}}));
  }
  EXPECT_EQ(most.load(), 4) << "four tasks held at once, never more";
  worker.stop();
  worker.wait();
  const auto stats = worker.stats();
  EXPECT_EQ(stats.tasks, 12u);
  EXPECT_EQ(stats.succeeded, 12u);
  EXPECT_EQ(stats.failed, 0u);
  EXPECT_EQ(stats.in_flight, 0);
  EXPECT_EQ(workers, (std::set<std::string>{"sdk-test"}));
}

TEST_F(WorkerTest, HeartbeatsKeepALongTaskAlive) {
  const std::string m = machine("Beats", one_task_machine(activity_, {{"HeartbeatSeconds", 1}}));
  WorkerOptions o = quick_options(activity_);
  o.heartbeat_interval = 250ms;
  Worker worker({.endpoint = endpoint_}, o, [](const Task &) {
    std::this_thread::sleep_for(2500ms);
    return json{{"slow", "but alive"}};
  });
  worker.start();
  const auto run = client_->start_execution({.state_machine_arn = m});
  const auto d = wait_end(run.execution_arn);
  EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  worker.stop();
  worker.wait();
  EXPECT_GE(worker.stats().heartbeats, 5u);
}

TEST_F(WorkerTest, WithoutHeartbeatsTheTaskTimesOutAndIsAbandoned) {
  const std::string m = machine("NoBeats", one_task_machine(activity_, {{"HeartbeatSeconds", 1}}));
  WorkerOptions o = quick_options(activity_);
  o.heartbeat_interval = 0ms;
  Worker worker({.endpoint = endpoint_}, o, [](const Task &) {
    std::this_thread::sleep_for(2500ms);
    return json{{"too", "late"}};
  });
  worker.start();
  const auto run = client_->start_execution({.state_machine_arn = m});
  const auto d = wait_end(run.execution_arn);
  EXPECT_EQ(d.status, "FAILED");
  EXPECT_EQ(d.error, "States.HeartbeatTimeout");  // AWS: a missed heartbeat
  ASSERT_TRUE(wait_for([&] { return worker.stats().abandoned == 1; }, 10s));
  worker.stop();
  worker.wait();
  EXPECT_EQ(worker.stats().succeeded, 0u);
}

TEST_F(WorkerTest, ManualHeartbeatsAndAbandonment) {
  const std::string m = machine("Manual", one_task_machine(activity_, {{"HeartbeatSeconds", 1}}));
  WorkerOptions o = quick_options(activity_);
  o.heartbeat_interval = 0ms;
  std::atomic<bool> saw_abandoned{false};
  Worker worker({.endpoint = endpoint_}, o, [&](const Task &task) {
    for (int i = 0; i < 8; ++i) {  // 2 s of work, a heartbeat every 250 ms
      std::this_thread::sleep_for(250ms);
      task.heartbeat();
    }
    if (task.input().value("stall", false)) {
      std::this_thread::sleep_for(2500ms);
      try {
        task.heartbeat();
      } catch (const Error &e) {
        EXPECT_EQ(e.code(), "TaskTimedOut");
      }
      saw_abandoned = task.abandoned();
    }
    return json{{"beats", 8}};
  });
  worker.start();
  const auto ok = client_->start_execution({.state_machine_arn = m});
  EXPECT_EQ(wait_end(ok.execution_arn).status, "SUCCEEDED");
  const auto stalled =
      client_->start_execution({.state_machine_arn = m, .input = {{"stall", true}}});
  const auto d = wait_end(stalled.execution_arn);
  EXPECT_EQ(d.status, "FAILED");
  EXPECT_EQ(d.error, "States.HeartbeatTimeout");  // AWS: a missed heartbeat
  ASSERT_TRUE(wait_for([&] { return saw_abandoned.load(); }, 10s));
  worker.stop();
  worker.wait();
}

TEST_F(WorkerTest, AnExceptionFailsTheTaskWithItsTypeName) {
  const json definition = {
      {"StartAt", "Work"},
      {"States",
       {{"Work", task_state(activity_, {{"Catch",
                                         {{{"ErrorEquals", {"sdkworkertest::OutOfStock"}},
                                           {"ResultPath", "$.caught"},
                                           {"Next", "Caught"}}}}})},
        {"Caught", {{"Type", "Pass"}, {"End", true}}}}}};
  const std::string m = machine("Throws", definition.dump());
  Worker worker({.endpoint = endpoint_}, quick_options(activity_, 2), [](const Task &task) -> json {
    const std::string kind = task.input().at("kind");
    if (kind == "runtime") throw std::runtime_error("disk full");
    if (kind == "custom") throw sdkworkertest::OutOfStock("no more blue shirts");
    if (kind == "chosen") throw worker::TaskFailure("Order.Invalid", "quantity must be positive");
    if (kind == "int") throw 42;
    return json{{"ok", true}};
  });
  worker.start();
  auto run = [&](const std::string &kind) {
    return wait_end(client_->start_execution({.state_machine_arn = m, .input = {{"kind", kind}}})
                        .execution_arn);
  };
  auto d = run("runtime");
  EXPECT_EQ(d.status, "FAILED");
  EXPECT_EQ(d.error, "std::runtime_error");
  EXPECT_EQ(d.cause, "disk full");

  d = run("chosen");
  EXPECT_EQ(d.status, "FAILED");
  EXPECT_EQ(d.error, "Order.Invalid");
  EXPECT_EQ(d.cause, "quantity must be positive");

  d = run("int");
  EXPECT_EQ(d.status, "FAILED");
  EXPECT_EQ(d.error, "int");

  // The user's type name is what Catch matches.
  d = run("custom");
  EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  ASSERT_TRUE(d.output.has_value());
  EXPECT_EQ(d.output->at("caught").at("Error"), "sdkworkertest::OutOfStock");
  EXPECT_EQ(d.output->at("caught").at("Cause"), "no more blue shirts");
  worker.stop();
  worker.wait();
  EXPECT_EQ(worker.stats().failed, 4u);
}

TEST_F(WorkerTest, PollsSeveralActivities) {
  const std::string second = client_->create_activity("other").activity_arn;
  const std::string m1 = machine("First", one_task_machine(activity_));
  const std::string m2 = machine("Second", one_task_machine(second));
  WorkerOptions o = quick_options(activity_, 2);
  o.activity_arns.push_back(second);
  Worker worker({.endpoint = endpoint_}, o, [](const Task &task) {
    return json{{"from", task.activity_arn()}};
  });
  worker.start();
  const auto a = client_->start_execution({.state_machine_arn = m1});
  const auto b = client_->start_execution({.state_machine_arn = m2});
  const auto da = wait_end(a.execution_arn, 90s);
  const auto db = wait_end(b.execution_arn, 90s);
  ASSERT_EQ(da.status, "SUCCEEDED");
  ASSERT_EQ(db.status, "SUCCEEDED");
  EXPECT_EQ(da.output->at("from"), activity_);
  EXPECT_EQ(db.output->at("from"), second);
  worker.stop();
  worker.wait();
}

// Stopping with a task held: no new poll, the held task finishes and is reported.
TEST_F(WorkerTest, StopFinishesTheTaskHeld) {
  const std::string m = machine("Held", one_task_machine(activity_));
  std::atomic<bool> entered{false};
  Worker worker({.endpoint = endpoint_}, quick_options(activity_, 2), [&](const Task &task) {
    entered = true;
    std::this_thread::sleep_for(700ms);
    return json{{"stopping_seen", task.stopping()}};
  });
  worker.start();
  const auto held = client_->start_execution({.state_machine_arn = m});
  ASSERT_TRUE(wait_for([&] { return entered.load(); }));
  const auto start = std::chrono::steady_clock::now();
  worker.stop();
  worker.wait();
  EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s) << "polls are cut, not waited for";
  const auto d = client_->describe_execution(held.execution_arn);
  EXPECT_EQ(d.status, "SUCCEEDED");
  EXPECT_EQ(*d.output, (json{{"stopping_seen", true}}));
  // Nothing polls any more: a new execution waits.
  const auto later = client_->start_execution({.state_machine_arn = m});
  std::this_thread::sleep_for(500ms);
  EXPECT_EQ(client_->describe_execution(later.execution_arn).status, "RUNNING");
}

// The server goes away and comes back (same port, same store): the worker backs off, reconnects and
// goes on.
TEST_F(WorkerTest, BacksOffAndReconnectsWhenTheServerIsAway) {
  const std::string m = machine("Away", one_task_machine(activity_));
  const unsigned short port = stepd_.port();
  Worker worker({.endpoint = endpoint_, .connect_timeout = 500ms}, quick_options(activity_, 2),
                [](const Task &task) {
                  return json{{"n", task.input().at("n")}};
                });
  worker.start();
  const auto first = client_->start_execution({.state_machine_arn = m, .input = {{"n", 1}}});
  EXPECT_EQ(wait_end(first.execution_arn).status, "SUCCEEDED");

  ASSERT_EQ(stepd_.stop(), 0);
  ASSERT_TRUE(wait_for([&] { return worker.stats().poll_errors >= 3; }, 10s))
      << "the worker should see the server away";
  StepdOptions again;
  again.listen = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(stepd_.start(again)) << stepd_.log();
  const auto second = client_->start_execution({.state_machine_arn = m, .input = {{"n", 2}}});
  const auto d = wait_end(second.execution_arn);
  EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  EXPECT_EQ(*d.output, (json{{"n", 2}}));
  worker.stop();
  worker.wait();
}

// A worker that starts before the server exists keeps trying until it is there.
TEST(WorkerStartupTest, WaitsForAServerThatIsNotThereYet) {
  const unsigned short port = free_port();
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(port);
  const std::string activity = "arn:aws:states:local:000000000000:activity:late";
  std::atomic<int> handled{0};
  Worker worker({.endpoint = endpoint}, quick_options(activity), [&](const Task &) {
    ++handled;
    return json{{"late", true}};
  });
  worker.start();
  ASSERT_TRUE(wait_for([&] { return worker.stats().poll_errors >= 3; }, 10s));

  StepdProcess stepd;
  StepdOptions o;
  o.listen = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(stepd.start(o)) << stepd.log();
  Client client({.endpoint = endpoint});
  try {
    client.create_activity("late");
  } catch (const Error &e) {
    FAIL() << "waits on the server: CreateActivity is not served yet (" << e.what() << ")";
  }
  const std::string m =
      client.create_state_machine({.name = "Late", .definition = one_task_machine(activity)})
          .state_machine_arn;
  const auto run = client.start_execution({.state_machine_arn = m});
  ASSERT_TRUE(wait_for(
      [&] { return client.describe_execution(run.execution_arn).status != "RUNNING"; }, 30s));
  EXPECT_EQ(client.describe_execution(run.execution_arn).status, "SUCCEEDED");
  EXPECT_EQ(handled.load(), 1);
  worker.stop();
  worker.wait();
}

// A worker process sent SIGTERM while it holds two tasks: it stops polling, finishes both, reports
// them, and exits 0.
TEST_F(WorkerTest, SigtermToAWorkerProcessFinishesHeldTasks) {
  const std::string m = machine("Sigterm", one_task_machine(activity_));
  const std::filesystem::path out = stepd_.dir() / "worker.out";
  std::vector<std::string> args = {kTestWorker, "--endpoint",  endpoint_,   "--activity",
                                   activity_,   "--in-flight", "2",         "--sleep-ms",
                                   "1500",      "--out",       out.string()};
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string log = (stepd_.dir() / "worker.log").string();
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  ASSERT_EQ(posix_spawn(&pid, kTestWorker, &actions, nullptr, argv.data(), environ), 0)
      << kTestWorker;
  posix_spawn_file_actions_destroy(&actions);

  auto read = [](const std::filesystem::path &p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  };
  auto count = [&](const std::string &needle) {
    const std::string text = read(out);
    int n = 0;
    for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
    return n;
  };

  const auto a = client_->start_execution({.state_machine_arn = m, .input = {{"n", 1}}});
  const auto b = client_->start_execution({.state_machine_arn = m, .input = {{"n", 2}}});
  ASSERT_TRUE(wait_for([&] { return count("started") == 2; })) << read(out) << read(log);
  ASSERT_EQ(::kill(pid, SIGTERM), 0);
  const auto start = std::chrono::steady_clock::now();
  // A task queued after SIGTERM is not taken.
  const auto c = client_->start_execution({.state_machine_arn = m, .input = {{"n", 3}}});

  int status = 0;
  ASSERT_TRUE(wait_for([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 15s)) << read(log);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << read(log);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(count("finished"), 2) << read(out);
  EXPECT_NE(read(out).find("stopped by signal 15"), std::string::npos) << read(out);

  for (const auto &run : {a, b}) {
    const auto d = client_->describe_execution(run.execution_arn);
    EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(client_->describe_execution(c.execution_arn).status, "RUNNING");
}

}  // namespace
}  // namespace stepd::test
