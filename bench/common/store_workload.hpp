// The workload of the store benchmarks (store_bench on SQLite, store_pg_bench on PostgreSQL): the
// same ~500-byte history event, the same executions and the same step writes, so that the two
// tables compare.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "engine/store/store.hpp"

namespace stepd::bench {

// The details of every benchmark history event: ~500 bytes of task output JSON.
inline const std::string kPayload = [] {
  std::string s = R"({"output":{"order":12345,"items":[)";
  while (s.size() < 480) s += R"({"sku":"ABC-123","qty":2},)";
  s += R"({"sku":"END","qty":0}]},"outputDetails":{"truncated":false}})";
  return s;
}();

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// check(ok, what) and check(status, what): exit(1) with "PROGRAM: WHAT failed" or
// "PROGRAM: WHAT: <the status's message>" on stderr when the step did not succeed.
struct ExitOnFailure {
  const char* program;

  void operator()(bool ok, const std::string& what) const {
    if (!ok) {
      std::fprintf(stderr, "%s: %s failed\n", program, what.c_str());
      std::exit(1);
    }
  }
  void operator()(const engine::Status& s, const char* what) const {
    if (!s.ok()) {
      std::fprintf(stderr, "%s: %s: %s\n", program, what, s.error().message.c_str());
      std::exit(1);
    }
  }
};

// A RUNNING STANDARD execution `name` of the benchmark machine, started at `start`.
inline engine::ExecutionRecord running_execution(const std::string& name, engine::Micros start,
                                                 int partition) {
  engine::ExecutionRecord e;
  e.name = name;
  e.arn = "arn:aws:states:us-east-1:123456789012:execution:bench:" + name;
  e.machine_arn = "arn:aws:states:us-east-1:123456789012:stateMachine:bench";
  e.revision_id = "1";
  e.type = "STANDARD";
  e.status = "RUNNING";
  e.input = "{}";
  e.start = start;
  e.partition = partition;
  return e;
}

// The write that creates `e` with its ExecutionStarted event (id 1).
inline engine::ExecutionWrite start_write(const engine::ExecutionRecord& e) {
  engine::ExecutionWrite w;
  w.execution_arn = e.arn;
  w.create = e;
  w.events.push_back(engine::HistoryEvent{1, 0, e.start, "ExecutionStarted", "{}"});
  return w;
}

// A batch of `writes` step writes, each one TaskStateExited event with kPayload (and, with_frame,
// a rewrite of the root frame); the caller fills in each write's execution, version and event ids.
inline engine::CommitBatch step_batch(int writes, bool with_frame) {
  engine::CommitBatch batch;
  batch.writes.resize(static_cast<std::size_t>(writes));
  for (auto& w : batch.writes) {
    w.events.resize(1);
    w.events[0].type = "TaskStateExited";
    w.events[0].details = kPayload;
    if (with_frame) {
      w.frames_put = {engine::FrameRecord{"", R"({"state":"Next","retries":[0,0]})"}};
    }
  }
  return batch;
}

}  // namespace stepd::bench
