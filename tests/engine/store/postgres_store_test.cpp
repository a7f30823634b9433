#include "engine/store/postgres_store.hpp"

#include "store_suite.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <postgresql/libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

// These tests talk to a real PostgreSQL server named by STEPD_TEST_PG_URL (scripts/test.sh
// starts one with scripts/postgres.sh and sets it). Every store gets a schema of its own, so
// tests run in parallel; the schema is dropped when the store is destroyed.
namespace stepd::engine::store_test {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

constexpr const char* kNoServer =
    "STEPD_TEST_PG_URL is not set; start a server with: eval \"$(bash scripts/postgres.sh)\"";

std::string server_url() {
  const char* url = std::getenv("STEPD_TEST_PG_URL");
  return url == nullptr ? "" : url;
}

std::string with_params(const std::string& url, const std::string& params) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + params;
}

// A schema name unique to this process and call.
std::string fresh_schema() {
  static std::atomic<int> counter{0};
  return "stepd_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++);
}

// A plain libpq connection for setting up and inspecting what the store did.
class Admin {
 public:
  explicit Admin(const std::string& url) : pg_(PQconnectdb(url.c_str())) {
    EXPECT_EQ(PQstatus(pg_), CONNECTION_OK) << PQerrorMessage(pg_);
    PQsetNoticeProcessor(
        pg_, [](void*, const char*) {}, nullptr);
  }
  ~Admin() { PQfinish(pg_); }
  Admin(const Admin&) = delete;
  Admin& operator=(const Admin&) = delete;

  // The first column of the first row ("" when none); fails the test on an error.
  std::string query(const std::string& sql) {
    PGresult* r = PQexec(pg_, sql.c_str());
    ExecStatusType st = PQresultStatus(r);
    EXPECT_TRUE(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
        << sql << ": " << PQerrorMessage(pg_);
    std::string out = st == PGRES_TUPLES_OK && PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "";
    PQclear(r);
    return out;
  }

  // Terminates every backend whose application_name is `app`; returns how many.
  int terminate(const std::string& app) {
    return std::stoi(
        query("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
              "WHERE application_name = '" +
              app + "'"));
  }

  int backends(const std::string& app) {
    return std::stoi(
        query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'"));
  }

 private:
  PGconn* pg_;
};

// A Store over its own schema; drops the schema when destroyed. Forwards everything.
class ScratchStore final : public Store {
 public:
  ScratchStore(std::unique_ptr<Store> inner, std::string url, std::string schema)
      : inner_(std::move(inner)), url_(std::move(url)), schema_(std::move(schema)) {}
  ~ScratchStore() override {
    inner_.reset();
    Admin admin(url_);
    admin.query("DROP SCHEMA IF EXISTS " + schema_ + " CASCADE");
  }

  Store& inner() { return *inner_; }
  const std::string& schema() const { return schema_; }

  Status migrate() override { return inner_->migrate(); }
  Result<int> schema_version() override { return inner_->schema_version(); }
  Status create_state_machine(const StateMachineRecord& m) override {
    return inner_->create_state_machine(m);
  }
  Status update_state_machine(const StateMachineRecord& m, const RevisionRecord& r) override {
    return inner_->update_state_machine(m, r);
  }
  Result<StateMachineRecord> get_state_machine(std::string_view arn) override {
    return inner_->get_state_machine(arn);
  }
  Result<RevisionRecord> get_revision(std::string_view arn, std::string_view id) override {
    return inner_->get_revision(arn, id);
  }
  Result<Page<StateMachineRecord>> list_state_machines(const PageRequest& p) override {
    return inner_->list_state_machines(p);
  }
  Status delete_state_machine(std::string_view arn) override {
    return inner_->delete_state_machine(arn);
  }
  Status set_state_machine_tags(std::string_view arn, const std::string& tags) override {
    return inner_->set_state_machine_tags(arn, tags);
  }
  Status append_audit(const std::vector<AuditRecord>& entries) override {
    return inner_->append_audit(entries);
  }
  Result<Page<AuditRecord>> list_audit(const AuditQuery& q, const PageRequest& p) override {
    return inner_->list_audit(q, p);
  }
  Status commit(const CommitBatch& b, CommitConflict* c = nullptr) override {
    return inner_->commit(b, c);
  }
  Result<ExecutionRecord> get_execution(std::string_view arn) override {
    return inner_->get_execution(arn);
  }
  Result<Page<ExecutionRecord>> list_executions(const ExecutionFilter& f,
                                                const PageRequest& p) override {
    return inner_->list_executions(f, p);
  }
  Result<Page<HistoryEvent>> get_history(std::string_view arn, const PageRequest& p,
                                         bool reverse) override {
    return inner_->get_history(arn, p, reverse);
  }
  Result<std::vector<FrameRecord>> load_frames(std::string_view arn) override {
    return inner_->load_frames(arn);
  }
  Result<std::vector<MapResultRecord>> load_map_results(std::string_view arn) override {
    return inner_->load_map_results(arn);
  }
  Result<std::vector<std::string>> open_executions(const std::vector<int>& p) override {
    return inner_->open_executions(p);
  }
  Result<std::vector<TimerRecord>> due_timers(Micros until, const std::vector<int>& p,
                                              int max) override {
    return inner_->due_timers(until, p, max);
  }
  Result<TaskRecord> get_task(std::string_view token) override { return inner_->get_task(token); }
  Result<std::vector<TaskRecord>> tasks_of_execution(std::string_view arn) override {
    return inner_->tasks_of_execution(arn);
  }
  Status create_activity(const ActivityRecord& a) override { return inner_->create_activity(a); }
  Result<ActivityRecord> get_activity(std::string_view arn) override {
    return inner_->get_activity(arn);
  }
  Result<Page<ActivityRecord>> list_activities(const PageRequest& p) override {
    return inner_->list_activities(p);
  }
  Status delete_activity(std::string_view arn) override { return inner_->delete_activity(arn); }
  Status set_activity_tags(std::string_view arn, const std::string& tags) override {
    return inner_->set_activity_tags(arn, tags);
  }
  Status put_route(const RouteRecord& r) override { return inner_->put_route(r); }
  Status delete_route(std::string_view kind, std::string_view name) override {
    return inner_->delete_route(kind, name);
  }
  Result<std::vector<RouteRecord>> list_routes() override { return inner_->list_routes(); }
  Result<std::optional<TaskRecord>> claim_activity_task(std::string_view activity_arn,
                                                        Micros scheduled_before,
                                                        const std::string& worker) override {
    return inner_->claim_activity_task(activity_arn, scheduled_before, worker);
  }
  Result<bool> release_activity_task(std::string_view token, const std::string& worker) override {
    return inner_->release_activity_task(token, worker);
  }
  Status post_task_message(const TaskMessage& m) override { return inner_->post_task_message(m); }
  Result<std::vector<TaskMessage>> task_messages(const std::vector<int>& p, int max) override {
    return inner_->task_messages(p, max);
  }
  Status delete_task_messages(const std::vector<std::int64_t>& ids) override {
    return inner_->delete_task_messages(ids);
  }
  Result<std::vector<PartitionLease>> acquire_partitions(const std::string& node, int partitions,
                                                         int max_partitions, Micros now,
                                                         Micros ttl) override {
    return inner_->acquire_partitions(node, partitions, max_partitions, now, ttl);
  }
  Status release_partitions(const std::string& node) override {
    return inner_->release_partitions(node);
  }
  Result<std::vector<PartitionLease>> list_partitions() override {
    return inner_->list_partitions();
  }

 private:
  std::unique_ptr<Store> inner_;
  std::string url_;
  std::string schema_;
};

// A store over a fresh schema of the test server (through open_store, as stepd opens it), with
// application_name = the schema name so tests can find its connections; nullptr when no server
// is configured.
std::unique_ptr<ScratchStore> scratch_store(const std::string& extra = "pool_size=4") {
  std::string url = server_url();
  if (url.empty()) return nullptr;
  std::string schema = fresh_schema();
  auto store = open_store(
      with_params(url, "schema=" + schema + "&application_name=" + schema + "&" + extra));
  if (!store.ok()) {
    ADD_FAILURE() << "open_store: " << store.error().message;
    return nullptr;
  }
  return std::make_unique<ScratchStore>(std::move(*store), url, schema);
}

// A second store (another "node") on the same schema.
std::unique_ptr<Store> other_node(const ScratchStore& first, const std::string& app) {
  auto store = open_store(
      with_params(server_url(), "schema=" + first.schema() + "&application_name=" + app));
  EXPECT_TRUE(store.ok()) << store.error().message;
  return store.ok() ? std::move(*store) : nullptr;
}

INSTANTIATE_TEST_SUITE_P(Postgres, StoreSuite,
                         ::testing::Values(StoreBackend{"postgres",
                                                        []() -> std::unique_ptr<Store> {
                                                          if (server_url().empty()) {
                                                            std::cerr << kNoServer << "\n";
                                                          }
                                                          return scratch_store();
                                                        }}),
                         StoreBackendName());

class PostgresStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_url().empty()) GTEST_SKIP() << kNoServer;
    store_ = scratch_store();
    ASSERT_NE(store_, nullptr);
    ASSERT_OK(store_->migrate());
  }

  void start(const ExecutionRecord& e) {
    ASSERT_OK(store_->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})));
  }

  std::unique_ptr<ScratchStore> store_;
};

