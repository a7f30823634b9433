// stepd::worker::Client against a real `stepd` process: every state machine, execution and tag
// operation, exact error codes, paging, keep-alive, and transport failures (time-outs, connection
// refused, cancellation) against scripted local servers.
#include "stepd/worker/client.hpp"

#include "tests/server/process/stepd_process.hpp"
#include "tests/workers-sdk/sdk_test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <set>
#include <thread>

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using worker::Client;
using worker::ClientOptions;
using worker::Error;
using worker::ErrorKind;

const std::string kPass = R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})";
const std::string kPassResult =
    R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"done":true},"End":true}}})";
const std::string kWait =
    R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}})";
const std::string kFail =
    R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"on purpose"}}})";
const std::string kArnPrefix = "arn:aws:states:local:000000000000:";

class ClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    stepd_ = new StepdProcess();
    ASSERT_TRUE(stepd_->start()) << stepd_->log();
  }
  static void TearDownTestSuite() {
    delete stepd_;
    stepd_ = nullptr;
  }
  static std::string endpoint() { return "http://127.0.0.1:" + std::to_string(stepd_->port()); }
  static ClientOptions options() {
    ClientOptions o;
    o.endpoint = endpoint();
    o.request_timeout = 20s;
    return o;
  }

  // Waits until the execution is no longer RUNNING; returns its description.
  worker::ExecutionDescription wait_end(Client &client, const std::string &arn) {
    worker::ExecutionDescription d;
    wait_for([&] {
      d = client.describe_execution(arn);
      return d.status != "RUNNING";
    });
    return d;
  }

  static StepdProcess *stepd_;
};

StepdProcess *ClientTest::stepd_ = nullptr;

TEST_F(ClientTest, CreatesDescribesUpdatesAndDeletesStateMachines) {
  Client client(options());
  const auto before = std::chrono::system_clock::now() - 5s;
  const auto created = client.create_state_machine(
      {.name = "Machines1", .definition = kPass, .tags = {{"team", "a"}}});
  EXPECT_EQ(created.state_machine_arn, kArnPrefix + "stateMachine:Machines1");
  EXPECT_GT(created.creation_date, before);
  EXPECT_LT(created.creation_date, std::chrono::system_clock::now() + 5s);

  auto d = client.describe_state_machine(created.state_machine_arn);
  EXPECT_EQ(d.state_machine_arn, created.state_machine_arn);
  EXPECT_EQ(d.name, "Machines1");
  EXPECT_EQ(d.status, "ACTIVE");
  EXPECT_EQ(d.definition, kPass);
  EXPECT_EQ(d.role_arn, worker::kDefaultRoleArn);
  EXPECT_EQ(d.type, "STANDARD");
  EXPECT_EQ(d.creation_date, created.creation_date);
  EXPECT_EQ(d.revision_id, "1");
  EXPECT_EQ(d.logging_configuration, (json{{"level", "OFF"}, {"includeExecutionData", false}}));
  EXPECT_EQ(d.tracing_configuration, (json{{"enabled", false}}));
  EXPECT_EQ(
      client.describe_state_machine(created.state_machine_arn, worker::IncludedData::MetadataOnly)
          .definition,
      "");

  // AWS: creating the same machine again answers it; another definition is refused.
  EXPECT_EQ(
      client
          .create_state_machine({.name = "Machines1", .definition = kPass, .tags = {{"team", "a"}}})
          .state_machine_arn,
      created.state_machine_arn);
  Error exists = expect_error(
      [&] { client.create_state_machine({.name = "Machines1", .definition = kWait}); });
  EXPECT_EQ(exists.kind(), ErrorKind::Server);
  EXPECT_EQ(exists.code(), "StateMachineAlreadyExists");
  EXPECT_EQ(exists.status(), 400);
  EXPECT_FALSE(exists.is_transport());
  EXPECT_FALSE(exists.retryable());
  EXPECT_EQ(exists.request_id().size(), 36u);

  const auto updated = client.update_state_machine(
      {.state_machine_arn = created.state_machine_arn, .definition = kPassResult});
  EXPECT_EQ(updated.revision_id, "2");
  EXPECT_GE(updated.update_date, created.creation_date);
  d = client.describe_state_machine(created.state_machine_arn);
  EXPECT_EQ(d.definition, kPassResult);
  EXPECT_EQ(d.revision_id, "2");
  Error nothing = expect_error(
      [&] { client.update_state_machine({.state_machine_arn = created.state_machine_arn}); });
  EXPECT_EQ(nothing.code(), "MissingRequiredParameter");

  client.delete_state_machine(created.state_machine_arn);
  Error gone = expect_error([&] { client.describe_state_machine(created.state_machine_arn); });
  EXPECT_EQ(gone.code(), "StateMachineDoesNotExist");
  EXPECT_EQ(gone.status(), 400);
  EXPECT_EQ(gone.message(), "State Machine Does Not Exist: '" + created.state_machine_arn + "'");
  EXPECT_EQ(std::string(gone.what()), "StateMachineDoesNotExist: State Machine Does Not Exist: '" +
                                          created.state_machine_arn + "'");
  // AWS: deleting what does not exist succeeds.
  EXPECT_NO_THROW(client.delete_state_machine(created.state_machine_arn));
}

