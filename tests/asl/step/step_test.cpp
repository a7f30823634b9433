#include "asl/step.hpp"

#include "asl/choice/timestamp.hpp"
#include "asl/definition.hpp"

#include <gtest/gtest.h>

namespace stepd::asl {
namespace {

// A random source that always returns the same value, for jitter.
class FixedRandom final : public RandomSource {
 public:
  explicit FixedRandom(std::uint64_t v) : v_(v) {}
  std::uint64_t next_u64() override { return v_; }

 private:
  std::uint64_t v_;
};

class StepTest : public ::testing::Test {
 protected:
  void load(const std::string& text) {
    LoadResult r = load_definition(std::string_view(text));
    ASSERT_TRUE(r.ok()) << (r.diagnostics.empty() ? "" : to_string(r.diagnostics[0]));
    machine_ = r.machine;
    exec_.id = "arn:aws:states:local:000000000000:execution:M:run1";
    exec_.name = "run1";
    exec_.state_machine_id = "arn:aws:states:local:000000000000:stateMachine:M";
    exec_.state_machine_name = "M";
    exec_.role_arn = "arn:aws:iam::000000000000:role/stepd";
    exec_.start_time = *parse_timestamp("2024-01-01T00:00:00Z");
    ctx_.execution = &exec_;
    ctx_.now = *parse_timestamp("2024-01-01T00:00:10Z");
    ctx_.entered_time = ctx_.now;
    ctx_.entered_event_id = 2;
    ctx_.variables = &vars_;
    ctx_.random = &random_;
    ctx_.retry_attempts = &attempts_;
  }
  const State& state(const std::string& name) {
    const State* s = machine_->find(name);
    EXPECT_NE(s, nullptr) << name;
    return *s;
  }
  static Json j(const char* text) { return Json::parse(text); }

  std::shared_ptr<const Machine> machine_;
  ExecutionInfo exec_;
  StepContext ctx_;
  VariableScope vars_;
  FixedRandom random_{1ULL << 63};  // next_unit() == 0.5
  std::vector<int> attempts_;
};

TEST_F(StepTest, PassAppliesParametersAndResultPath) {
  load(R"({"StartAt":"A","States":{
    "A":{"Type":"Pass","Parameters":{"k":1,"id.$":"$.order.id"},"ResultPath":"$.last","Next":"B"},
    "B":{"Type":"Succeed"}}})");
  Effect e = enter_state(state("A"), j(R"({"order":{"id":"o1"}})"), ctx_);
  auto* t = std::get_if<Transition>(&e);
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->next, &state("B"));
  EXPECT_EQ(t->output, j(R"({"order":{"id":"o1"},"last":{"k":1,"id":"o1"}})"));
}

TEST_F(StepTest, PassResultIsLiteralAndOutputPathSelects) {
  load(R"({"StartAt":"A","States":{
    "A":{"Type":"Pass","Result":{"x.$":"$.no","y":{"z":2}},"ResultPath":"$.r",
         "OutputPath":"$.r","End":true}}})");
  auto t = std::get<Transition>(enter_state(state("A"), j(R"({"a":1})"), ctx_));
  EXPECT_EQ(t.next, nullptr);
  EXPECT_EQ(t.output, j(R"({"x.$":"$.no","y":{"z":2}})"));
}

TEST_F(StepTest, ResultPathNullKeepsInputAndInputPathNullGivesEmptyObject) {
  load(R"({"StartAt":"A","States":{
    "A":{"Type":"Pass","InputPath":null,"ResultPath":"$.seen","Next":"B"},
    "B":{"Type":"Pass","Result":1,"ResultPath":null,"End":true}}})");
  auto a = std::get<Transition>(enter_state(state("A"), j(R"({"a":1})"), ctx_));
  EXPECT_EQ(a.output, j(R"({"a":1,"seen":{}})"));
  auto b = std::get<Transition>(enter_state(state("B"), j(R"({"a":1})"), ctx_));
  EXPECT_EQ(b.output, j(R"({"a":1})"));
}

TEST_F(StepTest, MissingParameterPathIsRuntimeErrorWithStatePrefix) {
  load(R"({"StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{"v.$":"$.nope"},"End":true}}})");
  auto f = std::get<Failure>(enter_state(state("A"), j(R"({"a":1})"), ctx_));
  EXPECT_EQ(f.error.error, "States.Runtime");
  EXPECT_EQ(f.error.cause.rfind("An error occurred while executing the state 'A' "
                                "(entered at the event id #2). ",
                                0),
            0u)
      << f.error.cause;
}

