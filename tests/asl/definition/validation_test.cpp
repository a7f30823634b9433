// Every validation rule: the exact pointer, code and message of each problem, all reported at
// once and in document order.
#include "asl/definition.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace stepd::asl {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::StartsWith;

// "CODE /pointer: message", "warning CODE /pointer: message" for warnings.
std::vector<std::string> problems(const std::string& text, const LoadOptions& options = {}) {
  LoadResult result = load_definition(text, options);
  std::vector<std::string> out;
  bool has_error = false;
  for (const Diagnostic& d : result.diagnostics) {
    has_error |= d.severity == Severity::Error;
    out.push_back((d.severity == Severity::Warning ? "warning " : "") + d.code + " " +
                  to_string(d));
  }
  EXPECT_EQ(result.ok(), !has_error) << "a machine is returned exactly when there is no error";
  return out;
}

// A one-state machine whose only state is `state` (a JSON object text) named "S".
std::string one_state(const std::string& state) {
  return R"j({"StartAt": "S", "States": {"S": )j" + state + "}}";
}

// ---------------------------------------------------------------------------------------------
// JSON syntax and the document itself

TEST(Validation, JsonSyntaxErrorIsOneDiagnosticWithLineAndColumn) {
  EXPECT_THAT(
      problems("{\n  \"StartAt\": tru\n}"),
      ElementsAre("INVALID_JSON /: invalid JSON at line 2, column 17: syntax error while "
                  "parsing value - invalid literal; last read: '\"StartAt\": tru<U+000A>'"));
}

TEST(Validation, EmptyTextIsInvalidJson) {
  EXPECT_THAT(problems(""),
              ElementsAre("INVALID_JSON /: invalid JSON at line 1, column 1: syntax error while "
                          "parsing value - unexpected end of input; expected '[', '{', or a "
                          "literal"));
}

TEST(Validation, DefinitionMustBeAnObject) {
  EXPECT_THAT(problems("[1]"),
              ElementsAre("WRONG_TYPE /: a state machine definition must be a JSON object, not "
                          "array"));
}

TEST(Validation, MissingStartAtAndStates) {
  EXPECT_THAT(problems("{}"),
              ElementsAre("MISSING_FIELD /: missing required field 'StartAt' for the state "
                          "machine",
                          "MISSING_FIELD /: missing required field 'States' for the state "
                          "machine"));
}

TEST(Validation, EmptyStates) {
  EXPECT_THAT(problems(R"j({"StartAt": "A", "States": {}})j"),
              ElementsAre("MISSING_TRANSITION_TARGET /StartAt: there is no state named 'A'",
                          "INVALID_VALUE /States: must define at least one state"));
}

// ---------------------------------------------------------------------------------------------
// Unknown fields, fields on the wrong state type, wrong types

TEST(Validation, UnknownFieldsEachWithTheirPointer) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "S", "Foo": 1, "States": {"S": {"Type": "Pass", "Foo": 1,
                    "Bar~/": 2, "End": true}}})j"),
      ElementsAre("UNKNOWN_FIELD /Foo: unknown field 'Foo' for the state machine",
                  "UNKNOWN_FIELD /States/S/Foo: unknown field 'Foo' for a Pass state",
                  "UNKNOWN_FIELD /States/S/Bar~0~1: unknown field 'Bar~/' for a Pass state"));
}

TEST(Validation, UnknownFieldsInNestedObjects) {
  EXPECT_THAT(
      problems(one_state(R"j({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["E"], "Interval": 3}],
        "Catch": [{"ErrorEquals": ["E"], "Next": "S", "Foo": 1}], "End": true})j")),
      ElementsAre("UNKNOWN_FIELD /States/S/Retry/0/Interval: unknown field 'Interval' for a "
                  "retrier",
                  "UNKNOWN_FIELD /States/S/Catch/0/Foo: unknown field 'Foo' for a catcher"));
}

