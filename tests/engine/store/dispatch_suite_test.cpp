// Task dispatch in the Store, on every backend (StoreSuite is instantiated per backend):
// activities, the routing registry, claiming activity tasks across nodes, tasks handed out in a
// commit (ExecutionWrite::tasks_started) and task messages between nodes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "store_suite.hpp"

namespace stepd::engine::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::string activity_arn(const std::string& name, const std::string& account = "123456789012") {
  return "arn:aws:states:us-east-1:" + account + ":activity:" + name;
}

ActivityRecord activity(const std::string& name, const std::string& account = "123456789012") {
  ActivityRecord a;
  a.arn = activity_arn(name, account);
  a.name = name;
  a.tags_json = R"([{"key":"owner","value":")" + name + R"("}])";
  a.created = kT0 + static_cast<Micros>(name.size());
  return a;
}

// A SCHEDULED task of activity `activity` (an ARN), for execution `e`.
TaskRecord activity_task(const std::string& token, const ExecutionRecord& e,
                         const std::string& activity, Micros scheduled) {
  TaskRecord t = scheduled_task(token, e, "Work", activity, scheduled);
  t.activity_arn = activity;
  t.input = R"({"token":")" + token + R"("})";
  t.heartbeat_due = scheduled + 5'000'000;
  t.timeout_due = scheduled + 60'000'000;
  return t;
}

// A task that is not an activity's (a callback task): activity_arn is "".
TaskRecord callback_task(const std::string& token, const ExecutionRecord& e, Micros scheduled) {
  TaskRecord t = activity_task(token, e, "", scheduled);
  t.resource = "arn:aws:states:::lambda:invoke.waitForTaskToken";
  return t;
}

TaskRecord started(TaskRecord t, const std::string& worker) {
  t.status = "STARTED";
  t.worker_name = worker;
  return t;
}

TaskMessage message(const std::string& token, const std::string& kind, const std::string& body,
                    Micros created) {
  TaskMessage m;
  m.token = token;
  m.kind = kind;
  m.body = body;
  m.partition = 99;  // the store takes the task row's partition instead
  m.created = created;
  return m;
}

std::vector<std::string> tokens_of(const std::vector<TaskMessage>& messages) {
  std::vector<std::string> out;
  for (const auto& m : messages) out.push_back(m.token + "/" + m.kind);
  return out;
}

// The task a claim of `activity` took (nullopt when none), with a test failure when the claim
// fails.
std::optional<TaskRecord> claim(Store& store, const std::string& activity, Micros scheduled_before,
                                const std::string& worker) {
  Result<std::optional<TaskRecord>> c =
      store.claim_activity_task(activity, scheduled_before, worker);
  EXPECT_TRUE(c.ok()) << describe(c);
  return c.ok() ? *c : std::nullopt;
}

// The stored row of task `token` (nullopt with a test failure when it cannot be read).
std::optional<TaskRecord> row_of(Store& store, const std::string& token) {
  Result<TaskRecord> row = store.get_task(token);
  EXPECT_TRUE(row.ok()) << describe(row);
  return row.ok() ? std::optional<TaskRecord>(*row) : std::nullopt;
}

// Commits `tasks` as puts of execution `arn`, whose version is `version` (then incremented).
Status put_tasks(Store& store, const std::string& arn, std::int64_t& version,
                 std::vector<TaskRecord> tasks) {
  ExecutionWrite w = step_write(arn, version);
  w.tasks_put = std::move(tasks);
  Status s = store.commit(batch_of({w}));
  if (s.ok()) ++version;
  return s;
}

// --- Activities ---------------------------------------------------------------------------------

