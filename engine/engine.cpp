#include "engine/engine.hpp"

#include "engine/ids.hpp"

#include "asl/core/eval.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cassert>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <queue>
#include <random>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

namespace stepd::engine {

namespace {

// The epoch of a fence for a partition this node does not hold: no lease has it.
constexpr std::int64_t kNoEpoch = -1;

Micros system_now() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Task tokens are 32 random bytes in hex (ExecutionCore's TokenFactory below). AWS: anything else
// is InvalidToken, not TaskDoesNotExist.
constexpr std::size_t kTokenBytes = 32;

std::optional<ApiError> invalid_token(const std::string& token) {
  bool ok = token.size() == 2 * kTokenBytes;
  for (char c : token) ok = ok && ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
  if (ok) return std::nullopt;
  std::string shown = token.size() > 80 ? token.substr(0, 80) + "..." : token;
  return ApiError{"InvalidToken", "Invalid Token: '" + shown + "' is not a task token", {}};
}

// AWS: names of state machines and executions: 1-80 characters, none of whitespace,
// brackets, wildcards, quotes and the other reserved characters, no control characters.
std::optional<std::string> invalid_name(const std::string& name, std::string_view what) {
  if (name.empty() || name.size() > 80) {
    return std::string(what) + " name must be 1 to 80 characters long";
  }
  static constexpr std::string_view kReserved = " <>{}[]?*\"#%\\^|~`$&,;:/";
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f || kReserved.find(static_cast<char>(c)) != std::string_view::npos) {
      return std::string(what) + " name '" + name + "' contains a character that is not allowed";
    }
  }
  return std::nullopt;
}

ApiError api_error(std::string type, std::string message) {
  return ApiError{std::move(type), std::move(message), {}};
}

ApiError store_error(const Error& e) {
  return api_error(e.code == ErrorCode::Unavailable ? "ServiceUnavailable" : "InternalError",
                   e.message);
}

// What a command's caller hears once its batch is committed: `value`, or the store's error.
template <class Reply, class T>
std::function<void(const Status&)> answer_when_committed(Reply reply, T value) {
  return [reply = std::move(reply), value = std::move(value)](const Status& s) {
    if (s.ok()) {
      reply(value);
    } else {
      reply(store_error(s.error()));
    }
  };
}

}  // namespace

class Engine::Impl {
 public:
  Impl(std::unique_ptr<Store> store, EngineOptions options)
      : store_(std::move(store)), options_(std::move(options)) {
    if (!options_.clock) options_.clock = system_now;
    random_ = std::make_unique<asl::SplitMixRandom>(std::random_device{}() ^
                                                    static_cast<std::uint64_t>(system_now()));
  }

  ~Impl() { shutdown(); }

  Status start() {
    if (Status s = store_->migrate(); !s.ok()) return s;
    auto leases = take_leases();
    if (!leases.ok()) return leases.error();
    std::vector<int> held;
    for (const PartitionLease& l : *leases) {
      fences_[l.partition] = l.epoch;
      held.push_back(l.partition);
    }
    {
      std::lock_guard lock(partitions_mu_);
      held_partitions_ = held;
    }
    if (!held.empty()) {
      auto open = store_->open_executions(held);
      if (!open.ok()) return open.error();
      for (const std::string& arn : *open) {
        if (Status s = restore_execution(arn); !s.ok()) return s;
      }
    }
    stats_.open_executions = static_cast<long long>(cores_.size());
    stats_.partitions_held = static_cast<int>(fences_.size());
    running_ = true;
    stepper_ = std::thread([this] { stepper_loop(); });
    committer_ = std::thread([this] { committer_loop(); });
    if (options_.timer_thread) timer_thread_ = std::thread([this] { timer_loop(); });
    if (options_.lease_thread) lease_thread_ = std::thread([this] { lease_loop(); });
    if (options_.task_messages_interval > 0) {
      messages_thread_ = std::thread([this] { messages_loop(); });
    }
    return Status();
  }

  void shutdown() {
    {
      std::lock_guard lock(mu_);
      if (!running_) return;
      running_ = false;
    }
    cv_.notify_all();
    timers_cv_.notify_all();
    {
      std::lock_guard lock(lease_mu_);  // the lease thread is either waiting or will see it
      lease_stop_ = true;
    }
    lease_cv_.notify_all();
    if (stepper_.joinable()) stepper_.join();
    {
      std::lock_guard lock(commit_mu_);
      committer_stop_ = true;
    }
    commit_cv_.notify_all();
    if (committer_.joinable()) committer_.join();
    if (timer_thread_.joinable()) timer_thread_.join();
    if (lease_thread_.joinable()) lease_thread_.join();
    if (messages_thread_.joinable()) messages_thread_.join();
    (void)store_->release_partitions(options_.node_id);
  }

  void set_task_transport(TaskTransport* t) {
    std::vector<TaskDispatch> pending;
    {
      std::lock_guard lock(transport_mu_);
      transport_ = t;
      pending.swap(undelivered_);
    }
    if (t != nullptr) {
      for (const TaskDispatch& d : pending) t->dispatch(d);
    }
  }

  // --- Machines -----------------------------------------------------------------------------

  ApiResult<StateMachineRecord> create_state_machine(const CreateMachineRequest& r) {
    if (auto why = invalid_name(r.name, "State machine")) return api_error("InvalidName", *why);
    if (r.type != "STANDARD" && r.type != "EXPRESS") {
      return api_error("ValidationException",
                       "type must be STANDARD or EXPRESS, not '" + r.type + "'");
    }
    if (auto bad = check_definition(r.definition)) return *bad;
    StateMachineRecord m;
    m.arn = machine_arn(r.name);
    m.name = r.name;
    m.type = r.type;
    m.definition = r.definition;
    m.role_arn = r.role_arn;
    m.revision_id = "1";
    m.status = "ACTIVE";
    m.tags_json = r.tags_json;
    m.description = r.description;
    m.logging_json = r.logging_json.empty() ? "{}" : r.logging_json;
    m.tracing_json = r.tracing_json.empty() ? "{}" : r.tracing_json;
    m.created = m.updated = now();
    Status s = store_->create_state_machine(m);
    if (s.ok()) return m;
    if (s.error().code != ErrorCode::AlreadyExists) return store_error(s.error());
    auto existing = store_->get_state_machine(m.arn);
    if (existing.ok() && existing->definition == m.definition && existing->role_arn == m.role_arn &&
        existing->type == m.type) {
      return *existing;  // AWS: creating the same machine again is not an error
    }
    return api_error("StateMachineAlreadyExists",
                     "State Machine Already Exists: '" + m.arn + "'");
  }

  ApiResult<StateMachineRecord> update_state_machine(const std::string& arn,
                                                     const std::optional<std::string>& definition,
                                                     const std::optional<std::string>& role) {
    if (!definition && !role) {
      return api_error("MissingRequiredParameter",
                       "Either the definition or the roleArn must be specified");
    }
    auto m = store_->get_state_machine(arn);
    if (!m.ok()) return machine_lookup_error(arn, m.error());
    if (definition) {
      if (auto bad = check_definition(*definition)) return *bad;
      m->definition = *definition;
    }
    if (role) m->role_arn = *role;
    m->revision_id = std::to_string(std::stoll(m->revision_id) + 1);
    m->updated = now();
    RevisionRecord rev{m->arn, m->revision_id, m->definition, m->role_arn, m->updated};
    if (Status s = store_->update_state_machine(*m, rev); !s.ok()) return store_error(s.error());
    return *m;
  }

  ApiResult<StateMachineRecord> describe_state_machine(const std::string& arn) {
    auto m = store_->get_state_machine(arn);
    if (!m.ok()) return machine_lookup_error(arn, m.error());
    return *m;
  }

  ApiResult<Page<StateMachineRecord>> list_state_machines(const PageRequest& page) {
    if (auto bad = bad_page(page)) return *bad;
    auto r = store_->list_state_machines(page);
    if (!r.ok()) return page_error(r.error());
    return *r;
  }

  ApiResult<bool> delete_state_machine(const std::string& arn) {
    Status s = store_->delete_state_machine(arn);
    if (!s.ok() && s.error().code != ErrorCode::NotFound) return store_error(s.error());
    return true;  // AWS: deleting a machine that does not exist succeeds
  }

  // --- Executions ---------------------------------------------------------------------------

