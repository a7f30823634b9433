#include "stepd/worker/function_host.hpp"

#include "signals.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>

// GCC 12 reports Asio's coroutine frames (allocated by Asio's own operator new, freed by its
// matching operator delete) as mismatched after inlining: a false positive (GCC bug 109224).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace stepd::worker {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using nlohmann::json;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

json error_body(const std::string &type, const std::string &message) {
  return json{{"errorType", type}, {"errorMessage", message}};
}

}  // namespace

std::string Request::header(std::string_view name) const {
  const std::string key = lower(name);
  for (const auto &[n, v] : headers) {
    if (n == key) return v;
  }
  return "";
}

class FunctionHost::Impl {
 public:
  explicit Impl(FunctionHostOptions options) : options_(std::move(options)), acceptor_(ioc_) {
    if (options_.threads < 1) throw std::invalid_argument("FunctionHostOptions::threads >= 1");
    if (!options_.log) options_.log = [](LogLevel, std::string_view) {};
  }

  ~Impl() { stop(); }

  void handle(std::string name, FunctionHandler handler) {
    if (name.find_first_of("/?#% \t\r\n") != std::string::npos) {
      throw std::invalid_argument("FunctionHost::handle: bad function name '" + name + "'");
    }
    if (!handler)
      throw std::invalid_argument("FunctionHost::handle: no handler for '" + name + "'");
    std::lock_guard lock(handlers_mu_);
    handlers_[std::move(name)] = std::make_shared<FunctionHandler>(std::move(handler));
  }

