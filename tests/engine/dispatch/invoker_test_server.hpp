// A small HTTP/1.1 server on 127.0.0.1 for the invoker tests: one thread per connection,
// keep-alive, a handler that says what to answer, and counters of what happened (connections
// accepted, requests, requests being handled at once). The TLS server of
// invoker_tls_test_server.hpp is this server with a TLS handshake in front of each connection.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace stepd::engine::testing_server {

namespace beast = boost::beast;
namespace http = beast::http;
using boost::asio::ip::tcp;

struct Received {
  std::string method;
  std::string target;
  std::vector<std::pair<std::string, std::string>> headers;  // as sent
  std::string body;
  int connection = 0;  // which accepted connection carried it (1, 2, ...)

  // The values of header `name` (any case), in order.
  std::vector<std::string> values(const std::string& name) const {
    std::vector<std::string> out;
    for (const auto& [n, v] : headers) {
      if (beast::iequals(n, name)) out.push_back(v);
    }
    return out;
  }
  std::string value(const std::string& name) const {
    auto v = values(name);
    return v.empty() ? std::string() : v.front();
  }
};

struct Reply {
  unsigned status = 200;
  std::string reason;  // "" for the standard one
  std::vector<std::pair<std::string, std::string>> headers = {{"Content-Type", "application/json"}};
  std::string body = "{}";
  std::chrono::milliseconds delay{0};  // wait this long before answering
  bool close_after = false;  // close the connection after this answer (which says keep-alive)
  bool drop = false;         // close the connection without answering
  std::string raw;           // when set: these bytes are sent as the whole answer
};

// Accepts connections on 127.0.0.1, one thread each, and answers their requests by a handler.
// By default a connection speaks plain HTTP; a Connection may first wrap the socket (TLS) and
// then hand its stream to serve_requests(). The destructor shuts every open connection, wakes
// delayed replies and joins all threads.
class TestServer {
 public:
  using Handler = std::function<Reply(const Received&)>;
  // What an accepted connection runs on its thread; `id` counts connections from 1. The server
  // shuts and closes `socket` after it returns.
  using Connection = std::function<void(TestServer& server, tcp::socket& socket, int id)>;

  explicit TestServer(Handler handler, Connection connection = nullptr)
      : handler_(std::move(handler)),
        connection_(std::move(connection)),
        acceptor_(io_, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { accept_loop(); });
  }

  ~TestServer() {
    {
      std::lock_guard lock(mu_);
      stopping_ = true;
      for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
    }
    cv_.notify_all();
    boost::system::error_code ec;
    tcp::socket s(io_);
    s.connect(tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port_), ec);
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      threads = std::move(threads_);
    }
    for (auto& t : threads) t.join();
  }

  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  unsigned short port() const { return port_; }

  int accepts() const { return accepts_.load(); }
  int requests() const { return requests_.load(); }
  int max_concurrent() const { return max_concurrent_.load(); }
  std::vector<Received> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

  // Reads HTTP/1.1 requests from `stream` (connection `id`), records each and writes the
  // handler's reply, until the client or a reply ends the connection or the server stops.
  template <class Stream>
  void serve_requests(Stream& stream, int id) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request<http::string_body> req;
      boost::system::error_code ec;
      http::read(stream, buffer, req, ec);
      if (ec) break;
      Received r;
      r.method = std::string(req.method_string());
      r.target = std::string(req.target());
      for (const auto& f : req) {
        r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      }
      r.body = req.body();
      r.connection = id;
      {
        std::lock_guard lock(mu_);
        received_.push_back(r);
      }
      ++requests_;
      int now = ++concurrent_;
      int seen = max_concurrent_.load();
      while (now > seen && !max_concurrent_.compare_exchange_weak(seen, now)) {
      }
      Reply reply = handler_(r);
      if (reply.delay.count() > 0) {
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, reply.delay, [this] { return stopping_; });
      }
      --concurrent_;
      if (reply.drop) break;
      if (!reply.raw.empty()) {
        boost::asio::write(stream, boost::asio::buffer(reply.raw), ec);
        break;
      }
      http::response<http::string_body> res{static_cast<http::status>(reply.status), 11};
      if (!reply.reason.empty()) res.reason(reply.reason);
      for (const auto& [n, v] : reply.headers) res.insert(n, v);
      res.body() = reply.body;
      res.keep_alive(req.keep_alive());
      res.prepare_payload();
      http::write(stream, res, ec);
      if (ec || reply.close_after || !req.keep_alive()) break;
    }
  }

 private:
  void accept_loop() {
    for (;;) {
      tcp::socket socket(io_);
      boost::system::error_code ec;
      acceptor_.accept(socket, ec);
      std::lock_guard lock(mu_);
      if (stopping_) return;
      if (ec) continue;
      int id = ++accepts_;
      open_fds_.push_back(socket.native_handle());
      threads_.emplace_back(
          [this, id, s = std::move(socket)]() mutable { serve(std::move(s), id); });
    }
  }

  void serve(tcp::socket socket, int id) {
    if (connection_) {
      connection_(*this, socket, id);
    } else {
      serve_requests(socket, id);
    }
    boost::system::error_code ignored;
    socket.shutdown(tcp::socket::shutdown_both, ignored);
    std::lock_guard lock(mu_);
    open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), socket.native_handle()),
                    open_fds_.end());
    socket.close(ignored);
  }

  Handler handler_;
  Connection connection_;
  boost::asio::io_context io_;
  tcp::acceptor acceptor_;
  unsigned short port_ = 0;
  std::thread accept_thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::vector<Received> received_;
  std::atomic<int> accepts_{0};
  std::atomic<int> requests_{0};
  std::atomic<int> concurrent_{0};
  std::atomic<int> max_concurrent_{0};
};

}  // namespace stepd::engine::testing_server
