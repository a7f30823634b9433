#include "engine/local_runner.hpp"

#include "asl/choice/timestamp.hpp"
#include "asl/definition.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stepd::engine {
namespace {

using asl::Json;
using std::chrono::seconds;
using testing::ElementsAre;
using testing::HasSubstr;

std::shared_ptr<const asl::Machine> load(const std::string& text) {
  asl::LoadResult r = asl::load_definition(text);
  std::string problems;
  for (const auto& d : r.diagnostics) problems += asl::to_string(d) + " [" + d.code + "]\n";
  if (!r.ok()) {
    ADD_FAILURE() << problems;
    throw std::runtime_error("definition rejected");
  }
  return r.machine;
}

LocalRunOptions virtual_options() {
  LocalRunOptions o;
  o.virtual_time = true;
  o.seed = 7;
  o.start_time = asl::TimePoint(std::chrono::seconds(1'700'000'000));
  return o;
}

// Every history has ids 1..n in order and each previousEventId names an earlier event.
void expect_well_formed(const std::vector<Json>& history) {
  for (std::size_t i = 0; i < history.size(); ++i) {
    ASSERT_EQ(history[i].at("id").get<long long>(), static_cast<long long>(i + 1)) << i;
    long long prev = history[i].at("previousEventId").get<long long>();
    EXPECT_GE(prev, 0);
    EXPECT_LT(prev, static_cast<long long>(i + 1));
    EXPECT_TRUE(history[i].at("timestamp").is_string());
  }
}

std::vector<std::string> types(const std::vector<Json>& history) {
  std::vector<std::string> out;
  for (const auto& e : history) out.push_back(e.at("type").get<std::string>());
  return out;
}

std::vector<const Json*> of_type(const std::vector<Json>& history, const std::string& type) {
  std::vector<const Json*> out;
  for (const auto& e : history) {
    if (e.at("type") == type) out.push_back(&e);
  }
  return out;
}

asl::TimePoint event_time(const Json& e) {
  auto t = asl::parse_timestamp(e.at("timestamp").get<std::string>());
  EXPECT_TRUE(t.has_value()) << e.dump();
  return t.value_or(asl::TimePoint{});
}

// --- Basics and history --------------------------------------------------------------------------

TEST(LocalRunner, PassChainRecordsAwsShapedHistory) {
  auto m = load(R"({"StartAt":"A","States":{
      "A":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.a","Next":"B"},
      "B":{"Type":"Succeed"}}})");
  LocalRunOptions o = virtual_options();
  o.execution_name = "run1";
  o.state_machine_name = "Orders";
  LocalRunResult r = run_local(*m, Json{{"in", true}}, o);
  EXPECT_EQ(r.status, "SUCCEEDED");
  EXPECT_EQ(r.output, (Json{{"in", true}, {"a", {{"x", 1}}}}));
  EXPECT_FALSE(r.error.has_value());
  EXPECT_EQ(r.states_entered, 2);
  expect_well_formed(r.history);
  EXPECT_THAT(types(r.history),
              ElementsAre("ExecutionStarted", "PassStateEntered", "PassStateExited",
                          "SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"));
  EXPECT_EQ(r.history[0]["executionStartedEventDetails"]["input"], R"({"in":true})");
  EXPECT_EQ(r.history[0]["executionStartedEventDetails"]["roleArn"],
            "arn:aws:iam::000000000000:role/stepd-local");
  // AWS: the first state's entry has previousEventId 0.
  EXPECT_EQ(r.history[1]["previousEventId"], 0);
  EXPECT_EQ(r.history[1]["stateEnteredEventDetails"]["name"], "A");
  EXPECT_EQ(r.history[1]["stateEnteredEventDetails"]["input"], R"({"in":true})");
  EXPECT_EQ(r.history[2]["previousEventId"], 2);
  EXPECT_EQ(r.history[2]["stateExitedEventDetails"]["output"], R"({"in":true,"a":{"x":1}})");
  EXPECT_EQ(r.history[5]["executionSucceededEventDetails"]["output"], R"({"in":true,"a":{"x":1}})");
  EXPECT_EQ(r.history[0]["timestamp"], "2023-11-14T22:13:20.000Z");
}

TEST(LocalRunner, ContextObjectNamesTheExecution) {
  auto m = load(R"({"StartAt":"A","States":{"A":{"Type":"Pass",
      "Parameters":{"id.$":"$$.Execution.Id","sm.$":"$$.StateMachine.Id",
                    "name.$":"$$.Execution.Name","entered.$":"$$.State.EnteredTime"},
      "End":true}}})");
  LocalRunOptions o = virtual_options();
  o.execution_name = "run1";
  o.state_machine_name = "Orders";
  o.region = "eu-west-1";
  o.account = "123456789012";
  LocalRunResult r = run_local(*m, Json::object(), o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output["id"], "arn:aws:states:eu-west-1:123456789012:execution:Orders:run1");
  EXPECT_EQ(r.output["sm"], "arn:aws:states:eu-west-1:123456789012:stateMachine:Orders");
  EXPECT_EQ(r.output["name"], "run1");
  EXPECT_EQ(r.output["entered"], "2023-11-14T22:13:20.000Z");
}