TEST_F(StepTest, TaskRunsWithPayloadAndCompletesThroughSelectorAndResultPath) {
  load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
    "InputPath":"$.in","Parameters":{"n.$":"$.n"},"TimeoutSeconds":5,
    "ResultSelector":{"v.$":"$.value"},"ResultPath":"$.out","End":true}}})");
  const State& t = state("T");
  auto run = std::get<RunTask>(enter_state(t, j(R"({"in":{"n":3},"keep":true})"), ctx_));
  EXPECT_EQ(run.resource, "arn:aws:lambda:us-east-1:123456789012:function:f");
  EXPECT_EQ(run.payload, j(R"({"n":3})"));
  ASSERT_TRUE(run.timeout_seconds.has_value());
  EXPECT_EQ(*run.timeout_seconds, 5.0);
  auto done = std::get<Transition>(
      complete_state(t, std::move(run.state_input), Outcome{j(R"({"value":9,"x":0})")}, ctx_));
  EXPECT_EQ(done.output, j(R"({"in":{"n":3},"keep":true,"out":{"v":9}})"));
}

TEST_F(StepTest, RetryBacksOffThenCatchRecordsErrorOutput) {
  load(R"({"StartAt":"T","States":{
    "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Retry":[{"ErrorEquals":["Boom"],"IntervalSeconds":2,"MaxAttempts":2,"BackoffRate":3}],
      "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"H"}],"End":true},
    "H":{"Type":"Succeed"}}})");
  const State& t = state("T");
  StatesError boom{"Boom", "it broke"};
  auto r1 = std::get<RetryAfter>(complete_state(t, j(R"({"a":1})"), Outcome{boom}, ctx_));
  EXPECT_EQ(r1.delay, std::chrono::seconds(2));
  EXPECT_EQ(r1.state_input, j(R"({"a":1})"));
  auto r2 = std::get<RetryAfter>(complete_state(t, j(R"({"a":1})"), Outcome{boom}, ctx_));
  EXPECT_EQ(r2.delay, std::chrono::seconds(6));
  auto caught = std::get<Transition>(complete_state(t, j(R"({"a":1})"), Outcome{boom}, ctx_));
  EXPECT_EQ(caught.next, &state("H"));
  ASSERT_NE(caught.caught, nullptr);
  EXPECT_EQ(caught.output, j(R"({"a":1,"err":{"Error":"Boom","Cause":"it broke"}})"));
}

TEST_F(StepTest, MaxDelayAndFullJitterShapeTheDelay) {
  load(R"({"StartAt":"T","States":{
    "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":10,"MaxAttempts":5,
                "BackoffRate":10,"MaxDelaySeconds":50,"JitterStrategy":"FULL"}],"End":true}}})");
  const State& t = state("T");
  StatesError e{"X", ""};
  auto r1 = std::get<RetryAfter>(complete_state(t, Json::object(), Outcome{e}, ctx_));
  EXPECT_EQ(r1.delay, std::chrono::seconds(5));  // 10 s * 0.5
  auto r2 = std::get<RetryAfter>(complete_state(t, Json::object(), Outcome{e}, ctx_));
  EXPECT_EQ(r2.delay, std::chrono::seconds(25));  // min(100, 50) * 0.5
}

TEST_F(StepTest, ErrorNameMatchingFollowsAws) {
  EXPECT_TRUE(error_matches({"States.ALL"}, "Custom"));
  EXPECT_TRUE(error_matches({"States.TaskFailed"}, "Custom"));
  EXPECT_FALSE(error_matches({"States.TaskFailed"}, "States.Timeout"));
  EXPECT_TRUE(error_matches({"States.ALL"}, "States.Timeout"));
  EXPECT_FALSE(error_matches({"States.ALL"}, "States.Runtime"));
  EXPECT_FALSE(error_matches({"States.Runtime"}, "States.Runtime"));
  EXPECT_FALSE(error_matches({"States.ALL"}, "States.DataLimitExceeded"));
  EXPECT_TRUE(error_matches({"States.DataLimitExceeded"}, "States.DataLimitExceeded"));
  EXPECT_FALSE(error_matches({"State.ALL"}, "Custom"));
}

