// stepd::worker::Worker against a real `stepd`: tasks in flight, automatic heartbeats, handler
// exceptions as failures, back-off and reconnection when the server is away, stopping with tasks
// held (in process, and a worker process sent SIGTERM, also with outcomes still queued). Reporting
// in the background (pollers that do not wait for reports, the bound on pending outcomes, final
// refusals, heartbeats ending with the handler) against a scripted server, which can hold reports
// back as a real one cannot. The real-server tests need the server's activity operations: until
// it has them, they fail in SetUp saying so.
#include "stepd/worker/worker.hpp"

#include "tests/server/process/stepd_process.hpp"
#include "tests/workers-sdk/sdk_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
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
  const std::filesystem::path log = stepd_.dir() / "worker.log";
  WorkerProcess process;
  ASSERT_EQ(process.start({kTestWorker, "--endpoint", endpoint_, "--activity", activity_,
                           "--in-flight", "2", "--sleep-ms", "1500", "--out", out.string()},
                          log),
            "");
  auto count = [&](const std::string &needle) { return occurrences(read_text(out), needle); };

  const auto a = client_->start_execution({.state_machine_arn = m, .input = {{"n", 1}}});
  const auto b = client_->start_execution({.state_machine_arn = m, .input = {{"n", 2}}});
  ASSERT_TRUE(wait_for([&] { return count("started") == 2; })) << read_text(out) << read_text(log);
  ASSERT_TRUE(process.signal(SIGTERM));
  const auto start = std::chrono::steady_clock::now();
  // A task queued after SIGTERM is not taken.
  const auto c = client_->start_execution({.state_machine_arn = m, .input = {{"n", 3}}});

  const auto status = process.wait_exit(15s);
  ASSERT_TRUE(status.has_value()) << read_text(log);
  EXPECT_TRUE(WIFEXITED(*status)) << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_text(log);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  EXPECT_EQ(count("finished"), 2) << read_text(out);
  EXPECT_NE(read_text(out).find("stopped by signal 15 succeeded=2"), std::string::npos)
      << read_text(out);

  for (const auto &run : {a, b}) {
    const auto d = client_->describe_execution(run.execution_arn);
    EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
  }
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(client_->describe_execution(c.execution_arn).status, "RUNNING");
}

// SIGTERM while outcomes wait for the reporter (one reporter, two outcomes, the server away): the
// process does not exit with reports unsent; once the server is back it sends both, then exits 0.
TEST_F(WorkerTest, SigtermDeliversQueuedReportsBeforeExit) {
  const std::string m = machine("Flush", one_task_machine(activity_));
  const unsigned short port = stepd_.port();
  const std::filesystem::path out = stepd_.dir() / "worker.out";
  const std::filesystem::path log = stepd_.dir() / "worker.log";
  WorkerProcess process;
  ASSERT_EQ(
      process.start({kTestWorker, "--endpoint", endpoint_, "--activity", activity_, "--in-flight",
                     "2", "--reporters", "1", "--sleep-ms", "1000", "--out", out.string()},
                    log),
      "");
  auto count = [&](const std::string &needle) { return occurrences(read_text(out), needle); };
  const auto a = client_->start_execution({.state_machine_arn = m, .input = {{"n", 1}}});
  const auto b = client_->start_execution({.state_machine_arn = m, .input = {{"n", 2}}});
  ASSERT_TRUE(wait_for([&] { return count("started") == 2; })) << read_text(out) << read_text(log);

  // The server goes away while both handlers run: their outcomes can only wait.
  ASSERT_EQ(stepd_.stop(), 0);
  ASSERT_TRUE(wait_for([&] { return count("finished") == 2; }, 10s)) << read_text(out);
  ASSERT_TRUE(wait_for(
      [&] { return occurrences(read_text(log), "reporting a task failed (Connect") >= 1; }, 10s))
      << read_text(log);
  ASSERT_TRUE(process.signal(SIGTERM));
  std::this_thread::sleep_for(1500ms);
  EXPECT_TRUE(process.running()) << "exited with two outcomes unsent\n" << read_text(log);
  EXPECT_EQ(occurrences(read_text(out), "stopped by signal"), 0) << read_text(out);

  StepdOptions again;
  again.listen = "127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(stepd_.start(again)) << stepd_.log();
  const auto status = process.wait_exit(20s);
  ASSERT_TRUE(status.has_value()) << read_text(log);
  EXPECT_TRUE(WIFEXITED(*status)) << *status;
  EXPECT_EQ(WEXITSTATUS(*status), 0) << read_text(log);
  EXPECT_NE(read_text(out).find("stopped by signal 15 succeeded=2"), std::string::npos)
      << read_text(out) << read_text(log);
  // Sent before the exit: both executions have ended already, with the handlers' outputs.
  int n = 1;
  for (const auto &run : {a, b}) {
    const auto d = client_->describe_execution(run.execution_arn);
    EXPECT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause;
    ASSERT_TRUE(d.output.has_value());
    EXPECT_EQ(d.output->at("n"), n++);
  }
}

