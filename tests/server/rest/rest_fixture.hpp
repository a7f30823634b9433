// The REST API in process over a real Engine on a real store: "sqlite" (a temp file) or
// "postgres" (a schema of its own on the server STEPD_TEST_PG_URL names; skipped when unset).
// Requests go through RestApi::handle as the HTTP server sends them; answers are waited for.
#pragma once

#include "server/rest/rest_api.hpp"

#include "asl/core/json.hpp"
#include "engine/dispatch/dispatcher.hpp"
#include "engine/dispatch/registry.hpp"
#include "server/rest/router.hpp"
#include "tests/support/completion_threads.hpp"
#include "tests/support/scratch_database.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace stepd::server::testing {

using asl::Json;
using namespace std::chrono_literals;
using ::stepd::test::kNoPostgres;
using ::stepd::test::ScratchDatabase;

// The audit log kept in the engine's store, as production keeps it.
class StoreAuditLog final : public AuditLog {
 public:
  explicit StoreAuditLog(engine::Store& store) : store_(store) {}
  void record(AuditEntry entry) override {
    engine::Status s = store_.append_audit({std::move(entry)});
    if (!s.ok()) ADD_FAILURE() << "append_audit: " << s.error().message;
  }
  ApiResult<Page<AuditEntry>> list(const AuditFilter& filter, const PageRequest& page) override {
    auto r = store_.list_audit(filter, page);
    if (!r.ok()) return ApiError{"InternalError", r.error().message, {}};
    return *r;
  }

 private:
  engine::Store& store_;
};

// Serves Task states in process: `outcome` computes each task's result on a thread of its own
// (the engine's transport callbacks must not block).
class InProcessTasks final : public engine::TaskTransport {
 public:
  using Outcome = std::function<asl::Outcome(const engine::TaskDispatch&)>;
  explicit InProcessTasks(Outcome outcome) : outcome_(std::move(outcome)) {}
  ~InProcessTasks() override { join(); }
  void attach(engine::Engine* engine) { engine_ = engine; }
  void dispatch(const engine::TaskDispatch& task) override {
    threads_.run([this, task] { (void)engine_->complete_task(task.token, outcome_(task)); });
  }
  void join() { threads_.join(); }

 private:
  Outcome outcome_;
  engine::Engine* engine_ = nullptr;
  stepd::test::CompletionThreads threads_;
};

struct Reply {
  int status = 0;
  std::string content_type;
  std::vector<Header> headers;
  std::string raw;
  Json body;  // the parsed body; null when empty or not JSON

  const std::string* header(std::string_view name) const {
    for (const Header& h : headers) {
      if (h.name == name) return &h.value;
    }
    return nullptr;
  }
};

inline std::ostream& operator<<(std::ostream& os, const Reply& r) {
  return os << r.status << " " << r.raw;
}

inline Caller admin() {
  Caller c;
  c.key_id = "admin-key";
  c.role = Role::Admin;
  c.remote = "127.0.0.1:40000";
  c.request_id = "req-admin";
  return c;
}

inline Caller read_only() {
  Caller c;
  c.key_id = "viewer-key";
  c.role = Role::ReadOnly;
  c.remote = "127.0.0.1:40001";
  c.request_id = "req-viewer";
  return c;
}

// "arn:..." as it goes into a path.
inline std::string enc(const std::string& s) { return rest::percent_encode(s); }

class RestTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<ScratchDatabase>(GetParam(), "rest");
    if (db_->url().empty()) GTEST_SKIP() << kNoPostgres;
  }

  void TearDown() override {
    if (dispatcher_) dispatcher_->shutdown();
    api_.reset();
    ops_.reset();
    if (engine_) engine_->shutdown();
    if (tasks_) tasks_->join();
    if (engine_) engine_->set_task_transport(nullptr);
    audit_.reset();
    dispatcher_.reset();
    registry_.reset();
    engine_.reset();
    tasks_.reset();
    EXPECT_EQ(double_answers_.load(), 0) << "a request was answered more than once";
  }

  // Starts the engine and the REST API over it. Task states go to the real Dispatcher (activity
  // tasks to its queue, which the API polls), or, when `tasks` is given, to `tasks`; the task
  // operations always have the Dispatcher's queue and Registry.
  void open(InProcessTasks::Outcome tasks = {}, RestOptions options = {}) {
    auto store = engine::open_store(db_->url());
    ASSERT_TRUE(store.ok()) << store.error().message;
    engine::EngineOptions eo;
    engine_ = std::make_unique<engine::Engine>(std::move(*store), eo);
    engine::Status s = engine_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
    registry_ = std::make_unique<engine::Registry>(engine_->store());
    s = registry_->load();
    ASSERT_TRUE(s.ok()) << s.error().message;
    dispatcher_ = std::make_unique<engine::Dispatcher>(*engine_, *registry_);
    if (tasks) {
      tasks_ = std::make_unique<InProcessTasks>(std::move(tasks));
      tasks_->attach(engine_.get());
      engine_->set_task_transport(tasks_.get());
    } else {
      engine_->set_task_transport(dispatcher_.get());
    }
    audit_ = std::make_unique<StoreAuditLog>(engine_->store());
    ops_ = std::make_unique<Operations>(
        *engine_, audit_.get(), TaskServices{&dispatcher_->activities(), registry_.get()});
    api_ = std::make_unique<RestApi>(*ops_, options);
  }

  // Sends a request and waits for its answer.
  Reply call(const std::string& method, const std::string& target, const std::string& body = "",
             const Caller& caller = admin()) {
    HttpRequest request;
    request.method = method;
    request.target = target;
    auto q = target.find('?');
    request.path = target.substr(0, q);
    request.query = q == std::string::npos ? "" : target.substr(q + 1);
    if (!body.empty()) request.headers.push_back(Header{"Content-Type", "application/json"});
    request.body = body;
    request.remote = caller.remote;

    struct Slot {
      std::mutex mu;
      std::condition_variable cv;
      std::optional<HttpResponse> response;
    };
    auto slot = std::make_shared<Slot>();
    api_->handle(std::move(request), caller, [slot, this](HttpResponse r) {
      std::lock_guard lock(slot->mu);
      if (slot->response) {
        ++double_answers_;
        return;
      }
      slot->response = std::move(r);
      slot->cv.notify_all();
    });
    std::unique_lock lock(slot->mu);
    if (!slot->cv.wait_for(lock, 60s, [&] { return slot->response.has_value(); })) {
      ADD_FAILURE() << method << " " << target << ": no answer within 60 s";
      return {};
    }
    Reply out;
    out.status = slot->response->status;
    out.content_type = slot->response->content_type;
    out.headers = slot->response->headers;
    out.raw = slot->response->body;
    if (!out.raw.empty()) {
      out.body = Json::parse(out.raw, nullptr, false);
      if (out.body.is_discarded()) out.body = nullptr;
    }
    return out;
  }

  template <typename J, typename = std::enable_if_t<std::is_same_v<J, Json>>>
  Reply call(const std::string& method, const std::string& target, const J& body,
             const Caller& caller = admin()) {
    return call(method, target, body.dump(), caller);
  }

  // Creates a STANDARD machine; returns its ARN.
  std::string create(const std::string& name, const std::string& definition) {
    Reply r = call("POST", "/v1/state-machines",
                   Json{{"name", name}, {"definition", Json::parse(definition)}});
    EXPECT_EQ(r.status, 201) << r;
    return r.body.value("arn", std::string());
  }

  // Starts an execution through the API; returns its ARN.
  std::string start(const std::string& machine, const std::string& name, const Json& input) {
    Reply r = call("POST", "/v1/state-machines/" + machine + "/executions",
                   Json{{"name", name}, {"input", input}});
    EXPECT_EQ(r.status, 201) << r;
    return r.body.value("arn", std::string());
  }

  // Polls the execution until it leaves RUNNING (or 30 s pass); returns its last description.
  Json wait_end(const std::string& arn) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    Json last;
    while (std::chrono::steady_clock::now() < deadline) {
      Reply r = call("GET", "/v1/executions/" + enc(arn));
      last = r.body;
      if (r.status != 200 || last.value("status", "") != "RUNNING") return last;
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << arn << " still running after 30 s";
    return last;
  }

  std::unique_ptr<ScratchDatabase> db_;
  std::unique_ptr<InProcessTasks> tasks_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<engine::Registry> registry_;
  std::unique_ptr<engine::Dispatcher> dispatcher_;
  std::unique_ptr<StoreAuditLog> audit_;
  std::unique_ptr<Operations> ops_;
  std::unique_ptr<RestApi> api_;
  std::atomic<int> double_answers_{0};
};

constexpr char kChain[] = R"({"StartAt":"A","States":{
  "A":{"Type":"Pass","Result":1,"ResultPath":"$.a","Next":"B"},
  "B":{"Type":"Pass","Result":2,"ResultPath":"$.b","End":true}}})";

constexpr char kWaitLong[] =
    R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}})";

}  // namespace stepd::server::testing
