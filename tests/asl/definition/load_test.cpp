// Valid definitions of every kind compile into the Machine they describe.
#include "asl/definition.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stepd::asl {
namespace {

using ::testing::ElementsAre;

std::string describe(const LoadResult& result) {
  std::string out;
  for (const Diagnostic& d : result.diagnostics) out += d.code + " " + to_string(d) + "\n";
  return out;
}

std::shared_ptr<const Machine> load_ok(const std::string& text) {
  LoadResult result = load_definition(text);
  EXPECT_TRUE(result.ok()) << describe(result);
  EXPECT_TRUE(result.diagnostics.empty()) << describe(result);
  return result.machine;
}

const State& state(const Machine& m, const std::string& name) {
  const State* s = m.find(name);
  EXPECT_NE(s, nullptr) << name;
  static const State kNone;
  return s == nullptr ? kNone : *s;
}

TEST(Load, TopLevelFields) {
  auto m = load_ok(R"j({
    "Comment": "orders", "Version": "1.0", "TimeoutSeconds": 300, "QueryLanguage": "JSONPath",
    "StartAt": "Only", "States": {"Only": {"Type": "Succeed"}}})j");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->pointer, "");
  EXPECT_EQ(m->comment, "orders");
  EXPECT_EQ(m->version, "1.0");
  EXPECT_EQ(m->timeout_seconds, 300);
  EXPECT_EQ(m->query_language, "JSONPath");
  EXPECT_EQ(m->start_at, "Only");
  ASSERT_EQ(m->states.size(), 1u);
  EXPECT_EQ(m->start, m->states[0].get());
  EXPECT_EQ(m->states[0]->pointer, "/States/Only");
  EXPECT_EQ(m->states[0]->owner, m.get());
  EXPECT_EQ(m->states[0]->type, StateType::Succeed);
}

TEST(Load, StatesKeepDocumentOrderAndNextIsResolved) {
  auto m = load_ok(R"j({"StartAt": "Zeta", "States": {
    "Zeta": {"Type": "Pass", "Next": "Alpha"},
    "Alpha": {"Type": "Pass", "Next": "Mid"},
    "Mid": {"Type": "Pass", "End": true}}})j");
  ASSERT_NE(m, nullptr);
  ASSERT_EQ(m->states.size(), 3u);
  EXPECT_EQ(m->states[0]->name, "Zeta");
  EXPECT_EQ(m->states[1]->name, "Alpha");
  EXPECT_EQ(m->states[2]->name, "Mid");
  EXPECT_EQ(m->states[0]->common.next_name, "Alpha");
  EXPECT_EQ(m->states[0]->common.next, m->states[1].get());
  EXPECT_EQ(m->states[1]->common.next, m->states[2].get());
  EXPECT_TRUE(m->states[2]->common.end);
  EXPECT_EQ(m->states[2]->common.next, nullptr);
}

TEST(Load, PassStateWithEveryField) {
  auto m = load_ok(R"j({"StartAt": "P", "States": {"P": {
    "Type": "Pass", "Comment": "c", "InputPath": "$.in", "OutputPath": "$.out",
    "ResultPath": "$.res", "Parameters": {"a.$": "$.x", "b": 1}, "Result": {"k": [1, 2]},
    "Assign": {"v": 1}, "End": true}}})j");
  ASSERT_NE(m, nullptr);
  const State& p = state(*m, "P");
  EXPECT_EQ(p.type, StateType::Pass);
  EXPECT_EQ(p.common.comment, "c");
  ASSERT_TRUE(p.common.input_path.path.has_value());
  EXPECT_EQ(p.common.input_path.path->text(), "$.in");
  EXPECT_FALSE(p.common.input_path.is_null);
  ASSERT_TRUE(p.common.output_path.path.has_value());
  EXPECT_EQ(p.common.output_path.path->text(), "$.out");
  ASSERT_TRUE(p.common.result_path.path.has_value());
  EXPECT_EQ(p.common.result_path.path->text(), "$.res");
  EXPECT_TRUE(p.common.parameters.has_value());
  EXPECT_TRUE(p.common.assign.has_value());
  const auto& pass = std::get<PassState>(p.body);
  ASSERT_TRUE(pass.result.has_value());
  EXPECT_EQ(*pass.result, Json::parse(R"j({"k": [1, 2]})j"));
  EXPECT_FALSE(p.uses_context);
  EXPECT_FALSE(p.uses_variables);
}

