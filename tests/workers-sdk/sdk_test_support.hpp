// Helpers of the workers SDK tests.
//
//  - ScriptedServer: a loopback TCP server (plain sockets, one thread) that accepts connections
//    and, per request, either stays silent (to test time-outs) or answers a raw HTTP response
//    (to test how the client reads answers): a fixed one, or what a function of the request says
//    (to play a server's part in a Worker test). It counts connections and requests.
//    aws_operation() and request_body() read a request it received.
//  - WorkerProcess: a worker process (tests/workers-sdk/test_worker_main.cpp) spawned by PID,
//    signalled, waited for, and killed (by its PID) if the test leaves it running.
//  - read_text(), occurrences(): what a process wrote to a file.
//  - free_port(): a loopback port nothing listens on right now.
//  - wait_for(): polls a condition until it holds or a deadline passes.
//  - expect_error(): the stepd::worker::Error a call throws.
//  - kTestWorker: the path of the test worker program.
//  - Definitions of the machines the tests run.
#pragma once

#include "stepd/worker/error.hpp"
#include "tests/support/child_process.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace stepd::test {

#ifdef STEPD_SDK_TEST_WORKER
inline constexpr const char *kTestWorker = STEPD_SDK_TEST_WORKER;
#else
inline constexpr const char *kTestWorker = "stepd_sdk_test_worker";
#endif

// Runs `f`, which must throw stepd::worker::Error; returns it (a failed assertion otherwise).
template <typename F>
worker::Error expect_error(F &&f) {
  try {
    f();
  } catch (const worker::Error &e) {
    return e;
  }
  ADD_FAILURE() << "expected stepd::worker::Error, nothing was thrown";
  return worker::Error(worker::ErrorKind::Protocol, "NothingThrown", "");
}

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
  // Called on the server's thread with each complete request (head and body); returns the raw
  // answer, or "" to stay silent on it.
  using Responder = std::function<std::string(const std::string &request)>;

  // `answer`: the raw bytes sent after each complete request head (and body, by Content-Length); ""
  // to stay silent.
  explicit ScriptedServer(std::string answer = "")
      : ScriptedServer(Responder([answer](const std::string &) { return answer; })) {}
  explicit ScriptedServer(Responder respond) : respond_(std::move(respond)) {
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
          const std::string request = data.substr(0, head_end + 4 + length);
          data.erase(0, head_end + 4 + length);
          ++requests_;
          const std::string answer = respond_(request);
          if (!answer.empty()) {
            [[maybe_unused]] const ssize_t w = ::write(fds[k].fd, answer.data(), answer.size());
          }
        }
      }
    }
  }

  Responder respond_;
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

// The operation of an AWS JSON request ("GetActivityTask" from `X-Amz-Target:
// AWSStepFunctions.GetActivityTask`); "" when it has none.
inline std::string aws_operation(const std::string &request) {
  std::string lower = request.substr(0, request.find("\r\n\r\n"));
  for (char &ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  const std::string key = "x-amz-target: awsstepfunctions.";
  const std::size_t at = lower.find(key);
  if (at == std::string::npos) return "";
  const std::size_t begin = at + key.size();
  const std::size_t end = request.find("\r\n", begin);
  return request.substr(begin, end - begin);
}

// The body of a request (what follows the blank line).
inline std::string request_body(const std::string &request) {
  const std::size_t at = request.find("\r\n\r\n");
  return at == std::string::npos ? std::string() : request.substr(at + 4);
}

// A file's whole text ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// How many times `needle` occurs in `text`.
inline int occurrences(const std::string &text, const std::string &needle) {
  int n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

// A child process of the test. The destructor kills it (SIGKILL, by its PID) and reaps it when the
// test did not wait for its exit.
class WorkerProcess {
 public:
  WorkerProcess() = default;
  ~WorkerProcess() {
    if (pid_ > 0 && !status_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  WorkerProcess(const WorkerProcess &) = delete;
  WorkerProcess &operator=(const WorkerProcess &) = delete;

  // Spawns args[0] with `args`, stderr to `log` (stdout inherited). "" when it started, else why
  // not.
  std::string start(std::vector<std::string> args, const std::filesystem::path &log) {
    ChildOptions options;
    options.stderr_path = log;
    const SpawnedChild child = spawn_child(std::move(args), options);
    pid_ = child.pid;
    return child.error;
  }

  pid_t pid() const { return pid_; }
  bool signal(int sig) const { return pid_ > 0 && !status_ && ::kill(pid_, sig) == 0; }
  // True while it has not exited (reaps it when it has).
  bool running() {
    if (pid_ <= 0 || status_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
    status_ = status;
    return false;
  }
  // Waits up to `timeout` for the exit; its wait status (WIFEXITED, ...), or nullopt when it still
  // runs.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout) {
    wait_for([&] { return !running(); }, timeout);
    return status_;
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

}  // namespace stepd::test
