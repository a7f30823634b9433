#include "http_connection.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/version.hpp>

#include <poll.h>

#include <algorithm>
#include <atomic>
#include <cctype>

namespace stepd::worker::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Error endpoint_error(std::string_view url, const std::string &why) {
  return Error(ErrorKind::Connect, "InvalidEndpoint",
               "Invalid endpoint '" + std::string(url) + "': " + why);
}

std::string where(const Endpoint &e) { return e.host + ":" + e.port; }

}  // namespace

Endpoint parse_endpoint(std::string_view url) {
  constexpr std::string_view kHttp = "http://";
  std::string_view rest = url;
  if (lower(rest.substr(0, kHttp.size())) != kHttp) {
    if (lower(rest.substr(0, 8)) == "https://") {
      throw endpoint_error(url, "https is not supported; use http://HOST:PORT");
    }
    throw endpoint_error(url, "expected http://HOST[:PORT]");
  }
  rest.remove_prefix(kHttp.size());
  const std::size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (authority.empty()) throw endpoint_error(url, "no host");
  Endpoint e;
  e.authority = std::string(authority);
  if (authority.front() == '[') {  // [IPv6]:port
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) throw endpoint_error(url, "unclosed '['");
    e.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw endpoint_error(url, "expected ':' after ']'");
      e.port = std::string(after.substr(1));
    }
  } else {
    const std::size_t colon = authority.rfind(':');
    e.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) e.port = std::string(authority.substr(colon + 1));
  }
  if (e.host.empty()) throw endpoint_error(url, "no host");
  if (e.port.empty()) e.port = "80";
  if (!std::all_of(e.port.begin(), e.port.end(),
                   [](unsigned char c) { return std::isdigit(c) != 0; }) ||
      e.port.size() > 5 || std::stoi(e.port) > 65535 || std::stoi(e.port) == 0) {
    throw endpoint_error(url, "bad port '" + e.port + "'");
  }
  e.base_path = path;
  return e;
}

std::string HttpAnswer::header(std::string_view lower_name) const {
  for (const auto &[name, value] : headers) {
    if (name == lower_name) return value;
  }
  return "";
}

HttpConnection::HttpConnection(const Endpoint &endpoint) : endpoint_(endpoint), stream_(ioc_) {}

HttpConnection::~HttpConnection() { close(); }

void HttpConnection::close() {
  if (!connected_) return;
  beast::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.socket().close(ignored);
  connected_ = false;
  keep_alive_ = false;
  buffer_.clear();
}

bool HttpConnection::usable() {
  if (!connected_ || !keep_alive_) return false;
  // A kept-alive connection the server closed (or wrote to) is readable: drop it.
  pollfd p{};
  p.fd = stream_.socket().native_handle();
  p.events = POLLIN;
  if (::poll(&p, 1, 0) != 0) {
    close();
    return false;
  }
  return true;
}

std::optional<Error> HttpConnection::connect(const HttpCall &call) {
  ioc_.restart();
  beast::error_code result;
  bool resolved_none = false;
  tcp::resolver resolver(ioc_);
  stream_.expires_after(call.connect_timeout);
  resolver.async_resolve(endpoint_.host, endpoint_.port,
                         [&](beast::error_code ec, const tcp::resolver::results_type &results) {
                           if (ec) {
                             result = ec;
                             return;
                           }
                           if (results.empty()) {
                             resolved_none = true;
                             return;
                           }
                           stream_.async_connect(
                               results,
                               [&](beast::error_code ec2, const tcp::endpoint &) { result = ec2; });
                         });
  std::atomic<bool> cancelled{false};
  {
    std::stop_callback on_stop(call.stop, [&] {
      cancelled = true;
      asio::post(ioc_, [&] {
        resolver.cancel();
        stream_.cancel();
      });
    });
    ioc_.run_for(call.connect_timeout + std::chrono::seconds(1));
  }
  if (!ioc_.stopped()) {
    // The resolver took longer than the time-out (the stream's timer covers only connect).
    resolver.cancel();
    stream_.cancel();
    ioc_.restart();
    ioc_.run();
    result = beast::error::timeout;
  }
  if (cancelled) {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    return Error(ErrorKind::Cancelled, "Cancelled", "the call was cancelled while connecting");
  }
  if (resolved_none) {
    return Error(ErrorKind::Connect, "Connect", "no address for " + endpoint_.host);
  }
  if (result == beast::error::timeout) {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    return Error(ErrorKind::Timeout, "Timeout",
                 "no connection to " + where(endpoint_) + " within " +
                     std::to_string(call.connect_timeout.count()) + " ms");
  }
  if (result) {
    beast::error_code ignored;
    stream_.socket().close(ignored);
    return Error(ErrorKind::Connect, "Connect",
                 "cannot connect to " + where(endpoint_) + ": " + result.message());
  }
  stream_.socket().set_option(tcp::no_delay(true));
  connected_ = true;
  keep_alive_ = true;
  buffer_.clear();
  return std::nullopt;
}