TEST(Validation, RetryAndCatchOnlyOnTaskParallelAndMap) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "P", "States": {
        "P": {"Type": "Pass", "Retry": [], "Next": "W"},
        "W": {"Type": "Wait", "Seconds": 1, "Catch": [], "End": true}}})j"),
      ElementsAre("FIELD_NOT_ALLOWED /States/P/Retry: field 'Retry' is not allowed for a Pass "
                  "state (only for Task, Parallel and Map states)",
                  "FIELD_NOT_ALLOWED /States/W/Catch: field 'Catch' is not allowed for a Wait "
                  "state (only for Task, Parallel and Map states)"));
}

TEST(Validation, ChoiceHasNoNextOrEndAndTerminalStatesNoTransitions) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Ok"}],
              "Default": "No", "Next": "Ok", "End": true},
        "Ok": {"Type": "Succeed", "End": true},
        "No": {"Type": "Fail", "Next": "Ok", "Parameters": {}}}})j"),
      ElementsAre("FIELD_NOT_ALLOWED /States/C/Next: field 'Next' is not allowed for a Choice "
                  "state (only for Pass, Task, Wait, Parallel and Map states)",
                  "FIELD_NOT_ALLOWED /States/C/End: field 'End' is not allowed for a Choice "
                  "state (only for Pass, Task, Wait, Parallel and Map states)",
                  "FIELD_NOT_ALLOWED /States/Ok/End: field 'End' is not allowed for a Succeed "
                  "state (only for Pass, Task, Wait, Parallel and Map states)",
                  "FIELD_NOT_ALLOWED /States/No/Next: field 'Next' is not allowed for a Fail "
                  "state (only for Pass, Task, Wait, Parallel and Map states)",
                  "FIELD_NOT_ALLOWED /States/No/Parameters: field 'Parameters' is not allowed "
                  "for a Fail state (only for Pass, Task, Parallel and Map states)"));
}

TEST(Validation, JsonataOnlyFieldsAreNamedAsSuch) {
  EXPECT_THAT(problems(one_state(R"j({"Type": "Pass", "Output": {"a": 1}, "End": true})j")),
              ElementsAre("FIELD_NOT_ALLOWED /States/S/Output: field 'Output' is not allowed for "
                          "a Pass state: it is a JSONata field, and JSONata is not supported "
                          "yet"));
}

TEST(Validation, WrongTypes) {
  EXPECT_THAT(problems(R"j({"StartAt": "T", "Comment": 5, "TimeoutSeconds": 1.5, "States": {
        "T": {"Type": "Task", "Resource": 7, "InputPath": 3, "Parameters": "x",
              "HeartbeatSeconds": "10", "End": "yes"}}})j"),
              ElementsAre("WRONG_TYPE /Comment: must be a string",
                          "WRONG_TYPE /TimeoutSeconds: must be an integer",
                          "WRONG_TYPE /States/T/Resource: must be a string",
                          "WRONG_TYPE /States/T/InputPath: must be a string or null",
                          "WRONG_TYPE /States/T/Parameters: must be an object",
                          "WRONG_TYPE /States/T/HeartbeatSeconds: must be an integer",
                          "WRONG_TYPE /States/T/End: must be a boolean"));
}

TEST(Validation, WrongContainerTypes) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "S", "States": {"S": {"Type": "Parallel", "Branches": {},
                    "Retry": {}, "End": true}, "X": 5}})j"),
      ElementsAre("WRONG_TYPE /States/S/Branches: must be an array",
                  "WRONG_TYPE /States/S/Retry: must be an array",
                  "WRONG_TYPE /States/X: must be an object",
                  "UNREACHABLE_STATE /States/X: state 'X' cannot be reached from StartAt ('S')"));
}

TEST(Validation, MissingAndUnknownType) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "A", "States": {
        "A": {"Next": "B"}, "B": {"Type": "Loop", "Next": "C"}, "C": {"Type": "Succeed"}}})j"),
      ElementsAre("MISSING_FIELD /States/A: missing required field 'Type' for a state",
                  "INVALID_VALUE /States/B/Type: must be one of \"Pass\", \"Task\", \"Choice\", "
                  "\"Wait\", \"Succeed\", \"Fail\", \"Parallel\", \"Map\" (got \"Loop\")"));
}

