// A small blocking HTTP/1.1 client for tests (Beast over Asio, header-only): one connection,
// every operation bounded by a timeout, raw bytes when a test needs to misbehave (pipelining,
// slow sending, oversized headers).
//
//   stepd::test::HttpReply r = stepd::test::http_request(port, "GET", "/healthz");
//   EXPECT_EQ(r.status, 200);
//
//   stepd::test::TestConnection c;
//   ASSERT_TRUE(c.connect(port));
//   c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n");
//   auto first = c.read_response();   // std::optional<HttpReply>, nullopt on timeout/close
//
// Not thread-safe: one TestConnection per thread.
#pragma once

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace stepd::test {

struct HttpReply {
  int status = 0;  // 0: no answer (connection failed, closed or timed out)
  std::map<std::string, std::string> headers;  // names in lowercase
  std::string body;
  bool keep_alive = true;
  std::string error;  // why status is 0

  // The header's value, "" when absent. `name` in any case.
  std::string header(std::string name) const {
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// "Name: value" pairs for a request.
using HeaderList = std::vector<std::pair<std::string, std::string>>;

// The text of a request; Host (127.0.0.1) and Content-Length are added unless `headers` has
// them.
inline std::string format_request(const std::string& method, const std::string& target,
                                  const std::string& body = "", const HeaderList& headers = {}) {
  std::string out = method + " " + target + " HTTP/1.1\r\n";
  bool has_length = false;
  bool has_host = false;
  for (const auto& [name, value] : headers) {
    out += name + ": " + value + "\r\n";
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    if (lower == "content-length" || lower == "transfer-encoding") has_length = true;
    if (lower == "host") has_host = true;
  }
  if (!has_host) out += "Host: 127.0.0.1\r\n";
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT")) {
    out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  out += "\r\n";
  out += body;
  return out;
}

class TestConnection {
 public:
  using ms = std::chrono::milliseconds;

  TestConnection() : socket_(ioc_) {}
  TestConnection(const TestConnection&) = delete;
  TestConnection& operator=(const TestConnection&) = delete;

  bool connect(unsigned short port, ms timeout = ms(5000), const std::string& host = "127.0.0.1") {
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(host, ec);
    if (ec) {
      error_ = ec.message();
      return false;
    }
    const boost::asio::ip::tcp::endpoint endpoint(address, port);
    ec = run([&](auto handler) { socket_.async_connect(endpoint, handler); }, timeout);
    if (ec) error_ = "connect: " + ec.message();
    return !ec;
  }

  bool send(std::string_view bytes, ms timeout = ms(5000)) {
    const auto ec = run(
        [&](auto handler) {
          boost::asio::async_write(
              socket_, boost::asio::buffer(bytes.data(), bytes.size()),
              [handler](boost::system::error_code e, std::size_t) { handler(e); });
        },
        timeout);
    if (ec) error_ = "send: " + ec.message();
    return !ec;
  }

  bool send_request(const std::string& method, const std::string& target,
                    const std::string& body = "", const HeaderList& headers = {}) {
    return send(format_request(method, target, body, headers));
  }

  // Reads one answer (interim 1xx answers are returned too). `head`: the answer to a HEAD
  // request (a header only, whatever its Content-Length says).
  std::optional<HttpReply> read_response(ms timeout = ms(10000), bool head = false) {
    namespace http = boost::beast::http;
    http::response_parser<http::string_body> parser;
    parser.skip(head);
    parser.body_limit(64 * 1024 * 1024);
    parser.header_limit(1024 * 1024);
    const auto ec = run(
        [&](auto handler) {
          http::async_read(socket_, buffer_, parser,
                           [handler](boost::system::error_code e, std::size_t) { handler(e); });
        },
        timeout);
    if (ec) {
      error_ = "read: " + ec.message();
      return std::nullopt;
    }
    HttpReply reply;
    const auto& msg = parser.get();
    reply.status = static_cast<int>(msg.result_int());
    for (const auto& field : msg) {
      std::string name(field.name_string());
      std::transform(name.begin(), name.end(), name.begin(),
                     [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
      reply.headers[name] = std::string(field.value());
    }
    reply.body = msg.body();
    reply.keep_alive = msg.keep_alive();
    return reply;
  }

  // Reads raw bytes until `marker` has been seen (returned with what came before it).
  std::optional<std::string> read_until(const std::string& marker, ms timeout = ms(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const std::string_view have(static_cast<const char*>(buffer_.data().data()), buffer_.size());
      if (auto at = have.find(marker); at != std::string_view::npos) {
        std::string out(have.substr(0, at + marker.size()));
        buffer_.consume(at + marker.size());
        return out;
      }
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      const auto ec = read_some(left);
      if (ec) {
        error_ = "read: " + ec.message();
        return std::nullopt;
      }
    }
  }

  HttpReply request(const std::string& method, const std::string& target,
                    const std::string& body = "", const HeaderList& headers = {},
                    ms timeout = ms(10000)) {
    HttpReply failed;
    if (!send_request(method, target, body, headers)) {
      failed.error = error_;
      return failed;
    }
    auto r = read_response(timeout, method == "HEAD");
    if (!r) {
      failed.error = error_;
      return failed;
    }
    return *r;
  }

  // True once the peer has closed the connection (end of stream or reset) within `timeout`;
  // bytes that still arrive before that are dropped.
  bool wait_closed(ms timeout = ms(5000)) {
    buffer_.consume(buffer_.size());
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      const auto ec = read_some(left);
      buffer_.consume(buffer_.size());
      if (ec == boost::asio::error::timed_out) return false;
      if (ec) return true;
    }
  }

  void close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  const std::string& error() const { return error_; }

 private:
  // Reads what arrives next (up to 4 KiB, at most `timeout`) into buffer_.
  boost::system::error_code read_some(ms timeout) {
    std::size_t got = 0;
    const auto ec = run(
        [&](auto handler) {
          socket_.async_read_some(buffer_.prepare(4096),
                                  [handler, &got](boost::system::error_code e, std::size_t n) {
                                    got = n;
                                    handler(e);
                                  });
        },
        timeout);
    buffer_.commit(got);
    return ec;
  }

  // Runs one asynchronous operation on the private io_context for at most `timeout`; the
  // operation is cancelled (and timed_out returned) when it takes longer.
  template <class Start>
  boost::system::error_code run(Start start, ms timeout) {
    boost::system::error_code result = boost::asio::error::would_block;
    bool done = false;
    start([&result, &done](boost::system::error_code ec) {
      result = ec;
      done = true;
    });
    ioc_.restart();
    ioc_.run_for(timeout);
    if (!done) {
      boost::system::error_code ignored;
      socket_.cancel(ignored);
      ioc_.restart();
      ioc_.run();
      return boost::asio::error::timed_out;
    }
    return result;
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  std::string error_;
};

// One request on a fresh connection.
inline HttpReply http_request(
    unsigned short port, const std::string& method, const std::string& target,
    const std::string& body = "", const HeaderList& headers = {},
    std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  TestConnection c;
  if (!c.connect(port, timeout)) {
    HttpReply failed;
    failed.error = c.error();
    return failed;
  }
  return c.request(method, target, body, headers, timeout);
}

}  // namespace stepd::test
