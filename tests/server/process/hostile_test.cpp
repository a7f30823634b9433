// A real `stepd` under attack while it runs executions (issue 4, section 6): malformed and
// hostile requests of every kind, sent from several threads at once, each must get its exact
// error (status, code or __type, message) while executions keep running; afterwards every
// execution has ended SUCCEEDED with exactly the output its input implies, is listed once, has
// its whole history, no hostile request created, changed or stopped anything, the log shows no
// crash and SIGTERM still stops stepd with exit code 0.
//
// The per-layer suites (tests/server/http, rest, aws) prove each rule alone; this one proves
// them together, against the process, on SQLite and (with STEPD_TEST_PG_URL) PostgreSQL.
//
// Assertions marked "BUG(hostile-N)" fail on purpose against the server as it is: each names a
// defect found by this test (see the comment at the assertion); they pass once it is fixed.
#include "tests/server/process/hostile_socket.hpp"
#include "tests/server/process/stepd_process.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <tuple>

namespace stepd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using Clock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

// The limits stepd runs with here: short time-outs so that slow clients are cut quickly.
constexpr ms kReadTimeout{2000};
constexpr ms kIdleTimeout{3000};
constexpr int kMaxConnections = 48;
// stepd's defaults (docs/server.md) and AWS's limits (docs/aws-api.md) the requests aim at.
constexpr std::size_t kMaxBodyBytes = 1114112;
constexpr std::size_t kMaxHeaderBytes = 16384;
constexpr std::size_t kMaxDefinitionChars = 1048576;
constexpr std::size_t kMaxPayloadBytes = 262144;
// Time measured on a loaded 2-core machine may run late by this much.
constexpr ms kLateness{2500};

constexpr int kExecutions = 50;
constexpr int kStartedBefore = 25;  // before the attack; the rest while it goes on

const std::string kArnPrefix = "arn:aws:states:local:000000000000:";
const std::string kMachine = "Hostile";
const std::string kMachineArn = kArnPrefix + "stateMachine:" + kMachine;
const std::string kRoleArn = "arn:aws:iam::000000000000:role/stepd";

// Waits 2 s, then maps over the input's items: the output depends on every part of the input.
const std::string kDefinition = R"asl({
  "StartAt": "Hold",
  "States": {
    "Hold": {"Type": "Wait", "Seconds": 2, "Next": "Each"},
    "Each": {
      "Type": "Map",
      "ItemsPath": "$.items",
      "ItemSelector": {"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "tag.$": "$.tag"},
      "ItemProcessor": {
        "ProcessorConfig": {"Mode": "INLINE"},
        "StartAt": "Mark",
        "States": {"Mark": {"Type": "Pass", "End": true,
          "Parameters": {"tag.$": "$.tag", "i.$": "$.i", "sum.$": "States.MathAdd($.v, $.i)"}}}
      },
      "ResultPath": "$.out",
      "Next": "Done"
    },
    "Done": {"Type": "Pass", "Parameters": {"tag.$": "$.tag", "out.$": "$.out"}, "End": true}
  }
})asl";

// --- Executions ---------------------------------------------------------------------------------

std::string run_name(int i) { return "run-" + std::to_string(i); }

// Distinct for every run, with characters a careless copy would mangle.
json run_input(int i) {
  json items = json::array();
  for (int j = 0; j <= i % 4; ++j) items.push_back(i * 10 + j);
  return json{{"tag", "run-" + std::to_string(i) + " \u00fc\u20ac\U0001D11E \"q\\ </x>"},
              {"items", items}};
}

// What kDefinition makes of `input`.
json expected_output(const json& input) {
  json out = json::array();
  const json& items = input.at("items");
  for (std::size_t j = 0; j < items.size(); ++j) {
    out.push_back(json{{"tag", input.at("tag")},
                       {"i", j},
                       {"sum", items[j].get<long long>() + static_cast<long long>(j)}});
  }
  return json{{"tag", input.at("tag")}, {"out", out}};
}

// The history kDefinition writes for `items` items: each event type and how often.
std::map<std::string, int> expected_event_counts(int items) {
  return {{"ExecutionStarted", 1},
          {"WaitStateEntered", 1},
          {"WaitStateExited", 1},
          {"MapStateEntered", 1},
          {"MapStateStarted", 1},
          {"MapIterationStarted", items},
          {"PassStateEntered", items + 1},
          {"PassStateExited", items + 1},
          {"MapIterationSucceeded", items},
          {"MapStateSucceeded", 1},
          {"MapStateExited", 1},
          {"ExecutionSucceeded", 1}};
}

struct StartedRun {
  int index = 0;
  std::string name;
  std::string arn;
  json input;
};

// --- Talking to stepd ---------------------------------------------------------------------------

// The answer's JSON object ({} when it is not one).
json body_of(const HttpReply& r) {
  json j = json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  return j.is_object() ? j : json::object();
}

// j[key], or null when j is not an object or lacks it.
json member(const json& j, const std::string& key) {
  return j.is_object() && j.contains(key) ? j.at(key) : json();
}

std::string shown(const HttpReply& r) {
  std::string body = r.body.size() > 400 ? r.body.substr(0, 400) + "..." : r.body;
  return "status " + std::to_string(r.status) + ", body " + body +
         (r.error.empty() ? "" : ", error " + r.error);
}

// The answer to a connection over --max-connections (docs/server.md).
bool turned_away(const HttpReply& r) {
  return r.status == 503 && r.header("retry-after") == "1" &&
         r.body.find("\"Too many connections (limit ") != std::string::npos;
}

// What the threads of one attack share.
struct Attack {
  unsigned short port = 0;
  // While the connection flood holds every slot, a connection may also be closed unanswered.
  std::atomic<bool> crowded{false};
  std::atomic<bool> over{false};         // the attack has ended
  std::atomic<int> succeeded_seen{0};    // executions seen SUCCEEDED during the attack
  std::atomic<int> watched{0};           // legitimate reads answered during the attack
  std::atomic<int> turned_away_seen{0};  // 503s of the connection limit
  std::mutex mu;
  std::vector<StartedRun> runs;

  StartedRun run(int i) {
    std::lock_guard lock(mu);
    for (const StartedRun& r : runs) {
      if (r.index == i) return r;
    }
    return StartedRun{};
  }
};

// Runs `probe` (one request on a fresh connection) until it is not turned away by the
// connection limit, as a client honouring Retry-After would (sooner, to keep the test short).
template <class Probe>
HttpReply admitted(Attack& a, Probe&& probe) {
  for (int attempt = 0;; ++attempt) {
    HttpReply r = probe();
    const bool away = turned_away(r) || (r.status == 0 && a.crowded.load());
    if (!away || attempt >= 400) return r;
    if (turned_away(r)) ++a.turned_away_seen;
    std::this_thread::sleep_for(25ms);
  }
}

HttpReply call(Attack& a, const std::string& method, const std::string& target,
               const std::string& body = "", const HeaderList& headers = {}) {
  return admitted(a, [&] { return http_request(a.port, method, target, body, headers, 15s); });
}

HeaderList aws_headers(const std::string& target) {
  return {{"X-Amz-Target", target}, {"Content-Type", "application/x-amz-json-1.0"}};
}

HttpReply aws(Attack& a, const std::string& operation, const std::string& body) {
  return call(a, "POST", "/", body, aws_headers("AWSStepFunctions." + operation));
}

HttpReply aws(Attack& a, const std::string& operation, const json& body) {
  return aws(a, operation, body.dump());
}

// Raw bytes on a fresh connection; the answers that come within `timeout` (until `count`
// answers or the close). `closed`: whether stepd then closed the connection.
std::vector<HttpReply> raw_exchange(Attack& a, const std::string& bytes, std::size_t count = 1,
                                    ms timeout = 10s, bool* closed = nullptr) {
  for (int attempt = 0;; ++attempt) {
    RawSocket s;
    std::vector<HttpReply> replies;
    if (s.connect(a.port)) {
      s.send(bytes);
      replies = s.read_replies(count, timeout);
      if (closed != nullptr) *closed = s.closed_within(3s);
    }
    const bool away =
        (!replies.empty() && turned_away(replies.front())) || (replies.empty() && a.crowded.load());
    if (!away || attempt >= 400) return replies;
    std::this_thread::sleep_for(25ms);
  }
}

// --- Expected answers ---------------------------------------------------------------------------

// An AWS-protocol error: 400 (or `status`), {"__type", "message"}, x-amzn-ErrorType.
void expect_aws_error(const HttpReply& r, const std::string& type, const std::string& message,
                      const std::string& what, int status = 400) {
  const json body = body_of(r);
  EXPECT_EQ(r.status, status) << what << ": " << shown(r);
  EXPECT_EQ(body.value("__type", ""), type) << what << ": " << shown(r);
  EXPECT_EQ(body.value("message", ""), message) << what << ": " << shown(r);
  EXPECT_EQ(r.header("x-amzn-ErrorType"), type) << what;
  EXPECT_EQ(r.header("content-type"), "application/x-amz-json-1.0") << what;
  EXPECT_EQ(r.header("x-amzn-RequestId").size(), 36u) << what;
}

// A REST error: {"code", "message", "problems": [], "requestId"} with the request id header.
void expect_rest_error(const HttpReply& r, int status, const std::string& code,
                       const std::string& message, const std::string& what) {
  const json body = body_of(r);
  EXPECT_EQ(r.status, status) << what << ": " << shown(r);
  EXPECT_EQ(body.value("code", ""), code) << what << ": " << shown(r);
  EXPECT_EQ(body.value("message", ""), message) << what << ": " << shown(r);
  EXPECT_EQ(body.value("problems", json()), json::array()) << what << ": " << shown(r);
  EXPECT_EQ(body.value("requestId", ""), r.header("x-amzn-RequestId")) << what;
  EXPECT_EQ(r.header("content-type"), "application/json") << what;
}

