#include "engine/core/execution_core.hpp"

#include "asl/choice/timestamp.hpp"
#include "engine/task_resource.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <unordered_map>

namespace stepd::engine {

using asl::Effect;
using asl::Machine;
using asl::Outcome;
using asl::State;
using asl::StatesError;
using asl::StateType;

namespace {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

asl::TimePoint to_time(Micros us) { return asl::TimePoint(std::chrono::microseconds(us)); }
Micros seconds_to_micros(double s) { return static_cast<Micros>(std::llround(s * 1e6)); }

constexpr char kExecutionTimeoutTimer[] = "execution-timeout";
// A running Map's frame keeps beside it, written once when the Map starts, what does not change
// while it runs: {"items", "input" (the state's raw input), "child_input" (ItemSelector's "$")}.
// The frame itself, rewritten as iterations finish, stays small however large these are.
constexpr char kItemsSuffix[] = "#items";
// Where a failed execution can be redriven from: the root frame's state and variables, kept
// (as a record beside the frames) when the execution ends FAILED, TIMED_OUT or ABORTED.
constexpr char kRedrivePoint[] = "#redrive";
// Beside it, when the root failed in a Parallel or Map state: the output of every branch or
// iteration that succeeded (index = child index). A redrive runs only the others (AWS).
constexpr char kRedriveResults[] = "#redrive-results";
// Saga extension (docs/saga.md), kept in map-result rows so each entry is written once:
//  "<frame>#saga", index n: entry n of the frame's saga log;
//  "<frame>#branches", index i: the saga log of child i of the frame's Parallel or Map state;
//  "#compensation", index n: step n of the compensation plan, once compensating has started.
constexpr char kSagaSuffix[] = "#saga";
constexpr char kBranchesSuffix[] = "#branches";
constexpr char kCompensationRows[] = "#compensation";

bool strip_suffix(const std::string& id, std::string_view suffix, std::string* base) {
  if (!id.ends_with(suffix)) return false;
  *base = id.substr(0, id.size() - suffix.size());
  return true;
}

// How a waiting frame waits.
enum class Waiting { None, Task, Timer, Retry, Children };

std::string_view waiting_name(Waiting w) {
  switch (w) {
    case Waiting::None: return "none";
    case Waiting::Task: return "task";
    case Waiting::Timer: return "timer";
    case Waiting::Retry: return "retry";
    case Waiting::Children: return "children";
  }
  return "none";
}

Waiting waiting_from(std::string_view s) {
  if (s == "task") return Waiting::Task;
  if (s == "timer") return Waiting::Timer;
  if (s == "retry") return Waiting::Retry;
  if (s == "children") return Waiting::Children;
  return Waiting::None;
}

// The children a Parallel or Map state runs, and what they produced so far.
struct ChildGroup {
  bool is_map = false;
  long long total = 0;
  long long next = 0;    // next child to start
  long long active = 0;  // started, not finished
  long long succeeded = 0;
  long long failed = 0;
  long long limit = 0;   // children at once
  std::optional<long long> tolerated_count;
  std::optional<double> tolerated_percentage;
  std::optional<StatesError> error;  // the error that fails the group
  std::vector<Json> results;          // by child index; null until done
  std::vector<bool> done;              // by child index: succeeded (its result is in results)
  Json items;                          // Map: the items (stored once, in "<frame>#items")
  Json child_input;                    // Parallel: every branch's input; Map: ItemSelector's "$"
  Json item_context;                   // Map: "$$" for ItemSelector, built once (not stored)
};

// The children of a root Parallel or Map group that succeeded, by index, kept for a redrive.
struct RedrivePrior {
  std::string state;
  long long seq = 0;    // which run of the group
  long long total = 0;  // its number of children
  std::vector<std::pair<long long, Json>> outputs;
};

// Saga extension: the compensations running after the execution failed (or timed out).
struct CompensationPhase {
  bool active = false;
  std::string status;      // how the execution ends afterwards: FAILED or TIMED_OUT
  std::string event_type;  // ExecutionFailed or ExecutionTimedOut
  StatesError error;       // the original error, which the execution ends with
  std::vector<Json> plan;  // {"state", "branch"?, "input", "output"}, in the order they run
  std::size_t cursor = 0;  // the compensation running now (or next)
  long long succeeded = 0;
  long long failed = 0;
  Json outcomes = Json::array();  // the execution row's compensation column
};

}  // namespace

// One running scope: the root machine, a Parallel branch or a Map iteration.
struct Frame {
  Frame(std::string frame_id, Frame* parent_frame, const Machine* machine, long long idx)
      : id(std::move(frame_id)),
        parent(parent_frame),
        scope(machine),
        index(idx),
        vars(parent_frame ? &parent_frame->vars : nullptr) {}

  std::string id;
  Frame* parent;
  const Machine* scope;
  long long index;
  asl::VariableScope vars;

  const State* state = nullptr;
  Waiting waiting = Waiting::None;
  Json input;        // raw input of the current state while it waits
  Json then_output;  // Wait: the output handed on when the timer fires
  std::vector<int> retry_attempts;
  int retry_count = 0;
  long long entered_event_id = 0;
  Micros entered_time = 0;
  long long last_event_id = 0;
  std::string token;        // Task
  std::string timer_id;     // Wait / Retry / task time-out
  Micros timer_due = 0;
  std::string heartbeat_timer_id;
  Micros heartbeat_due = 0;
  double heartbeat_seconds = 0;
  TaskDispatch task;        // Task: what was dispatched (re-offered after restore)
  ChildGroup group;
  // Which Parallel/Map run of this frame the current group is, and (for a child) which run of
  // its parent it belongs to: a child that finished for an earlier run is not counted in a later.
  long long group_seq = 0;
  long long parent_group_seq = 0;
  bool items_stored = false;
  // Saga log: {"state", "input", "output"} per Task with Compensate that succeeded in this scope,
  // and {"state", "branches": [{"index", "log"}]} per Parallel or Map state whose children
  // logged something, in order of completion.
  std::vector<Json> saga;
  std::map<long long, Json> branch_logs;  // logs of the current group's ended children
  bool compensating = false;              // root only: the compensation phase runs
};

class ExecutionCore::Impl {
 public:
  Impl(std::shared_ptr<const Machine> machine, ExecutionRecord record, TokenFactory tokens,
       asl::RandomSource* random, const CoreOptions& options)
      : machine_(std::move(machine)),
        record_(std::move(record)),
        tokens_(std::move(tokens)),
        random_(random),
        options_(options) {
    index_scopes(*machine_);
    info_.id = record_.arn;
    info_.name = record_.name;
    info_.state_machine_id = record_.machine_arn;
    info_.state_machine_name = machine_name(record_.machine_arn);
    info_.start_time = to_time(record_.start);
    info_.redrive_count = record_.redrive_count;
    info_.input = Json::parse(record_.input);
    info_.role_arn = options_.role_arn;
    write_.execution_arn = record_.arn;
    write_.expected_version = record_.version;
  }

  // --- Entry points -------------------------------------------------------------------------

  void start(Micros now) {
    now_ = now;
    write_.create = record_;
    write_.expected_version = 0;
    Frame& root = add_frame("", nullptr, machine_.get(), 0);
    event(root, "ExecutionStarted", [&](Json& d) {
      d["input"] = record_.input;
      d["inputDetails"] = {{"truncated", false}};
      d["roleArn"] = info_.role_arn;
      d["stateMachineArn"] = record_.machine_arn;
    });
    if (machine_->timeout_seconds) {
      arm_timer(kExecutionTimeoutTimer,
                now + seconds_to_micros(static_cast<double>(*machine_->timeout_seconds)));
      exec_timeout_due_ = now + seconds_to_micros(static_cast<double>(*machine_->timeout_seconds));
    }
    enqueue_enter(root, *machine_->start, info_.input);
    run();
  }

  Status restore(const std::vector<FrameRecord>& frames,
                 const std::vector<MapResultRecord>& results) {
    std::vector<const FrameRecord*> sorted;
    std::unordered_map<std::string, const FrameRecord*> items;
    for (const FrameRecord& f : frames) {
      if (f.frame_id == kRedrivePoint) continue;
      if (f.frame_id.ends_with(kItemsSuffix)) {
        items[f.frame_id.substr(0, f.frame_id.size() - (sizeof(kItemsSuffix) - 1))] = &f;
      } else {
        sorted.push_back(&f);
      }
    }
    auto depth = [](const std::string& id) {
      return id.empty() ? 0 : 1 + std::count(id.begin(), id.end(), '/');
    };
    std::sort(sorted.begin(), sorted.end(), [&](const FrameRecord* a, const FrameRecord* b) {
      return depth(a->frame_id) < depth(b->frame_id);
    });
    for (const FrameRecord* f : sorted) {
      Json data = Json::parse(f->data, nullptr, false);
      if (data.is_discarded() || !data.is_object()) {
        return Error{ErrorCode::Internal, "frame '" + f->frame_id + "' of " + record_.arn +
                                              " is not valid JSON"};
      }
      if (Status s = load_frame(f->frame_id, data); !s.ok()) return s;
    }
    for (auto& [id, rec] : items) {
      auto it = frames_.find(id);
      if (it == frames_.end()) continue;
      Json side = Json::parse(rec->data);
      Frame& f = *it->second;
      f.group.items = std::move(side["items"]);
      f.input = std::move(side["input"]);
      f.group.child_input = std::move(side["child_input"]);
      f.items_stored = true;
    }
    if (record_.compensation) {
      comp_.outcomes = Json::parse(*record_.compensation, nullptr, false);
      if (!comp_.outcomes.is_array()) comp_.outcomes = Json::array();
    }
    for (const MapResultRecord& r : results) {
      if (restore_saga_row(r)) continue;
      auto it = frames_.find(r.frame_id);
      if (it == frames_.end()) continue;
      ChildGroup& g = it->second->group;
      if (r.index >= 0 && r.index < static_cast<long long>(g.results.size())) {
        g.results[static_cast<std::size_t>(r.index)] = Json::parse(r.output);
        g.done[static_cast<std::size_t>(r.index)] = true;
      }
    }
    return Status();
  }

