#include "engine/local_runner.hpp"

#include "asl/choice/timestamp.hpp"
#include "asl/step.hpp"
#include "engine/dispatch/invocation.hpp"
#include "engine/task_resource.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <cassert>
#include <cctype>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <string_view>
#include <utility>

namespace stepd::engine {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

using asl::Effect;
using asl::Failure;
using asl::Outcome;
using asl::RetryAfter;
using asl::RunBranches;
using asl::RunItems;
using asl::RunTask;
using asl::State;
using asl::StatesError;
using asl::TimePoint;
using asl::Transition;
using asl::WaitEffect;
using std::chrono::microseconds;

TimePoint system_now() {
  return std::chrono::time_point_cast<microseconds>(std::chrono::system_clock::now());
}

std::string make_uuid(asl::RandomSource& random) {
  std::uint64_t hi = random.next_u64();
  std::uint64_t lo = random.next_u64();
  hi = (hi & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 15; i >= 0; --i) {
    std::uint64_t word = i >= 8 ? hi : lo;
    int shift = (i % 8) * 8;
    unsigned byte = static_cast<unsigned>((word >> shift) & 0xFF);
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xF]);
    std::size_t n = out.size();
    if (n == 8 || n == 13 || n == 18 || n == 23) out.push_back('-');
  }
  return out;
}

Json text_details(const Json& value) { return asl::dump_compact(value); }

// ---------------------------------------------------------------------------------------------
// Timers: real (steady_timer) or virtual (a heap the run loop pops when nothing else can run).

struct PendingTimer {
  bool cancelled = false;
  std::function<void()> fn;
  std::optional<asio::steady_timer> timer;  // real time only

  void cancel() {
    cancelled = true;
    fn = nullptr;
    if (timer) timer->cancel();
  }
};

struct VirtualEntry {
  TimePoint at;
  std::uint64_t seq;
  std::shared_ptr<PendingTimer> timer;
  bool operator>(const VirtualEntry& o) const { return at != o.at ? at > o.at : seq > o.seq; }
};

// ---------------------------------------------------------------------------------------------
// HTTP calls to Lambda-style functions.

struct HttpResult {
  std::optional<HttpAnswer> reply;
  std::optional<TransportFailure> failure;  // when no reply
  bool timed_out = false;
};

struct HttpCall {
  explicit HttpCall(asio::io_context& io) : stream(io) {}
  beast::tcp_stream stream;
  bool cancelled = false;

  void cancel() {
    cancelled = true;
    beast::error_code ec;
    stream.socket().close(ec);
  }
};

asio::awaitable<HttpResult> http_post(
    std::shared_ptr<HttpCall> call, HttpUrl url, std::string body,
    std::optional<std::chrono::steady_clock::time_point> deadline) {
  HttpResult result;
  auto tuple = asio::as_tuple(asio::use_awaitable);
  auto arm = [&] {
    if (deadline) {
      call->stream.expires_at(*deadline);
    } else {
      call->stream.expires_never();
    }
  };
  auto failed = [&](const beast::error_code& ec, TransportFailure::Stage stage) {
    if (ec == beast::error::timeout) {
      result.timed_out = true;
    } else {
      result.failure = TransportFailure{stage, ec.message()};
    }
  };

  tcp::resolver resolver(call->stream.get_executor());
  auto [rec, endpoints] = co_await resolver.async_resolve(url.host, url.port, tuple);
  if (call->cancelled) co_return result;
  if (rec) {
    failed(rec, TransportFailure::Stage::Resolve);
    co_return result;
  }
  arm();
  auto [cec, ep] = co_await call->stream.async_connect(endpoints, tuple);
  (void)ep;
  if (call->cancelled) co_return result;
  if (cec) {
    failed(cec, TransportFailure::Stage::Connect);
    co_return result;
  }

  http::request<http::string_body> req{http::verb::post, url.target, 11};
  req.set(http::field::host, url.host);
  req.set(http::field::content_type, "application/json");
  req.set(http::field::user_agent, "stepd-local-runner");
  req.body() = std::move(body);
  req.prepare_payload();
  arm();
  auto [wec, written] = co_await http::async_write(call->stream, req, tuple);
  (void)written;
  if (call->cancelled) co_return result;
  if (wec) {
    failed(wec, TransportFailure::Stage::Send);
    co_return result;
  }

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  arm();
  auto [rdec, read] = co_await http::async_read(call->stream, buffer, parser, tuple);
  (void)read;
  if (call->cancelled) co_return result;
  if (rdec) {
    failed(rdec, TransportFailure::Stage::Receive);
    co_return result;
  }
  auto& res = parser.get();
  HttpAnswer reply;
  reply.status = res.result_int();
  reply.reason = std::string(res.reason());
  for (const auto& field : res) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
  reply.body = std::move(res.body());
  result.reply = std::move(reply);
  beast::error_code ignored;
  call->stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  co_return result;
}

