// The HTTP/1.1 server: Beast over Asio (in server.cpp only), optionally TLS.
//
// Each connection is served by coroutines on its own strand that do only I/O: read requests
// (keep-alive, pipelining), enforce the limits, write the answers in request order. Every
// request is handed to the Handler on a pool of handler threads (they may block on store
// reads); the handler answers through Respond from any thread, and the answer is posted back to
// the connection. Up to `max_pipelined` requests of one connection are handled at once; their
// answers still go out in the order the requests came.
//
// Every request gets an id (a UUID): Caller::request_id, and the `x-amzn-RequestId` header of the
// answer (AWS's SDKs read it under that name).
//
// Every request also gets a RequestContext (Caller::context, server/http/message.hpp): while
// its answer is pending, the connection keeps being read, so a peer that closes (or resets) its
// end is noticed at once and the contexts of the requests in flight hear that the client went
// away; so do they when the server closes the connection. The answers of requests whose handler
// asked for that (on_cancel) are then dropped, not written; the others are written as before
// (a peer may half-close and still read). Each context is told whether its answer was written.
//
// Limits, each answered with a JSON error (`{"code":..,"message":..}`, or `{"__type":..,
// "message":..}` when the request carries X-Amz-Target) and then closing the connection:
//   body over max_body_bytes                 413 "Request body exceeds the limit of N bytes"
//   request line + headers over max_header   431
//   request not complete within read_timeout 408 (plain HTTP; a TLS connection is just closed)
//   malformed request                        400
//   more than max_connections open           503 to the new connection, then closed
// A kept-alive connection with nothing in flight for idle_timeout is closed. An answer the peer
// does not take within write_timeout closes the connection.
//
// Threads: start() and stop() from one controlling thread; the rest is internal.
#pragma once

#include "engine/result.hpp"
#include "server/http/message.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

namespace stepd::server {

// Room for a 1 MiB state machine definition (AWS's limit) inside a request, plus the rest.
inline constexpr std::size_t kDefaultMaxBodyBytes = 1024 * 1024 + 64 * 1024;
inline constexpr std::size_t kDefaultMaxHeaderBytes = 16 * 1024;

// The status an exchange reports when its answer never reached the client: the client closed
// the connection (or the server had to) before the answer was written.
inline constexpr int kClientClosedRequest = 499;

// One request, as the access log and the metrics see it: reported once, as its answer is
// written, or with status kClientClosedRequest when it never will be.
struct Exchange {
  std::string request_id;
  std::string remote;
  std::string method;  // "" when the request could not be read
  std::string path;
  std::string amz_target;   // X-Amz-Target when sent
  std::string traceparent;  // the traceparent header when sent (unchecked)
  int status = 0;
  double seconds = 0;  // from the request's first byte to its answer being ready (or dropped)
};

struct ServerOptions {
  std::string host = "127.0.0.1";  // an IP address (v4 or v6) or "localhost"
  unsigned short port = 8080;      // 0: a free port, see HttpServer::port()
  int io_threads = 0;              // 0: one per hardware thread
  int handler_threads = 8;
  std::size_t max_body_bytes = kDefaultMaxBodyBytes;
  std::size_t max_header_bytes = kDefaultMaxHeaderBytes;
  std::chrono::milliseconds read_timeout{30'000};   // first byte of a request to its last
  std::chrono::milliseconds idle_timeout{60'000};   // kept-alive connection, nothing in flight
  std::chrono::milliseconds write_timeout{30'000};  // one answer to the socket
  int max_connections = 1024;
  int max_pipelined = 16;     // requests of one connection handled at once
  std::string tls_cert_file;  // PEM certificate chain; with tls_key_file: HTTPS
  std::string tls_key_file;   // PEM private key
  // Called once for every request read (also the server's own error answers): just before its
  // answer is written, or when it is dropped (status kClientClosedRequest, empty response when
  // the handler had not answered yet). On the I/O threads (several at once): must be
  // thread-safe, quick, and not block.
  std::function<void(const Exchange&, const HttpResponse&)> on_exchange;
};

class HttpServer {
 public:
  // `handler` outlives the server.
  HttpServer(ServerOptions options, Handler& handler);
  ~HttpServer();  // stop(0s) unless stopped
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts the threads. Errors: InvalidArgument (bad host, TLS files that do
  // not load), Unavailable (the address cannot be bound, e.g. in use).
  engine::Status start();

  // The port listened on (the one chosen when options.port was 0). REQUIRES: start() succeeded.
  unsigned short port() const;

  // Graceful stop: stops accepting, closes idle connections, lets the requests in flight finish
  // and their answers go out (each with "Connection: close") for up to `grace`, then closes
  // every connection and joins the threads (a handler still running is waited for). Idempotent.
  void stop(std::chrono::milliseconds grace);

  // Open connections now.
  std::size_t connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stepd::server
