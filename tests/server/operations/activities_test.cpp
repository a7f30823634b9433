// Activities and task tokens through Operations, over a real Engine with the real Dispatcher and
// Registry on a real store (SQLite; PostgreSQL too when STEPD_TEST_PG_URL is set): roles and
// worker grants, the audit entries of the task calls, the long poll's latency and time-out, and
// every SendTask* error (InvalidToken, TaskDoesNotExist, TaskTimedOut, InvalidOutput, limits).
#include "server/operations/operations.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "api_result_checks.hpp"
#include "engine/dispatch/dispatcher.hpp"
#include "engine/dispatch/registry.hpp"
#include "server/audit/store_audit_log.hpp"
#include "tests/support/scratch_database.hpp"

namespace stepd::server::test {
namespace {

using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;

using namespace std::chrono_literals;
using asl::Json;
using engine::ActivityTask;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr char kPrefix[] = "arn:aws:states:local:000000000000:";
const std::string kCharge = std::string(kPrefix) + "activity:Charge";
const std::string kShip = std::string(kPrefix) + "activity:Ship";
// 64 hex digits, the shape of the engine's tokens, of no task.
const std::string kUnknownToken(64, 'a');

// A machine whose one Task is the activity (with HeartbeatSeconds when given).
std::string activity_machine(const std::string& activity, int heartbeat = 0) {
  Json task = {{"Type", "Task"}, {"Resource", activity}, {"End", true}};
  if (heartbeat > 0) task["HeartbeatSeconds"] = heartbeat;
  return Json{{"StartAt", "T"}, {"States", {{"T", task}}}}.dump();
}

// A machine that starts a child execution with $$.Task.Token and waits for someone to report
// on the token (a callback task): its token's row names no activity. The child just waits.
const std::string kChildMachine =
    R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}})";
const std::string kCallbackMachine = R"({"StartAt":"T","States":{"T":{"Type":"Task",
  "Resource":"arn:aws:states:::states:startExecution.waitForTaskToken",
  "Parameters":{"StateMachineArn":"arn:aws:states:local:000000000000:stateMachine:Child",
    "Input":{"token.$":"$$.Task.Token"}},"End":true}}})";

// Waits for an asynchronous answer (at most `limit`).
template <typename T>
ApiResult<T> await(std::future<ApiResult<T>> f, std::chrono::milliseconds limit = 10s) {
  if (f.wait_for(limit) != std::future_status::ready) {
    return ApiError{"TestTimeout", "no answer in time", {}};
  }
  return f.get();
}

class ActivitiesTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "ops");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
    auto store = engine::open_store(db_->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    engine::EngineOptions options;
    options.partitions = 4;
    engine_ = std::make_unique<engine::Engine>(std::move(*store), options);
    engine::Status started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    registry_ = std::make_unique<engine::Registry>(engine_->store());
    engine::Status loaded = registry_->load();
    ASSERT_TRUE(loaded.ok()) << loaded.error().message;
    dispatcher_ = std::make_unique<engine::Dispatcher>(*engine_, *registry_);
    engine_->set_task_transport(dispatcher_.get());
    log_ = std::make_unique<StoreAuditLog>(engine_->store());
    ops_ = std::make_unique<Operations>(
        *engine_, log_.get(), TaskServices{&dispatcher_->activities(), registry_.get()});
  }

  void TearDown() override {
    if (dispatcher_) dispatcher_->shutdown();
    ops_.reset();
    log_.reset();
    if (engine_) {
      engine_->shutdown();
      engine_->set_task_transport(nullptr);
    }
    dispatcher_.reset();
    registry_.reset();
    engine_.reset();
  }

  Caller admin() { return admin_caller("r" + std::to_string(++requests_)); }
  static Caller read_only() {
    Caller c;
    c.key_id = "viewer";
    c.role = Role::ReadOnly;
    return c;
  }
  static Caller worker(std::vector<std::string> activities, std::string id = "billing") {
    Caller c;
    c.key_id = std::move(id);
    c.role = Role::Worker;
    c.remote = "192.0.2.20:40000";
    c.activities = std::move(activities);
    return c;
  }

  std::string create_machine(const std::string& name, const std::string& definition) {
    return ok(ops_->create_state_machine(admin(), {name, definition, "STANDARD", "", "[]"})).arn;
  }
  std::string start(const std::string& machine, const std::string& name,
                    const std::string& input = "{}") {
    auto p = std::make_shared<std::promise<ApiResult<ExecutionRecord>>>();
    ops_->start_execution_async(admin(), {machine, name, input, ""},
                                [p](ApiResult<ExecutionRecord> r) { p->set_value(std::move(r)); });
    return ok(await(p->get_future())).arn;
  }

  ApiResult<std::optional<ActivityTask>> poll(const Caller& caller, const std::string& activity,
                                              std::chrono::milliseconds wait,
                                              const std::string& worker_name = "w1") {
    auto p = std::make_shared<std::promise<ApiResult<std::optional<ActivityTask>>>>();
    ops_->get_activity_task_async(
        caller, activity, worker_name, wait,
        [p](ApiResult<std::optional<ActivityTask>> r) { p->set_value(std::move(r)); });
    return await(p->get_future(), wait + 10s);
  }
  // A task of `activity`, polled as admin (waiting up to 10 s for it).
  ActivityTask take(const std::string& activity, const std::string& worker_name = "w1") {
    auto t = ok(poll(admin(), activity, 10s, worker_name));
    if (!t) {
      ADD_FAILURE() << "no task of " << activity;
      return {};
    }
    return *t;
  }

  using Send = std::function<void(Operations::TaskReply)>;
  static ApiResult<bool> sent(const Send& send) {
    auto p = std::make_shared<std::promise<ApiResult<bool>>>();
    send([p](ApiResult<bool> r) { p->set_value(std::move(r)); });
    return await(p->get_future());
  }
  ApiResult<bool> success(const Caller& c, const std::string& token, const std::string& output) {
    return sent([&](auto done) { ops_->send_task_success_async(c, token, output, done); });
  }
  ApiResult<bool> fail(const Caller& c, const std::string& token, const std::string& error,
                       const std::string& cause) {
    return sent([&](auto done) { ops_->send_task_failure_async(c, token, error, cause, done); });
  }
  ApiResult<bool> heartbeat(const Caller& c, const std::string& token) {
    return sent([&](auto done) { ops_->send_task_heartbeat_async(c, token, done); });
  }

  ExecutionRecord wait_end(const std::string& arn) {
    return ok(engine_->wait_for(arn, 20s));
  }

  // The history's event types, and the details of the first event of `type`.
  std::vector<std::string> types(const std::string& arn) {
    std::vector<std::string> out;
    for (const auto& e : ok(engine_->get_history(arn, PageRequest{1000, ""}, false)).items) {
      out.push_back(e.type);
    }
    return out;
  }
  Json details(const std::string& arn, const std::string& type) {
    for (const auto& e : ok(engine_->get_history(arn, PageRequest{1000, ""}, false)).items) {
      if (e.type == type) return Json::parse(e.details);
    }
    ADD_FAILURE() << "no " << type << " in the history of " << arn;
    return Json();
  }

  // "operation|resource|outcome" of every audit entry, oldest first.
  std::vector<std::string> audit_lines() {
    auto page = ok(ops_->list_audit(admin(), {}, PageRequest{1000, ""}));
    std::vector<std::string> out;
    for (auto it = page.items.rbegin(); it != page.items.rend(); ++it) {
      out.push_back(it->key_id + "|" + it->operation + "|" + it->resource + "|" + it->outcome);
    }
    return out;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Registry> registry_;
  std::unique_ptr<engine::Dispatcher> dispatcher_;
  std::unique_ptr<StoreAuditLog> log_;
  std::unique_ptr<Operations> ops_;
  int requests_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, ActivitiesTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// --- Activities -----------------------------------------------------------------------------

TEST_P(ActivitiesTest, CreateDescribeListDelete) {
  ActivityRecord a = ok(ops_->create_activity(admin(), "Charge", {{"team", "pay"}}));
  EXPECT_EQ(a.arn, kCharge);
  EXPECT_EQ(a.name, "Charge");
  EXPECT_GT(a.created, 0);
  EXPECT_EQ(Json::parse(a.tags_json), Json::parse(R"([{"key":"team","value":"pay"}])"));
  // AWS: creating it again answers the same activity (its tags unchanged).
  ActivityRecord again = ok(ops_->create_activity(admin(), "Charge", {{"other", "x"}}));
  EXPECT_EQ(again.arn, a.arn);
  EXPECT_EQ(again.created, a.created);
  EXPECT_EQ(again.tags_json, a.tags_json);
  ok(ops_->create_activity(admin(), "Ship", {}));

  ActivityRecord described = ok(ops_->describe_activity(read_only(), kCharge));
  EXPECT_EQ(described.name, "Charge");
  EXPECT_EQ(described.created, a.created);

  auto first = ok(ops_->list_activities(read_only(), PageRequest{1, ""}));
  ASSERT_EQ(first.items.size(), 1u);
  EXPECT_EQ(first.items[0].arn, kCharge);
  ASSERT_NE(first.next_token, "");
  auto second = ok(ops_->list_activities(read_only(), PageRequest{1, first.next_token}));
  ASSERT_EQ(second.items.size(), 1u);
  EXPECT_EQ(second.items[0].arn, kShip);
  EXPECT_EQ(second.next_token, "");

  EXPECT_TRUE(ok(ops_->delete_activity(admin(), kCharge)));
  EXPECT_EQ(failure(ops_->describe_activity(admin(), kCharge)),
            "ActivityDoesNotExist: Activity Does Not Exist: '" + kCharge + "'");
  // AWS: deleting what does not exist succeeds.
  EXPECT_TRUE(ok(ops_->delete_activity(admin(), kCharge)));
  EXPECT_EQ(ok(ops_->list_activities(admin(), PageRequest{10, ""})).items.size(), 1u);
}

TEST_P(ActivitiesTest, RefusesBadNamesArnsAndTags) {
  EXPECT_EQ(failure(ops_->create_activity(admin(), "bad name", {})),
            "InvalidName: Activity name 'bad name' contains a character that is not allowed");
  EXPECT_EQ(failure(ops_->create_activity(admin(), std::string(81, 'a'), {})),
            "InvalidName: Activity name must be 1 to 80 characters long");
  const std::string machine = std::string(kPrefix) + "stateMachine:Charge";
  EXPECT_EQ(failure(ops_->describe_activity(admin(), machine)),
            "InvalidArn: Invalid Arn: 'Resource type not valid in this context: " + machine + "'");
  EXPECT_EQ(failure(ops_->delete_activity(admin(), "nope")),
            "InvalidArn: Invalid Arn: 'Invalid ARN prefix: nope'");
  const std::string nul = kCharge + '\0';
  EXPECT_EQ(failure(ops_->describe_activity(admin(), nul)),
            "InvalidArn: Invalid Arn: 'Resource name not valid: " + nul + "'");
  EXPECT_EQ(failure(poll(admin(), nul, 0ms)),
            "InvalidArn: Invalid Arn: 'Resource name not valid: " + nul + "'");
  std::vector<Tag> many;
  for (int i = 0; i < 51; ++i) many.push_back({"k" + std::to_string(i), "v"});
  EXPECT_EQ(failure(ops_->create_activity(admin(), "Tagged", many)),
            "TooManyTags: Too many tags: a resource has at most 50 tags");
  EXPECT_EQ(failure(ops_->create_activity(admin(), "Tagged", {{"", "v"}})),
            "ValidationException: Tag keys must be 1 to 128 characters long");
  EXPECT_EQ(failure(ops_->describe_activity(admin(), std::string(kPrefix) + "activity:Tagged")),
            "ActivityDoesNotExist: Activity Does Not Exist: '" + std::string(kPrefix) +
                "activity:Tagged'");
}

TEST_P(ActivitiesTest, TagsOnActivities) {
  ok(ops_->create_activity(admin(), "Charge", {{"team", "pay"}}));
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), kCharge, {{"env", "prod"}, {"team", "money"}})));
  std::vector<std::string> pairs;
  for (const Tag& t : ok(ops_->list_tags_for_resource(read_only(), kCharge))) {
    pairs.push_back(t.key + "=" + t.value);
  }
  EXPECT_THAT(pairs, ElementsAre("team=money", "env=prod"));
  EXPECT_TRUE(ok(ops_->untag_resource(admin(), kCharge, {"team"})));
  EXPECT_EQ(ok(ops_->list_tags_for_resource(admin(), kCharge)).size(), 1u);
  EXPECT_EQ(Json::parse(ok(ops_->describe_activity(admin(), kCharge)).tags_json),
            Json::parse(R"([{"key":"env","value":"prod"}])"));
  EXPECT_EQ(failure(ops_->tag_resource(admin(), kShip, {{"a", "b"}})),
            "ResourceNotFound: Resource not found: '" + kShip + "'");
  EXPECT_EQ(failure(ops_->list_tags_for_resource(admin(), kShip)),
            "ResourceNotFound: Resource not found: '" + kShip + "'");
  EXPECT_EQ(failure(ops_->tag_resource(read_only(), kCharge, {{"a", "b"}})),
            "AccessDeniedException: User: viewer is not authorized to perform: "
            "states:TagResource on resource: " + kCharge);
}

