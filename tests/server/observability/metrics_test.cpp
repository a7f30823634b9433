// Metrics fed by a real engine on SQLite through EngineObserver, and the operational endpoints.
#include "server/observability/metrics.hpp"

#include "server/observability/access_log.hpp"
#include "server/observability/observability_api.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <future>

namespace stepd::server::observability {
namespace {

using namespace std::chrono_literals;

class MetricsEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = std::filesystem::temp_directory_path() /
            ("stepd-metrics-test-" + std::to_string(::getpid()) + ".db");
    remove_files();
    auto store = engine::open_store("sqlite:" + path_.string());
    ASSERT_TRUE(store.ok()) << store.error().message;
    engine::EngineOptions options;
    options.observer = &metrics_;
    engine_ = std::make_unique<engine::Engine>(std::move(*store), options);
    engine::Status s = engine_->start();
    ASSERT_TRUE(s.ok()) << s.error().message;
    metrics_.watch_engine(engine_.get());
  }
  void TearDown() override {
    metrics_.watch_engine(nullptr);
    if (engine_) engine_->shutdown();
    engine_.reset();
    remove_files();
  }
  void remove_files() {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(path_.string() + suffix);
    }
  }
  std::string create(const std::string& name, const std::string& definition) {
    auto r = engine_->create_state_machine({name, definition, "STANDARD", "", "[]"});
    if (auto* e = std::get_if<engine::ApiError>(&r)) {
      ADD_FAILURE() << e->type << ": " << e->message;
      return "";
    }
    return std::get<engine::StateMachineRecord>(r).arn;
  }
  std::string run(const std::string& machine, const std::string& name) {
    auto r = engine_->start_execution({machine, name, "{}", ""});
    if (auto* e = std::get_if<engine::ApiError>(&r)) {
      ADD_FAILURE() << e->type << ": " << e->message;
      return "";
    }
    const std::string arn = std::get<engine::ExecutionRecord>(r).arn;
    auto done = engine_->wait_for(arn, 10s);
    EXPECT_TRUE(std::holds_alternative<engine::ExecutionRecord>(done));
    return std::get<engine::ExecutionRecord>(done).status;
  }

  std::filesystem::path path_;
  Metrics metrics_{"9.9.9"};
  std::unique_ptr<engine::Engine> engine_;
};

// The value of the sample line that starts with `series` followed by a space; -1 when absent.
double sample(const std::string& text, const std::string& series) {
  const std::string needle = "\n" + series + " ";
  const auto at = text.find(needle);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + needle.size()));
}

TEST_F(MetricsEngineTest, CountsExecutionsTransitionsAndCommits) {
  const std::string pass = create(
      "Ok", R"({"StartAt":"A","States":{"A":{"Type":"Pass","Next":"B"},"B":{"Type":"Succeed"}}})");
  const std::string fail =
      create("Boom", R"({"StartAt":"F","States":{"F":{"Type":"Fail","Error":"Boom"}}})");
  EXPECT_EQ(run(pass, "one"), "SUCCEEDED");
  EXPECT_EQ(run(pass, "two"), "SUCCEEDED");
  EXPECT_EQ(run(fail, "three"), "FAILED");

  const std::string text = metrics_.scrape();
  EXPECT_EQ(sample(text, "stepd_executions_started_total{state_machine=\"" + pass + "\"}"), 2)
      << text;
  EXPECT_EQ(sample(text, "stepd_executions_started_total{state_machine=\"" + fail + "\"}"), 1);
  EXPECT_EQ(sample(text, "stepd_executions_finished_total{state_machine=\"" + pass +
                             "\",status=\"SUCCEEDED\"}"),
            2)
      << text;
  EXPECT_EQ(sample(text, "stepd_executions_finished_total{state_machine=\"" + fail +
                             "\",status=\"FAILED\"}"),
            1);
  // Pass + Succeed twice, Fail once.
  EXPECT_EQ(sample(text, "stepd_state_transitions_total"), 5) << text;
  const double commits = sample(text, "stepd_store_commit_seconds_count");
  EXPECT_GE(commits, 1);
  EXPECT_EQ(sample(text, "stepd_store_commit_batch_size_count"), commits);
  EXPECT_EQ(sample(text, "stepd_store_commit_seconds_bucket{le=\"+Inf\"}"), commits);
  EXPECT_GT(sample(text, "stepd_store_commit_seconds_sum"), 0);
  // Engine gauges, read at scrape time.
  EXPECT_EQ(sample(text, "stepd_partitions_held"), 16) << text;
  EXPECT_EQ(sample(text, "stepd_open_executions"), 0);
  EXPECT_EQ(sample(text, "stepd_build_info{version=\"9.9.9\"}"), 1);
}

TEST_F(MetricsEngineTest, OpenExecutionsGaugeFollowsTheEngine) {
  const std::string waits = create(
      "Waits", R"({"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}})");
  auto r = engine_->start_execution({waits, "long", "{}", ""});
  ASSERT_TRUE(std::holds_alternative<engine::ExecutionRecord>(r));
  EXPECT_EQ(sample(metrics_.scrape(), "stepd_open_executions"), 1);
}

