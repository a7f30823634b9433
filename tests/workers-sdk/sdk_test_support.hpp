// Helpers of the workers SDK tests.
//
//  - ScriptedServer: a loopback TCP server (plain sockets, one thread) that accepts connections
//    and, per request, either stays silent (to test time-outs) or answers a fixed raw HTTP response
//    (to test how the client reads answers). It counts connections and requests.
//  - free_port(): a loopback port nothing listens on right now.
//  - wait_for(): polls a condition until it holds or a deadline passes.
//  - Definitions of the machines the tests run.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace stepd::test {

// A port on 127.0.0.1 that was free a moment ago (bound, then closed).
inline unsigned short free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr *>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Polls `condition` every 10 ms until it is true (returns true) or `timeout` passes (false).
inline bool wait_for(const std::function<bool()> &condition,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

class ScriptedServer {
 public:
  // `answer`: the raw bytes sent after each complete request head (and body, by Content-Length); ""
  // to stay silent.
  explicit ScriptedServer(std::string answer = "") : answer_(std::move(answer)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_fd_, reinterpret_cast<sockaddr *>(&a), sizeof a);
    ::listen(listen_fd_, 64);
    socklen_t len = sizeof a;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr *>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~ScriptedServer() {
    stop_ = true;
    thread_.join();
    for (int fd : clients_) {
      if (fd >= 0) ::close(fd);
    }
    ::close(listen_fd_);
  }
  ScriptedServer(const ScriptedServer &) = delete;
  ScriptedServer &operator=(const ScriptedServer &) = delete;

  unsigned short port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int connections() const { return connections_.load(); }
  int requests() const { return requests_.load(); }
  // Every request received so far (head and body), in order.
  std::vector<std::string> received() const {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  void loop() {
    std::vector<std::string> pending;  // per client: bytes not yet a whole request
    while (!stop_) {
      std::vector<pollfd> fds;
      std::vector<std::size_t> index;  // fds[k + 1] is clients_[index[k]]
      fds.push_back({listen_fd_, POLLIN, 0});
      for (std::size_t c = 0; c < clients_.size(); ++c) {
        if (clients_[c] < 0) continue;
        fds.push_back({clients_[c], POLLIN, 0});
        index.push_back(c);
      }
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int fd = ::accept(listen_fd_, nullptr, nullptr);
        if (fd >= 0) {
          clients_.push_back(fd);
          pending.emplace_back();
          ++connections_;
        }
      }
      for (std::size_t k = 1; k < fds.size(); ++k) {
        if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const std::size_t c = index[k - 1];
        char buf[65536];
        const ssize_t n = ::read(fds[k].fd, buf, sizeof buf);
        if (n <= 0) {  // the client closed
          ::close(clients_[c]);
          clients_[c] = -1;
          continue;
        }
        std::string &data = pending[c];
        data.append(buf, static_cast<std::size_t>(n));
        for (;;) {
          const std::size_t head_end = data.find("\r\n\r\n");
          if (head_end == std::string::npos) break;
          std::size_t length = 0;
          const std::string head = data.substr(0, head_end);
          std::string lower_head = head;
          for (char &ch : lower_head) ch = static_cast<char>(std::tolower(ch));
          const std::size_t at = lower_head.find("content-length:");
          if (at != std::string::npos) length = std::stoul(head.substr(at + 15));
          if (data.size() < head_end + 4 + length) break;
          {
            std::lock_guard lock(mu_);
            received_.push_back(data.substr(0, head_end + 4 + length));
          }
          data.erase(0, head_end + 4 + length);
          ++requests_;
          if (!answer_.empty()) {
            [[maybe_unused]] const ssize_t w = ::write(fds[k].fd, answer_.data(), answer_.size());
          }
        }
      }
    }
  }

  std::string answer_;
  int listen_fd_ = -1;
  unsigned short port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::vector<int> clients_;
  std::atomic<int> connections_{0};
  std::atomic<int> requests_{0};
  mutable std::mutex mu_;
  std::vector<std::string> received_;
};

// A raw HTTP answer with a JSON body.
inline std::string http_answer(int status, const std::string &reason, const std::string &body,
                               const std::string &extra_headers = "") {
  return "HTTP/1.1 " + std::to_string(status) + " " + reason +
         "\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

}  // namespace stepd::test
