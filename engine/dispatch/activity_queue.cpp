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
    ActivityTask given{task.token, asl::dump_compact(task.payload), task.execution_arn};
    {
      std::lock_guard lock(mu_);
      if (stopped_ || tasks_.count(task.token) || transit_.count(task.token)) return;
      taker = next_poll_locked(activity);
      if (!taker) {
        tasks_[task.token] = std::move(given);
        queues_[activity].push_back(task.token);
        return;
      }
      give_locked(*taker, given);
    }
    hand_out(*taker, std::move(given));
  }

  void cancel(const std::string& token) {
    std::lock_guard lock(mu_);
    tasks_.erase(token);  // its queue entry is skipped when reached
    transit_.erase(token);
  }

  PollId poll(const std::string& activity, const std::string& worker,
              std::chrono::milliseconds wait, PollReply done, Handoff handoff) {
    auto p = std::make_shared<Poll>();
    p->activity = activity;
    p->worker = worker;
    p->done = std::move(done);
    p->handoff = handoff;
    std::optional<ActivityTask> task;
    {
      std::lock_guard lock(mu_);
      if (stopped_) {
        p->answered = true;
      } else {
        task = take_locked(activity);
        if (task) {
          p->answered = true;
          give_locked(*p, *task);
        } else if (wait.count() > 0) {
          p->id = ++last_id_;
          p->deadline = Clock::now() + std::min(wait, options_.max_wait);
          polls_[activity].push_back(p);
          deadlines_.emplace(p->deadline, p);
          by_id_.emplace(p->id, p);
          ++waiting_count_;
          cv_.notify_one();
          return p->id;
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
    return 0;
  }

  bool withdraw(PollId id) {
    std::shared_ptr<Poll> p;
    {
      std::lock_guard lock(mu_);
      auto it = by_id_.find(id);
      if (it == by_id_.end()) return false;
      p = it->second;
      if (p->claiming) {
        p->withdrawn = true;  // ends empty unless the store gave it a task
        return false;
      }
      if (p->answered) return false;
      unwait_locked(p);
      auto list = polls_.find(p->activity);
      if (list != polls_.end()) {
        std::erase(list->second, p);
        if (list->second.empty()) polls_.erase(list);
      }
      auto [first, last] = deadlines_.equal_range(p->deadline);
      for (auto d = first; d != last; ++d) {
        if (d->second == p) {
          deadlines_.erase(d);
          break;
        }
      }
    }
    p->done(std::nullopt);
    return true;
  }

  void delivered(const std::string& token) {
    InTransit t;
    {
      std::lock_guard lock(mu_);
      auto it = transit_.find(token);
      if (it == transit_.end()) return;
      t = std::move(it->second);
      transit_.erase(it);
    }
    if (t.claimed) {
      claimed_started(token, t.worker, t.stepped_here);
    } else {
      engine_.task_started(token, t.worker);
    }
  }

  void returned(const std::string& token) {
    std::shared_ptr<Poll> taker;
    InTransit t;
    {
      std::lock_guard lock(mu_);
      auto it = transit_.find(token);
      if (it == transit_.end()) return;
      t = std::move(it->second);
      transit_.erase(it);
      if (stopped_ && !t.claimed) return;
      taker = stopped_ ? nullptr : next_poll_locked(t.activity);
      if (taker) {
        give_locked(*taker, t.task, t.claimed, t.stepped_here);
      } else if (!t.claimed) {
        tasks_[token] = std::move(t.task);
        queues_[t.activity].push_front(token);
        return;
      }
    }
    if (taker) {
      if (!t.claimed) {
        hand_out(*taker, std::move(t.task));
        return;
      }
      // The claimed row keeps the first worker's name: harmless, the execution records the
      // worker the task reaches.
      if (taker->handoff == Handoff::AtOnce) {
        claimed_started(token, taker->worker, t.stepped_here);
      }
      taker->done(std::move(t.task));
      return;
    }
    // A task claimed from the store that no poll here can take: its row is SCHEDULED again,
    // for any node's poll (and this node's own queue when it was also queued here).
    auto released = engine_.store().release_activity_task(token, t.worker);
    if (released.ok() && *released && t.stepped_here) {
      std::lock_guard lock(mu_);
      if (!stopped_) {
        tasks_[token] = std::move(t.task);
        queues_[t.activity].push_front(token);
      }
    }
  }

  std::size_t in_transit() const {
    std::lock_guard lock(mu_);
    return transit_.size();
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
      by_id_.clear();
      waiting_count_ = 0;
    }
    cv_.notify_all();
    for (auto& p : answer) p->done(std::nullopt);
  }

 private:
  struct Poll {
    PollId id = 0;  // 0: never waited
    std::string activity;
    std::string worker;
    PollReply done;
    Handoff handoff = Handoff::AtOnce;
    Clock::time_point deadline;
    bool answered = false;   // guarded by mu_: no longer waiting
    bool claiming = false;   // guarded by mu_: claim_remote() asks the store for it
    bool withdrawn = false;  // guarded by mu_: withdraw() came while it was claiming
  };

  // A task given to a Handoff::OnDelivery poll whose delivery is not settled yet.
  struct InTransit {
    std::string activity;
    std::string worker;
    ActivityTask task;
    bool claimed = false;       // taken from the store's rows (claim_remote), STARTED there
    bool stepped_here = false;  // claimed: this node's engine steps its execution
  };

  // The poll stops waiting (it is being answered): out of the count and the id index.
  void unwait_locked(const std::shared_ptr<Poll>& p) {
    p->answered = true;
    --waiting_count_;
    by_id_.erase(p->id);
  }

  // The oldest poll waiting for `activity`, taken out of the waiting list (null when none).
  std::shared_ptr<Poll> next_poll_locked(const std::string& activity) {
    auto it = polls_.find(activity);
    if (it == polls_.end()) return nullptr;
    std::shared_ptr<Poll> taker;
    while (!it->second.empty() && !taker) {
      taker = std::move(it->second.front());
      it->second.pop_front();
      if (taker->answered) taker.reset();
    }
    if (it->second.empty()) polls_.erase(it);
    if (taker) unwait_locked(taker);
    return taker;
  }

  // `p` gets `task`: in transit until its delivery is settled when the poll asked so.
  void give_locked(const Poll& p, const ActivityTask& task, bool claimed = false,
                   bool stepped_here = false) {
    if (p.handoff == Handoff::OnDelivery) {
      transit_[task.token] = InTransit{p.activity, p.worker, task, claimed, stepped_here};
    }
  }

  // A task claimed from the store reached `worker`: the node stepping its execution records
  // ActivityStarted (this one directly, another through a task message).
  void claimed_started(const std::string& token, const std::string& worker, bool stepped_here) {
    if (stepped_here) {
      engine_.task_started(token, worker);
      return;
    }
    TaskMessage m;
    m.token = token;
    m.kind = "started";
    m.body = worker;
    m.created = wall_now();
    (void)engine_.store().post_task_message(m);
  }

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
      out = std::move(t->second);
      tasks_.erase(t);
    }
    if (q->second.empty()) queues_.erase(q);
    return out;
  }

  // Answers the poll with its task; the engine hears who took it (ActivityStarted) first, or,
  // for a poll that waits for the delivery, when delivered() is called.
  void hand_out(Poll& p, ActivityTask task) {
    if (p.handoff == Handoff::AtOnce) engine_.task_started(task.token, p.worker);
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
        unwait_locked(p);
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
          taker = next_poll_locked(activity);
          if (!taker) break;
          // Still known by its id while the store is asked: withdraw() marks it.
          taker->claiming = true;
          by_id_.emplace(taker->id, taker);
        }
        auto claimed = engine_.store().claim_activity_task(activity, before, taker->worker);
        if (!claimed.ok() || !claimed->has_value()) {
          // Nothing to take: the poll goes back to the front and keeps waiting, unless it was
          // withdrawn or the queue shut down meanwhile: then it ends now, empty.
          bool end = false;
          {
            std::lock_guard lock(mu_);
            taker->claiming = false;
            end = stopped_ || taker->withdrawn || Clock::now() >= taker->deadline;
            if (end) {
              by_id_.erase(taker->id);
            } else {
              taker->answered = false;
              ++waiting_count_;
              polls_[activity].push_front(taker);
            }
          }
          if (end) taker->done(std::nullopt);
          break;
        }
        TaskRecord& task = **claimed;
        ActivityTask given{task.token, task.input, task.execution_arn};
        bool stepped_here = false;
        {
          std::lock_guard lock(mu_);
          taker->claiming = false;
          by_id_.erase(taker->id);
          stepped_here = tasks_.erase(task.token) > 0;
          give_locked(*taker, given, /*claimed=*/true, stepped_here);
        }
        if (taker->handoff == Handoff::AtOnce) {
          claimed_started(task.token, taker->worker, stepped_here);
        }
        taker->done(std::move(given));
      }
    }
  }

  Engine& engine_;
  const ActivityQueueOptions options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::unordered_map<std::string, ActivityTask> tasks_;              // token -> queued task
  std::unordered_map<std::string, std::deque<std::string>> queues_;  // activity -> tokens
  std::unordered_map<std::string, std::deque<std::shared_ptr<Poll>>> polls_;  // waiting
  std::multimap<Clock::time_point, std::shared_ptr<Poll>> deadlines_;
  std::unordered_map<PollId, std::shared_ptr<Poll>> by_id_;  // waiting polls, for withdraw()
  std::unordered_map<std::string, InTransit> transit_;       // token -> handed out, unsettled
  PollId last_id_ = 0;
  std::size_t waiting_count_ = 0;
  std::thread thread_;  // last: starts after the members it uses
};

ActivityQueue::ActivityQueue(Engine& engine, ActivityQueueOptions options)
    : impl_(std::make_unique<Impl>(engine, options)) {}
ActivityQueue::~ActivityQueue() = default;
void ActivityQueue::push(const TaskDispatch& task) { impl_->push(task); }
void ActivityQueue::cancel(const std::string& token) { impl_->cancel(token); }
ActivityQueue::PollId ActivityQueue::poll(const std::string& activity_arn,
                                          const std::string& worker_name,
                                          std::chrono::milliseconds wait, PollReply done,
                                          Handoff handoff) {
  return impl_->poll(activity_arn, worker_name, wait, std::move(done), handoff);
}
bool ActivityQueue::withdraw(PollId id) { return impl_->withdraw(id); }
void ActivityQueue::delivered(const std::string& token) { impl_->delivered(token); }
void ActivityQueue::returned(const std::string& token) { impl_->returned(token); }
std::size_t ActivityQueue::in_transit() const { return impl_->in_transit(); }
std::size_t ActivityQueue::queued() const { return impl_->queued(); }
std::size_t ActivityQueue::waiting_polls() const { return impl_->waiting_polls(); }
void ActivityQueue::shutdown() { impl_->shutdown(); }

}  // namespace stepd::engine
