// The process the crash test kills: runs a mixed workload on a durable engine until every
// execution has ended, then prints "DONE" and exits 0. Started again after a SIGKILL it picks up
// where the store says it was (starting an execution that exists is a no-op).
//
//   stepd_crash_worker --store URL --executions N
//       [--node NAME --first I --count N --lease-ttl-ms MS --max-partitions K]
//
// With several nodes on one PostgreSQL, each starts its slice [first, first+count) of the
// executions and then waits, reading the store, until every execution has ended, whichever node
// runs it: the nodes that survive a SIGKILL of another must finish its executions.
//
// Tasks are served in-process with results that depend only on their payload (which includes
// $$.State.RetryCount), so a run that was killed and restarted must end exactly like one that
// was not.
#include "engine/engine.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <iostream>
#include <mutex>
#include <thread>

namespace {

using stepd::asl::Json;
using namespace stepd::engine;

constexpr char kMachine[] = R"asl({"StartAt":"Init","States":{
 "Init":{"Type":"Pass","Parameters":{"n.$":"$.n","items.$":"States.ArrayRange(1, 3, 1)"},
         "Next":"Branch"},
 "Branch":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericGreaterThan":600,"Next":"Nap"}],
           "Default":"Fork"},
 "Nap":{"Type":"Wait","Seconds":1,"Next":"Fork"},
 "Fork":{"Type":"Parallel","ResultPath":"$.par","Next":"Fan","Branches":[
   {"StartAt":"Work","States":{"Work":{"Type":"Task",
      "Resource":"arn:aws:lambda:local:000000000000:function:work",
      "Parameters":{"n.$":"$.n","try.$":"$$.State.RetryCount"},
      "Retry":[{"ErrorEquals":["Transient"],"IntervalSeconds":1,"MaxAttempts":3,"BackoffRate":1}],
      "End":true}}},
   {"StartAt":"Echo","States":{"Echo":{"Type":"Pass","Parameters":{"echo.$":"$.n"},"End":true}}}]},
 "Fan":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":2,"ResultPath":"$.map",
   "ItemSelector":{"n.$":"$.n","i.$":"$$.Map.Item.Value"},
   "ItemProcessor":{"StartAt":"Sq","States":{"Sq":{"Type":"Task",
     "Resource":"arn:aws:lambda:local:000000000000:function:mul",
     "Parameters":{"n.$":"$.n","i.$":"$.i","try.$":"$$.State.RetryCount"},
     "Retry":[{"ErrorEquals":["States.ALL"],"IntervalSeconds":1,"MaxAttempts":2}],
     "End":true}}},
   "Next":"Done"},
 "Done":{"Type":"Succeed"}}})asl";

stepd::asl::Outcome serve(const TaskDispatch& t) {
  const long long n = t.payload.value("n", 0LL);
  const long long attempt = t.payload.value("try", 0LL);
  if (t.resource.ends_with(":work")) {
    if (attempt == 0 && n % 3 == 0) return stepd::asl::StatesError{"Transient", "first try"};
    return Json{{"w", n * 2}};
  }
  const long long i = t.payload.value("i", 0LL);
  if (attempt == 0 && (n + i) % 4 == 0) return stepd::asl::StatesError{"Flaky", "first try"};
  return Json(n * i);
}

// Serves tasks on a few threads; dispatch() only queues.
class PoolTransport final : public TaskTransport {
 public:
  explicit PoolTransport(Engine& engine) : engine_(engine) {
    for (int i = 0; i < 4; ++i) threads_.emplace_back([this] { loop(); });
  }
  ~PoolTransport() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void dispatch(const TaskDispatch& task) override {
    {
      std::lock_guard lock(mu_);
      queue_.push_back(task);
    }
    cv_.notify_one();
  }

 private:
  void loop() {
    for (;;) {
      TaskDispatch t;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        t = std::move(queue_.front());
        queue_.pop_front();
      }
      engine_.complete_task(t.token, serve(t));
    }
  }
  Engine& engine_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<TaskDispatch> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string url;
  int executions = 1000;
  int first = 0;
  int count = -1;
  EngineOptions options;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--store") url = argv[i + 1];
    if (a == "--executions") executions = std::stoi(argv[i + 1]);
    if (a == "--node") options.node_id = argv[i + 1];
    if (a == "--first") first = std::stoi(argv[i + 1]);
    if (a == "--count") count = std::stoi(argv[i + 1]);
    if (a == "--lease-ttl-ms") options.lease_ttl = std::stoll(argv[i + 1]) * 1000;
    if (a == "--max-partitions") options.max_partitions = std::stoi(argv[i + 1]);
  }
  if (count < 0) count = executions - first;
  if (url.empty()) {
    std::cerr << "usage: stepd_crash_worker --store URL [--executions N]\n";
    return 2;
  }
  auto store = open_store(url);
  if (!store.ok()) {
    std::cerr << "crash_worker: " << store.error().message << "\n";
    return 1;
  }
  Engine engine(std::move(*store), options);
  if (Status s = engine.start(); !s.ok()) {
    std::cerr << "crash_worker: start: " << s.error().message << "\n";
    return 1;
  }
  PoolTransport transport(engine);
  engine.set_task_transport(&transport);
  auto created = engine.create_state_machine({"mixed", kMachine, "STANDARD", "", "[]"});
  if (auto* e = std::get_if<ApiError>(&created)) {
    std::cerr << "crash_worker: " << e->type << ": " << e->message << "\n";
    return 1;
  }
  const std::string machine = std::get<StateMachineRecord>(created).arn;
  // This node's slice first, then every other execution (a no-op where it exists): as a client
  // whose node went away would retry its requests on another node.
  std::vector<int> order;
  for (int i = first; i < first + count; ++i) order.push_back(i);
  for (int i = 0; i < executions; ++i) {
    if (i < first || i >= first + count) order.push_back(i);
  }
  std::atomic<std::size_t> next{0};
  std::vector<std::thread> starters;
  for (int t = 0; t < 8; ++t) {
    starters.emplace_back([&] {
      for (std::size_t k = next++; k < order.size(); k = next++) {
        const int i = order[k];
        auto r = engine.start_execution(
            {machine, "e" + std::to_string(i), Json{{"n", i}}.dump(), ""});
        // As a client would: a refused start (no partition yet, a lease moving between nodes)
        // is tried again; ExecutionAlreadyExists means another node started it.
        for (int tries = 0; tries < 600 && std::holds_alternative<ApiError>(r) &&
                            std::get<ApiError>(r).type != "ExecutionAlreadyExists";
             ++tries) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          r = engine.start_execution(
              {machine, "e" + std::to_string(i), Json{{"n", i}}.dump(), ""});
        }
        if (auto* e = std::get_if<ApiError>(&r); e && e->type != "ExecutionAlreadyExists") {
          std::cerr << "crash_worker: start e" << i << ": " << e->type << ": " << e->message
                    << "\n";
        }
      }
    });
  }
  for (auto& t : starters) t.join();
  // Every execution, whichever node started or runs it, must end.
  const std::string prefix = "arn:aws:states:local:000000000000:execution:mixed:e";
  std::vector<int> open;
  for (int i = 0; i < executions; ++i) open.push_back(i);
  while (!open.empty()) {
    std::vector<int> still;
    for (int i : open) {
      auto r = engine.describe_execution(prefix + std::to_string(i));
      auto* rec = std::get_if<ExecutionRecord>(&r);
      if (rec == nullptr || rec->status == "RUNNING") still.push_back(i);
    }
    open.swap(still);
    if (!open.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::cout << "DONE" << std::endl;
  engine.shutdown();
  return 0;
}
