// Saga compensation (docs/saga.md), in the execution core: the declarative "Compensate"
// extension (the log, the order, Retry, time-outs, Parallel and Map branches, restore in the
// middle of compensating) and the standard ASL way (Catch -> compensating states).
#include "engine/core/execution_core.hpp"

#include "core_fixture.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace stepd::engine {
namespace {

using asl::Json;

std::string fn(const std::string& name) {
  return "arn:aws:lambda:us-east-1:123456789012:function:" + name;
}

class SagaTest : public CoreFixture {
 protected:
  SagaTest() : CoreFixture("Orders") {}

  // Delivers a task outcome and takes the step's output.
  StepOutput deliver(ExecutionCore& core, const std::string& token, asl::Outcome outcome,
                     Micros at) {
    EXPECT_TRUE(core.deliver_task(token, std::move(outcome), at)) << token;
    return take(core);
  }
  // A new core from what was committed (the process died).
  std::unique_ptr<ExecutionCore> restore() {
    auto restored = ExecutionCore::restore(machine_, applied_.execution, applied_.frame_records(),
                                           applied_.result_records(), tokens(), &random_);
    EXPECT_TRUE(restored.ok()) << restored.error().message;
    return restored.ok() ? std::move(*restored) : nullptr;
  }
  // Details of the first event of `type` at or after `from`; null when there is none.
  Json details(const std::string& type, std::size_t from = 0) const {
    for (std::size_t i = from; i < applied_.events.size(); ++i) {
      if (applied_.events[i].type == type) {
        return applied_.events[i].details.empty() ? Json::object()
                                                  : Json::parse(applied_.events[i].details);
      }
    }
    return Json();
  }
  std::size_t index_of(const std::string& type) const {
    for (std::size_t i = 0; i < applied_.events.size(); ++i) {
      if (applied_.events[i].type == type) return i;
    }
    return applied_.events.size();
  }
  void expect_contiguous_ids() const {
    for (std::size_t i = 0; i < applied_.events.size(); ++i) {
      EXPECT_EQ(applied_.events[i].id, static_cast<std::int64_t>(i + 1)) << applied_.events[i].type;
    }
  }
  void expect_nothing_left() const {
    EXPECT_TRUE(applied_.no_frames());
    EXPECT_TRUE(applied_.no_results());
    EXPECT_TRUE(applied_.timers.empty());
    EXPECT_TRUE(applied_.tasks.empty());
  }
};

// Reserve and Charge can be undone; Ship cannot. Reserve's compensation reads the task's payload
// and result and its own context; Charge's gets the default "$" {"Input", "Output"}.
std::string order_machine(const std::string& charge_compensate_extra = "") {
  return R"({"StartAt":"Reserve","States":{
    "Reserve":{"Type":"Task","Resource":")" +
         fn("reserve") + R"(","Parameters":{"order.$":"$.order"},
      "Compensate":{"Resource":")" +
         fn("release") + R"(","Parameters":{"seat.$":"$.Output.seat","order.$":"$.Input.order",
        "state.$":"$$.State.Name","token.$":"$$.Task.Token","try.$":"$$.State.RetryCount"}},
      "ResultPath":"$.reservation","Next":"Charge"},
    "Charge":{"Type":"Task","Resource":")" +
         fn("charge") + R"(","Compensate":{"Resource":")" + fn("refund") + R"(")" +
         charge_compensate_extra + R"(},
      "ResultPath":"$.charge","Next":"Ship"},
    "Ship":{"Type":"Task","Resource":")" +
         fn("ship") + R"(","End":true}}})";
}

const std::vector<std::string> kOrderRunUntilShipFails = {
    "ExecutionStarted",        "TaskStateEntered",       "LambdaFunctionScheduled",
    "LambdaFunctionStarted",   "LambdaFunctionSucceeded", "TaskStateExited",
    "TaskStateEntered",        "LambdaFunctionScheduled", "LambdaFunctionStarted",
    "LambdaFunctionSucceeded", "TaskStateExited",        "TaskStateEntered",
    "LambdaFunctionScheduled", "LambdaFunctionStarted",  "LambdaFunctionFailed"};