TEST_F(StepTest, RuntimeErrorsAreNeitherRetriedNorCaught) {
  load(R"({"StartAt":"T","States":{
    "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "InputPath":"$.missing",
      "Retry":[{"ErrorEquals":["States.ALL"]}],
      "Catch":[{"ErrorEquals":["States.ALL"],"Next":"H"}],"End":true},
    "H":{"Type":"Succeed"}}})");
  auto f = std::get<Failure>(enter_state(state("T"), j(R"({"a":1})"), ctx_));
  EXPECT_EQ(f.error.error, "States.Runtime");
}

TEST_F(StepTest, ChoicePicksRuleThenDefaultThenFails) {
  load(R"({"StartAt":"C","States":{
    "C":{"Type":"Choice","Choices":[
      {"Variable":"$.n","NumericGreaterThan":5,"Next":"Big","Assign":{"size":"big"}}],
      "Default":"Small","Assign":{"size":"small"}},
    "Big":{"Type":"Succeed"},"Small":{"Type":"Succeed"}}})");
  auto big = std::get<Transition>(enter_state(state("C"), j(R"({"n":9})"), ctx_));
  EXPECT_EQ(big.next, &state("Big"));
  EXPECT_EQ(big.output, j(R"({"n":9})"));
  EXPECT_EQ(*vars_.find("size"), "big");
  auto small = std::get<Transition>(enter_state(state("C"), j(R"({"n":1})"), ctx_));
  EXPECT_EQ(small.next, &state("Small"));
  EXPECT_EQ(*vars_.find("size"), "small");

  load(R"({"StartAt":"C","States":{
    "C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"E"}]},
    "E":{"Type":"Succeed"}}})");
  auto none = std::get<Failure>(enter_state(state("C"), j(R"({"n":2})"), ctx_));
  EXPECT_EQ(none.error.error, "States.NoChoiceMatched");
}

TEST_F(StepTest, AssignReadsVariablesAsTheyWereOnEntry) {
  load(R"({"StartAt":"S","States":{
    "S":{"Type":"Pass","Assign":{"x.$":"$y","y.$":"$x"},"OutputPath":"$x","End":true}}})");
  vars_.set("x", 3);
  vars_.set("y", 6);
  auto t = std::get<Transition>(enter_state(state("S"), Json::object(), ctx_));
  EXPECT_EQ(t.output, 3);
  EXPECT_EQ(*vars_.find("x"), 6);
  EXPECT_EQ(*vars_.find("y"), 3);
}

TEST_F(StepTest, WaitComputesDeadlines) {
  load(R"({"StartAt":"W","States":{
    "W":{"Type":"Wait","Seconds":30,"Next":"P"},
    "P":{"Type":"Wait","SecondsPath":"$.s","Next":"T"},
    "T":{"Type":"Wait","TimestampPath":"$.t","End":true}}})");
  auto w = std::get<WaitEffect>(enter_state(state("W"), j(R"({"a":1})"), ctx_));
  EXPECT_EQ(w.until, ctx_.now + std::chrono::seconds(30));
  EXPECT_EQ(w.then.next, &state("P"));
  EXPECT_EQ(w.then.output, j(R"({"a":1})"));
  auto p = std::get<WaitEffect>(enter_state(state("P"), j(R"({"s":4})"), ctx_));
  EXPECT_EQ(p.until, ctx_.now + std::chrono::seconds(4));
  auto t = std::get<WaitEffect>(enter_state(state("T"), j(R"({"t":"2030-01-02T03:04:05Z"})"), ctx_));
  EXPECT_EQ(format_timestamp(t.until), "2030-01-02T03:04:05.000Z");
}

// AWS: recorded cause for a SecondsPath value that is not a whole number.
TEST_F(StepTest, WaitSecondsPathMustBeAWholeNumber) {
  load(R"({"StartAt":"WaitState","States":{
    "WaitState":{"Type":"Wait","SecondsPath":"$.input.waitSeconds","End":true}}})");
  auto f = std::get<Failure>(
      enter_state(state("WaitState"), j(R"({"input":{"waitSeconds":-1.5}})"), ctx_));
  EXPECT_EQ(f.error.error, "States.Runtime");
  EXPECT_EQ(f.error.cause,
            "An error occurred while executing the state 'WaitState' (entered at the event id "
            "#2). The SecondsPath parameter cannot be parsed as a long value: "
            "$.input.waitSeconds == -1.5");
}

