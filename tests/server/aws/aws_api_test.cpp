#include "server/aws/aws_api.hpp"

#include "server/aws/aws_protocol.hpp"
#include "tests/server/aws/aws_call.hpp"
#include "tests/server/aws/history_event_types.hpp"
#include "tests/support/completion_threads.hpp"
#include "tests/support/scratch_database.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>

namespace stepd::server {
namespace {

using asl::Json;
using engine::Micros;
using ::stepd::test::kEngineEventDetails;
using namespace std::chrono_literals;
using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;

constexpr Micros kStart = 1'700'000'000'123'456;  // the fake clock's first reading
const Json kStartDate = 1700000000.123;           // ... as the API shows it

const std::string kArnPrefix = "arn:aws:states:local:000000000000:";

// Completes tasks on threads of its own, as a worker would. The task's payload says how:
// {"mode": "ok"} (or none) answers the payload itself, "fail" fails with Oops, "slow" never
// answers, "flaky" fails the first time for an execution and answers afterwards.
class EchoTransport final : public engine::TaskTransport {
 public:
  ~EchoTransport() override { join(); }
  void attach(engine::Engine* engine) { engine_ = engine; }
  void dispatch(const engine::TaskDispatch& task) override {
    const Json& p = task.payload;
    std::string mode = "ok";
    if (p.is_object() && p.contains("mode")) mode = p["mode"].get<std::string>();
    if (p.is_object() && p.contains("Payload") && p["Payload"].is_object()) {
      mode = p["Payload"].value("mode", mode);
    }
    if (mode == "slow") return;
    std::lock_guard lock(mu_);
    if (mode == "flaky") mode = flaky_seen_.insert(task.execution_arn).second ? "fail" : "ok";
    asl::Outcome outcome = p;
    if (mode == "fail") outcome = asl::StatesError{"Oops", "it failed"};
    threads_.run(
        [this, token = task.token, outcome] { (void)engine_->complete_task(token, outcome); });
  }
  void join() { threads_.join(); }

 private:
  engine::Engine* engine_ = nullptr;
  std::mutex mu_;
  std::set<std::string> flaky_seen_;
  ::stepd::test::CompletionThreads threads_;
};

std::string header(const HttpResponse& r, const std::string& name) {
  for (const Header& h : r.headers) {
    if (h.name == name) return h.value;
  }
  return "(absent)";
}

const char* kPassMachine =
    R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"ResultPath":"$.r","End":true}}})";
const char* kWaitMachine =
    R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}})";
const char* kFailMachine =
    R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom","Cause":"bad"}}})";
const char* kRole = "arn:aws:iam::000000000000:role/stepd";

// The same suite runs on every store: "sqlite" (a temp file) and "postgres" (a schema of its
// own on the server STEPD_TEST_PG_URL names; skipped when it is not set).
class AwsApiTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "aws_api");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
    auto store = engine::open_store(db_->url() + (db_->is_sqlite() ? "?synchronous=normal" : ""));
    ASSERT_TRUE(store.ok()) << store.error().message;
    engine::EngineOptions options;
    options.clock = [this] { return now_.load(); };
    options.timer_thread = false;
    engine_ = std::make_unique<engine::Engine>(std::move(*store), options);
    transport_.attach(engine_.get());
    engine_->set_task_transport(&transport_);
    engine::Status s = engine_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
    operations_ = std::make_unique<Operations>(*engine_, nullptr);
    AwsApiOptions api_options;
    api_options.sync_timeout = 2s;
    api_ = std::make_unique<AwsApi>(*operations_, api_options);
  }

  void TearDown() override {
    transport_.join();
    api_.reset();
    operations_.reset();
    if (engine_) engine_->shutdown();
    transport_.join();
    engine_.reset();
  }

  static Caller admin() {
    Caller c;
    c.request_id = "req-1";
    return c;
  }

  HttpResponse call(const std::string& operation, const std::string& body,
                    const Caller& caller = admin(),
                    const char* target_prefix = "AWSStepFunctions.") {
    const std::string target = target_prefix == nullptr ? "" : target_prefix + operation;
    return test::await_answer(*api_, test::aws_json_request(target, body), caller, 10s, operation);
  }

  // Calls and expects a 200; returns the parsed body.
  Json ok(const std::string& operation, const Json& body, const Caller& caller = admin()) {
    HttpResponse r = call(operation, body.dump(), caller);
    EXPECT_EQ(r.status, 200) << operation << ": " << r.body;
    EXPECT_EQ(r.content_type, "application/x-amz-json-1.0");
    EXPECT_EQ(header(r, "x-amzn-RequestId"), caller.request_id);
    Json parsed = Json::parse(r.body, nullptr, false);
    EXPECT_TRUE(parsed.is_object()) << r.body;
    return parsed;
  }

  // Calls and expects the error `type` with `message` (HTTP 400 unless said).
  void expect_error_text(const std::string& operation, const std::string& body,
                         const std::string& type, const std::string& message, int status = 400,
                         const Caller& caller = admin()) {
    HttpResponse r = call(operation, body, caller);
    EXPECT_EQ(r.status, status) << operation << " " << body << ": " << r.body;
    EXPECT_EQ(header(r, "x-amzn-ErrorType"), type) << r.body;
    EXPECT_EQ(header(r, "x-amzn-RequestId"), caller.request_id);
    Json parsed = Json::parse(r.body, nullptr, false);
    ASSERT_TRUE(parsed.is_object()) << r.body;
    EXPECT_EQ(parsed.value("__type", ""), type) << r.body;
    EXPECT_EQ(parsed.value("message", ""), message) << r.body;
  }
  void expect_error(const std::string& operation, const Json& body, const std::string& type,
                    const std::string& message, int status = 400, const Caller& caller = admin()) {
    expect_error_text(operation, body.dump(), type, message, status, caller);
  }

  std::string create(const std::string& name, const std::string& definition,
                     const std::string& type = "STANDARD") {
    Json r =
        ok("CreateStateMachine",
           Json{{"name", name}, {"definition", definition}, {"roleArn", kRole}, {"type", type}});
    return r.value("stateMachineArn", "");
  }

  std::string start(const std::string& machine, const std::string& name,
                    const std::string& input = "{}") {
    Json r =
        ok("StartExecution", Json{{"stateMachineArn", machine}, {"name", name}, {"input", input}});
    return r.value("executionArn", "");
  }

  // Waits until the execution ends; returns DescribeExecution's answer.
  Json finish(const std::string& execution) {
    auto r = engine_->wait_for(execution, 10s);
    EXPECT_TRUE(std::holds_alternative<ExecutionRecord>(r));
    return ok("DescribeExecution", Json{{"executionArn", execution}});
  }

  // Moves the clock on and fires what is due.
  void advance(Micros micros) {
    now_ += micros;
    engine_->fire_due_timers();
  }

  // Every event of an execution's history, one page at a time.
  std::vector<Json> history(const std::string& execution) {
    std::vector<Json> events;
    std::string token;
    do {
      Json req{{"executionArn", execution}, {"maxResults", 1000}};
      if (!token.empty()) req["nextToken"] = token;
      Json page = ok("GetExecutionHistory", req);
      for (const Json& e : page["events"]) events.push_back(e);
      token = page.value("nextToken", "");
    } while (!token.empty());
    return events;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::atomic<Micros> now_{kStart};
  EchoTransport transport_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<Operations> operations_;
  std::unique_ptr<AwsApi> api_;
};

