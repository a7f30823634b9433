// stepd: the Stepd server process. Reads the configuration (server/config.hpp), opens the
// store, starts the engine and the HTTP server, logs one "listening" line when ready, and on
// SIGTERM or SIGINT stops gracefully (requests in flight finish, the engine commits its work and
// releases its leases) and exits 0.
//
// Exit codes: 0 after a signal, 1 when the store, the engine or the listener cannot start, 2 for
// a bad configuration.
#include "engine/dispatch/dispatcher.hpp"
#include "engine/dispatch/registry.hpp"
#include "engine/engine.hpp"
#include "server/audit/store_audit_log.hpp"
#include "server/aws/aws_api.hpp"
#include "server/config.hpp"
#include "server/http/router.hpp"
#include "server/http/server.hpp"
#include "server/observability/access_log.hpp"
#include "server/observability/log.hpp"
#include "server/observability/metrics.hpp"
#include "server/observability/observability_api.hpp"
#include "server/operations/operations.hpp"
#include "server/rest/rest_api.hpp"
#include "server/security/api_keys.hpp"
#include "server/security/authenticator.hpp"

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <thread>
#include <utility>

namespace {

using namespace stepd;
using namespace stepd::server;

// The store URL without a password, for the logs.
std::string redact(const std::string& url) {
  const auto scheme = url.find("://");
  const auto at = url.find('@');
  if (scheme == std::string::npos || at == std::string::npos || at < scheme) return url;
  const auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}


int run(const Config& config, const sigset_t& signals) {
  security::Authenticator auth;
  if (!config.api_keys_file.empty()) {
    auto keys = security::load_api_keys(config.api_keys_file);
    if (!keys) {
      log::error("cannot load the API keys", {{"error", keys.error().message}});
      return 2;
    }
    auth = security::Authenticator(std::move(*keys));
  }

  auto store = engine::open_store(config.store);
  if (!store) {
    log::error("cannot open the store",
               {{"store", redact(config.store)}, {"error", store.error().message}});
    return 1;
  }

  observability::Metrics metrics(kStepdVersion);
  engine::EngineOptions options;
  options.region = config.region;
  options.account = config.account;
  options.node_id = config.node_id;
  options.partitions = config.partitions;
  options.max_partitions = config.max_partitions;
  options.lease_ttl =
      std::chrono::duration_cast<std::chrono::microseconds>(config.lease_ttl).count();
  options.observer = &metrics;
  // CreateStateMachine refuses a Task whose Resource nothing here can run (strict), and the
  // Dispatcher is what knows (routes included). It needs the started engine (the routes live in
  // its store), so the engine asks through `support` once the Dispatcher is there; until then
  // (restoring executions at start, which does not check) the built-in answer stands.
  struct Support {
    std::atomic<bool> ready{false};
    asl::ResourceSupport dispatcher;
    asl::ResourceSupport fallback = asl::default_resource_support();
  } support;
  options.load.strict = true;
  options.load.resource_support = [&support](std::string_view resource) {
    return support.ready.load(std::memory_order_acquire) ? support.dispatcher(resource)
                                                         : support.fallback(resource);
  };
  engine::Engine engine(std::move(*store), options);

  if (engine::Status started = engine.start(); !started) {
    log::error("cannot start the engine",
               {{"store", redact(config.store)}, {"error", started.error().message}});
    return 1;
  }
  metrics.watch_engine(&engine);

  // Task dispatch: the routes of push tasks (kept in the store, so after start() migrated it),
  // and the Dispatcher as the engine's transport. Tasks the engine restored at start wait in the
  // engine until the transport is set.
  engine::Registry registry(engine.store());
  if (engine::Status loaded = registry.load(); !loaded) {
    log::error("cannot load the task routes", {{"error", loaded.error().message}});
    engine.shutdown();
    return 1;
  }
  // Several nodes may share a PostgreSQL store: a poll waiting here also takes, every second,
  // the tasks other nodes scheduled that no worker took there within a second, and routes
  // another node changed are read again every few seconds. One SQLite file has one node.
  const bool shared_store = config.store.rfind("postgres", 0) == 0;
  engine::DispatcherOptions dispatch_options;
  if (shared_store) {
    dispatch_options.activities.remote_interval = std::chrono::seconds(1);
    dispatch_options.routes_refresh = std::chrono::seconds(5);
  }
  dispatch_options.invoker.tls_ca_file = config.task_ca_file;
  std::unique_ptr<engine::Dispatcher> dispatcher_owner;
  try {
    dispatcher_owner = std::make_unique<engine::Dispatcher>(engine, registry, dispatch_options);
  } catch (const std::runtime_error& e) {
    log::error("cannot set up task dispatch", {{"error", e.what()}});
    engine.shutdown();
    return 1;
  }
  engine::Dispatcher& dispatcher = *dispatcher_owner;
  support.dispatcher = dispatcher.resource_support();
  support.ready.store(true, std::memory_order_release);
  engine.set_task_transport(&dispatcher);
  // Stops dispatch and the engine (once) before the Dispatcher goes, whichever way run() returns:
  // waiting polls answer empty, calls in flight are abandoned, the engine commits its work.
  struct Detach {
    engine::Engine& engine;
    engine::Dispatcher& dispatcher;
    bool done = false;
    void now() {
      if (std::exchange(done, true)) return;
      dispatcher.shutdown();
      engine.shutdown();
      engine.set_task_transport(nullptr);
    }
    ~Detach() { now(); }
  } detach{engine, dispatcher};

  // Every mutating call is kept in the store's audit log (batched; after the engine, before the
  // HTTP server, so it outlives every request and is flushed before the engine stops).
  StoreAuditLog audit(engine.store());
  Operations operations(engine, &audit, TaskServices{&dispatcher.activities(), &registry});
  RestApi rest(operations);
  AwsApi aws(operations);
  observability::ObservabilityApi observability_api(metrics, &engine);
  Router router(Routes{&aws, &rest, &observability_api, &auth});

  ServerOptions server_options;
  server_options.host = config.host;
  server_options.port = config.port;
  server_options.io_threads = config.io_threads;
  server_options.handler_threads = config.handler_threads;
  server_options.max_body_bytes = config.max_body_bytes;
  server_options.max_header_bytes = config.max_header_bytes;
  server_options.read_timeout = config.read_timeout;
  server_options.write_timeout = config.read_timeout;
  server_options.idle_timeout = config.idle_timeout;
  server_options.max_connections = config.max_connections;
  server_options.tls_cert_file = config.tls_cert;
  server_options.tls_key_file = config.tls_key;
  server_options.on_exchange = [&metrics](const Exchange& e, const HttpResponse& r) {
    observability::record_exchange(&metrics, e, r);
  };
  HttpServer server(server_options, router);
  if (engine::Status listening = server.start(); !listening) {
    log::error("cannot start the HTTP server", {{"error", listening.error().message}});
    return 1;  // `detach` stops dispatch and the engine
  }
  metrics.watch_connections([&server] { return static_cast<double>(server.connections()); });

  const bool v6 = config.host.find(':') != std::string::npos;
  const std::string address =
      (v6 ? "[" + config.host + "]" : config.host) + ":" + std::to_string(server.port());
  log::always("listening", {{"address", address},
                            {"port", static_cast<int>(server.port())},
                            {"scheme", config.tls_cert.empty() ? "http" : "https"},
                            {"auth", auth.enabled()},
                            {"store", redact(config.store)},
                            {"node_id", config.node_id},
                            {"region", config.region},
                            {"account", config.account},
                            {"version", kStepdVersion}});

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  log::info("stopping", {{"signal", signal_number == SIGTERM ? "SIGTERM" : "SIGINT"},
                         {"grace_ms", static_cast<long long>(config.shutdown_timeout.count())}});
  observability_api.set_draining(true);
  // Waiting GetActivityTask polls answer empty now (and new ones at once), so that the grace
  // period is not spent holding them.
  dispatcher.activities().shutdown();
  server.stop(config.shutdown_timeout);
  metrics.watch_connections(nullptr);
  detach.now();
  metrics.watch_engine(nullptr);
  log::info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // SIGTERM and SIGINT are blocked in every thread (threads inherit the mask) and taken by
  // sigwait() in run(); a closed socket must not kill the process.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const std::vector<std::string> args(argv, argv + argc);
  const ParsedConfig parsed = parse_config(args);
  if (!parsed.out.empty()) std::cout << parsed.out << std::flush;
  if (!parsed.err.empty()) std::cerr << parsed.err << std::flush;
  if (!parsed.run) return parsed.exit_code;

  log::Level level = log::Level::Info;
  log::parse_level(parsed.config.log_level, level);
  log::setup(level);
  try {
    return run(parsed.config, signals);
  } catch (const std::exception& e) {
    log::error("stepd failed", {{"error", e.what()}});
    return 1;
  }
}