// An error the HTTP server answers itself (docs/server.md): exactly {"code"|"__type",
// "message"}, and the connection closed after it.
void expect_server_error(const HttpReply& r, int status, bool aws_shape, const std::string& code,
                         const std::string& message, const std::string& what) {
  EXPECT_EQ(r.status, status) << what << ": " << shown(r);
  const json want = {{aws_shape ? "__type" : "code", code}, {"message", message}};
  EXPECT_EQ(body_of(r), want) << what << ": " << shown(r);
  EXPECT_EQ(r.header("content-type"), aws_shape ? "application/x-amz-json-1.0" : "application/json")
      << what;
  EXPECT_FALSE(r.keep_alive) << what << ": the connection must close after " << status;
}

void expect_one_server_error(const std::vector<HttpReply>& replies, int status, bool aws_shape,
                             const std::string& code, const std::string& message,
                             const std::string& what) {
  ASSERT_EQ(replies.size(), 1u) << what;
  expect_server_error(replies[0], status, aws_shape, code, message, what);
}

std::string invalid_arn(const std::string& why, const std::string& arn) {
  return "Invalid Arn: '" + why + ": " + arn + "'";
}

std::string percent_encode(const std::string& s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

// A valid machine whose definition text is `chars` characters long (a Pass state's Result
// padded with 'x').
std::string definition_of_length(std::size_t chars) {
  const std::string head = R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":")";
  const std::string tail = R"(","End":true}}})";
  return head + std::string(chars - head.size() - tail.size(), 'x') + tail;
}

// --- Legitimate traffic -------------------------------------------------------------------------

// Starts run `i` (AWS protocol for even i, REST for odd), retrying a start turned away or cut
// off with the same name and input (idempotent while the execution runs). Records the run.
bool start_run(Attack& a, int i) {
  const std::string name = run_name(i);
  const json input = run_input(i);
  std::string arn;
  for (int attempt = 0; attempt < 20 && arn.empty(); ++attempt) {
    HttpReply r;
    if (i % 2 == 0) {
      r = aws(a, "StartExecution",
              json{{"stateMachineArn", kMachineArn}, {"name", name}, {"input", input.dump()}});
      if (r.status == 200) arn = body_of(r).value("executionArn", "");
    } else {
      r = call(a, "POST", "/v1/state-machines/" + kMachine + "/executions",
               json{{"name", name}, {"input", input}}.dump(),
               {{"Content-Type", "application/json"}});
      if (r.status == 201 || r.status == 200) arn = body_of(r).value("arn", "");
    }
    if (arn.empty() && r.status != 0) {
      ADD_FAILURE() << "starting " << name << ": " << shown(r);
      return false;
    }
  }
  if (arn.empty()) {
    ADD_FAILURE() << "starting " << name << ": no answer";
    return false;
  }
  EXPECT_EQ(arn, kArnPrefix + "execution:" + kMachine + ":" + name);
  std::lock_guard lock(a.mu);
  a.runs.push_back(StartedRun{i, name, arn, input});
  return true;
}

// Starts the second half of the runs while the attack goes on.
void keep_starting(Attack& a) {
  for (int i = kStartedBefore; i < kExecutions; ++i) {
    start_run(a, i);
    std::this_thread::sleep_for(120ms);
  }
}

// Reads executions while the attack goes on: each answer is 200, RUNNING or SUCCEEDED.
void keep_watching(Attack& a) {
  for (int k = 0; !a.over.load(); ++k) {
    const StartedRun run = a.run(k % kStartedBefore);
    const HttpReply r = aws(a, "DescribeExecution", json{{"executionArn", run.arn}});
    EXPECT_EQ(r.status, 200) << "describing " << run.arn << " during the attack: " << shown(r);
    const std::string status = body_of(r).value("status", "");
    EXPECT_TRUE(status == "RUNNING" || status == "SUCCEEDED") << run.name << ": " << shown(r);
    if (status == "SUCCEEDED") ++a.succeeded_seen;
    ++a.watched;
    std::this_thread::sleep_for(50ms);
  }
}

// --- The attack: the AWS protocol ---------------------------------------------------------------

