#include "server/http/server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace stepd::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// RFC 9112 §3.2.2: a server accepts a request target in absolute form ("http://host:port/path?q",
// as clients send through a proxy) and uses its path and query. Anything else is returned as it
// is.
std::string origin_form(std::string_view target) {
  auto starts = [&](std::string_view scheme) {
    if (target.size() < scheme.size()) return false;
    for (std::size_t i = 0; i < scheme.size(); ++i) {
      char c = target[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != scheme[i]) return false;
    }
    return true;
  };
  const std::size_t skip = starts("http://") ? 7 : starts("https://") ? 8 : 0;
  if (skip == 0) return std::string(target);
  const std::size_t end = target.find_first_of("/?", skip);
  if (end == std::string_view::npos) return "/";
  if (target[end] == '?') return "/" + std::string(target.substr(end));
  return std::string(target.substr(end));
}

constexpr auto kUse = asio::as_tuple(asio::use_awaitable);
constexpr Clock::time_point kNever = Clock::time_point::max();
constexpr std::size_t kReadChunk = 8192;
// After the last answer of a connection, what the peer still sends is read and dropped for this
// long (so that closing does not reset the connection before the peer has read the answer).
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 4 * 1024 * 1024;
constexpr int kMaxRejecting = 64;

// A random version 4 UUID.
std::string make_request_id() {
  thread_local std::mt19937_64 rng(std::random_device{}() ^
                                   std::hash<std::thread::id>{}(std::this_thread::get_id()));
  const unsigned long long a = rng();
  const unsigned long long b = rng();
  unsigned char bytes[16];
  for (int i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(a >> (8 * i));
    bytes[8 + i] = static_cast<unsigned char>(b >> (8 * i));
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

// The Date header's value, made once a second per thread.
const std::string& http_date() {
  thread_local std::time_t cached_at = 0;
  thread_local std::string cached;
  const std::time_t now = std::time(nullptr);
  if (now != cached_at) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    char buf[64];
    const std::size_t n = std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached.assign(buf, n);
    cached_at = now;
  }
  return cached;
}

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto address = ep.address();
  std::string host = address.to_string();
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(ep.port());
}

// A JSON error the server itself answers: AWS's shape for an AWS-protocol request.
HttpResponse error_response(int status, bool aws, std::string_view code, std::string_view message) {
  nlohmann::json body;
  if (aws) {
    body["__type"] = code;
  } else {
    body["code"] = code;
  }
  body["message"] = message;
  HttpResponse r;
  r.status = status;
  r.content_type = aws ? "application/x-amz-json-1.0" : "application/json";
  r.body = body.dump();
  return r;
}

std::string seconds_text(std::chrono::milliseconds d) {
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " s";
  return std::to_string(d.count()) + " ms";
}

http::response<http::string_body> to_beast(HttpResponse&& r, const std::string& request_id,
                                           bool keep_alive, bool head = false) {
  http::response<http::string_body> res;
  res.version(11);
  res.result(r.status >= 100 && r.status <= 599 ? static_cast<unsigned>(r.status) : 500U);
  if (!r.content_type.empty()) res.set(http::field::content_type, r.content_type);
  for (Header& h : r.headers) res.insert(h.name, h.value);
  if (!request_id.empty()) res.set("x-amzn-RequestId", request_id);
  res.set(http::field::date, http_date());
  res.keep_alive(keep_alive);
  res.body() = std::move(r.body);
  res.prepare_payload();
  if (head) {  // the length of the body a GET would get, without the body
    const auto length = res.body().size();
    res.body().clear();
    res.content_length(length);
  }
  return res;
}

class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Thread-safe: each posts the work to the session's strand.
  virtual void post_stop() = 0;
  virtual void post_close() = 0;
  virtual void post_response(std::uint64_t seq, HttpResponse response) = 0;
};

}  // namespace

