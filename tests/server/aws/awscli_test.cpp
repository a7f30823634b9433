// The AWS CLI against a real stepd process: Debian's `aws` (awscli 2) talks to stepd over HTTP
// with SigV4-signed requests and dummy credentials, exactly as it would talk to AWS: state
// machines and executions, and activities with their task tokens (a worker's poll, heartbeat,
// success and failure as the CLI sends them), and StartSyncExecution past the "sync-" host
// prefix the CLI puts before the endpoint's host (docs/aws-api.md says how users get past it).
//
// Skips (with the reason) when the `aws` program or the stepd binary (STEPD_PATH) is missing.
// STEPD_TEST_AWS=/path/to/aws runs them with another CLI (e.g. a newer one from pip).
// No test lets the CLI look a name up: every URL it calls names 127.0.0.1.
#include "tests/server/process/stepd_process.hpp"
#include "tests/support/child_process.hpp"

#include "asl/core/json.hpp"
#include "server/http/message.hpp"
#include "server/security/sigv4.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stepd {
namespace {

using asl::Json;
using namespace std::chrono_literals;

// STEPD_TEST_AWS when set (to try another CLI), else Debian's awscli, then whatever `aws` PATH
// finds.
std::string find_aws() {
  if (const char* chosen = std::getenv("STEPD_TEST_AWS"); chosen != nullptr && *chosen != '\0') {
    return ::access(chosen, X_OK) == 0 ? chosen : "";
  }
  if (::access("/usr/bin/aws", X_OK) == 0) return "/usr/bin/aws";
  const char* path = std::getenv("PATH");
  if (path == nullptr) return "";
  std::stringstream dirs(path);
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/aws";
    if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A port of 127.0.0.1 that nothing listens on (bound, then released).
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// How one `aws` run differs from the default: another endpoint URL, more (or other)
// environment variables.
struct CliOptions {
  std::string endpoint;                    // "" : the fixture's stepd
  std::map<std::string, std::string> env;  // added, replacing defaults of the same name
};

struct CliResult {
  int code = -1;
  std::string out;
  std::string err;
  Json json() const { return Json::parse(out, nullptr, false); }
};

class AwsCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    aws_ = find_aws();
    if (aws_.empty()) GTEST_SKIP() << "the AWS CLI is not installed (apt-get install awscli)";
#ifndef STEPD_PATH
    GTEST_SKIP() << "STEPD_PATH is not defined: the stepd binary is not part of this build";
#else
    if (!std::filesystem::exists(STEPD_PATH)) {
      GTEST_SKIP() << "the stepd binary is not built: " << STEPD_PATH;
    }
#endif
    ASSERT_TRUE(stepd_.start()) << stepd_.log();
    endpoint_ = "http://127.0.0.1:" + std::to_string(stepd_.port());
    home_ = stepd_.dir() / "home";
    std::filesystem::create_directories(home_);
    // awscli 1 prints timestamps as it got them (epoch seconds) unless told; 2 prints ISO 8601.
    std::ofstream(home_ / "config") << "[default]\ncli_timestamp_format = iso8601\n";
  }

