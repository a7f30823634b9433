// HTTP messages as the adapters see them, and the Handler contract between the HTTP server
// (server/http/server.*, Beast and Asio stay in its .cpp) and what answers requests (the REST
// and AWS adapters, /metrics and the health checks).
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::server {

struct Header {
  std::string name;
  std::string value;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // target without the query, percent-decoding not applied
  std::string query;   // after '?', "" when none
  std::vector<Header> headers;
  std::string body;
  std::string remote;  // "127.0.0.1:53122"

  // The first header of that name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<Header> headers;  // besides Content-Type and Content-Length
  std::string body;
};

// Who calls. Without configured API keys every caller is an anonymous Admin (stepd then listens
// on loopback only).
enum class Role {
  Admin,     // everything
  ReadOnly,  // describe, list, history, validate
  Worker,    // poll and report tasks of the activities granted (task-dispatch issue)
};

std::string_view to_string(Role role);

struct Caller {
  std::string key_id = "anonymous";  // the API key's id (never the secret)
  Role role = Role::Admin;
  std::string remote;                // peer address
  std::string request_id;            // generated per request, logged and answered
  std::string traceparent;           // W3C traceparent header when sent
  std::vector<std::string> activities;  // Worker: activity ARNs granted ("*" for all)
};

// Answers a request: called exactly once, from any thread.
using Respond = std::function<void(HttpResponse)>;

class Handler {
 public:
  virtual ~Handler() = default;
  // Called on a handler thread, never on an I/O thread: blocking store reads are fine. An
  // answer that waits for the engine (a commit, an execution's end) goes through `respond`
  // later, from the engine's thread, without holding the handler thread.
  virtual void handle(HttpRequest request, Caller caller, Respond respond) = 0;
};

}  // namespace stepd::server
