// Operations over a real Engine (SQLite file; PostgreSQL too when STEPD_TEST_PG_URL is set) with
// the audit log in the same store (StoreAuditLog): roles, the audit entry of every mutating call,
// ARN checks, tags, validation and describe_state_machine_for_execution.
#include "server/operations/operations.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "api_result_checks.hpp"
#include "probe_store.hpp"
#include "server/audit/store_audit_log.hpp"
#include "tests/support/scratch_database.hpp"

namespace stepd::server::test {
namespace {

using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;

using namespace std::chrono_literals;
using engine::Micros;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kMachineArn[] = "arn:aws:states:local:000000000000:stateMachine:Orders";
constexpr char kGhostArn[] = "arn:aws:states:local:000000000000:stateMachine:Ghost";
constexpr char kRunArn[] = "arn:aws:states:local:000000000000:execution:Orders:run-1";

// Waits an hour in W, so an execution stays RUNNING for the whole test.
constexpr char kWaiting[] = R"({"StartAt":"W","States":{
  "W":{"Type":"Wait","Seconds":3600,"Next":"Done"},
  "Done":{"Type":"Succeed"}}})";
constexpr char kWaitingV2[] = R"({"Comment":"v2","StartAt":"W","States":{
  "W":{"Type":"Wait","Seconds":7200,"End":true}}})";
constexpr char kPass[] = R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":7,"End":true}}})";

Micros wall_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// One audit entry without its id and time: "key|remote|operation|resource|outcome|request".
std::string line(const AuditEntry& e) {
  return e.key_id + "|" + e.remote + "|" + e.operation + "|" + e.resource + "|" + e.outcome + "|" +
         e.request_id;
}

std::vector<std::string> tag_pairs(const std::vector<Tag>& tags) {
  std::vector<std::string> out;
  for (const Tag& t : tags) out.push_back(t.key + "=" + t.value);
  return out;
}

class OperationsTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "ops");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
    auto store = engine::open_store(db_->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    auto probe = std::make_unique<ProbeStore>(std::move(*store));
    probe_ = probe.get();
    engine::EngineOptions options;
    options.partitions = 4;
    engine_ = std::make_unique<engine::Engine>(std::move(probe), options);
    engine::Status started = engine_->start();
    ASSERT_TRUE(started.ok()) << started.error().message;
    log_ = std::make_unique<StoreAuditLog>(engine_->store());
    ops_ = std::make_unique<Operations>(*engine_, log_.get());
  }

  void TearDown() override {
    if (probe_ != nullptr) probe_->open_gate();
    ops_.reset();
    log_.reset();
    engine_.reset();
  }

  // An admin with a fresh request id ("r1", "r2", ...).
  Caller admin() { return admin_caller("r" + std::to_string(++requests_)); }
  static Caller read_only() {
    Caller c;
    c.key_id = "ro";
    c.role = Role::ReadOnly;
    return c;
  }

  StateMachineRecord create(const std::string& name, const std::string& definition,
                            const std::string& type = "STANDARD", const std::string& tags = "[]") {
    return ok(ops_->create_state_machine(admin(), {name, definition, type, "", tags}));
  }

  // The *_async calls, waited for.
  static ApiResult<ExecutionRecord> wait(std::future<ApiResult<ExecutionRecord>> f) {
    if (f.wait_for(10s) != std::future_status::ready) {
      return ApiError{"TestTimeout", "no answer within 10 s", {}};
    }
    return f.get();
  }
  ApiResult<ExecutionRecord> start(const Caller& caller, const std::string& machine,
                                   const std::string& name, const std::string& input = "{}") {
    auto p = std::make_shared<std::promise<ApiResult<ExecutionRecord>>>();
    ops_->start_execution_async(caller, {machine, name, input, ""},
                                [p](ApiResult<ExecutionRecord> r) { p->set_value(std::move(r)); });
    return wait(p->get_future());
  }
  ApiResult<ExecutionRecord> stop(const Caller& caller, const std::string& arn) {
    auto p = std::make_shared<std::promise<ApiResult<ExecutionRecord>>>();
    ops_->stop_execution_async(caller, arn, "Halt", "asked to",
                               [p](ApiResult<ExecutionRecord> r) { p->set_value(std::move(r)); });
    return wait(p->get_future());
  }
  ApiResult<ExecutionRecord> redrive(const Caller& caller, const std::string& arn) {
    auto p = std::make_shared<std::promise<ApiResult<ExecutionRecord>>>();
    ops_->redrive_execution_async(
        caller, arn, [p](ApiResult<ExecutionRecord> r) { p->set_value(std::move(r)); });
    return wait(p->get_future());
  }

  // The whole audit log, oldest first, as lines.
  std::vector<std::string> audit_lines() {
    std::vector<AuditEntry> entries = audit_entries();
    std::vector<std::string> out;
    for (auto it = entries.rbegin(); it != entries.rend(); ++it) out.push_back(line(*it));
    return out;
  }
  std::vector<AuditEntry> audit_entries() {
    return ok(ops_->list_audit(admin(), {}, PageRequest{1000, ""})).items;
  }

  std::unique_ptr<ScratchDatabase> db_;
  ProbeStore* probe_ = nullptr;  // owned by the engine
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<StoreAuditLog> log_;
  std::unique_ptr<Operations> ops_;
  int requests_ = 0;
};

