// Runs the built stepctl binary (STEPCTL_PATH) against a real stepd process (STEPD_PATH): every
// server command, its human and --json output, its exit codes, and where it finds the server.
#include "tests/server/process/stepd_process.hpp"
#include "tests/support/child_process.hpp"

#include <nlohmann/json.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <pty.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stepd::cli {
namespace {

using nlohmann::json;
using testing::HasSubstr;
using testing::Not;
using testing::StartsWith;
namespace fs = std::filesystem;

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// How to run stepctl.
struct RunOptions {
  std::string stdin_text;                  // standard input ("" : /dev/null)
  std::map<std::string, std::string> env;  // more environment variables
  bool endpoint_env = true;                // set STEPD_ENDPOINT to the test server
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) out.push_back(line);
  return out;
}

// A stepctl process started in the background (--follow).
struct Spawned {
  pid_t pid = -1;
  fs::path out;
  fs::path err;
};

class StepctlServerTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    server_ = new test::StepdProcess();
    ASSERT_TRUE(server_->start()) << server_->log();
  }
  static void TearDownTestSuite() {
    if (server_ != nullptr) server_->stop();
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(server_, nullptr);
    ASSERT_GT(server_->port(), 0) << server_->log();
    name_ = testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = fs::temp_directory_path() /
           ("stepctl_server_test_" + std::to_string(::getpid()) + "_" + name_);
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::string endpoint() { return "http://127.0.0.1:" + std::to_string(server_->port()); }

  // A name unique to this test (tests of one process share a server).
  std::string unique(const std::string& what) const { return name_ + "-" + what; }

  std::string write(const std::string& file, const std::string& text) {
    fs::path p = dir_ / file;
    std::ofstream(p, std::ios::binary) << text;
    return p.string();
  }

  Spawned spawn(const std::vector<std::string>& args, const RunOptions& o = {}) {
    static int counter = 0;
    ++counter;
    Spawned s;
    s.out = dir_ / ("out-" + std::to_string(counter) + ".txt");
    s.err = dir_ / ("err-" + std::to_string(counter) + ".txt");
    const fs::path in = dir_ / ("in-" + std::to_string(counter) + ".txt");
    std::ofstream(in, std::ios::binary) << o.stdin_text;

    std::vector<std::string> args_s = {STEPCTL_PATH};
    args_s.insert(args_s.end(), args.begin(), args.end());
    std::map<std::string, std::string> env = o.env;
    if (o.endpoint_env && env.count("STEPD_ENDPOINT") == 0) env["STEPD_ENDPOINT"] = endpoint();
    test::ChildOptions child;
    child.env = test::child_environment(env, [](const std::string& name) {
      return name.rfind("STEPD_", 0) == 0 || name == "NO_COLOR" || name == "TZ";
    });
    child.stdin_path = in;
    child.stdout_path = s.out;
    child.stderr_path = s.err;
    const test::SpawnedChild spawned = test::spawn_child(std::move(args_s), child);
    EXPECT_GT(spawned.pid, 0) << spawned.error;
    s.pid = spawned.pid;
    return s;
  }

  // Waits for a spawned stepctl (killing it after `timeout`: exit_code -1).
  Outcome finish(const Spawned& s, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    Outcome r;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    int status = 0;
    while (true) {
      const pid_t w = ::waitpid(s.pid, &status, WNOHANG);
      if (w == s.pid) {
        r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        break;
      }
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(s.pid, SIGKILL);
        ::waitpid(s.pid, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    r.out = slurp(s.out);
    r.err = slurp(s.err);
    return r;
  }

  Outcome stepctl(const std::vector<std::string>& args, const RunOptions& o = {}) {
    return finish(spawn(args, o));
  }

  // Runs stepctl with --json and parses its standard output; the exit code must be `expect`.
  json stepctl_json(std::vector<std::string> args, int expect = 0, const RunOptions& o = {}) {
    args.push_back("--json");
    Outcome r = stepctl(args, o);
    EXPECT_EQ(r.exit_code, expect) << r.err << r.out;
    json out = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(out.is_discarded()) << "not JSON: " << r.out << r.err;
    return out;
  }

  // Creates a state machine; returns its ARN.
  std::string create_machine(const std::string& name, const std::string& definition,
                             const std::string& type = "STANDARD") {
    json out = stepctl_json({"machines", "create", name, "--definition",
                             write(name + ".json", definition), "--type", type});
    return out.value("stateMachineArn", "");
  }

  // Starts an execution and waits for its end; returns the --json description.
  json run_execution(const std::string& machine, const std::string& input, int expect = 0) {
    return stepctl_json({"executions", "start", machine, "--input", input, "--wait"}, expect);
  }

  static test::StepdProcess* server_;
  std::string name_;
  fs::path dir_;
};

test::StepdProcess* StepctlServerTest::server_ = nullptr;

constexpr const char* kPass = R"({"StartAt":"P","States":{
    "P":{"Type":"Pass","Result":"done","ResultPath":"$.result","End":true}}})";

constexpr const char* kFailing = R"({"StartAt":"F","States":{
    "F":{"Type":"Fail","Error":"Order.Rejected","Cause":"out of stock"}}})";

constexpr const char* kInvalid = R"({"StartAt":"A","States":{
    "A":{"Type":"Choice","Choices":[{"Variable":"$.x","IsPresent":true,"Next":"B"}],
         "Default":"Nowhere"},
    "B":{"Type":"Succeed"}}})";

std::string waiting(int seconds) {
  return R"({"StartAt":"Before","States":{
      "Before":{"Type":"Pass","Next":"Pause"},
      "Pause":{"Type":"Wait","Seconds":)" +
         std::to_string(seconds) + R"(,"Next":"After"},
      "After":{"Type":"Pass","Result":{"waited":true},"End":true}}})";
}

std::string activity_machine(const std::string& activity_arn) {
  return R"({"StartAt":"Work","States":{"Work":{"Type":"Task","Resource":")" + activity_arn +
         R"(","End":true}}})";
}