  bool deliver_task(const std::string& token, Outcome outcome, Micros now) {
    auto it = by_token_.find(token);
    if (it == by_token_.end()) return false;
    now_ = now;
    Frame& f = *it->second;
    if (f.compensating) {
      compensation_done(f, std::move(outcome));
      return true;
    }
    std::optional<Json> saga_entry = saga_entry_of(f, outcome);
    finish_task(f, outcome, /*timed_out=*/false);
    Effect effect = asl::complete_state(*f.state, std::move(f.input), std::move(outcome), ctx(f));
    // Logged only when the result completed the state: a ResultSelector or ResultPath failure
    // (retried, caught or not) leaves the task as not done.
    if (saga_entry) {
      const auto* t = std::get_if<asl::Transition>(&effect);
      if (t != nullptr && t->caught == nullptr) append_saga(f, std::move(*saga_entry));
    }
    handle(f, std::move(effect));
    run();
    return true;
  }

  bool deliver_timer(const std::string& timer_id, Micros now) {
    now_ = now;
    if (timer_id == kExecutionTimeoutTimer) {
      if (exec_timeout_due_ == 0 || finished_) return false;
      exec_timeout_due_ = 0;
      delete_timer_row(kExecutionTimeoutTimer);
      StatesError timeout{std::string(asl::errors::kTimeout), "The execution timed out"};
      if (!begin_compensation("TIMED_OUT", "ExecutionTimedOut", timeout)) {
        end_execution("TIMED_OUT", "ExecutionTimedOut", std::nullopt, std::move(timeout));
      }
      return true;
    }
    auto it = by_timer_.find(timer_id);
    if (it == by_timer_.end()) return false;
    Frame& f = *it->second;
    // A heartbeat moved the deadline on: this is the earlier arming firing; the later one
    // stands.
    if (timer_id == f.heartbeat_timer_id && f.heartbeat_due > now) return false;
    by_timer_.erase(it);
    delete_timer_row(timer_id);
    if (timer_id == f.heartbeat_timer_id) {
      f.heartbeat_timer_id.clear();
      time_out_task(f, StatesError{std::string(asl::errors::kHeartbeatTimeout), ""});
    } else if (f.waiting == Waiting::Task) {
      f.timer_id.clear();
      time_out_task(f, StatesError{std::string(asl::errors::kTimeout), ""});
    } else if (f.waiting == Waiting::Timer) {
      f.timer_id.clear();
      f.waiting = Waiting::None;
      dirty(f);
      Json output = std::move(f.then_output);
      handle(f, asl::Transition{f.state->common.next, std::move(output), nullptr});
    } else if (f.waiting == Waiting::Retry && f.compensating) {
      f.timer_id.clear();
      f.waiting = Waiting::None;
      ++f.retry_count;
      dirty(f);
      next_compensation(f);
      return true;
    } else if (f.waiting == Waiting::Retry) {
      f.timer_id.clear();
      f.waiting = Waiting::None;
      ++f.retry_count;
      dirty(f);
      Json input = std::move(f.input);
      handle(f, enter_effect(f, *f.state, std::move(input)));
    } else {
      return false;
    }
    run();
    return true;
  }

  bool task_started(const std::string& token, const std::string& worker_name, Micros now) {
    auto it = by_token_.find(token);
    if (it == by_token_.end()) return false;
    Frame& f = *it->second;
    if (f.task.started || service_resource(f.task.resource).resource_type != "activity") {
      return false;
    }
    now_ = now;
    f.task.started = true;
    // AWS leaves workerName out when the worker gave none.
    event(f, "ActivityStarted", [&](Json& d) {
      if (!worker_name.empty()) d["workerName"] = worker_name;
    });
    write_.tasks_started.push_back({token, worker_name});
    dirty(f);
    return true;
  }

  bool heartbeat(const std::string& token, Micros now) {
    auto it = by_token_.find(token);
    if (it == by_token_.end()) return false;
    Frame& f = *it->second;
    if (!f.heartbeat_timer_id.empty()) {
      f.heartbeat_due = now + seconds_to_micros(f.heartbeat_seconds);
      arm_timer(f.heartbeat_timer_id, f.heartbeat_due);
      dirty(f);
    }
    return true;
  }

  void stop(const std::string& error, const std::string& cause, Micros now) {
    if (finished_) return;
    now_ = now;
    end_execution("ABORTED", "ExecutionAborted", std::nullopt, StatesError{error, cause});
  }

  // RedriveExecution: enters again the state the root frame failed in, with `input` (the input
  // it was entered with) and the variables it had, after an ExecutionRedriven event.
  Status redrive(const Json& point, const std::vector<MapResultRecord>& results, Json input,
                 Micros now) {
    const State* state = machine_->find(point.value("state", std::string()));
    if (state == nullptr) {
      return Error{ErrorCode::InvalidArgument,
                   "the redrive point of " + record_.arn + " names an unknown state"};
    }
    now_ = now;
    record_.status = "RUNNING";
    record_.redrive_count += 1;
    record_.redrive_date = now;
    info_.redrive_count = record_.redrive_count;
    write_.update.status = "RUNNING";
    write_.update.redrive_count = record_.redrive_count;
    write_.update.redrive_date = now;
    timer_seq_ = point.value("timer_seq", 0LL);
    states_entered_ = point.value("states_entered", 0LL);
    if (point.contains("role_arn")) info_.role_arn = point["role_arn"].get<std::string>();
    Frame& root = add_frame("", nullptr, machine_.get(), 0);
    if (point.contains("vars")) {
      for (const auto& [k, v] : point["vars"].items()) root.vars.set(k, v);
    }
    root.last_event_id = record_.last_event_id;
    event(root, "ExecutionRedriven",
          [&](Json& d) { d["redriveCount"] = record_.redrive_count; });
    deleted_frames_.insert(kRedrivePoint);
    if (point.contains("group_total")) {
      RedrivePrior prior{state->name, 0, point.value("group_total", 0LL), {}};
      for (const MapResultRecord& r : results) {
        if (r.frame_id == kRedriveResults) prior.outputs.emplace_back(r.index, Json::parse(r.output));
      }
      redrive_prior_ = std::move(prior);
      delete_results(kRedriveResults);
    }
    if (machine_->timeout_seconds) {
      exec_timeout_due_ = now + seconds_to_micros(static_cast<double>(*machine_->timeout_seconds));
      arm_timer(kExecutionTimeoutTimer, exec_timeout_due_);
    }
    enqueue_enter(root, *state, std::move(input));
    run();
    return Status();
  }

  StepOutput take_output() {
    StepOutput out;
    for (const std::string& id : deleted_frames_) {
      if (!frames_.count(id)) write_.frames_delete.push_back(id);
    }
    deleted_frames_.clear();
    if (redrive_point_) {
      write_.frames_put.push_back(std::move(*redrive_point_));
      redrive_point_.reset();
    }
    for (const std::string& id : dirty_) {
      auto it = frames_.find(id);
      if (it == frames_.end()) continue;
      write_.frames_put.push_back(FrameRecord{id, save_frame(*it->second).dump()});
      Frame& f = *it->second;
      if (f.group.is_map && f.waiting == Waiting::Children && !f.items_stored) {
        Json side = Json::object();
        side["items"] = f.group.items;
        side["input"] = f.input;
        side["child_input"] = f.group.child_input;
        write_.frames_put.push_back(FrameRecord{id + kItemsSuffix, side.dump()});
        f.items_stored = true;
      }
    }
    dirty_.clear();
    write_.update.stop = record_.stop;
    out.write = std::move(write_);
    out.dispatch = std::move(dispatch_);
    out.timers = std::move(armed_);
    out.cancelled_tasks = std::move(cancelled_);
    out.timed_out_tasks = std::move(timed_out_);
    out.task_latencies = std::move(task_latencies_);
    out.finished = finished_;
    record_.version = out.write.expected_version + 1;
    write_ = ExecutionWrite{};
    write_.execution_arn = record_.arn;
    write_.expected_version = record_.version;
    dispatch_.clear();
    armed_.clear();
    cancelled_.clear();
    timed_out_.clear();
    task_latencies_.clear();
    return out;
  }

  const ExecutionRecord& record() const { return record_; }
  bool finished() const { return finished_; }
  long long states_entered() const { return states_entered_; }
  std::size_t frame_count() const { return frames_.size(); }

  std::vector<TaskDispatch> pending_tasks() const {
    std::vector<TaskDispatch> out;
    for (const auto& [token, f] : by_token_) out.push_back(f->task);
    return out;
  }

  std::vector<TimerRecord> pending_timers() const {
    std::vector<TimerRecord> out;
    if (exec_timeout_due_ != 0) {
      out.push_back(TimerRecord{record_.arn, kExecutionTimeoutTimer, exec_timeout_due_,
                                record_.partition});
    }
    for (const auto& [id, f] : by_timer_) {
      Micros due = id == f->heartbeat_timer_id ? f->heartbeat_due : f->timer_due;
      out.push_back(TimerRecord{record_.arn, id, due, record_.partition});
    }
    return out;
  }

 private:
  // --- Work queue: every frame runs until it waits; children start from here, never by
  // recursion, so a Map over many items uses constant stack. --------------------------------

  struct Work {
    enum class Kind { Enter, ChildDone } kind;
    std::string frame_id;
    const State* state = nullptr;  // Enter
    Json input;                    // Enter: the input; ChildDone: the output
    std::optional<StatesError> error;  // ChildDone: the child failed
    long long index = 0;
    long long group_seq = 0;  // ChildDone: the parent's run the child belonged to
  };