INSTANTIATE_TEST_SUITE_P(Backends, OperationsTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& info) { return info.param; });

// --- JSON inside strings ------------------------------------------------------------------------

TEST_P(OperationsTest, JsonTextNestedDeeperThan64LevelsIsRefusedBeforeTheEngine) {
  create("Orders", kWaiting);
  const std::string deep = std::string(100'000, '[') + std::string(100'000, ']');
  EXPECT_EQ(failure(start(admin(), kMachineArn, "deep", deep)),
            "InvalidExecutionInput: Invalid State Machine Execution Input: the input nests arrays "
            "and objects deeper than 64 levels (at byte 64)");
  EXPECT_EQ(failure(ops_->start_sync_execution(admin(), {kMachineArn, "deep2", deep, ""}, 1s)),
            "InvalidExecutionInput: Invalid State Machine Execution Input: the input nests arrays "
            "and objects deeper than 64 levels (at byte 64)");
  // Brackets inside strings do not count; 64 levels are taken.
  const std::string deepest = std::string(63, '[') + R"("[[[[{{{{")" + std::string(63, ']');
  EXPECT_EQ(ok(start(admin(), kMachineArn, "deepest", "[" + deepest + "]")).status, "RUNNING");

  const std::string definition = R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":)" +
                                 deep + R"(,"End":true}}})";
  const std::string why =
      "the definition nests arrays and objects deeper than 64 levels (at byte 114)";
  auto created = ops_->create_state_machine(admin(), {"Deep", definition, "STANDARD", "", "[]"});
  EXPECT_EQ(failure(created), "InvalidDefinition: Invalid State Machine Definition: " + why);
  ASSERT_EQ(std::get<ApiError>(created).diagnostics.size(), 1u);
  EXPECT_EQ(std::get<ApiError>(created).diagnostics[0].message, why);
  EXPECT_EQ(failure(ops_->update_state_machine(admin(), kMachineArn, definition, std::nullopt)),
            "InvalidDefinition: Invalid State Machine Definition: " + why);
  // AWS: a definition is at most 1048576 characters (not bytes).
  const std::string tail = R"(","End":true}}})";
  // A definition of exactly `chars` characters, its Result made of `one_char`.
  auto sized = [&](std::size_t chars, const std::string& one_char) {
    std::string out = R"({"StartAt":"P","States":{"P":{"Type":"Pass","Result":")";
    const std::size_t n = chars - out.size() - tail.size();
    for (std::size_t i = 0; i < n; ++i) out += one_char;
    return out + tail;
  };
  const std::string limit =
      "ValidationException: 1 validation error detected: Value at 'definition' failed to "
      "satisfy constraint: Member must have length less than or equal to 1048576";
  EXPECT_EQ(failure(ops_->create_state_machine(
                admin(), {"Big", sized(1048577, "x"), "STANDARD", "", "[]"})),
            limit);
  EXPECT_EQ(failure(ops_->update_state_machine(admin(), kMachineArn, sized(1048577, "x"),
                                               std::nullopt)),
            limit);
  EXPECT_EQ(failure(ops_->validate_definition(admin(), sized(1048577, "x"), "STANDARD")), limit);
  // 1048576 characters of two bytes each are taken.
  EXPECT_EQ(ok(ops_->create_state_machine(
                   admin(), {"Wide", sized(1048576, "\xc3\xa9"), "STANDARD", "", "[]"}))
                .name,
            "Wide");
  Validation v = ok(ops_->validate_definition(read_only(), definition, "STANDARD"));
  EXPECT_FALSE(v.ok);
  ASSERT_EQ(v.diagnostics.size(), 1u);
  EXPECT_EQ(v.diagnostics[0].code, "NESTING_TOO_DEEP");
  EXPECT_EQ(v.diagnostics[0].message, why);
}

// --- The audit log ------------------------------------------------------------------------------

TEST_P(OperationsTest, EachMutatingCallLeavesOneAuditEntry) {
  const Micros before = wall_now();
  const std::string who = "admin-key|192.0.2.10:50000|";
  // Request ids r1, r2, ... in call order.
  create("Orders", kWaiting);
  ok(ops_->update_state_machine(admin(), kMachineArn, std::string(kWaitingV2), std::nullopt));
  EXPECT_EQ(
      failure(ops_->update_state_machine(admin(), kGhostArn, std::string(kPass), std::nullopt)),
      std::string("StateMachineDoesNotExist: State Machine Does Not Exist: '") + kGhostArn + "'");
  EXPECT_EQ(ok(start(admin(), kMachineArn, "run-1")).status, "RUNNING");
  EXPECT_EQ(std::get<ApiError>(start(admin(), kMachineArn, "run-2", "{")).type,
            "InvalidExecutionInput");
  EXPECT_EQ(ok(stop(admin(), kRunArn)).status, "ABORTED");
  EXPECT_EQ(ok(redrive(admin(), kRunArn)).status, "RUNNING");
  EXPECT_EQ(std::get<ApiError>(redrive(admin(), kRunArn)).type, "ExecutionNotRedrivable");
  const std::string missing = std::string(kRunArn) + "-missing";
  EXPECT_EQ(std::get<ApiError>(stop(admin(), missing)).type, "ExecutionDoesNotExist");
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), kMachineArn, {{"env", "prod"}})));
  EXPECT_TRUE(ok(ops_->untag_resource(admin(), kMachineArn, {"env"})));
  create("Quick", kPass, "EXPRESS");
  const std::string quick = "arn:aws:states:local:000000000000:stateMachine:Quick";
  ExecutionRecord sync = ok(ops_->start_sync_execution(admin(), {quick, "q1", "{}", ""}, 5s));
  EXPECT_EQ(sync.status, "SUCCEEDED");
  EXPECT_TRUE(ok(ops_->delete_state_machine(admin(), kMachineArn)));

  // Reads leave nothing.
  ops_->describe_state_machine(admin(), quick);
  ops_->list_state_machines(admin(), PageRequest{10, ""});
  ops_->describe_execution(admin(), kRunArn);
  ops_->list_executions(admin(), {}, PageRequest{10, ""});
  ops_->get_history(admin(), kRunArn, PageRequest{10, ""}, false);
  ops_->list_tags_for_resource(admin(), quick);
  ops_->validate_definition(admin(), kPass, "STANDARD");
  ops_->describe_state_machine_for_execution(admin(), kRunArn);

  const Micros after = wall_now();
  std::vector<AuditEntry> entries = audit_entries();
  std::vector<std::string> lines;
  for (auto it = entries.rbegin(); it != entries.rend(); ++it) lines.push_back(line(*it));
  const std::string m = kMachineArn;
  const std::string x = kRunArn;
  EXPECT_THAT(
      lines,
      ElementsAre(who + "CreateStateMachine|" + m + "|ok|r1",
                  who + "UpdateStateMachine|" + m + "|ok|r2",
                  who + "UpdateStateMachine|" + kGhostArn + "|StateMachineDoesNotExist|r3",
                  who + "StartExecution|" + x + "|ok|r4",
                  who + "StartExecution|" + m + "|InvalidExecutionInput|r5",
                  who + "StopExecution|" + x + "|ok|r6", who + "RedriveExecution|" + x + "|ok|r7",
                  who + "RedriveExecution|" + x + "|ExecutionNotRedrivable|r8",
                  who + "StopExecution|" + missing + "|ExecutionDoesNotExist|r9",
                  who + "TagResource|" + m + "|ok|r10", who + "UntagResource|" + m + "|ok|r11",
                  who + "CreateStateMachine|" + quick + "|ok|r12",
                  who + "StartSyncExecution|" +
                      "arn:aws:states:local:000000000000:execution:Quick:q1|ok|r13",
                  who + "DeleteStateMachine|" + m + "|ok|r14"));
  // Ids increase with time; times are the wall clock of the calls.
  for (std::size_t i = 0; i < entries.size(); ++i) {
    EXPECT_GE(entries[i].time, before);
    EXPECT_LE(entries[i].time, after);
    if (i > 0) {
      EXPECT_LT(entries[i].id, entries[i - 1].id);
      EXPECT_LE(entries[i].time, entries[i - 1].time);
    }
  }
}

