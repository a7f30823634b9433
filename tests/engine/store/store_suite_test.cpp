// The backend-agnostic Store tests; each backend instantiates StoreSuite (store_suite.hpp).
#include "store_suite.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace stepd::engine::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Reads the history of `arn` in pages of 3 (newest first when `reverse`), each page from the
// token of the one before, and expects exactly `pages`: a token after each but the last.
void expect_history_pages(Store& store, const std::string& arn, bool reverse,
                          const std::vector<std::vector<HistoryEvent>>& pages) {
  std::string token;
  for (std::size_t i = 0; i < pages.size(); ++i) {
    Result<Page<HistoryEvent>> p = store.get_history(arn, page(3, token), reverse);
    ASSERT_OK(p);
    EXPECT_EQ(p->items, pages[i]) << "page " << i + 1;
    if (i + 1 < pages.size()) {
      ASSERT_NE(p->next_token, "") << "page " << i + 1;
    } else {
      EXPECT_EQ(p->next_token, "") << "the last page";
    }
    token = p->next_token;
  }
}

TaskRecord task(const std::string& token, const ExecutionRecord& e, const std::string& state) {
  TaskRecord t = scheduled_task(token, e, state, "arn:aws:states:::activity:work", kT0 + 10);
  t.activity_arn = "arn:aws:states:us-east-1:123456789012:activity:work";
  t.input = R"({"task":")" + token + R"("})";
  t.timeout_due = kT0 + 1'000'000;
  return t;
}

// --- Schema -------------------------------------------------------------------------------------

TEST_P(StoreSuite, MigrateIsIdempotent) {
  Result<int> v1 = store().schema_version();
  ASSERT_OK(v1);
  EXPECT_GE(*v1, 1);
  ASSERT_OK(store().migrate());
  ASSERT_OK(store().migrate());
  Result<int> v2 = store().schema_version();
  ASSERT_OK(v2);
  EXPECT_EQ(*v2, *v1);
  // Data survives a repeated migrate.
  ASSERT_OK(store().create_state_machine(machine("m")));
  ASSERT_OK(store().migrate());
  ASSERT_OK(store().get_state_machine(machine_arn("m")));
}

// --- State machines -----------------------------------------------------------------------------

TEST_P(StoreSuite, CreateAndGetStateMachine) {
  StateMachineRecord m = machine("orders");
  ASSERT_OK(store().create_state_machine(m));
  Result<StateMachineRecord> got = store().get_state_machine(m.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, m);
  Result<RevisionRecord> rev = store().get_revision(m.arn, "1");
  ASSERT_OK(rev);
  EXPECT_EQ(*rev, first_revision(m));
}

TEST_P(StoreSuite, CreateStateMachineTwiceIsAlreadyExists) {
  StateMachineRecord m = machine("orders");
  ASSERT_OK(store().create_state_machine(m));
  StateMachineRecord other = m;
  other.definition = "{}";
  expect_error(store().create_state_machine(other), ErrorCode::AlreadyExists,
               "state machine " + m.arn + " already exists");
  Result<StateMachineRecord> got = store().get_state_machine(m.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, m);
}

TEST_P(StoreSuite, MissingStateMachineAndRevisionAreNotFound) {
  expect_error(store().get_state_machine(machine_arn("nope")), ErrorCode::NotFound,
               "state machine " + machine_arn("nope") + " does not exist");
  ASSERT_OK(store().create_state_machine(machine("m")));
  expect_error(store().get_revision(machine_arn("m"), "7"), ErrorCode::NotFound,
               "revision 7 of state machine " + machine_arn("m") + " does not exist");
  expect_error(store().get_revision(machine_arn("nope"), "1"), ErrorCode::NotFound,
               "revision 1 of state machine " + machine_arn("nope") + " does not exist");
}

TEST_P(StoreSuite, UpdateStateMachineAddsRevision) {
  StateMachineRecord m = machine("m");
  ASSERT_OK(store().create_state_machine(m));
  StateMachineRecord m2 = m;
  m2.definition = R"({"StartAt":"Q","States":{"Q":{"Type":"Succeed"}}})";
  m2.role_arn = "arn:aws:iam::123456789012:role/other";
  m2.revision_id = "2";
  m2.description = "changed";
  m2.updated = kT0 + 5;
  RevisionRecord r2{m.arn, "2", m2.definition, m2.role_arn, kT0 + 5};
  ASSERT_OK(store().update_state_machine(m2, r2));

  Result<StateMachineRecord> got = store().get_state_machine(m.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, m2);
  Result<RevisionRecord> rev1 = store().get_revision(m.arn, "1");
  ASSERT_OK(rev1);
  EXPECT_EQ(*rev1, first_revision(m));
  Result<RevisionRecord> rev2 = store().get_revision(m.arn, "2");
  ASSERT_OK(rev2);
  EXPECT_EQ(*rev2, r2);

  // A revision id already taken: refused, nothing changes.
  StateMachineRecord m3 = m2;
  m3.description = "third";
  RevisionRecord r_dup{m.arn, "2", "{}", m2.role_arn, kT0 + 9};
  expect_error(store().update_state_machine(m3, r_dup), ErrorCode::AlreadyExists,
               "revision 2 of state machine " + m.arn + " already exists");
  got = store().get_state_machine(m.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, m2);
  rev2 = store().get_revision(m.arn, "2");
  ASSERT_OK(rev2);
  EXPECT_EQ(*rev2, r2);
}

TEST_P(StoreSuite, UpdateMissingStateMachineIsNotFound) {
  StateMachineRecord m = machine("ghost");
  expect_error(store().update_state_machine(m, first_revision(m)), ErrorCode::NotFound,
               "state machine " + m.arn + " does not exist");
  expect_error(store().get_revision(m.arn, "1"), ErrorCode::NotFound,
               "revision 1 of state machine " + m.arn + " does not exist");
}

TEST_P(StoreSuite, ListStateMachinesPagesByName) {
  for (const char* name : {"delta", "alpha", "echo", "charlie", "bravo"}) {
    ASSERT_OK(store().create_state_machine(machine(name)));
  }
  Result<Page<StateMachineRecord>> p1 = store().list_state_machines(page(2));
  ASSERT_OK(p1);
  EXPECT_THAT(names_of(p1->items), ElementsAre("alpha", "bravo"));
  EXPECT_EQ(p1->items[0], machine("alpha"));
  ASSERT_NE(p1->next_token, "");
  Result<Page<StateMachineRecord>> p2 = store().list_state_machines(page(2, p1->next_token));
  ASSERT_OK(p2);
  EXPECT_THAT(names_of(p2->items), ElementsAre("charlie", "delta"));
  ASSERT_NE(p2->next_token, "");
  Result<Page<StateMachineRecord>> p3 = store().list_state_machines(page(2, p2->next_token));
  ASSERT_OK(p3);
  EXPECT_THAT(names_of(p3->items), ElementsAre("echo"));
  EXPECT_EQ(p3->next_token, "");

  // A page that ends exactly at the last machine has no token.
  Result<Page<StateMachineRecord>> all = store().list_state_machines(page(5));
  ASSERT_OK(all);
  EXPECT_THAT(names_of(all->items), ElementsAre("alpha", "bravo", "charlie", "delta", "echo"));
  EXPECT_EQ(all->next_token, "");
}

TEST_P(StoreSuite, ListStateMachinesEmpty) {
  Result<Page<StateMachineRecord>> p = store().list_state_machines(page(10));
  ASSERT_OK(p);
  EXPECT_THAT(p->items, IsEmpty());
  EXPECT_EQ(p->next_token, "");
}