TEST(Validation, RequiredFieldsOfStateTypes) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "T", "States": {
        "T": {"Type": "Task", "Next": "C"},
        "C": {"Type": "Choice", "Default": "P"},
        "P": {"Type": "Parallel", "Next": "M"},
        "M": {"Type": "Map", "Catch": [{"ErrorEquals": ["E"]}], "End": true}}})j"),
      ElementsAre("MISSING_FIELD /States/T: missing required field 'Resource' for a Task state",
                  "MISSING_FIELD /States/C: missing required field 'Choices' for a Choice state",
                  "MISSING_FIELD /States/P: missing required field 'Branches' for a Parallel "
                  "state",
                  "MISSING_FIELD /States/M: a Map state needs an ItemProcessor (or the legacy "
                  "Iterator)",
                  "MISSING_FIELD /States/M/Catch/0: missing required field 'Next' for a "
                  "catcher"));
}

TEST(Validation, EmptyListsAndBadEnums) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "C", "States": {
        "C": {"Type": "Choice", "Choices": []},
        "P": {"Type": "Parallel", "Branches": [], "End": true,
              "Retry": [{"ErrorEquals": [], "JitterStrategy": "SOME"}]}}})j"),
      ElementsAre("INVALID_VALUE /States/C/Choices: must have at least one choice rule",
                  "UNREACHABLE_STATE /States/P: state 'P' cannot be reached from StartAt "
                  "('C')",
                  "INVALID_VALUE /States/P/Branches: must have at least one branch",
                  "INVALID_VALUE /States/P/Retry/0/ErrorEquals: must name at least one error",
                  "INVALID_VALUE /States/P/Retry/0/JitterStrategy: must be one of \"FULL\", "
                  "\"NONE\" (got \"SOME\")"));
}

// ---------------------------------------------------------------------------------------------
// Transitions and the graph

TEST(Validation, TransitionTargetsMustExist) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "Nowhere", "States": {
        "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Gone",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Lost"}]},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "Missing"}],
              "Default": "Absent"}}})j"),
      ElementsAre("MISSING_TRANSITION_TARGET /StartAt: there is no state named 'Nowhere'",
                  "NO_TERMINAL_STATE /States: the state machine has no terminal state: a "
                  "Succeed or Fail state, or a state with \"End\": true",
                  "MISSING_TRANSITION_TARGET /States/T/Next: there is no state named 'Gone'",
                  "MISSING_TRANSITION_TARGET /States/T/Catch/0/Next: there is no state named "
                  "'Lost'",
                  "MISSING_TRANSITION_TARGET /States/C/Choices/0/Next: there is no state named "
                  "'Missing'",
                  "MISSING_TRANSITION_TARGET /States/C/Default: there is no state named "
                  "'Absent'"));
}

TEST(Validation, NextMayNotLeaveOrEnterAScope) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "Fork", "States": {
        "Fork": {"Type": "Parallel", "Next": "Inner", "Branches": [
          {"StartAt": "Inner", "States": {"Inner": {"Type": "Pass", "Next": "Done"}}}]},
        "Done": {"Type": "Succeed"}}})j"),
      ElementsAre("MISSING_TRANSITION_TARGET /States/Fork/Next: state 'Inner' "
                  "(/States/Fork/Branches/0/States/Inner) is not in the state machine: a "
                  "transition cannot leave its Parallel branch or Map item processor, nor enter "
                  "one",
                  "NO_TERMINAL_STATE /States/Fork/Branches/0/States: this Parallel branch has no "
                  "terminal state: a Succeed or Fail state, or a state with \"End\": true",
                  "MISSING_TRANSITION_TARGET /States/Fork/Branches/0/States/Inner/Next: state "
                  "'Done' (/States/Done) is not in this Parallel branch: a transition cannot "
                  "leave its Parallel branch or Map item processor, nor enter one",
                  "UNREACHABLE_STATE /States/Done: state 'Done' cannot be reached from StartAt "
                  "('Fork')"));
}