TEST(Load, NullPathsAndAbsentPaths) {
  auto m = load_ok(R"j({"StartAt": "P", "States": {
    "P": {"Type": "Pass", "InputPath": null, "OutputPath": null, "ResultPath": null, "Next": "Q"},
    "Q": {"Type": "Pass", "End": true}}})j");
  ASSERT_NE(m, nullptr);
  const State& p = state(*m, "P");
  EXPECT_TRUE(p.common.input_path.is_null);
  EXPECT_TRUE(p.common.output_path.is_null);
  EXPECT_TRUE(p.common.result_path.is_null);
  EXPECT_FALSE(p.common.result_path.path.has_value());
  const State& q = state(*m, "Q");
  EXPECT_FALSE(q.common.input_path.is_null);
  EXPECT_FALSE(q.common.input_path.path.has_value());
  EXPECT_FALSE(q.common.result_path.is_null);
  EXPECT_FALSE(q.common.result_path.path.has_value());
}

TEST(Load, TaskStateWithEveryField) {
  auto m = load_ok(R"j({"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
          "Parameters": {"FunctionName": "f", "Payload.$": "$"},
          "ResultSelector": {"body.$": "$.Payload"}, "ResultPath": "$.r",
          "TimeoutSeconds": 30, "HeartbeatSeconds": 10,
          "Credentials": {"RoleArn": "arn:aws:iam::123456789012:role/x"},
          "Compensate": {"Resource": "arn:aws:states:::lambda:invoke"},
          "Retry": [{"ErrorEquals": ["States.Timeout", "Custom.Error"], "IntervalSeconds": 2,
                     "MaxAttempts": 5, "BackoffRate": 1.5, "MaxDelaySeconds": 60,
                     "JitterStrategy": "FULL"},
                    {"ErrorEquals": ["States.ALL"]}],
          "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Recover", "ResultPath": "$.error",
                     "Assign": {"failed": true}}],
          "Next": "Done"},
    "Recover": {"Type": "Pass", "End": true},
    "Done": {"Type": "Succeed"}}})j");
  ASSERT_NE(m, nullptr);
  const State& t = state(*m, "T");
  const auto& task = std::get<TaskState>(t.body);
  EXPECT_EQ(task.resource, "arn:aws:states:::lambda:invoke");
  EXPECT_EQ(task.timeout_seconds.value, 30.0);
  EXPECT_FALSE(task.timeout_seconds.path.has_value());
  EXPECT_EQ(task.heartbeat_seconds.value, 10.0);
  EXPECT_EQ(*task.credentials, Json::parse(R"j({"RoleArn": "arn:aws:iam::123456789012:role/x"})j"));
  ASSERT_TRUE(task.compensate.has_value());
  EXPECT_EQ(task.compensate->resource, "arn:aws:states:::lambda:invoke");
  EXPECT_EQ(task.compensate->pointer, "/States/T/Compensate");
  EXPECT_TRUE(t.common.parameters.has_value());
  EXPECT_TRUE(t.common.result_selector.has_value());

  ASSERT_EQ(t.common.retry.size(), 2u);
  const Retrier& r0 = t.common.retry[0];
  EXPECT_EQ(r0.pointer, "/States/T/Retry/0");
  EXPECT_THAT(r0.errors, ElementsAre("States.Timeout", "Custom.Error"));
  EXPECT_EQ(r0.interval_seconds, 2.0);
  EXPECT_EQ(r0.max_attempts, 5);
  EXPECT_EQ(r0.backoff_rate, 1.5);
  EXPECT_EQ(r0.max_delay_seconds, 60.0);
  EXPECT_EQ(r0.jitter, JitterStrategy::Full);
  const Retrier& r1 = t.common.retry[1];  // defaults
  EXPECT_EQ(r1.interval_seconds, 1.0);
  EXPECT_EQ(r1.max_attempts, 3);
  EXPECT_EQ(r1.backoff_rate, 2.0);
  EXPECT_FALSE(r1.max_delay_seconds.has_value());
  EXPECT_EQ(r1.jitter, JitterStrategy::None);

  ASSERT_EQ(t.common.catchers.size(), 1u);
  const Catcher& c = t.common.catchers[0];
  EXPECT_EQ(c.pointer, "/States/T/Catch/0");
  EXPECT_THAT(c.errors, ElementsAre("States.ALL"));
  EXPECT_EQ(c.next_name, "Recover");
  EXPECT_EQ(c.next, m->find("Recover"));
  ASSERT_TRUE(c.result_path.path.has_value());
  EXPECT_EQ(c.result_path.path->text(), "$.error");
  EXPECT_TRUE(c.assign.has_value());
  EXPECT_EQ(t.common.next, m->find("Done"));
}

