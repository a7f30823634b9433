#include "engine/dispatch/invocation.hpp"

#include "invoker_test_support.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>

namespace stepd::engine {
namespace {

using asl::Json;
using asl::StatesError;
using testing::ElementsAre;
using testing::Pair;

constexpr const char* kHttp = "arn:aws:states:::http:invoke";
constexpr const char* kLambdaInvoke = "arn:aws:states:::lambda:invoke";

// A task of state "Call" with token "tok-1".
TaskDispatch task(std::string resource, Json payload) {
  return invoker_testing::make_task(std::move(resource), std::move(payload), "tok-1");
}

// Routes from a map; remembers what was asked.
struct Routes {
  std::map<std::string, std::string> functions;
  std::map<std::string, std::string> services;
  std::vector<std::string> asked;

  RouteLookup lookup() {
    RouteLookup r;
    r.function_url = [this](std::string_view name, std::string_view qualifier) {
      asked.push_back(std::string(name) + "|" + std::string(qualifier));
      std::string plain(name);
      if (!qualifier.empty()) {
        auto it = functions.find(plain + ":" + std::string(qualifier));
        if (it != functions.end()) return std::optional<std::string>(it->second);
      }
      auto it = functions.find(plain);
      return it == functions.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    r.service_url = [this](std::string_view service, std::string_view action) {
      asked.push_back(std::string(service) + "|" + std::string(action));
      auto it = services.find(std::string(service) + ":" + std::string(action));
      if (it == services.end()) it = services.find(std::string(service));
      return it == services.end() ? std::nullopt : std::optional<std::string>(it->second);
    };
    return r;
  }
};

HttpCallPlan plan_ok(const TaskDispatch& t, Routes& routes, const InvokerOptions& o = {}) {
  auto p = plan_call(t, routes.lookup(), o);
  if (auto* e = std::get_if<StatesError>(&p)) {
    ADD_FAILURE() << "plan failed: " << e->error << ": " << e->cause;
    return {};
  }
  return std::get<HttpCallPlan>(p);
}

StatesError plan_error(const TaskDispatch& t, Routes& routes, const InvokerOptions& o = {}) {
  auto p = plan_call(t, routes.lookup(), o);
  if (auto* e = std::get_if<StatesError>(&p)) return *e;
  ADD_FAILURE() << "plan succeeded for " << t.resource;
  return {};
}

std::string header(const HttpCallPlan& plan, const std::string& name) {
  for (const auto& [n, v] : plan.headers) {
    if (n == name) return v;
  }
  return "<absent>";
}

HttpAnswer answer(unsigned status, std::string body,
                  HttpHeaders headers = {{"Content-Type", "application/json"}}) {
  HttpAnswer a;
  a.status = status;
  a.body = std::move(body);
  a.headers = std::move(headers);
  return a;
}

std::string no_id() {
  ADD_FAILURE() << "no request id expected";
  return "";
}

// --- Encoding ---------------------------------------------------------------------------------

TEST(Invocation, PercentEncodingKeepsOnlyUnreservedCharacters) {
  EXPECT_EQ(percent_encode("aZ09-._~"), "aZ09-._~");
  EXPECT_EQ(percent_encode("a b&c=d[e]/é"), "a%20b%26c%3Dd%5Be%5D%2F%C3%A9");
}

TEST(Invocation, UrlEncodedBodyMatchesAwsExample) {
  // AWS: the HTTP Task example of the Developer Guide ("Call HTTPS APIs"), members in order.
  Json body = {{"customer", "1234567890"},
               {"description", "Monthly subscription"},
               {"metadata", {{"order_details", "monthly report data"}}}};
  EXPECT_EQ(url_encode_form(body, ArrayFormat::Indices),
            "customer=1234567890&description=Monthly%20subscription"
            "&metadata%5Border_details%5D=monthly%20report%20data");
}

TEST(Invocation, UrlEncodedArraysInEachFormat) {
  // AWS: {"array": ["a","b","c","d"]} in each RequestEncodingOptions.ArrayFormat.
  Json body = {{"array", {"a", "b", "c", "d"}}};
  EXPECT_EQ(url_encode_form(body, ArrayFormat::Indices),
            "array%5B0%5D=a&array%5B1%5D=b&array%5B2%5D=c&array%5B3%5D=d");
  EXPECT_EQ(url_encode_form(body, ArrayFormat::Repeat), "array=a&array=b&array=c&array=d");
  EXPECT_EQ(url_encode_form(body, ArrayFormat::Commas), "array=a,b,c,d");
  EXPECT_EQ(url_encode_form(body, ArrayFormat::Brackets),
            "array%5B%5D=a&array%5B%5D=b&array%5B%5D=c&array%5B%5D=d");
}

TEST(Invocation, UrlEncodedScalarsNestingAndEscapes) {
  Json body = {{"n", 1.5},     {"t", true},          {"z", nullptr},
               {"s", "a,b c"}, {"o", {{"l", {1, 2}}}}, {"e", Json::array()}};
  EXPECT_EQ(url_encode_form(body, ArrayFormat::Indices),
            "n=1.5&t=true&z=&s=a%2Cb%20c&o%5Bl%5D%5B0%5D=1&o%5Bl%5D%5B1%5D=2");
  EXPECT_EQ(url_encode_form(Json{{"l", {"x,y", "z"}}}, ArrayFormat::Commas), "l=x%2Cy,z");
}

TEST(Invocation, IdempotencyKeyIsTheHexSha256OfTheToken) {
  EXPECT_EQ(idempotency_key("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(idempotency_key("tok-1"), idempotency_key("tok-1"));
  EXPECT_NE(idempotency_key("tok-1"), idempotency_key("tok-2"));
}

TEST(Invocation, TraceHeaderIsTraceparentOnlyForW3CValues) {
  const std::string w3c = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  EXPECT_EQ(trace_header(w3c), (std::pair<std::string, std::string>{"traceparent", w3c}));
  const std::string xray = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1";
  EXPECT_EQ(trace_header(xray), (std::pair<std::string, std::string>{"X-Amzn-Trace-Id", xray}));
  EXPECT_EQ(trace_header("00-short-b7ad6b7169203331-01").first, "X-Amzn-Trace-Id");
}

// --- HTTP Task plans ----------------------------------------------------------------------------

TEST(InvocationHttpTask, PlansMethodUrlQueryHeadersAndJsonBody) {
  Routes routes;
  TaskDispatch t = task(kHttp, {{"ApiEndpoint", "http://api.local:8080/v1/items?x=1"},
                                {"Method", "PUT"},
                                {"Headers", {{"X-One", "1"}, {"X-Many", {"a", 2}}}},
                                {"QueryParameters", {{"q", "a b"}, {"tag", {"red", "blue"}}}},
                                {"RequestBody", {{"k", "v"}}},
                                {"Authentication", {{"ConnectionArn", "arn:aws:events:x"}}}});
  t.trace_header = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  HttpCallPlan plan = plan_ok(t, routes);
  EXPECT_EQ(plan.kind, HttpCallPlan::Kind::HttpTask);
  EXPECT_EQ(plan.method, "PUT");
  EXPECT_EQ(plan.url.host, "api.local");
  EXPECT_EQ(plan.url.port, "8080");
  EXPECT_EQ(plan.url.target, "/v1/items?x=1&q=a%20b&tag=red&tag=blue");
  EXPECT_EQ(plan.endpoint, "http://api.local:8080/v1/items?x=1&q=a%20b&tag=red&tag=blue");
  EXPECT_EQ(plan.body, R"({"k":"v"})");
  EXPECT_THAT(plan.headers,
              ElementsAre(Pair("X-One", "1"), Pair("X-Many", "a"), Pair("X-Many", "2"),
                          Pair("Content-Type", "application/json"),
                          Pair("traceparent", t.trace_header),
                          Pair("X-Stepd-Idempotency-Key", idempotency_key("tok-1")),
                          Pair("X-Stepd-Execution-Arn", t.execution_arn),
                          Pair("X-Stepd-State", "Call")));
  EXPECT_EQ(plan.timeout, std::chrono::milliseconds(60'000));  // AWS: HTTP Tasks end after 60 s
}

TEST(InvocationHttpTask, QueryParametersAsAString) {
  Routes routes;
  HttpCallPlan plan = plan_ok(task(kHttp, {{"ApiEndpoint", "http://h/p"},
                                           {"Method", "GET"},
                                           {"QueryParameters", "?a=1&b=2"}}),
                              routes);
  EXPECT_EQ(plan.url.target, "/p?a=1&b=2");
  EXPECT_EQ(plan.url.port, "80");
  EXPECT_FALSE(plan.body.has_value());
}

TEST(InvocationHttpTask, UrlEncodedBodyWithEachArrayFormat) {
  Routes routes;
  const std::map<std::string, std::string> expected = {
      {"INDICES", "a%5B0%5D=x&a%5B1%5D=y"},
      {"REPEAT", "a=x&a=y"},
      {"COMMAS", "a=x,y"},
      {"BRACKETS", "a%5B%5D=x&a%5B%5D=y"},
  };
  for (const auto& [format, body] : expected) {
    HttpCallPlan plan = plan_ok(
        task(kHttp, {{"ApiEndpoint", "http://h/p"},
                     {"Method", "POST"},
                     {"RequestBody", {{"a", {"x", "y"}}}},
                     {"Transform",
                      {{"RequestBodyEncoding", "URL_ENCODED"},
                       {"RequestEncodingOptions", {{"ArrayFormat", format}}}}}}),
        routes);
    EXPECT_EQ(plan.body, body) << format;
    EXPECT_EQ(header(plan, "Content-Type"), "application/x-www-form-urlencoded") << format;
  }
  // INDICES when no option is given; the Content-Type of Headers wins over ours.
  HttpCallPlan plan = plan_ok(
      task(kHttp, {{"ApiEndpoint", "http://h/p"},
                   {"Method", "POST"},
                   {"Headers", {{"content-type", "application/x-www-form-urlencoded; charset=utf-8"}}},
                   {"RequestBody", {{"a", {"x"}}}},
                   {"Transform", {{"RequestBodyEncoding", "URL_ENCODED"}}}}),
      routes);
  EXPECT_EQ(plan.body, "a%5B0%5D=x");
  EXPECT_EQ(header(plan, "content-type"), "application/x-www-form-urlencoded; charset=utf-8");
  EXPECT_EQ(header(plan, "Content-Type"), "<absent>");
}

TEST(InvocationHttpTask, StringBodyIsSentAsWritten) {
  Routes routes;
  HttpCallPlan plan = plan_ok(task(kHttp, {{"ApiEndpoint", "http://h/p"},
                                           {"Method", "POST"},
                                           {"RequestBody", "<xml/>"}}),
                              routes);
  EXPECT_EQ(plan.body, "<xml/>");
}

TEST(InvocationHttpTask, RefusedParametersAreStatesRuntime) {
  Routes routes;
  auto err = [&](Json p) { return plan_error(task(kHttp, std::move(p)), routes); };
  EXPECT_EQ(err({{"Method", "GET"}}),
            (StatesError{"States.Runtime",
                         "The HTTP Task needs Parameters.ApiEndpoint: a string URL"}));
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}}),
            (StatesError{"States.Runtime",
                         "The HTTP Task needs Parameters.Method: one of GET, POST, PUT, DELETE, "
                         "PATCH, OPTIONS, HEAD"}));
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}, {"Method", "TRACE"}}),
            (StatesError{"States.Runtime",
                         "The HTTP Task's Method 'TRACE' is not one of GET, POST, PUT, DELETE, "
                         "PATCH, OPTIONS, HEAD"}));
  EXPECT_EQ(err({{"ApiEndpoint", "ftp://h/"}, {"Method", "GET"}}),
            (StatesError{"States.Runtime",
                         "The HTTP Task's ApiEndpoint 'ftp://h/' is not an http:// or https:// URL"}));
  // AWS: reserved headers fail the task with States.Runtime.
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}, {"Method", "GET"},
                 {"Headers", {{"Authorization", "Bearer x"}}}}),
            (StatesError{"States.Runtime",
                         "The header 'Authorization' cannot be set in an HTTP Task: AWS "
                         "reserves it"}));
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}, {"Method", "GET"},
                 {"Headers", {{"X-Amz-Date", "x"}}}}).error,
            "States.Runtime");
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}, {"Method", "GET"},
                 {"Headers", {{"X-Stepd-State", "x"}}}}),
            (StatesError{"States.Runtime",
                         "The header 'X-Stepd-State' cannot be set in an HTTP Task: Stepd sets "
                         "it"}));
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}, {"Method", "GET"},
                 {"Transform", {{"RequestBodyEncoding", "GZIP"}}}}),
            (StatesError{"States.Runtime",
                         "The HTTP Task's Transform.RequestBodyEncoding must be NONE or "
                         "URL_ENCODED, got \"GZIP\""}));
  EXPECT_EQ(err({{"ApiEndpoint", "http://h/"}, {"Method", "POST"},
                 {"RequestBody", {1, 2}},
                 {"Transform", {{"RequestBodyEncoding", "URL_ENCODED"}}}}),
            (StatesError{"States.Runtime",
                         "The HTTP Task's RequestBody must be an object to be URL-encoded, got "
                         "array"}));
}