TEST_F(SagaTest, FailureCompensatesSucceededTasksInReverseOrderThenFailsWithTheOriginalError) {
  load(order_machine());
  auto core = start(R"({"order":"o1"})");
  StepOutput s = take(*core);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"order":"o1"})"));
  s = deliver(*core, "tok1", j(R"({"seat":"12A"})"), kT0 + kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  // The log is written as it grows: one row per completed compensable task.
  EXPECT_EQ(applied_.results.size(), 1u);
  EXPECT_EQ(j(applied_.results.at({"#saga", 0})),
            j(R"({"state":"Reserve","input":{"order":"o1"},"output":{"seat":"12A"}})"));
  s = deliver(*core, "tok2", j(R"({"charge_id":"c9"})"), kT0 + 2 * kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("ship"));

  // Ship fails and nothing catches it: the execution compensates instead of ending.
  s = deliver(*core, "tok3", asl::StatesError{"ShipError", "no truck"}, kT0 + 3 * kSecond);
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(s.write.update.status, std::nullopt);
  EXPECT_EQ(applied_.execution.status, "RUNNING");
  EXPECT_EQ(applied_.execution.compensation, "[]");
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].token, "tok4");
  EXPECT_EQ(s.dispatch[0].resource, fn("refund"));
  EXPECT_EQ(s.dispatch[0].payload,
            j(R"({"Input":{"order":"o1","reservation":{"seat":"12A"}},
                  "Output":{"charge_id":"c9"}})"));
  EXPECT_EQ(applied_.tasks.at("tok4").state_name, "Charge");
  EXPECT_EQ(applied_.tasks.at("tok4").frame_id, "");
  // The plan replaced the log rows.
  EXPECT_EQ(applied_.results.count({"#saga", 0}), 0u);
  EXPECT_EQ(applied_.results.count({"#compensation", 0}), 1u);
  EXPECT_EQ(applied_.results.count({"#compensation", 1}), 1u);
  {
    std::vector<std::string> want = kOrderRunUntilShipFails;
    want.push_back("CompensationStarted");
    want.push_back("CompensationTaskScheduled");
    EXPECT_EQ(event_types(), want);
  }
  EXPECT_EQ(details("CompensationStarted"),
            j(R"({"error":"ShipError","cause":"no truck","compensations":2})"));
  Json scheduled = details("CompensationTaskScheduled");
  EXPECT_EQ(scheduled["name"], "Charge");
  EXPECT_EQ(scheduled["resource"], fn("refund"));
  EXPECT_EQ(scheduled["attempt"], 1);
  EXPECT_EQ(j(scheduled["input"].get<std::string>()), s.dispatch[0].payload);
  EXPECT_FALSE(scheduled.contains("branch"));

  s = deliver(*core, "tok4", j(R"({"refunded":true})"), kT0 + 4 * kSecond);
  EXPECT_FALSE(s.finished);
  EXPECT_EQ(applied_.execution.compensation,
            R"([{"state":"Charge","status":"SUCCEEDED","attempts":1}])");
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("release"));
  // Parameters: "$" is {"Input", "Output"} of Reserve; "$$" its context, with the compensation's
  // own token and retry count.
  EXPECT_EQ(s.dispatch[0].payload,
            j(R"({"seat":"12A","order":"o1","state":"Reserve","token":"tok5","try":0})"));

  s = deliver(*core, "tok5", j(R"({"released":"12A"})"), kT0 + 5 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.write.update.status, "FAILED");
  EXPECT_EQ(applied_.execution.status, "FAILED");
  EXPECT_EQ(applied_.execution.error, "ShipError");
  EXPECT_EQ(applied_.execution.cause, "no truck");
  EXPECT_EQ(applied_.execution.output, std::nullopt);
  EXPECT_EQ(applied_.execution.stop, kT0 + 5 * kSecond);
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Charge","status":"SUCCEEDED","attempts":1},
                  {"state":"Reserve","status":"SUCCEEDED","attempts":1}])"));
  std::vector<std::string> want = kOrderRunUntilShipFails;
  for (const char* t :
       {"CompensationStarted", "CompensationTaskScheduled", "CompensationTaskSucceeded",
        "CompensationTaskScheduled", "CompensationTaskSucceeded", "CompensationSucceeded",
        "ExecutionFailed"}) {
    want.push_back(t);
  }
  EXPECT_EQ(event_types(), want);
  const std::size_t started = index_of("CompensationStarted");
  EXPECT_EQ(details("CompensationTaskSucceeded", started),
            j(R"({"name":"Charge","output":"{\"refunded\":true}",
                  "outputDetails":{"truncated":false}})"));
  EXPECT_EQ(details("CompensationSucceeded"), j(R"({"succeeded":2,"failed":0})"));
  EXPECT_EQ(details("ExecutionFailed"), j(R"({"error":"ShipError","cause":"no truck"})"));
  EXPECT_EQ(applied_.events.back().timestamp, kT0 + 5 * kSecond);
  // Each event follows the previous one of the root scope.
  for (std::size_t i = started; i < applied_.events.size(); ++i) {
    EXPECT_EQ(applied_.events[i].previous_id, applied_.events[i - 1].id);
  }
  expect_contiguous_ids();
  expect_nothing_left();
}