TEST_P(StoreSuite, ActivityCreateGetDelete) {
  ActivityRecord a = activity("pay");
  ASSERT_OK(store().create_activity(a));
  Result<ActivityRecord> got = store().get_activity(a.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, a);

  // The ARN is taken: refused, the stored activity is unchanged.
  ActivityRecord again = a;
  again.tags_json = "[]";
  again.created = kT0 + 99;
  expect_error(store().create_activity(again), ErrorCode::AlreadyExists,
               "activity " + a.arn + " already exists");
  got = store().get_activity(a.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, a);

  expect_error(store().get_activity(activity_arn("nope")), ErrorCode::NotFound,
               "activity " + activity_arn("nope") + " does not exist");
  expect_error(store().delete_activity(activity_arn("nope")), ErrorCode::NotFound,
               "activity " + activity_arn("nope") + " does not exist");

  ASSERT_OK(store().delete_activity(a.arn));
  expect_error(store().get_activity(a.arn), ErrorCode::NotFound,
               "activity " + a.arn + " does not exist");
  expect_error(store().delete_activity(a.arn), ErrorCode::NotFound,
               "activity " + a.arn + " does not exist");
  // Deleted, the ARN can be created again.
  ASSERT_OK(store().create_activity(again));
  got = store().get_activity(a.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, again);
}

TEST_P(StoreSuite, ActivityTagsAreReplaced) {
  ActivityRecord a = activity("pay");
  ActivityRecord b = activity("ship");
  ASSERT_OK(store().create_activity(a));
  ASSERT_OK(store().create_activity(b));
  const std::string tags = R"([{"key":"env","value":"prod"},{"key":"team","value":"x"}])";
  ASSERT_OK(store().set_activity_tags(a.arn, tags));
  Result<ActivityRecord> got = store().get_activity(a.arn);
  ASSERT_OK(got);
  ActivityRecord want = a;
  want.tags_json = tags;
  EXPECT_EQ(*got, want);
  got = store().get_activity(b.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, b);
  expect_error(store().set_activity_tags(activity_arn("nope"), "[]"), ErrorCode::NotFound,
               "activity " + activity_arn("nope") + " does not exist");
}

TEST_P(StoreSuite, ListActivitiesPagesByNameThenArn) {
  Result<Page<ActivityRecord>> empty = store().list_activities(page(10));
  ASSERT_OK(empty);
  EXPECT_THAT(empty->items, IsEmpty());
  EXPECT_EQ(empty->next_token, "");

  // Two activities named "bravo" in different accounts: ordered by ARN between themselves.
  for (const ActivityRecord& a :
       {activity("delta"), activity("bravo", "222222222222"), activity("alpha"),
        activity("charlie"), activity("bravo", "111111111111")}) {
    ASSERT_OK(store().create_activity(a));
  }
  Result<Page<ActivityRecord>> p1 = store().list_activities(page(2));
  ASSERT_OK(p1);
  ASSERT_THAT(names_of(p1->items), ElementsAre("alpha", "bravo"));
  EXPECT_EQ(p1->items[0], activity("alpha"));
  EXPECT_EQ(p1->items[1], activity("bravo", "111111111111"));
  ASSERT_NE(p1->next_token, "");
  Result<Page<ActivityRecord>> p2 = store().list_activities(page(2, p1->next_token));
  ASSERT_OK(p2);
  ASSERT_THAT(names_of(p2->items), ElementsAre("bravo", "charlie"));
  EXPECT_EQ(p2->items[0], activity("bravo", "222222222222"));
  ASSERT_NE(p2->next_token, "");
  Result<Page<ActivityRecord>> p3 = store().list_activities(page(2, p2->next_token));
  ASSERT_OK(p3);
  EXPECT_THAT(names_of(p3->items), ElementsAre("delta"));
  EXPECT_EQ(p3->next_token, "");

  // A page that ends exactly at the last activity has no token.
  Result<Page<ActivityRecord>> all = store().list_activities(page(5));
  ASSERT_OK(all);
  EXPECT_THAT(names_of(all->items), ElementsAre("alpha", "bravo", "bravo", "charlie", "delta"));
  EXPECT_EQ(all->next_token, "");
}