TEST(LocalRunner, GeneratedExecutionNameIsAUuid) {
  auto m = load(R"({"StartAt":"A","States":{"A":{"Type":"Pass",
      "Parameters":{"name.$":"$$.Execution.Name"},"End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_THAT(r.output["name"].get<std::string>(),
              testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                    "[0-9a-f]{12}"));
}

TEST(LocalRunner, FailStateEndsTheExecution) {
  auto m = load(R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Oops","Cause":"bad"}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "Oops");
  EXPECT_EQ(r.cause, "bad");
  EXPECT_THAT(types(r.history),
              ElementsAre("ExecutionStarted", "FailStateEntered", "ExecutionFailed"));
  EXPECT_EQ(r.history[2]["executionFailedEventDetails"],
            (Json{{"error", "Oops"}, {"cause", "bad"}}));
}

TEST(LocalRunner, FailWithoutErrorGivesNone) {
  auto m = load(R"({"StartAt":"F","States":{"F":{"Type":"Fail"}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_FALSE(r.error.has_value());
  EXPECT_FALSE(r.cause.has_value());
}

// AWS cites the id of the state's StateEntered event in runtime error causes.
TEST(LocalRunner, CausesCiteTheEnteredEventId) {
  auto m = load(R"({"StartAt":"P","States":{
      "P":{"Type":"Pass","Next":"F"},
      "F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"$.nope"}}})");
  LocalRunResult r = run_local(*m, Json{{"e", "E"}}, virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.Runtime");
  EXPECT_THAT(r.cause.value_or(""),
              HasSubstr("An error occurred while executing the state 'F' (entered at the event "
                        "id #4)."));
}

TEST(LocalRunner, CausesInsideAMapCiteTheIterationsEventIds) {
  // ExecutionStarted 1, PassStateEntered 2, PassStateExited 3, MapStateEntered 4,
  // MapStateStarted 5, MapIterationStarted 6, PassStateEntered 7.
  auto m = load(R"({"StartAt":"S","States":{
      "S":{"Type":"Pass","Next":"M"},
      "M":{"Type":"Map","ItemProcessor":{"StartAt":"In","States":{
          "In":{"Type":"Pass","InputPath":"$.missing","End":true}}},"End":true}}})");
  LocalRunResult r = run_local(*m, Json::array({Json::object()}), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.Runtime");
  EXPECT_THAT(r.cause.value_or(""), HasSubstr("the state 'In' (entered at the event id #7)."));
  expect_well_formed(r.history);
  EXPECT_THAT(
      types(r.history),
      ElementsAre("ExecutionStarted", "PassStateEntered", "PassStateExited", "MapStateEntered",
                  "MapStateStarted", "MapIterationStarted", "PassStateEntered",
                  "MapIterationFailed", "MapStateFailed", "ExecutionFailed"));
}

TEST(LocalRunner, DistributedIterationsNumberTheirOwnEvents) {
  // A DISTRIBUTED iteration is a child execution: its first state is event #2 there.
  auto m = load(R"({"StartAt":"S","States":{
      "S":{"Type":"Pass","Next":"M"},
      "M":{"Type":"Map","ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED",
          "ExecutionType":"STANDARD"},"StartAt":"In","States":{
          "In":{"Type":"Pass","InputPath":"$.missing","End":true}}},
          "ToleratedFailureCount":0,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],
          "End":true},
      "C":{"Type":"Pass","End":true}}})");
  LocalRunResult r = run_local(*m, Json::array({Json::object()}), virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, (Json{{"Error", "States.ExceedToleratedFailureThreshold"},
                            {"Cause", "The specified tolerated failure threshold was exceeded"}}));
  expect_well_formed(r.history);
  EXPECT_THAT(
      types(r.history),
      ElementsAre("ExecutionStarted", "PassStateEntered", "PassStateExited", "MapStateEntered",
                  "MapStateStarted", "MapRunStarted", "MapRunFailed", "MapStateFailed",
                  "MapStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded"));
  EXPECT_EQ(r.states_entered, 4);
}

// --- Parallel --------------------------------------------------------------------------------