  // Runs `aws stepfunctions ARGS...` against stepd with dummy credentials and a private HOME
  // (its config file is home_/config).
  CliResult cli(std::vector<std::string> args, const CliOptions& options = {}) {
    std::vector<std::string> argv = {aws_, "stepfunctions"};
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string endpoint = options.endpoint.empty() ? endpoint_ : options.endpoint;
    for (const char* a :
         {"--endpoint-url", endpoint.c_str(), "--region", "us-east-1", "--output", "json"}) {
      argv.emplace_back(a);
    }
    if (aws_version_major() >= 2) argv.emplace_back("--no-cli-pager");

    std::map<std::string, std::string> vars = {
        {"HOME", home_.string()},
        {"PATH", "/usr/bin:/bin"},
        {"AWS_ACCESS_KEY_ID", "AKIDSTEPDTEST"},
        {"AWS_SECRET_ACCESS_KEY", "stepd-test-secret"},
        {"AWS_EC2_METADATA_DISABLED", "true"},
        {"AWS_CONFIG_FILE", (home_ / "config").string()},
        {"AWS_SHARED_CREDENTIALS_FILE", (home_ / "credentials").string()},
        {"AWS_PAGER", ""},
        {"NO_PROXY", "*"},
        {"LANG", "C.UTF-8"},
    };
    for (const auto& [name, value] : options.env) vars[name] = value;
    const auto out_path = stepd_.dir() / ("cli-" + std::to_string(++runs_) + ".out");
    const auto err_path = stepd_.dir() / ("cli-" + std::to_string(runs_) + ".err");

    test::ChildOptions child;
    child.env.emplace();
    for (const auto& [name, value] : vars) child.env->push_back(name + "=" + value);
    child.stdin_path = "/dev/null";
    child.stdout_path = out_path;
    child.stderr_path = err_path;
    const test::SpawnedChild spawned = test::spawn_child(std::move(argv), child);
    CliResult r;
    if (spawned.pid < 0) {
      r.err = spawned.error;
      return r;
    }
    int status = 0;
    ::waitpid(spawned.pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out_path);
    r.err = read_file(err_path);
    return r;
  }

  // Runs and expects success with a JSON answer.
  Json ok(std::vector<std::string> args, const CliOptions& options = {}) {
    const std::string what = args.empty() ? "" : args[0];
    CliResult r = cli(std::move(args), options);
    EXPECT_EQ(r.code, 0) << what << "\nstdout: " << r.out << "\nstderr: " << r.err
                         << "\nstepd: " << stepd_.log();
    if (r.out.find_first_not_of(" \r\n") == std::string::npos) return Json::object();
    Json j = r.json();
    EXPECT_TRUE(j.is_object()) << what << ": " << r.out;
    return j;
  }

  int aws_version_major() {
    if (version_ == 0) {
      version_ = 1;
      // `aws --version` prints "aws-cli/2.9.19 ..." (to stdout in v2, stderr in v1).
      const auto out_path = stepd_.dir() / "version.out";
      std::string cmd = aws_ + " --version > " + out_path.string() + " 2>&1";
      if (std::system(cmd.c_str()) == 0) {
        const std::string text = read_file(out_path);
        const auto at = text.find("aws-cli/");
        if (at != std::string::npos) version_ = std::atoi(text.c_str() + at + 8);
      }
    }
    return version_;
  }

  // Polls describe-execution until the status is not RUNNING.
  Json wait_done(const std::string& execution) {
    Json d;
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    do {
      d = ok({"describe-execution", "--execution-arn", execution});
      if (d.value("status", "") != "RUNNING") break;
      std::this_thread::sleep_for(100ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return d;
  }

  std::string aws_;
  std::string endpoint_;
  std::filesystem::path home_;
  test::StepdProcess stepd_;
  int runs_ = 0;
  int version_ = 0;
};

// An ISO-8601 time as the CLI prints timestamps it parsed from epoch seconds.
const std::regex kIsoTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z))");

const std::string kRole = "arn:aws:iam::000000000000:role/stepd";
const std::string kPass =
    R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":"done","ResultPath":"$.r","End":true}}})";
const std::string kWait =
    R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}})";