TEST_P(StoreSuite, ActivityPagingArgumentsAreChecked) {
  expect_error(store().list_activities(page(0)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 0");
  expect_error(store().list_activities(page(1001)), ErrorCode::InvalidArgument,
               "max_results must be between 1 and 1000, got 1001");
  expect_error(store().list_activities(page(10, "garbage!")), ErrorCode::InvalidArgument,
               "invalid next_token");
  // Another list's token is not an activity token.
  ASSERT_OK(store().create_state_machine(machine("a")));
  ASSERT_OK(store().create_state_machine(machine("b")));
  Result<Page<StateMachineRecord>> machines = store().list_state_machines(page(1));
  ASSERT_OK(machines);
  ASSERT_NE(machines->next_token, "");
  expect_error(store().list_activities(page(10, machines->next_token)), ErrorCode::InvalidArgument,
               "invalid next_token");
  ASSERT_OK(store().list_activities(page(1000)));
  ASSERT_OK(store().list_activities(page(1)));
}

TEST_P(StoreSuite, DeleteActivityLeavesItsTasks) {
  ActivityRecord a = activity("pay");
  ASSERT_OK(store().create_activity(a));
  ExecutionRecord e = execution("m", "run1");
  start(e);
  TaskRecord t = activity_task("tok-1", e, a.arn, kT0 + 10);
  std::int64_t v = 1;
  ASSERT_OK(put_tasks(store(), e.arn, v, {t}));
  ASSERT_OK(store().delete_activity(a.arn));
  EXPECT_EQ(row_of(store(), "tok-1"), t);
  EXPECT_EQ(claim(store(), a.arn, kT0 + 10, "w"), started(t, "w"));
}

// --- Routes -------------------------------------------------------------------------------------

TEST_P(StoreSuite, RoutesPutReplaceListDelete) {
  Result<std::vector<RouteRecord>> routes = store().list_routes();
  ASSERT_OK(routes);
  EXPECT_THAT(*routes, IsEmpty());

  RouteRecord f1{"function", "resize", "http://127.0.0.1:9001/resize", kT0};
  RouteRecord f2{"function", "resize:prod", "http://127.0.0.1:9002", kT0 + 1};
  RouteRecord f3{"function", "Charge", "http://127.0.0.1:9003/x/y", kT0 + 2};
  RouteRecord s1{"service", "dynamodb", "http://127.0.0.1:8000", kT0 + 3};
  RouteRecord s2{"service", "dynamodb:putItem", "http://127.0.0.1:8001/put", kT0 + 4};
  for (const RouteRecord& r : {s2, f2, s1, f1, f3}) ASSERT_OK(store().put_route(r));
  routes = store().list_routes();
  ASSERT_OK(routes);
  // By kind, then name, bytewise ("C" < "r"; "resize" < "resize:prod").
  EXPECT_THAT(*routes, ElementsAre(f3, f1, f2, s1, s2));

  // Put of an existing (kind, name) replaces it; the same name of another kind is another route.
  RouteRecord f1b{"function", "resize", "http://127.0.0.1:9999/v2", kT0 + 50};
  RouteRecord s3{"service", "resize", "http://127.0.0.1:7000", kT0 + 51};
  ASSERT_OK(store().put_route(f1b));
  ASSERT_OK(store().put_route(s3));
  routes = store().list_routes();
  ASSERT_OK(routes);
  EXPECT_THAT(*routes, ElementsAre(f3, f1b, f2, s1, s2, s3));

  ASSERT_OK(store().delete_route("function", "resize"));
  expect_error(store().delete_route("function", "resize"), ErrorCode::NotFound,
               "route function resize does not exist");
  expect_error(store().delete_route("service", "lambda"), ErrorCode::NotFound,
               "route service lambda does not exist");
  routes = store().list_routes();
  ASSERT_OK(routes);
  EXPECT_THAT(*routes, ElementsAre(f3, f2, s1, s2, s3));
}

// --- Claiming activity tasks --------------------------------------------------------------------

TEST_P(StoreSuite, ClaimTakesTheOldestScheduledTaskOfTheActivity) {
  const std::string pay = activity_arn("pay");
  const std::string ship = activity_arn("ship");
  ExecutionRecord e1 = execution("m", "run1", kT0, 0);
  ExecutionRecord e2 = execution("m", "run2", kT0, 3);
  start(e1);
  start(e2);
  TaskRecord late = activity_task("tok-late", e1, pay, kT0 + 30);
  TaskRecord early_b = activity_task("tok-b", e2, pay, kT0 + 10);
  TaskRecord early_a = activity_task("tok-a", e1, pay, kT0 + 10);  // same time: by token
  TaskRecord middle = activity_task("tok-mid", e2, pay, kT0 + 20);
  middle.heartbeat_due = std::nullopt;
  middle.frame_id = "p1/b0";
  TaskRecord other = activity_task("tok-ship", e1, ship, kT0 + 1);
  TaskRecord callback = callback_task("tok-cb", e2, kT0);
  std::int64_t v1 = 1;
  std::int64_t v2 = 1;
  ASSERT_OK(put_tasks(store(), e1.arn, v1, {late, early_a, other}));
  ASSERT_OK(put_tasks(store(), e2.arn, v2, {early_b, middle, callback}));

  std::vector<TaskRecord> got;
  for (int i = 0; i < 5; ++i) {
    Result<std::optional<TaskRecord>> c =
        store().claim_activity_task(pay, kT0 + 1000, "worker-" + std::to_string(i));
    ASSERT_OK(c);
    if (!c->has_value()) break;
    got.push_back(**c);
  }
  EXPECT_THAT(got, ElementsAre(started(early_a, "worker-0"), started(early_b, "worker-1"),
                               started(middle, "worker-2"), started(late, "worker-3")));
  // The rows changed as returned; the other activity's task and the callback task did not.
  EXPECT_EQ(row_of(store(), "tok-mid"), started(middle, "worker-2"));
  EXPECT_EQ(row_of(store(), "tok-ship"), other);
  EXPECT_EQ(row_of(store(), "tok-cb"), callback);

  EXPECT_EQ(claim(store(), ship, kT0 + 1, "s"), started(other, "s"));
  // No activity has the empty ARN: a callback task is never claimed.
  EXPECT_EQ(claim(store(), "", kT0 + 1000, "w"), std::nullopt);
  EXPECT_EQ(claim(store(), activity_arn("unknown"), kT0 + 1000, "w"), std::nullopt);
}

TEST_P(StoreSuite, ClaimRespectsScheduledBefore) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e = execution("m", "run1");
  start(e);
  TaskRecord t1 = activity_task("tok-1", e, pay, kT0 + 50);
  TaskRecord t2 = activity_task("tok-2", e, pay, kT0 + 80);
  std::int64_t v = 1;
  ASSERT_OK(put_tasks(store(), e.arn, v, {t1, t2}));
  EXPECT_EQ(claim(store(), pay, kT0 + 49, "w"), std::nullopt);
  // At or before: a task scheduled exactly then is taken.
  EXPECT_EQ(claim(store(), pay, kT0 + 50, "w"), started(t1, "w"));
  EXPECT_EQ(claim(store(), pay, kT0 + 79, "w"), std::nullopt);
  EXPECT_EQ(row_of(store(), "tok-2"), t2);
}

TEST_P(StoreSuite, StartedTasksAreNotClaimed) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e = execution("m", "run1");
  start(e);
  TaskRecord held = started(activity_task("tok-held", e, pay, kT0 + 1), "earlier-worker");
  TaskRecord handed = activity_task("tok-handed", e, pay, kT0 + 2);
  TaskRecord free = activity_task("tok-free", e, pay, kT0 + 3);
  std::int64_t v = 1;
  ASSERT_OK(put_tasks(store(), e.arn, v, {held, handed, free}));
  // tok-handed goes to a worker through a commit (the node that scheduled it handed it out).
  ExecutionWrite w = step_write(e.arn, v++);
  w.tasks_started = {{"tok-handed", "local-worker"}};
  ASSERT_OK(store().commit(batch_of({w})));

  EXPECT_EQ(claim(store(), pay, kT0 + 100, "remote"), started(free, "remote"));
  EXPECT_EQ(claim(store(), pay, kT0 + 100, "remote"), std::nullopt);
  EXPECT_EQ(row_of(store(), "tok-held"), held);
  EXPECT_EQ(row_of(store(), "tok-handed"), started(handed, "local-worker"));
}