TEST(LocalRunner, ParallelResultsInBranchOrder) {
  auto m = load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
      {"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"Next":"A"},
                              "A":{"Type":"Pass","Result":"slow","End":true}}},
      {"StartAt":"B","States":{"B":{"Type":"Pass","Result":"fast","End":true}}}]}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, Json::array({"slow", "fast"}));
  EXPECT_EQ(r.states_entered, 4);
  EXPECT_EQ(r.end_time - r.start_time, seconds(5));
  expect_well_formed(r.history);
  auto t = types(r.history);
  EXPECT_EQ(t[1], "ParallelStateEntered");
  EXPECT_EQ(t[2], "ParallelStateStarted");
  EXPECT_EQ(t[t.size() - 3], "ParallelStateSucceeded");
  EXPECT_EQ(t[t.size() - 2], "ParallelStateExited");
}

TEST(LocalRunner, ParallelBranchesRunConcurrently) {
  auto m = load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
      {"StartAt":"W1","States":{"W1":{"Type":"Wait","Seconds":10,"End":true}}},
      {"StartAt":"W2","States":{"W2":{"Type":"Wait","Seconds":10,"End":true}}},
      {"StartAt":"W3","States":{"W3":{"Type":"Wait","Seconds":7,"End":true}}}]}}})");
  LocalRunResult r = run_local(*m, Json{{"k", 1}}, virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_EQ(r.output, Json::array({{{"k", 1}}, {{"k", 1}}, {{"k", 1}}}));
  EXPECT_EQ(r.end_time - r.start_time, seconds(10));
}

TEST(LocalRunner, FirstFailingBranchFailsTheParallelAndStopsSiblings) {
  auto m = load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
      {"StartAt":"W1","States":{"W1":{"Type":"Wait","Seconds":100,"Next":"X"},
                               "X":{"Type":"Pass","End":true}}},
      {"StartAt":"W2","States":{"W2":{"Type":"Wait","Seconds":3,"Next":"F"},
                              "F":{"Type":"Fail","Error":"Branch.Boom","Cause":"it broke"}}}]}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "Branch.Boom");
  EXPECT_EQ(r.cause, "it broke");
  // The sibling's 100 s wait never completes.
  EXPECT_EQ(r.end_time - r.start_time, seconds(3));
  EXPECT_EQ(r.states_entered, 4);
  expect_well_formed(r.history);
  auto t = types(r.history);
  EXPECT_EQ(std::count(t.begin(), t.end(), "WaitStateExited"), 1);
  EXPECT_EQ(t[t.size() - 2], "ParallelStateFailed");
}

TEST(LocalRunner, BranchesReadOuterVariablesAndKeepTheirOwn) {
  auto m = load(R"({"StartAt":"Init","States":{
      "Init":{"Type":"Pass","Assign":{"x":1},"Next":"P"},
      "P":{"Type":"Parallel","Next":"After","Branches":[
        {"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"x":2,"y":3},"Next":"B"},
                                "B":{"Type":"Pass","Parameters":{"x.$":"$x","y.$":"$y"},
                                     "End":true}}},
        {"StartAt":"C","States":{"C":{"Type":"Pass","Parameters":{"x.$":"$x"},"End":true}}}]},
      "After":{"Type":"Pass","Parameters":{"x.$":"$x","branches.$":"$"},"End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, (Json{{"x", 1}, {"branches", {{{"x", 2}, {"y", 3}}, {{"x", 1}}}}}));
}

// --- Map -------------------------------------------------------------------------------------

TEST(LocalRunner, MapResultsInItemOrderWithItemSelector) {
  auto m = load(R"({"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items",
      "ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"},
      "ItemProcessor":{"StartAt":"W","States":{
          "W":{"Type":"Wait","SecondsPath":"$.v","Next":"P"},
          "P":{"Type":"Pass","End":true}}},"End":true}}})");
  LocalRunResult r = run_local(*m, Json{{"items", {3, 1, 2}}, {"k", "K"}}, virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, Json::parse(R"([{"i":0,"v":3,"k":"K"},{"i":1,"v":1,"k":"K"},
                                      {"i":2,"v":2,"k":"K"}])"));
  EXPECT_EQ(r.states_entered, 7);
  EXPECT_EQ(r.end_time - r.start_time, seconds(3));
  expect_well_formed(r.history);
  auto started = of_type(r.history, "MapIterationStarted");
  ASSERT_EQ(started.size(), 3u);
  EXPECT_EQ((*started[1])["mapIterationStartedEventDetails"], (Json{{"name", "M"}, {"index", 1}}));
  EXPECT_EQ(of_type(r.history, "MapStateStarted")[0]->at("mapStateStartedEventDetails"),
            (Json{{"length", 3}}));
}

