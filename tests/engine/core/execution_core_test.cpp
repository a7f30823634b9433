#include "engine/core/execution_core.hpp"

#include "core_fixture.hpp"

#include <gtest/gtest.h>

#include <map>

namespace stepd::engine {
namespace {

class ExecutionCoreTest : public CoreFixture {
 protected:
  ExecutionCoreTest() : CoreFixture("M") {}
};

TEST_F(ExecutionCoreTest, PassChainRunsToTheEndInOneStep) {
  load(R"({"StartAt":"A","States":{
    "A":{"Type":"Pass","Result":1,"ResultPath":"$.a","Next":"B"},
    "B":{"Type":"Pass","Result":2,"ResultPath":"$.b","End":true}}})");
  auto core = start(R"({"x":0})");
  StepOutput out = take(*core);
  EXPECT_TRUE(out.finished);
  ASSERT_TRUE(out.write.create.has_value());
  EXPECT_EQ(out.write.expected_version, 0);
  EXPECT_EQ(out.write.update.status, "SUCCEEDED");
  EXPECT_EQ(j(*out.write.update.output), j(R"({"x":0,"a":1,"b":2})"));
  EXPECT_EQ(event_types(), (std::vector<std::string>{
                               "ExecutionStarted", "PassStateEntered", "PassStateExited",
                               "PassStateEntered", "PassStateExited", "ExecutionSucceeded"}));
  for (std::size_t i = 0; i < applied_.events.size(); ++i) {
    EXPECT_EQ(applied_.events[i].id, static_cast<std::int64_t>(i + 1));
  }
  EXPECT_TRUE(applied_.no_frames());
  EXPECT_EQ(core->states_entered(), 2);
  EXPECT_EQ(core->record().last_event_id, 6);
}

TEST_F(ExecutionCoreTest, TaskWaitsForItsOutcomeAndIgnoresStaleTokens) {
  load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","ResultPath":"$.r","End":true}}})");
  auto core = start(R"({"n":1})");
  StepOutput first = take(*core);
  EXPECT_FALSE(first.finished);
  ASSERT_EQ(first.dispatch.size(), 1u);
  EXPECT_EQ(first.dispatch[0].payload, j(R"({"n":1})"));
  EXPECT_EQ(applied_.tasks.size(), 1u);
  EXPECT_EQ(applied_.frames.size(), 1u);
  EXPECT_FALSE(core->deliver_task("nope", asl::Json(1), kT0 + kSecond));
  EXPECT_TRUE(core->deliver_task(first.dispatch[0].token, j(R"({"ok":true})"), kT0 + kSecond));
  StepOutput second = take(*core);
  EXPECT_EQ(second.write.expected_version, 1);
  EXPECT_TRUE(second.finished);
  EXPECT_EQ(j(*second.write.update.output), j(R"({"n":1,"r":{"ok":true}})"));
  EXPECT_TRUE(applied_.tasks.empty());
  EXPECT_FALSE(core->deliver_task(first.dispatch[0].token, asl::Json(2), kT0 + kSecond));
  EXPECT_EQ(event_types()[2], "LambdaFunctionScheduled");
  EXPECT_EQ(event_types()[4], "LambdaFunctionSucceeded");
}

TEST_F(ExecutionCoreTest, WaitArmsADurableTimer) {
  load(R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":10,"Next":"P"},
    "P":{"Type":"Pass","End":true}}})");
  auto core = start(R"({"a":1})");
  StepOutput out = take(*core);
  ASSERT_EQ(out.timers.size(), 1u);
  EXPECT_EQ(out.timers[0].due, kT0 + 10 * kSecond);
  EXPECT_FALSE(core->deliver_timer("other", kT0 + 10 * kSecond));
  EXPECT_TRUE(core->deliver_timer(out.timers[0].timer_id, kT0 + 10 * kSecond));
  StepOutput done = take(*core);
  EXPECT_TRUE(done.finished);
  EXPECT_EQ(j(*done.write.update.output), j(R"({"a":1})"));
  EXPECT_TRUE(applied_.timers.empty());
}