TEST_P(StoreSuite, AReleasedClaimIsScheduledAgainOnlyForItsOwnWorker) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e = execution("m", "run1");
  start(e);
  TaskRecord t = activity_task("tok-1", e, pay, kT0 + 1);
  TaskRecord held = started(activity_task("tok-held", e, pay, kT0 + 2), "other");
  std::int64_t v = 1;
  ASSERT_OK(put_tasks(store(), e.arn, v, {t, held}));
  ASSERT_EQ(claim(store(), pay, kT0 + 100, "w1"), started(t, "w1"));

  // Not this claim's worker, not started, no such task: nothing changes.
  auto wrong = store().release_activity_task("tok-1", "w2");
  ASSERT_TRUE(wrong.ok()) << describe(wrong);
  EXPECT_FALSE(*wrong);
  EXPECT_EQ(row_of(store(), "tok-1"), started(t, "w1"));
  auto missing = store().release_activity_task("tok-none", "w1");
  ASSERT_TRUE(missing.ok()) << describe(missing);
  EXPECT_FALSE(*missing);

  auto released = store().release_activity_task("tok-1", "w1");
  ASSERT_TRUE(released.ok()) << describe(released);
  EXPECT_TRUE(*released);
  EXPECT_EQ(row_of(store(), "tok-1"), t);  // SCHEDULED, no worker: as it was put
  auto twice = store().release_activity_task("tok-1", "w1");
  ASSERT_TRUE(twice.ok()) << describe(twice);
  EXPECT_FALSE(*twice);
  EXPECT_EQ(row_of(store(), "tok-held"), held);

  // The next claim takes it again.
  EXPECT_EQ(claim(store(), pay, kT0 + 100, "w2"), started(t, "w2"));
}