  void enqueue_enter(Frame& f, const State& s, Json input) {
    queue_.push_back(Work{Work::Kind::Enter, f.id, &s, std::move(input), std::nullopt, 0});
  }

  void run() {
    while (!queue_.empty() && !finished_ && !history_full()) {
      Work w = std::move(queue_.front());
      queue_.pop_front();
      auto it = frames_.find(w.frame_id);
      if (it == frames_.end()) continue;  // aborted meanwhile
      Frame& f = *it->second;
      if (f.compensating) continue;       // the run it belonged to has failed
      if (w.kind == Work::Kind::Enter) {
        enter(f, *w.state, std::move(w.input));
      } else {
        if (w.group_seq != f.group_seq || f.waiting != Waiting::Children) continue;  // stale
        child_done(f, w.index, std::move(w.input), std::move(w.error));
      }
    }
  }

  // --- Driving one frame ------------------------------------------------------------------

  asl::StepContext ctx(Frame& f) {
    asl::StepContext c;
    c.execution = &info_;
    c.now = to_time(now_);
    c.entered_time = to_time(f.entered_time);
    c.entered_event_id = f.entered_event_id;
    c.retry_count = f.retry_count;
    c.retry_attempts = &f.retry_attempts;
    c.task_token = f.token.empty() ? nullptr : &f.token;
    c.variables = &f.vars;
    c.random = random_;
    return c;
  }

  void enter(Frame& f, const State& s, Json input) {
    f.state = &s;
    f.retry_attempts.clear();
    f.retry_count = 0;
    f.entered_time = now_;
    ++states_entered_;
    f.entered_event_id = event(f, std::string(asl::type_name(s.type)) + "StateEntered",
                               [&](Json& d) {
                                 d["name"] = s.name;
                                 d["input"] = asl::dump_compact(input);
                                 d["inputDetails"] = {{"truncated", false}};
                               });
    dirty(f);
    handle(f, enter_effect(f, s, std::move(input)));
  }

  // Performs effects for frame f until it waits, moves to another frame, or ends.
  void handle(Frame& f, Effect effect) {
    for (;;) {
      if (finished_) return;
      if (history_full()) return;
      if (auto* t = std::get_if<asl::Transition>(&effect)) {
        if (auto size_error = check_payload(t->output)) {
          effect = asl::Failure{std::move(*size_error)};
          continue;
        }
        event(f, std::string(asl::type_name(f.state->type)) + "StateExited", [&](Json& d) {
          d["name"] = f.state->name;
          d["output"] = asl::dump_compact(t->output);
          d["outputDetails"] = {{"truncated", false}};
        });
        if (t->next == nullptr) {
          frame_done(f, std::move(t->output), std::nullopt);
          return;
        }
        const State* next = t->next;
        Json output = std::move(t->output);
        f.state = next;
        f.retry_attempts.clear();
        f.retry_count = 0;
        f.entered_time = now_;
        ++states_entered_;
        f.entered_event_id = event(f, std::string(asl::type_name(next->type)) + "StateEntered",
                                   [&](Json& d) {
                                     d["name"] = next->name;
                                     d["input"] = asl::dump_compact(output);
                                     d["inputDetails"] = {{"truncated", false}};
                                   });
        dirty(f);
        effect = enter_effect(f, *next, std::move(output));
        continue;
      }
      if (auto* fail = std::get_if<asl::Failure>(&effect)) {
        frame_done(f, Json(), std::move(fail->error));
        return;
      }
      if (auto* w = std::get_if<asl::WaitEffect>(&effect)) {
        Micros due = std::chrono::duration_cast<std::chrono::microseconds>(
                         w->until.time_since_epoch()).count();
        if (due <= now_) {
          Json out = std::move(w->then.output);
          effect = asl::Transition{w->then.next, std::move(out), nullptr};
          continue;
        }
        f.waiting = Waiting::Timer;
        f.then_output = std::move(w->then.output);
        set_timer(f, due);
        return;
      }
      if (auto* r = std::get_if<asl::RetryAfter>(&effect)) {
        f.waiting = Waiting::Retry;
        f.input = std::move(r->state_input);
        set_timer(f, now_ + r->delay.count());
        return;
      }
      if (auto* task = std::get_if<asl::RunTask>(&effect)) {
        schedule_task(f, std::move(*task));
        return;
      }
      if (auto* branches = std::get_if<asl::RunBranches>(&effect)) {
        start_parallel(f, std::move(*branches));
        return;
      }
      if (auto* items = std::get_if<asl::RunItems>(&effect)) {
        start_map(f, std::move(*items));
        return;
      }
      assert(false && "unhandled effect");
      return;
    }
  }

  // AWS: an execution's history holds at most 25,000 events; one that would need more fails.
  // Checked between steps of a frame, each of which appends a few events, so the room kept
  // back covers the last step and the ExecutionFailed event. Without a history (EXPRESS) there
  // is nothing to outgrow.
  bool history_full() {
    constexpr long long kRoom = 16;
    if (finished_ || !options_.record_history || options_.max_history_events <= 0 ||
        record_.last_event_id + kRoom < options_.max_history_events) {
      return false;
    }
    end_execution("FAILED", "ExecutionFailed", std::nullopt,
                  StatesError{std::string(asl::errors::kRuntime),
                              "The execution reached the maximum number of history events (" +
                                  std::to_string(options_.max_history_events) + ")."});
    return true;
  }

  std::optional<StatesError> check_payload(const Json& value) const {
    if (options_.max_payload_bytes == 0) return std::nullopt;
    // Cheap upper bound first: most payloads are far below the limit.
    if (value.is_primitive()) return std::nullopt;
    std::size_t size = asl::dump_compact(value).size();
    if (size <= options_.max_payload_bytes) return std::nullopt;
    return StatesError{std::string(asl::errors::kDataLimitExceeded),
                       "The state/task returned a result with a size exceeding the maximum "
                       "number of bytes service limit."};
  }

  // --- Tasks --------------------------------------------------------------------------------

  // Enters (or re-enters, for a retry) state s of frame f. A Task's token exists before its
  // Parameters are evaluated, so they can hand $$.Task.Token on (.waitForTaskToken).
  Effect enter_effect(Frame& f, const State& s, Json input) {
    const bool task = s.type == StateType::Task;
    if (task) f.token = tokens_();
    Effect e = asl::enter_state(s, std::move(input), ctx(f));
    if (task && !std::holds_alternative<asl::RunTask>(e)) f.token.clear();
    return e;
  }

  void schedule_task(Frame& f, asl::RunTask task) {
    f.waiting = Waiting::Task;
    f.input = std::move(task.state_input);
    if (f.token.empty()) f.token = tokens_();
    ServiceResource names = service_resource(task.resource);
    ResourceKind kind = classify_resource(task.resource);
    std::string payload_text = asl::dump_compact(task.payload);
    if (kind == ResourceKind::LambdaFunction) {
      event(f, "LambdaFunctionScheduled", [&](Json& d) {
        d["resource"] = task.resource;
        d["input"] = payload_text;
        d["inputDetails"] = {{"truncated", false}};
        if (task.timeout_seconds) d["timeoutInSeconds"] = std::llround(*task.timeout_seconds);
      });
      event(f, "LambdaFunctionStarted", nullptr);
    } else if (names.resource_type == "activity") {
      event(f, "ActivityScheduled", [&](Json& d) {
        d["resource"] = task.resource;
        d["input"] = payload_text;
        d["inputDetails"] = {{"truncated", false}};
        if (task.timeout_seconds) d["timeoutInSeconds"] = std::llround(*task.timeout_seconds);
        if (task.heartbeat_seconds) {
          d["heartbeatInSeconds"] = std::llround(*task.heartbeat_seconds);
        }
      });
    } else {
      event(f, "TaskScheduled", [&](Json& d) {
        d["resourceType"] = names.resource_type;
        d["resource"] = names.resource;
        d["region"] = region_of(record_.arn);
        d["parameters"] = payload_text;
        if (task.timeout_seconds) d["timeoutInSeconds"] = std::llround(*task.timeout_seconds);
        if (task.heartbeat_seconds) {
          d["heartbeatInSeconds"] = std::llround(*task.heartbeat_seconds);
        }
      });
      event(f, "TaskStarted", [&](Json& d) {
        d["resourceType"] = names.resource_type;
        d["resource"] = names.resource;
      });
    }
    issue_task(f, f.state->name, task.resource, std::move(task.payload), std::move(payload_text),
               task.timeout_seconds, task.heartbeat_seconds);
  }

  // Hands out the task f.token names: its row, its time-out and heartbeat timers, its dispatch.
  // f waits for it.
  void issue_task(Frame& f, const std::string& state_name, const std::string& resource,
                  Json payload, std::string payload_text, std::optional<double> timeout_seconds,
                  std::optional<double> heartbeat_seconds) {
    f.waiting = Waiting::Task;
    TaskRecord rec;
    rec.token = f.token;
    rec.execution_arn = record_.arn;
    rec.frame_id = f.id;
    rec.state_name = state_name;
    rec.resource = resource;
    if (service_resource(resource).resource_type == "activity") rec.activity_arn = resource;
    rec.input = std::move(payload_text);
    rec.status = "SCHEDULED";
    rec.scheduled = now_;
    rec.partition = record_.partition;
    if (timeout_seconds && *timeout_seconds > 0) {
      rec.timeout_due = now_ + seconds_to_micros(*timeout_seconds);
      set_timer(f, *rec.timeout_due);
    }
    if (heartbeat_seconds && *heartbeat_seconds > 0) {
      f.heartbeat_seconds = *heartbeat_seconds;
      f.heartbeat_due = now_ + seconds_to_micros(*heartbeat_seconds);
      f.heartbeat_timer_id = next_timer_id();
      by_timer_[f.heartbeat_timer_id] = &f;
      arm_timer(f.heartbeat_timer_id, f.heartbeat_due);
      rec.heartbeat_due = f.heartbeat_due;
    }
    write_.tasks_put.push_back(std::move(rec));
    f.task = TaskDispatch{f.token,           record_.arn,       resource,
                          std::move(payload), timeout_seconds,   heartbeat_seconds,
                          record_.trace_header, state_name,      false, now_};
    by_token_[f.token] = &f;
    dispatch_.push_back(f.task);
    dirty(f);
  }