  void start_execution(const StartRequest& r, ExecutionReply done) {
    auto m = store_->get_state_machine(r.machine_arn);
    if (!m.ok()) return done(machine_lookup_error(r.machine_arn, m.error()));
    std::string name = r.name.empty() ? random_uuid() : r.name;
    if (auto why = invalid_name(name, "Execution")) return done(api_error("InvalidName", *why));
    asl::Json input = asl::Json::parse(r.input, nullptr, false);
    if (input.is_discarded()) {
      return done(api_error("InvalidExecutionInput",
                       "Invalid State Machine Execution Input: the input is not valid JSON"));
    }
    if (r.input.size() > options_.core.max_payload_bytes) {
      return done(api_error("InvalidExecutionInput",
                       "The execution input is larger than the maximum of 262144 bytes"));
    }
    auto machine = compiled(m->arn, m->revision_id, m->definition);
    if (!machine) return done(api_error("InvalidDefinition", "the stored definition no longer loads"));

    ExecutionRecord rec;
    rec.arn = execution_arn(m->name, name);
    rec.machine_arn = m->arn;
    rec.revision_id = m->revision_id;
    rec.name = name;
    rec.type = m->type;
    rec.status = "RUNNING";
    rec.input = asl::dump_compact(input);
    rec.start = now();
    rec.trace_header = r.trace_header;
    auto partition = pick_partition();
    if (!partition) {
      return done(api_error("ServiceUnavailable",
                            "this node holds no partition yet; retry, or send the request to "
                            "another node"));
    }
    rec.partition = *partition;

    // A generated name is a random UUID: no execution has it, and the store refuses the
    // insert if one did. Only a name the caller chose is looked up (AWS: the same name and
    // input while it runs is the same execution).
    if (!r.name.empty()) {
      auto existing = store_->get_execution(rec.arn);
      if (existing.ok()) return done(same_or_exists(*existing, rec.input));
    }

    // The role of the revision it runs: ExecutionStarted's roleArn, $$.Execution.RoleArn.
    post(Command::start(std::move(rec), std::move(machine), std::move(done), m->role_arn));
  }

  ApiResult<ExecutionRecord> start_sync_execution(const StartRequest& r,
                                                  std::chrono::milliseconds timeout) {
    auto started = wait_reply([&](ExecutionReply done) { start_execution(r, std::move(done)); });
    if (auto* e = std::get_if<ApiError>(&started)) return *e;
    const ExecutionRecord& rec = std::get<ExecutionRecord>(started);
    auto done = wait_for(rec.arn, timeout);
    // An EXPRESS execution still running after `timeout` exists only in memory.
    if (std::holds_alternative<ApiError>(done) && rec.type == "EXPRESS") return rec;
    return done;
  }

  ApiResult<ExecutionRecord> describe_execution(const std::string& arn) {
    auto e = store_->get_execution(arn);
    if (!e.ok()) return execution_lookup_error(arn, e.error());
    return *e;
  }

  ApiResult<Page<ExecutionRecord>> list_executions(const ExecutionFilter& f,
                                                   const PageRequest& page) {
    if (!f.machine_arn.empty()) {
      auto m = store_->get_state_machine(f.machine_arn);
      if (!m.ok()) return machine_lookup_error(f.machine_arn, m.error());
    }
    if (auto bad = bad_page(page)) return *bad;
    auto r = store_->list_executions(f, page);
    if (!r.ok()) return page_error(r.error());
    return *r;
  }

  ApiResult<Page<HistoryEvent>> get_history(const std::string& arn, const PageRequest& page,
                                            bool reverse) {
    if (auto bad = bad_page(page)) return *bad;
    auto e = store_->get_execution(arn);
    if (!e.ok()) return execution_lookup_error(arn, e.error());
    auto r = store_->get_history(arn, page, reverse);
    if (!r.ok()) return page_error(r.error());
    return *r;
  }

  void stop_execution(const std::string& arn, const std::string& error,
                      const std::string& cause, ExecutionReply done) {
    auto e = store_->get_execution(arn);
    if (!e.ok()) return done(execution_lookup_error(arn, e.error()));
    if (e->status != "RUNNING") return done(*e);  // AWS: stopping a finished execution is a no-op
    Command c;
    c.kind = Command::Kind::Stop;
    c.arn = arn;
    c.error = error;
    c.cause = cause;
    c.reply = std::move(done);
    post(std::move(c));
  }

  void redrive_execution(const std::string& arn, ExecutionReply done) {
    auto e = store_->get_execution(arn);
    if (!e.ok()) return done(execution_lookup_error(arn, e.error()));
    auto not_redrivable = [&](const std::string& why) {
      return api_error("ExecutionNotRedrivable",
                       "Execution '" + arn + "' cannot be redriven: " + why);
    };
    if (e->type == "EXPRESS") return done(not_redrivable("it is an EXPRESS execution"));
    if (e->status != "FAILED" && e->status != "TIMED_OUT" && e->status != "ABORTED") {
      return done(not_redrivable("its status is " + e->status));
    }
    auto frames = store_->load_frames(arn);
    if (!frames.ok()) return done(store_error(frames.error()));
    asl::Json point;
    for (const FrameRecord& f : *frames) {
      if (f.frame_id == "#redrive") point = asl::Json::parse(f.data, nullptr, false);
    }
    if (!point.is_object()) return done(not_redrivable("it ended before entering any state"));
    // The input the failed state was entered with: its StateEntered event.
    const long long entered = point.value("entered_event_id", 0LL);
    std::optional<asl::Json> input;
    PageRequest page;
    page.max_results = 1000;
    while (!input) {
      auto h = store_->get_history(arn, page, /*reverse=*/true);
      if (!h.ok()) return done(store_error(h.error()));
      for (const HistoryEvent& ev : h->items) {
        if (ev.id != entered) continue;
        asl::Json details = asl::Json::parse(ev.details, nullptr, false);
        if (details.is_object() && details.contains("input")) {
          input = asl::Json::parse(details["input"].get<std::string>(), nullptr, false);
        }
        break;
      }
      if (input || h->next_token.empty() || h->items.empty() || h->items.back().id < entered) {
        break;
      }
      page.next_token = h->next_token;
    }
    if (!input || input->is_discarded()) return done(not_redrivable("its history lacks the input"));
    auto machine = cached_machine(e->machine_arn, e->revision_id);
    if (!machine) {
      auto rev = store_->get_revision(e->machine_arn, e->revision_id);
      if (!rev.ok()) return done(store_error(rev.error()));
      machine = compiled(e->machine_arn, e->revision_id, rev->definition);
      if (!machine) return done(not_redrivable("its definition no longer loads"));
    }
    Command c;
    c.kind = Command::Kind::Redrive;
    c.record = *e;
    c.machine = std::move(machine);
    c.redrive_point = std::move(point);
    c.redrive_input = std::move(*input);
    if (c.redrive_point.contains("group_total")) {
      auto results = store_->load_map_results(arn);
      if (!results.ok()) return done(store_error(results.error()));
      c.redrive_results = std::move(*results);
    }
    c.reply = std::move(done);
    post(std::move(c));
  }

  // Calls `call` with a reply and waits for the answer.
  template <typename Call>
  static ApiResult<ExecutionRecord> wait_reply(Call&& call) {
    auto promise = std::make_shared<std::promise<ApiResult<ExecutionRecord>>>();
    auto future = promise->get_future();
    call([promise](ApiResult<ExecutionRecord> r) { promise->set_value(std::move(r)); });
    return future.get();
  }

  ApiResult<ExecutionRecord> wait_for(const std::string& arn, std::chrono::milliseconds timeout) {
    auto promise = std::make_shared<std::promise<void>>();
    auto future = promise->get_future();
    {
      std::lock_guard lock(waiters_mu_);
      waiters_[arn].push_back(promise);
    }
    bool in_memory = false;
    {
      std::lock_guard lock(express_mu_);
      in_memory = express_running_.count(arn) > 0;
    }
    if (in_memory) {
      future.wait_for(timeout);
    } else {
      auto e = store_->get_execution(arn);
      if (!e.ok()) return execution_lookup_error(arn, e.error());
      if (e->status == "RUNNING") future.wait_for(timeout);
    }
    {
      std::lock_guard lock(waiters_mu_);
      auto& list = waiters_[arn];
      std::erase(list, promise);
      if (list.empty()) waiters_.erase(arn);
    }
    return describe_execution(arn);
  }

