// The `stepd` binary as a process: readiness, health, configuration, refusal to listen openly
// without keys, graceful shutdown on SIGTERM/SIGINT, restart on the same store.
#include "tests/server/process/stepd_process.hpp"

#include "engine/engine.hpp"
#include "server/security/crypto.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

StepdOptions options(std::vector<std::string> args, std::string listen = "127.0.0.1:0",
                     bool wait_ready = true) {
  StepdOptions o;
  o.args = std::move(args);
  o.listen = std::move(listen);
  o.wait_ready = wait_ready;
  return o;
}

json ready_line(const StepdProcess& p) {
  const std::string line = p.log_line("listening");
  if (line.empty()) return json::object();
  return json::parse(line);
}

TEST(StepdProcessTest, ServesHealthReadinessMetricsAndLogsEachRequest) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  const json ready = ready_line(stepd);
  EXPECT_EQ(ready["level"], "info");
  EXPECT_EQ(ready["port"], stepd.port());
  EXPECT_EQ(ready["address"], "127.0.0.1:" + std::to_string(stepd.port()));
  EXPECT_EQ(ready["auth"], false);
  EXPECT_EQ(ready["store"], stepd.store_url());
  EXPECT_EQ(ready["region"], "local");
  EXPECT_EQ(ready["account"], "000000000000");

  HttpReply health = http_request(stepd.port(), "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  HttpReply readiness = http_request(stepd.port(), "GET", "/readyz");
  EXPECT_EQ(readiness.status, 200);
  EXPECT_EQ(readiness.body, R"({"partitions_held":16,"status":"ready"})");
  HttpReply missing = http_request(stepd.port(), "GET", "/no/such/thing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body),
            (json{{"code", "NotFound"}, {"message", "No route for GET /no/such/thing"}}));
  HttpReply metrics = http_request(stepd.port(), "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(metric(stepd.port(), "stepd_partitions_held"), 16);
  EXPECT_EQ(metric(stepd.port(), "stepd_http_requests_total{route=\"not_found\",status=\"404\"}"),
            1);
  EXPECT_GE(metric(stepd.port(), "stepd_http_connections"), 1);

  // The access log line of the 404, with the request id the client got.
  const std::string id = missing.header("x-amzn-requestid");
  ASSERT_EQ(id.size(), 36u);
  json access;
  for (int i = 0; i < 100 && access.is_null(); ++i) {
    std::istringstream in(stepd.log());
    std::string line;
    while (std::getline(in, line)) {
      if (line.find(id) != std::string::npos) access = json::parse(line);
    }
    if (access.is_null()) std::this_thread::sleep_for(20ms);
  }
  ASSERT_FALSE(access.is_null()) << stepd.log();
  EXPECT_EQ(access["msg"], "request");
  EXPECT_EQ(access["method"], "GET");
  EXPECT_EQ(access["path"], "/no/such/thing");
  EXPECT_EQ(access["route"], "not_found");
  EXPECT_EQ(access["status"], 404);
  EXPECT_TRUE(access["duration_ms"].is_number());
  EXPECT_EQ(access["remote"].get<std::string>().rfind("127.0.0.1:", 0), 0u);

  EXPECT_EQ(stepd.stop(), 0) << stepd.log();
}

TEST(StepdProcessTest, LogLevelWarnKeepsTheReadyLineOnly) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start(options({"--log-level", "warn"}))) << stepd.log();
  EXPECT_EQ(http_request(stepd.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(stepd.stop(), 0);
  const std::string log = stepd.log();
  EXPECT_FALSE(stepd.log_line("listening").empty()) << log;
  EXPECT_TRUE(stepd.log_line("request").empty()) << log;
  EXPECT_TRUE(stepd.log_line("stopping").empty()) << log;
}

TEST(StepdProcessTest, VersionAndHelp) {
  StepdProcess version;
  ASSERT_TRUE(version.start(options({"--version"}, "", false)));
  EXPECT_EQ(version.wait_exit(10s), 0);
  EXPECT_EQ(version.log(), "stepd 0.1.0\n");
  StepdProcess help;
  ASSERT_TRUE(help.start(options({"--help"}, "", false)));
  EXPECT_EQ(help.wait_exit(10s), 0);
  EXPECT_NE(help.log().find("[env: STEPD_API_KEYS_FILE]"), std::string::npos) << help.log();
}

TEST(StepdProcessTest, RefusesToListenBeyondLoopbackWithoutKeys) {
  StepdProcess open;
  ASSERT_TRUE(open.start(options({}, "0.0.0.0:0", false)));
  EXPECT_EQ(open.wait_exit(10s), 2);
  EXPECT_EQ(open.log(),
            "stepd: refusing to listen on 0.0.0.0:0 without authentication: anyone who can reach "
            "that address could run and stop workflows. Give --api-keys-file "
            "(STEPD_API_KEYS_FILE), or listen on a loopback address such as 127.0.0.1\n");

  // With keys it starts, and API calls need them.
  StepdProcess keyed;
  const auto keys = keyed.dir() / "keys.json";
  std::ofstream(keys) << R"([{"id":"ci","secret":"process-test-secret","role":"admin"}])";
  ASSERT_TRUE(keyed.start(options({"--api-keys-file", keys.string()}, "0.0.0.0:0"))) << keyed.log();
  EXPECT_EQ(ready_line(keyed)["auth"], true);
  HttpReply anonymous = http_request(keyed.port(), "GET", "/v1/state-machines");
  EXPECT_EQ(anonymous.status, 401);
  EXPECT_EQ(json::parse(anonymous.body)["code"], "Unauthorized");
  HttpReply aws = http_request(keyed.port(), "POST", "/", "{}",
                               {{"X-Amz-Target", "AWSStepFunctions.ListStateMachines"},
                                {"Content-Type", "application/x-amz-json-1.0"}});
  EXPECT_EQ(aws.status, 401);
  EXPECT_EQ(json::parse(aws.body)["__type"], "UnrecognizedClientException");
  HttpReply bearer = http_request(keyed.port(), "POST", "/", "{}",
                                  {{"X-Amz-Target", "AWSStepFunctions.ListStateMachines"},
                                   {"Content-Type", "application/x-amz-json-1.0"},
                                   {"Authorization", "Bearer process-test-secret"}});
  EXPECT_NE(bearer.status, 401) << bearer.body;
  EXPECT_NE(bearer.status, 0) << bearer.error;
  EXPECT_EQ(http_request(keyed.port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(keyed.stop(), 0);

  // A keys file that does not parse stops the start.
  StepdProcess broken;
  const auto bad = broken.dir() / "bad.json";
  std::ofstream(bad) << R"([{"id":"ci","secret":"s","role":"root"}])";
  ASSERT_TRUE(broken.start(options({"--api-keys-file", bad.string()}, "127.0.0.1:0", false)));
  EXPECT_EQ(broken.wait_exit(10s), 2);
  EXPECT_NE(broken.log().find("key 1 (\\\"ci\\\"): \\\"role\\\" must be one of admin, read-only, "
                              "worker"),
            std::string::npos)
      << broken.log();
}

TEST(StepdProcessTest, FlagOverEnvironmentOverConfigFile) {
  StepdProcess stepd;
  const auto file = stepd.dir() / "stepd.json";
  std::ofstream(file) << R"({"region": "file-region", "account": "111111111111",
                             "node-id": "file-node", "partitions": 4})";
  StepdOptions with_env = options({"--config", file.string(), "--node-id", "flag-node"});
  with_env.env = {{"STEPD_ACCOUNT", "222222222222"}, {"STEPD_NODE_ID", "env-node"}};
  ASSERT_TRUE(stepd.start(with_env)) << stepd.log();
  const json ready = ready_line(stepd);
  EXPECT_EQ(ready["region"], "file-region");
  EXPECT_EQ(ready["account"], "222222222222");
  EXPECT_EQ(ready["node_id"], "flag-node");
  EXPECT_EQ(metric(stepd.port(), "stepd_partitions_held"), 4);
  EXPECT_EQ(stepd.stop(), 0);
}

TEST(StepdProcessTest, SigtermLetsARequestInFlightFinishThenExitsZero) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  TestConnection c;
  ASSERT_TRUE(c.connect(stepd.port()));
  // Half a request: stepd is reading it when the signal comes.
  ASSERT_TRUE(c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nabc"));
  std::this_thread::sleep_for(200ms);
  ASSERT_EQ(::kill(stepd.pid(), SIGTERM), 0);
  std::this_thread::sleep_for(300ms);
  EXPECT_TRUE(stepd.running()) << "stepd exited with a request in flight";
  ASSERT_TRUE(c.send("def"));
  auto r = c.read_response(10s);
  ASSERT_TRUE(r) << c.error() << "\n" << stepd.log();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->body.find("# TYPE stepd_partitions_held gauge"), std::string::npos);
  EXPECT_FALSE(r->keep_alive);
  EXPECT_EQ(stepd.wait_exit(20s), 0) << stepd.log();
  EXPECT_FALSE(stepd.log_line("stopping").empty());
  EXPECT_EQ(json::parse(stepd.log_line("stopping"))["signal"], "SIGTERM");
  EXPECT_FALSE(stepd.log_line("stopped").empty());
}