  // Records the task's end in history and forgets its token and timers.
  void finish_task(Frame& f, const Outcome& outcome, bool timed_out) {
    task_latencies_.emplace_back(f.task.resource, now_ - f.task.scheduled);
    ResourceKind kind = classify_resource(f.task.resource);
    ServiceResource names = service_resource(f.task.resource);
    const bool activity = names.resource_type == "activity";
    if (const Json* result = std::get_if<Json>(&outcome)) {
      std::string out = asl::dump_compact(*result);
      if (kind == ResourceKind::LambdaFunction || activity) {
        event(f, kind == ResourceKind::LambdaFunction ? "LambdaFunctionSucceeded"
                                                      : "ActivitySucceeded",
              [&](Json& d) {
                d["output"] = out;
                d["outputDetails"] = {{"truncated", false}};
              });
      } else {
        event(f, "TaskSucceeded", [&](Json& d) {
          d["resourceType"] = names.resource_type;
          d["resource"] = names.resource;
          d["output"] = out;
          d["outputDetails"] = {{"truncated", false}};
        });
      }
    } else {
      const StatesError& e = std::get<StatesError>(outcome);
      std::string prefix = kind == ResourceKind::LambdaFunction ? "LambdaFunction"
                           : activity                           ? "Activity"
                                                                : "Task";
      event(f, prefix + (timed_out ? "TimedOut" : "Failed"), [&](Json& d) {
        if (!activity && kind != ResourceKind::LambdaFunction) {
          d["resourceType"] = names.resource_type;
          d["resource"] = names.resource;
        }
        if (!e.error.empty()) d["error"] = e.error;
        if (!e.cause.empty()) d["cause"] = e.cause;
      });
    }
    forget_task(f);
    f.waiting = Waiting::None;
    dirty(f);
  }

  void forget_task(Frame& f) {
    if (f.token.empty()) return;
    by_token_.erase(f.token);
    std::erase_if(write_.tasks_put, [&](const TaskRecord& t) { return t.token == f.token; });
    std::erase_if(write_.tasks_started,
                  [&](const ExecutionWrite::TaskStarted& t) { return t.token == f.token; });
    write_.tasks_delete.push_back(f.token);
    cancel_timer(f.timer_id);
    f.timer_id.clear();
    cancel_timer(f.heartbeat_timer_id);
    f.heartbeat_timer_id.clear();
    f.token.clear();
  }

  void time_out_task(Frame& f, StatesError error) {
    cancelled_.push_back(f.token);
    timed_out_.push_back(f.token);
    if (f.compensating) {
      compensation_done(f, Outcome{std::move(error)});
      return;
    }
    Outcome outcome{error};
    finish_task(f, outcome, /*timed_out=*/true);
    handle(f, asl::complete_state(*f.state, std::move(f.input), std::move(outcome), ctx(f)));
  }

  // --- Parallel and Map ---------------------------------------------------------------------

  void start_parallel(Frame& f, asl::RunBranches run) {
    const auto& par = std::get<asl::ParallelState>(f.state->body);
    event(f, "ParallelStateStarted", nullptr);
    f.waiting = Waiting::Children;
    f.input = std::move(run.state_input);
    ++f.group_seq;
    ChildGroup& g = f.group;
    g = ChildGroup{};
    g.total = static_cast<long long>(par.branches.size());
    g.limit = g.total;
    g.results.assign(par.branches.size(), Json());
    g.done.assign(par.branches.size(), false);
    g.child_input = std::move(run.branch_input);
    dirty(f);
    if (seed_from_redrive(f)) return;
    pump(f);
  }

  void start_map(Frame& f, asl::RunItems run) {
    const long long length = static_cast<long long>(run.items.size());
    event(f, "MapStateStarted", [&](Json& d) { d["length"] = length; });
    f.waiting = Waiting::Children;
    f.input = std::move(run.state_input);
    ++f.group_seq;
    ChildGroup& g = f.group;
    g = ChildGroup{};
    g.is_map = true;
    g.total = length;
    g.limit = run.max_concurrency > 0 ? std::min(run.max_concurrency, options_.max_map_concurrency)
                                      : options_.max_map_concurrency;
    g.tolerated_count = run.tolerated_failure_count;
    g.tolerated_percentage = run.tolerated_failure_percentage;
    g.results.assign(static_cast<std::size_t>(length), Json());
    g.done.assign(static_cast<std::size_t>(length), false);
    g.items = std::move(run.items);
    g.child_input = std::move(run.effective_input);
    f.items_stored = false;
    dirty(f);
    if (length == 0) {
      complete_group(f);
      return;
    }
    if (seed_from_redrive(f)) return;
    pump(f);
  }

  // What a redrive keeps of f's group: the outputs of the children that succeeded.
  static RedrivePrior prior_of(const Frame& f) {
    const ChildGroup& g = f.group;
    RedrivePrior prior{f.state->name, f.group_seq, g.total, {}};
    for (std::size_t i = 0; i < g.done.size(); ++i) {
      if (g.done[i]) prior.outputs.emplace_back(static_cast<long long>(i), g.results[i]);
    }
    return prior;
  }

  // A redrive of a root that failed in this Parallel or Map state: the branches or iterations
  // that succeeded before count as done with their old outputs (AWS reruns only the failed and
  // the unstarted ones). True when that completed the group.
  bool seed_from_redrive(Frame& f) {
    if (!redrive_prior_ || f.parent != nullptr || f.state->name != redrive_prior_->state) {
      return false;
    }
    RedrivePrior prior = std::move(*redrive_prior_);
    redrive_prior_.reset();
    ChildGroup& g = f.group;
    if (prior.total != g.total) return false;  // other items than before: run them all
    for (auto& [index, output] : prior.outputs) {
      if (index < 0 || index >= g.total) continue;
      const auto i = static_cast<std::size_t>(index);
      if (g.done[i]) continue;
      write_.map_results_put.push_back(MapResultRecord{f.id, index, asl::dump_compact(output)});
      g.results[i] = std::move(output);
      g.done[i] = true;
      ++g.succeeded;
    }
    if (g.succeeded == g.total) {
      complete_group(f);
      return true;
    }
    return false;
  }

  // Starts children while the group's limit allows.
  void pump(Frame& f) {
    ChildGroup& g = f.group;
    while (g.next < g.total && g.active < g.limit && !g.error) {
      const long long i = g.next++;
      if (g.done[static_cast<std::size_t>(i)]) continue;  // succeeded before a redrive
      ++g.active;
      if (g.is_map) {
        const auto& map = std::get<asl::MapState>(f.state->body);
        Json input;
        try {
          input = item_input(f, i);
        } catch (const asl::StatesException& e) {
          g.error = e.error();
          --g.active;
          abort_children(f);
          complete_group(f);
          return;
        }
        event(f, "MapIterationStarted", [&](Json& d) {
          d["name"] = f.state->name;
          d["index"] = i;
        });
        Frame& child = add_frame(child_id(f, i), &f, map.processor.get(), i);
        child.parent_group_seq = f.group_seq;
        enqueue_enter(child, *map.processor->start, std::move(input));
      } else {
        const auto& par = std::get<asl::ParallelState>(f.state->body);
        const Machine& branch = *par.branches[static_cast<std::size_t>(i)];
        Frame& child = add_frame(child_id(f, i), &f, &branch, i);
        child.parent_group_seq = f.group_seq;
        enqueue_enter(child, *branch.start, g.child_input);
      }
    }
    dirty(f);
  }

  // The input of iteration i (ItemSelector applied). Throws StatesException.
  Json item_input(Frame& f, long long i) {
    const auto& map = std::get<asl::MapState>(f.state->body);
    const Json& item = f.group.items.at(static_cast<std::size_t>(i));
    if (!map.item_selector) return item;
    return asl::map_item_input(*f.state, item, static_cast<std::size_t>(i), f.group.child_input,
                               f.group.item_context, ctx(f));
  }

  static std::string child_id(const Frame& parent, long long i) {
    return parent.id.empty() ? std::to_string(i) : parent.id + "/" + std::to_string(i);
  }

  void child_done(Frame& parent, long long index, Json output, std::optional<StatesError> error) {
    ChildGroup& g = parent.group;
    --g.active;
    dirty(parent);
    if (g.error) return;  // the group already failed; late finishers are ignored
    if (!error) {
      ++g.succeeded;
      if (g.is_map) {
        event(parent, "MapIterationSucceeded", [&](Json& d) {
          d["name"] = parent.state->name;
          d["index"] = index;
        });
      }
      write_.map_results_put.push_back(
          MapResultRecord{parent.id, index, asl::dump_compact(output)});
      g.results[static_cast<std::size_t>(index)] = std::move(output);
      g.done[static_cast<std::size_t>(index)] = true;
    } else {
      ++g.failed;
      if (g.is_map) {
        event(parent, "MapIterationFailed", [&](Json& d) {
          d["name"] = parent.state->name;
          d["index"] = index;
        });
      }
      bool tolerated = g.is_map && (g.tolerated_count || g.tolerated_percentage);
      if (!tolerated) {
        g.error = std::move(*error);
      } else {
        asl::RunItems limits;
        limits.tolerated_failure_count = g.tolerated_count;
        limits.tolerated_failure_percentage = g.tolerated_percentage;
        if (asl::exceeds_tolerated_failures(limits, static_cast<std::size_t>(g.failed),
                                            static_cast<std::size_t>(g.total))) {
          g.error = StatesError{std::string(asl::errors::kExceedToleratedFailureThreshold),
                                "The specified tolerated failure threshold was exceeded"};
        }
      }
      if (g.error) {
        abort_children(parent);
        complete_group(parent);
        return;
      }
    }
    if (g.succeeded + g.failed == g.total) {
      complete_group(parent);
    } else {
      pump(parent);
    }
  }