  // --- Tasks --------------------------------------------------------------------------------

  ApiResult<bool> complete_task(const std::string& token, asl::Outcome outcome) {
    auto promise = std::make_shared<std::promise<ApiResult<bool>>>();
    auto future = promise->get_future();
    complete_task_async(token, std::move(outcome),
                        [promise](ApiResult<bool> r) { promise->set_value(std::move(r)); });
    return future.get();
  }

  void complete_task_async(const std::string& token, asl::Outcome outcome,
                           std::function<void(ApiResult<bool>)> done) {
    if (auto bad = invalid_token(token)) return done(*bad);
    Command c;
    c.kind = Command::Kind::Task;
    c.token = token;
    c.outcome = std::move(outcome);
    c.task_done = std::move(done);
    post(std::move(c));
  }

  ApiResult<bool> heartbeat_task(const std::string& token) {
    auto promise = std::make_shared<std::promise<ApiResult<bool>>>();
    auto future = promise->get_future();
    heartbeat_task_async(token, [promise](ApiResult<bool> r) { promise->set_value(std::move(r)); });
    return future.get();
  }

  void heartbeat_task_async(const std::string& token, std::function<void(ApiResult<bool>)> done) {
    if (auto bad = invalid_token(token)) return done(*bad);
    Command c;
    c.kind = Command::Kind::Heartbeat;
    c.token = token;
    c.task_done = std::move(done);
    post(std::move(c));
  }

  void task_started(const std::string& token, const std::string& worker_name) {
    Command c;
    c.kind = Command::Kind::Started;
    c.token = token;
    c.worker_name = worker_name;
    post(std::move(c));
  }

  // --- Activities ---------------------------------------------------------------------------

  std::string activity_arn(const std::string& name) const {
    return "arn:aws:states:" + options_.region + ":" + options_.account + ":activity:" + name;
  }

  ApiResult<ActivityRecord> create_activity(const std::string& name, const std::string& tags) {
    if (auto why = invalid_name(name, "Activity")) return api_error("InvalidName", *why);
    ActivityRecord a;
    a.arn = activity_arn(name);
    a.name = name;
    a.tags_json = tags.empty() ? "[]" : tags;
    a.created = now();
    Status s = store_->create_activity(a);
    if (s.ok()) return a;
    if (s.error().code != ErrorCode::AlreadyExists) return store_error(s.error());
    auto existing = store_->get_activity(a.arn);
    if (!existing.ok()) return store_error(existing.error());
    return *existing;  // AWS: CreateActivity is idempotent
  }

  ApiResult<ActivityRecord> describe_activity(const std::string& arn) {
    auto a = store_->get_activity(arn);
    if (a.ok()) return *a;
    if (a.error().code == ErrorCode::NotFound) {
      return api_error("ActivityDoesNotExist", "Activity Does Not Exist: '" + arn + "'");
    }
    return store_error(a.error());
  }

  ApiResult<Page<ActivityRecord>> list_activities(const PageRequest& page) {
    if (auto bad = bad_page(page)) return *bad;
    auto r = store_->list_activities(page);
    if (!r.ok()) return page_error(r.error());
    return *r;
  }

  ApiResult<bool> delete_activity(const std::string& arn) {
    Status s = store_->delete_activity(arn);
    if (s.ok() || s.error().code == ErrorCode::NotFound) return true;
    return store_error(s.error());
  }

  // --- Nested executions --------------------------------------------------------------------

  void on_execution_end(const std::string& arn, ExecutionReply done) {
    std::uint64_t id = 0;
    {
      std::lock_guard lock(watchers_mu_);
      id = ++next_watcher_;
      end_watchers_[arn].emplace_back(id, std::move(done));
    }
    // Registered first, then read: an end committed in between is seen by one or the other,
    // and whoever takes the registration out of the list answers it.
    auto rec = describe_execution(arn);
    const auto* e = std::get_if<ExecutionRecord>(&rec);
    if (e != nullptr && e->status == "RUNNING") return;
    if (auto mine = take_watcher(arn, id)) (*mine)(std::move(rec));
  }

  void fire_due_timers() {
    const Micros t = now();
    std::vector<TimerRecord> due;
    {
      std::lock_guard lock(timers_mu_);
      while (!timers_.empty() && timers_.top().due <= t) {
        due.push_back(timers_.top());
        timers_.pop();
      }
    }
    for (TimerRecord& r : due) {
      Command c;
      c.kind = Command::Kind::Timer;
      c.arn = std::move(r.execution_arn);
      c.timer_id = std::move(r.timer_id);
      post(std::move(c));
    }
  }

  Stats stats() const {
    Stats out;
    {
      std::lock_guard lock(stats_mu_);
      out = stats_;
    }
    std::lock_guard lock(timers_mu_);
    out.timers_armed = static_cast<long long>(timers_.size());
    return out;
  }

  Store& store() { return *store_; }
  const EngineOptions& options() const { return options_; }

 private:
  // --- Commands to the stepper --------------------------------------------------------------

  struct Command {
    enum class Kind { Start, Task, Heartbeat, Started, Timer, Stop, Leases, Redrive } kind =
        Kind::Timer;
    asl::Json redrive_point;                         // Redrive
    asl::Json redrive_input;                         // Redrive
    std::vector<MapResultRecord> redrive_results;    // Redrive
    std::vector<PartitionLease> leases;              // Leases: what this node holds now
    ExecutionRecord record;                          // Start
    std::shared_ptr<const asl::Machine> machine;     // Start
    std::string role_arn;                            // Start: the revision's roleArn
    std::string arn;                                 // Timer, Stop
    std::string timer_id;                            // Timer
    std::string token;                               // Task, Heartbeat
    asl::Outcome outcome;                            // Task
    std::string error, cause;                        // Stop
    std::string worker_name;                         // Started
    bool remote = false;  // Started: another node handed the task out (a TaskMessage)
    ExecutionReply reply;  // Start, Stop, Redrive
    std::function<void(ApiResult<bool>)> task_done;                    // Task, Heartbeat
    int attempt = 0;                                                   // Start: retries

    static Command start(ExecutionRecord r, std::shared_ptr<const asl::Machine> m,
                         ExecutionReply p, std::string role_arn) {
      Command c;
      c.kind = Kind::Start;
      c.record = std::move(r);
      c.machine = std::move(m);
      c.role_arn = std::move(role_arn);
      c.reply = std::move(p);
      return c;
    }
  };

  // What to do once a batch is durable (or failed).
  struct Pending {
    CommitBatch batch;
    std::vector<TaskDispatch> dispatch;
    std::vector<std::string> cancelled;
    std::vector<TimerRecord> timers;
    std::vector<std::string> finished;  // executions that ended
    std::vector<std::function<void(const Status&)>> replies;
    std::vector<std::string> touched;   // executions written (reloaded if the commit fails)
    long long transitions = 0;
    std::size_t created = 0;
    std::vector<std::string> express_finished;
    std::vector<std::string> started_machines;  // for the observer
    std::vector<std::pair<std::string, std::string>> finished_machines;
    std::vector<std::pair<std::string, Micros>> task_latencies;
  };

  void post(Command c) {
    {
      std::lock_guard lock(mu_);
      inbox_.push_back(std::move(c));
    }
    cv_.notify_one();
  }

  void stepper_loop() {
    for (;;) {
      std::deque<Command> work;
      bool deferred_due = false;
      {
        std::unique_lock lock(mu_);
        auto ready = [&] { return !inbox_.empty() || !running_ || !reload_.empty(); };
        if (deferred_order_.empty()) {
          cv_.wait(lock, ready);
        } else {
          const auto due = deferred_order_.front().first + options_.defer_write;
          deferred_due = !cv_.wait_until(lock, due, ready);
        }
        if (!running_ && inbox_.empty()) {
          lock.unlock();
          // What waits to ride along with a later write is written now.
          if (!deferred_.empty()) step_batch(work, /*all_deferred=*/true);
          return;
        }
        std::vector<std::string> reload(reload_.begin(), reload_.end());
        reload_.clear();
        lock.unlock();
        for (const std::string& arn : reload) {
          drop_core(arn);
          (void)restore_execution(arn);
        }
        lock.lock();
        const std::size_t n = std::min<std::size_t>(inbox_.size(), options_.max_batch);
        for (std::size_t i = 0; i < n; ++i) {
          work.push_back(std::move(inbox_.front()));
          inbox_.pop_front();
        }
      }
      if (work.empty() && !deferred_due) continue;
      step_batch(work, /*all_deferred=*/false);
    }
  }