TEST_P(StoreSuite, PagingArgumentsAreChecked) {
  expect_error(store().list_state_machines(page(0)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 0");
  expect_error(store().list_state_machines(page(1001)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 1001");
  expect_error(store().list_state_machines(page(10, "garbage")), ErrorCode::InvalidArgument,
               "invalid next_token");
  expect_error(store().list_executions({}, page(-1)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got -1");
  expect_error(store().list_executions({}, page(10, "!!")), ErrorCode::InvalidArgument,
               "invalid next_token");
  start(execution("m", "e"));
  std::string arn = execution_arn("m", "e");
  expect_error(store().get_history(arn, page(0), false), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 0");
  expect_error(store().get_history(arn, page(10, "%%"), true), ErrorCode::InvalidArgument,
               "invalid next_token");
  ASSERT_OK(store().list_state_machines(page(1000)));
  ASSERT_OK(store().get_history(arn, page(1), false));
}

TEST_P(StoreSuite, DeleteStateMachineKeepsExecutions) {
  StateMachineRecord m = machine("m");
  ASSERT_OK(store().create_state_machine(m));
  ExecutionRecord e = execution("m", "run1");
  start(e);
  ASSERT_OK(store().delete_state_machine(m.arn));
  expect_error(store().get_state_machine(m.arn), ErrorCode::NotFound,
               "state machine " + m.arn + " does not exist");
  expect_error(store().get_revision(m.arn, "1"), ErrorCode::NotFound,
               "revision 1 of state machine " + m.arn + " does not exist");
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->machine_arn, m.arn);
  expect_error(store().delete_state_machine(m.arn), ErrorCode::NotFound,
               "state machine " + m.arn + " does not exist");
  // The name can be used again.
  ASSERT_OK(store().create_state_machine(m));
}

TEST_P(StoreSuite, SetTagsReplacesOnlyTheTags) {
  StateMachineRecord m = machine("tagged");
  ASSERT_OK(store().create_state_machine(m));
  StateMachineRecord m2 = m;
  m2.definition = R"({"StartAt":"Q","States":{"Q":{"Type":"Succeed"}}})";
  m2.revision_id = "2";
  m2.updated = kT0 + 7;
  RevisionRecord r2{m.arn, "2", m2.definition, m2.role_arn, kT0 + 7};
  ASSERT_OK(store().update_state_machine(m2, r2));

  const std::string tags = R"([{"key":"env","value":"prod"},{"key":"owner","value":"ops"}])";
  ASSERT_OK(store().set_state_machine_tags(m.arn, tags));
  Result<StateMachineRecord> got = store().get_state_machine(m.arn);
  ASSERT_OK(got);
  StateMachineRecord want = m2;
  want.tags_json = tags;
  EXPECT_EQ(*got, want);  // revision, definition, role, times: as they were
  Result<RevisionRecord> rev1 = store().get_revision(m.arn, "1");
  ASSERT_OK(rev1);
  EXPECT_EQ(*rev1, first_revision(m));
  Result<RevisionRecord> rev2 = store().get_revision(m.arn, "2");
  ASSERT_OK(rev2);
  EXPECT_EQ(*rev2, r2);
  expect_error(store().get_revision(m.arn, "3"), ErrorCode::NotFound,
               "revision 3 of state machine " + m.arn + " does not exist");

  // Replaced, not merged.
  ASSERT_OK(store().set_state_machine_tags(m.arn, "[]"));
  got = store().get_state_machine(m.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->tags_json, "[]");
  EXPECT_EQ(got->revision_id, "2");
  EXPECT_EQ(got->definition, m2.definition);

  // Another machine's tags are not touched.
  ASSERT_OK(store().create_state_machine(machine("other")));
  ASSERT_OK(store().set_state_machine_tags(m.arn, tags));
  Result<StateMachineRecord> other = store().get_state_machine(machine_arn("other"));
  ASSERT_OK(other);
  EXPECT_EQ(*other, machine("other"));
}

TEST_P(StoreSuite, SetTagsOfMissingMachineIsNotFound) {
  const std::string arn = machine_arn("ghost");
  expect_error(store().set_state_machine_tags(arn, "[]"), ErrorCode::NotFound,
               "state machine " + arn + " does not exist");
  expect_error(store().get_state_machine(arn), ErrorCode::NotFound,
               "state machine " + arn + " does not exist");
  // A deleted machine is missing too.
  ASSERT_OK(store().create_state_machine(machine("gone")));
  ASSERT_OK(store().delete_state_machine(machine_arn("gone")));
  expect_error(store().set_state_machine_tags(machine_arn("gone"), "[]"), ErrorCode::NotFound,
               "state machine " + machine_arn("gone") + " does not exist");
}

// --- Executions and commit ----------------------------------------------------------------------

TEST_P(StoreSuite, CreateExecution) {
  ExecutionRecord e = execution("m", "run1", kT0, 3);
  e.version = 42;        // ignored
  e.last_event_id = 99;  // ignored: from the events
  ASSERT_OK(store().commit(
      batch_of({create_write(e, {event(1, "ExecutionStarted", R"({"input":"{}"})"),
                                 event(2, "PassStateEntered", R"({"name":"P"})")})})));
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  ExecutionRecord want = e;
  want.version = 1;
  want.last_event_id = 2;
  EXPECT_EQ(*got, want);
}

TEST_P(StoreSuite, CreateAppliesUpdateOnTop) {
  ExecutionRecord e = execution("m", "quick");
  ExecutionWrite w =
      create_write(e, {event(1, "ExecutionStarted"), event(2, "ExecutionSucceeded")});
  w.update.status = "SUCCEEDED";
  w.update.output = R"({"done":true})";
  w.update.stop = kT0 + 7;
  ASSERT_OK(store().commit(batch_of({w})));
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  ExecutionRecord want = e;
  want.status = "SUCCEEDED";
  want.output = R"({"done":true})";
  want.stop = kT0 + 7;
  want.version = 1;
  want.last_event_id = 2;
  EXPECT_EQ(*got, want);
}

TEST_P(StoreSuite, MissingExecutionIsNotFound) {
  std::string arn = execution_arn("m", "nope");
  expect_error(store().get_execution(arn), ErrorCode::NotFound,
               "execution " + arn + " does not exist");
  expect_error(store().get_history(arn, page(10), false), ErrorCode::NotFound,
               "execution " + arn + " does not exist");
  Result<std::vector<FrameRecord>> frames = store().load_frames(arn);
  ASSERT_OK(frames);
  EXPECT_THAT(*frames, IsEmpty());
  Result<std::vector<MapResultRecord>> results = store().load_map_results(arn);
  ASSERT_OK(results);
  EXPECT_THAT(*results, IsEmpty());
  Result<std::vector<TaskRecord>> tasks = store().tasks_of_execution(arn);
  ASSERT_OK(tasks);
  EXPECT_THAT(*tasks, IsEmpty());
}

TEST_P(StoreSuite, EmptyBatchSucceeds) { ASSERT_OK(store().commit(CommitBatch{})); }

TEST_P(StoreSuite, CreateExistingExecutionIsConflict) {
  ExecutionRecord e = execution("m", "run1");
  start(e);
  ExecutionRecord again = e;
  again.input = R"({"other":1})";
  CommitConflict conflict;
  expect_error(
      store().commit(batch_of({create_write(again, {event(1, "ExecutionStarted")})}), &conflict),
      ErrorCode::Conflict, "execution " + e.arn + " already exists");
  EXPECT_THAT(conflict.stale_executions, ElementsAre(e.arn));
  EXPECT_THAT(conflict.lost_partitions, IsEmpty());
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->input, e.input);
  EXPECT_EQ(got->version, 1);
}

TEST_P(StoreSuite, CommitUpdatesExecutionAndBumpsVersion) {
  ExecutionRecord e = execution("m", "run1");
  start(e);
  ExecutionWrite w =
      step_write(e.arn, 1, {event(2, "PassStateEntered"), event(3, "PassStateExited")});
  ASSERT_OK(store().commit(batch_of({w})));
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->last_event_id, 3);
  EXPECT_EQ(got->status, "RUNNING");
  EXPECT_EQ(got->output, std::nullopt);

  ExecutionWrite fail = step_write(e.arn, 2, {event(4, "ExecutionFailed")});
  fail.update.status = "FAILED";
  fail.update.error = "States.TaskFailed";
  fail.update.cause = "boom";
  fail.update.stop = kT0 + 100;
  ASSERT_OK(store().commit(batch_of({fail})));
  got = store().get_execution(e.arn);
  ASSERT_OK(got);
  ExecutionRecord want = e;
  want.status = "FAILED";
  want.error = "States.TaskFailed";
  want.cause = "boom";
  want.stop = kT0 + 100;
  want.version = 3;
  want.last_event_id = 4;
  EXPECT_EQ(*got, want);

  // Redrive fields; fields not given keep their values.
  ExecutionWrite redrive = step_write(e.arn, 3, {event(5, "ExecutionRedriven")});
  redrive.update.status = "RUNNING";
  redrive.update.redrive_count = 1;
  redrive.update.redrive_date = kT0 + 200;
  ASSERT_OK(store().commit(batch_of({redrive})));
  got = store().get_execution(e.arn);
  ASSERT_OK(got);
  want.status = "RUNNING";
  want.redrive_count = 1;
  want.redrive_date = kT0 + 200;
  want.version = 4;
  want.last_event_id = 5;
  EXPECT_EQ(*got, want);

  // A write without events still bumps the version.
  ASSERT_OK(store().commit(batch_of({step_write(e.arn, 4)})));
  got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 5);
  EXPECT_EQ(got->last_event_id, 5);
}

// Saga extension (docs/saga.md): the compensation column is set at create, replaced by an update
// that names it and kept by one that does not; listing returns it too.
TEST_P(StoreSuite, CompensationColumnIsReplacedOnlyWhenGiven) {
  ExecutionRecord e = execution("m", "saga");
  e.compensation = "[]";
  ASSERT_OK(store().commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})));
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->compensation, "[]");

  ExecutionWrite w = step_write(e.arn, 1, {event(2, "CompensationTaskSucceeded")});
  w.update.compensation = R"([{"state":"Pay","status":"SUCCEEDED","attempts":1}])";
  ASSERT_OK(store().commit(batch_of({w})));
  ExecutionWrite end = step_write(e.arn, 2, {event(3, "ExecutionFailed")});
  end.update.status = "FAILED";
  ASSERT_OK(store().commit(batch_of({end})));
  got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->compensation, R"([{"state":"Pay","status":"SUCCEEDED","attempts":1}])");
  EXPECT_EQ(got->status, "FAILED");
  Result<Page<ExecutionRecord>> listed = store().list_executions({}, page(10));
  ASSERT_OK(listed);
  ASSERT_EQ(listed->items.size(), 1u);
  EXPECT_EQ(listed->items[0], *got);

  ExecutionRecord plain = execution("m", "plain");
  start(plain);
  got = store().get_execution(plain.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->compensation, std::nullopt);
}