// Claimers on several threads over many tasks: each task is claimed exactly once.
TEST_P(StoreSuite, ConcurrentClaimsTakeEachTaskOnce) {
  constexpr int kExecutions = 10;
  constexpr int kTasksEach = 12;
  constexpr int kThreads = 4;
  const std::string pay = activity_arn("pay");
  std::vector<ExecutionWrite> writes;
  for (int i = 0; i < kExecutions; ++i) {
    ExecutionRecord e = execution("m", "e" + std::to_string(i), kT0, i % 4);
    ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
    for (int j = 0; j < kTasksEach; ++j) {
      w.tasks_put.push_back(activity_task("tok-" + std::to_string(i) + "-" + std::to_string(j), e,
                                          pay, kT0 + (i * 7 + j * 3) % 20));
    }
    writes.push_back(std::move(w));
  }
  ASSERT_OK(store().commit(batch_of(std::move(writes))));

  std::mutex mu;
  std::map<std::string, std::vector<std::string>> claimed_by;  // token -> workers
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string worker = "w" + std::to_string(t);
      for (;;) {
        Result<std::optional<TaskRecord>> c = store().claim_activity_task(pay, kT0 + 100, worker);
        if (!c.ok()) {
          ++failures;
          return;
        }
        if (!c->has_value()) return;
        if ((*c)->status != "STARTED" || (*c)->worker_name != worker) ++failures;
        std::lock_guard lock(mu);
        claimed_by[(*c)->token].push_back(worker);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(claimed_by.size(), static_cast<std::size_t>(kExecutions * kTasksEach));
  for (const auto& [token, workers] : claimed_by) {
    EXPECT_EQ(workers.size(), 1u) << token << " claimed " << workers.size() << " times";
    Result<TaskRecord> row = store().get_task(token);
    ASSERT_OK(row);
    EXPECT_EQ(row->status, "STARTED");
    EXPECT_EQ(row->worker_name, workers.front());
  }
}

// --- Tasks handed out in a commit ---------------------------------------------------------------

TEST_P(StoreSuite, CommitAppliesTasksStartedAfterTasksPut) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e = execution("m", "run1", kT0, 2);
  ExecutionRecord f = execution("m", "run2", kT0, 5);
  start(e);
  start(f);
  TaskRecord t1 = activity_task("tok-1", e, pay, kT0 + 1);
  TaskRecord t2 = activity_task("tok-2", f, pay, kT0 + 2);
  TaskRecord t3 = activity_task("tok-3", e, pay, kT0 + 3);

  // Put and started in one write: started applies after the put. A started token without a
  // row (tok-gone) changes nothing and is no error.
  ExecutionWrite w = step_write(e.arn, 1);
  w.tasks_put = {t1, t3};
  w.tasks_started = {{"tok-1", "worker-a"}, {"tok-gone", "worker-x"}};
  ExecutionWrite wf = step_write(f.arn, 1);
  wf.tasks_put = {t2};
  ASSERT_OK(store().commit(batch_of({w, wf})));
  EXPECT_EQ(row_of(store(), "tok-1"), started(t1, "worker-a"));
  EXPECT_EQ(row_of(store(), "tok-3"), t3);
  expect_error(store().get_task("tok-gone"), ErrorCode::NotFound, "task tok-gone does not exist");

  // Two executions' hand-outs in one batch.
  ExecutionWrite w2 = step_write(e.arn, 2);
  w2.tasks_started = {{"tok-3", "worker-b"}};
  ExecutionWrite wf2 = step_write(f.arn, 2);
  wf2.tasks_started = {{"tok-2", "worker-c"}};
  ASSERT_OK(store().commit(batch_of({w2, wf2})));
  Result<std::vector<TaskRecord>> of = store().tasks_of_execution(e.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(started(t1, "worker-a"), started(t3, "worker-b")));
  of = store().tasks_of_execution(f.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(started(t2, "worker-c")));

  // A refused batch hands nothing out.
  TaskRecord t4 = activity_task("tok-4", f, pay, kT0 + 4);
  ExecutionWrite wf3 = step_write(f.arn, 3);
  wf3.tasks_put = {t4};
  ASSERT_OK(store().commit(batch_of({wf3})));
  ExecutionWrite fresh = step_write(f.arn, 4);
  fresh.tasks_started = {{"tok-4", "worker-d"}};
  ExecutionWrite stale = step_write(e.arn, 1);
  CommitConflict conflict;
  expect_error(store().commit(batch_of({fresh, stale}), &conflict), ErrorCode::Conflict,
               "execution " + e.arn + " is at version 3, not 1");
  EXPECT_EQ(row_of(store(), "tok-4"), t4);
}