TEST_F(AwsCliTest, StateMachinesAndExecutions) {
  // create-state-machine
  Json created = ok({"create-state-machine", "--name", "Hello", "--definition", kPass, "--role-arn",
                     kRole, "--tags", "key=team,value=core"});
  const std::string machine = created.value("stateMachineArn", "");
  EXPECT_EQ(machine, "arn:aws:states:local:000000000000:stateMachine:Hello") << created.dump();
  EXPECT_TRUE(std::regex_match(created.value("creationDate", ""), kIsoTime)) << created.dump();

  // describe-state-machine
  Json described = ok({"describe-state-machine", "--state-machine-arn", machine});
  EXPECT_EQ(described["name"], "Hello");
  EXPECT_EQ(described["status"], "ACTIVE");
  EXPECT_EQ(described["type"], "STANDARD");
  EXPECT_EQ(described["definition"], kPass);
  EXPECT_EQ(described["roleArn"], kRole);
  EXPECT_EQ(described["creationDate"], created["creationDate"]);
  EXPECT_EQ(described["loggingConfiguration"],
            (Json{{"level", "OFF"}, {"includeExecutionData", false}}));

  // list-state-machines, list-tags-for-resource
  Json machines = ok({"list-state-machines"});
  ASSERT_EQ(machines["stateMachines"].size(), 1u) << machines.dump();
  EXPECT_EQ(machines["stateMachines"][0]["stateMachineArn"], machine);
  EXPECT_EQ(ok({"list-tags-for-resource", "--resource-arn", machine}),
            (Json{{"tags", {{{"key", "team"}, {"value", "core"}}}}}));
  // tag-resource, untag-resource
  ok({"tag-resource", "--resource-arn", machine, "--tags", "key=env,value=dev"});
  ok({"untag-resource", "--resource-arn", machine, "--tag-keys", "team"});
  EXPECT_EQ(ok({"list-tags-for-resource", "--resource-arn", machine}),
            (Json{{"tags", {{{"key", "env"}, {"value", "dev"}}}}}));

  // start-execution, then describe-execution until it ends
  Json started = ok(
      {"start-execution", "--state-machine-arn", machine, "--name", "e1", "--input", R"({"x":1})"});
  const std::string execution = started.value("executionArn", "");
  EXPECT_EQ(execution, "arn:aws:states:local:000000000000:execution:Hello:e1");
  EXPECT_TRUE(std::regex_match(started.value("startDate", ""), kIsoTime)) << started.dump();
  Json done = wait_done(execution);
  EXPECT_EQ(done["status"], "SUCCEEDED") << done.dump();
  EXPECT_EQ(done["input"], R"({"x":1})");
  EXPECT_EQ(done["output"], R"({"x":1,"r":"done"})");
  EXPECT_EQ(done["inputDetails"], (Json{{"included", true}}));
  EXPECT_EQ(done["stateMachineArn"], machine);
  EXPECT_TRUE(std::regex_match(done.value("stopDate", ""), kIsoTime)) << done.dump();

  // get-execution-history
  Json history = ok({"get-execution-history", "--execution-arn", execution});
  std::vector<std::string> types;
  for (const Json& e : history["events"]) types.push_back(e["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"ExecutionStarted", "PassStateEntered",
                                             "PassStateExited", "ExecutionSucceeded"}));
  ASSERT_EQ(history["events"].size(), 4u) << history.dump();
  EXPECT_EQ(history["events"][0]["id"], 1);
  EXPECT_EQ(history["events"][0]["previousEventId"], 0);
  EXPECT_EQ(history["events"][0]["executionStartedEventDetails"]["input"], R"({"x":1})");
  EXPECT_EQ(history["events"][0]["executionStartedEventDetails"]["roleArn"], kRole);
  EXPECT_EQ(history["events"][1]["stateEnteredEventDetails"]["name"], "P");
  EXPECT_EQ(history["events"][2]["stateExitedEventDetails"]["output"], R"({"x":1,"r":"done"})");
  EXPECT_EQ(history["events"][3]["executionSucceededEventDetails"]["output"],
            R"({"x":1,"r":"done"})");
  EXPECT_TRUE(std::regex_match(history["events"][3].value("timestamp", ""), kIsoTime));

  // list-executions, paginated by the CLI one item per request (it follows nextToken).
  ok({"start-execution", "--state-machine-arn", machine, "--name", "e2"});
  ok({"start-execution", "--state-machine-arn", machine, "--name", "e3"});
  wait_done("arn:aws:states:local:000000000000:execution:Hello:e2");
  wait_done("arn:aws:states:local:000000000000:execution:Hello:e3");
  Json listed = ok({"list-executions", "--state-machine-arn", machine, "--page-size", "1"});
  std::vector<std::string> names;
  for (const Json& x : listed["executions"]) {
    names.push_back(x["name"]);
    EXPECT_EQ(x["status"], "SUCCEEDED");
    EXPECT_EQ(x["stateMachineArn"], machine);
  }
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"e1", "e2", "e3"})) << listed.dump();
  Json filtered =
      ok({"list-executions", "--state-machine-arn", machine, "--status-filter", "RUNNING"});
  EXPECT_EQ(filtered["executions"], Json::array());

  // stop-execution on a waiting machine
  Json waiter =
      ok({"create-state-machine", "--name", "Waiter", "--definition", kWait, "--role-arn", kRole});
  const std::string waiter_arn = waiter["stateMachineArn"];
  Json waiting = ok({"start-execution", "--state-machine-arn", waiter_arn, "--name", "w1"});
  const std::string waiting_arn = waiting["executionArn"];
  Json stopped = ok(
      {"stop-execution", "--execution-arn", waiting_arn, "--error", "Halt", "--cause", "enough"});
  EXPECT_TRUE(std::regex_match(stopped.value("stopDate", ""), kIsoTime)) << stopped.dump();
  Json aborted = ok({"describe-execution", "--execution-arn", waiting_arn});
  EXPECT_EQ(aborted["status"], "ABORTED");
  EXPECT_EQ(aborted["error"], "Halt");
  EXPECT_EQ(aborted["cause"], "enough");
  EXPECT_EQ(aborted["stopDate"], stopped["stopDate"]);

  // describe-state-machine-for-execution
  Json for_execution = ok({"describe-state-machine-for-execution", "--execution-arn", waiting_arn});
  EXPECT_EQ(for_execution["definition"], kWait);
  EXPECT_EQ(for_execution["stateMachineArn"], waiter_arn);

  // delete-state-machine, then the machine is gone: the CLI reports the service's error.
  CliResult deleted = cli({"delete-state-machine", "--state-machine-arn", machine});
  EXPECT_EQ(deleted.code, 0) << deleted.err;
  CliResult gone = cli({"describe-state-machine", "--state-machine-arn", machine});
  EXPECT_NE(gone.code, 0);
  EXPECT_NE(gone.err.find("An error occurred (StateMachineDoesNotExist) when calling the "
                          "DescribeStateMachine operation: State Machine Does Not Exist: '" +
                          machine + "'"),
            std::string::npos)
      << gone.err;
  Json remaining = ok({"list-state-machines"});
  ASSERT_EQ(remaining["stateMachines"].size(), 1u) << remaining.dump();
  EXPECT_EQ(remaining["stateMachines"][0]["name"], "Waiter");
  // The executions of a deleted machine stay readable.
  EXPECT_EQ(ok({"describe-execution", "--execution-arn", execution})["status"], "SUCCEEDED");
}

