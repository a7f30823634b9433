#include "engine/dispatch/dispatcher.hpp"

#include "engine/ids.hpp"
#include "engine/task_resource.hpp"

#include <openssl/sha.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>

namespace stepd::engine {
namespace {

using asl::Json;

double epoch_millis(Micros t) { return static_cast<double>(t / 1000); }

// A child execution's name when the Task gives none: derived from the task's token, so a task
// dispatched again (after a restart) finds the execution it started the first time.
std::string child_name(const std::string& token) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(token.data()), token.size(), digest);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string h;
  for (int i = 0; i < 16; ++i) {
    h += kHex[digest[i] >> 4];
    h += kHex[digest[i] & 15];
  }
  return uuid_from_hex(h);
}

Json parse_or_text(const std::string& text) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? Json(text) : j;
}

// AWS: what states:startExecution.sync (JSON text Input/Output) and .sync:2 (JSON) return: the
// child's DescribeExecution.
Json describe_child(const ExecutionRecord& e, bool json_values) {
  Json d = Json::object();
  d["ExecutionArn"] = e.arn;
  d["StateMachineArn"] = e.machine_arn;
  d["Name"] = e.name;
  d["Status"] = e.status;
  d["StartDate"] = epoch_millis(e.start);
  if (e.stop) d["StopDate"] = epoch_millis(*e.stop);
  d["Input"] = json_values ? parse_or_text(e.input) : Json(e.input);
  d["InputDetails"] = {{"Included", true}};
  if (e.output) {
    d["Output"] = json_values ? parse_or_text(*e.output) : Json(*e.output);
    d["OutputDetails"] = {{"Included", true}};
  }
  if (e.error) d["Error"] = *e.error;
  if (e.cause) d["Cause"] = *e.cause;
  if (!e.trace_header.empty()) d["TraceHeader"] = e.trace_header;
  return d;
}

}  // namespace

class Dispatcher::Impl {
 public:
  Impl(Engine& engine, Registry& registry, const DispatcherOptions& options)
      : engine_(engine),
        registry_(registry),
        activities_(engine, options.activities),
        invoker_(registry, options.invoker) {
    if (options.routes_refresh.count() > 0) {
      refresher_ = std::thread([this, period = options.routes_refresh] { refresh_loop(period); });
    }
  }

  void dispatch(const TaskDispatch& task) {
    TaskTarget target = classify_task(task.resource);
    switch (target.kind) {
      case TaskTarget::Kind::Activity:
        activities_.push(task);
        return;
      case TaskTarget::Kind::StartExecution:
        start_child(task, target.pattern);
        return;
      case TaskTarget::Kind::LambdaFunction:
      case TaskTarget::Kind::LambdaInvoke:
      case TaskTarget::Kind::HttpInvoke:
      case TaskTarget::Kind::Service: {
        const bool callback = target.pattern == IntegrationPattern::WaitForTaskToken;
        const std::string token = task.token;
        invoker_.invoke(task, [this, token, callback](asl::Outcome outcome) {
          // .waitForTaskToken: a delivered call only hands the token on; the task ends with
          // SendTaskSuccess/Failure (or its time-outs).
          if (callback && std::holds_alternative<Json>(outcome)) return;
          complete(token, std::move(outcome));
        });
        return;
      }
      case TaskTarget::Kind::Unknown:
        break;
    }
    complete(task.token, asl::StatesError{std::string(asl::errors::kTaskFailed),
                                          "no dispatcher serves the resource " + task.resource});
  }

  void cancel(const std::string& token) {
    activities_.cancel(token);
    invoker_.cancel(token);
    std::string child;
    {
      std::lock_guard lock(mu_);
      auto it = children_.find(token);
      if (it == children_.end()) return;
      child = std::move(it->second);
      children_.erase(it);
    }
    // AWS: a parent that no longer waits (stopped, timed out) stops its .sync child.
    engine_.stop_execution_async(child, "States.Aborted",
                                 "the parent execution no longer waits for this execution",
                                 [](ApiResult<ExecutionRecord>) {});
  }

  asl::ResourceSupport resource_support() {
    asl::ResourceSupport builtin = asl::default_resource_support();
    return [this, builtin](std::string_view resource) {
      if (builtin(resource)) return true;
      TaskTarget t = classify_task(resource);
      return t.kind == TaskTarget::Kind::Service &&
             registry_.service_url(t.service, t.action).has_value();
    };
  }

