// A worker process killed while it holds a task, against a real `stepd` and real worker processes
// (stepd_sdk_test_worker): the task's heartbeat times out (States.HeartbeatTimeout), the state's
// Retry schedules it again, a second worker process takes it and the execution succeeds with that
// worker's output. The history shows both attempts and exactly one success; a second outcome for
// the task token is refused (TaskDoesNotExist), and so is a late outcome from the killed worker's
// token (TaskTimedOut): an activity task moves the execution on exactly once.
//
// The killed worker runs with max_in_flight 1 and is killed inside its handler, so it has no
// GetActivityTask in progress when it dies: this test is about the heartbeat time-out, not about a
// poll whose client has gone (the server must withdraw such a poll, which other tests cover).
#include "stepd/worker/client.hpp"

#include "tests/server/process/stepd_process.hpp"
#include "tests/workers-sdk/sdk_test_support.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using worker::Client;
using worker::Error;

// The token a worker process wrote for its task n ("started n=<n> token=<token>"); "" when none.
std::string token_of(const std::string &out, int n) {
  const std::string key = "started n=" + std::to_string(n) + " token=";
  const std::size_t at = out.find(key);
  if (at == std::string::npos) return "";
  const std::size_t begin = at + key.size();
  return out.substr(begin, out.find('\n', begin) - begin);
}

std::vector<worker::HistoryEvent> history(Client &client, const std::string &arn) {
  std::vector<worker::HistoryEvent> events;
  std::string next;
  do {
    auto page = client.get_execution_history(
        {.execution_arn = arn, .max_results = 1000, .next_token = next});
    events.insert(events.end(), page.items.begin(), page.items.end());
    next = page.next_token;
  } while (!next.empty());
  return events;
}

std::string describe(const std::vector<worker::HistoryEvent> &events) {
  std::string text;
  for (const auto &e : events) text += e.type + " " + e.details.dump() + "\n";
  return text;
}

TEST(WorkerKillTest, AKilledWorkersTaskTimesOutAndAnotherWorkerCompletesIt) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(stepd.port());
  Client client({.endpoint = endpoint});
  std::string activity;
  try {
    activity = client.create_activity("fragile").activity_arn;
  } catch (const Error &e) {
    FAIL() << "waits on the server: CreateActivity is not served yet (" << e.what() << ")";
  }
  const json definition = {{"StartAt", "Work"},
                           {"States",
                            {{"Work",
                              {{"Type", "Task"},
                               {"Resource", activity},
                               {"HeartbeatSeconds", 1},
                               {"Retry",
                                {{{"ErrorEquals", {"States.HeartbeatTimeout"}},
                                  {"IntervalSeconds", 1},
                                  {"MaxAttempts", 2}}}},
                               {"End", true}}}}}};
  const std::string machine =
      client.create_state_machine({.name = "Fragile", .definition = definition.dump()})
          .state_machine_arn;

  // Worker A: no heartbeats, one task at a time, a handler that would run for 10 minutes.
  const std::filesystem::path a_out = stepd.dir() / "a.out";
  const std::filesystem::path a_log = stepd.dir() / "a.log";
  WorkerProcess a;
  ASSERT_EQ(a.start({kTestWorker, "--endpoint", endpoint, "--activity", activity, "--name",
                     "worker-a", "--in-flight", "1", "--heartbeat-ms", "0", "--sleep-ms", "600000",
                     "--out", a_out.string()},
                    a_log),
            "");
  const auto run = client.start_execution({.state_machine_arn = machine, .input = {{"n", 1}}});
  ASSERT_TRUE(wait_for([&] { return !token_of(read_text(a_out), 1).empty(); }))
      << read_text(a_out) << read_text(a_log);
  const std::string a_token = token_of(read_text(a_out), 1);

  // Worker B polls while A holds the task; A dies inside its handler (its only poller is there,
  // so no poll of A's is in progress).
  const std::filesystem::path b_out = stepd.dir() / "b.out";
  const std::filesystem::path b_log = stepd.dir() / "b.log";
  WorkerProcess b;
  ASSERT_EQ(b.start({kTestWorker, "--endpoint", endpoint, "--activity", activity, "--name",
                     "worker-b", "--in-flight", "1", "--heartbeat-ms", "0", "--sleep-ms", "0",
                     "--out", b_out.string()},
                    b_log),
            "");
  ASSERT_TRUE(wait_for([&] {
    return read_text(b_log).find("polling 1 activity") != std::string::npos;
  })) << read_text(b_log);
  std::this_thread::sleep_for(200ms);  // B's first poll reaches the server
  EXPECT_EQ(client.describe_execution(run.execution_arn).status, "RUNNING");
  ASSERT_TRUE(a.signal(SIGKILL));
  const auto a_status = a.wait_exit(5s);
  ASSERT_TRUE(a_status.has_value());
  EXPECT_TRUE(WIFSIGNALED(*a_status) && WTERMSIG(*a_status) == SIGKILL) << *a_status;

  worker::ExecutionDescription d;
  ASSERT_TRUE(wait_for(
      [&] {
        d = client.describe_execution(run.execution_arn);
        return d.status != "RUNNING";
      },
      30s))
      << read_text(b_out) << read_text(b_log);
  const auto events = history(client, run.execution_arn);
  ASSERT_EQ(d.status, "SUCCEEDED") << d.error << ": " << d.cause << "\n" << describe(events);
  ASSERT_TRUE(d.output.has_value());
  EXPECT_EQ(*d.output, (json{{"n", 1}, {"worker", "worker-b"}}));

  // The activity events in order: A started, timed out on its heartbeat, B started and succeeded.
  std::vector<std::string> activity_events;
  for (const auto &e : events) {
    if (e.type.rfind("Activity", 0) != 0) continue;
    std::string line = e.type;
    if (e.type == "ActivityStarted") line += " " + e.details.value("workerName", std::string("?"));
    if (e.type == "ActivityTimedOut") line += " " + e.details.value("error", std::string("?"));
    activity_events.push_back(line);
  }
  EXPECT_EQ(activity_events, (std::vector<std::string>{
                                 "ActivityScheduled", "ActivityStarted worker-a",
                                 "ActivityTimedOut States.HeartbeatTimeout", "ActivityScheduled",
                                 "ActivityStarted worker-b", "ActivitySucceeded"}))
      << describe(events);

  // Exactly once: the task is done, so neither token moves the execution again.
  const std::string b_token = token_of(read_text(b_out), 1);
  ASSERT_FALSE(b_token.empty()) << read_text(b_out);
  EXPECT_NE(b_token, a_token);
  auto refusal = [&](const std::string &token) -> std::string {
    try {
      client.send_task_success(token, json{{"again", true}});
    } catch (const Error &e) {
      return e.code();
    }
    return "accepted";
  };
  EXPECT_EQ(refusal(b_token), "TaskDoesNotExist");  // AWS: already completed
  EXPECT_EQ(refusal(a_token), "TaskTimedOut");      // AWS: the task timed out
  EXPECT_EQ(history(client, run.execution_arn).size(), events.size()) << "nothing was recorded";

  ASSERT_TRUE(b.signal(SIGTERM));
  const auto b_status = b.wait_exit(10s);
  ASSERT_TRUE(b_status.has_value()) << read_text(b_log);
  EXPECT_TRUE(WIFEXITED(*b_status) && WEXITSTATUS(*b_status) == 0) << read_text(b_log);
  EXPECT_NE(read_text(b_out).find("stopped by signal 15 succeeded=1"), std::string::npos)
      << read_text(b_out);
}

}  // namespace
}  // namespace stepd::test