TEST(InvocationHttpTask, TimeoutSecondsBelowTheLimitIsTheDeadline) {
  Routes routes;
  TaskDispatch t = task(kHttp, {{"ApiEndpoint", "http://h/"}, {"Method", "GET"}});
  t.timeout_seconds = 2;
  EXPECT_EQ(plan_ok(t, routes).timeout, std::chrono::milliseconds(2000));
  t.timeout_seconds = 300;  // more than an HTTP Task may take: capped
  EXPECT_EQ(plan_ok(t, routes).timeout, std::chrono::milliseconds(60'000));
}

// --- HTTP Task answers --------------------------------------------------------------------------

HttpCallPlan http_plan(Routes& routes) {
  return plan_ok(task(kHttp, {{"ApiEndpoint", "http://h:81/p"}, {"Method", "GET"}}), routes);
}

TEST(InvocationHttpTask, JsonAnswerIsTheAwsResultShape) {
  Routes routes;
  HttpAnswer a = answer(200, R"({"id":7})",
                        {{"Content-Type", "application/json; charset=utf-8"},
                         {"Set-Cookie", "a=1"},
                         {"Set-Cookie", "b=2"}});
  a.reason = "OK";
  EXPECT_EQ(std::get<Json>(answer_outcome(http_plan(routes), a, no_id)),
            Json::parse(R"({"Headers":{"Content-Type":["application/json; charset=utf-8"],
                                       "Set-Cookie":["a=1","b=2"]},
                            "ResponseBody":{"id":7},"StatusCode":200,"StatusText":"OK"})"));
}

TEST(InvocationHttpTask, TextAnswerStaysText) {
  Routes routes;
  HttpAnswer a = answer(201, "created", {{"Content-Type", "text/plain"}});
  Json r = std::get<Json>(answer_outcome(http_plan(routes), a, no_id));
  EXPECT_EQ(r["ResponseBody"], "created");
  EXPECT_EQ(r["StatusCode"], 201);
  EXPECT_EQ(r["StatusText"], "Created");  // the standard phrase when the server sent none
}

TEST(InvocationHttpTask, Non2xxIsStatesHttpStatusCode) {
  Routes routes;
  EXPECT_EQ(std::get<StatesError>(
                answer_outcome(http_plan(routes), answer(404, R"({"message":"no such item"})"),
                               no_id)),
            (StatesError{"States.Http.StatusCode.404", R"({"message":"no such item"})"}));
  EXPECT_EQ(std::get<StatesError>(answer_outcome(http_plan(routes), answer(503, ""), no_id)),
            (StatesError{"States.Http.StatusCode.503",
                         "GET http://h:81/p answered HTTP 503 Service Unavailable"}));
}

TEST(InvocationHttpTask, BinaryAnswersAreStatesRuntime) {
  Routes routes;
  EXPECT_EQ(std::get<StatesError>(answer_outcome(
                http_plan(routes), answer(200, "PNG", {{"Content-Type", "image/png"}}), no_id)),
            (StatesError{"States.Runtime",
                         "The answer from GET http://h:81/p has content type 'image/png', which "
                         "an HTTP Task cannot use"}));
  EXPECT_EQ(std::get<StatesError>(answer_outcome(
                http_plan(routes), answer(200, "\xff\xfe", {{"Content-Type", "text/plain"}}),
                no_id)),
            (StatesError{"States.Runtime", "The answer from GET http://h:81/p is not UTF-8 text"}));
}

// --- Functions ----------------------------------------------------------------------------------

TEST(InvocationFunction, LambdaArnPostsThePayloadToItsRoute) {
  Routes routes;
  routes.functions["echo"] = "http://127.0.0.1:9001/echo";
  TaskDispatch t = task("arn:aws:lambda:us-east-1:123456789012:function:echo", {{"x", 1}});
  t.timeout_seconds = 30;
  HttpCallPlan plan = plan_ok(t, routes);
  EXPECT_EQ(plan.kind, HttpCallPlan::Kind::Function);
  EXPECT_EQ(plan.method, "POST");
  EXPECT_EQ(plan.endpoint, "http://127.0.0.1:9001/echo");
  EXPECT_EQ(plan.body, R"({"x":1})");
  EXPECT_EQ(plan.function, "echo");
  EXPECT_EQ(plan.timeout, std::chrono::milliseconds(30'000));
  EXPECT_EQ(header(plan, "Content-Type"), "application/json");
  EXPECT_THAT(routes.asked, ElementsAre("echo|"));
}

TEST(InvocationFunction, QualifiersRouteToTheQualifiedName) {
  Routes routes;
  routes.functions["f"] = "http://h/plain";
  routes.functions["f:live"] = "http://h/live";
  auto target = [&](std::string resource, Json payload) {
    return plan_ok(task(std::move(resource), std::move(payload)), routes).url.target;
  };
  EXPECT_EQ(target("arn:aws:lambda:us-east-1:123456789012:function:f:live", {}), "/live");
  EXPECT_EQ(target("arn:aws:lambda:us-east-1:123456789012:function:f:other", {}), "/plain");
  EXPECT_EQ(target(kLambdaInvoke, {{"FunctionName", "f:live"}}), "/live");
  EXPECT_EQ(target(kLambdaInvoke, {{"FunctionName", "123456789012:function:f:live"}}), "/live");
  EXPECT_EQ(target(kLambdaInvoke, {{"FunctionName", "f"}, {"Qualifier", "live"}}), "/live");
  EXPECT_EQ(target(kLambdaInvoke,
                   {{"FunctionName", "arn:aws:lambda:us-east-1:123456789012:function:f"}}),
            "/plain");
}

TEST(InvocationFunction, LambdaInvokeSendsPayloadOnly) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  HttpCallPlan plan = plan_ok(
      task(kLambdaInvoke, {{"FunctionName", "f"}, {"Payload", {{"n", 1}}}}), routes);
  EXPECT_EQ(plan.body, R"({"n":1})");
  plan = plan_ok(task(kLambdaInvoke, {{"FunctionName", "f"}}), routes);
  EXPECT_EQ(plan.body, "{}");
}

TEST(InvocationFunction, RefusedCallsFailClearly) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  EXPECT_EQ(plan_error(task(kLambdaInvoke, {{"Payload", 1}}), routes),
            (StatesError{"States.TaskFailed",
                         "arn:aws:states:::lambda:invoke needs Parameters.FunctionName (a string "
                         "naming the function)"}));
  EXPECT_EQ(plan_error(task(kLambdaInvoke, {{"FunctionName", "f:a"}, {"Qualifier", "b"}}), routes),
            (StatesError{"Lambda.InvalidParameterValueException",
                         "The derived qualifier from the function name does not match the "
                         "specified qualifier."}));
  // AWS: an unknown function is Lambda.ResourceNotFoundException.
  EXPECT_EQ(plan_error(task("arn:aws:lambda:us-east-1:123456789012:function:g:v2", {}), routes),
            (StatesError{"Lambda.ResourceNotFoundException",
                         "No route is registered for the Lambda function 'g:v2' (register a "
                         "function route named 'g' or 'g:v2')"}));
  EXPECT_EQ(plan_error(task(kLambdaInvoke, {{"FunctionName", "arn:aws:s3:::bucket"}}), routes),
            (StatesError{"States.TaskFailed",
                         "FunctionName 'arn:aws:s3:::bucket' does not name a Lambda function "
                         "(NAME, NAME:QUALIFIER, ACCOUNT:function:NAME or a function ARN)"}));
}

TEST(InvocationFunction, SuccessAndLambdaInvokeWrapping) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  HttpCallPlan arn = plan_ok(task("arn:aws:lambda:us-east-1:123456789012:function:f", {}), routes);
  EXPECT_EQ(std::get<Json>(answer_outcome(arn, answer(200, R"({"ok":true})"), no_id)),
            (Json{{"ok", true}}));
  EXPECT_EQ(std::get<Json>(answer_outcome(arn, answer(200, ""), no_id)), Json(nullptr));

  HttpCallPlan inv = plan_ok(task(kLambdaInvoke, {{"FunctionName", "f"}}), routes);
  // AWS: lambda:invoke's result wraps the payload with the invocation's metadata.
  EXPECT_EQ(std::get<Json>(answer_outcome(inv, answer(200, R"({"ok":true})"),
                                          [] { return std::string("rid-1"); })),
            Json::parse(R"({"ExecutedVersion":"$LATEST","Payload":{"ok":true},
                            "SdkHttpMetadata":{"HttpHeaders":{"Content-Type":"application/json"},
                                               "HttpStatusCode":200},
                            "SdkResponseMetadata":{"RequestId":"rid-1"},"StatusCode":200})"));
  HttpAnswer a = answer(200, "1", {{"X-Amz-Executed-Version", "3"}, {"x-amzn-RequestId", "r"}});
  Json r = std::get<Json>(answer_outcome(inv, a, no_id));
  EXPECT_EQ(r["ExecutedVersion"], "3");
  EXPECT_EQ(r["SdkResponseMetadata"]["RequestId"], "r");
  EXPECT_EQ(r["Payload"], 1);
}

