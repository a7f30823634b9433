// Pull tasks: activity tasks wait here for workers' GetActivityTask long-polls.
//
// A task dispatched on this node is queued under its activity ARN. A poll takes the oldest task
// queued for its activity, or waits (up to its time-out) and gets the next one the moment it is
// queued — no polling interval in the latency. A poll answered with a task tells the engine
// (Engine::task_started: ActivityStarted with the worker name in the history).
//
// Several nodes: a poll that waits on a node with nothing queued also looks in the store, every
// ActivityQueueOptions::remote_interval, for tasks of its activity scheduled on other nodes that
// no worker took within remote_after (Store::claim_activity_task takes one atomically), so a
// task scheduled on one node can be polled from any node. A task handed out twice (a rare race
// across nodes) still completes once: its token does.
//
// AWS: an empty answer (no token) after the wait; 60 s is the longest wait.
//
// Threads: thread-safe; poll() never blocks (its answer comes through `done`, called once, on
// whatever thread queued the task, the timer thread, or the caller's).
#pragma once

#include "engine/core/execution_core.hpp"
#include "engine/engine.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace stepd::engine {

struct ActivityQueueOptions {
  std::chrono::milliseconds max_wait{60'000};
  // Cross-node: look in the store for tasks no node handed out for this long ...
  std::chrono::milliseconds remote_after{1'000};
  // ... this often while a poll waits (0: never; single-node SQLite needs none).
  std::chrono::milliseconds remote_interval{0};
};

struct ActivityTask {
  std::string token;
  std::string input;  // JSON text
};

class ActivityQueue {
 public:
  using PollReply = std::function<void(std::optional<ActivityTask>)>;

  ActivityQueue(Engine& engine, ActivityQueueOptions options = {});
  ~ActivityQueue();  // shutdown()
  ActivityQueue(const ActivityQueue&) = delete;
  ActivityQueue& operator=(const ActivityQueue&) = delete;

  // Queues a dispatched activity task (a task already handed to a worker before a restart,
  // task.started, is not queued again: its worker still holds it).
  void push(const TaskDispatch& task);
  // The engine no longer waits for this token (completed elsewhere, timed out, execution ended).
  void cancel(const std::string& token);

  // GetActivityTask: answers with a task of `activity_arn`, or nullopt after `wait` (capped at
  // max_wait) or at shutdown.
  void poll(const std::string& activity_arn, const std::string& worker_name,
            std::chrono::milliseconds wait, PollReply done);

  // Tasks queued and polls waiting, for metrics and tests.
  std::size_t queued() const;
  std::size_t waiting_polls() const;

  // Answers every waiting poll with nullopt and refuses new ones (answered at once).
  void shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::engine
