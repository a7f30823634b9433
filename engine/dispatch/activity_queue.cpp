#include "engine/dispatch/activity_queue.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace stepd::engine {
namespace {

using Clock = std::chrono::steady_clock;

Micros wall_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

class ActivityQueue::Impl {
 public:
  Impl(Engine& engine, ActivityQueueOptions options)
      : engine_(engine), options_(options), thread_([this] { loop(); }) {}

  ~Impl() {
    shutdown();
    if (thread_.joinable()) thread_.join();
  }

  void push(const TaskDispatch& task) {
    if (task.started) return;  // a worker holds it since before the restart
    const std::string activity = task.resource;
    std::shared_ptr<Poll> taker;
    {
      std::lock_guard lock(mu_);
      if (stopped_ || tasks_.count(task.token)) return;
      auto& waiting = polls_[activity];
      while (!waiting.empty() && !taker) {
        taker = std::move(waiting.front());
        waiting.pop_front();
        if (taker->answered) taker.reset();
      }
      if (waiting.empty()) polls_.erase(activity);
      if (!taker) {
        tasks_[task.token] = Queued{task.token, asl::dump_compact(task.payload)};
        queues_[activity].push_back(task.token);
        return;
      }
      taker->answered = true;
      --waiting_count_;
    }
    hand_out(*taker, ActivityTask{task.token, asl::dump_compact(task.payload)});
  }

  void cancel(const std::string& token) {
    std::lock_guard lock(mu_);
    tasks_.erase(token);  // its queue entry is skipped when reached
  }