// --- The protocol -----------------------------------------------------------------------------

TEST_P(AwsApiTest, UnknownOperations) {
  expect_error_text("PublishStateMachineVersion", "{}", "UnknownOperationException",
                    "Unknown operation: 'AWSStepFunctions.PublishStateMachineVersion'");
  expect_error_text("NoSuchThing", "{}", "UnknownOperationException",
                    "Unknown operation: 'AWSStepFunctions.NoSuchThing'");
  HttpResponse other = call("ListStateMachines", "{}", admin(), "SomeOtherService.");
  EXPECT_EQ(other.status, 400);
  EXPECT_EQ(Json::parse(other.body)["message"],
            "Unknown operation: 'SomeOtherService.ListStateMachines'");
  HttpResponse none = call("ListStateMachines", "{}", admin(), nullptr);
  EXPECT_EQ(none.status, 400);
  EXPECT_EQ(
      none.body,
      R"j({"__type":"UnknownOperationException","message":"The request names no operation (X-Amz-Target is missing)"})j");
}

TEST_P(AwsApiTest, OperationNames) {
  EXPECT_EQ(
      AwsApi::operation_names(),
      (std::vector<std::string>{
          "CreateStateMachine", "UpdateStateMachine", "DescribeStateMachine", "ListStateMachines",
          "DeleteStateMachine", "ValidateStateMachineDefinition", "StartExecution",
          "StartSyncExecution", "DescribeExecution", "ListExecutions", "GetExecutionHistory",
          "StopExecution", "RedriveExecution", "DescribeStateMachineForExecution", "TagResource",
          "UntagResource", "ListTagsForResource", "CreateActivity", "DescribeActivity",
          "ListActivities", "DeleteActivity", "GetActivityTask", "SendTaskSuccess",
          "SendTaskFailure", "SendTaskHeartbeat"}));
}

TEST_P(AwsApiTest, BadBodies) {
  expect_error_text("ListStateMachines", "{nope", "SerializationException",
                    "The request body is not valid JSON");
  expect_error_text("ListStateMachines", "\"text\"", "SerializationException",
                    "The request body must be a JSON object, not a string");
  expect_error_text(
      "ListStateMachines", "{\"a\":" + std::string(100, '[') + std::string(100, ']') + "}",
      "SerializationException", "The request body nests arrays and objects deeper than 64 levels");
  expect_error_text("ListStateMachines", R"({"maxResults":"10"})", "SerializationException",
                    "Value at 'maxResults' must be an integer, not a string");
  // An empty body is an empty request.
  EXPECT_EQ(call("ListStateMachines", "").status, 200);
}

TEST_P(AwsApiTest, SigV4HeadersAreIgnored) {
  HttpRequest request;
  request.method = "POST";
  request.target = request.path = "/";
  request.headers = {
      {"X-Amz-Target", "AWSStepFunctions.ListStateMachines"},
      {"Content-Type", "application/x-amz-json-1.0"},
      {"X-Amz-Date", "20240101T000000Z"},
      {"Authorization",
       "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/states/aws4_request, "
       "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=abc"}};
  request.body = "{}";
  std::promise<HttpResponse> answer;
  api_->handle(request, admin(), [&](HttpResponse r) { answer.set_value(std::move(r)); });
  HttpResponse r = answer.get_future().get();
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.body, R"({"stateMachines":[]})");
}

TEST_P(AwsApiTest, RolesAreOperationsToCheck) {
  const std::string machine = create("Guarded", kPassMachine);
  Caller reader = admin();
  reader.role = Role::ReadOnly;
  reader.key_id = "k1";
  reader.request_id = "req-ro";
  expect_error(
      "StartExecution", Json{{"stateMachineArn", machine}}, "AccessDeniedException",
      "User: k1 is not authorized to perform: states:StartExecution on resource: " + machine, 400,
      reader);
  Json described = ok("DescribeStateMachine", Json{{"stateMachineArn", machine}}, reader);
  EXPECT_EQ(described["name"], "Guarded");
}

// --- State machines ---------------------------------------------------------------------------

TEST_P(AwsApiTest, CreateStateMachine) {
  Json r = ok("CreateStateMachine", Json{{"name", "Hello"},
                                         {"definition", kPassMachine},
                                         {"roleArn", kRole},
                                         {"somethingNew", "ignored"}});
  EXPECT_EQ(r, (Json{{"stateMachineArn", kArnPrefix + "stateMachine:Hello"},
                     {"creationDate", kStartDate}}));
  // AWS: creating the same machine again answers the existing one.
  EXPECT_EQ(ok("CreateStateMachine",
               Json{{"name", "Hello"}, {"definition", kPassMachine}, {"roleArn", kRole}}),
            r);
  expect_error("CreateStateMachine",
               Json{{"name", "Hello"}, {"definition", kWaitMachine}, {"roleArn", kRole}},
               "StateMachineAlreadyExists",
               "State Machine Already Exists: '" + kArnPrefix + "stateMachine:Hello'");
}

TEST_P(AwsApiTest, CreateStateMachineErrors) {
  expect_error("CreateStateMachine", Json::object(), "ValidationException",
               "3 validation errors detected: Value null at 'name' failed to satisfy "
               "constraint: Member must not be null; Value null at 'definition' failed to "
               "satisfy constraint: Member must not be null; Value null at 'roleArn' failed to "
               "satisfy constraint: Member must not be null");
  expect_error("CreateStateMachine",
               Json{{"name", "X"},
                    {"definition", kPassMachine},
                    {"roleArn", kRole},
                    {"type", "FAST"},
                    {"loggingConfiguration", {{"level", "LOUD"}}}},
               "ValidationException",
               "2 validation errors detected: Value 'FAST' at 'type' failed to satisfy "
               "constraint: Member must satisfy enum value set: [STANDARD, EXPRESS]; Value "
               "'LOUD' at 'loggingConfiguration.level' failed to satisfy constraint: Member "
               "must satisfy enum value set: [ALL, ERROR, FATAL, OFF]");
  expect_error("CreateStateMachine",
               Json{{"name", "bad name"}, {"definition", kPassMachine}, {"roleArn", kRole}},
               "InvalidName",
               "State machine name 'bad name' contains a character that is not allowed");
  expect_error(
      "CreateStateMachine",
      Json{{"name", "Bad"},
           {"definition", R"({"StartAt":"Nope","States":{"P":{"Type":"Pass","End":true}}})"},
           {"roleArn", kRole}},
      "InvalidDefinition",
      "Invalid State Machine Definition: /StartAt: there is no state named 'Nope'");
  expect_error("CreateStateMachine",
               Json{{"name", "Bad"}, {"definition", "{not json"}, {"roleArn", kRole}},
               "InvalidDefinition",
               "Invalid State Machine Definition: /: invalid JSON at line 1, column 3: syntax "
               "error while parsing object key - invalid literal; last read: '{no'; expected "
               "string literal");
  Json tags = Json::array();
  for (int i = 0; i < 51; ++i)
    tags.push_back(Json{{"key", "k" + std::to_string(i)}, {"value", ""}});
  expect_error(
      "CreateStateMachine",
      Json{{"name", "Tagged"}, {"definition", kPassMachine}, {"roleArn", kRole}, {"tags", tags}},
      "TooManyTags", "Too many tags: a resource has at most 50 tags");
}