TEST_F(StepTest, FailResolvesErrorAndCausePaths) {
  load(R"({"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"$.c"}}})");
  auto f = std::get<Failure>(enter_state(state("F"), j(R"({"e":"E1","c":"why"})"), ctx_));
  EXPECT_EQ(f.error, (StatesError{"E1", "why"}));

  ctx_.entered_event_id = 4;
  auto missing = std::get<Failure>(enter_state(state("F"), j(R"({"e":"E1"})"), ctx_));
  EXPECT_EQ(missing.error.error, "States.Runtime");
  EXPECT_EQ(missing.error.cause,
            "An error occurred while executing the state 'F' (entered at the event id #4). The "
            "JSONPath '$.c' specified for the field 'CausePath' could not be found in the input "
            "'{\"e\":\"E1\"}'");
}

TEST_F(StepTest, MapSelectsItemsAndBuildsIterationInputs) {
  load(R"({"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":2,
    "ToleratedFailureCount":1,
    "ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index","k.$":"$.k"},
    "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},
    "ResultPath":"$.out","End":true}}})");
  const State& m = state("M");
  auto run = std::get<RunItems>(enter_state(m, j(R"({"xs":["a","b"],"k":7})"), ctx_));
  EXPECT_EQ(run.items, j(R"(["a","b"])"));
  EXPECT_EQ(run.max_concurrency, 2);
  EXPECT_EQ(map_item_input(m, run, 1, ctx_), j(R"({"v":"b","i":1,"k":7})"));
  EXPECT_FALSE(exceeds_tolerated_failures(run, 1, 2));
  EXPECT_TRUE(exceeds_tolerated_failures(run, 2, 2));
  auto done = std::get<Transition>(
      complete_state(m, std::move(run.state_input), Outcome{j(R"([1,2])")}, ctx_));
  EXPECT_EQ(done.output, j(R"({"xs":["a","b"],"k":7,"out":[1,2]})"));
}

// AWS: recorded cause for a negative ToleratedFailureCountPath value.
TEST_F(StepTest, MapToleratedFailureCountMustNotBeNegative) {
  load(R"({"StartAt":"MapState","States":{"MapState":{"Type":"Map",
    "ItemsPath":"$.Items","ToleratedFailureCountPath":"$.n",
    "ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}})");
  auto f = std::get<Failure>(enter_state(state("MapState"), j(R"({"Items":[0],"n":-1})"), ctx_));
  EXPECT_EQ(f.error.cause,
            "An error occurred while executing the state 'MapState' (entered at the event id "
            "#2). ToleratedFailureCount cannot be negative.");
}

TEST_F(StepTest, ParallelRunsBranchesWithParametersAndCollectsResults) {
  load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","Parameters":{"x.$":"$.a"},
    "Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},
                {"StartAt":"B","States":{"B":{"Type":"Pass","End":true}}}],
    "ResultSelector":{"first.$":"$[0]"},"End":true}}})");
  const State& p = state("P");
  auto run = std::get<RunBranches>(enter_state(p, j(R"({"a":5})"), ctx_));
  EXPECT_EQ(run.branch_input, j(R"({"x":5})"));
  auto done = std::get<Transition>(complete_state(p, std::move(run.state_input),
                                                  Outcome{j(R"([{"x":5},{"x":6}])")}, ctx_));
  EXPECT_EQ(done.output, j(R"({"first":{"x":5}})"));
}

TEST_F(StepTest, ContextObjectCarriesExecutionAndStateIdentity) {
  load(R"({"StartAt":"S","States":{"S":{"Type":"Pass",
    "Parameters":{"name.$":"$$.State.Name","sm.$":"$$.StateMachine.Name","id.$":"$$.Execution.Id",
                  "start.$":"$$.Execution.StartTime","retries.$":"$$.State.RetryCount"},
    "End":true}}})");
  ctx_.retry_count = 2;
  auto t = std::get<Transition>(enter_state(state("S"), Json::object(), ctx_));
  EXPECT_EQ(t.output, j(R"({"name":"S","sm":"M",
    "id":"arn:aws:states:local:000000000000:execution:M:run1",
    "start":"2024-01-01T00:00:00.000Z","retries":2})"));
}

}  // namespace
}  // namespace stepd::asl