void attack_aws_protocol(Attack& a) {
  const std::string ghost = kArnPrefix + "execution:" + kMachine + ":ghost";
  struct Case {
    std::string what, target, body, type, message;
  };
  const std::string sf = "AWSStepFunctions.";
  const std::string must_be = "1 validation error detected: Value null at '";
  std::vector<Case> cases = {
      {"invalid JSON", sf + "StartExecution", R"({"stateMachineArn":)", "SerializationException",
       "The request body is not valid JSON"},
      {"two JSON documents", sf + "ListExecutions", "{} {}", "SerializationException",
       "The request body is not valid JSON"},
      {"a JSON array", sf + "StartExecution", "[1,2]", "SerializationException",
       "The request body must be a JSON object, not an array"},
      {"a JSON string", sf + "StartExecution", R"("x")", "SerializationException",
       "The request body must be a JSON object, not a string"},
      {"JSON null", sf + "StartExecution", "null", "SerializationException",
       "The request body must be a JSON object, not null"},
      {"invalid UTF-8", sf + "StartExecution", "{\"stateMachineArn\":\"\xff\"}",
       "SerializationException", "The request body is not valid UTF-8 (at byte 20)"},
      {"overlong UTF-8", sf + "ListStateMachines", "{\"name\":\"\xc0\xaf\"}",
       "SerializationException", "The request body is not valid UTF-8 (at byte 9)"},
      {"an ARN that is a number", sf + "StartExecution", R"({"stateMachineArn":5})",
       "SerializationException", "Value at 'stateMachineArn' must be a string, not a number"},
      {"an input that is an object", sf + "StartExecution",
       json{{"stateMachineArn", kMachineArn}, {"name", "object-input"}, {"input", {{"a", 1}}}}
           .dump(),
       "SerializationException", "Value at 'input' must be a string, not an object"},
      {"maxResults a string", sf + "ListExecutions", R"({"maxResults":"10"})",
       "SerializationException", "Value at 'maxResults' must be an integer, not a string"},
      {"maxResults with a fraction", sf + "ListExecutions", R"({"maxResults":1.5})",
       "SerializationException",
       "Value at 'maxResults' must be an integer, not a number with a fraction"},
      {"maxResults beyond an int", sf + "ListExecutions", R"({"maxResults":99999999999})",
       "SerializationException", "Value at 'maxResults' is out of range for an integer"},
      {"maxResults negative", sf + "ListExecutions", R"({"maxResults":-5})", "ValidationException",
       "1 validation error detected: Value '-5' at 'maxResults' failed to satisfy constraint: "
       "Member must have value greater than or equal to 0"},
      {"reverseOrder a string", sf + "GetExecutionHistory",
       json{{"executionArn", ghost}, {"reverseOrder", "yes"}}.dump(), "SerializationException",
       "Value at 'reverseOrder' must be a boolean, not a string"},
      {"tags an object", sf + "TagResource",
       json{{"resourceArn", kMachineArn}, {"tags", {{"k", "v"}}}}.dump(), "SerializationException",
       "Value at 'tags' must be an array, not an object"},
      {"a tag key that is a number", sf + "TagResource",
       json{{"resourceArn", kMachineArn}, {"tags", {{{"key", 1}, {"value", "v"}}}}}.dump(),
       "SerializationException", "Value at 'tags.1.member.key' must be a string, not a number"},
      {"no ARN", sf + "StartExecution", "{}", "ValidationException",
       must_be + "stateMachineArn' failed to satisfy constraint: Member must not be null"},
      {"a null ARN", sf + "StopExecution", R"({"executionArn":null})", "ValidationException",
       must_be + "executionArn' failed to satisfy constraint: Member must not be null"},
      {"nothing at all", sf + "CreateStateMachine", "", "ValidationException",
       "3 validation errors detected: Value null at 'name' failed to satisfy constraint: Member "
       "must not be null; Value null at 'definition' failed to satisfy constraint: Member must "
       "not be null; Value null at 'roleArn' failed to satisfy constraint: Member must not be "
       "null"},
      {"a name too long", sf + "StartExecution",
       json{{"stateMachineArn", kMachineArn}, {"name", std::string(81, 'n')}}.dump(),
       "ValidationException",
       "1 validation error detected: Value '" + std::string(81, 'n') +
           "' at 'name' failed to satisfy constraint: Member must have length less than or "
           "equal to 80"},
      {"an input that is not JSON", sf + "StartExecution",
       json{{"stateMachineArn", kMachineArn}, {"name", "not-json"}, {"input", "{oops"}}.dump(),
       "InvalidExecutionInput",
       "Invalid State Machine Execution Input: the input is not valid JSON"},
      {"an input over 256 KiB", sf + "StartExecution",
       json{{"stateMachineArn", kMachineArn},
            {"name", "too-big"},
            {"input", json(std::string(kMaxPayloadBytes - 1, 'x')).dump()}}
           .dump(),
       "ValidationException",
       "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must "
       "have length less than or equal to 262144"},
      // AWS: the payload limit counts bytes: 100,002 characters, 300,002 bytes.
      {"an input over 256 KiB in bytes", sf + "StartExecution",
       json{{"stateMachineArn", kMachineArn},
            {"name", "too-big-utf8"},
            {"input",
             [] {
               std::string euros;
               for (int k = 0; k < 100'000; ++k) euros += "\u20ac";
               return json(euros).dump();
             }()}}
           .dump(),
       "ValidationException",
       "1 validation error detected: Value at 'input' failed to satisfy constraint: Member must "
       "have length less than or equal to 262144"},
      {"a definition over 1 MiB", sf + "CreateStateMachine",
       json{{"name", "Oversized"},
            {"roleArn", kRoleArn},
            {"definition", definition_of_length(kMaxDefinitionChars + 1)}}
           .dump(),
       "ValidationException",
       "1 validation error detected: Value at 'definition' failed to satisfy constraint: Member "
       "must have length less than or equal to 1048576"},
      {"nesting 65 deep", sf + "ListExecutions",
       "{\"x\":" + std::string(64, '[') + std::string(64, ']') + "}", "SerializationException",
       "The request body nests arrays and objects deeper than 64 levels"},
      {"nesting 100,000 deep", sf + "StartExecution",
       std::string(100'000, '[') + std::string(100'000, ']'), "SerializationException",
       "The request body nests arrays and objects deeper than 64 levels"},
      {"an unknown operation", sf + "DoEvil", "{}", "UnknownOperationException",
       "Unknown operation: 'AWSStepFunctions.DoEvil'"},
      {"another service's operation", "AmazonSQS.SendMessage", "{}", "UnknownOperationException",
       "Unknown operation: 'AmazonSQS.SendMessage'"},
      {"no service prefix", "StartExecution", "{}", "UnknownOperationException",
       "Unknown operation: 'StartExecution'"},
      {"an empty operation", sf, "{}", "UnknownOperationException",
       "Unknown operation: 'AWSStepFunctions.'"},
      {"an operation in the wrong case", sf + "startexecution",
       json{{"stateMachineArn", kMachineArn}}.dump(), "UnknownOperationException",
       "Unknown operation: 'AWSStepFunctions.startexecution'"},
      {"a machine that does not exist", sf + "StartExecution",
       json{{"stateMachineArn", kArnPrefix + "stateMachine:Nope"}}.dump(),
       "StateMachineDoesNotExist",
       "State Machine Does Not Exist: '" + kArnPrefix + "stateMachine:Nope'"},
      {"another account's machine", sf + "StartExecution",
       json{{"stateMachineArn", "arn:aws:states:us-east-1:123456789012:stateMachine:Hostile"}}
           .dump(),
       "StateMachineDoesNotExist",
       "State Machine Does Not Exist: 'arn:aws:states:us-east-1:123456789012:stateMachine:"
       "Hostile'"},
      {"a running execution's name with another input", sf + "StartExecution",
       json{{"stateMachineArn", kMachineArn}, {"name", run_name(0)}, {"input", "{\"evil\":1}"}}
           .dump(),
       "ExecutionAlreadyExists",
       "Execution Already Exists: '" + kArnPrefix + "execution:" + kMachine + ":run-0'"},
      {"StartSyncExecution of a STANDARD machine", sf + "StartSyncExecution",
       json{{"stateMachineArn", kMachineArn}, {"name", "sync"}}.dump(),
       "StateMachineTypeNotSupported",
       "This operation is not supported by this type of state machine"},
      {"a map run that does not exist", sf + "ListExecutions",
       json{{"mapRunArn", kArnPrefix + "mapRun:Hostile/x:y"}}.dump(), "ResourceNotFound",
       "Resource not found: '" + kArnPrefix + "mapRun:Hostile/x:y'"},
      {"a forged nextToken", sf + "ListExecutions", R"({"nextToken":"garbage"})", "InvalidToken",
       "invalid next_token"},
  };
  for (const Case& c : cases) {
    const HttpReply r = call(a, "POST", "/", c.body, aws_headers(c.target));
    expect_aws_error(r, c.type, c.message, "AWS " + c.what);
  }

  // A body of exactly the limit is read (and judged); one byte more is refused unread.
  const json at_limit = {{"name", "AtLimit"}, {"roleArn", kRoleArn}, {"definition", ""}};
  const std::string padded =
      json{{"name", "AtLimit"},
           {"roleArn", kRoleArn},
           {"definition", std::string(kMaxBodyBytes - at_limit.dump().size(), 'x')}}
          .dump();
  ASSERT_EQ(padded.size(), kMaxBodyBytes);
  expect_aws_error(aws(a, "CreateStateMachine", padded), "ValidationException",
                   "1 validation error detected: Value at 'definition' failed to satisfy "
                   "constraint: Member must have length less than or equal to 1048576",
                   "AWS a body of exactly --max-body-bytes");
  const std::string over = json{{"stateMachineArn", kMachineArn},
                                {"name", "over-body-limit"},
                                {"input", json(std::string(kMaxBodyBytes, 'x')).dump()}}
                               .dump();
  expect_server_error(aws(a, "StartExecution", over), 413, true, "RequestEntityTooLargeException",
                      "Request body exceeds the limit of 1114112 bytes", "AWS a body over 1 MiB");

  // 64 levels are allowed (members stepd does not know are ignored).
  const HttpReply deep_ok =
      aws(a, "ListExecutions",
          "{\"maxResults\":1,\"x\":" + std::string(63, '[') + std::string(63, ']') + "}");
  EXPECT_EQ(deep_ok.status, 200) << "AWS nesting exactly 64 deep: " << shown(deep_ok);

  // The Content-Type is not what stepd goes by: the body is judged as JSON whatever it says
  // (docs/aws-api.md asks for none), so a mislabelled JSON body is served and a body that is
  // not JSON is a SerializationException.
  const std::string list_one = json{{"stateMachineArn", kMachineArn}, {"maxResults", 1}}.dump();
  for (const std::string& type : {std::string("text/plain"), std::string("application/json"),
                                  std::string("application/x-amz-json-1.1"), std::string()}) {
    HeaderList headers = {{"X-Amz-Target", "AWSStepFunctions.ListExecutions"}};
    if (!type.empty()) headers.push_back({"Content-Type", type});
    const HttpReply r = call(a, "POST", "/", list_one, headers);
    EXPECT_EQ(r.status, 200) << "AWS Content-Type '" << type << "': " << shown(r);
    EXPECT_TRUE(body_of(r).value("executions", json()).is_array()) << shown(r);
  }
  expect_aws_error(call(a, "POST", "/", "stateMachineArn=x&maxResults=1",
                        {{"X-Amz-Target", "AWSStepFunctions.ListExecutions"},
                         {"Content-Type", "application/x-www-form-urlencoded"}}),
                   "SerializationException", "The request body is not valid JSON",
                   "AWS a form body");
  expect_aws_error(call(a, "POST", "/", "--b\r\nContent-Disposition: form-data\r\n\r\n{}\r\n--b--",
                        {{"X-Amz-Target", "AWSStepFunctions.ListExecutions"},
                         {"Content-Type", "multipart/form-data; boundary=b"}}),
                   "SerializationException", "The request body is not valid JSON",
                   "AWS a multipart body");

  // Not the AWS protocol at all: no operation named, or not a POST.
  const HttpReply no_target = call(a, "POST", "/", "{}", {{"X-Amz-Target", ""}});
  EXPECT_EQ(no_target.status, 404) << shown(no_target);
  EXPECT_EQ(body_of(no_target), (json{{"code", "NotFound"}, {"message", "No route for POST /"}}));
  const HttpReply get =
      call(a, "GET", "/", "", {{"X-Amz-Target", "AWSStepFunctions.ListExecutions"}});
  EXPECT_EQ(get.status, 404) << shown(get);
  EXPECT_EQ(body_of(get), (json{{"code", "NotFound"}, {"message", "No route for GET /"}}));
}

// --- The attack: bad ARNs in every operation that takes one -------------------------------------

void attack_arns(Attack& a) {
  const StartedRun run0 = a.run(0);
  ASSERT_FALSE(run0.arn.empty());
  const std::string sqs_execution =
      "arn:aws:sqs" + run0.arn.substr(std::string("arn:aws:states").size());
  const std::string sqs_machine = "arn:aws:sqs:local:000000000000:stateMachine:" + kMachine;

  // Redriving an execution that has not failed is refused (run-0 runs, or has just ended).
  const HttpReply redrive = aws(a, "RedriveExecution", json{{"executionArn", run0.arn}});
  const std::string cannot = "Execution '" + run0.arn + "' cannot be redriven: its status is ";
  const std::string said = body_of(redrive).value("message", "");
  expect_aws_error(redrive, "ExecutionNotRedrivable",
                   said == cannot + "SUCCEEDED" ? said : cannot + "RUNNING",
                   "AWS RedriveExecution of a running execution");

  struct Op {
    std::string name, member;
    json extra;
  };
  const std::vector<Op> machine_ops = {
      {"UpdateStateMachine", "stateMachineArn", {{"definition", kDefinition}}},
      {"DescribeStateMachine", "stateMachineArn", json::object()},
      {"DeleteStateMachine", "stateMachineArn", json::object()},
      {"StartExecution", "stateMachineArn", {{"name", "bad-arn"}}},
      {"StartSyncExecution", "stateMachineArn", json::object()},
      {"ListExecutions", "stateMachineArn", json::object()},
      {"TagResource", "resourceArn", {{"tags", {{{"key", "k"}, {"value", "v"}}}}}},
      {"UntagResource", "resourceArn", {{"tagKeys", {"k"}}}},
      {"ListTagsForResource", "resourceArn", json::object()},
  };
  const std::vector<Op> execution_ops = {
      {"DescribeExecution", "executionArn", json::object()},
      {"GetExecutionHistory", "executionArn", json::object()},
      {"StopExecution", "executionArn", {{"error", "Evil"}, {"cause", "hostile"}}},
      {"RedriveExecution", "executionArn", json::object()},
      {"DescribeStateMachineForExecution", "executionArn", json::object()},
  };
  // {ARN, why it is not one}: several of them are the real machine's or a real running
  // execution's ARN bent a little, so that a loose check would act on the real thing.
  const std::vector<std::pair<std::string, std::string>> bad_machine_arns = {
      {"nope", "Invalid ARN prefix"},
      {kArnPrefix + "stateMachine", "Invalid ARN prefix"},
      {sqs_machine, "Service not valid in this context"},
      {run0.arn, "Resource type not valid in this context"},
      {kArnPrefix + "execution:" + kMachine, "Resource type not valid in this context"},
      {kMachineArn + ":extra", "Resource name not valid"},
      {kMachineArn + ":", "Resource name not valid"},
      {kArnPrefix + "stateMachine:", "Resource name not valid"},
  };
  const std::vector<std::pair<std::string, std::string>> bad_execution_arns = {
      {"nope", "Invalid ARN prefix"},
      {kMachineArn, "Resource type not valid in this context"},
      {sqs_execution, "Service not valid in this context"},
      {kArnPrefix + "execution:" + kMachine, "Resource name not valid"},
      {run0.arn + ":extra", "Resource name not valid"},
      {kArnPrefix + "execution::" + run0.name, "Resource name not valid"},
      {kArnPrefix + "execution:" + kMachine + ":", "Resource name not valid"},
  };
  const std::string too_long = kArnPrefix + "stateMachine:" + std::string(300, 'a');
  auto each = [&](const std::vector<Op>& ops,
                  const std::vector<std::pair<std::string, std::string>>& arns) {
    for (const Op& op : ops) {
      for (const auto& [arn, why] : arns) {
        json body = op.extra;
        body[op.member] = arn;
        expect_aws_error(aws(a, op.name, body), "InvalidArn", invalid_arn(why, arn),
                         "AWS " + op.name + " of " + arn);
      }
      json empty = op.extra;
      empty[op.member] = "";
      expect_aws_error(aws(a, op.name, empty), "ValidationException",
                       "1 validation error detected: Value '' at '" + op.member +
                           "' failed to satisfy constraint: Member must have length greater "
                           "than or equal to 1",
                       "AWS " + op.name + " of an empty ARN");
      json longer = op.extra;
      longer[op.member] = too_long;
      expect_aws_error(aws(a, op.name, longer), "ValidationException",
                       "1 validation error detected: Value '" + too_long + "' at '" + op.member +
                           "' failed to satisfy constraint: Member must have length less than "
                           "or equal to 256",
                       "AWS " + op.name + " of a 300-character ARN");
    }
  };
  each(machine_ops, bad_machine_arns);
  each(execution_ops, bad_execution_arns);

  // Well-formed ARNs of nothing.
  const std::string ghost = kArnPrefix + "execution:" + kMachine + ":ghost";
  for (const Op& op : execution_ops) {
    json body = op.extra;
    body[op.member] = ghost;
    expect_aws_error(aws(a, op.name, body), "ExecutionDoesNotExist",
                     "Execution Does Not Exist: '" + ghost + "'", "AWS " + op.name + " of ghost");
  }

  // A NUL inside an ARN (valid JSON: \u0000) names nothing: a client error, on every store.
  // BUG(hostile-4): on PostgreSQL stepd answers 500 InternalFailure "postgresql:
  // get_state_machine: invalid byte sequence for encoding "UTF8": 0x00 (SQLSTATE 22021)" (the
  // store's text in the message), where SQLite answers 400 *DoesNotExist. It also poisons the
  // audit log: see BUG(hostile-5) in verify_no_harm().
  const std::string nul_machine = kArnPrefix + "stateMachine:Host" + std::string(1, '\0') + "ile";
  const std::string nul_execution = run0.arn + std::string(1, '\0');
  const std::vector<std::tuple<std::string, std::string, std::string, std::string>> nul_cases = {
      {"DescribeStateMachine", "stateMachineArn", nul_machine, "StateMachineDoesNotExist"},
      {"DescribeExecution", "executionArn", nul_execution, "ExecutionDoesNotExist"},
      {"StopExecution", "executionArn", nul_execution, "ExecutionDoesNotExist"},
  };
  for (const auto& [op, member, arn, not_found] : nul_cases) {
    const HttpReply r = aws(a, op, json{{member, arn}});
    const std::string type = body_of(r).value("__type", "");
    EXPECT_EQ(r.status, 400) << "BUG(hostile-4) AWS " << op
                             << " of an ARN with a NUL: " << shown(r);
    EXPECT_TRUE(type == not_found || type == "InvalidArn")
        << "BUG(hostile-4) AWS " << op << " of an ARN with a NUL: " << shown(r);
  }
}

// --- The attack: the REST API -------------------------------------------------------------------

void attack_rest(Attack& a) {
  const HeaderList json_type = {{"Content-Type", "application/json"}};
  const std::string machine = "/v1/state-machines/" + kMachine;
  const json definition = json::parse(kDefinition);
  struct Case {
    std::string what, method, target, body;
    int status;
    std::string code, message;
  };
  const std::string deep_prefix = R"({"name":"rest-deep","input":)";
  std::vector<Case> cases = {
      {"an unknown route", "GET", "/v1/nothing", "", 404, "UnknownOperationException",
       "no route for GET /v1/nothing"},
      {"a route too deep", "GET", "/v1/executions/x/y/z", "", 404, "UnknownOperationException",
       "no route for GET /v1/executions/x/y/z"},
      {"a method the route lacks", "DELETE", "/v1/executions", "", 405, "MethodNotAllowed",
       "method DELETE is not allowed on /v1/executions (allowed: GET)"},
      {"a made-up method", "BREW", "/v1/state-machines", "", 405, "MethodNotAllowed",
       "method BREW is not allowed on /v1/state-machines (allowed: GET, POST)"},
      {"a name that is a number", "POST", "/v1/state-machines",
       json{{"name", 5}, {"definition", definition}}.dump(), 400, "ValidationException",
       "field 'name' must be a string"},
      {"no name", "POST", "/v1/state-machines", json{{"definition", definition}}.dump(), 400,
       "ValidationException", "field 'name' is required"},
      {"a definition that is a number", "POST", "/v1/state-machines",
       json{{"name", "X"}, {"definition", 5}}.dump(), 400, "ValidationException",
       "field 'definition' must be an object (the ASL document) or a string (its JSON text)"},
      {"an unknown field", "POST", "/v1/state-machines",
       json{{"name", "X"}, {"definition", definition}, {"evil", true}}.dump(), 400,
       "ValidationException",
       "the request body has an unknown field 'evil' (this operation takes: name, definition, "
       "type, roleArn, tags)"},
      {"a misspelt field", "POST", machine + "/executions", R"({"name":"typo","inptu":{}})", 400,
       "ValidationException",
       "the request body has an unknown field 'inptu' (this operation takes: name, input, "
       "traceHeader)"},
      {"a JSON array", "POST", machine + "/executions", "[1]", 400, "ValidationException",
       "the request body must be a JSON object"},
      {"an execution name that is a number", "POST", machine + "/executions", R"({"name":7})", 400,
       "ValidationException", "field 'name' must be a string"},
      {"an input over 256 KiB", "POST", machine + "/executions",
       json{{"name", "rest-too-big"}, {"input", std::string(kMaxPayloadBytes - 1, 'x')}}.dump(),
       400, "InvalidExecutionInput",
       "The execution input is larger than the maximum of 262144 bytes"},
      {"nesting 100,000 deep", "POST", machine + "/executions",
       deep_prefix + std::string(100'000, '[') + std::string(100'000, ']') + "}", 400,
       "ValidationException",
       "the request body nests arrays and objects deeper than 64 levels (at byte " +
           std::to_string(deep_prefix.size() + 63) + ")"},
      {"a running execution's name with another input", "POST", machine + "/executions",
       json{{"name", run_name(1)}, {"input", {{"evil", 1}}}}.dump(), 409, "ExecutionAlreadyExists",
       "Execution Already Exists: '" + kArnPrefix + "execution:" + kMachine + ":run-1'"},
      {"maxResults not a number", "GET", "/v1/executions?maxResults=abc", "", 400,
       "ValidationException", "maxResults must be an integer from 1 to 1000, not 'abc'"},
      {"maxResults 0", "GET", "/v1/executions?maxResults=0", "", 400, "ValidationException",
       "maxResults must be an integer from 1 to 1000, not '0'"},
      {"an unknown query parameter", "GET", "/v1/executions?bogus=1", "", 400,
       "ValidationException",
       "unknown query parameter 'bogus' (this operation takes: maxResults, nextToken, "
       "stateMachine, status)"},
      {"a status that does not exist", "GET", "/v1/executions?status=DONE", "", 400,
       "ValidationException",
       "status must be one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE, "
       "not 'DONE'"},
      {"a parameter twice", "GET", "/v1/executions?status=RUNNING&status=FAILED", "", 400,
       "ValidationException", "query parameter 'status' is given more than once"},
      {"a forged nextToken", "GET", "/v1/executions?nextToken=garbage", "", 400, "InvalidToken",
       "invalid next_token"},
      {"a malformed escape in the path", "GET", "/v1/executions/%zz", "", 400,
       "ValidationException", "the path /v1/executions/%zz has a malformed percent-escape"},
      {"a malformed escape in the query", "GET", "/v1/executions?stateMachine=%zz", "", 400,
       "ValidationException", "the query string has a malformed percent-escape"},
      {"a path that climbs", "GET", "/v1/state-machines/..%2F..%2Fetc%2Fpasswd", "", 404,
       "StateMachineDoesNotExist",
       "State Machine Does Not Exist: '" + kArnPrefix + "stateMachine:../../etc/passwd'"},
      {"an execution that does not exist", "GET", machine + "/executions/ghost", "", 404,
       "ExecutionDoesNotExist",
       "Execution Does Not Exist: '" + kArnPrefix + "execution:" + kMachine + ":ghost'"},
  };

  // Bad ARNs in every route that takes one (an ARN in a path is used as given).
  const StartedRun run0 = a.run(0);
  ASSERT_FALSE(run0.arn.empty());
  const std::string sqs_execution =
      "arn:aws:sqs" + run0.arn.substr(std::string("arn:aws:states").size());
  const std::string sqs_machine = "arn:aws:sqs:local:000000000000:stateMachine:" + kMachine;
  const std::string short_execution = kArnPrefix + "execution:" + kMachine;
  auto bad_arn = [&](const std::string& what, const std::string& method, const std::string& target,
                     const std::string& body, const std::string& why, const std::string& arn) {
    cases.push_back(Case{what, method, target, body, 400, "InvalidArn", invalid_arn(why, arn)});
  };
  bad_arn("describe nope", "GET", "/v1/executions/nope", "", "Invalid ARN prefix", "nope");
  bad_arn("describe a machine as an execution", "GET",
          "/v1/executions/" + percent_encode(kMachineArn), "",
          "Resource type not valid in this context", kMachineArn);
  bad_arn("the history of another service's ARN", "GET",
          "/v1/executions/" + percent_encode(sqs_execution) + "/history", "",
          "Service not valid in this context", sqs_execution);
  bad_arn("the machine of a short ARN", "GET",
          "/v1/executions/" + percent_encode(short_execution) + "/state-machine", "",
          "Resource name not valid", short_execution);
  bad_arn("stop a running execution's ARN plus a part", "POST",
          "/v1/executions/" + run0.arn + ":extra:stop", "", "Resource name not valid",
          run0.arn + ":extra");
  bad_arn("redrive another service's ARN", "POST",
          "/v1/executions/" + percent_encode(sqs_execution) + ":redrive", "",
          "Service not valid in this context", sqs_execution);
  bad_arn("describe another service's machine", "GET", "/v1/state-machines/" + sqs_machine, "",
          "Service not valid in this context", sqs_machine);
  bad_arn("delete the machine's ARN plus a part", "DELETE",
          "/v1/state-machines/" + kMachineArn + ":extra", "", "Resource name not valid",
          kMachineArn + ":extra");
  bad_arn("update an execution as a machine", "PUT", "/v1/state-machines/" + run0.arn,
          json{{"roleArn", kRoleArn}}.dump(), "Resource type not valid in this context", run0.arn);
  bad_arn("start on another service's machine", "POST",
          "/v1/state-machines/" + sqs_machine + "/executions", R"({"name":"bad-arn"})",
          "Service not valid in this context", sqs_machine);
  bad_arn("list the executions of the machine's ARN plus a part", "GET",
          "/v1/state-machines/" + kMachineArn + ":extra/executions", "", "Resource name not valid",
          kMachineArn + ":extra");
  bad_arn("tag an execution", "POST", "/v1/state-machines/" + run0.arn + "/tags",
          json{{"tags", {{{"key", "k"}, {"value", "v"}}}}}.dump(),
          "Resource type not valid in this context", run0.arn);
  bad_arn("list the tags of another service's machine", "GET",
          "/v1/state-machines/" + sqs_machine + "/tags", "", "Service not valid in this context",
          sqs_machine);

  for (const Case& c : cases) {
    const HttpReply r =
        call(a, c.method, c.target, c.body, c.body.empty() ? HeaderList{} : json_type);
    expect_rest_error(r, c.status, c.code, c.message, "REST " + c.what);
    if (c.status == 405) {  // the Allow header lists what the message says is allowed
      const auto from = c.message.find("(allowed: ") + 10;
      EXPECT_EQ(r.header("Allow"), c.message.substr(from, c.message.size() - from - 1)) << c.what;
    }
  }

  // Not JSON: the message says where (nlohmann's words in the middle).
  const HttpReply bad = call(a, "POST", "/v1/state-machines", "{oops", json_type);
  const std::string message = body_of(bad).value("message", "");
  EXPECT_EQ(bad.status, 400) << shown(bad);
  EXPECT_EQ(body_of(bad).value("code", ""), "SerializationException") << shown(bad);
  EXPECT_EQ(message.rfind("the request body is not valid JSON: parse error at line 1, column 2", 0),
            0u)
      << message;
  EXPECT_TRUE(message.ends_with("(byte 2)")) << message;

  // Outside /v1/: the router's own 404.
  const HttpReply v2 = call(a, "GET", "/v2/anything");
  EXPECT_EQ(v2.status, 404) << shown(v2);
  EXPECT_EQ(body_of(v2),
            (json{{"code", "NotFound"}, {"message", "No route for GET /v2/anything"}}));

  // Too large for the server: refused before any adapter sees it.
  expect_server_error(
      call(a, "POST", "/v1/state-machines",
           json{{"name", "x"}, {"definition", std::string(kMaxBodyBytes, 'x')}}.dump(), json_type),
      413, false, "PayloadTooLarge", "Request body exceeds the limit of 1114112 bytes",
      "REST a body over the limit");

  // AWS's 1 MiB limit on a definition holds on every API (the REST API once created such a
  // machine: found by this test).
  expect_rest_error(
      call(a, "POST", "/v1/state-machines",
           json{{"name", "OversizedRest"},
                {"definition", definition_of_length(kMaxDefinitionChars + 1)}}
               .dump(),
           json_type),
      400, "ValidationException",
      "1 validation error detected: Value at 'definition' failed to satisfy constraint: Member "
      "must have length less than or equal to 1048576",
      "REST a definition over 1 MiB");
}

// --- The attack: HTTP that is malformed, too large or not HTTP at all ---------------------------

void attack_http(Attack& a) {
  const std::string bad = "Malformed HTTP request: ";
  struct Case {
    std::string what, bytes, message;
  };
  const std::vector<Case> malformed = {
      {"garbage", std::string("\x00\x01\x02hello there\r\n\r\n", 19), bad + "bad method"},
      {"a TLS ClientHello",
       std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + std::string(60, '\0') +
           "\r\n\r\n",
       bad + "bad method"},
      {"an SSH banner", "SSH-2.0-OpenSSH_9.0\r\n\r\n", bad + "bad method"},
      {"HTTP/9.9", "GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", bad + "bad version"},
      {"bare line feeds", "GET /healthz HTTP/1.1\nHost: x\n\n", bad + "bad version"},
      {"a Content-Length that is not a number",
       "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
       bad + "bad Content-Length"},
      {"a negative Content-Length",
       "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
       bad + "bad Content-Length"},
      {"two Content-Lengths",
       "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: "
       "3\r\n\r\n{}",
       bad + "multiple Content-Length"},
      {"Content-Length and chunked (smuggling)",
       "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
       "chunked\r\n\r\n0\r\n\r\n",
       bad + "bad Transfer-Encoding"},
      {"a bad chunk",
       "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
       "chunked\r\n\r\nzz\r\n",
       bad + "bad chunk"},
      {"a NUL in a header",
       std::string("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 41), bad + "bad value"},
  };
  for (const Case& c : malformed) {
    bool closed = false;
    const auto replies = raw_exchange(a, c.bytes, 1, 10s, &closed);
    expect_one_server_error(replies, 400, false, "BadRequest", c.message, "HTTP " + c.what);
    EXPECT_TRUE(closed) << "HTTP " << c.what << ": the connection stays open";
  }

  // A good request, then garbage on the same connection: the first is served, then 400.
  const auto pipelined =
      raw_exchange(a, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\x01\r\n\r\n", 2);
  ASSERT_EQ(pipelined.size(), 2u);
  EXPECT_EQ(pipelined[0].status, 200);
  EXPECT_EQ(pipelined[0].body, R"({"status":"ok"})");
  expect_server_error(pipelined[1], 400, false, "BadRequest", bad + "bad method",
                      "HTTP garbage after a good request");

  // HTTP/1.1 requires a Host header (RFC 9112 section 3.2: "A server MUST respond with a 400
  // (Bad Request) status code to any HTTP/1.1 request message that lacks a Host header").
  // BUG(hostile-6): stepd serves it (200).
  const auto hostless = raw_exchange(a, "GET /healthz HTTP/1.1\r\n\r\n", 1, 5s);
  ASSERT_EQ(hostless.size(), 1u);
  EXPECT_EQ(hostless[0].status, 400)
      << "BUG(hostile-6) HTTP/1.1 without Host: " << shown(hostless[0]);
  EXPECT_EQ(body_of(hostless[0]).value("code", ""), "BadRequest")
      << "BUG(hostile-6): " << shown(hostless[0]);

  // Headers over the limit: 431, in the AWS shape when X-Amz-Target came first.
  const std::string big(kMaxHeaderBytes + 100, 'a');
  const std::string header_message = "Request line and headers exceed the limit of 16384 bytes";
  expect_one_server_error(
      raw_exchange(a, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + big + "\r\n\r\n"), 431, false,
      "RequestHeaderFieldsTooLarge", header_message, "HTTP a huge header");
  expect_one_server_error(
      raw_exchange(a,
                   "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSStepFunctions.StartExecution\r\n"
                   "X-Big: " +
                       big + "\r\nContent-Length: 2\r\n\r\n{}"),
      431, true, "RequestHeaderFieldsTooLarge", header_message, "HTTP a huge header (AWS)");
  expect_one_server_error(
      raw_exchange(a, "GET /v1/executions/" + big + " HTTP/1.1\r\nHost: x\r\n\r\n"), 431, false,
      "RequestHeaderFieldsTooLarge", header_message, "HTTP a huge URL");
  // Many small fields instead of one large one.
  auto many_fields = [](std::size_t bytes) {
    std::string request = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int k = 0; request.size() < bytes; ++k) request += "X-" + std::to_string(k) + ": y\r\n";
    return request + "\r\n";
  };
  expect_one_server_error(raw_exchange(a, many_fields(2 * kMaxHeaderBytes)), 431, false,
                          "RequestHeaderFieldsTooLarge", header_message,
                          "HTTP 32 KiB of small header fields");
  // BUG(hostile-7): the limit is not kept for many small fields: up to 24,566 bytes of them
  // are served (200) with --max-header-bytes 16384 (one large field is cut at 16,416). Beast's
  // parser compares its limit with the unparsed bytes of each read, not the header's total.
  const auto over_by_a_quarter = raw_exchange(a, many_fields(kMaxHeaderBytes * 5 / 4));
  ASSERT_EQ(over_by_a_quarter.size(), 1u);
  EXPECT_EQ(over_by_a_quarter[0].status, 431)
      << "BUG(hostile-7) HTTP 20 KiB of small header fields: " << shown(over_by_a_quarter[0]);

  // A body announced over the limit is refused before it is sent (no 100 Continue first).
  const std::string body_message = "Request body exceeds the limit of 1114112 bytes";
  expect_one_server_error(
      raw_exchange(a,
                   "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AWSStepFunctions.StartExecution\r\n"
                   "Content-Length: 50000000\r\n\r\n{"),
      413, true, "RequestEntityTooLargeException", body_message, "HTTP Content-Length 50 MB");
  expect_one_server_error(
      raw_exchange(a,
                   "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                   "Content-Length: 5000000\r\n\r\n"),
      413, false, "PayloadTooLarge", body_message, "HTTP Expect: 100-continue over the limit");
  // Chunks adding up to more than the limit.
  std::string chunked =
      "POST /v1/state-machines HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int k = 0; k < 3; ++k) chunked += "80000\r\n" + std::string(0x80000, 'a') + "\r\n";
  chunked += "0\r\n\r\n";
  expect_one_server_error(raw_exchange(a, chunked), 413, false, "PayloadTooLarge", body_message,
                          "HTTP chunks over the limit");
}

// --- The attack: slow, cut-off and idle clients -------------------------------------------------

// Sends `head` at once, then `drip` a byte every `interval` until stepd answers; returns the
// answer and how long after the first byte it came.
std::pair<std::vector<HttpReply>, ms> drip(Attack& a, const std::string& head,
                                           const std::string& drip_bytes, ms interval) {
  for (int attempt = 0;; ++attempt) {
    RawSocket s;
    if (!s.connect(a.port)) return {};
    const auto began = Clock::now();
    bool sent = head.empty() || s.send(head);
    for (std::size_t k = 0; sent && k < drip_bytes.size(); ++k) {
      if ((k > 0 || !head.empty()) && s.readable(interval)) break;  // answered
      sent = s.send(drip_bytes.substr(k, 1));
    }
    auto replies = s.read_replies(1, 10s);
    const auto took = std::chrono::duration_cast<ms>(Clock::now() - began);
    if (!replies.empty() && turned_away(replies.front()) && attempt < 400) {
      std::this_thread::sleep_for(25ms);
      continue;
    }
    return {replies, took};
  }
}

void expect_cut_at_read_timeout(const std::pair<std::vector<HttpReply>, ms>& got, bool aws_shape,
                                const std::string& what) {
  expect_one_server_error(got.first, 408, aws_shape, "RequestTimeout",
                          "The request was not received completely within 2 s", what);
  EXPECT_GE(got.second, kReadTimeout - 100ms) << what;
  EXPECT_LE(got.second, kReadTimeout + kLateness) << what;
}

// A byte per second from the very first one: 408 once --read-timeout has passed.
void slow_from_the_start(Attack& a) {
  const std::string request =
      format_request("POST", "/v1/state-machines/" + kMachine + "/executions",
                     R"({"name":"slow-rest","input":{}})", {{"Content-Type", "application/json"}});
  expect_cut_at_read_timeout(drip(a, "", request, 1000ms), false, "a byte per second");
}

// The whole header, then the body a byte every 100 ms: still 408 at --read-timeout (the limit
// is on the whole request, not on the gaps between bytes).
void slow_body(Attack& a) {
  const std::string body =
      json{{"stateMachineArn", kMachineArn}, {"name", "slow-aws"}, {"input", "{}"}}.dump();
  const std::string request =
      format_request("POST", "/", body, aws_headers("AWSStepFunctions.StartExecution"));
  const std::string head = request.substr(0, request.size() - body.size());
  expect_cut_at_read_timeout(drip(a, head, body, 100ms), true, "a body a byte per 100 ms");
}

// A request cut short: the Content-Length promises more than comes.
void truncated(Attack& a) {
  const std::string body =
      json{{"stateMachineArn", kMachineArn}, {"name", "truncated"}, {"input", "{}"}}.dump();
  std::string request =
      format_request("POST", "/", body, aws_headers("AWSStepFunctions.StartExecution"));
  request.resize(request.size() - 10);
  // The client goes away: nothing to answer, nothing to start.
  for (int k = 0; k < 5; ++k) {
    RawSocket s;
    ASSERT_TRUE(s.connect(a.port));
    s.send(request);
  }
  // The client waits: 408 at --read-timeout.
  expect_cut_at_read_timeout(drip(a, request, "", 0ms), true, "a truncated request");
  // A REST start cut short, then closed.
  RawSocket rest;
  ASSERT_TRUE(rest.connect(a.port));
  std::string rest_request = format_request(
      "POST", "/v1/state-machines/" + kMachine + "/executions",
      R"({"name":"truncated-rest","input":{}})", {{"Content-Type", "application/json"}});
  rest_request.resize(rest_request.size() - 3);
  rest.send(rest_request);
}

// A connection with nothing in flight is closed, unanswered, after --idle-timeout: one that
// never sent anything, and one after its answer.
void idle(Attack& a, bool after_a_request) {
  const std::string what = after_a_request ? "idle after a request" : "idle from the start";
  for (int attempt = 0;; ++attempt) {
    RawSocket s;
    ASSERT_TRUE(s.connect(a.port)) << what;
    if (after_a_request) {
      s.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
      const auto replies = s.read_replies(1, 10s);
      ASSERT_EQ(replies.size(), 1u) << what;
      if (turned_away(replies[0]) && attempt < 400) {
        std::this_thread::sleep_for(25ms);
        continue;
      }
      EXPECT_EQ(replies[0].status, 200) << what;
      EXPECT_TRUE(replies[0].keep_alive) << what;
    }
    const auto began = Clock::now();
    const bool closed = s.closed_within(kIdleTimeout + kLateness + 2s);
    const auto took = std::chrono::duration_cast<ms>(Clock::now() - began);
    const auto unexpected = parse_replies(s.raw());
    if (!unexpected.empty() && turned_away(unexpected.front()) && attempt < 400) {
      std::this_thread::sleep_for(25ms);
      continue;
    }
    EXPECT_TRUE(closed) << what << ": still open after " << took.count() << " ms";
    EXPECT_EQ(s.raw(), "") << what << ": stepd sent something";
    EXPECT_GE(took, kIdleTimeout - 300ms) << what;
    EXPECT_LE(took, kIdleTimeout + kLateness) << what;
    return;
  }
}

// --- The attack: more connections than --max-connections ---------------------------------------

void flood(Attack& a) {
  std::this_thread::sleep_for(1500ms);  // while the other attacks are in full swing
  a.crowded = true;
  std::vector<std::unique_ptr<RawSocket>> sockets;
  for (int k = 0; k < kMaxConnections + 8; ++k) {
    auto s = std::make_unique<RawSocket>();
    if (s->connect(a.port)) sockets.push_back(std::move(s));
  }
  EXPECT_EQ(sockets.size(), static_cast<std::size_t>(kMaxConnections + 8))
      << "connections refused outright";
  std::this_thread::sleep_for(500ms);
  // Every slot is taken: the flood's connections beyond the limit (at least 8, since stepd
  // admits at most kMaxConnections of them) were told at once to come back later, and closed.
  // Meanwhile the other threads' requests are turned away too, and retried (see admitted()).
  int rejected = 0;
  for (auto& s : sockets) {
    if (!s->readable(0ms)) continue;  // admitted: stepd waits for its request
    ++rejected;
    const auto replies = s->read_replies(1, 3s);
    ASSERT_EQ(replies.size(), 1u) << "a flood connection: " << s->raw();
    expect_server_error(
        replies[0], 503, false, "ServiceUnavailable",
        "Too many connections (limit " + std::to_string(kMaxConnections) + "); retry later",
        "a flood connection over the limit");
    EXPECT_EQ(replies[0].header("retry-after"), "1");
  }
  EXPECT_GE(rejected, 8);
  EXPECT_LE(rejected, kMaxConnections + 8);
  sockets.clear();
  // The slots come back.
  HttpReply health;
  for (auto until = Clock::now() + 5s; Clock::now() < until;) {
    health = http_request(a.port, "GET", "/healthz");
    if (health.status == 200) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(health.status, 200) << "after the flood: " << shown(health);
  std::this_thread::sleep_for(1500ms);  // turned-away connections linger up to 1 s in stepd
  a.crowded = false;
}

// --- After the attack ---------------------------------------------------------------------------

// A payload in an answer: JSON text in a string (the AWS protocol), else the value itself.
json payload(const json& v) {
  if (!v.is_string()) return v;
  json parsed = json::parse(v.get<std::string>(), nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? v : parsed;
}

void verify_no_harm(Attack& a, StepdProcess& stepd) {
  const unsigned short port = stepd.port();
  const HttpReply health = http_request(port, "GET", "/healthz");
  EXPECT_EQ(health.status, 200) << shown(health);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  EXPECT_EQ(http_request(port, "GET", "/readyz").status, 200);

  std::vector<StartedRun> runs;
  {
    std::lock_guard lock(a.mu);
    runs = a.runs;
  }
  ASSERT_EQ(runs.size(), static_cast<std::size_t>(kExecutions));
  std::sort(runs.begin(), runs.end(),
            [](const StartedRun& x, const StartedRun& y) { return x.index < y.index; });

  // Every execution ends.
  const auto deadline = Clock::now() + 30s;
  json running;
  do {
    const HttpReply r = http_request(
        port, "POST", "/",
        json{{"stateMachineArn", kMachineArn}, {"statusFilter", "RUNNING"}, {"maxResults", 1000}}
            .dump(),
        aws_headers("AWSStepFunctions.ListExecutions"));
    ASSERT_EQ(r.status, 200) << shown(r);
    running = body_of(r)["executions"];
    if (running.empty()) break;
    std::this_thread::sleep_for(200ms);
  } while (Clock::now() < deadline);
  ASSERT_TRUE(running.empty()) << "still running: " << running.dump();

  // Each SUCCEEDED with the output its input implies, and its whole history.
  std::set<std::string> arns;
  for (const StartedRun& run : runs) {
    arns.insert(run.arn);
    const HttpReply d = http_request(port, "POST", "/", json{{"executionArn", run.arn}}.dump(),
                                     aws_headers("AWSStepFunctions.DescribeExecution"));
    ASSERT_EQ(d.status, 200) << run.name << ": " << shown(d);
    const json x = body_of(d);
    EXPECT_EQ(x.value("status", ""), "SUCCEEDED") << run.name << ": " << d.body;
    EXPECT_EQ(x.value("name", ""), run.name);
    EXPECT_EQ(payload(x.value("input", json())), run.input) << run.name;
    EXPECT_EQ(payload(x.value("output", json())), expected_output(run.input)) << run.name;

    const HttpReply h = http_request(port, "POST", "/",
                                     json{{"executionArn", run.arn}, {"maxResults", 1000}}.dump(),
                                     aws_headers("AWSStepFunctions.GetExecutionHistory"));
    ASSERT_EQ(h.status, 200) << run.name << ": " << shown(h);
    const json history = body_of(h);
    const json events = history.value("events", json::array());
    EXPECT_FALSE(history.contains("nextToken")) << run.name;
    ASSERT_FALSE(events.empty()) << run.name;
    std::map<std::string, int> counts;
    for (std::size_t k = 0; k < events.size(); ++k) {
      const json& e = events[k];
      EXPECT_EQ(e.value("id", -1), static_cast<int>(k) + 1) << run.name << ": ids not contiguous";
      const int previous = e.value("previousEventId", -1);
      EXPECT_TRUE(previous >= 0 && previous < static_cast<int>(k) + 1)
          << run.name << ": event " << k + 1 << " follows " << previous;
      ++counts[e.value("type", "")];
    }
    EXPECT_EQ(events.front().value("type", ""), "ExecutionStarted") << run.name;
    EXPECT_EQ(events.back().value("type", ""), "ExecutionSucceeded") << run.name;
    EXPECT_EQ(counts, expected_event_counts(static_cast<int>(run.input.at("items").size())))
        << run.name << ": " << events.dump().substr(0, 2000);
    EXPECT_EQ(payload(member(member(events.front(), "executionStartedEventDetails"), "input")),
              run.input)
        << run.name;
    EXPECT_EQ(payload(member(member(events.back(), "executionSucceededEventDetails"), "output")),
              expected_output(run.input))
        << run.name;
  }

  // Each listed exactly once; nothing else was started, on this machine or any other.
  for (const bool by_machine : {true, false}) {
    json request = {{"maxResults", 1000}};
    if (by_machine) request["stateMachineArn"] = kMachineArn;
    const HttpReply l = http_request(port, "POST", "/", request.dump(),
                                     aws_headers("AWSStepFunctions.ListExecutions"));
    ASSERT_EQ(l.status, 200) << shown(l);
    const json listed = body_of(l);
    EXPECT_FALSE(listed.contains("nextToken"));
    std::multiset<std::string> seen;
    for (const json& x : listed.value("executions", json::array()))
      seen.insert(x.value("executionArn", ""));
    EXPECT_EQ(seen, std::multiset<std::string>(arns.begin(), arns.end()))
        << (by_machine ? "ListExecutions of the machine" : "ListExecutions of all machines");
  }
  EXPECT_EQ(metric(port, "stepd_executions_started_total{state_machine=\"" + kMachineArn + "\"}"),
            kExecutions);

  // The machine is unchanged and alone: no hostile create, update or delete took effect.
  const HttpReply m = http_request(port, "POST", "/", json{{"stateMachineArn", kMachineArn}}.dump(),
                                   aws_headers("AWSStepFunctions.DescribeStateMachine"));
  ASSERT_EQ(m.status, 200) << shown(m);
  EXPECT_EQ(payload(body_of(m).value("definition", json())), json::parse(kDefinition));
  EXPECT_EQ(body_of(m).value("revisionId", ""), "1");
  const HttpReply tags = http_request(port, "POST", "/", json{{"resourceArn", kMachineArn}}.dump(),
                                      aws_headers("AWSStepFunctions.ListTagsForResource"));
  EXPECT_EQ(body_of(tags)["tags"], json::array()) << shown(tags);
  const HttpReply machines =
      http_request(port, "POST", "/", "{}", aws_headers("AWSStepFunctions.ListStateMachines"));
  ASSERT_EQ(machines.status, 200) << shown(machines);
  std::vector<std::string> names;
  for (const json& x : body_of(machines).value("stateMachines", json::array())) {
    names.push_back(x.value("name", ""));
  }
  EXPECT_EQ(names, std::vector<std::string>{kMachine})
      << "machines created by hostile requests: " << shown(machines);

  // The audit log holds every start, each once.
  // BUG(hostile-5): on PostgreSQL one audit entry holding a NUL (the ARN of a hostile call, see
  // BUG(hostile-4)) is refused by the store ("append_audit: invalid byte sequence for encoding
  // "UTF8": 0x00"), and StoreAuditLog retries that batch forever, first in line: no later
  // entry is ever written, GET /v1/audit answers 500 from then on, stepd's shutdown waits 5 s
  // more and reports the entries lost, and after 10,000 waiting entries every audited call
  // (StartExecution...) would block. One request disables auditing for good.
  const HttpReply audit =
      http_request(port, "GET", "/v1/audit?operation=StartExecution&maxResults=1000");
  EXPECT_EQ(audit.status, 200) << "BUG(hostile-5) GET /v1/audit: " << shown(audit);
  std::set<std::string> audited;
  for (const json& e : body_of(audit).value("items", json::array())) {
    if (e.value("outcome", "") == "ok") audited.insert(e.value("resource", ""));
  }
  EXPECT_EQ(audited, arns) << "BUG(hostile-5) on PostgreSQL: the audit log lost the starts";

  // Every connection of the attack was closed (only the one asking remains).
  double open = -1;
  for (auto until = Clock::now() + 6s; Clock::now() < until;) {
    open = metric(port, "stepd_http_connections");
    if (open == 1) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(open, 1) << "connections left open";

  // No crash, no error in the log; SIGTERM still stops stepd cleanly.
  EXPECT_EQ(stepd.stop(), 0) << stepd.log().substr(0, 4000);
  std::istringstream log(stepd.log());
  std::string line;
  int lines = 0;
  while (std::getline(log, line)) {
    ++lines;
    EXPECT_EQ(line.find("\"level\":\"error\""), std::string::npos) << line;
    EXPECT_EQ(line.find("\"level\":\"critical\""), std::string::npos) << line;
    for (const char* crash : {"terminate called", "Segmentation fault", "Aborted",
                              "AddressSanitizer", "runtime error:", "stack smashing"}) {
      EXPECT_EQ(line.find(crash), std::string::npos) << line;
    }
  }
  EXPECT_GT(lines, 100);
  EXPECT_FALSE(stepd.log_line("stopped").empty());
}

// --- The tests ----------------------------------------------------------------------------------

// The same attack on every store: "sqlite" (a file in the test's directory) and "postgres" (a
// schema of its own on the server STEPD_TEST_PG_URL names; skipped when it is not set).
class HostileTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "postgres") {
      const char* base = std::getenv("STEPD_TEST_PG_URL");
      if (base == nullptr || *base == '\0') {
        GTEST_SKIP() << "STEPD_TEST_PG_URL is not set: start a server with scripts/postgres.sh "
                        "(eval \"$(bash scripts/postgres.sh start)\")";
      }
      static std::atomic<int> counter{0};
      const std::string sep = std::string(base).find('?') == std::string::npos ? "?" : "&";
      store_ = std::string(base) + sep + "schema=hostile_" + std::to_string(::getpid()) + "_" +
               std::to_string(++counter);
    }
  }

  StepdOptions options() const {
    StepdOptions o;
    o.store = store_;
    o.args = {"--read-timeout",     "2s",
              "--idle-timeout",     "3s",
              "--max-connections",  std::to_string(kMaxConnections),
              "--shutdown-timeout", "5s"};
    return o;
  }

  std::string store_;  // "" : SQLite in the process's temp dir
};

TEST_P(HostileTest, HostileRequestsGetTheirErrorsAndHarmNoExecution) {
  const auto began = Clock::now();
  StepdProcess stepd;
  ASSERT_TRUE(stepd.start(options())) << stepd.log();
  Attack a;
  a.port = stepd.port();

  const HttpReply created =
      aws(a, "CreateStateMachine",
          json{{"name", kMachine}, {"definition", kDefinition}, {"roleArn", kRoleArn}});
  ASSERT_EQ(created.status, 200) << shown(created);
  for (int i = 0; i < kStartedBefore; ++i) ASSERT_TRUE(start_run(a, i));

  const auto attack_began = Clock::now();
  std::vector<std::thread> attackers;
  auto spawn = [&](std::function<void()> fn) { attackers.emplace_back(std::move(fn)); };
  spawn([&] { keep_starting(a); });
  spawn([&] { attack_aws_protocol(a); });
  spawn([&] { attack_arns(a); });
  spawn([&] { attack_rest(a); });
  spawn([&] { attack_http(a); });
  spawn([&] { slow_from_the_start(a); });
  spawn([&] { slow_body(a); });
  spawn([&] { truncated(a); });
  spawn([&] { idle(a, false); });
  spawn([&] { idle(a, true); });
  spawn([&] { flood(a); });
  std::thread watcher([&] { keep_watching(a); });
  for (std::thread& t : attackers) t.join();
  a.over = true;
  watcher.join();
  const auto attack_took = std::chrono::duration_cast<ms>(Clock::now() - attack_began);

  // The executions kept running while under attack, and stepd kept answering.
  EXPECT_GT(a.succeeded_seen.load(), 0)
      << "no execution was seen finishing during the attack (" << attack_took.count() << " ms)";
  EXPECT_GT(a.watched.load(), 20);
  EXPECT_TRUE(stepd.running()) << stepd.log().substr(0, 4000);
  ASSERT_EQ(http_request(stepd.port(), "GET", "/healthz").status, 200) << "stepd is gone";

  verify_no_harm(a, stepd);
  std::cout << "[ hostile  ] attack " << attack_took.count() << " ms, whole test "
            << std::chrono::duration_cast<ms>(Clock::now() - began).count() << " ms, "
            << a.turned_away_seen.load() << " requests turned away by the connection limit\n";
}

INSTANTIATE_TEST_SUITE_P(Hostile, HostileTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

// Nesting hidden inside string members (an execution's input, a definition) escapes the scan of
// the request body; it must still be refused with a clear error, not crash stepd.
//
// Without a depth check before parsing, each case below killed stepd (found by this test):
//  - AWS StartExecution with an input of 100,000 nested arrays (200 KB, under the 256 KiB
//    limit): SIGSEGV, a stack overflow in the recursive nlohmann serializer, asl::dump_compact
//    (asl/core/json.cpp) called from Engine::Impl::start_execution on a handler thread (the REST
//    API was safe only because it scans the whole body's nesting first);
//  - a definition holding 50,000 nested arrays (a Pass state's Result), given as a string to AWS
//    CreateStateMachine or ValidateStateMachineDefinition, or to REST create: the same in
//    asl::definition_detail::to_plain (asl/validate_schema.cpp), reached from
//    asl::load_definition after 1.8 s of work (quadratic in the depth: 10 s at 100,000 levels).
// Each case restarts stepd if it died, so that every one is reported.
TEST(HostileNestingTest, DeepNestingInsideStringMembersIsRefusedNotFatal) {
  StepdProcess stepd;
  StepdOptions o;
  // A restart after a crash takes its partitions back at once under the same node id.
  o.args = {"--shutdown-timeout", "5s", "--node-id", "hostile-nesting", "--lease-ttl", "2s"};
  ASSERT_TRUE(stepd.start(o)) << stepd.log();
  Attack a;
  a.port = stepd.port();
  ASSERT_EQ(aws(a, "CreateStateMachine",
                json{{"name", kMachine}, {"definition", kDefinition}, {"roleArn", kRoleArn}})
                .status,
            200);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(start_run(a, i));

  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  // 50,000 levels: enough to overflow the stack, and quicker to reach it (loading a definition
  // takes time quadratic in its depth: 1.8 s here, 10 s at 100,000).
  const std::string deeper_than_the_stack = std::string(50'000, '[') + std::string(50'000, ']');
  const std::string deep_definition = R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":)" +
                                      deeper_than_the_stack + R"(,"End":true}}})";
  struct Case {
    std::string what, method, target, body;
    HeaderList headers;
    bool aws_shape;  // the error is {"__type"} (else {"code"})
    int status;
    std::string code;  // "" for ValidateStateMachineDefinition's 200
  };
  const std::vector<Case> cases = {
      {"AWS StartExecution, input nested 100,000 deep", "POST", "/",
       json{{"stateMachineArn", kMachineArn}, {"name", "deep-input"}, {"input", deep}}.dump(),
       aws_headers("AWSStepFunctions.StartExecution"), true, 400, "InvalidExecutionInput"},
      {"AWS CreateStateMachine, a Result nested 50,000 deep", "POST", "/",
       json{{"name", "DeepResult"}, {"definition", deep_definition}, {"roleArn", kRoleArn}}.dump(),
       aws_headers("AWSStepFunctions.CreateStateMachine"), true, 400, "InvalidDefinition"},
      {"AWS ValidateStateMachineDefinition, a Result nested 50,000 deep", "POST", "/",
       json{{"definition", deep_definition}}.dump(),
       aws_headers("AWSStepFunctions.ValidateStateMachineDefinition"), true, 200, ""},
      {"REST create, a string definition nested 50,000 deep",
       "POST",
       "/v1/state-machines",
       json{{"name", "DeepRest"}, {"definition", deep_definition}}.dump(),
       {{"Content-Type", "application/json"}},
       false,
       400,
       "InvalidDefinition"},
  };
  for (const Case& c : cases) {
    if (!stepd.running()) {
      ASSERT_TRUE(stepd.start(o)) << stepd.log();  // same store; the port changes
      a.port = stepd.port();
    }
    const HttpReply r = http_request(a.port, c.method, c.target, c.body, c.headers, 20s);
    std::this_thread::sleep_for(200ms);
    const bool alive = stepd.running();
    EXPECT_TRUE(alive) << c.what << ": stepd died (exit " << stepd.wait_exit(1ms)
                       << "): " << shown(r);
    EXPECT_EQ(r.status, c.status) << c.what << ": " << shown(r);
    const json body = body_of(r);
    if (c.code.empty()) {
      EXPECT_EQ(body.value("result", ""), "FAIL") << c.what << ": " << shown(r);
      const json diagnostics = body.value("diagnostics", json::array());
      const json diagnostic = diagnostics.empty() ? json::object() : diagnostics.front();
      EXPECT_NE(diagnostic.value("message", "").find("deeper than 64 levels"), std::string::npos)
          << c.what << ": the diagnostic should name the nesting: " << shown(r);
    } else {
      EXPECT_EQ(body.value(c.aws_shape ? "__type" : "code", ""), c.code)
          << c.what << ": " << shown(r);
      EXPECT_NE(body.value("message", "").find("nests arrays and objects deeper than 64 levels"),
                std::string::npos)
          << c.what << ": the message should name the nesting: " << shown(r);
    }
  }

  if (!stepd.running()) {
    ASSERT_TRUE(stepd.start(o)) << stepd.log();
    a.port = stepd.port();
  }
  // Nothing was created, and the executions already running were not lost.
  for (const std::string& name : {std::string("DeepResult"), std::string("DeepRest")}) {
    EXPECT_EQ(http_request(a.port, "GET", "/v1/state-machines/" + name).status, 404) << name;
  }
  EXPECT_EQ(http_request(a.port, "GET", "/v1/state-machines/" + kMachine + "/executions/deep-input")
                .status,
            404);
  for (int i = 0; i < 3; ++i) {
    const StartedRun run = a.run(i);
    HttpReply d;
    for (auto until = Clock::now() + 15s; Clock::now() < until;) {
      d = http_request(a.port, "GET", "/v1/executions/" + percent_encode(run.arn));
      if (body_of(d).value("status", "") != "RUNNING") break;
      std::this_thread::sleep_for(100ms);
    }
    EXPECT_EQ(body_of(d).value("status", ""), "SUCCEEDED") << shown(d);
    EXPECT_EQ(body_of(d).value("output", json()), expected_output(run.input)) << shown(d);
  }
  EXPECT_EQ(stepd.stop(), 0) << stepd.log().substr(0, 4000);
}

}  // namespace
}  // namespace stepd::test