TEST_P(AwsApiTest, DescribeStateMachine) {
  const std::string machine = create("Hello", kPassMachine);
  Json expected{{"stateMachineArn", machine},
                {"name", "Hello"},
                {"status", "ACTIVE"},
                {"definition", kPassMachine},
                {"roleArn", kRole},
                {"type", "STANDARD"},
                {"creationDate", kStartDate},
                {"loggingConfiguration", {{"level", "OFF"}, {"includeExecutionData", false}}},
                {"tracingConfiguration", {{"enabled", false}}},
                {"revisionId", "1"}};
  EXPECT_EQ(ok("DescribeStateMachine", Json{{"stateMachineArn", machine}}), expected);
  expected.erase("definition");
  EXPECT_EQ(ok("DescribeStateMachine",
               Json{{"stateMachineArn", machine}, {"includedData", "METADATA_ONLY"}}),
            expected);
}

TEST_P(AwsApiTest, DescribeStateMachineErrors) {
  expect_error("DescribeStateMachine", Json::object(), "ValidationException",
               "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy "
               "constraint: Member must not be null");
  expect_error("DescribeStateMachine", Json{{"stateMachineArn", kArnPrefix + "stateMachine:Nope"}},
               "StateMachineDoesNotExist",
               "State Machine Does Not Exist: '" + kArnPrefix + "stateMachine:Nope'");
  expect_error("DescribeStateMachine", Json{{"stateMachineArn", kArnPrefix + "execution:Nope:e1"}},
               "InvalidArn",
               "Invalid Arn: 'Resource type not valid in this context: " + kArnPrefix +
                   "execution:Nope:e1'");
  expect_error("DescribeStateMachine", Json{{"stateMachineArn", "nope"}}, "InvalidArn",
               "Invalid Arn: 'Invalid ARN prefix: nope'");
  expect_error("DescribeStateMachine", Json{{"stateMachineArn", "x"}, {"includedData", "SOME"}},
               "ValidationException",
               "1 validation error detected: Value 'SOME' at 'includedData' failed to satisfy "
               "constraint: Member must satisfy enum value set: [ALL_DATA, METADATA_ONLY]");
}

TEST_P(AwsApiTest, UpdateStateMachine) {
  const std::string machine = create("Hello", kPassMachine);
  now_ += 5'000'000;
  Json r =
      ok("UpdateStateMachine", Json{{"stateMachineArn", machine}, {"definition", kWaitMachine}});
  EXPECT_EQ(r, (Json{{"updateDate", 1700000005.123}, {"revisionId", "2"}}));
  Json described = ok("DescribeStateMachine", Json{{"stateMachineArn", machine}});
  EXPECT_EQ(described["definition"], kWaitMachine);
  EXPECT_EQ(described["revisionId"], "2");
  EXPECT_EQ(described["creationDate"], kStartDate);
  r = ok("UpdateStateMachine",
         Json{{"stateMachineArn", machine}, {"roleArn", "arn:aws:iam::000000000000:role/other"}});
  EXPECT_EQ(r["revisionId"], "3");
  expect_error("UpdateStateMachine", Json{{"stateMachineArn", machine}}, "MissingRequiredParameter",
               "Either the definition or the roleArn must be specified");
  expect_error(
      "UpdateStateMachine",
      Json{{"stateMachineArn", kArnPrefix + "stateMachine:Nope"}, {"definition", kPassMachine}},
      "StateMachineDoesNotExist",
      "State Machine Does Not Exist: '" + kArnPrefix + "stateMachine:Nope'");
  expect_error("UpdateStateMachine",
               Json{{"stateMachineArn", machine}, {"definition", R"({"StartAt":"X","States":{}})"}},
               "InvalidDefinition",
               "Invalid State Machine Definition: /StartAt: there is no state named 'X'; "
               "/States: must define at least one state");
}

TEST_P(AwsApiTest, ListStateMachines) {
  for (const char* name : {"Cherry", "Apple", "Banana"}) create(name, kPassMachine);
  Json first = ok("ListStateMachines", Json{{"maxResults", 2}});
  ASSERT_TRUE(first.contains("nextToken")) << first.dump();
  const std::string token = first["nextToken"];
  first.erase("nextToken");
  EXPECT_EQ(first, (Json{{"stateMachines",
                          {{{"stateMachineArn", kArnPrefix + "stateMachine:Apple"},
                            {"name", "Apple"},
                            {"type", "STANDARD"},
                            {"creationDate", kStartDate}},
                           {{"stateMachineArn", kArnPrefix + "stateMachine:Banana"},
                            {"name", "Banana"},
                            {"type", "STANDARD"},
                            {"creationDate", kStartDate}}}}}));
  Json second = ok("ListStateMachines", Json{{"maxResults", 2}, {"nextToken", token}});
  EXPECT_FALSE(second.contains("nextToken"));
  ASSERT_EQ(second["stateMachines"].size(), 1u);
  EXPECT_EQ(second["stateMachines"][0]["name"], "Cherry");
  // maxResults 0 is the default page size.
  EXPECT_EQ(ok("ListStateMachines", Json{{"maxResults", 0}})["stateMachines"].size(), 3u);
  expect_error("ListStateMachines", Json{{"maxResults", 1001}}, "ValidationException",
               "1 validation error detected: Value '1001' at 'maxResults' failed to satisfy "
               "constraint: Member must have value less than or equal to 1000");
  expect_error("ListStateMachines", Json{{"maxResults", -1}}, "ValidationException",
               "1 validation error detected: Value '-1' at 'maxResults' failed to satisfy "
               "constraint: Member must have value greater than or equal to 0");
  expect_error("ListStateMachines", Json{{"nextToken", "garbage"}}, "InvalidToken",
               "invalid next_token");
}

TEST_P(AwsApiTest, DeleteStateMachine) {
  const std::string machine = create("Doomed", kPassMachine);
  EXPECT_EQ(ok("DeleteStateMachine", Json{{"stateMachineArn", machine}}), Json::object());
  expect_error("DescribeStateMachine", Json{{"stateMachineArn", machine}},
               "StateMachineDoesNotExist", "State Machine Does Not Exist: '" + machine + "'");
  // AWS: deleting what does not exist succeeds.
  EXPECT_EQ(ok("DeleteStateMachine", Json{{"stateMachineArn", machine}}), Json::object());
  expect_error("DeleteStateMachine", Json{{"stateMachineArn", "arn:aws:sqs:x:1:stateMachine:a"}},
               "InvalidArn",
               "Invalid Arn: 'Service not valid in this context: arn:aws:sqs:x:1:stateMachine:a'");
}