TEST(Load, TaskTimeoutAndHeartbeatPaths) {
  auto m = load_ok(R"j({"StartAt": "T", "States": {
    "T": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:work",
          "TimeoutSecondsPath": "$.timeout", "HeartbeatSecondsPath": "$.beat", "End": true}}})j");
  ASSERT_NE(m, nullptr);
  const auto& task = std::get<TaskState>(state(*m, "T").body);
  EXPECT_FALSE(task.timeout_seconds.value.has_value());
  ASSERT_TRUE(task.timeout_seconds.path.has_value());
  EXPECT_EQ(task.timeout_seconds.path->text(), "$.timeout");
  ASSERT_TRUE(task.heartbeat_seconds.path.has_value());
  EXPECT_EQ(task.heartbeat_seconds.path->text(), "$.beat");
  EXPECT_FALSE(task.credentials.has_value());
  EXPECT_FALSE(task.compensate.has_value());
}

TEST(Load, ChoiceStateResolvesEveryTarget) {
  auto m = load_ok(R"j({"StartAt": "C", "States": {
    "C": {"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.out",
          "Choices": [
            {"Variable": "$.x", "NumericGreaterThan": 1, "Next": "Big", "Assign": {"k": 1}},
            {"And": [{"Variable": "$.s", "IsPresent": true},
                     {"Variable": "$.s", "StringEquals": "a"}], "Next": "Small"}],
          "Default": "Other", "Assign": {"seen": true}},
    "Big": {"Type": "Succeed"}, "Small": {"Type": "Succeed"}, "Other": {"Type": "Fail"}}})j");
  ASSERT_NE(m, nullptr);
  const State& c = state(*m, "C");
  const auto& choice = std::get<ChoiceState>(c.body);
  ASSERT_EQ(choice.choices.size(), 2u);
  EXPECT_EQ(choice.choices[0].pointer, "/States/C/Choices/0");
  EXPECT_EQ(choice.choices[0].next_name, "Big");
  EXPECT_EQ(choice.choices[0].next, m->find("Big"));
  EXPECT_TRUE(choice.choices[0].assign.has_value());
  EXPECT_EQ(choice.choices[1].next, m->find("Small"));
  EXPECT_FALSE(choice.choices[1].assign.has_value());
  EXPECT_EQ(choice.default_name, "Other");
  EXPECT_EQ(choice.default_state, m->find("Other"));
  EXPECT_TRUE(c.common.assign.has_value());
  EXPECT_FALSE(c.common.end);
  EXPECT_EQ(c.common.next, nullptr);
}