// --- Opening ------------------------------------------------------------------------------------

TEST(PostgresStoreUrl, BadUrlsAreInvalidArgument) {
  struct Bad {
    std::string url;
    std::string message;
  };
  for (const Bad& bad : {
           Bad{"postgresql://h/db?pool_size=0",
               "postgresql URL: pool_size must be an integer from 1 to 64, got \"0\""},
           Bad{"postgresql://h/db?pool_size=65",
               "postgresql URL: pool_size must be an integer from 1 to 64, got \"65\""},
           Bad{"postgres://h/db?sslmode=disable&pool_size=x",
               "postgresql URL: pool_size must be an integer from 1 to 64, got \"x\""},
           Bad{"postgresql://h/db?schema=a-b",
               "postgresql URL: schema must be 1 to 63 letters, digits or _ (not starting with "
               "a digit), got \"a-b\""},
           Bad{"postgresql://h/db?schema=1x",
               "postgresql URL: schema must be 1 to 63 letters, digits or _ (not starting with "
               "a digit), got \"1x\""},
           Bad{"postgresql://h/db?bogus=1",
               "postgresql URL: invalid URI query parameter: \"bogus\""},
           Bad{"mysql://h/db", "postgresql URL must start with postgresql:// or postgres://"},
       }) {
    auto store = open_postgres_store(bad.url);
    ASSERT_FALSE(store.ok()) << bad.url;
    EXPECT_EQ(store.error().code, ErrorCode::InvalidArgument) << bad.url;
    EXPECT_EQ(store.error().message, bad.message);
  }
}