// Several steps of one execution in one batch: each sees the one before (a put after a hand-out
// in a later step wins, and the other way round).
TEST_P(StoreSuite, TasksStartedFollowsStepOrderWithinABatch) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e = execution("m", "run1");
  start(e);
  TaskRecord t1 = activity_task("tok-1", e, pay, kT0 + 1);
  TaskRecord t2 = activity_task("tok-2", e, pay, kT0 + 2);
  ExecutionWrite s1 = step_write(e.arn, 1);
  s1.tasks_put = {t1};
  s1.tasks_started = {{"tok-2", "early"}};  // no row yet: nothing
  ExecutionWrite s2 = step_write(e.arn, 2);
  s2.tasks_put = {t2};
  s2.tasks_started = {{"tok-1", "first"}};
  ExecutionWrite s3 = step_write(e.arn, 3);
  s3.tasks_started = {{"tok-1", "second"}};
  ASSERT_OK(store().commit(batch_of({s1, s2, s3})));
  Result<std::vector<TaskRecord>> of = store().tasks_of_execution(e.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(started(t1, "second"), t2));

  // A later step puts the row back as SCHEDULED (e.g. a retry): the put wins over the earlier
  // hand-out; the same token handed out twice in one write: the last wins.
  ExecutionWrite s4 = step_write(e.arn, 4);
  s4.tasks_started = {{"tok-2", "x"}, {"tok-2", "y"}};
  ExecutionWrite s5 = step_write(e.arn, 5);
  s5.tasks_put = {t1};
  ASSERT_OK(store().commit(batch_of({s4, s5})));
  of = store().tasks_of_execution(e.arn);
  ASSERT_OK(of);
  EXPECT_THAT(*of, ElementsAre(t1, started(t2, "y")));
}

// --- Task messages ------------------------------------------------------------------------------