TEST(LocalRunner, MapMaxConcurrencyLimitsRunningIterations) {
  const char* def = R"({"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":%d,
      "ItemProcessor":{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"End":true}}},
      "End":true}}})";
  auto run_with = [&](int max) {
    char text[512];
    std::snprintf(text, sizeof text, def, max);
    auto m = load(text);
    return run_local(*m, Json::array({1, 2, 3, 4, 5}), virtual_options());
  };
  LocalRunResult one = run_with(1);
  ASSERT_EQ(one.status, "SUCCEEDED");
  EXPECT_EQ(one.output, Json::array({1, 2, 3, 4, 5}));
  EXPECT_EQ(one.end_time - one.start_time, seconds(50));
  EXPECT_EQ(run_with(2).end_time - run_with(2).start_time, seconds(30));
  EXPECT_EQ(run_with(0).end_time - run_with(0).start_time, seconds(10));
}

TEST(LocalRunner, MapOverNoItemsGivesAnEmptyArray) {
  auto m = load(R"({"StartAt":"M","States":{"M":{"Type":"Map",
      "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}})");
  LocalRunResult r = run_local(*m, Json::array(), virtual_options());
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_EQ(r.output, Json::array());
}

TEST(LocalRunner, InlineMapFailsWithTheIterationsError) {
  auto m = load(R"({"StartAt":"M","States":{"M":{"Type":"Map",
      "ItemProcessor":{"StartAt":"C","States":{
        "C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":2,"Next":"F"}],
             "Default":"P"},
        "F":{"Type":"Fail","Error":"Two","Cause":"item 2"},
        "P":{"Type":"Pass","End":true}}},"End":true}}})");
  LocalRunResult r = run_local(*m, Json::array({1, 2, 3}), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "Two");
  EXPECT_EQ(r.cause, "item 2");
}

const char* kToleratedMap = R"({"StartAt":"M","States":{"M":{"Type":"Map",%s,
    "ItemProcessor":{"ProcessorConfig":{"Mode":"DISTRIBUTED","ExecutionType":"STANDARD"},
      "StartAt":"C","States":{
        "C":{"Type":"Choice","Choices":[{"Variable":"$","NumericGreaterThan":2,"Next":"F"}],
             "Default":"P"},
        "F":{"Type":"Fail","Error":"TooBig","Cause":"over 2"},
        "P":{"Type":"Pass","End":true}}},"End":true}}})";

LocalRunResult run_tolerated(const std::string& tolerance) {
  char text[1024];
  std::snprintf(text, sizeof text, kToleratedMap, tolerance.c_str());
  auto m = load(text);
  return run_local(*m, Json::array({1, 2, 3, 4}), virtual_options());
}

TEST(LocalRunner, MapToleratesFailuresWithinTheCount) {
  LocalRunResult r = run_tolerated(R"("ToleratedFailureCount":2)");
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, Json::parse(R"([1,2,{"Error":"TooBig","Cause":"over 2"},
                                      {"Error":"TooBig","Cause":"over 2"}])"));
}

TEST(LocalRunner, MapFailsBeyondTheToleratedCount) {
  LocalRunResult r = run_tolerated(R"("ToleratedFailureCount":1)");
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.ExceedToleratedFailureThreshold");
  EXPECT_EQ(r.cause, "The specified tolerated failure threshold was exceeded");
}

TEST(LocalRunner, MapToleratesFailuresWithinThePercentage) {
  LocalRunResult ok = run_tolerated(R"("ToleratedFailurePercentage":50)");
  EXPECT_EQ(ok.status, "SUCCEEDED");
  LocalRunResult failed = run_tolerated(R"("ToleratedFailurePercentage":49)");
  EXPECT_EQ(failed.status, "FAILED");
  EXPECT_EQ(failed.error, "States.ExceedToleratedFailureThreshold");
}

TEST(LocalRunner, DistributedMapWithoutToleranceFailsOnAnyFailure) {
  LocalRunResult r = run_tolerated(R"("MaxConcurrency":1)");
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.ExceedToleratedFailureThreshold");
  EXPECT_EQ(r.cause, "The specified tolerated failure threshold was exceeded");
}

// --- Tasks through a handler, Retry, Catch ------------------------------------------------------

TEST(LocalRunner, TaskHandlerServesTasks) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:double",
      "Parameters":{"n.$":"$.n"},"ResultPath":"$.r","End":true}}})");
  LocalRunOptions o = virtual_options();
  std::vector<std::string> seen;
  o.task_handler = [&](const std::string& resource,
                       const Json& payload) -> std::variant<Json, asl::StatesError> {
    seen.push_back(resource);
    return Json{{"doubled", payload["n"].get<int>() * 2}};
  };
  LocalRunResult r = run_local(*m, Json{{"n", 21}}, o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, (Json{{"n", 21}, {"r", {{"doubled", 42}}}}));
  EXPECT_THAT(seen, ElementsAre("arn:aws:lambda:us-east-1:123456789012:function:double"));
  EXPECT_THAT(types(r.history),
              ElementsAre("ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                          "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
                          "ExecutionSucceeded"));
  EXPECT_EQ(r.history[2]["lambdaFunctionScheduledEventDetails"]["input"], R"({"n":21})");
  EXPECT_EQ(r.history[2]["lambdaFunctionScheduledEventDetails"]["resource"],
            "arn:aws:lambda:us-east-1:123456789012:function:double");
  EXPECT_EQ(r.history[4]["lambdaFunctionSucceededEventDetails"]["output"], R"({"doubled":42})");
}