TEST(Validation, MapProcessorIsCheckedInItsOwnScope) {
  EXPECT_THAT(
      problems(one_state(R"j({"Type": "Map", "End": true, "ItemProcessor": {
        "ProcessorConfig": {"Mode": "SIDEWAYS", "Extra": 1},
        "StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nope"},
                                   "B": {"Type": "Pass", "End": true}}}})j")),
      ElementsAre("INVALID_VALUE /States/S/ItemProcessor/ProcessorConfig/Mode: must be one of "
                  "\"INLINE\", \"DISTRIBUTED\" (got \"SIDEWAYS\")",
                  "UNKNOWN_FIELD /States/S/ItemProcessor/ProcessorConfig/Extra: unknown field "
                  "'Extra' for ProcessorConfig",
                  "MISSING_TRANSITION_TARGET /States/S/ItemProcessor/States/A/Next: there is no "
                  "state named 'Nope' in this Map item processor",
                  "UNREACHABLE_STATE /States/S/ItemProcessor/States/B: state 'B' cannot be "
                  "reached from StartAt ('A')"));
}

TEST(Validation, UnreachableStates) {
  EXPECT_THAT(problems(R"j({"StartAt": "A", "States": {
                 "A": {"Type": "Succeed"}, "B": {"Type": "Pass", "Next": "A"}}})j"),
              ElementsAre("UNREACHABLE_STATE /States/B: state 'B' cannot be reached from StartAt "
                          "('A')"));
}

TEST(Validation, EmptyTransitionNames) {
  EXPECT_THAT(problems(R"j({"StartAt": "", "States": {
                 "A": {"Type": "Pass", "Next": ""},
                 "C": {"Type": "Choice", "Choices": [{"Variable": "$.a", "IsNull": true,
                                                      "Next": ""}], "Default": ""},
                 "E": {"Type": "Succeed"}}})j"),
              ElementsAre("INVALID_VALUE /StartAt: must name a state",
                          "INVALID_VALUE /States/A/Next: must name a state",
                          "INVALID_VALUE /States/C/Choices/0/Next: must name a state",
                          "INVALID_VALUE /States/C/Default: must name a state"));
}

TEST(Validation, StatesReachableThroughCatchAndChoiceAreReachable) {
  EXPECT_THAT(problems(R"j({"StartAt": "T", "States": {
                 "T": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                       "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "C"}], "End": true},
                 "C": {"Type": "Choice", "Choices": [
                         {"Variable": "$.a", "IsNull": true, "Next": "X"}], "Default": "Y"},
                 "X": {"Type": "Succeed"}, "Y": {"Type": "Fail"}}})j"),
              IsEmpty());
}

TEST(Validation, NoTerminalState) {
  EXPECT_THAT(problems(R"j({"StartAt": "A", "States": {
                 "A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Pass", "Next": "A"}}})j"),
              ElementsAre("NO_TERMINAL_STATE /States: the state machine has no terminal state: a "
                          "Succeed or Fail state, or a state with \"End\": true"));
}

TEST(Validation, EndAndNextAreExclusiveAndOneIsRequired) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Next": "B", "End": true},
        "B": {"Type": "Wait", "Seconds": 1, "End": false},
        "C": {"Type": "Map", "ItemProcessor": {"StartAt": "I", "States": {"I": {"Type": "Pass"}}}}
      }})j"),
      ElementsAre("INVALID_TRANSITION /States/A/End: \"End\": true and Next are mutually "
                  "exclusive",
                  "INVALID_TRANSITION /States/B: a Wait state needs either Next or \"End\": true",
                  "INVALID_TRANSITION /States/C: a Map state needs either Next or \"End\": true",
                  "UNREACHABLE_STATE /States/C: state 'C' cannot be reached from StartAt ('A')",
                  "INVALID_TRANSITION /States/C/ItemProcessor/States/I: a Pass state needs "
                  "either Next or \"End\": true"));
}

