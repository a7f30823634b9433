#include "engine/dispatch/http_invoker.hpp"

#include "engine/dispatch/invocation.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace stepd::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
// The largest answer read (the engine's payload limit, 256 KiB, applies to the result later).
constexpr std::uint64_t kMaxAnswerBytes = 16 * 1024 * 1024;

std::string make_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  std::uint64_t a = rng();
  std::uint64_t b = rng();
  a = (a & 0xFFFFFFFFFFFF0FFFULL) | 0x0000000000004000ULL;  // version 4
  b = (b & 0x3FFFFFFFFFFFFFFFULL) | 0x8000000000000000ULL;  // variant 10
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    std::uint64_t word = i < 8 ? a : b;
    unsigned byte = static_cast<unsigned>((word >> ((7 - i % 8) * 8)) & 0xFF);
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[byte >> 4]);
    out.push_back(kHex[byte & 0xF]);
  }
  return out;
}

// A keep-alive connection to one endpoint, plain or TLS (`tls_context` set). Used by one call at
// a time.
struct Connection {
  Connection(const asio::any_io_executor& ex, ssl::context* tls_context) {
    if (tls_context != nullptr) {
      tls.emplace(ex, *tls_context);
    } else {
      plain.emplace(ex);
    }
  }
  // The TCP socket underneath (closing it aborts any operation in progress).
  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
  // Runs `op(stream)` on the stream that carries HTTP: the TLS stream or the plain socket.
  template <class Op>
  auto on_stream(Op&& op) {
    return tls ? op(*tls) : op(*plain);
  }

  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;
};

// Prepares a TLS connection to `host` before its handshake: SNI (for a host name; RFC 6066 has
// none for IP addresses) and the name the certificate must carry. False with `why` when the host
// cannot be checked.
bool prepare_tls(ssl::stream<tcp::socket>& stream, const std::string& host, std::string* why) {
  SSL* handle = stream.native_handle();
  beast::error_code not_ip;
  asio::ip::make_address(host, not_ip);
  if (not_ip) {
    if (SSL_set_tlsext_host_name(handle, host.c_str()) != 1) {
      *why = "the host name '" + host + "' cannot be sent as SNI";
      return false;
    }
    // OpenSSL's own check, so that a mismatch reports "hostname mismatch" as the reason.
    SSL_set_hostflags(handle, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(handle, host.c_str()) != 1) {
      *why = "the host name '" + host + "' cannot be checked against a certificate";
      return false;
    }
  } else if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(handle), host.c_str()) != 1) {
    *why = "the IP address '" + host + "' cannot be checked against a certificate";
    return false;
  }
  return true;
}

// Why a handshake failed: the certificate verification's reason when that is what failed
// ("certificate verify failed: unable to get local issuer certificate"), else the TLS error.
std::string tls_failure_text(ssl::stream<tcp::socket>& stream, const beast::error_code& ec) {
  long verify = SSL_get_verify_result(stream.native_handle());
  if (verify != X509_V_OK) {
    return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
  }
  if (ec == asio::error::eof || ec == ssl::error::stream_truncated) {
    return "the server closed the connection during the handshake";
  }
  return ec.message();
}

struct Call;

// The calls and idle connections of one host:port.
struct Endpoint {
  std::mutex mu;
  int running = 0;                             // calls holding a slot
  std::deque<std::shared_ptr<Call>> waiting;   // calls waiting for a slot, in order
  std::vector<std::unique_ptr<Connection>> idle;
};

// One invoke(). `claimed` decides once whether `done` is called: the first of finish (done
// called), cancel() and shutdown() to set it wins. Members below `strand` are used on the strand
// only.
struct Call {
  Call(asio::io_context& io, std::string t, HttpInvoker::Done d)
      : token(std::move(t)),
        done(std::move(d)),
        strand(asio::make_strand(io)),
        deadline_timer(strand),
        connect_timer(strand) {}