TEST(PostgresStoreUrl, UnreachableServerIsUnavailable) {
  // Port 1 on loopback: nothing listens there.
  auto store = open_store("postgresql://stepd@127.0.0.1:1/none?connect_timeout=2");
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(store.error().message,
              StartsWith("postgresql: cannot connect: connection to server at \"127.0.0.1\", "
                         "port 1 failed: Connection refused"));
}

// --- Schema -------------------------------------------------------------------------------------

// A fresh schema of the test server, not migrated yet (skips without a server).
class PostgresStoreSchema : public ::testing::Test {
 protected:
  void SetUp() override {
    if (server_url().empty()) GTEST_SKIP() << kNoServer;
    store_ = scratch_store();
    ASSERT_NE(store_, nullptr);
  }

  // The versions the schema_version table records, ascending: "1,2,3,4".
  std::string versions(Admin& admin) const {
    return admin.query("SELECT string_agg(version::text, ',' ORDER BY version) FROM " +
                       store_->schema() + ".schema_version");
  }

  std::unique_ptr<ScratchStore> store_;
};

TEST_F(PostgresStoreSchema, FreshSchemaIsVersionZeroThenCurrent) {
  Result<int> before = store_->schema_version();
  ASSERT_OK(before);
  EXPECT_EQ(*before, 0);
  ASSERT_OK(store_->migrate());
  Result<int> after = store_->schema_version();
  ASSERT_OK(after);
  EXPECT_EQ(*after, 4);
  Admin admin(server_url());
  EXPECT_EQ(admin.query("SELECT string_agg(table_name, ',' ORDER BY table_name) FROM "
                        "information_schema.tables WHERE table_schema = '" +
                        store_->schema() + "'"),
            "activities,audit,executions,frames,history,map_results,partitions,revisions,routes,"
            "schema_version,state_machines,task_messages,tasks,timers");
  EXPECT_EQ(versions(admin), "1,2,3,4");
}

TEST_F(PostgresStoreSchema, ConcurrentMigrationsFromManyNodes) {
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(other_node(*store_, store_->schema() + "_n"));
  std::vector<std::thread> threads;
  std::vector<std::string> results(nodes.size());
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = describe(nodes[i]->migrate()); });
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(results, ElementsAre("OK", "OK", "OK", "OK"));
  Admin admin(server_url());
  EXPECT_EQ(admin.query("SELECT count(*) FROM " + store_->schema() + ".schema_version"), "4");
  ASSERT_OK(store_->create_state_machine(machine("m")));
  ASSERT_OK(nodes[0]->get_state_machine(machine_arn("m")));
}

// Takes a schema at version 4 back to version 3: removes what migration 4 added.
void undo_version_four(Admin& admin, const std::string& schema) {
  admin.query("DROP TABLE " + schema + ".activities, " + schema + ".routes, " + schema +
              ".task_messages");
  admin.query("DELETE FROM " + schema + ".schema_version WHERE version >= 4");
}

// A database at schema version 1 (before the saga extension's compensation column and the audit
// log) migrates to the current version and keeps its executions; the new column then reads and
// writes.
TEST_F(PostgresStoreSchema, MigratesVersionOneToCurrent) {
  ASSERT_OK(store_->migrate());
  ExecutionRecord e = execution("m", "old", kT0, 1);
  ASSERT_OK(store_->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})));
  Admin admin(server_url());
  undo_version_four(admin, store_->schema());
  admin.query("DROP TABLE " + store_->schema() + ".audit");
  admin.query("ALTER TABLE " + store_->schema() + ".executions DROP COLUMN compensation");
  admin.query("DELETE FROM " + store_->schema() + ".schema_version WHERE version >= 2");

  auto node = other_node(*store_, store_->schema() + "_upgrade");
  ASSERT_NE(node, nullptr);
  ASSERT_OK(node->migrate());
  EXPECT_EQ(versions(admin), "1,2,3,4");
  Result<ExecutionRecord> got = node->get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, as_created(e));
  ExecutionWrite w = step_write(e.arn, 1, {event(2, "CompensationStarted")});
  w.update.compensation = "[]";
  ASSERT_OK(node->commit(batch_of({w})));
  got = node->get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->compensation, "[]");
}

// A database at schema version 2 (before the audit log) migrates to the current version: machines
// and executions stay as they were, and the audit log and tags work, also from a second node.
TEST_F(PostgresStoreSchema, MigratesVersionTwoToCurrent) {
  ASSERT_OK(store_->migrate());
  ASSERT_OK(store_->create_state_machine(machine("m")));
  ExecutionRecord e = execution("m", "old", kT0, 1);
  ASSERT_OK(store_->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})})));
  Admin admin(server_url());
  undo_version_four(admin, store_->schema());
  admin.query("DROP TABLE " + store_->schema() + ".audit");
  admin.query("DELETE FROM " + store_->schema() + ".schema_version WHERE version = 3");
  Result<int> before = store_->schema_version();
  ASSERT_OK(before);
  EXPECT_EQ(*before, 2);

  auto node = other_node(*store_, store_->schema() + "_upgrade");
  ASSERT_NE(node, nullptr);
  ASSERT_OK(node->migrate());
  EXPECT_EQ(versions(admin), "1,2,3,4");
  EXPECT_EQ(admin.query("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                        "WHERE schemaname = '" +
                        store_->schema() + "' AND tablename = 'audit'"),
            "audit_by_key,audit_by_operation,audit_by_resource,audit_pkey");
  Result<StateMachineRecord> m = node->get_state_machine(machine_arn("m"));
  ASSERT_OK(m);
  EXPECT_EQ(*m, machine("m"));
  Result<ExecutionRecord> got = node->get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, as_created(e));

  ASSERT_OK(node->set_state_machine_tags(machine_arn("m"), "[]"));
  AuditRecord a{0, kT0, "admin", "127.0.0.1:1", "TagResource", machine_arn("m"), "ok", "r1"};
  ASSERT_OK(node->append_audit({a}));
  // The first node (its connections opened before the upgrade) sees it too.
  Result<Page<AuditRecord>> log = store_->list_audit({}, PageRequest{10, ""});
  ASSERT_OK(log);
  ASSERT_EQ(log->items.size(), 1u);
  a.id = log->items[0].id;
  EXPECT_EQ(log->items[0], a);
}