TEST_P(StoreSuite, StaleVersionRollsBackWholeBatch) {
  ExecutionRecord a = execution("m", "a");
  ExecutionRecord b = execution("m", "b");
  ExecutionRecord d = execution("m", "d");
  start(a);
  start(b);
  start(d);
  ASSERT_OK(store().commit(batch_of({step_write(b.arn, 1, {event(2, "PassStateEntered")})})));

  // a: a good write carrying every kind of change; b: stale (version 2 stored); c: a create; d:
  // stale too.
  ExecutionWrite wa = step_write(a.arn, 1, {event(2, "TaskStateEntered")});
  wa.update.status = "SUCCEEDED";
  wa.frames_put = {{"", R"({"state":"T"})"}};
  wa.map_results_put = {{"", 0, "1"}};
  wa.timers_put = {{"", "wait-1", kT0 + 5, 0}};
  wa.tasks_put = {task("tok-a", a, "T")};
  ExecutionWrite wb = step_write(b.arn, 1, {event(2, "Other")});
  ExecutionRecord c = execution("m", "c");
  ExecutionWrite wc = create_write(c, {event(1, "ExecutionStarted")});
  ExecutionWrite wd = step_write(d.arn, 7);
  CommitConflict conflict;
  expect_error(store().commit(batch_of({wa, wb, wc, wd}), &conflict), ErrorCode::Conflict,
               "execution " + b.arn + " is at version 2, not 1");
  EXPECT_THAT(conflict.stale_executions, ElementsAre(b.arn, d.arn));
  EXPECT_THAT(conflict.lost_partitions, IsEmpty());

  // Nothing of the batch landed.
  Result<ExecutionRecord> got_a = store().get_execution(a.arn);
  ASSERT_OK(got_a);
  EXPECT_EQ(got_a->version, 1);
  EXPECT_EQ(got_a->last_event_id, 1);
  EXPECT_EQ(got_a->status, "RUNNING");
  Result<Page<HistoryEvent>> ha = store().get_history(a.arn, page(10), false);
  ASSERT_OK(ha);
  EXPECT_THAT(ids_of(ha->items), ElementsAre(1));
  Result<std::vector<FrameRecord>> frames = store().load_frames(a.arn);
  ASSERT_OK(frames);
  EXPECT_THAT(*frames, IsEmpty());
  Result<std::vector<MapResultRecord>> results = store().load_map_results(a.arn);
  ASSERT_OK(results);
  EXPECT_THAT(*results, IsEmpty());
  Result<std::vector<TimerRecord>> timers = store().due_timers(kT0 + 1'000'000'000, {}, 100);
  ASSERT_OK(timers);
  EXPECT_THAT(*timers, IsEmpty());
  expect_error(store().get_task("tok-a"), ErrorCode::NotFound, "task tok-a does not exist");
  expect_error(store().get_execution(c.arn), ErrorCode::NotFound,
               "execution " + c.arn + " does not exist");
  Result<ExecutionRecord> got_b = store().get_execution(b.arn);
  ASSERT_OK(got_b);
  EXPECT_EQ(got_b->version, 2);
  EXPECT_EQ(got_b->last_event_id, 2);

  // Without b and d the rest commits.
  CommitConflict unused;
  ASSERT_OK(store().commit(batch_of({wa, wc}), &unused));
  got_a = store().get_execution(a.arn);
  ASSERT_OK(got_a);
  EXPECT_EQ(got_a->version, 2);
  EXPECT_EQ(got_a->status, "SUCCEEDED");
  ASSERT_OK(store().get_execution(c.arn));
}

TEST_P(StoreSuite, WriteToMissingExecutionIsConflict) {
  std::string arn = execution_arn("m", "ghost");
  CommitConflict conflict;
  expect_error(store().commit(batch_of({step_write(arn, 1, {event(1, "X")})}), &conflict),
               ErrorCode::Conflict, "execution " + arn + " does not exist");
  EXPECT_THAT(conflict.stale_executions, ElementsAre(arn));
  expect_error(store().get_execution(arn), ErrorCode::NotFound,
               "execution " + arn + " does not exist");
}

TEST_P(StoreSuite, ConflictWithoutConflictOutput) {
  ExecutionRecord e = execution("m", "run1");
  start(e);
  expect_error(store().commit(batch_of({step_write(e.arn, 5)})), ErrorCode::Conflict,
               "execution " + e.arn + " is at version 1, not 5");
}

TEST_P(StoreSuite, EventIdsMustContinue) {
  ExecutionRecord e = execution("m", "run1");
  start(e);
  ExecutionRecord other = execution("m", "other");
  start(other);
  // A gap after the stored last id, with a good write before it in the batch.
  expect_error(store().commit(batch_of({step_write(other.arn, 1, {event(2, "Fine")}),
                                        step_write(e.arn, 1, {event(3, "Gap")})})),
               ErrorCode::InvalidArgument, "execution " + e.arn + ": event id 3 does not follow 1");
  // A gap inside the write.
  expect_error(store().commit(batch_of({step_write(e.arn, 1, {event(2, "A"), event(4, "B")})})),
               ErrorCode::InvalidArgument, "execution " + e.arn + ": event id 4 does not follow 2");
  // A repeated id.
  expect_error(store().commit(batch_of({step_write(e.arn, 1, {event(1, "Again")})})),
               ErrorCode::InvalidArgument, "execution " + e.arn + ": event id 1 does not follow 1");
  // A new execution's events start at 1.
  ExecutionRecord n = execution("m", "new");
  expect_error(store().commit(batch_of({create_write(n, {event(2, "ExecutionStarted")})})),
               ErrorCode::InvalidArgument, "execution " + n.arn + ": event id 2 does not follow 0");

  for (const auto& arn : {e.arn, other.arn}) {
    Result<ExecutionRecord> got = store().get_execution(arn);
    ASSERT_OK(got);
    EXPECT_EQ(got->version, 1) << arn;
    EXPECT_EQ(got->last_event_id, 1) << arn;
    Result<Page<HistoryEvent>> h = store().get_history(arn, page(10), false);
    ASSERT_OK(h);
    EXPECT_THAT(ids_of(h->items), ElementsAre(1)) << arn;
  }
  expect_error(store().get_execution(n.arn), ErrorCode::NotFound,
               "execution " + n.arn + " does not exist");
}

TEST_P(StoreSuite, HistoryPagesBothWays) {
  ExecutionRecord e = execution("m", "run1");
  std::vector<HistoryEvent> events;
  for (int i = 1; i <= 7; ++i) {
    events.push_back(event(i, "Type" + std::to_string(i),
                           i % 2 == 0 ? R"({"n":)" + std::to_string(i) + "}" : ""));
  }
  ASSERT_OK(store().commit(batch_of({create_write(e, {events.begin(), events.begin() + 4})})));
  ASSERT_OK(store().commit(batch_of({step_write(e.arn, 1, {events.begin() + 4, events.end()})})));

  {
    SCOPED_TRACE("oldest first");
    expect_history_pages(store(), e.arn, false,
                         {{events[0], events[1], events[2]},
                          {events[3], events[4], events[5]},
                          {events[6]}});
  }
  {
    SCOPED_TRACE("newest first");
    expect_history_pages(store(), e.arn, true,
                         {{events[6], events[5], events[4]},
                          {events[3], events[2], events[1]},
                          {events[0]}});
  }

  // A page ending exactly at the last event has no token.
  Result<Page<HistoryEvent>> all = store().get_history(e.arn, page(7), false);
  ASSERT_OK(all);
  EXPECT_EQ(all->items, events);
  EXPECT_EQ(all->next_token, "");
  Result<Page<HistoryEvent>> all_rev = store().get_history(e.arn, page(1000), true);
  ASSERT_OK(all_rev);
  EXPECT_EQ(ids_of(all_rev->items), (std::vector<std::int64_t>{7, 6, 5, 4, 3, 2, 1}));
  EXPECT_EQ(all_rev->next_token, "");
}

TEST_P(StoreSuite, HistoryIsPerExecution) {
  ExecutionRecord a = execution("m", "a");
  ExecutionRecord b = execution("m", "b");
  ASSERT_OK(store().commit(batch_of(
      {create_write(a, {event(1, "A1"), event(2, "A2")}), create_write(b, {event(1, "B1")})})));
  Result<Page<HistoryEvent>> ha = store().get_history(a.arn, page(10), false);
  ASSERT_OK(ha);
  EXPECT_THAT(ha->items, ElementsAre(event(1, "A1"), event(2, "A2")));
  Result<Page<HistoryEvent>> hb = store().get_history(b.arn, page(10), true);
  ASSERT_OK(hb);
  EXPECT_THAT(hb->items, ElementsAre(event(1, "B1")));
}

TEST_P(StoreSuite, FramesPutReplaceDelete) {
  ExecutionRecord e = execution("m", "run1");
  ExecutionRecord other = execution("m", "other");
  start(e);
  start(other);
  ExecutionWrite w = step_write(e.arn, 1);
  w.frames_put = {{"p0/b1", R"({"b":1})"}, {"", R"({"root":1})"}, {"p0/b0", R"({"b":0})"}};
  ExecutionWrite wo = step_write(other.arn, 1);
  wo.frames_put = {{"", R"({"other":true})"}};
  ASSERT_OK(store().commit(batch_of({w, wo})));
  Result<std::vector<FrameRecord>> frames = store().load_frames(e.arn);
  ASSERT_OK(frames);
  EXPECT_THAT(*frames,
              ElementsAre(FrameRecord{"", R"({"root":1})"}, FrameRecord{"p0/b0", R"({"b":0})"},
                          FrameRecord{"p0/b1", R"({"b":1})"}));

  ExecutionWrite w2 = step_write(e.arn, 2);
  w2.frames_put = {{"", R"({"root":2})"}};
  w2.frames_delete = {"p0/b0", "p0/missing"};
  ASSERT_OK(store().commit(batch_of({w2})));
  frames = store().load_frames(e.arn);
  ASSERT_OK(frames);
  EXPECT_THAT(*frames,
              ElementsAre(FrameRecord{"", R"({"root":2})"}, FrameRecord{"p0/b1", R"({"b":1})"}));
  frames = store().load_frames(other.arn);
  ASSERT_OK(frames);
  EXPECT_THAT(*frames, ElementsAre(FrameRecord{"", R"({"other":true})"}));
}

TEST_P(StoreSuite, MapResultsPutReplaceDelete) {
  ExecutionRecord e = execution("m", "run1");
  start(e);
  ExecutionWrite w = step_write(e.arn, 1);
  w.map_results_put = {{"m1", 10, "10"}, {"m1", 2, "2"}, {"m0", 1, R"({"x":1})"}, {"m1", 0, "0"}};
  ASSERT_OK(store().commit(batch_of({w})));
  Result<std::vector<MapResultRecord>> results = store().load_map_results(e.arn);
  ASSERT_OK(results);
  EXPECT_THAT(*results,
              ElementsAre(MapResultRecord{"m0", 1, R"({"x":1})"}, MapResultRecord{"m1", 0, "0"},
                          MapResultRecord{"m1", 2, "2"}, MapResultRecord{"m1", 10, "10"}));

  ExecutionWrite w2 = step_write(e.arn, 2);
  w2.map_results_put = {{"m1", 2, R"("two")"}};
  w2.map_results_delete = {"m0"};
  ASSERT_OK(store().commit(batch_of({w2})));
  results = store().load_map_results(e.arn);
  ASSERT_OK(results);
  EXPECT_THAT(*results,
              ElementsAre(MapResultRecord{"m1", 0, "0"}, MapResultRecord{"m1", 2, R"("two")"},
                          MapResultRecord{"m1", 10, "10"}));
}

TEST_P(StoreSuite, TimersDueOrderPartitionsAndLimit) {
  ExecutionRecord a = execution("m", "a", kT0, 0);
  ExecutionRecord b = execution("m", "b", kT0, 1);
  ExecutionRecord c = execution("m", "c", kT0, 2);
  start(a);
  start(b);
  start(c);
  ExecutionWrite wa = step_write(a.arn, 1);
  wa.timers_put = {{"", "t1", kT0 + 30, 0}, {"ignored-arn", "t2", kT0 + 10, 0}};
  ExecutionWrite wb = step_write(b.arn, 1);
  wb.timers_put = {{"", "t1", kT0 + 20, 1}, {"", "t0", kT0 + 30, 1}};
  ExecutionWrite wc = step_write(c.arn, 1);
  wc.timers_put = {{"", "late", kT0 + 100, 2}};
  ASSERT_OK(store().commit(batch_of({wa, wb, wc})));

  const TimerRecord a_t1{a.arn, "t1", kT0 + 30, 0};
  const TimerRecord a_t2{a.arn, "t2", kT0 + 10, 0};
  const TimerRecord b_t0{b.arn, "t0", kT0 + 30, 1};
  const TimerRecord b_t1{b.arn, "t1", kT0 + 20, 1};
  const TimerRecord c_late{c.arn, "late", kT0 + 100, 2};

  Result<std::vector<TimerRecord>> due = store().due_timers(kT0 + 30, {}, 100);
  ASSERT_OK(due);
  // Ties at kT0+30: by ARN (a before b).
  EXPECT_THAT(*due, ElementsAre(a_t2, b_t1, a_t1, b_t0));
  due = store().due_timers(kT0 + 29, {}, 100);
  ASSERT_OK(due);
  EXPECT_THAT(*due, ElementsAre(a_t2, b_t1));
  due = store().due_timers(kT0 + 1000, {}, 2);
  ASSERT_OK(due);
  EXPECT_THAT(*due, ElementsAre(a_t2, b_t1));
  due = store().due_timers(kT0 + 1000, {1, 2}, 100);
  ASSERT_OK(due);
  EXPECT_THAT(*due, ElementsAre(b_t1, b_t0, c_late));
  due = store().due_timers(kT0 + 1000, {2}, 100);
  ASSERT_OK(due);
  EXPECT_THAT(*due, ElementsAre(c_late));
  due = store().due_timers(kT0 + 1000, {7}, 100);
  ASSERT_OK(due);
  EXPECT_THAT(*due, IsEmpty());
  due = store().due_timers(kT0 + 9, {}, 100);
  ASSERT_OK(due);
  EXPECT_THAT(*due, IsEmpty());

  // Replace moves a timer; delete removes it (a missing id is no error).
  ExecutionWrite wa2 = step_write(a.arn, 2);
  wa2.timers_put = {{"", "t1", kT0 + 5, 0}};
  wa2.timers_delete = {"t2", "nope"};
  ASSERT_OK(store().commit(batch_of({wa2})));
  due = store().due_timers(kT0 + 1000, {0}, 100);
  ASSERT_OK(due);
  EXPECT_THAT(*due, ElementsAre(TimerRecord{a.arn, "t1", kT0 + 5, 0}));
}

TEST_P(StoreSuite, DueTimersChecksMax) {
  expect_error(store().due_timers(kT0, {}, 0), ErrorCode::InvalidArgument,
               "max must be at least 1, got 0");
}

TEST_P(StoreSuite, TasksPutGetReplaceDelete) {
  ExecutionRecord e = execution("m", "run1", kT0, 4);
  ExecutionRecord other = execution("m", "other", kT0, 4);
  start(e);
  start(other);
  TaskRecord t1 = task("tok-b", e, "One");
  TaskRecord t2 = task("tok-a", e, "Two");
  t2.frame_id = "p1/b0";
  t2.activity_arn = "";
  t2.resource = "arn:aws:states:::lambda:invoke.waitForTaskToken";
  t2.heartbeat_due = kT0 + 500;
  t2.timeout_due = std::nullopt;
  TaskRecord t3 = task("tok-c", other, "Three");
  ExecutionWrite w = step_write(e.arn, 1);
  w.tasks_put = {t1, t2};
  ExecutionWrite wo = step_write(other.arn, 1);
  wo.tasks_put = {t3};
  ASSERT_OK(store().commit(batch_of({w, wo})));

  Result<TaskRecord> got = store().get_task("tok-a");
  ASSERT_OK(got);
  EXPECT_EQ(*got, t2);
  got = store().get_task("tok-b");
  ASSERT_OK(got);
  EXPECT_EQ(*got, t1);
  Result<std::vector<TaskRecord>> of = store().tasks_of_execution(e.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(t2, t1));
  expect_error(store().get_task("tok-z"), ErrorCode::NotFound, "task tok-z does not exist");

  TaskRecord t1_started = t1;
  t1_started.status = "STARTED";
  t1_started.worker_name = "worker-7";
  t1_started.heartbeat_due = kT0 + 900;
  ExecutionWrite w2 = step_write(e.arn, 2);
  w2.tasks_put = {t1_started};
  w2.tasks_delete = {"tok-a", "tok-missing"};
  ASSERT_OK(store().commit(batch_of({w2})));
  of = store().tasks_of_execution(e.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(t1_started));
  expect_error(store().get_task("tok-a"), ErrorCode::NotFound, "task tok-a does not exist");
  of = store().tasks_of_execution(other.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(t3));
}

TEST_P(StoreSuite, OpenExecutionsByPartition) {
  ExecutionRecord a = execution("m", "a", kT0, 0);
  ExecutionRecord b = execution("m", "b", kT0, 1);
  ExecutionRecord c = execution("m", "c", kT0, 1);
  ExecutionRecord d = execution("m", "d", kT0, 2);
  for (const auto* e : {&d, &b, &a, &c}) start(*e);
  ExecutionWrite done = step_write(c.arn, 1);
  done.update.status = "SUCCEEDED";
  ASSERT_OK(store().commit(batch_of({done})));

  Result<std::vector<std::string>> open = store().open_executions({});
  ASSERT_OK(open);
  EXPECT_THAT(*open, ElementsAre(a.arn, b.arn, d.arn));
  open = store().open_executions({1, 2});
  ASSERT_OK(open);
  EXPECT_THAT(*open, ElementsAre(b.arn, d.arn));
  open = store().open_executions({0});
  ASSERT_OK(open);
  EXPECT_THAT(*open, ElementsAre(a.arn));
  open = store().open_executions({5});
  ASSERT_OK(open);
  EXPECT_THAT(*open, IsEmpty());
}

TEST_P(StoreSuite, ListExecutionsFiltersAndPages) {
  // m1: e1 (t0+1), e2 (t0+3), e3 (t0+3), e4 (t0+2, SUCCEEDED); m2: f1 (t0+5), f2 (t0+0 FAILED).
  start(execution("m1", "e1", kT0 + 1));
  start(execution("m1", "e3", kT0 + 3));
  start(execution("m1", "e2", kT0 + 3));
  start(execution("m1", "e4", kT0 + 2));
  start(execution("m2", "f1", kT0 + 5));
  start(execution("m2", "f2", kT0));
  ExecutionWrite w4 = step_write(execution_arn("m1", "e4"), 1);
  w4.update.status = "SUCCEEDED";
  ExecutionWrite wf2 = step_write(execution_arn("m2", "f2"), 1);
  wf2.update.status = "FAILED";
  ASSERT_OK(store().commit(batch_of({w4, wf2})));

  Result<Page<ExecutionRecord>> all = store().list_executions({}, page(100));
  ASSERT_OK(all);
  EXPECT_THAT(names_of(all->items), ElementsAre("f1", "e2", "e3", "e4", "e1", "f2"));
  EXPECT_EQ(all->next_token, "");
  Result<ExecutionRecord> e2 = store().get_execution(execution_arn("m1", "e2"));
  ASSERT_OK(e2);
  EXPECT_EQ(all->items[1], *e2);

  // Paging through ties at the same start time.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    Result<Page<ExecutionRecord>> p = store().list_executions({}, page(2, token));
    ASSERT_OK(p);
    ASSERT_EQ(p->items.size(), 2u);
    for (const auto& e : p->items) seen.push_back(e.name);
    token = p->next_token;
    ++pages;
  } while (!token.empty() && pages < 10);
  EXPECT_EQ(pages, 3);
  EXPECT_THAT(seen, ElementsAre("f1", "e2", "e3", "e4", "e1", "f2"));

  Result<Page<ExecutionRecord>> by_machine =
      store().list_executions({machine_arn("m1"), ""}, page(100));
  ASSERT_OK(by_machine);
  EXPECT_THAT(names_of(by_machine->items), ElementsAre("e2", "e3", "e4", "e1"));
  Result<Page<ExecutionRecord>> running = store().list_executions({"", "RUNNING"}, page(100));
  ASSERT_OK(running);
  EXPECT_THAT(names_of(running->items), ElementsAre("f1", "e2", "e3", "e1"));
  Result<Page<ExecutionRecord>> both =
      store().list_executions({machine_arn("m1"), "RUNNING"}, page(2));
  ASSERT_OK(both);
  EXPECT_THAT(names_of(both->items), ElementsAre("e2", "e3"));
  ASSERT_NE(both->next_token, "");
  both = store().list_executions({machine_arn("m1"), "RUNNING"}, page(2, both->next_token));
  ASSERT_OK(both);
  EXPECT_THAT(names_of(both->items), ElementsAre("e1"));
  EXPECT_EQ(both->next_token, "");
  Result<Page<ExecutionRecord>> failed =
      store().list_executions({machine_arn("m2"), "FAILED"}, page(100));
  ASSERT_OK(failed);
  EXPECT_THAT(names_of(failed->items), ElementsAre("f2"));
  Result<Page<ExecutionRecord>> none = store().list_executions({machine_arn("m3"), ""}, page(5));
  ASSERT_OK(none);
  EXPECT_THAT(none->items, IsEmpty());
  EXPECT_EQ(none->next_token, "");
}

