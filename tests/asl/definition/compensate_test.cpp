// The Stepd saga extension on a Task state: "Compensate" (docs/saga.md). What it compiles to, and
// every problem it can have, with its exact pointer, code and message.
#include "asl/definition.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stepd::asl {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// "CODE /pointer: message", "warning CODE /pointer: message" for warnings.
std::vector<std::string> problems(const std::string& text, const LoadOptions& options = {}) {
  LoadResult result = load_definition(text, options);
  std::vector<std::string> out;
  for (const Diagnostic& d : result.diagnostics) {
    out.push_back((d.severity == Severity::Warning ? "warning " : "") + d.code + " " +
                  to_string(d));
  }
  return out;
}

// A machine whose only state "S" is a Lambda task with `compensate` as its Compensate field.
std::string task_with(const std::string& compensate) {
  return R"j({"StartAt": "S", "States": {"S": {"Type": "Task",
    "Resource": "arn:aws:lambda:us-east-1:123456789012:function:reserve",
    "Compensate": )j" +
         compensate + R"j(, "End": true}}})j";
}

const TaskState& task_of(const Machine& m, const std::string& name) {
  return std::get<TaskState>(m.find(name)->body);
}

TEST(Compensate, EveryFieldCompiles) {
  LoadResult r = load_definition(task_with(R"j({
      "Resource": "arn:aws:lambda:us-east-1:123456789012:function:release",
      "Parameters": {"id.$": "$.Output.id", "token.$": "$$.Task.Token", "fixed": 1},
      "Retry": [{"ErrorEquals": ["Busy"], "IntervalSeconds": 2, "MaxAttempts": 4,
                 "BackoffRate": 1.5, "MaxDelaySeconds": 30, "JitterStrategy": "FULL"},
                {"ErrorEquals": ["States.ALL"]}],
      "TimeoutSeconds": 60, "HeartbeatSeconds": 10, "Comment": "give the seat back"})j"));
  ASSERT_TRUE(r.ok()) << to_string(r.diagnostics.at(0));
  EXPECT_THAT(r.diagnostics, IsEmpty());
  const TaskState& t = task_of(*r.machine, "S");
  ASSERT_TRUE(t.compensate.has_value());
  const Compensation& c = *t.compensate;
  EXPECT_EQ(c.pointer, "/States/S/Compensate");
  EXPECT_EQ(c.resource, "arn:aws:lambda:us-east-1:123456789012:function:release");
  ASSERT_TRUE(c.parameters.has_value());
  EXPECT_TRUE(c.parameters->ok());
  EXPECT_TRUE(c.uses_context);
  ASSERT_EQ(c.retry.size(), 2u);
  EXPECT_EQ(c.retry[0].pointer, "/States/S/Compensate/Retry/0");
  EXPECT_THAT(c.retry[0].errors, ElementsAre("Busy"));
  EXPECT_EQ(c.retry[0].interval_seconds, 2.0);
  EXPECT_EQ(c.retry[0].max_attempts, 4);
  EXPECT_EQ(c.retry[0].backoff_rate, 1.5);
  EXPECT_EQ(c.retry[0].max_delay_seconds, 30.0);
  EXPECT_EQ(c.retry[0].jitter, JitterStrategy::Full);
  EXPECT_EQ(c.retry[1].pointer, "/States/S/Compensate/Retry/1");
  EXPECT_EQ(c.retry[1].max_attempts, 3);  // the defaults of a state's retrier
  EXPECT_EQ(c.timeout_seconds, 60.0);
  EXPECT_EQ(c.heartbeat_seconds, 10.0);
  EXPECT_EQ(c.comment, "give the seat back");
  // The compensation's Retry is its own: the task has none, and its own context use is unchanged.
  EXPECT_TRUE(r.machine->find("S")->common.retry.empty());
  EXPECT_FALSE(r.machine->find("S")->uses_context);
}

