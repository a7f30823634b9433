// Matching a request's method and path against the REST API's routes.
//
// A route's pattern is a path whose segments are literals ("v1", "state-machines:validate") or
// parameters ("{execution}"), a parameter possibly followed by a literal action suffix in the
// same segment ("{execution}:stop"). A parameter matches one non-empty raw path segment (the
// suffix removed) and is percent-decoded after matching, so an ARN in the path is sent
// percent-encoded ("arn%3Aaws%3Astates%3A..."); a raw ':' is also accepted, except that a raw
// segment ending in an action suffix is that action.
//
// Threads: a Router is immutable once built; match() may run on any thread.
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::server::rest {

// "%41b+c" -> "Ab+c" (`plus_is_space`: "Ab c", as in a query string). nullopt for a malformed
// escape ("%4", "%zz").
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
// Every byte outside the unreserved set [A-Za-z0-9-._~] as %XX: a safe path segment.
std::string percent_encode(std::string_view text);

// A query string's parameters in order; a name may repeat.
struct QueryParam {
  std::string name;
  std::string value;
};
// nullopt when a name or value has a malformed escape.
std::optional<std::vector<QueryParam>> parse_query(std::string_view query);

class Router {
 public:
  // Adds a route; `id` is what match() returns for it. REQUIRES: a well-formed pattern.
  void add(std::string method, std::string pattern, std::size_t id);

  struct Match {
    enum class Kind { Found, NoPath, NoMethod, BadEscape } kind = Kind::NoPath;
    std::size_t id = 0;                         // Found
    std::map<std::string, std::string> params;  // Found: decoded parameter values
    std::vector<std::string> allowed;           // NoMethod: the path's methods, sorted
  };
  // The route for `method` and the raw (not decoded) `path`. Among several routes that match,
  // the most specific wins (most literal characters).
  Match match(std::string_view method, std::string_view path) const;

  struct Entry {
    std::string method;
    std::string pattern;
  };
  // Every route, in the order added.
  std::vector<Entry> entries() const;

 private:
  struct Segment {
    bool param = false;
    std::string text;    // literal text, or the parameter's name
    std::string suffix;  // parameter: literal after it in the same segment
  };
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<Segment> segments;
    std::size_t id = 0;
    std::size_t literal_chars = 0;
  };
  std::vector<Route> routes_;
};

}  // namespace stepd::server::rest