TEST(Validation, ChoiceRulesNeedNextAndAreCompiled) {
  LoadResult result = load_definition(R"j({"StartAt": "C", "States": {
    "C": {"Type": "Choice", "Default": "D", "Choices": [
      {"Variable": "$.x", "StringEquals": "a"},
      {"Variable": "$.x", "NoSuchOperator": 1, "Next": "D"}]},
    "D": {"Type": "Succeed"}}})j");
  EXPECT_FALSE(result.ok());
  ASSERT_GE(result.diagnostics.size(), 2u);
  EXPECT_EQ(result.diagnostics[0].code, "MISSING_FIELD");
  EXPECT_EQ(to_string(result.diagnostics[0]),
            "/States/C/Choices/0: missing required field 'Next' for a choice rule");
  // The rule itself is the Choice compiler's to judge; its problems carry the rule's pointer.
  for (std::size_t i = 1; i < result.diagnostics.size(); ++i) {
    EXPECT_THAT(result.diagnostics[i].pointer, StartsWith("/States/C/Choices/1"));
  }
}

// ---------------------------------------------------------------------------------------------
// State names

TEST(Validation, StateNamesAtMost80Characters) {
  std::string ok(80, 'a');
  std::string long_name(81, 'b');
  EXPECT_THAT(problems(R"j({"StartAt": ")j" + ok + R"j(", "States": {")j" + ok +
                       R"j(": {"Type": "Succeed"}}})j"),
              IsEmpty());
  EXPECT_THAT(problems(R"j({"StartAt": ")j" + long_name + R"j(", "States": {")j" + long_name +
                       R"j(": {"Type": "Succeed"}}})j"),
              ElementsAre("INVALID_STATE_NAME /States/" + long_name +
                          ": state name is 81 characters long; the limit is 80"));
  // Characters, not bytes: 80 two-byte characters are fine.
  std::string accents;
  for (int i = 0; i < 80; ++i) accents += "\xc3\xa9";
  EXPECT_THAT(problems(R"j({"StartAt": ")j" + accents + R"j(", "States": {")j" + accents +
                       R"j(": {"Type": "Succeed"}}})j"),
              IsEmpty());
}

TEST(Validation, EmptyStateName) {
  EXPECT_THAT(problems(R"j({"StartAt": "", "States": {"": {"Type": "Succeed"}}})j"),
              ElementsAre("INVALID_VALUE /StartAt: must name a state",
                          "INVALID_STATE_NAME /States/: a state name must not be empty"));
}

TEST(Validation, StateNamesAreUniqueAcrossScopes) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "Work", "States": {
        "Work": {"Type": "Parallel", "End": true, "Branches": [
          {"StartAt": "Step", "States": {"Step": {"Type": "Succeed"}}},
          {"StartAt": "Step", "States": {"Step": {"Type": "Succeed"}}}]}}})j"),
      ElementsAre("DUPLICATE_STATE_NAME /States/Work/Branches/1/States/Step: state name 'Step' "
                  "is already used at /States/Work/Branches/0/States/Step; state names must be "
                  "unique in the whole state machine, Parallel branches and Map processors "
                  "included"));
}

TEST(Validation, DuplicateKeysInTheText) {
  EXPECT_THAT(problems(R"j({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "End": true, "End": true},
        "A": {"Type": "Succeed"}}})j"),
              ElementsAre("DUPLICATE_STATE_NAME /States/A: state 'A' is defined more than once",
                          "DUPLICATE_KEY /States/A/End: field 'End' appears more than once in this "
                          "object"));
}

// ---------------------------------------------------------------------------------------------
// Retry and Catch

TEST(Validation, StatesAllAloneAndLast) {
  EXPECT_THAT(
      problems(one_state(R"j({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["States.ALL", "Custom"]}, {"ErrorEquals": ["Other"]}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S"},
                  {"ErrorEquals": ["States.Timeout"], "Next": "S"}],
        "End": true})j")),
      ElementsAre("STATES_ALL_NOT_LAST /States/S/Retry/0: a retrier with States.ALL must be the "
                  "last retrier in Retry",
                  "STATES_ALL_NOT_ALONE /States/S/Retry/0/ErrorEquals: States.ALL must be the "
                  "only error name in its ErrorEquals",
                  "STATES_ALL_NOT_LAST /States/S/Catch/0: a catcher with States.ALL must be the "
                  "last catcher in Catch"));
}

