#include "server/operations/errors.hpp"

#include "rest_fixture.hpp"

namespace stepd::server::testing {
namespace {

class RestErrorsTest : public RestTest {};

constexpr char kMachinePrefix[] = "arn:aws:states:local:000000000000:stateMachine:";

void expect_error(const Reply& r, int status, const std::string& code, const std::string& message) {
  EXPECT_EQ(r.status, status) << r;
  EXPECT_EQ(r.body.value("code", ""), code) << r;
  EXPECT_EQ(r.body.value("message", ""), message) << r;
  EXPECT_EQ(r.body.value("problems", Json()), Json::array()) << r;
}

TEST(RestStatus, FollowsTheErrorName) {
  EXPECT_EQ(rest_status("StateMachineDoesNotExist"), 404);
  EXPECT_EQ(rest_status("ExecutionDoesNotExist"), 404);
  EXPECT_EQ(rest_status("ResourceNotFound"), 404);
  EXPECT_EQ(rest_status("UnknownOperationException"), 404);
  EXPECT_EQ(rest_status("StateMachineAlreadyExists"), 409);
  EXPECT_EQ(rest_status("ExecutionAlreadyExists"), 409);
  EXPECT_EQ(rest_status("ExecutionNotRedrivable"), 409);
  EXPECT_EQ(rest_status("InvalidDefinition"), 400);
  EXPECT_EQ(rest_status("InvalidArn"), 400);
  EXPECT_EQ(rest_status("InvalidToken"), 400);
  EXPECT_EQ(rest_status("ValidationException"), 400);
  EXPECT_EQ(rest_status("MissingRequiredParameter"), 400);
  EXPECT_EQ(rest_status("SerializationException"), 400);
  EXPECT_EQ(rest_status("TooManyTags"), 400);
  EXPECT_EQ(rest_status("AccessDeniedException"), 403);
  EXPECT_EQ(rest_status("MethodNotAllowed"), 405);
  EXPECT_EQ(rest_status("ThrottlingException"), 429);
  EXPECT_EQ(rest_status("ServiceUnavailable"), 503);
  EXPECT_EQ(rest_status("InternalError"), 500);
  EXPECT_EQ(rest_status("SomethingNew"), 500);
}

TEST_P(RestErrorsTest, AnUnknownRouteIs404) {
  open();
  expect_error(call("GET", "/v1/nothing"), 404, "UnknownOperationException",
               "no route for GET /v1/nothing");
  expect_error(call("GET", "/v2/state-machines"), 404, "UnknownOperationException",
               "no route for GET /v2/state-machines");
  expect_error(call("GET", "/v1/state-machines/"), 404, "UnknownOperationException",
               "no route for GET /v1/state-machines/");
  expect_error(call("POST", "/v1/executions/x/pause"), 404, "UnknownOperationException",
               "no route for POST /v1/executions/x/pause");
}

TEST_P(RestErrorsTest, AWrongMethodIs405WithAllow) {
  open();
  Reply r = call("PATCH", "/v1/state-machines");
  expect_error(r, 405, "MethodNotAllowed",
               "method PATCH is not allowed on /v1/state-machines (allowed: GET, POST)");
  ASSERT_NE(r.header("Allow"), nullptr);
  EXPECT_EQ(*r.header("Allow"), "GET, POST");

  // Each route's Allow names the methods it takes.
  const struct {
    std::string method, target, allow;
  } wrong[] = {
      {"POST", "/v1/state-machines/Chain", "DELETE, GET, PUT"},
      {"DELETE", "/v1/executions/" + enc("arn:aws:states:local:0:execution:a:b"), "GET"},
      {"GET", "/v1/state-machines:validate", "POST"},
  };
  for (const auto& w : wrong) {
    Reply answer = call(w.method, w.target);
    EXPECT_EQ(answer.status, 405) << w.method << " " << w.target;
    ASSERT_NE(answer.header("Allow"), nullptr) << w.method << " " << w.target;
    EXPECT_EQ(*answer.header("Allow"), w.allow) << w.method << " " << w.target;
  }
  // An action suffix names its own route: GET on it is the execution of that (bad) ARN.
  EXPECT_EQ(call("GET", "/v1/executions/x:stop").body["code"], "InvalidArn");
}

TEST_P(RestErrorsTest, OperationErrorsKeepTheirAwsNamesAndTexts) {
  open();
  const std::string machine = create("Chain", kChain);
  expect_error(call("GET", "/v1/state-machines/Nope"), 404, "StateMachineDoesNotExist",
               "State Machine Does Not Exist: '" + std::string(kMachinePrefix) + "Nope'");
  expect_error(call("GET", "/v1/executions/nope"), 400, "InvalidArn",
               "Invalid Arn: 'Invalid ARN prefix: nope'");
  const std::string missing = "arn:aws:states:local:000000000000:execution:Chain:missing";
  expect_error(call("GET", "/v1/executions/" + enc(missing)), 404, "ExecutionDoesNotExist",
               "Execution Does Not Exist: '" + missing + "'");
  expect_error(call("GET", "/v1/state-machines/Chain/executions/missing"), 404,
               "ExecutionDoesNotExist", "Execution Does Not Exist: '" + missing + "'");
  expect_error(call("POST", "/v1/state-machines",
                    Json{{"name", "Chain"},
                         {"definition",
                          Json::parse(R"({"StartAt":"S","States":{"S":{"Type":"Succeed"}}})")}}),
               409, "StateMachineAlreadyExists", "State Machine Already Exists: '" + machine + "'");
  // AWS: creating the same machine again answers it.
  EXPECT_EQ(call("POST", "/v1/state-machines",
                 Json{{"name", "Chain"}, {"definition", Json::parse(kChain)}})
                .status,
            201);
  expect_error(call("POST", "/v1/state-machines",
                    Json{{"name", "bad name"}, {"definition", Json::parse(kChain)}}),
               400, "InvalidName",
               "State machine name 'bad name' contains a character that is not allowed");
  expect_error(call("POST", "/v1/state-machines",
                    Json{{"name", "T"}, {"definition", Json::parse(kChain)}, {"type", "BATCH"}}),
               400, "ValidationException", "type must be STANDARD or EXPRESS, not 'BATCH'");
  expect_error(call("PUT", "/v1/state-machines/Chain", "{}"), 400, "MissingRequiredParameter",
               "Either the definition or the roleArn must be specified");
  expect_error(call("POST", "/v1/state-machines/Nope/executions", "{}"), 404,
               "StateMachineDoesNotExist",
               "State Machine Does Not Exist: '" + std::string(kMachinePrefix) + "Nope'");
  expect_error(call("GET", "/v1/executions?stateMachine=Nope"), 404, "StateMachineDoesNotExist",
               "State Machine Does Not Exist: '" + std::string(kMachinePrefix) + "Nope'");

  create("Waits", kWaitLong);
  const std::string arn = start("Waits", "once", Json{{"k", 1}});
  // AWS: the same name and input while it runs is the same execution; another input is not.
  Reply same = call("POST", "/v1/state-machines/Waits/executions",
                    Json{{"name", "once"}, {"input", Json{{"k", 1}}}});
  EXPECT_EQ(same.status, 201);
  EXPECT_EQ(same.body["arn"], arn);
  expect_error(call("POST", "/v1/state-machines/Waits/executions",
                    Json{{"name", "once"}, {"input", Json{{"k", 2}}}}),
               409, "ExecutionAlreadyExists", "Execution Already Exists: '" + arn + "'");
  expect_error(call("POST", "/v1/executions/" + enc(arn) + ":redrive"), 409,
               "ExecutionNotRedrivable",
               "Execution '" + arn + "' cannot be redriven: its status is RUNNING");
  Reply with_id = call("GET", "/v1/state-machines/Nope");
  EXPECT_EQ(with_id.body["requestId"], "req-admin");
}

TEST_P(RestErrorsTest, ABodyThatIsNotJsonSaysWhereAndWhat) {
  open();
  expect_error(call("POST", "/v1/state-machines", R"({"name": "x", })"), 400,
               "SerializationException",
               "the request body is not valid JSON: parse error at line 1, column 15: syntax error "
               "while parsing object key - unexpected '}'; expected string literal (byte 15)");
  expect_error(
      call("POST", "/v1/state-machines", "{\n  \"name\": tru\n}"), 400, "SerializationException",
      "the request body is not valid JSON: parse error at line 3, column 0: syntax error "
      "while parsing value - invalid literal; last read: '\"name\": tru<U+000A>' (byte 16)");
  expect_error(call("POST", "/v1/state-machines", "[1, 2]"), 400, "ValidationException",
               "the request body must be a JSON object");
  expect_error(call("POST", "/v1/state-machines", ""), 400, "ValidationException",
               "the request needs a JSON object body");
}

TEST_P(RestErrorsTest, WrongFieldsAreNamed) {
  open();
  const Json def = Json::parse(kChain);
  expect_error(call("POST", "/v1/state-machines", Json{{"name", 5}, {"definition", def}}), 400,
               "ValidationException", "field 'name' must be a string");
  expect_error(call("POST", "/v1/state-machines", Json{{"definition", def}}), 400,
               "ValidationException", "field 'name' is required");
  expect_error(
      call("POST", "/v1/state-machines", Json{{"name", "A"}, {"definition", 5}}), 400,
      "ValidationException",
      "field 'definition' must be an object (the ASL document) or a string (its JSON text)");
  expect_error(call("POST", "/v1/state-machines",
                    Json{{"name", "A"}, {"definition", def}, {"tags", "team=a"}}),
               400, "ValidationException",
               "field 'tags' must be an array of {\"key\": string, \"value\": string}");
  expect_error(
      call("POST", "/v1/state-machines", Json{{"name", "A"}, {"definition", def}, {"nmae", "B"}}),
      400, "ValidationException",
      "the request body has an unknown field 'nmae' (this operation takes: name, "
      "definition, type, roleArn, tags)");
  expect_error(call("PUT", "/v1/state-machines/A", Json{{"roleArn", Json::array()}}), 400,
               "ValidationException", "field 'roleArn' must be a string");
  create("Chain", kChain);
  expect_error(call("POST", "/v1/state-machines/Chain/executions", Json{{"name", 1}}), 400,
               "ValidationException", "field 'name' must be a string");
  expect_error(call("POST", "/v1/state-machines/Chain/executions", Json{{"inptu", 1}}), 400,
               "ValidationException",
               "the request body has an unknown field 'inptu' (this operation takes: name, input, "
               "traceHeader)");
  expect_error(call("POST", "/v1/executions/x:stop", Json{{"error", false}}), 400,
               "ValidationException", "field 'error' must be a string");
  expect_error(
      call("POST",
           "/v1/executions/" + enc("arn:aws:states:local:000000000000:execution:Chain:x") + ":stop",
           Json{{"cause", std::string(32769, 'c')}}),
      400, "ValidationException",
      "1 validation error detected: Value at 'cause' failed to satisfy constraint: Member "
      "must have length less than or equal to 32768");
}

TEST_P(RestErrorsTest, QueryParametersAreChecked) {
  open();
  create("Chain", kChain);
  expect_error(call("GET", "/v1/state-machines?maxResults=0"), 400, "ValidationException",
               "maxResults must be an integer from 1 to 1000, not '0'");
  expect_error(call("GET", "/v1/state-machines?maxResults=1001"), 400, "ValidationException",
               "maxResults must be an integer from 1 to 1000, not '1001'");
  expect_error(call("GET", "/v1/executions?maxResults=ten"), 400, "ValidationException",
               "maxResults must be an integer from 1 to 1000, not 'ten'");
  expect_error(call("GET", "/v1/state-machines?maxResults=1&maxResults=2"), 400,
               "ValidationException", "query parameter 'maxResults' is given more than once");
  expect_error(call("GET", "/v1/state-machines?limit=5"), 400, "ValidationException",
               "unknown query parameter 'limit' (this operation takes: maxResults, nextToken)");
  expect_error(call("GET", "/v1/state-machines/Chain?x=1"), 400, "ValidationException",
               "unknown query parameter 'x' (this operation takes none)");
  expect_error(call("GET", "/v1/executions?status=DONE"), 400, "ValidationException",
               "status must be one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, "
               "PENDING_REDRIVE, not 'DONE'");
  const std::string arn = start("Chain", "q", Json::object());
  expect_error(call("GET", "/v1/executions/" + enc(arn) + "/history?reverse=maybe"), 400,
               "ValidationException", "reverse must be true or false, not 'maybe'");
  Reply token = call("GET", "/v1/state-machines?nextToken=garbage");
  EXPECT_EQ(token.status, 400) << token;
  EXPECT_EQ(token.body["code"], "InvalidToken");
  expect_error(call("GET", "/v1/state-machines?maxResults=%zz"), 400, "ValidationException",
               "the query string has a malformed percent-escape");
  expect_error(call("GET", "/v1/executions/arn%3"), 400, "ValidationException",
               "the path /v1/executions/arn%3 has a malformed percent-escape");
}

// Builds {"name": "deep", "input": [[[...]]]} nesting `depth` levels in all.
std::string nested_body(int depth) {
  std::string input = std::string(depth - 1, '[') + std::string(depth - 1, ']');
  return R"({"name":"deep","input":)" + input + "}";
}

TEST_P(RestErrorsTest, BodiesNestedDeeperThan64LevelsAreRefusedBeforeParsing) {
  open();
  create("Pass", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  // 64 levels (the body object and 63 arrays in its input) are fine.
  Reply ok = call("POST", "/v1/state-machines/Pass/executions", nested_body(64));
  ASSERT_EQ(ok.status, 201) << ok;
  expect_error(call("POST", "/v1/state-machines/Pass/executions", nested_body(65)), 400,
               "ValidationException",
               "the request body nests arrays and objects deeper than 64 levels (at byte 86)");
  // Brackets inside strings do not count.
  Json strings = Json{{"name", "strings"}, {"input", std::string(500, '[')}};
  EXPECT_EQ(call("POST", "/v1/state-machines/Pass/executions", strings).status, 201);
  // A million opening brackets: refused at the 65th, without building anything.
  std::string hostile = R"({"input":)" + std::string(1'000'000, '[');
  expect_error(call("POST", "/v1/state-machines/Pass/executions", hostile), 400,
               "ValidationException",
               "the request body nests arrays and objects deeper than 64 levels (at byte 72)");
}

TEST_P(RestErrorsTest, AnInputOver256KiBIsRefusedAsAwsDoes) {
  open();
  create("Pass", R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  // A JSON string of n characters serialises to n + 2 bytes.
  Reply at_limit = call("POST", "/v1/state-machines/Pass/executions",
                        Json{{"name", "at-limit"}, {"input", std::string(262144 - 2, 'a')}});
  EXPECT_EQ(at_limit.status, 201) << at_limit.status;
  expect_error(call("POST", "/v1/state-machines/Pass/executions",
                    Json{{"name", "over"}, {"input", std::string(262144 - 1, 'a')}}),
               400, "InvalidExecutionInput",
               "The execution input is larger than the maximum of 262144 bytes");
  expect_error(call("POST", "/v1/state-machines/Pass/executions:sync",
                    Json{{"input", Json{{"big", std::string(300000, 'b')}}}}),
               400, "InvalidExecutionInput",
               "The execution input is larger than the maximum of 262144 bytes");
}

INSTANTIATE_TEST_SUITE_P(Stores, RestErrorsTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace stepd::server::testing
