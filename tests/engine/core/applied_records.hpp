// A test double for the store side of ExecutionCore: applies each ExecutionWrite the way a
// store would (the execution row too), so a test can restore a core from what was committed.
#pragma once

#include "engine/store/store.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace stepd::engine {

struct AppliedRecords {
  ExecutionRecord execution;
  std::map<std::string, std::string> frames;
  std::map<std::pair<std::string, std::int64_t>, std::string> results;
  std::vector<HistoryEvent> events;
  std::map<std::string, Micros> timers;
  std::map<std::string, TaskRecord> tasks;

  void apply(const ExecutionWrite& w) {
    if (w.create) execution = *w.create;
    const ExecutionUpdate& u = w.update;
    if (u.status) execution.status = *u.status;
    if (u.output) execution.output = u.output;
    if (u.error) execution.error = u.error;
    if (u.cause) execution.cause = u.cause;
    if (u.stop) execution.stop = u.stop;
    if (u.compensation) execution.compensation = u.compensation;
    execution.version = w.create ? 1 : w.expected_version + 1;
    if (!w.events.empty()) execution.last_event_id = w.events.back().id;
    for (const auto& id : w.frames_delete) frames.erase(id);
    for (const auto& f : w.frames_put) frames[f.frame_id] = f.data;
    for (const auto& id : w.map_results_delete) {
      std::erase_if(results, [&](const auto& kv) { return kv.first.first == id; });
    }
    for (const auto& r : w.map_results_put) results[{r.frame_id, r.index}] = r.output;
    for (const auto& e : w.events) events.push_back(e);
    for (const auto& id : w.timers_delete) timers.erase(id);
    for (const auto& t : w.timers_put) timers[t.timer_id] = t.due;
    for (const auto& t : w.tasks_delete) tasks.erase(t);
    for (const auto& t : w.tasks_put) tasks[t.token] = t;
  }
  // No frame is left (the redrive point a failed execution keeps is not a frame).
  bool no_frames() const {
    for (const auto& [id, data] : frames) {
      if (id != "#redrive") return false;
    }
    return true;
  }
  // No map result is left, besides the outputs a failed Parallel or Map keeps for a redrive.
  bool no_results() const {
    for (const auto& [key, data] : results) {
      if (key.first != "#redrive-results") return false;
    }
    return true;
  }
  std::vector<FrameRecord> frame_records() const {
    std::vector<FrameRecord> out;
    for (const auto& [id, data] : frames) out.push_back({id, data});
    return out;
  }
  std::vector<MapResultRecord> result_records() const {
    std::vector<MapResultRecord> out;
    for (const auto& [key, data] : results) out.push_back({key.first, key.second, data});
    return out;
  }
};

}  // namespace stepd::engine