// What the sessions share. Owned by the server and by every Respond a handler still holds (so
// that a late answer posts to a live io_context); sessions hold only a weak reference, so the
// io_context (which owns the sessions' coroutine frames) is freed with the last owner.
struct Core {
  ServerOptions options;
  Handler* handler = nullptr;
  asio::thread_pool* pool = nullptr;

  std::mutex mu;
  std::condition_variable cv;
  std::size_t open = 0;  // sessions not yet closed
  std::vector<std::weak_ptr<SessionBase>> sessions;
  std::atomic<std::size_t> open_count{0};
  std::atomic<bool> stopping{false};
  std::atomic<int> rejecting{0};

  std::optional<asio::ssl::context> tls;
  // Destroyed first (members go in reverse order): the coroutine frames it still holds may
  // reference everything above.
  asio::io_context ioc;
  std::optional<tcp::acceptor> acceptor;

  void report(const Exchange& exchange, const HttpResponse& response) {
    if (!options.on_exchange) return;
    try {
      options.on_exchange(exchange, response);
    } catch (const std::exception& e) {
      spdlog::warn("on_exchange failed: {}", e.what());
    }
  }

  void add_session(std::weak_ptr<SessionBase> s) {
    std::lock_guard lock(mu);
    ++open;
    open_count.store(open);
    if (sessions.size() > 2 * open + 16) {
      std::erase_if(sessions, [](const std::weak_ptr<SessionBase>& w) { return w.expired(); });
    }
    sessions.push_back(std::move(s));
  }
  void session_closed() {
    std::lock_guard lock(mu);
    --open;
    open_count.store(open);
    cv.notify_all();
  }
};

namespace {

// Answers one request: posts the answer to its connection, once (a second call is ignored).
struct Responder {
  std::shared_ptr<Core> core;  // keeps the io_context alive for the post
  std::weak_ptr<SessionBase> session;
  std::uint64_t seq;
  std::shared_ptr<std::atomic<bool>> done;

  void operator()(HttpResponse response) const {
    if (done->exchange(true)) return;
    if (auto s = session.lock()) s->post_response(seq, std::move(response));
  }
};

template <class Stream>
class Session final : public SessionBase, public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = !std::is_same_v<Stream, tcp::socket>;

 public:
  Session(std::shared_ptr<Core> core, Stream stream, std::string remote)
      : core_(core.get()),
        core_weak_(core),
        stream_(std::move(stream)),
        remote_(std::move(remote)),
        watchdog_(stream_.get_executor()),
        reader_signal_(stream_.get_executor()),
        writer_signal_(stream_.get_executor()) {
    watchdog_.expires_at(kNever);
  }

  ~Session() override {
    if (!closed_) core_->session_closed();
    end_pending();
  }

  void start() {
    core_->add_session(this->weak_from_this());
    asio::co_spawn(stream_.get_executor(), watchdog(), on_done("watchdog"));
    asio::co_spawn(stream_.get_executor(), reader(), on_done("reader"));
  }