TEST_P(StoreSuite, TaskMessagesPostReadDelete) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e1 = execution("m", "run1", kT0, 1);
  ExecutionRecord e2 = execution("m", "run2", kT0, 2);
  ExecutionRecord e3 = execution("m", "run3", kT0, 3);
  for (const auto* e : {&e1, &e2, &e3}) start(*e);
  std::int64_t v1 = 1;
  std::int64_t v2 = 1;
  std::int64_t v3 = 1;
  ASSERT_OK(put_tasks(store(), e1.arn, v1, {activity_task("t1", e1, pay, kT0)}));
  ASSERT_OK(put_tasks(store(), e2.arn, v2,
                      {activity_task("t2", e2, pay, kT0), callback_task("t2cb", e2, kT0)}));
  ASSERT_OK(put_tasks(store(), e3.arn, v3, {activity_task("t3", e3, pay, kT0)}));

  Result<std::vector<TaskMessage>> none = store().task_messages({1, 2, 3}, 10);
  ASSERT_OK(none);
  EXPECT_THAT(*none, IsEmpty());

  ASSERT_OK(store().post_task_message(message("t2", "started", "worker-9", kT0 + 1)));
  ASSERT_OK(store().post_task_message(message("t1", "success", R"({"ok":true})", kT0 + 2)));
  ASSERT_OK(store().post_task_message(message("t3", "heartbeat", "", kT0 + 3)));
  ASSERT_OK(store().post_task_message(
      message("t2cb", "failure", R"({"error":"E","cause":"why"})", kT0 + 4)));
  ASSERT_OK(store().post_task_message(message("t2", "heartbeat", "", kT0 + 5)));

  Result<std::vector<TaskMessage>> all = store().task_messages({3, 1, 2}, 10);
  ASSERT_OK(all);
  ASSERT_THAT(tokens_of(*all), ElementsAre("t2/started", "t1/success", "t3/heartbeat",
                                           "t2cb/failure", "t2/heartbeat"));
  // Ids increase in posting order; the partition is the task row's; the rest as posted.
  for (std::size_t i = 1; i < all->size(); ++i) EXPECT_LT((*all)[i - 1].id, (*all)[i].id);
  TaskMessage want = message("t1", "success", R"({"ok":true})", kT0 + 2);
  want.id = (*all)[1].id;
  want.partition = 1;
  EXPECT_EQ((*all)[1], want);
  want = message("t2cb", "failure", R"({"error":"E","cause":"why"})", kT0 + 4);
  want.id = (*all)[3].id;
  want.partition = 2;
  EXPECT_EQ((*all)[3], want);
  EXPECT_EQ((*all)[0].body, "worker-9");
  EXPECT_EQ((*all)[2].partition, 3);

  // Only the partitions asked for, oldest first, at most max.
  Result<std::vector<TaskMessage>> some = store().task_messages({2}, 10);
  ASSERT_OK(some);
  EXPECT_THAT(tokens_of(*some), ElementsAre("t2/started", "t2cb/failure", "t2/heartbeat"));
  some = store().task_messages({2, 3}, 2);
  ASSERT_OK(some);
  EXPECT_THAT(tokens_of(*some), ElementsAre("t2/started", "t3/heartbeat"));
  some = store().task_messages({1, 2, 3}, 1);
  ASSERT_OK(some);
  EXPECT_THAT(tokens_of(*some), ElementsAre("t2/started"));
  some = store().task_messages({0, 4}, 10);
  ASSERT_OK(some);
  EXPECT_THAT(*some, IsEmpty());
  some = store().task_messages({}, 10);  // no partitions: no messages
  ASSERT_OK(some);
  EXPECT_THAT(*some, IsEmpty());

  // Delete what was acted on; unknown ids are ignored; an empty list does nothing.
  ASSERT_OK(store().delete_task_messages({(*all)[0].id, (*all)[3].id, (*all)[4].id + 1000}));
  ASSERT_OK(store().delete_task_messages({}));
  some = store().task_messages({1, 2, 3}, 10);
  ASSERT_OK(some);
  EXPECT_THAT(ids_of(*some), ElementsAre((*all)[1].id, (*all)[2].id, (*all)[4].id));
  ASSERT_OK(store().delete_task_messages({(*all)[1].id, (*all)[2].id, (*all)[4].id}));
  some = store().task_messages({1, 2, 3}, 10);
  ASSERT_OK(some);
  EXPECT_THAT(*some, IsEmpty());

  // Ids keep growing after deletes.
  ASSERT_OK(store().post_task_message(message("t1", "heartbeat", "", kT0 + 6)));
  some = store().task_messages({1}, 10);
  ASSERT_OK(some);
  ASSERT_EQ(some->size(), 1u);
  EXPECT_GT((*some)[0].id, (*all)[4].id);
}