TEST(InvocationFunction, FunctionErrorsAreNamedByErrorType) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  HttpCallPlan arn = plan_ok(task("arn:aws:lambda:us-east-1:123456789012:function:f", {}), routes);
  HttpCallPlan inv = plan_ok(task(kLambdaInvoke, {{"FunctionName", "f"}}), routes);
  const std::string body =
      R"({"errorMessage": "bad input", "errorType": "ValueError", "stackTrace": []})";
  HttpAnswer flagged = answer(200, body, {{"X-Amz-Function-Error", "Unhandled"}});
  EXPECT_EQ(std::get<StatesError>(answer_outcome(arn, flagged, no_id)),
            (StatesError{"ValueError", body}));
  EXPECT_EQ(std::get<StatesError>(answer_outcome(inv, flagged, no_id)),
            (StatesError{"ValueError",
                         R"({"errorMessage":"bad input","errorType":"ValueError","stackTrace":[]})"}));
  // An error-shaped body fails the task without the header too, and with an error status.
  EXPECT_EQ(std::get<StatesError>(answer_outcome(arn, answer(200, body), no_id)).error,
            "ValueError");
  EXPECT_EQ(std::get<StatesError>(
                answer_outcome(arn, answer(500, R"({"errorType":"Oops"})"), no_id)),
            (StatesError{"Oops", R"({"errorType":"Oops"})"}));
}