// --- Roles and grants -------------------------------------------------------------------------

TEST_P(ActivitiesTest, ReadOnlyKeysReadActivitiesButNeitherPollNorReport) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  EXPECT_EQ(failure(ops_->create_activity(read_only(), "Other", {})),
            "AccessDeniedException: User: viewer is not authorized to perform: "
            "states:CreateActivity");
  EXPECT_EQ(failure(ops_->delete_activity(read_only(), kCharge)),
            "AccessDeniedException: User: viewer is not authorized to perform: "
            "states:DeleteActivity on resource: " + kCharge);
  EXPECT_EQ(failure(poll(read_only(), kCharge, 0ms)),
            "AccessDeniedException: User: viewer is not authorized to perform: "
            "states:GetActivityTask on resource: " + kCharge);
  EXPECT_EQ(failure(success(read_only(), kUnknownToken, "{}")),
            "AccessDeniedException: User: viewer is not authorized to perform: "
            "states:SendTaskSuccess");
  EXPECT_EQ(failure(heartbeat(read_only(), kUnknownToken)),
            "AccessDeniedException: User: viewer is not authorized to perform: "
            "states:SendTaskHeartbeat");
  EXPECT_EQ(failure(ops_->list_routes(read_only())),
            "AccessDeniedException: User: viewer is not authorized to manage task routes");
}