  void shutdown() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
      children_.clear();
    }
    stop_cv_.notify_all();
    if (refresher_.joinable()) refresher_.join();
    activities_.shutdown();
    invoker_.shutdown();
  }

  ActivityQueue& activities() { return activities_; }
  HttpInvoker& invoker() { return invoker_; }

 private:
  void complete(const std::string& token, asl::Outcome outcome) {
    // TaskDoesNotExist here means the task ended meanwhile (a time-out, a stop): nothing to do.
    engine_.complete_task_async(token, std::move(outcome), [](ApiResult<bool>) {});
  }

  static asl::Outcome failed(const std::string& cause) {
    return asl::StatesError{std::string(asl::errors::kTaskFailed), cause};
  }

  // arn:aws:states:::states:startExecution[.sync|.sync:2|.waitForTaskToken]: Parameters
  // StateMachineArn, Input (JSON, or JSON text), Name.
  void start_child(const TaskDispatch& task, IntegrationPattern pattern) {
    const Json& p = task.payload;
    if (!p.is_object() || !p.contains("StateMachineArn") || !p["StateMachineArn"].is_string()) {
      complete(task.token, failed("startExecution needs Parameters.StateMachineArn (a string)"));
      return;
    }
    StartRequest r;
    r.machine_arn = p["StateMachineArn"].get<std::string>();
    r.name = p.contains("Name") && p["Name"].is_string() ? p["Name"].get<std::string>()
                                                         : child_name(task.token);
    if (!p.contains("Input")) {
      r.input = "{}";
    } else if (p["Input"].is_string()) {
      r.input = p["Input"].get<std::string>();
    } else {
      r.input = asl::dump_compact(p["Input"]);
    }
    r.trace_header = task.trace_header;
    const std::string token = task.token;
    engine_.start_execution_async(r, [this, token, pattern, r](ApiResult<ExecutionRecord> res) {
      if (auto* e = std::get_if<ApiError>(&res)) {
        if (e->type != "ExecutionAlreadyExists") {
          // AWS names the failure after the API's exception: StepFunctions.<Name>Exception.
          std::string name = "StepFunctions." + e->type;
          if (!e->type.ends_with("Exception")) name += "Exception";
          complete(token, asl::StatesError{std::move(name), e->message});
          return;
        }
        // Dispatched again after a restart: the child exists (it may have ended).
        std::string arn = r.machine_arn;
        auto colon = arn.find(":stateMachine:");
        if (colon == std::string::npos) {
          complete(token, failed(e->message));
          return;
        }
        arn.replace(colon, 14, ":execution:");
        arn += ":" + r.name;
        follow_child(token, arn, pattern);
        return;
      }
      follow_child(token, std::get<ExecutionRecord>(res).arn, pattern);
    });
  }

  void follow_child(const std::string& token, const std::string& child,
                    IntegrationPattern pattern) {
    if (pattern == IntegrationPattern::WaitForTaskToken) return;  // SendTask* ends it
    if (pattern == IntegrationPattern::RequestResponse) {
      auto rec = engine_.describe_execution(child);
      if (auto* e = std::get_if<ApiError>(&rec)) {
        complete(token, failed(e->message));
        return;
      }
      const ExecutionRecord& c = std::get<ExecutionRecord>(rec);
      complete(token, Json{{"ExecutionArn", c.arn}, {"StartDate", epoch_millis(c.start)}});
      return;
    }
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      children_[token] = child;
    }
    const bool json_values = pattern == IntegrationPattern::Sync2;
    engine_.on_execution_end(child, [this, token, json_values](ApiResult<ExecutionRecord> res) {
      {
        std::lock_guard lock(mu_);
        if (children_.erase(token) == 0) return;  // the parent stopped waiting
      }
      if (auto* e = std::get_if<ApiError>(&res)) {
        complete(token, failed(e->message));
        return;
      }
      const ExecutionRecord& c = std::get<ExecutionRecord>(res);
      Json described = describe_child(c, json_values);
      if (c.status == "SUCCEEDED") {
        complete(token, std::move(described));
      } else {
        // AWS: the child's failure fails the task with States.TaskFailed, its description as
        // the cause.
        complete(token, failed(asl::dump_compact(described)));
      }
    });
  }

  void refresh_loop(std::chrono::milliseconds period) {
    std::unique_lock lock(mu_);
    while (!stop_cv_.wait_for(lock, period, [this] { return stopped_; })) {
      lock.unlock();
      registry_.refresh(period);
      lock.lock();
    }
  }

  Engine& engine_;
  Registry& registry_;
  ActivityQueue activities_;
  HttpInvoker invoker_;
  std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopped_ = false;
  std::thread refresher_;  // routes_refresh
  std::unordered_map<std::string, std::string> children_;  // token -> .sync child execution
};

Dispatcher::Dispatcher(Engine& engine, Registry& registry, DispatcherOptions options)
    : impl_(std::make_unique<Impl>(engine, registry, options)) {}
Dispatcher::~Dispatcher() { impl_->shutdown(); }
void Dispatcher::dispatch(const TaskDispatch& task) { impl_->dispatch(task); }
void Dispatcher::cancel(const std::string& token) { impl_->cancel(token); }
ActivityQueue& Dispatcher::activities() { return impl_->activities(); }
HttpInvoker& Dispatcher::invoker() { return impl_->invoker(); }
asl::ResourceSupport Dispatcher::resource_support() { return impl_->resource_support(); }
void Dispatcher::shutdown() { impl_->shutdown(); }

}  // namespace stepd::engine