  void post_stop() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->begin_stop(); });
  }
  void post_close() override {
    asio::post(stream_.get_executor(), [self = this->shared_from_this()] { self->close(); });
  }
  void post_response(std::uint64_t seq, HttpResponse response) override {
    asio::post(stream_.get_executor(),
               [self = this->shared_from_this(), seq, r = std::move(response)]() mutable {
                 self->on_response(seq, std::move(r));
               });
  }

 private:
  enum class Phase { Idle, Reading, Handling, Lingering };

  struct Pending {
    Exchange exchange;
    Clock::time_point started;
    std::optional<HttpResponse> response;
    bool close = false;                       // the connection ends after this answer
    bool reported = false;                    // on_exchange has heard of it
    std::shared_ptr<RequestContext> context;  // null for the server's own answers
  };

  // Tells on_exchange of a request once: as its answer goes to the socket, or when it never will
  // (the client went away, the connection closed first) as 499, "client closed request".
  void report(Pending& p, bool written) {
    if (p.reported) return;
    p.reported = true;
    if (!p.response) {
      p.exchange.seconds = std::chrono::duration<double>(Clock::now() - p.started).count();
    }
    if (!written) p.exchange.status = kClientClosedRequest;
    core_->report(p.exchange, p.response ? *p.response : HttpResponse{});
  }

  static auto on_done(const char* what) {
    return [what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("connection {} failed: {}", what, ex.what());
      }
    };
  }

  auto& socket() { return beast::get_lowest_layer(stream_); }

  // --- Deadlines ------------------------------------------------------------------------------
  void arm_read(Clock::time_point at) {
    read_deadline_ = at;
    if (at < watchdog_.expiry()) watchdog_.cancel();
  }
  void arm_write(Clock::time_point at) {
    write_deadline_ = at;
    if (at < watchdog_.expiry()) watchdog_.cancel();
  }

  asio::awaitable<void> watchdog() {
    auto self = this->shared_from_this();
    while (!closed_) {
      watchdog_.expires_at(std::min(read_deadline_, write_deadline_));
      co_await watchdog_.async_wait(kUse);
      if (closed_) break;
      const auto now = Clock::now();
      if (write_deadline_ <= now) {
        close();
        break;
      }
      if (read_deadline_ <= now) {
        read_deadline_ = kNever;
        if (phase_ == Phase::Reading && !kTls) {
          // The reader answers 408 once its read is cancelled.
          read_timed_out_ = true;
          beast::error_code ignored;
          socket().cancel(ignored);
        } else {
          close();
          break;
        }
      }
    }
  }

  // --- Signals between the reader and the writer (both on the strand) --------------------------
  asio::awaitable<void> wait(asio::steady_timer& signal) {
    if (closed_) co_return;
    signal.expires_at(kNever);
    co_await signal.async_wait(kUse);
  }
  static void notify(asio::steady_timer& signal) { signal.cancel(); }

  std::uint64_t in_flight() const { return next_seq_ - next_write_; }

  // --- Reading --------------------------------------------------------------------------------
  asio::awaitable<void> reader() {
    auto self = this->shared_from_this();
    const ServerOptions& opt = core_->options;
    if constexpr (kTls) {
      phase_ = Phase::Reading;
      arm_read(Clock::now() + opt.read_timeout);
      auto [ec] = co_await stream_.async_handshake(asio::ssl::stream_base::server, kUse);
      arm_read(kNever);
      if (ec) {
        reading_ = false;
        close();
        co_return;
      }
    }
    asio::co_spawn(stream_.get_executor(), writer(), on_done("writer"));

    while (!closed_ && !stop_reading_) {
      if (in_flight() >= static_cast<std::uint64_t>(std::max(1, opt.max_pipelined))) {
        phase_ = Phase::Handling;
        co_await wait(reader_signal_);
        continue;
      }
      if (buffer_.size() == 0) {
        phase_ = Phase::Idle;
        arm_read(in_flight() == 0 ? Clock::now() + opt.idle_timeout : kNever);
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kUse);
        if (ec) {
          peer_gone_ = true;  // end of stream, a reset, or closed here
          break;
        }
        buffer_.commit(n);
      }
      phase_ = Phase::Reading;
      read_timed_out_ = false;
      const auto started = Clock::now();
      arm_read(started + opt.read_timeout);
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(opt.max_header_bytes));
      parser.body_limit(opt.max_body_bytes);
      auto [ec, n] = co_await http::async_read_header(stream_, buffer_, parser, kUse);
      std::string bad_request;
      if (!ec) {
        // Beast's header limit bounds each read, not the whole header: count it here.
        if (header_bytes(parser.get()) > opt.max_header_bytes) {
          ec = http::error::header_limit;
        } else if (parser.get().version() >= 11 &&
                   parser.get().find(http::field::host) == parser.get().end()) {
          // RFC 9112 section 3.2: an HTTP/1.1 request without Host is answered 400.
          ec = http::error::bad_value;
          bad_request = "Malformed HTTP request: an HTTP/1.1 request needs a Host header";
        }
      }
      if (!ec && !parser.is_done()) {
        const auto expect = parser.get()[http::field::expect];
        // An early "100 Continue" only when nothing else is being or waits to be written.
        if (beast::iequals(expect, "100-continue") && in_flight() == 0 && !writing_) {
          static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
          writing_ = true;
          auto [wec, wn] = co_await asio::async_write(
              stream_, asio::buffer(kContinue.data(), kContinue.size()), kUse);
          writing_ = false;
          notify(writer_signal_);
          ec = wec;
        }
        if (!ec) {
          auto [bec, bn] = co_await http::async_read(stream_, buffer_, parser, kUse);
          ec = bec;
        }
      }
      arm_read(kNever);
      phase_ = Phase::Handling;
      if (ec) {
        answer_read_error(ec, parser, started, bad_request);
        break;
      }
      dispatch(parser.release(), started);
      if (close_after_) break;
    }
    reading_ = false;
    if (peer_gone_) cancel_pending();
    notify(writer_signal_);
  }

  // The peer ended its side of the connection while requests were in flight: the client went
  // away. Their contexts hear of it; the answers of cancellable ones will not be written.
  void cancel_pending() {
    std::vector<std::shared_ptr<RequestContext>> contexts;
    for (auto& [seq, p] : pending_) {
      if (p.context) contexts.push_back(p.context);
    }
    for (auto& c : contexts) c->client_gone();
    for (auto& [seq, p] : pending_) {
      if (p.context && p.context->abandoned()) report(p, false);
    }
  }

  // The connection is closed (or the session ends): no answer still pending will be written.
  void end_pending() {
    std::vector<std::shared_ptr<RequestContext>> contexts;
    for (auto& [seq, p] : pending_) {
      report(p, false);
      if (p.context) contexts.push_back(p.context);
    }
    for (auto& c : contexts) {
      c->client_gone();
      c->settle(false);
    }
  }

  // The size of the request line and header fields as sent (CRLFs included).
  static std::size_t header_bytes(const http::request<http::string_body>& head) {
    std::size_t n = head.method_string().size() + head.target().size() + 12;
    for (const auto& field : head) n += field.name_string().size() + field.value().size() + 4;
    return n + 2;
  }

  void answer_read_error(beast::error_code ec, http::request_parser<http::string_body>& parser,
                         Clock::time_point started, const std::string& bad_request = "") {
    const ServerOptions& opt = core_->options;
    // The start line and the fields read so far (a limit can stop the parser before the header
    // is complete, e.g. a Content-Length over the body limit).
    const auto& head = parser.get();
    const bool has_start = !head.method_string().empty();
    const bool aws = head.find("x-amz-target") != head.end();
    HttpResponse r;
    if (!bad_request.empty()) {
      r = error_response(400, aws, "BadRequest", bad_request);
    } else if (read_timed_out_) {
      if (kTls) return;
      r = error_response(
          408, aws, "RequestTimeout",
          "The request was not received completely within " + seconds_text(opt.read_timeout));
    } else if (ec == http::error::body_limit) {
      r = error_response(
          413, aws, aws ? "RequestEntityTooLargeException" : "PayloadTooLarge",
          "Request body exceeds the limit of " + std::to_string(opt.max_body_bytes) + " bytes");
    } else if (ec == http::error::header_limit) {
      r = error_response(431, aws, "RequestHeaderFieldsTooLarge",
                         "Request line and headers exceed the limit of " +
                             std::to_string(opt.max_header_bytes) + " bytes");
    } else if (ec.category() == http::make_error_code(http::error::bad_method).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message) {
      r = error_response(400, aws, "BadRequest", "Malformed HTTP request: " + ec.message());
    } else {
      peer_gone_ = true;
      return;  // the peer went away, or the connection is closing: nobody to answer
    }
    const std::uint64_t seq = next_seq_++;
    Pending& p = pending_[seq];
    p.started = started;
    p.close = true;
    p.exchange.request_id = make_request_id();
    p.exchange.remote = remote_;
    if (has_start) fill_exchange(p.exchange, head);
    close_after_ = seq;
    on_response(seq, std::move(r));
  }

  static void fill_exchange(Exchange& e, const http::request<http::string_body>& msg) {
    e.method = std::string(msg.method_string());
    const std::string target = origin_form(msg.target());
    e.path = std::string(target.substr(0, target.find('?')));
    if (auto it = msg.find("x-amz-target"); it != msg.end())
      e.amz_target = std::string(it->value());
    if (auto it = msg.find("traceparent"); it != msg.end())
      e.traceparent = std::string(it->value());
  }

  void dispatch(http::request<http::string_body> msg, Clock::time_point started) {
    const std::uint64_t seq = next_seq_++;
    Pending& p = pending_[seq];
    p.started = started;
    p.exchange.request_id = make_request_id();
    p.exchange.remote = remote_;
    fill_exchange(p.exchange, msg);
    if (!msg.keep_alive() || stop_reading_) {
      p.close = true;
      close_after_ = seq;
    }

    HttpRequest request;
    request.method = p.exchange.method;
    request.target = origin_form(msg.target());
    request.path = p.exchange.path;
    if (const auto q = request.target.find('?'); q != std::string::npos) {
      request.query = request.target.substr(q + 1);
    }
    request.headers.reserve(static_cast<std::size_t>(std::distance(msg.begin(), msg.end())));
    for (const auto& field : msg) {
      request.headers.push_back(
          Header{std::string(field.name_string()), std::string(field.value())});
    }
    request.body = std::move(msg.body());
    request.remote = remote_;

    Caller caller;
    caller.remote = remote_;
    caller.request_id = p.exchange.request_id;
    p.context = std::make_shared<RequestContext>();
    caller.context = p.context;

    const bool aws = !p.exchange.amz_target.empty();
    Responder respond{core_weak_.lock(), this->weak_from_this(), seq,
                      std::make_shared<std::atomic<bool>>(false)};
    Handler* handler = core_->handler;
    asio::post(*core_->pool, [handler, request = std::move(request), caller = std::move(caller),
                              respond = std::move(respond), aws]() mutable {
      try {
        handler->handle(std::move(request), std::move(caller), respond);
      } catch (const std::exception& e) {
        spdlog::error("request handler failed: {}", e.what());
        respond(error_response(500, aws, aws ? "InternalFailure" : "InternalError",
                               "The server failed to handle the request"));
      }
    });
  }

  void on_response(std::uint64_t seq, HttpResponse response) {
    auto it = pending_.find(seq);
    if (closed_ || it == pending_.end() || it->second.response) return;
    Pending& p = it->second;
    p.exchange.status = response.status;
    p.exchange.seconds = std::chrono::duration<double>(Clock::now() - p.started).count();
    p.response = std::move(response);
    notify(writer_signal_);
  }

  // --- Writing --------------------------------------------------------------------------------
  asio::awaitable<void> writer() {
    auto self = this->shared_from_this();
    const ServerOptions& opt = core_->options;
    while (!closed_) {
      auto it = pending_.find(next_write_);
      if (it == pending_.end() || !it->second.response || writing_) {
        if (!reading_ && next_write_ == next_seq_) break;  // all answered, nothing more to read
        if (stop_reading_ && phase_ == Phase::Idle && next_write_ == next_seq_) break;
        co_await wait(writer_signal_);
        continue;
      }
      Pending p = std::move(it->second);
      pending_.erase(it);
      const bool last_one = next_write_ + 1 == next_seq_;
      const bool last =
          p.close || (last_one && (!reading_ || (stop_reading_ && phase_ == Phase::Idle)));
      if (p.context && p.context->abandoned()) {
        // The client went away and the handler asked to know: nobody takes this answer.
        p.context->settle(false);
        report(p, false);
        ++next_write_;
        notify(reader_signal_);
        if (last) break;
        continue;
      }
      report(p, true);
      auto res = to_beast(std::move(*p.response), p.exchange.request_id, !last,
                          p.exchange.method == "HEAD");
      writing_ = true;
      arm_write(Clock::now() + opt.write_timeout);
      auto [ec, n] = co_await http::async_write(stream_, res, kUse);
      writing_ = false;
      arm_write(kNever);
      ++next_write_;
      notify(reader_signal_);
      if (p.context) p.context->settle(!ec);
      if (ec) {
        close();
        co_return;
      }
      if (last) break;
      if (phase_ == Phase::Idle && next_write_ == next_seq_) {
        arm_read(Clock::now() + opt.idle_timeout);
      }
    }
    co_await finish();
  }

  // Ends the connection after its last answer: the reading half is drained for a moment so the
  // peer gets the answer rather than a reset.
  asio::awaitable<void> finish() {
    if (closed_) co_return;
    if (reading_) {  // still waiting for a request that will not be served
      close();
      co_return;
    }
    phase_ = Phase::Lingering;
    arm_read(Clock::now() + kLingerTime);
    if constexpr (kTls) {
      co_await stream_.async_shutdown(kUse);
    } else {
      beast::error_code ignored;
      socket().shutdown(tcp::socket::shutdown_send, ignored);
      std::size_t drained = buffer_.size();
      while (!closed_ && drained < kLingerBytes) {
        auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kUse);
        if (ec) break;
        buffer_.consume(buffer_.size());
        drained += n;
      }
    }
    close();
  }

  // --- Stopping -------------------------------------------------------------------------------
  void begin_stop() {
    if (closed_) return;
    stop_reading_ = true;
    if (phase_ == Phase::Idle && in_flight() == 0 && !writing_) {
      close();
      return;
    }
    notify(reader_signal_);
    notify(writer_signal_);
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ignored;
    socket().close(ignored);
    watchdog_.cancel();
    reader_signal_.cancel();
    writer_signal_.cancel();
    core_->session_closed();
    end_pending();
  }

  Core* core_;
  std::weak_ptr<Core> core_weak_;
  Stream stream_;
  std::string remote_;
  beast::flat_buffer buffer_;
  asio::steady_timer watchdog_;
  asio::steady_timer reader_signal_;
  asio::steady_timer writer_signal_;
  Clock::time_point read_deadline_ = kNever;
  Clock::time_point write_deadline_ = kNever;
  Phase phase_ = Phase::Idle;
  bool closed_ = false;
  bool reading_ = true;        // the reader coroutine runs
  bool writing_ = false;       // a write is in progress
  bool stop_reading_ = false;  // the server stops: serve what is in flight, read nothing new
  bool read_timed_out_ = false;
  bool peer_gone_ = false;  // the peer ended (or reset) its side while it was read
  std::optional<std::uint64_t> close_after_;
  std::uint64_t next_seq_ = 0;    // sequence number of the next request read
  std::uint64_t next_write_ = 0;  // sequence number of the next answer to write
  std::map<std::uint64_t, Pending> pending_;
};