TEST_F(SagaTest, CompensationRetriesWithBackoffAndAFailedOneDoesNotStopTheRest) {
  load(order_machine(R"(,"Retry":[{"ErrorEquals":["Busy"],"IntervalSeconds":2,
      "MaxAttempts":1}],"Comment":"refund the card")"));
  auto core = start(R"({"order":"o1"})");
  take(*core);
  deliver(*core, "tok1", j(R"({"seat":"12A"})"), kT0);
  deliver(*core, "tok2", j(R"({"charge_id":"c9"})"), kT0);
  deliver(*core, "tok3", asl::StatesError{"ShipError", "no truck"}, kT0);
  const std::size_t before = applied_.events.size();

  // First attempt: Busy, retried after 2 s.
  StepOutput s = deliver(*core, "tok4", asl::StatesError{"Busy", "try later"}, kT0 + kSecond);
  EXPECT_TRUE(s.dispatch.empty());
  ASSERT_EQ(s.timers.size(), 1u);
  EXPECT_EQ(s.timers[0].due, kT0 + 3 * kSecond);
  EXPECT_TRUE(applied_.tasks.empty());
  EXPECT_EQ(details("CompensationTaskFailed", before),
            j(R"({"name":"Charge","error":"Busy","cause":"try later","retryInSeconds":2.0})"));
  EXPECT_EQ(applied_.execution.compensation, "[]");
  ASSERT_TRUE(core->deliver_timer(s.timers[0].timer_id, kT0 + 3 * kSecond));
  s = take(*core);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].token, "tok5");
  EXPECT_EQ(s.dispatch[0].resource, fn("refund"));
  EXPECT_EQ(details("CompensationTaskScheduled", index_of("CompensationStarted"))["attempt"], 1);
  EXPECT_EQ(details("CompensationTaskScheduled", index_of("CompensationTaskFailed"))["attempt"], 2);

  // Second attempt: Busy again, retries exhausted: recorded as failed, and Reserve still runs.
  s = deliver(*core, "tok5", asl::StatesError{"Busy", "still"}, kT0 + 4 * kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("release"));
  EXPECT_EQ(s.dispatch[0].payload["try"], 0);
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Charge","status":"FAILED","attempts":2,"error":"Busy",
                   "cause":"still"}])"));

  s = deliver(*core, "tok6", j("{}"), kT0 + 5 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "FAILED");
  EXPECT_EQ(applied_.execution.error, "ShipError");
  EXPECT_EQ(applied_.execution.cause, "no truck");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Charge","status":"FAILED","attempts":2,"error":"Busy","cause":"still"},
                  {"state":"Reserve","status":"SUCCEEDED","attempts":1}])"));
  EXPECT_EQ(event_types(before),
            (std::vector<std::string>{"CompensationTaskFailed", "CompensationTaskScheduled",
                                      "CompensationTaskFailed", "CompensationTaskScheduled",
                                      "CompensationTaskSucceeded", "CompensationFailed",
                                      "ExecutionFailed"}));
  // The last failure of Charge names no retry.
  const std::size_t second_failure = applied_.events.size() - 5;
  EXPECT_EQ(details("CompensationTaskFailed", second_failure),
            j(R"({"name":"Charge","error":"Busy","cause":"still"})"));
  EXPECT_EQ(details("CompensationFailed"), j(R"({"succeeded":1,"failed":1})"));
  EXPECT_EQ(details("ExecutionFailed"), j(R"({"error":"ShipError","cause":"no truck"})"));
  expect_contiguous_ids();
  expect_nothing_left();
}

TEST_F(SagaTest, CompensationTimesOutWithStatesTimeoutAndItsTaskIsCancelled) {
  load(order_machine(R"(,"TimeoutSeconds":30,"HeartbeatSeconds":10)"));
  auto core = start(R"({"order":"o1"})");
  take(*core);
  deliver(*core, "tok1", j(R"({"seat":"12A"})"), kT0);
  deliver(*core, "tok2", j(R"({"charge_id":"c9"})"), kT0);
  StepOutput s = deliver(*core, "tok3", asl::StatesError{"ShipError", "no truck"}, kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].timeout_seconds, 30.0);
  EXPECT_EQ(s.dispatch[0].heartbeat_seconds, 10.0);
  ASSERT_EQ(s.timers.size(), 2u);
  EXPECT_EQ(applied_.tasks.at("tok4").timeout_due, kT0 + 30 * kSecond);
  EXPECT_EQ(applied_.tasks.at("tok4").heartbeat_due, kT0 + 10 * kSecond);
  Json scheduled = details("CompensationTaskScheduled");
  EXPECT_EQ(scheduled["timeoutInSeconds"], 30);
  EXPECT_EQ(scheduled["heartbeatInSeconds"], 10);
  // A heartbeat pushes the heartbeat deadline; then the task times out.
  EXPECT_TRUE(core->heartbeat("tok4", kT0 + 8 * kSecond));
  take(*core);
  std::string timeout_timer;
  for (const auto& [id, due] : applied_.timers) {
    if (due == kT0 + 30 * kSecond) timeout_timer = id;
  }
  ASSERT_FALSE(timeout_timer.empty());
  EXPECT_EQ(applied_.timers.size(), 2u);
  ASSERT_TRUE(core->deliver_timer(timeout_timer, kT0 + 30 * kSecond));
  s = take(*core);
  EXPECT_EQ(s.cancelled_tasks, (std::vector<std::string>{"tok4"}));
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("release"));
  EXPECT_EQ(details("CompensationTaskFailed"), j(R"({"name":"Charge","error":"States.Timeout"})"));
  EXPECT_FALSE(core->deliver_task("tok4", j("{}"), kT0 + 31 * kSecond));
  s = deliver(*core, "tok5", j("{}"), kT0 + 31 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Charge","status":"FAILED","attempts":1,"error":"States.Timeout"},
                  {"state":"Reserve","status":"SUCCEEDED","attempts":1}])"));
  expect_nothing_left();
}