TEST(StepdProcessTest, SigintAlsoStopsGracefully) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  EXPECT_EQ(stepd.stop(SIGINT), 0) << stepd.log();
  EXPECT_EQ(json::parse(stepd.log_line("stopping"))["signal"], "SIGINT");
}

TEST(StepdProcessTest, ExecutionsSurviveARestart) {
  StepdProcess stepd;
  // An execution waiting for an hour, put in the store by an engine of this test.
  std::string execution_arn;
  {
    auto store = engine::open_store("sqlite:" + (stepd.dir() / "stepd.db").string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    engine::Engine engine(std::move(*store), engine::EngineOptions{});
    ASSERT_TRUE(engine.start().ok());
    auto machine = engine.create_state_machine(
        {"Waits", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}})",
         "STANDARD", "", "[]"});
    ASSERT_TRUE(std::holds_alternative<engine::StateMachineRecord>(machine));
    auto started = engine.start_execution(
        {std::get<engine::StateMachineRecord>(machine).arn, "long", "{}", ""});
    ASSERT_TRUE(std::holds_alternative<engine::ExecutionRecord>(started));
    execution_arn = std::get<engine::ExecutionRecord>(started).arn;
    engine.shutdown();
  }
  for (int run = 0; run < 2; ++run) {
    ASSERT_TRUE(stepd.start()) << stepd.log();
    EXPECT_EQ(metric(stepd.port(), "stepd_open_executions"), 1) << "run " << run;
    HttpReply describe =
        http_request(stepd.port(), "POST", "/", json{{"executionArn", execution_arn}}.dump(),
                     {{"X-Amz-Target", "AWSStepFunctions.DescribeExecution"},
                      {"Content-Type", "application/x-amz-json-1.0"}});
    if (describe.status != 501) {  // the AWS adapter answers once it is built
      EXPECT_EQ(describe.status, 200) << describe.body;
      EXPECT_EQ(json::parse(describe.body)["status"], "RUNNING") << describe.body;
    }
    EXPECT_EQ(stepd.stop(), 0) << stepd.log();
  }
}