TEST(InvocationFunction, ErrorsWithoutATypeUseLambdaNames) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  HttpCallPlan arn = plan_ok(task("arn:aws:lambda:us-east-1:123456789012:function:f", {}), routes);
  auto err = [&](HttpAnswer a) { return std::get<StatesError>(answer_outcome(arn, a, no_id)); };
  EXPECT_EQ(err(answer(500, "")),
            (StatesError{"Lambda.ServiceException", "The function at http://h:80/f answered HTTP 500"}));
  EXPECT_EQ(err(answer(502, "bad gateway")),
            (StatesError{"Lambda.ServiceException",
                         "The function at http://h:80/f answered HTTP 502: bad gateway"}));
  EXPECT_EQ(err(answer(429, "slow down")).error, "Lambda.TooManyRequestsException");
  EXPECT_EQ(err(answer(404, "")).error, "Lambda.ResourceNotFoundException");
  EXPECT_EQ(err(answer(400, "")).error, "Lambda.AWSLambdaException");
  EXPECT_EQ(err(answer(200, R"({"message":"out of memory"})", {{"X-Amz-Function-Error", "Unhandled"}})),
            (StatesError{"Lambda.Unknown", R"({"message":"out of memory"})"}));
  EXPECT_EQ(err(answer(200, "not json")),
            (StatesError{"States.TaskFailed",
                         "The function at http://h:80/f returned a body that is not JSON: not json"}));
}

