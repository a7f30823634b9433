#include "stepd/worker/worker.hpp"

#include "signals.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <system_error>
#include <thread>

namespace stepd::worker {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

Logger stderr_logger(LogLevel min_level) {
  return [min_level](LogLevel level, std::string_view message) {
    if (level < min_level) return;
    static constexpr const char *kNames[] = {"debug", "info", "warning", "error"};
    static std::mutex mu;
    std::lock_guard lock(mu);
    std::fprintf(stderr, "stepd-worker %s: %.*s\n", kNames[static_cast<int>(level)],
                 static_cast<int>(message.size()), message.data());
  };
}

namespace detail {

struct TaskState {
  std::string token;
  json input;
  std::string activity_arn;
  std::string worker_name;
  std::atomic<bool> abandoned{false};
  const std::atomic<bool> *stopping = nullptr;
  // Sends one heartbeat; empty for a task outside a worker.
  std::function<void(const std::string &)> send_heartbeat;
  Clock::time_point next_heartbeat;  // guarded by the worker's mutex
};

}  // namespace detail

namespace {

// AWS: the server no longer waits for the task; its outcome would be refused.
bool task_gone(const Error &e) {
  return e.kind() == ErrorKind::Server &&
         (e.code() == "TaskTimedOut" || e.code() == "TaskDoesNotExist" ||
          e.code() == "InvalidToken");
}

// Cuts `text` to at most `max` bytes without splitting a UTF-8 sequence.
std::string cut(std::string text, std::size_t max) {
  if (text.size() <= max) return text;
  std::size_t end = max;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  text.resize(end);
  return text;
}

std::string default_worker_name() {
  char host[256] = {};
  if (::gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "localhost");
  return std::string(host) + ":" + std::to_string(::getpid());
}

// Doubling delays from min to max, each drawn between half and all of its step.
class Backoff {
 public:
  Backoff(std::chrono::milliseconds min, std::chrono::milliseconds max)
      : min_(min), max_(max), step_(min), random_(std::random_device{}()) {}
  void reset() { step_ = min_; }
  std::chrono::milliseconds next() {
    const auto step = step_;
    step_ = std::min(max_, step_ * 2);
    const auto half = step.count() / 2;
    std::uniform_int_distribution<long long> draw(half, std::max<long long>(half, step.count()));
    return std::chrono::milliseconds(draw(random_));
  }
  std::chrono::milliseconds longest() const { return max_; }

 private:
  std::chrono::milliseconds min_;
  std::chrono::milliseconds max_;
  std::chrono::milliseconds step_;
  std::mt19937_64 random_;
};

}  // namespace

// --- Task -------------------------------------------------------------------------------------

Task::Task(std::string token, json input, std::string activity_arn)
    : state_(std::make_shared<detail::TaskState>()) {
  state_->token = std::move(token);
  state_->input = std::move(input);
  state_->activity_arn = std::move(activity_arn);
}

Task::Task(std::shared_ptr<detail::TaskState> state) : state_(std::move(state)) {}

const std::string &Task::token() const { return state_->token; }
const json &Task::input() const { return state_->input; }
const std::string &Task::activity_arn() const { return state_->activity_arn; }
const std::string &Task::worker_name() const { return state_->worker_name; }
bool Task::abandoned() const { return state_->abandoned.load(); }
bool Task::stopping() const { return state_->stopping != nullptr && state_->stopping->load(); }

void Task::heartbeat() const {
  if (!state_->send_heartbeat) return;
  try {
    state_->send_heartbeat(state_->token);
  } catch (const Error &e) {
    if (task_gone(e)) state_->abandoned = true;
    throw;
  }
}

// --- Worker -----------------------------------------------------------------------------------

class Worker::Impl {
 public:
  Impl(ClientOptions client, WorkerOptions options, Handler handler)
      : options_(resolved(std::move(options))),
        handler_(std::move(handler)),
        client_(client),
        report_client_(report_client_options(std::move(client), options_.reporters)) {
    if (options_.activity_arns.empty()) {
      throw std::invalid_argument("WorkerOptions::activity_arns: at least one activity ARN");
    }
    for (const std::string &arn : options_.activity_arns) {
      if (arn.empty()) throw std::invalid_argument("WorkerOptions::activity_arns: an empty ARN");
    }
    if (options_.max_in_flight < 1) {
      throw std::invalid_argument("WorkerOptions::max_in_flight must be at least 1");
    }
    if (options_.backoff_min.count() < 1 || options_.backoff_min > options_.backoff_max) {
      throw std::invalid_argument(
          "WorkerOptions: backoff_min must be at least "
          "1 ms and at most backoff_max");
    }
    if (options_.heartbeat_interval.count() < 0) {
      throw std::invalid_argument("WorkerOptions::heartbeat_interval must not be negative");
    }
    if (options_.reporters < 1) {
      throw std::invalid_argument("WorkerOptions::reporters must not be negative");
    }
    if (options_.max_pending_reports < 1) {
      throw std::invalid_argument("WorkerOptions::max_pending_reports must not be negative");
    }
    if (!handler_) throw std::invalid_argument("Worker: no handler");
    if (options_.worker_name.empty()) options_.worker_name = default_worker_name();
    if (!options_.log) options_.log = [](LogLevel, std::string_view) {};
  }