// --- Partition leases ---------------------------------------------------------------------------

TEST_P(StoreSuite, LeasesAcquireRenewExpireRelease) {
  const Micros ttl = 10'000'000;
  Result<std::vector<PartitionLease>> n1 = store().acquire_partitions("n1", 4, 2, kT0, ttl);
  ASSERT_OK(n1);
  EXPECT_THAT(*n1, ElementsAre(PartitionLease{0, "n1", 1, kT0 + ttl},
                               PartitionLease{1, "n1", 1, kT0 + ttl}));
  Result<std::vector<PartitionLease>> n2 = store().acquire_partitions("n2", 4, 4, kT0 + 1, ttl);
  ASSERT_OK(n2);
  EXPECT_THAT(*n2, ElementsAre(PartitionLease{2, "n2", 1, kT0 + 1 + ttl},
                               PartitionLease{3, "n2", 1, kT0 + 1 + ttl}));

  // Renewal keeps the epoch; nothing else is free.
  n1 = store().acquire_partitions("n1", 4, 4, kT0 + 5, ttl);
  ASSERT_OK(n1);
  EXPECT_THAT(*n1, ElementsAre(PartitionLease{0, "n1", 1, kT0 + 5 + ttl},
                               PartitionLease{1, "n1", 1, kT0 + 5 + ttl}));

  // Both nodes can write under their fences.
  ExecutionRecord e2 = execution("m", "in-p2", kT0, 2);
  ASSERT_OK(
      store().commit(batch_of({create_write(e2, {event(1, "ExecutionStarted")})}, {{2, "n2", 1}})));

  // n2's leases expire at kT0+1+ttl (an expiry equal to now counts as expired): n1 takes over.
  n1 = store().acquire_partitions("n1", 4, 4, kT0 + 1 + ttl, ttl);
  ASSERT_OK(n1);
  EXPECT_THAT(*n1, ElementsAre(PartitionLease{0, "n1", 1, kT0 + 1 + 2 * ttl},
                               PartitionLease{1, "n1", 1, kT0 + 1 + 2 * ttl},
                               PartitionLease{2, "n1", 2, kT0 + 1 + 2 * ttl},
                               PartitionLease{3, "n1", 2, kT0 + 1 + 2 * ttl}));

  // n2 is fenced off: its batch is refused, nothing lands.
  CommitConflict conflict;
  expect_error(store().commit(batch_of({step_write(e2.arn, 1, {event(2, "Late")})},
                                       {{2, "n2", 1}, {0, "n1", 1}, {3, "n2", 1}}),
                              &conflict),
               ErrorCode::Conflict, "partition 2 is no longer held by n2 at epoch 1");
  EXPECT_THAT(conflict.lost_partitions, ElementsAre(2, 3));
  EXPECT_THAT(conflict.stale_executions, IsEmpty());
  Result<ExecutionRecord> got = store().get_execution(e2.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 1);
  EXPECT_EQ(got->last_event_id, 1);

  // n2 finds nothing to take; n1 writes under the new epoch.
  n2 = store().acquire_partitions("n2", 4, 4, kT0 + 2 + ttl, ttl);
  ASSERT_OK(n2);
  EXPECT_THAT(*n2, IsEmpty());
  ASSERT_OK(store().commit(batch_of({step_write(e2.arn, 1, {event(2, "Mine")})}, {{2, "n1", 2}})));

  // Release: n2 takes everything, each epoch incremented.
  ASSERT_OK(store().release_partitions("n1"));
  n2 = store().acquire_partitions("n2", 4, 3, kT0 + 3 + ttl, ttl);
  ASSERT_OK(n2);
  const Micros exp = kT0 + 3 + 2 * ttl;
  EXPECT_THAT(*n2, ElementsAre(PartitionLease{0, "n2", 2, exp}, PartitionLease{1, "n2", 2, exp},
                               PartitionLease{2, "n2", 3, exp}));
  // A fence of a released node fails.
  expect_error(store().commit(batch_of({step_write(e2.arn, 2)}, {{3, "n1", 2}})),
               ErrorCode::Conflict, "partition 3 is no longer held by n1 at epoch 2");
  // A partition with no lease row at all holds no fence.
  expect_error(store().commit(batch_of({step_write(e2.arn, 2)}, {{9, "n2", 1}}), &conflict),
               ErrorCode::Conflict, "partition 9 is no longer held by n2 at epoch 1");
  EXPECT_THAT(conflict.lost_partitions, ElementsAre(9));
  // max_partitions 0 only renews.
  n2 = store().acquire_partitions("n2", 4, 0, kT0 + 4 + ttl, ttl);
  ASSERT_OK(n2);
  const Micros exp2 = kT0 + 4 + 2 * ttl;
  EXPECT_THAT(*n2, ElementsAre(PartitionLease{0, "n2", 2, exp2}, PartitionLease{1, "n2", 2, exp2},
                               PartitionLease{2, "n2", 3, exp2}));
  ASSERT_OK(store().release_partitions("nobody"));
}