  // Steps `work` and hands the resulting writes to the committer as one batch, together with
  // the deferred writes that are due (every one when `all_deferred`).
  void step_batch(std::deque<Command>& work, bool all_deferred) {
    // Lease changes first: dropping the executions of a lost partition in the middle of the
    // batch would leave the batch pointing at cores that no longer exist.
    for (Command& c : work) {
      if (c.kind == Command::Kind::Leases) apply_leases(c.leases);
    }
    std::erase_if(work, [](const Command& c) { return c.kind == Command::Kind::Leases; });
    Pending p;
    std::vector<ExecutionCore*> touched;
    std::unordered_set<ExecutionCore*> seen;
    auto touch = [&](ExecutionCore* c) {
      if (seen.insert(c).second) touched.push_back(c);
    };
    for (Command& c : work) step(c, p, touch);
    touch_deferred(touch, all_deferred);
    if (work.empty() && touched.empty()) return;
    std::vector<std::string> evict;
    std::set<int> partitions;  // written by this batch: each must carry its fence
    for (ExecutionCore* core : touched) {
      StepOutput out = core->take_output();
      const std::string arn = core->record().arn;
      deferred_.erase(arn);
      p.touched.push_back(arn);
      if (core->record().type != "EXPRESS" || out.finished) {
        partitions.insert(core->record().partition);
      }
      for (TaskDispatch& d : out.dispatch) {
        token_owner_[d.token] = arn;
        p.dispatch.push_back(std::move(d));
      }
      for (std::string& t : out.timed_out_tasks) remember_timed_out(std::move(t));
      if (options_.observer != nullptr) {
        for (auto& l : out.task_latencies) p.task_latencies.push_back(std::move(l));
      }
      for (std::string& t : out.cancelled_tasks) {
        token_owner_.erase(t);
        p.cancelled.push_back(std::move(t));
      }
      for (TimerRecord& t : out.timers) p.timers.push_back(std::move(t));
      if (core->record().type != "EXPRESS") {
        p.batch.writes.push_back(std::move(out.write));
      } else if (out.finished) {
        // EXPRESS runs in memory (at least once: lost if the node dies) and only its end is
        // written, so that it can be described and listed afterwards.
        ExecutionWrite w;
        w.execution_arn = arn;
        w.create = core->record();
        w.create->last_event_id = 0;
        p.batch.writes.push_back(std::move(w));
        p.express_finished.push_back(arn);
      }
      if (!out.finished && evictable(*core)) {
        evict.push_back(arn);
      } else if (out.finished) {
        p.finished.push_back(arn);
        if (options_.observer != nullptr) {
          p.finished_machines.emplace_back(core->record().machine_arn, core->record().status);
        }
        drop_core(arn);
      }
    }
    // Fencing: the batch lands only while this node still holds the partitions it writes. A
    // partition this node does not hold gets a fence that cannot hold, so that no write ever
    // goes out unfenced (the batch is refused and its executions reloaded, or left to the
    // node that holds them).
    for (int partition : partitions) {
      auto f = fences_.find(partition);
      p.batch.fences.push_back(
          Fence{partition, options_.node_id, f != fences_.end() ? f->second : kNoEpoch});
    }
    // An execution that now only waits for a timer leaves memory; its timers stay armed and
    // it is rebuilt from the store when one fires (so waiting executions cost a timer entry).
    for (const std::string& arn : evict) {
      auto it = cores_.find(arn);
      if (it == cores_.end()) continue;
      evicted_partition_[arn] = it->second->record().partition;
      cores_.erase(it);
    }
    {
      std::lock_guard lock(stats_mu_);
      stats_.resident_executions = static_cast<long long>(cores_.size());
    }
    enqueue_commit(std::move(p));
  }

  template <typename Touch>
  void step(Command& c, Pending& p, Touch&& touch) {
    switch (c.kind) {
      case Command::Kind::Start: {
        auto it = cores_.find(c.record.arn);
        if (it != cores_.end()) {
          auto reply = c.reply;
          if (it->second->record().input == c.record.input) {
            ExecutionRecord rec = it->second->record();
            p.replies.push_back([reply, rec](const Status&) { reply(rec); });
          } else {
            p.replies.push_back([reply, arn = c.record.arn](const Status&) {
              reply(api_error("ExecutionAlreadyExists",
                                         "Execution Already Exists: '" + arn + "'"));
            });
          }
          return;
        }
        // The partition picked when the request came in may have been lost since.
        if (!fences_.count(c.record.partition)) {
          if (fences_.empty()) {
            auto reply = c.reply;
            p.replies.push_back([reply](const Status&) {
              reply(api_error("ServiceUnavailable",
                                         "this node holds no partition; retry the request"));
            });
            return;
          }
          auto pick = fences_.begin();
          std::advance(pick, static_cast<long>(stepper_pick_++ % fences_.size()));
          c.record.partition = pick->first;
        }
        const bool express = c.record.type == "EXPRESS";
        CoreOptions core_options = options_.core;
        core_options.role_arn = c.role_arn;
        if (express) {
          core_options.record_history = false;  // AWS: EXPRESS keeps no execution history
          std::lock_guard lock(express_mu_);
          express_running_.insert(c.record.arn);
        }
        auto core = ExecutionCore::start(c.machine, c.record, now(), [] { return random_hex(kTokenBytes); },
                                         random_.get(), core_options);
        p.transitions += core->states_entered();
        ExecutionCore* raw = core.get();
        ExecutionRecord rec = c.record;
        cores_[rec.arn] = std::move(core);
        ++p.created;
        if (options_.observer != nullptr) p.started_machines.push_back(rec.machine_arn);
        touch(raw);
        auto reply = c.reply;
        auto machine = c.machine;
        const int attempt = c.attempt;
        p.replies.push_back([this, reply, rec, machine, attempt,
                             role_arn = c.role_arn](const Status& s) {
          if (s.ok()) {
            reply(rec);
            return;
          }
          if (s.error().code == ErrorCode::Conflict) {
            auto existing = store_->get_execution(rec.arn);
            if (existing.ok()) {
              if (existing->status == "RUNNING" && existing->input == rec.input) {
                reply(*existing);
              } else {
                reply(api_error("ExecutionAlreadyExists",
                                           "Execution Already Exists: '" + rec.arn + "'"));
              }
              return;
            }
            // The batch was refused for another execution's sake (or a lost lease): start
            // again in a batch of its own.
            if (attempt < 20) {
              Command again = Command::start(rec, machine, reply, role_arn);
              again.attempt = attempt + 1;
              post(std::move(again));
              return;
            }
          }
          reply(store_error(s.error()));
        });
        return;
      }
      case Command::Kind::Started: {
        ExecutionCore* core = core_for_token(c.token);
        if (core != nullptr && core->task_started(c.token, c.worker_name, now())) {
          defer(core->record().arn);
          // A worker on another node took it: it is no longer to be handed out here.
          if (c.remote) p.cancelled.push_back(c.token);
        }
        return;
      }
      case Command::Kind::Task:
      case Command::Kind::Heartbeat: {
        ExecutionCore* core = core_for_token(c.token);
        bool ok = false;
        if (core == nullptr) {
          if (timed_out_set_.count(c.token)) {
            auto done = std::move(c.task_done);
            p.replies.push_back([done](const Status&) {
              done(api_error("TaskTimedOut", "Task Timed Out"));
            });
            return;
          }
          if (forward_to_owner(c)) return;
        }
        if (core != nullptr) {
          if (c.kind == Command::Kind::Task) {
            const long long before = core->states_entered();
            ok = core->deliver_task(c.token, std::move(c.outcome), now());
            p.transitions += core->states_entered() - before;
            if (ok) token_owner_.erase(c.token);
          } else {
            ok = core->heartbeat(c.token, now());
          }
          if (ok) touch(core);
        }
        auto done = std::move(c.task_done);
        if (!ok) {
          p.replies.push_back([done](const Status&) {
            done(api_error("TaskDoesNotExist", "Task Does Not Exist"));
          });
        } else {
          p.replies.push_back(answer_when_committed(std::move(done), true));
        }
        return;
      }
      case Command::Kind::Timer: {
        auto it = wake(c.arn);
        if (it == cores_.end()) return;
        ExecutionCore* core = it->second.get();
        const long long before = core->states_entered();
        if (core->deliver_timer(c.timer_id, now())) {
          p.transitions += core->states_entered() - before;
          touch(core);
        }
        return;
      }
      case Command::Kind::Leases:
        return;  // applied before the batch is stepped (stepper_loop)
      case Command::Kind::Redrive: {
        auto reply = c.reply;
        if (cores_.count(c.record.arn) || !fences_.count(c.record.partition)) {
          p.replies.push_back([reply, arn = c.record.arn](const Status&) {
            reply(api_error("ExecutionNotRedrivable",
                                       "Execution '" + arn + "' is running or is stepped by "
                                       "another node"));
          });
          return;
        }
        auto core = ExecutionCore::redrive(c.machine, c.record, c.redrive_point,
                                           c.redrive_results, std::move(c.redrive_input), now(),
                                           [] { return random_hex(kTokenBytes); }, random_.get(),
                                           options_.core);
        if (!core.ok()) {
          p.replies.push_back([reply, error = core.error()](const Status&) {
            reply(api_error("ExecutionNotRedrivable", error.message));
          });
          return;
        }
        ExecutionCore* raw = core->get();
        ExecutionRecord rec = raw->record();
        cores_[rec.arn] = std::move(*core);
        ++p.created;
        touch(raw);
        p.replies.push_back(answer_when_committed(std::move(reply), std::move(rec)));
        return;
      }
      case Command::Kind::Stop: {
        auto it = wake(c.arn);
        auto reply = c.reply;
        if (it == cores_.end()) {
          Store* store = store_.get();
          std::string arn = c.arn;
          p.replies.push_back([reply, store, arn](const Status&) {
            auto e = store->get_execution(arn);
            if (e.ok()) {
              reply(*e);
            } else {
              reply(api_error("ExecutionDoesNotExist",
                                         "Execution Does Not Exist: '" + arn + "'"));
            }
          });
          return;
        }
        ExecutionCore* core = it->second.get();
        core->stop(c.error, c.cause, now());
        touch(core);
        p.replies.push_back(answer_when_committed(std::move(reply), core->record()));
        return;
      }
    }
  }