  // Ends every running child of f (a sibling failed, or the execution stops).
  void abort_children(Frame& f) {
    std::vector<std::string> doomed;
    for (auto& [id, child] : frames_) {
      if (child->parent == &f) doomed.push_back(id);
    }
    for (const std::string& id : doomed) {
      auto it = frames_.find(id);
      if (it == frames_.end()) continue;
      Frame& child = *it->second;
      if (f.group.is_map) {
        event(f, "MapIterationAborted", [&](Json& d) {
          d["name"] = f.state->name;
          d["index"] = child.index;
        });
      }
      // The tasks an aborted child completed did happen: they stay to be compensated.
      if (has_log(child)) keep_branch_log(f, child.index, collect_log(child));
      remove_frame(child);
    }
    f.group.active = 0;
  }

  void complete_group(Frame& f) {
    ChildGroup& g = f.group;
    if (std::optional<Json> entry = group_entry(f, /*include_running=*/false)) {
      append_saga(f, std::move(*entry));
    }
    drop_branch_logs(f);
    Outcome outcome;
    if (g.error) {
      event(f, g.is_map ? "MapStateFailed" : "ParallelStateFailed", nullptr);
      outcome = *g.error;
      if (f.parent == nullptr) {
        // Kept in case this failure ends the execution: a redrive then reruns only the rest.
        failed_group_ = prior_of(f);
      }
    } else {
      event(f, g.is_map ? "MapStateSucceeded" : "ParallelStateSucceeded", nullptr);
      Json results = Json::array();
      for (Json& r : g.results) results.push_back(std::move(r));
      outcome = std::move(results);
    }
    delete_results(f.id);
    if (f.items_stored) deleted_frames_.insert(f.id + kItemsSuffix);
    f.items_stored = false;
    g = ChildGroup{};
    f.waiting = Waiting::None;
    dirty(f);
    handle(f, asl::complete_state(*f.state, std::move(f.input), std::move(outcome), ctx(f)));
  }

  // --- Saga: the log of completed compensable tasks (docs/saga.md) ---------------------------

  // The log entry of a task that produced a result, when its state has Compensate.
  std::optional<Json> saga_entry_of(const Frame& f, const Outcome& outcome) const {
    const auto* task = std::get_if<asl::TaskState>(&f.state->body);
    if (task == nullptr || !task->compensate) return std::nullopt;
    const Json* result = std::get_if<Json>(&outcome);
    if (result == nullptr) return std::nullopt;
    Json entry = Json::object();
    entry["state"] = f.state->name;
    entry["input"] = f.task.payload;
    entry["output"] = *result;
    return entry;
  }

  void append_saga(Frame& f, Json entry) {
    write_.map_results_put.push_back(MapResultRecord{
        f.id + kSagaSuffix, static_cast<std::int64_t>(f.saga.size()), entry.dump()});
    f.saga.push_back(std::move(entry));
  }

  // Records the log of child `index` of f's current group (one row, written once).
  void keep_branch_log(Frame& f, long long index, Json log) {
    if (log.empty()) return;
    write_.map_results_put.push_back(MapResultRecord{f.id + kBranchesSuffix, index, log.dump()});
    f.branch_logs[index] = std::move(log);
  }

  void drop_saga(Frame& f) {
    if (f.saga.empty()) return;
    delete_results(f.id + kSagaSuffix);
    f.saga.clear();
  }

  void drop_branch_logs(Frame& f) {
    if (f.branch_logs.empty()) return;
    delete_results(f.id + kBranchesSuffix);
    f.branch_logs.clear();
  }

  // f's whole log: its own entries, then the group it waits on (ended children, and with
  // include_running the logs of children still running, for a scope that is cut short).
  Json collect_log(const Frame& f) const {
    Json log = Json::array();
    for (const Json& e : f.saga) log.push_back(e);
    if (f.waiting == Waiting::Children) {
      if (std::optional<Json> group = group_entry(f, /*include_running=*/true)) {
        log.push_back(std::move(*group));
      }
    }
    return log;
  }

  // Whether f or a scope below it has logged anything (cheap: no copy).
  bool has_log(const Frame& f) const {
    if (!f.saga.empty()) return true;
    if (f.waiting != Waiting::Children) return false;
    if (!f.branch_logs.empty()) return true;
    for (const auto& [id, child] : frames_) {
      if (child->parent == &f && has_log(*child)) return true;
    }
    return false;
  }

  std::optional<Json> group_entry(const Frame& f, bool include_running) const {
    if (f.branch_logs.empty() && (!include_running || !has_log(f))) return std::nullopt;
    std::map<long long, Json> logs = f.branch_logs;
    if (include_running) {
      for (const auto& [id, child] : frames_) {
        if (child->parent != &f) continue;
        Json log = collect_log(*child);
        if (!log.empty()) logs[child->index] = std::move(log);
      }
    }
    if (logs.empty()) return std::nullopt;
    Json branches = Json::array();
    for (auto& [index, log] : logs) {
      branches.push_back(Json{{"index", index}, {"log", std::move(log)}});
    }
    return Json{{"state", f.state->name}, {"branches", std::move(branches)}};
  }

  // The log as the compensation plan: newest entry first; a group's branches from the highest
  // index down, each branch's log newest first. `branch` names where an entry ran ("Fork/1",
  // "Fork/1/Items/3"); empty at the top level.
  static void plan_of(const Json& log, const std::string& branch, std::vector<Json>& plan) {
    for (auto it = log.rbegin(); it != log.rend(); ++it) {
      const Json& e = *it;
      if (const auto b = e.find("branches"); b != e.end()) {
        for (auto child = b->rbegin(); child != b->rend(); ++child) {
          std::string where = (branch.empty() ? "" : branch + "/") +
                              e["state"].get<std::string>() + "/" +
                              std::to_string((*child)["index"].get<long long>());
          plan_of((*child)["log"], where, plan);
        }
        continue;
      }
      Json step = Json::object();
      step["state"] = e["state"];
      if (!branch.empty()) step["branch"] = branch;
      step["input"] = e["input"];
      step["output"] = e["output"];
      plan.push_back(std::move(step));
    }
  }

  // A saga row read back at restore; false when r is no saga row.
  bool restore_saga_row(const MapResultRecord& r) {
    std::string base;
    if (r.frame_id == kCompensationRows) {
      const auto i = static_cast<std::size_t>(r.index);
      if (i >= comp_.plan.size()) comp_.plan.resize(i + 1);
      comp_.plan[i] = Json::parse(r.output);
      return true;
    }
    if (strip_suffix(r.frame_id, kSagaSuffix, &base)) {
      auto it = frames_.find(base);
      if (it != frames_.end()) {
        std::vector<Json>& saga = it->second->saga;
        const auto i = static_cast<std::size_t>(r.index);
        if (i >= saga.size()) saga.resize(i + 1);
        saga[i] = Json::parse(r.output);
      }
      return true;
    }
    if (strip_suffix(r.frame_id, kBranchesSuffix, &base)) {
      auto it = frames_.find(base);
      if (it != frames_.end()) it->second->branch_logs[r.index] = Json::parse(r.output);
      return true;
    }
    return false;
  }

  // --- Saga: the compensation phase ------------------------------------------------------------

  // The execution is about to end with `status`: when anything is logged, compensates first.
  // Every running scope stops (their logs are kept); the plan is written once; the compensations
  // then run one at a time. False (nothing changed) when there is nothing to compensate.
  bool begin_compensation(const std::string& status, const std::string& event_type,
                          const StatesError& error) {
    auto it = frames_.find("");
    if (it == frames_.end() || it->second->compensating) return false;
    Frame& root = *it->second;
    Json log = collect_log(root);
    if (log.empty()) return false;
    std::vector<Json> plan;
    plan_of(log, "", plan);

    std::vector<Frame*> children;
    for (auto& [id, c] : frames_) {
      if (c->parent == &root) children.push_back(c.get());
    }
    for (Frame* c : children) remove_frame(*c);
    if (!root.token.empty()) cancelled_.push_back(root.token);
    forget_task(root);
    cancel_timer(root.timer_id);
    root.timer_id.clear();
    if (root.group.is_map || root.waiting == Waiting::Children) {
      delete_results(root.id);
      if (root.items_stored) deleted_frames_.insert(root.id + kItemsSuffix);
      root.items_stored = false;
    }
    root.group = ChildGroup{};
    drop_saga(root);
    drop_branch_logs(root);
    queue_.clear();
    if (exec_timeout_due_ != 0) delete_timer_row(kExecutionTimeoutTimer);
    exec_timeout_due_ = 0;

    comp_ = CompensationPhase{};
    comp_.active = true;
    comp_.status = status;
    comp_.event_type = event_type;
    comp_.error = error;
    for (std::size_t i = 0; i < plan.size(); ++i) {
      write_.map_results_put.push_back(MapResultRecord{
          kCompensationRows, static_cast<std::int64_t>(i), plan[i].dump()});
    }
    comp_.plan = std::move(plan);
    set_outcomes();

    root.compensating = true;
    root.waiting = Waiting::None;
    root.input = Json();
    root.then_output = Json();
    root.retry_attempts.clear();
    root.retry_count = 0;
    dirty(root);
    event(root, "CompensationStarted", [&](Json& d) {
      if (!error.error.empty()) d["error"] = error.error;
      if (!error.cause.empty()) d["cause"] = error.cause;
      d["compensations"] = comp_.plan.size();
    });
    next_compensation(root);
    return true;
  }