// --- Reporting in the background, against a scripted server -----------------------------------

const std::string kScriptedActivity = "arn:aws:states:local:000000000000:activity:scripted";

std::string task_answer(const std::string &token, const json &input) {
  return http_answer(200, "OK", json{{"taskToken", token}, {"input", input.dump()}}.dump());
}

std::string error_answer(int status, const std::string &type, const std::string &message) {
  return http_answer(status, status >= 500 ? "Service Unavailable" : "Bad Request",
                     json{{"__type", type}, {"message", message}}.dump());
}

// Pollers go on taking tasks while outcomes wait (here: refused with ServiceUnavailable), until
// max_pending_reports are pending; then each poller holds its next outcome and polls no more. Once
// the server accepts reports, every outcome is delivered exactly once and polling resumes.
TEST(WorkerReportingTest, PollsAgainWhileReportsWaitUpToMaxPendingReports) {
  std::mutex mu;
  int polls = 0;
  int handed = 0;
  bool accept = false;
  std::map<std::string, int> attempts;  // SendTaskSuccess requests per token
  std::map<std::string, int> accepted;
  ScriptedServer server([&](const std::string &request) -> std::string {
    std::lock_guard lock(mu);
    const std::string op = aws_operation(request);
    if (op == "GetActivityTask") {
      ++polls;
      if (handed == 8) return "";  // no task left: the poll is held
      ++handed;
      return task_answer("t" + std::to_string(handed), {{"n", handed}});
    }
    if (op == "SendTaskSuccess") {
      const std::string token = json::parse(request_body(request)).at("taskToken");
      ++attempts[token];
      if (!accept) return error_answer(503, "ServiceUnavailable", "busy");
      ++accepted[token];
      return http_answer(200, "OK", "{}");
    }
    return error_answer(400, "UnknownOperationException", op);
  });
  WorkerOptions o = quick_options(kScriptedActivity, 2);
  o.heartbeat_interval = 0ms;
  o.reporters = 1;
  o.max_pending_reports = 3;
  std::atomic<int> handled{0};
  Worker worker({.endpoint = server.url()}, o, [&](const Task &task) {
    ++handled;
    return json{{"n", task.input().at("n")}};
  });
  worker.start();
  // 3 outcomes pending (one being retried, two queued), and each of the 2 pollers holds one more.
  ASSERT_TRUE(wait_for([&] { return worker.stats().tasks == 5; }, 10s)) << worker.stats().tasks;
  std::this_thread::sleep_for(500ms);
  auto stats = worker.stats();
  EXPECT_EQ(stats.tasks, 5u) << "no poll while max_pending_reports outcomes are pending";
  EXPECT_EQ(handled.load(), 5);
  EXPECT_EQ(stats.reports_pending, 3);
  EXPECT_EQ(stats.in_flight, 0) << "no handler runs: max_in_flight counts handlers";
  EXPECT_EQ(stats.succeeded, 0u);
  EXPECT_GE(stats.report_errors, 2u);
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(polls, 5);
    // One reporter: it retries the first outcome queued, the others wait their turn.
    ASSERT_EQ(attempts.size(), 1u);
    EXPECT_GE(attempts.begin()->second, 2) << "the first outcome is retried";
    accept = true;
  }
  ASSERT_TRUE(wait_for([&] { return worker.stats().succeeded == 8; }, 10s))
      << worker.stats().succeeded;
  // Both pollers poll again (and are held: no task left).
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard lock(mu);
    return polls == 10;
  }));
  worker.stop();
  worker.wait();
  stats = worker.stats();
  EXPECT_EQ(stats.tasks, 8u);
  EXPECT_EQ(stats.succeeded, 8u);
  EXPECT_EQ(stats.reports_pending, 0);
  std::lock_guard lock(mu);
  std::map<std::string, int> once;
  for (int i = 1; i <= 8; ++i) once["t" + std::to_string(i)] = 1;
  EXPECT_EQ(accepted, once);
}