TEST_F(ClientTest, ExactErrorCodesForBadRequests) {
  Client client(options());
  Error arn = expect_error([&] { client.describe_execution("not-an-arn"); });
  EXPECT_EQ(arn.code(), "InvalidArn");
  EXPECT_EQ(arn.status(), 400);
  EXPECT_EQ(arn.message(), "Invalid Arn: 'Invalid ARN prefix: not-an-arn'");

  Error name =
      expect_error([&] { client.create_state_machine({.name = "bad name", .definition = kPass}); });
  EXPECT_EQ(name.code(), "InvalidName");

  Error definition =
      expect_error([&] { client.create_state_machine({.name = "Bad", .definition = "{}"}); });
  EXPECT_EQ(definition.code(), "InvalidDefinition");

  Error execution =
      expect_error([&] { client.describe_execution(kArnPrefix + "execution:Nope:run-1"); });
  EXPECT_EQ(execution.code(), "ExecutionDoesNotExist");
  EXPECT_EQ(execution.message(),
            "Execution Does Not Exist: '" + kArnPrefix + "execution:Nope:run-1'");

  Error machine = expect_error(
      [&] { client.start_execution({.state_machine_arn = kArnPrefix + "stateMachine:Nope"}); });
  EXPECT_EQ(machine.code(), "StateMachineDoesNotExist");

  // The raw call: a missing required member, in AWS's words.
  Error validation = expect_error([&] { client.call_aws("DescribeExecution", json::object()); });
  EXPECT_EQ(validation.code(), "ValidationException");
  EXPECT_EQ(validation.message(),
            "1 validation error detected: Value null at "
            "'executionArn' failed to satisfy "
            "constraint: Member must not be null");

  Error unknown = expect_error([&] { client.call_aws("NoSuchOperation", json::object()); });
  EXPECT_EQ(unknown.code(), "UnknownOperationException");
  EXPECT_EQ(unknown.message(), "Unknown operation: 'AWSStepFunctions.NoSuchOperation'");

  // REST errors carry the body's code.
  Error rest = expect_error([&] { client.call_rest("GET", "/v1/executions/nope"); });
  EXPECT_EQ(rest.code(), "InvalidArn");
  EXPECT_EQ(rest.status(), 400);
}