  // Schedules the compensation at the cursor (again, after a retry back-off); when none is left,
  // ends the execution as begin_compensation was told.
  void next_compensation(Frame& root) {
    while (comp_.cursor < comp_.plan.size()) {
      if (schedule_compensation(root)) return;
    }
    const bool failed = comp_.failed > 0;
    event(root, failed ? "CompensationFailed" : "CompensationSucceeded", [&](Json& d) {
      d["succeeded"] = comp_.succeeded;
      d["failed"] = comp_.failed;
    });
    StatesError error = comp_.error;
    end_execution(comp_.status, comp_.event_type, std::nullopt, std::move(error));
  }

  const asl::Compensation* compensation_of(const Json& step) const {
    auto it = states_by_name_.find(step.value("state", std::string()));
    if (it == states_by_name_.end()) return nullptr;
    const auto* task = std::get_if<asl::TaskState>(&it->second->body);
    return task != nullptr && task->compensate ? &*task->compensate : nullptr;
  }

  // Dispatches the compensation at the cursor. False when it failed before it could be sent
  // (its Parameters failed): then it is recorded as failed and the cursor has moved on.
  bool schedule_compensation(Frame& root) {
    const Json& step = comp_.plan[comp_.cursor];
    const std::string name = step.value("state", std::string());
    auto fail_early = [&](StatesError error) {
      event(root, "CompensationTaskFailed", [&](Json& d) {
        d["name"] = name;
        if (step.contains("branch")) d["branch"] = step["branch"];
        if (!error.error.empty()) d["error"] = error.error;
        if (!error.cause.empty()) d["cause"] = error.cause;
      });
      compensation_finished(root, std::move(error), root.retry_count);
      return false;
    };
    const asl::Compensation* comp = compensation_of(step);
    if (comp == nullptr) {
      return fail_early(StatesError{std::string(asl::errors::kRuntime),
                                    "The state '" + name +
                                        "' has no Compensate field in this revision"});
    }
    if (root.retry_count == 0) root.entered_time = now_;
    root.token = tokens_();
    Json payload;
    try {
      Json dollar = Json::object();
      dollar["Input"] = step.value("input", Json());
      dollar["Output"] = step.value("output", Json());
      if (comp->parameters) {
        asl::EvalContext e;
        e.input = &dollar;
        e.random = random_;
        Json context;
        if (comp->uses_context) {
          asl::StepContext c;
          c.execution = &info_;
          c.now = to_time(now_);
          c.entered_time = to_time(root.entered_time);
          c.retry_count = root.retry_count;
          c.task_token = &root.token;
          context = asl::build_context_object(*states_by_name_.at(name), c);
          e.context = &context;
        }
        payload = comp->parameters->evaluate(e);
      } else {
        payload = std::move(dollar);
      }
    } catch (const asl::StatesException& ex) {
      root.token.clear();
      return fail_early(ex.error());
    }
    std::string payload_text = asl::dump_compact(payload);
    event(root, "CompensationTaskScheduled", [&](Json& d) {
      d["name"] = name;
      if (step.contains("branch")) d["branch"] = step["branch"];
      d["resource"] = comp->resource;
      d["input"] = payload_text;
      d["inputDetails"] = {{"truncated", false}};
      d["attempt"] = root.retry_count + 1;
      if (comp->timeout_seconds) d["timeoutInSeconds"] = std::llround(*comp->timeout_seconds);
      if (comp->heartbeat_seconds) {
        d["heartbeatInSeconds"] = std::llround(*comp->heartbeat_seconds);
      }
    });
    issue_task(root, name, comp->resource, std::move(payload), std::move(payload_text),
               comp->timeout_seconds, comp->heartbeat_seconds);
    return true;
  }

  // The compensation task at the cursor ended (result, error or time-out).
  void compensation_done(Frame& root, Outcome outcome) {
    forget_task(root);
    root.waiting = Waiting::None;
    dirty(root);
    const Json& step = comp_.plan[comp_.cursor];
    if (Json* result = std::get_if<Json>(&outcome)) {
      event(root, "CompensationTaskSucceeded", [&](Json& d) {
        d["name"] = step["state"];
        if (step.contains("branch")) d["branch"] = step["branch"];
        d["output"] = asl::dump_compact(*result);
        d["outputDetails"] = {{"truncated", false}};
      });
      compensation_finished(root, std::nullopt, root.retry_count + 1);
    } else {
      StatesError error = std::move(std::get<StatesError>(outcome));
      std::optional<Micros> delay = compensation_retry(root, error);
      event(root, "CompensationTaskFailed", [&](Json& d) {
        d["name"] = step["state"];
        if (step.contains("branch")) d["branch"] = step["branch"];
        if (!error.error.empty()) d["error"] = error.error;
        if (!error.cause.empty()) d["cause"] = error.cause;
        if (delay) d["retryInSeconds"] = static_cast<double>(*delay) / 1e6;
      });
      if (delay) {
        root.waiting = Waiting::Retry;
        set_timer(root, now_ + *delay);
        return;
      }
      compensation_finished(root, std::move(error), root.retry_count + 1);
    }
    next_compensation(root);
  }

  // The back-off before the next attempt, when a retrier of the compensation applies (the same
  // rules as a state's Retry: the first matching retrier decides; States.Runtime never retries).
  std::optional<Micros> compensation_retry(Frame& root, const StatesError& error) {
    const asl::Compensation* comp = compensation_of(comp_.plan[comp_.cursor]);
    if (comp == nullptr || error.error == asl::errors::kRuntime) return std::nullopt;
    for (std::size_t i = 0; i < comp->retry.size(); ++i) {
      const asl::Retrier& r = comp->retry[i];
      if (!asl::error_matches(r.errors, error.error)) continue;
      if (root.retry_attempts.size() < comp->retry.size()) {
        root.retry_attempts.resize(comp->retry.size(), 0);
      }
      int& made = root.retry_attempts[i];
      if (made >= r.max_attempts) return std::nullopt;
      double seconds = r.interval_seconds * std::pow(r.backoff_rate, made);
      if (r.max_delay_seconds && seconds > *r.max_delay_seconds) seconds = *r.max_delay_seconds;
      if (r.jitter == asl::JitterStrategy::Full && random_ != nullptr) {
        seconds *= random_->next_unit();
      }
      seconds = std::clamp(seconds, 0.0, 1e9);
      ++made;
      return seconds_to_micros(seconds);
    }
    return std::nullopt;
  }

  // Records the outcome of the compensation at the cursor and moves the cursor on.
  void compensation_finished(Frame& root, std::optional<StatesError> error, int attempts) {
    const Json& step = comp_.plan[comp_.cursor];
    Json outcome = Json::object();
    outcome["state"] = step["state"];
    if (step.contains("branch")) outcome["branch"] = step["branch"];
    outcome["status"] = error ? "FAILED" : "SUCCEEDED";
    outcome["attempts"] = attempts;
    if (error) {
      if (!error->error.empty()) outcome["error"] = error->error;
      if (!error->cause.empty()) outcome["cause"] = error->cause;
      ++comp_.failed;
    } else {
      ++comp_.succeeded;
    }
    comp_.outcomes.push_back(std::move(outcome));
    set_outcomes();
    ++comp_.cursor;
    root.retry_attempts.clear();
    root.retry_count = 0;
    dirty(root);
  }

  void set_outcomes() {
    std::string text = comp_.outcomes.dump();
    record_.compensation = text;
    write_.update.compensation = std::move(text);
  }

  // --- Frames ending ------------------------------------------------------------------------

  void frame_done(Frame& f, Json output, std::optional<StatesError> error) {
    if (f.parent == nullptr) {
      if (error) {
        if (!begin_compensation("FAILED", "ExecutionFailed", *error)) {
          end_execution("FAILED", "ExecutionFailed", std::nullopt, std::move(*error));
        }
      } else {
        end_execution("SUCCEEDED", "ExecutionSucceeded", std::move(output), std::nullopt);
      }
      return;
    }
    Frame& parent = *f.parent;
    const long long index = f.index;
    const long long group_seq = f.parent_group_seq;
    // Succeeded or failed, the tasks it completed did happen: its log joins the parent's group.
    if (has_log(f)) keep_branch_log(parent, index, collect_log(f));
    remove_frame(f);
    queue_.push_back(Work{Work::Kind::ChildDone, parent.id, nullptr, std::move(output),
                          std::move(error), index, group_seq});
  }

