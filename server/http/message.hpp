// HTTP messages as the adapters see them, and the Handler contract between the HTTP server
// (server/http/server.*, Beast and Asio stay in its .cpp) and what answers requests (the REST
// and AWS adapters, /metrics and the health checks).
#pragma once

#include <functional>
#include <memory>
#include <mutex>
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

// The connection's side of one request, for a handler whose answer waits (a long poll). The HTTP
// server makes one for every request it reads (Caller::context; null for a call that comes from
// no connection, e.g. a test calling an adapter directly). A handler may ask
//  - on_cancel: to learn that the client went away before the answer was written: the server
//    closed the connection (write time-out, stop), or the peer ended its side of it (end of
//    stream or a reset while the answer was pending: its process died, its HTTP client gave up).
//    Asking makes the request cancellable: once the client went away its answer is abandoned,
//    not written, even to a peer that only half-closed (the handler still responds, exactly
//    once, as always);
//  - on_written: to learn whether the answer was written: true once the whole answer was handed
//    to the connection (the operating system took it; TCP cannot tell whether the peer will
//    read it), false when it never will be (abandoned, the connection closed first, the write
//    failed).
// A request whose handler asks for neither is served as before: its answer is written even after
// the peer half-closed.
//
// The server notices the peer going away while it reads the connection for the next request,
// i.e. while fewer than ServerOptions::max_pipelined requests of the connection are in flight.
//
// Threads: thread-safe. Each callback runs at most once and never under the context's lock: on a
// server I/O thread when the server settles the request (it must be quick and not block), at once
// on the registering thread when the outcome is already known, or in the destructor (an answer
// never settled counts as not written).
class RequestContext {
 public:
  RequestContext() = default;
  ~RequestContext();
  RequestContext(const RequestContext&) = delete;
  RequestContext& operator=(const RequestContext&) = delete;

  // `fn` runs once if the client goes away before the answer is written (at once when it already
  // has); never once the answer was written or dropped. Makes the request cancellable.
  void on_cancel(std::function<void()> fn);
  // `fn(written)` runs once when the answer's fate is known (at once when it already is).
  void on_written(std::function<void(bool written)> fn);
  // The client went away before the answer was written.
  bool cancelled() const;

  // --- The server's side ---------------------------------------------------------------------
  // The client went away (the peer closed or reset its end, or the server closes the
  // connection): runs the on_cancel callbacks, unless the answer was already settled.
  void client_gone();
  // True when the answer must not be written: the client went away and the handler asked
  // on_cancel.
  bool abandoned() const;
  // The answer was written (true) or never will be (false): runs the on_written callbacks. The
  // first call counts; later ones do nothing.
  void settle(bool written);

 private:
  mutable std::mutex mu_;
  bool gone_ = false;
  bool cancellable_ = false;
  bool settled_ = false;
  bool written_ = false;
  std::vector<std::function<void()>> cancel_;
  std::vector<std::function<void(bool)>> written_fns_;
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
  // The request's connection (see RequestContext); null when the call comes from no connection.
  // Shared by every copy of the Caller: a callback given to it must not hold this Caller (or
  // another copy holding the same context), or the context would keep itself alive.
  std::shared_ptr<RequestContext> context;
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