TEST_P(AwsApiTest, ValidateStateMachineDefinition) {
  EXPECT_EQ(ok("ValidateStateMachineDefinition", Json{{"definition", kPassMachine}}),
            (Json{{"result", "OK"}, {"diagnostics", Json::array()}, {"truncated", false}}));
  const std::string bad =
      R"({"StartAt":"X","States":{"A":{"Type":"Pass","Next":"Gone"},"B":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","End":true}}})";
  Json r = ok("ValidateStateMachineDefinition", Json{{"definition", bad}});
  EXPECT_EQ(r["result"], "FAIL");
  EXPECT_EQ(r["truncated"], false);
  ASSERT_EQ(r["diagnostics"].size(), 2u) << r.dump();
  for (const Json& d : r["diagnostics"]) {
    EXPECT_EQ(d["severity"], "ERROR") << d.dump();
    EXPECT_TRUE(d["code"].is_string() && d["message"].is_string()) << d.dump();
  }
  EXPECT_EQ(r["diagnostics"], (Json{{{"severity", "ERROR"},
                                     {"code", "MISSING_TRANSITION_TARGET"},
                                     {"message", "there is no state named 'X'"},
                                     {"location", "/StartAt"}},
                                    {{"severity", "ERROR"},
                                     {"code", "MISSING_TRANSITION_TARGET"},
                                     {"message", "there is no state named 'Gone'"},
                                     {"location", "/States/A/Next"}}}));
  // WARNING shows warnings too (the sns Task is valid, but stepd cannot run it).
  Json all =
      ok("ValidateStateMachineDefinition", Json{{"definition", bad}, {"severity", "WARNING"}});
  EXPECT_EQ(all["diagnostics"].size(), r["diagnostics"].size() + 1) << all.dump();
  bool warned = false;
  for (const Json& d : all["diagnostics"]) {
    if (d["severity"] == "WARNING") {
      warned = true;
      EXPECT_EQ(d["code"], "UNSUPPORTED_RESOURCE");
      EXPECT_EQ(d["location"], "/States/B/Resource");
    }
  }
  EXPECT_TRUE(warned) << all.dump();
  Json one = ok("ValidateStateMachineDefinition", Json{{"definition", bad}, {"maxResults", 1}});
  EXPECT_EQ(one["diagnostics"].size(), 1u);
  EXPECT_EQ(one["truncated"], true);
  EXPECT_EQ(one["result"], "FAIL");
  expect_error("ValidateStateMachineDefinition", Json{{"definition", bad}, {"maxResults", 101}},
               "ValidationException",
               "1 validation error detected: Value '101' at 'maxResults' failed to satisfy "
               "constraint: Member must have value less than or equal to 100");
  expect_error("ValidateStateMachineDefinition", Json{{"definition", ""}}, "ValidationException",
               "1 validation error detected: Value at 'definition' failed to satisfy "
               "constraint: Member must have length greater than or equal to 1");
}

// --- Executions -------------------------------------------------------------------------------

TEST_P(AwsApiTest, StartAndDescribeExecution) {
  const std::string machine = create("Hello", kPassMachine);
  Json started = ok("StartExecution", Json{{"stateMachineArn", machine},
                                           {"name", "e1"},
                                           {"input", R"({"x":1})"},
                                           {"traceHeader", "Root=1-abc"}});
  const std::string execution = kArnPrefix + "execution:Hello:e1";
  EXPECT_EQ(started, (Json{{"executionArn", execution}, {"startDate", kStartDate}}));
  EXPECT_EQ(finish(execution),
            (Json{{"executionArn", execution},
                  {"stateMachineArn", machine},
                  {"name", "e1"},
                  {"status", "SUCCEEDED"},
                  {"startDate", kStartDate},
                  {"stopDate", kStartDate},
                  {"input", R"({"x":1})"},
                  {"inputDetails", {{"included", true}}},
                  {"output", R"({"x":1,"r":{"ok":true}})"},
                  {"outputDetails", {{"included", true}}},
                  {"traceHeader", "Root=1-abc"},
                  {"redriveCount", 0},
                  {"redriveStatus", "NOT_REDRIVABLE"},
                  {"redriveStatusReason", "Execution is SUCCEEDED and cannot be redriven."}}));
  Json meta =
      ok("DescribeExecution", Json{{"executionArn", execution}, {"includedData", "METADATA_ONLY"}});
  EXPECT_FALSE(meta.contains("input") || meta.contains("output") || meta.contains("inputDetails"))
      << meta.dump();
  // AWS: no input is {}; no name is a generated one.
  Json unnamed = ok("StartExecution", Json{{"stateMachineArn", machine}});
  const std::string generated = unnamed["executionArn"];
  Json d = finish(generated);
  EXPECT_EQ(d["input"], "{}");
  EXPECT_EQ(generated, kArnPrefix + "execution:Hello:" + d["name"].get<std::string>());
  EXPECT_EQ(d["name"].get<std::string>().size(), 36u) << d.dump();
}

TEST_P(AwsApiTest, StartExecutionErrors) {
  const std::string machine = create("Hello", kWaitMachine);
  expect_error("StartExecution", Json::object(), "ValidationException",
               "1 validation error detected: Value null at 'stateMachineArn' failed to satisfy "
               "constraint: Member must not be null");
  expect_error("StartExecution", Json{{"stateMachineArn", machine}, {"input", "{nope"}},
               "InvalidExecutionInput",
               "Invalid State Machine Execution Input: the input is not valid JSON");
  expect_error("StartExecution", Json{{"stateMachineArn", machine}, {"name", "a/b"}}, "InvalidName",
               "Execution name 'a/b' contains a character that is not allowed");
  expect_error(
      "StartExecution",
      Json{{"stateMachineArn", machine}, {"input", "\"" + std::string(262144, 'x') + "\""}},
      "ValidationException",
      "1 validation error detected: Value at 'input' failed to satisfy constraint: "
      "Member must have length less than or equal to 262144");
  expect_error("StartExecution", Json{{"stateMachineArn", machine}, {"traceHeader", "caf\xc3\xa9"}},
               "ValidationException",
               "1 validation error detected: Value 'caf\xc3\xa9' at 'traceHeader' failed to "
               "satisfy constraint: Member must satisfy regular expression pattern: "
               "\\p{ASCII}*");
  expect_error("StartExecution", Json{{"stateMachineArn", kArnPrefix + "stateMachine:Nope"}},
               "StateMachineDoesNotExist",
               "State Machine Does Not Exist: '" + kArnPrefix + "stateMachine:Nope'");
  // AWS: the same name and input while it runs is the same execution; other input is not.
  const std::string first = start(machine, "once", R"({"a":1})");
  EXPECT_EQ(start(machine, "once", R"({"a":1})"), first);
  expect_error("StartExecution",
               Json{{"stateMachineArn", machine}, {"name", "once"}, {"input", R"({"a":2})"}},
               "ExecutionAlreadyExists", "Execution Already Exists: '" + first + "'");
}

TEST_P(AwsApiTest, FailedExecution) {
  const std::string machine = create("Failing", kFailMachine);
  const std::string execution = start(machine, "f1");
  EXPECT_EQ(finish(execution), (Json{{"executionArn", execution},
                                     {"stateMachineArn", machine},
                                     {"name", "f1"},
                                     {"status", "FAILED"},
                                     {"startDate", kStartDate},
                                     {"stopDate", kStartDate},
                                     {"input", "{}"},
                                     {"inputDetails", {{"included", true}}},
                                     {"error", "Boom"},
                                     {"cause", "bad"},
                                     {"redriveCount", 0},
                                     {"redriveStatus", "REDRIVABLE"}}));
}