TEST(Validation, RetrierRanges) {
  EXPECT_THAT(
      problems(one_state(R"j({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["A"], "IntervalSeconds": 0, "MaxAttempts": -1,
                   "BackoffRate": 0.5, "MaxDelaySeconds": 0},
                  {"ErrorEquals": ["B"], "IntervalSeconds": 100000000, "MaxAttempts": 100000000,
                   "BackoffRate": 1.0, "MaxDelaySeconds": 31622401},
                  {"ErrorEquals": ["C"], "IntervalSeconds": 1, "MaxAttempts": 0,
                   "MaxDelaySeconds": 31622400}],
        "End": true})j")),
      ElementsAre("INVALID_VALUE /States/S/Retry/0/IntervalSeconds: must be at least 1",
                  "INVALID_VALUE /States/S/Retry/0/MaxAttempts: must be at least 0",
                  "INVALID_VALUE /States/S/Retry/0/BackoffRate: must be at least 1.0",
                  "INVALID_VALUE /States/S/Retry/0/MaxDelaySeconds: must be greater than 0",
                  "INVALID_VALUE /States/S/Retry/1/IntervalSeconds: must be at most 99999999",
                  "INVALID_VALUE /States/S/Retry/1/MaxAttempts: must be at most 99999999",
                  "INVALID_VALUE /States/S/Retry/1/MaxDelaySeconds: must be at most 31622400"));
}

TEST(Validation, CatcherResultPathMustBeAReferencePath) {
  std::vector<std::string> got =
      problems(one_state(R"j({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "S", "ResultPath": "$.a[*]"}],
        "End": true})j"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_THAT(got[0], StartsWith("INVALID_PATH /States/S/Catch/0/ResultPath: invalid reference "
                                 "path '$.a[*]': "));
}

// ---------------------------------------------------------------------------------------------
// Task, Wait, Fail, Map field rules

TEST(Validation, TaskTimeouts) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "A", "TimeoutSeconds": 0, "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 0,
              "HeartbeatSeconds": 0, "Next": "B"},
        "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 10,
              "HeartbeatSeconds": 10, "Next": "C"},
        "C": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
              "HeartbeatSeconds": 99999999, "Next": "D"},
        "D": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "TimeoutSeconds": 5,
              "TimeoutSecondsPath": "$.t", "HeartbeatSeconds": 1, "HeartbeatSecondsPath": "$.h",
              "End": true}}})j"),
      ElementsAre("INVALID_VALUE /TimeoutSeconds: must be greater than 0",
                  "INVALID_VALUE /States/A/TimeoutSeconds: must be greater than 0",
                  "INVALID_VALUE /States/A/HeartbeatSeconds: must be greater than 0",
                  "INVALID_VALUE /States/B/HeartbeatSeconds: must be less than TimeoutSeconds "
                  "(10)",
                  "INVALID_VALUE /States/C/HeartbeatSeconds: must be less than the default "
                  "TimeoutSeconds (99999999)",
                  "EXCLUSIVE_FIELDS /States/D/TimeoutSecondsPath: TimeoutSeconds and "
                  "TimeoutSecondsPath are mutually exclusive",
                  "EXCLUSIVE_FIELDS /States/D/HeartbeatSecondsPath: HeartbeatSeconds and "
                  "HeartbeatSecondsPath are mutually exclusive"));
}

TEST(Validation, CompensateMustBeAnObject) {
  EXPECT_THAT(problems(one_state(R"j({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                                    "Compensate": "undo", "End": true})j")),
              ElementsAre("WRONG_TYPE /States/S/Compensate: must be an object"));
}

TEST(Validation, WaitNeedsExactlyOneOfItsFourFields) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "A", "States": {
        "A": {"Type": "Wait", "Next": "B"},
        "B": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "TimestampPath": "$.t",
              "Next": "C"},
        "C": {"Type": "Wait", "Seconds": -1, "Next": "D"},
        "D": {"Type": "Wait", "Timestamp": "2016-03-14 01:59:00", "End": true}}})j"),
      ElementsAre("MISSING_FIELD /States/A: a Wait state needs one of Seconds, SecondsPath, "
                  "Timestamp or TimestampPath",
                  "EXCLUSIVE_FIELDS /States/B/SecondsPath: Seconds and SecondsPath are mutually "
                  "exclusive: a Wait state has exactly one of Seconds, SecondsPath, Timestamp "
                  "and TimestampPath",
                  "EXCLUSIVE_FIELDS /States/B/TimestampPath: Seconds and TimestampPath are "
                  "mutually exclusive: a Wait state has exactly one of Seconds, SecondsPath, "
                  "Timestamp and TimestampPath",
                  "INVALID_VALUE /States/C/Seconds: must be at least 0",
                  "INVALID_TIMESTAMP /States/D/Timestamp: '2016-03-14 01:59:00' is not an "
                  "ISO-8601 timestamp such as \"2016-03-14T01:59:00Z\""));
}