TEST(InvocationFunction, TaskFailedNamesForRunLocal) {
  HttpAnswer a = answer(500, "internal trouble");
  EXPECT_EQ(std::get<StatesError>(function_outcome(a, "http://h/f", ResourceKind::LambdaFunction,
                                                   FailureNames::TaskFailed, no_id)),
            (StatesError{"States.TaskFailed",
                         "The function at http://h/f answered HTTP 500: internal trouble"}));
  EXPECT_EQ(transport_error({TransportFailure::Stage::Connect, "Connection refused"}, "http://h/f",
                            FailureNames::TaskFailed),
            (StatesError{"States.TaskFailed", "cannot connect to http://h/f: Connection refused"}));
}

TEST(InvocationFunction, TransportFailuresAreSdkClientExceptions) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  HttpCallPlan arn = plan_ok(task("arn:aws:lambda:us-east-1:123456789012:function:f", {}), routes);
  EXPECT_EQ(failure_error(arn, {TransportFailure::Stage::Connect, "Connection refused"}),
            (StatesError{"Lambda.SdkClientException",
                         "cannot connect to http://h:80/f: Connection refused"}));
  EXPECT_EQ(failure_error(arn, {TransportFailure::Stage::Receive, "end of stream"}),
            (StatesError{"Lambda.SdkClientException",
                         "no valid response from http://h:80/f: end of stream"}));
  EXPECT_EQ(failure_error(http_plan(routes), {TransportFailure::Stage::Send, "Broken pipe"}),
            (StatesError{"States.TaskFailed", "cannot send the request to http://h:81/p: Broken pipe"}));
}