TEST_P(StoreSuite, ATaskHasOneOutcomeButManyHeartbeats) {
  const std::string pay = activity_arn("pay");
  ExecutionRecord e = execution("m", "run1", kT0, 6);
  start(e);
  std::int64_t v = 1;
  ASSERT_OK(put_tasks(store(), e.arn, v,
                      {activity_task("tok-1", e, pay, kT0), activity_task("tok-2", e, pay, kT0)}));

  ASSERT_OK(store().post_task_message(message("tok-1", "heartbeat", "", kT0 + 1)));
  ASSERT_OK(store().post_task_message(message("tok-1", "success", R"("first")", kT0 + 2)));
  expect_error(store().post_task_message(message("tok-1", "success", R"("second")", kT0 + 3)),
               ErrorCode::AlreadyExists, "task tok-1 already has an outcome");
  expect_error(store().post_task_message(
                   message("tok-1", "failure", R"({"error":"E","cause":""})", kT0 + 4)),
               ErrorCode::AlreadyExists, "task tok-1 already has an outcome");
  // Heartbeats and hand-outs may come any number of times, also after the outcome.
  ASSERT_OK(store().post_task_message(message("tok-1", "heartbeat", "", kT0 + 5)));
  ASSERT_OK(store().post_task_message(message("tok-1", "heartbeat", "", kT0 + 6)));
  ASSERT_OK(store().post_task_message(message("tok-1", "started", "w1", kT0 + 7)));
  ASSERT_OK(store().post_task_message(message("tok-1", "started", "w2", kT0 + 8)));
  // Another token's outcome is its own.
  ASSERT_OK(store().post_task_message(
      message("tok-2", "failure", R"({"error":"E","cause":""})", kT0 + 9)));
  expect_error(store().post_task_message(message("tok-2", "success", "1", kT0 + 10)),
               ErrorCode::AlreadyExists, "task tok-2 already has an outcome");

  Result<std::vector<TaskMessage>> all = store().task_messages({6}, 100);
  ASSERT_OK(all);
  EXPECT_THAT(tokens_of(*all),
              ElementsAre("tok-1/heartbeat", "tok-1/success", "tok-1/heartbeat", "tok-1/heartbeat",
                          "tok-1/started", "tok-1/started", "tok-2/failure"));
  EXPECT_EQ((*all)[1].body, R"("first")");
}

TEST_P(StoreSuite, MessageForAMissingTaskIsNotFound) {
  const std::string pay = activity_arn("pay");
  expect_error(store().post_task_message(message("tok-none", "success", "1", kT0)),
               ErrorCode::NotFound, "task tok-none does not exist");
  ExecutionRecord e = execution("m", "run1", kT0, 1);
  start(e);
  std::int64_t v = 1;
  ASSERT_OK(put_tasks(store(), e.arn, v, {activity_task("tok-1", e, pay, kT0)}));
  ASSERT_OK(store().post_task_message(message("tok-1", "heartbeat", "", kT0 + 1)));
  // The task completes on its node (the row goes): later messages are refused.
  ExecutionWrite w = step_write(e.arn, v++);
  w.tasks_delete = {"tok-1"};
  ASSERT_OK(store().commit(batch_of({w})));
  expect_error(store().post_task_message(message("tok-1", "success", "1", kT0 + 2)),
               ErrorCode::NotFound, "task tok-1 does not exist");
  expect_error(store().post_task_message(message("tok-1", "heartbeat", "", kT0 + 3)),
               ErrorCode::NotFound, "task tok-1 does not exist");
  Result<std::vector<TaskMessage>> all = store().task_messages({1}, 100);
  ASSERT_OK(all);
  EXPECT_THAT(tokens_of(*all), ElementsAre("tok-1/heartbeat"));
}

TEST_P(StoreSuite, TaskMessagesChecksMax) {
  expect_error(store().task_messages({0}, 0), ErrorCode::InvalidArgument,
               "max must be at least 1, got 0");
  expect_error(store().task_messages({0}, -3), ErrorCode::InvalidArgument,
               "max must be at least 1, got -3");
}

}  // namespace
}  // namespace stepd::engine::store_test