TEST_F(SagaTest, ACaughtFailureDoesNotCompensateAndAFailedTaskIsNotLogged) {
  load(R"({"StartAt":"Reserve","States":{
    "Reserve":{"Type":"Task","Resource":")" +
       fn("reserve") + R"(","Compensate":{"Resource":")" + fn("release") + R"("},
      "ResultPath":"$.r","Next":"Charge"},
    "Charge":{"Type":"Task","Resource":")" +
       fn("charge") + R"(","Compensate":{"Resource":")" + fn("refund") + R"("},
      "Catch":[{"ErrorEquals":["Declined"],"ResultPath":"$.error","Next":"Ship"}],"Next":"Ship"},
    "Ship":{"Type":"Task","Resource":")" +
       fn("ship") + R"(","End":true}}})");
  // Charge fails and is caught: no compensation; the execution goes on and succeeds.
  auto core = start("{}");
  take(*core);
  deliver(*core, "tok1", j(R"({"seat":"1"})"), kT0);
  StepOutput s = deliver(*core, "tok2", asl::StatesError{"Declined", "card"}, kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("ship"));
  s = deliver(*core, "tok3", j(R"("shipped")"), kT0);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "SUCCEEDED");
  EXPECT_EQ(applied_.execution.compensation, std::nullopt);
  EXPECT_EQ(index_of("CompensationStarted"), applied_.events.size());
  expect_nothing_left();

  // Charge fails with an error nothing catches: only Reserve, which succeeded, is compensated.
  applied_ = {};
  core = start("{}");
  take(*core);
  deliver(*core, "tok4", j(R"({"seat":"1"})"), kT0);
  s = deliver(*core, "tok5", asl::StatesError{"Fraud", "stolen card"}, kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("release"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"Input":{},"Output":{"seat":"1"}})"));
  EXPECT_EQ(details("CompensationStarted"),
            j(R"({"error":"Fraud","cause":"stolen card","compensations":1})"));
  s = deliver(*core, "tok6", j("null"), kT0);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.error, "Fraud");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Reserve","status":"SUCCEEDED","attempts":1}])"));
}

TEST_F(SagaTest, NothingLoggedMeansNoCompensationPhase) {
  // The result arrives but ResultSelector fails: the task did not complete, nothing is logged.
  load(R"({"StartAt":"T","States":{"T":{"Type":"Task","Resource":")" + fn("t") + R"(",
    "Compensate":{"Resource":")" + fn("undo") + R"("},
    "ResultSelector":{"x.$":"$.missing"},"End":true}}})");
  auto core = start("{}");
  take(*core);
  StepOutput s = deliver(*core, "tok1", j(R"({"y":1})"), kT0);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "FAILED");
  EXPECT_EQ(applied_.execution.error, "States.Runtime");
  EXPECT_EQ(applied_.execution.compensation, std::nullopt);
  EXPECT_EQ(event_types().back(), "ExecutionFailed");
  EXPECT_EQ(index_of("CompensationStarted"), applied_.events.size());
  expect_nothing_left();
}

TEST_F(SagaTest, ParallelBranchesAreCompensatedPerBranchInReverseBranchOrder) {
  load(R"({"StartAt":"Book","States":{
    "Book":{"Type":"Task","Resource":")" +
       fn("book") + R"(","Compensate":{"Resource":")" + fn("unbook") + R"("},
      "ResultPath":null,"Next":"Fork"},
    "Fork":{"Type":"Parallel","End":true,"Branches":[
      {"StartAt":"A1","States":{
        "A1":{"Type":"Task","Resource":")" +
       fn("a1") + R"(","Compensate":{"Resource":")" + fn("undo-a1") + R"("},"Next":"A2"},
        "A2":{"Type":"Task","Resource":")" +
       fn("a2") + R"(","Compensate":{"Resource":")" + fn("undo-a2") + R"("},"End":true}}},
      {"StartAt":"B1","States":{
        "B1":{"Type":"Task","Resource":")" +
       fn("b1") + R"(","Compensate":{"Resource":")" + fn("undo-b1") + R"("},"End":true}}},
      {"StartAt":"C","States":{
        "C":{"Type":"Task","Resource":")" +
       fn("c") + R"(","End":true}}}]}}})");
  auto core = start(R"({"n":1})");
  take(*core);
  StepOutput s = deliver(*core, "tok1", j("1"), kT0);
  ASSERT_EQ(s.dispatch.size(), 3u);  // A1, B1, C
  EXPECT_EQ(s.dispatch[0].resource, fn("a1"));
  EXPECT_EQ(s.dispatch[1].resource, fn("b1"));
  EXPECT_EQ(s.dispatch[2].resource, fn("c"));
  s = deliver(*core, "tok2", j(R"("a1")"), kT0);  // A1 done, A2 starts
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].token, "tok5");
  s = deliver(*core, "tok3", j(R"("b1")"), kT0);  // branch 1 ends: its log joins the Parallel
  EXPECT_EQ(j(applied_.results.at({"#branches", 1})),
            j(R"([{"state":"B1","input":{"n":1},"output":"b1"}])"));
  // C fails while A2 still runs: A2 is cancelled (it never completed), A1 and B1 are undone.
  s = deliver(*core, "tok4", asl::StatesError{"CFailed", "c broke"}, kT0 + kSecond);
  EXPECT_EQ(s.cancelled_tasks, (std::vector<std::string>{"tok5"}));
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-b1"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"Input":{"n":1},"Output":"b1"})"));
  EXPECT_EQ(details("CompensationTaskScheduled")["branch"], "Fork/1");
  EXPECT_EQ(details("CompensationStarted"),
            j(R"({"error":"CFailed","cause":"c broke","compensations":3})"));
  EXPECT_FALSE(core->deliver_task("tok5", Json("late"), kT0 + kSecond));
  s = deliver(*core, "tok6", j("{}"), kT0 + 2 * kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-a1"));
  s = deliver(*core, "tok7", j("{}"), kT0 + 3 * kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("unbook"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"Input":{"n":1},"Output":1})"));
  s = deliver(*core, "tok8", j("{}"), kT0 + 4 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.error, "CFailed");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"B1","branch":"Fork/1","status":"SUCCEEDED","attempts":1},
                  {"state":"A1","branch":"Fork/0","status":"SUCCEEDED","attempts":1},
                  {"state":"Book","status":"SUCCEEDED","attempts":1}])"));
  const std::size_t started = index_of("CompensationStarted");
  EXPECT_EQ(event_types(started),
            (std::vector<std::string>{
                "CompensationStarted", "CompensationTaskScheduled", "CompensationTaskSucceeded",
                "CompensationTaskScheduled", "CompensationTaskSucceeded",
                "CompensationTaskScheduled", "CompensationTaskSucceeded",
                "CompensationSucceeded", "ExecutionFailed"}));
  EXPECT_EQ(details("CompensationTaskSucceeded", started)["branch"], "Fork/1");
  expect_contiguous_ids();
  expect_nothing_left();
}