// A database at schema version 3 (before activities, routes and task messages) migrates to
// version 4 once, from either of two nodes at the same time; its tasks stay and the new tables
// work from the node whose connections were opened before the upgrade.
TEST_F(PostgresStoreSchema, MigratesVersionThreeToFour) {
  ASSERT_OK(store_->migrate());
  ExecutionRecord e = execution("m", "old", kT0, 2);
  TaskRecord t = scheduled_task("tok-old", e, "Work",
                                "arn:aws:states:us-east-1:123456789012:activity:pay", kT0 + 5);
  t.activity_arn = t.resource;
  ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
  w.tasks_put = {t};
  ASSERT_OK(store_->commit(batch_of({w})));
  Admin admin(server_url());
  undo_version_four(admin, store_->schema());
  Result<int> before = store_->schema_version();
  ASSERT_OK(before);
  EXPECT_EQ(*before, 3);

  auto node_a = other_node(*store_, store_->schema() + "_a");
  auto node_b = other_node(*store_, store_->schema() + "_b");
  ASSERT_NE(node_a, nullptr);
  ASSERT_NE(node_b, nullptr);
  std::string result_a, result_b;
  std::thread ta([&] { result_a = describe(node_a->migrate()); });
  std::thread tb([&] { result_b = describe(node_b->migrate()); });
  ta.join();
  tb.join();
  EXPECT_EQ(result_a, "OK");
  EXPECT_EQ(result_b, "OK");
  ASSERT_OK(store_->migrate());  // again: nothing to do
  EXPECT_EQ(versions(admin), "1,2,3,4");
  EXPECT_EQ(admin.query("SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
                        "WHERE schemaname = '" +
                        store_->schema() +
                        "' AND tablename IN ('activities', 'routes', 'task_messages')"),
            "activities_by_name,activities_pkey,routes_pkey,task_messages_by_partition,"
            "task_messages_one_outcome,task_messages_pkey");
  Result<TaskRecord> old = store_->get_task("tok-old");
  ASSERT_OK(old);
  EXPECT_EQ(*old, t);

  ActivityRecord a{t.activity_arn, "pay", "[]", kT0};
  ASSERT_OK(store_->create_activity(a));
  ASSERT_OK(store_->put_route({"function", "f", "http://127.0.0.1:1", kT0}));
  Result<std::optional<TaskRecord>> claimed = store_->claim_activity_task(a.arn, kT0 + 5, "w");
  ASSERT_OK(claimed);
  ASSERT_TRUE(claimed->has_value());
  EXPECT_EQ((*claimed)->token, "tok-old");
  ASSERT_OK(store_->post_task_message(TaskMessage{0, "tok-old", "heartbeat", "", 0, kT0}));
  Result<std::vector<TaskMessage>> messages = node_a->task_messages({2}, 10);
  ASSERT_OK(messages);
  ASSERT_EQ(messages->size(), 1u);
  EXPECT_EQ((*messages)[0].partition, 2);
  Result<ActivityRecord> got = node_b->get_activity(a.arn);
  ASSERT_OK(got);
  EXPECT_EQ(*got, a);
}

TEST_F(PostgresStoreSchema, NewerSchemaIsRefused) {
  ASSERT_OK(store_->migrate());
  Admin admin(server_url());
  admin.query("INSERT INTO " + store_->schema() + ".schema_version (version) VALUES (99)");
  Status s = store_->migrate();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::Internal);
  EXPECT_EQ(s.error().message,
            "postgresql: the database schema is at version 99, newer than this stepd (4)");
}

// --- Commit mechanics ---------------------------------------------------------------------------

TEST_F(PostgresStoreTest, OneExecutionTwiceInOneBatch) {
  ExecutionRecord e = execution("m", "twice");
  ExecutionWrite first = create_write(e, {event(1, "ExecutionStarted"), event(2, "A")});
  first.frames_put = {{"", "1"}, {"", "2"}};  // the last put of a key wins
  first.timers_put = {{"", "t", kT0 + 1, 0}};
  ExecutionWrite second = step_write(e.arn, 1, {event(3, "B")});
  second.frames_put = {{"", "3"}};
  second.timers_delete = {"t"};
  second.update.status = "SUCCEEDED";
  ExecutionWrite third = step_write(e.arn, 2, {event(4, "C")});
  ASSERT_OK(store_->commit(batch_of({first, second, third}), nullptr));
  Result<ExecutionRecord> got = store_->get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 3);
  EXPECT_EQ(got->last_event_id, 4);
  EXPECT_EQ(got->status, "SUCCEEDED");
  Result<std::vector<FrameRecord>> frames = store_->load_frames(e.arn);
  ASSERT_OK(frames);
  EXPECT_THAT(*frames, ElementsAre(FrameRecord{"", "3"}));
  Result<std::vector<TimerRecord>> timers = store_->due_timers(kT0 + 10, {}, 10);
  ASSERT_OK(timers);
  EXPECT_THAT(*timers, IsEmpty());

  // A later write of the same execution in one batch must continue the earlier one.
  CommitConflict conflict;
  Status s = store_->commit(
      batch_of({step_write(e.arn, 3, {event(5, "D")}), step_write(e.arn, 3, {event(6, "E")})}),
      &conflict);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::Conflict);
  EXPECT_EQ(s.error().message, "execution " + e.arn + " is at version 4, not 3");
  EXPECT_THAT(conflict.stale_executions, ElementsAre(e.arn));
  got = store_->get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 3);
}