const std::regex kRfc3339(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
const std::regex kLocalTime(R"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)");

// Checks that every line of a table starts its column `column` where the header does (a line
// that ends before it has the cell and those after it empty).
void expect_aligned(const std::string& table, const std::string& column) {
  std::vector<std::string> lines = lines_of(table);
  ASSERT_GT(lines.size(), 1u) << table;
  const auto at = lines[0].find(column);
  ASSERT_NE(at, std::string::npos) << lines[0];
  std::size_t checked = 0;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    if (lines[i].size() <= at) continue;
    ++checked;
    EXPECT_NE(lines[i][at], ' ') << "column " << column << " of line " << i << ": " << lines[i];
    EXPECT_EQ(lines[i][at - 1], ' ') << "column " << column << " of line " << i << ": " << lines[i];
  }
  EXPECT_GT(checked, 0u) << "no row has column " << column << ":\n" << table;
}

// A port nothing listens on: bound, then closed.
int closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// --- Help and usage --------------------------------------------------------------------------

TEST_F(StepctlServerTest, HelpDocumentsEveryExitCodeAndTheEndpoint) {
  Outcome r = stepctl({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.out, HasSubstr("  1  the definition is invalid / the execution ended FAILED"));
  EXPECT_THAT(r.out, HasSubstr("  3  the server answered an error"));
  EXPECT_THAT(r.out, HasSubstr("  4  no answer from the server"));
  EXPECT_THAT(r.out, HasSubstr("$STEPD_ENDPOINT"));
  for (const char* group : {"machines", "executions", "activities", "tasks", "routes", "audit"}) {
    EXPECT_THAT(r.out, HasSubstr(std::string("\n  ") + group)) << group;
  }
}

TEST_F(StepctlServerTest, BadArgumentsExit2) {
  Outcome none = stepctl({"executions", "start"});
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_THAT(none.err, HasSubstr("MACHINE is required"));
  Outcome status = stepctl({"executions", "list", "--status", "SLEEPING"});
  EXPECT_EQ(status.exit_code, 2);
  EXPECT_THAT(status.err, HasSubstr("SLEEPING"));
  Outcome group = stepctl({"machines"});
  EXPECT_EQ(group.exit_code, 2);
  Outcome input = stepctl({"executions", "start", "M", "--input", "{\"a\":"});
  EXPECT_EQ(input.exit_code, 2);
  EXPECT_THAT(input.err,
              StartsWith("stepctl: --input is not valid JSON: parse error at line 1, column 6"));
  Outcome both =
      stepctl({"executions", "start", "M", "--input", "{}", "--input-file", write("i", "{}")});
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_THAT(both.err, HasSubstr("excludes"));
  Outcome kind = stepctl({"routes", "set", "lambda", "f", "http://127.0.0.1:9/"});
  EXPECT_EQ(kind.exit_code, 2);
  Outcome reference = stepctl({"executions", "describe", "no-colon"});
  EXPECT_EQ(reference.exit_code, 2);
  EXPECT_EQ(reference.err,
            "stepctl: 'no-colon' is not an execution: give its ARN or MACHINE:NAME (e.g. "
            "Orders:run-1)\n");
  Outcome definition =
      stepctl({"machines", "create", "x", "--definition", write("bad.json", "{oops")});
  EXPECT_EQ(definition.exit_code, 2);
  EXPECT_THAT(definition.err, HasSubstr("is not valid JSON"));
  Outcome timeout = stepctl({"executions", "start", "M", "--timeout", "3"});
  EXPECT_EQ(timeout.exit_code, 2);
  EXPECT_EQ(timeout.err, "stepctl: --timeout needs --wait\n");
}

// --- Where the server is -----------------------------------------------------------------------

TEST_F(StepctlServerTest, RefusedConnectionExits4) {
  const std::string dead = "http://127.0.0.1:" + std::to_string(closed_port());
  Outcome r = stepctl({"machines", "list", "--endpoint", dead});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("stepctl: no answer from the server at " + dead +
                                ": cannot connect to 127.0.0.1:"));
  // The same through the environment variable.
  RunOptions env;
  env.env["STEPD_ENDPOINT"] = dead;
  Outcome via_env = stepctl({"executions", "list"}, env);
  EXPECT_EQ(via_env.exit_code, 4);
  EXPECT_THAT(via_env.err, HasSubstr(dead));
}

TEST_F(StepctlServerTest, EndpointFromEnvironmentAndFlag) {
  const std::string arn = create_machine(unique("m"), kPass);
  // Only the environment variable.
  RunOptions env;
  env.endpoint_env = false;
  env.env["STEPD_ENDPOINT"] = endpoint();
  Outcome r = stepctl({"machines", "list"}, env);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(arn));
  // The flag wins over the variable, before or after the command.
  RunOptions wrong;
  wrong.env["STEPD_ENDPOINT"] = "http://127.0.0.1:" + std::to_string(closed_port());
  Outcome before = stepctl({"--endpoint", endpoint(), "machines", "describe", unique("m")}, wrong);
  EXPECT_EQ(before.exit_code, 0) << before.err;
  EXPECT_THAT(before.out, HasSubstr(arn));
  Outcome after = stepctl({"machines", "describe", unique("m"), "--endpoint", endpoint()}, wrong);
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_THAT(after.out, HasSubstr(arn));
  // An endpoint that is not http://HOST[:PORT] is a usage error.
  Outcome bad = stepctl({"machines", "list", "--endpoint", "https://127.0.0.1:1"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("Invalid endpoint 'https://127.0.0.1:1'"));
}