TEST_P(AwsApiTest, DescribeExecutionErrors) {
  expect_error("DescribeExecution", Json{{"executionArn", kArnPrefix + "execution:M:nope"}},
               "ExecutionDoesNotExist",
               "Execution Does Not Exist: '" + kArnPrefix + "execution:M:nope'");
  expect_error(
      "DescribeExecution", Json{{"executionArn", kArnPrefix + "stateMachine:M"}}, "InvalidArn",
      "Invalid Arn: 'Resource type not valid in this context: " + kArnPrefix + "stateMachine:M'");
  expect_error("DescribeExecution", Json::object(), "ValidationException",
               "1 validation error detected: Value null at 'executionArn' failed to satisfy "
               "constraint: Member must not be null");
}

TEST_P(AwsApiTest, StartSyncExecution) {
  const std::string express = create("Quick", kPassMachine, "EXPRESS");
  Json r = ok("StartSyncExecution",
              Json{{"stateMachineArn", express}, {"name", "s1"}, {"input", R"({"y":2})"}});
  EXPECT_EQ(r, (Json{{"executionArn", kArnPrefix + "execution:Quick:s1"},
                     {"stateMachineArn", express},
                     {"name", "s1"},
                     {"startDate", kStartDate},
                     {"stopDate", kStartDate},
                     {"status", "SUCCEEDED"},
                     {"input", R"({"y":2})"},
                     {"inputDetails", {{"included", true}}},
                     {"output", R"({"y":2,"r":{"ok":true}})"},
                     {"outputDetails", {{"included", true}}}}));
  const std::string failing = create("QuickFail", kFailMachine, "EXPRESS");
  Json f = ok("StartSyncExecution", Json{{"stateMachineArn", failing}, {"name", "s2"}});
  EXPECT_EQ(f["status"], "FAILED");
  EXPECT_EQ(f["error"], "Boom");
  EXPECT_EQ(f["cause"], "bad");
  EXPECT_FALSE(f.contains("output"));
  const std::string standard = create("Slow", kPassMachine);
  expect_error("StartSyncExecution", Json{{"stateMachineArn", standard}},
               "StateMachineTypeNotSupported",
               "This operation is not supported by this type of state machine");
}

TEST_P(AwsApiTest, StartSyncExecutionThatOutlivesTheWait) {
  // The fake clock never reaches the Wait's end: the execution outlives the 2 s the test's
  // AwsApi waits.
  const std::string express = create("Sleepy", kWaitMachine, "EXPRESS");
  Json r = ok("StartSyncExecution", Json{{"stateMachineArn", express}, {"name", "z"}});
  EXPECT_EQ(r["status"], "TIMED_OUT");
  EXPECT_EQ(r["error"], "States.Timeout");
  EXPECT_EQ(r["cause"], "The execution ran longer than StartSyncExecution waits (2 seconds)");
}

TEST_P(AwsApiTest, ListExecutionsPaginatesOver250) {
  const std::string machine = create("Many", kPassMachine);
  const std::string other = create("Other", kPassMachine);
  // Started all at once: the engine commits them in batches.
  std::vector<std::future<HttpResponse>> answers;
  for (int i = 0; i < 250; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "e%03d", i);
    HttpRequest request;
    request.method = "POST";
    request.target = request.path = "/";
    request.headers.push_back({"X-Amz-Target", "AWSStepFunctions.StartExecution"});
    request.body = Json{{"stateMachineArn", machine}, {"name", name}}.dump();
    auto promise = std::make_shared<std::promise<HttpResponse>>();
    answers.push_back(promise->get_future());
    api_->handle(std::move(request), admin(),
                 [promise](HttpResponse r) { promise->set_value(std::move(r)); });
  }
  for (auto& a : answers) {
    ASSERT_EQ(a.wait_for(30s), std::future_status::ready);
    HttpResponse r = a.get();
    ASSERT_EQ(r.status, 200) << r.body;
  }
  start(other, "elsewhere");
  for (int i = 0; i < 250; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "e%03d", i);
    (void)engine_->wait_for(kArnPrefix + "execution:Many:" + name, 10s);
  }
  // Every execution started at the same instant, so the order is by ARN.
  std::vector<std::string> seen;
  std::vector<std::size_t> sizes;
  std::string token;
  do {
    Json req{{"stateMachineArn", machine}, {"maxResults", 100}};
    if (!token.empty()) req["nextToken"] = token;
    Json page = ok("ListExecutions", req);
    sizes.push_back(page["executions"].size());
    for (const Json& x : page["executions"]) {
      seen.push_back(x["name"]);
      EXPECT_EQ(
          x, (Json{{"executionArn", kArnPrefix + "execution:Many:" + x["name"].get<std::string>()},
                   {"stateMachineArn", machine},
                   {"name", x["name"]},
                   {"status", "SUCCEEDED"},
                   {"startDate", kStartDate},
                   {"stopDate", kStartDate},
                   {"redriveCount", 0}}));
    }
    token = page.value("nextToken", "");
  } while (!token.empty());
  EXPECT_EQ(sizes, (std::vector<std::size_t>{100, 100, 50}));
  ASSERT_EQ(seen.size(), 250u);
  for (int i = 0; i < 250; ++i) {
    char name[8];
    std::snprintf(name, sizeof name, "e%03d", i);
    EXPECT_EQ(seen[static_cast<std::size_t>(i)], name);
  }
  // maxResults 0 (or none) is 100; without a machine every execution is listed.
  EXPECT_EQ(ok("ListExecutions", Json{{"stateMachineArn", machine}})["executions"].size(), 100u);
  EXPECT_EQ(ok("ListExecutions", Json{{"maxResults", 1000}})["executions"].size(), 251u);
  EXPECT_EQ(ok("ListExecutions", Json{{"stateMachineArn", machine}, {"statusFilter", "RUNNING"}}),
            (Json{{"executions", Json::array()}}));
  EXPECT_EQ(
      ok("ListExecutions",
         Json{{"stateMachineArn", machine}, {"redriveFilter", "REDRIVEN"}, {"maxResults", 1000}}),
      (Json{{"executions", Json::array()}}));
  expect_error("ListExecutions", Json{{"stateMachineArn", machine}, {"statusFilter", "DONE"}},
               "ValidationException",
               "1 validation error detected: Value 'DONE' at 'statusFilter' failed to satisfy "
               "constraint: Member must satisfy enum value set: [RUNNING, SUCCEEDED, FAILED, "
               "TIMED_OUT, ABORTED, PENDING_REDRIVE]");
  expect_error("ListExecutions", Json{{"stateMachineArn", kArnPrefix + "stateMachine:Nope"}},
               "StateMachineDoesNotExist",
               "State Machine Does Not Exist: '" + kArnPrefix + "stateMachine:Nope'");
  HttpResponse map_run =
      call("ListExecutions", Json{{"mapRunArn", "arn:aws:states:local:0:mapRun:M/x:y"}}.dump());
  EXPECT_EQ(map_run.status, 400);
  EXPECT_EQ(
      map_run.body,
      R"({"__type":"ResourceNotFound","message":"Resource not found: 'arn:aws:states:local:0:mapRun:M/x:y'","resourceName":"arn:aws:states:local:0:mapRun:M/x:y"})");
}