TEST(Validation, FailErrorAndCauseExclusiveWithTheirPaths) {
  EXPECT_THAT(problems(one_state(R"j({"Type": "Fail", "Error": "E", "ErrorPath": "$.e",
                                    "Cause": "C", "CausePath": "$.c"})j")),
              ElementsAre("EXCLUSIVE_FIELDS /States/S/ErrorPath: Error and ErrorPath are "
                          "mutually exclusive",
                          "EXCLUSIVE_FIELDS /States/S/CausePath: Cause and CausePath are "
                          "mutually exclusive"));
}

TEST(Validation, FailPathsAndIntrinsicCallsMustParse) {
  std::vector<std::string> got = problems(
      one_state(R"j({"Type": "Fail", "ErrorPath": "$.a[", "CausePath": "States.Nope($.x)"})j"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_THAT(got[0], StartsWith("INVALID_PATH /States/S/ErrorPath: invalid JSONPath '$.a[': "));
  EXPECT_THAT(got[1], StartsWith("INVALID_INTRINSIC /States/S/CausePath: invalid intrinsic "
                                 "function call 'States.Nope($.x)': "));
}

TEST(Validation, IntrinsicWithWrongArgumentsIsAWarning) {
  LoadResult result =
      load_definition(one_state(R"j({"Type": "Fail", "CausePath": "States.MathAdd(1)"})j"));
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].severity, Severity::Warning);
  EXPECT_EQ(result.diagnostics[0].code, "INTRINSIC_ARGUMENTS");
  EXPECT_EQ(result.diagnostics[0].pointer, "/States/S/CausePath");
  EXPECT_THAT(result.diagnostics[0].message,
              StartsWith("CausePath: the intrinsic call will fail with States.Runtime when it "
                         "runs: "));
}

TEST(Validation, InvalidPathsInCommonFields) {
  std::vector<std::string> got = problems(one_state(
      R"j({"Type": "Pass", "InputPath": "$.a[", "OutputPath": "a.b", "ResultPath": "$..x",
          "End": true})j"));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_THAT(got[0], StartsWith("INVALID_PATH /States/S/InputPath: invalid JSONPath '$.a[': "));
  EXPECT_THAT(got[1], StartsWith("INVALID_PATH /States/S/OutputPath: invalid JSONPath 'a.b': "));
  EXPECT_THAT(got[2], StartsWith("INVALID_PATH /States/S/ResultPath: invalid reference path "
                                 "'$..x': "));
}

TEST(Validation, TemplateProblemsComeFromTheTemplateCompiler) {
  LoadResult result = load_definition(
      one_state(R"j({"Type": "Pass", "Parameters": {"a.$": "$.["}, "End": true})j"));
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 1u);
  EXPECT_EQ(result.diagnostics[0].pointer, "/States/S/Parameters/a.$");
  EXPECT_EQ(result.diagnostics[0].severity, Severity::Error);
}

TEST(Validation, MapFieldRules) {
  EXPECT_THAT(
      problems(one_state(R"j({"Type": "Map", "End": true,
        "ItemProcessor": {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}},
        "Iterator": {"StartAt": "B", "States": {"B": {"Type": "Succeed"}}},
        "ItemsPath": "$.items", "Items": [1],
        "ItemSelector": {}, "Parameters": {},
        "MaxConcurrency": -1, "ToleratedFailurePercentage": 101, "ToleratedFailureCount": -2,
        "ToleratedFailureCountPath": "$.n"})j")),
      ElementsAre("EXCLUSIVE_FIELDS /States/S/Iterator: ItemProcessor and Iterator are mutually "
                  "exclusive",
                  "EXCLUSIVE_FIELDS /States/S/Items: ItemsPath and Items are mutually exclusive",
                  "EXCLUSIVE_FIELDS /States/S/Parameters: ItemSelector and Parameters are "
                  "mutually exclusive",
                  "INVALID_VALUE /States/S/MaxConcurrency: must be at least 0",
                  "INVALID_VALUE /States/S/ToleratedFailurePercentage: must be between 0 and 100",
                  "INVALID_VALUE /States/S/ToleratedFailureCount: must be at least 0",
                  "EXCLUSIVE_FIELDS /States/S/ToleratedFailureCountPath: ToleratedFailureCount "
                  "and ToleratedFailureCountPath are mutually exclusive"));
}

// ---------------------------------------------------------------------------------------------
// JSONata

TEST(Validation, TopLevelJsonataIsRejectedAlone) {
  EXPECT_THAT(
      problems(R"j({"QueryLanguage": "JSONata", "StartAt": "S", "States": {"S": {
        "Type": "Pass", "Output": "{% $states.input %}", "End": true}}})j"),
      ElementsAre("UNSUPPORTED_QUERY_LANGUAGE /QueryLanguage: JSONata is not supported yet: "
                  "Stepd runs JSONPath state machines only (remove QueryLanguage or set it to "
                  "\"JSONPath\")"));
}

