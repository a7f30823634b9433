// Pull tasks: activity tasks wait here for workers' GetActivityTask long-polls.
//
// A task dispatched on this node is queued under its activity ARN. A poll takes the oldest task
// queued for its activity, or waits (up to its time-out) and gets the next one the moment it is
// queued — no polling interval in the latency. A poll answered with a task tells the engine
// (Engine::task_started: ActivityStarted with the worker name in the history): at once
// (Handoff::AtOnce), or only once the poll's owner confirms that the answer reached the worker
// (Handoff::OnDelivery: delivered()); an answer that could not be delivered gives the task back
// (returned()): it goes to the front of its activity's queue, not started, for the next poll.
//
// A poll whose worker went away (its connection closed) is withdrawn (withdraw()): it ends at
// once with an empty answer and takes no task.
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
// whatever thread queued or returned the task, the timer thread, the thread that withdraws it, or
// the caller's). No callback is called under the queue's lock.
#pragma once

#include "engine/core/execution_core.hpp"
#include "engine/engine.hpp"

#include <chrono>
#include <cstdint>
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
  std::string execution_arn;  // the execution the task belongs to
};

class ActivityQueue {
 public:
  using PollReply = std::function<void(std::optional<ActivityTask>)>;
  using PollId = std::uint64_t;  // 0: no poll

  // When the engine hears that a poll got a task (Engine::task_started: ActivityStarted).
  enum class Handoff {
    AtOnce,      // before the poll's `done` is called
    OnDelivery,  // when delivered() is called for its token; returned() queues it again instead
  };

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
  // max_wait), at withdraw() or at shutdown. Returns the poll's id for withdraw(), or 0 when
  // the poll was answered before poll() returned.
  //
  // With Handoff::OnDelivery the task stays "in transit" after `done` got it: the caller must
  // settle it with delivered() or returned() (cancel(), for the engine's reasons, also ends it).
  // A task a poll claims from the store's rows (ActivityQueueOptions::remote_interval) is
  // STARTED there at the claim; the handoff decides when its execution records ActivityStarted,
  // as for a task queued here. Returned, it goes to the next poll waiting here, or else its row
  // is SCHEDULED again (Store::release_activity_task) for any node's poll.
  PollId poll(const std::string& activity_arn, const std::string& worker_name,
              std::chrono::milliseconds wait, PollReply done, Handoff handoff = Handoff::AtOnce);

  // Ends a waiting poll now, as if its wait had passed: its `done` gets nullopt (on this thread)
  // and it takes no task. False, with nothing done, when the poll is no longer waiting (answered,
  // or being answered with a task: that answer stands) or `id` is unknown. A poll that is being
  // matched with another node's task in the store at that moment (false too) ends empty as soon
  // as the store has none for it.
  bool withdraw(PollId id);

  // A task handed out in transit (Handoff::OnDelivery) reached its worker: the engine hears of it
  // (task_started, with the poll's worker name). Nothing for a token not in transit (settled
  // already, cancelled meanwhile, never handed out). Also after shutdown().
  void delivered(const std::string& token);
  // A task handed out in transit did not reach its worker (its answer could not be written): it
  // is handed to the oldest waiting poll of its activity, or queued again at the front, as if it
  // had never been taken; the engine never heard it started. Nothing for a token not in transit,
  // and nothing after shutdown() (the task was not started, so the engine dispatches it again
  // after a restart) except for a task claimed from the store: its row is given back.
  void returned(const std::string& token);

  // Tasks queued and polls waiting, for metrics and tests.
  std::size_t queued() const;
  std::size_t waiting_polls() const;
  std::size_t in_transit() const;  // handed out, neither delivered nor returned yet

  // Answers every waiting poll with nullopt and refuses new ones (answered at once).
  void shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::engine