using PlainSession = Session<tcp::socket>;
using TlsSession = Session<asio::ssl::stream<tcp::socket>>;

// Over max_connections: a short 503 and close, without reading the request.
asio::awaitable<void> reject(Core* core, tcp::socket socket, std::string remote) {
  struct Done {
    Core* core;
    ~Done() { core->rejecting.fetch_sub(1); }
  } done{core};
  beast::tcp_stream stream(std::move(socket));
  HttpResponse r =
      error_response(503, false, "ServiceUnavailable",
                     "Too many connections (limit " +
                         std::to_string(core->options.max_connections) + "); retry later");
  r.headers.push_back({"Retry-After", "1"});
  Exchange e;
  e.request_id = make_request_id();
  e.remote = std::move(remote);
  e.status = 503;
  core->report(e, r);
  auto res = to_beast(std::move(r), e.request_id, false);
  stream.expires_after(std::chrono::seconds(2));
  auto [ec, n] = co_await http::async_write(stream, res, kUse);
  if (!ec) {
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    char scratch[4096];
    std::size_t drained = 0;
    stream.expires_after(kLingerTime);
    while (drained < 256 * 1024) {
      auto [rec, rn] = co_await stream.async_read_some(asio::buffer(scratch), kUse);
      if (rec) break;
      drained += rn;
    }
  }
  beast::error_code ignored;
  stream.socket().close(ignored);
}

}  // namespace