TEST_F(ExecutionCoreTest, RetryReschedulesWithBackoffThenCatches) {
  load(R"({"StartAt":"T","States":{
    "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Retry":[{"ErrorEquals":["Boom"],"IntervalSeconds":3,"MaxAttempts":1}],
      "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"H"}],"End":true},
    "H":{"Type":"Pass","End":true}}})");
  auto core = start(R"({})");
  StepOutput s1 = take(*core);
  ASSERT_TRUE(core->deliver_task(s1.dispatch[0].token, asl::StatesError{"Boom", "c1"}, kT0));
  StepOutput s2 = take(*core);
  ASSERT_EQ(s2.timers.size(), 1u);
  EXPECT_EQ(s2.timers[0].due, kT0 + 3 * kSecond);
  EXPECT_TRUE(s2.dispatch.empty());
  ASSERT_TRUE(core->deliver_timer(s2.timers[0].timer_id, kT0 + 3 * kSecond));
  StepOutput s3 = take(*core);
  ASSERT_EQ(s3.dispatch.size(), 1u);
  EXPECT_NE(s3.dispatch[0].token, s1.dispatch[0].token);
  ASSERT_TRUE(core->deliver_task(s3.dispatch[0].token, asl::StatesError{"Boom", "c2"}, kT0));
  StepOutput s4 = take(*core);
  EXPECT_TRUE(s4.finished);
  EXPECT_EQ(j(*s4.write.update.output), j(R"({"err":{"Error":"Boom","Cause":"c2"}})"));
}

TEST_F(ExecutionCoreTest, ParallelCollectsBranchResultsInOrder) {
  load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
    {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:a","End":true}}},
    {"StartAt":"B","States":{"B":{"Type":"Pass","Result":"b","End":true}}}]}}})");
  auto core = start(R"({"in":1})");
  StepOutput s1 = take(*core);
  ASSERT_EQ(s1.dispatch.size(), 1u);
  EXPECT_FALSE(s1.finished);
  ASSERT_TRUE(core->deliver_task(s1.dispatch[0].token, asl::Json("a"), kT0));
  StepOutput s2 = take(*core);
  EXPECT_TRUE(s2.finished);
  EXPECT_EQ(j(*s2.write.update.output), j(R"(["a","b"])"));
  EXPECT_TRUE(applied_.results.empty());
}

TEST_F(ExecutionCoreTest, FailingBranchAbortsItsSiblings) {
  load(R"({"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
    {"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:a","End":true}}},
    {"StartAt":"B","States":{"B":{"Type":"Fail","Error":"Bad","Cause":"why"}}}]}}})");
  auto core = start(R"({})");
  StepOutput s1 = take(*core);
  EXPECT_TRUE(s1.finished);
  EXPECT_EQ(s1.write.update.status, "FAILED");
  EXPECT_EQ(s1.write.update.error, "Bad");
  EXPECT_EQ(s1.write.update.cause, "why");
  ASSERT_EQ(s1.cancelled_tasks.size(), 1u);
  EXPECT_TRUE(applied_.tasks.empty());
  EXPECT_TRUE(applied_.no_frames());
}

