// The Store test suite every backend passes (the tests are in store_suite_test.cpp).
//
// A backend instantiates it once, in its own tests/engine/store/<backend>_store_test.cpp:
//
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreSuite,
//                            ::testing::Values(StoreBackend{"sqlite", [] { return ...; }}),
//                            StoreBackendName());
//
// StoreBackend::make returns a Store over an EMPTY database, not yet migrated (the fixture calls
// migrate() and expects it to succeed), or nullptr when the backend cannot run here (e.g. no
// PostgreSQL server): then every test of that instantiation skips, saying so. make is called once
// per test; the database must not keep anything from an earlier test.
//
// The helpers below (machine(), execution(), event(), ...) build records with fixed contents, and
// ASSERT_OK, expect_error(), names_of() ... check results; backend-specific tests may use them
// too.
#pragma once

#include "engine/store/store.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace stepd::engine::store_test {

struct StoreBackend {
  std::string name;  // test name suffix: letters, digits and '_' only
  std::function<std::unique_ptr<Store>()> make;
};

inline void PrintTo(const StoreBackend& backend, std::ostream* os) { *os << backend.name; }

// Names the instantiated tests after the backend: StoreSuite.History/sqlite.
struct StoreBackendName {
  std::string operator()(const ::testing::TestParamInfo<StoreBackend>& info) const {
    return info.param.name;
  }
};

}  // namespace stepd::engine::store_test

// Printers so failed comparisons show the records (found by ADL in stepd::engine).
namespace stepd::engine {

inline std::ostream& print_opt(std::ostream& os, const std::optional<std::string>& v) {
  return v ? os << '"' << *v << '"' : os << "null";
}
inline std::ostream& print_opt(std::ostream& os, const std::optional<Micros>& v) {
  return v ? os << *v : os << "null";
}

inline void PrintTo(const StateMachineRecord& m, std::ostream* os) {
  *os << "{arn=" << m.arn << " name=" << m.name << " type=" << m.type
      << " definition=" << m.definition << " role=" << m.role_arn << " revision=" << m.revision_id
      << " status=" << m.status << " description=" << m.description << " tags=" << m.tags_json
      << " logging=" << m.logging_json << " tracing=" << m.tracing_json << " created=" << m.created
      << " updated=" << m.updated << "}";
}
inline void PrintTo(const RevisionRecord& r, std::ostream* os) {
  *os << "{machine=" << r.machine_arn << " revision=" << r.revision_id
      << " definition=" << r.definition << " role=" << r.role_arn << " created=" << r.created
      << "}";
}
inline void PrintTo(const ExecutionRecord& e, std::ostream* os) {
  *os << "{arn=" << e.arn << " machine=" << e.machine_arn << " revision=" << e.revision_id
      << " name=" << e.name << " type=" << e.type << " status=" << e.status << " input=" << e.input
      << " output=";
  print_opt(*os, e.output) << " error=";
  print_opt(*os, e.error) << " cause=";
  print_opt(*os, e.cause) << " start=" << e.start << " stop=";
  print_opt(*os, e.stop) << " trace=" << e.trace_header << " redrive_count=" << e.redrive_count
                         << " redrive_date=";
  print_opt(*os, e.redrive_date) << " last_event_id=" << e.last_event_id << " version=" << e.version
                                 << " partition=" << e.partition << "}";
}
inline void PrintTo(const HistoryEvent& h, std::ostream* os) {
  *os << "{id=" << h.id << " prev=" << h.previous_id << " ts=" << h.timestamp << " type=" << h.type
      << " details=" << h.details << "}";
}
inline void PrintTo(const FrameRecord& f, std::ostream* os) {
  *os << "{frame=\"" << f.frame_id << "\" data=" << f.data << "}";
}
inline void PrintTo(const MapResultRecord& m, std::ostream* os) {
  *os << "{frame=\"" << m.frame_id << "\" index=" << m.index << " output=" << m.output << "}";
}
inline void PrintTo(const TimerRecord& t, std::ostream* os) {
  *os << "{execution=" << t.execution_arn << " timer=" << t.timer_id << " due=" << t.due
      << " partition=" << t.partition << "}";
}
inline void PrintTo(const TaskRecord& t, std::ostream* os) {
  *os << "{token=" << t.token << " execution=" << t.execution_arn << " frame=\"" << t.frame_id
      << "\" state=" << t.state_name << " resource=" << t.resource << " activity=" << t.activity_arn
      << " input=" << t.input << " status=" << t.status << " worker=" << t.worker_name
      << " scheduled=" << t.scheduled << " heartbeat_due=";
  print_opt(*os, t.heartbeat_due) << " timeout_due=";
  print_opt(*os, t.timeout_due) << " partition=" << t.partition << "}";
}
inline void PrintTo(const ActivityRecord& a, std::ostream* os) {
  *os << "{arn=" << a.arn << " name=" << a.name << " tags=" << a.tags_json
      << " created=" << a.created << "}";
}
inline void PrintTo(const RouteRecord& r, std::ostream* os) {
  *os << "{kind=" << r.kind << " name=" << r.name << " url=" << r.url << " updated=" << r.updated
      << "}";
}
inline void PrintTo(const TaskMessage& m, std::ostream* os) {
  *os << "{id=" << m.id << " token=" << m.token << " kind=" << m.kind << " body=" << m.body
      << " partition=" << m.partition << " created=" << m.created << "}";
}
inline void PrintTo(const PartitionLease& l, std::ostream* os) {
  *os << "{partition=" << l.partition << " node=" << l.node << " epoch=" << l.epoch
      << " expires=" << l.expires << "}";
}

}  // namespace stepd::engine