// ---------------------------------------------------------------------------------------------

class Runner;
class Group;

// Event ids of one history. A DISTRIBUTED Map iteration is a child execution: it numbers its
// own events (they are not recorded) so that causes cite the ids AWS would.
struct EventLog {
  long long next_id = 1;
  std::vector<Json>* sink = nullptr;  // null: count ids only
};

// Runs one scope (the execution, a Parallel branch, a Map iteration) state after state.
class ScopeRun : public std::enable_shared_from_this<ScopeRun> {
 public:
  using Done = std::function<void(Outcome)>;

  ScopeRun(Runner& runner, const asl::Machine& machine, std::shared_ptr<ScopeRun> parent,
           EventLog* log, long long previous_event, Done done)
      : runner_(runner),
        machine_(machine),
        parent_(std::move(parent)),
        log_(log),
        last_event_(previous_event),
        done_(std::move(done)),
        vars_(parent_ ? &parent_->vars_ : nullptr) {}

  // Own event numbering (a child execution): ExecutionStarted counts as event 1.
  void use_own_log() {
    own_log_ = std::make_unique<EventLog>();
    own_log_->next_id = 2;
    log_ = own_log_.get();
    last_event_ = 0;
  }

  void start(Json input);
  void cancel();
  bool cancelled() const { return cancelled_; }
  long long last_event() const { return last_event_; }
  EventLog* log() const { return log_; }
  const State& current_state() const { return *state_; }

  asl::StepContext ctx();

  // The work a RunTask / RunBranches / RunItems effect asked for is done.
  void work_done(Outcome outcome);

  // Records an event in this scope's history; `fill` adds the details (only when recording).
  template <typename F>
  long long event(std::string_view type_a, std::string_view type_b, F&& fill);
  long long event(std::string_view type) {
    return event(type, "", [](Json&) {});
  }

 private:
  friend class Group;
  friend class Runner;

  Effect enter(const State& state, Json input);
  void drive(Effect effect);
  void resume(Effect effect);
  void finish(Outcome outcome);
  // Each returns true when the effect completed synchronously and `effect` holds the next one.
  bool run_task(Effect& effect);
  void on_task_result(Outcome outcome, const std::string& resource, ResourceKind kind,
                      bool timed_out);
  void on_timer();

  Runner& runner_;
  const asl::Machine& machine_;
  std::shared_ptr<ScopeRun> parent_;
  std::unique_ptr<EventLog> own_log_;
  EventLog* log_;
  long long last_event_;
  Done done_;
  asl::VariableScope vars_;

  const State* state_ = nullptr;
  long long entered_event_id_ = 0;
  TimePoint entered_time_{};
  int retry_count_ = 0;
  std::vector<int> retry_attempts_;

  bool in_drive_ = false;
  bool cancelled_ = false;
  bool finished_ = false;
  std::optional<Effect> resumed_;  // completed synchronously while driving
  Effect pending_;                 // what a timer performs when it fires
  Json work_input_;                // the state input a RunTask / RunBranches / RunItems carried
  std::shared_ptr<PendingTimer> timer_;
  std::shared_ptr<HttpCall> call_;
  std::shared_ptr<Group> group_;
};

// Runs the branches of a Parallel state or the iterations of a Map state.
class Group : public std::enable_shared_from_this<Group> {
 public:
  Group(std::shared_ptr<ScopeRun> owner, const State& state)
      : owner_(std::move(owner)), state_(state) {}

  void start_branches(RunBranches run);
  void start_items(RunItems run);
  void cancel();

 private:
  void pump();
  void start_child(std::size_t index);
  void child_done(std::size_t index, Outcome outcome);
  void fail(StatesError error);
  void succeed();
  bool tolerance_mode() const;

  std::shared_ptr<ScopeRun> owner_;
  const State& state_;
  bool is_map_ = false;
  bool distributed_ = false;
  RunItems items_;
  Json branch_input_;
  std::size_t total_ = 0;
  std::size_t next_ = 0;
  std::size_t running_ = 0;
  std::size_t done_ = 0;
  std::size_t failed_ = 0;
  long long max_concurrency_ = 0;
  bool launching_ = false;
  bool finished_ = false;
  std::vector<Json> results_;
  std::vector<std::shared_ptr<ScopeRun>> children_;
};

