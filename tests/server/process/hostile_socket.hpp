// A plain blocking TCP socket for tests that misbehave on purpose: raw bytes out (a byte at a
// time if need be, or a request cut short), raw bytes in, every wait bounded, and the answers
// found in what came back.
//
//   stepd::test::RawSocket s;
//   ASSERT_TRUE(s.connect(port));
//   s.send("\x16\x03\x01 not HTTP\r\n\r\n");
//   std::vector<HttpReply> replies = s.read_replies(1, std::chrono::seconds(5));
//   bool closed = s.closed_within(std::chrono::seconds(2));
//
// Not thread-safe: one RawSocket per thread. SIGPIPE is never raised (MSG_NOSIGNAL).
#pragma once

#include "tests/server/process/http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace stepd::test {

// The complete HTTP/1.1 answers at the start of `bytes` (interim 1xx answers included), in
// order; `used` gets how many bytes they take. An answer still incomplete is left out. Bodies
// are framed by Content-Length (all stepd sends).
inline std::vector<HttpReply> parse_replies(std::string_view bytes, std::size_t* used = nullptr) {
  std::vector<HttpReply> out;
  std::size_t at = 0;
  for (;;) {
    const auto head_end = bytes.find("\r\n\r\n", at);
    if (head_end == std::string_view::npos) break;
    const std::string_view head = bytes.substr(at, head_end - at);
    HttpReply reply;
    const auto line_end = head.find("\r\n");
    const std::string_view status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || status_line.substr(0, 5) != "HTTP/") break;
    reply.status = std::atoi(std::string(status_line.substr(9, 3)).c_str());
    std::size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      auto next = head.find("\r\n", pos);
      if (next == std::string_view::npos) next = head.size();
      const std::string_view field = head.substr(pos, next - pos);
      const auto colon = field.find(':');
      if (colon != std::string_view::npos) {
        std::string name(field.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        std::string_view value = field.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        reply.headers[name] = std::string(value);
      }
      pos = next + 2;
    }
    const std::size_t length =
        static_cast<std::size_t>(std::atoll(reply.header("content-length").c_str()));
    const std::size_t body_at = head_end + 4;
    if (bytes.size() < body_at + length) break;
    reply.body = std::string(bytes.substr(body_at, length));
    std::string connection = reply.header("connection");
    std::transform(connection.begin(), connection.end(), connection.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    reply.keep_alive = connection != "close";
    out.push_back(std::move(reply));
    at = body_at + length;
  }
  if (used != nullptr) *used = at;
  return out;
}

class RawSocket {
 public:
  using ms = std::chrono::milliseconds;

  RawSocket() = default;
  ~RawSocket() { close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  // Connects to 127.0.0.1:port. Sends block for at most `send_timeout` each.
  bool connect(unsigned short port, ms send_timeout = ms(10'000)) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(send_timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((send_timeout.count() % 1000) * 1000);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    return true;
  }

  // Sends every byte; false when the peer has gone (or the send timed out).
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Reads until `count` complete answers have come, the peer closes, or `timeout` passes;
  // returns the complete answers read so far (also those of earlier calls not yet returned).
  std::vector<HttpReply> read_replies(std::size_t count, ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::size_t used = 0;
      auto replies = parse_replies(in_, &used);
      if (replies.size() >= count || eof_) {
        in_.erase(0, used);
        return replies;
      }
      if (!fill_until(deadline)) {
        in_.erase(0, used);
        return replies;
      }
    }
  }

  // True when the peer closes (end of stream or reset) within `timeout`. Bytes that come
  // before are kept (raw()).
  bool closed_within(ms timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!eof_) {
      if (!fill_until(deadline)) return eof_;
    }
    return true;
  }

  // Whether a byte (or the end of the stream) is there to read within `timeout`.
  bool readable(ms timeout) {
    if (!in_.empty() || eof_) return true;
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  // Bytes received and not yet returned as answers.
  const std::string& raw() const { return in_; }
  bool eof() const { return eof_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    in_.clear();
    eof_ = false;
  }

 private:
  // One read, waiting at most until `deadline`; false on timeout or end of stream.
  bool fill_until(std::chrono::steady_clock::time_point deadline) {
    if (eof_ || fd_ < 0) return false;
    const auto left = std::chrono::duration_cast<ms>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
    char buf[65536];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    if (n <= 0) {
      eof_ = true;
      return false;
    }
    in_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  int fd_ = -1;
  std::string in_;
  bool eof_ = false;
};

}  // namespace stepd::test