  // A change that needs no commit of its own (ActivityStarted: a worker took a task) stays in
  // the execution's core until its next write, which usually comes a few milliseconds later
  // with the task's outcome, or until EngineOptions::defer_write passed. This spares a commit
  // per activity task. A node that dies in between loses only the record of the hand-out: the
  // task is then handed out again after the restart (delivery is at least once).
  void defer(const std::string& arn) {
    const auto t = std::chrono::steady_clock::now();
    if (deferred_.emplace(arn, t).second) deferred_order_.emplace_back(t, arn);
  }

  // Adds the deferred executions whose time is up (every one when `all`) to the batch.
  template <typename Touch>
  void touch_deferred(Touch&& touch, bool all) {
    const auto t = std::chrono::steady_clock::now();
    while (!deferred_order_.empty() &&
           (all || deferred_order_.front().first + options_.defer_write <= t)) {
      auto [since, arn] = std::move(deferred_order_.front());
      deferred_order_.pop_front();
      auto d = deferred_.find(arn);
      if (d == deferred_.end() || d->second != since) continue;  // written since
      deferred_.erase(d);
      auto c = cores_.find(arn);
      if (c != cores_.end()) touch(c->second.get());
    }
  }

  // The in-memory core of `arn`, rebuilt from the store when it was evicted.
  std::unordered_map<std::string, std::unique_ptr<ExecutionCore>>::iterator wake(
      const std::string& arn) {
    auto it = cores_.find(arn);
    if (it != cores_.end()) return it;
    auto ev = evicted_partition_.find(arn);
    if (ev == evicted_partition_.end() || !fences_.count(ev->second)) return cores_.end();
    evicted_partition_.erase(ev);
    if (!restore_execution(arn, /*arm_timers=*/false).ok()) return cores_.end();
    return cores_.find(arn);
  }

  bool evictable(const ExecutionCore& core) const {
    if (options_.evict_waiting_after <= 0 || core.record().type == "EXPRESS") return false;
    if (!core.pending_tasks().empty()) return false;
    std::vector<TimerRecord> timers = core.pending_timers();
    if (timers.empty()) return false;
    Micros earliest = timers.front().due;
    for (const TimerRecord& t : timers) earliest = std::min(earliest, t.due);
    return earliest - now() >= options_.evict_waiting_after;
  }

  // Tokens of tasks that timed out lately (SendTask* then answers TaskTimedOut, as AWS).
  void remember_timed_out(std::string token) {
    constexpr std::size_t kKeep = 100'000;
    if (!timed_out_set_.insert(token).second) return;
    timed_out_order_.push_back(std::move(token));
    if (timed_out_order_.size() > kKeep) {
      timed_out_set_.erase(timed_out_order_.front());
      timed_out_order_.pop_front();
    }
  }

  // A task whose execution this node does not step (another node holds its partition): leaves
  // the outcome or heartbeat for that node in the store. False when the task is not known at
  // all (the caller answers TaskDoesNotExist).
  bool forward_to_owner(Command& c) {
    auto task = store_->get_task(c.token);
    if (!task.ok() || fences_.count(task->partition)) return false;
    TaskMessage m;
    m.token = c.token;
    m.created = now();
    if (c.kind == Command::Kind::Heartbeat) {
      m.kind = "heartbeat";
    } else if (const asl::Json* out = std::get_if<asl::Json>(&c.outcome)) {
      m.kind = "success";
      m.body = asl::dump_compact(*out);
    } else {
      const asl::StatesError& e = std::get<asl::StatesError>(c.outcome);
      m.kind = "failure";
      m.body = asl::dump_compact(asl::Json{{"error", e.error}, {"cause", e.cause}});
    }
    Status s = store_->post_task_message(m);
    auto done = std::move(c.task_done);
    if (s.ok()) {
      done(true);
    } else if (s.error().code == ErrorCode::NotFound ||
               s.error().code == ErrorCode::AlreadyExists) {
      done(api_error("TaskDoesNotExist", "Task Does Not Exist"));
    } else {
      done(store_error(s.error()));
    }
    return true;
  }

  ExecutionCore* core_for_token(const std::string& token) {
    auto it = token_owner_.find(token);
    std::string arn;
    if (it != token_owner_.end()) {
      arn = it->second;
    } else {
      auto task = store_->get_task(token);
      if (!task.ok()) return nullptr;
      arn = task->execution_arn;
    }
    auto c = cores_.find(arn);
    return c == cores_.end() ? nullptr : c->second.get();
  }

  // --- Committer ----------------------------------------------------------------------------

  void enqueue_commit(Pending p) {
    std::unique_lock lock(commit_mu_);
    // Back-pressure: a few batches wait for the disk, then the stepper waits.
    commit_cv_.wait(lock, [&] { return commits_.size() < kCommitQueue || committer_stop_; });
    commits_.push_back(std::move(p));
    commit_cv_.notify_all();
  }

  // Appends batch `from` to `into`: its writes come after `into`'s (a later step of an execution
  // continues the earlier one in the same transaction), its effects and replies too.
  static void merge(Pending& into, Pending&& from) {
    auto append = [](auto& to, auto&& items) {
      to.insert(to.end(), std::make_move_iterator(items.begin()),
                std::make_move_iterator(items.end()));
    };
    append(into.batch.writes, from.batch.writes);
    for (Fence& f : from.batch.fences) {
      const bool known = std::any_of(into.batch.fences.begin(), into.batch.fences.end(),
                                     [&](const Fence& g) {
                                       return g.partition == f.partition && g.node == f.node &&
                                              g.epoch == f.epoch;
                                     });
      if (!known) into.batch.fences.push_back(std::move(f));
    }
    append(into.dispatch, from.dispatch);
    append(into.cancelled, from.cancelled);
    append(into.timers, from.timers);
    append(into.finished, from.finished);
    append(into.replies, from.replies);
    append(into.touched, from.touched);
    into.transitions += from.transitions;
    into.created += from.created;
    append(into.express_finished, from.express_finished);
    append(into.started_machines, from.started_machines);
    append(into.finished_machines, from.finished_machines);
    append(into.task_latencies, from.task_latencies);
  }

