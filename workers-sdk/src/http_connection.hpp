// Internal: one blocking HTTP/1.1 client connection (Beast over Asio) with time-outs and
// cancellation, and the endpoint it talks to. Not part of the installed headers.
//
// Threads: one thread at a time uses a connection (the Client's pool hands each to one call).
#pragma once

#include "stepd/worker/error.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stepd::worker::detail {

struct Endpoint {
  std::string host;
  std::string port;       // "80" when the URL gives none
  std::string base_path;  // "" or "/prefix" (no trailing slash)
  std::string authority;  // HOST[:PORT] as given: the Host header
};

// Parses http://HOST[:PORT][/PATH]. Throws Error{Connect, "InvalidEndpoint"}.
Endpoint parse_endpoint(std::string_view url);

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercased
  bool keep_alive = false;

  // The first value of header `lower_name`, "" when absent.
  std::string header(std::string_view lower_name) const;
};

struct HttpCall {
  std::string method;
  std::string target;  // path and query
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds timeout{30'000};
  std::stop_token stop;
};

class HttpConnection {
 public:
  explicit HttpConnection(const Endpoint &endpoint);
  ~HttpConnection();
  HttpConnection(const HttpConnection &) = delete;
  HttpConnection &operator=(const HttpConnection &) = delete;

  // The outcome of exchange(): an answer, or an error. `unanswered` tells that the connection broke
  // before any byte of an answer came, on a connection used before: the server had probably closed
  // it while idle, and the request may be sent again on a new connection.
  struct Outcome {
    std::optional<HttpAnswer> answer;
    std::optional<Error> error;
    bool unanswered = false;
  };

  // Connects when not connected, sends `call` and reads the whole answer, within the time-outs.
  // After an error the connection is closed (usable() is false).
  Outcome exchange(const HttpCall &call);

  // Connected, the last answer allowed keep-alive, and the server has not closed it meanwhile
  // (nothing to read on the socket).
  bool usable();
  // Has carried at least one exchange.
  bool used() const { return exchanges_ > 0; }

 private:
  std::optional<Error> connect(const HttpCall &call);
  void close();

  const Endpoint &endpoint_;
  boost::asio::io_context ioc_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  bool connected_ = false;
  bool keep_alive_ = false;
  int exchanges_ = 0;
};

}  // namespace stepd::worker::detail