TEST_P(StoreSuite, AcquirePartitionsChecksArguments) {
  expect_error(store().acquire_partitions("n", 0, 1, kT0, 1), ErrorCode::InvalidArgument,
               "partitions must be at least 1, got 0");
  expect_error(store().acquire_partitions("n", 4, -1, kT0, 1), ErrorCode::InvalidArgument,
               "max_partitions must be at least 0, got -1");
  expect_error(store().acquire_partitions("n", 4, 1, kT0, 0), ErrorCode::InvalidArgument,
               "ttl must be positive, got 0");
  expect_error(store().acquire_partitions("", 4, 1, kT0, 1), ErrorCode::InvalidArgument,
               "node must not be empty");
}

// --- Audit log ----------------------------------------------------------------------------------

AuditRecord audit_entry(const std::string& request_id, const std::string& key_id = "alice",
                        const std::string& operation = "StartExecution",
                        const std::string& resource = machine_arn("m"), Micros time = kT0) {
  return AuditRecord{0, time, key_id, "10.0.0.7:5123", operation, resource, "ok", request_id};
}

std::vector<std::string> request_ids_of(const std::vector<AuditRecord>& entries) {
  std::vector<std::string> out;
  for (const auto& a : entries) out.push_back(a.request_id);
  return out;
}