namespace stepd::engine::store_test {

inline constexpr Micros kT0 = 1'700'000'000'000'000;  // 2023-11-14T22:13:20Z

inline std::string machine_arn(const std::string& name) {
  return "arn:aws:states:us-east-1:123456789012:stateMachine:" + name;
}

inline std::string execution_arn(const std::string& machine, const std::string& name) {
  return "arn:aws:states:us-east-1:123456789012:execution:" + machine + ":" + name;
}

// A machine named `name` at revision "1".
inline StateMachineRecord machine(const std::string& name) {
  StateMachineRecord m;
  m.arn = machine_arn(name);
  m.name = name;
  m.type = "STANDARD";
  m.definition = R"({"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}})";
  m.role_arn = "arn:aws:iam::123456789012:role/" + name;
  m.revision_id = "1";
  m.status = "ACTIVE";
  m.description = "machine " + name;
  m.tags_json = R"([{"key":"team","value":")" + name + R"("}])";
  m.logging_json = R"({"level":"OFF"})";
  m.tracing_json = R"({"enabled":false})";
  m.created = kT0;
  m.updated = kT0;
  return m;
}

inline RevisionRecord first_revision(const StateMachineRecord& m) {
  return RevisionRecord{m.arn, m.revision_id, m.definition, m.role_arn, m.created};
}

// A RUNNING execution `name` of machine `machine_name`, started at `start`.
inline ExecutionRecord execution(const std::string& machine_name, const std::string& name,
                                 Micros start = kT0, int partition = 0) {
  ExecutionRecord e;
  e.arn = execution_arn(machine_name, name);
  e.machine_arn = machine_arn(machine_name);
  e.revision_id = "1";
  e.name = name;
  e.type = "STANDARD";
  e.status = "RUNNING";
  e.input = R"({"n":")" + name + R"("})";
  e.start = start;
  e.trace_header = "Root=1-" + name;
  e.partition = partition;
  return e;
}

// `e` as the store holds it after a create_write with one event: version 1, last event id 1.
inline ExecutionRecord as_created(ExecutionRecord e) {
  e.version = 1;
  e.last_event_id = 1;
  return e;
}

// A SCHEDULED task `token` of execution `e` (in its partition), at state `state` calling
// `resource`, scheduled at `scheduled`, input "{}"; no activity, frame, worker or deadlines.
inline TaskRecord scheduled_task(const std::string& token, const ExecutionRecord& e,
                                 const std::string& state, const std::string& resource,
                                 Micros scheduled) {
  TaskRecord t;
  t.token = token;
  t.execution_arn = e.arn;
  t.state_name = state;
  t.resource = resource;
  t.input = "{}";
  t.status = "SCHEDULED";
  t.scheduled = scheduled;
  t.partition = e.partition;
  return t;
}