TEST_P(OperationsTest, AuditLogFiltersAndPagesThroughOperations) {
  create("Orders", kWaiting);
  for (int i = 0; i < 5; ++i) ok(start(admin(), kMachineArn, "run-" + std::to_string(i)));
  Caller other = admin();
  other.key_id = "deployer";
  ok(ops_->tag_resource(other, kMachineArn, {{"a", "b"}}));

  auto by_key = ok(ops_->list_audit(admin(), {"deployer", "", ""}, PageRequest{10, ""}));
  ASSERT_EQ(by_key.items.size(), 1u);
  EXPECT_EQ(by_key.items[0].operation, "TagResource");
  auto starts = ok(ops_->list_audit(admin(), {"", "StartExecution", ""}, PageRequest{2, ""}));
  ASSERT_EQ(starts.items.size(), 2u);
  EXPECT_EQ(starts.items[0].resource, "arn:aws:states:local:000000000000:execution:Orders:run-4");
  ASSERT_NE(starts.next_token, "");
  auto more =
      ok(ops_->list_audit(admin(), {"", "StartExecution", ""}, PageRequest{10, starts.next_token}));
  ASSERT_EQ(more.items.size(), 3u);
  EXPECT_EQ(more.items[2].resource, "arn:aws:states:local:000000000000:execution:Orders:run-0");
  EXPECT_EQ(more.next_token, "");
  auto on_machine = ok(ops_->list_audit(admin(), {"", "", kMachineArn}, PageRequest{10, ""}));
  std::vector<std::string> ops;
  for (const auto& e : on_machine.items) ops.push_back(e.operation);
  EXPECT_THAT(ops, ElementsAre("TagResource", "CreateStateMachine"));
  EXPECT_EQ(failure(ops_->list_audit(admin(), {}, PageRequest{10, "nope"})),
            "InvalidToken: invalid next_token");
}

