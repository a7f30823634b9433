// stepd::worker::Worker: an activity worker. It long-polls one or more activities
// (GetActivityTask), runs a handler on each task it gets, heartbeats while the handler runs and
// reports the outcome (SendTaskSuccess / SendTaskFailure).
//
//   stepd::worker::WorkerOptions options;
//   options.activity_arns = {"arn:aws:states:local:000000000000:activity:resize"};
//   options.max_in_flight = 4;
//   stepd::worker::Worker worker({.endpoint = "http://127.0.0.1:8080"}, options,
//                                [](const stepd::worker::Task& task) {
//                                  return nlohmann::json{{"size", task.input().at("size")}};
//                                });
//   worker.run_until_signal();   // until SIGTERM or SIGINT; held tasks finish, reports go out
//
// Behaviour:
//  - Concurrency: max_in_flight pollers, each with its own connection; a poller holds at most one
//    task, so at most max_in_flight handlers run at once. With several activities each poller goes
//    round them in turn (poller i starts at activity i).
//  - Reporting in the background: when a handler returns, its poller hands the outcome to the
//    reporters and polls again at once; it does not wait for the server to make the outcome durable
//    (a commit). Up to `reporters` threads (default 8 x max_in_flight), started one by one when an
//    outcome finds none idle, each with a keep-alive connection of its own, send the outcomes in
//    the order they came. The server answers a report once its commit is done and puts every
//    outcome waiting into one commit, so many reports outstanding make few, large commits: that is
//    what the default is for (the server's connection limit, stepd's --max-connections, counts
//    these connections). At most max_pending_reports outcomes (default 16 x max_in_flight) wait or
//    are being sent: a poller whose handler returns while that many are pending waits for room
//    before it polls again, so memory stays bounded when the server is slow or away.
//  - Outcome: the handler's return value is the task's output (SendTaskSuccess). An exception fails
//    the task (SendTaskFailure): a stepd::worker::TaskFailure gives its error and cause; any other
//    exception gives the demangled, fully qualified name of its type as the error
//    ("std::runtime_error", "shop::CardDeclined") and what() as the cause (error.hpp:
//    current_exception_report). Error names longer than AWS's 256 characters and causes longer than
//    32768 are cut. An output the server refuses (e.g. larger than 256 KiB: InvalidOutput or
//    ValidationException) fails the task with that error code and message, so the execution does
//    not wait for nothing.
//  - Heartbeats: while a handler runs, SendTaskHeartbeat every heartbeat_interval (0: none); they
//    stop when it returns (an outcome waiting for a reporter is not heartbeated). A heartbeat
//    answered TaskTimedOut or TaskDoesNotExist marks the task abandoned (the server no longer waits
//    for it): Task::abandoned() tells the handler, and its result is not reported.
//  - The server away: a poll or report that fails with a transport error or a 5xx /
//    ServiceUnavailable is retried after a back-off that doubles from backoff_min to backoff_max
//    (with jitter); other server errors on polls (e.g. ActivityDoesNotExist) are logged and retried
//    after backoff_max. A report is retried until it succeeds or report_timeout passes (counted
//    from when a reporter takes it up). A report the server refuses for good is not retried: AWS's
//    TaskDoesNotExist, TaskTimedOut and InvalidToken (the task is no longer awaited: logged as a
//    Warning, counted in WorkerStats::abandoned); any other error that is not worth retrying is
//    logged as an Error ("giving up reporting a task of ...").
//  - Stopping (stop(), or SIGTERM/SIGINT under run_until_signal()): no new poll starts; polls in
//    progress are cut at once (a task the server hands to a poll at that very moment is not seen by
//    this worker: the server gives it again only after its timeout — set
//    WorkerOptions::finish_polls_on_stop to wait for polls to end instead, up to 60 s); handlers
//    running finish; every pending outcome is sent (retried as above); then wait()/run() return.
//
// Threads: the handler runs on the poller threads (up to max_in_flight at once) and must be
// thread-safe accordingly; reports go out on `reporters` threads, heartbeats on one more. start(),
// stop(), wait() and stats() are thread-safe; stop() may be called from a handler.
#pragma once

#include "stepd/worker/client.hpp"
#include "stepd/worker/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::worker {

enum class LogLevel { Debug, Info, Warning, Error };

// Where the Worker and the FunctionHost say what they do. The default writes Info and above to
// stderr, one line each: "stepd-worker <level>: <message>".
using Logger = std::function<void(LogLevel, std::string_view)>;
Logger stderr_logger(LogLevel min_level = LogLevel::Info);