TEST_P(ActivitiesTest, WorkerKeysPollAndReportOnlyTheirActivities) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  ok(ops_->create_activity(admin(), "Ship", {}));
  const std::string charge = create_machine("Pay", activity_machine(kCharge));
  const std::string ship = create_machine("Send", activity_machine(kShip));

  const Caller by_arn = worker({kCharge});
  const Caller by_name = worker({"Charge"}, "billing-2");
  const Caller every = worker({"*"}, "ops");
  const Caller shipper = worker({kShip}, "shipping");

  // Polls: granted by ARN, by name or "*"; anything else is refused before it is looked at.
  EXPECT_EQ(ok(poll(by_arn, kCharge, 0ms)), std::nullopt);
  EXPECT_EQ(ok(poll(by_name, kCharge, 0ms)), std::nullopt);
  EXPECT_EQ(ok(poll(every, kShip, 0ms)), std::nullopt);
  EXPECT_EQ(failure(poll(by_arn, kShip, 0ms)),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:GetActivityTask on resource: " + kShip);
  const std::string ghost = std::string(kPrefix) + "activity:Ghost";
  EXPECT_EQ(failure(poll(by_arn, ghost, 0ms)),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:GetActivityTask on resource: " + ghost);
  EXPECT_EQ(failure(poll(every, ghost, 0ms)),
            "ActivityDoesNotExist: Activity Does Not Exist: '" + ghost + "'");
  // Nothing else is open to a worker key.
  EXPECT_EQ(failure(ops_->describe_activity(by_arn, kCharge)),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:DescribeActivity on resource: " + kCharge);
  EXPECT_EQ(failure(ops_->list_state_machines(by_arn, PageRequest{10, ""})),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:ListStateMachines");

  // Reports: only for tasks of a granted activity.
  const std::string pay = start(charge, "p1");
  const std::string send = start(ship, "s1");
  auto charge_task = ok(poll(by_name, kCharge, 10s, "charger"));
  ASSERT_TRUE(charge_task.has_value());
  ActivityTask ship_task = take(kShip);
  EXPECT_EQ(failure(success(by_arn, ship_task.token, "{}")),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:SendTaskSuccess on resource: " + kShip);
  EXPECT_EQ(failure(heartbeat(by_arn, ship_task.token)),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:SendTaskHeartbeat on resource: " + kShip);
  EXPECT_TRUE(ok(heartbeat(by_arn, charge_task->token)));
  EXPECT_TRUE(ok(success(by_arn, charge_task->token, R"({"paid":true})")));
  EXPECT_TRUE(ok(fail(shipper, ship_task.token, "NoTruck", "all out")));
  EXPECT_EQ(wait_end(pay).status, "SUCCEEDED");
  ExecutionRecord sent = wait_end(send);
  EXPECT_EQ(sent.status, "FAILED");
  EXPECT_EQ(sent.error, "NoTruck");
  EXPECT_EQ(sent.cause, "all out");
  // A second report of the same task: the worker still learns it is gone.
  EXPECT_EQ(failure(success(by_arn, charge_task->token, "{}")),
            "TaskDoesNotExist: Task Does Not Exist");
  // A token nobody handed out: a narrow worker is not told more.
  EXPECT_EQ(failure(success(by_arn, kUnknownToken, "{}")),
            "TaskDoesNotExist: Task Does Not Exist");
}

TEST_P(ActivitiesTest, CallbackTokensNeedAnAdminOrAWorkerGrantedEverything) {
  create_machine("Child", kChildMachine);
  const std::string machine = create_machine("Callback", kCallbackMachine);
  const std::string first = start(machine, "c1");
  const std::string second = start(machine, "c2");
  auto token_of = [&](const std::string& arn) {
    for (int i = 0; i < 200; ++i) {
      auto tasks = engine_->store().tasks_of_execution(arn);
      if (tasks.ok() && !tasks->empty()) return (*tasks)[0].token;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "no task row for " << arn;
    return std::string();
  };
  const std::string t1 = token_of(first);
  const std::string t2 = token_of(second);
  EXPECT_EQ(failure(success(worker({kCharge}), t1, "{}")),
            "AccessDeniedException: User: billing is not authorized to perform: "
            "states:SendTaskSuccess on resource: " + first);
  EXPECT_TRUE(ok(success(worker({"*"}, "ops"), t1, R"({"via":"worker"})")));
  EXPECT_TRUE(ok(fail(admin(), t2, "Declined", "by an admin")));
  ExecutionRecord one = wait_end(first);
  EXPECT_EQ(one.status, "SUCCEEDED");
  EXPECT_EQ(one.output, R"({"via":"worker"})");
  EXPECT_EQ(wait_end(second).error, "Declined");
}

// --- The long poll --------------------------------------------------------------------------

TEST_P(ActivitiesTest, AWaitingPollIsAnsweredTheMomentATaskIsScheduled) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const std::string machine = create_machine("Pay", activity_machine(kCharge));
  using Clock = std::chrono::steady_clock;
  auto answered = std::make_shared<std::promise<Clock::time_point>>();
  auto got = std::make_shared<std::optional<ActivityTask>>();
  ops_->get_activity_task_async(worker({kCharge}), kCharge, "fast-worker", 30s,
                                [answered, got](ApiResult<std::optional<ActivityTask>> r) {
                                  if (auto* t = std::get_if<std::optional<ActivityTask>>(&r)) {
                                    *got = *t;
                                  }
                                  answered->set_value(Clock::now());
                                });
  // The poll waits in the queue before the task exists.
  for (int i = 0; i < 100 && dispatcher_->activities().waiting_polls() == 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_EQ(dispatcher_->activities().waiting_polls(), 1u);
  std::this_thread::sleep_for(200ms);

  auto started = std::make_shared<std::promise<Clock::time_point>>();
  const Clock::time_point asked = Clock::now();
  ops_->start_execution_async(admin(), {machine, "fast", R"({"amount":5})", ""},
                              [started](ApiResult<ExecutionRecord> r) {
                                EXPECT_TRUE(std::holds_alternative<ExecutionRecord>(r));
                                started->set_value(Clock::now());
                              });
  auto answer = answered->get_future();
  ASSERT_EQ(answer.wait_for(10s), std::future_status::ready);
  const Clock::time_point at = answer.get();
  const Clock::time_point durable = started->get_future().get();
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->input, R"({"amount":5})");
  // From the moment the start is durable (the task is dispatched with that commit's effects, so
  // the answer may even come first) to the answer; and from the call itself, which includes the
  // store's commit (slow on a loaded machine, so only bounded loosely).
  const auto after_durable = std::chrono::duration_cast<std::chrono::microseconds>(at - durable);
  const auto after_call = std::chrono::duration_cast<std::chrono::microseconds>(at - asked);
  std::cout << "poll answered " << after_durable.count() << " us after the start was durable, "
            << after_call.count() << " us after it was asked\n";
  EXPECT_LT(after_durable, 50ms);
  EXPECT_LT(after_call, 500ms);

  const std::string arn = std::string(kPrefix) + "execution:Pay:fast";
  EXPECT_TRUE(ok(success(admin(), (*got)->token, R"({"charged":5})")));
  ExecutionRecord done = wait_end(arn);
  EXPECT_EQ(done.status, "SUCCEEDED");
  EXPECT_EQ(done.output, R"({"charged":5})");
  EXPECT_THAT(types(arn), ElementsAre("ExecutionStarted", "TaskStateEntered", "ActivityScheduled",
                                      "ActivityStarted", "ActivitySucceeded", "TaskStateExited",
                                      "ExecutionSucceeded"));
  EXPECT_EQ(details(arn, "ActivityStarted")["workerName"], "fast-worker");
  EXPECT_EQ(details(arn, "ActivityScheduled")["resource"], kCharge);
  EXPECT_EQ(details(arn, "ActivitySucceeded")["output"], R"({"charged":5})");
}

TEST_P(ActivitiesTest, APollWithNothingToTakeAnswersEmptyAfterItsWait) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const auto before = std::chrono::steady_clock::now();
  auto r = poll(worker({kCharge}), kCharge, 300ms);
  const auto waited = std::chrono::steady_clock::now() - before;
  EXPECT_EQ(ok(r), std::nullopt);
  EXPECT_GE(waited, 300ms);
  EXPECT_LT(waited, 3s);
  // A wait of 0 answers at once.
  const auto now = std::chrono::steady_clock::now();
  EXPECT_EQ(ok(poll(admin(), kCharge, 0ms)), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - now, 1s);
  EXPECT_EQ(dispatcher_->activities().waiting_polls(), 0u);
}

TEST_P(ActivitiesTest, AQueuedTaskGoesToTheNextPollAndShutdownAnswersWaitingPolls) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const std::string machine = create_machine("Pay", activity_machine(kCharge));
  start(machine, "queued", R"({"n":1})");
  for (int i = 0; i < 200 && dispatcher_->activities().queued() == 0; ++i) {
    std::this_thread::sleep_for(5ms);
  }
  auto task = ok(poll(admin(), kCharge, 0ms, "late"));
  ASSERT_TRUE(task.has_value());
  EXPECT_EQ(task->input, R"({"n":1})");

  auto p = std::make_shared<std::promise<ApiResult<std::optional<ActivityTask>>>>();
  ops_->get_activity_task_async(admin(), kCharge, "", 60s,
                                [p](auto r) { p->set_value(std::move(r)); });
  dispatcher_->activities().shutdown();
  auto f = p->get_future();
  ASSERT_EQ(f.wait_for(2s), std::future_status::ready);
  EXPECT_EQ(ok(f.get()), std::nullopt);
}

TEST_P(ActivitiesTest, PollChecks) {
  EXPECT_EQ(failure(poll(admin(), std::string(kPrefix) + "stateMachine:Charge", 0ms)),
            "InvalidArn: Invalid Arn: 'Resource type not valid in this context: " +
                std::string(kPrefix) + "stateMachine:Charge'");
  EXPECT_EQ(failure(poll(admin(), kCharge, 0ms)),
            "ActivityDoesNotExist: Activity Does Not Exist: '" + kCharge + "'");
  ok(ops_->create_activity(admin(), "Charge", {}));
  EXPECT_EQ(failure(poll(admin(), kCharge, 0ms, std::string(81, 'w'))),
            "ValidationException: 1 validation error detected: Value '" + std::string(81, 'w') +
                "' at 'workerName' failed to satisfy constraint: Member must have length less "
                "than or equal to 80");
  // Without a task queue (no dispatcher), polls cannot be served.
  Operations bare(*engine_, nullptr);
  auto p = std::make_shared<std::promise<ApiResult<std::optional<ActivityTask>>>>();
  bare.get_activity_task_async(admin(), kCharge, "", 0ms,
                               [p](auto r) { p->set_value(std::move(r)); });
  EXPECT_EQ(failure(await(p->get_future())),
            "ServiceUnavailable: this server hands out no activity tasks");
}

// --- Reports and their errors -------------------------------------------------------------------

TEST_P(ActivitiesTest, TokenErrors) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  // Not a token the engine makes.
  EXPECT_EQ(failure(success(admin(), "not-a-token", "{}")),
            "InvalidToken: Invalid Token: 'not-a-token' is not a task token");
  EXPECT_EQ(failure(heartbeat(admin(), "not-a-token")),
            "InvalidToken: Invalid Token: 'not-a-token' is not a task token");
  EXPECT_EQ(failure(fail(worker({"*"}), "NOT-A-TOKEN", "E", "")),
            "InvalidToken: Invalid Token: 'NOT-A-TOKEN' is not a task token");
  // Control characters never reach the store (PostgreSQL refuses a NUL in text).
  const std::string nul = std::string("tok") + '\0' + "en";
  EXPECT_EQ(failure(heartbeat(worker({kCharge}), nul)),
            "InvalidToken: Invalid Token: '" + nul + "' is not a task token");
  EXPECT_EQ(std::get<ApiError>(success(admin(), nul, "{}")).type, "InvalidToken");
  // The engine's shape, but no such task.
  EXPECT_EQ(failure(success(admin(), kUnknownToken, "{}")),
            "TaskDoesNotExist: Task Does Not Exist");
  EXPECT_EQ(failure(fail(admin(), kUnknownToken, "E", "c")),
            "TaskDoesNotExist: Task Does Not Exist");
  EXPECT_EQ(failure(heartbeat(admin(), kUnknownToken)), "TaskDoesNotExist: Task Does Not Exist");

  const std::string machine = create_machine("Pay", activity_machine(kCharge));
  const std::string arn = start(machine, "once");
  ActivityTask task = take(kCharge);
  // The output must be JSON, at most 256 KiB; error and cause have AWS's limits. Nothing of it
  // reaches the task.
  EXPECT_THAT(failure(success(admin(), task.token, "{\"a\":")),
              ::testing::StartsWith("InvalidOutput: Invalid Output: the output is not valid JSON: "
                                    "parse error at line 1, column 6"));
  // JSON nested deeper than 64 levels never reaches the engine (its recursive JSON code).
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_EQ(failure(success(admin(), task.token, deep)),
            "InvalidOutput: Invalid Output: the output nests arrays and objects deeper than 64 "
            "levels (at byte 64)");
  EXPECT_EQ(failure(success(admin(), task.token, "\"" + std::string(262144, 'x') + "\"")),
            "ValidationException: 1 validation error detected: Value at 'output' failed to "
            "satisfy constraint: Member must have length less than or equal to 262144");
  EXPECT_EQ(failure(fail(admin(), task.token, std::string(257, 'e'), "")),
            "ValidationException: 1 validation error detected: Value at 'error' failed to "
            "satisfy constraint: Member must have length less than or equal to 256");
  EXPECT_EQ(failure(fail(admin(), task.token, "E", std::string(32769, 'c'))),
            "ValidationException: 1 validation error detected: Value at 'cause' failed to "
            "satisfy constraint: Member must have length less than or equal to 32768");
  EXPECT_EQ(engine_->describe_execution(arn).index(), 0u);
  EXPECT_EQ(ok(engine_->describe_execution(arn)).status, "RUNNING");

  // Output of exactly 256 KiB is taken; a second outcome for the token is TaskDoesNotExist.
  const std::string big = "\"" + std::string(262144 - 2, 'x') + "\"";
  EXPECT_TRUE(ok(success(admin(), task.token, big)));
  EXPECT_EQ(failure(success(admin(), task.token, "{}")), "TaskDoesNotExist: Task Does Not Exist");
  EXPECT_EQ(failure(fail(admin(), task.token, "E", "")), "TaskDoesNotExist: Task Does Not Exist");
  EXPECT_EQ(failure(heartbeat(admin(), task.token)), "TaskDoesNotExist: Task Does Not Exist");
  EXPECT_EQ(wait_end(arn).output, big);
}

TEST_P(ActivitiesTest, OutputsMayNest64LevelsDeep) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const std::string arn = start(create_machine("Pay", activity_machine(kCharge)), "deep");
  ActivityTask task = take(kCharge);
  const std::string deepest = std::string(64, '[') + std::string(64, ']');
  EXPECT_EQ(failure(success(admin(), task.token, "[" + deepest + "]")),
            "InvalidOutput: Invalid Output: the output nests arrays and objects deeper than 64 "
            "levels (at byte 64)");
  EXPECT_TRUE(ok(success(admin(), task.token, deepest)));
  EXPECT_EQ(wait_end(arn).output, deepest);
}

TEST_P(ActivitiesTest, HeartbeatsKeepATaskAliveAndItsTimeOutIsTaskTimedOut) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const std::string machine = create_machine("Pay", activity_machine(kCharge, 1));
  const Caller w = worker({"Charge"});

  // Heartbeats every 300 ms keep a 1 s HeartbeatSeconds task going for 2 s.
  const std::string kept = start(machine, "kept");
  ActivityTask task = take(kCharge);
  for (int i = 0; i < 7; ++i) {
    std::this_thread::sleep_for(300ms);
    EXPECT_TRUE(ok(heartbeat(w, task.token))) << "heartbeat " << i;
  }
  EXPECT_TRUE(ok(success(w, task.token, R"("kept")")));
  EXPECT_EQ(wait_end(kept).status, "SUCCEEDED");

  // Without heartbeats it times out; reports then say TaskTimedOut.
  const std::string lost = start(machine, "lost");
  ActivityTask late = take(kCharge);
  ExecutionRecord x = wait_end(lost);
  EXPECT_EQ(x.status, "FAILED");
  EXPECT_EQ(x.error, "States.HeartbeatTimeout");
  EXPECT_EQ(failure(success(w, late.token, "{}")), "TaskTimedOut: Task Timed Out");
  EXPECT_EQ(failure(heartbeat(w, late.token)), "TaskTimedOut: Task Timed Out");
  EXPECT_EQ(failure(fail(admin(), late.token, "E", "")), "TaskTimedOut: Task Timed Out");
  EXPECT_THAT(types(lost), ::testing::Contains("ActivityTimedOut"));
}