TEST_F(ExecutionCoreTest, MapRespectsMaxConcurrencyAndKeepsItemOrder) {
  load(R"({"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":2,"ItemsPath":"$.xs",
    "ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index"},
    "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}},"End":true}}})");
  auto core = start(R"({"xs":["a","b","c","d","e"]})");
  StepOutput out = take(*core);
  std::vector<TaskDispatch> running = out.dispatch;
  ASSERT_EQ(running.size(), 2u);
  EXPECT_EQ(running[0].payload, j(R"({"v":"a","i":0})"));
  EXPECT_EQ(running[1].payload, j(R"({"v":"b","i":1})"));
  // Finish them in reverse order; results stay in item order.
  int finished = 0;
  while (!running.empty()) {
    TaskDispatch t = running.back();
    running.pop_back();
    ASSERT_TRUE(core->deliver_task(t.token, t.payload["v"], kT0));
    StepOutput s = take(*core);
    ++finished;
    for (auto& d : s.dispatch) running.push_back(d);
    EXPECT_LE(running.size(), 2u);
    if (s.finished) {
      EXPECT_EQ(j(*s.write.update.output), j(R"(["a","b","c","d","e"])"));
    }
  }
  EXPECT_EQ(finished, 5);
  EXPECT_TRUE(core->finished());
  EXPECT_TRUE(applied_.results.empty());
  EXPECT_TRUE(applied_.no_frames());
}

TEST_F(ExecutionCoreTest, RestoreFromCommittedRecordsContinuesTheExecution) {
  load(R"({"StartAt":"S","States":{"S":{"Type":"Pass","Assign":{"k":42},"Next":"M"},
    "M":{"Type":"Map","MaxConcurrency":2,"ItemsPath":"$.xs",
    "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Parameters":{"x.$":"$","k.$":"$k"},"End":true}}},"ResultPath":"$.out","End":true}}})");
  auto core = start(R"({"xs":[1,2,3]})");
  StepOutput s1 = take(*core);
  ASSERT_EQ(s1.dispatch.size(), 2u);
  EXPECT_EQ(s1.dispatch[0].payload, j(R"({"x":1,"k":42})"));
  ASSERT_TRUE(core->deliver_task(s1.dispatch[0].token, asl::Json(10), kT0));
  StepOutput s2 = take(*core);
  ASSERT_EQ(s2.dispatch.size(), 1u);

  // The process dies here. A new core is built from what was committed.
  ExecutionRecord rec = core->record();
  core.reset();
  auto restored = ExecutionCore::restore(machine_, rec, applied_.frame_records(),
                                         applied_.result_records(), tokens(), &random_);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ExecutionCore& again = **restored;
  std::vector<TaskDispatch> pending = again.pending_tasks();
  ASSERT_EQ(pending.size(), 2u);
  for (const TaskDispatch& t : pending) {
    ASSERT_TRUE(again.deliver_task(t.token, asl::Json(t.payload["x"].get<int>() * 10), kT0));
  }
  StepOutput s3 = take(again);
  EXPECT_EQ(s3.write.expected_version, 2);
  EXPECT_TRUE(s3.finished);
  EXPECT_EQ(j(*s3.write.update.output), j(R"({"xs":[1,2,3],"out":[10,20,30]})"));
  for (std::size_t i = 0; i < applied_.events.size(); ++i) {
    EXPECT_EQ(applied_.events[i].id, static_cast<std::int64_t>(i + 1)) << applied_.events[i].type;
  }
}

TEST_F(ExecutionCoreTest, TaskTimeoutIsCaughtAsStatesTimeout) {
  load(R"({"StartAt":"T","States":{
    "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "TimeoutSeconds":5,"Catch":[{"ErrorEquals":["States.Timeout"],"Next":"H"}],"End":true},
    "H":{"Type":"Pass","End":true}}})");
  auto core = start(R"({})");
  StepOutput s1 = take(*core);
  ASSERT_EQ(s1.timers.size(), 1u);
  EXPECT_EQ(s1.timers[0].due, kT0 + 5 * kSecond);
  ASSERT_TRUE(core->deliver_timer(s1.timers[0].timer_id, kT0 + 5 * kSecond));
  StepOutput s2 = take(*core);
  EXPECT_TRUE(s2.finished);
  EXPECT_EQ(j(*s2.write.update.output), j(R"({"Error":"States.Timeout","Cause":""})"));
  ASSERT_EQ(s2.cancelled_tasks.size(), 1u);
  EXPECT_FALSE(core->deliver_task(s1.dispatch[0].token, asl::Json(1), kT0 + 6 * kSecond));
}