TEST_F(AwsCliTest, ServiceErrorsReachTheCli) {
  CliResult missing = cli({"describe-execution", "--execution-arn",
                           "arn:aws:states:local:000000000000:execution:Nope:x"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.err.find("An error occurred (ExecutionDoesNotExist) when calling the "
                             "DescribeExecution operation: Execution Does Not Exist: "
                             "'arn:aws:states:local:000000000000:execution:Nope:x'"),
            std::string::npos)
      << missing.err;
  CliResult bad_definition = cli({"create-state-machine", "--name", "Bad", "--definition",
                                  R"({"StartAt":"Nope","States":{}})", "--role-arn", kRole});
  EXPECT_NE(bad_definition.code, 0);
  EXPECT_NE(bad_definition.err.find("An error occurred (InvalidDefinition) when calling the "
                                    "CreateStateMachine operation: Invalid State Machine "
                                    "Definition: "),
            std::string::npos)
      << bad_definition.err;
  CliResult bad_arn = cli({"describe-state-machine", "--state-machine-arn", "not-an-arn"});
  EXPECT_NE(bad_arn.err.find("An error occurred (InvalidArn) when calling the "
                             "DescribeStateMachine operation: Invalid Arn: 'Invalid ARN prefix: "
                             "not-an-arn'"),
            std::string::npos)
      << bad_arn.err;
}

TEST_F(AwsCliTest, ActivitiesAndTaskTokens) {
  // create-activity, describe-activity, list-activities
  Json created = ok({"create-activity", "--name", "Work", "--tags", "key=team,value=ops"});
  const std::string activity = created.value("activityArn", "");
  EXPECT_EQ(activity, "arn:aws:states:local:000000000000:activity:Work") << created.dump();
  EXPECT_TRUE(std::regex_match(created.value("creationDate", ""), kIsoTime)) << created.dump();
  Json described = ok({"describe-activity", "--activity-arn", activity});
  EXPECT_EQ(described["name"], "Work");
  EXPECT_EQ(described["creationDate"], created["creationDate"]);
  Json listed = ok({"list-activities"});
  ASSERT_EQ(listed["activities"].size(), 1u) << listed.dump();
  EXPECT_EQ(listed["activities"][0]["activityArn"], activity);
  EXPECT_EQ(ok({"list-tags-for-resource", "--resource-arn", activity}),
            (Json{{"tags", {{{"key", "team"}, {"value", "ops"}}}}}));

  // A machine whose Task is the activity.
  const std::string definition =
      R"({"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":")" + activity +
      R"(","HeartbeatSeconds":60,"ResultPath":"$.result","End":true}}})";
  const std::string machine =
      ok({"create-state-machine", "--name", "Worked", "--definition", definition, "--role-arn",
          kRole})
          .value("stateMachineArn", "");
  ASSERT_FALSE(machine.empty());

  // start-execution, then a worker takes the task, heartbeats and succeeds.
  const std::string first =
      ok({"start-execution", "--state-machine-arn", machine, "--name", "ok", "--input",
          R"({"order":7})"})
          .value("executionArn", "");
  // The CLI's own read time-out must outlast the 60 s a poll may be held.
  Json task = ok({"get-activity-task", "--activity-arn", activity, "--worker-name", "cli-worker",
                  "--cli-read-timeout", "70"});
  const std::string token = task.value("taskToken", "");
  ASSERT_FALSE(token.empty()) << task.dump();
  EXPECT_EQ(task["input"], R"({"order":7})");
  EXPECT_EQ(ok({"send-task-heartbeat", "--task-token", token}), Json::object());
  EXPECT_EQ(ok({"send-task-success", "--task-token", token, "--task-output", R"({"paid":true})"}),
            Json::object());
  Json done = wait_done(first);
  EXPECT_EQ(done["status"], "SUCCEEDED") << done.dump();
  EXPECT_EQ(done["output"], R"({"order":7,"result":{"paid":true}})");
  Json history = ok({"get-execution-history", "--execution-arn", first});
  std::vector<std::string> types;
  for (const Json& e : history["events"]) types.push_back(e["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"ExecutionStarted", "TaskStateEntered",
                                             "ActivityScheduled", "ActivityStarted",
                                             "ActivitySucceeded", "TaskStateExited",
                                             "ExecutionSucceeded"}))
      << history.dump();
  ASSERT_EQ(history["events"].size(), 7u);
  EXPECT_EQ(history["events"][2]["activityScheduledEventDetails"]["resource"], activity);
  EXPECT_EQ(history["events"][2]["activityScheduledEventDetails"]["heartbeatInSeconds"], 60);
  EXPECT_EQ(history["events"][3]["activityStartedEventDetails"]["workerName"], "cli-worker");
  EXPECT_EQ(history["events"][4]["activitySucceededEventDetails"]["output"], R"({"paid":true})");

  // The token is spent: the CLI reports the service's error.
  CliResult again = cli({"send-task-success", "--task-token", token, "--task-output", "{}"});
  EXPECT_NE(again.code, 0);
  EXPECT_NE(again.err.find("An error occurred (TaskDoesNotExist) when calling the "
                           "SendTaskSuccess operation: Task Does Not Exist"),
            std::string::npos)
      << again.err;

  // A second execution whose worker reports a failure.
  const std::string second =
      ok({"start-execution", "--state-machine-arn", machine, "--name", "declined"})
          .value("executionArn", "");
  Json task2 = ok({"get-activity-task", "--activity-arn", activity, "--worker-name", "cli-worker",
                   "--cli-read-timeout", "70"});
  const std::string token2 = task2.value("taskToken", "");
  ASSERT_FALSE(token2.empty()) << task2.dump();
  EXPECT_EQ(ok({"send-task-failure", "--task-token", token2, "--error", "CardDeclined", "--cause",
                "insufficient funds"}),
            Json::object());
  Json failed = wait_done(second);
  EXPECT_EQ(failed["status"], "FAILED") << failed.dump();
  EXPECT_EQ(failed["error"], "CardDeclined");
  EXPECT_EQ(failed["cause"], "insufficient funds");
  Json history2 = ok({"get-execution-history", "--execution-arn", second});
  std::vector<std::string> types2;
  for (const Json& e : history2["events"]) types2.push_back(e["type"]);
  EXPECT_EQ(types2, (std::vector<std::string>{"ExecutionStarted", "TaskStateEntered",
                                              "ActivityScheduled", "ActivityStarted",
                                              "ActivityFailed", "ExecutionFailed"}))
      << history2.dump();
  ASSERT_EQ(history2["events"].size(), 6u);
  EXPECT_EQ(history2["events"][4]["activityFailedEventDetails"]["error"], "CardDeclined");
  EXPECT_EQ(history2["events"][4]["activityFailedEventDetails"]["cause"], "insufficient funds");

  // Bad tokens and missing activities.
  CliResult junk = cli({"send-task-heartbeat", "--task-token", "junk"});
  EXPECT_NE(junk.err.find("An error occurred (InvalidToken) when calling the SendTaskHeartbeat "
                          "operation"),
            std::string::npos)
      << junk.err;
  // delete-activity; then polling it is ActivityDoesNotExist.
  EXPECT_EQ(cli({"delete-activity", "--activity-arn", activity}).code, 0);
  CliResult gone = cli({"get-activity-task", "--activity-arn", activity});
  EXPECT_NE(gone.err.find("An error occurred (ActivityDoesNotExist) when calling the "
                          "GetActivityTask operation: Activity Does Not Exist: '" +
                          activity + "'"),
            std::string::npos)
      << gone.err;
}