TEST_P(ActivitiesTest, FailureReachesTheHistoryAndTheExecution) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const std::string machine = create_machine("Pay", activity_machine(kCharge));
  const std::string arn = start(machine, "declined");
  ActivityTask task = take(kCharge, "");
  EXPECT_TRUE(ok(fail(worker({"*"}), task.token, "CardDeclined", "insufficient funds")));
  ExecutionRecord x = wait_end(arn);
  EXPECT_EQ(x.status, "FAILED");
  EXPECT_EQ(x.error, "CardDeclined");
  EXPECT_EQ(x.cause, "insufficient funds");
  EXPECT_THAT(types(arn), ElementsAre("ExecutionStarted", "TaskStateEntered", "ActivityScheduled",
                                      "ActivityStarted", "ActivityFailed", "ExecutionFailed"));
  Json failed = details(arn, "ActivityFailed");
  EXPECT_EQ(failed["error"], "CardDeclined");
  EXPECT_EQ(failed["cause"], "insufficient funds");
}

// --- The audit log ------------------------------------------------------------------------------

TEST_P(ActivitiesTest, TaskCallsAreAudited) {
  ok(ops_->create_activity(admin(), "Charge", {}));
  const std::string machine = create_machine("Pay", activity_machine(kCharge));
  const Caller w = worker({kCharge});
  EXPECT_EQ(ok(poll(w, kCharge, 0ms)), std::nullopt);  // empty: not audited
  EXPECT_EQ(std::get<ApiError>(poll(w, kShip, 0ms)).type, "AccessDeniedException");
  const std::string arn = start(machine, "audited");
  auto task = ok(poll(w, kCharge, 10s));
  ASSERT_TRUE(task.has_value());
  EXPECT_TRUE(ok(heartbeat(w, task->token)));
  EXPECT_EQ(std::get<ApiError>(success(w, task->token, "nope")).type, "InvalidOutput");
  EXPECT_TRUE(ok(success(w, task->token, "{}")));
  EXPECT_EQ(std::get<ApiError>(fail(w, task->token, "E", "")).type, "TaskDoesNotExist");
  EXPECT_EQ(std::get<ApiError>(success(admin(), kUnknownToken, "{}")).type, "TaskDoesNotExist");
  EXPECT_TRUE(ok(ops_->delete_activity(admin(), kCharge)));

  const std::string m = std::string(kPrefix) + "stateMachine:Pay";
  EXPECT_THAT(audit_lines(),
              ElementsAre("admin-key|CreateActivity|" + kCharge + "|ok",
                          "admin-key|CreateStateMachine|" + m + "|ok",
                          "billing|GetActivityTask|" + kShip + "|AccessDeniedException",
                          "admin-key|StartExecution|" + arn + "|ok",
                          "billing|GetActivityTask|" + kCharge + "|ok",
                          "billing|SendTaskHeartbeat|" + arn + "|ok",
                          "billing|SendTaskSuccess||InvalidOutput",
                          "billing|SendTaskSuccess|" + arn + "|ok",
                          // The row is gone, but this node handed the task out: its
                          // execution is still known.
                          "billing|SendTaskFailure|" + arn + "|TaskDoesNotExist",
                          "admin-key|SendTaskSuccess||TaskDoesNotExist",
                          "admin-key|DeleteActivity|" + kCharge + "|ok"));
}