TEST(Load, WaitStateEachForm) {
  auto m = load_ok(R"j({"StartAt": "A", "States": {
    "A": {"Type": "Wait", "Seconds": 5, "Next": "B"},
    "B": {"Type": "Wait", "SecondsPath": "$.s", "Next": "C"},
    "C": {"Type": "Wait", "Timestamp": "2016-03-14T01:59:00Z", "Next": "D"},
    "D": {"Type": "Wait", "TimestampPath": "$.t", "End": true}}})j");
  ASSERT_NE(m, nullptr);
  const auto& a = std::get<WaitState>(state(*m, "A").body);
  EXPECT_EQ(a.seconds, 5.0);
  EXPECT_FALSE(a.seconds_path || a.timestamp || a.timestamp_path);
  const auto& b = std::get<WaitState>(state(*m, "B").body);
  ASSERT_TRUE(b.seconds_path.has_value());
  EXPECT_EQ(b.seconds_path->text(), "$.s");
  const auto& c = std::get<WaitState>(state(*m, "C").body);
  ASSERT_TRUE(c.timestamp.has_value());
  // 2016-03-14T01:59:00Z is 1457920740 seconds after the epoch.
  EXPECT_EQ(c.timestamp->time_since_epoch().count(), 1457920740LL * 1000000);
  const auto& d = std::get<WaitState>(state(*m, "D").body);
  ASSERT_TRUE(d.timestamp_path.has_value());
  EXPECT_EQ(d.timestamp_path->text(), "$.t");
}

TEST(Load, FailStateLiteralPathAndIntrinsic) {
  auto m = load_ok(R"j({"StartAt": "Choose", "States": {
    "Choose": {"Type": "Choice", "Choices": [
                 {"Variable": "$.a", "IsPresent": true, "Next": "Literal"},
                 {"Variable": "$.b", "IsPresent": true, "Next": "Paths"}],
               "Default": "Calls"},
    "Literal": {"Type": "Fail", "Error": "Oops", "Cause": "because"},
    "Paths": {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "$$.Execution.Id"},
    "Calls": {"Type": "Fail", "ErrorPath": "States.Format('E{}', $.code)",
              "CausePath": "States.JsonToString($x)"}}})j");
  ASSERT_NE(m, nullptr);
  const auto& literal = std::get<FailState>(state(*m, "Literal").body);
  EXPECT_EQ(literal.error, "Oops");
  EXPECT_EQ(literal.cause, "because");
  const State& paths_state = state(*m, "Paths");
  const auto& paths = std::get<FailState>(paths_state.body);
  ASSERT_TRUE(paths.error_path.has_value());
  EXPECT_EQ(paths.error_path->text(), "$.error");
  ASSERT_TRUE(paths.cause_path.has_value());
  EXPECT_TRUE(paths_state.uses_context);
  EXPECT_FALSE(paths_state.uses_variables);
  const State& calls_state = state(*m, "Calls");
  const auto& calls = std::get<FailState>(calls_state.body);
  EXPECT_FALSE(calls.error_path.has_value());
  ASSERT_TRUE(calls.error_call.has_value());
  EXPECT_EQ(calls.error_call->text(), "States.Format('E{}', $.code)");
  ASSERT_TRUE(calls.cause_call.has_value());
  EXPECT_FALSE(calls_state.uses_context);
  EXPECT_TRUE(calls_state.uses_variables);
}

TEST(Load, ParallelBranchesAreNestedScopes) {
  auto m = load_ok(R"j({"StartAt": "Fork", "States": {
    "Fork": {"Type": "Parallel", "Parameters": {"x.$": "$.x"}, "ResultSelector": {"r.$": "$"},
             "ResultPath": "$.out",
             "Branches": [
               {"StartAt": "A1", "Comment": "first",
                "States": {"A1": {"Type": "Pass", "Next": "A2"}, "A2": {"Type": "Succeed"}}},
               {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": true}}}],
             "Retry": [{"ErrorEquals": ["States.BranchFailed"]}],
             "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handle"}],
             "Next": "Done"},
    "Handle": {"Type": "Fail", "Error": "E"},
    "Done": {"Type": "Succeed"}}})j");
  ASSERT_NE(m, nullptr);
  const State& fork = state(*m, "Fork");
  const auto& parallel = std::get<ParallelState>(fork.body);
  ASSERT_EQ(parallel.branches.size(), 2u);
  const Machine& b0 = *parallel.branches[0];
  EXPECT_EQ(b0.pointer, "/States/Fork/Branches/0");
  EXPECT_EQ(b0.comment, "first");
  ASSERT_EQ(b0.states.size(), 2u);
  EXPECT_EQ(b0.start, b0.states[0].get());
  EXPECT_EQ(b0.states[0]->pointer, "/States/Fork/Branches/0/States/A1");
  EXPECT_EQ(b0.states[0]->owner, &b0);
  EXPECT_EQ(b0.states[0]->common.next, b0.states[1].get());
  EXPECT_EQ(m->find("A1"), nullptr);  // not in the top-level scope
  const Machine& b1 = *parallel.branches[1];
  EXPECT_EQ(b1.pointer, "/States/Fork/Branches/1");
  EXPECT_EQ(b1.start->name, "B1");
  EXPECT_EQ(fork.common.retry.size(), 1u);
  EXPECT_EQ(fork.common.catchers[0].next, m->find("Handle"));
  EXPECT_TRUE(fork.common.parameters.has_value());
  EXPECT_TRUE(fork.common.result_selector.has_value());
  EXPECT_EQ(fork.common.next, m->find("Done"));
}