// AWS: the model sends StartSyncExecution to "sync-" + the endpoint's host, so the CLI given
// --endpoint-url http://127.0.0.1:PORT calls http://sync-127.0.0.1:PORT/, which no resolver
// knows. Users get past it as docs/aws-api.md says; this drives both ways with the real CLI.
TEST_F(AwsCliTest, StartSyncExecution) {
  const std::string port = std::to_string(stepd_.port());
  const std::string machine =
      ok({"create-state-machine", "--name", "Quick", "--type", "EXPRESS", "--definition", kPass,
          "--role-arn", kRole})
          .value("stateMachineArn", "");
  ASSERT_EQ(machine, "arn:aws:states:local:000000000000:stateMachine:Quick");

  // Any CLI: a user name in the endpoint URL takes the prefix ("sync-stepd@127.0.0.1:PORT"), so
  // the request still goes to 127.0.0.1 with "Host: 127.0.0.1:PORT", signed for that host.
  const CliOptions user_in_url{"http://stepd@127.0.0.1:" + port, {}};
  Json r = ok({"start-sync-execution", "--state-machine-arn", machine, "--name", "s1", "--input",
               R"({"x":1})"},
              user_in_url);
  EXPECT_EQ(r["status"], "SUCCEEDED") << r.dump();
  EXPECT_EQ(r["executionArn"], "arn:aws:states:local:000000000000:execution:Quick:s1");
  EXPECT_EQ(r["stateMachineArn"], machine);
  EXPECT_EQ(r["name"], "s1");
  EXPECT_EQ(r["input"], R"({"x":1})");
  EXPECT_EQ(r["inputDetails"], (Json{{"included", true}}));
  EXPECT_EQ(r["output"], R"({"x":1,"r":"done"})");
  EXPECT_EQ(r["outputDetails"], (Json{{"included", true}}));
  EXPECT_TRUE(std::regex_match(r.value("startDate", ""), kIsoTime)) << r.dump();
  EXPECT_TRUE(std::regex_match(r.value("stopDate", ""), kIsoTime)) << r.dump();
  EXPECT_FALSE(r.contains("error")) << r.dump();

  // AWS: an execution that fails is still a successful call (exit 0) that reports FAILED.
  const std::string failing =
      ok({"create-state-machine", "--name", "Broken", "--type", "EXPRESS", "--definition",
          R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"bad"}}})",
          "--role-arn", kRole})
          .value("stateMachineArn", "");
  Json f = ok({"start-sync-execution", "--state-machine-arn", failing, "--name", "s2"},
              user_in_url);
  EXPECT_EQ(f["status"], "FAILED") << f.dump();
  EXPECT_EQ(f["error"], "Boom");
  EXPECT_EQ(f["cause"], "bad");
  EXPECT_EQ(f["input"], "{}");
  EXPECT_FALSE(f.contains("output")) << f.dump();

  // CLIs since early 2025 read `disable_host_prefix_injection` from the config file (or
  // AWS_DISABLE_HOST_PREFIX_INJECTION); Debian 12's (awscli 2.9.19) does not. Which kind this
  // is shows without a name lookup: through a proxy that refuses, --debug prints the URL the CLI
  // would have called.
  std::ofstream(home_ / "config", std::ios::app) << "disable_host_prefix_injection = true\n";
  const std::string proxy = "http://127.0.0.1:" + std::to_string(closed_port());
  CliResult probe = cli({"start-sync-execution", "--state-machine-arn", machine, "--debug"},
                        {"", {{"HTTP_PROXY", proxy}, {"NO_PROXY", ""}, {"AWS_MAX_ATTEMPTS", "1"}}});
  EXPECT_NE(probe.code, 0);
  const bool plain = probe.err.find("'url': '" + endpoint_ + "/'") != std::string::npos;
  const bool prefixed =
      probe.err.find("'url': 'http://sync-127.0.0.1:" + port + "/'") != std::string::npos;
  ASSERT_NE(plain, prefixed) << "the CLI's debug output names neither URL:\n"
                             << probe.err.substr(0, 20000);
  if (prefixed) {
    std::cout << "[ NOTE     ] " << aws_ << " ignores disable_host_prefix_injection: the URL "
              << "with a user name is its way to StartSyncExecution\n";
    return;
  }
  Json plain_run = ok({"start-sync-execution", "--state-machine-arn", machine, "--name", "s3",
                       "--input", R"({"x":3})"});
  EXPECT_EQ(plain_run["status"], "SUCCEEDED") << plain_run.dump();
  EXPECT_EQ(plain_run["output"], R"({"x":3,"r":"done"})");
}