TEST_F(StepctlServerTest, ApiKeyIsSentFromFlagOrEnvironment) {
  // A server with API keys: no key is refused (3), the key from the flag or the variable works.
  test::StepdProcess secured;
  const fs::path keys = secured.dir() / "keys.json";
  std::ofstream(keys) << R"([{"id":"ops","secret":"s3cret-admin-key","role":"admin"}])";
  test::StepdOptions options;
  options.args = {"--api-keys-file", keys.string()};
  ASSERT_TRUE(secured.start(options)) << secured.log();
  RunOptions o;
  o.env["STEPD_ENDPOINT"] = "http://127.0.0.1:" + std::to_string(secured.port());
  Outcome anonymous = stepctl({"machines", "list"}, o);
  EXPECT_EQ(anonymous.exit_code, 3) << anonymous.out << anonymous.err << secured.log();
  Outcome flag = stepctl({"machines", "list", "--api-key", "s3cret-admin-key"}, o);
  EXPECT_EQ(flag.exit_code, 0) << flag.err << secured.log();
  EXPECT_EQ(flag.out, "NAME  TYPE  CREATED  ARN\n");
  o.env["STEPD_API_KEY"] = "s3cret-admin-key";
  Outcome env = stepctl({"machines", "list"}, o);
  EXPECT_EQ(env.exit_code, 0) << env.err;
}

// --- Machines ----------------------------------------------------------------------------------

TEST_F(StepctlServerTest, MachinesCreateListDescribeDelete) {
  const std::string name = unique("orders");
  Outcome created = stepctl({"machines", "create", name, "-d", write("m.json", kPass)});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(created.out, m,
                        std::regex("^Created: (arn:aws:states:[^:]+:[0-9]+:stateMachine:" + name +
                                   ")\nDate:    \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\n$")))
      << created.out;
  const std::string arn = m[1];

  // A second machine, created with --json.
  json second = stepctl_json({"machines", "create", unique("billing"), "--definition",
                              write("b.json", kPass), "--type", "EXPRESS"});
  EXPECT_THAT(second.value("stateMachineArn", ""), testing::EndsWith(":" + unique("billing")));
  EXPECT_TRUE(std::regex_match(second.value("creationDate", ""), kRfc3339)) << second;

  Outcome list = stepctl({"machines", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, StartsWith("NAME"));
  EXPECT_THAT(list.out, HasSubstr(name + "  "));
  EXPECT_THAT(list.out, HasSubstr("EXPRESS"));
  expect_aligned(list.out, "TYPE");
  expect_aligned(list.out, "CREATED");
  expect_aligned(list.out, "ARN");

  json listed = stepctl_json({"machines", "list"});
  bool found = false;
  for (const json& item : listed["stateMachines"]) {
    if (item["name"] == name) {
      found = true;
      EXPECT_EQ(item["stateMachineArn"], arn);
      EXPECT_EQ(item["type"], "STANDARD");
    }
  }
  EXPECT_TRUE(found) << listed;
  json one = stepctl_json({"machines", "list", "--max", "1"});
  EXPECT_EQ(one["stateMachines"].size(), 1u);

  // Describe by name and by ARN.
  Outcome described = stepctl({"machines", "describe", name});
  ASSERT_EQ(described.exit_code, 0) << described.err;
  EXPECT_THAT(described.out, StartsWith("Name:       " + name + "\nARN:        " + arn +
                                        "\nType:       STANDARD\nStatus:     ACTIVE\n"));
  EXPECT_THAT(described.out, HasSubstr("Definition: {\n              \"StartAt\": \"P\",\n"));
  json d = stepctl_json({"machines", "describe", arn});
  EXPECT_EQ(d["name"], name);
  EXPECT_EQ(d["definition"], json::parse(kPass));
  EXPECT_EQ(d["status"], "ACTIVE");
  EXPECT_EQ(d["roleArn"], "arn:aws:iam::000000000000:role/stepd");

  Outcome deleted = stepctl({"machines", "delete", name});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleted " + arn + "\n");
  Outcome gone = stepctl({"machines", "describe", name});
  EXPECT_EQ(gone.exit_code, 3);
  EXPECT_EQ(gone.err,
            "stepctl: StateMachineDoesNotExist: no state machine is named '" + name + "'\n");
  // By ARN the server says so.
  Outcome gone_arn = stepctl({"machines", "describe", arn});
  EXPECT_EQ(gone_arn.exit_code, 3);
  EXPECT_THAT(gone_arn.err, StartsWith("stepctl: StateMachineDoesNotExist: "));
}

TEST_F(StepctlServerTest, MachinesCreateRejectsAnInvalidDefinition) {
  Outcome r = stepctl({"machines", "create", unique("bad"), "-d", write("m.json", kInvalid)});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("stepctl: InvalidDefinition: "));
  EXPECT_THAT(r.err, HasSubstr("Nowhere"));
}

TEST_F(StepctlServerTest, MachinesUpdateAndDeploy) {
  const std::string name = unique("m");
  const std::string arn = create_machine(name, kPass);
  const std::string changed = R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})";
  Outcome updated = stepctl({"machines", "update", name, "-d", write("u.json", changed)});
  ASSERT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_THAT(updated.out, StartsWith("Updated:  " + arn + "\nRevision: "));
  json d = stepctl_json({"machines", "describe", name});
  EXPECT_EQ(d["definition"], json::parse(changed));
  EXPECT_EQ(stepctl({"machines", "update", name}).exit_code, 2);

  // deploy: unchanged, updated, created.
  const std::string file = write("d.json", changed);
  json same = stepctl_json({"machines", "deploy", name, "-d", file});
  EXPECT_EQ(same["action"], "unchanged");
  EXPECT_EQ(same["stateMachineArn"], arn);
  json again = stepctl_json({"machines", "deploy", name, "-d", write("p.json", kPass)});
  EXPECT_EQ(again["action"], "updated");
  EXPECT_EQ(stepctl_json({"machines", "describe", arn})["definition"], json::parse(kPass));
  Outcome created = stepctl({"machines", "deploy", unique("new"), "-d", file});
  EXPECT_EQ(created.exit_code, 0) << created.err;
  EXPECT_THAT(created.out, HasSubstr("Action:        created\n"));
}