TEST(LocalRunner, RetryBacksOffUnderVirtualTime) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:states:::lambda:invoke",
      "Parameters":{"FunctionName":"flaky","Payload":{"retry.$":"$$.State.RetryCount"}},
      "Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":5}],
      "End":true}}})");
  LocalRunOptions o = virtual_options();
  std::vector<int> retry_counts;
  o.task_handler = [&](const std::string&,
                       const Json& payload) -> std::variant<Json, asl::StatesError> {
    retry_counts.push_back(payload["Payload"]["retry"].get<int>());
    if (retry_counts.size() < 4) return asl::StatesError{"Flaky", "try again"};
    return Json("done");
  };
  LocalRunResult r = run_local(*m, Json::object(), o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, "done");
  EXPECT_THAT(retry_counts, ElementsAre(0, 1, 2, 3));
  // Waits of 2, 6 and 18 seconds between the attempts.
  auto scheduled = of_type(r.history, "TaskScheduled");
  ASSERT_EQ(scheduled.size(), 4u);
  EXPECT_EQ(event_time(*scheduled[1]) - event_time(*scheduled[0]), seconds(2));
  EXPECT_EQ(event_time(*scheduled[2]) - event_time(*scheduled[1]), seconds(6));
  EXPECT_EQ(event_time(*scheduled[3]) - event_time(*scheduled[2]), seconds(18));
  EXPECT_EQ(r.end_time - r.start_time, seconds(26));
  EXPECT_EQ((*scheduled[0])["taskScheduledEventDetails"]["resourceType"], "lambda");
  EXPECT_EQ((*scheduled[0])["taskScheduledEventDetails"]["resource"], "invoke");
  // A retry does not enter the state again.
  EXPECT_EQ(of_type(r.history, "TaskStateEntered").size(), 1u);
  EXPECT_EQ(of_type(r.history, "TaskFailed").size(), 3u);
  EXPECT_EQ(r.states_entered, 1);
  expect_well_formed(r.history);
}

TEST(LocalRunner, RetriesRunOutThenTheErrorFailsTheExecution) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":2}],
      "End":true}}})");
  LocalRunOptions o = virtual_options();
  int calls = 0;
  o.task_handler = [&](const std::string&, const Json&) -> std::variant<Json, asl::StatesError> {
    ++calls;
    return asl::StatesError{"Nope", "never works"};
  };
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "Nope");
  EXPECT_EQ(r.cause, "never works");
  EXPECT_EQ(calls, 3);
  EXPECT_EQ(r.end_time - r.start_time, seconds(3));  // 1 + 2
}

TEST(LocalRunner, RetryCountersResetOnANewVisit) {
  // The task is visited twice (a loop); each visit gets its own MaxAttempts.
  auto m = load(R"({"StartAt":"T","States":{
      "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
           "Retry":[{"ErrorEquals":["Once"],"IntervalSeconds":1,"MaxAttempts":1}],
           "ResultPath":"$.r","Next":"C"},
      "C":{"Type":"Choice","Choices":[{"Variable":"$.r","NumericEquals":4,"Next":"Done"}],
           "Default":"T"},
      "Done":{"Type":"Succeed"}}})");
  LocalRunOptions o = virtual_options();
  int calls = 0;
  o.task_handler = [&](const std::string&, const Json&) -> std::variant<Json, asl::StatesError> {
    ++calls;
    if (calls % 2 == 1) return asl::StatesError{"Once", "first attempt of each visit fails"};
    return Json(calls);
  };
  LocalRunResult r = run_local(*m, Json::object(), o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(calls, 4);
}

TEST(LocalRunner, CatchTakesTheErrorOutput) {
  auto m = load(R"({"StartAt":"T","States":{
      "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
           "Catch":[{"ErrorEquals":["Custom.Error"],"ResultPath":"$.err","Next":"Handled"}],
           "End":true},
      "Handled":{"Type":"Pass","End":true}}})");
  LocalRunOptions o = virtual_options();
  o.task_handler = [](const std::string&, const Json&) -> std::variant<Json, asl::StatesError> {
    return asl::StatesError{"Custom.Error", "went wrong"};
  };
  LocalRunResult r = run_local(*m, Json{{"a", 1}}, o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output,
            (Json{{"a", 1}, {"err", {{"Error", "Custom.Error"}, {"Cause", "went wrong"}}}}));
  EXPECT_THAT(types(r.history),
              ElementsAre("ExecutionStarted", "TaskStateEntered", "LambdaFunctionScheduled",
                          "LambdaFunctionStarted", "LambdaFunctionFailed", "TaskStateExited",
                          "PassStateEntered", "PassStateExited", "ExecutionSucceeded"));
  EXPECT_EQ(r.history[4]["lambdaFunctionFailedEventDetails"],
            (Json{{"error", "Custom.Error"}, {"cause", "went wrong"}}));
}