TEST_F(SagaTest, MapIterationsAreCompensatedInReverseIndexOrderIncludingTheFailedOnesWork) {
  load(R"({"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items",
    "MaxConcurrency":1,"End":true,"ItemProcessor":{"StartAt":"Hold","States":{
      "Hold":{"Type":"Task","Resource":")" +
       fn("hold") + R"(","Compensate":{"Resource":")" + fn("unhold") + R"(",
        "Parameters":{"item.$":"$.Input","held.$":"$.Output"}},"Next":"Check"},
      "Check":{"Type":"Task","Resource":")" +
       fn("check") + R"(","End":true}}}}}})");
  auto core = start(R"({"items":["x","y","z"]})");
  StepOutput s = take(*core);
  ASSERT_EQ(s.dispatch.size(), 1u);
  deliver(*core, "tok1", j(R"("hx")"), kT0);        // Hold x
  s = deliver(*core, "tok2", j(R"("ok")"), kT0);    // Check x: iteration 0 succeeds
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].payload, j(R"("y")"));
  deliver(*core, "tok3", j(R"("hy")"), kT0);        // Hold y
  s = deliver(*core, "tok4", asl::StatesError{"Bad", "y is bad"}, kT0);  // Check y fails
  // Iteration 1 failed after Hold y had succeeded: both holds are released, newest first.
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("unhold"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"item":"y","held":"hy"})"));
  s = deliver(*core, "tok5", j("1"), kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"item":"x","held":"hx"})"));
  s = deliver(*core, "tok6", j("1"), kT0);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.error, "Bad");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Hold","branch":"Each/1","status":"SUCCEEDED","attempts":1},
                  {"state":"Hold","branch":"Each/0","status":"SUCCEEDED","attempts":1}])"));
  expect_nothing_left();
}

TEST_F(SagaTest, GroupsNestInTheOrderTheyCompleted) {
  // Before, a Map whose two iterations each log; then After; then Fail.
  load(R"({"StartAt":"Before","States":{
    "Before":{"Type":"Task","Resource":")" +
       fn("before") + R"(","Compensate":{"Resource":")" + fn("undo") + R"("},"Next":"Each"},
    "Each":{"Type":"Map","ItemsPath":"$.items","ResultPath":null,"Next":"After",
      "ItemProcessor":{"StartAt":"Do","States":{"Do":{"Type":"Task","Resource":")" +
       fn("do") + R"(","Compensate":{"Resource":")" + fn("undo") + R"("},"End":true}}}},
    "After":{"Type":"Task","Resource":")" +
       fn("after") + R"(","Compensate":{"Resource":")" + fn("undo") + R"("},"Next":"Stop"},
    "Stop":{"Type":"Fail","Error":"Stopped","Cause":"by design"}}})");
  auto core = start(R"({"items":[1,2]})");
  take(*core);
  StepOutput s = deliver(*core, "tok1", j(R"({"items":[1,2]})"), kT0);  // Before
  ASSERT_EQ(s.dispatch.size(), 2u);
  deliver(*core, "tok3", j("20"), kT0);  // item 1 first
  s = deliver(*core, "tok2", j("10"), kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);  // After
  // The Map's group is one entry of the root log, after Before.
  EXPECT_EQ(j(applied_.results.at({"#saga", 1})),
            j(R"({"state":"Each","branches":[
                   {"index":0,"log":[{"state":"Do","input":1,"output":10}]},
                   {"index":1,"log":[{"state":"Do","input":2,"output":20}]}]})"));
  EXPECT_EQ(applied_.results.count({"#branches", 0}), 0u);
  s = deliver(*core, "tok4", j("\"a\""), kT0);  // After, then the Fail state
  std::vector<std::string> order;
  std::vector<Json> outputs;
  while (!s.finished) {
    ASSERT_EQ(s.dispatch.size(), 1u);
    outputs.push_back(s.dispatch[0].payload["Output"]);
    s = deliver(*core, s.dispatch[0].token, j("{}"), kT0);
  }
  EXPECT_EQ(outputs, (std::vector<Json>{j("\"a\""), j("20"), j("10"), j(R"({"items":[1,2]})")}));
  EXPECT_EQ(applied_.execution.error, "Stopped");
  EXPECT_EQ(applied_.execution.cause, "by design");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"After","status":"SUCCEEDED","attempts":1},
                  {"state":"Do","branch":"Each/1","status":"SUCCEEDED","attempts":1},
                  {"state":"Do","branch":"Each/0","status":"SUCCEEDED","attempts":1},
                  {"state":"Before","status":"SUCCEEDED","attempts":1}])"));
  expect_nothing_left();
}