TEST(Validation, StateLevelJsonataIsRejectedAndOtherStatesStillChecked) {
  EXPECT_THAT(
      problems(R"j({"StartAt": "J", "States": {
        "J": {"Type": "Task", "QueryLanguage": "JSONata", "Resource": "arn:aws:states:::lambda:invoke",
              "Arguments": {"x": "{% 1 %}"}, "Output": "{% $states.result %}", "Next": "P"},
        "P": {"Type": "Pass", "Bogus": 1, "End": true}}})j"),
      ElementsAre("UNSUPPORTED_QUERY_LANGUAGE /States/J/QueryLanguage: JSONata is not supported "
                  "yet: Stepd runs JSONPath state machines only (remove QueryLanguage or set it "
                  "to \"JSONPath\")",
                  "UNKNOWN_FIELD /States/P/Bogus: unknown field 'Bogus' for a Pass state"));
}

TEST(Validation, UnknownQueryLanguage) {
  EXPECT_THAT(problems(R"j({"QueryLanguage": "XPath", "StartAt": "S",
                            "States": {"S": {"Type": "Succeed"}}})j"),
              ElementsAre("INVALID_VALUE /QueryLanguage: must be one of \"JSONPath\", "
                          "\"JSONata\" (got \"XPath\")"));
}

// ---------------------------------------------------------------------------------------------
// Every problem at once, in document order

TEST(Validation, EveryProblemAtOnceInDocumentOrder) {
  LoadResult result = load_definition(R"j({
    "StartAt": "Pay",
    "States": {
      "Pay": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:pay",
              "Retry": [{"ErrorEquals": ["States.ALL"], "BackoffRate": 0.5}],
              "Next": "Ship"},
      "Ship": {"Type": "Wait", "Next": "Done"},
      "Done": {"Type": "Succeed", "Comment": 1}
    }})j");
  EXPECT_FALSE(result.ok());
  ASSERT_EQ(result.diagnostics.size(), 3u);
  EXPECT_EQ(to_string(result.diagnostics[0]),
            "/States/Pay/Retry/0/BackoffRate: must be at least 1.0");
  EXPECT_EQ(result.diagnostics[0].code, "INVALID_VALUE");
  EXPECT_EQ(result.diagnostics[0].severity, Severity::Error);
  EXPECT_EQ(to_string(result.diagnostics[1]),
            "/States/Ship: a Wait state needs one of Seconds, SecondsPath, Timestamp or "
            "TimestampPath");
  EXPECT_EQ(to_string(result.diagnostics[2]), "/States/Done/Comment: must be a string");
}

}  // namespace
}  // namespace stepd::asl