TEST_F(ClientTest, ValidatesDefinitions) {
  Client client(options());
  const auto ok = client.validate_state_machine_definition({.definition = kPass});
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.result, "OK");
  EXPECT_TRUE(ok.diagnostics.empty());
  EXPECT_FALSE(ok.truncated);

  const auto bad = client.validate_state_machine_definition(
      {.definition = R"({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}})"});
  EXPECT_FALSE(bad.ok());
  EXPECT_EQ(bad.result, "FAIL");
  const worker::ValidationDiagnostic *next = nullptr;
  for (const auto &d : bad.diagnostics) {
    EXPECT_EQ(d.severity, "ERROR");
    EXPECT_FALSE(d.code.empty());
    if (d.location == "/States/A/Next") next = &d;
  }
  ASSERT_NE(next, nullptr) << "no diagnostic at /States/A/Next";
  EXPECT_NE(next->message.find("Nowhere"), std::string::npos) << next->message;
  const auto one = client.validate_state_machine_definition(
      {.definition = R"({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"Nowhere"}}})",
       .max_results = 1});
  EXPECT_EQ(one.diagnostics.size(), 1u);
  EXPECT_EQ(one.truncated, bad.diagnostics.size() > 1);
}

TEST_F(ClientTest, RunsDescribesAndListsExecutions) {
  Client client(options());
  const std::string machine =
      client.create_state_machine({.name = "Runs1", .definition = kPassResult}).state_machine_arn;
  const auto started = client.start_execution({.state_machine_arn = machine,
                                               .name = "run-1",
                                               .input = {{"order", 42}},
                                               .trace_header = "Root=1-abc"});
  EXPECT_EQ(started.execution_arn, kArnPrefix + "execution:Runs1:run-1");
  const auto d = wait_end(client, started.execution_arn);
  EXPECT_EQ(d.status, "SUCCEEDED");
  EXPECT_EQ(d.name, "run-1");
  EXPECT_EQ(d.state_machine_arn, machine);
  EXPECT_EQ(d.input, (json{{"order", 42}}));
  ASSERT_TRUE(d.output.has_value());
  EXPECT_EQ(*d.output, (json{{"done", true}}));
  EXPECT_EQ(d.trace_header, "Root=1-abc");
  EXPECT_EQ(d.start_date, started.start_date);
  ASSERT_TRUE(d.stop_date.has_value());
  EXPECT_GE(*d.stop_date, d.start_date);
  EXPECT_EQ(d.redrive_count, 0);
  EXPECT_EQ(d.redrive_status, "NOT_REDRIVABLE");
  const auto metadata =
      client.describe_execution(started.execution_arn, worker::IncludedData::MetadataOnly);
  EXPECT_TRUE(metadata.input.is_null());
  EXPECT_FALSE(metadata.output.has_value());

  // AWS: the same name and input while it runs answers the same execution; other input, or the same
  // name once it ended, is refused.
  const std::string waiting =
      client.create_state_machine({.name = "Runs1Wait", .definition = kWait}).state_machine_arn;
  const auto w1 = client.start_execution(
      {.state_machine_arn = waiting, .name = "same", .input = {{"order", 42}}});
  EXPECT_EQ(
      client
          .start_execution({.state_machine_arn = waiting, .name = "same", .input = {{"order", 42}}})
          .execution_arn,
      w1.execution_arn);
  Error other_input = expect_error([&] {
    client.start_execution(
        {.state_machine_arn = waiting, .name = "same", .input = {{"order", 43}}});
  });
  EXPECT_EQ(other_input.code(), "ExecutionAlreadyExists");
  client.stop_execution(w1.execution_arn);
  Error again = expect_error([&] {
    client.start_execution(
        {.state_machine_arn = machine, .name = "run-1", .input = {{"order", 42}}});
  });
  EXPECT_EQ(again.code(), "ExecutionAlreadyExists");
  EXPECT_EQ(again.message(), "Execution Already Exists: '" + started.execution_arn + "'");

  // Five more; list them newest first in pages of two.
  std::set<std::string> arns = {started.execution_arn};
  for (int i = 2; i <= 6; ++i) {
    arns.insert(
        client.start_execution({.state_machine_arn = machine, .name = "run-" + std::to_string(i)})
            .execution_arn);
  }
  std::vector<std::string> listed;
  std::string token;
  int pages = 0;
  do {
    auto page = client.list_executions(
        {.state_machine_arn = machine, .max_results = 2, .next_token = token});
    EXPECT_LE(page.items.size(), 2u);
    for (const auto &x : page.items) {
      EXPECT_EQ(x.state_machine_arn, machine);
      listed.push_back(x.execution_arn);
    }
    token = page.next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_EQ(std::set<std::string>(listed.begin(), listed.end()), arns);
  EXPECT_EQ(listed.size(), arns.size());

  for (const auto &arn : arns) wait_end(client, arn);
  EXPECT_EQ(client.list_executions({.state_machine_arn = machine, .status_filter = "SUCCEEDED"})
                .items.size(),
            6u);
  EXPECT_TRUE(client.list_executions({.state_machine_arn = machine, .status_filter = "FAILED"})
                  .items.empty());

  const auto revision = client.describe_state_machine_for_execution(started.execution_arn);
  EXPECT_EQ(revision.state_machine_arn, machine);
  EXPECT_EQ(revision.name, "Runs1");
  EXPECT_EQ(revision.definition, kPassResult);
  EXPECT_EQ(revision.revision_id, "1");
}

TEST_F(ClientTest, ReadsHistoryInPagesForwardAndReverse) {
  Client client(options());
  const std::string machine =
      client.create_state_machine({.name = "History1", .definition = kPassResult})
          .state_machine_arn;
  const auto run = client.start_execution({.state_machine_arn = machine, .input = {{"x", 1}}});
  wait_end(client, run.execution_arn);

  const auto all = client.get_execution_history({.execution_arn = run.execution_arn});
  ASSERT_EQ(all.items.size(), 4u);
  EXPECT_TRUE(all.next_token.empty());
  EXPECT_EQ(all.items[0].type, "ExecutionStarted");
  EXPECT_EQ(all.items[0].id, 1);
  EXPECT_EQ(all.items[0].previous_event_id, 0);
  EXPECT_EQ(all.items[0].details_member, "executionStartedEventDetails");
  EXPECT_EQ(all.items[0].details.at("input"), R"({"x":1})");
  EXPECT_EQ(all.items[1].type, "PassStateEntered");
  EXPECT_EQ(all.items[1].details_member, "stateEnteredEventDetails");
  EXPECT_EQ(all.items[2].type, "PassStateExited");
  EXPECT_EQ(all.items[3].type, "ExecutionSucceeded");
  EXPECT_EQ(all.items[3].details.at("output"), R"({"done":true})");
  EXPECT_GE(all.items[3].timestamp, all.items[0].timestamp);

  std::vector<std::int64_t> ids;
  std::string token;
  int pages = 0;
  do {
    auto page = client.get_execution_history(
        {.execution_arn = run.execution_arn, .max_results = 3, .next_token = token});
    for (const auto &e : page.items) ids.push_back(e.id);
    token = page.next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(ids, (std::vector<std::int64_t>{1, 2, 3, 4}));

  const auto reverse =
      client.get_execution_history({.execution_arn = run.execution_arn, .reverse_order = true});
  ASSERT_EQ(reverse.items.size(), 4u);
  EXPECT_EQ(reverse.items[0].type, "ExecutionSucceeded");
  EXPECT_EQ(reverse.items[3].type, "ExecutionStarted");

  const auto no_data = client.get_execution_history(
      {.execution_arn = run.execution_arn, .include_execution_data = false});
  EXPECT_FALSE(no_data.items[0].details.contains("input"));
  EXPECT_FALSE(no_data.items[3].details.contains("output"));
}

TEST_F(ClientTest, StopsAndRedrivesExecutions) {
  Client client(options());
  const std::string machine =
      client.create_state_machine({.name = "Stops1", .definition = kWait}).state_machine_arn;
  const auto run = client.start_execution({.state_machine_arn = machine});
  const auto stop = client.stop_execution(run.execution_arn, "Manual", "stopped by the test");
  EXPECT_GE(stop, run.start_date);
  auto d = wait_end(client, run.execution_arn);
  EXPECT_EQ(d.status, "ABORTED");
  EXPECT_EQ(d.error, "Manual");
  EXPECT_EQ(d.cause, "stopped by the test");
  EXPECT_EQ(d.redrive_status, "REDRIVABLE");

  const auto redriven = client.redrive_execution(run.execution_arn);
  EXPECT_GE(redriven, stop);
  d = client.describe_execution(run.execution_arn);
  EXPECT_EQ(d.status, "RUNNING");
  EXPECT_EQ(d.redrive_count, 1);
  ASSERT_TRUE(d.redrive_date.has_value());
  EXPECT_EQ(*d.redrive_date, redriven);
  EXPECT_EQ(client.list_executions({.state_machine_arn = machine, .redrive_filter = "REDRIVEN"})
                .items.size(),
            1u);
  client.stop_execution(run.execution_arn);

  const std::string passing =
      client.create_state_machine({.name = "Stops2", .definition = kPass}).state_machine_arn;
  const auto done = client.start_execution({.state_machine_arn = passing});
  wait_end(client, done.execution_arn);
  Error not_redrivable = expect_error([&] { client.redrive_execution(done.execution_arn); });
  EXPECT_EQ(not_redrivable.code(), "ExecutionNotRedrivable");
}

TEST_F(ClientTest, StartsSyncExecutionsOfExpressMachines) {
  Client client(options());
  const std::string express =
      client
          .create_state_machine({.name = "Express1", .definition = kPassResult, .type = "EXPRESS"})
          .state_machine_arn;
  const auto result =
      client.start_sync_execution({.state_machine_arn = express, .input = {{"a", 1}}});
  EXPECT_EQ(result.status, "SUCCEEDED");
  EXPECT_EQ(result.state_machine_arn, express);
  EXPECT_EQ(result.input, (json{{"a", 1}}));
  ASSERT_TRUE(result.output.has_value());
  EXPECT_EQ(*result.output, (json{{"done", true}}));
  EXPECT_GE(result.stop_date, result.start_date);

  const std::string failing =
      client.create_state_machine({.name = "Express2", .definition = kFail, .type = "EXPRESS"})
          .state_machine_arn;
  const auto failed = client.start_sync_execution({.state_machine_arn = failing});
  EXPECT_EQ(failed.status, "FAILED");
  EXPECT_EQ(failed.error, "Boom");
  EXPECT_EQ(failed.cause, "on purpose");
  EXPECT_FALSE(failed.output.has_value());

  const std::string standard =
      client.create_state_machine({.name = "Standard1", .definition = kPass}).state_machine_arn;
  Error type = expect_error([&] { client.start_sync_execution({.state_machine_arn = standard}); });
  EXPECT_EQ(type.code(), "StateMachineTypeNotSupported");
}

TEST_F(ClientTest, ListsStateMachinesInPages) {
  Client client(options());
  std::set<std::string> mine;
  for (int i = 0; i < 5; ++i) {
    mine.insert(
        client.create_state_machine({.name = "Paged" + std::to_string(i), .definition = kPass})
            .state_machine_arn);
  }
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    auto page = client.list_state_machines({.max_results = 2, .next_token = token});
    EXPECT_LE(page.items.size(), 2u);
    for (const auto &m : page.items) {
      if (m.name.rfind("Paged", 0) == 0) {
        EXPECT_EQ(m.type, "STANDARD");
        EXPECT_NE(m.creation_date, worker::Timestamp{});
      }
      seen.push_back(m.state_machine_arn);
    }
    token = page.next_token;
    ++pages;
  } while (!token.empty() && pages < 100);
  std::set<std::string> unique(seen.begin(), seen.end());
  EXPECT_EQ(unique.size(), seen.size()) << "a page repeated a machine";
  for (const auto &arn : mine) EXPECT_EQ(unique.count(arn), 1u) << arn;
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << "ordered by name";

  Error token_error = expect_error([&] { client.list_state_machines({.next_token = "garbage"}); });
  EXPECT_EQ(token_error.code(), "InvalidToken");
}

TEST_F(ClientTest, TagsResources) {
  Client client(options());
  const std::string machine =
      client.create_state_machine({.name = "Tagged1", .definition = kPass, .tags = {{"team", "a"}}})
          .state_machine_arn;
  EXPECT_EQ(client.list_tags_for_resource(machine), (std::vector<worker::Tag>{{"team", "a"}}));
  client.tag_resource(machine, {{"env", "test"}, {"team", "b"}});
  auto tags = client.list_tags_for_resource(machine);
  std::sort(tags.begin(), tags.end(), [](auto &a, auto &b) { return a.key < b.key; });
  EXPECT_EQ(tags, (std::vector<worker::Tag>{{"env", "test"}, {"team", "b"}}));
  client.untag_resource(machine, {"team"});
  EXPECT_EQ(client.list_tags_for_resource(machine), (std::vector<worker::Tag>{{"env", "test"}}));

  const std::string missing = kArnPrefix + "stateMachine:NoSuchTagged";
  Error e = expect_error([&] { client.list_tags_for_resource(missing); });
  EXPECT_EQ(e.code(), "ResourceNotFound");
  EXPECT_EQ(e.body().at("resourceName"), missing);
}

TEST_F(ClientTest, ListsTheAuditLog) {
  Client client(options());
  const std::string machine =
      client.create_state_machine({.name = "Audited1", .definition = kPass}).state_machine_arn;
  std::vector<worker::AuditEntry> entries;
  ASSERT_TRUE(wait_for([&] {
    entries = client.list_audit({.operation = "CreateStateMachine", .resource = machine}).items;
    return !entries.empty();
  })) << "no audit entry for "
      << machine;
  EXPECT_EQ(entries[0].operation, "CreateStateMachine");
  EXPECT_EQ(entries[0].resource, machine);
  EXPECT_EQ(entries[0].outcome, "ok");
  EXPECT_EQ(entries[0].key_id, "anonymous");
  EXPECT_EQ(entries[0].request_id.size(), 36u);
  EXPECT_GT(entries[0].time, worker::Timestamp(std::chrono::milliseconds(0)));
  EXPECT_LT(entries[0].time, std::chrono::system_clock::now() + 5s);

  client.create_state_machine({.name = "Audited2", .definition = kPass});
  ASSERT_TRUE(wait_for(
      [&] { return client.list_audit({.operation = "CreateStateMachine"}).items.size() >= 2; }));
  const auto one = client.list_audit({.max_results = 1});
  EXPECT_EQ(one.items.size(), 1u);
  EXPECT_FALSE(one.next_token.empty());
  const auto next = client.list_audit({.max_results = 1, .next_token = one.next_token});
  ASSERT_EQ(next.items.size(), 1u);
  EXPECT_LT(next.items[0].id, one.items[0].id) << "newest first";
}

// One connection carries every call made one after another: the client counts one, and the server's
// open-connection gauge sees it plus the one asking for /metrics.
TEST(ClientKeepAliveTest, SequentialCallsShareOneConnection) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  Client client({.endpoint = "http://127.0.0.1:" + std::to_string(stepd.port())});
  client.create_state_machine({.name = "Keep", .definition = kPass});
  for (int i = 0; i < 30; ++i) client.list_state_machines();
  EXPECT_EQ(client.connections_opened(), 1u);
  EXPECT_EQ(client.idle_connections(), 1u);
  const HttpReply metrics = http_request(stepd.port(), "GET", "/metrics");
  EXPECT_NE(metrics.body.find("\nstepd_http_connections 2\n"), std::string::npos)
      << metrics.body.substr(0, 2000);
}