TEST_F(SagaTest, ACrashWhileCompensatingResumesFromTheCommittedRecords) {
  load(order_machine(R"(,"Retry":[{"ErrorEquals":["Busy"],"IntervalSeconds":4}])"));
  auto core = start(R"({"order":"o1"})");
  take(*core);
  deliver(*core, "tok1", j(R"({"seat":"12A"})"), kT0);
  deliver(*core, "tok2", j(R"({"charge_id":"c9"})"), kT0);

  // Crash 1: before the failure. The log comes back from its rows.
  core = restore();
  ASSERT_NE(core, nullptr);
  ASSERT_EQ(core->pending_tasks().size(), 1u);
  EXPECT_EQ(core->pending_tasks()[0].resource, fn("ship"));
  StepOutput s = deliver(*core, "tok3", asl::StatesError{"ShipError", "no truck"}, kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("refund"));

  // Crash 2: the refund was handed out. It is offered again with the same token and payload.
  core = restore();
  ASSERT_NE(core, nullptr);
  EXPECT_FALSE(core->finished());
  std::vector<TaskDispatch> pending = core->pending_tasks();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].token, "tok4");
  EXPECT_EQ(pending[0].resource, fn("refund"));
  EXPECT_EQ(pending[0].payload, s.dispatch[0].payload);
  s = deliver(*core, "tok4", asl::StatesError{"Busy", "later"}, kT0 + kSecond);
  ASSERT_EQ(s.timers.size(), 1u);
  EXPECT_EQ(s.timers[0].due, kT0 + 5 * kSecond);

  // Crash 3: during the back-off. The timer comes back; the retry counts as attempt 2.
  core = restore();
  ASSERT_NE(core, nullptr);
  EXPECT_TRUE(core->pending_tasks().empty());
  std::vector<TimerRecord> timers = core->pending_timers();
  ASSERT_EQ(timers.size(), 1u);
  EXPECT_EQ(timers[0].due, kT0 + 5 * kSecond);
  ASSERT_TRUE(core->deliver_timer(timers[0].timer_id, kT0 + 5 * kSecond));
  s = take(*core);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("refund"));
  EXPECT_EQ(details("CompensationTaskScheduled", index_of("CompensationTaskFailed"))["attempt"], 2);
  s = deliver(*core, s.dispatch[0].token, j("{}"), kT0 + 6 * kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("release"));

  // Crash 4: between compensations. The outcomes so far come back from the execution row.
  core = restore();
  ASSERT_NE(core, nullptr);
  pending = core->pending_tasks();
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].payload["seat"], "12A");
  s = deliver(*core, pending[0].token, j("{}"), kT0 + 7 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "FAILED");
  EXPECT_EQ(applied_.execution.error, "ShipError");
  EXPECT_EQ(applied_.execution.cause, "no truck");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Charge","status":"SUCCEEDED","attempts":2},
                  {"state":"Reserve","status":"SUCCEEDED","attempts":1}])"));
  std::vector<std::string> want = kOrderRunUntilShipFails;
  for (const char* t :
       {"CompensationStarted", "CompensationTaskScheduled", "CompensationTaskFailed",
        "CompensationTaskScheduled", "CompensationTaskSucceeded", "CompensationTaskScheduled",
        "CompensationTaskSucceeded", "CompensationSucceeded", "ExecutionFailed"}) {
    want.push_back(t);
  }
  EXPECT_EQ(event_types(), want);
  expect_contiguous_ids();
  expect_nothing_left();
}

TEST_F(SagaTest, ACrashInsideAParallelKeepsTheBranchLogs) {
  load(R"({"StartAt":"Fork","States":{"Fork":{"Type":"Parallel","End":true,"Branches":[
      {"StartAt":"A","States":{"A":{"Type":"Task","Resource":")" +
       fn("a") + R"(","Compensate":{"Resource":")" + fn("undo-a") + R"("},"Next":"A2"},
        "A2":{"Type":"Task","Resource":")" +
       fn("a2") + R"(","End":true}}},
      {"StartAt":"B","States":{"B":{"Type":"Task","Resource":")" +
       fn("b") + R"(","Compensate":{"Resource":")" + fn("undo-b") + R"("},"End":true}}}]}}})");
  auto core = start("{}");
  take(*core);
  deliver(*core, "tok1", j(R"("a")"), kT0);  // A done (in the branch frame's log); A2 runs
  deliver(*core, "tok2", j(R"("b")"), kT0);  // branch 1 done (in the Parallel's branch logs)
  EXPECT_EQ(applied_.results.count({"0#saga", 0}), 1u);
  EXPECT_EQ(applied_.results.count({"#branches", 1}), 1u);
  core = restore();
  ASSERT_NE(core, nullptr);
  StepOutput s = deliver(*core, "tok3", asl::StatesError{"A2Failed", ""}, kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-b"));
  s = deliver(*core, s.dispatch[0].token, j("{}"), kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-a"));
  s = deliver(*core, s.dispatch[0].token, j("{}"), kT0);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.error, "A2Failed");
  EXPECT_EQ(applied_.execution.cause, "");
  EXPECT_EQ(details("ExecutionFailed"), j(R"({"error":"A2Failed"})"));
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"B","branch":"Fork/1","status":"SUCCEEDED","attempts":1},
                  {"state":"A","branch":"Fork/0","status":"SUCCEEDED","attempts":1}])"));
  expect_contiguous_ids();
  expect_nothing_left();
}