TEST(InvocationFunction, TimeoutNamesTheEndpoint) {
  Routes routes;
  routes.functions["f"] = "http://h/f";
  TaskDispatch t = task("arn:aws:lambda:us-east-1:123456789012:function:f", {});
  t.timeout_seconds = 1.5;
  EXPECT_EQ(timeout_error(plan_ok(t, routes)),
            (StatesError{"States.Timeout",
                         "The call to http://h:80/f did not complete within 1500 ms (the task's "
                         "deadline)"}));
}

// --- Service integrations -------------------------------------------------------------------------

TEST(InvocationService, PostsTheIntegrationEnvelope) {
  Routes routes;
  routes.services["dynamodb"] = "http://h:9000/ddb";
  HttpCallPlan plan = plan_ok(
      task("arn:aws:states:::dynamodb:putItem", {{"TableName", "T"}}), routes);
  EXPECT_EQ(plan.kind, HttpCallPlan::Kind::Service);
  EXPECT_EQ(plan.endpoint, "http://h:9000/ddb");
  EXPECT_EQ(Json::parse(*plan.body),
            Json::parse(R"({"Service":"dynamodb","Action":"putItem",
                            "Resource":"arn:aws:states:::dynamodb:putItem",
                            "IntegrationPattern":"REQUEST_RESPONSE",
                            "Parameters":{"TableName":"T"}})"));
  EXPECT_EQ(plan.timeout, std::chrono::milliseconds(900'000));
  EXPECT_THAT(routes.asked, ElementsAre("dynamodb|putItem"));
}

TEST(InvocationService, PatternsAndSdkIntegrations) {
  Routes routes;
  routes.services["ecs"] = "http://h/ecs";
  routes.services["sqs"] = "http://h/sqs";
  routes.services["s3"] = "http://h/s3";
  auto pattern = [&](const std::string& resource) {
    return Json::parse(*plan_ok(task(resource, Json::object()), routes).body)["IntegrationPattern"];
  };
  EXPECT_EQ(pattern("arn:aws:states:::ecs:runTask.sync"), "SYNC");
  EXPECT_EQ(pattern("arn:aws:states:::ecs:runTask.sync:2"), "SYNC2");
  EXPECT_EQ(pattern("arn:aws:states:::sqs:sendMessage.waitForTaskToken"), "WAIT_FOR_TASK_TOKEN");
  Json sdk = Json::parse(
      *plan_ok(task("arn:aws:states:::aws-sdk:s3:getObject", Json::object()), routes).body);
  EXPECT_EQ(sdk["Service"], "s3");
  EXPECT_EQ(sdk["Action"], "getObject");
  EXPECT_EQ(sdk["Resource"], "arn:aws:states:::aws-sdk:s3:getObject");
}

TEST(InvocationService, MissingRouteNamesIt) {
  Routes routes;
  EXPECT_EQ(plan_error(task("arn:aws:states:::sns:publish", {}), routes),
            (StatesError{"States.TaskFailed",
                         "No route is registered for the service integration 'sns:publish' "
                         "(resource arn:aws:states:::sns:publish): register a service route "
                         "named 'sns:publish' or 'sns'"}));
}

TEST(InvocationService, AnswersFollowTheFunctionRulesWithTaskFailedNames) {
  Routes routes;
  routes.services["sns"] = "http://h/sns";
  HttpCallPlan plan = plan_ok(task("arn:aws:states:::sns:publish", {}), routes);
  EXPECT_EQ(std::get<Json>(answer_outcome(plan, answer(200, R"({"MessageId":"m"})"), no_id)),
            (Json{{"MessageId", "m"}}));
  EXPECT_EQ(std::get<StatesError>(answer_outcome(
                plan, answer(400, R"({"errorType":"SNS.InvalidParameterException","errorMessage":"x"})"),
                no_id))
                .error,
            "SNS.InvalidParameterException");
  EXPECT_EQ(std::get<StatesError>(answer_outcome(plan, answer(503, ""), no_id)),
            (StatesError{"States.TaskFailed", "The service at http://h:80/sns answered HTTP 503"}));
  EXPECT_EQ(failure_error(plan, {TransportFailure::Stage::Connect, "refused"}).error,
            "States.TaskFailed");
}

TEST(Invocation, OtherResourcesAreNotServed) {
  Routes routes;
  EXPECT_EQ(plan_error(task("arn:aws:states:us-east-1:123456789012:activity:A", {}), routes),
            (StatesError{"States.TaskFailed",
                         "The resource 'arn:aws:states:us-east-1:123456789012:activity:A' is not "
                         "an HTTP Task, a Lambda function or a service integration"}));
}

}  // namespace
}  // namespace stepd::engine