class Runner {
 public:
  Runner(const asl::Machine& machine, const LocalRunOptions& options)
      : machine_(machine), options_(options) {
    if (options.seed) {
      random_ = std::make_unique<asl::SplitMixRandom>(*options.seed);
    } else {
      std::random_device rd;
      random_ =
          std::make_unique<asl::SplitMixRandom>((static_cast<std::uint64_t>(rd()) << 32) ^ rd());
    }
    virtual_now_ = options.start_time ? *options.start_time : system_now();
    log_.sink = options.record_history ? &result_.history : nullptr;
  }

  LocalRunResult run(const Json& input);

  TimePoint now() const { return options_.virtual_time ? virtual_now_ : system_now(); }
  const LocalRunOptions& options() const { return options_; }
  asio::io_context& io() { return io_; }
  asl::RandomSource& random() { return *random_; }
  const asl::ExecutionInfo& execution() const { return execution_; }
  void count_state() { ++result_.states_entered; }
  std::string new_uuid() { return make_uuid(*random_); }

  std::shared_ptr<PendingTimer> schedule(TimePoint until, std::function<void()> fn);
  void root_done(Outcome outcome);

 private:
  void timed_out();
  void end() {
    done_ = true;
    result_.end_time = now();
    io_.stop();
  }

  const asl::Machine& machine_;
  const LocalRunOptions& options_;
  asio::io_context io_{1};
  std::unique_ptr<asl::RandomSource> random_;
  TimePoint virtual_now_{};
  std::uint64_t timer_seq_ = 0;
  std::priority_queue<VirtualEntry, std::vector<VirtualEntry>, std::greater<>> virtual_timers_;
  asl::ExecutionInfo execution_;
  LocalRunResult result_;
  EventLog log_;
  std::shared_ptr<ScopeRun> root_;
  std::shared_ptr<PendingTimer> execution_timeout_;
  bool done_ = false;
};

// ---------------------------------------------------------------------------------------------
// ScopeRun

template <typename F>
long long ScopeRun::event(std::string_view type_a, std::string_view type_b, F&& fill) {
  long long id = log_->next_id++;
  if (log_->sink != nullptr) {
    Json e = Json::object();
    e["id"] = id;
    e["previousEventId"] = last_event_;
    e["timestamp"] = asl::format_timestamp(runner_.now());
    std::string type(type_a);
    type += type_b;
    e["type"] = std::move(type);
    fill(e);
    log_->sink->push_back(std::move(e));
  }
  last_event_ = id;
  return id;
}

asl::StepContext ScopeRun::ctx() {
  asl::StepContext c;
  c.execution = &runner_.execution();
  c.now = runner_.now();
  c.entered_time = entered_time_;
  c.entered_event_id = entered_event_id_;
  c.retry_count = retry_count_;
  c.retry_attempts = &retry_attempts_;
  c.variables = &vars_;
  c.random = &runner_.random();
  return c;
}

void ScopeRun::start(Json input) { drive(enter(*machine_.start, std::move(input))); }

Effect ScopeRun::enter(const State& state, Json input) {
  state_ = &state;
  runner_.count_state();
  retry_count_ = 0;
  retry_attempts_.assign(state.common.retry.size(), 0);
  entered_time_ = runner_.now();
  entered_event_id_ = event(asl::type_name(state.type), "StateEntered", [&](Json& e) {
    e["stateEnteredEventDetails"] = {{"name", state.name},
                                     {"input", text_details(input)},
                                     {"inputDetails", {{"truncated", false}}}};
  });
  return asl::enter_state(state, std::move(input), ctx());
}

void ScopeRun::resume(Effect effect) {
  if (finished_ || cancelled_) return;
  if (in_drive_) {
    resumed_ = std::move(effect);
    return;
  }
  drive(std::move(effect));
}