TEST_F(SagaTest, ParametersThatFailRecordTheCompensationAsFailedWithoutDispatch) {
  load(R"({"StartAt":"A","States":{
    "A":{"Type":"Task","Resource":")" +
       fn("a") + R"(","Compensate":{"Resource":")" + fn("undo-a") + R"("},"Next":"B"},
    "B":{"Type":"Task","Resource":")" +
       fn("b") + R"(","Compensate":{"Resource":")" + fn("undo-b") + R"(",
      "Parameters":{"id.$":"$.Output.id"}},"Next":"Stop"},
    "Stop":{"Type":"Fail","Error":"E"}}})");
  auto core = start("{}");
  take(*core);
  deliver(*core, "tok1", j("{}"), kT0);
  StepOutput s = deliver(*core, "tok2", j(R"({"other":1})"), kT0);
  // B's compensation cannot build its payload: recorded, and A's still runs.
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-a"));
  Json outcome = j(*applied_.execution.compensation);
  ASSERT_EQ(outcome.size(), 1u);
  EXPECT_EQ(outcome[0], (Json{{"state", "B"},
                              {"status", "FAILED"},
                              {"attempts", 0},
                              {"error", "States.Runtime"},
                              {"cause", "The JSONPath '$.Output.id' specified for the field "
                                        "'id.$' could not be found in the input "
                                        "'{\"Input\":{},\"Output\":{\"other\":1}}'"}}));
  const std::size_t started = index_of("CompensationStarted");
  EXPECT_EQ(event_types(started),
            (std::vector<std::string>{"CompensationStarted", "CompensationTaskFailed",
                                      "CompensationTaskScheduled"}));
  EXPECT_EQ(details("CompensationTaskFailed")["name"], "B");
  EXPECT_EQ(details("CompensationTaskFailed")["error"], "States.Runtime");
  s = deliver(*core, "tok4", j("{}"), kT0);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(details("CompensationFailed"), j(R"({"succeeded":1,"failed":1})"));
  EXPECT_EQ(applied_.execution.error, "E");
}

TEST_F(SagaTest, ExecutionTimeoutCompensatesAndEndsTimedOut) {
  load(R"({"TimeoutSeconds":60,"StartAt":"A","States":{
    "A":{"Type":"Task","Resource":")" +
       fn("a") + R"(","Compensate":{"Resource":")" + fn("undo-a") + R"("},"Next":"W"},
    "W":{"Type":"Wait","Seconds":600,"End":true}}})");
  auto core = start("{}");
  take(*core);
  StepOutput s = deliver(*core, "tok1", j(R"({"id":1})"), kT0);
  ASSERT_EQ(s.timers.size(), 1u);  // the Wait
  ASSERT_TRUE(core->deliver_timer("execution-timeout", kT0 + 60 * kSecond));
  s = take(*core);
  EXPECT_FALSE(s.finished);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-a"));
  EXPECT_TRUE(applied_.timers.empty());  // the Wait's timer went with the run
  EXPECT_EQ(details("CompensationStarted"),
            j(R"({"error":"States.Timeout","cause":"The execution timed out","compensations":1})"));
  s = deliver(*core, "tok2", j("{}"), kT0 + 61 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "TIMED_OUT");
  EXPECT_EQ(applied_.execution.error, "States.Timeout");
  EXPECT_EQ(event_types().back(), "ExecutionTimedOut");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"A","status":"SUCCEEDED","attempts":1}])"));
  expect_nothing_left();
}

TEST_F(SagaTest, ExecutionTimeoutInsideAParallelCompensatesWhatTheRunningBranchesCompleted) {
  load(R"({"TimeoutSeconds":10,"StartAt":"Fork","States":{"Fork":{"Type":"Parallel",
    "End":true,"Branches":[
      {"StartAt":"A","States":{"A":{"Type":"Task","Resource":")" +
       fn("a") + R"(","Compensate":{"Resource":")" + fn("undo-a") + R"("},"Next":"A2"},
        "A2":{"Type":"Task","Resource":")" +
       fn("a2") + R"(","End":true}}},
      {"StartAt":"B","States":{"B":{"Type":"Task","Resource":")" +
       fn("b") + R"(","Compensate":{"Resource":")" + fn("undo-b") + R"("},"End":true}}}]}}})");
  auto core = start(R"({"k":1})");
  take(*core);
  deliver(*core, "tok1", j(R"("a")"), kT0 + kSecond);  // A done; A2 (tok3) and B (tok2) run
  ASSERT_TRUE(core->deliver_timer("execution-timeout", kT0 + 10 * kSecond));
  StepOutput s = take(*core);
  EXPECT_EQ(s.cancelled_tasks, (std::vector<std::string>{"tok3", "tok2"}));
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("undo-a"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"Input":{"k":1},"Output":"a"})"));
  EXPECT_EQ(details("CompensationTaskScheduled")["branch"], "Fork/0");
  EXPECT_EQ(applied_.tasks.size(), 1u);
  EXPECT_EQ(applied_.frames.size(), 1u);  // the root frame only
  EXPECT_FALSE(core->deliver_task("tok2", Json("late"), kT0 + 11 * kSecond));
  s = deliver(*core, "tok4", j("{}"), kT0 + 11 * kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "TIMED_OUT");
  EXPECT_EQ(applied_.execution.error, "States.Timeout");
  EXPECT_EQ(applied_.execution.cause, "The execution timed out");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"A","branch":"Fork/0","status":"SUCCEEDED","attempts":1}])"));
  EXPECT_EQ(details("ExecutionTimedOut"),
            j(R"({"error":"States.Timeout","cause":"The execution timed out"})"));
  expect_contiguous_ids();
  expect_nothing_left();
}