  ~Impl() {
    stop();
    wait();
  }

  void start() {
    std::lock_guard lock(mu_);
    if (started_) throw std::logic_error("Worker::start: already started");
    started_ = true;
    log(LogLevel::Info, "worker " + options_.worker_name + " polling " +
                            std::to_string(options_.activity_arns.size()) + " activit" +
                            (options_.activity_arns.size() == 1 ? "y" : "ies") + " with " +
                            std::to_string(options_.max_in_flight) + " in flight");
    if (options_.heartbeat_interval.count() > 0) {
      heartbeat_thread_ = std::thread([this] { heartbeat_loop(); });
    }
    {
      // The first reporter; the others start when outcomes find none idle (queue_report).
      std::lock_guard report_lock(report_mu_);
      reporter_threads_.emplace_back([this] { report_loop(); });
    }
    for (int i = 0; i < options_.max_in_flight; ++i) {
      pollers_.emplace_back([this, i] { poll_loop(i); });
    }
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    if (!options_.finish_polls_on_stop) poll_stop_.request_stop();
    cv_.notify_all();
  }

  void wait() {
    std::lock_guard join_lock(join_mu_);
    if (joined_) return;
    {
      std::unique_lock lock(mu_);
      if (!started_) {
        // Nothing runs: wait for a stop() (run() without start never returns before it).
        cv_.wait(lock, [&] { return stopping_.load(); });
      }
    }
    for (std::thread &t : pollers_) t.join();
    // Every outcome is queued now: the reporters send what is left, then end.
    {
      std::lock_guard lock(report_mu_);
      reporters_stop_ = true;
    }
    report_ready_.notify_all();
    for (std::thread &t : reporter_threads_) t.join();
    {
      std::lock_guard lock(mu_);
      heartbeat_stop_ = true;
    }
    cv_.notify_all();
    if (heartbeat_thread_.joinable()) heartbeat_thread_.join();
    joined_ = true;
    log(LogLevel::Info, "worker " + options_.worker_name + " stopped");
  }

  int run_until_signal() {
    detail::SignalWait signals;
    start();
    int signal = 0;
    std::thread watcher([&] {
      signal = signals.wait();
      if (signal != 0) {
        log(LogLevel::Info,
            "signal " + std::to_string(signal) + ": stopping (finishing the tasks held)");
        stop();
      }
    });
    wait();
    signals.wake();
    watcher.join();
    return signal;
  }

  bool stopping() const { return stopping_.load(); }

  WorkerStats stats() const {
    WorkerStats s;
    s.polls = polls_;
    s.tasks = tasks_;
    s.succeeded = succeeded_;
    s.failed = failed_;
    s.abandoned = abandoned_;
    s.heartbeats = heartbeats_;
    s.poll_errors = poll_errors_;
    s.report_errors = report_errors_;
    s.in_flight = in_flight_;
    {
      std::lock_guard lock(report_mu_);
      s.reports_pending = reports_pending_;
    }
    return s;
  }

  const WorkerOptions &options() const { return options_; }

 private:
  // An outcome waiting for a reporter.
  struct PendingReport {
    std::string token;
    std::string activity_arn;
    std::optional<json> output;  // success; failure otherwise
    FailureReport failure;
  };

  // The options with their defaults filled in (0 reporters or pending reports: from
  // max_in_flight); invalid values are left for the constructor to refuse.
  static WorkerOptions resolved(WorkerOptions o) {
    const auto times = [&](int factor) {
      return static_cast<int>(std::min<long long>(1LL * o.max_in_flight * factor, 1 << 20));
    };
    if (o.reporters == 0) o.reporters = times(8);
    if (o.max_pending_reports == 0) o.max_pending_reports = times(16);
    return o;
  }

  // The reporters' client: their own pool, keeping one idle connection per reporter.
  static ClientOptions report_client_options(ClientOptions o, int reporters) {
    o.max_idle_connections =
        std::max(o.max_idle_connections, static_cast<std::size_t>(std::max(reporters, 0)));
    return o;
  }

  void log(LogLevel level, const std::string &message) const { options_.log(level, message); }