TEST_P(OperationsTest, MutatingCallsDoNotWaitForTheAuditStore) {
  // The audit writer is stuck in the store (a slow disk, a lock): API calls go on.
  probe_->close_gate();
  auto calls = std::async(std::launch::async, [&] {
    create("Orders", kWaiting);
    for (int i = 0; i < 3; ++i) ok(start(admin(), kMachineArn, "run-" + std::to_string(i)));
    ok(stop(admin(), "arn:aws:states:local:000000000000:execution:Orders:run-0"));
    ok(ops_->tag_resource(admin(), kMachineArn, {{"k", "v"}}));
  });
  ASSERT_EQ(calls.wait_for(10s), std::future_status::ready);
  calls.get();
  EXPECT_EQ(probe_->appends(), 0);
  probe_->open_gate();
  EXPECT_EQ(audit_lines().size(), 6u);
  EXPECT_LE(probe_->appends(), 6);
}

// --- Roles ----------------------------------------------------------------------------------

TEST_P(OperationsTest, ReadOnlyCallerIsDeniedWritesAndCanRead) {
  create("Orders", kWaiting, "STANDARD", R"([{"key":"team","value":"a"}])");
  ok(start(admin(), kMachineArn, "run-1"));
  const Caller ro = read_only();
  const std::string m = kMachineArn;
  const std::string x = kRunArn;
  const std::string denied =
      "AccessDeniedException: User: ro is not authorized to perform: states:";

  EXPECT_EQ(failure(ops_->create_state_machine(ro, {"Other", kPass, "STANDARD", "", "[]"})),
            denied + "CreateStateMachine");
  EXPECT_EQ(failure(ops_->update_state_machine(ro, m, std::string(kPass), std::nullopt)),
            denied + "UpdateStateMachine on resource: " + m);
  EXPECT_EQ(failure(ops_->delete_state_machine(ro, m)),
            denied + "DeleteStateMachine on resource: " + m);
  EXPECT_EQ(failure(start(ro, m, "run-2")), denied + "StartExecution on resource: " + m);
  EXPECT_EQ(failure(ops_->start_sync_execution(ro, {m, "run-3", "{}", ""}, 1s)),
            denied + "StartSyncExecution on resource: " + m);
  EXPECT_EQ(failure(stop(ro, x)), denied + "StopExecution on resource: " + x);
  EXPECT_EQ(failure(redrive(ro, x)), denied + "RedriveExecution on resource: " + x);
  EXPECT_EQ(failure(ops_->tag_resource(ro, m, {{"team", "b"}})),
            denied + "TagResource on resource: " + m);
  EXPECT_EQ(failure(ops_->untag_resource(ro, m, {"team"})),
            denied + "UntagResource on resource: " + m);

  // Reads work.
  StateMachineRecord machine = ok(ops_->describe_state_machine(ro, m));
  EXPECT_EQ(machine.revision_id, "1");
  EXPECT_EQ(machine.definition, kWaiting);
  EXPECT_EQ(ok(ops_->list_state_machines(ro, PageRequest{10, ""})).items.size(), 1u);
  ExecutionRecord run = ok(ops_->describe_execution(ro, x));
  EXPECT_EQ(run.status, "RUNNING");
  EXPECT_EQ(ok(ops_->list_executions(ro, {m, ""}, PageRequest{10, ""})).items.size(), 1u);
  EXPECT_FALSE(ok(ops_->get_history(ro, x, PageRequest{10, ""}, false)).items.empty());
  EXPECT_THAT(tag_pairs(ok(ops_->list_tags_for_resource(ro, m))), ElementsAre("team=a"));
  EXPECT_TRUE(ok(ops_->validate_definition(ro, kPass, "STANDARD")).ok);
  EXPECT_EQ(ok(ops_->describe_state_machine_for_execution(ro, x)).revision_id, "1");

  // The denied calls changed nothing.
  EXPECT_EQ(ok(ops_->list_executions(admin(), {m, ""}, PageRequest{10, ""})).items.size(), 1u);
  EXPECT_EQ(ok(ops_->describe_execution(admin(), x)).status, "RUNNING");
  EXPECT_THAT(tag_pairs(ok(ops_->list_tags_for_resource(admin(), m))), ElementsAre("team=a"));
}