  void committer_loop() {
    for (;;) {
      Pending p;
      {
        std::unique_lock lock(commit_mu_);
        commit_cv_.wait(lock, [&] { return !commits_.empty() || committer_stop_; });
        if (commits_.empty()) return;
        // Group commit across batches: everything that waited while the last commit ran goes
        // out in one transaction (one disk flush), so commits grow with the load instead of
        // queueing up.
        p = std::move(commits_.front());
        commits_.pop_front();
        while (!commits_.empty()) {
          merge(p, std::move(commits_.front()));
          commits_.pop_front();
        }
        commit_cv_.notify_all();
      }
      Status s;
      Micros commit_micros = 0;
      if (!p.batch.writes.empty()) {
        CommitConflict conflict;
        const auto began = std::chrono::steady_clock::now();
        s = store_->commit(p.batch, &conflict);
        commit_micros = std::chrono::duration_cast<std::chrono::microseconds>(
                            std::chrono::steady_clock::now() - began)
                            .count();
        // A lease lost to another node: renew now, so this node stops writing for those
        // partitions at once instead of at its next renewal.
        if (!s.ok() && !conflict.lost_partitions.empty()) lease_cv_.notify_all();
      }
      if (s.ok() && options_.observer != nullptr && !p.batch.writes.empty()) {
        CommitInfo info;
        info.writes = p.batch.writes.size();
        info.transitions = p.transitions;
        info.commit_micros = commit_micros;
        info.started = std::move(p.started_machines);
        info.finished = std::move(p.finished_machines);
        info.task_latencies = std::move(p.task_latencies);
        options_.observer->on_commit(info);
      }
      after_commit(p, s);
    }
  }

  void after_commit(Pending& p, const Status& s) {
    if (s.ok()) {
      {
        std::lock_guard lock(stats_mu_);
        if (!p.batch.writes.empty()) ++stats_.commits;  // a batch of replies only wrote nothing
        stats_.steps += static_cast<long long>(p.batch.writes.size());
        stats_.transitions += p.transitions;
      }
      for (TimerRecord& t : p.timers) arm(std::move(t));
      {
        std::lock_guard lock(stats_mu_);
        stats_.open_executions += static_cast<long long>(p.created) -
                                  static_cast<long long>(p.finished.size());
      }
      TaskTransport* t = nullptr;
      {
        std::lock_guard lock(transport_mu_);
        t = transport_;
        if (t == nullptr) {
          for (TaskDispatch& d : p.dispatch) undelivered_.push_back(std::move(d));
        }
      }
      if (t != nullptr) {
        for (const std::string& token : p.cancelled) t->cancel(token);
        for (const TaskDispatch& d : p.dispatch) t->dispatch(d);
      }
    } else {
      // The cores of these executions are ahead of the store: rebuild them from it.
      {
        std::lock_guard lock(mu_);
        for (const std::string& arn : p.touched) reload_.insert(arn);
      }
      cv_.notify_one();
    }
    if (!p.express_finished.empty()) {
      std::lock_guard lock(express_mu_);
      for (const std::string& arn : p.express_finished) express_running_.erase(arn);
    }
    for (auto& reply : p.replies) reply(s);
    if (s.ok() && !p.finished.empty()) notify_watchers(p.finished);
    if (s.ok() && !p.finished.empty()) {
      std::lock_guard lock(waiters_mu_);
      for (const std::string& arn : p.finished) {
        auto it = waiters_.find(arn);
        if (it == waiters_.end()) continue;
        for (auto& w : it->second) w->set_value();
        waiters_.erase(it);
      }
    }
  }

  // --- Timers -------------------------------------------------------------------------------

  struct TimerLater {
    bool operator()(const TimerRecord& a, const TimerRecord& b) const { return a.due > b.due; }
  };

  void arm(TimerRecord t) {
    {
      std::lock_guard lock(timers_mu_);
      timers_.push(std::move(t));
    }
    timers_cv_.notify_one();
  }