  std::string token;
  HttpInvoker::Done done;
  std::optional<HttpCallPlan> plan;            // empty when the call fails before any I/O
  std::optional<asl::StatesError> immediate;   // ... with this
  std::shared_ptr<Endpoint> endpoint;
  Clock::time_point deadline;
  std::atomic<bool> claimed{false};

  asio::strand<asio::io_context::executor_type> strand;
  asio::steady_timer deadline_timer;
  asio::steady_timer connect_timer;
  bool started = false;     // its coroutine runs
  bool finished = false;    // its outcome is known
  bool timed_out = false;   // the deadline passed
  bool abandoned = false;   // cancel() or shutdown()
  bool connecting = false;  // a connect is in progress
  bool connect_timed_out = false;
  Connection* connection = nullptr;  // the one in use
  tcp::resolver* resolver = nullptr;

  // Aborts the I/O in progress (on the strand).
  void interrupt() {
    beast::error_code ignored;
    if (connection != nullptr) connection->socket().close(ignored);
    if (resolver != nullptr) resolver->cancel();
    connect_timer.cancel();
  }
};

enum class Stop { None, TimedOut, Abandoned };

Stop stop_reason(const Call& call) {
  if (call.abandoned) return Stop::Abandoned;
  if (call.timed_out) return Stop::TimedOut;
  return Stop::None;
}

// The result of one attempt to get an answer.
struct Attempt {
  std::optional<HttpAnswer> answer;
  std::optional<TransportFailure> failure;
  Stop stop = Stop::None;
  bool retry = false;  // a pooled connection turned out closed before any answer byte
};

bool is_stale_error(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

}  // namespace

class HttpInvoker::Impl {
 public:
  Impl(const Registry& registry, InvokerOptions options)
      : registry_(registry), options_(std::move(options)), work_(asio::make_work_guard(io_)) {
    if (options_.threads < 1) options_.threads = 1;
    if (options_.max_in_flight_per_endpoint < 1) options_.max_in_flight_per_endpoint = 1;
    set_up_tls();  // may throw: before any thread starts
    routes_.function_url = [this](std::string_view name, std::string_view qualifier) {
      return registry_.function_url(name, qualifier);
    };
    routes_.service_url = [this](std::string_view service, std::string_view action) {
      return registry_.service_url(service, action);
    };
    for (int i = 0; i < options_.threads; ++i) {
      threads_.emplace_back([this] { io_.run(); });
    }
  }

  ~Impl() { shutdown(); }