TEST_F(ExecutionCoreTest, StopAbortsAndExecutionTimeoutTimesOut) {
  load(R"({"TimeoutSeconds":60,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":600,"End":true}}})");
  auto core = start(R"({})");
  StepOutput s1 = take(*core);
  ASSERT_EQ(s1.timers.size(), 2u);
  core->stop("Halt", "asked to", kT0 + kSecond);
  StepOutput s2 = take(*core);
  EXPECT_EQ(s2.write.update.status, "ABORTED");
  EXPECT_EQ(s2.write.update.error, "Halt");
  EXPECT_TRUE(applied_.no_frames());
  EXPECT_EQ(event_types().back(), "ExecutionAborted");

  applied_ = {};
  auto other = start(R"({})");
  StepOutput t1 = take(*other);
  std::string timeout_timer;
  for (const auto& t : t1.timers) {
    if (t.due == kT0 + 60 * kSecond) timeout_timer = t.timer_id;
  }
  ASSERT_FALSE(timeout_timer.empty());
  ASSERT_TRUE(other->deliver_timer(timeout_timer, kT0 + 60 * kSecond));
  StepOutput t2 = take(*other);
  EXPECT_EQ(t2.write.update.status, "TIMED_OUT");
  EXPECT_EQ(t2.write.update.error, "States.Timeout");
  EXPECT_EQ(event_types().back(), "ExecutionTimedOut");
}

}  // namespace
}  // namespace stepd::engine

namespace stepd::engine {
namespace {

// A branch that finished for a Parallel run that has already failed must not be counted in the
// next Parallel run of the same frame.
TEST_F(ExecutionCoreTest, BranchesOfAFailedRunDoNotLeakIntoTheNextRun) {
  load(R"({"StartAt":"P1","States":{
    "P1":{"Type":"Parallel","Branches":[
      {"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Bad"}}},
      {"StartAt":"S","States":{"S":{"Type":"Pass","Result":"stale","End":true}}}],
      "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":null,"Next":"P2"}],"End":true},
    "P2":{"Type":"Parallel","Branches":[
      {"StartAt":"X","States":{"X":{"Type":"Pass","Result":"x","End":true}}},
      {"StartAt":"Y","States":{"Y":{"Type":"Pass","Result":"y","End":true}}}],"End":true}}})");
  auto core = start("{}");
  StepOutput out = take(*core);
  ASSERT_TRUE(out.finished);
  EXPECT_EQ(out.write.update.status, "SUCCEEDED");
  EXPECT_EQ(j(*out.write.update.output), j(R"(["x","y"])"));
}