  void start() {
    std::lock_guard lock(state_mu_);
    if (started_) throw std::logic_error("FunctionHost::start: already started");
    beast::error_code ec;
    const auto address = asio::ip::make_address(options_.address, ec);
    if (ec) throw std::system_error(ec, "FunctionHost: address '" + options_.address + "'");
    const tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      beast::error_code ignored;
      acceptor_.close(ignored);
      throw std::system_error(ec, "FunctionHost: cannot listen on " + options_.address + ":" +
                                      std::to_string(options_.port));
    }
    port_ = acceptor_.local_endpoint().port();
    started_ = true;
    accepting_ = true;
    asio::co_spawn(ioc_, accept_loop(), asio::detached);
    for (int i = 0; i < options_.threads; ++i) threads_.emplace_back([this] { ioc_.run(); });
    options_.log(LogLevel::Info, "function host listening on " + url(""));
  }

  unsigned short port() const { return port_; }

  std::string url(std::string_view name) const {
    std::string host = options_.address;
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    return "http://" + host + ":" + std::to_string(port_) + "/" + std::string(name);
  }

  void stop() {
    std::unique_lock lock(state_mu_);
    if (!started_ || stopped_) {
      return;
    }
    if (stopping_) {
      state_cv_.wait(lock, [&] { return stopped_; });
      return;
    }
    stopping_ = true;
    lock.unlock();

    asio::post(ioc_, [this] {
      beast::error_code ignored;
      acceptor_.close(ignored);
    });
    // Idle connections stop waiting for a request; busy ones end after their answer.
    {
      std::lock_guard sessions(sessions_mu_);
      for (auto &[id, cancel] : sessions_) cancel();
    }
    {
      std::unique_lock sessions(sessions_mu_);
      sessions_cv_.wait_for(sessions, options_.shutdown_timeout,
                            [&] { return sessions_.empty() && !accepting_; });
    }
    ioc_.stop();
    for (std::thread &t : threads_) t.join();
    threads_.clear();
    lock.lock();
    stopped_ = true;
    state_cv_.notify_all();
    options_.log(LogLevel::Info, "function host stopped");
  }

  void wait() {
    std::unique_lock lock(state_mu_);
    state_cv_.wait(lock, [&] { return stopped_; });
  }

  int run_until_signal() {
    detail::SignalWait signals;
    {
      std::lock_guard lock(state_mu_);
      if (stopped_) return 0;
    }
    bool started = false;
    {
      std::lock_guard lock(state_mu_);
      started = started_;
    }
    if (!started) start();
    std::thread watcher([&] {
      std::unique_lock lock(state_mu_);
      state_cv_.wait(lock, [&] { return stopped_; });
      lock.unlock();
      signals.wake();
    });
    const int signal = signals.wait();
    if (signal != 0) {
      options_.log(LogLevel::Info, "signal " + std::to_string(signal) + ": stopping");
    }
    stop();
    watcher.join();
    return signal;
  }

  FunctionHostStats stats() const {
    return {requests_.load(), errors_.load(), connections_.load()};
  }

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(ioc_), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open() || stopping_) break;
        continue;  // e.g. too many open files: keep accepting
      }
      if (stopping_) break;
      ++connections_;
      const auto executor = socket.get_executor();
      asio::co_spawn(executor, session(std::move(socket)), asio::detached);
    }
    {
      std::lock_guard lock(sessions_mu_);
      accepting_ = false;
    }
    sessions_cv_.notify_all();
  }

  // A connection's stream and whether it waits for a request, shared with stop()'s cancel.
  struct Connection {
    explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    bool reading = false;  // only touched on the connection's strand
  };

  asio::awaitable<void> session(tcp::socket socket) {
    auto connection = std::make_shared<Connection>(std::move(socket));
    beast::tcp_stream &stream = connection->stream;
    const std::uint64_t id = ++next_session_;
    {
      std::lock_guard lock(sessions_mu_);
      std::weak_ptr<Connection> weak = connection;
      sessions_[id] = [executor = stream.get_executor(), weak] {
        asio::post(executor, [weak] {
          if (auto c = weak.lock(); c && c->reading) c->stream.cancel();
        });
      };
    }
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      if (stopping_) break;
      http::request_parser<http::string_body> parser;
      parser.body_limit(options_.max_body_bytes);
      stream.expires_after(first ? options_.read_timeout : options_.idle_timeout);
      connection->reading = true;
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, kTuple);
      connection->reading = false;
      first = false;
      if (ec == http::error::body_limit) {
        auto res = respond(413,
                           error_body("RequestTooLargeException",
                                      "The request body is larger than " +
                                          std::to_string(options_.max_body_bytes) + " bytes"),
                           false);
        stream.expires_after(options_.read_timeout);
        co_await http::async_write(stream, res, kTuple);
        break;
      }
      if (ec) break;
      http::request<http::string_body> req = parser.release();
      http::response<http::string_body> res = serve(req);
      // A host stopping meanwhile closes the connection after this answer.
      const bool keep_alive = req.keep_alive() && !stopping_;
      res.version(req.version());
      res.keep_alive(keep_alive);
      stream.expires_after(options_.read_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, kTuple);
      if (wec || !keep_alive) break;
    }
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
    {
      std::lock_guard lock(sessions_mu_);
      sessions_.erase(id);
    }
    sessions_cv_.notify_all();
  }

  http::response<http::string_body> respond(int status, const json &body, bool function_error) {
    http::response<http::string_body> res{static_cast<http::status>(status), 11};
    res.set(http::field::content_type, "application/json");
    res.set(http::field::server, "stepd-function-host");
    if (function_error) res.set("X-Amz-Function-Error", "Unhandled");
    res.body() = body.dump(-1, ' ', false, json::error_handler_t::replace);
    res.prepare_payload();
    return res;
  }

  http::response<http::string_body> serve(const http::request<http::string_body> &req) {
    ++requests_;
    std::string target(req.target());
    const std::size_t query = target.find('?');
    if (query != std::string::npos) target.erase(query);
    std::string name = target.empty() ? "" : target.substr(1);
    while (!name.empty() && name.back() == '/') name.pop_back();

    std::shared_ptr<FunctionHandler> handler;
    std::vector<std::string> names;
    {
      std::lock_guard lock(handlers_mu_);
      auto it = handlers_.find(name);
      if (it != handlers_.end()) handler = it->second;
      if (!handler) {
        for (const auto &[n, h] : handlers_) names.push_back(n.empty() ? "/" : "/" + n);
      }
    }
    if (!handler && name == "healthz" && req.method() == http::verb::get) {
      return respond(200, json{{"status", "ok"}}, false);
    }
    if (!handler) {
      std::string list;
      for (const std::string &n : names) list += (list.empty() ? "" : ", ") + n;
      return respond(404,
                     error_body("Lambda.ResourceNotFoundException",
                                "No function at '/" + name + "' on this host (it serves: " +
                                    (list.empty() ? "nothing" : list) + ")"),
                     false);
    }
    if (req.method() != http::verb::post) {
      auto res = respond(
          405, error_body("MethodNotAllowed", "Use POST to call function '" + name + "'"), false);
      res.set(http::field::allow, "POST");
      return res;
    }

    Request request;
    request.function = name;
    for (const auto &field : req) {
      request.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
    }
    request.idempotency_key = request.header("x-stepd-idempotency-key");
    request.traceparent = request.header("traceparent");
    if (request.traceparent.empty()) request.traceparent = request.header("x-amzn-trace-id");
    request.execution_arn = request.header("x-stepd-execution-arn");
    request.state = request.header("x-stepd-state");
    const std::string &body = req.body();
    if (body.find_first_not_of(" \t\r\n") != std::string::npos) {
      request.input = json::parse(body, nullptr, /*allow_exceptions=*/false);
      if (request.input.is_discarded()) {
        return respond(400,
                       error_body("InvalidRequestContentException",
                                  "The request body is not JSON (function '" + name + "')"),
                       false);
      }
    }

    try {
      json result = (*handler)(request);
      return respond(200, result, false);
    } catch (...) {
      ++errors_;
      FailureReport report = current_exception_report();
      options_.log(LogLevel::Debug,
                   "function '" + name + "' failed: " + report.error + ": " + report.cause);
      return respond(500, error_body(report.error, report.cause), true);
    }
  }

  FunctionHostOptions options_;
  asio::io_context ioc_;
  tcp::acceptor acceptor_;
  std::vector<std::thread> threads_;
  unsigned short port_ = 0;

  std::mutex handlers_mu_;
  std::map<std::string, std::shared_ptr<FunctionHandler>> handlers_;

  std::mutex state_mu_;
  std::condition_variable state_cv_;
  bool started_ = false;
  bool stopped_ = false;
  std::atomic<bool> stopping_{false};

  std::mutex sessions_mu_;
  std::condition_variable sessions_cv_;
  std::map<std::uint64_t, std::function<void()>> sessions_;
  std::atomic<std::uint64_t> next_session_{0};
  std::atomic<bool> accepting_{false};

  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::atomic<std::uint64_t> connections_{0};
};

FunctionHost::FunctionHost(FunctionHostOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}
FunctionHost::~FunctionHost() = default;

void FunctionHost::handle(std::string name, FunctionHandler handler) {
  impl_->handle(std::move(name), std::move(handler));
}
void FunctionHost::start() { impl_->start(); }
unsigned short FunctionHost::port() const { return impl_->port(); }
std::string FunctionHost::url(std::string_view name) const { return impl_->url(name); }
void FunctionHost::stop() { impl_->stop(); }
void FunctionHost::wait() { impl_->wait(); }
int FunctionHost::run_until_signal() { return impl_->run_until_signal(); }
FunctionHostStats FunctionHost::stats() const { return impl_->stats(); }

}  // namespace stepd::worker