TEST(ClientKeepAliveTest, ConcurrentCallsUseTheirOwnConnections) {
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start()) << stepd.log();
  Client client({.endpoint = "http://127.0.0.1:" + std::to_string(stepd.port())});
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        try {
          client.list_state_machines();
        } catch (const std::exception &) {
          ++failures;
        }
      }
    });
  }
  for (auto &t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_GE(client.connections_opened(), 1u);
  EXPECT_LE(client.connections_opened(), 4u);
  EXPECT_EQ(client.idle_connections(), client.connections_opened());
}

// A connection the server closed while idle is replaced without the caller seeing an error.
TEST(ClientKeepAliveTest, ReplacesAConnectionTheServerClosed) {
  StepdProcess stepd;
  StepdOptions o;
  o.args = {"--idle-timeout", "100ms"};
  ASSERT_TRUE(stepd.start(o)) << stepd.log();
  Client client({.endpoint = "http://127.0.0.1:" + std::to_string(stepd.port())});
  client.list_state_machines();
  std::this_thread::sleep_for(400ms);
  EXPECT_NO_THROW(client.list_state_machines());
  EXPECT_EQ(client.connections_opened(), 2u);
}

TEST(ClientTransportTest, TimesOutOnAServerThatNeverAnswers) {
  ScriptedServer silent;
  Client client({.endpoint = silent.url(), .request_timeout = 300ms});
  const auto start = std::chrono::steady_clock::now();
  Error e = expect_error([&] { client.list_state_machines(); });
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(e.kind(), ErrorKind::Timeout);
  EXPECT_EQ(e.code(), "Timeout");
  EXPECT_EQ(e.status(), 0);
  EXPECT_TRUE(e.is_transport());
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(std::string(e.what()), "Timeout: no answer from 127.0.0.1:" +
                                       std::to_string(silent.port()) + " within 300 ms (POST /)");
  EXPECT_GE(took, 290ms);
  EXPECT_LT(took, 2s);
  EXPECT_EQ(silent.requests(), 1);

  // The poll's own, longer time-out applies to GetActivityTask.
  Client poller({.endpoint = silent.url(), .request_timeout = 100ms, .poll_timeout = 600ms});
  const auto poll_start = std::chrono::steady_clock::now();
  Error poll = expect_error([&] { poller.get_activity_task(kArnPrefix + "activity:a"); });
  EXPECT_EQ(poll.kind(), ErrorKind::Timeout);
  EXPECT_GE(std::chrono::steady_clock::now() - poll_start, 590ms);
}

