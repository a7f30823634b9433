// The operational endpoints: GET /metrics (Prometheus text), GET /healthz (the process is up:
// always 200 {"status":"ok"}), GET /readyz (200 {"status":"ready","partitions_held":N} when the
// engine runs and holds at least one partition and the server is not draining; else 503
// {"status":"not ready","reason":"..."}). Other methods: 405.
//
// Threads: handle() is thread-safe.
#pragma once

#include "engine/engine.hpp"
#include "server/http/message.hpp"
#include "server/observability/metrics.hpp"

#include <atomic>

namespace stepd::server::observability {

class ObservabilityApi final : public Handler {
 public:
  // `engine` may be null (then never ready); both outlive this object.
  ObservabilityApi(Metrics& metrics, const engine::Engine* engine)
      : metrics_(metrics), engine_(engine) {}

  // Once the server begins to stop, /readyz answers 503 so load balancers stop sending.
  void set_draining(bool draining) { draining_.store(draining); }

  void handle(HttpRequest request, Caller caller, Respond respond) override;

 private:
  Metrics& metrics_;
  const engine::Engine* engine_;
  std::atomic<bool> draining_{false};
};

}  // namespace stepd::server::observability