void ScopeRun::drive(Effect effect) {
  if (finished_ || cancelled_) return;
  auto self = shared_from_this();
  in_drive_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{in_drive_};
  // Suspends when work is pending; continues at once when the work completed synchronously.
  auto suspend = [&]() -> bool {
    if (!resumed_) return true;
    effect = std::move(*resumed_);
    resumed_.reset();
    return false;
  };

  for (;;) {
    if (cancelled_ || finished_) return;
    if (auto* t = std::get_if<Transition>(&effect)) {
      const State& from = *state_;
      event(asl::type_name(from.type), "StateExited", [&](Json& e) {
        e["stateExitedEventDetails"] = {{"name", from.name},
                                        {"output", text_details(t->output)},
                                        {"outputDetails", {{"truncated", false}}}};
      });
      if (t->next == nullptr) {
        finish(Outcome(std::move(t->output)));
        return;
      }
      const State& next = *t->next;
      effect = enter(next, std::move(t->output));
      continue;
    }
    if (auto* f = std::get_if<Failure>(&effect)) {
      finish(Outcome(std::move(f->error)));
      return;
    }
    if (auto* w = std::get_if<WaitEffect>(&effect)) {
      if (w->until <= runner_.now()) {
        effect = Effect(std::move(w->then));
        continue;
      }
      TimePoint until = w->until;
      pending_ = Effect(std::move(w->then));
      timer_ = runner_.schedule(until, [self] { self->on_timer(); });
      return;
    }
    if (auto* r = std::get_if<RetryAfter>(&effect)) {
      if (r->delay.count() <= 0) {
        ++retry_count_;
        effect = asl::enter_state(*state_, std::move(r->state_input), ctx());
        continue;
      }
      TimePoint until = runner_.now() + r->delay;
      pending_ = std::move(effect);
      timer_ = runner_.schedule(until, [self] { self->on_timer(); });
      return;
    }
    if (std::holds_alternative<RunTask>(effect)) {
      if (run_task(effect)) continue;
      return;
    }
    if (auto* b = std::get_if<RunBranches>(&effect)) {
      work_input_ = std::move(b->state_input);
      event("ParallelStateStarted");
      group_ = std::make_shared<Group>(self, *state_);
      auto group = group_;
      group->start_branches(std::move(*b));
      if (suspend()) return;
      continue;
    }
    if (auto* m = std::get_if<RunItems>(&effect)) {
      work_input_ = std::move(m->state_input);
      group_ = std::make_shared<Group>(self, *state_);
      auto group = group_;
      group->start_items(std::move(*m));
      if (suspend()) return;
      continue;
    }
    assert(false && "unknown effect");
    return;
  }
}

void ScopeRun::on_timer() {
  timer_.reset();
  if (finished_ || cancelled_) return;
  Effect effect = std::move(pending_);
  pending_ = Effect();
  if (auto* r = std::get_if<RetryAfter>(&effect)) {
    ++retry_count_;
    Json input = std::move(r->state_input);
    drive(asl::enter_state(*state_, std::move(input), ctx()));
    return;
  }
  drive(std::move(effect));
}

void ScopeRun::work_done(Outcome outcome) {
  if (finished_ || cancelled_) return;
  auto self = shared_from_this();
  group_.reset();
  Json input = std::move(work_input_);
  work_input_ = Json();
  resume(asl::complete_state(*state_, std::move(input), std::move(outcome), ctx()));
}

void ScopeRun::finish(Outcome outcome) {
  if (finished_) return;
  finished_ = true;
  auto self = shared_from_this();
  Done done = std::move(done_);
  done_ = nullptr;
  if (done) done(std::move(outcome));
}

void ScopeRun::cancel() {
  if (finished_ || cancelled_) return;
  cancelled_ = true;
  done_ = nullptr;
  if (timer_) {
    timer_->cancel();
    timer_.reset();
  }
  if (call_) {
    call_->cancel();
    call_.reset();
  }
  if (group_) {
    auto group = std::move(group_);
    group->cancel();
  }
}

// Tasks ---------------------------------------------------------------------------------------

namespace {

StatesError task_error(std::string cause) {
  return StatesError{std::string(asl::errors::kTaskFailed), std::move(cause)};
}

}  // namespace