TEST_F(StepctlServerTest, MachinesValidateOnTheServerMatchesOfflineValidate) {
  const std::string file = write("m.json", kInvalid);
  Outcome server = stepctl({"machines", "validate", file});
  EXPECT_EQ(server.exit_code, 1) << server.err;
  Outcome offline = stepctl({"validate", file});
  EXPECT_EQ(offline.exit_code, 1);
  EXPECT_EQ(server.out, offline.out);
  EXPECT_EQ(server.out,
            "/States/A/Default: there is no state named 'Nowhere' [MISSING_TRANSITION_TARGET]\n");
  json j = stepctl_json({"machines", "validate", file}, 1);
  EXPECT_EQ(j["result"], "FAIL");
  ASSERT_EQ(j["diagnostics"].size(), 1u);
  EXPECT_EQ(j["diagnostics"][0]["code"], "MISSING_TRANSITION_TARGET");
  EXPECT_EQ(j["diagnostics"][0]["location"], "/States/A/Default");
  Outcome valid = stepctl({"machines", "validate", write("ok.json", kPass)});
  EXPECT_EQ(valid.exit_code, 0);
  EXPECT_EQ(valid.out, "valid\n");
}

// --- Executions --------------------------------------------------------------------------------

TEST_F(StepctlServerTest, StartInputFromArgumentFileAndStdin) {
  const std::string machine = unique("m");
  create_machine(machine, kPass);
  json from_arg = run_execution(machine, R"({"from":"argument"})");
  EXPECT_EQ(from_arg["status"], "SUCCEEDED");
  EXPECT_EQ(from_arg["output"], json::parse(R"({"from":"argument","result":"done"})"));
  EXPECT_EQ(from_arg["input"], json::parse(R"({"from":"argument"})"));

  json from_file = stepctl_json({"executions", "start", machine, "--input-file",
                                 write("in.json", R"({"from":"file"})"), "--wait"});
  EXPECT_EQ(from_file["output"], json::parse(R"({"from":"file","result":"done"})"));

  RunOptions piped;
  piped.stdin_text = R"({"from":"stdin"})";
  json from_stdin = stepctl_json({"executions", "start", machine, "-", "--wait"}, 0, piped);
  EXPECT_EQ(from_stdin["output"], json::parse(R"({"from":"stdin","result":"done"})"));
  json via_dash_file =
      stepctl_json({"executions", "start", machine, "--input-file", "-", "--wait"}, 0, piped);
  EXPECT_EQ(via_dash_file["output"], json::parse(R"({"from":"stdin","result":"done"})"));

  // No input at all is {}.
  json empty = stepctl_json({"executions", "start", machine, "--wait"});
  EXPECT_EQ(empty["output"], json::parse(R"({"result":"done"})"));

  // Standard input that is not JSON.
  piped.stdin_text = "nope";
  Outcome bad = stepctl({"executions", "start", machine, "-"}, piped);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, StartsWith("stepctl: the standard input is not valid JSON: "));
}

TEST_F(StepctlServerTest, StartWaitHumanOutputAndExitCodes) {
  const std::string ok = unique("ok");
  create_machine(ok, kPass);
  Outcome r =
      stepctl({"executions", "start", ok, "--input", R"({"n":1})", "--wait", "--name", "first"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("Name:          first\nARN:           arn:aws:states:"));
  EXPECT_THAT(r.out, HasSubstr(":execution:" + ok + ":first\n"));
  EXPECT_THAT(r.out, HasSubstr("\nStatus:        SUCCEEDED\n"));  // no colour: not a terminal
  EXPECT_THAT(r.out, HasSubstr("\nOutput:        {\n                 \"n\": 1,\n"));

  const std::string bad = unique("bad");
  create_machine(bad, kFailing);
  Outcome failed = stepctl({"executions", "start", bad, "--wait"});
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_THAT(failed.out, HasSubstr("Status:        FAILED\n"));
  EXPECT_THAT(failed.out,
              HasSubstr("Error:         Order.Rejected\nCause:         out of stock\n"));
  json j = run_execution(bad, "{}", 1);
  EXPECT_EQ(j["status"], "FAILED");
  EXPECT_EQ(j["error"], "Order.Rejected");
  EXPECT_EQ(j["redriveStatus"], "REDRIVABLE");

  // Without --wait: the ARN at once, exit 0 whatever becomes of it.
  json started = stepctl_json({"executions", "start", bad, "--name", "later"});
  EXPECT_THAT(started.value("executionArn", ""), testing::EndsWith(":" + bad + ":later"));
  EXPECT_TRUE(std::regex_match(started.value("startDate", ""), kRfc3339)) << started;
  // describe exits 0 for a failed execution; wait exits 1.
  Outcome waited = stepctl({"executions", "wait", bad + ":later"});
  EXPECT_EQ(waited.exit_code, 1) << waited.err;
  Outcome described = stepctl({"executions", "describe", bad + ":later"});
  EXPECT_EQ(described.exit_code, 0) << described.err;
  EXPECT_THAT(described.out, HasSubstr("Status:        FAILED\n"));
}

TEST_F(StepctlServerTest, StartWaitOnExpressUsesSyncExecution) {
  const std::string machine = unique("express");
  create_machine(machine, kPass, "EXPRESS");
  json j = run_execution(machine, R"({"fast":true})");
  EXPECT_EQ(j["status"], "SUCCEEDED");
  EXPECT_EQ(j["output"], json::parse(R"({"fast":true,"result":"done"})"));
}

TEST_F(StepctlServerTest, WaitTimeoutExits4) {
  const std::string machine = unique("slow");
  create_machine(machine, waiting(60));
  Outcome r =
      stepctl({"executions", "start", machine, "--name", "x", "--wait", "--timeout", "0.5"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("stepctl: the execution is still RUNNING after 0.5 s: arn:"));
  stepctl({"executions", "stop", machine + ":x"});
}

TEST_F(StepctlServerTest, WaitTimeoutOfAnExpressExecutionExits4) {
  const std::string machine = unique("slow");
  create_machine(machine, waiting(3), "EXPRESS");
  const auto start = std::chrono::steady_clock::now();
  Outcome r = stepctl({"executions", "start", machine, "--wait", "--timeout", "0.5"});
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(2500));
  EXPECT_EQ(r.exit_code, 4) << r.out << r.err;
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("stepctl: no answer from the server at " + endpoint()));
  EXPECT_THAT(r.err, HasSubstr("500 ms"));
}