// Every entry of the log for `query`, newest first, read `per_page` at a time; fails the test
// when a page is refused.
std::vector<AuditRecord> all_audit(Store& store, const AuditQuery& query, int per_page = 1000) {
  std::vector<AuditRecord> out;
  std::string token;
  for (int pages = 0; pages < 10'000; ++pages) {
    Result<Page<AuditRecord>> p = store.list_audit(query, PageRequest{per_page, token});
    EXPECT_TRUE(p.ok()) << describe(p);
    if (!p.ok()) break;
    out.insert(out.end(), p->items.begin(), p->items.end());
    token = p->next_token;
    if (token.empty()) break;
  }
  return out;
}

TEST_P(StoreSuite, AuditAppendsAndListsNewestFirst) {
  Result<Page<AuditRecord>> empty = store().list_audit({}, page(10));
  ASSERT_OK(empty);
  EXPECT_THAT(empty->items, IsEmpty());
  EXPECT_EQ(empty->next_token, "");
  ASSERT_OK(store().append_audit({}));  // nothing to do

  std::vector<AuditRecord> first = {
      audit_entry("r1", "alice", "CreateStateMachine", machine_arn("m"), kT0 + 1),
      audit_entry("r2", "bob", "StartExecution", machine_arn("m"), kT0 + 2),
      audit_entry("r3", "alice", "DeleteStateMachine", "", kT0 + 3)};
  first[1].outcome = "ExecutionAlreadyExists";
  first[2].remote = "";
  ASSERT_OK(store().append_audit(first));
  ASSERT_OK(store().append_audit({audit_entry("r4", "carol", "TagResource", machine_arn("m"),
                                              kT0 + 4)}));

  Result<Page<AuditRecord>> p = store().list_audit({}, page(10));
  ASSERT_OK(p);
  EXPECT_EQ(p->next_token, "");
  ASSERT_THAT(request_ids_of(p->items), ElementsAre("r4", "r3", "r2", "r1"));
  // Ids are assigned in append order, so newest first is descending ids.
  for (std::size_t i = 1; i < p->items.size(); ++i) {
    EXPECT_GT(p->items[i - 1].id, p->items[i].id);
  }
  EXPECT_GT(p->items[3].id, 0);
  // Everything else is stored as given.
  for (std::size_t i = 0; i < first.size(); ++i) {
    AuditRecord want = first[i];
    want.id = p->items[3 - i].id;
    EXPECT_EQ(p->items[3 - i], want);
  }

  // Later appends get larger ids than everything before.
  ASSERT_OK(store().append_audit({audit_entry("r5")}));
  Result<Page<AuditRecord>> newest = store().list_audit({}, page(1));
  ASSERT_OK(newest);
  ASSERT_THAT(request_ids_of(newest->items), ElementsAre("r5"));
  EXPECT_GT(newest->items[0].id, p->items[0].id);
  EXPECT_NE(newest->next_token, "");
}