TEST_F(PostgresStoreTest, LargeBatchLandsWhole) {
  std::vector<ExecutionWrite> writes;
  for (int i = 0; i < 300; ++i) {
    ExecutionRecord e = execution("m", "e" + std::to_string(i), kT0 + i, i % 7);
    std::vector<HistoryEvent> events;
    for (int id = 1; id <= 5; ++id) {
      events.push_back(
          event(id, "T", R"({"payload":"\"quoted\" \\ ü )" + std::to_string(id) + R"("})"));
    }
    ExecutionWrite w = create_write(e, events);
    w.frames_put = {{"", R"({"i":)" + std::to_string(i) + "}"}};
    writes.push_back(std::move(w));
  }
  ASSERT_OK(store_->commit(batch_of(writes), nullptr));
  Admin admin(server_url());
  EXPECT_EQ(admin.query("SELECT count(*) FROM " + store_->schema() + ".history"), "1500");
  EXPECT_EQ(admin.query("SELECT count(*) FROM " + store_->schema() + ".frames"), "300");
  Result<Page<HistoryEvent>> h =
      store_->get_history(execution_arn("m", "e299"), page(10), false);
  ASSERT_OK(h);
  ASSERT_EQ(h->items.size(), 5u);
  EXPECT_EQ(h->items[4].details, R"({"payload":"\"quoted\" \\ ü 5"})");
}

TEST_F(PostgresStoreTest, BadTextIsInvalidArgument) {
  StateMachineRecord m = machine("bad");
  m.definition = "\xff";
  Status s = store_->create_state_machine(m);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(s.error().message,
            "postgresql: create_state_machine: invalid byte sequence for encoding \"UTF8\": 0xff "
            "(SQLSTATE 22021)");
  Result<StateMachineRecord> got = store_->get_state_machine(m.arn);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::NotFound);
}

// A batch is one transaction: one entry the server refuses (text that is not UTF-8) and none of
// the batch is written.
TEST_F(PostgresStoreTest, AuditBatchIsAllOrNothing) {
  AuditRecord good{0, kT0, "k", "", "StartExecution", "", "ok", "good"};
  AuditRecord bad = good;
  bad.request_id = "\xff";
  Status s = store_->append_audit({good, bad, good});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::InvalidArgument);
  EXPECT_EQ(s.error().message,
            "postgresql: append_audit: invalid byte sequence for encoding \"UTF8\": 0xff "
            "(SQLSTATE 22021)");
  Result<Page<AuditRecord>> log = store_->list_audit({}, page(10));
  ASSERT_OK(log);
  EXPECT_THAT(log->items, IsEmpty());
  ASSERT_OK(store_->append_audit({good}));
  log = store_->list_audit({}, page(10));
  ASSERT_OK(log);
  EXPECT_EQ(log->items.size(), 1u);
}

// The batch travels as arrays in one statement: a batch of 5,000 lands whole and in order.
TEST_F(PostgresStoreTest, LargeAuditBatchLandsInOrder) {
  std::vector<AuditRecord> batch;
  for (int i = 0; i < 5000; ++i) {
    batch.push_back(AuditRecord{0, kT0 + i, "k", "", "StartExecution", "", "ok",
                                "r" + std::to_string(i)});
  }
  ASSERT_OK(store_->append_audit(batch));
  Result<Page<AuditRecord>> newest = store_->list_audit({}, page(1000));
  ASSERT_OK(newest);
  ASSERT_EQ(newest->items.size(), 1000u);
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(newest->items[static_cast<std::size_t>(i)].request_id,
              "r" + std::to_string(4999 - i));
    EXPECT_EQ(newest->items[static_cast<std::size_t>(i)].time, kT0 + 4999 - i);
  }
  Admin admin(server_url());
  EXPECT_EQ(admin.query("SELECT count(*) FROM " + store_->schema() + ".audit"), "5000");
}

// --- The pool -----------------------------------------------------------------------------------

TEST(PostgresStorePool, ManyThreadsShareAFewConnections) {
  if (server_url().empty()) GTEST_SKIP() << kNoServer;
  auto store = scratch_store("pool_size=3");
  ASSERT_NE(store, nullptr);
  ASSERT_OK(store->migrate());
  constexpr int kThreads = 10;
  constexpr int kSteps = 30;
  std::vector<ExecutionRecord> executions;
  for (int t = 0; t < kThreads; ++t) {
    executions.push_back(execution("m", "p" + std::to_string(t)));
    ASSERT_OK(store->commit(batch_of({create_write(executions.back(), {event(1, "S")})}), nullptr));
  }
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int s = 1; s <= kSteps; ++s) {
        const std::string& arn = executions[t].arn;
        if (!store->commit(batch_of({step_write(arn, s, {event(s + 1, "X")})}), nullptr).ok()) {
          ++failures;
        }
        Result<ExecutionRecord> got = store->get_execution(arn);
        if (!got.ok() || got->version != s + 1) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  Admin admin(server_url());
  EXPECT_EQ(admin.backends(store->schema()), 3);
  for (const auto& e : executions) {
    Result<ExecutionRecord> got = store->get_execution(e.arn);
    ASSERT_OK(got);
    EXPECT_EQ(got->last_event_id, kSteps + 1);
  }
}