struct HttpServer::Impl {
  Impl(ServerOptions options, Handler& handler) : core(std::make_shared<Core>()) {
    core->options = std::move(options);
    core->handler = &handler;
  }

  asio::awaitable<void> accept_loop() {
    Core* c = core.get();
    std::weak_ptr<Core> weak = core;
    asio::steady_timer pause(c->ioc);
    for (;;) {
      auto [ec, socket] = co_await c->acceptor->async_accept(asio::make_strand(c->ioc), kUse);
      if (c->stopping.load()) co_return;
      if (ec) {
        if (ec == asio::error::operation_aborted) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        pause.expires_after(std::chrono::milliseconds(100));
        co_await pause.async_wait(kUse);
        continue;
      }
      beast::error_code ignored;
      socket.set_option(tcp::no_delay(true), ignored);
      const auto peer = socket.remote_endpoint(ignored);
      std::string remote = ignored ? std::string("unknown") : endpoint_text(peer);
      if (c->open_count.load() >=
          static_cast<std::size_t>(std::max(1, c->options.max_connections))) {
        if (c->tls || c->rejecting.fetch_add(1) >= kMaxRejecting) {
          if (!c->tls) c->rejecting.fetch_sub(1);
          socket.close(ignored);
          continue;
        }
        auto ex = socket.get_executor();
        asio::co_spawn(ex, reject(c, tcp::socket(std::move(socket)), std::move(remote)),
                       asio::detached);
        continue;
      }
      std::shared_ptr<Core> owner = weak.lock();
      if (!owner) co_return;
      if (c->tls) {
        auto s = std::make_shared<TlsSession>(
            owner, asio::ssl::stream<tcp::socket>(tcp::socket(std::move(socket)), *c->tls),
            std::move(remote));
        s->start();
      } else {
        auto s = std::make_shared<PlainSession>(owner, tcp::socket(std::move(socket)),
                                                std::move(remote));
        s->start();
      }
    }
  }

