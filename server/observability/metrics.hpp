// Stepd's metrics (served at /metrics): what the engine commits (through EngineObserver), the
// engine's live counters (read at scrape time), HTTP requests, and task latency.
//
//   stepd_executions_started_total{state_machine}            counter
//   stepd_executions_finished_total{state_machine,status}    counter
//   SUCCEEDED|FAILED|TIMED_OUT|ABORTED stepd_state_transitions_total counter  states entered
//   stepd_store_commit_seconds                               histogram  time to make a batch
//   durable stepd_store_commit_batch_size                            histogram  execution steps per
//   batch stepd_open_executions, stepd_resident_executions, stepd_timers_armed,
//   stepd_partitions_held                gauges   Engine::stats() at scrape
//   stepd_http_requests_total{route,status}                  counter
//   stepd_http_request_duration_seconds{route}               histogram
//   stepd_http_connections                                   gauge    open connections
//   stepd_task_duration_seconds{resource}                    histogram  record_task_latency()
//   stepd_build_info{version}                                gauge    1
//
// `state_machine` is the state machine's ARN; `route` is aws, rest, metrics, health or
// not_found (server/http/router.hpp); `status` of a request is its HTTP status code.
//
// Threads: thread-safe. on_commit() is cheap (a few atomic adds and map lookups) as the
// observer contract asks.
#pragma once

#include "engine/engine.hpp"
#include "server/observability/registry.hpp"

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>

namespace stepd::server::observability {

class Metrics final : public engine::EngineObserver {
 public:
  explicit Metrics(std::string version = "");

  // engine::EngineObserver: counts what a durable batch did.
  void on_commit(const engine::CommitInfo& info) override;

  // Reads the engine's gauges at every scrape. `engine` outlives this object (or is unwatched
  // with nullptr first).
  void watch_engine(const engine::Engine* engine);
  // Reads the number of open HTTP connections at every scrape.
  void watch_connections(std::function<double()> open_connections);

  void record_http(std::string_view route, int status, double seconds);

  // Hook for task dispatch: the time from handing a task to its Resource (push or a polling
  // worker) to its outcome. `resource` is the Task state's Resource ARN. Not called by anything
  // yet: the task-dispatch work calls it when a task completes.
  void record_task_latency(const std::string& resource, double seconds);

  // The exposition text (Content-Type kExpositionContentType).
  std::string scrape();

  Registry& registry() { return registry_; }

 private:
  Registry registry_;
  CounterFamily& started_;
  CounterFamily& finished_;
  Counter& transitions_;
  Histogram& commit_seconds_;
  Histogram& batch_size_;
  Gauge& open_executions_;
  Gauge& resident_executions_;
  Gauge& timers_armed_;
  Gauge& partitions_held_;
  CounterFamily& http_requests_;
  HistogramFamily& http_seconds_;
  Gauge& connections_;
  HistogramFamily& task_seconds_;
  std::atomic<const engine::Engine*> engine_{nullptr};
  std::function<double()> open_connections_;
  std::mutex watch_mu_;
};

}  // namespace stepd::server::observability