TEST_F(StepctlServerTest, ExecutionsDescribeNotFoundExits3) {
  const std::string machine = unique("m");
  const std::string arn = create_machine(machine, kPass);
  Outcome r = stepctl({"executions", "describe", machine + ":never"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, StartsWith("stepctl: ExecutionDoesNotExist: "));
  Outcome unknown_machine = stepctl({"executions", "describe", unique("nomachine") + ":x"});
  EXPECT_EQ(unknown_machine.exit_code, 3);
  EXPECT_THAT(unknown_machine.err, HasSubstr("no state machine is named"));
  Outcome history = stepctl({"executions", "history", machine + ":never"});
  EXPECT_EQ(history.exit_code, 3);
}

TEST_F(StepctlServerTest, ExecutionsListFiltersAndPages) {
  const std::string ok = unique("ok");
  const std::string bad = unique("bad");
  const std::string ok_arn = create_machine(ok, kPass);
  create_machine(bad, kFailing);
  for (int i = 0; i < 3; ++i) run_execution(ok, "{}");
  json failed = run_execution(bad, "{}", 1);

  json all_ok = stepctl_json({"executions", "list", "--machine", ok});
  ASSERT_EQ(all_ok["executions"].size(), 3u) << all_ok;
  for (const json& x : all_ok["executions"]) {
    EXPECT_EQ(x["stateMachineArn"], ok_arn);
    EXPECT_EQ(x["status"], "SUCCEEDED");
    EXPECT_TRUE(std::regex_match(x.value("stopDate", ""), kRfc3339)) << x;
  }
  json only_failed = stepctl_json({"executions", "list", "--status", "FAILED"});
  bool found = false;
  for (const json& x : only_failed["executions"]) {
    EXPECT_EQ(x["status"], "FAILED");
    if (x["executionArn"] == failed["executionArn"]) found = true;
  }
  EXPECT_TRUE(found) << only_failed;
  json none = stepctl_json({"executions", "list", "--machine", ok, "--status", "FAILED"});
  EXPECT_EQ(none["executions"].size(), 0u);
  json two = stepctl_json({"executions", "list", "--machine", ok, "--max", "2"});
  EXPECT_EQ(two["executions"].size(), 2u);

  Outcome table = stepctl({"executions", "list", "--machine", ok});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> lines = lines_of(table.out);
  ASSERT_EQ(lines.size(), 4u) << table.out;
  EXPECT_TRUE(
      std::regex_search(lines[0], std::regex("^NAME +STATUS +MACHINE +STARTED +STOPPED +ARN$")))
      << lines[0];
  for (std::size_t i = 1; i < lines.size(); ++i) {
    EXPECT_THAT(lines[i], HasSubstr("SUCCEEDED  " + ok + "  "));
    EXPECT_TRUE(std::regex_search(lines[i], kLocalTime)) << lines[i];
  }
  expect_aligned(table.out, "MACHINE");
  expect_aligned(table.out, "STOPPED");
  expect_aligned(table.out, "ARN");
}

TEST_F(StepctlServerTest, HistoryTableDataReverseAndJson) {
  const std::string machine = unique("m");
  create_machine(machine, kPass);
  stepctl_json(
      {"executions", "start", machine, "--name", "h", "--input", R"({"k":"v"})", "--wait"});
  const std::string ref = machine + ":h";

  Outcome table = stepctl({"executions", "history", ref});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  std::vector<std::string> lines = lines_of(table.out);
  ASSERT_EQ(lines.size(), 5u) << table.out;
  EXPECT_TRUE(std::regex_match(lines[0], std::regex("ID +TIME +TYPE +STEP +DETAILS"))) << lines[0];
  EXPECT_TRUE(std::regex_search(
      lines[1], std::regex(R"(^1  +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  ExecutionStarted)")))
      << lines[1];
  EXPECT_TRUE(std::regex_search(lines[2], std::regex(R"(^2  .*PassStateEntered +P$)"))) << lines[2];
  EXPECT_TRUE(std::regex_search(lines[3], std::regex(R"(^3  .*PassStateExited +P$)"))) << lines[3];
  EXPECT_THAT(lines[4], HasSubstr("ExecutionSucceeded"));
  EXPECT_THAT(table.out, Not(HasSubstr("input:")));
  expect_aligned(table.out, "TYPE");
  expect_aligned(table.out, "STEP");

  Outcome data = stepctl({"executions", "history", ref, "--data"});
  ASSERT_EQ(data.exit_code, 0) << data.err;
  EXPECT_THAT(data.out, HasSubstr("PassStateEntered    P\n      input: {\"k\":\"v\"}\n"));
  EXPECT_THAT(
      data.out,
      HasSubstr("PassStateExited     P\n      output: {\"k\":\"v\",\"result\":\"done\"}\n"));

  Outcome reverse = stepctl({"executions", "history", ref, "--reverse"});
  std::vector<std::string> rlines = lines_of(reverse.out);
  ASSERT_EQ(rlines.size(), 5u);
  EXPECT_THAT(rlines[1], StartsWith("4  "));
  EXPECT_THAT(rlines[1], HasSubstr("ExecutionSucceeded"));

  json events = stepctl_json({"executions", "history", ref, "--data"})["events"];
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0]["id"], 1);
  EXPECT_EQ(events[0]["type"], "ExecutionStarted");
  EXPECT_EQ(events[0]["executionStartedEventDetails"]["input"], json::parse(R"({"k":"v"})"));
  EXPECT_TRUE(std::regex_match(events[0].value("timestamp", ""), kRfc3339));
  EXPECT_EQ(events[3]["executionSucceededEventDetails"]["output"],
            json::parse(R"({"k":"v","result":"done"})"));
  // Without --data the payloads are left out.
  json bare = stepctl_json({"executions", "history", ref})["events"];
  EXPECT_FALSE(bare[0]["executionStartedEventDetails"].contains("input")) << bare[0];
}