// --- Connection loss ----------------------------------------------------------------------------

TEST_F(PostgresStoreTest, ReconnectsAfterConnectionsAreTerminated) {
  ExecutionRecord e = execution("m", "survivor");
  start(e);
  Admin admin(server_url());
  for (int round = 1; round <= 3; ++round) {
    // Drop every connection of the pool; the store notices before using one and reconnects.
    EXPECT_GE(admin.terminate(store_->schema()), 1);
    Result<ExecutionRecord> got = store_->get_execution(e.arn);
    ASSERT_OK(got);
    EXPECT_EQ(got->version, round);
    EXPECT_GE(admin.terminate(store_->schema()), 1);
    ASSERT_OK(
        store_->commit(batch_of({step_write(e.arn, round, {event(round + 1, "X")})}), nullptr));
  }
  Result<Page<HistoryEvent>> h = store_->get_history(e.arn, page(100), false);
  ASSERT_OK(h);
  EXPECT_EQ(h->items.size(), 4u);
}

// Runs scripts/postgres.sh for a private server of this test; returns its exit status.
int private_server(const std::string& command, int port, const std::string& dir) {
  std::string cmd = "STEPD_PG_PORT=" + std::to_string(port) + " STEPD_PG_DIR=" + dir +
                    " bash " STEPD_SOURCE_DIR "/scripts/postgres.sh " + command +
                    " >/dev/null 2>&1";
  return std::system(cmd.c_str());
}

TEST(PostgresStoreRestart, SurvivesServerRestartAndOutage) {
  if (server_url().empty()) GTEST_SKIP() << kNoServer;
  // A server of its own, so restarting it disturbs no other test.
  const int port = 55000 + ::getpid() % 4000;
  const std::string dir = "/tmp/stepd-pg-restart-" + std::to_string(::getpid());
  ASSERT_EQ(private_server("start", port, dir), 0);
  struct Cleanup {
    int port;
    std::string dir;
    ~Cleanup() {
      private_server("stop", port, dir);
      std::system(("rm -rf " + dir).c_str());
    }
  } cleanup{port, dir};
  const std::string url =
      "postgresql://postgres@127.0.0.1:" + std::to_string(port) + "/stepd_test?pool_size=2";
  auto opened = open_store(url);
  ASSERT_OK(opened);
  Store& store = **opened;
  ASSERT_OK(store.migrate());
  ExecutionRecord e = execution("m", "restart");
  ASSERT_OK(store.commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})}), nullptr));

  ASSERT_EQ(private_server("restart", port, dir), 0);
  // The pool's connections died with the old server: noticed and replaced, nothing lost.
  Result<ExecutionRecord> got = store.get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 1);
  ASSERT_OK(store.commit(batch_of({step_write(e.arn, 1, {event(2, "AfterRestart")})}), nullptr));

  // While the server is down: Unavailable, with the driver's reason.
  ASSERT_EQ(private_server("stop", port, dir), 0);
  got = store.get_execution(e.arn);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, ErrorCode::Unavailable);
  EXPECT_THAT(got.error().message, StartsWith("postgresql: cannot connect: "));
  EXPECT_THAT(got.error().message, HasSubstr("Connection refused"));
  Status s = store.commit(batch_of({step_write(e.arn, 2, {event(3, "Down")})}), nullptr);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::Unavailable);

  // Back up: the same store works again, and only committed work is there.
  ASSERT_EQ(private_server("start", port, dir), 0);
  got = store.get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, 2);
  EXPECT_EQ(got->last_event_id, 2);
  ASSERT_OK(store.commit(batch_of({step_write(e.arn, 2, {event(3, "Up")})}), nullptr));
}

// --- Two nodes ----------------------------------------------------------------------------------

TEST_F(PostgresStoreTest, TwoNodesSplitPartitionsWithoutOverlap) {
  constexpr int kPartitions = 16;
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(other_node(*store_, store_->schema() + "_n"));
  std::vector<std::vector<PartitionLease>> held(nodes.size());
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      // Everyone races for 6 of the 16 partitions at once, several times (renewals).
      for (int round = 0; round < 5; ++round) {
        auto r = nodes[i]->acquire_partitions("node" + std::to_string(i), kPartitions, 6,
                                              kT0 + round, 1'000'000);
        if (r.ok()) held[i] = *r;
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<int> owner(kPartitions, -1);
  int total = 0;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    EXPECT_LE(held[i].size(), 6u);
    for (const PartitionLease& l : held[i]) {
      EXPECT_EQ(owner[l.partition], -1) << "partition " << l.partition << " held twice";
      owner[l.partition] = static_cast<int>(i);
      EXPECT_EQ(l.epoch, 1);
      EXPECT_EQ(l.node, "node" + std::to_string(i));
      ++total;
    }
  }
  EXPECT_EQ(total, kPartitions);
}

