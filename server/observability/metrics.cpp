#include "server/observability/metrics.hpp"

namespace stepd::server::observability {

namespace {

// Latency buckets from 0.5 ms to ~16 s.
std::vector<double> latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

}  // namespace

Metrics::Metrics(std::string version)
    : started_(registry_.counter("stepd_executions_started_total",
                                 "Executions started, by state machine ARN.", {"state_machine"})),
      finished_(registry_.counter("stepd_executions_finished_total",
                                  "Executions ended, by state machine ARN and final status.",
                                  {"state_machine", "status"})),
      transitions_(registry_
                       .counter("stepd_state_transitions_total",
                                "States entered by all executions (durable).")
                       .get()),
      commit_seconds_(registry_
                          .histogram("stepd_store_commit_seconds",
                                     "Time the store took to make one batch of steps durable.", {},
                                     {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                      0.05, 0.1, 0.25, 0.5, 1})
                          .get()),
      batch_size_(registry_
                      .histogram("stepd_store_commit_batch_size",
                                 "Execution steps committed together in one batch.", {},
                                 exponential_buckets(1, 2, 10))
                      .get()),
      open_executions_(registry_
                           .gauge("stepd_open_executions",
                                  "Running executions in the partitions this node holds.")
                           .get()),
      resident_executions_(
          registry_
              .gauge("stepd_resident_executions",
                     "Running executions held in memory (not evicted while they wait).")
              .get()),
      timers_armed_(
          registry_.gauge("stepd_timers_armed", "Timers waiting in memory to fire.").get()),
      partitions_held_(
          registry_
              .gauge("stepd_partitions_held", "Execution partitions this node holds the lease of.")
              .get()),
      http_requests_(registry_.counter("stepd_http_requests_total",
                                       "HTTP requests answered, by route and status code.",
                                       {"route", "status"})),
      http_seconds_(registry_.histogram("stepd_http_request_duration_seconds",
                                        "Time from a request's arrival to its answer, by route.",
                                        {"route"}, latency_buckets())),
      connections_(registry_.gauge("stepd_http_connections", "Open HTTP connections.").get()),
      task_seconds_(registry_.histogram(
          "stepd_task_duration_seconds",
          "Time from handing a task to its Resource to its outcome, by Resource.", {"resource"},
          latency_buckets())) {
  registry_.gauge("stepd_build_info", "Stepd's version (the value is always 1).", {"version"})
      .with({version.empty() ? std::string("unknown") : version})
      .set(1);
  registry_.on_collect([this] {
    if (const engine::Engine* e = engine_.load()) {
      const engine::Engine::Stats s = e->stats();
      open_executions_.set(static_cast<double>(s.open_executions));
      resident_executions_.set(static_cast<double>(s.resident_executions));
      timers_armed_.set(static_cast<double>(s.timers_armed));
      partitions_held_.set(static_cast<double>(s.partitions_held));
    }
    std::lock_guard lock(watch_mu_);
    if (open_connections_) connections_.set(open_connections_());
  });
}

void Metrics::on_commit(const engine::CommitInfo& info) {
  for (const std::string& machine : info.started) started_.with({machine}).inc();
  for (const auto& [machine, status] : info.finished) finished_.with({machine, status}).inc();
  transitions_.inc(static_cast<double>(info.transitions));
  commit_seconds_.observe(static_cast<double>(info.commit_micros) / 1e6);
  batch_size_.observe(static_cast<double>(info.writes));
  for (const auto& [resource, micros] : info.task_latencies) {
    record_task_latency(resource, static_cast<double>(micros) / 1e6);
  }
}

void Metrics::watch_engine(const engine::Engine* engine) { engine_.store(engine); }

void Metrics::watch_connections(std::function<double()> open_connections) {
  std::lock_guard lock(watch_mu_);
  open_connections_ = std::move(open_connections);
}

void Metrics::record_http(std::string_view route, int status, double seconds) {
  const std::string r(route);
  http_requests_.with({r, std::to_string(status)}).inc();
  http_seconds_.with({r}).observe(seconds);
}

void Metrics::record_task_latency(const std::string& resource, double seconds) {
  task_seconds_.with({resource}).observe(seconds);
}

std::string Metrics::scrape() { return registry_.expose(); }

}  // namespace stepd::server::observability