TEST(Compensate, OnlyResourceIsRequired) {
  LoadResult r = load_definition(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke"})j"));
  ASSERT_TRUE(r.ok());
  const Compensation& c = *task_of(*r.machine, "S").compensate;
  EXPECT_EQ(c.resource, "arn:aws:states:::lambda:invoke");
  EXPECT_FALSE(c.parameters.has_value());
  EXPECT_TRUE(c.retry.empty());
  EXPECT_FALSE(c.timeout_seconds.has_value());
  EXPECT_FALSE(c.heartbeat_seconds.has_value());
  EXPECT_FALSE(c.uses_context);
}

TEST(Compensate, TaskWithoutCompensateHasNone) {
  LoadResult r = load_definition(R"j({"StartAt": "S", "States": {"S": {"Type": "Task",
    "Resource": "arn:aws:states:::lambda:invoke", "End": true}}})j");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(task_of(*r.machine, "S").compensate.has_value());
}

TEST(Compensate, ResourceIsRequired) {
  EXPECT_THAT(problems(task_with(R"j({"Parameters": {"a": 1}})j")),
              ElementsAre("MISSING_FIELD /States/S/Compensate: missing required field "
                          "'Resource' for the Compensate action"));
}

TEST(Compensate, UnknownFieldsAreReportedEachAtItsPointer) {
  EXPECT_THAT(
      problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke",
                              "Catch": [], "ResultPath": "$.x"})j")),
      ElementsAre("UNKNOWN_FIELD /States/S/Compensate/Catch: unknown field 'Catch' for the "
                  "Compensate action",
                  "UNKNOWN_FIELD /States/S/Compensate/ResultPath: unknown field 'ResultPath' "
                  "for the Compensate action"));
}

TEST(Compensate, ResourceIsCheckedLikeATasks) {
  EXPECT_THAT(problems(task_with(R"j({"Resource": "undo"})j")),
              ElementsAre("INVALID_RESOURCE /States/S/Compensate/Resource: 'undo' is not a "
                          "valid resource ARN: an ARN starts with 'arn:' "
                          "(arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE)"));
  const std::string unsupported =
      task_with(R"j({"Resource": "arn:aws:states:::dynamodb:deleteItem"})j");
  EXPECT_THAT(problems(unsupported),
              ElementsAre("warning UNSUPPORTED_RESOURCE /States/S/Compensate/Resource: Resource "
                          "'arn:aws:states:::dynamodb:deleteItem' is valid, but this engine "
                          "cannot run it (supported: Lambda function ARNs, "
                          "arn:aws:states:::lambda:invoke, arn:aws:states:::http:invoke, "
                          "activity ARNs and arn:aws:states:::states:startExecution)"));
  LoadOptions strict;
  strict.strict = true;
  EXPECT_THAT(problems(unsupported, strict),
              ElementsAre("UNSUPPORTED_RESOURCE /States/S/Compensate/Resource: Resource "
                          "'arn:aws:states:::dynamodb:deleteItem' is valid, but this engine "
                          "cannot run it (supported: Lambda function ARNs, "
                          "arn:aws:states:::lambda:invoke, arn:aws:states:::http:invoke, "
                          "activity ARNs and arn:aws:states:::states:startExecution)"));
}

TEST(Compensate, RetryIsCheckedLikeAStatesRetry) {
  EXPECT_THAT(
      problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke", "Retry": [
          {"ErrorEquals": ["States.ALL"], "BackoffRate": 0.5},
          {"ErrorEquals": ["X"], "IntervalSeconds": 0, "MaxAttempts": -1, "Jitter": "FULL"}]})j")),
      ElementsAre("STATES_ALL_NOT_LAST /States/S/Compensate/Retry/0: a retrier with States.ALL "
                  "must be the last retrier in Retry",
                  "INVALID_VALUE /States/S/Compensate/Retry/0/BackoffRate: must be at least 1.0",
                  "INVALID_VALUE /States/S/Compensate/Retry/1/IntervalSeconds: must be at least 1",
                  "INVALID_VALUE /States/S/Compensate/Retry/1/MaxAttempts: must be at least 0",
                  "UNKNOWN_FIELD /States/S/Compensate/Retry/1/Jitter: unknown field 'Jitter' for "
                  "a retrier"));
}