// AWS: ExecutionStarted names the role of the revision the execution runs, and so does
// $$.Execution.RoleArn; a core restored from its records, or redriven, still knows it although
// the engine hands the role only to start().
TEST_F(ExecutionCoreTest, TheRoleArnIsInExecutionStartedAndTheContextAfterRestoreAndRedrive) {
  const std::string role = "arn:aws:iam::123456789012:role/orders";
  load(R"({"StartAt":"A","States":{
    "A":{"Type":"Pass","Parameters":{"role.$":"$$.Execution.RoleArn"},"ResultPath":"$.a",
      "Next":"W"},
    "W":{"Type":"Wait","Seconds":10,"Next":"T"},
    "T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f",
      "Parameters":{"role.$":"$$.Execution.RoleArn","a.$":"$.a"},"End":true}}})");
  CoreOptions options;
  options.role_arn = role;
  auto core = ExecutionCore::start(machine_, record("{}"), kT0, tokens(), &random_, options);
  StepOutput s1 = take(*core);
  ASSERT_EQ(s1.timers.size(), 1u);
  ASSERT_FALSE(applied_.events.empty());
  EXPECT_EQ(applied_.events[0].type, "ExecutionStarted");
  EXPECT_EQ(j(applied_.events[0].details),
            (asl::Json{{"input", "{}"},
                       {"inputDetails", {{"truncated", false}}},
                       {"roleArn", role},
                       {"stateMachineArn", "arn:aws:states:local:000000000000:stateMachine:M"}}));

  // Restored with options that name no role: the root frame kept it.
  ExecutionRecord rec = core->record();
  core.reset();
  auto restored = ExecutionCore::restore(machine_, rec, applied_.frame_records(),
                                         applied_.result_records(), tokens(), &random_);
  ASSERT_TRUE(restored.ok()) << restored.error().message;
  ASSERT_TRUE((*restored)->deliver_timer(s1.timers[0].timer_id, kT0 + 10 * kSecond));
  StepOutput s2 = take(**restored);
  ASSERT_EQ(s2.dispatch.size(), 1u);
  EXPECT_EQ(s2.dispatch[0].payload, (asl::Json{{"role", role}, {"a", {{"role", role}}}}));
  ASSERT_TRUE((*restored)->deliver_task(s2.dispatch[0].token, asl::StatesError{"Boom", "no"},
                                        kT0 + 11 * kSecond));
  StepOutput s3 = take(**restored);
  ASSERT_TRUE(s3.finished);
  EXPECT_EQ(s3.write.update.status, "FAILED");
  restored->reset();

  // Redriven, again without the role in the options: the redrive point kept it.
  ASSERT_EQ(applied_.frames.count("#redrive"), 1u);
  const asl::Json point = j(applied_.frames["#redrive"]);
  // T is entered again with the input it had the first time (the engine reads it from the
  // history's TaskStateEntered).
  const asl::Json t_input = {{"a", {{"role", role}}}};
  auto redriven =
      ExecutionCore::redrive(machine_, applied_.execution, point, applied_.result_records(),
                             t_input, kT0 + 20 * kSecond, tokens(), &random_);
  ASSERT_TRUE(redriven.ok()) << redriven.error().message;
  StepOutput s4 = take(**redriven);
  ASSERT_EQ(s4.dispatch.size(), 1u);
  EXPECT_EQ(s4.dispatch[0].payload, (asl::Json{{"role", role}, {"a", {{"role", role}}}}));
}

// Without a role (an engine that gives none) ExecutionStarted still has the member, empty.
TEST_F(ExecutionCoreTest, WithoutARoleExecutionStartedHasAnEmptyRoleArn) {
  load(R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})");
  auto core = start("{}");
  take(*core);
  ASSERT_FALSE(applied_.events.empty());
  EXPECT_EQ(j(applied_.events[0].details)["roleArn"], "");
}

// The token of a Task exists when its Parameters are evaluated (.waitForTaskToken hands it on).
TEST_F(ExecutionCoreTest, TaskParametersSeeTheTaskToken) {
  load(R"({"StartAt":"T","States":{"T":{"Type":"Task",
    "Resource":"arn:aws:states:::lambda:invoke.waitForTaskToken",
    "Parameters":{"FunctionName":"f","Payload":{"token.$":"$$.Task.Token"}},"End":true}}})");
  auto core = start("{}");
  StepOutput out = take(*core);
  ASSERT_EQ(out.dispatch.size(), 1u);
  EXPECT_EQ(out.dispatch[0].payload["Payload"]["token"], out.dispatch[0].token);
}

}  // namespace
}  // namespace stepd::engine