TEST_P(StoreSuite, AuditFiltersAreAnded) {
  // Every combination of two keys, two operations and two resources, in this order.
  std::vector<AuditRecord> entries;
  for (const char* key : {"alice", "bob"}) {
    for (const char* op : {"StartExecution", "StopExecution"}) {
      for (const char* res : {"arn:r1", "arn:r2"}) {
        entries.push_back(
            audit_entry(std::string(key) + "/" + op + "/" + res, key, op, res));
      }
    }
  }
  ASSERT_OK(store().append_audit(entries));

  auto ids = [&](const AuditQuery& q) { return request_ids_of(all_audit(store(), q)); };
  EXPECT_THAT(ids({"alice", "", ""}),
              ElementsAre("alice/StopExecution/arn:r2", "alice/StopExecution/arn:r1",
                          "alice/StartExecution/arn:r2", "alice/StartExecution/arn:r1"));
  EXPECT_THAT(ids({"", "StopExecution", ""}),
              ElementsAre("bob/StopExecution/arn:r2", "bob/StopExecution/arn:r1",
                          "alice/StopExecution/arn:r2", "alice/StopExecution/arn:r1"));
  EXPECT_THAT(ids({"", "", "arn:r1"}),
              ElementsAre("bob/StopExecution/arn:r1", "bob/StartExecution/arn:r1",
                          "alice/StopExecution/arn:r1", "alice/StartExecution/arn:r1"));
  EXPECT_THAT(ids({"bob", "StartExecution", ""}),
              ElementsAre("bob/StartExecution/arn:r2", "bob/StartExecution/arn:r1"));
  EXPECT_THAT(ids({"bob", "", "arn:r2"}),
              ElementsAre("bob/StopExecution/arn:r2", "bob/StartExecution/arn:r2"));
  EXPECT_THAT(ids({"", "StartExecution", "arn:r2"}),
              ElementsAre("bob/StartExecution/arn:r2", "alice/StartExecution/arn:r2"));
  EXPECT_THAT(ids({"alice", "StopExecution", "arn:r1"}),
              ElementsAre("alice/StopExecution/arn:r1"));
  EXPECT_THAT(ids({"carol", "", ""}), IsEmpty());
  EXPECT_THAT(ids({"alice", "CreateStateMachine", ""}), IsEmpty());
  EXPECT_THAT(ids({"", "", "arn:r3"}), IsEmpty());
  // Matching is exact: no prefixes, no case folding.
  EXPECT_THAT(ids({"Alice", "", ""}), IsEmpty());
  EXPECT_THAT(ids({"", "", "arn:r"}), IsEmpty());
  EXPECT_EQ(ids({}).size(), 8u);
}