HttpConnection::Outcome HttpConnection::exchange(const HttpCall &call) {
  Outcome out;
  if (call.stop.stop_requested()) {
    out.error = Error(ErrorKind::Cancelled, "Cancelled", "the call was cancelled");
    return out;
  }
  const bool reused = connected_ && exchanges_ > 0;
  if (!connected_) {
    if (auto e = connect(call)) {
      out.error = std::move(*e);
      return out;
    }
  }

  http::request<http::string_body> req;
  req.method_string(call.method);
  req.target(call.target);
  req.version(11);
  req.set(http::field::host, endpoint_.authority);
  for (const auto &[name, value] : call.headers) req.set(name, value);
  if (!call.body.empty() || call.method == "POST" || call.method == "PUT") {
    req.body() = call.body;
    req.prepare_payload();
  }
  req.keep_alive(true);

  http::response_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{1} << 32);
  parser.header_limit(64 * 1024);

  beast::error_code write_ec;
  beast::error_code read_ec;
  bool wrote = false;
  ioc_.restart();
  stream_.expires_after(call.timeout);
  http::async_write(stream_, req, [&](beast::error_code ec, std::size_t) {
    write_ec = ec;
    if (ec) return;
    wrote = true;
    http::async_read(stream_, buffer_, parser,
                     [&](beast::error_code ec2, std::size_t) { read_ec = ec2; });
  });
  std::atomic<bool> cancelled{false};
  {
    std::stop_callback on_stop(call.stop, [&] {
      cancelled = true;
      asio::post(ioc_, [&] { stream_.cancel(); });
    });
    ioc_.run();
  }
  ++exchanges_;
  const beast::error_code ec = write_ec ? write_ec : read_ec;
  // A stop that came while the call ran closes the connection; an answer that was complete before
  // it took effect is still returned.
  const bool cut = cancelled || call.stop.stop_requested();
  if (cut && ec) {
    close();
    out.error = Error(ErrorKind::Cancelled, "Cancelled", "the call was cancelled");
    return out;
  }
  if (ec) {
    close();
    if (ec == beast::error::timeout) {
      out.error = Error(ErrorKind::Timeout, "Timeout",
                        "no answer from " + where(endpoint_) + " within " +
                            std::to_string(call.timeout.count()) + " ms (" + call.method + " " +
                            call.target + ")");
      return out;
    }
    const bool nothing = !wrote || !parser.got_some();
    out.unanswered = reused && nothing;
    const bool broken = ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
                        ec == http::error::partial_message;
    if (broken || !wrote) {
      out.error =
          Error(ErrorKind::Disconnected, "Disconnected",
                "the connection to " + where(endpoint_) + " broke" +
                    (nothing ? " before an answer" : " during the answer") + ": " + ec.message());
    } else {
      out.error = Error(ErrorKind::Protocol, "Protocol",
                        "broken HTTP answer from " + where(endpoint_) + ": " + ec.message());
    }
    return out;
  }

  auto &res = parser.get();
  HttpAnswer answer;
  answer.status = static_cast<int>(res.result_int());
  answer.keep_alive = res.keep_alive();
  for (const auto &field : res) {
    answer.headers.emplace_back(lower(field.name_string()), std::string(field.value()));
  }
  answer.body = std::move(res.body());
  keep_alive_ = answer.keep_alive && connected_ && !cut;
  if (!keep_alive_) close();
  out.answer = std::move(answer);
  return out;
}

}  // namespace stepd::worker::detail