TEST_F(SagaTest, StopAbortsWithoutCompensatingAndStopsACompensationInProgress) {
  load(order_machine());
  auto core = start(R"({"order":"o1"})");
  take(*core);
  deliver(*core, "tok1", j(R"({"seat":"12A"})"), kT0);
  core->stop("Halt", "operator", kT0 + kSecond);
  StepOutput s = take(*core);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "ABORTED");
  EXPECT_EQ(applied_.execution.compensation, std::nullopt);
  EXPECT_TRUE(s.dispatch.empty());
  expect_nothing_left();

  applied_ = {};
  core = start(R"({"order":"o1"})");
  take(*core);
  deliver(*core, "tok3", j(R"({"seat":"12A"})"), kT0);
  deliver(*core, "tok4", j(R"({"charge_id":"c9"})"), kT0);
  deliver(*core, "tok5", asl::StatesError{"ShipError", "no truck"}, kT0);
  deliver(*core, "tok6", j("{}"), kT0);  // refund done; release runs
  core->stop("Halt", "operator", kT0 + kSecond);
  s = take(*core);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(s.cancelled_tasks, (std::vector<std::string>{"tok7"}));
  EXPECT_EQ(applied_.execution.status, "ABORTED");
  EXPECT_EQ(applied_.execution.error, "Halt");
  EXPECT_EQ(j(*applied_.execution.compensation),
            j(R"([{"state":"Charge","status":"SUCCEEDED","attempts":1}])"));
  EXPECT_EQ(event_types().back(), "ExecutionAborted");
  expect_nothing_left();
}

// The standard ASL way, which needs no extension: each step's Catch leads to the states that
// undo what was done so far, newest first, and a Fail state ends the execution with the
// original error.
TEST_F(SagaTest, StandardWayCatchLeadsToCompensatingStates) {
  load(R"({"StartAt":"Reserve","States":{
    "Reserve":{"Type":"Task","Resource":")" +
       fn("reserve") + R"(","ResultPath":"$.reservation","Next":"Charge"},
    "Charge":{"Type":"Task","Resource":")" +
       fn("charge") + R"(","ResultPath":"$.charge",
      "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Release"}],
      "Next":"Ship"},
    "Ship":{"Type":"Task","Resource":")" +
       fn("ship") + R"(","ResultPath":"$.shipment",
      "Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Refund"}],
      "End":true},
    "Refund":{"Type":"Task","Resource":")" +
       fn("refund") + R"(","Parameters":{"charge.$":"$.charge"},"ResultPath":null,
      "Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":2}],
      "Next":"Release"},
    "Release":{"Type":"Task","Resource":")" +
       fn("release") + R"(","Parameters":{"seat.$":"$.reservation.seat"},"ResultPath":null,
      "Next":"OrderFailed"},
    "OrderFailed":{"Type":"Fail","ErrorPath":"$.error.Error","CausePath":"$.error.Cause"}}})");
  auto core = start(R"({"order":"o1"})");
  take(*core);
  deliver(*core, "tok1", j(R"({"seat":"12A"})"), kT0);
  deliver(*core, "tok2", j(R"({"id":"c9"})"), kT0);
  StepOutput s = deliver(*core, "tok3", asl::StatesError{"ShipError", "no truck"}, kT0);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("refund"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"charge":{"id":"c9"}})"));
  s = deliver(*core, "tok4", asl::StatesError{"Busy", ""}, kT0);  // the refund retries
  ASSERT_EQ(s.timers.size(), 1u);
  ASSERT_TRUE(core->deliver_timer(s.timers[0].timer_id, kT0 + kSecond));
  s = take(*core);
  ASSERT_EQ(s.dispatch.size(), 1u);
  s = deliver(*core, s.dispatch[0].token, j("{}"), kT0 + kSecond);
  ASSERT_EQ(s.dispatch.size(), 1u);
  EXPECT_EQ(s.dispatch[0].resource, fn("release"));
  EXPECT_EQ(s.dispatch[0].payload, j(R"({"seat":"12A"})"));
  s = deliver(*core, s.dispatch[0].token, j("{}"), kT0 + kSecond);
  EXPECT_TRUE(s.finished);
  EXPECT_EQ(applied_.execution.status, "FAILED");
  EXPECT_EQ(applied_.execution.error, "ShipError");
  EXPECT_EQ(applied_.execution.cause, "no truck");
  EXPECT_EQ(applied_.execution.compensation, std::nullopt);
  EXPECT_EQ(event_types(11),
            (std::vector<std::string>{
                "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
                "LambdaFunctionFailed", "TaskStateExited", "TaskStateEntered",
                "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionFailed",
                "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded",
                "TaskStateExited", "TaskStateEntered", "LambdaFunctionScheduled",
                "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
                "FailStateEntered", "ExecutionFailed"}));
  EXPECT_EQ(details("ExecutionFailed"), j(R"({"error":"ShipError","cause":"no truck"})"));
  expect_contiguous_ids();
  expect_nothing_left();
}

}  // namespace
}  // namespace stepd::engine