inline HistoryEvent event(std::int64_t id, const std::string& type,
                          const std::string& details = "") {
  return HistoryEvent{id, id - 1, kT0 + id, type, details};
}

// The write that creates `e` with `events` (ids 1..n by default).
inline ExecutionWrite create_write(const ExecutionRecord& e, std::vector<HistoryEvent> events) {
  ExecutionWrite w;
  w.execution_arn = e.arn;
  w.expected_version = 0;
  w.create = e;
  w.events = std::move(events);
  return w;
}

// A write against `arn` at `version` that changes nothing but may carry events.
inline ExecutionWrite step_write(const std::string& arn, std::int64_t version,
                                 std::vector<HistoryEvent> events = {}) {
  ExecutionWrite w;
  w.execution_arn = arn;
  w.expected_version = version;
  w.events = std::move(events);
  return w;
}

inline CommitBatch batch_of(std::vector<ExecutionWrite> writes, std::vector<Fence> fences = {}) {
  CommitBatch b;
  b.writes = std::move(writes);
  b.fences = std::move(fences);
  return b;
}

inline std::string describe(const Status& s) {
  return s.ok() ? std::string("OK")
                : std::string(to_string(s.error().code)) + ": " + s.error().message;
}

template <typename T>
std::string describe(const Result<T>& r) {
  return r.ok() ? std::string("OK")
                : std::string(to_string(r.error().code)) + ": " + r.error().message;
}

// Stops the test unless `expr` (a Status or Result) is OK, showing the error.
#define ASSERT_OK(expr)                                   \
  do {                                                    \
    auto&& ok_result_ = (expr);                           \
    ASSERT_TRUE(ok_result_.ok()) << describe(ok_result_); \
  } while (false)

// Expects `r` to have failed with `code` and exactly `message`.
template <typename T>
void expect_error(const Result<T>& r, ErrorCode code, const std::string& message) {
  ASSERT_FALSE(r.ok()) << "expected " << to_string(code) << ": " << message;
  EXPECT_EQ(to_string(r.error().code), to_string(code));
  EXPECT_EQ(r.error().message, message);
}

inline void expect_error(const Status& s, ErrorCode code, const std::string& message) {
  ASSERT_FALSE(s.ok()) << "expected " << to_string(code) << ": " << message;
  EXPECT_EQ(to_string(s.error().code), to_string(code));
  EXPECT_EQ(s.error().message, message);
}

inline PageRequest page(int max_results, std::string token = "") {
  return PageRequest{max_results, std::move(token)};
}

// The `name` of each record, in order.
template <typename Record>
std::vector<std::string> names_of(const std::vector<Record>& records) {
  std::vector<std::string> out;
  for (const auto& r : records) out.push_back(r.name);
  return out;
}

// The `id` of each record, in order.
template <typename Record>
std::vector<std::int64_t> ids_of(const std::vector<Record>& records) {
  std::vector<std::int64_t> out;
  for (const auto& r : records) out.push_back(r.id);
  return out;
}

class StoreSuite : public ::testing::TestWithParam<StoreBackend> {
 protected:
  void SetUp() override {
    store_ = GetParam().make();
    if (store_ == nullptr) GTEST_SKIP() << GetParam().name << " store unavailable here";
    Status migrated = store_->migrate();
    ASSERT_TRUE(migrated.ok()) << describe(migrated);
  }

  // Creates the execution with one ExecutionStarted event (version 1, last_event_id 1).
  void start(const ExecutionRecord& e) {
    Status s = store_->commit(batch_of({create_write(e, {event(1, "ExecutionStarted")})}));
    ASSERT_TRUE(s.ok()) << describe(s);
  }

  Store& store() { return *store_; }

  std::unique_ptr<Store> store_;
};

}  // namespace stepd::engine::store_test