// A client whose "sync-" host resolves (an /etc/hosts line "127.0.0.1 sync-localhost" with
// --endpoint-url http://localhost:PORT) sends "Host: sync-localhost:PORT" and signs that host.
// stepd serves the request whatever the Host names, and checks the signature against the Host
// as sent. The request is made here and signed with the SigV4 code that the CLI's signatures
// are checked with (tests/server/security).
TEST_F(AwsCliTest, StartSyncExecutionSentToTheSyncPrefixedHost) {
  test::StepdProcess keyed;
  const std::string secret = "sync-host-secret-0123456789";
  const auto keys = keyed.dir() / "keys.json";
  std::ofstream(keys) << R"([{"id":"ci","secret":")" << secret << R"(","role":"admin"}])";
  test::StepdOptions options;
  options.args = {"--api-keys-file", keys.string()};
  ASSERT_TRUE(keyed.start(options)) << keyed.log();
  const std::string port = std::to_string(keyed.port());
  const CliOptions as_ci{"http://127.0.0.1:" + port,
                         {{"AWS_ACCESS_KEY_ID", "ci"}, {"AWS_SECRET_ACCESS_KEY", secret}}};
  const std::string machine =
      ok({"create-state-machine", "--name", "Quick", "--type", "EXPRESS", "--definition", kPass,
          "--role-arn", kRole},
         as_ci)
          .value("stateMachineArn", "");
  ASSERT_FALSE(machine.empty());

  const std::string body =
      Json{{"stateMachineArn", machine}, {"name", "h1"}, {"input", R"({"x":2})"}}.dump();
  char amz_date[32];
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  std::strftime(amz_date, sizeof amz_date, "%Y%m%dT%H%M%SZ", &utc);
  const std::string date(amz_date, 8);
  const std::string scope = date + "/us-east-1/states/aws4_request";
  // Signs the request as a client that sends `host` would.
  auto signed_headers = [&](const std::string& host) {
    server::HttpRequest req;
    req.method = "POST";
    req.target = "/";
    req.path = "/";
    req.body = body;
    req.headers = {{"Content-Type", "application/x-amz-json-1.0"},
                   {"Host", host},
                   {"X-Amz-Date", amz_date},
                   {"X-Amz-Target", "AWSStepFunctions.StartSyncExecution"}};
    const std::string canonical = server::security::sigv4_canonical_request(
        req, {"content-type", "host", "x-amz-date", "x-amz-target"});
    const std::string signature = server::security::sigv4_signature(
        secret, date, "us-east-1", "states",
        server::security::sigv4_string_to_sign(amz_date, scope, canonical));
    test::HeaderList h;
    for (const server::Header& x : req.headers) h.emplace_back(x.name, x.value);
    h.emplace_back("Authorization",
                   "AWS4-HMAC-SHA256 Credential=ci/" + scope +
                       ", SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" +
                       signature);
    return h;
  };

  const std::string sync_host = "sync-localhost:" + port;
  test::HttpReply reply = test::http_request(keyed.port(), "POST", "/", body,
                                             signed_headers(sync_host));
  ASSERT_EQ(reply.status, 200) << reply.body << "\n" << keyed.log();
  Json r = Json::parse(reply.body);
  EXPECT_EQ(r["status"], "SUCCEEDED") << reply.body;
  EXPECT_EQ(r["executionArn"], "arn:aws:states:local:000000000000:execution:Quick:h1");
  EXPECT_EQ(r["output"], R"({"x":2,"r":"done"})");

  // The Host is part of what is signed: the signature made for "localhost:PORT" does not pass
  // with "Host: sync-localhost:PORT".
  test::HeaderList forged = signed_headers("localhost:" + port);
  for (auto& [name, value] : forged) {
    if (name == "Host") value = sync_host;
  }
  test::HttpReply refused = test::http_request(keyed.port(), "POST", "/", body, forged);
  EXPECT_EQ(refused.status, 401) << refused.body;
  EXPECT_EQ(Json::parse(refused.body, nullptr, false).value("__type", ""),
            "InvalidSignatureException")
      << refused.body;
}

}  // namespace
}  // namespace stepd