bool ScopeRun::run_task(Effect& effect) {
  RunTask task = std::move(std::get<RunTask>(effect));
  work_input_ = std::move(task.state_input);
  const std::string& resource = task.resource;
  ResourceKind kind = classify_resource(resource);
  ServiceResource names = service_resource(resource);
  const std::string& region = runner_.options().region;

  // Scheduled / Started, as AWS records them.
  if (kind == ResourceKind::LambdaFunction) {
    event("LambdaFunctionScheduled", "", [&](Json& e) {
      Json d = {{"resource", resource},
                {"input", text_details(task.payload)},
                {"inputDetails", {{"truncated", false}}}};
      if (task.timeout_seconds) d["timeoutInSeconds"] = std::llround(*task.timeout_seconds);
      e["lambdaFunctionScheduledEventDetails"] = std::move(d);
    });
    event("LambdaFunctionStarted");
  } else {
    event("TaskScheduled", "", [&](Json& e) {
      Json d = {{"resourceType", names.resource_type},
                {"resource", names.resource},
                {"region", region},
                {"parameters", text_details(task.payload)}};
      if (task.timeout_seconds) d["timeoutInSeconds"] = std::llround(*task.timeout_seconds);
      if (task.heartbeat_seconds) d["heartbeatInSeconds"] = std::llround(*task.heartbeat_seconds);
      e["taskScheduledEventDetails"] = std::move(d);
    });
    event("TaskStarted", "", [&](Json& e) {
      e["taskStartedEventDetails"] = {{"resourceType", names.resource_type},
                                      {"resource", names.resource}};
    });
  }

  auto sync_done = [&](Outcome outcome, bool timed_out = false) {
    on_task_result(std::move(outcome), resource, kind, timed_out);
    if (resumed_) {
      effect = std::move(*resumed_);
      resumed_.reset();
      return true;
    }
    return false;
  };

  const LocalRunOptions& options = runner_.options();
  if (options.task_handler) {
    std::variant<Json, StatesError> r;
    try {
      r = options.task_handler(resource, task.payload);
    } catch (const std::exception& ex) {
      r = task_error(std::string("The task handler threw: ") + ex.what());
    }
    Outcome outcome = std::holds_alternative<Json>(r)
                          ? Outcome(std::move(std::get<Json>(r)))
                          : Outcome(std::move(std::get<StatesError>(r)));
    return sync_done(std::move(outcome));
  }

  // Which function, and what to send it.
  if (kind != ResourceKind::LambdaFunction && kind != ResourceKind::LambdaInvoke) {
    return sync_done(task_error("The resource '" + resource +
                                "' cannot run locally: only Lambda functions "
                                "(arn:aws:lambda:...:function:NAME and "
                                "arn:aws:states:::lambda:invoke) are served, through --function "
                                "NAME=URL"));
  }
  auto which = function_call(kind, resource, task.payload);
  if (auto* error = std::get_if<StatesError>(&which)) return sync_done(std::move(*error));
  FunctionCall& fn = std::get<FunctionCall>(which);
  const std::string& function_text = fn.function_text;
  Json body = std::move(fn.payload);
  const auto& ref = fn.ref;
  const std::string* url = nullptr;
  if (ref) {
    auto find = [&](const std::string& key) {
      auto it = options.functions.find(key);
      if (it != options.functions.end() && url == nullptr) url = &it->second;
    };
    if (!ref->qualifier.empty()) find(ref->name + ":" + ref->qualifier);
    find(ref->name);
  }
  if (url == nullptr) {
    auto it = options.functions.find(function_text);
    if (it != options.functions.end()) url = &it->second;
  }
  if (url == nullptr) {
    std::string name = ref ? ref->name : function_text;
    // AWS: calling a function that does not exist fails with Lambda.ResourceNotFoundException.
    return sync_done(StatesError{"Lambda.ResourceNotFoundException",
                                 "No URL is registered for the Lambda function '" + name +
                                     "' (register one with --function " + name + "=URL)"});
  }
  std::string why;
  auto parsed = parse_http_url(*url, &why);
  if (!parsed) {
    return sync_done(
        task_error("The URL '" + *url + "' registered for the function cannot be used: " + why));
  }

  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (task.timeout_seconds && *task.timeout_seconds > 0 && *task.timeout_seconds < 1e8) {
    deadline = std::chrono::steady_clock::now() +
               std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                   std::chrono::duration<double>(*task.timeout_seconds));
  }
  auto call = std::make_shared<HttpCall>(runner_.io());
  call_ = call;
  auto self = shared_from_this();
  std::string url_text = *url;
  std::string endpoint = "http://" + parsed->host + ":" + parsed->port + parsed->target;
  std::string res = resource;
  asio::co_spawn(
      runner_.io(), http_post(call, *parsed, asl::dump_compact(body), deadline),
      [self, call, url_text, endpoint, res, kind, this](std::exception_ptr ep, HttpResult r) {
        if (call->cancelled || cancelled_ || finished_) return;
        call_.reset();
        if (ep) {
          try {
            std::rethrow_exception(ep);
          } catch (const std::exception& ex) {
            on_task_result(task_error("The call to " + url_text + " failed: " + ex.what()), res,
                           kind, false);
          }
          return;
        }
        if (r.timed_out) {
          on_task_result(StatesError{std::string(asl::errors::kTimeout), ""}, res, kind, true);
          return;
        }
        if (!r.reply) {
          TransportFailure failure =
              r.failure.value_or(TransportFailure{TransportFailure::Stage::Receive, "no answer"});
          on_task_result(transport_error(failure, endpoint, FailureNames::TaskFailed), res, kind,
                         false);
          return;
        }
        // AWS: lambda:invoke returns the invocation response with the payload inside.
        Outcome outcome = function_outcome(*r.reply, url_text, kind, FailureNames::TaskFailed,
                                           [this] { return runner_.new_uuid(); });
        on_task_result(std::move(outcome), res, kind, false);
      });
  return false;
}