TEST_P(OperationsTest, OnlyAdminsReadTheAuditLog) {
  create("Orders", kPass);
  EXPECT_EQ(failure(ops_->list_audit(read_only(), {}, PageRequest{10, ""})),
            "AccessDeniedException: User: ro is not authorized to read the audit log");
  Caller worker;
  worker.key_id = "w1";
  worker.role = Role::Worker;
  EXPECT_EQ(failure(ops_->list_audit(worker, {}, PageRequest{10, ""})),
            "AccessDeniedException: User: w1 is not authorized to read the audit log");
  EXPECT_EQ(ok(ops_->list_audit(admin(), {}, PageRequest{10, ""})).items.size(), 1u);
  // A worker key cannot use the management API at all.
  EXPECT_EQ(failure(ops_->describe_state_machine(worker, kMachineArn)),
            "AccessDeniedException: User: w1 is not authorized to perform: "
            "states:DescribeStateMachine on resource: " +
                std::string(kMachineArn));
}

TEST(OperationsWithoutAudit, ListAuditSaysNoLogIsKept) {
  ScratchDatabase db("sqlite", "ops");
  {
    auto store = engine::open_store(db.url());
    ASSERT_TRUE(store.ok());
    engine::EngineOptions options;
    options.partitions = 1;
    engine::Engine engine(std::move(*store), options);
    ASSERT_TRUE(engine.start().ok());
    Operations ops(engine, nullptr);
    ok(ops.create_state_machine(Caller{}, {"Orders", kPass, "STANDARD", "", "[]"}));
    EXPECT_EQ(failure(ops.list_audit(Caller{}, {}, PageRequest{10, ""})),
              "ValidationException: no audit log is kept");
  }
}

// --- ARN checks -------------------------------------------------------------------------------