TEST(LocalRunner, ParallelIsRetriedAsAWhole) {
  auto m = load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
      {"StartAt":"F","States":{"F":{"Type":"Fail","Error":"FailureType",
                                   "Cause":"Cause description"}}}],
      "Retry":[{"ErrorEquals":["FailureType"],"MaxAttempts":2}],"End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "FailureType");
  EXPECT_EQ(r.cause, "Cause description");
  EXPECT_EQ(r.end_time - r.start_time, seconds(3));  // 1 + 2 (defaults)
  EXPECT_EQ(of_type(r.history, "ParallelStateStarted").size(), 3u);
  EXPECT_EQ(of_type(r.history, "ParallelStateEntered").size(), 1u);
}

TEST(LocalRunner, TaskHandlerExceptionIsATaskFailure) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}})");
  LocalRunOptions o = virtual_options();
  o.task_handler = [](const std::string&, const Json&) -> std::variant<Json, asl::StatesError> {
    throw std::runtime_error("kaboom");
  };
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.TaskFailed");
  EXPECT_EQ(r.cause, "The task handler threw: kaboom");
}

TEST(LocalRunner, ResourceWithoutAFunctionUrlFailsClearly) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:1:function:orders","End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "Lambda.ResourceNotFoundException");
  EXPECT_EQ(r.cause,
            "No URL is registered for the Lambda function 'orders' (register one with "
            "--function orders=URL)");
}

TEST(LocalRunner, UnservedResourceFailsClearly) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:states:us-east-1:123456789012:activity:work","End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.TaskFailed");
  EXPECT_THAT(r.cause.value_or(""),
              HasSubstr("The resource 'arn:aws:states:us-east-1:123456789012:activity:work' "
                        "cannot run locally"));
}

// --- Wait and timeouts -----------------------------------------------------------------------

TEST(LocalRunner, WaitJumpsTheVirtualClock) {
  auto m = load(R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"Next":"P"},
      "P":{"Type":"Pass","Parameters":{"t.$":"$$.State.EnteredTime"},"End":true}}})");
  auto started = std::chrono::steady_clock::now();
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(5));
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_EQ(r.output, (Json{{"t", "2023-11-14T23:13:20.000Z"}}));
  EXPECT_EQ(r.end_time - r.start_time, seconds(3600));
  auto exited = of_type(r.history, "WaitStateExited");
  ASSERT_EQ(exited.size(), 1u);
  EXPECT_EQ((*exited[0])["timestamp"], "2023-11-14T23:13:20.000Z");
}

TEST(LocalRunner, WaitSleepsInRealTime) {
  auto m = load(R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":1,"End":true}}})");
  LocalRunOptions o;
  auto started = std::chrono::steady_clock::now();
  LocalRunResult r = run_local(*m, Json{{"a", 1}}, o);
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_EQ(r.output, (Json{{"a", 1}}));
  EXPECT_GE(elapsed, std::chrono::milliseconds(990));
  EXPECT_LT(elapsed, seconds(3));
}

TEST(LocalRunner, WaitUntilAPastTimestampContinuesAtOnce) {
  auto m = load(R"({"StartAt":"W","States":{"W":{"Type":"Wait",
      "Timestamp":"2016-03-14T01:59:00Z","End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), LocalRunOptions{});
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_LT(r.end_time - r.start_time, seconds(1));
}

TEST(LocalRunner, ExecutionTimeoutEndsTheRunTimedOut) {
  auto m = load(R"({"TimeoutSeconds":5,"StartAt":"W","States":{
      "W":{"Type":"Wait","Seconds":10,"End":true}}})");
  LocalRunResult r = run_local(*m, Json::object(), virtual_options());
  EXPECT_EQ(r.status, "TIMED_OUT");
  EXPECT_EQ(r.error, "States.Timeout");
  EXPECT_EQ(r.end_time - r.start_time, seconds(5));
  EXPECT_THAT(types(r.history),
              ElementsAre("ExecutionStarted", "WaitStateEntered", "ExecutionTimedOut"));
  expect_well_formed(r.history);
}