void ScopeRun::on_task_result(Outcome outcome, const std::string& resource, ResourceKind kind,
                              bool timed_out) {
  if (kind == ResourceKind::LambdaFunction) {
    if (auto* j = std::get_if<Json>(&outcome)) {
      event("LambdaFunctionSucceeded", "", [&](Json& e) {
        e["lambdaFunctionSucceededEventDetails"] = {{"output", text_details(*j)},
                                                    {"outputDetails", {{"truncated", false}}}};
      });
    } else {
      const auto& err = std::get<StatesError>(outcome);
      event(timed_out ? "LambdaFunctionTimedOut" : "LambdaFunctionFailed", "", [&](Json& e) {
        Json d = Json::object();
        if (!err.error.empty()) d["error"] = err.error;
        if (!err.cause.empty()) d["cause"] = err.cause;
        e[timed_out ? "lambdaFunctionTimedOutEventDetails" : "lambdaFunctionFailedEventDetails"] =
            std::move(d);
      });
    }
  } else {
    ServiceResource names = service_resource(resource);
    if (auto* j = std::get_if<Json>(&outcome)) {
      event("TaskSucceeded", "", [&](Json& e) {
        e["taskSucceededEventDetails"] = {{"resourceType", names.resource_type},
                                          {"resource", names.resource},
                                          {"output", text_details(*j)},
                                          {"outputDetails", {{"truncated", false}}}};
      });
    } else {
      const auto& err = std::get<StatesError>(outcome);
      event(timed_out ? "TaskTimedOut" : "TaskFailed", "", [&](Json& e) {
        Json d = {{"resourceType", names.resource_type}, {"resource", names.resource}};
        if (!err.error.empty()) d["error"] = err.error;
        if (!err.cause.empty()) d["cause"] = err.cause;
        e[timed_out ? "taskTimedOutEventDetails" : "taskFailedEventDetails"] = std::move(d);
      });
    }
  }
  work_done(std::move(outcome));
}

// Group ---------------------------------------------------------------------------------------

bool Group::tolerance_mode() const {
  return distributed_ || items_.tolerated_failure_count || items_.tolerated_failure_percentage;
}

void Group::start_branches(RunBranches run) {
  const auto& parallel = std::get<asl::ParallelState>(state_.body);
  branch_input_ = std::move(run.branch_input);
  total_ = parallel.branches.size();
  results_.assign(total_, Json());
  children_.assign(total_, nullptr);
  pump();
}

void Group::start_items(RunItems run) {
  const auto& map = std::get<asl::MapState>(state_.body);
  is_map_ = true;
  distributed_ = map.mode == asl::MapMode::Distributed;
  items_ = std::move(run);
  total_ = items_.items.is_array() ? items_.items.size() : 0;
  max_concurrency_ = items_.max_concurrency;
  results_.assign(total_, Json());
  children_.assign(total_, nullptr);
  std::size_t length = total_;
  owner_->event("MapStateStarted", "", [&](Json& e) {
    e["mapStateStartedEventDetails"] = {{"length", length}};
  });
  if (distributed_) {
    Runner& runner = owner_->runner_;
    const auto& x = runner.execution();
    std::string label = map.label.empty() ? state_.name : map.label;
    std::string arn = "arn:aws:states:" + runner.options().region + ":" + runner.options().account +
                      ":mapRun:" + x.state_machine_name + "/" + label + ":" + runner.new_uuid();
    owner_->event("MapRunStarted", "", [&](Json& e) {
      e["mapRunStartedEventDetails"] = {{"mapRunArn", arn}};
    });
  }
  pump();
}

void Group::pump() {
  if (launching_ || finished_) return;
  auto self = shared_from_this();
  launching_ = true;
  while (!finished_ && next_ < total_ &&
         (max_concurrency_ <= 0 || running_ < static_cast<std::size_t>(max_concurrency_))) {
    std::size_t index = next_++;
    ++running_;
    start_child(index);
  }
  launching_ = false;
  if (!finished_ && done_ == total_) succeed();
}