TEST_P(OperationsTest, MalformedArnsAreInvalidArn) {
  create("Orders", kWaiting);
  ok(start(admin(), kMachineArn, "run-1"));
  auto invalid = [](const std::string& why, const std::string& arn) {
    return "InvalidArn: Invalid Arn: '" + why + ": " + arn + "'";
  };
  const std::string prefix = "Invalid ARN prefix";
  const std::string service = "Service not valid in this context";
  const std::string type = "Resource type not valid in this context";
  const std::string name = "Resource name not valid";

  for (const std::string arn :
       {"", "Orders", "arn:aws:states:local", "arn::states:local:0:stateMachine:M",
        "aws:states:local:000000000000:stateMachine:Orders:x"}) {
    EXPECT_EQ(failure(ops_->describe_state_machine(admin(), arn)), invalid(prefix, arn)) << arn;
  }
  const std::string lambda = "arn:aws:lambda:local:000000000000:stateMachine:Orders";
  EXPECT_EQ(failure(ops_->describe_state_machine(admin(), lambda)), invalid(service, lambda));
  // An execution ARN where a machine is expected, and the other way round.
  EXPECT_EQ(failure(ops_->describe_state_machine(admin(), kRunArn)), invalid(type, kRunArn));
  EXPECT_EQ(failure(ops_->describe_execution(admin(), kMachineArn)), invalid(type, kMachineArn));
  EXPECT_EQ(failure(ops_->tag_resource(admin(), kRunArn, {{"a", "b"}})), invalid(type, kRunArn));
  // Names: empty, or too many parts for the kind.
  const std::string empty_name = "arn:aws:states:local:000000000000:stateMachine:";
  EXPECT_EQ(
      failure(ops_->update_state_machine(admin(), empty_name, std::string(kPass), std::nullopt)),
      invalid(name, empty_name));
  const std::string versioned = std::string(kMachineArn) + ":1";
  EXPECT_EQ(failure(ops_->delete_state_machine(admin(), versioned)), invalid(name, versioned));
  const std::string short_execution = "arn:aws:states:local:000000000000:execution:run-1";
  EXPECT_EQ(failure(stop(admin(), short_execution)), invalid(name, short_execution));
  EXPECT_EQ(failure(redrive(admin(), short_execution)), invalid(name, short_execution));
  EXPECT_EQ(failure(ops_->get_history(admin(), short_execution, PageRequest{10, ""}, false)),
            invalid(name, short_execution));
  EXPECT_EQ(failure(start(admin(), short_execution, "x")), invalid(type, short_execution));
  const std::string double_colon = "arn:aws:states:local:000000000000:execution:Orders::x";
  EXPECT_EQ(failure(ops_->describe_state_machine_for_execution(admin(), double_colon)),
            invalid(name, double_colon));
  EXPECT_EQ(failure(ops_->list_executions(admin(), {lambda, ""}, PageRequest{10, ""})),
            invalid(service, lambda));

  // A well-formed ARN of nothing is not InvalidArn.
  EXPECT_EQ(
      failure(ops_->describe_state_machine(admin(), kGhostArn)),
      std::string("StateMachineDoesNotExist: State Machine Does Not Exist: '") + kGhostArn + "'");
  // Nothing was changed by the refused calls.
  EXPECT_EQ(ok(ops_->describe_state_machine(admin(), kMachineArn)).revision_id, "1");
  EXPECT_EQ(ok(ops_->describe_execution(admin(), kRunArn)).status, "RUNNING");
}

// --- Tags ---------------------------------------------------------------------------------------

TEST_P(OperationsTest, TagsMergeReplaceAndUntag) {
  create("Orders", kWaiting, "STANDARD", R"([{"key":"team","value":"a"}])");
  const std::string m = kMachineArn;
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), m, {{"team", "b"}, {"env", "prod"}})));
  EXPECT_THAT(tag_pairs(ok(ops_->list_tags_for_resource(admin(), m))),
              ElementsAre("team=b", "env=prod"));
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), m, {{"cost", ""}})));
  EXPECT_THAT(tag_pairs(ok(ops_->list_tags_for_resource(admin(), m))),
              ElementsAre("team=b", "env=prod", "cost="));
  // Untagging keys that are not there is fine.
  EXPECT_TRUE(ok(ops_->untag_resource(admin(), m, {"team", "nope"})));
  EXPECT_THAT(tag_pairs(ok(ops_->list_tags_for_resource(admin(), m))),
              ElementsAre("env=prod", "cost="));
  EXPECT_TRUE(ok(ops_->untag_resource(admin(), m, {"env", "cost"})));
  EXPECT_THAT(ok(ops_->list_tags_for_resource(admin(), m)), IsEmpty());

  // Tagging does not make a revision nor touch the definition.
  StateMachineRecord after = ok(ops_->describe_state_machine(admin(), m));
  EXPECT_EQ(after.revision_id, "1");
  EXPECT_EQ(after.definition, kWaiting);
  EXPECT_EQ(after.tags_json, "[]");
}