// --- Task routes ------------------------------------------------------------------------------

TEST_P(ActivitiesTest, RoutesAreForAdmins) {
  RouteRecord r = ok(ops_->put_route(admin(), "function", "charge", "http://127.0.0.1:9/charge"));
  EXPECT_EQ(r.kind, "function");
  EXPECT_EQ(r.name, "charge");
  EXPECT_EQ(r.url, "http://127.0.0.1:9/charge");
  EXPECT_GT(r.updated, 0);
  ok(ops_->put_route(admin(), "service", "dynamodb:putItem", "http://127.0.0.1:9/ddb"));
  auto routes = ok(ops_->list_routes(admin()));
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].name, "charge");
  EXPECT_EQ(routes[1].name, "dynamodb:putItem");
  EXPECT_EQ(std::get<ApiError>(ops_->put_route(admin(), "queue", "x", "http://127.0.0.1:9/"))
                .type,
            "ValidationException");
  EXPECT_EQ(std::get<ApiError>(ops_->put_route(admin(), "function", "f", "ftp://x")).type,
            "ValidationException");
  EXPECT_EQ(failure(ops_->put_route(worker({"*"}), "function", "f", "http://127.0.0.1:9/")),
            "AccessDeniedException: User: billing is not authorized to manage task routes");
  EXPECT_TRUE(ok(ops_->delete_route(admin(), "function", "charge")));
  EXPECT_EQ(std::get<ApiError>(ops_->delete_route(admin(), "function", "charge")).type,
            "ResourceNotFound");
  EXPECT_EQ(ok(ops_->list_routes(admin())).size(), 1u);
  EXPECT_THAT(audit_lines(),
              ElementsAre("admin-key|PutRoute|route/function/charge|ok",
                          "admin-key|PutRoute|route/service/dynamodb:putItem|ok",
                          "admin-key|PutRoute|route/queue/x|ValidationException",
                          "admin-key|PutRoute|route/function/f|ValidationException",
                          "billing|PutRoute|route/function/f|AccessDeniedException",
                          "admin-key|DeleteRoute|route/function/charge|ok",
                          "admin-key|DeleteRoute|route/function/charge|ResourceNotFound"));
}

}  // namespace
}  // namespace stepd::server::test