  std::shared_ptr<Core> core;
  std::unique_ptr<asio::thread_pool> pool;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::vector<std::thread> io_threads;
  unsigned short port = 0;
  bool running = false;
  bool stopped = false;
};

HttpServer::HttpServer(ServerOptions options, Handler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {}

HttpServer::~HttpServer() {
  stop(std::chrono::milliseconds(0));
  // The pool goes first (its threads are joined), then the core once no Respond holds it.
  impl_->pool.reset();
}

engine::Status HttpServer::start() {
  using engine::Error;
  using engine::ErrorCode;
  Impl& im = *impl_;
  Core& c = *im.core;
  const ServerOptions& opt = c.options;
  if (im.running) return Error{ErrorCode::InvalidArgument, "the server is already started"};

  beast::error_code ec;
  const std::string host = opt.host == "localhost" ? "127.0.0.1" : opt.host;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) {
    return Error{ErrorCode::InvalidArgument,
                 "cannot listen on '" + opt.host + "': not an IP address"};
  }
  if (!opt.tls_cert_file.empty() || !opt.tls_key_file.empty()) {
    if (opt.tls_cert_file.empty() || opt.tls_key_file.empty()) {
      return Error{ErrorCode::InvalidArgument,
                   "TLS needs both a certificate file and a private key file"};
    }
    c.tls.emplace(asio::ssl::context::tls_server);
    c.tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                       asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                       asio::ssl::context::no_tlsv1_1 | asio::ssl::context::single_dh_use);
    c.tls->use_certificate_chain_file(opt.tls_cert_file, ec);
    if (ec) {
      c.tls.reset();
      return Error{ErrorCode::InvalidArgument,
                   "TLS certificate " + opt.tls_cert_file + ": " + ec.message()};
    }
    c.tls->use_private_key_file(opt.tls_key_file, asio::ssl::context::pem, ec);
    if (ec) {
      c.tls.reset();
      return Error{ErrorCode::InvalidArgument,
                   "TLS private key " + opt.tls_key_file + ": " + ec.message()};
    }
  }

  const tcp::endpoint endpoint(address, opt.port);
  c.acceptor.emplace(c.ioc);
  auto fail = [&](const char* what) {
    const std::string where = endpoint_text(endpoint);
    c.acceptor.reset();
    return Error{ErrorCode::Unavailable,
                 std::string("cannot listen on ") + where + ": " + what + ": " + ec.message()};
  };
  c.acceptor->open(endpoint.protocol(), ec);
  if (ec) return fail("open");
  c.acceptor->set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return fail("SO_REUSEADDR");
  c.acceptor->bind(endpoint, ec);
  if (ec) return fail("bind");
  c.acceptor->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  im.port = c.acceptor->local_endpoint(ec).port();

  im.pool = std::make_unique<asio::thread_pool>(
      static_cast<std::size_t>(std::max(1, opt.handler_threads)));
  c.pool = im.pool.get();
  im.work.emplace(c.ioc.get_executor());
  asio::co_spawn(c.ioc, im.accept_loop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("accept loop failed: {}", ex.what());
    }
  });
  int threads =
      opt.io_threads > 0 ? opt.io_threads : static_cast<int>(std::thread::hardware_concurrency());
  threads = std::max(1, threads);
  for (int i = 0; i < threads; ++i) {
    im.io_threads.emplace_back([&c] { c.ioc.run(); });
  }
  im.running = true;
  return {};
}