  // Sleeps `d`, or less when the worker stops (when `interruptible`).
  void pause(std::chrono::milliseconds d, bool interruptible) {
    std::unique_lock lock(mu_);
    if (interruptible) {
      cv_.wait_for(lock, d, [&] { return stopping_.load(); });
    } else {
      cv_.wait_for(lock, d, [] { return false; });
    }
  }

  void poll_loop(int index) {
    const std::size_t count = options_.activity_arns.size();
    std::size_t next = static_cast<std::size_t>(index) % count;
    Backoff backoff(options_.backoff_min, options_.backoff_max);
    while (!stopping_) {
      const std::string &arn = options_.activity_arns[next];
      next = (next + 1) % count;
      std::optional<ActivityTask> task;
      try {
        task = client_.get_activity_task(arn, options_.worker_name, poll_stop_.get_token());
        ++polls_;
        backoff.reset();
      } catch (const Error &e) {
        if (e.kind() == ErrorKind::Cancelled) break;
        ++poll_errors_;
        const auto delay = e.retryable() ? backoff.next() : backoff.longest();
        log(e.retryable() ? LogLevel::Warning : LogLevel::Error,
            "GetActivityTask " + arn + " failed (" + e.what() + "); retrying in " +
                std::to_string(delay.count()) + " ms");
        pause(delay, true);
        continue;
      }
      if (task) run_task(arn, std::move(*task));
    }
  }

  void run_task(const std::string &arn, ActivityTask received) {
    ++tasks_;
    auto state = std::make_shared<detail::TaskState>();
    state->token = std::move(received.task_token);
    state->input = std::move(received.input);
    state->activity_arn = arn;
    state->worker_name = options_.worker_name;
    state->stopping = &stopping_;
    state->send_heartbeat = [this](const std::string &token) {
      client_.send_task_heartbeat(token);
      ++heartbeats_;
    };
    {
      std::lock_guard lock(mu_);
      state->next_heartbeat = Clock::now() + options_.heartbeat_interval;
      held_.insert(state);
      ++in_flight_;
    }
    cv_.notify_all();
    log(LogLevel::Debug, "task received from " + arn);

    std::optional<json> output;
    FailureReport failure;
    try {
      output = handler_(Task(state));
    } catch (...) {
      failure = current_exception_report();
    }
    {
      // No more heartbeats for it from here on.
      std::lock_guard lock(mu_);
      held_.erase(state);
    }
    --in_flight_;
    if (state->abandoned) {
      ++abandoned_;
      log(LogLevel::Warning, "task of " + arn +
                                 " abandoned: the server no longer waits for it (heartbeat "
                                 "timed out or it ended); its outcome is not reported");
      return;
    }
    queue_report({std::move(state->token), arn, std::move(output), std::move(failure)});
  }

  // Hands an outcome to the reporters; waits while max_pending_reports are pending. Starts one
  // more reporter when none is idle and fewer than `reporters` run (called by pollers only, so
  // none starts once the pollers are joined).
  void queue_report(PendingReport report) {
    {
      std::unique_lock lock(report_mu_);
      report_room_.wait(lock, [&] { return reports_pending_ < options_.max_pending_reports; });
      reports_.push_back(std::move(report));
      ++reports_pending_;
      if (idle_reporters_ == 0 &&
          reporter_threads_.size() < static_cast<std::size_t>(options_.reporters)) {
        try {
          reporter_threads_.emplace_back([this] { report_loop(); });
          return;  // the new reporter takes it
        } catch (const std::system_error &e) {
          // No more threads now: the reporters running (at least the first) take it.
          log(LogLevel::Warning, std::string("cannot start another reporter: ") + e.what());
        }
      }
    }
    report_ready_.notify_one();
  }

  // A reporter: sends queued outcomes one at a time until the worker stops and none is left.
  void report_loop() {
    for (;;) {
      PendingReport next;
      {
        std::unique_lock lock(report_mu_);
        ++idle_reporters_;
        report_ready_.wait(lock, [&] { return !reports_.empty() || reporters_stop_; });
        --idle_reporters_;
        if (reports_.empty()) return;
        next = std::move(reports_.front());
        reports_.pop_front();
      }
      report(next);
      {
        std::lock_guard lock(report_mu_);
        --reports_pending_;
      }
      report_room_.notify_one();
    }
  }