TEST_F(PostgresStoreTest, TakeoverFencesOffTheOldNodeMidStream) {
  const Micros ttl = 1'000'000;
  auto node_b = other_node(*store_, store_->schema() + "_b");
  ASSERT_NE(node_b, nullptr);
  Store& node_a = store_->inner();
  ExecutionRecord e = execution("m", "fenced", kT0, 0);
  auto a_leases = node_a.acquire_partitions("a", 1, 1, kT0, ttl);
  ASSERT_OK(a_leases);
  ASSERT_THAT(*a_leases, ElementsAre(PartitionLease{0, "a", 1, kT0 + ttl}));
  ASSERT_OK(node_a.commit(
      batch_of({create_write(e, {event(1, "ExecutionStarted")})}, {{0, "a", 1}}), nullptr));

  // Node a keeps stepping under its fence; node b takes the partition over meanwhile. No
  // commit of a that starts after b's takeover returned may succeed.
  std::atomic<bool> taken_over{false};
  std::atomic<int> a_after_takeover_ok{0};
  std::atomic<int> a_commits{0};
  std::string a_final_error;
  CommitConflict a_conflict;
  std::thread a([&] {
    std::int64_t version = 1;
    for (;;) {
      const bool after = taken_over.load();
      Status s = node_a.commit(
          batch_of({step_write(e.arn, version, {event(version + 1, "A")})}, {{0, "a", 1}}),
          &a_conflict);
      if (!s.ok()) {
        a_final_error = s.error().message;
        return;
      }
      ++a_commits;
      if (after) ++a_after_takeover_ok;
      ++version;
    }
  });
  while (a_commits.load() < 20) std::this_thread::yield();
  auto b_leases = node_b->acquire_partitions("b", 1, 1, kT0 + ttl, ttl);
  taken_over = true;
  a.join();
  ASSERT_OK(b_leases);
  EXPECT_THAT(*b_leases, ElementsAre(PartitionLease{0, "b", 2, kT0 + 2 * ttl}));
  EXPECT_EQ(a_after_takeover_ok.load(), 0);
  EXPECT_EQ(a_final_error, "partition 0 is no longer held by a at epoch 1");
  EXPECT_THAT(a_conflict.lost_partitions, ElementsAre(0));
  EXPECT_THAT(a_conflict.stale_executions, IsEmpty());

  // b continues from exactly what a committed.
  Result<ExecutionRecord> got = node_b->get_execution(e.arn);
  ASSERT_OK(got);
  EXPECT_EQ(got->version, a_commits.load() + 1);
  EXPECT_EQ(got->last_event_id, a_commits.load() + 1);
  ASSERT_OK(node_b->commit(
      batch_of({step_write(e.arn, got->version, {event(got->last_event_id + 1, "B")})},
               {{0, "b", 2}}),
      nullptr));
  Result<Page<HistoryEvent>> h = node_b->get_history(e.arn, page(1000), false);
  ASSERT_OK(h);
  ASSERT_EQ(h->items.size(), static_cast<std::size_t>(a_commits.load() + 2));
  EXPECT_EQ(h->items.back().type, "B");
  // a, renewing late, finds its partition gone.
  auto a_again = node_a.acquire_partitions("a", 1, 1, kT0 + ttl + 1, ttl);
  ASSERT_OK(a_again);
  EXPECT_THAT(*a_again, IsEmpty());
}

// --- Activity tasks and task messages across nodes ----------------------------------------------

TaskRecord pay_task(const std::string& token, const ExecutionRecord& e, Micros scheduled) {
  TaskRecord t;
  t.token = token;
  t.execution_arn = e.arn;
  t.state_name = "Work";
  t.resource = "arn:aws:states:us-east-1:123456789012:activity:pay";
  t.activity_arn = t.resource;
  t.input = R"({"t":")" + token + R"("})";
  t.status = "SCHEDULED";
  t.scheduled = scheduled;
  t.partition = e.partition;
  return t;
}

// Three nodes with three claiming threads each drain 400 tasks: every task is handed out exactly
// once, to the worker its row names.
TEST_F(PostgresStoreTest, ClaimsFromManyNodesTakeEachTaskOnce) {
  constexpr int kExecutions = 20;
  constexpr int kTasksEach = 20;
  constexpr int kThreadsPerNode = 3;
  const std::string pay = pay_task("x", execution("m", "x"), 0).activity_arn;
  std::vector<ExecutionWrite> writes;
  for (int i = 0; i < kExecutions; ++i) {
    ExecutionRecord e = execution("m", "e" + std::to_string(i), kT0, i % 5);
    ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
    for (int j = 0; j < kTasksEach; ++j) {
      // Many equal schedule times: ties are broken by token.
      w.tasks_put.push_back(
          pay_task("tok-" + std::to_string(i) + "-" + std::to_string(j), e, kT0 + (i + j) % 7));
    }
    writes.push_back(std::move(w));
  }
  ASSERT_OK(store_->commit(batch_of(std::move(writes))));

  std::vector<std::unique_ptr<Store>> others;
  others.push_back(other_node(*store_, store_->schema() + "_c1"));
  others.push_back(other_node(*store_, store_->schema() + "_c2"));
  std::vector<Store*> nodes = {&store_->inner(), others[0].get(), others[1].get()};
  std::mutex mu;
  std::map<std::string, std::vector<std::string>> claimed_by;  // token -> workers
  std::vector<std::string> errors;
  std::vector<std::thread> threads;
  for (std::size_t n = 0; n < nodes.size(); ++n) {
    for (int t = 0; t < kThreadsPerNode; ++t) {
      threads.emplace_back([&, n, t] {
        const std::string worker = "node" + std::to_string(n) + "-w" + std::to_string(t);
        for (;;) {
          Result<std::optional<TaskRecord>> c = nodes[n]->claim_activity_task(pay, kT0 + 10, worker);
          std::lock_guard lock(mu);
          if (!c.ok()) {
            errors.push_back(describe(c));
            return;
          }
          if (!c->has_value()) return;
          claimed_by[(*c)->token].push_back(worker);
        }
      });
    }
  }
  for (auto& t : threads) t.join();
  EXPECT_THAT(errors, IsEmpty());
  EXPECT_EQ(claimed_by.size(), static_cast<std::size_t>(kExecutions * kTasksEach));
  int twice = 0;
  for (const auto& [token, workers] : claimed_by) {
    if (workers.size() != 1) ++twice;
  }
  EXPECT_EQ(twice, 0);
  Admin admin(server_url());
  EXPECT_EQ(admin.query("SELECT count(*) FROM " + store_->schema() +
                        ".tasks WHERE status = 'STARTED'"),
            std::to_string(kExecutions * kTasksEach));
  for (const auto& [token, workers] : claimed_by) {
    Result<TaskRecord> row = store_->get_task(token);
    ASSERT_OK(row);
    EXPECT_EQ(row->worker_name, workers.front()) << token;
  }
}