namespace detail {
struct TaskState;
}

// One activity task, as a handler sees it.
class Task {
 public:
  // A task outside any worker (to unit-test a handler): heartbeat() does nothing.
  Task(std::string token, nlohmann::json input, std::string activity_arn);
  explicit Task(std::shared_ptr<detail::TaskState> state);

  const std::string &token() const;
  const nlohmann::json &input() const;
  const std::string &activity_arn() const;
  const std::string &worker_name() const;

  // Sends a heartbeat now (automatic ones go on besides). Throws Error; TaskTimedOut or
  // TaskDoesNotExist also mark the task abandoned.
  void heartbeat() const;
  // The server no longer waits for this task (its heartbeat timed out, or it ended otherwise): a
  // long handler may give up; its outcome will not be reported.
  bool abandoned() const;
  // The worker is stopping (stop() or a signal): a long handler may finish early.
  bool stopping() const;

 private:
  std::shared_ptr<detail::TaskState> state_;
};

using Handler = std::function<nlohmann::json(const Task &)>;

struct WorkerOptions {
  std::vector<std::string> activity_arns{};  // at least one
  std::string worker_name{};                 // "": "<hostname>:<pid>"
  int max_in_flight = 1;                     // pollers, i.e. handlers running at once (>= 1)
  // Most threads sending outcomes (SendTaskSuccess / SendTaskFailure), each on a keep-alive
  // connection of its own; one more starts when an outcome comes and none is idle. 0: 8 x
  // max_in_flight.
  int reporters = 0;
  // Most outcomes waiting for a reporter or being sent; a poller with one more waits for room
  // before it polls again. 0: 16 x max_in_flight.
  int max_pending_reports = 0;
  // Automatic SendTaskHeartbeat while a handler runs; 0 for none. Keep it below the Task state's
  // HeartbeatSeconds.
  std::chrono::milliseconds heartbeat_interval{10'000};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{10'000};
  // How long a reporter keeps retrying the report of one task while the server is away.
  std::chrono::milliseconds report_timeout{60'000};
  // On stop: false (default) cuts polls in progress; true lets them end by themselves (the server
  // answers within 60 s) and runs any task they bring.
  bool finish_polls_on_stop = false;
  Logger log = stderr_logger();
};

struct WorkerStats {
  std::uint64_t polls = 0;          // GetActivityTask answered (with or without a task)
  std::uint64_t tasks = 0;          // tasks received
  std::uint64_t succeeded = 0;      // SendTaskSuccess accepted
  std::uint64_t failed = 0;         // SendTaskFailure accepted
  std::uint64_t abandoned = 0;      // tasks whose outcome the server no longer wanted
  std::uint64_t heartbeats = 0;     // SendTaskHeartbeat accepted
  std::uint64_t poll_errors = 0;    // polls that failed (then backed off)
  std::uint64_t report_errors = 0;  // report attempts that failed (retried or given up)
  int in_flight = 0;                // handlers running now
  int reports_pending = 0;          // outcomes queued for the reporters or being sent
};

class Worker {
 public:
  // Throws std::invalid_argument for options that cannot work (no activity, max_in_flight < 1,
  // negative reporters or max_pending_reports, backoff_min > backoff_max, no handler) and Error for
  // a bad endpoint. options() then shows reporters and max_pending_reports with their defaults
  // filled in.
  Worker(ClientOptions client, WorkerOptions options, Handler handler);
  ~Worker();  // stop() and wait()
  Worker(const Worker &) = delete;
  Worker &operator=(const Worker &) = delete;

  // Starts the pollers, the reporters and the heartbeat thread; returns at once. Once only.
  void start();
  // Asks the worker to stop (see the header comment); returns at once.
  void stop();
  // Blocks until the worker has stopped: stop() was called, polls ended, every held task finished
  // and every outcome was sent (or given up as the header comment says).
  void wait();
  // start() and wait(): returns after stop().
  void run();
  // run(), stopping on SIGTERM or SIGINT (handlers installed for the time of the call, the previous
  // ones restored after). Returns the signal number that stopped it, 0 when stop() did. One
  // run_until_signal() (Worker's or FunctionHost's) at a time in a process.
  int run_until_signal();

  bool stopping() const;
  WorkerStats stats() const;
  const WorkerOptions &options() const;
  const std::string &worker_name() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::worker