  void report(PendingReport &task) {
    std::optional<json> &output = task.output;
    FailureReport &failure = task.failure;
    const auto deadline = Clock::now() + options_.report_timeout;
    Backoff backoff(options_.backoff_min, options_.backoff_max);
    for (;;) {
      try {
        if (output) {
          report_client_.send_task_success(task.token, *output);
          ++succeeded_;
        } else {
          report_client_.send_task_failure(task.token, cut(failure.error, 256),
                                           cut(failure.cause, 32768));
          ++failed_;
        }
        return;
      } catch (const Error &e) {
        ++report_errors_;
        if (task_gone(e)) {
          ++abandoned_;
          log(LogLevel::Warning, std::string("the server refused the outcome of a task of ") +
                                     task.activity_arn + ": " + e.what());
          return;
        }
        if (output && e.kind() == ErrorKind::Server && !e.retryable()) {
          // The output was refused (too large, ...): fail the task with the reason instead.
          log(LogLevel::Error, std::string("output refused, failing the task: ") + e.what());
          failure = {e.code(), e.message()};
          output.reset();
          continue;
        }
        if (!e.retryable() || Clock::now() >= deadline) {
          log(LogLevel::Error,
              std::string("giving up reporting a task of ") + task.activity_arn + ": " + e.what());
          return;
        }
        const auto delay = backoff.next();
        log(LogLevel::Warning, std::string("reporting a task failed (") + e.what() +
                                   "); retrying in " + std::to_string(delay.count()) + " ms");
        pause(delay, false);
      } catch (const std::exception &e) {
        // The output cannot be written as JSON (e.g. a string that is not UTF-8).
        failure = {"InvalidOutput",
                   std::string("the handler's output is not valid JSON: ") + e.what()};
        output.reset();
      }
    }
  }

  void heartbeat_loop() {
    std::unique_lock lock(mu_);
    while (!heartbeat_stop_) {
      auto wake = Clock::now() + std::chrono::hours(1);
      for (const auto &t : held_) wake = std::min(wake, t->next_heartbeat);
      cv_.wait_until(lock, wake);
      if (heartbeat_stop_) break;
      const auto now = Clock::now();
      std::vector<std::shared_ptr<detail::TaskState>> due;
      for (const auto &t : held_) {
        if (t->next_heartbeat <= now && !t->abandoned) {
          due.push_back(t);
          t->next_heartbeat = now + options_.heartbeat_interval;
        }
      }
      if (due.empty()) continue;
      lock.unlock();
      for (const auto &t : due) {
        try {
          Task(t).heartbeat();
        } catch (const Error &e) {
          log(task_gone(e) ? LogLevel::Warning : LogLevel::Error,
              std::string("heartbeat of a task of ") + t->activity_arn + " failed: " + e.what());
        }
      }
      lock.lock();
    }
  }

  WorkerOptions options_;
  Handler handler_;
  Client client_;         // polls and heartbeats
  Client report_client_;  // the reporters' SendTaskSuccess / SendTaskFailure

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  std::atomic<bool> stopping_{false};
  bool heartbeat_stop_ = false;
  std::stop_source poll_stop_;
  std::set<std::shared_ptr<detail::TaskState>> held_;
  std::vector<std::thread> pollers_;
  std::thread heartbeat_thread_;
  std::vector<std::thread> reporter_threads_;  // guarded by report_mu_ until the pollers end
  std::mutex join_mu_;
  bool joined_ = false;

  // Outcomes not yet sent: queued, or being sent by a reporter (reports_pending_ counts both).
  mutable std::mutex report_mu_;
  std::condition_variable report_ready_;  // a report is queued, or reporters_stop_
  std::condition_variable report_room_;   // reports_pending_ went down
  std::deque<PendingReport> reports_;
  int reports_pending_ = 0;
  int idle_reporters_ = 0;  // reporters waiting for a report
  bool reporters_stop_ = false;

  std::atomic<std::uint64_t> polls_{0};
  std::atomic<std::uint64_t> tasks_{0};
  std::atomic<std::uint64_t> succeeded_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::atomic<std::uint64_t> abandoned_{0};
  std::atomic<std::uint64_t> heartbeats_{0};
  std::atomic<std::uint64_t> poll_errors_{0};
  std::atomic<std::uint64_t> report_errors_{0};
  std::atomic<int> in_flight_{0};
};

Worker::Worker(ClientOptions client, WorkerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(client), std::move(options), std::move(handler))) {}
Worker::~Worker() = default;

void Worker::start() { impl_->start(); }
void Worker::stop() { impl_->stop(); }
void Worker::wait() { impl_->wait(); }
void Worker::run() {
  impl_->start();
  impl_->wait();
}
int Worker::run_until_signal() { return impl_->run_until_signal(); }
bool Worker::stopping() const { return impl_->stopping(); }
WorkerStats Worker::stats() const { return impl_->stats(); }
const WorkerOptions &Worker::options() const { return impl_->options(); }
const std::string &Worker::worker_name() const { return impl_->options().worker_name; }

}  // namespace stepd::worker