  void end_execution(const std::string& status, const std::string& event_type,
                     std::optional<Json> output, std::optional<StatesError> error) {
    Frame* root = frames_.count("") ? frames_.at("").get() : nullptr;
    // Every task, timer and frame of the execution goes (remove_frame cancels each task once).
    if (exec_timeout_due_ != 0) delete_timer_row(kExecutionTimeoutTimer);
    exec_timeout_due_ = 0;
    if (comp_.active) delete_results(kCompensationRows);
    std::string output_text = output ? asl::dump_compact(*output) : std::string();
    Json details = Json::object();
    if (output) {
      details["output"] = output_text;
      details["outputDetails"] = {{"truncated", false}};
    } else if (error) {
      if (!error->error.empty()) details["error"] = error->error;
      if (!error->cause.empty()) details["cause"] = error->cause;
    }
    append_event(root ? root->last_event_id : record_.last_event_id, event_type,
                 std::move(details));
    if (root != nullptr && root->state != nullptr &&
        (status == "FAILED" || status == "TIMED_OUT" || status == "ABORTED")) {
      Json point = {{"state", root->state->name},
                    {"entered_event_id", root->entered_event_id},
                    {"timer_seq", timer_seq_},
                    {"states_entered", states_entered_}};
      if (!info_.role_arn.empty()) point["role_arn"] = info_.role_arn;
      Json vars = Json::object();
      for (const auto& [k, v] : root->vars.own()) vars[k] = v;
      point["vars"] = std::move(vars);
      // A Parallel or Map state that failed (or was stopped): what its children achieved.
      std::optional<RedrivePrior> prior;
      if (root->waiting == Waiting::Children) {
        prior = prior_of(*root);
      } else if (failed_group_ && failed_group_->state == root->state->name &&
                 failed_group_->seq == root->group_seq) {
        prior = std::move(failed_group_);
      }
      delete_results(kRedriveResults);
      if (prior) {
        point["group_total"] = prior->total;
        for (auto& [index, output] : prior->outputs) {
          write_.map_results_put.push_back(
              MapResultRecord{kRedriveResults, index, asl::dump_compact(output)});
        }
      }
      redrive_point_ = FrameRecord{kRedrivePoint, point.dump()};
    }
    if (root) remove_frame(*root);
    for (auto& [id, f] : frames_) {
      if (!f->token.empty()) cancelled_.push_back(f->token);
      deleted_frames_.insert(id);
    }
    frames_.clear();
    by_token_.clear();
    by_timer_.clear();
    queue_.clear();
    record_.status = status;
    record_.stop = now_;
    write_.update.status = status;
    write_.update.stop = now_;
    if (output) {
      record_.output = output_text;
      write_.update.output = output_text;
    }
    if (error) {
      record_.error = error->error;
      record_.cause = error->cause;
      write_.update.error = error->error;
      write_.update.cause = error->cause;
    }
    finished_ = true;
  }

  Frame& add_frame(std::string id, Frame* parent, const Machine* scope, long long index) {
    auto frame = std::make_unique<Frame>(id, parent, scope, index);
    Frame& ref = *frame;
    if (parent != nullptr) ref.last_event_id = parent->last_event_id;
    frames_[id] = std::move(frame);
    deleted_frames_.erase(id);
    dirty(ref);
    return ref;
  }

  // Removes f and everything below it, with their tasks and timers.
  void remove_frame(Frame& f) {
    std::vector<Frame*> children;
    for (auto& [id, c] : frames_) {
      if (c->parent == &f) children.push_back(c.get());
    }
    for (Frame* c : children) remove_frame(*c);
    if (!f.token.empty()) cancelled_.push_back(f.token);
    forget_task(f);
    cancel_timer(f.timer_id);
    if (f.group.is_map || f.waiting == Waiting::Children) {
      delete_results(f.id);
      if (f.items_stored) deleted_frames_.insert(f.id + kItemsSuffix);
    }
    drop_saga(f);
    drop_branch_logs(f);
    deleted_frames_.insert(f.id);
    dirty_.erase(f.id);
    frames_.erase(f.id);
  }

  void dirty(Frame& f) { dirty_.insert(f.id); }

  // --- Timers -------------------------------------------------------------------------------

  std::string next_timer_id() { return "t" + std::to_string(++timer_seq_); }

  void set_timer(Frame& f, Micros due) {
    f.timer_id = next_timer_id();
    f.timer_due = due;
    by_timer_[f.timer_id] = &f;
    arm_timer(f.timer_id, due);
    dirty(f);
  }

  void arm_timer(const std::string& id, Micros due) {
    std::erase(write_.timers_delete, id);
    std::erase_if(write_.timers_put, [&](const TimerRecord& t) { return t.timer_id == id; });
    std::erase_if(armed_, [&](const TimerRecord& t) { return t.timer_id == id; });
    TimerRecord t{record_.arn, id, due, record_.partition};
    write_.timers_put.push_back(t);
    armed_.push_back(std::move(t));
  }

  void cancel_timer(const std::string& id) {
    if (id.empty()) return;
    by_timer_.erase(id);
    delete_timer_row(id);
  }

  // The write carries net changes: a row put and deleted within one step is neither.
  void delete_timer_row(const std::string& id) {
    std::erase_if(write_.timers_put, [&](const TimerRecord& t) { return t.timer_id == id; });
    std::erase_if(armed_, [&](const TimerRecord& t) { return t.timer_id == id; });
    write_.timers_delete.push_back(id);
  }

  void delete_results(const std::string& frame_id) {
    std::erase_if(write_.map_results_put,
                  [&](const MapResultRecord& r) { return r.frame_id == frame_id; });
    write_.map_results_delete.push_back(frame_id);
  }

  // --- History ------------------------------------------------------------------------------

  template <typename Fill>
  long long event(Frame& f, const std::string& type, Fill&& fill) {
    Json details = Json::object();
    if constexpr (!std::is_same_v<std::decay_t<Fill>, std::nullptr_t>) fill(details);
    long long id = append_event(f.last_event_id, type, std::move(details));
    f.last_event_id = id;
    return id;
  }

  long long append_event(long long previous, const std::string& type, Json details) {
    const long long id = record_.last_event_id + 1;
    record_.last_event_id = id;
    write_.update.status = write_.update.status;  // unchanged; keeps the row's version moving
    if (!options_.record_history) return id;
    HistoryEvent e;
    e.id = id;
    e.previous_id = previous;
    e.timestamp = now_;
    e.type = type;
    e.details = details.empty() ? std::string() : details.dump();
    write_.events.push_back(std::move(e));
    return id;
  }

  // --- Persistence of frames ----------------------------------------------------------------

  Json save_frame(const Frame& f) const {
    Json d = Json::object();
    d["scope"] = f.scope->pointer;
    d["index"] = f.index;
    if (f.group_seq != 0) d["group_seq"] = f.group_seq;
    if (f.parent_group_seq != 0) d["parent_group_seq"] = f.parent_group_seq;
    if (f.state) d["state"] = f.state->name;
    d["waiting"] = waiting_name(f.waiting);
    const bool map_running = f.waiting == Waiting::Children && f.group.is_map;
    if (f.waiting != Waiting::None && !map_running) d["input"] = f.input;  // else: "#items"
    if (f.waiting == Waiting::Timer) d["then"] = f.then_output;
    if (!f.retry_attempts.empty()) d["retry_attempts"] = f.retry_attempts;
    d["retry_count"] = f.retry_count;
    d["entered_event_id"] = f.entered_event_id;
    d["entered_time"] = f.entered_time;
    d["last_event_id"] = f.last_event_id;
    if (!f.token.empty()) {
      d["token"] = f.token;
      d["task"] = {{"resource", f.task.resource}, {"payload", f.task.payload}};
      if (f.task.timeout_seconds) d["task"]["timeout_seconds"] = *f.task.timeout_seconds;
      if (f.task.heartbeat_seconds) d["task"]["heartbeat_seconds"] = *f.task.heartbeat_seconds;
      if (!f.task.state_name.empty()) d["task"]["state"] = f.task.state_name;
      if (f.task.started) d["task"]["started"] = true;
      d["task"]["scheduled"] = f.task.scheduled;
    }
    if (!f.timer_id.empty()) {
      d["timer"] = f.timer_id;
      d["timer_due"] = f.timer_due;
    }
    if (!f.heartbeat_timer_id.empty()) {
      d["heartbeat_timer"] = f.heartbeat_timer_id;
      d["heartbeat_due"] = f.heartbeat_due;
      d["heartbeat_seconds"] = f.heartbeat_seconds;
    }
    if (!f.vars.own().empty()) {
      Json vars = Json::object();
      for (const auto& [k, v] : f.vars.own()) vars[k] = v;
      d["vars"] = std::move(vars);
    }
    if (f.waiting == Waiting::Children) {
      const ChildGroup& g = f.group;
      Json group = {{"map", g.is_map},   {"total", g.total},         {"next", g.next},
                    {"active", g.active}, {"succeeded", g.succeeded}, {"failed", g.failed},
                    {"limit", g.limit}};
      if (!g.is_map) group["child_input"] = g.child_input;  // a Map's is in "#items"
      if (g.tolerated_count) group["tolerated_count"] = *g.tolerated_count;
      if (g.tolerated_percentage) group["tolerated_percentage"] = *g.tolerated_percentage;
      d["group"] = std::move(group);
    }
    if (f.parent == nullptr) {
      d["timer_seq"] = timer_seq_;
      d["states_entered"] = states_entered_;
      if (exec_timeout_due_ != 0) d["execution_timeout_due"] = exec_timeout_due_;
      if (!info_.role_arn.empty()) d["role_arn"] = info_.role_arn;
    }
    if (f.compensating) {
      d["compensation"] = {{"status", comp_.status},
                           {"event", comp_.event_type},
                           {"error", comp_.error.error},
                           {"cause", comp_.error.cause},
                           {"total", comp_.plan.size()},
                           {"cursor", comp_.cursor},
                           {"succeeded", comp_.succeeded},
                           {"failed", comp_.failed}};
    }
    return d;
  }

