#include "engine/dispatch/registry.hpp"

#include "engine/task_resource.hpp"

#include <cctype>

namespace stepd::engine {
namespace {

constexpr Micros kMissReloadInterval = 1'000'000;  // a lookup miss reloads at most once a second
constexpr std::size_t kMaxFunctionName = 140;
constexpr std::size_t kMaxQualifier = 128;
constexpr std::size_t kMaxServicePart = 128;

Micros system_micros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

ApiError validation(std::string message) {
  return ApiError{"ValidationException", std::move(message), {}};
}

ApiError store_failure(const Error& e) {
  return ApiError{e.code == ErrorCode::Unavailable ? "ServiceUnavailable" : "InternalError",
                  e.message, {}};
}

// Why `part` is not made of the allowed characters and lengths; nullopt when it is.
std::optional<std::string> check_part(std::string_view part, std::string_view what,
                                      std::size_t max, std::string_view extra,
                                      std::string_view allowed_text) {
  if (part.empty()) return std::string(what) + " is empty";
  if (part.size() > max) {
    return std::string(what) + " is " + std::to_string(part.size()) +
           " characters long; the most is " + std::to_string(max);
  }
  for (char ch : part) {
    auto c = static_cast<unsigned char>(ch);
    if (!std::isalnum(c) && ch != '-' && ch != '_' && extra.find(ch) == std::string_view::npos) {
      std::string shown = c >= 0x20 && c < 0x7f ? std::string(1, ch) : "\\x" + std::to_string(c);
      return std::string(what) + " '" + std::string(part) + "' contains '" + shown +
             "'; allowed are " + std::string(allowed_text);
    }
  }
  return std::nullopt;
}

// Why a route name of `kind` is malformed; nullopt when it is well formed.
std::optional<std::string> check_name(const std::string& kind, const std::string& name) {
  std::size_t colon = name.find(':');
  std::string_view first = std::string_view(name).substr(0, colon);
  std::optional<std::string_view> second;
  if (colon != std::string::npos) {
    second = std::string_view(name).substr(colon + 1);
    if (second->find(':') != std::string_view::npos) {
      return "it has more than one ':'";
    }
  }
  if (kind == "function") {
    if (auto why = check_part(first, "the function name", kMaxFunctionName, "",
                              "letters, digits, '-' and '_'")) {
      return why;
    }
    // Lambda qualifiers are versions and aliases; "$LATEST" names the unpublished version.
    if (second) {
      return check_part(*second, "the qualifier", kMaxQualifier, "$",
                        "letters, digits, '-', '_' and '$'");
    }
    return std::nullopt;
  }
  if (auto why = check_part(first, "the service name", kMaxServicePart, ".",
                            "letters, digits, '-', '_' and '.'")) {
    return why;
  }
  if (second) {
    return check_part(*second, "the action name", kMaxServicePart, ".",
                      "letters, digits, '-', '_' and '.'");
  }
  return std::nullopt;
}

}  // namespace

Registry::Registry(Store& store, std::function<Micros()> clock)
    : store_(store), clock_(clock ? std::move(clock) : std::function<Micros()>(system_micros)) {}

Micros Registry::now() const { return clock_(); }

Status Registry::load() {
  auto routes = store_.list_routes();
  if (!routes.ok()) return routes.error();
  std::lock_guard lock(mu_);
  routes_.clear();
  for (RouteRecord& r : *routes) {
    auto key = std::make_pair(r.kind, r.name);
    routes_[std::move(key)] = std::move(r);
  }
  loaded_at_ = now();
  return {};
}

void Registry::refresh(std::chrono::milliseconds max_age) {
  std::lock_guard lock(mu_);
  Micros t = now();
  if (t - loaded_at_ < std::chrono::duration_cast<std::chrono::microseconds>(max_age).count()) {
    return;
  }
  reload_locked(t);
}

void Registry::reload_locked(Micros now) const {
  // The time is taken even when the store fails, so a store that is away is asked again only
  // after the interval; the cache stays as it was.
  loaded_at_ = now;
  auto routes = store_.list_routes();
  if (!routes.ok()) return;
  routes_.clear();
  for (RouteRecord& r : *routes) {
    auto key = std::make_pair(r.kind, r.name);
    routes_[std::move(key)] = std::move(r);
  }
}

ApiResult<RouteRecord> Registry::put(const std::string& kind, const std::string& name,
                                     const std::string& url) {
  if (kind != "function" && kind != "service") {
    return validation("Invalid route kind '" + kind + "': the kind must be 'function' or 'service'");
  }
  if (auto why = check_name(kind, name)) {
    std::string form = kind == "function" ? "NAME[:QUALIFIER]" : "SERVICE[:ACTION]";
    return validation("Invalid " + kind + " route name '" + name + "': " + *why +
                      " (the form is " + form + ")");
  }
  std::string why;
  auto parsed = parse_http_url(url, &why, UrlSchemes::HttpOrHttps);
  if (parsed && (std::stol(parsed->port) < 1 || std::stol(parsed->port) > 65535)) {
    parsed.reset();
    why = "the URL's port must be 1 to 65535";
  }
  if (!parsed) {
    return validation("Invalid URL '" + url + "' for the " + kind + " route '" + name + "': " + why);
  }
  RouteRecord record{kind, name, url, now()};
  if (Status s = store_.put_route(record); !s.ok()) return store_failure(s.error());
  std::lock_guard lock(mu_);
  routes_[{kind, name}] = record;
  return record;
}

ApiResult<bool> Registry::remove(const std::string& kind, const std::string& name) {
  Status s = store_.delete_route(kind, name);
  if (!s.ok()) {
    if (s.error().code == ErrorCode::NotFound) {
      std::lock_guard lock(mu_);
      routes_.erase({kind, name});
      return ApiError{"ResourceNotFound", "There is no " + kind + " route named '" + name + "'", {}};
    }
    return store_failure(s.error());
  }
  std::lock_guard lock(mu_);
  routes_.erase({kind, name});
  return true;
}

std::vector<RouteRecord> Registry::list() const {
  std::lock_guard lock(mu_);
  auto routes = store_.list_routes();
  if (routes.ok()) {
    routes_.clear();
    for (const RouteRecord& r : *routes) routes_[{r.kind, r.name}] = r;
    loaded_at_ = now();
  }
  std::vector<RouteRecord> out;
  out.reserve(routes_.size());
  for (const auto& [key, record] : routes_) out.push_back(record);
  return out;
}

std::optional<std::string> Registry::function_url(std::string_view name,
                                                  std::string_view qualifier) const {
  if (name.empty()) return std::nullopt;
  std::string plain(name);
  std::string qualified = qualifier.empty() ? std::string() : plain + ":" + std::string(qualifier);
  return find("function", qualified, plain);
}

std::optional<std::string> Registry::service_url(std::string_view service,
                                                 std::string_view action) const {
  if (service.empty()) return std::nullopt;
  std::string plain(service);
  std::string with_action = action.empty() ? std::string() : plain + ":" + std::string(action);
  return find("service", with_action, plain);
}

std::optional<std::string> Registry::find(const std::string& kind, const std::string& first,
                                          const std::string& second) const {
  auto lookup = [&]() -> std::optional<std::string> {
    if (!first.empty()) {
      auto it = routes_.find({kind, first});
      if (it != routes_.end()) return it->second.url;
    }
    auto it = routes_.find({kind, second});
    if (it != routes_.end()) return it->second.url;
    return std::nullopt;
  };
  std::lock_guard lock(mu_);
  if (auto url = lookup()) return url;
  // Another node may have added the route since the last reload.
  Micros t = now();
  if (t - loaded_at_ < kMissReloadInterval) return std::nullopt;
  reload_locked(t);
  return lookup();
}

}  // namespace stepd::engine