TEST(StepdProcessTest, AStoreThatCannotOpenExitsOne) {
  StepdProcess stepd;
  StepdOptions bad_store = options({}, "127.0.0.1:0", false);
  bad_store.store = "nosuchkind:xyz";
  ASSERT_TRUE(stepd.start(bad_store));
  EXPECT_EQ(stepd.wait_exit(10s), 1);
  const std::string line = stepd.log_line("cannot open the store");
  ASSERT_FALSE(line.empty()) << stepd.log();
  EXPECT_EQ(json::parse(line)["level"], "error");
  EXPECT_EQ(json::parse(line)["store"], "nosuchkind:xyz");
}

TEST(StepdProcessTest, ATaskCaFileThatCannotBeLoadedExitsOne) {
  StepdProcess stepd;
  const std::string missing = "/nonexistent/stepd-test-ca.pem";
  ASSERT_TRUE(stepd.start(options({"--task-ca-file", missing}, "127.0.0.1:0", false)));
  EXPECT_EQ(stepd.wait_exit(10s), 1);
  const std::string line = stepd.log_line("cannot set up task dispatch");
  ASSERT_FALSE(line.empty()) << stepd.log();
  const std::string error = json::parse(line)["error"];
  EXPECT_NE(error.find(missing), std::string::npos) << error;
}

TEST(StepdProcessTest, ATaskCaFileThatLoadsIsAccepted) {
  // A readable PEM CA certificate (the system's bundle is one): stepd starts with it.
  const std::string bundle = "/etc/ssl/certs/ca-certificates.crt";
  if (!std::filesystem::exists(bundle)) GTEST_SKIP() << bundle << " is absent";
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start(options({"--task-ca-file", bundle}))) << stepd.log();
  EXPECT_EQ(stepd.stop(), 0);
}

TEST(StepdProcessTest, APortInUseExitsOne) {
  StepdProcess first;
  ASSERT_TRUE(first.start()) << first.log();
  StepdProcess second;
  ASSERT_TRUE(second.start(options({}, "127.0.0.1:" + std::to_string(first.port()), false)));
  EXPECT_EQ(second.wait_exit(20s), 1);
  const std::string line = second.log_line("cannot start the HTTP server");
  ASSERT_FALSE(line.empty()) << second.log();
  EXPECT_EQ(json::parse(line)["error"],
            "cannot listen on 127.0.0.1:" + std::to_string(first.port()) +
                ": bind: Address already in use");
  EXPECT_EQ(first.stop(), 0);
}

}  // namespace
}  // namespace stepd::test