TEST(LocalRunner, ExecutionTimeoutStopsParallelWork) {
  auto m = load(R"({"TimeoutSeconds":1,"StartAt":"P","States":{"P":{"Type":"Parallel",
      "End":true,"Branches":[
        {"StartAt":"W1","States":{"W1":{"Type":"Wait","Seconds":30,"End":true}}},
        {"StartAt":"W2","States":{"W2":{"Type":"Wait","Seconds":30,"End":true}}}]}}})");
  auto started = std::chrono::steady_clock::now();
  LocalRunResult r = run_local(*m, Json::object(), LocalRunOptions{});
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, "TIMED_OUT");
  EXPECT_EQ(r.error, "States.Timeout");
  EXPECT_GE(elapsed, std::chrono::milliseconds(990));
  EXPECT_LT(elapsed, seconds(5));
}

TEST(LocalRunner, WithoutHistoryTheResultIsTheSame) {
  auto m = load(R"({"StartAt":"S","States":{
      "S":{"Type":"Pass","Next":"M"},
      "M":{"Type":"Map","ItemProcessor":{"StartAt":"In","States":{
          "In":{"Type":"Pass","InputPath":"$.missing","End":true}}},"End":true}}})");
  LocalRunOptions o = virtual_options();
  o.record_history = false;
  LocalRunResult r = run_local(*m, Json::array({Json::object()}), o);
  EXPECT_TRUE(r.history.empty());
  EXPECT_THAT(r.cause.value_or(""), HasSubstr("(entered at the event id #7)"));
}

TEST(LocalRunner, LongLoopsOfSynchronousMapsDoNotGrowTheStack) {
  // 20,000 visits of a Map whose iterations all complete at once.
  auto m = load(R"J({"StartAt":"Init","States":{
      "Init":{"Type":"Pass","Parameters":{"n":0,"items":[1,2]},"Next":"M"},
      "M":{"Type":"Map","ItemsPath":"$.items","ResultPath":null,
           "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},
           "Next":"Inc"},
      "Inc":{"Type":"Pass","Parameters":{"n.$":"States.MathAdd($.n, 1)","items":[1,2]},
             "Next":"C"},
      "C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":20000,"Next":"Done"}],
           "Default":"M"},
      "Done":{"Type":"Succeed"}}})J");
  LocalRunOptions o = virtual_options();
  o.record_history = false;
  LocalRunResult r = run_local(*m, Json{{"items", Json::array()}}, o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, (Json{{"n", 20000}, {"items", {1, 2}}}));
}

// --- Tasks over HTTP ---------------------------------------------------------------------------

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

// A tiny HTTP server on 127.0.0.1 standing in for Lambda functions:
//   /echo    200 {"got": <body>}
//   /error   200 X-Amz-Function-Error: Unhandled, a Lambda error payload
//   /status  500 "internal trouble"
//   /slow    answers after 3 s
//   /text    200 "not json"
class FunctionServer {
 public:
  FunctionServer() : acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~FunctionServer() {
    stopping_ = true;
    boost::system::error_code ec;
    // Wake the accept with a connection of our own.
    tcp::socket s(io_);
    s.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ec);
    thread_.join();
    for (auto& t : handlers_) t.join();
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mutex_);
    return bodies_;
  }

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      if (ec || stopping_) break;
      handlers_.emplace_back([this, s = std::move(socket)]() mutable { handle(std::move(s)); });
    }
  }
  void handle(tcp::socket socket) {
    beast::flat_buffer buffer;
    http::request<http::string_body> req;
    boost::system::error_code ec;
    http::read(socket, buffer, req, ec);
    if (ec) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      bodies_.push_back(req.body());
    }
    http::response<http::string_body> res{http::status::ok, 11};
    res.set(http::field::content_type, "application/json");
    std::string target(req.target());
    if (target == "/echo") {
      res.body() = R"({"got":)" + req.body() + "}";
    } else if (target == "/error") {
      res.set("X-Amz-Function-Error", "Unhandled");
      res.body() = R"({"errorMessage": "bad input", "errorType": "ValueError", "stackTrace": []})";
    } else if (target == "/status") {
      res.result(http::status::internal_server_error);
      res.body() = "internal trouble";
    } else if (target == "/slow") {
      std::this_thread::sleep_for(seconds(3));
      res.body() = "{}";
    } else {
      res.body() = "not json";
    }
    res.prepare_payload();
    http::write(socket, res, ec);
    socket.shutdown(tcp::socket::shutdown_both, ec);
  }

  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
  std::vector<std::thread> handlers_;
  std::mutex mutex_;
  std::vector<std::string> bodies_;
};

TEST(LocalRunnerHttp, LambdaArnPostsThePayload) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:echo",
      "Parameters":{"x.$":"$.x"},"End":true}}})");
  LocalRunOptions o;
  o.functions["echo"] = server.url("/echo");
  LocalRunResult r = run_local(*m, Json{{"x", "y"}}, o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, (Json{{"got", {{"x", "y"}}}}));
  EXPECT_THAT(server.bodies(), ElementsAre(R"({"x":"y"})"));
}