  void poll(const std::string& activity, const std::string& worker,
            std::chrono::milliseconds wait, PollReply done) {
    auto p = std::make_shared<Poll>();
    p->activity = activity;
    p->worker = worker;
    p->done = std::move(done);
    std::optional<ActivityTask> task;
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        p->answered = true;
      } else {
        task = take_locked(activity);
        if (task) {
          p->answered = true;
        } else if (wait.count() > 0) {
          p->deadline = Clock::now() + std::min(wait, options_.max_wait);
          polls_[activity].push_back(p);
          deadlines_.emplace(p->deadline, p);
          ++waiting_count_;
          cv_.notify_one();
          return;
        } else {
          p->answered = true;
        }
      }
    }
    if (task) {
      hand_out(*p, std::move(*task));
    } else {
      p->done(std::nullopt);
    }
  }

  std::size_t queued() const {
    std::lock_guard lock(mu_);
    return tasks_.size();
  }

  std::size_t waiting_polls() const {
    std::lock_guard lock(mu_);
    return waiting_count_;
  }

  void shutdown() {
    std::vector<std::shared_ptr<Poll>> answer;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      stopped_ = true;
      for (auto& [activity, list] : polls_) {
        for (auto& p : list) {
          if (!p->answered) {
            p->answered = true;
            answer.push_back(p);
          }
        }
      }
      polls_.clear();
      deadlines_.clear();
      waiting_count_ = 0;
    }
    cv_.notify_all();
    for (auto& p : answer) p->done(std::nullopt);
  }

 private:
  struct Queued {
    std::string token;
    std::string input;
  };

  struct Poll {
    std::string activity;
    std::string worker;
    PollReply done;
    Clock::time_point deadline;
    bool answered = false;  // guarded by mu_
  };

  // The oldest task still queued for `activity`.
  std::optional<ActivityTask> take_locked(const std::string& activity) {
    auto q = queues_.find(activity);
    if (q == queues_.end()) return std::nullopt;
    std::optional<ActivityTask> out;
    while (!q->second.empty() && !out) {
      std::string token = std::move(q->second.front());
      q->second.pop_front();
      auto t = tasks_.find(token);
      if (t == tasks_.end()) continue;  // cancelled
      out = ActivityTask{std::move(t->second.token), std::move(t->second.input)};
      tasks_.erase(t);
    }
    if (q->second.empty()) queues_.erase(q);
    return out;
  }

  // Tells the engine who took the task (ActivityStarted), then answers the poll.
  void hand_out(Poll& p, ActivityTask task) {
    engine_.task_started(task.token, p.worker);
    p.done(std::move(task));
  }

  // Expires polls at their deadline; looks for other nodes' tasks while polls wait.
  void loop() {
    std::unique_lock lock(mu_);
    auto next_remote = Clock::now() + options_.remote_interval;
    while (!stopped_) {
      auto until = Clock::now() + std::chrono::seconds(1);
      if (!deadlines_.empty()) until = std::min(until, deadlines_.begin()->first);
      const bool remote = options_.remote_interval.count() > 0 && waiting_count_ > 0;
      if (remote) until = std::min(until, next_remote);
      cv_.wait_until(lock, until);
      if (stopped_) return;
      std::vector<std::shared_ptr<Poll>> expired;
      const auto now = Clock::now();
      while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
        std::shared_ptr<Poll> p = std::move(deadlines_.begin()->second);
        deadlines_.erase(deadlines_.begin());
        if (p->answered) continue;
        p->answered = true;
        --waiting_count_;
        auto& list = polls_[p->activity];
        std::erase(list, p);
        if (list.empty()) polls_.erase(p->activity);
        expired.push_back(std::move(p));
      }
      if (options_.remote_interval.count() > 0 && waiting_count_ > 0 && now >= next_remote) {
        next_remote = now + options_.remote_interval;
        lock.unlock();
        claim_remote();
        lock.lock();
      }
      if (!expired.empty()) {
        lock.unlock();
        for (auto& p : expired) p->done(std::nullopt);
        lock.lock();
      }
    }
  }

  // Several nodes: a task another node scheduled and no worker took there is claimed in the
  // store for a poll waiting here; the owning node records ActivityStarted from the message.
  void claim_remote() {
    std::vector<std::string> activities;
    {
      std::lock_guard lock(mu_);
      for (const auto& [activity, list] : polls_) activities.push_back(activity);
    }
    const Micros before =
        wall_now() - std::chrono::duration_cast<std::chrono::microseconds>(options_.remote_after)
                         .count();
    for (const std::string& activity : activities) {
      for (;;) {
        std::shared_ptr<Poll> taker;
        {
          std::lock_guard lock(mu_);
          auto it = polls_.find(activity);
          if (it == polls_.end()) break;
          while (!it->second.empty() && !taker) {
            taker = std::move(it->second.front());
            it->second.pop_front();
            if (taker->answered) taker.reset();
          }
          if (it->second.empty()) polls_.erase(it);
          if (!taker) break;
          taker->answered = true;
          --waiting_count_;
        }
        auto claimed = engine_.store().claim_activity_task(activity, before, taker->worker);
        if (!claimed.ok() || !claimed->has_value()) {
          // Nothing to take: the poll goes back to the front and keeps waiting.
          std::lock_guard lock(mu_);
          taker->answered = false;
          ++waiting_count_;
          polls_[activity].push_front(taker);
          break;
        }
        TaskRecord& task = **claimed;
        bool local = false;
        {
          std::lock_guard lock(mu_);
          local = tasks_.erase(task.token) > 0;
        }
        if (local) {
          engine_.task_started(task.token, taker->worker);
        } else {
          TaskMessage m;
          m.token = task.token;
          m.kind = "started";
          m.body = taker->worker;
          m.created = wall_now();
          (void)engine_.store().post_task_message(m);
        }
        taker->done(ActivityTask{task.token, task.input});
      }
    }
  }

  Engine& engine_;
  const ActivityQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::unordered_map<std::string, Queued> tasks_;                   // token -> queued task
  std::unordered_map<std::string, std::deque<std::string>> queues_;  // activity -> tokens
  std::unordered_map<std::string, std::deque<std::shared_ptr<Poll>>> polls_;  // waiting
  std::multimap<Clock::time_point, std::shared_ptr<Poll>> deadlines_;
  std::size_t waiting_count_ = 0;
  std::thread thread_;  // last: starts after the members it uses
};

ActivityQueue::ActivityQueue(Engine& engine, ActivityQueueOptions options)
    : impl_(std::make_unique<Impl>(engine, options)) {}
ActivityQueue::~ActivityQueue() = default;
void ActivityQueue::push(const TaskDispatch& task) { impl_->push(task); }
void ActivityQueue::cancel(const std::string& token) { impl_->cancel(token); }
void ActivityQueue::poll(const std::string& activity_arn, const std::string& worker_name,
                         std::chrono::milliseconds wait, PollReply done) {
  impl_->poll(activity_arn, worker_name, wait, std::move(done));
}
std::size_t ActivityQueue::queued() const { return impl_->queued(); }
std::size_t ActivityQueue::waiting_polls() const { return impl_->waiting_polls(); }
void ActivityQueue::shutdown() { impl_->shutdown(); }

}  // namespace stepd::engine
