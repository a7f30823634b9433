// The engine's TaskTransport: sends every dispatched task where its Resource says.
//
//  - activities: into the ActivityQueue, where workers' GetActivityTask long-polls take them;
//  - http:invoke, Lambda functions, lambda:invoke, routed service integrations: the HttpInvoker;
//  - states:startExecution (.sync, .sync:2, .waitForTaskToken): a nested execution started on
//    this engine, its end reported as the task's outcome (as AWS shapes it);
//  - .waitForTaskToken on a push integration: the call hands $$.Task.Token on; its success only
//    means delivered (the task then waits for SendTaskSuccess/Failure), its failure fails the task.
//
// resource_support() is what CreateStateMachine accepts (asl::LoadOptions): the built-in
// resources, plus service integrations that have a route in the Registry when they are created.
//
// Threads: thread-safe; dispatch() and cancel() never block.
#pragma once

#include "asl/definition.hpp"
#include "engine/dispatch/activity_queue.hpp"
#include "engine/dispatch/http_invoker.hpp"
#include "engine/dispatch/registry.hpp"
#include "engine/engine.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace stepd::engine {

struct DispatcherOptions {
  InvokerOptions invoker;
  ActivityQueueOptions activities;
  // Several nodes on one store: read the routes again this often, so that a route another node
  // changed is used here too (0: never; one node alone sees its own changes at once).
  std::chrono::milliseconds routes_refresh{0};
};

class Dispatcher : public TaskTransport {
 public:
  // `engine` and `registry` outlive the dispatcher. Call engine.set_task_transport(this) after
  // constructing it and engine.set_task_transport(nullptr) before destroying it.
  Dispatcher(Engine& engine, Registry& registry, DispatcherOptions options = {});
  ~Dispatcher() override;

  void dispatch(const TaskDispatch& task) override;
  void cancel(const std::string& token) override;

  ActivityQueue& activities();
  HttpInvoker& invoker();

  // For EngineOptions::load.resource_support.
  asl::ResourceSupport resource_support();

  // Stops polls (they answer empty), abandons calls in flight, stops reading routes.
  void shutdown();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::engine