  void invoke(const TaskDispatch& task, Done done) {
    auto call = std::make_shared<Call>(io_, task.token, std::move(done));
    auto planned = plan_call(task, routes_, options_);
    if (auto* error = std::get_if<asl::StatesError>(&planned)) {
      call->immediate = std::move(*error);
    } else {
      call->plan = std::move(std::get<HttpCallPlan>(planned));
    }
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      calls_.emplace(call->token, call);
    }
    if (call->immediate) {
      asio::post(call->strand, [this, call] {
        asl::StatesError error = std::move(*call->immediate);
        finish(*call, std::move(error));
      });
      return;
    }
    call->deadline = Clock::now() + call->plan->timeout;
    call->endpoint = endpoint_for(*call->plan);
    // The deadline counts from invoke(): time spent waiting for a slot is part of it.
    asio::post(call->strand, [this, call] {
      if (call->finished) return;  // cancelled before its deadline was armed
      call->deadline_timer.expires_at(call->deadline);
      call->deadline_timer.async_wait([this, call](const beast::error_code& ec) {
        if (ec || call->finished) return;
        call->timed_out = true;
        if (call->started) {
          call->interrupt();  // the coroutine sees timed_out and finishes
        } else {
          finish(*call, timeout_error(*call->plan));  // still waiting for a slot
        }
      });
    });
    bool start = false;
    {
      std::lock_guard lock(call->endpoint->mu);
      if (call->endpoint->running < options_.max_in_flight_per_endpoint) {
        ++call->endpoint->running;
        start = true;
      } else {
        call->endpoint->waiting.push_back(call);
      }
    }
    if (start) spawn(call);
  }

  void cancel(const std::string& token) {
    std::vector<std::shared_ptr<Call>> found;
    {
      std::lock_guard lock(mu_);
      auto [begin, end] = calls_.equal_range(token);
      for (auto it = begin; it != end; ++it) found.push_back(it->second);
      calls_.erase(begin, end);
    }
    for (auto& call : found) abandon(call);
  }

  void shutdown() {
    std::vector<std::shared_ptr<Call>> calls;
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
      for (auto& [token, call] : calls_) calls.push_back(call);
      calls_.clear();
    }
    for (auto& call : calls) call->claimed.store(true);
    work_.reset();
    io_.stop();
    for (auto& t : threads_) {
      if (t.get_id() == std::this_thread::get_id()) {
        t.detach();  // shutdown() from a `done` callback: that thread ends when it returns
      } else if (t.joinable()) {
        t.join();
      }
    }
    threads_.clear();
    std::lock_guard lock(mu_);
    for (auto& [key, endpoint] : endpoints_) {
      std::lock_guard elock(endpoint->mu);
      endpoint->idle.clear();
      endpoint->waiting.clear();
    }
  }

  std::size_t in_flight() const {
    std::lock_guard lock(mu_);
    return calls_.size();
  }

 private:
  // The client side of https:// calls: TLS 1.2 or later, the peer's certificate verified against
  // the system's trust store and options_.tls_ca_file.
  void set_up_tls() {
    tls_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    tls_.set_verify_mode(ssl::verify_peer);
    beast::error_code ec;
    tls_.set_default_verify_paths(ec);  // a machine without a trust store trusts only the file
    if (!options_.tls_ca_file.empty()) {
      tls_.load_verify_file(options_.tls_ca_file, ec);
      if (ec) {
        throw std::runtime_error("cannot load the CA file '" + options_.tls_ca_file +
                                 "' for https:// calls: " + ec.message());
      }
    }
  }

  std::shared_ptr<Endpoint> endpoint_for(const HttpCallPlan& plan) {
    std::string key = plan.url.scheme + "://" + plan.url.host + ":" + plan.url.port;
    std::lock_guard lock(mu_);
    auto& slot = endpoints_[key];
    if (!slot) slot = std::make_shared<Endpoint>();
    return slot;
  }

  void spawn(const std::shared_ptr<Call>& call) {
    asio::co_spawn(call->strand, run(call), asio::detached);
  }

  void abandon(const std::shared_ptr<Call>& call) {
    if (call->claimed.exchange(true)) return;  // its outcome was already handed over
    asio::post(call->strand, [call] {
      call->abandoned = true;
      call->finished = true;
      call->deadline_timer.cancel();
      call->interrupt();
    });
  }

  // Hands the outcome over (on the call's strand), unless the call was cancelled or the invoker
  // shut down.
  void finish(Call& call, asl::Outcome outcome) {
    if (call.finished) return;
    call.finished = true;
    call.deadline_timer.cancel();
    call.connect_timer.cancel();
    {
      std::lock_guard lock(mu_);
      auto [begin, end] = calls_.equal_range(call.token);
      for (auto it = begin; it != end; ++it) {
        if (it->second.get() == &call) {
          calls_.erase(it);
          break;
        }
      }
    }
    if (call.claimed.exchange(true)) return;
    try {
      call.done(std::move(outcome));
    } catch (...) {
      // A callback that throws loses its own outcome; the invoker goes on.
    }
  }

  // Gives the call's endpoint slot to the next waiting call, or frees it.
  void release_slot(Call& call) {
    std::shared_ptr<Call> next;
    {
      std::lock_guard lock(call.endpoint->mu);
      auto& waiting = call.endpoint->waiting;
      while (!waiting.empty()) {
        auto candidate = std::move(waiting.front());
        waiting.pop_front();
        if (!candidate->claimed.load()) {
          next = std::move(candidate);
          break;
        }
      }
      if (!next) --call.endpoint->running;
    }
    if (next) spawn(next);
  }

  void return_connection(Endpoint& endpoint, std::unique_ptr<Connection> connection) {
    std::lock_guard lock(endpoint.mu);
    if (stopping_.load() ||
        endpoint.idle.size() >= static_cast<std::size_t>(options_.max_in_flight_per_endpoint)) {
      return;
    }
    endpoint.idle.push_back(std::move(connection));
  }

  std::unique_ptr<Connection> take_connection(Endpoint& endpoint) {
    std::lock_guard lock(endpoint.mu);
    if (endpoint.idle.empty()) return nullptr;
    auto connection = std::move(endpoint.idle.back());
    endpoint.idle.pop_back();
    return connection;
  }

  asio::awaitable<void> run(std::shared_ptr<Call> call) {
    call->started = true;
    if (call->finished || call->claimed.load()) {
      release_slot(*call);
      co_return;
    }
    const HttpCallPlan& plan = *call->plan;

    http::request<http::string_body> req;
    req.method_string(plan.method);
    req.target(plan.url.target);
    req.version(11);
    std::string host = plan.url.host.find(':') != std::string::npos ? "[" + plan.url.host + "]"
                                                                    : plan.url.host;
    const bool default_port = plan.url.port == (plan.url.scheme == "https" ? "443" : "80");
    req.set(http::field::host, default_port ? host : host + ":" + plan.url.port);
    req.set(http::field::user_agent, "stepd");
    for (const auto& [name, value] : plan.headers) req.insert(name, value);
    if (plan.body) req.body() = *plan.body;
    req.prepare_payload();

    Attempt result;
    for (int attempt = 0; attempt < 2; ++attempt) {
      result = co_await attempt_once(call, req, /*may_reuse=*/attempt == 0);
      if (!result.retry) break;
    }
    call->connection = nullptr;
    release_slot(*call);

    switch (result.stop) {
      case Stop::Abandoned:
        co_return;
      case Stop::TimedOut:
        finish(*call, timeout_error(plan));
        co_return;
      case Stop::None:
        break;
    }
    if (result.answer) {
      finish(*call, answer_outcome(plan, *result.answer, make_request_id));
    } else if (result.failure) {
      finish(*call, failure_error(plan, *result.failure));
    } else {
      finish(*call, failure_error(plan, {TransportFailure::Stage::Receive, "no answer"}));
    }
  }

  asio::awaitable<Attempt> attempt_once(std::shared_ptr<Call> call,
                                        http::request<http::string_body>& req, bool may_reuse) {
    const HttpCallPlan& plan = *call->plan;
    Attempt out;
    std::unique_ptr<Connection> connection;
    if (may_reuse) connection = take_connection(*call->endpoint);
    const bool reused = connection != nullptr;

    if (!connection) {
      connection = std::make_unique<Connection>(io_.get_executor(),
                                                plan.url.scheme == "https" ? &tls_ : nullptr);
      call->connection = connection.get();
      tcp::resolver resolver(call->strand);
      call->resolver = &resolver;
      auto [rec, endpoints] = co_await resolver.async_resolve(plan.url.host, plan.url.port, kUse);
      call->resolver = nullptr;
      if ((out.stop = stop_reason(*call)) != Stop::None) co_return out;
      if (rec) {
        out.failure = TransportFailure{TransportFailure::Stage::Resolve, rec.message()};
        co_return out;
      }
      call->connecting = true;
      call->connect_timed_out = false;
      call->connect_timer.expires_after(options_.connect_timeout);
      call->connect_timer.async_wait([call](const beast::error_code& ec) {
        if (ec || !call->connecting) return;
        call->connect_timed_out = true;
        beast::error_code ignored;
        if (call->connection != nullptr) call->connection->socket().close(ignored);
      });
      auto [cec, ep] = co_await asio::async_connect(connection->socket(), endpoints, kUse);
      (void)ep;
      call->connecting = false;
      call->connect_timer.cancel();
      if ((out.stop = stop_reason(*call)) != Stop::None) co_return out;
      if (call->connect_timed_out) {
        out.failure = TransportFailure{
            TransportFailure::Stage::ConnectTimeout,
            "no connection within " + std::to_string(options_.connect_timeout.count()) + " ms"};
        co_return out;
      }
      if (cec) {
        out.failure = TransportFailure{TransportFailure::Stage::Connect, cec.message()};
        co_return out;
      }
      beast::error_code ignored;
      connection->socket().set_option(tcp::no_delay(true), ignored);
      if (connection->tls) {
        // The handshake has no time limit of its own: the call's deadline interrupts it.
        std::string why;
        if (!prepare_tls(*connection->tls, plan.url.host, &why)) {
          out.failure = TransportFailure{TransportFailure::Stage::Tls, why};
          co_return out;
        }
        auto [hec] = co_await connection->tls->async_handshake(ssl::stream_base::client, kUse);
        if ((out.stop = stop_reason(*call)) != Stop::None) co_return out;
        if (hec) {
          out.failure = TransportFailure{TransportFailure::Stage::Tls,
                                         tls_failure_text(*connection->tls, hec)};
          co_return out;
        }
      }
    }
    call->connection = connection.get();

    auto [wec, written] = co_await connection->on_stream(
        [&](auto& stream) { return http::async_write(stream, req, kUse); });
    (void)written;
    if ((out.stop = stop_reason(*call)) != Stop::None) co_return out;
    if (wec) {
      if (reused && is_stale_error(wec)) {
        out.retry = true;
        co_return out;
      }
      out.failure = TransportFailure{TransportFailure::Stage::Send, wec.message()};
      co_return out;
    }

    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswerBytes);
    if (req.method() == http::verb::head) parser.skip(true);
    auto [rec, read] = co_await connection->on_stream([&](auto& stream) {
      return http::async_read(stream, connection->buffer, parser, kUse);
    });
    (void)read;
    if ((out.stop = stop_reason(*call)) != Stop::None) co_return out;
    if (rec) {
      bool nothing_came = !parser.got_some() && connection->buffer.size() == 0;
      if (reused && nothing_came && is_stale_error(rec)) {
        out.retry = true;  // the server closed the idle connection; the request never arrived
        co_return out;
      }
      auto stage = rec == http::error::body_limit ? TransportFailure::Stage::TooLarge
                                                  : TransportFailure::Stage::Receive;
      out.failure = TransportFailure{stage, rec.message()};
      co_return out;
    }

    auto& res = parser.get();
    HttpAnswer answer;
    answer.status = res.result_int();
    answer.reason = std::string(res.reason());
    for (const auto& field : res) {
      answer.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    answer.body = std::move(res.body());
    bool reusable = res.keep_alive() && !parser.need_eof() && connection->buffer.size() == 0;
    out.answer = std::move(answer);
    call->connection = nullptr;
    if (reusable) return_connection(*call->endpoint, std::move(connection));
    co_return out;
  }

  const Registry& registry_;
  InvokerOptions options_;
  RouteLookup routes_;
  ssl::context tls_{ssl::context::tls_client};  // shared by every https:// connection

  mutable std::mutex mu_;
  std::atomic<bool> stopping_{false};
  std::unordered_multimap<std::string, std::shared_ptr<Call>> calls_;
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints_;

  // Destroyed first: pending coroutines go before the endpoints and calls they refer to.
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

HttpInvoker::HttpInvoker(const Registry& registry, InvokerOptions options)
    : impl_(std::make_unique<Impl>(registry, std::move(options))) {}

HttpInvoker::~HttpInvoker() { shutdown(); }

void HttpInvoker::invoke(const TaskDispatch& task, Done done) {
  impl_->invoke(task, std::move(done));
}

void HttpInvoker::cancel(const std::string& token) { impl_->cancel(token); }

void HttpInvoker::shutdown() { impl_->shutdown(); }

std::size_t HttpInvoker::in_flight() const { return impl_->in_flight(); }

}  // namespace stepd::engine
