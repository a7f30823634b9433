// The routing registry of push tasks: which HTTP endpoint serves a Lambda-style function or an
// AWS service integration. Kept in the store (so every node sees the same routes) and cached in
// memory for the dispatch path.
//
//  - function routes: NAME or NAME:QUALIFIER -> URL. A task calling function NAME with
//    qualifier Q (a Lambda ARN arn:aws:lambda:REGION:ACCOUNT:function:NAME[:Q], or
//    arn:aws:states:::lambda:invoke with FunctionName) goes to "NAME:Q" when registered, else to
//    "NAME".
//  - service routes: SERVICE or SERVICE:ACTION -> URL, for arn:aws:states:::SERVICE:ACTION
//    (optimised integrations) and arn:aws:states:::aws-sdk:SERVICE:ACTION (SDK integrations),
//    with any pattern suffix (.sync, .sync:2, .waitForTaskToken). "SERVICE:ACTION" wins over
//    "SERVICE". Names compare exactly (AWS action names are camelCase: "putItem").
//
// Threads: every method is thread-safe. Lookups read the cache; a lookup that misses reloads the
// cache from the store at most once a second (another node may have added the route), and the
// cache is reloaded every few seconds by whoever calls refresh().
#pragma once

#include "engine/engine.hpp"
#include "engine/store/store.hpp"

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stepd::engine {

class Registry {
 public:
  // `clock` gives the current time (for RouteRecord::updated and reload pacing); default: the
  // system clock.
  explicit Registry(Store& store, std::function<Micros()> clock = {});

  // Reads every route from the store.
  Status load();
  // Reloads when the last reload is older than `max_age`.
  void refresh(std::chrono::milliseconds max_age = std::chrono::seconds(5));

  // Adds or replaces a route. ValidationException (with what is wrong) for a kind other than
  // "function"/"service", an empty or malformed name (functions: NAME[:QUALIFIER], 1..140
  // characters of [A-Za-z0-9-_]; services: SERVICE[:ACTION] of [A-Za-z0-9-_.]), or a URL
  // parse_http_url refuses.
  ApiResult<RouteRecord> put(const std::string& kind, const std::string& name,
                             const std::string& url);
  // ResourceNotFound when there is no such route.
  ApiResult<bool> remove(const std::string& kind, const std::string& name);
  std::vector<RouteRecord> list() const;

  std::optional<std::string> function_url(std::string_view name,
                                          std::string_view qualifier) const;
  std::optional<std::string> service_url(std::string_view service, std::string_view action) const;

 private:
  std::optional<std::string> find(const std::string& kind, const std::string& first,
                                   const std::string& second) const;
  void reload_locked(Micros now) const;
  Micros now() const;

  Store& store_;
  std::function<Micros()> clock_;
  mutable std::mutex mu_;
  mutable std::map<std::pair<std::string, std::string>, RouteRecord> routes_;
  mutable Micros loaded_at_ = 0;
};

}  // namespace stepd::engine