// AWS: ExecutionStarted names the roleArn of the revision the execution runs, and so does
// $$.Execution.RoleArn; an execution started before UpdateStateMachine keeps the role it began
// with, also after the execution rests in the store (a Wait) and is woken from it.
TEST_P(AwsApiTest, ExecutionStartedNamesTheRoleOfTheRevisionItRuns) {
  const std::string machine = create("Roles", R"({"StartAt":"W","States":{
    "W":{"Type":"Wait","Seconds":10,"Next":"P"},
    "P":{"Type":"Pass","Parameters":{"role.$":"$$.Execution.RoleArn"},"End":true}}})");
  const std::string first = start(machine, "r1");
  const std::string other_role = "arn:aws:iam::000000000000:role/other";
  ok("UpdateStateMachine", Json{{"stateMachineArn", machine}, {"roleArn", other_role}});
  const std::string second = start(machine, "r2");
  advance(10'000'000);
  EXPECT_EQ(finish(first)["output"], (Json{{"role", kRole}}.dump()));
  EXPECT_EQ(finish(second)["output"], (Json{{"role", other_role}}.dump()));
  std::vector<Json> h1 = history(first);
  std::vector<Json> h2 = history(second);
  ASSERT_FALSE(h1.empty());
  ASSERT_FALSE(h2.empty());
  EXPECT_EQ(h1[0]["executionStartedEventDetails"]["roleArn"], kRole) << h1[0].dump();
  EXPECT_EQ(h2[0]["executionStartedEventDetails"]["roleArn"], other_role) << h2[0].dump();
}

TEST_P(AwsApiTest, GetExecutionHistory) {
  const std::string machine = create("Hello", kPassMachine);
  const std::string execution = start(machine, "h1", R"({"x":1})");
  finish(execution);
  const std::vector<Json> expected = {
      {{"timestamp", kStartDate},
       {"type", "ExecutionStarted"},
       {"id", 1},
       {"previousEventId", 0},
       {"executionStartedEventDetails",
        {{"input", R"({"x":1})"},
         {"inputDetails", {{"truncated", false}}},
         {"roleArn", kRole},
         {"stateMachineArn", machine}}}},
      {{"timestamp", kStartDate},
       {"type", "PassStateEntered"},
       {"id", 2},
       {"previousEventId", 1},
       {"stateEnteredEventDetails",
        {{"name", "P"}, {"input", R"({"x":1})"}, {"inputDetails", {{"truncated", false}}}}}},
      {{"timestamp", kStartDate},
       {"type", "PassStateExited"},
       {"id", 3},
       {"previousEventId", 2},
       {"stateExitedEventDetails",
        {{"name", "P"},
         {"output", R"({"x":1,"r":{"ok":true}})"},
         {"outputDetails", {{"truncated", false}}}}}},
      {{"timestamp", kStartDate},
       {"type", "ExecutionSucceeded"},
       {"id", 4},
       {"previousEventId", 3},
       {"executionSucceededEventDetails",
        {{"output", R"({"x":1,"r":{"ok":true}})"}, {"outputDetails", {{"truncated", false}}}}}},
  };
  EXPECT_EQ(ok("GetExecutionHistory", Json{{"executionArn", execution}}),
            (Json{{"events", expected}}));

  // Pages of two, forwards and backwards.
  Json page1 = ok("GetExecutionHistory", Json{{"executionArn", execution}, {"maxResults", 2}});
  ASSERT_TRUE(page1.contains("nextToken"));
  EXPECT_EQ(page1["events"], (Json{expected[0], expected[1]}));
  Json page2 =
      ok("GetExecutionHistory",
         Json{{"executionArn", execution}, {"maxResults", 2}, {"nextToken", page1["nextToken"]}});
  EXPECT_EQ(page2["events"], (Json{expected[2], expected[3]}));
  EXPECT_FALSE(page2.contains("nextToken") && !page2["nextToken"].get<std::string>().empty() &&
               !ok("GetExecutionHistory",
                   Json{{"executionArn", execution}, {"nextToken", page2["nextToken"]}})["events"]
                    .empty());
  Json reversed = ok("GetExecutionHistory",
                     Json{{"executionArn", execution}, {"reverseOrder", true}, {"maxResults", 1}});
  EXPECT_EQ(reversed["events"], (Json{expected[3]}));

  // Without execution data, inputs and outputs are left out.
  Json bare =
      ok("GetExecutionHistory", Json{{"executionArn", execution}, {"includeExecutionData", false}});
  EXPECT_EQ(bare["events"][1]["stateEnteredEventDetails"],
            (Json{{"name", "P"}, {"inputDetails", {{"truncated", false}}}}));
  EXPECT_EQ(bare["events"][3]["executionSucceededEventDetails"],
            (Json{{"outputDetails", {{"truncated", false}}}}));

  expect_error("GetExecutionHistory", Json{{"executionArn", kArnPrefix + "execution:Hello:nope"}},
               "ExecutionDoesNotExist",
               "Execution Does Not Exist: '" + kArnPrefix + "execution:Hello:nope'");
  expect_error("GetExecutionHistory", Json{{"executionArn", execution}, {"maxResults", 5000}},
               "ValidationException",
               "1 validation error detected: Value '5000' at 'maxResults' failed to satisfy "
               "constraint: Member must have value less than or equal to 1000");
  expect_error("GetExecutionHistory", Json{{"executionArn", execution}, {"nextToken", "bogus"}},
               "InvalidToken", "invalid next_token");
}

TEST_P(AwsApiTest, StopExecution) {
  const std::string machine = create("Waiting", kWaitMachine);
  const std::string execution = start(machine, "w1");
  now_ += 1'000'000;
  EXPECT_EQ(ok("StopExecution",
               Json{{"executionArn", execution}, {"error", "Halt"}, {"cause", "enough"}}),
            (Json{{"stopDate", 1700000001.123}}));
  Json d = ok("DescribeExecution", Json{{"executionArn", execution}});
  EXPECT_EQ(d["status"], "ABORTED");
  EXPECT_EQ(d["error"], "Halt");
  EXPECT_EQ(d["cause"], "enough");
  EXPECT_EQ(d["stopDate"], 1700000001.123);
  EXPECT_EQ(d["redriveStatus"], "REDRIVABLE");
  std::vector<Json> events = history(execution);
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["type"], "ExecutionAborted");
  EXPECT_EQ(events.back()["executionAbortedEventDetails"],
            (Json{{"error", "Halt"}, {"cause", "enough"}}));
  // AWS: stopping an execution that has ended changes nothing.
  now_ += 1'000'000;
  EXPECT_EQ(ok("StopExecution", Json{{"executionArn", execution}}),
            (Json{{"stopDate", 1700000001.123}}));
  expect_error("StopExecution", Json{{"executionArn", kArnPrefix + "execution:Waiting:nope"}},
               "ExecutionDoesNotExist",
               "Execution Does Not Exist: '" + kArnPrefix + "execution:Waiting:nope'");
  expect_error("StopExecution", Json{{"executionArn", execution}, {"error", std::string(257, 'e')}},
               "ValidationException",
               "1 validation error detected: Value at 'error' failed to satisfy constraint: "
               "Member must have length less than or equal to 256");
}