TEST(LocalRunnerHttp, LambdaInvokeWrapsThePayload) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:states:::lambda:invoke",
      "Parameters":{"FunctionName":"arn:aws:lambda:us-east-1:123456789012:function:echo:live",
                    "Payload":{"n":1}},
      "ResultSelector":{"p.$":"$.Payload","code.$":"$.StatusCode"},"End":true}}})");
  LocalRunOptions o;
  o.functions["echo:live"] = server.url("/echo");
  LocalRunResult r = run_local(*m, Json::object(), o);
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, (Json{{"p", {{"got", {{"n", 1}}}}}, {"code", 200}}));
}

TEST(LocalRunnerHttp, FunctionErrorBecomesTheTaskError) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = server.url("/error");
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "ValueError");
  EXPECT_EQ(r.cause,
            R"({"errorMessage": "bad input", "errorType": "ValueError", "stackTrace": []})");
  auto failed = of_type(r.history, "LambdaFunctionFailed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ((*failed[0])["lambdaFunctionFailedEventDetails"]["error"], "ValueError");
}

TEST(LocalRunnerHttp, LambdaInvokeErrorCauseIsTheCompactPayload) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"f"},
      "End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = server.url("/error");
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "ValueError");
  EXPECT_EQ(r.cause, R"({"errorMessage":"bad input","errorType":"ValueError","stackTrace":[]})");
  auto failed = of_type(r.history, "TaskFailed");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ((*failed[0])["taskFailedEventDetails"], (Json{{"resourceType", "lambda"},
                                                          {"resource", "invoke"},
                                                          {"error", "ValueError"},
                                                          {"cause", *r.cause}}));
}

TEST(LocalRunnerHttp, ServerErrorIsTaskFailed) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"C"}],"End":true},
      "C":{"Type":"Pass","End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = server.url("/status");
  LocalRunResult r = run_local(*m, Json::object(), o);
  ASSERT_EQ(r.status, "SUCCEEDED");
  EXPECT_EQ(r.output, (Json{{"Error", "States.TaskFailed"},
                            {"Cause", "The function at " + server.url("/status") +
                                          " answered HTTP 500: internal trouble"}}));
}

TEST(LocalRunnerHttp, BodyThatIsNotJsonIsTaskFailed) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = server.url("/text");
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.TaskFailed");
  EXPECT_EQ(r.cause, "The function at " + server.url("/text") +
                         " returned a body that is not JSON: not json");
}

TEST(LocalRunnerHttp, TimeoutSecondsGivesStatesTimeout) {
  FunctionServer server;
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task","TimeoutSeconds":1,
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = server.url("/slow");
  auto started = std::chrono::steady_clock::now();
  LocalRunResult r = run_local(*m, Json::object(), o);
  auto elapsed = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.Timeout");
  EXPECT_LT(elapsed, std::chrono::milliseconds(2500));
  EXPECT_EQ(of_type(r.history, "LambdaFunctionTimedOut").size(), 1u);
}

TEST(LocalRunnerHttp, NoServerIsTaskFailed) {
  // A port with nothing listening: bind one, remember it, close it.
  unsigned short port;
  {
    boost::asio::io_context io;
    tcp::acceptor a(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
    port = a.local_endpoint().port();
  }
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = "http://127.0.0.1:" + std::to_string(port) + "/x";
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.TaskFailed");
  EXPECT_THAT(r.cause.value_or(""),
              HasSubstr("cannot connect to http://127.0.0.1:" + std::to_string(port) + "/x: "));
}

TEST(LocalRunnerHttp, MapIterationsCallConcurrently) {
  FunctionServer server;
  // Three calls to /slow (3 s each) at once take about 3 s, not 9.
  auto m = load(R"({"StartAt":"M","States":{"M":{"Type":"Map",
      "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task",
        "Resource":"arn:aws:lambda:us-east-1:123456789012:function:slow","End":true}}},
      "End":true}}})");
  LocalRunOptions o;
  o.functions["slow"] = server.url("/slow");
  auto started = std::chrono::steady_clock::now();
  LocalRunResult r = run_local(*m, Json::array({1, 2, 3}), o);
  auto elapsed = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(r.status, "SUCCEEDED") << r.cause.value_or("");
  EXPECT_EQ(r.output, Json::parse("[{},{},{}]"));
  EXPECT_LT(elapsed, seconds(6));
}

TEST(LocalRunnerHttp, HttpsIsRefusedClearly) {
  auto m = load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}})");
  LocalRunOptions o;
  o.functions["f"] = "https://example.com/f";
  LocalRunResult r = run_local(*m, Json::object(), o);
  EXPECT_EQ(r.status, "FAILED");
  EXPECT_EQ(r.error, "States.TaskFailed");
  EXPECT_EQ(r.cause,
            "The URL 'https://example.com/f' registered for the function cannot be "
            "used: https:// URLs are not supported here; use http://");
}

}  // namespace
}  // namespace stepd::engine