namespace stepd::engine {
namespace {

// AWS: an execution whose history would outgrow the limit fails instead.
TEST_F(ExecutionCoreTest, AnExecutionFailsRatherThanOutgrowItsHistoryLimit) {
  load(R"({"StartAt":"Loop","States":{"Loop":{"Type":"Pass","Next":"Again"},
    "Again":{"Type":"Choice","Choices":[{"Variable":"$.stop","IsPresent":true,"Next":"End"}],
      "Default":"Loop"},"End":{"Type":"Succeed"}}})");
  CoreOptions options;
  options.max_history_events = 200;
  auto core = ExecutionCore::start(machine_, record("{}"), kT0, tokens(), &random_, options);
  StepOutput out = take(*core);
  EXPECT_TRUE(out.finished);
  EXPECT_EQ(out.write.update.status, "FAILED");
  EXPECT_EQ(out.write.update.error, "States.Runtime");
  EXPECT_EQ(out.write.update.cause,
            "The execution reached the maximum number of history events (200).");
  EXPECT_LE(applied_.events.size(), 200u);
  EXPECT_GE(applied_.events.size(), 180u);
  EXPECT_EQ(applied_.events.back().type, "ExecutionFailed");
}

}  // namespace
}  // namespace stepd::engine

namespace stepd::engine {
namespace {

// A Map over 100,000 items keeps in memory only the iterations that run (at most the
// concurrency limit), never one frame per item; the results still come back in item order.
TEST_F(ExecutionCoreTest, HundredThousandItemMapHoldsOnlyItsRunningIterations) {
  load(R"({"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs",
    "ItemSelector":{"i.$":"$$.Map.Item.Index"},
    "ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task",
      "Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","End":true}}},
    "ResultPath":"$.out","OutputPath":"$.out","End":true}}})");
  constexpr long long kItems = 100'000;
  std::string input = R"({"xs":[)";
  for (long long i = 0; i < kItems; ++i) input += i == 0 ? "0" : ",0";
  input += "]}";
  CoreOptions options;
  options.max_payload_bytes = 8 << 20;  // the output (100,000 numbers) outgrows 256 KiB
  // 100,000 iterations outgrow a STANDARD history (25,000 events): run it as EXPRESS does.
  options.record_history = false;
  auto core = ExecutionCore::start(machine_, record(input), kT0, tokens(), &random_, options);
  StepOutput first = take(*core);
  std::vector<TaskDispatch> running = first.dispatch;
  ASSERT_EQ(static_cast<long long>(running.size()), options.max_map_concurrency);
  std::size_t most_frames = core->frame_count();
  long long delivered = 0;
  std::optional<std::string> output;
  while (!running.empty()) {
    TaskDispatch t = std::move(running.back());
    running.pop_back();
    const long long i = t.payload.at("i").get<long long>();
    ASSERT_TRUE(core->deliver_task(t.token, asl::Json(i * 2), kT0)) << "after " << delivered;
    ++delivered;
    most_frames = std::max(most_frames, core->frame_count());
    // Commit every so often, as the engine's group commit would.
    if (delivered % 1000 == 0 || core->finished()) {
      StepOutput s = take(*core);
      if (s.finished) output = s.write.update.output;
      for (TaskDispatch& d : s.dispatch) running.push_back(std::move(d));
      continue;
    }
    // Between commits the next iterations are dispatched from the same step output.
    StepOutput s = core->take_output();
    applied_.apply(s.write);
    if (s.finished) output = s.write.update.output;
    for (TaskDispatch& d : s.dispatch) running.push_back(std::move(d));
  }
  EXPECT_EQ(delivered, kItems);
  // The root and the running iterations: never one frame per item.
  EXPECT_LE(most_frames, static_cast<std::size_t>(options.max_map_concurrency) + 1);
  ASSERT_TRUE(output.has_value());
  asl::Json out = asl::Json::parse(*output);
  ASSERT_EQ(static_cast<long long>(out.size()), kItems);
  for (long long i = 0; i < kItems; i += 997) EXPECT_EQ(out[i], asl::Json(i * 2)) << i;
  EXPECT_EQ(out[kItems - 1], asl::Json((kItems - 1) * 2));
  EXPECT_TRUE(applied_.no_frames());
  EXPECT_TRUE(applied_.results.empty());
}

}  // namespace
}  // namespace stepd::engine