TEST_P(OperationsTest, TagLimitsAndMissingResources) {
  create("Orders", kWaiting, "STANDARD", R"([{"key":"team","value":"a"}])");
  const std::string m = kMachineArn;
  // 1 + 49 = 50 tags: the most a resource has.
  std::vector<Tag> many;
  for (int i = 0; i < 49; ++i) many.push_back({"k" + std::to_string(i), "v"});
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), m, many)));
  EXPECT_EQ(ok(ops_->list_tags_for_resource(admin(), m)).size(), 50u);
  // Replacing values keeps the count.
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), m, {{"team", "z"}, {"k0", "w"}})));
  EXPECT_EQ(failure(ops_->tag_resource(admin(), m, {{"one-more", "x"}})),
            "TooManyTags: Too many tags: a resource has at most 50 tags");
  std::vector<Tag> now = ok(ops_->list_tags_for_resource(admin(), m));
  ASSERT_EQ(now.size(), 50u);
  EXPECT_EQ(now[0].key + "=" + now[0].value, "team=z");
  EXPECT_EQ(now[1].key + "=" + now[1].value, "k0=w");

  EXPECT_EQ(failure(ops_->tag_resource(admin(), m, {{"", "x"}})),
            "ValidationException: Tag keys must be 1 to 128 characters long");
  EXPECT_EQ(failure(ops_->tag_resource(admin(), m, {{std::string(129, 'k'), "x"}})),
            "ValidationException: Tag keys must be 1 to 128 characters long");
  EXPECT_EQ(failure(ops_->tag_resource(admin(), m, {{"k", std::string(257, 'v')}})),
            "ValidationException: Tag values must be at most 256 characters long");
  EXPECT_TRUE(ok(ops_->untag_resource(admin(), m, {"k1"})));
  EXPECT_TRUE(ok(ops_->tag_resource(admin(), m, {{std::string(128, 'k'), std::string(256, 'v')}})));

  const std::string g = kGhostArn;
  const std::string not_found = "ResourceNotFound: Resource not found: '" + g + "'";
  EXPECT_EQ(failure(ops_->tag_resource(admin(), g, {{"a", "b"}})), not_found);
  EXPECT_EQ(failure(ops_->untag_resource(admin(), g, {"a"})), not_found);
  EXPECT_EQ(failure(ops_->list_tags_for_resource(admin(), g)), not_found);
  // A tag call never creates the machine.
  EXPECT_EQ(std::get<ApiError>(ops_->describe_state_machine(admin(), g)).type,
            "StateMachineDoesNotExist");
}

// --- Validation -------------------------------------------------------------------------------

TEST_P(OperationsTest, ValidateDefinitionReportsEveryProblem) {
  Validation good = ok(ops_->validate_definition(admin(), kPass, "STANDARD"));
  EXPECT_TRUE(good.ok);
  for (const auto& d : good.diagnostics) EXPECT_NE(d.severity, asl::Severity::Error) << d.message;
  EXPECT_TRUE(ok(ops_->validate_definition(admin(), kPass, "EXPRESS")).ok);

  Validation bad = ok(ops_->validate_definition(admin(), R"({"StartAt":"A","States":{
      "A":{"Type":"Pass","Next":"Nowhere"},
      "B":{"Type":"Pass","End":true}}})",
                                                "STANDARD"));
  EXPECT_FALSE(bad.ok);
  std::vector<std::string> problems;
  for (const auto& d : bad.diagnostics) {
    if (d.severity == asl::Severity::Error)
      problems.push_back(asl::to_string(d) + " [" + d.code + "]");
  }
  EXPECT_THAT(problems, ElementsAre("/States/A/Next: there is no state named 'Nowhere' "
                                    "[MISSING_TRANSITION_TARGET]",
                                    "/States/B: state 'B' cannot be reached from StartAt ('A') "
                                    "[UNREACHABLE_STATE]"));

  Validation not_json = ok(ops_->validate_definition(admin(), "{\"StartAt\":", "EXPRESS"));
  EXPECT_FALSE(not_json.ok);
  ASSERT_EQ(not_json.diagnostics.size(), 1u);
  EXPECT_EQ(not_json.diagnostics[0].code, "INVALID_JSON");

  // AWS: type is STANDARD or EXPRESS, spelled so.
  for (const std::string type : {"express", "BOGUS", ""}) {
    EXPECT_EQ(failure(ops_->validate_definition(admin(), kPass, type)),
              "ValidationException: 1 validation error detected: Value '" + type +
                  "' at 'type' failed to satisfy constraint: Member must satisfy enum value set: "
                  "[STANDARD, EXPRESS]")
        << type;
  }
  // Validating creates nothing and is not audited (it changes nothing).
  EXPECT_THAT(ok(ops_->list_state_machines(admin(), PageRequest{10, ""})).items, IsEmpty());
  EXPECT_THAT(audit_lines(), IsEmpty());
}