  Status load_frame(const std::string& id, const Json& d) {
    Frame* parent = nullptr;
    if (!id.empty()) {
      auto slash = id.rfind('/');
      std::string parent_id = slash == std::string::npos ? "" : id.substr(0, slash);
      auto it = frames_.find(parent_id);
      if (it == frames_.end()) {
        return Error{ErrorCode::Internal, "frame '" + id + "' has no parent frame"};
      }
      parent = it->second.get();
    }
    auto scope = scopes_.find(d.value("scope", std::string()));
    if (scope == scopes_.end()) {
      return Error{ErrorCode::Internal, "frame '" + id + "' names an unknown scope"};
    }
    Frame& f = add_frame(id, parent, scope->second, d.value("index", 0LL));
    dirty_.erase(id);
    if (d.contains("state")) {
      f.state = f.scope->find(d["state"].get<std::string>());
      if (f.state == nullptr) {
        return Error{ErrorCode::Internal, "frame '" + id + "' is at an unknown state"};
      }
    }
    f.waiting = waiting_from(d.value("waiting", std::string("none")));
    if (d.contains("input")) f.input = d["input"];
    if (d.contains("then")) f.then_output = d["then"];
    if (d.contains("retry_attempts")) f.retry_attempts = d["retry_attempts"].get<std::vector<int>>();
    f.retry_count = d.value("retry_count", 0);
    f.entered_event_id = d.value("entered_event_id", 0LL);
    f.group_seq = d.value("group_seq", 0LL);
    f.parent_group_seq = d.value("parent_group_seq", 0LL);
    f.entered_time = d.value("entered_time", Micros{0});
    f.last_event_id = d.value("last_event_id", 0LL);
    if (d.contains("token")) {
      f.token = d["token"].get<std::string>();
      const Json& t = d["task"];
      f.task.token = f.token;
      f.task.execution_arn = record_.arn;
      f.task.resource = t.value("resource", std::string());
      f.task.payload = t.value("payload", Json());
      if (t.contains("timeout_seconds")) f.task.timeout_seconds = t["timeout_seconds"].get<double>();
      if (t.contains("heartbeat_seconds")) {
        f.task.heartbeat_seconds = t["heartbeat_seconds"].get<double>();
      }
      f.task.state_name = t.value("state", std::string());
      f.task.started = t.value("started", false);
      f.task.scheduled = t.value("scheduled", Micros{0});
      f.task.trace_header = record_.trace_header;
      by_token_[f.token] = &f;
    }
    if (d.contains("timer")) {
      f.timer_id = d["timer"].get<std::string>();
      f.timer_due = d.value("timer_due", Micros{0});
      by_timer_[f.timer_id] = &f;
    }
    if (d.contains("heartbeat_timer")) {
      f.heartbeat_timer_id = d["heartbeat_timer"].get<std::string>();
      f.heartbeat_due = d.value("heartbeat_due", Micros{0});
      f.heartbeat_seconds = d.value("heartbeat_seconds", 0.0);
      by_timer_[f.heartbeat_timer_id] = &f;
    }
    if (d.contains("vars")) {
      for (const auto& [k, v] : d["vars"].items()) f.vars.set(k, v);
    }
    if (d.contains("group")) {
      const Json& g = d["group"];
      ChildGroup& cg = f.group;
      cg.is_map = g.value("map", false);
      cg.total = g.value("total", 0LL);
      cg.next = g.value("next", 0LL);
      cg.active = g.value("active", 0LL);
      cg.succeeded = g.value("succeeded", 0LL);
      cg.failed = g.value("failed", 0LL);
      cg.limit = g.value("limit", 1LL);
      cg.child_input = g.value("child_input", Json());
      if (g.contains("tolerated_count")) cg.tolerated_count = g["tolerated_count"].get<long long>();
      if (g.contains("tolerated_percentage")) {
        cg.tolerated_percentage = g["tolerated_percentage"].get<double>();
      }
      cg.results.assign(static_cast<std::size_t>(cg.total), Json());
      cg.done.assign(static_cast<std::size_t>(cg.total), false);
    }
    if (parent == nullptr) {
      timer_seq_ = d.value("timer_seq", 0LL);
      states_entered_ = d.value("states_entered", 0LL);
      exec_timeout_due_ = d.value("execution_timeout_due", Micros{0});
      if (d.contains("role_arn")) info_.role_arn = d["role_arn"].get<std::string>();
      if (d.contains("compensation")) {
        const Json& c = d["compensation"];
        f.compensating = true;
        comp_.active = true;
        comp_.status = c.value("status", std::string("FAILED"));
        comp_.event_type = c.value("event", std::string("ExecutionFailed"));
        comp_.error = StatesError{c.value("error", std::string()), c.value("cause", std::string())};
        comp_.plan.assign(c.value("total", std::size_t{0}), Json());
        comp_.cursor = c.value("cursor", std::size_t{0});
        comp_.succeeded = c.value("succeeded", 0LL);
        comp_.failed = c.value("failed", 0LL);
      }
    }
    return Status();
  }

  void index_scopes(const Machine& m) {
    scopes_[m.pointer] = &m;
    for (const auto& s : m.states) {
      states_by_name_[s->name] = s.get();
      if (const auto* p = std::get_if<asl::ParallelState>(&s->body)) {
        for (const auto& b : p->branches) index_scopes(*b);
      } else if (const auto* map = std::get_if<asl::MapState>(&s->body)) {
        if (map->processor) index_scopes(*map->processor);
      }
    }
  }

  static std::string machine_name(const std::string& arn) {
    auto pos = arn.rfind(':');
    return pos == std::string::npos ? arn : arn.substr(pos + 1);
  }

  static std::string region_of(const std::string& arn) {
    // arn:aws:states:REGION:...
    std::size_t a = 0;
    for (int i = 0; i < 3; ++i) {
      a = arn.find(':', a);
      if (a == std::string::npos) return "";
      ++a;
    }
    auto b = arn.find(':', a);
    return b == std::string::npos ? "" : arn.substr(a, b - a);
  }

  std::shared_ptr<const Machine> machine_;
  ExecutionRecord record_;
  TokenFactory tokens_;
  asl::RandomSource* random_;
  CoreOptions options_;
  asl::ExecutionInfo info_;
  Micros now_ = 0;

  std::map<std::string, std::unique_ptr<Frame>> frames_;
  std::unordered_map<std::string, const Machine*> scopes_;
  std::unordered_map<std::string, const State*> states_by_name_;  // names are machine-wide
  CompensationPhase comp_;
  std::unordered_map<std::string, Frame*> by_token_;
  std::unordered_map<std::string, Frame*> by_timer_;
  std::set<std::string> dirty_;
  std::set<std::string> deleted_frames_;
  std::optional<FrameRecord> redrive_point_;
  // The root's Parallel or Map group that last failed (kept for the redrive point), and, in a
  // redriven execution, what that group had achieved (seeds it when the state is entered).
  std::optional<RedrivePrior> failed_group_;
  std::optional<RedrivePrior> redrive_prior_;
  std::deque<Work> queue_;
  long long timer_seq_ = 0;
  long long states_entered_ = 0;
  Micros exec_timeout_due_ = 0;
  bool finished_ = false;

  ExecutionWrite write_;
  std::vector<TaskDispatch> dispatch_;
  std::vector<TimerRecord> armed_;
  std::vector<std::string> cancelled_;
  std::vector<std::string> timed_out_;
  std::vector<std::pair<std::string, Micros>> task_latencies_;
};

// --- ExecutionCore ------------------------------------------------------------------------

ExecutionCore::ExecutionCore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ExecutionCore::~ExecutionCore() = default;

std::unique_ptr<ExecutionCore> ExecutionCore::start(std::shared_ptr<const Machine> machine,
                                                    ExecutionRecord record, Micros now,
                                                    TokenFactory tokens,
                                                    asl::RandomSource* random,
                                                    const CoreOptions& options) {
  assert(record.status == "RUNNING");
  auto impl = std::make_unique<Impl>(std::move(machine), std::move(record), std::move(tokens),
                                     random, options);
  impl->start(now);
  return std::unique_ptr<ExecutionCore>(new ExecutionCore(std::move(impl)));
}

Result<std::unique_ptr<ExecutionCore>> ExecutionCore::restore(
    std::shared_ptr<const Machine> machine, ExecutionRecord record,
    const std::vector<FrameRecord>& frames, const std::vector<MapResultRecord>& map_results,
    TokenFactory tokens, asl::RandomSource* random, const CoreOptions& options) {
  auto impl = std::make_unique<Impl>(std::move(machine), std::move(record), std::move(tokens),
                                     random, options);
  if (Status s = impl->restore(frames, map_results); !s.ok()) return s.error();
  return std::unique_ptr<ExecutionCore>(new ExecutionCore(std::move(impl)));
}

Result<std::unique_ptr<ExecutionCore>> ExecutionCore::redrive(
    std::shared_ptr<const Machine> machine, ExecutionRecord record, const Json& redrive_point,
    const std::vector<MapResultRecord>& map_results, Json input, Micros now, TokenFactory tokens,
    asl::RandomSource* random, const CoreOptions& options) {
  auto impl = std::make_unique<Impl>(std::move(machine), std::move(record), std::move(tokens),
                                     random, options);
  if (Status s = impl->redrive(redrive_point, map_results, std::move(input), now); !s.ok()) {
    return s.error();
  }
  return std::unique_ptr<ExecutionCore>(new ExecutionCore(std::move(impl)));
}

bool ExecutionCore::deliver_task(const std::string& token, asl::Outcome outcome, Micros now) {
  return impl_->deliver_task(token, std::move(outcome), now);
}
bool ExecutionCore::deliver_timer(const std::string& timer_id, Micros now) {
  return impl_->deliver_timer(timer_id, now);
}
bool ExecutionCore::task_started(const std::string& token, const std::string& worker_name,
                                 Micros now) {
  return impl_->task_started(token, worker_name, now);
}

bool ExecutionCore::heartbeat(const std::string& token, Micros now) {
  return impl_->heartbeat(token, now);
}
void ExecutionCore::stop(const std::string& error, const std::string& cause, Micros now) {
  impl_->stop(error, cause, now);
}
StepOutput ExecutionCore::take_output() { return impl_->take_output(); }
const ExecutionRecord& ExecutionCore::record() const { return impl_->record(); }
bool ExecutionCore::finished() const { return impl_->finished(); }
std::vector<TaskDispatch> ExecutionCore::pending_tasks() const { return impl_->pending_tasks(); }
std::vector<TimerRecord> ExecutionCore::pending_timers() const { return impl_->pending_timers(); }
long long ExecutionCore::states_entered() const { return impl_->states_entered(); }
std::size_t ExecutionCore::frame_count() const { return impl_->frame_count(); }

}  // namespace stepd::engine