void Group::start_child(std::size_t index) {
  auto self = shared_from_this();
  Json input;
  const asl::Machine* machine = nullptr;
  if (is_map_) {
    const auto& map = std::get<asl::MapState>(state_.body);
    machine = map.processor.get();
    try {
      input = asl::map_item_input(state_, items_, index, owner_->ctx());
    } catch (const asl::StatesException& ex) {
      --running_;
      fail(ex.error());
      return;
    }
  } else {
    const auto& parallel = std::get<asl::ParallelState>(state_.body);
    machine = parallel.branches[index].get();
    input = branch_input_;
  }
  long long previous = owner_->last_event();
  if (is_map_ && !distributed_) {
    previous = owner_->event("MapIterationStarted", "", [&](Json& e) {
      e["mapIterationStartedEventDetails"] = {{"name", state_.name}, {"index", index}};
    });
  }
  auto child = std::make_shared<ScopeRun>(
      owner_->runner_, *machine, owner_, owner_->log(), previous,
      [self, index](Outcome outcome) { self->child_done(index, std::move(outcome)); });
  if (distributed_) child->use_own_log();
  children_[index] = child;
  child->start(std::move(input));
}

void Group::child_done(std::size_t index, Outcome outcome) {
  if (finished_) return;
  auto self = shared_from_this();
  std::shared_ptr<ScopeRun> child = std::move(children_[index]);
  --running_;
  ++done_;
  bool ok = std::holds_alternative<Json>(outcome);
  if (is_map_ && !distributed_) {
    owner_->event(ok ? "MapIterationSucceeded" : "MapIterationFailed", "", [&](Json& e) {
      e[ok ? "mapIterationSucceededEventDetails" : "mapIterationFailedEventDetails"] = {
          {"name", state_.name}, {"index", index}};
    });
  }
  if (ok) {
    results_[index] = std::move(std::get<Json>(outcome));
  } else {
    StatesError& error = std::get<StatesError>(outcome);
    if (is_map_ && tolerance_mode()) {
      ++failed_;
      if (asl::exceeds_tolerated_failures(items_, failed_, total_)) {
        // AWS: the Map Run fails as a whole once its tolerance is exceeded.
        fail(StatesError{std::string(asl::errors::kExceedToleratedFailureThreshold),
                         "The specified tolerated failure threshold was exceeded"});
        return;
      }
      Json failed = Json::object();
      if (!error.error.empty()) failed["Error"] = error.error;
      if (!error.cause.empty()) failed["Cause"] = error.cause;
      results_[index] = std::move(failed);
    } else {
      fail(std::move(error));
      return;
    }
  }
  pump();
}

void Group::cancel() {
  if (finished_) return;
  finished_ = true;
  auto self = shared_from_this();
  for (std::size_t i = 0; i < children_.size(); ++i) {
    std::shared_ptr<ScopeRun> child = std::move(children_[i]);
    if (!child) continue;
    child->cancel();
    if (is_map_ && !distributed_) {
      owner_->event("MapIterationAborted", "", [&](Json& e) {
        e["mapIterationAbortedEventDetails"] = {{"name", state_.name}, {"index", i}};
      });
    }
  }
  children_.clear();
}

void Group::fail(StatesError error) {
  if (finished_) return;
  auto self = shared_from_this();
  cancel();  // stop the siblings
  if (is_map_) {
    if (distributed_) {
      owner_->event("MapRunFailed", "", [&](Json& e) {
        Json d = Json::object();
        if (!error.error.empty()) d["error"] = error.error;
        if (!error.cause.empty()) d["cause"] = error.cause;
        e["mapRunFailedEventDetails"] = std::move(d);
      });
    }
    owner_->event("MapStateFailed");
  } else {
    owner_->event("ParallelStateFailed");
  }
  owner_->work_done(Outcome(std::move(error)));
}

void Group::succeed() {
  finished_ = true;
  auto self = shared_from_this();
  Json out = Json::array();
  for (Json& r : results_) out.push_back(std::move(r));
  results_.clear();
  if (is_map_) {
    if (distributed_) owner_->event("MapRunSucceeded");
    owner_->event("MapStateSucceeded");
  } else {
    owner_->event("ParallelStateSucceeded");
  }
  owner_->work_done(Outcome(std::move(out)));
}

// Runner --------------------------------------------------------------------------------------

std::shared_ptr<PendingTimer> Runner::schedule(TimePoint until, std::function<void()> fn) {
  auto timer = std::make_shared<PendingTimer>();
  timer->fn = std::move(fn);
  if (options_.virtual_time) {
    virtual_timers_.push(VirtualEntry{until, timer_seq_++, timer});
    return timer;
  }
  timer->timer.emplace(io_);
  timer->timer->expires_after(until - now());
  timer->timer->async_wait([timer](const boost::system::error_code& ec) {
    if (ec || timer->cancelled || !timer->fn) return;
    auto fn = std::move(timer->fn);
    timer->fn = nullptr;
    fn();
  });
  return timer;
}

