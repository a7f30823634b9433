// The AWS CLI against a real stepd process: Debian's `aws` (awscli 2) talks to stepd over HTTP
// with SigV4-signed requests and dummy credentials, exactly as it would talk to AWS: state
// machines and executions, and activities with their task tokens (a worker's poll, heartbeat,
// success and failure as the CLI sends them).
//
// Skips (with the reason) when the `aws` program or the stepd binary (STEPD_PATH) is missing.
#include "tests/server/process/stepd_process.hpp"

#include "asl/core/json.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace stepd {
namespace {

using asl::Json;
using namespace std::chrono_literals;

// Debian's awscli first, then whatever `aws` PATH finds.
std::string find_aws() {
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
  }

  // Runs `aws stepfunctions ARGS...` against stepd with dummy credentials and a private HOME.
  CliResult cli(std::vector<std::string> args) {
    std::vector<std::string> argv = {aws_, "stepfunctions"};
    argv.insert(argv.end(), args.begin(), args.end());
    for (const char* a :
         {"--endpoint-url", endpoint_.c_str(), "--region", "us-east-1", "--output", "json"}) {
      argv.emplace_back(a);
    }
    if (aws_version_major() >= 2) argv.emplace_back("--no-cli-pager");

    std::vector<std::string> env = {
        "HOME=" + home_.string(),
        "PATH=/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID=AKIDSTEPDTEST",
        "AWS_SECRET_ACCESS_KEY=stepd-test-secret",
        "AWS_EC2_METADATA_DISABLED=true",
        "AWS_CONFIG_FILE=" + (home_ / "config").string(),
        "AWS_SHARED_CREDENTIALS_FILE=" + (home_ / "credentials").string(),
        "AWS_PAGER=",
        "NO_PROXY=*",
        "LANG=C.UTF-8",
    };
    const auto out_path = stepd_.dir() / ("cli-" + std::to_string(++runs_) + ".out");
    const auto err_path = stepd_.dir() / ("cli-" + std::to_string(runs_) + ".err");

    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    std::vector<char*> cenv;
    for (auto& e : env) cenv.push_back(e.data());
    cenv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, cargv[0], &actions, nullptr, cargv.data(), cenv.data());
    posix_spawn_file_actions_destroy(&actions);
    CliResult r;
    if (rc != 0) {
      r.err = "posix_spawn failed";
      return r;
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out_path);
    r.err = read_file(err_path);
    return r;
  }

  // Runs and expects success with a JSON answer.
  Json ok(std::vector<std::string> args) {
    const std::string what = args.empty() ? "" : args[0];
    CliResult r = cli(std::move(args));
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

}  // namespace
}  // namespace stepd