// A claim passes over a row another transaction holds locked (it does not wait for it), and
// takes it once that transaction is gone.
TEST_F(PostgresStoreTest, ClaimPassesOverALockedRow) {
  ExecutionRecord e = execution("m", "run1");
  TaskRecord t1 = pay_task("tok-1", e, kT0 + 1);
  TaskRecord t2 = pay_task("tok-2", e, kT0 + 2);
  ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
  w.tasks_put = {t1, t2};
  ASSERT_OK(store_->commit(batch_of({w})));

  Admin holder(server_url());
  holder.query("BEGIN");
  holder.query("SELECT token FROM " + store_->schema() + ".tasks WHERE token = 'tok-1' FOR UPDATE");
  auto claim = std::async(std::launch::async,
                          [&] { return store_->claim_activity_task(t1.activity_arn, kT0 + 10, "w"); });
  if (claim.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    holder.query("ROLLBACK");
    FAIL() << "the claim waited for the locked row";
  }
  Result<std::optional<TaskRecord>> c = claim.get();
  ASSERT_OK(c);
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->token, "tok-2");
  holder.query("ROLLBACK");
  c = store_->claim_activity_task(t1.activity_arn, kT0 + 10, "w");
  ASSERT_OK(c);
  ASSERT_TRUE(c->has_value());
  EXPECT_EQ((*c)->token, "tok-1");
}

// A message checks its task row under a lock: a delete of the row that has not committed yet
// makes the message wait, then refuses it when the delete commits, and lets it in when the delete
// rolls back.
TEST_F(PostgresStoreTest, MessageWaitsForAConcurrentDeleteOfItsTask) {
  ExecutionRecord e = execution("m", "run1", kT0, 3);
  ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
  w.tasks_put = {pay_task("tok-1", e, kT0), pay_task("tok-2", e, kT0)};
  ASSERT_OK(store_->commit(batch_of({w})));
  const std::string tasks = store_->schema() + ".tasks";

  for (const std::string ending : {"COMMIT", "ROLLBACK"}) {
    const std::string token = ending == "COMMIT" ? "tok-1" : "tok-2";
    Admin deleter(server_url());
    deleter.query("BEGIN");
    deleter.query("DELETE FROM " + tasks + " WHERE token = '" + token + "'");
    auto post = std::async(std::launch::async, [&] {
      return store_->post_task_message(TaskMessage{0, token, "success", "1", 0, kT0});
    });
    EXPECT_EQ(post.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout)
        << ending << ": the message did not wait for the delete";
    deleter.query(ending);
    Status s = post.get();
    if (ending == "COMMIT") {
      ASSERT_FALSE(s.ok());
      EXPECT_EQ(s.error().code, ErrorCode::NotFound);
      EXPECT_EQ(s.error().message, "task tok-1 does not exist");
    } else {
      ASSERT_OK(s);
    }
  }
  Result<std::vector<TaskMessage>> messages = store_->task_messages({3}, 10);
  ASSERT_OK(messages);
  ASSERT_EQ(messages->size(), 1u);
  EXPECT_EQ((*messages)[0].token, "tok-2");
  EXPECT_EQ((*messages)[0].partition, 3);
}

// Concurrent outcomes of one token from several nodes: exactly one is taken.
TEST_F(PostgresStoreTest, ConcurrentOutcomesOfOneTokenOneWins) {
  ExecutionRecord e = execution("m", "run1", kT0, 1);
  ExecutionWrite w = create_write(e, {event(1, "ExecutionStarted")});
  w.tasks_put = {pay_task("tok-1", e, kT0)};
  ASSERT_OK(store_->commit(batch_of({w})));
  std::vector<std::unique_ptr<Store>> nodes;
  for (int i = 0; i < 4; ++i) nodes.push_back(other_node(*store_, store_->schema() + "_o"));
  std::atomic<int> ok{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    threads.emplace_back([&, i] {
      Status s = nodes[i]->post_task_message(
          TaskMessage{0, "tok-1", i % 2 ? "success" : "failure", std::to_string(i), 0, kT0});
      if (s.ok()) {
        ++ok;
      } else if (s.error().code == ErrorCode::AlreadyExists &&
                 s.error().message == "task tok-1 already has an outcome") {
        ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(refused.load(), 3);
  Result<std::vector<TaskMessage>> messages = store_->task_messages({1}, 10);
  ASSERT_OK(messages);
  EXPECT_EQ(messages->size(), 1u);
}

}  // namespace
}  // namespace stepd::engine::store_test