void Runner::root_done(Outcome outcome) {
  if (done_) return;
  if (auto* out = std::get_if<Json>(&outcome)) {
    result_.status = "SUCCEEDED";
    root_->event("ExecutionSucceeded", "", [&](Json& e) {
      e["executionSucceededEventDetails"] = {{"output", text_details(*out)},
                                             {"outputDetails", {{"truncated", false}}}};
    });
    result_.output = std::move(*out);
  } else {
    auto& err = std::get<StatesError>(outcome);
    result_.status = "FAILED";
    root_->event("ExecutionFailed", "", [&](Json& e) {
      Json d = Json::object();
      if (!err.error.empty()) d["error"] = err.error;
      if (!err.cause.empty()) d["cause"] = err.cause;
      e["executionFailedEventDetails"] = std::move(d);
    });
    if (!err.error.empty()) result_.error = std::move(err.error);
    if (!err.cause.empty()) result_.cause = std::move(err.cause);
  }
  end();
}

void Runner::timed_out() {
  if (done_) return;
  result_.status = "TIMED_OUT";
  result_.error = std::string(asl::errors::kTimeout);
  root_->event("ExecutionTimedOut", "", [&](Json& e) {
    e["executionTimedOutEventDetails"] = {{"error", asl::errors::kTimeout}};
  });
  root_->cancel();
  end();
}

LocalRunResult Runner::run(const Json& input) {
  TimePoint start = now();
  result_.start_time = start;
  const LocalRunOptions& o = options_;
  execution_.name = o.execution_name.empty() ? new_uuid() : o.execution_name;
  execution_.state_machine_name = o.state_machine_name;
  execution_.state_machine_id =
      "arn:aws:states:" + o.region + ":" + o.account + ":stateMachine:" + o.state_machine_name;
  execution_.id = "arn:aws:states:" + o.region + ":" + o.account +
                  ":execution:" + o.state_machine_name + ":" + execution_.name;
  execution_.role_arn = "arn:aws:iam::" + o.account + ":role/stepd-local";
  execution_.start_time = start;
  execution_.input = input;

  // ExecutionStarted is event 1; AWS gives the first state's entry previousEventId 0.
  long long started = log_.next_id++;
  if (log_.sink != nullptr) {
    log_.sink->push_back({{"id", started},
                          {"previousEventId", 0},
                          {"timestamp", asl::format_timestamp(start)},
                          {"type", "ExecutionStarted"},
                          {"executionStartedEventDetails",
                           {{"input", text_details(input)},
                            {"inputDetails", {{"truncated", false}}},
                            {"roleArn", execution_.role_arn}}}});
  }

  root_ = std::make_shared<ScopeRun>(*this, machine_, nullptr, &log_, 0,
                                     [this](Outcome outcome) { root_done(std::move(outcome)); });
  if (machine_.timeout_seconds && *machine_.timeout_seconds > 0) {
    execution_timeout_ =
        schedule(start + std::chrono::seconds(*machine_.timeout_seconds), [this] { timed_out(); });
  }

  try {
    root_->start(input);
    while (!done_) {
      io_.run();
      if (done_) break;
      io_.restart();
      // Nothing can run: fire the earliest virtual timer.
      bool fired = false;
      while (!virtual_timers_.empty()) {
        VirtualEntry entry = virtual_timers_.top();
        virtual_timers_.pop();
        if (entry.timer->cancelled || !entry.timer->fn) continue;
        if (entry.at > virtual_now_) virtual_now_ = entry.at;
        auto fn = std::move(entry.timer->fn);
        entry.timer->fn = nullptr;
        fn();
        fired = true;
        break;
      }
      if (!fired && !done_) {
        // No work and no timer, yet the execution has not ended: a bug.
        result_.status = "FAILED";
        result_.error = std::string(asl::errors::kRuntime);
        result_.cause = "Internal error: the local runner stalled with no pending work";
        end();
      }
    }
  } catch (const std::exception& ex) {
    // Never user input: a bug in the runner or the step function. Report it as a failure.
    result_ = LocalRunResult{};
    result_.status = "FAILED";
    result_.error = std::string(asl::errors::kRuntime);
    result_.cause = std::string("Internal error in the local runner: ") + ex.what();
    result_.start_time = start;
    result_.end_time = now();
  }
  if (execution_timeout_) execution_timeout_->cancel();
  if (root_) root_->cancel();
  return std::move(result_);
}

}  // namespace

LocalRunResult run_local(const asl::Machine& machine, const Json& input,
                         const LocalRunOptions& options) {
  Runner runner(machine, options);
  return runner.run(input);
}

}  // namespace stepd::engine