TEST(Compensate, TimeoutsMustBePositiveAndHeartbeatBelowTimeout) {
  EXPECT_THAT(problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke",
                                      "TimeoutSeconds": 0, "HeartbeatSeconds": -2})j")),
              ElementsAre("INVALID_VALUE /States/S/Compensate/TimeoutSeconds: must be greater "
                          "than 0",
                          "INVALID_VALUE /States/S/Compensate/HeartbeatSeconds: must be greater "
                          "than 0"));
  EXPECT_THAT(problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke",
                                      "TimeoutSeconds": 30, "HeartbeatSeconds": 30})j")),
              ElementsAre("INVALID_VALUE /States/S/Compensate/HeartbeatSeconds: must be less "
                          "than TimeoutSeconds (30)"));
  EXPECT_THAT(problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke",
                                      "HeartbeatSeconds": 99999999})j")),
              ElementsAre("INVALID_VALUE /States/S/Compensate/HeartbeatSeconds: must be less "
                          "than the default TimeoutSeconds (99999999)"));
}

TEST(Compensate, FieldsOfTheWrongTypeAreReported) {
  EXPECT_THAT(problems(task_with(R"j({"Resource": 7, "Parameters": [1], "Retry": {},
                                      "TimeoutSeconds": "60", "Comment": false})j")),
              ElementsAre("WRONG_TYPE /States/S/Compensate/Resource: must be a string",
                          "WRONG_TYPE /States/S/Compensate/Parameters: must be an object",
                          "WRONG_TYPE /States/S/Compensate/Retry: must be an array",
                          "WRONG_TYPE /States/S/Compensate/TimeoutSeconds: must be an integer",
                          "WRONG_TYPE /States/S/Compensate/Comment: must be a string"));
}

TEST(Compensate, ParametersAreCompiledWithTheirPointers) {
  EXPECT_THAT(problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke",
                                      "Parameters": {"id.$": "$..[", "n.$": 3}})j")),
              ElementsAre("INVALID_PATH /States/S/Compensate/Parameters/id.$: Parameters: the "
                          "value of the field 'id.$' ('$..[') is not a valid JSONPath: missing "
                          "']' for the '[' opened at offset 3",
                          "WRONG_TYPE /States/S/Compensate/Parameters/n.$: Parameters: the value "
                          "of the field 'n.$' must be a string holding a JSONPath or an "
                          "intrinsic function call, not a number"));
}

TEST(Compensate, ParametersCannotReadVariables) {
  EXPECT_THAT(problems(task_with(R"j({"Resource": "arn:aws:states:::lambda:invoke",
                                      "Parameters": {"id.$": "$orderId"}})j")),
              ElementsAre("INVALID_VALUE /States/S/Compensate/Parameters: a compensation cannot "
                          "read variables ($name): it runs after the execution failed, when the "
                          "scopes that assigned them have ended; pass what it needs through the "
                          "task's input or result ($.Input, $.Output)"));
}

TEST(Compensate, OnlyTaskStatesMayHaveIt) {
  EXPECT_THAT(problems(R"j({"StartAt": "S", "States": {"S": {"Type": "Pass",
    "Compensate": {"Resource": "arn:aws:states:::lambda:invoke"}, "End": true}}})j"),
              ElementsAre("FIELD_NOT_ALLOWED /States/S/Compensate: field 'Compensate' is not "
                          "allowed for a Pass state (only for Task states)"));
}

TEST(Compensate, NestedTasksInBranchesAndProcessorsCompile) {
  LoadResult r = load_definition(R"j({"StartAt": "P", "States": {"P": {"Type": "Parallel",
    "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Task",
      "Resource": "arn:aws:states:::lambda:invoke",
      "Compensate": {"Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 5},
      "End": true}}}], "End": true}}})j");
  ASSERT_TRUE(r.ok());
  const auto& p = std::get<ParallelState>(r.machine->find("P")->body);
  const Compensation& c = *task_of(*p.branches[0], "A").compensate;
  EXPECT_EQ(c.pointer, "/States/P/Branches/0/States/A/Compensate");
  EXPECT_EQ(c.timeout_seconds, 5.0);
}

}  // namespace
}  // namespace stepd::asl