  void timer_loop() {
    std::unique_lock lock(timers_mu_);
    while (true) {
      {
        std::lock_guard l(mu_);
        if (!running_) return;
      }
      if (timers_.empty()) {
        timers_cv_.wait_for(lock, std::chrono::milliseconds(200));
        continue;
      }
      const Micros wait_us = timers_.top().due - now();
      if (wait_us > 0) {
        timers_cv_.wait_for(lock, std::chrono::microseconds(std::min<Micros>(wait_us, 200'000)));
        continue;
      }
      lock.unlock();
      fire_due_timers();
      lock.lock();
    }
  }

  // --- Partition leases ---------------------------------------------------------------------

  // How many partitions this node should hold: an even share of the live nodes (those holding
  // an unexpired lease, and this one), capped by max_partitions while no partition is orphaned
  // (released, or its lease expired: a node went away) — orphans are always taken over.
  int share() {
    const Micros t = now();
    std::set<std::string> live{options_.node_id};
    bool orphans = false;
    auto all = store_->list_partitions();
    if (all.ok()) {
      for (const PartitionLease& l : *all) {
        if (!l.node.empty() && l.expires > t) {
          live.insert(l.node);
        } else {
          orphans = true;
        }
      }
    }
    const int n = static_cast<int>(live.size());
    const int even = (options_.partitions + n - 1) / n;
    if (options_.max_partitions > 0 && !orphans) return std::min(even, options_.max_partitions);
    return even;
  }

  Result<std::vector<PartitionLease>> take_leases() {
    return store_->acquire_partitions(options_.node_id, options_.partitions, share(), now(),
                                      options_.lease_ttl);
  }

  void lease_loop() {
    const auto period = std::chrono::microseconds(std::max<Micros>(options_.lease_ttl / 3, 1000));
    std::unique_lock lock(lease_mu_);
    for (;;) {
      lease_cv_.wait_for(lock, period);
      if (lease_stop_) return;
      auto leases = take_leases();
      if (!leases.ok()) continue;  // the store is away: fences stop stale writes meanwhile
      Command c;
      c.kind = Command::Kind::Leases;
      c.leases = std::move(*leases);
      post(std::move(c));
    }
  }

  // Several nodes: outcomes, heartbeats and hand-outs of this node's tasks that reached another
  // node wait in the store (Store::post_task_message); they are applied here like local ones and
  // deleted once their effect is durable (applied twice after a crash: the token refuses).
  void messages_loop() {
    std::unique_lock lock(lease_mu_);
    while (!lease_stop_) {
      lease_cv_.wait_for(lock, std::chrono::microseconds(options_.task_messages_interval));
      if (lease_stop_) return;
      lock.unlock();
      apply_task_messages();
      lock.lock();
    }
  }

  void apply_task_messages() {
    std::vector<int> held;
    {
      std::lock_guard lock(partitions_mu_);
      held = held_partitions_;
    }
    if (held.empty()) return;
    auto messages = store_->task_messages(held, 256);
    if (!messages.ok() || messages->empty()) return;
    std::vector<std::int64_t> done_now;
    for (TaskMessage& m : *messages) {
      {
        std::lock_guard lock(messages_mu_);
        if (!messages_in_flight_.insert(m.id).second) continue;
      }
      Command c;
      c.token = m.token;
      if (m.kind == "started") {
        c.kind = Command::Kind::Started;
        c.worker_name = m.body;
        c.remote = true;
        post(std::move(c));
        done_now.push_back(m.id);
        continue;
      }
      if (m.kind == "heartbeat") {
        c.kind = Command::Kind::Heartbeat;
      } else {
        c.kind = Command::Kind::Task;
        asl::Json body = asl::Json::parse(m.body, nullptr, /*allow_exceptions=*/false);
        if (m.kind == "success") {
          c.outcome = body.is_discarded() ? asl::Json(m.body) : std::move(body);
        } else {
          c.outcome = asl::StatesError{body.is_object() ? body.value("error", "") : "",
                                       body.is_object() ? body.value("cause", "") : m.body};
        }
      }
      const std::int64_t id = m.id;
      c.task_done = [this, id](ApiResult<bool> r) {
        const auto* e = std::get_if<ApiError>(&r);
        // A store failure leaves the message for the next round; any other answer consumed it.
        if (e == nullptr || (e->type != "ServiceUnavailable" && e->type != "InternalError")) {
          (void)store_->delete_task_messages({id});
        }
        std::lock_guard lock(messages_mu_);
        messages_in_flight_.erase(id);
      };
      post(std::move(c));
    }
    if (!done_now.empty()) {
      (void)store_->delete_task_messages(done_now);
      std::lock_guard lock(messages_mu_);
      for (std::int64_t id : done_now) messages_in_flight_.erase(id);
    }
  }

  // Stepper thread: adopts partitions newly held (restoring their executions) and drops the
  // executions of partitions lost.
  void apply_leases(const std::vector<PartitionLease>& leases) {
    std::map<int, std::int64_t> now_held;
    for (const PartitionLease& l : leases) now_held[l.partition] = l.epoch;
    std::vector<int> gained;
    for (const auto& [p, epoch] : now_held) {
      auto it = fences_.find(p);
      if (it == fences_.end() || it->second != epoch) gained.push_back(p);
    }
    std::set<int> lost;
    for (const auto& [p, epoch] : fences_) {
      if (!now_held.count(p)) lost.insert(p);
    }
    fences_ = std::move(now_held);
    {
      std::lock_guard lock(partitions_mu_);
      held_partitions_.clear();
      for (const auto& [p, epoch] : fences_) held_partitions_.push_back(p);
    }
    if (!lost.empty()) {
      std::vector<std::string> drop;
      for (const auto& [arn, core] : cores_) {
        if (lost.count(core->record().partition)) drop.push_back(arn);
      }
      for (const std::string& arn : drop) drop_core(arn);
      std::erase_if(evicted_partition_, [&](const auto& kv) { return lost.count(kv.second) > 0; });
    }
    if (!gained.empty()) {
      auto open = store_->open_executions(gained);
      if (open.ok()) {
        for (const std::string& arn : *open) {
          drop_core(arn);
          (void)restore_execution(arn);
        }
      }
    }
    std::lock_guard lock(stats_mu_);
    stats_.partitions_held = static_cast<int>(fences_.size());
    stats_.open_executions = static_cast<long long>(cores_.size());
  }

  std::optional<int> pick_partition() {
    std::lock_guard lock(partitions_mu_);
    if (held_partitions_.empty()) return std::nullopt;
    return held_partitions_[next_partition_++ % held_partitions_.size()];
  }

  // --- Recovery -----------------------------------------------------------------------------

  // Builds the execution's core from the store. `arm_timers` is false for an execution that was
  // evicted from memory: its timers never left the timer heap.
  Status restore_execution(const std::string& arn, bool arm_timers = true) {
    auto rec = store_->get_execution(arn);
    if (!rec.ok()) return rec.error();
    if (rec->status != "RUNNING") return Status();
    // Only the node holding the partition steps the execution; another node's copy would only
    // run its tasks and timers a second time.
    if (!fences_.count(rec->partition)) return Status();
    auto machine = cached_machine(rec->machine_arn, rec->revision_id);
    if (!machine) {
      auto rev = store_->get_revision(rec->machine_arn, rec->revision_id);
      if (!rev.ok()) return rev.error();
      machine = compiled(rec->machine_arn, rec->revision_id, rev->definition);
    }
    if (!machine) {
      return Error{ErrorCode::Internal, "the definition of " + rec->machine_arn + " revision " +
                                            rec->revision_id + " no longer loads"};
    }
    auto frames = store_->load_frames(arn);
    if (!frames.ok()) return frames.error();
    auto results = store_->load_map_results(arn);
    if (!results.ok()) return results.error();
    auto core = ExecutionCore::restore(machine, *rec, *frames, *results,
                                       [] { return random_hex(kTokenBytes); }, random_.get(),
                                       options_.core);
    if (!core.ok()) return core.error();
    if (arm_timers) {
      for (TimerRecord& t : (*core)->pending_timers()) arm(std::move(t));
    }
    std::vector<TaskDispatch> tasks = (*core)->pending_tasks();
    for (const TaskDispatch& d : tasks) token_owner_[d.token] = arn;
    cores_[arn] = std::move(*core);
    TaskTransport* t = nullptr;
    {
      std::lock_guard lock(transport_mu_);
      t = transport_;
      if (t == nullptr) undelivered_.insert(undelivered_.end(), tasks.begin(), tasks.end());
    }
    if (t != nullptr) {
      for (const TaskDispatch& d : tasks) t->dispatch(d);
    }
    return Status();
  }

  // --- Helpers ------------------------------------------------------------------------------

  // Takes registration `id` of `arn` out of the list; nullopt when the committer took it first
  // (it then answers).
  std::optional<ExecutionReply> take_watcher(const std::string& arn, std::uint64_t id) {
    std::lock_guard lock(watchers_mu_);
    auto it = end_watchers_.find(arn);
    if (it == end_watchers_.end()) return std::nullopt;
    auto& list = it->second;
    for (auto w = list.begin(); w != list.end(); ++w) {
      if (w->first != id) continue;
      ExecutionReply done = std::move(w->second);
      list.erase(w);
      if (list.empty()) end_watchers_.erase(it);
      return done;
    }
    return std::nullopt;
  }

  void notify_watchers(const std::vector<std::string>& finished) {
    std::vector<std::pair<std::string, std::vector<std::pair<std::uint64_t, ExecutionReply>>>>
        due;
    {
      std::lock_guard lock(watchers_mu_);
      if (end_watchers_.empty()) return;
      for (const std::string& arn : finished) {
        auto it = end_watchers_.find(arn);
        if (it == end_watchers_.end()) continue;
        due.emplace_back(arn, std::move(it->second));
        end_watchers_.erase(it);
      }
    }
    for (auto& [arn, list] : due) {
      auto rec = describe_execution(arn);
      for (auto& w : list) w.second(rec);
    }
  }

  // Forgets the in-memory core of `arn` and the task tokens that led to it.
  void drop_core(const std::string& arn) {
    auto it = cores_.find(arn);
    if (it == cores_.end()) return;
    for (const TaskDispatch& d : it->second->pending_tasks()) token_owner_.erase(d.token);
    cores_.erase(it);
  }

  Micros now() const { return options_.clock(); }

  std::string machine_arn(const std::string& name) const {
    return "arn:aws:states:" + options_.region + ":" + options_.account + ":stateMachine:" + name;
  }
  std::string execution_arn(const std::string& machine, const std::string& name) const {
    return "arn:aws:states:" + options_.region + ":" + options_.account + ":execution:" +
           machine + ":" + name;
  }

  std::optional<ApiError> check_definition(const std::string& text) {
    asl::LoadResult r = asl::load_definition(std::string_view(text), options_.load);
    if (r.ok()) return std::nullopt;
    ApiError e{"InvalidDefinition", "Invalid State Machine Definition: ", {}};
    bool first = true;
    for (const asl::Diagnostic& d : r.diagnostics) {
      if (d.severity != asl::Severity::Error) continue;
      if (!first) e.message += "; ";
      e.message += asl::to_string(d);
      first = false;
    }
    e.diagnostics = r.diagnostics;
    return e;
  }

  std::shared_ptr<const asl::Machine> cached_machine(const std::string& arn,
                                                    const std::string& rev) {
    std::lock_guard lock(machines_mu_);
    auto it = machines_.find(arn + "#" + rev);
    return it == machines_.end() ? nullptr : it->second;
  }

  std::shared_ptr<const asl::Machine> compiled(const std::string& arn, const std::string& rev,
                                               const std::string& definition) {
    const std::string key = arn + "#" + rev;
    std::lock_guard lock(machines_mu_);
    auto it = machines_.find(key);
    if (it != machines_.end()) return it->second;
    // What was accepted once runs: a route removed since then fails its tasks, not the load.
    asl::LoadOptions load = options_.load;
    load.strict = false;
    asl::LoadResult r = asl::load_definition(std::string_view(definition), load);
    if (!r.ok()) return nullptr;
    machines_[key] = r.machine;
    return r.machine;
  }

  ApiResult<ExecutionRecord> same_or_exists(const ExecutionRecord& existing,
                                            const std::string& input) {
    if (existing.status == "RUNNING" && existing.input == input) return existing;
    return api_error("ExecutionAlreadyExists",
                     "Execution Already Exists: '" + existing.arn + "'");
  }

  static ApiError machine_lookup_error(const std::string& arn, const Error& e) {
    if (e.code == ErrorCode::NotFound) {
      return api_error("StateMachineDoesNotExist", "State Machine Does Not Exist: '" + arn + "'");
    }
    return store_error(e);
  }
  static ApiError execution_lookup_error(const std::string& arn, const Error& e) {
    if (e.code == ErrorCode::NotFound) {
      return api_error("ExecutionDoesNotExist", "Execution Does Not Exist: '" + arn + "'");
    }
    return store_error(e);
  }
  // The page size is checked here, so that a page request the store refuses can only have a
  // bad next token.
  static std::optional<ApiError> bad_page(const PageRequest& page) {
    if (page.max_results >= 1 && page.max_results <= 1000) return std::nullopt;
    return api_error("ValidationException", "maxResults must be between 1 and 1000, got " +
                                                std::to_string(page.max_results));
  }
  static ApiError page_error(const Error& e) {
    if (e.code == ErrorCode::InvalidArgument) return api_error("InvalidToken", e.message);
    return store_error(e);
  }

  std::unique_ptr<Store> store_;
  EngineOptions options_;
  std::unique_ptr<asl::SplitMixRandom> random_;  // stepper thread only

  std::mutex machines_mu_;
  std::unordered_map<std::string, std::shared_ptr<const asl::Machine>> machines_;

  // Stepper state (stepper thread only, and start() before the threads run).
  std::unordered_map<std::string, std::unique_ptr<ExecutionCore>> cores_;
  std::unordered_map<std::string, std::string> token_owner_;
  std::map<int, std::int64_t> fences_;
  std::unordered_map<std::string, int> evicted_partition_;   // waiting on a timer, not in memory
  // Executions with a change waiting to ride along with their next write (defer()), and since
  // when, oldest first (an entry whose time differs from deferred_'s is stale).
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> deferred_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::string>> deferred_order_;

  std::mutex partitions_mu_;
  std::vector<int> held_partitions_;
  std::size_t next_partition_ = 0;
  std::size_t stepper_pick_ = 0;  // stepper thread only
  std::mutex lease_mu_;
  std::condition_variable lease_cv_;
  bool lease_stop_ = false;  // under lease_mu_
  std::thread lease_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Command> inbox_;
  std::set<std::string> reload_;
  bool running_ = false;
  std::thread stepper_;

  std::mutex commit_mu_;
  std::condition_variable commit_cv_;
  static constexpr std::size_t kCommitQueue = 4;  // batches waiting for the committer, at most
  std::deque<Pending> commits_;
  bool committer_stop_ = false;
  std::thread committer_;

  mutable std::mutex timers_mu_;
  std::condition_variable timers_cv_;
  std::priority_queue<TimerRecord, std::vector<TimerRecord>, TimerLater> timers_;
  std::thread timer_thread_;

  std::mutex transport_mu_;
  TaskTransport* transport_ = nullptr;
  std::vector<TaskDispatch> undelivered_;

  std::mutex express_mu_;
  std::unordered_set<std::string> express_running_;  // EXPRESS executions not ended yet

  std::unordered_set<std::string> timed_out_set_;  // stepper thread only
  std::deque<std::string> timed_out_order_;
  std::thread messages_thread_;
  std::mutex messages_mu_;
  std::unordered_set<std::int64_t> messages_in_flight_;
  std::mutex watchers_mu_;
  std::unordered_map<std::string, std::vector<std::pair<std::uint64_t, ExecutionReply>>>
      end_watchers_;
  std::uint64_t next_watcher_ = 0;

  std::mutex waiters_mu_;
  std::unordered_map<std::string, std::vector<std::shared_ptr<std::promise<void>>>> waiters_;

  mutable std::mutex stats_mu_;
  Stats stats_;
};

Engine::Engine(std::unique_ptr<Store> store, EngineOptions options)
    : impl_(std::make_unique<Impl>(std::move(store), std::move(options))) {}
Engine::~Engine() = default;

Status Engine::start() { return impl_->start(); }
void Engine::shutdown() { impl_->shutdown(); }
void Engine::set_task_transport(TaskTransport* transport) {
  impl_->set_task_transport(transport);
}
ApiResult<StateMachineRecord> Engine::create_state_machine(const CreateMachineRequest& r) {
  return impl_->create_state_machine(r);
}
ApiResult<StateMachineRecord> Engine::update_state_machine(
    const std::string& arn, const std::optional<std::string>& definition,
    const std::optional<std::string>& role_arn) {
  return impl_->update_state_machine(arn, definition, role_arn);
}
ApiResult<StateMachineRecord> Engine::describe_state_machine(const std::string& arn) {
  return impl_->describe_state_machine(arn);
}
ApiResult<Page<StateMachineRecord>> Engine::list_state_machines(const PageRequest& page) {
  return impl_->list_state_machines(page);
}
ApiResult<bool> Engine::delete_state_machine(const std::string& arn) {
  return impl_->delete_state_machine(arn);
}
ApiResult<ExecutionRecord> Engine::start_execution(const StartRequest& r) {
  return Impl::wait_reply([&](ExecutionReply done) { impl_->start_execution(r, std::move(done)); });
}
void Engine::start_execution_async(const StartRequest& r, ExecutionReply done) {
  impl_->start_execution(r, std::move(done));
}
ApiResult<ExecutionRecord> Engine::start_sync_execution(const StartRequest& r,
                                                        std::chrono::milliseconds timeout) {
  return impl_->start_sync_execution(r, timeout);
}
ApiResult<ExecutionRecord> Engine::describe_execution(const std::string& arn) {
  return impl_->describe_execution(arn);
}
ApiResult<Page<ExecutionRecord>> Engine::list_executions(const ExecutionFilter& f,
                                                         const PageRequest& page) {
  return impl_->list_executions(f, page);
}
ApiResult<Page<HistoryEvent>> Engine::get_history(const std::string& arn,
                                                  const PageRequest& page, bool reverse) {
  return impl_->get_history(arn, page, reverse);
}
ApiResult<ExecutionRecord> Engine::stop_execution(const std::string& arn,
                                                  const std::string& error,
                                                  const std::string& cause) {
  return Impl::wait_reply(
      [&](ExecutionReply done) { impl_->stop_execution(arn, error, cause, std::move(done)); });
}
void Engine::stop_execution_async(const std::string& arn, const std::string& error,
                                  const std::string& cause, ExecutionReply done) {
  impl_->stop_execution(arn, error, cause, std::move(done));
}
ApiResult<ExecutionRecord> Engine::redrive_execution(const std::string& arn) {
  return Impl::wait_reply([&](ExecutionReply done) { impl_->redrive_execution(arn, std::move(done)); });
}
void Engine::redrive_execution_async(const std::string& arn, ExecutionReply done) {
  impl_->redrive_execution(arn, std::move(done));
}
ApiResult<ExecutionRecord> Engine::wait_for(const std::string& arn,
                                            std::chrono::milliseconds timeout) {
  return impl_->wait_for(arn, timeout);
}
ApiResult<bool> Engine::complete_task(const std::string& token, asl::Outcome outcome) {
  return impl_->complete_task(token, std::move(outcome));
}
void Engine::complete_task_async(const std::string& token, asl::Outcome outcome,
                                 std::function<void(ApiResult<bool>)> done) {
  impl_->complete_task_async(token, std::move(outcome), std::move(done));
}
ApiResult<bool> Engine::heartbeat_task(const std::string& token) {
  return impl_->heartbeat_task(token);
}
void Engine::heartbeat_task_async(const std::string& token,
                                  std::function<void(ApiResult<bool>)> done) {
  impl_->heartbeat_task_async(token, std::move(done));
}
void Engine::task_started(const std::string& token, const std::string& worker_name) {
  impl_->task_started(token, worker_name);
}
void Engine::on_execution_end(const std::string& arn, ExecutionReply done) {
  impl_->on_execution_end(arn, std::move(done));
}
ApiResult<ActivityRecord> Engine::create_activity(const std::string& name,
                                                  const std::string& tags_json) {
  return impl_->create_activity(name, tags_json);
}
ApiResult<ActivityRecord> Engine::describe_activity(const std::string& arn) {
  return impl_->describe_activity(arn);
}
ApiResult<Page<ActivityRecord>> Engine::list_activities(const PageRequest& page) {
  return impl_->list_activities(page);
}
ApiResult<bool> Engine::delete_activity(const std::string& arn) {
  return impl_->delete_activity(arn);
}
void Engine::fire_due_timers() { impl_->fire_due_timers(); }
Engine::Stats Engine::stats() const { return impl_->stats(); }
const EngineOptions& Engine::options() const { return impl_->options(); }
Store& Engine::store() { return impl_->store(); }

}  // namespace stepd::engine