TEST_P(AwsApiTest, RedriveExecution) {
  const std::string machine = create(
      "Flaky",
      R"({"StartAt":"Prep","States":{"Prep":{"Type":"Pass","Next":"Call"},"Call":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:work","Parameters":{"mode":"flaky"},"End":true}}})");
  const std::string execution = start(machine, "r1");
  Json failed = finish(execution);
  ASSERT_EQ(failed["status"], "FAILED") << failed.dump();
  EXPECT_EQ(failed["redriveStatus"], "REDRIVABLE");
  now_ += 3'000'000;
  EXPECT_EQ(ok("RedriveExecution", Json{{"executionArn", execution}, {"clientToken", "tok-1"}}),
            (Json{{"redriveDate", 1700000003.123}}));
  Json done = finish(execution);
  EXPECT_EQ(done["status"], "SUCCEEDED") << done.dump();
  EXPECT_EQ(done["redriveCount"], 1);
  EXPECT_EQ(done["redriveDate"], 1700000003.123);
  bool redriven = false;
  for (const Json& e : history(execution)) {
    if (e["type"] == "ExecutionRedriven") {
      redriven = true;
      EXPECT_EQ(e["executionRedrivenEventDetails"], (Json{{"redriveCount", 1}}));
    }
  }
  EXPECT_TRUE(redriven);
  Json listed =
      ok("ListExecutions", Json{{"stateMachineArn", machine}, {"redriveFilter", "REDRIVEN"}});
  ASSERT_EQ(listed["executions"].size(), 1u);
  EXPECT_EQ(listed["executions"][0]["redriveCount"], 1);
  EXPECT_EQ(listed["executions"][0]["redriveDate"], 1700000003.123);
  EXPECT_EQ(
      ok("ListExecutions", Json{{"stateMachineArn", machine}, {"redriveFilter", "NOT_REDRIVEN"}}),
      (Json{{"executions", Json::array()}}));

  expect_error("RedriveExecution", Json{{"executionArn", execution}}, "ExecutionNotRedrivable",
               "Execution '" + execution + "' cannot be redriven: its status is SUCCEEDED");
  expect_error("RedriveExecution", Json{{"executionArn", execution}, {"clientToken", "has space"}},
               "ValidationException",
               "1 validation error detected: Value 'has space' at 'clientToken' failed to "
               "satisfy constraint: Member must satisfy regular expression pattern: [!-~]+");
  expect_error("RedriveExecution", Json{{"executionArn", kArnPrefix + "execution:Flaky:nope"}},
               "ExecutionDoesNotExist",
               "Execution Does Not Exist: '" + kArnPrefix + "execution:Flaky:nope'");
}

TEST_P(AwsApiTest, DescribeStateMachineForExecution) {
  const std::string machine = create("Versioned", kWaitMachine);
  const std::string execution = start(machine, "v1");
  now_ += 2'000'000;
  ok("UpdateStateMachine", Json{{"stateMachineArn", machine}, {"definition", kPassMachine}});
  EXPECT_EQ(ok("DescribeStateMachineForExecution", Json{{"executionArn", execution}}),
            (Json{{"stateMachineArn", machine},
                  {"name", "Versioned"},
                  {"definition", kWaitMachine},
                  {"roleArn", kRole},
                  {"updateDate", kStartDate},
                  {"loggingConfiguration", {{"level", "OFF"}, {"includeExecutionData", false}}},
                  {"tracingConfiguration", {{"enabled", false}}},
                  {"revisionId", "1"}}));
  expect_error("DescribeStateMachineForExecution",
               Json{{"executionArn", kArnPrefix + "execution:Versioned:nope"}},
               "ExecutionDoesNotExist",
               "Execution Does Not Exist: '" + kArnPrefix + "execution:Versioned:nope'");
}

TEST_P(AwsApiTest, TagsGivenAtCreation) {
  Json r = ok("CreateStateMachine", Json{{"name", "Tagged"},
                                         {"definition", kPassMachine},
                                         {"roleArn", kRole},
                                         {"tags",
                                          {{{"key", "team"}, {"value", "a"}},
                                           {{"key", "env"}, {"value", "dev"}},
                                           {{"key", "team"}, {"value", "b"}}}}});
  const std::string machine = r["stateMachineArn"];
  EXPECT_EQ(
      ok("ListTagsForResource", Json{{"resourceArn", machine}}),
      (Json{{"tags", {{{"key", "team"}, {"value", "b"}}, {{"key", "env"}, {"value", "dev"}}}}}));
  HttpResponse missing =
      call("ListTagsForResource", Json{{"resourceArn", kArnPrefix + "stateMachine:Nope"}}.dump());
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(missing.body, R"({"__type":"ResourceNotFound","message":"Resource not found: ')" +
                              kArnPrefix + R"(stateMachine:Nope'","resourceName":")" + kArnPrefix +
                              R"(stateMachine:Nope"})");
  expect_error("TagResource", Json{{"resourceArn", machine}}, "ValidationException",
               "1 validation error detected: Value null at 'tags' failed to satisfy constraint: "
               "Member must not be null");
  expect_error("UntagResource", Json{{"resourceArn", machine}, {"tagKeys", {""}}},
               "ValidationException",
               "1 validation error detected: Value '' at 'tagKeys.1.member' failed to satisfy "
               "constraint: Member must have length greater than or equal to 1");
}

TEST_P(AwsApiTest, TagAndUntagResource) {
  const std::string machine = create("Tagged", kPassMachine);
  EXPECT_EQ(
      ok("TagResource",
         Json{{"resourceArn", machine},
              {"tags", {{{"key", "team"}, {"value", "a"}}, {{"key", "env"}, {"value", "dev"}}}}}),
      Json::object());
  EXPECT_EQ(ok("TagResource",
               Json{{"resourceArn", machine}, {"tags", {{{"key", "team"}, {"value", "b"}}}}}),
            Json::object());
  EXPECT_EQ(
      ok("ListTagsForResource", Json{{"resourceArn", machine}}),
      (Json{{"tags", {{{"key", "team"}, {"value", "b"}}, {{"key", "env"}, {"value", "dev"}}}}}));
  EXPECT_EQ(ok("UntagResource", Json{{"resourceArn", machine}, {"tagKeys", {"team", "absent"}}}),
            Json::object());
  EXPECT_EQ(ok("ListTagsForResource", Json{{"resourceArn", machine}}),
            (Json{{"tags", {{{"key", "env"}, {"value", "dev"}}}}}));
  HttpResponse missing = call("TagResource", Json{{"resourceArn", kArnPrefix + "stateMachine:Nope"},
                                                  {"tags", {{{"key", "a"}, {"value", "b"}}}}}
                                                 .dump());
  EXPECT_EQ(missing.status, 400);
  EXPECT_EQ(Json::parse(missing.body)["__type"], "ResourceNotFound");
  EXPECT_EQ(Json::parse(missing.body)["resourceName"], kArnPrefix + "stateMachine:Nope");
}

// --- History event details --------------------------------------------------------------------


// Machines that between them make the engine write every event type above.
const char* kLambda = "arn:aws:lambda:us-east-1:123456789012:function:work";
const char* kActivity = "arn:aws:states:us-east-1:123456789012:activity:work";