TEST_P(StoreSuite, AuditPagesWithoutGapsOrDuplicates) {
  // 250 entries in batches of different sizes; keys alternate so a filtered list pages too.
  std::vector<AuditRecord> batch;
  int appended = 0;
  for (int size : {1, 99, 100, 50}) {
    batch.clear();
    for (int i = 0; i < size; ++i, ++appended) {
      batch.push_back(audit_entry("req-" + std::to_string(appended),
                                  appended % 2 == 0 ? "even" : "odd"));
    }
    ASSERT_OK(store().append_audit(batch));
  }
  ASSERT_EQ(appended, 250);

  std::vector<std::size_t> sizes;
  std::vector<AuditRecord> seen;
  std::string token;
  do {
    Result<Page<AuditRecord>> p = store().list_audit({}, page(100, token));
    ASSERT_OK(p);
    sizes.push_back(p->items.size());
    seen.insert(seen.end(), p->items.begin(), p->items.end());
    token = p->next_token;
  } while (!token.empty() && sizes.size() < 10);
  EXPECT_THAT(sizes, ElementsAre(100u, 100u, 50u));
  ASSERT_EQ(seen.size(), 250u);
  for (int i = 0; i < 250; ++i) {
    EXPECT_EQ(seen[static_cast<std::size_t>(i)].request_id, "req-" + std::to_string(249 - i));
    if (i > 0) {
      EXPECT_LT(seen[static_cast<std::size_t>(i)].id, seen[static_cast<std::size_t>(i) - 1].id);
    }
  }

  // Filtered: the 125 odd ones, 100 then 25.
  Result<Page<AuditRecord>> odd1 = store().list_audit({"odd", "", ""}, page(100));
  ASSERT_OK(odd1);
  ASSERT_EQ(odd1->items.size(), 100u);
  ASSERT_NE(odd1->next_token, "");
  Result<Page<AuditRecord>> odd2 = store().list_audit({"odd", "", ""}, page(100, odd1->next_token));
  ASSERT_OK(odd2);
  ASSERT_EQ(odd2->items.size(), 25u);
  EXPECT_EQ(odd2->next_token, "");
  EXPECT_EQ(odd1->items.front().request_id, "req-249");
  EXPECT_EQ(odd1->items.back().request_id, "req-51");
  EXPECT_EQ(odd2->items.front().request_id, "req-49");
  EXPECT_EQ(odd2->items.back().request_id, "req-1");

  // Entries appended after a page was read come first on a fresh list, and do not show up
  // in the rest of the earlier walk (it continues below its last id).
  Result<Page<AuditRecord>> first = store().list_audit({}, page(100));
  ASSERT_OK(first);
  ASSERT_OK(store().append_audit({audit_entry("late")}));
  Result<Page<AuditRecord>> second = store().list_audit({}, page(200, first->next_token));
  ASSERT_OK(second);
  ASSERT_EQ(second->items.size(), 150u);
  EXPECT_EQ(second->items.front().request_id, "req-149");
  Result<Page<AuditRecord>> fresh = store().list_audit({}, page(1));
  ASSERT_OK(fresh);
  EXPECT_THAT(request_ids_of(fresh->items), ElementsAre("late"));
}

TEST_P(StoreSuite, AuditPagingArgumentsAreChecked) {
  expect_error(store().list_audit({}, page(0)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 0");
  expect_error(store().list_audit({}, page(1001)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 1001");
  expect_error(store().list_audit({"alice", "", ""}, page(-5)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got -5");
  expect_error(store().list_audit({}, page(10, "garbage")), ErrorCode::InvalidArgument,
               "invalid next_token");
  expect_error(store().list_audit({}, page(10, "%%")), ErrorCode::InvalidArgument,
               "invalid next_token");
  // Another list's token is not an audit token.
  for (const char* name : {"a", "b"}) ASSERT_OK(store().create_state_machine(machine(name)));
  Result<Page<StateMachineRecord>> machines = store().list_state_machines(page(1));
  ASSERT_OK(machines);
  ASSERT_NE(machines->next_token, "");
  expect_error(store().list_audit({}, page(10, machines->next_token)),
               ErrorCode::InvalidArgument, "invalid next_token");
  // An audit token is not another list's token either.
  ASSERT_OK(store().append_audit({audit_entry("x"), audit_entry("y")}));
  Result<Page<AuditRecord>> audit = store().list_audit({}, page(1));
  ASSERT_OK(audit);
  ASSERT_NE(audit->next_token, "");
  expect_error(store().list_state_machines(page(10, audit->next_token)),
               ErrorCode::InvalidArgument, "invalid next_token");
  expect_error(store().list_executions({}, page(10, audit->next_token)),
               ErrorCode::InvalidArgument, "invalid next_token");
  ASSERT_OK(store().list_audit({}, page(1000)));
  Result<Page<AuditRecord>> rest = store().list_audit({}, page(1, audit->next_token));
  ASSERT_OK(rest);
  EXPECT_THAT(request_ids_of(rest->items), ElementsAre("x"));
}

TEST_P(StoreSuite, ConcurrentAuditAppendsAllLand) {
  constexpr int kThreads = 4;
  constexpr int kBatches = 10;
  constexpr int kPerBatch = 5;
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int b = 0; b < kBatches; ++b) {
        std::vector<AuditRecord> batch;
        for (int i = 0; i < kPerBatch; ++i) {
          batch.push_back(audit_entry(std::to_string(t) + "-" + std::to_string(b * kPerBatch + i),
                                      "k" + std::to_string(t)));
        }
        if (!store().append_audit(batch).ok()) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  std::vector<AuditRecord> all = all_audit(store(), {}, 7);
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kBatches * kPerBatch));
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_LT(all[i].id, all[i - 1].id);
  // Each thread's entries keep their order (a batch is appended whole, in order).
  for (int t = 0; t < kThreads; ++t) {
    std::vector<AuditRecord> mine = all_audit(store(), {"k" + std::to_string(t), "", ""});
    ASSERT_EQ(mine.size(), static_cast<std::size_t>(kBatches * kPerBatch));
    for (int i = 0; i < kBatches * kPerBatch; ++i) {
      EXPECT_EQ(mine[static_cast<std::size_t>(i)].request_id,
                std::to_string(t) + "-" + std::to_string(kBatches * kPerBatch - 1 - i));
    }
  }
}

// --- Concurrency --------------------------------------------------------------------------------

TEST_P(StoreSuite, ConcurrentCommitsAllLand) {
  constexpr int kThreads = 6;
  constexpr int kSteps = 40;
  std::vector<ExecutionRecord> executions;
  for (int t = 0; t < kThreads; ++t) {
    executions.push_back(execution("m", "c" + std::to_string(t), kT0 + t, t % 3));
    start(executions.back());
  }
  std::atomic<int> failures{0};
  std::atomic<bool> writers_done{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const ExecutionRecord& e = executions[t];
      for (int s = 1; s <= kSteps; ++s) {
        ExecutionWrite w = step_write(e.arn, s, {event(s + 1, "Step")});
        w.frames_put = {{"", std::to_string(s)}};
        w.timers_put = {{"", "t", kT0 + s, e.partition}};
        if (!store().commit(batch_of({w})).ok()) ++failures;
      }
    });
  }
  // A reader alongside: every execution it sees is consistent with its history.
  std::atomic<int> inconsistent{0};
  std::thread reader([&] {
    while (!writers_done) {
      for (const auto& e : executions) {
        Result<Page<HistoryEvent>> h = store().get_history(e.arn, page(1000), true);
        if (!h.ok() || h->items.empty() ||
            h->items.front().id != static_cast<std::int64_t>(h->items.size())) {
          ++inconsistent;
        }
      }
    }
  });
  for (auto& t : threads) t.join();
  writers_done = true;
  reader.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(inconsistent.load(), 0);
  for (const auto& e : executions) {
    Result<ExecutionRecord> got = store().get_execution(e.arn);
    ASSERT_OK(got);
    EXPECT_EQ(got->version, kSteps + 1);
    EXPECT_EQ(got->last_event_id, kSteps + 1);
    Result<Page<HistoryEvent>> h = store().get_history(e.arn, page(1000), false);
    ASSERT_OK(h);
    EXPECT_EQ(h->items.size(), static_cast<std::size_t>(kSteps + 1));
    Result<std::vector<FrameRecord>> frames = store().load_frames(e.arn);
    ASSERT_OK(frames);
    EXPECT_THAT(*frames, ElementsAre(FrameRecord{"", std::to_string(kSteps)}));
  }
}

TEST_P(StoreSuite, ConcurrentWritersToOneExecutionOneWins) {
  ExecutionRecord e = execution("m", "contended");
  start(e);
  constexpr int kThreads = 4;
  std::atomic<int> ok{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      Status s =
          store().commit(batch_of({step_write(e.arn, 1, {event(2, "T" + std::to_string(t))})}));
      if (s.ok()) {
        ++ok;
      } else if (s.error().code == ErrorCode::Conflict) {
        ++conflicts;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(conflicts.load(), kThreads - 1);
  Result<ExecutionRecord> got = store().get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->last_event_id, 2);
}

}  // namespace
}  // namespace stepd::engine::store_test