TEST(Load, MapWithItemProcessorAndEveryField) {
  auto m = load_ok(R"j({"StartAt": "M", "States": {"M": {
    "Type": "Map", "Label": "Orders", "ItemsPath": "$.items",
    "ItemSelector": {"item.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
    "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                      "StartAt": "Work", "States": {"Work": {"Type": "Pass", "End": true}}},
    "ItemBatcher": {"MaxItemsPerBatch": 10},
    "MaxConcurrency": 5, "ToleratedFailurePercentage": 12.5, "ToleratedFailureCount": 3,
    "ResultSelector": {"all.$": "$"}, "ResultPath": "$.results", "End": true}}})j");
  ASSERT_NE(m, nullptr);
  const State& s = state(*m, "M");
  const auto& map = std::get<MapState>(s.body);
  ASSERT_NE(map.processor, nullptr);
  EXPECT_EQ(map.processor->pointer, "/States/M/ItemProcessor");
  EXPECT_EQ(map.processor->start->pointer, "/States/M/ItemProcessor/States/Work");
  EXPECT_EQ(map.processor->start->owner, map.processor.get());
  EXPECT_EQ(map.mode, MapMode::Distributed);
  EXPECT_EQ(map.execution_type, "EXPRESS");
  ASSERT_TRUE(map.items_path.has_value());
  EXPECT_EQ(map.items_path->text(), "$.items");
  EXPECT_TRUE(map.item_selector.has_value());
  EXPECT_EQ(*map.item_batcher, Json::parse(R"j({"MaxItemsPerBatch": 10})j"));
  EXPECT_EQ(map.max_concurrency.value, 5);
  EXPECT_EQ(map.tolerated_failure_percentage.value, 12.5);
  EXPECT_EQ(map.tolerated_failure_count.value, 3);
  EXPECT_EQ(map.label, "Orders");
  EXPECT_TRUE(s.uses_context);  // the ItemSelector reads $$.Map.Item
  EXPECT_FALSE(s.common.parameters.has_value());
}

TEST(Load, MapPathFormsAndItems) {
  auto m = load_ok(R"j({"StartAt": "M", "States": {"M": {
    "Type": "Map", "Items": [1, 2, 3],
    "ItemProcessor": {"StartAt": "W", "States": {"W": {"Type": "Succeed"}}},
    "MaxConcurrencyPath": "$.c", "ToleratedFailurePercentagePath": "$.p",
    "ToleratedFailureCountPath": "$.n", "End": true}}})j");
  ASSERT_NE(m, nullptr);
  const auto& map = std::get<MapState>(state(*m, "M").body);
  EXPECT_EQ(map.mode, MapMode::Inline);
  EXPECT_EQ(*map.items, Json::parse("[1, 2, 3]"));
  EXPECT_FALSE(map.items_path.has_value());
  EXPECT_EQ(map.max_concurrency.path->text(), "$.c");
  EXPECT_EQ(map.tolerated_failure_percentage.path->text(), "$.p");
  EXPECT_EQ(map.tolerated_failure_count.path->text(), "$.n");
}