Json task(const std::string& resource, const std::string& mode, bool catch_all,
          std::optional<int> timeout = std::nullopt, const std::string& caught = "Caught") {
  Json t{{"Type", "Task"}, {"Resource", resource}, {"End", true}};
  if (resource == "arn:aws:states:::lambda:invoke") {
    t["Parameters"] = {{"FunctionName", "work"}, {"Payload", {{"mode", mode}}}};
  } else {
    t["Parameters"] = {{"mode", mode}};
  }
  if (timeout) t["TimeoutSeconds"] = *timeout;
  if (catch_all) t["Catch"] = Json::array({{{"ErrorEquals", {"States.ALL"}}, {"Next", caught}}});
  return t;
}

// A Parallel state whose branches each run one Task on a resource kind, caught on failure.
Json parallel_of_tasks(const std::string& mode, std::optional<int> timeout) {
  Json branches = Json::array();
  int i = 0;
  for (const char* resource : {kLambda, kActivity, "arn:aws:states:::lambda:invoke"}) {
    // State names are unique across the whole machine.
    const std::string name = "T" + std::to_string(i);
    const std::string caught = "Caught" + std::to_string(i++);
    branches.push_back(Json{{"StartAt", name},
                            {"States",
                             {{name, task(resource, mode, true, timeout, caught)},
                              {caught, {{"Type", "Pass"}, {"End", true}}}}}});
  }
  return Json{
      {"Type", "Parallel"}, {"Branches", branches}, {"ResultPath", "$.par"}, {"Next", "Done"}};
}

TEST_P(AwsApiTest, HistoryEventDetailsMembers) {
  std::vector<std::string> executions;
  // Succeeding: Pass, Choice, Parallel (Tasks of every resource kind), Map, Wait, Succeed.
  Json happy{{"StartAt", "P"},
             {"States",
              {{"P", {{"Type", "Pass"}, {"Next", "C"}}},
               {"C",
                {{"Type", "Choice"},
                 {"Choices", {{{"Variable", "$.go"}, {"BooleanEquals", true}, {"Next", "Par"}}}},
                 {"Default", "Done"}}},
               {"Par", parallel_of_tasks("ok", std::nullopt)},
               {"Done", {{"Type", "Pass"}, {"Result", {1, 2, 3}}, {"Next", "M"}}},
               {"M",
                {{"Type", "Map"},
                 {"ItemProcessor",
                  {{"StartAt", "I"}, {"States", {{"I", {{"Type", "Pass"}, {"End", true}}}}}}},
                 {"Next", "W"}}},
               {"W", {{"Type", "Wait"}, {"Seconds", 5}, {"Next", "S"}}},
               {"S", {{"Type", "Succeed"}}}}}};
  const std::string happy_arn = create("Happy", happy.dump());
  executions.push_back(start(happy_arn, "h", R"({"go":true})"));

  // Failing tasks of every kind, caught; then a Parallel whose branch fails; then a Map whose
  // second iteration fails while the others wait (they are aborted); then a Fail state.
  Json failing{
      {"StartAt", "Par"},
      {"States",
       {{"Par", parallel_of_tasks("fail", std::nullopt)},
        {"Done",
         {{"Type", "Parallel"},
          {"Branches",
           {{{"StartAt", "F"}, {"States", {{"F", {{"Type", "Fail"}, {"Error", "E"}}}}}}}},
          {"Catch", {{{"ErrorEquals", {"States.ALL"}}, {"ResultPath", "$.err"}, {"Next", "M"}}}},
          {"End", true}}},
        {"M",
         {{"Type", "Map"},
          {"ItemsPath", "$.items"},
          {"ItemProcessor",
           {{"StartAt", "Pick"},
            {"States",
             {{"Pick",
               {{"Type", "Choice"},
                {"Choices", {{{"Variable", "$"}, {"NumericEquals", 2}, {"Next", "Bad"}}}},
                {"Default", "Hold"}}},
              {"Bad", {{"Type", "Fail"}, {"Error", "E"}}},
              {"Hold", task(kActivity, "slow", false)}}}}},
          {"Catch", {{{"ErrorEquals", {"States.ALL"}}, {"Next", "End"}}}},
          {"End", true}}},
        {"End", {{"Type", "Fail"}, {"Error", "Final"}}}}}};
  const std::string failing_arn = create("Failing", failing.dump());
  executions.push_back(start(failing_arn, "f", R"({"items":[1,2,3]})"));

  // Tasks of every kind that time out (caught), then an execution time-out in a Wait.
  Json slow{{"StartAt", "Par"},
            {"TimeoutSeconds", 30},
            {"States",
             {{"Par", parallel_of_tasks("slow", 2)},
              {"Done", {{"Type", "Wait"}, {"Seconds", 3600}, {"End", true}}}}}};
  const std::string slow_arn = create("Slow", slow.dump());
  executions.push_back(start(slow_arn, "s"));

  // Stopped, and a failed one redriven.
  const std::string stopped_arn = create("Stopped", kWaitMachine);
  executions.push_back(start(stopped_arn, "x"));
  ok("StopExecution", Json{{"executionArn", executions.back()}});
  executions.push_back(start(stopped_arn, "y"));
  ok("StopExecution", Json{{"executionArn", executions.back()}, {"error", "E"}});
  const std::string redriven_arn = create(
      "Redriven", R"({"StartAt":"T","States":{"T":{"Type":"Task","Resource":")" +
                      std::string(kLambda) + R"(","Parameters":{"mode":"flaky"},"End":true}}})");
  executions.push_back(start(redriven_arn, "r"));
  ASSERT_EQ(finish(executions.back())["status"], "FAILED");
  ok("RedriveExecution", Json{{"executionArn", executions.back()}});

  // Let timers fire: the Wait of the first, the task time-outs and then the execution time-out.
  for (int i = 0; i < 40; ++i) {
    std::this_thread::sleep_for(20ms);
    advance(1'000'000);
  }
  for (const std::string& e : executions) {
    Json d = finish(e);
    EXPECT_NE(d["status"], "RUNNING") << d.dump();
  }

  std::set<std::string> seen;
  std::set<std::string> with_details;
  for (const std::string& e : executions) {
    for (const Json& event : history(e)) {
      const std::string type = event["type"];
      seen.insert(type);
      auto want = kEngineEventDetails.find(type);
      ASSERT_NE(want, kEngineEventDetails.end()) << "event type not in the table: " << type;
      std::vector<std::string> members;
      for (const auto& [k, v] : event.items()) {
        if (k.ends_with("EventDetails")) members.push_back(k);
      }
      // An event whose details are all optional may come without them (ExecutionAborted of a
      // StopExecution that gave neither error nor cause).
      if (want->second.empty() || members.empty()) {
        EXPECT_TRUE(members.empty()) << event.dump();
      } else {
        EXPECT_EQ(members, std::vector<std::string>{want->second}) << event.dump();
        with_details.insert(type);
      }
      EXPECT_TRUE(event["timestamp"].is_number()) << event.dump();
      EXPECT_TRUE(event["id"].is_number_integer()) << event.dump();
      EXPECT_TRUE(event["previousEventId"].is_number_integer()) << event.dump();
    }
  }
  for (const auto& [type, member] : kEngineEventDetails) {
    EXPECT_TRUE(seen.count(type)) << "no execution wrote " << type;
    if (!member.empty()) {
      EXPECT_TRUE(with_details.count(type)) << type << " never had details";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, AwsApiTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace stepd::server