// TaskDoesNotExist, TaskTimedOut and InvalidToken are final: the outcome is dropped (logged,
// counted as abandoned), not retried. A 5xx is retried until the server takes the outcome.
TEST(WorkerReportingTest, ARefusedOutcomeIsNotRetried) {
  std::mutex mu;
  std::vector<std::string> tokens = {"gone", "late", "bad", "flaky"};
  std::size_t handed = 0;
  std::map<std::string, int> attempts;
  ScriptedServer server([&](const std::string &request) -> std::string {
    std::lock_guard lock(mu);
    const std::string op = aws_operation(request);
    if (op == "GetActivityTask") {
      if (handed == tokens.size()) return "";
      const std::string token = tokens[handed++];
      return task_answer(token, {{"token", token}});
    }
    const std::string token = json::parse(request_body(request)).at("taskToken");
    const int attempt = ++attempts[op + " " + token];
    if (token == "gone") return error_answer(400, "TaskDoesNotExist", "Task Does Not Exist");
    if (token == "late") return error_answer(400, "TaskTimedOut", "Task Timed Out");
    if (token == "bad") return error_answer(400, "InvalidToken", "Invalid Token: 'bad'");
    if (attempt <= 2) return error_answer(500, "InternalError", "try again");
    return http_answer(200, "OK", "{}");
  });
  WorkerOptions o = quick_options(kScriptedActivity, 1);
  o.heartbeat_interval = 0ms;
  std::vector<std::string> warnings;
  o.log = [&](worker::LogLevel level, std::string_view message) {
    std::lock_guard lock(mu);
    if (level == worker::LogLevel::Warning) warnings.emplace_back(message);
  };
  Worker worker({.endpoint = server.url()}, o, [](const Task &task) -> json {
    if (task.token() == "flaky") throw worker::TaskFailure("Job.Failed", "as planned");
    return json{{"ok", true}};
  });
  worker.start();
  ASSERT_TRUE(wait_for([&] {
    const auto s = worker.stats();
    return s.abandoned == 3 && s.failed == 1;
  }));
  worker.stop();
  worker.wait();
  const auto stats = worker.stats();
  EXPECT_EQ(stats.succeeded, 0u);
  EXPECT_EQ(stats.report_errors, 5u);  // three refusals, two 500s
  std::lock_guard lock(mu);
  EXPECT_EQ(attempts, (std::map<std::string, int>{{"SendTaskSuccess gone", 1},
                                                  {"SendTaskSuccess late", 1},
                                                  {"SendTaskSuccess bad", 1},
                                                  {"SendTaskFailure flaky", 3}}));
  const std::string prefix = "the server refused the outcome of a task of " + kScriptedActivity;
  for (const std::string &expected : {prefix + ": TaskDoesNotExist: Task Does Not Exist",
                                      prefix + ": TaskTimedOut: Task Timed Out",
                                      prefix + ": InvalidToken: Invalid Token: 'bad'"}) {
    EXPECT_NE(std::find(warnings.begin(), warnings.end(), expected), warnings.end()) << expected;
  }
}