unsigned short HttpServer::port() const { return impl_->port; }

std::size_t HttpServer::connections() const { return impl_->core->open_count.load(); }

void HttpServer::stop(std::chrono::milliseconds grace) {
  Impl& im = *impl_;
  if (!im.running || im.stopped) return;
  im.stopped = true;
  Core& c = *im.core;
  c.stopping.store(true);
  asio::post(c.ioc, [&c] {
    beast::error_code ignored;
    if (c.acceptor) c.acceptor->close(ignored);
  });

  auto each_session = [&c](auto&& fn) {
    std::vector<std::shared_ptr<SessionBase>> live;
    {
      std::lock_guard lock(c.mu);
      for (const auto& w : c.sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) fn(*s);
  };
  each_session([](SessionBase& s) { s.post_stop(); });
  {
    std::unique_lock lock(c.mu);
    c.cv.wait_for(lock, grace, [&c] { return c.open == 0; });
  }
  each_session([](SessionBase& s) { s.post_close(); });
  {
    std::unique_lock lock(c.mu);
    c.cv.wait_for(lock, std::chrono::seconds(1), [&c] { return c.open == 0; });
  }
  im.work.reset();
  c.ioc.stop();
  for (auto& t : im.io_threads) t.join();
  im.io_threads.clear();
  if (im.pool) {
    im.pool->stop();
    im.pool->join();
  }
}

}  // namespace stepd::server
