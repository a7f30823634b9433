// Shared pieces of the HttpInvoker tests: a real SQLite store and Registry, tasks, and a
// collector of outcomes that waits for them.
#pragma once

#include "engine/dispatch/http_invoker.hpp"
#include "engine/dispatch/registry.hpp"
#include "engine/store/sqlite_store.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace stepd::engine::invoker_testing {

using asl::Json;

// A Registry over a private in-memory SQLite store.
struct RegistryFixture {
  RegistryFixture() {
    SqliteOptions o;
    o.path = ":memory:";
    auto opened = SqliteStore::open(o);
    if (!opened.ok()) throw std::runtime_error(opened.error().message);
    store = std::move(*opened);
    if (Status s = store->migrate(); !s.ok()) throw std::runtime_error(s.error().message);
    registry = std::make_unique<Registry>(*store);
  }
  void route(const std::string& kind, const std::string& name, const std::string& url) {
    auto r = registry->put(kind, name, url);
    if (auto* e = std::get_if<ApiError>(&r)) {
      ADD_FAILURE() << "put_route " << kind << " " << name << ": " << e->type << ": "
                    << e->message;
    }
  }
  std::unique_ptr<SqliteStore> store;
  std::unique_ptr<Registry> registry;
};

inline TaskDispatch make_task(std::string resource, Json payload, std::string token = "token-1") {
  TaskDispatch t;
  t.token = std::move(token);
  t.execution_arn = "arn:aws:states:local:000000000000:execution:M:e1";
  t.resource = std::move(resource);
  t.payload = std::move(payload);
  t.state_name = "Call";
  return t;
}

// Collects outcomes from `done` callbacks (any thread).
class Outcomes {
 public:
  HttpInvoker::Done done() {
    return [this](asl::Outcome o) {
      std::lock_guard lock(mu_);
      items_.push_back(std::move(o));
      cv_.notify_all();
    };
  }
  // Waits until `n` outcomes came or `timeout` passed; true when they came.
  bool wait(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return items_.size() >= n; });
  }
  std::vector<asl::Outcome> all() {
    std::lock_guard lock(mu_);
    return items_;
  }
  std::size_t count() {
    std::lock_guard lock(mu_);
    return items_.size();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<asl::Outcome> items_;
};

// Runs one call to its end.
inline asl::Outcome call(HttpInvoker& invoker, const TaskDispatch& task,
                         std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  Outcomes outcomes;
  invoker.invoke(task, outcomes.done());
  if (!outcomes.wait(1, timeout)) {
    ADD_FAILURE() << "no outcome within " << timeout.count() << " ms";
    invoker.cancel(task.token);
    return asl::StatesError{"test.NoOutcome", ""};
  }
  return outcomes.all().front();
}

inline std::string describe(const asl::Outcome& o) {
  if (auto* j = std::get_if<Json>(&o)) return "result " + asl::dump_compact(*j);
  const auto& e = std::get<asl::StatesError>(o);
  return "error " + e.error + ": " + e.cause;
}

inline Json result_of(const asl::Outcome& o) {
  if (auto* j = std::get_if<Json>(&o)) return *j;
  ADD_FAILURE() << "expected a result, got " << describe(o);
  return nullptr;
}

inline asl::StatesError error_of(const asl::Outcome& o) {
  if (auto* e = std::get_if<asl::StatesError>(&o)) return *e;
  ADD_FAILURE() << "expected an error, got " << describe(o);
  return {};
}

}  // namespace stepd::engine::invoker_testing