// Heartbeats are for running handlers: none goes out once the handler returned, even while its
// outcome waits to be accepted.
TEST(WorkerReportingTest, HeartbeatsStopWhenTheHandlerReturns) {
  using Clock = std::chrono::steady_clock;
  std::mutex mu;
  bool handed = false;
  std::vector<Clock::time_point> beats;
  std::optional<Clock::time_point> first_report;
  ScriptedServer server([&](const std::string &request) -> std::string {
    std::lock_guard lock(mu);
    const std::string op = aws_operation(request);
    if (op == "GetActivityTask") {
      if (handed) return "";
      handed = true;
      return task_answer("beating", json::object());
    }
    if (op == "SendTaskHeartbeat") {
      beats.push_back(Clock::now());
      return http_answer(200, "OK", "{}");
    }
    // SendTaskSuccess: refused for 800 ms after the first try.
    if (!first_report) first_report = Clock::now();
    if (Clock::now() - *first_report < 800ms) {
      return error_answer(503, "ServiceUnavailable", "busy");
    }
    return http_answer(200, "OK", "{}");
  });
  WorkerOptions o = quick_options(kScriptedActivity, 1);
  o.heartbeat_interval = 50ms;
  std::atomic<Clock::rep> returned{0};
  Worker worker({.endpoint = server.url()}, o, [&](const Task &) {
    std::this_thread::sleep_for(400ms);
    returned = Clock::now().time_since_epoch().count();
    return json{{"done", true}};
  });
  worker.start();
  ASSERT_TRUE(wait_for([&] { return worker.stats().succeeded == 1; }, 10s));
  worker.stop();
  worker.wait();
  const Clock::time_point end{Clock::duration(returned.load())};
  std::lock_guard lock(mu);
  ASSERT_TRUE(first_report.has_value());
  int before = 0;
  int after = 0;  // sent well after the return (one already under way then may land just after)
  for (const auto t : beats) {
    if (t <= end) ++before;
    if (t > end + 100ms) ++after;
  }
  EXPECT_GE(before, 4) << "a heartbeat every 50 ms during the 400 ms handler";
  EXPECT_EQ(after, 0) << "heartbeats after the handler returned";
}

TEST(WorkerReportingTest, ReportersAndPendingReportsDefaultFromMaxInFlight) {
  WorkerOptions o = quick_options(kScriptedActivity, 3);
  const auto handler = [](const Task &) { return json::object(); };
  {
    Worker worker({.endpoint = "http://127.0.0.1:9"}, o, handler);
    EXPECT_EQ(worker.options().reporters, 24);
    EXPECT_EQ(worker.options().max_pending_reports, 48);
  }
  o.reporters = 2;
  o.max_pending_reports = 5;
  {
    Worker worker({.endpoint = "http://127.0.0.1:9"}, o, handler);
    EXPECT_EQ(worker.options().reporters, 2);
    EXPECT_EQ(worker.options().max_pending_reports, 5);
  }
  auto refused = [&](WorkerOptions bad) -> std::string {
    try {
      Worker worker({.endpoint = "http://127.0.0.1:9"}, bad, handler);
    } catch (const std::invalid_argument &e) {
      return e.what();
    }
    return "accepted";
  };
  WorkerOptions bad = o;
  bad.reporters = -1;
  EXPECT_EQ(refused(bad), "WorkerOptions::reporters must not be negative");
  bad = o;
  bad.max_pending_reports = -1;
  EXPECT_EQ(refused(bad), "WorkerOptions::max_pending_reports must not be negative");
}

}  // namespace
}  // namespace stepd::test