TEST(Load, LegacyMapIteratorAndParametersMeanItemSelector) {
  auto m = load_ok(R"j({"StartAt": "M", "States": {"M": {
    "Type": "Map", "MaxConcurrency": 1,
    "Parameters": {"value.$": "$$.Map.Item.Value"},
    "Iterator": {"StartAt": "In", "States": {"In": {"Type": "Pass", "End": true}},
                 "ProcessorConfig": {"Mode": "INLINE"}},
    "Next": "Done"}, "Done": {"Type": "Succeed"}}})j");
  ASSERT_NE(m, nullptr);
  const State& s = state(*m, "M");
  const auto& map = std::get<MapState>(s.body);
  ASSERT_NE(map.processor, nullptr);
  EXPECT_EQ(map.processor->pointer, "/States/M/Iterator");
  EXPECT_EQ(map.processor->start->name, "In");
  EXPECT_TRUE(map.item_selector.has_value());
  EXPECT_FALSE(s.common.parameters.has_value());
  EXPECT_EQ(map.max_concurrency.value, 1);
}

TEST(Load, UsesContextAndVariablesFlags) {
  auto m = load_ok(R"j({"StartAt": "A", "States": {
    "A": {"Type": "Pass", "Parameters": {"id.$": "$$.Execution.Id"}, "Next": "B"},
    "B": {"Type": "Pass", "OutputPath": "$answer", "Next": "C"},
    "C": {"Type": "Choice", "Choices": [{"Variable": "$$.State.Name", "IsPresent": true,
                                          "Next": "D"}], "Default": "D"},
    "D": {"Type": "Wait", "SecondsPath": "$wait", "Next": "E"},
    "E": {"Type": "Pass", "Assign": {"x.$": "States.Format('{}', $y)"}, "Next": "G"},
    "G": {"Type": "Pass", "Parameters": {"plain.$": "$.x"}, "End": true}}})j");
  ASSERT_NE(m, nullptr);
  auto flags = [&](const char* name) {
    const State& s = state(*m, name);
    return std::make_pair(s.uses_context, s.uses_variables);
  };
  EXPECT_EQ(flags("A"), std::make_pair(true, false));
  EXPECT_EQ(flags("B"), std::make_pair(false, true));
  EXPECT_EQ(flags("C"), std::make_pair(true, false));
  EXPECT_EQ(flags("D"), std::make_pair(false, true));
  EXPECT_EQ(flags("E"), std::make_pair(false, true));
  EXPECT_EQ(flags("G"), std::make_pair(false, false));
}

TEST(Load, AcceptsWhatAwsAccepts) {
  // Jayway-style paths, custom error names, qualified integration ARNs, .sync suffixes.
  auto m = load_ok(R"j({"StartAt": "A", "States": {
    "A": {"Type": "Pass", "Parameters": {"a.$": "$.[0]", "b.$": "$.a.[0].b",
                                         "c.$": "$..price", "d.$": "$.items[?(@.n > 1)]"},
          "Next": "B"},
    "B": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:lambda:invoke",
          "Retry": [{"ErrorEquals": ["MyError", "State.ALL", "Lambda.ServiceException"]}],
          "Next": "C"},
    "C": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync:2",
          "Next": "D"},
    "D": {"Type": "Task", "Resource": "arn:aws:states:::states:startExecution.sync", "Next": "E"},
    "E": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
          "Next": "F"},
    "F": {"Type": "Task", "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:f:prod",
          "Next": "G"},
    "G": {"Type": "Task", "Resource": "arn:aws:states:::http:invoke", "End": true}}})j");
  EXPECT_NE(m, nullptr);
}

TEST(Load, JsonValueOverloadLoadsToo) {
  Json doc = Json::parse(R"j({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}})j");
  LoadResult result = load_definition(doc);
  ASSERT_TRUE(result.ok()) << describe(result);
  EXPECT_EQ(result.machine->start->name, "A");
}

TEST(Load, MachineStaysValidAfterTheResultIsCopied) {
  LoadResult result = load_definition(
      R"j({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Succeed"}}})j");
  std::shared_ptr<const Machine> copy = result.machine;
  result = LoadResult{};
  ASSERT_NE(copy, nullptr);
  EXPECT_EQ(copy->start->common.next->name, "B");
}

}  // namespace
}  // namespace stepd::asl