TEST(MetricsTest, HttpAndTaskLatency) {
  Metrics m;
  m.record_http("aws", 200, 0.003);
  m.record_http("aws", 200, 0.2);
  m.record_http("rest", 404, 0.001);
  m.record_task_latency("arn:aws:states:::http:invoke", 1.5);
  int connections = 7;
  m.watch_connections([&] { return static_cast<double>(connections); });
  const std::string text = m.scrape();
  EXPECT_EQ(sample(text, "stepd_http_requests_total{route=\"aws\",status=\"200\"}"), 2) << text;
  EXPECT_EQ(sample(text, "stepd_http_requests_total{route=\"rest\",status=\"404\"}"), 1);
  EXPECT_EQ(sample(text, "stepd_http_request_duration_seconds_bucket{route=\"aws\",le=\"0.005\"}"),
            1);
  EXPECT_EQ(sample(text, "stepd_http_request_duration_seconds_count{route=\"aws\"}"), 2);
  EXPECT_EQ(sample(text,
                   "stepd_task_duration_seconds_count{resource=\"arn:aws:states:::http:"
                   "invoke\"}"),
            1);
  EXPECT_EQ(sample(text, "stepd_http_connections"), 7);
  EXPECT_EQ(sample(text, "stepd_build_info{version=\"unknown\"}"), 1);
}

HttpResponse call(Handler& h, const std::string& method, const std::string& path) {
  HttpRequest request;
  request.method = method;
  request.path = path;
  request.target = path;
  std::promise<HttpResponse> answer;
  h.handle(request, Caller{}, [&](HttpResponse r) { answer.set_value(std::move(r)); });
  return answer.get_future().get();
}

TEST(ObservabilityApiTest, HealthReadyAndMetricsWithoutEngine) {
  Metrics m;
  ObservabilityApi api(m, nullptr);
  HttpResponse health = call(api, "GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, R"({"status":"ok"})");
  HttpResponse ready = call(api, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, R"({"reason":"the engine is not running","status":"not ready"})");
  HttpResponse metrics = call(api, "GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("# TYPE stepd_executions_started_total counter\n"),
            std::string::npos);
  HttpResponse post = call(api, "POST", "/metrics");
  EXPECT_EQ(post.status, 405);
  EXPECT_EQ(post.body, R"({"code":"MethodNotAllowed","message":"/metrics answers GET only"})");
}

TEST_F(MetricsEngineTest, ReadyWhileTheEngineHoldsPartitionsUntilDraining) {
  ObservabilityApi api(metrics_, engine_.get());
  HttpResponse ready = call(api, "GET", "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, R"({"partitions_held":16,"status":"ready"})");
  api.set_draining(true);
  ready = call(api, "GET", "/readyz");
  EXPECT_EQ(ready.status, 503);
  EXPECT_EQ(ready.body, R"({"reason":"the server is shutting down","status":"not ready"})");
}

TEST(AccessLogTest, FindsTheExecutionArnOfAnAnswer) {
  EXPECT_EQ(
      find_execution_arn(
          R"({"executionArn":"arn:aws:states:local:000000000000:execution:M:e1","startDate":1})"),
      "arn:aws:states:local:000000000000:execution:M:e1");
  EXPECT_EQ(find_execution_arn(R"({"stateMachineArn":"x"})"), "");
  EXPECT_EQ(find_execution_arn(R"({"executionArn":"unterminated)"), "");
}

}  // namespace
}  // namespace stepd::server::observability

namespace stepd::server::observability {
namespace {

// A transport that answers every task on its own thread after `delay`.
class DelayedTransport final : public engine::TaskTransport {
 public:
  DelayedTransport(engine::Engine& engine, std::chrono::milliseconds delay)
      : engine_(engine), delay_(delay) {}
  ~DelayedTransport() override {
    for (auto& t : threads_) t.join();
  }
  void dispatch(const engine::TaskDispatch& task) override {
    std::lock_guard lock(mu_);
    threads_.emplace_back([this, token = task.token] {
      std::this_thread::sleep_for(delay_);
      (void)engine_.complete_task(token, asl::Json{{"done", true}});
    });
  }

 private:
  engine::Engine& engine_;
  std::chrono::milliseconds delay_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

TEST_F(MetricsEngineTest, TaskLatencyByResourceFromScheduledToResult) {
  const std::string resource = "arn:aws:states:local:000000000000:activity:slow";
  const std::string m = create("Tasks", R"({"StartAt":"T","States":{"T":{"Type":"Task","Resource":")" +
                                            resource + R"(","Next":"U"},"U":{"Type":"Task","Resource":")" +
                                            resource + R"(","End":true}}})");
  DelayedTransport transport(*engine_, 120ms);
  engine_->set_task_transport(&transport);
  EXPECT_EQ(run(m, "timed"), "SUCCEEDED");
  engine_->set_task_transport(nullptr);
  const std::string text = metrics_.scrape();
  const std::string label = "{resource=\"" + resource + "\"}";
  EXPECT_EQ(sample(text, "stepd_task_duration_seconds_count" + label), 2) << text;
  const double sum = sample(text, "stepd_task_duration_seconds_sum" + label);
  EXPECT_GE(sum, 0.24) << text;
  EXPECT_LT(sum, 5.0) << text;
}

}  // namespace
}  // namespace stepd::server::observability