// --- Revisions ----------------------------------------------------------------------------------

TEST_P(OperationsTest, DescribeStateMachineForExecutionGivesTheRevisionItStartedWith) {
  StateMachineRecord v1 = create("Orders", kWaiting);
  ExecutionRecord first = ok(start(admin(), kMachineArn, "run-1"));
  StateMachineRecord v2 =
      ok(ops_->update_state_machine(admin(), kMachineArn, std::string(kWaitingV2), std::nullopt));
  EXPECT_EQ(v2.revision_id, "2");
  ExecutionRecord second = ok(start(admin(), kMachineArn, "run-2"));

  StateMachineRecord for_first = ok(ops_->describe_state_machine_for_execution(admin(), first.arn));
  EXPECT_EQ(for_first.arn, kMachineArn);
  EXPECT_EQ(for_first.name, "Orders");
  EXPECT_EQ(for_first.revision_id, "1");
  EXPECT_EQ(for_first.definition, kWaiting);
  EXPECT_EQ(for_first.updated, v1.created);
  StateMachineRecord for_second =
      ok(ops_->describe_state_machine_for_execution(admin(), second.arn));
  EXPECT_EQ(for_second.revision_id, "2");
  EXPECT_EQ(for_second.definition, kWaitingV2);
  EXPECT_EQ(for_second.updated, v2.updated);
  // The machine itself is at revision 2.
  EXPECT_EQ(ok(ops_->describe_state_machine(admin(), kMachineArn)).definition, kWaitingV2);

  const std::string missing = std::string(kRunArn) + "-none";
  EXPECT_EQ(failure(ops_->describe_state_machine_for_execution(admin(), missing)),
            "ExecutionDoesNotExist: Execution Does Not Exist: '" + missing + "'");
}

// --- Audit of failed and refused calls -------------------------------------------------------

// Every failed mutating call leaves an entry whose outcome is the error the caller got, on the
// ARN acted on. Today a failed CreateStateMachine names the bare machine name as its resource;
// TagResource of a missing machine records "StateMachineDoesNotExist" while answering
// "ResourceNotFound"; UntagResource of a missing machine, TooManyTags and tag validation
// failures leave no entry.
TEST_P(OperationsTest, FailedCallsAreAuditedWithTheErrorTheCallerGot) {
  create("Orders", kWaiting);
  std::vector<Tag> many;
  for (int i = 0; i < 51; ++i) many.push_back({"k" + std::to_string(i), "v"});
  ops_->create_state_machine(admin(), {"Orders", kPass, "STANDARD", "", "[]"});  // r2
  ops_->tag_resource(admin(), kGhostArn, {{"a", "b"}});                          // r3
  ops_->untag_resource(admin(), kGhostArn, {"a"});                               // r4
  ops_->tag_resource(admin(), kMachineArn, many);                                // r5
  ops_->tag_resource(admin(), kMachineArn, {{"", "x"}});                         // r6
  const std::string who = "admin-key|192.0.2.10:50000|";
  const std::string m = kMachineArn;
  const std::string g = kGhostArn;
  EXPECT_THAT(audit_lines(),
              ElementsAre(who + "CreateStateMachine|" + m + "|ok|r1",
                          who + "CreateStateMachine|" + m + "|StateMachineAlreadyExists|r2",
                          who + "TagResource|" + g + "|ResourceNotFound|r3",
                          who + "UntagResource|" + g + "|ResourceNotFound|r4",
                          who + "TagResource|" + m + "|TooManyTags|r5",
                          who + "TagResource|" + m + "|ValidationException|r6"));
}

// Refused mutating calls (a denied role, a malformed ARN) are audited too: who tried what.
TEST_P(OperationsTest, RefusedMutatingCallsAreAudited) {
  create("Orders", kWaiting);
  ops_->delete_state_machine(read_only(), kMachineArn);
  ops_->delete_state_machine(admin(), "not-an-arn");  // r2
  EXPECT_THAT(
      audit_lines(),
      ElementsAre(
          "admin-key|192.0.2.10:50000|CreateStateMachine|" + std::string(kMachineArn) + "|ok|r1",
          "ro||DeleteStateMachine|" + std::string(kMachineArn) + "|AccessDeniedException|",
          "admin-key|192.0.2.10:50000|DeleteStateMachine|not-an-arn|InvalidArn|r2"));
}

}  // namespace
}  // namespace stepd::server::test