TEST_F(StepctlServerTest, HistoryShowsErrorsOfFailures) {
  const std::string machine = unique("bad");
  create_machine(machine, kFailing);
  stepctl_json({"executions", "start", machine, "--name", "f", "--wait"}, 1);
  Outcome table = stepctl({"executions", "history", machine + ":f"});
  ASSERT_EQ(table.exit_code, 0);
  EXPECT_THAT(table.out, HasSubstr("ExecutionFailed"));
  EXPECT_THAT(table.out, HasSubstr("Order.Rejected: out of stock\n"));
}

TEST_F(StepctlServerTest, HistoryFollowPrintsEventsAsTheyComeUntilTheEnd) {
  const std::string machine = unique("waits");
  create_machine(machine, waiting(2));
  stepctl_json({"executions", "start", machine, "--name", "live"});
  const auto started = std::chrono::steady_clock::now();
  Spawned follower =
      spawn({"executions", "history", machine + ":live", "--follow", "--interval", "100"});

  // The Wait state's entry shows while the execution (and the follower) still run.
  std::string seen;
  while (std::chrono::steady_clock::now() - started < std::chrono::seconds(10)) {
    seen = slurp(follower.out);
    if (seen.find("WaitStateEntered") != std::string::npos) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ASSERT_THAT(seen, HasSubstr("WaitStateEntered"));
  int status = 0;
  EXPECT_EQ(::waitpid(follower.pid, &status, WNOHANG), 0) << "the follower ended early";
  EXPECT_THAT(seen, Not(HasSubstr("WaitStateExited")));
  EXPECT_THAT(seen, Not(HasSubstr("ExecutionSucceeded")));
  json during = stepctl_json({"executions", "describe", machine + ":live"});
  EXPECT_EQ(during["status"], "RUNNING");

  Outcome r = finish(follower, std::chrono::seconds(30));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  const double took =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(took, 1.5);  // it ended with the execution, not before
  std::vector<std::string> lines = lines_of(r.out);
  ASSERT_GE(lines.size(), 3u) << r.out;
  EXPECT_TRUE(std::regex_match(lines[0], std::regex("ID +TIME +TYPE +STEP +DETAILS")));
  EXPECT_THAT(r.out, HasSubstr("WaitStateExited"));
  EXPECT_THAT(lines[lines.size() - 2], HasSubstr("ExecutionSucceeded"));
  EXPECT_EQ(lines.back(), "Status: SUCCEEDED");
  // Every event once, in order.
  json events = stepctl_json({"executions", "history", machine + ":live"})["events"];
  EXPECT_EQ(lines.size(), events.size() + 2);
  for (std::size_t i = 0; i < events.size(); ++i) {
    EXPECT_THAT(lines[i + 1], StartsWith(std::to_string(events[i]["id"].get<int>()) + " "));
    EXPECT_THAT(lines[i + 1], HasSubstr(events[i]["type"].get<std::string>()));
  }
}

TEST_F(StepctlServerTest, HistoryFollowJsonLinesAndFailedExitCode) {
  const std::string machine = unique("bad");
  create_machine(machine, kFailing);
  stepctl_json({"executions", "start", machine, "--name", "f", "--wait"}, 1);
  Outcome r = stepctl({"executions", "history", machine + ":f", "--follow", "--json"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  std::vector<std::string> lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;  // started, Fail state entered, failed
  for (std::size_t i = 0; i < lines.size(); ++i) {
    json e = json::parse(lines[i]);
    EXPECT_EQ(e["id"], i + 1);
  }
  EXPECT_EQ(json::parse(lines.back())["type"], "ExecutionFailed");
  EXPECT_EQ(json::parse(lines.back())["executionFailedEventDetails"]["error"], "Order.Rejected");
}

TEST_F(StepctlServerTest, StopAndRedrive) {
  const std::string machine = unique("slow");
  create_machine(machine, waiting(60));
  stepctl_json({"executions", "start", machine, "--name", "s"});
  Outcome stopped =
      stepctl({"executions", "stop", machine + ":s", "--error", "Ops.Stop", "--cause", "by hand"});
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_THAT(stopped.out, StartsWith("Stopped: arn:aws:states:"));
  json x = stepctl_json({"executions", "wait", machine + ":s"}, 1);
  EXPECT_EQ(x["status"], "ABORTED");
  EXPECT_EQ(x["error"], "Ops.Stop");
  EXPECT_EQ(x["cause"], "by hand");

  // An aborted execution can be redriven; it runs again (and waits again).
  json redriven = stepctl_json({"executions", "redrive", machine + ":s"});
  EXPECT_TRUE(std::regex_match(redriven.value("redriveDate", ""), kRfc3339)) << redriven;
  json after = stepctl_json({"executions", "describe", machine + ":s"});
  EXPECT_EQ(after["status"], "RUNNING");
  EXPECT_EQ(after["redriveCount"], 1);
  stepctl({"executions", "stop", machine + ":s"});

  // A succeeded execution cannot be redriven: the server's error, exit 3.
  const std::string quick = unique("quick");
  create_machine(quick, kPass);
  stepctl_json({"executions", "start", quick, "--name", "q", "--wait"});
  Outcome refused = stepctl({"executions", "redrive", quick + ":q"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_THAT(refused.err, StartsWith("stepctl: ExecutionNotRedrivable: "));
}

TEST_F(StepctlServerTest, HumanTimesAreLocal) {
  const std::string machine = unique("m");
  create_machine(machine, kPass);
  json x = stepctl_json({"executions", "start", machine, "--name", "t", "--wait"});
  // startDate is UTC; a zone 5 h 30 min east of UTC (POSIX TZ, no tzdata needed) shows it so.
  std::tm tm{};
  const std::string start = x["startDate"];
  ASSERT_NE(strptime(start.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << start;
  std::time_t t = timegm(&tm) + 5 * 3600 + 30 * 60;
  std::tm shifted{};
  gmtime_r(&t, &shifted);
  char expected[32];
  std::strftime(expected, sizeof expected, "%Y-%m-%d %H:%M:%S", &shifted);
  RunOptions india;
  india.env["TZ"] = "IST-5:30";
  Outcome r = stepctl({"executions", "describe", machine + ":t"}, india);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("\nStarted:       " + std::string(expected) + "\n"));
}

// Runs stepctl on a pseudo-terminal and returns what it wrote there.
std::string run_on_terminal(const std::vector<std::string>& args,
                            const std::vector<std::string>& env) {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid == 0) {
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string path = STEPCTL_PATH;
    argv.push_back(path.data());
    std::vector<std::string> copy = args;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(path.c_str(), argv.data());
    ::_exit(127);
  }
  std::string out;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      const ssize_t n = ::read(master, buf, sizeof buf);
      if (n <= 0) break;  // EIO once the child closed the terminal
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return out;
}

TEST_F(StepctlServerTest, ColourOnlyOnATerminalWithoutNoColor) {
  const std::string ok = unique("ok");
  const std::string bad = unique("bad");
  create_machine(ok, kPass);
  create_machine(bad, kFailing);
  run_execution(ok, "{}");
  run_execution(bad, "{}", 1);
  const std::string endpoint_env = "STEPD_ENDPOINT=" + endpoint();

  const std::string tty =
      run_on_terminal({"executions", "list", "--machine", ok}, {endpoint_env, "NO_COLOR="});
  EXPECT_THAT(tty, HasSubstr("\x1b[32mSUCCEEDED\x1b[0m")) << tty;
  const std::string tty_bad =
      run_on_terminal({"executions", "list", "--machine", bad}, {endpoint_env, "NO_COLOR="});
  EXPECT_THAT(tty_bad, HasSubstr("\x1b[31mFAILED\x1b[0m")) << tty_bad;
  // Aligned although the escapes take bytes: STARTED starts at the same column in every line.
  std::vector<std::string> lines = lines_of(tty);
  ASSERT_GE(lines.size(), 2u);
  const auto header_at = lines[0].find("MACHINE");
  const std::string plain_row = std::regex_replace(lines[1], std::regex("\x1b\\[[0-9]*m"), "");
  EXPECT_EQ(plain_row.find(ok), header_at) << plain_row;

  const std::string no_colour =
      run_on_terminal({"executions", "list", "--machine", ok}, {endpoint_env, "NO_COLOR=1"});
  EXPECT_THAT(no_colour, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(no_colour, Not(HasSubstr("\x1b[")));
  // Not a terminal: no colour.
  Outcome file = stepctl({"executions", "list", "--machine", ok});
  EXPECT_THAT(file.out, HasSubstr("SUCCEEDED"));
  EXPECT_THAT(file.out, Not(HasSubstr("\x1b[")));
}

// --- Activities and tasks ------------------------------------------------------------------------

TEST_F(StepctlServerTest, ActivitiesCreateListDescribeDelete) {
  const std::string name = unique("pack");
  Outcome created = stepctl({"activities", "create", name});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(
      created.out, m,
      std::regex("^Created: (arn:aws:states:[^:]+:[0-9]+:activity:" + name + ")\n")))
      << created.out;
  const std::string arn = m[1];

  Outcome list = stepctl({"activities", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, StartsWith("NAME"));
  EXPECT_THAT(list.out, HasSubstr(name + "  "));
  expect_aligned(list.out, "ARN");
  json listed = stepctl_json({"activities", "list"});
  bool found = false;
  for (const json& a : listed["activities"]) found = found || a["activityArn"] == arn;
  EXPECT_TRUE(found) << listed;

  json described = stepctl_json({"activities", "describe", name});
  EXPECT_EQ(described["activityArn"], arn);
  EXPECT_EQ(described["name"], name);
  EXPECT_TRUE(std::regex_match(described.value("creationDate", ""), kRfc3339));
  Outcome human = stepctl({"activities", "describe", arn});
  EXPECT_THAT(human.out, StartsWith("Name:    " + name + "\nARN:     " + arn + "\nCreated: "));

  Outcome deleted = stepctl({"activities", "delete", name});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleted " + arn + "\n");
  Outcome gone = stepctl({"activities", "describe", name});
  EXPECT_EQ(gone.exit_code, 3);
  EXPECT_EQ(gone.err, "stepctl: ActivityDoesNotExist: no activity is named '" + name + "'\n");
  Outcome gone_arn = stepctl({"activities", "describe", arn});
  EXPECT_EQ(gone_arn.exit_code, 3);
  EXPECT_THAT(gone_arn.err, StartsWith("stepctl: ActivityDoesNotExist: "));
}

TEST_F(StepctlServerTest, TasksGetHeartbeatSucceed) {
  const std::string activity = unique("work");
  const std::string activity_arn =
      stepctl_json({"activities", "create", activity}).value("activityArn", "");
  ASSERT_FALSE(activity_arn.empty());
  const std::string machine = unique("m");
  create_machine(machine, activity_machine(activity_arn));
  stepctl_json({"executions", "start", machine, "--name", "ok", "--input", R"({"item":7})"});

  json task = stepctl_json({"tasks", "get", activity, "--worker", "tester"});
  const std::string token = task.value("taskToken", "");
  ASSERT_FALSE(token.empty()) << task;
  EXPECT_EQ(task["input"], json::parse(R"({"item":7})"));

  Outcome beat = stepctl({"tasks", "heartbeat", token});
  EXPECT_EQ(beat.exit_code, 0) << beat.err;
  EXPECT_EQ(beat.out, "Heartbeat sent\n");
  Outcome done = stepctl({"tasks", "succeed", token, "--output", R"({"packed":7})"});
  EXPECT_EQ(done.exit_code, 0) << done.err;
  EXPECT_EQ(done.out, "Task succeeded\n");
  json x = stepctl_json({"executions", "wait", machine + ":ok", "--timeout", "20"});
  EXPECT_EQ(x["status"], "SUCCEEDED");
  EXPECT_EQ(x["output"], json::parse(R"({"packed":7})"));

  // The AWS CLI's names work too; the output from standard input.
  stepctl_json({"executions", "start", machine, "--name", "two"});
  Outcome human = stepctl({"tasks", "get-activity-task", activity_arn});
  ASSERT_EQ(human.exit_code, 0) << human.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(human.out, m, std::regex("^Token: (\\S+)\nInput: \\{\\}\n$")))
      << human.out;
  RunOptions piped;
  piped.stdin_text = R"({"from":"stdin"})";
  Outcome sent = stepctl({"tasks", "send-task-success", m[1].str(), "-"}, piped);
  EXPECT_EQ(sent.exit_code, 0) << sent.err;
  json two = stepctl_json({"executions", "wait", machine + ":two", "--timeout", "20"});
  EXPECT_EQ(two["output"], json::parse(R"({"from":"stdin"})"));

  // A token twice: the server's error.
  Outcome again = stepctl({"tasks", "succeed", token});
  EXPECT_EQ(again.exit_code, 3);
  EXPECT_THAT(again.err, StartsWith("stepctl: "));
  Outcome bogus = stepctl({"tasks", "heartbeat", "not-a-token"});
  EXPECT_EQ(bogus.exit_code, 3);
  EXPECT_TRUE(
      std::regex_search(bogus.err, std::regex("^stepctl: (InvalidToken|TaskDoesNotExist): ")))
      << bogus.err;
}

TEST_F(StepctlServerTest, TasksFail) {
  const std::string activity = unique("work");
  const std::string activity_arn =
      stepctl_json({"activities", "create", activity}).value("activityArn", "");
  const std::string machine = unique("m");
  create_machine(machine, activity_machine(activity_arn));
  stepctl_json({"executions", "start", machine, "--name", "f"});
  json task = stepctl_json({"tasks", "get", activity});
  const std::string token = task.value("taskToken", "");
  ASSERT_FALSE(token.empty()) << task;
  json answer = stepctl_json(
      {"tasks", "send-task-failure", token, "--error", "Pack.Broken", "--cause", "no tape"});
  EXPECT_EQ(answer, json::object());
  Outcome r = stepctl({"executions", "wait", machine + ":f", "--timeout", "20"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_THAT(r.out, HasSubstr("Error:         Pack.Broken\nCause:         no tape\n"));
}

TEST_F(StepctlServerTest, TasksGetOfAnUnknownActivityExits3) {
  Outcome r = stepctl({"tasks", "get", unique("nothing")});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_THAT(r.err, HasSubstr("ActivityDoesNotExist"));
}

// --- Routes and audit ------------------------------------------------------------------------

TEST_F(StepctlServerTest, RoutesSetListDelete) {
  const std::string name = unique("fn");
  Outcome set = stepctl({"routes", "set", "function", name, "http://127.0.0.1:9000/invoke"});
  ASSERT_EQ(set.exit_code, 0) << set.err;
  EXPECT_EQ(set.out, "Route function " + name + " -> http://127.0.0.1:9000/invoke\n");
  json svc = stepctl_json({"routes", "set", "service", unique("svc"), "http://127.0.0.1:9001/"});
  EXPECT_EQ(svc["kind"], "service");
  EXPECT_EQ(svc["url"], "http://127.0.0.1:9001/");

  Outcome list = stepctl({"routes", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, StartsWith("KIND"));
  EXPECT_TRUE(std::regex_search(
      list.out, std::regex("\nfunction +" + name + " +http://127\\.0\\.0\\.1:9000/invoke  ")))
      << list.out;
  expect_aligned(list.out, "URL");
  expect_aligned(list.out, "UPDATED");
  json routes = stepctl_json({"routes", "list"})["routes"];
  bool found = false;
  for (const json& r : routes) {
    if (r["name"] == name) {
      found = true;
      EXPECT_EQ(r["kind"], "function");
      EXPECT_EQ(r["url"], "http://127.0.0.1:9000/invoke");
      EXPECT_TRUE(std::regex_match(r.value("updated", ""), kRfc3339)) << r;
    }
  }
  EXPECT_TRUE(found) << routes;

  Outcome deleted = stepctl({"routes", "delete", "function", name});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(deleted.out, "Deleted route function " + name + "\n");
  EXPECT_THAT(stepctl({"routes", "list"}).out, Not(HasSubstr(name + " ")));
  Outcome bad_url = stepctl({"routes", "set", "function", name, "ftp://x"});
  EXPECT_EQ(bad_url.exit_code, 3);
}

TEST_F(StepctlServerTest, AuditListShowsCalls) {
  const std::string machine = unique("audited");
  const std::string arn = create_machine(machine, kPass);
  // The audit log is written in batches: wait until the call shows.
  json items;
  for (int i = 0; i < 100; ++i) {
    items = stepctl_json({"audit", "list", "--resource", arn})["items"];
    if (!items.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(items.empty());
  EXPECT_EQ(items[0]["operation"], "CreateStateMachine");
  EXPECT_EQ(items[0]["resource"], arn);
  EXPECT_EQ(items[0]["outcome"], "ok");
  Outcome table = stepctl({"audit", "list", "--operation", "CreateStateMachine"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, StartsWith("ID"));
  EXPECT_THAT(table.out, HasSubstr("CreateStateMachine  ok"));
  EXPECT_THAT(table.out, HasSubstr(arn));
  expect_aligned(table.out, "OPERATION");
}

}  // namespace
}  // namespace stepd::cli