TEST(ClientTransportTest, ConnectionRefusedIsAConnectError) {
  const unsigned short port = free_port();
  Client client({.endpoint = "http://127.0.0.1:" + std::to_string(port)});
  Error e = expect_error([&] { client.list_state_machines(); });
  EXPECT_EQ(e.kind(), ErrorKind::Connect);
  EXPECT_EQ(e.status(), 0);
  EXPECT_TRUE(e.retryable());
  EXPECT_EQ(std::string(e.what()), "Connect: cannot connect to 127.0.0.1:" + std::to_string(port) +
                                       ": Connection refused");
}

TEST(ClientTransportTest, AStopTokenCutsALongPoll) {
  ScriptedServer silent;
  Client client({.endpoint = silent.url()});
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(200ms);
    stop.request_stop();
  });
  const auto start = std::chrono::steady_clock::now();
  Error e = expect_error(
      [&] { client.get_activity_task(kArnPrefix + "activity:a", "w", stop.get_token()); });
  stopper.join();
  EXPECT_EQ(e.kind(), ErrorKind::Cancelled);
  EXPECT_FALSE(e.retryable());
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
}

TEST(ClientTransportTest, SendsTheAwsProtocolHeadersAndReadsErrorNames) {
  const std::string body =
      R"({"__type":"com.amazonaws.states#ExecutionDoesNotExist:http://internal","message":"gone"})";
  ScriptedServer server(http_answer(400, "Bad Request", body, "x-amzn-RequestId: req-1\r\n"));
  Client client({.endpoint = server.url(), .api_key = "secret-key", .user_agent = "sdk-test/1"});
  Error e = expect_error([&] { client.describe_execution(kArnPrefix + "execution:M:x"); });
  EXPECT_EQ(e.kind(), ErrorKind::Server);
  EXPECT_EQ(e.code(), "ExecutionDoesNotExist");
  EXPECT_EQ(e.message(), "gone");
  EXPECT_EQ(e.request_id(), "req-1");
  EXPECT_EQ(e.status(), 400);

  const auto received = server.received();
  ASSERT_EQ(received.size(), 1u);
  const std::string &r = received[0];
  EXPECT_EQ(r.rfind("POST / HTTP/1.1\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("X-Amz-Target: AWSStepFunctions.DescribeExecution\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("Content-Type: application/x-amz-json-1.0\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("Authorization: Bearer secret-key\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("User-Agent: sdk-test/1\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("\r\n\r\n{\"executionArn\":\"" + kArnPrefix + "execution:M:x\"}"),
            std::string::npos)
      << r;
}

TEST(ClientTransportTest, AnAnswerThatIsNotJsonIsAProtocolError) {
  ScriptedServer server("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello");
  Client client({.endpoint = server.url()});
  Error e = expect_error([&] { client.list_state_machines(); });
  EXPECT_EQ(e.kind(), ErrorKind::Protocol);
  EXPECT_EQ(e.message(), "the answer (HTTP 200) is not JSON: hello");
}

TEST(ClientTransportTest, RefusesEndpointsItCannotUse) {
  auto code_of = [](const std::string &url) {
    try {
      Client c({.endpoint = url});
    } catch (const Error &e) {
      EXPECT_EQ(e.kind(), ErrorKind::Connect);
      return e.message();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(code_of("https://example.test"),
            "Invalid endpoint 'https://example.test': https is not supported; use "
            "http://HOST:PORT");
  EXPECT_EQ(code_of("ftp://x"), "Invalid endpoint 'ftp://x': expected http://HOST[:PORT]");
  EXPECT_EQ(code_of("http://host:99999"), "Invalid endpoint 'http://host:99999': bad port '99999'");
  EXPECT_EQ(code_of("http://"), "Invalid endpoint 'http://': no host");
  EXPECT_EQ(code_of("http://127.0.0.1:8080/"), "accepted");
  EXPECT_EQ(code_of("http://[::1]:8080"), "accepted");
}

TEST(ClientTimestampTest, ReadsAndWritesBothForms) {
  using worker::Timestamp;
  const Timestamp t = worker::timestamp_from_epoch_seconds(1700000000.123);
  EXPECT_EQ(t.time_since_epoch().count(), 1700000000123);
  EXPECT_DOUBLE_EQ(worker::timestamp_to_epoch_seconds(t), 1700000000.123);
  EXPECT_EQ(worker::timestamp_to_rfc3339(t), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(worker::timestamp_from_rfc3339("2023-11-14T22:13:20.123Z"), t);
  EXPECT_EQ(worker::timestamp_from_rfc3339("2023-11-14T23:13:20.123+01:00"), t);
  EXPECT_EQ(worker::timestamp_from_rfc3339("2023-11-14T22:13:20Z").time_since_epoch().count(),
            1700000000000);
  Error bad = expect_error([] { worker::timestamp_from_rfc3339("yesterday"); });
  EXPECT_EQ(bad.kind(), ErrorKind::Protocol);
  EXPECT_EQ(bad.message(), "not an RFC 3339 time: 'yesterday'");
  EXPECT_EQ(worker::url_encode("arn:aws:x/y z"), "arn%3Aaws%3Ax%2Fy%20z");
}

}  // namespace
}  // namespace stepd::test
